//! Shared test harness: an in-process simulator (or a real cluster from STARROCKS_TEST_DSN), a config
//! written to a temp dir, and the binary run through assert_cmd.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use starrocks_sim::{PartitionSpec, Sim, SimOptions, TableSpec, When};

pub mod fidelity;
pub mod recover;

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `STARROCKS_TEST_DSN=mysql://user:password@host:port`: run the cluster-agnostic tests against a real
/// cluster (which must have the repository `backup_repo`); simulator-only fault tests are skipped.
pub fn real_dsn() -> Option<(String, u16, String, String)> {
    let dsn = std::env::var("STARROCKS_TEST_DSN").ok()?;
    let rest = dsn.strip_prefix("mysql://")?;
    let (auth, hostport) = rest.rsplit_once('@')?;
    let (user, pass) = auth.split_once(':').unwrap_or((auth, ""));
    let (host, port) = hostport.trim_end_matches('/').split_once(':')?;
    Some((host.into(), port.parse().ok()?, user.into(), pass.into()))
}

/// True (and a note on stderr) when a simulator-only test must be skipped.
pub fn skip_on_real_cluster(name: &str) -> bool {
    if real_dsn().is_some() {
        eprintln!("{name}: skipped (needs the simulator's fault injection)");
        return true;
    }
    false
}

/// A distinctive password: it must never appear in any output, plan, error or statement.
pub const SECRET: &str = "Zq7#bbr-S3cr3t-pw!9x";
/// The variable `Env::with_secret` configs name in `password_env`.
pub const SECRET_VAR: &str = "BBR_TEST_SECRET_PW";

/// The shared secret check: `SECRET` appears in none of `texts` (stdout, stderr, plans, errors) and
/// in no statement the tool sent (nor in any error the simulator answered).
pub fn assert_no_secret(sim: &Sim, texts: &[&str]) {
    for t in texts {
        assert!(!t.contains(SECRET), "the password leaked into output: {t}");
    }
    for s in sim.statements() {
        assert!(
            !s.sql.contains(SECRET),
            "the password leaked into SQL: {}",
            s.sql
        );
        if let Some(e) = &s.error {
            assert!(
                !e.contains(SECRET),
                "the password leaked into an error: {e}"
            );
        }
    }
}

pub struct Env {
    pub sim: Sim,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
}

/// The fixed simulator options of the fixtures (deterministic clock).
pub fn sim_options() -> SimOptions {
    SimOptions::default()
}

/// The demo cluster: repository backup_repo, sales.orders range-partitioned by day (4 partitions),
/// sales.customers unpartitioned (one partition named customers).
pub fn demo_setup(sim: &Sim) {
    sim.create_repository("backup_repo", false).unwrap();
    let orders = TableSpec::new(&[
        ("id", "BIGINT"),
        ("dt", "DATE"),
        ("amount", "DECIMAL(10,2)"),
    ])
    .range(
        "dt",
        vec![
            PartitionSpec::less_than("p20260101", "2026-01-02"),
            PartitionSpec::less_than("p20260102", "2026-01-03"),
            PartitionSpec::less_than("p20260103", "2026-01-04"),
            PartitionSpec::less_than("p20260104", "2026-01-05"),
        ],
    );
    sim.create_table("sales", "orders", &orders).unwrap();
    let customers = TableSpec::new(&[("id", "BIGINT"), ("name", "VARCHAR(64)")]);
    sim.create_table("sales", "customers", &customers).unwrap();
    for p in ["p20260101", "p20260102", "p20260103", "p20260104"] {
        sim.load("sales", "orders", p, 10).unwrap();
    }
    sim.load("sales", "customers", "customers", 5).unwrap();
}

/// Writes a config for `port` from fixtures/<name>, plus the fast test tuning.
pub fn write_config(dir: &Path, fixture: &str, port: u16, extra: &str) -> PathBuf {
    let base = std::fs::read_to_string(repo_root().join("fixtures").join(fixture)).unwrap();
    let tuning = std::fs::read_to_string(repo_root().join("fixtures/test-tuning.yaml")).unwrap();
    let text = format!(
        "{}\n{tuning}{extra}",
        base.replace("port: 9030", &format!("port: {port}"))
    );
    let path = dir.join("config.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

impl Env {
    /// A simulator with the demo data and a config pointing at it.
    pub fn demo() -> Env {
        Self::with(sim_options(), "")
    }

    /// The demo plus database hr (one unpartitioned table, 3 rows) in scope, `init` run: two
    /// databases whose jobs run at once (parallel_databases).
    pub fn two_databases(extra: &str) -> Env {
        Env::with(sim_options(), extra).with_hr()
    }

    /// Adds database hr (table people, unpartitioned, 3 rows) to the cluster and the config's
    /// tables, then runs `init`.
    pub fn with_hr(self) -> Env {
        let people = starrocks_sim::TableSpec::new(&[("id", "BIGINT"), ("name", "VARCHAR(32)")]);
        self.sim.create_table("hr", "people", &people).unwrap();
        self.sim.load("hr", "people", "people", 3).unwrap();
        let text = std::fs::read_to_string(&self.config).unwrap().replacen(
            "  - sales.customers\n",
            "  - sales.customers\n  - hr.people\n",
            1,
        );
        std::fs::write(&self.config, text).unwrap();
        self.run_ok(&["init"], 0);
        self
    }

    pub fn with(opts: SimOptions, extra_config: &str) -> Env {
        let sim = Sim::start(opts).unwrap();
        demo_setup(&sim);
        let dir = tempfile::tempdir().unwrap();
        let config = write_config(dir.path(), "demo.yaml", sim.port(), extra_config);
        Env { sim, dir, config }
    }

    /// The demo exactly as fixtures/demo.yaml says (default tuning), for golden plans.
    pub fn golden() -> Env {
        Self::golden_with(sim_options(), "")
    }

    /// [`Env::golden`] on a simulator with `opts`, with `extra_config` appended (default tuning).
    pub fn golden_with(opts: SimOptions, extra_config: &str) -> Env {
        let sim = Sim::start(opts).unwrap();
        demo_setup(&sim);
        let dir = tempfile::tempdir().unwrap();
        let text = std::fs::read_to_string(repo_root().join("fixtures/demo.yaml"))
            .unwrap()
            .replace("port: 9030", &format!("port: {}", sim.port()));
        let config = dir.path().join("config.yaml");
        std::fs::write(&config, format!("{text}{extra_config}")).unwrap();
        Env { sim, dir, config }
    }

    /// A new cluster on this one's repository storage (disaster recovery): its clock an hour later,
    /// its ids unrelated, `opts` for the rest, and this config pointed at it. `attach`: the
    /// repository created under the same name and location (runbook step 1).
    pub fn new_cluster_on(&self, opts: SimOptions, attach: bool) -> Env {
        let sim = Sim::start(SimOptions {
            repository_store: Some(self.sim.repository_store()),
            first_id: 900_001,
            start_time: self.sim.now() + chrono::Duration::hours(1),
            ..opts
        })
        .unwrap();
        if attach {
            sim.create_repository("backup_repo", false).unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        let text = std::fs::read_to_string(&self.config).unwrap().replace(
            &format!("port: {}", self.sim.port()),
            &format!("port: {}", sim.port()),
        );
        let config = dir.path().join("config.yaml");
        std::fs::write(&config, text).unwrap();
        Env { sim, dir, config }
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::cargo_bin("starrocks-bbr").unwrap();
        c.args(args)
            .arg("--config")
            .arg(&self.config)
            .env_remove("RUST_LOG")
            .env_remove("STARROCKS_BBR_CONFIG")
            .env(SECRET_VAR, SECRET)
            .timeout(std::time::Duration::from_secs(120));
        c
    }

    /// A simulator whose root password is `SECRET`, and a config reading it from `SECRET_VAR`
    /// (which `cmd` sets): tests check with `assert_no_secret` that it never leaks.
    pub fn with_secret(extra_config: &str) -> Env {
        let env = Self::with(
            SimOptions {
                password: SECRET.to_string(),
                ..sim_options()
            },
            extra_config,
        );
        let text = std::fs::read_to_string(&env.config).unwrap().replacen(
            "  user: root\n",
            &format!("  user: root\n  password_env: {SECRET_VAR}\n"),
            1,
        );
        std::fs::write(&env.config, text).unwrap();
        env
    }

    /// Appends `yaml` (whole lines) to the env's config file.
    pub fn append_config(&self, yaml: &str) {
        let mut text = std::fs::read_to_string(&self.config).unwrap();
        text.push_str(yaml);
        std::fs::write(&self.config, text).unwrap();
    }

    /// Runs the binary and returns its output (no assertion).
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Runs and asserts the exit code, returning stdout.
    pub fn run_ok(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(
            out.status.code(),
            Some(code),
            "args {args:?}\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
        stdout
    }

    /// (partition name, visible version, row count) of sales.`table`, sorted, temporary partitions
    /// left out: what a restore must reproduce.
    pub fn sales_parts(&self, table: &str) -> Vec<(String, u64, u64)> {
        self.parts_in("sales", table)
    }

    /// (partition name, visible version, row count) of `db`.`table`, sorted, temporary
    /// partitions left out.
    pub fn parts_in(&self, db: &str, table: &str) -> Vec<(String, u64, u64)> {
        let mut v: Vec<(String, u64, u64)> = self
            .sim
            .partitions(db, table)
            .unwrap()
            .into_iter()
            .filter(|p| !p.is_temp)
            .map(|p| (p.name, p.visible_version, p.row_count))
            .collect();
        v.sort();
        v
    }

    /// Statements the tool sent that start with `prefix` (case-insensitive).
    pub fn sent_like(&self, prefix: &str) -> Vec<String> {
        self.sent()
            .into_iter()
            .filter(|s| s.trim_start().to_ascii_uppercase().starts_with(prefix))
            .collect()
    }

    pub fn query(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        self.sim.execute(sql).unwrap()
    }

    /// backup_history rows as (label, backup_type, status, error_message), oldest first.
    pub fn history(&self) -> Vec<(String, String, String, Option<String>)> {
        self.query("SELECT label, backup_type, status, error_message FROM ops.backup_history ORDER BY started_at, label")
            .into_iter()
            .map(|r| {
                (
                    r[0].clone().unwrap_or_default(),
                    r[1].clone().unwrap_or_default(),
                    r[2].clone().unwrap_or_default(),
                    r[3].clone(),
                )
            })
            .collect()
    }

    /// (table, partition) rows the manifest of `label` marks as in the snapshot, sorted.
    pub fn in_snapshot(&self, label: &str) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = self
            .query(&format!(
                "SELECT table_name, partition_name, in_snapshot FROM ops.backup_partitions WHERE label = '{label}'"
            ))
            .into_iter()
            .filter(|r| matches!(r[2].as_deref(), Some("1") | Some("true")))
            .map(|r| (r[0].clone().unwrap_or_default(), r[1].clone().unwrap_or_default()))
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// The objects of the last job the simulator saw, sorted.
    pub fn last_job_objects(&self) -> Vec<String> {
        let mut o = self.sim.jobs().last().unwrap().objects.clone();
        o.sort();
        o
    }

    /// (partition, visible version, rows) of sales.`table`, sorted: what a restore must reproduce.
    pub fn parts(&self, table: &str) -> Vec<(String, u64, u64)> {
        self.parts_in("sales", table)
    }

    /// Runs a backup that must finish; returns the newest history label.
    pub fn backup_finished(&self) -> String {
        let out = self.run_ok(&["backup"], 0);
        assert!(out.contains("FINISHED"), "{out}");
        let h = self.history();
        let last = h.last().unwrap();
        assert_eq!(last.2, "FINISHED", "{h:?}");
        last.0.clone()
    }

    /// Statements the tool sent, as text.
    pub fn sent(&self) -> Vec<String> {
        self.sim.statements().into_iter().map(|s| s.sql).collect()
    }

    /// Runs the binary in the background (`args` then `--config`, output discarded) until
    /// `until(statements sent)` holds, waits `grace`, then SIGKILLs it: a run that dies mid-way.
    pub fn killed_run(&self, args: &[&str], until: impl Fn(&[String]) -> bool, grace: Duration) {
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("starrocks-bbr"))
            .args(args)
            .arg("--config")
            .arg(&self.config)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while !until(&self.sent()) {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "never reached: {:#?}",
                self.sent()
            );
            assert!(child.try_wait().unwrap().is_none(), "the run ended");
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(grace);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }

    /// [`Env::killed_run`] of `backup`, killed while its first SHOW BACKUP hangs unanswered (the
    /// BACKUP was answered).
    pub fn backup_killed_at_first_poll(&self) {
        self.sim.hang("^SHOW BACKUP", When::Before);
        self.killed_run(
            &["backup"],
            |sent| sent.iter().any(|s| s.starts_with("SHOW BACKUP")),
            Duration::ZERO,
        );
    }

    /// `init`, then `days` daily backups of the demo (a day: +24 h and a load into
    /// orders/p20260102), then +1 h; the history labels, oldest first.
    pub fn daily_backups(&self, days: usize) -> Vec<String> {
        self.run_ok(&["init"], 0);
        for day in 0..days {
            if day > 0 {
                self.sim.advance(Duration::from_secs(86_400));
                self.sim.load("sales", "orders", "p20260102", 3).unwrap();
            }
            self.run_ok(&["backup"], 0);
        }
        self.sim.advance(Duration::from_secs(3_600));
        self.history().into_iter().map(|h| h.0).collect()
    }

    pub fn backups_sent(&self) -> usize {
        self.sent()
            .iter()
            .filter(|s| s.trim_start().to_ascii_uppercase().starts_with("BACKUP"))
            .count()
    }
}

/// The last line a run printed on stderr (its error line when it failed).
pub fn last_line(o: &std::process::Output) -> String {
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    err.lines().last().unwrap_or_default().to_string()
}
