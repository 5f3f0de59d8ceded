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
    pick_adoption, plan_restore, plan_restore_resume, recorded_chain, ChainEntry,
};
use crate::runner::Runner;
use crate::{history, state};

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

pub(super) fn restore(
    cfg: &Config,
    target: &TableRef,
    target_time: chrono::NaiveDateTime,
    dry_run: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let mut c = Cluster::connect(cfg)?;
    let info = crate::release::detect(&mut c, cfg)?;
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
        chain::resolve(&d.backups, &d.tables, &d.manifest, target_time).map_err(|e| {
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
            finish_dead_restores(&mut c, cfg, &disc.state.resume, &info, out)?;
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
        finish_dead_restores(&mut c, cfg, &others, &info, out)?;
        disc = state::restore::restore_state(&mut c, cfg, target, target_time)?;
        resolved = resolve(&disc);
        adopt = adoptable(&disc, target, target_time, &resolved)
            .filter(|(r, v)| Some(&r.label) == adopted_label.as_ref() && v.is_ok());
        disc.state.resume.clear();
    } else {
        disc.state.resume = others;
    }
    let resolved = resolved?;
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
    let outcome = Runner::new(&mut c, cfg).with_cluster_info(&info).run(&plan);
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
