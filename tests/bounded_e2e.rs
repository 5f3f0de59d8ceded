//! Issue 10 "Done when", end to end over the wire against the simulator: lean manifests, the
//! upgrade from the previous ops layout, `backup --full`, the rolling bound, a repository switch.

mod common;
use common::*;
use std::time::Duration;

/// (partition name, visible version, row count), sorted: what a restore must reproduce.
type Parts = Vec<(String, u64, u64)>;

fn parts(env: &Env, table: &str) -> Parts {
    env.sales_parts(table)
}

/// A backup that must finish; returns the newest history label.
fn backup(env: &Env, args: &[&str]) -> String {
    let mut all = vec!["backup"];
    all.extend_from_slice(args);
    let out = env.run_ok(&all, 0);
    assert!(out.contains("FINISHED"), "{out}");
    let h = env.history();
    let last = h.last().unwrap();
    assert_eq!(last.2, "FINISHED", "{h:?}");
    last.0.clone()
}

/// A restore target just after the backup's snapshot (session time zone).
fn after(env: &Env, label: &str) -> String {
    let r = env.query(&format!(
        "SELECT snapshot_at FROM ops.backup_history WHERE label = '{label}'"
    ));
    let s = r[0][0].clone().unwrap();
    let t = chrono::NaiveDateTime::parse_from_str(&s[..19], "%Y-%m-%d %H:%M:%S").unwrap();
    (t + chrono::Duration::seconds(1))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// Drops sales.orders, restores it as of `at`, and returns its partitions and the RESTORE
/// statements sent.
fn restore_orders(env: &Env, at: &str) -> (Parts, Vec<String>) {
    env.sim.drop_table("sales", "orders").unwrap();
    env.sim.clear_statements();
    env.run_ok(
        &["restore", "--table", "sales.orders", "--timestamp", at],
        0,
    );
    let sent = env
        .sent()
        .into_iter()
        .filter(|s| s.starts_with("RESTORE"))
        .collect();
    (parts(env, "orders"), sent)
}

/// `backup_tables` rows of a label: (table, whole_table, complete, restore_jobs, decision).
fn table_rows(env: &Env, label: &str) -> Vec<Vec<Option<String>>> {
    env.query(&format!("SELECT table_name, whole_table, complete, restore_jobs, decision FROM ops.backup_tables WHERE label = '{label}' ORDER BY table_name"))
}

fn manifest_rows(env: &Env, label: &str) -> usize {
    env.query(&format!(
        "SELECT COUNT(*) FROM ops.backup_partitions WHERE label = '{label}'"
    ))[0][0]
        .as_deref()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn an_incremental_records_only_what_changed() {
    let env = Env::demo();
    env.run_ok(&["init"], 0);
    let full = backup(&env, &[]);
    assert_eq!(manifest_rows(&env, &full), 5);
    env.sim.load("sales", "orders", "p20260102", 3).unwrap();
    env.sim
        .drop_partition("sales", "orders", "p20260101")
        .unwrap();
    let incr = backup(&env, &[]);
    // one partition in the snapshot + one tombstone; nothing for the 3 unchanged partitions
    assert_eq!(manifest_rows(&env, &incr), 2);
    let t = table_rows(&env, &incr);
    assert_eq!(t.len(), 1, "customers did not change: {t:?}");
    assert_eq!(t[0][0].as_deref(), Some("orders"));
    assert_eq!(t[0][2].as_deref(), Some("0"), "a delta, not complete");
    assert_eq!(t[0][3].as_deref(), Some("2"), "full + this incremental");
    let want = parts(&env, "orders");
    let (got, sent) = restore_orders(&env, &after(&env, &incr));
    assert_eq!(got, want);
    assert_eq!(sent.len(), 2, "{sent:?}");
}

/// Rewrites what this release recorded into the previous release's layout (f76daba): every
/// backup's manifest lists every partition in scope, naming the snapshot holding its data; no
/// backup_tables, no bbr_meta. The three tables' DDL did not change between the releases. A quick
/// check beside tests/upgrade_e2e.rs, which upgrades rows the previous release really wrote.
fn downgrade_to_previous_layout(env: &Env, labels: &[String]) {
    for pair in labels.windows(2) {
        let (prev, cur) = (&pair[0], &pair[1]);
        env.query(&format!(
            "INSERT INTO ops.backup_partitions (label, database_name, table_name, partition_name, partition_id, visible_version, replication_num, source_label, in_snapshot, whole_table, schema_fingerprint) \
             SELECT '{cur}', database_name, table_name, partition_name, partition_id, visible_version, replication_num, source_label, 0, 0, schema_fingerprint FROM ops.backup_partitions p \
             WHERE label = '{prev}' AND NOT EXISTS (SELECT 1 FROM ops.backup_partitions q WHERE q.label = '{cur}' AND q.table_name = p.table_name AND q.partition_name = p.partition_name)"
        ));
    }
    env.query("DROP TABLE ops.backup_tables");
    env.query("DROP TABLE ops.bbr_meta");
}

#[test]
fn init_upgrades_the_previous_layout_in_place_and_old_restore_points_still_work() {
    let env = Env::demo();
    env.run_ok(&["init"], 0);
    let full = backup(&env, &[]);
    let at_full = parts(&env, "orders");
    env.sim.load("sales", "orders", "p20260103", 4).unwrap();
    let incr = backup(&env, &[]);
    let at_incr = parts(&env, "orders");
    downgrade_to_previous_layout(&env, &[full.clone(), incr.clone()]);
    assert_eq!(
        manifest_rows(&env, &incr),
        5,
        "the previous layout lists all"
    );

    // without init: one line telling to run init, exit 2, nothing sent
    for args in [
        vec!["backup"],
        vec![
            "restore",
            "--table",
            "sales.orders",
            "--timestamp",
            "2026-02-01 00:00:00",
        ],
    ] {
        env.sim.clear_statements();
        let out = env.run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("schema version 1") && err.contains("starrocks-bbr init"),
            "{err}"
        );
        // one error line (logs above it are info lines)
        let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error")).collect();
        assert_eq!(errors.len(), 1, "{err}");
        assert_eq!(err.trim().lines().last(), errors.first().copied(), "{err}");
        // read-only: nothing written, no job sent
        let writes = [
            "INSERT", "UPDATE", "DELETE", "BACKUP", "RESTORE", "CREATE", "DROP",
        ];
        assert!(
            env.sent()
                .iter()
                .all(|s| !writes.iter().any(|w| s.starts_with(w))),
            "{:#?}",
            env.sent()
        );
    }

    let out = env.run_ok(&["init"], 0);
    assert!(out.contains("schema version 2"), "{out}");
    assert_eq!(
        env.query("SELECT value FROM ops.bbr_meta WHERE name = 'schema_version'"),
        vec![vec![Some("2".to_string())]]
    );
    for l in [&full, &incr] {
        let t = table_rows(&env, l);
        assert_eq!(t.len(), 2, "{t:?}");
        assert!(t.iter().all(|r| r[2].as_deref() == Some("1")), "{t:?}");
    }
    // a second init has nothing to do
    assert!(env.run_ok(&["init"], 0).contains("nothing to do"));

    // a lean incremental on top of the previous layout's base
    env.sim.load("sales", "orders", "p20260104", 2).unwrap();
    let lean = backup(&env, &[]);
    assert_eq!(manifest_rows(&env, &lean), 1);
    let at_lean = parts(&env, "orders");

    // restore points before and after the upgrade
    let (got, sent) = restore_orders(&env, &after(&env, &full));
    assert_eq!(got, at_full);
    assert_eq!(sent.len(), 1);
    let (got, sent) = restore_orders(&env, &after(&env, &incr));
    assert_eq!(got, at_incr);
    assert_eq!(sent.len(), 2);
    let (got, sent) = restore_orders(&env, &after(&env, &lean));
    assert_eq!(got, at_lean);
    assert_eq!(sent.len(), 3, "{sent:?}");
}

#[test]
fn backup_full_takes_every_table_whole() {
    let env = Env::demo();
    env.run_ok(&["init"], 0);
    backup(&env, &[]);
    env.sim.load("sales", "orders", "p20260102", 3).unwrap();
    backup(&env, &[]);
    env.sim.load("sales", "orders", "p20260103", 3).unwrap();
    let full = backup(&env, &["--full"]);
    assert!(full.contains("_full_"), "{full}");
    assert_eq!(env.last_job_objects(), vec!["customers", "orders"]);
    let t = table_rows(&env, &full);
    assert_eq!(t.len(), 2);
    assert!(
        t.iter().all(|r| r[1].as_deref() == Some("1")
            && r[3].as_deref() == Some("1")
            && r[4].as_deref() == Some("whole table (backup --full)")),
        "{t:?}"
    );
    let want = parts(&env, "orders");
    let (got, sent) = restore_orders(&env, &after(&env, &full));
    assert_eq!(got, want);
    assert_eq!(sent.len(), 1, "{sent:?}");
}

#[test]
fn the_rolling_bound_takes_a_table_whole_before_its_restore_needs_more_jobs() {
    let env = Env::with(sim_options(), "max_restore_jobs: 2\n");
    env.run_ok(&["init"], 0);
    backup(&env, &[]);
    let mut labels = Vec::new();
    let mut states = Vec::new();
    for p in [
        "p20260101",
        "p20260102",
        "p20260103",
        "p20260104",
        "p20260101",
    ] {
        env.sim.load("sales", "orders", p, 1).unwrap();
        let l = backup(&env, &[]);
        let t = table_rows(&env, &l);
        let jobs: u32 = t[0][3].as_deref().unwrap().parse().unwrap();
        assert!(jobs <= 2, "{t:?}");
        labels.push(l);
        states.push(parts(&env, "orders"));
    }
    // every second run takes orders whole: full + 1 incremental = 2 jobs, then whole again
    let decisions: Vec<String> = labels
        .iter()
        .map(|l| table_rows(&env, l)[0][4].clone().unwrap())
        .collect();
    assert_eq!(decisions[0], "changed partitions");
    assert!(
        decisions[1].contains("max_restore_jobs is 2"),
        "{decisions:?}"
    );
    for (l, want) in labels.iter().zip(&states) {
        let (got, sent) = restore_orders(&env, &after(&env, l));
        assert_eq!(&got, want, "{l}");
        assert!(sent.len() <= 2, "{l}: {sent:?}");
    }
}

#[test]
fn full_every_days_restarts_an_old_chain() {
    let env = Env::with(sim_options(), "full_every_days: 1\n");
    env.run_ok(&["init"], 0);
    backup(&env, &[]);
    env.sim.load("sales", "orders", "p20260101", 1).unwrap();
    let l = backup(&env, &[]);
    assert_eq!(
        table_rows(&env, &l)[0][4].as_deref(),
        Some("changed partitions")
    );
    env.sim.advance(Duration::from_secs(2 * 86_400));
    env.sim.load("sales", "orders", "p20260102", 1).unwrap();
    let l = backup(&env, &[]);
    let t = table_rows(&env, &l);
    // both tables' chains are older than a day: both whole (customers unchanged, still restarted)
    assert_eq!(t.len(), 2, "{t:?}");
    assert!(
        t.iter()
            .all(|r| r[4].as_deref().unwrap().contains("full_every_days (1)")),
        "{t:?}"
    );
}

#[test]
fn a_repository_switch_takes_tables_whole_in_the_new_one_and_restores_work_on_both_sides() {
    let env = Env::demo();
    env.run_ok(&["init"], 0);
    backup(&env, &[]);
    env.sim.load("sales", "orders", "p20260102", 2).unwrap();
    let before = backup(&env, &[]);
    let at_before = parts(&env, "orders");

    env.sim.create_repository("repo2", false).unwrap();
    let text = std::fs::read_to_string(&env.config)
        .unwrap()
        .replace("repository: backup_repo", "repository: repo2");
    std::fs::write(&env.config, text).unwrap();
    // nothing changed, but the chains are in the old repository: both tables whole in repo2
    let switched = backup(&env, &[]);
    let t = table_rows(&env, &switched);
    assert_eq!(t.len(), 2, "{t:?}");
    assert!(
        t.iter()
            .all(|r| r[4].as_deref().unwrap().contains("repository backup_repo")),
        "{t:?}"
    );
    assert_eq!(env.sim.jobs().last().unwrap().repository, "repo2");
    env.sim.load("sales", "orders", "p20260103", 2).unwrap();
    let after_switch = backup(&env, &[]);
    let at_after = parts(&env, "orders");

    let (got, sent) = restore_orders(&env, &after(&env, &before));
    assert_eq!(got, at_before);
    assert!(
        sent.iter().all(|s| s.contains(" FROM `backup_repo` ")),
        "{sent:?}"
    );
    let (got, sent) = restore_orders(&env, &after(&env, &after_switch));
    assert_eq!(got, at_after);
    assert_eq!(sent.len(), 2);
    assert!(
        sent.iter().all(|s| s.contains(" FROM `repo2` ")),
        "{sent:?}"
    );
}

/// The demo plus database hr (one unpartitioned table) in scope, jobs of both run at once.
fn two_databases(extra: &str) -> Env {
    let env = Env::with(sim_options(), extra);
    let people = starrocks_sim::TableSpec::new(&[("id", "BIGINT"), ("name", "VARCHAR(32)")]);
    env.sim.create_table("hr", "people", &people).unwrap();
    env.sim.load("hr", "people", "people", 3).unwrap();
    let text = std::fs::read_to_string(&env.config).unwrap().replacen(
        "  - sales.customers\n",
        "  - sales.customers\n  - hr.people\n",
        1,
    );
    std::fs::write(&env.config, text).unwrap();
    env.run_ok(&["init"], 0);
    env
}

/// FINISHED labels per database.
fn finished(env: &Env, db: &str) -> Vec<String> {
    env.query(&format!("SELECT label FROM ops.backup_history WHERE database_name = '{db}' AND status = 'FINISHED' ORDER BY started_at"))
        .into_iter()
        .map(|r| r[0].clone().unwrap())
        .collect()
}

#[test]
fn backup_jobs_of_two_databases_run_at_the_same_time() {
    let env = two_databases("");
    // Jobs frozen: a run that handled databases one after the other would never send the second
    // BACKUP while the first job cannot finish.
    env.sim.stall_jobs(true);
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("starrocks-bbr"))
        .args(["backup", "--config"])
        .arg(&env.config)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while env.backups_sent() < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "both BACKUPs were never in flight at once: {:#?}",
            env.sent()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    env.sim.stall_jobs(false);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("hr: bbr_hr_") && stdout.contains("sales: bbr_sales_"),
        "{stdout}"
    );
    assert_eq!(finished(&env, "hr").len(), 1);
    assert_eq!(finished(&env, "sales").len(), 1);
    // each database on its own connection
    let conns: std::collections::BTreeSet<u32> = env
        .sim
        .statements()
        .into_iter()
        .filter(|s| s.sql.starts_with("BACKUP"))
        .map(|s| s.conn_id)
        .collect();
    assert_eq!(conns.len(), 2);
}

#[test]
fn a_failure_in_one_database_does_not_stop_the_other_and_the_exit_code_covers_both() {
    let dir = tempfile::tempdir().unwrap();
    let prom = dir.path().join("bbr.prom");
    let env = two_databases(&format!("metrics_file: {}\n", prom.display()));
    let status = |db: &str| {
        let text = std::fs::read_to_string(&prom).unwrap();
        let key = format!("starrocks_bbr_last_run_status{{database=\"{db}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(key.as_str()))
            .unwrap_or_else(|| panic!("no {key} in\n{text}"))
            .to_string()
    };
    env.sim.fail_once(
        "^BACKUP SNAPSHOT `hr`",
        1064,
        "simulated refusal of hr's BACKUP",
    );
    let out = env.run(&["backup"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("sales: bbr_sales_") && stdout.contains("FINISHED"),
        "{stdout}"
    );
    assert!(
        stdout.contains("hr: bbr_hr_") && stdout.contains("FAILED"),
        "{stdout}"
    );
    assert_eq!(finished(&env, "sales").len(), 1);
    assert!(finished(&env, "hr").is_empty());
    // the metrics say which database failed, not "every database" because the exit code was 1
    assert_eq!((status("sales"), status("hr")), ("1".into(), "0".into()));
    // the next run backs hr up (a full: nothing FINISHED yet) and finds sales unchanged
    let out = env.run_ok(&["backup"], 0);
    assert!(out.contains("sales: nothing changed"), "{out}");
    assert_eq!(finished(&env, "hr").len(), 1);
    assert_eq!((status("sales"), status("hr")), ("1".into(), "1".into()));
}

#[test]
fn a_lost_connection_in_one_databases_job_loses_nothing_in_the_other() {
    let env = two_databases("");
    // hr's connection dies right after its BACKUP was accepted: hr's worker reconnects and finds
    // its job by label; sales' job, on its own connection, is not disturbed.
    env.sim
        .drop_connection("^BACKUP SNAPSHOT `hr`", starrocks_sim::When::After);
    env.run_ok(&["backup"], 0);
    assert_eq!(env.backups_sent(), 2, "one BACKUP per database, none twice");
    assert_eq!(finished(&env, "hr").len(), 1);
    assert_eq!(finished(&env, "sales").len(), 1);
}

#[test]
fn a_crash_while_one_databases_job_runs_loses_nothing_in_the_other() {
    let env = two_databases("");
    // hr's first poll never answers; the run is killed once sales' job is FINISHED.
    env.sim
        .hang("^SHOW BACKUP FROM `hr`", starrocks_sim::When::Before);
    env.killed_run(
        &["backup"],
        |_| {
            env.query("SELECT COUNT(*) FROM ops.backup_history WHERE database_name = 'sales' AND status = 'FINISHED'")[0][0].as_deref() == Some("1")
        },
        Duration::ZERO,
    );
    assert!(finished(&env, "hr").is_empty());
    // the next run finishes hr's job by label (no second BACKUP); sales stays as it was
    env.sim.clear_statements();
    let out = env.run_ok(&["backup"], 0);
    assert!(out.contains("interrupted backup bbr_hr_"), "{out}");
    assert_eq!(env.backups_sent(), 0, "{:#?}", env.sent());
    assert_eq!(finished(&env, "hr").len(), 1);
    assert_eq!(finished(&env, "sales").len(), 1);
}
