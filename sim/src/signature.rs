//! What RESTORE checks before it touches an EXISTING table (docs/STARROCKS-NOTES.md "What RESTORE
//! compares"), in the FE's order: `RestoreJob.java` (upstream main) :638-692 — partition type
//! (`getIntersectPartNamesWith` :2377), then `getSignature` (:2221) over the partitions both sides
//! have plus the base-schema column count, then the key type, then `Column.equals` per base
//! column. The error text of a signature difference comes from `getSignatureSequence` (:2301):
//! the first item that differs, and only when both sides have the same number of items.

use crate::cluster::Table;
use crate::ddl::{Column, Partitioning};

/// StorageType of every index: only COLUMN exists for OLAP tables since 2.x; no ALTER changes it.
const STORAGE_TYPE: &str = "COLUMN";
/// OlapTable's bloom-filter fpp when the table sets none (FeConstants.DEFAULT_BLOOM_FILTER_FPP).
const DEFAULT_BF_FPP: &str = "0.05";

/// GlobalStateMgr.calcShortKeyColumnCount (server/GlobalStateMgr.java:2614): at most 3 sort-key
/// columns and 36 bytes; a VARCHAR ends the short key (counted), FLOAT/DOUBLE end it (not counted).
pub(crate) fn short_key_count(sort_keys: &[&Column]) -> usize {
    let mut n = 0;
    let mut bytes = 0;
    for c in sort_keys.iter().take(3) {
        let ty = c.ty.to_ascii_uppercase();
        let base = ty.split('(').next().unwrap_or_default().trim().to_string();
        let char_family = matches!(base.as_str(), "VARCHAR" | "CHAR" | "STRING");
        bytes += match base.as_str() {
            "BOOLEAN" | "TINYINT" => 1,
            "SMALLINT" => 2,
            "INT" | "INTEGER" | "FLOAT" => 4,
            "DATE" => 3,
            "LARGEINT" | "DECIMAL" | "DECIMALV2" | "DECIMAL128" => 16,
            "CHAR" => c.byte_limit().unwrap_or(1),
            // a VARCHAR's index size is its declared length, capped (Column.getOlapColumnIndexSize)
            "VARCHAR" | "STRING" => 20,
            _ => 8,
        };
        if bytes > 36 {
            if char_family {
                n += 1;
            }
            break;
        }
        if matches!(base.as_str(), "FLOAT" | "DOUBLE") {
            break;
        }
        n += 1;
        if base == "VARCHAR" || base == "STRING" {
            break;
        }
    }
    n
}

impl Table {
    /// The base index's sort-key columns: ORDER BY, else the key columns.
    pub(crate) fn sort_columns(&self) -> &[String] {
        if self.sort_key.is_empty() {
            &self.keys
        } else {
            &self.sort_key
        }
    }

    /// PartitionInfo.getType().name().
    fn partition_type_name(&self) -> &'static str {
        match (self.is_partitioned(), self.partitioning) {
            (false, _) => "UNPARTITIONED",
            (true, Partitioning::Range) => "RANGE",
            (true, _) => "LIST",
        }
    }

    /// Every index (the base index bears the table's name, OlapTable.java:593-598) with its
    /// sort-key columns: the base index sorts by the key columns; a rollup of a DUPLICATE table
    /// takes its leading columns as keys by the short-key rule (MaterializedViewHandler), so all
    /// its columns go in; on other key models its columns that are keys of the table.
    fn indexes(&self) -> Vec<(String, Vec<&Column>)> {
        let col = |n: &String| self.columns.iter().find(|c| c.name.eq_ignore_ascii_case(n));
        let mut out = vec![(
            self.name.clone(),
            self.sort_columns().iter().filter_map(col).collect(),
        )];
        for (name, cols) in &self.rollups {
            let keyed: Vec<&Column> = cols
                .iter()
                .filter(|c| self.keys.iter().any(|k| k.eq_ignore_ascii_case(c)))
                .filter_map(col)
                .collect();
            let sort = if keyed.is_empty() || self.keys_type == crate::KeysType::Duplicate {
                cols.iter().filter_map(col).collect()
            } else {
                keyed
            };
            out.push((name.clone(), sort));
        }
        // getSignature walks the index names in a TreeSet (sorted)
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// getSignatureSequence: what the checksum is fed, in order; `Some(msg)` where the FE adds a
    /// checksum item with that message (the distribution type is fed without an item of its own).
    pub(crate) fn signature_parts(
        &self,
        partitions: &[String],
    ) -> Vec<(String, Option<&'static str>)> {
        let mut v: Vec<(String, Option<&'static str>)> = vec![
            (self.name.clone(), Some("Table name is inconsistent")),
            ("OLAP".into(), Some("Table type is inconsistent")),
        ];
        for (name, sort) in self.indexes() {
            v.push((name, Some("indexName is inconsistent")));
            v.push((
                short_key_count(&sort).to_string(),
                Some("short key column count is inconsistent"),
            ));
            v.push((STORAGE_TYPE.into(), Some("storage type is inconsistent")));
        }
        if !self.bloom_filter_columns.is_empty() {
            let mut bf: Vec<String> = self
                .bloom_filter_columns
                .iter()
                .map(|c| c.to_ascii_lowercase())
                .collect();
            bf.sort();
            for c in bf {
                v.push((c, Some("bloom filter is inconsistent")));
            }
            v.push((DEFAULT_BF_FPP.into(), Some("bloom filter is inconsistent")));
        }
        v.push((
            self.partition_type_name().into(),
            Some("partition type is inconsistent"),
        ));
        if self.is_partitioned() && self.partitioning == Partitioning::Range {
            let pc = self.partition_column.clone().unwrap_or_default();
            let ty = self
                .columns
                .iter()
                .find(|c| c.name.eq_ignore_ascii_case(&pc))
                .map(|c| c.ty.clone())
                .unwrap_or_default();
            v.push((
                format!("{pc}:{ty}"),
                Some("partition columns is inconsistent"),
            ));
        }
        let mut names: Vec<&String> = partitions.iter().collect();
        names.sort_by_key(|n| n.to_ascii_lowercase());
        for n in names {
            let Some(p) = self.partition(n) else { continue };
            v.push((n.clone(), Some("partition name is inconsistent")));
            v.push(("HASH".into(), None));
            v.push((
                self.distribution.join(",").to_ascii_lowercase(),
                Some("partition distribution col hash is inconsistent"),
            ));
            v.push((p.buckets.to_string(), Some("bucket num is inconsistent")));
        }
        v
    }
}

/// The cumulative checksum items (getSignatureSequence's list): item k stands for everything fed
/// up to its own part, so the first differing item names the first difference.
fn items(parts: &[(String, Option<&'static str>)]) -> Vec<(String, &'static str)> {
    let mut acc = String::new();
    let mut out = Vec::new();
    for (part, msg) in parts {
        acc.push_str(part);
        acc.push('\u{1}');
        if let Some(m) = msg {
            out.push((acc.clone(), *m));
        }
    }
    out
}

/// Column.equals (catalog/Column.java:901-946): name (case-insensitive), type, aggregation, key
/// flag, nullability, DEFAULT, COMMENT.
fn same_column(a: &Column, ak: bool, b: &Column, bk: bool) -> bool {
    a.name.eq_ignore_ascii_case(&b.name)
        && a.ty.eq_ignore_ascii_case(&b.ty)
        && a.agg == b.agg
        && ak == bk
        && a.nullable == b.nullable
        && a.default == b.default
        && a.comment == b.comment
}

/// RestoreJob's checks of an existing table `local` (named `target`) against the snapshot's
/// `remote`: Err is the job's cancel Status.
pub(crate) fn check_existing(local: &Table, remote: &Table, target: &str) -> Result<(), String> {
    if local.partition_type_name() != remote.partition_type_name() {
        return Err("[COMMON_ERROR, msg: Table's partition type is different]".into());
    }
    // getIntersectPartNamesWith: non-temporary partition names on both sides
    let shared: Vec<String> = local
        .partitions
        .iter()
        .filter(|p| !p.is_temp && remote.partition(&p.name).is_some_and(|r| !r.is_temp))
        .map(|p| p.name.clone())
        .collect();
    let (lp, rp) = (
        local.signature_parts(&shared),
        remote.signature_parts(&shared),
    );
    if lp != rp || local.columns.len() != remote.columns.len() {
        let (li, ri) = (items(&lp), items(&rp));
        let msg = if li.len() == ri.len() {
            li.iter()
                .zip(&ri)
                .find(|(l, r)| l.0 != r.0)
                .map(|(l, _)| l.1)
                .unwrap_or("")
        } else {
            ""
        };
        return Err(format!(
            "[COMMON_ERROR, msg: Table {target} already exist but with different schema, errMsg: {msg}]"
        ));
    }
    if local.keys_type != remote.keys_type {
        return Err(format!(
            "[COMMON_ERROR, msg: Table {target} already exist but with different key type]"
        ));
    }
    let is_key = |t: &Table, c: &Column| t.keys.iter().any(|k| k.eq_ignore_ascii_case(&c.name));
    for (l, r) in local.columns.iter().zip(&remote.columns) {
        if !same_column(l, is_key(local, l), r, is_key(remote, r)) {
            return Err(format!(
                "[COMMON_ERROR, msg: Table {target} already exist but with different schema, column: {} in existed table is different from the column in backup snapshot, column: {}]",
                l.name, r.name
            ));
        }
    }
    Ok(())
}
