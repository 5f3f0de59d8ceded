//! Restore-chain resolution: which snapshots, in which order, supply which partitions of one table
//! as of a point in time. Pure: history rows in, chain out — the restore planner renders it into steps.
//!
//! The rule comes from how backups are recorded. Every backup writes one manifest row per partition that
//! was in scope at that moment, with the label of the snapshot that holds that partition's data
//! (`source_label`: itself if it backed the partition up, else the snapshot it inherited it from). So the
//! latest FINISHED backup taken at or before the target time describes the table exactly as it was:
//! partitions dropped earlier have no row (they are not resurrected), a partition re-created with a new id
//! points at the snapshot holding the new id, and untouched partitions point back to the full backup.

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
}

/// The whole chain: RESTORE jobs oldest snapshot first.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Chain {
    /// The backup whose manifest describes the table at the target time.
    pub as_of_label: String,
    pub as_of: NaiveDateTime,
    pub links: Vec<ChainLink>,
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
                "backup {as_of_label} needs partitions from snapshot {missing}, which is not a finished backup with a timestamp in the history"
            ),
        }
    }
}

impl std::error::Error for ChainError {}

/// Resolves the chain for one table as of `target`. `backups` are the history rows of the table's
/// database; `manifest` the manifest rows of that table (any backup, any status — filtered here).
pub fn resolve(
    backups: &[BackupRecord],
    manifest: &[ManifestRow],
    target: NaiveDateTime,
) -> Result<Chain, ChainError> {
    // A FINISHED row with a snapshot time may describe the table (be the as-of backup); only one that
    // also has a SHOW SNAPSHOT timestamp can supply data. A row without one is a manifest-only record
    // (the run saw partitions dropped and nothing else change): it fixes what existed, holds no data.
    let finished: BTreeMap<&str, (NaiveDateTime, Option<&str>)> = backups
        .iter()
        .filter(|b| b.status == "FINISHED")
        .filter_map(|b| {
            let ts = b.backup_timestamp.as_deref().filter(|t| !t.is_empty());
            Some((b.label.as_str(), (b.snapshot_at?, ts)))
        })
        .collect();
    let holds_table: BTreeSet<&str> = manifest.iter().map(|m| m.label.as_str()).collect();
    let candidates = || {
        finished
            .iter()
            .filter(|(label, _)| holds_table.contains(*label))
            .map(|(label, (at, _))| (*at, *label))
    };

    let Some((as_of, as_of_label)) = candidates().filter(|(at, _)| *at <= target).max() else {
        return Err(ChainError::NothingAtOrBefore {
            target,
            earliest: candidates().map(|(at, _)| at).min(),
        });
    };

    // Group the as-of backup's partitions by the snapshot that holds their data.
    let mut by_source: BTreeMap<&str, Vec<&ManifestRow>> = BTreeMap::new();
    for row in manifest.iter().filter(|m| m.label == as_of_label) {
        by_source
            .entry(row.source_label.as_str())
            .or_default()
            .push(row);
    }

    let mut links = Vec::with_capacity(by_source.len());
    for (source, rows) in by_source {
        let Some((at, Some(ts))) = finished.get(source) else {
            return Err(ChainError::BrokenChain {
                as_of_label: as_of_label.to_string(),
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
        });
    }
    links.sort_by(|a, b| (a.snapshot_at, &a.label).cmp(&(b.snapshot_at, &b.label)));

    Ok(Chain {
        as_of_label: as_of_label.to_string(),
        as_of,
        links,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
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
        }
    }

    /// full at t0 (p1,p2,p3), incr at t1 (p2 changed), incr at t2 (p3 changed, p1 dropped).
    fn history() -> (Vec<BackupRecord>, Vec<ManifestRow>) {
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
        (backups, manifest)
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
    fn chains_for_each_target_time() {
        let (backups, manifest) = history();
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
        for (name, target, want) in cases {
            let chain = resolve(&backups, &manifest, t(target)).unwrap();
            let want: Vec<(String, Vec<String>)> = want
                .iter()
                .map(|(l, ps)| (l.to_string(), ps.iter().map(|p| p.to_string()).collect()))
                .collect();
            assert_eq!(summary(&chain), want, "{name}");
        }
    }

    #[test]
    fn failed_and_running_backups_are_never_used() {
        let (mut backups, mut manifest) = history();
        backups.push(backup("incr3", "FAILED", "2026-01-04 00:00:00"));
        backups.push(backup("incr4", "RUNNING", "2026-01-05 00:00:00"));
        for l in ["incr3", "incr4"] {
            manifest.push(row(l, "p2", 2, 9, l));
            manifest.push(row(l, "p3", 3, 9, l));
        }
        let chain = resolve(&backups, &manifest, t("2026-02-01 00:00:00")).unwrap();
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
        let (backups, manifest) = history();
        let err = resolve(&backups, &manifest, t("2025-12-31 00:00:00")).unwrap_err();
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
        let (mut backups, manifest) = history();
        backups[1].status = "FAILED".into();
        let err = resolve(&backups, &manifest, t("2026-02-01 00:00:00")).unwrap_err();
        assert!(
            matches!(err, ChainError::BrokenChain { ref missing, .. } if missing == "incr1"),
            "{err:?}"
        );
    }

    #[test]
    fn a_manifest_only_record_fixes_what_existed_but_supplies_nothing() {
        let (mut backups, mut manifest) = history();
        // After incr2, p2 is dropped and nothing else changes: the run records the manifest only.
        backups.push(BackupRecord {
            backup_timestamp: None,
            ..backup("meta3", "FINISHED", "2026-01-04 00:00:00")
        });
        manifest.push(row("meta3", "p3", 3, 5, "incr2"));
        let chain = resolve(&backups, &manifest, t("2026-02-01 00:00:00")).unwrap();
        assert_eq!(chain.as_of_label, "meta3");
        assert_eq!(summary(&chain), vec![("incr2".into(), vec!["p3".into()])]);
        // A manifest that names a manifest-only record as a source is broken.
        manifest.push(row("meta3", "p9", 9, 1, "meta3"));
        let err = resolve(&backups, &manifest, t("2026-02-01 00:00:00")).unwrap_err();
        assert!(
            matches!(err, ChainError::BrokenChain { ref missing, .. } if missing == "meta3"),
            "{err:?}"
        );
    }

    #[test]
    fn a_backup_without_the_table_is_not_a_candidate() {
        let (mut backups, manifest) = history();
        // A later backup of the same database that did not have this table in scope.
        backups.push(backup("other", "FINISHED", "2026-01-10 00:00:00"));
        let chain = resolve(&backups, &manifest, t("2026-02-01 00:00:00")).unwrap();
        assert_eq!(chain.as_of_label, "incr2");
    }

    /// A tiny model of a table and of the backup tool's recording rule, to check the chain end to end:
    /// restoring the chain must yield exactly the partitions (and versions) of the latest backup at or
    /// before the target — never a dropped partition, never an older version.
    #[derive(Debug, Clone)]
    enum Op {
        Load(u8),
        Truncate(u8),
        Drop(u8),
        Add(u8),
        SchemaChange,
        Backup(bool),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u8..6).prop_map(Op::Load),
            1 => (0u8..6).prop_map(Op::Truncate),
            1 => (0u8..6).prop_map(Op::Drop),
            1 => (0u8..6).prop_map(Op::Add),
            1 => Just(Op::SchemaChange),
            3 => any::<bool>().prop_map(Op::Backup),
        ]
    }

    proptest! {
        #[test]
        fn restoring_the_chain_reproduces_the_table_as_backed_up(ops in prop::collection::vec(op(), 1..40), probe in 0usize..60) {
            // name -> (id, version)
            let mut table: TableState = (0..3).map(|i| (format!("p{i}"), (i, 1))).collect();
            let mut next_id = 100;
            let mut schema_changed = false;
            let mut backups = Vec::new();
            let mut manifest: Vec<ManifestRow> = Vec::new();
            let mut states: Vec<(NaiveDateTime, TableState)> = Vec::new();
            let mut last_finished: Option<String> = None;
            let mut clock = t("2026-01-01 00:00:00");
            for (i, op) in ops.iter().enumerate() {
                clock += chrono::Duration::hours(1);
                match *op {
                    Op::Load(p) => { if let Some(e) = table.get_mut(&format!("p{p}")) { e.1 += 1; } }
                    Op::Truncate(p) => { if let Some(e) = table.get_mut(&format!("p{p}")) { next_id += 1; *e = (next_id, 1); } }
                    // A table keeps at least one partition: one with none has nothing to back up or restore.
                    Op::Drop(p) => { if table.len() > 1 { table.remove(&format!("p{p}")); } }
                    Op::Add(p) => { next_id += 1; table.entry(format!("p{p}")).or_insert((next_id, 1)); }
                    Op::SchemaChange => schema_changed = true,
                    Op::Backup(succeeds) => {
                        let label = format!("b{i:03}");
                        let base: BTreeMap<String, (i64, i64, String)> = match &last_finished {
                            Some(b) if !schema_changed => manifest.iter().filter(|m| &m.label == b)
                                .map(|m| (m.partition_name.clone(), (m.partition_id, m.visible_version, m.source_label.clone()))).collect(),
                            _ => BTreeMap::new(),
                        };
                        for (name, (id, v)) in &table {
                            let source = match base.get(name) {
                                Some((bid, bv, src)) if bid == id && bv == v => src.clone(),
                                _ => label.clone(),
                            };
                            manifest.push(ManifestRow { label: label.clone(), partition_name: name.clone(), partition_id: *id, visible_version: *v, replication_num: 1, source_label: source });
                        }
                        backups.push(BackupRecord { label: label.clone(), database: "db".into(), status: if succeeds { "FINISHED" } else { "FAILED" }.into(), snapshot_at: Some(clock), backup_timestamp: Some(format!("ts{i}")) });
                        if succeeds {
                            last_finished = Some(label);
                            schema_changed = false;
                            states.push((clock, table.clone()));
                        }
                    }
                }
            }
            let target = t("2026-01-01 00:00:00") + chrono::Duration::minutes(probe as i64 * 45);
            let expected = states.iter().rev().find(|(at, _)| *at <= target);
            match (resolve(&backups, &manifest, target), expected) {
                (Ok(chain), Some((_, want))) => {
                    // Replay the chain: each snapshot holds the partitions it backed up, at the recorded version.
                    let mut restored = TableState::new();
                    let mut seen = BTreeSet::new();
                    for link in &chain.links {
                        prop_assert!(seen.insert(link.label.clone()), "a snapshot restored twice");
                        for p in &link.partitions {
                            let held = manifest.iter().find(|m| m.label == link.label && &m.partition_name == p && m.source_label == link.label);
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
                (got, want) => prop_assert!(false, "got {:?}, expected state {:?}", got, want),
            }
        }
    }
}
