//! Several tables of one database restored to the same instant: they share RESTORE jobs — one
//! statement per contributing snapshot (and replication_num, since a RESTORE has one),
//! `ON (t1 PARTITION (...), t2 PARTITION (...))`, oldest first — and one restore_history row whose
//! `table_name` lists the tables. Each table's partitions come from its own chain (super::chain).
//! A group run is not continued after a crash (its dead record is finished by the next run).

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use serde::Serialize;

use super::{
    poll_step, recorded_chain_json, repository_of, restore_finalize_step, sanitise, side_name,
    target_exists_sql, ChainEntry, RestoreJob, RestorePoll, RestoreResume, TargetCheck,
    TIME_FORMAT,
};
use crate::config::{Config, TableRef};
use crate::history::{insert_restore_running_sql, select_running_sql, RestoreRunningRow};
use crate::plan::{Command, Details, Plan, Step, StepKind};
use crate::planner::chain::Chain;
use crate::planner::{job_step, submission};
use crate::sql::{ident, property, qualified};

/// Label prefix of group restores (never continued, see the module doc).
pub const GROUP_PREFIX: &str = "bbr_restogrp_";

/// One table of the group and its resolved chain.
#[derive(Debug, Clone)]
pub struct GroupTable {
    pub table: TableRef,
    pub chain: Chain,
}

/// One shared RESTORE job: a snapshot, the replication_num, and the partitions per table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupJob {
    pub label: String,
    pub backup_timestamp: String,
    pub snapshot_at: String,
    pub replication_num: u32,
    /// (table, partitions), tables in the order given.
    pub tables: Vec<(String, Vec<String>)>,
}

/// Merges the tables' chains into shared jobs, oldest snapshot first.
pub fn group_jobs(tables: &[GroupTable]) -> Vec<GroupJob> {
    let mut jobs: BTreeMap<(NaiveDateTime, String, u32), GroupJob> = BTreeMap::new();
    for t in tables {
        for l in &t.chain.links {
            let j = jobs
                .entry((l.snapshot_at, l.label.clone(), l.replication_num))
                .or_insert_with(|| GroupJob {
                    label: l.label.clone(),
                    backup_timestamp: l.backup_timestamp.clone(),
                    snapshot_at: l.snapshot_at.format(TIME_FORMAT).to_string(),
                    replication_num: l.replication_num,
                    tables: Vec::new(),
                });
            j.tables.push((t.table.table.clone(), l.partitions.clone()));
        }
    }
    jobs.into_values().collect()
}

/// `RESTORE SNAPSHOT db.label FROM repo ON (t1 PARTITION (...), t2 PARTITION (...)) PROPERTIES (...)`.
pub fn group_restore_sql(cfg: &Config, db: &str, repository: &str, j: &GroupJob) -> String {
    let on: Vec<String> = j
        .tables
        .iter()
        .map(|(t, parts)| {
            let p: Vec<String> = parts.iter().map(|x| ident(x)).collect();
            format!("{} PARTITION ({})", ident(t), p.join(", "))
        })
        .collect();
    format!(
        "RESTORE SNAPSHOT {} FROM {} ON ({}) PROPERTIES ({}, {}, {})",
        qualified(db, &j.label),
        ident(repository),
        on.join(", "),
        property("backup_timestamp", &j.backup_timestamp),
        property("replication_num", &j.replication_num.to_string()),
        property("timeout", &cfg.job_timeout_s.to_string()),
    )
}

/// `bbr_restogrp_<db≤24>_<tables≤32>_<target>[_<suffix>]` (≤ 96 characters).
pub fn group_label(
    db: &str,
    tables: &[GroupTable],
    at: NaiveDateTime,
    suffix: Option<&str>,
) -> String {
    let names: Vec<&str> = tables.iter().map(|t| t.table.table.as_str()).collect();
    let base = format!(
        "{GROUP_PREFIX}{}_{}_{}",
        sanitise(db, 24),
        sanitise(&names.join("_"), 32),
        at.format("%Y%m%d%H%M%S")
    );
    match suffix {
        Some(s) => format!("{base}_{}", sanitise(s, 8)),
        None => base,
    }
}

#[derive(Debug, Serialize)]
struct GroupInputs<'a> {
    cluster_time: &'a str,
    ops_database: &'a str,
    database: &'a str,
    tables: Vec<String>,
    target_time: String,
    label: &'a str,
    jobs: &'a [GroupJob],
    restore_jobs: usize,
    resume: &'a [RestoreResume],
}

/// Renames the tables a dead group run `dead` left partly restored to `<table>_bbr_partial_<sfx>`.
pub fn set_aside_plan(cfg: &Config, db: &str, dead: &str, tables: &[String], sfx: &str) -> Plan {
    let steps: Vec<Step> = tables
        .iter()
        .map(|t| {
            let name = t.rsplit('.').next().unwrap_or(t);
            let aside = side_name(name, "partial", Some(&sanitise(sfx, 8)));
            job_step(
                db,
                dead,
                StepKind::SetAside,
                format!("{t}: left partly restored by the interrupted run {dead}; renamed to {db}.{aside}"),
                format!("ALTER TABLE {} RENAME {}", qualified(db, name), ident(&aside)),
                super::super::idempotent(cfg),
                None,
            )
        })
        .collect();
    Plan::new(
        Command::Restore,
        serde_json::json!({ "set_aside": tables, "dead": dead }),
        steps,
    )
}

/// The plan of a group restore (all tables of `db`, one target time).
#[allow(clippy::too_many_arguments)]
pub fn plan_group_restore(
    cfg: &Config,
    db: &str,
    cluster_time: &str,
    target_time: NaiveDateTime,
    tables: &[GroupTable],
    repositories: &BTreeMap<String, String>,
    resume: &[RestoreResume],
    suffix: Option<&str>,
) -> Plan {
    let label = group_label(db, tables, target_time, suffix);
    let jobs = group_jobs(tables);
    let at = target_time.format(TIME_FORMAT).to_string();
    let names: Vec<String> = tables.iter().map(|t| t.table.table.clone()).collect();
    // the recorded chain: one entry per job, partitions written `table.partition`
    let entries: Vec<ChainEntry> = jobs
        .iter()
        .map(|j| ChainEntry {
            label: j.label.clone(),
            backup_timestamp: j.backup_timestamp.clone(),
            snapshot_at: j.snapshot_at.clone(),
            replication_num: j.replication_num,
            partitions: j
                .tables
                .iter()
                .flat_map(|(t, ps)| ps.iter().map(move |p| format!("{t}.{p}")))
                .collect(),
            partition_count: None,
            repository: String::new(),
        })
        .collect();
    let chain_json = recorded_chain_json(&entries);
    let table_list = names.join(",");
    let row = RestoreRunningRow {
        label: &label,
        database: db,
        table: &table_list,
        target_time: &at,
        chain_json: &chain_json,
    };
    let step = |kind, description: String, sql: String, details| {
        job_step(
            db,
            &label,
            kind,
            description,
            sql,
            super::super::idempotent(cfg),
            details,
        )
    };
    let checks = |recheck: bool| -> Vec<Step> {
        tables
            .iter()
            .map(|t| {
                step(
                    StepKind::CheckTargetAbsent,
                    format!("refuse (exit 4) if {} exists", t.table),
                    target_exists_sql(&t.table),
                    Some(Details::TargetCheck(TargetCheck {
                        table: t.table.to_string(),
                        recheck,
                        adopted: None,
                    })),
                )
            })
            .collect()
    };
    let mut steps = super::plan_restore_resume(cfg, resume);
    steps.extend(checks(false));
    steps.push(step(
        StepKind::RecordRestoreRunning,
        format!(
            "write the RUNNING restore_history row for {db}.({table_list}) as of {at} (the claim)"
        ),
        insert_restore_running_sql(&cfg.ops_database, &row),
        None,
    ));
    steps.push(step(
        StepKind::Claim,
        format!("proceed only if ours is the oldest live RUNNING backup or restore row of {db}"),
        select_running_sql(&cfg.ops_database, db),
        Some(Details::Claim {
            heartbeat_stale_s: cfg.heartbeat_stale_s,
        }),
    ));
    steps.extend(checks(true));
    let n = u32::try_from(jobs.len()).unwrap_or(u32::MAX);
    let mut restored: Vec<String> = Vec::new();
    for (i, j) in jobs.iter().enumerate() {
        let link = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let partitions: usize = j.tables.iter().map(|(_, p)| p.len()).sum();
        let in_job: Vec<String> = j.tables.iter().map(|(t, _)| t.clone()).collect();
        steps.push(job_step(
            db,
            &label,
            StepKind::RestoreSnapshot,
            format!(
                "RESTORE {partitions} partition(s) of {} from snapshot {} ({link} of {n}), one job for the tables",
                in_job.join(", "),
                j.label
            ),
            group_restore_sql(cfg, db, repository_of(cfg, repositories, &j.label), j),
            submission(cfg),
            Some(Details::RestoreJob(RestoreJob {
                    snapshot_label: j.label.clone(),
                    backup_timestamp: j.backup_timestamp.clone(),
                    table: in_job.join(","),
                    partitions: j
                        .tables
                        .iter()
                        .flat_map(|(t, ps)| ps.iter().map(move |p| format!("{t}.{p}")))
                        .collect(),
                    replication_num: j.replication_num,
                    link,
                    links: n,
                    aside_on_failure: None,
                    asides: restored
                        .iter()
                        .map(|t| (t.clone(), side_name(t, "partial", suffix.map(|s| sanitise(s, 8)).as_deref())))
                        .collect(),
                    check_tables: restored.clone(),
                })),
        ));
        steps.push(poll_step(
            cfg,
            db,
            &label,
            RestorePoll {
                snapshot_label: Some(j.label.clone()),
                backup_timestamp: Some(j.backup_timestamp.clone()),
                link,
                links: n,
                initial_ms: cfg.poll.initial_ms,
                max_ms: cfg.poll.max_ms,
                job_timeout_s: cfg.job_timeout_s,
                resume: false,
            },
            format!(
                "poll SHOW RESTORE until the job of {} is FINISHED (next job only then) or CANCELLED",
                j.label
            ),
        ));
        let guarded: Vec<(String, String)> =
            in_job.iter().map(|t| (t.clone(), t.clone())).collect();
        steps.push(super::scheduler::stop_scheduler_step(
            cfg, db, &label, &guarded,
        ));
        for t in in_job {
            if !restored.contains(&t) {
                restored.push(t);
            }
        }
    }
    steps.push(restore_finalize_step(cfg, db, &label));
    let inputs = GroupInputs {
        cluster_time,
        ops_database: &cfg.ops_database,
        database: db,
        tables: names,
        target_time: at.clone(),
        label: &label,
        jobs: &jobs,
        restore_jobs: jobs.len(),
        resume,
    };
    Plan::new(
        Command::Restore,
        serde_json::to_value(inputs).unwrap_or_default(),
        steps,
    )
}
