//! Where a restore's RESTORE jobs write and how the result reaches its final name.
//!
//! From the FE source (docs/STARROCKS-NOTES.md "Rename, swap and RESTORE AS alias"): a RESTORE may
//! create a NEW table under any name (`AS alias`), but a partition-level RESTORE onto an EXISTING
//! table is cancelled unless that table bears the snapshot's own table name (the signature hashes
//! the name). So:
//! - one snapshot: the job writes a stage (`AS stage`) that one `ALTER TABLE stage RENAME name`
//!   (`--as`) or `ALTER TABLE t SWAP WITH stage` (`--replace`) puts in place; a cancelled job drops
//!   the table it created, and a run that dies leaves only its own stage (a new name per attempt), so
//!   the final name is never taken by a leftover;
//! - several snapshots: every job must write the snapshot's name `t`; links after the first add to
//!   the table the first created. When a later link fails, the partial table is renamed aside so
//!   the target name is left as it was (absent) and a rerun starts afresh. `--as` renames the
//!   complete table at the end; `--replace` cannot keep the live table beside it and is refused.

use serde::Serialize;

use crate::config::TableRef;

/// What `restore` was asked to do with the name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RestoreMode {
    /// Rebuild the table under its own name (which must be free).
    Plain,
    /// `--as NAME`: rebuild under another name in the same database.
    As(String),
    /// `--replace`: rebuild beside the existing table, then swap it in.
    Replace,
}

/// How the restored table reaches its final name once every link FINISHED.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Promote {
    /// `ALTER TABLE from RENAME to`.
    Rename { from: String, to: String },
    /// `ALTER TABLE live SWAP WITH stage`: the previous table is kept under `stage`'s name.
    Swap { live: String, stage: String },
}

/// The names a restore works with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Placement {
    pub mode: RestoreMode,
    /// The table the RESTORE jobs write (`AS work` when it is not the snapshot's table name).
    pub work: String,
    /// The name the restored table ends under.
    pub final_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promote: Option<Promote>,
    /// Several links: where a partial table is moved when a later link fails.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aside_on_failure: Option<String>,
}

/// `<table≤32>_bbr_<what>[_<suffix>]`: names the tool creates beside a table (≤ 64 characters).
pub fn side_name(table: &str, what: &str, suffix: Option<&str>) -> String {
    let base: String = table.chars().take(32).collect();
    match suffix {
        Some(s) => format!("{base}_bbr_{what}_{s}"),
        None => format!("{base}_bbr_{what}"),
    }
}

/// Why a mode cannot be planned (exit 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unplaceable(pub String);

/// Decides the names for `source` (the backed-up table) restored through `links` RESTORE jobs.
/// `suffix` is the run's per-attempt part (None in a dry run), so leftovers of a failed run never
/// collide with a rerun's names.
pub fn placement(
    mode: &RestoreMode,
    source: &TableRef,
    links: usize,
    target_stamp: &str,
    suffix: Option<&str>,
) -> Result<Placement, Unplaceable> {
    let t = source.table.clone();
    let aside = (links > 1).then(|| side_name(&t, "partial", suffix));
    let p = match mode {
        RestoreMode::Plain => Placement {
            mode: mode.clone(),
            work: t.clone(),
            final_name: t,
            promote: None,
            aside_on_failure: aside,
        },
        RestoreMode::As(n) if *n == t => Placement {
            mode: RestoreMode::Plain,
            work: t.clone(),
            final_name: t,
            promote: None,
            aside_on_failure: aside,
        },
        // staged too, so a run that dies mid-way never leaves NAME taken by its leftovers
        RestoreMode::As(n) if links == 1 => {
            let stage = side_name(n, target_stamp, suffix);
            Placement {
                mode: mode.clone(),
                work: stage.clone(),
                final_name: n.clone(),
                promote: Some(Promote::Rename {
                    from: stage,
                    to: n.clone(),
                }),
                aside_on_failure: None,
            }
        }
        RestoreMode::As(n) => Placement {
            mode: mode.clone(),
            work: t.clone(),
            final_name: n.clone(),
            promote: Some(Promote::Rename {
                from: t,
                to: n.clone(),
            }),
            aside_on_failure: aside,
        },
        RestoreMode::Replace if links == 1 => {
            let stage = side_name(&t, target_stamp, suffix);
            Placement {
                mode: mode.clone(),
                work: stage.clone(),
                final_name: t.clone(),
                promote: Some(Promote::Swap { live: t, stage }),
                aside_on_failure: None,
            }
        }
        RestoreMode::Replace => {
            return Err(Unplaceable(format!(
                "--replace needs a restore from one snapshot, but {source} at that time needs {links} RESTORE jobs: StarRocks restores partitions onto an existing table only when it bears the snapshot's table name, so the chain cannot be built beside the live {t}"
            )))
        }
    };
    Ok(p)
}

impl Placement {
    /// The `AS` name of the RESTORE's ON clause (None when the job writes the snapshot's name).
    pub fn alias(&self, source: &TableRef) -> Option<&str> {
        (self.work != source.table).then_some(self.work.as_str())
    }

    /// True when the jobs write the snapshot's own name while the final name is another: that name
    /// must be free too.
    pub fn works_under_source(&self, source: &TableRef) -> bool {
        self.work == source.table && self.final_name != source.table
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (mode, links) -> (work, final, promote, aside)
    type Case = (
        RestoreMode,
        usize,
        &'static str,
        &'static str,
        Option<Promote>,
        Option<&'static str>,
    );

    #[test]
    fn names_per_mode_and_chain_length() {
        let src = TableRef::parse("sales.orders").unwrap();
        let sx = Some("abc123");
        let stamp = "20260101120000";
        let as_n = RestoreMode::As("o2".into());
        let cases: Vec<Case> = vec![
            (RestoreMode::Plain, 1, "orders", "orders", None, None),
            (
                RestoreMode::Plain,
                2,
                "orders",
                "orders",
                None,
                Some("orders_bbr_partial_abc123"),
            ),
            (
                as_n.clone(),
                1,
                "o2_bbr_20260101120000_abc123",
                "o2",
                Some(Promote::Rename {
                    from: "o2_bbr_20260101120000_abc123".into(),
                    to: "o2".into(),
                }),
                None,
            ),
            (
                as_n.clone(),
                3,
                "orders",
                "o2",
                Some(Promote::Rename {
                    from: "orders".into(),
                    to: "o2".into(),
                }),
                Some("orders_bbr_partial_abc123"),
            ),
            (
                RestoreMode::Replace,
                1,
                "orders_bbr_20260101120000_abc123",
                "orders",
                Some(Promote::Swap {
                    live: "orders".into(),
                    stage: "orders_bbr_20260101120000_abc123".into(),
                }),
                None,
            ),
        ];
        for (mode, links, work, fin, promote, aside) in cases {
            let p = placement(&mode, &src, links, stamp, sx).unwrap();
            assert_eq!(p.work, work, "{mode:?} {links}");
            assert_eq!(p.final_name, fin, "{mode:?} {links}");
            assert_eq!(p.promote, promote, "{mode:?} {links}");
            assert_eq!(p.aside_on_failure.as_deref(), aside, "{mode:?} {links}");
        }
        assert!(placement(&RestoreMode::Replace, &src, 2, stamp, sx).is_err());
        // --as its own name is a plain restore
        let p = placement(&RestoreMode::As("orders".into()), &src, 1, stamp, sx).unwrap();
        assert_eq!(p.mode, RestoreMode::Plain);
        assert!(side_name(&"x".repeat(300), stamp, sx).len() <= 64);
    }
}
