//! RESTORE `AS alias`, ALTER TABLE RENAME and SWAP WITH over the wire, as the FE source has them
//! (docs/STARROCKS-NOTES.md "Rename, swap and RESTORE AS alias"; backup/RestoreJob.java,
//! server/LocalMetastore.java renameTable, alter/AlterJobExecutor.java, catalog/OlapTable.java setName).
mod common;
use common::*;
use mysql::Conn;
use starrocks_sim::Sim;

fn backup(sim: &Sim, c: &mut Conn, label: &str) -> String {
    exec(c, &format!("BACKUP SNAPSHOT sales.{label} TO repo"));
    sim.advance(secs(60));
    assert_eq!(state(c, "SHOW BACKUP FROM sales"), "FINISHED");
    rows(
        c,
        &format!("SHOW SNAPSHOT ON repo WHERE SNAPSHOT = '{label}'"),
    )[0][1]
        .clone()
        .unwrap()
}

fn restore(sim: &Sim, c: &mut Conn, label: &str, ts: &str, on: &str) -> (String, String) {
    exec(
        c,
        &format!(
            r#"RESTORE SNAPSHOT sales.{label} FROM repo ON ({on}) PROPERTIES ("backup_timestamp" = "{ts}", "replication_num" = "1")"#
        ),
    );
    sim.advance(secs(30));
    let r = &show_map(c, "SHOW RESTORE FROM sales")[0];
    (r["State"].clone().unwrap(), r["Status"].clone().unwrap())
}

#[test]
fn alias_creates_a_new_table_but_a_later_link_onto_the_alias_is_cancelled() {
    // RestoreJob.getSignature hashes the table name first: the local table (named alias) never
    // matches the snapshot's table (its backup-time name), so only the first link may use AS.
    let sim = start_manual();
    demo(&sim);
    let mut c = conn(&sim);
    sim.load("sales", "orders", "p1", 5).unwrap();
    let ts1 = backup(&sim, &mut c, "l1");
    sim.load("sales", "orders", "p2", 7).unwrap();
    let ts2 = backup(&sim, &mut c, "l2");
    let (st, status) = restore(&sim, &mut c, "l1", &ts1, "orders PARTITION (p1) AS o_stage");
    assert_eq!((st.as_str(), status.as_str()), ("FINISHED", "[OK]"));
    assert!(
        sim.table_exists("sales", "orders"),
        "the source is untouched"
    );
    let parts = sim.partitions("sales", "o_stage").unwrap();
    assert_eq!(parts.len(), 1);
    assert_eq!((parts[0].name.as_str(), parts[0].row_count), ("p1", 5));
    let (st, status) = restore(&sim, &mut c, "l2", &ts2, "orders PARTITION (p2) AS o_stage");
    assert_eq!(st, "CANCELLED");
    assert_eq!(
        status,
        "[COMMON_ERROR, msg: Table o_stage already exist but with different schema, errMsg: Table name is inconsistent]"
    );
    assert_eq!(sim.partitions("sales", "o_stage").unwrap().len(), 1);
    // under the snapshot's own name the same link is accepted
    exec(&mut c, "DROP TABLE sales.orders");
    exec(&mut c, "ALTER TABLE sales.o_stage RENAME orders");
    let (st, _) = restore(&sim, &mut c, "l2", &ts2, "orders PARTITION (p2)");
    assert_eq!(st, "FINISHED");
    assert_eq!(sim.partitions("sales", "orders").unwrap().len(), 2);
}

#[test]
fn unpartitioned_alias_and_rename_carry_the_partition_name() {
    // OlapTable.setName renames an unpartitioned table's single partition with the table.
    let sim = start_manual();
    demo(&sim);
    let mut c = conn(&sim);
    exec(
        &mut c,
        "INSERT INTO sales.customers VALUES (1, 'a'), (2, 'b')",
    );
    let ts = backup(&sim, &mut c, "l1");
    let (st, _) = restore(&sim, &mut c, "l1", &ts, "customers AS c2");
    assert_eq!(st, "FINISHED");
    let names = |t: &str| -> Vec<String> {
        sim.partitions("sales", t)
            .unwrap()
            .into_iter()
            .map(|p| p.name)
            .collect()
    };
    assert_eq!(names("c2"), ["c2"]);
    exec(&mut c, "ALTER TABLE sales.c2 RENAME c3");
    assert_eq!(names("c3"), ["c3"]);
    assert_eq!(
        one(&mut c, "SELECT COUNT(*) FROM sales.c3"),
        Some("2".into())
    );
}

#[test]
fn rename_and_swap_rules() {
    // LocalMetastore.renameTable: same name / name in use refused; AlterJobExecutor: the ALTER's
    // table must be NORMAL (InvalidOlapTableStateException for RESTORE); SWAP exchanges atomically
    // and does not check its partner's state.
    let sim = start_manual();
    demo(&sim);
    let mut c = conn(&sim);
    exec(&mut c, "INSERT INTO sales.customers VALUES (1, 'a')");
    let ts = backup(&sim, &mut c, "l1");
    assert_eq!(
        fail(&mut c, "ALTER TABLE sales.customers RENAME customers").1,
        "Same table name"
    );
    assert_eq!(
        fail(&mut c, "ALTER TABLE sales.customers RENAME orders").1,
        "Table name[orders] is already used"
    );
    assert!(fail(&mut c, "ALTER TABLE sales.customers SWAP WITH nope")
        .1
        .contains("Table nope does not exist"));
    exec(
        &mut c,
        &format!(
            r#"RESTORE SNAPSHOT sales.l1 FROM repo ON (customers AS c_new) PROPERTIES ("backup_timestamp" = "{ts}", "replication_num" = "1")"#
        ),
    );
    sim.advance(secs(7));
    assert_eq!(state(&mut c, "SHOW RESTORE FROM sales"), "DOWNLOADING");
    let (_, msg) = fail(&mut c, "ALTER TABLE sales.c_new RENAME c_other");
    assert!(
        msg.starts_with("A snapshot restore operation is in progress on the table c_new."),
        "{msg}"
    );
    sim.advance(secs(30));
    assert_eq!(state(&mut c, "SHOW RESTORE FROM sales"), "FINISHED");
    exec(&mut c, "INSERT INTO sales.customers VALUES (2, 'b')");
    exec(&mut c, "ALTER TABLE sales.customers SWAP WITH c_new");
    assert_eq!(
        one(&mut c, "SELECT COUNT(*) FROM sales.customers"),
        Some("1".into())
    );
    assert_eq!(
        one(&mut c, "SELECT COUNT(*) FROM sales.c_new"),
        Some("2".into())
    );
    let p: Vec<String> = sim
        .partitions("sales", "c_new")
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(p, ["c_new"]);
}
