//! Tables a run leaves out (SPEC (v2): "A table that cannot be backed up in this run ... never blocks
//! the other tables"). ONE mechanism for every reason: discovery decides, the backup planner keeps
//! the table out of its database's BACKUP, the plan's inputs list it, a FAILED history row per
//! database records which tables and why (so `list` and auditors see it), and the command names
//! each on stderr and exits 1.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::{Config, TableRef};
use crate::plan::{Step, StepKind};
use crate::sql::{literal, qualified};

/// Why a configured table is not backed up in this run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum LeftOutReason {
    /// Configured, but not in the cluster (dropped or renamed since the config was written).
    Missing,
    /// LIST or automatic LIST partitioning on a release whose BACKUP refuses it (3.1–3.3).
    ListPartitioned { release: String },
    /// Temporary partitions exist (INSERT OVERWRITE or a partition replacement in progress):
    /// BACKUP refuses the table.
    TemporaryPartitions { partitions: Vec<String> },
}

/// One table left out, with what the operator should do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeftOut {
    pub database: String,
    pub table: String,
    #[serde(flatten)]
    pub reason: LeftOutReason,
}

impl LeftOut {
    pub fn new(t: &TableRef, reason: LeftOutReason) -> LeftOut {
        LeftOut {
            database: t.database.clone(),
            table: t.table.clone(),
            reason,
        }
    }

    /// Why, in operator words.
    pub fn why(&self) -> String {
        match &self.reason {
            LeftOutReason::Missing => "it does not exist in the cluster".to_string(),
            LeftOutReason::ListPartitioned { release } => format!(
                "it is LIST-partitioned, and StarRocks {release} cannot back up LIST-partitioned tables (3.1 to 3.3 refuse them)"
            ),
            LeftOutReason::TemporaryPartitions { partitions } => format!(
                "it has temporary partitions ({}), which StarRocks refuses to back up (an INSERT OVERWRITE or partition replacement is in progress)",
                partitions.join(", ")
            ),
        }
    }

    /// What to do about it.
    pub fn todo(&self) -> &'static str {
        match &self.reason {
            LeftOutReason::Missing => {
                "remove it from `tables` in the config, or create it again"
            }
            LeftOutReason::ListPartitioned { .. } => {
                "upgrade StarRocks to 3.4 or later, or remove the table from `tables`"
            }
            LeftOutReason::TemporaryPartitions { .. } => {
                "run the backup again once the INSERT OVERWRITE finished (or drop the stale temporary partitions)"
            }
        }
    }

    /// `db.table: why; what to do` — the line stderr and the history carry.
    pub fn line(&self) -> String {
        format!(
            "{}.{} left out of this backup: {}; {}",
            self.database,
            self.table,
            self.why(),
            self.todo()
        )
    }
}

/// The label of a database's left-out record: like a job label, type `left`.
pub fn left_out_label(db: &str, cluster_time: &str, suffix: Option<&str>) -> String {
    let base = super::backup::make_label(db, cluster_time, crate::plan::BackupType::Full, None);
    let stem = base.strip_suffix("_full").unwrap_or(&base);
    match suffix {
        Some(s) => format!("{stem}_left_{s}"),
        None => format!("{stem}_left"),
    }
}

/// One RecordLeftOut step per database with left-out tables: a FAILED backup_history row (never a
/// base: only FINISHED rows are) whose error_message names every left-out table with reason and
/// remedy, and whose `tables` lists them.
pub fn left_out_steps(
    cfg: &Config,
    cluster_time: &str,
    left_out: &[LeftOut],
    has_base: impl Fn(&str) -> bool,
    suffix: Option<&str>,
) -> Vec<Step> {
    let mut by_db: BTreeMap<&str, Vec<&LeftOut>> = BTreeMap::new();
    for l in left_out {
        by_db.entry(l.database.as_str()).or_default().push(l);
    }
    by_db
        .into_iter()
        .map(|(db, items)| {
            let label = left_out_label(db, cluster_time, suffix);
            let tables: Vec<&str> = items.iter().map(|l| l.table.as_str()).collect();
            let message: Vec<String> = items.iter().map(|l| l.line()).collect();
            let cols = crate::history::col_list(&[
                "label",
                "database_name",
                "backup_type",
                "status",
                "repository",
                "started_at",
                "finished_at",
                "heartbeat_at",
                "partitions",
                "tables",
                "error_message",
            ]);
            let sql = format!(
                "INSERT INTO {} ({cols}) VALUES ({}, {}, {}, 'FAILED', {}, NOW(), NOW(), NOW(), 0, {}, {})",
                qualified(&cfg.ops_database, crate::history::BACKUP_HISTORY),
                literal(&label),
                literal(db),
                literal(if has_base(db) { "incremental" } else { "full" }),
                literal(&cfg.repository),
                literal(&serde_json::to_string(&tables).unwrap_or_default()),
                literal(&bounded(&message.join(" | "))),
            );
            Step {
                kind: StepKind::RecordLeftOut,
                description: format!(
                    "record that {} of database {db} {} left out of this run",
                    tables.join(", "),
                    if tables.len() == 1 { "is" } else { "are" }
                ),
                database: Some(db.to_string()),
                label: None,
                sql: Some(sql),
                retry: super::idempotent(cfg),
                details: None,
            }
        })
        .collect()
}

/// error_message is a STRING (65,533 bytes at most; a longer value fails the whole INSERT in
/// strict mode, STARROCKS.md §6): keep it well below, cut on a character boundary.
fn bounded(s: &str) -> String {
    const MAX: usize = 60_000;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{} ... (cut; every table is in `tables`)", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
        Config::parse(
            std::path::Path::new("t.yaml"),
            "connection: {host: h, user: u}\nrepository: repo\ntables: [d.a, d.b, e.c]\n",
        )
        .unwrap()
    }

    #[test]
    fn one_record_per_database_naming_each_table() {
        let t = |d: &str, n: &str| TableRef {
            database: d.into(),
            table: n.into(),
        };
        let left = vec![
            LeftOut::new(&t("d", "a"), LeftOutReason::Missing),
            LeftOut::new(
                &t("d", "b"),
                LeftOutReason::ListPartitioned {
                    release: "3.3.5".into(),
                },
            ),
            LeftOut::new(
                &t("e", "c"),
                LeftOutReason::TemporaryPartitions {
                    partitions: vec!["tp1".into()],
                },
            ),
        ];
        let steps = left_out_steps(&cfg(), "2026-01-01 00:00:00", &left, |db| db == "d", None);
        assert_eq!(steps.len(), 2);
        let sql = steps[0].sql.clone().unwrap();
        assert!(sql.contains("'bbr_d_20260101000000_left'"), "{sql}");
        assert!(
            sql.contains("'incremental'") && sql.contains("'FAILED'"),
            "{sql}"
        );
        assert!(
            sql.contains("d.a left out of this backup: it does not exist"),
            "{sql}"
        );
        assert!(
            sql.contains("StarRocks 3.3.5 cannot back up LIST-partitioned tables"),
            "{sql}"
        );
        let sql = steps[1].sql.clone().unwrap();
        assert!(
            sql.contains("'full'") && sql.contains("temporary partitions (tp1)"),
            "{sql}"
        );
        assert!(bounded(&"é".repeat(40_000)).len() < 60_100);
        assert_eq!(
            left_out_label("d", "2026-01-01 00:00:00", Some("abc123")),
            "bbr_d_20260101000000_left_abc123"
        );
    }
}
