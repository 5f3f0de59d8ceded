//! information_schema as SQLite tables, refreshed per dirty table before a statement reads them.

use std::collections::BTreeMap;

use crate::ddl::KeysType;
use crate::SimError;

use crate::cluster::*;

/// The information_schema tables the simulator materialises.
pub(crate) const INFO_DDL: &str = r#"
CREATE TABLE "information_schema._pm" (DB_NAME TEXT, TABLE_NAME TEXT, PARTITION_NAME TEXT, PARTITION_ID INTEGER,
  COMPACT_VERSION INTEGER, VISIBLE_VERSION INTEGER, VISIBLE_VERSION_TIME TEXT, NEXT_VERSION INTEGER,
  PARTITION_KEY TEXT, PARTITION_VALUE TEXT, DISTRIBUTION_KEY TEXT, BUCKETS INTEGER, REPLICATION_NUM INTEGER,
  STORAGE_MEDIUM TEXT, COOLDOWN_TIME TEXT, LAST_CONSISTENCY_CHECK_TIME TEXT, IS_IN_MEMORY INTEGER,
  IS_TEMP INTEGER, DATA_SIZE INTEGER, ROW_COUNT INTEGER, ENABLE_DATACACHE INTEGER, AVG_CS INTEGER,
  P50_CS INTEGER, MAX_CS INTEGER, STORAGE_PATH TEXT);
CREATE INDEX "information_schema._pm_t" ON "information_schema._pm" (DB_NAME, TABLE_NAME, PARTITION_NAME);
CREATE VIEW "information_schema.partitions_meta" AS SELECT DB_NAME, TABLE_NAME, PARTITION_NAME, PARTITION_ID,
  COMPACT_VERSION, VISIBLE_VERSION, sim_tz(VISIBLE_VERSION_TIME) AS VISIBLE_VERSION_TIME, NEXT_VERSION,
  PARTITION_KEY, PARTITION_VALUE, DISTRIBUTION_KEY, BUCKETS, REPLICATION_NUM, STORAGE_MEDIUM, COOLDOWN_TIME,
  LAST_CONSISTENCY_CHECK_TIME, IS_IN_MEMORY, IS_TEMP, DATA_SIZE, ROW_COUNT, ENABLE_DATACACHE, AVG_CS, P50_CS,
  MAX_CS, STORAGE_PATH FROM "information_schema._pm";
CREATE TABLE "information_schema.tables" (TABLE_CATALOG TEXT, TABLE_SCHEMA TEXT, TABLE_NAME TEXT,
  TABLE_TYPE TEXT, ENGINE TEXT, VERSION INTEGER, ROW_FORMAT TEXT, TABLE_ROWS INTEGER, AVG_ROW_LENGTH INTEGER,
  DATA_LENGTH INTEGER, MAX_DATA_LENGTH INTEGER, INDEX_LENGTH INTEGER, DATA_FREE INTEGER, AUTO_INCREMENT INTEGER,
  CREATE_TIME TEXT, UPDATE_TIME TEXT, CHECK_TIME TEXT, TABLE_COLLATION TEXT, CHECKSUM INTEGER,
  CREATE_OPTIONS TEXT, TABLE_COMMENT TEXT);
CREATE INDEX "information_schema.tables_t" ON "information_schema.tables" (TABLE_SCHEMA, TABLE_NAME);
CREATE TABLE "information_schema.columns" (TABLE_CATALOG TEXT, TABLE_SCHEMA TEXT, TABLE_NAME TEXT,
  COLUMN_NAME TEXT, ORDINAL_POSITION INTEGER, COLUMN_DEFAULT TEXT, IS_NULLABLE TEXT, DATA_TYPE TEXT,
  CHARACTER_MAXIMUM_LENGTH INTEGER, CHARACTER_OCTET_LENGTH INTEGER, NUMERIC_PRECISION INTEGER,
  NUMERIC_SCALE INTEGER, DATETIME_PRECISION INTEGER, CHARACTER_SET_NAME TEXT, COLLATION_NAME TEXT,
  COLUMN_TYPE TEXT, COLUMN_KEY TEXT, EXTRA TEXT, PRIVILEGES TEXT, COLUMN_COMMENT TEXT);
CREATE INDEX "information_schema.columns_t" ON "information_schema.columns" (TABLE_SCHEMA, TABLE_NAME);
CREATE TABLE "information_schema.tables_config" (TABLE_SCHEMA TEXT, TABLE_NAME TEXT, TABLE_ENGINE TEXT,
  TABLE_MODEL TEXT, PRIMARY_KEY TEXT, PARTITION_KEY TEXT, DISTRIBUTE_KEY TEXT, DISTRIBUTE_TYPE TEXT,
  DISTRIBUTE_BUCKET INTEGER, SORT_KEY TEXT, PROPERTIES TEXT, TABLE_ID INTEGER);
CREATE INDEX "information_schema.tables_config_t" ON "information_schema.tables_config" (TABLE_SCHEMA, TABLE_NAME);
CREATE TABLE "information_schema._mv" (MATERIALIZED_VIEW_ID INTEGER, TABLE_SCHEMA TEXT,
  TABLE_NAME TEXT, REFRESH_TYPE TEXT, IS_ACTIVE TEXT, INACTIVE_REASON TEXT, PARTITION_TYPE TEXT,
  TABLE_ROWS INTEGER, MATERIALIZED_VIEW_DEFINITION TEXT, BASE_TABLE TEXT);
CREATE VIEW "information_schema.materialized_views" AS SELECT MATERIALIZED_VIEW_ID, TABLE_SCHEMA, TABLE_NAME,
  REFRESH_TYPE, IS_ACTIVE, INACTIVE_REASON, PARTITION_TYPE, TABLE_ROWS, MATERIALIZED_VIEW_DEFINITION
  FROM "information_schema._mv";
CREATE TABLE "information_schema.schemata" (CATALOG_NAME TEXT, SCHEMA_NAME TEXT,
  DEFAULT_CHARACTER_SET_NAME TEXT, DEFAULT_COLLATION_NAME TEXT, SQL_PATH TEXT);
"#;

pub(crate) const INFO_TABLES: &[&str] = &[
    "partitions_meta",
    "tables",
    "columns",
    "schemata",
    "tables_config",
    "materialized_views",
];

impl Cluster {
    /// Rewrites the information_schema rows of every dirty table.
    pub(crate) fn refresh_info(&mut self) -> Result<(), SimError> {
        if self.info_dirty.is_empty() && self.info_dirty_parts.is_empty() {
            return Ok(());
        }
        let mut dirty = std::mem::take(&mut self.info_dirty);
        let dirty_parts = std::mem::take(&mut self.info_dirty_parts);
        let tx = self.db.unchecked_transaction().map_err(sqlite_err)?;
        {
            let mut upd = tx
                .prepare_cached(r#"UPDATE "information_schema._pm" SET COMPACT_VERSION = ?4, VISIBLE_VERSION = ?4, VISIBLE_VERSION_TIME = ?5, NEXT_VERSION = ?6, DATA_SIZE = ?7, ROW_COUNT = ?8 WHERE DB_NAME = ?1 AND TABLE_NAME = ?2 AND PARTITION_NAME = ?3"#)
                .map_err(sqlite_err)?;
            let mut upd_t = tx
                .prepare_cached(r#"UPDATE "information_schema.tables" SET TABLE_ROWS = ?3, DATA_LENGTH = ?4, UPDATE_TIME = ?5 WHERE TABLE_SCHEMA = ?1 AND TABLE_NAME = ?2"#)
                .map_err(sqlite_err)?;
            let mut rows_of: BTreeMap<(String, String), u64> = BTreeMap::new();
            for (db, tn, pn) in &dirty_parts {
                if dirty.contains(&(db.clone(), tn.clone())) {
                    continue;
                }
                let Some(t) = self.dbs.get(db).and_then(|d| d.tables.get(tn)) else {
                    continue;
                };
                let Some(p) = t.partition(pn) else {
                    continue;
                };
                if !p.physical.is_empty() {
                    // one row per physical partition: rewrite the table's rows below
                    dirty.insert((db.clone(), tn.clone()));
                    continue;
                }
                upd.execute(rusqlite::params![
                    db,
                    tn,
                    pn,
                    p.version as i64,
                    fmt_time(p.version_time),
                    (p.version + 1) as i64,
                    p.data_size() as i64,
                    p.row_count as i64,
                ])
                .map_err(sqlite_err)?;
                rows_of
                    .entry((db.clone(), tn.clone()))
                    .or_insert_with(|| t.partitions.iter().map(|p| p.row_count).sum());
            }
            for ((db, tn), rows) in &rows_of {
                upd_t
                    .execute(rusqlite::params![
                        db,
                        tn,
                        *rows as i64,
                        (*rows * 64) as i64,
                        fmt_time(self.now)
                    ])
                    .map_err(sqlite_err)?;
            }
        }
        {
            let mut del_pm = tx
                .prepare_cached(r#"DELETE FROM "information_schema._pm" WHERE DB_NAME = ?1 AND TABLE_NAME = ?2"#)
                .map_err(sqlite_err)?;
            let mut del_t = tx
                .prepare_cached(r#"DELETE FROM "information_schema.tables" WHERE TABLE_SCHEMA = ?1 AND TABLE_NAME = ?2"#)
                .map_err(sqlite_err)?;
            let mut del_c = tx
                .prepare_cached(r#"DELETE FROM "information_schema.columns" WHERE TABLE_SCHEMA = ?1 AND TABLE_NAME = ?2"#)
                .map_err(sqlite_err)?;
            let mut del_mv = tx
                .prepare_cached(r#"DELETE FROM "information_schema._mv" WHERE TABLE_SCHEMA = ?1 AND BASE_TABLE = ?2"#)
                .map_err(sqlite_err)?;
            // ShowMaterializedViewStatus.of(dbName, olapTable, indexMeta) (qe/ShowMaterializedViewStatus.java:364):
            // every synchronous MV / rollup index is a row with REFRESH_TYPE 'ROLLUP' and the text of
            // buildCreateMVSql (line 792) as its definition
            let mut ins_mv = tx
                .prepare_cached(r#"INSERT INTO "information_schema._mv" VALUES (?1, ?2, ?3, 'ROLLUP', 'true', '', ?4, 0, ?5, ?6)"#)
                .map_err(sqlite_err)?;
            let mut del_tc = tx
                .prepare_cached(r#"DELETE FROM "information_schema.tables_config" WHERE TABLE_SCHEMA = ?1 AND TABLE_NAME = ?2"#)
                .map_err(sqlite_err)?;
            // InformationSchemaDataSource.genNormalTableConfigInfo: PROPERTIES is OlapTable.getProperties()
            // as JSON (bloom_filter_columns among them, OlapTable.java:2936-2940)
            let mut ins_tc = tx
                .prepare_cached(r#"INSERT INTO "information_schema.tables_config" VALUES (?1, ?2, 'OLAP', ?3, ?4, ?5, ?6, 'HASH', ?7, ?10, ?8, ?9)"#)
                .map_err(sqlite_err)?;
            let mut ins_pm = tx
                .prepare_cached(r#"INSERT INTO "information_schema._pm" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, 'HDD', '9999-12-31 23:59:59', NULL, 0, ?14, ?15, ?16, 0, 0, 0, 0, NULL)"#)
                .map_err(sqlite_err)?;
            let mut ins_t = tx
                .prepare_cached(r#"INSERT INTO "information_schema.tables" VALUES ('def', ?1, ?2, 'BASE TABLE', 'StarRocks', NULL, NULL, ?3, 0, ?4, NULL, NULL, NULL, NULL, ?5, ?6, NULL, 'utf8_general_ci', NULL, NULL, '')"#)
                .map_err(sqlite_err)?;
            let mut ins_c = tx
                .prepare_cached(r#"INSERT INTO "information_schema.columns" VALUES ('def', ?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL, NULL, NULL, NULL, NULL, 'utf8', 'utf8_general_ci', ?8, ?9, '', 'SELECT,INSERT,UPDATE,REFERENCES', ?10)"#)
                .map_err(sqlite_err)?;
            for (db, tn) in &dirty {
                del_pm.execute([db, tn]).map_err(sqlite_err)?;
                del_t.execute([db, tn]).map_err(sqlite_err)?;
                del_c.execute([db, tn]).map_err(sqlite_err)?;
                del_tc.execute([db, tn]).map_err(sqlite_err)?;
                del_mv.execute([db, tn]).map_err(sqlite_err)?;
                let Some(t) = self.dbs.get(db).and_then(|d| d.tables.get(tn)) else {
                    continue;
                };
                let pkey = t.partition_column.clone().unwrap_or_default();
                let dist = t.distribution.join(", ");
                for (k, (name, cols)) in t.rollups.iter().enumerate() {
                    let keys = cols.join(",");
                    ins_mv
                        .execute(rusqlite::params![
                            (k + 1) as i64,
                            db,
                            name,
                            if t.is_list() { "LIST" } else { "RANGE" },
                            format!("create materialized view {name} as select {keys} from {tn} group by {keys}"),
                            tn,
                        ])
                        .map_err(sqlite_err)?;
                }
                let mut props = serde_json::Map::new();
                props.insert(
                    "replication_num".into(),
                    t.replication_num.to_string().into(),
                );
                for (k, v) in t.scheduling.properties(self.opts.system_time_zone) {
                    props.insert(k, v.into());
                }
                if !t.bloom_filter_columns.is_empty() {
                    props.insert(
                        "bloom_filter_columns".into(),
                        t.bloom_filter_columns.join(", ").into(),
                    );
                }
                let quoted = |v: &[String]| {
                    v.iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let pk = if matches!(t.keys_type, KeysType::Primary | KeysType::Unique) {
                    quoted(&t.keys)
                } else {
                    String::new()
                };
                ins_tc
                    .execute(rusqlite::params![
                        db,
                        tn,
                        t.keys_type.model_name(),
                        pk,
                        t.partition_column
                            .as_ref()
                            .map(|p| format!("`{p}`"))
                            .unwrap_or_default(),
                        quoted(&t.distribution),
                        i64::from(t.buckets),
                        serde_json::Value::Object(props).to_string(),
                        0i64,
                        // SORT_KEY: the base index's sort key, the key columns unless ORDER BY
                        // (InformationSchemaDataSource.java:330-340)
                        quoted(t.sort_columns()),
                    ])
                    .map_err(sqlite_err)?;
                let mut rows = 0u64;
                for (p, (id, version)) in t
                    .partitions
                    .iter()
                    .flat_map(|p| p.physical_rows().into_iter().map(move |ph| (p, ph)))
                {
                    rows += if id == p.id { p.row_count } else { 0 };
                    ins_pm
                        .execute(rusqlite::params![
                            db,
                            tn,
                            p.name,
                            id as i64,
                            version as i64,
                            version as i64,
                            fmt_time(p.version_time),
                            (version + 1) as i64,
                            pkey,
                            t.range_text(p),
                            dist,
                            i64::from(p.buckets),
                            i64::from(p.replication_num),
                            p.is_temp as i64,
                            p.data_size() as i64,
                            p.row_count as i64,
                        ])
                        .map_err(sqlite_err)?;
                }
                ins_t
                    .execute(rusqlite::params![
                        db,
                        tn,
                        rows as i64,
                        (rows * 64) as i64,
                        fmt_time(t.create_time),
                        fmt_time(self.now),
                    ])
                    .map_err(sqlite_err)?;
                for (k, col) in t.columns.iter().enumerate() {
                    let key = if t.keys.contains(&col.name) {
                        match t.keys_type {
                            KeysType::Primary => "PRI",
                            KeysType::Unique => "UNI",
                            KeysType::Aggregate => "AGG",
                            KeysType::Duplicate => "DUP",
                        }
                    } else {
                        ""
                    };
                    ins_c
                        .execute(rusqlite::params![
                            db,
                            tn,
                            col.name,
                            (k + 1) as i64,
                            col.default,
                            if col.nullable { "YES" } else { "NO" },
                            col.data_type(),
                            col.column_type(),
                            key,
                            col.comment,
                        ])
                        .map_err(sqlite_err)?;
                }
            }
            tx.execute(r#"DELETE FROM "information_schema.schemata""#, [])
                .map_err(sqlite_err)?;
            let mut ins_s = tx
                .prepare_cached(r#"INSERT INTO "information_schema.schemata" VALUES ('def', ?1, 'utf8', 'utf8_general_ci', NULL)"#)
                .map_err(sqlite_err)?;
            for db in self.dbs.keys() {
                ins_s.execute([db]).map_err(sqlite_err)?;
            }
        }
        tx.commit().map_err(sqlite_err)?;
        Ok(())
    }
}
