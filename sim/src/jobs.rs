//! Repositories, snapshots and BACKUP/RESTORE jobs on the virtual clock (STARROCKS.md §1–3).
//!
//! Jobs are advanced lazily: every statement and control call first replays the transitions whose
//! virtual time has come, so a state change always sees the model exactly as it was at that moment.

use std::collections::BTreeMap;

use chrono::{FixedOffset, NaiveDateTime};
use rusqlite::types::Value;
use sqlparser::tokenizer::Token;

use crate::cluster::{
    fmt_time, in_zone, ok, Cluster, JobInfo, JobKind, Output, Partition, Session, SnapshotInfo,
    SnapshotPartition, SnapshotTable, Table, TableState,
};
use crate::sql::{err, sqlite_ident, table_ident, Cur};
use crate::storage::RepositoryStore;
use crate::SimError;

/// ErrorCode.ERR_COMMON_ERROR.
const ER_COMMON: u16 = 5064;
/// Analyzer errors about tables/partitions in BACKUP.
const ER_ANALYZE: u16 = 1064;

const BACKUP_STATES: [&str; 7] = [
    "PENDING",
    "SNAPSHOTING",
    "UPLOAD_SNAPSHOT",
    "UPLOADING",
    "SAVE_META",
    "UPLOAD_INFO",
    "FINISHED",
];
const RESTORE_STATES: [&str; 7] = [
    "PENDING",
    "SNAPSHOTING",
    "DOWNLOAD",
    "DOWNLOADING",
    "COMMIT",
    "COMMITTING",
    "FINISHED",
];
const FINISHED: usize = 6;

/// Index of a backup or restore state name (`PENDING` = 0 ... `FINISHED` = 6).
pub(crate) fn state_index(name: &str) -> Option<usize> {
    let n = name.trim().to_ascii_uppercase();
    BACKUP_STATES
        .iter()
        .position(|s| *s == n)
        .or_else(|| RESTORE_STATES.iter().position(|s| *s == n))
}
/// Index of the first upload state: from here a backup's label is taken in the repository.
const UPLOADING: usize = 3;
/// The FE keeps finished jobs for `history_job_keep_max_second` (7 days).
const KEEP_SECS: i64 = 7 * 24 * 3600;

fn analyzing(msg: impl std::fmt::Display) -> SimError {
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
    fn info_path(&self, label: &str, ts: &str) -> String {
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

    fn state_name(&self) -> &'static str {
        if self.cancelled {
            return "CANCELLED";
        }
        match self.kind {
            JobKind::Backup => BACKUP_STATES[self.state],
            JobKind::Restore => RESTORE_STATES[self.state],
        }
    }

    fn objs_text(&self) -> String {
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

    fn info(&self) -> JobInfo {
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

fn t(v: Option<NaiveDateTime>, tz: FixedOffset) -> Option<String> {
    v.map(|x| fmt_time(in_zone(x, tz)))
}

/// Parses `ON ( [TABLE] t [PARTITION (p, ...)] [AS a], ... )` (cursor after ON).
fn parse_on(c: &mut Cur) -> Result<Vec<ObjRef>, SimError> {
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
    fn state_duration(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.opts.job_state_duration)
            .unwrap_or_else(|_| chrono::Duration::seconds(2))
    }

    /// When a new job leaves PENDING: the first scheduler pass (3 s) or one state duration.
    fn first_transition(&self, created: NaiveDateTime) -> NaiveDateTime {
        let d = self.state_duration().max(chrono::Duration::seconds(3));
        created + d
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

    fn cancel_job(&mut self, j: &mut Job, status: String, at: NaiveDateTime) {
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
    fn transition(&mut self, j: &mut Job, at: NaiveDateTime) {
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

    /// BACKUP leaving PENDING: record each partition's visible version and rows.
    fn capture_snapshot(&mut self, j: &mut Job) -> Result<(), String> {
        let mut tables = Vec::new();
        let mut rows = BTreeMap::new();
        for o in &j.objs {
            let Some(t) = self.dbs.get(&j.db).and_then(|d| d.tables.get(&o.table)) else {
                return Err(format!(
                    "[NOT_FOUND, msg: table {} does not exist]",
                    o.table
                ));
            };
            let mut t = t.clone();
            t.partitions.retain(|p| {
                !p.is_temp && (o.partitions.is_empty() || o.partitions.contains(&p.name))
            });
            let data = self
                .dump_rows(&j.db, &t)
                .map_err(|e| format!("[COMMON_ERROR, msg: {}]", e.message))?;
            for (p, r) in data {
                rows.insert((t.name.clone(), p), r);
            }
            tables.push(t);
        }
        let snap = Snap {
            label: j.label.clone(),
            timestamp: j.timestamp.clone(),
            db: j.db.clone(),
            create_time: j.create_time,
            tables,
            rows,
            finished: false,
            cluster_id: self
                .drop_snapshot_enabled()
                .then(|| self.opts.cluster_id.clone()),
            finish_time: None,
        };
        if let Some(r) = self.repos.get(&j.repo) {
            r.snapshots(|v| v.push(snap));
        }
        Ok(())
    }

    /// SQLite rows of a table grouped by the partition they fall into.
    fn dump_rows(
        &mut self,
        db: &str,
        t: &Table,
    ) -> Result<BTreeMap<String, Vec<Vec<Value>>>, SimError> {
        let mut out: BTreeMap<String, Vec<Vec<Value>>> = BTreeMap::new();
        let names: Vec<String> = t.columns.iter().map(|c| sqlite_ident(&c.name)).collect();
        if names.is_empty() {
            return Ok(out);
        }
        let pidx = t
            .partition_column
            .as_ref()
            .and_then(|pc| t.columns.iter().position(|c| &c.name == pc));
        let sql = format!(
            "SELECT {} FROM {}",
            names.join(", "),
            table_ident(db, &t.name)
        );
        let mut stmt = self
            .db
            .prepare(&sql)
            .map_err(|e| err(1064, e.to_string()))?;
        let n = names.len();
        let mut q = stmt.query([]).map_err(|e| err(1064, e.to_string()))?;
        while let Some(r) = q.next().map_err(|e| err(1064, e.to_string()))? {
            let mut row = Vec::with_capacity(n);
            for k in 0..n {
                row.push(r.get::<_, Value>(k).map_err(|e| err(1064, e.to_string()))?);
            }
            let part = match pidx {
                None => t.partitions.first().map(|p| p.name.clone()),
                Some(k) => {
                    let v = match &row[k] {
                        Value::Integer(i) => i.to_string(),
                        Value::Real(f) => f.to_string(),
                        Value::Text(s) => s.clone(),
                        _ => String::new(),
                    };
                    t.route(&v)
                        .and_then(|k| t.partitions.get(k))
                        .map(|p| p.name.clone())
                }
            };
            if let Some(p) = part {
                out.entry(p).or_default().push(row);
            }
        }
        Ok(out)
    }

    fn find_snap(&self, repo: &str, label: &str, ts: &str) -> Option<Snap> {
        self.repos.get(repo).and_then(|r| {
            r.snapshots(|v| {
                v.iter()
                    .find(|s| s.label == label && s.timestamp == ts && s.finished)
                    .cloned()
            })
        })
    }

    /// RESTORE leaving PENDING: the checks against existing tables, creating new ones.
    fn prepare_restore(&mut self, j: &mut Job) -> Result<(), String> {
        let Some(snap) = self.find_snap(&j.repo, &j.label, &j.timestamp) else {
            return Err(format!(
                "[NOT_FOUND, msg: snapshot {} does not exist]",
                j.label
            ));
        };
        let rn = j.replication_num;
        for o in &j.objs {
            let Some(st) = snap.tables.iter().find(|t| t.name == o.table) else {
                continue;
            };
            let target = o.alias.clone().unwrap_or_else(|| o.table.clone());
            let parts: Vec<&Partition> = st
                .partitions
                .iter()
                .filter(|p| o.partitions.is_empty() || o.partitions.contains(&p.name))
                .collect();
            if self.table_exists(&j.db, &target) {
                alias_onto_existing(o)?;
            }
            if let Some(local) = self.dbs.get(&j.db).and_then(|d| d.tables.get(&target)) {
                crate::signature::check_existing(local, st, &target)?;
                for p in &parts {
                    match local.partition(&p.name) {
                        Some(_)
                            if !p.physical.is_empty()
                                && self.release >= crate::Release::new(3, 2, 0) =>
                        {
                            // RestoreJob.java:700-705 (subPartitions.size() > 1)
                            return Err(format!(
                                "[COMMON_ERROR, msg: Partition {} in table {target} is automatic bucket partition, can not be restored]",
                                p.name
                            ));
                        }
                        Some(lp) => {
                            if lp.lower != p.lower || lp.upper != p.upper {
                                return Err(format!(
                                    "[COMMON_ERROR, msg: Partition {} in table {target} has different range with partition in repository]",
                                    p.name
                                ));
                            }
                            if lp.replication_num != rn {
                                return Err(format!(
                                    "[COMMON_ERROR, msg: Partition {} in table {target} has different replication num '{}' with partition in repository, which is {rn}]",
                                    p.name, lp.replication_num
                                ));
                            }
                        }
                        None if !local.is_partitioned() || local.is_list() => {
                            // RestoreJob.java:740-766: only RANGE tables may gain partitions
                            return Err(format!(
                                "[COMMON_ERROR, msg: No partition exist in single partitioned table {target}]"
                            ));
                        }
                        None => {
                            let overlaps = local.partitions.iter().any(|lp| {
                                !lp.is_temp
                                    && ranges_overlap((&lp.lower, &lp.upper), (&p.lower, &p.upper))
                            });
                            if overlaps || !local.is_partitioned() {
                                return Err(format!(
                                    "[COMMON_ERROR, msg: Partition {}'s range is overlapped with existing partitions in table {target}]",
                                    p.name
                                ));
                            }
                        }
                    }
                }
            } else if rn > self.opts.backends {
                return Err(format!(
                    "[COMMON_ERROR, msg: failed to find {rn} different hosts to create table: {target}]"
                ));
            }
        }
        // all checks passed: lock existing tables, create the new ones (empty, in RESTORE state)
        for o in &j.objs {
            let Some(st) = snap.tables.iter().find(|t| t.name == o.table) else {
                continue;
            };
            let target = o.alias.clone().unwrap_or_else(|| o.table.clone());
            if self.table_exists(&j.db, &target) {
                if let Ok(tb) = self.table_mut(&j.db, &target) {
                    tb.state = TableState::Restore;
                }
                j.locked_tables.push(target);
            } else {
                let ct = crate::ddl::CreateTable {
                    if_not_exists: false,
                    db: Some(j.db.clone()),
                    name: target.clone(),
                    columns: st.columns.clone(),
                    keys_type: st.keys_type,
                    keys: st.keys.clone(),
                    partition_column: st.partition_column.clone(),
                    partitions: Vec::new(),
                    partitioning: st.partitioning,
                    replication_num: Some(rn),
                    distribution: st.distribution.clone(),
                    buckets: st.buckets,
                    properties: Vec::new(),
                    order_by: st.sort_key.clone(),
                };
                self.create_table_model(&j.db, ct, Some(Vec::new()))
                    .map_err(|e| format!("[COMMON_ERROR, msg: {}]", e.message))?;
                if let Ok(tb) = self.table_mut(&j.db, &target) {
                    tb.state = TableState::Restore;
                    tb.rollups = st.rollups.clone();
                    tb.bloom_filter_columns = st.bloom_filter_columns.clone();
                }
                j.created_tables.push(target.clone());
                j.locked_tables.push(target);
            }
        }
        Ok(())
    }

    /// RESTORE reaching FINISHED: partitions replaced/added with the snapshot's versions (new ids).
    fn commit_restore(&mut self, j: &mut Job, at: NaiveDateTime) -> Result<(), String> {
        let Some(snap) = self.find_snap(&j.repo, &j.label, &j.timestamp) else {
            return Err(format!(
                "[NOT_FOUND, msg: snapshot {} does not exist]",
                j.label
            ));
        };
        let rn = j.replication_num;
        for o in &j.objs {
            let Some(st) = snap.tables.iter().find(|t| t.name == o.table) else {
                continue;
            };
            let target = o.alias.clone().unwrap_or_else(|| o.table.clone());
            let parts: Vec<Partition> = st
                .partitions
                .iter()
                .filter(|p| o.partitions.is_empty() || o.partitions.contains(&p.name))
                .cloned()
                .collect();
            for p in &parts {
                let id = self.next_id();
                let ident = table_ident(&j.db, &target);
                let Ok(tb) = self.table_mut(&j.db, &target) else {
                    return Err(format!("[NOT_FOUND, msg: table {target} does not exist]"));
                };
                // An unpartitioned table's one partition bears the table's name (OlapTable.setName
                // renames it with the table, so a table restored AS alias has partition `alias`).
                let pname = if tb.is_partitioned() {
                    p.name.clone()
                } else {
                    target.clone()
                };
                let newp = Partition {
                    id,
                    name: pname.clone(),
                    lower: p.lower.clone(),
                    upper: p.upper.clone(),
                    version: p.version,
                    version_time: at,
                    row_count: p.row_count,
                    replication_num: rn,
                    is_temp: false,
                    values: p.values.clone(),
                    physical: Vec::new(),
                    // resetPartitionForRestore keeps the snapshot partition's distribution
                    buckets: p.buckets,
                };
                let partitioned = tb.is_partitioned();
                let pcol = tb.partition_column.clone();
                let cols: Vec<String> = tb.columns.iter().map(|c| sqlite_ident(&c.name)).collect();
                match tb
                    .partitions
                    .iter_mut()
                    .find(|x| x.name == pname && !x.is_temp)
                {
                    Some(x) => *x = newp,
                    None => tb.partitions.push(newp),
                }
                // replace the SQLite rows of that partition
                let mut del = format!("DELETE FROM {ident}");
                if partitioned {
                    let col = sqlite_ident(&pcol.unwrap_or_default());
                    let mut conds = Vec::new();
                    if let Some(l) = &p.lower {
                        conds.push(format!("{col} >= {}", crate::sql::sqlite_str(l)));
                    }
                    if let Some(u) = &p.upper {
                        conds.push(format!("{col} < {}", crate::sql::sqlite_str(u)));
                    }
                    if !conds.is_empty() {
                        del.push_str(&format!(" WHERE {}", conds.join(" AND ")));
                    }
                }
                self.db
                    .execute(&del, [])
                    .map_err(|e| format!("[COMMON_ERROR, msg: {e}]"))?;
                if let Some(rows) = snap.rows.get(&(st.name.clone(), p.name.clone())) {
                    let marks: Vec<String> = (1..=cols.len()).map(|k| format!("?{k}")).collect();
                    let sql = format!(
                        "INSERT OR REPLACE INTO {ident} ({}) VALUES ({})",
                        cols.join(", "),
                        marks.join(", ")
                    );
                    for r in rows {
                        let n = r.len().min(cols.len());
                        self.db
                            .execute(&sql, rusqlite::params_from_iter(r.iter().take(n)))
                            .map_err(|e| format!("[COMMON_ERROR, msg: {e}]"))?;
                    }
                }
            }
            if let Ok(tb) = self.table_mut(&j.db, &target) {
                tb.state = TableState::Normal;
                if j.created_tables.contains(&target) {
                    tb.replication_num = rn;
                }
            }
        }
        j.created_tables.clear();
        j.locked_tables.clear();
        Ok(())
    }

    /// The last job of a database, if it is still visible (finished jobs expire after 7 days).
    fn last_job(&self, db: &str) -> Option<&Job> {
        let now = self.now();
        self.jobs.iter().rev().find(|j| j.db == db).filter(|j| {
            j.finished_time
                .is_none_or(|f| (now - f).num_seconds() < KEEP_SECS)
        })
    }

    fn running_job(&self, db: &str) -> bool {
        self.jobs.iter().any(|j| j.db == db && !j.done())
    }

    /// `BACKUP SNAPSHOT db.label TO repo ...` and the 3.4 `BACKUP DATABASE db SNAPSHOT label ...`.
    pub(crate) fn backup(&mut self, s: &Session, c: &mut Cur) -> Result<Output, SimError> {
        c.expect_kw("BACKUP")?;
        let (db, label) = if c.eat_kw("DATABASE") {
            let db = c.ident()?;
            c.expect_kw("SNAPSHOT")?;
            (db, c.ident()?)
        } else {
            c.expect_kw("SNAPSHOT")?;
            let (db, label) = c.qualified()?;
            let db = db
                .or_else(|| s.db.clone())
                .ok_or_else(|| err(1046, "No database selected"))?;
            (db, label)
        };
        c.expect_kw("TO")?;
        let repo = c.ident()?;
        let objs = if c.eat_kw("ON") {
            parse_on(c)?
        } else {
            Vec::new()
        };
        let props = if c.eat_kw("PROPERTIES") {
            c.properties()?
        } else {
            Vec::new()
        };
        c.expect_end()?;
        // analyzer: properties
        let mut timeout_s = 86400i64;
        let mut unknown = Vec::new();
        for (k, v) in &props {
            match k.to_ascii_lowercase().as_str() {
                "type" => {
                    if !v.eq_ignore_ascii_case("full") && !v.eq_ignore_ascii_case("incremental") {
                        return Err(analyzing(format!("Invalid backup job type: {v}")));
                    }
                }
                "timeout" => {
                    let n: i64 = v
                        .parse()
                        .map_err(|_| analyzing(format!("Invalid timeout format: {v}")))?;
                    if n < 600 {
                        return Err(analyzing("timeout must be at least 10 min"));
                    }
                    timeout_s = n;
                }
                // 4.2 (PR #78092): recorded in the snapshot's info; expiry is not modelled.
                "ttl" if self.drop_snapshot_enabled() => {}
                _ => unknown.push(k.clone()),
            }
        }
        if !unknown.is_empty() {
            return Err(analyzing(format!(
                "Unknown backup job properties: [{}]",
                unknown.join(", ")
            )));
        }
        let Some(r) = self.repos.get(&repo) else {
            return Err(analyzing(format!("Repository [{repo}] does not exist")));
        };
        let read_only = r.read_only;
        let Some(d) = self.dbs.get(&db) else {
            return Err(self.unknown_db(&db));
        };
        for o in &objs {
            let Some(t) = d.tables.get(&o.table) else {
                return Err(err(
                    ER_ANALYZE,
                    format!(
                        "Getting analyzing error. Detail message: Incorrect table name '{}'.",
                        o.table
                    ),
                ));
            };
            if self.release.backup_refuses_list() && t.is_list() {
                return Err(list_refused());
            }
            for p in &o.partitions {
                if t.partition(p).is_none_or(|x| x.is_temp) {
                    return Err(err(
                        ER_ANALYZE,
                        format!(
                            "Getting analyzing error. Detail message: partition[{p}] does not exist  in table<{}>.",
                            o.table
                        ),
                    ));
                }
            }
        }
        let objs = if objs.is_empty() {
            d.tables
                .keys()
                .map(|t| ObjRef {
                    table: t.clone(),
                    partitions: Vec::new(),
                    alias: None,
                })
                .collect()
        } else {
            objs
        };
        let refused = objs
            .iter()
            .any(|o| d.tables.get(&o.table).is_some_and(|t| t.is_list()));
        if self.release.backup_refuses_list() && refused {
            return Err(list_refused());
        }
        if self.running_job(&db) {
            return Err(err(
                ER_COMMON,
                "Can only run one backup or restore job of a database at same time",
            ));
        }
        if read_only {
            return Err(err(ER_COMMON, format!("Repository {repo} is read only")));
        }
        for o in &objs {
            if d.tables
                .get(&o.table)
                .is_some_and(|t| t.partitions.iter().any(|p| p.is_temp))
            {
                return Err(err(
                    ER_COMMON,
                    "Do not support backing up table with temp partitions",
                ));
            }
        }
        let taken = self.repos.get(&repo).is_some_and(|r| {
            r.snapshots(|v| v.iter().any(|sn| sn.label == label))
                || self.jobs.iter().any(|j| {
                    j.kind == JobKind::Backup
                        && j.repo == repo
                        && j.label == label
                        && j.state >= UPLOADING
                })
        });
        if taken {
            return Err(err(
                ER_COMMON,
                format!("Snapshot with name '{label}' already exist in repository"),
            ));
        }
        let now = self.now();
        let timestamp = in_zone(now, self.opts.system_time_zone)
            .format("%Y-%m-%d-%H-%M-%S-%3f")
            .to_string();
        self.submit(Job {
            kind: JobKind::Backup,
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
        });
        ok()
    }

    fn submit(&mut self, mut j: Job) {
        j.id = self.next_id() as i64;
        j.forced_cancel = self.faults.cancel_next_job.take();
        // a backup only holds data captured later; snapshots of older labels are untouched
        self.jobs.push(j);
    }

    /// `RESTORE SNAPSHOT db.label FROM repo [ON (...)] PROPERTIES (...)`.
    pub(crate) fn restore(&mut self, s: &Session, c: &mut Cur) -> Result<Output, SimError> {
        c.expect_kw("RESTORE")?;
        c.expect_kw("SNAPSHOT")?;
        let (db, label) = c.qualified()?;
        c.expect_kw("FROM")?;
        let repo = c.ident()?;
        let mut db = db.or_else(|| s.db.clone());
        if c.eat_kw("DATABASE") {
            db = Some(c.ident()?);
        }
        let objs = if c.eat_kw("ON") {
            parse_on(c)?
        } else {
            Vec::new()
        };
        let props = if c.eat_kw("PROPERTIES") {
            c.properties()?
        } else {
            Vec::new()
        };
        c.expect_end()?;
        let db = db.ok_or_else(|| err(1046, "No database selected"))?;
        let mut ts = None;
        let mut rn = 3u32;
        let mut timeout_s = 86400i64;
        let mut allow_load = false;
        let mut unknown = Vec::new();
        for (k, v) in &props {
            match k.to_ascii_lowercase().as_str() {
                "backup_timestamp" => ts = Some(v.clone()),
                "replication_num" => {
                    rn = v
                        .parse()
                        .map_err(|_| analyzing(format!("Invalid meta version format: {v}")))?;
                }
                "timeout" => {
                    timeout_s = v
                        .parse()
                        .map_err(|_| analyzing(format!("Invalid timeout format: {v}")))?;
                }
                "allow_load" => {
                    allow_load = match v.to_ascii_lowercase().as_str() {
                        "true" => true,
                        "false" => false,
                        _ => return Err(analyzing(format!("Invalid allow load value: {v}"))),
                    }
                }
                "meta_version" | "starrocks_meta_version" => {
                    v.parse::<i64>()
                        .map_err(|_| analyzing(format!("Invalid meta version format: {v}")))?;
                }
                _ => unknown.push(k.clone()),
            }
        }
        let Some(ts) = ts else {
            return Err(analyzing("Missing backup_timestamp property"));
        };
        if !unknown.is_empty() {
            return Err(analyzing(format!(
                "Unknown restore job properties: [{}]",
                unknown.join(", ")
            )));
        }
        let Some(r) = self.repos.get(&repo) else {
            return Err(err(ER_COMMON, format!("Repository {repo} does not exist")));
        };
        let info_path = r.info_path(&label, &ts);
        if !self.dbs.contains_key(&db) {
            if self.release.restore_creates_database() {
                self.create_database(&db, true)?;
            } else {
                return Err(self.unknown_db(&db));
            }
        }
        if self.running_job(&db) {
            return Err(err(
                ER_COMMON,
                "Can only run one backup or restore job of a database at same time",
            ));
        }
        let Some(snap) = self.find_snap(&repo, &label, &ts) else {
            return Err(err(
                ER_COMMON,
                format!(
                    "Failed to get info of snapshot '{label}' because: Expected one file with path: {info_path}. get: 0. Maybe specified wrong backup timestamp"
                ),
            ));
        };
        for o in &objs {
            let Some(t) = snap.tables.iter().find(|t| t.name == o.table) else {
                return Err(err(
                    ER_COMMON,
                    format!("Table {} does not exist in snapshot {label}", o.table),
                ));
            };
            for p in &o.partitions {
                if t.partition(p).is_none() {
                    return Err(err(
                        ER_COMMON,
                        format!(
                            "Partition {p} of table {} does not exist in snapshot {label}",
                            o.table
                        ),
                    ));
                }
            }
        }
        let objs = if objs.is_empty() {
            snap.tables
                .iter()
                .map(|t| ObjRef {
                    table: t.name.clone(),
                    partitions: Vec::new(),
                    alias: None,
                })
                .collect()
        } else {
            objs
        };
        let now = self.now();
        self.submit(Job {
            kind: JobKind::Restore,
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
            timestamp: ts,
            replication_num: rn,
            allow_load,
            created_tables: Vec::new(),
            locked_tables: Vec::new(),
        });
        ok()
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

    fn show_db_filter(&self, s: &Session, c: &mut Cur) -> Result<Option<String>, SimError> {
        let db = if c.eat_kw("FROM") || c.eat_kw("IN") {
            Some(c.ident()?)
        } else {
            None
        };
        if let Some(d) = &db {
            if !self.dbs.contains_key(d) {
                return Err(self.unknown_db(d));
            }
        }
        let _ = s;
        Ok(db)
    }

    /// The visible job per database (the last BACKUP or RESTORE), filtered by kind.
    fn visible_jobs(&self, db: Option<&str>, kind: JobKind) -> Vec<&Job> {
        let dbs: Vec<String> = match db {
            Some(d) => vec![d.to_string()],
            None => self.dbs.keys().cloned().collect(),
        };
        dbs.iter()
            .filter_map(|d| self.last_job(d))
            .filter(|j| j.kind == kind)
            .collect()
    }

    pub(crate) fn show_backup(&mut self, s: &Session, c: &mut Cur) -> Result<Output, SimError> {
        let db = self.show_db_filter(s, c)?;
        let tz = self.show_zone(s);
        let task_err = self.faults.task_err_msg.clone();
        let rows = self
            .visible_jobs(db.as_deref(), JobKind::Backup)
            .into_iter()
            .map(|j| {
                vec![
                    Some(if j.picked { j.id } else { -1 }.to_string()),
                    Some(j.label.clone()),
                    Some(j.db.clone()),
                    Some(j.state_name().to_string()),
                    Some(j.objs_text()),
                    t(Some(j.create_time), tz),
                    t(j.entered[2], tz),
                    t(j.entered[4], tz),
                    t(j.finished_time, tz),
                    Some(String::new()),
                    Some(String::new()),
                    Some(if j.done() {
                        String::new()
                    } else {
                        task_err.clone()
                    }),
                    Some(j.status.clone()),
                    Some(j.timeout_s.to_string()),
                ]
            })
            .collect();
        Ok(Output::rows(
            &[
                "JobId",
                "SnapshotName",
                "DbName",
                "State",
                "BackupObjs",
                "CreateTime",
                "SnapshotFinishedTime",
                "UploadFinishedTime",
                "FinishedTime",
                "UnfinishedTasks",
                "Progress",
                "TaskErrMsg",
                "Status",
                "Timeout",
            ],
            rows,
        ))
    }

    pub(crate) fn show_restore(&mut self, s: &Session, c: &mut Cur) -> Result<Output, SimError> {
        let db = self.show_db_filter(s, c)?;
        let tz = self.show_zone(s);
        let task_err = self.faults.task_err_msg.clone();
        let rows = self
            .visible_jobs(db.as_deref(), JobKind::Restore)
            .into_iter()
            .map(|j| {
                vec![
                    Some(if j.picked { j.id } else { -1 }.to_string()),
                    Some(j.label.clone()),
                    Some(j.timestamp.clone()),
                    Some(j.db.clone()),
                    Some(j.state_name().to_string()),
                    Some(j.allow_load.to_string()),
                    Some(j.replication_num.to_string()),
                    Some(j.objs_text()),
                    t(Some(j.create_time), tz),
                    t(j.entered[1], tz),
                    t(j.entered[2], tz),
                    t(j.entered[4], tz),
                    t(j.finished_time, tz),
                    Some(String::new()),
                    Some(String::new()),
                    Some(if j.done() {
                        String::new()
                    } else {
                        task_err.clone()
                    }),
                    Some(j.status.clone()),
                    Some(j.timeout_s.to_string()),
                ]
            })
            .collect();
        Ok(Output::rows(
            &[
                "JobId",
                "Label",
                "Timestamp",
                "DbName",
                "State",
                "AllowLoad",
                "ReplicationNum",
                "RestoreObjs",
                "CreateTime",
                "MetaPreparedTime",
                "SnapshotFinishedTime",
                "DownloadFinishedTime",
                "FinishedTime",
                "UnfinishedTasks",
                "Progress",
                "TaskErrMsg",
                "Status",
                "Timeout",
            ],
            rows,
        ))
    }

    /// `SHOW SNAPSHOT ON repo [WHERE SNAPSHOT = 'L' [AND TIMESTAMP = 't'] | WHERE SNAPSHOT IN (...)]`.
    pub(crate) fn show_snapshot(&mut self, _s: &Session, c: &mut Cur) -> Result<Output, SimError> {
        c.expect_kw("ON")?;
        let repo_name = c.ident()?;
        let mut labels: Option<Vec<String>> = None;
        let mut ts: Option<String> = None;
        if c.eat_kw("WHERE") {
            loop {
                if c.eat_kw("SNAPSHOT") {
                    if c.eat_kw("IN") {
                        c.expect(&Token::LParen)?;
                        let mut v = Vec::new();
                        loop {
                            v.push(c.string()?);
                            if !c.eat(&Token::Comma) {
                                break;
                            }
                        }
                        c.expect(&Token::RParen)?;
                        // Repository.getSnapshotInfos: an IN list filters the snapshots the
                        // repository lists; a name it does not hold gives no row.
                        v.retain(|l| {
                            self.repos
                                .get(&repo_name)
                                .is_some_and(|r| r.list().iter().any(|s| &s.label == l))
                        });
                        labels = Some(v);
                    } else {
                        c.expect(&Token::Eq)?;
                        labels = Some(vec![c.string()?]);
                    }
                } else if c.eat_kw("TIMESTAMP") {
                    c.expect(&Token::Eq)?;
                    ts = Some(c.string()?);
                } else {
                    return Err(c.syntax());
                }
                if !c.eat_kw("AND") {
                    break;
                }
            }
        }
        c.expect_end()?;
        let Some(repo) = self.repos.get(&repo_name) else {
            return Err(analyzing(format!(
                "Repository [{repo_name}] does not exist"
            )));
        };
        let snaps = repo.list();
        if let (Some(ts), Some(labels)) = (&ts, &labels) {
            let label = labels.first().cloned().unwrap_or_default();
            let row = match snaps
                .iter()
                .find(|s| s.label == label && &s.timestamp == ts && s.finished)
            {
                Some(s) => {
                    let mut objs = serde_json::Map::new();
                    for t in &s.tables {
                        let mut parts = serde_json::Map::new();
                        for p in &t.partitions {
                            parts.insert(p.name.clone(), serde_json::json!({}));
                        }
                        objs.insert(t.name.clone(), serde_json::json!({ "partitions": parts }));
                    }
                    let details = serde_json::json!({
                        "name": s.label,
                        "database": s.db,
                        "backup_time": s.create_time.and_utc().timestamp_millis(),
                        "backup_objects": objs,
                        "backup_result": "succeed",
                    });
                    vec![
                        Some(label.clone()),
                        Some(ts.clone()),
                        Some(s.db.clone()),
                        Some(details.to_string()),
                        Some("OK".to_string()),
                    ]
                }
                None => vec![
                    Some(label.clone()),
                    Some(ts.clone()),
                    None,
                    None,
                    Some(format!(
                        "Failed to get info: Expected one file with path: {}. get: 0",
                        repo.info_path(&label, ts)
                    )),
                ],
            };
            return Ok(Output::rows(
                &["Snapshot", "Timestamp", "Database", "Details", "Status"],
                vec![row],
            ));
        }
        let lifecycle = self.drop_snapshot_enabled();
        let names: Vec<String> = match labels {
            Some(v) => v,
            None => {
                let mut v: Vec<String> = Vec::new();
                for s in &snaps {
                    if !v.contains(&s.label) {
                        v.push(s.label.clone());
                    }
                }
                v
            }
        };
        // Repository.getSnapshotInfo (backup/Repository.java:612-640): a failed listing gives
        // Timestamp NULL and `ERROR: Failed to get info: <storage error>`; a listed file whose
        // name does not decode becomes `Invalid: <file>`, and Status is OK if anything was listed.
        if self.faults.snapshot_listing_failures > 0 {
            self.faults.snapshot_listing_failures -= 1;
            let rows = names
                .into_iter()
                .map(|label| {
                    vec![
                        Some(label),
                        None,
                        Some("ERROR: Failed to get info: Failed to list files: connection reset by peer".to_string()),
                    ]
                })
                .collect();
            return Ok(Output::rows(&["Snapshot", "Timestamp", "Status"], rows));
        }
        let rows = names
            .into_iter()
            .map(|label| {
                let stray = |before: bool| -> Vec<String> {
                    repo.stray_info_files
                        .iter()
                        .filter(|(l, _, b)| *l == label && *b == before)
                        .map(|(_, f, _)| format!("Invalid: {f}"))
                        .collect()
                };
                let mut stamps: Vec<String> = stray(true);
                stamps.extend(
                    snaps
                        .iter()
                        .filter(|s| s.label == label && s.finished)
                        .map(|s| s.timestamp.clone()),
                );
                stamps.extend(stray(false));
                let status = if stamps.is_empty() {
                    "ERROR: no snapshot"
                } else {
                    "OK"
                };
                let mut row = vec![
                    Some(label.clone()),
                    Some(stamps.join("\n")),
                    Some(status.to_string()),
                ];
                if lifecycle {
                    row.extend(self.lifecycle_columns(repo, &label));
                }
                row
            })
            .collect();
        if lifecycle {
            return Ok(Output::rows(&crate::snapshots::SHOW_SNAPSHOT_42, rows));
        }
        Ok(Output::rows(&["Snapshot", "Timestamp", "Status"], rows))
    }

    pub(crate) fn show_repositories(&self, s: &Session) -> Output {
        let rows = self
            .repos
            .values()
            .map(|r| {
                vec![
                    Some(r.id.to_string()),
                    Some(r.name.clone()),
                    t(Some(r.create_time), self.show_zone(s)),
                    Some(r.read_only.to_string()),
                    Some(r.location.clone()),
                    Some(String::new()),
                    None,
                ]
            })
            .collect();
        Output::rows(
            &[
                "RepoId",
                "RepoName",
                "CreateTime",
                "IsReadOnly",
                "Location",
                "Broker",
                "ErrMsg",
            ],
            rows,
        )
    }

    pub(crate) fn snapshots(&self, repo: &str) -> Vec<SnapshotInfo> {
        let Some(r) = self.repos.get(repo) else {
            return Vec::new();
        };
        r.list()
            .iter()
            .map(|s| SnapshotInfo {
                repository: r.name.clone(),
                label: s.label.clone(),
                timestamp: s.timestamp.clone(),
                database: s.db.clone(),
                ok: s.finished,
                tables: s
                    .tables
                    .iter()
                    .map(|t| SnapshotTable {
                        name: t.name.clone(),
                        columns: t
                            .columns
                            .iter()
                            .map(|c| (c.name.clone(), c.ty.clone()))
                            .collect(),
                        partitions: t
                            .partitions
                            .iter()
                            .map(|p| SnapshotPartition {
                                name: p.name.clone(),
                                id: p.id,
                                version: p.version,
                                row_count: p.row_count,
                                replication_num: p.replication_num,
                                range: t.range_text(p),
                            })
                            .collect(),
                    })
                    .collect(),
            })
            .collect()
    }

    pub(crate) fn jobs(&self) -> Vec<JobInfo> {
        self.jobs.iter().map(|j| j.info()).collect()
    }
}

/// Whether two [lower, upper) ranges (None = unbounded) overlap.
/// RESTORE onto an EXISTING table named by `AS alias`: the FE compares `getSignature` of the local
/// table (named alias) with the snapshot's (its backup-time name), and the table name is the
/// signature's first item, so any alias other than the snapshot's own name is cancelled
/// (backup/RestoreJob.java checkAndPrepareMeta, getSignature / getSignatureSequence).
fn alias_onto_existing(o: &ObjRef) -> Result<(), String> {
    match &o.alias {
        Some(a) if *a != o.table => Err(format!(
            "[COMMON_ERROR, msg: Table {a} already exist but with different schema, errMsg: Table name is inconsistent]"
        )),
        _ => Ok(()),
    }
}

fn ranges_overlap(
    a: (&Option<String>, &Option<String>),
    b: (&Option<String>, &Option<String>),
) -> bool {
    use crate::cluster::cmp_bound;
    // a.lower < b.upper && b.lower < a.upper
    let lt = |x: &Option<String>, y: &Option<String>| match (x, y) {
        (None, _) | (_, None) => true,
        (Some(x), Some(y)) => cmp_bound(x, y) < 0,
    };
    lt(a.0, b.1) && lt(b.0, a.1)
}

/// BACKUP's analyzer on 3.1–3.3 (BackupRestoreAnalyzer, #27551): every LIST-partitioned table ref.
fn list_refused() -> SimError {
    err(
        ER_ANALYZE,
        "Getting analyzing error. Detail message: List partition table does not support backup/restore job.",
    )
}
