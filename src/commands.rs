//! The commands, wiring config -> discovery -> planner -> (print | runner). Data goes to `out`
//! (stdout), logs to stderr via tracing.

use std::io::Write;

use anyhow::{Context, Result};
use tracing::info;

use crate::cli::{Cli, Cmd, Format};
use crate::cluster::Cluster;
use crate::config::{Config, TableRef};
use crate::error::BbrError;
use crate::plan::{Command, Plan};
use crate::planner::backup::{plan_backup, plan_resume, random_suffix};
use crate::planner::init::plan_init;
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
            dry_run: _,
        } => {
            let _cfg = Config::load(&common.config)?;
            TableRef::parse(&table).map_err(|m| BbrError::usage(m, "pass --table DB.TABLE"))?;
            chrono::NaiveDateTime::parse_from_str(&timestamp, "%Y-%m-%d %H:%M:%S").map_err(
                |_| {
                    BbrError::usage(
                        format!("--timestamp '{timestamp}' is not YYYY-MM-DD HH:MM:SS"),
                        "pass e.g. --timestamp \"2026-01-01 12:00:00\"",
                    )
                },
            )?;
            Err(BbrError::usage(
                "restore is not implemented yet",
                "use a release that implements restore, or RESTORE manually from ops.backup_partitions",
            )
            .into())
        }
    }
}

fn init(cfg: &Config, dry_run: bool, out: &mut dyn Write) -> Result<()> {
    let mut c = Cluster::connect(cfg)?;
    let st = state::init_state(&mut c, cfg)?;
    let plan = plan_init(cfg, &st);
    if dry_run {
        out.write_all(plan.to_json().as_bytes())?;
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

fn print_jobs(outcome: &RunOutcome, out: &mut dyn Write) -> Result<()> {
    for j in &outcome.jobs {
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
        let plan = plan_backup(cfg, &st, None);
        out.write_all(plan.to_json().as_bytes())?;
        return Ok(());
    }
    // Finish what dead runs left RUNNING before anything new starts (SPEC.md "resumable").
    if !st.resume.is_empty() {
        info!("finishing {} interrupted backup(s) first", st.resume.len());
        let plan = Plan::new(
            Command::Backup,
            serde_json::json!({ "resume": st.resume }),
            plan_resume(cfg, &st.resume),
        );
        let outcome = Runner::new(&mut c, cfg).run(&plan);
        print_jobs(&outcome, out)?;
        if let Some(e) = outcome.error {
            return Err(e.into());
        }
        st = state::backup_state(&mut c, cfg)?;
        st.resume.clear();
    }
    let plan = plan_backup(cfg, &st, Some(&random_suffix()));
    if let Some(dbs) = plan.inputs.get("databases").and_then(|d| d.as_array()) {
        for d in dbs {
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
    print_jobs(&outcome, out)?;
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
