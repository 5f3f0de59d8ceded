//! Issue 10 "Done when": the upgrade from an ops database written by the PREVIOUS release of the
//! tool (commit f76daba, the last before ops schema version 2 and lean manifests), not one
//! fabricated from this release's rows (tests/bounded_e2e.rs keeps that one as a quick check).
//!
//! fixtures/ops-v1/ holds what that release wrote: its DDL and BACKUP statements as it sent them
//! and its ops rows as INSERTs. They are written by `generate_fixture_with_the_previous_release`
//! (ignored; needs the previous binary, see the fixture headers for the exact commands). The
//! test loads them into a fresh simulator with the demo tables, re-creates the repository's
//! snapshots by replaying the recorded BACKUP statements at their recorded timestamps, then runs
//! this release's `init` (in-place upgrade), backs up on the old base, and restores to every point
//! recorded before the upgrade and after it (exact versions and rows).

mod common;
use common::*;
use starrocks_sim::Sim;
use std::path::PathBuf;
use std::time::Duration;

/// (partition, visible version, rows), sorted.
type Parts = Vec<(String, u64, u64)>;

/// What happens before each backup of the recorded history (day 0 is the first, a FULL).
enum Change {
    Load(&'static str, &'static str, u64),
    DropPartition(&'static str, &'static str),
}

/// The history both the generator and the replay follow: one entry per daily backup.
const DAYS: &[&[Change]] = &[
    &[],
    &[Change::Load("orders", "p20260102", 3)],
    &[
        Change::Load("orders", "p20260103", 4),
        Change::Load("customers", "customers", 2),
    ],
    &[
        Change::DropPartition("orders", "p20260101"),
        Change::Load("orders", "p20260104", 5),
    ],
];

/// The ops tables, in the order the fixture files are loaded.
const TABLES: &[&str] = &["backup_history", "backup_partitions", "restore_history"];

fn fixture_dir() -> PathBuf {
    repo_root().join("fixtures/ops-v1")
}

fn apply(sim: &Sim, day: usize) {
    for c in DAYS[day] {
        match c {
            Change::Load(t, p, n) => sim.load("sales", t, p, *n).unwrap(),
            Change::DropPartition(t, p) => sim.drop_partition("sales", t, p).unwrap(),
        }
    }
}

/// Statements of a fixture file: `;` at a line end closes one; `--` lines are comments.
fn statements(file: &str) -> Vec<String> {
    let text = std::fs::read_to_string(fixture_dir().join(file)).unwrap();
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        if cur.is_empty() && line.starts_with("--") {
            continue;
        }
        cur.push_str(line);
        cur.push('\n');
        if line.ends_with(';') {
            out.push(cur.trim_end().trim_end_matches(';').to_string());
            cur.clear();
        }
    }
    out
}

fn one_time(sim: &Sim, sql: &str) -> chrono::NaiveDateTime {
    let r = sim.execute(sql).unwrap();
    let s = r[0][0].clone().unwrap();
    chrono::NaiveDateTime::parse_from_str(&s[..19], "%Y-%m-%d %H:%M:%S").unwrap()
}

/// Moves the simulator's clock forward to `t` (never back).
fn advance_to(sim: &Sim, t: chrono::NaiveDateTime) {
    let d = t - sim.now();
    assert!(d >= chrono::Duration::zero(), "{t} is before {}", sim.now());
    sim.advance(d.to_std().unwrap());
}

/// A fresh simulator with the demo tables and the fixture loaded: the ops database as the
/// previous release left it, and the repository's snapshots re-created by replaying its BACKUP
/// statements at their recorded timestamps over the same loads. Returns the environment and, per
/// recorded backup, (label, orders, customers) as that backup captured them.
fn replayed() -> (Env, Vec<(String, Parts, Parts)>) {
    let env = Env::demo();
    let sim = &env.sim;
    for s in statements("schema.sql") {
        sim.execute(&s).unwrap();
    }
    for t in TABLES {
        for s in statements(&format!("{t}.sql")) {
            sim.execute(&s).unwrap();
        }
    }
    let jobs = statements("jobs.sql");
    assert_eq!(jobs.len(), DAYS.len(), "one BACKUP per day");
    let mut states = Vec::new();
    for (day, backup) in jobs.iter().enumerate() {
        let label = backup
            .split('`')
            .nth(3)
            .unwrap_or_else(|| panic!("no label in {backup}"));
        let ts = sim
            .execute(&format!(
                "SELECT backup_timestamp FROM ops.backup_history WHERE label = '{label}'"
            ))
            .unwrap()[0][0]
            .clone()
            .unwrap();
        apply(sim, day);
        let at = chrono::NaiveDateTime::parse_from_str(&ts, "%Y-%m-%d-%H-%M-%S-%3f").unwrap();
        advance_to(sim, at);
        sim.execute(backup).unwrap();
        sim.advance(Duration::from_secs(60));
        let snap = sim
            .snapshots("backup_repo")
            .into_iter()
            .find(|s| s.label == label)
            .unwrap();
        assert!(snap.ok && snap.timestamp == ts, "{snap:?}");
        states.push((
            label.to_string(),
            env.sales_parts("orders"),
            env.sales_parts("customers"),
        ));
    }
    // the cluster's clock after everything the fixture recorded
    let last = one_time(
        sim,
        "SELECT MAX(t) FROM (SELECT MAX(finished_at) AS t FROM ops.backup_history UNION ALL SELECT MAX(finished_at) AS t FROM ops.restore_history) x",
    );
    advance_to(sim, last + chrono::Duration::hours(1));
    (env, states)
}

/// Every row of the three history tables, as text, in a stable order.
fn dump_rows(env: &Env) -> Vec<Vec<Vec<Option<String>>>> {
    TABLES
        .iter()
        .map(|t| {
            let mut rows = env.query(&format!("SELECT * FROM ops.{t}"));
            rows.sort();
            rows
        })
        .collect()
}

fn after(env: &Env, label: &str) -> String {
    let t = one_time(
        &env.sim,
        &format!("SELECT snapshot_at FROM ops.backup_history WHERE label = '{label}'"),
    );
    (t + chrono::Duration::seconds(1))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// Drops `table`, restores it as of `at` with this release, and returns its partitions.
fn restore(env: &Env, table: &str, at: &str) -> Parts {
    if env.sim.table_exists("sales", table) {
        env.sim.drop_table("sales", table).unwrap();
    }
    env.run_ok(
        &[
            "restore",
            "--table",
            &format!("sales.{table}"),
            "--timestamp",
            at,
        ],
        0,
    );
    env.sales_parts(table)
}

#[test]
fn init_upgrades_a_database_the_previous_release_wrote_and_its_restore_points_still_work() {
    if skip_on_real_cluster("upgrade_e2e") {
        return;
    }
    let (env, states) = replayed();
    let before = dump_rows(&env);
    let labels: Vec<String> = states.iter().map(|s| s.0.clone()).collect();

    let out = env.run_ok(&["init"], 0);
    assert!(out.contains("schema version 2"), "{out}");
    assert_eq!(
        env.query("SELECT value FROM ops.bbr_meta WHERE name = 'schema_version'"),
        vec![vec![Some("2".to_string())]]
    );
    assert_eq!(dump_rows(&env), before, "no history row changed");
    for l in &labels {
        let t = env.query(&format!(
            "SELECT table_name, complete FROM ops.backup_tables WHERE label = '{l}' ORDER BY table_name"
        ));
        assert_eq!(
            t,
            vec![
                vec![Some("customers".into()), Some("1".into())],
                vec![Some("orders".into()), Some("1".into())]
            ],
            "{l}: the previous layout's manifests describe both tables completely"
        );
    }
    // list and list --restores still read the old rows
    let list = env.run_ok(&["list", "--format", "json"], 0);
    assert!(labels.iter().all(|l| list.contains(l.as_str())), "{list}");
    let restores = env.run_ok(&["list", "--restores", "--format", "json"], 0);
    assert!(restores.contains("customers"), "{restores}");

    // Backups on the old base, on the cluster as the previous release left it (same partition
    // ids): its fingerprints cannot be compared, so the first run takes the tables whole once —
    // an incremental run, recorded in the lean layout — and the next records only what changed.
    env.sim.advance(Duration::from_secs(3_600));
    env.sim.load("sales", "orders", "p20260103", 6).unwrap();
    let first = env.backup_finished();
    assert!(first.contains("_incr_"), "{first}");
    let decisions = env.query(&format!(
        "SELECT table_name, whole_table, complete, decision FROM ops.backup_tables WHERE label = '{first}' ORDER BY table_name"
    ));
    assert_eq!(decisions.len(), 2, "{decisions:?}");
    for (t, d) in [("customers", &decisions[0]), ("orders", &decisions[1])] {
        assert_eq!(d[0].as_deref(), Some(t));
        assert_eq!(
            (d[1].as_deref(), d[2].as_deref()),
            (Some("1"), Some("1")),
            "{t} taken whole once"
        );
        assert!(
            d[3].as_deref()
                .unwrap_or("")
                .contains("older-format schema fingerprint"),
            "{d:?}"
        );
    }
    let at_first = (env.sales_parts("orders"), env.sales_parts("customers"));
    env.sim.advance(Duration::from_secs(3_600));
    env.sim.load("sales", "orders", "p20260104", 7).unwrap();
    let lean = env.backup_finished();
    assert_eq!(
        env.in_snapshot(&lean),
        vec![("orders".to_string(), "p20260104".to_string())]
    );
    let rows = env.query(&format!(
        "SELECT COUNT(*) FROM ops.backup_partitions WHERE label = '{lean}'"
    ));
    assert_eq!(rows[0][0].as_deref(), Some("1"), "a lean manifest");
    let at_lean = (env.sales_parts("orders"), env.sales_parts("customers"));

    // Every point recorded before the upgrade still restores exactly, beside the new ones (the
    // day-3 point without the partition dropped that day).
    assert!(!states[3].1.iter().any(|p| p.0 == "p20260101"));
    for (day, (label, orders, customers)) in states.iter().enumerate() {
        let at = after(&env, label);
        let jobs = env.sim.jobs().len();
        assert_eq!(&restore(&env, "orders", &at), orders, "orders at {at}");
        // one RESTORE per snapshot still supplying a partition: the full alone on day 0, then
        // p20260102..04 each from the day that loaded it (p20260101 dropped on day 3)
        let want_jobs = [1, 2, 3, 3][day];
        assert_eq!(env.sim.jobs().len() - jobs, want_jobs, "orders at {at}");
        assert_eq!(
            &restore(&env, "customers", &at),
            customers,
            "customers at {at}"
        );
    }
    for (label, (orders, customers), want_jobs) in [(&first, at_first, 1), (&lean, at_lean, 2)] {
        let at = after(&env, label);
        let jobs = env.sim.jobs().len();
        assert_eq!(restore(&env, "orders", &at), orders, "orders at {at}");
        assert_eq!(env.sim.jobs().len() - jobs, want_jobs, "orders at {at}");
        assert_eq!(
            restore(&env, "customers", &at),
            customers,
            "customers at {at}"
        );
    }
}

/// SQL text of a value the simulator returned (NULL, or a quoted literal).
fn value(v: &Option<String>) -> String {
    match v {
        None => "NULL".to_string(),
        Some(s) => starrocks_bbr::sql::literal(s),
    }
}

/// Writes fixtures/ops-v1/ from a run of the PREVIOUS release against the simulator. Needs
/// `BBR_OLD_BIN` = that release's binary; see the header it writes for the exact commands.
#[test]
#[ignore = "writes fixtures/ops-v1; needs BBR_OLD_BIN (the previous release's binary)"]
fn generate_fixture_with_the_previous_release() {
    let old = PathBuf::from(std::env::var("BBR_OLD_BIN").expect("BBR_OLD_BIN"));
    let env = Env::demo();
    let sim = &env.sim;
    // the previous release refuses keys it does not know: its config has no catalog_backup
    let config = env.dir.path().join("old.yaml");
    let text = std::fs::read_to_string(&env.config)
        .unwrap()
        .replace("catalog_backup: false\n", "");
    std::fs::write(&config, text).unwrap();
    let run = |args: &[&str]| {
        let o = std::process::Command::new(&old)
            .args(args)
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{args:?}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    };
    sim.clear_statements();
    run(&["init"]);
    for day in 0..DAYS.len() {
        if day > 0 {
            sim.advance(Duration::from_secs(86_400));
        }
        apply(sim, day);
        run(&["backup"]);
    }
    // a restore run of the previous release, so restore_history has its layout too
    sim.advance(Duration::from_secs(3_600));
    let day1 = sim
        .execute("SELECT snapshot_at FROM ops.backup_history ORDER BY started_at")
        .unwrap()[1][0]
        .clone()
        .unwrap();
    sim.drop_table("sales", "customers").unwrap();
    run(&[
        "restore",
        "--table",
        "sales.customers",
        "--timestamp",
        &day1[..19],
    ]);

    let dir = fixture_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let sent: Vec<String> = sim.statements().into_iter().map(|s| s.sql).collect();
    let head = |what: &str| {
        format!(
            "-- {what}\n\
             -- Written by the previous release of starrocks-bbr (commit f76daba, ops schema version 1)\n\
             -- against the simulator (demo tables, default options), by:\n\
             --   git worktree add ../gaps-old f76daba\n\
             --   (cd ../gaps-old && CARGO_TARGET_DIR=$PWD/target cargo build --bin starrocks-bbr)\n\
             --   BBR_OLD_BIN=$PWD/../gaps-old/target/debug/starrocks-bbr cargo test --test upgrade_e2e \\\n\
             --     generate_fixture_with_the_previous_release -- --ignored\n\
             -- History (tests/upgrade_e2e.rs DAYS): init; a FULL; three daily incrementals (loads into\n\
             -- orders p20260102, p20260103 + customers, drop of p20260101 + load into p20260104);\n\
             -- then `restore --table sales.customers` to day 1's snapshot_at. Do not edit by hand.\n"
        )
    };
    let ddl: Vec<&String> = sent
        .iter()
        .filter(|s| s.starts_with("CREATE DATABASE") || s.starts_with("CREATE TABLE"))
        .collect();
    let mut schema = head("The ops DDL the previous release's init sent, verbatim.");
    for s in ddl {
        schema.push_str(&format!("{s};\n"));
    }
    std::fs::write(dir.join("schema.sql"), schema).unwrap();
    let mut jobs = head(
        "The BACKUP statements it sent, verbatim, oldest first (replayed for the repository).",
    );
    for s in sent.iter().filter(|s| s.starts_with("BACKUP SNAPSHOT")) {
        jobs.push_str(&format!("{};\n", s.replace('\n', " ")));
    }
    std::fs::write(dir.join("jobs.sql"), jobs).unwrap();
    for t in TABLES {
        let cols: Vec<String> = sim
            .execute(&format!(
                "SELECT COLUMN_NAME FROM information_schema.columns WHERE TABLE_SCHEMA = 'ops' AND TABLE_NAME = '{t}' ORDER BY ORDINAL_POSITION"
            ))
            .unwrap()
            .into_iter()
            .map(|r| format!("`{}`", r[0].clone().unwrap()))
            .collect();
        let mut rows = sim
            .execute(&format!("SELECT {} FROM ops.{t}", cols.join(", ")))
            .unwrap();
        rows.sort();
        let mut text = head(&format!("Every row of ops.{t} after that history."));
        for r in rows {
            let vals: Vec<String> = r.iter().map(value).collect();
            text.push_str(&format!(
                "INSERT INTO ops.{t} ({}) VALUES ({});\n",
                cols.join(", "),
                vals.join(", ")
            ));
        }
        std::fs::write(dir.join(format!("{t}.sql")), text).unwrap();
    }
}
