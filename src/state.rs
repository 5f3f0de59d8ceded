//! Read-only discovery: the SELECT/SHOW statements that build the planners' inputs. Nothing here
//! changes the cluster, so `--dry-run` can run all of it.

use std::collections::{BTreeMap, BTreeSet};

use tracing::{debug, info, warn};

use crate::cluster::{Cluster, ResultSet, SqlError};
use crate::config::{Config, TableRef};
use crate::error::BbrError;
use crate::history::{self, schema, HistoryRow, OPS_TABLES};
use crate::plan::RetryPolicy;
use crate::planner::backup::{
    show_backup_sql, BackupState, BaseBackup, Name, PartitionState, ResumeJob, TableState,
};
use crate::planner::init::InitState;

pub mod catalog;
mod manifest;
pub use manifest::{backup_records, bases, check_schema, table_records};
mod design;
pub mod expire;
mod missing;
pub mod partitions;
pub mod recover;
pub mod restore;
pub mod scope;
use crate::fingerprint::{self, ColumnDef, TableDesign};
use crate::planner::left_out::{LeftOut, LeftOutReason};
use crate::release::ClusterInfo;
use crate::sql::{literal_list, qualified};
use design::{columns, partition_type_without_partitions, rollups, table_configs};
use partitions::{fold_physical, PartitionType};

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
    read_history(c, cfg, &sql)
}

fn read_history(c: &mut Cluster, cfg: &Config, sql: &str) -> Result<Vec<HistoryRow>, BbrError> {
    let rs = c.query_retry(sql, &read_policy(cfg)).map_err(|e| {
        missing_ops(cfg, &e).unwrap_or_else(|| e.into_bbr("reading the backup history"))
    })?;
    Ok(rs.rows.iter().map(|r| HistoryRow::from_row(r)).collect())
}

/// The runs that left `t` out (their `_left` FAILED rows, planner::left_out) after `as_of` and
/// at or before `until`: a restore as of `until` returns the table as of its last backup, which
/// the operator must be told.
pub fn left_out_between(
    c: &mut Cluster,
    cfg: &Config,
    t: &TableRef,
    as_of: chrono::NaiveDateTime,
    until: chrono::NaiveDateTime,
) -> Result<Vec<HistoryRow>, BbrError> {
    let needle = format!("{t} left out of this backup");
    Ok(
        history_rows(c, cfg, std::slice::from_ref(&t.database), "FAILED")?
            .into_iter()
            .filter(|r| {
                r.label.contains("_left")
                    && r.error_message
                        .as_deref()
                        .is_some_and(|m| m.contains(&needle))
                    && r.started_at
                        .as_deref()
                        .and_then(parse_time)
                        .is_some_and(|s| s > as_of && s <= until)
            })
            .collect(),
    )
}

/// What discovery reads per table from partitions_meta / SHOW PARTITIONS.
#[derive(Debug, Default)]
struct TableParts {
    parts: Vec<PartitionState>,
    /// `partition_key=..|distribution_key=..` (part of the fingerprints).
    keys: String,
    partition_type: PartitionType,
    /// Some partition name has several physical partitions.
    several_physical: bool,
    /// The distinct bucket counts of the non-temporary partitions (BUCKETS / Buckets).
    buckets: BTreeSet<i64>,
}

/// Partitions of every configured table: ONE set-based query to information_schema.partitions_meta,
/// falling back to SHOW PARTITIONS per table on clusters older than 3.1.9 (no partitions_meta).
/// Physical partitions are folded per name (state::partitions::fold_physical).
fn partitions(c: &mut Cluster, cfg: &Config) -> Result<BTreeMap<TableRef, TableParts>, BbrError> {
    let dbs: Vec<String> = cfg.tables_by_db().into_keys().collect();
    let tables: BTreeSet<String> = cfg.tables.iter().map(|t| t.table.clone()).collect();
    let tables: Vec<String> = tables.into_iter().collect();
    let sql = format!(
        "SELECT DB_NAME, TABLE_NAME, PARTITION_NAME, PARTITION_ID, VISIBLE_VERSION, IS_TEMP, REPLICATION_NUM, PARTITION_KEY, DISTRIBUTION_KEY, PARTITION_VALUE, BUCKETS FROM information_schema.partitions_meta WHERE DB_NAME IN {} AND TABLE_NAME IN {}",
        literal_list(&dbs),
        literal_list(&tables)
    );
    let wanted: BTreeSet<&TableRef> = cfg.tables.iter().collect();
    let mut out: BTreeMap<TableRef, TableParts> = BTreeMap::new();
    // Streamed: 1M partitions fold straight into PartitionState, never into rows of strings.
    // (done tables, column positions, the table the last rows belonged to: rows arrive grouped
    // by table, so it is taken out of the map while its rows come — no map search per row)
    type Acc = (
        BTreeMap<TableRef, TableParts>,
        Option<[Option<usize>; 11]>,
        Option<(TableRef, TableParts)>,
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
        "PARTITION_VALUE",
        "BUCKETS",
    ];
    let fold = |acc: &mut Acc, cols: &[String], v: &[Option<&[u8]>]| {
        let idx = *acc.1.get_or_insert_with(|| {
            names.map(|n| cols.iter().position(|c| c.eq_ignore_ascii_case(n)))
        });
        let get = |k: usize| -> Option<std::borrow::Cow<'_, str>> {
            idx[k]
                .and_then(|i| v.get(i).copied().flatten())
                .map(crate::cluster::text)
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
        let same = acc
            .2
            .as_ref()
            .is_some_and(|(k, _)| k.database == db && k.table == t);
        if !same {
            let tref = TableRef {
                database: db.into_owned(),
                table: t.into_owned(),
            };
            if !wanted.contains(&tref) {
                return;
            }
            if let Some((k, parts)) = acc.2.take() {
                acc.0.insert(k, parts);
            }
            let parts = acc.0.remove(&tref).unwrap_or_default();
            acc.2 = Some((tref, parts));
        }
        let Some((_, entry)) = acc.2.as_mut() else {
            return;
        };
        if !p.is_temp {
            let pkey = get(7).unwrap_or_default();
            let dkey = get(8).unwrap_or_default();
            // every partition of a table normally names the same keys: compare before formatting
            let same_keys = entry
                .keys
                .strip_prefix("partition_key=")
                .and_then(|r| r.strip_prefix(pkey.as_ref()))
                .and_then(|r| r.strip_prefix("|distribution_key="))
                == Some(dkey.as_ref());
            if !same_keys {
                let keys = format!("partition_key={pkey}|distribution_key={dkey}");
                if entry.keys.is_empty() || keys < entry.keys {
                    entry.keys = keys;
                }
            }
            if entry.parts.is_empty() {
                entry.partition_type =
                    PartitionType::from_meta(&pkey, get(9).as_deref().unwrap_or_default());
            }
            if let Some(b) = int(10) {
                entry.buckets.insert(b);
            }
        }
        entry.parts.push(p);
    };
    match c.query_fold(&sql, &read_policy(cfg), init, fold) {
        Ok((folded, _, last)) => {
            out = folded;
            if let Some((k, parts)) = last {
                out.insert(k, parts);
            }
        }
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
                let mut buckets = BTreeSet::new();
                // PartitionsProcDir: the value column is `List` for LIST tables
                let partition_type = if rs.col("List").is_some() {
                    PartitionType::List
                } else if rs.rows.iter().enumerate().any(|(i, _)| {
                    rs.get(i, "PartitionKey")
                        .is_some_and(|k| !k.trim().is_empty())
                }) {
                    PartitionType::Range
                } else {
                    PartitionType::Unpartitioned
                };
                for i in 0..rs.rows.len() {
                    let get = |n: &str| rs.get(i, n);
                    parts.push(PartitionState {
                        name: get("PartitionName").unwrap_or_default().into(),
                        id: num(get("PartitionId")),
                        visible_version: num(get("VisibleVersion")),
                        is_temp: false,
                        replication_num: get("ReplicationNum").and_then(|s| s.trim().parse().ok()),
                    });
                    if let Some(b) = get("Buckets").and_then(|s| s.trim().parse().ok()) {
                        buckets.insert(b);
                    }
                    let k = format!(
                        "partition_key={}|distribution_key={}",
                        get("PartitionKey").unwrap_or_default(),
                        get("DistributionKey").unwrap_or_default()
                    );
                    if keys.is_empty() || k < keys {
                        keys = k;
                    }
                }
                // SHOW PARTITIONS omits temporary partitions, which make BACKUP refuse the table
                // (STARROCKS.md §6): a second statement for them, on unpartitioned tables too
                // (INSERT OVERWRITE creates one there, InsertOverwriteJobRunner.java:398-417)
                let sql = format!(
                    "SHOW TEMPORARY PARTITIONS FROM {}",
                    qualified(&t.database, &t.table)
                );
                match c.query_retry(&sql, &read_policy(cfg)) {
                    Ok(tmp) => {
                        for i in 0..tmp.rows.len() {
                            parts.push(PartitionState {
                                name: tmp.get(i, "PartitionName").unwrap_or_default().into(),
                                id: num(tmp.get(i, "PartitionId")),
                                visible_version: num(tmp.get(i, "VisibleVersion")),
                                is_temp: true,
                                replication_num: None,
                            });
                        }
                    }
                    Err(SqlError::Server { message, .. }) => {
                        debug!("SHOW TEMPORARY PARTITIONS failed: {message}");
                    }
                    Err(e) => return Err(e.into_bbr("reading temporary partitions")),
                }
                out.insert(
                    t.clone(),
                    TableParts {
                        parts,
                        keys,
                        partition_type,
                        several_physical: false,
                        buckets,
                    },
                );
            }
        }
        Err(e) => return Err(e.into_bbr("reading information_schema.partitions_meta")),
    }
    for tp in out.values_mut() {
        tp.several_physical = fold_physical(&mut tp.parts);
    }
    Ok(out)
}

fn num(s: Option<String>) -> i64 {
    s.and_then(|v| v.trim().parse().ok()).unwrap_or(-1)
}

/// Everything `backup` plans from. Only RUNNING rows that are stale or whose job visibly ended
/// become resume jobs (a fresh one belongs to a live run, which the claim respects).
pub fn backup_state(
    c: &mut Cluster,
    cfg: &Config,
    info: &ClusterInfo,
) -> Result<BackupState, BbrError> {
    let cluster_time = cluster_now(c, cfg)?;
    let dbs: Vec<String> = cfg.tables_by_db().into_keys().collect();

    check_schema(c, cfg)?;
    // One read: FINISHED rows are the bases, EXPIRED ones (found vanished) stay in their spans.
    let sql =
        history::select_history_by_statuses_sql(&cfg.ops_database, &dbs, &["FINISHED", "EXPIRED"]);
    let rows = read_history(c, cfg, &sql)?;
    let (finished, expired): (Vec<HistoryRow>, Vec<HistoryRow>) =
        rows.iter().cloned().partition(|r| r.status == "FINISHED");
    let mut bases = bases(c, cfg, &finished, &expired)?;
    missing::mark_missing_sources(c, cfg, &mut bases, &rows)?;

    let resume = resumable(c, cfg, &dbs, &cluster_time)?;

    let mut parts = partitions(c, cfg)?;
    let cols = columns(c, cfg)?;
    let configs = table_configs(c, cfg)?;
    let rollup_defs = rollups(c, cfg)?;
    let mut v2_reproduced = 0usize;
    let mut tables = BTreeMap::new();
    let mut left_out = Vec::new();
    for t in &cfg.tables {
        let Some(columns) = cols.get(t) else {
            left_out.push(LeftOut::new(t, LeftOutReason::Missing));
            continue;
        };
        // moved, not cloned: 1M partitions must not exist twice
        let mut tp = parts.remove(t).unwrap_or_default();
        if tp.parts.iter().all(|p| p.is_temp) {
            tp.partition_type = partition_type_without_partitions(c, cfg, t)?;
        }
        if tp.partition_type == PartitionType::List && info.refuses_list_backup() {
            let release = info.release.map(|r| r.to_string()).unwrap_or_default();
            left_out.push(LeftOut::new(t, LeftOutReason::ListPartitioned { release }));
            continue;
        }
        let temps: Vec<String> = tp
            .parts
            .iter()
            .filter(|p| p.is_temp)
            .map(|p| p.name.to_string())
            .collect();
        if !temps.is_empty() {
            left_out.push(LeftOut::new(
                t,
                LeftOutReason::TemporaryPartitions { partitions: temps },
            ));
            continue;
        }
        let tc = configs.get(t).cloned().unwrap_or_default();
        let (rollups, rollup_definitions) = rollup_defs.get(t).cloned().unwrap_or_default();
        let design = TableDesign {
            keys: tp.keys.clone(),
            partition_type: tp.partition_type.as_str(),
            bloom_filter: tc.bloom_filter.clone(),
            rollups,
            rollup_definitions,
            sort_key: tc.sort_key.clone(),
            distribution: tc.distribution.clone(),
        };
        let fingerprint = fingerprint::v3(columns, &design);
        let base = bases
            .get_mut(&t.database)
            .and_then(|b| b.tables.get_mut(&t.table));
        v2_reproduced +=
            upgrade_v2_fingerprints(base, &fingerprint::v2(columns, &design), &fingerprint);
        let recreated_with_mixed_buckets = mixed_buckets(&tp.buckets, tc.default_buckets)
            && bases
                .get(&t.database)
                .and_then(|b| b.tables.get(&t.table))
                .is_some_and(|b| recreated(&tp.parts, b));
        let whole_if_changed = if tp.partition_type == PartitionType::List
            && info.list_needs_whole_backup()
        {
            Some("LIST-partitioned table changed: RESTORE cannot add partitions to it, so its restore needs one snapshot")
        } else if tp.several_physical {
            Some("changed table with several physical partitions per partition: RESTORE cannot overwrite such a partition")
        } else if recreated_with_mixed_buckets {
            Some("a partition was re-created while the table's partitions have different bucket counts: RESTORE refuses to overwrite a partition of another bucket count")
        } else {
            None
        };
        tables.insert(
            t.clone(),
            TableState {
                schema_fingerprint: fingerprint,
                partitions: tp.parts,
                whole_if_changed,
            },
        );
    }
    if v2_reproduced > 0 {
        info!(
            "{v2_reproduced} table(s) recorded a v2 schema fingerprint that today's discovery reproduces: compared as unchanged; this run records v3 (adds rollup definitions, sort key and default distribution)"
        );
    }
    log_legacy_fingerprints(&bases, &tables);
    missing::log_missing_sources(&bases, &tables);
    Ok(BackupState {
        cluster_time,
        tables,
        bases,
        resume,
        left_out,
        force_full: false,
    })
}

/// A base's `v2:` fingerprints that today's v2 reproduces become today's v3: the table did not
/// change in anything v2 covered, and what v3 adds cannot be known for the past, so no storm of
/// whole-table backups follows the upgrade. A v2 that differs stays: a real change (whole).
/// Returns 1 when something was upgraded (for the one log line).
fn upgrade_v2_fingerprints(
    base: Option<&mut crate::planner::backup::BaseTable>,
    v2_now: &str,
    v3_now: &str,
) -> usize {
    let Some(b) = base else { return 0 };
    let mut upgraded = 0;
    for f in b.fingerprints.iter_mut().filter(|f| f.as_str() == v2_now) {
        *f = v3_now.to_string();
        upgraded = 1;
    }
    b.fingerprints.dedup();
    upgraded
}

/// Partitions of more than one bucket count, or not the default's (0: automatic bucketing, each
/// partition's count inferred): a partition re-created now (INSERT OVERWRITE takes the table's
/// default) may differ from its copy a restore made earlier, and RESTORE refuses to overwrite a
/// partition of another bucket count (RestoreJob.java:2284-2288).
fn mixed_buckets(buckets: &BTreeSet<i64>, default: Option<i64>) -> bool {
    buckets.len() > 1 || default.is_some_and(|d| buckets.iter().any(|b| *b != d))
}

/// Some partition the base recorded exists under a new id (TRUNCATE, INSERT OVERWRITE, drop + add).
fn recreated(
    parts: &[crate::planner::backup::PartitionState],
    base: &crate::planner::backup::BaseTable,
) -> bool {
    parts
        .iter()
        .filter(|p| !p.is_temp)
        .any(|p| base.get(&p.name).is_some_and(|r| r.id != p.id))
}

/// Once per table whose base recorded an older-format fingerprint: say why it is taken whole
/// (that format did not cover COMMENT, DEFAULT, ..., so it cannot be compared), so the one-off
/// whole backups after an upgrade never surprise an operator.
fn log_legacy_fingerprints(
    bases: &BTreeMap<String, BaseBackup>,
    tables: &BTreeMap<TableRef, TableState>,
) {
    for t in tables.keys() {
        let Some(bt) = bases.get(&t.database).and_then(|b| b.tables.get(&t.table)) else {
            continue;
        };
        if !bt.fingerprints.iter().all(|f| fingerprint::is_current(f)) {
            info!(
                "{t}: the last backup recorded an older-format schema fingerprint that cannot be compared (it did not cover DEFAULT, COMMENT, partition type, bloom filters, rollups): backed up whole once; this run records the full one"
            );
        }
    }
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
    fn times_parse() {
        assert!(parse_time("2026-01-01 00:00:05").is_some());
        assert!(parse_time("2026-01-01 00:00:05.0").is_some());
        assert!(parse_time("nope").is_none());
    }
}
