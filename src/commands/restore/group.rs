//! `restore --table A --table B ...`: tables of one database share RESTORE jobs (planner
//! restore::group); databases are all prepared (checked) first, then run up to
//! `parallel_databases` at once (runner::parallel::at_most).

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::Result;
use tracing::{info, warn};

use super::{finish_dead_restores, TargetSpec};
use crate::cluster::Cluster;
use crate::config::{Config, TableRef};
use crate::error::{BbrError, ExitCode};
use crate::planner::backup::random_suffix;
use crate::planner::chain;
use crate::planner::restore::{
    group_jobs, judge, plan_group_restore, recorded_chain, repository_of, set_aside_plan,
    GroupTable, LinkRef, Progress, GROUP_PREFIX, TIME_FORMAT,
};
use crate::preflight::restore::{check_restore, LinkToCheck};
use crate::runner::parallel::at_most;
use crate::runner::{rank, Runner};
use crate::state;

/// `restore --table A --table B ...`. Preflight is global: every database is discovered,
/// resolved and checked (exit 2/4) before anything is written. Then the databases run up to
/// `parallel_databases` at once, each on its own connection with its own claim, RESTORE jobs,
/// restore_history row and resume (SPEC.md `parallel_databases`); a failure in one does not stop
/// the others, and the exit code is the most serious failure's (the backup merge rule).
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
    // part of a multi-database restore: a rerun after an interruption skips what it finished
    let rerun = by_db.len() > 1;
    let mut units = Vec::new();
    for (db, tables) in by_db {
        units.push(match tables.as_slice() {
            [one] => Unit::One(Box::new(super::prepare(
                cfg,
                one,
                spec,
                &crate::planner::restore::RestoreMode::Plain,
                dry_run,
                rerun,
                out,
            )?)),
            _ => Unit::Group(Box::new(prepare_group(
                cfg, db, &tables, spec, dry_run, rerun,
            )?)),
        });
    }
    let parallel = usize::try_from(cfg.parallel_databases).unwrap_or(1);
    if units.len() == 1 || dry_run || parallel <= 1 {
        // one after the other, straight to `out` (a dry run prints the plans in database order)
        let mut failed = Vec::new();
        let total = units.len();
        for u in units {
            let db = u.database().to_string();
            if let Err(e) = u.execute(cfg, out) {
                if total == 1 {
                    return Err(e);
                }
                failed.push((db, e));
            }
        }
        return merge_failures(failed, out);
    }
    info!(
        "restoring {} databases, {} at a time (parallel_databases)",
        units.len(),
        parallel.min(units.len())
    );
    let done = at_most(parallel, units, |u| {
        let db = u.database().to_string();
        let mut buf = Vec::new();
        let r = u.execute(cfg, &mut buf);
        (db, buf, r)
    });
    let mut failed = Vec::new();
    for (db, buf, r) in done {
        out.write_all(&buf)?;
        if let Err(e) = r {
            failed.push((db, e));
        }
    }
    merge_failures(failed, out)
}

/// One database's part of a multi-database restore.
enum Unit {
    One(Box<super::Prepared>),
    Group(Box<PreparedGroup>),
}

impl Unit {
    fn database(&self) -> &str {
        match self {
            Unit::One(p) => p.database(),
            Unit::Group(g) => &g.db,
        }
    }

    fn execute(self, cfg: &Config, out: &mut dyn Write) -> Result<()> {
        match self {
            Unit::One(p) => p.execute(cfg, out),
            Unit::Group(g) => g.execute(cfg, out),
        }
    }
}

/// Several databases' failures as one error: each named on stdout, the most serious one (by the
/// runner's rank) decides the exit code and its line names its database and the others.
fn merge_failures(failed: Vec<(String, anyhow::Error)>, out: &mut dyn Write) -> Result<()> {
    let mut worst: Option<(String, ExitCode, String)> = None;
    for (db, e) in &failed {
        let (exit, line) = match e.chain().find_map(|c| c.downcast_ref::<BbrError>()) {
            Some(b) => (b.exit, b.what.clone()),
            None => crate::error::classify(e),
        };
        writeln!(out, "{db}: restore FAILED: {line}")?;
        if worst.as_ref().is_none_or(|(_, w, _)| rank(exit) > rank(*w)) {
            worst = Some((db.clone(), exit, line));
        }
    }
    let Some((db, exit, line)) = worst else {
        return Ok(());
    };
    let others: Vec<&str> = failed
        .iter()
        .map(|(d, _)| d.as_str())
        .filter(|d| *d != db)
        .collect();
    let what = match others.as_slice() {
        [] => format!("database {db}: {line}"),
        _ => format!(
            "database {db}: {line} (the restore of {} failed too)",
            others.join(", ")
        ),
    };
    Err(BbrError::new(
        exit,
        what,
        "see each database's line above (databases not named were restored); fix the cause and restore the failed database(s) again",
    )
    .into())
}

/// The tables of the group that exist now (`DB.TABLE`).
fn existing_tables(tables: &[TableRef], discs: &[state::restore::RestoreDiscovery]) -> Vec<String> {
    tables
        .iter()
        .zip(discs)
        .filter(|(_, d)| d.state.target_exists)
        .map(|(t, _)| t.to_string())
        .collect()
}

/// Exit 4: restore never overwrites a table.
fn exist_refusal(existing: &[String]) -> BbrError {
    BbrError::refused(
        format!(
            "{} exist(s); restore never overwrites a table",
            existing.join(", ")
        ),
        "drop or rename them first, or restore them one by one with --as",
    )
}

/// A stale RUNNING group row of the same tables and target time that submitted a RESTORE.
fn dead_group_run(
    stale: &[crate::history::RestoreRow],
    tables: &str,
    at: &str,
) -> Option<crate::history::RestoreRow> {
    stale
        .iter()
        .filter(|r| r.label.starts_with(GROUP_PREFIX) && r.table == tables)
        .filter(|r| r.target_time.as_deref().map(|t| &t[..t.len().min(19)]) == Some(at))
        .find(|r| r.current_label.is_some())
        .cloned()
}

/// A group restore of one database checked and ready to write (see `super::Prepared`).
struct PreparedGroup {
    c: Cluster,
    info: crate::release::ClusterInfo,
    db: String,
    tables: Vec<TableRef>,
    dry_run: bool,
    discs: Vec<state::restore::RestoreDiscovery>,
    target_time: chrono::NaiveDateTime,
    group: Vec<GroupTable>,
    repositories: BTreeMap<String, String>,
    /// A rerun of a multi-database restore: the label of the FINISHED group run that already
    /// restored these tables to this time (nothing to do).
    done: Option<String>,
}

/// Discovery, chains and preflight of the tables of one database restored to one instant with
/// shared RESTORE jobs (exit 2/4 before anything is written).
fn prepare_group(
    cfg: &Config,
    db: &str,
    tables: &[TableRef],
    spec: TargetSpec,
    dry_run: bool,
    rerun: bool,
) -> Result<PreparedGroup> {
    let mut c = Cluster::connect(cfg)?;
    let info = crate::release::detect(&mut c, cfg)?;
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
        let chain = chain::resolve(&d.backups, &d.tables, &d.manifest, target_time).map_err(|e| {
            BbrError::usage(
                format!("cannot restore {t} as of {target_time}: {e}"),
                format!("pick another --timestamp: one at or after a RESTORABLE_AT that `starrocks-bbr list --database {db}` shows (session time zone), or latest"),
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
    // tables that exist and are no dead group run's leftovers: refused before any database writes
    let existing = existing_tables(tables, &discs);
    let at = target_time.format(TIME_FORMAT).to_string();
    let names: Vec<&str> = tables.iter().map(|t| t.table.as_str()).collect();
    let stale = discs
        .first()
        .map(|d| d.stale.as_slice())
        .unwrap_or_default();
    let mut done = None;
    if !dry_run && !existing.is_empty() && dead_group_run(stale, &names.join(","), &at).is_none() {
        done = match rerun {
            true => state::restore::finished_group_restore(&mut c, cfg, db, &names.join(","), &at)?,
            false => None,
        };
        if done.is_none() {
            return Err(exist_refusal(&existing).into());
        }
    }
    Ok(PreparedGroup {
        c,
        info,
        db: db.to_string(),
        tables: tables.to_vec(),
        dry_run,
        discs,
        target_time,
        group,
        repositories,
        done,
    })
}

impl PreparedGroup {
    /// Finishes dead runs, sets a dead group run's leftovers aside, runs the shared jobs (or
    /// prints the plan for --dry-run) and reports on `out`.
    fn execute(self, cfg: &Config, out: &mut dyn Write) -> Result<()> {
        let PreparedGroup {
            mut c,
            info,
            db,
            tables,
            dry_run,
            discs,
            target_time,
            group,
            repositories,
            done,
        } = self;
        let (db, tables) = (db.as_str(), tables.as_slice());
        if let Some(label) = done {
            let names: Vec<&str> = tables.iter().map(|t| t.table.as_str()).collect();
            writeln!(
                out,
                "{db}: {} already restored as of {target_time} by {label} (an earlier run of this restore); nothing to do",
                names.join(", ")
            )?;
            return Ok(());
        }
        let mut existing = existing_tables(tables, &discs);
        let cluster_time = discs
            .first()
            .map(|d| d.state.cluster_time.clone())
            .unwrap_or_default();
        let plan_with = |resume: &[crate::planner::restore::RestoreResume],
                         suffix: Option<&str>| {
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
            let at = target_time.format(TIME_FORMAT).to_string();
            let table_list: Vec<&str> = tables.iter().map(|t| t.table.as_str()).collect();
            let stale = discs.first().map(|d| d.stale.clone()).unwrap_or_default();
            if let Some(dead) = dead_group_run(&stale, &table_list.join(","), &at) {
                // the tables may be that run's leftovers: finish its record (waiting for its job),
                // then set them aside only if the database's last job is provably its own
                finish_dead_restores(&mut c, cfg, &resume, &info, out)?;
                resume.clear();
                // CreateTime in the session zone (4.1 formats job times at +08:00)
                let last =
                    state::restore::last_restore_job(&mut c, cfg, db, info.job_time_shift())?;
                let links: Vec<LinkRef> = recorded_chain(&dead)
                    .iter()
                    .map(|e| LinkRef {
                        label: e.label.clone(),
                        backup_timestamp: e.backup_timestamp.clone(),
                    })
                    .collect();
                let n = u32::try_from(links.len()).unwrap_or(u32::MAX);
                let progress = judge(
                    &links,
                    dead.current_label.as_deref(),
                    dead.started_at.as_deref().and_then(state::parse_time),
                    last.as_ref(),
                    true,
                );
                // provably its: the database's last job is one of its links (or the one before the
                // link it never got to send); complete: every link FINISHED
                let (its, complete) = match progress {
                    Progress::Continue { done, wait: None } => (true, done == n),
                    Progress::Continue { .. } | Progress::Cancelled(_) => (true, false),
                    Progress::Unknown(_) => (false, false),
                };
                if complete {
                    return Err(BbrError::refused(
                    format!(
                        "{} exist(s): the interrupted run {} of this restore completed them (its record is finished now)",
                        existing.join(", "),
                        dead.label
                    ),
                    "nothing to do; see `starrocks-bbr list --restores`",
                )
                .into());
                }
                if its {
                    let sfx = dead.label.rsplit('_').next().unwrap_or("dead");
                    let plan = set_aside_plan(cfg, db, &dead.label, &existing, sfx);
                    let outcome = Runner::new(&mut c, cfg).run(&plan);
                    if let Some(e) = outcome.error {
                        return Err(e.into());
                    }
                    for s in &plan.steps {
                        writeln!(out, "{}", s.description)?;
                    }
                    existing.clear();
                }
            }
        }
        if !existing.is_empty() {
            return Err(exist_refusal(&existing).into());
        }
        // dead restore runs of the database are finished first (never continued by a group run)
        finish_dead_restores(&mut c, cfg, &resume, &info, out)?;
        resume.clear();
        let suffix = random_suffix();
        let plan = plan_with(&resume, Some(&suffix));
        let outcome = Runner::new(&mut c, cfg).with_cluster_info(&info).run(&plan);
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
        let label = crate::planner::restore::group_label(db, &group, target_time, Some(&suffix));
        writeln!(
        out,
        "{db}: {} restored as of {target_time} by {label} FINISHED ({} shared RESTORE job(s): {})",
        names.join(", "),
        jobs.len(),
        jobs.join(", ")
    )?;
        Ok(())
    }
}
