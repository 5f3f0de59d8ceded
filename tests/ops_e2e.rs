//! Running under cron and Kubernetes: signals, closed pipes, per-process retry jitter, logging
//! levels — over the wire against the simulator.

mod common;
use common::*;

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn bin() -> std::path::PathBuf {
    assert_cmd::cargo::cargo_bin("starrocks-bbr")
}

/// Starts `args --config <env's>` in the background with stderr captured.
fn spawn(env: &Env, args: &[&str]) -> Child {
    Command::new(bin())
        .args(args)
        .arg("--config")
        .arg(&env.config)
        .env_remove("RUST_LOG")
        .env_remove("STARROCKS_BBR_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn wait_until(env: &Env, child: &mut Child, what: impl Fn(&[String]) -> bool) {
    let start = Instant::now();
    while !what(&env.sent()) {
        assert!(start.elapsed() < Duration::from_secs(60), "never reached");
        assert!(child.try_wait().unwrap().is_none(), "the run ended early");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(child: &Child, sig: i32) {
    let pid = i32::try_from(child.id()).unwrap();
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
}

fn backup_row_status(env: &Env) -> Vec<(String, String)> {
    env.query("SELECT status, heartbeat_at FROM ops.backup_history ORDER BY started_at")
        .into_iter()
        .map(|r| {
            (
                r[0].clone().unwrap_or_default(),
                r[1].clone().unwrap_or_default(),
            )
        })
        .collect()
}

/// SIGTERM / SIGINT while the job is polled: exit 143 / 130, nothing new sent, the job left running
/// in StarRocks and its row released; an immediate rerun takes it over (no exit 4, no second BACKUP).
#[test]
fn signal_during_polling_then_an_immediate_rerun_finishes_the_job() {
    if skip_on_real_cluster("signal_during_polling") {
        return;
    }
    for (sig, code, name) in [
        (libc::SIGTERM, 143, "SIGTERM"),
        (libc::SIGINT, 130, "SIGINT"),
    ] {
        let env = Env::demo();
        env.run_ok(&["init"], 0);
        env.sim.stall_jobs(true);
        let mut child = spawn(&env, &["backup"]);
        wait_until(&env, &mut child, |sent| {
            sent.iter().filter(|s| s.starts_with("SHOW BACKUP")).count() >= 2
        });
        let before = env.sent().len();
        signal(&child, sig);
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(code), "{name}: {stderr}");
        let last = stderr.lines().last().unwrap_or_default();
        assert!(
            last.starts_with("error: stopped by ") && last.contains(name),
            "{last}"
        );
        // After the signal: only the release of our row (no BACKUP, no CANCEL, no new poll loop).
        let after: Vec<String> = env.sent()[before..].to_vec();
        assert!(
            after.iter().all(|s| s.starts_with("SHOW BACKUP")
                || s.starts_with("SELECT NOW()")
                || s.contains("'1970-01-01 00:00:00'")),
            "{after:#?}"
        );
        assert!(
            after.iter().any(|s| s.contains("'1970-01-01 00:00:00'")),
            "{after:#?}"
        );
        let rows = backup_row_status(&env);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].0, "RUNNING");
        assert!(rows[0].1.starts_with("1970-01-01"), "{rows:?}");
        assert!(env.sim.jobs().iter().all(|j| j.state != "CANCELLED"));
        // The rerun, at once: takes the job over and finishes it.
        env.sim.stall_jobs(false);
        let stdout = env.run_ok(&["backup"], 0);
        assert!(stdout.contains("interrupted backup"), "{stdout}");
        assert_eq!(env.backups_sent(), 1, "a second BACKUP was sent");
        let rows = backup_row_status(&env);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].0, "FINISHED");
    }
}

/// A config pointing at a port where nothing listens (an FE that is down), with `retry` tuning.
fn down_config(retry: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.yaml");
    std::fs::write(
        &config,
        format!("connection: {{host: 127.0.0.1, port: {port}, user: root}}\nrepository: r\ntables: [a.b]\nretry: {{{retry}}}\n"),
    )
    .unwrap();
    (dir, config)
}

/// Both ends of a pipe whose reader has gone (`backup 2>&1 | head -0`).
fn closed_pipe() -> (Stdio, Stdio) {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    (
        Stdio::from(writer.try_clone().unwrap()),
        Stdio::from(writer),
    )
}

fn run_into_closed_pipe(env: &Env, args: &[&str]) -> Output {
    let (out, err) = closed_pipe();
    Command::new(bin())
        .args(args)
        .arg("--config")
        .arg(&env.config)
        .env_remove("RUST_LOG")
        .stdout(out)
        .stderr(err)
        .output()
        .unwrap()
}

/// A closed stdout/stderr never panics and never changes the outcome or the exit code.
#[test]
fn closed_pipes_keep_the_jobs_outcome_and_exit_code() {
    let env = Env::demo();
    env.run_ok(&["init"], 0);
    let o = run_into_closed_pipe(&env, &["-vv", "backup"]);
    assert_eq!(o.status.code(), Some(0), "good backup");
    assert_eq!(env.history().last().unwrap().2, "FINISHED");
    let o = run_into_closed_pipe(&env, &["list"]);
    assert_eq!(o.status.code(), Some(0), "list | head -0");
    if real_dsn().is_none() {
        env.sim.load("sales", "orders", "p20260101", 3).unwrap();
        env.sim
            .cancel_next_job("[COMMON_ERROR, msg: upload failed]");
        let o = run_into_closed_pipe(&env, &["backup"]);
        assert_eq!(o.status.code(), Some(1), "a failed backup still exits 1");
        assert_eq!(env.history().last().unwrap().2, "FAILED");
    }
}

/// The first retry delays of two processes differ (jitter seeded per process, not backon's
/// fixed no_std seed), and an unreachable FE ends in one line without library debug text.
#[test]
fn two_processes_retry_with_different_jitter() {
    let (_dir, config) = down_config("attempts: 2, initial_ms: 100, max_ms: 200");
    let delays: Vec<String> = (0..2)
        .map(|_| {
            let o = Command::new(bin())
                .args(["list", "--config"])
                .arg(&config)
                .env_remove("RUST_LOG")
                .output()
                .unwrap();
            let e = String::from_utf8_lossy(&o.stderr).to_string();
            assert_eq!(o.status.code(), Some(3), "{e}");
            let last = e.lines().last().unwrap();
            assert!(last.starts_with("error: cannot reach"), "{last}");
            for bad in ["Kind", "Some(", "DriverError", "{", "os error"] {
                assert!(!last.contains(bad), "library text in: {last}");
            }
            let d = e
                .lines()
                .find_map(|l| l.split("retrying in ").nth(1))
                .unwrap_or_else(|| panic!("no retry delay logged: {e}"));
            d.to_string()
        })
        .collect();
    assert_ne!(delays[0], delays[1], "same jitter in two processes");
}

/// -q < default < -v < -vv: each step changes what is printed; --log-format json is JSON lines.
#[test]
fn verbosity_steps_and_json_logs() {
    let stderr_of = |args: &[&str]| {
        let env = Env::demo();
        env.run_ok(&["init"], 0);
        let o = env.run(args);
        assert_eq!(o.status.code(), Some(0));
        String::from_utf8_lossy(&o.stderr).to_string()
    };
    let q = stderr_of(&["-q", "backup"]);
    let d = stderr_of(&["backup"]);
    let v = stderr_of(&["-v", "backup"]);
    let vv = stderr_of(&["-vv", "backup"]);
    let counts = [
        q.lines().count(),
        d.lines().count(),
        v.lines().count(),
        vv.lines().count(),
    ];
    assert!(
        counts.windows(2).all(|w| w[0] < w[1]),
        "{counts:?}\n{q}\n--\n{d}\n--\n{v}\n--\n{vv}"
    );
    let env = Env::demo();
    env.run_ok(&["init"], 0);
    let lines = |args: &[&str]| {
        let o = env.run(args);
        assert_eq!(o.status.code(), Some(0));
        String::from_utf8_lossy(&o.stderr).to_string()
    };
    let j = lines(&["--log-format", "json", "-v", "backup"]);
    assert!(!j.is_empty());
    for l in j.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        assert!(
            v.get("level").is_some() && v.get("message").is_some(),
            "{l}"
        );
    }
    // the final error line is a JSON object too
    let o = env.run(&[
        "--log-format",
        "json",
        "restore",
        "--table",
        "sales.nope",
        "--timestamp",
        "2020-01-01 00:00:00",
    ]);
    assert_ne!(o.status.code(), Some(0));
    for l in String::from_utf8_lossy(&o.stderr).lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        assert!(v.get("message").is_some(), "{l}");
    }
    // --config is accepted before the subcommand too.
    let o = std::process::Command::new(bin())
        .arg("--config")
        .arg(&env.config)
        .arg("list")
        .env_remove("STARROCKS_BBR_CONFIG")
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The config errors of issue 12 through the binary: exit 2, one line naming the real key.
#[test]
fn config_errors_are_one_line_naming_the_key() {
    let env = Env::demo();
    let cfg = std::fs::read_to_string(&env.config).unwrap();
    let cases = [
        (
            cfg.replace("  user: root\n", ""),
            "key 'connection.user' is missing",
        ),
        (
            cfg.replace("  user: root\n", "  user: root\n  user: x\n"),
            "key 'connection.user' appears twice",
        ),
        (
            format!("{cfg}heartbeat_stale_s: 1\n"),
            "key 'heartbeat_stale_s'",
        ),
        (
            cfg.replace(&format!("port: {}", env.sim.port()), "port: 0"),
            "key 'connection.port'",
        ),
        (
            cfg.replace(&format!("port: {}", env.sim.port()), "port: 99999"),
            "key 'connection.port' must be a whole number from 1 to 65535",
        ),
    ];
    for (text, want) in cases {
        std::fs::write(&env.config, &text).unwrap();
        let o = env.run(&["backup"]);
        let e = String::from_utf8_lossy(&o.stderr).to_string();
        assert_eq!(o.status.code(), Some(2), "{e}");
        assert_eq!(e.lines().count(), 1, "{e}");
        assert!(
            e.contains(want) && e.contains("config.yaml:"),
            "want {want}: {e}"
        );
    }
    // replication_num above the alive backends: init exits 2 naming the key; fixed, it runs.
    std::fs::write(
        &env.config,
        cfg.replace("replication_num: 1", "replication_num: 3"),
    )
    .unwrap();
    let o = env.run(&["init"]);
    let e = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(2), "{e}");
    let last = e.lines().last().unwrap();
    assert!(
        last.contains("key 'replication_num' (3) is above the 1 alive backend"),
        "{e}"
    );
    std::fs::write(&env.config, &cfg).unwrap();
    env.run_ok(&["init"], 0);
}

/// password_file: the first line is the password; it never leaks.
#[test]
fn password_file_logs_in() {
    let env = Env::with_secret("");
    let pw = env.dir.path().join("pw");
    std::fs::write(&pw, format!("{SECRET}\nsecond line\n")).unwrap();
    let text = std::fs::read_to_string(&env.config).unwrap().replace(
        &format!("  password_env: {SECRET_VAR}\n"),
        &format!("  password_file: {}\n", pw.display()),
    );
    std::fs::write(&env.config, text).unwrap();
    let o = env.cmd(&["init"]).env_remove(SECRET_VAR).output().unwrap();
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert_no_secret(&env.sim, &[&out, &err]);
}

/// `db.*` picks up a table created after the config was written; `exclude:` leaves one out.
#[test]
fn db_star_picks_up_a_new_table_and_exclude_leaves_one_out() {
    if skip_on_real_cluster("db_star") {
        return;
    }
    let env = Env::demo();
    let text = std::fs::read_to_string(&env.config).unwrap().replace(
        "  - sales.orders\n  - sales.customers\n",
        "  - sales.*\nexclude: [sales.tmp_*]\n",
    );
    std::fs::write(&env.config, text).unwrap();
    env.run_ok(&["init"], 0);
    let spec = starrocks_sim::TableSpec::new(&[("id", "BIGINT")]);
    env.sim.create_table("sales", "tmp_load", &spec).unwrap();
    env.run_ok(&["backup"], 0);
    assert_eq!(
        env.last_job_objects().len(),
        2,
        "{:?}",
        env.last_job_objects()
    );
    env.sim.create_table("sales", "returns", &spec).unwrap();
    env.sim.load("sales", "returns", "returns", 4).unwrap();
    let out = env.run_ok(&["backup"], 0);
    assert!(out.contains("FINISHED"), "{out}");
    let objects = env.last_job_objects();
    assert!(objects.iter().any(|o| o.contains("returns")), "{objects:?}");
    assert!(
        !objects.iter().any(|o| o.contains("tmp_load")),
        "{objects:?}"
    );
}

fn check_json(env: &Env, code: i32) -> Vec<serde_json::Value> {
    let out = env.run_ok(&["check", "--format", "json"], code);
    serde_json::from_str::<Vec<serde_json::Value>>(&out).unwrap()
}

fn status_of<'a>(results: &'a [serde_json::Value], name: &str) -> (&'a str, &'a str) {
    let r = results
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no check {name}: {results:#?}"));
    (r["status"].as_str().unwrap(), r["detail"].as_str().unwrap())
}

/// `check`: ok after init + backup; fail (exit 1) naming the cause when the ops schema is missing,
/// a table is gone, or a snapshot the newest restore point needs left the repository. Read-only.
#[test]
fn check_ok_and_fail_cases() {
    if skip_on_real_cluster("check_ok_and_fail_cases") {
        return;
    }
    let env = Env::demo();
    let r = check_json(&env, 1);
    assert_eq!(status_of(&r, "ops_schema").0, "fail");
    assert!(status_of(&r, "ops_schema")
        .1
        .contains("run `starrocks-bbr init`"));
    env.run_ok(&["init"], 0);
    env.run_ok(&["backup"], 0);
    env.sim.clear_statements();
    let r = check_json(&env, 0);
    for name in [
        "connection",
        "run_mode",
        "repository",
        "backends",
        "ops_schema",
        "tables",
        "snapshots",
    ] {
        assert_eq!(status_of(&r, name).0, "ok", "{name}: {r:#?}");
    }
    for s in env.sent() {
        let u = s.trim_start().to_ascii_uppercase();
        assert!(
            u.starts_with("SELECT")
                || u.starts_with("SHOW")
                || u.starts_with("ADMIN SHOW")
                || u.starts_with("SET"),
            "check sent a write: {s}"
        );
    }
    let table = env.run_ok(&["check"], 0);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("repository") && l.contains(" ok ")),
        "{table}"
    );
    // a reconfigured repository: each snapshot is still read from the repository its row names
    let label = env.history()[0].0.clone();
    env.sim.create_repository("empty_repo", false).unwrap();
    let cfg = std::fs::read_to_string(&env.config).unwrap();
    std::fs::write(
        &env.config,
        cfg.replace("repository: backup_repo", "repository: empty_repo"),
    )
    .unwrap();
    let r = check_json(&env, 0);
    assert_eq!(status_of(&r, "snapshots").0, "ok", "{r:#?}");
    assert_eq!(status_of(&r, "repository").0, "ok");
    std::fs::write(&env.config, cfg).unwrap();
    // the snapshot the newest restore points need is deleted from the repository's storage
    env.sim.delete_snapshot_files("backup_repo", &label);
    let r = check_json(&env, 1);
    let (st, detail) = status_of(&r, "snapshots");
    assert_eq!(st, "fail");
    assert!(
        detail.contains(&label) && detail.contains("backup_repo"),
        "{detail}"
    );
    // a table with temporary partitions cannot be backed up now
    env.sim
        .add_temp_partition(
            "sales",
            "orders",
            &starrocks_sim::PartitionSpec::less_than("tp1", "2026-01-02"),
        )
        .unwrap();
    let r = check_json(&env, 1);
    let (st, detail) = status_of(&r, "tables");
    assert_eq!(st, "fail");
    assert!(
        detail.contains("sales.orders") && detail.contains("temporary partitions"),
        "{detail}"
    );
    env.sim.drop_table("sales", "customers").unwrap();
    let o = env.run(&["check"]);
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.lines().any(|l| l.starts_with("tables")
            && l.contains("FAIL")
            && l.contains("sales.customers")),
        "{out}"
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.lines()
            .last()
            .unwrap()
            .contains("checks failed: tables"),
        "{err}"
    );
}

/// `check` on a shared-data cluster: the run_mode check fails (exit 1) and says why.
#[test]
fn check_refuses_a_shared_data_cluster() {
    if skip_on_real_cluster("check_shared_data") {
        return;
    }
    let env = Env::with(
        starrocks_sim::SimOptions {
            shared_data: true,
            ..sim_options()
        },
        "",
    );
    let r = check_json(&env, 1);
    let (st, detail) = status_of(&r, "run_mode");
    assert_eq!(st, "fail");
    assert!(detail.contains("shared_data"), "{detail}");
}

/// Parses a Prometheus text file into (name{labels}) -> value.
fn parse_prom(text: &str) -> std::collections::BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').unwrap();
            (
                k.to_string(),
                v.parse::<f64>()
                    .unwrap_or_else(|_| panic!("bad value: {l}")),
            )
        })
        .collect()
}

/// metrics_file after a good backup and after a failed one (parsed), replaced each time.
#[test]
fn metrics_file_after_a_good_and_a_failed_run() {
    if skip_on_real_cluster("metrics_file") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let prom = dir.path().join("bbr.prom");
    let env = Env::with(
        sim_options(),
        &format!("metrics_file: {}\n", prom.display()),
    );
    env.run_ok(&["init"], 0);
    env.run_ok(&["backup"], 0);
    let m = parse_prom(&std::fs::read_to_string(&prom).unwrap());
    assert_eq!(
        m["starrocks_bbr_last_run_status{database=\"sales\"}"], 1.0,
        "{m:#?}"
    );
    assert_eq!(
        m["starrocks_bbr_backup_partitions{database=\"sales\"}"], 5.0,
        "{m:#?}"
    );
    assert!(
        m["starrocks_bbr_last_success_timestamp_seconds{database=\"sales\",type=\"full\"}"] > 1.6e9
    );
    assert!(m.contains_key("starrocks_bbr_backup_duration_seconds{database=\"sales\"}"));
    assert_eq!(
        m["starrocks_bbr_restore_jobs_needed{database=\"sales\",table=\"orders\"}"],
        1.0
    );
    assert_eq!(
        m["starrocks_bbr_last_run_exit_code{command=\"backup\"}"],
        0.0
    );
    // a failed backup: status 0, the last success kept
    env.sim.load("sales", "orders", "p20260101", 3).unwrap();
    env.sim
        .cancel_next_job("[COMMON_ERROR, msg: upload failed]");
    env.run_ok(&["backup"], 1);
    let m = parse_prom(&std::fs::read_to_string(&prom).unwrap());
    assert_eq!(
        m["starrocks_bbr_last_run_status{database=\"sales\"}"], 0.0,
        "{m:#?}"
    );
    assert_eq!(
        m["starrocks_bbr_last_run_exit_code{command=\"backup\"}"],
        1.0
    );
    assert!(m.contains_key(
        "starrocks_bbr_last_success_timestamp_seconds{database=\"sales\",type=\"full\"}"
    ));
    // check writes it too, and a check is no run of the database: its status stays
    env.run_ok(&["check"], 0);
    let m = parse_prom(&std::fs::read_to_string(&prom).unwrap());
    assert!(m.contains_key("starrocks_bbr_last_run_exit_code{command=\"check\"}"));
    assert_eq!(
        m["starrocks_bbr_last_run_status{database=\"sales\"}"], 0.0,
        "{m:#?}"
    );
    // a good backup, then a restore and an expire each replace the file with their own run
    env.run_ok(&["backup"], 0);
    env.sim.advance(Duration::from_secs(60));
    // (customers never changed: one snapshot covers it, so --as beside the live table works)
    env.run_ok(
        &[
            "restore",
            "--table",
            "sales.customers",
            "--timestamp",
            "latest",
            "--as",
            "customers_copy",
        ],
        0,
    );
    let m = parse_prom(&std::fs::read_to_string(&prom).unwrap());
    assert_eq!(
        m["starrocks_bbr_last_run_exit_code{command=\"restore\"}"],
        0.0
    );
    assert_eq!(
        m["starrocks_bbr_last_run_status{database=\"sales\"}"], 1.0,
        "{m:#?}"
    );
    assert!(
        m.contains_key("starrocks_bbr_restore_jobs_needed{database=\"sales\",table=\"orders\"}")
    );
    env.append_config("retention: { keep_days: 7 }\n");
    env.run_ok(&["expire"], 0);
    let m = parse_prom(&std::fs::read_to_string(&prom).unwrap());
    assert_eq!(
        m["starrocks_bbr_last_run_exit_code{command=\"expire\"}"],
        0.0
    );
    assert!(m.contains_key(
        "starrocks_bbr_last_success_timestamp_seconds{database=\"sales\",type=\"full\"}"
    ));
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "temp files left behind"
    );
}

/// A job sitting in one state gets periodic progress lines (state, elapsed, Progress column), and
/// the run ends with a summary with durations.
#[test]
fn progress_lines_while_a_job_sits_in_one_state_and_a_final_summary() {
    if skip_on_real_cluster("progress_lines") {
        return;
    }
    let env = Env::demo();
    env.run_ok(&["init"], 0);
    env.sim.stall_jobs(true);
    let mut child = spawn(&env, &["backup"]);
    std::thread::sleep(Duration::from_millis(2500));
    env.sim.stall_jobs(false);
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(start.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let progress: Vec<&str> = err.lines().filter(|l| l.contains(": still ")).collect();
    assert!(!progress.is_empty(), "{err}");
    assert!(
        progress[0].contains(" after ") && progress[0].contains("(Progress "),
        "{}",
        progress[0]
    );
    let summary = err
        .lines()
        .find(|l| l.contains("summary: 1 job(s) in "))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(summary.contains("FINISHED in "), "{summary}");
}

/// `completions SHELL` and `man` print without a config.
#[test]
fn completions_and_man_print() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let o = Command::new(bin())
            .args(["completions", shell])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0));
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(
            text.contains("starrocks-bbr") && text.contains("check"),
            "{shell}"
        );
    }
    let o = Command::new(bin()).arg("man").output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.starts_with(".ie") || text.contains(".TH"), "{text}");
    assert!(
        text.contains("starrocks\\-bbr") && text.contains("backup"),
        "{text}"
    );
}

/// A test CA and a server certificate for 127.0.0.1/localhost signed by it: (CA PEM, chain DER, key DER).
fn test_pki() -> (String, Vec<Vec<u8>>, Vec<u8>) {
    test_pki_for(&["localhost", "127.0.0.1"])
}

/// Writes `plain` (the env's config) pointing at the TLS front on `port` with `tls:` set.
fn write_tls_config(env: &Env, plain: &str, port: u16, tls: &str) {
    let text = plain
        .replace(
            &format!("port: {}", env.sim.port()),
            &format!("port: {port}"),
        )
        .replacen(
            "  user: root\n",
            &format!("  user: root\n  tls: {tls}\n"),
            1,
        );
    std::fs::write(&env.config, text).unwrap();
}

/// A test CA and a server certificate it signed for `names`.
fn test_pki_for(names: &[&str]) -> (String, Vec<Vec<u8>>, Vec<u8>) {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "starrocks-bbr test CA");
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let srv_params =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap();
    let srv_key = rcgen::KeyPair::generate().unwrap();
    let srv = srv_params.signed_by(&srv_key, &ca, &ca_key).unwrap();
    (ca.pem(), vec![srv.der().to_vec()], srv_key.serialize_der())
}

/// connection.tls against the simulator serving TLS with a test CA: verify_ca / verify_identity /
/// required connect and run; another CA is refused at once with exit 3 and one line.
#[test]
fn tls_verify_ca_connects_and_a_wrong_ca_is_exit_3() {
    if skip_on_real_cluster("tls") {
        return;
    }
    let env = Env::demo();
    let (ca_pem, chain, key) = test_pki();
    let front = starrocks_sim::TlsFront::start(env.sim.port(), chain, key).unwrap();
    let ca = env.dir.path().join("ca.pem");
    std::fs::write(&ca, &ca_pem).unwrap();
    let plain = std::fs::read_to_string(&env.config).unwrap();
    let with_tls = |tls: &str| write_tls_config(&env, &plain, front.port(), tls);
    let verify = |mode: &str, ca_file: &std::path::Path| {
        format!("{{mode: {mode}, ca_file: {}}}", ca_file.display())
    };
    with_tls(&verify("verify_ca", &ca));
    env.run_ok(&["init"], 0);
    env.run_ok(&["backup"], 0);
    with_tls(&verify("verify_identity", &ca));
    env.run_ok(&["list"], 0);
    with_tls("{mode: required}");
    env.run_ok(&["list"], 0);
    // a CA that did not sign the server's certificate
    let (other_ca, _, _) = test_pki();
    let wrong = env.dir.path().join("other-ca.pem");
    std::fs::write(&wrong, other_ca).unwrap();
    with_tls(&verify("verify_ca", &wrong));
    let start = Instant::now();
    let o = env.run(&["list"]);
    let e = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(3), "{e}");
    assert_eq!(e.lines().count(), 1, "retried or more than one line: {e}");
    assert!(
        e.contains("TLS handshake failed") && e.contains("ca_file"),
        "{e}"
    );
    assert!(start.elapsed() < Duration::from_secs(10));
}

/// SIGTERM while a restore polls its RESTORE job: exit 143 with the row released; an immediate
/// rerun of the same command continues that run (restore continuation accepts the released row)
/// without a second RESTORE, and the one restore_history row ends FINISHED.
#[test]
fn sigterm_during_a_restore_then_an_immediate_rerun_continues_it() {
    if skip_on_real_cluster("sigterm_restore") {
        return;
    }
    let env = Env::demo();
    env.run_ok(&["init"], 0);
    env.run_ok(&["backup"], 0);
    env.sim.advance(Duration::from_secs(60));
    let target = env.sim.now().format("%Y-%m-%d %H:%M:%S").to_string();
    env.sim.drop_table("sales", "orders").unwrap();
    env.sim.clear_statements();
    env.sim.stall_jobs(true);
    let args = [
        "restore",
        "--table",
        "sales.orders",
        "--timestamp",
        target.as_str(),
    ];
    let mut child = spawn(&env, &args);
    wait_until(&env, &mut child, |sent| {
        sent.iter()
            .filter(|s| s.starts_with("SHOW RESTORE"))
            .count()
            >= 2
    });
    signal(&child, libc::SIGTERM);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(143), "{err}");
    let rows = env.query("SELECT status, heartbeat_at FROM ops.restore_history");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][0].as_deref(), Some("RUNNING"));
    assert!(
        rows[0][1]
            .as_deref()
            .unwrap_or_default()
            .starts_with("1970-01-01"),
        "{rows:?}"
    );
    env.sim.stall_jobs(false);
    let o = env.run(&args);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}");
    let restores = env
        .sent()
        .iter()
        .filter(|s| s.starts_with("RESTORE"))
        .count();
    assert_eq!(restores, 1, "a second RESTORE was sent");
    let rows = env.query("SELECT status FROM ops.restore_history");
    assert_eq!(rows, vec![vec![Some("FINISHED".to_string())]]);
    assert!(env.sim.table_exists("sales", "orders"));
}

/// SIGTERM while the connection is being retried (an FE that is down): exit 143, not 3.
#[test]
fn sigterm_while_retrying_the_connection_exits_143() {
    let (_dir, config) = down_config("attempts: 20, initial_ms: 2000, max_ms: 4000");
    let child = Command::new(bin())
        .args(["backup", "--config"])
        .arg(&config)
        .env_remove("RUST_LOG")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    let start = Instant::now();
    signal(&child, libc::SIGTERM);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(143), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "did not stop at once"
    );
    assert!(
        err.lines()
            .last()
            .unwrap()
            .starts_with("error: stopped by SIGTERM"),
        "{err}"
    );
}

/// `check` against an FE that is down: one failed `connection` check in the JSON, exit 1.
#[test]
fn check_without_a_cluster_fails_the_connection_check() {
    let (_dir, config) = down_config("attempts: 1");
    let o = Command::new(bin())
        .args(["check", "--format", "json", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let v: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v.len(), 1);
    assert_eq!(
        (v[0]["name"].as_str(), v[0]["status"].as_str()),
        (Some("connection"), Some("fail"))
    );
    assert!(v[0]["detail"]
        .as_str()
        .unwrap()
        .contains("connection refused"));
}

/// `check` fails, naming the cause and what to do, for a repository that is missing or read only
/// and for fewer alive backends than `replication_num`; the other checks still run.
#[test]
fn check_fails_for_the_repository_and_the_backends() {
    if skip_on_real_cluster("check_repository_backends") {
        return;
    }
    let env = Env::demo();
    env.run_ok(&["init"], 0);
    let cfg = std::fs::read_to_string(&env.config).unwrap();
    let with = |from: &str, to: &str| {
        assert!(cfg.contains(from), "{cfg}");
        std::fs::write(&env.config, cfg.replace(from, to)).unwrap();
    };
    with("repository: backup_repo", "repository: no_such_repo");
    let r = check_json(&env, 1);
    let (st, detail) = status_of(&r, "repository");
    assert_eq!(st, "fail");
    assert!(
        detail.contains("no_such_repo") && detail.contains("CREATE REPOSITORY"),
        "{detail}"
    );
    assert_eq!(status_of(&r, "ops_schema").0, "ok", "the rest still ran");

    env.sim.create_repository("ro_repo", true).unwrap();
    with("repository: backup_repo", "repository: ro_repo");
    let r = check_json(&env, 1);
    let (st, detail) = status_of(&r, "repository");
    assert_eq!(st, "fail");
    assert!(detail.contains("read only"), "{detail}");

    with("replication_num: 1", "replication_num: 3");
    let r = check_json(&env, 1);
    let (st, detail) = status_of(&r, "backends");
    assert_eq!(st, "fail");
    assert!(
        detail.contains("1 alive backend(s) < replication_num 3"),
        "{detail}"
    );
    std::fs::write(&env.config, cfg).unwrap();
    check_json(&env, 0);
}

/// SPEC `check` "connection and release": a supported release is ok, one newer than the tool
/// was verified against is a warning (exit 0), one older than 2.5 fails.
#[test]
fn check_judges_the_release() {
    if skip_on_real_cluster("check_release") {
        return;
    }
    let env = Env::demo();
    env.run_ok(&["init"], 0);
    for (release, status, code, says) in [
        ("4.1.0", "ok", 0, "StarRocks 4.1.0, a supported release"),
        ("4.3.0", "warn", 0, "newer than the releases"),
        ("2.4.5", "fail", 1, "older than 2.5"),
    ] {
        env.sim.set_release(release).unwrap();
        let r = check_json(&env, code);
        let (st, detail) = status_of(&r, "connection");
        assert_eq!(st, status, "{release}: {detail}");
        assert!(detail.contains(says), "{release}: {detail}");
    }
}

/// SPEC "NO_COLOR is honoured": on a terminal (a pty from util-linux `script`) log lines are
/// coloured, and with NO_COLOR set they are not.
#[test]
fn no_color_on_a_terminal() {
    let Ok(script) = which_script() else {
        eprintln!("skipped: util-linux `script` (for a pty) is not installed");
        return;
    };
    let env = Env::demo();
    env.run_ok(&["init"], 0);
    let bin = assert_cmd::cargo::cargo_bin("starrocks-bbr");
    let on_tty = |no_color: Option<&str>| -> String {
        let line = format!(
            "{} backup --dry-run --config {}",
            bin.display(),
            env.config.display()
        );
        let mut c = std::process::Command::new(&script);
        c.args(["-qec", &line, "/dev/null"])
            .env_remove("RUST_LOG")
            .env("TERM", "xterm");
        match no_color {
            Some(v) => c.env("NO_COLOR", v),
            None => c.env_remove("NO_COLOR"),
        };
        let o = c.output().unwrap();
        assert!(o.status.success(), "{o:?}");
        String::from_utf8_lossy(&o.stdout).to_string()
    };
    let coloured = on_tty(None);
    assert!(
        coloured.contains("\u{1b}["),
        "no colour on a tty: {coloured:?}"
    );
    let plain = on_tty(Some("1"));
    assert!(!plain.contains("\u{1b}["), "NO_COLOR ignored: {plain:?}");
    assert!(
        plain.contains("INFO") || plain.contains("LABEL"),
        "{plain:?}"
    );
}

fn which_script() -> Result<std::path::PathBuf, ()> {
    ["/usr/bin/script", "/bin/script"]
        .iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.exists())
        .ok_or(())
}

/// verify_identity checks the host name too: a certificate from the right CA but for another host
/// connects under verify_ca and is refused under verify_identity (exit 3, one line).
#[test]
fn tls_verify_identity_refuses_a_certificate_for_another_host() {
    if skip_on_real_cluster("tls_identity") {
        return;
    }
    let env = Env::demo();
    let (ca_pem, chain, key) = test_pki_for(&["db.other.example"]);
    let front = starrocks_sim::TlsFront::start(env.sim.port(), chain, key).unwrap();
    let ca = env.dir.path().join("ca.pem");
    std::fs::write(&ca, &ca_pem).unwrap();
    let plain = std::fs::read_to_string(&env.config).unwrap();
    let with_mode = |mode: &str| {
        let tls = format!("{{mode: {mode}, ca_file: {}}}", ca.display());
        write_tls_config(&env, &plain, front.port(), &tls);
    };
    with_mode("verify_ca");
    env.run_ok(&["init"], 0);
    with_mode("verify_identity");
    let o = env.run(&["list"]);
    let e = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(3), "{e}");
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(e.contains("TLS handshake failed"), "{e}");
}
