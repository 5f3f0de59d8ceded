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
