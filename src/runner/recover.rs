//! The recover kinds of the runner. A recover is one job (the catalog snapshot's label): create the
//! ops database, RESTORE the catalog, wait for it, finish the catalog's own row, check the history
//! against the repository. Any failure stops it; nothing is written to the history before the
//! RESTORE finished (the history does not exist until then).

use tracing::{info, warn};

use super::Runner;
use crate::cluster::SqlError;
use crate::error::BbrError;
use crate::plan::{Details, Plan, Step, StepKind};
use crate::planner::recover::{
    judge_history, mark_absent_sql, CatalogPoll, HistoryCheck, HistoryVerdict, RecoveredRow,
};
use crate::poll::PollCadence;

/// What a recover did, for the command to print.
#[derive(Debug, Clone, Default)]
pub struct RecoverReport {
    pub catalog_label: String,
    pub verdict: HistoryVerdict,
}

fn details<T: serde::de::DeserializeOwned>(step: &Step) -> Result<T, BbrError> {
    match &step.details {
        Some(Details::Other(v)) => serde_json::from_value(v.clone()).ok(),
        _ => None,
    }
    .ok_or_else(|| {
        BbrError::usage(
            format!("step {} has malformed details", step.kind),
            "report this (the plan was not produced by this version)",
        )
    })
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
                    let check: HistoryCheck = details(step)?;
                    report.catalog_label = check.catalog_label.clone();
                    report.verdict = self.check_history(step, &check)?;
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
        let poll: CatalogPoll = details(step)?;
        for attempt in 1..=step.retry.attempts.max(1) {
            match self.cluster.query_retry(&sql, &step.retry) {
                Ok(_) => return Ok(()),
                Err(SqlError::Lost(m)) => {
                    warn!("connection lost while sending the catalog RESTORE ({m}); looking it up");
                    if self.catalog_restore_row(step, &poll)?.is_some() {
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
        let poll: CatalogPoll = details(step)?;
        let mut cadence =
            PollCadence::new(poll.initial_ms, poll.max_ms, self.cfg.heartbeat_stale_s);
        let mut last = String::new();
        loop {
            let Some((state, status)) = self.catalog_restore_row(step, &poll)? else {
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

    /// Marks FINISHED rows whose snapshot the repository lacks EXPIRED; returns what it found.
    fn check_history(
        &mut self,
        step: &Step,
        check: &HistoryCheck,
    ) -> Result<HistoryVerdict, BbrError> {
        let sql = step.sql.clone().unwrap_or_default();
        let rs = self.read(step, &sql, "reading the recovered history")?;
        let rows: Vec<RecoveredRow> = (0..rs.rows.len())
            .map(|i| RecoveredRow {
                label: rs.get(i, "label").unwrap_or_default(),
                repository: rs.get(i, "repository").unwrap_or_default(),
                status: rs.get(i, "status").unwrap_or_default(),
                backup_timestamp: rs.get(i, "backup_timestamp"),
            })
            .collect();
        let ls = self.read(step, &check.show_snapshots_sql, "listing the repository")?;
        let listed = crate::state::recover::listed_snapshots(&ls);
        let verdict = judge_history(&rows, &listed, &check.repository);
        let now = crate::state::cluster_now(self.cluster, self.cfg)?;
        for label in &verdict.absent {
            let why = format!(
                "snapshot not in repository {} when recover checked it at {now}",
                check.repository
            );
            let mark = mark_absent_sql(&self.cfg.ops_database, label, &why);
            self.query(step, &mark, "marking an absent snapshot")?;
        }
        Ok(verdict)
    }
}
