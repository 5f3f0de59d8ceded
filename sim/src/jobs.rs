//! Repositories, snapshots and BACKUP/RESTORE jobs on the virtual clock.

use chrono::NaiveDateTime;

use crate::cluster::{ok, Cluster, JobInfo, Output, Session, SnapshotInfo};
use crate::sql::{err, Cur};
use crate::SimError;

/// A repository and the snapshots written to it.
#[derive(Debug, Clone)]
pub(crate) struct Repo {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) read_only: bool,
    pub(crate) location: String,
    pub(crate) create_time: NaiveDateTime,
    pub(crate) snapshots: Vec<SnapshotInfo>,
}

/// A BACKUP or RESTORE job.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub(crate) info: JobInfo,
}

impl Cluster {
    pub(crate) fn update_jobs(&mut self) {}

    pub(crate) fn set_stalled(&mut self, stalled: bool) {
        self.stalled = stalled;
    }

    pub(crate) fn backup(&mut self, _s: &Session, c: &mut Cur) -> Result<Output, SimError> {
        Err(c.syntax())
    }

    pub(crate) fn restore(&mut self, _s: &Session, c: &mut Cur) -> Result<Output, SimError> {
        Err(c.syntax())
    }

    pub(crate) fn cancel(&mut self, _s: &Session, c: &mut Cur) -> Result<Output, SimError> {
        Err(c.syntax())
    }

    pub(crate) fn show_backup(&mut self, _s: &Session, _c: &mut Cur) -> Result<Output, SimError> {
        ok()
    }

    pub(crate) fn show_restore(&mut self, _s: &Session, _c: &mut Cur) -> Result<Output, SimError> {
        ok()
    }

    pub(crate) fn show_snapshot(&mut self, _s: &Session, _c: &mut Cur) -> Result<Output, SimError> {
        Err(err(1064, "not yet"))
    }

    pub(crate) fn show_repositories(&self) -> Output {
        Output::rows(&["RepoId"], Vec::new())
    }

    pub(crate) fn snapshots(&self, repo: &str) -> Vec<SnapshotInfo> {
        self.repos
            .get(repo)
            .map(|r| r.snapshots.clone())
            .unwrap_or_default()
    }

    pub(crate) fn jobs(&self) -> Vec<JobInfo> {
        self.jobs.iter().map(|j| j.info.clone()).collect()
    }
}
