//! Restore-chain resolution: which snapshots, in which order, supply which partitions of one table
//! as of a point in time. Pure: history rows in, chain out — the restore planner renders it into steps.
//!
//! Lean manifests (DESIGN.md "Lean manifests"): a backup records, per table it touched, one
//! `ops.backup_tables` row and, in `ops.backup_partitions`, only what changed — the partitions in its
//! snapshot and a tombstone per partition dropped since the previous backup. A `complete` table row
//! (a whole-table snapshot, or any manifest written before schema version 2, which listed every
//! partition with the snapshot holding its data) describes the table on its own. So the table as of
//! a backup is the fold of its span: the latest complete record at or before it, then every later
//! delta up to it, newest row per partition winning and tombstones removing the partition. Each
//! partition then comes from the snapshot its winning row names (`source_label`).

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDateTime;

/// A row of `ops.backup_history`, as far as chain resolution needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupRecord {
    pub label: String,
    pub database: String,
    /// `"FINISHED"`, `"FAILED"` or `"RUNNING"`; only FINISHED backups are ever used.
    pub status: String,
    /// When StarRocks took the snapshot, in the cluster's session time zone (the zone of `--timestamp`).
    pub snapshot_at: Option<NaiveDateTime>,
    /// The exact SHOW SNAPSHOT timestamp RESTORE needs.
    pub backup_timestamp: Option<String>,
    /// The repository the snapshot was written to (its RESTORE reads from there).
    pub repository: String,
}

/// A row of `ops.backup_tables` for the table: this backup recorded something for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRecord {
    pub label: String,
    /// The backup's manifest lists every partition of the table (whole-table snapshot, or a
    /// manifest of the previous layout): a fold starts here.
    pub complete: bool,
}

/// A row of `ops.backup_partitions` for the table being restored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestRow {
    pub label: String,
    pub partition_name: String,
    pub partition_id: i64,
    pub visible_version: i64,
    pub replication_num: u32,
    pub source_label: String,
    /// In the snapshot of `label`. In a delta (not complete) record, a row not in the snapshot is a
    /// tombstone: the partition was dropped.
    pub in_snapshot: bool,
}

/// One RESTORE job of the chain.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ChainLink {
    pub label: String,
    pub backup_timestamp: String,
    pub snapshot_at: NaiveDateTime,
    /// Partitions this snapshot supplies, sorted by name.
    pub partitions: Vec<String>,
    /// The replication_num the partitions had when they were backed up.
    pub replication_num: u32,
    /// The repository holding the snapshot.
    pub repository: String,
}

/// The whole chain: RESTORE jobs oldest snapshot first.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Chain {
    /// The backup whose manifest describes the table at the target time.
    pub as_of_label: String,
    pub as_of: NaiveDateTime,
    pub links: Vec<ChainLink>,
}

/// The backups whose manifests, folded in order, describe one table as of one backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    pub as_of_label: String,
    pub as_of: NaiveDateTime,
    /// The complete record first, then the deltas, oldest first (a label's rank is its index).
    pub labels: Vec<String>,
}

impl Span {
    /// The rank of `label` in the fold (None: not part of it).
    pub fn rank(&self, label: &str) -> Option<u32> {
        self.labels
            .iter()
            .position(|l| l == label)
            .and_then(|i| u32::try_from(i).ok())
    }
}

/// Why no chain can be built; each names what the operator can do instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainError {
    /// No FINISHED backup holding the table was taken at or before the target.
    NothingAtOrBefore {
        target: NaiveDateTime,
        earliest: Option<NaiveDateTime>,
    },
    /// The manifest points at a snapshot that is not a usable FINISHED backup (history edited by hand?).
    BrokenChain {
        as_of_label: String,
        missing: String,
    },
}

impl std::fmt::Display for ChainError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChainError::NothingAtOrBefore {
                target,
                earliest: Some(e),
            } => write!(
                f,
                "no finished backup of the table was taken at or before {target}; the earliest restorable time is {e}"
            ),
            ChainError::NothingAtOrBefore {
                target,
                earliest: None,
            } => write!(
                f,
                "no finished backup of the table was taken at or before {target}; the table has no finished backup at all"
            ),
            ChainError::BrokenChain {
                as_of_label,
                missing,
            } => write!(
                f,
                "backup {as_of_label} needs partitions from snapshot {missing}, which is not a finished backup with a timestamp in the history (gone from the repository, or expired): this restore point is lost"
            ),
        }
    }
}

impl std::error::Error for ChainError {}

/// FINISHED backups with a snapshot time: label -> (snapshot_at, backup_timestamp, repository).
type Finished<'a> = BTreeMap<&'a str, (NaiveDateTime, Option<&'a str>, &'a str)>;

fn finished(backups: &[BackupRecord]) -> Finished<'_> {
    // A FINISHED row with a snapshot time may describe the table (be the as-of backup); only one that
    // also has a SHOW SNAPSHOT timestamp can supply data. A row without one is a manifest-only record
    // (the run saw partitions dropped and nothing else change): it fixes what existed, holds no data.
    backups
        .iter()
        .filter(|b| b.status == "FINISHED")
        .filter_map(|b| {
            let ts = b.backup_timestamp.as_deref().filter(|t| !t.is_empty());
            Some((
                b.label.as_str(),
                (b.snapshot_at?, ts, b.repository.as_str()),
            ))
        })
        .collect()
}

/// The span describing the table as of `target`: the latest FINISHED backup at or before it that
/// recorded the table, back to the latest complete record (none: the fold starts at the oldest
/// record, which a history written by this tool never needs).
pub fn span(
    backups: &[BackupRecord],
    tables: &[TableRecord],
    target: NaiveDateTime,
) -> Result<Span, ChainError> {
    // EXPIRED backups were FINISHED: they stay in the span (their rows and tombstones still
    // describe the table); a partition whose data only they held makes the chain broken.
    let fin: BTreeMap<&str, NaiveDateTime> = backups
        .iter()
        .filter(|b| b.status == "FINISHED" || b.status == "EXPIRED")
        .filter_map(|b| Some((b.label.as_str(), b.snapshot_at?)))
        .collect();
    let complete: BTreeSet<&str> = tables
        .iter()
        .filter(|t| t.complete)
        .map(|t| t.label.as_str())
        .collect();
    let mut candidates: Vec<(NaiveDateTime, &str)> = tables
        .iter()
        .filter_map(|t| fin.get(t.label.as_str()).map(|at| (*at, t.label.as_str())))
        .collect();
    candidates.sort();
    candidates.dedup();
    let upto: Vec<(NaiveDateTime, &str)> = candidates
        .iter()
        .copied()
        .filter(|(at, _)| *at <= target)
        .collect();
    let Some(&(as_of, as_of_label)) = upto.last() else {
        return Err(ChainError::NothingAtOrBefore {
            target,
            earliest: candidates.first().map(|(at, _)| *at),
        });
    };
    let start = upto
        .iter()
        .rposition(|(_, l)| complete.contains(l))
        .unwrap_or(0);
    Ok(Span {
        as_of_label: as_of_label.to_string(),
        as_of,
        labels: upto[start..].iter().map(|(_, l)| l.to_string()).collect(),
    })
}

/// One recorded fact about a partition in a fold: `rank` orders the records (newest wins).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ranked<K, V> {
    pub name: K,
    pub rank: u32,
    /// A tombstone: the partition was dropped by the backup of this rank.
    pub dropped: bool,
    pub value: V,
}

/// The fold of a span's rows: per partition name the newest record, unless that is a tombstone.
/// Sorted by name. Used both for restore chains and for the base of an incremental, so the two can
/// never disagree about what a backup recorded.
pub fn fold<K: Ord, V>(mut rows: Vec<Ranked<K, V>>) -> Vec<(K, V)> {
    rows.sort_by(|a, b| a.name.cmp(&b.name).then(b.rank.cmp(&a.rank)));
    rows.dedup_by(|later, first| later.name == first.name);
    rows.into_iter()
        .filter(|r| !r.dropped)
        .map(|r| (r.name, r.value))
        .collect()
}

/// Whether a manifest row of rank `rank` is a tombstone: not in the snapshot, in a delta record
/// (the complete record at rank 0 lists inherited partitions too).
pub fn is_tombstone(rank: u32, in_snapshot: bool) -> bool {
    rank > 0 && !in_snapshot
}

/// Resolves the chain for one table as of `target`. `backups` are the history rows of the table's
/// database, `tables` the table's `backup_tables` rows, `manifest` its manifest rows (at least those
/// of the span's labels; others and other statuses are filtered here).
pub fn resolve(
    backups: &[BackupRecord],
    tables: &[TableRecord],
    manifest: &[ManifestRow],
    target: NaiveDateTime,
) -> Result<Chain, ChainError> {
    let fin = finished(backups);
    let span = span(backups, tables, target)?;
    let ranked: Vec<Ranked<&str, &ManifestRow>> = manifest
        .iter()
        .filter_map(|m| {
            let rank = span.rank(&m.label)?;
            Some(Ranked {
                name: m.partition_name.as_str(),
                rank,
                dropped: is_tombstone(rank, m.in_snapshot),
                value: m,
            })
        })
        .collect();

    // Group the folded partitions by the snapshot that holds their data.
    let mut by_source: BTreeMap<&str, Vec<&ManifestRow>> = BTreeMap::new();
    for (_, row) in fold(ranked) {
        by_source
            .entry(row.source_label.as_str())
            .or_default()
            .push(row);
    }

    let mut links = Vec::with_capacity(by_source.len());
    for (source, rows) in by_source {
        let Some((at, Some(ts), repo)) = fin.get(source) else {
            return Err(ChainError::BrokenChain {
                as_of_label: span.as_of_label.clone(),
                missing: source.to_string(),
            });
        };
        let mut partitions: Vec<String> = rows.iter().map(|r| r.partition_name.clone()).collect();
        partitions.sort();
        partitions.dedup();
        links.push(ChainLink {
            label: source.to_string(),
            backup_timestamp: ts.to_string(),
            snapshot_at: *at,
            partitions,
            // One RESTORE per snapshot: partitions of one table share the table's replication_num in
            // practice; if they ever differ, the larger keeps every partition at least as safe.
            replication_num: rows.iter().map(|r| r.replication_num).max().unwrap_or(1),
            repository: repo.to_string(),
        });
    }
    links.sort_by(|a, b| (a.snapshot_at, &a.label).cmp(&(b.snapshot_at, &b.label)));

    Ok(Chain {
        as_of_label: span.as_of_label,
        as_of: span.as_of,
        links,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::rolling;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn t(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    fn backup(label: &str, status: &str, at: &str) -> BackupRecord {
        BackupRecord {
            label: label.into(),
            database: "sales".into(),
            status: status.into(),
            snapshot_at: Some(t(at)),
            backup_timestamp: Some(format!("ts-{label}")),
            repository: "repo".into(),
        }
    }

    fn row(label: &str, p: &str, id: i64, v: i64, source: &str) -> ManifestRow {
        ManifestRow {
            label: label.into(),
            partition_name: p.into(),
            partition_id: id,
            visible_version: v,
            replication_num: 1,
            source_label: source.into(),
            in_snapshot: label == source,
        }
    }

    fn tombstone(label: &str, p: &str) -> ManifestRow {
        ManifestRow {
            in_snapshot: false,
            source_label: String::new(),
            ..row(label, p, 0, 0, label)
        }
    }

    fn records(labels: &[(&str, bool)]) -> Vec<TableRecord> {
        labels
            .iter()
            .map(|(l, c)| TableRecord {
                label: l.to_string(),
                complete: *c,
            })
            .collect()
    }

    /// Previous layout (every partition listed, all records complete): full at t0 (p1,p2,p3),
    /// incr at t1 (p2 changed), incr at t2 (p3 changed, p1 dropped).
    fn history() -> (Vec<BackupRecord>, Vec<TableRecord>, Vec<ManifestRow>) {
        let backups = vec![
            backup("full0", "FINISHED", "2026-01-01 00:00:00"),
            backup("incr1", "FINISHED", "2026-01-02 00:00:00"),
            backup("incr2", "FINISHED", "2026-01-03 00:00:00"),
        ];
        let manifest = vec![
            row("full0", "p1", 1, 2, "full0"),
            row("full0", "p2", 2, 2, "full0"),
            row("full0", "p3", 3, 2, "full0"),
            row("incr1", "p1", 1, 2, "full0"),
            row("incr1", "p2", 2, 3, "incr1"),
            row("incr1", "p3", 3, 2, "full0"),
            row("incr2", "p2", 2, 3, "incr1"),
            row("incr2", "p3", 3, 5, "incr2"),
        ];
        let tables = records(&[("full0", true), ("incr1", true), ("incr2", true)]);
        (backups, tables, manifest)
    }

    /// The same history in the lean layout: deltas and a tombstone.
    fn lean_history() -> (Vec<BackupRecord>, Vec<TableRecord>, Vec<ManifestRow>) {
        let (backups, _, _) = history();
        let manifest = vec![
            row("full0", "p1", 1, 2, "full0"),
            row("full0", "p2", 2, 2, "full0"),
            row("full0", "p3", 3, 2, "full0"),
            row("incr1", "p2", 2, 3, "incr1"),
            row("incr2", "p3", 3, 5, "incr2"),
            tombstone("incr2", "p1"),
        ];
        let tables = records(&[("full0", true), ("incr1", false), ("incr2", false)]);
        (backups, tables, manifest)
    }

    /// A test case: name, target time, expected (snapshot, partitions) links.
    type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a [&'a str])]);
    /// Partition name -> (id, version).
    type TableState = BTreeMap<String, (i64, i64)>;

    fn summary(chain: &Chain) -> Vec<(String, Vec<String>)> {
        chain
            .links
            .iter()
            .map(|l| (l.label.clone(), l.partitions.clone()))
            .collect()
    }

    #[test]
    fn chains_for_each_target_time_in_both_layouts() {
        let cases: &[Case] = &[
            (
                "exactly at the full",
                "2026-01-01 00:00:00",
                &[("full0", &["p1", "p2", "p3"])],
            ),
            (
                "between full and incr1",
                "2026-01-01 12:00:00",
                &[("full0", &["p1", "p2", "p3"])],
            ),
            (
                "between incr1 and incr2",
                "2026-01-02 12:00:00",
                &[("full0", &["p1", "p3"]), ("incr1", &["p2"])],
            ),
            (
                "after incr2: p1 was dropped and is not resurrected",
                "2026-02-01 00:00:00",
                &[("incr1", &["p2"]), ("incr2", &["p3"])],
            ),
        ];
        for (layout, (backups, tables, manifest)) in
            [("previous", history()), ("lean", lean_history())]
        {
            for (name, target, want) in cases {
                let chain = resolve(&backups, &tables, &manifest, t(target)).unwrap();
                let want: Vec<(String, Vec<String>)> = want
                    .iter()
                    .map(|(l, ps)| (l.to_string(), ps.iter().map(|p| p.to_string()).collect()))
                    .collect();
                assert_eq!(summary(&chain), want, "{layout}: {name}");
            }
        }
    }

    #[test]
    fn a_lean_delta_after_a_previous_layout_record_folds_onto_it() {
        // Upgrade: full0..incr2 written by the previous release, then a lean delta.
        let (mut backups, mut tables, mut manifest) = history();
        backups.push(backup("incr3", "FINISHED", "2026-01-04 00:00:00"));
        tables.push(TableRecord {
            label: "incr3".into(),
            complete: false,
        });
        manifest.push(row("incr3", "p4", 4, 1, "incr3"));
        manifest.push(tombstone("incr3", "p3"));
        let chain = resolve(&backups, &tables, &manifest, t("2026-02-01 00:00:00")).unwrap();
        assert_eq!(
            summary(&chain),
            vec![
                ("incr1".into(), vec!["p2".into()]),
                ("incr3".into(), vec!["p4".into()])
            ]
        );
        assert_eq!(
            span(&backups, &tables, t("2026-02-01 00:00:00"))
                .unwrap()
                .labels,
            vec!["incr2".to_string(), "incr3".to_string()]
        );
    }

    #[test]
    fn links_name_the_repository_of_their_snapshot() {
        let (mut backups, tables, manifest) = lean_history();
        backups[2].repository = "repo2".into();
        let chain = resolve(&backups, &tables, &manifest, t("2026-02-01 00:00:00")).unwrap();
        let repos: Vec<&str> = chain.links.iter().map(|l| l.repository.as_str()).collect();
        assert_eq!(repos, vec!["repo", "repo2"]);
    }

    #[test]
    fn failed_and_running_backups_are_never_used() {
        let (mut backups, mut tables, mut manifest) = lean_history();
        backups.push(backup("incr3", "FAILED", "2026-01-04 00:00:00"));
        backups.push(backup("incr4", "RUNNING", "2026-01-05 00:00:00"));
        for l in ["incr3", "incr4"] {
            manifest.push(row(l, "p2", 2, 9, l));
            manifest.push(row(l, "p3", 3, 9, l));
            tables.push(TableRecord {
                label: l.into(),
                complete: false,
            });
        }
        let chain = resolve(&backups, &tables, &manifest, t("2026-02-01 00:00:00")).unwrap();
        assert_eq!(chain.as_of_label, "incr2");
        assert_eq!(
            summary(&chain),
            vec![
                ("incr1".into(), vec!["p2".into()]),
                ("incr2".into(), vec!["p3".into()])
            ]
        );
    }

    #[test]
    fn too_early_names_the_earliest_restorable_time() {
        let (backups, tables, manifest) = lean_history();
        let err = resolve(&backups, &tables, &manifest, t("2025-12-31 00:00:00")).unwrap_err();
        assert_eq!(
            err,
            ChainError::NothingAtOrBefore {
                target: t("2025-12-31 00:00:00"),
                earliest: Some(t("2026-01-01 00:00:00"))
            }
        );
        assert!(err
            .to_string()
            .contains("earliest restorable time is 2026-01-01 00:00:00"));
    }

    #[test]
    fn a_manifest_pointing_at_a_failed_snapshot_is_a_broken_chain() {
        let (mut backups, tables, manifest) = history();
        backups[1].status = "FAILED".into();
        let err = resolve(&backups, &tables, &manifest, t("2026-02-01 00:00:00")).unwrap_err();
        assert!(
            matches!(err, ChainError::BrokenChain { ref missing, .. } if missing == "incr1"),
            "{err:?}"
        );
    }

    #[test]
    fn a_manifest_only_record_fixes_what_existed_but_supplies_nothing() {
        let (mut backups, mut tables, mut manifest) = lean_history();
        // After incr2, p2 is dropped and nothing else changes: the run records the tombstone only.
        backups.push(BackupRecord {
            backup_timestamp: None,
            ..backup("meta3", "FINISHED", "2026-01-04 00:00:00")
        });
        tables.push(TableRecord {
            label: "meta3".into(),
            complete: false,
        });
        manifest.push(tombstone("meta3", "p2"));
        let chain = resolve(&backups, &tables, &manifest, t("2026-02-01 00:00:00")).unwrap();
        assert_eq!(chain.as_of_label, "meta3");
        assert_eq!(summary(&chain), vec![("incr2".into(), vec!["p3".into()])]);
        // A manifest that names a manifest-only record as a source is broken.
        manifest.push(row("meta3", "p9", 9, 1, "meta3"));
        let err = resolve(&backups, &tables, &manifest, t("2026-02-01 00:00:00")).unwrap_err();
        assert!(
            matches!(err, ChainError::BrokenChain { ref missing, .. } if missing == "meta3"),
            "{err:?}"
        );
    }

    #[test]
    fn an_expired_backup_in_the_span_still_counts_and_breaks_only_a_chain_that_needs_its_data() {
        let (mut backups, tables, manifest) = lean_history();
        backups[1].status = "EXPIRED".into();
        // p2's data is only in incr1: a restore after it needs it
        let err = resolve(&backups, &tables, &manifest, t("2026-02-01 00:00:00")).unwrap_err();
        assert!(
            matches!(err, ChainError::BrokenChain { ref missing, .. } if missing == "incr1"),
            "{err:?}"
        );
        // incr2's tombstone (p1) and data still apply after an expired incr2 is superseded
        let (mut backups, mut tables, mut manifest) = lean_history();
        backups[2].status = "EXPIRED".into();
        backups.push(backup("incr3", "FINISHED", "2026-01-04 00:00:00"));
        tables.push(TableRecord {
            label: "incr3".into(),
            complete: false,
        });
        manifest.push(row("incr3", "p3", 3, 6, "incr3"));
        let chain = resolve(&backups, &tables, &manifest, t("2026-02-01 00:00:00")).unwrap();
        assert_eq!(
            summary(&chain),
            vec![
                ("incr1".into(), vec!["p2".into()]),
                ("incr3".into(), vec!["p3".into()])
            ]
        );
    }

    #[test]
    fn a_backup_without_the_table_is_not_a_candidate() {
        let (mut backups, tables, manifest) = lean_history();
        // A later backup of the same database that did not record this table.
        backups.push(backup("other", "FINISHED", "2026-01-10 00:00:00"));
        let chain = resolve(&backups, &tables, &manifest, t("2026-02-01 00:00:00")).unwrap();
        assert_eq!(chain.as_of_label, "incr2");
    }

    /// A tiny model of a table and of the backup tool's recording rule (lean manifests, rolling
    /// fulls), to check the chain end to end: restoring the chain must yield exactly the partitions
    /// (and versions) of the latest backup at or before the target — never a dropped partition,
    /// never an older version — and no restore point may need more than `max_jobs` RESTORE jobs.
    #[derive(Debug, Clone)]
    enum Op {
        Load(u8),
        Truncate(u8),
        Drop(u8),
        Add(u8),
        SchemaChange,
        Backup(bool),
        /// A FINISHED snapshot vanishes from the repository (server-side TTL, manual deletion);
        /// odd: `expire` then marks its row EXPIRED.
        Vanish(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u8..6).prop_map(Op::Load),
            1 => (0u8..6).prop_map(Op::Truncate),
            1 => (0u8..6).prop_map(Op::Drop),
            1 => (0u8..6).prop_map(Op::Add),
            1 => Just(Op::SchemaChange),
            3 => any::<bool>().prop_map(Op::Backup),
            1 => any::<u8>().prop_map(Op::Vanish),
        ]
    }

    /// The table as of the newest FINISHED backup, as the planner folds it: name -> (id, version, source).
    fn base_state(
        backups: &[BackupRecord],
        tables: &[TableRecord],
        manifest: &[ManifestRow],
    ) -> Option<BTreeMap<String, (i64, i64, String)>> {
        let span = span(backups, tables, NaiveDateTime::MAX).ok()?;
        let ranked = manifest
            .iter()
            .filter_map(|m| {
                let rank = span.rank(&m.label)?;
                Some(Ranked {
                    name: m.partition_name.clone(),
                    rank,
                    dropped: is_tombstone(rank, m.in_snapshot),
                    value: (m.partition_id, m.visible_version, m.source_label.clone()),
                })
            })
            .collect();
        Some(fold(ranked).into_iter().collect())
    }

    proptest! {
        #[test]
        fn restoring_the_chain_reproduces_the_table_as_backed_up(
            ops in prop::collection::vec(op(), 1..60),
            probe in 0usize..90,
            max_jobs in 1usize..5,
            previous_layout in 0usize..4,
        ) {
            // name -> (id, version)
            let mut table: TableState = (0..3).map(|i| (format!("p{i}"), (i, 1))).collect();
            let mut next_id = 100;
            let mut schema_changed = false;
            let mut backups: Vec<BackupRecord> = Vec::new();
            let mut tables: Vec<TableRecord> = Vec::new();
            let mut manifest: Vec<ManifestRow> = Vec::new();
            let mut states: Vec<(NaiveDateTime, TableState)> = Vec::new();
            let mut clock = t("2026-01-01 00:00:00");
            let mut runs = 0usize;
            let mut vanished: BTreeSet<String> = BTreeSet::new();
            for (i, op) in ops.iter().enumerate() {
                clock += chrono::Duration::hours(1);
                match *op {
                    Op::Load(p) => { if let Some(e) = table.get_mut(&format!("p{p}")) { e.1 += 1; } }
                    Op::Truncate(p) => { if let Some(e) = table.get_mut(&format!("p{p}")) { next_id += 1; *e = (next_id, 1); } }
                    // A table keeps at least one partition: one with none has nothing to back up or restore.
                    Op::Drop(p) => { if table.len() > 1 { table.remove(&format!("p{p}")); } }
                    Op::Add(p) => { next_id += 1; table.entry(format!("p{p}")).or_insert((next_id, 1)); }
                    Op::SchemaChange => schema_changed = true,
                    Op::Vanish(k) => {
                        let present: Vec<usize> = (0..backups.len())
                            .filter(|&j| backups[j].status == "FINISHED" && backups[j].backup_timestamp.is_some())
                            .filter(|&j| !vanished.contains(&backups[j].label))
                            .collect();
                        if let Some(&j) = present.get(usize::from(k) % present.len().max(1)) {
                            vanished.insert(backups[j].label.clone());
                            if k % 2 == 1 { backups[j].status = "EXPIRED".into(); }
                        }
                    }
                    Op::Backup(succeeds) => {
                        let label = format!("b{i:03}");
                        runs += 1;
                        let base = base_state(&backups, &tables, &manifest);
                        let old_layout = runs <= previous_layout;
                        let changed: Vec<&String> = table.iter().filter(|(n, (id, v))| {
                            base.as_ref().and_then(|b| b.get(*n)).map(|(bid, bv, _)| (*bid, *bv)) != Some((*id, *v))
                        }).map(|(n, _)| n).collect();
                        let dropped: Vec<String> = base.iter().flat_map(|b| b.keys()).filter(|n| !table.contains_key(*n)).cloned().collect();
                        let unchanged_sources: Vec<&str> = base.iter().flat_map(|b| b.iter())
                            .filter(|(n, (id, v, _))| table.get(*n) == Some(&(*id, *v)))
                            .map(|(_, (_, _, s))| s.as_str())
                            .collect();
                        let jobs = rolling::jobs_if_incremental(unchanged_sources.iter().copied(), !changed.is_empty());
                        // the planner's own rule (bound, vanished snapshots)
                        let facts = rolling::TableFacts {
                            jobs_if_incremental: jobs,
                            chain_start: None,
                            repositories: Vec::new(),
                            changed: !changed.is_empty(),
                            missing: unchanged_sources.iter().filter(|s| vanished.contains(**s))
                                .map(|s| (s.to_string(), "repo".to_string())).collect(),
                        };
                        let bounds = rolling::Bounds { max_restore_jobs: max_jobs, full_every_days: 0, repository: "repo", force_full: false };
                        let whole = base.is_none() || schema_changed || rolling::forced_reason(&facts, &bounds, None).is_some();
                        if !whole && changed.is_empty() && dropped.is_empty() {
                            continue; // nothing changed: no record
                        }
                        let mut recorded_data = false;
                        for (name, (id, v)) in &table {
                            let in_snap = whole || changed.contains(&name);
                            let source = if in_snap { label.clone() } else {
                                base.as_ref().and_then(|b| b.get(name)).map(|b| b.2.clone()).unwrap_or_default()
                            };
                            recorded_data |= in_snap;
                            if in_snap || old_layout {
                                manifest.push(ManifestRow { label: label.clone(), partition_name: name.clone(), partition_id: *id, visible_version: *v, replication_num: 1, in_snapshot: in_snap, source_label: source });
                            }
                        }
                        if !whole && !old_layout {
                            for name in &dropped { manifest.push(tombstone(&label, name)); }
                        }
                        tables.push(TableRecord { label: label.clone(), complete: whole || old_layout });
                        backups.push(BackupRecord {
                            label: label.clone(), database: "db".into(),
                            status: if succeeds { "FINISHED" } else { "FAILED" }.into(),
                            snapshot_at: Some(clock),
                            backup_timestamp: recorded_data.then(|| format!("ts{i}")),
                            repository: "repo".into(),
                        });
                        if succeeds {
                            schema_changed = false;
                            states.push((clock, table.clone()));
                            // After a backup the newest restore point needs only present snapshots.
                            let newest = resolve(&backups, &tables, &manifest, clock);
                            prop_assert!(newest.is_ok(), "{:?}", newest);
                            for l in newest.iter().flat_map(|c| c.links.iter()) {
                                prop_assert!(!vanished.contains(&l.label), "the newest point needs vanished {}", l.label);
                            }
                        }
                    }
                }
            }
            let target = t("2026-01-01 00:00:00") + chrono::Duration::minutes(probe as i64 * 45);
            let expected = states.iter().rev().find(|(at, _)| *at <= target);
            match (resolve(&backups, &tables, &manifest, target), expected) {
                (Ok(chain), Some((_, want))) => {
                    prop_assert!(chain.links.len() <= max_jobs, "{} RESTORE jobs > {max_jobs}", chain.links.len());
                    // Replay the chain: each snapshot holds the partitions it backed up, at the recorded version.
                    let mut restored = TableState::new();
                    let mut seen = BTreeSet::new();
                    for link in &chain.links {
                        prop_assert!(seen.insert(link.label.clone()), "a snapshot restored twice");
                        for p in &link.partitions {
                            let held = manifest.iter().find(|m| m.label == link.label && &m.partition_name == p && m.in_snapshot);
                            let held = held.map(|m| (m.partition_id, m.visible_version));
                            prop_assert!(held.is_some(), "{} does not hold {}", link.label, p);
                            prop_assert!(restored.insert(p.clone(), held.unwrap_or_default()).is_none(), "{} restored twice", p);
                        }
                    }
                    prop_assert_eq!(&restored, want);
                    let order: Vec<_> = chain.links.iter().map(|l| l.snapshot_at).collect();
                    let mut sorted = order.clone();
                    sorted.sort();
                    prop_assert_eq!(order, sorted);
                }
                (Err(ChainError::NothingAtOrBefore { .. }), None) => {}
                // a point whose chain needs a snapshot expire marked EXPIRED is lost
                (Err(ChainError::BrokenChain { missing, .. }), Some(_)) if vanished.contains(&missing) => {}
                (got, want) => prop_assert!(false, "got {:?}, expected state {:?}", got, want),
            }
        }
    }
}
