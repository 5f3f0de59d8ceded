//! RESTORE: the statement, the checks against existing tables when the job leaves PENDING, and
//! the commit that puts the snapshot's partitions in place.

use chrono::NaiveDateTime;

use crate::cluster::{ok, Cluster, JobKind, Output, Partition, Session, TableState};
use crate::sql::{err, sqlite_ident, table_ident, Cur};
use crate::SimError;

use crate::jobs::*;

/// Whether two [lower, upper) ranges (None = unbounded) overlap.
/// RESTORE onto an EXISTING table named by `AS alias`: the FE compares `getSignature` of the local
/// table (named alias) with the snapshot's (its backup-time name), and the table name is the
/// signature's first item, so any alias other than the snapshot's own name is cancelled
/// (backup/RestoreJob.java checkAndPrepareMeta, getSignature / getSignatureSequence).
pub(crate) fn alias_onto_existing(o: &ObjRef) -> Result<(), String> {
    match &o.alias {
        Some(a) if *a != o.table => Err(format!(
            "[COMMON_ERROR, msg: Table {a} already exist but with different schema, errMsg: Table name is inconsistent]"
        )),
        _ => Ok(()),
    }
}

pub(crate) fn ranges_overlap(
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

impl Cluster {
    pub(crate) fn find_snap(&self, repo: &str, label: &str, ts: &str) -> Option<Snap> {
        self.repos.get(repo).and_then(|r| {
            r.snapshots(|v| {
                v.iter()
                    .find(|s| s.label == label && s.timestamp == ts && s.finished)
                    .cloned()
            })
        })
    }

    /// RESTORE leaving PENDING: the checks against existing tables, creating new ones.
    pub(crate) fn prepare_restore(&mut self, j: &mut Job) -> Result<(), String> {
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
                    tb.scheduling = st.scheduling.clone();
                }
                j.created_tables.push(target.clone());
                j.locked_tables.push(target);
            }
        }
        Ok(())
    }

    /// RESTORE reaching FINISHED: partitions replaced/added with the snapshot's versions (new ids).
    pub(crate) fn commit_restore(&mut self, j: &mut Job, at: NaiveDateTime) -> Result<(), String> {
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
        let job = Job {
            replication_num: rn,
            allow_load,
            ..self.new_job(JobKind::Restore, db, label, repo, objs, timeout_s, ts)
        };
        self.submit(job);
        ok()
    }
}
