//! Read-only discovery for `recover`: the clock, whether the ops database holds tables, and the
//! repository listing (SHOW SNAPSHOT ON repo, every snapshot directory).

use super::{cluster_now, init_state, q};
use crate::cluster::{Cluster, ResultSet};
use crate::config::Config;
use crate::error::BbrError;
use crate::planner::recover::{show_snapshots_sql, ListedSnapshot, RecoverState};

/// The rows of `SHOW SNAPSHOT ON repo` (Snapshot, Timestamp, Status).
pub fn listed_snapshots(rs: &ResultSet) -> Vec<ListedSnapshot> {
    (0..rs.rows.len())
        .map(|i| {
            ListedSnapshot::parse(
                &rs.get(i, "Snapshot").unwrap_or_default(),
                rs.get(i, "Timestamp").as_deref(),
                rs.get(i, "Status").as_deref(),
            )
        })
        .collect()
}

pub fn recover_state(c: &mut Cluster, cfg: &Config) -> Result<RecoverState, BbrError> {
    let cluster_time = cluster_now(c, cfg)?;
    let ops_tables = init_state(c, cfg)?.existing_tables;
    let ls = q(
        c,
        cfg,
        &show_snapshots_sql(&cfg.repository),
        "listing the snapshots in the repository",
    )?;
    Ok(RecoverState {
        cluster_time,
        ops_tables,
        snapshots: listed_snapshots(&ls),
    })
}
