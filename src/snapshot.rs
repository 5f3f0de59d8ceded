//! Reading SHOW SNAPSHOT's Timestamp/Status (Repository.getSnapshotInfo, STARROCKS.md §6): the
//! Timestamp cell joins the info files' timestamps with `\n`, and files whose names do not decode
//! appear as `Invalid: <file>`; a failed storage listing answers Timestamp NULL and
//! `ERROR: Failed to get info: <error>`, which says nothing about the snapshot itself.

use serde::Serialize;

/// One row of `SHOW SNAPSHOT ON repo` (Snapshot, Timestamp, Status), read: the one parser the
/// backup runner, recover and history_check share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listing {
    pub label: String,
    /// Decoded timestamps only (`Invalid: <file>` entries dropped, STARROCKS.md §6), oldest first.
    pub timestamps: Vec<String>,
    /// Status `OK` (some info file exists).
    pub ok: bool,
    /// Status `ERROR: no snapshot`: the directory exists without an info file (half-written).
    pub incomplete: bool,
    /// Any other status (`ERROR: Failed to get info: ...`, NULL): the listing of this label failed,
    /// which proves nothing about the snapshot; the text as the FE gave it. Read again later.
    pub error: Option<String>,
}

impl Listing {
    /// From the Snapshot / Timestamp / Status cells.
    pub fn parse(label: &str, timestamps: Option<&str>, status: Option<&str>) -> Listing {
        let status = status.map(str::trim);
        let mut ts: Vec<String> = timestamps
            .unwrap_or_default()
            .split('\n')
            .map(str::trim)
            .filter(|t| is_backup_timestamp(t))
            .map(str::to_string)
            .collect();
        // `yyyy-MM-dd-HH-mm-ss-SSS` sorts as text
        ts.sort();
        ts.dedup();
        let ok = status == Some("OK");
        let incomplete = status == Some("ERROR: no snapshot");
        Listing {
            label: label.to_string(),
            timestamps: ts,
            ok,
            incomplete,
            error: (!ok && !incomplete).then(|| status.unwrap_or("NULL status").to_string()),
        }
    }

    /// The row of a label already known (the backup runner's form of [`Listing::parse`]).
    pub fn read(timestamp: Option<&str>, status: &str) -> Listing {
        Listing::parse("", timestamp, Some(status))
    }

    /// Status `OK` with a decoded timestamp: a snapshot RESTORE can name.
    pub fn restorable(&self) -> bool {
        self.ok && !self.timestamps.is_empty()
    }

    /// The newest decoded timestamp (the one a finished job wrote last).
    pub fn newest(&self) -> Option<&str> {
        self.timestamps.last().map(String::as_str)
    }
}

/// `yyyy-MM-dd-HH-mm-ss[-SSS]`: the only form RESTORE's `backup_timestamp` takes.
pub fn is_backup_timestamp(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let widths: &[usize] = match parts.len() {
        6 => &[4, 2, 2, 2, 2, 2],
        7 => &[4, 2, 2, 2, 2, 2, 3],
        _ => return false,
    };
    parts
        .iter()
        .zip(widths)
        .all(|(p, w)| p.len() == *w && p.bytes().all(|b| b.is_ascii_digit()))
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
            // undecodable info files before and after a real one (Repository.java:633)
            (
                Some("Invalid: __info_2026-01-03-00-00-10-000.part\n2026-01-01-00-00-10-000\nInvalid: __info_x"),
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
            let s = Listing::parse("l", *ts, *status);
            assert_eq!(s.timestamps, *want, "{ts:?} {status:?}");
            assert_eq!(
                (s.ok, s.incomplete, s.error.as_deref()),
                (*ok, *incomplete, *error),
                "{ts:?} {status:?}"
            );
            assert_eq!(s.newest(), want.last().copied());
            assert_eq!(s.restorable(), *ok && !want.is_empty());
            if let Some(st) = status {
                let r = Listing::read(*ts, st);
                assert_eq!((r.timestamps, r.error), (s.timestamps, s.error));
            }
        }
        assert!(is_backup_timestamp("2026-01-01-00-00-05"));
        assert!(is_backup_timestamp("2026-01-01-00-00-05-123"));
        assert!(!is_backup_timestamp("2026-01-01 00:00:05"));
        assert!(!is_backup_timestamp("Invalid: __info_x"));
    }
}
