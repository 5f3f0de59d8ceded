//! `restore`: rebuild a table as of a point in time, continuing a dead run of the same restore.

use std::io::Write;

use anyhow::Result;
use tracing::{info, warn};

use crate::cluster::Cluster;
use crate::config::{Config, TableRef};
use crate::error::BbrError;
use crate::plan::{Command, Plan};
use crate::planner::backup::random_suffix;
use crate::planner::chain;
use crate::planner::restore::{
    pick_adoption, placement, plan_restore, plan_restore_resume, recorded_chain, repository_of,
    same_chain, ChainEntry, Promote, RestoreMode,
};
use crate::preflight::restore::{check_restore, LinkToCheck};
use crate::runner::Runner;
use crate::{history, state};

mod group;
pub(crate) use group::restore_many;

/// `--timestamp`: `YYYY-MM-DD HH:MM:SS` in the cluster's session time zone, the same with an
/// explicit offset (`2026-05-01 10:00:00+08:00`, converted to the session zone), or `latest`.
pub fn parse_target_time(s: &str) -> Result<TargetSpec, BbrError> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("latest") {
        return Ok(TargetSpec::Latest);
    }
    if let Ok(at) = chrono::NaiveDateTime::parse_from_str(t, crate::planner::restore::TIME_FORMAT) {
        return Ok(TargetSpec::At(at));
    }
    for f in [
        "%Y-%m-%d %H:%M:%S%:z",
        "%Y-%m-%d %H:%M:%S %:z",
        "%Y-%m-%dT%H:%M:%S%:z",
    ] {
        if let Ok(at) = chrono::DateTime::parse_from_str(t, f) {
            return Ok(TargetSpec::Offset(at));
        }
    }
    Err(BbrError::usage(
        format!("--timestamp '{s}' is not YYYY-MM-DD HH:MM:SS, the same with an offset (+08:00), or latest"),
        "pass e.g. --timestamp \"2026-01-01 12:00:00\" (the cluster's session time zone), \"2026-01-01 12:00:00+08:00\" or latest",
    ))
}

/// `--timestamp` in the session time zone (an offset converted); None = latest.
fn asked_time(
    c: &mut Cluster,
    cfg: &Config,
    spec: TargetSpec,
) -> Result<Option<chrono::NaiveDateTime>, BbrError> {
    Ok(match spec {
        TargetSpec::At(t) => Some(t),
        TargetSpec::Offset(dt) => {
            let t = dt.naive_utc() + state::restore::session_offset(c, cfg)?;
            info!("--timestamp {dt} is {t} in the cluster's session time zone");
            Some(t)
        }
        TargetSpec::Latest => None,
    })
}

/// What `--timestamp` asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetSpec {
    /// In the cluster's session time zone.
    At(chrono::NaiveDateTime),
    /// With an explicit offset: converted to the session zone with the zone's offset now
    /// (`NOW()` - `UTC_TIMESTAMP()`).
    Offset(chrono::DateTime<chrono::FixedOffset>),
    /// The newest restorable point: the snapshot time of the newest FINISHED backup holding the table.
    Latest,
}

/// `--as NAME` / `--replace` as a mode. NAME is a table of the same database (`NAME` or `DB.NAME`).
pub fn mode(
    target: &TableRef,
    as_name: Option<&str>,
    replace: bool,
) -> Result<RestoreMode, BbrError> {
    if replace {
        return Ok(RestoreMode::Replace);
    }
    let Some(n) = as_name else {
        return Ok(RestoreMode::Plain);
    };
    let full = if n.contains('.') {
        n.to_string()
    } else {
        format!("{}.{n}", target.database)
    };
    let r = TableRef::parse(&full).map_err(|m| {
        BbrError::usage(
            format!("--as '{n}': {m}"),
            "pass --as NAME (a table name in the same database)",
        )
    })?;
    if r.database != target.database {
        return Err(BbrError::usage(
            format!(
                "--as '{n}' names database {}, but --as restores into the table's own database {}",
                r.database, target.database
            ),
            "pass --as NAME without a database, or with the table's database",
        ));
    }
    if r.table == target.table {
        return Ok(RestoreMode::Plain);
    }
    Ok(RestoreMode::As(r.table))
}

/// Finishes the records of dead restore runs (looks their last job up; never re-submits anything).
pub(super) fn finish_dead_restores(
    c: &mut Cluster,
    cfg: &Config,
    dead: &[crate::planner::restore::RestoreResume],
    info: &crate::release::ClusterInfo,
    out: &mut dyn Write,
) -> Result<()> {
    if dead.is_empty() {
        return Ok(());
    }
    info!("finishing {} interrupted restore(s) first", dead.len());
    let plan = Plan::new(
        Command::Restore,
        serde_json::json!({ "resume": dead }),
        plan_restore_resume(cfg, dead),
    );
    let outcome = Runner::new(c, cfg).with_cluster_info(info).run(&plan);
    for j in &outcome.jobs {
        writeln!(
            out,
            "{}: interrupted restore {} {}{}",
            j.database,
            j.label,
            j.status,
            j.error
                .as_deref()
                .map(|e| format!(": {}", crate::error::one_line(e)))
                .unwrap_or_default()
        )?;
    }
    match outcome.error {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

/// The stale restore row this run continues (same table and target time) and whether its recorded
/// chain is still what the history gives for the target (else it cannot be continued: `Err(why)`).
fn adoptable(
    disc: &state::restore::RestoreDiscovery,
    target: &TableRef,
    target_time: chrono::NaiveDateTime,
    resolved: &Result<chain::Chain, BbrError>,
) -> Option<(history::RestoreRow, Result<(), String>)> {
    let row = pick_adoption(&disc.stale, target, target_time)?.clone();
    let recorded = recorded_chain(&row);
    let valid = match resolved {
        Ok(c) => {
            let now: Vec<ChainEntry> = c.links.iter().map(ChainEntry::from).collect();
            if same_chain(&now, &recorded) {
                Ok(())
            } else {
                Err("its recorded chain is no longer what the backup history gives for this target (history changed since it started)".to_string())
            }
        }
        Err(e) => Err(format!("its recorded chain is no longer valid: {}", e.what)),
    };
    Some((row, valid))
}

pub(super) fn restore(
    cfg: &Config,
    target: &TableRef,
    spec: TargetSpec,
    mode: &RestoreMode,
    dry_run: bool,
    out: &mut dyn Write,
) -> Result<()> {
    prepare(cfg, target, spec, mode, dry_run, false, out)?.execute(cfg, out)
}

/// A one-table restore checked and ready to write: everything `prepare` read and decided on its
/// connection. Nothing of this run is written before `execute` (a multi-database restore
/// prepares every database before it executes any: group.rs).
pub(super) struct Prepared {
    c: Cluster,
    info: crate::release::ClusterInfo,
    target: TableRef,
    mode: RestoreMode,
    dry_run: bool,
    disc: state::restore::RestoreDiscovery,
    resolved: Result<chain::Chain, BbrError>,
    place: Option<crate::planner::restore::Placement>,
    adopt: Option<(history::RestoreRow, Result<(), String>)>,
    suffix: String,
    /// An earlier run of this multi-database restore completed this table (its label): nothing
    /// to do here.
    done: Option<String>,
}

/// Discovery, chain resolution and preflight of a one-table restore (exit 2/4 before anything is
/// written; a refusal first finishes the records of dead runs, as every refusal after them does).
/// `rerun`: part of a multi-database restore, whose rerun after an interruption skips a table an
/// earlier run of it restored to the same time (instead of refusing: it exists).
pub(super) fn prepare(
    cfg: &Config,
    target: &TableRef,
    spec: TargetSpec,
    mode: &RestoreMode,
    dry_run: bool,
    rerun: bool,
    out: &mut dyn Write,
) -> Result<Prepared> {
    let mut c = Cluster::connect(cfg)?;
    let info = crate::release::detect(&mut c, cfg)?;
    let asked = asked_time(&mut c, cfg, spec)?;
    let mut disc = state::restore::restore_state(&mut c, cfg, target, asked)?;
    let target_time = disc.state.target_time;
    if disc.holding == 0 {
        let tables = state::restore::tables_in_history(&mut c, cfg, &target.database)?;
        return Err(BbrError::usage(
            format!(
                "{target} was never backed up: the history of database {} holds {}",
                target.database,
                if tables.is_empty() {
                    "no table".to_string()
                } else {
                    tables.join(", ")
                }
            ),
            "check the table name (`starrocks-bbr list` shows the backups)",
        )
        .into());
    }
    if asked.is_none() {
        info!("--timestamp latest: {target_time} (the newest backup holding {target})");
    }
    disc.state.mode = mode.clone();
    // Only a plain restore continues a dead run of itself; --as / --replace runs start afresh
    // under new side names (their dead runs' records are finished first, like any other).
    let plain = *mode == RestoreMode::Plain;
    if let Some(now) = state::parse_time(&disc.state.cluster_time) {
        if target_time > now {
            return Err(BbrError::usage(
                format!(
                    "--timestamp {target_time} is later than the cluster's clock ({now}, session time zone)"
                ),
                "pass a time in the cluster's session time zone, at or before now",
            )
            .into());
        }
    }
    let resolved = resolve(target, target_time, &disc);
    // Preflight before anything is written (finishing dead runs' records included).
    let suffix = random_suffix();
    let place = match &resolved {
        Ok(r) => match preflight(&mut c, cfg, target, mode, r, &disc, dry_run, &suffix) {
            Ok(p) => Some(p),
            // exit 4 (the name is taken, possibly by a dead run of this very command that
            // completed): dead runs' records are finished first, as for any refusal after them
            Err(e) if e.exit == crate::error::ExitCode::Refused && !dry_run => {
                finish_dead_restores(&mut c, cfg, &disc.state.resume, &info, out)?;
                return Err(e.into());
            }
            Err(e) => return Err(e.into()),
        },
        Err(_) => None,
    };
    let adopt = adoptable(&disc, target, target_time, &resolved).filter(|_| plain);
    if adopt.is_none() {
        if let Err(e) = &resolved {
            return Err(e.clone().into());
        }
    }
    // A dead run of this very restore whose recorded plan is no longer valid: its record is
    // finished (FAILED unless its last job completed the chain), and this run refuses.
    if let Some((row, Err(why))) = &adopt {
        let e = BbrError::refused(
            format!(
                "cannot continue the interrupted restore {} of {target}: {why}",
                row.label
            ),
            "drop the table if it was partly restored, then run restore again (it starts afresh)",
        );
        if !dry_run {
            finish_dead_restores(&mut c, cfg, &disc.state.resume, &info, out)?;
        }
        return Err(e.into());
    }
    // A plain restore onto an existing table that continues nothing: refused here, before any
    // database of a multi-database restore writes (dead runs' records finished first, as always).
    let mut done = None;
    if plain && adopt.is_none() && disc.state.target_exists && !dry_run {
        let at = target_time
            .format(crate::planner::restore::TIME_FORMAT)
            .to_string();
        done = match rerun {
            true => state::restore::finished_restore(&mut c, cfg, target, &at)?,
            false => None,
        };
        if done.is_none() {
            finish_dead_restores(&mut c, cfg, &disc.state.resume, &info, out)?;
            return Err(target_exists(target).into());
        }
    }
    Ok(Prepared {
        c,
        info,
        target: target.clone(),
        mode: mode.clone(),
        dry_run,
        disc,
        resolved,
        place,
        adopt,
        suffix,
        done,
    })
}

/// Exit 4: a plain restore never overwrites a table.
fn target_exists(target: &TableRef) -> BbrError {
    BbrError::refused(
        format!("table {target} exists; restore never overwrites a table"),
        "drop or rename it first (e.g. ALTER TABLE ... RENAME), then run restore again; if a restore of it is RUNNING in ops.restore_history, wait: once its heartbeat is stale (its run died) the same restore command continues it",
    )
}

/// The chain of `target` as of `target_time` (exit 2 when the history cannot give it).
fn resolve(
    target: &TableRef,
    target_time: chrono::NaiveDateTime,
    d: &state::restore::RestoreDiscovery,
) -> Result<chain::Chain, BbrError> {
    chain::resolve(&d.backups, &d.tables, &d.manifest, target_time).map_err(|e| {
        BbrError::usage(
            format!("cannot restore {target} as of {target_time}: {e}"),
            format!("pick another --timestamp: one at or after a RESTORABLE_AT that `starrocks-bbr list --database {}` shows (session time zone), or latest", target.database),
        )
    })
}

impl Prepared {
    /// The database this restore writes to.
    pub(super) fn database(&self) -> &str {
        &self.target.database
    }

    /// Finishes dead runs, runs the plan (or prints it for --dry-run) and reports on `out`.
    pub(super) fn execute(self, cfg: &Config, out: &mut dyn Write) -> Result<()> {
        let Prepared {
            mut c,
            info,
            target,
            mode,
            dry_run,
            mut disc,
            mut resolved,
            place,
            mut adopt,
            suffix,
            done,
        } = self;
        let (target, mode) = (&target, &mode);
        let target_time = disc.state.target_time;
        if let Some(label) = done {
            writeln!(
                out,
                "{target}: already restored as of {target_time} by {label} (an earlier run of this restore); nothing to do"
            )?;
            return Ok(());
        }
        let plain = *mode == RestoreMode::Plain;
        let mut reread = false;
        // Finish what other dead restore runs left RUNNING first (SPEC.md "resumable"); the one this
        // run continues is kept.
        let adopted_label = adopt.as_ref().map(|(r, _)| r.label.clone());
        let others: Vec<_> = disc
            .state
            .resume
            .iter()
            .filter(|r| Some(&r.label) != adopted_label.as_ref())
            .cloned()
            .collect();
        if !dry_run && !others.is_empty() {
            finish_dead_restores(&mut c, cfg, &others, &info, out)?;
            disc = state::restore::restore_state(&mut c, cfg, target, Some(target_time))?;
            resolved = resolve(target, target_time, &disc);
            adopt = adoptable(&disc, target, target_time, &resolved)
                .filter(|(r, v)| plain && Some(&r.label) == adopted_label.as_ref() && v.is_ok());
            disc.state.resume.clear();
            reread = true;
        } else {
            disc.state.resume = others;
        }
        let resolved = resolved?;
        // Re-checked when the history was re-read after finishing dead runs.
        let place = match place {
            Some(p) if !reread => p,
            _ => preflight(
                &mut c, cfg, target, mode, &resolved, &disc, dry_run, &suffix,
            )?,
        };
        for r in state::left_out_between(&mut c, cfg, target, resolved.as_of, target_time)? {
            warn!(
            "{target} was left out of the backup run {} at {}: it is restored as of its last backup {} ({}), not as of {target_time}",
            r.label,
            r.started_at.as_deref().unwrap_or("?"),
            resolved.as_of_label,
            resolved.as_of
        );
        }
        if let Some((row, _)) = &adopt {
            let a = state::restore::observe_adoption(
                &mut c,
                cfg,
                row,
                recorded_chain(row),
                disc.state.target_exists,
                info.job_time_shift(),
            )?;
            info!(
                "continuing the interrupted restore {} ({}; {} link(s) to restore)",
                a.label,
                a.found,
                a.links_remaining.len()
            );
            disc.state.adopt = Some(a);
        }
        if dry_run {
            if disc.state.target_exists && disc.state.adopt.is_none() {
                warn!(
                "{target} exists: a real run would refuse (exit 4) until it is dropped or renamed"
            );
            }
            let plan = plan_restore(cfg, &disc.state, &resolved, None)
                .map_err(|e| BbrError::usage(e.0, "see `starrocks-bbr restore --help`"))?;
            plan.write_json(out)?;
            return Ok(());
        }
        if plain && disc.state.target_exists && disc.state.adopt.is_none() {
            return Err(target_exists(target).into());
        }
        let plan = plan_restore(cfg, &disc.state, &resolved, Some(&suffix))
            .map_err(|e| BbrError::usage(e.0, "see `starrocks-bbr restore --help`"))?;
        let outcome = Runner::new(&mut c, cfg).with_cluster_info(&info).run(&plan);
        if let Some(e) = outcome.error {
            return Err(e.into());
        }
        let label = crate::planner::restore::run_label(&disc.state, Some(&suffix));
        let links: Vec<String> = resolved
            .links
            .iter()
            .map(|l| format!("{} ({})", l.label, l.partitions.join(", ")))
            .collect();
        match &disc.state.adopt {
        Some(a) => writeln!(
            out,
            "{target}: restored as of {target_time} by {label} FINISHED, continuing the interrupted run ({} of {} RESTORE job(s) sent by this run: {})",
            a.links_remaining.len(),
            resolved.links.len(),
            if a.links_remaining.is_empty() { "none".to_string() } else { a.links_remaining.join(", ") }
        )?,
        None => writeln!(
            out,
            "{target}: restored as of {target_time}{} by {label} FINISHED ({} RESTORE job(s): {}){}",
            match mode {
                RestoreMode::As(n) => format!(" as {}.{n}", target.database),
                _ => String::new(),
            },
            resolved.links.len(),
            links.join(", "),
            match &place.promote {
                Some(Promote::Swap { stage, .. }) => format!(
                    "; swapped in, the previous table is kept as {}.{stage}",
                    target.database
                ),
                _ => String::new(),
            }
        )?,
    }
        Ok(())
    }
}

/// Everything checked before anything is written (exit 2 / 4): the placement of `--as` /
/// `--replace`, their names, and the chain's repositories, snapshots, backends and database.
#[allow(clippy::too_many_arguments)]
fn preflight(
    c: &mut Cluster,
    cfg: &Config,
    target: &TableRef,
    mode: &RestoreMode,
    resolved: &chain::Chain,
    disc: &state::restore::RestoreDiscovery,
    dry_run: bool,
    suffix: &str,
) -> Result<crate::planner::restore::Placement, BbrError> {
    let stamp = resolved_stamp(disc);
    let place = placement(
        mode,
        target,
        resolved.links.len(),
        &stamp,
        (!dry_run).then_some(suffix),
    )
    .map_err(|e| {
        BbrError::usage(
            e.0,
            "pick a --timestamp one snapshot covers (a full backup's RESTORABLE_AT in `starrocks-bbr list`), or rename the live table away and restore without --replace",
        )
    })?;
    check_names(
        c,
        cfg,
        target,
        mode,
        &place,
        disc.state.target_exists,
        dry_run,
    )?;
    let to_check: Vec<LinkToCheck> = resolved
        .links
        .iter()
        .map(|l| LinkToCheck {
            label: l.label.clone(),
            backup_timestamp: l.backup_timestamp.clone(),
            repository: repository_of(cfg, &disc.state.repositories, &l.label).to_string(),
            replication_num: l.replication_num,
        })
        .collect();
    check_restore(c, cfg, &target.database, &to_check)?;
    Ok(place)
}

fn resolved_stamp(disc: &state::restore::RestoreDiscovery) -> String {
    disc.state.target_time.format("%Y%m%d%H%M%S").to_string()
}

/// The names `--as` / `--replace` need: `--as NAME` must be free (exit 4) and, when several
/// RESTORE jobs must write the snapshot's own name first, that name too (exit 2: StarRocks cannot
/// build the chain under another name); `--replace` needs the table to exist (exit 2).
fn check_names(
    c: &mut Cluster,
    cfg: &Config,
    target: &TableRef,
    mode: &RestoreMode,
    place: &crate::planner::restore::Placement,
    source_exists: bool,
    dry_run: bool,
) -> Result<(), BbrError> {
    match mode {
        RestoreMode::Plain => Ok(()),
        RestoreMode::Replace if !source_exists => Err(BbrError::usage(
            format!("--replace: table {target} does not exist, there is nothing to replace"),
            "restore without --replace",
        )),
        RestoreMode::Replace => Ok(()),
        RestoreMode::As(_) if place.mode == RestoreMode::Plain => Ok(()),
        RestoreMode::As(n) => {
            let fin = TableRef {
                database: target.database.clone(),
                table: n.clone(),
            };
            if state::restore::table_exists(c, cfg, &fin)? {
                let e = BbrError::refused(
                    format!("table {fin} exists; restore --as never overwrites a table"),
                    "pick another --as NAME, or drop or rename that table first",
                );
                if dry_run {
                    warn!("{}: a real run would refuse (exit 4)", e.what);
                } else {
                    return Err(e);
                }
            }
            if place.works_under_source(target) && source_exists {
                return Err(BbrError::usage(
                    format!("--as {n}: {target} at that time needs several RESTORE jobs, and StarRocks restores partitions onto an existing table only when it bears the snapshot's table name, so they must be built under the name {} first, which is taken", target.table),
                    "pick a --timestamp one snapshot covers (a full backup's RESTORABLE_AT in `starrocks-bbr list`), or rename the live table away first",
                ));
            }
            Ok(())
        }
    }
}
