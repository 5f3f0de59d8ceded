//! Checks made before anything is written: a configuration error found here exits 2 with nothing
//! recorded, instead of a RUNNING row, a manifest and a FAILED row for a job StarRocks refuses.

use tracing::warn;

use crate::cluster::{Cluster, SqlError};
use crate::config::Config;
use crate::error::BbrError;

pub mod restore;

/// The configured repository exists (SHOW REPOSITORIES) and, when `write` (backup), is not read-only.
/// A SHOW REPOSITORIES the server refuses (e.g. privileges) is only warned about: the BACKUP or
/// RESTORE itself then reports StarRocks' reason.
pub fn check_repository(c: &mut Cluster, cfg: &Config, write: bool) -> Result<(), BbrError> {
    let rs = match c.query_retry("SHOW REPOSITORIES", &crate::planner::idempotent(cfg)) {
        Ok(rs) => rs,
        Err(SqlError::Server { message, .. }) => {
            warn!(
                "cannot list repositories ({message}); not checking repository {}",
                cfg.repository
            );
            return Ok(());
        }
        Err(e) => return Err(e.into_bbr("listing repositories")),
    };
    let Some(i) = (0..rs.rows.len())
        .find(|&i| rs.get(i, "RepoName").as_deref() == Some(cfg.repository.as_str()))
    else {
        return Err(BbrError::usage(
            format!(
                "repository {} does not exist in the cluster",
                cfg.repository
            ),
            "create it with CREATE REPOSITORY, or fix `repository` in the config",
        ));
    };
    let read_only = rs
        .get(i, "IsReadOnly")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    if write && read_only {
        return Err(BbrError::usage(
            format!(
                "repository {} is read only: BACKUP cannot write to it",
                cfg.repository
            ),
            "configure a writable repository in `repository`",
        ));
    }
    if let Some(msg) = rs.get(i, "ErrMsg").filter(|m| !m.trim().is_empty()) {
        warn!("repository {} reports an error: {msg}", cfg.repository);
    }
    Ok(())
}

/// The history a backup builds on is consistent: for each configured database, the latest FINISHED
/// backup (the base of the next incremental) has a manifest, and every snapshot its manifest names
/// as a partition's source (itself included) is a FINISHED backup with a `backup_timestamp` — or
/// an EXPIRED one (expire found it gone from the repository): that is no inconsistency but the
/// re-base case, and the planner takes the tables needing it whole (planner::rolling). A history
/// edited by hand into another state exits 2 before anything is written: basing a backup on it
/// would build restore chains that cannot be restored.
pub fn check_history(c: &mut Cluster, cfg: &Config) -> Result<(), BbrError> {
    use crate::sql::{ident, literal_list, qualified};
    let dbs: Vec<String> = cfg.tables_by_db().into_keys().collect();
    let ops = &cfg.ops_database;
    let policy = crate::planner::idempotent(cfg);
    let sql = format!(
        "SELECT {}, {}, {}, {}, {} FROM {} WHERE {} IN ('FINISHED', 'EXPIRED') AND {} IN {}",
        ident("label"),
        ident("database_name"),
        ident("backup_timestamp"),
        ident("started_at"),
        ident("status"),
        qualified(ops, crate::history::BACKUP_HISTORY),
        ident("status"),
        ident("database_name"),
        literal_list(&dbs)
    );
    let rs = c
        .query_retry(&sql, &policy)
        .map_err(|e| e.into_bbr("reading the FINISHED backups"))?;
    // label -> has a backup_timestamp; database -> latest (started_at, label)
    let mut finished: std::collections::BTreeMap<String, bool> = Default::default();
    let mut expired: std::collections::BTreeSet<String> = Default::default();
    let mut latest: std::collections::BTreeMap<String, (String, String)> = Default::default();
    for i in 0..rs.rows.len() {
        let label = rs.get(i, "label").unwrap_or_default();
        if rs.get(i, "status").as_deref() == Some("EXPIRED") {
            expired.insert(label);
            continue;
        }
        let db = rs.get(i, "database_name").unwrap_or_default();
        let ts = rs
            .get(i, "backup_timestamp")
            .is_some_and(|t| !t.trim().is_empty());
        let started = rs.get(i, "started_at").unwrap_or_default();
        finished.insert(label.clone(), ts);
        let key = (started, label);
        if latest.get(&db).is_none_or(|cur| key > *cur) {
            latest.insert(db, key);
        }
    }
    if latest.is_empty() {
        return Ok(());
    }
    let bases: Vec<String> = latest.values().map(|(_, l)| l.clone()).collect();
    let sql = format!(
        "SELECT DISTINCT {}, {} FROM {} WHERE {} IN {}",
        ident("label"),
        ident("source_label"),
        qualified(ops, crate::history::BACKUP_PARTITIONS),
        ident("label"),
        literal_list(&bases)
    );
    let rs = c
        .query_retry(&sql, &policy)
        .map_err(|e| e.into_bbr("reading the manifests of the latest backups"))?;
    let mut sources: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for i in 0..rs.rows.len() {
        let entry = sources
            .entry(rs.get(i, "label").unwrap_or_default())
            .or_default();
        // a tombstone (lean manifests: a dropped partition) names no source
        if let Some(s) = rs.get(i, "source_label").filter(|s| !s.is_empty()) {
            entry.push(s);
        }
    }
    let broken = |what: String| {
        BbrError::usage(
            format!("{ops}.backup_history is inconsistent: {what}"),
            "restore the rows from an export, or set that row's status to 'FAILED' so the next backup ignores it",
        )
    };
    for (db, (_, base)) in &latest {
        // (A FINISHED row without backup_timestamp is legitimate when it holds no data: a
        // manifest-only record whose rows all name earlier snapshots.)
        let Some(srcs) = sources.get(base) else {
            return Err(broken(format!(
                "the latest FINISHED backup {base} of {db} has no rows in {ops}.backup_partitions"
            )));
        };
        for s in srcs {
            match finished.get(s) {
                Some(true) => {}
                // gone from the repository: the planner re-bases the tables needing it
                None if expired.contains(s) => {}
                Some(false) => {
                    return Err(broken(format!(
                        "FINISHED backup {s} (a source of the latest backup {base} of {db}) has no backup_timestamp"
                    )))
                }
                None => {
                    return Err(broken(format!(
                        "the manifest of {base} ({db}) names {s} as a source, which is not a FINISHED backup"
                    )))
                }
            }
        }
    }
    Ok(())
}

/// Alive backends (SHOW BACKENDS, `Alive` = true); None when the server refuses the statement
/// (privileges): callers then leave the judgement to StarRocks.
pub fn alive_backends(c: &mut Cluster, cfg: &Config) -> Result<Option<u32>, BbrError> {
    match c.query_retry("SHOW BACKENDS", &crate::planner::idempotent(cfg)) {
        Ok(rs) => {
            let alive = (0..rs.rows.len())
                .filter(|&i| {
                    rs.get(i, "Alive")
                        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
                })
                .count();
            Ok(Some(u32::try_from(alive).unwrap_or(u32::MAX)))
        }
        Err(SqlError::Server { message, .. }) => {
            warn!("cannot list backends ({message})");
            Ok(None)
        }
        Err(e) => Err(e.into_bbr("listing backends")),
    }
}

/// StarRocks's refusal of a CREATE TABLE whose replication_num exceeds the alive backends
/// (STARROCKS.md §5: "Table replication num should be less than or equal to the number of available
/// BE nodes ... Current alive backend is [ids]") is a config error: exit 2 naming the key. Read from
/// the refusal itself, so `init` sends no extra statement.
pub fn replication_refusal(cfg: &Config, e: &BbrError) -> Option<BbrError> {
    const MARK: &str = "replication num should be less than or equal to the number of available BE";
    if !e.what.contains(MARK) {
        return None;
    }
    // PropertyAnalyzer.java lists the alive backends' ids: "[10001,10002]".
    let alive = e
        .what
        .split("Current alive backend is [")
        .nth(1)
        .and_then(|r| r.split(']').next())
        .map(|ids| {
            let n = ids.split(',').filter(|i| !i.trim().is_empty()).count();
            u32::try_from(n).unwrap_or(u32::MAX)
        });
    let (what, todo) = match alive {
        Some(n) => (
            format!("is above the {n} alive backend(s) of the cluster"),
            format!("set replication_num to {n} or less, or bring more backends up"),
        ),
        None => (
            "is above the alive backends of the cluster".to_string(),
            "lower replication_num or bring more backends up".to_string(),
        ),
    };
    Some(BbrError::usage(
        format!(
            "config {}: key 'replication_num' ({}) {what}",
            cfg.path.display(),
            cfg.replication_num
        ),
        todo,
    ))
}
