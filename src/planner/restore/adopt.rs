//! Continuing or finishing dead restore runs: which stale row a restore adopts, how far StarRocks
//! got (judged from SHOW RESTORE), and the typed details of the AdoptRestore / TakeOverRestore /
//! ResumeRestore steps (plans/README.md "Continuing a dead restore").

use chrono::NaiveDateTime;
use serde::Serialize;

use super::{ChainEntry, PLAIN_PREFIX, TIME_FORMAT};
use crate::config::TableRef;
use crate::history::{RestoreRow, ADOPT_NOTE};
pub use crate::plan::details::{AdoptClaim, LinkRef, ResumeJob, TakeOver};

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
        .filter(|r| r.label.starts_with(PLAIN_PREFIX))
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
