//! The MySQL wire side: one opensrv-mysql shim per connection on a runtime owned by a thread.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use opensrv_mysql::{
    AsyncMysqlIntermediary, AsyncMysqlShim, ErrorKind, InitWriter, IntermediaryOptions, OkResponse,
    ParamParser, QueryResultWriter, StatementMetaWriter,
};
use tokio::io::AsyncWrite;
use tokio::sync::oneshot;

use crate::cluster::{Fault as Plan, Output, Session};
use crate::stream::{write_flat, Protocol};
use crate::{Shared, Sim, SimError, When};

use crate::prepared::*;
use crate::wire::*;

/// Stops the server thread when dropped via [`ServerGuard::shutdown`].
pub(crate) struct ServerGuard {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ServerGuard {
    pub(crate) fn shutdown(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

static CONN_IDS: AtomicU32 = AtomicU32::new(1);

/// Binds 127.0.0.1:port and serves on a background thread with its own runtime.
pub(crate) fn serve(shared: Arc<Shared>, port: u16) -> anyhow::Result<(ServerGuard, u16)> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
    listener.set_nonblocking(true)?;
    let port = listener.local_addr()?.port();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<anyhow::Result<()>>();
    let thread = std::thread::Builder::new()
        .name(format!("starrocks-sim-{port}"))
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(e.into()));
                    return;
                }
            };
            rt.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.into()));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(()));
                let mut stop_rx = stop_rx;
                loop {
                    tokio::select! {
                        _ = &mut stop_rx => break,
                        acc = listener.accept() => {
                            if let Ok((sock, _)) = acc {
                                let _ = sock.set_nodelay(true);
                                let shared = shared.clone();
                                tokio::spawn(async move {
                                    handle_conn(shared, port, sock).await;
                                });
                            }
                        }
                    }
                }
            });
            rt.shutdown_background();
        })?;
    ready_rx
        .recv()
        .map_err(|_| anyhow::anyhow!("simulator thread died during startup"))??;
    Ok((
        ServerGuard {
            stop: Some(stop_tx),
            thread: Some(thread),
        },
        port,
    ))
}

async fn handle_conn(shared: Arc<Shared>, port: u16, sock: tokio::net::TcpStream) {
    let conn_id = CONN_IDS.fetch_add(1, Ordering::Relaxed);
    let (session, version, user, password) = {
        let c = shared.lock();
        (
            c.new_session(conn_id),
            c.release.handshake().to_string(),
            c.opts.user.clone(),
            c.opts.password.clone(),
        )
    };
    let auth_user = Arc::new(Mutex::new(String::new()));
    let prepared = Arc::new(Mutex::new(Prepared::default()));
    let (r, w) = sock.into_split();
    let r = CommandFilter::new(r, prepared.clone());
    let w = Rewriter::new(w, auth_user.clone());
    let shim = Backend {
        shared,
        port,
        session,
        version,
        user,
        password,
        auth_user,
        prepared,
    };
    let opts = IntermediaryOptions {
        process_use_statement_on_query: true,
        reject_connection_on_dbname_absence: false,
    };
    let _ = AsyncMysqlIntermediary::run_with_options(shim, r, w, &opts).await;
}

struct Backend {
    shared: Arc<Shared>,
    port: u16,
    session: Session,
    version: String,
    user: String,
    password: String,
    auth_user: Arc<Mutex<String>>,
    /// This connection's prepared SELECTs (shared with the [`CommandFilter`] reading its commands).
    prepared: Arc<Mutex<Prepared>>,
}

/// A prepared SELECT: its text and the number of `?` placeholders.
pub(crate) struct PreparedSelect {
    sql: String,
    params: usize,
}

/// The prepared statements of one connection.
#[derive(Default)]
pub(crate) struct Prepared {
    pub(crate) stmts: HashMap<u32, PreparedSelect>,
    pub(crate) last_id: u32,
    /// Set by [`CommandFilter`] when it turned a COM_STMT_EXECUTE of an unknown id into a marker query.
    pub(crate) unknown: Option<u32>,
}

pub(crate) fn lock_prepared(p: &Mutex<Prepared>) -> std::sync::MutexGuard<'_, Prepared> {
    p.lock().unwrap_or_else(|e| e.into_inner())
}

/// The query text [`CommandFilter`] puts in place of a COM_STMT_EXECUTE of an unknown statement.
pub(crate) const UNKNOWN_STMT_MARKER: &str = "\u{1}\u{2}unknown prepared statement";

/// Marks a message so [`Rewriter`] can put the real errno into the packet (opensrv only knows
/// the MySQL-defined codes; StarRocks uses 5064, 5501, ...).
pub(crate) fn marked(e: &SimError) -> String {
    format!("\u{1}{}\u{1}{}", e.code, e.message)
}

pub(crate) fn scramble(password: &str, salt: &[u8]) -> Vec<u8> {
    use sha1::{Digest, Sha1};
    if password.is_empty() {
        return Vec::new();
    }
    let h1 = Sha1::digest(password.as_bytes());
    let h2 = Sha1::digest(h1);
    let mut hasher = Sha1::new();
    hasher.update(salt);
    hasher.update(h2);
    let h3 = hasher.finalize();
    h1.iter().zip(h3.iter()).map(|(a, b)| a ^ b).collect()
}

impl Backend {
    /// Logs the statement, ticks the clock and decides which fault (if any) applies.
    fn admit(&mut self, sql: &str) -> Plan {
        let mut c = self.shared.lock();
        c.tick();
        c.log.push(crate::LoggedStatement {
            conn_id: self.session.conn_id,
            sql: sql.to_string(),
            error: None,
        });
        c.fault_for(sql)
    }

    fn log_error(&self, msg: &str) {
        let mut c = self.shared.lock();
        let conn = self.session.conn_id;
        if let Some(entry) = c.log.iter_mut().rev().find(|l| l.conn_id == conn) {
            entry.error = Some(msg.to_string());
        }
    }

    /// Whether a hook waits for `sql` (such a statement is answered only after its hooks ran).
    fn hooked(&self, sql: &str) -> bool {
        let hooks = self.shared.hooks.lock().unwrap_or_else(|e| e.into_inner());
        hooks.iter().any(|(re, _)| re.is_match(sql))
    }

    fn run_hooks(&self, sql: &str) {
        let mut due = Vec::new();
        {
            let mut hooks = self.shared.hooks.lock().unwrap_or_else(|e| e.into_inner());
            let mut k = 0;
            while k < hooks.len() {
                if hooks[k].0.is_match(sql) {
                    due.push(hooks.remove(k));
                } else {
                    k += 1;
                }
            }
        }
        if due.is_empty() {
            return;
        }
        let sim = Sim::handle(self.shared.clone(), self.port);
        for (_, mut hook) in due {
            hook(&sim);
        }
    }

    async fn answer<W: AsyncWrite + Send + Unpin>(
        &mut self,
        result: Result<Output, SimError>,
        w: QueryResultWriter<'_, W>,
        proto: Protocol,
    ) -> io::Result<()> {
        match result {
            Ok(Output::Ok { affected }) => {
                w.completed(OkResponse {
                    affected_rows: affected,
                    ..Default::default()
                })
                .await
            }
            Ok(Output::Rows { columns, rows }) => {
                let cols = text_columns(&columns);
                let mut rw = w.start(&cols).await?;
                for row in rows {
                    for v in row {
                        match v {
                            Some(s) => rw.write_col(s)?,
                            None => rw.write_col(None::<String>)?,
                        }
                    }
                    rw.end_row().await?;
                }
                rw.finish().await
            }
            Ok(Output::Flat(f)) => {
                let cols = text_columns(&f.columns);
                let mut rw = w.start(&cols).await?;
                write_flat(&mut rw, &f, proto).await?;
                rw.finish().await
            }
            Err(e) => {
                self.log_error(&e.message);
                w.error(ErrorKind::ER_UNKNOWN_ERROR, marked(&e).as_bytes())
                    .await
            }
        }
    }

    /// Runs one client statement (a text query or a prepared SELECT with its parameters bound):
    /// statement log, clock tick, fault knobs, hooks, then the answer in `results`' protocol.
    async fn serve<W: AsyncWrite + Send + Unpin>(
        &mut self,
        query: &str,
        results: QueryResultWriter<'_, W>,
        proto: Protocol,
    ) -> io::Result<()> {
        let plan = self.admit(query);
        match plan {
            Plan::Fail(e) => return self.answer(Err(e), results, proto).await,
            Plan::Drop(When::Before) => return Err(gone()),
            Plan::Hang(When::Before) => {
                self.shared.hung.fetch_add(1, Ordering::SeqCst);
                std::future::pending::<()>().await;
                return Err(gone());
            }
            Plan::None | Plan::Drop(When::After) | Plan::Hang(When::After) => {}
        }
        if matches!(plan, Plan::None) && !self.hooked(query) {
            return self.serve_streaming(query, results, proto).await;
        }
        let result = {
            let mut c = self.shared.lock();
            c.run(&mut self.session, query)
        };
        self.run_hooks(query);
        match plan {
            Plan::Drop(When::After) => {
                // the statement ran; the client never hears back
                if let Err(e) = &result {
                    self.log_error(&e.message);
                }
                return Err(gone());
            }
            Plan::Hang(When::After) => {
                self.shared.hung.fetch_add(1, Ordering::SeqCst);
                std::future::pending::<()>().await;
                return Err(gone());
            }
            _ => {}
        }
        self.answer(result, results, proto).await
    }
}

impl Backend {
    /// Runs a statement with no fault and no hook, streaming a big SELECT answer (see
    /// [`crate::stream`]): the statement runs on a blocking thread that holds the cluster lock
    /// exactly as long as a buffered run would, while this task writes the chunks it produced.
    async fn serve_streaming<W: AsyncWrite + Send + Unpin>(
        &mut self,
        query: &str,
        results: QueryResultWriter<'_, W>,
        proto: Protocol,
    ) -> io::Result<()> {
        let (sink, mut source) = crate::stream::channel();
        let shared = self.shared.clone();
        let mut session = self.session.clone();
        let sql = query.to_string();
        let job = tokio::task::spawn_blocking(move || {
            let result = shared.lock().run_streaming(&mut session, &sql, Some(sink));
            (session, result)
        });
        let Some(first) = source.recv().await else {
            // a statement that did not stream (anything but a SELECT of more than a chunk)
            let result = self.join(job).await?;
            return self.answer(result, results, proto).await;
        };
        let cols = text_columns(&first.columns);
        let mut rw = results.start(&cols).await?;
        write_flat(&mut rw, &first, proto).await?;
        drop(first);
        while let Some(chunk) = source.recv().await {
            write_flat(&mut rw, &chunk, proto).await?;
        }
        match self.join(job).await? {
            Ok(Output::Flat(rest)) => {
                write_flat(&mut rw, &rest, proto).await?;
                rw.finish().await
            }
            Ok(_) => rw.finish().await,
            Err(e) => {
                // SQLite failed after rows went out: the error ends the result set, as the
                // FE's does when a query fails while it streams
                self.log_error(&e.message);
                rw.finish_error(ErrorKind::ER_UNKNOWN_ERROR, &marked(&e).as_bytes())
                    .await
            }
        }
    }

    /// Waits for the statement thread and takes the session back.
    async fn join(
        &mut self,
        job: tokio::task::JoinHandle<(Session, Result<Output, SimError>)>,
    ) -> io::Result<Result<Output, SimError>> {
        let (session, result) = job
            .await
            .map_err(|e| io::Error::other(format!("statement thread failed: {e}")))?;
        self.session = session;
        Ok(result)
    }
}

pub(crate) fn gone() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "dropped by fault injection",
    )
}

#[async_trait]
impl<W: AsyncWrite + Send + Unpin> AsyncMysqlShim<W> for Backend {
    type Error = io::Error;

    fn version(&self) -> String {
        self.version.clone()
    }

    fn connect_id(&self) -> u32 {
        self.session.conn_id
    }

    async fn authenticate(
        &self,
        _auth_plugin: &str,
        username: &[u8],
        salt: &[u8],
        auth_data: &[u8],
    ) -> bool {
        let user = String::from_utf8_lossy(username).to_string();
        if let Ok(mut u) = self.auth_user.lock() {
            *u = user.clone();
        }
        let expected = scramble(&self.password, salt);
        user == self.user && auth_data == expected.as_slice()
    }

    async fn on_prepare<'a>(
        &'a mut self,
        query: &'a str,
        info: StatementMetaWriter<'a, W>,
    ) -> io::Result<()> {
        let modern = self.shared.lock().release.prepared_select();
        let is_select = query
            .trim_start()
            .get(..6)
            .is_some_and(|p| p.eq_ignore_ascii_case("select"));
        let e = if !modern {
            SimError {
                code: 1047,
                message: "Unsupported command(COM_STMT_PREPARE)".to_string(),
            }
        } else if !is_select {
            SimError {
                code: 1295,
                message: "This command is not supported in the prepared statement protocol yet"
                    .to_string(),
            }
        } else {
            // STARROCKS.md §5: from 3.2 a SELECT prepares; the result columns are described by
            // the execute response (the client reads them there)
            let params = placeholders(query).len();
            let id = {
                let mut p = lock_prepared(&self.prepared);
                p.last_id = p.last_id.wrapping_add(1).max(1);
                let id = p.last_id;
                p.stmts.insert(
                    id,
                    PreparedSelect {
                        sql: query.to_string(),
                        params,
                    },
                );
                id
            };
            let param_cols = text_columns(&vec!["?".to_string(); params]);
            return info.reply(id, &param_cols, &[]).await;
        };
        info.error(ErrorKind::ER_UNKNOWN_ERROR, marked(&e).as_bytes())
            .await
    }

    async fn on_execute<'a>(
        &'a mut self,
        id: u32,
        params: ParamParser<'a>,
        results: QueryResultWriter<'a, W>,
    ) -> io::Result<()> {
        let stmt = lock_prepared(&self.prepared)
            .stmts
            .get(&id)
            .map(|p| (p.sql.clone(), p.params));
        let Some((sql, count)) = stmt else {
            // CommandFilter answers unknown ids before opensrv sees them; kept for safety
            return results
                .error(
                    ErrorKind::ER_UNKNOWN_ERROR,
                    marked(&unknown_stmt(id)).as_bytes(),
                )
                .await;
        };
        let literals: Vec<String> = params
            .into_iter()
            .map(|p| param_literal(p.value.into_inner()))
            .collect();
        if literals.len() != count {
            let e = SimError {
                code: 1064,
                message: format!(
                    "Getting syntax error. Detail message: expected {count} parameters, got {}.",
                    literals.len()
                ),
            };
            return results
                .error(ErrorKind::ER_UNKNOWN_ERROR, marked(&e).as_bytes())
                .await;
        }
        let bound = bind(&sql, &literals);
        self.serve(&bound, results, Protocol::Binary).await
    }

    async fn on_close<'a>(&'a mut self, stmt: u32)
    where
        W: 'async_trait,
    {
        lock_prepared(&self.prepared).stmts.remove(&stmt);
    }

    async fn on_init<'a>(&'a mut self, db: &'a str, w: InitWriter<'a, W>) -> io::Result<()> {
        let res = {
            let mut c = self.shared.lock();
            c.use_db(&mut self.session, db)
        };
        match res {
            Ok(()) => w.ok().await,
            Err(e) => {
                w.error(ErrorKind::ER_UNKNOWN_ERROR, marked(&e).as_bytes())
                    .await
            }
        }
    }

    async fn on_query<'a>(
        &'a mut self,
        query: &'a str,
        results: QueryResultWriter<'a, W>,
    ) -> io::Result<()> {
        if query == UNKNOWN_STMT_MARKER {
            let unknown = lock_prepared(&self.prepared).unknown.take();
            if let Some(id) = unknown {
                return results
                    .error(
                        ErrorKind::ER_UNKNOWN_ERROR,
                        marked(&unknown_stmt(id)).as_bytes(),
                    )
                    .await;
            }
        }
        self.serve(query, results, Protocol::Text).await
    }
}
