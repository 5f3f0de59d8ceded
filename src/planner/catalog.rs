//! Disaster recovery, the backing-up half: after every backup (and expire) the ops database itself
//! is backed up into the repository under its own label prefix, so the history survives the cluster.
//!
//! The catalog job is an ordinary backup job of the ops database (RUNNING row, claim on the ops
//! database, BACKUP, poll, timestamp, finalize; resumed like any job), except that its failure never
//! fails the run (the runner does not count it) and its label says what it is. The snapshot is taken
//! while the job's own row is RUNNING, so every catalog snapshot holds its own row as RUNNING:
//! `recover` marks that row FINISHED (the snapshot it restored from is evidently complete).

use serde::Serialize;

use super::{backup::completion_steps, job_step};
use crate::config::Config;
use crate::history::{insert_running_sql, RunningRow, BACKUP_HISTORY};
use crate::plan::{BackupType, Details, Step, StepKind};
use crate::sql::{ident, literal, qualified};

/// Label prefix of catalog snapshots: `bbr_catalog_<ops>_<YYYYMMDDHHMMSS>[_<suffix>]`, `<ops>` the
/// ops database's name sanitised (`catalog_ops_part`), so that configs with different ops databases
/// sharing one repository never recover each other's history. Data labels are
/// `bbr_<db>_<stamp>_<full|incr>_<suffix>`: a catalog label never has `_full`/`_incr` after its stamp.
pub const CATALOG_PREFIX: &str = "bbr_catalog_";

/// How many of the newest FINISHED catalog snapshots `expire` keeps.
pub const CATALOG_KEEP: usize = 3;

/// The ops database name as it appears in catalog labels: `[A-Za-z0-9_]` kept, anything else `_`,
/// at most 32 characters (labels are VARCHAR(96) in the history).
pub fn catalog_ops_part(ops: &str) -> String {
    ops.chars()
        .take(32)
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// The label of a catalog backup of `ops` planned at `cluster_time` (`suffix` None for a dry run).
pub fn catalog_label(ops: &str, cluster_time: &str, suffix: Option<&str>) -> String {
    let stamp: String = cluster_time
        .chars()
        .filter(char::is_ascii_digit)
        .take(14)
        .collect();
    let ops = catalog_ops_part(ops);
    match suffix {
        Some(s) => format!("{CATALOG_PREFIX}{ops}_{stamp}_{s}"),
        None => format!("{CATALOG_PREFIX}{ops}_{stamp}"),
    }
}

/// The 14-digit stamp of a catalog label of `ops` (prefix, ops part, 14 digits, optional `_` + 6
/// `[a-z0-9]`); None for any other label, including another ops database's catalog.
pub fn catalog_stamp<'a>(ops: &str, label: &'a str) -> Option<&'a str> {
    let rest = label
        .strip_prefix(CATALOG_PREFIX)?
        .strip_prefix(catalog_ops_part(ops).as_str())?
        .strip_prefix('_')?;
    let (stamp, tail) = rest.split_at(rest.len().min(14));
    if stamp.len() != 14 || !stamp.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let tail_ok = match tail.strip_prefix('_') {
        None => tail.is_empty(),
        Some(s) => {
            s.len() == 6
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        }
    };
    tail_ok.then_some(stamp)
}

/// Whether a label is a catalog snapshot of the ops database `ops`.
pub fn is_catalog_label(ops: &str, label: &str) -> bool {
    catalog_stamp(ops, label).is_some()
}

/// Whether a label follows the tool's data label pattern `bbr_<db>_<14 digits>_<full|incr>[_sfx]`.
pub fn is_data_label(label: &str) -> bool {
    let parts: Vec<&str> = label.split('_').collect();
    let Some(ty) = parts.iter().rposition(|p| *p == "full" || *p == "incr") else {
        return false;
    };
    label.starts_with("bbr_")
        && ty >= 3
        && parts
            .get(ty - 1)
            .is_some_and(|s| s.len() == 14 && s.bytes().all(|b| b.is_ascii_digit()))
        && parts.len() - ty <= 2
}

/// What discovery learned about catalog backups (history times in the session zone).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CatalogState {
    /// started_at of the newest FINISHED catalog backup.
    pub last_catalog_started: Option<String>,
    /// The newest started_at / finished_at of any other backup_history row.
    pub last_change: Option<String>,
}

/// Whether this run ends with a catalog backup: when the config wants one and either the run
/// changes the history, or the history changed since the newest catalog snapshot started (a
/// failed or skipped catalog backup is covered by the next run, even one with nothing to back up).
pub fn catalog_needed(cfg: &Config, state: &CatalogState, run_writes_history: bool) -> bool {
    if !cfg.catalog_backup {
        return false;
    }
    if run_writes_history {
        return true;
    }
    match (&state.last_catalog_started, &state.last_change) {
        (_, None) => false,
        (None, Some(_)) => true,
        // strictly later: the catalog job's Claim waits until the cluster clock has passed its
        // started_at (whole seconds) before the BACKUP is sent, so a row written in the second the
        // catalog job started was written before its snapshot was taken
        (Some(cat), Some(change)) => change > cat,
    }
}

/// The newest FINISHED catalog backup's start (the ops database's own rows).
pub fn select_last_catalog_sql(ops: &str) -> String {
    format!(
        "SELECT {}, {} FROM {} WHERE {} = {} AND {} = 'FINISHED' ORDER BY {} DESC, {} DESC LIMIT 1",
        ident("label"),
        ident("started_at"),
        qualified(ops, BACKUP_HISTORY),
        ident("database_name"),
        literal(ops),
        ident("status"),
        ident("started_at"),
        ident("label")
    )
}

/// The newest change of any other history row.
pub fn select_last_change_sql(ops: &str) -> String {
    format!(
        "SELECT MAX({}), MAX({}) FROM {} WHERE {} <> {}",
        ident("started_at"),
        ident("finished_at"),
        qualified(ops, BACKUP_HISTORY),
        ident("database_name"),
        literal(ops)
    )
}

/// `BACKUP SNAPSHOT ops.label TO repo` with no ON list: every table of the ops database, including
/// any a later schema version adds.
pub fn catalog_backup_sql(cfg: &Config, label: &str) -> String {
    format!(
        "BACKUP SNAPSHOT {} TO {} PROPERTIES (\"timeout\" = \"{}\")",
        qualified(&cfg.ops_database, label),
        ident(&cfg.repository),
        cfg.job_timeout_s
    )
}

/// The catalog job's steps, appended to a backup or expire plan (the one entry point for both).
pub fn plan_catalog_backup(cfg: &Config, cluster_time: &str, suffix: Option<&str>) -> Vec<Step> {
    let ops = &cfg.ops_database;
    let label = catalog_label(ops, cluster_time, suffix);
    let step = |kind, description: String, sql: String, retry, details| {
        job_step(ops, &label, kind, description, sql, retry, details)
    };
    let mut steps = vec![
        step(
            StepKind::RecordRunning,
            format!("write the RUNNING row of the catalog backup of {ops} (the claim)"),
            insert_running_sql(
                ops,
                &RunningRow {
                    label: &label,
                    database: ops,
                    backup_type: &BackupType::Full.to_string(),
                    repository: &cfg.repository,
                    base_label: None,
                    partitions: 0,
                    tables_json: "[]",
                },
            ),
            super::idempotent(cfg),
            None,
        ),
        step(
            StepKind::Claim,
            format!("proceed only if ours is the oldest live RUNNING row of {ops} (one catalog backup at a time)"),
            crate::history::select_running_sql(ops, ops),
            super::idempotent(cfg),
            Some(Details::Claim {
                heartbeat_stale_s: cfg.heartbeat_stale_s,
            }),
        ),
        step(
            StepKind::IssueBackup,
            format!("send the catalog BACKUP of every table of {ops} (a failure warns, never fails the run)"),
            catalog_backup_sql(cfg, &label),
            super::submission(cfg),
            Some(Details::Backup {
                backup_type: BackupType::Full,
                base_label: None,
                objects: Vec::new(),
                partitions: 0,
            }),
        ),
    ];
    steps.extend(completion_steps(cfg, ops, &label, false));
    steps
}

/// A catalog backup as the history records it (for `expire`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogRow {
    pub label: String,
    pub status: String,
    pub started_at: String,
}

/// The catalog snapshots `expire` may expire: every FINISHED catalog backup but the newest `keep`
/// (newest by started_at, then label). RUNNING and other rows are never chosen; neither is any
/// row when fewer than `keep` FINISHED ones exist.
pub fn expire_catalog(ops: &str, rows: &[CatalogRow], keep: usize) -> Vec<String> {
    let mut finished: Vec<&CatalogRow> = rows
        .iter()
        .filter(|r| r.status == "FINISHED" && is_catalog_label(ops, &r.label))
        .collect();
    finished.sort_by(|a, b| (&b.started_at, &b.label).cmp(&(&a.started_at, &a.label)));
    let mut out: Vec<String> = finished
        .into_iter()
        .skip(keep.max(1))
        .map(|r| r.label.clone())
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::path::Path;

    fn cfg(catalog: bool) -> Config {
        Config::parse(
            Path::new("t.yaml"),
            &format!("connection: {{host: h, user: u}}\nrepository: repo\ntables: [sales.orders]\ncatalog_backup: {catalog}\n"),
        )
        .unwrap()
    }

    #[test]
    fn labels_are_told_apart() {
        let l = catalog_label("ops", "2026-01-01 10:20:30", Some("abc123"));
        assert_eq!(l, "bbr_catalog_ops_20260101102030_abc123");
        assert_eq!(
            catalog_label("ops", "2026-01-01 10:20:30", None),
            "bbr_catalog_ops_20260101102030"
        );
        assert_eq!(
            catalog_label("ops-b.2", "2026-01-01 10:20:30", None),
            "bbr_catalog_ops_b_2_20260101102030"
        );
        // (ops database, label, catalog of that ops database, data label)
        for (ops, label, catalog, data) in [
            ("ops", "bbr_catalog_ops_20260101102030_abc123", true, false),
            ("ops", "bbr_catalog_ops_20260101102030", true, false),
            // another config's ops database on the same repository: not ours
            (
                "ops",
                "bbr_catalog_ops2_20260101102030_abc123",
                false,
                false,
            ),
            (
                "ops2",
                "bbr_catalog_ops2_20260101102030_abc123",
                true,
                false,
            ),
            ("ops", "bbr_catalog_20260101102030_abc123", false, false),
            (
                "ops-b.2",
                "bbr_catalog_ops_b_2_20260101102030_abc123",
                true,
                false,
            ),
            // data backups of databases named `catalog` and `catalog_ops`
            ("ops", "bbr_catalog_20260101102030_full_abc123", false, true),
            (
                "ops",
                "bbr_catalog_ops_20260101102030_full_abc123",
                false,
                true,
            ),
            ("ops", "bbr_catalog_ops_20260101102030_incr", false, true),
            ("ops", "bbr_sales_20260101102030_incr_x1y2z3", false, true),
            ("ops", "bbr_my_db_20260101102030_full_x1y2z3", false, true),
            ("ops", "bbr_catalog_ops_2026010110203_abc123", false, false),
            ("ops", "bbr_catalog_ops_20260101102030_ABC123", false, false),
            ("ops", "my_own_label", false, false),
            (
                "ops",
                "bbr_restore_sales_orders_20260101102030_x1y2z3",
                false,
                false,
            ),
        ] {
            assert_eq!(is_catalog_label(ops, label), catalog, "{ops} {label}");
            assert_eq!(is_data_label(label), data, "{label}");
        }
        assert_eq!(
            catalog_stamp("ops", "bbr_catalog_ops_20260101102030_abc123"),
            Some("20260101102030")
        );
    }

    #[test]
    fn when_a_catalog_backup_is_needed() {
        let st = |cat: Option<&str>, change: Option<&str>| CatalogState {
            last_catalog_started: cat.map(str::to_string),
            last_change: change.map(str::to_string),
        };
        let t1 = Some("2026-01-01 10:00:00");
        let t2 = Some("2026-01-01 11:00:00");
        for (catalog_on, state, writes, want) in [
            (true, st(None, None), true, true),
            (true, st(None, None), false, false),
            (true, st(None, t1), false, true),
            (true, st(t1, t2), false, true),
            // a change in the second the catalog started precedes its snapshot (Claim waited)
            (true, st(t1, t1), false, false),
            (true, st(t2, t1), false, false),
            (true, st(t2, t1), true, true),
            (false, st(None, t1), true, false),
        ] {
            assert_eq!(
                catalog_needed(&cfg(catalog_on), &state, writes),
                want,
                "{state:?} writes={writes} on={catalog_on}"
            );
        }
    }

    #[test]
    fn catalog_plan_is_an_ordinary_backup_job_of_the_ops_database() {
        let steps = plan_catalog_backup(&cfg(true), "2026-01-01 10:20:30", None);
        let kinds: Vec<StepKind> = steps.iter().map(|s| s.kind).collect();
        assert_eq!(
            kinds,
            [
                StepKind::RecordRunning,
                StepKind::Claim,
                StepKind::IssueBackup,
                StepKind::PollBackup,
                StepKind::ResolveSnapshotTimestamp,
                StepKind::Finalize
            ]
        );
        assert!(steps.iter().all(|s| s.database.as_deref() == Some("ops")
            && s.label.as_deref() == Some("bbr_catalog_ops_20260101102030")));
        assert_eq!(
            steps[2].sql.as_deref(),
            Some("BACKUP SNAPSHOT `ops`.`bbr_catalog_ops_20260101102030` TO `repo` PROPERTIES (\"timeout\" = \"86400\")")
        );
    }

    fn row(label: &str, status: &str, at: &str) -> CatalogRow {
        CatalogRow {
            label: label.into(),
            status: status.into(),
            started_at: at.into(),
        }
    }

    #[test]
    fn expire_keeps_the_newest_finished_catalogs() {
        let rows = vec![
            row(
                "bbr_catalog_ops_20260101000000_aaaaaa",
                "FINISHED",
                "2026-01-01 00:00:00",
            ),
            row(
                "bbr_catalog_ops_20260102000000_bbbbbb",
                "FAILED",
                "2026-01-02 00:00:00",
            ),
            row(
                "bbr_catalog_ops_20260103000000_cccccc",
                "FINISHED",
                "2026-01-03 00:00:00",
            ),
            row(
                "bbr_catalog_ops_20260104000000_dddddd",
                "FINISHED",
                "2026-01-04 00:00:00",
            ),
            row(
                "bbr_catalog_ops_20260105000000_eeeeee",
                "RUNNING",
                "2026-01-05 00:00:00",
            ),
            row(
                "bbr_sales_20260101000000_full_ffffff",
                "FINISHED",
                "2026-01-01 00:00:00",
            ),
        ];
        assert_eq!(
            expire_catalog("ops", &rows, 2),
            ["bbr_catalog_ops_20260101000000_aaaaaa"]
        );
        assert!(expire_catalog("ops", &rows, 3).is_empty());
        // keep 0 still keeps the newest: recover needs one
        assert_eq!(expire_catalog("ops", &rows, 0).len(), 2);
    }

    proptest! {
        #[test]
        fn expire_never_takes_the_newest_few(n in 0usize..12, keep in 0usize..5) {
            let rows: Vec<CatalogRow> = (0..n)
                .map(|i| row(&format!("bbr_catalog_ops_202601{:02}000000_aaaaaa", i + 1), "FINISHED", &format!("2026-01-{:02} 00:00:00", i + 1)))
                .collect();
            let gone = expire_catalog("ops", &rows, keep);
            prop_assert_eq!(gone.len(), n.saturating_sub(keep.max(1)));
            for r in rows.iter().rev().take(keep.max(1)) {
                prop_assert!(!gone.contains(&r.label));
            }
        }
    }
}
