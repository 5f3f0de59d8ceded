//! Several clusters sharing one repository location (disaster recovery onto a new cluster).
//! Pinned facts (fe/fe-core/src/main/java/com/starrocks/backup/Repository.java): snapshots are files
//! under `<location>/__starrocks_repository_<name>/__ss_<label>/__info_<timestamp>`, found by listing
//! (`listSnapshots`, `getSnapshotInfo`), so a cluster sees exactly the snapshots under the same
//! location AND repository name, whoever wrote them; labels are unique per repository directory.
mod common;
use common::*;
use starrocks_sim::{Sim, SimOptions};

const LOC: &str = "s3://sim-bucket/backup";

/// Cluster A with the demo tables, rows in orders p1/p2, and a FINISHED full backup `l1`.
fn cluster_a() -> Sim {
    let a = start_manual();
    demo(&a);
    let mut c = conn(&a);
    exec(
        &mut c,
        "INSERT INTO sales.orders VALUES (1, '2024-01-05', 10), (2, '2024-02-05', 20)",
    );
    exec(&mut c, "BACKUP SNAPSHOT sales.l1 TO repo ON (orders)");
    a.advance(secs(60));
    assert_eq!(state(&mut c, "SHOW BACKUP FROM sales"), "FINISHED");
    a
}

/// A new, empty cluster B on A's storage, with ids unrelated to A's.
fn cluster_b(a: &Sim) -> Sim {
    start_with(SimOptions {
        tick_per_statement: std::time::Duration::ZERO,
        repository_store: Some(a.repository_store()),
        first_id: 90001,
        ..SimOptions::default()
    })
}

#[test]
fn a_new_cluster_sees_and_restores_the_old_clusters_snapshots() {
    let a = cluster_a();
    let ts = a.snapshots("repo")[0].timestamp.clone();
    let a_parts = a.partitions("sales", "orders").unwrap();
    let b = cluster_b(&a);
    let mut c = conn(&b);
    exec(
        &mut c,
        &format!(
            "CREATE REPOSITORY repo WITH BROKER ON LOCATION \"{LOC}\" PROPERTIES (\"k\" = \"v\")"
        ),
    );
    let listed = rows(&mut c, "SHOW SNAPSHOT ON repo");
    assert_eq!(
        listed,
        vec![vec![Some("l1".into()), Some(ts.clone()), Some("OK".into())]]
    );
    // before 3.4 the target database must exist (STARROCKS.md §1)
    exec(&mut c, "CREATE DATABASE sales");
    exec(
        &mut c,
        &format!("RESTORE SNAPSHOT sales.l1 FROM repo PROPERTIES (\"backup_timestamp\" = \"{ts}\", \"replication_num\" = \"1\")"),
    );
    b.advance(secs(60));
    assert_eq!(state(&mut c, "SHOW RESTORE FROM sales"), "FINISHED");
    assert_eq!(
        one(&mut c, "SELECT COUNT(*) FROM sales.orders").as_deref(),
        Some("2")
    );
    // B's own catalog: new PartitionIds from B's id range, the snapshot's versions
    let b_parts = b.partitions("sales", "orders").unwrap();
    for (pa, pb) in a_parts.iter().zip(&b_parts) {
        assert_eq!(pa.name, pb.name);
        assert_eq!(pa.visible_version, pb.visible_version);
        assert_ne!(pa.id, pb.id);
        assert!(pb.id >= 90001, "{pb:?}");
    }
    // A's catalog is untouched by B's restore
    assert_eq!(a.partitions("sales", "orders").unwrap(), a_parts);
}

#[test]
fn a_snapshot_written_by_one_cluster_is_visible_to_the_other_at_once() {
    let a = start_manual();
    demo(&a);
    let b = cluster_b(&a);
    b.create_repository("repo", false).unwrap();
    b.create_database("ops").unwrap();
    let mut cb = conn(&b);
    assert!(rows(&mut cb, "SHOW SNAPSHOT ON repo").is_empty());
    let mut ca = conn(&a);
    exec(&mut ca, "BACKUP SNAPSHOT sales.l2 TO repo ON (customers)");
    // half-written (no __info_ file yet): listed, but not OK
    a.advance(secs(9));
    let listed = rows(&mut cb, "SHOW SNAPSHOT ON repo");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0][2].as_deref(), Some("ERROR: no snapshot"));
    a.advance(secs(60));
    assert_eq!(state(&mut ca, "SHOW BACKUP FROM sales"), "FINISHED");
    let listed = rows(&mut cb, "SHOW SNAPSHOT ON repo WHERE SNAPSHOT = 'l2'");
    assert_eq!(listed[0][2].as_deref(), Some("OK"));
    // labels are unique per repository directory, across the clusters writing to it
    b.create_table(
        "sales",
        "customers",
        &starrocks_sim::TableSpec::new(&[("id", "BIGINT")]),
    )
    .unwrap();
    let (code, msg) = fail(&mut cb, "BACKUP SNAPSHOT sales.l2 TO repo ON (customers)");
    assert_eq!(code, 5064);
    assert_eq!(msg, "Snapshot with name 'l2' already exist in repository");
}

#[test]
fn another_name_or_location_is_another_directory() {
    let a = cluster_a();
    let b = cluster_b(&a);
    b.create_repository_at("other", false, LOC).unwrap();
    b.create_repository_at("repo", false, "s3://another-bucket/backup")
        .unwrap();
    let mut c = conn(&b);
    assert!(rows(&mut c, "SHOW SNAPSHOT ON other").is_empty());
    assert!(rows(&mut c, "SHOW SNAPSHOT ON repo").is_empty());
    // dropping a repository leaves its files: re-created at A's location it sees them again
    exec(&mut c, "DROP REPOSITORY repo");
    exec(
        &mut c,
        &format!("CREATE READ ONLY REPOSITORY repo WITH BROKER ON LOCATION \"{LOC}\""),
    );
    assert_eq!(rows(&mut c, "SHOW SNAPSHOT ON repo").len(), 1);
}

#[test]
fn clusters_without_a_shared_store_never_see_each_other() {
    let a = cluster_a();
    let b = start_manual();
    b.create_repository("repo", false).unwrap();
    assert!(b.snapshots("repo").is_empty());
    assert_eq!(a.snapshots("repo").len(), 1);
}

#[test]
fn snapshot_files_deleted_from_storage_are_gone_for_every_cluster() {
    let a = cluster_a();
    let b = cluster_b(&a);
    b.create_repository("repo", false).unwrap();
    a.delete_snapshot_files("repo", "l1");
    let mut c = conn(&b);
    assert!(rows(&mut c, "SHOW SNAPSHOT ON repo").is_empty());
    assert!(a.snapshots("repo").is_empty());
}

#[test]
fn a_whole_database_snapshot_restores_every_table() {
    let a = start_manual();
    demo(&a);
    let mut ca = conn(&a);
    exec(&mut ca, "INSERT INTO sales.customers VALUES (1, 'x')");
    exec(&mut ca, "BACKUP SNAPSHOT sales.all1 TO repo");
    a.advance(secs(60));
    assert_eq!(state(&mut ca, "SHOW BACKUP FROM sales"), "FINISHED");
    let ts = a.snapshots("repo")[0].timestamp.clone();
    let b = cluster_b(&a);
    b.create_repository("repo", false).unwrap();
    b.create_database("sales").unwrap();
    let mut cb = conn(&b);
    exec(
        &mut cb,
        &format!("RESTORE SNAPSHOT sales.all1 FROM repo PROPERTIES (\"backup_timestamp\" = \"{ts}\", \"replication_num\" = \"1\")"),
    );
    b.advance(secs(60));
    assert_eq!(state(&mut cb, "SHOW RESTORE FROM sales"), "FINISHED");
    assert!(b.table_exists("sales", "orders") && b.table_exists("sales", "customers"));
    assert_eq!(
        one(&mut cb, "SELECT COUNT(*) FROM sales.customers").as_deref(),
        Some("1")
    );
}
