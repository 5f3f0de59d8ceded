//! The ops schema (DESIGN.md "The ops schema") and the statements that read and write it.
//! Valid on StarRocks 2.5–4.x: explicit DISTRIBUTED BY HASH ... BUCKETS 1, PRIMARY KEY tables where rows
//! are updated (UPDATE needs them), key columns within the 128-byte primary key limit, and every column
//! name backtick-quoted (`partitions`, `tables` are keywords).

use serde::Serialize;

use crate::sql::{ident, literal, literal_list, opt_literal, qualified};

pub const BACKUP_HISTORY: &str = "backup_history";
pub const BACKUP_PARTITIONS: &str = "backup_partitions";
pub const RESTORE_HISTORY: &str = "restore_history";

/// All ops tables, in creation order.
pub const OPS_TABLES: [&str; 3] = [BACKUP_HISTORY, BACKUP_PARTITIONS, RESTORE_HISTORY];

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

fn at(row: &[Option<String>], i: usize) -> Option<String> {
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

/// What chain resolution needs of the FINISHED backups of one database (no other columns).
pub fn select_finished_for_restore_sql(ops: &str, database: &str) -> String {
    format!(
        "SELECT {} FROM {} WHERE {} = 'FINISHED' AND {} = {}",
        col_list(&["label", "status", "snapshot_at", "backup_timestamp"]),
        qualified(ops, BACKUP_HISTORY),
        ident("status"),
        ident("database_name"),
        literal(database)
    )
}

/// The labels whose manifest has rows for one table (each once).
pub fn select_labels_holding_sql(ops: &str, database: &str, table: &str) -> String {
    format!(
        "SELECT DISTINCT {} FROM {} WHERE {} = {} AND {} = {}",
        ident("label"),
        qualified(ops, BACKUP_PARTITIONS),
        ident("database_name"),
        literal(database),
        ident("table_name"),
        literal(table)
    )
}

/// The manifest rows of one table in one backup, only the columns chain resolution reads.
pub fn select_table_manifest_sql(ops: &str, label: &str, database: &str, table: &str) -> String {
    format!(
        "SELECT {} FROM {} WHERE {} = {} AND {} = {} AND {} = {}",
        col_list(&[
            "label",
            "partition_name",
            "partition_id",
            "visible_version",
            "replication_num",
            "source_label"
        ]),
        qualified(ops, BACKUP_PARTITIONS),
        ident("label"),
        literal(label),
        ident("database_name"),
        literal(database),
        ident("table_name"),
        literal(table)
    )
}

/// One manifest row (backup_partitions).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ManifestRow {
    pub label: String,
    pub database: String,
    pub table: String,
    pub partition: String,
    pub partition_id: i64,
    pub visible_version: i64,
    pub replication_num: Option<i64>,
    /// The snapshot holding this partition's data as recorded.
    pub source_label: String,
    pub in_snapshot: bool,
    pub whole_table: bool,
    pub schema_fingerprint: String,
}

pub const MANIFEST_COLUMNS: [&str; 11] = [
    "label",
    "database_name",
    "table_name",
    "partition_name",
    "partition_id",
    "visible_version",
    "replication_num",
    "source_label",
    "in_snapshot",
    "whole_table",
    "schema_fingerprint",
];

fn parse_bool(s: Option<String>) -> bool {
    matches!(
        s.as_deref().map(str::trim),
        Some("1") | Some("true") | Some("TRUE") | Some("True")
    )
}

impl ManifestRow {
    pub fn from_row(row: &[Option<String>]) -> Option<ManifestRow> {
        Some(ManifestRow {
            label: at(row, 0)?,
            database: at(row, 1)?,
            table: at(row, 2)?,
            partition: at(row, 3)?,
            partition_id: at(row, 4)?.trim().parse().ok()?,
            visible_version: at(row, 5)?.trim().parse().ok()?,
            replication_num: at(row, 6).and_then(|s| s.trim().parse().ok()),
            source_label: at(row, 7)?,
            in_snapshot: parse_bool(at(row, 8)),
            whole_table: parse_bool(at(row, 9)),
            schema_fingerprint: at(row, 10).unwrap_or_default(),
        })
    }

    /// The row borrowed, as [`ManifestInsert::push`] takes it.
    pub fn as_ref(&self) -> ManifestRowRef<'_> {
        ManifestRowRef {
            label: &self.label,
            database: &self.database,
            table: &self.table,
            partition: &self.partition,
            partition_id: self.partition_id,
            visible_version: self.visible_version,
            replication_num: self.replication_num,
            source_label: &self.source_label,
            in_snapshot: self.in_snapshot,
            whole_table: self.whole_table,
            schema_fingerprint: &self.schema_fingerprint,
        }
    }
}

/// A manifest row borrowed from the planner's inputs: rendering 1M rows allocates nothing per row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ManifestRowRef<'a> {
    pub label: &'a str,
    pub database: &'a str,
    pub table: &'a str,
    pub partition: &'a str,
    pub partition_id: i64,
    pub visible_version: i64,
    pub replication_num: Option<i64>,
    pub source_label: &'a str,
    pub in_snapshot: bool,
    pub whole_table: bool,
    pub schema_fingerprint: &'a str,
}

/// Multi-row manifest INSERTs, rendered row by row straight into one reused buffer and copied out
/// at their exact size by [`ManifestInsert::take`]. At 1M rows this matters for memory, not only
/// time: per-row temporaries took the heap holes the planner frees table by table, and a String
/// grown by doubling past 128 KB is a fresh mmap each; either way the statements never reused the
/// memory of the discovery state they replace.
pub struct ManifestInsert {
    sql: String,
    prefix: usize,
    rows: usize,
}

impl ManifestInsert {
    pub fn new(ops: &str) -> ManifestInsert {
        let sql = format!(
            "INSERT INTO {} ({}) VALUES ",
            qualified(ops, BACKUP_PARTITIONS),
            col_list(&MANIFEST_COLUMNS)
        );
        ManifestInsert {
            prefix: sql.len(),
            sql,
            rows: 0,
        }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn push(&mut self, r: ManifestRowRef<'_>) {
        use std::fmt::Write as _;
        let s = &mut self.sql;
        if self.rows > 0 {
            s.push_str(", ");
        }
        self.rows += 1;
        s.push('(');
        for v in [r.label, r.database, r.table, r.partition] {
            push_literal(s, v);
            s.push_str(", ");
        }
        // Writing to a String cannot fail.
        let _ = write!(s, "{}, {}, ", r.partition_id, r.visible_version);
        match r.replication_num {
            Some(n) => {
                let _ = write!(s, "{n}");
            }
            None => s.push_str("NULL"),
        }
        s.push_str(", ");
        push_literal(s, r.source_label);
        s.push_str(if r.in_snapshot { ", 1, " } else { ", 0, " });
        s.push_str(if r.whole_table { "1, " } else { "0, " });
        push_literal(s, r.schema_fingerprint);
        s.push(')');
    }

    /// The statement of the rows pushed since the last take (exact-size copy); starts the next.
    pub fn take(&mut self) -> String {
        let out = self.sql.as_str().to_owned();
        self.sql.truncate(self.prefix);
        self.rows = 0;
        out
    }
}

/// `literal(v)` appended to `out` (the quoting of sql::literal, without a String per value).
fn push_literal(out: &mut String, v: &str) {
    if v.bytes()
        .any(|b| matches!(b, b'\\' | b'\'' | 0 | b'\n' | b'\r' | b'\t' | 8 | 0x1a))
    {
        out.push_str(&literal(v));
    } else {
        out.push('\'');
        out.push_str(v);
        out.push('\'');
    }
}

/// One multi-row INSERT for a chunk of manifest rows. Duplicate rows (a retried chunk) are harmless:
/// readers de-duplicate on (label, table, partition).
pub fn insert_manifest_sql(ops: &str, rows: &[ManifestRow]) -> String {
    let mut m = ManifestInsert::new(ops);
    for r in rows {
        m.push(r.as_ref());
    }
    m.take()
}

/// The manifests of the given labels.
pub fn select_manifest_sql(ops: &str, labels: &[String]) -> String {
    format!(
        "SELECT {} FROM {} WHERE {} IN {}",
        col_list(&MANIFEST_COLUMNS),
        qualified(ops, BACKUP_PARTITIONS),
        ident("label"),
        literal_list(labels)
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
    fn manifest_insert_renders_what_literal_and_format_would() {
        let rows = [
            ManifestRow {
                label: "l".into(),
                database: "d\\b".into(),
                table: "t`x".into(),
                partition: "p'1\n\0\u{1a}\t\r\u{8}é".into(),
                partition_id: -1,
                visible_version: 3,
                replication_num: None,
                source_label: "s".into(),
                in_snapshot: false,
                whole_table: true,
                schema_fingerprint: String::new(),
            },
            ManifestRow {
                label: "l".into(),
                database: "d".into(),
                table: "t".into(),
                partition: "p2".into(),
                partition_id: 10,
                visible_version: i64::MAX,
                replication_num: Some(3),
                source_label: "l".into(),
                in_snapshot: true,
                whole_table: false,
                schema_fingerprint: "ab".into(),
            },
        ];
        let values: Vec<String> = rows
            .iter()
            .map(|r| {
                format!(
                    "({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
                    literal(&r.label),
                    literal(&r.database),
                    literal(&r.table),
                    literal(&r.partition),
                    r.partition_id,
                    r.visible_version,
                    r.replication_num
                        .map(|n| n.to_string())
                        .unwrap_or_else(|| "NULL".into()),
                    literal(&r.source_label),
                    u8::from(r.in_snapshot),
                    u8::from(r.whole_table),
                    literal(&r.schema_fingerprint)
                )
            })
            .collect();
        let want = format!(
            "INSERT INTO {} ({}) VALUES {}",
            qualified("o", BACKUP_PARTITIONS),
            col_list(&MANIFEST_COLUMNS),
            values.join(", ")
        );
        assert_eq!(insert_manifest_sql("o", &rows), want);
    }

    #[test]
    fn manifest_row_round_trip() {
        let r = ManifestRow {
            label: "l".into(),
            database: "d".into(),
            table: "t".into(),
            partition: "p'1".into(),
            partition_id: 10,
            visible_version: 3,
            replication_num: Some(1),
            source_label: "l".into(),
            in_snapshot: true,
            whole_table: false,
            schema_fingerprint: "ab".into(),
        };
        let sql = insert_manifest_sql("ops", std::slice::from_ref(&r));
        assert!(sql.contains("'p\\'1', 10, 3, 1, 'l', 1, 0, 'ab')"), "{sql}");
        let row: Vec<Option<String>> = vec![
            Some("l".into()),
            Some("d".into()),
            Some("t".into()),
            Some("p'1".into()),
            Some("10".into()),
            Some("3".into()),
            Some("1".into()),
            Some("l".into()),
            Some("1".into()),
            Some("0".into()),
            Some("ab".into()),
        ];
        assert_eq!(ManifestRow::from_row(&row), Some(r));
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
