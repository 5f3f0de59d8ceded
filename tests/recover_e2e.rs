//! Issue 14, end to end over the wire: catalog backups, and `recover` onto a new cluster that shares
//! the lost cluster's repository, following docs/DISASTER-RECOVERY.md literally.

mod common;
use common::recover::*;
use common::*;
use std::time::Duration;

#[test]
fn every_backup_ends_with_a_catalog_backup_and_nothing_changed_needs_none() {
    if skip_on_real_cluster(
        "every_backup_ends_with_a_catalog_backup_and_nothing_changed_needs_none",
    ) {
        return;
    }
    let a = cluster_a();
    a.run_ok(&["init"], 0);
    let out = a.run_ok(&["backup"], 0);
    assert!(out.contains("ops: catalog backup bbr_catalog_"), "{out}");
    let cats = catalog_rows(&a);
    assert_eq!(cats.len(), 1);
    assert_eq!(cats[0].1, "FINISHED");
    // the catalog snapshot is in the same repository, complete, and holds every ops table
    let snaps = a.sim.snapshots("backup_repo");
    let cat = snaps.iter().find(|s| s.label == cats[0].0).unwrap();
    assert!(cat.ok);
    assert_eq!(cat.database, "ops");
    let mut tables: Vec<&str> = cat.tables.iter().map(|t| t.name.as_str()).collect();
    tables.sort();
    assert_eq!(
        tables,
        [
            "backup_history",
            "backup_partitions",
            "backup_tables",
            "bbr_meta",
            "restore_history"
        ]
    );
    // nothing changed and the catalog is current: no snapshot at all
    let out = a.run_ok(&["backup"], 0);
    assert!(out.contains("nothing changed"), "{out}");
    assert_eq!(catalog_rows(&a).len(), 1);
    // a change: a data backup and a new catalog backup
    a.sim.load("sales", "customers", "customers", 3).unwrap();
    a.run_ok(&["backup"], 0);
    assert_eq!(catalog_rows(&a).len(), 2);
}

#[test]
fn a_failed_catalog_backup_warns_exits_0_and_the_next_run_covers_it() {
    if skip_on_real_cluster("a_failed_catalog_backup_warns_exits_0_and_the_next_run_covers_it") {
        return;
    }
    let a = cluster_a();
    let dir = tempfile::tempdir().unwrap();
    let prom = dir.path().join("bbr.prom");
    let text = std::fs::read_to_string(&a.config).unwrap();
    std::fs::write(
        &a.config,
        format!("{text}\nmetrics_file: {}\n", prom.display()),
    )
    .unwrap();
    let catalog_status = || {
        let text = std::fs::read_to_string(&prom).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix("starrocks_bbr_catalog_last_status "))
            .map(str::to_string)
    };
    a.run_ok(&["init"], 0);
    // the data BACKUP goes through; the catalog BACKUP of ops is refused
    a.sim.fail_once(
        "^BACKUP SNAPSHOT `ops`",
        5064,
        "Getting analyzing error. Detail message: Repository [backup_repo] does not exist.",
    );
    let out = a.run(&["backup"]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("sales: bbr_sales_"), "{stdout}");
    assert!(
        stdout.contains("catalog backup") && stdout.contains("FAILED"),
        "{stdout}"
    );
    assert!(
        stderr.contains("the data backup is not affected"),
        "{stderr}"
    );
    let h = a.history();
    assert_eq!(
        h.iter()
            .filter(|r| r.0.starts_with("bbr_sales_") && r.2 == "FINISHED")
            .count(),
        1
    );
    assert_eq!(catalog_rows(&a)[0].1, "FAILED");
    // the run exited 0, so the metrics file is where the failed catalog backup shows
    assert_eq!(catalog_status().as_deref(), Some("0"));
    // nothing changed in the data, but the history changed since the last catalog: covered now
    let out = a.run_ok(&["backup"], 0);
    assert!(out.contains("nothing changed"), "{out}");
    assert!(
        out.contains("catalog backup bbr_catalog_") && out.contains("FINISHED"),
        "{out}"
    );
    let cats = catalog_rows(&a);
    assert_eq!(cats.len(), 2);
    assert_eq!(cats[1].1, "FINISHED");
    assert_eq!(catalog_status().as_deref(), Some("1"));
    let text = std::fs::read_to_string(&prom).unwrap();
    assert!(
        text.contains("\nstarrocks_bbr_catalog_last_success_timestamp_seconds 1"),
        "{text}"
    );
}

/// docs/DISASTER-RECOVERY.md, step by step.
#[test]
fn runbook_recover_onto_a_new_cluster() {
    if skip_on_real_cluster("runbook_recover_onto_a_new_cluster") {
        return;
    }
    // Cluster A: full + incrementals with catalog backups on.
    let a = cluster_a_backed_up();
    a.sim.advance(Duration::from_secs(60));
    let t1 = a.sim.now();
    let orders_t1 = parts(&a.sim, "orders");
    a.sim.load("sales", "orders", "p20260102", 7).unwrap();
    a.sim.load("sales", "customers", "customers", 2).unwrap();
    a.run_ok(&["backup"], 0);
    a.sim.advance(Duration::from_secs(60));
    let t2 = a.sim.now();
    let customers_t2 = parts(&a.sim, "customers");
    a.sim.load("sales", "orders", "p20260104", 1).unwrap();
    a.sim.load("sales", "customers", "customers", 4).unwrap();
    a.run_ok(&["backup"], 0);
    let history_a = data_history(&a);
    assert_eq!(history_a.len(), 3);

    // A is lost; its repository survives. B: a new cluster on the same storage.
    let b = cluster_b(&a);
    drop(a);

    // Step 1: create the repository on B with the SAME name and location.
    b.sim
        .execute("CREATE REPOSITORY backup_repo WITH BROKER ON LOCATION \"s3://sim-bucket/backup\" PROPERTIES (\"aws.s3.region\" = \"x\")")
        .unwrap();
    let listed = b.query("SHOW SNAPSHOT ON backup_repo");
    assert!(listed
        .iter()
        .any(|r| r[0].as_deref().unwrap_or("").starts_with("bbr_catalog_")));
    b.sim.clear_statements();
    // Step 2: review the plan, then recover.
    let plan = b.run_ok(&["recover", "--dry-run"], 0);
    let plan: serde_json::Value = serde_json::from_str(&plan).unwrap();
    assert_eq!(plan["command"], "recover");
    assert!(b.sent().iter().all(|s| {
        let u = s.trim_start().to_ascii_uppercase();
        // ADMIN SHOW FRONTEND CONFIG (run_mode) is a read-only SHOW too
        u.starts_with("SELECT") || u.starts_with("SHOW") || u.starts_with("ADMIN SHOW ")
    }));
    let out = b.run_ok(&["recover"], 0);
    assert!(
        out.contains("recovered ops from catalog snapshot bbr_catalog_"),
        "{out}"
    );
    assert!(out.contains("sales: 3 backups FINISHED"), "{out}");
    // Step 3: the history is A's.
    assert_eq!(data_history(&b), history_a);
    assert!(catalog_rows(&b).iter().all(|(_, s)| s == "FINISHED"));
    // Step 4: create the databases, restore the tables needed, each at its time.
    b.sim.execute("CREATE DATABASE sales").unwrap();
    b.run_ok(
        &["restore", "--table", "sales.orders", "--timestamp", &ts(t1)],
        0,
    );
    b.run_ok(
        &[
            "restore",
            "--table",
            "sales.customers",
            "--timestamp",
            &ts(t2),
        ],
        0,
    );
    assert_eq!(parts(&b.sim, "orders"), orders_t1);
    assert_eq!(parts(&b.sim, "customers"), customers_t2);
    // Step 5: backups go on from the recovered history (new PartitionIds: every partition differs).
    let out = b.run_ok(&["backup"], 0);
    assert!(
        out.contains("sales: bbr_sales_") && out.contains("FINISHED (incremental"),
        "{out}"
    );
    assert!(out.contains("catalog backup bbr_catalog_"), "{out}");
    assert_eq!(data_history(&b).len(), 4);
    // and what B backs up restores: orders as B holds it now
    let now_b = b.sim.now();
    b.sim.execute("DROP TABLE sales.orders").unwrap();
    b.run_ok(
        &[
            "restore",
            "--table",
            "sales.orders",
            "--timestamp",
            &ts(now_b),
        ],
        0,
    );
    assert_eq!(parts(&b.sim, "orders"), orders_t1);
}

#[test]
fn recover_refuses_an_existing_ops_database_and_a_repository_without_catalog() {
    if skip_on_real_cluster(
        "recover_refuses_an_existing_ops_database_and_a_repository_without_catalog",
    ) {
        return;
    }
    let a = cluster_a();
    a.run_ok(&["init"], 0);
    a.sim.clear_statements();
    assert_recover_refused(&a, 4, "the ops database ops exists");
    // a new cluster on a repository holding only data snapshots (catalog backups were off)
    let text = std::fs::read_to_string(&a.config)
        .unwrap()
        .replace("catalog_backup: true", "catalog_backup: false");
    std::fs::write(&a.config, text).unwrap();
    a.run_ok(&["backup"], 0);
    let b = attached_b(&a);
    assert_recover_refused(&b, 1, "no complete catalog snapshot");
}

#[test]
fn a_catalog_backup_another_run_holds_is_left_to_it_with_a_warning() {
    if skip_on_real_cluster("a_catalog_backup_another_run_holds_is_left_to_it_with_a_warning") {
        return;
    }
    let a = cluster_a();
    a.run_ok(&["init"], 0);
    // another run's live catalog claim on the ops database, older than ours
    a.sim
        .execute("INSERT INTO ops.backup_history (label, database_name, backup_type, status, repository, started_at, heartbeat_at, partitions, tables) VALUES ('bbr_catalog_ops_20251231235959_other1', 'ops', 'full', 'RUNNING', 'backup_repo', '2025-12-31 23:59:59', NOW(), 0, '[]')")
        .unwrap();
    let out = a.run(&["backup"]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("sales: bbr_sales_") && stdout.contains("FINISHED (full"),
        "{stdout}"
    );
    assert!(
        stdout.contains("catalog backup") && stdout.contains("WITHDRAWN"),
        "{stdout}"
    );
    // no BACKUP of ops was sent, our claim row is gone, theirs stays
    assert!(!a
        .sent()
        .iter()
        .any(|s| s.starts_with("BACKUP SNAPSHOT `ops`")));
    assert_eq!(
        catalog_rows(&a),
        [(
            "bbr_catalog_ops_20251231235959_other1".to_string(),
            "RUNNING".to_string()
        )]
    );
}

/// What recover says about the repository: a FINISHED backup whose files were deleted from the
/// bucket becomes EXPIRED; a backup taken after the catalog (its catalog backup failed) is named.
#[test]
fn recover_marks_absent_snapshots_and_names_unknown_newer_ones() {
    if skip_on_real_cluster("recover_marks_absent_snapshots_and_names_unknown_newer_ones") {
        return;
    }
    let a = cluster_a_backed_up();
    let full = data_history(&a)[0][0].trim_matches('"').to_string();
    a.sim.load("sales", "customers", "customers", 1).unwrap();
    a.run_ok(&["backup"], 0);
    let incr1 = data_history(&a)[0][0].trim_matches('"').to_string();
    // a later incremental of orders only: customers' data stays in incr1 (lean manifests)
    a.sim.advance(Duration::from_secs(60));
    a.sim.load("sales", "orders", "p20260102", 1).unwrap();
    a.run_ok(&["backup"], 0);
    a.sim.advance(Duration::from_secs(60));
    let after_orders = ts(a.sim.now());
    a.sim.load("sales", "customers", "customers", 1).unwrap();
    // this run's catalog backup fails: the history of the next data snapshot is not in any catalog
    a.sim.fail_once(
        "^BACKUP SNAPSHOT `ops`",
        5064,
        "Getting analyzing error. Detail message: Repository [backup_repo] does not exist.",
    );
    a.run_ok(&["backup"], 0);
    let incr2 = data_history(&a)[0][0].trim_matches('"').to_string();
    assert_ne!(incr2, incr1);
    a.sim.delete_snapshot_files("backup_repo", &incr1);
    let b = attached_b(&a);
    let out = b.run_ok(&["recover"], 0);
    assert!(
        out.contains(&format!(
            "marked EXPIRED, snapshot not in the repository: {incr1}"
        )),
        "{out}"
    );
    assert!(out.contains(&format!("not in the recovered history (taken after the catalog snapshot; restore cannot use them): {incr2}")), "{out}");
    let status = |label: &str| {
        b.query(&format!(
            "SELECT status, error_message FROM ops.backup_history WHERE label = '{label}'"
        ))[0]
            .clone()
    };
    assert_eq!(status(&full)[0].as_deref(), Some("FINISHED"));
    assert_eq!(status(&incr1)[0].as_deref(), Some("EXPIRED"));
    assert!(status(&incr1)[1]
        .as_deref()
        .unwrap()
        .contains("not in repository backup_repo"));
    assert!(b
        .query(&format!(
            "SELECT label FROM ops.backup_history WHERE label = '{incr2}'"
        ))
        .is_empty());
    // a restore point that needs the absent snapshot (customers' data is in incr1): refused in
    // one clear line naming it
    b.sim.execute("CREATE DATABASE sales").unwrap();
    let out = b.run(&[
        "restore",
        "--table",
        "sales.customers",
        "--timestamp",
        &after_orders,
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err.trim().lines().last().unwrap();
    assert!(
        line.contains(&format!("needs partitions from snapshot {incr1}"))
            && line.contains("pick another --timestamp"),
        "{err}"
    );
    assert!(!b.sim.table_exists("sales", "customers"));
}

/// A recover that died after creating the ops database but before its RESTORE left an empty ops
/// database: recover goes on with it.
#[test]
fn recover_reuses_an_empty_ops_database() {
    if skip_on_real_cluster("recover_reuses_an_empty_ops_database") {
        return;
    }
    let a = cluster_a_backed_up();
    let b = attached_b(&a);
    b.sim.create_database("ops").unwrap();
    let out = b.run_ok(&["recover"], 0);
    assert!(out.contains("sales: 1 backups FINISHED"), "{out}");
}

/// The ops tables are restored with the configured replication_num: more than the new cluster's
/// alive backends is a config the cluster refuses (exit 2, nothing written).
#[test]
fn recover_refuses_a_replication_num_above_the_alive_backends() {
    if skip_on_real_cluster("recover_refuses_a_replication_num_above_the_alive_backends") {
        return;
    }
    let a = cluster_a_backed_up();
    let b = attached_b(&a);
    let text = std::fs::read_to_string(&b.config)
        .unwrap()
        .replace("replication_num: 1", "replication_num: 3");
    std::fs::write(&b.config, text).unwrap();
    assert_recover_refused(
        &b,
        2,
        "replication_num 3 is more than the 1 alive backend(s)",
    );
}

/// A catalog written by an older layout (here: without restore_history) gets what `init` gives any
/// ops database: the missing table is created after the RESTORE.
#[test]
fn a_catalog_from_an_older_layout_is_brought_up_to_date() {
    if skip_on_real_cluster("a_catalog_from_an_older_layout_is_brought_up_to_date") {
        return;
    }
    let a = cluster_a_backed_up();
    // the newest catalog snapshot, as a release whose ops schema had no restore_history wrote it
    a.sim.execute("DROP TABLE ops.restore_history").unwrap();
    a.sim
        .execute("BACKUP SNAPSHOT ops.bbr_catalog_ops_20990101000000_older1 TO backup_repo")
        .unwrap();
    a.sim.advance(Duration::from_secs(60));
    let b = attached_b(&a);
    let out = b.run_ok(&["recover"], 0);
    assert!(
        out.contains("bbr_catalog_ops_20990101000000_older1"),
        "{out}"
    );
    assert!(b.sim.table_exists("ops", "restore_history"));
    assert_eq!(data_history(&b), data_history(&a));
}

/// A catalog written by the release before ops schema version 2 (no backup_tables, no bbr_meta; its
/// manifests list every partition) is upgraded in place by the init that ends `recover`, and its
/// history restores and bases the next backup.
#[test]
fn a_catalog_from_ops_schema_version_1_is_upgraded_by_recover() {
    if skip_on_real_cluster("a_catalog_from_ops_schema_version_1_is_upgraded_by_recover") {
        return;
    }
    let a = cluster_a();
    a.run_ok(&["init"], 0);
    a.run_ok(&["backup"], 0);
    // one FULL: its manifest is the same in both layouts; drop what version 2 added
    a.sim.execute("DROP TABLE ops.backup_tables").unwrap();
    a.sim.execute("DROP TABLE ops.bbr_meta").unwrap();
    a.sim
        .execute("BACKUP SNAPSHOT ops.bbr_catalog_ops_20990101000000_v1aaaa TO backup_repo")
        .unwrap();
    a.sim.advance(Duration::from_secs(60));
    let b = attached_b(&a);
    let out = b.run_ok(&["recover"], 0);
    assert!(
        out.contains("bbr_catalog_ops_20990101000000_v1aaaa"),
        "{out}"
    );
    assert_eq!(
        b.sim
            .execute("SELECT value FROM ops.bbr_meta WHERE name = 'schema_version'")
            .unwrap(),
        vec![vec![Some("2".to_string())]]
    );
    let complete = b
        .sim
        .execute("SELECT COUNT(*) FROM ops.backup_tables WHERE complete = 1")
        .unwrap();
    assert_eq!(complete[0][0].as_deref(), Some("2"), "orders + customers");
    assert_eq!(data_history(&b), data_history(&a));
    // a restore of orders as of B's clock resolves its chain from the recovered history (the
    // database first, as the runbook says: before 3.4 RESTORE does not create it)
    b.sim.execute("CREATE DATABASE sales").unwrap();
    let now = b.sim.now().format("%Y-%m-%d %H:%M:%S").to_string();
    let out = b.run_ok(
        &[
            "restore",
            "--dry-run",
            "--table",
            "sales.orders",
            "--timestamp",
            &now,
        ],
        0,
    );
    assert!(out.contains("\"kind\": \"RestoreSnapshot\""), "{out}");
}
