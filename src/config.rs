//! The YAML config (SPEC.md "Config"), parsed strictly: an unknown key is an error because a typo must
//! not silently change behaviour. Errors name the file, line, column and key on one line.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::BbrError;

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
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password_env", &self.password_env)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
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
    /// SPEC `catalog_backup` (default true): a `bbr_catalog_` snapshot of the ops database ends
    /// every backup and expire, so `recover` can rebuild the history on a new cluster.
    pub catalog_backup: bool,
}

impl Config {
    /// Reads and validates the file.
    pub fn load(path: &Path) -> Result<Config, BbrError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            BbrError::usage(
                format!("cannot read config {}: {e}", path.display()),
                "pass an existing file with --config or STARROCKS_BBR_CONFIG",
            )
        })?;
        Self::parse(path, &text)
    }

    /// Parses config text; `path` is only used in messages.
    pub fn parse(path: &Path, text: &str) -> Result<Config, BbrError> {
        let raw: RawConfig = serde_saphyr::from_str(text).map_err(|e| {
            let (loc, key) = match e.location() {
                Some(l) => (
                    format!(":{}:{}", l.line(), l.column()),
                    key_at_line(text, l.line()),
                ),
                None => (String::new(), None),
            };
            let key = key.map(|k| format!(" (key '{k}')")).unwrap_or_default();
            BbrError::usage(
                format!(
                    "bad config {}{loc}{key}: {}",
                    path.display(),
                    short_message(&e)
                ),
                "fix the config file (see SPEC.md \"Config\" for the keys)",
            )
        })?;
        let bad = |key: &str, msg: String| {
            BbrError::usage(
                format!("bad config {}: key '{key}': {msg}", path.display()),
                "fix the config file",
            )
        };
        if raw.connection.host.trim().is_empty() {
            return Err(bad("connection.host", "must not be empty".into()));
        }
        if raw.connection.password.is_some() && raw.connection.password_env.is_some() {
            return Err(bad(
                "connection.password",
                "give either password or password_env, not both".into(),
            ));
        }
        if raw.repository.trim().is_empty() {
            return Err(bad("repository", "must not be empty".into()));
        }
        if raw.tables.is_empty() {
            return Err(bad("tables", "list at least one db.table".into()));
        }
        let mut tables = Vec::new();
        for (i, t) in raw.tables.iter().enumerate() {
            tables.push(TableRef::parse(t).map_err(|m| bad(&format!("tables[{i}]"), m))?);
        }
        tables.sort();
        tables.dedup();
        if raw.ops_database.trim().is_empty() || raw.ops_database.contains('.') {
            return Err(bad("ops_database", "must be a plain database name".into()));
        }
        if raw.replication_num == 0 {
            return Err(bad("replication_num", "must be at least 1".into()));
        }
        if raw.poll.initial_ms == 0 || raw.poll.max_ms < raw.poll.initial_ms {
            return Err(bad("poll", "need 0 < initial_ms <= max_ms".into()));
        }
        if raw.retry.initial_ms == 0 || raw.retry.max_ms < raw.retry.initial_ms {
            return Err(bad("retry", "need 0 < initial_ms <= max_ms".into()));
        }
        if raw.job_timeout_s < 600 {
            return Err(bad(
                "job_timeout_s",
                "StarRocks requires a job timeout of at least 600 seconds".into(),
            ));
        }
        if raw.heartbeat_stale_s == 0 {
            return Err(bad("heartbeat_stale_s", "must be positive".into()));
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
        Ok(Config {
            path: path.to_path_buf(),
            connection: raw.connection,
            repository: raw.repository,
            tables,
            ops_database: raw.ops_database,
            replication_num: raw.replication_num,
            poll: raw.poll,
            retry: raw.retry,
            job_timeout_s: raw.job_timeout_s,
            heartbeat_stale_s: raw.heartbeat_stale_s,
            max_restore_jobs: raw.max_restore_jobs,
            full_every_days: raw.full_every_days,
            parallel_databases: raw.parallel_databases,
            catalog_backup: raw.catalog_backup,
        })
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

    /// Resolves the password: from `password_env` (must be set), `password`, or none.
    pub fn password(&self) -> Result<Option<String>, BbrError> {
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

/// The first line of serde-saphyr's message, without its source snippet and its own location prefix
/// (`error: line X column Y: `), which is printed already.
fn short_message(e: &serde_saphyr::Error) -> String {
    let full = e.to_string();
    let mut msg = full.lines().next().unwrap_or("invalid YAML").trim();
    msg = msg.strip_prefix("error:").unwrap_or(msg).trim();
    if msg.starts_with("line ") {
        if let Some(i) = msg.find(": ") {
            msg = &msg[i + 2..];
        }
    }
    msg.to_string()
}

/// The mapping key on a 1-based line (`key: ...` or `- key: ...`), or on the nearest line above it
/// (a value continued on the next line).
fn key_at_line(text: &str, line: u64) -> Option<String> {
    let n = usize::try_from(line).ok()?;
    let lines: Vec<&str> = text.lines().take(n).collect();
    lines.iter().rev().find_map(|l| {
        let l = l.trim_start().trim_start_matches("- ");
        let (k, _) = l.split_once(':')?;
        let k = k.trim();
        (!k.is_empty() && !k.contains(' ') && !k.starts_with('#')).then(|| k.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "connection:\n  host: 127.0.0.1\n  port: 9030\n  user: root\n  password_env: SR_PW_TEST_UNSET_X\nrepository: backup_repo\ntables:\n  - sales.orders\n  - sales.customers\n";

    fn parse(s: &str) -> Result<Config, BbrError> {
        Config::parse(Path::new("c.yaml"), s)
    }

    #[test]
    fn good_config_with_defaults() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.ops_database, "ops");
        assert_eq!(c.replication_num, 3);
        assert_eq!(c.poll, Poll::default());
        assert_eq!(c.retry.attempts, 5);
        assert_eq!(c.job_timeout_s, 86400);
        assert_eq!(c.heartbeat_stale_s, 300);
        assert_eq!(c.tables[0].table, "customers"); // sorted
        assert_eq!(c.tables_by_db()["sales"], vec!["customers", "orders"]);
    }

    #[test]
    fn unknown_key_is_rejected_with_location() {
        let bad = GOOD.replace("  port: 9030\n", "  port: 9030\n  hots: x\n");
        let e = parse(&bad).unwrap_err();
        let line = e.to_string();
        assert!(!line.contains('\n'), "{line}");
        assert!(line.contains("c.yaml:"), "{line}");
        assert!(line.contains("hots"), "{line}");
        assert!(line.contains(":4:"), "{line}");
        assert!(line.contains("(key 'hots')"), "{line}");
        let e = parse(&GOOD.replace("  - sales.orders\n  - sales.customers\n", " 5\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("(key 'tables')"), "{e}");
        let bad = format!("{GOOD}polll: {{}}\n");
        let e = parse(&bad).unwrap_err().to_string();
        assert!(e.contains("polll"), "{e}");
    }

    #[test]
    fn bad_table_names() {
        for t in ["orders", "a.b.c", ".x", "x.", "a b.c"] {
            let bad = GOOD.replace("sales.customers", t);
            let e = parse(&bad).unwrap_err().to_string();
            assert!(e.contains("tables[0]") || e.contains("tables[1]"), "{e}");
        }
    }

    #[test]
    fn missing_password_env_is_usage_error() {
        let c = parse(GOOD).unwrap();
        let e = c.password().unwrap_err();
        assert_eq!(e.exit, crate::error::ExitCode::Usage);
        assert!(e.to_string().contains("SR_PW_TEST_UNSET_X"));
    }

    #[test]
    fn debug_redacts_password() {
        let s = GOOD.replace(
            "  password_env: SR_PW_TEST_UNSET_X\n",
            "  password: hunter2\n",
        );
        let c = parse(&s).unwrap();
        assert_eq!(c.password().unwrap().as_deref(), Some("hunter2"));
        let d = format!("{c:?}");
        assert!(!d.contains("hunter2"), "{d}");
        assert!(d.contains("redacted"));
    }

    #[test]
    fn tuning_keys_parse() {
        let s = format!("{GOOD}poll: {{initial_ms: 10, max_ms: 50}}\nretry: {{attempts: 3}}\njob_timeout_s: 600\n");
        let c = parse(&s).unwrap();
        assert_eq!(c.poll.initial_ms, 10);
        assert_eq!(c.retry.attempts, 3);
        assert_eq!(c.retry.initial_ms, 500);
        let bad = format!("{GOOD}job_timeout_s: 5\n");
        assert!(parse(&bad)
            .unwrap_err()
            .to_string()
            .contains("job_timeout_s"));
    }
}
