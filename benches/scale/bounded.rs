//! Issue 10's cases: rolling fulls over a year of daily runs, and parallel databases.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use starrocks_sim::{Sim, SimOptions};

use crate::scenario::{daily_table, init, line, run_tool, secs, start_sim, write_config, FAST};

/// A year of daily backups of one daily-partitioned table (`partitions` partitions, 10 rows each;
/// day d loads 10 more rows into partition d mod partitions), `max_restore_jobs` 8: every restore
/// point must need at most 8 RESTORE jobs. Reports the data the rolling fulls cost against what
/// pure incrementals would have copied (rows in snapshots).
pub fn rolling_case(partitions: usize, days: usize, log: &mut dyn FnMut(&str)) -> Result<()> {
    let sim = start_sim()?;
    let dir = tempfile::tempdir()?;
    sim.create_table("rdb", "daily", &daily_table(partitions))?;
    for k in 0..partitions {
        sim.load("rdb", "daily", &format!("p{k:04}"), 10)?;
    }
    let config = write_config(
        dir.path(),
        sim.port(),
        &["rdb.daily".to_string()],
        &format!("{FAST}max_restore_jobs: 8\n"),
    )?;
    let cfg = config.to_string_lossy().to_string();
    init(&sim, dir.path(), &config)?;
    let t0 = Instant::now();
    let mut wall = Duration::ZERO;
    let mut pure_rows = (partitions * 10) as u64; // the FULL
    for d in 0..=days {
        if d > 0 {
            let p = format!("p{:04}", (d - 1) % partitions);
            sim.load("rdb", "daily", &p, 10)?;
            // a pure incremental copies exactly the partition loaded that day
            pure_rows += sim
                .partitions("rdb", "daily")?
                .iter()
                .find(|x| x.name == p)
                .map_or(0, |x| x.row_count);
        }
        let m = run_tool(&sim, dir.path(), &["backup", "--config", &cfg], 4096)?;
        if m.exit != 0 {
            bail!("day {d}: backup failed: {}", m.stderr);
        }
        wall += m.wall;
    }
    let rolling_rows: u64 = sim
        .snapshots("backup_repo")
        .iter()
        .flat_map(|s| s.tables.iter())
        .flat_map(|t| t.partitions.iter())
        .map(|p| p.row_count)
        .sum();
    let max_jobs = sim
        .execute("SELECT MAX(restore_jobs) FROM ops.backup_tables")?
        .first()
        .and_then(|r| r.first().cloned().flatten())
        .unwrap_or_default();
    let wholes = sim
        .execute("SELECT COUNT(*) FROM ops.backup_tables WHERE whole_table = 1")?
        .first()
        .and_then(|r| r.first().cloned().flatten())
        .unwrap_or_default();
    let target = (chrono::Utc::now() + chrono::Duration::days(3650))
        .format("%Y-%m-%d 00:00:00")
        .to_string();
    let target = sim
        .execute("SELECT MAX(snapshot_at) FROM ops.backup_history")?
        .first()
        .and_then(|r| r.first().cloned().flatten())
        .map(|s| s[..19].to_string())
        .unwrap_or(target);
    let restore = run_tool(
        &sim,
        dir.path(),
        &[
            "restore",
            "--dry-run",
            "--table",
            "rdb.daily",
            "--timestamp",
            &target,
            "--config",
            &cfg,
        ],
        1 << 20,
    )?;
    if restore.exit != 0 {
        bail!("restore --dry-run failed: {}", restore.stderr);
    }
    let jobs = restore
        .stdout
        .matches("\"kind\": \"RestoreSnapshot\"")
        .count();
    log(&format!(
        "rolling fulls: {days} daily runs of a {partitions}-partition table in {:.1} s ({:.1} s in the tool), max_restore_jobs 8: {wholes} whole-table backups (FULL included), the largest restore point needs {max_jobs} RESTORE jobs, restore after the last run plans {jobs}",
        secs(t0.elapsed()),
        secs(wall)
    ));
    let extra = rolling_rows.saturating_sub(pure_rows) as f64;
    let pure_incr = pure_rows.saturating_sub((partitions * 10) as u64).max(1) as f64;
    log(&format!(
        "  data copied: {rolling_rows} rows with rolling fulls vs {pure_rows} pure incremental (FULL {} + {} rows of incrementals): x{:.2} in total; the rolling fulls' extra per day is {:.1}x a pure incremental day",
        partitions * 10,
        pure_incr,
        rolling_rows as f64 / pure_rows.max(1) as f64,
        extra / pure_incr
    ));
    log(&line("restore --dry-run after the year", &restore));
    Ok(())
}

/// 8 databases, one single-partition table each, every BACKUP job taking the same virtual time; the
/// simulator's clock advances with real time only (a ticker), so each job lasts the same wall time
/// however many run at once. Real `backup` with parallel_databases 4 and 1.
pub fn parallel_case(log: &mut dyn FnMut(&str)) -> Result<(f64, f64)> {
    let mut walls = Vec::new();
    for parallel in [1u32, 4] {
        let sim = Sim::start(SimOptions {
            tick_per_statement: Duration::ZERO,
            ..SimOptions::default()
        })?;
        sim.create_repository("backup_repo", false)?;
        let dir = tempfile::tempdir()?;
        let mut names = Vec::new();
        for d in 0..8 {
            let db = format!("pdb{d}");
            sim.create_table(&db, "t", &daily_table(1))?;
            sim.load(&db, "t", "p0000", 10)?;
            names.push(format!("{db}.t"));
        }
        let config = write_config(
            dir.path(),
            sim.port(),
            &names,
            &format!("{FAST}parallel_databases: {parallel}\n"),
        )?;
        let cfg = config.to_string_lossy().to_string();
        let stop = std::sync::atomic::AtomicBool::new(false);
        let m = std::thread::scope(|s| -> Result<_> {
            // 1 virtual second every 5 ms: a job (its states of 2 s each) lasts ~50 ms of wall time
            s.spawn(|| {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(5));
                    sim.advance(Duration::from_secs(1));
                }
            });
            let r = init(&sim, dir.path(), &config)
                .and_then(|_| run_tool(&sim, dir.path(), &["backup", "--config", &cfg], 4096));
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            r
        })?;
        if m.exit != 0 {
            bail!("parallel_databases {parallel}: backup failed: {}", m.stderr);
        }
        log(&line(
            &format!("backup of 8 databases, parallel_databases {parallel}"),
            &m,
        ));
        walls.push(secs(m.wall));
    }
    let ratio = walls[1] / walls[0].max(1e-9);
    log(&format!(
        "  wall time parallel_databases 4 / 1 = {:.3} / {:.3} s = {ratio:.2}",
        walls[1], walls[0]
    ));
    Ok((walls[0], walls[1]))
}
