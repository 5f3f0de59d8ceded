//! `list`: the backup history, newest first, as a table or JSON.

use std::io::Write;

use anyhow::{Context, Result};

use crate::cli::Format;
use crate::cluster::Cluster;
use crate::config::Config;
use crate::error::BbrError;
use crate::{history, list};

pub(super) fn list_cmd(cfg: &Config, format: Format, out: &mut dyn Write) -> Result<()> {
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
        // EXPIRED rows only on request (SPEC.md: `--status EXPIRED`; the filter hook for `--status`).
        .filter(|r| r.status != "EXPIRED")
        .collect();
    let entries = list::entries(&rows);
    let text = match format {
        Format::Json => list::render_json(&entries),
        Format::Table => list::render_table(&entries),
    };
    out.write_all(text.as_bytes())?;
    Ok(())
}
