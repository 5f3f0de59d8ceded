//! Restores of tables StarRocks's partition scheduler prunes (dynamic partitioning with a start,
//! partition TTL), end to end over the wire: the restore switches the dropping property off, so a
//! scheduler pass after it (RestoreJob.java:1929-1939 registers the restored table) keeps every
//! restored partition; backups across scheduler drops and adds restore both points.

mod common;
use common::*;
use starrocks_sim::SimOptions;
use std::time::Duration;

type Parts = Vec<(String, u64, u64)>;

/// sales.ev: five daily partitions 2025-12-28 .. 2026-01-01 with rows, `props` appended to its
/// PROPERTIES, and ev added to the config's tables.
fn add_daily_table(env: &Env, table: &str, props: &str) {
    let days = [
        ("2025-12-28", "2025-12-29"),
        ("2025-12-29", "2025-12-30"),
        ("2025-12-30", "2025-12-31"),
        ("2025-12-31", "2026-01-01"),
        ("2026-01-01", "2026-01-02"),
    ];
    let parts: Vec<String> = days
        .iter()
        .map(|(lo, hi)| {
            format!(
                "PARTITION p{} VALUES [(\"{lo}\"), (\"{hi}\"))",
                lo.replace('-', "")
            )
        })
        .collect();
    env.query(&format!(
        "CREATE TABLE sales.{table} (id BIGINT, dt DATE) DUPLICATE KEY(id) PARTITION BY RANGE(dt) ({}) \
         DISTRIBUTED BY HASH(id) BUCKETS 1 PROPERTIES (\"replication_num\" = \"1\"{props})",
        parts.join(", ")
    ));
    for (lo, _) in days {
        env.sim
            .load("sales", table, &format!("p{}", lo.replace('-', "")), 3)
            .unwrap();
    }
    let text = std::fs::read_to_string(&env.config).unwrap().replacen(
        "  - sales.customers\n",
        &format!("  - sales.customers\n  - sales.{table}\n"),
        1,
    );
    std::fs::write(&env.config, text).unwrap();
}

const DYNAMIC: &str = r#", "dynamic_partition.enable" = "true", "dynamic_partition.time_unit" = "DAY", "dynamic_partition.start" = "-3", "dynamic_partition.end" = "1", "dynamic_partition.prefix" = "p""#;

fn now(env: &Env) -> String {
    env.sim.now().format("%Y-%m-%d %H:%M:%S").to_string()
}

/// Runs restore and returns (stdout, stderr).
fn restore(env: &Env, args: &[&str]) -> (String, String) {
    let mut a = vec!["restore"];
    a.extend_from_slice(args);
    let o = env.run(&a);
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout).to_string(),
        String::from_utf8_lossy(&o.stderr).to_string(),
    );
    assert_eq!(o.status.code(), Some(0), "{a:?}\n{out}\n{err}");
    (out, err)
}

/// Ten minutes and more later (one `dynamic_partition_check_interval_seconds`), the scheduler ran.
fn scheduler_runs(env: &Env) {
    env.sim.advance(Duration::from_secs(20 * 60));
    env.sim.run_partition_scheduler();
}

#[test]
fn a_restored_dynamic_table_keeps_its_partitions_at_both_points_across_scheduler_drops() {
    if skip_on_real_cluster("dynamic partitions need the simulator's scheduler knob") {
        return;
    }
    let env = Env::demo();
    add_daily_table(&env, "ev", DYNAMIC);
    env.run_ok(&["init"], 0);
    env.run_ok(&["backup"], 0);
    let first: Parts = env.sales_parts("ev");
    env.sim.advance(Duration::from_secs(5));
    let at_first = now(&env);
    // ten days on the scheduler dropped the old days and added today and tomorrow: a partition
    // change like any other (drops become tombstones, adds are new partitions)
    env.sim.advance(Duration::from_secs(10 * 86400));
    let act = env.sim.run_partition_scheduler();
    assert_eq!(act[0].dropped.len(), 5, "{act:?}");
    env.sim.load("sales", "ev", "p20260111", 2).unwrap();
    env.run_ok(&["backup"], 0);
    let second: Parts = env.sales_parts("ev");
    assert_ne!(first, second);
    env.sim.advance(Duration::from_secs(5));
    let at_second = now(&env);

    // the older point, beside the live table: everything StarRocks would prune is kept
    let (_, err) = restore(
        &env,
        &[
            "--table",
            "sales.ev",
            "--timestamp",
            &at_first,
            "--as",
            "ev_old",
        ],
    );
    assert!(
        err.contains("sales.ev_old: switched the partition scheduler off (dynamic_partition.start = -3 (DAY)"),
        "{err}"
    );
    assert!(
        err.contains(r#"ALTER TABLE `sales`.`ev_old` SET ("dynamic_partition.enable" = "true")"#),
        "{err}"
    );
    let alters: Vec<String> = env
        .sent()
        .into_iter()
        .filter(|s| s.starts_with("ALTER TABLE"))
        .collect();
    // sent to the name the restore works under (renamed to ev_old at the end), before the rename
    assert!(
        alters[0].starts_with("ALTER TABLE `sales`.`ev_old")
            && alters[0].ends_with(r#"SET ("dynamic_partition.enable" = "false")"#)
            && alters[1].ends_with("RENAME `ev_old`"),
        "{alters:?}"
    );
    scheduler_runs(&env);
    assert_eq!(env.sales_parts("ev_old"), first);

    // the newer point, replacing the live table (swapped in with its properties switched off)
    restore(
        &env,
        &[
            "--table",
            "sales.ev",
            "--timestamp",
            &at_second,
            "--replace",
        ],
    );
    scheduler_runs(&env);
    assert_eq!(env.sales_parts("ev"), second);

    // a plain restore of a dropped table
    env.sim.drop_table("sales", "ev").unwrap();
    restore(&env, &["--table", "sales.ev", "--timestamp", &at_first]);
    scheduler_runs(&env);
    assert_eq!(env.sales_parts("ev"), first);
}

#[test]
fn restored_ttl_and_dynamic_tables_keep_their_partitions_on_each_release_and_the_output_names_the_property(
) {
    if skip_on_real_cluster("partition TTL needs the simulator's scheduler knob") {
        return;
    }
    // partition_live_number (3.0+) on the default release, partition_ttl on 3.4; dynamic
    // partitioning on the oldest and newest releases in scope
    for (release, props, named) in [
        (
            "2.5.0",
            DYNAMIC,
            "dynamic_partition.start = -3 (DAY): the scheduler drops every partition that ends before the start of the day 3 day(s) ago",
        ),
        (
            "4.1.0",
            DYNAMIC,
            "switched the partition scheduler off (dynamic_partition.start = -3 (DAY)",
        ),
        (
            "3.1.9",
            r#", "partition_live_number" = "2""#,
            "partition_live_number = 2: the scheduler keeps only the newest 2",
        ),
        (
            "3.4.0",
            r#", "partition_ttl" = "3 day""#,
            "partition_ttl = 3 day: the scheduler drops every partition that ended more than 3 day ago",
        ),
    ] {
        let env = Env::with(
            SimOptions {
                release: release.into(),
                ..sim_options()
            },
            "",
        );
        add_daily_table(&env, "ev", props);
        env.run_ok(&["init"], 0);
        env.run_ok(&["backup"], 0);
        let want = env.sales_parts("ev");
        env.sim.advance(Duration::from_secs(5));
        let at = now(&env);
        env.sim.drop_table("sales", "ev").unwrap();
        env.sim.advance(Duration::from_secs(10 * 86400));
        let (_, err) = restore(&env, &["--table", "sales.ev", "--timestamp", &at]);
        assert!(err.contains(named), "{release}: {err}");
        scheduler_runs(&env);
        assert_eq!(env.sales_parts("ev"), want, "{release}");
    }
}

#[test]
fn tables_restored_together_are_each_switched_off() {
    if skip_on_real_cluster("dynamic partitions need the simulator's scheduler knob") {
        return;
    }
    let env = Env::demo();
    add_daily_table(&env, "ev", DYNAMIC);
    add_daily_table(&env, "ev2", r#", "partition_live_number" = "1""#);
    env.run_ok(&["init"], 0);
    env.run_ok(&["backup"], 0);
    let (want, want2) = (env.sales_parts("ev"), env.sales_parts("ev2"));
    env.sim.advance(Duration::from_secs(5));
    let at = now(&env);
    env.sim.drop_table("sales", "ev").unwrap();
    env.sim.drop_table("sales", "ev2").unwrap();
    env.sim.advance(Duration::from_secs(10 * 86400));
    let (_, err) = restore(
        &env,
        &[
            "--table",
            "sales.ev",
            "--table",
            "sales.ev2",
            "--timestamp",
            &at,
        ],
    );
    assert!(err.contains("sales.ev: switched"), "{err}");
    assert!(err.contains("sales.ev2: switched"), "{err}");
    scheduler_runs(&env);
    assert_eq!(env.sales_parts("ev"), want);
    assert_eq!(env.sales_parts("ev2"), want2);
}

#[test]
fn the_dry_run_shows_the_switch_off_and_sends_nothing() {
    if skip_on_real_cluster("the dry run test drops a table through the simulator") {
        return;
    }
    let env = Env::demo();
    add_daily_table(&env, "ev", DYNAMIC);
    env.run_ok(&["init"], 0);
    env.run_ok(&["backup"], 0);
    env.sim.advance(Duration::from_secs(5));
    let at = now(&env);
    env.sim.drop_table("sales", "ev").unwrap();
    let before = env.sent().len();
    let out = env.run_ok(
        &[
            "restore",
            "--table",
            "sales.ev",
            "--timestamp",
            &at,
            "--dry-run",
        ],
        0,
    );
    let plan: serde_json::Value = serde_json::from_str(&out).unwrap();
    let steps = plan["steps"].as_array().unwrap();
    let kinds: Vec<&str> = steps.iter().map(|s| s["kind"].as_str().unwrap()).collect();
    let poll = kinds.iter().position(|k| *k == "PollRestore").unwrap();
    assert_eq!(kinds[poll + 1], "StopPartitionScheduler", "{kinds:?}");
    let step = &steps[poll + 1];
    assert!(step["sql"]
        .as_str()
        .unwrap()
        .starts_with("SELECT TABLE_NAME, PROPERTIES FROM information_schema.tables_config"));
    let alters: Vec<&str> = step["details"]["tables"][0]["switch_off"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["sql"].as_str().unwrap())
        .collect();
    assert!(
        alters.contains(&r#"ALTER TABLE `sales`.`ev` SET ("dynamic_partition.enable" = "false")"#),
        "{alters:?}"
    );
    // a dry run sends only SELECT / SHOW
    for s in &env.sent()[before..] {
        let up = s.trim_start().to_ascii_uppercase();
        assert!(
            up.starts_with("SELECT")
                || up.starts_with("SHOW")
                || up.starts_with("ADMIN SHOW")
                || up.starts_with("SET"),
            "{s}"
        );
    }
}
