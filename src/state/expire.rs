//! Read-only discovery for `expire` (and for `check`'s "needed snapshots present" item): the history
//! of the configured databases, one DISTINCT (label, table, source) summary of their manifests, the
//! restore records, and ONE `SHOW SNAPSHOT ... WHERE SNAPSHOT IN (...)` per repository.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;

use super::{cluster_now, missing_ops, parse_time, q, read_policy};
use crate::cluster::{Cluster, ResultSet, SqlError};
use crate::config::Config;
use crate::error::BbrError;
use crate::history::{self, HistoryRow, HISTORY_COLUMNS};
use crate::planner::chain::{BackupRecord, ManifestRow, TableRecord};
use crate::planner::expire::{
    DatabaseHistory, Presence, RepositoryView, RestoreRun, SnapshotRow, NOTE_DROP_PENDING,
    NOTE_VANISHED,
};
use crate::snapshot::Listing;
use crate::sql::{ident, literal, literal_list, qualified};

/// The 4.2 SHOW SNAPSHOT columns that came with DROP SNAPSHOT (PR #78092): their presence is how the
/// tool knows the cluster can drop snapshots — read from an answer, not from the version number.
pub const DROP_SNAPSHOT_COLUMNS: [&str; 2] = ["ClusterId", "ExpireTime"];

/// Rows expire decides on: everything but EXPIRED rows, plus EXPIRED rows whose drop is pending
/// and those found vanished (they keep their manifests, so restore spans still reach them: a
/// restore point needing one is lost, which `check` reports).
fn select_rows_sql(ops: &str, dbs: &[String]) -> String {
    format!(
        "SELECT {} FROM {} WHERE {} IN {} AND ({} <> 'EXPIRED' OR {} IN ({}, {}))",
        HISTORY_COLUMNS
            .iter()
            .map(|c| ident(c))
            .collect::<Vec<_>>()
            .join(", "),
        qualified(ops, history::BACKUP_HISTORY),
        ident("database_name"),
        literal_list(dbs),
        ident("status"),
        ident("error_message"),
        literal(NOTE_DROP_PENDING),
        literal(NOTE_VANISHED)
    )
}

/// Which snapshot supplies which table's partitions, one row per (label, table, source): all a
/// chain's snapshot set depends on, and far smaller than the manifest.
fn select_sources_sql(ops: &str, dbs: &[String]) -> String {
    format!(
        "SELECT DISTINCT {}, {}, {}, {}, {} FROM {} WHERE {} IN {}",
        ident("database_name"),
        ident("table_name"),
        ident("label"),
        ident("source_label"),
        ident("in_snapshot"),
        qualified(ops, history::BACKUP_PARTITIONS),
        ident("database_name"),
        literal_list(dbs)
    )
}

/// Every `backup_tables` row of the databases (where each table's spans start).
fn select_table_records_sql(ops: &str, dbs: &[String]) -> String {
    format!(
        "SELECT {}, {}, {}, {} FROM {} WHERE {} IN {}",
        ident("database_name"),
        ident("table_name"),
        ident("label"),
        ident("complete"),
        qualified(ops, history::BACKUP_TABLES),
        ident("database_name"),
        literal_list(dbs)
    )
}

fn select_restores_sql(ops: &str, dbs: &[String]) -> String {
    format!(
        "SELECT {}, {}, {}, {}, {} FROM {} WHERE {} IN {}",
        ident("label"),
        ident("database_name"),
        ident("status"),
        ident("started_at"),
        ident("finished_at"),
        qualified(ops, history::RESTORE_HISTORY),
        ident("database_name"),
        literal_list(dbs)
    )
}

/// `SHOW SNAPSHOT ON repo WHERE SNAPSHOT IN (...)`.
pub fn show_snapshots_sql(repo: &str, labels: &[String]) -> String {
    format!(
        "SHOW SNAPSHOT ON {} WHERE SNAPSHOT IN {}",
        ident(repo),
        literal_list(labels)
    )
}

fn time(s: Option<String>) -> Option<NaiveDateTime> {
    s.as_deref().and_then(parse_time)
}

/// The cluster clock and the history of every configured database.
pub fn expire_history(
    c: &mut Cluster,
    cfg: &Config,
) -> Result<(NaiveDateTime, Vec<DatabaseHistory>), BbrError> {
    let now_s = cluster_now(c, cfg)?;
    let now = parse_time(&now_s).ok_or_else(|| {
        BbrError::job_failed(
            format!("cannot parse cluster time '{now_s}'"),
            "report this",
        )
    })?;
    let dbs: Vec<String> = cfg.tables_by_db().into_keys().collect();
    let ops = &cfg.ops_database;
    let mut out: BTreeMap<String, DatabaseHistory> = dbs
        .iter()
        .map(|d| {
            (
                d.clone(),
                DatabaseHistory {
                    database: d.clone(),
                    ..DatabaseHistory::default()
                },
            )
        })
        .collect();
    let rs = c
        .query_retry(&select_rows_sql(ops, &dbs), &read_policy(cfg))
        .map_err(|e| {
            missing_ops(cfg, &e).unwrap_or_else(|| e.into_bbr("reading the backup history"))
        })?;
    for r in &rs.rows {
        let h = HistoryRow::from_row(r);
        let Some(d) = out.get_mut(&h.database) else {
            continue;
        };
        d.rows.push(snapshot_row(h));
    }
    let rs = q(
        c,
        cfg,
        &select_sources_sql(ops, &dbs),
        "reading the manifest summary",
    )?;
    for i in 0..rs.rows.len() {
        let get = |k: &str| rs.get(i, k).unwrap_or_default();
        let Some(d) = out.get_mut(&get("database_name")) else {
            continue;
        };
        d.manifest
            .entry(get("table_name"))
            .or_default()
            .push(ManifestRow {
                label: get("label"),
                partition_name: String::new(),
                partition_id: 0,
                visible_version: 0,
                replication_num: 1,
                source_label: get("source_label"),
                in_snapshot: history::parse_bool(rs.get(i, "in_snapshot")),
            });
    }
    let rs = q(
        c,
        cfg,
        &select_table_records_sql(ops, &dbs),
        "reading the table records",
    )?;
    for i in 0..rs.rows.len() {
        let get = |k: &str| rs.get(i, k).unwrap_or_default();
        let Some(d) = out.get_mut(&get("database_name")) else {
            continue;
        };
        d.tables
            .entry(get("table_name"))
            .or_default()
            .push(TableRecord {
                label: get("label"),
                complete: history::parse_bool(rs.get(i, "complete")),
            });
    }
    let rs = q(
        c,
        cfg,
        &select_restores_sql(ops, &dbs),
        "reading the restore history",
    )?;
    for i in 0..rs.rows.len() {
        let Some(d) = out.get_mut(&rs.get(i, "database_name").unwrap_or_default()) else {
            continue;
        };
        d.restores.push(RestoreRun {
            label: rs.get(i, "label").unwrap_or_default(),
            status: rs.get(i, "status").unwrap_or_default(),
            started_at: time(rs.get(i, "started_at")),
            finished_at: time(rs.get(i, "finished_at")),
        });
    }
    Ok((now, out.into_values().collect()))
}

/// The ops database's own rows (catalog backups and expire claims on it; `catalog_backup`).
pub fn catalog_history(c: &mut Cluster, cfg: &Config) -> Result<DatabaseHistory, BbrError> {
    let ops = &cfg.ops_database;
    let dbs = vec![ops.clone()];
    let rs = q(
        c,
        cfg,
        &select_rows_sql(ops, &dbs),
        "reading the catalog backups",
    )?;
    let rows = rs
        .rows
        .iter()
        .map(|r| snapshot_row(HistoryRow::from_row(r)))
        .collect();
    Ok(DatabaseHistory {
        database: ops.clone(),
        rows,
        ..DatabaseHistory::default()
    })
}

fn snapshot_row(h: HistoryRow) -> SnapshotRow {
    SnapshotRow {
        record: BackupRecord {
            label: h.label,
            database: h.database,
            status: h.status,
            snapshot_at: time(h.snapshot_at),
            backup_timestamp: h.backup_timestamp,
            repository: h.repository.clone(),
        },
        backup_type: h.backup_type,
        repository: h.repository,
        started_at: time(h.started_at),
        heartbeat_at: time(h.heartbeat_at),
        error_message: h.error_message,
    }
}

/// Reads one SHOW SNAPSHOT answer into presences (and whether it has the DROP SNAPSHOT columns).
pub fn parse_presence(rs: &ResultSet, labels: &[String]) -> (bool, BTreeMap<String, Presence>) {
    let supported = DROP_SNAPSHOT_COLUMNS.iter().all(|c| rs.col(c).is_some());
    let mut out = BTreeMap::new();
    for label in labels {
        let row = (0..rs.rows.len()).find(|&i| rs.get(i, "Snapshot").as_deref() == Some(label));
        let p = match row {
            None => Presence::Absent,
            Some(i) => {
                let status = rs.get(i, "Status").unwrap_or_default();
                let status = status.trim();
                // The one reading of Timestamp/Status (src/snapshot.rs): `Invalid: <file>`
                // entries are no timestamp, a failed listing proves nothing.
                let listing = Listing::read(rs.get(i, "Timestamp").as_deref(), status);
                if listing.restorable() {
                    Presence::Present {
                        cluster_id: rs
                            .get(i, "ClusterId")
                            .map(|s| s.trim().to_string())
                            .filter(|s| !s.is_empty()),
                    }
                } else if status == "OK" || status.starts_with("ERROR: no snapshot") {
                    // Status OK with only `Invalid:` entries: nothing RESTORE could read.
                    Presence::Absent
                } else {
                    // e.g. `ERROR: Failed to get info: <storage error>`: not proof it is gone.
                    Presence::Unknown {
                        reason: status.to_string(),
                    }
                }
            }
        };
        out.insert(label.clone(), p);
    }
    (supported, out)
}

/// One SHOW SNAPSHOT per repository for `wanted` (repository, label) pairs. Without a single
/// wanted label the configured repository is still asked once (for an empty name) to learn
/// whether the cluster has DROP SNAPSHOT.
pub fn repository_view(
    c: &mut Cluster,
    cfg: &Config,
    wanted: &[(String, String)],
) -> Result<RepositoryView, BbrError> {
    let mut by_repo: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (repo, label) in wanted {
        by_repo.entry(repo).or_default().push(label.clone());
    }
    if by_repo.is_empty() {
        by_repo.insert(&cfg.repository, Vec::new());
    }
    let mut view = RepositoryView::default();
    let mut first = true;
    for (repo, labels) in by_repo {
        let asked: Vec<String> = if labels.is_empty() {
            vec![String::new()]
        } else {
            labels.clone()
        };
        let rs = match c.query_retry(&show_snapshots_sql(repo, &asked), &read_policy(cfg)) {
            Ok(rs) => rs,
            // The IN-list form lists the whole repository first and fails the statement when
            // that listing fails (Repository.getSnapshotInfos, backup/Repository.java:585-594):
            // a transient storage error, no proof that any snapshot is gone.
            Err(SqlError::Server { message, .. }) if is_failed_repository_listing(&message) => {
                for label in labels {
                    let reason = format!("repository {repo}: {message}");
                    view.snapshots
                        .insert((repo.to_string(), label), Presence::Unknown { reason });
                }
                continue;
            }
            // An old row's repository may be gone: its snapshots cannot be checked (or dropped).
            Err(SqlError::Server { message, .. }) if repo != cfg.repository => {
                for label in labels {
                    let reason = format!("repository {repo}: {message}");
                    view.snapshots
                        .insert((repo.to_string(), label), Presence::Unknown { reason });
                }
                continue;
            }
            Err(e) => return Err(e.into_bbr(&format!("listing snapshots in repository {repo}"))),
        };
        let (supported, found) = parse_presence(&rs, &labels);
        // A capability of the FE: every answer has the columns or none has.
        view.drop_supported = if first {
            supported
        } else {
            view.drop_supported && supported
        };
        first = false;
        for (label, p) in found {
            view.snapshots.insert((repo.to_string(), label), p);
        }
    }
    Ok(view)
}

/// SHOW SNAPSHOT's refusal when the repository itself could not be listed
/// (`Failed to list snapshot in repo: <repo>, err: <storage error>`).
pub fn is_failed_repository_listing(message: &str) -> bool {
    message.contains("Failed to list snapshot in repo")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rs(rows: &[(&str, Option<&str>, Option<&str>)]) -> ResultSet {
        ResultSet {
            columns: vec!["Snapshot".into(), "Timestamp".into(), "Status".into()],
            rows: rows
                .iter()
                .map(|(l, t, s)| {
                    vec![
                        Some(l.to_string()),
                        t.map(String::from),
                        s.map(String::from),
                    ]
                })
                .collect(),
        }
    }

    /// SHOW SNAPSHOT answers (Repository.java:585-640, STARROCKS.md §6) read as presence: only a
    /// decoded timestamp proves a snapshot; a failed listing proves nothing.
    #[test]
    fn presence_per_show_snapshot_answer() {
        let ok = Presence::Present { cluster_id: None };
        let failed = "ERROR: Failed to get info: connection reset";
        let cases: Vec<(&str, Option<&str>, Option<&str>, Presence)> = vec![
            (
                "listed with a timestamp",
                Some("2026-01-01-00-00-05-123"),
                Some("OK"),
                ok.clone(),
            ),
            (
                "a stray info file beside it",
                Some("Invalid: __info_x.part\n2026-01-01-00-00-05-123"),
                Some("OK"),
                ok,
            ),
            (
                "only a stray info file",
                Some("Invalid: __info_x.part"),
                Some("OK"),
                Presence::Absent,
            ),
            (
                "no info file",
                Some(""),
                Some("ERROR: no snapshot"),
                Presence::Absent,
            ),
            (
                "the listing failed",
                None,
                Some(failed),
                Presence::Unknown {
                    reason: failed.into(),
                },
            ),
        ];
        for (name, ts, status, want) in cases {
            let (_, got) = parse_presence(&rs(&[("a", ts, status)]), &["a".to_string()]);
            assert_eq!(got["a"], want, "{name}");
        }
        // not listed at all (the IN form lists only what the repository holds)
        let (_, got) = parse_presence(&rs(&[]), &["a".to_string()]);
        assert_eq!(got["a"], Presence::Absent);
        assert!(is_failed_repository_listing(
            "Failed to list snapshot in repo: r, err: timeout"
        ));
    }
}
