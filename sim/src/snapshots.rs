//! The 4.2 snapshot lifecycle (STARROCKS.md §6, PR #78092): `DROP SNAPSHOT <name> ON <repo> [FORCE]`
//! and the ClusterId/FinishTime/TTL/ExpireTime columns of SHOW SNAPSHOT, on when
//! `SimOptions::drop_snapshot` is set.
//!
//! The PR is newer than the FE mirror read for this project (HEAD 2026-04-30), so the statement's
//! rules come from the PR description: DROP refuses a snapshot another cluster created (and one
//! written before 4.2, whose info file names no cluster) unless FORCE is given. The error texts
//! below are this simulator's wording, unverified against a 4.2 FE: clients should match their
//! stable cores ("does not exist", "FORCE").

use crate::cluster::{fmt_time, in_zone, ok, Cluster, Output};
use crate::jobs::{Repo, Snap};
use crate::sql::{err, Cur};
use crate::SimError;

/// ErrorCode.ERR_COMMON_ERROR.
const ER_COMMON: u16 = 5064;

/// SHOW SNAPSHOT ON repo [WHERE SNAPSHOT ...] from 4.2: the 2.5–4.1 columns, then the lifecycle
/// ones (column order after Status unverified; read by name).
pub(crate) const SHOW_SNAPSHOT_42: [&str; 7] = [
    "Snapshot",
    "Timestamp",
    "Status",
    "ClusterId",
    "FinishTime",
    "TTL",
    "ExpireTime",
];

impl Cluster {
    /// The 4.2 lifecycle: from release 4.2, or forced by `SimOptions::drop_snapshot`.
    pub(crate) fn drop_snapshot_enabled(&self) -> bool {
        self.opts.drop_snapshot || self.release.has_drop_snapshot()
    }

    /// ClusterId, FinishTime, TTL, ExpireTime of a label's newest finished snapshot (NULL when
    /// unknown: no snapshot, or written before 4.2). The simulator never sets a ttl.
    pub(crate) fn lifecycle_columns(&self, repo: &Repo, label: &str) -> Vec<Option<String>> {
        let snap = repo.with_snaps(|v| {
            v.iter()
                .filter(|s| s.label == label && s.finished)
                .max_by_key(|s| s.create_time)
                .map(Snap::head)
        });
        let snap = snap.as_ref();
        let tz = self.opts.session_time_zone;
        vec![
            snap.and_then(|s| s.cluster_id.clone()),
            snap.and_then(|s| s.finish_time)
                .map(|t| fmt_time(in_zone(t, tz))),
            None,
            None,
        ]
    }

    /// `DROP SNAPSHOT <name> ON <repo> [FORCE]` (the keyword SNAPSHOT already eaten).
    pub(crate) fn drop_snapshot(&mut self, c: &mut Cur) -> Result<Output, SimError> {
        let label = c.ident()?;
        c.expect_kw("ON")?;
        let repo_name = c.ident()?;
        let force = c.eat_kw("FORCE");
        c.expect_end()?;
        let writing = self
            .jobs
            .iter()
            .any(|j| j.label == label && j.repo == repo_name && !j.done());
        let cluster_id = self.opts.cluster_id.clone();
        let Some(repo) = self.repos.get_mut(&repo_name) else {
            return Err(err(
                ER_COMMON,
                format!("Getting analyzing error. Detail message: Repository [{repo_name}] does not exist."),
            ));
        };
        if repo.read_only {
            return Err(err(
                ER_COMMON,
                format!("Repository {repo_name} is read only"),
            ));
        }
        let snaps: Vec<_> = repo
            .list()
            .into_iter()
            .filter(|s| s.label == label)
            .collect();
        if snaps.is_empty() {
            return Err(err(
                ER_COMMON,
                format!("Snapshot '{label}' does not exist in repository {repo_name}"),
            ));
        }
        if writing {
            return Err(err(
                ER_COMMON,
                format!("Snapshot '{label}' is being written by a running backup job"),
            ));
        }
        if !force
            && snaps
                .iter()
                .any(|s| s.cluster_id.as_deref() != Some(&cluster_id))
        {
            return Err(err(
                ER_COMMON,
                format!(
                    "Snapshot '{label}' was not created by this cluster; use DROP SNAPSHOT {label} ON {repo_name} FORCE to drop it"
                ),
            ));
        }
        repo.snapshots(|v| v.retain(|s| s.label != label));
        ok()
    }
}
