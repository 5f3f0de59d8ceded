//! `backup`: decide per database between FULL, INCREMENTAL and nothing, and compile the steps.
//!
//! A partition is in an incremental iff its (PartitionId, VisibleVersion) differs from what the base
//! (the latest FINISHED backup of the database) recorded for that partition name, or it is new.
//! Temporary partitions are never backed up. A table that is new or whose schema fingerprint changed
//! is backed up whole, because StarRocks refuses partition restores onto a different schema.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::rolling::{self, Bounds, TableFacts};
use crate::config::{Config, TableRef};
use crate::history::{self, ManifestRowRef, TableRow};
use crate::plan::{BackupObject, BackupType, Command, Plan, Step};

/// What rolling fulls weigh for a table that could be backed up incrementally: the snapshots its
/// newest restore point would need (the sources of its unchanged partitions, plus this run's when
/// anything changed), where those live, and when its chain started.
fn chain_facts(b: &BaseBackup, bt: &BaseTable, ts: &TableState, changed: bool) -> TableFacts {
    let unchanged = unchanged_sources(bt, ts);
    let mut repositories: Vec<String> = unchanged
        .iter()
        .map(|s| b.repository(*s).to_string())
        .filter(|r| !r.is_empty())
        .collect();
    repositories.sort();
    repositories.dedup();
    let mut missing: Vec<(String, String)> = unchanged
        .iter()
        .filter_map(|s| {
            let label = b.sources.get(*s as usize)?;
            let repo = b.missing.get(label)?;
            Some((label.clone(), repo.clone()))
        })
        .collect();
    missing.sort();
    TableFacts {
        jobs_if_incremental: rolling::jobs_if_incremental(
            unchanged
                .iter()
                .map(|s| b.sources.get(*s as usize).map_or("", String::as_str)),
            changed,
        ),
        chain_start: bt.chain_start,
        repositories,
        changed,
        missing,
    }
}

/// The sources (indexes into [`BaseBackup::sources`]) of the table's partitions unchanged since
/// the base: the snapshots its newest restore point still needs after an incremental.
pub fn unchanged_sources(bt: &BaseTable, ts: &TableState) -> Vec<u32> {
    ts.partitions
        .iter()
        .filter(|p| !p.is_temp)
        .filter_map(|p| {
            bt.get(&p.name)
                .filter(|r| (r.id, r.visible_version) == (p.id, p.visible_version))
                .map(|r| r.source)
        })
        .collect::<BTreeSet<u32>>()
        .into_iter()
        .collect()
}

/// A partition name. Inline up to 24 bytes (every usual StarRocks partition name): a 1M-partition
/// plan holds 2M of them (current + base), and 2M small heap blocks cost ~64 MB and, scattered among
/// the planner's inputs, kept their memory from being reused for the manifest SQL.
pub type Name = compact_str::CompactString;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionState {
    pub name: Name,
    pub id: i64,
    pub visible_version: i64,
    pub is_temp: bool,
    pub replication_num: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct TableState {
    pub schema_fingerprint: String,
    pub partitions: Vec<PartitionState>,
    /// Why a change must make the table whole (its restore must come from one snapshot): LIST
    /// tables on 3.4+, tables with several physical partitions per partition.
    pub whole_if_changed: Option<&'static str>,
}

use super::backup_steps::{after_claim, database_steps, manifest_only_steps, ManifestChunks};
pub use super::backup_steps::{
    backup_sql, cancel_backup_sql, completion_steps, make_label, plan_resume, random_suffix,
    show_backup_sql, show_snapshot_sql, MANIFEST_CHUNK,
};
pub use super::base::{BaseBackup, BasePartition, BaseTable};

/// A RUNNING row the next run must finish before starting anything new.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ResumeJob {
    pub database: String,
    pub label: String,
    pub reason: String,
}

/// Everything the backup planner reads from the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BackupState {
    /// Cluster clock (`SELECT NOW()`), `YYYY-MM-DD HH:MM:SS`.
    pub cluster_time: String,
    pub tables: BTreeMap<TableRef, TableState>,
    /// Database -> latest FINISHED backup.
    pub bases: BTreeMap<String, BaseBackup>,
    pub resume: Vec<ResumeJob>,
    /// `backup --full`: every table whole (not discovery: the command line).
    pub force_full: bool,
    /// Configured tables this run cannot back up (planner::left_out).
    pub left_out: Vec<super::left_out::LeftOut>,
}

/// What happens to one table in this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableDecision {
    /// Back up the whole table (full backup, new table or schema change).
    Whole(String),
    /// Back up these partitions (sorted).
    Partitions(Vec<String>),
    Unchanged,
}

/// Names of current non-temporary partitions whose (id, version) is not what the base recorded.
pub fn changed_partitions(current: &[PartitionState], base: &BaseTable) -> Vec<String> {
    let mut out: Vec<String> = current
        .iter()
        .filter(|p| !p.is_temp)
        .filter(|p| {
            base.get(&p.name).map(|r| (r.id, r.visible_version)) != Some((p.id, p.visible_version))
        })
        .map(|p| p.name.to_string())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Decides one table against what the base recorded for it (None = no base: full backup; a base
/// without this table = new table).
pub fn decide_table(state: &TableState, base: Option<Option<&BaseTable>>) -> TableDecision {
    let has_partitions = state.partitions.iter().any(|p| !p.is_temp);
    let decision = match base {
        None => TableDecision::Whole("full backup".into()),
        Some(None) => TableDecision::Whole("new table".into()),
        Some(Some(t)) if t.partitions.is_empty() => TableDecision::Whole("new table".into()),
        Some(Some(t))
            if !t
                .fingerprints
                .iter()
                .all(|f| crate::fingerprint::is_current(f)) =>
        {
            TableDecision::Whole("older-format schema fingerprint: cannot compare".into())
        }
        Some(Some(t))
            if t.fingerprints
                .iter()
                .any(|f| !crate::fingerprint::same_schema(f, state)) =>
        {
            TableDecision::Whole("schema changed".into())
        }
        Some(Some(t)) => {
            let changed = changed_partitions(&state.partitions, t);
            match state.whole_if_changed {
                _ if changed.is_empty() => TableDecision::Unchanged,
                Some(why) => TableDecision::Whole(why.to_string()),
                None => TableDecision::Partitions(changed),
            }
        }
    };
    if has_partitions {
        decision
    } else {
        TableDecision::Unchanged
    }
}

#[derive(Debug, Clone, Serialize)]
struct TableInput {
    table: String,
    schema_fingerprint: String,
    decision: String,
    partitions_total: usize,
    partitions_in_snapshot: usize,
    /// Tombstones recorded: partitions the base had that no longer exist.
    partitions_dropped: usize,
    /// RESTORE jobs the table's restore as of this backup needs.
    restore_jobs: usize,
}

/// What a backup run does in one database (typed for the command; the plan's inputs show it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::Display)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum DatabaseAction {
    /// A BACKUP job.
    Full,
    Incremental,
    /// Only partitions dropped since the base: a FINISHED record without a snapshot.
    ManifestOnly,
    NothingChanged,
}

/// One database's part of a backup plan, for the command to report without reading plan JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabasePlan {
    pub database: String,
    pub action: DatabaseAction,
    pub label: Option<String>,
    pub base_label: Option<String>,
}

/// A backup plan and, per database, what it does.
#[derive(Debug)]
pub struct BackupPlan {
    pub plan: Plan,
    pub databases: Vec<DatabasePlan>,
}

#[derive(Debug, Clone, Serialize)]
struct DatabaseInput {
    database: String,
    action: DatabaseAction,
    label: Option<String>,
    base_label: Option<String>,
    partitions_in_snapshot: usize,
    tables: Vec<TableInput>,
}

#[derive(Debug, Clone, Serialize)]
struct BackupInputs<'a> {
    cluster_time: &'a str,
    repository: &'a str,
    ops_database: &'a str,
    databases: Vec<DatabaseInput>,
    resume: &'a [ResumeJob],
    /// Tables left out of this run, with the reason (planner::left_out).
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    left_out: &'a [super::left_out::LeftOut],
}

/// Compiles the backup plan. `suffix` is the per-attempt label part (None for a dry run).
pub fn plan_backup(cfg: &Config, state: &BackupState, suffix: Option<&str>) -> Plan {
    plan_backup_owned(cfg, state.clone(), suffix).plan
}

/// [`plan_backup`] consuming the state: each table's current partitions and base record are
/// dropped as soon as its manifest rows are rendered, so the discovery state and the manifest SQL
/// the plan carries (~150 MB each at 1M partitions) are never both whole in memory.
pub fn plan_backup_owned(cfg: &Config, state: BackupState, suffix: Option<&str>) -> BackupPlan {
    let ops = &cfg.ops_database;
    let BackupState {
        cluster_time,
        tables: all_tables,
        mut bases,
        resume,
        force_full,
        left_out,
    } = state;
    let mut steps = plan_resume(cfg, &resume);
    // Recorded after the database's claim (never by a run that then loses it), or at the end
    // where the database takes no snapshot.
    let mut left_steps: BTreeMap<String, Step> = super::left_out::left_out_steps(
        cfg,
        &cluster_time,
        &left_out,
        |db| bases.contains_key(db),
        suffix,
    )
    .into_iter()
    .map(|s| (s.database.clone().unwrap_or_default(), s))
    .collect();
    let mut db_inputs = Vec::new();

    let mut by_db: BTreeMap<String, Vec<(TableRef, TableState)>> = BTreeMap::new();
    for (t, s) in all_tables {
        by_db.entry(t.database.clone()).or_default().push((t, s));
    }

    let now = crate::state::parse_time(&cluster_time);
    let bounds = Bounds {
        max_restore_jobs: usize::try_from(cfg.max_restore_jobs).unwrap_or(usize::MAX),
        full_every_days: cfg.full_every_days,
        repository: &cfg.repository,
        force_full,
    };
    for (db, tables) in by_db {
        let db = db.as_str();
        let mut base = bases.remove(db);
        let ty = if base.is_some() && !force_full {
            BackupType::Incremental
        } else {
            BackupType::Full
        };
        let label = make_label(db, &cluster_time, ty, suffix);

        // Decide every table first (rolling fulls weigh the tables of the run against each other).
        let mut decisions: Vec<(TableDecision, usize)> = Vec::with_capacity(tables.len());
        let mut facts: BTreeMap<usize, TableFacts> = BTreeMap::new();
        for (i, (tref, ts)) in tables.iter().enumerate() {
            let base_table = base.as_ref().map(|b| (b, b.tables.get(&tref.table)));
            let decision = decide_table(ts, base_table.map(|(_, t)| t));
            let jobs = match (base_table, &decision) {
                (Some((b, Some(bt))), TableDecision::Partitions(_) | TableDecision::Unchanged) => {
                    let f =
                        chain_facts(b, bt, ts, matches!(decision, TableDecision::Partitions(_)));
                    let jobs = f.jobs_if_incremental;
                    facts.insert(i, f);
                    jobs
                }
                _ => 1,
            };
            decisions.push((decision, jobs));
        }
        for (i, why) in rolling::decide(&facts, &bounds, now) {
            if let Some(d) = decisions.get_mut(i) {
                *d = (TableDecision::Whole(why), 1);
            }
        }
        if force_full {
            for d in decisions.iter_mut() {
                if !matches!(d.0, TableDecision::Whole(_)) {
                    *d = (TableDecision::Whole("backup --full".to_string()), 1);
                }
            }
        }

        let mut objects = Vec::new();
        // The manifest is rendered chunk by chunk into its INSERT statements: only what changed
        // (partitions in the snapshot, tombstones), never the partitions merely in scope.
        let mut manifest = ManifestChunks::new(ops);
        let mut table_rows: Vec<(String, String, bool, usize, usize, String)> = Vec::new();
        let mut in_snapshot = 0usize;
        let mut table_inputs = Vec::new();
        // Tombstones written (partitions the base had that no longer exist).
        let mut dropped = 0usize;
        // `tref`, `ts` and `base_table` are owned and dropped at the end of each iteration.
        for ((tref, ts), (decision, jobs)) in tables.into_iter().zip(decisions) {
            let base_table: Option<BaseTable> =
                base.as_mut().and_then(|b| b.tables.remove(&tref.table));
            let whole = matches!(decision, TableDecision::Whole(_));
            let in_snap: BTreeSet<&str> = match &decision {
                TableDecision::Whole(_) => ts
                    .partitions
                    .iter()
                    .filter(|p| !p.is_temp)
                    .map(|p| p.name.as_str())
                    .collect(),
                TableDecision::Partitions(ps) => ps.iter().map(String::as_str).collect(),
                TableDecision::Unchanged => BTreeSet::new(),
            };
            if !in_snap.is_empty() {
                objects.push(BackupObject {
                    table: tref.table.clone(),
                    whole_table: whole,
                    partitions: if whole {
                        Vec::new()
                    } else {
                        in_snap.iter().map(|p| p.to_string()).collect()
                    },
                });
            }
            in_snapshot += in_snap.len();
            let mut parts: Vec<&PartitionState> =
                ts.partitions.iter().filter(|p| !p.is_temp).collect();
            parts.sort_by(|a, b| a.name.cmp(&b.name));
            for p in parts.iter().filter(|p| in_snap.contains(p.name.as_str())) {
                manifest.push(ManifestRowRef {
                    label: &label,
                    database: db,
                    table: &tref.table,
                    partition: &p.name,
                    partition_id: p.id,
                    visible_version: p.visible_version,
                    replication_num: p.replication_num,
                    source_label: &label,
                    in_snapshot: true,
                    whole_table: whole,
                    schema_fingerprint: &ts.schema_fingerprint,
                });
            }
            let mut tombstones = 0usize;
            if let (false, Some(bt)) = (whole, &base_table) {
                let now: BTreeSet<&str> = parts.iter().map(|p| p.name.as_str()).collect();
                for gone in bt
                    .partitions
                    .iter()
                    .filter(|b| !now.contains(b.name.as_str()))
                {
                    tombstones += 1;
                    manifest.push(ManifestRowRef {
                        label: &label,
                        database: db,
                        table: &tref.table,
                        partition: &gone.name,
                        partition_id: gone.id,
                        visible_version: gone.visible_version,
                        replication_num: None,
                        source_label: "",
                        in_snapshot: false,
                        whole_table: false,
                        schema_fingerprint: &ts.schema_fingerprint,
                    });
                }
            }
            dropped += tombstones;
            let decision_text = match &decision {
                TableDecision::Whole(why) => format!("whole table ({why})"),
                TableDecision::Partitions(_) => "changed partitions".to_string(),
                TableDecision::Unchanged if tombstones > 0 => "partitions dropped".to_string(),
                TableDecision::Unchanged => "unchanged".to_string(),
            };
            if !in_snap.is_empty() || tombstones > 0 {
                table_rows.push((
                    tref.table.clone(),
                    ts.schema_fingerprint.clone(),
                    whole,
                    parts.len(),
                    jobs,
                    decision_text.clone(),
                ));
            }
            table_inputs.push(TableInput {
                table: tref.table.clone(),
                schema_fingerprint: ts.schema_fingerprint.clone(),
                decision: decision_text,
                partitions_total: parts.len(),
                partitions_in_snapshot: in_snap.len(),
                partitions_dropped: tombstones,
                restore_jobs: jobs,
            });
        }
        let mut manifest = manifest.finish();
        if !table_rows.is_empty() {
            let rows: Vec<TableRow<'_>> = table_rows
                .iter()
                .map(|(table, fp, whole, n, jobs, why)| TableRow {
                    label: &label,
                    database: db,
                    table,
                    schema_fingerprint: fp,
                    whole_table: *whole,
                    complete: *whole,
                    partitions: *n,
                    restore_jobs: *jobs,
                    decision: why,
                })
                .collect();
            let stmts: Vec<(String, usize)> = rows
                .chunks(MANIFEST_CHUNK)
                .map(|c| (history::insert_table_rows_sql(ops, c), c.len()))
                .collect();
            manifest.splice(0..0, stmts);
        }

        let base_label = base.as_ref().map(|b| b.label.clone());
        if objects.is_empty() && dropped > 0 {
            // Only drops since the base: no snapshot to take, but the table's shape changed. Record
            // a manifest-only row, so a later restore does not resurrect the dropped partitions.
            db_inputs.push(DatabaseInput {
                database: db.to_string(),
                action: DatabaseAction::ManifestOnly,
                label: Some(label.clone()),
                base_label: base_label.clone(),
                partitions_in_snapshot: 0,
                tables: table_inputs,
            });
            steps.extend(after_claim(
                manifest_only_steps(cfg, db, &label, base_label.as_deref(), manifest),
                left_steps.remove(db),
                &label,
            ));
            continue;
        }
        if objects.is_empty() {
            db_inputs.push(DatabaseInput {
                database: db.to_string(),
                action: DatabaseAction::NothingChanged,
                label: None,
                base_label,
                partitions_in_snapshot: 0,
                tables: table_inputs,
            });
            continue;
        }
        db_inputs.push(DatabaseInput {
            database: db.to_string(),
            action: match ty {
                BackupType::Full => DatabaseAction::Full,
                BackupType::Incremental => DatabaseAction::Incremental,
            },
            label: Some(label.clone()),
            base_label: base_label.clone(),
            partitions_in_snapshot: in_snapshot,
            tables: table_inputs,
        });
        steps.extend(after_claim(
            database_steps(
                cfg,
                db,
                &label,
                ty,
                base_label.as_deref(),
                objects,
                manifest,
                in_snapshot,
            ),
            left_steps.remove(db),
            &label,
        ));
    }
    steps.extend(left_steps.into_values());
    let databases = db_inputs
        .iter()
        .map(|d| DatabasePlan {
            database: d.database.clone(),
            action: d.action,
            label: d.label.clone(),
            base_label: d.base_label.clone(),
        })
        .collect();
    let inputs = BackupInputs {
        cluster_time: &cluster_time,
        repository: &cfg.repository,
        ops_database: ops,
        databases: db_inputs,
        resume: &resume,
        left_out: &left_out,
    };
    BackupPlan {
        plan: Plan::new(
            Command::Backup,
            serde_json::to_value(inputs).unwrap_or_default(),
            steps,
        ),
        databases,
    }
}

/// Names the base recorded for a table that are no longer among its non-temporary partitions.
pub fn dropped_partitions(current: &[PartitionState], base: &BaseTable) -> usize {
    let now: BTreeSet<&str> = current
        .iter()
        .filter(|p| !p.is_temp)
        .map(|p| p.name.as_str())
        .collect();
    base.partitions
        .iter()
        .filter(|p| !now.contains(p.name.as_str()))
        .count()
}

#[cfg(test)]
#[path = "backup_tests.rs"]
mod tests;
