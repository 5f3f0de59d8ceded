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

/// Every snapshot a restore point within retention needs is still in the repository (SPEC.md
/// `check`): the window rule of `expire` (planner::expire::window_needs) over the history — every
/// point of the last `retention.keep_days`, or without `retention` the newest restore point — then
/// ONE `SHOW SNAPSHOT ... WHERE SNAPSHOT IN (...)` per repository for the set.
fn snapshots(c: &mut Cluster, cfg: &Config) -> (Status, String) {
    let (now, histories) = match state::expire::expire_history(c, cfg) {
        Ok(h) => h,
        Err(e) => return (Status::Fail, e.to_string()),
    };
    let keep_days = cfg.retention.map(|r| r.keep_days);
    let needed = needed_snapshots(cfg, &histories, now, keep_days);
    let wanted: Vec<(String, String)> = needed
        .iter()
        .filter(|n| n.state == Known::Finished)
        .map(|n| (n.repository.clone(), n.label.clone()))
        .collect();
    let view = if wanted.is_empty() {
        Default::default()
    } else {
        match state::expire::repository_view(c, cfg, &wanted) {
            Ok(v) => v,
            Err(e) => return (Status::Fail, e.to_string()),
        }
    };
    let unbacked: Vec<String> = cfg
        .tables
        .iter()
        .filter(|t| {
            !histories
                .iter()
                .any(|h| h.database == t.database && h.tables.contains_key(&t.table))
        })
        .map(|t| t.to_string())
        .collect();
    snapshots_verdict(cfg, keep_days, &needed, &view, &unbacked)
}

/// What the history says of a needed snapshot before the repository is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Known {
    /// FINISHED with a timestamp: the repository must have it.
    Finished,
    /// Already recorded as gone (EXPIRED: expire found it vanished), or not in the history.
    Lost,
}

/// One snapshot restore points in scope need.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Needed {
    label: String,
    repository: String,
    state: Known,
    /// `db.table` of the tables whose restore points need it.
    tables: Vec<String>,
    /// The newest restore point of one of those tables needs it (not only older ones).
    newest: bool,
}

/// The snapshots (partition sources) the restore points of the tables in scope need, per the
/// window rule; snapshots without data (manifest-only records) are not asked for.
fn needed_snapshots(
    cfg: &Config,
    histories: &[crate::planner::expire::DatabaseHistory],
    now: chrono::NaiveDateTime,
    keep_days: Option<u32>,
) -> Vec<Needed> {
    use crate::planner::expire::window_needs;
    let mut out = Vec::new();
    for h in histories {
        let in_scope = |t: &String| {
            cfg.tables
                .iter()
                .any(|r| r.database == h.database && &r.table == t)
        };
        let window = window_needs(h, now, keep_days.unwrap_or(0));
        let newest = window_needs(h, now, 0);
        for (label, tables) in &window.snapshots {
            let tables: Vec<String> = tables
                .iter()
                .filter(|t| in_scope(t))
                .map(|t| format!("{}.{t}", h.database))
                .collect();
            if tables.is_empty() {
                continue;
            }
            let row = h.rows.iter().find(|r| &r.record.label == label);
            let state = match row {
                Some(r) if r.record.status == "FINISHED" => {
                    if r.record
                        .backup_timestamp
                        .as_deref()
                        .is_none_or(str::is_empty)
                    {
                        continue; // a manifest-only record holds no data
                    }
                    Known::Finished
                }
                _ => Known::Lost,
            };
            out.push(Needed {
                label: label.clone(),
                repository: row.map_or_else(|| cfg.repository.clone(), |r| r.repository.clone()),
                state,
                newest: newest
                    .snapshots
                    .get(label)
                    .is_some_and(|ts| ts.iter().any(&in_scope)),
                tables,
            });
        }
    }
    out
}

/// First few items and how many more.
fn few(items: &[String]) -> String {
    const SHOWN: usize = 3;
    let mut s = items
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > SHOWN {
        s.push_str(&format!(" and {} more", items.len() - SHOWN));
    }
    s
}

/// The verdict (pure): fail for a needed snapshot the repository lacks that no run has recorded
/// yet, or that the newest restore point needs; warn for one already recorded as gone that only
/// older points need (those points are lost; nothing to do but wait for the window to pass), for
/// snapshots whose listing failed, and for tables never backed up.
fn snapshots_verdict(
    cfg: &Config,
    keep_days: Option<u32>,
    needed: &[Needed],
    view: &crate::planner::expire::RepositoryView,
    unbacked: &[String],
) -> (Status, String) {
    use crate::planner::expire::Presence;
    let scope = match keep_days {
        Some(d) => format!("restore points within retention ({d} days)"),
        None => "the newest restore points (no `retention` in the config: only they are checked)"
            .to_string(),
    };
    let presence = |n: &Needed| {
        view.snapshots
            .get(&(n.repository.clone(), n.label.clone()))
            .cloned()
    };
    let describe = |n: &Needed| {
        format!(
            "{} in repository {} (needed by {})",
            n.label,
            n.repository,
            n.tables.join(", ")
        )
    };
    let mut missing = Vec::new();
    let mut lost_older = Vec::new();
    let mut unchecked = Vec::new();
    for n in needed {
        match (n.state, presence(n)) {
            (Known::Finished, Some(Presence::Absent)) => missing.push(describe(n)),
            (Known::Finished, Some(Presence::Unknown { reason })) => {
                unchecked.push(format!("{}: {reason}", n.label))
            }
            (Known::Finished, _) => {}
            (Known::Lost, _) if n.newest => missing.push(describe(n)),
            (Known::Lost, _) => lost_older.push(describe(n)),
        }
    }
    if !missing.is_empty() {
        return (
            Status::Fail,
            format!(
                "{} snapshot(s) that {scope} need are missing from the repository: {}; the next backup re-bases the tables that need them (`starrocks-bbr backup`), restore points of those tables from when the snapshot was taken until that backup are lost (`starrocks-bbr expire` records them as gone)",
                missing.len(),
                few(&missing)
            ),
        );
    }
    let mut warnings = Vec::new();
    if !lost_older.is_empty() {
        warnings.push(format!(
            "{} snapshot(s) recorded as gone are still needed by older {scope}: {}; those points are lost until the window passes them, the newest are whole",
            lost_older.len(),
            few(&lost_older)
        ));
    }
    if !unchecked.is_empty() {
        warnings.push(format!(
            "could not list {} snapshot(s) (a failed listing is no proof they are gone; run check again): {}",
            unchecked.len(),
            few(&unchecked)
        ));
    }
    if !unbacked.is_empty() {
        warnings.push(format!(
            "no restorable backup yet for: {}; run `starrocks-bbr backup`",
            unbacked.join(", ")
        ));
    }
    if !warnings.is_empty() {
        return (Status::Warn, warnings.join("; "));
    }
    (
        Status::Ok,
        format!(
            "{} snapshot(s) that {scope} need are present in repository {}",
            needed.len(),
            cfg.repository
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::expire::{Presence, RepositoryView};

    fn needed(label: &str, state: Known, newest: bool) -> Needed {
        Needed {
            label: label.into(),
            repository: "repo".into(),
            state,
            tables: vec!["sales.orders".into()],
            newest,
        }
    }

    /// The snapshots verdict per what the history and the repository say.
    #[test]
    fn snapshots_verdicts() {
        let cfg = Config::parse(
            std::path::Path::new("t.yaml"),
            "connection: {host: h, user: u}\nrepository: repo\ntables: [sales.orders]\n",
        )
        .unwrap();
        let view = |p: Presence| RepositoryView {
            drop_supported: false,
            snapshots: [(("repo".to_string(), "a".to_string()), p)].into(),
        };
        let present = Presence::Present { cluster_id: None };
        let unknown = Presence::Unknown {
            reason: "ERROR: Failed to get info".into(),
        };
        // (case, keep_days, needed, repository, status, detail must contain)
        let cases = vec![
            (
                "present",
                Some(7),
                needed("a", Known::Finished, false),
                present.clone(),
                Status::Ok,
                "within retention (7 days)",
            ),
            (
                "no retention: newest only, said",
                None,
                needed("a", Known::Finished, true),
                present,
                Status::Ok,
                "no `retention`",
            ),
            (
                "gone behind the tool's back",
                Some(7),
                needed("a", Known::Finished, false),
                Presence::Absent,
                Status::Fail,
                "a in repository repo (needed by sales.orders)",
            ),
            (
                "listing failed: no proof",
                Some(7),
                needed("a", Known::Finished, true),
                unknown,
                Status::Warn,
                "could not list",
            ),
            (
                "recorded gone, the newest point needs it",
                Some(7),
                needed("a", Known::Lost, true),
                Presence::Absent,
                Status::Fail,
                "re-bases",
            ),
            (
                "recorded gone, only older points need it",
                Some(7),
                needed("a", Known::Lost, false),
                Presence::Absent,
                Status::Warn,
                "those points are lost",
            ),
        ];
        for (name, keep, n, p, want, text) in cases {
            let (st, detail) = snapshots_verdict(&cfg, keep, &[n], &view(p), &[]);
            assert_eq!(st, want, "{name}: {detail}");
            assert!(detail.contains(text), "{name}: {detail}");
        }
        let (st, detail) = snapshots_verdict(
            &cfg,
            None,
            &[],
            &RepositoryView::default(),
            &["sales.orders".into()],
        );
        assert_eq!(st, Status::Warn, "{detail}");
        assert!(detail.contains("no restorable backup yet"), "{detail}");
    }
}
