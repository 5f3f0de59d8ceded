//! What recover reads beside the listing (the row parser itself is `crate::snapshot::Listing`):
//! with `WHERE SNAPSHOT = l AND TIMESTAMP = t` a SHOW SNAPSHOT row gains Database and Details
//! (Repository.java:641-668, BackupJobInfo.getBrief: JSON with `backup_time`, epoch ms), and the
//! session zone's offset that turns it into a cluster DATETIME.

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
