//! Unit tests of the restore planner (moved from planner/restore.rs unchanged).

use super::*;
use crate::history::{RestoreRow, ADOPT_NOTE};
use std::path::Path;

fn cfg() -> Config {
    Config::parse(
        Path::new("t.yaml"),
        "connection: {host: h, user: u}\nrepository: repo\ntables: [sales.orders]\nreplication_num: 1\n",
    )
    .unwrap()
}

fn t(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, TIME_FORMAT).unwrap()
}

fn link(label: &str, at: &str, parts: &[&str], rn: u32) -> ChainLink {
    ChainLink {
        label: label.into(),
        backup_timestamp: format!("ts-{label}"),
        snapshot_at: t(at),
        partitions: parts.iter().map(|p| p.to_string()).collect(),
        replication_num: rn,
        repository: String::new(),
    }
}

#[test]
fn each_snapshot_is_restored_from_the_repository_its_row_names() {
    let target = TableRef::parse("sales.orders").unwrap();
    let l = link("b1", "2026-01-01 00:00:00", &["p1"], 1);
    let entry = ChainEntry::from(&l);
    let c = cfg();
    let mut repos = std::collections::BTreeMap::new();
    let sql = restore_sql(&c, repository_of(&c, &repos, "b1"), &target, &entry, None);
    assert!(sql.contains(" FROM `repo` ON "), "{sql}");
    repos.insert("b1".to_string(), "old_repo".to_string());
    let sql = restore_sql(&c, repository_of(&c, &repos, "b1"), &target, &entry, None);
    assert!(sql.contains(" FROM `old_repo` ON "), "{sql}");
}

fn state(exists: bool, resume: Vec<RestoreResume>) -> RestoreState {
    RestoreState {
        cluster_time: "2026-01-02 00:00:00".into(),
        target: TableRef::parse("sales.orders").unwrap(),
        target_time: t("2026-01-01 12:00:00"),
        target_exists: exists,
        resume,
        adopt: None,
        mode: RestoreMode::Plain,
        repositories: BTreeMap::new(),
    }
}

fn kinds(p: &Plan) -> Vec<StepKind> {
    p.steps.iter().map(|s| s.kind).collect()
}

fn restores(p: &Plan) -> Vec<&str> {
    p.steps
        .iter()
        .filter(|s| s.kind == StepKind::RestoreSnapshot)
        .filter_map(|s| s.sql.as_deref())
        .collect()
}

#[test]
fn plans_per_chain_shape() {
    use StepKind::*;
    let head = [
        CheckTargetAbsent,
        RecordRestoreRunning,
        Claim,
        CheckTargetAbsent,
    ];
    // (name, links, expected RESTORE statements)
    let cases: Vec<(&str, Vec<ChainLink>, Vec<&str>)> = vec![
        (
            "full only",
            vec![link("full0", "2026-01-01 00:00:13", &["p1", "p2"], 1)],
            vec!["RESTORE SNAPSHOT `sales`.`full0` FROM `repo` ON (`orders` PARTITION (`p1`, `p2`)) PROPERTIES (\"backup_timestamp\" = \"ts-full0\", \"replication_num\" = \"1\", \"timeout\" = \"86400\")"],
        ),
        (
            "full + two incrementals, one RESTORE per snapshot, oldest first",
            vec![
                link("full0", "2026-01-01 00:00:13", &["p1", "p4"], 3),
                link("incr1", "2026-01-01 01:00:13", &["p2"], 3),
                link("incr2", "2026-01-01 02:00:13", &["p3", "p5"], 3),
            ],
            vec![
                "RESTORE SNAPSHOT `sales`.`full0` FROM `repo` ON (`orders` PARTITION (`p1`, `p4`)) PROPERTIES (\"backup_timestamp\" = \"ts-full0\", \"replication_num\" = \"3\", \"timeout\" = \"86400\")",
                "RESTORE SNAPSHOT `sales`.`incr1` FROM `repo` ON (`orders` PARTITION (`p2`)) PROPERTIES (\"backup_timestamp\" = \"ts-incr1\", \"replication_num\" = \"3\", \"timeout\" = \"86400\")",
                "RESTORE SNAPSHOT `sales`.`incr2` FROM `repo` ON (`orders` PARTITION (`p3`, `p5`)) PROPERTIES (\"backup_timestamp\" = \"ts-incr2\", \"replication_num\" = \"3\", \"timeout\" = \"86400\")",
            ],
        ),
    ];
    for (name, links, want) in cases {
        let chain = Chain {
            as_of_label: links.last().unwrap().label.clone(),
            as_of: links.last().unwrap().snapshot_at,
            links: links.clone(),
        };
        let p = plan_restore(&cfg(), &state(false, vec![]), &chain, None).unwrap();
        let mut expect: Vec<StepKind> = head.to_vec();
        for _ in &links {
            // every RESTORE job is followed by the partition-scheduler switch-off
            expect.extend([RestoreSnapshot, PollRestore, StopPartitionScheduler]);
        }
        expect.push(Finalize);
        assert_eq!(kinds(&p), expect, "{name}");
        assert_eq!(restores(&p), want, "{name}");
        assert_eq!(p.inputs["restore_jobs"], links.len(), "{name}");
        assert_eq!(p.inputs["chain"].as_array().unwrap().len(), links.len());
        // every step belongs to the one restore job
        assert!(p
            .steps
            .iter()
            .all(|s| s.label.as_deref() == Some("bbr_restore_sales_orders_20260101120000")));
        // same inputs, same bytes
        assert_eq!(
            p.to_json(),
            plan_restore(&cfg(), &state(false, vec![]), &chain, None)
                .unwrap()
                .to_json()
        );
    }
}

#[test]
fn running_row_records_the_chain_and_polls_match_their_snapshot() {
    let chain = Chain {
        as_of_label: "incr1".into(),
        as_of: t("2026-01-01 01:00:13"),
        links: vec![
            link("full0", "2026-01-01 00:00:13", &["p1"], 1),
            link("incr1", "2026-01-01 01:00:13", &["p2"], 1),
        ],
    };
    let p = plan_restore(&cfg(), &state(false, vec![]), &chain, Some("abc123")).unwrap();
    let rec = p.steps[1].sql.as_deref().unwrap();
    assert!(
        rec.starts_with("INSERT INTO `ops`.`restore_history`"),
        "{rec}"
    );
    assert!(rec.contains("'RUNNING', NOW(), NOW()"), "{rec}");
    assert!(rec.contains("\"label\":\"full0\""), "{rec}");
    assert!(rec.contains("'2026-01-01 12:00:00'"), "{rec}");
    let polls: Vec<&RestorePoll> = p
        .steps
        .iter()
        .filter(|s| s.kind == StepKind::PollRestore)
        .map(|s| match &s.details {
            Some(Details::RestorePoll(poll)) => poll,
            d => panic!("{d:?}"),
        })
        .collect();
    assert_eq!(polls.len(), 2);
    assert_eq!(polls[1].snapshot_label.as_deref(), Some("incr1"));
    assert_eq!(polls[1].backup_timestamp.as_deref(), Some("ts-incr1"));
    assert_eq!((polls[1].link, polls[1].links), (2, 2));
    assert!(!polls[0].resume);
    let fin = p.steps.last().unwrap().sql.as_deref().unwrap();
    assert!(
        fin.contains("${status}") && fin.contains("${error_message}"),
        "{fin}"
    );
    assert!(fin.contains("bbr_restore_sales_orders_20260101120000_abc123"));
    let claim = p.steps[2].sql.as_deref().unwrap();
    assert!(claim.contains("`restore_history`") && claim.contains("`backup_history`"));
}

#[test]
fn resume_steps_come_first_and_read_the_dead_runs_chain() {
    let chain_json = serde_json::to_string(&vec![
        ChainEntry::from(&link("full0", "2026-01-01 00:00:13", &["p1"], 1)),
        ChainEntry::from(&link("incr1", "2026-01-01 01:00:13", &["p2"], 1)),
    ])
    .unwrap();
    let row = |cur: Option<&str>| RestoreRow {
        label: "bbr_restore_old".into(),
        database: "sales".into(),
        table: "orders".into(),
        started_at: None,
        heartbeat_at: None,
        chain: Some(chain_json.clone()),
        current_label: cur.map(str::to_string),
        target_time: None,
        error_message: None,
    };
    let cases = [
        (Some("incr1"), Some("ts-incr1"), 2),
        (Some("full0"), Some("ts-full0"), 1),
        (None, None, 0),
    ];
    for (cur, ts, pos) in cases {
        let r = RestoreResume::from_row(&row(cur), "stale");
        assert_eq!(r.backup_timestamp.as_deref(), ts);
        assert_eq!((r.link, r.links), (pos, 2));
    }
    let resume = vec![RestoreResume::from_row(&row(Some("incr1")), "stale")];
    let chain = Chain {
        as_of_label: "full0".into(),
        as_of: t("2026-01-01 00:00:13"),
        links: vec![link("full0", "2026-01-01 00:00:13", &["p1"], 1)],
    };
    let p = plan_restore(&cfg(), &state(false, resume), &chain, None).unwrap();
    assert_eq!(p.steps[0].kind, StepKind::PollRestore);
    assert_eq!(p.steps[0].label.as_deref(), Some("bbr_restore_old"));
    // the dead run may have died before switching the scheduler off
    assert_eq!(p.steps[1].kind, StepKind::StopPartitionScheduler);
    assert_eq!(p.steps[2].kind, StepKind::Finalize);
    assert_eq!(p.steps[3].kind, StepKind::CheckTargetAbsent);
}

fn lref(l: &str) -> LinkRef {
    LinkRef {
        label: l.into(),
        backup_timestamp: format!("ts-{l}"),
    }
}

fn job(l: &str, state: &str, created: &str) -> ShowRestoreJob {
    ShowRestoreJob {
        label: l.into(),
        timestamp: format!("ts-{l}"),
        state: state.into(),
        status: "[COMMON_ERROR, msg: x]".into(),
        create_time: Some(t(created)),
    }
}

#[test]
fn judge_never_guesses_what_starrocks_ran() {
    let links = [lref("full0"), lref("incr1")];
    let started = Some(t("2026-01-02 00:00:00"));
    let after = "2026-01-02 00:00:05";
    let before = "2026-01-01 23:00:00";
    let go = |done, wait: Option<&str>| Progress::Continue {
        done,
        wait: wait.map(str::to_string),
    };
    let unknown = |p: &Progress| matches!(p, Progress::Unknown(_));
    // (current_label, SHOW RESTORE's row, table exists) -> judgement
    let j = |cur: Option<&str>, last: Option<ShowRestoreJob>, exists| {
        judge(&links, cur, started, last.as_ref(), exists)
    };
    assert_eq!(j(None, None, false), go(0, None));
    assert_eq!(
        j(Some("incr1"), Some(job("incr1", "FINISHED", after)), true),
        go(2, None)
    );
    assert_eq!(
        j(
            Some("incr1"),
            Some(job("incr1", "DOWNLOADING", after)),
            true
        ),
        go(2, Some("DOWNLOADING"))
    );
    assert!(matches!(
        j(Some("incr1"), Some(job("incr1", "CANCELLED", after)), true),
        Progress::Cancelled(_)
    ));
    // the last job is the previous link's, FINISHED: the current one never reached StarRocks
    assert_eq!(
        j(Some("incr1"), Some(job("full0", "FINISHED", after)), true),
        go(1, None)
    );
    // first link: nothing of ours visible and no table: never submitted
    assert_eq!(j(Some("full0"), None, false), go(0, None));
    assert_eq!(
        j(Some("full0"), Some(job("full0", "FINISHED", before)), false),
        go(0, None)
    );
    // ... but with the table there, or an older job of the same snapshot, it cannot be told
    assert!(unknown(&j(Some("full0"), None, true)));
    assert!(unknown(&j(
        Some("incr1"),
        Some(job("incr1", "FINISHED", before)),
        true
    )));
    assert!(unknown(&j(Some("incr1"), None, true)));
    assert!(unknown(&j(
        Some("incr1"),
        Some(job("other", "FINISHED", after)),
        true
    )));
    assert!(unknown(&j(Some("nope"), None, true)));
}

#[test]
fn adoption_needs_the_same_table_and_target_and_a_chain() {
    let chain_json = serde_json::to_string(&vec![ChainEntry::from(&link(
        "full0",
        "2026-01-01 00:00:13",
        &["p1"],
        1,
    ))])
    .unwrap();
    let row =
        |label: &str, table: &str, at: &str, cur: Option<&str>, note: Option<&str>| RestoreRow {
            label: if label.starts_with("bbr_") {
                label.into()
            } else {
                format!("{PLAIN_PREFIX}{label}")
            },
            database: "sales".into(),
            table: table.into(),
            started_at: Some(format!("2026-01-02 00:00:0{}", label.len() % 10)),
            heartbeat_at: None,
            chain: Some(chain_json.clone()),
            current_label: cur.map(str::to_string),
            target_time: Some(at.into()),
            error_message: note.map(str::to_string),
        };
    let target = TableRef::parse("sales.orders").unwrap();
    let at = t("2026-01-01 12:00:00");
    let pick = |rows: Vec<RestoreRow>| {
        pick_adoption(&rows, &target, at)
            .map(|r| r.label.trim_start_matches(PLAIN_PREFIX).to_string())
    };
    let same = "2026-01-01 12:00:00";
    assert_eq!(
        pick(vec![row("a", "orders", same, None, None)]),
        Some("a".into())
    );
    assert_eq!(pick(vec![row("a", "customers", same, None, None)]), None);
    assert_eq!(
        pick(vec![row("bbr_replace_x", "orders", same, None, None)]),
        None,
        "an --as / --replace run is never continued"
    );
    assert_eq!(
        pick(vec![row("a", "orders", "2026-01-01 11:00:00", None, None)]),
        None
    );
    let claim = format!("{ADOPT_NOTE}a");
    assert_eq!(
        pick(vec![
            row("bb", "orders", same, None, Some(&claim)),
            row("a", "orders", same, Some("full0"), None)
        ]),
        Some("a".into()),
        "a dead adopter's claim row is never adopted"
    );
    assert_eq!(
        pick(vec![
            row("a", "orders", same, Some("full0"), None),
            row("bb", "orders", same, Some("full0"), None)
        ]),
        None,
        "two runs that both submitted: cannot tell which one the table holds"
    );
}

#[test]
fn a_chain_too_long_for_one_cell_is_recorded_compact_and_still_matches() {
    let many: Vec<String> = (0..12_000).map(|i| format!("p{i:06}")).collect();
    let parts: Vec<&str> = many.iter().map(String::as_str).collect();
    let cases = [
        (
            vec![link("full0", "2026-01-01 00:00:13", &["p1"], 1)],
            false,
        ),
        (
            vec![
                link("full0", "2026-01-01 00:00:13", &parts, 1),
                link("incr1", "2026-01-01 01:00:13", &["p000001"], 1),
            ],
            true,
        ),
    ];
    for (links, compact) in cases {
        let entries: Vec<ChainEntry> = links.iter().map(ChainEntry::from).collect();
        let json = recorded_chain_json(&entries);
        assert!(json.len() <= STRING_CELL_MAX, "{}", json.len());
        let back: Vec<ChainEntry> = serde_json::from_str(&json).unwrap();
        assert_eq!(back.iter().any(|e| e.partition_count.is_some()), compact);
        assert!(same_chain(&entries, &back));
        // another partition set of the same size still matches a compact record only by count;
        // a different label never does
        let mut other = entries.clone();
        other[0].label = "elsewhere".into();
        assert!(!same_chain(&other, &back));
    }
}

#[test]
fn labels_are_bounded_and_sanitised() {
    let long = TableRef {
        database: "d".repeat(200),
        table: "we-ird.t".repeat(40),
    };
    let l = restore_label(&long, t("2026-01-01 00:00:00"), Some("abcdef"));
    assert!(l.len() <= 96, "{}", l.len());
    assert!(l.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    assert!(l.ends_with("_20260101000000_abcdef"));
}

/// Finishing a dead run switches the scheduler off only where that run restored under the recorded
/// names: an --as / --replace run wrote a stage table, and its recorded name is the live table.
#[test]
fn finishing_a_dead_run_stops_the_scheduler_only_for_plain_and_group_runs() {
    let dead = |label: &str| RestoreResume {
        database: "sales".into(),
        table: "orders".into(),
        label: label.into(),
        current_label: Some("full0".into()),
        backup_timestamp: Some("ts-full0".into()),
        link: 1,
        links: 1,
        reason: "stale".into(),
    };
    for (label, stops) in [
        ("bbr_restore_sales_orders_20260101000000_x", true),
        ("bbr_restogrp_sales_orders_20260101000000_x", true),
        ("bbr_replace_sales_orders_20260101000000_x", false),
        ("bbr_restoas_sales_orders_20260101000000_x", false),
    ] {
        let steps = plan_restore_resume(&cfg(), &[dead(label)]);
        let n = steps
            .iter()
            .filter(|s| s.kind == StepKind::StopPartitionScheduler)
            .count();
        assert_eq!(n, usize::from(stops), "{label}");
    }
}
