//! Issue 13 "Done when", end to end over the wire: a week of daily backups, `expire` with keep_days 2
//! on a release without DROP SNAPSHOT and on 4.2; restores at the window's edge and at now give the
//! right versions; nothing needed was expired; the dry run changed nothing; a snapshot deleted
//! behind the tool's back is reported. Without `--full` (`rolling_week`, `max_restore_jobs: 3`) an
//! out-of-window FULL that still supplies a partition is kept, on 3.3 and on 4.2.

mod common;
use common::*;
use starrocks_sim::{SimOptions, When};
use std::time::Duration;

type Parts = Vec<(String, u64, u64)>;

fn parts(env: &Env, table: &str) -> Parts {
    env.sales_parts(table)
}

fn snapshot_at(env: &Env, label: &str) -> chrono::NaiveDateTime {
    let r = env.query(&format!(
        "SELECT snapshot_at FROM ops.backup_history WHERE label = '{label}'"
    ));
    let s = r[0][0].clone().unwrap();
    chrono::NaiveDateTime::parse_from_str(&s[..19], "%Y-%m-%d %H:%M:%S").unwrap()
}

fn ts(t: chrono::NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// A week: day 0 full, then daily incrementals; p20260104 loaded every day, customers on day 3
/// only, p20260101..03 never again. Day 4 is a `--full`: the complete record every later restore
/// point folds from, so nothing before it is needed any more (`rolling_week` keeps an old full).
fn week(env: &Env) -> Vec<Day> {
    daily_week(env, |day| {
        env.sim.load("sales", "orders", "p20260104", 3).unwrap();
        if day == 3 {
            env.sim.load("sales", "customers", "customers", 2).unwrap();
        }
        // Lean manifests: a restore folds back to the last whole-table record, so only a rolling
        // full (here `--full` on day 4) lets what precedes it expire.
        if day == 4 {
            &["backup", "--full"]
        } else {
            &["backup"]
        }
    })
}

/// (label, snapshot_at, orders, customers) of one day's backup.
type Day = (String, chrono::NaiveDateTime, Parts, Parts);

/// `init`, a first backup, then six days: advance a day, `change(day)` (loads; returns the backup
/// arguments of that day), back up. Every backup must finish.
fn daily_week(env: &Env, change: impl Fn(usize) -> &'static [&'static str]) -> Vec<Day> {
    env.run_ok(&["init"], 0);
    let mut days = Vec::new();
    for day in 0..7 {
        let args: &[&str] = if day == 0 {
            &["backup"]
        } else {
            env.sim.advance(Duration::from_secs(86_400));
            change(day)
        };
        let out = env.run_ok(args, 0);
        assert!(out.contains("FINISHED"), "{out}");
        let label = env.history().last().unwrap().0.clone();
        days.push((
            label.clone(),
            snapshot_at(env, &label),
            parts(env, "orders"),
            parts(env, "customers"),
        ));
    }
    days
}

/// The window start `expire` printed (`retention: every restore point since T stays ...`).
fn window_start(out: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix("retention: every restore point since "))
        .and_then(|l| l.split(" stays").next())
        .unwrap_or_else(|| panic!("no window line: {out}"))
        .to_string()
}

/// The EXPIRED labels of `status_of`, oldest first.
fn expired_labels(h: &[(String, String, Option<String>)]) -> Vec<&String> {
    h.iter()
        .filter(|(_, s, _)| s == "EXPIRED")
        .map(|(l, _, _)| l)
        .collect()
}

fn status_of(env: &Env) -> Vec<(String, String, Option<String>)> {
    env.history()
        .into_iter()
        .map(|(l, _, s, e)| (l, s, e))
        .collect()
}

fn restore_both(env: &Env, at: &str) -> (Parts, Parts) {
    env.sim.drop_table("sales", "orders").unwrap();
    env.sim.drop_table("sales", "customers").unwrap();
    for t in ["sales.orders", "sales.customers"] {
        env.run_ok(&["restore", "--table", t, "--timestamp", at], 0);
    }
    (parts(env, "orders"), parts(env, "customers"))
}

/// The whole scenario on one release; returns the statements `expire` sent.
fn scenario(drop_snapshot: bool) -> Vec<String> {
    let env = Env::with(
        SimOptions {
            drop_snapshot,
            ..sim_options()
        },
        "retention: { keep_days: 2 }\n",
    );
    let days = week(&env);
    env.sim.advance(Duration::from_secs(3_600));
    let before = status_of(&env);
    let snaps_before = env.sim.snapshots("backup_repo").len();

    // The dry run: a plan, only SELECT/SHOW sent, nothing changed.
    env.sim.clear_statements();
    let plan = env.run_ok(&["expire", "--dry-run"], 0);
    let plan: serde_json::Value = serde_json::from_str(&plan).unwrap();
    assert_eq!(plan["command"], "expire");
    for s in env.sent() {
        let head = s.trim_start().to_ascii_uppercase();
        assert!(
            head.starts_with("SELECT")
                || head.starts_with("SHOW")
                || head.starts_with("ADMIN SHOW ")
                || head.starts_with("SET"),
            "dry run sent {s}"
        );
    }
    assert_eq!(status_of(&env), before, "the dry run changed the history");
    assert_eq!(env.sim.snapshots("backup_repo").len(), snaps_before);
    assert_eq!(
        plan["inputs"]["drop_snapshot_supported"].as_bool(),
        Some(drop_snapshot)
    );

    env.sim.clear_statements();
    let out = env.run_ok(&["expire"], 0);
    let sent = env.sent();
    let window = window_start(&out);
    // Every restore point since the window start (day 4 + 1 h) folds from the day-4 `--full`, a
    // complete record of both tables: days 0-3 are needed by none of them and all expire (the day-0
    // full no longer supplies p20260101..03 — day 4 holds them too).
    let after = status_of(&env);
    let expired = expired_labels(&after);
    let gone: Vec<&String> = days[..4].iter().map(|d| &d.0).collect();
    assert_eq!(expired, gone, "{out}");
    for (l, s, _) in &after {
        if !expired.contains(&l) {
            assert_eq!(s, "FINISHED", "{l}");
        }
    }
    let manifest_left: Vec<Vec<Option<String>>> = env.query(&format!(
        "SELECT label FROM ops.backup_partitions WHERE label IN ('{}', '{}', '{}', '{}')",
        days[0].0, days[1].0, days[2].0, days[3].0
    ));
    assert!(manifest_left.is_empty(), "expired manifests are deleted");
    assert!(
        !sent.iter().any(|s| s.contains("\"ttl\"")),
        "never a ttl property"
    );
    let drops: Vec<&String> = sent
        .iter()
        .filter(|s| s.starts_with("DROP SNAPSHOT"))
        .collect();
    let in_repo: Vec<String> = env
        .sim
        .snapshots("backup_repo")
        .into_iter()
        .map(|s| s.label)
        .collect();
    if drop_snapshot {
        assert_eq!(drops.len(), 4, "{sent:#?}");
        assert!(gone.iter().all(|l| !in_repo.contains(*l)));
        assert!(out.contains("snapshot dropped"), "{out}");
    } else {
        assert!(drops.is_empty());
        assert!(in_repo.contains(&days[1].0), "nothing deleted before 4.2");
        assert!(
            out.contains(&format!("delete from storage: snapshot {}", days[1].0)),
            "{out}"
        );
    }
    for d in [4, 5, 6] {
        assert!(in_repo.contains(&days[d].0), "needed day {d} kept");
    }
    // `list` hides EXPIRED rows.
    let list = env.run_ok(&["list"], 0);
    assert!(!list.contains(&days[1].0), "{list}");

    // Restores at the window's edge (day 4's state) and at now (day 6's) give the right versions.
    let edge = restore_both(&env, &window);
    assert_eq!(
        edge,
        (days[4].2.clone(), days[4].3.clone()),
        "at the window's edge"
    );
    let now = ts(days[6].1 + chrono::Duration::minutes(30));
    let latest = restore_both(&env, &now);
    assert_eq!(latest, (days[6].2.clone(), days[6].3.clone()), "at now");
    // A second expire has nothing to do.
    let again = env.run_ok(&["expire"], 0);
    assert!(again.contains("nothing to expire"), "{again}");
    sent
}

#[test]
fn a_week_of_backups_expire_keep_days_2_before_42() {
    scenario(false);
}

#[test]
fn a_week_of_backups_expire_keep_days_2_on_42_drops_snapshots() {
    scenario(true);
}

#[test]
fn without_retention_expire_exits_2_naming_the_key() {
    let env = Env::demo();
    let o = env.run(&["expire"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("retention: { keep_days: N }"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn a_needed_snapshot_deleted_behind_the_tools_back_is_reported() {
    let env = Env::with(sim_options(), "retention: { keep_days: 2 }\n");
    let days = week(&env);
    // The day-4 full every later restore folds from: its files vanish.
    env.sim.delete_snapshot_files("backup_repo", &days[4].0);
    // `check` reports it too (one SHOW SNAPSHOT for the newest restore points' snapshots).
    let o = env.run(&["check", "--format", "json"]);
    let checks = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{checks}");
    assert!(checks.contains(&days[4].0), "{checks}");
    let o = env.run(&["expire"]);
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(
        out.contains(&format!("snapshot {} VANISHED", days[4].0)),
        "{out}"
    );
    assert!(err.contains("vanished from the repository"), "{err}");
    let h = status_of(&env);
    let row = h.iter().find(|(l, _, _)| *l == days[4].0).unwrap();
    assert_eq!(row.1, "EXPIRED");
    assert!(
        row.2.as_deref().unwrap_or("").contains("vanished"),
        "{row:?}"
    );
}

/// Four daily backups (loads into p20260102 each day, the third `--full`); with keep_days 1 the
/// first two are needed by no restore point. Returns the labels, oldest first.
fn four_days(env: &Env) -> Vec<String> {
    env.run_ok(&["init"], 0);
    for day in 0..4 {
        if day > 0 {
            env.sim.advance(Duration::from_secs(86_400));
            env.sim.load("sales", "orders", "p20260102", 3).unwrap();
        }
        // a whole-table record on day 2: with lean manifests days 0 and 1 then expire
        let args: &[&str] = if day == 2 {
            &["backup", "--full"]
        } else {
            &["backup"]
        };
        env.run_ok(args, 0);
    }
    env.sim.advance(Duration::from_secs(3_600));
    env.history().into_iter().map(|h| h.0).collect()
}

fn status(env: &Env, label: &str) -> (String, Option<String>) {
    let h = status_of(env);
    let r = h.iter().find(|(l, _, _)| l == label).unwrap();
    (r.1.clone(), r.2.clone())
}

#[test]
fn a_live_backup_claim_refuses_expire_before_anything_changes() {
    let env = Env::with(sim_options(), "retention: { keep_days: 1 }\n");
    let labels = four_days(&env);
    env.sim
        .execute("INSERT INTO ops.backup_history (label, database_name, backup_type, status, repository, started_at, heartbeat_at) VALUES ('bbr_sales_live_incr', 'sales', 'incremental', 'RUNNING', 'backup_repo', NOW(), NOW())")
        .unwrap();
    let o = env.run(&["expire"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(4), "{err}");
    assert!(err.contains("another run holds database sales"), "{err}");
    assert_eq!(status(&env, &labels[1]).0, "FINISHED", "nothing expired");
    let claims = env.query("SELECT label FROM ops.backup_history WHERE backup_type = 'expire'");
    assert!(
        claims.is_empty(),
        "the refused claim was withdrawn: {claims:?}"
    );
}

#[test]
fn restore_records_older_than_the_window_are_deleted() {
    let env = Env::with(sim_options(), "retention: { keep_days: 1 }\n");
    four_days(&env);
    let row = |label: &str, status: &str, started: &str, finished: &str| {
        env.sim
            .execute(&format!(
                "INSERT INTO ops.restore_history (label, database_name, table_name, status, started_at, finished_at, heartbeat_at) VALUES ('{label}', 'sales', 'orders', '{status}', '{started}', {finished}, '{started}')"
            ))
            .unwrap();
    };
    row(
        "r_old",
        "FINISHED",
        "2026-01-01 10:00:00",
        "'2026-01-01 11:00:00'",
    );
    row(
        "r_old_failed",
        "FAILED",
        "2026-01-02 10:00:00",
        "'2026-01-02 11:00:00'",
    );
    row(
        "r_recent",
        "FINISHED",
        "2026-01-04 00:10:00",
        "'2026-01-04 00:20:00'",
    );
    let out = env.run_ok(&["expire"], 0);
    assert!(out.contains("deleted 2 restore record(s)"), "{out}");
    let left: Vec<String> = env
        .query("SELECT label FROM ops.restore_history ORDER BY label")
        .into_iter()
        .map(|r| r[0].clone().unwrap())
        .collect();
    assert_eq!(left, vec!["r_recent".to_string()]);
}

#[test]
fn snapshots_written_before_the_upgrade_to_42_are_listed_not_dropped() {
    let env = Env::with(sim_options(), "retention: { keep_days: 1 }\n");
    let labels = four_days(&env);
    env.sim.set_drop_snapshot(true);
    env.sim.clear_statements();
    let out = env.run_ok(&["expire"], 0);
    assert!(
        !env.sent().iter().any(|s| s.starts_with("DROP SNAPSHOT")),
        "no FORCE, no refused DROP: {:#?}",
        env.sent()
    );
    assert!(
        out.contains(&format!("delete from storage: snapshot {}", labels[1])),
        "{out}"
    );
    assert_eq!(status(&env, &labels[1]).0, "EXPIRED");
}

#[test]
fn a_drop_refused_for_ownership_is_left_to_the_operator() {
    let env = Env::with(
        SimOptions {
            drop_snapshot: true,
            ..sim_options()
        },
        "retention: { keep_days: 1 }\n",
    );
    let labels = four_days(&env);
    env.sim.fail_once(
        "^DROP SNAPSHOT",
        5064,
        "Snapshot was not created by this cluster; use DROP SNAPSHOT ... FORCE to drop it",
    );
    let out = env.run_ok(&["expire"], 0);
    assert!(out.contains("StarRocks refused DROP SNAPSHOT"), "{out}");
    let (st, note) = status(&env, &labels[0]);
    assert_eq!(st, "EXPIRED");
    assert!(
        note.unwrap_or_default().contains("delete the snapshot"),
        "note"
    );
    assert!(env
        .sim
        .snapshots("backup_repo")
        .iter()
        .any(|s| s.label == labels[0]));
    // The next run does not try again: the row is no longer pending.
    env.sim.clear_statements();
    let again = env.run_ok(&["expire"], 0);
    assert!(again.contains("nothing to expire"), "{again}");
}

#[test]
fn with_catalog_backup_old_catalog_snapshots_expire_and_expire_ends_with_one() {
    let env = Env::with(
        SimOptions {
            drop_snapshot: true,
            ..sim_options()
        },
        "retention: { keep_days: 1 }\n",
    );
    let text = std::fs::read_to_string(&env.config)
        .unwrap()
        .replace("catalog_backup: false", "catalog_backup: true");
    std::fs::write(&env.config, text).unwrap();
    // every backup of four_days ends with a catalog backup: four catalog snapshots
    let labels = four_days(&env);
    let catalogs = |env: &Env| -> Vec<(String, String)> {
        env.query("SELECT label, status FROM ops.backup_history WHERE database_name = 'ops' ORDER BY started_at, label")
            .into_iter()
            .map(|r| (r[0].clone().unwrap(), r[1].clone().unwrap()))
            .collect()
    };
    let before = catalogs(&env);
    assert_eq!(before.len(), 4, "{before:?}");
    let out = env.run_ok(&["expire"], 0);
    assert!(
        out.contains(&format!("expired {} (snapshot dropped", labels[1])),
        "{out}"
    );
    assert!(
        out.contains(&format!("expired {} (snapshot dropped", before[0].0)),
        "{out}"
    );
    assert!(out.contains("catalog backup bbr_catalog_"), "{out}");
    let after = catalogs(&env);
    // the oldest expired, the next three kept, plus the one that ended this expire
    assert_eq!(after[0], (before[0].0.clone(), "EXPIRED".to_string()));
    assert!(after[1..].iter().all(|(_, s)| s == "FINISHED"), "{after:?}");
    assert_eq!(after.len(), 5);
    let in_repo: Vec<String> = env
        .sim
        .snapshots("backup_repo")
        .into_iter()
        .map(|s| s.label)
        .collect();
    assert!(!in_repo.contains(&before[0].0));
}

/// Issue 13 item 1 without `--full`: a week of daily loads, each day into the next partition of
/// orders (p20260101, p20260102, ... round the four), customers never changed; `max_restore_jobs: 3`.
/// The rolling bound re-bases orders by itself every few days, while customers' only record stays
/// the day-0 FULL — an out-of-window snapshot that still supplies the unchanged customers partition
/// to every restore point of the window.
fn rolling_week(env: &Env) -> Vec<Day> {
    let orders = ["p20260101", "p20260102", "p20260103", "p20260104"];
    daily_week(env, |day| {
        env.sim
            .load("sales", "orders", orders[(day - 1) % 4], 3)
            .unwrap();
        &["backup"]
    })
}

fn in_repo(env: &Env) -> Vec<String> {
    env.sim
        .snapshots("backup_repo")
        .into_iter()
        .filter(|s| s.ok)
        .map(|s| s.label)
        .collect()
}

/// One release of the no-`--full` scenario: its name, and whether it has DROP SNAPSHOT.
struct Release {
    release: &'static str,
    drops: bool,
}

const RELEASES: &[Release] = &[
    Release {
        release: "3.3.5",
        drops: false,
    },
    Release {
        release: "4.2.0",
        drops: true,
    },
];

/// `rolling_week` with keep_days 2 (window start = day 4 + 1 h). Orders: the day-3 run takes it
/// whole (the bound: a fourth RESTORE job), so restore points from day 3 on fold from day 3 and
/// days 1 and 2 — orders-only incrementals before that — are needed by none of the window's points.
/// Customers: its one record is the day-0 FULL, outside the window, which every point still needs.
fn rolling_scenario(r: &Release) {
    let env = Env::with(
        SimOptions {
            release: r.release.to_string(),
            ..sim_options()
        },
        "retention: { keep_days: 2 }\nmax_restore_jobs: 3\n",
    );
    let days = rolling_week(&env);
    let whole: Vec<String> = env
        .query("SELECT label FROM ops.backup_tables WHERE table_name = 'orders' AND whole_table = 1 ORDER BY label")
        .into_iter()
        .map(|r| r[0].clone().unwrap())
        .collect();
    assert_eq!(
        whole,
        vec![days[0].0.clone(), days[3].0.clone(), days[6].0.clone()],
        "the bound re-bases orders on days 3 and 6: {:#?}",
        decisions(&env)
    );
    env.sim.advance(Duration::from_secs(3_600));
    env.sim.clear_statements();
    let out = env.run_ok(&["expire"], 0);
    let window = window_start(&out);
    assert!(
        days[0].1 < days[4].1 && ts(days[4].1) < window && window < ts(days[5].1),
        "the window starts between day 4 and day 5: {window}"
    );
    let after = status_of(&env);
    let expired = expired_labels(&after);
    assert_eq!(expired, vec![&days[1].0, &days[2].0], "{out}");
    for d in [0, 3, 4, 5, 6] {
        let row = after.iter().find(|(l, _, _)| *l == days[d].0).unwrap();
        assert_eq!(row.1, "FINISHED", "day {d} is needed: {out}");
    }
    let repo = in_repo(&env);
    assert!(
        repo.contains(&days[0].0),
        "the day-0 FULL stays in the repository"
    );
    let drops: Vec<String> = env
        .sent()
        .into_iter()
        .filter(|s| s.starts_with("DROP SNAPSHOT"))
        .collect();
    if r.drops {
        assert_eq!(drops.len(), 2, "{drops:#?}");
        assert!(!repo.contains(&days[1].0) && !repo.contains(&days[2].0));
        assert!(!drops.iter().any(|s| s.contains(&days[0].0)), "{drops:#?}");
    } else {
        assert!(drops.is_empty(), "{drops:#?}");
        assert!(repo.contains(&days[1].0) && repo.contains(&days[2].0));
        assert!(
            out.contains(&format!("delete from storage: snapshot {}", days[2].0)),
            "{out}"
        );
        assert!(!out.contains(&format!("snapshot {} (", days[0].0)), "{out}");
    }

    // The window's start edge restores day 4's state, `latest` day 6's; customers from the day-0
    // FULL in both (the RESTORE jobs name it).
    for (at, day) in [(window, 4), ("latest".to_string(), 6)] {
        let jobs_before = env.sim.jobs().len();
        let got = restore_both(&env, &at);
        assert_eq!(
            got,
            (days[day].2.clone(), days[day].3.clone()),
            "restore at {at} (day {day})"
        );
        let restored: Vec<String> = env.sim.jobs()[jobs_before..]
            .iter()
            .map(|j| j.label.clone())
            .collect();
        assert!(restored.contains(&days[0].0), "{at}: {restored:?}");
        assert!(
            !restored.contains(&days[1].0) && !restored.contains(&days[2].0),
            "{at}: {restored:?}"
        );
    }
}

/// The decision recorded per (label, table), for the failure messages.
fn decisions(env: &Env) -> Vec<Vec<Option<String>>> {
    env.query("SELECT label, table_name, whole_table, decision FROM ops.backup_tables ORDER BY label, table_name")
}

#[test]
fn without_full_an_old_full_still_supplying_a_partition_is_kept() {
    for r in RELEASES {
        rolling_scenario(r);
    }
}

/// The claim in the other direction: while an `expire` holds database sales (its run stopped
/// right after its claim, before its first EXPIRED update), a backup and a restore of that
/// database exit 4 naming it, send no BACKUP / RESTORE and no manifest, and withdraw their rows.
#[test]
fn a_live_expire_claim_refuses_backup_and_restore_before_anything_is_sent() {
    if skip_on_real_cluster("a_live_expire_claim_refuses_backup_and_restore") {
        return;
    }
    let env = Env::with(sim_options(), "retention: { keep_days: 1 }\n");
    four_days(&env);
    env.sim.load("sales", "orders", "p20260103", 2).unwrap();
    env.sim
        .hang("^UPDATE .* SET `status` = 'EXPIRED'", When::Before);
    let mut expire = std::process::Command::new(assert_cmd::cargo::cargo_bin("starrocks-bbr"))
        .args(["expire", "--config"])
        .arg(&env.config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while !env
        .sent()
        .iter()
        .any(|s| s.contains("SET `status` = 'EXPIRED'"))
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{:#?}",
            env.sent()
        );
        assert!(expire.try_wait().unwrap().is_none(), "expire ended");
        std::thread::sleep(Duration::from_millis(20));
    }
    let claim = env.query(
        "SELECT label FROM ops.backup_history WHERE backup_type = 'expire' AND status = 'RUNNING'",
    );
    assert_eq!(claim.len(), 1, "{claim:?}");
    let claim = claim[0][0].clone().unwrap();
    env.sim.drop_table("sales", "customers").unwrap();
    let history = status_of(&env);
    for args in [
        vec!["backup"],
        vec![
            "restore",
            "--table",
            "sales.customers",
            "--timestamp",
            "latest",
        ],
    ] {
        env.sim.clear_statements();
        let o = env.run(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(4), "{args:?}: {err}");
        assert!(
            err.contains("another run holds database sales") && err.contains(&claim),
            "{err}"
        );
        let sent = env.sent();
        assert!(
            !sent.iter().any(|s| s.starts_with("BACKUP")
                || s.starts_with("RESTORE")
                || s.contains("`backup_partitions` (")
                || s.contains("`backup_tables` (")),
            "{args:?} sent {sent:#?}"
        );
        assert_eq!(status_of(&env), history, "{args:?}: its row withdrawn");
        let restores = env.query("SELECT label FROM ops.restore_history WHERE status = 'RUNNING'");
        assert!(restores.is_empty(), "{restores:?}");
    }
    assert!(!env.sim.table_exists("sales", "customers"));
    expire.kill().unwrap();
    expire.wait().unwrap();
}
