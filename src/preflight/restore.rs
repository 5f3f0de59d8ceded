//! Restore preflight (SPEC.md `restore`, v2): before anything is written or any RESTORE is sent,
//! the chain must be restorable — each snapshot's repository exists, every snapshot is in it with
//! its exact timestamp (one `SHOW SNAPSHOT ... WHERE SNAPSHOT IN (...)` per repository), enough
//! backends are alive for the replicas the RESTOREs create, and the target database exists (or the
//! release creates it: 3.4+). Every refusal exits 2. The dry run runs the same checks (all reads).

use std::collections::{BTreeMap, BTreeSet};

use tracing::warn;

use crate::cluster::{Cluster, ResultSet, SqlError};
use crate::config::Config;
use crate::error::BbrError;
use crate::sql::{ident, literal};

/// One snapshot of the chain as the checks need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkToCheck {
    pub label: String,
    pub backup_timestamp: String,
    pub repository: String,
    pub replication_num: u32,
}

const PICK: &str = "pick another --timestamp (`starrocks-bbr list` shows what the history holds)";

/// A read that StarRocks may refuse for lack of privileges: refused → None (only warned about;
/// the RESTORE itself then reports StarRocks' reason).
fn optional_read(
    c: &mut Cluster,
    cfg: &Config,
    sql: &str,
    doing: &str,
) -> Result<Option<ResultSet>, BbrError> {
    match c.query_retry(sql, &crate::planner::idempotent(cfg)) {
        Ok(rs) => Ok(Some(rs)),
        Err(SqlError::Server { message, .. }) => {
            warn!("cannot check {doing} ({message}); the RESTORE will report any problem");
            Ok(None)
        }
        Err(e) => Err(e.into_bbr(doing)),
    }
}

pub fn check_restore(
    c: &mut Cluster,
    cfg: &Config,
    database: &str,
    links: &[LinkToCheck],
) -> Result<(), BbrError> {
    check_database(c, cfg, database)?;
    let mut by_repo: BTreeMap<&str, Vec<&LinkToCheck>> = BTreeMap::new();
    for l in links {
        by_repo.entry(l.repository.as_str()).or_default().push(l);
    }
    if let Some(rs) = optional_read(c, cfg, "SHOW REPOSITORIES", "the repositories")? {
        let names: BTreeSet<String> = (0..rs.rows.len())
            .filter_map(|i| rs.get(i, "RepoName"))
            .collect();
        if let Some(missing) = by_repo.keys().find(|r| !names.contains(**r)) {
            let used: Vec<&str> = by_repo[missing].iter().map(|l| l.label.as_str()).collect();
            return Err(BbrError::usage(
                format!(
                    "repository {missing} does not exist in the cluster, and snapshot(s) {} of this restore were written to it",
                    used.join(", ")
                ),
                format!("create repository {missing} again (CREATE REPOSITORY on the same location), or {PICK}"),
            ));
        }
    }
    let n = links.len();
    for (repo, ls) in &by_repo {
        let labels: Vec<String> = ls.iter().map(|l| literal(&l.label)).collect();
        let sql = format!(
            "SHOW SNAPSHOT ON {} WHERE SNAPSHOT IN ({})",
            ident(repo),
            labels.join(", ")
        );
        let rs = c
            .query_retry(&sql, &crate::planner::idempotent(cfg))
            .map_err(|e| e.into_bbr(&format!("listing the snapshots in repository {repo}")))?;
        for l in ls {
            let k = links.iter().position(|x| x == *l).map_or(0, |i| i + 1);
            match snapshot_state(&rs, &l.label, &l.backup_timestamp) {
                Presence::Present => {}
                Presence::Unknown(why) => warn!(
                    "cannot tell whether snapshot {} is in repository {repo} ({why}); the RESTORE will report it if not",
                    l.label
                ),
                Presence::Missing(why) => {
                    return Err(BbrError::usage(
                        format!(
                            "snapshot {} ({k} of {n} of this restore) is not in repository {repo}: {why}; every restore point of the table from when it was taken until the next backup re-based the table needs it and is lost",
                            l.label
                        ),
                        format!("a restore needs every snapshot of its chain; {PICK}: a time before that snapshot, or after the next backup (which takes the table whole)"),
                    ))
                }
            }
        }
    }
    let need = links.iter().map(|l| l.replication_num).max().unwrap_or(0);
    // (a SHOW BACKENDS the server refuses is only warned about: the RESTORE reports any problem)
    if let Some(alive) = super::alive_backends(c, cfg)? {
        if alive < need {
            return Err(BbrError::usage(
                match cfg.restore_replication_num {
                    Some(_) => format!("the restore creates partitions with replication_num {need} (restore_replication_num), but only {alive} backend(s) are alive"),
                    None => format!("the restore creates partitions with replication_num {need} (what they had when backed up), but only {alive} backend(s) are alive"),
                },
                if alive == 0 {
                    "bring backends up".to_string()
                } else {
                    format!("bring backends up, or set restore_replication_num to at most {alive} in the config")
                },
            ));
        }
    }
    Ok(())
}

/// Before 3.4 RESTORE needs its database to exist; 3.4+ creates it. The handshake says which:
/// 5.1.0 up to 3.3, 8.0.33 from 3.4 (STARROCKS.md §5).
fn check_database(c: &mut Cluster, cfg: &Config, db: &str) -> Result<(), BbrError> {
    let sql = format!(
        "SELECT SCHEMA_NAME FROM information_schema.schemata WHERE SCHEMA_NAME = {}",
        literal(db)
    );
    let Some(rs) = optional_read(c, cfg, &sql, "the target database")? else {
        return Ok(());
    };
    let creates = c
        .handshake_version()
        .is_some_and(|(major, _, _)| major >= 8);
    if rs.rows.is_empty() && !creates {
        return Err(BbrError::usage(
            format!("database {db} does not exist, and this StarRocks release (before 3.4) does not create it on RESTORE"),
            format!("create it first (CREATE DATABASE {db}), then run restore again"),
        ));
    }
    Ok(())
}

#[derive(Debug, PartialEq, Eq)]
enum Presence {
    Present,
    Missing(String),
    /// The listing failed (a transient storage error): not proof that it is gone.
    Unknown(String),
}

/// Reads SHOW SNAPSHOT's answer for one label: `Status` OK and the exact timestamp among the
/// `\n`-joined Timestamps (`Invalid: ...` entries ignored, STARROCKS.md §6).
fn snapshot_state(rs: &ResultSet, label: &str, ts: &str) -> Presence {
    let rows: Vec<usize> = (0..rs.rows.len())
        .filter(|&i| rs.get(i, "Snapshot").as_deref() == Some(label))
        .collect();
    if rows.is_empty() {
        return Presence::Missing("SHOW SNAPSHOT does not list it".to_string());
    }
    let mut status = String::new();
    for i in rows {
        status = rs.get(i, "Status").unwrap_or_default();
        if status.trim() == "OK" {
            let stamps = rs.get(i, "Timestamp").unwrap_or_default();
            if stamps.split('\n').any(|s| s.trim() == ts) {
                return Presence::Present;
            }
            return Presence::Missing(format!(
                "it is there, but not with the timestamp {ts} the history recorded"
            ));
        }
    }
    if status.contains("Failed to get info") {
        Presence::Unknown(status)
    } else {
        Presence::Missing(status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rs(rows: &[(&str, Option<&str>, &str)]) -> ResultSet {
        ResultSet {
            columns: vec!["Snapshot".into(), "Timestamp".into(), "Status".into()],
            rows: rows
                .iter()
                .map(|(l, t, s)| {
                    vec![
                        Some(l.to_string()),
                        t.map(str::to_string),
                        Some(s.to_string()),
                    ]
                })
                .collect(),
        }
    }

    #[test]
    fn snapshot_presence_per_show_snapshot_answer() {
        let cases = [
            (rs(&[("a", Some("t1"), "OK")]), Presence::Present),
            (
                rs(&[("a", Some("Invalid: x\nt1"), "OK")]),
                Presence::Present,
            ),
            (
                rs(&[("a", Some("t0"), "OK")]),
                Presence::Missing(
                    "it is there, but not with the timestamp t1 the history recorded".into(),
                ),
            ),
            (
                rs(&[("a", Some(""), "ERROR: no snapshot")]),
                Presence::Missing("ERROR: no snapshot".into()),
            ),
            (
                rs(&[("a", None, "ERROR: Failed to get info: timeout")]),
                Presence::Unknown("ERROR: Failed to get info: timeout".into()),
            ),
            (
                rs(&[("b", Some("t1"), "OK")]),
                Presence::Missing("SHOW SNAPSHOT does not list it".into()),
            ),
        ];
        for (answer, want) in cases {
            assert_eq!(
                snapshot_state(&answer, "a", "t1"),
                want,
                "{:?}",
                answer.rows
            );
        }
    }
}
