//! `list`: the backup history or the restore runs, newest first — an aligned table for people, JSON
//! for scripts. Times are the cluster's session time zone, which both outputs name.

use serde::Serialize;

use crate::error::BbrError;
use crate::history::{self, col_list, HistoryRow, HISTORY_COLUMNS};
use crate::sql::{ident, literal, qualified};

/// `--database`, `--status`, `--limit`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub database: Option<String>,
    pub status: Option<String>,
    pub limit: Option<u32>,
}

const STATUSES: [&str; 4] = ["RUNNING", "FINISHED", "FAILED", "EXPIRED"];

impl Filter {
    pub fn new(
        database: Option<String>,
        status: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Filter, BbrError> {
        let status = match status {
            None => None,
            Some(s) => {
                let up = s.trim().to_ascii_uppercase();
                if !STATUSES.contains(&up.as_str()) {
                    return Err(BbrError::usage(
                        format!("--status '{s}' is not a status"),
                        format!("pass one of {}", STATUSES.join(", ")),
                    ));
                }
                Some(up)
            }
        };
        Ok(Filter {
            database,
            status,
            limit,
        })
    }

    /// ` WHERE ...` (or nothing), then the newest-first order and the limit.
    /// `hide_expired`: backup history shows EXPIRED rows only on request (SPEC `--status
    /// EXPIRED`); filtered in the query, so `--limit N` still counts N shown rows.
    fn clauses(&self, hide_expired: bool) -> String {
        let mut conds = Vec::new();
        if let Some(d) = &self.database {
            conds.push(format!("{} = {}", ident("database_name"), literal(d)));
        }
        match &self.status {
            Some(s) => conds.push(format!("{} = {}", ident("status"), literal(s))),
            None if hide_expired => conds.push(format!("{} <> 'EXPIRED'", ident("status"))),
            None => {}
        }
        let mut out = String::new();
        if !conds.is_empty() {
            out.push_str(" WHERE ");
            out.push_str(&conds.join(" AND "));
        }
        out.push_str(&format!(
            " ORDER BY {} DESC, {} DESC",
            ident("started_at"),
            ident("label")
        ));
        if let Some(n) = self.limit {
            out.push_str(&format!(" LIMIT {n}"));
        }
        out
    }
}

pub fn select_backups_sql(ops: &str, f: &Filter) -> String {
    format!(
        "SELECT {} FROM {}{}",
        col_list(&HISTORY_COLUMNS),
        qualified(ops, history::BACKUP_HISTORY),
        f.clauses(true)
    )
}

const RESTORE_COLUMNS: [&str; 9] = [
    "label",
    "database_name",
    "table_name",
    "target_time",
    "status",
    "started_at",
    "finished_at",
    "chain",
    "error_message",
];

pub fn select_restores_sql(ops: &str, f: &Filter) -> String {
    format!(
        "SELECT {} FROM {}{}",
        col_list(&RESTORE_COLUMNS),
        qualified(ops, history::RESTORE_HISTORY),
        f.clauses(false)
    )
}

/// `+08:00` for an offset of eight hours.
pub fn zone_text(off: chrono::Duration) -> String {
    let m = off.num_minutes();
    let sign = if m < 0 { '-' } else { '+' };
    format!("{sign}{:02}:{:02}", m.abs() / 60, m.abs() % 60)
}

/// One entry of `list --format json` (SPEC.md names the first nine fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListEntry {
    pub label: String,
    pub database: String,
    pub backup_type: String,
    pub status: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub backup_timestamp: Option<String>,
    pub partitions: Option<i64>,
    /// The time a restore uses for this backup (its snapshot_at): a `--timestamp` at or after it
    /// (and before the next one) restores this state. Only FINISHED backups are restorable.
    pub restorable_at: Option<String>,
    pub snapshot_at: Option<String>,
    pub base_label: Option<String>,
    pub repository: String,
    pub error_message: Option<String>,
    /// The session time zone of every time here (`+00:00`).
    pub time_zone: String,
}

impl ListEntry {
    fn new(r: &HistoryRow, zone: &str) -> Self {
        ListEntry {
            label: r.label.clone(),
            database: r.database.clone(),
            backup_type: r.backup_type.clone(),
            status: r.status.clone(),
            started_at: r.started_at.clone(),
            finished_at: r.finished_at.clone(),
            backup_timestamp: r.backup_timestamp.clone(),
            partitions: r.partitions,
            restorable_at: r.snapshot_at.clone().filter(|_| r.status == "FINISHED"),
            snapshot_at: r.snapshot_at.clone(),
            base_label: r.base_label.clone(),
            repository: r.repository.clone(),
            error_message: r.error_message.clone(),
            time_zone: zone.to_string(),
        }
    }
}

/// Newest first: by started_at, then label, both descending (rows may arrive in any order).
pub fn entries(rows: &[HistoryRow], zone: &str) -> Vec<ListEntry> {
    let mut v: Vec<ListEntry> = rows.iter().map(|r| ListEntry::new(r, zone)).collect();
    v.sort_by(|a, b| {
        b.started_at
            .cmp(&a.started_at)
            .then_with(|| b.label.cmp(&a.label))
    });
    v
}

/// One restore run of `list --restores`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RestoreEntry {
    pub label: String,
    pub database: String,
    pub table: String,
    pub target_time: Option<String>,
    pub status: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// RESTORE jobs the run's chain needs.
    pub chain_length: usize,
    pub error_message: Option<String>,
    pub time_zone: String,
}

pub fn restore_entries(rows: &[Vec<Option<String>>], zone: &str) -> Vec<RestoreEntry> {
    let at = |r: &Vec<Option<String>>, i: usize| r.get(i).cloned().flatten();
    let time = |r: &Vec<Option<String>>, i: usize| at(r, i).map(|s| history::trim_datetime(&s));
    let mut v: Vec<RestoreEntry> = rows
        .iter()
        .map(|r| RestoreEntry {
            label: at(r, 0).unwrap_or_default(),
            database: at(r, 1).unwrap_or_default(),
            table: at(r, 2).unwrap_or_default(),
            target_time: time(r, 3),
            status: at(r, 4).unwrap_or_default(),
            started_at: time(r, 5),
            finished_at: time(r, 6),
            chain_length: at(r, 7)
                .and_then(|c| serde_json::from_str::<Vec<serde_json::Value>>(&c).ok())
                .map_or(0, |c| c.len()),
            error_message: at(r, 8),
            time_zone: zone.to_string(),
        })
        .collect();
    v.sort_by(|a, b| {
        b.started_at
            .cmp(&a.started_at)
            .then_with(|| b.label.cmp(&a.label))
    });
    v
}

pub fn render_json<T: Serialize>(entries: &[T]) -> String {
    let mut s = serde_json::to_string_pretty(entries).unwrap_or_else(|_| "[]".into());
    s.push('\n');
    s
}

fn error_cell(e: &Option<String>) -> String {
    e.as_deref().map(crate::error::one_line).unwrap_or_default()
}

fn dash(o: &Option<String>) -> String {
    o.clone().unwrap_or_else(|| "-".into())
}

/// Aligned columns, then a line naming the time zone (or `empty` when there are no rows).
fn aligned(header: &[&str], rows: &[Vec<String>], empty: &str, zone: &str) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r.iter()) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            s.push_str(c);
            if i + 1 < cells.len() {
                s.push_str(&" ".repeat(widths[i] - c.chars().count() + 2));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(header.to_vec());
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    if rows.is_empty() {
        out.push_str(empty);
        out.push('\n');
    }
    out.push_str(&format!(
        "(times in the cluster's session time zone, UTC{zone})\n"
    ));
    out
}

pub fn render_table(entries: &[ListEntry], zone: &str) -> String {
    let header = [
        "LABEL",
        "DATABASE",
        "TYPE",
        "STATUS",
        "STARTED_AT",
        "FINISHED_AT",
        "RESTORABLE_AT",
        "BACKUP_TIMESTAMP",
        "PARTITIONS",
        "ERROR",
    ];
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                e.label.clone(),
                e.database.clone(),
                e.backup_type.clone(),
                e.status.clone(),
                dash(&e.started_at),
                dash(&e.finished_at),
                dash(&e.restorable_at),
                match (&e.backup_timestamp, e.status.as_str()) {
                    // A manifest-only record: partitions were only dropped, no snapshot was taken.
                    (None, "FINISHED") => "(manifest only)".to_string(),
                    (ts, _) => dash(ts),
                },
                e.partitions
                    .map(|p| p.to_string())
                    .unwrap_or_else(|| "-".into()),
                error_cell(&e.error_message),
            ]
        })
        .collect();
    aligned(&header, &rows, "(no backups recorded yet)", zone)
}

pub fn render_restores(entries: &[RestoreEntry], zone: &str) -> String {
    let header = [
        "LABEL",
        "TABLE",
        "TARGET_TIME",
        "CHAIN",
        "STATUS",
        "STARTED_AT",
        "FINISHED_AT",
        "ERROR",
    ];
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                e.label.clone(),
                format!("{}.{}", e.database, e.table),
                dash(&e.target_time),
                e.chain_length.to_string(),
                e.status.clone(),
                dash(&e.started_at),
                dash(&e.finished_at),
                error_cell(&e.error_message),
            ]
        })
        .collect();
    aligned(&header, &rows, "(no restores recorded yet)", zone)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(label: &str, started: &str, status: &str) -> HistoryRow {
        HistoryRow {
            label: label.into(),
            database: "sales".into(),
            backup_type: "full".into(),
            status: status.into(),
            repository: "repo".into(),
            started_at: Some(started.into()),
            finished_at: None,
            backup_timestamp: None,
            base_label: None,
            error_message: None,
            heartbeat_at: None,
            snapshot_at: Some("2026-01-01 00:00:05".into()),
            partitions: Some(3),
        }
    }

    #[test]
    fn newest_first_aligned_and_restorable_only_when_finished() {
        let rows = vec![
            row("a", "2026-01-01 00:00:01", "FINISHED"),
            row("bb", "2026-01-01 00:00:09", "FAILED"),
        ];
        let e = entries(&rows, "+08:00");
        assert_eq!(e[0].label, "bb");
        assert_eq!(e[0].restorable_at, None);
        assert_eq!(e[1].restorable_at.as_deref(), Some("2026-01-01 00:00:05"));
        let t = render_table(&e, "+08:00");
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0].find("DATABASE"), lines[1].find("sales"));
        assert_eq!(
            lines[0].find("RESTORABLE_AT"),
            lines[2].find("2026-01-01 00:00:05")
        );
        assert!(lines[3].contains("UTC+08:00"), "{t}");
        let j: serde_json::Value = serde_json::from_str(&render_json(&e)).unwrap();
        assert_eq!(j[0]["partitions"], 3);
        assert_eq!(j[1]["status"], "FINISHED");
        assert_eq!(j[1]["restorable_at"], "2026-01-01 00:00:05");
        assert_eq!(j[1]["time_zone"], "+08:00");
    }

    #[test]
    fn filters_become_where_order_and_limit() {
        let cases = [
            (Filter::default(), " ORDER BY `started_at` DESC, `label` DESC"),
            (
                Filter::new(Some("sales".into()), Some("finished"), Some(5)).unwrap(),
                " WHERE `database_name` = 'sales' AND `status` = 'FINISHED' ORDER BY `started_at` DESC, `label` DESC LIMIT 5",
            ),
        ];
        for (f, want) in cases {
            assert_eq!(f.clauses(false), want);
        }
        assert_eq!(
            Filter::new(None, None, Some(1)).unwrap().clauses(true),
            " WHERE `status` <> 'EXPIRED' ORDER BY `started_at` DESC, `label` DESC LIMIT 1"
        );
        assert_eq!(
            Filter::new(None, Some("expired"), None)
                .unwrap()
                .clauses(true),
            " WHERE `status` = 'EXPIRED' ORDER BY `started_at` DESC, `label` DESC"
        );
        assert!(Filter::new(None, Some("done"), None).is_err());
        assert_eq!(zone_text(chrono::Duration::minutes(-330)), "-05:30");
    }
}
