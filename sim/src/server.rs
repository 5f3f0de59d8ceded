//! The MySQL wire side: one opensrv-mysql shim per connection on a runtime owned by a thread.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use async_trait::async_trait;
use opensrv_mysql::{
    AsyncMysqlIntermediary, AsyncMysqlShim, Column, ColumnFlags, ColumnType, ErrorKind, InitWriter,
    IntermediaryOptions, OkResponse, ParamParser, QueryResultWriter, StatementMetaWriter,
};
use tokio::io::AsyncWrite;
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
            c.opts.server_version.clone(),
            c.opts.user.clone(),
            c.opts.password.clone(),
        )
    };
    let auth_user = Arc::new(Mutex::new(String::new()));
    let (r, w) = sock.into_split();
    let w = Rewriter::new(w, auth_user.clone());
    let shim = Backend {
        shared,
        port,
        session,
        version,
        user,
        password,
        auth_user,
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
}

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
        let modern = crate::cluster::version_at_least_3_2(&self.shared.lock().opts.server_version);
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
            SimError {
                code: 1295,
                message:
                    "the simulator does not execute prepared statements; use the text protocol"
                        .to_string(),
            }
        };
        info.error(ErrorKind::ER_UNKNOWN_ERROR, marked(&e).as_bytes())
            .await
    }

    async fn on_execute<'a>(
        &'a mut self,
        _id: u32,
        _params: ParamParser<'a>,
        results: QueryResultWriter<'a, W>,
    ) -> io::Result<()> {
        results
            .error(
                ErrorKind::ER_UNKNOWN_STMT_HANDLER,
                b"Unknown prepared statement handler",
            )
            .await
    }

    async fn on_close<'a>(&'a mut self, _stmt: u32)
    where
        W: 'async_trait,
    {
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
