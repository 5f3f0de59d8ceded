//! The end of a run: releasing the rows of a run stopped by SIGTERM/SIGINT (src/signals.rs) and the
//! summary line with durations.

use std::collections::BTreeMap;
use std::time::Duration;

use tracing::{info, warn};

use super::{Job, JobReport, Runner};
use crate::history;
use crate::plan::RetryPolicy;
use crate::poll::human;

impl Runner<'_> {
    /// After a stop request: every RUNNING row this run holds gets a heartbeat far in the past, so
    /// the next run treats it as a dead run's and takes it over at once (claim, backup resume and
    /// restore continuation all judge staleness by heartbeat_at); our own not-yet-won claim row of
    /// a restore continuation is withdrawn. Only these UPDATE/DELETEs are sent, each once.
    pub(super) fn release(&mut self, jobs: &BTreeMap<String, Job>) {
        let once = RetryPolicy {
            safe_to_retry: true,
            retry_when_busy: false,
            attempts: 1,
            initial_ms: 1,
            max_ms: 1,
        };
        for (label, job) in jobs {
            if let Some(claim) = &job.claim_label {
                let sql =
                    history::withdraw_sql(&self.cfg.ops_database, self.history_table(), claim);
                if let Err(e) = self.cluster.query_retry(&sql, &once) {
                    warn!("could not withdraw the claim {claim}: {e}");
                }
            }
            if (job.recorded || job.resumed) && !job.finalized {
                let sql = history::release_sql(&self.cfg.ops_database, self.history_table(), label);
                match self.cluster.query_retry(&sql, &once) {
                    Ok(_) => info!("released {label}: the next run takes it over at once"),
                    Err(e) => warn!(
                        "could not release {label} ({e}); the next run takes it over once its heartbeat is stale"
                    ),
                }
            }
        }
    }
}

/// `summary: N job(s) in T: label STATUS in t; ...` (info), after every run that had jobs.
pub(super) fn log_summary(jobs: &[JobReport], total: Duration) {
    if jobs.is_empty() {
        return;
    }
    let parts: Vec<String> = jobs
        .iter()
        .map(|j| {
            format!(
                "{} {} in {}",
                j.label,
                j.status,
                human(Duration::from_millis(j.elapsed_ms))
            )
        })
        .collect();
    info!(
        "summary: {} job(s) in {}: {}",
        jobs.len(),
        human(total),
        parts.join("; ")
    );
}
