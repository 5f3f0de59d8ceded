//! `list`: the backup history (or the restore runs), newest first, as a table or JSON; times in the
//! cluster's session time zone, which the output names.

use std::io::Write;

use anyhow::{Context, Result};

use crate::cli::Format;
use crate::cluster::Cluster;
use crate::config::Config;
use crate::error::BbrError;
use crate::{history, list};

pub(super) fn list_cmd(
    cfg: &Config,
    format: Format,
    restores: bool,
    filter: &list::Filter,
    out: &mut dyn Write,
) -> Result<()> {
    let mut c = Cluster::connect(cfg)?;
    let (sql, table) = if restores {
        (
            list::select_restores_sql(&cfg.ops_database, filter),
            history::RESTORE_HISTORY,
        )
    } else {
        (
            list::select_backups_sql(&cfg.ops_database, filter),
            history::BACKUP_HISTORY,
        )
    };
    let rs = c
        .query_retry(&sql, &crate::planner::idempotent(cfg))
        .map_err(|e| match e {
            crate::cluster::SqlError::Server { ref message, .. } => BbrError::usage(
                format!("cannot read {}.{table}: {message}", cfg.ops_database),
                "run `starrocks-bbr init` first",
            ),
            e => e.into_bbr("reading the history"),
        })
        .context("list")?;
    let zone = crate::state::restore::session_offset(&mut c, cfg)
        .map(list::zone_text)
        .unwrap_or_else(|_| "unknown".to_string());
    let text = if restores {
        let entries = list::restore_entries(&rs.rows, &zone);
        match format {
            Format::Json => list::render_json(&entries),
            Format::Table => list::render_restores(&entries, &zone),
        }
    } else {
        let rows: Vec<history::HistoryRow> = rs
            .rows
            .iter()
            .map(|r| history::HistoryRow::from_row(r))
            .collect();
        let entries = list::entries(&rows, &zone);
        match format {
            Format::Json => list::render_json(&entries),
            Format::Table => list::render_table(&entries, &zone),
        }
    };
    out.write_all(text.as_bytes())?;
    Ok(())
}
