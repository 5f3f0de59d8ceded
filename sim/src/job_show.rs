//! SHOW BACKUP / RESTORE / SNAPSHOT / REPOSITORIES and the control API's views of jobs and
//! snapshots.

use sqlparser::tokenizer::Token;

use crate::cluster::{
    Cluster, JobKind, Output, Session, SnapshotInfo, SnapshotPartition, SnapshotTable,
};
use crate::sql::Cur;
use crate::SimError;

use crate::jobs::*;

impl Cluster {
    pub(crate) fn show_db_filter(
        &self,
        s: &Session,
        c: &mut Cur,
    ) -> Result<Option<String>, SimError> {
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
    pub(crate) fn visible_jobs(&self, db: Option<&str>, kind: JobKind) -> Vec<&Job> {
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
                            self.repos.get(&repo_name).is_some_and(|r| {
                                r.with_snaps(|snaps| snaps.iter().any(|s| &s.label == l))
                            })
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
        // the heads of the listed snapshots; the tables only of the one a TIMESTAMP names
        let snaps: Vec<Snap> = repo.with_snaps(|v| {
            v.iter()
                .filter(|s| labels.as_ref().is_none_or(|ls| ls.contains(&s.label)))
                .map(Snap::head)
                .collect()
        });
        if let (Some(ts), Some(labels)) = (&ts, &labels) {
            let label = labels.first().cloned().unwrap_or_default();
            let found = repo.with_snaps(|v| {
                v.iter()
                    .find(|s| s.label == label && &s.timestamp == ts && s.finished)
                    .cloned()
            });
            let row = match found.as_ref() {
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
}
