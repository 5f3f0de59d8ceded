//! Executes a Plan step by step. Steps that share a label form a job: when one of its steps fails,
//! the rest of that job is skipped (after recording the failure), and other jobs go on.
//!
//! Kinds with behaviour beyond "send the SQL with the step's retry policy" are handled here:
//! Claim, CheckBase, IssueBackup, PollBackup, ResolveSnapshotTimestamp and Finalize. Any other kind
//! (CreateDatabase, CreateTable, RecordRunning, RecordManifest, and kinds added later) is executed
//! generically, so new commands (restore) add only the kinds that need judgement.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use tracing::{debug, info, warn};

use crate::cluster::{Cluster, ResultSet, SqlError};
use crate::config::Config;
use crate::error::{BbrError, ExitCode};
use crate::history::{self, FinalizeValues, BACKUP_HISTORY, RESTORE_HISTORY};
use crate::plan::{Command, Details, Plan, RetryPolicy, Step, StepDetails, StepKind};
use crate::planner::backup::{cancel_backup_sql, show_backup_sql, show_snapshot_sql};
use crate::planner::catalog::is_catalog_label;
use crate::poll::{human, PollCadence, ProgressTicker};
use crate::signals;
use crate::sql::{literal, opt_literal};
use crate::state::{cluster_now, parse_time};

mod backup;
mod expire;
pub mod parallel;
mod recover;
mod restore;
mod scheduler;
mod stop;

use stop::log_summary;

/// The typed details of kind `T` a step carries. A plan of this version always has them: their
/// absence or another kind is a bug, reported as one.
fn details<T: StepDetails>(step: &Step) -> Result<&T, BbrError> {
    let found = step.details.as_ref();
    found.and_then(T::of).ok_or_else(|| {
        BbrError::usage(
            format!(
                "step {} has {}",
                step.kind,
                if found.is_some() {
                    "details of another kind"
                } else {
                    "no details"
                }
            ),
            "report this (the plan was not produced by this version)",
        )
    })
}

pub use recover::RecoverReport;

/// How a job ended, for the caller to print.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobReport {
    pub database: String,
    pub label: String,
    /// FINISHED, FAILED, WITHDRAWN (refused before any job was sent) or RUNNING (left for resume).
    pub status: String,
    pub backup_type: Option<String>,
    pub partitions: Option<u32>,
    pub backup_timestamp: Option<String>,
    pub error: Option<String>,
    /// True when this run finished a job a dead run had started.
    pub resumed: bool,
    /// Wall time this run spent on the job.
    pub elapsed_ms: u64,
}

/// The result of running a plan: per-job reports and the error that decides the exit code.
#[derive(Debug, Default)]
pub struct RunOutcome {
    pub jobs: Vec<JobReport>,
    pub error: Option<BbrError>,
    /// Expire: snapshots StarRocks refused to drop (label, its answer), left to the operator.
    pub refused_drops: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Finished,
    Failed(String),
}

#[derive(Debug, Default)]
struct Job {
    database: String,
    recorded: bool,
    issued: bool,
    resumed: bool,
    done: bool,
    finalized: bool,
    outcome: Option<Outcome>,
    backup_type: Option<String>,
    partitions: Option<u32>,
    backup_timestamp: Option<String>,
    snapshot_at: Option<String>,
    error: Option<BbrError>,
    /// Continuing a dead restore: our claim row's label until the takeover (the Claim step's row).
    claim_label: Option<String>,
    /// Continuing a dead restore: the links StarRocks ran, as ResumeRestore judged them.
    links_done: Option<u32>,
    /// Restore: links this run saw FINISHED.
    links_finished: u32,
    /// Restore with several links: where a partial table goes when a later link fails.
    aside_on_failure: Vec<(String, String)>,
    /// When this run reached the job's first step (for the summary's durations).
    started: Option<std::time::Instant>,
    /// The outcome could not be read (a failing repository listing): leave the RUNNING row for
    /// the next run instead of recording a FAILED that may be wrong.
    keep_running: bool,
}

pub struct Runner<'a> {
    cluster: &'a mut Cluster,
    cfg: &'a Config,
    /// The plan's command: decides which history table RUNNING rows and Finalize write.
    command: Command,
    /// Expire: drops StarRocks refused (label, answer).
    refused_drops: Vec<(String, String)>,
    /// Added to SHOW BACKUP times to get them in the session zone (4.1: fixed +08:00).
    fe_time_shift: chrono::Duration,
    /// Session NOW() read just before this run sent its latest BACKUP/RESTORE: the job's
    /// CreateTime read back then calibrates `fe_time_shift` (the release rule is the fallback).
    submitted_at: Option<chrono::NaiveDateTime>,
}

impl<'a> Runner<'a> {
    pub fn new(cluster: &'a mut Cluster, cfg: &'a Config) -> Self {
        Runner {
            cluster,
            cfg,
            command: Command::Backup,
            refused_drops: Vec::new(),
            fe_time_shift: chrono::Duration::zero(),
            submitted_at: None,
        }
    }

    /// Remembers the session clock just before sending a job (see [`Runner::job_time`]).
    pub(crate) fn note_submit(&mut self) {
        self.submitted_at = self.now().ok();
    }

    /// A job's FE-formatted CreateTime in the session zone. The first one read after this run sent
    /// the job calibrates the shift: CreateTime is within seconds of the NOW() read before
    /// sending, so their difference rounded to a quarter hour is the zone the FE renders in —
    /// right on a release whose rule is unknown or a patch release with the 4.1 change backported.
    pub(crate) fn job_time(&mut self, fe: Option<String>) -> Option<chrono::NaiveDateTime> {
        let t = parse_time(&fe?)?;
        if let Some(before) = self.submitted_at.take() {
            let shift = crate::release::round_to_quarter_hour(before - t);
            if shift != self.fe_time_shift {
                info!(
                    "job times: the FE renders them {} s off the session zone (release rule: {} s); using what it does",
                    -shift.num_seconds(),
                    -self.fe_time_shift.num_seconds()
                );
                self.fe_time_shift = shift;
            }
        }
        Some(t + self.fe_time_shift)
    }

    /// Converts SHOW BACKUP times by the cluster's release rule (release::ClusterInfo), so
    /// `snapshot_at` and the job timeout never depend on the zone the FE renders them in.
    pub fn with_cluster_info(mut self, info: &crate::release::ClusterInfo) -> Self {
        self.fe_time_shift = info.job_time_shift();
        self
    }

    /// An FE-formatted job time in the session zone, `YYYY-MM-DD HH:MM:SS`.
    fn session_time(&self, fe: Option<String>) -> Option<String> {
        let fe = fe?;
        match parse_time(&fe) {
            Some(t) => Some(
                (t + self.fe_time_shift)
                    .format("%Y-%m-%d %H:%M:%S")
                    .to_string(),
            ),
            None => Some(history::trim_datetime(&fe)),
        }
    }

    /// The history table this plan's rows live in.
    fn history_table(&self) -> &'static str {
        match self.command {
            Command::Restore => RESTORE_HISTORY,
            _ => BACKUP_HISTORY,
        }
    }

    /// Runs every step in order. Never panics; errors end up in the outcome.
    pub fn run(&mut self, plan: &Plan) -> RunOutcome {
        self.command = plan.command;
        let mut jobs: BTreeMap<String, Job> = BTreeMap::new();
        let mut order: Vec<String> = Vec::new();
        let mut out = RunOutcome::default();
        let run_start = std::time::Instant::now();
        for (i, step) in plan.steps.iter().enumerate() {
            // A stop request: send nothing new (the rows we hold are released below).
            if let Err(e) = signals::check() {
                out.error = Some(e);
                break;
            }
            let Some(label) = step.label.clone() else {
                info!("step {}: {}", i + 1, step.description);
                if let Err(e) = self.exec(step) {
                    out.error = Some(e);
                    return out;
                }
                continue;
            };
            if !jobs.contains_key(&label) {
                order.push(label.clone());
            }
            let job = jobs.entry(label.clone()).or_insert_with(|| Job {
                database: step.database.clone().unwrap_or_default(),
                started: Some(std::time::Instant::now()),
                ..Job::default()
            });
            if job.done {
                debug!("skipping {} for {label}: the job already ended", step.kind);
                continue;
            }
            info!(
                "step {} {} [{label}]: {}",
                i + 1,
                step.kind,
                step.description
            );
            let result = self.step(step, &label, job);
            if let Err(mut e) = result {
                if self.command == Command::Restore && e.exit == ExitCode::JobFailed {
                    self.set_partial_aside(step, job, &mut e);
                }
                match e.exit {
                    ExitCode::Connect | ExitCode::Interrupted | ExitCode::Terminated => {
                        // Nothing more can be recorded; the RUNNING row is resumed by the next run.
                        job.error = Some(e.clone());
                        job.done = true;
                        if !is_catalog_label(&self.cfg.ops_database, &label) {
                            out.error = Some(e);
                        }
                        break;
                    }
                    ExitCode::Refused => {
                        job.error = Some(e);
                        job.done = true;
                    }
                    // An expire job (no Finalize: a catalog backup appended to the plan has one).
                    _ if self.command == Command::Expire
                        && !plan.steps.iter().any(|s| {
                            s.kind == StepKind::Finalize && s.label.as_deref() == Some(&label)
                        }) =>
                    {
                        // Nothing to finalize: every row already says what happened to it (a
                        // pending drop is completed by the next run). Give the database back.
                        if job.recorded {
                            self.withdraw(step, &label);
                        }
                        job.error = Some(e);
                        job.done = true;
                    }
                    _ => {
                        if job.recorded && !job.finalized && !job.keep_running {
                            job.outcome = Some(Outcome::Failed(e.what.clone()));
                            if let Some(fin) = plan.steps.iter().find(|s| {
                                s.kind == StepKind::Finalize && s.label.as_deref() == Some(&label)
                            }) {
                                if let Err(fe) = self.finalize(fin, &label, job) {
                                    warn!("could not record the failure of {label}: {fe}");
                                }
                            }
                        }
                        job.error = Some(e);
                        job.done = true;
                    }
                }
            }
        }
        if out
            .error
            .as_ref()
            .is_some_and(|e| matches!(e.exit, ExitCode::Interrupted | ExitCode::Terminated))
        {
            self.release(&jobs);
        }
        for label in order {
            let Some(job) = jobs.remove(&label) else {
                continue;
            };
            let status = if job.finalized {
                match &job.outcome {
                    Some(Outcome::Finished) => "FINISHED",
                    _ => "FAILED",
                }
            } else if job.error.as_ref().map(|e| e.exit) == Some(ExitCode::Refused) {
                "WITHDRAWN"
            } else if job.recorded || job.resumed {
                "RUNNING"
            } else {
                "FAILED"
            };
            let error = job
                .error
                .as_ref()
                .map(|e| e.what.clone())
                .or(match &job.outcome {
                    Some(Outcome::Failed(r)) => Some(r.clone()),
                    _ => None,
                });
            // A dead run's job that this run found failed does not fail this run; our own does.
            // A catalog backup never fails the run (SPEC catalog_backup): the caller warns.
            if let Some(e) = job.error.clone() {
                let counts = (!job.resumed || e.exit == ExitCode::Connect)
                    && !is_catalog_label(&self.cfg.ops_database, &label);
                if counts
                    && out
                        .error
                        .as_ref()
                        .is_none_or(|cur| rank(e.exit) > rank(cur.exit))
                {
                    out.error = Some(e);
                }
            }
            out.jobs.push(JobReport {
                database: job.database,
                label,
                status: status.to_string(),
                backup_type: job.backup_type,
                partitions: job.partitions,
                backup_timestamp: job.backup_timestamp,
                error,
                resumed: job.resumed,
                elapsed_ms: job
                    .started
                    .map(|t| u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX))
                    .unwrap_or(0),
            });
        }
        out.refused_drops = std::mem::take(&mut self.refused_drops);
        log_summary(&out.jobs, run_start.elapsed());
        out
    }

    fn step(&mut self, step: &Step, label: &str, job: &mut Job) -> Result<(), BbrError> {
        match step.kind {
            StepKind::RecordRunning | StepKind::RecordRestoreRunning => {
                self.exec(step)?;
                job.recorded = true;
                Ok(())
            }
            StepKind::CheckTargetAbsent => self.check_target_absent(step, label, job),
            StepKind::DropSnapshot => self.drop_snapshot(step, label, job),
            StepKind::RecordDropped => self.record_dropped(step),
            StepKind::ReleaseClaim => self.release_claim(step, job),
            StepKind::RestoreSnapshot => self.restore_snapshot(step, label, job),
            StepKind::PollRestore => self.poll_restore(step, label, job),
            StepKind::AdoptRestore => self.adopt_restore(step, job),
            StepKind::TakeOverRestore => self.take_over_restore(step, label, job),
            StepKind::ResumeRestore => self.resume_restore(step, label, job),
            StepKind::PromoteRestore => self.promote_restore(step),
            StepKind::StopPartitionScheduler => self.stop_partition_scheduler(step),
            StepKind::Finalize if self.command == Command::Restore => {
                self.finalize(step, label, job)?;
                match &job.outcome {
                    Some(Outcome::Failed(reason)) => {
                        job.done = true;
                        Err(BbrError::job_failed(
                            format!("restore {label} failed: {reason}"),
                            "see ops.restore_history; drop the table if it was partly restored and run restore again",
                        ))
                    }
                    _ => Ok(()),
                }
            }
            StepKind::Claim => {
                let own = job.claim_label.clone().unwrap_or_else(|| label.to_string());
                self.claim(step, &own)
            }
            StepKind::CheckBase => self.check_base(step, label),
            StepKind::IssueBackup => {
                if let Some(Details::Backup {
                    backup_type,
                    partitions,
                    ..
                }) = &step.details
                {
                    job.backup_type = Some(backup_type.to_string());
                    job.partitions = Some(*partitions);
                }
                self.issue_backup(step, label, job)
            }
            StepKind::PollBackup => self.poll_backup(step, label, job),
            StepKind::ResolveSnapshotTimestamp => self.resolve_timestamp(step, label, job),
            StepKind::Finalize => {
                self.finalize(step, label, job)?;
                match &job.outcome {
                    Some(Outcome::Failed(reason)) => {
                        job.done = true;
                        Err(BbrError::job_failed(
                            format!("backup {label} of database {} failed: {reason}", job.database),
                            "see ops.backup_history; the next run bases on the last FINISHED backup",
                        ))
                    }
                    _ => Ok(()),
                }
            }
            _ => self.exec(step),
        }
    }

    /// Sends the step's SQL with its retry policy.
    fn exec(&mut self, step: &Step) -> Result<(), BbrError> {
        let Some(sql) = &step.sql else {
            return Ok(());
        };
        self.cluster
            .query_retry(sql, &step.retry)
            .map(|_| ())
            .map_err(|e| e.into_bbr(&format!("step {}", step.kind)))
    }

    fn query(&mut self, step: &Step, sql: &str, doing: &str) -> Result<ResultSet, BbrError> {
        self.cluster
            .query_retry(sql, &step.retry)
            .map_err(|e| e.into_bbr(doing))
    }

    /// A read-only lookup (SHOW/SELECT) on behalf of `step`: always safe to re-send, whatever the
    /// step's own policy says.
    fn read(&mut self, step: &Step, sql: &str, doing: &str) -> Result<ResultSet, BbrError> {
        let policy = RetryPolicy {
            safe_to_retry: true,
            retry_when_busy: false,
            ..step.retry.clone()
        };
        self.cluster
            .query_retry(sql, &policy)
            .map_err(|e| e.into_bbr(doing))
    }

    fn now(&mut self) -> Result<chrono::NaiveDateTime, BbrError> {
        let s = cluster_now(self.cluster, self.cfg)?;
        parse_time(&s).ok_or_else(|| {
            BbrError::job_failed(format!("cannot parse cluster time '{s}'"), "report this")
        })
    }

    fn withdraw(&mut self, step: &Step, label: &str) {
        let sql = history::withdraw_sql(&self.cfg.ops_database, self.history_table(), label);
        if let Err(e) = self.cluster.query_retry(&sql, &step.retry) {
            warn!("could not withdraw the claim {label}: {e}");
        }
    }

    /// SPEC.md claiming: our row is written; wait until the cluster clock passed its started_at, then
    /// only the oldest live claim (started_at, label) proceeds.
    fn claim(&mut self, step: &Step, label: &str) -> Result<(), BbrError> {
        let db = step.database.clone().unwrap_or_default();
        let sql = step.sql.clone().unwrap_or_default();
        let stale_s = match step.details {
            Some(Details::Claim { heartbeat_stale_s }) => heartbeat_stale_s,
            _ => self.cfg.heartbeat_stale_s,
        };
        let rows = self.query(step, &sql, "reading the RUNNING claims")?;
        let ours = find_claim(&rows, label).ok_or_else(|| {
            BbrError::refused(
                format!("our claim row {label} vanished before the claim completed"),
                "run the command again",
            )
        })?;
        // Wait for the cluster clock to move past our started_at (DATETIME has whole seconds).
        let mut waited = 0;
        loop {
            let now = self.now()?;
            if now > ours.0 {
                break;
            }
            waited += 1;
            if waited > 100 {
                return Err(BbrError::job_failed(
                    "the cluster clock did not advance past our claim time",
                    "check the FE clock",
                ));
            }
            signals::sleep(Duration::from_millis(200));
            signals::check()?;
        }
        let rows = self.query(step, &sql, "reading the RUNNING claims")?;
        let now = self.now()?;
        let stale = chrono::Duration::seconds(i64::try_from(stale_s).unwrap_or(i64::MAX / 2));
        for (i, _) in rows.rows.iter().enumerate() {
            let other = rows.get(i, "label").unwrap_or_default();
            if other == label {
                continue;
            }
            let started = rows.get(i, "started_at").as_deref().and_then(parse_time);
            let beat = rows
                .get(i, "heartbeat_at")
                .as_deref()
                .and_then(parse_time)
                .or(started);
            let fresh = beat.is_some_and(|b| now - b <= stale);
            let before = match started {
                Some(s) => (s, other.as_str()) < (ours.0, label),
                None => false,
            };
            if fresh && before {
                self.withdraw(step, label);
                let t = |x: Option<chrono::NaiveDateTime>| {
                    x.map_or("?".to_string(), |v| {
                        v.format("%Y-%m-%d %H:%M:%S").to_string()
                    })
                };
                return Err(BbrError::refused(
                    format!(
                        "another run holds database {db}: {other} is RUNNING since {} (last heartbeat {}; it counts as dead from {} if its heartbeat stops, cluster time)",
                        t(started),
                        t(beat),
                        t(beat.map(|b| b + stale))
                    ),
                    format!("wait for it to finish and run again: `starrocks-bbr list --database {db} --status RUNNING` shows a backup, `list --restores --database {db} --status RUNNING` a restore"),
                ));
            }
        }
        Ok(())
    }

    /// Fills the Finalize template from the outcome and sends it.
    fn finalize(&mut self, step: &Step, label: &str, job: &mut Job) -> Result<(), BbrError> {
        if self.command == Command::Restore {
            return self.finalize_restore(step, label, job);
        }
        // No placeholders: a complete statement (a manifest-only record, FINISHED without a job),
        // sent only when nothing failed before it (a failure is recorded by the template below).
        let complete = match &step.details {
            Some(Details::Finalize { placeholders }) => placeholders.is_empty(),
            _ => false,
        };
        if complete && !matches!(job.outcome, Some(Outcome::Failed(_))) {
            self.exec(step)?;
            job.outcome = Some(Outcome::Finished);
            job.finalized = true;
            return Ok(());
        }
        let (status, ts, snap, err) = match &job.outcome {
            Some(Outcome::Finished) => (
                literal("FINISHED"),
                opt_literal(job.backup_timestamp.as_deref()),
                // When the job row had vanished, NOW() is later than the real snapshot time, so a
                // restore never picks this snapshot for a target time before it was taken.
                job.snapshot_at
                    .as_deref()
                    .map(literal)
                    .unwrap_or_else(|| "NOW()".to_string()),
                "NULL".to_string(),
            ),
            Some(Outcome::Failed(reason)) => (
                literal("FAILED"),
                "NULL".to_string(),
                "NULL".to_string(),
                literal(reason),
            ),
            None => {
                let reason = "the run ended before the job's outcome was known".to_string();
                job.outcome = Some(Outcome::Failed(reason.clone()));
                (
                    literal("FAILED"),
                    "NULL".to_string(),
                    "NULL".to_string(),
                    literal(&reason),
                )
            }
        };
        let sql = history::finalize_sql(
            &self.cfg.ops_database,
            label,
            &FinalizeValues {
                status: &status,
                backup_timestamp: &ts,
                snapshot_at: &snap,
                error_message: &err,
            },
        );
        self.query(step, &sql, "recording the outcome")?;
        job.finalized = true;
        Ok(())
    }
}

pub(crate) fn rank(e: ExitCode) -> u8 {
    match e {
        ExitCode::Success => 0,
        ExitCode::Refused => 1,
        ExitCode::JobFailed => 2,
        ExitCode::Usage => 3,
        ExitCode::Connect => 4,
        ExitCode::Interrupted | ExitCode::Terminated => 5,
    }
}

/// Our claim's started_at.
fn find_claim(rows: &ResultSet, label: &str) -> Option<(chrono::NaiveDateTime,)> {
    (0..rows.rows.len())
        .find(|&i| rows.get(i, "label").as_deref() == Some(label))
        .and_then(|i| rows.get(i, "started_at"))
        .and_then(|s| parse_time(&s))
        .map(|t| (t,))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{CatalogPoll, RestorePoll};

    fn step_with(details: Option<Details>) -> Step {
        Step {
            kind: StepKind::PollRestore,
            description: "d".into(),
            database: None,
            label: None,
            sql: None,
            retry: RetryPolicy {
                safe_to_retry: true,
                retry_when_busy: false,
                attempts: 1,
                initial_ms: 1,
                max_ms: 1,
            },
            details,
        }
    }

    #[test]
    fn a_step_without_the_details_its_kind_reads_is_reported_as_a_bug() {
        let poll = CatalogPoll::sample();
        let step = step_with(Some(Details::CatalogPoll(poll.clone())));
        assert_eq!(details::<CatalogPoll>(&step).ok(), Some(&poll));
        let wrong = details::<RestorePoll>(&step).unwrap_err();
        assert_eq!(wrong.exit, ExitCode::Usage);
        assert_eq!(
            wrong.to_string(),
            "step PollRestore has details of another kind; report this (the plan was not produced by this version)"
        );
        let none = details::<RestorePoll>(&step_with(None)).unwrap_err();
        assert!(
            none.to_string()
                .starts_with("step PollRestore has no details;"),
            "{none}"
        );
    }
}
