//! `restore`: compile a resolved chain (see [`super::chain`]) into the steps that rebuild one table.
//!
//! One RESTORE job per contributing snapshot, oldest first (StarRocks runs one job per database at a
//! time, so the runner submits the next only after the previous one FINISHED), each with that
//! snapshot's own `backup_timestamp`, the `replication_num` its partitions had, and an explicit
//! PARTITION list (so partitions dropped before the target time are never restored).
//! All jobs of one run share one `ops.restore_history` row, labelled by the run.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

mod adopt;
mod group;
mod placement;
pub mod scheduler;
pub use adopt::{
    judge, pick_adoption, recorded_chain, AdoptClaim, Adoption, LinkRef, Progress, RestoreResume,
    ResumeJob, ShowRestoreJob, TakeOver,
};
pub use group::{
    group_jobs, group_label, plan_group_restore, set_aside_plan, GroupJob, GroupTable, GROUP_PREFIX,
};
pub use placement::{placement, side_name, Placement, Promote, RestoreMode, Unplaceable};

use super::chain::{Chain, ChainLink};
use super::{finalize_step, job_step};
use crate::config::{Config, TableRef};
use crate::history::{
    finalize_restore_template, insert_restore_claim_sql, insert_restore_running_sql,
    select_running_sql, takeover_restore_sql, withdraw_sql, RestoreRunningRow,
    RESTORE_FINALIZE_PLACEHOLDERS, RESTORE_HISTORY,
};
pub use crate::plan::details::{PromoteJob, RestoreJob, RestorePoll, TargetCheck};
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
    /// Partitions of the target table this snapshot supplies (empty in a compact record).
    pub partitions: Vec<String>,
    /// Compact record (the whole chain would not fit one STRING cell): how many partitions the
    /// link supplies, its list left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_count: Option<usize>,
    /// The repository the snapshot was written to (absent in chains recorded before schema
    /// version 2: the configured repository).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub repository: String,
}

/// The largest value of a StarRocks STRING cell (VARCHAR(65533)); a longer one fails the INSERT.
pub const STRING_CELL_MAX: usize = 65_533;

/// `restore_history.chain` as recorded: the whole chain, or — when that would not fit one STRING
/// cell (a table with tens of thousands of partitions) — each link with its partition count
/// instead of its list, so the cell stays bounded by the number of links. Continuing a run from a
/// compact record uses the chain resolved again from the history (checked equal by [`same_chain`]).
pub fn recorded_chain_json(entries: &[ChainEntry]) -> String {
    let full = serde_json::to_string(entries).unwrap_or_else(|_| "[]".into());
    if full.len() <= STRING_CELL_MAX {
        return full;
    }
    let compact: Vec<ChainEntry> = entries
        .iter()
        .map(|e| ChainEntry {
            partitions: Vec::new(),
            partition_count: Some(e.partitions.len()),
            ..e.clone()
        })
        .collect();
    serde_json::to_string(&compact).unwrap_or_else(|_| "[]".into())
}

/// Whether a recorded chain (whole or compact) describes the chain resolved `now`.
pub fn same_chain(now: &[ChainEntry], recorded: &[ChainEntry]) -> bool {
    now.len() == recorded.len()
        && now.iter().zip(recorded).all(|(n, r)| {
            n.label == r.label
                && n.backup_timestamp == r.backup_timestamp
                && n.snapshot_at == r.snapshot_at
                && n.replication_num == r.replication_num
                && match r.partition_count {
                    Some(k) => n.partitions.len() == k,
                    None => n.partitions == r.partitions,
                }
        })
}

impl From<&ChainLink> for ChainEntry {
    fn from(l: &ChainLink) -> Self {
        ChainEntry {
            label: l.label.clone(),
            backup_timestamp: l.backup_timestamp.clone(),
            snapshot_at: l.snapshot_at.format(TIME_FORMAT).to_string(),
            replication_num: l.replication_num,
            partitions: l.partitions.clone(),
            partition_count: None,
            repository: l.repository.clone(),
        }
    }
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
    /// Plain, `--as NAME` or `--replace`.
    pub mode: RestoreMode,
    /// The repository each snapshot was written to (its backup_history row), by label; a label
    /// absent here (or NULL there) is in the configured repository.
    pub repositories: BTreeMap<String, String>,
}

/// The repository holding snapshot `label`.
pub fn repository_of<'a>(
    cfg: &'a Config,
    repositories: &'a BTreeMap<String, String>,
    label: &str,
) -> &'a str {
    repositories
        .get(label)
        .map_or(cfg.repository.as_str(), String::as_str)
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

/// Label prefix of plain restores: only their dead runs are continued (an `--as` / `--replace` run
/// is finished by the next run and started afresh under new side names).
pub const PLAIN_PREFIX: &str = "bbr_restore_";

/// `bbr_restore_<db>_<table>_<target YYYYMMDDHHMMSS>[_<suffix>]` (`bbr_restoas_` for `--as`,
/// `bbr_replace_` for `--replace`), at most 96 characters.
pub fn restore_label(
    target: &TableRef,
    target_time: NaiveDateTime,
    suffix: Option<&str>,
) -> String {
    mode_label(&RestoreMode::Plain, target, target_time, suffix)
}

/// [`restore_label`] for a mode.
pub fn mode_label(
    mode: &RestoreMode,
    target: &TableRef,
    target_time: NaiveDateTime,
    suffix: Option<&str>,
) -> String {
    let prefix = match mode {
        RestoreMode::Plain => PLAIN_PREFIX,
        RestoreMode::As(_) => "bbr_restoas_",
        RestoreMode::Replace => "bbr_replace_",
    };
    let stamp = target_time.format("%Y%m%d%H%M%S");
    let base = format!(
        "{prefix}{}_{}_{stamp}",
        sanitise(&target.database, 24),
        sanitise(&target.table, 32)
    );
    match suffix {
        Some(s) => format!("{base}_{}", sanitise(s, 8)),
        None => base,
    }
}

/// The RESTORE statement for one snapshot of the chain (`AS alias`: a new table of that name).
pub fn restore_sql(
    cfg: &Config,
    repository: &str,
    target: &TableRef,
    link: &ChainEntry,
    alias: Option<&str>,
) -> String {
    let parts: Vec<String> = link.partitions.iter().map(|p| ident(p)).collect();
    let alias = alias
        .map(|a| format!(" AS {}", ident(a)))
        .unwrap_or_default();
    format!(
        "RESTORE SNAPSHOT {} FROM {} ON ({} PARTITION ({}){alias}) PROPERTIES ({}, {}, {})",
        qualified(&target.database, &link.label),
        ident(repository),
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

/// The statement that gives the restored table its final name.
pub fn promote_sql(db: &str, p: &Promote) -> String {
    match p {
        Promote::Rename { from, to } => {
            format!("ALTER TABLE {} RENAME {}", qualified(db, from), ident(to))
        }
        Promote::Swap { live, stage } => format!(
            "ALTER TABLE {} SWAP WITH {}",
            qualified(db, live),
            ident(stage)
        ),
    }
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
        Some(Details::RestorePoll(poll)),
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
        // The dead run may have died between its RESTORE finishing and its switch-off. Only plain
        // and group runs restore under the recorded table names: an --as / --replace run wrote a
        // stage table, and its recorded name is the LIVE table, whose scheduler is not ours to stop.
        if j.label.starts_with(PLAIN_PREFIX) || j.label.starts_with(GROUP_PREFIX) {
            let tables: Vec<(String, String)> = j
                .table
                .split(',')
                .map(|t| (t.to_string(), t.to_string()))
                .collect();
            steps.push(scheduler::stop_scheduler_step(
                cfg,
                &j.database,
                &j.label,
                &tables,
            ));
        }
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
    /// `--as` / `--replace`: the names the restore works with.
    #[serde(skip_serializing_if = "Option::is_none")]
    placement: Option<&'a Placement>,
}

/// RestoreSnapshot + PollRestore for the links of `entries` after the first `skip`.
fn link_steps(
    cfg: &Config,
    target: &TableRef,
    place: &Placement,
    repositories: &BTreeMap<String, String>,
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
                "RESTORE {} partition(s) of {target} from snapshot {} ({link} of {links}){}",
                e.partitions.len(),
                e.label,
                match place.alias(target) {
                    Some(a) => format!(" as {db}.{a}"),
                    None if link >= 2 =>
                        format!(" (first checks that {db}.{} still exists)", place.work),
                    None => String::new(),
                }
            ),
            restore_sql(
                cfg,
                repository_of(cfg, repositories, &e.label),
                target,
                e,
                place.alias(target),
            ),
            super::submission(cfg),
            Some(Details::RestoreJob(RestoreJob {
                snapshot_label: e.label.clone(),
                backup_timestamp: e.backup_timestamp.clone(),
                table: place.work.clone(),
                partitions: e.partitions.clone(),
                replication_num: e.replication_num,
                link,
                links,
                aside_on_failure: if link >= 2 {
                    place.aside_on_failure.clone()
                } else {
                    None
                },
                check_tables: Vec::new(),
                asides: Vec::new(),
            })),
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
        steps.push(scheduler::stop_scheduler_step(
            cfg,
            db,
            label,
            &[(place.work.clone(), place.final_name.clone())],
        ));
    }
    steps
}

/// The label a restore plan's jobs run under: the adopted dead run's when continuing one, else
/// this run's own (for the command's report, without reading the plan back).
pub fn run_label(state: &RestoreState, suffix: Option<&str>) -> String {
    state.adopt.as_ref().map_or_else(
        || mode_label(&state.mode, &state.target, state.target_time, suffix),
        |a| a.label.clone(),
    )
}

/// Compiles the restore plan. `suffix` is the per-attempt label part (None for a dry run).
/// With `state.adopt`, the plan continues that dead run (see [`Adoption`]) instead.
pub fn plan_restore(
    cfg: &Config,
    state: &RestoreState,
    chain: &Chain,
    suffix: Option<&str>,
) -> Result<Plan, Unplaceable> {
    let target = &state.target;
    let db = target.database.as_str();
    let own_label = mode_label(&state.mode, target, state.target_time, suffix);
    let adopt = state.adopt.as_ref();
    let links_total = adopt.map_or(chain.links.len(), |a| a.chain.len());
    let stamp = state.target_time.format("%Y%m%d%H%M%S").to_string();
    let place = placement(
        &state.mode,
        target,
        links_total,
        &stamp,
        suffix.map(|s| sanitise(s, 8)).as_deref(),
    )?;
    // The names that must not exist before the first RESTORE (the final name, and the snapshot's
    // name when the jobs write it before a rename; for --replace the stage).
    let mut absent: Vec<TableRef> = Vec::new();
    if place.mode != RestoreMode::Replace {
        absent.push(TableRef {
            database: db.to_string(),
            table: place.final_name.clone(),
        });
    }
    if place.work != place.final_name {
        absent.push(TableRef {
            database: db.to_string(),
            table: place.work.clone(),
        });
    }
    // Continuing: every step belongs to the adopted run's job; our own label only names the claim row.
    let label = run_label(state, suffix);
    // Continuing: adoption required the recorded chain to be this one (same_chain), and a compact
    // record has no partition lists, so the links always come from the resolved chain.
    let entries: Vec<ChainEntry> = chain.links.iter().map(ChainEntry::from).collect();
    let chain_json = recorded_chain_json(&entries);
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
    let check_one = |recheck: bool, adopted: Option<String>, name: &TableRef| {
        step(
            StepKind::CheckTargetAbsent,
            match (&adopted, recheck) {
                (Some(a), _) => format!("{name} must exist if {a} restored a link (it created it), else must not (exit 4)"),
                (None, true) => format!("re-check right before the first RESTORE that {name} does not exist (else withdraw, exit 4)"),
                (None, false) => format!("refuse (exit 4) if {name} exists"),
            },
            target_exists_sql(name),
            Some(Details::TargetCheck(TargetCheck {
                    table: name.to_string(),
                    recheck,
                    adopted,
                })),
        )
    };
    let check = |recheck: bool, adopted: Option<String>| -> Vec<Step> {
        match &adopted {
            Some(_) => vec![check_one(recheck, adopted.clone(), target)],
            None => absent.iter().map(|n| check_one(recheck, None, n)).collect(),
        }
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

    // RestoreSnapshot + PollRestore of the links after the first `skip`.
    let links_from = |skip: usize| {
        link_steps(
            cfg,
            target,
            &place,
            &state.repositories,
            &label,
            &entries,
            skip,
        )
    };
    let mut steps = plan_restore_resume(cfg, &state.resume);
    match adopt {
        None => {
            steps.extend(check(false, None));
            steps.push(step(
                StepKind::RecordRestoreRunning,
                format!(
                    "write the RUNNING restore_history row for {target} as of {target_time} (the claim)"
                ),
                insert_restore_running_sql(&cfg.ops_database, &running_row),
                None,
            ));
            steps.push(claim());
            steps.extend(check(true, None));
            steps.extend(links_from(0));
        }
        Some(a) => {
            steps.push(step(
                StepKind::AdoptRestore,
                format!(
                    "write our claim row {own_label}, naming the dead run {} this run continues",
                    a.label
                ),
                insert_restore_claim_sql(&cfg.ops_database, &running_row, &a.label),
                Some(Details::AdoptClaim(AdoptClaim {
                    adopts: a.label.clone(),
                    claim_label: own_label.clone(),
                })),
            ));
            steps.push(claim());
            steps.push(step(
                StepKind::TakeOverRestore,
                format!(
                    "take {} over (fresh heartbeat: it is live again; refuse if it is no longer RUNNING), then withdraw our claim row",
                    a.label
                ),
                takeover_restore_sql(&cfg.ops_database, &a.label),
                Some(Details::TakeOver(TakeOver {
                        adopts: a.label.clone(),
                        claim_label: own_label.clone(),
                        release_sql: withdraw_sql(&cfg.ops_database, RESTORE_HISTORY, &own_label),
                    })),
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
                Some(Details::ResumeJob(ResumeJob {
                        adopts: a.label.clone(),
                        table: target.to_string(),
                        current_label: a.current_label.clone(),
                        started_at: a.started_at.clone(),
                        links: a.links(),
                        links_done: a.links_done,
                        initial_ms: cfg.poll.initial_ms,
                        max_ms: cfg.poll.max_ms,
                        job_timeout_s: cfg.job_timeout_s,
                    })),
            ));
            steps.extend(check(true, Some(a.label.clone())));
            if let Some(done) = a.links_done {
                // the dead run may have died between a RESTORE finishing and its switch-off
                steps.push(scheduler::stop_scheduler_step(
                    cfg,
                    db,
                    &label,
                    &[(place.work.clone(), place.final_name.clone())],
                ));
                let skip = usize::try_from(done).unwrap_or(usize::MAX);
                steps.extend(links_from(skip));
            }
        }
    }
    if let Some(p) = &place.promote {
        let (what, previous) = match p {
            Promote::Rename { from, to } => (
                format!("rename the complete table {db}.{from} to {db}.{to}"),
                None,
            ),
            Promote::Swap { live, stage } => (
                format!("swap the restored {db}.{stage} in as {db}.{live} in one statement; the previous table is kept as {db}.{stage}"),
                Some(format!("{db}.{stage}")),
            ),
        };
        steps.push(step(
            StepKind::PromoteRestore,
            what,
            promote_sql(db, p),
            Some(Details::PromoteJob(PromoteJob {
                table: format!("{db}.{}", place.final_name),
                restored: format!("{db}.{}", place.work),
                previous_kept_as: previous,
            })),
        ));
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
        placement: (place.mode != RestoreMode::Plain).then_some(&place),
    };
    Ok(Plan::new(
        Command::Restore,
        serde_json::to_value(inputs).unwrap_or_default(),
        steps,
    ))
}

#[cfg(test)]
mod tests;
