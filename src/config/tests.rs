//! Config parsing and validation: table-driven cases in operator words.

use super::pattern::glob;
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
    assert!(line.contains(":4"), "{line}");
    assert!(line.contains("key 'connection.hots'"), "{line}");
    let e = parse(&GOOD.replace("  - sales.orders\n  - sales.customers\n", " 5\n"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("key 'tables'"), "{e}");
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
    let s = format!(
        "{GOOD}poll: {{initial_ms: 10, max_ms: 50}}\nretry: {{attempts: 3}}\njob_timeout_s: 600\n"
    );
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

/// Every config error of issue 12: one line, the real key and line, operator words.
#[test]
fn config_errors_name_the_real_key_in_operator_words() {
    let base = "connection:\n  host: h\n  port: 9030\n  user: u\nrepository: r\ntables: [a.b]\n";
    let cases: Vec<(String, &str)> = vec![
        (
            base.replace("  user: u\n", ""),
            "c.yaml:1: key 'connection.user' is missing",
        ),
        (
            base.replace("repository: r\n", ""),
            "key 'repository' is missing",
        ),
        (
            base.replace("  port: 9030\n", "  port: 70000\n"),
            "c.yaml:3: key 'connection.port' must be a whole number from 1 to 65535",
        ),
        (
            base.replace("  port: 9030\n", "  port: 0\n"),
            "c.yaml:3: key 'connection.port' must be a port from 1 to 65535",
        ),
        (
            base.replace("  port: 9030\n", "  port: 9030\n  port: 9031\n"),
            "c.yaml:4: key 'connection.port' appears twice",
        ),
        (
            format!("{base}retry: {{attempts: 0}}\n"),
            "key 'retry.attempts' must be at least 1",
        ),
        (
            format!("{base}retry: {{attempts: -1}}\n"),
            "c.yaml:7: key 'retry.attempts' must be a whole number",
        ),
        (
            format!("{base}heartbeat_stale_s: 1\n"),
            "c.yaml:7: key 'heartbeat_stale_s' (1 s) is shorter than the heartbeat needs",
        ),
        (
            format!("{base}poll: {{max_ms: 120000}}\nheartbeat_stale_s: 200\n"),
            "key 'heartbeat_stale_s' (200 s) is shorter",
        ),
        (
            base.replace("tables: [a.b]", "tables: a.b"),
            "c.yaml:6: key 'tables' must be a list",
        ),
        (
            base.replace(
                "  user: u\n",
                "  user: u\n  password_env: X\n  password_file: /f\n",
            ),
            "key 'connection.password_file' conflicts",
        ),
        (format!("{base}exclude: [a]\n"), "key 'exclude[0]'"),
        (
            base.replace("[a.b]", "[\"*.b\"]"),
            "wildcards are allowed in the table part only",
        ),
    ];
    for (text, want) in cases {
        let e = parse(&text).unwrap_err();
        assert_eq!(e.exit, crate::error::ExitCode::Usage);
        let line = e.to_string();
        assert!(line.contains(want), "want {want:?} in: {line}");
        assert!(!line.contains('\n'), "{line}");
        for leak in ["DuplicateKeyPolicy", "u16", "u32", "SPEC.md", "Options"] {
            assert!(!line.contains(leak), "{leak} in: {line}");
        }
    }
    let ok = format!("{base}poll: {{max_ms: 120000}}\nheartbeat_stale_s: 240\n");
    assert!(parse(&ok).is_ok());
}

#[test]
fn password_file_first_line() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("pw");
    std::fs::write(&f, "s3cret\nignored\n").unwrap();
    let text = GOOD.replace(
        "  password_env: SR_PW_TEST_UNSET_X\n",
        &format!("  password_file: {}\n", f.display()),
    );
    let c = parse(&text).unwrap();
    assert_eq!(c.password().unwrap().as_deref(), Some("s3cret"));
    let missing = text.replace("/pw", "/nope");
    let e = parse(&missing).unwrap().password().unwrap_err().to_string();
    assert!(e.contains("password_file") && !e.contains("s3cret"), "{e}");
}

#[test]
fn table_patterns_expand_and_exclude() {
    let text = GOOD.replace(
        "  - sales.customers\n",
        "  - hr.*\nexclude: [hr.tmp_*, hr.x?]\n",
    );
    let c = parse(&text).unwrap();
    assert_eq!(c.pattern_databases(), vec!["hr".to_string()]);
    let t = |s: &str| TableRef::parse(s).unwrap();
    let found = [
        t("hr.people"),
        t("hr.tmp_load"),
        t("hr.xy"),
        t("hr.xyz"),
        t("other.people"),
    ];
    let e = c.with_found_tables(&found);
    let names: Vec<String> = e.tables.iter().map(|t| t.to_string()).collect();
    assert_eq!(names, ["hr.people", "hr.xyz", "sales.orders"]);
    assert!(e.patterns.is_empty());
    // a name with other special characters is a literal name, not a pattern
    assert_eq!(TablePattern::parse("a.b/*x*/"), Ok(None));
    assert!(TablePattern::parse("a.tmp_*").unwrap().is_some());
    for (p, s, m) in [
        ("a*", "abc", true),
        ("*c", "abc", true),
        ("a?c", "abc", true),
        ("a*d", "abc", false),
        ("*", "", true),
        ("a*b*c", "aXbYc", true),
    ] {
        assert_eq!(glob(p.as_bytes(), s.as_bytes()), m, "{p} {s}");
    }
}
