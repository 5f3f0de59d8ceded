//! `restore --table A --table B ...`: tables of one database share RESTORE jobs (planner
//! restore::group); databases run one after another (`restore_database` is the per-database unit,
//! kept separate so it can run in parallel later).

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::Result;
use tracing::{info, warn};

use super::{finish_dead_restores, TargetSpec};
use crate::cluster::Cluster;
use crate::config::{Config, TableRef};
use crate::error::BbrError;
use crate::planner::backup::random_suffix;
use crate::planner::chain;
use crate::planner::restore::{group_jobs, plan_group_restore, repository_of, GroupTable};
use crate::preflight::restore::{check_restore, LinkToCheck};
use crate::runner::Runner;
use crate::state;

pub(crate) fn restore_many(
    cfg: &Config,
    targets: &[TableRef],
    spec: TargetSpec,
    dry_run: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let mut by_db: BTreeMap<&str, Vec<TableRef>> = BTreeMap::new();
    for t in targets {
        let v = by_db.entry(t.database.as_str()).or_default();
        if !v.contains(t) {
            v.push(t.clone());
        }
    }
    for (db, tables) in by_db {
        if tables.len() == 1 {
            super::restore(
                cfg,
                &tables[0],
                spec,
                &crate::planner::restore::RestoreMode::Plain,
                dry_run,
                out,
            )?;
        } else {
            restore_database(cfg, db, &tables, spec, dry_run, out)?;
        }
    }
    Ok(())
}

/// Restores the tables of one database to one instant with shared RESTORE jobs.
fn restore_database(
    cfg: &Config,
    db: &str,
    tables: &[TableRef],
    spec: TargetSpec,
    dry_run: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let mut c = Cluster::connect(cfg)?;
    let asked = super::asked_time(&mut c, cfg, spec)?;
    let mut discs = Vec::new();
    for t in tables {
        discs.push(state::restore::restore_state(&mut c, cfg, t, asked)?);
    }
    // latest: the newest of the tables' newest backups, for all of them
    let target_time = discs
        .iter()
        .map(|d| d.state.target_time)
        .max()
        .unwrap_or_default();
    if asked.is_none() {
        info!("--timestamp latest: {target_time}");
        discs.clear();
        for t in tables {
            discs.push(state::restore::restore_state(
                &mut c,
                cfg,
                t,
                Some(target_time),
            )?);
        }
    }
    let mut group = Vec::new();
    for (t, d) in tables.iter().zip(&discs) {
        if d.holding == 0 {
            let held = state::restore::tables_in_history(&mut c, cfg, db)?;
            return Err(BbrError::usage(
                format!(
                    "{t} was never backed up: the history of database {db} holds {}",
                    held.join(", ")
                ),
                "check the table names (`starrocks-bbr list` shows the backups)",
            )
            .into());
        }
        if let Some(now) = state::parse_time(&d.state.cluster_time) {
            if target_time > now {
                return Err(BbrError::usage(
                    format!("--timestamp {target_time} is later than the cluster's clock ({now}, session time zone)"),
                    "pass a time in the cluster's session time zone, at or before now",
                )
                .into());
            }
        }
        let chain = chain::resolve(&d.backups, &d.manifest, target_time).map_err(|e| {
            BbrError::usage(
                format!("cannot restore {t} as of {target_time}: {e}"),
                format!("pick a --timestamp at or after a RESTORABLE_AT that `starrocks-bbr list --database {db}` shows (session time zone), or latest"),
            )
        })?;
        group.push(GroupTable {
            table: t.clone(),
            chain,
        });
    }
    let mut repositories = BTreeMap::new();
    for d in &discs {
        repositories.extend(d.state.repositories.clone());
    }
    let links: Vec<LinkToCheck> = group_jobs(&group)
        .into_iter()
        .map(|j| LinkToCheck {
            repository: repository_of(cfg, &repositories, &j.label).to_string(),
            label: j.label,
            backup_timestamp: j.backup_timestamp,
            replication_num: j.replication_num,
        })
        .collect();
    check_restore(&mut c, cfg, db, &links)?;
    let existing: Vec<String> = tables
        .iter()
        .zip(&discs)
        .filter(|(_, d)| d.state.target_exists)
        .map(|(t, _)| t.to_string())
        .collect();
    let cluster_time = discs
        .first()
        .map(|d| d.state.cluster_time.clone())
        .unwrap_or_default();
    let plan_with = |resume: &[crate::planner::restore::RestoreResume], suffix: Option<&str>| {
        plan_group_restore(
            cfg,
            db,
            &cluster_time,
            target_time,
            &group,
            &repositories,
            resume,
            suffix,
        )
    };
    let mut resume = discs
        .first()
        .map(|d| d.state.resume.clone())
        .unwrap_or_default();
    if dry_run {
        if !existing.is_empty() {
            warn!(
                "{} exist(s): a real run would refuse (exit 4)",
                existing.join(", ")
            );
        }
        let plan = plan_with(&resume, None);
        plan.write_json(out)?;
        return Ok(());
    }
    if !existing.is_empty() {
        return Err(BbrError::refused(
            format!(
                "{} exist(s); restore never overwrites a table",
                existing.join(", ")
            ),
            "drop or rename them first, or restore them one by one with --as",
        )
        .into());
    }
    // dead restore runs of the database are finished first (never continued by a group run)
    finish_dead_restores(&mut c, cfg, &resume, out)?;
    resume.clear();
    let suffix = random_suffix();
    let plan = plan_with(&resume, Some(&suffix));
    let outcome = Runner::new(&mut c, cfg).run(&plan);
    if let Some(e) = outcome.error {
        return Err(e.into());
    }
    let names: Vec<&str> = tables.iter().map(|t| t.table.as_str()).collect();
    let jobs: Vec<String> = group_jobs(&group)
        .iter()
        .map(|j| {
            let ts: Vec<&str> = j.tables.iter().map(|(t, _)| t.as_str()).collect();
            format!("{} ({})", j.label, ts.join(", "))
        })
        .collect();
    let label = plan.inputs["label"].as_str().unwrap_or_default();
    writeln!(
        out,
        "{db}: {} restored as of {target_time} by {label} FINISHED ({} shared RESTORE job(s): {})",
        names.join(", "),
        jobs.len(),
        jobs.join(", ")
    )?;
    Ok(())
}
