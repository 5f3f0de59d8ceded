//! Plain SQL over the wire: DDL, DML, clock, variables, errors.
mod common;
use common::*;

#[test]
fn create_insert_select_round_trip() {
    let sim = start();
    let mut c = conn(&sim);
    exec(&mut c, "CREATE DATABASE sales");
    exec(&mut c, "CREATE TABLE sales.t (id BIGINT, name STRING) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id) BUCKETS 1 PROPERTIES (\"replication_num\" = \"1\")");
    exec(&mut c, "INSERT INTO sales.t VALUES (1, 'a'), (2, 'b')");
    assert_eq!(
        one(&mut c, "SELECT COUNT(*) FROM sales.t"),
        Some("2".into())
    );
    exec(&mut c, "USE sales");
    assert_eq!(
        rows(
            &mut c,
            "SELECT t.name FROM t WHERE id = 2 ORDER BY id LIMIT 1"
        ),
        vec![vec![Some("b".to_string())]]
    );
    let p = sim.partitions("sales", "t").unwrap();
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].name, "t");
    assert_eq!(p[0].visible_version, 2);
    assert_eq!(p[0].row_count, 2);
}

use mysql::prelude::Queryable;
use starrocks_sim::{PartitionSpec, SimOptions, TableSpec};

#[test]
fn socket_variable_is_unknown() {
    // STARROCKS.md §5: SELECT @@socket fails with 1193
    let sim = start();
    let mut c = conn(&sim);
    assert_eq!(
        fail(&mut c, "SELECT @@socket"),
        (1193, "Unknown system variable 'socket'".into())
    );
    assert_eq!(one(&mut c, "SELECT @@wait_timeout"), Some("28800".into()));
    assert!(one(&mut c, "SELECT @@version_comment LIMIT 1").is_some());
}

#[test]
fn prepared_statements_by_version() {
    // STARROCKS.md §5: COM_STMT_PREPARE only for SELECT from 3.2; before: unsupported command
    let sim = start_with(SimOptions {
        release: "3.4.0".into(),
        ..SimOptions::default()
    });
    let mut c = conn(&sim);
    assert_eq!(c.server_version(), (8, 0, 33));
    for sql in [
        "INSERT INTO t VALUES (1)",
        "INSERT INTO t VALUES (?)",
        "SHOW DATABASES",
    ] {
        match c.prep(sql) {
            Err(mysql::Error::MySqlError(e)) => {
                assert_eq!(
                    e.message,
                    "This command is not supported in the prepared statement protocol yet"
                )
            }
            other => panic!("{other:?}"),
        }
    }
    let sim = start();
    let mut c = conn(&sim);
    assert_eq!(c.server_version(), (5, 1, 0));
    for sql in ["SELECT 1", "SELECT ?", "INSERT INTO t VALUES (1)"] {
        match c.prep(sql) {
            Err(mysql::Error::MySqlError(e)) => {
                assert_eq!(e.message, "Unsupported command(COM_STMT_PREPARE)")
            }
            other => panic!("{other:?}"),
        }
    }
    exec(&mut c, "SELECT 1");
}

fn modern() -> starrocks_sim::Sim {
    start_with(SimOptions {
        release: "3.4.0".into(),
        ..SimOptions::default()
    })
}

#[test]
fn prepared_select_binds_parameters() {
    // STARROCKS.md §5: from 3.2 a SELECT goes through COM_STMT_PREPARE / COM_STMT_EXECUTE
    let sim = modern();
    let mut c = conn(&sim);
    let tricky = "it's a \\ back\\slash 'quoted' ? `tick`";
    let got: Option<(String,)> = c.exec_first("SELECT ?", (tricky,)).unwrap();
    assert_eq!(got, Some((tricky.to_string(),)));
    let got: Option<(i64, Option<String>, String, f64)> = c
        .exec_first("SELECT ? + 1, ?, '?', ?", (41, None::<String>, 2.5))
        .unwrap();
    assert_eq!(got, Some((42, None, "?".to_string(), 2.5)));
    let stmt = c.prep("SELECT ? AS a, ? AS b").unwrap();
    assert_eq!(stmt.num_params(), 2);
    let got: Vec<(String, i64)> = c.exec(&stmt, ("line\nbreak\ttab", -7)).unwrap();
    assert_eq!(got, vec![("line\nbreak\ttab".to_string(), -7)]);
    // the connection still answers text queries
    assert_eq!(one(&mut c, "SELECT 'text'"), Some("text".into()));
}

#[test]
fn prepared_select_over_a_table() {
    // STARROCKS.md §5: a prepared SELECT runs like the text query, answered in the binary protocol
    let sim = modern();
    let mut c = conn(&sim);
    exec(&mut c, "CREATE DATABASE d");
    exec(&mut c, "CREATE TABLE d.t (id BIGINT, name STRING, score DOUBLE) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id) BUCKETS 1 PROPERTIES (\"replication_num\" = \"1\")");
    exec(
        &mut c,
        "INSERT INTO d.t VALUES (1, 'a', 1.5), (2, 'b''s', NULL), (3, 'c', 3.25), (4, 'd', 4)",
    );
    let sql = "SELECT id, name, score FROM d.t WHERE id >= ? AND name <> ? ORDER BY id";
    let got: Vec<(i64, String, Option<f64>)> = c.exec(sql, (2, "c")).unwrap();
    assert_eq!(
        got,
        vec![
            (2, "b's".to_string(), None),
            (4, "d".to_string(), Some(4.0))
        ]
    );
    let stmt = c.prep(sql).unwrap();
    let got: Vec<(i64,)> = c
        .exec(&stmt, (0, "x"))
        .unwrap()
        .into_iter()
        .map(|r: (i64, String, Option<f64>)| (r.0,))
        .collect();
    assert_eq!(got, vec![(1,), (2,), (3,), (4,)]);
    let none: Vec<(i64, String, Option<f64>)> = c.exec(&stmt, (9, "x")).unwrap();
    assert!(none.is_empty());
    // the statement log holds the executed SELECT with its literals bound, and it fails like text
    let log = sim.statements();
    assert!(log.iter().any(|l| l.sql
        == "SELECT id, name, score FROM d.t WHERE id >= 2 AND name <> 'c' ORDER BY id"
        && l.error.is_none()));
    match c.exec_drop("SELECT * FROM d.missing WHERE id = ?", (1,)) {
        Err(mysql::Error::MySqlError(e)) => {
            let (code, msg) = fail(&mut c, "SELECT * FROM d.missing WHERE id = 1");
            assert_eq!((e.code, e.message), (code, msg));
        }
        other => panic!("{other:?}"),
    }
    // closed: the id is unknown (StarRocks ConnectProcessor.handleExecute), the connection lives on
    let id = stmt.id();
    c.close(stmt.clone()).unwrap();
    match c.exec_drop(&stmt, (1, "x")) {
        Err(mysql::Error::MySqlError(e)) => {
            assert_eq!(e.code, 1047);
            assert_eq!(
                e.message,
                format!("msg: Not Found prepared statement, stmtName: {id}")
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(one(&mut c, "SELECT COUNT(*) FROM d.t"), Some("4".into()));
}

#[test]
fn wrong_password_is_1045() {
    let sim = start_with(SimOptions {
        password: "secret".into(),
        ..SimOptions::default()
    });
    let opts = mysql::OptsBuilder::new()
        .ip_or_hostname(Some("127.0.0.1"))
        .tcp_port(sim.port())
        .user(Some("root"))
        .pass(Some("wrong"))
        .prefer_socket(false);
    match mysql::Conn::new(opts.clone()) {
        Err(mysql::Error::MySqlError(e)) => assert_eq!(e.code, 1045),
        other => panic!("{other:?}"),
    }
    let mut c = mysql::Conn::new(opts.pass(Some("secret"))).unwrap();
    exec(&mut c, "SELECT 1");
}

#[test]
fn replication_num_above_backends_is_refused() {
    // STARROCKS.md §5: default replication_num is 3; with fewer BEs CREATE TABLE fails
    let sim = start();
    let mut c = conn(&sim);
    exec(&mut c, "CREATE DATABASE d");
    let (code, msg) = fail(
        &mut c,
        "CREATE TABLE d.t (a INT) DUPLICATE KEY(a) DISTRIBUTED BY HASH(a)",
    );
    assert_eq!(code, 1064);
    assert!(msg.starts_with("Table replication num should be less than or equal to the number of available BE nodes. "), "{msg}");
    assert!(!sim.table_exists("d", "t"));
    exec(
        &mut c,
        "CREATE TABLE d.u (a INT) PROPERTIES (\"replication_num\" = \"1\")",
    );
    assert_eq!(
        fail(&mut c, "CREATE TABLE d.u (a INT)"),
        (1050, "Table 'u' already exists".into())
    );
}

#[test]
fn primary_key_upsert_and_update_only_on_pk() {
    // STARROCKS.md §5: UPDATE works on PRIMARY KEY tables only
    let sim = start();
    let mut c = conn(&sim);
    exec(&mut c, "CREATE DATABASE d");
    exec(&mut c, "CREATE TABLE d.pk (k VARCHAR(10) NOT NULL, v INT) PRIMARY KEY(k) DISTRIBUTED BY HASH(k) BUCKETS 1 PROPERTIES (\"replication_num\" = \"1\")");
    exec(&mut c, "INSERT INTO d.pk VALUES ('a', 1)");
    exec(&mut c, "INSERT INTO d.pk VALUES ('a', 2)");
    assert_eq!(
        rows(&mut c, "SELECT k, v FROM d.pk"),
        vec![vec![Some("a".into()), Some("2".into())]]
    );
    exec(&mut c, "UPDATE d.pk SET v = 3 WHERE k = 'a'");
    assert_eq!(one(&mut c, "SELECT v FROM d.pk"), Some("3".into()));
    exec(&mut c, "CREATE TABLE d.dup (k INT, v INT) DUPLICATE KEY(k) PROPERTIES (\"replication_num\" = \"1\")");
    let (_, msg) = fail(&mut c, "UPDATE d.dup SET v = 1");
    assert!(msg.contains("table dup does not support update"), "{msg}");
    exec(&mut c, "DELETE FROM d.pk WHERE k = 'a'");
    assert_eq!(one(&mut c, "SELECT COUNT(*) FROM d.pk"), Some("0".into()));
    assert_eq!(sim.partitions("d", "pk").unwrap()[0].visible_version, 5);
}

#[test]
fn string_escaping_round_trip() {
    // STARROCKS.md §5: literals escaped MySQL-style arrive intact
    let sim = start();
    let mut c = conn(&sim);
    exec(&mut c, "CREATE DATABASE d");
    exec(
        &mut c,
        "CREATE TABLE d.s (id INT, v STRING) PROPERTIES (\"replication_num\" = \"1\")",
    );
    exec(
        &mut c,
        r"INSERT INTO d.s VALUES (1, 'it\'s'), (2, 'a\\b'), (3, ''''), (4, 'x\ny')",
    );
    assert_eq!(
        rows(&mut c, "SELECT v FROM d.s ORDER BY id"),
        vec![
            vec![Some("it's".into())],
            vec![Some("a\\b".into())],
            vec![Some("'".into())],
            vec![Some("x\ny".into())]
        ]
    );
    assert_eq!(
        one(&mut c, r"SELECT id FROM d.s WHERE v = 'it\'s'"),
        Some("1".into())
    );
}

#[test]
fn now_follows_virtual_clock_in_session_time_zone() {
    // STARROCKS.md §4: times in the session time zone
    let sim = start_manual();
    let mut c = conn(&sim);
    assert_eq!(
        one(&mut c, "SELECT NOW()"),
        Some("2026-01-01 00:00:00".into())
    );
    exec(&mut c, "SET time_zone = '+08:00'");
    assert_eq!(
        one(&mut c, "SELECT NOW()"),
        Some("2026-01-01 08:00:00".into())
    );
    assert_eq!(one(&mut c, "SELECT @@time_zone"), Some("+08:00".into()));
    sim.advance(secs(90));
    assert_eq!(
        one(&mut c, "SELECT NOW()"),
        Some("2026-01-01 08:01:30".into())
    );
    let mut c2 = conn(&sim);
    assert_eq!(
        one(&mut c2, "SELECT NOW()"),
        Some("2026-01-01 00:01:30".into())
    );
}

#[test]
fn partitions_meta_and_show_partitions() {
    // STARROCKS.md §4: partitions_meta columns, versions bump per load, temp partitions flagged
    let sim = start_manual();
    sim.create_table(
        "s",
        "o",
        &TableSpec::new(&[("id", "BIGINT"), ("dt", "DATE")]).range(
            "dt",
            vec![
                PartitionSpec::less_than("p1", "2024-02-01"),
                PartitionSpec::less_than("p2", "2024-03-01"),
            ],
        ),
    )
    .unwrap();
    let mut c = conn(&sim);
    let cols = columns(&mut c, "SELECT * FROM information_schema.partitions_meta");
    assert_eq!(
        &cols[..20],
        [
            "DB_NAME",
            "TABLE_NAME",
            "PARTITION_NAME",
            "PARTITION_ID",
            "COMPACT_VERSION",
            "VISIBLE_VERSION",
            "VISIBLE_VERSION_TIME",
            "NEXT_VERSION",
            "PARTITION_KEY",
            "PARTITION_VALUE",
            "DISTRIBUTION_KEY",
            "BUCKETS",
            "REPLICATION_NUM",
            "STORAGE_MEDIUM",
            "COOLDOWN_TIME",
            "LAST_CONSISTENCY_CHECK_TIME",
            "IS_IN_MEMORY",
            "IS_TEMP",
            "DATA_SIZE",
            "ROW_COUNT"
        ]
    );
    exec(
        &mut c,
        "INSERT INTO s.o VALUES (1, '2024-02-10'), (2, '2024-02-11')",
    );
    sim.add_temp_partition("s", "o", &PartitionSpec::less_than("tp", "2024-02-01"))
        .unwrap();
    let q = "SELECT PARTITION_NAME, VISIBLE_VERSION, ROW_COUNT, IS_TEMP FROM information_schema.partitions_meta WHERE DB_NAME = 's' AND TABLE_NAME = 'o' ORDER BY PARTITION_ID";
    assert_eq!(
        rows(&mut c, q),
        vec![
            vec![
                Some("p1".into()),
                Some("1".into()),
                Some("0".into()),
                Some("0".into())
            ],
            vec![
                Some("p2".into()),
                Some("2".into()),
                Some("2".into()),
                Some("0".into())
            ],
            vec![
                Some("tp".into()),
                Some("1".into()),
                Some("0".into()),
                Some("1".into())
            ],
        ]
    );
    exec(
        &mut c,
        "INSERT INTO s.o PARTITION (p1) VALUES (3, '2024-01-02')",
    );
    assert_eq!(
        one(&mut c, "SELECT VISIBLE_VERSION FROM information_schema.partitions_meta WHERE PARTITION_NAME = 'p1'"),
        Some("2".into())
    );
    let show = columns(&mut c, "SHOW PARTITIONS FROM s.o");
    assert_eq!(
        &show[..17],
        [
            "PartitionId",
            "PartitionName",
            "VisibleVersion",
            "VisibleVersionTime",
            "VisibleVersionHash",
            "State",
            "PartitionKey",
            "Range",
            "DistributionKey",
            "Buckets",
            "ReplicationNum",
            "StorageMedium",
            "CooldownTime",
            "LastConsistencyCheckTime",
            "DataSize",
            "IsInMemory",
            "RowCount"
        ]
    );
    assert_eq!(rows(&mut c, "SHOW PARTITIONS FROM s.o").len(), 2);
    assert_eq!(rows(&mut c, "SHOW TEMPORARY PARTITIONS FROM s.o").len(), 1);
    // schema: information_schema.columns
    assert_eq!(
        rows(&mut c, "SELECT COLUMN_NAME, ORDINAL_POSITION, DATA_TYPE FROM information_schema.columns WHERE TABLE_SCHEMA = 's' AND TABLE_NAME = 'o' ORDER BY ORDINAL_POSITION"),
        vec![
            vec![Some("id".into()), Some("1".into()), Some("bigint".into())],
            vec![Some("dt".into()), Some("2".into()), Some("date".into())],
        ]
    );
}

#[test]
fn partitions_meta_absent_on_old_clusters_and_unknown_names() {
    // STARROCKS.md §3, §4: unknown table/database errors; partitions_meta from 3.1.9 only
    let sim = start_with(SimOptions {
        partitions_meta: Some(false),
        ..SimOptions::default()
    });
    let mut c = conn(&sim);
    let (code, msg) = fail(&mut c, "SELECT * FROM information_schema.partitions_meta");
    assert_eq!(code, 1051);
    assert_eq!(msg, "Getting analyzing error. Detail message: Unknown table 'information_schema.partitions_meta'.");
    exec(&mut c, "CREATE DATABASE d");
    assert_eq!(
        fail(&mut c, "SELECT * FROM d.nope").1,
        "Getting analyzing error. Detail message: Unknown table 'd.nope'."
    );
    assert_eq!(fail(&mut c, "USE nope").0, 1049);
    // toggled at run time (the scale benchmark compares both discovery paths on one cluster)
    sim.set_partitions_meta(true);
    assert!(c
        .query_drop("SELECT * FROM information_schema.partitions_meta")
        .is_ok());
    sim.set_partitions_meta(false);
    assert_eq!(
        fail(&mut c, "SELECT * FROM information_schema.partitions_meta").0,
        1051
    );
    let sim = start_with(SimOptions {
        release: "3.4.0".into(),
        ..SimOptions::default()
    });
    let mut c = conn(&sim);
    assert_eq!(fail(&mut c, "USE nope").0, 5501);
    assert!(fail(&mut c, "DROP TABLE information_schema.nope").0 > 0);
}

#[test]
fn connect_with_database_and_show_statements() {
    let sim = start();
    sim.create_table("sales", "t", &TableSpec::new(&[("a", "INT")]))
        .unwrap();
    let mut c = mysql::Conn::new(
        mysql::OptsBuilder::new()
            .ip_or_hostname(Some("127.0.0.1"))
            .tcp_port(sim.port())
            .user(Some("root"))
            .db_name(Some("sales"))
            .prefer_socket(false),
    )
    .unwrap();
    assert_eq!(one(&mut c, "SELECT DATABASE()"), Some("sales".into()));
    assert_eq!(rows(&mut c, "SHOW TABLES"), vec![vec![Some("t".into())]]);
    let create = rows(&mut c, "SHOW CREATE TABLE t");
    assert!(create[0][1]
        .as_deref()
        .unwrap()
        .contains("\"replication_num\" = \"1\""));
    exec(&mut c, "BEGIN");
    exec(&mut c, "COMMIT");
    assert!(rows(&mut c, "SHOW DATABASES")
        .iter()
        .any(|r| r[0].as_deref() == Some("sales")));
}

#[test]
fn large_answers_stream_intact_and_errors_still_carry_their_errno() {
    // 20k rows x 3 columns (several MB: more than the wire buffer's high-water mark), with NULLs,
    // integers, reals and text; then an error on the same connection keeps its StarRocks errno.
    let sim = start();
    let mut c = conn(&sim);
    exec(&mut c, "CREATE DATABASE big");
    exec(&mut c, "CREATE TABLE big.t (id BIGINT, v STRING, r DOUBLE) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id) BUCKETS 1 PROPERTIES (\"replication_num\" = \"1\")");
    for chunk in 0..20 {
        let values: Vec<String> = (0..1000)
            .map(|k| {
                let id = chunk * 1000 + k;
                let v = if id % 7 == 0 {
                    "NULL".to_string()
                } else {
                    format!("'{}'", "x".repeat(100 + (id % 50) as usize))
                };
                format!("({id}, {v}, {id}.5)")
            })
            .collect();
        exec(
            &mut c,
            &format!("INSERT INTO big.t VALUES {}", values.join(", ")),
        );
    }
    let got = rows(&mut c, "SELECT id, v, r FROM big.t ORDER BY id");
    assert_eq!(got.len(), 20_000);
    for (k, r) in got.iter().enumerate() {
        assert_eq!(r[0].as_deref(), Some(k.to_string().as_str()));
        if k % 7 == 0 {
            assert_eq!(r[1], None);
        } else {
            assert_eq!(r[1].as_ref().map(String::len), Some(100 + k % 50));
        }
        assert_eq!(r[2].clone().unwrap_or_default(), format!("{k}.5"));
    }
    assert_eq!(
        sim.execute("SELECT COUNT(*) FROM big.t").unwrap()[0][0].as_deref(),
        Some("20000")
    );
    let (code, _) = fail(&mut c, "SELECT * FROM big.nope");
    assert_eq!(code, 1051);
    assert_eq!(
        one(&mut c, "SELECT COUNT(*) FROM big.t"),
        Some("20000".into())
    );
}

#[test]
fn utc_timestamp_is_the_statement_clock_in_utc() {
    // ScalarOperatorFunctions.java:945 (utc_timestamp): the statement's start time in UTC, like
    // NOW() (the same instant in the session zone), so NOW() - UTC_TIMESTAMP() is the zone's offset
    let sim = start_manual();
    let mut c = conn(&sim);
    exec(&mut c, "SET time_zone = '+08:00'");
    assert_eq!(
        rows(&mut c, "SELECT NOW(), UTC_TIMESTAMP()"),
        [[
            Some("2026-01-01 08:00:00".to_string()),
            Some("2026-01-01 00:00:00".to_string())
        ]]
    );
    exec(&mut c, "SET time_zone = '-05:00'");
    assert_eq!(
        one(&mut c, "SELECT UTC_TIMESTAMP()"),
        Some("2026-01-01 00:00:00".into())
    );
}
