//! `metrics_file`: after every backup, restore, expire and check (failed ones too) a Prometheus
//! text-format file is replaced atomically (written beside it, then renamed), for node_exporter's
//! textfile collector. Values come from the ops history, read on a fresh connection after the run,
//! so they describe what is recorded, whatever this run did. Writing them never changes the exit code.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use chrono::NaiveDateTime;
use tracing::warn;

use crate::cluster::Cluster;
use crate::config::Config;
use crate::state::{self, parse_time};

/// What the file says, per database (and table for restore jobs).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metrics {
    pub command: String,
    pub exit_code: i32,
    pub run_seconds: f64,
    /// Unix time of the run's end (client clock).
    pub run_at: i64,
    /// (database, type) -> Unix time the newest FINISHED backup of that type finished.
    pub last_success: BTreeMap<(String, String), i64>,
    /// database -> 1 ok / 0 failed.
    pub last_run_status: BTreeMap<String, u8>,
    pub backup_partitions: BTreeMap<String, i64>,
    pub backup_duration: BTreeMap<String, i64>,
    /// (database, table) -> RESTORE jobs the newest restore point needs.
    pub restore_jobs_needed: BTreeMap<(String, String), usize>,
    /// Catalog backups of the ops database (disaster recovery): Unix time the newest FINISHED one
    /// finished, and whether the newest one FINISHED (1) or FAILED (0). A failed catalog backup
    /// never fails the run, so this is where an operator's alert sees it.
    pub catalog_last_success: Option<i64>,
    pub catalog_last_status: Option<u8>,
}

/// How the run ended per database, as the command saw it (typed, from the runner's job reports):
/// database -> ok. A database absent from it was not decided by this run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunStatus {
    pub databases: BTreeMap<String, bool>,
}

impl RunStatus {
    /// Records one outcome; a database that failed anywhere in the run stays failed.
    pub fn record(&mut self, database: &str, ok: bool) {
        let e = self.databases.entry(database.to_string()).or_insert(true);
        *e = *e && ok;
    }
}

/// Writes the file for a finished command; problems are logged, never returned.
pub fn after_run(
    cfg: &Config,
    command: &str,
    exit_code: i32,
    status: &RunStatus,
    elapsed: Duration,
) {
    let Some(path) = &cfg.metrics_file else {
        return;
    };
    let m = gather(cfg, command, exit_code, status, elapsed);
    if let Err(e) = write_atomic(path, &render(&m)) {
        warn!("cannot write metrics_file {}: {e}", path.display());
    }
}

fn gather(
    cfg: &Config,
    command: &str,
    exit_code: i32,
    status: &RunStatus,
    elapsed: Duration,
) -> Metrics {
    let now = chrono::Utc::now();
    let mut m = Metrics {
        command: command.to_string(),
        exit_code,
        run_seconds: elapsed.as_secs_f64(),
        run_at: now.timestamp(),
        ..Metrics::default()
    };
    let mut dbs: Vec<String> = cfg.tables_by_db().into_keys().collect();
    dbs.extend(cfg.pattern_databases());
    dbs.sort();
    dbs.dedup();
    for db in &dbs {
        m.last_run_status
            .insert(db.clone(), u8::from(exit_code == 0));
    }
    if let Err(e) = from_history(cfg, &mut m, now.naive_utc()) {
        warn!("metrics: cannot read the history ({e}); writing the run's outcome only");
    }
    settle_run_status(&mut m, command, exit_code, status);
    m
}

/// `last_run_status` per database: what this run decided for it; for a backup run that ended
/// before deciding any database (refused, unreachable, interrupted) every database failed, and a
/// successful backup that decided nothing for a database found nothing to back up there (ok);
/// otherwise what the history's newest run of the database says (`from_history`).
fn settle_run_status(m: &mut Metrics, command: &str, exit_code: i32, status: &RunStatus) {
    let whole_run_failed = command == "backup" && !matches!(exit_code, 0 | 1 | 4);
    for (db, v) in m.last_run_status.iter_mut() {
        *v = match status.databases.get(db) {
            Some(ok) => u8::from(*ok),
            None if whole_run_failed => 0,
            None if command == "backup" && exit_code == 0 => 1,
            None => *v,
        };
    }
    for (db, ok) in &status.databases {
        m.last_run_status.entry(db.clone()).or_insert(u8::from(*ok));
    }
}

/// Fills the history-based values. Cluster times are in the session time zone: they become Unix
/// time with the zone offset estimated from NOW() against the client clock, rounded to 15 minutes
/// (zones are whole quarter hours; the clocks agree within minutes).
fn from_history(
    cfg: &Config,
    m: &mut Metrics,
    client_utc: NaiveDateTime,
) -> Result<(), crate::error::BbrError> {
    let mut c = Cluster::connect(cfg)?;
    let cfg = &state::scope::expand_table_patterns(&mut c, cfg)?;
    let now = state::cluster_now(&mut c, cfg)?;
    let offset = parse_time(&now)
        .map(|n| {
            let q = 15 * 60;
            let secs = (n - client_utc).num_seconds();
            (secs + secs.signum() * q / 2) / q * q
        })
        .unwrap_or(0);
    let epoch = |s: &Option<String>| {
        s.as_deref()
            .and_then(parse_time)
            .map(|t| t.and_utc().timestamp() - offset)
    };
    let dbs: Vec<String> = cfg.tables_by_db().into_keys().collect();
    let finished = state::history_rows(&mut c, cfg, &dbs, "FINISHED")?;
    let failed = state::history_rows(&mut c, cfg, &dbs, "FAILED")?;
    // rows come newest first
    for r in &finished {
        if let Some(t) = epoch(&r.finished_at) {
            m.last_success
                .entry((r.database.clone(), r.backup_type.clone()))
                .or_insert(t);
        }
        if !m.backup_partitions.contains_key(&r.database) {
            m.backup_partitions
                .insert(r.database.clone(), r.partitions.unwrap_or(0));
            if let (Some(a), Some(b)) = (epoch(&r.started_at), epoch(&r.finished_at)) {
                m.backup_duration.insert(r.database.clone(), b - a);
            }
        }
    }
    // The newest outcome recorded per database (a `_left` row is a FAILED one): the status of a
    // database this run did not decide (settle_run_status).
    for db in &dbs {
        let newest = |rows: &[crate::history::HistoryRow]| {
            rows.iter()
                .find(|r| &r.database == db)
                .and_then(|r| r.started_at.clone())
        };
        let ok = match (newest(&finished), newest(&failed)) {
            (_, None) => 1,
            (None, Some(_)) => 0,
            (Some(f), Some(x)) => u8::from(f >= x),
        };
        m.last_run_status.insert(db.clone(), ok);
    }
    let ops = [cfg.ops_database.clone()];
    let is_catalog = |r: &&crate::history::HistoryRow| {
        crate::planner::catalog::is_catalog_label(&cfg.ops_database, &r.label)
    };
    let cat_ok = state::history_rows(&mut c, cfg, &ops, "FINISHED")?;
    let cat_failed = state::history_rows(&mut c, cfg, &ops, "FAILED")?;
    let (newest_ok, newest_failed) = (
        cat_ok.iter().find(is_catalog),
        cat_failed.iter().find(is_catalog),
    );
    m.catalog_last_success = newest_ok.and_then(|r| epoch(&r.finished_at));
    m.catalog_last_status = match (newest_ok, newest_failed) {
        (None, None) => None,
        (Some(_), None) => Some(1),
        (None, Some(_)) => Some(0),
        (Some(f), Some(x)) => Some(u8::from(f.started_at >= x.started_at)),
    };
    for (t, chain) in state::scope::newest_chains(&mut c, cfg)? {
        if let Ok(ch) = chain {
            m.restore_jobs_needed
                .insert((t.database, t.table), ch.links.len());
        }
    }
    Ok(())
}

/// Prometheus label value escaping (backslash, double quote, newline).
fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The file's text (exposition format 0.0.4).
pub fn render(m: &Metrics) -> String {
    let mut out = String::new();
    let mut family = |name: &str, help: &str, rows: Vec<(String, String)>| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        for (labels, v) in rows {
            if labels.is_empty() {
                let _ = writeln!(out, "{name} {v}");
            } else {
                let _ = writeln!(out, "{name}{{{labels}}} {v}");
            }
        }
    };
    let db = |d: &str| format!("database=\"{}\"", esc(d));
    family(
        "starrocks_bbr_last_success_timestamp_seconds",
        "Unix time the newest FINISHED backup of the database finished, by type.",
        m.last_success
            .iter()
            .map(|((d, t), v)| (format!("{},type=\"{}\"", db(d), esc(t)), v.to_string()))
            .collect(),
    );
    family(
        "starrocks_bbr_last_run_status",
        "1 when the newest backup run of the database succeeded, 0 when it failed (a job failed or a table was left out); restore, expire and check leave it.",
        m.last_run_status
            .iter()
            .map(|(d, v)| (db(d), v.to_string()))
            .collect(),
    );
    family(
        "starrocks_bbr_backup_partitions",
        "Partitions in the newest FINISHED backup of the database.",
        m.backup_partitions
            .iter()
            .map(|(d, v)| (db(d), v.to_string()))
            .collect(),
    );
    family(
        "starrocks_bbr_backup_duration_seconds",
        "How long the newest FINISHED backup of the database took.",
        m.backup_duration
            .iter()
            .map(|(d, v)| (db(d), v.to_string()))
            .collect(),
    );
    family(
        "starrocks_bbr_restore_jobs_needed",
        "RESTORE jobs the newest restore point of the table needs.",
        m.restore_jobs_needed
            .iter()
            .map(|((d, t), v)| (format!("{},table=\"{}\"", db(d), esc(t)), v.to_string()))
            .collect(),
    );
    family(
        "starrocks_bbr_catalog_last_success_timestamp_seconds",
        "Unix time the newest FINISHED catalog backup (the ops database, for recover) finished.",
        m.catalog_last_success
            .map(|t| (String::new(), t.to_string()))
            .into_iter()
            .collect(),
    );
    family(
        "starrocks_bbr_catalog_last_status",
        "1 when the newest catalog backup FINISHED, 0 when it FAILED (it never fails the run).",
        m.catalog_last_status
            .map(|s| (String::new(), s.to_string()))
            .into_iter()
            .collect(),
    );
    let cmd = format!("command=\"{}\"", esc(&m.command));
    family(
        "starrocks_bbr_last_run_exit_code",
        "Exit code of the newest run of the command.",
        vec![(cmd.clone(), m.exit_code.to_string())],
    );
    family(
        "starrocks_bbr_last_run_timestamp_seconds",
        "Unix time (client clock) the newest run of the command ended.",
        vec![(cmd.clone(), m.run_at.to_string())],
    );
    family(
        "starrocks_bbr_last_run_duration_seconds",
        "How long the newest run of the command took.",
        vec![(cmd, format!("{:.3}", m.run_seconds))],
    );
    out
}

/// Writes `text` beside `path` and renames it over `path`: a reader never sees half a file.
pub fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "metrics".into());
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_database_gets_its_own_status() {
        // (command, exit code, this run's outcomes, history's newest status) -> (sales, hr)
        type Case<'a> = (&'a str, i32, &'a [(&'a str, bool)], (u8, u8), (u8, u8));
        let cases: &[Case] = &[
            (
                "backup",
                1,
                &[("sales", true), ("hr", false)],
                (1, 1),
                (1, 0),
            ),
            ("backup", 0, &[("hr", true)], (0, 0), (1, 1)), // sales: nothing changed
            ("backup", 2, &[], (1, 1), (0, 0)),             // refused before any database
            ("backup", 4, &[], (1, 0), (1, 0)),             // another run holds it
            ("check", 1, &[], (1, 0), (1, 0)),              // a failed check is no run
            ("restore", 1, &[], (1, 1), (1, 1)),
        ];
        for (cmd, code, run, history, want) in cases {
            let mut m = Metrics::default();
            m.last_run_status.insert("sales".into(), history.0);
            m.last_run_status.insert("hr".into(), history.1);
            let mut st = RunStatus::default();
            for (db, ok) in *run {
                st.record(db, *ok);
            }
            settle_run_status(&mut m, cmd, *code, &st);
            let got = (m.last_run_status["sales"], m.last_run_status["hr"]);
            assert_eq!(got, *want, "{cmd} exit {code} {run:?}");
        }
        let mut st = RunStatus::default();
        st.record("sales", false);
        st.record("sales", true);
        assert!(
            !st.databases["sales"],
            "a failure anywhere in the run stays"
        );
    }

    #[test]
    fn renders_every_family_with_escaped_labels() {
        let mut m = Metrics {
            command: "backup".into(),
            exit_code: 1,
            run_seconds: 1.5,
            run_at: 100,
            ..Metrics::default()
        };
        m.last_success
            .insert(("sa\"les".into(), "full".into()), 1_700_000_000);
        m.last_run_status.insert("sa\"les".into(), 0);
        m.restore_jobs_needed
            .insert(("sa\"les".into(), "orders".into()), 3);
        let text = render(&m);
        assert!(text.contains(
            "starrocks_bbr_last_success_timestamp_seconds{database=\"sa\\\"les\",type=\"full\"} 1700000000\n"
        ));
        assert!(text.contains("starrocks_bbr_last_run_status{database=\"sa\\\"les\"} 0\n"));
        assert!(text.contains(
            "starrocks_bbr_restore_jobs_needed{database=\"sa\\\"les\",table=\"orders\"} 3\n"
        ));
        assert!(text.contains("starrocks_bbr_last_run_exit_code{command=\"backup\"} 1\n"));
        for l in text.lines().filter(|l| !l.starts_with('#')) {
            let (_, v) = l.rsplit_once(' ').unwrap();
            v.parse::<f64>().unwrap();
        }
    }

    #[test]
    fn atomic_write_replaces_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.prom");
        write_atomic(&p, "a 1\n").unwrap();
        write_atomic(&p, "a 2\n").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "a 2\n");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
