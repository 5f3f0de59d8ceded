//! Helpers of the disaster-recovery e2e tests (tests/recover_e2e.rs, tests/recover_history_e2e.rs):
//! cluster A with catalog backups on, cluster B on A's repository storage, and what to compare.

use super::*;
use starrocks_sim::Sim;
use std::time::Duration;

/// (partition name, visible version, row count), sorted: what a restore must reproduce.
pub type Parts = Vec<(String, u64, u64)>;

pub fn parts(sim: &Sim, table: &str) -> Parts {
    let mut v: Parts = sim
        .partitions("sales", table)
        .unwrap()
        .into_iter()
        .filter(|p| !p.is_temp)
        .map(|p| (p.name, p.visible_version, p.row_count))
        .collect();
    v.sort();
    v
}

/// The demo cluster with catalog backups on (the default; the generic test tuning turns them off).
pub fn cluster_a() -> Env {
    let env = Env::demo();
    let text = std::fs::read_to_string(&env.config)
        .unwrap()
        .replace("catalog_backup: false", "catalog_backup: true");
    std::fs::write(&env.config, text).unwrap();
    env
}

/// Cluster A after `init` and its first backup (a full and a catalog snapshot).
pub fn cluster_a_backed_up() -> Env {
    let a = cluster_a();
    a.run_ok(&["init"], 0);
    a.run_ok(&["backup"], 0);
    a
}

/// A new cluster on A's repository storage, the repository not yet created (runbook step 1).
pub fn cluster_b(a: &Env) -> Env {
    a.new_cluster_on(sim_options(), false)
}

pub fn ts(t: chrono::NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// `list --format json` rows of the data databases as (label, type, status, backup_timestamp,
/// restorable_at): what a restore on the new cluster must find exactly as on the old one.
pub fn data_history(env: &Env) -> Vec<Vec<String>> {
    let out = env.run_ok(&["list", "--format", "json"], 0);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    rows.iter()
        .filter(|r| r["database"] != "ops")
        .map(|r| {
            [
                "label",
                "backup_type",
                "status",
                "backup_timestamp",
                "restorable_at",
                "snapshot_at",
            ]
            .iter()
            .map(|k| r[*k].to_string())
            .collect()
        })
        .collect()
}

pub fn catalog_rows(env: &Env) -> Vec<(String, String)> {
    env.query("SELECT label, status FROM ops.backup_history WHERE database_name = 'ops' ORDER BY started_at, label")
        .into_iter()
        .map(|r| (r[0].clone().unwrap(), r[1].clone().unwrap()))
        .collect()
}

/// Cluster B (see `cluster_b`) with the repository attached under A's name and location.
pub fn attached_b(a: &Env) -> Env {
    a.new_cluster_on(sim_options(), true)
}

/// `recover` refuses with `code` and one error line containing `what`, having sent only SELECT/SHOW.
pub fn assert_recover_refused(b: &Env, code: i32, what: &str) {
    let out = b.run(&["recover"]);
    assert_eq!(out.status.code(), Some(code));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(what), "{err}");
    // the log may say which release was detected; the error itself is one line
    let errors: Vec<&str> = err.lines().filter(|l| !l.contains(" INFO ")).collect();
    assert_eq!(errors.len(), 1, "{err}");
    assert!(b
        .sent()
        .iter()
        .all(|s| s.starts_with("SELECT") || s.starts_with("SHOW") || s.starts_with("ADMIN SHOW ")));
}

/// Cluster A like `cluster_a`, its sessions in `zone` (history times are zone-less: recover must
/// write the settled rows' snapshot_at in the same zone).
pub fn cluster_a_in(zone: chrono::FixedOffset) -> Env {
    let env = Env::with(
        starrocks_sim::SimOptions {
            session_time_zone: zone,
            ..sim_options()
        },
        "",
    );
    let text = std::fs::read_to_string(&env.config)
        .unwrap()
        .replace("catalog_backup: false", "catalog_backup: true");
    std::fs::write(&env.config, text).unwrap();
    env
}

/// A catalog snapshot taken the way the catalog job takes it (its own row RUNNING), by hand, so a
/// test can decide what else is RUNNING in it.
pub fn manual_catalog(a: &Env, label: &str) {
    a.sim
        .execute(&format!("INSERT INTO ops.backup_history (label, database_name, backup_type, status, repository, started_at, heartbeat_at, partitions, tables) VALUES ('{label}', 'ops', 'full', 'RUNNING', 'backup_repo', NOW(), NOW(), 0, '[]')"))
        .unwrap();
    a.sim
        .execute(&format!("BACKUP SNAPSHOT ops.{label} TO backup_repo"))
        .unwrap();
    a.sim.advance(Duration::from_secs(60));
}
