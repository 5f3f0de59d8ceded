//! The steps and statements of a backup job, apart from the decisions (planner/backup.rs): labels,
//! the BACKUP / SHOW / CANCEL statements, the claim -> manifest -> BACKUP -> poll -> finalize step
//! sequence of one database, manifest-only records, and the resume of a dead run's job.

use super::backup::ResumeJob;
use super::{finalize_step, job_step};
use crate::config::Config;
use crate::history::{
    self, finalize_template, insert_running_sql, ManifestInsert, ManifestRowRef, RunningRow,
    FINALIZE_PLACEHOLDERS,
};
use crate::plan::{BackupObject, BackupType, Details, Step, StepKind};
use crate::sql::{ident, literal, qualified};

/// Manifest rows per INSERT statement.
pub const MANIFEST_CHUNK: usize = 500;

/// `bbr_<db>_<YYYYMMDDHHMMSS>_<full|incr>[_<suffix>]`; the db part is sanitised and bounded so the
/// label fits VARCHAR(96) and StarRocks' label rules.
pub fn make_label(db: &str, cluster_time: &str, ty: BackupType, suffix: Option<&str>) -> String {
    let mut dbpart: String = db
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    dbpart.truncate(48);
    let stamp: String = cluster_time
        .chars()
        .filter(char::is_ascii_digit)
        .take(14)
        .collect();
    let ty = match ty {
        BackupType::Full => "full",
        BackupType::Incremental => "incr",
    };
    match suffix {
        Some(s) => format!("bbr_{dbpart}_{stamp}_{ty}_{s}"),
        None => format!("bbr_{dbpart}_{stamp}_{ty}"),
    }
}

/// A fresh per-attempt suffix: 6 random `[a-z0-9]`.
pub fn random_suffix() -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..6)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

/// The BACKUP statement for one database.
pub fn backup_sql(
    db: &str,
    label: &str,
    repository: &str,
    objects: &[BackupObject],
    timeout_s: u64,
) -> String {
    let on: Vec<String> = objects
        .iter()
        .map(|o| {
            if o.whole_table {
                ident(&o.table)
            } else {
                let parts: Vec<String> = o.partitions.iter().map(|p| ident(p)).collect();
                format!("{} PARTITION ({})", ident(&o.table), parts.join(", "))
            }
        })
        .collect();
    format!(
        "BACKUP SNAPSHOT {} TO {} ON ({}) PROPERTIES (\"timeout\" = \"{}\")",
        qualified(db, label),
        ident(repository),
        on.join(", "),
        timeout_s
    )
}

pub fn show_backup_sql(db: &str) -> String {
    format!("SHOW BACKUP FROM {}", ident(db))
}

pub fn show_snapshot_sql(repository: &str, label: &str) -> String {
    format!(
        "SHOW SNAPSHOT ON {} WHERE SNAPSHOT = {}",
        ident(repository),
        literal(label)
    )
}

pub fn cancel_backup_sql(db: &str) -> String {
    format!("CANCEL BACKUP FROM {}", ident(db))
}

/// The three steps that see a submitted job through: poll, resolve the timestamp, finalize.
pub fn completion_steps(cfg: &Config, db: &str, label: &str, resume: bool) -> Vec<Step> {
    vec![
        job_step(
            db,
            label,
            StepKind::PollBackup,
            format!(
                "poll SHOW BACKUP until {label} is FINISHED or CANCELLED (heartbeat refreshed)"
            ),
            show_backup_sql(db),
            super::idempotent(cfg),
            Some(Details::Poll {
                initial_ms: cfg.poll.initial_ms,
                max_ms: cfg.poll.max_ms,
                job_timeout_s: cfg.job_timeout_s,
                resume,
            }),
        ),
        job_step(
            db,
            label,
            StepKind::ResolveSnapshotTimestamp,
            "read the snapshot's exact backup_timestamp".to_string(),
            show_snapshot_sql(&cfg.repository, label),
            super::idempotent(cfg),
            None,
        ),
        finalize_step(
            cfg,
            db,
            label,
            "mark the history row FINISHED or FAILED",
            finalize_template(&cfg.ops_database, label),
            &FINALIZE_PLACEHOLDERS,
        ),
    ]
}

/// Steps that finish RUNNING rows left by dead runs (no claim: the job already exists or never will).
pub fn plan_resume(cfg: &Config, jobs: &[ResumeJob]) -> Vec<Step> {
    jobs.iter()
        .flat_map(|j| completion_steps(cfg, &j.database, &j.label, true))
        .collect()
}

/// Puts a database's RecordLeftOut step right after its claim and base check, under the job's
/// label: a run that loses the claim (exit 4) skips it, so it never writes a FAILED `_left` row
/// for a run that did not happen, and concurrent runs do not duplicate it.
pub(super) fn after_claim(mut db_steps: Vec<Step>, left: Option<Step>, label: &str) -> Vec<Step> {
    if let Some(mut left) = left {
        left.label = Some(label.to_string());
        let at = db_steps
            .iter()
            .position(|s| s.kind == StepKind::CheckBase)
            .map_or(0, |i| i + 1);
        db_steps.insert(at, left);
    }
    db_steps
}

/// Manifest rows rendered into one multi-row INSERT per [`MANIFEST_CHUNK`] rows as they come.
pub(super) struct ManifestChunks {
    current: ManifestInsert,
    done: Vec<(String, usize)>,
}

impl ManifestChunks {
    pub(super) fn new(ops: &str) -> Self {
        ManifestChunks {
            current: ManifestInsert::new(ops),
            done: Vec::new(),
        }
    }

    pub(super) fn push(&mut self, row: ManifestRowRef<'_>) {
        self.current.push(row);
        if self.current.rows() >= MANIFEST_CHUNK {
            self.flush();
        }
    }

    fn flush(&mut self) {
        let rows = self.current.rows();
        if rows > 0 {
            self.done.push((self.current.take(), rows));
        }
    }

    /// (INSERT statement, rows) per chunk.
    pub(super) fn finish(mut self) -> Vec<(String, usize)> {
        self.flush();
        self.done
    }
}

/// A manifest-only record: the claim and manifest steps of an incremental, no BACKUP, and a Finalize
/// that is a complete statement (FINISHED, no backup_timestamp, snapshot_at = NOW()).
pub(super) fn manifest_only_steps(
    cfg: &Config,
    db: &str,
    label: &str,
    base_label: Option<&str>,
    manifest: Vec<(String, usize)>,
) -> Vec<Step> {
    let mut steps: Vec<Step> = database_steps(
        cfg,
        db,
        label,
        BackupType::Incremental,
        base_label,
        Vec::new(),
        manifest,
        0,
    )
    .into_iter()
    .filter(|s| {
        matches!(
            s.kind,
            StepKind::RecordRunning
                | StepKind::Claim
                | StepKind::CheckBase
                | StepKind::RecordManifest
        )
    })
    .collect();
    steps.push(finalize_step(
        cfg,
        db,
        label,
        "mark the row FINISHED without a snapshot (partitions were only dropped)",
        history::finalize_manifest_only_sql(&cfg.ops_database, label),
        &[],
    ));
    steps
}

#[allow(clippy::too_many_arguments)]
pub(super) fn database_steps(
    cfg: &Config,
    db: &str,
    label: &str,
    ty: BackupType,
    base_label: Option<&str>,
    objects: Vec<BackupObject>,
    manifest: Vec<(String, usize)>,
    partitions: usize,
) -> Vec<Step> {
    let ops = &cfg.ops_database;
    let step = |kind, description: String, sql: String, details| {
        job_step(
            db,
            label,
            kind,
            description,
            sql,
            super::idempotent(cfg),
            details,
        )
    };
    let tables: Vec<&str> = objects.iter().map(|o| o.table.as_str()).collect();
    let tables_json = serde_json::to_string(&tables).unwrap_or_else(|_| "[]".into());
    let partitions_u32 = u32::try_from(partitions).unwrap_or(u32::MAX);
    let mut steps = vec![
        step(
            StepKind::RecordRunning,
            format!("write the RUNNING {ty} row for {db} (the claim)"),
            insert_running_sql(
                ops,
                &RunningRow {
                    label,
                    database: db,
                    backup_type: &ty.to_string(),
                    repository: &cfg.repository,
                    base_label,
                    partitions: partitions_u32,
                    tables_json: &tables_json,
                },
            ),
            None,
        ),
        step(
            StepKind::Claim,
            format!(
                "wait until the cluster clock passed our started_at, then proceed only if ours is the oldest live RUNNING row of {db}"
            ),
            history::select_running_sql(ops, db),
            Some(Details::Claim {
                heartbeat_stale_s: cfg.heartbeat_stale_s,
            }),
        ),
        step(
            StepKind::CheckBase,
            "check the base is still the latest FINISHED backup (else the plan is stale)"
                .to_string(),
            history::select_latest_finished_sql(ops, db),
            Some(Details::CheckBase {
                expected_base_label: base_label.map(str::to_string),
            }),
        ),
    ];
    let n = u32::try_from(manifest.len()).unwrap_or(u32::MAX);
    for (i, (sql, rows)) in manifest.into_iter().enumerate() {
        let i = u32::try_from(i).unwrap_or(u32::MAX);
        steps.push(step(
            StepKind::RecordManifest,
            format!("record the manifest ({rows} rows)"),
            sql,
            Some(Details::Manifest {
                chunk: i + 1,
                chunks: n,
                rows: u32::try_from(rows).unwrap_or(u32::MAX),
            }),
        ));
    }
    let sql = backup_sql(db, label, &cfg.repository, &objects, cfg.job_timeout_s);
    steps.push(job_step(
        db,
        label,
        StepKind::IssueBackup,
        format!("send the {ty} BACKUP of {db}"),
        sql,
        super::submission(cfg),
        Some(Details::Backup {
            backup_type: ty,
            base_label: base_label.map(str::to_string),
            objects,
            partitions: partitions_u32,
        }),
    ));
    steps.extend(completion_steps(cfg, db, label, false));
    steps
}
