//! The YAML config (SPEC.md "Config"), parsed strictly: an unknown key is an error because a typo must
//! not silently change behaviour. Errors name the file, line, column and key on one line.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::Deserialize;

use crate::error::BbrError;

mod pattern;
mod yaml_error;

pub use pattern::TablePattern;
use yaml_error::{key_line, yaml_error};

#[derive(Deserialize, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Connection {
    pub host: String,
    #[serde(default = "default_port")]
    pub port: u16,
    pub user: String,
    /// Name of the environment variable holding the password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// Explicit password (discouraged; never logged).
    #[serde(default)]
    pub password: Option<String>,
    /// A file whose first line is the password (a Kubernetes secret mount).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// TLS to the FE (default disabled).
    #[serde(default)]
    pub tls: Tls,
}

/// How the connection to the FE is encrypted and what is verified (MySQL's ssl-mode names).
#[derive(Debug, Deserialize, Clone, Copy, Default, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TlsMode {
    #[default]
    Disabled,
    /// Encrypted; the certificate is not verified.
    Required,
    /// The certificate must chain to `ca_file` (the host name is not compared).
    VerifyCa,
    /// As verify_ca, and the certificate must name the host.
    VerifyIdentity,
}

#[derive(Debug, Deserialize, Clone, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    #[serde(default)]
    pub mode: TlsMode,
    /// PEM file of the CA(s) the FE certificate must chain to (else the bundled web roots).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password_env", &self.password_env)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("password_file", &self.password_file)
            .field("tls", &self.tls)
            .finish()
    }
}

/// Backoff for polling SHOW BACKUP / SHOW RESTORE.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Poll {
    #[serde(default = "default_poll_initial")]
    pub initial_ms: u64,
    #[serde(default = "default_poll_max")]
    pub max_ms: u64,
}

/// Backoff for transient errors.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Retry {
    #[serde(default = "default_retry_attempts")]
    pub attempts: u32,
    #[serde(default = "default_retry_initial")]
    pub initial_ms: u64,
    #[serde(default = "default_retry_max")]
    pub max_ms: u64,
}

impl Default for Poll {
    fn default() -> Self {
        Poll {
            initial_ms: default_poll_initial(),
            max_ms: default_poll_max(),
        }
    }
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            attempts: default_retry_attempts(),
            initial_ms: default_retry_initial(),
            max_ms: default_retry_max(),
        }
    }
}

fn default_port() -> u16 {
    9030
}
fn default_poll_initial() -> u64 {
    1000
}
fn default_poll_max() -> u64 {
    30_000
}
fn default_retry_attempts() -> u32 {
    5
}
fn default_retry_initial() -> u64 {
    500
}
fn default_retry_max() -> u64 {
    10_000
}
fn default_ops() -> String {
    "ops".to_string()
}
fn default_replication() -> u32 {
    3
}
fn default_job_timeout() -> u64 {
    86_400
}
fn default_heartbeat_stale() -> u64 {
    300
}

/// The file as written (before validation).
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    connection: Connection,
    repository: String,
    tables: Vec<String>,
    #[serde(default = "default_ops")]
    ops_database: String,
    #[serde(default = "default_replication")]
    replication_num: u32,
    #[serde(default)]
    restore_replication_num: Option<u32>,
    #[serde(default)]
    poll: Poll,
    #[serde(default)]
    retry: Retry,
    #[serde(default = "default_job_timeout")]
    job_timeout_s: u64,
    #[serde(default = "default_heartbeat_stale")]
    heartbeat_stale_s: u64,
    #[serde(default = "default_max_restore_jobs")]
    max_restore_jobs: u32,
    #[serde(default)]
    full_every_days: u32,
    #[serde(default = "default_parallel_databases")]
    parallel_databases: u32,
    #[serde(default)]
    retention: Option<Retention>,
    /// Patterns left out of `db.*` entries of `tables`.
    #[serde(default)]
    exclude: Vec<String>,
    /// Prometheus text file replaced after every backup, restore, expire and check.
    #[serde(default)]
    metrics_file: Option<PathBuf>,
    /// Back up the ops database into the repository after each backup / expire (disaster recovery).
    #[serde(default = "default_true")]
    catalog_backup: bool,
}

fn default_true() -> bool {
    true
}

fn default_parallel_databases() -> u32 {
    4
}

fn default_max_restore_jobs() -> u32 {
    8
}

/// `retention: { keep_days: N }`: every point in time of the last N days stays restorable; without
/// it `expire` never expires anything.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    pub keep_days: u32,
}

/// A configured table, `db.table`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct TableRef {
    pub database: String,
    pub table: String,
}

impl TableRef {
    /// Parses `db.table`; both parts non-empty, no further dots, no whitespace or quotes.
    pub fn parse(s: &str) -> Result<TableRef, String> {
        let (db, table) = s
            .split_once('.')
            .ok_or_else(|| format!("table '{s}' must be written as db.table"))?;
        let ok = |p: &str| {
            !p.is_empty()
                && p.len() <= 256
                && !p.contains('.')
                && p.chars()
                    .all(|c| !c.is_whitespace() && !c.is_control() && c != '`' && c != '\'')
        };
        if !ok(db) || !ok(table) {
            return Err(format!(
                "table '{s}' must be written as db.table (non-empty names, no spaces, quotes or extra dots)"
            ));
        }
        Ok(TableRef {
            database: db.to_string(),
            table: table.to_string(),
        })
    }
}

impl fmt::Display for TableRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.database, self.table)
    }
}

/// The validated config the rest of the tool uses.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub connection: Connection,
    pub repository: String,
    /// Sorted and de-duplicated, so plans do not depend on the order in the file.
    pub tables: Vec<TableRef>,
    pub ops_database: String,
    pub replication_num: u32,
    /// Replicas for restored tables; None = what the partitions had when backed up (set it to
    /// restore onto a cluster with fewer backends).
    pub restore_replication_num: Option<u32>,
    pub poll: Poll,
    pub retry: Retry,
    pub job_timeout_s: u64,
    pub heartbeat_stale_s: u64,
    /// Most RESTORE jobs any table's restore may need (rolling fulls; SPEC.md "Bounded restores").
    pub max_restore_jobs: u32,
    /// A table whose chain starts more than this many days ago is backed up whole; 0 = never.
    pub full_every_days: u32,
    /// Databases whose jobs run at once (one thread and connection each).
    pub parallel_databases: u32,
    pub retention: Option<Retention>,
    /// `tables:` entries with a wildcard, expanded against the cluster at run time
    /// (`state::expand_table_patterns`, then [`Config::with_found_tables`]).
    pub patterns: Vec<TablePattern>,
    /// `exclude:` entries: tables a pattern found that stay out of scope.
    pub exclude: Vec<TablePattern>,
    /// Where the metrics go (src/metrics.rs); None = no metrics.
    pub metrics_file: Option<PathBuf>,
    /// SPEC `catalog_backup` (default true): a `bbr_catalog_` snapshot of the ops database ends
    /// every backup and expire, so `recover` can rebuild the history on a new cluster.
    pub catalog_backup: bool,
}

/// The config given before the subcommand (or by STARROCKS_BBR_CONFIG), used when the subcommand
/// itself names none: `--config` is accepted on either side of the subcommand.
static DEFAULT_PATH: OnceLock<PathBuf> = OnceLock::new();

/// Records the config path given before the subcommand (once per process).
pub fn set_default_path(path: Option<PathBuf>) {
    if let Some(p) = path {
        let _ = DEFAULT_PATH.set(p);
    }
}

/// Where a command's config comes from: a path, or the subcommand's optional `--config` (None:
/// the one given before the subcommand or by STARROCKS_BBR_CONFIG).
pub trait ConfigPath {
    fn given(&self) -> Option<&Path>;
}

impl ConfigPath for Path {
    fn given(&self) -> Option<&Path> {
        Some(self)
    }
}

impl ConfigPath for PathBuf {
    fn given(&self) -> Option<&Path> {
        Some(self)
    }
}

impl ConfigPath for Option<PathBuf> {
    fn given(&self) -> Option<&Path> {
        self.as_deref()
    }
}

/// A file error in operator words (no OS error numbers).
fn io_words(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        std::io::ErrorKind::IsADirectory => "it is a directory".into(),
        std::io::ErrorKind::InvalidData => "not UTF-8 text".into(),
        k => k.to_string(),
    }
}

impl Config {
    /// Reads and validates the file.
    pub fn load<P: ConfigPath + ?Sized>(path: &P) -> Result<Config, BbrError> {
        let path = match path.given() {
            Some(p) => p,
            None => DEFAULT_PATH.get().ok_or_else(|| {
                BbrError::usage(
                    "no config file given",
                    "pass --config PATH (before or after the subcommand) or set STARROCKS_BBR_CONFIG",
                )
            })?,
        };
        let text = std::fs::read_to_string(path).map_err(|e| {
            BbrError::usage(
                format!("cannot read config {}: {}", path.display(), io_words(&e)),
                "pass an existing file with --config or STARROCKS_BBR_CONFIG",
            )
        })?;
        Self::parse(path, &text)
    }

    /// Parses config text; `path` is only used in messages.
    pub fn parse(path: &Path, text: &str) -> Result<Config, BbrError> {
        let raw: RawConfig =
            serde_saphyr::from_str(text).map_err(|e| yaml_error(path, text, &e))?;
        let bad = |key: &str, msg: String| {
            let leaf = key.rsplit('.').next().unwrap_or(key);
            let leaf = leaf.split('[').next().unwrap_or(leaf);
            let line = key_line(text, leaf)
                .map(|l| format!(":{l}"))
                .unwrap_or_default();
            BbrError::usage(
                format!("bad config {}{line}: key '{key}' {msg}", path.display()),
                "fix the config file",
            )
        };
        if raw.connection.host.trim().is_empty() {
            return Err(bad("connection.host", "must not be empty".into()));
        }
        if let Some(m) = &raw.metrics_file {
            let dir_ok = m
                .parent()
                .map(|d| d.as_os_str().is_empty() || d.is_dir())
                .unwrap_or(false);
            if m.file_name().is_none() || !dir_ok {
                return Err(bad(
                    "metrics_file",
                    format!("({}) must be a file in an existing directory", m.display()),
                ));
            }
        }
        if let Some(ca) = &raw.connection.tls.ca_file {
            if raw.connection.tls.mode == TlsMode::Disabled {
                return Err(bad(
                    "connection.tls.ca_file",
                    "is set but connection.tls.mode is disabled; set mode: verify_ca or verify_identity".into(),
                ));
            }
            if let Err(e) = std::fs::metadata(ca) {
                return Err(bad(
                    "connection.tls.ca_file",
                    format!("({}) cannot be read ({})", ca.display(), io_words(&e)),
                ));
            }
        }
        if raw.connection.port == 0 {
            return Err(bad(
                "connection.port",
                "must be a port from 1 to 65535 (the FE query port, usually 9030)".into(),
            ));
        }
        let given = [
            raw.connection.password.is_some(),
            raw.connection.password_env.is_some(),
            raw.connection.password_file.is_some(),
        ];
        if given.iter().filter(|g| **g).count() > 1 {
            return Err(bad(
                if raw.connection.password_file.is_some() {
                    "connection.password_file"
                } else {
                    "connection.password"
                },
                "conflicts with another password key: give only one of password, password_env and password_file".into(),
            ));
        }
        if raw.repository.trim().is_empty() {
            return Err(bad("repository", "must not be empty".into()));
        }
        if raw.tables.is_empty() {
            return Err(bad(
                "tables",
                "must list at least one db.table or db.*".into(),
            ));
        }
        let mut tables = Vec::new();
        let mut patterns = Vec::new();
        for (i, t) in raw.tables.iter().enumerate() {
            let key = format!("tables[{i}]");
            match TablePattern::parse(t).map_err(|m| bad(&key, m))? {
                Some(p) => patterns.push(p),
                None => tables.push(TableRef::parse(t).map_err(|m| bad(&key, m))?),
            }
        }
        tables.sort();
        tables.dedup();
        patterns.sort();
        patterns.dedup();
        let mut exclude = Vec::new();
        for (i, t) in raw.exclude.iter().enumerate() {
            let key = format!("exclude[{i}]");
            exclude.push(match TablePattern::parse(t).map_err(|m| bad(&key, m))? {
                Some(p) => p,
                None => {
                    let r = TableRef::parse(t).map_err(|m| bad(&key, m))?;
                    TablePattern {
                        database: r.database,
                        table: r.table,
                    }
                }
            });
        }
        if raw.ops_database.trim().is_empty() || raw.ops_database.contains('.') {
            return Err(bad("ops_database", "must be a plain database name".into()));
        }
        if raw.replication_num == 0 {
            return Err(bad("replication_num", "must be at least 1".into()));
        }
        if raw.restore_replication_num == Some(0) {
            return Err(bad("restore_replication_num", "must be at least 1".into()));
        }
        if raw.poll.initial_ms == 0 || raw.poll.max_ms < raw.poll.initial_ms {
            return Err(bad("poll", "need 0 < initial_ms <= max_ms".into()));
        }
        if raw.retry.initial_ms == 0 || raw.retry.max_ms < raw.retry.initial_ms {
            return Err(bad("retry", "need 0 < initial_ms <= max_ms".into()));
        }
        if raw.retry.attempts == 0 {
            return Err(bad(
                "retry.attempts",
                "must be at least 1 (it counts the first try)".into(),
            ));
        }
        if raw.job_timeout_s < 600 {
            return Err(bad(
                "job_timeout_s",
                "StarRocks requires a job timeout of at least 600 seconds".into(),
            ));
        }
        // The lease must outlive a poll sleep (the heartbeat is refreshed between polls) and be
        // judgeable on DATETIME's whole seconds; shorter, a live run looks dead to the next one.
        let poll_cap_s = raw.poll.max_ms.div_ceil(1000);
        if raw.heartbeat_stale_s < 2
            || raw.heartbeat_stale_s.saturating_mul(1000) < raw.poll.max_ms.saturating_mul(2)
        {
            return Err(bad(
                "heartbeat_stale_s",
                format!(
                    "({} s) is shorter than the heartbeat needs: at least 2 s and twice poll.max_ms ({} s), else a live run looks dead",
                    raw.heartbeat_stale_s,
                    poll_cap_s.saturating_mul(2).max(2)
                ),
            ));
        }
        if raw.max_restore_jobs == 0 {
            return Err(bad(
                "max_restore_jobs",
                "must be at least 1 (a restore needs at least one RESTORE job)".into(),
            ));
        }
        if raw.parallel_databases == 0 {
            return Err(bad(
                "parallel_databases",
                "must be at least 1 (1 = one database at a time)".into(),
            ));
        }
        if raw.retention.is_some_and(|r| r.keep_days == 0) {
            return Err(bad(
                "retention.keep_days",
                "must be at least 1 (a window of 0 days would keep no restore point)".into(),
            ));
        }
        Ok(Config {
            path: path.to_path_buf(),
            connection: raw.connection,
            repository: raw.repository,
            tables,
            ops_database: raw.ops_database,
            replication_num: raw.replication_num,
            restore_replication_num: raw.restore_replication_num,
            poll: raw.poll,
            retry: raw.retry,
            job_timeout_s: raw.job_timeout_s,
            heartbeat_stale_s: raw.heartbeat_stale_s,
            max_restore_jobs: raw.max_restore_jobs,
            full_every_days: raw.full_every_days,
            parallel_databases: raw.parallel_databases,
            retention: raw.retention,
            patterns,
            exclude,
            metrics_file: raw.metrics_file,
            catalog_backup: raw.catalog_backup,
        })
    }

    /// Databases whose tables a `db.*` pattern picks at run time.
    pub fn pattern_databases(&self) -> Vec<String> {
        let mut dbs: Vec<String> = self.patterns.iter().map(|p| p.database.clone()).collect();
        dbs.dedup();
        dbs
    }

    /// This config with the tables that `found` (the OLAP tables of the pattern databases) adds
    /// through the patterns, less `exclude`. Plainly listed tables always stay.
    pub fn with_found_tables(&self, found: &[TableRef]) -> Config {
        let mut c = self.clone();
        for t in found {
            if self.patterns.iter().any(|p| p.matches(t))
                && !self.exclude.iter().any(|x| x.matches(t))
            {
                c.tables.push(t.clone());
            }
        }
        c.tables.sort();
        c.tables.dedup();
        c.patterns.clear();
        c
    }

    /// The configured tables grouped by database, both levels sorted.
    pub fn tables_by_db(&self) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for t in &self.tables {
            out.entry(t.database.clone())
                .or_default()
                .push(t.table.clone());
        }
        out
    }

    /// Resolves the password: from `password_env` (must be set), `password_file` (its first line),
    /// `password`, or none.
    pub fn password(&self) -> Result<Option<String>, BbrError> {
        if let Some(file) = &self.connection.password_file {
            let text = std::fs::read_to_string(file).map_err(|e| {
                BbrError::usage(
                    format!(
                        "config {}: connection.password_file {} cannot be read ({})",
                        self.path.display(),
                        file.display(),
                        io_words(&e)
                    ),
                    "mount the secret there or fix the path",
                )
            })?;
            let first = text
                .lines()
                .next()
                .unwrap_or_default()
                .trim_end_matches('\r');
            return Ok(Some(first.to_string()));
        }
        if let Some(var) = &self.connection.password_env {
            return match std::env::var(var) {
                Ok(v) => Ok(Some(v)),
                Err(_) => Err(BbrError::usage(
                    format!(
                        "config {}: connection.password_env names {var}, which is not set",
                        self.path.display()
                    ),
                    format!("export {var} with the cluster password"),
                )),
            };
        }
        Ok(self.connection.password.clone())
    }
}

#[cfg(test)]
mod tests;
