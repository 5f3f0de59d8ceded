//! The FE's partition scheduler over the wire: dynamic partitioning and partition TTL, carried by
//! BACKUP / RESTORE, and what a scheduler pass drops afterwards (clone/DynamicPartitionScheduler.java,
//! clone/PartitionTTLScheduler.java, backup/RestoreJob.java:1929-1939; docs/STARROCKS-NOTES.md).
mod common;
use common::*;
use mysql::Conn;
use starrocks_sim::{Sim, SimOptions};

/// Five daily partitions 2025-12-28 .. 2026-01-01 (the clock starts at 2026-01-01 00:00 UTC).
fn create_daily(c: &mut Conn, props: &str) {
    exec(c, "CREATE DATABASE IF NOT EXISTS sales");
    let parts: Vec<String> = (28..=32)
        .map(|d| {
            let (lo, hi) = (day(d), day(d + 1));
            format!(
                "PARTITION p{} VALUES [(\"{lo}\"), (\"{hi}\"))",
                lo.replace('-', "")
            )
        })
        .collect();
    exec(
        c,
        &format!(
            "CREATE TABLE sales.ev (id BIGINT, dt DATE) DUPLICATE KEY(id) PARTITION BY RANGE(dt) ({}) \
             DISTRIBUTED BY HASH(id) BUCKETS 1 PROPERTIES (\"replication_num\" = \"1\"{props})",
            parts.join(", ")
        ),
    );
}

/// Day `d` of December 2025 (32 = 2026-01-01, 33 = 2026-01-02).
fn day(d: u32) -> String {
    if d <= 31 {
        format!("2025-12-{d:02}")
    } else {
        format!("2026-01-{:02}", d - 31)
    }
}

const DYNAMIC: &str = r#", "dynamic_partition.enable" = "true", "dynamic_partition.time_unit" = "DAY", "dynamic_partition.start" = "-3", "dynamic_partition.end" = "1", "dynamic_partition.prefix" = "p""#;

fn partitions(sim: &Sim, t: &str) -> Vec<String> {
    let mut v: Vec<String> = sim
        .partitions("sales", t)
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    v.sort();
    v
}

fn properties(c: &mut Conn, t: &str) -> serde_json::Value {
    let p = one(
        c,
        &format!("SELECT PROPERTIES FROM information_schema.tables_config WHERE TABLE_SCHEMA = 'sales' AND TABLE_NAME = '{t}'"),
    )
    .unwrap();
    serde_json::from_str(&p).unwrap()
}

/// Backs sales.ev up, drops it, lets ten days pass and restores it (RESTORE creates it anew).
fn backup_drop_restore(sim: &Sim, c: &mut Conn) {
    sim.create_repository("repo", false).unwrap();
    exec(c, "BACKUP SNAPSHOT sales.l1 TO repo ON (ev)");
    sim.advance(secs(60));
    assert_eq!(state(c, "SHOW BACKUP FROM sales"), "FINISHED");
    let ts = rows(c, "SHOW SNAPSHOT ON repo WHERE SNAPSHOT = 'l1'")[0][1]
        .clone()
        .unwrap();
    exec(c, "DROP TABLE sales.ev FORCE");
    sim.advance(secs(10 * 86400));
    exec(
        c,
        &format!(
            r#"RESTORE SNAPSHOT sales.l1 FROM repo ON (ev) PROPERTIES ("backup_timestamp" = "{ts}", "replication_num" = "1")"#
        ),
    );
    sim.advance(secs(120));
    assert_eq!(state(c, "SHOW RESTORE FROM sales"), "FINISHED");
}

const RESTORED: [&str; 5] = [
    "p20251228",
    "p20251229",
    "p20251230",
    "p20251231",
    "p20260101",
];

#[test]
fn a_restored_dynamic_table_loses_its_old_partitions_on_the_next_scheduler_pass() {
    // RestoreJob.java:1929-1939 registers the restored table; getDropPartitionClause
    // (DynamicPartitionScheduler.java:288-336) drops every partition whose upper bound <= the start
    // of day now-3; getAddPartitionClause (:162-264) adds days 0..=end.
    let sim = start_manual();
    let mut c = conn(&sim);
    create_daily(&mut c, DYNAMIC);
    backup_drop_restore(&sim, &mut c);
    assert_eq!(partitions(&sim, "ev"), RESTORED);
    // the snapshot carried the properties onto the new table
    let props = properties(&mut c, "ev");
    assert_eq!(props["dynamic_partition.enable"], "true");
    assert_eq!(props["dynamic_partition.start"], "-3");
    assert_eq!(props["dynamic_partition.time_unit"], "DAY");
    let acts = sim.run_partition_scheduler();
    assert_eq!(acts.len(), 1, "{acts:?}");
    assert_eq!(acts[0].dropped, RESTORED);
    assert_eq!(acts[0].added, ["p20260111", "p20260112"]);
    assert_eq!(partitions(&sim, "ev"), ["p20260111", "p20260112"]);
}

#[test]
fn with_dynamic_partitioning_switched_off_the_restored_partitions_stay() {
    // DynamicPartitionScheduler.executeDynamicPartitionForTable (:380-385): a table whose
    // dynamic_partition.enable is false is removed from the schedule, nothing dropped or added
    let sim = start_manual();
    let mut c = conn(&sim);
    create_daily(&mut c, DYNAMIC);
    backup_drop_restore(&sim, &mut c);
    exec(
        &mut c,
        r#"ALTER TABLE sales.ev SET ("dynamic_partition.enable" = "false")"#,
    );
    assert_eq!(
        properties(&mut c, "ev")["dynamic_partition.enable"],
        "false"
    );
    assert!(sim.run_partition_scheduler().is_empty());
    assert_eq!(partitions(&sim, "ev"), RESTORED);
    // switched back on, the next pass drops them
    exec(
        &mut c,
        r#"ALTER TABLE sales.ev SET ("dynamic_partition.enable" = "true")"#,
    );
    assert_eq!(sim.run_partition_scheduler()[0].dropped, RESTORED);
}

#[test]
fn without_start_nothing_is_dropped() {
    // getDropPartitionClause: start == MIN_START_OFFSET (not set) drops nothing; PROPERTIES shows it
    let sim = start_manual();
    let mut c = conn(&sim);
    create_daily(
        &mut c,
        r#", "dynamic_partition.time_unit" = "DAY", "dynamic_partition.end" = "1""#,
    );
    assert_eq!(
        properties(&mut c, "ev")["dynamic_partition.start"],
        "-2147483648"
    );
    sim.advance(secs(10 * 86400));
    let acts = sim.run_partition_scheduler();
    assert!(acts[0].dropped.is_empty(), "{acts:?}");
}

#[test]
fn dynamic_properties_are_checked_as_the_fe_checks_them() {
    // DynamicPartitionUtil.java:110-133 (ErrorCode 5066), :234, :241
    let sim = start_manual();
    let mut c = conn(&sim);
    exec(&mut c, "CREATE DATABASE sales");
    let create = |props: &str| {
        format!("CREATE TABLE sales.x (id BIGINT, dt DATE) PARTITION BY RANGE(dt) (PARTITION p1 VALUES LESS THAN (\"2026-01-01\")) DISTRIBUTED BY HASH(id) BUCKETS 1 PROPERTIES (\"replication_num\" = \"1\", {props})")
    };
    assert_eq!(
        fail(
            &mut c,
            &create(
                r#""dynamic_partition.time_unit" = "DAY", "dynamic_partition.start" = "1", "dynamic_partition.end" = "1""#
            )
        ),
        (5066, "Dynamic partition start must less than 0".into())
    );
    assert_eq!(
        fail(&mut c, &create(r#""dynamic_partition.end" = "1""#)).1,
        "Must assign dynamic_partition.time_unit properties"
    );
    assert_eq!(
        fail(
            &mut c,
            r#"CREATE TABLE sales.u (id BIGINT) DISTRIBUTED BY HASH(id) BUCKETS 1 PROPERTIES ("replication_num" = "1", "dynamic_partition.time_unit" = "DAY", "dynamic_partition.end" = "1")"#
        )
        .1,
        "Dynamic partition only support single-column range partition"
    );
}

fn on_release(release: &str) -> Sim {
    start_with(SimOptions {
        release: release.into(),
        tick_per_statement: std::time::Duration::ZERO,
        ..SimOptions::default()
    })
}

#[test]
fn partition_live_number_keeps_the_newest_n_and_minus_one_switches_it_off() {
    // PartitionTTLScheduler.buildDropPartitionClauseByTTLNumber (:303-353): partitions whose lower
    // bound is not in the future, sorted by upper bound, all but the newest N dropped;
    // PropertyAnalyzer.analyzePartitionLiveNumber (:465-480): -1 (INVALID) is accepted and means off,
    // LocalMetastore.alterPartitionLiveNumber then removes the table from the TTL schedule.
    let sim = on_release("3.3.5");
    let mut c = conn(&sim);
    create_daily(&mut c, r#", "partition_live_number" = "2""#);
    assert_eq!(properties(&mut c, "ev")["partition_live_number"], "2");
    backup_drop_restore(&sim, &mut c);
    assert_eq!(properties(&mut c, "ev")["partition_live_number"], "2");
    exec(
        &mut c,
        r#"ALTER TABLE sales.ev SET ("partition_live_number" = "-1")"#,
    );
    assert!(sim.run_partition_scheduler().is_empty());
    assert_eq!(partitions(&sim, "ev"), RESTORED);
    assert_eq!(
        fail(
            &mut c,
            r#"ALTER TABLE sales.ev SET ("partition_live_number" = "0")"#
        )
        .1,
        "Illegal Partition Live Number: 0"
    );
    exec(
        &mut c,
        r#"ALTER TABLE sales.ev SET ("partition_live_number" = "2")"#,
    );
    assert_eq!(
        sim.run_partition_scheduler()[0].dropped,
        ["p20251228", "p20251229", "p20251230"]
    );
}

#[test]
fn partition_ttl_drops_older_than_the_duration_from_3_4() {
    // partition_ttl on base tables from 3.4 (#51297); before, the key is not analysed:
    // `Unknown properties` (OlapTableFactory.java:820). buildDropPartitionClauseByTTLDuration
    // (PartitionTTLScheduler.java:255-291): upper bound <= now - ttl. "0 day" is zero: off.
    let sim = on_release("3.3.5");
    let mut c = conn(&sim);
    exec(&mut c, "CREATE DATABASE sales");
    let (_, msg) = fail(
        &mut c,
        r#"CREATE TABLE sales.x (id BIGINT, dt DATE) PARTITION BY RANGE(dt) (PARTITION p1 VALUES LESS THAN ("2026-01-01")) DISTRIBUTED BY HASH(id) BUCKETS 1 PROPERTIES ("replication_num" = "1", "partition_ttl" = "3 day")"#,
    );
    assert!(msg.starts_with("Unknown properties"), "{msg}");

    let sim = on_release("3.4.0");
    let mut c = conn(&sim);
    create_daily(&mut c, r#", "partition_ttl" = "3 day""#);
    backup_drop_restore(&sim, &mut c);
    assert_eq!(properties(&mut c, "ev")["partition_ttl"], "3 day");
    exec(
        &mut c,
        r#"ALTER TABLE sales.ev SET ("partition_ttl" = "0 day")"#,
    );
    assert!(sim.run_partition_scheduler().is_empty());
    exec(
        &mut c,
        r#"ALTER TABLE sales.ev SET ("partition_ttl" = "3 day")"#,
    );
    assert_eq!(sim.run_partition_scheduler()[0].dropped, RESTORED);
}

#[test]
fn show_create_table_shows_the_scheduler_properties() {
    // OlapTable.getProperties (OlapTable.java:2948-2951) feeds SHOW CREATE TABLE's PROPERTIES too
    let sim = start_manual();
    let mut c = conn(&sim);
    create_daily(&mut c, DYNAMIC);
    let ddl = rows(&mut c, "SHOW CREATE TABLE sales.ev")[0][1]
        .clone()
        .unwrap();
    assert!(
        ddl.contains("\"dynamic_partition.start\" = \"-3\""),
        "{ddl}"
    );
    assert!(
        ddl.contains("\"dynamic_partition.enable\" = \"true\""),
        "{ddl}"
    );
}
