//! `check`: read-only health checks, each ok / warn / fail with what to do. Sends only SELECT and
//! SHOW (and ADMIN SHOW). A new check is one more entry in `CHECKS` (a name and a function).

use std::io::Write;

use anyhow::Result;
use serde::Serialize;

use crate::cli::Format;
use crate::cluster::{Cluster, SqlError};
use crate::config::Config;
use crate::error::BbrError;
use crate::state;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    pub name: &'static str,
    pub status: Status,
    pub detail: String,
}

type CheckFn = fn(&mut Cluster, &Config) -> (Status, String);

/// In order; each reads only. `tables` and `snapshots` see the config with `db.*` expanded.
const CHECKS: [(&str, CheckFn); 6] = [
    ("run_mode", run_mode),
    ("repository", repository),
    ("backends", backends),
    ("ops_schema", ops_schema),
    ("tables", tables),
    ("snapshots", snapshots),
];

pub(super) fn check_cmd(cfg: &Config, format: Format, out: &mut dyn Write) -> Result<()> {
    let results = run_checks(cfg);
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, &results)?;
            writeln!(out)?;
        }
        Format::Table => {
            let w = results.iter().map(|r| r.name.len()).max().unwrap_or(0);
            for r in &results {
                let s = match r.status {
                    Status::Ok => "ok",
                    Status::Warn => "warn",
                    Status::Fail => "FAIL",
                };
                writeln!(out, "{:<w$}  {s:<4}  {}", r.name, r.detail)?;
            }
        }
    }
    let failed: Vec<&str> = results
        .iter()
        .filter(|r| r.status == Status::Fail)
        .map(|r| r.name)
        .collect();
    if failed.is_empty() {
        return Ok(());
    }
    Err(BbrError::job_failed(
        format!(
            "{} of {} checks failed: {}",
            failed.len(),
            results.len(),
            failed.join(", ")
        ),
        "fix what each failing check says, then run check again",
    )
    .into())
}

/// Runs every check; without a connection the rest are reported as not run (fail).
pub fn run_checks(cfg: &Config) -> Vec<CheckResult> {
    let mut results = Vec::new();
    let mut c = match Cluster::connect(cfg) {
        Ok(c) => c,
        Err(e) => {
            results.push(CheckResult {
                name: "connection",
                status: Status::Fail,
                detail: e.to_string(),
            });
            return results;
        }
    };
    let version = c
        .query_retry("SELECT current_version()", &crate::planner::idempotent(cfg))
        .ok()
        .and_then(|rs| rs.scalar());
    let (status, what) = match version.as_deref().and_then(crate::release::Release::parse) {
        Some(r) => (
            match r.support() {
                crate::release::Support::Supported => Status::Ok,
                crate::release::Support::Newer => Status::Warn,
                crate::release::Support::TooOld => Status::Fail,
            },
            crate::release::support_text(r),
        ),
        None => (
            Status::Warn,
            format!(
                "StarRocks release unknown (current_version() answered {:?}); release-specific rules are off",
                version.unwrap_or_default()
            ),
        ),
    };
    results.push(CheckResult {
        name: "connection",
        status,
        detail: format!("{what}, at {}", c.endpoint),
    });
    let cfg = match state::scope::expand_table_patterns(&mut c, cfg) {
        Ok(expanded) => expanded,
        Err(e) => {
            results.push(CheckResult {
                name: "tables",
                status: Status::Fail,
                detail: e.to_string(),
            });
            cfg.clone()
        }
    };
    for (name, f) in CHECKS {
        let schema_failed = results
            .iter()
            .any(|r| r.name == "ops_schema" && r.status == Status::Fail);
        if name == "snapshots" && schema_failed {
            results.push(CheckResult {
                name,
                status: Status::Warn,
                detail: "not checked: the ops schema is not current".into(),
            });
            continue;
        }
        let (status, detail) = f(&mut c, &cfg);
        results.push(CheckResult {
            name,
            status,
            detail,
        });
    }
    results
}

/// Shared-data clusters are refused: their BACKUP/RESTORE differ and this tool is for shared-nothing.
fn run_mode(c: &mut Cluster, cfg: &Config) -> (Status, String) {
    let sql = "ADMIN SHOW FRONTEND CONFIG LIKE 'run_mode'";
    match c.query_retry(sql, &crate::planner::idempotent(cfg)) {
        Ok(rs) => match rs.get(0, "Value").map(|v| v.trim().to_ascii_lowercase()) {
            Some(v) if v == "shared_data" => (
                Status::Fail,
                "the cluster runs in shared_data mode; this tool backs up shared-nothing clusters only".into(),
            ),
            Some(v) => (Status::Ok, format!("run_mode {v}")),
            None => (Status::Ok, "run_mode not listed (shared_nothing before 3.0)".into()),
        },
        Err(SqlError::Server { message, .. }) => (
            Status::Warn,
            format!("cannot read run_mode ({message}); grant the user OPERATE or check it by hand"),
        ),
        Err(e) => (Status::Fail, e.into_bbr("reading run_mode").to_string()),
    }
}

fn repository(c: &mut Cluster, cfg: &Config) -> (Status, String) {
    match crate::preflight::check_repository(c, cfg, true) {
        Ok(()) => (
            Status::Ok,
            format!("repository {} present and writable", cfg.repository),
        ),
        Err(e) => (Status::Fail, e.to_string()),
    }
}

fn backends(c: &mut Cluster, cfg: &Config) -> (Status, String) {
    match crate::preflight::alive_backends(c, cfg) {
        Ok(Some(n)) if n >= cfg.replication_num => (
            Status::Ok,
            format!(
                "{n} alive backend(s) >= replication_num {}",
                cfg.replication_num
            ),
        ),
        Ok(Some(n)) => (
            Status::Fail,
            format!(
                "{n} alive backend(s) < replication_num {}; bring backends up or lower replication_num",
                cfg.replication_num
            ),
        ),
        Ok(None) => (
            Status::Warn,
            "cannot list backends (privileges?); not checked".into(),
        ),
        Err(e) => (Status::Fail, e.to_string()),
    }
}

/// Current = `init` would do nothing (absent database, tables or an older schema make it plan steps).
fn ops_schema(c: &mut Cluster, cfg: &Config) -> (Status, String) {
    match state::init_state(c, cfg) {
        Ok(st) => {
            let plan = crate::planner::init::plan_init(cfg, &st);
            if plan.steps.is_empty() {
                (
                    Status::Ok,
                    format!("ops database {} is current", cfg.ops_database),
                )
            } else {
                (
                    Status::Fail,
                    format!(
                        "ops database {} is missing or not current ({} change(s) pending); run `starrocks-bbr init`",
                        cfg.ops_database,
                        plan.steps.len()
                    ),
                )
            }
        }
        Err(e) => (Status::Fail, e.to_string()),
    }
}

fn tables(c: &mut Cluster, cfg: &Config) -> (Status, String) {
    let dbs: Vec<String> = cfg.tables_by_db().into_keys().collect();
    let sql = format!(
        "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.tables WHERE TABLE_SCHEMA IN {}",
        crate::sql::literal_list(&dbs)
    );
    let rs = match c.query_retry(&sql, &crate::planner::idempotent(cfg)) {
        Ok(rs) => rs,
        Err(e) => return (Status::Fail, e.into_bbr("listing tables").to_string()),
    };
    let have: std::collections::BTreeSet<(String, String)> = (0..rs.rows.len())
        .filter_map(|i| Some((rs.get(i, "TABLE_SCHEMA")?, rs.get(i, "TABLE_NAME")?)))
        .collect();
    let missing: Vec<String> = cfg
        .tables
        .iter()
        .filter(|t| !have.contains(&(t.database.clone(), t.table.clone())))
        .map(|t| t.to_string())
        .collect();
    // Backupable on this release: what backup's own discovery leaves out (planner::left_out), when
    // the history can be read (else only presence is checked).
    let unbackupable: Vec<String> = crate::release::detect(c, cfg)
        .and_then(|info| state::backup_state(c, cfg, &info))
        .map(|st| {
            st.left_out
                .iter()
                .filter(|l| l.reason != crate::planner::left_out::LeftOutReason::Missing)
                .map(|l| format!("{}.{}: {}; {}", l.database, l.table, l.why(), l.todo()))
                .collect()
        })
        .unwrap_or_default();
    if missing.is_empty() && unbackupable.is_empty() {
        (
            Status::Ok,
            format!(
                "all {} table(s) in scope exist and can be backed up on this release",
                cfg.tables.len()
            ),
        )
    } else if missing.is_empty() {
        (
            Status::Fail,
            format!("cannot be backed up now: {}", unbackupable.join(" | ")),
        )
    } else {
        (
            Status::Fail,
            format!(
                "not in the cluster: {}; create them or fix `tables`",
                missing.join(", ")
            ),
        )
    }
}

/// Every snapshot the newest restore point of each table needs is still in the repository.
fn snapshots(c: &mut Cluster, cfg: &Config) -> (Status, String) {
    let chains = match state::scope::newest_chains(c, cfg) {
        Ok(ch) => ch,
        Err(e) => return (Status::Fail, e.to_string()),
    };
    let mut needed: Vec<String> = chains
        .iter()
        .filter_map(|(_, ch)| ch.as_ref().ok())
        .flat_map(|ch| ch.links.iter().map(|l| l.label.clone()))
        .collect();
    needed.sort();
    needed.dedup();
    let unbacked: Vec<String> = chains
        .iter()
        .filter(|(_, ch)| ch.is_err())
        .map(|(t, _)| t.to_string())
        .collect();
    let present = match state::scope::snapshots_present(c, cfg, &needed) {
        Ok(p) => p,
        Err(e) => return (Status::Fail, e.to_string()),
    };
    let missing: Vec<&String> = needed.iter().filter(|l| !present.contains(*l)).collect();
    if !missing.is_empty() {
        let names: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
        return (
            Status::Fail,
            format!(
                "snapshot(s) needed to restore the newest point are missing from repository {}: {}; run `starrocks-bbr backup --full`",
                cfg.repository,
                names.join(", ")
            ),
        );
    }
    if !unbacked.is_empty() {
        return (
            Status::Warn,
            format!(
                "no restorable backup yet for: {}; run `starrocks-bbr backup`",
                unbacked.join(", ")
            ),
        );
    }
    (
        Status::Ok,
        format!(
            "{} snapshot(s) needed by the newest restore points are present",
            needed.len()
        ),
    )
}
