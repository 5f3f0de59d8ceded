//! `SHOW SNAPSHOT ON repo` rows as the tool reads them: one pure parser that recover uses and the
//! backup runner can share. Repository.java:612-670 (getSnapshotInfo): without a timestamp a row is
//! (Snapshot, Timestamp, Status) where Timestamp joins every `__info_*` file name with `\n`
//! (`Invalid: <file>` for one that does not decode) and Status is `OK`, `ERROR: no snapshot` (the
//! directory holds no info file) or `ERROR: Failed to get info: <msg>` with a NULL Timestamp (the
//! storage listing failed: proves nothing). With `WHERE SNAPSHOT = l AND TIMESTAMP = t` the row
//! gains Database and Details (BackupJobInfo.getBrief: JSON with `backup_time`, epoch ms).

use serde::Serialize;

/// One row of `SHOW SNAPSHOT ON repo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListedSnapshot {
    pub label: String,
    /// Decoded timestamps only (`Invalid: <file>` entries dropped, STARROCKS.md §6), oldest first.
    pub timestamps: Vec<String>,
    /// Status `OK` (some info file exists).
    pub ok: bool,
    /// Status `ERROR: no snapshot`: the directory exists without an info file (half-written).
    pub incomplete: bool,
    /// Any other status (`ERROR: Failed to get info: ...`, NULL): the listing of this label failed,
    /// which proves nothing about the snapshot; the text as the FE gave it.
    pub error: Option<String>,
}

impl ListedSnapshot {
    /// From the Snapshot / Timestamp / Status cells.
    pub fn parse(label: &str, timestamps: Option<&str>, status: Option<&str>) -> ListedSnapshot {
        let status = status.map(str::trim);
        let mut ts: Vec<String> = timestamps
            .unwrap_or_default()
            .split('\n')
            .map(str::trim)
            .filter(|t| crate::snapshot::is_backup_timestamp(t))
            .map(str::to_string)
            .collect();
        // `yyyy-MM-dd-HH-mm-ss-SSS` sorts as text
        ts.sort();
        ts.dedup();
        let ok = status == Some("OK");
        let incomplete = status == Some("ERROR: no snapshot");
        ListedSnapshot {
            label: label.to_string(),
            timestamps: ts,
            ok,
            incomplete,
            error: (!ok && !incomplete).then(|| status.unwrap_or("NULL status").to_string()),
        }
    }

    /// The newest decoded timestamp (the one a finished job wrote last).
    pub fn newest(&self) -> Option<&str> {
        self.timestamps.last().map(String::as_str)
    }
}

/// One snapshot's info file: the row gains Database and Details (`backup_time`).
pub fn show_snapshot_details_sql(repository: &str, label: &str, timestamp: &str) -> String {
    format!(
        "SHOW SNAPSHOT ON {} WHERE SNAPSHOT = {} AND TIMESTAMP = {}",
        crate::sql::ident(repository),
        crate::sql::literal(label),
        crate::sql::literal(timestamp)
    )
}

/// `backup_time` (epoch ms, the job's create time: BackupJob.java:748, BackupJobInfo.java:583) from
/// the Details cell of `SHOW SNAPSHOT ... WHERE SNAPSHOT = l AND TIMESTAMP = t`.
pub fn backup_time_ms(details: &str) -> Option<i64> {
    let v: serde_json::Value = serde_json::from_str(details).ok()?;
    v.get("backup_time")?.as_i64()
}

/// A cluster DATETIME (`yyyy-MM-dd HH:mm:ss`) for epoch ms in a zone `offset_s` east of UTC (the
/// session zone's offset, NOW() - UTC_TIMESTAMP()).
pub fn datetime_in_zone(epoch_ms: i64, offset_s: i64) -> Option<String> {
    let t = chrono::DateTime::from_timestamp_millis(epoch_ms)?.naive_utc()
        + chrono::Duration::seconds(offset_s);
    Some(t.format("%Y-%m-%d %H:%M:%S").to_string())
}

/// The session zone's offset from UTC in seconds, from `SELECT NOW(), UTC_TIMESTAMP()` read in one
/// statement (rounded to the minute: the two calls may straddle a second).
pub fn zone_offset_s(now: &str, utc: &str) -> Option<i64> {
    let p = |s: &str| {
        chrono::NaiveDateTime::parse_from_str(
            &crate::history::trim_datetime(s),
            "%Y-%m-%d %H:%M:%S",
        )
        .ok()
    };
    let secs = (p(now)? - p(utc)?).num_seconds();
    Some((secs as f64 / 60.0).round() as i64 * 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (Timestamp cell, Status cell) -> (timestamps, ok, incomplete, error)
    type Case<'a> = (
        Option<&'a str>,
        Option<&'a str>,
        &'a [&'a str],
        bool,
        bool,
        Option<&'a str>,
    );

    #[test]
    fn show_snapshot_rows() {
        let cases: &[Case] = &[
            (
                Some("2026-01-01-00-00-10-000"),
                Some("OK"),
                &["2026-01-01-00-00-10-000"],
                true,
                false,
                None,
            ),
            // several info files (a label reused): sorted, newest last
            (
                Some("2026-01-02-00-00-10-000\n2026-01-01-00-00-10-000"),
                Some("OK"),
                &["2026-01-01-00-00-10-000", "2026-01-02-00-00-10-000"],
                true,
                false,
                None,
            ),
            // an undecodable info file beside a real one (Repository.java:633)
            (
                Some("Invalid: __info_2026-01-03-00-00-10-000.part\n2026-01-01-00-00-10-000"),
                Some("OK"),
                &["2026-01-01-00-00-10-000"],
                true,
                false,
                None,
            ),
            // only undecodable files: OK but no timestamp to restore
            (
                Some("Invalid: __info_x.part"),
                Some("OK"),
                &[],
                true,
                false,
                None,
            ),
            (Some(""), Some("ERROR: no snapshot"), &[], false, true, None),
            // the storage listing failed (Repository.java:621-624): NULL Timestamp
            (
                None,
                Some("ERROR: Failed to get info: connection reset"),
                &[],
                false,
                false,
                Some("ERROR: Failed to get info: connection reset"),
            ),
            (
                Some("\\N"),
                Some("ERROR: Failed to get info: timeout"),
                &[],
                false,
                false,
                Some("ERROR: Failed to get info: timeout"),
            ),
            (None, None, &[], false, false, Some("NULL status")),
        ];
        for (ts, status, want, ok, incomplete, error) in cases {
            let s = ListedSnapshot::parse("l", *ts, *status);
            assert_eq!(s.timestamps, *want, "{ts:?} {status:?}");
            assert_eq!(
                (s.ok, s.incomplete, s.error.as_deref()),
                (*ok, *incomplete, *error),
                "{ts:?} {status:?}"
            );
            assert_eq!(s.newest(), want.last().copied());
        }
    }

    #[test]
    fn details_and_zones() {
        let d = "{\n \"name\": \"l\",\n \"database\": \"ops\",\n \"backup_time\": 1767225600000,\n \"backup_objects\": {}\n}";
        assert_eq!(backup_time_ms(d), Some(1_767_225_600_000));
        assert_eq!(backup_time_ms("{}"), None);
        assert_eq!(backup_time_ms("not json"), None);
        assert_eq!(
            datetime_in_zone(1_767_225_600_000, 0).as_deref(),
            Some("2026-01-01 00:00:00")
        );
        assert_eq!(
            datetime_in_zone(1_767_225_600_000, 8 * 3600).as_deref(),
            Some("2026-01-01 08:00:00")
        );
        for (now, utc, want) in [
            ("2026-01-01 08:00:00", "2026-01-01 00:00:00", Some(28800)),
            ("2026-01-01 00:00:01", "2026-01-01 00:00:00", Some(0)),
            ("2025-12-31 19:00:00", "2026-01-01 00:00:00", Some(-18000)),
            ("2026-01-01 05:30:00.0", "2026-01-01 00:00:00", Some(19800)),
            ("garbage", "2026-01-01 00:00:00", None),
        ] {
            assert_eq!(zone_offset_s(now, utc), want, "{now} {utc}");
        }
    }
}
