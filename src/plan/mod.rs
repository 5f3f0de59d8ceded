//! The plan: what a command will do, as an ordered list of typed steps with the exact SQL each sends.
//! `--dry-run` prints it; the runner executes the very same object. Everything here serialises
//! deterministically (Vec / BTreeMap only) so the same cluster state gives byte-identical JSON.

use std::io::Write as _;

use serde::{Serialize, Serializer};

pub mod details;
pub use details::{
    AdoptClaim, CatalogPoll, HistoryCheck, PromoteJob, RestoreJob, RestorePoll, ResumeJob,
    SchedulerGuard, TakeOver, TargetCheck,
};

/// Bumped when a field changes meaning; auditors' tooling keys on it.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::Display, strum::EnumString)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Command {
    Init,
    Backup,
    Restore,
    Expire,
    Recover,
}

/// Every kind of step any command can contain. Documented for auditors in plans/README.md.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::Display, strum::EnumString, strum::EnumIter,
)]
pub enum StepKind {
    /// `CREATE DATABASE IF NOT EXISTS` for the ops database.
    CreateDatabase,
    /// `CREATE TABLE IF NOT EXISTS` for one ops table.
    CreateTable,
    /// `init` on an ops schema of the previous version: the set-based statement that upgrades it
    /// in place (history::schema).
    UpgradeSchema,
    /// `init`: record the ops schema version this release writes (`bbr_meta`).
    RecordSchemaVersion,
    /// Insert this run's RUNNING row (the claim) with a fresh heartbeat.
    RecordRunning,
    /// Wait until the cluster clock passed our started_at, then read the RUNNING rows of the database:
    /// proceed only if ours is the oldest live claim, else withdraw our row and refuse (exit 4).
    Claim,
    /// Re-read the latest FINISHED backup of the database; if it is not the base we planned on, the plan
    /// is stale: withdraw and refuse (exit 4).
    CheckBase,
    /// Insert (a chunk of) the manifest rows into backup_partitions, before BACKUP is issued.
    RecordManifest,
    /// Send the BACKUP statement.
    IssueBackup,
    /// Poll SHOW BACKUP until our label is FINISHED or CANCELLED (refreshing the heartbeat).
    PollBackup,
    /// Read the snapshot's exact Timestamp from SHOW SNAPSHOT (the RESTORE backup_timestamp).
    ResolveSnapshotTimestamp,
    /// Mark the history row FINISHED or FAILED with the outcome.
    Finalize,
    /// Restore: refuse when the target table exists.
    CheckTargetAbsent,
    /// Restore: insert the RUNNING restore_history row.
    RecordRestoreRunning,
    /// Restore: send one RESTORE statement.
    RestoreSnapshot,
    /// Restore: poll SHOW RESTORE until our label is FINISHED or CANCELLED.
    PollRestore,
    /// Restore continuing a dead run: insert our claim row, which names the run it adopts.
    AdoptRestore,
    /// Restore continuing a dead run, after the claim was won: refresh the adopted row's heartbeat
    /// (it is live again), then withdraw our claim row.
    TakeOverRestore,
    /// Restore continuing a dead run: look its current job up by label in SHOW RESTORE and wait
    /// for its end; decides which links StarRocks already ran.
    ResumeRestore,
    /// Restore `--as` / `--replace`: give the complete table its final name (`ALTER TABLE ... RENAME`
    /// or one atomic `ALTER TABLE ... SWAP WITH ...`).
    PromoteRestore,
    /// Restore of several tables: rename a table that a dead run of the same restore left partly
    /// restored aside (proven its: the database's last job is that run's), so the rerun starts afresh.
    SetAside,
    /// Expire: mark one snapshot's history row EXPIRED, with a note saying what becomes of its
    /// snapshot (`DROP SNAPSHOT pending` = the intent, recorded before anything is deleted).
    ExpireRecord,
    /// Expire: delete the manifest rows of an expired snapshot.
    DeleteManifest,
    /// Expire: `DROP SNAPSHOT <label> ON <repo>` (4.2+). A snapshot already gone counts as dropped.
    DropSnapshot,
    /// Expire: change the EXPIRED row's note to what was done (dropped, or delete by hand).
    RecordDropped,
    /// Expire: delete restore_history rows that ended before the retention window.
    DeleteRestoreHistory,
    /// Expire: delete our claim row (and claim rows of dead expire runs).
    ReleaseClaim,
    /// Recover: RESTORE every ops table from the chosen catalog snapshot.
    RestoreCatalog,
    /// Recover: compare the restored history with SHOW SNAPSHOT ON the repository; FINISHED rows
    /// whose snapshot is absent become EXPIRED, newer snapshots unknown to the history are reported.
    CheckHistory,
    /// Backup: a FAILED history row naming the tables of a database this run left out, and why.
    RecordLeftOut,
    /// After a RESTORE job: read the restored tables' PROPERTIES and switch off every property that
    /// would make StarRocks's partition scheduler drop restored partitions (planned ALTERs).
    StopPartitionScheduler,
}

/// How the runner may retry a step. Transient errors are retried with exponential backoff + jitter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RetryPolicy {
    /// Re-sending the statement after an ambiguous failure (connection lost before the answer) is
    /// harmless. When false, an ambiguous failure is resolved by looking the job up, never by re-sending.
    pub safe_to_retry: bool,
    /// Errors the server raises before doing anything ("Another backup or restore job is being
    /// submitted", "Can only run one backup or restore job") are retried within the budget.
    pub retry_when_busy: bool,
    pub attempts: u32,
    pub initial_ms: u64,
    pub max_ms: u64,
}

/// Kind-specific data the runner needs beyond the SQL (and that auditors want to see).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Details {
    /// Claim: a RUNNING row whose heartbeat is older than this does not hold the database.
    Claim { heartbeat_stale_s: u64 },
    /// CheckBase: the label the plan was derived from (null = no FINISHED backup, i.e. full).
    CheckBase { expected_base_label: Option<String> },
    /// RecordManifest chunk `chunk` of `chunks`, holding `rows` rows.
    Manifest { chunk: u32, chunks: u32, rows: u32 },
    /// IssueBackup: what the snapshot holds.
    Backup {
        backup_type: BackupType,
        base_label: Option<String>,
        objects: Vec<BackupObject>,
        partitions: u32,
    },
    /// PollBackup / PollRestore backoff and limits. `resume` = the job was issued by an earlier run.
    Poll {
        initial_ms: u64,
        max_ms: u64,
        job_timeout_s: u64,
        resume: bool,
    },
    /// Finalize: the SQL is a template; `${...}` placeholders are filled from the job's outcome,
    /// each value quoted by sql::literal.
    Finalize { placeholders: Vec<String> },
    /// Expire steps on one snapshot: its label and the repository it was written to.
    Snapshot {
        snapshot: String,
        repository: String,
    },
    /// CheckTargetAbsent.
    #[serde(serialize_with = "sorted")]
    TargetCheck(TargetCheck),
    /// RestoreSnapshot (one RESTORE job of a chain or of a shared job).
    #[serde(serialize_with = "sorted")]
    RestoreJob(RestoreJob),
    /// PollRestore of a restore.
    #[serde(serialize_with = "sorted")]
    RestorePoll(RestorePoll),
    /// PromoteRestore.
    #[serde(serialize_with = "sorted")]
    PromoteJob(PromoteJob),
    /// AdoptRestore.
    #[serde(serialize_with = "sorted")]
    AdoptClaim(AdoptClaim),
    /// TakeOverRestore.
    #[serde(serialize_with = "sorted")]
    TakeOver(TakeOver),
    /// ResumeRestore.
    #[serde(serialize_with = "sorted")]
    ResumeJob(ResumeJob),
    /// StopPartitionScheduler.
    #[serde(serialize_with = "sorted")]
    SchedulerGuard(SchedulerGuard),
    /// recover's RestoreCatalog and PollRestore.
    #[serde(serialize_with = "sorted")]
    CatalogPoll(CatalogPoll),
    /// recover's CheckHistory.
    #[serde(serialize_with = "sorted")]
    HistoryCheck(HistoryCheck),
}

/// Details of one kind: a runner step asks for the kind it reads (`Step::details_of`).
pub trait StepDetails {
    fn of(details: &Details) -> Option<&Self>;
}

macro_rules! step_details {
    ($($kind:ident),*) => {
        $(impl StepDetails for $kind {
            fn of(details: &Details) -> Option<&Self> {
                match details {
                    Details::$kind(d) => Some(d),
                    _ => None,
                }
            }
        })*
    };
}

step_details!(
    TargetCheck,
    RestoreJob,
    RestorePoll,
    PromoteJob,
    AdoptClaim,
    TakeOver,
    ResumeJob,
    SchedulerGuard,
    CatalogPoll,
    HistoryCheck
);

/// The typed details print with their keys in alphabetical order at every depth, as they always
/// have (plans/*.json and any plan an auditor kept stay byte-identical): a serde_json `Value`
/// object keeps its keys sorted.
fn sorted<T: Serialize, S: Serializer>(details: &T, s: S) -> Result<S::Ok, S::Error> {
    serde_json::to_value(details)
        .map_err(serde::ser::Error::custom)?
        .serialize(s)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, strum::Display)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum BackupType {
    Full,
    Incremental,
}

/// One table in a BACKUP's ON (...) list: whole, or a list of partitions.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct BackupObject {
    pub table: String,
    pub whole_table: bool,
    /// Sorted; empty when whole_table.
    pub partitions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    pub kind: StepKind,
    /// One sentence for people reading the plan.
    pub description: String,
    /// The database the step works on (steps of one database and label form a group: when one fails,
    /// the rest of its group is skipped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// The job label (backup or restore) the step belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The exact SQL text sent (null for steps that only decide from earlier answers).
    pub sql: Option<String>,
    pub retry: RetryPolicy,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Details>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub format_version: u32,
    pub command: Command,
    /// What the plan was derived from (cluster time, bases, counts); command-specific, deterministic.
    pub inputs: serde_json::Value,
    pub steps: Vec<Step>,
}

impl Plan {
    pub fn new(command: Command, inputs: serde_json::Value, steps: Vec<Step>) -> Plan {
        Plan {
            format_version: FORMAT_VERSION,
            command,
            inputs,
            steps,
        }
    }

    /// Pretty JSON with a trailing newline, as printed by `--dry-run` and stored in plans/.
    pub fn to_json(&self) -> String {
        match serde_json::to_string_pretty(self) {
            Ok(mut s) => {
                s.push('\n');
                s
            }
            // Serialising plain data with string keys cannot fail; keep the no-panic rule anyway.
            Err(e) => format!("{{\"error\": {:?}}}\n", e.to_string()),
        }
    }

    /// Writes exactly [`Plan::to_json`]'s bytes to `w` without building the string first (a
    /// 1M-partition backup plan carries ~150 MB of manifest INSERTs).
    pub fn write_json(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        let mut buf = std::io::BufWriter::with_capacity(1 << 20, w);
        serde_json::to_writer_pretty(&mut buf, self)?;
        buf.write_all(b"\n")?;
        buf.flush()
    }

    /// True when the command has nothing to do.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::IntoEnumIterator;

    #[test]
    fn kinds_serialise_as_their_names() {
        for k in StepKind::iter() {
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(json, format!("\"{k}\""));
        }
        assert_eq!(Command::Backup.to_string(), "backup");
        assert_eq!(
            serde_json::to_string(&BackupType::Incremental).unwrap(),
            "\"incremental\""
        );
    }

    #[test]
    fn plan_json_is_stable() {
        let p = Plan::new(
            Command::Init,
            serde_json::json!({"b": 1, "a": 2}),
            vec![Step {
                kind: StepKind::CreateDatabase,
                description: "d".into(),
                database: None,
                label: None,
                sql: Some("CREATE DATABASE IF NOT EXISTS `ops`".into()),
                retry: RetryPolicy {
                    safe_to_retry: true,
                    retry_when_busy: false,
                    attempts: 5,
                    initial_ms: 500,
                    max_ms: 10000,
                },
                details: None,
            }],
        );
        let a = p.to_json();
        assert_eq!(a, p.clone().to_json());
        let mut streamed = Vec::new();
        p.write_json(&mut streamed).unwrap();
        assert_eq!(String::from_utf8(streamed).unwrap(), a);
        assert!(a.find("\"a\"").unwrap() < a.find("\"b\"").unwrap());
        assert!(a.contains("\"format_version\": 1"));
    }

    #[test]
    fn typed_details_print_with_sorted_keys_at_every_depth() {
        let d = Details::ResumeJob(ResumeJob {
            adopts: "run".into(),
            table: "t".into(),
            current_label: None,
            started_at: None,
            links: vec![details::LinkRef {
                label: "full".into(),
                backup_timestamp: "ts".into(),
            }],
            links_done: Some(1),
            initial_ms: 1,
            max_ms: 2,
            job_timeout_s: 3,
        });
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            r#"{"adopts":"run","current_label":null,"initial_ms":1,"job_timeout_s":3,"links":[{"backup_timestamp":"ts","label":"full"}],"links_done":1,"max_ms":2,"started_at":null,"table":"t"}"#
        );
    }

    #[test]
    fn a_kind_reads_only_its_own_details() {
        let poll = details::CatalogPoll::sample();
        let d = Details::CatalogPoll(poll.clone());
        assert_eq!(CatalogPoll::of(&d), Some(&poll));
        assert_eq!(RestorePoll::of(&d), None);
        assert_eq!(
            CatalogPoll::of(&Details::Claim {
                heartbeat_stale_s: 1
            }),
            None
        );
    }
}
