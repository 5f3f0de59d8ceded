//! The simulated FE: catalog model, virtual clock, faults, and statement dispatch.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{FixedOffset, NaiveDateTime};
use rusqlite::functions::FunctionFlags;
use rusqlite::types::ValueRef;
use sqlparser::tokenizer::Token;

use crate::ddl::{self, Column, KeysType, PartitionSpec};
use crate::jobs::{Job, Repo};
use crate::release::Release;
use crate::sql::{err, sqlite_ident, sqlite_str, table_ident, translate, Cur, ER_PARSE};
use crate::{LoggedStatement, SimError, SimOptions, When};

/// ErrorCode.ERR_BAD_TABLE_STATE.
const ER_BAD_TABLE_STATE: u16 = 5014;

/// What a statement returns.
#[derive(Debug, Clone)]
pub(crate) enum Output {
    Ok {
        affected: u64,
    },
    Rows {
        columns: Vec<String>,
        rows: Vec<Vec<Option<String>>>,
    },
    /// A SELECT answer kept flat: one byte buffer and a (start, len) per cell, so a 1M-row answer is
    /// two allocations instead of millions of Strings.
    Flat(FlatRows),
}

/// Cells of a result set in one buffer; `len == u32::MAX` marks NULL.
#[derive(Debug, Clone, Default)]
pub(crate) struct FlatRows {
    pub(crate) columns: Vec<String>,
    pub(crate) data: Vec<u8>,
    pub(crate) cells: Vec<(u32, u32)>,
}

impl FlatRows {
    /// The cells of row after row (each `columns.len()` long).
    pub(crate) fn rows(&self) -> impl Iterator<Item = impl Iterator<Item = Option<&[u8]>>> {
        let n = self.columns.len().max(1);
        self.cells.chunks(n).map(move |row| {
            row.iter().map(move |&(start, len)| {
                (len != u32::MAX).then(|| &self.data[start as usize..(start + len) as usize])
            })
        })
    }

    /// As rows of Strings (the control API).
    pub(crate) fn into_rows(self) -> Vec<Vec<Option<String>>> {
        self.rows()
            .map(|r| {
                r.map(|c| c.map(|b| String::from_utf8_lossy(b).into_owned()))
                    .collect()
            })
            .collect()
    }
}

impl Output {
    pub(crate) fn rows(columns: &[&str], rows: Vec<Vec<Option<String>>>) -> Output {
        Output::Rows {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows,
        }
    }
}

pub(crate) fn ok() -> Result<Output, SimError> {
    Ok(Output::Ok { affected: 0 })
}

/// Per-connection state.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub(crate) conn_id: u32,
    pub(crate) db: Option<String>,
    pub(crate) tz: FixedOffset,
}

/// The fault a statement triggers.
pub(crate) enum Fault {
    None,
    Fail(SimError),
    Drop(When),
    Hang(When),
}

#[derive(Default)]
pub(crate) struct Faults {
    /// (state index the job is cancelled when leaving, Status text).
    pub(crate) cancel_next_job: Option<(usize, String)>,
    /// The `n`-th client statement from when it was set (0-based) is dropped or hung.
    pub(crate) at: Option<(usize, Fault)>,
    /// Shown as TaskErrMsg of every job in SHOW BACKUP / SHOW RESTORE (empty: none).
    pub(crate) task_err_msg: String,
    pub(crate) fail_once: Vec<(regex::Regex, u16, String)>,
    pub(crate) drop: Vec<(regex::Regex, When)>,
    pub(crate) drop_after: Option<usize>,
    pub(crate) hang: Vec<(regex::Regex, When)>,
    /// SHOW SNAPSHOT listings (without TIMESTAMP) that fail with a storage error, then succeed.
    pub(crate) snapshot_listing_failures: usize,
}

/// Values the SQLite functions NOW(), DATABASE(), ... read; set before each statement.
#[derive(Debug, Default, Clone)]
struct StmtCtx {
    now: String,
    utc_now: String,
    tz_secs: i32,
    db: Option<String>,
    conn_id: u32,
    version: String,
    current_version: String,
}

/// One partition of the model.
#[derive(Debug, Clone)]
pub(crate) struct Partition {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) lower: Option<String>,
    pub(crate) upper: Option<String>,
    pub(crate) version: u64,
    pub(crate) version_time: NaiveDateTime,
    pub(crate) row_count: u64,
    pub(crate) replication_num: u32,
    pub(crate) is_temp: bool,
    /// LIST partitions: their values (empty for range and unpartitioned tables).
    pub(crate) values: Vec<String>,
    /// Physical partitions beyond the first (random distribution with automatic bucketing):
    /// (physical id, visible version). The first is (`id`, `version`).
    pub(crate) physical: Vec<(u64, u64)>,
    /// Bucket count of this partition's distribution (Partition.getDistributionInfo): the table's
    /// default when the partition was created; RESTORE compares it on shared partitions.
    pub(crate) buckets: u32,
}

impl Partition {
    /// (physical id, visible version) of every physical partition, the first one first: the
    /// rows partitions_meta and SHOW PARTITIONS give for this partition name (#27522).
    pub(crate) fn physical_rows(&self) -> Vec<(u64, u64)> {
        std::iter::once((self.id, self.version))
            .chain(self.physical.iter().copied())
            .collect()
    }

    pub(crate) fn data_size(&self) -> u64 {
        self.row_count * 64
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TableState {
    Normal,
    Restore,
}

/// One OLAP table of the model.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    pub(crate) name: String,
    pub(crate) columns: Vec<Column>,
    pub(crate) keys_type: KeysType,
    pub(crate) keys: Vec<String>,
    pub(crate) partition_column: Option<String>,
    /// RANGE / LIST / automatic LIST (meaningful with a partition column).
    pub(crate) partitioning: ddl::Partitioning,
    pub(crate) partitions: Vec<Partition>,
    pub(crate) replication_num: u32,
    pub(crate) distribution: Vec<String>,
    pub(crate) buckets: u32,
    pub(crate) state: TableState,
    pub(crate) create_time: NaiveDateTime,
    /// `bloom_filter_columns` (table property), in declaration order.
    pub(crate) bloom_filter_columns: Vec<String>,
    /// Rollup / synchronous materialized view names (extra indexes of the table).
    pub(crate) rollups: Vec<(String, Vec<String>)>,
    /// The base index's sort key (ORDER BY); empty: the key columns.
    pub(crate) sort_key: Vec<String>,
}

impl Table {
    pub(crate) fn is_partitioned(&self) -> bool {
        self.partition_column.is_some()
    }

    /// LIST or automatic LIST partitioning (PartitionInfo.isListPartition).
    pub(crate) fn is_list(&self) -> bool {
        self.is_partitioned() && self.partitioning != ddl::Partitioning::Range
    }

    pub(crate) fn partition(&self, name: &str) -> Option<&Partition> {
        self.partitions.iter().find(|p| p.name == name)
    }

    pub(crate) fn partition_mut(&mut self, name: &str) -> Option<&mut Partition> {
        self.partitions.iter_mut().find(|p| p.name == name)
    }

    fn partition_type(&self) -> String {
        self.partition_column
            .as_ref()
            .and_then(|pc| self.columns.iter().find(|c| &c.name == pc))
            .map(|c| c.base_type())
            .unwrap_or_else(|| "DATE".to_string())
    }

    /// StarRocks' rendering of a range: `[types: [DATE]; keys: [a]; ..types: [DATE]; keys: [b]; )`.
    pub(crate) fn range_text(&self, p: &Partition) -> String {
        if !self.is_partitioned() {
            return String::new();
        }
        if self.is_list() {
            // ListPartitionInfo.getValuesFormat (catalog/ListPartitionInfo.java:509): GSON of the
            // values, one list per value
            let vals: Vec<Vec<&str>> = p.values.iter().map(|v| vec![v.as_str()]).collect();
            return serde_json::to_string(&vals).unwrap_or_default();
        }
        let ty = self.partition_type();
        let (min, max) = match ty.as_str() {
            "DATE" => ("0000-01-01", "9999-12-31"),
            "DATETIME" => ("0000-01-01 00:00:00", "9999-12-31 23:59:59"),
            "TINYINT" => ("-128", "127"),
            "SMALLINT" => ("-32768", "32767"),
            "INT" | "INTEGER" => ("-2147483648", "2147483647"),
            _ => ("-9223372036854775808", "9223372036854775807"),
        };
        format!(
            "[types: [{ty}]; keys: [{}]; ..types: [{ty}]; keys: [{}]; )",
            p.lower.as_deref().unwrap_or(min),
            p.upper.as_deref().unwrap_or(max)
        )
    }

    /// The non-temporary partition a partition-column value falls into.
    pub(crate) fn route(&self, v: &str) -> Option<usize> {
        if self.is_list() {
            return self
                .partitions
                .iter()
                .position(|p| !p.is_temp && p.values.iter().any(|x| x == v));
        }
        self.partitions.iter().position(|p| {
            !p.is_temp
                && p.lower.as_deref().is_none_or(|l| cmp_bound(v, l) >= 0)
                && p.upper.as_deref().is_none_or(|u| cmp_bound(v, u) < 0)
        })
    }
}

/// Compares a value with a bound: numerically when both are numbers, else as text.
pub(crate) fn cmp_bound(a: &str, b: &str) -> i32 {
    let ord = match (a.trim().parse::<f64>(), b.trim().parse::<f64>()) {
        (Ok(x), Ok(y)) => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
        _ => a.cmp(b),
    };
    ord as i32
}

#[derive(Debug, Clone)]
pub(crate) struct Database {
    pub(crate) tables: BTreeMap<String, Table>,
}

/// A partition as [`crate::Sim::partitions`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    /// PartitionId.
    pub id: u64,
    /// PartitionName.
    pub name: String,
    /// VisibleVersion.
    pub visible_version: u64,
    /// VisibleVersionTime (UTC).
    pub visible_version_time: NaiveDateTime,
    /// RowCount.
    pub row_count: u64,
    /// ReplicationNum.
    pub replication_num: u32,
    /// Temporary partition?
    pub is_temp: bool,
    /// SHOW PARTITIONS' Range text ("" for unpartitioned tables).
    pub range: String,
}

/// A partition as recorded in a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotPartition {
    /// Partition name.
    pub name: String,
    /// Id of the partition when it was backed up.
    pub id: u64,
    /// Visible version captured when the job left PENDING.
    pub version: u64,
    /// Row count at that moment.
    pub row_count: u64,
    /// Replicas of the partition.
    pub replication_num: u32,
    /// Range text as SHOW PARTITIONS prints it.
    pub range: String,
}

/// A table as recorded in a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotTable {
    /// Table name.
    pub name: String,
    /// (column, type) at snapshot time.
    pub columns: Vec<(String, String)>,
    /// Partitions included in the snapshot.
    pub partitions: Vec<SnapshotPartition>,
}

/// A snapshot in a repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// Repository name.
    pub repository: String,
    /// Label.
    pub label: String,
    /// `yyyy-MM-dd-HH-mm-ss-SSS`, system time zone (the RESTORE `backup_timestamp`).
    pub timestamp: String,
    /// Database it was taken from.
    pub database: String,
    /// True once the backup FINISHED (SHOW SNAPSHOT says OK).
    pub ok: bool,
    /// What it holds (filled when the job left PENDING).
    pub tables: Vec<SnapshotTable>,
}

/// BACKUP or RESTORE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    /// A BACKUP job.
    Backup,
    /// A RESTORE job.
    Restore,
}

/// A job as [`crate::Sim::jobs`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobInfo {
    /// BACKUP or RESTORE.
    pub kind: JobKind,
    /// JobId (-1 before the first scheduler pass).
    pub job_id: i64,
    /// Database.
    pub db: String,
    /// Snapshot label.
    pub label: String,
    /// Repository.
    pub repository: String,
    /// State (PENDING, ..., FINISHED, CANCELLED).
    pub state: String,
    /// Status text (`[OK]`, ...).
    pub status: String,
    /// Tables (with `PARTITIONS (...)` when listed) as in BackupObjs / RestoreObjs.
    pub objects: Vec<String>,
    /// Snapshot timestamp (backups: their own; restores: the requested backup_timestamp).
    pub timestamp: String,
}

/// The whole simulated cluster.
pub(crate) struct Cluster {
    pub(crate) opts: SimOptions,
    /// The release played (parsed `opts.release`).
    pub(crate) release: Release,
    now: NaiveDateTime,
    pub(crate) db: rusqlite::Connection,
    ctx: Arc<Mutex<StmtCtx>>,
    pub(crate) dbs: BTreeMap<String, Database>,
    next_id: u64,
    pub(crate) repos: BTreeMap<String, Repo>,
    /// The remote storage repositories write to (possibly shared with other clusters).
    pub(crate) store: crate::storage::RepositoryStore,
    pub(crate) jobs: Vec<Job>,
    pub(crate) faults: Faults,
    pub(crate) stalled: bool,
    pub(crate) log: Vec<LoggedStatement>,
    /// Tables whose information_schema rows are stale.
    info_dirty: BTreeSet<(String, String)>,
    /// Partitions whose version/rows changed (a cheap UPDATE instead of rewriting the table's rows).
    info_dirty_parts: BTreeSet<(String, String, String)>,
    /// Statements received since `drop_connection_after` was armed.
    drop_counter: usize,
}

fn lock_ctx(ctx: &Mutex<StmtCtx>) -> std::sync::MutexGuard<'_, StmtCtx> {
    ctx.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn fmt_time(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// Renders a UTC time in a zone.
pub(crate) fn in_zone(t: NaiveDateTime, tz: FixedOffset) -> NaiveDateTime {
    t + chrono::Duration::seconds(i64::from(tz.local_minus_utc()))
}

pub(crate) fn parse_tz(s: &str) -> Option<FixedOffset> {
    let t = s.trim();
    match t.to_ascii_lowercase().as_str() {
        "utc" | "gmt" | "etc/utc" | "z" | "system" => return FixedOffset::east_opt(0),
        "asia/shanghai" | "prc" | "asia/hong_kong" | "asia/singapore" => {
            return FixedOffset::east_opt(8 * 3600)
        }
        "asia/tokyo" => return FixedOffset::east_opt(9 * 3600),
        _ => {}
    }
    let (sign, rest) = match t.as_bytes().first() {
        Some(b'+') => (1, &t[1..]),
        Some(b'-') => (-1, &t[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    let h: i32 = h.parse().ok()?;
    let m: i32 = m.parse().ok()?;
    if h > 14 || m > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

pub(crate) fn tz_text(tz: FixedOffset) -> String {
    let s = tz.local_minus_utc();
    let sign = if s < 0 { '-' } else { '+' };
    let a = s.abs();
    format!("{sign}{:02}:{:02}", a / 3600, (a % 3600) / 60)
}

fn sqlite_err(e: rusqlite::Error) -> SimError {
    err(
        ER_PARSE,
        format!("Getting analyzing error. Detail message: {e}."),
    )
}

/// The information_schema tables the simulator materialises.
const INFO_DDL: &str = r#"
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

const INFO_TABLES: &[&str] = &[
    "partitions_meta",
    "tables",
    "columns",
    "schemata",
    "tables_config",
    "materialized_views",
];

/// Session variables answered by `SELECT @@x` and SHOW VARIABLES.
fn variable(name: &str, c: &Cluster, s: &Session) -> Option<String> {
    let v = match name.to_ascii_lowercase().as_str() {
        "max_allowed_packet" => "33554432".to_string(),
        "wait_timeout" => "28800".to_string(),
        "interactive_timeout" => "3600".to_string(),
        "net_write_timeout" | "net_read_timeout" => "60".to_string(),
        "version_comment" => format!("StarRocks version {}-sim", c.release),
        "version" => c.release.handshake().to_string(),
        "time_zone" => tz_text(s.tz),
        "system_time_zone" => tz_text(c.opts.system_time_zone),
        "autocommit" => "1".to_string(),
        "sql_mode" => "ONLY_FULL_GROUP_BY".to_string(),
        "character_set_client"
        | "character_set_connection"
        | "character_set_results"
        | "character_set_server" => "utf8".to_string(),
        "collation_connection" | "collation_server" | "collation_database" => {
            "utf8_general_ci".to_string()
        }
        "tx_isolation" | "transaction_isolation" => "REPEATABLE-READ".to_string(),
        "tx_read_only" | "transaction_read_only" => "0".to_string(),
        "lower_case_table_names" => "0".to_string(),
        "query_timeout" => "300".to_string(),
        "license" => "Apache License 2.0".to_string(),
        "auto_increment_increment" => "1".to_string(),
        "performance_schema" => "0".to_string(),
        "init_connect" => String::new(),
        "language" => "/starrocks/share/english/".to_string(),
        "net_buffer_length" => "16384".to_string(),
        "query_cache_size" | "query_cache_type" => "0".to_string(),
        "have_query_cache" => "YES".to_string(),
        _ => return None,
    };
    Some(v)
}

const VARIABLE_NAMES: &[&str] = &[
    "autocommit",
    "character_set_client",
    "character_set_connection",
    "character_set_results",
    "character_set_server",
    "collation_connection",
    "interactive_timeout",
    "max_allowed_packet",
    "query_timeout",
    "sql_mode",
    "system_time_zone",
    "time_zone",
    "tx_isolation",
    "version",
    "version_comment",
    "wait_timeout",
];

impl Cluster {
    pub(crate) fn new(opts: SimOptions) -> anyhow::Result<Cluster> {
        let db = rusqlite::Connection::open_in_memory()?;
        let ctx = Arc::new(Mutex::new(StmtCtx::default()));
        let flags = FunctionFlags::SQLITE_UTF8;
        let c1 = ctx.clone();
        db.create_scalar_function("now", 0, flags, move |_| Ok(lock_ctx(&c1).now.clone()))?;
        let c1 = ctx.clone();
        db.create_scalar_function("utc_timestamp", 0, flags, move |_| {
            Ok(lock_ctx(&c1).utc_now.clone())
        })?;
        let c1 = ctx.clone();
        db.create_scalar_function("current_timestamp", 0, flags, move |_| {
            Ok(lock_ctx(&c1).now.clone())
        })?;
        // UTC_TIMESTAMP(): the clock in UTC whatever the session zone (NOW() minus the zone's offset)
        let c1 = ctx.clone();
        db.create_scalar_function("utc_timestamp", 0, flags, move |_| {
            let c = lock_ctx(&c1);
            Ok(
                match NaiveDateTime::parse_from_str(&c.now, "%Y-%m-%d %H:%M:%S") {
                    Ok(t) => fmt_time(t - chrono::Duration::seconds(i64::from(c.tz_secs))),
                    Err(_) => c.now.clone(),
                },
            )
        })?;
        let c1 = ctx.clone();
        db.create_scalar_function("database", 0, flags, move |_| Ok(lock_ctx(&c1).db.clone()))?;
        let c1 = ctx.clone();
        db.create_scalar_function("connection_id", 0, flags, move |_| {
            Ok(i64::from(lock_ctx(&c1).conn_id))
        })?;
        let c1 = ctx.clone();
        db.create_scalar_function("version", 0, flags, move |_| {
            Ok(lock_ctx(&c1).version.clone())
        })?;
        let c1 = ctx.clone();
        db.create_scalar_function("current_version", 0, flags, move |_| {
            Ok(lock_ctx(&c1).current_version.clone())
        })?;
        let c1 = ctx.clone();
        db.create_scalar_function("sim_tz", 1, flags, move |f| {
            let v: Option<String> = f.get(0)?;
            let secs = lock_ctx(&c1).tz_secs;
            Ok(v.map(
                |v| match NaiveDateTime::parse_from_str(&v, "%Y-%m-%d %H:%M:%S") {
                    Ok(t) => fmt_time(t + chrono::Duration::seconds(i64::from(secs))),
                    Err(_) => v,
                },
            ))
        })?;
        db.create_scalar_function("if", 3, flags | FunctionFlags::SQLITE_DETERMINISTIC, |f| {
            let c: Option<i64> = f.get(0).ok();
            let v: rusqlite::types::Value = if c.unwrap_or(0) != 0 {
                f.get(1)?
            } else {
                f.get(2)?
            };
            Ok(v)
        })?;
        db.execute_batch(INFO_DDL)?;
        let now = opts.start_time;
        let release = Release::parse(&opts.release).ok_or_else(|| {
            anyhow::anyhow!("unknown release {:?} (want e.g. 3.3.5)", opts.release)
        })?;
        let next_id = opts.first_id;
        let store = opts.repository_store.clone().unwrap_or_default();
        Ok(Cluster {
            opts,
            release,
            now,
            db,
            ctx,
            dbs: BTreeMap::new(),
            next_id,
            store,
            repos: BTreeMap::new(),
            jobs: Vec::new(),
            faults: Faults::default(),
            stalled: false,
            log: Vec::new(),
            info_dirty: BTreeSet::new(),
            info_dirty_parts: BTreeSet::new(),
            drop_counter: 0,
        })
    }

    pub(crate) fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    pub(crate) fn control_session(&self) -> Session {
        Session {
            conn_id: 0,
            db: None,
            tz: self.opts.session_time_zone,
        }
    }

    pub(crate) fn new_session(&self, conn_id: u32) -> Session {
        Session {
            conn_id,
            db: None,
            tz: self.opts.session_time_zone,
        }
    }

    pub(crate) fn now(&self) -> NaiveDateTime {
        self.now
    }

    pub(crate) fn advance(&mut self, by: Duration) {
        self.now += chrono::Duration::from_std(by).unwrap_or_default();
        self.update_jobs();
    }

    /// One client statement arrived: the clock ticks.
    pub(crate) fn tick(&mut self) {
        let d = self.opts.tick_per_statement;
        if !d.is_zero() {
            self.advance(d);
        }
    }

    /// Errnos changed in 3.3 (5501/5502).
    pub(crate) fn new_errnos(&self) -> bool {
        self.release.new_errnos()
    }

    /// The zone SHOW BACKUP/RESTORE/PARTITIONS/REPOSITORIES render times in: the session's, but
    /// a fixed +08:00 from 4.1 (TimeUtils.TIME_ZONE, #66360).
    pub(crate) fn show_zone(&self, s: &Session) -> FixedOffset {
        let fixed = match self.opts.fixed_job_time_zone {
            None => self.release.fixed_show_zone(),
            Some(true) => FixedOffset::east_opt(8 * 3600),
            Some(false) => None,
        };
        fixed.unwrap_or(s.tz)
    }

    /// Whether `information_schema.partitions_meta` exists now.
    pub(crate) fn has_partitions_meta(&self) -> bool {
        self.opts
            .partitions_meta
            .unwrap_or_else(|| self.release.has_partitions_meta())
    }

    pub(crate) fn unknown_db(&self, db: &str) -> SimError {
        err(
            if self.new_errnos() { 5501 } else { 1049 },
            format!("Unknown database '{db}'"),
        )
    }

    pub(crate) fn unknown_table(&self, t: &str) -> SimError {
        err(
            if self.new_errnos() { 5502 } else { 1051 },
            format!("Unknown table '{t}'"),
        )
    }

    /// Picks (and consumes) the fault for a client statement.
    pub(crate) fn fault_for(&mut self, sql: &str) -> Fault {
        if let Some((n, _)) = &mut self.faults.at {
            if *n == 0 {
                if let Some((_, f)) = self.faults.at.take() {
                    return f;
                }
            } else {
                *n -= 1;
            }
        }
        if let Some(n) = self.faults.drop_after {
            if self.drop_counter >= n {
                self.faults.drop_after = None;
                self.drop_counter = 0;
                return Fault::Drop(When::Before);
            }
            self.drop_counter += 1;
        }
        if let Some(k) = self.faults.fail_once.iter().position(|f| f.0.is_match(sql)) {
            let (_, code, msg) = self.faults.fail_once.remove(k);
            return Fault::Fail(err(code, msg));
        }
        if let Some(k) = self.faults.drop.iter().position(|f| f.0.is_match(sql)) {
            let (_, w) = self.faults.drop.remove(k);
            return Fault::Drop(w);
        }
        if let Some(k) = self.faults.hang.iter().position(|f| f.0.is_match(sql)) {
            let (_, w) = self.faults.hang.remove(k);
            return Fault::Hang(w);
        }
        Fault::None
    }

    fn set_ctx(&self, s: &Session) {
        let mut c = lock_ctx(&self.ctx);
        c.now = fmt_time(in_zone(self.now, s.tz));
        c.utc_now = fmt_time(self.now);
        c.tz_secs = s.tz.local_minus_utc();
        c.db = s.db.clone();
        c.conn_id = s.conn_id;
        c.version = self.release.handshake().to_string();
        c.current_version = format!("{}-sim", self.release);
    }

    pub(crate) fn use_db(&mut self, s: &mut Session, db: &str) -> Result<(), SimError> {
        let db = db.trim().trim_end_matches(';').trim().trim_matches('`');
        if db.eq_ignore_ascii_case("information_schema") || self.dbs.contains_key(db) {
            s.db = Some(db.to_string());
            Ok(())
        } else {
            Err(self.unknown_db(db))
        }
    }

    pub(crate) fn mark_dirty(&mut self, db: &str, t: &str) {
        self.info_dirty.insert((db.to_string(), t.to_string()));
    }

    /// Rewrites the information_schema rows of every dirty table.
    fn refresh_info(&mut self) -> Result<(), SimError> {
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

    /// Resolves a table reference for SQL; errors as StarRocks' analyzer reports them.
    pub(crate) fn resolve(
        &self,
        s: &Session,
        db: Option<&str>,
        t: &str,
        for_write: bool,
    ) -> Result<(String, String), SimError> {
        let db = match db.map(|d| d.to_string()).or_else(|| s.db.clone()) {
            Some(d) => d,
            None => return Err(err(1046, "No database selected")),
        };
        if db.eq_ignore_ascii_case("information_schema") {
            let tl = t.to_ascii_lowercase();
            let known = INFO_TABLES.contains(&tl.as_str())
                && (tl != "partitions_meta" || self.has_partitions_meta());
            if !known || for_write {
                return Err(err(
                    if self.new_errnos() { 5502 } else { 1051 },
                    format!("Getting analyzing error. Detail message: Unknown table '{db}.{t}'."),
                ));
            }
            return Ok(("information_schema".to_string(), tl));
        }
        let Some(d) = self.dbs.get(&db) else {
            return Err(err(
                if self.new_errnos() { 5501 } else { 1049 },
                format!("Getting analyzing error. Detail message: Unknown database '{db}'."),
            ));
        };
        let Some(table) = d.tables.get(t) else {
            return Err(err(
                if self.new_errnos() { 5502 } else { 1051 },
                format!("Getting analyzing error. Detail message: Unknown table '{db}.{t}'."),
            ));
        };
        if table.state != TableState::Normal {
            return Err(err(
                ER_BAD_TABLE_STATE,
                "Table state is not NORMAL: 'RESTORING'".to_string(),
            ));
        }
        Ok((db, t.to_string()))
    }

    /// Runs one statement on a session.
    pub(crate) fn run(&mut self, s: &mut Session, sql: &str) -> Result<Output, SimError> {
        self.update_jobs();
        self.set_ctx(s);
        let mut c = Cur::new(sql)?;
        if c.at_end() {
            return Err(err(
                ER_PARSE,
                "Getting syntax error. Detail message: empty statement.",
            ));
        }
        let first = match c.peek() {
            Some(Token::Word(w)) => w.value.to_ascii_uppercase(),
            Some(Token::LParen) => "SELECT".to_string(),
            _ => return Err(c.syntax()),
        };
        match first.as_str() {
            "SELECT" | "WITH" => self.select(s, sql),
            "INSERT" | "REPLACE" => self.insert(s, sql, &c),
            "UPDATE" => self.update_delete(s, sql, true),
            "DELETE" => self.update_delete(s, sql, false),
            "CREATE" => {
                c.next();
                self.create(s, &mut c)
            }
            "DROP" => {
                c.next();
                self.drop(s, &mut c)
            }
            "TRUNCATE" => {
                c.next();
                self.truncate(s, &mut c)
            }
            "ALTER" => {
                c.next();
                self.alter(s, &mut c)
            }
            "USE" => {
                c.next();
                let db = c.ident()?;
                self.use_db(s, &db)?;
                ok()
            }
            "SHOW" => {
                c.next();
                self.show(s, &mut c)
            }
            "SET" => {
                c.next();
                self.set(s, &mut c)
            }
            "BEGIN" | "COMMIT" | "ROLLBACK" | "START" => ok(),
            "BACKUP" => self.backup(s, &mut c),
            "RESTORE" => self.restore(s, &mut c),
            "CANCEL" => self.cancel(s, &mut c),
            "ADMIN" => self.admin(&mut c),
            "DESC" | "DESCRIBE" => {
                c.next();
                self.describe(s, &mut c)
            }
            _ => Err(c.syntax()),
        }
    }

    pub(crate) fn query_sqlite(&mut self, sql: &str) -> Result<Output, SimError> {
        let mut stmt = self.db.prepare(sql).map_err(sqlite_err)?;
        let columns: Vec<String> = stmt.column_names().iter().map(|c| c.to_string()).collect();
        let n = columns.len();
        let mut rows = Vec::new();
        let mut q = stmt.query([]).map_err(sqlite_err)?;
        while let Some(r) = q.next().map_err(sqlite_err)? {
            let mut row = Vec::with_capacity(n);
            for k in 0..n {
                let v = r.get_ref(k).map_err(sqlite_err)?;
                row.push(match v {
                    ValueRef::Null => None,
                    ValueRef::Integer(i) => Some(i.to_string()),
                    ValueRef::Real(f) => Some(if f.fract() == 0.0 && f.abs() < 1e15 {
                        format!("{}", f as i64)
                    } else {
                        f.to_string()
                    }),
                    ValueRef::Text(t) | ValueRef::Blob(t) => {
                        Some(String::from_utf8_lossy(t).to_string())
                    }
                });
            }
            rows.push(row);
        }
        Ok(Output::Rows { columns, rows })
    }

    /// Like [`Cluster::query_sqlite`], rendered into one flat buffer (same texts per cell).
    fn query_sqlite_flat(&mut self, sql: &str) -> Result<Output, SimError> {
        use std::io::Write as _;
        let mut stmt = self.db.prepare(sql).map_err(sqlite_err)?;
        let columns: Vec<String> = stmt.column_names().iter().map(|c| c.to_string()).collect();
        let n = columns.len();
        let mut out = FlatRows {
            columns,
            ..FlatRows::default()
        };
        let mut q = stmt.query([]).map_err(sqlite_err)?;
        while let Some(r) = q.next().map_err(sqlite_err)? {
            for k in 0..n {
                let start = out.data.len();
                let null = match r.get_ref(k).map_err(sqlite_err)? {
                    ValueRef::Null => true,
                    ValueRef::Integer(i) => {
                        let _ = write!(out.data, "{i}");
                        false
                    }
                    ValueRef::Real(f) => {
                        let _ = if f.fract() == 0.0 && f.abs() < 1e15 {
                            write!(out.data, "{}", f as i64)
                        } else {
                            write!(out.data, "{f}")
                        };
                        false
                    }
                    ValueRef::Text(t) | ValueRef::Blob(t) => {
                        match std::str::from_utf8(t) {
                            Ok(_) => out.data.extend_from_slice(t),
                            Err(_) => out
                                .data
                                .extend_from_slice(String::from_utf8_lossy(t).as_bytes()),
                        }
                        false
                    }
                };
                let len = if null {
                    u32::MAX
                } else {
                    (out.data.len() - start) as u32
                };
                out.cells.push((start as u32, len));
            }
        }
        Ok(Output::Flat(out))
    }

    fn select(&mut self, s: &Session, sql: &str) -> Result<Output, SimError> {
        if sql.contains("@@") {
            return self.select_vars(s, sql);
        }
        let tr = {
            let me = &*self;
            translate(sql, &mut |db, t| me.resolve(s, db, t, false))?
        };
        if tr
            .tables
            .iter()
            .any(|t| t.db.as_deref() == Some("information_schema"))
        {
            self.refresh_info()?;
        }
        self.query_sqlite_flat(&tr.sql)
    }

    /// `SELECT @@a, @@session.b AS x [LIMIT 1]`.
    fn select_vars(&mut self, s: &Session, sql: &str) -> Result<Output, SimError> {
        let body = sql.trim().trim_end_matches(';');
        let re = regex::Regex::new(r"(?is)^\s*select\s+(.*?)(\s+limit\s+\d+)?\s*$")
            .map_err(|e| err(ER_PARSE, e.to_string()))?;
        let items = re
            .captures(body)
            .and_then(|c| c.get(1))
            .map(|m| m.as_str().to_string())
            .unwrap_or_default();
        let item_re = regex::Regex::new(r"(?i)^@@(?:(?:session|global|local)\.)?([A-Za-z0-9_]+)(?:\s+(?:as\s+)?`?([A-Za-z0-9_@.]+)`?)?$")
            .map_err(|e| err(ER_PARSE, e.to_string()))?;
        let mut columns = Vec::new();
        let mut row = Vec::new();
        for item in items.split(',') {
            let item = item.trim();
            let Some(cap) = item_re.captures(item) else {
                return Err(err(
                    ER_PARSE,
                    "the simulator answers SELECT @@var lists only; mix them with nothing else",
                ));
            };
            let name = cap.get(1).map(|m| m.as_str()).unwrap_or("");
            let Some(v) = variable(name, self, s) else {
                return Err(err(1193, format!("Unknown system variable '{name}'")));
            };
            columns.push(
                cap.get(2)
                    .map(|m| m.as_str().to_string())
                    .unwrap_or_else(|| item.to_string()),
            );
            row.push(Some(v));
        }
        Ok(Output::Rows {
            columns,
            rows: vec![row],
        })
    }

    pub(crate) fn table(&self, db: &str, t: &str) -> Result<&Table, SimError> {
        self.dbs
            .get(db)
            .ok_or_else(|| self.unknown_db(db))?
            .tables
            .get(t)
            .ok_or_else(|| self.unknown_table(t))
    }

    pub(crate) fn table_mut(&mut self, db: &str, t: &str) -> Result<&mut Table, SimError> {
        let e_db = self.unknown_db(db);
        let e_t = self.unknown_table(t);
        self.mark_dirty(db, t);
        self.dbs
            .get_mut(db)
            .ok_or(e_db)?
            .tables
            .get_mut(t)
            .ok_or(e_t)
    }

    /// A load landed on partitions: version +1 each, rows added per partition, time = now.
    fn publish(&mut self, db: &str, t: &str, parts: &BTreeMap<usize, i64>) -> Result<(), SimError> {
        let now = self.now;
        let e_db = self.unknown_db(db);
        let e_t = self.unknown_table(t);
        let table = self
            .dbs
            .get_mut(db)
            .ok_or(e_db)?
            .tables
            .get_mut(t)
            .ok_or(e_t)?;
        let mut touched = Vec::new();
        for (&k, &rows) in parts {
            if let Some(p) = table.partitions.get_mut(k) {
                p.version += 1;
                p.version_time = now;
                p.row_count = (p.row_count as i64 + rows).max(0) as u64;
                touched.push(p.name.clone());
            }
        }
        for name in touched {
            self.info_dirty_parts
                .insert((db.to_string(), t.to_string(), name));
        }
        Ok(())
    }

    /// Which partition each of the given SQLite rows (partition-column values) belongs to.
    fn route_rows(
        &mut self,
        db: &str,
        t: &str,
        select: &str,
    ) -> Result<BTreeMap<usize, i64>, SimError> {
        if self.table(db, t)?.partitioning == ddl::Partitioning::AutoList {
            self.auto_partitions(db, t, select)?;
        }
        let table = self.table(db, t)?.clone();
        let mut out = BTreeMap::new();
        if !table.is_partitioned() {
            let n = match self.query_sqlite(select)? {
                Output::Rows { rows, .. } => rows.len() as i64,
                Output::Flat(f) => f.rows().count() as i64,
                Output::Ok { .. } => 0,
            };
            out.insert(0usize, n);
            return Ok(out);
        }
        if let Output::Rows { rows, .. } = self.query_sqlite(select)? {
            for r in rows {
                let v = r.into_iter().next().flatten().unwrap_or_default();
                if let Some(k) = table.route(&v) {
                    *out.entry(k).or_insert(0) += 1;
                }
            }
        }
        Ok(out)
    }

    pub(crate) fn insert(&mut self, s: &Session, sql: &str, c: &Cur) -> Result<Output, SimError> {
        if c.is_kw_at(1, "OVERWRITE") {
            return self.insert_overwrite(s, sql);
        }
        let tr = {
            let me = &*self;
            translate(sql, &mut |db, t| me.resolve(s, db, t, true))?
        };
        let target = tr.tables.first().cloned().ok_or_else(|| c.syntax())?;
        let db = target.db.clone().unwrap_or_default();
        let tn = target.table.clone();
        let table = self.table(&db, &tn)?.clone();
        let mut sqlite_sql = tr.sql.clone();
        if matches!(table.keys_type, KeysType::Primary | KeysType::Unique) {
            let trimmed = sqlite_sql.trim_start();
            if let Some(rest) = trimmed
                .strip_prefix("INSERT")
                .or_else(|| trimmed.strip_prefix("insert"))
            {
                sqlite_sql = format!("INSERT OR REPLACE{rest}");
            }
        }
        for p in &tr.partitions {
            if table.partition(p).is_none() {
                return Err(err(
                    ER_PARSE,
                    format!("Getting analyzing error. Detail message: Unknown partition '{p}' in table '{tn}'."),
                ));
            }
        }
        let ident = table_ident(&db, &tn);
        let before: i64 = self
            .db
            .query_row(
                &format!("SELECT COALESCE(MAX(rowid), 0) FROM {ident}"),
                [],
                |r| r.get(0),
            )
            .map_err(sqlite_err)?;
        self.db
            .execute_batch("SAVEPOINT sim_insert")
            .map_err(sqlite_err)?;
        let n = match self.db.execute(&sqlite_sql, []) {
            Ok(n) => n as u64,
            Err(e) => {
                let _ = self
                    .db
                    .execute_batch("ROLLBACK TO sim_insert; RELEASE sim_insert");
                return Err(sqlite_err(e));
            }
        };
        if let Some(e) = self.too_long(&table, &ident, before) {
            self.db
                .execute_batch("ROLLBACK TO sim_insert; RELEASE sim_insert")
                .map_err(sqlite_err)?;
            return Err(e);
        }
        self.db
            .execute_batch("RELEASE sim_insert")
            .map_err(sqlite_err)?;
        if n == 0 {
            return Ok(Output::Ok { affected: 0 });
        }
        let parts = if let Some(first) = tr.partitions.first() {
            let mut m = BTreeMap::new();
            for p in &tr.partitions {
                if let Some(k) = table.partitions.iter().position(|x| &x.name == p) {
                    m.insert(k, if p == first { n as i64 } else { 0 });
                }
            }
            m
        } else {
            let col = table
                .partition_column
                .clone()
                .unwrap_or_else(|| "rowid".to_string());
            self.route_rows(
                &db,
                &tn,
                &format!(
                    "SELECT {} FROM {ident} WHERE rowid > {before}",
                    sqlite_ident(&col)
                ),
            )?
        };
        self.publish(&db, &tn, &parts)?;
        Ok(Output::Ok { affected: n })
    }

    fn update_delete(
        &mut self,
        s: &Session,
        sql: &str,
        is_update: bool,
    ) -> Result<Output, SimError> {
        let tr = {
            let me = &*self;
            translate(sql, &mut |db, t| me.resolve(s, db, t, true))?
        };
        let target = tr
            .tables
            .first()
            .cloned()
            .ok_or_else(|| err(ER_PARSE, "syntax error"))?;
        let db = target.db.clone().unwrap_or_default();
        let tn = target.table.clone();
        let table = self.table(&db, &tn)?.clone();
        if is_update && table.keys_type != KeysType::Primary {
            return Err(err(
                ER_PARSE,
                format!(
                    "Getting analyzing error. Detail message: table {tn} does not support update."
                ),
            ));
        }
        // rows touched, by partition: SELECT <partcol> FROM <target> WHERE <same predicate>
        let col = match &table.partition_column {
            Some(pc) => format!("`{pc}`"),
            None => "rowid".to_string(),
        };
        let pre_mysql = format!("SELECT {col} FROM `{db}`.`{tn}` {}", find_where(sql));
        let pre = {
            let me = &*self;
            translate(&pre_mysql, &mut |d, t| me.resolve(s, d, t, true))?.sql
        };
        let mut parts = self.route_rows(&db, &tn, &pre)?;
        let n = self.db.execute(&tr.sql, []).map_err(sqlite_err)? as u64;
        for v in parts.values_mut() {
            *v = if is_update { 0 } else { -*v };
        }
        if !table.is_partitioned() {
            parts.insert(0, if is_update { 0 } else { -(n as i64) });
        }
        self.publish(&db, &tn, &parts)?;
        Ok(Output::Ok { affected: n })
    }

    pub(crate) fn create_database(
        &mut self,
        db: &str,
        if_not_exists: bool,
    ) -> Result<(), SimError> {
        if self.dbs.contains_key(db) || db.eq_ignore_ascii_case("information_schema") {
            if if_not_exists {
                return Ok(());
            }
            return Err(err(
                1007,
                format!("Can't create database '{db}'; database exists"),
            ));
        }
        self.dbs.insert(
            db.to_string(),
            Database {
                tables: BTreeMap::new(),
            },
        );
        self.info_dirty.insert((db.to_string(), String::new()));
        Ok(())
    }

    fn create(&mut self, s: &Session, c: &mut Cur) -> Result<Output, SimError> {
        if c.eat_kw("DATABASE") || c.eat_kw("SCHEMA") {
            let ine = c.eat_kws(&["IF", "NOT", "EXISTS"]);
            let db = c.ident()?;
            self.create_database(&db, ine)?;
            return ok();
        }
        if c.eat_kw("TABLE") || c.eat_kws(&["EXTERNAL", "TABLE"]) {
            let ct = ddl::parse_create_table(c)?;
            let db = ct
                .db
                .clone()
                .or_else(|| s.db.clone())
                .ok_or_else(|| err(1046, "No database selected"))?;
            self.create_table_model(&db, ct, None)?;
            return ok();
        }
        let read_only = c.eat_kws(&["READ", "ONLY"]);
        if c.eat_kw("REPOSITORY") {
            let name = c.ident()?;
            c.expect_kw("WITH")?;
            c.expect_kw("BROKER")?;
            if !c.is_kw("ON") {
                c.ident()?;
            }
            c.expect_kw("ON")?;
            c.expect_kw("LOCATION")?;
            let loc = c.string()?;
            if c.eat_kw("PROPERTIES") {
                c.properties()?;
            }
            self.create_repository(&name, read_only, &loc)?;
            return ok();
        }
        Err(c.syntax())
    }

    /// Creates the model table and its SQLite table. `restore` sets the initial partitions.
    pub(crate) fn create_table_model(
        &mut self,
        db: &str,
        ct: ddl::CreateTable,
        restore: Option<Vec<Partition>>,
    ) -> Result<bool, SimError> {
        if !self.dbs.contains_key(db) {
            return Err(self.unknown_db(db));
        }
        if self.table_exists(db, &ct.name) {
            if ct.if_not_exists {
                return Ok(false);
            }
            return Err(err(1050, format!("Table '{}' already exists", ct.name)));
        }
        let rn = ct.replication_num.unwrap_or(3);
        if restore.is_none() && rn > self.opts.backends {
            let bes: Vec<String> = (0..self.opts.backends)
                .map(|k| (10001 + k).to_string())
                .collect();
            return Err(err(
                ER_PARSE,
                format!(
                    "Table replication num should be less than or equal to the number of available BE nodes. You can change this default by setting the replication_num table properties. Current alive backend is [{}]. , table={}, default_replication_num={}",
                    bes.join(","),
                    ct.name,
                    rn
                ),
            ));
        }
        // SQLite side
        let mut cols: Vec<String> = ct
            .columns
            .iter()
            .map(|col| {
                let mut d = format!("{} {}", sqlite_ident(&col.name), col.sqlite_type());
                match &col.default {
                    Some(v) if v == "CURRENT_TIMESTAMP" => d.push_str(" DEFAULT (now())"),
                    Some(v) => d.push_str(&format!(" DEFAULT {}", sqlite_str(v))),
                    None => {}
                }
                d
            })
            .collect();
        if matches!(ct.keys_type, KeysType::Primary | KeysType::Unique) {
            let keys: Vec<String> = ct.keys.iter().map(|k| sqlite_ident(k)).collect();
            cols.push(format!("PRIMARY KEY ({})", keys.join(", ")));
        }
        let ident = table_ident(db, &ct.name);
        self.db
            .execute(&format!("DROP TABLE IF EXISTS {ident}"), [])
            .map_err(sqlite_err)?;
        self.db
            .execute(&format!("CREATE TABLE {ident} ({})", cols.join(", ")), [])
            .map_err(sqlite_err)?;
        let now = self.now;
        let buckets = if ct.buckets == 0 { 1 } else { ct.buckets };
        let partitions = match restore {
            Some(p) => p,
            None if ct.partition_column.is_none() => vec![Partition {
                id: self.next_id(),
                name: ct.name.clone(),
                lower: None,
                upper: None,
                version: 1,
                version_time: now,
                row_count: 0,
                replication_num: rn,
                is_temp: false,
                values: Vec::new(),
                physical: Vec::new(),
                buckets,
            }],
            None => {
                let mut v = Vec::new();
                for spec in &ct.partitions {
                    v.push(Partition {
                        id: self.next_id(),
                        name: spec.name.clone(),
                        lower: spec.lower.clone(),
                        upper: spec.upper.clone(),
                        version: 1,
                        version_time: now,
                        row_count: 0,
                        replication_num: rn,
                        is_temp: false,
                        values: spec.values.clone(),
                        physical: Vec::new(),
                        buckets,
                    });
                }
                v
            }
        };
        let table = Table {
            name: ct.name.clone(),
            columns: ct.columns,
            keys_type: ct.keys_type,
            keys: ct.keys.clone(),
            partition_column: ct.partition_column,
            partitioning: ct.partitioning,
            partitions,
            replication_num: rn,
            distribution: if ct.distribution.is_empty() {
                ct.keys
            } else {
                ct.distribution
            },
            buckets,
            state: TableState::Normal,
            create_time: now,
            bloom_filter_columns: ct
                .properties
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("bloom_filter_columns"))
                .map(|(_, v)| split_list(v))
                .unwrap_or_default(),
            rollups: Vec::new(),
            sort_key: ct.order_by,
        };
        if let Some(d) = self.dbs.get_mut(db) {
            d.tables.insert(ct.name.clone(), table);
        }
        self.mark_dirty(db, &ct.name);
        Ok(true)
    }

    fn drop(&mut self, s: &Session, c: &mut Cur) -> Result<Output, SimError> {
        if self.drop_snapshot_enabled() && c.eat_kw("SNAPSHOT") {
            return self.drop_snapshot(c);
        }
        if c.eat_kw("DATABASE") || c.eat_kw("SCHEMA") {
            let ie = c.eat_kws(&["IF", "EXISTS"]);
            let db = c.ident()?;
            c.eat_kw("FORCE");
            let Some(d) = self.dbs.remove(&db) else {
                if ie {
                    return ok();
                }
                return Err(self.unknown_db(&db));
            };
            for t in d.tables.keys() {
                self.db
                    .execute(&format!("DROP TABLE IF EXISTS {}", table_ident(&db, t)), [])
                    .map_err(sqlite_err)?;
                self.mark_dirty(&db, t);
            }
            self.info_dirty.insert((db, String::new()));
            return ok();
        }
        if c.eat_kw("TABLE") {
            let ie = c.eat_kws(&["IF", "EXISTS"]);
            let (db, t) = c.qualified()?;
            c.eat_kw("FORCE");
            let db = db
                .or_else(|| s.db.clone())
                .ok_or_else(|| err(1046, "No database selected"))?;
            if !self.dbs.contains_key(&db) {
                return Err(self.unknown_db(&db));
            }
            if !self.table_exists(&db, &t) {
                if ie {
                    return ok();
                }
                return Err(self.unknown_table(&t));
            }
            self.drop_table(&db, &t)?;
            return ok();
        }
        if c.eat_kw("REPOSITORY") {
            let name = c.ident()?;
            if self.repos.remove(&name).is_none() {
                return Err(err(5064, format!("Repository {name} does not exist")));
            }
            return ok();
        }
        Err(c.syntax())
    }

    fn truncate(&mut self, s: &Session, c: &mut Cur) -> Result<Output, SimError> {
        c.eat_kw("TABLE");
        let (db, t) = c.qualified()?;
        let db = db
            .or_else(|| s.db.clone())
            .ok_or_else(|| err(1046, "No database selected"))?;
        let names: Vec<String> = if c.eat_kw("PARTITION") {
            c.ident_list()?
        } else {
            self.table(&db, &t)?
                .partitions
                .iter()
                .filter(|p| !p.is_temp)
                .map(|p| p.name.clone())
                .collect()
        };
        for p in names {
            self.truncate_partition(&db, &t, &p)?;
        }
        ok()
    }

    fn alter(&mut self, s: &Session, c: &mut Cur) -> Result<Output, SimError> {
        c.expect_kw("TABLE")?;
        let (db, t) = c.qualified()?;
        let db = db
            .or_else(|| s.db.clone())
            .ok_or_else(|| err(1046, "No database selected"))?;
        self.table(&db, &t)?;
        self.check_alterable(&db, &t)?;
        if c.eat_kw("RENAME") {
            let new = c.ident()?;
            self.rename_table(&db, &t, &new)?;
            return ok();
        }
        if c.eat_kws(&["SWAP", "WITH"]) {
            let other = c.ident()?;
            self.swap_tables(&db, &t, &other)?;
            return ok();
        }
        if c.eat_kws(&["ADD", "COLUMN"]) {
            let name = c.ident()?;
            let ty = match c.next() {
                Some(Token::Word(w)) => {
                    let mut ty = w.value.to_ascii_uppercase();
                    if matches!(c.peek(), Some(Token::LParen)) {
                        let start = c.i;
                        c.skip_group()?;
                        let args: String = c.t[start..c.i].iter().map(|t| t.to_string()).collect();
                        ty.push_str(&args.replace(' ', ""));
                    }
                    ty
                }
                _ => return Err(c.syntax()),
            };
            self.add_column(&db, &t, &name, &ty)?;
            return ok();
        }
        if c.eat_kws(&["MODIFY", "COLUMN"]) {
            // MODIFY COLUMN c [type] [NULL|NOT NULL] [DEFAULT v] [COMMENT 's']: metadata only here
            // (neither partition ids nor versions move)
            let name = c.ident()?;
            let table = self.table(&db, &t)?;
            let Some(mut col) = table.columns.iter().find(|x| x.name == name).cloned() else {
                return Err(err(1054, format!("Unknown column '{name}' in '{t}'")));
            };
            if let Some(Token::Word(w)) = c.peek() {
                let kw = w.value.to_ascii_uppercase();
                if !["DEFAULT", "COMMENT", "NULL", "NOT"].contains(&kw.as_str()) {
                    c.next();
                    let mut ty = kw;
                    if matches!(c.peek(), Some(Token::LParen)) {
                        let start = c.i;
                        c.skip_group()?;
                        let args: String = c.t[start..c.i].iter().map(|t| t.to_string()).collect();
                        ty.push_str(&args.replace(' ', ""));
                    }
                    col.ty = ty;
                }
            }
            while !c.at_end() {
                if c.eat_kws(&["NOT", "NULL"]) {
                    col.nullable = false;
                } else if c.eat_kw("NULL") {
                    col.nullable = true;
                } else if c.eat_kw("DEFAULT") {
                    col.default = if c.eat_kw("NULL") {
                        None
                    } else {
                        Some(c.value()?)
                    };
                } else if c.eat_kw("COMMENT") {
                    col.comment = c.string()?;
                } else {
                    return Err(c.syntax());
                }
            }
            let table = self.table_mut(&db, &t)?;
            if let Some(x) = table.columns.iter_mut().find(|x| x.name == name) {
                *x = col;
            }
            return ok();
        }
        if c.eat_kws(&["ADD", "ROLLUP"]) {
            // ADD ROLLUP r (c1, c2): a new index; versions do not move
            let name = c.ident()?;
            let cols = c.ident_list()?;
            let table = self.table_mut(&db, &t)?;
            if table.rollups.iter().any(|(n, _)| *n == name) {
                return Err(err(
                    ER_PARSE,
                    format!("Rollup index[{name}] already exists"),
                ));
            }
            table.rollups.push((name, cols));
            return ok();
        }
        if c.eat_kws(&["ORDER", "BY"]) {
            // ReorderColumnsClause: fewer columns than the table has = a new sort key
            // (SchemaChangeHandler.java:1060-1064, :2204), a schema change that moves no version;
            // all of them = reordering the columns (not simulated)
            let cols = c.ident_list()?;
            let table = self.table_mut(&db, &t)?;
            if cols.len() == table.columns.len() {
                return Err(err(ER_PARSE, "the simulator does not reorder columns"));
            }
            if let Some(x) = cols
                .iter()
                .find(|x| !table.columns.iter().any(|c| c.name.eq_ignore_ascii_case(x)))
            {
                return Err(err(5064, format!("Column[{x}] not exists")));
            }
            table.sort_key = cols;
            self.mark_dirty(&db, &t);
            return ok();
        }
        if c.eat_kws(&["DROP", "ROLLUP"]) {
            let name = c.ident()?;
            let table = self.table_mut(&db, &t)?;
            if !table.rollups.iter().any(|(n, _)| *n == name) {
                return Err(err(
                    ER_PARSE,
                    format!("Rollup index[{name}] does not exist"),
                ));
            }
            table.rollups.retain(|(n, _)| *n != name);
            self.mark_dirty(&db, &t);
            return ok();
        }
        if self.release.has_default_buckets() && c.eat_kws(&["DISTRIBUTED", "BY", "HASH"]) {
            // AlterJobExecutor.visitAlterTableModifyDefaultBucketsClause (alter/AlterJobExecutor.java:211-229):
            // the default distribution's bucket count, for partitions created from now on
            let cols = c.ident_list()?;
            c.expect_kw("DEFAULT")?;
            c.expect_kw("BUCKETS")?;
            let n: u32 = c.value()?.parse().map_err(|_| c.syntax())?;
            let table = self.table_mut(&db, &t)?;
            // AlterTableClauseAnalyzer.java:168-191 (an analyzer error, so errno 1064)
            let same = cols.len() == table.distribution.len()
                && cols
                    .iter()
                    .zip(&table.distribution)
                    .all(|(a, b)| a.eq_ignore_ascii_case(b));
            if !same {
                return Err(err(
                    ER_PARSE,
                    format!(
                        "Getting analyzing error. Detail message: Distribution columns mismatch: [{}] vs [{}].",
                        cols.join(", "),
                        table.distribution.join(", ")
                    ),
                ));
            }
            if n == 0 {
                return Err(err(
                    ER_PARSE,
                    "Getting analyzing error. Detail message: Bucket num must > 0.",
                ));
            }
            table.buckets = n;
            self.mark_dirty(&db, &t);
            return ok();
        }
        if c.eat_kw("SET") {
            // SET ("bloom_filter_columns" = "a, b"): metadata only here
            let props = c.properties()?;
            let table = self.table_mut(&db, &t)?;
            for (k, v) in props {
                if k.eq_ignore_ascii_case("bloom_filter_columns") {
                    table.bloom_filter_columns = split_list(&v);
                }
            }
            return ok();
        }
        if c.eat_kws(&["DROP", "COLUMN"]) {
            let name = c.ident()?;
            let table = self.table_mut(&db, &t)?;
            table.columns.retain(|col| col.name != name);
            self.db
                .execute(
                    &format!(
                        "ALTER TABLE {} DROP COLUMN {}",
                        table_ident(&db, &t),
                        sqlite_ident(&name)
                    ),
                    [],
                )
                .map_err(sqlite_err)?;
            return ok();
        }
        let temp_add = c.eat_kws(&["ADD", "TEMPORARY", "PARTITION"]);
        if temp_add || c.eat_kws(&["ADD", "PARTITION"]) {
            let prev = None;
            let spec = ddl::parse_partition_def(c, prev)?;
            self.add_partition(&db, &t, &spec, temp_add)?;
            return ok();
        }
        if c.eat_kws(&["DROP", "TEMPORARY", "PARTITION"]) || c.eat_kws(&["DROP", "PARTITION"]) {
            c.eat_kws(&["IF", "EXISTS"]);
            let name = c.ident()?;
            self.drop_partition(&db, &t, &name)?;
            return ok();
        }
        Err(c.syntax())
    }

    fn set(&mut self, s: &mut Session, c: &mut Cur) -> Result<Output, SimError> {
        // SET [SESSION|GLOBAL] var = value [, ...]; only time_zone has an effect
        c.eat_kw("SESSION");
        c.eat_kw("GLOBAL");
        c.eat_kw("LOCAL");
        if c.eat_kw("NAMES") || c.eat_kw("CHARSET") || c.eat_kws(&["CHARACTER", "SET"]) {
            return ok();
        }
        loop {
            let mut name = c.ident()?;
            while c.eat(&Token::Period) {
                name = c.ident()?;
            }
            let name = name.trim_start_matches('@').to_ascii_lowercase();
            if !c.eat(&Token::Eq) {
                c.expect(&Token::Assignment)?;
            }
            let v = c.value()?;
            if name == "time_zone" {
                s.tz = parse_tz(&v)
                    .ok_or_else(|| err(1298, format!("Unknown or incorrect time zone: '{v}'")))?;
            }
            if !c.eat(&Token::Comma) {
                break;
            }
        }
        ok()
    }

    fn describe(&mut self, s: &Session, c: &mut Cur) -> Result<Output, SimError> {
        let (db, t) = c.qualified()?;
        let db = db
            .or_else(|| s.db.clone())
            .ok_or_else(|| err(1046, "No database selected"))?;
        let table = self.table(&db, &t)?;
        let rows = table
            .columns
            .iter()
            .map(|col| {
                vec![
                    Some(col.name.clone()),
                    Some(col.column_type()),
                    Some(if col.nullable { "YES" } else { "NO" }.to_string()),
                    Some(
                        if table.keys.contains(&col.name) {
                            "true"
                        } else {
                            "false"
                        }
                        .to_string(),
                    ),
                    col.default.clone(),
                    Some(String::new()),
                ]
            })
            .collect();
        Ok(Output::rows(
            &["Field", "Type", "Null", "Key", "Default", "Extra"],
            rows,
        ))
    }

    fn show(&mut self, s: &mut Session, c: &mut Cur) -> Result<Output, SimError> {
        c.eat_kw("FULL");
        if c.eat_kw("DATABASES") || c.eat_kw("SCHEMAS") {
            let mut rows = vec![vec![Some("information_schema".to_string())]];
            rows.extend(self.dbs.keys().map(|d| vec![Some(d.clone())]));
            return Ok(Output::rows(&["Database"], rows));
        }
        if c.eat_kw("TABLES") {
            let db = if c.eat_kw("FROM") || c.eat_kw("IN") {
                c.ident()?
            } else {
                s.db.clone()
                    .ok_or_else(|| err(1046, "No database selected"))?
            };
            let d = self.dbs.get(&db).ok_or_else(|| self.unknown_db(&db))?;
            let rows = d.tables.keys().map(|t| vec![Some(t.clone())]).collect();
            return Ok(Output::Rows {
                columns: vec![format!("Tables_in_{db}")],
                rows,
            });
        }
        if c.eat_kws(&["CREATE", "TABLE"]) {
            let (db, t) = c.qualified()?;
            let db = db
                .or_else(|| s.db.clone())
                .ok_or_else(|| err(1046, "No database selected"))?;
            let table = self.table(&db, &t)?;
            return Ok(Output::rows(
                &["Table", "Create Table"],
                vec![vec![Some(t.clone()), Some(show_create(table))]],
            ));
        }
        let temp = c.eat_kw("TEMPORARY");
        if c.eat_kw("PARTITIONS") {
            c.expect_kw("FROM")?;
            let (db, t) = c.qualified()?;
            let db = db
                .or_else(|| s.db.clone())
                .ok_or_else(|| err(1046, "No database selected"))?;
            let table = self.table(&db, &t)?;
            let list = table.is_list();
            let dist = table.distribution.join(", ");
            let rows = table
                .partitions
                .iter()
                .filter(|p| p.is_temp == temp)
                .flat_map(|p| p.physical_rows().into_iter().map(move |ph| (p, ph)))
                .map(|(p, (id, version))| {
                    vec![
                        Some(id.to_string()),
                        Some(p.name.clone()),
                        Some(version.to_string()),
                        Some(fmt_time(in_zone(p.version_time, self.show_zone(s)))),
                        Some("0".to_string()),
                        Some("NORMAL".to_string()),
                        Some(table.partition_column.clone().unwrap_or_default()),
                        Some(table.range_text(p)),
                        Some(dist.clone()),
                        Some(p.buckets.to_string()),
                        Some(p.replication_num.to_string()),
                        Some("HDD".to_string()),
                        Some("9999-12-31 23:59:59".to_string()),
                        None,
                        Some(format!("{:.3}KB", p.data_size() as f64 / 1024.0)),
                        Some("false".to_string()),
                        Some(p.row_count.to_string()),
                    ]
                })
                .collect();
            // PartitionsProcDir.java:121: the column is `List` for LIST tables, `Range` otherwise
            let range_col = if list { "List" } else { "Range" };
            return Ok(Output::rows(
                &[
                    "PartitionId",
                    "PartitionName",
                    "VisibleVersion",
                    "VisibleVersionTime",
                    "VisibleVersionHash",
                    "State",
                    "PartitionKey",
                    range_col,
                    "DistributionKey",
                    "Buckets",
                    "ReplicationNum",
                    "StorageMedium",
                    "CooldownTime",
                    "LastConsistencyCheckTime",
                    "DataSize",
                    "IsInMemory",
                    "RowCount",
                ],
                rows,
            ));
        }
        if temp {
            return Err(c.syntax());
        }
        if c.eat_kw("VARIABLES") {
            let pat = if c.eat_kw("LIKE") {
                Some(c.string()?)
            } else {
                None
            };
            let rows = VARIABLE_NAMES
                .iter()
                .filter(|n| pat.as_deref().is_none_or(|p| like(n, p)))
                .filter_map(|n| variable(n, self, s).map(|v| vec![Some(n.to_string()), Some(v)]))
                .collect();
            return Ok(Output::rows(&["Variable_name", "Value"], rows));
        }
        if c.eat_kw("BACKENDS") {
            let rows = (0..self.opts.backends)
                .map(|k| {
                    vec![
                        Some((10001 + k).to_string()),
                        Some(format!("127.0.0.{}", k + 2)),
                        Some("9050".to_string()),
                        Some("9060".to_string()),
                        Some("8040".to_string()),
                        Some("8060".to_string()),
                        // LastStartTime / LastHeartbeat: session zone, fixed +08:00 from 4.1
                        Some(fmt_time(in_zone(self.opts.start_time, self.show_zone(s)))),
                        Some(fmt_time(in_zone(self.now, self.show_zone(s)))),
                        Some("true".to_string()),
                        Some("false".to_string()),
                        Some("false".to_string()),
                        Some("0".to_string()),
                    ]
                })
                .collect();
            return Ok(Output::rows(
                &[
                    "BackendId",
                    "IP",
                    "HeartbeatPort",
                    "BePort",
                    "HttpPort",
                    "BrpcPort",
                    "LastStartTime",
                    "LastHeartbeat",
                    "Alive",
                    "SystemDecommissioned",
                    "ClusterDecommissioned",
                    "TabletNum",
                ],
                rows,
            ));
        }
        if c.eat_kw("REPOSITORIES") {
            return Ok(self.show_repositories(s));
        }
        if c.eat_kw("BACKUP") {
            return self.show_backup(s, c);
        }
        if c.eat_kw("RESTORE") {
            return self.show_restore(s, c);
        }
        if c.eat_kw("SNAPSHOT") {
            return self.show_snapshot(s, c);
        }
        Err(c.syntax())
    }

    pub(crate) fn create_repository(
        &mut self,
        name: &str,
        read_only: bool,
        location: &str,
    ) -> Result<(), SimError> {
        if self.repos.contains_key(name) {
            return Err(err(5064, format!("Repository {name} already exist")));
        }
        let id = self.next_id();
        self.repos.insert(
            name.to_string(),
            Repo {
                id,
                name: name.to_string(),
                read_only,
                location: location.to_string(),
                create_time: self.now,
                store: self.store.clone(),
                stray_info_files: Vec::new(),
            },
        );
        Ok(())
    }

    pub(crate) fn load(
        &mut self,
        db: &str,
        t: &str,
        partition: &str,
        rows: u64,
    ) -> Result<(), SimError> {
        let table = self.table(db, t)?;
        if table.state != TableState::Normal {
            return Err(err(
                ER_BAD_TABLE_STATE,
                "Table state is not NORMAL: 'RESTORING'".to_string(),
            ));
        }
        let k = table
            .partitions
            .iter()
            .position(|p| p.name == partition)
            .ok_or_else(|| {
                err(
                    ER_PARSE,
                    format!("Unknown partition '{partition}' in table '{t}'"),
                )
            })?;
        let mut m = BTreeMap::new();
        m.insert(k, rows as i64);
        self.publish(db, t, &m)
    }

    pub(crate) fn truncate_partition(
        &mut self,
        db: &str,
        t: &str,
        partition: &str,
    ) -> Result<(), SimError> {
        let id = self.next_id();
        let now = self.now;
        let table = self.table_mut(db, t)?;
        let is_part = table.is_partitioned();
        let col = table.partition_column.clone();
        let p = table.partition_mut(partition).ok_or_else(|| {
            err(
                ER_PARSE,
                format!("Unknown partition '{partition}' in table '{t}'"),
            )
        })?;
        p.id = id;
        p.version = 1;
        p.version_time = now;
        p.row_count = 0;
        let (lower, upper) = (p.lower.clone(), p.upper.clone());
        let values = p.values.clone();
        let ident = table_ident(db, t);
        let mut sql = format!("DELETE FROM {ident}");
        if is_part && !values.is_empty() {
            let col = sqlite_ident(&col.clone().unwrap_or_default());
            let vals: Vec<String> = values.iter().map(|v| sqlite_str(v)).collect();
            sql.push_str(&format!(" WHERE {col} IN ({})", vals.join(", ")));
        } else if is_part {
            let col = sqlite_ident(&col.unwrap_or_default());
            let mut conds = Vec::new();
            if let Some(l) = lower {
                conds.push(format!("{col} >= {}", sqlite_str(&l)));
            }
            if let Some(u) = upper {
                conds.push(format!("{col} < {}", sqlite_str(&u)));
            }
            if !conds.is_empty() {
                sql.push_str(&format!(" WHERE {}", conds.join(" AND ")));
            }
        }
        self.db.execute(&sql, []).map_err(sqlite_err)?;
        Ok(())
    }

    pub(crate) fn drop_partition(
        &mut self,
        db: &str,
        t: &str,
        partition: &str,
    ) -> Result<(), SimError> {
        let table = self.table_mut(db, t)?;
        let before = table.partitions.len();
        table.partitions.retain(|p| p.name != partition);
        if table.partitions.len() == before {
            return Err(err(
                ER_PARSE,
                format!("Error in list of partitions to {partition}"),
            ));
        }
        Ok(())
    }

    pub(crate) fn add_partition(
        &mut self,
        db: &str,
        t: &str,
        part: &PartitionSpec,
        temp: bool,
    ) -> Result<(), SimError> {
        if !self.table(db, t)?.is_partitioned() {
            return Err(err(ER_PARSE, format!("Table[{t}] is not partitioned")));
        }
        self.push_partition(db, t, part, temp)
    }

    /// Adds a partition without the "partitioned table" check: INSERT OVERWRITE creates its
    /// temporary partition on unpartitioned tables too (InsertOverwriteJobRunner.java:398-417,
    /// PartitionUtils.createAndAddTempPartitionsForTable from the source partition ids).
    pub(crate) fn push_partition(
        &mut self,
        db: &str,
        t: &str,
        part: &PartitionSpec,
        temp: bool,
    ) -> Result<(), SimError> {
        let id = self.next_id();
        let now = self.now;
        let table = self.table_mut(db, t)?;
        if table.partitions.iter().any(|p| p.name == part.name) {
            return Err(err(1517, format!("Duplicate partition name {}", part.name)));
        }
        let lower = part.lower.clone().or_else(|| {
            // LESS THAN: the greatest existing upper bound below the new upper bound
            table
                .partitions
                .iter()
                .filter(|p| !p.is_temp)
                .filter_map(|p| p.upper.clone())
                .filter(|u| part.upper.as_deref().is_none_or(|nu| cmp_bound(u, nu) < 0))
                .max_by(|a, b| cmp_bound(a, b).cmp(&0))
        });
        let rn = table.replication_num;
        let buckets = table.buckets;
        table.partitions.push(Partition {
            id,
            name: part.name.clone(),
            lower,
            upper: part.upper.clone(),
            version: 1,
            version_time: now,
            row_count: 0,
            replication_num: rn,
            is_temp: temp,
            values: part.values.clone(),
            physical: Vec::new(),
            buckets,
        });
        Ok(())
    }

    pub(crate) fn add_column(
        &mut self,
        db: &str,
        t: &str,
        column: &str,
        ty: &str,
    ) -> Result<(), SimError> {
        let col = Column {
            name: column.to_string(),
            ty: ty.to_ascii_uppercase(),
            nullable: true,
            default: None,
            agg: String::new(),
            comment: String::new(),
        };
        let sqlite_ty = col.sqlite_type();
        let table = self.table_mut(db, t)?;
        if table.columns.iter().any(|c| c.name == column) {
            return Err(err(1060, format!("Duplicate column name '{column}'")));
        }
        table.columns.push(col);
        self.db
            .execute(
                &format!(
                    "ALTER TABLE {} ADD COLUMN {} {sqlite_ty}",
                    table_ident(db, t),
                    sqlite_ident(column)
                ),
                [],
            )
            .map_err(sqlite_err)?;
        Ok(())
    }

    pub(crate) fn drop_table(&mut self, db: &str, t: &str) -> Result<(), SimError> {
        if let Some(d) = self.dbs.get_mut(db) {
            if d.tables.remove(t).is_some() {
                self.db
                    .execute(&format!("DROP TABLE IF EXISTS {}", table_ident(db, t)), [])
                    .map_err(sqlite_err)?;
                self.mark_dirty(db, t);
            }
        }
        Ok(())
    }

    pub(crate) fn partitions(&self, db: &str, t: &str) -> Result<Vec<PartitionInfo>, SimError> {
        let table = self.table(db, t)?;
        Ok(table
            .partitions
            .iter()
            .map(|p| PartitionInfo {
                id: p.id,
                name: p.name.clone(),
                visible_version: p.version,
                visible_version_time: p.version_time,
                row_count: p.row_count,
                replication_num: p.replication_num,
                is_temp: p.is_temp,
                range: table.range_text(p),
            })
            .collect())
    }

    pub(crate) fn table_exists(&self, db: &str, t: &str) -> bool {
        self.dbs.get(db).is_some_and(|d| d.tables.contains_key(t))
    }
}

/// SQL LIKE with % and _ (case-insensitive), for SHOW ... LIKE.
fn like(s: &str, p: &str) -> bool {
    let re = format!(
        "(?i)^{}$",
        regex::escape(p).replace('%', ".*").replace('_', ".")
    );
    regex::Regex::new(&re)
        .map(|r| r.is_match(s))
        .unwrap_or(false)
}

/// The `WHERE ...` tail of a MySQL UPDATE/DELETE, re-emitted in MySQL syntax (empty when absent).
fn find_where(sql: &str) -> String {
    let Ok(toks) = crate::sql::tokenize(sql) else {
        return String::new();
    };
    let mut depth = 0;
    for (k, t) in toks.iter().enumerate() {
        match t {
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            Token::Word(w)
                if depth == 0
                    && w.quote_style.is_none()
                    && w.value.eq_ignore_ascii_case("WHERE") =>
            {
                return toks[k..]
                    .iter()
                    .filter(|x| !matches!(x, Token::SemiColon))
                    .map(|x| match x {
                        Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => {
                            format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
                        }
                        other => other.to_string(),
                    })
                    .collect();
            }
            _ => {}
        }
    }
    String::new()
}

/// `a, b` -> [a, b] (property lists).
fn split_list(v: &str) -> Vec<String> {
    v.split(',')
        .map(|x| x.trim().to_string())
        .filter(|x| !x.is_empty())
        .collect()
}

/// A plausible `SHOW CREATE TABLE` text.
fn show_create(t: &Table) -> String {
    let mut s = format!("CREATE TABLE `{}` (\n", t.name);
    let cols: Vec<String> = t
        .columns
        .iter()
        .map(|c| {
            let mut d = format!("  `{}` {}", c.name, c.column_type());
            d.push_str(if c.nullable { " NULL" } else { " NOT NULL" });
            if let Some(v) = &c.default {
                d.push_str(&format!(" DEFAULT \"{v}\""));
            }
            d.push_str(" COMMENT \"\"");
            d
        })
        .collect();
    s.push_str(&cols.join(",\n"));
    s.push_str("\n) ENGINE=OLAP \n");
    let keys: Vec<String> = t.keys.iter().map(|k| format!("`{k}`")).collect();
    s.push_str(&format!("{}({})\n", t.keys_type.sql(), keys.join(", ")));
    if let Some(pc) = &t.partition_column {
        let parts: Vec<String> = t
            .partitions
            .iter()
            .filter(|p| !p.is_temp)
            .map(|p| {
                let spec = PartitionSpec {
                    name: p.name.clone(),
                    lower: p.lower.clone(),
                    upper: p.upper.clone(),
                    values: p.values.clone(),
                };
                let text = spec.sql();
                match (&p.lower, &p.upper) {
                    (Some(_), Some(_)) => text,
                    (None, _) => text,
                    (Some(l), None) => {
                        format!("PARTITION {} VALUES [(\"{l}\"), (MAXVALUE))", p.name)
                    }
                }
            })
            .collect();
        match t.partitioning {
            ddl::Partitioning::Range => s.push_str(&format!(
                "PARTITION BY RANGE(`{pc}`)\n({})\n",
                parts.join(",\n")
            )),
            ddl::Partitioning::List => s.push_str(&format!(
                "PARTITION BY LIST(`{pc}`)\n({})\n",
                parts.join(",\n")
            )),
            ddl::Partitioning::AutoList => s.push_str(&format!("PARTITION BY (`{pc}`)\n")),
        }
    }
    let dist: Vec<String> = t.distribution.iter().map(|k| format!("`{k}`")).collect();
    s.push_str(&format!(
        "DISTRIBUTED BY HASH({}) BUCKETS {} \nPROPERTIES (\n\"compression\" = \"LZ4\",\n\"fast_schema_evolution\" = \"true\",\n\"replicated_storage\" = \"true\",\n\"replication_num\" = \"{}\"\n);",
        dist.join(", "),
        t.buckets,
        t.replication_num
    ));
    s
}
