//! Snapshots a base's chains still name that the repository no longer holds (SPEC.md "Bounded
//! restores": a table whose chain depends on one is backed up whole). A server-side TTL or a
//! manual deletion removes snapshots behind the tool's back, and a backup run need not follow an
//! `expire`, so backup discovery asks the repository itself: ONE `SHOW SNAPSHOT ... WHERE SNAPSHOT
//! IN (...)` per repository for every source of every base, whatever the number of tables.

use std::collections::{BTreeMap, BTreeSet};

use tracing::warn;

use crate::cluster::Cluster;
use crate::config::{Config, TableRef};
use crate::error::BbrError;
use crate::history::HistoryRow;
use crate::planner::backup::{unchanged_sources, BaseBackup, TableState};
use crate::planner::expire::Presence;

/// Fills each base's `missing`: sources whose row is EXPIRED (expire found them vanished), and
/// sources SHOW SNAPSHOT no longer lists (or lists with nothing RESTORE could read). A failed
/// listing (`ERROR: Failed to get info`, STARROCKS.md §6) is no proof of absence: warned, taken as
/// present. A source that is no snapshot (a manifest-only record) or not in the history at all
/// (preflight::check_history refuses that) is not asked for.
pub fn mark_missing_sources(
    c: &mut Cluster,
    cfg: &Config,
    bases: &mut BTreeMap<String, BaseBackup>,
    rows: &[HistoryRow],
) -> Result<(), BbrError> {
    let by_label: BTreeMap<&str, &HistoryRow> =
        rows.iter().map(|r| (r.label.as_str(), r)).collect();
    let mut wanted: BTreeSet<(String, String)> = BTreeSet::new();
    for b in bases.values_mut() {
        for s in &b.sources {
            let Some(r) = by_label.get(s.as_str()) else {
                continue;
            };
            if r.status == "EXPIRED" {
                b.missing.insert(s.clone(), r.repository.clone());
            } else if r.backup_timestamp.as_deref().is_some_and(|t| !t.is_empty()) {
                wanted.insert((r.repository.clone(), s.clone()));
            }
        }
    }
    if wanted.is_empty() {
        return Ok(());
    }
    let wanted: Vec<(String, String)> = wanted.into_iter().collect();
    let view = super::expire::repository_view(c, cfg, &wanted)?;
    for ((repo, label), p) in &view.snapshots {
        match p {
            Presence::Present { .. } => {}
            Presence::Absent => {
                for b in bases.values_mut().filter(|b| b.sources.contains(label)) {
                    b.missing.insert(label.clone(), repo.clone());
                }
            }
            Presence::Unknown { reason } => warn!(
                "cannot tell whether snapshot {label} is still in repository {repo} ({reason}); assuming it is"
            ),
        }
    }
    Ok(())
}

/// One warning per missing snapshot, naming the tables this run re-bases because of it (those
/// whose unchanged partitions it still supplies).
pub fn log_missing_sources(
    bases: &BTreeMap<String, BaseBackup>,
    tables: &BTreeMap<TableRef, TableState>,
) {
    for (db, b) in bases {
        for (label, repo) in &b.missing {
            let needing: Vec<String> = tables
                .iter()
                .filter(|(t, _)| &t.database == db)
                .filter(|(t, ts)| {
                    b.tables.get(&t.table).is_some_and(|bt| {
                        unchanged_sources(bt, ts)
                            .iter()
                            .any(|i| b.sources.get(*i as usize) == Some(label))
                    })
                })
                .map(|(t, _)| t.to_string())
                .collect();
            if !needing.is_empty() {
                warn!(
                    "snapshot {label} is no longer in repository {repo}; this backup takes the tables whose chains need it whole: {}",
                    needing.join(", ")
                );
            }
        }
    }
}
