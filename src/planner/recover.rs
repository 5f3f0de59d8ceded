//! `recover`: rebuild the ops database on a cluster that lost it (or a new cluster attached to the
//! same repository) from the newest complete catalog snapshot (planner::catalog), then check the
//! recovered history against what the repository really holds.

use serde::{Deserialize, Serialize};

use super::catalog::is_catalog_label;
use super::{finalize_step, job_step};
use crate::config::Config;
use crate::error::BbrError;
use crate::history::{create_database_sql, BACKUP_HISTORY};
use crate::plan::{Command, Details, Plan, StepKind};
use crate::planner::restore::show_restore_sql;
use crate::sql::{ident, literal, property, qualified};

/// One row of `SHOW SNAPSHOT ON repo` (no WHERE): a label with its info-file timestamps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListedSnapshot {
    pub label: String,
    /// Decoded timestamps only (`Invalid: <file>` entries dropped, STARROCKS.md §6).
    pub timestamps: Vec<String>,
    /// Status `OK` (some info file exists).
    pub ok: bool,
    /// Status `ERROR: no snapshot`: the directory exists without an info file (half-written). Any
    /// other error (`ERROR: Failed to get info: ...`) proves nothing about the snapshot.
    pub incomplete: bool,
}

impl ListedSnapshot {
    /// From the Snapshot / Timestamp / Status cells.
    pub fn parse(label: &str, timestamps: Option<&str>, status: Option<&str>) -> ListedSnapshot {
        ListedSnapshot {
            label: label.to_string(),
            timestamps: timestamps
                .unwrap_or_default()
                .split('\n')
                .map(str::trim)
                .filter(|t| !t.is_empty() && !t.starts_with("Invalid:"))
                .map(str::to_string)
                .collect(),
            ok: status.is_some_and(|s| s.trim() == "OK"),
            incomplete: status.is_some_and(|s| s.trim() == "ERROR: no snapshot"),
        }
    }
}

/// What recover reads before planning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecoverState {
    pub cluster_time: String,
    /// The ops database exists with tables in it (an empty one is what a recover that died before
    /// its RESTORE leaves behind, and is reused).
    pub ops_tables: Vec<String>,
    pub snapshots: Vec<ListedSnapshot>,
    /// A recover that died: the ops database's last job is the RESTORE of a catalog snapshot, still
    /// running, or FINISHED while that catalog's own row is still RUNNING (Finalize comes last).
    pub in_progress: Option<CatalogChoice>,
    /// Alive backends (SHOW BACKENDS, `Alive` by name); None when the server refused to list them.
    pub alive_backends: Option<u32>,
}

/// The catalog snapshot recover restores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogChoice {
    pub label: String,
    pub backup_timestamp: String,
}

/// The newest complete catalog snapshot: catalog label, status OK, newest info-file timestamp
/// (`yyyy-MM-dd-HH-mm-ss-SSS` sorts as text), then label.
pub fn newest_catalog(snapshots: &[ListedSnapshot]) -> Option<CatalogChoice> {
    snapshots
        .iter()
        .filter(|s| s.ok && is_catalog_label(&s.label))
        .flat_map(|s| s.timestamps.iter().map(move |t| (t, &s.label)))
        .max()
        .map(|(t, l)| CatalogChoice {
            label: l.clone(),
            backup_timestamp: t.clone(),
        })
}

/// Details of the RestoreCatalog and PollRestore steps of a recover (the job SHOW RESTORE shows).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogPoll {
    pub snapshot_label: String,
    pub backup_timestamp: String,
    pub initial_ms: u64,
    pub max_ms: u64,
    pub job_timeout_s: u64,
}

/// Details of the CheckHistory step: the listing statement it compares the history with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryCheck {
    pub repository: String,
    pub show_snapshots_sql: String,
    pub catalog_label: String,
}

pub fn show_snapshots_sql(repository: &str) -> String {
    format!("SHOW SNAPSHOT ON {}", ident(repository))
}

/// Every history row's label, repository, status and timestamp, for CheckHistory (once per recover).
pub fn select_snapshot_rows_sql(ops: &str) -> String {
    format!(
        "SELECT {}, {}, {}, {} FROM {}",
        ident("label"),
        ident("repository"),
        ident("status"),
        ident("backup_timestamp"),
        qualified(ops, BACKUP_HISTORY)
    )
}

/// One recovered history row as CheckHistory reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveredRow {
    pub label: String,
    pub repository: String,
    pub status: String,
    pub backup_timestamp: Option<String>,
}

/// What CheckHistory found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryVerdict {
    /// FINISHED rows with a snapshot in our repository that the repository does not hold
    /// (not listed, or listed as `ERROR: no snapshot`): marked EXPIRED.
    pub absent: Vec<String>,
    /// Complete snapshots with the tool's data label pattern that the history does not know
    /// (taken after the catalog snapshot): reported.
    pub unknown: Vec<String>,
}

/// Compares the recovered history with the repository listing.
pub fn judge_history(
    rows: &[RecoveredRow],
    listed: &[ListedSnapshot],
    repository: &str,
) -> HistoryVerdict {
    use std::collections::{BTreeMap, BTreeSet};
    let by_label: BTreeMap<&str, &ListedSnapshot> =
        listed.iter().map(|s| (s.label.as_str(), s)).collect();
    let known: BTreeSet<&str> = rows.iter().map(|r| r.label.as_str()).collect();
    let mut v = HistoryVerdict::default();
    for r in rows {
        let has_snapshot = r.status == "FINISHED" && r.backup_timestamp.is_some();
        if !has_snapshot || r.repository != repository {
            continue;
        }
        let gone = match by_label.get(r.label.as_str()) {
            None => true,
            Some(s) => s.incomplete,
        };
        if gone {
            v.absent.push(r.label.clone());
        }
    }
    for s in listed {
        if s.ok && super::catalog::is_data_label(&s.label) && !known.contains(s.label.as_str()) {
            v.unknown.push(s.label.clone());
        }
    }
    v.absent.sort();
    v.unknown.sort();
    v
}

/// Marks a FINISHED row whose snapshot the repository does not hold.
pub fn mark_absent_sql(ops: &str, label: &str, why: &str) -> String {
    format!(
        "UPDATE {} SET {} = 'EXPIRED', {} = {} WHERE {} = {} AND {} = 'FINISHED'",
        qualified(ops, BACKUP_HISTORY),
        ident("status"),
        ident("error_message"),
        literal(why),
        ident("label"),
        literal(label),
        ident("status")
    )
}

/// The restored catalog holds its own job's row as RUNNING (the snapshot was taken while it ran):
/// the snapshot exists and is complete, so the row becomes FINISHED with its timestamp.
pub fn finish_catalog_row_sql(ops: &str, c: &CatalogChoice) -> String {
    format!(
        "UPDATE {} SET {} = 'FINISHED', {} = NOW(), {} = {}, {} = NULL WHERE {} = {} AND {} = 'RUNNING'",
        qualified(ops, BACKUP_HISTORY),
        ident("status"),
        ident("finished_at"),
        ident("backup_timestamp"),
        literal(&c.backup_timestamp),
        ident("error_message"),
        ident("label"),
        literal(&c.label),
        ident("status")
    )
}

pub fn restore_catalog_sql(cfg: &Config, c: &CatalogChoice) -> String {
    format!(
        "RESTORE SNAPSHOT {} FROM {} PROPERTIES ({}, {}, {})",
        qualified(&cfg.ops_database, &c.label),
        ident(&cfg.repository),
        property("backup_timestamp", &c.backup_timestamp),
        property("replication_num", &cfg.replication_num.to_string()),
        property("timeout", &cfg.job_timeout_s.to_string())
    )
}

#[derive(Serialize)]
struct Inputs<'a> {
    cluster_time: &'a str,
    repository: &'a str,
    ops_database: &'a str,
    replication_num: u32,
    catalog_snapshots: usize,
    catalog: &'a CatalogChoice,
    /// A dead recover's RESTORE is continued (no CREATE DATABASE, no second RESTORE).
    continuing: bool,
}

/// The recover plan, or why it refuses: an ops database with tables (exit 4), no complete catalog
/// snapshot in the repository (exit 1).
pub fn plan_recover(cfg: &Config, state: &RecoverState) -> Result<Plan, BbrError> {
    let ops = &cfg.ops_database;
    if let Some(choice) = &state.in_progress {
        return Ok(recover_plan(cfg, state, choice, true));
    }
    if !state.ops_tables.is_empty() {
        return Err(BbrError::refused(
            format!(
                "the ops database {ops} exists on this cluster (tables: {}); recover only rebuilds a lost one",
                state.ops_tables.join(", ")
            ),
            "nothing to recover: use `list` and `restore` as usual (or point ops_database at another name)",
        ));
    }
    if let Some(alive) = state.alive_backends.filter(|n| *n < cfg.replication_num) {
        return Err(BbrError::usage(
            format!(
                "replication_num {} is more than the {alive} alive backend(s): the ops tables cannot be restored",
                cfg.replication_num
            ),
            "set replication_num in the config to at most the number of alive backends",
        ));
    }
    let Some(choice) = newest_catalog(&state.snapshots) else {
        return Err(BbrError::job_failed(
            format!(
                "repository {} holds no complete catalog snapshot (label bbr_catalog_...): the history cannot be recovered",
                cfg.repository
            ),
            "check `repository` names the repository the lost cluster backed up to (same name and location), and that it ran with catalog_backup on",
        ));
    };
    Ok(recover_plan(cfg, state, &choice, false))
}

/// The steps; `continuing`: a dead recover's RESTORE was sent, so only wait, check and finish.
fn recover_plan(
    cfg: &Config,
    state: &RecoverState,
    choice: &CatalogChoice,
    continuing: bool,
) -> Plan {
    let ops = &cfg.ops_database;
    let label = &choice.label;
    let poll = serde_json::to_value(CatalogPoll {
        snapshot_label: label.clone(),
        backup_timestamp: choice.backup_timestamp.clone(),
        initial_ms: cfg.poll.initial_ms,
        max_ms: cfg.poll.max_ms,
        job_timeout_s: cfg.job_timeout_s,
    })
    .ok()
    .map(Details::Other);
    let step = |kind, description: String, sql: String, retry, details| {
        job_step(ops, label, kind, description, sql, retry, details)
    };
    let mut steps = Vec::new();
    if !continuing {
        steps.push(step(
            StepKind::CreateDatabase,
            format!("create the ops database {ops} (before 3.4 RESTORE needs it to exist)"),
            create_database_sql(ops),
            super::idempotent(cfg),
            None,
        ));
        steps.push(step(
            StepKind::RestoreCatalog,
            format!(
                "restore every ops table from catalog snapshot {label} with replication_num {}",
                cfg.replication_num
            ),
            restore_catalog_sql(cfg, choice),
            super::submission(cfg),
            poll.clone(),
        ));
    }
    steps.push(step(
        StepKind::PollRestore,
        format!("poll SHOW RESTORE until the RESTORE of {label} is FINISHED or CANCELLED"),
        show_restore_sql(ops),
        super::idempotent(cfg),
        poll,
    ));
    steps.push(step(
        StepKind::CheckHistory,
        format!("compare the recovered history with SHOW SNAPSHOT ON {}: mark FINISHED rows whose snapshot is absent EXPIRED, report newer snapshots the history does not know", cfg.repository),
        select_snapshot_rows_sql(ops),
        super::idempotent(cfg),
        serde_json::to_value(HistoryCheck {
            repository: cfg.repository.clone(),
            show_snapshots_sql: show_snapshots_sql(&cfg.repository),
            catalog_label: label.clone(),
        })
        .ok()
        .map(Details::Other),
    ));
    // last: while this row is RUNNING a rerun knows the recover did not finish and continues it
    steps.push(finalize_step(
        cfg,
        ops,
        label,
        "mark the catalog job's own row (RUNNING in its snapshot) FINISHED: the recover is complete",
        finish_catalog_row_sql(ops, choice),
        &[],
    ));
    let inputs = Inputs {
        cluster_time: &state.cluster_time,
        repository: &cfg.repository,
        ops_database: ops,
        replication_num: cfg.replication_num,
        catalog_snapshots: state
            .snapshots
            .iter()
            .filter(|s| s.ok && is_catalog_label(&s.label))
            .count(),
        catalog: choice,
        continuing,
    };
    Plan::new(
        Command::Recover,
        serde_json::to_value(inputs).unwrap_or_default(),
        steps,
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn history_against_the_repository() {
        let row = |label: &str, repo: &str, status: &str, ts: Option<&str>| RecoveredRow {
            label: label.into(),
            repository: repo.into(),
            status: status.into(),
            backup_timestamp: ts.map(str::to_string),
        };
        let ts = Some("2026-01-01-00-00-10-000");
        let rows = vec![
            row("bbr_s_20260101000000_full_aaaaaa", "repo", "FINISHED", ts),
            row("bbr_s_20260102000000_incr_bbbbbb", "repo", "FINISHED", ts),
            row("bbr_s_20260103000000_incr_cccccc", "repo", "FINISHED", ts),
            // manifest-only record: no snapshot to look for
            row("bbr_s_20260104000000_incr_dddddd", "repo", "FINISHED", None),
            row("bbr_s_20260105000000_incr_eeeeee", "repo", "FAILED", None),
            row(
                "bbr_s_20260106000000_full_ffffff",
                "old_repo",
                "FINISHED",
                ts,
            ),
            row("bbr_s_20260107000000_incr_gggggg", "repo", "FINISHED", ts),
        ];
        let listed = vec![
            snap(
                "bbr_s_20260101000000_full_aaaaaa",
                "2026-01-01-00-00-10-000",
                "OK",
            ),
            snap("bbr_s_20260103000000_incr_cccccc", "", "ERROR: no snapshot"),
            snap(
                "bbr_s_20260107000000_incr_gggggg",
                "",
                "ERROR: Failed to get info: timeout",
            ),
            snap(
                "bbr_s_20260108000000_incr_hhhhhh",
                "2026-01-08-00-00-10-000",
                "OK",
            ),
            snap(
                "bbr_catalog_20260108000000_iiiiii",
                "2026-01-08-00-01-10-000",
                "OK",
            ),
            snap("someone_elses", "2026-01-08-00-00-10-000", "OK"),
        ];
        let v = judge_history(&rows, &listed, "repo");
        assert_eq!(
            v.absent,
            [
                "bbr_s_20260102000000_incr_bbbbbb",
                "bbr_s_20260103000000_incr_cccccc"
            ]
        );
        assert_eq!(v.unknown, ["bbr_s_20260108000000_incr_hhhhhh"]);
    }

    use super::*;
    use crate::error::ExitCode;
    use std::path::Path;

    fn cfg() -> Config {
        Config::parse(
            Path::new("t.yaml"),
            "connection: {host: h, user: u}\nrepository: repo\ntables: [sales.orders]\nreplication_num: 2\n",
        )
        .unwrap()
    }

    fn snap(label: &str, ts: &str, status: &str) -> ListedSnapshot {
        ListedSnapshot::parse(label, Some(ts), Some(status))
    }

    fn state(snapshots: Vec<ListedSnapshot>, ops_tables: &[&str]) -> RecoverState {
        RecoverState {
            cluster_time: "2026-02-01 00:00:00".into(),
            ops_tables: ops_tables.iter().map(|s| s.to_string()).collect(),
            snapshots,
            in_progress: None,
            alive_backends: Some(2),
        }
    }

    #[test]
    fn picks_the_newest_complete_catalog() {
        let cases = [
            (vec![], None),
            (
                vec![snap(
                    "bbr_sales_20260101000000_full_aaaaaa",
                    "2026-01-01-00-00-10-000",
                    "OK",
                )],
                None,
            ),
            (
                vec![
                    snap(
                        "bbr_catalog_20260101000000_aaaaaa",
                        "2026-01-01-00-00-10-000",
                        "OK",
                    ),
                    snap(
                        "bbr_catalog_20260102000000_bbbbbb",
                        "2026-01-02-00-00-10-000",
                        "OK",
                    ),
                    // half-written: not complete
                    snap(
                        "bbr_catalog_20260103000000_cccccc",
                        "",
                        "ERROR: no snapshot",
                    ),
                    snap(
                        "bbr_sales_20260104000000_incr_dddddd",
                        "2026-01-04-00-00-10-000",
                        "OK",
                    ),
                ],
                Some((
                    "bbr_catalog_20260102000000_bbbbbb",
                    "2026-01-02-00-00-10-000",
                )),
            ),
            (
                // an undecodable info file beside the real one (STARROCKS.md §6)
                vec![snap(
                    "bbr_catalog_20260101000000_aaaaaa",
                    "Invalid: __info_x.part\n2026-01-01-00-00-10-000",
                    "OK",
                )],
                Some((
                    "bbr_catalog_20260101000000_aaaaaa",
                    "2026-01-01-00-00-10-000",
                )),
            ),
        ];
        for (snaps, want) in cases {
            let got = newest_catalog(&snaps);
            assert_eq!(
                got.as_ref()
                    .map(|c| (c.label.as_str(), c.backup_timestamp.as_str())),
                want,
                "{snaps:?}"
            );
        }
    }

    #[test]
    fn refusals() {
        let ok = vec![snap(
            "bbr_catalog_20260101000000_aaaaaa",
            "2026-01-01-00-00-10-000",
            "OK",
        )];
        let e = plan_recover(&cfg(), &state(ok.clone(), &["backup_history"])).unwrap_err();
        assert_eq!(e.exit, ExitCode::Refused);
        assert!(e.what.contains("ops database ops exists"), "{}", e.what);
        let e = plan_recover(&cfg(), &state(vec![], &[])).unwrap_err();
        assert_eq!(e.exit, ExitCode::JobFailed);
        assert!(
            e.what.contains("no complete catalog snapshot"),
            "{}",
            e.what
        );
        let mut small = state(ok.clone(), &[]);
        small.alive_backends = Some(1);
        let e = plan_recover(&cfg(), &small).unwrap_err();
        assert_eq!(e.exit, ExitCode::Usage);
        assert!(
            e.what
                .contains("replication_num 2 is more than the 1 alive"),
            "{}",
            e.what
        );
        // a dead recover's RESTORE is continued even though the tables exist now
        let mut cont = state(vec![], &["backup_history"]);
        cont.in_progress = newest_catalog(&ok);
        let p = plan_recover(&cfg(), &cont).unwrap();
        let kinds: Vec<StepKind> = p.steps.iter().map(|s| s.kind).collect();
        assert_eq!(
            kinds,
            [
                StepKind::PollRestore,
                StepKind::CheckHistory,
                StepKind::Finalize
            ]
        );
        assert_eq!(p.inputs["continuing"], true);
        let p = plan_recover(&cfg(), &state(ok, &[])).unwrap();
        let kinds: Vec<StepKind> = p.steps.iter().map(|s| s.kind).collect();
        assert_eq!(
            kinds,
            [
                StepKind::CreateDatabase,
                StepKind::RestoreCatalog,
                StepKind::PollRestore,
                StepKind::CheckHistory,
                StepKind::Finalize
            ]
        );
        assert_eq!(
            p.steps[1].sql.as_deref(),
            Some("RESTORE SNAPSHOT `ops`.`bbr_catalog_20260101000000_aaaaaa` FROM `repo` PROPERTIES (\"backup_timestamp\" = \"2026-01-01-00-00-10-000\", \"replication_num\" = \"2\", \"timeout\" = \"86400\")")
        );
    }
}
