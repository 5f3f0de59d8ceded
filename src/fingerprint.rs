//! Schema fingerprints: what RESTORE compares on an existing table (docs/STARROCKS-NOTES.md "RESTORE
//! onto an existing table: the checks in order") hashed per table, so a change that moves no
//! partition version still makes the next backup take the table whole. Versioned:
//! - `v3:<32 hex>` (current): v2's inputs plus each rollup's definition (a rollup re-created under
//!   its name with other columns: RESTORE compares only its name and short-key count), the sort
//!   key (short-key count of the base index) and the default distribution (type, bucket count).
//! - `v2:<32 hex>`: columns with DEFAULT and COMMENT, key type, partition type,
//!   partition/distribution keys, bloom-filter columns and rollup names. Discovery recomputes v2
//!   beside v3: a recorded v2 that today's v2 reproduces is read as today's v3 (no change), one
//!   that differs is a real change (state.rs `upgrade_v2_fingerprints`).
//! - a bare 32-hex value (columns and keys only) cannot be compared: a COMMENT or DEFAULT changed
//!   after the last pre-upgrade backup is invisible to it, and an incremental on top of that base
//!   would be CANCELLED by RESTORE. Such a table is taken whole once, and the log says why.

use crate::planner::backup::TableState;

/// FNV-1a 64-bit: a stable hash defined here (not std's randomised SipHash), so fingerprints are
/// identical across runs, platforms and versions of this tool.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn hash32(text: &str, seed: &str) -> String {
    let a = fnv1a64(text.as_bytes());
    let b = fnv1a64(format!("{seed}\n{text}").as_bytes());
    format!("{a:016x}{b:016x}")
}

/// One column as the fingerprints see it (information_schema.columns).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ColumnDef {
    pub name: String,
    pub column_type: String,
    pub nullable: String,
    /// COLUMN_KEY: carries the key type (DUP / AGG / UNI / PRI) of key columns.
    pub key: String,
    pub default: Option<String>,
    pub comment: String,
}

impl ColumnDef {
    fn legacy_line(&self) -> String {
        format!(
            "{}|{}|{}|{}",
            self.name,
            self.column_type.to_ascii_lowercase(),
            self.nullable,
            self.key
        )
    }
}

/// The previous algorithm (kept bit for bit: old manifests hold its values).
pub fn legacy(columns: &[ColumnDef], keys: &str) -> String {
    let mut text = String::new();
    for c in columns {
        text.push_str(&c.legacy_line());
        text.push('\n');
    }
    text.push_str(keys);
    hash32(&text, "bbr-schema-v1")
}

/// Everything else RESTORE compares that discovery reads set-based.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TableDesign {
    /// `partition_key=..|distribution_key=..` as the legacy fingerprint hashed it.
    pub keys: String,
    pub partition_type: &'static str,
    /// tables_config PROPERTIES' bloom_filter_columns (and bloom_filter_fpp if set), normalised.
    pub bloom_filter: String,
    /// Names of the table's rollups / synchronous MVs (materialized_views, REFRESH_TYPE ROLLUP), sorted.
    pub rollups: String,
    /// v3: each rollup's `name:definition` (MATERIALIZED_VIEW_DEFINITION), sorted.
    pub rollup_definitions: String,
    /// v3: tables_config SORT_KEY (the base index's sort key, so its short-key count).
    pub sort_key: String,
    /// v3: tables_config DISTRIBUTE_TYPE and DISTRIBUTE_BUCKET (the default for new partitions).
    pub distribution: String,
}

/// The current fingerprint, `v3:` + 32 hex: v2's text and what v3 adds.
pub fn v3(columns: &[ColumnDef], design: &TableDesign) -> String {
    let text = format!(
        "{}\nrollup_definitions={}\nsort_key={}\ndistribution={}",
        v2_text(columns, design),
        design.rollup_definitions,
        design.sort_key,
        design.distribution
    );
    format!("v3:{}", hash32(&text, "bbr-schema-v3"))
}

/// The previous fingerprint, `v2:` + 32 hex (kept bit for bit: recorded values are compared with
/// it recomputed from the same discovery).
pub fn v2(columns: &[ColumnDef], design: &TableDesign) -> String {
    format!("v2:{}", hash32(&v2_text(columns, design), "bbr-schema-v2"))
}

fn v2_text(columns: &[ColumnDef], design: &TableDesign) -> String {
    let mut text = String::new();
    for c in columns {
        text.push_str(&c.legacy_line());
        text.push('|');
        match &c.default {
            Some(d) => text.push_str(&format!("default={d:?}")),
            None => text.push_str("default=NULL"),
        }
        text.push_str(&format!("|comment={:?}\n", c.comment));
    }
    text.push_str(&design.keys);
    text.push_str(&format!(
        "\npartition_type={}\nbloom_filter={}\nrollups={}",
        design.partition_type, design.bloom_filter, design.rollups
    ));
    text
}

/// Whether a recorded fingerprint can be compared at all: v3, or v2 (which discovery turns into
/// today's v3 when today's v2 reproduces it). A bare legacy value cannot.
pub fn is_current(recorded: &str) -> bool {
    recorded.starts_with("v3:") || recorded.starts_with("v2:")
}

/// Whether a fingerprint a base recorded still describes the table. A v2 value left by discovery
/// differed from today's v2 (a real change); an older-format value never does.
pub fn same_schema(recorded: &str, now: &TableState) -> bool {
    is_current(recorded) && recorded == now.schema_fingerprint
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, ty: &str, null: &str, key: &str) -> ColumnDef {
        ColumnDef {
            name: name.into(),
            column_type: ty.into(),
            nullable: null.into(),
            key: key.into(),
            ..ColumnDef::default()
        }
    }

    #[test]
    fn legacy_is_the_old_algorithm_bit_for_bit() {
        let cols = vec![col("id", "bigint", "NO", "DUP"), col("v", "int", "YES", "")];
        let keys = "partition_key=dt|distribution_key=id";
        // the pre-v2 state::fingerprint over "id|bigint|NO|DUP\nv|int|YES|\n" + keys
        let text = format!("id|bigint|NO|DUP\nv|int|YES|\n{keys}");
        let a = fnv1a64(text.as_bytes());
        let b = fnv1a64(format!("bbr-schema-v1\n{text}").as_bytes());
        assert_eq!(legacy(&cols, keys), format!("{a:016x}{b:016x}"));
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn v2_sees_what_restore_compares() {
        let cols = vec![col("id", "bigint", "NO", "DUP"), col("v", "int", "YES", "")];
        let design = TableDesign {
            keys: "partition_key=dt|distribution_key=id".into(),
            partition_type: "range",
            bloom_filter: String::new(),
            rollups: String::new(),
            ..TableDesign::default()
        };
        let base = v2(&cols, &design);
        assert!(base.starts_with("v2:") && base.len() == 35, "{base}");
        assert!(
            base.len() <= 64,
            "fits backup_partitions.schema_fingerprint"
        );
        let mut commented = cols.clone();
        commented[1].comment = "value".into();
        let mut defaulted = cols.clone();
        defaulted[1].default = Some("0".into());
        let mut typed = cols.clone();
        typed[0].key = "PRI".into();
        let changes = [
            v2(&commented, &design),
            v2(&defaulted, &design),
            v2(&typed, &design),
            v2(
                &cols,
                &TableDesign {
                    partition_type: "list",
                    ..design.clone()
                },
            ),
            v2(
                &cols,
                &TableDesign {
                    bloom_filter: "id".into(),
                    ..design.clone()
                },
            ),
            v2(
                &cols,
                &TableDesign {
                    rollups: "r1".into(),
                    ..design.clone()
                },
            ),
        ];
        for c in changes {
            assert_ne!(c, base);
        }
        assert_eq!(v2(&cols, &design), base);
        // comments and defaults are invisible to the legacy part
        assert_eq!(
            legacy(&commented, &design.keys),
            legacy(&cols, &design.keys)
        );
    }

    #[test]
    fn v3_adds_rollup_definitions_sort_key_and_distribution_and_v2_stays() {
        let cols = vec![col("id", "bigint", "NO", "DUP"), col("v", "int", "YES", "")];
        let design = TableDesign {
            keys: "partition_key=dt|distribution_key=id".into(),
            partition_type: "range",
            rollups: "r1".into(),
            rollup_definitions: "r1:create materialized view r1 as select id, v from t".into(),
            sort_key: "`id`".into(),
            distribution: "HASH:4".into(),
            ..TableDesign::default()
        };
        let base = v3(&cols, &design);
        assert!(base.starts_with("v3:") && base.len() == 35, "{base}");
        let changes = [
            TableDesign {
                rollup_definitions: "r1:create materialized view r1 as select v, id from t".into(),
                ..design.clone()
            },
            TableDesign {
                sort_key: "`id`, `v`".into(),
                ..design.clone()
            },
            TableDesign {
                distribution: "HASH:8".into(),
                ..design.clone()
            },
        ];
        for d in &changes {
            assert_ne!(v3(&cols, d), base, "{d:?}");
            // none of them is visible to v2: a recorded v2 is compared with today's v2
            assert_eq!(v2(&cols, d), v2(&cols, &design), "{d:?}");
        }
        assert!(is_current(&base) && is_current(&v2(&cols, &design)));
        assert!(!is_current(&legacy(&cols, &design.keys)));
    }
}
