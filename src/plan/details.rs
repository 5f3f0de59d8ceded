//! The typed details of restore, recover and scheduler steps. They live below the planner (which
//! builds them) and the runner (which reads them) so both share one definition, and plan.rs needs
//! no planner module. The planner modules re-export them under their old paths.

use serde::{Deserialize, Serialize};

/// CheckTargetAbsent details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetCheck {
    pub table: String,
    /// True for the re-check right before the first RESTORE (after our row was written).
    pub recheck: bool,
    /// Continuing this dead run: the table may exist, because that run created it (it must, once
    /// one of its links FINISHED); it must not exist when the run restored nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adopted: Option<String>,
}

/// RestoreSnapshot details: one RESTORE job of the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreJob {
    pub snapshot_label: String,
    pub backup_timestamp: String,
    pub table: String,
    pub partitions: Vec<String>,
    pub replication_num: u32,
    /// 1-based position in the chain, and its length.
    pub link: u32,
    pub links: u32,
    /// Links after the first: where the partial table is renamed when this or a later link fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aside_on_failure: Option<String>,
    /// Shared jobs of several tables: the tables earlier jobs created, which must still exist
    /// (`table` then lists the tables of this job).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub check_tables: Vec<String>,
    /// Shared jobs: (table, name) for each table earlier jobs created, moved aside when this or a
    /// later job fails (so no target name keeps a partly restored table).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub asides: Vec<(String, String)>,
}

/// PromoteRestore details: how the complete table reaches its final name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromoteJob {
    /// `db.table` the restored data ends under.
    pub table: String,
    /// The restored table before the statement (the stage or the snapshot's name).
    pub restored: String,
    /// `--replace`: the name the previous table is kept under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_kept_as: Option<String>,
}

/// PollRestore details. The job is SHOW RESTORE's row whose `Label` is `snapshot_label` and whose
/// `Timestamp` is `backup_timestamp`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestorePoll {
    pub snapshot_label: Option<String>,
    pub backup_timestamp: Option<String>,
    pub link: u32,
    pub links: u32,
    pub initial_ms: u64,
    pub max_ms: u64,
    pub job_timeout_s: u64,
    /// The job was submitted by a dead run: only its record is finished.
    pub resume: bool,
}

/// A chain link as SHOW RESTORE names its job (`Label`, `Timestamp`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkRef {
    pub label: String,
    pub backup_timestamp: String,
}

/// AdoptRestore details: our claim row and the run it continues.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdoptClaim {
    pub adopts: String,
    pub claim_label: String,
}

/// TakeOverRestore details: `release_sql` withdraws our claim row once the adopted row is live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TakeOver {
    pub adopts: String,
    pub claim_label: String,
    pub release_sql: String,
}

/// ResumeRestore details: what the runner judges the dead run's progress from, and what this plan
/// expects (`links_done`); a different judgement at run time fails the run rather than guess.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumeJob {
    pub adopts: String,
    pub table: String,
    pub current_label: Option<String>,
    pub started_at: Option<String>,
    pub links: Vec<LinkRef>,
    pub links_done: Option<u32>,
    pub initial_ms: u64,
    pub max_ms: u64,
    pub job_timeout_s: u64,
}

/// The scheduler properties that drop partitions, and the value that switches each off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dropper {
    /// `dynamic_partition.enable` = "false" (the window and its `start` stay recorded).
    DynamicPartition,
    /// `partition_live_number` = "-1" (INVALID: off).
    LiveNumber,
    /// `partition_ttl` = "0 day" (a zero period: off).
    Ttl,
}

/// One table the step guards: its name now, and the name it has once the restore completed
/// (`--as` / `--replace` rename or swap it in; the properties travel with it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardedTable {
    pub table: String,
    pub final_name: String,
    /// The exact ALTER for each property, sent only when the runner finds it live.
    pub switch_off: Vec<SwitchOff>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwitchOff {
    pub property: Dropper,
    pub sql: String,
}

/// The StopPartitionScheduler step's details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchedulerGuard {
    pub database: String,
    pub tables: Vec<GuardedTable>,
}

/// Details of the RestoreCatalog and PollRestore steps of a recover (the job SHOW RESTORE shows).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogPoll {
    pub snapshot_label: String,
    pub backup_timestamp: String,
    pub initial_ms: u64,
    pub max_ms: u64,
    pub job_timeout_s: u64,
}

/// Details of the CheckHistory step: the statements it reads the repository and the clock with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryCheck {
    pub repository: String,
    pub show_snapshots_sql: String,
    /// The catalog job's own row: Finalize settles it, CheckHistory leaves it RUNNING.
    pub catalog_label: String,
    /// The catalog's Details `backup_time`: with its own row's started_at (the lost cluster's
    /// session clock, seconds earlier) it tells the lost cluster's zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog_backup_time_ms: Option<i64>,
    /// RUNNING restore_history rows (their runs died with the lost cluster).
    pub running_restores_sql: String,
    /// The session zone's offset (snapshot_at of a settled row from Details `backup_time`, UTC).
    pub zone_sql: String,
}

#[cfg(test)]
impl CatalogPoll {
    /// Details for tests that need some kind, any kind.
    pub fn sample() -> CatalogPoll {
        CatalogPoll {
            snapshot_label: "c".into(),
            backup_timestamp: "ts".into(),
            initial_ms: 1,
            max_ms: 2,
            job_timeout_s: 3,
        }
    }
}
