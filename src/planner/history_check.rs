//! recover's CheckHistory: the recovered history against what the repository really holds
//! (absent snapshots, unknown newer ones) and the rows a dead cluster left RUNNING.

use crate::history::{BACKUP_HISTORY, RESTORE_HISTORY};
pub use crate::plan::details::HistoryCheck;
use crate::snapshot::Listing;
use crate::sql::{ident, literal, qualified};

/// Why CheckHistory fails a RUNNING row.
pub const DIED_WITH_CLUSTER: &str = "its run died with the lost cluster";

/// NOW() and UTC_TIMESTAMP() in one statement: their difference is the session zone's offset.
pub const ZONE_SQL: &str = "SELECT NOW(), UTC_TIMESTAMP()";

pub fn show_snapshots_sql(repository: &str) -> String {
    format!("SHOW SNAPSHOT ON {}", ident(repository))
}

/// Every history row's label, repository, status and timestamp, for CheckHistory (once per recover).
pub fn select_snapshot_rows_sql(ops: &str) -> String {
    format!(
        "SELECT {}, {}, {}, {}, {} FROM {}",
        ident("label"),
        ident("repository"),
        ident("status"),
        ident("backup_timestamp"),
        ident("started_at"),
        qualified(ops, BACKUP_HISTORY)
    )
}

/// One recovered history row as CheckHistory reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveredRow {
    pub label: String,
    pub repository: String,
    pub status: String,
    pub backup_timestamp: Option<String>,
    pub started_at: Option<String>,
}

/// What CheckHistory found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryVerdict {
    /// FINISHED rows with a snapshot in our repository that the repository does not hold
    /// (not listed, or listed as `ERROR: no snapshot`): marked EXPIRED.
    pub absent: Vec<String>,
    /// Complete snapshots with the tool's data label pattern that the history does not know
    /// (taken after the catalog snapshot): reported.
    pub unknown: Vec<String>,
    /// RUNNING backup rows (other than the catalog's own) whose snapshot is listed complete:
    /// FINISHED with (label, newest listed timestamp).
    pub finished: Vec<(String, String)>,
    /// RUNNING backup rows without a complete snapshot in our repository: FAILED.
    pub died: Vec<String>,
    /// RUNNING backup rows whose snapshot's listing failed (`ERROR: Failed to get info`): the
    /// runner lists them again; still failing, the recover stops (exit 1, run again).
    pub unsure: Vec<String>,
    /// RUNNING restore rows: FAILED (filled by the runner from restore_history).
    pub restores_died: Vec<String>,
    /// (lost cluster's, this session's) zone offsets in seconds when they differ: history times
    /// are zone-less wall clock, so every restore point would shift (filled by the runner).
    pub zone_mismatch: Option<(i64, i64)>,
}

/// The lost cluster's session zone offset: the catalog row's started_at (its session clock) is a
/// few seconds before the catalog BACKUP's create time (`backup_time`, UTC), so their difference
/// rounded to a quarter hour (zones are whole quarter hours) is the offset.
pub fn lost_zone_offset_s(started_at: &str, backup_time_ms: i64) -> Option<i64> {
    let local = chrono::NaiveDateTime::parse_from_str(
        &crate::history::trim_datetime(started_at),
        "%Y-%m-%d %H:%M:%S",
    )
    .ok()?;
    let utc = chrono::DateTime::from_timestamp_millis(backup_time_ms)?.naive_utc();
    let secs = (local - utc).num_seconds() as f64;
    Some((secs / 900.0).round() as i64 * 900)
}

/// `+08:00` for an offset in seconds.
pub fn show_offset(s: i64) -> String {
    let sign = if s < 0 { '-' } else { '+' };
    format!("{sign}{:02}:{:02}", s.abs() / 3600, s.abs() % 3600 / 60)
}

/// Compares the recovered history with the repository listing. RUNNING rows other than the
/// catalog's own (`own_label`) were running when the catalog snapshot was taken; their runs died
/// with the lost cluster, so they are settled now (a backup on the new cluster would otherwise
/// wait for, or resume and finish, a job of the dead one).
pub fn judge_history(
    rows: &[RecoveredRow],
    listed: &[Listing],
    repository: &str,
    own_label: &str,
) -> HistoryVerdict {
    use std::collections::{BTreeMap, BTreeSet};
    let by_label: BTreeMap<&str, &Listing> = listed.iter().map(|s| (s.label.as_str(), s)).collect();
    let known: BTreeSet<&str> = rows.iter().map(|r| r.label.as_str()).collect();
    let mut v = HistoryVerdict::default();
    for r in rows {
        let has_snapshot = r.status == "FINISHED" && r.backup_timestamp.is_some();
        if !has_snapshot || r.repository != repository {
            continue;
        }
        let gone = match by_label.get(r.label.as_str()) {
            None => true,
            Some(s) => s.incomplete,
        };
        if gone {
            v.absent.push(r.label.clone());
        }
    }
    for s in listed {
        if s.ok && super::catalog::is_data_label(&s.label) && !known.contains(s.label.as_str()) {
            v.unknown.push(s.label.clone());
        }
    }
    for r in rows {
        if r.status != "RUNNING" || r.label == own_label {
            continue;
        }
        let entry = by_label.get(r.label.as_str()).copied();
        if r.repository == repository && entry.is_some_and(|s| s.error.is_some()) {
            // its listing failed: finished or not, nobody can tell yet
            v.unsure.push(r.label.clone());
            continue;
        }
        let listed_ok = entry
            .filter(|s| s.ok && r.repository == repository)
            .and_then(|s| s.newest());
        match listed_ok {
            Some(ts) => v.finished.push((r.label.clone(), ts.to_string())),
            None => v.died.push(r.label.clone()),
        }
    }
    v.absent.sort();
    v.unknown.sort();
    v.finished.sort();
    v.died.sort();
    v
}

/// RUNNING restore_history rows (a restore that ran when the catalog snapshot was taken).
pub fn select_running_restores_sql(ops: &str) -> String {
    format!(
        "SELECT {} FROM {} WHERE {} = 'RUNNING'",
        ident("label"),
        qualified(ops, RESTORE_HISTORY),
        ident("status")
    )
}

/// Marks a FINISHED row whose snapshot the repository does not hold.
pub fn mark_absent_sql(ops: &str, label: &str, why: &str) -> String {
    format!(
        "UPDATE {} SET {} = 'EXPIRED', {} = {} WHERE {} = {} AND {} = 'FINISHED'",
        qualified(ops, BACKUP_HISTORY),
        ident("status"),
        ident("error_message"),
        literal(why),
        ident("label"),
        literal(label),
        ident("status")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lost_clusters_zone() {
        // 2026-01-01 00:00:00 UTC; the row was written a few seconds before the BACKUP
        let t = 1_767_225_600_000;
        for (started_at, want) in [
            ("2026-01-01 07:59:57", Some(28800)),
            ("2026-01-01 07:59:57.0", Some(28800)),
            ("2025-12-31 23:59:58", Some(0)),
            ("2025-12-31 18:59:50", Some(-18000)),
            ("2026-01-01 05:29:59", Some(19800)),
            ("not a time", None),
        ] {
            assert_eq!(lost_zone_offset_s(started_at, t), want, "{started_at}");
        }
        assert_eq!(show_offset(28800), "+08:00");
        assert_eq!(show_offset(-18000), "-05:00");
        assert_eq!(show_offset(19800), "+05:30");
    }

    fn snap(label: &str, ts: &str, status: &str) -> Listing {
        Listing::parse(label, Some(ts), Some(status))
    }

    #[test]
    fn history_against_the_repository() {
        let row = |label: &str, repo: &str, status: &str, ts: Option<&str>| RecoveredRow {
            label: label.into(),
            repository: repo.into(),
            status: status.into(),
            backup_timestamp: ts.map(str::to_string),
            started_at: None,
        };
        let ts = Some("2026-01-01-00-00-10-000");
        let rows = vec![
            row("bbr_s_20260101000000_full_aaaaaa", "repo", "FINISHED", ts),
            row("bbr_s_20260102000000_incr_bbbbbb", "repo", "FINISHED", ts),
            row("bbr_s_20260103000000_incr_cccccc", "repo", "FINISHED", ts),
            // manifest-only record: no snapshot to look for
            row("bbr_s_20260104000000_incr_dddddd", "repo", "FINISHED", None),
            row("bbr_s_20260105000000_incr_eeeeee", "repo", "FAILED", None),
            row(
                "bbr_s_20260106000000_full_ffffff",
                "old_repo",
                "FINISHED",
                ts,
            ),
            row("bbr_s_20260107000000_incr_gggggg", "repo", "FINISHED", ts),
            // running when the catalog snapshot was taken: its snapshot completed
            row("bbr_s_20260109000000_incr_jjjjjj", "repo", "RUNNING", None),
            // running, its snapshot never completed / never started / not in our repository
            row("bbr_s_20260109000000_incr_kkkkkk", "repo", "RUNNING", None),
            row("bbr_t_20260109000000_full_llllll", "repo", "RUNNING", None),
            row(
                "bbr_u_20260109000000_full_mmmmmm",
                "old_repo",
                "RUNNING",
                None,
            ),
            // running, its listing failed: unsure (listed again by the runner)
            row("bbr_s_20260109000000_incr_nnnnnn", "repo", "RUNNING", None),
            // the catalog's own row: Finalize settles it
            row(
                "bbr_catalog_ops_20260108000000_iiiiii",
                "repo",
                "RUNNING",
                None,
            ),
        ];
        let listed = vec![
            snap(
                "bbr_s_20260101000000_full_aaaaaa",
                "2026-01-01-00-00-10-000",
                "OK",
            ),
            snap("bbr_s_20260103000000_incr_cccccc", "", "ERROR: no snapshot"),
            snap(
                "bbr_s_20260107000000_incr_gggggg",
                "",
                "ERROR: Failed to get info: timeout",
            ),
            snap(
                "bbr_s_20260108000000_incr_hhhhhh",
                "2026-01-08-00-00-10-000",
                "OK",
            ),
            snap(
                "bbr_catalog_ops_20260108000000_iiiiii",
                "2026-01-08-00-01-10-000",
                "OK",
            ),
            snap("someone_elses", "2026-01-08-00-00-10-000", "OK"),
            snap(
                "bbr_s_20260109000000_incr_jjjjjj",
                "Invalid: __info_x.part\n2026-01-09-00-00-10-000\n2026-01-09-00-00-05-000",
                "OK",
            ),
            snap("bbr_s_20260109000000_incr_kkkkkk", "", "ERROR: no snapshot"),
            snap(
                "bbr_s_20260109000000_incr_nnnnnn",
                "",
                "ERROR: Failed to get info: connection reset",
            ),
            snap(
                "bbr_u_20260109000000_full_mmmmmm",
                "2026-01-09-00-00-10-000",
                "OK",
            ),
        ];
        let v = judge_history(
            &rows,
            &listed,
            "repo",
            "bbr_catalog_ops_20260108000000_iiiiii",
        );
        assert_eq!(
            v.absent,
            [
                "bbr_s_20260102000000_incr_bbbbbb",
                "bbr_s_20260103000000_incr_cccccc"
            ]
        );
        assert_eq!(v.unknown, ["bbr_s_20260108000000_incr_hhhhhh"]);
        assert_eq!(
            v.finished,
            [(
                "bbr_s_20260109000000_incr_jjjjjj".to_string(),
                "2026-01-09-00-00-10-000".to_string()
            )]
        );
        assert_eq!(v.unsure, ["bbr_s_20260109000000_incr_nnnnnn"]);
        assert_eq!(
            v.died,
            [
                "bbr_s_20260109000000_incr_kkkkkk",
                "bbr_t_20260109000000_full_llllll",
                "bbr_u_20260109000000_full_mmmmmm"
            ]
        );
    }
}
