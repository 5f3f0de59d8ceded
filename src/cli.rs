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
    /// Less log detail (-q errors only, -qq nothing but the final error line).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub quiet: u8,
    /// Log line format on stderr: text, or one JSON object per line.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    /// The YAML config file, given before the subcommand (it may also follow it).
    #[arg(long = "config", value_name = "PATH", env = "STARROCKS_BBR_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Debug, Args)]
pub struct Common {
    /// The YAML config file (also accepted before the subcommand, or from STARROCKS_BBR_CONFIG).
    /// None when given only before the subcommand: `Config::load` then uses that one.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
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
        /// Back up every table whole (a FULL backup), whatever changed.
        #[arg(long)]
        full: bool,
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
    /// Apply `retention`: expire every snapshot no restore point of the last keep_days needs.
    Expire {
        #[command(flatten)]
        common: Common,
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
    /// Read-only health checks (connection, repository, backends, ops schema, tables, snapshots);
    /// exit 0 when nothing fails, 1 otherwise.
    Check {
        #[command(flatten)]
        common: Common,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Print a shell completion script on stdout.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) on stdout.
    Man,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}
