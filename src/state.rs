//! Read-only discovery: the SELECT/SHOW statements that build the planners' inputs. Nothing here
//! changes the cluster, so `--dry-run` can run all of it.

use std::collections::{BTreeMap, BTreeSet};

use tracing::{debug, info};

use crate::cluster::{Cluster, ResultSet, SqlError};
use crate::config::{Config, TableRef};
use crate::error::BbrError;
use crate::history::{self, HistoryRow, OPS_TABLES};
use crate::plan::RetryPolicy;
use crate::planner::backup::{
    show_backup_sql, BackupState, BaseBackup, BasePartition, Name, PartitionState, ResumeJob,
    TableState,
};
use crate::planner::init::InitState;

pub mod catalog;
pub mod expire;
pub mod recover;
pub mod restore;
use crate::sql::{ident, literal_list, qualified};

fn read_policy(cfg: &Config) -> RetryPolicy {
    crate::planner::idempotent(cfg)
}

fn q(c: &mut Cluster, cfg: &Config, sql: &str, doing: &str) -> Result<ResultSet, BbrError> {
    c.query_retry(sql, &read_policy(cfg))
        .map_err(|e| e.into_bbr(doing))
}

/// The cluster clock, `YYYY-MM-DD HH:MM:SS` (session time zone).
pub fn cluster_now(c: &mut Cluster, cfg: &Config) -> Result<String, BbrError> {
    let rs = q(c, cfg, "SELECT NOW()", "reading the cluster clock")?;
    rs.scalar()
        .map(|s| history::trim_datetime(&s))
        .ok_or_else(|| BbrError::job_failed("SELECT NOW() returned no row", "check the cluster"))
}

/// Parses a cluster DATETIME string.
pub fn parse_time(s: &str) -> Option<chrono::NaiveDateTime> {
    chrono::NaiveDateTime::parse_from_str(&history::trim_datetime(s), "%Y-%m-%d %H:%M:%S").ok()
}

/// What init needs: does the ops database exist, which ops tables exist.
pub fn init_state(c: &mut Cluster, cfg: &Config) -> Result<InitState, BbrError> {
    let dbs = q(c, cfg, "SHOW DATABASES", "listing databases")?;
    let database_exists = dbs
        .rows
        .iter()
        .any(|r| r.first().cloned().flatten().as_deref() == Some(cfg.ops_database.as_str()));
    let mut existing_tables = Vec::new();
    if database_exists {
        let sql = format!("SHOW TABLES FROM {}", crate::sql::ident(&cfg.ops_database));
        let rs = q(c, cfg, &sql, "listing the ops tables")?;
        for r in &rs.rows {
            if let Some(name) = r.first().cloned().flatten() {
                if OPS_TABLES.contains(&name.as_str()) {
                    existing_tables.push(name);
                }
            }
        }
    }
    existing_tables.sort();
    Ok(InitState {
        database_exists,
        existing_tables,
    })
}

fn missing_ops(cfg: &Config, e: &SqlError) -> Option<BbrError> {
    let SqlError::Server { message, .. } = e else {
        return None;
    };
    let m = message.to_ascii_lowercase();
    if (m.contains("unknown") || m.contains("not exist") || m.contains("not found"))
        && (m.contains(&cfg.ops_database.to_ascii_lowercase()) || m.contains("backup_"))
    {
        return Some(BbrError::usage(
            format!(
                "the ops tables in database {} are missing ({message})",
                cfg.ops_database
            ),
            "run `starrocks-bbr init` first",
        ));
    }
    None
}

/// Reads history rows with the given status for the configured databases.
pub fn history_rows(
    c: &mut Cluster,
    cfg: &Config,
    databases: &[String],
    status: &str,
) -> Result<Vec<HistoryRow>, BbrError> {
    let sql = history::select_history_by_status_sql(&cfg.ops_database, databases, status);
    let rs = c.query_retry(&sql, &read_policy(cfg)).map_err(|e| {
        missing_ops(cfg, &e).unwrap_or_else(|| e.into_bbr("reading the backup history"))
    })?;
    Ok(rs.rows.iter().map(|r| HistoryRow::from_row(r)).collect())
}

/// The bases (latest FINISHED backup per database) with what they recorded for the configured
/// tables only: ONE streamed query reading only the columns the planner compares, folded straight
/// into the compact [`BaseBackup`] (a 1M-partition manifest never exists as rows of strings).
pub fn bases(
    c: &mut Cluster,
    cfg: &Config,
    base_labels: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, BaseBackup>, BbrError> {
    let labels: Vec<String> = base_labels.values().cloned().collect();
    let mut out: BTreeMap<String, BaseBackup> = base_labels
        .iter()
        .map(|(db, label)| {
            (
                db.clone(),
                BaseBackup {
                    label: label.clone(),
                    ..BaseBackup::default()
                },
            )
        })
        .collect();
    if labels.is_empty() {
        return Ok(out);
    }
    let by_label: BTreeMap<&str, &str> = base_labels
        .iter()
        .map(|(db, l)| (l.as_str(), db.as_str()))
        .collect();
    let tables: BTreeSet<String> = cfg.tables.iter().map(|t| t.table.clone()).collect();
    let tables: Vec<String> = tables.into_iter().collect();
    let sql = format!(
        "SELECT {} FROM {} WHERE {} IN {} AND {} IN {}",
        [
            "label",
            "database_name",
            "table_name",
            "partition_name",
            "partition_id",
            "visible_version",
            "source_label",
            "schema_fingerprint",
        ]
        .iter()
        .map(|c| ident(c))
        .collect::<Vec<_>>()
        .join(", "),
        qualified(&cfg.ops_database, history::BACKUP_PARTITIONS),
        ident("label"),
        literal_list(&labels),
        ident("table_name"),
        literal_list(&tables)
    );
    let wanted: BTreeSet<(&str, &str)> = cfg
        .tables
        .iter()
        .map(|t| (t.database.as_str(), t.table.as_str()))
        .collect();
    let init = || {
        out.iter()
            .map(|(db, b)| (db.clone(), (b.clone(), BTreeMap::<String, u32>::new())))
            .collect::<BTreeMap<_, _>>()
    };
    let folded = c
        .query_fold(&sql, &read_policy(cfg), init, |st, _cols, v| {
            let text = |i: usize| {
                v.get(i)
                    .copied()
                    .flatten()
                    .map(String::from_utf8_lossy)
                    .unwrap_or_default()
            };
            let int = |i: usize| text(i).trim().parse::<i64>().ok();
            let (label, db, table) = (text(0), text(1), text(2));
            if by_label.get(label.as_ref()) != Some(&db.as_ref()) {
                return;
            }
            if !wanted.contains(&(db.as_ref(), table.as_ref())) {
                return;
            }
            let (Some(id), Some(version)) = (int(4), int(5)) else {
                return;
            };
            let Some((base, source_idx)) = st.get_mut(db.as_ref()) else {
                return;
            };
            base.push(
                &table,
                &text(7),
                &text(6),
                source_idx,
                BasePartition {
                    name: Name::from(text(3).as_ref()),
                    id,
                    visible_version: version,
                    source: 0,
                },
            );
        })
        .map_err(|e| e.into_bbr("reading backup manifests"))?;
    out = folded
        .into_iter()
        .map(|(db, (mut b, _))| {
            b.finish();
            (db, b)
        })
        .collect();
    Ok(out)
}

/// Partitions of every configured table: ONE set-based query to information_schema.partitions_meta,
/// falling back to SHOW PARTITIONS per table on clusters older than 3.1.9 (no partitions_meta).
/// Returns partitions per table plus the (partition key, distribution key) text per table.
#[allow(clippy::type_complexity)]
fn partitions(
    c: &mut Cluster,
    cfg: &Config,
) -> Result<BTreeMap<TableRef, (Vec<PartitionState>, String)>, BbrError> {
    let dbs: Vec<String> = cfg.tables_by_db().into_keys().collect();
    let tables: BTreeSet<String> = cfg.tables.iter().map(|t| t.table.clone()).collect();
    let tables: Vec<String> = tables.into_iter().collect();
    let sql = format!(
        "SELECT DB_NAME, TABLE_NAME, PARTITION_NAME, PARTITION_ID, VISIBLE_VERSION, IS_TEMP, REPLICATION_NUM, PARTITION_KEY, DISTRIBUTION_KEY FROM information_schema.partitions_meta WHERE DB_NAME IN {} AND TABLE_NAME IN {}",
        literal_list(&dbs),
        literal_list(&tables)
    );
    let wanted: BTreeSet<&TableRef> = cfg.tables.iter().collect();
    let mut out: BTreeMap<TableRef, (Vec<PartitionState>, String)> = BTreeMap::new();
    // Streamed: 1M partitions fold straight into PartitionState, never into rows of strings.
    type Acc = (
        BTreeMap<TableRef, (Vec<PartitionState>, String)>,
        Option<[Option<usize>; 9]>,
        Option<TableRef>,
    );
    let init = || -> Acc { (BTreeMap::new(), None, None) };
    let names = [
        "DB_NAME",
        "TABLE_NAME",
        "PARTITION_NAME",
        "PARTITION_ID",
        "VISIBLE_VERSION",
        "IS_TEMP",
        "REPLICATION_NUM",
        "PARTITION_KEY",
        "DISTRIBUTION_KEY",
    ];
    let fold = |acc: &mut Acc, cols: &[String], v: &[Option<&[u8]>]| {
        let idx = *acc.1.get_or_insert_with(|| {
            names.map(|n| cols.iter().position(|c| c.eq_ignore_ascii_case(n)))
        });
        let get = |k: usize| -> Option<std::borrow::Cow<'_, str>> {
            idx[k]
                .and_then(|i| v.get(i).copied().flatten())
                .map(String::from_utf8_lossy)
        };
        let (Some(db), Some(t)) = (get(0), get(1)) else {
            return;
        };
        let int = |k: usize| get(k).and_then(|s| s.trim().parse::<i64>().ok());
        let p = PartitionState {
            name: get(2).map(|s| Name::from(s.as_ref())).unwrap_or_default(),
            id: int(3).unwrap_or(-1),
            visible_version: int(4).unwrap_or(-1),
            is_temp: matches!(
                get(5).as_deref().map(str::trim),
                Some("1") | Some("true") | Some("TRUE")
            ),
            replication_num: int(6),
        };
        // rows mostly arrive grouped by table: remember the last one to skip allocating a key
        let same = acc
            .2
            .as_ref()
            .is_some_and(|k| k.database == db && k.table == t);
        if !same {
            let tref = TableRef {
                database: db.into_owned(),
                table: t.into_owned(),
            };
            if !wanted.contains(&tref) {
                return;
            }
            acc.0
                .entry(tref.clone())
                .or_insert_with(|| (Vec::new(), String::new()));
            acc.2 = Some(tref);
        }
        let Some(entry) = acc.2.as_ref().and_then(|k| acc.0.get_mut(k)) else {
            return;
        };
        if !p.is_temp {
            let keys = format!(
                "partition_key={}|distribution_key={}",
                get(7).unwrap_or_default(),
                get(8).unwrap_or_default()
            );
            if entry.1.is_empty() || keys < entry.1 {
                entry.1 = keys;
            }
        }
        entry.0.push(p);
    };
    match c.query_fold(&sql, &read_policy(cfg), init, fold) {
        Ok((folded, _, _)) => out = folded,
        Err(SqlError::Server { message, .. })
            if message.to_ascii_lowercase().contains("partitions_meta") =>
        {
            info!("information_schema.partitions_meta is absent (StarRocks < 3.1.9): using SHOW PARTITIONS per table");
            for t in &cfg.tables {
                let sql = format!("SHOW PARTITIONS FROM {}", qualified(&t.database, &t.table));
                let rs = match c.query_retry(&sql, &read_policy(cfg)) {
                    Ok(rs) => rs,
                    Err(SqlError::Server { message, .. }) => {
                        debug!("SHOW PARTITIONS failed: {message}");
                        continue; // reported as a missing table below
                    }
                    Err(e) => return Err(e.into_bbr("reading partitions")),
                };
                let mut parts = Vec::new();
                let mut keys = String::new();
                for i in 0..rs.rows.len() {
                    let get = |n: &str| rs.get(i, n);
                    parts.push(PartitionState {
                        name: get("PartitionName").unwrap_or_default().into(),
                        id: num(get("PartitionId")),
                        visible_version: num(get("VisibleVersion")),
                        is_temp: false,
                        replication_num: get("ReplicationNum").and_then(|s| s.trim().parse().ok()),
                    });
                    let k = format!(
                        "partition_key={}|distribution_key={}",
                        get("PartitionKey").unwrap_or_default(),
                        get("DistributionKey").unwrap_or_default()
                    );
                    if keys.is_empty() || k < keys {
                        keys = k;
                    }
                }
                out.insert(t.clone(), (parts, keys));
            }
        }
        Err(e) => return Err(e.into_bbr("reading information_schema.partitions_meta")),
    }
    for (_, (parts, _)) in out.iter_mut() {
        parts.sort_by(|a, b| a.name.cmp(&b.name).then(a.is_temp.cmp(&b.is_temp)));
    }
    Ok(out)
}

fn num(s: Option<String>) -> i64 {
    s.and_then(|v| v.trim().parse().ok()).unwrap_or(-1)
}

/// Column definitions per configured table (one set-based query), as canonical text lines.
fn columns(c: &mut Cluster, cfg: &Config) -> Result<BTreeMap<TableRef, Vec<String>>, BbrError> {
    let dbs: Vec<String> = cfg.tables_by_db().into_keys().collect();
    let tables: BTreeSet<String> = cfg.tables.iter().map(|t| t.table.clone()).collect();
    let tables: Vec<String> = tables.into_iter().collect();
    let sql = format!(
        "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, COLUMN_TYPE, IS_NULLABLE, COLUMN_KEY FROM information_schema.columns WHERE TABLE_SCHEMA IN {} AND TABLE_NAME IN {}",
        literal_list(&dbs),
        literal_list(&tables)
    );
    let rs = q(c, cfg, &sql, "reading information_schema.columns")?;
    let wanted: BTreeSet<&TableRef> = cfg.tables.iter().collect();
    let mut out: BTreeMap<TableRef, Vec<(i64, String)>> = BTreeMap::new();
    for i in 0..rs.rows.len() {
        let get = |n: &str| rs.get(i, n).unwrap_or_default();
        let tref = TableRef {
            database: get("TABLE_SCHEMA"),
            table: get("TABLE_NAME"),
        };
        if !wanted.contains(&tref) {
            continue;
        }
        let line = format!(
            "{}|{}|{}|{}",
            get("COLUMN_NAME"),
            get("COLUMN_TYPE").to_ascii_lowercase(),
            get("IS_NULLABLE"),
            get("COLUMN_KEY")
        );
        let pos = get("ORDINAL_POSITION").trim().parse().unwrap_or(0);
        out.entry(tref).or_default().push((pos, line));
    }
    Ok(out
        .into_iter()
        .map(|(t, mut cols)| {
            cols.sort();
            (t, cols.into_iter().map(|(_, l)| l).collect())
        })
        .collect())
}

/// FNV-1a 64-bit: a stable hash defined here (not std's randomised SipHash), so fingerprints are
/// identical across runs, platforms and versions of this tool.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The schema fingerprint of a table: columns (name, type, nullability, key) in order, plus the
/// partition and distribution keys. 32 hex chars (two FNV-1a passes with different seeds).
pub fn fingerprint(columns: &[String], keys: &str) -> String {
    let mut text = String::new();
    for c in columns {
        text.push_str(c);
        text.push('\n');
    }
    text.push_str(keys);
    let a = fnv1a64(text.as_bytes());
    let b = fnv1a64(format!("bbr-schema-v1\n{text}").as_bytes());
    format!("{a:016x}{b:016x}")
}

/// Everything `backup` plans from. Only RUNNING rows that are stale or whose job visibly ended
/// become resume jobs (a fresh one belongs to a live run, which the claim respects).
pub fn backup_state(c: &mut Cluster, cfg: &Config) -> Result<BackupState, BbrError> {
    let cluster_time = cluster_now(c, cfg)?;
    let dbs: Vec<String> = cfg.tables_by_db().into_keys().collect();

    let finished = history_rows(c, cfg, &dbs, "FINISHED")?;
    let mut base_labels: BTreeMap<String, String> = BTreeMap::new();
    for r in &finished {
        // rows come newest first: keep the first per database
        base_labels
            .entry(r.database.clone())
            .or_insert(r.label.clone());
    }
    let bases = bases(c, cfg, &base_labels)?;

    let resume = resumable(c, cfg, &dbs, &cluster_time)?;

    let mut parts = partitions(c, cfg)?;
    let cols = columns(c, cfg)?;
    let mut tables = BTreeMap::new();
    let mut missing = Vec::new();
    for t in &cfg.tables {
        let Some(columns) = cols.get(t) else {
            missing.push(t.to_string());
            continue;
        };
        // moved, not cloned: 1M partitions must not exist twice
        let (partitions, keys) = parts.remove(t).unwrap_or_default();
        tables.insert(
            t.clone(),
            TableState {
                schema_fingerprint: fingerprint(columns, &keys),
                partitions,
            },
        );
    }
    if !missing.is_empty() {
        return Err(BbrError::usage(
            format!(
                "configured table(s) not found in the cluster: {}",
                missing.join(", ")
            ),
            "fix `tables` in the config or create the table(s)",
        ));
    }
    Ok(BackupState {
        cluster_time,
        tables,
        bases,
        resume,
    })
}

/// RUNNING rows whose runner is dead (stale heartbeat) or whose job visibly ended.
pub(crate) fn resumable(
    c: &mut Cluster,
    cfg: &Config,
    dbs: &[String],
    cluster_time: &str,
) -> Result<Vec<ResumeJob>, BbrError> {
    let running = history_rows(c, cfg, dbs, "RUNNING")?;
    let now = parse_time(cluster_time);
    let mut out = Vec::new();
    let mut shown: BTreeMap<String, ResultSet> = BTreeMap::new();
    // An expire claim is no backup: the next `expire` clears it (planner::expire).
    let running = running
        .into_iter()
        .filter(|r| r.backup_type != crate::planner::expire::EXPIRE_CLAIM_TYPE);
    for r in running {
        let beat = r
            .heartbeat_at
            .as_deref()
            .or(r.started_at.as_deref())
            .and_then(parse_time);
        let stale = match (now, beat) {
            (Some(n), Some(b)) => {
                (n - b).num_seconds() > i64::try_from(cfg.heartbeat_stale_s).unwrap_or(i64::MAX)
            }
            _ => true,
        };
        if stale {
            out.push(ResumeJob {
                database: r.database.clone(),
                label: r.label.clone(),
                reason: "heartbeat is stale: its run died".to_string(),
            });
            continue;
        }
        if !shown.contains_key(&r.database) {
            let rs = q(c, cfg, &show_backup_sql(&r.database), "reading SHOW BACKUP")?;
            shown.insert(r.database.clone(), rs);
        }
        if let Some(rs) = shown.get(&r.database) {
            for i in 0..rs.rows.len() {
                if rs.get(i, "SnapshotName").as_deref() == Some(r.label.as_str()) {
                    let state = rs.get(i, "State").unwrap_or_default();
                    if state == "FINISHED" || state == "CANCELLED" {
                        out.push(ResumeJob {
                            database: r.database.clone(),
                            label: r.label.clone(),
                            reason: format!("its job is {state} but the row is still RUNNING"),
                        });
                    }
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_stable_and_sensitive() {
        let cols = vec!["id|bigint|NO|DUP".to_string(), "v|int|YES|".to_string()];
        let a = fingerprint(&cols, "partition_key=dt|distribution_key=id");
        // pinned: must never change across versions/platforms
        assert_eq!(
            a,
            fingerprint(&cols, "partition_key=dt|distribution_key=id")
        );
        assert_eq!(a.len(), 32);
        let mut more = cols.clone();
        more.push("w|int|YES|".into());
        assert_ne!(
            a,
            fingerprint(&more, "partition_key=dt|distribution_key=id")
        );
        assert_ne!(a, fingerprint(&cols, "partition_key=dt|distribution_key=v"));
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn times_parse() {
        assert!(parse_time("2026-01-01 00:00:05").is_some());
        assert!(parse_time("2026-01-01 00:00:05.0").is_some());
        assert!(parse_time("nope").is_none());
    }
}
