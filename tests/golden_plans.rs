//! Golden plans: generates plans/{init,backup_full,backup_incremental,backup_nothing_changed,restore_*}.json from
//! fixtures/ (demo.yaml + the deterministic simulator setup in common::demo_setup) and compares them
//! byte for byte. `UPDATE_GOLDEN=1 cargo test --test golden_plans` rewrites them.
//! Also checks that every dry run sends nothing but SELECT/SHOW.

mod common;
use common::*;

fn check_golden(name: &str, actual: &str) {
    let path = repo_root().join("plans").join(name);
    if std::env::var("UPDATE_GOLDEN").is_ok_and(|v| v == "1") {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "{} missing: run UPDATE_GOLDEN=1 cargo test --test golden_plans",
            path.display()
        )
    });
    if expected != actual {
        let first = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        panic!(
            "{name} differs from the golden plan at line {}:\n  golden: {:?}\n  actual: {:?}\n(run UPDATE_GOLDEN=1 cargo test --test golden_plans if the change is intended)",
            first + 1,
            expected.lines().nth(first),
            actual.lines().nth(first)
        );
    }
}

/// Runs a dry run, asserting it sent only SELECT/SHOW, and returns the plan JSON.
fn dry_run(env: &Env, cmd: &str) -> String {
    dry_run_args(env, &[cmd])
}

/// `dry_run` with arguments (e.g. restore's --table and --timestamp).
fn dry_run_args(env: &Env, args: &[&str]) -> String {
    env.sim.clear_statements();
    let mut args = args.to_vec();
    args.push("--dry-run");
    let out = env.run_ok(&args, 0);
    for s in env.sent() {
        let up = s.trim_start().to_ascii_uppercase();
        assert!(
            // ADMIN SHOW FRONTEND CONFIG (run_mode) is a read-only SHOW too
            up.starts_with("SELECT") || up.starts_with("SHOW") || up.starts_with("ADMIN SHOW "),
            "dry run sent a non-read-only statement: {s}"
        );
    }
    let v: serde_json::Value = serde_json::from_str(&out).expect("dry run prints JSON");
    assert_eq!(v["format_version"], 1);
    out
}

/// The steps of a backup plan's data jobs (not the catalog backup that ends it).
fn data_steps(plan: &serde_json::Value) -> Vec<&serde_json::Value> {
    plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| {
            !s["label"]
                .as_str()
                .unwrap_or("")
                .starts_with("bbr_catalog_")
        })
        .collect()
}

/// Runs the catalog job of a backup plan for real with its deterministic label (RUNNING row,
/// BACKUP of the ops database), one second after the data job, and records it FINISHED.
fn apply_catalog_as_backed_up(env: &Env, plan_json: &str) -> String {
    let plan: serde_json::Value = serde_json::from_str(plan_json).unwrap();
    env.sim.advance(std::time::Duration::from_secs(1));
    let mut label = String::new();
    for step in plan["steps"].as_array().unwrap() {
        let l = step["label"].as_str().unwrap_or("");
        let kind = step["kind"].as_str().unwrap();
        if l.starts_with("bbr_catalog_") && ["RecordRunning", "IssueBackup"].contains(&kind) {
            env.sim.execute(step["sql"].as_str().unwrap()).unwrap();
            label = l.to_string();
        }
    }
    finish_backed_up(env, label)
}

/// Writes what the full plan's RUNNING row and manifest would write, then marks it FINISHED: a
/// deterministic stand-in for a real full backup (whose label has a random part).
fn apply_as_finished(env: &Env, plan_json: &str) {
    apply_as_finished_at(env, plan_json, "2026-01-01-00-00-30-000");
}

/// `apply_as_finished` with a given backup_timestamp; returns the label.
fn apply_as_finished_at(env: &Env, plan_json: &str, backup_timestamp: &str) -> String {
    let plan: serde_json::Value = serde_json::from_str(plan_json).unwrap();
    let mut label = String::new();
    for step in data_steps(&plan) {
        let kind = step["kind"].as_str().unwrap();
        if kind == "RecordRunning" || kind == "RecordManifest" {
            env.sim.execute(step["sql"].as_str().unwrap()).unwrap();
            label = step["label"].as_str().unwrap().to_string();
        }
    }
    env.sim
        .execute(&format!(
            "UPDATE ops.backup_history SET status = 'FINISHED', finished_at = NOW(), backup_timestamp = '{backup_timestamp}', snapshot_at = NOW() WHERE label = '{label}'"
        ))
        .unwrap();
    // its snapshot is in the repository (backup discovery checks the bases' sources are there)
    env.sim
        .put_snapshot("backup_repo", &label, backup_timestamp, "sales")
        .unwrap();
    label
}

/// Restore plans: a full-only chain and a full + two incrementals chain, from backups recorded as
/// FINISHED by `golden_chain` (really backed up; deterministic labels and times), after the table was dropped.
#[test]
fn restore_golden_plans() {
    if skip_on_real_cluster("restore_golden_plans") {
        return;
    }
    let env = Env::golden();
    let [full, incr1, incr2] = golden_chain(&env);
    env.sim.drop_table("sales", "orders").unwrap();
    let restore = |label: &str| restore_dry_run(&env, label, &[]);
    let full_only = restore(&full);
    let v: serde_json::Value = serde_json::from_str(&full_only).unwrap();
    assert_eq!(v["inputs"]["restore_jobs"], 1);
    check_golden("restore_full_only.json", &full_only);
    let chain = restore(&incr2);
    let v: serde_json::Value = serde_json::from_str(&chain).unwrap();
    let labels: Vec<&str> = v["inputs"]["chain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, vec![full.as_str(), incr1.as_str(), incr2.as_str()]);
    check_golden("restore_chain.json", &chain);
}

/// init, then a full and two incrementals really backed up and recorded FINISHED (loads between).
fn golden_chain(env: &Env) -> [String; 3] {
    // really backed up: the restore preflight checks every snapshot is in the repository
    env.run_ok(&["init"], 0);
    let full = apply_as_backed_up(env, &dry_run(env, "backup"));
    env.sim.load("sales", "orders", "p20260102", 3).unwrap();
    let incr1 = apply_as_backed_up(env, &dry_run(env, "backup"));
    env.sim.load("sales", "orders", "p20260103", 4).unwrap();
    let incr2 = apply_as_backed_up(env, &dry_run(env, "backup"));
    [full, incr1, incr2]
}

/// The restore dry run of sales.orders as of `label`'s snapshot_at, with `extra` arguments.
fn restore_dry_run(env: &Env, label: &str, extra: &[&str]) -> String {
    let at = env.query(&format!(
        "SELECT snapshot_at FROM ops.backup_history WHERE label = '{label}'"
    ))[0][0]
        .clone()
        .unwrap()[..19]
        .to_string();
    let mut a = vec!["restore", "--table", "sales.orders", "--timestamp", &at];
    a.extend_from_slice(extra);
    dry_run_args(env, &a)
}

#[test]
fn restore_as_replace_and_two_tables_golden_plans() {
    if skip_on_real_cluster("restore_as_replace_golden") {
        return;
    }
    let env = Env::golden();
    let [full, _, incr2] = golden_chain(&env);
    // --replace beside the live table, from one snapshot (the full backup's time)
    let replace = restore_dry_run(&env, &full, &["--replace"]);
    assert!(replace.contains("SWAP WITH"), "{replace}");
    check_golden("restore_replace.json", &replace);
    let as_name = restore_dry_run(&env, &full, &["--as", "orders_copy"]);
    assert!(as_name.contains("RENAME `orders_copy`"), "{as_name}");
    check_golden("restore_as.json", &as_name);
    // two tables of one database at one instant: shared RESTORE jobs
    env.sim.drop_table("sales", "orders").unwrap();
    env.sim.drop_table("sales", "customers").unwrap();
    let two = restore_dry_run(&env, &incr2, &["--table", "sales.customers"]);
    assert!(two.contains("`customers` PARTITION (`customers`)"), "{two}");
    check_golden("restore_two_tables.json", &two);
}

/// Like `apply_as_finished`, but the BACKUP really runs (sent on the control connection with the
/// plan's deterministic label), so its snapshot can be restored; returns the label.
fn apply_as_backed_up(env: &Env, plan_json: &str) -> String {
    let plan: serde_json::Value = serde_json::from_str(plan_json).unwrap();
    let mut label = String::new();
    for step in data_steps(&plan) {
        let kind = step["kind"].as_str().unwrap();
        if ["RecordRunning", "RecordManifest", "IssueBackup"].contains(&kind) {
            env.sim.execute(step["sql"].as_str().unwrap()).unwrap();
            label = step["label"].as_str().unwrap().to_string();
        }
    }
    finish_backed_up(env, label)
}

/// The continuation plan: a restore run of a full + two incrementals chain died while its second
/// RESTORE ran (its first FINISHED, the second submitted and still running) and its heartbeat went
/// stale; the same restore then adopts it: one RESTORE left.
#[test]
fn restore_resume_golden_plan() {
    if skip_on_real_cluster("restore_resume_golden_plan") {
        return;
    }
    let env = Env::golden();
    env.run_ok(&["init"], 0);
    let full = apply_as_backed_up(&env, &dry_run(&env, "backup"));
    env.sim.load("sales", "orders", "p20260102", 3).unwrap();
    let incr1 = apply_as_backed_up(&env, &dry_run(&env, "backup"));
    env.sim.load("sales", "orders", "p20260103", 4).unwrap();
    let incr2 = apply_as_backed_up(&env, &dry_run(&env, "backup"));
    env.sim.drop_table("sales", "orders").unwrap();
    let at = env.query(&format!(
        "SELECT snapshot_at FROM ops.backup_history WHERE label = '{incr2}'"
    ))[0][0]
        .clone()
        .unwrap()[..19]
        .to_string();
    let args = ["restore", "--table", "sales.orders", "--timestamp", &at];
    let v: serde_json::Value = serde_json::from_str(&dry_run_args(&env, &args)).unwrap();
    let steps = v["steps"].as_array().unwrap();
    let sql_of = |kind: &str, n: usize| {
        steps
            .iter()
            .filter(|s| s["kind"] == kind)
            .nth(n)
            .and_then(|s| s["sql"].as_str())
            .unwrap()
            .to_string()
    };
    // what the dead run did: its row, current_label set before each RESTORE, then the RESTORE
    // (a real run's label carries its per-attempt suffix)
    let planned = v["inputs"]["label"].as_str().unwrap().to_string();
    let dead = format!("{planned}_k9x2m4");
    env.sim
        .execute(&sql_of("RecordRestoreRunning", 0).replace(&planned, &dead))
        .unwrap();
    let current = |snapshot: &str| {
        env.sim
            .execute(&format!(
                "UPDATE ops.restore_history SET current_label = '{snapshot}', heartbeat_at = NOW() WHERE label = '{dead}'"
            ))
            .unwrap();
    };
    current(&full);
    env.sim.execute(&sql_of("RestoreSnapshot", 0)).unwrap();
    env.sim.advance(std::time::Duration::from_secs(60));
    env.sim.stall_jobs(true);
    current(&incr1);
    env.sim.execute(&sql_of("RestoreSnapshot", 1)).unwrap();
    env.sim.advance(std::time::Duration::from_secs(400));
    let resume = dry_run_args(&env, &args);
    let r: serde_json::Value = serde_json::from_str(&resume).unwrap();
    assert_eq!(r["inputs"]["adopt"]["label"], dead.as_str());
    assert_eq!(r["inputs"]["adopt"]["links_done"], 2);
    assert_eq!(
        r["inputs"]["adopt"]["links_remaining"],
        serde_json::json!([incr2.as_str()])
    );
    check_golden("restore_resume.json", &resume);
}

#[test]
fn golden_plans() {
    if skip_on_real_cluster("golden_plans") {
        return;
    }
    let env = Env::golden();
    let init = dry_run(&env, "init");
    check_golden("init.json", &init);
    // the same state read at the same cluster time gives the same bytes
    assert_eq!(dry_run(&env, "init").len(), init.len());
    env.run_ok(&["init"], 0);

    let full = dry_run(&env, "backup");
    check_golden("backup_full.json", &full);

    apply_as_finished(&env, &full);
    apply_catalog_as_backed_up(&env, &full);
    let nothing = dry_run(&env, "backup");
    check_golden("backup_nothing_changed.json", &nothing);

    env.sim.load("sales", "orders", "p20260102", 3).unwrap();
    env.sim.load("sales", "customers", "customers", 2).unwrap();
    let incr = dry_run(&env, "backup");
    check_golden("backup_incremental.json", &incr);
}

#[test]
fn same_state_same_time_gives_identical_plan() {
    if skip_on_real_cluster("same_state_same_time_gives_identical_plan") {
        return;
    }
    let a = {
        let env = Env::golden();
        env.run_ok(&["init"], 0);
        dry_run(&env, "backup")
    };
    let b = {
        let env = Env::golden();
        env.run_ok(&["init"], 0);
        dry_run(&env, "backup")
    };
    assert_eq!(a, b);
}

/// The expire plan on a 4.2 cluster (DROP SNAPSHOT): four daily backups, the third `--full` (a
/// whole-table record every later restore folds from), keep_days 1: the first two are needed by no
/// restore point of the last day.
#[test]
fn expire_golden_plan() {
    if skip_on_real_cluster("expire_golden_plan") {
        return;
    }
    let env = Env::golden_with(
        starrocks_sim::SimOptions {
            drop_snapshot: true,
            ..sim_options()
        },
        "retention: { keep_days: 1 }\n",
    );
    env.run_ok(&["init"], 0);
    let mut labels = Vec::new();
    for day in 0..4 {
        if day > 0 {
            env.sim.advance(std::time::Duration::from_secs(86_400));
            env.sim.load("sales", "orders", "p20260102", 3).unwrap();
        }
        // a whole-table record on day 2: with lean manifests what precedes it can expire
        let args: &[&str] = if day == 2 {
            &["backup", "--full"]
        } else {
            &["backup"]
        };
        labels.push(apply_as_backed_up(&env, &dry_run_args(&env, args)));
    }
    env.sim.advance(std::time::Duration::from_secs(3_600));
    let plan = dry_run(&env, "expire");
    let v: serde_json::Value = serde_json::from_str(&plan).unwrap();
    let drops: Vec<&str> = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["kind"] == "DropSnapshot")
        .map(|s| s["details"]["snapshot"].as_str().unwrap())
        .collect();
    assert_eq!(drops, vec![labels[0].as_str(), labels[1].as_str()]);
    check_golden("expire.json", &plan);
}

/// Tables left out of a run (planner::left_out): a LIST-partitioned table on 3.1 and a configured
/// table that does not exist; the rest of the database is still backed up.
#[test]
fn left_out_golden_plan() {
    if skip_on_real_cluster("left_out_golden_plan") {
        return;
    }
    let env = Env::golden();
    env.sim
        .create_table(
            "sales",
            "regions",
            &starrocks_sim::TableSpec::new(&[("id", "BIGINT"), ("city", "VARCHAR(16)")]).list(
                "city",
                vec![starrocks_sim::PartitionSpec::list("p_bj", &["bj"])],
            ),
        )
        .unwrap();
    let text = std::fs::read_to_string(&env.config).unwrap().replace(
        "  - sales.customers\n",
        "  - sales.customers\n  - sales.regions\n  - sales.gone\n",
    );
    std::fs::write(&env.config, text).unwrap();
    env.run_ok(&["init"], 0);
    let plan = dry_run(&env, "backup");
    let v: serde_json::Value = serde_json::from_str(&plan).unwrap();
    let reasons: Vec<&str> = v["inputs"]["left_out"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["missing", "list_partitioned"]);
    // recorded after the database's claim and base check, under its job's label
    let kinds: Vec<&str> = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds[..4],
        ["RecordRunning", "Claim", "CheckBase", "RecordLeftOut"]
    );
    check_golden("backup_left_out.json", &plan);
}

/// `recover` on a new cluster sharing the repository of a cluster whose full backup and catalog
/// backup finished (deterministic labels from the dry-run plan, run for real).
#[test]
fn recover_golden_plan() {
    if skip_on_real_cluster("recover_golden_plan") {
        return;
    }
    let a = Env::golden();
    a.run_ok(&["init"], 0);
    let plan = dry_run(&a, "backup");
    apply_as_backed_up(&a, &plan);
    let catalog = apply_catalog_as_backed_up(&a, &plan);
    let b_sim = starrocks_sim::Sim::start(starrocks_sim::SimOptions {
        repository_store: Some(a.sim.repository_store()),
        first_id: 900_001,
        start_time: chrono::NaiveDate::from_ymd_opt(2026, 3, 1)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap(),
        ..sim_options()
    })
    .unwrap();
    b_sim.create_repository("backup_repo", false).unwrap();
    let config = a.dir.path().join("config_b.yaml");
    std::fs::write(
        &config,
        std::fs::read_to_string(&a.config).unwrap().replace(
            &format!("port: {}", a.sim.port()),
            &format!("port: {}", b_sim.port()),
        ),
    )
    .unwrap();
    let b = Env {
        sim: b_sim,
        dir: tempfile::tempdir().unwrap(),
        config,
    };
    let recover = dry_run(&b, "recover");
    let v: serde_json::Value = serde_json::from_str(&recover).unwrap();
    assert_eq!(v["inputs"]["catalog"]["label"], catalog.as_str());
    check_golden("recover.json", &recover);
}

/// A minute later (the BACKUP sent for `label` has FINISHED), records it FINISHED with its snapshot's
/// timestamp; returns the label.
fn finish_backed_up(env: &Env, label: String) -> String {
    env.sim.advance(std::time::Duration::from_secs(60));
    let ts = env
        .sim
        .snapshots("backup_repo")
        .into_iter()
        .find(|s| s.label == label)
        .unwrap()
        .timestamp;
    env.sim
        .execute(&format!(
            "UPDATE ops.backup_history SET status = 'FINISHED', finished_at = NOW(), backup_timestamp = '{ts}', snapshot_at = NOW() WHERE label = '{label}'"
        ))
        .unwrap();
    label
}
