//! BACKUP, SHOW BACKUP and SHOW SNAPSHOT over the wire (STARROCKS.md §1–3).
mod common;
use common::*;
use starrocks_sim::SimOptions;

#[test]
fn show_backup_columns_and_state_sequence() {
    // STARROCKS.md §2: SHOW BACKUP has 14 columns in this order; JobId -1 until the 3 s scheduler pass
    let sim = start_manual();
    demo(&sim);
    let mut c = conn(&sim);
    exec(
        &mut c,
        "BACKUP SNAPSHOT sales.l1 TO repo ON (orders PARTITION (p1, p2), customers)",
    );
    assert_eq!(
        columns(&mut c, "SHOW BACKUP FROM sales"),
        [
            "JobId",
            "SnapshotName",
            "DbName",
            "State",
            "BackupObjs",
            "CreateTime",
            "SnapshotFinishedTime",
            "UploadFinishedTime",
            "FinishedTime",
            "UnfinishedTasks",
            "Progress",
            "TaskErrMsg",
            "Status",
            "Timeout"
        ]
    );
    let r = &show_map(&mut c, "SHOW BACKUP FROM sales")[0];
    assert_eq!(r["JobId"].as_deref(), Some("-1"));
    assert_eq!(r["State"].as_deref(), Some("PENDING"));
    assert_eq!(
        r["BackupObjs"].as_deref(),
        Some("[sales.ordersPARTITIONS (p1, p2)], [sales.customers]")
    );
    assert_eq!(r["CreateTime"].as_deref(), Some("2026-01-01 00:00:00"));
    assert_eq!(r["SnapshotFinishedTime"], None);
    assert_eq!(r["Status"].as_deref(), Some("[OK]"));
    assert_eq!(r["Timeout"].as_deref(), Some("86400"));
    let mut seen = vec![];
    for _ in 0..20 {
        let s = state(&mut c, "SHOW BACKUP FROM sales");
        if seen.last() != Some(&s) {
            seen.push(s.clone());
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
            "UPLOAD_SNAPSHOT",
            "UPLOADING",
            "SAVE_META",
            "UPLOAD_INFO",
            "FINISHED"
        ]
    );
    let r = &show_map(&mut c, "SHOW BACKUP FROM sales")[0];
    assert_ne!(r["JobId"].as_deref(), Some("-1"));
    assert!(r["FinishedTime"].is_some());
    assert!(r["SnapshotFinishedTime"].is_some());
}

#[test]
fn snapshot_captures_versions_when_leaving_pending() {
    // STARROCKS.md §3: BACKUP snapshots each partition's visible version when the job is first scheduled
    let sim = start_manual();
    demo(&sim);
    sim.load("sales", "orders", "p1", 10).unwrap(); // v2
    let mut c = conn(&sim);
    exec(&mut c, "BACKUP SNAPSHOT sales.l1 TO repo ON (orders)");
    sim.load("sales", "orders", "p1", 5).unwrap(); // v3, still PENDING: in the snapshot
    sim.advance(secs(3)); // leaves PENDING
    sim.load("sales", "orders", "p1", 7).unwrap(); // v4: not in the snapshot
    sim.advance(secs(60));
    assert_eq!(state(&mut c, "SHOW BACKUP FROM sales"), "FINISHED");
    let snaps = sim.snapshots("repo");
    assert_eq!(snaps.len(), 1);
    let p1 = &snaps[0].tables[0].partitions[0];
    assert_eq!((p1.name.as_str(), p1.version, p1.row_count), ("p1", 3, 15));
    assert!(snaps[0].ok);
}

#[test]
fn backup_property_errors_verbatim() {
    // STARROCKS.md §1, §3: analyzer errors arrive wrapped, errno 5064
    let sim = start();
    demo(&sim);
    let mut c = conn(&sim);
    assert_eq!(
        fail(
            &mut c,
            r#"BACKUP SNAPSHOT sales.l TO repo PROPERTIES ("type" = "diff")"#
        ),
        (
            5064,
            "Getting analyzing error. Detail message: Invalid backup job type: diff.".into()
        )
    );
    assert_eq!(
        fail(
            &mut c,
            r#"BACKUP SNAPSHOT sales.l TO repo PROPERTIES ("timeout" = "60")"#
        ),
        (
            5064,
            "Getting analyzing error. Detail message: timeout must be at least 10 min.".into()
        )
    );
    assert_eq!(
        fail(
            &mut c,
            r#"BACKUP SNAPSHOT sales.l TO repo PROPERTIES ("colour" = "red")"#
        ),
        (
            5064,
            "Getting analyzing error. Detail message: Unknown backup job properties: [colour]."
                .into()
        )
    );
    exec(
        &mut c,
        r#"BACKUP SNAPSHOT sales.l TO repo PROPERTIES ("type" = "full", "timeout" = "600")"#,
    );
}

#[test]
fn missing_objects_errors_verbatim() {
    // STARROCKS.md §3: missing repository / table / partition texts
    let sim = start();
    demo(&sim);
    let mut c = conn(&sim);
    assert_eq!(
        fail(&mut c, "BACKUP SNAPSHOT sales.l TO nope"),
        (
            5064,
            "Getting analyzing error. Detail message: Repository [nope] does not exist.".into()
        )
    );
    assert_eq!(
        fail(&mut c, "BACKUP SNAPSHOT sales.l TO repo ON (nope)"),
        (
            1064,
            "Getting analyzing error. Detail message: Incorrect table name 'nope'.".into()
        )
    );
    assert_eq!(
        fail(&mut c, "BACKUP SNAPSHOT sales.l TO repo ON (orders PARTITION (p9))"),
        (1064, "Getting analyzing error. Detail message: partition[p9] does not exist  in table<orders>.".into())
    );
}

#[test]
fn read_only_repo_one_job_per_db_and_label_uniqueness() {
    // STARROCKS.md §3: read-only repository, one job per database (5064), labels unique per repository
    let sim = start_manual();
    demo(&sim);
    sim.create_repository("ro", true).unwrap();
    let mut c = conn(&sim);
    assert_eq!(
        fail(&mut c, "BACKUP SNAPSHOT sales.l TO ro"),
        (5064, "Repository ro is read only".into())
    );
    exec(&mut c, "BACKUP SNAPSHOT sales.l1 TO repo");
    assert_eq!(
        fail(&mut c, "BACKUP SNAPSHOT sales.l2 TO repo"),
        (
            5064,
            "Can only run one backup or restore job of a database at same time".into()
        )
    );
    // another database may run at once
    sim.create_table(
        "other",
        "t",
        &starrocks_sim::TableSpec::new(&[("a", "INT")]),
    )
    .unwrap();
    exec(&mut c, "BACKUP SNAPSHOT other.o1 TO repo");
    sim.advance(secs(60));
    assert_eq!(
        fail(&mut c, "BACKUP SNAPSHOT sales.l1 TO repo"),
        (
            5064,
            "Snapshot with name 'l1' already exist in repository".into()
        )
    );
    // also across databases
    assert_eq!(
        fail(&mut c, "BACKUP SNAPSHOT other.l1 TO repo"),
        (
            5064,
            "Snapshot with name 'l1' already exist in repository".into()
        )
    );
}

#[test]
fn temp_partitions_refused() {
    // STARROCKS.md §3: tables with temporary partitions cannot be backed up
    let sim = start();
    demo(&sim);
    sim.add_temp_partition(
        "sales",
        "orders",
        &starrocks_sim::PartitionSpec::less_than("tp", "2024-02-01"),
    )
    .unwrap();
    let mut c = conn(&sim);
    assert_eq!(
        fail(&mut c, "BACKUP SNAPSHOT sales.l TO repo ON (orders)"),
        (
            5064,
            "Do not support backing up table with temp partitions".into()
        )
    );
}

#[test]
fn new_backup_syntax_34() {
    // STARROCKS.md §1: 3.4+ BACKUP DATABASE db SNAPSHOT label TO repo ON (TABLE t PARTITION (p))
    let sim = start_manual();
    demo(&sim);
    let mut c = conn(&sim);
    exec(
        &mut c,
        "BACKUP DATABASE sales SNAPSHOT l TO repo ON (TABLE orders PARTITION (p3))",
    );
    let r = &show_map(&mut c, "SHOW BACKUP FROM sales")[0];
    assert_eq!(
        r["BackupObjs"].as_deref(),
        Some("[sales.ordersPARTITIONS (p3)]")
    );
}

#[test]
fn cancel_backup() {
    // STARROCKS.md §2, §3: CANCEL BACKUP; Status text; no job → error
    let sim = start_manual();
    demo(&sim);
    let mut c = conn(&sim);
    assert_eq!(
        fail(&mut c, "CANCEL BACKUP FROM sales"),
        (5064, "No backup job is currently running".into())
    );
    exec(&mut c, "BACKUP SNAPSHOT sales.l TO repo");
    sim.advance(secs(5));
    exec(&mut c, "CANCEL BACKUP FROM sales");
    let r = &show_map(&mut c, "SHOW BACKUP FROM sales")[0];
    assert_eq!(r["State"].as_deref(), Some("CANCELLED"));
    assert_eq!(
        r["Status"].as_deref(),
        Some("[COMMON_ERROR, msg: user cancelled]")
    );
    // cancelled before upload: label free, SHOW SNAPSHOT says no snapshot
    assert_eq!(
        rows(&mut c, "SHOW SNAPSHOT ON repo WHERE SNAPSHOT = 'l'"),
        vec![vec![
            Some("l".into()),
            Some("".into()),
            Some("ERROR: no snapshot".into())
        ]]
    );
    exec(&mut c, "BACKUP SNAPSHOT sales.l TO repo");
}

#[test]
fn timeout_cancels() {
    // STARROCKS.md §2: timeout → [TIMEOUT, msg: ]
    let sim = start_manual();
    demo(&sim);
    let mut c = conn(&sim);
    sim.stall_jobs(true);
    exec(
        &mut c,
        r#"BACKUP SNAPSHOT sales.l TO repo PROPERTIES ("timeout" = "600")"#,
    );
    sim.advance(secs(601));
    let r = &show_map(&mut c, "SHOW BACKUP FROM sales")[0];
    assert_eq!(r["State"].as_deref(), Some("CANCELLED"));
    assert_eq!(r["Status"].as_deref(), Some("[TIMEOUT, msg: ]"));
}

#[test]
fn show_snapshot_formats_and_time_zones() {
    // STARROCKS.md §2: timestamp yyyy-MM-dd-HH-mm-ss-SSS in the FE system zone; times in SHOW BACKUP in the session zone
    let sim = start_with(SimOptions {
        tick_per_statement: std::time::Duration::ZERO,
        system_time_zone: chrono::FixedOffset::east_opt(8 * 3600).unwrap(),
        ..SimOptions::default()
    });
    demo(&sim);
    let mut c = conn(&sim);
    exec(&mut c, "SET time_zone = '-05:00'");
    exec(&mut c, "BACKUP SNAPSHOT sales.l1 TO repo");
    assert_eq!(
        show_map(&mut c, "SHOW BACKUP FROM sales")[0]["CreateTime"].as_deref(),
        Some("2025-12-31 19:00:00")
    );
    sim.advance(secs(60));
    assert_eq!(
        columns(&mut c, "SHOW SNAPSHOT ON repo WHERE SNAPSHOT = 'l1'"),
        ["Snapshot", "Timestamp", "Status"]
    );
    assert_eq!(
        rows(&mut c, "SHOW SNAPSHOT ON repo WHERE SNAPSHOT = 'l1'"),
        vec![vec![
            Some("l1".into()),
            Some("2026-01-01-08-00-00-000".into()),
            Some("OK".into())
        ]]
    );
    assert_eq!(
        rows(&mut c, "SHOW SNAPSHOT ON repo WHERE SNAPSHOT = 'zz'"),
        vec![vec![
            Some("zz".into()),
            Some("".into()),
            Some("ERROR: no snapshot".into())
        ]]
    );
    let d = show_map(
        &mut c,
        "SHOW SNAPSHOT ON repo WHERE SNAPSHOT = 'l1' AND TIMESTAMP = '2026-01-01-08-00-00-000'",
    );
    assert_eq!(d[0].keys().cloned().collect::<Vec<_>>().len(), 5);
    assert_eq!(
        columns(
            &mut c,
            "SHOW SNAPSHOT ON repo WHERE SNAPSHOT = 'l1' AND TIMESTAMP = '2026-01-01-08-00-00-000'"
        ),
        ["Snapshot", "Timestamp", "Database", "Details", "Status"]
    );
    let details: serde_json::Value =
        serde_json::from_str(d[0]["Details"].as_deref().unwrap()).unwrap();
    assert_eq!(details["database"], "sales");
    assert!(details["backup_objects"]["orders"]["partitions"]["p2"].is_object());
    assert_eq!(d[0]["Status"].as_deref(), Some("OK"));
    // SNAPSHOT IN (...): only the snapshots the repository holds (Repository.getSnapshotInfos
    // filters its listing by the IN names; 'zz' gives no row)
    assert_eq!(
        rows(
            &mut c,
            "SHOW SNAPSHOT ON repo WHERE SNAPSHOT IN ('l1', 'zz')"
        )
        .len(),
        1
    );
}

#[test]
fn finished_jobs_expire_after_seven_days() {
    // STARROCKS.md §2: finished jobs disappear after history_job_keep_max_second (7 days)
    let sim = start_manual();
    demo(&sim);
    let mut c = conn(&sim);
    exec(&mut c, "BACKUP SNAPSHOT sales.l TO repo");
    sim.advance(secs(60));
    assert_eq!(rows(&mut c, "SHOW BACKUP FROM sales").len(), 1);
    sim.advance(secs(7 * 24 * 3600));
    assert_eq!(rows(&mut c, "SHOW BACKUP FROM sales").len(), 0);
}

#[test]
fn show_backup_without_from_lists_one_row_per_database() {
    // STARROCKS.md §2: without FROM (3.0+) one row per database
    let sim = start_manual();
    demo(&sim);
    sim.create_table(
        "other",
        "t",
        &starrocks_sim::TableSpec::new(&[("a", "INT")]),
    )
    .unwrap();
    let mut c = conn(&sim);
    exec(&mut c, "BACKUP SNAPSHOT sales.a TO repo");
    exec(&mut c, "BACKUP SNAPSHOT other.b TO repo");
    assert_eq!(rows(&mut c, "SHOW BACKUP").len(), 2);
}
