//! Issue 14 review findings, end to end over the wire: what `recover` does with the history it
//! restores (which catalog it picks, rows the lost cluster left RUNNING, zones, failed listings)
//! and the catalog job's edge cases.

mod common;
use common::recover::*;
use common::*;
use std::time::Duration;

/// Finding 2: rows the lost cluster's runs left RUNNING inside the catalog snapshot are settled by
/// recover: a backup whose snapshot is complete in the repository becomes FINISHED with its
/// timestamp and a snapshot_at from the snapshot's own backup_time (in the session zone); a restore
/// becomes FAILED. The next backup on B then continues the chain instead of waiting for (or
/// resuming) a job of the dead cluster.
#[test]
fn recover_settles_rows_the_lost_cluster_left_running() {
    if skip_on_real_cluster("recover_settles_rows_the_lost_cluster_left_running") {
        return;
    }
    let zone = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
    let a = cluster_a_in(zone);
    a.run_ok(&["init"], 0);
    a.run_ok(&["backup"], 0);
    a.sim.advance(Duration::from_secs(60));
    a.sim.load("sales", "customers", "customers", 2).unwrap();
    a.run_ok(&["backup"], 0);
    let customers = parts(&a.sim, "customers");
    a.sim.advance(Duration::from_secs(60));
    let after_incr = a.query("SELECT NOW()")[0][0].clone().unwrap()[..19].to_string();
    let incr = a.query("SELECT label, backup_timestamp, snapshot_at FROM ops.backup_history WHERE database_name = 'sales' AND backup_type = 'incremental'");
    let (label, stamp, snap_at) = (
        incr[0][0].clone().unwrap(),
        incr[0][1].clone().unwrap(),
        incr[0][2].clone().unwrap(),
    );
    // as the catalog snapshot sees them when A's runs were cut short: the incremental (snapshot
    // complete, manifest written) and a restore still RUNNING
    a.sim
        .execute(&format!("UPDATE ops.backup_history SET status = 'RUNNING', finished_at = NULL, backup_timestamp = NULL, snapshot_at = NULL WHERE label = '{label}'"))
        .unwrap();
    a.sim
        .execute("INSERT INTO ops.restore_history (label, database_name, table_name, target_time, status, started_at, heartbeat_at) VALUES ('bbr_restore_sales_orders_20260101000000_rrrrrr', 'sales', 'orders', NOW(), 'RUNNING', NOW(), NOW())")
        .unwrap();
    manual_catalog(&a, "bbr_catalog_ops_20990101000000_manua1");
    let b = a.new_cluster_on(
        starrocks_sim::SimOptions {
            session_time_zone: zone,
            ..sim_options()
        },
        true,
    );
    let out = b.run_ok(&["recover"], 0);
    assert!(
        out.contains("bbr_catalog_ops_20990101000000_manua1"),
        "{out}"
    );
    // same zone on both clusters: no warning
    assert!(!out.contains("WARNING"), "{out}");
    assert!(
        out.contains(&format!(
            "running when the catalog was taken, snapshot complete in the repository: FINISHED {label}"
        )),
        "{out}"
    );
    assert!(
        out.contains("their runs died with the lost cluster: FAILED bbr_restore_sales_orders_20260101000000_rrrrrr"),
        "{out}"
    );
    let row = b.query(&format!(
        "SELECT status, backup_timestamp, snapshot_at FROM ops.backup_history WHERE label = '{label}'"
    ));
    assert_eq!(row[0][0].as_deref(), Some("FINISHED"));
    assert_eq!(row[0][1].as_deref(), Some(stamp.as_str()));
    // the job's create time (Details backup_time), in A's session zone: at most the snapshot's
    // finish time A recorded, never B's clock (an hour later)
    let t = |s: &str| chrono::NaiveDateTime::parse_from_str(&s[..19], "%Y-%m-%d %H:%M:%S").unwrap();
    let settled = t(row[0][2].as_deref().unwrap());
    assert!(
        settled <= t(&snap_at) && t(&snap_at) - settled < chrono::Duration::minutes(1),
        "{settled} vs A's {snap_at}"
    );
    let r = b.query("SELECT status, error_message FROM ops.restore_history WHERE label = 'bbr_restore_sales_orders_20260101000000_rrrrrr'");
    assert_eq!(r[0][0].as_deref(), Some("FAILED"));
    assert_eq!(
        r[0][1].as_deref(),
        Some("its run died with the lost cluster")
    );
    // nothing of the dead cluster is RUNNING: the next backup continues the chain from the
    // settled incremental
    assert!(b
        .query("SELECT label FROM ops.backup_history WHERE status = 'RUNNING'")
        .is_empty());
    // the settled incremental is a restore point: customers as A held it after it
    b.sim.execute("CREATE DATABASE sales").unwrap();
    b.run_ok(
        &[
            "restore",
            "--table",
            "sales.customers",
            "--timestamp",
            &after_incr,
        ],
        0,
    );
    assert_eq!(parts(&b.sim, "customers"), customers);
    // every configured table restored (DISASTER-RECOVERY.md), backups go on
    b.run_ok(
        &[
            "restore",
            "--table",
            "sales.orders",
            "--timestamp",
            &after_incr,
        ],
        0,
    );
    let out = b.run_ok(&["backup"], 0);
    assert!(out.contains("FINISHED (incremental"), "{out}");
}

/// Finding 3: catalog labels carry the ops database, so a config whose ops database differs never
/// recovers another's history from a shared repository, even a newer one.
#[test]
fn recover_takes_only_its_own_ops_databases_catalog() {
    if skip_on_real_cluster("recover_takes_only_its_own_ops_databases_catalog") {
        return;
    }
    let a = cluster_a_backed_up();
    let ours = catalog_rows(&a)[0].0.clone();
    assert!(ours.starts_with("bbr_catalog_ops_"), "{ours}");
    // another config on the same repository, ops database `ops_other`, backs up later
    let other = a.dir.path().join("other.yaml");
    let text = std::fs::read_to_string(&a.config).unwrap();
    std::fs::write(
        &other,
        text.replace("ops_database: ops\n", "ops_database: ops_other\n"),
    )
    .unwrap();
    let cfg = other.to_str().unwrap();
    a.sim.advance(Duration::from_secs(60));
    a.sim.load("sales", "customers", "customers", 1).unwrap();
    let run = |args: &[&str]| {
        let mut c = assert_cmd::Command::cargo_bin("starrocks-bbr").unwrap();
        c.args(args)
            .args(["--config", cfg])
            .env(SECRET_VAR, SECRET)
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    };
    assert_eq!(run(&["init"]).status.code(), Some(0));
    let out = run(&["backup"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let theirs =
        a.query("SELECT label FROM ops_other.backup_history WHERE database_name = 'ops_other'");
    assert!(theirs[0][0]
        .as_deref()
        .unwrap()
        .starts_with("bbr_catalog_ops_other_"));
    let b = attached_b(&a);
    let out = b.run_ok(&["recover"], 0);
    assert!(
        out.contains(&format!("recovered ops from catalog snapshot {ours}")),
        "{out}"
    );
    assert!(out.contains("sales: 1 backups FINISHED"), "{out}");
}

/// Finding 12: a dead catalog job's RUNNING row is finished by the next backup even after
/// `catalog_backup` was turned off.
#[test]
fn a_dead_catalog_row_is_settled_after_catalog_backup_is_turned_off() {
    if skip_on_real_cluster("a_dead_catalog_row_is_settled_after_catalog_backup_is_turned_off") {
        return;
    }
    let a = Env::demo(); // catalog_backup: false (test tuning)
    a.run_ok(&["init"], 0);
    a.sim
        .execute("INSERT INTO ops.backup_history (label, database_name, backup_type, status, repository, started_at, heartbeat_at, partitions, tables) VALUES ('bbr_catalog_ops_20251231000000_dead01', 'ops', 'full', 'RUNNING', 'backup_repo', '2025-12-31 00:00:00', '2025-12-31 00:00:00', 0, '[]')")
        .unwrap();
    a.run_ok(&["backup"], 0);
    assert_eq!(
        catalog_rows(&a),
        [(
            "bbr_catalog_ops_20251231000000_dead01".to_string(),
            "FAILED".to_string()
        )]
    );
}

/// Finding 6: `init` run on the new cluster by mistake leaves an empty history: recover refuses
/// (4) and says to drop it; after `DROP DATABASE ops` recover gives A's history.
#[test]
fn recover_after_init_by_mistake_says_to_drop_the_empty_ops_database() {
    if skip_on_real_cluster("recover_after_init_by_mistake_says_to_drop_the_empty_ops_database") {
        return;
    }
    let a = cluster_a_backed_up();
    let b = attached_b(&a);
    b.run_ok(&["init"], 0);
    b.sim.clear_statements();
    assert_recover_refused(&b, 4, "backup_history is empty (did `init` run here before recover?): if so, `DROP DATABASE ops` and run recover again");
    b.sim.execute("DROP DATABASE ops").unwrap();
    let out = b.run_ok(&["recover"], 0);
    assert!(out.contains("sales: 1 backups FINISHED"), "{out}");
    assert_eq!(data_history(&b), data_history(&a));
}

/// Finding 9: a history change in the very second the catalog job starts is inside its snapshot
/// (Claim waits until the cluster clock passed the catalog row's started_at before the BACKUP), so
/// the strict `>` of catalog_needed rightly plans no second catalog backup for it.
#[test]
fn a_change_in_the_second_the_catalog_starts_is_in_its_snapshot() {
    if skip_on_real_cluster("a_change_in_the_second_the_catalog_starts_is_in_its_snapshot") {
        return;
    }
    let a = cluster_a();
    a.run_ok(&["init"], 0);
    a.sim.on_statement(
        "^INSERT INTO `ops`.`backup_history`.*'bbr_catalog_",
        Box::new(|sim| {
            sim.execute("UPDATE ops.backup_history SET error_message = 'same-second change', finished_at = NOW() WHERE database_name = 'sales'")
                .unwrap();
        }),
    );
    // the catalog BACKUP is sent only once the clock passed the catalog row's started_at
    let passed = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = passed.clone();
    a.sim.on_statement(
        "^BACKUP SNAPSHOT `ops`",
        Box::new(move |sim| {
            let r = sim
                .execute("SELECT NOW() > started_at FROM ops.backup_history WHERE database_name = 'ops' AND status = 'RUNNING'")
                .unwrap();
            seen.lock().unwrap().push(r[0][0].clone());
        }),
    );
    a.run_ok(&["backup"], 0);
    assert_eq!(*passed.lock().unwrap(), [Some("1".to_string())]);
    let same_second = a.query("SELECT h.finished_at, c.started_at FROM ops.backup_history h, ops.backup_history c WHERE h.database_name = 'sales' AND c.database_name = 'ops'");
    assert_eq!(same_second[0][0], same_second[0][1]);
    let out = a.run_ok(&["backup"], 0);
    assert!(out.contains("nothing changed"), "{out}");
    assert_eq!(catalog_rows(&a).len(), 1);
    let b = attached_b(&a);
    b.run_ok(&["recover"], 0);
    let got = b.query("SELECT error_message FROM ops.backup_history WHERE database_name = 'sales'");
    assert_eq!(got[0][0].as_deref(), Some("same-second change"));
}

/// Finding 6: history times are zone-less; a new cluster whose sessions run in another zone than
/// the lost one's is warned (the lost zone read from the catalog row's started_at against its
/// snapshot's backup_time).
#[test]
fn recover_warns_when_the_new_clusters_zone_differs() {
    if skip_on_real_cluster("recover_warns_when_the_new_clusters_zone_differs") {
        return;
    }
    let a = cluster_a_in(chrono::FixedOffset::east_opt(8 * 3600).unwrap());
    a.run_ok(&["init"], 0);
    a.run_ok(&["backup"], 0);
    let b = attached_b(&a); // UTC
    let out = b.run_ok(&["recover"], 0);
    assert!(
        out.contains(
            "WARNING: the lost cluster's sessions ran at UTC+08:00, this cluster's at UTC+00:00"
        ) && out.contains("set this cluster's time_zone to +08:00"),
        "{out}"
    );
}

/// Finding 1: SHOW SNAPSHOT answers `ERROR: Failed to get info` (NULL Timestamp) for a label whose
/// storage listing failed (Repository.java:621-624). Recover lists the catalog labels again; while
/// the newest cannot be read it stops (exit 1, "run recover again") instead of restoring an older
/// history, and a rerun once the storage answers restores the newest.
#[test]
fn a_failed_listing_never_makes_recover_restore_an_older_catalog() {
    if skip_on_real_cluster("a_failed_listing_never_makes_recover_restore_an_older_catalog") {
        return;
    }
    let a = cluster_a_backed_up();
    a.sim.advance(Duration::from_secs(60));
    a.sim.load("sales", "customers", "customers", 2).unwrap();
    a.run_ok(&["backup"], 0);
    let cats = catalog_rows(&a);
    assert_eq!(cats.len(), 2);
    let newest = &cats[1].0;
    // one failed listing (the whole repository): each catalog label is listed again
    let b = attached_b(&a);
    b.sim.fail_snapshot_listing(1);
    let out = b.run_ok(&["recover"], 0);
    assert!(
        out.contains(&format!("recovered ops from catalog snapshot {newest}")),
        "{out}"
    );
    assert_eq!(data_history(&b), data_history(&a));
    // the storage keeps failing: stop, nothing written, say to run again
    let c = attached_b(&a);
    c.sim.fail_snapshot_listing(1000);
    c.sim.clear_statements();
    assert_recover_refused(
        &c,
        1,
        &format!("could not list catalog snapshot {newest} (ERROR: Failed to get info"),
    );
    c.sim.fail_snapshot_listing(0);
    let out = c.run_ok(&["recover"], 0);
    assert!(
        out.contains(&format!("recovered ops from catalog snapshot {newest}")),
        "{out}"
    );
}
