//! Issue 3 "Done when", end to end over the wire against the simulator.

mod common;
use common::*;
use starrocks_sim::When;
use std::time::Duration;

/// Init + one FULL backup; returns its label.
fn init_and_full(env: &Env) -> String {
    env.run_ok(&["init"], 0);
    let out = env.run_ok(&["backup"], 0);
    assert!(out.contains("FINISHED"), "{out}");
    let h = env.history();
    assert_eq!(h.last().unwrap().2, "FINISHED", "{h:?}");
    h.last().unwrap().0.clone()
}

/// (label, backup_type, status, base_label, backup_timestamp, partitions) of one history row.
fn row(env: &Env, label: &str) -> Vec<Option<String>> {
    env.query(&format!(
        "SELECT label, backup_type, status, base_label, backup_timestamp, partitions, error_message, finished_at, snapshot_at FROM ops.backup_history WHERE label = '{label}'"
    ))
    .remove(0)
}

#[test]
fn init_twice_is_harmless_and_first_backup_is_full() {
    let env = Env::demo();
    let out = env.run_ok(&["init"], 0);
    assert!(out.contains("ops tables ready"), "{out}");
    let out = env.run_ok(&["init"], 0);
    assert!(out.contains("nothing to do"), "{out}");
    let label = init_and_full(&env);
    assert!(
        label.starts_with("bbr_sales_") && label.contains("_full_"),
        "{label}"
    );
    let h = env.history();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].1, "full");
    let jobs = env.sim.jobs();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].state, "FINISHED");
    assert_eq!(env.last_job_objects(), vec!["customers", "orders"]);
    assert_eq!(env.in_snapshot(&label).len(), 5);
    // the exact SHOW SNAPSHOT timestamp is stored
    let r = row(&env, &label);
    let snap = env.sim.snapshots("backup_repo");
    assert_eq!(r[4].as_deref(), Some(snap[0].timestamp.as_str()));
    assert_eq!(r[5].as_deref(), Some("5"));
    assert!(r[7].is_some() && r[8].is_some(), "{r:?}");
}

#[test]
fn incremental_holds_exactly_the_loaded_partitions() {
    let env = Env::demo();
    let full = init_and_full(&env);
    env.sim.load("sales", "orders", "p20260102", 7).unwrap();
    env.sim.load("sales", "orders", "p20260104", 7).unwrap();
    let out = env.run_ok(&["backup"], 0);
    assert!(out.contains("incremental, 2 partitions"), "{out}");
    let h = env.history();
    assert_eq!(h.len(), 2);
    let incr = &h[1];
    assert_eq!(
        (incr.1.as_str(), incr.2.as_str()),
        ("incremental", "FINISHED")
    );
    assert_eq!(row(&env, &incr.0)[3].as_deref(), Some(full.as_str()));
    assert_eq!(env.sim.jobs().len(), 2);
    assert_eq!(
        env.last_job_objects(),
        vec!["orders PARTITION (p20260102, p20260104)"]
    );
    assert_eq!(
        env.in_snapshot(&incr.0),
        vec![
            ("orders".to_string(), "p20260102".to_string()),
            ("orders".to_string(), "p20260104".to_string())
        ]
    );
}

#[test]
fn nothing_changed_sends_no_backup_and_exits_0() {
    let env = Env::demo();
    init_and_full(&env);
    env.sim.clear_statements();
    let out = env.run_ok(&["backup"], 0);
    assert!(out.contains("nothing changed"), "{out}");
    assert_eq!(env.backups_sent(), 0);
    assert_eq!(env.history().len(), 1);
}

#[test]
fn load_during_a_running_backup_is_caught_by_the_next_incremental() {
    if skip_on_real_cluster("load_during_a_running_backup") {
        return;
    }
    let env = Env::demo();
    env.run_ok(&["init"], 0);
    // Once the full backup is polled, move its job past PENDING, then load.
    env.sim.on_statement(
        "^SHOW BACKUP",
        Box::new(|sim| {
            sim.advance(Duration::from_secs(5));
            let j = sim.jobs();
            assert_ne!(j.last().unwrap().state, "PENDING");
            sim.load("sales", "orders", "p20260103", 1).unwrap();
        }),
    );
    let out = env.run_ok(&["backup"], 0);
    assert!(out.contains("FINISHED"), "{out}");
    let out = env.run_ok(&["backup"], 0);
    assert!(out.contains("incremental, 1 partitions"), "{out}");
    assert_eq!(env.last_job_objects(), vec!["orders PARTITION (p20260103)"]);
}

#[test]
fn cancelled_job_is_failed_exit_1_and_next_run_bases_on_last_finished() {
    if skip_on_real_cluster("cancelled_job") {
        return;
    }
    let env = Env::demo();
    let full = init_and_full(&env);
    env.sim.load("sales", "customers", "customers", 1).unwrap();
    env.sim
        .cancel_next_job("[COMMON_ERROR, msg: upload failed]");
    let o = env.run(&["backup"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    let last = err.lines().last().unwrap();
    assert!(
        last.starts_with("error: ") && last.contains("upload failed"),
        "{err}"
    );
    let h = env.history();
    assert_eq!(h.len(), 2);
    assert_eq!(h[1].2, "FAILED");
    assert!(
        h[1].3.as_deref().unwrap().contains("upload failed"),
        "{h:?}"
    );
    // the next run is incremental on the last FINISHED (the full), not on the failed one
    let out = env.run_ok(&["backup"], 0);
    assert!(out.contains("FINISHED"), "{out}");
    let h = env.history();
    assert_eq!(h.len(), 3);
    assert_eq!(row(&env, &h[2].0)[3].as_deref(), Some(full.as_str()));
    assert_eq!(
        env.last_job_objects(),
        vec!["customers PARTITION (customers)"]
    );
}

/// Starts a backup, lets it hang on its first poll, SIGKILLs it; returns the RUNNING label.
fn killed_after_issue(env: &Env) -> String {
    env.backup_killed_at_first_poll();
    assert_eq!(env.sim.jobs().len(), 1);
    let h = env.history();
    let running: Vec<_> = h.iter().filter(|r| r.2 == "RUNNING").collect();
    assert_eq!(running.len(), 1, "{h:?}");
    running[0].0.clone()
}

#[test]
fn killed_run_is_finished_by_the_next_without_a_second_backup() {
    if skip_on_real_cluster("killed_run") {
        return;
    }
    let env = Env::demo();
    env.run_ok(&["init"], 0);
    let label = killed_after_issue(&env);
    // Its heartbeat goes stale: the runner is dead.
    env.sim.advance(Duration::from_secs(600));
    let out = env.run_ok(&["backup"], 0);
    assert!(
        out.contains(&format!("interrupted backup {label} FINISHED")),
        "{out}"
    );
    assert!(out.contains("nothing changed"), "{out}");
    assert_eq!(env.sim.jobs().len(), 1, "no second BACKUP");
    let r = row(&env, &label);
    assert_eq!(r[2].as_deref(), Some("FINISHED"));
    assert!(r[4].is_some(), "backup_timestamp recorded: {r:?}");
}

#[test]
fn run_finding_a_fresh_claim_whose_job_still_runs_exits_4() {
    if skip_on_real_cluster("fresh_claim_running_job") {
        return;
    }
    let env = Env::demo();
    env.run_ok(&["init"], 0);
    env.sim.stall_jobs(true);
    killed_after_issue(&env);
    let o = env.run(&["backup"]);
    assert_eq!(
        o.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(env.sim.jobs().len(), 1);
}

#[test]
fn dropped_connections_are_survived() {
    if skip_on_real_cluster("dropped_connections") {
        return;
    }
    let env = Env::demo();
    env.run_ok(&["init"], 0);
    // BACKUP executed but never answered: the label is looked up, not re-sent.
    env.sim.drop_connection("^BACKUP", When::After);
    env.sim.drop_connection("^SHOW BACKUP", When::Before);
    env.sim
        .drop_connection("^INSERT INTO `ops`.`backup_partitions`", When::After);
    env.sim
        .drop_connection("^UPDATE `ops`.`backup_history` SET `status`", When::Before);
    let out = env.run_ok(&["backup"], 0);
    assert!(out.contains("FINISHED"), "{out}");
    assert_eq!(env.sim.jobs().len(), 1);
    let h = env.history();
    assert_eq!(h[0].2, "FINISHED");
    // the doubled manifest chunk is harmless
    assert_eq!(env.in_snapshot(&h[0].0).len(), 5);

    // BACKUP dropped before it executed: StarRocks does not know the label, so it is sent again.
    env.sim.load("sales", "orders", "p20260101", 1).unwrap();
    env.sim.drop_connection("^BACKUP", When::Before);
    let out = env.run_ok(&["backup"], 0);
    assert!(out.contains("FINISHED"), "{out}");
    assert_eq!(env.sim.jobs().len(), 2);
}

#[test]
fn being_submitted_error_is_retried() {
    if skip_on_real_cluster("being_submitted") {
        return;
    }
    let env = Env::demo();
    env.run_ok(&["init"], 0);
    env.sim.fail_once(
        "^BACKUP",
        5064,
        "Another backup or restore job is being submitted. Please wait and try again",
    );
    let out = env.run_ok(&["backup"], 0);
    assert!(out.contains("FINISHED"), "{out}");
    assert_eq!(env.sim.jobs().len(), 1);
    let errors: Vec<_> = env
        .sim
        .statements()
        .into_iter()
        .filter(|s| s.error.is_some())
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
}

#[test]
fn list_prints_both_formats() {
    let env = Env::demo();
    let full = init_and_full(&env);
    env.sim.load("sales", "orders", "p20260101", 1).unwrap();
    env.run_ok(&["backup"], 0);
    let json = env.run_ok(&["list", "--format", "json"], 0);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let a = v.as_array().unwrap();
    assert_eq!(a.len(), 2);
    assert_eq!(a[1]["label"], full.as_str());
    assert_eq!(a[0]["backup_type"], "incremental");
    assert_eq!(a[1]["backup_type"], "full");
    for e in a {
        for k in [
            "label",
            "database",
            "backup_type",
            "status",
            "started_at",
            "finished_at",
            "backup_timestamp",
            "partitions",
            "restorable_at",
        ] {
            assert!(e.get(k).is_some(), "{k} missing in {e}");
        }
        assert_eq!(e["status"], "FINISHED");
    }
    assert_eq!(a[0]["partitions"], 1);
    let table = env.run_ok(&["list"], 0);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "{table}");
    assert!(lines[3].contains("session time zone"), "{table}");
    assert!(lines[0].starts_with("LABEL"));
    assert!(lines[2].starts_with(&full));
    assert_eq!(lines[0].find("STATUS"), lines[1].find("FINISHED"));
}
