//! Every fault knob and the statement log.
mod common;
use common::*;
use mysql::prelude::Queryable;
use starrocks_sim::{Sim, When};

#[test]
fn fail_once_fails_exactly_once() {
    let sim = start();
    let mut c = conn(&sim);
    sim.fail_once(
        "^SELECT 1$",
        5064,
        "Another backup or restore job is being submitted. Please wait and try again",
    );
    assert_eq!(
        fail(&mut c, "SELECT 1"),
        (
            5064,
            "Another backup or restore job is being submitted. Please wait and try again".into()
        )
    );
    assert_eq!(one(&mut c, "SELECT 1"), Some("1".into()));
    let log = sim.statements();
    let last_two: Vec<_> = log.iter().rev().take(2).collect();
    assert_eq!(last_two[0].error, None);
    assert!(last_two[1]
        .error
        .as_deref()
        .unwrap()
        .starts_with("Another backup"));
}

#[test]
fn drop_connection_before_does_not_execute_after_does() {
    let sim = start();
    let mut c = conn(&sim);
    exec(&mut c, "CREATE DATABASE d");
    sim.drop_connection("CREATE TABLE d.a", When::Before);
    assert!(c
        .query_drop("CREATE TABLE d.a (x INT) PROPERTIES (\"replication_num\" = \"1\")")
        .is_err());
    assert!(!sim.table_exists("d", "a"));
    let mut c = conn(&sim);
    sim.drop_connection("CREATE TABLE d.b", When::After);
    assert!(c
        .query_drop("CREATE TABLE d.b (x INT) PROPERTIES (\"replication_num\" = \"1\")")
        .is_err());
    assert!(sim.table_exists("d", "b"));
}

#[test]
fn drop_connection_after_n_statements() {
    let sim = start();
    let mut c = conn(&sim);
    sim.drop_connection_after(2);
    exec(&mut c, "SELECT 1");
    exec(&mut c, "SELECT 2");
    assert!(c.query_drop("SELECT 3").is_err());
    let mut c = conn(&sim);
    exec(&mut c, "SELECT 4");
}

/// Sends `sql` on its own thread and checks it is parked by a hang fault and stays unanswered.
/// Nothing here races the machine's speed: the wait for the park is bounded only by a generous
/// deadline, and a slow machine can only make "no answer yet" more certain.
fn assert_hangs(sim: &Sim, mut c: mysql::Conn, sql: &str) {
    let before = sim.hung();
    let (tx, rx) = std::sync::mpsc::channel();
    let q = sql.to_string();
    std::thread::spawn(move || {
        let _ = tx.send(c.query_drop(q).is_ok());
    });
    let start = std::time::Instant::now();
    while sim.hung() == before {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "{sql} was never parked"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(
        rx.recv_timeout(std::time::Duration::from_millis(200))
            .is_err(),
        "{sql} was answered"
    );
}

#[test]
fn hang_never_answers() {
    let sim = start();
    let c = conn(&sim);
    sim.hang("SELECT 42", When::Before);
    assert_hangs(&sim, c, "SELECT 42");
    let mut c = conn(&sim);
    assert_eq!(one(&mut c, "SELECT 42"), Some("42".into()));
}

#[test]
fn on_statement_hook_runs_once_after_execution() {
    let sim = start();
    let mut c = conn(&sim);
    exec(&mut c, "CREATE DATABASE d");
    sim.on_statement(
        "CREATE TABLE",
        Box::new(|s| {
            assert!(s.table_exists("d", "a"));
            s.create_table(
                "d",
                "hooked",
                &starrocks_sim::TableSpec::new(&[("x", "INT")]),
            )
            .unwrap();
        }),
    );
    exec(
        &mut c,
        "CREATE TABLE d.a (x INT) PROPERTIES (\"replication_num\" = \"1\")",
    );
    assert!(sim.table_exists("d", "hooked"));
    sim.drop_table("d", "hooked").unwrap();
    exec(
        &mut c,
        "CREATE TABLE d.b (x INT) PROPERTIES (\"replication_num\" = \"1\")",
    );
    assert!(!sim.table_exists("d", "hooked"));
}

#[test]
fn cancel_next_job_and_stall() {
    // STARROCKS.md §2: CANCELLED from any non-final state, with the Status given
    let sim = start_manual();
    demo(&sim);
    let mut c = conn(&sim);
    sim.cancel_next_job("[COMMON_ERROR, msg: upload failed]");
    exec(&mut c, "BACKUP SNAPSHOT sales.l TO repo");
    sim.advance(secs(60));
    let r = &show_map(&mut c, "SHOW BACKUP FROM sales")[0];
    assert_eq!(r["State"].as_deref(), Some("CANCELLED"));
    assert_eq!(
        r["Status"].as_deref(),
        Some("[COMMON_ERROR, msg: upload failed]")
    );
    sim.stall_jobs(true);
    exec(&mut c, "BACKUP SNAPSHOT sales.l2 TO repo");
    sim.advance(secs(60));
    assert_eq!(state(&mut c, "SHOW BACKUP FROM sales"), "PENDING");
    sim.stall_jobs(false);
    sim.advance(secs(60));
    assert_eq!(state(&mut c, "SHOW BACKUP FROM sales"), "FINISHED");
    let jobs = sim.jobs();
    assert_eq!(jobs.len(), 2);
    assert_eq!(jobs[1].state, "FINISHED");
}

#[test]
fn statement_log_and_server_version() {
    let sim = start();
    sim.set_release("3.4.0").unwrap();
    let mut c = conn(&sim);
    assert_eq!(c.server_version(), (8, 0, 33));
    sim.clear_statements();
    exec(&mut c, "SELECT 1");
    sim.execute("SELECT 2").unwrap();
    let log = sim.statements();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].sql, "SELECT 1");
    assert!(log[0].conn_id > 0);
}

#[test]
fn tick_per_statement_moves_the_clock() {
    let sim = start();
    let t0 = sim.now();
    let mut c = conn(&sim);
    exec(&mut c, "SELECT 1");
    assert!(sim.now() > t0);
    sim.advance(secs(10));
    assert!(sim.now() >= t0 + chrono::Duration::seconds(10));
}

#[test]
fn drop_and_hang_at_the_nth_statement() {
    let sim = start();
    let mut c = conn(&sim);
    exec(&mut c, "CREATE DATABASE d");
    // statement 1 (0-based) after setting: executed, then the connection is closed
    sim.drop_connection_at(1, When::After);
    exec(&mut c, "SELECT 1");
    assert!(c
        .query_drop("CREATE TABLE d.a (x INT) PROPERTIES (\"replication_num\" = \"1\")")
        .is_err());
    assert!(sim.table_exists("d", "a"));
    let mut c = conn(&sim);
    sim.drop_connection_at(0, When::Before);
    assert!(c
        .query_drop("CREATE TABLE d.b (x INT) PROPERTIES (\"replication_num\" = \"1\")")
        .is_err());
    assert!(!sim.table_exists("d", "b"));
    // once only
    let mut c = conn(&sim);
    exec(&mut c, "SELECT 2");
    exec(&mut c, "SELECT 3");
    // hang_at: the 2nd statement from now is never answered
    let mut c = conn(&sim);
    sim.hang_at(1, When::Before);
    exec(&mut c, "SELECT 4");
    assert_hangs(&sim, c, "SELECT 5");
    let last = sim.statements().last().unwrap().sql.clone();
    assert_eq!(last, "SELECT 5");
    let mut c = conn(&sim);
    exec(&mut c, "SELECT 6");
}

#[test]
fn cancel_next_job_at_a_chosen_state_and_task_err_msg() {
    let sim = start_manual();
    demo(&sim);
    let mut c = conn(&sim);
    sim.set_task_err_msg("upload failed: access denied");
    sim.cancel_next_job_at("UPLOADING", "[COMMON_ERROR, msg: boom]");
    exec(&mut c, "BACKUP SNAPSHOT sales.l TO repo");
    let r = &show_map(&mut c, "SHOW BACKUP FROM sales")[0];
    assert_eq!(
        r["TaskErrMsg"].as_deref(),
        Some("upload failed: access denied")
    );
    sim.advance(secs(3));
    for expect in ["SNAPSHOTING", "UPLOAD_SNAPSHOT", "UPLOADING"] {
        assert_eq!(state(&mut c, "SHOW BACKUP FROM sales"), expect);
        sim.advance(secs(2));
    }
    let r = &show_map(&mut c, "SHOW BACKUP FROM sales")[0];
    assert_eq!(r["State"].as_deref(), Some("CANCELLED"));
    assert_eq!(r["Status"].as_deref(), Some("[COMMON_ERROR, msg: boom]"));
    assert_eq!(r["TaskErrMsg"].as_deref(), Some(""));
    // PENDING: cancelled by the first scheduler pass; the next job is untouched
    sim.set_task_err_msg("");
    sim.cancel_next_job_at("PENDING", "[COMMON_ERROR, msg: early]");
    exec(&mut c, "BACKUP SNAPSHOT sales.l2 TO repo");
    sim.advance(secs(3));
    assert_eq!(state(&mut c, "SHOW BACKUP FROM sales"), "CANCELLED");
    exec(&mut c, "BACKUP SNAPSHOT sales.l3 TO repo");
    let r = &show_map(&mut c, "SHOW BACKUP FROM sales")[0];
    assert_eq!(r["TaskErrMsg"].as_deref(), Some(""));
    sim.advance(secs(60));
    assert_eq!(state(&mut c, "SHOW BACKUP FROM sales"), "FINISHED");
}
