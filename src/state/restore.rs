//! Read-only discovery for `restore`: the cluster clock, whether the target exists, the FINISHED
//! backups of its database, the manifest of the one backup that describes the table at the target
//! time, and RUNNING restore rows of dead runs. Selective: only the columns chain resolution reads,
//! and only one backup's manifest rows for one table.

use chrono::NaiveDateTime;
use std::collections::BTreeSet;

use super::{cluster_now, missing_ops, parse_time, q, read_policy};
use crate::cluster::{Cluster, ResultSet};
use crate::config::{Config, TableRef};
use crate::error::BbrError;
use crate::history::{self, RestoreRow};
use crate::planner::chain::{self, BackupRecord, ManifestRow, TableRecord};
use crate::planner::restore::{
    judge, show_restore_sql, target_exists_sql, Adoption, ChainEntry, LinkRef, RestoreResume,
    RestoreState, ShowRestoreJob,
};

/// What `restore` plans from: the planner state plus the chain resolver's inputs.
#[derive(Debug, Clone)]
pub struct RestoreDiscovery {
    pub state: RestoreState,
    pub backups: Vec<BackupRecord>,
    /// The target table's `backup_tables` rows (which backups recorded it, which are complete).
    pub tables: Vec<TableRecord>,
    /// Manifest rows of the span of the as-of backup for the target table (chain::span).
    pub manifest: Vec<ManifestRow>,
    /// The stale RUNNING restore rows of the database (`state.resume` describes the same runs).
    pub stale: Vec<RestoreRow>,
    /// How many backups hold the table (0: it was never backed up).
    pub holding: usize,
}

/// The tables the backup history of `db` holds (for "never backed up" errors).
pub fn tables_in_history(c: &mut Cluster, cfg: &Config, db: &str) -> Result<Vec<String>, BbrError> {
    let sql = format!(
        "SELECT DISTINCT {} FROM {} WHERE {} = {} ORDER BY {}",
        crate::sql::ident("table_name"),
        crate::sql::qualified(&cfg.ops_database, history::BACKUP_PARTITIONS),
        crate::sql::ident("database_name"),
        crate::sql::literal(db),
        crate::sql::ident("table_name"),
    );
    let rs = q(c, cfg, &sql, "reading which tables the history holds")?;
    Ok(rs
        .rows
        .iter()
        .filter_map(|r| r.first().cloned().flatten())
        .collect())
}

/// The session time zone's offset from UTC now (`NOW()` - `UTC_TIMESTAMP()`, whole minutes).
pub fn session_offset(c: &mut Cluster, cfg: &Config) -> Result<chrono::Duration, BbrError> {
    let rs = q(
        c,
        cfg,
        "SELECT NOW(), UTC_TIMESTAMP()",
        "reading the session time zone",
    )?;
    let row = rs.rows.first();
    let at = |i: usize| {
        row.and_then(|r| r.get(i).cloned().flatten())
            .as_deref()
            .and_then(parse_time)
    };
    match (at(0), at(1)) {
        (Some(now), Some(utc)) => {
            let mins = ((now - utc).num_seconds() as f64 / 60.0).round() as i64;
            Ok(chrono::Duration::minutes(mins))
        }
        _ => Err(BbrError::job_failed(
            "cannot read the cluster's session time zone (SELECT NOW(), UTC_TIMESTAMP())",
            "pass --timestamp without an offset, in the cluster's session time zone",
        )),
    }
}

fn num<T: std::str::FromStr>(s: Option<String>) -> Option<T> {
    s.and_then(|v| v.trim().parse().ok())
}

/// `target_time` None = `--timestamp latest`: the snapshot time of the newest FINISHED backup holding
/// the table (the cluster clock when none does; resolution then says the table was never backed up).
pub fn restore_state(
    c: &mut Cluster,
    cfg: &Config,
    target: &TableRef,
    target_time: Option<NaiveDateTime>,
) -> Result<RestoreDiscovery, BbrError> {
    let cluster_time = cluster_now(c, cfg)?;
    super::check_schema(c, cfg)?;
    let ops = &cfg.ops_database;
    let db = &target.database;

    let rs = q(
        c,
        cfg,
        &target_exists_sql(target),
        "checking whether the restore target exists",
    )?;
    let target_exists = !rs.rows.is_empty();

    let sql = history::select_finished_for_restore_sql(ops, db);
    let rs = c.query_retry(&sql, &read_policy(cfg)).map_err(|e| {
        missing_ops(cfg, &e).unwrap_or_else(|| e.into_bbr("reading the backup history"))
    })?;
    let backups: Vec<BackupRecord> = (0..rs.rows.len())
        .map(|i| BackupRecord {
            label: rs.get(i, "label").unwrap_or_default(),
            database: db.clone(),
            status: rs.get(i, "status").unwrap_or_default(),
            snapshot_at: rs.get(i, "snapshot_at").as_deref().and_then(parse_time),
            backup_timestamp: rs.get(i, "backup_timestamp"),
            repository: rs.get(i, "repository").unwrap_or_default(),
        })
        .collect();
    let repositories: std::collections::BTreeMap<String, String> = (0..rs.rows.len())
        .filter_map(|i| Some((rs.get(i, "label")?, rs.get(i, "repository")?)))
        .filter(|(_, r)| !r.trim().is_empty())
        .collect();

    // The table's backup_tables rows (one per backup that touched it) give which backups hold it
    // and the span of the as-of backup (chain::span, the rule chain::resolve applies too), so only
    // the manifest rows of that span are read.
    let tables = super::table_records(
        c,
        cfg,
        std::slice::from_ref(db),
        std::slice::from_ref(&target.table),
    )?
    .remove(target)
    .map(|(recs, _)| recs)
    .unwrap_or_default();
    let holding: BTreeSet<String> = tables.iter().map(|r| r.label.clone()).collect();

    let target_time = match target_time {
        Some(t) => t,
        None => backups
            .iter()
            .filter(|b| b.status == "FINISHED" && holding.contains(&b.label))
            .filter_map(|b| b.snapshot_at)
            .max()
            .or_else(|| parse_time(&cluster_time))
            .unwrap_or_default(),
    };
    let manifest = match chain::span(&backups, &tables, target_time) {
        Ok(span) => {
            let sql = history::select_span_manifest_sql(
                ops,
                &span.labels,
                std::slice::from_ref(&target.table),
            );
            let rs = q(c, cfg, &sql, "reading the backup manifest")?;
            (0..rs.rows.len())
                .filter(|&i| rs.get(i, "database_name").as_deref() == Some(db.as_str()))
                .filter_map(|i| {
                    Some(ManifestRow {
                        label: rs.get(i, "label")?,
                        partition_name: rs.get(i, "partition_name")?,
                        partition_id: num(rs.get(i, "partition_id"))?,
                        visible_version: num(rs.get(i, "visible_version"))?,
                        // `restore_replication_num` overrides what the partitions had; NULL
                        // (partitions_meta had no REPLICATION_NUM): the configured default.
                        replication_num: cfg
                            .restore_replication_num
                            .or_else(|| num(rs.get(i, "replication_num")))
                            .unwrap_or(cfg.replication_num),
                        source_label: rs.get(i, "source_label").unwrap_or_default(),
                        in_snapshot: history::parse_bool(rs.get(i, "in_snapshot")),
                    })
                })
                .collect()
        }
        Err(_) => Vec::new(),
    };

    let stale = stale_restore_rows(c, cfg, db, &cluster_time)?;
    let resume = resumes(&stale);
    Ok(RestoreDiscovery {
        state: RestoreState {
            cluster_time,
            target: target.clone(),
            target_time,
            target_exists,
            resume,
            adopt: None,
            mode: crate::planner::restore::RestoreMode::Plain,
            repositories,
        },
        backups,
        tables,
        manifest,
        stale,
        holding: holding.len(),
    })
}

/// Whether a table exists (information_schema.tables).
pub fn table_exists(c: &mut Cluster, cfg: &Config, t: &TableRef) -> Result<bool, BbrError> {
    let rs = q(
        c,
        cfg,
        &target_exists_sql(t),
        "checking whether a table exists",
    )?;
    Ok(!rs.rows.is_empty())
}

/// The label of a FINISHED plain restore of `t` to exactly `target_time`, if any (a rerun of a
/// multi-database restore skips the databases an earlier run of it completed).
pub fn finished_restore(
    c: &mut Cluster,
    cfg: &Config,
    t: &TableRef,
    target_time: &str,
) -> Result<Option<String>, BbrError> {
    finished_run(
        c,
        cfg,
        &t.database,
        &t.table,
        target_time,
        crate::planner::restore::PLAIN_PREFIX,
    )
}

/// [`finished_restore`] for a group run: its row names the tables comma-separated, in order.
pub fn finished_group_restore(
    c: &mut Cluster,
    cfg: &Config,
    db: &str,
    tables: &str,
    target_time: &str,
) -> Result<Option<String>, BbrError> {
    finished_run(
        c,
        cfg,
        db,
        tables,
        target_time,
        crate::planner::restore::GROUP_PREFIX,
    )
}

fn finished_run(
    c: &mut Cluster,
    cfg: &Config,
    db: &str,
    table_name: &str,
    target_time: &str,
    prefix: &str,
) -> Result<Option<String>, BbrError> {
    let sql =
        crate::history::select_restore_finished_sql(&cfg.ops_database, db, table_name, target_time);
    let rs = q(c, cfg, &sql, "reading the finished restores of the table")?;
    Ok((0..rs.rows.len())
        .filter_map(|i| rs.get(i, "label"))
        .find(|l| l.starts_with(prefix)))
}

/// What finishing dead runs' records needs of their rows, sorted.
pub fn resumes(rows: &[RestoreRow]) -> Vec<RestoreResume> {
    let mut out: Vec<RestoreResume> = rows
        .iter()
        .map(|r| RestoreResume::from_row(r, "heartbeat is stale: its run died"))
        .collect();
    out.sort();
    out
}

/// SHOW RESTORE FROM db: the database's last job, if it is a RESTORE (the FE keeps one job per
/// database), as [`judge`] reads it; `fe_time_shift` (release::ClusterInfo::job_time_shift)
/// puts its CreateTime in the session zone.
pub fn last_restore_job(
    c: &mut Cluster,
    cfg: &Config,
    db: &str,
    fe_time_shift: chrono::Duration,
) -> Result<Option<ShowRestoreJob>, BbrError> {
    let rs = q(c, cfg, &show_restore_sql(db), "reading SHOW RESTORE")?;
    Ok(show_restore_job(&rs, fe_time_shift))
}

/// The newest row of a SHOW RESTORE answer (should a version list more than one), its
/// CreateTime shifted into the session zone (4.1 renders fixed +08:00).
pub fn show_restore_job(rs: &ResultSet, fe_time_shift: chrono::Duration) -> Option<ShowRestoreJob> {
    (0..rs.rows.len())
        .map(|i| ShowRestoreJob {
            label: rs.get(i, "Label").unwrap_or_default(),
            timestamp: rs.get(i, "Timestamp").unwrap_or_default(),
            state: rs.get(i, "State").unwrap_or_default(),
            status: rs.get(i, "Status").unwrap_or_default(),
            create_time: rs
                .get(i, "CreateTime")
                .as_deref()
                .and_then(parse_time)
                .map(|t| t + fe_time_shift),
        })
        .max_by_key(|j| j.create_time)
}

/// How far the adopted dead run got, read from SHOW RESTORE (read-only: dry runs too).
pub fn observe_adoption(
    c: &mut Cluster,
    cfg: &Config,
    row: &RestoreRow,
    chain: Vec<ChainEntry>,
    table_exists: bool,
    fe_time_shift: chrono::Duration,
) -> Result<Adoption, BbrError> {
    let last = last_restore_job(c, cfg, &row.database, fe_time_shift)?;
    let links: Vec<LinkRef> = chain
        .iter()
        .map(|e| LinkRef {
            label: e.label.clone(),
            backup_timestamp: e.backup_timestamp.clone(),
        })
        .collect();
    let progress = judge(
        &links,
        row.current_label.as_deref(),
        row.started_at.as_deref().and_then(parse_time),
        last.as_ref(),
        table_exists,
    );
    Ok(Adoption::new(row, chain, &progress))
}

/// RUNNING restore rows of `db` whose heartbeat is stale: their runner died.
pub fn stale_restores(
    c: &mut Cluster,
    cfg: &Config,
    db: &str,
    cluster_time: &str,
) -> Result<Vec<RestoreResume>, BbrError> {
    Ok(resumes(&stale_restore_rows(c, cfg, db, cluster_time)?))
}

/// The stale RUNNING restore rows of `db` themselves (adoption needs their chain and target).
pub fn stale_restore_rows(
    c: &mut Cluster,
    cfg: &Config,
    db: &str,
    cluster_time: &str,
) -> Result<Vec<RestoreRow>, BbrError> {
    let sql = history::select_restore_running_sql(&cfg.ops_database, db);
    let rs = c.query_retry(&sql, &read_policy(cfg)).map_err(|e| {
        missing_ops(cfg, &e).unwrap_or_else(|| e.into_bbr("reading the restore history"))
    })?;
    let now = parse_time(cluster_time);
    let limit = i64::try_from(cfg.heartbeat_stale_s).unwrap_or(i64::MAX);
    let out: Vec<RestoreRow> = rs
        .rows
        .iter()
        .map(|r| RestoreRow::from_row(r))
        .filter(|r| {
            let beat = r
                .heartbeat_at
                .as_deref()
                .or(r.started_at.as_deref())
                .and_then(parse_time);
            match (now, beat) {
                (Some(n), Some(b)) => (n - b).num_seconds() > limit,
                _ => true,
            }
        })
        .collect();
    Ok(out)
}
