//! StarRocks facts the `check`, `db.*` and metrics code relies on, pinned over the wire. Each test
//! cites the FE source it was read from (docs/STARROCKS-NOTES.md).

mod common;
use common::*;
use starrocks_sim::TableSpec;

/// fe/fe-core/src/main/java/com/starrocks/catalog/Table.java: getMysqlType() is "BASE TABLE" for an
/// OLAP table ("VIEW" for views and materialized views) and getEngine() is "StarRocks" for every
/// OlapTable; InformationSchemaDataSource.java puts both into information_schema.tables.
#[test]
fn information_schema_tables_shows_olap_tables_as_base_table_starrocks() {
    let sim = start();
    sim.create_table("hr", "people", &TableSpec::new(&[("id", "BIGINT")]))
        .unwrap();
    let mut c = conn(&sim);
    let r = rows(
        &mut c,
        "SELECT TABLE_NAME FROM information_schema.tables WHERE TABLE_SCHEMA IN ('hr') AND TABLE_TYPE = 'BASE TABLE' AND ENGINE = 'StarRocks'",
    );
    assert_eq!(r, vec![vec![Some("people".to_string())]]);
}

/// fe/fe-core/src/main/java/com/starrocks/sql/analyzer/ShowSnapshotAnalyzer.java (InPredicate
/// branch): `WHERE SNAPSHOT IN ('a', 'b')` lists every named snapshot in one statement; a name
/// that is not in the repository is simply absent.
#[test]
fn show_snapshot_where_snapshot_in_lists_the_set() {
    let sim = start();
    sim.create_repository("repo", false).unwrap();
    sim.create_table("d", "t", &TableSpec::new(&[("id", "BIGINT")]))
        .unwrap();
    let mut c = conn(&sim);
    exec(&mut c, "BACKUP SNAPSHOT d.s1 TO repo ON (t)");
    sim.advance(std::time::Duration::from_secs(60));
    let r = rows(
        &mut c,
        "SHOW SNAPSHOT ON repo WHERE SNAPSHOT IN ('s1', 'nope')",
    );
    let names: Vec<String> = r.iter().filter_map(|row| row[0].clone()).collect();
    assert_eq!(names, vec!["s1".to_string()]);
}
