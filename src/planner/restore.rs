//! `restore`: compile a resolved chain (see [`super::chain`]) into the steps that rebuild one table.
//!
//! One RESTORE job per contributing snapshot, oldest first (StarRocks runs one job per database at a
//! time, so the runner submits the next only after the previous one FINISHED), each with that
//! snapshot's own `backup_timestamp`, the `replication_num` its partitions had, and an explicit
//! PARTITION list (so partitions dropped before the target time are never restored).
//! All jobs of one run share one `ops.restore_history` row, labelled by the run.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use super::chain::{Chain, ChainLink};
use super::{finalize_step, job_step};
use crate::config::{Config, TableRef};
use crate::history::{
    finalize_restore_template, insert_restore_claim_sql, insert_restore_running_sql,
    select_running_sql, takeover_restore_sql, withdraw_sql, RestoreRow, RestoreRunningRow,
    ADOPT_NOTE, RESTORE_FINALIZE_PLACEHOLDERS, RESTORE_HISTORY,
};
use crate::plan::{Command, Details, Plan, Step, StepKind};
use crate::sql::{ident, literal, property, qualified};

/// `YYYY-MM-DD HH:MM:SS`, the format of `--timestamp`, NOW() and every time in the plan.
pub const TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// One link of the chain as recorded in `restore_history.chain` and shown in the plan's inputs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainEntry {
    /// The snapshot (backup label).
    pub label: String,
    pub backup_timestamp: String,
    /// When the snapshot was taken (session time zone).
    pub snapshot_at: String,
    pub replication_num: u32,
    /// Partitions of the target table this snapshot supplies.
    pub partitions: Vec<String>,
    /// The repository the snapshot was written to (absent in chains recorded before schema
    /// version 2: the configured repository).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub repository: String,
}

impl From<&ChainLink> for ChainEntry {
    fn from(l: &ChainLink) -> Self {
        ChainEntry {
            label: l.label.clone(),
            backup_timestamp: l.backup_timestamp.clone(),
            snapshot_at: l.snapshot_at.format(TIME_FORMAT).to_string(),
            replication_num: l.replication_num,
            partitions: l.partitions.clone(),
            repository: l.repository.clone(),
        }
    }
}

/// A RUNNING restore_history row left by a dead run: its current job is looked up and its record
/// finished; nothing is ever re-submitted for it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct RestoreResume {
    pub database: String,
    pub table: String,
    pub label: String,
    /// The snapshot whose RESTORE the dead run submitted last (None: it died before any).
    pub current_label: Option<String>,
    pub backup_timestamp: Option<String>,
    /// 1-based position of `current_label` in the dead run's chain, and the chain's length.
    pub link: u32,
    pub links: u32,
    pub reason: String,
}

impl RestoreResume {
    /// Reads what the dead run recorded (its chain JSON and current label).
    pub fn from_row(row: &RestoreRow, reason: &str) -> RestoreResume {
        let chain: Vec<ChainEntry> = row
            .chain
            .as_deref()
            .and_then(|c| serde_json::from_str(c).ok())
            .unwrap_or_default();
        let pos = row
            .current_label
            .as_deref()
            .and_then(|cur| chain.iter().position(|e| e.label == cur));
        RestoreResume {
            database: row.database.clone(),
            table: row.table.clone(),
            label: row.label.clone(),
            current_label: row.current_label.clone(),
            backup_timestamp: pos
                .and_then(|i| chain.get(i))
                .map(|e| e.backup_timestamp.clone()),
            link: pos.map_or(0, |i| u32::try_from(i + 1).unwrap_or(u32::MAX)),
            links: u32::try_from(chain.len()).unwrap_or(u32::MAX),
            reason: reason.to_string(),
        }
    }
}

/// The chain a dead run recorded in its row (empty when unreadable).
pub fn recorded_chain(row: &RestoreRow) -> Vec<ChainEntry> {
    row.chain
        .as_deref()
        .and_then(|c| serde_json::from_str(c).ok())
        .unwrap_or_default()
}

/// Among the stale RUNNING restore rows of the database, the dead run this restore continues: same
/// table, same target time, a readable non-empty chain, and not a dead adopter's claim row. When
/// two of them submitted RESTOREs nobody can tell which one the table holds: none is adopted.
pub fn pick_adoption<'a>(
    stale: &'a [RestoreRow],
    target: &TableRef,
    target_time: NaiveDateTime,
) -> Option<&'a RestoreRow> {
    let at = target_time.format(TIME_FORMAT).to_string();
    let candidates: Vec<&RestoreRow> = stale
        .iter()
        .filter(|r| r.database == target.database && r.table == target.table)
        .filter(|r| r.target_time.as_deref() == Some(at.as_str()))
        .filter(|r| {
            !r.error_message
                .as_deref()
                .is_some_and(|m| m.starts_with(ADOPT_NOTE))
        })
        .filter(|r| !recorded_chain(r).is_empty())
        .collect();
    let submitted: Vec<&RestoreRow> = candidates
        .iter()
        .copied()
        .filter(|r| r.current_label.is_some())
        .collect();
    match submitted.len() {
        0 => candidates.into_iter().min_by(|a, b| {
            (a.started_at.as_deref(), a.label.as_str())
                .cmp(&(b.started_at.as_deref(), b.label.as_str()))
        }),
        1 => submitted.first().copied(),
        _ => None,
    }
}

/// A chain link as SHOW RESTORE names its job (`Label`, `Timestamp`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkRef {
    pub label: String,
    pub backup_timestamp: String,
}

/// SHOW RESTORE's row (the FE keeps one job per database: the last BACKUP or RESTORE).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShowRestoreJob {
    pub label: String,
    pub timestamp: String,
    pub state: String,
    pub status: String,
    pub create_time: Option<NaiveDateTime>,
}

/// How far a dead run got, judged from its row and the database's last job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// `done` links have FINISHED once the job named in `wait` (still running, in that state) ends
    /// FINISHED; the links after `done` are still to be submitted.
    Continue { done: u32, wait: Option<String> },
    /// The current job was CANCELLED: the reason with StarRocks' Status.
    Cancelled(String),
    /// The current job is not visible and cannot be shown never to have been submitted.
    Unknown(String),
}

/// Judges a dead run's progress. Its `current_label` (link k) is set BEFORE its RESTORE is sent, so
/// the job may never have reached StarRocks; since the FE shows only the database's LAST job, link k
/// was provably never accepted when that job is link k-1's, FINISHED (k ≥ 2), or, for k = 1, when no
/// job of the dead run is visible and the table does not exist. A job counts as the dead run's only
/// if it carries the link's Label and Timestamp and was created at or after the run's `started_at`.
/// Anything else is Unknown: never guess FINISHED, never re-send what StarRocks may have run.
pub fn judge(
    links: &[LinkRef],
    current: Option<&str>,
    started_at: Option<NaiveDateTime>,
    last: Option<&ShowRestoreJob>,
    table_exists: bool,
) -> Progress {
    let Some(cur) = current else {
        // current_label is recorded before any RESTORE is sent: none was.
        return Progress::Continue {
            done: 0,
            wait: None,
        };
    };
    let n = links.len();
    let Some(i) = links.iter().position(|l| l.label == cur) else {
        return Progress::Unknown(format!(
            "its current snapshot {cur} is not in its recorded chain"
        ));
    };
    let k = u32::try_from(i + 1).unwrap_or(u32::MAX);
    let ours = |j: &ShowRestoreJob, l: &LinkRef| {
        j.label == l.label
            && j.timestamp == l.backup_timestamp
            && matches!((j.create_time, started_at), (Some(c), Some(s)) if c >= s)
    };
    if let Some(j) = last.filter(|j| ours(j, &links[i])) {
        return match j.state.as_str() {
            "FINISHED" => Progress::Continue {
                done: k,
                wait: None,
            },
            "CANCELLED" => Progress::Cancelled(format!(
                "RESTORE of snapshot {cur} ({k} of {n}) was CANCELLED: {}",
                j.status
            )),
            st => Progress::Continue {
                done: k,
                wait: Some(st.to_string()),
            },
        };
    }
    let prev_finished =
        i >= 1 && last.is_some_and(|j| ours(j, &links[i - 1]) && j.state == "FINISHED");
    let none_of_ours =
        last.is_none_or(|j| matches!((j.create_time, started_at), (Some(c), Some(s)) if c < s));
    if prev_finished || (i == 0 && none_of_ours && !table_exists) {
        return Progress::Continue {
            done: k - 1,
            wait: None,
        };
    }
    let seen = match last {
        Some(j) => format!(
            "the database's last job is a RESTORE of {} ({})",
            j.label, j.state
        ),
        None => "SHOW RESTORE shows no job".to_string(),
    };
    Progress::Unknown(format!(
        "SHOW RESTORE has no job for snapshot {cur} ({k} of {n}) and it cannot be shown that the dead run never submitted it ({seen}); the table may be partly restored"
    ))
}

/// A dead run (stale RUNNING row, same table and target time) that this run continues: it takes
/// the row over, finishes its current job and submits only the links StarRocks has not run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Adoption {
    /// The adopted run's label: its restore_history row is the one finalized.
    pub label: String,
    pub started_at: Option<String>,
    pub heartbeat_at: Option<String>,
    /// The snapshot whose RESTORE it recorded last (None: it submitted nothing).
    pub current_label: Option<String>,
    /// What SHOW RESTORE showed of that job when this plan was made.
    pub found: String,
    /// Links that have FINISHED once the awaited job ends; None: the continuation fails (`found`).
    pub links_done: Option<u32>,
    /// The snapshots still to RESTORE, in order.
    pub links_remaining: Vec<String>,
    #[serde(skip)]
    pub chain: Vec<ChainEntry>,
}

impl Adoption {
    pub fn new(row: &RestoreRow, chain: Vec<ChainEntry>, progress: &Progress) -> Adoption {
        let cur = row.current_label.clone();
        let (found, done) = match (progress, cur.as_deref()) {
            (Progress::Continue { done, .. }, None) => {
                ("it submitted no RESTORE".to_string(), Some(*done))
            }
            (
                Progress::Continue {
                    done,
                    wait: Some(st),
                },
                Some(c),
            ) => (
                format!("{c}: {st}, still running: wait for its end"),
                Some(*done),
            ),
            (Progress::Continue { done, wait: None }, Some(c)) => {
                let k = chain.iter().position(|e| e.label == c).map(|i| i + 1);
                if k == Some(usize::try_from(*done).unwrap_or(usize::MAX)) {
                    (format!("{c}: FINISHED"), Some(*done))
                } else {
                    (
                        format!("{c}: never submitted (the database's last job is the previous link's, FINISHED)"),
                        Some(*done),
                    )
                }
            }
            (Progress::Cancelled(why), _) | (Progress::Unknown(why), _) => (why.clone(), None),
        };
        let links_remaining = match done {
            Some(d) => chain
                .iter()
                .skip(usize::try_from(d).unwrap_or(usize::MAX))
                .map(|e| e.label.clone())
                .collect(),
            None => Vec::new(),
        };
        Adoption {
            label: row.label.clone(),
            started_at: row.started_at.clone(),
            heartbeat_at: row.heartbeat_at.clone(),
            current_label: cur,
            found,
            links_done: done,
            links_remaining,
            chain,
        }
    }

    pub fn links(&self) -> Vec<LinkRef> {
        self.chain
            .iter()
            .map(|e| LinkRef {
                label: e.label.clone(),
                backup_timestamp: e.backup_timestamp.clone(),
            })
            .collect()
    }
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

/// Everything the restore planner reads from the cluster besides the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreState {
    /// Cluster clock (`SELECT NOW()`), `YYYY-MM-DD HH:MM:SS`.
    pub cluster_time: String,
    pub target: TableRef,
    /// `--timestamp`, session time zone.
    pub target_time: NaiveDateTime,
    /// Whether the table exists now (a real run refuses; a dry run shows the plan anyway).
    pub target_exists: bool,
    pub resume: Vec<RestoreResume>,
    /// The dead run this restore continues instead of starting afresh.
    pub adopt: Option<Adoption>,
}

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

fn sanitise(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    out.truncate(max);
    out
}

/// `bbr_restore_<db>_<table>_<target YYYYMMDDHHMMSS>[_<suffix>]`, at most 96 characters.
pub fn restore_label(
    target: &TableRef,
    target_time: NaiveDateTime,
    suffix: Option<&str>,
) -> String {
    let stamp = target_time.format("%Y%m%d%H%M%S");
    let base = format!(
        "bbr_restore_{}_{}_{stamp}",
        sanitise(&target.database, 24),
        sanitise(&target.table, 32)
    );
    match suffix {
        Some(s) => format!("{base}_{}", sanitise(s, 8)),
        None => base,
    }
}

/// The RESTORE statement for one snapshot of the chain.
pub fn restore_sql(cfg: &Config, target: &TableRef, link: &ChainEntry) -> String {
    let parts: Vec<String> = link.partitions.iter().map(|p| ident(p)).collect();
    format!(
        "RESTORE SNAPSHOT {} FROM {} ON ({} PARTITION ({})) PROPERTIES ({}, {}, {})",
        qualified(&target.database, &link.label),
        ident(if link.repository.is_empty() {
            &cfg.repository
        } else {
            &link.repository
        }),
        ident(&target.table),
        parts.join(", "),
        property("backup_timestamp", &link.backup_timestamp),
        property("replication_num", &link.replication_num.to_string()),
        property("timeout", &cfg.job_timeout_s.to_string()),
    )
}

pub fn show_restore_sql(db: &str) -> String {
    format!("SHOW RESTORE FROM {}", ident(db))
}

pub fn cancel_restore_sql(db: &str) -> String {
    format!("CANCEL RESTORE FROM {}", ident(db))
}

/// Selective existence check of one table (any row = it exists).
pub fn target_exists_sql(target: &TableRef) -> String {
    format!(
        "SELECT TABLE_NAME FROM information_schema.tables WHERE TABLE_SCHEMA = {} AND TABLE_NAME = {}",
        literal(&target.database),
        literal(&target.table)
    )
}

fn poll_step(cfg: &Config, db: &str, label: &str, poll: RestorePoll, description: String) -> Step {
    job_step(
        db,
        label,
        StepKind::PollRestore,
        description,
        show_restore_sql(db),
        super::idempotent(cfg),
        Some(Details::Other(
            serde_json::to_value(poll).unwrap_or_default(),
        )),
    )
}

fn restore_finalize_step(cfg: &Config, db: &str, label: &str) -> Step {
    finalize_step(
        cfg,
        db,
        label,
        "mark the restore_history row FINISHED or FAILED",
        finalize_restore_template(&cfg.ops_database, label),
        &RESTORE_FINALIZE_PLACEHOLDERS,
    )
}

/// Steps that finish RUNNING restore rows of dead runs: look the job up, finish the record.
pub fn plan_restore_resume(cfg: &Config, jobs: &[RestoreResume]) -> Vec<Step> {
    let mut steps = Vec::new();
    for j in jobs {
        let what = match &j.current_label {
            Some(l) => {
                format!("look up the RESTORE of {l} a dead run submitted and wait for its end")
            }
            None => "the dead run recorded no RESTORE: record it FAILED".to_string(),
        };
        steps.push(poll_step(
            cfg,
            &j.database,
            &j.label,
            RestorePoll {
                snapshot_label: j.current_label.clone(),
                backup_timestamp: j.backup_timestamp.clone(),
                link: j.link,
                links: j.links,
                initial_ms: cfg.poll.initial_ms,
                max_ms: cfg.poll.max_ms,
                job_timeout_s: cfg.job_timeout_s,
                resume: true,
            },
            what,
        ));
        steps.push(restore_finalize_step(cfg, &j.database, &j.label));
    }
    steps
}

#[derive(Debug, Serialize)]
struct AsOf<'a> {
    label: &'a str,
    snapshot_at: String,
}

#[derive(Debug, Serialize)]
struct RestoreInputs<'a> {
    cluster_time: &'a str,
    ops_database: &'a str,
    repository: &'a str,
    target: String,
    target_time: String,
    target_exists: bool,
    label: &'a str,
    as_of: AsOf<'a>,
    chain: &'a [ChainEntry],
    restore_jobs: usize,
    resume: &'a [RestoreResume],
    #[serde(skip_serializing_if = "Option::is_none")]
    adopt: Option<&'a Adoption>,
    /// The label of our claim row when continuing a dead run (withdrawn after the takeover).
    #[serde(skip_serializing_if = "Option::is_none")]
    claim_label: Option<&'a str>,
}

/// RestoreSnapshot + PollRestore for the links of `entries` after the first `skip`.
fn link_steps(
    cfg: &Config,
    target: &TableRef,
    label: &str,
    entries: &[ChainEntry],
    skip: usize,
) -> Vec<Step> {
    let db = target.database.as_str();
    let links = u32::try_from(entries.len()).unwrap_or(u32::MAX);
    let mut steps = Vec::new();
    for (i, e) in entries.iter().enumerate().skip(skip) {
        let link = u32::try_from(i + 1).unwrap_or(u32::MAX);
        steps.push(job_step(
            db,
            label,
            StepKind::RestoreSnapshot,
            format!(
                "RESTORE {} partition(s) of {target} from snapshot {} ({link} of {links})",
                e.partitions.len(),
                e.label
            ),
            restore_sql(cfg, target, e),
            super::submission(cfg),
            Some(Details::Other(
                serde_json::to_value(RestoreJob {
                    snapshot_label: e.label.clone(),
                    backup_timestamp: e.backup_timestamp.clone(),
                    table: target.table.clone(),
                    partitions: e.partitions.clone(),
                    replication_num: e.replication_num,
                    link,
                    links,
                })
                .unwrap_or_default(),
            )),
        ));
        steps.push(poll_step(
            cfg,
            db,
            label,
            RestorePoll {
                snapshot_label: Some(e.label.clone()),
                backup_timestamp: Some(e.backup_timestamp.clone()),
                link,
                links,
                initial_ms: cfg.poll.initial_ms,
                max_ms: cfg.poll.max_ms,
                job_timeout_s: cfg.job_timeout_s,
                resume: false,
            },
            format!(
                "poll SHOW RESTORE until the job of {} is FINISHED (next job only then) or CANCELLED (chain stops)",
                e.label
            ),
        ));
    }
    steps
}

/// Compiles the restore plan. `suffix` is the per-attempt label part (None for a dry run).
/// With `state.adopt`, the plan continues that dead run (see [`Adoption`]) instead.
pub fn plan_restore(
    cfg: &Config,
    state: &RestoreState,
    chain: &Chain,
    suffix: Option<&str>,
) -> Plan {
    let target = &state.target;
    let db = target.database.as_str();
    let own_label = restore_label(target, state.target_time, suffix);
    let adopt = state.adopt.as_ref();
    // Continuing: every step belongs to the adopted run's job; our own label only names the claim row.
    let label = adopt.map_or(own_label.clone(), |a| a.label.clone());
    let entries: Vec<ChainEntry> = match adopt {
        Some(a) => a.chain.clone(),
        None => chain.links.iter().map(ChainEntry::from).collect(),
    };
    let chain_json = serde_json::to_string(&entries).unwrap_or_else(|_| "[]".into());
    let target_time = state.target_time.format(TIME_FORMAT).to_string();
    let running_row = RestoreRunningRow {
        label: &own_label,
        database: db,
        table: &target.table,
        target_time: &target_time,
        chain_json: &chain_json,
    };

    let step = |kind, description: String, sql: String, details| {
        job_step(
            db,
            &label,
            kind,
            description,
            sql,
            super::idempotent(cfg),
            details,
        )
    };
    let check = |recheck: bool, adopted: Option<String>| {
        step(
            StepKind::CheckTargetAbsent,
            match (&adopted, recheck) {
                (Some(a), _) => format!("{target} must exist if {a} restored a link (it created it), else must not (exit 4)"),
                (None, true) => format!("re-check right before the first RESTORE that {target} does not exist (else withdraw, exit 4)"),
                (None, false) => format!("refuse (exit 4) if {target} exists"),
            },
            target_exists_sql(target),
            Some(Details::Other(
                serde_json::to_value(TargetCheck {
                    table: target.to_string(),
                    recheck,
                    adopted,
                })
                .unwrap_or_default(),
            )),
        )
    };
    let claim = || {
        step(
            StepKind::Claim,
            format!(
                "wait until the cluster clock passed our started_at, then proceed only if ours is the oldest live RUNNING backup or restore row of {db}"
            ),
            select_running_sql(&cfg.ops_database, db),
            Some(Details::Claim {
                heartbeat_stale_s: cfg.heartbeat_stale_s,
            }),
        )
    };

    let mut steps = plan_restore_resume(cfg, &state.resume);
    match adopt {
        None => {
            steps.push(check(false, None));
            steps.push(step(
                StepKind::RecordRestoreRunning,
                format!(
                    "write the RUNNING restore_history row for {target} as of {target_time} (the claim)"
                ),
                insert_restore_running_sql(&cfg.ops_database, &running_row),
                None,
            ));
            steps.push(claim());
            steps.push(check(true, None));
            steps.extend(link_steps(cfg, target, &label, &entries, 0));
        }
        Some(a) => {
            steps.push(step(
                StepKind::AdoptRestore,
                format!(
                    "write our claim row {own_label}, naming the dead run {} this run continues",
                    a.label
                ),
                insert_restore_claim_sql(&cfg.ops_database, &running_row, &a.label),
                Some(Details::Other(
                    serde_json::to_value(AdoptClaim {
                        adopts: a.label.clone(),
                        claim_label: own_label.clone(),
                    })
                    .unwrap_or_default(),
                )),
            ));
            steps.push(claim());
            steps.push(step(
                StepKind::TakeOverRestore,
                format!(
                    "take {} over (fresh heartbeat: it is live again; refuse if it is no longer RUNNING), then withdraw our claim row",
                    a.label
                ),
                takeover_restore_sql(&cfg.ops_database, &a.label),
                Some(Details::Other(
                    serde_json::to_value(TakeOver {
                        adopts: a.label.clone(),
                        claim_label: own_label.clone(),
                        release_sql: withdraw_sql(&cfg.ops_database, RESTORE_HISTORY, &own_label),
                    })
                    .unwrap_or_default(),
                )),
            ));
            steps.push(step(
                StepKind::ResumeRestore,
                match &a.current_label {
                    Some(c) => format!(
                        "look the RESTORE of {c} up in SHOW RESTORE (Label + Timestamp) and wait for its end: decides which links StarRocks already ran"
                    ),
                    None => "the dead run recorded no RESTORE: check SHOW RESTORE, then start at the first link".to_string(),
                },
                show_restore_sql(db),
                Some(Details::Other(
                    serde_json::to_value(ResumeJob {
                        adopts: a.label.clone(),
                        table: target.to_string(),
                        current_label: a.current_label.clone(),
                        started_at: a.started_at.clone(),
                        links: a.links(),
                        links_done: a.links_done,
                        initial_ms: cfg.poll.initial_ms,
                        max_ms: cfg.poll.max_ms,
                        job_timeout_s: cfg.job_timeout_s,
                    })
                    .unwrap_or_default(),
                )),
            ));
            steps.push(check(true, Some(a.label.clone())));
            if let Some(done) = a.links_done {
                let skip = usize::try_from(done).unwrap_or(usize::MAX);
                steps.extend(link_steps(cfg, target, &label, &entries, skip));
            }
        }
    }
    steps.push(restore_finalize_step(cfg, db, &label));

    let restore_jobs = adopt.map_or(entries.len(), |a| a.links_remaining.len());
    let inputs = RestoreInputs {
        cluster_time: &state.cluster_time,
        ops_database: &cfg.ops_database,
        repository: &cfg.repository,
        target: target.to_string(),
        target_time,
        target_exists: state.target_exists,
        label: &label,
        as_of: AsOf {
            label: &chain.as_of_label,
            snapshot_at: chain.as_of.format(TIME_FORMAT).to_string(),
        },
        chain: &entries,
        restore_jobs,
        resume: &state.resume,
        adopt,
        claim_label: adopt.map(|_| own_label.as_str()),
    };
    Plan::new(
        Command::Restore,
        serde_json::to_value(inputs).unwrap_or_default(),
        steps,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn cfg() -> Config {
        Config::parse(
            Path::new("t.yaml"),
            "connection: {host: h, user: u}\nrepository: repo\ntables: [sales.orders]\nreplication_num: 1\n",
        )
        .unwrap()
    }

    fn t(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, TIME_FORMAT).unwrap()
    }

    fn link(label: &str, at: &str, parts: &[&str], rn: u32) -> ChainLink {
        ChainLink {
            label: label.into(),
            backup_timestamp: format!("ts-{label}"),
            snapshot_at: t(at),
            partitions: parts.iter().map(|p| p.to_string()).collect(),
            replication_num: rn,
            repository: String::new(),
        }
    }

    #[test]
    fn each_snapshot_is_restored_from_the_repository_its_row_names() {
        let target = TableRef::parse("sales.orders").unwrap();
        let mut l = link("b1", "2026-01-01 00:00:00", &["p1"], 1);
        let entry = ChainEntry::from(&l);
        assert!(restore_sql(&cfg(), &target, &entry).contains(" FROM `repo` ON "));
        l.repository = "old_repo".into();
        let entry = ChainEntry::from(&l);
        assert!(restore_sql(&cfg(), &target, &entry).contains(" FROM `old_repo` ON "));
    }

    fn state(exists: bool, resume: Vec<RestoreResume>) -> RestoreState {
        RestoreState {
            cluster_time: "2026-01-02 00:00:00".into(),
            target: TableRef::parse("sales.orders").unwrap(),
            target_time: t("2026-01-01 12:00:00"),
            target_exists: exists,
            resume,
            adopt: None,
        }
    }

    fn kinds(p: &Plan) -> Vec<StepKind> {
        p.steps.iter().map(|s| s.kind).collect()
    }

    fn restores(p: &Plan) -> Vec<&str> {
        p.steps
            .iter()
            .filter(|s| s.kind == StepKind::RestoreSnapshot)
            .filter_map(|s| s.sql.as_deref())
            .collect()
    }

    #[test]
    fn plans_per_chain_shape() {
        use StepKind::*;
        let head = [
            CheckTargetAbsent,
            RecordRestoreRunning,
            Claim,
            CheckTargetAbsent,
        ];
        // (name, links, expected RESTORE statements)
        let cases: Vec<(&str, Vec<ChainLink>, Vec<&str>)> = vec![
            (
                "full only",
                vec![link("full0", "2026-01-01 00:00:13", &["p1", "p2"], 1)],
                vec!["RESTORE SNAPSHOT `sales`.`full0` FROM `repo` ON (`orders` PARTITION (`p1`, `p2`)) PROPERTIES (\"backup_timestamp\" = \"ts-full0\", \"replication_num\" = \"1\", \"timeout\" = \"86400\")"],
            ),
            (
                "full + two incrementals, one RESTORE per snapshot, oldest first",
                vec![
                    link("full0", "2026-01-01 00:00:13", &["p1", "p4"], 3),
                    link("incr1", "2026-01-01 01:00:13", &["p2"], 3),
                    link("incr2", "2026-01-01 02:00:13", &["p3", "p5"], 3),
                ],
                vec![
                    "RESTORE SNAPSHOT `sales`.`full0` FROM `repo` ON (`orders` PARTITION (`p1`, `p4`)) PROPERTIES (\"backup_timestamp\" = \"ts-full0\", \"replication_num\" = \"3\", \"timeout\" = \"86400\")",
                    "RESTORE SNAPSHOT `sales`.`incr1` FROM `repo` ON (`orders` PARTITION (`p2`)) PROPERTIES (\"backup_timestamp\" = \"ts-incr1\", \"replication_num\" = \"3\", \"timeout\" = \"86400\")",
                    "RESTORE SNAPSHOT `sales`.`incr2` FROM `repo` ON (`orders` PARTITION (`p3`, `p5`)) PROPERTIES (\"backup_timestamp\" = \"ts-incr2\", \"replication_num\" = \"3\", \"timeout\" = \"86400\")",
                ],
            ),
        ];
        for (name, links, want) in cases {
            let chain = Chain {
                as_of_label: links.last().unwrap().label.clone(),
                as_of: links.last().unwrap().snapshot_at,
                links: links.clone(),
            };
            let p = plan_restore(&cfg(), &state(false, vec![]), &chain, None);
            let mut expect: Vec<StepKind> = head.to_vec();
            for _ in &links {
                expect.extend([RestoreSnapshot, PollRestore]);
            }
            expect.push(Finalize);
            assert_eq!(kinds(&p), expect, "{name}");
            assert_eq!(restores(&p), want, "{name}");
            assert_eq!(p.inputs["restore_jobs"], links.len(), "{name}");
            assert_eq!(p.inputs["chain"].as_array().unwrap().len(), links.len());
            // every step belongs to the one restore job
            assert!(p
                .steps
                .iter()
                .all(|s| s.label.as_deref() == Some("bbr_restore_sales_orders_20260101120000")));
            // same inputs, same bytes
            assert_eq!(
                p.to_json(),
                plan_restore(&cfg(), &state(false, vec![]), &chain, None).to_json()
            );
        }
    }

    #[test]
    fn running_row_records_the_chain_and_polls_match_their_snapshot() {
        let chain = Chain {
            as_of_label: "incr1".into(),
            as_of: t("2026-01-01 01:00:13"),
            links: vec![
                link("full0", "2026-01-01 00:00:13", &["p1"], 1),
                link("incr1", "2026-01-01 01:00:13", &["p2"], 1),
            ],
        };
        let p = plan_restore(&cfg(), &state(false, vec![]), &chain, Some("abc123"));
        let rec = p.steps[1].sql.as_deref().unwrap();
        assert!(
            rec.starts_with("INSERT INTO `ops`.`restore_history`"),
            "{rec}"
        );
        assert!(rec.contains("'RUNNING', NOW(), NOW()"), "{rec}");
        assert!(rec.contains("\"label\":\"full0\""), "{rec}");
        assert!(rec.contains("'2026-01-01 12:00:00'"), "{rec}");
        let polls: Vec<RestorePoll> = p
            .steps
            .iter()
            .filter(|s| s.kind == StepKind::PollRestore)
            .map(|s| match &s.details {
                Some(Details::Other(v)) => serde_json::from_value(v.clone()).unwrap(),
                d => panic!("{d:?}"),
            })
            .collect();
        assert_eq!(polls.len(), 2);
        assert_eq!(polls[1].snapshot_label.as_deref(), Some("incr1"));
        assert_eq!(polls[1].backup_timestamp.as_deref(), Some("ts-incr1"));
        assert_eq!((polls[1].link, polls[1].links), (2, 2));
        assert!(!polls[0].resume);
        let fin = p.steps.last().unwrap().sql.as_deref().unwrap();
        assert!(
            fin.contains("${status}") && fin.contains("${error_message}"),
            "{fin}"
        );
        assert!(fin.contains("bbr_restore_sales_orders_20260101120000_abc123"));
        let claim = p.steps[2].sql.as_deref().unwrap();
        assert!(claim.contains("`restore_history`") && claim.contains("`backup_history`"));
    }

    #[test]
    fn resume_steps_come_first_and_read_the_dead_runs_chain() {
        let chain_json = serde_json::to_string(&vec![
            ChainEntry::from(&link("full0", "2026-01-01 00:00:13", &["p1"], 1)),
            ChainEntry::from(&link("incr1", "2026-01-01 01:00:13", &["p2"], 1)),
        ])
        .unwrap();
        let row = |cur: Option<&str>| RestoreRow {
            label: "bbr_restore_old".into(),
            database: "sales".into(),
            table: "orders".into(),
            started_at: None,
            heartbeat_at: None,
            chain: Some(chain_json.clone()),
            current_label: cur.map(str::to_string),
            target_time: None,
            error_message: None,
        };
        let cases = [
            (Some("incr1"), Some("ts-incr1"), 2),
            (Some("full0"), Some("ts-full0"), 1),
            (None, None, 0),
        ];
        for (cur, ts, pos) in cases {
            let r = RestoreResume::from_row(&row(cur), "stale");
            assert_eq!(r.backup_timestamp.as_deref(), ts);
            assert_eq!((r.link, r.links), (pos, 2));
        }
        let resume = vec![RestoreResume::from_row(&row(Some("incr1")), "stale")];
        let chain = Chain {
            as_of_label: "full0".into(),
            as_of: t("2026-01-01 00:00:13"),
            links: vec![link("full0", "2026-01-01 00:00:13", &["p1"], 1)],
        };
        let p = plan_restore(&cfg(), &state(false, resume), &chain, None);
        assert_eq!(p.steps[0].kind, StepKind::PollRestore);
        assert_eq!(p.steps[0].label.as_deref(), Some("bbr_restore_old"));
        assert_eq!(p.steps[1].kind, StepKind::Finalize);
        assert_eq!(p.steps[2].kind, StepKind::CheckTargetAbsent);
    }

    fn lref(l: &str) -> LinkRef {
        LinkRef {
            label: l.into(),
            backup_timestamp: format!("ts-{l}"),
        }
    }

    fn job(l: &str, state: &str, created: &str) -> ShowRestoreJob {
        ShowRestoreJob {
            label: l.into(),
            timestamp: format!("ts-{l}"),
            state: state.into(),
            status: "[COMMON_ERROR, msg: x]".into(),
            create_time: Some(t(created)),
        }
    }

    #[test]
    fn judge_never_guesses_what_starrocks_ran() {
        let links = [lref("full0"), lref("incr1")];
        let started = Some(t("2026-01-02 00:00:00"));
        let after = "2026-01-02 00:00:05";
        let before = "2026-01-01 23:00:00";
        let go = |done, wait: Option<&str>| Progress::Continue {
            done,
            wait: wait.map(str::to_string),
        };
        let unknown = |p: &Progress| matches!(p, Progress::Unknown(_));
        // (current_label, SHOW RESTORE's row, table exists) -> judgement
        let j = |cur: Option<&str>, last: Option<ShowRestoreJob>, exists| {
            judge(&links, cur, started, last.as_ref(), exists)
        };
        assert_eq!(j(None, None, false), go(0, None));
        assert_eq!(
            j(Some("incr1"), Some(job("incr1", "FINISHED", after)), true),
            go(2, None)
        );
        assert_eq!(
            j(
                Some("incr1"),
                Some(job("incr1", "DOWNLOADING", after)),
                true
            ),
            go(2, Some("DOWNLOADING"))
        );
        assert!(matches!(
            j(Some("incr1"), Some(job("incr1", "CANCELLED", after)), true),
            Progress::Cancelled(_)
        ));
        // the last job is the previous link's, FINISHED: the current one never reached StarRocks
        assert_eq!(
            j(Some("incr1"), Some(job("full0", "FINISHED", after)), true),
            go(1, None)
        );
        // first link: nothing of ours visible and no table: never submitted
        assert_eq!(j(Some("full0"), None, false), go(0, None));
        assert_eq!(
            j(Some("full0"), Some(job("full0", "FINISHED", before)), false),
            go(0, None)
        );
        // ... but with the table there, or an older job of the same snapshot, it cannot be told
        assert!(unknown(&j(Some("full0"), None, true)));
        assert!(unknown(&j(
            Some("incr1"),
            Some(job("incr1", "FINISHED", before)),
            true
        )));
        assert!(unknown(&j(Some("incr1"), None, true)));
        assert!(unknown(&j(
            Some("incr1"),
            Some(job("other", "FINISHED", after)),
            true
        )));
        assert!(unknown(&j(Some("nope"), None, true)));
    }

    #[test]
    fn adoption_needs_the_same_table_and_target_and_a_chain() {
        let chain_json = serde_json::to_string(&vec![ChainEntry::from(&link(
            "full0",
            "2026-01-01 00:00:13",
            &["p1"],
            1,
        ))])
        .unwrap();
        let row = |label: &str, table: &str, at: &str, cur: Option<&str>, note: Option<&str>| {
            RestoreRow {
                label: label.into(),
                database: "sales".into(),
                table: table.into(),
                started_at: Some(format!("2026-01-02 00:00:0{}", label.len() % 10)),
                heartbeat_at: None,
                chain: Some(chain_json.clone()),
                current_label: cur.map(str::to_string),
                target_time: Some(at.into()),
                error_message: note.map(str::to_string),
            }
        };
        let target = TableRef::parse("sales.orders").unwrap();
        let at = t("2026-01-01 12:00:00");
        let pick =
            |rows: Vec<RestoreRow>| pick_adoption(&rows, &target, at).map(|r| r.label.clone());
        let same = "2026-01-01 12:00:00";
        assert_eq!(
            pick(vec![row("a", "orders", same, None, None)]),
            Some("a".into())
        );
        assert_eq!(pick(vec![row("a", "customers", same, None, None)]), None);
        assert_eq!(
            pick(vec![row("a", "orders", "2026-01-01 11:00:00", None, None)]),
            None
        );
        let claim = format!("{ADOPT_NOTE}a");
        assert_eq!(
            pick(vec![
                row("bb", "orders", same, None, Some(&claim)),
                row("a", "orders", same, Some("full0"), None)
            ]),
            Some("a".into()),
            "a dead adopter's claim row is never adopted"
        );
        assert_eq!(
            pick(vec![
                row("a", "orders", same, Some("full0"), None),
                row("bb", "orders", same, Some("full0"), None)
            ]),
            None,
            "two runs that both submitted: cannot tell which one the table holds"
        );
    }

    #[test]
    fn labels_are_bounded_and_sanitised() {
        let long = TableRef {
            database: "d".repeat(200),
            table: "we-ird.t".repeat(40),
        };
        let l = restore_label(&long, t("2026-01-01 00:00:00"), Some("abcdef"));
        assert!(l.len() <= 96, "{}", l.len());
        assert!(l.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        assert!(l.ends_with("_20260101000000_abcdef"));
    }
}
