//! Repositories, snapshots and BACKUP/RESTORE jobs on the virtual clock (STARROCKS.md §1–3).
//!
//! Jobs are advanced lazily: every statement and control call first replays the transitions whose
//! virtual time has come, so a state change always sees the model exactly as it was at that moment.

use std::collections::BTreeMap;

use chrono::{FixedOffset, NaiveDateTime};
use rusqlite::types::Value;
use sqlparser::tokenizer::Token;

use crate::cluster::{
    fmt_time, in_zone, ok, Cluster, JobInfo, JobKind, Output, Session, Table, TableState,
};
use crate::sql::{err, Cur};
use crate::storage::RepositoryStore;
use crate::SimError;

/// ErrorCode.ERR_COMMON_ERROR.
pub(crate) const ER_COMMON: u16 = 5064;
/// Analyzer errors about tables/partitions in BACKUP.
pub(crate) const ER_ANALYZE: u16 = 1064;

pub(crate) const BACKUP_STATES: [&str; 7] = [
    "PENDING",
    "SNAPSHOTING",
    "UPLOAD_SNAPSHOT",
    "UPLOADING",
    "SAVE_META",
    "UPLOAD_INFO",
    "FINISHED",
];
pub(crate) const RESTORE_STATES: [&str; 7] = [
    "PENDING",
    "SNAPSHOTING",
    "DOWNLOAD",
    "DOWNLOADING",
    "COMMIT",
    "COMMITTING",
    "FINISHED",
];
pub(crate) const FINISHED: usize = 6;

/// Index of a backup or restore state name (`PENDING` = 0 ... `FINISHED` = 6).
pub(crate) fn state_index(name: &str) -> Option<usize> {
    let n = name.trim().to_ascii_uppercase();
    BACKUP_STATES
        .iter()
        .position(|s| *s == n)
        .or_else(|| RESTORE_STATES.iter().position(|s| *s == n))
}
/// Index of the first upload state: from here a backup's label is taken in the repository.
pub(crate) const UPLOADING: usize = 3;
/// The FE keeps finished jobs for `history_job_keep_max_second` (7 days).
pub(crate) const KEEP_SECS: i64 = 7 * 24 * 3600;

pub(crate) fn analyzing(msg: impl std::fmt::Display) -> SimError {
    err(
        ER_COMMON,
        format!("Getting analyzing error. Detail message: {msg}."),
    )
}

/// A snapshot written (or being written) to a repository.
#[derive(Debug, Clone)]
pub(crate) struct Snap {
    pub(crate) label: String,
    pub(crate) timestamp: String,
    pub(crate) db: String,
    pub(crate) create_time: NaiveDateTime,
    /// Tables as captured, partitions limited to the backed-up ones.
    pub(crate) tables: Vec<Table>,
    /// SQLite rows per (table, partition), with the column names per table.
    pub(crate) rows: BTreeMap<(String, String), Vec<Vec<Value>>>,
    pub(crate) finished: bool,
    /// 4.2+: the cluster that wrote it (None: written before 4.2) and when its backup finished.
    pub(crate) cluster_id: Option<String>,
    pub(crate) finish_time: Option<NaiveDateTime>,
}

/// A repository and the snapshots written to it.
#[derive(Debug, Clone)]
pub(crate) struct Repo {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) read_only: bool,
    pub(crate) location: String,
    pub(crate) create_time: NaiveDateTime,
    /// The storage its snapshots live in (shared with other clusters at the same location + name).
    pub(crate) store: RepositoryStore,
    /// Info files whose names do not decode (e.g. a half-written `__info_<ts>.part`): label ->
    /// (file name, listed before the real ones).
    pub(crate) stray_info_files: Vec<(String, String, bool)>,
}

impl Repo {
    pub(crate) fn info_path(&self, label: &str, ts: &str) -> String {
        format!("{}/__ss_{label}/__info_{ts}", self.root())
    }

    /// `<location>/__starrocks_repository_<name>`: the key of its snapshots in the storage.
    pub(crate) fn root(&self) -> String {
        crate::storage::repo_root(&self.location, &self.name)
    }

    /// Runs `f` on the snapshots in the repository's storage.
    pub(crate) fn snapshots<R>(&self, f: impl FnOnce(&mut Vec<Snap>) -> R) -> R {
        self.store.with(&self.root(), f)
    }

    /// A copy of the snapshots in listing order.
    pub(crate) fn list(&self) -> Vec<Snap> {
        self.store.list(&self.root())
    }

    /// Runs `f` on the snapshots in listing order without copying them (a snapshot of 1M
    /// partitions is costly to clone; SHOW SNAPSHOT reads a few fields of each).
    pub(crate) fn with_snaps<R>(&self, f: impl FnOnce(&[Snap]) -> R) -> R {
        self.store.with(&self.root(), |v| f(v))
    }
}

impl Snap {
    /// The snapshot without its captured tables and rows: what a listing reads.
    pub(crate) fn head(&self) -> Snap {
        Snap {
            label: self.label.clone(),
            timestamp: self.timestamp.clone(),
            db: self.db.clone(),
            create_time: self.create_time,
            tables: Vec::new(),
            rows: BTreeMap::new(),
            finished: self.finished,
            cluster_id: self.cluster_id.clone(),
            finish_time: self.finish_time,
        }
    }
}

/// `tbl [PARTITION (p1, p2)] [AS alias]` of an ON clause.
#[derive(Debug, Clone)]
pub(crate) struct ObjRef {
    pub(crate) table: String,
    pub(crate) partitions: Vec<String>,
    pub(crate) alias: Option<String>,
}

/// A BACKUP or RESTORE job.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub(crate) kind: JobKind,
    pub(crate) id: i64,
    pub(crate) picked: bool,
    pub(crate) db: String,
    pub(crate) label: String,
    pub(crate) repo: String,
    pub(crate) state: usize,
    pub(crate) cancelled: bool,
    pub(crate) status: String,
    pub(crate) objs: Vec<ObjRef>,
    pub(crate) create_time: NaiveDateTime,
    pub(crate) next_at: NaiveDateTime,
    /// Milestones by state index entered (1 = left PENDING, ...), and the end time.
    pub(crate) entered: [Option<NaiveDateTime>; 7],
    pub(crate) finished_time: Option<NaiveDateTime>,
    pub(crate) timeout_s: i64,
    pub(crate) forced_cancel: Option<(usize, String)>,
    /// Backup: its snapshot timestamp. Restore: the requested backup_timestamp.
    pub(crate) timestamp: String,
    pub(crate) replication_num: u32,
    pub(crate) allow_load: bool,
    /// Restore: tables this job created (dropped again on cancel).
    pub(crate) created_tables: Vec<String>,
    /// Restore: tables put into RESTORE state.
    pub(crate) locked_tables: Vec<String>,
}

impl Job {
    pub(crate) fn done(&self) -> bool {
        self.cancelled || self.state == FINISHED
    }

    pub(crate) fn state_name(&self) -> &'static str {
        if self.cancelled {
            return "CANCELLED";
        }
        match self.kind {
            JobKind::Backup => BACKUP_STATES[self.state],
            JobKind::Restore => RESTORE_STATES[self.state],
        }
    }

    pub(crate) fn objs_text(&self) -> String {
        self.objs
            .iter()
            .map(|o| {
                let name = o.alias.as_ref().unwrap_or(&o.table);
                if o.partitions.is_empty() {
                    format!("[{}.{name}]", self.db)
                } else {
                    format!(
                        "[{}.{name}PARTITIONS ({})]",
                        self.db,
                        o.partitions.join(", ")
                    )
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub(crate) fn info(&self) -> JobInfo {
        JobInfo {
            kind: self.kind,
            job_id: if self.picked { self.id } else { -1 },
            db: self.db.clone(),
            label: self.label.clone(),
            repository: self.repo.clone(),
            state: self.state_name().to_string(),
            status: self.status.clone(),
            objects: self
                .objs
                .iter()
                .map(|o| {
                    let name = o.alias.as_ref().unwrap_or(&o.table);
                    if o.partitions.is_empty() {
                        name.clone()
                    } else {
                        format!("{name} PARTITION ({})", o.partitions.join(", "))
                    }
                })
                .collect(),
            timestamp: self.timestamp.clone(),
        }
    }
}

pub(crate) fn t(v: Option<NaiveDateTime>, tz: FixedOffset) -> Option<String> {
    v.map(|x| fmt_time(in_zone(x, tz)))
}

/// Parses `ON ( [TABLE] t [PARTITION (p, ...)] [AS a], ... )` (cursor after ON).
pub(crate) fn parse_on(c: &mut Cur) -> Result<Vec<ObjRef>, SimError> {
    c.expect(&Token::LParen)?;
    let mut out = Vec::new();
    loop {
        c.eat_kw("TABLE");
        let (_, table) = c.qualified()?;
        let mut partitions = Vec::new();
        if c.eat_kw("PARTITION") || c.eat_kw("PARTITIONS") {
            partitions = c.ident_list()?;
        }
        let alias = if c.eat_kw("AS") {
            Some(c.ident()?)
        } else {
            None
        };
        out.push(ObjRef {
            table,
            partitions,
            alias,
        });
        if c.eat(&Token::Comma) {
            continue;
        }
        c.expect(&Token::RParen)?;
        return Ok(out);
    }
}

impl Cluster {
    pub(crate) fn state_duration(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.opts.job_state_duration)
            .unwrap_or_else(|_| chrono::Duration::seconds(2))
    }

    /// When a new job leaves PENDING: the first scheduler pass (3 s) or one state duration.
    pub(crate) fn first_transition(&self, created: NaiveDateTime) -> NaiveDateTime {
        let d = self.state_duration().max(chrono::Duration::seconds(3));
        created + d
    }

    /// A job as BACKUP / RESTORE submit it: PENDING, created now, nothing entered yet.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new_job(
        &self,
        kind: JobKind,
        db: String,
        label: String,
        repo: String,
        objs: Vec<ObjRef>,
        timeout_s: i64,
        timestamp: String,
    ) -> Job {
        let now = self.now();
        Job {
            kind,
            id: 0,
            picked: false,
            db,
            label,
            repo,
            state: 0,
            cancelled: false,
            status: "[OK]".to_string(),
            objs,
            create_time: now,
            next_at: self.first_transition(now),
            entered: [None; 7],
            finished_time: None,
            timeout_s,
            forced_cancel: None,
            timestamp,
            replication_num: 0,
            allow_load: false,
            created_tables: Vec::new(),
            locked_tables: Vec::new(),
        }
    }

    pub(crate) fn set_stalled(&mut self, stalled: bool) {
        self.update_jobs();
        if self.stalled && !stalled {
            // resume where they were: the current state lasts a full duration from now
            let d = self.state_duration();
            let now = self.now();
            for j in self.jobs.iter_mut().filter(|j| !j.done()) {
                j.next_at = j.next_at.max(now + d);
            }
        }
        self.stalled = stalled;
    }

    /// Replays every job transition due by now.
    pub(crate) fn update_jobs(&mut self) {
        let now = self.now();
        let mut jobs = std::mem::take(&mut self.jobs);
        for j in jobs.iter_mut() {
            loop {
                if j.done() {
                    break;
                }
                let timeout_at = j.create_time + chrono::Duration::seconds(j.timeout_s);
                let next = if self.stalled { None } else { Some(j.next_at) };
                if timeout_at <= now && next.is_none_or(|n| timeout_at <= n) {
                    self.cancel_job(j, "[TIMEOUT, msg: ]".to_string(), timeout_at);
                    break;
                }
                match next {
                    Some(at) if at <= now => self.transition(j, at),
                    _ => break,
                }
            }
        }
        // jobs submitted by transitions (none today) would land in self.jobs
        jobs.append(&mut self.jobs);
        self.jobs = jobs;
    }

    pub(crate) fn cancel_job(&mut self, j: &mut Job, status: String, at: NaiveDateTime) {
        j.cancelled = true;
        j.status = status;
        j.finished_time = Some(at);
        if j.kind == JobKind::Restore {
            for t in std::mem::take(&mut j.created_tables) {
                let _ = self.drop_table(&j.db, &t);
            }
            for t in std::mem::take(&mut j.locked_tables) {
                if let Ok(tb) = self.table_mut(&j.db, &t) {
                    tb.state = TableState::Normal;
                }
            }
        }
        // a backup cancelled after upload began leaves a half-written snapshot (label stays taken)
        if j.kind == JobKind::Backup {
            if let Some(r) = self.repos.get(&j.repo) {
                if j.state < UPLOADING {
                    r.snapshots(|v| {
                        v.retain(|s| {
                            !(s.label == j.label && s.timestamp == j.timestamp && !s.finished)
                        })
                    });
                }
            }
        }
    }

    /// Moves a job out of its current state at virtual time `at`.
    pub(crate) fn transition(&mut self, j: &mut Job, at: NaiveDateTime) {
        let d = self.state_duration();
        if j.forced_cancel.as_ref().is_some_and(|(s, _)| *s == j.state) {
            if let Some((_, status)) = j.forced_cancel.take() {
                self.cancel_job(j, status, at);
                return;
            }
        }
        if j.state == 0 {
            j.picked = true;
            let res = match j.kind {
                JobKind::Backup => self.capture_snapshot(j),
                JobKind::Restore => self.prepare_restore(j),
            };
            if let Err(status) = res {
                self.cancel_job(j, status, at);
                return;
            }
        }
        j.state += 1;
        j.entered[j.state] = Some(at);
        j.next_at = at + d;
        match (j.kind, j.state) {
            (JobKind::Backup, UPLOADING) => {
                // the snapshot directory now exists in the repository
            }
            (JobKind::Backup, FINISHED) => {
                j.finished_time = Some(at);
                if let Some(r) = self.repos.get(&j.repo) {
                    r.snapshots(|v| {
                        if let Some(s) = v
                            .iter_mut()
                            .find(|s| s.label == j.label && s.timestamp == j.timestamp)
                        {
                            s.finished = true;
                            s.finish_time = Some(at);
                        }
                    });
                }
            }
            (JobKind::Restore, FINISHED) => {
                j.finished_time = Some(at);
                if let Err(status) = self.commit_restore(j, at) {
                    j.state = 5;
                    self.cancel_job(j, status, at);
                }
            }
            _ => {}
        }
    }

    /// The last job of a database, if it is still visible (finished jobs expire after 7 days).
    pub(crate) fn last_job(&self, db: &str) -> Option<&Job> {
        let now = self.now();
        self.jobs.iter().rev().find(|j| j.db == db).filter(|j| {
            j.finished_time
                .is_none_or(|f| (now - f).num_seconds() < KEEP_SECS)
        })
    }

    pub(crate) fn running_job(&self, db: &str) -> bool {
        self.jobs.iter().any(|j| j.db == db && !j.done())
    }

    pub(crate) fn submit(&mut self, mut j: Job) {
        j.id = self.next_id() as i64;
        j.forced_cancel = self.faults.cancel_next_job.take();
        // a backup only holds data captured later; snapshots of older labels are untouched
        self.jobs.push(j);
    }

    /// `CANCEL BACKUP FROM db` / `CANCEL RESTORE FROM db`.
    pub(crate) fn cancel(&mut self, s: &Session, c: &mut Cur) -> Result<Output, SimError> {
        c.expect_kw("CANCEL")?;
        let kind = if c.eat_kw("BACKUP") {
            JobKind::Backup
        } else {
            c.expect_kw("RESTORE")?;
            JobKind::Restore
        };
        let db = if c.eat_kw("FROM") || c.eat_kw("IN") {
            c.ident()?
        } else {
            s.db.clone()
                .ok_or_else(|| err(1046, "No database selected"))?
        };
        c.expect_end()?;
        if !self.dbs.contains_key(&db) {
            return Err(self.unknown_db(&db));
        }
        let now = self.now();
        let pos = self
            .jobs
            .iter()
            .rposition(|j| j.db == db)
            .filter(|&k| self.jobs[k].kind == kind && !self.jobs[k].done());
        let Some(k) = pos else {
            return Err(err(
                ER_COMMON,
                match kind {
                    JobKind::Backup => "No backup job is currently running",
                    JobKind::Restore => "No restore is currently running",
                },
            ));
        };
        let mut j = self.jobs.remove(k);
        let status = match kind {
            JobKind::Backup => "[COMMON_ERROR, msg: user cancelled]".to_string(),
            JobKind::Restore => format!(
                "[COMMON_ERROR, msg: user cancelled, current state: {}]",
                j.state_name()
            ),
        };
        self.cancel_job(&mut j, status, now);
        self.jobs.insert(k, j);
        ok()
    }

    pub(crate) fn jobs(&self) -> Vec<JobInfo> {
        self.jobs.iter().map(|j| j.info()).collect()
    }
}
