//! What the tool must know about the cluster before planning, read once per run: the StarRocks
//! release (`SELECT current_version()`), the shared-data refusal (`run_mode`), and the session
//! zone's offset, so FE-formatted job times (fixed +08:00 on 4.1, STARROCKS.md §6) are converted
//! by the release's rule instead of being trusted.

use chrono::{Duration, NaiveDateTime};
use tracing::{debug, info, warn};

use crate::cluster::{Cluster, SqlError};
use crate::config::Config;
use crate::error::BbrError;

/// A StarRocks release `major.minor.patch`, ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
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

    /// Parses `current_version()`'s answer, e.g. `3.3.5-5d3a4d1` or `4.1.0`.
    pub fn parse(s: &str) -> Option<Release> {
        let core = s.trim().split(['-', ' ']).next()?;
        let mut it = core.split('.');
        let major = it.next()?.trim().parse().ok()?;
        let minor = it.next()?.trim().parse().ok()?;
        let patch = it
            .next()
            .map(|p| {
                p.chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
            })
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        Some(Release::new(major, minor, patch))
    }

    /// 3.1–3.3 refuse BACKUP of LIST-partitioned tables (#27551, lifted in 3.4 by #51993).
    pub fn refuses_list_backup(self) -> bool {
        self >= Release::new(3, 1, 0) && self < Release::new(3, 4, 0)
    }

    /// Where this release stands against the releases the tool was built and tested for
    /// (SPEC: 2.5–4.1; 4.2 adds DROP SNAPSHOT, which `expire` detects from the cluster).
    pub fn support(self) -> Support {
        if self < Release::new(2, 5, 0) {
            Support::TooOld
        } else if self >= Release::new(4, 3, 0) {
            Support::Newer
        } else {
            Support::Supported
        }
    }

    /// SHOW BACKUP/RESTORE times are rendered in a fixed +08:00 from 4.1 (#66360), in the
    /// session zone before.
    pub fn fixed_job_time_offset_s(self) -> Option<i32> {
        (self >= Release::new(4, 1, 0)).then_some(8 * 3600)
    }
}

impl std::fmt::Display for Release {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// [`Release::support`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    Supported,
    /// Before 2.5: BACKUP/RESTORE and the metadata the tool reads differ; not supported.
    TooOld,
    /// After the newest release read from the FE source: may work, not verified.
    Newer,
}

/// One line for `check` and the logs: what the release means for this tool.
pub fn support_text(r: Release) -> String {
    match r.support() {
        Support::Supported => format!("StarRocks {r}, a supported release (2.5 to 4.2)"),
        Support::TooOld => format!(
            "StarRocks {r} is older than 2.5, the oldest release this tool supports; upgrade the cluster"
        ),
        Support::Newer => format!(
            "StarRocks {r} is newer than the releases this tool was verified against (2.5 to 4.2); run a dry run and check the plan before relying on it"
        ),
    }
}

/// What a run knows about the cluster it talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClusterInfo {
    /// None when `current_version()` could not be read or parsed (rules then assume nothing).
    pub release: Option<Release>,
    /// The session time zone's offset from UTC in seconds (`NOW()` − `UTC_TIMESTAMP()`).
    pub session_offset_s: i32,
}

impl ClusterInfo {
    /// What to add to an FE-formatted SHOW BACKUP/RESTORE time to get it in the session zone
    /// (the zone of NOW(), `--timestamp` and every time the history stores).
    pub fn job_time_shift(&self) -> Duration {
        match self.release.and_then(Release::fixed_job_time_offset_s) {
            Some(fe) => Duration::seconds(i64::from(self.session_offset_s) - i64::from(fe)),
            None => Duration::zero(),
        }
    }

    /// An FE-formatted job time converted to the session zone.
    pub fn job_time_in_session(&self, fe_time: NaiveDateTime) -> NaiveDateTime {
        fe_time + self.job_time_shift()
    }

    /// Whether this release refuses BACKUP of LIST tables (false when the release is unknown).
    pub fn refuses_list_backup(&self) -> bool {
        self.release.is_some_and(Release::refuses_list_backup)
    }

    /// Whether a changed LIST table must be backed up whole: from 3.4 BACKUP takes LIST tables,
    /// but RESTORE cannot add a partition to an existing one (RestoreJob), so its restore must
    /// come from one snapshot. An unknown release is treated the same way (the safe side).
    pub fn list_needs_whole_backup(&self) -> bool {
        !self.refuses_list_backup()
    }
}

/// Reads the release, refuses shared-data clusters (exit 2) and measures the session zone. Only
/// SELECT and ADMIN SHOW: safe in `--dry-run`.
pub fn detect(c: &mut Cluster, cfg: &Config) -> Result<ClusterInfo, BbrError> {
    let policy = crate::planner::idempotent(cfg);
    let release = match c.query_retry("SELECT current_version()", &policy) {
        Ok(rs) => {
            let text = rs.scalar().unwrap_or_default();
            let r = Release::parse(&text);
            match r {
                Some(r) if r.support() != Support::Supported => warn!("{}", support_text(r)),
                Some(r) => info!("StarRocks release {r} ({text})"),
                None => warn!("could not parse the StarRocks version {text:?}; release-specific rules are off"),
            }
            r
        }
        // Transient errors were retried; a server error left would turn every release rule
        // off (LIST refusal, 4.1 job times), so it stops the run instead (exit 2).
        Err(SqlError::Server { message, .. }) => {
            return Err(BbrError::usage(
                format!("could not read the StarRocks version (SELECT current_version() failed: {message})"),
                "check that the configured user may run SELECT current_version() on this cluster, then run again",
            ))
        }
        Err(e) => return Err(e.into_bbr("reading the StarRocks version")),
    };
    match c.query_retry("ADMIN SHOW FRONTEND CONFIG LIKE 'run_mode'", &policy) {
        Ok(rs) => {
            let mode = (0..rs.rows.len())
                .find(|&i| rs.get(i, "Key").as_deref() == Some("run_mode"))
                .and_then(|i| rs.get(i, "Value"))
                .unwrap_or_default();
            if mode.trim().eq_ignore_ascii_case("shared_data") {
                return Err(BbrError::usage(
                    "this StarRocks cluster runs in shared-data mode (run_mode = shared_data), which has no BACKUP or RESTORE",
                    "use starrocks-bbr with shared-nothing clusters only; back shared-data clusters up with their object storage's own tools",
                ));
            }
        }
        Err(SqlError::Server { message, .. }) => {
            debug!("could not read run_mode ({message}); assuming shared-nothing");
        }
        Err(e) => return Err(e.into_bbr("reading the cluster's run_mode")),
    }
    let rs = c
        .query_retry("SELECT NOW(), UTC_TIMESTAMP()", &policy)
        .map_err(|e| e.into_bbr("reading the session time zone"))?;
    let at = |i: usize| {
        rs.rows
            .first()
            .and_then(|r| r.get(i).cloned().flatten())
            .and_then(|s| crate::state::parse_time(&s))
    };
    let session_offset_s = match (at(0), at(1)) {
        // rounded to the quarter hour: the two values are read at the same instant, but keep a
        // second's skew from turning into an odd offset
        (Some(now), Some(utc)) => {
            i32::try_from(round_to_quarter_hour(now - utc).num_seconds()).unwrap_or(0)
        }
        _ => 0,
    };
    Ok(ClusterInfo {
        release,
        session_offset_s,
    })
}

/// Zone offsets are whole quarter hours: rounding keeps a few seconds between two clock reads
/// (or between sending a job and its CreateTime) from becoming an odd offset.
pub fn round_to_quarter_hour(d: Duration) -> Duration {
    let s = d.num_seconds();
    Duration::seconds(((s as f64 / 900.0).round() as i64) * 900)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn support_range() {
        let cases = [
            ("2.4.9", Support::TooOld),
            ("2.5.0", Support::Supported),
            ("3.3.5-5d3a4d1", Support::Supported),
            ("4.1.0", Support::Supported),
            ("4.2.1", Support::Supported),
            ("4.3.0", Support::Newer),
            ("5.0.0", Support::Newer),
        ];
        for (v, want) in cases {
            assert_eq!(Release::parse(v).unwrap().support(), want, "{v}");
        }
    }

    #[test]
    fn parse_and_rules() {
        let r = |s| Release::parse(s).unwrap();
        assert_eq!(r("3.3.5-5d3a4d1"), Release::new(3, 3, 5));
        assert_eq!(r("4.1.0"), Release::new(4, 1, 0));
        assert_eq!(r("3.2.4-rc01"), Release::new(3, 2, 4));
        assert_eq!(r("2.5"), Release::new(2, 5, 0));
        assert!(Release::parse("").is_none());
        assert!(Release::parse("abc").is_none());
        for (v, refuses) in [
            ("2.5.22", false),
            ("3.0.9", false),
            ("3.1.0", true),
            ("3.3.9", true),
            ("3.4.0", false),
            ("4.1.0", false),
        ] {
            assert_eq!(r(v).refuses_list_backup(), refuses, "{v}");
        }
    }

    #[test]
    fn job_times_follow_the_release_rule() {
        let t = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap();
        let at = |release: &str, offset: i32| ClusterInfo {
            release: Release::parse(release),
            session_offset_s: offset,
        };
        // 4.1 renders 00:00 UTC as 08:00 whatever the session zone
        assert_eq!(
            at("4.1.0", 0).job_time_in_session(t("2026-01-01 08:00:00")),
            t("2026-01-01 00:00:00")
        );
        assert_eq!(
            at("4.1.0", -5 * 3600).job_time_in_session(t("2026-01-01 08:00:00")),
            t("2025-12-31 19:00:00")
        );
        assert_eq!(
            at("4.1.0", 14 * 3600).job_time_in_session(t("2026-01-01 08:00:00")),
            t("2026-01-01 14:00:00")
        );
        // before 4.1 the FE already answers in the session zone
        assert_eq!(
            at("4.0.2", 3600).job_time_in_session(t("2026-01-01 08:00:00")),
            t("2026-01-01 08:00:00")
        );
        assert_eq!(ClusterInfo::default().job_time_shift(), Duration::zero());
    }
}
