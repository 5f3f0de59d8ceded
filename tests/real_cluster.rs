//! The issue-3 flow against a REAL StarRocks cluster, when `STARROCKS_TEST_DSN` is set
//! (`mysql://user:password@host:port`). Needs a repository (`STARROCKS_TEST_REPO`, default
//! `backup_repo`) created beforehand; `STARROCKS_TEST_REPLICATION` (default 1) sets replication_num.
//! Creates and drops its own databases; snapshots stay in the repository (no DROP SNAPSHOT before 4.2).
//! Without the variable every test here returns at once.

mod common;
use common::real_dsn;

use mysql::prelude::Queryable;

struct Real {
    conn: mysql::Conn,
    db: String,
    ops: String,
    dir: tempfile::TempDir,
    config: std::path::PathBuf,
}

impl Real {
    fn start() -> Option<Real> {
        let (host, port, user, pass) = real_dsn()?;
        let opts = mysql::OptsBuilder::new()
            .ip_or_hostname(Some(host.clone()))
            .tcp_port(port)
            .user(Some(user.clone()))
            .pass(Some(pass.clone()))
            .prefer_socket(false);
        let mut conn = mysql::Conn::new(opts).expect("connect to STARROCKS_TEST_DSN");
        let suffix: u32 = rand_suffix();
        let db = format!("bbr_test_{suffix}");
        let ops = format!("bbr_test_ops_{suffix}");
        let repl = std::env::var("STARROCKS_TEST_REPLICATION").unwrap_or_else(|_| "1".into());
        let repo = std::env::var("STARROCKS_TEST_REPO").unwrap_or_else(|_| "backup_repo".into());
        for sql in [
            format!("CREATE DATABASE {db}"),
            format!("CREATE TABLE {db}.orders (id BIGINT, dt DATE, amount DECIMAL(10,2)) DUPLICATE KEY(id) PARTITION BY RANGE(dt) (PARTITION p20260101 VALUES LESS THAN ('2026-01-02'), PARTITION p20260102 VALUES LESS THAN ('2026-01-03'), PARTITION p20260103 VALUES LESS THAN ('2026-01-04')) DISTRIBUTED BY HASH(id) BUCKETS 1 PROPERTIES ('replication_num' = '{repl}')"),
            format!("CREATE TABLE {db}.customers (id BIGINT, name VARCHAR(64)) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id) BUCKETS 1 PROPERTIES ('replication_num' = '{repl}')"),
            format!("INSERT INTO {db}.orders VALUES (1, '2026-01-01', 1.0), (2, '2026-01-02', 2.0), (3, '2026-01-03', 3.0)"),
            format!("INSERT INTO {db}.customers VALUES (1, 'a')"),
        ] {
            conn.query_drop(&sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.yaml");
        std::fs::write(
            &config,
            format!(
                "connection:\n  host: {host}\n  port: {port}\n  user: {user}\n  password_env: BBR_TEST_PASSWORD\nrepository: {repo}\ntables:\n  - {db}.orders\n  - {db}.customers\nops_database: {ops}\nreplication_num: {repl}\npoll: {{initial_ms: 1000, max_ms: 5000}}\n"
            ),
        )
        .unwrap();
        std::env::set_var("BBR_TEST_PASSWORD", pass);
        Some(Real {
            conn,
            db,
            ops,
            dir,
            config,
        })
    }

    fn run(&self, args: &[&str], code: i32) -> String {
        let out = assert_cmd::Command::cargo_bin("starrocks-bbr")
            .unwrap()
            .args(args)
            .arg("--config")
            .arg(&self.config)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(code),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    }
}

impl Drop for Real {
    fn drop(&mut self) {
        let _ = self
            .conn
            .query_drop(format!("DROP DATABASE IF EXISTS {} FORCE", self.db));
        let _ = self
            .conn
            .query_drop(format!("DROP DATABASE IF EXISTS {} FORCE", self.ops));
        let _ = &self.dir;
    }
}

fn rand_suffix() -> u32 {
    use std::time::{SystemTime, UNIX_EPOCH};
    let n = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    n % 1_000_000 + std::process::id() % 1000
}

#[test]
fn issue3_flow_on_a_real_cluster() {
    let Some(mut real) = Real::start() else {
        eprintln!("STARROCKS_TEST_DSN not set: skipped");
        return;
    };
    real.run(&["init"], 0);
    real.run(&["init"], 0);
    let plan = real.run(&["backup", "--dry-run"], 0);
    let v: serde_json::Value = serde_json::from_str(&plan).unwrap();
    assert_eq!(v["inputs"]["databases"][0]["action"], "full");
    let out = real.run(&["backup"], 0);
    assert!(out.contains("FINISHED"), "{out}");
    let (db, ops) = (real.db.clone(), real.ops.clone());
    real.conn
        .query_drop(format!(
            "INSERT INTO {db}.orders VALUES (4, '2026-01-01', 4.0), (5, '2026-01-03', 5.0)"
        ))
        .unwrap();
    let out = real.run(&["backup"], 0);
    assert!(out.contains("incremental, 2 partitions"), "{out}");
    let rows: Vec<(String, String)> = real
        .conn
        .query(format!(
            "SELECT p.table_name, p.partition_name FROM {ops}.backup_partitions p JOIN {ops}.backup_history h ON p.label = h.label WHERE h.backup_type = 'incremental' AND p.in_snapshot = 1 ORDER BY 1, 2"
        ))
        .unwrap();
    let mut rows = rows;
    rows.dedup();
    assert_eq!(
        rows,
        vec![
            ("orders".to_string(), "p20260101".to_string()),
            ("orders".to_string(), "p20260103".to_string())
        ]
    );
    let out = real.run(&["backup"], 0);
    assert!(out.contains("nothing changed"), "{out}");
    let json = real.run(&["list", "--format", "json"], 0);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert!(real.run(&["list"], 0).starts_with("LABEL"));
}
