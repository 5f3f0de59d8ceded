//! The expire kinds of the runner: DropSnapshot (judging StarRocks's answer), RecordDropped (skipped
//! when the drop was refused) and ReleaseClaim. ExpireRecord, DeleteManifest and
//! DeleteRestoreHistory are plain idempotent statements, executed generically.

use tracing::{info, warn};

use super::{Job, Outcome, Runner};
use crate::cluster::SqlError;
use crate::error::BbrError;
use crate::history::{self, BACKUP_HISTORY};
use crate::plan::{Details, Step};
use crate::planner::expire::{expired_note_sql, NOTE_DELETE_BY_HAND};

/// Markers of DROP SNAPSHOT's "no such snapshot" answer: already gone counts as dropped (a lost
/// answer to our own DROP, a ttl, a person). Unverified wording on 4.2: matched loosely.
const GONE_MARKERS: [&str; 3] = ["does not exist", "not exist", "no snapshot"];
/// Markers of the ownership refusal (another cluster's snapshot, or one written before 4.2).
const FORCE_MARKERS: [&str; 2] = ["FORCE", "another cluster"];

fn snapshot_of(step: &Step) -> (String, String) {
    match &step.details {
        Some(Details::Snapshot {
            snapshot,
            repository,
        }) => (snapshot.clone(), repository.clone()),
        _ => (String::new(), String::new()),
    }
}

impl Runner<'_> {
    /// Sends DROP SNAPSHOT. Gone already = dropped; refused for ownership = left to the operator
    /// (the EXPIRED row's note says so); anything else fails the run, and the row keeps its
    /// pending note so the next `expire` drops it.
    pub(super) fn drop_snapshot(
        &mut self,
        step: &Step,
        label: &str,
        job: &mut Job,
    ) -> Result<(), BbrError> {
        let (snapshot, repository) = snapshot_of(step);
        let sql = step.sql.clone().unwrap_or_default();
        match self.cluster.query_retry(&sql, &step.retry) {
            Ok(_) => info!("dropped snapshot {snapshot} from {repository}"),
            Err(SqlError::Server { message, .. })
                if GONE_MARKERS
                    .iter()
                    .any(|m| message.to_ascii_lowercase().contains(m)) =>
            {
                info!("snapshot {snapshot} is no longer in {repository}: counted as dropped")
            }
            Err(SqlError::Server { message, .. })
                if FORCE_MARKERS.iter().any(|m| message.contains(m)) =>
            {
                warn!("StarRocks refused to drop {snapshot}: {message}");
                let note = format!("{NOTE_DELETE_BY_HAND} (DROP SNAPSHOT refused: {message})");
                let upd = expired_note_sql(&self.cfg.ops_database, &snapshot, &note);
                self.query(step, &upd, "recording the refused drop")?;
                self.refused_drops.push((snapshot, message));
            }
            Err(e) => return Err(e.into_bbr(&format!("DROP SNAPSHOT {snapshot}"))),
        }
        let beat = history::heartbeat_sql(&self.cfg.ops_database, BACKUP_HISTORY, label);
        if let Err(e) = self.cluster.query_retry(&beat, &step.retry) {
            warn!("heartbeat for {label} failed: {e}");
        }
        job.issued = true;
        Ok(())
    }

    /// Records the drop, unless it was refused (the refusal's note stays).
    pub(super) fn record_dropped(&mut self, step: &Step) -> Result<(), BbrError> {
        let (snapshot, _) = snapshot_of(step);
        if self.refused_drops.iter().any(|(l, _)| *l == snapshot) {
            return Ok(());
        }
        self.exec(step)
    }

    /// Deletes our claim row: the run is complete.
    pub(super) fn release_claim(&mut self, step: &Step, job: &mut Job) -> Result<(), BbrError> {
        self.exec(step)?;
        job.outcome = Some(Outcome::Finished);
        job.finalized = true;
        Ok(())
    }
}
