//! Read-only discovery for `recover`: the clock, whether the ops database holds tables, and the
//! repository listing (SHOW SNAPSHOT ON repo, every snapshot directory).

use super::{cluster_now, init_state, q};
use crate::cluster::{Cluster, ResultSet};
use crate::config::Config;
use crate::error::BbrError;
use crate::history::BACKUP_HISTORY;
use crate::planner::catalog::is_catalog_label;
use crate::planner::recover::{show_snapshots_sql, CatalogChoice, ListedSnapshot, RecoverState};
use crate::planner::restore::show_restore_sql;
use crate::sql::{ident, literal, qualified};

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
    let init = init_state(c, cfg)?;
    let in_progress = if init.database_exists {
        dead_recover(c, cfg)?
    } else {
        None
    };
    let ops_tables = init.existing_tables;
    let ls = q(
        c,
        cfg,
        &show_snapshots_sql(&cfg.repository),
        "listing the snapshots in the repository",
    )?;
    let alive_backends = match c.query_retry("SHOW BACKENDS", &crate::planner::idempotent(cfg)) {
        Ok(rs) => Some(
            (0..rs.rows.len())
                .filter(|&i| rs.get(i, "Alive").is_some_and(|a| a.trim() == "true"))
                .count() as u32,
        ),
        // a refused listing (privileges): the RESTORE itself reports too few backends
        Err(crate::cluster::SqlError::Server { .. }) => None,
        Err(e) => return Err(e.into_bbr("listing backends")),
    };
    Ok(RecoverState {
        alive_backends,
        cluster_time,
        ops_tables,
        snapshots: listed_snapshots(&ls),
        in_progress,
    })
}

/// A recover that died: the ops database's last job (the FE keeps one per database) is the RESTORE
/// of a catalog snapshot, still running, or FINISHED while that catalog's row is still RUNNING
/// (recover finalizes it last). A live cluster's ops database never shows such a RESTORE.
fn dead_recover(c: &mut Cluster, cfg: &Config) -> Result<Option<CatalogChoice>, BbrError> {
    let rs = q(
        c,
        cfg,
        &show_restore_sql(&cfg.ops_database),
        "reading SHOW RESTORE of the ops database",
    )?;
    let Some(i) = (0..rs.rows.len())
        .rev()
        .find(|&i| rs.get(i, "Label").is_some_and(|l| is_catalog_label(&l)))
    else {
        return Ok(None);
    };
    let choice = CatalogChoice {
        label: rs.get(i, "Label").unwrap_or_default(),
        backup_timestamp: rs.get(i, "Timestamp").unwrap_or_default(),
    };
    match rs.get(i, "State").unwrap_or_default().as_str() {
        "CANCELLED" => Ok(None),
        "FINISHED" => {
            let sql = format!(
                "SELECT {} FROM {} WHERE {} = {}",
                ident("status"),
                qualified(&cfg.ops_database, BACKUP_HISTORY),
                ident("label"),
                literal(&choice.label)
            );
            // unreadable history: not provably ours to continue (the refusal says what exists)
            let status = q(c, cfg, &sql, "reading the restored catalog's row")
                .ok()
                .and_then(|r| r.scalar());
            Ok((status.as_deref() == Some("RUNNING")).then_some(choice))
        }
        _ => Ok(Some(choice)),
    }
}
