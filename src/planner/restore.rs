//! `restore`: compile a resolved chain (see [`super::chain`]) into the steps that rebuild one table.
//!
//! One RESTORE job per contributing snapshot, oldest first (StarRocks runs one job per database at a
//! time, so the runner submits the next only after the previous one FINISHED), each with that
//! snapshot's own `backup_timestamp`, the `replication_num` its partitions had, and an explicit
//! PARTITION list (so partitions dropped before the target time are never restored).
//! All jobs of one run share one `ops.restore_history` row, labelled by the run.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use super::chain::{Chain, ChainLink};
use crate::config::{Config, TableRef};
use crate::history::{
    finalize_restore_template, insert_restore_running_sql, select_running_sql, RestoreRow,
    RestoreRunningRow, RESTORE_FINALIZE_PLACEHOLDERS,
};
use crate::plan::{Command, Details, Plan, Step, StepKind};
use crate::sql::{ident, literal, property, qualified};

/// `YYYY-MM-DD HH:MM:SS`, the format of `--timestamp`, NOW() and every time in the plan.
pub const TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// One link of the chain as recorded in `restore_history.chain` and shown in the plan's inputs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainEntry {
    /// The snapshot (backup label).
    pub label: String,
    pub backup_timestamp: String,
    /// When the snapshot was taken (session time zone).
    pub snapshot_at: String,
    pub replication_num: u32,
    /// Partitions of the target table this snapshot supplies.
    pub partitions: Vec<String>,
}

impl From<&ChainLink> for ChainEntry {
    fn from(l: &ChainLink) -> Self {
        ChainEntry {
            label: l.label.clone(),
            backup_timestamp: l.backup_timestamp.clone(),
            snapshot_at: l.snapshot_at.format(TIME_FORMAT).to_string(),
            replication_num: l.replication_num,
            partitions: l.partitions.clone(),
        }
    }
}

/// A RUNNING restore_history row left by a dead run: its current job is looked up and its record
/// finished; nothing is ever re-submitted for it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct RestoreResume {
    pub database: String,
    pub table: String,
    pub label: String,
    /// The snapshot whose RESTORE the dead run submitted last (None: it died before any).
    pub current_label: Option<String>,
    pub backup_timestamp: Option<String>,
    /// 1-based position of `current_label` in the dead run's chain, and the chain's length.
    pub link: u32,
    pub links: u32,
    pub reason: String,
}

impl RestoreResume {
    /// Reads what the dead run recorded (its chain JSON and current label).
    pub fn from_row(row: &RestoreRow, reason: &str) -> RestoreResume {
        let chain: Vec<ChainEntry> = row
            .chain
            .as_deref()
            .and_then(|c| serde_json::from_str(c).ok())
            .unwrap_or_default();
        let pos = row
            .current_label
            .as_deref()
            .and_then(|cur| chain.iter().position(|e| e.label == cur));
        RestoreResume {
            database: row.database.clone(),
            table: row.table.clone(),
            label: row.label.clone(),
            current_label: row.current_label.clone(),
            backup_timestamp: pos
                .and_then(|i| chain.get(i))
                .map(|e| e.backup_timestamp.clone()),
            link: pos.map_or(0, |i| u32::try_from(i + 1).unwrap_or(u32::MAX)),
            links: u32::try_from(chain.len()).unwrap_or(u32::MAX),
            reason: reason.to_string(),
        }
    }
}

/// Everything the restore planner reads from the cluster besides the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreState {
    /// Cluster clock (`SELECT NOW()`), `YYYY-MM-DD HH:MM:SS`.
    pub cluster_time: String,
    pub target: TableRef,
    /// `--timestamp`, session time zone.
    pub target_time: NaiveDateTime,
    /// Whether the table exists now (a real run refuses; a dry run shows the plan anyway).
    pub target_exists: bool,
    pub resume: Vec<RestoreResume>,
}

/// CheckTargetAbsent details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetCheck {
    pub table: String,
    /// True for the re-check right before the first RESTORE (after our row was written).
    pub recheck: bool,
}

/// RestoreSnapshot details: one RESTORE job of the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreJob {
    pub snapshot_label: String,
    pub backup_timestamp: String,
    pub table: String,
    pub partitions: Vec<String>,
    pub replication_num: u32,
    /// 1-based position in the chain, and its length.
    pub link: u32,
    pub links: u32,
}

/// PollRestore details. The job is SHOW RESTORE's row whose `Label` is `snapshot_label` and whose
/// `Timestamp` is `backup_timestamp`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestorePoll {
    pub snapshot_label: Option<String>,
    pub backup_timestamp: Option<String>,
    pub link: u32,
    pub links: u32,
    pub initial_ms: u64,
    pub max_ms: u64,
    pub job_timeout_s: u64,
    /// The job was submitted by a dead run: only its record is finished.
    pub resume: bool,
}

fn sanitise(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    out.truncate(max);
    out
}

/// `bbr_restore_<db>_<table>_<target YYYYMMDDHHMMSS>[_<suffix>]`, at most 96 characters.
pub fn restore_label(
    target: &TableRef,
    target_time: NaiveDateTime,
    suffix: Option<&str>,
) -> String {
    let stamp = target_time.format("%Y%m%d%H%M%S");
    let base = format!(
        "bbr_restore_{}_{}_{stamp}",
        sanitise(&target.database, 24),
        sanitise(&target.table, 32)
    );
    match suffix {
        Some(s) => format!("{base}_{}", sanitise(s, 8)),
        None => base,
    }
}

/// The RESTORE statement for one snapshot of the chain.
pub fn restore_sql(cfg: &Config, target: &TableRef, link: &ChainEntry) -> String {
    let parts: Vec<String> = link.partitions.iter().map(|p| ident(p)).collect();
    format!(
        "RESTORE SNAPSHOT {} FROM {} ON ({} PARTITION ({})) PROPERTIES ({}, {}, {})",
        qualified(&target.database, &link.label),
        ident(&cfg.repository),
        ident(&target.table),
        parts.join(", "),
        property("backup_timestamp", &link.backup_timestamp),
        property("replication_num", &link.replication_num.to_string()),
        property("timeout", &cfg.job_timeout_s.to_string()),
    )
}

pub fn show_restore_sql(db: &str) -> String {
    format!("SHOW RESTORE FROM {}", ident(db))
}

pub fn cancel_restore_sql(db: &str) -> String {
    format!("CANCEL RESTORE FROM {}", ident(db))
}

/// Selective existence check of one table (any row = it exists).
pub fn target_exists_sql(target: &TableRef) -> String {
    format!(
        "SELECT TABLE_NAME FROM information_schema.tables WHERE TABLE_SCHEMA = {} AND TABLE_NAME = {}",
        literal(&target.database),
        literal(&target.table)
    )
}

fn poll_step(cfg: &Config, db: &str, label: &str, poll: RestorePoll, description: String) -> Step {
    Step {
        kind: StepKind::PollRestore,
        description,
        database: Some(db.to_string()),
        label: Some(label.to_string()),
        sql: Some(show_restore_sql(db)),
        retry: super::idempotent(cfg),
        details: Some(Details::Other(
            serde_json::to_value(poll).unwrap_or_default(),
        )),
    }
}

fn finalize_step(cfg: &Config, db: &str, label: &str) -> Step {
    Step {
        kind: StepKind::Finalize,
        description: "mark the restore_history row FINISHED or FAILED".to_string(),
        database: Some(db.to_string()),
        label: Some(label.to_string()),
        sql: Some(finalize_restore_template(&cfg.ops_database, label)),
        retry: super::idempotent(cfg),
        details: Some(Details::Finalize {
            placeholders: RESTORE_FINALIZE_PLACEHOLDERS
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }),
    }
}

/// Steps that finish RUNNING restore rows of dead runs: look the job up, finish the record.
pub fn plan_restore_resume(cfg: &Config, jobs: &[RestoreResume]) -> Vec<Step> {
    let mut steps = Vec::new();
    for j in jobs {
        let what = match &j.current_label {
            Some(l) => {
                format!("look up the RESTORE of {l} a dead run submitted and wait for its end")
            }
            None => "the dead run recorded no RESTORE: record it FAILED".to_string(),
        };
        steps.push(poll_step(
            cfg,
            &j.database,
            &j.label,
            RestorePoll {
                snapshot_label: j.current_label.clone(),
                backup_timestamp: j.backup_timestamp.clone(),
                link: j.link,
                links: j.links,
                initial_ms: cfg.poll.initial_ms,
                max_ms: cfg.poll.max_ms,
                job_timeout_s: cfg.job_timeout_s,
                resume: true,
            },
            what,
        ));
        steps.push(finalize_step(cfg, &j.database, &j.label));
    }
    steps
}

#[derive(Debug, Serialize)]
struct AsOf<'a> {
    label: &'a str,
    snapshot_at: String,
}

#[derive(Debug, Serialize)]
struct RestoreInputs<'a> {
    cluster_time: &'a str,
    ops_database: &'a str,
    repository: &'a str,
    target: String,
    target_time: String,
    target_exists: bool,
    label: &'a str,
    as_of: AsOf<'a>,
    chain: &'a [ChainEntry],
    restore_jobs: usize,
    resume: &'a [RestoreResume],
}

/// Compiles the restore plan. `suffix` is the per-attempt label part (None for a dry run).
pub fn plan_restore(
    cfg: &Config,
    state: &RestoreState,
    chain: &Chain,
    suffix: Option<&str>,
) -> Plan {
    let target = &state.target;
    let db = target.database.as_str();
    let label = restore_label(target, state.target_time, suffix);
    let entries: Vec<ChainEntry> = chain.links.iter().map(ChainEntry::from).collect();
    let chain_json = serde_json::to_string(&entries).unwrap_or_else(|_| "[]".into());
    let target_time = state.target_time.format(TIME_FORMAT).to_string();
    let links = u32::try_from(entries.len()).unwrap_or(u32::MAX);

    let step = |kind, description: String, sql: Option<String>, details| Step {
        kind,
        description,
        database: Some(db.to_string()),
        label: Some(label.clone()),
        sql,
        retry: super::idempotent(cfg),
        details,
    };
    let check = |recheck: bool| {
        step(
            StepKind::CheckTargetAbsent,
            if recheck {
                format!("re-check right before the first RESTORE that {target} does not exist (else withdraw, exit 4)")
            } else {
                format!("refuse (exit 4) if {target} exists")
            },
            Some(target_exists_sql(target)),
            Some(Details::Other(
                serde_json::to_value(TargetCheck {
                    table: target.to_string(),
                    recheck,
                })
                .unwrap_or_default(),
            )),
        )
    };

    let mut steps = plan_restore_resume(cfg, &state.resume);
    steps.push(check(false));
    steps.push(step(
        StepKind::RecordRestoreRunning,
        format!(
            "write the RUNNING restore_history row for {target} as of {target_time} (the claim)"
        ),
        Some(insert_restore_running_sql(
            &cfg.ops_database,
            &RestoreRunningRow {
                label: &label,
                database: db,
                table: &target.table,
                target_time: &target_time,
                chain_json: &chain_json,
            },
        )),
        None,
    ));
    steps.push(step(
        StepKind::Claim,
        format!(
            "wait until the cluster clock passed our started_at, then proceed only if ours is the oldest live RUNNING backup or restore row of {db}"
        ),
        Some(select_running_sql(&cfg.ops_database, db)),
        Some(Details::Claim {
            heartbeat_stale_s: cfg.heartbeat_stale_s,
        }),
    ));
    steps.push(check(true));
    for (i, e) in entries.iter().enumerate() {
        let link = u32::try_from(i + 1).unwrap_or(u32::MAX);
        steps.push(Step {
            kind: StepKind::RestoreSnapshot,
            description: format!(
                "RESTORE {} partition(s) of {target} from snapshot {} ({link} of {links})",
                e.partitions.len(),
                e.label
            ),
            database: Some(db.to_string()),
            label: Some(label.clone()),
            sql: Some(restore_sql(cfg, target, e)),
            retry: super::submission(cfg),
            details: Some(Details::Other(
                serde_json::to_value(RestoreJob {
                    snapshot_label: e.label.clone(),
                    backup_timestamp: e.backup_timestamp.clone(),
                    table: target.table.clone(),
                    partitions: e.partitions.clone(),
                    replication_num: e.replication_num,
                    link,
                    links,
                })
                .unwrap_or_default(),
            )),
        });
        steps.push(poll_step(
            cfg,
            db,
            &label,
            RestorePoll {
                snapshot_label: Some(e.label.clone()),
                backup_timestamp: Some(e.backup_timestamp.clone()),
                link,
                links,
                initial_ms: cfg.poll.initial_ms,
                max_ms: cfg.poll.max_ms,
                job_timeout_s: cfg.job_timeout_s,
                resume: false,
            },
            format!(
                "poll SHOW RESTORE until the job of {} is FINISHED (next job only then) or CANCELLED (chain stops)",
                e.label
            ),
        ));
    }
    steps.push(finalize_step(cfg, db, &label));

    let inputs = RestoreInputs {
        cluster_time: &state.cluster_time,
        ops_database: &cfg.ops_database,
        repository: &cfg.repository,
        target: target.to_string(),
        target_time,
        target_exists: state.target_exists,
        label: &label,
        as_of: AsOf {
            label: &chain.as_of_label,
            snapshot_at: chain.as_of.format(TIME_FORMAT).to_string(),
        },
        chain: &entries,
        restore_jobs: entries.len(),
        resume: &state.resume,
    };
    Plan::new(
        Command::Restore,
        serde_json::to_value(inputs).unwrap_or_default(),
        steps,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn cfg() -> Config {
        Config::parse(
            Path::new("t.yaml"),
            "connection: {host: h, user: u}\nrepository: repo\ntables: [sales.orders]\nreplication_num: 1\n",
        )
        .unwrap()
    }

    fn t(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, TIME_FORMAT).unwrap()
    }

    fn link(label: &str, at: &str, parts: &[&str], rn: u32) -> ChainLink {
        ChainLink {
            label: label.into(),
            backup_timestamp: format!("ts-{label}"),
            snapshot_at: t(at),
            partitions: parts.iter().map(|p| p.to_string()).collect(),
            replication_num: rn,
        }
    }

    fn state(exists: bool, resume: Vec<RestoreResume>) -> RestoreState {
        RestoreState {
            cluster_time: "2026-01-02 00:00:00".into(),
            target: TableRef::parse("sales.orders").unwrap(),
            target_time: t("2026-01-01 12:00:00"),
            target_exists: exists,
            resume,
        }
    }

    fn kinds(p: &Plan) -> Vec<StepKind> {
        p.steps.iter().map(|s| s.kind).collect()
    }

    fn restores(p: &Plan) -> Vec<&str> {
        p.steps
            .iter()
            .filter(|s| s.kind == StepKind::RestoreSnapshot)
            .filter_map(|s| s.sql.as_deref())
            .collect()
    }

    #[test]
    fn plans_per_chain_shape() {
        use StepKind::*;
        let head = [
            CheckTargetAbsent,
            RecordRestoreRunning,
            Claim,
            CheckTargetAbsent,
        ];
        // (name, links, expected RESTORE statements)
        let cases: Vec<(&str, Vec<ChainLink>, Vec<&str>)> = vec![
            (
                "full only",
                vec![link("full0", "2026-01-01 00:00:13", &["p1", "p2"], 1)],
                vec!["RESTORE SNAPSHOT `sales`.`full0` FROM `repo` ON (`orders` PARTITION (`p1`, `p2`)) PROPERTIES (\"backup_timestamp\" = \"ts-full0\", \"replication_num\" = \"1\", \"timeout\" = \"86400\")"],
            ),
            (
                "full + two incrementals, one RESTORE per snapshot, oldest first",
                vec![
                    link("full0", "2026-01-01 00:00:13", &["p1", "p4"], 3),
                    link("incr1", "2026-01-01 01:00:13", &["p2"], 3),
                    link("incr2", "2026-01-01 02:00:13", &["p3", "p5"], 3),
                ],
                vec![
                    "RESTORE SNAPSHOT `sales`.`full0` FROM `repo` ON (`orders` PARTITION (`p1`, `p4`)) PROPERTIES (\"backup_timestamp\" = \"ts-full0\", \"replication_num\" = \"3\", \"timeout\" = \"86400\")",
                    "RESTORE SNAPSHOT `sales`.`incr1` FROM `repo` ON (`orders` PARTITION (`p2`)) PROPERTIES (\"backup_timestamp\" = \"ts-incr1\", \"replication_num\" = \"3\", \"timeout\" = \"86400\")",
                    "RESTORE SNAPSHOT `sales`.`incr2` FROM `repo` ON (`orders` PARTITION (`p3`, `p5`)) PROPERTIES (\"backup_timestamp\" = \"ts-incr2\", \"replication_num\" = \"3\", \"timeout\" = \"86400\")",
                ],
            ),
        ];
        for (name, links, want) in cases {
            let chain = Chain {
                as_of_label: links.last().unwrap().label.clone(),
                as_of: links.last().unwrap().snapshot_at,
                links: links.clone(),
            };
            let p = plan_restore(&cfg(), &state(false, vec![]), &chain, None);
            let mut expect: Vec<StepKind> = head.to_vec();
            for _ in &links {
                expect.extend([RestoreSnapshot, PollRestore]);
            }
            expect.push(Finalize);
            assert_eq!(kinds(&p), expect, "{name}");
            assert_eq!(restores(&p), want, "{name}");
            assert_eq!(p.inputs["restore_jobs"], links.len(), "{name}");
            assert_eq!(p.inputs["chain"].as_array().unwrap().len(), links.len());
            // every step belongs to the one restore job
            assert!(p
                .steps
                .iter()
                .all(|s| s.label.as_deref() == Some("bbr_restore_sales_orders_20260101120000")));
            // same inputs, same bytes
            assert_eq!(
                p.to_json(),
                plan_restore(&cfg(), &state(false, vec![]), &chain, None).to_json()
            );
        }
    }

    #[test]
    fn running_row_records_the_chain_and_polls_match_their_snapshot() {
        let chain = Chain {
            as_of_label: "incr1".into(),
            as_of: t("2026-01-01 01:00:13"),
            links: vec![
                link("full0", "2026-01-01 00:00:13", &["p1"], 1),
                link("incr1", "2026-01-01 01:00:13", &["p2"], 1),
            ],
        };
        let p = plan_restore(&cfg(), &state(false, vec![]), &chain, Some("abc123"));
        let rec = p.steps[1].sql.as_deref().unwrap();
        assert!(
            rec.starts_with("INSERT INTO `ops`.`restore_history`"),
            "{rec}"
        );
        assert!(rec.contains("'RUNNING', NOW(), NOW()"), "{rec}");
        assert!(rec.contains("\"label\":\"full0\""), "{rec}");
        assert!(rec.contains("'2026-01-01 12:00:00'"), "{rec}");
        let polls: Vec<RestorePoll> = p
            .steps
            .iter()
            .filter(|s| s.kind == StepKind::PollRestore)
            .map(|s| match &s.details {
                Some(Details::Other(v)) => serde_json::from_value(v.clone()).unwrap(),
                d => panic!("{d:?}"),
            })
            .collect();
        assert_eq!(polls.len(), 2);
        assert_eq!(polls[1].snapshot_label.as_deref(), Some("incr1"));
        assert_eq!(polls[1].backup_timestamp.as_deref(), Some("ts-incr1"));
        assert_eq!((polls[1].link, polls[1].links), (2, 2));
        assert!(!polls[0].resume);
        let fin = p.steps.last().unwrap().sql.as_deref().unwrap();
        assert!(
            fin.contains("${status}") && fin.contains("${error_message}"),
            "{fin}"
        );
        assert!(fin.contains("bbr_restore_sales_orders_20260101120000_abc123"));
        let claim = p.steps[2].sql.as_deref().unwrap();
        assert!(claim.contains("`restore_history`") && claim.contains("`backup_history`"));
    }

    #[test]
    fn resume_steps_come_first_and_read_the_dead_runs_chain() {
        let chain_json = serde_json::to_string(&vec![
            ChainEntry::from(&link("full0", "2026-01-01 00:00:13", &["p1"], 1)),
            ChainEntry::from(&link("incr1", "2026-01-01 01:00:13", &["p2"], 1)),
        ])
        .unwrap();
        let row = |cur: Option<&str>| RestoreRow {
            label: "bbr_restore_old".into(),
            database: "sales".into(),
            table: "orders".into(),
            started_at: None,
            heartbeat_at: None,
            chain: Some(chain_json.clone()),
            current_label: cur.map(str::to_string),
        };
        let cases = [
            (Some("incr1"), Some("ts-incr1"), 2),
            (Some("full0"), Some("ts-full0"), 1),
            (None, None, 0),
        ];
        for (cur, ts, pos) in cases {
            let r = RestoreResume::from_row(&row(cur), "stale");
            assert_eq!(r.backup_timestamp.as_deref(), ts);
            assert_eq!((r.link, r.links), (pos, 2));
        }
        let resume = vec![RestoreResume::from_row(&row(Some("incr1")), "stale")];
        let chain = Chain {
            as_of_label: "full0".into(),
            as_of: t("2026-01-01 00:00:13"),
            links: vec![link("full0", "2026-01-01 00:00:13", &["p1"], 1)],
        };
        let p = plan_restore(&cfg(), &state(false, resume), &chain, None);
        assert_eq!(p.steps[0].kind, StepKind::PollRestore);
        assert_eq!(p.steps[0].label.as_deref(), Some("bbr_restore_old"));
        assert_eq!(p.steps[1].kind, StepKind::Finalize);
        assert_eq!(p.steps[2].kind, StepKind::CheckTargetAbsent);
    }

    #[test]
    fn labels_are_bounded_and_sanitised() {
        let long = TableRef {
            database: "d".repeat(200),
            table: "we-ird.t".repeat(40),
        };
        let l = restore_label(&long, t("2026-01-01 00:00:00"), Some("abcdef"));
        assert!(l.len() <= 96, "{}", l.len());
        assert!(l.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        assert!(l.ends_with("_20260101000000_abcdef"));
    }
}
