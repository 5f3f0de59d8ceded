//! Issue 5: the fault-injection suite. Crashes at every step boundary, a dropped connection before
//! and after every statement, StarRocks-side failures, races and hostile input — each case on its own
//! simulator, each checked against the same invariants (`verify`): no duplicate BACKUP for the same
//! work, no row left RUNNING, the history matches what the cluster did, and after a clean run the
//! latest FINISHED backup covers every partition at its current (id, version) from complete
//! snapshots. The password never leaks (`assert_no_secret` after every case).
//!
//! Figures: every category counts its cases and writes one row to
//! `$CARGO_TARGET_TMPDIR/fault-suite/<category>.row`; docs/RELIABILITY.md must contain that exact row
//! (regenerate with `scripts/reliability`).

mod common;
use common::*;
use starrocks_sim::{JobKind, When};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

/// Dead runs' heartbeats go stale within a clean run's 60 s; the rest is fixtures/test-tuning.yaml,
/// with a poll ceiling of 1 s (see `new_env`).
const TUNING: &str = "heartbeat_stale_s: 10\n";

// ---------------------------------------------------------------------------------------------
// Figures

struct Tally {
    category: &'static str,
    /// What is injected; may carry a figure of the reference run (so the doc cannot drift from it).
    what: String,
    cases: usize,
    failures: Vec<String>,
}

impl Tally {
    fn new(category: &'static str, what: impl Into<String>) -> Tally {
        Tally {
            category,
            what: what.into(),
            cases: 0,
            failures: Vec::new(),
        }
    }

    fn case(&mut self, id: &str, problems: Vec<String>) {
        self.cases += 1;
        if problems.is_empty() {
            eprintln!("[{}] ok   {id}", self.category);
        }
        for p in problems {
            eprintln!("[{}] FAIL {id}: {p}", self.category);
            self.failures.push(format!("{id}: {p}"));
        }
    }

    /// Writes the row, checks it against docs/RELIABILITY.md and fails on any problem.
    fn finish(self) {
        let bad: BTreeSet<&str> = self
            .failures
            .iter()
            .filter_map(|f| f.split(": ").next())
            .collect();
        let row = format!(
            "| {} | {} | {} | {} |",
            self.category,
            self.what,
            self.cases,
            bad.len()
        );
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fault-suite");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join(format!("{}.row", self.category)),
            format!("{row}\n"),
        )
        .unwrap();
        println!("FAULT-SUITE {row}");
        assert!(
            self.failures.is_empty(),
            "{} of {} {} cases failed:\n{}",
            bad.len(),
            self.cases,
            self.category,
            self.failures.join("\n")
        );
        if std::env::var_os("UPDATE_RELIABILITY").is_none() {
            let doc = std::fs::read_to_string(repo_root().join("docs/RELIABILITY.md"))
                .unwrap_or_default();
            assert!(
                doc.contains(&row),
                "docs/RELIABILITY.md does not state this run's figures: {row}\nregenerate with scripts/reliability"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Running the tool

/// Determinism: polling does its upkeep (heartbeat + clock) every min(3 x poll.max_ms,
/// heartbeat_stale_s / 4) = 2.5 s of SCHEDULED sleep, counted from the poll schedule, never from the
/// wall clock (src/poll.rs): the same cluster answers give the same statements however slow or
/// stalled the machine is. With 1 s job states a job ends within ~6 polls, so only the first poll
/// does upkeep (the 11th would be the next).
fn new_env(extra: &str) -> Env {
    let env = Env::with(
        starrocks_sim::SimOptions {
            password: SECRET.to_string(),
            job_state_duration: Duration::from_secs(1),
            ..sim_options()
        },
        &format!("{TUNING}{extra}"),
    );
    let t = std::fs::read_to_string(&env.config)
        .unwrap()
        .replacen(
            "  user: root\n",
            &format!("  user: root\n  password_env: {SECRET_VAR}\n"),
            1,
        )
        .replacen(
            "poll: {initial_ms: 5, max_ms: 50}",
            "poll: {initial_ms: 5, max_ms: 1000}",
            1,
        );
    std::fs::write(&env.config, t).unwrap();
    env
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_string()
}

/// Runs the tool to completion; checks the secret in its output.
fn run(env: &Env, args: &[&str]) -> Output {
    let o = env.run(args);
    assert_no_secret(&env.sim, &[&text(&o.stdout), &text(&o.stderr)]);
    o
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// The one error line of a failed run, or a problem.
fn error_line(o: &Output) -> Result<String, String> {
    let e = text(&o.stderr);
    let line = e.lines().last().unwrap_or_default().to_string();
    if line.starts_with("error: ") && line.contains("; ") {
        Ok(line)
    } else {
        Err(format!(
            "exit {} without one clear error line: {e}",
            code(o)
        ))
    }
}

/// Runs and expects `want`; returns a problem otherwise.
fn expect(env: &Env, args: &[&str], want: i32) -> Result<Output, String> {
    let o = run(env, args);
    if code(&o) != want {
        return Err(format!(
            "{args:?} exited {} (want {want}): {}{}",
            code(&o),
            text(&o.stdout),
            text(&o.stderr).lines().last().unwrap_or_default()
        ));
    }
    if want != 0 {
        error_line(&o)?;
    }
    Ok(o)
}

/// A child run whose output goes to files in the env's dir (read back by `reap`).
struct Spawned {
    child: Child,
    out: PathBuf,
    err: PathBuf,
}

fn spawn(env: &Env, args: &[&str], tag: &str) -> Spawned {
    let out = env.dir.path().join(format!("{tag}.out"));
    let err = env.dir.path().join(format!("{tag}.err"));
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("starrocks-bbr"))
        .args(args)
        .arg("--config")
        .arg(&env.config)
        .env(SECRET_VAR, SECRET)
        .env_remove("RUST_LOG")
        .env_remove("STARROCKS_BBR_CONFIG")
        .stdout(Stdio::from(std::fs::File::create(&out).unwrap()))
        .stderr(Stdio::from(std::fs::File::create(&err).unwrap()))
        .spawn()
        .unwrap();
    Spawned { child, out, err }
}

impl Spawned {
    /// SIGKILLs the child (if still running) and returns (exit code or -9, stdout, stderr).
    fn kill(mut self, env: &Env) -> (i32, String, String) {
        let _ = self.child.kill();
        self.reap(env)
    }

    fn wait(mut self, env: &Env) -> (i32, String, String) {
        let start = Instant::now();
        loop {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            if start.elapsed() > Duration::from_secs(120) {
                let _ = self.child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.reap(env)
    }

    fn reap(mut self, env: &Env) -> (i32, String, String) {
        let status = self.child.wait().unwrap();
        let out = std::fs::read_to_string(&self.out).unwrap_or_default();
        let err = std::fs::read_to_string(&self.err).unwrap_or_default();
        assert_no_secret(&env.sim, &[&out, &err]);
        (status.code().unwrap_or(-9), out, err)
    }
}

/// Waits until the simulator holds statement #`n` hung (the caller armed `hang_at(n, _)`; with
/// `When::After` it has executed), or the child ended. No sleep-and-hope: `sim.hung()` is counted
/// only once the statement is parked, so a kill after this never races its execution.
fn wait_for_statement(env: &Env, child: &mut Spawned, n: usize) -> Result<(), String> {
    let start = Instant::now();
    loop {
        if env.sim.hung() > 0 && env.sim.statements().len() > n {
            return Ok(());
        }
        if let Ok(Some(st)) = child.child.try_wait() {
            return Err(format!(
                "the run ended ({st}) before statement #{n} was sent"
            ));
        }
        if start.elapsed() > Duration::from_secs(60) {
            return Err(format!("statement #{n} was never sent"));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The statement text with every per-attempt label suffix replaced, so two runs compare equal.
fn norm(sql: &str) -> String {
    let b = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut i = 0;
    while i < b.len() {
        let rest = &sql[i..];
        // catalog labels: bbr_catalog_ops_<14 digits>_<suffix> (the suite's ops database is `ops`)
        if let Some(tail) = rest.strip_prefix("bbr_catalog_ops_") {
            let stamp: String = tail.chars().take(15).collect();
            let sfx: String = tail
                .chars()
                .skip(15)
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                .collect();
            if stamp.len() == 15 && stamp.ends_with('_') && sfx.len() == 6 {
                out.push_str("bbr_catalog_ops_");
                out.push_str(&stamp);
                out.push_str("XXXXXX");
                i += "bbr_catalog_ops_".len() + 15 + 6;
                continue;
            }
        }
        let marker = ["_full_", "_incr_"].iter().find(|m| rest.starts_with(**m));
        if let Some(m) = marker {
            let tail = &rest[m.len()..];
            let sfx: String = tail
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                .collect();
            if sfx.len() == 6 {
                out.push_str(m);
                out.push_str("XXXXXX");
                i += m.len() + 6;
                continue;
            }
        }
        let c = rest.chars().next().unwrap_or_default();
        out.push(c);
        i += c.len_utf8();
    }
    out
}

fn is_write(sql: &str) -> bool {
    let s = sql.trim_start().to_ascii_uppercase();
    [
        "INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "ALTER", "TRUNCATE", "BACKUP", "RESTORE",
        "CANCEL", "REPLACE",
    ]
    .iter()
    .any(|k| s.starts_with(k))
}

// ---------------------------------------------------------------------------------------------
// Scenarios and invariants

#[derive(Clone, Copy, Debug)]
enum Scenario {
    /// After init: the first backup (FULL).
    Full,
    /// After a FULL and loads into orders/p20260102 and customers: an INCREMENTAL.
    Incremental,
    /// The first backup (FULL) with `catalog_backup: true`: the data job, then the catalog job.
    FullWithCatalog,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::Full => "full",
            Scenario::Incremental => "incremental",
            Scenario::FullWithCatalog => "full+catalog",
        }
    }

    /// Brings a fresh env to the state before the run under test; clears the statement log.
    fn setup(self, env: &Env) {
        if let Scenario::FullWithCatalog = self {
            edit_config(env, "catalog_backup: false", "catalog_backup: true");
        }
        env.run_ok(&["init"], 0);
        if let Scenario::Incremental = self {
            env.run_ok(&["backup"], 0);
            env.sim.load("sales", "orders", "p20260102", 3).unwrap();
            env.sim.load("sales", "customers", "customers", 2).unwrap();
        }
        env.sim.clear_statements();
    }
}

/// The configured tables of the demo config.
fn demo_tables() -> Vec<(String, String)> {
    vec![
        ("sales".into(), "customers".into()),
        ("sales".into(), "orders".into()),
    ]
}

fn s(v: &Option<String>) -> String {
    v.clone().unwrap_or_default()
}

/// The invariants. `settled`: a clean run has completed since the last fault, so no row may be
/// RUNNING and the latest FINISHED backup must cover the cluster exactly.
fn verify(env: &Env, repo: &str, tables: &[(String, String)], settled: bool) -> Vec<String> {
    let mut p = Vec::new();
    let hist: BTreeMap<String, (String, String, Option<String>)> = env
        .query("SELECT label, database_name, status, backup_timestamp FROM ops.backup_history")
        .into_iter()
        .map(|r| (s(&r[0]), (s(&r[1]), s(&r[2]), r[3].clone())))
        .collect();
    let snaps = env.sim.snapshots(repo);
    let jobs: Vec<_> = env
        .sim
        .jobs()
        .into_iter()
        .filter(|j| j.kind == JobKind::Backup && j.label.starts_with("bbr_"))
        .collect();
    // no duplicate BACKUP for the same work
    let mut per_label: BTreeMap<&str, usize> = BTreeMap::new();
    for j in &jobs {
        *per_label.entry(j.label.as_str()).or_default() += 1;
    }
    for (l, n) in &per_label {
        if *n > 1 {
            p.push(format!("{n} BACKUP jobs for label {l}"));
        }
    }
    for st in env.sim.statements() {
        // StarRocks names the label it refuses: a refusal for the statement's own label is a re-send
        let taken = st.error.as_deref().and_then(|e| {
            e.split("Snapshot with name '")
                .nth(1)
                .and_then(|r| r.split('\'').next())
        });
        if st.sql.starts_with("BACKUP") && taken.is_some_and(|l| st.sql.contains(&format!("`{l}`")))
        {
            p.push(format!(
                "BACKUP re-sent for a label StarRocks knew: {}",
                st.sql
            ));
        }
    }
    // every job has its record, with the right status
    for j in &jobs {
        let ok = snaps.iter().any(|x| x.label == j.label && x.ok);
        match hist.get(&j.label) {
            None => p.push(format!("job {} has no history row (lost record)", j.label)),
            Some((_, st, _)) => {
                if ok && st != "FINISHED" && (settled || st != "RUNNING") {
                    p.push(format!(
                        "snapshot {} is complete but recorded {st}",
                        j.label
                    ));
                }
                if !ok && st == "FINISHED" {
                    p.push(format!(
                        "{} recorded FINISHED but its snapshot is not OK",
                        j.label
                    ));
                }
            }
        }
    }
    for (label, (_, st, ts)) in &hist {
        match st.as_str() {
            "FINISHED" => match snaps.iter().find(|x| &x.label == label && x.ok) {
                None => p.push(format!("{label} FINISHED without a complete snapshot")),
                Some(x) => {
                    if ts.as_deref() != Some(x.timestamp.as_str()) {
                        p.push(format!(
                            "{label} backup_timestamp {ts:?} != snapshot's {}",
                            x.timestamp
                        ))
                    }
                }
            },
            // EXPIRED: expire's verdict (a vanished snapshot), checked by the expire half
            "FAILED" | "EXPIRED" => {}
            "RUNNING" if !settled => {}
            other => p.push(format!("{label} left {other}")),
        }
    }
    if settled {
        // RUNNING restore rows, when restore exists
        if let Ok(rows) = env
            .sim
            .execute("SELECT label FROM ops.restore_history WHERE status = 'RUNNING'")
        {
            for r in rows {
                p.push(format!("restore {} left RUNNING", s(&r[0])));
            }
        }
        p.extend(coverage(env, repo, tables));
    }
    p
}

/// What the FINISHED backups of `db` record as of the newest one, per (table, partition): (id,
/// version, source). Lean manifests (DESIGN.md): per table, start at the newest FINISHED backup
/// whose backup_tables row is complete, then apply every later FINISHED one's rows in snapshot
/// order (a row not in the snapshot of a delta is a tombstone). Written here independently of the
/// tool's fold, as the oracle.
fn folded_manifest(env: &Env, db: &str) -> BTreeMap<(String, String), (u64, u64, String)> {
    let lit = |v: &str| v.replace('\\', "\\\\").replace('\'', "\\'");
    let db = lit(db);
    let order = env.query(&format!(
        "SELECT h.label, t.table_name, t.complete FROM ops.backup_history h JOIN ops.backup_tables t ON t.label = h.label AND t.database_name = h.database_name WHERE h.database_name = '{db}' AND h.status = 'FINISHED' ORDER BY h.snapshot_at, h.label"
    ));
    let mut spans: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in order {
        let span = spans.entry(s(&r[1])).or_default();
        if s(&r[2]) == "1" {
            span.clear();
        }
        if !span.contains(&s(&r[0])) {
            span.push(s(&r[0]));
        }
    }
    let mut out = BTreeMap::new();
    for (table, labels) in spans {
        for (rank, label) in labels.iter().enumerate() {
            let rows = env.query(&format!(
                "SELECT partition_name, partition_id, visible_version, source_label, in_snapshot FROM ops.backup_partitions WHERE label = '{label}' AND database_name = '{db}' AND table_name = '{}'",
                lit(&table)
            ));
            for r in rows {
                let key = (table.clone(), s(&r[0]));
                if rank > 0 && s(&r[4]) != "1" {
                    out.remove(&key);
                    continue;
                }
                let id = s(&r[1]).parse().unwrap_or(0);
                let v = s(&r[2]).parse().unwrap_or(0);
                out.insert(key, (id, v, s(&r[3])));
            }
        }
    }
    out
}

/// The latest FINISHED backup of each database records (folded) every partition at its current
/// (id, version), and the snapshot each partition's data comes from is complete and holds it.
fn coverage(env: &Env, repo: &str, tables: &[(String, String)]) -> Vec<String> {
    let mut p = Vec::new();
    let snaps = env.sim.snapshots(repo);
    let dbs: BTreeSet<&str> = tables.iter().map(|t| t.0.as_str()).collect();
    for db in dbs {
        let latest = env.query(&format!(
            "SELECT label FROM ops.backup_history WHERE database_name = '{db}' AND status = 'FINISHED' ORDER BY started_at DESC, label DESC LIMIT 1"
        ));
        let Some(label) = latest.first().and_then(|r| r[0].clone()) else {
            p.push(format!("no FINISHED backup of {db}"));
            continue;
        };
        let recorded = folded_manifest(env, db);
        let mut now: BTreeMap<(String, String), (u64, u64)> = BTreeMap::new();
        for (d, t) in tables.iter().filter(|t| t.0 == db) {
            for part in env.sim.partitions(d, t).unwrap() {
                if !part.is_temp {
                    now.insert(
                        (t.clone(), part.name.clone()),
                        (part.id, part.visible_version),
                    );
                }
            }
        }
        let rec_now: BTreeMap<_, _> = recorded
            .iter()
            .map(|(k, v)| (k.clone(), (v.0, v.1)))
            .collect();
        if rec_now != now {
            p.push(format!(
                "latest FINISHED {label} records {rec_now:?} but the cluster has {now:?}"
            ));
        }
        for ((t, part), (id, v, src)) in &recorded {
            let held = snaps.iter().any(|x| {
                &x.label == src
                    && x.ok
                    && x.tables.iter().any(|st| {
                        &st.name == t
                            && st
                                .partitions
                                .iter()
                                .any(|sp| &sp.name == part && sp.id == *id && sp.version >= *v)
                    })
            });
            if !held {
                p.push(format!(
                    "{t}.{part} (id {id}, version {v}) is not held by a complete snapshot {src}"
                ));
            }
        }
    }
    p
}

/// After a fault: the dead run's heartbeat goes stale and its job ends; a clean run must succeed,
/// the next must find nothing to do, and every invariant must hold.
fn settle(env: &Env) -> Vec<String> {
    env.sim.stall_jobs(false);
    env.sim.set_task_err_msg("");
    env.sim.advance(Duration::from_secs(60));
    let mut p = Vec::new();
    if let Err(e) = expect(env, &["backup"], 0) {
        p.push(format!("clean run: {e}"));
    }
    match expect(env, &["backup"], 0) {
        Ok(o) if text(&o.stdout).contains("nothing changed") => {}
        Ok(o) => p.push(format!(
            "second clean run did not find everything backed up: {}",
            text(&o.stdout)
        )),
        Err(e) => p.push(format!("second clean run: {e}")),
    }
    p.extend(verify(env, "backup_repo", &demo_tables(), true));
    assert_no_secret(&env.sim, &[]);
    p
}

/// A reference (uninterrupted) run of the scenario: its plan's steps and its statements.
struct Reference {
    steps: Vec<(String, String)>,
    statements: Vec<String>,
}

/// (kind, sql) of every step of the `--dry-run` plan `args` print (which must not show the password).
fn dry_run_steps(env: &Env, args: &[&str]) -> Vec<(String, String)> {
    let plan = env.run_ok(args, 0);
    assert_no_secret(&env.sim, &[&plan]);
    let v: serde_json::Value = serde_json::from_str(&plan).unwrap();
    v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|st| {
            (
                st["kind"].as_str().unwrap_or_default().to_string(),
                st["sql"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn reference(sc: Scenario) -> Reference {
    let env = new_env("");
    sc.setup(&env);
    let steps = dry_run_steps(&env, &["backup", "--dry-run"]);
    // the real run on its own cluster: a dry run ticks the clock, which would shift times
    let env = new_env("");
    sc.setup(&env);
    let out = run(&env, &["backup"]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let statements = env.sent();
    let p = verify(&env, "backup_repo", &demo_tables(), true);
    assert!(p.is_empty(), "the reference run itself: {p:?}");
    Reference { steps, statements }
}

/// Index in `stmts` of the first statement of each step (searching in order): the step boundaries.
fn boundaries(r: &Reference) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    let mut from = 0;
    for (kind, sql) in &r.steps {
        if sql.is_empty() {
            continue;
        }
        // up to the first literal, template or label (labels carry the run's time and suffix)
        let cut = [sql.find(['\'', '$']), sql.find("bbr_")]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(sql.len());
        let prefix = &sql[..cut];
        let i = (from..r.statements.len())
            .find(|&i| r.statements[i].starts_with(prefix))
            .unwrap_or_else(|| panic!("step {kind} ({prefix}) not found in the reference run"));
        out.push((kind.clone(), i));
        from = i + 1;
    }
    out
}

// ---------------------------------------------------------------------------------------------
// 1. Crash at every step boundary

#[test]
fn crash_at_every_step_boundary() {
    if skip_on_real_cluster("crash_at_every_step_boundary") {
        return;
    }
    let mut tally = Tally::new(
        "crash",
        "SIGKILL at every step boundary of the backup plan (full and incremental), before and after the step's first statement, then rerun",
    );
    for sc in [Scenario::Full, Scenario::Incremental] {
        let r = reference(sc);
        for (kind, idx) in boundaries(&r) {
            for when in [When::Before, When::After] {
                let id = format!("{} kill {when:?} {kind} (statement #{idx})", sc.name());
                tally.case(&id, crash_case(sc, &r, idx, when));
            }
        }
    }
    tally.finish();
}

fn crash_case(sc: Scenario, r: &Reference, idx: usize, when: When) -> Vec<String> {
    crash_case_on(&new_env(""), sc, r, idx, when)
}

/// [`crash_case`] on a given env (the catalog cases look at it afterwards).
fn crash_case_on(env: &Env, sc: Scenario, r: &Reference, idx: usize, when: When) -> Vec<String> {
    sc.setup(env);
    env.sim.hang_at(idx, when);
    let mut child = spawn(env, &["backup"], "killed");
    let mut p = Vec::new();
    if let Err(e) = wait_for_statement(env, &mut child, idx) {
        child.kill(env);
        return vec![e];
    }
    let got = norm(&env.sent()[idx]);
    if got != norm(&r.statements[idx]) {
        p.push(format!(
            "nondeterministic run: statement #{idx} is {got}, reference {}",
            norm(&r.statements[idx])
        ));
    }
    child.kill(env);
    p.extend(verify(env, "backup_repo", &demo_tables(), false));
    p.extend(settle(env));
    let n_jobs = env.sim.jobs().len();
    let want = match sc {
        Scenario::Full => 1,
        // the data job and one catalog job whose snapshot completed (a catalog job killed before
        // its BACKUP reached StarRocks is recorded FAILED and the clean run makes the one)
        Scenario::Incremental | Scenario::FullWithCatalog => 2,
    };
    if n_jobs != want {
        p.push(format!(
            "{n_jobs} BACKUP jobs in total, an uninterrupted run makes {want}"
        ));
    }
    p
}

// ---------------------------------------------------------------------------------------------
// 1b. The catalog step: a crash after the data backup, before or while the catalog backup

#[test]
fn catalog_crash_after_the_data_backup() {
    if skip_on_real_cluster("catalog_crash_after_the_data_backup") {
        return;
    }
    let mut tally = Tally::new(
        "catalog-crash",
        "SIGKILL at the data job's Finalize and at every step boundary of the catalog backup that follows (before and after the step's first statement), then rerun; recover onto a new cluster must give the whole history",
    );
    let sc = Scenario::FullWithCatalog;
    let r = reference(sc);
    let all = boundaries(&r);
    let first_catalog = r
        .steps
        .iter()
        .filter(|(_, sql)| !sql.is_empty())
        .position(|(_, sql)| sql.contains("bbr_catalog_"))
        .expect("the plan ends with a catalog backup");
    // from the data job's last step (its Finalize) on
    for (kind, idx) in all.iter().skip(first_catalog.saturating_sub(1)) {
        for when in [When::Before, When::After] {
            let id = format!("{} kill {when:?} {kind} (statement #{idx})", sc.name());
            let mut p = Vec::new();
            let env = new_env("");
            p.extend(crash_case_on(&env, sc, &r, *idx, when));
            p.extend(recovered_history_is_whole(&env));
            tally.case(&id, p);
        }
    }
    tally.finish();
}

#[test]
fn catalog_connection_dropped_at_every_statement() {
    if skip_on_real_cluster("catalog_connection_dropped_at_every_statement") {
        return;
    }
    let mut tally = Tally::new(
        "catalog-connection",
        "connection dropped before and after every statement of the catalog backup that ends a backup run: exit 0 (a catalog backup never fails the run), rerun; recover onto a new cluster must give the whole history",
    );
    let sc = Scenario::FullWithCatalog;
    let r = reference(sc);
    let first = r
        .statements
        .iter()
        .position(|st| st.contains("bbr_catalog_"))
        .expect("the run ends with a catalog backup");
    for idx in first..r.statements.len() {
        for when in [When::Before, When::After] {
            let head: String = r.statements[idx].chars().take(60).collect();
            let id = format!("{} drop {when:?} #{idx} {head}", sc.name());
            let env = new_env("");
            sc.setup(&env);
            env.sim.drop_connection_at(idx, when);
            let mut p = Vec::new();
            if let Err(e) = expect(&env, &["backup"], 0) {
                p.push(e);
            }
            p.extend(verify(&env, "backup_repo", &demo_tables(), false));
            p.extend(settle(&env));
            p.extend(recovered_history_is_whole(&env));
            tally.case(&id, p);
        }
    }
    tally.finish();
}

/// Recovering onto a new cluster that shares the repository gives exactly the data history the
/// cluster has (labels, status, backup_timestamp, snapshot_at), every catalog row FINISHED.
fn recovered_history_is_whole(a: &Env) -> Vec<String> {
    let b = new_cluster_on(a);
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("starrocks-bbr"))
        .args(["recover", "--config"])
        .arg(&b.config)
        .env(SECRET_VAR, SECRET)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    if out.status.code() != Some(0) {
        return vec![format!(
            "recover exited {:?}: {}",
            out.status.code(),
            text(&out.stderr)
        )];
    }
    let (ha, hb) = (a.query(HISTORY_Q), b.sim.execute(HISTORY_Q).unwrap());
    let mut p = Vec::new();
    if ha != hb {
        p.push(format!("recovered history {hb:?} != the cluster's {ha:?}"));
    }
    for r in b
        .sim
        .execute("SELECT label, status FROM ops.backup_history WHERE database_name = 'ops'")
        .unwrap()
    {
        if s(&r[1]) != "FINISHED" && s(&r[1]) != "FAILED" {
            p.push(format!(
                "recovered catalog row {} is {}",
                s(&r[0]),
                s(&r[1])
            ));
        }
    }
    p
}

// ---------------------------------------------------------------------------------------------
// 1c. recover killed at every step boundary, then run again

/// Cluster B: new, on `a`'s repository storage (repository created), and its config.
fn new_cluster_on(a: &Env) -> Env {
    a.new_cluster_on(
        starrocks_sim::SimOptions {
            password: SECRET.to_string(),
            job_state_duration: Duration::from_secs(1),
            ..sim_options()
        },
        true,
    )
}

#[test]
fn recover_crash_at_every_step_boundary() {
    if skip_on_real_cluster("recover_crash_at_every_step_boundary") {
        return;
    }
    let mut tally = Tally::new(
        "recover-crash",
        "SIGKILL at every step boundary of recover onto a new cluster, before and after the step's first statement; recover run again: one RESTORE, the whole history, the catalog row finished",
    );
    let a = new_env("");
    Scenario::FullWithCatalog.setup(&a);
    a.run_ok(&["backup"], 0);
    let want = a.query(HISTORY_Q);
    // the reference: a dry run and an uninterrupted run, each on a new cluster
    let steps = {
        let env = new_cluster_on(&a);
        dry_run_steps(&env, &["recover", "--dry-run"])
    };
    let statements = {
        let env = new_cluster_on(&a);
        expect(&env, &["recover"], 0).unwrap();
        env.sent()
    };
    let r = Reference { steps, statements };
    let last = boundaries(&r).last().map(|b| b.1);
    for (kind, idx) in boundaries(&r) {
        for when in [When::Before, When::After] {
            let env = new_cluster_on(&a);
            let id = format!("recover kill {when:?} {kind} (statement #{idx})");
            let mut p = Vec::new();
            env.sim.hang_at(idx, when);
            let mut child = spawn(&env, &["recover"], "killed");
            if let Err(e) = wait_for_statement(&env, &mut child, idx) {
                p.push(e);
            }
            child.kill(&env);
            env.sim.advance(Duration::from_secs(60));
            // killed after the last statement (the Finalize) ran: the recover is complete
            let rerun = if Some(idx) == last && when == When::After {
                4
            } else {
                0
            };
            if let Err(e) = expect(&env, &["recover"], rerun) {
                p.push(format!("rerun: {e}"));
            }
            let got = env.sim.execute(HISTORY_Q).unwrap_or_default();
            if got != want {
                p.push(format!(
                    "recovered history {got:?} != the lost cluster's {want:?}"
                ));
            }
            let restores = env
                .sim
                .jobs()
                .iter()
                .filter(|j| j.kind == JobKind::Restore)
                .count();
            if restores != 1 {
                p.push(format!("{restores} RESTORE jobs, one recover needs 1"));
            }
            for row in env
                .sim
                .execute("SELECT label, status FROM ops.backup_history WHERE status = 'RUNNING'")
                .unwrap_or_default()
            {
                p.push(format!("{} left RUNNING", s(&row[0])));
            }
            tally.case(&id, p);
        }
    }
    tally.finish();
}

/// The data history a recover must reproduce.
const HISTORY_Q: &str = "SELECT label, status, backup_timestamp, snapshot_at FROM ops.backup_history WHERE database_name = 'sales' ORDER BY label";

// ---------------------------------------------------------------------------------------------
// 2. A dropped connection before and after every statement

#[test]
fn connection_dropped_at_every_statement() {
    if skip_on_real_cluster("connection_dropped_at_every_statement") {
        return;
    }
    let mut tally = Tally::new(
        "connection",
        "connection dropped before and after every statement of a backup run (full and incremental)",
    );
    for sc in [Scenario::Full, Scenario::Incremental] {
        let r = reference(sc);
        for idx in 0..r.statements.len() {
            for when in [When::Before, When::After] {
                let first: String = r.statements[idx].chars().take(60).collect();
                let id = format!("{} drop {when:?} #{idx} {first}", sc.name());
                tally.case(&id, drop_case(sc, idx, when));
            }
        }
    }
    tally.finish();
}

fn drop_case(sc: Scenario, idx: usize, when: When) -> Vec<String> {
    let env = new_env("");
    sc.setup(&env);
    env.sim.drop_connection_at(idx, when);
    let o = run(&env, &["backup"]);
    let mut p = Vec::new();
    if code(&o) != 0 {
        if let Err(e) = error_line(&o) {
            p.push(e);
        }
    }
    p.extend(verify(&env, "backup_repo", &demo_tables(), false));
    p.extend(settle(&env));
    p
}

// ---------------------------------------------------------------------------------------------
// 3. StarRocks-side failures

struct Failure {
    name: String,
    extra_config: &'static str,
    /// Runs before the backup under test (knobs, foreign jobs, ...).
    arm: Box<dyn Fn(&Env)>,
    want_code: i32,
    /// The status the run's own history row must end with (None: no row may be written).
    want_status: Option<&'static str>,
    /// Must appear in the error line (and in error_message for FAILED rows).
    want_text: &'static str,
    /// The scenario runs a backup that a dead run started (with the default job timeout).
    after_dead_run: bool,
}

fn failures() -> Vec<Failure> {
    let mut v = Vec::new();
    for state in [
        "PENDING",
        "SNAPSHOTING",
        "UPLOAD_SNAPSHOT",
        "UPLOADING",
        "SAVE_META",
        "UPLOAD_INFO",
    ] {
        v.push(Failure {
            name: format!("job CANCELLED when leaving {state}"),
            extra_config: "",
            arm: Box::new(move |env: &Env| {
                env.sim.cancel_next_job_at(
                    state,
                    &format!("[COMMON_ERROR, msg: injected cancel in {state}]"),
                )
            }),
            want_code: 1,
            want_status: Some("FAILED"),
            want_text: "injected cancel in",
            after_dead_run: false,
        });
    }
    v.push(Failure {
        name: "TIMEOUT status from StarRocks".into(),
        extra_config: "job_timeout_s: 600\n",
        arm: Box::new(|env: &Env| {
            env.sim.stall_jobs(true);
            env.sim.on_statement(
                "^SHOW BACKUP",
                Box::new(|sim| sim.advance(Duration::from_secs(700))),
            );
        }),
        want_code: 1,
        want_status: Some("FAILED"),
        want_text: "TIMEOUT",
        after_dead_run: false,
    });
    v.push(Failure {
        name: "persistent TaskErrMsg while the job is stuck until its timeout".into(),
        extra_config: "job_timeout_s: 600\n",
        arm: Box::new(|env: &Env| {
            env.sim.stall_jobs(true);
            env.sim
                .set_task_err_msg("upload failed: Access Denied (S3)");
            env.sim.on_statement(
                "^SHOW BACKUP",
                Box::new(|sim| sim.advance(Duration::from_secs(700))),
            );
        }),
        want_code: 1,
        want_status: Some("FAILED"),
        want_text: "TIMEOUT",
        after_dead_run: false,
    });
    v.push(Failure {
        name: "persistent TaskErrMsg on a job that finishes (not a failure)".into(),
        extra_config: "",
        arm: Box::new(|env: &Env| {
            env.sim
                .set_task_err_msg("send snapshot task failed, retrying")
        }),
        want_code: 0,
        want_status: Some("FINISHED"),
        want_text: "",
        after_dead_run: false,
    });
    v.push(Failure {
        name: "stalled job of a dead run beyond job_timeout_s: the tool cancels it".into(),
        extra_config: "job_timeout_s: 600\n",
        arm: Box::new(|env: &Env| {
            env.sim.stall_jobs(true);
            env.sim.on_statement(
                "^SHOW BACKUP",
                Box::new(|sim| sim.advance(Duration::from_secs(700))),
            );
            // still stalled when the tool's next upkeep reads the clock; released by its CANCEL
            env.sim
                .on_statement("^CANCEL BACKUP", Box::new(|sim| sim.stall_jobs(false)));
        }),
        // the run's own (new) backup succeeds; the dead run's row is FAILED
        want_code: 0,
        want_status: Some("FINISHED"),
        want_text: "exceeded job_timeout_s",
        after_dead_run: true,
    });
    v.push(Failure {
        name: "SHOW BACKUP row replaced by another job after ours finished".into(),
        extra_config: "",
        arm: Box::new(|env: &Env| {
            env.sim.on_statement(
                "^SHOW BACKUP",
                Box::new(|sim| {
                    sim.advance(Duration::from_secs(30));
                    sim.execute("BACKUP SNAPSHOT sales.foreign_1 TO backup_repo ON (customers)")
                        .unwrap();
                }),
            );
        }),
        want_code: 0,
        want_status: Some("FINISHED"),
        want_text: "",
        after_dead_run: false,
    });
    v.push(Failure {
        name: "our job cancelled by someone else and replaced by their job".into(),
        extra_config: "",
        arm: Box::new(|env: &Env| {
            env.sim.on_statement(
                "^SHOW BACKUP",
                Box::new(|sim| {
                    sim.execute("CANCEL BACKUP FROM sales").unwrap();
                    sim.execute("BACKUP SNAPSHOT sales.foreign_2 TO backup_repo ON (customers)")
                        .unwrap();
                }),
            );
        }),
        want_code: 1,
        want_status: Some("FAILED"),
        want_text: "vanished",
        after_dead_run: false,
    });
    v.push(Failure {
        name: "SHOW BACKUP row expired (8 days later)".into(),
        extra_config: "",
        arm: Box::new(|env: &Env| {
            env.sim.on_statement(
                "^SHOW BACKUP",
                Box::new(|sim| sim.advance(Duration::from_secs(8 * 24 * 3600))),
            );
        }),
        want_code: 0,
        want_status: Some("FINISHED"),
        want_text: "",
        after_dead_run: false,
    });
    v.push(Failure {
        name: "'Can only run one backup or restore job' once (retried)".into(),
        extra_config: "",
        arm: Box::new(|env: &Env| {
            env.sim.fail_once(
                "^BACKUP",
                5064,
                "Can only run one backup or restore job of a database at same time",
            )
        }),
        want_code: 0,
        want_status: Some("FINISHED"),
        want_text: "",
        after_dead_run: false,
    });
    v.push(Failure {
        name: "'Can only run one backup or restore job': a foreign job holds the database".into(),
        extra_config: "",
        arm: Box::new(|env: &Env| {
            env.sim.stall_jobs(true);
            env.sim
                .execute("BACKUP SNAPSHOT sales.foreign_3 TO backup_repo ON (customers)")
                .unwrap();
        }),
        want_code: 1,
        want_status: Some("FAILED"),
        want_text: "Can only run one backup or restore job",
        after_dead_run: false,
    });
    v.push(Failure {
        name: "'Snapshot with name ... already exist'".into(),
        extra_config: "",
        arm: Box::new(|env: &Env| {
            env.sim.fail_once(
                "^BACKUP",
                5064,
                "Snapshot with name 'bbr_x' already exist in repository",
            )
        }),
        want_code: 1,
        want_status: Some("FAILED"),
        want_text: "already exist",
        after_dead_run: false,
    });
    v.push(Failure {
        name: "read-only repository".into(),
        extra_config: "",
        arm: Box::new(|env: &Env| {
            env.sim.create_repository("ro_repo", true).unwrap();
            set_repo(env, "ro_repo");
        }),
        want_code: 2,
        want_status: None,
        want_text: "read only",
        after_dead_run: false,
    });
    v.push(Failure {
        name: "missing repository".into(),
        extra_config: "",
        arm: Box::new(|env: &Env| set_repo(env, "no_such_repo")),
        want_code: 2,
        want_status: None,
        want_text: "no_such_repo",
        after_dead_run: false,
    });
    v
}

fn set_repo(env: &Env, repo: &str) {
    let t = std::fs::read_to_string(&env.config)
        .unwrap()
        .replace("repository: backup_repo", &format!("repository: {repo}"));
    std::fs::write(&env.config, t).unwrap();
}

#[test]
fn starrocks_side_failures() {
    if skip_on_real_cluster("starrocks_side_failures") {
        return;
    }
    let mut tally = Tally::new(
        "starrocks",
        "StarRocks-side failures: CANCELLED at each state, TIMEOUT, stalled past job_timeout_s, row replaced/expired, TaskErrMsg, busy, label taken, read-only/missing repository",
    );
    for f in failures() {
        tally.case(&f.name.clone(), failure_case(&f));
    }
    tally.finish();
}

fn failure_case(f: &Failure) -> Vec<String> {
    let env = new_env(f.extra_config);
    Scenario::Full.setup(&env);
    let mut p = Vec::new();
    let mut dead_label = None;
    if f.after_dead_run {
        // a run with the default (1 day) job timeout dies right after its BACKUP was answered
        let text0 = std::fs::read_to_string(&env.config).unwrap();
        std::fs::write(&env.config, text0.replace(f.extra_config, "")).unwrap();
        env.sim.stall_jobs(true);
        env.sim.hang("^SHOW BACKUP", When::Before);
        let mut child = spawn(&env, &["backup"], "dead");
        let r = (|| {
            let start = Instant::now();
            while !env.sent().iter().any(|s| s.starts_with("SHOW BACKUP")) {
                if start.elapsed() > Duration::from_secs(60) {
                    return Err("the dead run never polled".to_string());
                }
                if let Ok(Some(_)) = child.child.try_wait() {
                    return Err("the dead run ended early".to_string());
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Ok(())
        })();
        child.kill(&env);
        if let Err(e) = r {
            return vec![e];
        }
        std::fs::write(&env.config, text0).unwrap();
        dead_label = env.history().first().map(|h| h.0.clone());
        env.sim.advance(Duration::from_secs(15)); // its heartbeat is stale: it is dead
    }
    let before: BTreeSet<String> = env.history().into_iter().map(|h| h.0).collect();
    let sent_before = env.sent().len();
    (f.arm)(&env);
    let o = run(&env, &["backup"]);
    if code(&o) != f.want_code {
        p.push(format!(
            "exit {} (want {}): {}",
            code(&o),
            f.want_code,
            text(&o.stderr).lines().last().unwrap_or_default()
        ));
    }
    if f.want_code != 0 {
        match error_line(&o) {
            Ok(l) if !l.contains(f.want_text) => {
                p.push(format!("error line lacks '{}': {l}", f.want_text))
            }
            Ok(_) => {}
            Err(e) => p.push(e),
        }
    }
    let h = env.history();
    let ours: Vec<_> = h.iter().filter(|r| !before.contains(&r.0)).collect();
    match f.want_status {
        None => {
            if !ours.is_empty() {
                p.push(format!("history rows were written: {ours:?}"));
            }
            let writes: Vec<String> = env.sent()[sent_before..]
                .iter()
                .filter(|s| is_write(s))
                .cloned()
                .collect();
            if !writes.is_empty() {
                p.push(format!("statements that write were sent: {writes:?}"));
            }
        }
        Some(want) => {
            if ours.len() != 1 || ours[0].2 != want {
                p.push(format!("want one new {want} row, history {h:?}"));
            } else if want == "FAILED"
                && !ours[0]
                    .3
                    .as_deref()
                    .unwrap_or_default()
                    .contains(f.want_text)
            {
                p.push(format!(
                    "error_message lacks '{}': {:?}",
                    f.want_text, ours[0].3
                ));
            }
        }
    }
    if let Some(dead) = dead_label {
        let row = h.iter().find(|r| r.0 == dead);
        match row {
            Some(r)
                if r.2 == "FAILED" && r.3.as_deref().unwrap_or_default().contains(f.want_text) => {}
            other => p.push(format!("the dead run's row {dead}: {other:?}")),
        }
        if !env.sent().iter().any(|s| s.starts_with("CANCEL BACKUP")) {
            p.push("no CANCEL BACKUP was sent for the stalled job".into());
        }
    }
    p.extend(verify(&env, "backup_repo", &demo_tables(), false));
    if f.want_status.is_none() {
        set_repo(&env, "backup_repo");
        let t = std::fs::read_to_string(&env.config).unwrap();
        std::fs::write(
            &env.config,
            t.lines()
                .map(|l| {
                    if l.starts_with("repository:") {
                        "repository: backup_repo".to_string()
                    } else {
                        l.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join("\n")
                + "\n",
        )
        .unwrap();
    }
    p.extend(settle(&env));
    p
}

// ---------------------------------------------------------------------------------------------
// 4. Concurrency

#[test]
fn concurrent_runs() {
    if skip_on_real_cluster("concurrent_runs") {
        return;
    }
    // tests/cli_e2e.rs covers two FULL runs started together; these extend it.
    let mut tally = Tally::new(
        "concurrency",
        "runs started in the same instant on one database: exactly one proceeds, the others exit 4 before any job",
    );
    for (name, sc, n) in [
        ("two incremental backups at once", Scenario::Incremental, 2),
        ("three full backups at once", Scenario::Full, 3),
        (
            "three incremental backups at once",
            Scenario::Incremental,
            3,
        ),
    ] {
        tally.case(name, race_case(sc, n));
    }
    tally.finish();
}

fn race_case(sc: Scenario, n: usize) -> Vec<String> {
    // the default stale period: a live run's claim must count
    let env = Env::with_secret("");
    sc.setup(&env);
    let jobs_before = env.sim.jobs().len();
    // The jobs stall while the runs race, so the winner's job cannot end before every other run
    // has met its claim (otherwise a late starter merely finds nothing to do): deterministic.
    env.sim.stall_jobs(true);
    let mut children: Vec<Spawned> = (0..n)
        .map(|i| spawn(&env, &["backup"], &format!("race{i}")))
        .collect();
    let start = Instant::now();
    while children
        .iter_mut()
        .map(|c| c.child.try_wait())
        .filter(|r| matches!(r, Ok(Some(_))))
        .count()
        < n - 1
        && start.elapsed() < Duration::from_secs(60)
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    env.sim.stall_jobs(false);
    let mut p = Vec::new();
    let (mut proceeded, mut refused, mut late) = (0, 0, 0);
    for c in children {
        let (code, out, err) = c.wait(&env);
        match code {
            // a run the OS started after the winner's job had ended: it may finish the winner's
            // record (a RUNNING row whose job ended is resumable by design), then finds nothing
            // to do. Correct, but not a race.
            0 if out.contains("nothing changed") => late += 1,
            0 if out.contains("FINISHED") => proceeded += 1,
            4 if err
                .lines()
                .last()
                .unwrap_or_default()
                .starts_with("error: ") =>
            {
                refused += 1
            }
            _ => p.push(format!("exit {code}: {out} {err}")),
        }
    }
    if proceeded != 1 || refused == 0 || proceeded + refused + late != n {
        p.push(format!(
            "{proceeded} proceeded, {refused} refused (exit 4), {late} started late; want exactly 1 to proceed"
        ));
    }
    let new_jobs = env.sim.jobs().len() - jobs_before;
    if new_jobs != 1 {
        p.push(format!("{new_jobs} BACKUP jobs, want exactly 1"));
    }
    p.extend(verify(&env, "backup_repo", &demo_tables(), true));
    p.extend(settle(&env));
    p
}

// ---------------------------------------------------------------------------------------------
// 5. Hostile and broken input

/// `sql` with every quoted identifier, string literal and double-quoted string removed: what
/// StarRocks parses as syntax. Nothing a user supplies may end up there.
fn outside_quotes(sql: &str) -> String {
    let mut out = String::new();
    let mut it = sql.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '`' => {
                // `` doubles a backtick inside an identifier
                loop {
                    match it.next() {
                        Some('`') if it.peek() == Some(&'`') => {
                            it.next();
                        }
                        Some('`') | None => break,
                        _ => {}
                    }
                }
                out.push_str("`I`");
            }
            '\'' | '"' => {
                loop {
                    match it.next() {
                        Some('\\') => {
                            it.next();
                        }
                        Some(q) if q == c => break,
                        None => break,
                        _ => {}
                    }
                }
                out.push_str("'L'");
            }
            c => out.push(c),
        }
    }
    out
}

/// No statement the tool sent carries syntax outside its quotes that could end a statement or start
/// a comment (`;`, `--`, `/*`, `#`).
fn injection_free(env: &Env) -> Vec<String> {
    env.sent()
        .iter()
        .filter(|s| {
            let o = outside_quotes(s);
            [";", "--", "/*", "#"].iter().any(|m| o.contains(m))
        })
        .map(|s| format!("unquoted syntax in: {s}"))
        .collect()
}

/// Prepares the env (config text, history rows) and returns the args to run.
type HostileArm = Box<dyn Fn(&Env) -> Vec<String>>;

struct Hostile {
    name: String,
    /// Prepares the env (config text, history rows); returns the args to run.
    arm: HostileArm,
    want_code: i32,
    want_text: &'static str,
    /// Writes allowed (the claim row written and withdrawn); history must still be unchanged.
    claim_allowed: bool,
    /// The table is left out of the run (SPEC v2): the rest is backed up, a FAILED `_left` row
    /// names it, and nothing sent names it.
    left_out: Option<&'static str>,
}

fn set_config(env: &Env, text: &str) {
    std::fs::write(&env.config, text).unwrap();
}

fn edit_config(env: &Env, from: &str, to: &str) {
    let t = std::fs::read_to_string(&env.config).unwrap();
    assert!(t.contains(from), "{from} not in config");
    set_config(env, &t.replacen(from, to, 1));
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

fn hostile_cases() -> Vec<Hostile> {
    let mut v: Vec<Hostile> = Vec::new();
    let cfg = |name: &str, f: Box<dyn Fn(&Env)>, text: &'static str| Hostile {
        name: format!("config: {name}"),
        arm: Box::new(move |env: &Env| {
            f(env);
            args(&["backup"])
        }),
        want_code: 2,
        want_text: text,
        claim_allowed: false,
        left_out: None,
    };
    v.push(cfg(
        "malformed YAML",
        Box::new(|env| set_config(env, "connection: [unclosed\nrepository: r\n")),
        "config",
    ));
    v.push(cfg(
        "not YAML at all",
        Box::new(|env| set_config(env, "\u{0}\u{1}\u{2}::: {{{ \t\n- ]]")),
        "config",
    ));
    v.push(cfg(
        "empty file",
        Box::new(|env| set_config(env, "")),
        "config",
    ));
    v.push(cfg(
        "unknown top-level key (typo)",
        Box::new(|env| edit_config(env, "tables:", "tabels:")),
        "tabels",
    ));
    v.push(cfg(
        "unknown nested key",
        Box::new(|env| edit_config(env, "  user: root\n", "  user: root\n  pasword: x\n")),
        "pasword",
    ));
    v.push(cfg(
        "wrong type: port",
        Box::new(|env| {
            let t = std::fs::read_to_string(&env.config).unwrap();
            let t: Vec<String> = t
                .lines()
                .map(|l| {
                    if l.trim_start().starts_with("port:") {
                        "  port: ninety".to_string()
                    } else {
                        l.to_string()
                    }
                })
                .collect();
            set_config(env, &(t.join("\n") + "\n"));
        }),
        "port",
    ));
    v.push(cfg(
        "wrong type: tables is a string",
        Box::new(|env| {
            edit_config(
                env,
                "tables:\n  - sales.orders\n  - sales.customers\n",
                "tables: sales.orders\n",
            )
        }),
        "tables",
    ));
    v.push(cfg(
        "wrong type: negative replication_num",
        Box::new(|env| edit_config(env, "replication_num: 1", "replication_num: -1")),
        "replication_num",
    ));
    v.push(cfg(
        "wrong type: poll interval is text",
        Box::new(|env| {
            edit_config(
                env,
                "initial_ms: 5, max_ms: 50}\nretry",
                "initial_ms: fast, max_ms: 50}\nretry",
            )
        }),
        "poll",
    ));
    v.push(cfg(
        "job_timeout_s below StarRocks' minimum",
        Box::new(|env| {
            let t = std::fs::read_to_string(&env.config).unwrap();
            set_config(env, &format!("{t}job_timeout_s: 5\n"));
        }),
        "job_timeout_s",
    ));
    v.push(cfg(
        "missing required key",
        Box::new(|env| edit_config(env, "repository: backup_repo\n", "")),
        "repository",
    ));
    v.push(cfg(
        "empty tables list",
        Box::new(|env| {
            edit_config(
                env,
                "tables:\n  - sales.orders\n  - sales.customers\n",
                "tables: []\n",
            )
        }),
        "tables",
    ));
    v.push(cfg(
        "missing password variable",
        Box::new(|env| edit_config(env, SECRET_VAR, "BBR_TEST_NO_SUCH_VARIABLE")),
        "BBR_TEST_NO_SUCH_VARIABLE",
    ));
    v.push(Hostile {
        name: "config: file does not exist".into(),
        arm: Box::new(|env: &Env| {
            std::fs::remove_file(&env.config).unwrap();
            args(&["backup"])
        }),
        want_code: 2,
        want_text: "config",
        claim_allowed: false,
        left_out: None,
    });
    // table names: quotes are refused by the config; other syntax is quoted as one identifier, and
    // a name the cluster does not have is left out of the run (SPEC v2), never blocking the rest
    for (name, table, text) in [
        ("backtick", "sales.ord`ers", "db.table"),
        ("single quote", "sales.ord'ers", "db.table"),
        ("double quote", "sales.ord\"ers", "ord\"ers"),
        (
            "semicolon",
            "sales.orders;DROP_TABLE_x",
            "orders;DROP_TABLE_x",
        ),
        ("line comment", "sales.orders--x", "orders--x"),
        ("block comment", "sales.orders/*x*/", "orders/*x*/"),
        ("hash comment", "sales.orders#x", "orders#x"),
        ("backslash", "sales.ord\\ers", "ord\\ers"),
        (
            "database with a semicolon",
            "sa;les.orders",
            "sa;les.orders",
        ),
        ("non-existent table", "sales.nope", "sales.nope"),
        ("non-existent database", "nodb.orders", "nodb.orders"),
        ("no database part", "orders", "db.table"),
    ] {
        let refused_by_config = text == "db.table";
        let owned = table.to_string();
        v.push(Hostile {
            name: format!("table name: {name}"),
            arm: Box::new(move |env: &Env| {
                let yaml = format!("'{}'", owned.replace('\'', "''"));
                edit_config(env, "  - sales.customers\n", &format!("  - {yaml}\n"));
                args(&["backup"])
            }),
            want_code: if refused_by_config { 2 } else { 1 },
            want_text: text,
            claim_allowed: false,
            left_out: (!refused_by_config).then_some(table),
        });
    }
    // restore arguments
    for ts in [
        "yesterday",
        "2026-02-30 00:00:00",
        "2026-01-01T00:00:00",
        "2026-01-01 00:00",
        "01/02/2026 00:00:00",
        "2026-01-01 24:00:00",
        "",
    ] {
        v.push(Hostile {
            name: format!("restore --timestamp {ts:?}"),
            arm: Box::new(move |_env: &Env| {
                args(&["restore", "--table", "sales.orders", "--timestamp", ts])
            }),
            want_code: 2,
            want_text: "timestamp",
            claim_allowed: false,
            left_out: None,
        });
    }
    for t in ["sales.ord`ers", "orders", "sales.orders'--"] {
        v.push(Hostile {
            name: format!("restore --table {t:?}"),
            arm: Box::new(move |_env: &Env| {
                args(&[
                    "restore",
                    "--table",
                    t,
                    "--timestamp",
                    "2026-01-01 00:10:00",
                ])
            }),
            want_code: 2,
            want_text: "table",
            claim_allowed: false,
            left_out: None,
        });
    }
    // a history edited by hand into an impossible state
    v.push(Hostile {
        name: "history: two fresh RUNNING rows of other runs".into(),
        arm: Box::new(|env: &Env| {
            for l in ["bbr_sales_x1", "bbr_sales_x2"] {
                env.sim.execute(&format!("INSERT INTO ops.backup_history (label, database_name, backup_type, status, repository, started_at, heartbeat_at) VALUES ('{l}', 'sales', 'full', 'RUNNING', 'backup_repo', NOW(), NOW())")).unwrap();
            }
            args(&["backup"])
        }),
        want_code: 4,
        want_text: "another run holds database sales",
        claim_allowed: true,
        left_out: None,
    });
    v.push(Hostile {
        name: "history: FINISHED row without backup_timestamp".into(),
        arm: Box::new(|env: &Env| {
            env.run_ok(&["backup"], 0);
            env.sim.load("sales", "orders", "p20260101", 1).unwrap();
            env.sim
                .execute("UPDATE ops.backup_history SET backup_timestamp = NULL WHERE status = 'FINISHED'")
                .unwrap();
            args(&["backup"])
        }),
        want_code: 2,
        want_text: "no backup_timestamp",
        claim_allowed: false,
        left_out: None,
    });
    v.push(Hostile {
        name: "history: manifest names a label that is not a FINISHED backup".into(),
        arm: Box::new(|env: &Env| {
            env.run_ok(&["backup"], 0);
            env.sim.load("sales", "orders", "p20260101", 1).unwrap();
            // backup_partitions is DUPLICATE KEY (no UPDATE): delete the row, insert it edited
            let r = env.query("SELECT label, partition_id, visible_version, schema_fingerprint FROM ops.backup_partitions WHERE partition_name = 'p20260103'");
            let r = &r[0];
            env.sim
                .execute("DELETE FROM ops.backup_partitions WHERE partition_name = 'p20260103'")
                .unwrap();
            env.sim.execute(&format!(
                "INSERT INTO ops.backup_partitions (label, database_name, table_name, partition_name, partition_id, visible_version, replication_num, source_label, in_snapshot, whole_table, schema_fingerprint) VALUES ('{}', 'sales', 'orders', 'p20260103', {}, {}, 1, 'bbr_sales_gone', 1, 1, '{}')",
                s(&r[0]), s(&r[1]), s(&r[2]), s(&r[3])
            ))
            .unwrap();
            args(&["backup"])
        }),
        want_code: 2,
        want_text: "bbr_sales_gone",
        claim_allowed: false,
        left_out: None,
    });
    v.push(Hostile {
        name: "history: FINISHED row without a manifest".into(),
        arm: Box::new(|env: &Env| {
            env.run_ok(&["backup"], 0);
            env.sim.load("sales", "orders", "p20260101", 1).unwrap();
            env.sim
                .execute("DELETE FROM ops.backup_partitions WHERE label <> ''")
                .unwrap();
            args(&["backup"])
        }),
        want_code: 2,
        want_text: "no rows in ops.backup_partitions",
        claim_allowed: false,
        left_out: None,
    });
    v
}

#[test]
fn hostile_and_broken_input() {
    if skip_on_real_cluster("hostile_and_broken_input") {
        return;
    }
    let mut tally = Tally::new(
        "hostile",
        "malformed/unknown/mistyped config, missing password variable, SQL syntax in table names, bad restore arguments, hand-edited history",
    );
    for h in hostile_cases() {
        tally.case(&h.name.clone(), hostile_case(&h));
    }
    tally.case("table name with SQL syntax, backed up", quoted_table_case());
    tally.case(
        "history: two stale RUNNING rows of dead runs (repaired)",
        stale_rows_case(),
    );
    tally.finish();
}

fn history_snapshot(env: &Env) -> Vec<Vec<Option<String>>> {
    let mut v = env.query("SELECT label, status, backup_timestamp, error_message FROM ops.backup_history ORDER BY label");
    v.extend(env.query("SELECT label, table_name, partition_name, source_label FROM ops.backup_partitions ORDER BY label, table_name, partition_name"));
    v
}

fn hostile_case(h: &Hostile) -> Vec<String> {
    // the default stale period, so hand-written RUNNING rows stay fresh through the run
    let env = Env::with_secret("");
    env.run_ok(&["init"], 0);
    let a = (h.arm)(&env);
    let before = history_snapshot(&env);
    env.sim.clear_statements();
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let o = run(&env, &a);
    let mut p = Vec::new();
    if code(&o) != h.want_code {
        p.push(format!(
            "exit {} (want {}): {}",
            code(&o),
            h.want_code,
            text(&o.stderr)
        ));
    }
    match error_line(&o) {
        Ok(l) if !l.contains(h.want_text) => {
            p.push(format!("error line lacks '{}': {l}", h.want_text))
        }
        Ok(_) => {}
        Err(e) => p.push(e),
    }
    let writes: Vec<String> = env.sent().into_iter().filter(|s| is_write(s)).collect();
    let claim_only = writes.iter().all(|w| {
        w.starts_with("INSERT INTO `ops`.`backup_history`")
            || w.starts_with("DELETE FROM `ops`.`backup_history`")
    });
    if let Some(table) = h.left_out {
        // the rest backed up; one FAILED `_left` row names the table; nothing sent names it
        // except that row's own literals
        let (db, name) = table.split_once('.').unwrap_or(("", table));
        let ours = format!("BACKUP SNAPSHOT `{db}`.");
        let quoted = format!("`{name}`");
        let left = env.query("SELECT error_message FROM ops.backup_history WHERE status = 'FAILED' AND label LIKE '%_left_%'");
        if !left
            .iter()
            .any(|r| r[0].as_deref().is_some_and(|m| m.contains(table)))
        {
            p.push(format!("no FAILED _left row names {table}: {left:?}"));
        }
        if !writes
            .iter()
            .any(|w| w.starts_with("BACKUP") && w.contains("`orders`"))
        {
            p.push(format!("the rest was not backed up: {writes:?}"));
        }
        if let Some(w) = writes
            .iter()
            .find(|w| w.starts_with(&ours) && w.contains(&quoted))
        {
            p.push(format!("the left-out table reached a BACKUP: {w}"));
        }
    } else {
        let allowed = writes.is_empty() || (h.claim_allowed && claim_only);
        if !allowed {
            p.push(format!("statements that write were sent: {writes:?}"));
        }
        if history_snapshot(&env) != before {
            p.push("the history changed".into());
        }
    }
    p.extend(injection_free(&env));
    p
}

/// A real table whose name holds every comment and terminator syntax is backed up: every statement
/// quotes it as one identifier or literal, and nothing else runs.
fn quoted_table_case() -> Vec<String> {
    let name = "o;rd--er/*s*/#\"x\\";
    let env = new_env("");
    let spec = starrocks_sim::TableSpec::new(&[("id", "BIGINT"), ("v", "INT")]);
    if let Err(e) = env.sim.create_table("sales", name, &spec) {
        return vec![format!("the simulator cannot create the table: {e}")];
    }
    env.sim.load("sales", name, name, 3).unwrap();
    let yaml = format!("'sales.{}'", name.replace('\'', "''"));
    edit_config(&env, "  - sales.customers\n", &format!("  - {yaml}\n"));
    env.run_ok(&["init"], 0);
    env.sim.clear_statements();
    let mut p = Vec::new();
    if let Err(e) = expect(&env, &["backup"], 0) {
        p.push(e);
    }
    p.extend(injection_free(&env));
    let backups: Vec<String> = env
        .sent()
        .into_iter()
        .filter(|s| s.starts_with("BACKUP"))
        .collect();
    let want = format!("`{}`", name.replace('`', "``"));
    if backups.len() != 1 || !backups[0].contains(&want) {
        p.push(format!("BACKUP statements {backups:?} do not name {want}"));
    }
    let jobs = env.sim.jobs();
    if jobs.len() != 1 || !jobs[0].objects.iter().any(|o| o == name) {
        p.push(format!(
            "the job backs up {:?}",
            jobs.iter().map(|j| j.objects.clone()).collect::<Vec<_>>()
        ));
    }
    let tables = vec![
        ("sales".to_string(), name.to_string()),
        ("sales".to_string(), "orders".to_string()),
    ];
    p.extend(verify(&env, "backup_repo", &tables, true));
    p
}

/// Two RUNNING rows whose runners died (stale heartbeats, labels StarRocks never saw): the next run
/// records both FAILED with the reason, then backs up.
fn stale_rows_case() -> Vec<String> {
    let env = new_env("");
    env.run_ok(&["init"], 0);
    for l in ["bbr_sales_dead1", "bbr_sales_dead2"] {
        env.sim.execute(&format!("INSERT INTO ops.backup_history (label, database_name, backup_type, status, repository, started_at, heartbeat_at) VALUES ('{l}', 'sales', 'full', 'RUNNING', 'backup_repo', NOW(), NOW())")).unwrap();
    }
    env.sim.advance(Duration::from_secs(60));
    let mut p = Vec::new();
    if let Err(e) = expect(&env, &["backup"], 0) {
        p.push(e);
    }
    for (l, _, st, err) in env.history() {
        if l.contains("dead") && (st != "FAILED" || err.is_none()) {
            p.push(format!("{l}: {st} {err:?}"));
        }
    }
    p.extend(settle(&env));
    p
}

// ---------------------------------------------------------------------------------------------
// Restore: crash at every step boundary, a dropped connection at every statement, CANCELLED at each
// state, and a backup racing a restore.

/// (partition, version, rows) of sales.orders, sorted: what a restore must reproduce.
fn orders(env: &Env) -> Option<Vec<(String, u64, u64)>> {
    if !env.sim.table_exists("sales", "orders") {
        return None;
    }
    let mut v: Vec<_> = env
        .sim
        .partitions("sales", "orders")
        .ok()?
        .into_iter()
        .filter(|p| !p.is_temp)
        .map(|p| (p.name, p.visible_version, p.row_count))
        .collect();
    v.sort();
    Some(v)
}

/// A full and an incremental backup of sales, then sales.orders dropped. Returns the restore
/// arguments (target: now, after both) and what the table must look like once restored.
fn restore_setup(env: &Env) -> (Vec<String>, Vec<(String, u64, u64)>) {
    env.run_ok(&["init"], 0);
    env.run_ok(&["backup"], 0);
    env.sim.load("sales", "orders", "p20260102", 4).unwrap();
    env.run_ok(&["backup"], 0);
    let want = orders(env).unwrap();
    env.sim.advance(Duration::from_secs(5));
    let target = env.sim.now().format("%Y-%m-%d %H:%M:%S").to_string();
    env.sim.drop_table("sales", "orders").unwrap();
    env.sim.clear_statements();
    (
        args(&["restore", "--table", "sales.orders", "--timestamp", &target]),
        want,
    )
}

fn restore_jobs_finished(env: &Env) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for j in env.sim.jobs() {
        if j.kind == JobKind::Restore && j.state == "FINISHED" {
            *m.entry(j.label).or_default() += 1;
        }
    }
    m
}

/// After a fault in a restore: rerun the SAME restore command (a dead run is continued by it) until
/// it succeeds; the table must then equal an uninterrupted restore's, no restore_history row may be
/// RUNNING, and a FINISHED row must never describe a wrong table. `redo_allowed`: the fault left a
/// FAILED run and a partly restored table (a RESTORE CANCELLED by StarRocks), so the table is dropped
/// before the rerun as the error line says; otherwise no drop is allowed and the run must end as an
/// uninterrupted one: one RESTORE job per link, one restore_history row, FINISHED.
fn restore_settle(
    env: &Env,
    a: &[String],
    want: &[(String, u64, u64)],
    redo_allowed: bool,
) -> Vec<String> {
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let mut p = Vec::new();
    env.sim.stall_jobs(false);
    env.sim.advance(Duration::from_secs(60));
    let mut done = false;
    for _ in 0..3 {
        let o = run(env, &a);
        match code(&o) {
            0 => {
                done = true;
                break;
            }
            4 if orders(env).as_deref() == Some(want) => {
                done = true; // the dead run had completed and recorded it
                break;
            }
            4 | 1 if redo_allowed && orders(env).is_some() => {
                eprintln!("partly restored table dropped before the rerun");
                env.sim.drop_table("sales", "orders").unwrap();
            }
            1 if redo_allowed => {}
            c => {
                p.push(format!("restore rerun exit {c}: {}", text(&o.stderr)));
                break;
            }
        }
        env.sim.advance(Duration::from_secs(60));
    }
    if !done {
        p.push("no rerun completed the restore".into());
    }
    if orders(env).as_deref() != Some(want) {
        p.push(format!("restored table {:?}, want {want:?}", orders(env)));
    }
    let rows = env.query("SELECT label, status, error_message FROM ops.restore_history");
    for r in &rows {
        if s(&r[1]) == "RUNNING" {
            p.push(format!("restore {} left RUNNING", s(&r[0])));
        }
    }
    // one restore completed the table: exactly one FINISHED record (a dead run's partial chain
    // must not be recorded FINISHED)
    let finished = rows.iter().filter(|r| s(&r[1]) == "FINISHED").count();
    if finished != 1 {
        p.push(format!("{finished} FINISHED restore records: {rows:?}"));
    }
    if redo_allowed {
        // no duplicate RESTORE for the same work, unless the partial table was dropped and redone
        let dropped = rows.iter().any(|r| s(&r[1]) == "FAILED");
        for (l, n) in restore_jobs_finished(env) {
            if n > 1 && !dropped {
                p.push(format!("RESTORE of snapshot {l} ran {n} times"));
            }
        }
    } else {
        // as an uninterrupted restore: one RESTORE job per link (2), each FINISHED, and one record
        let jobs: Vec<(String, String)> = env
            .sim
            .jobs()
            .into_iter()
            .filter(|j| j.kind == JobKind::Restore)
            .map(|j| (j.label, j.state))
            .collect();
        let per_link = restore_jobs_finished(env);
        if jobs.len() != 2 || per_link.len() != 2 || per_link.values().any(|&n| n != 1) {
            p.push(format!(
                "RESTORE jobs {jobs:?}, an uninterrupted restore runs one per link (2)"
            ));
        }
        if rows.len() != 1 {
            p.push(format!(
                "restore_history {rows:?}, an uninterrupted restore writes one row"
            ));
        }
    }
    p.extend(verify(env, "backup_repo", &demo_tables(), false));
    assert_no_secret(&env.sim, &[]);
    p
}

fn restore_reference() -> (Reference, Vec<String>, Vec<(String, u64, u64)>) {
    let env = new_env("");
    let (a, _) = restore_setup(&env);
    let mut dry: Vec<&str> = a.iter().map(String::as_str).collect();
    dry.push("--dry-run");
    let steps = dry_run_steps(&env, &dry);
    let env = new_env("");
    let (a, want) = restore_setup(&env);
    let av: Vec<&str> = a.iter().map(String::as_str).collect();
    let o = run(&env, &av);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    assert_eq!(orders(&env).as_deref(), Some(&want[..]));
    let statements = env.sent();
    (Reference { steps, statements }, a, want)
}

#[test]
fn restore_crash_at_every_step_boundary() {
    if skip_on_real_cluster("restore_crash_at_every_step_boundary") {
        return;
    }
    let mut tally = Tally::new(
        "restore-crash",
        "SIGKILL at every step boundary of a two-snapshot restore plan, before and after the step's first statement; the same restore command rerun continues it",
    );
    let (r, a, want) = restore_reference();
    for (kind, idx) in boundaries(&r) {
        for when in [When::Before, When::After] {
            let id = format!("restore kill {when:?} {kind} (statement #{idx})");
            let env = new_env("");
            restore_setup(&env);
            env.sim.hang_at(idx, when);
            let av: Vec<&str> = a.iter().map(String::as_str).collect();
            let mut child = spawn(&env, &av, "killed");
            let mut p = Vec::new();
            if let Err(e) = wait_for_statement(&env, &mut child, idx) {
                child.kill(&env);
                tally.case(&id, vec![e]);
                continue;
            }
            child.kill(&env);
            p.extend(restore_settle(&env, &a, &want, false));
            tally.case(&id, p);
        }
    }
    tally.finish();
}

#[test]
fn restore_connection_dropped_at_every_statement() {
    if skip_on_real_cluster("restore_connection_dropped_at_every_statement") {
        return;
    }
    let mut tally = Tally::new(
        "restore-connection",
        "connection dropped before and after every statement of a two-snapshot restore; the same command rerun if it did not finish",
    );
    let (r, a, want) = restore_reference();
    for idx in 0..r.statements.len() {
        for when in [When::Before, When::After] {
            let first: String = r.statements[idx].chars().take(60).collect();
            let id = format!("restore drop {when:?} #{idx} {first}");
            let env = new_env("");
            restore_setup(&env);
            env.sim.drop_connection_at(idx, when);
            let av: Vec<&str> = a.iter().map(String::as_str).collect();
            let o = run(&env, &av);
            let mut p = Vec::new();
            if code(&o) != 0 {
                if let Err(e) = error_line(&o) {
                    p.push(e);
                }
            }
            // never a FINISHED record for a table that is not what it should be
            let finished = env
                .query("SELECT label FROM ops.restore_history WHERE status = 'FINISHED'")
                .len();
            if finished > 0 && orders(&env).as_deref() != Some(&want[..]) {
                p.push(format!(
                    "restore recorded FINISHED but the table is {:?}",
                    orders(&env)
                ));
            }
            p.extend(restore_settle(&env, &a, &want, false));
            tally.case(&id, p);
        }
    }
    tally.finish();
}

#[test]
fn restore_failures_and_races() {
    if skip_on_real_cluster("restore_failures_and_races") {
        return;
    }
    let mut tally = Tally::new(
        "restore-failures",
        "a RESTORE job CANCELLED when leaving each state (first and second job of the chain); a backup and a restore started together; a run killed between a RESTORE finishing and its partition-scheduler switch-off",
    );
    for job in [0usize, 1] {
        for state in [
            "PENDING",
            "SNAPSHOTING",
            "DOWNLOAD",
            "DOWNLOADING",
            "COMMIT",
            "COMMITTING",
        ] {
            let id = format!("restore job {} CANCELLED when leaving {state}", job + 1);
            let env = new_env("");
            let (a, want) = restore_setup(&env);
            let status = format!("[COMMON_ERROR, msg: injected cancel in {state}]");
            if job == 0 {
                env.sim.cancel_next_job_at(state, &status);
            } else {
                let st = state.to_string();
                let status = status.clone();
                env.sim.on_statement(
                    "^RESTORE",
                    Box::new(move |sim| sim.cancel_next_job_at(&st, &status)),
                );
            }
            let av: Vec<&str> = a.iter().map(String::as_str).collect();
            let o = run(&env, &av);
            let mut p = Vec::new();
            if code(&o) != 1 {
                p.push(format!("exit {} (want 1): {}", code(&o), text(&o.stderr)));
            } else if let Err(e) = error_line(&o) {
                p.push(e);
            }
            let rows = env.query("SELECT status, error_message FROM ops.restore_history");
            if rows.len() != 1
                || s(&rows[0][0]) != "FAILED"
                || !s(&rows[0][1]).contains("injected cancel")
            {
                p.push(format!("restore_history {rows:?}"));
            }
            let sent: Vec<String> = env
                .sent()
                .into_iter()
                .filter(|x| x.starts_with("RESTORE"))
                .collect();
            if sent.len() != job + 1 {
                p.push(format!(
                    "{} RESTORE sent after job {} was cancelled",
                    sent.len(),
                    job + 1
                ));
            }
            p.extend(restore_settle(&env, &a, &want, true));
            tally.case(&id, p);
        }
    }
    tally.case(
        "a backup and a restore of the same database started together",
        {
            let env = Env::with_secret("");
            let (a, want) = restore_setup(&env);
            // keep the config's tables backable: back up customers only
            edit_config(&env, "  - sales.orders\n", "");
            env.sim.load("sales", "customers", "customers", 1).unwrap();
            let av: Vec<&str> = a.iter().map(String::as_str).collect();
            env.sim.stall_jobs(true); // the winner's job waits until the loser met its claim
            let mut b = spawn(&env, &["backup"], "race-backup");
            let mut r = spawn(&env, &av, "race-restore");
            let start = Instant::now();
            while !matches!(b.child.try_wait(), Ok(Some(_)))
                && !matches!(r.child.try_wait(), Ok(Some(_)))
                && start.elapsed() < Duration::from_secs(60)
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            env.sim.stall_jobs(false);
            let (cb, _, eb) = b.wait(&env);
            let (cr, _, er) = r.wait(&env);
            let mut p = Vec::new();
            let mut codes = vec![cb, cr];
            codes.sort();
            if codes != vec![0, 4] {
                p.push(format!(
                    "exit codes backup {cb} restore {cr}, want one 0 and one 4: {eb} {er}"
                ));
            }
            let backups = env
                .sim
                .jobs()
                .into_iter()
                .filter(|j| j.kind == JobKind::Backup)
                .count();
            let restores = env
                .sim
                .jobs()
                .into_iter()
                .filter(|j| j.kind == JobKind::Restore)
                .count();
            // the loser sent nothing: either 2 (setup) + 1 backups and no restore, or 2 backups + the chain
            if !((cb == 0 && backups == 3 && restores == 0)
                || (cr == 0 && backups == 2 && restores == 2))
            {
                p.push(format!("{backups} backup and {restores} restore jobs"));
            }
            for h in env.history() {
                if h.2 == "RUNNING" {
                    p.push(format!("backup {} left RUNNING", h.0));
                }
            }
            // finish whichever lost
            if cb != 0 {
                if let Err(e) = expect(&env, &["backup"], 0) {
                    p.push(e);
                }
            }
            if cr != 0 {
                p.extend(restore_settle(&env, &a, &want, true));
            } else if orders(&env).as_deref() != Some(&want[..]) {
                p.push(format!("restored {:?}", orders(&env)));
            }
            p
        },
    );
    for (what, hang_on, when) in scheduler::CASES {
        tally.case(
            &format!("killed at the partition-scheduler switch-off ({what}); the rerun switches it off before finishing"),
            scheduler::crash_before_switch_off(hang_on, when),
        );
    }
    tally.finish();
}

// ---------------------------------------------------------------------------------------------
// Restore --replace: SIGKILL at every step; never the live table lost, never a wrong swap.

/// `--replace` (the live table swapped out) or `--as orders_copy` (a new table beside it).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Beside {
    Replace,
    As,
}

type Parts = Vec<(String, u64, u64)>;

/// A full backup, then the live table changes; the restore is as of just after the full backup
/// (one snapshot). Returns the arguments, the restored state and the live state.
fn beside_setup(env: &Env, mode: Beside) -> (Vec<String>, Parts, Parts) {
    env.run_ok(&["init"], 0);
    env.run_ok(&["backup"], 0);
    let want = orders(env).unwrap();
    env.sim.advance(Duration::from_secs(5));
    let target = env.sim.now().format("%Y-%m-%d %H:%M:%S").to_string();
    env.sim.load("sales", "orders", "p20260102", 4).unwrap();
    let live = orders(env).unwrap();
    env.sim.clear_statements();
    let mut a = args(&["restore", "--table", "sales.orders", "--timestamp", &target]);
    match mode {
        Beside::Replace => a.push("--replace".into()),
        Beside::As => a.extend(args(&["--as", "orders_copy"])),
    }
    (a, want, live)
}

/// The tables of sales holding exactly `parts` (the live data or the restored one).
fn tables_holding(env: &Env, parts: &Parts) -> Vec<String> {
    env.query("SELECT TABLE_NAME FROM information_schema.tables WHERE TABLE_SCHEMA = 'sales'")
        .into_iter()
        .filter_map(|r| r[0].clone())
        .filter(|t| env.sim.table_exists("sales", t) && &env.parts(t) == parts)
        .collect()
}

fn parts_of(env: &Env, table: &str) -> Option<Parts> {
    env.sim
        .table_exists("sales", table)
        .then(|| env.parts(table))
}

/// What must hold at any moment. --replace: `orders` is the live table or the complete restore
/// (never partial, never another table), and the live data exists under some name. --as:
/// `orders` is the live table, `orders_copy` absent or the complete restore.
fn beside_invariants(env: &Env, mode: Beside, want: &Parts, live: &Parts) -> Vec<String> {
    let mut p = Vec::new();
    let now = orders(env);
    match mode {
        Beside::Replace => {
            if now.as_ref() != Some(live) && now.as_ref() != Some(want) {
                p.push(format!(
                    "sales.orders is {now:?}: neither the live table nor the restore"
                ));
            }
            if tables_holding(env, live).is_empty() {
                p.push("the live table's data is under no name: lost".into());
            }
        }
        Beside::As => {
            if now.as_ref() != Some(live) {
                p.push(format!("the live sales.orders changed: {now:?}"));
            }
            let copy = parts_of(env, "orders_copy");
            if copy.is_some() && copy.as_ref() != Some(want) {
                p.push(format!("sales.orders_copy is partial: {copy:?}"));
            }
        }
    }
    p
}

fn beside_killed_at_every_step(mode: Beside, category: &'static str, what: &'static str) {
    let mut tally = Tally::new(category, what);
    let final_table = match mode {
        Beside::Replace => "orders",
        Beside::As => "orders_copy",
    };
    let reference = {
        let env = new_env("");
        let (a, _, _) = beside_setup(&env, mode);
        let mut dry: Vec<&str> = a.iter().map(String::as_str).collect();
        dry.push("--dry-run");
        let steps = dry_run_steps(&env, &dry);
        let env = new_env("");
        let (a, want, live) = beside_setup(&env, mode);
        let av: Vec<&str> = a.iter().map(String::as_str).collect();
        let o = run(&env, &av);
        assert_eq!(code(&o), 0, "{}", text(&o.stderr));
        assert_eq!(parts_of(&env, final_table).as_ref(), Some(&want));
        assert_eq!(
            tables_holding(&env, &live).len(),
            1,
            "the live data under one name"
        );
        Reference {
            steps,
            statements: env.sent(),
        }
    };
    for (kind, idx) in boundaries(&reference) {
        for when in [When::Before, When::After] {
            let id = format!("kill {when:?} {kind} (statement #{idx})");
            let env = new_env("");
            let (a, want, live) = beside_setup(&env, mode);
            env.sim.hang_at(idx, when);
            let av: Vec<&str> = a.iter().map(String::as_str).collect();
            let mut child = spawn(&env, &av, "killed");
            if let Err(e) = wait_for_statement(&env, &mut child, idx) {
                child.kill(&env);
                tally.case(&id, vec![e]);
                continue;
            }
            child.kill(&env);
            let mut p = beside_invariants(&env, mode, &want, &live);
            // StarRocks finishes what was submitted; the rerun (once the dead run's heartbeat is
            // stale) finishes its record and restores again
            env.sim.advance(Duration::from_secs(60));
            p.extend(beside_invariants(&env, mode, &want, &live));
            let mut done = false;
            for _ in 0..3 {
                let o = run(&env, &av);
                p.extend(beside_invariants(&env, mode, &want, &live));
                // --as whose dead run had renamed its complete copy into place: the name is taken
                // by the finished result, which is what the rerun was for
                let finished_before = mode == Beside::As
                    && code(&o) == 4
                    && parts_of(&env, "orders_copy").as_ref() == Some(&want);
                if code(&o) == 0 || finished_before {
                    done = true;
                    break;
                }
                if let Err(e) = error_line(&o) {
                    p.push(e);
                }
                env.sim.advance(Duration::from_secs(60));
            }
            if !done {
                p.push("no rerun completed the restore".into());
            }
            if parts_of(&env, final_table).as_ref() != Some(&want) {
                p.push(format!(
                    "after the rerun sales.{final_table} is {:?}",
                    parts_of(&env, final_table)
                ));
            }
            let running =
                env.query("SELECT label FROM ops.restore_history WHERE status = 'RUNNING'");
            if !running.is_empty() {
                p.push(format!("restore rows left RUNNING: {running:?}"));
            }
            tally.case(&id, p);
        }
    }
    tally.finish();
}

// 9. Parallel databases (issue 10): a fault in one database's job loses nothing in the other

/// The demo plus database hr (one table) in scope, initialised: both databases' jobs run at once.
fn two_db_env() -> Env {
    new_env("").with_hr()
}

fn two_db_tables() -> Vec<(String, String)> {
    let mut t = demo_tables();
    t.push(("hr".into(), "people".into()));
    t
}

/// `s` with the regex metacharacters escaped.
fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let meta = "\\.+*?()|[]{}^$".contains(c);
            meta.then_some('\\').into_iter().chain([c])
        })
        .collect()
}

#[test]
fn parallel_databases_connection_dropped_in_one() {
    if skip_on_real_cluster("parallel_databases_connection_dropped_in_one") {
        return;
    }
    let mut tally = Tally::new(
        "parallel",
        "two databases backed up at once (parallel_databases); hr's connection dropped before and after each statement of its job",
    );
    let steps = dry_run_steps(&two_db_env(), &["backup", "--dry-run"]);
    let hr_steps: Vec<(String, String)> = steps
        .into_iter()
        .filter(|(_, sql)| sql.contains("bbr_hr_") || sql.contains("'hr'") || sql.contains("`hr`"))
        .collect();
    assert!(hr_steps.len() >= 8, "{hr_steps:?}");
    // a reference run: every pattern must match one of its statements (no vacuous case)
    let reference = two_db_env();
    run(&reference, &["backup"]);
    let sent = reference.sent();
    for (i, (kind, sql)) in hr_steps.iter().enumerate() {
        // the statement's text up to its first literal or label, then anything naming hr
        let cut = [sql.find(['\'', '$']), sql.find("bbr_")]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(sql.len());
        let pattern = format!("^{}.*(bbr_hr_|'hr'|`hr`)", regex_escape(&sql[..cut]));
        let prefix = &sql[..cut];
        assert!(
            sent.iter().any(|st| st.starts_with(prefix)
                && ["bbr_hr_", "'hr'", "`hr`"].iter().any(|m| st.contains(m))),
            "{kind}: no statement of the reference run matches {pattern}"
        );
        for when in [When::Before, When::After] {
            let id = format!("drop {when:?} hr step {} {kind}", i + 1);
            tally.case(&id, parallel_drop_case(&pattern, when));
        }
    }
    tally.finish();
}

fn parallel_drop_case(pattern: &str, when: When) -> Vec<String> {
    let env = two_db_env();
    env.sim.drop_connection(pattern, when);
    let o = run(&env, &["backup"]);
    let mut p = Vec::new();
    if code(&o) != 0 {
        if let Err(e) = error_line(&o) {
            p.push(e);
        }
    }
    // sales' job, on its own connection, finished whatever happened to hr's
    let sales = env.query("SELECT COUNT(*) FROM ops.backup_history WHERE database_name = 'sales' AND status = 'FINISHED'");
    if sales[0][0].as_deref() != Some("1") {
        p.push(format!(
            "sales has {:?} FINISHED backups after the run, want 1",
            sales[0][0]
        ));
    }
    p.extend(verify(&env, "backup_repo", &two_db_tables(), false));
    // settle: a clean run, then nothing left to do, and every invariant for both databases
    env.sim.advance(Duration::from_secs(60));
    if let Err(e) = expect(&env, &["backup"], 0) {
        p.push(format!("clean run: {e}"));
    }
    match expect(&env, &["backup"], 0) {
        Ok(o) if text(&o.stdout).matches("nothing changed").count() == 2 => {}
        Ok(o) => p.push(format!(
            "second clean run did not find both databases backed up: {}",
            text(&o.stdout)
        )),
        Err(e) => p.push(format!("second clean run: {e}")),
    }
    p.extend(verify(&env, "backup_repo", &two_db_tables(), true));
    assert_no_secret(&env.sim, &[]);
    p
}

#[test]
fn restore_replace_killed_at_every_step() {
    if skip_on_real_cluster("restore_replace_killed_at_every_step") {
        return;
    }
    beside_killed_at_every_step(
        Beside::Replace,
        "restore-replace",
        "SIGKILL at every step boundary of a one-snapshot restore --replace, before and after the step's first statement; the same command rerun: the live table is never lost, sales.orders is never partial or swapped wrongly",
    );
}

#[test]
fn restore_as_killed_at_every_step() {
    if skip_on_real_cluster("restore_as_killed_at_every_step") {
        return;
    }
    beside_killed_at_every_step(
        Beside::As,
        "restore-as",
        "SIGKILL at every step boundary of a one-snapshot restore --as, before and after the step's first statement; the same command rerun: the live table untouched, the new name never partial and never blocked by a leftover",
    );
}

// ---------------------------------------------------------------------------------------------
// Expire (issue 13)

#[path = "fault_suite/expire.rs"]
mod expire;
#[path = "fault_suite/scheduler.rs"]
mod scheduler;

#[path = "fault_suite/parallel_restore.rs"]
mod parallel_restore;

// ---------------------------------------------------------------------------------------------
// Re-base (issues 10 + 13)

#[path = "fault_suite/rebase.rs"]
mod rebase;
