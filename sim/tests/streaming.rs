//! Big SELECT answers are streamed while SQLite steps (sim/src/stream.rs); the client must get
//! exactly the rows a buffered answer gives, in both protocols, and other connections must not wait
//! on a reader that is slow to drain its answer.
mod common;
use common::*;
use mysql::prelude::Queryable;
use starrocks_sim::SimOptions;

/// More rows than one streamed chunk (1,024), with NULLs, cells of 251+ bytes (STRING holds at most 65,533)
/// and negative integers (the 3- and 8-byte lengths: the unit test in sim/src/stream.rs).
fn big_table(c: &mut mysql::Conn) {
    exec(c, "CREATE DATABASE d");
    exec(c, "CREATE TABLE d.t (id BIGINT, name STRING, v BIGINT) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id) BUCKETS 1 PROPERTIES (\"replication_num\" = \"1\")");
    let values: Vec<String> = (0..3000)
        .map(|i| {
            let name = match i % 5 {
                0 => "NULL".to_string(),
                1 => format!("'{}'", "x".repeat(300)),
                2 if i == 2 => format!("'{}'", "y".repeat(60_000)),
                _ => format!("'n{i}'"),
            };
            let v = if i % 7 == 0 {
                "NULL".to_string()
            } else {
                format!("{}", i - 1500)
            };
            format!("({i}, {name}, {v})")
        })
        .collect();
    exec(c, &format!("INSERT INTO d.t VALUES {}", values.join(", ")));
}

const BIG: &str = "SELECT id, name, v FROM d.t ORDER BY id";

#[test]
fn a_big_answer_is_the_buffered_rows_in_both_protocols() {
    let sim = start_with(SimOptions {
        release: "3.4.0".into(),
        ..SimOptions::default()
    });
    let mut c = conn(&sim);
    big_table(&mut c);
    // the control API never streams: the reference
    let want = sim.execute(BIG).unwrap();
    assert_eq!(want.len(), 3000);
    assert_eq!(want[2][1].as_ref().map(|s| s.len()), Some(60_000));
    assert_eq!(want[0][1], None);
    // text protocol
    assert_eq!(rows(&mut c, BIG), want);
    // binary protocol (a prepared SELECT, STARROCKS.md §5)
    let got: Vec<(i64, Option<String>, Option<i64>)> = c.exec(BIG, ()).unwrap();
    let got: Vec<Vec<Option<String>>> = got
        .into_iter()
        .map(|(id, name, v)| vec![Some(id.to_string()), name, v.map(|v| v.to_string())])
        .collect();
    assert_eq!(got, want);
    // one statement each in the log, no error
    let log = sim.statements();
    let big: Vec<_> = log.iter().filter(|l| l.sql == BIG).collect();
    assert_eq!(big.len(), 2);
    assert!(big.iter().all(|l| l.error.is_none()));
}

#[test]
fn a_reader_slow_to_drain_a_big_answer_does_not_hold_up_other_connections() {
    let sim = start();
    let mut c = conn(&sim);
    big_table(&mut c);
    let mut other = conn(&sim);
    let mut it = c.query_iter(BIG).unwrap();
    let first = it.next().unwrap().unwrap();
    assert_eq!(first.get::<i64, _>(0), Some(0));
    // the answer is still being read on `c`; the cluster is free
    assert_eq!(
        one(&mut other, "SELECT COUNT(*) FROM d.t"),
        Some("3000".into())
    );
    exec(&mut other, "INSERT INTO d.t VALUES (3000, 'late', 0)");
    assert_eq!(it.count(), 2999);
    assert_eq!(one(&mut c, "SELECT COUNT(*) FROM d.t"), Some("3001".into()));
}
