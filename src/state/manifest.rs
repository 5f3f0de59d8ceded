//! Discovery of what lean manifests record (DESIGN.md "Lean manifests"): the ops schema version,
//! the tables' backup_tables rows and the folded bases of an incremental. Read-only.

use std::collections::{BTreeMap, BTreeSet};

use super::{missing_ops, parse_time, read_policy};
use crate::cluster::{Cluster, SqlError};
use crate::config::{Config, TableRef};
use crate::error::BbrError;
use crate::history::{self, schema, HistoryRow};
use crate::planner::backup::BaseBackup;
use crate::planner::base::{BaseFolder, TableSpan};
use crate::planner::chain::{self, BackupRecord, TableRecord};

/// The bases (latest FINISHED backup per database) with what they record for the configured tables,
/// as lean manifests describe it: ONE read of the tables' `backup_tables` rows gives each table's
/// span (chain::span), then ONE streamed read of the manifest rows of every span's labels is folded
/// straight into the compact [`BaseBackup`] (planner::base). Two statements, whatever the number
/// of tables or partitions.
/// `expired`: the EXPIRED rows — a snapshot expire found vanished keeps its manifest, so it stays
/// in the spans (chain::span) and the fold names it as a source: the table is then re-based.
pub fn bases(
    c: &mut Cluster,
    cfg: &Config,
    finished: &[HistoryRow],
    expired: &[HistoryRow],
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
    let all: Vec<HistoryRow> = finished.iter().chain(expired).cloned().collect();
    let records = backup_records(&all);
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
    let repositories: BTreeMap<String, String> = all
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
