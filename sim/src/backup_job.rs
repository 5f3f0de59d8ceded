//! BACKUP: the statement (analyzer checks, job submission) and the snapshot a job captures
//! when it leaves PENDING (schema, partitions, rows).

use std::collections::BTreeMap;

use rusqlite::types::Value;

use crate::cluster::{in_zone, ok, Cluster, JobKind, Output, Session, Table};
use crate::sql::{err, sqlite_ident, table_ident, Cur};
use crate::SimError;

use crate::jobs::*;

/// BACKUP's analyzer on 3.1–3.3 (BackupRestoreAnalyzer, #27551): every LIST-partitioned table ref.
pub(crate) fn list_refused() -> SimError {
    err(
        ER_ANALYZE,
        "Getting analyzing error. Detail message: List partition table does not support backup/restore job.",
    )
}

impl Cluster {
    /// BACKUP leaving PENDING: record each partition's visible version and rows.
    pub(crate) fn capture_snapshot(&mut self, j: &mut Job) -> Result<(), String> {
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
    pub(crate) fn dump_rows(
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
        let job = self.new_job(JobKind::Backup, db, label, repo, objs, timeout_s, timestamp);
        self.submit(job);
        ok()
    }
}
