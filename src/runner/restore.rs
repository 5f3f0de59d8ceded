//! The restore kinds of the runner: CheckTargetAbsent, RestoreSnapshot, PollRestore and the
//! restore_history Finalize. One run = one restore_history row (the run's label) and one RESTORE job
//! per chain link; SHOW RESTORE names a job by the snapshot's `Label` and `Timestamp`.

use tracing::{debug, info, warn};

use super::{details, Job, Outcome, Runner};
use crate::cluster::SqlError;
use crate::config::TableRef;
use crate::error::BbrError;
use crate::history::{self, RESTORE_HISTORY};
use crate::plan::Step;
use crate::planner::restore::{
    cancel_restore_sql, judge, show_restore_sql, target_exists_sql, AdoptClaim, Progress,
    PromoteJob, RestoreJob, RestorePoll, ResumeJob, TakeOver, TargetCheck, PLAIN_PREFIX,
};
use crate::poll::PollCadence;
use crate::sql::{ident, qualified};
use crate::sql::{literal, opt_literal};
use crate::state::parse_time;

/// A SHOW RESTORE row of one job.
struct RestoreRow {
    state: String,
    status: String,
    create_time: Option<chrono::NaiveDateTime>,
}

impl Runner<'_> {
    /// Refuses (exit 4) when the target table exists; after our row was written, withdraws it first.
    pub(super) fn check_target_absent(
        &mut self,
        step: &Step,
        label: &str,
        job: &mut Job,
    ) -> Result<(), BbrError> {
        let check: &TargetCheck = details(step)?;
        let sql = step.sql.clone().unwrap_or_default();
        let rs = self.read(step, &sql, "checking whether the restore target exists")?;
        if let Some(adopted) = &check.adopted {
            return self.check_adopted_target(
                step,
                label,
                job,
                &check.table,
                adopted,
                !rs.rows.is_empty(),
            );
        }
        if rs.rows.is_empty() {
            return Ok(());
        }
        if job.recorded {
            self.withdraw(step, label);
            job.recorded = false;
        }
        Err(BbrError::refused(
            format!(
                "table {} exists; restore never overwrites a table",
                check.table
            ),
            "drop or rename it first (e.g. ALTER TABLE ... RENAME), then run restore again",
        ))
    }

    /// Continuing a dead run: the table is ours once one of its links FINISHED (it must exist
    /// then); when it restored nothing the table must not exist: its row is recorded FAILED and
    /// the run refused (exit 4), as any restore onto an existing table.
    fn check_adopted_target(
        &mut self,
        step: &Step,
        label: &str,
        job: &mut Job,
        table: &str,
        adopted: &str,
        exists: bool,
    ) -> Result<(), BbrError> {
        let done = job.links_done.unwrap_or(0);
        if done >= 1 && !exists {
            return Err(BbrError::job_failed(
                format!("table {table} was dropped after the interrupted restore {adopted} restored {done} link(s) into it; it cannot be continued"),
                "run restore again (it starts afresh)",
            ));
        }
        if done == 0 && exists {
            job.outcome = Some(Outcome::Failed(format!(
                "its run died before restoring anything and table {table} exists now"
            )));
            self.finalize_restore(step, label, job)?;
            return Err(BbrError::refused(
                format!("table {table} exists; restore never overwrites a table (the interrupted restore {adopted} restored nothing and is recorded FAILED)"),
                "drop or rename it first (e.g. ALTER TABLE ... RENAME), then run restore again",
            ));
        }
        Ok(())
    }

    /// Continuing a dead run: inserts our claim row (it names the adopted run); the Claim step
    /// that follows judges this row, not the adopted one.
    pub(super) fn adopt_restore(&mut self, step: &Step, job: &mut Job) -> Result<(), BbrError> {
        let a: &AdoptClaim = details(step)?;
        self.exec(step)?;
        info!("claiming to continue the interrupted restore {}", a.adopts);
        job.claim_label = Some(a.claim_label.clone());
        Ok(())
    }

    /// After the claim was won: a fresh heartbeat on the adopted row makes it a live claim again
    /// (so it holds the database from now on), then our own claim row is withdrawn. Nobody else can
    /// be continuing it: a rival adopter loses the claim (ours is older and live). If the row is no
    /// longer RUNNING (another run finished its record meanwhile) we withdraw and refuse.
    pub(super) fn take_over_restore(
        &mut self,
        step: &Step,
        label: &str,
        job: &mut Job,
    ) -> Result<(), BbrError> {
        let t: &TakeOver = details(step)?;
        self.exec(step)?;
        let sql = history::select_restore_status_sql(&self.cfg.ops_database, label);
        let status = self
            .read(step, &sql, "re-reading the interrupted restore's row")?
            .scalar()
            .unwrap_or_default();
        if let Err(e) = self.query(step, &t.release_sql, "withdrawing our claim row") {
            warn!("could not withdraw the claim {}: {e}", t.claim_label);
        }
        job.claim_label = None;
        if status != "RUNNING" {
            return Err(BbrError::refused(
                format!(
                    "the interrupted restore {label} was recorded {} by another run meanwhile",
                    if status.is_empty() {
                        "gone"
                    } else {
                        status.as_str()
                    }
                ),
                "see ops.restore_history, then run restore again",
            ));
        }
        job.recorded = true;
        info!("took the interrupted restore {label} over");
        Ok(())
    }

    /// Continuing a dead run: looks its current job up by label in SHOW RESTORE, waits for it if it
    /// still runs, and decides (planner::restore::judge) how many links StarRocks ran. CANCELLED,
    /// unknown, or a judgement other than the plan's: the run fails (exit 1, the row FAILED).
    pub(super) fn resume_restore(
        &mut self,
        step: &Step,
        label: &str,
        job: &mut Job,
    ) -> Result<(), BbrError> {
        let r: &ResumeJob = details(step)?;
        let db = step.database.clone().unwrap_or_default();
        let failed = |why: String| {
            BbrError::job_failed(
                format!("cannot continue the interrupted restore {}: {why}", r.adopts),
                "see ops.restore_history; drop the table if it was partly restored and run restore again",
            )
        };
        let target = TableRef::parse(&r.table).map_err(|m| failed(m.to_string()))?;
        let exists = !self
            .read(
                step,
                &target_exists_sql(&target),
                "checking whether the restore target exists",
            )?
            .rows
            .is_empty();
        let rs = self.read(step, &show_restore_sql(&db), "reading SHOW RESTORE")?;
        // CreateTime in the session zone, by the release's rule (4.1: fixed +08:00)
        let last = crate::state::restore::show_restore_job(&rs, self.fe_time_shift);
        let progress = judge(
            &r.links,
            r.current_label.as_deref(),
            r.started_at.as_deref().and_then(parse_time),
            last.as_ref(),
            exists,
        );
        let n = u32::try_from(r.links.len()).unwrap_or(u32::MAX);
        let done = match progress {
            Progress::Continue { done, wait } => {
                if let Some(state) = wait {
                    info!(
                        "the interrupted restore's RESTORE ({done} of {n}) is {state}: waiting for it"
                    );
                    let link = usize::try_from(done)
                        .unwrap_or(usize::MAX)
                        .saturating_sub(1);
                    let p = RestorePoll {
                        snapshot_label: r.current_label.clone(),
                        backup_timestamp: r.links.get(link).map(|l| l.backup_timestamp.clone()),
                        link: done,
                        links: n,
                        initial_ms: r.initial_ms,
                        max_ms: r.max_ms,
                        job_timeout_s: r.job_timeout_s,
                        resume: false,
                    };
                    self.poll_restore_job(step, label, job, &p)?;
                }
                done
            }
            Progress::Cancelled(why) | Progress::Unknown(why) => return Err(failed(why)),
        };
        if r.links_done != Some(done) {
            return Err(failed(format!(
                "this run planned on {} link(s) done, SHOW RESTORE now shows {done}",
                r.links_done
                    .map_or("unknown".to_string(), |d| d.to_string())
            )));
        }
        info!(
            "the interrupted restore {} had {done} of {n} link(s) restored",
            r.adopts
        );
        job.links_done = Some(done);
        job.outcome = (done == n).then_some(Outcome::Finished);
        Ok(())
    }

    /// The job of `snapshot` in SHOW RESTORE FROM db (matched by Label and, when known, Timestamp).
    fn restore_row(
        &mut self,
        step: &Step,
        db: &str,
        snapshot: &str,
        timestamp: Option<&str>,
    ) -> Result<Option<RestoreRow>, BbrError> {
        let rs = self.read(step, &show_restore_sql(db), "reading SHOW RESTORE")?;
        for i in 0..rs.rows.len() {
            let ours = rs.get(i, "Label").as_deref() == Some(snapshot)
                && timestamp.is_none_or(|t| rs.get(i, "Timestamp").as_deref() == Some(t));
            if ours {
                return Ok(Some(RestoreRow {
                    state: rs.get(i, "State").unwrap_or_default(),
                    status: rs.get(i, "Status").unwrap_or_default(),
                    // in the session zone (calibrated after our RESTORE, else the release rule)
                    create_time: self.job_time(rs.get(i, "CreateTime")),
                }));
            }
        }
        Ok(None)
    }

    /// Sends one RESTORE. Busy errors are retried by policy; after a lost connection the job is
    /// looked up in SHOW RESTORE (created at or after we sent it) and re-sent only if absent.
    pub(super) fn restore_snapshot(
        &mut self,
        step: &Step,
        label: &str,
        job: &mut Job,
    ) -> Result<(), BbrError> {
        let r: &RestoreJob = details(step)?;
        let db = step.database.clone().unwrap_or_default();
        let sql = step.sql.clone().unwrap_or_default();
        if let Some(aside) = &r.aside_on_failure {
            job.aside_on_failure = vec![(r.table.clone(), aside.clone())];
        }
        if !r.asides.is_empty() {
            job.aside_on_failure = r.asides.clone();
        }
        // A later link adds to the table the earlier ones made: if it was dropped meanwhile,
        // StarRocks would silently create it again with this link's partitions only.
        let must_exist: Vec<String> = if !r.check_tables.is_empty() {
            r.check_tables.clone()
        } else if r.link >= 2 {
            vec![r.table.clone()]
        } else {
            Vec::new()
        };
        for table in must_exist {
            let work = TableRef {
                database: db.clone(),
                table,
            };
            let exists = !self
                .read(
                    step,
                    &target_exists_sql(&work),
                    "checking the table before the next RESTORE",
                )?
                .rows
                .is_empty();
            if !exists {
                return Err(BbrError::job_failed(
                    format!(
                        "table {work} was dropped after {} of {} RESTORE job(s); the next RESTORE would re-create it with only the partitions of snapshot {}, so the restore stops",
                        r.link - 1,
                        r.links,
                        r.snapshot_label
                    ),
                    "run restore again (it starts afresh)",
                ));
            }
        }
        // Record the snapshot first, so a later run can find this job if we die after sending.
        let mark = history::set_current_label_sql(&self.cfg.ops_database, label, &r.snapshot_label);
        self.cluster
            .query_retry(&mark, &crate::planner::idempotent(self.cfg))
            .map_err(|e| e.into_bbr("recording the current RESTORE in restore_history"))?;
        let sent_after = self.now()?;
        self.submitted_at = Some(sent_after);
        for attempt in 1..=step.retry.attempts.max(1) {
            match self.cluster.query_retry(&sql, &step.retry) {
                Ok(_) => {
                    job.issued = true;
                    info!(
                        "RESTORE {} ({} of {}) submitted",
                        r.snapshot_label, r.link, r.links
                    );
                    return Ok(());
                }
                Err(SqlError::Lost(m)) => {
                    warn!(
                        "connection lost while sending RESTORE of {} ({m}); looking the job up",
                        r.snapshot_label
                    );
                    let found =
                        self.restore_row(step, &db, &r.snapshot_label, Some(&r.backup_timestamp))?;
                    if found.is_some_and(|f| f.create_time.is_none_or(|c| c >= sent_after)) {
                        job.issued = true;
                        return Ok(());
                    }
                    info!(
                        "StarRocks has no RESTORE of {}: sending it again (attempt {})",
                        r.snapshot_label,
                        attempt + 1
                    );
                }
                Err(e) => {
                    return Err(e.into_bbr(&format!(
                        "RESTORE of snapshot {} into {db}.{}",
                        r.snapshot_label, r.table
                    )))
                }
            }
        }
        Err(BbrError::connect(
            format!(
                "could not send RESTORE of {}: the connection kept dropping",
                r.snapshot_label
            ),
            "check the network and the FE, then run restore again (it finishes the record first)",
        ))
    }

    /// Polls SHOW RESTORE until the job of this link ends. FINISHED: the next link may go.
    /// CANCELLED / timeout / job gone: the chain stops with the reason (Finalize records FAILED).
    /// For a dead run's job (`resume`) only the outcome is recorded.
    pub(super) fn poll_restore(
        &mut self,
        step: &Step,
        label: &str,
        job: &mut Job,
    ) -> Result<(), BbrError> {
        let p: &RestorePoll = details(step)?;
        self.poll_restore_job(step, label, job, p)
    }

    /// The polling loop of [`Self::poll_restore`], also used to wait for an adopted run's job.
    fn poll_restore_job(
        &mut self,
        step: &Step,
        label: &str,
        job: &mut Job,
        p: &RestorePoll,
    ) -> Result<(), BbrError> {
        let db = step.database.clone().unwrap_or_default();
        if p.resume {
            job.resumed = true;
            job.recorded = true;
        }
        let Some(snapshot) = p.snapshot_label.clone() else {
            job.outcome = Some(Outcome::Failed(
                "its run died before submitting any RESTORE; nothing was restored".to_string(),
            ));
            return Ok(());
        };
        let heartbeat = history::heartbeat_sql(&self.cfg.ops_database, RESTORE_HISTORY, label);
        let mut cadence = PollCadence::new(p.initial_ms, p.max_ms, self.cfg.heartbeat_stale_s);
        let mut last_state = String::new();
        let mut ticker = crate::poll::ProgressTicker::new(p.max_ms);
        // Set once we sent CANCEL for exceeding job_timeout_s; what StarRocks then shows decides.
        let mut timed_out: Option<String> = None;
        let failed = |why: String| -> BbrError {
            BbrError::job_failed(
                why,
                "see ops.restore_history; drop the table if it was partly restored, fix the cause and run restore again",
            )
        };
        loop {
            // The clock is read BEFORE the row: a row still running at a time past the limit
            // proves a timeout (read after, a pause in between could time out a finished job).
            // Upkeep (heartbeat + clock) only every cadence.upkeep_every() (src/poll.rs), and
            // at once after a CANCEL for the timeout.
            let upkeep = cadence.upkeep_due() || timed_out.is_some();
            let clock = if upkeep { Some(self.now()?) } else { None };
            let row = self.restore_row(step, &db, &snapshot, p.backup_timestamp.as_deref())?;
            let Some(row) = row else {
                let why = if p.resume {
                    format!("its run died and SHOW RESTORE has no job for snapshot {snapshot} (never submitted, replaced or expired); the table may be partly restored: drop it if it exists and run restore again")
                } else {
                    format!("the RESTORE job of snapshot {snapshot} vanished from SHOW RESTORE (replaced by another job?); its outcome is unknown")
                };
                if p.resume {
                    job.outcome = Some(Outcome::Failed(why));
                    return Ok(());
                }
                return Err(failed(why));
            };
            if row.state != last_state {
                info!("{snapshot} ({} of {}): {}", p.link, p.links, row.state);
                last_state = row.state.clone();
            }
            if let Some(d) = ticker.observe(&row.state) {
                info!(
                    "{snapshot} ({} of {}): still {} after {}",
                    p.link,
                    p.links,
                    row.state,
                    crate::poll::human(d)
                );
            }
            match row.state.as_str() {
                "FINISHED" => {
                    if !p.resume {
                        job.links_finished += 1;
                    }
                    // link 0: the dead run's chain did not name this job, so it cannot be
                    // shown to be the last one: never claim a complete restore then.
                    if p.resume && (p.link == 0 || p.link < p.links) {
                        job.outcome = Some(Outcome::Failed(format!(
                            "its run died after restoring snapshot {snapshot} ({} of {}); the table is only partly restored: drop it and run restore again",
                            p.link, p.links
                        )));
                    } else if p.resume && !label.starts_with(PLAIN_PREFIX) {
                        // --as / --replace: the rename or swap may not have run
                        job.outcome = Some(Outcome::Failed(format!(
                            "its run died after its last RESTORE ({snapshot}) finished, before or while giving the restored table its final name; a restored copy may be kept beside the table (a table named <table>_bbr_...): check, drop what you do not need, and run the command again"
                        )));
                    } else {
                        job.outcome = Some(Outcome::Finished);
                    }
                    return Ok(());
                }
                "CANCELLED" => {
                    let why = match &timed_out {
                        Some(t) => t.clone(),
                        None => format!(
                            "RESTORE of snapshot {snapshot} ({} of {}) was CANCELLED: {}",
                            p.link, p.links, row.status
                        ),
                    };
                    if p.resume {
                        job.outcome = Some(Outcome::Failed(why));
                        return Ok(());
                    }
                    return Err(failed(why));
                }
                _ => {}
            }
            if let (Some(created), Some(clock)) = (row.create_time, clock) {
                let limit = chrono::Duration::seconds(
                    i64::try_from(p.job_timeout_s).unwrap_or(i64::MAX / 2),
                );
                if clock - created > limit {
                    warn!(
                        "RESTORE of {snapshot} exceeded job_timeout_s ({} s): cancelling",
                        p.job_timeout_s
                    );
                    if let Err(e) = self
                        .cluster
                        .query_retry(&cancel_restore_sql(&db), &step.retry)
                    {
                        warn!("CANCEL RESTORE failed: {e}");
                    }
                    let why = format!(
                        "RESTORE of snapshot {snapshot} exceeded job_timeout_s ({} s) in state {} and was cancelled",
                        p.job_timeout_s, row.state
                    );
                    if timed_out.is_some() {
                        // CANCEL did not end it: do not wait forever.
                        if p.resume {
                            job.outcome = Some(Outcome::Failed(why));
                            return Ok(());
                        }
                        return Err(failed(why));
                    }
                    timed_out = Some(why);
                    continue;
                }
            }
            if upkeep {
                if let Err(e) = self.cluster.query_retry(&heartbeat, &step.retry) {
                    warn!("heartbeat for {label} failed: {e}");
                }
            }
            let sleep = cadence.next_sleep();
            debug!("{snapshot}: waiting {sleep:?}");
            crate::signals::sleep(sleep);
            crate::signals::check()?;
        }
    }

    /// `--as` over several links / `--replace`: one statement gives the complete table its final
    /// name. On failure the restored data stays where it is, and the error says where.
    pub(super) fn promote_restore(&mut self, step: &Step) -> Result<(), BbrError> {
        let p: &PromoteJob = details(step)?;
        let sql = step.sql.clone().unwrap_or_default();
        self.query(step, &sql, "renaming the restored table").map_err(|e| {
            BbrError::job_failed(
                format!(
                    "the restore completed into {} but giving it the name {} failed: {}",
                    p.restored, p.table, e.what
                ),
                format!(
                    "{} is unchanged; rename or swap {} yourself (ALTER TABLE ... RENAME / SWAP WITH) or drop it",
                    p.table, p.restored
                ),
            )
        })?;
        match &p.previous_kept_as {
            Some(prev) => info!(
                "{} swapped in; the previous table is kept as {prev}",
                p.table
            ),
            None => info!("{} renamed to {}", p.restored, p.table),
        }
        Ok(())
    }

    /// A link after the first failed: the table holds the earlier links' partitions. It is renamed
    /// aside (StarRocks put it back to NORMAL when the job was cancelled or refused), so the
    /// target name is left as it was and a rerun starts afresh; the error says where it went.
    pub(super) fn set_partial_aside(&mut self, step: &Step, job: &mut Job, e: &mut BbrError) {
        if job.aside_on_failure.is_empty() || job.links_finished + job.links_done.unwrap_or(0) == 0
        {
            return;
        }
        let db = job.database.clone();
        let (mut moved, mut stuck) = (Vec::new(), Vec::new());
        for (work, aside) in job.aside_on_failure.clone() {
            let t = TableRef {
                database: db.clone(),
                table: work.clone(),
            };
            let exists = self
                .read(
                    step,
                    &target_exists_sql(&t),
                    "checking for a partly restored table",
                )
                .map(|rs| !rs.rows.is_empty())
                .unwrap_or(false);
            if !exists {
                continue;
            }
            let sql = format!(
                "ALTER TABLE {} RENAME {}",
                qualified(&db, &work),
                ident(&aside)
            );
            match self.query(step, &sql, "moving the partly restored table aside") {
                Ok(_) => {
                    warn!("the partly restored {t} was renamed to {db}.{aside}");
                    moved.push((t.to_string(), format!("{db}.{aside}")));
                }
                Err(re) => {
                    warn!("could not rename the partly restored {t}: {re}");
                    stuck.push(t.to_string());
                }
            }
        }
        if !stuck.is_empty() {
            e.what = format!("{}; {} partly restored", e.what, stuck.join(", "));
            e.todo = format!(
                "drop {} (partly restored), fix the cause and run restore again",
                stuck.join(", ")
            );
        } else if !moved.is_empty() {
            let to: Vec<&str> = moved.iter().map(|(_, a)| a.as_str()).collect();
            let from: Vec<&str> = moved.iter().map(|(t, _)| t.as_str()).collect();
            e.what = format!(
                "{}; the partly restored table(s) were moved to {}",
                e.what,
                to.join(", ")
            );
            e.todo = format!(
                "{} as before the restore; drop {} (DROP TABLE) when you no longer need it, fix the cause and run restore again",
                from.join(", "),
                to.join(", ")
            );
        }
    }

    /// Fills the restore Finalize template from the outcome and sends it.
    pub(super) fn finalize_restore(
        &mut self,
        step: &Step,
        label: &str,
        job: &mut Job,
    ) -> Result<(), BbrError> {
        let (status, err) = match &job.outcome {
            Some(Outcome::Finished) => ("FINISHED", None),
            Some(Outcome::Failed(reason)) => ("FAILED", Some(reason.clone())),
            None => {
                let reason = "the run ended before the restore's outcome was known".to_string();
                job.outcome = Some(Outcome::Failed(reason.clone()));
                ("FAILED", Some(reason))
            }
        };
        let sql = history::finalize_restore_sql(
            &self.cfg.ops_database,
            label,
            &literal(status),
            &opt_literal(err.as_deref()),
        );
        self.query(step, &sql, "recording the restore's outcome")?;
        job.finalized = true;
        Ok(())
    }
}
