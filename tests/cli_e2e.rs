//! Exit codes, one-line errors, claims and refusals — over the wire against the simulator.

mod common;
use common::*;
use std::process::Output;

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// The last stderr line is the one error line: `error: <what>; <what to do>`.
fn error_line(o: &Output) -> String {
    let e = stderr(o);
    let line = e.lines().last().unwrap_or_default().to_string();
    assert!(
        line.starts_with("error: ") && line.contains("; "),
        "not one error line: {e}"
    );
    line
}

#[test]
fn bad_config_is_exit_2_with_location() {
    let env = Env::demo();
    std::fs::write(
        &env.config,
        "connection:\n  host: h\n  user: u\n  pasword: x\nrepository: r\ntables: [a.b]\n",
    )
    .unwrap();
    let o = env.run(&["backup"]);
    assert_eq!(o.status.code(), Some(2));
    let l = error_line(&o);
    assert!(l.contains("config.yaml:4:") && l.contains("pasword"), "{l}");
}

#[test]
fn missing_password_env_is_exit_2() {
    let env = Env::with(sim_options(), "");
    let text = std::fs::read_to_string(&env.config).unwrap().replace(
        "  user: root\n",
        "  user: root\n  password_env: BBR_TEST_NO_SUCH_VAR\n",
    );
    std::fs::write(&env.config, text).unwrap();
    let o = env
        .cmd(&["list"])
        .env_remove("BBR_TEST_NO_SUCH_VAR")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(error_line(&o).contains("BBR_TEST_NO_SUCH_VAR"));
}

#[test]
fn wrong_password_is_exit_3_and_never_printed() {
    let env = Env::demo();
    let text = std::fs::read_to_string(&env.config)
        .unwrap()
        .replace("  user: root\n", "  user: root\n  password: s3cret-pw\n");
    std::fs::write(&env.config, text).unwrap();
    let o = env.run(&["backup", "-vv"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(!stderr(&o).contains("s3cret-pw"));
    error_line(&o);
}

#[test]
fn unreachable_cluster_is_exit_3() {
    let env = Env::demo();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let cfg = write_config(
        env.dir.path(),
        "demo.yaml",
        port,
        "retry: {attempts: 2, initial_ms: 5, max_ms: 10}\n",
    );
    let text = std::fs::read_to_string(&cfg).unwrap();
    // the tuning fixture also sets retry; keep the last (unique) one
    let text = text.replacen("retry: {attempts: 5, initial_ms: 5, max_ms: 50}\n", "", 1);
    std::fs::write(&cfg, text).unwrap();
    let o = env.run(&["list"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    error_line(&o);
}

#[test]
fn backup_before_init_says_run_init() {
    let env = Env::demo();
    let o = env.run(&["backup"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(error_line(&o).contains("init"));
}

#[test]
fn missing_table_is_left_out_exit_1_naming_it() {
    // SPEC (v2): a table dropped since the config was written never blocks the others
    let env = Env::demo();
    env.run_ok(&["init"], 0);
    env.sim.drop_table("sales", "customers").unwrap();
    let plan = env.run_ok(&["backup", "--dry-run"], 0);
    assert!(
        plan.contains("\"left_out\"") && plan.contains("\"missing\""),
        "{plan}"
    );
    let o = env.run(&["backup"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let line = error_line(&o);
    assert!(
        line.contains("sales.customers") && line.contains("does not exist"),
        "{line}"
    );
    let h = env.history();
    assert!(h.iter().any(|r| r.2 == "FINISHED"), "{h:?}");
    assert!(
        h.iter().any(|r| r.2 == "FAILED"
            && r.0.contains("_left_")
            && r.3
                .as_deref()
                .is_some_and(|m| m.contains("sales.customers left out"))),
        "{h:?}"
    );
}

#[test]
fn restore_usage_errors_exit_2() {
    let env = Env::demo();
    // no ops tables yet: restore has no history to plan from
    let o = env.run(&[
        "restore",
        "--table",
        "sales.orders",
        "--timestamp",
        "2026-01-01 00:00:00",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(error_line(&o).contains("init"));
    let o = env.run(&[
        "restore",
        "--table",
        "sales.orders",
        "--timestamp",
        "yesterday",
    ]);
    assert_eq!(o.status.code(), Some(2));
    error_line(&o);
    let o = env.run(&["frobnicate"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(error_line(&o).contains("frobnicate"), "{}", stderr(&o));
}

#[test]
fn a_missing_argument_is_named_on_the_one_error_line() {
    let o = std::process::Command::new(assert_cmd::cargo::cargo_bin("starrocks-bbr"))
        .args(["list"])
        .env_remove("STARROCKS_BBR_CONFIG")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
    assert!(error_line(&o).contains("--config"), "{}", stderr(&o));
}

#[test]
fn config_from_env_var() {
    let env = Env::demo();
    env.run_ok(&["init"], 0);
    let mut c = assert_cmd::Command::cargo_bin("starrocks-bbr").unwrap();
    let o = c
        .args(["list", "--format", "json"])
        .env("STARROCKS_BBR_CONFIG", &env.config)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "[]");
}

#[test]
fn fresh_claim_of_another_run_refuses_with_exit_4() {
    if skip_on_real_cluster("fresh_claim_of_another_run_refuses_with_exit_4") {
        return;
    }
    let env = Env::demo();
    env.run_ok(&["init"], 0);
    env.sim
        .execute("INSERT INTO ops.backup_history (label, database_name, backup_type, status, repository, started_at, heartbeat_at) VALUES ('bbr_sales_other', 'sales', 'full', 'RUNNING', 'backup_repo', NOW(), NOW())")
        .unwrap();
    env.sim.clear_statements();
    let o = env.run(&["backup"]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(error_line(&o).contains("another run holds database sales"));
    assert_eq!(env.backups_sent(), 0);
    // our claim was withdrawn; the other run's row is untouched
    let h = env.history();
    assert_eq!(h.len(), 1, "{h:?}");
    assert_eq!(h[0].0, "bbr_sales_other");
}

#[test]
fn stale_plan_is_refused_with_exit_4() {
    if skip_on_real_cluster("stale_plan_is_refused_with_exit_4") {
        return;
    }
    let env = Env::demo();
    env.run_ok(&["init"], 0);
    // Between planning and the base check, another run's backup finishes.
    env.sim.on_statement(
        "^SELECT `label`, `started_at`, `heartbeat_at`",
        Box::new(|sim| {
            sim.execute("INSERT INTO ops.backup_history (label, database_name, backup_type, status, repository, started_at, finished_at) VALUES ('bbr_sales_sneaky', 'sales', 'full', 'FINISHED', 'backup_repo', NOW(), NOW())")
                .unwrap();
        }),
    );
    env.sim.clear_statements();
    let o = env.run(&["backup"]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(error_line(&o).contains("stale"));
    assert_eq!(env.backups_sent(), 0);
    let h = env.history();
    assert_eq!(h.len(), 1, "our claim is withdrawn: {h:?}");
}

#[test]
fn two_runs_started_together_send_one_backup() {
    if skip_on_real_cluster("two_runs_started_together") {
        return;
    }
    let env = Env::demo();
    env.run_ok(&["init"], 0);
    // Jobs stay RUNNING until both runs are decided, so the runs overlap however late the second
    // process starts on a loaded machine (without this, a slow start let the first run finish and
    // the second see "nothing changed").
    env.sim.stall_jobs(true);
    let spawn = || {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("starrocks-bbr"))
            .args(["backup", "--config"])
            .arg(&env.config)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut children = [spawn(), spawn()];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while children.iter_mut().all(|c| c.try_wait().unwrap().is_none()) {
        assert!(std::time::Instant::now() < deadline, "neither run ended");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    env.sim.stall_jobs(false);
    let [a, b] = children.map(|c| c.wait_with_output().unwrap());
    let mut codes = vec![a.status.code(), b.status.code()];
    codes.sort();
    assert_eq!(
        codes,
        vec![Some(0), Some(4)],
        "{}\n{}",
        stderr(&a),
        stderr(&b)
    );
    assert_eq!(env.sim.jobs().len(), 1);
    let h = env.history();
    assert_eq!(h.len(), 1, "the loser withdrew its claim: {h:?}");
    assert_eq!(h[0].2, "FINISHED");
}

/// SPEC `list`: EXPIRED rows only with `--status EXPIRED`, and `--limit N` counts the rows shown
/// (a recent EXPIRED row — a snapshot found vanished — must not push the newest visible one out).
#[test]
fn list_hides_expired_rows_unless_asked_and_limit_counts_shown_rows() {
    let env = Env::demo();
    env.run_ok(&["init"], 0);
    let full = env.backup_finished();
    env.sim.load("sales", "orders", "p20260102", 5).unwrap();
    let incr = env.backup_finished();
    env.query(&format!(
        "UPDATE ops.backup_history SET status = 'EXPIRED' WHERE label = '{incr}'"
    ));
    let labels = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["list", "--format", "json"];
        a.extend_from_slice(args);
        let v: serde_json::Value = serde_json::from_str(&env.run_ok(&a, 0)).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| r["label"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(labels(&[]), vec![full.clone()]);
    assert_eq!(labels(&["--limit", "1"]), vec![full.clone()]);
    assert_eq!(labels(&["--status", "EXPIRED"]), vec![incr.clone()]);
    assert_eq!(
        labels(&["--status", "FINISHED", "--limit", "1"]),
        vec![full]
    );
}
