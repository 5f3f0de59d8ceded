//! `list`: the backup history, newest first — an aligned table for people, JSON for scripts.

use serde::Serialize;

use crate::history::HistoryRow;

/// One entry of `list --format json` (SPEC.md names the first eight fields).
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
    pub snapshot_at: Option<String>,
    pub base_label: Option<String>,
    pub repository: String,
    pub error_message: Option<String>,
}

impl From<&HistoryRow> for ListEntry {
    fn from(r: &HistoryRow) -> Self {
        ListEntry {
            label: r.label.clone(),
            database: r.database.clone(),
            backup_type: r.backup_type.clone(),
            status: r.status.clone(),
            started_at: r.started_at.clone(),
            finished_at: r.finished_at.clone(),
            backup_timestamp: r.backup_timestamp.clone(),
            partitions: r.partitions,
            snapshot_at: r.snapshot_at.clone(),
            base_label: r.base_label.clone(),
            repository: r.repository.clone(),
            error_message: r.error_message.clone(),
        }
    }
}

/// Newest first: by started_at, then label, both descending (rows may arrive in any order).
pub fn entries(rows: &[HistoryRow]) -> Vec<ListEntry> {
    let mut v: Vec<ListEntry> = rows.iter().map(ListEntry::from).collect();
    v.sort_by(|a, b| {
        b.started_at
            .cmp(&a.started_at)
            .then_with(|| b.label.cmp(&a.label))
    });
    v
}

pub fn render_json(entries: &[ListEntry]) -> String {
    let mut s = serde_json::to_string_pretty(entries).unwrap_or_else(|_| "[]".into());
    s.push('\n');
    s
}

pub fn render_table(entries: &[ListEntry]) -> String {
    let header = [
        "LABEL",
        "DATABASE",
        "TYPE",
        "STATUS",
        "STARTED_AT",
        "FINISHED_AT",
        "BACKUP_TIMESTAMP",
        "PARTITIONS",
        "ERROR",
    ];
    let dash = |o: &Option<String>| o.clone().unwrap_or_else(|| "-".into());
    let rows: Vec<[String; 9]> = entries
        .iter()
        .map(|e| {
            [
                e.label.clone(),
                e.database.clone(),
                e.backup_type.clone(),
                e.status.clone(),
                dash(&e.started_at),
                dash(&e.finished_at),
                match (&e.backup_timestamp, e.status.as_str()) {
                    // A manifest-only record: partitions were only dropped, no snapshot was taken.
                    (None, "FINISHED") => "(manifest only)".to_string(),
                    (ts, _) => dash(ts),
                },
                e.partitions
                    .map(|p| p.to_string())
                    .unwrap_or_else(|| "-".into()),
                e.error_message
                    .as_deref()
                    .map(crate::error::one_line)
                    .unwrap_or_default(),
            ]
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r.iter()) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(c);
                s.push_str(&" ".repeat(widths[i] - c.chars().count() + 2));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(header.to_vec());
    for r in &rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    if entries.is_empty() {
        out.push_str("(no backups recorded yet)\n");
    }
    out
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
            snapshot_at: None,
            partitions: Some(3),
        }
    }

    #[test]
    fn newest_first_and_aligned() {
        let rows = vec![
            row("a", "2026-01-01 00:00:01", "FINISHED"),
            row("bb", "2026-01-01 00:00:09", "FAILED"),
        ];
        let e = entries(&rows);
        assert_eq!(e[0].label, "bb");
        let t = render_table(&e);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0].find("DATABASE"), lines[1].find("sales"));
        let j: serde_json::Value = serde_json::from_str(&render_json(&e)).unwrap();
        assert_eq!(j[0]["partitions"], 3);
        assert_eq!(j[1]["status"], "FINISHED");
    }
}
