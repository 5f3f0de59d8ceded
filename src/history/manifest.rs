//! Lean manifests (schema version 2; DESIGN.md "Lean manifests"): the rows a backup writes into
//! `backup_partitions` (partitions in its snapshot, tombstones for dropped ones) and `backup_tables`
//! (one row per table it recorded something for), and the set-based reads that fold them back.

use serde::Serialize;

use super::{at, col_list, BACKUP_PARTITIONS, BACKUP_TABLES};
use crate::sql::{ident, literal, literal_list, qualified};

/// The `backup_tables` rows of the given tables in the given databases (every label: the chains
/// are resolved from them), only the columns the fold reads.
pub fn select_table_records_sql(ops: &str, databases: &[String], tables: &[String]) -> String {
    format!(
        "SELECT {} FROM {} WHERE {} IN {} AND {} IN {}",
        col_list(&TABLE_RECORD_COLUMNS),
        qualified(ops, BACKUP_TABLES),
        ident("database_name"),
        literal_list(databases),
        ident("table_name"),
        literal_list(tables)
    )
}

/// Columns of [`select_table_records_sql`], in order.
pub const TABLE_RECORD_COLUMNS: [&str; 5] = [
    "label",
    "database_name",
    "table_name",
    "complete",
    "schema_fingerprint",
];

/// The manifest rows of the given labels for the given tables: ONE statement for every span the
/// planner folds (the labels of the chains involved), only the columns the fold reads.
pub fn select_span_manifest_sql(ops: &str, labels: &[String], tables: &[String]) -> String {
    select_label_manifest_sql(&SPAN_MANIFEST_COLUMNS, ops, labels, tables)
}

/// [`select_span_manifest_sql`] as the base of an incremental reads it: without replication_num,
/// which only a restore needs (one cell less per partition of a 1M-partition base, both sides).
pub fn select_base_manifest_sql(ops: &str, labels: &[String], tables: &[String]) -> String {
    select_label_manifest_sql(&BASE_MANIFEST_COLUMNS, ops, labels, tables)
}

/// Columns of [`select_base_manifest_sql`], in order.
pub const BASE_MANIFEST_COLUMNS: [&str; 8] = [
    "label",
    "database_name",
    "table_name",
    "partition_name",
    "partition_id",
    "visible_version",
    "source_label",
    "in_snapshot",
];

fn select_label_manifest_sql(
    columns: &[&str],
    ops: &str,
    labels: &[String],
    tables: &[String],
) -> String {
    format!(
        "SELECT {} FROM {} WHERE {} IN {} AND {} IN {}",
        col_list(columns),
        qualified(ops, BACKUP_PARTITIONS),
        ident("label"),
        literal_list(labels),
        ident("table_name"),
        literal_list(tables)
    )
}

/// Columns of [`select_span_manifest_sql`], in order.
pub const SPAN_MANIFEST_COLUMNS: [&str; 9] = [
    "label",
    "database_name",
    "table_name",
    "partition_name",
    "partition_id",
    "visible_version",
    "replication_num",
    "source_label",
    "in_snapshot",
];

/// The `backup_tables` columns every writer fills, in order.
pub const TABLE_ROW_COLUMNS: [&str; 9] = [
    "label",
    "database_name",
    "table_name",
    "schema_fingerprint",
    "whole_table",
    "complete",
    "partitions",
    "restore_jobs",
    "decision",
];

/// One `backup_tables` row as the planner writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRow<'a> {
    pub label: &'a str,
    pub database: &'a str,
    pub table: &'a str,
    pub schema_fingerprint: &'a str,
    /// The snapshot holds the whole table.
    pub whole_table: bool,
    /// The manifest lists every partition of the table (a fold starts here).
    pub complete: bool,
    /// Partitions of the table after this backup.
    pub partitions: usize,
    /// RESTORE jobs a restore of the table as of this backup needs.
    pub restore_jobs: usize,
    /// Why the table is in this backup the way it is (auditors).
    pub decision: &'a str,
}

/// One multi-row INSERT of `backup_tables` rows. DUPLICATE KEY: a retried statement duplicates
/// rows, which readers de-duplicate on (label, database, table).
pub fn insert_table_rows_sql(ops: &str, rows: &[TableRow<'_>]) -> String {
    let values: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "({}, {}, {}, {}, {}, {}, {}, {}, {})",
                literal(r.label),
                literal(r.database),
                literal(r.table),
                literal(r.schema_fingerprint),
                u8::from(r.whole_table),
                u8::from(r.complete),
                r.partitions,
                r.restore_jobs,
                literal(r.decision)
            )
        })
        .collect();
    format!(
        "INSERT INTO {} ({}) VALUES {}",
        qualified(ops, BACKUP_TABLES),
        col_list(&TABLE_ROW_COLUMNS),
        values.join(", ")
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

pub fn parse_bool(s: Option<String>) -> bool {
    s.as_deref().is_some_and(is_true)
}

/// A BOOLEAN cell's text as true (`1`, `true`; StarRocks answers `1`/`0`).
pub fn is_true(s: &str) -> bool {
    matches!(s.trim(), "1" | "true" | "TRUE" | "True")
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
    fn table_rows_render() {
        let sql = insert_table_rows_sql(
            "ops",
            &[TableRow {
                label: "l",
                database: "d",
                table: "t'x",
                schema_fingerprint: "ab",
                whole_table: true,
                complete: true,
                partitions: 3,
                restore_jobs: 1,
                decision: "whole table (new table)",
            }],
        );
        assert!(
            sql.ends_with(
                "VALUES ('l', 'd', 't\\'x', 'ab', 1, 1, 3, 1, 'whole table (new table)')"
            ),
            "{sql}"
        );
    }
}
