//! The commands, one file each, wiring config -> discovery -> planner -> (print | runner). Data goes
//! to `out` (stdout), logs to stderr via tracing.

use std::io::Write;

use anyhow::Result;

use crate::cli::{Cli, Cmd};
use crate::config::{Config, TableRef};
use crate::error::BbrError;

mod backup;
mod init;
mod list;
mod recover;
mod restore;

pub use restore::parse_target_time;

pub fn run(cli: Cli, out: &mut dyn Write) -> Result<()> {
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
            backup::backup(&cfg, dry_run, full, out)
        }
        Cmd::Recover { common, dry_run } => {
            let cfg = Config::load(&common.config)?;
            recover::recover(&cfg, dry_run, out)
        }
        Cmd::List { common, format } => {
            let cfg = Config::load(&common.config)?;
            list::list_cmd(&cfg, format, out)
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
            restore::restore(&cfg, &target, target_time, dry_run, out)
        }
    }
}
