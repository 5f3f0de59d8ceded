//! The backup kinds of the runner (moved from runner.rs unchanged): CheckBase, IssueBackup,
//! PollBackup, ResolveSnapshotTimestamp and the SHOW BACKUP / SHOW SNAPSHOT look-ups behind them.

use super::*;

impl Runner<'_> {
    pub(super) fn check_base(&mut self, step: &Step, label: &str) -> Result<(), BbrError> {
        let db = step.database.clone().unwrap_or_default();
        let expected = match &step.details {
            Some(Details::CheckBase {
                expected_base_label,
            }) => expected_base_label.clone(),
            _ => None,
        };
        let sql = step.sql.clone().unwrap_or_default();
        let rs = self.query(step, &sql, "re-reading the latest FINISHED backup")?;
        let latest = rs.scalar();
        if latest != expected {
            self.withdraw(step, label);
            return Err(BbrError::refused(
                format!(
                    "the plan for {db} is stale: it was based on {} but the latest FINISHED backup is now {}",
                    expected.as_deref().unwrap_or("no backup"),
                    latest.as_deref().unwrap_or("none")
                ),
                "run the backup again to plan afresh",
            ));
        }
        Ok(())
    }

    /// Whether StarRocks knows our label: a SHOW BACKUP row or a snapshot in the repository.
    pub(super) fn label_known(
        &mut self,
        step: &Step,
        db: &str,
        label: &str,
    ) -> Result<bool, BbrError> {
        let rs = self.read(step, &show_backup_sql(db), "looking the job up")?;
        if (0..rs.rows.len()).any(|i| rs.get(i, "SnapshotName").as_deref() == Some(label)) {
            return Ok(true);
        }
        let mut scratch = Job::default();
        Ok(self
            .snapshot(step, label, &mut scratch)?
            .is_some_and(|(_, ok)| ok))
    }

    /// SHOW SNAPSHOT for our label: (its real timestamps, status OK). `Invalid: <file>` entries
    /// are not timestamps (crate::snapshot). A failed listing (`ERROR: Failed to get info: ...`, a
    /// storage error) is no proof of anything: it is read again with backoff, and if it persists
    /// the job is left RUNNING for the next run (never recorded FAILED on that evidence).
    pub(super) fn snapshot(
        &mut self,
        step: &Step,
        label: &str,
        job: &mut Job,
    ) -> Result<Option<(Vec<String>, bool)>, BbrError> {
        let sql = show_snapshot_sql(&self.cfg.repository, label);
        let policy = RetryPolicy {
            attempts: step.retry.attempts.max(3),
            ..step.retry.clone()
        };
        let mut delays = backon::BackoffBuilder::build(crate::cluster::backoff(&policy));
        loop {
            let rs = self.read(step, &sql, "reading SHOW SNAPSHOT")?;
            let Some(i) =
                (0..rs.rows.len()).find(|&i| rs.get(i, "Snapshot").as_deref() == Some(label))
            else {
                return Ok(None);
            };
            let listing = crate::snapshot::Listing::read(
                rs.get(i, "Timestamp").as_deref(),
                rs.get(i, "Status").as_deref().unwrap_or_default(),
            );
            let Some(why) = listing.error.as_deref() else {
                let restorable = listing.restorable();
                return Ok(Some((listing.timestamps, restorable)));
            };
            match delays.next() {
                Some(d) => {
                    warn!("SHOW SNAPSHOT for {label}: {why}; reading it again");
                    std::thread::sleep(d);
                }
                None => {
                    job.keep_running = true;
                    return Err(BbrError::job_failed(
                        format!("the repository could not list snapshot {label} ({why})"),
                        "the backup row stays RUNNING; the next run reads the snapshot again and finishes it",
                    ));
                }
            }
        }
    }

    /// Sends BACKUP. Busy errors are retried by policy; a lost connection is resolved by looking the
    /// label up, and the statement is re-sent only when StarRocks provably does not know the label.
    pub(super) fn issue_backup(
        &mut self,
        step: &Step,
        label: &str,
        job: &mut Job,
    ) -> Result<(), BbrError> {
        let db = step.database.clone().unwrap_or_default();
        let sql = step.sql.clone().unwrap_or_default();
        self.note_submit();
        for attempt in 1..=step.retry.attempts.max(1) {
            match self.cluster.query_retry(&sql, &step.retry) {
                Ok(_) => {
                    job.issued = true;
                    return Ok(());
                }
                Err(SqlError::Lost(m)) => {
                    warn!(
                        "connection lost while sending BACKUP {label} ({m}); looking the label up"
                    );
                    if self.label_known(step, &db, label)? {
                        job.issued = true;
                        return Ok(());
                    }
                    info!(
                        "StarRocks does not know {label}: sending BACKUP again (attempt {})",
                        attempt + 1
                    );
                }
                Err(e) => return Err(e.into_bbr(&format!("BACKUP {label}"))),
            }
        }
        Err(BbrError::connect(
            format!("could not send BACKUP {label}: the connection kept dropping"),
            "check the network and the FE, then run again",
        ))
    }

    pub(super) fn poll_backup(
        &mut self,
        step: &Step,
        label: &str,
        job: &mut Job,
    ) -> Result<(), BbrError> {
        let db = step.database.clone().unwrap_or_default();
        let (initial_ms, max_ms, timeout_s, resume) = match step.details {
            Some(Details::Poll {
                initial_ms,
                max_ms,
                job_timeout_s,
                resume,
            }) => (initial_ms, max_ms, job_timeout_s, resume),
            _ => (
                self.cfg.poll.initial_ms,
                self.cfg.poll.max_ms,
                self.cfg.job_timeout_s,
                false,
            ),
        };
        if resume {
            job.resumed = true;
            job.recorded = true;
        }
        let sql = step.sql.clone().unwrap_or_else(|| show_backup_sql(&db));
        let heartbeat = history::heartbeat_sql(&self.cfg.ops_database, BACKUP_HISTORY, label);
        let mut cadence = PollCadence::new(initial_ms, max_ms, self.cfg.heartbeat_stale_s);
        let mut last_state = String::new();
        let mut ticker = ProgressTicker::new(max_ms);
        loop {
            // Upkeep (heartbeat + clock for the timeout) only every cadence.upkeep_every() of
            // scheduled sleep, never of wall time, so the same answers give the same statements on
            // any machine; a job that has run a few minutes costs < 4 statements a minute (src/poll.rs).
            let upkeep = cadence.upkeep_due();
            // The clock is read BEFORE the row: a row still running at a time past the limit is
            // proof of a timeout. (Read after, a pause between the two statements would make a job
            // that has since finished look timed out and get recorded FAILED.)
            let clock = if upkeep { Some(self.now()?) } else { None };
            let rs = self.query(step, &sql, "polling SHOW BACKUP")?;
            let row =
                (0..rs.rows.len()).find(|&i| rs.get(i, "SnapshotName").as_deref() == Some(label));
            match row {
                Some(i) => {
                    // first, so a FINISHED row's times are converted by the calibrated shift
                    let created = self.job_time(rs.get(i, "CreateTime"));
                    let state = rs.get(i, "State").unwrap_or_default();
                    if state != last_state {
                        let progress = rs.get(i, "Progress").unwrap_or_default();
                        if progress.trim().is_empty() {
                            info!("{label}: {state}");
                        } else {
                            info!("{label}: {state} ({progress})");
                        }
                        last_state = state.clone();
                    }
                    if let Some(d) = ticker.observe(&state) {
                        let progress = rs.get(i, "Progress").unwrap_or_default();
                        info!(
                            "{label}: still {state} after {} (Progress {})",
                            human(d),
                            if progress.trim().is_empty() {
                                "-"
                            } else {
                                progress.trim()
                            }
                        );
                    }
                    let task_err = rs.get(i, "TaskErrMsg").unwrap_or_default();
                    if !task_err.trim().is_empty() {
                        // Not a failure signal (STARROCKS.md §2): tasks are retried until the timeout.
                        debug!("{label}: TaskErrMsg {task_err}");
                    }
                    match state.as_str() {
                        "FINISHED" => {
                            job.outcome = Some(Outcome::Finished);
                            job.snapshot_at = self.session_time(rs.get(i, "SnapshotFinishedTime"));
                            return Ok(());
                        }
                        "CANCELLED" => {
                            let status = rs.get(i, "Status").unwrap_or_default();
                            job.outcome = Some(Outcome::Failed(format!("job CANCELLED: {status}")));
                            return Ok(());
                        }
                        _ => {}
                    }
                    if let (Some(created), Some(clock)) = (created, clock) {
                        let limit = chrono::Duration::seconds(
                            i64::try_from(timeout_s).unwrap_or(i64::MAX / 2),
                        );
                        if clock - created > limit {
                            warn!("{label} exceeded job_timeout_s ({timeout_s} s): cancelling");
                            if let Err(e) = self
                                .cluster
                                .query_retry(&cancel_backup_sql(&db), &step.retry)
                            {
                                warn!("CANCEL BACKUP failed: {e}");
                            }
                            let reason = format!(
                                "job exceeded job_timeout_s ({timeout_s} s) in state {state} and was cancelled"
                            );
                            // What StarRocks says now decides: the job may have ended meanwhile.
                            let after = self.read(step, &sql, "re-reading SHOW BACKUP")?;
                            let end = (0..after.rows.len())
                                .find(|&k| after.get(k, "SnapshotName").as_deref() == Some(label))
                                .map(|k| {
                                    (
                                        after.get(k, "State").unwrap_or_default(),
                                        after.get(k, "Status").unwrap_or_default(),
                                        after.get(k, "SnapshotFinishedTime"),
                                    )
                                });
                            job.outcome = Some(match end {
                                Some((st, _, snap)) if st == "FINISHED" => {
                                    job.snapshot_at = self.session_time(snap);
                                    Outcome::Finished
                                }
                                Some((st, status, _)) if st == "CANCELLED" => {
                                    Outcome::Failed(format!("{reason}: {status}"))
                                }
                                _ => Outcome::Failed(reason),
                            });
                            return Ok(());
                        }
                    }
                }
                None => {
                    // The row is gone or belongs to another job: the repository decides.
                    match self.snapshot(step, label, job)? {
                        Some((_, true)) => {
                            info!("{label}: no SHOW BACKUP row, but its snapshot is in the repository: finished");
                            job.outcome = Some(Outcome::Finished);
                            return Ok(());
                        }
                        other => {
                            let why = match other {
                                Some((_, false)) => "its snapshot is incomplete in the repository",
                                _ => "it has no snapshot in the repository",
                            };
                            let reason = if resume && !job.issued {
                                format!("no job found for this label in SHOW BACKUP and {why}: its run died before the job finished or was submitted")
                            } else {
                                format!("the job vanished from SHOW BACKUP (replaced by another job?) and {why}")
                            };
                            job.outcome = Some(Outcome::Failed(reason));
                            return Ok(());
                        }
                    }
                }
            }
            if upkeep {
                if let Err(e) = self.cluster.query_retry(&heartbeat, &step.retry) {
                    warn!("heartbeat for {label} failed: {e}");
                }
            }
            signals::sleep(cadence.next_sleep());
            signals::check()?;
        }
    }

    pub(super) fn resolve_timestamp(
        &mut self,
        step: &Step,
        label: &str,
        job: &mut Job,
    ) -> Result<(), BbrError> {
        if job.outcome != Some(Outcome::Finished) {
            return Ok(());
        }
        match self.snapshot(step, label, job)? {
            Some((all, true)) => {
                // several real timestamps for one label (re-submitted after a lost answer): the
                // newest is the job this run saw finish
                match all.iter().max() {
                    Some(t) => job.backup_timestamp = Some((*t).to_string()),
                    None => {
                        job.outcome = Some(Outcome::Failed(
                            "SHOW SNAPSHOT gave no Timestamp for the finished job".to_string(),
                        ))
                    }
                }
            }
            Some((_, false)) => {
                job.outcome = Some(Outcome::Failed(
                    "the job FINISHED but SHOW SNAPSHOT reports the snapshot as not OK".to_string(),
                ))
            }
            None => {
                job.outcome = Some(Outcome::Failed(
                    "the job FINISHED but SHOW SNAPSHOT does not list it".to_string(),
                ))
            }
        }
        Ok(())
    }
}
