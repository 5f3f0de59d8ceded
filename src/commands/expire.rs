//! `expire`: apply `retention` — keep every snapshot a restore point of the last keep_days needs,
//! expire the rest (rows EXPIRED, manifests gone, DROP SNAPSHOT where the cluster has it, else a list
//! of snapshots to delete from storage), forget old restore records, and report needed snapshots
//! that vanished from the repository.

use std::io::Write;

use anyhow::Result;

use crate::cluster::Cluster;
use crate::config::Config;
use crate::error::BbrError;
use crate::planner::backup::random_suffix;
use crate::planner::catalog::{catalog_needed, is_catalog_label, plan_catalog_backup};
use crate::planner::expire::{
    decide, decide_catalog, plan_expire, Disposal, ExpireReport, Retention,
};
use crate::runner::Runner;
use crate::state;

fn print_report(
    report: &ExpireReport,
    refused: &[(String, String)],
    out: &mut dyn Write,
) -> Result<()> {
    writeln!(
        out,
        "retention: every restore point since {} stays restorable",
        report.window_start
    )?;
    for e in &report.expired {
        let what = match e.disposal {
            Disposal::Drop if refused.iter().any(|(l, _)| *l == e.label) => format!(
                "StarRocks refused DROP SNAPSHOT: delete it from repository {} by hand",
                e.repository
            ),
            Disposal::Drop => format!("snapshot dropped from repository {}", e.repository),
            Disposal::DeleteByHand => format!(
                "delete from storage: snapshot {} (timestamp {}) in repository {}",
                e.label,
                e.backup_timestamp.as_deref().unwrap_or("-"),
                e.repository
            ),
            Disposal::NoSnapshot => "no snapshot in the repository".to_string(),
        };
        let verb = if e.resumed {
            "finished expiring"
        } else {
            "expired"
        };
        writeln!(out, "{}: {verb} {} ({what})", e.database, e.label)?;
    }
    for e in &report.vanished {
        writeln!(
            out,
            "{}: snapshot {} VANISHED from repository {}: marked EXPIRED; the tables whose chains need it must be backed up whole",
            e.database, e.label, e.repository
        )?;
    }
    for u in &report.unchecked {
        writeln!(out, "could not check snapshot {u}")?;
    }
    if report.restores_deleted > 0 {
        writeln!(
            out,
            "deleted {} restore record(s) that ended before {}",
            report.restores_deleted, report.window_start
        )?;
    }
    for t in &report.broken_tables {
        writeln!(
            out,
            "{t}: a restore point within retention already needs a snapshot that is gone"
        )?;
    }
    if report.expired.is_empty() && report.vanished.is_empty() {
        writeln!(
            out,
            "nothing to expire: every snapshot is needed by a restore point since {}",
            report.window_start
        )?;
    }
    Ok(())
}

pub(super) fn expire(cfg: &Config, dry_run: bool, out: &mut dyn Write) -> Result<()> {
    let Some(retention) = cfg.retention else {
        return Err(BbrError::usage(
            format!(
                "{} has no `retention` section, so nothing may be expired",
                cfg.path.display()
            ),
            "add `retention: { keep_days: N }` to the config (every point of the last N days stays restorable)",
        )
        .into());
    };
    let mut c = Cluster::connect(cfg)?;
    // Refuses shared-data clusters; the catalog backup's job times need the release's zone rule.
    let info = crate::release::detect(&mut c, cfg)?;
    // `db.*` entries: the databases whose history expire looks at, as backup finds them.
    let cfg = &state::scope::expand_table_patterns(&mut c, cfg)?;
    // Lean manifests (ops schema version 2) are read with their backup_tables rows: refuse others.
    state::check_schema(&mut c, cfg)?;
    let (now, mut histories) = state::expire::expire_history(&mut c, cfg)?;
    let mut decisions: Vec<Retention> = histories
        .iter()
        .map(|h| decide(h, now, retention.keep_days, cfg.heartbeat_stale_s))
        .collect();
    // Catalog snapshots (the ops database's own backups): the newest few are kept.
    if cfg.catalog_backup {
        let ops = state::expire::catalog_history(&mut c, cfg)?;
        decisions.push(decide_catalog(&ops, now, cfg.heartbeat_stale_s));
        histories.push(ops);
    }
    // One SHOW SNAPSHOT per repository: every snapshot kept or to expire.
    let mut wanted = Vec::new();
    for (h, d) in histories.iter().zip(&decisions) {
        let labels: std::collections::BTreeSet<&String> =
            d.keep.iter().chain(&d.expire).chain(&d.pending).collect();
        for r in &h.rows {
            let has_snapshot = r
                .record
                .backup_timestamp
                .as_deref()
                .is_some_and(|t| !t.is_empty());
            if has_snapshot && labels.contains(&r.record.label) {
                wanted.push((r.repository.clone(), r.record.label.clone()));
            }
        }
    }
    let view = state::expire::repository_view(&mut c, cfg, &wanted)?;
    let suffix = (!dry_run).then(random_suffix);
    let (mut plan, report) = plan_expire(
        cfg,
        now,
        retention.keep_days,
        &histories,
        &decisions,
        &view,
        suffix.as_deref(),
    );
    // SPEC.md catalog_backup: an expire that changed the history ends with a catalog backup.
    if cfg.catalog_backup {
        let cat = state::catalog::catalog_state(&mut c, cfg)?;
        if catalog_needed(cfg, &cat, !plan.is_empty()) {
            let time = now.format("%Y-%m-%d %H:%M:%S").to_string();
            plan.steps
                .extend(plan_catalog_backup(cfg, &time, suffix.as_deref()));
        }
    }
    if dry_run {
        plan.write_json(out)?;
        return Ok(());
    }
    let refused = if plan.is_empty() {
        Vec::new()
    } else {
        let outcome = Runner::new(&mut c, cfg).with_cluster_info(&info).run(&plan);
        for j in outcome
            .jobs
            .iter()
            .filter(|j| is_catalog_label(&cfg.ops_database, &j.label))
        {
            // A catalog backup never fails the run (the next run backs the history up again).
            let why = j.error.as_deref().map(crate::error::one_line);
            writeln!(
                out,
                "catalog backup {} {}{}",
                j.label,
                j.status,
                why.map(|w| format!(" (warning only: {w})"))
                    .unwrap_or_default()
            )?;
        }
        if let Some(e) = outcome.error {
            return Err(e.into());
        }
        outcome.refused_drops
    };
    print_report(&report, &refused, out)?;
    if !report.vanished.is_empty() {
        let labels: Vec<&str> = report.vanished.iter().map(|e| e.label.as_str()).collect();
        return Err(BbrError::job_failed(
            format!(
                "{} snapshot(s) that restores within retention need vanished from the repository: {}",
                labels.len(),
                labels.join(", ")
            ),
            "restores that need them cannot run; the tables whose chains need them must be backed up whole by the next backup (see `starrocks-bbr list --status EXPIRED`)",
        )
        .into());
    }
    Ok(())
}
