//! Read-only discovery for `recover`: the clock, whether the ops database holds tables, and the
//! repository listing (SHOW SNAPSHOT ON repo, every snapshot directory).

use super::{cluster_now, init_state, q};
use crate::cluster::{Cluster, ResultSet};
use crate::config::Config;
use crate::error::BbrError;
use crate::history::{count_backup_history_sql, select_backup_status_sql, BACKUP_HISTORY};
use crate::planner::backup::show_snapshot_sql;
use crate::planner::catalog::is_catalog_label;
use crate::planner::history_check::show_snapshots_sql;
use crate::planner::listing::{backup_time_ms, show_snapshot_details_sql};
use crate::planner::recover::{
    catalogs_to_look_up, CatalogCandidate, CatalogChoice, Listing, RecoverState, CATALOG_LOOKUPS,
};
use crate::planner::restore::show_restore_sql;

/// The rows of `SHOW SNAPSHOT ON repo` (Snapshot, Timestamp, Status).
pub fn listed_snapshots(rs: &ResultSet) -> Vec<Listing> {
    (0..rs.rows.len())
        .map(|i| {
            Listing::parse(
                &rs.get(i, "Snapshot").unwrap_or_default(),
                rs.get(i, "Timestamp").as_deref(),
                rs.get(i, "Status").as_deref(),
            )
        })
        .collect()
}

pub fn recover_state(c: &mut Cluster, cfg: &Config) -> Result<RecoverState, BbrError> {
    let cluster_time = cluster_now(c, cfg)?;
    let init = init_state(c, cfg)?;
    let in_progress = if init.database_exists {
        dead_recover(c, cfg)?
    } else {
        None
    };
    let ops_tables = init.existing_tables;
    let ls = q(
        c,
        cfg,
        &show_snapshots_sql(&cfg.repository),
        "listing the snapshots in the repository",
    )?;
    let alive_backends = match c.query_retry("SHOW BACKENDS", &crate::planner::idempotent(cfg)) {
        Ok(rs) => Some(
            (0..rs.rows.len())
                .filter(|&i| rs.get(i, "Alive").is_some_and(|a| a.trim() == "true"))
                .count() as u32,
        ),
        // a refused listing (privileges): the RESTORE itself reports too few backends
        Err(crate::cluster::SqlError::Server { .. }) => None,
        Err(e) => return Err(e.into_bbr("listing backends")),
    };
    let history_rows = if ops_tables.iter().any(|t| t == BACKUP_HISTORY) {
        q(
            c,
            cfg,
            &count_backup_history_sql(&cfg.ops_database),
            "counting the existing history",
        )?
        .scalar()
        .and_then(|n| n.trim().parse().ok())
    } else {
        None
    };
    let snapshots = listed_snapshots(&ls);
    let catalogs = if ops_tables.is_empty() || in_progress.is_some() {
        catalog_candidates(c, cfg, &snapshots)?
    } else {
        Vec::new()
    };
    Ok(RecoverState {
        alive_backends,
        cluster_time,
        ops_tables,
        snapshots,
        catalogs,
        history_rows,
        in_progress,
    })
}

/// Our ops database's newest catalog snapshots ([`catalogs_to_look_up`]), each looked up on its own: a label whose listing failed
/// is listed again (`WHERE SNAPSHOT = l`; the error is often transient), and every complete one's
/// Details give its `backup_time` (UTC, so snapshots are ranked the same whatever the FE's zone).
fn catalog_candidates(
    c: &mut Cluster,
    cfg: &Config,
    snapshots: &[Listing],
) -> Result<Vec<CatalogCandidate>, BbrError> {
    let ops = &cfg.ops_database;
    let mut out = Vec::new();
    for s in catalogs_to_look_up(ops, snapshots, CATALOG_LOOKUPS) {
        let s = if s.error.is_some() {
            let rs = q(
                c,
                cfg,
                &show_snapshot_sql(&cfg.repository, &s.label),
                "listing a catalog snapshot again",
            )?;
            listed_snapshots(&rs)
                .into_iter()
                .find(|r| r.label == s.label)
                .unwrap_or_else(|| s.clone())
        } else {
            s.clone()
        };
        if let Some(error) = &s.error {
            out.push(CatalogCandidate {
                label: s.label.clone(),
                backup_timestamp: None,
                backup_time_ms: None,
                error: Some(error.clone()),
            });
        }
        if !s.ok {
            continue;
        }
        for ts in &s.timestamps {
            let sql = show_snapshot_details_sql(&cfg.repository, &s.label, ts);
            let rs = q(c, cfg, &sql, "reading a catalog snapshot's details")?;
            let status = rs.get(0, "Status").unwrap_or_default();
            let details = rs.get(0, "Details");
            out.push(CatalogCandidate {
                label: s.label.clone(),
                backup_timestamp: Some(ts.clone()),
                backup_time_ms: details.as_deref().and_then(backup_time_ms),
                error: (status.trim() != "OK").then(|| status.trim().to_string()),
            });
        }
    }
    Ok(out)
}

/// A recover that died: the ops database's last job (the FE keeps one per database) is the RESTORE
/// of a catalog snapshot, still running, or FINISHED while that catalog's row is still RUNNING
/// (recover finalizes it last). A live cluster's ops database never shows such a RESTORE.
fn dead_recover(c: &mut Cluster, cfg: &Config) -> Result<Option<CatalogChoice>, BbrError> {
    let rs = q(
        c,
        cfg,
        &show_restore_sql(&cfg.ops_database),
        "reading SHOW RESTORE of the ops database",
    )?;
    let Some(i) = (0..rs.rows.len()).rev().find(|&i| {
        rs.get(i, "Label")
            .is_some_and(|l| is_catalog_label(&cfg.ops_database, &l))
    }) else {
        return Ok(None);
    };
    let choice = CatalogChoice {
        label: rs.get(i, "Label").unwrap_or_default(),
        backup_timestamp: rs.get(i, "Timestamp").unwrap_or_default(),
        backup_time_ms: None,
    };
    match rs.get(i, "State").unwrap_or_default().as_str() {
        "CANCELLED" => Ok(None),
        "FINISHED" => {
            let sql = select_backup_status_sql(&cfg.ops_database, &choice.label);
            // unreadable history: not provably ours to continue (the refusal says what exists)
            let status = q(c, cfg, &sql, "reading the restored catalog's row")
                .ok()
                .and_then(|r| r.scalar());
            Ok((status.as_deref() == Some("RUNNING")).then_some(choice))
        }
        _ => Ok(Some(choice)),
    }
}
