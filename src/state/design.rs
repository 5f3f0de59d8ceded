//! Schema discovery for the fingerprint (what RESTORE compares, STARROCKS.md §6): columns,
//! rollups and table configs, each read set-based for every configured table.

use std::collections::BTreeMap;

use super::*;

/// Column definitions per configured table (one set-based query).
pub(super) fn columns(
    c: &mut Cluster,
    cfg: &Config,
) -> Result<BTreeMap<TableRef, Vec<ColumnDef>>, BbrError> {
    let dbs: Vec<String> = cfg.tables_by_db().into_keys().collect();
    let tables: BTreeSet<String> = cfg.tables.iter().map(|t| t.table.clone()).collect();
    let tables: Vec<String> = tables.into_iter().collect();
    let sql = format!(
        "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, COLUMN_TYPE, IS_NULLABLE, COLUMN_KEY, COLUMN_DEFAULT, COLUMN_COMMENT FROM information_schema.columns WHERE TABLE_SCHEMA IN {} AND TABLE_NAME IN {}",
        literal_list(&dbs),
        literal_list(&tables)
    );
    let rs = q(c, cfg, &sql, "reading information_schema.columns")?;
    let wanted: BTreeSet<&TableRef> = cfg.tables.iter().collect();
    let mut out: BTreeMap<TableRef, Vec<(i64, ColumnDef)>> = BTreeMap::new();
    for i in 0..rs.rows.len() {
        let get = |n: &str| rs.get(i, n).unwrap_or_default();
        let tref = TableRef {
            database: get("TABLE_SCHEMA"),
            table: get("TABLE_NAME"),
        };
        if !wanted.contains(&tref) {
            continue;
        }
        let def = ColumnDef {
            name: get("COLUMN_NAME"),
            column_type: get("COLUMN_TYPE"),
            nullable: get("IS_NULLABLE"),
            key: get("COLUMN_KEY"),
            default: rs.get(i, "COLUMN_DEFAULT"),
            comment: get("COLUMN_COMMENT"),
        };
        let pos = get("ORDINAL_POSITION").trim().parse().unwrap_or(0);
        out.entry(tref).or_default().push((pos, def));
    }
    Ok(out
        .into_iter()
        .map(|(t, mut cols)| {
            cols.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.name.cmp(&b.1.name)));
            (t, cols.into_iter().map(|(_, d)| d).collect())
        })
        .collect())
}

/// Rollup / synchronous MV names per configured table: ONE set-based query to
/// information_schema.materialized_views, whose REFRESH_TYPE 'ROLLUP' rows are the tables' extra
/// indexes (ShowMaterializedViewStatus.of(db, table, indexMeta)); the base table is the name after
/// FROM in the definition. Absent on this release: empty (rollups then not fingerprinted).
pub(super) fn rollups(
    c: &mut Cluster,
    cfg: &Config,
) -> Result<BTreeMap<TableRef, (String, String)>, BbrError> {
    let dbs: Vec<String> = cfg.tables_by_db().into_keys().collect();
    let sql = format!(
        "SELECT TABLE_SCHEMA, TABLE_NAME, MATERIALIZED_VIEW_DEFINITION FROM information_schema.materialized_views WHERE REFRESH_TYPE = 'ROLLUP' AND TABLE_SCHEMA IN {}",
        literal_list(&dbs)
    );
    let Some(rs) = optional_info_table(c, cfg, &sql, "materialized_views", "rollups")? else {
        return Ok(BTreeMap::new());
    };
    let mut out: BTreeMap<TableRef, Vec<(String, String)>> = BTreeMap::new();
    for i in 0..rs.rows.len() {
        let def = rs
            .get(i, "MATERIALIZED_VIEW_DEFINITION")
            .unwrap_or_default();
        let Some(base) = base_table_of(&def) else {
            continue;
        };
        out.entry(TableRef {
            database: rs.get(i, "TABLE_SCHEMA").unwrap_or_default(),
            table: base,
        })
        .or_default()
        .push((rs.get(i, "TABLE_NAME").unwrap_or_default(), def));
    }
    // (names, `name:definition` lines): RESTORE compares a rollup's name and short-key count, not
    // its columns, so v3 hashes the definition to see one re-created under its name
    Ok(out
        .into_iter()
        .map(|(t, mut rs)| {
            rs.sort();
            let names: Vec<&str> = rs.iter().map(|(n, _)| n.as_str()).collect();
            let defs: Vec<String> = rs
                .iter()
                .map(|(n, d)| format!("{n}:{}", d.split_whitespace().collect::<Vec<_>>().join(" ")))
                .collect();
            (t, (names.join(","), defs.join("\n")))
        })
        .collect())
}

/// Reads an information_schema table the fingerprint needs (transient errors retried). Only
/// "that table does not exist on this release" means "not fingerprinted" (said once, as a
/// warning); any other error fails the run: an empty input would hide a real schema change.
pub(super) fn optional_info_table(
    c: &mut Cluster,
    cfg: &Config,
    sql: &str,
    table: &str,
    what: &str,
) -> Result<Option<ResultSet>, BbrError> {
    match c.query_retry(sql, &read_policy(cfg)) {
        Ok(rs) => Ok(Some(rs)),
        Err(SqlError::Server { message, .. })
            if message.contains("Unknown table")
                && message.to_ascii_lowercase().contains(table) =>
        {
            warn!("information_schema.{table} does not exist on this StarRocks release: {what} are not part of the schema fingerprint");
            Ok(None)
        }
        Err(e) => Err(e.into_bbr(&format!("reading information_schema.{table}"))),
    }
}

/// The table after the first FROM of a view definition (backticks and db prefix removed).
pub(super) fn base_table_of(def: &str) -> Option<String> {
    let words: Vec<&str> = def.split_whitespace().collect();
    let k = words.iter().position(|w| w.eq_ignore_ascii_case("from"))?;
    let raw = words.get(k + 1)?.trim_end_matches([',', ';', ')']);
    let name = raw.rsplit('.').next()?.trim_matches('`');
    (!name.is_empty()).then(|| name.to_string())
}

/// What information_schema.tables_config says of a table (one set-based query for all).
#[derive(Debug, Clone, Default)]
pub(super) struct TableConfig {
    /// PROPERTIES JSON (OlapTable.getProperties): `bloom_filter_columns`, `bloom_filter_fpp`.
    pub(super) bloom_filter: String,
    /// SORT_KEY: the base index's sort key (its short-key count is in RESTORE's signature).
    pub(super) sort_key: String,
    /// `DISTRIBUTE_TYPE:DISTRIBUTE_BUCKET`: the default distribution of new partitions.
    pub(super) distribution: String,
    /// DISTRIBUTE_BUCKET (0: automatic bucketing, each partition's count inferred).
    pub(super) default_buckets: Option<i64>,
}

/// tables_config of every configured table: bloom filters, sort key, default distribution.
/// Absent on this release: empty (the fingerprint then cannot see them; said once).
pub(super) fn table_configs(
    c: &mut Cluster,
    cfg: &Config,
) -> Result<BTreeMap<TableRef, TableConfig>, BbrError> {
    let dbs: Vec<String> = cfg.tables_by_db().into_keys().collect();
    let tables: BTreeSet<String> = cfg.tables.iter().map(|t| t.table.clone()).collect();
    let tables: Vec<String> = tables.into_iter().collect();
    let sql = format!(
        "SELECT TABLE_SCHEMA, TABLE_NAME, PROPERTIES, SORT_KEY, DISTRIBUTE_TYPE, DISTRIBUTE_BUCKET FROM information_schema.tables_config WHERE TABLE_SCHEMA IN {} AND TABLE_NAME IN {}",
        literal_list(&dbs),
        literal_list(&tables)
    );
    let what = "bloom filters, sort keys and default distributions";
    let Some(rs) = optional_info_table(c, cfg, &sql, "tables_config", what)? else {
        return Ok(BTreeMap::new());
    };
    let mut out = BTreeMap::new();
    for i in 0..rs.rows.len() {
        let tref = TableRef {
            database: rs.get(i, "TABLE_SCHEMA").unwrap_or_default(),
            table: rs.get(i, "TABLE_NAME").unwrap_or_default(),
        };
        let props: serde_json::Value = rs
            .get(i, "PROPERTIES")
            .and_then(|p| serde_json::from_str(&p).ok())
            .unwrap_or_default();
        let field = |k: &str| {
            props
                .get(k)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string()
        };
        let mut cols: Vec<String> = field("bloom_filter_columns")
            .split(',')
            .map(|c| c.trim().to_ascii_lowercase())
            .filter(|c| !c.is_empty())
            .collect();
        cols.sort();
        let fpp = field("bloom_filter_fpp");
        let get = |k: &str| rs.get(i, k).unwrap_or_default().trim().to_string();
        let buckets = get("DISTRIBUTE_BUCKET");
        out.insert(
            tref,
            TableConfig {
                bloom_filter: if !cols.is_empty() || !fpp.is_empty() {
                    format!("columns={}|fpp={fpp}", cols.join(","))
                } else {
                    String::new()
                },
                sort_key: get("SORT_KEY").to_ascii_lowercase(),
                distribution: format!("{}:{buckets}", get("DISTRIBUTE_TYPE")),
                default_buckets: buckets.parse().ok(),
            },
        );
    }
    Ok(out)
}

/// The partition type of a table with no partition to read it from (automatic partitioning
/// before the first load): from SHOW CREATE TABLE, one round trip per such table (rare).
pub(super) fn partition_type_without_partitions(
    c: &mut Cluster,
    cfg: &Config,
    t: &TableRef,
) -> Result<PartitionType, BbrError> {
    let sql = format!("SHOW CREATE TABLE {}", qualified(&t.database, &t.table));
    let rs = c
        .query_retry(&sql, &read_policy(cfg))
        .map_err(|e| e.into_bbr(&format!("reading the definition of {t}")))?;
    let ddl = rs.get(0, "Create Table").unwrap_or_default();
    Ok(PartitionType::from_create_table(&ddl))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollup_base_tables() {
        let cases = [
            (
                "create materialized view r1 as select id from orders group by id",
                Some("orders"),
            ),
            (
                "CREATE MATERIALIZED VIEW mv AS SELECT k, SUM(v) FROM `sales`.`orders` GROUP BY k",
                Some("orders"),
            ),
            ("select 1", None),
        ];
        for (def, want) in cases {
            assert_eq!(base_table_of(def).as_deref(), want, "{def}");
        }
    }
}
