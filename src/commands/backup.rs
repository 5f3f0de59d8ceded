//! `backup`: finish dead runs, then plan and run one FULL or INCREMENTAL job per database.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::Result;
use tracing::{info, warn};

use crate::cluster::Cluster;
use crate::config::Config;
use crate::metrics::RunStatus;
use crate::plan::{Command, Plan};
use crate::planner::backup::{
    plan_backup_owned, plan_resume, random_suffix, BackupPlan, BackupState, DatabaseAction,
};
use crate::planner::catalog::{catalog_needed, is_catalog_label, plan_catalog_backup};
use crate::runner::parallel::{merge, run_per_database};
use crate::runner::{JobReport, RunOutcome, Runner};
use crate::state;

use super::restore::finish_dead_restores;

/// Prints one line per job. `manifest_only`: labels of manifest-only records -> their base label.
fn print_jobs(
    outcome: &RunOutcome,
    manifest_only: &BTreeMap<String, String>,
    out: &mut dyn Write,
) -> Result<()> {
    for j in &outcome.jobs {
        if is_catalog_label(&j.database, &j.label) {
            print_catalog(j, out)?;
            continue;
        }
        if let (Some(base), "FINISHED") = (manifest_only.get(&j.label), j.status.as_str()) {
            writeln!(
                out,
                "{}: partitions dropped since {base}; recorded without a snapshot ({} FINISHED)",
                j.database, j.label
            )?;
            continue;
        }
        let prefix = if j.resumed {
            format!("{}: interrupted backup {}", j.database, j.label)
        } else {
            format!("{}: {}", j.database, j.label)
        };
        match j.status.as_str() {
            "FINISHED" => writeln!(
                out,
                "{prefix} FINISHED ({}, {} partitions, backup_timestamp {})",
                j.backup_type.as_deref().unwrap_or("resumed"),
                j.partitions
                    .map(|p| p.to_string())
                    .unwrap_or_else(|| "?".into()),
                j.backup_timestamp.as_deref().unwrap_or("-")
            )?,
            s => writeln!(
                out,
                "{prefix} {s}: {}",
                j.error
                    .as_deref()
                    .map(crate::error::one_line)
                    .unwrap_or_default()
            )?,
        }
    }
    Ok(())
}

/// The backup plan, ending with the catalog backup when one is due (planner::catalog).
fn with_catalog(
    c: &mut Cluster,
    cfg: &Config,
    st: BackupState,
    suffix: Option<&str>,
) -> Result<BackupPlan> {
    let cluster_time = st.cluster_time.clone();
    let mut planned = plan_backup_owned(cfg, st, suffix);
    let plan = &mut planned.plan;
    if !cfg.catalog_backup {
        return Ok(planned);
    }
    let cat = state::catalog::catalog_state(c, cfg)?;
    let needed = catalog_needed(cfg, &cat, !plan.is_empty());
    if let Some(inputs) = plan.inputs.as_object_mut() {
        inputs.insert(
            "catalog".to_string(),
            serde_json::json!({ "state": cat, "backup": needed }),
        );
    }
    if needed {
        plan.steps
            .extend(plan_catalog_backup(cfg, &cluster_time, suffix));
    }
    Ok(planned)
}

/// The catalog job's line: its failure is a warning, never the run's failure.
fn print_catalog(j: &JobReport, out: &mut dyn Write) -> Result<()> {
    let what = if j.resumed {
        "interrupted catalog backup"
    } else {
        "catalog backup"
    };
    if j.status == "FINISHED" {
        writeln!(
            out,
            "{}: {what} {} FINISHED (backup_timestamp {})",
            j.database,
            j.label,
            j.backup_timestamp.as_deref().unwrap_or("-")
        )?;
        return Ok(());
    }
    let why = j
        .error
        .as_deref()
        .map(crate::error::one_line)
        .unwrap_or_default();
    warn!(
        "{what} {} of {} {}: {why}; the data backup is not affected, the next run backs the history up again",
        j.label, j.database, j.status
    );
    writeln!(
        out,
        "{}: {what} {} {} (warning only: {why})",
        j.database, j.label, j.status
    )?;
    Ok(())
}

fn parallel(cfg: &Config) -> usize {
    usize::try_from(cfg.parallel_databases).unwrap_or(1)
}

/// Runs a backup plan: the databases' jobs up to parallel_databases at once (runner::parallel),
/// then the catalog job, which backs up the history they wrote (skipped, as in a sequential run,
/// when a lost connection ended a data job).
fn run_backup_plan(
    c: &mut Cluster,
    cfg: &Config,
    plan: Plan,
    info: &crate::release::ClusterInfo,
) -> RunOutcome {
    let Plan {
        format_version,
        command,
        inputs: _,
        steps,
    } = plan;
    let (catalog, data): (Vec<_>, Vec<_>) = steps.into_iter().partition(|s| {
        s.label
            .as_deref()
            .is_some_and(|l| is_catalog_label(&cfg.ops_database, l))
    });
    let part = |steps| Plan {
        format_version,
        command,
        inputs: serde_json::Value::Null,
        steps,
    };
    let outcome = run_per_database(c, cfg, part(data), parallel(cfg), info);
    let lost = outcome
        .error
        .as_ref()
        .is_some_and(|e| e.exit == crate::error::ExitCode::Connect);
    if catalog.is_empty() || lost {
        return outcome;
    }
    let cat = Runner::new(c, cfg)
        .with_cluster_info(info)
        .run(&part(catalog));
    merge(vec![outcome, cat])
}

/// Per-database outcomes for the metrics: a data job FINISHED is ok, FAILED (or left RUNNING by a
/// lost connection) is not; a withdrawn claim decides nothing (another run holds the database),
/// and the catalog job never fails a database.
fn record_status(status: &mut RunStatus, outcome: &RunOutcome) {
    for j in &outcome.jobs {
        if is_catalog_label(&j.database, &j.label) || j.status == "WITHDRAWN" {
            continue;
        }
        status.record(&j.database, j.status == "FINISHED");
    }
}

/// `full`: `backup --full` (every table whole). `status` gets each database's outcome.
pub(super) fn backup(
    cfg: &Config,
    dry_run: bool,
    full: bool,
    status: &mut RunStatus,
    out: &mut dyn Write,
) -> Result<()> {
    let mut c = Cluster::connect(cfg)?;
    let info = crate::release::detect(&mut c, cfg)?;
    let cfg = &state::scope::expand_table_patterns(&mut c, cfg)?;
    crate::preflight::check_repository(&mut c, cfg, true)?;
    let mut st = state::backup_state(&mut c, cfg, &info)?;
    st.force_full = full;
    crate::preflight::check_history(&mut c, cfg)?;
    st.resume.extend(state::catalog::stale_catalog_jobs(
        &mut c,
        cfg,
        &st.cluster_time,
    )?);
    if dry_run {
        let mut plan = with_catalog(&mut c, cfg, st, None)?.plan;
        record_cluster(&mut plan, &info);
        plan.write_json(out)?;
        return Ok(());
    }
    // A dead restore run of a configured database is finished first too (any run touching it does).
    let mut dead = Vec::new();
    for db in cfg.tables_by_db().into_keys() {
        dead.extend(state::restore::stale_restores(
            &mut c,
            cfg,
            &db,
            &st.cluster_time,
        )?);
    }
    finish_dead_restores(&mut c, cfg, &dead, &info, out)?;
    // Finish what dead runs left RUNNING before anything new starts (SPEC.md "resumable").
    if !st.resume.is_empty() {
        info!("finishing {} interrupted backup(s) first", st.resume.len());
        let plan = Plan::new(
            Command::Backup,
            serde_json::json!({ "resume": st.resume }),
            plan_resume(cfg, &st.resume),
        );
        let outcome = run_backup_plan(&mut c, cfg, plan, &info);
        record_status(status, &outcome);
        print_jobs(&outcome, &BTreeMap::new(), out)?;
        if let Some(e) = outcome.error {
            return Err(e.into());
        }
        st = state::backup_state(&mut c, cfg, &info)?;
        st.force_full = full;
        st.resume.clear();
    }
    // A temporary partition that appears after planning (an INSERT OVERWRITE started) makes
    // BACKUP refuse the whole database (BackupHandler.java:419-421, the table unnamed): discovery
    // then sees it and leaves that table out, so the database is planned and run once more.
    let mut replanned = false;
    loop {
        // Typed, read before the planner consumes the state: named on stderr, exit 1 at the end.
        let left_out = st.left_out.clone();
        for l in &left_out {
            warn!("{}", l.line());
            status.record(&l.database, false);
        }
        let BackupPlan {
            mut plan,
            databases,
        } = with_catalog(&mut c, cfg, st, Some(&random_suffix()))?;
        record_cluster(&mut plan, &info);
        let mut manifest_only = BTreeMap::new();
        for d in &databases {
            match d.action {
                DatabaseAction::ManifestOnly => {
                    manifest_only.insert(
                        d.label.clone().unwrap_or_default(),
                        d.base_label.clone().unwrap_or_default(),
                    );
                }
                DatabaseAction::NothingChanged => {
                    status.record(&d.database, true);
                    writeln!(
                        out,
                        "{}: nothing changed since {}, no snapshot needed",
                        d.database,
                        d.base_label.as_deref().unwrap_or("the last backup")
                    )?;
                }
                DatabaseAction::Full | DatabaseAction::Incremental => {}
            }
        }
        if plan.is_empty() {
            return left_out_result(&left_out);
        }
        // one job per database, up to parallel_databases at once, then the catalog job
        let outcome = run_backup_plan(&mut c, cfg, plan, &info);
        record_status(status, &outcome);
        print_jobs(&outcome, &manifest_only, out)?;
        if !replanned && refused_for_temp_partitions(&outcome) {
            warn!("a temporary partition appeared after planning (an INSERT OVERWRITE started): planning once more, leaving that table out");
            replanned = true;
            st = state::backup_state(&mut c, cfg, &info)?;
            st.force_full = full;
            st.resume.clear();
            continue;
        }
        return match outcome.error {
            Some(e) => Err(e.into()),
            None => left_out_result(&left_out),
        };
    }
}

/// Whether a BACKUP of this run was refused because a table had temporary partitions.
fn refused_for_temp_partitions(outcome: &crate::runner::RunOutcome) -> bool {
    outcome.jobs.iter().any(|j| {
        j.status == "FAILED"
            && j.error
                .as_deref()
                .is_some_and(|e| e.contains("Do not support backing up table with temp partitions"))
    })
}

/// Auditors see which release rules the plan was made under (release::ClusterInfo).
fn record_cluster(plan: &mut Plan, info: &crate::release::ClusterInfo) {
    if let Some(inputs) = plan.inputs.as_object_mut() {
        inputs.insert(
            "cluster".to_string(),
            serde_json::json!({
                "release": info.release.map(|r| r.to_string()),
                "session_offset_s": info.session_offset_s,
                "job_time_shift_s": info.job_time_shift().num_seconds(),
            }),
        );
    }
}

/// SPEC exit 1 "a run left something out": one line naming every left-out table (each was named
/// with its reason and remedy on stderr before the run).
fn left_out_result(left_out: &[crate::planner::left_out::LeftOut]) -> Result<()> {
    match left_out {
        [] => Ok(()),
        [one] => Err(crate::error::BbrError::job_failed(
            format!("{}.{} was left out of this backup: {}", one.database, one.table, one.why()),
            one.todo(),
        )
        .into()),
        many => Err(crate::error::BbrError::job_failed(
            format!(
                "{} tables were left out of this backup: {}",
                many.len(),
                many.iter()
                    .map(|l| format!("{}.{}", l.database, l.table))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "see the warnings above (or ops.backup_history's FAILED `_left` rows) for each reason and what to do",
        )
        .into()),
    }
}
