//! Schema fingerprints end to end (issue 9): what RESTORE compares on an existing table makes the
//! next backup take the table whole (docs/STARROCKS-NOTES.md "RESTORE onto an existing table: the
//! checks in order"), and fingerprints recorded by older versions of the tool are handled once.

mod common;
use common::fidelity::*;
use common::*;
use starrocks_sim::When;

#[test]
fn a_comment_default_bloom_filter_or_rollup_change_takes_the_table_whole() {
    if skip_on_real_cluster("fingerprint") {
        return;
    }
    let env = Env::with(at("3.3.5"), "");
    env.run_ok(&["init"], 0);
    env.run_ok(&["backup"], 0);
    for alter in [
        "ALTER TABLE sales.orders MODIFY COLUMN amount COMMENT 'in EUR'",
        "ALTER TABLE sales.orders MODIFY COLUMN amount DECIMAL(10,2) DEFAULT '0'",
        r#"ALTER TABLE sales.orders SET ("bloom_filter_columns" = "id")"#,
        "ALTER TABLE sales.orders ADD ROLLUP r1 (id)",
    ] {
        env.query(alter);
        let out = env.run_ok(&["backup"], 0);
        assert!(
            out.contains("FINISHED (incremental, 4 partitions"),
            "{alter}: {out}"
        );
        let plan = env.run_ok(&["backup", "--dry-run"], 0);
        assert!(
            !plan.contains("schema changed"),
            "{alter}: taken once, then unchanged"
        );
    }
}

#[test]
fn fingerprint_inputs_are_never_silently_empty() {
    // rollups and bloom filters are fingerprint inputs: a transient error is retried, a
    // persistent one fails the run (an empty input would hide a real change), and only "that
    // information_schema table does not exist on this release" means "not fingerprinted"
    if skip_on_real_cluster("fingerprint_inputs") {
        return;
    }
    let env = Env::with(at("3.3.5"), "");
    env.run_ok(&["init"], 0);
    env.run_ok(&["backup"], 0);
    env.query(r#"ALTER TABLE sales.orders SET ("bloom_filter_columns" = "id")"#);
    env.sim
        .drop_connection("information_schema.tables_config", When::Before);
    let out = env.run_ok(&["backup"], 0);
    assert!(out.contains("FINISHED (incremental, 4 partitions"), "{out}");

    env.query("ALTER TABLE sales.orders ADD ROLLUP r1 (id)");
    env.sim.fail_once(
        "information_schema.materialized_views",
        1064,
        "Internal error: catalog is being loaded",
    );
    let o = env.run(&["backup"]);
    let err = stderr(&o);
    assert_ne!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains("reading information_schema.materialized_views"),
        "{err}"
    );
    let out = env.run_ok(&["backup"], 0);
    assert!(out.contains("FINISHED (incremental, 4 partitions"), "{out}");

    env.sim.fail_once(
        "information_schema.materialized_views",
        1051,
        "Getting analyzing error. Detail message: Unknown table 'information_schema.materialized_views'.",
    );
    let o = env.run(&["backup"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains("information_schema.materialized_views does not exist on this StarRocks release: rollups are not part of the schema fingerprint"),
        "{err}"
    );
}

/// A 3.3 cluster with one full backup whose history was written before `v2:` fingerprints existed.
/// A history whose last backup recorded, per demo table, the fingerprint `fp` gives.
fn backed_up_recording(fp: fn(&Env, &str) -> String) -> Env {
    let env = Env::with(at("3.3.5"), "");
    env.run_ok(&["init"], 0);
    env.run_ok(&["backup"], 0);
    for table in ["orders", "customers"] {
        let value = fp(&env, table);
        set_fingerprint(&env, table, &value);
    }
    env
}

/// information_schema.columns of a demo table as `state` reads them.
fn column_defs(env: &Env, table: &str) -> Vec<starrocks_bbr::fingerprint::ColumnDef> {
    env
        .query(&format!("SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_KEY, COLUMN_DEFAULT, COLUMN_COMMENT FROM information_schema.columns WHERE TABLE_SCHEMA = 'sales' AND TABLE_NAME = '{table}' ORDER BY ORDINAL_POSITION"))
        .into_iter()
        .map(|r| starrocks_bbr::fingerprint::ColumnDef {
            name: r[0].clone().unwrap_or_default(),
            column_type: r[1].clone().unwrap_or_default(),
            nullable: r[2].clone().unwrap_or_default(),
            key: r[3].clone().unwrap_or_default(),
            default: r[4].clone(),
            comment: r[5].clone().unwrap_or_default(),
        })
        .collect()
}

/// (partition key, `partition_key=..|distribution_key=..`) of a demo table.
fn keys_of(env: &Env, table: &str) -> (String, String) {
    let keys = env.query(&format!("SELECT PARTITION_KEY, DISTRIBUTION_KEY FROM information_schema.partitions_meta WHERE DB_NAME = 'sales' AND TABLE_NAME = '{table}' LIMIT 1"));
    let pkey = keys[0][0].clone().unwrap_or_default();
    let text = format!(
        "partition_key={pkey}|distribution_key={}",
        keys[0][1].clone().unwrap_or_default()
    );
    (pkey, text)
}

/// The previous algorithm's value (bare hex: columns and keys only).
fn legacy_of(env: &Env, table: &str) -> String {
    starrocks_bbr::fingerprint::legacy(&column_defs(env, table), &keys_of(env, table).1)
}

/// One more row in a partition of orders, then `backup` (exit 0): (stdout, stderr).
fn load_and_back_up(env: &Env) -> (String, String) {
    env.sim.load("sales", "orders", "p20260101", 1).unwrap();
    let o = env.run(&["backup"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    (String::from_utf8_lossy(&o.stdout).to_string(), err)
}

fn backed_up_before_the_upgrade() -> Env {
    backed_up_recording(legacy_of)
}

#[test]
fn fingerprints_recorded_by_the_previous_algorithm_take_each_table_whole_once() {
    // a history written before `v2:` fingerprints cannot be compared (that format did not cover
    // COMMENT, DEFAULT, ...): each table is taken whole once, the log says why per table, and
    // the run records v2 so the next run is incremental again
    if skip_on_real_cluster("legacy_fingerprints") {
        return;
    }
    let env = backed_up_before_the_upgrade();
    let (out, err) = load_and_back_up(&env);
    let sent = last_backup_sent(&env);
    assert!(
        sent.contains("`orders`") && sent.contains("`customers`") && !sent.contains("PARTITION"),
        "{sent}"
    );
    for t in ["sales.orders", "sales.customers"] {
        assert!(err.contains(&format!("{t}: the last backup recorded an older-format schema fingerprint that cannot be compared")), "{err}");
    }
    assert!(out.contains("FINISHED (incremental"), "{out}");
    let fps = env.query("SELECT DISTINCT schema_fingerprint FROM ops.backup_partitions WHERE label = (SELECT MAX(label) FROM ops.backup_history WHERE status = 'FINISHED' AND label LIKE 'bbr_sales_%')");
    assert!(
        fps.iter()
            .all(|r| r[0].as_deref().is_some_and(|f| f.starts_with("v3:"))),
        "{fps:?}"
    );
    // once recorded in the current format, back to incrementals
    env.sim.load("sales", "orders", "p20260101", 1).unwrap();
    let out = env.run_ok(&["backup"], 0);
    assert!(out.contains("FINISHED (incremental, 1 partitions"), "{out}");
}

#[test]
fn a_comment_changed_after_the_last_pre_upgrade_backup_still_restores() {
    // the old format never saw COMMENT: comparing on what it covered would have given "old
    // schema full + new schema incremental", which RESTORE cancels (RestoreJob.java:646-690)
    if skip_on_real_cluster("legacy_fingerprints_comment") {
        return;
    }
    let env = backed_up_before_the_upgrade();
    env.query("ALTER TABLE sales.orders MODIFY COLUMN amount COMMENT 'in EUR'");
    env.sim.load("sales", "orders", "p20260102", 3).unwrap();
    env.run_ok(&["backup"], 0);
    assert!(!last_backup_sent(&env).contains("PARTITION"));
    let want = parts(&env, "sales", "orders");
    let target = (snapshot_at(&env, &last(&env).0) + chrono::Duration::seconds(1))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    env.sim.drop_table("sales", "orders").unwrap();
    let out = env.run_ok(
        &["restore", "--table", "sales.orders", "--timestamp", &target],
        0,
    );
    assert!(out.contains("FINISHED"), "{out}");
    assert_eq!(parts(&env, "sales", "orders"), want);
}

/// Rewrites the recorded fingerprint of every manifest row of `table` (backup_partitions is a
/// DUPLICATE KEY table: no UPDATE; copy the rows with the new value, delete the old ones).
/// Rewrites the recorded fingerprint of `table` in both manifest tables (backup_partitions rows and
/// the lean manifests' backup_tables rows, which the base is read from); DUPLICATE KEY tables take
/// no UPDATE, so the rows are copied edited and the old ones deleted.
fn set_fingerprint(env: &Env, table: &str, fp: &str) {
    for ops_table in ["backup_partitions", "backup_tables"] {
        set_fingerprint_in(env, ops_table, table, fp);
    }
}

fn set_fingerprint_in(env: &Env, ops_table: &str, table: &str, fp: &str) {
    let cols: Vec<String> = env
        .query(&format!("SELECT COLUMN_NAME FROM information_schema.columns WHERE TABLE_SCHEMA = 'ops' AND TABLE_NAME = '{ops_table}' ORDER BY ORDINAL_POSITION"))
        .into_iter()
        .map(|r| r[0].clone().unwrap())
        .collect();
    let old: Vec<String> = env
        .query(&format!(
            "SELECT DISTINCT schema_fingerprint FROM ops.{ops_table} WHERE table_name = '{table}'"
        ))
        .into_iter()
        .map(|r| r[0].clone().unwrap())
        .collect();
    let select: Vec<String> = cols
        .iter()
        .map(|c| {
            if c == "schema_fingerprint" {
                format!("'{fp}'")
            } else {
                format!("`{c}`")
            }
        })
        .collect();
    let list: Vec<String> = cols.iter().map(|c| format!("`{c}`")).collect();
    env.query(&format!(
        "INSERT INTO ops.{ops_table} ({}) SELECT {} FROM ops.{ops_table} WHERE table_name = '{table}'",
        list.join(", "),
        select.join(", ")
    ));
    for o in old.into_iter().filter(|o| o != fp) {
        env.query(&format!(
            "DELETE FROM ops.{ops_table} WHERE table_name = '{table}' AND schema_fingerprint = '{o}'"
        ));
    }
}

/// What `state` hashes into a v2 fingerprint for the demo tables (no bloom filter, no rollup), read
/// over the wire the same way.
fn v2_of(env: &Env, table: &str) -> String {
    use starrocks_bbr::fingerprint::{v2, TableDesign};
    let (pkey, keys) = keys_of(env, table);
    let design = TableDesign {
        keys,
        partition_type: if pkey.is_empty() {
            "unpartitioned"
        } else {
            "range"
        },
        ..TableDesign::default()
    };
    v2(&column_defs(env, table), &design)
}

/// A history whose last backup recorded `v2:` fingerprints (the previous version of the tool).
fn backed_up_with_v2() -> Env {
    backed_up_recording(v2_of)
}

#[test]
fn v2_fingerprints_that_todays_discovery_reproduces_take_no_table_whole() {
    // v3 adds what v2 did not hash; a recorded v2 is compared with today's v2 from the same
    // discovery: equal means unchanged (no storm of whole backups), said once in the log
    if skip_on_real_cluster("v2_fingerprints") {
        return;
    }
    let env = backed_up_with_v2();
    let (out, err) = load_and_back_up(&env);
    assert!(out.contains("FINISHED (incremental, 1 partitions"), "{out}");
    assert_eq!(
        err.matches(
            "2 table(s) recorded a v2 schema fingerprint that today's discovery reproduces"
        )
        .count(),
        1,
        "{err}"
    );
    let fps = env.query("SELECT DISTINCT schema_fingerprint FROM ops.backup_tables WHERE label = (SELECT MAX(label) FROM ops.backup_history WHERE status = 'FINISHED' AND label LIKE 'bbr_sales_%')");
    assert!(
        fps.iter()
            .all(|r| r[0].as_deref().is_some_and(|f| f.starts_with("v3:"))),
        "{fps:?}"
    );
    // a v2 that today's v2 does not reproduce is a real change: that table alone is taken whole
    let env = backed_up_with_v2();
    env.query("ALTER TABLE sales.orders MODIFY COLUMN amount COMMENT 'in EUR'");
    let plan = env.run_ok(&["backup", "--dry-run"], 0);
    assert!(plan.contains("schema changed"), "{plan}");
    let o = env.run(&["backup"]);
    let err = stderr(&o);
    assert!(
        err.contains("1 table(s) recorded a v2 schema fingerprint"),
        "{err}"
    );
    let sent = last_backup_sent(&env);
    assert!(
        sent.contains("`orders`") && !sent.contains("`customers`") && !sent.contains("PARTITION"),
        "{sent}"
    );
}

/// Restores sales.orders as of the last backup into a dropped table and compares the partitions.
fn restore_latest_orders(env: &Env) {
    let want = parts(env, "sales", "orders");
    let target = (snapshot_at(env, &last(env).0) + chrono::Duration::seconds(1))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    env.sim.drop_table("sales", "orders").unwrap();
    let out = env.run_ok(
        &["restore", "--table", "sales.orders", "--timestamp", &target],
        0,
    );
    assert!(out.contains("FINISHED"), "{out}");
    assert_eq!(parts(env, "sales", "orders"), want);
}

/// On release 3.3: `before` ALTERs, a backup, then `change` ALTERs (moving no version); the next
/// backup takes orders whole for "schema changed" (said in the plan), the one after is
/// partition-level again, and the chain across the change restores.
fn whole_once_then_the_chain_restores(before: &[&str], change: &[&str]) {
    let env = Env::with(at("3.3.5"), "");
    env.run_ok(&["init"], 0);
    for sql in before {
        env.query(sql);
    }
    env.run_ok(&["backup"], 0);
    for sql in change {
        env.query(sql);
    }
    let plan = env.run_ok(&["backup", "--dry-run"], 0);
    assert!(plan.contains("schema changed"), "{change:?}: {plan}");
    let out = env.run_ok(&["backup"], 0);
    assert!(out.contains("FINISHED (incremental, 4 partitions"), "{out}");
    let sent = last_backup_sent(&env);
    assert!(
        sent.contains("`orders`") && !sent.contains("PARTITION"),
        "{sent}"
    );
    env.sim.load("sales", "orders", "p20260102", 2).unwrap();
    let out = env.run_ok(&["backup"], 0);
    assert!(out.contains("FINISHED (incremental, 1 partitions"), "{out}");
    restore_latest_orders(&env);
}

#[test]
fn a_rollup_recreated_under_its_name_with_other_columns_takes_the_table_whole() {
    // RESTORE compares a rollup's name and short-key count, not its columns (RestoreJob.java:2238-2252):
    // (dt, id) instead of (id, dt) has the same short-key count, so only v3's rollup definitions see it
    if skip_on_real_cluster("rollup_definition") {
        return;
    }
    whole_once_then_the_chain_restores(
        &["ALTER TABLE sales.orders ADD ROLLUP r1 (id, dt)"],
        &[
            "ALTER TABLE sales.orders DROP ROLLUP r1",
            "ALTER TABLE sales.orders ADD ROLLUP r1 (dt, id)",
        ],
    );
}

#[test]
fn bucket_count_changes_take_the_table_whole_where_restore_would_refuse() {
    // 4.1: DEFAULT BUCKETS changes only new partitions' count; a link adding partitions is fine,
    // but a partition re-created since (INSERT OVERWRITE takes the new default) cannot overwrite
    // its older copy (`bucket num is inconsistent`, sim/tests/signature.rs)
    if skip_on_real_cluster("bucket_counts") {
        return;
    }
    let env = Env::with(at("4.1.0"), "");
    env.run_ok(&["init"], 0);
    env.run_ok(&["backup"], 0);
    env.query("ALTER TABLE sales.orders DISTRIBUTED BY HASH(id) DEFAULT BUCKETS 4");
    // the default distribution is part of the fingerprint: taken whole once
    let out = env.run_ok(&["backup"], 0);
    assert!(out.contains("FINISHED (incremental, 4 partitions"), "{out}");
    assert!(!last_backup_sent(&env).contains("PARTITION"));
    // a new partition (4 buckets beside 1-bucket ones) only adds: partition-level
    env.query("ALTER TABLE sales.orders ADD PARTITION p20260105 VALUES LESS THAN (\"2026-01-06\")");
    env.sim.load("sales", "orders", "p20260105", 3).unwrap();
    let out = env.run_ok(&["backup"], 0);
    assert!(out.contains("FINISHED (incremental, 1 partitions"), "{out}");
    // an old partition re-created with the new count: the table goes whole, the reason shown
    let job = env
        .sim
        .begin_insert_overwrite("sales", "orders", &["p20260101"])
        .unwrap();
    env.sim
        .finish_insert_overwrite("sales", "orders", job, 4)
        .unwrap();
    let plan = env.run_ok(&["backup", "--dry-run"], 0);
    assert!(plan.contains("different bucket counts"), "{plan}");
    let out = env.run_ok(&["backup"], 0);
    assert!(out.contains("FINISHED (incremental, 5 partitions"), "{out}");
    assert!(!last_backup_sent(&env).contains("PARTITION"));
    // loads alone stay partition-level; the chain restores
    env.sim.load("sales", "orders", "p20260102", 2).unwrap();
    let out = env.run_ok(&["backup"], 0);
    assert!(out.contains("FINISHED (incremental, 1 partitions"), "{out}");
    restore_latest_orders(&env);
}

#[test]
fn a_new_sort_key_takes_the_table_whole() {
    // ORDER BY changes the base index's short-key count, which RESTORE compares, without moving
    // a version: v3 hashes tables_config SORT_KEY
    if skip_on_real_cluster("sort_key") {
        return;
    }
    whole_once_then_the_chain_restores(&[], &["ALTER TABLE sales.orders ORDER BY (id, dt)"]);
}
