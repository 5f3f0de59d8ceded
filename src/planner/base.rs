//! The base of an incremental as lean manifests record it: per table, the fold of its span (the
//! latest complete record, then the deltas up to the newest FINISHED backup; chain::fold), fed row
//! by row as discovery streams them so a 1M-partition base never exists as rows of strings.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use serde::Serialize;

use super::backup::Name;
use super::chain::{fold, is_tombstone, Ranked, Span};
use crate::history::ManifestRow;

/// What the base recorded for one partition (compact: a base manifest can hold 1M partitions).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BasePartition {
    pub name: Name,
    pub id: i64,
    pub visible_version: i64,
    /// Index into [`BaseBackup::sources`]: the snapshot holding the data as recorded.
    pub source: u32,
}

/// What the base recorded for one table.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct BaseTable {
    /// The distinct schema fingerprints recorded (normally one).
    pub fingerprints: Vec<String>,
    /// Sorted by name, one per name.
    pub partitions: Vec<BasePartition>,
    /// When the complete record its chain starts at was taken (full_every_days).
    pub chain_start: Option<chrono::NaiveDateTime>,
}

impl BaseTable {
    pub fn get(&self, name: &str) -> Option<&BasePartition> {
        self.partitions
            .binary_search_by(|p| p.name.as_str().cmp(name))
            .ok()
            .and_then(|i| self.partitions.get(i))
    }
}

/// The latest FINISHED backup of a database and what it recorded, per table.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct BaseBackup {
    pub label: String,
    /// The distinct source labels of the manifest.
    pub sources: Vec<String>,
    /// The repository of each source (same index; empty when unknown).
    pub source_repositories: Vec<String>,
    pub tables: BTreeMap<String, BaseTable>,
    /// Sources no longer in the repository (absent from SHOW SNAPSHOT, or marked EXPIRED):
    /// label -> the repository it was written to. A table still needing one is re-based.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub missing: BTreeMap<String, String>,
}

impl BaseBackup {
    /// Builds the compact base from manifest rows (duplicates from a retried INSERT chunk collapse:
    /// the first row per (table, partition) wins).
    pub fn from_rows(label: &str, rows: impl IntoIterator<Item = ManifestRow>) -> BaseBackup {
        let mut b = BaseBackup {
            label: label.to_string(),
            ..BaseBackup::default()
        };
        let mut source_idx: BTreeMap<String, u32> = BTreeMap::new();
        for r in rows {
            b.push(
                &r.table,
                &r.schema_fingerprint,
                &r.source_label,
                &mut source_idx,
                BasePartition {
                    name: r.partition.into(),
                    id: r.partition_id,
                    visible_version: r.visible_version,
                    source: 0,
                },
            );
        }
        b.finish();
        b
    }

    /// Adds one recorded partition (call [`BaseBackup::finish`] after the last).
    pub fn push(
        &mut self,
        table: &str,
        fingerprint: &str,
        source: &str,
        source_idx: &mut BTreeMap<String, u32>,
        mut p: BasePartition,
    ) {
        p.source = match source_idx.get(source) {
            Some(&i) => i,
            None => {
                let i = u32::try_from(self.sources.len()).unwrap_or(u32::MAX);
                self.sources.push(source.to_string());
                source_idx.insert(source.to_string(), i);
                i
            }
        };
        let t = match self.tables.get_mut(table) {
            Some(t) => t,
            None => self.tables.entry(table.to_string()).or_default(),
        };
        if !t.fingerprints.iter().any(|f| f == fingerprint) {
            t.fingerprints.push(fingerprint.to_string());
        }
        t.partitions.push(p);
    }

    /// Sorts and de-duplicates every table's partitions.
    pub fn finish(&mut self) {
        for t in self.tables.values_mut() {
            t.partitions.sort_by(|a, b| a.name.cmp(&b.name));
            t.partitions.dedup_by(|b, a| a.name == b.name);
            t.partitions.shrink_to_fit();
        }
    }

    /// The repository holding source `i` ("" when unknown).
    pub fn repository(&self, i: u32) -> &str {
        self.source_repositories
            .get(i as usize)
            .map_or("", String::as_str)
    }

    pub fn source(&self, p: &BasePartition) -> &str {
        self.sources
            .get(p.source as usize)
            .map(String::as_str)
            .unwrap_or(self.label.as_str())
    }
}

/// What one table's fold needs besides its rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpan {
    pub span: Span,
    /// The schema fingerprint its newest record holds.
    pub fingerprint: String,
    /// When the complete record the span starts at was taken.
    pub chain_start: Option<NaiveDateTime>,
}

#[derive(Clone)]
struct TableFold {
    ranks: BTreeMap<String, u32>,
    fingerprint: String,
    chain_start: Option<NaiveDateTime>,
    rows: Vec<Ranked<Name, (i64, i64, u32)>>,
}

/// Accumulates the manifest rows of one database's spans into its [`BaseBackup`].
#[derive(Clone)]
pub struct BaseFolder {
    label: String,
    sources: Vec<String>,
    source_idx: BTreeMap<String, u32>,
    tables: BTreeMap<String, TableFold>,
}

impl BaseFolder {
    /// `label` is the database's latest FINISHED backup (the base the run is checked against).
    pub fn new(label: &str, spans: BTreeMap<String, TableSpan>) -> BaseFolder {
        BaseFolder {
            label: label.to_string(),
            sources: Vec::new(),
            source_idx: BTreeMap::new(),
            tables: spans
                .into_iter()
                .map(|(t, s)| {
                    let ranks = s
                        .span
                        .labels
                        .iter()
                        .enumerate()
                        .map(|(i, l)| (l.clone(), u32::try_from(i).unwrap_or(u32::MAX)))
                        .collect();
                    (
                        t,
                        TableFold {
                            ranks,
                            fingerprint: s.fingerprint,
                            chain_start: s.chain_start,
                            rows: Vec::new(),
                        },
                    )
                })
                .collect(),
        }
    }

    /// One manifest row; rows of labels outside the table's span are ignored.
    #[allow(clippy::too_many_arguments)]
    pub fn push(
        &mut self,
        label: &str,
        table: &str,
        partition: &str,
        id: i64,
        visible_version: i64,
        source: &str,
        in_snapshot: bool,
    ) {
        let Some(t) = self.tables.get_mut(table) else {
            return;
        };
        let Some(&rank) = t.ranks.get(label) else {
            return;
        };
        let dropped = is_tombstone(rank, in_snapshot);
        let source = if dropped {
            0
        } else {
            match self.source_idx.get(source) {
                Some(&i) => i,
                None => {
                    let i = u32::try_from(self.sources.len()).unwrap_or(u32::MAX);
                    self.sources.push(source.to_string());
                    self.source_idx.insert(source.to_string(), i);
                    i
                }
            }
        };
        t.rows.push(Ranked {
            name: Name::from(partition),
            rank,
            dropped,
            value: (id, visible_version, source),
        });
    }

    /// The folded base; `repository` names the repository of a source snapshot.
    pub fn finish(self, repository: impl Fn(&str) -> String) -> BaseBackup {
        let source_repositories = self.sources.iter().map(|s| repository(s)).collect();
        let tables = self
            .tables
            .into_iter()
            .map(|(name, t)| {
                let mut partitions: Vec<BasePartition> = fold(t.rows)
                    .into_iter()
                    .map(|(name, (id, visible_version, source))| BasePartition {
                        name,
                        id,
                        visible_version,
                        source,
                    })
                    .collect();
                partitions.shrink_to_fit();
                let table = BaseTable {
                    fingerprints: vec![t.fingerprint],
                    partitions,
                    chain_start: t.chain_start,
                };
                (name, table)
            })
            .collect();
        BaseBackup {
            label: self.label,
            sources: self.sources,
            source_repositories,
            tables,
            missing: BTreeMap::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_a_complete_record_and_its_deltas() {
        let span = Span {
            as_of_label: "d2".into(),
            as_of: NaiveDateTime::default(),
            labels: vec!["full".into(), "d1".into(), "d2".into()],
        };
        let mut f = BaseFolder::new(
            "d2",
            [(
                "t".to_string(),
                TableSpan {
                    span,
                    fingerprint: "fp".into(),
                    chain_start: None,
                },
            )]
            .into(),
        );
        for (label, p, id, v, src, in_snap) in [
            ("full", "p1", 1, 1, "full", true),
            ("full", "p2", 2, 1, "full", true),
            ("full", "p3", 3, 1, "old", false),
            ("d1", "p2", 2, 2, "d1", true),
            ("d2", "p1", 1, 1, "", false),
            ("d2", "p4", 4, 1, "d2", true),
            ("d2", "p4", 4, 1, "d2", true),
            ("older", "p9", 9, 1, "older", true),
        ] {
            f.push(label, "t", p, id, v, src, in_snap);
        }
        f.push("d2", "other_table", "x", 1, 1, "d2", true);
        let b = f.finish(|s| format!("repo_of_{s}"));
        let t = &b.tables["t"];
        let got: Vec<(&str, i64, &str)> = t
            .partitions
            .iter()
            .map(|p| (p.name.as_str(), p.visible_version, b.source(p)))
            .collect();
        assert_eq!(
            got,
            vec![("p2", 2, "d1"), ("p3", 1, "old"), ("p4", 1, "d2")]
        );
        assert_eq!(t.fingerprints, vec!["fp".to_string()]);
        assert_eq!(b.repository(t.partitions[1].source), "repo_of_old");
        assert!(!b.tables.contains_key("other_table"));
    }
}
