//! Reading SHOW SNAPSHOT's Timestamp/Status (Repository.getSnapshotInfo, STARROCKS.md §6): the
//! Timestamp cell joins the info files' timestamps with `\n`, and files whose names do not decode
//! appear as `Invalid: <file>`; a failed storage listing answers Timestamp NULL and
//! `ERROR: Failed to get info: <error>`, which says nothing about the snapshot itself.

/// One SHOW SNAPSHOT row of a label, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listing {
    /// The repository was listed: the real timestamps (sorted) and whether Status was `OK`.
    Listed { timestamps: Vec<String>, ok: bool },
    /// The listing failed (transient storage error): read again later.
    Failed(String),
}

impl Listing {
    pub fn read(timestamp: Option<&str>, status: &str) -> Listing {
        let status = status.trim();
        if status.starts_with("ERROR: Failed to get info") {
            return Listing::Failed(status.to_string());
        }
        let mut timestamps: Vec<String> = timestamp
            .unwrap_or_default()
            .split('\n')
            .map(str::trim)
            .filter(|t| is_backup_timestamp(t))
            .map(String::from)
            .collect();
        timestamps.sort();
        timestamps.dedup();
        Listing::Listed {
            ok: status == "OK" && !timestamps.is_empty(),
            timestamps,
        }
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

    #[test]
    fn listings() {
        let cases: &[(Option<&str>, &str, Listing)] = &[
            (
                Some("2026-01-01-00-00-05-123"),
                "OK",
                Listing::Listed { timestamps: vec!["2026-01-01-00-00-05-123".into()], ok: true },
            ),
            (
                Some("Invalid: __info_2026-01-01-00-00-00.part\n2026-01-01-00-00-05-123\nInvalid: __info_x"),
                "OK",
                Listing::Listed { timestamps: vec!["2026-01-01-00-00-05-123".into()], ok: true },
            ),
            (
                Some("Invalid: __info_junk"),
                "OK",
                Listing::Listed { timestamps: vec![], ok: false },
            ),
            (
                Some("2026-01-02-00-00-00-000\n2026-01-01-00-00-00-000"),
                "OK",
                Listing::Listed {
                    timestamps: vec!["2026-01-01-00-00-00-000".into(), "2026-01-02-00-00-00-000".into()],
                    ok: true,
                },
            ),
            (Some(""), "ERROR: no snapshot", Listing::Listed { timestamps: vec![], ok: false }),
            (
                None,
                "ERROR: Failed to get info: connection reset",
                Listing::Failed("ERROR: Failed to get info: connection reset".into()),
            ),
        ];
        for (ts, status, want) in cases {
            assert_eq!(&Listing::read(*ts, status), want, "{ts:?} {status}");
        }
        assert!(is_backup_timestamp("2026-01-01-00-00-05"));
        assert!(!is_backup_timestamp("2026-01-01 00:00:05"));
    }
}
