//! The simulated FE: catalog model, virtual clock, faults, and statement dispatch.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{FixedOffset, NaiveDateTime};
use rusqlite::functions::FunctionFlags;
use rusqlite::types::ValueRef;
use sqlparser::tokenizer::Token;

use crate::jobs::{Job, Repo};
use crate::release::Release;
use crate::sql::{err, translate, Cur, ER_PARSE};
use crate::{LoggedStatement, SimError, SimOptions, When};

use crate::info_schema::{INFO_DDL, INFO_TABLES};
pub(crate) use crate::model::*;
pub use crate::model::{
    JobInfo, JobKind, PartitionInfo, SnapshotInfo, SnapshotPartition, SnapshotTable,
};
use crate::show::variable;
use crate::stream::{RowSink, CHUNK_ROWS};

/// ErrorCode.ERR_BAD_TABLE_STATE.
pub(crate) const ER_BAD_TABLE_STATE: u16 = 5014;

/// What a statement returns.
#[derive(Debug, Clone)]
pub(crate) enum Output {
    Ok {
        affected: u64,
    },
    Rows {
        columns: Vec<String>,
        rows: Vec<Vec<Option<String>>>,
    },
    /// A SELECT answer kept flat: one byte buffer and a (start, len) per cell, so a 1M-row answer is
    /// two allocations instead of millions of Strings.
    Flat(FlatRows),
}

/// Cells of a result set in one buffer; `len == u32::MAX` marks NULL.
#[derive(Debug, Clone, Default)]
pub(crate) struct FlatRows {
    pub(crate) columns: Vec<String>,
    pub(crate) data: Vec<u8>,
    pub(crate) cells: Vec<(u32, u32)>,
}

impl FlatRows {
    /// The cells of row after row (each `columns.len()` long).
    pub(crate) fn rows(&self) -> impl Iterator<Item = impl Iterator<Item = Option<&[u8]>>> {
        let n = self.columns.len().max(1);
        self.cells.chunks(n).map(move |row| {
            row.iter().map(move |&(start, len)| {
                (len != u32::MAX).then(|| &self.data[start as usize..(start + len) as usize])
            })
        })
    }

    /// As rows of Strings (the control API).
    pub(crate) fn into_rows(self) -> Vec<Vec<Option<String>>> {
        self.rows()
            .map(|r| {
                r.map(|c| c.map(|b| String::from_utf8_lossy(b).into_owned()))
                    .collect()
            })
            .collect()
    }
}

impl Output {
    pub(crate) fn rows(columns: &[&str], rows: Vec<Vec<Option<String>>>) -> Output {
        Output::Rows {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows,
        }
    }
}

pub(crate) fn ok() -> Result<Output, SimError> {
    Ok(Output::Ok { affected: 0 })
}

/// The whole simulated cluster.
pub(crate) struct Cluster {
    pub(crate) opts: SimOptions,
    /// The release played (parsed `opts.release`).
    pub(crate) release: Release,
    pub(crate) now: NaiveDateTime,
    pub(crate) db: rusqlite::Connection,
    pub(crate) ctx: Arc<Mutex<StmtCtx>>,
    pub(crate) dbs: BTreeMap<String, Database>,
    pub(crate) next_id: u64,
    pub(crate) repos: BTreeMap<String, Repo>,
    /// The remote storage repositories write to (possibly shared with other clusters).
    pub(crate) store: crate::storage::RepositoryStore,
    pub(crate) jobs: Vec<Job>,
    pub(crate) faults: Faults,
    pub(crate) stalled: bool,
    pub(crate) log: Vec<LoggedStatement>,
    /// Tables whose information_schema rows are stale.
    pub(crate) info_dirty: BTreeSet<(String, String)>,
    /// Partitions whose version/rows changed (a cheap UPDATE instead of rewriting the table's rows).
    pub(crate) info_dirty_parts: BTreeSet<(String, String, String)>,
    /// Statements received since `drop_connection_after` was armed.
    pub(crate) drop_counter: usize,
}

fn lock_ctx(ctx: &Mutex<StmtCtx>) -> std::sync::MutexGuard<'_, StmtCtx> {
    ctx.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn fmt_time(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// Renders a UTC time in a zone.
pub(crate) fn in_zone(t: NaiveDateTime, tz: FixedOffset) -> NaiveDateTime {
    t + chrono::Duration::seconds(i64::from(tz.local_minus_utc()))
}

pub(crate) fn parse_tz(s: &str) -> Option<FixedOffset> {
    let t = s.trim();
    match t.to_ascii_lowercase().as_str() {
        "utc" | "gmt" | "etc/utc" | "z" | "system" => return FixedOffset::east_opt(0),
        "asia/shanghai" | "prc" | "asia/hong_kong" | "asia/singapore" => {
            return FixedOffset::east_opt(8 * 3600)
        }
        "asia/tokyo" => return FixedOffset::east_opt(9 * 3600),
        _ => {}
    }
    let (sign, rest) = match t.as_bytes().first() {
        Some(b'+') => (1, &t[1..]),
        Some(b'-') => (-1, &t[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    let h: i32 = h.parse().ok()?;
    let m: i32 = m.parse().ok()?;
    if h > 14 || m > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

pub(crate) fn tz_text(tz: FixedOffset) -> String {
    let s = tz.local_minus_utc();
    let sign = if s < 0 { '-' } else { '+' };
    let a = s.abs();
    format!("{sign}{:02}:{:02}", a / 3600, (a % 3600) / 60)
}

pub(crate) fn sqlite_err(e: rusqlite::Error) -> SimError {
    err(
        ER_PARSE,
        format!("Getting analyzing error. Detail message: {e}."),
    )
}

impl Cluster {
    pub(crate) fn new(opts: SimOptions) -> anyhow::Result<Cluster> {
        let db = rusqlite::Connection::open_in_memory()?;
        let ctx = Arc::new(Mutex::new(StmtCtx::default()));
        let flags = FunctionFlags::SQLITE_UTF8;
        let c1 = ctx.clone();
        db.create_scalar_function("now", 0, flags, move |_| Ok(lock_ctx(&c1).now.clone()))?;
        let c1 = ctx.clone();
        db.create_scalar_function("utc_timestamp", 0, flags, move |_| {
            Ok(lock_ctx(&c1).utc_now.clone())
        })?;
        let c1 = ctx.clone();
        db.create_scalar_function("current_timestamp", 0, flags, move |_| {
            Ok(lock_ctx(&c1).now.clone())
        })?;
        // UTC_TIMESTAMP(): the clock in UTC whatever the session zone (NOW() minus the zone's offset)
        let c1 = ctx.clone();
        db.create_scalar_function("utc_timestamp", 0, flags, move |_| {
            let c = lock_ctx(&c1);
            Ok(
                match NaiveDateTime::parse_from_str(&c.now, "%Y-%m-%d %H:%M:%S") {
                    Ok(t) => fmt_time(t - chrono::Duration::seconds(i64::from(c.tz_secs))),
                    Err(_) => c.now.clone(),
                },
            )
        })?;
        let c1 = ctx.clone();
        db.create_scalar_function("database", 0, flags, move |_| Ok(lock_ctx(&c1).db.clone()))?;
        let c1 = ctx.clone();
        db.create_scalar_function("connection_id", 0, flags, move |_| {
            Ok(i64::from(lock_ctx(&c1).conn_id))
        })?;
        let c1 = ctx.clone();
        db.create_scalar_function("version", 0, flags, move |_| {
            Ok(lock_ctx(&c1).version.clone())
        })?;
        let c1 = ctx.clone();
        db.create_scalar_function("current_version", 0, flags, move |_| {
            Ok(lock_ctx(&c1).current_version.clone())
        })?;
        let c1 = ctx.clone();
        db.create_scalar_function("sim_tz", 1, flags, move |f| {
            let v: Option<String> = f.get(0)?;
            let secs = lock_ctx(&c1).tz_secs;
            Ok(v.map(
                |v| match NaiveDateTime::parse_from_str(&v, "%Y-%m-%d %H:%M:%S") {
                    Ok(t) => fmt_time(t + chrono::Duration::seconds(i64::from(secs))),
                    Err(_) => v,
                },
            ))
        })?;
        db.create_scalar_function("if", 3, flags | FunctionFlags::SQLITE_DETERMINISTIC, |f| {
            let c: Option<i64> = f.get(0).ok();
            let v: rusqlite::types::Value = if c.unwrap_or(0) != 0 {
                f.get(1)?
            } else {
                f.get(2)?
            };
            Ok(v)
        })?;
        db.execute_batch(INFO_DDL)?;
        let now = opts.start_time;
        let release = Release::parse(&opts.release).ok_or_else(|| {
            anyhow::anyhow!("unknown release {:?} (want e.g. 3.3.5)", opts.release)
        })?;
        let next_id = opts.first_id;
        let store = opts.repository_store.clone().unwrap_or_default();
        Ok(Cluster {
            opts,
            release,
            now,
            db,
            ctx,
            dbs: BTreeMap::new(),
            next_id,
            store,
            repos: BTreeMap::new(),
            jobs: Vec::new(),
            faults: Faults::default(),
            stalled: false,
            log: Vec::new(),
            info_dirty: BTreeSet::new(),
            info_dirty_parts: BTreeSet::new(),
            drop_counter: 0,
        })
    }

    pub(crate) fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    pub(crate) fn control_session(&self) -> Session {
        Session {
            conn_id: 0,
            db: None,
            tz: self.opts.session_time_zone,
        }
    }

    pub(crate) fn new_session(&self, conn_id: u32) -> Session {
        Session {
            conn_id,
            db: None,
            tz: self.opts.session_time_zone,
        }
    }

    pub(crate) fn now(&self) -> NaiveDateTime {
        self.now
    }

    pub(crate) fn advance(&mut self, by: Duration) {
        self.now += chrono::Duration::from_std(by).unwrap_or_default();
        self.update_jobs();
    }

    /// One client statement arrived: the clock ticks.
    pub(crate) fn tick(&mut self) {
        let d = self.opts.tick_per_statement;
        if !d.is_zero() {
            self.advance(d);
        }
    }

    /// Errnos changed in 3.3 (5501/5502).
    pub(crate) fn new_errnos(&self) -> bool {
        self.release.new_errnos()
    }

    /// The zone SHOW BACKUP/RESTORE/PARTITIONS/REPOSITORIES render times in: the session's, but
    /// a fixed +08:00 from 4.1 (TimeUtils.TIME_ZONE, #66360).
    pub(crate) fn show_zone(&self, s: &Session) -> FixedOffset {
        let fixed = match self.opts.fixed_job_time_zone {
            None => self.release.fixed_show_zone(),
            Some(true) => FixedOffset::east_opt(8 * 3600),
            Some(false) => None,
        };
        fixed.unwrap_or(s.tz)
    }

    /// Whether `information_schema.partitions_meta` exists now.
    pub(crate) fn has_partitions_meta(&self) -> bool {
        self.opts
            .partitions_meta
            .unwrap_or_else(|| self.release.has_partitions_meta())
    }

    pub(crate) fn unknown_db(&self, db: &str) -> SimError {
        err(
            if self.new_errnos() { 5501 } else { 1049 },
            format!("Unknown database '{db}'"),
        )
    }

    pub(crate) fn unknown_table(&self, t: &str) -> SimError {
        err(
            if self.new_errnos() { 5502 } else { 1051 },
            format!("Unknown table '{t}'"),
        )
    }

    /// Picks (and consumes) the fault for a client statement.
    pub(crate) fn fault_for(&mut self, sql: &str) -> Fault {
        if let Some((n, _)) = &mut self.faults.at {
            if *n == 0 {
                if let Some((_, f)) = self.faults.at.take() {
                    return f;
                }
            } else {
                *n -= 1;
            }
        }
        if let Some(n) = self.faults.drop_after {
            if self.drop_counter >= n {
                self.faults.drop_after = None;
                self.drop_counter = 0;
                return Fault::Drop(When::Before);
            }
            self.drop_counter += 1;
        }
        if let Some(k) = self.faults.fail_once.iter().position(|f| f.0.is_match(sql)) {
            let (_, code, msg) = self.faults.fail_once.remove(k);
            return Fault::Fail(err(code, msg));
        }
        if let Some(k) = self.faults.drop.iter().position(|f| f.0.is_match(sql)) {
            let (_, w) = self.faults.drop.remove(k);
            return Fault::Drop(w);
        }
        if let Some(k) = self.faults.hang.iter().position(|f| f.0.is_match(sql)) {
            let (_, w) = self.faults.hang.remove(k);
            return Fault::Hang(w);
        }
        Fault::None
    }

    fn set_ctx(&self, s: &Session) {
        let mut c = lock_ctx(&self.ctx);
        c.now = fmt_time(in_zone(self.now, s.tz));
        c.utc_now = fmt_time(self.now);
        c.tz_secs = s.tz.local_minus_utc();
        c.db = s.db.clone();
        c.conn_id = s.conn_id;
        c.version = self.release.handshake().to_string();
        c.current_version = format!("{}-sim", self.release);
    }

    pub(crate) fn use_db(&mut self, s: &mut Session, db: &str) -> Result<(), SimError> {
        let db = db.trim().trim_end_matches(';').trim().trim_matches('`');
        if db.eq_ignore_ascii_case("information_schema") || self.dbs.contains_key(db) {
            s.db = Some(db.to_string());
            Ok(())
        } else {
            Err(self.unknown_db(db))
        }
    }

    pub(crate) fn mark_dirty(&mut self, db: &str, t: &str) {
        self.info_dirty.insert((db.to_string(), t.to_string()));
    }

    /// Resolves a table reference for SQL; errors as StarRocks' analyzer reports them.
    pub(crate) fn resolve(
        &self,
        s: &Session,
        db: Option<&str>,
        t: &str,
        for_write: bool,
    ) -> Result<(String, String), SimError> {
        let db = match db.map(|d| d.to_string()).or_else(|| s.db.clone()) {
            Some(d) => d,
            None => return Err(err(1046, "No database selected")),
        };
        if db.eq_ignore_ascii_case("information_schema") {
            let tl = t.to_ascii_lowercase();
            let known = INFO_TABLES.contains(&tl.as_str())
                && (tl != "partitions_meta" || self.has_partitions_meta());
            if !known || for_write {
                return Err(err(
                    if self.new_errnos() { 5502 } else { 1051 },
                    format!("Getting analyzing error. Detail message: Unknown table '{db}.{t}'."),
                ));
            }
            return Ok(("information_schema".to_string(), tl));
        }
        let Some(d) = self.dbs.get(&db) else {
            return Err(err(
                if self.new_errnos() { 5501 } else { 1049 },
                format!("Getting analyzing error. Detail message: Unknown database '{db}'."),
            ));
        };
        let Some(table) = d.tables.get(t) else {
            return Err(err(
                if self.new_errnos() { 5502 } else { 1051 },
                format!("Getting analyzing error. Detail message: Unknown table '{db}.{t}'."),
            ));
        };
        if table.state != TableState::Normal {
            return Err(err(
                ER_BAD_TABLE_STATE,
                "Table state is not NORMAL: 'RESTORING'".to_string(),
            ));
        }
        Ok((db, t.to_string()))
    }

    /// Runs one statement on a session.
    pub(crate) fn run(&mut self, s: &mut Session, sql: &str) -> Result<Output, SimError> {
        self.run_streaming(s, sql, None)
    }

    /// [`Cluster::run`]; a top-level SELECT on SQLite sends its rows to `sink` while it steps
    /// (the columns first, then chunks of rows) and returns only the rows not yet sent.
    pub(crate) fn run_streaming(
        &mut self,
        s: &mut Session,
        sql: &str,
        sink: Option<RowSink>,
    ) -> Result<Output, SimError> {
        self.update_jobs();
        self.set_ctx(s);
        let mut c = Cur::new(sql)?;
        if c.at_end() {
            return Err(err(
                ER_PARSE,
                "Getting syntax error. Detail message: empty statement.",
            ));
        }
        let first = match c.peek() {
            Some(Token::Word(w)) => w.value.to_ascii_uppercase(),
            Some(Token::LParen) => "SELECT".to_string(),
            _ => return Err(c.syntax()),
        };
        match first.as_str() {
            "SELECT" | "WITH" => self.select(s, sql, sink),
            "INSERT" | "REPLACE" => self.insert(s, sql, &c),
            "UPDATE" => self.update_delete(s, sql, true),
            "DELETE" => self.update_delete(s, sql, false),
            "CREATE" => {
                c.next();
                self.create(s, &mut c)
            }
            "DROP" => {
                c.next();
                self.drop(s, &mut c)
            }
            "TRUNCATE" => {
                c.next();
                self.truncate(s, &mut c)
            }
            "ALTER" => {
                c.next();
                self.alter(s, &mut c)
            }
            "USE" => {
                c.next();
                let db = c.ident()?;
                self.use_db(s, &db)?;
                ok()
            }
            "SHOW" => {
                c.next();
                self.show(s, &mut c)
            }
            "SET" => {
                c.next();
                self.set(s, &mut c)
            }
            "BEGIN" | "COMMIT" | "ROLLBACK" | "START" => ok(),
            "BACKUP" => self.backup(s, &mut c),
            "RESTORE" => self.restore(s, &mut c),
            "CANCEL" => self.cancel(s, &mut c),
            "ADMIN" => self.admin(&mut c),
            "DESC" | "DESCRIBE" => {
                c.next();
                self.describe(s, &mut c)
            }
            _ => Err(c.syntax()),
        }
    }

    pub(crate) fn query_sqlite(&mut self, sql: &str) -> Result<Output, SimError> {
        let mut stmt = self.db.prepare(sql).map_err(sqlite_err)?;
        let columns: Vec<String> = stmt.column_names().iter().map(|c| c.to_string()).collect();
        let n = columns.len();
        let mut rows = Vec::new();
        let mut q = stmt.query([]).map_err(sqlite_err)?;
        while let Some(r) = q.next().map_err(sqlite_err)? {
            let mut row = Vec::with_capacity(n);
            for k in 0..n {
                let v = r.get_ref(k).map_err(sqlite_err)?;
                row.push(match v {
                    ValueRef::Null => None,
                    ValueRef::Integer(i) => Some(i.to_string()),
                    ValueRef::Real(f) => Some(if f.fract() == 0.0 && f.abs() < 1e15 {
                        format!("{}", f as i64)
                    } else {
                        f.to_string()
                    }),
                    ValueRef::Text(t) | ValueRef::Blob(t) => {
                        Some(String::from_utf8_lossy(t).to_string())
                    }
                });
            }
            rows.push(row);
        }
        Ok(Output::Rows { columns, rows })
    }

    /// Like [`Cluster::query_sqlite`], rendered into one flat buffer (same texts per cell).
    /// With a `sink`, full chunks of rows go there as they are produced (after the columns).
    fn query_sqlite_flat(&mut self, sql: &str, sink: Option<RowSink>) -> Result<Output, SimError> {
        use std::io::Write as _;
        let mut stmt = self.db.prepare(sql).map_err(sqlite_err)?;
        let columns: Vec<String> = stmt.column_names().iter().map(|c| c.to_string()).collect();
        let n = columns.len();
        let mut out = FlatRows {
            columns,
            ..FlatRows::default()
        };
        let mut q = stmt.query([]).map_err(sqlite_err)?;
        let mut itoa = itoa::Buffer::new();
        let mut sink = sink;
        let chunk_cells = CHUNK_ROWS * n.max(1);
        while let Some(r) = q.next().map_err(sqlite_err)? {
            if out.cells.len() >= chunk_cells {
                if let Some(tx) = &sink {
                    let next = FlatRows {
                        columns: out.columns.clone(),
                        data: Vec::with_capacity(out.data.len()),
                        cells: Vec::with_capacity(chunk_cells),
                    };
                    let full = std::mem::replace(&mut out, next);
                    if tx.send(full).is_err() {
                        // the connection is gone: finish like a buffered answer nobody reads
                        sink = None;
                    }
                }
            }
            for k in 0..n {
                let start = out.data.len();
                let null = match r.get_ref(k).map_err(sqlite_err)? {
                    ValueRef::Null => true,
                    ValueRef::Integer(i) => {
                        // itoa: the same digits as Display, without the formatter (1M-row answers)
                        out.data.extend_from_slice(itoa.format(i).as_bytes());
                        false
                    }
                    ValueRef::Real(f) => {
                        let _ = if f.fract() == 0.0 && f.abs() < 1e15 {
                            write!(out.data, "{}", f as i64)
                        } else {
                            write!(out.data, "{f}")
                        };
                        false
                    }
                    ValueRef::Text(t) | ValueRef::Blob(t) => {
                        match std::str::from_utf8(t) {
                            Ok(_) => out.data.extend_from_slice(t),
                            Err(_) => out
                                .data
                                .extend_from_slice(String::from_utf8_lossy(t).as_bytes()),
                        }
                        false
                    }
                };
                let len = if null {
                    u32::MAX
                } else {
                    (out.data.len() - start) as u32
                };
                out.cells.push((start as u32, len));
            }
        }
        Ok(Output::Flat(out))
    }

    fn select(
        &mut self,
        s: &Session,
        sql: &str,
        sink: Option<RowSink>,
    ) -> Result<Output, SimError> {
        if sql.contains("@@") {
            return self.select_vars(s, sql);
        }
        let tr = {
            let me = &*self;
            translate(sql, &mut |db, t| me.resolve(s, db, t, false))?
        };
        if tr
            .tables
            .iter()
            .any(|t| t.db.as_deref() == Some("information_schema"))
        {
            self.refresh_info()?;
        }
        self.query_sqlite_flat(&tr.sql, sink)
    }

    /// `SELECT @@a, @@session.b AS x [LIMIT 1]`.
    fn select_vars(&mut self, s: &Session, sql: &str) -> Result<Output, SimError> {
        let body = sql.trim().trim_end_matches(';');
        let re = regex::Regex::new(r"(?is)^\s*select\s+(.*?)(\s+limit\s+\d+)?\s*$")
            .map_err(|e| err(ER_PARSE, e.to_string()))?;
        let items = re
            .captures(body)
            .and_then(|c| c.get(1))
            .map(|m| m.as_str().to_string())
            .unwrap_or_default();
        let item_re = regex::Regex::new(r"(?i)^@@(?:(?:session|global|local)\.)?([A-Za-z0-9_]+)(?:\s+(?:as\s+)?`?([A-Za-z0-9_@.]+)`?)?$")
            .map_err(|e| err(ER_PARSE, e.to_string()))?;
        let mut columns = Vec::new();
        let mut row = Vec::new();
        for item in items.split(',') {
            let item = item.trim();
            let Some(cap) = item_re.captures(item) else {
                return Err(err(
                    ER_PARSE,
                    "the simulator answers SELECT @@var lists only; mix them with nothing else",
                ));
            };
            let name = cap.get(1).map(|m| m.as_str()).unwrap_or("");
            let Some(v) = variable(name, self, s) else {
                return Err(err(1193, format!("Unknown system variable '{name}'")));
            };
            columns.push(
                cap.get(2)
                    .map(|m| m.as_str().to_string())
                    .unwrap_or_else(|| item.to_string()),
            );
            row.push(Some(v));
        }
        Ok(Output::Rows {
            columns,
            rows: vec![row],
        })
    }

    pub(crate) fn table(&self, db: &str, t: &str) -> Result<&Table, SimError> {
        self.dbs
            .get(db)
            .ok_or_else(|| self.unknown_db(db))?
            .tables
            .get(t)
            .ok_or_else(|| self.unknown_table(t))
    }

    pub(crate) fn table_mut(&mut self, db: &str, t: &str) -> Result<&mut Table, SimError> {
        let e_db = self.unknown_db(db);
        let e_t = self.unknown_table(t);
        self.mark_dirty(db, t);
        self.dbs
            .get_mut(db)
            .ok_or(e_db)?
            .tables
            .get_mut(t)
            .ok_or(e_t)
    }
}
