//! Read-only discovery: the SELECT/SHOW statements that build the planners' inputs. Nothing here
//! changes the cluster, so `--dry-run` can run all of it.

use std::collections::{BTreeMap, BTreeSet};

use tracing::{debug, info};

use crate::cluster::{Cluster, ResultSet, SqlError};
use crate::config::{Config, TableRef};
use crate::error::BbrError;
use crate::history::{self, schema, HistoryRow, OPS_TABLES};
use crate::plan::RetryPolicy;
use crate::planner::backup::{
    show_backup_sql, BackupState, BaseBackup, Name, PartitionState, ResumeJob, TableState,
};
use crate::planner::base::{BaseFolder, TableSpan};
use crate::planner::chain::{self, BackupRecord, TableRecord};
use crate::planner::init::InitState;

pub mod catalog;
pub mod recover;
pub mod restore;
use crate::sql::{literal_list, qualified};

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
    let schema_version = if existing_tables.iter().any(|t| t == history::BBR_META) {
        let rs = q(
            c,
            cfg,
            &schema::select_version_sql(&cfg.ops_database),
            "reading the ops schema version",
        )?;
        schema::parse_version(rs.scalar().as_deref())
    } else {
        1
    };
    Ok(InitState {
        database_exists,
        existing_tables,
        schema_version,
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

/// The bases (latest FINISHED backup per database) with what they record for the configured tables,
/// as lean manifests describe it: ONE read of the tables' `backup_tables` rows gives each table's
/// span (chain::span), then ONE streamed read of the manifest rows of every span's labels is folded
/// straight into the compact [`BaseBackup`] (planner::base). Two statements, whatever the number
/// of tables or partitions.
pub fn bases(
    c: &mut Cluster,
    cfg: &Config,
    finished: &[HistoryRow],
) -> Result<BTreeMap<String, BaseBackup>, BbrError> {
    let mut base_labels: BTreeMap<String, String> = BTreeMap::new();
    for r in finished {
        // rows come newest first: keep the first per database
        base_labels
            .entry(r.database.clone())
            .or_insert(r.label.clone());
    }
    if base_labels.is_empty() {
        return Ok(BTreeMap::new());
    }
    let records = backup_records(finished);
    let dbs: Vec<String> = base_labels.keys().cloned().collect();
    let tables: BTreeSet<String> = cfg.tables.iter().map(|t| t.table.clone()).collect();
    let tables: Vec<String> = tables.into_iter().collect();
    let table_records = table_records(c, cfg, &dbs, &tables)?;

    let mut folders: BTreeMap<String, BaseFolder> = BTreeMap::new();
    let mut labels: BTreeSet<String> = BTreeSet::new();
    for (db, base_label) in &base_labels {
        let backups = records.get(db).map(Vec::as_slice).unwrap_or_default();
        let mut spans = BTreeMap::new();
        for t in cfg.tables.iter().filter(|t| &t.database == db) {
            let Some((recs, fps)) = table_records.get(t) else {
                continue; // never recorded: a new table
            };
            let Ok(span) = chain::span(backups, recs, chrono::NaiveDateTime::MAX) else {
                continue;
            };
            labels.extend(span.labels.iter().cloned());
            let chain_start = span.labels.first().and_then(|l| {
                backups
                    .iter()
                    .find(|b| &b.label == l)
                    .and_then(|b| b.snapshot_at)
            });
            let fingerprint = fps.get(&span.as_of_label).cloned().unwrap_or_default();
            spans.insert(
                t.table.clone(),
                TableSpan {
                    span,
                    fingerprint,
                    chain_start,
                },
            );
        }
        folders.insert(db.clone(), BaseFolder::new(base_label, spans));
    }
    let repositories: BTreeMap<String, String> = finished
        .iter()
        .map(|r| (r.label.clone(), r.repository.clone()))
        .collect();
    if !labels.is_empty() {
        let labels: Vec<String> = labels.into_iter().collect();
        let sql = history::select_span_manifest_sql(&cfg.ops_database, &labels, &tables);
        folders = c
            .query_fold(
                &sql,
                &read_policy(cfg),
                || folders.clone(),
                |st, _cols, v| {
                    let text = |i: usize| {
                        v.get(i)
                            .copied()
                            .flatten()
                            .map(String::from_utf8_lossy)
                            .unwrap_or_default()
                    };
                    let int = |i: usize| text(i).trim().parse::<i64>().ok();
                    let (Some(id), Some(version)) = (int(4), int(5)) else {
                        return;
                    };
                    let Some(f) = st.get_mut(text(1).as_ref()) else {
                        return;
                    };
                    let in_snapshot = history::parse_bool(Some(text(8).into_owned()));
                    f.push(
                        &text(0),
                        &text(2),
                        &text(3),
                        id,
                        version,
                        &text(7),
                        in_snapshot,
                    );
                },
            )
            .map_err(|e| e.into_bbr("reading backup manifests"))?;
    }
    Ok(folders
        .into_iter()
        .map(|(db, f)| {
            let b = f.finish(|s| repositories.get(s).cloned().unwrap_or_default());
            (db, b)
        })
        .collect())
}

/// The FINISHED history rows as chain resolution reads them, per database.
pub fn backup_records(finished: &[HistoryRow]) -> BTreeMap<String, Vec<BackupRecord>> {
    let mut out: BTreeMap<String, Vec<BackupRecord>> = BTreeMap::new();
    for r in finished {
        out.entry(r.database.clone())
            .or_default()
            .push(BackupRecord {
                label: r.label.clone(),
                database: r.database.clone(),
                status: r.status.clone(),
                snapshot_at: r.snapshot_at.as_deref().and_then(parse_time),
                backup_timestamp: r.backup_timestamp.clone(),
                repository: r.repository.clone(),
            });
    }
    out
}

/// Per configured table: its `backup_tables` rows (one per label) and label -> recorded fingerprint.
#[allow(clippy::type_complexity)]
pub fn table_records(
    c: &mut Cluster,
    cfg: &Config,
    dbs: &[String],
    tables: &[String],
) -> Result<BTreeMap<TableRef, (Vec<TableRecord>, BTreeMap<String, String>)>, BbrError> {
    let sql = history::select_table_records_sql(&cfg.ops_database, dbs, tables);
    let rs = c.query_retry(&sql, &read_policy(cfg)).map_err(|e| {
        missing_ops(cfg, &e).unwrap_or_else(|| e.into_bbr("reading the backup table records"))
    })?;
    let mut out: BTreeMap<TableRef, (Vec<TableRecord>, BTreeMap<String, String>)> = BTreeMap::new();
    for row in &rs.rows {
        let get = |i: usize| history::at(row, i).unwrap_or_default();
        let t = TableRef {
            database: get(1),
            table: get(2),
        };
        let entry = out.entry(t).or_default();
        let label = get(0);
        // duplicates (a retried INSERT) collapse: one record per label
        if entry.1.contains_key(&label) {
            continue;
        }
        entry.1.insert(label.clone(), get(4));
        entry.0.push(TableRecord {
            label,
            complete: history::parse_bool(history::at(row, 3)),
        });
    }
    Ok(out)
}

/// Refuses (exit 2) an ops schema older or newer than this release: a command must not read or
/// write a layout it does not know. One SELECT.
pub fn check_schema(c: &mut Cluster, cfg: &Config) -> Result<(), BbrError> {
    let ops = &cfg.ops_database;
    let version = match c.query_retry(&schema::select_version_sql(ops), &read_policy(cfg)) {
        Ok(rs) => schema::parse_version(rs.scalar().as_deref()),
        Err(e @ SqlError::Server { .. }) => {
            if missing_ops(cfg, &e).is_none() && !is_unknown_table(&e) {
                return Err(e.into_bbr("reading the ops schema version"));
            }
            1
        }
        Err(e) => return Err(e.into_bbr("reading the ops schema version")),
    };
    match version.cmp(&schema::SCHEMA_VERSION) {
        std::cmp::Ordering::Equal => Ok(()),
        std::cmp::Ordering::Less => Err(BbrError::usage(
            format!(
                "the ops tables in database {ops} are schema version {version} (an older release or not initialised); this release needs version {}",
                schema::SCHEMA_VERSION
            ),
            "run `starrocks-bbr init` once: it upgrades them in place and keeps every row of history",
        )),
        std::cmp::Ordering::Greater => Err(BbrError::usage(
            format!(
                "the ops tables in database {ops} are schema version {version}, newer than this release understands ({})",
                schema::SCHEMA_VERSION
            ),
            "use the starrocks-bbr release that wrote them, or a newer one",
        )),
    }
}

fn is_unknown_table(e: &SqlError) -> bool {
    let SqlError::Server { message, .. } = e else {
        return false;
    };
    let m = message.to_ascii_lowercase();
    m.contains("unknown table") || m.contains("not exist") || m.contains("not found")
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

    check_schema(c, cfg)?;
    let finished = history_rows(c, cfg, &dbs, "FINISHED")?;
    let bases = bases(c, cfg, &finished)?;

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
        force_full: false,
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
