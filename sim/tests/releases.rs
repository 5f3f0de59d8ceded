//! The release knob: each release-dependent behaviour, over the wire. Facts and their FE source
//! lines are in docs/STARROCKS-NOTES.md.

mod common;

use common::*;
use mysql::prelude::Queryable;
use starrocks_sim::{PartitionSpec, Sim, SimOptions, TableSpec};

/// db `d` with a LIST table `l` (p_bj: 'bj', p_sh: 'sh'), an automatic-list table `a` and a range
/// table `r`, plus repository `repo`.
fn list_tables(sim: &Sim) {
    sim.create_repository("repo", false).unwrap();
    let cols = [("id", "BIGINT"), ("city", "VARCHAR(16)")];
    sim.create_table(
        "d",
        "l",
        &TableSpec::new(&cols).list(
            "city",
            vec![
                PartitionSpec::list("p_bj", &["bj"]),
                PartitionSpec::list("p_sh", &["sh"]),
            ],
        ),
    )
    .unwrap();
    sim.create_table("d", "a", &TableSpec::new(&cols).auto_list("city"))
        .unwrap();
    sim.create_table(
        "d",
        "r",
        &TableSpec::new(&[("id", "BIGINT"), ("dt", "DATE")])
            .range("dt", vec![PartitionSpec::less_than("p1", "2024-02-01")]),
    )
    .unwrap();
}

#[test]
fn handshake_current_version_errnos_and_partitions_meta_follow_the_release() {
    // STARROCKS.md §5 (handshake), §3 (errnos, ErrorCode.java), §6 (partitions_meta backports),
    // PartitionsMetaSystemTable.java; (release, handshake, new errnos, partitions_meta, prepare)
    let cases = [
        ("2.5.22", (5, 1, 0), false, false, false),
        ("3.0.9", (5, 1, 0), false, false, false),
        ("3.1.8", (5, 1, 0), false, false, false),
        ("3.1.9", (5, 1, 0), false, true, false),
        ("3.2.3", (5, 1, 0), false, false, true),
        ("3.2.4", (5, 1, 0), false, true, true),
        ("3.3.5", (5, 1, 0), true, true, true),
        ("3.4.0", (8, 0, 33), true, true, true),
        ("3.5.2", (8, 0, 33), true, true, true),
        ("4.1.0", (8, 0, 33), true, true, true),
    ];
    for (release, handshake, new_errnos, pm, prepare) in cases {
        let sim = at(release);
        let mut c = conn(&sim);
        assert_eq!(c.server_version(), handshake, "{release}");
        assert_eq!(
            one(&mut c, "SELECT current_version()"),
            Some(format!("{release}-sim")),
            "{release}"
        );
        let (code, _) = fail(&mut c, "USE nope");
        assert_eq!(code, if new_errnos { 5501 } else { 1049 }, "{release}");
        let r = c.query_drop("SELECT * FROM information_schema.partitions_meta");
        assert_eq!(r.is_ok(), pm, "{release}: {r:?}");
        if !pm {
            let (code, msg) = fail(&mut c, "SELECT * FROM information_schema.partitions_meta");
            assert_eq!(code, if new_errnos { 5502 } else { 1051 });
            assert!(msg.contains("Unknown table 'information_schema.partitions_meta'"));
        }
        assert_eq!(c.prep("SELECT 1").is_ok(), prepare, "{release}");
    }
}

#[test]
fn default_release_is_3_1_9_and_set_release_switches() {
    let sim = start();
    assert_eq!(sim.release().to_string(), "3.1.9");
    sim.set_release("4.1.0").unwrap();
    assert!(sim.set_release("four").is_err());
    let mut c = conn(&sim);
    assert_eq!(c.server_version(), (8, 0, 33));
    assert_eq!(
        one(&mut c, "SELECT current_version()"),
        Some("4.1.0-sim".into())
    );
}

#[test]
fn run_mode_in_frontend_config() {
    // ConfigBase.getConfigInfo (common/ConfigBase.java:502) and ShowResultMetaFactory.java:790
    let sim = start();
    let mut c = conn(&sim);
    let sql = "ADMIN SHOW FRONTEND CONFIG LIKE 'run_mode'";
    assert_eq!(
        columns(&mut c, sql),
        ["Key", "AliasNames", "Value", "Type", "IsMutable", "Comment"]
    );
    let r = rows(&mut c, sql);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0][0].as_deref(), Some("run_mode"));
    assert_eq!(r[0][2].as_deref(), Some("shared_nothing"));
    let sim = start_with(SimOptions {
        shared_data: true,
        ..SimOptions::default()
    });
    let mut c = conn(&sim);
    assert_eq!(rows(&mut c, sql)[0][2].as_deref(), Some("shared_data"));
}

#[test]
fn list_tables_backup_refused_on_3_1_to_3_3() {
    // BackupRestoreAnalyzer.java (#27551 e75637d9e7, removed by #51993 d62055ed7f): every
    // LIST-partitioned table ref, explicit or implied by a missing ON list, errno 1064
    let text = "Getting analyzing error. Detail message: List partition table does not support backup/restore job.";
    for (release, refused) in [
        ("3.0.9", false),
        ("3.1.9", true),
        ("3.3.5", true),
        ("3.4.0", false),
        ("4.1.0", false),
    ] {
        let sim = at(release);
        if !release.starts_with("3.0") {
            list_tables(&sim);
        } else {
            sim.create_repository("repo", false).unwrap();
            sim.create_table("d", "r", &TableSpec::new(&[("id", "BIGINT")]))
                .unwrap();
        }
        let mut c = conn(&sim);
        for sql in [
            "BACKUP SNAPSHOT d.s1 TO repo ON (l)",
            "BACKUP SNAPSHOT d.s2 TO repo ON (r, a)",
            "BACKUP SNAPSHOT d.s3 TO repo",
        ] {
            if release.starts_with("3.0") {
                continue;
            }
            if refused {
                assert_eq!(
                    fail(&mut c, sql),
                    (1064, text.to_string()),
                    "{release} {sql}"
                );
            } else {
                let r = run_job(&sim, &mut c, sql, "SHOW BACKUP FROM d");
                assert_eq!(r["State"].as_deref(), Some("FINISHED"), "{release} {sql}");
            }
        }
        // the rest of the database still backs up when the LIST tables are left out
        let r = run_job(
            &sim,
            &mut c,
            "BACKUP SNAPSHOT d.s4 TO repo ON (r)",
            "SHOW BACKUP FROM d",
        );
        assert_eq!(r["State"].as_deref(), Some("FINISHED"), "{release}");
    }
}

#[test]
fn automatic_list_partitions_appear_per_value_and_restore_cannot_add_one() {
    // RestoreJob.java:740-766: only RANGE tables may gain partitions in a RESTORE onto an existing
    // table; LIST (and automatic) ones are cancelled with this text. Existing ones are overwritten.
    let sim = at("3.4.0");
    list_tables(&sim);
    let mut c = conn(&sim);
    exec(&mut c, "INSERT INTO d.a VALUES (1, 'bj'), (2, 'sh')");
    let names: Vec<Option<String>> = rows(&mut c, "SELECT PARTITION_NAME FROM information_schema.partitions_meta WHERE TABLE_NAME = 'a' ORDER BY PARTITION_NAME")
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    assert_eq!(names, [Some("pbj".into()), Some("psh".into())]);
    // ListPartitionInfo.getValuesFormat (catalog/ListPartitionInfo.java:509) through
    // PartitionsProcDir.findRangeOrListValues: GSON; SHOW PARTITIONS calls the column `List`
    assert_eq!(
        one(&mut c, "SELECT PARTITION_VALUE FROM information_schema.partitions_meta WHERE TABLE_NAME = 'a' AND PARTITION_NAME = 'pbj'"),
        Some("[[\"bj\"]]".into())
    );
    assert!(columns(&mut c, "SHOW PARTITIONS FROM d.a").contains(&"List".to_string()));
    let ts = backed_up(&sim, &mut c, "a, l", "s1");
    // a new partition after the snapshot: restoring the snapshot's partitions overwrites fine
    exec(&mut c, "INSERT INTO d.a VALUES (3, 'gz')");
    let restore = |on: &str| {
        format!(
            r#"RESTORE SNAPSHOT d.s1 FROM repo ON ({on}) PROPERTIES ("backup_timestamp" = "{ts}", "replication_num" = "1")"#
        )
    };
    let r = run_job(
        &sim,
        &mut c,
        &restore("a PARTITION (pbj)"),
        "SHOW RESTORE FROM d",
    );
    assert_eq!(r["State"].as_deref(), Some("FINISHED"), "{r:?}");
    // a partition missing locally cannot be added to a LIST table
    exec(&mut c, "ALTER TABLE d.l DROP PARTITION p_sh");
    let r = run_job(&sim, &mut c, &restore("l"), "SHOW RESTORE FROM d");
    assert_eq!(r["State"].as_deref(), Some("CANCELLED"));
    assert_eq!(
        r["Status"].as_deref(),
        Some("[COMMON_ERROR, msg: No partition exist in single partitioned table l]")
    );
    // into a new table it works (3.4+)
    let r = run_job(
        &sim,
        &mut c,
        &format!(
            r#"RESTORE SNAPSHOT d.s1 FROM repo ON (l AS l2) PROPERTIES ("backup_timestamp" = "{ts}", "replication_num" = "1")"#
        ),
        "SHOW RESTORE FROM d",
    );
    assert_eq!(r["State"].as_deref(), Some("FINISHED"), "{r:?}");
    assert_eq!(sim.partitions("d", "l2").unwrap().len(), 2);
}

#[test]
fn release_4_1_shows_job_times_in_fixed_plus_8() {
    // TimeUtils.java:70 on branch-4.1 (TIME_ZONE = ZoneOffset.ofTotalSeconds(8 * 3600)), used by
    // BackupJob.getInfo (BackupJob.java:904-905) and RestoreJob; NOW() stays in the session zone
    for (release, expect) in [
        ("4.0.1", "2026-01-01 00:00:00"),
        ("4.1.0", "2026-01-01 08:00:00"),
    ] {
        let sim = at(release);
        list_tables(&sim);
        let mut c = conn(&sim);
        exec(&mut c, "SET time_zone = '+00:00'");
        assert_eq!(
            one(&mut c, "SELECT NOW()"),
            Some("2026-01-01 00:00:00".into())
        );
        let r = run_job(
            &sim,
            &mut c,
            "BACKUP SNAPSHOT d.s1 TO repo ON (r)",
            "SHOW BACKUP FROM d",
        );
        assert_eq!(r["CreateTime"].as_deref(), Some(expect), "{release}");
        let parts = show_map(&mut c, "SHOW PARTITIONS FROM d.r");
        assert_eq!(
            parts[0]["VisibleVersionTime"].as_deref(),
            Some(expect),
            "{release}"
        );
        let be = show_map(&mut c, "SHOW BACKENDS");
        assert_eq!(be[0]["LastStartTime"].as_deref(), Some(expect), "{release}");
        let vt: Option<String> = one(&mut c, "SELECT VISIBLE_VERSION_TIME FROM information_schema.partitions_meta WHERE TABLE_NAME = 'r'");
        assert_eq!(
            vt.as_deref(),
            Some("2026-01-01 00:00:00"),
            "partitions_meta follows the session zone"
        );
    }
}

#[test]
fn show_snapshot_invalid_entries_and_transient_listing_errors() {
    // Repository.getSnapshotInfo (backup/Repository.java:612-640)
    let sim = at("3.3.5");
    list_tables(&sim);
    let mut c = conn(&sim);
    let ts = backed_up(&sim, &mut c, "r", "s1");
    sim.add_stray_info_file("repo", "s1", "__info_2026-01-01-00-00-00.part", true);
    sim.add_stray_info_file("repo", "s1", "__info_junk", false);
    let r = rows(&mut c, "SHOW SNAPSHOT ON repo WHERE SNAPSHOT = 's1'");
    assert_eq!(
        r[0][1].as_deref(),
        Some(
            format!("Invalid: __info_2026-01-01-00-00-00.part\n{ts}\nInvalid: __info_junk")
                .as_str()
        )
    );
    assert_eq!(r[0][2].as_deref(), Some("OK"));
    sim.fail_snapshot_listing(1);
    let r = rows(&mut c, "SHOW SNAPSHOT ON repo WHERE SNAPSHOT = 's1'");
    assert_eq!(r[0][1], None);
    assert!(r[0][2]
        .as_deref()
        .unwrap()
        .starts_with("ERROR: Failed to get info: "));
    let r = rows(&mut c, "SHOW SNAPSHOT ON repo WHERE SNAPSHOT = 's1'");
    assert_eq!(
        r[0][2].as_deref(),
        Some("OK"),
        "transient: the next listing works"
    );
}

#[test]
fn several_physical_partitions_per_partition_name() {
    // #27522: partitions_meta / SHOW PARTITIONS give one row per PHYSICAL partition; a load bumps
    // only the one it wrote; RestoreJob.java:700-705 refuses to overwrite an existing partition
    // whose snapshot copy has several (3.2+)
    let sim = at("3.3.5");
    list_tables(&sim);
    let mut c = conn(&sim);
    assert_eq!(sim.add_physical_partition("d", "r", "p1").unwrap(), 1);
    sim.load_physical("d", "r", "p1", 1, 10).unwrap();
    let sql = "SELECT PARTITION_NAME, PARTITION_ID, VISIBLE_VERSION FROM information_schema.partitions_meta WHERE TABLE_NAME = 'r' ORDER BY PARTITION_ID";
    let r = rows(&mut c, sql);
    assert_eq!(r.len(), 2);
    assert_eq!(r[0][0], r[1][0]);
    assert_ne!(r[0][1], r[1][1]);
    assert_eq!(
        (r[0][2].as_deref(), r[1][2].as_deref()),
        (Some("1"), Some("2"))
    );
    assert_eq!(show_map(&mut c, "SHOW PARTITIONS FROM d.r").len(), 2);
    sim.load("d", "r", "p1", 1).unwrap();
    let r = rows(&mut c, sql);
    assert_eq!(
        (r[0][2].as_deref(), r[1][2].as_deref()),
        (Some("2"), Some("2"))
    );
    let ts = backed_up(&sim, &mut c, "r", "s1");
    let r = run_job(
        &sim,
        &mut c,
        &restore_sql("s1", "r", &ts),
        "SHOW RESTORE FROM d",
    );
    assert_eq!(
        r["Status"].as_deref(),
        Some("[COMMON_ERROR, msg: Partition p1 in table r is automatic bucket partition, can not be restored]")
    );
}

#[test]
fn restore_onto_existing_table_compares_default_comment_rollups_and_bloom_filters() {
    // RestoreJob.java (OlapTable.getSignature, Column.equals): DEFAULT, COMMENT, index names and
    // bloom-filter columns all count; the ALTERs below move no partition id or version
    let sim = at("3.3.5");
    list_tables(&sim);
    let mut c = conn(&sim);
    let ts = backed_up(&sim, &mut c, "r", "s1");
    let restore = restore_sql("s1", "r", &ts);
    // an extra bloom-filter column or index adds signature items, so errMsg is empty
    // (RestoreJob.java:654-666); a column difference is named by the Column.equals loop (:680-694)
    let cancelled =
        "[COMMON_ERROR, msg: Table r already exist but with different schema, errMsg: ]";
    let column = "[COMMON_ERROR, msg: Table r already exist but with different schema, column: id in existed table is different from the column in backup snapshot, column: id]";
    let alters = [
        (
            "ALTER TABLE d.r MODIFY COLUMN id COMMENT 'the id'",
            "ALTER TABLE d.r MODIFY COLUMN id COMMENT ''",
            column,
        ),
        (
            "ALTER TABLE d.r MODIFY COLUMN id BIGINT DEFAULT '7'",
            "ALTER TABLE d.r MODIFY COLUMN id BIGINT DEFAULT NULL",
            column,
        ),
        (
            r#"ALTER TABLE d.r SET ("bloom_filter_columns" = "id")"#,
            r#"ALTER TABLE d.r SET ("bloom_filter_columns" = "")"#,
            cancelled,
        ),
    ];
    for (change, undo, cancelled) in alters {
        let before = sim.partitions("d", "r").unwrap();
        exec(&mut c, change);
        assert_eq!(
            sim.partitions("d", "r").unwrap(),
            before,
            "{change} moved versions"
        );
        let r = run_job(&sim, &mut c, &restore, "SHOW RESTORE FROM d");
        assert_eq!(r["Status"].as_deref(), Some(cancelled), "{change}");
        exec(&mut c, undo);
        let r = run_job(&sim, &mut c, &restore, "SHOW RESTORE FROM d");
        assert_eq!(r["State"].as_deref(), Some("FINISHED"), "{undo}: {r:?}");
    }
    exec(&mut c, "ALTER TABLE d.r ADD ROLLUP r1 (id)");
    let r = run_job(&sim, &mut c, &restore, "SHOW RESTORE FROM d");
    assert_eq!(r["Status"].as_deref(), Some(cancelled));
    // set-based sources: information_schema.columns and tables_config
    exec(&mut c, "ALTER TABLE d.r MODIFY COLUMN dt COMMENT 'day'");
    exec(
        &mut c,
        r#"ALTER TABLE d.r SET ("bloom_filter_columns" = "id, dt")"#,
    );
    assert_eq!(
        rows(&mut c, "SELECT COLUMN_COMMENT, COLUMN_DEFAULT FROM information_schema.columns WHERE TABLE_NAME = 'r' AND COLUMN_NAME = 'dt'"),
        vec![vec![Some("day".to_string()), None]]
    );
    let props = one(&mut c, "SELECT PROPERTIES FROM information_schema.tables_config WHERE TABLE_SCHEMA = 'd' AND TABLE_NAME = 'r'").unwrap();
    let props: serde_json::Value = serde_json::from_str(&props).unwrap();
    assert_eq!(props["bloom_filter_columns"], "id, dt");
    // ShowMaterializedViewStatus.java:364-368 / 792: a rollup is a materialized_views row
    assert_eq!(
        rows(&mut c, "SELECT TABLE_NAME, REFRESH_TYPE, MATERIALIZED_VIEW_DEFINITION FROM information_schema.materialized_views WHERE TABLE_SCHEMA = 'd'"),
        vec![vec![
            Some("r1".to_string()),
            Some("ROLLUP".to_string()),
            Some("create materialized view r1 as select id from r group by id".to_string())
        ]]
    );
}

#[test]
fn strings_longer_than_their_column_fail_the_whole_insert_in_strict_mode() {
    // StmtExecutor.java:3438-3441 (3.4+, #49978 dbd37ef118) and its text before; errno 1064
    // (MysqlErrPacket's default); STRING is VARCHAR(65533), limits in bytes; nothing is loaded
    for (release, prefix) in [
        (
            "3.3.5",
            "Insert has filtered data in strict mode, txn_id = ",
        ),
        ("3.4.0", "Insert has filtered data, txn_id = "),
    ] {
        let sim = at(release);
        sim.create_table(
            "d",
            "s",
            &TableSpec::new(&[("id", "BIGINT"), ("v", "STRING"), ("w", "VARCHAR(4)")]),
        )
        .unwrap();
        let mut c = conn(&sim);
        let before = sim.partitions("d", "s").unwrap();
        let big = "x".repeat(65_534);
        for sql in [
            format!("INSERT INTO d.s VALUES (1, 'ok', 'abcd'), (2, '{big}', 'a')"),
            "INSERT INTO d.s VALUES (1, 'ok', 'ééé')".to_string(),
        ] {
            let (code, msg) = fail(&mut c, &sql);
            assert_eq!(code, 1064, "{release}");
            assert!(msg.starts_with(prefix), "{release}: {msg}");
            assert!(msg.contains("tracking sql = select tracking_log from information_schema.load_tracking_logs where job_id="), "{msg}");
        }
        assert_eq!(
            sim.partitions("d", "s").unwrap(),
            before,
            "{release}: nothing loaded"
        );
        assert_eq!(one(&mut c, "SELECT COUNT(*) FROM d.s"), Some("0".into()));
        let fits = "y".repeat(65_533);
        exec(
            &mut c,
            &format!("INSERT INTO d.s VALUES (3, '{fits}', 'abcd')"),
        );
        assert_eq!(one(&mut c, "SELECT COUNT(*) FROM d.s"), Some("1".into()));
    }
}

#[test]
fn insert_overwrite_holds_temporary_partitions_then_replaces_the_partition() {
    // InsertOverwriteJobRunner.java:110/416: temporary partitions `<p>_<jobId>` exist while it
    // loads; BackupHandler.java:421 refuses the table meanwhile; afterwards the partition has a
    // NEW id (STARROCKS.md §4) and only the new rows
    let sim = at("3.3.5");
    list_tables(&sim);
    let mut c = conn(&sim);
    exec(
        &mut c,
        "INSERT INTO d.r VALUES (1, '2024-01-05'), (2, '2024-01-06')",
    );
    let old = sim.partitions("d", "r").unwrap()[0].clone();
    let job = sim.begin_insert_overwrite("d", "r", &["p1"]).unwrap();
    let temp: Vec<Vec<Option<String>>> = rows(&mut c, "SELECT PARTITION_NAME, IS_TEMP FROM information_schema.partitions_meta WHERE TABLE_NAME = 'r' ORDER BY PARTITION_NAME");
    assert_eq!(temp.len(), 2);
    assert_eq!(temp[1][0], Some(format!("p1_{job}")));
    assert_eq!(
        fail(&mut c, "BACKUP SNAPSHOT d.s1 TO repo ON (r)"),
        (
            5064,
            "Do not support backing up table with temp partitions".to_string()
        )
    );
    sim.finish_insert_overwrite("d", "r", job, 1).unwrap();
    let new = sim.partitions("d", "r").unwrap();
    assert_eq!(new.len(), 1);
    assert_ne!(new[0].id, old.id);
    assert_eq!(new[0].visible_version, 2);
    let r = run_job(
        &sim,
        &mut c,
        "BACKUP SNAPSHOT d.s2 TO repo ON (r)",
        "SHOW BACKUP FROM d",
    );
    assert_eq!(r["State"].as_deref(), Some("FINISHED"));
    // the SQL form: the target partition's rows are replaced, its id is new
    let before = sim.partitions("d", "r").unwrap()[0].id;
    exec(
        &mut c,
        "INSERT OVERWRITE d.r PARTITION (p1) VALUES (9, '2024-01-09')",
    );
    assert_eq!(
        one(&mut c, "SELECT GROUP_CONCAT(id) FROM d.r"),
        Some("9".into())
    );
    let p = sim.partitions("d", "r").unwrap()[0].clone();
    assert_ne!(p.id, before);
    assert_eq!(p.visible_version, 2);
}

#[test]
fn insert_overwrite_of_an_unpartitioned_table_holds_a_temporary_partition_too() {
    // InsertOverwriteJobRunner.java:398-417 creates temporary partitions from the source
    // partition ids whatever the partitioning (PartitionUtils.createAndAddTempPartitionsForTable):
    // SHOW TEMPORARY PARTITIONS lists it (ShowStmtAnalyzer.java:640-658: no partitioning check),
    // BackupHandler.java:421 refuses the table meanwhile
    for release in ["2.5.22", "3.3.5"] {
        let sim = at(release);
        list_tables(&sim);
        sim.create_table("d", "u", &TableSpec::new(&[("id", "BIGINT")]))
            .unwrap();
        let mut c = conn(&sim);
        let job = sim.begin_insert_overwrite("d", "u", &["u"]).unwrap();
        let temp = rows(&mut c, "SHOW TEMPORARY PARTITIONS FROM d.u");
        assert_eq!(temp.len(), 1, "{release}");
        assert_eq!(temp[0][1], Some(format!("u_{job}")), "{release}");
        assert_eq!(
            fail(&mut c, "BACKUP SNAPSHOT d.s1 TO repo ON (u)"),
            (
                5064,
                "Do not support backing up table with temp partitions".to_string()
            ),
            "{release}"
        );
        let old = sim.partitions("d", "u").unwrap()[0].id;
        sim.finish_insert_overwrite("d", "u", job, 1).unwrap();
        assert!(rows(&mut c, "SHOW TEMPORARY PARTITIONS FROM d.u").is_empty());
        let now = sim.partitions("d", "u").unwrap();
        assert_eq!(now.len(), 1, "{release}");
        assert_ne!(now[0].id, old, "{release}");
    }
}
