//! The one connection to the FE: text protocol only (StarRocks rejects most prepared statements), no
//! socket lookup (`prefer_socket(false)`: the FE has no @@socket), reconnect on demand, and the
//! classification of errors into transient and permanent.

use std::fmt;
use std::time::Duration;

use backon::{BlockingRetryable, ExponentialBuilder};
use mysql::prelude::Queryable;
use mysql::{Conn, Opts, OptsBuilder};
use tracing::{debug, warn};

use crate::config::Config;
use crate::error::{one_line, BbrError};
use crate::plan::RetryPolicy;

/// One result set: column names and rows of nullable strings (every StarRocks column is text here).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResultSet {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
}

impl ResultSet {
    /// Index of a column by name (case-insensitive): SHOW output is read by name, never by position.
    pub fn col(&self, name: &str) -> Option<usize> {
        self.columns
            .iter()
            .position(|c| c.eq_ignore_ascii_case(name))
    }

    /// The value of column `name` in row `row`.
    pub fn get(&self, row: usize, name: &str) -> Option<String> {
        let i = self.col(name)?;
        self.rows.get(row)?.get(i)?.clone()
    }

    /// First column of the first row.
    pub fn scalar(&self) -> Option<String> {
        self.rows.first()?.first()?.clone()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlError {
    /// Could not connect or authenticate; nothing was sent. `auth` errors are not retried.
    Connect { message: String, auth: bool },
    /// The connection broke while the statement was in flight: it may or may not have run.
    Lost(String),
    /// The server refused before doing anything because a job slot is busy or a submission is in
    /// progress ("Can only run one backup or restore job", "Another backup or restore job is being
    /// submitted").
    Busy(String),
    /// Any other server error: permanent.
    Server { code: u16, message: String },
}

impl fmt::Display for SqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SqlError::Connect { message, .. } => write!(f, "cannot connect: {message}"),
            SqlError::Lost(m) => write!(f, "connection lost: {m}"),
            SqlError::Busy(m) => write!(f, "{m}"),
            SqlError::Server { code, message } => write!(f, "{message} (errno {code})"),
        }
    }
}

impl std::error::Error for SqlError {}

impl SqlError {
    /// Whether `policy` allows another attempt after this error.
    pub fn retryable(&self, policy: &RetryPolicy) -> bool {
        match self {
            SqlError::Connect { auth, .. } => !auth,
            SqlError::Lost(_) => policy.safe_to_retry,
            SqlError::Busy(_) => policy.retry_when_busy,
            SqlError::Server { .. } => false,
        }
    }

    /// The user-facing error for a statement that finally failed.
    pub fn into_bbr(self, doing: &str) -> BbrError {
        match self {
            SqlError::Connect { message, .. } => BbrError::connect(
                format!("cannot reach or log in to StarRocks while {doing}: {message}"),
                "check connection.host/port/user and the password, and that the FE is up",
            ),
            SqlError::Lost(m) => BbrError::connect(
                format!("lost the connection to StarRocks while {doing}: {m}"),
                "check the network and the FE, then run the command again (it resumes)",
            ),
            SqlError::Busy(m) => BbrError::job_failed(
                format!("StarRocks stayed busy while {doing}: {m}"),
                "another backup or restore job holds the database; retry later",
            ),
            SqlError::Server { code, message } => BbrError::job_failed(
                format!(
                    "StarRocks refused {doing}: {} (errno {code})",
                    one_line(&message)
                ),
                "fix the cause named by StarRocks and run again",
            ),
        }
    }
}

/// Stable cores of StarRocks messages that mean "busy, try again" (STARROCKS.md §3).
const BUSY_MARKERS: [&str; 2] = [
    "Can only run one backup or restore job",
    "Another backup or restore job is being submitted",
];

fn classify(e: mysql::Error) -> SqlError {
    match e {
        mysql::Error::MySqlError(m) => {
            if BUSY_MARKERS.iter().any(|k| m.message.contains(k)) {
                SqlError::Busy(m.message)
            } else {
                SqlError::Server {
                    code: m.code,
                    message: m.message,
                }
            }
        }
        mysql::Error::IoError(e) => SqlError::Lost(e.to_string()),
        mysql::Error::CodecError(e) => SqlError::Lost(e.to_string()),
        mysql::Error::DriverError(e) => SqlError::Lost(e.to_string()),
        other => SqlError::Lost(other.to_string()),
    }
}

/// A row callback of [`Cluster::query_fold`]: state, column names, raw values (None = NULL).
type RowFn<'a, S> = dyn FnMut(&mut S, &[String], &[Option<&[u8]>]) + 'a;

/// The connection. Holds no password after connecting except inside the driver's options.
pub struct Cluster {
    opts: Opts,
    conn: Option<Conn>,
    /// For messages only: `host:port`.
    pub endpoint: String,
}

impl Cluster {
    /// Builds the options and connects once (failing fast with exit 3).
    pub fn connect(cfg: &Config) -> Result<Cluster, BbrError> {
        let password = cfg.password()?;
        let opts = OptsBuilder::new()
            .ip_or_hostname(Some(cfg.connection.host.clone()))
            .tcp_port(cfg.connection.port)
            .user(Some(cfg.connection.user.clone()))
            .pass(password)
            .prefer_socket(false)
            .ssl_opts(ssl_opts(&cfg.connection.tls))
            .tcp_connect_timeout(Some(Duration::from_secs(10)))
            .read_timeout(Some(Duration::from_secs(300)))
            .write_timeout(Some(Duration::from_secs(60)));
        let mut c = Cluster {
            opts: Opts::from(opts),
            conn: None,
            endpoint: format!("{}:{}", cfg.connection.host, cfg.connection.port),
        };
        let policy = RetryPolicy {
            safe_to_retry: true,
            retry_when_busy: false,
            attempts: cfg.retry.attempts,
            initial_ms: cfg.retry.initial_ms,
            max_ms: cfg.retry.max_ms,
        };
        let endpoint = c.endpoint.clone();
        let attempt = || -> Result<(), SqlError> { c.ensure_conn() };
        attempt
            .retry(backoff(&policy))
            .sleep(crate::signals::sleep)
            .when(|e: &SqlError| e.retryable(&policy) && crate::signals::received().is_none())
            .notify(|e: &SqlError, d: Duration| {
                warn!(
                    "cannot reach StarRocks at {endpoint} ({}); retrying in {d:?} (up to {} attempts, retry.max_ms {} ms apart)",
                    match e {
                        SqlError::Connect { message, .. } => message.clone(),
                        other => other.to_string(),
                    },
                    policy.attempts,
                    policy.max_ms
                )
            })
            .call()
            .map_err(|e| e.into_bbr(&format!("connecting to {endpoint}")))?;
        Ok(c)
    }

    fn ensure_conn(&mut self) -> Result<(), SqlError> {
        if self.conn.is_none() {
            debug!("connecting to {}", self.endpoint);
            match Conn::new(self.opts.clone()) {
                Ok(c) => self.conn = Some(c),
                Err(mysql::Error::MySqlError(m)) => {
                    return Err(SqlError::Connect {
                        auth: m.code == 1045,
                        message: m.message,
                    })
                }
                Err(e) => {
                    if let Some(message) = tls_failure(&format!("{e} {e:?}")) {
                        return Err(SqlError::Connect {
                            message,
                            auth: true,
                        });
                    }
                    return Err(SqlError::Connect {
                        message: describe_connect_error(&e),
                        auth: false,
                    });
                }
            }
        }
        Ok(())
    }

    /// Sends one statement once (text protocol). A broken connection is dropped so the next call
    /// reconnects.
    /// The server version of the handshake: StarRocks says 5.1.0 up to 3.3 and 8.0.33 from 3.4.
    pub fn handshake_version(&self) -> Option<(u16, u16, u16)> {
        self.conn.as_ref().map(|c| c.server_version())
    }

    pub fn query(&mut self, sql: &str) -> Result<ResultSet, SqlError> {
        let mut rows = Vec::new();
        let columns = self.send_once(sql, |_, row| {
            rows.push(
                mysql::Row::unwrap(row)
                    .into_iter()
                    .map(value_to_string)
                    .collect(),
            );
        })?;
        Ok(ResultSet { columns, rows })
    }

    /// Sends one statement once and hands every row of its first result set to `on_row` as it
    /// arrives, without building a [`ResultSet`] (a 1M-row answer would cost hundreds of MB as
    /// strings). `on_row` gets the column names and the row's raw values (None = NULL).
    fn stream_once<S>(
        &mut self,
        sql: &str,
        state: &mut S,
        on_row: &mut RowFn<'_, S>,
    ) -> Result<(), SqlError> {
        self.send_once(sql, |columns, row| {
            let cell = |i: usize| match row.as_ref(i) {
                Some(mysql::Value::Bytes(b)) => Some(b.as_slice()),
                _ => None,
            };
            // the streamed reads have ≤ 16 columns: no allocation per row
            let mut small: [Option<&[u8]>; 16] = [None; 16];
            if row.len() <= small.len() {
                for (i, v) in small.iter_mut().enumerate().take(row.len()) {
                    *v = cell(i);
                }
                on_row(state, columns, &small[..row.len()]);
            } else {
                let vals: Vec<Option<&[u8]>> = (0..row.len()).map(cell).collect();
                on_row(state, columns, &vals);
            }
        })
        .map(|_columns| ())
    }

    /// Sends one statement once (text protocol), hands every row of its first result set with the
    /// column names to `on_row`, drains any further result sets so the connection stays in sync,
    /// and returns the column names. A broken connection is dropped so the next call reconnects.
    fn send_once(
        &mut self,
        sql: &str,
        mut on_row: impl FnMut(&[String], mysql::Row),
    ) -> Result<Vec<String>, SqlError> {
        self.ensure_conn()?;
        let Some(conn) = self.conn.as_mut() else {
            return Err(SqlError::Lost("no connection".into()));
        };
        debug!(target: "starrocks_bbr::sql", "{sql}");
        let result = (|| -> Result<Vec<String>, mysql::Error> {
            let mut qr = conn.query_iter(sql)?;
            let columns: Vec<String> = qr
                .columns()
                .as_ref()
                .iter()
                .map(|c| c.name_str().into_owned())
                .collect();
            if let Some(set) = qr.iter() {
                for row in set {
                    on_row(&columns, row?);
                }
            }
            while let Some(set) = qr.iter() {
                for row in set {
                    row?;
                }
            }
            Ok(columns)
        })();
        result.map_err(|e| {
            let e = classify(e);
            if matches!(e, SqlError::Lost(_)) {
                self.conn = None;
            }
            debug!("statement failed: {e}");
            e
        })
    }

    /// A read streamed row by row (see `stream_once`), retried as `policy` allows: every attempt
    /// starts from a fresh `init()` state, so a retry after a lost connection never doubles rows.
    /// Only the text protocol is used, so every non-NULL value arrives as bytes.
    pub fn query_fold<S>(
        &mut self,
        sql: &str,
        policy: &RetryPolicy,
        init: impl Fn() -> S,
        mut on_row: impl FnMut(&mut S, &[String], &[Option<&[u8]>]),
    ) -> Result<S, SqlError> {
        let op = || {
            let mut state = init();
            self.stream_once(sql, &mut state, &mut on_row)
                .map(|()| state)
        };
        op.retry(backoff(policy))
            .sleep(crate::signals::sleep)
            .when(|e: &SqlError| e.retryable(policy) && crate::signals::received().is_none())
            .notify(|e: &SqlError, d: Duration| warn!("transient error ({e}); retrying in {d:?}"))
            .call()
    }

    /// Sends a statement, retrying what `policy` allows with exponential backoff and jitter.
    pub fn query_retry(&mut self, sql: &str, policy: &RetryPolicy) -> Result<ResultSet, SqlError> {
        let op = || self.query(sql);
        op.retry(backoff(policy))
            .sleep(crate::signals::sleep)
            .when(|e: &SqlError| e.retryable(policy) && crate::signals::received().is_none())
            .notify(|e: &SqlError, d: Duration| warn!("transient error ({e}); retrying in {d:?}"))
            .call()
    }
}

/// A streamed cell as text: borrowed when it is UTF-8 (always, from StarRocks), replaced
/// characters otherwise (`from_utf8`'s fast path, not `from_utf8_lossy`'s chunk scan).
pub fn text(b: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(b) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(b),
    }
}

/// Exponential backoff with jitter from a step's policy; `attempts` counts the first try.
pub fn backoff(policy: &RetryPolicy) -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(policy.initial_ms))
        .with_max_delay(Duration::from_millis(policy.max_ms))
        .with_max_times(policy.attempts.saturating_sub(1) as usize)
        .with_jitter()
}

/// connection.tls as the driver's options (rustls; no OpenSSL).
fn ssl_opts(tls: &crate::config::Tls) -> Option<mysql::SslOpts> {
    use crate::config::TlsMode;
    let base = || {
        let o = mysql::SslOpts::default();
        match &tls.ca_file {
            Some(ca) => o.with_root_cert_path(Some(ca.clone())),
            None => o,
        }
    };
    match tls.mode {
        TlsMode::Disabled => None,
        TlsMode::Required => Some(
            mysql::SslOpts::default()
                .with_danger_accept_invalid_certs(true)
                .with_danger_skip_domain_validation(true),
        ),
        TlsMode::VerifyCa => Some(base().with_danger_skip_domain_validation(true)),
        TlsMode::VerifyIdentity => Some(base()),
    }
}

/// A TLS failure (certificate not trusted, no TLS on the server) is permanent: never retried.
fn tls_failure(text: &str) -> Option<String> {
    let t = text.to_ascii_lowercase();
    if t.contains("certificate") || t.contains("unknownissuer") || t.contains("unknown issuer") {
        let why = if t.contains("notvalidforname") || t.contains("not valid for name") {
            "the server's certificate does not name this host (connection.tls.mode verify_identity)"
        } else if t.contains("expired") {
            "the server's certificate has expired"
        } else {
            "the server's certificate is not signed by a CA in connection.tls.ca_file"
        };
        return Some(format!("TLS handshake failed: {why}"));
    }
    if t.contains("ssl") && (t.contains("not support") || t.contains("server does not")) {
        return Some("the server does not offer TLS (connection.tls.mode needs it)".into());
    }
    None
}

/// A connect failure in operator words (the driver's text carries addresses in quotes and OS
/// error numbers).
fn describe_connect_error(e: &mysql::Error) -> String {
    use std::io::ErrorKind as K;
    let text = e.to_string().to_ascii_lowercase();
    if text.contains("lookup address") || text.contains("name or service not known") {
        return "unknown host name (the DNS lookup failed)".into();
    }
    let kind = match e {
        mysql::Error::IoError(io) => Some(io.kind()),
        mysql::Error::DriverError(mysql::DriverError::CouldNotConnect(Some((_, _, k)))) => Some(*k),
        mysql::Error::DriverError(mysql::DriverError::ConnectTimeout) => Some(K::TimedOut),
        _ => None,
    };
    match kind {
        Some(K::ConnectionRefused) => "connection refused (nothing listens on that port)".into(),
        Some(K::TimedOut | K::WouldBlock) => {
            "no answer within 10 s (host down or firewalled?)".into()
        }
        Some(K::NotFound) => "unknown host name".into(),
        Some(K::ConnectionReset | K::ConnectionAborted | K::UnexpectedEof | K::BrokenPipe) => {
            "the server closed the connection during the handshake".into()
        }
        Some(k) => {
            let mut s = format!("{k:?}").chars().fold(String::new(), |mut acc, c| {
                if c.is_uppercase() && !acc.is_empty() {
                    acc.push(' ');
                }
                acc.push(c.to_ascii_lowercase());
                acc
            });
            s.insert_str(0, "network error: ");
            s
        }
        None => one_line(&e.to_string()),
    }
}

fn value_to_string(v: mysql::Value) -> Option<String> {
    match v {
        mysql::Value::NULL => None,
        mysql::Value::Bytes(b) => Some(String::from_utf8_lossy(&b).into_owned()),
        other => Some(other.as_sql(true).trim_matches('\'').to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(safe: bool, busy: bool) -> RetryPolicy {
        RetryPolicy {
            safe_to_retry: safe,
            retry_when_busy: busy,
            attempts: 3,
            initial_ms: 1,
            max_ms: 2,
        }
    }

    #[test]
    fn retry_rules() {
        let lost = SqlError::Lost("x".into());
        let busy = SqlError::Busy("Can only run one backup or restore job".into());
        let server = SqlError::Server {
            code: 1064,
            message: "bad".into(),
        };
        assert!(lost.retryable(&policy(true, false)));
        assert!(!lost.retryable(&policy(false, true)));
        assert!(busy.retryable(&policy(false, true)));
        assert!(!busy.retryable(&policy(true, false)));
        assert!(!server.retryable(&policy(true, true)));
        let auth = SqlError::Connect {
            message: "denied".into(),
            auth: true,
        };
        assert!(!auth.retryable(&policy(true, true)));
    }

    #[test]
    fn busy_markers_classified() {
        let e = classify(mysql::Error::MySqlError(mysql::MySqlError {
            state: "HY000".into(),
            message: "Getting analyzing error. Detail message: Another backup or restore job is being submitted. Please wait and try again.".into(),
            code: 5064,
        }));
        assert!(matches!(e, SqlError::Busy(_)));
    }
}
