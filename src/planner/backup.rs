//! `backup`: decide per database between FULL, INCREMENTAL and nothing, and compile the steps.
//!
//! A partition is in an incremental iff its (PartitionId, VisibleVersion) differs from what the base
//! (the latest FINISHED backup of the database) recorded for that partition name, or it is new.
//! Temporary partitions are never backed up. A table that is new or whose schema fingerprint changed
//! is backed up whole, because StarRocks refuses partition restores onto a different schema.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::rolling::{self, Bounds, TableFacts};
use super::{finalize_step, job_step};
use crate::config::{Config, TableRef};
use crate::history::{
    self, finalize_template, insert_running_sql, ManifestInsert, ManifestRow, ManifestRowRef,
    RunningRow, TableRow, FINALIZE_PLACEHOLDERS,
};
use crate::plan::{BackupObject, BackupType, Command, Details, Plan, Step, StepKind};
use crate::sql::{ident, literal, qualified};

/// Manifest rows per INSERT statement.
pub const MANIFEST_CHUNK: usize = 500;

/// What rolling fulls weigh for a table that could be backed up incrementally: the snapshots its
/// newest restore point would need (the sources of its unchanged partitions, plus this run's when
/// anything changed), where those live, and when its chain started.
fn chain_facts(b: &BaseBackup, bt: &BaseTable, ts: &TableState, changed: bool) -> TableFacts {
    let unchanged: Vec<u32> = ts
        .partitions
        .iter()
        .filter(|p| !p.is_temp)
        .filter_map(|p| {
            bt.get(&p.name)
                .filter(|r| (r.id, r.visible_version) == (p.id, p.visible_version))
                .map(|r| r.source)
        })
        .collect::<BTreeSet<u32>>()
        .into_iter()
        .collect();
    let mut repositories: Vec<String> = unchanged
        .iter()
        .map(|s| b.repository(*s).to_string())
        .filter(|r| !r.is_empty())
        .collect();
    repositories.sort();
    repositories.dedup();
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
    }
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
    /// The fingerprint by the previous algorithm (fingerprint::legacy): what a base recorded
    /// before `v2:` fingerprints existed is compared with this, not with `schema_fingerprint`.
    pub legacy_fingerprint: String,
    /// Why a change must make the table whole (its restore must come from one snapshot): LIST
    /// tables on 3.4+, tables with several physical partitions per partition.
    pub whole_if_changed: Option<&'static str>,
}

/// What the base recorded for one partition (compact: a base manifest can hold 1M partitions).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BasePartition {
    pub name: Name,
    pub id: i64,
    pub visible_version: i64,
    /// Index into [`BaseBackup::sources`]: the snapshot holding the data as recorded.
    pub source: u32,
}

/// What the base recorded for one table.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct BaseTable {
    /// The distinct schema fingerprints recorded (normally one).
    pub fingerprints: Vec<String>,
    /// Sorted by name, one per name.
    pub partitions: Vec<BasePartition>,
    /// When the complete record its chain starts at was taken (full_every_days).
    pub chain_start: Option<chrono::NaiveDateTime>,
}

impl BaseTable {
    pub fn get(&self, name: &str) -> Option<&BasePartition> {
        self.partitions
            .binary_search_by(|p| p.name.as_str().cmp(name))
            .ok()
            .and_then(|i| self.partitions.get(i))
    }
}

/// The latest FINISHED backup of a database and what it recorded, per table.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct BaseBackup {
    pub label: String,
    /// The distinct source labels of the manifest.
    pub sources: Vec<String>,
    /// The repository of each source (same index; empty when unknown).
    pub source_repositories: Vec<String>,
    pub tables: BTreeMap<String, BaseTable>,
}

impl BaseBackup {
    /// Builds the compact base from manifest rows (duplicates from a retried INSERT chunk collapse:
    /// the first row per (table, partition) wins).
    pub fn from_rows(label: &str, rows: impl IntoIterator<Item = ManifestRow>) -> BaseBackup {
        let mut b = BaseBackup {
            label: label.to_string(),
            ..BaseBackup::default()
        };
        let mut source_idx: BTreeMap<String, u32> = BTreeMap::new();
        for r in rows {
            b.push(
                &r.table,
                &r.schema_fingerprint,
                &r.source_label,
                &mut source_idx,
                BasePartition {
                    name: r.partition.into(),
                    id: r.partition_id,
                    visible_version: r.visible_version,
                    source: 0,
                },
            );
        }
        b.finish();
        b
    }

    /// Adds one recorded partition (call [`BaseBackup::finish`] after the last).
    pub fn push(
        &mut self,
        table: &str,
        fingerprint: &str,
        source: &str,
        source_idx: &mut BTreeMap<String, u32>,
        mut p: BasePartition,
    ) {
        p.source = match source_idx.get(source) {
            Some(&i) => i,
            None => {
                let i = u32::try_from(self.sources.len()).unwrap_or(u32::MAX);
                self.sources.push(source.to_string());
                source_idx.insert(source.to_string(), i);
                i
            }
        };
        let t = match self.tables.get_mut(table) {
            Some(t) => t,
            None => self.tables.entry(table.to_string()).or_default(),
        };
        if !t.fingerprints.iter().any(|f| f == fingerprint) {
            t.fingerprints.push(fingerprint.to_string());
        }
        t.partitions.push(p);
    }

    /// Sorts and de-duplicates every table's partitions.
    pub fn finish(&mut self) {
        for t in self.tables.values_mut() {
            t.partitions.sort_by(|a, b| a.name.cmp(&b.name));
            t.partitions.dedup_by(|b, a| a.name == b.name);
            t.partitions.shrink_to_fit();
        }
    }

    /// The repository holding source `i` ("" when unknown).
    pub fn repository(&self, i: u32) -> &str {
        self.source_repositories
            .get(i as usize)
            .map_or("", String::as_str)
    }

    pub fn source(&self, p: &BasePartition) -> &str {
        self.sources
            .get(p.source as usize)
            .map(String::as_str)
            .unwrap_or(self.label.as_str())
    }
}

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

/// `bbr_<db>_<YYYYMMDDHHMMSS>_<full|incr>[_<suffix>]`; the db part is sanitised and bounded so the
/// label fits VARCHAR(96) and StarRocks' label rules.
pub fn make_label(db: &str, cluster_time: &str, ty: BackupType, suffix: Option<&str>) -> String {
    let mut dbpart: String = db
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    dbpart.truncate(48);
    let stamp: String = cluster_time
        .chars()
        .filter(char::is_ascii_digit)
        .take(14)
        .collect();
    let ty = match ty {
        BackupType::Full => "full",
        BackupType::Incremental => "incr",
    };
    match suffix {
        Some(s) => format!("bbr_{dbpart}_{stamp}_{ty}_{s}"),
        None => format!("bbr_{dbpart}_{stamp}_{ty}"),
    }
}

/// A fresh per-attempt suffix: 6 random `[a-z0-9]`.
pub fn random_suffix() -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..6)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
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

#[derive(Debug, Clone, Serialize)]
struct DatabaseInput {
    database: String,
    action: String,
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

/// The BACKUP statement for one database.
pub fn backup_sql(
    db: &str,
    label: &str,
    repository: &str,
    objects: &[BackupObject],
    timeout_s: u64,
) -> String {
    let on: Vec<String> = objects
        .iter()
        .map(|o| {
            if o.whole_table {
                ident(&o.table)
            } else {
                let parts: Vec<String> = o.partitions.iter().map(|p| ident(p)).collect();
                format!("{} PARTITION ({})", ident(&o.table), parts.join(", "))
            }
        })
        .collect();
    format!(
        "BACKUP SNAPSHOT {} TO {} ON ({}) PROPERTIES (\"timeout\" = \"{}\")",
        qualified(db, label),
        ident(repository),
        on.join(", "),
        timeout_s
    )
}

pub fn show_backup_sql(db: &str) -> String {
    format!("SHOW BACKUP FROM {}", ident(db))
}

pub fn show_snapshot_sql(repository: &str, label: &str) -> String {
    format!(
        "SHOW SNAPSHOT ON {} WHERE SNAPSHOT = {}",
        ident(repository),
        literal(label)
    )
}

pub fn cancel_backup_sql(db: &str) -> String {
    format!("CANCEL BACKUP FROM {}", ident(db))
}

/// The three steps that see a submitted job through: poll, resolve the timestamp, finalize.
pub fn completion_steps(cfg: &Config, db: &str, label: &str, resume: bool) -> Vec<Step> {
    vec![
        job_step(
            db,
            label,
            StepKind::PollBackup,
            format!(
                "poll SHOW BACKUP until {label} is FINISHED or CANCELLED (heartbeat refreshed)"
            ),
            show_backup_sql(db),
            super::idempotent(cfg),
            Some(Details::Poll {
                initial_ms: cfg.poll.initial_ms,
                max_ms: cfg.poll.max_ms,
                job_timeout_s: cfg.job_timeout_s,
                resume,
            }),
        ),
        job_step(
            db,
            label,
            StepKind::ResolveSnapshotTimestamp,
            "read the snapshot's exact backup_timestamp".to_string(),
            show_snapshot_sql(&cfg.repository, label),
            super::idempotent(cfg),
            None,
        ),
        finalize_step(
            cfg,
            db,
            label,
            "mark the history row FINISHED or FAILED",
            finalize_template(&cfg.ops_database, label),
            &FINALIZE_PLACEHOLDERS,
        ),
    ]
}

/// Steps that finish RUNNING rows left by dead runs (no claim: the job already exists or never will).
pub fn plan_resume(cfg: &Config, jobs: &[ResumeJob]) -> Vec<Step> {
    jobs.iter()
        .flat_map(|j| completion_steps(cfg, &j.database, &j.label, true))
        .collect()
}

/// Compiles the backup plan. `suffix` is the per-attempt label part (None for a dry run).
pub fn plan_backup(cfg: &Config, state: &BackupState, suffix: Option<&str>) -> Plan {
    plan_backup_owned(cfg, state.clone(), suffix)
}

/// [`plan_backup`] consuming the state: each table's current partitions and base record are
/// dropped as soon as its manifest rows are rendered, so the discovery state and the manifest SQL
/// the plan carries (~150 MB each at 1M partitions) are never both whole in memory.
pub fn plan_backup_owned(cfg: &Config, state: BackupState, suffix: Option<&str>) -> Plan {
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
    steps.extend(super::left_out::left_out_steps(
        cfg,
        &cluster_time,
        &left_out,
        |db| bases.contains_key(db),
        suffix,
    ));
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
                action: "manifest_only".to_string(),
                label: Some(label.clone()),
                base_label: base_label.clone(),
                partitions_in_snapshot: 0,
                tables: table_inputs,
            });
            steps.extend(manifest_only_steps(
                cfg,
                db,
                &label,
                base_label.as_deref(),
                manifest,
            ));
            continue;
        }
        if objects.is_empty() {
            db_inputs.push(DatabaseInput {
                database: db.to_string(),
                action: "nothing_changed".to_string(),
                label: None,
                base_label,
                partitions_in_snapshot: 0,
                tables: table_inputs,
            });
            continue;
        }
        db_inputs.push(DatabaseInput {
            database: db.to_string(),
            action: ty.to_string(),
            label: Some(label.clone()),
            base_label: base_label.clone(),
            partitions_in_snapshot: in_snapshot,
            tables: table_inputs,
        });
        steps.extend(database_steps(
            cfg,
            db,
            &label,
            ty,
            base_label.as_deref(),
            objects,
            manifest,
            in_snapshot,
        ));
    }
    let inputs = BackupInputs {
        cluster_time: &cluster_time,
        repository: &cfg.repository,
        ops_database: ops,
        databases: db_inputs,
        resume: &resume,
        left_out: &left_out,
    };
    Plan::new(
        Command::Backup,
        serde_json::to_value(inputs).unwrap_or_default(),
        steps,
    )
}

/// Manifest rows rendered into one multi-row INSERT per [`MANIFEST_CHUNK`] rows as they come.
struct ManifestChunks {
    current: ManifestInsert,
    done: Vec<(String, usize)>,
}

impl ManifestChunks {
    fn new(ops: &str) -> Self {
        ManifestChunks {
            current: ManifestInsert::new(ops),
            done: Vec::new(),
        }
    }

    fn push(&mut self, row: ManifestRowRef<'_>) {
        self.current.push(row);
        if self.current.rows() >= MANIFEST_CHUNK {
            self.flush();
        }
    }

    fn flush(&mut self) {
        let rows = self.current.rows();
        if rows > 0 {
            self.done.push((self.current.take(), rows));
        }
    }

    /// (INSERT statement, rows) per chunk.
    fn finish(mut self) -> Vec<(String, usize)> {
        self.flush();
        self.done
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

/// A manifest-only record: the claim and manifest steps of an incremental, no BACKUP, and a Finalize
/// that is a complete statement (FINISHED, no backup_timestamp, snapshot_at = NOW()).
fn manifest_only_steps(
    cfg: &Config,
    db: &str,
    label: &str,
    base_label: Option<&str>,
    manifest: Vec<(String, usize)>,
) -> Vec<Step> {
    let mut steps: Vec<Step> = database_steps(
        cfg,
        db,
        label,
        BackupType::Incremental,
        base_label,
        Vec::new(),
        manifest,
        0,
    )
    .into_iter()
    .filter(|s| {
        matches!(
            s.kind,
            StepKind::RecordRunning
                | StepKind::Claim
                | StepKind::CheckBase
                | StepKind::RecordManifest
        )
    })
    .collect();
    steps.push(finalize_step(
        cfg,
        db,
        label,
        "mark the row FINISHED without a snapshot (partitions were only dropped)",
        history::finalize_manifest_only_sql(&cfg.ops_database, label),
        &[],
    ));
    steps
}

#[allow(clippy::too_many_arguments)]
fn database_steps(
    cfg: &Config,
    db: &str,
    label: &str,
    ty: BackupType,
    base_label: Option<&str>,
    objects: Vec<BackupObject>,
    manifest: Vec<(String, usize)>,
    partitions: usize,
) -> Vec<Step> {
    let ops = &cfg.ops_database;
    let step = |kind, description: String, sql: String, details| {
        job_step(
            db,
            label,
            kind,
            description,
            sql,
            super::idempotent(cfg),
            details,
        )
    };
    let tables: Vec<&str> = objects.iter().map(|o| o.table.as_str()).collect();
    let tables_json = serde_json::to_string(&tables).unwrap_or_else(|_| "[]".into());
    let partitions_u32 = u32::try_from(partitions).unwrap_or(u32::MAX);
    let mut steps = vec![
        step(
            StepKind::RecordRunning,
            format!("write the RUNNING {ty} row for {db} (the claim)"),
            insert_running_sql(
                ops,
                &RunningRow {
                    label,
                    database: db,
                    backup_type: &ty.to_string(),
                    repository: &cfg.repository,
                    base_label,
                    partitions: partitions_u32,
                    tables_json: &tables_json,
                },
            ),
            None,
        ),
        step(
            StepKind::Claim,
            format!(
                "wait until the cluster clock passed our started_at, then proceed only if ours is the oldest live RUNNING row of {db}"
            ),
            history::select_running_sql(ops, db),
            Some(Details::Claim {
                heartbeat_stale_s: cfg.heartbeat_stale_s,
            }),
        ),
        step(
            StepKind::CheckBase,
            "check the base is still the latest FINISHED backup (else the plan is stale)"
                .to_string(),
            history::select_latest_finished_sql(ops, db),
            Some(Details::CheckBase {
                expected_base_label: base_label.map(str::to_string),
            }),
        ),
    ];
    let n = u32::try_from(manifest.len()).unwrap_or(u32::MAX);
    for (i, (sql, rows)) in manifest.into_iter().enumerate() {
        let i = u32::try_from(i).unwrap_or(u32::MAX);
        steps.push(step(
            StepKind::RecordManifest,
            format!("record the manifest ({rows} rows)"),
            sql,
            Some(Details::Manifest {
                chunk: i + 1,
                chunks: n,
                rows: u32::try_from(rows).unwrap_or(u32::MAX),
            }),
        ));
    }
    let sql = backup_sql(db, label, &cfg.repository, &objects, cfg.job_timeout_s);
    steps.push(job_step(
        db,
        label,
        StepKind::IssueBackup,
        format!("send the {ty} BACKUP of {db}"),
        sql,
        super::submission(cfg),
        Some(Details::Backup {
            backup_type: ty,
            base_label: base_label.map(str::to_string),
            objects,
            partitions: partitions_u32,
        }),
    ));
    steps.extend(completion_steps(cfg, db, label, false));
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::path::Path;

    fn cfg() -> Config {
        Config::parse(
            Path::new("t.yaml"),
            "connection: {host: h, user: u}\nrepository: repo\ntables: [sales.orders, sales.customers]\n",
        )
        .unwrap()
    }

    fn part(name: &str, id: i64, v: i64) -> PartitionState {
        PartitionState {
            name: name.into(),
            id,
            visible_version: v,
            is_temp: false,
            replication_num: Some(1),
        }
    }

    fn row(table: &str, name: &str, id: i64, v: i64, fp: &str) -> ManifestRow {
        ManifestRow {
            label: "base".into(),
            database: "sales".into(),
            table: table.into(),
            partition: name.into(),
            partition_id: id,
            visible_version: v,
            replication_num: Some(1),
            source_label: "base".into(),
            in_snapshot: true,
            whole_table: true,
            schema_fingerprint: fp.into(),
        }
    }

    fn base_table(rows: &[ManifestRow]) -> BaseTable {
        BaseBackup::from_rows("base", rows.iter().cloned())
            .tables
            .remove("t")
            .unwrap_or_default()
    }

    #[test]
    fn decide_table_cases() {
        let ts = TableState {
            schema_fingerprint: "f1".into(),
            partitions: vec![part("p1", 1, 2), part("p2", 2, 5)],
            ..TableState::default()
        };
        let same = base_table(&[row("t", "p1", 1, 2, "f1"), row("t", "p2", 2, 5, "f1")]);
        let loaded = base_table(&[row("t", "p1", 1, 1, "f1"), row("t", "p2", 2, 5, "f1")]);
        let truncated = base_table(&[row("t", "p1", 9, 2, "f1"), row("t", "p2", 2, 5, "f1")]);
        let schema = base_table(&[row("t", "p1", 1, 2, "f0"), row("t", "p2", 2, 5, "f0")]);
        let new_part = base_table(&[row("t", "p1", 1, 2, "f1")]);
        let empty = BaseTable::default();
        let cases: Vec<(Option<Option<&BaseTable>>, TableDecision)> = vec![
            (None, TableDecision::Whole("full backup".into())),
            (Some(None), TableDecision::Whole("new table".into())),
            (Some(Some(&empty)), TableDecision::Whole("new table".into())),
            (Some(Some(&same)), TableDecision::Unchanged),
            (
                Some(Some(&loaded)),
                TableDecision::Partitions(vec!["p1".into()]),
            ),
            (
                Some(Some(&truncated)),
                TableDecision::Partitions(vec!["p1".into()]),
            ),
            (
                Some(Some(&schema)),
                TableDecision::Whole("schema changed".into()),
            ),
            (
                Some(Some(&new_part)),
                TableDecision::Partitions(vec!["p2".into()]),
            ),
        ];
        for (base, want) in cases {
            assert_eq!(decide_table(&ts, base), want);
        }
        let mut with_temp = ts.clone();
        with_temp.partitions.push(PartitionState {
            is_temp: true,
            ..part("tmp", 7, 1)
        });
        assert_eq!(
            decide_table(&with_temp, Some(Some(&same))),
            TableDecision::Unchanged
        );
        // a LIST table on 3.4+ (or one with several physical partitions per name): any change
        // makes it whole, no change leaves it alone
        let list = TableState {
            whole_if_changed: Some("list"),
            ..ts.clone()
        };
        assert_eq!(
            decide_table(&list, Some(Some(&same))),
            TableDecision::Unchanged
        );
        assert_eq!(
            decide_table(&list, Some(Some(&loaded))),
            TableDecision::Whole("list".into())
        );
        assert_eq!(
            decide_table(&list, Some(Some(&new_part))),
            TableDecision::Whole("list".into())
        );
        // a base recorded by the previous fingerprint algorithm is compared with the legacy part
        let v2 = TableState {
            schema_fingerprint: "v2:new".into(),
            legacy_fingerprint: "f1".into(),
            ..ts.clone()
        };
        assert_eq!(
            decide_table(&v2, Some(Some(&same))),
            TableDecision::Unchanged
        );
        assert_eq!(
            decide_table(&v2, Some(Some(&schema))),
            TableDecision::Whole("schema changed".into())
        );
        let v2_base = base_table(&[
            row("t", "p1", 1, 2, "v2:old"),
            row("t", "p2", 2, 5, "v2:old"),
        ]);
        assert_eq!(
            decide_table(&v2, Some(Some(&v2_base))),
            TableDecision::Whole("schema changed".into())
        );
    }

    #[test]
    fn base_from_rows_dedups_and_interns_sources() {
        let mut r2 = row("t", "p1", 1, 2, "f1");
        r2.source_label = "older".into();
        let b = BaseBackup::from_rows(
            "base",
            vec![
                row("t", "p2", 2, 5, "f1"),
                r2.clone(),
                r2,
                row("u", "u", 3, 1, "f2"),
            ],
        );
        let t = &b.tables["t"];
        assert_eq!(t.partitions.len(), 2);
        assert_eq!(t.partitions[0].name, "p1");
        assert_eq!(b.source(t.get("p1").unwrap()), "older");
        assert_eq!(b.source(t.get("p2").unwrap()), "base");
        assert_eq!(t.fingerprints, vec!["f1".to_string()]);
        assert!(t.get("p3").is_none());
        assert_eq!(b.sources.len(), 2);
    }

    #[test]
    fn labels() {
        assert_eq!(
            make_label("sales", "2026-01-01 00:00:05", BackupType::Full, None),
            "bbr_sales_20260101000005_full"
        );
        assert_eq!(
            make_label(
                "we-ird",
                "2026-01-01 00:00:05",
                BackupType::Incremental,
                Some("abc123")
            ),
            "bbr_we_ird_20260101000005_incr_abc123"
        );
        let s = random_suffix();
        assert_eq!(s.len(), 6);
        assert!(s
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
        assert!(
            make_label(
                &"x".repeat(300),
                "2026-01-01 00:00:05",
                BackupType::Full,
                Some("abcdef")
            )
            .len()
                <= 96
        );
    }

    fn state(base: bool) -> BackupState {
        let mut s = BackupState {
            cluster_time: "2026-01-01 00:00:05".into(),
            ..Default::default()
        };
        s.tables.insert(
            TableRef::parse("sales.orders").unwrap(),
            TableState {
                schema_fingerprint: "fo".into(),
                partitions: vec![part("p1", 1, 2), part("p2", 2, 1)],
                ..TableState::default()
            },
        );
        s.tables.insert(
            TableRef::parse("sales.customers").unwrap(),
            TableState {
                schema_fingerprint: "fc".into(),
                partitions: vec![part("customers", 3, 1)],
                ..TableState::default()
            },
        );
        if base {
            s.bases.insert(
                "sales".into(),
                BaseBackup::from_rows(
                    "base",
                    vec![
                        row("orders", "p1", 1, 1, "fo"),
                        row("orders", "p2", 2, 1, "fo"),
                        row("customers", "customers", 3, 1, "fc"),
                    ],
                ),
            );
        }
        s
    }

    fn kinds(p: &Plan) -> Vec<StepKind> {
        p.steps.iter().map(|s| s.kind).collect()
    }

    #[test]
    fn full_plan() {
        let p = plan_backup(&cfg(), &state(false), None);
        use StepKind::*;
        assert_eq!(
            kinds(&p),
            vec![
                RecordRunning,
                Claim,
                CheckBase,
                RecordManifest,
                RecordManifest,
                IssueBackup,
                PollBackup,
                ResolveSnapshotTimestamp,
                Finalize
            ]
        );
        // one backup_tables row per table, complete (whole), then the partitions
        let tables = p.steps[3].sql.as_deref().unwrap();
        assert!(
            tables.starts_with("INSERT INTO `ops`.`backup_tables`"),
            "{tables}"
        );
        assert!(
            tables.contains("'orders', 'fo', 1, 1, 2, 1, 'whole table (full backup)'"),
            "{tables}"
        );
        let backup = p.steps[5].sql.as_deref().unwrap();
        assert_eq!(
            backup,
            "BACKUP SNAPSHOT `sales`.`bbr_sales_20260101000005_full` TO `repo` ON (`customers`, `orders`) PROPERTIES (\"timeout\" = \"86400\")"
        );
        assert_eq!(
            p.to_json(),
            plan_backup(&cfg(), &state(false), None).to_json()
        );
    }

    #[test]
    fn incremental_plan() {
        let p = plan_backup(&cfg(), &state(true), Some("zzzzzz"));
        let backup = p
            .steps
            .iter()
            .find(|s| s.kind == StepKind::IssueBackup)
            .unwrap();
        assert_eq!(
            backup.sql.as_deref().unwrap(),
            "BACKUP SNAPSHOT `sales`.`bbr_sales_20260101000005_incr_zzzzzz` TO `repo` ON (`orders` PARTITION (`p1`)) PROPERTIES (\"timeout\" = \"86400\")"
        );
        let manifest: Vec<&str> = p
            .steps
            .iter()
            .filter(|s| s.kind == StepKind::RecordManifest)
            .filter_map(|s| s.sql.as_deref())
            .collect();
        assert_eq!(manifest.len(), 2);
        // lean: only the changed partition, and one delta (not complete) row for its table
        assert!(
            manifest[0].contains("'orders', 'fo', 0, 0, 2, 2, 'changed partitions'"),
            "{}",
            manifest[0]
        );
        assert!(!manifest[0].contains("'customers'"), "{}", manifest[0]);
        let sql = manifest[1];
        assert!(
            !sql.contains("'p2'"),
            "unchanged partitions are not recorded: {sql}"
        );
        assert!(
            sql.contains("'p1', 1, 2, 1, 'bbr_sales_20260101000005_incr_zzzzzz', 1, 0"),
            "{sql}"
        );
    }

    #[test]
    fn nothing_changed_plan() {
        let mut s = state(true);
        s.tables
            .get_mut(&TableRef::parse("sales.orders").unwrap())
            .unwrap()
            .partitions[0]
            .visible_version = 1;
        let p = plan_backup(&cfg(), &s, None);
        assert!(p.steps.is_empty());
        assert_eq!(p.inputs["databases"][0]["action"], "nothing_changed");
    }

    #[test]
    fn only_dropped_partitions_give_a_manifest_only_record() {
        use StepKind::*;
        let orders = TableRef::parse("sales.orders").unwrap();
        // (name, current orders partitions, expected action, expected kinds)
        let cases: Vec<(&str, Vec<PartitionState>, &str, Vec<StepKind>)> = vec![
            (
                "p2 dropped, nothing else changed",
                vec![part("p1", 1, 1)],
                "manifest_only",
                vec![
                    RecordRunning,
                    Claim,
                    CheckBase,
                    RecordManifest,
                    RecordManifest,
                    Finalize,
                ],
            ),
            (
                "p2 dropped and p1 loaded: an ordinary incremental",
                vec![part("p1", 1, 2)],
                "incremental",
                vec![
                    RecordRunning,
                    Claim,
                    CheckBase,
                    RecordManifest,
                    RecordManifest,
                    IssueBackup,
                    PollBackup,
                    ResolveSnapshotTimestamp,
                    Finalize,
                ],
            ),
            (
                "nothing dropped or changed",
                vec![part("p1", 1, 1), part("p2", 2, 1)],
                "nothing_changed",
                vec![],
            ),
        ];
        for (name, current, action, want) in cases {
            let mut s = state(true);
            s.tables.get_mut(&orders).unwrap().partitions = current;
            let p = plan_backup(&cfg(), &s, None);
            assert_eq!(p.inputs["databases"][0]["action"], action, "{name}");
            assert_eq!(kinds(&p), want, "{name}");
            if action != "manifest_only" {
                continue;
            }
            assert_eq!(p.inputs["databases"][0]["base_label"], "base", "{name}");
            // a tombstone for p2, nothing for the unchanged p1
            let manifest = p.steps[4].sql.as_deref().unwrap();
            assert!(
                manifest.contains("'p2', 2, 1, NULL, '', 0, 0"),
                "{manifest}"
            );
            assert!(!manifest.contains("'p1'"), "{manifest}");
            assert!(p.steps[3]
                .sql
                .as_deref()
                .unwrap()
                .contains("'orders', 'fo', 0, 0, 1, 1, 'partitions dropped'"));
            let running = p.steps[0].sql.as_deref().unwrap();
            assert!(
                running.contains("'incremental'") && running.contains("'base', 0, '[]'"),
                "{running}"
            );
            let fin = p.steps[5].sql.as_deref().unwrap();
            assert!(!fin.contains("${"), "a complete statement: {fin}");
            assert!(
                fin.contains("`status` = 'FINISHED'")
                    && fin.contains("`backup_timestamp` = NULL")
                    && fin.contains("`snapshot_at` = NOW()"),
                "{fin}"
            );
        }
    }

    #[test]
    fn manifest_is_chunked() {
        let mut s = state(false);
        s.tables
            .get_mut(&TableRef::parse("sales.orders").unwrap())
            .unwrap()
            .partitions = (0..1200).map(|i| part(&format!("p{i:04}"), i, 1)).collect();
        let p = plan_backup(&cfg(), &s, None);
        let chunks = p
            .steps
            .iter()
            .filter(|s| s.kind == StepKind::RecordManifest)
            .count();
        // 1201 partition rows in three chunks, then the two tables' rows
        assert_eq!(chunks, 4);
    }

    fn arb_parts() -> impl Strategy<Value = Vec<(u8, i64, i64, bool)>> {
        proptest::collection::vec((0u8..20, 0i64..5, 1i64..5, any::<bool>()), 0..15)
    }

    proptest! {
        #[test]
        fn change_detection(cur in arb_parts(), base in arb_parts()) {
            let current: Vec<PartitionState> = cur.iter().map(|(n, id, v, tmp)| PartitionState {
                name: format!("p{n}").into(), id: *id, visible_version: *v, is_temp: *tmp, replication_num: None,
            }).collect();
            // a base records each name once
            let mut seen = BTreeSet::new();
            let base_rows: Vec<ManifestRow> = base.iter().filter(|(n, ..)| seen.insert(*n))
                .map(|(n, id, v, _)| row("t", &format!("p{n}"), *id, *v, "f")).collect();
            let bt = base_table(&base_rows);
            let changed = changed_partitions(&current, &bt);
            for p in &current {
                let recorded = base_rows.iter().find(|r| r.partition == p.name);
                let should = !p.is_temp && recorded.map(|r| (r.partition_id, r.visible_version)) != Some((p.id, p.visible_version));
                // a name may appear twice in `current` (once temp); changed iff any non-temp copy changed
                if should { prop_assert!(changed.contains(&p.name.to_string())); }
            }
            for name in &changed {
                let ok = current.iter().any(|p| p.name == name && !p.is_temp && base_rows.iter().find(|r| &r.partition == name).map(|r| (r.partition_id, r.visible_version)) != Some((p.id, p.visible_version)));
                prop_assert!(ok);
            }
            let mut sorted = changed.clone();
            sorted.sort();
            prop_assert_eq!(sorted, changed);
        }
    }
}
