//! The base of an incremental as lean manifests record it: per table, the fold of its span (the
//! latest complete record, then the deltas up to the newest FINISHED backup; chain::fold), fed row
//! by row as discovery streams them so a 1M-partition base never exists as rows of strings.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;

use super::backup::{BaseBackup, BasePartition, BaseTable, Name};
use super::chain::{fold, is_tombstone, Ranked, Span};

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
