//! Issue 11 over the wire: `--as`, `--replace`, a failed later link leaving the target as it was,
//! and a table dropped between two RESTORE links (issue 9).

mod common;
use common::*;
use starrocks_sim::JobKind;
use std::time::Duration;

type Parts = Vec<(String, u64, u64)>;

fn parts(env: &Env, table: &str) -> Parts {
    env.parts(table)
}

fn backup(env: &Env) -> String {
    env.backup_finished()
}

fn snapshot_at(env: &Env, label: &str) -> String {
    let r = env.query(&format!(
        "SELECT snapshot_at FROM ops.backup_history WHERE label = '{label}'"
    ));
    r[0][0].clone().unwrap()[..19].to_string()
}

/// Full (parts at t0), then incr2 changing p20260102 and p20260103: as of incr2 the chain has two links.
fn two_links(env: &Env) -> (String, String, Parts, Parts) {
    env.run_ok(&["init"], 0);
    let full = backup(env);
    let at_full = parts(env, "orders");
    env.sim.load("sales", "orders", "p20260102", 5).unwrap();
    env.sim.load("sales", "orders", "p20260103", 7).unwrap();
    let incr = backup(env);
    let at_incr = parts(env, "orders");
    assert_ne!(at_full, at_incr);
    (full, incr, at_full, at_incr)
}

fn restore(env: &Env, at: &str, extra: &[&str]) -> std::process::Output {
    let mut a = vec!["restore", "--table", "sales.orders", "--timestamp", at];
    a.extend_from_slice(extra);
    env.run(&a)
}

fn sent_like(env: &Env, prefix: &str) -> Vec<String> {
    env.sent_like(prefix)
}

fn tables(env: &Env) -> Vec<String> {
    env.query("SELECT TABLE_NAME FROM information_schema.tables WHERE TABLE_SCHEMA = 'sales' ORDER BY TABLE_NAME")
        .into_iter()
        .map(|r| r[0].clone().unwrap_or_default())
        .collect()
}

fn restore_rows(env: &Env) -> Vec<(String, String, Option<String>)> {
    env.query(
        "SELECT label, status, error_message FROM ops.restore_history ORDER BY started_at, label",
    )
    .into_iter()
    .map(|r| {
        (
            r[0].clone().unwrap_or_default(),
            r[1].clone().unwrap_or_default(),
            r[2].clone(),
        )
    })
    .collect()
}

#[test]
fn restore_as_builds_beside_the_live_table() {
    if skip_on_real_cluster("restore_as") {
        return;
    }
    let env = Env::demo();
    let (full, _, at_full, at_incr) = two_links(&env);
    env.sim.clear_statements();
    let o = restore(&env, &snapshot_at(&env, &full), &["--as", "orders_then"]);
    assert_eq!(o.status.code(), Some(0), "{}", last_line(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("as sales.orders_then"), "{out}");
    let r = sent_like(&env, "RESTORE");
    assert_eq!(r.len(), 1, "{r:?}");
    // staged under a name of this attempt, then renamed: NAME never holds a partial table
    assert!(r[0].contains("AS `orders_then_bbr_"), "{}", r[0]);
    let renames = sent_like(&env, "ALTER TABLE");
    assert_eq!(renames.len(), 1, "{renames:?}");
    assert!(
        renames[0].starts_with("ALTER TABLE `sales`.`orders_then_bbr_")
            && renames[0].ends_with("RENAME `orders_then`"),
        "{}",
        renames[0]
    );
    assert_eq!(
        parts(&env, "orders"),
        at_incr,
        "the live table is untouched"
    );
    assert_eq!(parts(&env, "orders_then"), at_full);
    let h = restore_rows(&env);
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].1, "FINISHED");
    // the name is taken now: refused before anything is written
    let o = restore(&env, &snapshot_at(&env, &full), &["--as", "orders_then"]);
    assert_eq!(o.status.code(), Some(4), "{}", last_line(&o));
    assert!(last_line(&o).contains("sales.orders_then exists"));
    assert_eq!(restore_rows(&env).len(), 1);
}

#[test]
fn restore_as_over_two_links_builds_under_the_snapshot_name_then_renames() {
    if skip_on_real_cluster("restore_as_chain") {
        return;
    }
    let env = Env::demo();
    let (_, incr, _, at_incr) = two_links(&env);
    let at = snapshot_at(&env, &incr);
    // the live table holds the snapshot's name: StarRocks cannot build the chain elsewhere
    env.sim.clear_statements();
    let o = restore(&env, &at, &["--as", "orders_then"]);
    assert_eq!(o.status.code(), Some(2), "{}", last_line(&o));
    assert!(
        last_line(&o).contains("snapshot's table name"),
        "{}",
        last_line(&o)
    );
    assert!(sent_like(&env, "RESTORE").is_empty());
    assert!(restore_rows(&env).is_empty());
    env.sim.drop_table("sales", "orders").unwrap();
    let o = restore(&env, &at, &["--as", "orders_then"]);
    assert_eq!(o.status.code(), Some(0), "{}", last_line(&o));
    assert_eq!(parts(&env, "orders_then"), at_incr);
    assert!(!env.sim.table_exists("sales", "orders"));
    let renames = sent_like(&env, "ALTER TABLE");
    assert_eq!(
        renames,
        ["ALTER TABLE `sales`.`orders` RENAME `orders_then`"]
    );
}

#[test]
fn replace_swaps_the_restored_table_in_and_keeps_the_previous_one() {
    if skip_on_real_cluster("restore_replace") {
        return;
    }
    let env = Env::demo();
    let (full, incr, at_full, at_incr) = two_links(&env);
    env.sim.clear_statements();
    let o = restore(&env, &snapshot_at(&env, &full), &["--replace"]);
    assert_eq!(o.status.code(), Some(0), "{}", last_line(&o));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    let kept = out
        .split("the previous table is kept as sales.")
        .nth(1)
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| panic!("{out}"));
    assert!(kept.starts_with("orders_bbr_"), "{kept}");
    let swaps = sent_like(&env, "ALTER TABLE");
    assert_eq!(
        swaps,
        [format!("ALTER TABLE `sales`.`orders` SWAP WITH `{kept}`")]
    );
    let r = sent_like(&env, "RESTORE");
    assert!(r[0].contains(&format!("AS `{kept}`")), "{}", r[0]);
    assert_eq!(parts(&env, "orders"), at_full);
    assert_eq!(parts(&env, &kept), at_incr, "the previous table is kept");
    // over two links --replace cannot work (the chain must be built under the live name):
    // refused before anything is written
    env.sim.clear_statements();
    let before = restore_rows(&env).len();
    let o = restore(&env, &snapshot_at(&env, &incr), &["--replace"]);
    assert_eq!(o.status.code(), Some(2), "{}", last_line(&o));
    assert!(last_line(&o).contains("--replace needs a restore from one snapshot"));
    assert_eq!(restore_rows(&env).len(), before);
    assert!(sent_like(&env, "RESTORE").is_empty());
}

/// Plain restore over two links whose second link fails as `fault` arranges: exit 1, the target name
/// is free again (the partial table renamed aside and named in the error), and a rerun succeeds.
fn second_link_fails(fault: impl FnOnce(&Env, &str)) {
    let env = Env::demo();
    let (_, incr, _, at_incr) = two_links(&env);
    let at = snapshot_at(&env, &incr);
    env.sim.drop_table("sales", "orders").unwrap();
    fault(&env, &incr);
    let o = restore(&env, &at, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", last_line(&o));
    let line = last_line(&o);
    assert!(
        !env.sim.table_exists("sales", "orders"),
        "target untouched: {line}"
    );
    let aside: Vec<String> = tables(&env)
        .into_iter()
        .filter(|t| t.starts_with("orders_bbr_partial_"))
        .collect();
    assert_eq!(aside.len(), 1, "{:?}", tables(&env));
    assert!(line.contains(&format!("sales.{}", aside[0])), "{line}");
    assert!(line.contains("DROP TABLE"), "{line}");
    let h = restore_rows(&env);
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].1, "FAILED");
    assert!(h[0].2.as_deref().unwrap_or_default().contains(&aside[0]));
    env.sim.advance(Duration::from_secs(60));
    let o = restore(&env, &at, &[]);
    assert_eq!(o.status.code(), Some(0), "rerun: {}", last_line(&o));
    assert_eq!(parts(&env, "orders"), at_incr);
}

#[test]
fn a_second_restore_cancelled_leaves_the_target_as_it_was() {
    if skip_on_real_cluster("second_link_cancelled") {
        return;
    }
    second_link_fails(|env, _| {
        env.sim.on_statement(
            "^RESTORE",
            Box::new(|sim| sim.cancel_next_job("[COMMON_ERROR, msg: injected download failure]")),
        );
    });
}

#[test]
fn a_second_restore_refused_at_submission_leaves_the_target_as_it_was() {
    if skip_on_real_cluster("second_link_refused") {
        return;
    }
    second_link_fails(|env, incr| {
        env.sim.fail_once(
            &format!("^RESTORE SNAPSHOT `sales`.`{incr}`"),
            5064,
            "Table orders does not exist in snapshot x",
        );
    });
}

#[test]
fn a_table_dropped_between_two_links_stops_the_restore() {
    if skip_on_real_cluster("dropped_between_links") {
        return;
    }
    let env = Env::demo();
    let (full, incr, _, _) = two_links(&env);
    let at = snapshot_at(&env, &incr);
    env.sim.drop_table("sales", "orders").unwrap();
    // the first RESTORE finishes at once, then the table is dropped before the second is sent
    env.sim.on_statement(
        "^RESTORE",
        Box::new(|sim| {
            sim.advance(Duration::from_secs(60));
            sim.drop_table("sales", "orders").unwrap();
        }),
    );
    env.sim.clear_statements();
    let o = restore(&env, &at, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", last_line(&o));
    assert!(
        last_line(&o).contains("was dropped after 1 of 2"),
        "{}",
        last_line(&o)
    );
    let r = sent_like(&env, "RESTORE");
    assert_eq!(
        r.len(),
        1,
        "no second RESTORE re-creates it partially: {r:?}"
    );
    assert!(r[0].contains(&full));
    assert!(!env.sim.table_exists("sales", "orders"));
    let jobs: Vec<_> = env
        .sim
        .jobs()
        .into_iter()
        .filter(|j| j.kind == JobKind::Restore)
        .collect();
    assert_eq!(jobs.len(), 1);
}

fn target_times(env: &Env) -> Vec<String> {
    env.query("SELECT target_time FROM ops.restore_history ORDER BY started_at")
        .into_iter()
        .map(|r| r[0].clone().unwrap_or_default()[..19].to_string())
        .collect()
}

#[test]
fn timestamp_latest_and_explicit_offsets() {
    if skip_on_real_cluster("timestamp_forms") {
        return;
    }
    let env = Env::demo();
    let (_, incr, at_full, at_incr) = two_links(&env);
    let at = snapshot_at(&env, &incr);
    env.sim.drop_table("sales", "orders").unwrap();
    // latest: the newest backup holding the table
    let o = restore(&env, "latest", &[]);
    assert_eq!(o.status.code(), Some(0), "{}", last_line(&o));
    assert_eq!(parts(&env, "orders"), at_incr);
    assert_eq!(target_times(&env), vec![at.clone()]);
    // the same instant written at +08:00 (the session zone is +00:00): converted
    let t = chrono::NaiveDateTime::parse_from_str(&at, "%Y-%m-%d %H:%M:%S").unwrap();
    let plus8 = |d: i64| {
        (t + chrono::Duration::hours(8) + chrono::Duration::seconds(d))
            .format("%Y-%m-%d %H:%M:%S+08:00")
            .to_string()
    };
    env.sim.drop_table("sales", "orders").unwrap();
    let o = restore(&env, &plus8(0), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", last_line(&o));
    assert_eq!(parts(&env, "orders"), at_incr);
    // one second earlier: before the incremental, so the full backup's state
    let o = restore(&env, &plus8(-1), &["--as", "orders_before"]);
    assert_eq!(o.status.code(), Some(0), "{}", last_line(&o));
    assert_eq!(parts(&env, "orders_before"), at_full);
    let times = target_times(&env);
    assert_eq!(times[1], at);
    assert_eq!(
        times[2],
        (t - chrono::Duration::seconds(1))
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    );
    let o = restore(&env, "2026-01-01 00:00:00 UTC", &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(last_line(&o).contains("or latest"), "{}", last_line(&o));
}

#[test]
fn a_table_never_backed_up_says_so_and_lists_the_history() {
    if skip_on_real_cluster("never_backed_up") {
        return;
    }
    let env = Env::demo();
    two_links(&env);
    let o = env.run(&["restore", "--table", "sales.nope", "--timestamp", "latest"]);
    assert_eq!(o.status.code(), Some(2), "{}", last_line(&o));
    let line = last_line(&o);
    assert!(line.contains("sales.nope was never backed up"), "{line}");
    assert!(line.contains("customers, orders"), "{line}");
}

#[test]
fn list_filters_restores_and_restorable_at() {
    if skip_on_real_cluster("list_filters") {
        return;
    }
    let env = Env::demo();
    let (full, incr, at_full, _) = two_links(&env);
    let json = |args: &[&str]| -> Vec<serde_json::Value> {
        let mut a = vec!["list", "--format", "json"];
        a.extend_from_slice(args);
        serde_json::from_str::<serde_json::Value>(&env.run_ok(&a, 0))
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    };
    // newest FINISHED of sales, one row: restorable_at is its snapshot_at, zone named
    let v = json(&[
        "--database",
        "sales",
        "--status",
        "finished",
        "--limit",
        "1",
    ]);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0]["label"], incr.as_str());
    assert_eq!(v[0]["restorable_at"], snapshot_at(&env, &incr).as_str());
    assert_eq!(v[0]["time_zone"], "+00:00");
    assert!(json(&["--database", "hr"]).is_empty());
    assert!(json(&["--status", "FAILED"]).is_empty());
    let table = env.run_ok(&["list"], 0);
    assert!(
        table.lines().next().unwrap().contains("RESTORABLE_AT"),
        "{table}"
    );
    assert!(table.contains("session time zone, UTC+00:00"), "{table}");
    // a RESTORABLE_AT taken from list is a working --timestamp
    let all = json(&[]);
    let full_at = all.iter().find(|e| e["label"] == full.as_str()).unwrap()["restorable_at"]
        .as_str()
        .unwrap()
        .to_string();
    let o = restore(&env, &full_at, &["--as", "orders_then"]);
    assert_eq!(o.status.code(), Some(0), "{}", last_line(&o));
    assert_eq!(parts(&env, "orders_then"), at_full);
    // --restores: table, target time, chain length, status
    let r = json(&["--restores"]);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0]["table"], "orders");
    assert_eq!(r[0]["target_time"], full_at.as_str());
    assert_eq!(r[0]["chain_length"], 1);
    assert_eq!(r[0]["status"], "FINISHED");
    assert!(json(&["--restores", "--status", "FAILED"]).is_empty());
    let t = env.run_ok(&["list", "--restores"], 0);
    assert!(t.starts_with("LABEL") && t.contains("sales.orders"), "{t}");
    let o = env.run(&["list", "--status", "done"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        last_line(&o).contains("--status 'done'"),
        "{}",
        last_line(&o)
    );
}

#[test]
fn a_table_with_ten_thousand_partitions_restores_within_one_string_cell() {
    if skip_on_real_cluster("ten_thousand_partitions") {
        return;
    }
    use starrocks_sim::{PartitionSpec, TableSpec};
    let env = Env::demo();
    env.sim.drop_table("sales", "orders").unwrap();
    let start = chrono::NaiveDate::from_ymd_opt(2000, 1, 1).unwrap();
    let specs: Vec<PartitionSpec> = (0..10_001u32)
        .map(|i| {
            let upper = start + chrono::Days::new(u64::from(i) + 1);
            PartitionSpec::less_than(&format!("p{i:05}"), &upper.format("%Y-%m-%d").to_string())
        })
        .collect();
    env.sim
        .create_table(
            "sales",
            "orders",
            &TableSpec::new(&[("id", "BIGINT"), ("dt", "DATE"), ("amount", "INT")])
                .range("dt", specs),
        )
        .unwrap();
    env.run_ok(&["init"], 0);
    backup(&env);
    env.sim.load("sales", "orders", "p00007", 3).unwrap();
    backup(&env);
    let want = parts(&env, "orders");
    env.sim.drop_table("sales", "orders").unwrap();
    let o = restore(&env, "latest", &[]);
    assert_eq!(o.status.code(), Some(0), "{}", last_line(&o));
    assert_eq!(parts(&env, "orders"), want);
    let cells = env.query("SELECT chain, error_message FROM ops.restore_history");
    for cell in cells[0].iter().flatten() {
        assert!(cell.len() <= 65_533, "a cell of {} bytes", cell.len());
    }
    let chain = cells[0][0].clone().unwrap();
    assert!(
        chain.contains("\"partition_count\":10000"),
        "{}",
        &chain[..200.min(chain.len())]
    );
}

/// [`two_links`], then both sales tables dropped: (full, incr, incr's time, orders and customers
/// as backed up).
fn two_tables_dropped(env: &Env) -> (String, String, String, Parts, Parts) {
    let (full, incr, _, at_incr) = two_links(env);
    let customers = parts(env, "customers");
    let at = snapshot_at(env, &incr);
    env.sim.drop_table("sales", "orders").unwrap();
    env.sim.drop_table("sales", "customers").unwrap();
    env.sim.clear_statements();
    (full, incr, at, at_incr, customers)
}

#[test]
fn two_tables_of_one_database_share_restore_jobs() {
    if skip_on_real_cluster("two_tables_shared_jobs") {
        return;
    }
    let env = Env::demo();
    let (full, incr, at, at_incr, customers) = two_tables_dropped(&env);
    let both = |extra: &[&str]| {
        let mut a = vec![
            "restore",
            "--table",
            "sales.orders",
            "--table",
            "sales.customers",
            "--timestamp",
            &at,
        ];
        a.extend_from_slice(extra);
        env.run(&a)
    };
    let o = both(&[]);
    assert_eq!(o.status.code(), Some(0), "{}", last_line(&o));
    assert_eq!(parts(&env, "orders"), at_incr);
    assert_eq!(parts(&env, "customers"), customers);
    // one RESTORE per snapshot: the full backup's carries both tables
    let r = sent_like(&env, "RESTORE");
    assert_eq!(r.len(), 2, "{r:?}");
    assert!(
        r[0].contains(&full)
            && r[0].contains("`orders` PARTITION (")
            && r[0].contains("`customers` PARTITION (`customers`)"),
        "{}",
        r[0]
    );
    assert!(
        r[1].contains(&incr) && !r[1].contains("customers"),
        "{}",
        r[1]
    );
    let h = restore_rows(&env);
    assert_eq!(h.len(), 1, "one restore_history row for the run");
    assert_eq!(h[0].1, "FINISHED");
    let t = env.query("SELECT table_name FROM ops.restore_history");
    assert_eq!(t[0][0].as_deref(), Some("orders,customers"));
    // existing tables: refused before anything is written
    let o = both(&[]);
    assert_eq!(o.status.code(), Some(4), "{}", last_line(&o));
    assert_eq!(restore_rows(&env).len(), 1);
    let o = both(&["--replace"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn two_tables_whose_second_shared_job_is_cancelled_leave_both_names_free() {
    if skip_on_real_cluster("two_tables_cancelled") {
        return;
    }
    let env = Env::demo();
    let (_, _, at, at_incr, _) = two_tables_dropped(&env);
    env.sim.on_statement(
        "^RESTORE",
        Box::new(|sim| sim.cancel_next_job("[COMMON_ERROR, msg: injected download failure]")),
    );
    let args = [
        "restore",
        "--table",
        "sales.orders",
        "--table",
        "sales.customers",
        "--timestamp",
        at.as_str(),
    ];
    let o = env.run(&args);
    assert_eq!(o.status.code(), Some(1), "{}", last_line(&o));
    let line = last_line(&o);
    assert!(line.contains("injected download failure"), "{line}");
    assert!(!env.sim.table_exists("sales", "orders"), "{line}");
    assert!(!env.sim.table_exists("sales", "customers"), "{line}");
    let aside: Vec<String> = tables(&env)
        .into_iter()
        .filter(|t| t.contains("_bbr_partial_"))
        .collect();
    assert_eq!(aside.len(), 2, "{aside:?}");
    for a in &aside {
        assert!(line.contains(&format!("sales.{a}")), "{line}");
    }
    env.sim.advance(Duration::from_secs(60));
    let o = env.run(&args);
    assert_eq!(o.status.code(), Some(0), "rerun: {}", last_line(&o));
    assert_eq!(parts(&env, "orders"), at_incr);
}

#[test]
fn a_two_table_restore_killed_between_its_jobs_is_set_aside_and_redone_by_the_same_command() {
    if skip_on_real_cluster("two_tables_killed") {
        return;
    }
    let env = Env::demo();
    let (_, incr, at, at_incr, customers) = two_tables_dropped(&env);
    // the second shared RESTORE hangs unanswered (never reaches StarRocks); the run is killed
    env.sim.hang(
        &format!("^RESTORE SNAPSHOT `sales`.`{incr}`"),
        starrocks_sim::When::Before,
    );
    let args = [
        "restore",
        "--table",
        "sales.orders",
        "--table",
        "sales.customers",
        "--timestamp",
        at.as_str(),
    ];
    env.killed_run(
        &args,
        |log| {
            log.iter()
                .any(|s| s.starts_with("RESTORE") && s.contains(incr.as_str()))
        },
        Duration::from_millis(50),
    );
    assert!(env.sim.table_exists("sales", "orders"), "partly restored");
    env.sim.advance(Duration::from_secs(600));
    let o = env.run(&args);
    assert_eq!(o.status.code(), Some(0), "rerun: {}", last_line(&o));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        out.contains("left partly restored by the interrupted run"),
        "{out}"
    );
    assert_eq!(parts(&env, "orders"), at_incr);
    assert_eq!(parts(&env, "customers"), customers);
    let aside: Vec<String> = tables(&env)
        .into_iter()
        .filter(|t| t.contains("_bbr_partial_"))
        .collect();
    assert_eq!(aside.len(), 2, "{aside:?}");
    let h = restore_rows(&env);
    assert_eq!(h.len(), 2, "{h:?}");
    assert_eq!(h[0].1, "FAILED", "the dead run: {h:?}");
    assert_eq!(h[1].1, "FINISHED", "{h:?}");
}

// ---------------------------------------------------------------------------------------------
// Restores spanning databases (parallel_databases, issue 10)

fn hr_parts(env: &Env) -> Parts {
    env.parts_in("hr", "people")
}

/// Two databases backed up, then sales.orders and hr.people dropped: (target time, their parts).
fn two_databases_dropped() -> (Env, String, Parts, Parts) {
    let env = Env::two_databases("");
    env.run_ok(&["backup"], 0);
    let (orders, people) = (parts(&env, "orders"), hr_parts(&env));
    env.sim.advance(Duration::from_secs(60));
    // the simulator's session zone is UTC
    let at = env.sim.now().format("%Y-%m-%d %H:%M:%S").to_string();
    env.sim.drop_table("sales", "orders").unwrap();
    env.sim.drop_table("hr", "people").unwrap();
    env.sim.clear_statements();
    (env, at, orders, people)
}

const TWO_DBS: [&str; 4] = ["--table", "sales.orders", "--table", "hr.people"];

/// restore_history rows of one database: statuses.
fn restore_statuses(env: &Env, db: &str) -> Vec<String> {
    env.query(&format!(
        "SELECT status FROM ops.restore_history WHERE database_name = '{db}'"
    ))
    .into_iter()
    .map(|r| r[0].clone().unwrap_or_default())
    .collect()
}

#[test]
fn restores_of_two_databases_run_at_the_same_time() {
    if skip_on_real_cluster("restores_of_two_databases_run_at_the_same_time") {
        return;
    }
    let (env, at, orders, people) = two_databases_dropped();
    // Jobs frozen: a run that restored the databases one after the other would never send the
    // second RESTORE while the first job cannot finish.
    env.sim.stall_jobs(true);
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("starrocks-bbr"))
        .args(["restore", "--timestamp", &at])
        .args(TWO_DBS)
        .arg("--config")
        .arg(&env.config)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while sent_like(&env, "RESTORE").len() < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "both RESTOREs were never in flight at once: {:#?}",
            env.sent()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    env.sim.stall_jobs(false);
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("hr.people: restored as of") && stdout.contains("sales.orders: restored"),
        "{stdout}"
    );
    assert_eq!(parts(&env, "orders"), orders);
    assert_eq!(hr_parts(&env), people);
    assert_eq!(restore_statuses(&env, "sales"), ["FINISHED"]);
    assert_eq!(restore_statuses(&env, "hr"), ["FINISHED"]);
    // the same command again (what an operator does after an interruption): every database an
    // earlier run of it completed is skipped, nothing is sent
    let mut args = vec!["restore", "--timestamp", &at];
    args.extend(TWO_DBS);
    let n = sent_like(&env, "RESTORE").len();
    let again = env.run_ok(&args, 0);
    assert_eq!(
        again.matches("already restored as of").count(),
        2,
        "{again}"
    );
    assert_eq!(sent_like(&env, "RESTORE").len(), n);
    assert_eq!(restore_statuses(&env, "hr"), ["FINISHED"]);
    // each database on its own connection, its own claim
    let conns: std::collections::BTreeSet<u32> = env
        .sim
        .statements()
        .into_iter()
        .filter(|s| s.sql.starts_with("RESTORE"))
        .map(|s| s.conn_id)
        .collect();
    assert_eq!(conns.len(), 2);
}

#[test]
fn a_cancelled_restore_in_one_database_does_not_stop_the_other() {
    if skip_on_real_cluster("a_cancelled_restore_in_one_database_does_not_stop_the_other") {
        return;
    }
    let (env, at, orders, _) = two_databases_dropped();
    // hr's job is cancelled on the cluster right after it was accepted
    env.sim.on_statement(
        "^RESTORE SNAPSHOT `hr`",
        Box::new(|sim| {
            sim.execute("CANCEL RESTORE FROM `hr`").unwrap();
        }),
    );
    let mut args = vec!["restore", "--timestamp", &at];
    args.extend(TWO_DBS);
    let o = env.run(&args);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{stdout}{}", last_line(&o));
    let line = last_line(&o);
    assert!(line.contains("database hr"), "{line}");
    assert!(!line.contains("database sales"), "{line}");
    assert!(stdout.contains("sales.orders: restored as of"), "{stdout}");
    assert!(stdout.contains("hr: restore FAILED"), "{stdout}");
    assert_eq!(parts(&env, "orders"), orders);
    assert!(!env.sim.table_exists("hr", "people"));
    assert_eq!(restore_statuses(&env, "sales"), ["FINISHED"]);
    assert_eq!(restore_statuses(&env, "hr"), ["FAILED"]);
    // the failed database alone again: restored
    env.sim.advance(Duration::from_secs(60));
    env.run_ok(&["restore", "--timestamp", &at, "--table", "hr.people"], 0);
    assert_eq!(hr_parts(&env).len(), 1);
}

#[test]
fn preflight_of_every_database_comes_before_anything_is_written() {
    if skip_on_real_cluster("preflight_of_every_database_comes_before_anything_is_written") {
        return;
    }
    let (env, at, _, _) = two_databases_dropped();
    // hr.people exists again: the run refuses (exit 4) before sales' restore writes anything
    let people = starrocks_sim::TableSpec::new(&[("id", "BIGINT"), ("name", "VARCHAR(32)")]);
    env.sim.create_table("hr", "people", &people).unwrap();
    let mut args = vec!["restore", "--timestamp", &at];
    args.extend(TWO_DBS);
    let o = env.run(&args);
    assert_eq!(o.status.code(), Some(4), "{}", last_line(&o));
    assert!(last_line(&o).contains("hr.people"), "{}", last_line(&o));
    assert!(sent_like(&env, "RESTORE").is_empty(), "{:#?}", env.sent());
    assert!(sent_like(&env, "INSERT").is_empty(), "{:#?}", env.sent());
    assert!(!env.sim.table_exists("sales", "orders"));
}

/// The rerun of a multi-database restore also skips a database whose tables were restored together
/// (one group run) by an earlier run of the same command, instead of refusing because they exist.
#[test]
fn a_rerun_skips_a_database_whose_group_restore_finished() {
    if skip_on_real_cluster("rerun_skips_group") {
        return;
    }
    let (env, at, orders, people) = two_databases_dropped();
    env.sim.drop_table("sales", "customers").unwrap();
    let mut args = vec!["restore", "--timestamp", &at];
    args.extend(TWO_DBS);
    args.extend(["--table", "sales.customers"]);
    env.run_ok(&args, 0);
    assert_eq!(parts(&env, "orders"), orders);
    assert_eq!(hr_parts(&env), people);
    let n = sent_like(&env, "RESTORE").len();
    let again = env.run_ok(&args, 0);
    assert!(
        again.contains("sales: orders, customers already restored as of")
            || again.contains("sales: customers, orders already restored as of"),
        "{again}"
    );
    assert!(
        again.contains("hr.people: already restored as of"),
        "{again}"
    );
    assert_eq!(sent_like(&env, "RESTORE").len(), n, "nothing sent again");
    // a lone run of the same tables is still refused: they exist
    let o = env.run(&[
        "restore",
        "--timestamp",
        &at,
        "--table",
        "sales.orders",
        "--table",
        "sales.customers",
    ]);
    assert_eq!(o.status.code(), Some(4));
}
