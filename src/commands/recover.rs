//! `recover`: rebuild a lost ops database from the newest catalog snapshot in the repository (the
//! plan also brings its schema up to date as `init` does, before its last write), and say what was
//! recovered.

use std::io::Write;

use anyhow::Result;

use crate::cluster::Cluster;
use crate::config::Config;
use crate::planner::history_check::show_offset;
use crate::planner::recover::plan_recover;
use crate::runner::Runner;
use crate::sql::{ident, qualified};
use crate::state;

pub(super) fn recover(cfg: &Config, dry_run: bool, out: &mut dyn Write) -> Result<()> {
    let mut c = Cluster::connect(cfg)?;
    // a shared-data cluster has no RESTORE: refused before anything is read or planned (exit 2)
    crate::release::detect(&mut c, cfg)?;
    crate::preflight::check_repository(&mut c, cfg, false)?;
    let st = state::recover::recover_state(&mut c, cfg)?;
    let plan = plan_recover(cfg, &st)?;
    if dry_run {
        plan.write_json(out)?;
        return Ok(());
    }
    let report = Runner::new(&mut c, cfg).run_recover(&plan)?;
    summarise(&mut c, cfg, &report, out)
}

/// What the recovered history holds, per database, and what the check against the repository found.
fn summarise(
    c: &mut Cluster,
    cfg: &Config,
    report: &crate::runner::RecoverReport,
    out: &mut dyn Write,
) -> Result<()> {
    let sql = format!(
        "SELECT {db}, {st}, COUNT(*) AS n, MAX({snap}) AS newest FROM {t} GROUP BY {db}, {st} ORDER BY {db}, {st}",
        db = ident("database_name"),
        st = ident("status"),
        snap = ident("snapshot_at"),
        t = qualified(&cfg.ops_database, crate::history::BACKUP_HISTORY),
    );
    let rs = c
        .query_retry(&sql, &crate::planner::idempotent(cfg))
        .map_err(|e| e.into_bbr("summarising the recovered history"))?;
    writeln!(
        out,
        "recovered {} from catalog snapshot {} in repository {}",
        cfg.ops_database, report.catalog_label, cfg.repository
    )?;
    for i in 0..rs.rows.len() {
        let db = rs.get(i, "database_name").unwrap_or_default();
        let what = if db == cfg.ops_database {
            "catalog backups"
        } else {
            "backups"
        };
        writeln!(
            out,
            "  {db}: {} {what} {}{}",
            rs.get(i, "n").unwrap_or_default(),
            rs.get(i, "status").unwrap_or_default(),
            rs.get(i, "newest")
                .map(|t| format!(", newest snapshot at {}", crate::history::trim_datetime(&t)))
                .unwrap_or_default()
        )?;
    }
    let v = &report.verdict;
    if !v.absent.is_empty() {
        writeln!(
            out,
            "  marked EXPIRED, snapshot not in the repository: {}",
            v.absent.join(", ")
        )?;
    }
    if !v.finished.is_empty() {
        let labels: Vec<&str> = v.finished.iter().map(|(l, _)| l.as_str()).collect();
        writeln!(
            out,
            "  running when the catalog was taken, snapshot complete in the repository: FINISHED {}",
            labels.join(", ")
        )?;
    }
    if !v.died.is_empty() || !v.restores_died.is_empty() {
        let labels: Vec<&str> = v
            .died
            .iter()
            .chain(&v.restores_died)
            .map(String::as_str)
            .collect();
        writeln!(
            out,
            "  running when the catalog was taken, their runs died with the lost cluster: FAILED {}",
            labels.join(", ")
        )?;
    }
    if !v.unknown.is_empty() {
        writeln!(
            out,
            "  not in the recovered history (taken after the catalog snapshot; restore cannot use them): {}",
            v.unknown.join(", ")
        )?;
    }
    if let Some((lost, here)) = v.zone_mismatch {
        writeln!(
            out,
            "  WARNING: the lost cluster's sessions ran at UTC{}, this cluster's at UTC{}: history times (and restore --timestamp) are wall-clock times of the lost cluster's zone; set this cluster's time_zone to {} before restoring or backing up",
            show_offset(lost),
            show_offset(here),
            show_offset(lost)
        )?;
    }
    writeln!(
        out,
        "next: `starrocks-bbr list` shows the history; restore tables with `starrocks-bbr restore`; `starrocks-bbr backup` continues the chains"
    )?;
    Ok(())
}
