//! Table-driven and property tests of the backup planner (planner/backup.rs).

use super::*;
use crate::history::ManifestRow;
use crate::plan::StepKind;
use proptest::prelude::*;
use std::path::Path;

fn cfg() -> Config {
    Config::parse(
        Path::new("t.yaml"),
        "connection: {host: h, user: u}\nrepository: repo\ntables: [sales.orders, sales.customers]\n",
    )
    .unwrap()
}

fn part(name: &str, id: i64, v: i64) -> PartitionState {
    PartitionState {
        name: name.into(),
        id,
        visible_version: v,
        is_temp: false,
        replication_num: Some(1),
    }
}

fn row(table: &str, name: &str, id: i64, v: i64, fp: &str) -> ManifestRow {
    ManifestRow {
        label: "base".into(),
        database: "sales".into(),
        table: table.into(),
        partition: name.into(),
        partition_id: id,
        visible_version: v,
        replication_num: Some(1),
        source_label: "base".into(),
        in_snapshot: true,
        whole_table: true,
        schema_fingerprint: fp.into(),
    }
}

fn base_table(rows: &[ManifestRow]) -> BaseTable {
    BaseBackup::from_rows("base", rows.iter().cloned())
        .tables
        .remove("t")
        .unwrap_or_default()
}

#[test]
fn decide_table_cases() {
    let ts = TableState {
        schema_fingerprint: "v2:f1".into(),
        partitions: vec![part("p1", 1, 2), part("p2", 2, 5)],
        ..TableState::default()
    };
    let same = base_table(&[row("t", "p1", 1, 2, "v2:f1"), row("t", "p2", 2, 5, "v2:f1")]);
    let loaded = base_table(&[row("t", "p1", 1, 1, "v2:f1"), row("t", "p2", 2, 5, "v2:f1")]);
    let truncated = base_table(&[row("t", "p1", 9, 2, "v2:f1"), row("t", "p2", 2, 5, "v2:f1")]);
    let schema = base_table(&[row("t", "p1", 1, 2, "v2:f0"), row("t", "p2", 2, 5, "v2:f0")]);
    let new_part = base_table(&[row("t", "p1", 1, 2, "v2:f1")]);
    let empty = BaseTable::default();
    let cases: Vec<(Option<Option<&BaseTable>>, TableDecision)> = vec![
        (None, TableDecision::Whole("full backup".into())),
        (Some(None), TableDecision::Whole("new table".into())),
        (Some(Some(&empty)), TableDecision::Whole("new table".into())),
        (Some(Some(&same)), TableDecision::Unchanged),
        (
            Some(Some(&loaded)),
            TableDecision::Partitions(vec!["p1".into()]),
        ),
        (
            Some(Some(&truncated)),
            TableDecision::Partitions(vec!["p1".into()]),
        ),
        (
            Some(Some(&schema)),
            TableDecision::Whole("schema changed".into()),
        ),
        (
            Some(Some(&new_part)),
            TableDecision::Partitions(vec!["p2".into()]),
        ),
    ];
    for (base, want) in cases {
        assert_eq!(decide_table(&ts, base), want);
    }
    let mut with_temp = ts.clone();
    with_temp.partitions.push(PartitionState {
        is_temp: true,
        ..part("tmp", 7, 1)
    });
    assert_eq!(
        decide_table(&with_temp, Some(Some(&same))),
        TableDecision::Unchanged
    );
    // a LIST table on 3.4+ (or one with several physical partitions per name): any change
    // makes it whole, no change leaves it alone
    let list = TableState {
        whole_if_changed: Some("list"),
        ..ts.clone()
    };
    assert_eq!(
        decide_table(&list, Some(Some(&same))),
        TableDecision::Unchanged
    );
    assert_eq!(
        decide_table(&list, Some(Some(&loaded))),
        TableDecision::Whole("list".into())
    );
    assert_eq!(
        decide_table(&list, Some(Some(&new_part))),
        TableDecision::Whole("list".into())
    );
    // a base recorded by the previous fingerprint algorithm cannot be compared: whole once
    let old = base_table(&[row("t", "p1", 1, 2, "f1"), row("t", "p2", 2, 5, "f1")]);
    let mixed = base_table(&[row("t", "p1", 1, 2, "v2:f1"), row("t", "p2", 2, 5, "f1")]);
    for base in [&old, &mixed] {
        assert_eq!(
            decide_table(&ts, Some(Some(base))),
            TableDecision::Whole("older-format schema fingerprint: cannot compare".into())
        );
    }
}

#[test]
fn base_from_rows_dedups_and_interns_sources() {
    let mut r2 = row("t", "p1", 1, 2, "f1");
    r2.source_label = "older".into();
    let b = BaseBackup::from_rows(
        "base",
        vec![
            row("t", "p2", 2, 5, "f1"),
            r2.clone(),
            r2,
            row("u", "u", 3, 1, "f2"),
        ],
    );
    let t = &b.tables["t"];
    assert_eq!(t.partitions.len(), 2);
    assert_eq!(t.partitions[0].name, "p1");
    assert_eq!(b.source(t.get("p1").unwrap()), "older");
    assert_eq!(b.source(t.get("p2").unwrap()), "base");
    assert_eq!(t.fingerprints, vec!["f1".to_string()]);
    assert!(t.get("p3").is_none());
    assert_eq!(b.sources.len(), 2);
}

#[test]
fn labels() {
    assert_eq!(
        make_label("sales", "2026-01-01 00:00:05", BackupType::Full, None),
        "bbr_sales_20260101000005_full"
    );
    assert_eq!(
        make_label(
            "we-ird",
            "2026-01-01 00:00:05",
            BackupType::Incremental,
            Some("abc123")
        ),
        "bbr_we_ird_20260101000005_incr_abc123"
    );
    let s = random_suffix();
    assert_eq!(s.len(), 6);
    assert!(s
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
    assert!(
        make_label(
            &"x".repeat(300),
            "2026-01-01 00:00:05",
            BackupType::Full,
            Some("abcdef")
        )
        .len()
            <= 96
    );
}

fn state(base: bool) -> BackupState {
    let mut s = BackupState {
        cluster_time: "2026-01-01 00:00:05".into(),
        ..Default::default()
    };
    s.tables.insert(
        TableRef::parse("sales.orders").unwrap(),
        TableState {
            schema_fingerprint: "v2:fo".into(),
            partitions: vec![part("p1", 1, 2), part("p2", 2, 1)],
            ..TableState::default()
        },
    );
    s.tables.insert(
        TableRef::parse("sales.customers").unwrap(),
        TableState {
            schema_fingerprint: "v2:fc".into(),
            partitions: vec![part("customers", 3, 1)],
            ..TableState::default()
        },
    );
    if base {
        s.bases.insert(
            "sales".into(),
            BaseBackup::from_rows(
                "base",
                vec![
                    row("orders", "p1", 1, 1, "v2:fo"),
                    row("orders", "p2", 2, 1, "v2:fo"),
                    row("customers", "customers", 3, 1, "v2:fc"),
                ],
            ),
        );
    }
    s
}

fn kinds(p: &Plan) -> Vec<StepKind> {
    p.steps.iter().map(|s| s.kind).collect()
}

#[test]
fn full_plan() {
    let p = plan_backup(&cfg(), &state(false), None);
    use StepKind::*;
    assert_eq!(
        kinds(&p),
        vec![
            RecordRunning,
            Claim,
            CheckBase,
            RecordManifest,
            RecordManifest,
            IssueBackup,
            PollBackup,
            ResolveSnapshotTimestamp,
            Finalize
        ]
    );
    // one backup_tables row per table, complete (whole), then the partitions
    let tables = p.steps[3].sql.as_deref().unwrap();
    assert!(
        tables.starts_with("INSERT INTO `ops`.`backup_tables`"),
        "{tables}"
    );
    assert!(
        tables.contains("'orders', 'v2:fo', 1, 1, 2, 1, 'whole table (full backup)'"),
        "{tables}"
    );
    let backup = p.steps[5].sql.as_deref().unwrap();
    assert_eq!(
        backup,
        "BACKUP SNAPSHOT `sales`.`bbr_sales_20260101000005_full` TO `repo` ON (`customers`, `orders`) PROPERTIES (\"timeout\" = \"86400\")"
    );
    assert_eq!(
        p.to_json(),
        plan_backup(&cfg(), &state(false), None).to_json()
    );
}

#[test]
fn incremental_plan() {
    let p = plan_backup(&cfg(), &state(true), Some("zzzzzz"));
    let backup = p
        .steps
        .iter()
        .find(|s| s.kind == StepKind::IssueBackup)
        .unwrap();
    assert_eq!(
        backup.sql.as_deref().unwrap(),
        "BACKUP SNAPSHOT `sales`.`bbr_sales_20260101000005_incr_zzzzzz` TO `repo` ON (`orders` PARTITION (`p1`)) PROPERTIES (\"timeout\" = \"86400\")"
    );
    let manifest: Vec<&str> = p
        .steps
        .iter()
        .filter(|s| s.kind == StepKind::RecordManifest)
        .filter_map(|s| s.sql.as_deref())
        .collect();
    assert_eq!(manifest.len(), 2);
    // lean: only the changed partition, and one delta (not complete) row for its table
    assert!(
        manifest[0].contains("'orders', 'v2:fo', 0, 0, 2, 2, 'changed partitions'"),
        "{}",
        manifest[0]
    );
    assert!(!manifest[0].contains("'customers'"), "{}", manifest[0]);
    let sql = manifest[1];
    assert!(
        !sql.contains("'p2'"),
        "unchanged partitions are not recorded: {sql}"
    );
    assert!(
        sql.contains("'p1', 1, 2, 1, 'bbr_sales_20260101000005_incr_zzzzzz', 1, 0"),
        "{sql}"
    );
}

#[test]
fn nothing_changed_plan() {
    let mut s = state(true);
    s.tables
        .get_mut(&TableRef::parse("sales.orders").unwrap())
        .unwrap()
        .partitions[0]
        .visible_version = 1;
    let p = plan_backup(&cfg(), &s, None);
    assert!(p.steps.is_empty());
    assert_eq!(p.inputs["databases"][0]["action"], "nothing_changed");
}

#[test]
fn only_dropped_partitions_give_a_manifest_only_record() {
    use StepKind::*;
    let orders = TableRef::parse("sales.orders").unwrap();
    // (name, current orders partitions, expected action, expected kinds)
    let cases: Vec<(&str, Vec<PartitionState>, &str, Vec<StepKind>)> = vec![
        (
            "p2 dropped, nothing else changed",
            vec![part("p1", 1, 1)],
            "manifest_only",
            vec![
                RecordRunning,
                Claim,
                CheckBase,
                RecordManifest,
                RecordManifest,
                Finalize,
            ],
        ),
        (
            "p2 dropped and p1 loaded: an ordinary incremental",
            vec![part("p1", 1, 2)],
            "incremental",
            vec![
                RecordRunning,
                Claim,
                CheckBase,
                RecordManifest,
                RecordManifest,
                IssueBackup,
                PollBackup,
                ResolveSnapshotTimestamp,
                Finalize,
            ],
        ),
        (
            "nothing dropped or changed",
            vec![part("p1", 1, 1), part("p2", 2, 1)],
            "nothing_changed",
            vec![],
        ),
    ];
    for (name, current, action, want) in cases {
        let mut s = state(true);
        s.tables.get_mut(&orders).unwrap().partitions = current;
        let p = plan_backup(&cfg(), &s, None);
        assert_eq!(p.inputs["databases"][0]["action"], action, "{name}");
        assert_eq!(kinds(&p), want, "{name}");
        if action != "manifest_only" {
            continue;
        }
        assert_eq!(p.inputs["databases"][0]["base_label"], "base", "{name}");
        // a tombstone for p2, nothing for the unchanged p1
        let manifest = p.steps[4].sql.as_deref().unwrap();
        assert!(
            manifest.contains("'p2', 2, 1, NULL, '', 0, 0"),
            "{manifest}"
        );
        assert!(!manifest.contains("'p1'"), "{manifest}");
        assert!(p.steps[3]
            .sql
            .as_deref()
            .unwrap()
            .contains("'orders', 'v2:fo', 0, 0, 1, 1, 'partitions dropped'"));
        let running = p.steps[0].sql.as_deref().unwrap();
        assert!(
            running.contains("'incremental'") && running.contains("'base', 0, '[]'"),
            "{running}"
        );
        let fin = p.steps[5].sql.as_deref().unwrap();
        assert!(!fin.contains("${"), "a complete statement: {fin}");
        assert!(
            fin.contains("`status` = 'FINISHED'")
                && fin.contains("`backup_timestamp` = NULL")
                && fin.contains("`snapshot_at` = NOW()"),
            "{fin}"
        );
    }
}

#[test]
fn manifest_is_chunked() {
    let mut s = state(false);
    s.tables
        .get_mut(&TableRef::parse("sales.orders").unwrap())
        .unwrap()
        .partitions = (0..1200).map(|i| part(&format!("p{i:04}"), i, 1)).collect();
    let p = plan_backup(&cfg(), &s, None);
    let chunks = p
        .steps
        .iter()
        .filter(|s| s.kind == StepKind::RecordManifest)
        .count();
    // 1201 partition rows in three chunks, then the two tables' rows
    assert_eq!(chunks, 4);
}

/// Issue 10/13: a table whose newest restore point would still need a snapshot that is gone from
/// the repository is taken whole, with the reason in the plan; its neighbours stay incremental.
#[test]
fn a_chain_needing_a_missing_snapshot_is_rebased() {
    let src = |table: &str, name: &str, id: i64, v: i64, source: &str| ManifestRow {
        source_label: source.into(),
        ..row(
            table,
            name,
            id,
            v,
            if table == "orders" { "v2:fo" } else { "v2:fc" },
        )
    };
    let base = || {
        BaseBackup::from_rows(
            "base",
            vec![
                // p1's data is in the older snapshot `old`
                src("orders", "p1", 1, 2, "old"),
                src("orders", "p2", 2, 1, "base"),
                src("customers", "customers", 3, 1, "base"),
            ],
        )
    };
    type Missing = BTreeMap<String, String>;
    let missing = |labels: &[&str]| -> Missing {
        labels
            .iter()
            .map(|l| (l.to_string(), "repo".to_string()))
            .collect()
    };
    // (case, missing sources, orders p1 loaded since?, BACKUP's ON list, orders' decision)
    let cases: Vec<(&str, Missing, bool, &str, &str)> = vec![
        (
            "p1 unchanged, its source gone: orders whole, customers unchanged",
            missing(&["old"]),
            false,
            "ON (`orders`)",
            "whole table (its chain needs snapshot old, which is no longer in repository repo)",
        ),
        (
            "p1 changed since: the gone snapshot is needed no more",
            missing(&["old"]),
            true,
            "ON (`orders` PARTITION (`p1`))",
            "changed partitions",
        ),
        (
            "nothing gone (or the listing failed: not marked): incremental",
            missing(&[]),
            true,
            "ON (`orders` PARTITION (`p1`))",
            "changed partitions",
        ),
        (
            "the base's own snapshot gone: both tables whole",
            missing(&["base", "old"]),
            false,
            "ON (`customers`, `orders`)",
            "whole table (its chain needs snapshot base (and 1 more), which is no longer in repository repo)",
        ),
    ];
    for (name, gone, loaded, on, decision) in cases {
        let mut s = state(true);
        let mut b = base();
        b.missing = gone;
        s.bases.insert("sales".into(), b);
        let orders = s
            .tables
            .get_mut(&TableRef::parse("sales.orders").unwrap())
            .unwrap();
        orders.partitions[0].visible_version = if loaded { 3 } else { 2 };
        let p = plan_backup(&cfg(), &s, None);
        let backup = p
            .steps
            .iter()
            .find(|s| s.kind == StepKind::IssueBackup)
            .and_then(|s| s.sql.clone())
            .unwrap_or_default();
        assert!(backup.contains(on), "{name}: {backup}");
        let tables = &p.inputs["databases"][0]["tables"];
        let got = tables
            .as_array()
            .and_then(|ts| ts.iter().find(|t| t["table"] == "orders"))
            .map(|t| t["decision"].clone());
        assert_eq!(got, Some(serde_json::json!(decision)), "{name}: {tables}");
    }
}

fn arb_parts() -> impl Strategy<Value = Vec<(u8, i64, i64, bool)>> {
    proptest::collection::vec((0u8..20, 0i64..5, 1i64..5, any::<bool>()), 0..15)
}

proptest! {
    #[test]
    fn change_detection(cur in arb_parts(), base in arb_parts()) {
        let current: Vec<PartitionState> = cur.iter().map(|(n, id, v, tmp)| PartitionState {
            name: format!("p{n}").into(), id: *id, visible_version: *v, is_temp: *tmp, replication_num: None,
        }).collect();
        // a base records each name once
        let mut seen = BTreeSet::new();
        let base_rows: Vec<ManifestRow> = base.iter().filter(|(n, ..)| seen.insert(*n))
            .map(|(n, id, v, _)| row("t", &format!("p{n}"), *id, *v, "f")).collect();
        let bt = base_table(&base_rows);
        let changed = changed_partitions(&current, &bt);
        for p in &current {
            let recorded = base_rows.iter().find(|r| r.partition == p.name);
            let should = !p.is_temp && recorded.map(|r| (r.partition_id, r.visible_version)) != Some((p.id, p.visible_version));
            // a name may appear twice in `current` (once temp); changed iff any non-temp copy changed
            if should { prop_assert!(changed.contains(&p.name.to_string())); }
        }
        for name in &changed {
            let ok = current.iter().any(|p| p.name == name && !p.is_temp && base_rows.iter().find(|r| &r.partition == name).map(|r| (r.partition_id, r.visible_version)) != Some((p.id, p.visible_version)));
            prop_assert!(ok);
        }
        let mut sorted = changed.clone();
        sorted.sort();
        prop_assert_eq!(sorted, changed);
    }
}
