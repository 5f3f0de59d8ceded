//! Shared helpers for the simulator's wire-level tests.
#![allow(dead_code)]

use mysql::prelude::Queryable;
use mysql::{Conn, OptsBuilder};
use starrocks_sim::{Sim, SimOptions};

pub fn start() -> Sim {
    Sim::start(SimOptions::default()).unwrap()
}

pub fn start_with(opts: SimOptions) -> Sim {
    Sim::start(opts).unwrap()
}

pub fn conn(sim: &Sim) -> Conn {
    Conn::new(
        OptsBuilder::new()
            .ip_or_hostname(Some("127.0.0.1"))
            .tcp_port(sim.port())
            .user(Some("root"))
            .prefer_socket(false),
    )
    .unwrap()
}

/// All rows as optional strings.
pub fn rows(c: &mut Conn, sql: &str) -> Vec<Vec<Option<String>>> {
    let rows: Vec<mysql::Row> = c.query(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.into_iter()
        .map(|r| {
            (0..r.len())
                .map(|i| r.get::<Option<String>, _>(i).unwrap())
                .collect()
        })
        .collect()
}

/// Column names of a query's result.
pub fn columns(c: &mut Conn, sql: &str) -> Vec<String> {
    let res = c.query_iter(sql).unwrap();
    res.columns()
        .as_ref()
        .iter()
        .map(|c| c.name_str().to_string())
        .collect()
}

/// One value.
pub fn one(c: &mut Conn, sql: &str) -> Option<String> {
    rows(c, sql)
        .into_iter()
        .next()
        .and_then(|r| r.into_iter().next())
        .flatten()
}

/// The (errno, message) of a failing statement.
pub fn fail(c: &mut Conn, sql: &str) -> (u16, String) {
    match c.query_drop(sql) {
        Err(mysql::Error::MySqlError(e)) => (e.code, e.message),
        other => panic!("{sql}: expected a server error, got {other:?}"),
    }
}

pub fn exec(c: &mut Conn, sql: &str) {
    c.query_drop(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// A simulator with a manual clock (no tick per statement), for exact job timelines.
pub fn start_manual() -> Sim {
    start_with(SimOptions {
        tick_per_statement: std::time::Duration::ZERO,
        ..SimOptions::default()
    })
}

/// sales.orders (4 monthly partitions p1..p4, replication_num 1) and sales.customers, plus repo `repo`.
pub fn demo(sim: &Sim) {
    use starrocks_sim::{PartitionSpec, TableSpec};
    sim.create_repository("repo", false).unwrap();
    sim.create_table(
        "sales",
        "orders",
        &TableSpec::new(&[("id", "BIGINT"), ("dt", "DATE"), ("amount", "INT")]).range(
            "dt",
            vec![
                PartitionSpec::less_than("p1", "2024-02-01"),
                PartitionSpec::less_than("p2", "2024-03-01"),
                PartitionSpec::less_than("p3", "2024-04-01"),
                PartitionSpec::less_than("p4", "2024-05-01"),
            ],
        ),
    )
    .unwrap();
    sim.create_table(
        "sales",
        "customers",
        &TableSpec::new(&[("id", "BIGINT"), ("name", "VARCHAR(64)")]),
    )
    .unwrap();
}

pub fn secs(n: u64) -> std::time::Duration {
    std::time::Duration::from_secs(n)
}

/// SHOW BACKUP/RESTORE FROM db as name->value maps (one per row).
pub fn show_map(
    c: &mut Conn,
    sql: &str,
) -> Vec<std::collections::BTreeMap<String, Option<String>>> {
    let cols = columns(c, sql);
    rows(c, sql)
        .into_iter()
        .map(|r| cols.iter().cloned().zip(r).collect())
        .collect()
}

/// The State of the single SHOW BACKUP/RESTORE row.
pub fn state(c: &mut Conn, sql: &str) -> String {
    let m = show_map(c, sql);
    assert_eq!(m.len(), 1, "{sql}: {m:?}");
    m[0]["State"].clone().unwrap()
}

/// A simulator playing `release`, manual clock.
pub fn at(release: &str) -> Sim {
    start_with(SimOptions {
        release: release.into(),
        tick_per_statement: std::time::Duration::ZERO,
        ..SimOptions::default()
    })
}

/// Runs a statement that starts a job and waits (virtual time) until the db's job is terminal.
pub fn run_job(
    sim: &Sim,
    c: &mut Conn,
    sql: &str,
    show: &str,
) -> std::collections::BTreeMap<String, Option<String>> {
    exec(c, sql);
    sim.advance(secs(120));
    show_map(c, show).remove(0)
}

/// The Timestamp of snapshot `label` in repository `repo`.
pub fn snapshot_ts(c: &mut Conn, label: &str) -> String {
    rows(
        c,
        &format!("SHOW SNAPSHOT ON repo WHERE SNAPSHOT = '{label}'"),
    )[0][1]
        .clone()
        .unwrap()
}

/// `BACKUP SNAPSHOT d.<label> TO repo ON (<on>)` run to FINISHED; returns the snapshot's timestamp.
pub fn backed_up(sim: &Sim, c: &mut Conn, on: &str, label: &str) -> String {
    let r = run_job(
        sim,
        c,
        &format!("BACKUP SNAPSHOT d.{label} TO repo ON ({on})"),
        "SHOW BACKUP FROM d",
    );
    assert_eq!(r["State"].as_deref(), Some("FINISHED"), "{r:?}");
    snapshot_ts(c, label)
}

/// `RESTORE SNAPSHOT d.<label> FROM repo ON (<on>)` at `ts`, replication_num 1.
pub fn restore_sql(label: &str, on: &str, ts: &str) -> String {
    format!(
        r#"RESTORE SNAPSHOT d.{label} FROM repo ON ({on}) PROPERTIES ("backup_timestamp" = "{ts}", "replication_num" = "1")"#
    )
}
