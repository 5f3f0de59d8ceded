//! The commands, wiring config -> discovery -> planner -> (print | runner). Data goes to `out`
//! (stdout), logs to stderr via tracing.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::{Context, Result};
use tracing::{info, warn};

use crate::cli::{Cli, Cmd, Format};
use crate::cluster::Cluster;
use crate::config::{Config, TableRef};
use crate::error::BbrError;
use crate::plan::{Command, Plan};
use crate::planner::backup::{plan_backup_owned, plan_resume, random_suffix};
use crate::planner::chain;
use crate::planner::init::plan_init;
use crate::planner::restore::{
    pick_adoption, plan_restore, plan_restore_resume, recorded_chain, ChainEntry,
};
use crate::runner::{RunOutcome, Runner};
use crate::{history, list, state};

pub fn run(cli: Cli, out: &mut dyn Write) -> Result<()> {
    match cli.command {
        Cmd::Init { common, dry_run } => {
            let cfg = Config::load(&common.config)?;
            init(&cfg, dry_run, out)
        }
        Cmd::Backup { common, dry_run } => {
            let cfg = Config::load(&common.config)?;
            backup(&cfg, dry_run, out)
        }
        Cmd::List { common, format } => {
            let cfg = Config::load(&common.config)?;
            list_cmd(&cfg, format, out)
        }
        Cmd::Restore {
            common,
            table,
            timestamp,
            dry_run,
        } => {
            let cfg = Config::load(&common.config)?;
            let target =
                TableRef::parse(&table).map_err(|m| BbrError::usage(m, "pass --table DB.TABLE"))?;
            let target_time = parse_target_time(&timestamp)?;
            restore(&cfg, &target, target_time, dry_run, out)
        }
    }
}

fn init(cfg: &Config, dry_run: bool, out: &mut dyn Write) -> Result<()> {
    let mut c = Cluster::connect(cfg)?;
    let st = state::init_state(&mut c, cfg)?;
    let plan = plan_init(cfg, &st);
    if dry_run {
        plan.write_json(out)?;
        return Ok(());
    }
    let outcome = Runner::new(&mut c, cfg).run(&plan);
    if let Some(e) = outcome.error {
        return Err(e.into());
    }
    if plan.steps.is_empty() {
        writeln!(
            out,
            "{}: ops tables already exist, nothing to do",
            cfg.ops_database
        )?;
    } else {
        writeln!(
            out,
            "{}: created {} object(s); ops tables ready",
            cfg.ops_database,
            plan.steps.len()
        )?;
    }
    Ok(())
}

/// Prints one line per job. `manifest_only`: labels of manifest-only records -> their base label.
fn print_jobs(
    outcome: &RunOutcome,
    manifest_only: &BTreeMap<String, String>,
    out: &mut dyn Write,
) -> Result<()> {
    for j in &outcome.jobs {
        if let (Some(base), "FINISHED") = (manifest_only.get(&j.label), j.status.as_str()) {
            writeln!(
                out,
                "{}: partitions dropped since {base}; recorded without a snapshot ({} FINISHED)",
                j.database, j.label
            )?;
            continue;
        }
        let prefix = if j.resumed {
            format!("{}: interrupted backup {}", j.database, j.label)
        } else {
            format!("{}: {}", j.database, j.label)
        };
        match j.status.as_str() {
            "FINISHED" => writeln!(
                out,
                "{prefix} FINISHED ({}, {} partitions, backup_timestamp {})",
                j.backup_type.as_deref().unwrap_or("resumed"),
                j.partitions
                    .map(|p| p.to_string())
                    .unwrap_or_else(|| "?".into()),
                j.backup_timestamp.as_deref().unwrap_or("-")
            )?,
            s => writeln!(
                out,
                "{prefix} {s}: {}",
                j.error
                    .as_deref()
                    .map(crate::error::one_line)
                    .unwrap_or_default()
            )?,
        }
    }
    Ok(())
}

fn backup(cfg: &Config, dry_run: bool, out: &mut dyn Write) -> Result<()> {
    let mut c = Cluster::connect(cfg)?;
    crate::preflight::check_repository(&mut c, cfg, true)?;
    let mut st = state::backup_state(&mut c, cfg)?;
    crate::preflight::check_history(&mut c, cfg)?;
    if dry_run {
        let plan = plan_backup_owned(cfg, st, None);
        plan.write_json(out)?;
        return Ok(());
    }
    // A dead restore run of a configured database is finished first too (any run touching it does).
    let mut dead = Vec::new();
    for db in cfg.tables_by_db().into_keys() {
        dead.extend(state::restore::stale_restores(
            &mut c,
            cfg,
            &db,
            &st.cluster_time,
        )?);
    }
    finish_dead_restores(&mut c, cfg, &dead, out)?;
    // Finish what dead runs left RUNNING before anything new starts (SPEC.md "resumable").
    if !st.resume.is_empty() {
        info!("finishing {} interrupted backup(s) first", st.resume.len());
        let plan = Plan::new(
            Command::Backup,
            serde_json::json!({ "resume": st.resume }),
            plan_resume(cfg, &st.resume),
        );
        let outcome = Runner::new(&mut c, cfg).run(&plan);
        print_jobs(&outcome, &BTreeMap::new(), out)?;
        if let Some(e) = outcome.error {
            return Err(e.into());
        }
        st = state::backup_state(&mut c, cfg)?;
        st.resume.clear();
    }
    let plan = plan_backup_owned(cfg, st, Some(&random_suffix()));
    let mut manifest_only = BTreeMap::new();
    if let Some(dbs) = plan.inputs.get("databases").and_then(|d| d.as_array()) {
        for d in dbs {
            if d.get("action").and_then(|a| a.as_str()) == Some("manifest_only") {
                let field = |k: &str| d.get(k).and_then(|v| v.as_str()).unwrap_or_default();
                manifest_only.insert(field("label").to_string(), field("base_label").to_string());
            }
            if d.get("action").and_then(|a| a.as_str()) == Some("nothing_changed") {
                writeln!(
                    out,
                    "{}: nothing changed since {}, no snapshot needed",
                    d.get("database").and_then(|v| v.as_str()).unwrap_or("?"),
                    d.get("base_label")
                        .and_then(|v| v.as_str())
                        .unwrap_or("the last backup")
                )?;
            }
        }
    }
    if plan.is_empty() {
        return Ok(());
    }
    let outcome = Runner::new(&mut c, cfg).run(&plan);
    print_jobs(&outcome, &manifest_only, out)?;
    match outcome.error {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

fn list_cmd(cfg: &Config, format: Format, out: &mut dyn Write) -> Result<()> {
    let mut c = Cluster::connect(cfg)?;
    let sql = history::select_history_sql(&cfg.ops_database);
    let rs = c
        .query_retry(&sql, &crate::planner::idempotent(cfg))
        .map_err(|e| match e {
            crate::cluster::SqlError::Server { ref message, .. } => BbrError::usage(
                format!("cannot read {}.backup_history: {message}", cfg.ops_database),
                "run `starrocks-bbr init` first",
            ),
            e => e.into_bbr("reading the backup history"),
        })
        .context("list")?;
    let rows: Vec<history::HistoryRow> = rs
        .rows
        .iter()
        .map(|r| history::HistoryRow::from_row(r))
        .collect();
    let entries = list::entries(&rows);
    let text = match format {
        Format::Json => list::render_json(&entries),
        Format::Table => list::render_table(&entries),
    };
    out.write_all(text.as_bytes())?;
    Ok(())
}

/// `--timestamp`: exactly `YYYY-MM-DD HH:MM:SS` (no zone: it is read in the cluster's session time
/// zone; a zone suffix or a date alone would be ambiguous).
pub fn parse_target_time(s: &str) -> Result<chrono::NaiveDateTime, BbrError> {
    chrono::NaiveDateTime::parse_from_str(s.trim(), crate::planner::restore::TIME_FORMAT).map_err(
        |_| {
            BbrError::usage(
                format!("--timestamp '{s}' is not YYYY-MM-DD HH:MM:SS"),
                "pass e.g. --timestamp \"2026-01-01 12:00:00\" (the cluster's session time zone, no zone suffix)",
            )
        },
    )
}

/// Finishes the records of dead restore runs (looks their last job up; never re-submits anything).
fn finish_dead_restores(
    c: &mut Cluster,
    cfg: &Config,
    dead: &[crate::planner::restore::RestoreResume],
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
    let outcome = Runner::new(c, cfg).run(&plan);
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
            if now == recorded {
                Ok(())
            } else {
                Err("its recorded chain is no longer what the backup history gives for this target (history changed since it started)".to_string())
            }
        }
        Err(e) => Err(format!("its recorded chain is no longer valid: {}", e.what)),
    };
    Some((row, valid))
}

fn restore(
    cfg: &Config,
    target: &TableRef,
    target_time: chrono::NaiveDateTime,
    dry_run: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let mut c = Cluster::connect(cfg)?;
    let mut disc = state::restore::restore_state(&mut c, cfg, target, target_time)?;
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
    let resolve = |d: &state::restore::RestoreDiscovery| {
        chain::resolve(&d.backups, &d.manifest, target_time).map_err(|e| {
            BbrError::usage(
                format!("cannot restore {target} as of {target_time}: {e}"),
                "pick another --timestamp (see `starrocks-bbr list`)",
            )
        })
    };
    let mut resolved = resolve(&disc);
    let mut adopt = adoptable(&disc, target, target_time, &resolved);
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
            finish_dead_restores(&mut c, cfg, &disc.state.resume, out)?;
        }
        return Err(e.into());
    }
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
        finish_dead_restores(&mut c, cfg, &others, out)?;
        disc = state::restore::restore_state(&mut c, cfg, target, target_time)?;
        resolved = resolve(&disc);
        adopt = adoptable(&disc, target, target_time, &resolved)
            .filter(|(r, v)| Some(&r.label) == adopted_label.as_ref() && v.is_ok());
        disc.state.resume.clear();
    } else {
        disc.state.resume = others;
    }
    let resolved = resolved?;
    if let Some((row, _)) = &adopt {
        let a = state::restore::observe_adoption(
            &mut c,
            cfg,
            row,
            recorded_chain(row),
            disc.state.target_exists,
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
        let plan = plan_restore(cfg, &disc.state, &resolved, None);
        plan.write_json(out)?;
        return Ok(());
    }
    if disc.state.target_exists && disc.state.adopt.is_none() {
        return Err(BbrError::refused(
            format!("table {target} exists; restore never overwrites a table"),
            "drop or rename it first (e.g. ALTER TABLE ... RENAME), then run restore again; if a restore of it is RUNNING in ops.restore_history, wait: once its heartbeat is stale (its run died) the same restore command continues it",
        )
        .into());
    }
    let plan = plan_restore(cfg, &disc.state, &resolved, Some(&random_suffix()));
    let outcome = Runner::new(&mut c, cfg).run(&plan);
    if let Some(e) = outcome.error {
        return Err(e.into());
    }
    let label = plan.inputs["label"].as_str().unwrap_or_default();
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
            "{target}: restored as of {target_time} by {label} FINISHED ({} RESTORE job(s): {})",
            resolved.links.len(),
            links.join(", ")
        )?,
    }
    Ok(())
}
