//! The commands, one file each, wiring config -> discovery -> planner -> (print | runner). Data goes
//! to `out` (stdout), logs to stderr via tracing.

use std::io::Write;

use anyhow::Result;

use crate::cli::{Cli, Cmd};
use crate::config::{Config, TableRef};
use crate::error::BbrError;

mod backup;
mod check;
mod expire;
mod init;
mod list;
mod recover;
mod restore;

pub use restore::{parse_target_time, TargetSpec};

pub fn run(cli: Cli, out: &mut dyn Write) -> Result<()> {
    crate::config::set_default_path(cli.config.clone());
    match cli.command {
        Cmd::Init { common, dry_run } => {
            let cfg = Config::load(&common.config)?;
            init::init(&cfg, dry_run, out)
        }
        Cmd::Backup {
            common,
            dry_run,
            full,
        } => {
            let cfg = Config::load(&common.config)?;
            with_run_status(&cfg, "backup", dry_run, |status| {
                backup::backup(&cfg, dry_run, full, status, out)
            })
        }
        Cmd::Check { common, format } => {
            let cfg = Config::load(&common.config)?;
            with_metrics(&cfg, "check", false, || check::check_cmd(&cfg, format, out))
        }
        Cmd::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "starrocks-bbr", out);
            Ok(())
        }
        Cmd::Man => {
            use clap::CommandFactory;
            clap_mangen::Man::new(Cli::command()).render(out)?;
            Ok(())
        }
        Cmd::Expire { common, dry_run } => {
            let cfg = Config::load(&common.config)?;
            with_metrics(&cfg, "expire", dry_run, || {
                expire::expire(&cfg, dry_run, out)
            })
        }
        Cmd::Recover { common, dry_run } => {
            let cfg = Config::load(&common.config)?;
            recover::recover(&cfg, dry_run, out)
        }
        Cmd::List {
            common,
            format,
            restores,
            database,
            status,
            limit,
        } => {
            let cfg = Config::load(&common.config)?;
            let filter = crate::list::Filter::new(database, status.as_deref(), limit)?;
            list::list_cmd(&cfg, format, restores, &filter, out)
        }
        Cmd::Restore {
            common,
            table,
            timestamp,
            as_name,
            replace,
            dry_run,
        } => {
            let cfg = Config::load(&common.config)?;
            let targets = table
                .iter()
                .map(|t| {
                    TableRef::parse(t).map_err(|m| BbrError::usage(m, "pass --table DB.TABLE"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let target_time = parse_target_time(&timestamp)?;
            with_metrics(&cfg, "restore", dry_run, || match targets.as_slice() {
                [target] => {
                    let mode = restore::mode(target, as_name.as_deref(), replace)?;
                    restore::restore(&cfg, target, target_time, &mode, dry_run, out)
                }
                _ if as_name.is_some() || replace => Err(BbrError::usage(
                    "--as and --replace restore one table, but several --table were given",
                    "restore those tables one by one",
                )
                .into()),
                _ => restore::restore_many(&cfg, &targets, target_time, dry_run, out),
            })
        }
    }
}

/// Runs a command and then, unless it was a dry run, replaces `metrics_file` (also after a
/// failure: a failed run is what the metrics must show).
pub fn with_metrics(
    cfg: &Config,
    command: &str,
    dry_run: bool,
    run: impl FnOnce() -> Result<()>,
) -> Result<()> {
    with_run_status(cfg, command, dry_run, |_| run())
}

/// [`with_metrics`] for a command that reports how each database's run ended (typed, per
/// database), so one database's failure never marks another failed in the metrics.
pub fn with_run_status(
    cfg: &Config,
    command: &str,
    dry_run: bool,
    run: impl FnOnce(&mut crate::metrics::RunStatus) -> Result<()>,
) -> Result<()> {
    let start = std::time::Instant::now();
    let mut status = crate::metrics::RunStatus::default();
    let result = run(&mut status);
    if !dry_run {
        let code = match &result {
            Ok(()) => 0,
            Err(e) => crate::error::classify(e).0.code(),
        };
        crate::metrics::after_run(cfg, command, code, &status, start.elapsed());
    }
    result
}
