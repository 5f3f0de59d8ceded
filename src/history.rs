//! The ops schema (DESIGN.md "The ops schema") and the statements that read and write it.
//! Valid on StarRocks 2.5–4.x: explicit DISTRIBUTED BY HASH ... BUCKETS 1, PRIMARY KEY tables where rows
//! are updated (UPDATE needs them), key columns within the 128-byte primary key limit, and every column
//! name backtick-quoted (`partitions`, `tables` are keywords).

use serde::Serialize;

use crate::sql::{ident, literal, literal_list, opt_literal, qualified};

pub const BACKUP_HISTORY: &str = "backup_history";
pub const BACKUP_PARTITIONS: &str = "backup_partitions";
pub const RESTORE_HISTORY: &str = "restore_history";
/// Per (backup, table) bookkeeping of lean manifests (schema version 2).
pub const BACKUP_TABLES: &str = "backup_tables";
/// The ops schema version (schema version 2).
pub const BBR_META: &str = "bbr_meta";

/// All ops tables, in creation order.
pub const OPS_TABLES: [&str; 5] = [
    BACKUP_HISTORY,
    BACKUP_PARTITIONS,
    RESTORE_HISTORY,
    BACKUP_TABLES,
    BBR_META,
];

mod manifest;
pub mod schema;
pub use manifest::*;

pub fn create_database_sql(ops: &str) -> String {
    format!("CREATE DATABASE IF NOT EXISTS {}", ident(ops))
}

fn cols(defs: &[(&str, &str)]) -> String {
    defs.iter()
        .map(|(n, t)| format!("  {} {}", ident(n), t))
        .collect::<Vec<_>>()
        .join(",\n")
}

fn key_list(keys: &[&str]) -> String {
    keys.iter().map(|k| ident(k)).collect::<Vec<_>>().join(", ")
}

/// `CREATE TABLE IF NOT EXISTS` for one ops table; None for an unknown name.
pub fn create_table_sql(ops: &str, table: &str, replication_num: u32) -> Option<String> {
    let (defs, key_kind, keys): (Vec<(&str, &str)>, &str, Vec<&str>) = match table {
        BACKUP_HISTORY => (
            vec![
                ("label", "VARCHAR(96) NOT NULL"),
                ("database_name", "VARCHAR(256) NOT NULL"),
                ("backup_type", "VARCHAR(16) NOT NULL"),
                ("status", "VARCHAR(16) NOT NULL"),
                ("repository", "VARCHAR(256) NOT NULL"),
                ("started_at", "DATETIME NULL"),
                ("finished_at", "DATETIME NULL"),
                ("backup_timestamp", "VARCHAR(32) NULL"),
                ("base_label", "VARCHAR(96) NULL"),
                ("error_message", "STRING NULL"),
                ("heartbeat_at", "DATETIME NULL"),
                ("snapshot_at", "DATETIME NULL"),
                ("partitions", "INT NULL"),
                ("tables", "STRING NULL"),
            ],
            "PRIMARY KEY",
            vec!["label"],
        ),
        BACKUP_PARTITIONS => (
            vec![
                ("label", "VARCHAR(96) NOT NULL"),
                ("database_name", "VARCHAR(256) NOT NULL"),
                ("table_name", "VARCHAR(256) NOT NULL"),
                ("partition_name", "VARCHAR(256) NOT NULL"),
                ("partition_id", "BIGINT NOT NULL"),
                ("visible_version", "BIGINT NOT NULL"),
                ("replication_num", "INT NULL"),
                ("source_label", "VARCHAR(96) NOT NULL"),
                ("in_snapshot", "BOOLEAN NOT NULL"),
                ("whole_table", "BOOLEAN NOT NULL"),
                ("schema_fingerprint", "VARCHAR(64) NULL"),
            ],
            "DUPLICATE KEY",
            vec!["label", "database_name"],
        ),
        BACKUP_TABLES => (
            vec![
                ("label", "VARCHAR(96) NOT NULL"),
                ("database_name", "VARCHAR(256) NOT NULL"),
                ("table_name", "VARCHAR(256) NOT NULL"),
                ("schema_fingerprint", "VARCHAR(64) NULL"),
                ("whole_table", "BOOLEAN NOT NULL"),
                ("complete", "BOOLEAN NOT NULL"),
                ("partitions", "INT NULL"),
                ("restore_jobs", "INT NULL"),
                ("decision", "STRING NULL"),
            ],
            "DUPLICATE KEY",
            vec!["label", "database_name"],
        ),
        BBR_META => (
            vec![
                ("name", "VARCHAR(64) NOT NULL"),
                ("value", "VARCHAR(256) NULL"),
                ("updated_at", "DATETIME NULL"),
            ],
            "PRIMARY KEY",
            vec!["name"],
        ),
        RESTORE_HISTORY => (
            vec![
                ("label", "VARCHAR(96) NOT NULL"),
                ("database_name", "VARCHAR(256) NOT NULL"),
                ("table_name", "VARCHAR(256) NOT NULL"),
                ("target_time", "DATETIME NULL"),
                ("status", "VARCHAR(16) NOT NULL"),
                ("started_at", "DATETIME NULL"),
                ("finished_at", "DATETIME NULL"),
                ("heartbeat_at", "DATETIME NULL"),
                ("chain", "STRING NULL"),
                ("current_label", "VARCHAR(96) NULL"),
                ("error_message", "STRING NULL"),
            ],
            "PRIMARY KEY",
            vec!["label"],
        ),
        _ => return None,
    };
    Some(format!(
        "CREATE TABLE IF NOT EXISTS {} (\n{}\n) {} ({})\nDISTRIBUTED BY HASH({}) BUCKETS 1\nPROPERTIES (\"replication_num\" = \"{}\")",
        qualified(ops, table),
        cols(&defs),
        key_kind,
        key_list(&keys),
        ident(keys[0]),
        replication_num
    ))
}

/// One row of backup_history as read back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryRow {
    pub label: String,
    pub database: String,
    pub backup_type: String,
    pub status: String,
    pub repository: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub backup_timestamp: Option<String>,
    pub base_label: Option<String>,
    pub error_message: Option<String>,
    pub heartbeat_at: Option<String>,
    pub snapshot_at: Option<String>,
    pub partitions: Option<i64>,
}

/// Columns in the order [`HistoryRow::from_row`] expects.
pub const HISTORY_COLUMNS: [&str; 13] = [
    "label",
    "database_name",
    "backup_type",
    "status",
    "repository",
    "started_at",
    "finished_at",
    "backup_timestamp",
    "base_label",
    "error_message",
    "heartbeat_at",
    "snapshot_at",
    "partitions",
];

pub fn col_list(cols: &[&str]) -> String {
    cols.iter().map(|c| ident(c)).collect::<Vec<_>>().join(", ")
}

pub(crate) fn at(row: &[Option<String>], i: usize) -> Option<String> {
    row.get(i).cloned().flatten()
}

impl HistoryRow {
    pub fn from_row(row: &[Option<String>]) -> HistoryRow {
        HistoryRow {
            label: at(row, 0).unwrap_or_default(),
            database: at(row, 1).unwrap_or_default(),
            backup_type: at(row, 2).unwrap_or_default(),
            status: at(row, 3).unwrap_or_default(),
            repository: at(row, 4).unwrap_or_default(),
            started_at: at(row, 5).map(|s| trim_datetime(&s)),
            finished_at: at(row, 6).map(|s| trim_datetime(&s)),
            backup_timestamp: at(row, 7),
            base_label: at(row, 8),
            error_message: at(row, 9),
            heartbeat_at: at(row, 10).map(|s| trim_datetime(&s)),
            snapshot_at: at(row, 11).map(|s| trim_datetime(&s)),
            partitions: at(row, 12).and_then(|s| s.trim().parse().ok()),
        }
    }
}

/// DATETIME values may come back with a fractional part (`.0`); plans and lists show seconds.
pub fn trim_datetime(s: &str) -> String {
    match s.find('.') {
        Some(i) if i >= 19 => s[..i].to_string(),
        _ => s.to_string(),
    }
}

/// All history rows, newest first (for `list`).
pub fn select_history_sql(ops: &str) -> String {
    format!(
        "SELECT {} FROM {} ORDER BY {} DESC, {} DESC",
        col_list(&HISTORY_COLUMNS),
        qualified(ops, BACKUP_HISTORY),
        ident("started_at"),
        ident("label")
    )
}

/// History rows of the given databases with the given status, newest first.
/// [`select_history_by_status_sql`] for several statuses in one statement.
pub fn select_history_by_statuses_sql(
    ops: &str,
    databases: &[String],
    statuses: &[&str],
) -> String {
    let statuses: Vec<String> = statuses.iter().map(|s| s.to_string()).collect();
    format!(
        "SELECT {} FROM {} WHERE {} IN {} AND {} IN {} ORDER BY {} DESC, {} DESC",
        col_list(&HISTORY_COLUMNS),
        qualified(ops, BACKUP_HISTORY),
        ident("status"),
        literal_list(&statuses),
        ident("database_name"),
        literal_list(databases),
        ident("started_at"),
        ident("label")
    )
}

pub fn select_history_by_status_sql(ops: &str, databases: &[String], status: &str) -> String {
    format!(
        "SELECT {} FROM {} WHERE {} = {} AND {} IN {} ORDER BY {} DESC, {} DESC",
        col_list(&HISTORY_COLUMNS),
        qualified(ops, BACKUP_HISTORY),
        ident("status"),
        literal(status),
        ident("database_name"),
        literal_list(databases),
        ident("started_at"),
        ident("label")
    )
}

/// The RUNNING rows of one database, as the claim reads them: backups AND restores, because
/// StarRocks runs one backup or restore job per database at a time (STARROCKS.md §3), so a restore
/// and a backup of the same database must not run at once either.
pub fn select_running_sql(ops: &str, database: &str) -> String {
    let part = |table: &str| {
        format!(
            "SELECT {} FROM {} WHERE {} = {} AND {} = 'RUNNING'",
            col_list(&["label", "started_at", "heartbeat_at"]),
            qualified(ops, table),
            ident("database_name"),
            literal(database),
            ident("status"),
        )
    };
    format!(
        "{} UNION ALL {} ORDER BY {}, {}",
        part(BACKUP_HISTORY),
        part(RESTORE_HISTORY),
        ident("started_at"),
        ident("label")
    )
}

/// The latest FINISHED backup of one database (the base check).
pub fn select_latest_finished_sql(ops: &str, database: &str) -> String {
    format!(
        "SELECT {} FROM {} WHERE {} = {} AND {} = 'FINISHED' ORDER BY {} DESC, {} DESC LIMIT 1",
        ident("label"),
        qualified(ops, BACKUP_HISTORY),
        ident("database_name"),
        literal(database),
        ident("status"),
        ident("started_at"),
        ident("label")
    )
}

/// What the RUNNING row records when it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningRow<'a> {
    pub label: &'a str,
    pub database: &'a str,
    pub backup_type: &'a str,
    pub repository: &'a str,
    pub base_label: Option<&'a str>,
    pub partitions: u32,
    /// JSON array of the tables in the snapshot.
    pub tables_json: &'a str,
}

/// INSERT of the RUNNING row; times from the cluster clock (NOW()).
pub fn insert_running_sql(ops: &str, r: &RunningRow<'_>) -> String {
    format!(
        "INSERT INTO {} ({}) VALUES ({}, {}, {}, 'RUNNING', {}, NOW(), NOW(), {}, {}, {})",
        qualified(ops, BACKUP_HISTORY),
        col_list(&[
            "label",
            "database_name",
            "backup_type",
            "status",
            "repository",
            "started_at",
            "heartbeat_at",
            "base_label",
            "partitions",
            "tables"
        ]),
        literal(r.label),
        literal(r.database),
        literal(r.backup_type),
        literal(r.repository),
        opt_literal(r.base_label),
        r.partitions,
        literal(r.tables_json)
    )
}

/// Refreshes the heartbeat of a RUNNING row (backup or restore history).
pub fn heartbeat_sql(ops: &str, table: &str, label: &str) -> String {
    format!(
        "UPDATE {} SET {} = NOW() WHERE {} = {}",
        qualified(ops, table),
        ident("heartbeat_at"),
        ident("label"),
        literal(label)
    )
}

/// Releases a RUNNING row of a run stopped by a signal: a heartbeat far in the past makes every
/// later run treat it as a dead run's at once (resume / continue it) instead of waiting
/// heartbeat_stale_s.
pub fn release_sql(ops: &str, table: &str, label: &str) -> String {
    format!(
        "UPDATE {} SET {} = '1970-01-01 00:00:00' WHERE {} = {} AND {} = 'RUNNING'",
        qualified(ops, table),
        ident("heartbeat_at"),
        ident("label"),
        literal(label),
        ident("status")
    )
}

/// Removes our own claim (withdrawing before any BACKUP was sent).
pub fn withdraw_sql(ops: &str, table: &str, label: &str) -> String {
    format!(
        "DELETE FROM {} WHERE {} = {}",
        qualified(ops, table),
        ident("label"),
        literal(label)
    )
}

/// Placeholder names used in the Finalize template.
pub const FINALIZE_PLACEHOLDERS: [&str; 4] =
    ["status", "backup_timestamp", "snapshot_at", "error_message"];

/// Values for the Finalize UPDATE, each already rendered as SQL (a literal, NULL or a placeholder).
pub struct FinalizeValues<'a> {
    pub status: &'a str,
    pub backup_timestamp: &'a str,
    pub snapshot_at: &'a str,
    pub error_message: &'a str,
}

pub fn finalize_sql(ops: &str, label: &str, v: &FinalizeValues<'_>) -> String {
    format!(
        "UPDATE {} SET {} = {}, {} = NOW(), {} = NOW(), {} = {}, {} = {}, {} = {} WHERE {} = {}",
        qualified(ops, BACKUP_HISTORY),
        ident("status"),
        v.status,
        ident("finished_at"),
        ident("heartbeat_at"),
        ident("backup_timestamp"),
        v.backup_timestamp,
        ident("snapshot_at"),
        v.snapshot_at,
        ident("error_message"),
        v.error_message,
        ident("label"),
        literal(label)
    )
}

/// The template shown in plans: `${name}` for every value known only after the job ran.
pub fn finalize_template(ops: &str, label: &str) -> String {
    finalize_sql(
        ops,
        label,
        &FinalizeValues {
            status: "${status}",
            backup_timestamp: "${backup_timestamp}",
            snapshot_at: "${snapshot_at}",
            error_message: "${error_message}",
        },
    )
}

/// Finalize of a manifest-only record (partitions were only dropped since the base): FINISHED without
/// a snapshot. `snapshot_at` = NOW() (cluster clock): from then on the table is described by this
/// manifest, whose rows point at the snapshots holding each remaining partition's data.
pub fn finalize_manifest_only_sql(ops: &str, label: &str) -> String {
    finalize_sql(
        ops,
        label,
        &FinalizeValues {
            status: "'FINISHED'",
            backup_timestamp: "NULL",
            snapshot_at: "NOW()",
            error_message: "NULL",
        },
    )
}

/// What the RUNNING restore_history row records when it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreRunningRow<'a> {
    pub label: &'a str,
    pub database: &'a str,
    pub table: &'a str,
    /// `YYYY-MM-DD HH:MM:SS`, session time zone.
    pub target_time: &'a str,
    /// JSON array of the chain links.
    pub chain_json: &'a str,
}

/// INSERT of the RUNNING restore row (the claim); times from the cluster clock.
pub fn insert_restore_running_sql(ops: &str, r: &RestoreRunningRow<'_>) -> String {
    format!(
        "INSERT INTO {} ({}) VALUES ({}, {}, {}, {}, 'RUNNING', NOW(), NOW(), {})",
        qualified(ops, RESTORE_HISTORY),
        col_list(&[
            "label",
            "database_name",
            "table_name",
            "target_time",
            "status",
            "started_at",
            "heartbeat_at",
            "chain"
        ]),
        literal(r.label),
        literal(r.database),
        literal(r.table),
        literal(r.target_time),
        literal(r.chain_json)
    )
}

/// Records which snapshot's RESTORE job the run is about to submit, so a later run can find the job.
pub fn set_current_label_sql(ops: &str, label: &str, current: &str) -> String {
    format!(
        "UPDATE {} SET {} = {}, {} = NOW() WHERE {} = {}",
        qualified(ops, RESTORE_HISTORY),
        ident("current_label"),
        literal(current),
        ident("heartbeat_at"),
        ident("label"),
        literal(label)
    )
}

/// The `error_message` a claim row to continue a dead run carries while it is RUNNING (it names
/// the adopted label), so a later run never mistakes a dead adopter's claim for a run of its own.
pub const ADOPT_NOTE: &str = "claim to continue ";

/// INSERT of the claim row of a run that continues the dead run `adopts`: the same table, target
/// and chain, and [`ADOPT_NOTE`] + `adopts` as its note. Withdrawn once the adopted row is taken over.
pub fn insert_restore_claim_sql(ops: &str, r: &RestoreRunningRow<'_>, adopts: &str) -> String {
    format!(
        "INSERT INTO {} ({}) VALUES ({}, {}, {}, {}, 'RUNNING', NOW(), NOW(), {}, {})",
        qualified(ops, RESTORE_HISTORY),
        col_list(&[
            "label",
            "database_name",
            "table_name",
            "target_time",
            "status",
            "started_at",
            "heartbeat_at",
            "chain",
            "error_message"
        ]),
        literal(r.label),
        literal(r.database),
        literal(r.table),
        literal(r.target_time),
        literal(r.chain_json),
        literal(&format!("{ADOPT_NOTE}{adopts}"))
    )
}

/// Takes a dead run's RUNNING restore row over (after winning the claim): a fresh heartbeat makes it
/// a live claim again, so no other run proceeds on the database while this run continues it.
pub fn takeover_restore_sql(ops: &str, label: &str) -> String {
    format!(
        "UPDATE {} SET {} = NOW() WHERE {} = {} AND {} = 'RUNNING'",
        qualified(ops, RESTORE_HISTORY),
        ident("heartbeat_at"),
        ident("label"),
        literal(label),
        ident("status")
    )
}

/// The status of one restore_history row (the takeover checks it is still RUNNING).
pub fn select_restore_status_sql(ops: &str, label: &str) -> String {
    select_status_sql(ops, RESTORE_HISTORY, label)
}

/// The status of one backup_history row (recover: is a restored catalog's own row still RUNNING).
pub fn select_backup_status_sql(ops: &str, label: &str) -> String {
    select_status_sql(ops, BACKUP_HISTORY, label)
}

fn select_status_sql(ops: &str, table: &str, label: &str) -> String {
    format!(
        "SELECT {} FROM {} WHERE {} = {}",
        ident("status"),
        qualified(ops, table),
        ident("label"),
        literal(label)
    )
}

/// How many rows backup_history holds (recover: an empty one is what `init` run by mistake leaves).
pub fn count_backup_history_sql(ops: &str) -> String {
    format!("SELECT COUNT(*) FROM {}", qualified(ops, BACKUP_HISTORY))
}

/// Placeholder names used in the restore Finalize template.
pub const RESTORE_FINALIZE_PLACEHOLDERS: [&str; 2] = ["status", "error_message"];

/// Finalizes a restore_history row; `status` and `error_message` are rendered SQL (literal/NULL/placeholder).
pub fn finalize_restore_sql(ops: &str, label: &str, status: &str, error_message: &str) -> String {
    format!(
        "UPDATE {} SET {} = {}, {} = NOW(), {} = NOW(), {} = {} WHERE {} = {}",
        qualified(ops, RESTORE_HISTORY),
        ident("status"),
        status,
        ident("finished_at"),
        ident("heartbeat_at"),
        ident("error_message"),
        error_message,
        ident("label"),
        literal(label)
    )
}

/// The restore Finalize template shown in plans.
pub fn finalize_restore_template(ops: &str, label: &str) -> String {
    finalize_restore_sql(ops, label, "${status}", "${error_message}")
}

/// A RUNNING restore_history row as discovery reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RestoreRow {
    pub label: String,
    pub database: String,
    pub table: String,
    pub started_at: Option<String>,
    pub heartbeat_at: Option<String>,
    pub chain: Option<String>,
    pub current_label: Option<String>,
    /// `YYYY-MM-DD HH:MM:SS`: a run continues a dead one only for the same target time.
    pub target_time: Option<String>,
    /// While RUNNING: [`ADOPT_NOTE`] on the claim row of a run continuing another.
    pub error_message: Option<String>,
}

/// Columns in the order [`RestoreRow::from_row`] expects.
pub const RESTORE_COLUMNS: [&str; 9] = [
    "label",
    "database_name",
    "table_name",
    "started_at",
    "heartbeat_at",
    "chain",
    "current_label",
    "target_time",
    "error_message",
];

impl RestoreRow {
    pub fn from_row(row: &[Option<String>]) -> RestoreRow {
        RestoreRow {
            label: at(row, 0).unwrap_or_default(),
            database: at(row, 1).unwrap_or_default(),
            table: at(row, 2).unwrap_or_default(),
            started_at: at(row, 3).map(|s| trim_datetime(&s)),
            heartbeat_at: at(row, 4).map(|s| trim_datetime(&s)),
            chain: at(row, 5),
            current_label: at(row, 6),
            target_time: at(row, 7).map(|s| trim_datetime(&s)),
            error_message: at(row, 8),
        }
    }
}

/// The RUNNING restore rows of one database.
pub fn select_restore_running_sql(ops: &str, database: &str) -> String {
    format!(
        "SELECT {} FROM {} WHERE {} = 'RUNNING' AND {} = {} ORDER BY {}, {}",
        col_list(&RESTORE_COLUMNS),
        qualified(ops, RESTORE_HISTORY),
        ident("status"),
        ident("database_name"),
        literal(database),
        ident("started_at"),
        ident("label")
    )
}

/// What chain resolution needs of the FINISHED (and EXPIRED: they stay in lean-manifest spans)
/// backups of one database (no other columns).
pub fn select_finished_for_restore_sql(ops: &str, database: &str) -> String {
    format!(
        "SELECT {} FROM {} WHERE {} IN ('FINISHED', 'EXPIRED') AND {} = {}",
        col_list(&[
            "label",
            "status",
            "snapshot_at",
            "backup_timestamp",
            "repository"
        ]),
        qualified(ops, BACKUP_HISTORY),
        ident("status"),
        ident("database_name"),
        literal(database)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ddl_shape() {
        for t in OPS_TABLES {
            let sql = create_table_sql("ops", t, 1).unwrap();
            assert!(sql.starts_with("CREATE TABLE IF NOT EXISTS `ops`."));
            assert!(sql.contains("BUCKETS 1"));
            assert!(sql.contains("\"replication_num\" = \"1\""));
        }
        assert!(create_table_sql("ops", "nope", 1).is_none());
        let h = create_table_sql("ops", BACKUP_HISTORY, 3).unwrap();
        assert!(h.contains("PRIMARY KEY (`label`)"));
        assert!(h.contains("`partitions` INT"));
    }

    #[test]
    fn finalize_template_names_placeholders() {
        let t = finalize_template("ops", "bbr_x");
        for p in FINALIZE_PLACEHOLDERS {
            assert!(t.contains(&format!("${{{p}}}")), "{t}");
        }
        assert_eq!(
            trim_datetime("2026-01-01 00:00:00.0"),
            "2026-01-01 00:00:00"
        );
    }
}
