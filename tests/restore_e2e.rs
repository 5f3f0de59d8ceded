//! Issue 4 "Done when", end to end over the wire against the simulator: point-in-time restore of one
//! table from its full + incremental chain.

mod common;
use common::*;
use starrocks_sim::{JobKind, SimOptions, When};
use std::time::Duration;

/// (partition name, visible version, row count), sorted by name: what a restore must reproduce.
type Parts = Vec<(String, u64, u64)>;

fn parts(env: &Env, table: &str) -> Parts {
    env.parts(table)
}

/// Runs a backup that must finish and returns the newest history label.
fn backup(env: &Env) -> String {
    env.backup_finished()
}

/// The recorded snapshot time of a backup (session time zone): restore targets are picked from it.
fn snapshot_at(env: &Env, label: &str) -> chrono::NaiveDateTime {
    let r = env.query(&format!(
        "SELECT snapshot_at FROM ops.backup_history WHERE label = '{label}'"
    ));
    let s = r[0][0].clone().unwrap();
    chrono::NaiveDateTime::parse_from_str(&s[..19], "%Y-%m-%d %H:%M:%S").unwrap()
}

fn ts(t: chrono::NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

fn restore(env: &Env, target: &str, code: i32) -> String {
    env.run_ok(
        &["restore", "--table", "sales.orders", "--timestamp", target],
        code,
    )
}

/// RESTORE statements the tool sent, in order.
fn restores_sent(env: &Env) -> Vec<String> {
    env.sent()
        .into_iter()
        .filter(|s| s.trim_start().to_ascii_uppercase().starts_with("RESTORE"))
        .collect()
}

/// (snapshot label, state) of the simulator's RESTORE jobs, in submission order.
fn restore_jobs(env: &Env) -> Vec<(String, String)> {
    env.sim
        .jobs()
        .into_iter()
        .filter(|j| j.kind == JobKind::Restore)
        .map(|j| (j.label, j.state))
        .collect()
}

/// restore_history rows: (label, status, error_message, chain), oldest first.
fn restore_history(env: &Env) -> Vec<(String, String, Option<String>, Option<String>)> {
    env.query("SELECT label, status, error_message, chain FROM ops.restore_history ORDER BY started_at, label")
        .into_iter()
        .map(|r| {
            (
                r[0].clone().unwrap_or_default(),
                r[1].clone().unwrap_or_default(),
                r[2].clone(),
                r[3].clone(),
            )
        })
        .collect()
}

fn last_error_line(o: &std::process::Output) -> String {
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    let last = err.lines().last().unwrap_or_default().to_string();
    assert!(last.starts_with("error: "), "{err}");
    last
}

/// Full at t0, incrementals at t1 and t2 with loads between; returns (labels, partitions at t1).
fn three_backups(env: &Env) -> ([String; 3], Parts) {
    env.run_ok(&["init"], 0);
    let full = backup(env);
    env.sim.load("sales", "orders", "p20260102", 5).unwrap();
    let incr1 = backup(env);
    let at_t1 = parts(env, "orders");
    env.sim.load("sales", "orders", "p20260103", 7).unwrap();
    env.sim.load("sales", "orders", "p20260102", 1).unwrap();
    let incr2 = backup(env);
    assert_ne!(parts(env, "orders"), at_t1);
    ([full, incr1, incr2], at_t1)
}

#[test]
fn restore_between_t1_and_t2_yields_exactly_the_partitions_of_t1() {
    if skip_on_real_cluster("restore_between_t1_and_t2") {
        return;
    }
    let env = Env::demo();
    let ([full, incr1, incr2], at_t1) = three_backups(&env);
    let (t1, t2) = (snapshot_at(&env, &incr1), snapshot_at(&env, &incr2));
    let target = t1 + chrono::Duration::seconds(1);
    assert!(target < t2, "{target} must fall between {t1} and {t2}");
    env.sim.drop_table("sales", "orders").unwrap();
    env.sim.clear_statements();

    let out = restore(&env, &ts(target), 0);
    assert!(out.contains("FINISHED"), "{out}");
    assert!(env.sim.table_exists("sales", "orders"));
    assert_eq!(parts(&env, "orders"), at_t1, "versions and rows as at t1");

    // one RESTORE per contributing snapshot, full first: untouched partitions from the full, the
    // changed one from the incremental; the 1-backend cluster gets the recorded replication_num
    let sent = restores_sent(&env);
    assert_eq!(sent.len(), 2, "{sent:#?}");
    assert!(
        sent[0].starts_with(&format!("RESTORE SNAPSHOT `sales`.`{full}` FROM `backup_repo` ON (`orders` PARTITION (`p20260101`, `p20260103`, `p20260104`)) PROPERTIES (\"backup_timestamp\" = ")),
        "{}",
        sent[0]
    );
    assert!(
        sent[1].starts_with(&format!("RESTORE SNAPSHOT `sales`.`{incr1}` FROM `backup_repo` ON (`orders` PARTITION (`p20260102`)) PROPERTIES (\"backup_timestamp\" = ")),
        "{}",
        sent[1]
    );
    for s in &sent {
        assert!(s.contains("\"replication_num\" = \"1\""), "{s}");
        assert!(s.contains("\"timeout\" = \"86400\""), "{s}");
    }
    assert!(!sent.iter().any(|s| s.contains(&incr2)));
    assert_eq!(
        restore_jobs(&env),
        vec![
            (full.clone(), "FINISHED".to_string()),
            (incr1.clone(), "FINISHED".to_string())
        ]
    );
    // the second RESTORE was sent only after SHOW RESTORE reported the first FINISHED
    let log = env.sent();
    let second = log
        .iter()
        .position(|s| s.starts_with("RESTORE") && s.contains(&incr1))
        .unwrap();
    assert!(log[..second].iter().any(|s| s.starts_with("SHOW RESTORE")));

    let h = restore_history(&env);
    assert_eq!(h.len(), 1, "{h:?}");
    assert_eq!(h[0].1, "FINISHED");
    assert!(h[0].0.starts_with("bbr_restore_sales_orders_"), "{h:?}");
    let chain: serde_json::Value = serde_json::from_str(h[0].3.as_deref().unwrap()).unwrap();
    assert_eq!(chain[0]["label"], full.as_str());
    assert_eq!(chain[1]["label"], incr1.as_str());
    assert_eq!(chain[1]["partitions"], serde_json::json!(["p20260102"]));
}

#[test]
fn restore_as_of_t2_takes_each_partition_from_its_newest_snapshot() {
    if skip_on_real_cluster("restore_after_t2") {
        return;
    }
    let env = Env::demo();
    let ([full, incr1, incr2], _) = three_backups(&env);
    let at_t2 = parts(&env, "orders");
    let target = snapshot_at(&env, &incr2);
    env.sim.drop_table("sales", "orders").unwrap();
    env.sim.clear_statements();
    restore(&env, &ts(target), 0);
    assert_eq!(parts(&env, "orders"), at_t2);
    let labels: Vec<String> = restore_jobs(&env).into_iter().map(|j| j.0).collect();
    // p20260102 changed in both incrementals: it comes from the newest (incr2) only
    assert_eq!(labels, vec![full, incr2.clone()]);
    assert!(!restores_sent(&env).iter().any(|s| s.contains(&incr1)));
}

#[test]
fn a_partition_dropped_before_the_target_is_not_restored() {
    if skip_on_real_cluster("dropped_partition") {
        return;
    }
    let env = Env::demo();
    env.run_ok(&["init"], 0);
    backup(&env);
    env.sim
        .drop_partition("sales", "orders", "p20260104")
        .unwrap();
    env.sim.load("sales", "orders", "p20260101", 3).unwrap();
    let incr = backup(&env);
    let at_t1 = parts(&env, "orders");
    assert!(!at_t1.iter().any(|p| p.0 == "p20260104"));
    let target = snapshot_at(&env, &incr);
    env.sim.drop_table("sales", "orders").unwrap();
    env.sim.clear_statements();
    restore(&env, &ts(target), 0);
    assert_eq!(parts(&env, "orders"), at_t1);
    assert!(!restores_sent(&env).iter().any(|s| s.contains("p20260104")));
}

#[test]
fn an_existing_table_is_refused_without_any_restore_sent() {
    let env = Env::demo();
    env.run_ok(&["init"], 0);
    let full = backup(&env);
    let target = ts(snapshot_at(&env, &full));
    env.sim.clear_statements();
    let o = env.run(&["restore", "--table", "sales.orders", "--timestamp", &target]);
    assert_eq!(
        o.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(last_error_line(&o).contains("sales.orders exists"));
    assert!(restores_sent(&env).is_empty());
    assert!(restore_history(&env).is_empty(), "no row written");
    // the dry run shows the plan and says the target exists; only SELECT/SHOW are sent
    env.sim.clear_statements();
    let plan = env.run_ok(
        &[
            "restore",
            "--table",
            "sales.orders",
            "--timestamp",
            &target,
            "--dry-run",
        ],
        0,
    );
    let v: serde_json::Value = serde_json::from_str(&plan).unwrap();
    assert_eq!(v["inputs"]["target_exists"], true);
    for s in env.sent() {
        let up = s.to_ascii_uppercase();
        assert!(
            up.starts_with("SELECT") || up.starts_with("SHOW") || up.starts_with("ADMIN SHOW "),
            "{s}"
        );
    }
}

#[test]
fn table_created_during_the_run_is_refused_before_the_first_restore() {
    if skip_on_real_cluster("table_created_during_run") {
        return;
    }
    let env = Env::demo();
    env.run_ok(&["init"], 0);
    let full = backup(&env);
    env.sim.drop_table("sales", "orders").unwrap();
    // someone re-creates the table after our row was written: the re-check withdraws and refuses
    env.sim.on_statement(
        "^INSERT INTO `ops`.`restore_history`",
        Box::new(|sim| {
            sim.create_table(
                "sales",
                "orders",
                &starrocks_sim::TableSpec::new(&[("id", "BIGINT")]),
            )
            .unwrap();
        }),
    );
    env.sim.clear_statements();
    let o = env.run(&[
        "restore",
        "--table",
        "sales.orders",
        "--timestamp",
        &ts(snapshot_at(&env, &full)),
    ]);
    assert_eq!(
        o.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(restores_sent(&env).is_empty());
    assert!(restore_history(&env).is_empty(), "the claim was withdrawn");
}

#[test]
fn a_cancelled_restore_job_stops_the_chain_exit_1_and_a_failed_row() {
    if skip_on_real_cluster("cancelled_restore") {
        return;
    }
    let env = Env::demo();
    let ([full, incr1, incr2], _) = three_backups(&env);
    // as of t2 the chain is full (p20260101, p20260104) -> incr2 (p20260102, p20260103);
    // the second job is cancelled by StarRocks
    let target = snapshot_at(&env, &incr2);
    env.sim.drop_table("sales", "orders").unwrap();
    env.sim.on_statement(
        "^RESTORE",
        Box::new(|sim| sim.cancel_next_job("[COMMON_ERROR, msg: injected download failure]")),
    );
    env.sim.clear_statements();
    let o = env.run(&[
        "restore",
        "--table",
        "sales.orders",
        "--timestamp",
        &ts(target),
    ]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let line = last_error_line(&o);
    assert!(line.contains("injected download failure"), "{line}");
    assert!(line.contains("CANCELLED"), "{line}");
    assert_eq!(line.lines().count(), 1);
    let jobs = restore_jobs(&env);
    assert_eq!(
        jobs,
        vec![
            (full, "FINISHED".to_string()),
            (incr2, "CANCELLED".to_string())
        ]
    );
    assert!(!restores_sent(&env).iter().any(|s| s.contains(&incr1)));
    let h = restore_history(&env);
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].1, "FAILED");
    assert!(
        h[0].2
            .as_deref()
            .unwrap()
            .contains("injected download failure"),
        "{h:?}"
    );
}

#[test]
fn a_cancelled_first_job_sends_nothing_more() {
    if skip_on_real_cluster("cancelled_first_restore") {
        return;
    }
    let env = Env::demo();
    let ([_, incr1, _], _) = three_backups(&env);
    let target = snapshot_at(&env, &incr1);
    env.sim.drop_table("sales", "orders").unwrap();
    env.sim.cancel_next_job(
        "[COMMON_ERROR, msg: failed to find 3 different hosts to create table: orders]",
    );
    env.sim.clear_statements();
    let o = env.run(&[
        "restore",
        "--table",
        "sales.orders",
        "--timestamp",
        &ts(target),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(last_error_line(&o).contains("failed to find 3 different hosts"));
    assert_eq!(restores_sent(&env).len(), 1);
    assert_eq!(restore_history(&env)[0].1, "FAILED");
}

#[test]
fn session_and_system_time_zones_that_differ_still_pick_the_right_chain() {
    if skip_on_real_cluster("time_zones") {
        return;
    }
    let env = Env::with(
        SimOptions {
            system_time_zone: chrono::FixedOffset::east_opt(8 * 3600).unwrap(),
            session_time_zone: chrono::FixedOffset::east_opt(0).unwrap(),
            ..sim_options()
        },
        "",
    );
    env.run_ok(&["init"], 0);
    let full = backup(&env);
    let at_t0 = parts(&env, "orders");
    env.sim.load("sales", "orders", "p20260103", 4).unwrap();
    let incr = backup(&env);
    let at_t1 = parts(&env, "orders");
    // backup_timestamp is in the FE system zone (+08:00), snapshot_at and --timestamp in the session zone
    let snap = env.sim.snapshots("backup_repo");
    assert!(
        snap.iter()
            .all(|s| s.timestamp.starts_with("2026-01-01-08")),
        "{snap:?}"
    );
    let (t0, t1) = (snapshot_at(&env, &full), snapshot_at(&env, &incr));

    env.sim.drop_table("sales", "orders").unwrap();
    restore(&env, &ts(t1 - chrono::Duration::seconds(1)), 0);
    assert!(t1 - chrono::Duration::seconds(1) >= t0);
    assert_eq!(
        parts(&env, "orders"),
        at_t0,
        "just before t1: the full only"
    );
    assert_eq!(restore_jobs(&env).len(), 1);

    env.sim.drop_table("sales", "orders").unwrap();
    restore(&env, &ts(t1), 0);
    assert_eq!(parts(&env, "orders"), at_t1, "at t1: full + incremental");
    assert_eq!(restore_jobs(&env).len(), 3);
}

#[test]
fn too_early_a_target_exits_2_naming_the_earliest_restorable_time() {
    let env = Env::demo();
    env.run_ok(&["init"], 0);
    let full = backup(&env);
    let t0 = snapshot_at(&env, &full);
    env.sim.drop_table("sales", "orders").unwrap();
    let o = env.run(&[
        "restore",
        "--table",
        "sales.orders",
        "--timestamp",
        &ts(t0 - chrono::Duration::seconds(1)),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let line = last_error_line(&o);
    assert!(
        line.contains(&format!("earliest restorable time is {}", ts(t0))),
        "{line}"
    );
    for bad in [
        "yesterday",
        "2026-01-01",
        "2026-01-01 00:00:00 PST",
        "2026-13-01 00:00:00",
    ] {
        let o = env.run(&["restore", "--table", "sales.orders", "--timestamp", bad]);
        assert_eq!(o.status.code(), Some(2), "{bad}");
        assert!(last_error_line(&o).contains("YYYY-MM-DD HH:MM:SS"), "{bad}");
    }
    let help = env.run_ok(&["restore", "--help"], 0);
    assert!(help.contains("session time zone"), "{help}");
}

#[test]
fn a_live_backup_claim_on_the_database_refuses_the_restore() {
    if skip_on_real_cluster("restore_claim") {
        return;
    }
    let env = Env::demo();
    env.run_ok(&["init"], 0);
    let full = backup(&env);
    let target = ts(snapshot_at(&env, &full));
    // a live restore claim refuses a backup of the same database
    env.query("INSERT INTO ops.restore_history (label, database_name, table_name, status, started_at, heartbeat_at) VALUES ('bbr_restore_live', 'sales', 'orders', 'RUNNING', NOW(), NOW())");
    env.sim.load("sales", "customers", "customers", 1).unwrap();
    env.sim.clear_statements();
    let o = env.run(&["backup"]);
    assert_eq!(
        o.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(last_error_line(&o).contains("bbr_restore_live"));
    assert_eq!(env.backups_sent(), 0);
    env.query("DELETE FROM ops.restore_history WHERE label = 'bbr_restore_live'");
    // and a live backup claim refuses a restore
    env.sim.drop_table("sales", "orders").unwrap();
    env.query("INSERT INTO ops.backup_history (label, database_name, backup_type, status, repository, started_at, heartbeat_at) VALUES ('bbr_sales_live', 'sales', 'incremental', 'RUNNING', 'backup_repo', NOW(), NOW())");
    env.sim.clear_statements();
    let o = env.run(&["restore", "--table", "sales.orders", "--timestamp", &target]);
    assert_eq!(
        o.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(last_error_line(&o).contains("bbr_sales_live"));
    assert!(restores_sent(&env).is_empty());
    assert!(restore_history(&env).is_empty(), "the claim was withdrawn");
}

#[test]
fn a_stale_running_restore_row_is_finished_by_the_next_run() {
    if skip_on_real_cluster("restore_resume") {
        return;
    }
    let env = Env::demo();
    let ([_, incr1, _], _) = three_backups(&env);
    let target = ts(snapshot_at(&env, &incr1));
    env.sim.drop_table("sales", "orders").unwrap();
    restore(&env, &target, 0);
    // pretend its runner died right after the last job finished, before Finalize
    let label = restore_history(&env)[0].0.clone();
    env.query(&format!("UPDATE ops.restore_history SET status = 'RUNNING', finished_at = NULL, heartbeat_at = '2000-01-01 00:00:00' WHERE label = '{label}'"));
    // and an older dead run that never submitted anything
    env.query("INSERT INTO ops.restore_history (label, database_name, table_name, status, started_at, heartbeat_at, chain) VALUES ('bbr_restore_dead', 'sales', 'orders', 'RUNNING', '2000-01-01 00:00:00', '2000-01-01 00:00:00', '[]')");
    let jobs_before = restore_jobs(&env).len();
    let o = env.run(&["restore", "--table", "sales.orders", "--timestamp", &target]);
    // the same restore: the dead run is continued (its last job FINISHED: nothing left to send);
    // the row without a target time is another run's: finished FAILED first
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains(&format!(
            "by {label} FINISHED, continuing the interrupted run (0 of 2"
        )),
        "{out}"
    );
    assert!(
        out.contains("interrupted restore bbr_restore_dead FAILED"),
        "{out}"
    );
    assert_eq!(
        restore_jobs(&env).len(),
        jobs_before,
        "nothing re-submitted"
    );
    let h = restore_history(&env);
    let by: std::collections::BTreeMap<_, _> = h
        .iter()
        .map(|r| (r.0.clone(), (r.1.clone(), r.2.clone())))
        .collect();
    assert_eq!(by[&label].0, "FINISHED");
    assert_eq!(by["bbr_restore_dead"].0, "FAILED");
    assert!(by["bbr_restore_dead"]
        .1
        .as_deref()
        .unwrap()
        .contains("before submitting any RESTORE"));
}

#[test]
fn only_dropped_partitions_record_a_manifest_and_restore_does_not_resurrect_them() {
    if skip_on_real_cluster("manifest_only") {
        return;
    }
    let env = Env::demo();
    env.run_ok(&["init"], 0);
    let full = backup(&env);
    env.sim
        .drop_partition("sales", "orders", "p20260104")
        .unwrap();
    env.sim.clear_statements();
    let out = env.run_ok(&["backup"], 0);
    assert!(
        out.contains(&format!(
            "sales: partitions dropped since {full}; recorded without a snapshot"
        )),
        "{out}"
    );
    assert_eq!(env.backups_sent(), 0, "no BACKUP statement");
    let meta = env.history().last().unwrap().0.clone();
    let r = env.query(&format!("SELECT backup_type, status, partitions, backup_timestamp, base_label, snapshot_at FROM ops.backup_history WHERE label = '{meta}'"));
    assert_eq!(r[0][0].as_deref(), Some("incremental"));
    assert_eq!(r[0][1].as_deref(), Some("FINISHED"));
    assert_eq!(r[0][2].as_deref(), Some("0"));
    assert_eq!(r[0][3], None);
    assert_eq!(r[0][4].as_deref(), Some(full.as_str()));
    assert!(r[0][5].is_some());
    // its lean manifest: one tombstone (the dropped partition, in no snapshot), nothing else
    let m = env.query(&format!("SELECT table_name, partition_name, source_label, in_snapshot FROM ops.backup_partitions WHERE label = '{meta}' ORDER BY table_name, partition_name"));
    assert_eq!(
        m,
        vec![vec![
            Some("orders".to_string()),
            Some("p20260104".to_string()),
            Some(String::new()),
            Some("0".to_string())
        ]],
        "{m:?}"
    );
    let at_meta = parts(&env, "orders");

    // `list` shows it as an incremental without a snapshot
    let table = env.run_ok(&["list"], 0);
    let line = table.lines().find(|l| l.starts_with(&meta)).unwrap();
    assert!(
        line.contains("(manifest only)") && line.contains("incremental"),
        "{table}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&env.run_ok(&["list", "--format", "json"], 0)).unwrap();
    assert_eq!(json[0]["label"], meta.as_str());
    assert_eq!(json[0]["partitions"], 0);
    assert_eq!(json[0]["backup_timestamp"], serde_json::Value::Null);

    // nothing more changed: nothing to record
    let out = env.run_ok(&["backup"], 0);
    assert!(
        out.contains(&format!("nothing changed since {meta}")),
        "{out}"
    );
    // the next incremental bases on the manifest-only record and holds only what changed
    env.sim.load("sales", "orders", "p20260102", 2).unwrap();
    let incr = backup(&env);
    let r = env.query(&format!(
        "SELECT base_label, partitions FROM ops.backup_history WHERE label = '{incr}'"
    ));
    assert_eq!(r[0][0].as_deref(), Some(meta.as_str()));
    assert_eq!(r[0][1].as_deref(), Some("1"));
    assert_eq!(
        env.in_snapshot(&incr),
        vec![("orders".to_string(), "p20260102".to_string())]
    );

    // restoring to the manifest-only record's time: p20260104 stays dropped
    let target = snapshot_at(&env, &meta);
    assert!(target < snapshot_at(&env, &incr));
    env.sim.drop_table("sales", "orders").unwrap();
    env.sim.clear_statements();
    restore(&env, &ts(target), 0);
    assert_eq!(parts(&env, "orders"), at_meta);
    let sent = restores_sent(&env);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(
        sent[0].contains("PARTITION (`p20260101`, `p20260102`, `p20260103`)"),
        "{}",
        sent[0]
    );
}

#[test]
fn a_restore_past_job_timeout_is_failed() {
    if skip_on_real_cluster("restore_timeout") {
        return;
    }
    let env = Env::with(sim_options(), "job_timeout_s: 600\n");
    env.run_ok(&["init"], 0);
    let full = backup(&env);
    let target = ts(snapshot_at(&env, &full));
    env.sim.drop_table("sales", "orders").unwrap();
    env.sim.stall_jobs(true);
    env.sim.on_statement(
        "^SHOW RESTORE",
        Box::new(|sim| sim.advance(std::time::Duration::from_secs(700))),
    );
    let o = env.run(&["restore", "--table", "sales.orders", "--timestamp", &target]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        last_error_line(&o).contains("TIMEOUT"),
        "{}",
        last_error_line(&o)
    );
    let h = restore_history(&env);
    assert_eq!(h[0].1, "FAILED");
    assert!(
        !env.sim.table_exists("sales", "orders"),
        "a cancelled restore drops what it created"
    );
}

#[test]
fn a_backup_run_also_finishes_a_dead_restore_record_of_its_database() {
    if skip_on_real_cluster("backup_finishes_dead_restore") {
        return;
    }
    let env = Env::demo();
    env.run_ok(&["init"], 0);
    env.query("INSERT INTO ops.restore_history (label, database_name, table_name, status, started_at, heartbeat_at, chain) VALUES ('bbr_restore_dead', 'sales', 'orders', 'RUNNING', '2000-01-01 00:00:00', '2000-01-01 00:00:00', '[]')");
    let out = env.run_ok(&["backup"], 0);
    assert!(
        out.contains("interrupted restore bbr_restore_dead FAILED"),
        "{out}"
    );
    assert!(out.contains("FINISHED"), "the backup itself ran: {out}");
    assert_eq!(restore_history(&env)[0].1, "FAILED");
}

/// Starts `restore` as a child process, waits until the simulator logged a statement matching
/// `until` (the caller armed a hang there), then SIGKILLs it: a run that dies mid-chain.
fn killed_restore(env: &Env, target: &str, until: impl Fn(&[String]) -> bool) {
    env.killed_run(
        &["restore", "--table", "sales.orders", "--timestamp", target],
        until,
        Duration::from_millis(50),
    );
}

/// Three backups, `sales.orders` dropped, then a restore to incr1's time killed while its second
/// RESTORE (of incr1) hangs unanswered: current_label names incr1, whose RESTORE never reached
/// StarRocks. Returns the backup labels, the partitions as at t1, the target time and the dead
/// run's label.
fn killed_before_second_restore(env: &Env) -> ([String; 3], Parts, String, String) {
    let (labels, at_t1) = three_backups(env);
    let incr1 = &labels[1];
    let target = ts(snapshot_at(env, incr1));
    env.sim.drop_table("sales", "orders").unwrap();
    env.sim.clear_statements();
    env.sim.hang(
        &format!("^RESTORE SNAPSHOT `sales`.`{incr1}`"),
        When::Before,
    );
    killed_restore(env, &target, |log| {
        log.iter()
            .any(|s| s.starts_with("RESTORE") && s.contains(incr1.as_str()))
    });
    let dead = restore_history(env)[0].0.clone();
    (labels, at_t1, target, dead)
}

/// A dead run continued by the same command ends exactly as an uninterrupted restore: the same
/// table, one RESTORE job per link, one restore_history row, FINISHED.
fn assert_continued(env: &Env, full: &str, incr1: &str, at_t1: &Parts) {
    assert_eq!(&parts(env, "orders"), at_t1, "versions and rows as at t1");
    assert_eq!(
        restore_jobs(env),
        vec![
            (full.to_string(), "FINISHED".to_string()),
            (incr1.to_string(), "FINISHED".to_string())
        ],
        "one RESTORE job per link"
    );
    let h = restore_history(env);
    assert_eq!(h.len(), 1, "{h:?}");
    assert_eq!(h[0].1, "FINISHED", "{h:?}");
}

#[test]
fn a_restore_killed_while_polling_its_second_job_is_continued_by_the_same_command() {
    if skip_on_real_cluster("restore_killed_polling_second") {
        return;
    }
    let env = Env::demo();
    let ([full, incr1, _], at_t1) = three_backups(&env);
    let target = ts(snapshot_at(&env, &incr1));
    env.sim.drop_table("sales", "orders").unwrap();
    env.sim.clear_statements();
    // the second RESTORE arms a hang on the next SHOW RESTORE: the run dies polling it
    env.sim.on_statement(
        &format!("^RESTORE SNAPSHOT `sales`.`{incr1}`"),
        Box::new(|sim| sim.hang("^SHOW RESTORE", When::Before)),
    );
    let second = incr1.clone();
    killed_restore(&env, &target, |log| {
        log.iter()
            .position(|s| s.starts_with("RESTORE") && s.contains(&second))
            .is_some_and(|i| log[i..].iter().any(|s| s.starts_with("SHOW RESTORE")))
    });
    let h = restore_history(&env);
    assert_eq!((h.len(), h[0].1.as_str()), (1, "RUNNING"), "{h:?}");
    let dead = h[0].0.clone();
    // its heartbeat goes stale: the runner is dead; the job ends meanwhile
    env.sim.advance(Duration::from_secs(600));
    let out = restore(&env, &target, 0);
    assert!(
        out.contains(&format!(
            "by {dead} FINISHED, continuing the interrupted run (0 of 2"
        )),
        "{out}"
    );
    assert_continued(&env, &full, &incr1, &at_t1);
    assert_eq!(
        restore_history(&env)[0].0,
        dead,
        "the same row was finalized"
    );
    let sent = restores_sent(&env);
    assert_eq!(sent.len(), 2, "one RESTORE per link ever sent: {sent:#?}");
    assert!(
        sent[0].contains(&full) && sent[1].contains(&incr1),
        "{sent:#?}"
    );
}

#[test]
fn a_restore_killed_between_its_two_jobs_sends_only_the_second_on_the_rerun() {
    if skip_on_real_cluster("restore_killed_between_jobs") {
        return;
    }
    let env = Env::demo();
    // current_label already names the second snapshot, its RESTORE never reaches StarRocks
    let ([full, incr1, _], at_t1, target, dead) = killed_before_second_restore(&env);
    assert_eq!(restore_jobs(&env).len(), 1, "only the first job ran");
    let r = env.query(&format!(
        "SELECT current_label FROM ops.restore_history WHERE label = '{dead}'"
    ));
    assert_eq!(r[0][0].as_deref(), Some(incr1.as_str()));

    // a fresh heartbeat: the run may be alive, so nobody touches it
    let o = env.run(&["restore", "--table", "sales.orders", "--timestamp", &target]);
    assert_eq!(
        o.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        last_error_line(&o).contains("the same restore command continues it"),
        "{}",
        last_error_line(&o)
    );
    assert_eq!(restore_history(&env).len(), 1, "nothing written");
    env.sim.advance(Duration::from_secs(600));

    // the dry run shows the continuation, sending only SELECT/SHOW
    env.sim.clear_statements();
    let plan = env.run_ok(
        &[
            "restore",
            "--table",
            "sales.orders",
            "--timestamp",
            &target,
            "--dry-run",
        ],
        0,
    );
    for s in env.sent() {
        let up = s.to_ascii_uppercase();
        assert!(
            up.starts_with("SELECT") || up.starts_with("SHOW") || up.starts_with("ADMIN SHOW "),
            "{s}"
        );
    }
    let v: serde_json::Value = serde_json::from_str(&plan).unwrap();
    assert_eq!(v["inputs"]["label"], dead.as_str());
    assert_eq!(v["inputs"]["adopt"]["label"], dead.as_str());
    assert_eq!(v["inputs"]["adopt"]["links_done"], 1);
    assert_eq!(
        v["inputs"]["adopt"]["links_remaining"],
        serde_json::json!([incr1.as_str()])
    );
    let kinds: Vec<&str> = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        vec![
            "AdoptRestore",
            "Claim",
            "TakeOverRestore",
            "ResumeRestore",
            "CheckTargetAbsent",
            "StopPartitionScheduler",
            "RestoreSnapshot",
            "PollRestore",
            "StopPartitionScheduler",
            "Finalize"
        ]
    );

    env.sim.clear_statements();
    let out = restore(&env, &target, 0);
    assert!(
        out.contains(&format!(
            "by {dead} FINISHED, continuing the interrupted run (1 of 2"
        )),
        "{out}"
    );
    assert_continued(&env, &full, &incr1, &at_t1);
    // the rerun sent the second RESTORE only (the dead run's never reached StarRocks)
    let sent = restores_sent(&env);
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert!(sent[0].contains(&incr1), "{sent:#?}");
}

#[test]
fn a_dead_restore_whose_chain_vanished_from_history_is_not_continued() {
    if skip_on_real_cluster("restore_adopt_invalid") {
        return;
    }
    let env = Env::demo();
    let ([_, incr1, _], _, target, dead) = killed_before_second_restore(&env);
    env.sim.advance(Duration::from_secs(600));
    // the second snapshot's record is gone (history edited by hand)
    env.query(&format!(
        "DELETE FROM ops.backup_history WHERE label = '{incr1}'"
    ));
    let jobs = restore_jobs(&env).len();
    let o = env.run(&["restore", "--table", "sales.orders", "--timestamp", &target]);
    assert_eq!(
        o.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let line = last_error_line(&o);
    assert!(
        line.contains(&format!("cannot continue the interrupted restore {dead}")),
        "{line}"
    );
    assert_eq!(restore_jobs(&env).len(), jobs, "nothing sent");
    let h = restore_history(&env);
    assert_eq!(h[0].1, "FAILED", "{h:?}");
    assert!(
        h[0].2.as_deref().unwrap().contains("partly restored"),
        "{h:?}"
    );
}

#[test]
fn a_dead_restore_of_another_target_time_is_recorded_failed_not_continued() {
    if skip_on_real_cluster("restore_other_target") {
        return;
    }
    let env = Env::demo();
    let ([full, _, _], _, _, dead) = killed_before_second_restore(&env);
    env.sim.advance(Duration::from_secs(600));
    // a restore as of the full backup's time: another target, the table exists (partly restored)
    let o = env.run(&[
        "restore",
        "--table",
        "sales.orders",
        "--timestamp",
        &ts(snapshot_at(&env, &full)),
    ]);
    assert_eq!(
        o.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(last_error_line(&o).contains("sales.orders exists"));
    let h = restore_history(&env);
    assert_eq!(
        (h.len(), h[0].0.as_str(), h[0].1.as_str()),
        (1, dead.as_str(), "FAILED")
    );
    let why = h[0].2.as_deref().unwrap();
    assert!(
        why.contains("partly restored") && why.contains("drop"),
        "{why}"
    );
    assert_eq!(restore_jobs(&env).len(), 1, "nothing re-submitted");
}
