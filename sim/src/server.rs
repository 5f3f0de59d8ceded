//! The MySQL wire side: one opensrv-mysql shim per connection on a runtime owned by a thread.

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use async_trait::async_trait;
use opensrv_mysql::{
    AsyncMysqlIntermediary, AsyncMysqlShim, Column, ColumnFlags, ColumnType, ErrorKind, InitWriter,
    IntermediaryOptions, OkResponse, ParamParser, QueryResultWriter, StatementMetaWriter,
    ValueInner,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::oneshot;

use crate::cluster::{Fault as Plan, Output, Session};
use crate::{Shared, Sim, SimError, When};

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
struct PreparedSelect {
    sql: String,
    params: usize,
}

/// The prepared statements of one connection.
#[derive(Default)]
struct Prepared {
    stmts: HashMap<u32, PreparedSelect>,
    last_id: u32,
    /// Set by [`CommandFilter`] when it turned a COM_STMT_EXECUTE of an unknown id into a marker query.
    unknown: Option<u32>,
}

fn lock_prepared(p: &Mutex<Prepared>) -> std::sync::MutexGuard<'_, Prepared> {
    p.lock().unwrap_or_else(|e| e.into_inner())
}

/// The query text [`CommandFilter`] puts in place of a COM_STMT_EXECUTE of an unknown statement.
const UNKNOWN_STMT_MARKER: &str = "\u{1}\u{2}unknown prepared statement";

/// Marks a message so [`Rewriter`] can put the real errno into the packet (opensrv only knows
/// the MySQL-defined codes; StarRocks uses 5064, 5501, ...).
fn marked(e: &SimError) -> String {
    format!("\u{1}{}\u{1}{}", e.code, e.message)
}

fn scramble(password: &str, salt: &[u8]) -> Vec<u8> {
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
                for row in f.rows() {
                    for v in row {
                        rw.write_col(v)?;
                    }
                    rw.end_row().await?;
                }
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
    ) -> io::Result<()> {
        let plan = self.admit(query);
        match plan {
            Plan::Fail(e) => return self.answer(Err(e), results).await,
            Plan::Drop(When::Before) => return Err(gone()),
            Plan::Hang(When::Before) => {
                self.shared.hung.fetch_add(1, Ordering::SeqCst);
                std::future::pending::<()>().await;
                return Err(gone());
            }
            Plan::None | Plan::Drop(When::After) | Plan::Hang(When::After) => {}
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
        self.answer(result, results).await
    }
}

fn gone() -> io::Error {
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
        self.serve(&bound, results).await
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
        self.serve(query, results).await
    }
}

/// Output stream wrapper rewriting ERR packets: it puts the marked errno in place and turns
/// opensrv's authentication failure into MySQL's 1045 "Access denied".
///
/// Built for large result sets (a 1M-row partitions_meta answer): packets other than ERR are copied
/// through without allocation, writes are vectored (opensrv writes header + payload as two slices),
/// the output buffer is consumed by an offset (never shifted), and it is drained to the socket while
/// rows are still being written, so the client decodes while the simulator encodes.
struct Rewriter<W> {
    inner: W,
    pending: Vec<u8>,
    out: Vec<u8>,
    /// Bytes of `out` already written to `inner`.
    out_pos: usize,
    auth_user: Arc<Mutex<String>>,
}

/// Above this many buffered bytes a write first pushes them to the socket (backpressure).
const HIGH_WATER: usize = 1 << 20;

impl<W> Rewriter<W> {
    fn new(inner: W, auth_user: Arc<Mutex<String>>) -> Self {
        Rewriter {
            inner,
            pending: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            auth_user,
        }
    }

    fn sqlstate(code: u16) -> &'static [u8; 5] {
        match code {
            1045 => b"28000",
            1064 | 1049 => b"42000",
            1051 => b"42S02",
            _ => b"HY000",
        }
    }

    /// The replacement payload of an ERR packet, if it needs one.
    fn rewrite(&self, payload: &[u8]) -> Option<Vec<u8>> {
        if payload.len() < 9 || payload[0] != 0xFF {
            return None;
        }
        let code = u16::from_le_bytes([payload[1], payload[2]]);
        let msg = &payload[9..];
        if code == ErrorKind::ER_ACCESS_DENIED_NO_PASSWORD_ERROR as u16 {
            let user = self.auth_user.lock().map(|u| u.clone()).unwrap_or_default();
            let text = format!("Access denied for user '{user}' (using password: YES)");
            return Some(err_payload(1045, text.as_bytes()));
        }
        if msg.first() == Some(&1) {
            if let Some(end) = msg[1..].iter().position(|&b| b == 1) {
                let num = std::str::from_utf8(&msg[1..1 + end])
                    .ok()
                    .and_then(|s| s.parse::<u16>().ok());
                if let Some(num) = num {
                    return Some(err_payload(num, &msg[2 + end..]));
                }
            }
        }
        None
    }

    /// Moves every complete packet of `buf` (after what `pending` holds) to `out`.
    fn accept(&mut self, buf: &[u8]) {
        let owned;
        let data: &[u8] = if self.pending.is_empty() {
            buf
        } else {
            self.pending.extend_from_slice(buf);
            owned = std::mem::take(&mut self.pending);
            &owned
        };
        let mut pos = 0;
        while data.len() - pos >= 4 {
            let rest = &data[pos..];
            let len = u32::from_le_bytes([rest[0], rest[1], rest[2], 0]) as usize;
            if rest.len() < 4 + len {
                break;
            }
            let payload = &rest[4..4 + len];
            match (len < 0xFF_FFFF).then(|| self.rewrite(payload)).flatten() {
                Some(p) => {
                    let l = p.len() as u32;
                    self.out.extend_from_slice(&l.to_le_bytes()[..3]);
                    self.out.push(rest[3]);
                    self.out.extend_from_slice(&p);
                }
                None => self.out.extend_from_slice(&rest[..4 + len]),
            }
            pos += 4 + len;
        }
        self.pending = data[pos..].to_vec();
    }

    fn buffered(&self) -> usize {
        self.out.len() - self.out_pos
    }
}

fn err_payload(code: u16, msg: &[u8]) -> Vec<u8> {
    let mut p = vec![0xFF];
    p.extend_from_slice(&code.to_le_bytes());
    p.push(b'#');
    p.extend_from_slice(Rewriter::<()>::sqlstate(code));
    p.extend_from_slice(msg);
    p
}

impl<W: AsyncWrite + Unpin> Rewriter<W> {
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.out_pos < self.out.len() {
            match Pin::new(&mut self.inner).poll_write(cx, &self.out[self.out_pos..]) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(io::Error::new(io::ErrorKind::WriteZero, "closed")))
                }
                Poll::Ready(Ok(n)) => self.out_pos += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        self.out.clear();
        self.out_pos = 0;
        Poll::Ready(Ok(()))
    }

    /// Backpressure: with a lot buffered, push it out before taking more.
    fn poll_room(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.buffered() >= HIGH_WATER {
            match self.poll_drain(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending if self.buffered() >= 8 * HIGH_WATER => return Poll::Pending,
                Poll::Pending => {}
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for Rewriter<W> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match this.poll_room(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
        this.accept(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match this.poll_room(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
        // opensrv writes one packet as [header, payload]: take it without copying it twice
        if let [h, p] = bufs {
            let len = u32::from_le_bytes([
                h.first().copied().unwrap_or(0),
                h.get(1).copied().unwrap_or(0),
                h.get(2).copied().unwrap_or(0),
                0,
            ]) as usize;
            if this.pending.is_empty() && h.len() == 4 && p.len() == len && len < 0xFF_FFFF {
                match this.rewrite(p) {
                    Some(new) => {
                        let l = new.len() as u32;
                        this.out.extend_from_slice(&l.to_le_bytes()[..3]);
                        this.out.push(h[3]);
                        this.out.extend_from_slice(&new);
                    }
                    None => {
                        this.out.extend_from_slice(h);
                        this.out.extend_from_slice(p);
                    }
                }
                return Poll::Ready(Ok(4 + len));
            }
        }
        let mut n = 0;
        for b in bufs {
            this.accept(b);
            n += b.len();
        }
        Poll::Ready(Ok(n))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.poll_drain(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.inner).poll_flush(cx),
            other => other,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.poll_drain(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.inner).poll_shutdown(cx),
            other => other,
        }
    }
}

/// Result-set column definitions: every column is a VARCHAR, as the FE's text answers are.
fn text_columns(names: &[String]) -> Vec<Column> {
    names
        .iter()
        .map(|c| Column {
            table: String::new(),
            column: c.clone(),
            coltype: ColumnType::MYSQL_TYPE_VAR_STRING,
            colflags: ColumnFlags::empty(),
        })
        .collect()
}

/// StarRocks ConnectProcessor.handleExecute for an id it does not know: `setError` (errno 1047),
/// no statement run, nothing audited.
fn unknown_stmt(id: u32) -> SimError {
    SimError {
        code: 1047,
        message: format!("msg: Not Found prepared statement, stmtName: {id}"),
    }
}

/// Byte offsets of the `?` placeholders of `sql`: those outside quotes, backticks and comments.
fn placeholders(sql: &str) -> Vec<usize> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            q @ (b'\'' | b'"' | b'`') => {
                i += 1;
                while i < b.len() && b[i] != q {
                    // backslash escapes inside string literals (not in identifiers)
                    if b[i] == b'\\' && q != b'`' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'-' if b.get(i + 1) == Some(&b'-')
                && b.get(i + 2).is_none_or(|c| c.is_ascii_whitespace()) =>
            {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < b.len() && !(b[i] == b'*' && b.get(i + 1) == Some(&b'/')) {
                    i += 1;
                }
                i += 1;
            }
            b'?' => out.push(i),
            _ => {}
        }
        i += 1;
    }
    out
}

/// `sql` with its placeholders replaced, in order, by `literals` (as many as there are placeholders).
fn bind(sql: &str, literals: &[String]) -> String {
    let mut out =
        String::with_capacity(sql.len() + literals.iter().map(String::len).sum::<usize>());
    let mut last = 0;
    for (pos, lit) in placeholders(sql).into_iter().zip(literals) {
        out.push_str(&sql[last..pos]);
        out.push_str(lit);
        last = pos + 1;
    }
    out.push_str(&sql[last..]);
    out
}

/// A single-quoted SQL string literal with MySQL backslash escapes.
fn str_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\0' => out.push_str("\\0"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{1a}' => out.push_str("\\Z"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// A bound COM_STMT_EXECUTE parameter as a SQL literal.
fn param_literal(v: ValueInner<'_>) -> String {
    fn ymd(b: &[u8]) -> String {
        match b {
            [y0, y1, m, d, ..] => format!("{:04}-{m:02}-{d:02}", u16::from_le_bytes([*y0, *y1])),
            _ => "0000-00-00".to_string(),
        }
    }
    fn hms(h: u32, b: &[u8]) -> String {
        match b {
            [m, s, rest @ ..] => {
                let mut t = format!("{h:02}:{m:02}:{s:02}");
                if let [u0, u1, u2, u3] = rest {
                    let us = u32::from_le_bytes([*u0, *u1, *u2, *u3]);
                    if us != 0 {
                        t.push_str(&format!(".{us:06}"));
                    }
                }
                t
            }
            _ => format!("{h:02}:00:00"),
        }
    }
    match v {
        ValueInner::NULL => "NULL".to_string(),
        ValueInner::Int(i) => i.to_string(),
        ValueInner::UInt(u) => u.to_string(),
        ValueInner::Double(f) if f.is_finite() => format!("{f:?}"),
        ValueInner::Double(_) => "NULL".to_string(),
        ValueInner::Bytes(b) => match std::str::from_utf8(b) {
            Ok(s) => str_literal(s),
            Err(_) => {
                let hex: String = b.iter().map(|x| format!("{x:02X}")).collect();
                format!("X'{hex}'")
            }
        },
        ValueInner::Date(b) => str_literal(&ymd(b)),
        ValueInner::Datetime(b) => match b.get(4) {
            Some(&h) => str_literal(&format!("{} {}", ymd(b), hms(u32::from(h), &b[5..]))),
            None => str_literal(&format!("{} 00:00:00", ymd(b))),
        },
        ValueInner::Time(b) => match b {
            [neg, d0, d1, d2, d3, h, rest @ ..] => {
                let days = u32::from_le_bytes([*d0, *d1, *d2, *d3]);
                let sign = if *neg != 0 { "-" } else { "" };
                str_literal(&format!("{sign}{}", hms(days * 24 + u32::from(*h), rest)))
            }
            _ => str_literal("00:00:00"),
        },
    }
}

/// Input stream wrapper in front of opensrv: a COM_STMT_EXECUTE of a statement id this connection
/// does not know (never prepared, or closed) would make opensrv drop the connection, so it is
/// replaced by a COM_QUERY of [`UNKNOWN_STMT_MARKER`] (the backend answers StarRocks' error); a
/// COM_STMT_CLOSE forgets its id at once (the client may send EXECUTE right behind it).
///
/// Only the head of each packet is buffered; the rest streams through. A read never returns bytes
/// of two packets: opensrv's packet reader mishandles a second packet in the same buffer (it
/// answers a pipelined COM_STMT_CLOSE + COM_STMT_EXECUTE with a stray OK).
struct CommandFilter<R> {
    inner: R,
    prepared: Arc<Mutex<Prepared>>,
    /// Header and first payload bytes of the packet being looked at.
    head: Vec<u8>,
    /// Bytes of the current packet still to copy through / to drop.
    pass: usize,
    skip: usize,
    out: Vec<u8>,
    out_pos: usize,
    /// Offsets in `out` where a packet ends.
    ends: std::collections::VecDeque<usize>,
    eof: bool,
}

const COM_STMT_EXECUTE: u8 = 0x17;
const COM_STMT_CLOSE: u8 = 0x19;

impl<R> CommandFilter<R> {
    fn new(inner: R, prepared: Arc<Mutex<Prepared>>) -> Self {
        CommandFilter {
            inner,
            prepared,
            head: Vec::with_capacity(9),
            pass: 0,
            skip: 0,
            out: Vec::new(),
            out_pos: 0,
            ends: std::collections::VecDeque::new(),
            eof: false,
        }
    }

    fn accept(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if self.pass > 0 {
                let n = self.pass.min(data.len());
                self.out.extend_from_slice(&data[..n]);
                self.pass -= n;
                data = &data[n..];
                if self.pass == 0 {
                    self.ends.push_back(self.out.len());
                }
                continue;
            }
            if self.skip > 0 {
                let n = self.skip.min(data.len());
                self.skip -= n;
                data = &data[n..];
                continue;
            }
            // the header, then up to 5 payload bytes (command + statement id)
            let want = if self.head.len() < 4 {
                4
            } else {
                let len = u32::from_le_bytes([self.head[0], self.head[1], self.head[2], 0]);
                4 + (len as usize).min(5)
            };
            if self.head.len() < want {
                let n = (want - self.head.len()).min(data.len());
                self.head.extend_from_slice(&data[..n]);
                data = &data[n..];
                if self.head.len() < 4 || self.head.len() < want {
                    continue;
                }
                if want == 4 {
                    let len = u32::from_le_bytes([self.head[0], self.head[1], self.head[2], 0]);
                    if len > 0 {
                        continue;
                    }
                }
            }
            self.decide();
        }
    }

    /// Called with a complete head: forwards it (and arranges the rest of the packet) or replaces it.
    fn decide(&mut self) {
        let h = std::mem::take(&mut self.head);
        let len = u32::from_le_bytes([h[0], h[1], h[2], 0]) as usize;
        let seq = h[3];
        let payload = &h[4..];
        if seq == 0 && payload.len() == 5 {
            let id = u32::from_le_bytes([payload[1], payload[2], payload[3], payload[4]]);
            let mut p = lock_prepared(&self.prepared);
            if payload[0] == COM_STMT_CLOSE {
                p.stmts.remove(&id);
            } else if payload[0] == COM_STMT_EXECUTE && !p.stmts.contains_key(&id) {
                p.unknown = Some(id);
                drop(p);
                let q = UNKNOWN_STMT_MARKER.as_bytes();
                let l = (q.len() + 1) as u32;
                self.out.extend_from_slice(&l.to_le_bytes()[..3]);
                self.out.push(0);
                self.out.push(0x03); // COM_QUERY
                self.out.extend_from_slice(q);
                self.ends.push_back(self.out.len());
                self.skip = len - 5;
                self.head = h;
                self.head.clear();
                return;
            }
        }
        self.out.extend_from_slice(&h);
        self.pass = len - payload.len();
        if self.pass == 0 {
            self.ends.push_back(self.out.len());
        }
        self.head = h;
        self.head.clear();
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for CommandFilter<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.out_pos < this.out.len() {
                let limit = this.ends.front().copied().unwrap_or(this.out.len());
                let n = buf.remaining().min(limit - this.out_pos);
                buf.put_slice(&this.out[this.out_pos..this.out_pos + n]);
                this.out_pos += n;
                if this.ends.front() == Some(&this.out_pos) {
                    this.ends.pop_front();
                }
                if this.out_pos == this.out.len() {
                    this.out.clear();
                    this.out_pos = 0;
                    this.ends.clear();
                }
                return Poll::Ready(Ok(()));
            }
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            let mut tmp = [0u8; 16 * 1024];
            let mut rb = ReadBuf::new(&mut tmp);
            match Pin::new(&mut this.inner).poll_read(cx, &mut rb) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) => {
                    let got = rb.filled();
                    if got.is_empty() {
                        // end of stream: hand on whatever partial head there is
                        this.eof = true;
                        let h = std::mem::take(&mut this.head);
                        this.out.extend_from_slice(&h);
                    } else {
                        this.accept(got);
                    }
                }
            }
        }
    }
}
