//! The `expire` case of docs/BENCHMARKS.md: expire PLANNING (the pure retention rule + plan) over a
//! year of daily history of one database of 1,000 tables × 1,000 partitions (1M), 1% changed a day,
//! rolling fulls keeping every chain ≤ 8 snapshots (max_restore_jobs), keep_days 30. The history is
//! built in memory in the compact form discovery reads (lean manifests: one manifest row per
//! label, table, source and in_snapshot, and the backup_tables rows); only `decide` + `plan_expire` are timed.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use anyhow::Result;
use chrono::NaiveDateTime;
use starrocks_bbr::config::Config;
use starrocks_bbr::planner::chain::{BackupRecord, ManifestRow, TableRecord};
use starrocks_bbr::planner::expire::{
    decide, plan_expire, DatabaseHistory, Presence, RepositoryView, SnapshotRow,
};

pub struct ExpireSizes {
    pub tables: usize,
    pub partitions: usize,
    pub days: usize,
    pub changed_per_day: usize,
    pub max_chain: usize,
    pub keep_days: u32,
}

impl ExpireSizes {
    pub fn full() -> ExpireSizes {
        ExpireSizes {
            tables: 1_000,
            partitions: 1_000,
            days: 365,
            changed_per_day: 10,
            max_chain: 8,
            keep_days: 30,
        }
    }
    pub fn smoke() -> ExpireSizes {
        ExpireSizes {
            tables: 10,
            partitions: 20,
            days: 40,
            changed_per_day: 2,
            max_chain: 4,
            keep_days: 7,
        }
    }
}

fn label(day: usize) -> String {
    format!("bbr_sales_2026{:04}000000_incr", day)
}

/// The history: per table, each partition's source day; a day changes `changed_per_day` partitions
/// per table (a moving window, deterministic); a table whose chain would exceed `max_chain`
/// snapshots is backed up whole that day.
fn history(s: &ExpireSizes, start: NaiveDateTime) -> DatabaseHistory {
    let labels: Vec<String> = (0..s.days).map(label).collect();
    let mut rows = Vec::with_capacity(s.days);
    for (d, l) in labels.iter().enumerate() {
        let at = start + chrono::Duration::days(d as i64);
        rows.push(SnapshotRow {
            record: BackupRecord {
                label: l.clone(),
                database: "sales".into(),
                status: "FINISHED".into(),
                snapshot_at: Some(at),
                backup_timestamp: Some(format!("ts{d}")),
                repository: "backup_repo".into(),
            },
            backup_type: if d == 0 { "full" } else { "incremental" }.into(),
            repository: "backup_repo".into(),
            started_at: Some(at),
            heartbeat_at: Some(at),
            error_message: None,
        });
    }
    // Lean manifests: a day records, per table, its changed partitions (one compact row: the
    // label is their source) and a `backup_tables` row; a rolling full records the table whole.
    let mut manifest = BTreeMap::new();
    let mut tables = BTreeMap::new();
    for t in 0..s.tables {
        let mut source = vec![0usize; s.partitions];
        let mut compact: Vec<ManifestRow> = Vec::new();
        let mut records: Vec<TableRecord> = Vec::new();
        for (d, l) in labels.iter().enumerate() {
            let mut complete = d == 0;
            if d > 0 {
                for k in 0..s.changed_per_day {
                    let p = (t * 7 + d * s.changed_per_day + k) % s.partitions;
                    source[p] = d;
                }
                let distinct: BTreeSet<usize> = source.iter().copied().collect();
                if distinct.len() > s.max_chain {
                    source.iter_mut().for_each(|x| *x = d); // rolling full of this table
                    complete = true;
                }
            }
            compact.push(ManifestRow {
                label: l.clone(),
                partition_name: String::new(),
                partition_id: 0,
                visible_version: 0,
                replication_num: 1,
                source_label: l.clone(),
                in_snapshot: true,
            });
            records.push(TableRecord {
                label: l.clone(),
                complete,
            });
        }
        manifest.insert(format!("t{t:04}"), compact);
        tables.insert(format!("t{t:04}"), records);
    }
    DatabaseHistory {
        database: "sales".into(),
        rows,
        manifest,
        tables,
        restores: Vec::new(),
    }
}

pub fn expire_case(s: &ExpireSizes, log: &mut dyn FnMut(&str)) -> Result<()> {
    let start = NaiveDateTime::parse_from_str("2026-01-01 00:00:00", "%Y-%m-%d %H:%M:%S")?;
    let h = history(s, start);
    let compact_rows: usize = h.manifest.values().map(Vec::len).sum();
    let now = start + chrono::Duration::days(s.days as i64 - 1) + chrono::Duration::hours(1);
    let cfg = Config::parse(
        std::path::Path::new("bench.yaml"),
        "connection: {host: h, user: u}\nrepository: backup_repo\ntables: [sales.t0000]\n",
    )?;
    let view = RepositoryView {
        drop_supported: true,
        snapshots: h
            .rows
            .iter()
            .map(|r| {
                (
                    ("backup_repo".to_string(), r.record.label.clone()),
                    Presence::Present {
                        cluster_id: Some("c".into()),
                    },
                )
            })
            .collect(),
    };
    let t0 = Instant::now();
    let d = decide(&h, now, s.keep_days, 300);
    let decided = t0.elapsed();
    let (plan, report) = plan_expire(
        &cfg,
        now,
        s.keep_days,
        &[h],
        std::slice::from_ref(&d),
        &view,
        None,
    );
    let total = t0.elapsed();
    // SAFETY: getrusage writes into the zeroed struct we own.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    log(&format!(
        "  peak RSS of the bench process (the in-memory history included): {} MB",
        ru.ru_maxrss / 1024
    ));
    log(&format!(
        "expire planning: {} tables x {} partitions, {} daily backups, compact manifest {} rows, keep_days {}: decide {:.3} s, plan {:.3} s total; keep {}, expire {}, {} steps",
        s.tables,
        s.partitions,
        s.days,
        compact_rows,
        s.keep_days,
        decided.as_secs_f64(),
        total.as_secs_f64(),
        d.keep.len(),
        report.expired.len(),
        plan.steps.len()
    ));
    Ok(())
}
