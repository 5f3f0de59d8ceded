//! `parallel_databases` (SPEC.md): the jobs of different databases run at once — StarRocks runs one
//! backup or restore job per database, several databases in parallel. A plan is split by the
//! `database` of its steps (each database's steps keep their order, so its claim, heartbeat,
//! resume and finalize rules are unchanged) and each database's part is run by its own thread on
//! its own connection, at most `parallel_databases` at a time. A failure — even a lost connection
//! — in one database ends only that database's part; the outcome reports every job and the
//! error that decides the exit code is the most serious one.

use std::collections::VecDeque;
use std::sync::Mutex;

use tracing::info;

use super::{rank, RunOutcome, Runner};
use crate::cluster::Cluster;
use crate::config::Config;
use crate::plan::{Plan, Step};
use crate::release::ClusterInfo;

/// The plan's steps grouped by database, in order of first appearance (steps without a database
/// form a group of their own).
fn split(plan: Plan) -> Vec<Plan> {
    let mut groups: Vec<(Option<String>, Vec<Step>)> = Vec::new();
    for step in plan.steps {
        match groups.iter_mut().find(|(db, _)| *db == step.database) {
            Some((_, steps)) => steps.push(step),
            None => groups.push((step.database.clone(), vec![step])),
        }
    }
    groups
        .into_iter()
        .map(|(_, steps)| Plan {
            steps,
            inputs: serde_json::Value::Null,
            ..Plan::new(plan.command, serde_json::Value::Null, Vec::new())
        })
        .collect()
}

/// Merges outcomes: jobs in order, the most serious error.
pub fn merge(outcomes: Vec<RunOutcome>) -> RunOutcome {
    let mut out = RunOutcome::default();
    for o in outcomes {
        out.jobs.extend(o.jobs);
        out.refused_drops.extend(o.refused_drops);
        if let Some(e) = o.error {
            if out
                .error
                .as_ref()
                .is_none_or(|cur| rank(e.exit) > rank(cur.exit))
            {
                out.error = Some(e);
            }
        }
    }
    out
}

/// Runs `plan` with up to `parallel` databases at once. One database (or `parallel` 1): run on
/// `cluster` as a single plan. Otherwise every database's part opens its own connection.
pub fn run_per_database(
    cluster: &mut Cluster,
    cfg: &Config,
    plan: Plan,
    parallel: usize,
    info: &ClusterInfo,
) -> RunOutcome {
    let parts = split(plan);
    if parts.len() <= 1 || parallel <= 1 {
        let outcomes = parts
            .iter()
            .map(|p| Runner::new(cluster, cfg).with_cluster_info(info).run(p))
            .collect();
        return merge(outcomes);
    }
    info!(
        "running {} databases, {} at a time (parallel_databases)",
        parts.len(),
        parallel.min(parts.len())
    );
    let outcomes = at_most(parallel, parts, |part| match Cluster::connect(cfg) {
        Ok(mut c) => Runner::new(&mut c, cfg).with_cluster_info(info).run(&part),
        Err(e) => RunOutcome {
            error: Some(e),
            ..RunOutcome::default()
        },
    });
    merge(outcomes)
}

/// Runs `work` on every item, at most `parallel` at a time, each on a thread of its own, and
/// returns the results in the items' order. The unit of `parallel_databases`: one item per
/// database (backups: a plan part; restores: a prepared database, commands/restore/group.rs).
pub fn at_most<T: Send, R: Send>(
    parallel: usize,
    items: Vec<T>,
    work: impl Fn(T) -> R + Sync,
) -> Vec<R> {
    let workers = parallel.clamp(1, items.len().max(1));
    let queue: Mutex<VecDeque<(usize, T)>> = Mutex::new(items.into_iter().enumerate().collect());
    let results: Mutex<Vec<(usize, R)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let next = queue.lock().ok().and_then(|mut q| q.pop_front());
                let Some((i, item)) = next else {
                    break;
                };
                let r = work(item);
                if let Ok(mut out) = results.lock() {
                    out.push((i, r));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_default();
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{BbrError, ExitCode};
    use crate::plan::{Command, StepKind};

    fn step(db: &str, n: u32) -> Step {
        Step {
            kind: StepKind::RecordRunning,
            description: format!("{db} {n}"),
            database: Some(db.to_string()),
            label: Some(format!("l_{db}")),
            sql: None,
            retry: crate::plan::RetryPolicy {
                safe_to_retry: true,
                retry_when_busy: false,
                attempts: 1,
                initial_ms: 1,
                max_ms: 1,
            },
            details: None,
        }
    }

    #[test]
    fn split_keeps_each_databases_steps_in_order() {
        let plan = Plan::new(
            Command::Backup,
            serde_json::Value::Null,
            vec![step("a", 1), step("b", 1), step("a", 2), step("b", 2)],
        );
        let parts = split(plan);
        let got: Vec<Vec<String>> = parts
            .iter()
            .map(|p| p.steps.iter().map(|s| s.description.clone()).collect())
            .collect();
        assert_eq!(got, vec![vec!["a 1", "a 2"], vec!["b 1", "b 2"]]);
    }

    #[test]
    fn at_most_runs_that_many_at_once_and_keeps_the_order() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let (now, peak) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let got = at_most(2, (0..6).collect(), |i: u32| {
            let n = now.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(n, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(30));
            now.fetch_sub(1, Ordering::SeqCst);
            i * 10
        });
        assert_eq!(got, vec![0, 10, 20, 30, 40, 50]);
        assert_eq!(peak.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn merge_keeps_the_most_serious_error() {
        let with = |e: Option<BbrError>| RunOutcome {
            error: e,
            ..RunOutcome::default()
        };
        let out = merge(vec![
            with(Some(BbrError::job_failed("a failed", "x"))),
            with(None),
            with(Some(BbrError::refused("b refused", "y"))),
        ]);
        assert_eq!(out.error.map(|e| e.exit), Some(ExitCode::JobFailed));
    }
}
