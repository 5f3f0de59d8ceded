//! Command line (SPEC.md "Command line").

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "starrocks-bbr",
    version,
    about = "Backup and restore for StarRocks shared-nothing clusters"
)]
pub struct Cli {
    /// More log detail on stderr (-v info, -vv debug, -vvv trace). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Less log detail (-q errors only).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub quiet: u8,
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Debug, Args)]
pub struct Common {
    /// The YAML config file.
    #[arg(long, env = "STARROCKS_BBR_CONFIG")]
    pub config: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Create the ops database and tables if absent (harmless to repeat).
    Init {
        #[command(flatten)]
        common: Common,
        /// Print the plan as JSON; send only SELECT/SHOW.
        #[arg(long)]
        dry_run: bool,
    },
    /// Take a FULL or INCREMENTAL backup of the configured tables (one job per database).
    Backup {
        #[command(flatten)]
        common: Common,
        /// Print the plan as JSON; send only SELECT/SHOW.
        #[arg(long)]
        dry_run: bool,
    },
    /// Rebuild one (dropped) table as of a point in time from its full + incremental chain.
    Restore {
        #[command(flatten)]
        common: Common,
        /// The table to restore, DB.TABLE (repeatable: tables of one database restored to the same
        /// instant share RESTORE jobs). It must not exist (exit 4 otherwise) unless --as or
        /// --replace is given.
        #[arg(long, required = true)]
        table: Vec<String>,
        /// Target time "YYYY-MM-DD HH:MM:SS", read in the cluster's session time zone (the zone of
        /// SELECT NOW() and of `list`'s times), not the client's; or the same with an offset
        /// ("2026-05-01 10:00:00+08:00", converted); or `latest` (the newest restorable point).
        #[arg(long)]
        timestamp: String,
        /// Rebuild the table under this name (same database; the source table may exist).
        #[arg(long = "as", value_name = "NAME")]
        as_name: Option<String>,
        /// Rebuild beside the existing table, then swap it in atomically (ALTER TABLE ... SWAP WITH);
        /// the previous table is kept under a printed name.
        #[arg(long, conflicts_with = "as_name")]
        replace: bool,
        /// Print the plan as JSON; send only SELECT/SHOW.
        #[arg(long)]
        dry_run: bool,
    },
    /// Rebuild a lost ops database (history) from the newest catalog snapshot in the repository.
    Recover {
        #[command(flatten)]
        common: Common,
        /// Print the plan as JSON; send only SELECT/SHOW.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print the backup history (or the restore runs), newest first.
    List {
        #[command(flatten)]
        common: Common,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// List restore runs (table, target time, chain length, status, error) instead of backups.
        #[arg(long)]
        restores: bool,
        /// Only this database.
        #[arg(long)]
        database: Option<String>,
        /// Only rows with this status (RUNNING, FINISHED, FAILED, EXPIRED).
        #[arg(long)]
        status: Option<String>,
        /// At most this many rows (the newest).
        #[arg(long)]
        limit: Option<u32>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}
