//! The scale scenarios of docs/BENCHMARKS.md: build a cluster in an in-process simulator, run the real
//! `starrocks-bbr` binary as a child process and measure it (wall time, peak RSS and CPU of the child
//! from wait4, CPU of the simulator from getrusage(RUSAGE_SELF), statements from the sim's log).
//! Shared by the bench binary (benches/scale/main.rs) and its smoke test (tests/scale_smoke.rs).
#![allow(dead_code)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use starrocks_sim::{PartitionSpec, Sim, SimOptions, TableSpec};

/// Sizes of one benchmark run.
#[derive(Debug, Clone)]
pub struct Sizes {
    pub tables: usize,
    pub partitions: usize,
    /// Changed partitions, per mille of all partitions (10 = 1%).
    pub changed_per_mille: usize,
    /// Rows of backup_history for `list`.
    pub history_rows: usize,
    /// Partitions of the restored table and length of its incremental chain.
    pub restore_partitions: usize,
    pub restore_chain: usize,
    /// Virtual length of the polled job and the time scale of the polling run (real = virtual / scale).
    pub poll_job_s: u64,
    pub poll_scale: u64,
}

impl Sizes {
    pub fn full() -> Sizes {
        Sizes {
            tables: 2000,
            partitions: 500,
            changed_per_mille: 10,
            history_rows: 10_000,
            restore_partitions: 1000,
            restore_chain: 365,
            poll_job_s: 7200,
            poll_scale: 100,
        }
    }

    pub fn smoke() -> Sizes {
        Sizes {
            tables: 20,
            partitions: 10,
            changed_per_mille: 50,
            history_rows: 50,
            restore_partitions: 10,
            restore_chain: 5,
            poll_job_s: 300,
            poll_scale: 100,
        }
    }
}

/// One measured run of the tool.
#[derive(Debug, Clone, Default)]
pub struct Measure {
    pub wall: Duration,
    /// Peak resident set of the child, bytes.
    pub max_rss: u64,
    pub tool_cpu: Duration,
    /// CPU the simulator (this process) spent meanwhile.
    pub sim_cpu: Duration,
    pub statements: usize,
    pub stdout_bytes: u64,
    pub exit: i32,
    pub stdout: String,
    pub stderr: String,
}

fn tv(t: libc::timeval) -> Duration {
    Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
}

fn self_cpu() -> Duration {
    // SAFETY: getrusage writes into the zeroed struct we own.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// The tool's binary: `STARROCKS_BBR_BIN`, else the one cargo built beside this target.
pub fn tool_bin() -> PathBuf {
    if let Ok(p) = std::env::var("STARROCKS_BBR_BIN") {
        return PathBuf::from(p);
    }
    PathBuf::from(env!("CARGO_BIN_EXE_starrocks-bbr"))
}

/// What the launcher measured about its one child.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChildUsage {
    pub wall: Duration,
    pub max_rss: u64,
    pub cpu: Duration,
    pub exit: i32,
}

/// Spawns `program args` with stdout/stderr to files, waits with wait4 and returns its usage.
///
/// ru_maxrss of a child counts the memory image it had before exec: a child spawned straight from
/// the benchmark (which holds the simulator, hundreds of MB) would report the benchmark's RSS.
/// [`launch_main`] therefore runs in a fresh, small process (`scale --launch`) and spawns the tool
/// from there; its own floor is measured and reported (`launcher floor`).
pub fn spawn_measured(
    program: &Path,
    args: &[String],
    out: &Path,
    err: &Path,
) -> Result<ChildUsage> {
    let t0 = Instant::now();
    let child = Command::new(program)
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(out)?)
        .stderr(std::fs::File::create(err)?)
        .spawn()
        .with_context(|| format!("spawning {}", program.display()))?;
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: plain wait4 on our own child; `ru` is ours.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    let wall = t0.elapsed();
    if r != pid {
        bail!("wait4 failed: {}", std::io::Error::last_os_error());
    }
    Ok(ChildUsage {
        wall,
        max_rss: (ru.ru_maxrss as u64) * 1024,
        cpu: tv(ru.ru_utime) + tv(ru.ru_stime),
        exit: if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            -1
        },
    })
}

/// `scale --launch RESULT OUT ERR PROGRAM ARGS...`: the small measuring process.
pub fn launch_main(args: &[String]) -> Result<()> {
    let [result, out, err, program, rest @ ..] = args else {
        bail!("usage: --launch RESULT OUT ERR PROGRAM ARGS...");
    };
    let u = spawn_measured(Path::new(program), rest, Path::new(out), Path::new(err))?;
    std::fs::write(
        result,
        format!(
            "{} {} {} {}",
            u.wall.as_nanos(),
            u.max_rss,
            u.cpu.as_nanos(),
            u.exit
        ),
    )?;
    Ok(())
}

/// The launcher binary (the bench itself), when running inside the bench.
pub fn launcher() -> Option<PathBuf> {
    std::env::var_os("BBR_BENCH_LAUNCHER").map(PathBuf::from)
}

fn measured(program: &Path, args: &[String], dir: &Path) -> Result<ChildUsage> {
    let (out, err) = (dir.join("stdout"), dir.join("stderr"));
    let Some(l) = launcher() else {
        return spawn_measured(program, args, &out, &err);
    };
    let result = dir.join("usage");
    let mut largs = vec![
        "--launch".to_string(),
        result.to_string_lossy().into(),
        out.to_string_lossy().into(),
        err.to_string_lossy().into(),
        program.to_string_lossy().into(),
    ];
    largs.extend(args.iter().cloned());
    let lu = spawn_measured(
        &l,
        &largs,
        &dir.join("launcher.out"),
        &dir.join("launcher.err"),
    )?;
    if lu.exit != 0 {
        bail!(
            "launcher failed: {}",
            std::fs::read_to_string(dir.join("launcher.err")).unwrap_or_default()
        );
    }
    let text = std::fs::read_to_string(&result)?;
    let v: Vec<u128> = text
        .split_whitespace()
        .filter_map(|x| x.parse::<i128>().ok())
        .map(|x| x.max(0) as u128)
        .collect();
    let [wall, rss, cpu, exit] = v[..] else {
        bail!("bad launcher result '{text}'");
    };
    Ok(ChildUsage {
        wall: Duration::from_nanos(wall as u64),
        max_rss: rss as u64,
        cpu: Duration::from_nanos(cpu as u64),
        exit: exit as i32,
    })
}

/// Peak RSS of a trivial child (`true`) through the same path: the floor under every RSS figure.
pub fn rss_floor(dir: &Path) -> Result<u64> {
    Ok(measured(Path::new("/bin/true"), &[], dir)?.max_rss)
}

/// Runs the tool once; stdout goes to a file (a 1M-partition plan is large), of which up to
/// `keep` bytes are kept.
pub fn run_tool(sim: &Sim, dir: &Path, args: &[&str], keep: usize) -> Result<Measure> {
    sim.clear_statements();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let cpu0 = self_cpu();
    let u = measured(&tool_bin(), &args, dir)?;
    let sim_cpu = self_cpu().saturating_sub(cpu0);
    let out_path = dir.join("stdout");
    let stdout_bytes = std::fs::metadata(&out_path)?.len();
    let mut stdout = String::new();
    {
        use std::io::Read;
        std::fs::File::open(&out_path)?
            .take(keep as u64)
            .read_to_string(&mut stdout)
            .ok();
    }
    let stderr = std::fs::read_to_string(dir.join("stderr")).unwrap_or_default();
    Ok(Measure {
        wall: u.wall,
        max_rss: u.max_rss,
        tool_cpu: u.cpu,
        sim_cpu,
        statements: sim.statements().len(),
        stdout_bytes,
        exit: u.exit,
        stdout,
        stderr,
    })
}

/// Writes the tool's config for `tables` (db.table) against the simulator. Catalog backups are off:
/// the figures are about the data path (a catalog backup adds a constant ~15 statements per run).
pub fn write_config(dir: &Path, port: u16, tables: &[String], extra: &str) -> Result<PathBuf> {
    let mut y = format!(
        "connection:\n  host: 127.0.0.1\n  port: {port}\n  user: root\nrepository: backup_repo\nops_database: ops\nreplication_num: 1\ncatalog_backup: false\ntables:\n"
    );
    for t in tables {
        let _ = writeln!(y, "  - {t}");
    }
    y.push_str(extra);
    let p = dir.join("config.yaml");
    std::fs::write(&p, y)?;
    Ok(p)
}

/// Fast test tuning for real (non dry) runs in the setup.
pub const FAST: &str =
    "poll: {initial_ms: 5, max_ms: 50}\nretry: {attempts: 5, initial_ms: 5, max_ms: 50}\n";

fn day(k: usize) -> String {
    let d = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap_or_default()
        + chrono::Duration::days(k as i64);
    d.format("%Y-%m-%d").to_string()
}

/// A table range-partitioned by day with `n` partitions `p0000`...
pub fn daily_table(n: usize) -> TableSpec {
    let parts = (0..n)
        .map(|k| PartitionSpec::less_than(&format!("p{k:04}"), &day(k + 1)))
        .collect();
    TableSpec::new(&[("id", "BIGINT"), ("dt", "DATE"), ("v", "VARCHAR(32)")]).range("dt", parts)
}

pub fn start_sim() -> Result<Sim> {
    let sim = Sim::start(SimOptions::default())?;
    sim.create_repository("backup_repo", false)?;
    Ok(sim)
}

/// Deterministic "random" pick of `k` of `n` indexes (a multiplicative walk).
pub fn pick(n: usize, k: usize) -> Vec<usize> {
    let mut out: Vec<usize> = (0..k).map(|i| (i * 7919 + 13) % n.max(1)).collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Creates the ops tables with `init`.
pub fn init(sim: &Sim, dir: &Path, config: &Path) -> Result<()> {
    let m = run_tool(
        sim,
        dir,
        &["init", "--config", &config.to_string_lossy()],
        4096,
    )?;
    if m.exit != 0 {
        bail!("init failed: {}", m.stderr);
    }
    Ok(())
}

pub fn mb(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

pub fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// One report line.
pub fn line(name: &str, m: &Measure) -> String {
    format!(
        "{name:<44} wall {:>7.3} s  rss {:>7.1} MB  tool cpu {:>7.3} s  sim cpu {:>7.3} s  statements {:>6}  stdout {:>9.1} MB",
        secs(m.wall),
        mb(m.max_rss),
        secs(m.tool_cpu),
        secs(m.sim_cpu),
        m.statements,
        mb(m.stdout_bytes)
    )
}

/// Results of the backup cases.
pub struct BackupResults {
    pub setup: Duration,
    pub full: Measure,
    pub incremental: Measure,
    pub fallback: Measure,
    pub changed: usize,
}

/// Creates `tables` × `partitions`, takes a real FULL backup, loads into the changed partitions and
/// measures the incremental `backup --dry-run` with partitions_meta and with SHOW PARTITIONS.
pub fn backup_cases(
    sim: &Sim,
    dir: &Path,
    s: &Sizes,
    log: &mut dyn FnMut(&str),
) -> Result<BackupResults> {
    let t0 = Instant::now();
    let spec = daily_table(s.partitions);
    let names: Vec<String> = (0..s.tables).map(|k| format!("bench.t{k:04}")).collect();
    for k in 0..s.tables {
        sim.create_table("bench", &format!("t{k:04}"), &spec)?;
    }
    sim.execute("SELECT COUNT(*) FROM information_schema.partitions_meta")?;
    let setup = t0.elapsed();
    log(&format!(
        "setup: {} tables x {} partitions in {:.1} s",
        s.tables,
        s.partitions,
        secs(setup)
    ));
    let config = write_config(dir, sim.port(), &names, FAST)?;
    let cfg = config.to_string_lossy().to_string();
    init(sim, dir, &config)?;

    let full = run_tool(sim, dir, &["backup", "--config", &cfg], 4096)?;
    if full.exit != 0 {
        bail!("full backup failed: {}", full.stderr);
    }
    log(&line("backup (FULL, real run, base)", &full));

    let total = s.tables * s.partitions;
    let changed = total * s.changed_per_mille / 1000;
    let idx = pick(total, changed);
    for &i in &idx {
        let (t, p) = (i / s.partitions, i % s.partitions);
        sim.load("bench", &format!("t{t:04}"), &format!("p{p:04}"), 10)?;
    }
    sim.execute("SELECT COUNT(*) FROM information_schema.partitions_meta")?;

    let incremental = run_tool(
        sim,
        dir,
        &["backup", "--dry-run", "--config", &cfg],
        1 << 16,
    )?;
    if incremental.exit != 0 {
        bail!("incremental dry run failed: {}", incremental.stderr);
    }
    check_incremental(&incremental.stdout, idx.len())?;
    log(&line(
        "backup --dry-run (INCREMENTAL, partitions_meta)",
        &incremental,
    ));

    sim.set_partitions_meta(false);
    let fallback = run_tool(
        sim,
        dir,
        &["backup", "--dry-run", "--config", &cfg],
        1 << 16,
    )?;
    sim.set_partitions_meta(true);
    if fallback.exit != 0 {
        bail!("fallback dry run failed: {}", fallback.stderr);
    }
    check_incremental(&fallback.stdout, idx.len())?;
    log(&line(
        "backup --dry-run (INCREMENTAL, SHOW PARTITIONS)",
        &fallback,
    ));
    if std::env::var_os("BBR_BENCH_HOLD").is_some() {
        // For profiling by hand: the cluster stays up in the state the dry runs measured (1%
        // changed since the FULL); run `starrocks-bbr backup --dry-run` against this config.
        log(&format!("holding: config {}", config.display()));
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
    // the real incremental: what it writes into the ops tables grows with what changed
    let real = run_tool(sim, dir, &["backup", "--config", &cfg], 4096)?;
    if real.exit != 0 {
        bail!("real incremental failed: {}", real.stderr);
    }
    let count = |sql: &str| -> Result<u64> {
        Ok(sim
            .execute(sql)?
            .first()
            .and_then(|r| r.first().cloned().flatten())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    };
    let latest = "(SELECT label FROM ops.backup_history WHERE status = 'FINISHED' ORDER BY started_at DESC LIMIT 1)";
    let part_rows = count(&format!(
        "SELECT COUNT(*) FROM ops.backup_partitions WHERE label = {latest}"
    ))?;
    let table_rows = count(&format!(
        "SELECT COUNT(*) FROM ops.backup_tables WHERE label = {latest}"
    ))?;
    log(&line("backup (INCREMENTAL, real run)", &real));
    log(&format!(
        "  real INCREMENTAL wrote {} manifest rows: {part_rows} backup_partitions + {table_rows} backup_tables (the FULL wrote {})",
        part_rows + table_rows,
        total + s.tables
    ));
    Ok(BackupResults {
        setup,
        full,
        incremental,
        fallback,
        changed: idx.len(),
    })
}

/// The plan's inputs (printed first) must say incremental with exactly `changed` partitions.
fn check_incremental(head: &str, changed: usize) -> Result<()> {
    let want = format!("\"partitions_in_snapshot\": {changed},");
    if !head.contains("\"action\": \"incremental\"") || !head.contains(&want) {
        bail!(
            "the plan is not the expected incremental of {changed} partitions: {}",
            &head[..head.len().min(2000)]
        );
    }
    Ok(())
}

/// Inserts `n` history rows (FINISHED backups of database `hist`) in multi-row INSERTs.
pub fn fill_history(sim: &Sim, n: usize) -> Result<()> {
    let start = chrono::NaiveDate::from_ymd_opt(2020, 1, 1)
        .and_then(|d| d.and_hms_opt(1, 0, 0))
        .unwrap_or_default();
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        let mut sql = String::from("INSERT INTO ops.backup_history (label, database_name, backup_type, status, repository, started_at, finished_at, backup_timestamp, base_label, heartbeat_at, snapshot_at, partitions, tables) VALUES ");
        for (j, k) in chunk.iter().enumerate() {
            let t = start + chrono::Duration::hours(*k as i64);
            let ts = t.format("%Y-%m-%d %H:%M:%S");
            let ty = if k % 30 == 0 { "full" } else { "incremental" };
            if j > 0 {
                sql.push_str(", ");
            }
            let _ = write!(
                sql,
                "('bbr_hist_{k:06}', 'hist', '{ty}', 'FINISHED', 'backup_repo', '{ts}', '{ts}', '{}', NULL, '{ts}', '{ts}', {}, '[\"t\"]')",
                t.format("%Y-%m-%d-%H-%M-%S-000"),
                k % 1000
            );
        }
        sim.execute(&sql)?;
    }
    Ok(())
}

/// `list` (table and json) over the history.
pub fn list_cases(
    sim: &Sim,
    dir: &Path,
    s: &Sizes,
    log: &mut dyn FnMut(&str),
) -> Result<(Measure, Measure)> {
    let config = write_config(dir, sim.port(), &["hist.t".to_string()], "")?;
    let cfg = config.to_string_lossy().to_string();
    init(sim, dir, &config)?;
    let before = sim.execute("SELECT COUNT(*) FROM ops.backup_history")?;
    let have: usize = before
        .first()
        .and_then(|r| r.first().cloned().flatten())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    fill_history(sim, s.history_rows.saturating_sub(have))?;
    let count = sim.execute("SELECT COUNT(*) FROM ops.backup_history")?;
    log(&format!(
        "history rows: {}",
        count
            .first()
            .and_then(|r| r.first().cloned().flatten())
            .unwrap_or_default()
    ));
    let table = run_tool(sim, dir, &["list", "--config", &cfg], 64 << 20)?;
    if table.exit != 0 {
        bail!("list failed: {}", table.stderr);
    }
    let rows = table.stdout.lines().count();
    log(&line(
        &format!("list ({} rows, table)", rows.saturating_sub(1)),
        &table,
    ));
    let json = run_tool(
        sim,
        dir,
        &["list", "--format", "json", "--config", &cfg],
        1 << 10,
    )?;
    if json.exit != 0 {
        bail!("list --format json failed: {}", json.stderr);
    }
    log(&line("list --format json", &json));
    Ok((table, json))
}

/// Polling a long job: a real `backup` against a stalled job, with the poll schedule scaled down by
/// `poll_scale` (initial 1 s and cap 30 s become initial 1000/scale ms and cap 30000/scale ms).
/// Returns (statements per virtual minute overall, in the steady state after 5 virtual minutes,
/// the run's measure).
pub struct PollResult {
    pub per_min_overall: f64,
    pub per_min_steady: f64,
    pub max_in_any_minute: usize,
    pub by_kind: Vec<(String, usize)>,
    pub measure: Measure,
}

pub fn poll_case(s: &Sizes, log: &mut dyn FnMut(&str)) -> Result<PollResult> {
    let sim = start_sim()?;
    sim.create_table("pollbench", "t", &daily_table(3))?;
    let dir = tempfile::tempdir()?;
    let scale = s.poll_scale.max(1);
    // The default schedule (1 s -> 30 s, heartbeat_stale_s 300) divided by `scale`.
    let extra = format!(
        "poll: {{initial_ms: {}, max_ms: {}}}\nretry: {{attempts: 5, initial_ms: 5, max_ms: 50}}\nheartbeat_stale_s: {}\n",
        (1000 / scale).max(1),
        (30_000 / scale).max(1),
        (300 / scale).max(1)
    );
    let config = write_config(dir.path(), sim.port(), &["pollbench.t".to_string()], &extra)?;
    let cfg = config.to_string_lossy().to_string();
    init(&sim, dir.path(), &config)?;
    sim.stall_jobs(true);
    let real = Duration::from_millis(s.poll_job_s * 1000 / scale);
    // Sample the statement log with real timestamps while the job is stalled.
    let samples = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(Duration, Vec<String>)>::new()));
    let t0 = Instant::now();
    let m = std::thread::scope(|scope| -> Result<Measure> {
        let sim_ref = &sim;
        let samples2 = samples.clone();
        scope.spawn(move || {
            let mut seen = 0usize;
            while t0.elapsed() < real {
                std::thread::sleep(Duration::from_millis(10));
                let st = sim_ref.statements();
                if st.len() > seen {
                    let new: Vec<String> = st[seen..].iter().map(|l| l.sql.clone()).collect();
                    seen = st.len();
                    if let Ok(mut v) = samples2.lock() {
                        v.push((t0.elapsed(), new));
                    }
                }
            }
            sim_ref.stall_jobs(false);
        });
        run_tool(&sim, dir.path(), &["backup", "--config", &cfg], 1 << 16)
    })?;
    if m.exit != 0 {
        bail!("polled backup failed: {}", m.stderr);
    }
    let samples = samples.lock().map(|v| v.clone()).unwrap_or_default();
    // From the BACKUP statement on: statements per virtual minute.
    let mut events: Vec<(f64, String)> = Vec::new();
    for (t, sqls) in samples {
        for q in sqls {
            events.push((secs(t) * scale as f64, q));
        }
    }
    let start = events
        .iter()
        .find(|(_, q)| q.starts_with("BACKUP SNAPSHOT"))
        .map(|e| e.0)
        .unwrap_or(0.0);
    let end = secs(real) * scale as f64;
    let polling: Vec<&(f64, String)> = events
        .iter()
        .filter(|(t, q)| *t > start && *t <= end && !q.starts_with("BACKUP"))
        .collect();
    let minutes = ((end - start) / 60.0).max(1e-9);
    let per_min_overall = polling.len() as f64 / minutes;
    let steady: Vec<_> = polling.iter().filter(|(t, _)| *t > start + 300.0).collect();
    let per_min_steady = steady.len() as f64 / (((end - start - 300.0) / 60.0).max(1e-9));
    let mut max_in_any_minute = 0;
    let mut minute = start + 300.0;
    while minute + 60.0 <= end {
        let n = steady
            .iter()
            .filter(|(t, _)| *t > minute && *t <= minute + 60.0)
            .count();
        max_in_any_minute = max_in_any_minute.max(n);
        minute += 60.0;
    }
    let mut kinds: std::collections::BTreeMap<String, usize> = Default::default();
    for (_, q) in &polling {
        let k: String = q.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
        *kinds.entry(k).or_default() += 1;
    }
    log(&format!(
        "polling a {} s job (time scale 1/{scale}): {:.2} statements/min overall, {:.2}/min after 5 min (max {max_in_any_minute} in any minute); {:?}",
        s.poll_job_s, per_min_overall, per_min_steady, kinds
    ));
    Ok(PollResult {
        per_min_overall,
        per_min_steady,
        max_in_any_minute,
        by_kind: kinds.into_iter().collect(),
        measure: m,
    })
}

/// The day an incremental of the restore history backed partition `k` up: even partitions change
/// once, spread over the days; odd ones stay as the FULL backup recorded them.
fn change_day(k: usize, days: usize) -> Option<usize> {
    (k.is_multiple_of(2) && days > 0).then(|| (k / 2) % days + 1)
}

/// `restore --dry-run` of a `restore_partitions`-partition table through a chain of `restore_chain`
/// daily incrementals. The history (one FULL + N incrementals, each lean manifest recording the
/// partitions it backed up; see change_day) is inserted in bulk through SQL,
/// as the tool would have written it. Returns the measure and the number of RESTORE jobs planned.
pub fn restore_case(s: &Sizes, log: &mut dyn FnMut(&str)) -> Result<(Measure, usize)> {
    let sim = start_sim()?;
    let dir = tempfile::tempdir()?;
    let config = write_config(dir.path(), sim.port(), &["rdb.big".to_string()], "")?;
    let cfg = config.to_string_lossy().to_string();
    init(&sim, dir.path(), &config)?;
    sim.create_database("rdb")?;
    let (n, days) = (s.restore_partitions, s.restore_chain);
    let t0 = chrono::NaiveDate::from_ymd_opt(2024, 11, 1)
        .and_then(|d| d.and_hms_opt(2, 0, 0))
        .unwrap_or_default();
    let label = |d: usize| {
        if d == 0 {
            "bbr_rdb_20241101020000_full".to_string()
        } else {
            format!("bbr_rdb_day{d:03}_incr")
        }
    };
    let mut hist = String::from("INSERT INTO ops.backup_history (label, database_name, backup_type, status, repository, started_at, finished_at, backup_timestamp, base_label, heartbeat_at, snapshot_at, partitions, tables) VALUES ");
    for d in 0..=days {
        let at = t0 + chrono::Duration::days(d as i64);
        let ts = at.format("%Y-%m-%d %H:%M:%S");
        let (ty, parts) = if d == 0 {
            ("full", n)
        } else {
            (
                "incremental",
                (0..n).filter(|&k| change_day(k, days) == Some(d)).count(),
            )
        };
        if d > 0 {
            hist.push_str(", ");
        }
        let base = if d == 0 {
            "NULL".to_string()
        } else {
            format!("'{}'", label(d - 1))
        };
        let _ = write!(
            hist,
            "('{}', 'rdb', '{ty}', 'FINISHED', 'backup_repo', '{ts}', '{ts}', '{}', {base}, '{ts}', '{ts}', {parts}, '[\"big\"]')",
            label(d),
            at.format("%Y-%m-%d-%H-%M-%S-000")
        );
    }
    sim.execute(&hist)?;
    // the restore preflight checks every snapshot of the chain is in the repository
    for d in 0..=days {
        let at = t0 + chrono::Duration::days(d as i64);
        let ts = at.format("%Y-%m-%d-%H-%M-%S-000").to_string();
        sim.put_snapshot("backup_repo", &label(d), &ts, "rdb")?;
    }
    let mut rows: Vec<String> = Vec::new();
    let flush = |rows: &mut Vec<String>| -> Result<()> {
        if !rows.is_empty() {
            sim.execute(&format!("INSERT INTO ops.backup_partitions (label, database_name, table_name, partition_name, partition_id, visible_version, replication_num, source_label, in_snapshot, whole_table, schema_fingerprint) VALUES {}", rows.join(", ")))?;
            rows.clear();
        }
        Ok(())
    };
    // Lean manifests (schema version 2): the FULL records every partition, each incremental only
    // the partitions it backed up, plus one backup_tables row per backup.
    let mut tables = String::from("INSERT INTO ops.backup_tables (label, database_name, table_name, schema_fingerprint, whole_table, complete, partitions, restore_jobs, decision) VALUES ");
    for d in 0..=days {
        if d > 0 {
            tables.push_str(", ");
        }
        let _ = write!(
            tables,
            "('{}', 'rdb', 'big', 'fp', {w}, {w}, {n}, {}, 'bench')",
            label(d),
            d + 1,
            w = u8::from(d == 0)
        );
        for k in 0..n {
            // the last day <= d that changed partition k (0 = the full backup)
            let changed_on = change_day(k, days).filter(|&j| j <= d).unwrap_or(0);
            if changed_on != d {
                continue;
            }
            let version = 1 + u64::from(changed_on > 0);
            rows.push(format!(
                "('{}', 'rdb', 'big', 'p{k:04}', {}, {version}, 1, '{}', 1, {}, 'fp')",
                label(d),
                20000 + k,
                label(changed_on),
                u8::from(d == 0)
            ));
            if rows.len() >= 5000 {
                flush(&mut rows)?;
            }
        }
    }
    sim.execute(&tables)?;
    flush(&mut rows)?;
    let target = (t0 + chrono::Duration::days(days as i64) + chrono::Duration::hours(1))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    let m = run_tool(
        &sim,
        dir.path(),
        &[
            "restore",
            "--dry-run",
            "--table",
            "rdb.big",
            "--timestamp",
            &target,
            "--config",
            &cfg,
        ],
        64 << 20,
    )?;
    if m.exit != 0 {
        bail!("restore --dry-run failed: {}", m.stderr);
    }
    let jobs = m.stdout.matches("\"kind\": \"RestoreSnapshot\"").count();
    log(&line(
        &format!("restore --dry-run ({n} partitions, chain of {days}: {jobs} RESTORE jobs)"),
        &m,
    ));
    Ok((m, jobs))
}
