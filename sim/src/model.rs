//! The catalog model: sessions, faults, partitions, tables, and the public views of them.

use std::collections::BTreeMap;

use chrono::{FixedOffset, NaiveDateTime};

use crate::ddl::{self, Column, KeysType};
use crate::{SimError, When};

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
pub(crate) struct StmtCtx {
    pub(crate) now: String,
    pub(crate) utc_now: String,
    pub(crate) tz_secs: i32,
    pub(crate) db: Option<String>,
    pub(crate) conn_id: u32,
    pub(crate) version: String,
    pub(crate) current_version: String,
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
    /// Dynamic partitioning / partition TTL properties (sim/src/scheduler.rs).
    pub(crate) scheduling: crate::scheduler::Scheduling,
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

    pub(crate) fn partition_type(&self) -> String {
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
