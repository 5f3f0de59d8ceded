//! Helpers the issue-9 suites share (tests/fidelity_e2e.rs, tests/fingerprint_e2e.rs).

use super::Env;
use starrocks_sim::SimOptions;

/// (partition name, visible version, row count) of a table, sorted by name.
pub type Parts = Vec<(String, u64, u64)>;

pub fn parts(env: &Env, db: &str, table: &str) -> Parts {
    let mut v: Parts = env
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

pub fn at(release: &str) -> SimOptions {
    SimOptions {
        release: release.into(),
        ..super::sim_options()
    }
}

pub fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// The newest history row (label, type, status, error).
pub fn last(env: &Env) -> (String, String, String, Option<String>) {
    env.history().last().cloned().unwrap()
}

pub fn snapshot_at(env: &Env, label: &str) -> chrono::NaiveDateTime {
    let r = env.query(&format!(
        "SELECT snapshot_at, started_at, finished_at FROM ops.backup_history WHERE label = '{label}'"
    ));
    let t = |k: usize| {
        let s = r[0][k].clone().unwrap();
        chrono::NaiveDateTime::parse_from_str(&s[..19], "%Y-%m-%d %H:%M:%S").unwrap()
    };
    // the restore point lies within the run, in the session zone, whatever the release renders
    assert!(
        t(1) <= t(0) && t(0) <= t(2),
        "{label}: snapshot_at {} outside [{}, {}]",
        t(0),
        t(1),
        t(2)
    );
    t(0)
}

/// The (partitions of) the objects of the last BACKUP sent.
pub fn last_backup_sent(env: &Env) -> String {
    env.sent()
        .into_iter()
        .rev()
        .find(|s| s.starts_with("BACKUP"))
        .unwrap_or_default()
}

/// `backup` leaving `sales.<left>` out: exit 1, stderr names it with `why`, and the BACKUP sent
/// holds `kept` but not `left` (the rest of the database is still backed up). Returns stderr.
pub fn backup_leaving_out(env: &Env, left: &str, why: &str, kept: &str) -> String {
    let o = env.run(&["backup"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("sales.{left} left out of this backup: {why}")),
        "{err}"
    );
    let sent = last_backup_sent(env);
    assert!(
        sent.contains(&format!("`{kept}`")) && !sent.contains(left),
        "{sent}"
    );
    err
}
