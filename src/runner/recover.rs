//! The recover kinds of the runner. A recover is one job (the catalog snapshot's label): create the
//! ops database, RESTORE the catalog, wait for it, finish the catalog's own row, check the history
//! against the repository. Any failure stops it; nothing is written to the history before the
//! RESTORE finished (the history does not exist until then).

use tracing::{info, warn};

use super::{details, Runner};
use crate::cluster::SqlError;
use crate::error::BbrError;
use crate::history::{finalize_restore_sql, finalize_sql, FinalizeValues};
use crate::plan::{Plan, Step, StepKind};
use crate::planner::backup::show_snapshot_sql;
use crate::planner::history_check::{
    judge_history, lost_zone_offset_s, mark_absent_sql, show_offset, HistoryCheck, HistoryVerdict,
    RecoveredRow, DIED_WITH_CLUSTER,
};
use crate::planner::listing::{
    backup_time_ms, datetime_in_zone, show_snapshot_details_sql, zone_offset_s,
};
use crate::planner::recover::CatalogPoll;
use crate::poll::PollCadence;
use crate::sql::literal;

/// What a recover did, for the command to print.
#[derive(Debug, Clone, Default)]
pub struct RecoverReport {
    pub catalog_label: String,
    pub verdict: HistoryVerdict,
}

impl Runner<'_> {
    /// Runs a recover plan step by step; the first failure ends it.
    pub fn run_recover(&mut self, plan: &Plan) -> Result<RecoverReport, BbrError> {
        let mut report = RecoverReport::default();
        for (i, step) in plan.steps.iter().enumerate() {
            info!("step {} {}: {}", i + 1, step.kind, step.description);
            match step.kind {
                StepKind::RestoreCatalog => self.restore_catalog(step)?,
                StepKind::PollRestore => self.poll_catalog_restore(step)?,
                StepKind::CheckHistory => {
                    let check: &HistoryCheck = details(step)?;
                    report.catalog_label = check.catalog_label.clone();
                    report.verdict = self.check_history(step, check)?;
                }
                _ => self.exec(step)?,
            }
        }
        Ok(report)
    }

    /// The SHOW RESTORE row of the catalog RESTORE: (State, Status).
    fn catalog_restore_row(
        &mut self,
        step: &Step,
        poll: &CatalogPoll,
    ) -> Result<Option<(String, String)>, BbrError> {
        let db = step.database.clone().unwrap_or_default();
        let sql = crate::planner::restore::show_restore_sql(&db);
        let rs = self.read(step, &sql, "reading SHOW RESTORE")?;
        Ok((0..rs.rows.len())
            .find(|&i| {
                rs.get(i, "Label").as_deref() == Some(poll.snapshot_label.as_str())
                    && rs.get(i, "Timestamp").as_deref() == Some(poll.backup_timestamp.as_str())
            })
            .map(|i| {
                (
                    rs.get(i, "State").unwrap_or_default(),
                    rs.get(i, "Status").unwrap_or_default(),
                )
            }))
    }

    /// Sends the RESTORE; after a lost connection it is re-sent only if SHOW RESTORE has no job
    /// of that snapshot (one RESTORE per recover).
    fn restore_catalog(&mut self, step: &Step) -> Result<(), BbrError> {
        let sql = step.sql.clone().unwrap_or_default();
        let poll: &CatalogPoll = details(step)?;
        for attempt in 1..=step.retry.attempts.max(1) {
            match self.cluster.query_retry(&sql, &step.retry) {
                Ok(_) => return Ok(()),
                Err(SqlError::Lost(m)) => {
                    warn!("connection lost while sending the catalog RESTORE ({m}); looking it up");
                    if self.catalog_restore_row(step, poll)?.is_some() {
                        return Ok(());
                    }
                    info!(
                        "no RESTORE job found: sending it again (attempt {})",
                        attempt + 1
                    );
                }
                Err(e) => return Err(e.into_bbr("RESTORE of the catalog snapshot")),
            }
        }
        Err(BbrError::connect(
            "could not send the catalog RESTORE: the connection kept dropping",
            "check the network and the FE, then run recover again",
        ))
    }

    /// Waits for the catalog RESTORE to end (StarRocks enforces its timeout property).
    fn poll_catalog_restore(&mut self, step: &Step) -> Result<(), BbrError> {
        let poll: &CatalogPoll = details(step)?;
        let mut cadence =
            PollCadence::new(poll.initial_ms, poll.max_ms, self.cfg.heartbeat_stale_s);
        let mut last = String::new();
        loop {
            let Some((state, status)) = self.catalog_restore_row(step, poll)? else {
                return Err(BbrError::job_failed(
                    format!(
                        "the RESTORE of catalog snapshot {} vanished from SHOW RESTORE",
                        poll.snapshot_label
                    ),
                    "drop the ops database and run recover again",
                ));
            };
            if state != last {
                info!("{}: {state}", poll.snapshot_label);
                last = state.clone();
            }
            match state.as_str() {
                "FINISHED" => return Ok(()),
                "CANCELLED" => {
                    return Err(BbrError::job_failed(
                        format!(
                            "the RESTORE of catalog snapshot {} was CANCELLED: {status}",
                            poll.snapshot_label
                        ),
                        "fix the cause (e.g. replication_num above the alive backends), drop the ops database if it has tables, and run recover again",
                    ))
                }
                _ => std::thread::sleep(cadence.next_sleep()),
            }
        }
    }

    /// Marks FINISHED rows whose snapshot the repository lacks EXPIRED, settles the rows the lost
    /// cluster's runs left RUNNING; returns what it found.
    fn check_history(
        &mut self,
        step: &Step,
        check: &HistoryCheck,
    ) -> Result<HistoryVerdict, BbrError> {
        let ops = self.cfg.ops_database.clone();
        let sql = step.sql.clone().unwrap_or_default();
        let rs = self.read(step, &sql, "reading the recovered history")?;
        let rows: Vec<RecoveredRow> = (0..rs.rows.len())
            .map(|i| RecoveredRow {
                label: rs.get(i, "label").unwrap_or_default(),
                repository: rs.get(i, "repository").unwrap_or_default(),
                status: rs.get(i, "status").unwrap_or_default(),
                backup_timestamp: rs.get(i, "backup_timestamp"),
                started_at: rs.get(i, "started_at"),
            })
            .collect();
        let ls = self.read(step, &check.show_snapshots_sql, "listing the repository")?;
        let mut listed = crate::state::recover::listed_snapshots(&ls);
        // a RUNNING row's snapshot whose listing failed is listed again on its own
        for s in listed.iter_mut().filter(|s| {
            s.error.is_some()
                && rows
                    .iter()
                    .any(|r| r.label == s.label && r.status == "RUNNING")
        }) {
            let sql = show_snapshot_sql(&check.repository, &s.label);
            let rs = self.read(step, &sql, "listing a snapshot again")?;
            if let Some(again) = crate::state::recover::listed_snapshots(&rs)
                .into_iter()
                .find(|a| a.label == s.label)
            {
                *s = again;
            }
        }
        let mut verdict = judge_history(&rows, &listed, &check.repository, &check.catalog_label);
        if let Some(label) = verdict.unsure.first() {
            return Err(BbrError::job_failed(
                format!(
                    "repository {} could not list snapshot {label}, whose run the lost cluster left RUNNING: whether it finished cannot be told",
                    check.repository
                ),
                "run recover again (a storage error is usually transient; it continues where it stopped)",
            ));
        }
        let now = crate::state::cluster_now(self.cluster, self.cfg)?;
        for label in &verdict.absent {
            let why = format!(
                "snapshot not in repository {} when recover checked it at {now}",
                check.repository
            );
            let mark = mark_absent_sql(&ops, label, &why);
            self.query(step, &mark, "marking an absent snapshot")?;
        }
        let zone = self.read(step, &check.zone_sql, "reading the session time zone")?;
        let cell = |i| zone.rows.first().and_then(|r| r.get(i).cloned().flatten());
        let offset = cell(0)
            .zip(cell(1))
            .and_then(|(n, u)| zone_offset_s(&n, &u))
            .ok_or_else(|| {
                BbrError::job_failed(
                    format!("{} gave no usable times", check.zone_sql),
                    "check the cluster, then run recover again",
                )
            })?;
        let lost = rows
            .iter()
            .find(|r| r.label == check.catalog_label)
            .and_then(|r| r.started_at.as_deref())
            .zip(check.catalog_backup_time_ms)
            .and_then(|(at, ms)| lost_zone_offset_s(at, ms));
        if let Some(lost) = lost.filter(|l| *l != offset) {
            warn!(
                "the lost cluster's sessions ran at UTC{}, this session at UTC{}: history times are wall-clock times of the lost cluster's zone",
                show_offset(lost),
                show_offset(offset)
            );
            verdict.zone_mismatch = Some((lost, offset));
        }
        for (label, ts) in &verdict.finished {
            let sql = show_snapshot_details_sql(&check.repository, label, ts);
            let rs = self.read(step, &sql, "reading a snapshot's details")?;
            let at = rs
                .get(0, "Details")
                .as_deref()
                .and_then(backup_time_ms)
                .and_then(|ms| datetime_in_zone(ms, offset))
                .ok_or_else(|| {
                    BbrError::job_failed(
                        format!(
                            "could not read the details of snapshot {label} ({})",
                            rs.get(0, "Status").unwrap_or_default()
                        ),
                        "run recover again (it continues where it stopped)",
                    )
                })?;
            let done = finalize_sql(
                &ops,
                label,
                &FinalizeValues {
                    status: "'FINISHED'",
                    backup_timestamp: &literal(ts),
                    snapshot_at: &literal(&at),
                    error_message: "NULL",
                },
            );
            self.query(step, &done, "finishing a row the lost cluster left RUNNING")?;
        }
        let died = literal(DIED_WITH_CLUSTER);
        for label in &verdict.died {
            let sql = finalize_sql(
                &ops,
                label,
                &FinalizeValues {
                    status: "'FAILED'",
                    backup_timestamp: "NULL",
                    snapshot_at: "NULL",
                    error_message: &died,
                },
            );
            self.query(step, &sql, "failing a row the lost cluster left RUNNING")?;
        }
        let rs = self.read(
            step,
            &check.running_restores_sql,
            "reading RUNNING restore rows",
        )?;
        for i in 0..rs.rows.len() {
            let label = rs.get(i, "label").unwrap_or_default();
            let sql = finalize_restore_sql(&ops, &label, "'FAILED'", &died);
            self.query(
                step,
                &sql,
                "failing a restore the lost cluster left RUNNING",
            )?;
            verdict.restores_died.push(label);
        }
        Ok(verdict)
    }
}
