//! The ops schema version (`bbr_meta`) and the in-place upgrade from the previous layout.
//!
//! Version 1 (releases up to f76daba) had no `bbr_meta` and no `backup_tables`: every backup wrote
//! one `backup_partitions` row per partition in scope, each naming the snapshot holding its data.
//! Version 2 writes lean manifests. Those version-1 manifests are already complete descriptions of
//! their tables, so the upgrade only adds one `backup_tables` row per (label, table) marking them
//! complete — one set-based INSERT ... SELECT; no history row is changed or lost, and a restore to
//! a point recorded before the upgrade resolves exactly as before.

use super::{col_list, BACKUP_PARTITIONS, BACKUP_TABLES, BBR_META, TABLE_ROW_COLUMNS};
use crate::sql::{ident, literal, qualified};

/// The ops schema version this release writes and reads.
pub const SCHEMA_VERSION: u32 = 2;

/// The `bbr_meta` row holding the version.
pub const VERSION_KEY: &str = "schema_version";

/// Reads the recorded version (no row, or no `bbr_meta` table: version 1).
pub fn select_version_sql(ops: &str) -> String {
    format!(
        "SELECT {} FROM {} WHERE {} = {}",
        ident("value"),
        qualified(ops, BBR_META),
        ident("name"),
        literal(VERSION_KEY)
    )
}

/// Records [`SCHEMA_VERSION`] (PRIMARY KEY: an upsert, so re-running is harmless).
pub fn record_version_sql(ops: &str) -> String {
    format!(
        "INSERT INTO {} ({}) VALUES ({}, {}, NOW())",
        qualified(ops, BBR_META),
        col_list(&["name", "value", "updated_at"]),
        literal(VERSION_KEY),
        literal(&SCHEMA_VERSION.to_string())
    )
}

/// Upgrades version 1 to 2: one complete `backup_tables` row per (label, database, table) of the
/// manifests that have none — exactly the version-1 ones, since version 2 writes a label's
/// backup_tables rows before its partition rows. So it is safe on any layout: re-sent after a crash
/// before the version was recorded, or by `recover` on a catalog of unknown version, it adds nothing
/// that is already described (and never marks a version-2 delta complete).
pub fn upgrade_v1_sql(ops: &str) -> String {
    format!(
        "INSERT INTO {} ({}) SELECT {l}, {d}, {t}, MAX({f}), MAX({w}), 1, COUNT(DISTINCT {p}), COUNT(DISTINCT {s}), 'recorded before schema version 2' FROM {} WHERE {l} NOT IN (SELECT {l} FROM {}) GROUP BY {l}, {d}, {t}",
        qualified(ops, BACKUP_TABLES),
        col_list(&TABLE_ROW_COLUMNS),
        qualified(ops, BACKUP_PARTITIONS),
        qualified(ops, BACKUP_TABLES),
        l = ident("label"),
        d = ident("database_name"),
        t = ident("table_name"),
        f = ident("schema_fingerprint"),
        w = ident("whole_table"),
        p = ident("partition_name"),
        s = ident("source_label"),
    )
}

/// Parses the recorded version text.
pub fn parse_version(v: Option<&str>) -> u32 {
    v.and_then(|s| s.trim().parse().ok()).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements() {
        assert_eq!(
            select_version_sql("ops"),
            "SELECT `value` FROM `ops`.`bbr_meta` WHERE `name` = 'schema_version'"
        );
        assert!(record_version_sql("ops").contains("VALUES ('schema_version', '2', NOW())"));
        let up = upgrade_v1_sql("ops");
        assert!(up.starts_with("INSERT INTO `ops`.`backup_tables`"), "{up}");
        assert!(
            up.ends_with(
                "FROM `ops`.`backup_partitions` WHERE `label` NOT IN (SELECT `label` FROM `ops`.`backup_tables`) GROUP BY `label`, `database_name`, `table_name`"
            ),
            "{up}"
        );
        assert_eq!(parse_version(None), 1);
        assert_eq!(parse_version(Some("2")), 2);
    }
}
