//! Read-only discovery for catalog backups: when the newest catalog snapshot started, when the
//! history last changed, and catalog jobs dead runs left RUNNING.

use crate::cluster::Cluster;
use crate::config::Config;
use crate::error::BbrError;
use crate::history::trim_datetime;
use crate::planner::backup::ResumeJob;
use crate::planner::catalog::{select_last_catalog_sql, select_last_change_sql, CatalogState};

/// The inputs of [`crate::planner::catalog::catalog_needed`].
pub fn catalog_state(c: &mut Cluster, cfg: &Config) -> Result<CatalogState, BbrError> {
    let policy = crate::planner::idempotent(cfg);
    let last = c
        .query_retry(&select_last_catalog_sql(&cfg.ops_database), &policy)
        .map_err(|e| e.into_bbr("reading the newest catalog backup"))?;
    let change = c
        .query_retry(&select_last_change_sql(&cfg.ops_database), &policy)
        .map_err(|e| e.into_bbr("reading the newest history change"))?;
    let started = change
        .rows
        .first()
        .and_then(|r| r.first().cloned().flatten());
    let finished = change
        .rows
        .first()
        .and_then(|r| r.get(1).cloned().flatten());
    let last_change = match (started, finished) {
        (Some(s), Some(f)) => Some(trim_datetime(&s).max(trim_datetime(&f))),
        (s, f) => s.or(f).map(|t| trim_datetime(&t)),
    };
    Ok(CatalogState {
        last_catalog_started: last
            .rows
            .first()
            .and_then(|r| r.get(1).cloned().flatten())
            .map(|t| trim_datetime(&t)),
        last_change,
    })
}

/// Catalog jobs whose run died (stale heartbeat) or whose job ended with the row still RUNNING:
/// finished by the next backup like any dead job, also after `catalog_backup` was turned off (the
/// row would otherwise stay RUNNING for ever).
pub fn stale_catalog_jobs(
    c: &mut Cluster,
    cfg: &Config,
    cluster_time: &str,
) -> Result<Vec<ResumeJob>, BbrError> {
    super::resumable(
        c,
        cfg,
        std::slice::from_ref(&cfg.ops_database),
        cluster_time,
    )
}
