//! RESTORE, SHOW RESTORE, CANCEL RESTORE over the wire (STARROCKS.md §1–3).
mod common;
use common::*;
use mysql::Conn;
use starrocks_sim::Sim;

/// Takes a finished full backup `label` of sales and returns its backup_timestamp.
fn backup(sim: &Sim, c: &mut Conn, label: &str) -> String {
    exec(c, &format!("BACKUP SNAPSHOT sales.{label} TO repo"));
    sim.advance(secs(60));
    assert_eq!(state(c, "SHOW BACKUP FROM sales"), "FINISHED");
    rows(
        c,
        &format!("SHOW SNAPSHOT ON repo WHERE SNAPSHOT = '{label}'"),
    )[0][1]
        .clone()
        .unwrap()
}

#[test]
fn restore_property_errors() {
    // STARROCKS.md §1, §3: backup_timestamp required, wrong timestamp, unknown key, missing repository
    let sim = start_manual();
    demo(&sim);
    let mut c = conn(&sim);
    let ts = backup(&sim, &mut c, "l1");
    assert_eq!(
        fail(
            &mut c,
            r#"RESTORE SNAPSHOT sales.l1 FROM repo PROPERTIES ("replication_num" = "1")"#
        ),
        (
            5064,
            "Getting analyzing error. Detail message: Missing backup_timestamp property.".into()
        )
    );
    assert_eq!(
        fail(
            &mut c,
            &format!(
                r#"RESTORE SNAPSHOT sales.l1 FROM repo PROPERTIES ("backup_timestamp" = "{ts}", "colour" = "red")"#
            )
        ),
        (
            5064,
            "Getting analyzing error. Detail message: Unknown restore job properties: [colour]."
                .into()
        )
    );
    let (code, msg) = fail(
        &mut c,
        r#"RESTORE SNAPSHOT sales.l1 FROM repo PROPERTIES ("backup_timestamp" = "2020-01-01-00-00-00-000")"#,
    );
    assert_eq!(code, 5064);
    assert!(
        msg.starts_with("Failed to get info of snapshot 'l1' because: "),
        "{msg}"
    );
    assert!(
        msg.ends_with(". Maybe specified wrong backup timestamp"),
        "{msg}"
    );
    assert_eq!(
        fail(
            &mut c,
            &format!(
                r#"RESTORE SNAPSHOT sales.l1 FROM nope PROPERTIES ("backup_timestamp" = "{ts}")"#
            )
        ),
        (5064, "Repository nope does not exist".into())
    );
    assert_eq!(
        fail(
            &mut c,
            &format!(
                r#"RESTORE SNAPSHOT sales.l1 FROM repo ON (zz) PROPERTIES ("backup_timestamp" = "{ts}")"#
            )
        ),
        (5064, "Table zz does not exist in snapshot l1".into())
    );
    assert_eq!(
        fail(
            &mut c,
            &format!(
                r#"RESTORE SNAPSHOT sales.l1 FROM repo ON (orders PARTITION (p9)) PROPERTIES ("backup_timestamp" = "{ts}")"#
            )
        ),
        (
            5064,
            "Partition p9 of table orders does not exist in snapshot l1".into()
        )
    );
}

#[test]
fn restore_into_new_table_matches_snapshot() {
    // STARROCKS.md §3, §4: restored partitions carry the snapshot's versions, with NEW ids
    let sim = start_manual();
    demo(&sim);
    let mut c = conn(&sim);
    exec(
        &mut c,
        "INSERT INTO sales.orders VALUES (1, '2024-01-05', 10), (2, '2024-02-05', 20)",
    );
    sim.load("sales", "orders", "p3", 100).unwrap();
    let before = sim.partitions("sales", "orders").unwrap();
    let ts = backup(&sim, &mut c, "l1");
    exec(&mut c, "DROP TABLE sales.orders");
    exec(
        &mut c,
        &format!(
            r#"RESTORE SNAPSHOT sales.l1 FROM repo ON (orders) PROPERTIES ("backup_timestamp" = "{ts}", "replication_num" = "1")"#
        ),
    );
    assert_eq!(
        columns(&mut c, "SHOW RESTORE FROM sales"),
        [
            "JobId",
            "Label",
            "Timestamp",
            "DbName",
            "State",
            "AllowLoad",
            "ReplicationNum",
            "RestoreObjs",
            "CreateTime",
            "MetaPreparedTime",
            "SnapshotFinishedTime",
            "DownloadFinishedTime",
            "FinishedTime",
            "UnfinishedTasks",
            "Progress",
            "TaskErrMsg",
            "Status",
            "Timeout"
        ]
    );
    // STARROCKS.md §2: a RESTORE hides SHOW BACKUP for that database
    assert!(rows(&mut c, "SHOW BACKUP FROM sales").is_empty());
    let mut seen = vec![];
    for _ in 0..30 {
        let s = state(&mut c, "SHOW RESTORE FROM sales");
        if seen.last() != Some(&s) {
            seen.push(s.clone());
        }
        if s == "DOWNLOADING" {
            // STARROCKS.md §3: target tables are in RESTORE state
            let (_, msg) = fail(&mut c, "SELECT * FROM sales.orders");
            assert!(msg.contains("Table state is not NORMAL"), "{msg}");
        }
        if s == "FINISHED" {
            break;
        }
        sim.advance(secs(1));
    }
    assert_eq!(
        seen,
        [
            "PENDING",
            "SNAPSHOTING",
            "DOWNLOAD",
            "DOWNLOADING",
            "COMMIT",
            "COMMITTING",
            "FINISHED"
        ]
    );
    let after = sim.partitions("sales", "orders").unwrap();
    assert_eq!(after.len(), 4);
    for (a, b) in after.iter().zip(before.iter()) {
        assert_eq!(
            (&a.name, a.visible_version, a.row_count),
            (&b.name, b.visible_version, b.row_count)
        );
        assert_ne!(a.id, b.id);
    }
    assert_eq!(
        one(&mut c, "SELECT SUM(amount) FROM sales.orders"),
        Some("30".into())
    );
}

#[test]
fn restore_onto_existing_table_with_other_replication_num_is_cancelled() {
    // STARROCKS.md §3: statement OK, job CANCELLED asynchronously; default replication_num is 3
    let sim = start_manual();
    demo(&sim);
    let mut c = conn(&sim);
    let ts = backup(&sim, &mut c, "l1");
    exec(
        &mut c,
        &format!(
            r#"RESTORE SNAPSHOT sales.l1 FROM repo ON (orders PARTITION (p1)) PROPERTIES ("backup_timestamp" = "{ts}")"#
        ),
    );
    sim.advance(secs(10));
    let r = &show_map(&mut c, "SHOW RESTORE FROM sales")[0];
    assert_eq!(r["State"].as_deref(), Some("CANCELLED"));
    assert_eq!(
        r["Status"].as_deref(),
        Some("[COMMON_ERROR, msg: Partition p1 in table orders has different replication num '1' with partition in repository, which is 3]")
    );
}

#[test]
fn restore_schema_mismatch_and_too_few_backends() {
    // STARROCKS.md §3: different schema; new table needs replication_num hosts
    let sim = start_manual();
    demo(&sim);
    let mut c = conn(&sim);
    let ts = backup(&sim, &mut c, "l1");
    sim.add_column("sales", "customers", "email", "VARCHAR(64)")
        .unwrap();
    exec(
        &mut c,
        &format!(
            r#"RESTORE SNAPSHOT sales.l1 FROM repo ON (customers) PROPERTIES ("backup_timestamp" = "{ts}", "replication_num" = "1")"#
        ),
    );
    sim.advance(secs(10));
    assert_eq!(
        show_map(&mut c, "SHOW RESTORE FROM sales")[0]["Status"].as_deref(),
        Some("[COMMON_ERROR, msg: Table customers already exist but with different schema, errMsg: ]")
    );
    exec(&mut c, "DROP TABLE sales.customers");
    exec(
        &mut c,
        &format!(
            r#"RESTORE SNAPSHOT sales.l1 FROM repo ON (customers) PROPERTIES ("backup_timestamp" = "{ts}")"#
        ),
    );
    sim.advance(secs(10));
    assert_eq!(
        show_map(&mut c, "SHOW RESTORE FROM sales")[0]["Status"].as_deref(),
        Some("[COMMON_ERROR, msg: failed to find 3 different hosts to create table: customers]")
    );
    assert!(!sim.table_exists("sales", "customers"));
}

#[test]
fn cancel_restore() {
    // STARROCKS.md §2: cancel Status carries the current state
    let sim = start_manual();
    demo(&sim);
    let mut c = conn(&sim);
    let ts = backup(&sim, &mut c, "l1");
    assert_eq!(
        fail(&mut c, "CANCEL RESTORE FROM sales"),
        (5064, "No restore is currently running".into())
    );
    exec(&mut c, "DROP TABLE sales.orders");
    exec(
        &mut c,
        &format!(
            r#"RESTORE SNAPSHOT sales.l1 FROM repo ON (orders AS orders2) PROPERTIES ("backup_timestamp" = "{ts}", "replication_num" = "1")"#
        ),
    );
    for _ in 0..20 {
        if state(&mut c, "SHOW RESTORE FROM sales") == "DOWNLOADING" {
            break;
        }
        sim.advance(secs(1));
    }
    exec(&mut c, "CANCEL RESTORE FROM sales");
    let r = &show_map(&mut c, "SHOW RESTORE FROM sales")[0];
    assert_eq!(r["State"].as_deref(), Some("CANCELLED"));
    assert_eq!(
        r["Status"].as_deref(),
        Some("[COMMON_ERROR, msg: user cancelled, current state: DOWNLOADING]")
    );
    assert!(!sim.table_exists("sales", "orders2"));
}
