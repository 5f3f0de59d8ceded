//! Issues 10 + 13 (SPEC.md "Bounded restores": a table "whose chain depends on a snapshot no longer
//! in the repository ... is backed up whole in that run") and issue 12 (`check`: "every snapshot
//! that a restore point within retention needs still present"), end to end over the wire: a
//! snapshot deleted behind the tool's back (a bucket rule, a server-side TTL, an operator) is
//! reported by `check`, re-based by the next backup — whether or not `expire` marked it EXPIRED
//! first — and the restore at `latest` gives the right rows.

mod common;
use common::*;
use std::time::Duration;

type Parts = Vec<(String, u64, u64)>;

/// `init`, then four daily backups: day 0 full; day 1 loads orders/p20260102 (its data then lives
/// only in the day-1 snapshot); day 2 loads customers; day 3 loads orders/p20260104. Returns the
/// labels, oldest first.
fn four_days(env: &Env) -> Vec<String> {
    env.run_ok(&["init"], 0);
    for day in 0..4 {
        if day > 0 {
            env.sim.advance(Duration::from_secs(86_400));
        }
        match day {
            1 => env.sim.load("sales", "orders", "p20260102", 3).unwrap(),
            2 => env.sim.load("sales", "customers", "customers", 2).unwrap(),
            3 => env.sim.load("sales", "orders", "p20260104", 4).unwrap(),
            _ => {}
        }
        env.backup_finished();
    }
    env.sim.advance(Duration::from_secs(3_600));
    env.history().into_iter().map(|h| h.0).collect()
}

fn now(env: &Env) -> String {
    env.sim.now().format("%Y-%m-%d %H:%M:%S").to_string()
}

fn check_json(env: &Env) -> (Option<i32>, serde_json::Value) {
    let o = env.run(&["check", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    });
    let snapshots = v
        .as_array()
        .and_then(|a| a.iter().find(|c| c["name"] == "snapshots"))
        .cloned()
        .unwrap_or_default();
    (o.status.code(), snapshots)
}

fn restore_both_at(env: &Env, at: &str) -> (Parts, Parts) {
    env.sim.drop_table("sales", "orders").unwrap();
    env.sim.drop_table("sales", "customers").unwrap();
    for t in ["sales.orders", "sales.customers"] {
        env.run_ok(&["restore", "--table", t, "--timestamp", at], 0);
    }
    (env.parts("orders"), env.parts("customers"))
}

/// The whole scenario; `expire_first`: `expire` marks the vanished snapshot EXPIRED before the
/// backup that re-bases.
fn scenario(expire_first: bool) {
    let env = Env::with(sim_options(), "retention: { keep_days: 30 }\n");
    let days = four_days(&env);
    let gone = days[1].clone();
    // The day-1 snapshot (the only copy of orders/p20260102's data) vanishes.
    env.sim.delete_snapshot_files("backup_repo", &gone);

    // (a) check fails, naming the snapshot and the table whose restore points need it.
    let (code, snap) = check_json(&env);
    assert_eq!(code, Some(1), "{snap}");
    assert_eq!(snap["status"], "fail", "{snap}");
    let detail = snap["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(&gone), "{detail}");
    assert!(detail.contains("sales.orders"), "{detail}");
    assert!(!detail.contains("sales.customers"), "{detail}");
    assert!(detail.contains("re-bases"), "{detail}");

    if expire_first {
        let o = env.run(&["expire"]);
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(o.status.code(), Some(1), "{out}");
        assert!(out.contains(&format!("snapshot {gone} VANISHED")), "{out}");
        let h = env.history();
        assert_eq!(h.iter().find(|r| r.0 == gone).unwrap().2, "EXPIRED");
    }

    // The next change: both tables loaded.
    env.sim.advance(Duration::from_secs(3_600));
    let before_rebase = now(&env);
    env.sim.load("sales", "orders", "p20260101", 1).unwrap();
    env.sim.load("sales", "customers", "customers", 1).unwrap();
    let want = (env.parts("orders"), env.parts("customers"));

    // The dry run shows why orders goes whole.
    let o = env.run(&["backup", "--dry-run"]);
    let plan = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let reason = format!(
        "whole table (its chain needs snapshot {gone}, which is no longer in repository backup_repo)"
    );
    assert!(plan.contains(&reason), "{plan}");

    // (b) the backup exits 0: orders whole, customers (chain intact) incremental.
    env.sim.clear_statements();
    let o = env.run(&["backup"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains(&format!(
            "snapshot {gone} is no longer in repository backup_repo"
        )),
        "the log says why: {err}"
    );
    let backup = backup_sent(&env);
    assert!(
        backup.contains("ON (`customers` PARTITION (`customers`), `orders`)"),
        "{backup}"
    );
    let label = env.history().last().unwrap().0.clone();
    let decisions = env.query(&format!(
        "SELECT table_name, decision FROM ops.backup_tables WHERE label = '{label}' ORDER BY table_name"
    ));
    assert_eq!(decisions[0][1].as_deref(), Some("changed partitions"));
    assert_eq!(decisions[1][1].as_deref(), Some(reason.as_str()));
    // The snapshot of the re-based run holds every partition of orders.
    let orders: Vec<String> = env
        .in_snapshot(&label)
        .into_iter()
        .filter(|(t, _)| t == "orders")
        .map(|(_, p)| p)
        .collect();
    assert_eq!(orders.len(), 4, "{orders:?}");

    // check: the newest restore points are whole again; a restore point within retention before
    // the re-base still needs the vanished snapshot, so the snapshots check still reports it
    // unless expire already recorded it as lost.
    let (code, snap) = check_json(&env);
    if expire_first {
        assert_eq!(snap["status"], "warn", "{snap}");
        assert_eq!(code, Some(0), "{snap}");
    } else {
        assert_eq!(snap["status"], "fail", "{snap}");
    }

    // (c) a restore at latest gives the right rows.
    env.sim.advance(Duration::from_secs(60));
    assert_eq!(restore_both_at(&env, &now(&env)), want);

    // A restore point whose chain needs the vanished snapshot refuses before anything is
    // written, naming it and saying that point is lost.
    env.sim.drop_table("sales", "orders").unwrap();
    let o = env.run(&[
        "restore",
        "--table",
        "sales.orders",
        "--timestamp",
        &before_rebase,
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains(&gone), "{err}");
    assert!(err.contains("lost"), "{err}");
    assert!(!env.sim.table_exists("sales", "orders"), "nothing restored");
}

#[test]
fn a_vanished_snapshot_is_reported_then_rebased_by_the_next_backup() {
    if skip_on_real_cluster("a_vanished_snapshot_is_reported_then_rebased_by_the_next_backup") {
        return;
    }
    scenario(false);
}

#[test]
fn a_vanished_snapshot_expire_marked_first_is_rebased_by_the_next_backup() {
    if skip_on_real_cluster("a_vanished_snapshot_expire_marked_first_is_rebased_by_the_next_backup")
    {
        return;
    }
    scenario(true);
}

/// The BACKUP statement the last run sent.
fn backup_sent(env: &Env) -> String {
    env.sent()
        .into_iter()
        .find(|s| s.starts_with("BACKUP"))
        .unwrap_or_default()
}

/// Four days, a load, `arm` makes the repository listing fail, then a backup: it exits 0, warns,
/// and stays incremental (a failed listing is no proof that a snapshot is gone). Returns what the
/// backup sent.
fn no_rebase_on_a_failed_listing(arm: impl Fn(&Env)) -> Vec<String> {
    let env = Env::with(sim_options(), "");
    four_days(&env);
    env.sim.load("sales", "orders", "p20260101", 1).unwrap();
    arm(&env);
    env.sim.clear_statements();
    let o = env.run(&["backup"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("cannot tell whether snapshot"), "{err}");
    let backup = backup_sent(&env);
    assert!(
        backup.contains("ON (`orders` PARTITION (`p20260101`))"),
        "no re-base on a failed listing: {backup}"
    );
    env.sent()
}

#[test]
fn a_failed_listing_is_no_proof_of_absence() {
    if skip_on_real_cluster("a_failed_listing_is_no_proof_of_absence") {
        return;
    }
    // The next SHOW SNAPSHOT (discovery's) answers `ERROR: Failed to get info` per label
    // (STARROCKS.md §6).
    no_rebase_on_a_failed_listing(|env| env.sim.fail_snapshot_listing(1));
}

#[test]
fn a_failed_repository_listing_is_no_proof_of_absence_either() {
    if skip_on_real_cluster("a_failed_repository_listing_is_no_proof_of_absence_either") {
        return;
    }
    // The IN-list form lists the whole repository first and fails the statement when that
    // listing fails (backup/Repository.java:585-594, getSnapshotInfos).
    let sent = no_rebase_on_a_failed_listing(|env| {
        env.sim.fail_once(
            "^SHOW SNAPSHOT ON .* IN ",
            1064,
            "Failed to list snapshot in repo: backup_repo, err: connection reset by peer",
        )
    });
    assert!(
        sent.iter()
            .any(|s| s.starts_with("SHOW SNAPSHOT ON") && s.contains(" IN ")),
        "{sent:?}"
    );
}

/// Issue 12: `check` covers every restore point within retention, not only the newest.
fn older_point_scenario(keep_days: u32) -> (Option<i32>, serde_json::Value, String) {
    let env = Env::with(
        sim_options(),
        &format!("retention: {{ keep_days: {keep_days} }}\n"),
    );
    let days = four_days(&env);
    // Day 4: orders/p20260102 loaded again and a `--full` of everything: the newest restore
    // points need only the day-4 snapshot; the day-1 snapshot is needed by the points of days
    // 1-3 only.
    env.sim.advance(Duration::from_secs(86_400));
    env.sim.load("sales", "orders", "p20260102", 1).unwrap();
    env.run_ok(&["backup", "--full"], 0);
    env.sim.advance(Duration::from_secs(2 * 86_400));
    env.sim.delete_snapshot_files("backup_repo", &days[1]);
    let (code, snap) = check_json(&env);
    (code, snap, days[1].clone())
}

#[test]
fn check_fails_for_a_snapshot_only_an_older_point_within_retention_needs() {
    if skip_on_real_cluster("check_fails_for_a_snapshot_only_an_older_point_within_retention_needs")
    {
        return;
    }
    // Day 1 is 5 days before now: inside a 7-day window.
    let (code, snap, gone) = older_point_scenario(7);
    assert_eq!(code, Some(1), "{snap}");
    assert_eq!(snap["status"], "fail", "{snap}");
    let detail = snap["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(&gone), "{detail}");
    assert!(detail.contains("within retention (7 days)"), "{detail}");
}

#[test]
fn check_is_ok_when_the_snapshot_is_needed_only_outside_the_window() {
    if skip_on_real_cluster("check_is_ok_when_the_snapshot_is_needed_only_outside_the_window") {
        return;
    }
    // A 1-day window starts a day after the day-4 full: every point in it restores from that.
    let (code, snap, _) = older_point_scenario(1);
    assert_eq!(snap["status"], "ok", "{snap}");
    assert_eq!(code, Some(0), "{snap}");
}

#[test]
fn without_retention_check_covers_the_newest_point_and_says_so() {
    if skip_on_real_cluster("without_retention_check_covers_the_newest_point_and_says_so") {
        return;
    }
    let env = Env::with(sim_options(), "");
    four_days(&env);
    let (code, snap) = check_json(&env);
    assert_eq!(code, Some(0), "{snap}");
    assert_eq!(snap["status"], "ok", "{snap}");
    let detail = snap["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("no `retention`"), "{detail}");
}
