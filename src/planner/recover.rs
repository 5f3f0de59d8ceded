//! `recover`: rebuild the ops database on a cluster that lost it (or a new cluster attached to the
//! same repository) from the newest complete catalog snapshot (planner::catalog), then check the
//! recovered history against what the repository really holds.

use serde::{Deserialize, Serialize};

use super::catalog::{catalog_stamp, is_catalog_label};
use super::history_check::{
    select_running_restores_sql, select_snapshot_rows_sql, show_snapshots_sql, HistoryCheck,
    ZONE_SQL,
};
use super::init::{plan_init, InitState};
use super::{finalize_step, job_step};
use crate::config::Config;
use crate::error::BbrError;
use crate::history::{create_database_sql, BACKUP_HISTORY};
pub use crate::plan::details::CatalogPoll;
use crate::plan::{Command, Details, Plan, StepKind};
use crate::planner::restore::show_restore_sql;
use crate::sql::{ident, literal, property, qualified};

pub use crate::snapshot::Listing;

/// One catalog snapshot of our ops database as discovery saw it: a (label, timestamp) listed OK with
/// its Details `backup_time`, or a label whose listing failed even when looked up again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CatalogCandidate {
    pub label: String,
    pub backup_timestamp: Option<String>,
    /// Details `backup_time` (epoch ms, UTC): comparable across FE time zones, unlike timestamps.
    pub backup_time_ms: Option<i64>,
    /// The FE's error when the label (or its Details) could not be read.
    pub error: Option<String>,
}
/// What recover reads before planning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecoverState {
    pub cluster_time: String,
    /// The ops database exists with tables in it (an empty one is what a recover that died before
    /// its RESTORE leaves behind, and is reused).
    pub ops_tables: Vec<String>,
    pub snapshots: Vec<Listing>,
    /// Our ops database's catalog snapshots (see [`CatalogCandidate`]).
    pub catalogs: Vec<CatalogCandidate>,
    /// Rows in the existing ops database's backup_history (None: no such table or not read).
    pub history_rows: Option<u64>,
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
    /// Its Details `backup_time` (UTC epoch ms); None when continuing a dead recover.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_time_ms: Option<i64>,
}

/// How many of the newest complete catalog snapshots (by label stamp) discovery looks up one by
/// one. Before 4.2 nothing deletes a snapshot (no DROP SNAPSHOT), so a repository may hold one
/// catalog per run ever made; each look-up downloads an info file.
pub const CATALOG_LOOKUPS: usize = 5;

/// The listed catalog snapshots of `ops` worth looking up: the `n` newest complete ones by label
/// stamp (the lost cluster's clock; the final ranking is by UTC backup_time among them), and every
/// one whose listing failed with a stamp at least as new as the oldest of those.
pub fn catalogs_to_look_up<'a>(ops: &str, snapshots: &'a [Listing], n: usize) -> Vec<&'a Listing> {
    let mut ours: Vec<(&str, &Listing)> = snapshots
        .iter()
        .filter_map(|s| Some((catalog_stamp(ops, &s.label)?, s)))
        .collect();
    ours.sort_by(|a, b| (b.0, &b.1.label).cmp(&(a.0, &a.1.label)));
    let ok: Vec<(&str, &Listing)> = ours
        .iter()
        .filter(|(_, s)| s.ok)
        .take(n.max(1))
        .copied()
        .collect();
    let floor = if ok.len() >= n.max(1) {
        ok.last().map(|(st, _)| *st)
    } else {
        None
    };
    ours.into_iter()
        .filter(|(st, s)| {
            (s.ok && ok.iter().any(|(_, o)| o.label == s.label))
                || (s.error.is_some() && floor.is_none_or(|f| *st >= f))
        })
        .map(|(_, s)| s)
        .collect()
}

/// A catalog snapshot at least as new as the chosen one that the repository could not list:
/// restoring the older one would silently lose the newest history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    pub label: String,
    pub error: String,
}

/// The newest complete catalog snapshot of `ops`: newest Details `backup_time` (UTC; a snapshot
/// whose Details were unreadable counts as unreadable), then timestamp, then label. Err when a
/// catalog label whose stamp is at least the chosen one's could not be read (Repository.java:621:
/// `ERROR: Failed to get info` proves nothing about the snapshot).
pub fn newest_catalog(
    ops: &str,
    catalogs: &[CatalogCandidate],
) -> Result<Option<CatalogChoice>, Unreadable> {
    let best = catalogs
        .iter()
        .filter(|c| c.error.is_none() && is_catalog_label(ops, &c.label))
        .filter_map(|c| {
            let ts = c.backup_timestamp.as_ref()?;
            Some((
                c.backup_time_ms.unwrap_or(i64::MIN),
                ts,
                &c.label,
                c.backup_time_ms,
            ))
        })
        .max();
    let floor = best.and_then(|(_, _, l, _)| catalog_stamp(ops, l));
    let unread = catalogs
        .iter()
        .filter(|c| c.error.is_some())
        .filter_map(|c| Some((catalog_stamp(ops, &c.label)?, c)))
        .filter(|(stamp, _)| floor.is_none_or(|f| *stamp >= f))
        .max_by_key(|(stamp, c)| (*stamp, &c.label));
    if let Some((_, c)) = unread {
        return Err(Unreadable {
            label: c.label.clone(),
            error: c.error.clone().unwrap_or_default(),
        });
    }
    Ok(best.map(|(_, t, l, ms)| CatalogChoice {
        label: l.clone(),
        backup_timestamp: t.clone(),
        backup_time_ms: ms,
    }))
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
        let what = format!(
            "the ops database {ops} exists on this cluster (tables: {}); recover only rebuilds a lost one",
            state.ops_tables.join(", ")
        );
        // an empty history is what `init` (or a first backup) run by mistake on the new cluster leaves
        return Err(if state.history_rows == Some(0) {
            BbrError::refused(
                what,
                format!("its backup_history is empty (did `init` run here before recover?): if so, `DROP DATABASE {ops}` and run recover again"),
            )
        } else {
            BbrError::refused(
                what,
                "nothing to recover: use `list` and `restore` as usual (or point ops_database at another name)",
            )
        });
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
    let newest = newest_catalog(ops, &state.catalogs).map_err(|u| {
        BbrError::job_failed(
            format!(
                "repository {} could not list catalog snapshot {} ({}): recovering an older catalog would lose the newest history",
                cfg.repository, u.label, u.error
            ),
            "run recover again (a storage error is usually transient); if it persists, check the repository's storage",
        )
    })?;
    let Some(choice) = newest else {
        return Err(BbrError::job_failed(
            format!(
                "repository {} holds no complete catalog snapshot of ops database {ops} (label {}...): the history cannot be recovered",
                cfg.repository,
                super::catalog::catalog_label(ops, "", None)
            ),
            "check `repository` and `ops_database` name what the lost cluster used (same name and location), and that it ran with catalog_backup on",
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
    let poll = Some(Details::CatalogPoll(CatalogPoll {
        snapshot_label: label.clone(),
        backup_timestamp: choice.backup_timestamp.clone(),
        initial_ms: cfg.poll.initial_ms,
        max_ms: cfg.poll.max_ms,
        job_timeout_s: cfg.job_timeout_s,
    }));
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
    // What `init` gives an existing ops database, before anything reads the recovered tables: a
    // catalog written by an older release gets the tables (and upgrades) of this one. Part of the
    // plan so Finalize stays the last write (a crash before it continues the recover).
    steps.extend(
        plan_init(
            cfg,
            &InitState {
                database_exists: true,
                existing_tables: Vec::new(),
                // unknown until the RESTORE ran: the upgrade statement only adds what a
                // version-1 catalog lacks (history::schema::upgrade_v1_sql)
                schema_version: 1,
            },
        )
        .steps,
    );
    steps.push(step(
        StepKind::CheckHistory,
        format!("compare the recovered history with SHOW SNAPSHOT ON {}: mark FINISHED rows whose snapshot is absent EXPIRED, report newer snapshots the history does not know; RUNNING rows of the lost cluster's runs become FINISHED (snapshot listed complete) or FAILED", cfg.repository),
        select_snapshot_rows_sql(ops),
        super::idempotent(cfg),
        Some(Details::HistoryCheck(HistoryCheck {
            repository: cfg.repository.clone(),
            show_snapshots_sql: show_snapshots_sql(&cfg.repository),
            catalog_label: label.clone(),
            catalog_backup_time_ms: choice.backup_time_ms,
            running_restores_sql: select_running_restores_sql(ops),
            zone_sql: ZONE_SQL.to_string(),
        })),
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
            .filter(|s| s.ok && is_catalog_label(ops, &s.label))
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

    /// A catalog candidate: (label, timestamp, backup_time in minutes, error).
    fn cat(
        label: &str,
        ts: Option<&str>,
        minutes: Option<i64>,
        error: Option<&str>,
    ) -> CatalogCandidate {
        CatalogCandidate {
            label: label.into(),
            backup_timestamp: ts.map(str::to_string),
            backup_time_ms: minutes.map(|m| m * 60_000),
            error: error.map(str::to_string),
        }
    }

    fn state(catalogs: Vec<CatalogCandidate>, ops_tables: &[&str]) -> RecoverState {
        RecoverState {
            cluster_time: "2026-02-01 00:00:00".into(),
            ops_tables: ops_tables.iter().map(|s| s.to_string()).collect(),
            snapshots: Vec::new(),
            catalogs,
            history_rows: None,
            in_progress: None,
            alive_backends: Some(2),
        }
    }

    const FAILED: Option<&str> = Some("ERROR: Failed to get info: connection reset");

    /// Ok(chosen label) or Err(the unreadable label recover stops on).
    type Want<'a> = Result<Option<&'a str>, &'a str>;

    #[test]
    fn picks_the_newest_complete_catalog() {
        let a = "bbr_catalog_ops_20260101000000_aaaaaa";
        let b = "bbr_catalog_ops_20260102000000_bbbbbb";
        let c = "bbr_catalog_ops_20260103000000_cccccc";
        let t1 = Some("2026-01-01-00-00-10-000");
        let t2 = Some("2026-01-02-00-00-10-000");
        // (candidates, Ok(chosen label) or Err(unreadable label))
        let cases: Vec<(Vec<CatalogCandidate>, Want)> = vec![
            (vec![], Ok(None)),
            (
                vec![cat(a, t1, Some(1), None), cat(b, t2, Some(2), None)],
                Ok(Some(b)),
            ),
            // ranked by backup_time (UTC), not by the FE-local timestamp text
            (
                vec![cat(a, t2, Some(9), None), cat(b, t1, Some(2), None)],
                Ok(Some(a)),
            ),
            // another config's ops database on the same repository is never chosen
            (
                vec![
                    cat(a, t1, Some(1), None),
                    cat("bbr_catalog_ops2_20260105000000_eeeeee", t2, Some(5), None),
                ],
                Ok(Some(a)),
            ),
            // the newest label could not be listed, even looked up again: stop, never fall back
            (
                vec![cat(a, t1, Some(1), None), cat(b, None, None, FAILED)],
                Err(b),
            ),
            // its Details could not be read
            (
                vec![cat(a, t1, Some(1), None), cat(b, t2, None, FAILED)],
                Err(b),
            ),
            // an unreadable label older than the chosen one does not matter
            (
                vec![cat(a, None, None, FAILED), cat(b, t2, Some(2), None)],
                Ok(Some(b)),
            ),
            // nothing readable at all, one failed label: say it failed, not "no catalog"
            (vec![cat(c, None, None, FAILED)], Err(c)),
        ];
        for (cands, want) in cases {
            let got = newest_catalog("ops", &cands);
            let got = got
                .as_ref()
                .map(|c| c.as_ref().map(|c| c.label.as_str()))
                .map_err(|u| u.label.as_str());
            assert_eq!(got, want, "{cands:?}");
        }
        let chosen = newest_catalog("ops", &[cat(a, t1, Some(1), None)])
            .unwrap()
            .unwrap();
        assert_eq!(chosen.backup_timestamp, "2026-01-01-00-00-10-000");
    }

    #[test]
    fn only_the_newest_catalogs_are_looked_up() {
        let snaps: Vec<Listing> = vec![
            Listing::parse(
                "bbr_catalog_ops_20260101000000_aaaaaa",
                Some("t1"),
                Some("OK"),
            ),
            Listing::parse(
                "bbr_catalog_ops_20260102000000_bbbbbb",
                None,
                Some("ERROR: Failed to get info: x"),
            ),
            Listing::parse(
                "bbr_catalog_ops_20260103000000_cccccc",
                Some("t3"),
                Some("OK"),
            ),
            Listing::parse(
                "bbr_catalog_ops_20260104000000_dddddd",
                Some(""),
                Some("ERROR: no snapshot"),
            ),
            Listing::parse(
                "bbr_catalog_ops_20260105000000_eeeeee",
                Some("t5"),
                Some("OK"),
            ),
            Listing::parse(
                "bbr_catalog_ops_20260106000000_ffffff",
                None,
                Some("ERROR: Failed to get info: y"),
            ),
            Listing::parse(
                "bbr_catalog_other_20260107000000_gggggg",
                Some("t7"),
                Some("OK"),
            ),
            Listing::parse(
                "bbr_sales_20260107000000_full_hhhhhh",
                Some("t7"),
                Some("OK"),
            ),
        ];
        let labels = |n| -> Vec<String> {
            catalogs_to_look_up("ops", &snaps, n)
                .iter()
                .map(|s| s.label[16..24].to_string())
                .collect()
        };
        // the 2 newest complete ones and the failed one newer than the older of them
        assert_eq!(labels(2), ["20260106", "20260105", "20260103"]);
        // fewer complete ones than n: every failed one counts
        assert_eq!(
            labels(5),
            ["20260106", "20260105", "20260103", "20260102", "20260101"]
        );
        assert_eq!(labels(1), ["20260106", "20260105"]);
    }

    #[test]
    fn refusals() {
        let ok = vec![cat(
            "bbr_catalog_ops_20260101000000_aaaaaa",
            Some("2026-01-01-00-00-10-000"),
            Some(1),
            None,
        )];
        let e = plan_recover(&cfg(), &state(ok.clone(), &["backup_history"])).unwrap_err();
        assert_eq!(e.exit, ExitCode::Refused);
        assert!(e.what.contains("ops database ops exists"), "{}", e.what);
        // `init` ran here by mistake: an empty history
        let mut empty = state(ok.clone(), &["backup_history"]);
        empty.history_rows = Some(0);
        let e = plan_recover(&cfg(), &empty).unwrap_err();
        assert_eq!(e.exit, ExitCode::Refused);
        assert!(e.todo.contains("DROP DATABASE ops"), "{}", e.todo);
        let unreadable = state(
            vec![
                ok[0].clone(),
                cat("bbr_catalog_ops_20260102000000_bbbbbb", None, None, FAILED),
            ],
            &[],
        );
        let e = plan_recover(&cfg(), &unreadable).unwrap_err();
        assert_eq!(e.exit, ExitCode::JobFailed);
        assert!(
            e.what.contains("could not list catalog snapshot bbr_catalog_ops_20260102000000_bbbbbb (ERROR: Failed to get info: connection reset)"),
            "{}",
            e.what
        );
        assert!(e.todo.contains("run recover again"), "{}", e.todo);
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
        cont.in_progress = newest_catalog("ops", &ok).unwrap();
        let p = plan_recover(&cfg(), &cont).unwrap();
        let kinds: Vec<StepKind> = p.steps.iter().map(|s| s.kind).collect();
        assert_eq!(
            kinds,
            [
                StepKind::PollRestore,
                StepKind::CreateTable,
                StepKind::CreateTable,
                StepKind::CreateTable,
                StepKind::CreateTable,
                StepKind::CreateTable,
                StepKind::UpgradeSchema,
                StepKind::RecordSchemaVersion,
                StepKind::CheckHistory,
                StepKind::Finalize,
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
                // init's steps before the last write (an older catalog's missing tables, and
                // the schema upgrade, which adds only what a version-1 catalog lacks)
                StepKind::CreateTable,
                StepKind::CreateTable,
                StepKind::CreateTable,
                StepKind::CreateTable,
                StepKind::CreateTable,
                StepKind::UpgradeSchema,
                StepKind::RecordSchemaVersion,
                StepKind::CheckHistory,
                StepKind::Finalize
            ]
        );
        assert!(p.steps[3..6].iter().all(|s| s
            .sql
            .as_deref()
            .unwrap()
            .starts_with("CREATE TABLE IF NOT EXISTS `ops`.")));
        assert_eq!(
            p.steps[1].sql.as_deref(),
            Some("RESTORE SNAPSHOT `ops`.`bbr_catalog_ops_20260101000000_aaaaaa` FROM `repo` PROPERTIES (\"backup_timestamp\" = \"2026-01-01-00-00-10-000\", \"replication_num\" = \"2\", \"timeout\" = \"86400\")")
        );
    }
}
