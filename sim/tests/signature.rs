//! RESTORE onto an EXISTING table: what it compares and in which order, each rule over the wire.
//! Source: `fe/fe-core/src/main/java/com/starrocks/backup/RestoreJob.java` (upstream main)
//! :638-692 (the checks), :2221 `getSignature`, :2301 `getSignatureSequence` (the errMsg), :2377
//! `getIntersectPartNamesWith`; `catalog/Column.java:901-946` (Column.equals). Facts in
//! docs/STARROCKS-NOTES.md "What RESTORE compares on an existing table".

mod common;

use common::*;
use mysql::Conn;
use starrocks_sim::Sim;

/// Backs `d.<table>` up as snapshot `label` and returns the RESTORE statement of it.
fn backup(sim: &Sim, c: &mut Conn, table: &str, label: &str) -> String {
    let ts = backed_up(sim, c, table, label);
    restore_sql(label, table, &ts)
}

/// The Status of the RESTORE (empty when it FINISHED).
fn restore(sim: &Sim, c: &mut Conn, sql: &str) -> String {
    let r = run_job(sim, c, sql, "SHOW RESTORE FROM d");
    match r["State"].as_deref() {
        Some("FINISHED") => String::new(),
        _ => r["Status"].clone().unwrap_or_default(),
    }
}

fn setup(release: &str) -> (Sim, Conn) {
    let sim = at(release);
    sim.create_repository("repo", false).unwrap();
    sim.create_database("d").unwrap();
    let c = conn(&sim);
    (sim, c)
}

const PROPS: &str = r#"PROPERTIES ("replication_num" = "1")"#;

#[test]
fn partition_type_then_key_type_then_each_column() {
    let (sim, mut c) = setup("3.3.5");
    exec(&mut c, &format!("CREATE TABLE d.t (k BIGINT, v BIGINT SUM) AGGREGATE KEY(k) DISTRIBUTED BY HASH(k) BUCKETS 1 {PROPS}"));
    let sql = backup(&sim, &mut c, "t", "s1");
    let cases = [
        // getIntersectPartNamesWith (:2377-2380) runs first: the partition type
        (
            format!("CREATE TABLE d.t (k BIGINT, v BIGINT SUM) AGGREGATE KEY(k) PARTITION BY RANGE(k) (PARTITION p1 VALUES LESS THAN (\"10\")) DISTRIBUTED BY HASH(k) BUCKETS 1 {PROPS}"),
            "[COMMON_ERROR, msg: Table's partition type is different]".to_string(),
        ),
        // the key type is not in the signature: its own message (:673-678)
        (
            format!("CREATE TABLE d.t (k BIGINT, v BIGINT) DUPLICATE KEY(k) DISTRIBUTED BY HASH(k) BUCKETS 1 {PROPS}"),
            "[COMMON_ERROR, msg: Table t already exist but with different key type]".to_string(),
        ),
        // Column.equals compares the aggregation type (Column.java:917)
        (
            format!("CREATE TABLE d.t (k BIGINT, v BIGINT MAX) AGGREGATE KEY(k) DISTRIBUTED BY HASH(k) BUCKETS 1 {PROPS}"),
            "[COMMON_ERROR, msg: Table t already exist but with different schema, column: v in existed table is different from the column in backup snapshot, column: v]".to_string(),
        ),
        // and the name, case-insensitively (Column.java:911): `K` is the same column
        (
            format!("CREATE TABLE d.t (K BIGINT, v BIGINT SUM) AGGREGATE KEY(K) DISTRIBUTED BY HASH(K) BUCKETS 1 {PROPS}"),
            String::new(),
        ),
        // one more column: the base-schema size check (:648), errMsg from equal-length items: none
        (
            format!("CREATE TABLE d.t (k BIGINT, v BIGINT SUM, w BIGINT SUM) AGGREGATE KEY(k) DISTRIBUTED BY HASH(k) BUCKETS 1 {PROPS}"),
            "[COMMON_ERROR, msg: Table t already exist but with different schema, errMsg: ]".to_string(),
        ),
    ];
    for (ddl, want) in cases {
        exec(&mut c, "DROP TABLE d.t");
        exec(&mut c, &ddl);
        assert_eq!(restore(&sim, &mut c, &sql), want, "{ddl}");
    }
}

#[test]
fn rollups_are_compared_by_name_and_short_key_count_not_by_columns() {
    // getSignature with isRestore = true (:2238-2252): per index its NAME, short-key column count
    // and storage type; the schema hash (so the rollup's columns) is skipped since #21621 (2023-04,
    // backported to 2.5 / 3.0)
    let (sim, mut c) = setup("3.3.5");
    exec(&mut c, &format!("CREATE TABLE d.t (id BIGINT, v BIGINT, dt DATE) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id) BUCKETS 1 {PROPS}"));
    exec(&mut c, "ALTER TABLE d.t ADD ROLLUP r1 (id, v)");
    let sql = backup(&sim, &mut c, "t", "s1");
    let short_key =
        "[COMMON_ERROR, msg: Table t already exist but with different schema, errMsg: short key column count is inconsistent]";
    let cases = [
        // the same name over other columns with the same short-key count (2): accepted
        ("ALTER TABLE d.t ADD ROLLUP r1 (v, id)", ""),
        // three leading columns: short key 3 (GlobalStateMgr.calcShortKeyColumnCount)
        ("ALTER TABLE d.t ADD ROLLUP r1 (id, v, dt)", short_key),
        // another name: indexName item
        (
            "ALTER TABLE d.t ADD ROLLUP r2 (id, v)",
            "[COMMON_ERROR, msg: Table t already exist but with different schema, errMsg: indexName is inconsistent]",
        ),
    ];
    let drop_rollups = |c: &mut Conn| {
        for r in ["r1", "r2", "r3"] {
            let _ = mysql::prelude::Queryable::query_drop(
                c,
                format!("ALTER TABLE d.t DROP ROLLUP {r}"),
            );
        }
    };
    for (add, want) in cases {
        drop_rollups(&mut c);
        exec(&mut c, add);
        let before = sim.partitions("d", "t").unwrap();
        assert_eq!(restore(&sim, &mut c, &sql), want, "{add}");
        if !want.is_empty() {
            // a cancelled job leaves the table as it was
            assert_eq!(sim.partitions("d", "t").unwrap(), before, "{add}");
        }
    }
    // an index more: the item lists differ in length, so errMsg is empty (:654-666)
    drop_rollups(&mut c);
    exec(&mut c, "ALTER TABLE d.t ADD ROLLUP r1 (id, v)");
    exec(&mut c, "ALTER TABLE d.t ADD ROLLUP r3 (id)");
    assert_eq!(
        restore(&sim, &mut c, &sql),
        "[COMMON_ERROR, msg: Table t already exist but with different schema, errMsg: ]"
    );
}

#[test]
fn bucket_counts_are_compared_on_the_partitions_both_sides_have() {
    // getSignature (:2271-2290): per partition in the intersection, distribution type, columns
    // and bucket count. 4.1 (#63795): `DISTRIBUTED BY HASH(k) DEFAULT BUCKETS n` changes only the
    // default (AlterJobExecutor.java:211-229); INSERT OVERWRITE builds its partitions from the
    // table's default (LocalMetastore.java:5530), TRUNCATE keeps the partition's own (:4937)
    let (sim, mut c) = setup("4.1.0");
    exec(&mut c, &format!("CREATE TABLE d.t (id BIGINT, dt DATE) DUPLICATE KEY(id) PARTITION BY RANGE(dt) (PARTITION p1 VALUES LESS THAN (\"2024-02-01\")) DISTRIBUTED BY HASH(id) BUCKETS 1 {PROPS}"));
    sim.load("d", "t", "p1", 5).unwrap();
    let s1 = backup(&sim, &mut c, "t", "s1");
    exec(
        &mut c,
        "ALTER TABLE d.t DISTRIBUTED BY HASH(id) DEFAULT BUCKETS 4",
    );
    exec(
        &mut c,
        "ALTER TABLE d.t ADD PARTITION p2 VALUES LESS THAN (\"2024-03-01\")",
    );
    sim.load("d", "t", "p2", 5).unwrap();
    let buckets = |c: &mut Conn| -> Vec<(String, String)> {
        rows(c, "SELECT PARTITION_NAME, BUCKETS FROM information_schema.partitions_meta WHERE TABLE_NAME = 't' ORDER BY PARTITION_NAME")
            .into_iter()
            .map(|r| (r[0].clone().unwrap(), r[1].clone().unwrap()))
            .collect()
    };
    assert_eq!(
        buckets(&mut c),
        vec![("p1".into(), "1".into()), ("p2".into(), "4".into())]
    );
    let s2 = backup(&sim, &mut c, "t PARTITION (p2)", "s2");
    // a link that only ADDS a partition (p2 is not local): not compared, added with its 4 buckets
    exec(&mut c, "ALTER TABLE d.t DROP PARTITION p2");
    assert_eq!(restore(&sim, &mut c, &s2), "");
    assert_eq!(
        buckets(&mut c),
        vec![("p1".into(), "1".into()), ("p2".into(), "4".into())]
    );
    // overwriting a shared partition of the same bucket count works
    assert_eq!(restore(&sim, &mut c, &s1), "");
    // INSERT OVERWRITE re-creates p1 with the table's default (4): the older snapshot's p1 (1
    // bucket) can no longer be restored onto it
    let job = sim.begin_insert_overwrite("d", "t", &["p1"]).unwrap();
    sim.finish_insert_overwrite("d", "t", job, 3).unwrap();
    assert_eq!(
        buckets(&mut c),
        vec![("p1".into(), "4".into()), ("p2".into(), "4".into())]
    );
    assert_eq!(
        restore(&sim, &mut c, &s1),
        "[COMMON_ERROR, msg: Table t already exist but with different schema, errMsg: bucket num is inconsistent]"
    );
    // before 4.1 the DEFAULT BUCKETS form does not parse
    let (_old, mut c2) = setup("3.5.2");
    exec(&mut c2, &format!("CREATE TABLE d.t (id BIGINT) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id) BUCKETS 1 {PROPS}"));
    let (code, _) = fail(
        &mut c2,
        "ALTER TABLE d.t DISTRIBUTED BY HASH(id) DEFAULT BUCKETS 4",
    );
    assert_eq!(code, 1064);
}

#[test]
fn a_new_sort_key_changes_the_short_key_count_without_moving_versions() {
    // `ALTER TABLE t ORDER BY (cols)` with fewer columns than the table is a sort-key change
    // (SchemaChangeHandler.java:1060-1064); the base index's short-key count follows the sort key
    // (GlobalStateMgr.calcShortKeyColumnCount(indexColumns, properties, sortKeyIdxes), :2614);
    // tables_config SORT_KEY shows it (InformationSchemaDataSource.java:330-340)
    let (sim, mut c) = setup("3.3.5");
    exec(&mut c, &format!("CREATE TABLE d.t (id BIGINT, dt DATE, v BIGINT) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id) BUCKETS 1 {PROPS}"));
    sim.load("d", "t", "t", 3).unwrap();
    let sql = backup(&sim, &mut c, "t", "s1");
    let sort_key = |c: &mut Conn| {
        one(
            c,
            "SELECT SORT_KEY FROM information_schema.tables_config WHERE TABLE_NAME = 't'",
        )
    };
    assert_eq!(sort_key(&mut c).as_deref(), Some("`id`"));
    let before = sim.partitions("d", "t").unwrap();
    exec(&mut c, "ALTER TABLE d.t ORDER BY (id, dt)");
    assert_eq!(sim.partitions("d", "t").unwrap(), before);
    assert_eq!(sort_key(&mut c).as_deref(), Some("`id`, `dt`"));
    assert_eq!(
        restore(&sim, &mut c, &sql),
        "[COMMON_ERROR, msg: Table t already exist but with different schema, errMsg: short key column count is inconsistent]"
    );
    exec(&mut c, "ALTER TABLE d.t ORDER BY (id)");
    assert_eq!(restore(&sim, &mut c, &sql), "");
}
