//! `expire` (SPEC.md "expire", `retention`): which snapshots every restore point of the last
//! `keep_days` needs, and the plan that expires the rest. Pure: history in, decision and plan out.
//!
//! What a restore needs is decided by chain resolution's [`chain::span`], evaluated at the window's
//! start and at every restore point inside the window (the as-of backup only changes at a restore
//! point, so those points cover every instant of the window). With lean manifests a restore folds
//! the manifests of its whole span, so every label of the span is kept (its manifest rows), and so
//! is every snapshot those rows name as a partition's source — so an old full still supplying
//! untouched partitions stays.
//!
//! Crash safety (SPEC.md: a crash never leaves a dropped snapshot whose row is not EXPIRED, or the
//! reverse): per snapshot the row becomes EXPIRED with the note [`NOTE_DROP_PENDING`] (the intent)
//! BEFORE `DROP SNAPSHOT` is sent, and the note changes to [`NOTE_DROPPED`] after it. A run that dies
//! between the two leaves a pending row, which the next `expire` finds and completes.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDateTime;
use serde::Serialize;

use super::catalog::{expire_catalog, is_catalog_label, CatalogRow, CATALOG_KEEP};
use super::chain::{self, BackupRecord, ChainError, ManifestRow, TableRecord};
use super::{idempotent, job_step};
use crate::config::Config;
use crate::history::{self, RunningRow};
use crate::plan::{Command, Details, Plan, Step, StepKind};
use crate::sql::{ident, literal, literal_list, qualified};

/// `backup_type` of the claim row an expire run writes into backup_history (never a snapshot).
pub const EXPIRE_CLAIM_TYPE: &str = "expire";
/// Note of an EXPIRED row whose `DROP SNAPSHOT` may not have been sent yet (the recorded intent).
pub const NOTE_DROP_PENDING: &str = "expired by retention; DROP SNAPSHOT pending";
/// Note of an EXPIRED row whose snapshot was dropped from the repository.
pub const NOTE_DROPPED: &str = "expired by retention; snapshot dropped from the repository";
/// Note of an EXPIRED row whose snapshot an operator deletes from storage (release without DROP SNAPSHOT).
pub const NOTE_DELETE_BY_HAND: &str =
    "expired by retention; delete the snapshot from the repository's storage by hand";
/// Note of an EXPIRED row that has no snapshot in the repository (failed run, manifest-only record).
pub const NOTE_NO_SNAPSHOT: &str = "expired by retention; no snapshot in the repository";
/// Note of a row whose snapshot vanished from the repository (server-side ttl, manual deletion):
/// EXPIRED so no restore or backup chain uses it again; tables whose chain needed it are re-based.
pub const NOTE_VANISHED: &str =
    "snapshot vanished from the repository (server-side ttl or manual deletion); found by expire";

/// Statements per restore_history DELETE (an IN list on the primary key).
const RESTORE_DELETE_CHUNK: usize = 200;

/// A row of backup_history as expire sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotRow {
    /// label, database, status, snapshot_at, backup_timestamp (what chain resolution reads).
    pub record: BackupRecord,
    pub backup_type: String,
    pub repository: String,
    pub started_at: Option<NaiveDateTime>,
    pub heartbeat_at: Option<NaiveDateTime>,
    pub error_message: Option<String>,
}

/// A restore_history row (only what deciding its age needs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreRun {
    pub label: String,
    pub status: String,
    pub started_at: Option<NaiveDateTime>,
    pub finished_at: Option<NaiveDateTime>,
}

/// One database's history.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DatabaseHistory {
    pub database: String,
    /// Every row that is not EXPIRED, plus EXPIRED rows whose drop is pending or whose snapshot
    /// vanished ([`NOTE_VANISHED`]: still in restore spans).
    pub rows: Vec<SnapshotRow>,
    /// Manifest rows by table. Only `label`, `source_label` and `in_snapshot` decide what a span
    /// needs, so one row per (label, source, in_snapshot) is enough (discovery reads them DISTINCT).
    pub manifest: BTreeMap<String, Vec<ManifestRow>>,
    /// `backup_tables` rows by table (where each table's span starts).
    pub tables: BTreeMap<String, Vec<TableRecord>>,
    pub restores: Vec<RestoreRun>,
}

/// What the retention rule decided for one database, before the repository is consulted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Retention {
    pub database: String,
    /// Snapshots a restore point of the window (or the next backup) needs, sorted.
    pub keep: Vec<String>,
    /// FINISHED or FAILED rows nothing needs, oldest first.
    pub expire: Vec<String>,
    /// EXPIRED rows a dead run left with a pending DROP SNAPSHOT.
    pub pending: Vec<String>,
    /// restore_history rows that ended before the window.
    pub restores: Vec<String>,
    /// Expire claim rows of dead runs (stale heartbeat), removed with our own claim.
    pub dead_claims: Vec<String>,
    /// Tables whose chain at some point of the window is already broken (label it needs is gone).
    pub broken: Vec<String>,
}

/// The window: every point in `[now - keep_days, now]` stays restorable.
pub fn window_start(now: NaiveDateTime, keep_days: u32) -> NaiveDateTime {
    now - chrono::Duration::days(i64::from(keep_days))
}

/// Adds to `keep` what a restore of one table as of `point` needs: every label of its span (the
/// manifests the fold reads; [`chain::span`], the resolver's own rule) and every snapshot a row of
/// the span names as a partition's source (a superset of the chain's links, exact in practice:
/// deltas name themselves, a complete record names the snapshots it inherited). False when one of
/// those sources is no usable snapshot any more (the chain is already broken: the next backup
/// re-bases the table).
fn needs(
    backups: &[BackupRecord],
    usable: &BTreeSet<&str>,
    tables: &[TableRecord],
    rows: &[ManifestRow],
    point: NaiveDateTime,
    keep: &mut BTreeSet<String>,
    sources: &mut BTreeSet<String>,
) -> bool {
    let span = match chain::span(backups, tables, point) {
        Ok(span) => span,
        Err(ChainError::NothingAtOrBefore { .. }) => return true,
        Err(ChainError::BrokenChain { .. }) => return false,
    };
    let mut whole = true;
    for m in rows {
        let Some(rank) = span.rank(&m.label) else {
            continue;
        };
        if chain::is_tombstone(rank, m.in_snapshot) || m.source_label.is_empty() {
            continue;
        }
        whole &= usable.contains(m.source_label.as_str());
        keep.insert(m.source_label.clone());
        sources.insert(m.source_label.clone());
    }
    keep.extend(span.labels);
    whole
}

/// What the restore points of a window need, per [`needs`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct WindowNeeds {
    /// Span labels (manifests a fold reads) and snapshots: what retention keeps.
    pub keep: BTreeSet<String>,
    /// Snapshot (a partition's source) -> the tables whose restore points in the window need it.
    pub snapshots: BTreeMap<String, BTreeSet<String>>,
    /// Tables whose chain at some point of the window already needs an unusable snapshot.
    pub broken: BTreeSet<String>,
}

/// What a restore of each table at any point of `[start, now]` needs: the points are the window's
/// start and every FINISHED snapshot time inside the window (the as-of backup only changes at a
/// restore point). `keep_days` 0 gives the newest restore points only. Used by `check` too.
pub(crate) fn window_needs(
    db: &DatabaseHistory,
    now: NaiveDateTime,
    keep_days: u32,
) -> WindowNeeds {
    let start = window_start(now, keep_days);
    let backups: Vec<BackupRecord> = db.rows.iter().map(|r| r.record.clone()).collect();
    let mut points: BTreeSet<NaiveDateTime> = db
        .rows
        .iter()
        .filter(|r| r.record.status == "FINISHED")
        .filter_map(|r| r.record.snapshot_at)
        .filter(|at| *at > start && *at <= now)
        .collect();
    points.insert(start);
    // Snapshots a RESTORE can read: FINISHED with a SHOW SNAPSHOT timestamp.
    let usable: BTreeSet<&str> = db
        .rows
        .iter()
        .filter(|r| r.record.status == "FINISHED")
        .filter(|r| {
            r.record
                .backup_timestamp
                .as_deref()
                .is_some_and(|t| !t.is_empty())
        })
        .map(|r| r.record.label.as_str())
        .collect();
    let mut out = WindowNeeds::default();
    let no_rows = Vec::new();
    for (table, records) in &db.tables {
        let rows = db.manifest.get(table).unwrap_or(&no_rows);
        let mut sources = BTreeSet::new();
        for point in &points {
            if !needs(
                &backups,
                &usable,
                records,
                rows,
                *point,
                &mut out.keep,
                &mut sources,
            ) {
                out.broken.insert(table.clone());
            }
        }
        for s in sources {
            out.snapshots.entry(s).or_default().insert(table.clone());
        }
    }
    out
}

/// The retention rule for one database (pure). `stale_s`: a claim row whose heartbeat is older is dead.
pub fn decide(db: &DatabaseHistory, now: NaiveDateTime, keep_days: u32, stale_s: u64) -> Retention {
    let start = window_start(now, keep_days);
    let finished = |r: &&SnapshotRow| r.record.status == "FINISHED";
    let WindowNeeds {
        mut keep, broken, ..
    } = window_needs(db, now, keep_days);
    // A run still RUNNING (resumed later) recorded a manifest against sources it will keep using.
    let running: BTreeSet<&str> = db
        .rows
        .iter()
        .filter(|r| r.record.status == "RUNNING" && r.backup_type != EXPIRE_CLAIM_TYPE)
        .map(|r| r.record.label.as_str())
        .collect();
    for rows in db.manifest.values() {
        for m in rows.iter().filter(|m| running.contains(m.label.as_str())) {
            keep.insert(m.source_label.clone());
        }
    }
    // The next incremental bases on the latest FINISHED backup: never expire it.
    if let Some(latest) = db
        .rows
        .iter()
        .filter(finished)
        .filter_map(|r| r.record.snapshot_at.map(|at| (at, &r.record.label)))
        .max()
    {
        keep.insert(latest.1.clone());
    }

    let mut expire: Vec<(Option<NaiveDateTime>, String)> = db
        .rows
        .iter()
        .filter(|r| matches!(r.record.status.as_str(), "FINISHED" | "FAILED"))
        .filter(|r| r.backup_type != EXPIRE_CLAIM_TYPE)
        .filter(|r| !keep.contains(&r.record.label))
        // Belt and braces: a FINISHED snapshot taken inside the window is a restore point itself.
        .filter(|r| {
            !(r.record.status == "FINISHED" && r.record.snapshot_at.is_some_and(|at| at >= start))
        })
        .map(|r| {
            (
                r.started_at.or(r.record.snapshot_at),
                r.record.label.clone(),
            )
        })
        .collect();
    expire.sort();

    let (pending, dead_claims) = leftovers(db, now, stale_s);
    let restores = db
        .restores
        .iter()
        .filter(|r| r.status != "RUNNING")
        .filter(|r| r.finished_at.or(r.started_at).is_some_and(|t| t < start))
        .map(|r| r.label.clone())
        .collect();
    Retention {
        database: db.database.clone(),
        keep: keep.into_iter().collect(),
        expire: expire.into_iter().map(|(_, l)| l).collect(),
        pending,
        restores,
        dead_claims,
        broken: broken.into_iter().collect(),
    }
}

/// What dead runs left: EXPIRED rows whose drop is pending, and expire claims whose heartbeat is stale.
fn leftovers(db: &DatabaseHistory, now: NaiveDateTime, stale_s: u64) -> (Vec<String>, Vec<String>) {
    let pending = db
        .rows
        .iter()
        .filter(|r| {
            r.record.status == "EXPIRED" && r.error_message.as_deref() == Some(NOTE_DROP_PENDING)
        })
        .map(|r| r.record.label.clone())
        .collect();
    let stale = chrono::Duration::seconds(i64::try_from(stale_s).unwrap_or(i64::MAX / 2));
    let dead_claims = db
        .rows
        .iter()
        .filter(|r| r.record.status == "RUNNING" && r.backup_type == EXPIRE_CLAIM_TYPE)
        .filter(|r| {
            r.heartbeat_at
                .or(r.started_at)
                .is_none_or(|b| now - b > stale)
        })
        .map(|r| r.record.label.clone())
        .collect();
    (pending, dead_claims)
}

/// The retention rule for catalog snapshots (the ops database's own backups, `catalog_backup`):
/// every FINISHED one but the newest [`CATALOG_KEEP`] expires (planner::catalog::expire_catalog).
/// They hold no table chain, so nothing else keeps them.
pub fn decide_catalog(ops: &DatabaseHistory, now: NaiveDateTime, stale_s: u64) -> Retention {
    let rows: Vec<CatalogRow> = ops
        .rows
        .iter()
        .map(|r| CatalogRow {
            label: r.record.label.clone(),
            status: r.record.status.clone(),
            started_at: r
                .started_at
                .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                .unwrap_or_default(),
        })
        .collect();
    let expire = expire_catalog(&ops.database, &rows, CATALOG_KEEP);
    let keep = rows
        .iter()
        .filter(|r| r.status == "FINISHED" && is_catalog_label(&ops.database, &r.label))
        .map(|r| r.label.clone())
        .filter(|l| !expire.contains(l))
        .collect();
    let (pending, dead_claims) = leftovers(ops, now, stale_s);
    Retention {
        database: ops.database.clone(),
        keep,
        expire,
        pending,
        restores: Vec::new(),
        dead_claims,
        broken: Vec::new(),
    }
}

/// What SHOW SNAPSHOT said about one label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    /// Listed with Status OK. `cluster_id`: the 4.2 ClusterId column (empty: written before 4.2).
    Present { cluster_id: Option<String> },
    /// Not listed, or `ERROR: no snapshot`.
    Absent,
    /// The listing failed (a transient storage error is no proof that a snapshot is gone).
    Unknown { reason: String },
}

/// The repository as discovery read it: one SHOW SNAPSHOT ... WHERE SNAPSHOT IN (...) per repository.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RepositoryView {
    /// The cluster has `DROP SNAPSHOT` (SHOW SNAPSHOT carries the 4.2 columns: ClusterId, ExpireTime).
    pub drop_supported: bool,
    /// (repository, label) -> presence.
    pub snapshots: BTreeMap<(String, String), Presence>,
}

impl RepositoryView {
    fn presence(&self, repo: &str, label: &str) -> Option<&Presence> {
        self.snapshots.get(&(repo.to_string(), label.to_string()))
    }
}

/// What happens to one expired snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposal {
    /// `DROP SNAPSHOT` is sent.
    Drop,
    /// The operator deletes it from storage (listed in the plan and the output).
    DeleteByHand,
    /// Nothing in the repository (failed run, manifest-only record, already gone).
    NoSnapshot,
}

/// One snapshot the plan expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Expiry {
    pub database: String,
    pub label: String,
    pub repository: String,
    pub backup_timestamp: Option<String>,
    pub disposal: Disposal,
    /// True when a dead run already marked the row EXPIRED (only the drop is left).
    pub resumed: bool,
}

/// The typed result of planning, for the command to print (the plan holds the same facts as SQL).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ExpireReport {
    pub window_start: String,
    pub drop_supported: bool,
    pub expired: Vec<Expiry>,
    /// Needed snapshots missing from the repository: rows marked EXPIRED with [`NOTE_VANISHED`].
    pub vanished: Vec<Expiry>,
    /// Needed snapshots whose presence could not be checked (listing failed).
    pub unchecked: Vec<String>,
    pub restores_deleted: usize,
    pub broken_tables: Vec<String>,
}

/// `bbr_expire_<db>_<YYYYMMDDHHMMSS>[_<suffix>]`.
pub fn expire_label(db: &str, now: NaiveDateTime, suffix: Option<&str>) -> String {
    let dbpart: String = db
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .take(48)
        .collect();
    let base = format!("bbr_expire_{dbpart}_{}", now.format("%Y%m%d%H%M%S"));
    match suffix {
        Some(s) => format!("{base}_{s}"),
        None => base,
    }
}

fn mark_expired_sql(ops: &str, label: &str, note: &str, from: &[&str]) -> String {
    format!(
        "UPDATE {} SET {} = 'EXPIRED', {} = {} WHERE {} = {} AND {} IN {}",
        qualified(ops, history::BACKUP_HISTORY),
        ident("status"),
        ident("error_message"),
        literal(note),
        ident("label"),
        literal(label),
        ident("status"),
        literal_list(from)
    )
}

/// Sets the note of an EXPIRED row (after its DROP SNAPSHOT, or when it was refused).
pub fn expired_note_sql(ops: &str, label: &str, note: &str) -> String {
    format!(
        "UPDATE {} SET {} = {} WHERE {} = {} AND {} = 'EXPIRED'",
        qualified(ops, history::BACKUP_HISTORY),
        ident("error_message"),
        literal(note),
        ident("label"),
        literal(label),
        ident("status"),
    )
}

fn delete_manifest_sql(ops: &str, table: &str, db: &str, label: &str) -> String {
    format!(
        "DELETE FROM {} WHERE {} = {} AND {} = {}",
        qualified(ops, table),
        ident("label"),
        literal(label),
        ident("database_name"),
        literal(db)
    )
}

/// `DROP SNAPSHOT <label> ON <repo>` (4.2+, STARROCKS.md §6); never FORCE, never a ttl.
pub fn drop_snapshot_sql(label: &str, repo: &str) -> String {
    format!("DROP SNAPSHOT {} ON {}", ident(label), ident(repo))
}

/// Plans one database: claim, per snapshot mark → forget manifest → drop → record, old restore
/// records, release. Empty when there is nothing to do.
fn plan_database(
    cfg: &Config,
    r: &Retention,
    rows: &BTreeMap<&str, &SnapshotRow>,
    repo: &RepositoryView,
    claim: &str,
    report: &mut ExpireReport,
) -> Vec<Step> {
    let ops = &cfg.ops_database;
    let db = r.database.as_str();
    let step = |kind, description: String, sql: String, details: Option<Details>| {
        job_step(db, claim, kind, description, sql, idempotent(cfg), details)
    };
    let snapshot_details = |e: &Expiry| {
        Some(Details::Snapshot {
            snapshot: e.label.clone(),
            repository: e.repository.clone(),
        })
    };
    let mut work: Vec<Step> = Vec::new();
    let disposal = |row: &SnapshotRow| match (
        row.record
            .backup_timestamp
            .as_deref()
            .filter(|t| !t.is_empty()),
        repo.presence(&row.repository, &row.record.label),
    ) {
        (_, Some(Presence::Absent)) => Disposal::NoSnapshot,
        (None, None) => Disposal::NoSnapshot,
        // A snapshot made before 4.2 carries no ClusterId: DROP without FORCE refuses it. One
        // whose presence could not be checked is left to the operator too.
        (_, Some(Presence::Present { cluster_id: None } | Presence::Unknown { .. })) => {
            Disposal::DeleteByHand
        }
        _ if repo.drop_supported => Disposal::Drop,
        _ => Disposal::DeleteByHand,
    };
    let items = r
        .expire
        .iter()
        .map(|l| (l, false))
        .chain(r.pending.iter().map(|l| (l, true)));
    for (label, resumed) in items {
        let Some(row) = rows.get(label.as_str()) else {
            continue;
        };
        let e = Expiry {
            database: db.to_string(),
            label: label.clone(),
            repository: row.repository.clone(),
            backup_timestamp: row.record.backup_timestamp.clone(),
            disposal: disposal(row),
            resumed,
        };
        let note = match e.disposal {
            Disposal::Drop => NOTE_DROP_PENDING,
            Disposal::DeleteByHand => NOTE_DELETE_BY_HAND,
            Disposal::NoSnapshot => NOTE_NO_SNAPSHOT,
        };
        if !resumed {
            work.push(step(
                StepKind::ExpireRecord,
                format!("mark {label} EXPIRED ({note}) before anything is deleted"),
                mark_expired_sql(ops, label, note, &["FINISHED", "FAILED"]),
                snapshot_details(&e),
            ));
        }
        // Also for a dead run's pending row: it may have died before deleting them.
        for (table, what) in [
            (history::BACKUP_PARTITIONS, "manifest rows"),
            (history::BACKUP_TABLES, "table records"),
        ] {
            work.push(step(
                StepKind::DeleteManifest,
                format!("delete the {what} of {label}"),
                delete_manifest_sql(ops, table, db, label),
                None,
            ));
        }
        match e.disposal {
            Disposal::Drop => {
                work.push(step(
                    StepKind::DropSnapshot,
                    format!("drop snapshot {label} from repository {}", e.repository),
                    drop_snapshot_sql(label, &e.repository),
                    snapshot_details(&e),
                ));
                work.push(step(
                    StepKind::RecordDropped,
                    format!("record that {label} was dropped"),
                    expired_note_sql(ops, label, NOTE_DROPPED),
                    snapshot_details(&e),
                ));
            }
            // A dead run's pending drop whose snapshot is gone now: that run dropped it.
            _ if resumed => work.push(step(
                StepKind::RecordDropped,
                format!("record what became of {label}"),
                expired_note_sql(
                    ops,
                    label,
                    if e.disposal == Disposal::NoSnapshot {
                        NOTE_DROPPED
                    } else {
                        note
                    },
                ),
                snapshot_details(&e),
            )),
            _ => {}
        }
        report.expired.push(e);
    }
    // Needed snapshots that are gone: EXPIRED, so no chain or base uses them again.
    for label in &r.keep {
        let Some(row) = rows.get(label.as_str()) else {
            continue;
        };
        if row.record.status != "FINISHED" {
            continue;
        }
        let has_snapshot = row
            .record
            .backup_timestamp
            .as_deref()
            .is_some_and(|t| !t.is_empty());
        match repo.presence(&row.repository, label) {
            Some(Presence::Absent) if has_snapshot => {
                let e = Expiry {
                    database: db.to_string(),
                    label: label.clone(),
                    repository: row.repository.clone(),
                    backup_timestamp: row.record.backup_timestamp.clone(),
                    disposal: Disposal::NoSnapshot,
                    resumed: false,
                };
                work.push(step(
                    StepKind::ExpireRecord,
                    format!("{label} vanished from repository {}: mark it EXPIRED so the next backup re-bases the tables that needed it", row.repository),
                    mark_expired_sql(ops, label, NOTE_VANISHED, &["FINISHED"]),
                    snapshot_details(&e),
                ));
                report.vanished.push(e);
            }
            Some(Presence::Unknown { reason }) if has_snapshot => {
                report.unchecked.push(format!("{label}: {reason}"));
            }
            _ => {}
        }
    }
    for chunk in r.restores.chunks(RESTORE_DELETE_CHUNK) {
        work.push(step(
            StepKind::DeleteRestoreHistory,
            format!(
                "delete {} restore record(s) that ended before the window",
                chunk.len()
            ),
            format!(
                "DELETE FROM {} WHERE {} IN {}",
                qualified(ops, history::RESTORE_HISTORY),
                ident("label"),
                literal_list(chunk)
            ),
            None,
        ));
    }
    report.restores_deleted += r.restores.len();
    report
        .broken_tables
        .extend(r.broken.iter().map(|t| format!("{db}.{t}")));
    if work.is_empty() && r.dead_claims.is_empty() {
        return work;
    }
    let mut steps = vec![
        step(
            StepKind::RecordRunning,
            format!("claim database {db} for expire (a RUNNING row of type expire)"),
            history::insert_running_sql(
                ops,
                &RunningRow {
                    label: claim,
                    database: db,
                    backup_type: EXPIRE_CLAIM_TYPE,
                    repository: &cfg.repository,
                    base_label: None,
                    partitions: 0,
                    tables_json: "[]",
                },
            ),
            None,
        ),
        step(
            StepKind::Claim,
            format!("proceed only if no backup, restore or expire of {db} holds the database"),
            history::select_running_sql(ops, db),
            Some(Details::Claim {
                heartbeat_stale_s: cfg.heartbeat_stale_s,
            }),
        ),
    ];
    steps.extend(work);
    let mut release: Vec<String> = vec![claim.to_string()];
    release.extend(r.dead_claims.iter().cloned());
    steps.push(step(
        StepKind::ReleaseClaim,
        format!(
            "release the claim on {db} (and {} dead expire claim(s))",
            r.dead_claims.len()
        ),
        format!(
            "DELETE FROM {} WHERE {} IN {}",
            qualified(ops, history::BACKUP_HISTORY),
            ident("label"),
            literal_list(&release)
        ),
        None,
    ));
    steps
}

/// The expire plan for every configured database. `suffix`: the per-attempt label part (None in a
/// dry run, so the same state gives the same plan).
pub fn plan_expire(
    cfg: &Config,
    now: NaiveDateTime,
    keep_days: u32,
    histories: &[DatabaseHistory],
    decisions: &[Retention],
    repo: &RepositoryView,
    suffix: Option<&str>,
) -> (Plan, ExpireReport) {
    let mut report = ExpireReport {
        window_start: window_start(now, keep_days)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string(),
        drop_supported: repo.drop_supported,
        ..ExpireReport::default()
    };
    let mut steps = Vec::new();
    let mut inputs = Vec::new();
    for (h, r) in histories.iter().zip(decisions) {
        let rows: BTreeMap<&str, &SnapshotRow> = h
            .rows
            .iter()
            .map(|r| (r.record.label.as_str(), r))
            .collect();
        let claim = expire_label(&h.database, now, suffix);
        steps.extend(plan_database(cfg, r, &rows, repo, &claim, &mut report));
        inputs.push(serde_json::json!({
            "database": r.database,
            "keep": r.keep,
            "expire": r.expire,
            "pending": r.pending,
            "restores_deleted": r.restores.len(),
            "dead_claims": r.dead_claims,
            "broken_tables": r.broken,
        }));
    }
    let inputs = serde_json::json!({
        "cluster_time": now.format("%Y-%m-%d %H:%M:%S").to_string(),
        "keep_days": keep_days,
        "window_start": report.window_start,
        "drop_snapshot_supported": repo.drop_supported,
        "databases": inputs,
        "delete_from_storage": report
            .expired
            .iter()
            .filter(|e| e.disposal == Disposal::DeleteByHand)
            .map(|e| serde_json::json!({"label": e.label, "repository": e.repository, "backup_timestamp": e.backup_timestamp}))
            .collect::<Vec<_>>(),
        "vanished": report.vanished.iter().map(|e| e.label.clone()).collect::<Vec<_>>(),
    });
    (Plan::new(Command::Expire, inputs, steps), report)
}

#[cfg(test)]
#[path = "expire_tests.rs"]
mod tests;
