//! Keeps the scale benchmark (benches/scale, docs/BENCHMARKS.md) from rotting: the same scenarios
//! at a tiny size, plus the property the benchmark is about that holds at any size — discovery
//! sends a constant number of statements whatever the table count (SHOW PARTITIONS and SHOW TEMPORARY
//! PARTITIONS: two per partitioned table).

#[path = "../benches/scale/scenario.rs"]
mod scenario;

use scenario::*;

#[test]
fn backup_discovery_statements_do_not_grow_with_tables() {
    let mut log = |l: &str| eprintln!("{l}");
    let mut counts = Vec::new();
    for tables in [10, 20] {
        let sizes = Sizes {
            tables,
            ..Sizes::smoke()
        };
        let sim = start_sim().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let r = backup_cases(&sim, dir.path(), &sizes, &mut log).unwrap();
        assert!(r.changed > 0);
        // the FULL manifest is written in chunks of <= 500 rows, never one statement per partition
        let chunks = tables * sizes.partitions / 500 + 1;
        assert!(r.full.statements < 40 + chunks, "{}", r.full.statements);
        assert_eq!(
            r.fallback.statements,
            r.incremental.statements + 2 * tables,
            "SHOW PARTITIONS + SHOW TEMPORARY PARTITIONS replace one partitions_meta query by two statements per partitioned table"
        );
        counts.push(r.incremental.statements);
    }
    assert_eq!(counts[0], counts[1], "constant statements: {counts:?}");
}

#[test]
fn list_polling_and_restore_scenarios_run() {
    let mut log = |l: &str| eprintln!("{l}");
    let s = Sizes::smoke();
    let sim = start_sim().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (table, json) = list_cases(&sim, dir.path(), &s, &mut log).unwrap();
    assert_eq!(table.stdout.lines().count(), s.history_rows + 1);
    assert_eq!(table.statements, 1);
    assert!(json.stdout_bytes > 0);
    let p = poll_case(&s, &mut log).unwrap();
    assert!(p.per_min_overall > 0.0);
    let (_, jobs) = restore_case(&s, &mut log).unwrap();
    assert_eq!(
        jobs,
        s.restore_chain + 1,
        "the full backup and every incremental"
    );
}
