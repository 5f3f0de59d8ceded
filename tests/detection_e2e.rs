//! Change detection and job-watching edge cases against the simulator.

mod common;
use common::*;
use starrocks_sim::{PartitionSpec, SimOptions};
use std::time::Duration;

fn full(env: &Env) {
    env.run_ok(&["init"], 0);
    env.run_ok(&["backup"], 0);
}

#[test]
fn schema_change_backs_the_table_up_whole() {
    if skip_on_real_cluster("schema_change") {
        return;
    }
    let env = Env::demo();
    full(&env);
    env.sim
        .add_column("sales", "orders", "note", "VARCHAR(32)")
        .unwrap();
    let out = env.run_ok(&["backup"], 0);
    assert!(out.contains("incremental, 4 partitions"), "{out}");
    assert_eq!(env.last_job_objects(), vec!["orders"]);
    let label = env.history().last().unwrap().0.clone();
    let whole = env.query(&format!(
        "SELECT COUNT(*) FROM ops.backup_partitions WHERE label = '{label}' AND whole_table = 1 AND table_name = 'orders'"
    ));
    assert_eq!(whole[0][0].as_deref(), Some("4"));
}

#[test]
fn truncated_and_new_partitions_are_included() {
    if skip_on_real_cluster("truncate_new") {
        return;
    }
    let env = Env::demo();
    full(&env);
    env.sim
        .truncate_partition("sales", "orders", "p20260101")
        .unwrap();
    env.sim
        .add_partition(
            "sales",
            "orders",
            &PartitionSpec::less_than("p20260105", "2026-01-06"),
        )
        .unwrap();
    env.run_ok(&["backup"], 0);
    assert_eq!(
        env.last_job_objects(),
        vec!["orders PARTITION (p20260101, p20260105)"]
    );
}

#[test]
fn show_partitions_fallback_without_partitions_meta() {
    if skip_on_real_cluster("fallback") {
        return;
    }
    let env = Env::with(
        SimOptions {
            partitions_meta: Some(false),
            ..sim_options()
        },
        "",
    );
    full(&env);
    assert!(env
        .sent()
        .iter()
        .any(|s| s.starts_with("SHOW PARTITIONS FROM")));
    env.sim.load("sales", "orders", "p20260103", 1).unwrap();
    env.run_ok(&["backup"], 0);
    assert_eq!(env.last_job_objects(), vec!["orders PARTITION (p20260103)"]);
}

#[test]
fn temp_partitions_leave_their_table_out() {
    if skip_on_real_cluster("temp_partitions") {
        return;
    }
    let env = Env::demo();
    full(&env);
    env.sim
        .add_temp_partition(
            "sales",
            "orders",
            &PartitionSpec::less_than("tp1", "2026-01-02"),
        )
        .unwrap();
    env.sim.load("sales", "customers", "customers", 1).unwrap();
    env.sim.clear_statements();
    // STARROCKS.md §6: BACKUP refuses a table with temporary partitions, so it is left out
    // (exit 1, named) and the rest of the database is still backed up
    let o = env.run(&["backup"]);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("sales.orders left out of this backup: it has temporary partitions (tp1)"),
        "{err}"
    );
    assert_eq!(env.backups_sent(), 1);
    let sent = env.sent();
    let backup = sent.iter().find(|s| s.starts_with("BACKUP")).unwrap();
    assert!(
        backup.contains("customers") && !backup.contains("orders"),
        "{backup}"
    );
}

#[test]
fn job_timeout_cancels_and_records_failed() {
    if skip_on_real_cluster("job_timeout") {
        return;
    }
    let env = Env::with(sim_options(), "job_timeout_s: 600\n");
    env.run_ok(&["init"], 0);
    env.sim.stall_jobs(true);
    env.sim.on_statement(
        "^SHOW BACKUP",
        Box::new(|sim| sim.advance(Duration::from_secs(700))),
    );
    let o = env.run(&["backup"]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let h = env.history();
    assert_eq!(h[0].2, "FAILED");
    let msg = h[0].3.clone().unwrap_or_default();
    assert!(msg.contains("timeout") || msg.contains("TIMEOUT"), "{msg}");
}

#[test]
fn resume_of_a_fresh_row_whose_job_already_finished() {
    if skip_on_real_cluster("resume_visibly_finished") {
        return;
    }
    let env = Env::demo();
    env.run_ok(&["init"], 0);
    // The run dies right after BACKUP was answered (its first poll is never answered).
    env.backup_killed_at_first_poll();
    // The job finishes; the heartbeat is still fresh (60 s < 300 s).
    env.sim.advance(Duration::from_secs(60));
    let out = env.run_ok(&["backup"], 0);
    assert!(out.contains("interrupted backup"), "{out}");
    assert_eq!(env.sim.jobs().len(), 1);
    assert_eq!(env.history()[0].2, "FINISHED");
}
