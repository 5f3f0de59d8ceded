//! Rolling fulls driven through the real planner (issue 10 item 3). chain.rs's property test
//! models the recording rule itself; this one runs [`plan_backup`] at every backup of a random
//! history and records exactly what the plan would write — the backup_tables and
//! backup_partitions rows of its RecordManifest INSERTs, and the ON list of its BACKUP as the
//! snapshot's content — so the bound and the fold are checked as the tool really applies them:
//! no table's newest restore point needs more than `max_restore_jobs` RESTORE jobs (and the
//! `restore_jobs` the planner records is that number), and every recorded point restores exactly
//! the as-of versions through `chain::resolve`.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::NaiveDateTime;
use proptest::prelude::*;

use super::backup::{plan_backup, BackupState, PartitionState, TableState};
use super::base::{BaseFolder, TableSpan};
use super::chain::{self, BackupRecord, ManifestRow, TableRecord};
use crate::config::Config;
use crate::plan::{BackupObject, Details, Plan, StepKind};

/// Partition name -> (id, visible version).
type Parts = BTreeMap<String, (i64, i64)>;

#[derive(Debug, Clone)]
enum Op {
    Load(u8, u8),
    Truncate(u8, u8),
    Drop(u8, u8),
    Add(u8, u8),
    SchemaChange(u8),
    /// A backup run; false: its job is CANCELLED (the row ends FAILED).
    Backup(bool),
}

fn op(tables: u8) -> impl Strategy<Value = Op> {
    let t = 0..tables;
    prop_oneof![
        6 => (t.clone(), 0u8..6).prop_map(|(t, p)| Op::Load(t, p)),
        1 => (t.clone(), 0u8..6).prop_map(|(t, p)| Op::Truncate(t, p)),
        1 => (t.clone(), 0u8..6).prop_map(|(t, p)| Op::Drop(t, p)),
        1 => (t.clone(), 0u8..6).prop_map(|(t, p)| Op::Add(t, p)),
        1 => t.prop_map(Op::SchemaChange),
        4 => prop::bool::weighted(0.85).prop_map(Op::Backup),
    ]
}

/// One table of the model cluster.
#[derive(Debug, Clone)]
struct Table {
    parts: Parts,
    schema: u32,
}

/// The rows one plan would write, parsed back from its RecordManifest INSERTs.
#[derive(Debug, Default)]
struct Written {
    /// (table, complete, fingerprint, restore_jobs)
    tables: Vec<(String, bool, String, usize)>,
    /// (table, row)
    partitions: Vec<(String, ManifestRow)>,
}

/// The history the runs wrote, per table as the readers see it.
#[derive(Debug, Default)]
struct History {
    backups: Vec<BackupRecord>,
    /// table -> (record, fingerprint)
    records: BTreeMap<String, Vec<(TableRecord, String)>>,
    manifest: BTreeMap<String, Vec<ManifestRow>>,
    /// label -> table -> what the snapshot holds (from the BACKUP's ON list)
    snapshots: BTreeMap<String, BTreeMap<String, Parts>>,
}

impl History {
    fn table_records(&self, t: &str) -> Vec<TableRecord> {
        self.records
            .get(t)
            .map(|v| v.iter().map(|(r, _)| r.clone()).collect())
            .unwrap_or_default()
    }

    /// The planner's input for the newest FINISHED backup, folded as state/manifest.rs does.
    fn base(&self, tables: &[String]) -> Option<super::base::BaseBackup> {
        let base_label = self
            .backups
            .iter()
            .rev()
            .find(|b| b.status == "FINISHED")?
            .label
            .clone();
        let mut spans = BTreeMap::new();
        for t in tables {
            let Ok(span) = chain::span(&self.backups, &self.table_records(t), NaiveDateTime::MAX)
            else {
                continue;
            };
            let fingerprint = self.records[t]
                .iter()
                .find(|(r, _)| r.label == span.as_of_label)
                .map(|(_, f)| f.clone())
                .unwrap_or_default();
            let chain_start = span.labels.first().and_then(|l| {
                self.backups
                    .iter()
                    .find(|b| &b.label == l)
                    .and_then(|b| b.snapshot_at)
            });
            spans.insert(
                t.clone(),
                TableSpan {
                    span,
                    fingerprint,
                    chain_start,
                },
            );
        }
        let mut f = BaseFolder::new(&base_label, spans);
        for (t, rows) in &self.manifest {
            for r in rows {
                f.push(
                    &r.label,
                    t,
                    &r.partition_name,
                    r.partition_id,
                    r.visible_version,
                    &r.source_label,
                    r.in_snapshot,
                );
            }
        }
        Some(f.finish(|_| "repo".to_string()))
    }

    /// Restores `table` as of `at` from the snapshots' contents; the number of RESTORE jobs.
    fn restore(&self, table: &str, at: NaiveDateTime) -> Result<(Parts, usize), String> {
        let manifest = self.manifest.get(table).cloned().unwrap_or_default();
        let c = chain::resolve(&self.backups, &self.table_records(table), &manifest, at)
            .map_err(|e| e.to_string())?;
        let mut out = Parts::new();
        for link in &c.links {
            let snap = self
                .snapshots
                .get(&link.label)
                .and_then(|s| s.get(table))
                .ok_or_else(|| format!("{} holds nothing of {table}", link.label))?;
            for p in &link.partitions {
                let v = snap
                    .get(p)
                    .ok_or_else(|| format!("{} does not hold {table}.{p}", link.label))?;
                if out.insert(p.clone(), *v).is_some() {
                    return Err(format!("{table}.{p} restored twice"));
                }
            }
        }
        Ok((out, c.links.len()))
    }
}

/// The values of a multi-row `INSERT INTO t (cols) VALUES (...), (...)` as rendered by sql.rs
/// (quoted literals with backslash escapes, bare numbers, NULL), keyed by column.
fn insert_rows(sql: &str) -> Vec<BTreeMap<String, Option<String>>> {
    let Some((head, values)) = sql.split_once(" VALUES ") else {
        return Vec::new();
    };
    let cols: Vec<String> = head
        .rsplit_once('(')
        .map(|(_, c)| c.trim_end_matches(')'))
        .unwrap_or_default()
        .split(',')
        .map(|c| c.trim().trim_matches('`').to_string())
        .collect();
    let mut rows = Vec::new();
    let mut row: Vec<Option<String>> = Vec::new();
    let mut chars = values.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                let mut s = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            let e = chars.next().unwrap_or('\\');
                            s.push(match e {
                                'n' => '\n',
                                't' => '\t',
                                'r' => '\r',
                                '0' => '\0',
                                other => other,
                            });
                        }
                        '\'' => break,
                        c => s.push(c),
                    }
                }
                row.push(Some(s));
            }
            ')' => rows.push(cols.iter().cloned().zip(std::mem::take(&mut row)).collect()),
            c if c.is_ascii_alphanumeric() || c == '-' => {
                let mut s = c.to_string();
                while let Some(&n) = chars.peek() {
                    if n.is_ascii_alphanumeric() || n == '-' {
                        s.push(n);
                        chars.next();
                    } else {
                        break;
                    }
                }
                row.push((s != "NULL").then_some(s));
            }
            _ => {}
        }
    }
    rows
}

fn text(r: &BTreeMap<String, Option<String>>, col: &str) -> String {
    r.get(col).cloned().flatten().unwrap_or_default()
}

fn int(r: &BTreeMap<String, Option<String>>, col: &str) -> i64 {
    text(r, col).parse().unwrap_or(-1)
}

/// What the plan of one run does for database `db`: its label, the rows it writes, and the
/// BACKUP's objects (None: a manifest-only record; no label: nothing changed).
fn outcome(plan: &Plan) -> Option<(String, Written, Option<Vec<BackupObject>>)> {
    let steps: Vec<_> = plan
        .steps
        .iter()
        .filter(|s| s.database.as_deref() == Some("db"))
        .collect();
    let label = steps.iter().find_map(|s| s.label.clone())?;
    let mut w = Written::default();
    let mut objects = None;
    for s in &steps {
        match (&s.kind, &s.details) {
            (StepKind::RecordManifest, _) => {
                let sql = s.sql.as_deref().unwrap_or("");
                for r in insert_rows(sql) {
                    if sql.contains("`backup_tables`") {
                        w.tables.push((
                            text(&r, "table_name"),
                            text(&r, "complete") == "1",
                            text(&r, "schema_fingerprint"),
                            usize::try_from(int(&r, "restore_jobs")).unwrap_or(usize::MAX),
                        ));
                    } else {
                        w.partitions.push((
                            text(&r, "table_name"),
                            ManifestRow {
                                label: text(&r, "label"),
                                partition_name: text(&r, "partition_name"),
                                partition_id: int(&r, "partition_id"),
                                visible_version: int(&r, "visible_version"),
                                replication_num: 1,
                                source_label: text(&r, "source_label"),
                                in_snapshot: text(&r, "in_snapshot") == "1",
                            },
                        ));
                    }
                }
            }
            (StepKind::IssueBackup, Some(Details::Backup { objects: o, .. })) => {
                objects = Some(o.clone())
            }
            _ => {}
        }
    }
    Some((label, w, objects))
}

fn config(tables: u8, max_jobs: usize) -> Config {
    let names: Vec<String> = (0..tables).map(|t| format!("db.t{t}")).collect();
    Config::parse(
        Path::new("t.yaml"),
        &format!(
            "connection: {{host: h, user: u}}\nrepository: repo\ntables: [{}]\nmax_restore_jobs: {max_jobs}\n",
            names.join(", ")
        ),
    )
    .unwrap()
}

fn state(cfg: &Config, now: NaiveDateTime, model: &[Table], h: &History) -> BackupState {
    let names: Vec<String> = cfg.tables.iter().map(|t| t.table.clone()).collect();
    let tables = cfg
        .tables
        .iter()
        .zip(model)
        .map(|(r, t)| {
            let partitions = t
                .parts
                .iter()
                .map(|(name, (id, v))| PartitionState {
                    name: name.as_str().into(),
                    id: *id,
                    visible_version: *v,
                    is_temp: false,
                    replication_num: Some(1),
                })
                .collect();
            let ts = TableState {
                schema_fingerprint: format!("v2:schema{}", t.schema),
                partitions,
                whole_if_changed: None,
            };
            (r.clone(), ts)
        })
        .collect();
    BackupState {
        cluster_time: now.format("%Y-%m-%d %H:%M:%S").to_string(),
        tables,
        bases: h
            .base(&names)
            .map(|b| ("db".to_string(), b))
            .into_iter()
            .collect(),
        ..BackupState::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn plan_backup_keeps_every_restore_within_the_bound_and_exact(
        n in 1u8..=3,
        max_jobs in 1usize..=8,
        ops in prop::collection::vec(op(3), 1..50),
    ) {
        let cfg = config(n, max_jobs);
        let names: Vec<String> = cfg.tables.iter().map(|t| t.table.clone()).collect();
        let mut model: Vec<Table> = (0..n)
            .map(|t| Table {
                parts: (0..3).map(|p| (format!("p{p}"), (i64::from(t) * 100 + p, 1))).collect(),
                schema: 0,
            })
            .collect();
        let mut next_id = 1000;
        let mut h = History::default();
        let mut clock: NaiveDateTime = "2026-01-01T00:00:00".parse().unwrap();
        // (time, every table) after each FINISHED backup
        let mut points: Vec<(NaiveDateTime, Vec<Parts>)> = Vec::new();
        for (i, op) in ops.into_iter().enumerate() {
            clock += chrono::Duration::hours(1);
            let len = model.len();
            let table = |t: u8| usize::from(t) % len;
            match op {
                Op::Load(t, p) => {
                    if let Some(e) = model[table(t)].parts.get_mut(&format!("p{p}")) {
                        e.1 += 1;
                    }
                }
                Op::Truncate(t, p) => {
                    if let Some(e) = model[table(t)].parts.get_mut(&format!("p{p}")) {
                        next_id += 1;
                        *e = (next_id, 1);
                    }
                }
                Op::Drop(t, p) => {
                    let m = &mut model[table(t)];
                    if m.parts.len() > 1 {
                        m.parts.remove(&format!("p{p}"));
                    }
                }
                Op::Add(t, p) => {
                    next_id += 1;
                    model[table(t)].parts.entry(format!("p{p}")).or_insert((next_id, 1));
                }
                Op::SchemaChange(t) => model[table(t)].schema += 1,
                Op::Backup(succeeds) => {
                    let plan = plan_backup(&cfg, &state(&cfg, clock, &model, &h), Some(&format!("s{i}")));
                    let Some((label, written, objects)) = outcome(&plan) else {
                        continue; // nothing changed: no record
                    };
                    // a job can fail; a manifest-only record sends none
                    let succeeds = succeeds || objects.is_none();
                    h.backups.push(BackupRecord {
                        label: label.clone(),
                        database: "db".into(),
                        status: if succeeds { "FINISHED" } else { "FAILED" }.into(),
                        snapshot_at: Some(clock),
                        backup_timestamp: objects.as_ref().map(|_| format!("ts{i}")),
                        repository: "repo".into(),
                    });
                    for (t, complete, fp, _) in &written.tables {
                        h.records.entry(t.clone()).or_default().push((
                            TableRecord { label: label.clone(), complete: *complete },
                            fp.clone(),
                        ));
                    }
                    for (t, r) in &written.partitions {
                        h.manifest.entry(t.clone()).or_default().push(r.clone());
                    }
                    let mut snap = BTreeMap::new();
                    for o in objects.iter().flatten() {
                        let m = &model[names.iter().position(|n| *n == o.table).unwrap_or(0)];
                        let held: Parts = m
                            .parts
                            .iter()
                            .filter(|(p, _)| o.whole_table || o.partitions.contains(p))
                            .map(|(p, v)| (p.clone(), *v))
                            .collect();
                        prop_assert!(!held.is_empty(), "{label}: an empty object {o:?}");
                        snap.insert(o.table.clone(), held);
                    }
                    h.snapshots.insert(label.clone(), snap);
                    if !succeeds {
                        continue;
                    }
                    points.push((clock, model.iter().map(|m| m.parts.clone()).collect()));
                    // Every table's newest restore point: within the bound, exact, and the
                    // RESTORE jobs the planner recorded for it.
                    for (k, t) in names.iter().enumerate() {
                        let (got, jobs) = h.restore(t, clock).map_err(TestCaseError::fail)?;
                        prop_assert_eq!(&got, &model[k].parts, "{} after {}", t, label);
                        prop_assert!(jobs <= max_jobs, "{t} needs {jobs} RESTORE jobs > {max_jobs} after {label}");
                        if let Some((.., recorded)) = written.tables.iter().find(|w| &w.0 == t) {
                            prop_assert_eq!(*recorded, jobs, "{} restore_jobs recorded by {}", t, label);
                        }
                    }
                }
            }
        }
        // Every recorded point, afterwards: exactly its versions.
        for (at, want) in &points {
            for (k, t) in names.iter().enumerate() {
                let (got, jobs) = h.restore(t, *at).map_err(TestCaseError::fail)?;
                prop_assert_eq!(&got, &want[k], "{} at {}", t, at);
                prop_assert!(jobs <= max_jobs);
            }
        }
    }
}
