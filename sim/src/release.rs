//! The StarRocks release the simulator plays, and every behaviour that depends on it (one place,
//! so a test picks a release and gets that release's handshake, errnos, tables and texts).

use chrono::FixedOffset;

/// A StarRocks release `major.minor.patch` (e.g. 3.3.5). Ordered, so `r >= Release::new(3, 4, 0)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Release {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl Release {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Release {
        Release {
            major,
            minor,
            patch,
        }
    }

    /// Parses `3.3.5`, `3.3` or `3.3.x` (`x` and a missing patch mean 0); `-suffix` is ignored.
    pub fn parse(s: &str) -> Option<Release> {
        let core = s.trim().split(['-', ' ']).next()?;
        let mut it = core.split('.');
        let major = it.next()?.parse().ok()?;
        let minor = it.next()?.parse().ok()?;
        let patch = match it.next() {
            None | Some("x") => 0,
            Some(p) => p.parse().ok()?,
        };
        Some(Release::new(major, minor, patch))
    }

    fn at_least(self, major: u32, minor: u32) -> bool {
        self >= Release::new(major, minor, 0)
    }

    /// The MySQL handshake version: `5.1.0` up to 3.3, `8.0.33` from 3.4 (STARROCKS.md §5).
    pub fn handshake(self) -> &'static str {
        if self.at_least(3, 4) {
            "8.0.33"
        } else {
            "5.1.0"
        }
    }

    /// `information_schema.partitions_meta`: 3.3.0+, backported to 3.1.9+ and 3.2.4+ (STARROCKS.md §6).
    pub fn has_partitions_meta(self) -> bool {
        self.at_least(3, 3)
            || (self.major == 3 && self.minor == 2 && self.patch >= 4)
            || (self.major == 3 && self.minor == 1 && self.patch >= 9)
    }

    /// Unknown database / table: 5501 / 5502 from 3.3, 1049 / 1051 before (STARROCKS.md §3).
    pub fn new_errnos(self) -> bool {
        self.at_least(3, 3)
    }

    /// COM_STMT_PREPARE of a SELECT works from 3.2 (STARROCKS.md §5).
    pub fn prepared_select(self) -> bool {
        self.at_least(3, 2)
    }

    /// RESTORE creates a missing target database from 3.4 (STARROCKS.md §1).
    pub fn restore_creates_database(self) -> bool {
        self.at_least(3, 4)
    }

    /// LIST partitioning exists from 3.1.
    pub fn has_list_partitions(self) -> bool {
        self.at_least(3, 1)
    }

    /// DROP SNAPSHOT, BACKUP's `ttl` and SHOW SNAPSHOT's ClusterId/FinishTime/TTL/ExpireTime: 4.2
    /// (PR #78092; the patch release that ships it is unverified, STARROCKS.md §6).
    pub fn has_drop_snapshot(self) -> bool {
        self.at_least(4, 2)
    }

    /// `ALTER TABLE t DISTRIBUTED BY HASH(k) DEFAULT BUCKETS n`: only new partitions' default
    /// (#63795, 2025-10, in branch-4.1; StarRocks.g4 `alterModifyDefaultBuckets`).
    pub fn has_default_buckets(self) -> bool {
        self.at_least(4, 1)
    }

    /// BACKUP's analyzer refuses LIST-partitioned tables on 3.1–3.3 (#27551, removed by #51993).
    pub fn backup_refuses_list(self) -> bool {
        self.at_least(3, 1) && !self.at_least(3, 4)
    }

    /// The zone SHOW BACKUP / SHOW RESTORE / SHOW PARTITIONS times are rendered in: fixed +08:00
    /// from 4.1 (#66360, TimeUtils.TIME_ZONE), the session zone before (None).
    pub fn fixed_show_zone(self) -> Option<FixedOffset> {
        if self.at_least(4, 1) {
            FixedOffset::east_opt(8 * 3600)
        } else {
            None
        }
    }

    /// The strict-mode INSERT error when the BE filtered rows (a string longer than its column):
    /// StmtExecutor's text before #49978 (3.4) and after; errno 1064 (MysqlErrPacket default).
    pub fn filtered_insert_error(self, txn_id: u64, job_id: u64) -> String {
        let tracking = format!(
            "select tracking_log from information_schema.load_tracking_logs where job_id={job_id}"
        );
        if self.at_least(3, 4) {
            format!("Insert has filtered data, txn_id = {txn_id}, tracking sql = {tracking}")
        } else {
            format!("Insert has filtered data in strict mode, txn_id = {txn_id} tracking sql = {tracking}")
        }
    }
}

impl std::fmt::Display for Release {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_per_release() {
        let r = |s| Release::parse(s).unwrap();
        assert_eq!(r("3.3.x"), Release::new(3, 3, 0));
        assert_eq!(r("4.1.2-abc"), Release::new(4, 1, 2));
        assert!(Release::parse("nope").is_none());
        assert_eq!(r("3.3.9").handshake(), "5.1.0");
        assert_eq!(r("3.4.0").handshake(), "8.0.33");
        assert!(!r("3.1.8").has_partitions_meta());
        assert!(r("3.1.9").has_partitions_meta());
        assert!(!r("3.2.3").has_partitions_meta());
        assert!(r("3.2.4").has_partitions_meta());
        assert!(!r("3.0.9").has_partitions_meta());
        assert!(!r("2.5.22").has_partitions_meta());
        assert!(r("3.3.0").new_errnos() && !r("3.2.9").new_errnos());
        assert!(r("3.3.5").backup_refuses_list() && !r("3.4.0").backup_refuses_list());
        assert!(!r("3.0.1").backup_refuses_list());
        assert!(r("4.1.0").fixed_show_zone().is_some() && r("4.0.9").fixed_show_zone().is_none());
    }
}
