use super::*;
use proptest::prelude::*;

fn t(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
}

fn row(label: &str, status: &str, at: NaiveDateTime, ts: Option<&str>) -> SnapshotRow {
    SnapshotRow {
        record: BackupRecord {
            label: label.into(),
            database: "db".into(),
            status: status.into(),
            snapshot_at: Some(at),
            backup_timestamp: ts.map(str::to_string),
            repository: "repo".into(),
        },
        backup_type: "incremental".into(),
        repository: "repo".into(),
        started_at: Some(at),
        heartbeat_at: Some(at),
        error_message: None,
    }
}

fn m(label: &str, p: &str, id: i64, v: i64, source: &str) -> ManifestRow {
    ManifestRow {
        label: label.into(),
        partition_name: p.into(),
        partition_id: id,
        visible_version: v,
        replication_num: 1,
        source_label: source.into(),
        in_snapshot: label == source,
    }
}

/// Daily, lean manifests: full0 (p1,p2, complete), incr1 (p2), full2 (a rolling full: p1,p2,
/// complete), incr3 (p2). A restore as of incr3 folds full2 + incr3; one as of incr1 folds full0 +
/// incr1 — so a span is kept whole, and what lies before the last complete record of the window's
/// first span expires.
fn daily() -> DatabaseHistory {
    let day = |d: i64| t("2026-01-01 00:00:00") + chrono::Duration::days(d);
    let labels = ["full0", "incr1", "full2", "incr3"];
    let rows = labels
        .iter()
        .enumerate()
        .map(|(i, l)| row(l, "FINISHED", day(i as i64), Some(&format!("ts{i}"))))
        .collect();
    let mut manifest = Vec::new();
    let mut tables = Vec::new();
    for (i, l) in labels.iter().enumerate() {
        let complete = l.starts_with("full");
        if complete {
            manifest.push(m(l, "p1", 1, 2, l));
        }
        manifest.push(m(l, "p2", 2, 2 + i as i64, l));
        tables.push(TableRecord {
            label: l.to_string(),
            complete,
        });
    }
    DatabaseHistory {
        database: "db".into(),
        rows,
        manifest: [("t".to_string(), manifest)].into_iter().collect(),
        tables: [("t".to_string(), tables)].into_iter().collect(),
        restores: vec![],
    }
}

#[test]
fn whole_spans_are_kept_and_what_precedes_them_expires() {
    let h = daily();
    let cases: &[(&str, u32, &[&str], &[&str])] = &[
        // window start day 2 12:00: as-of full2, then incr3.
        (
            "2026-01-04 12:00:00",
            1,
            &["full2", "incr3"],
            &["full0", "incr1"],
        ),
        // window start day 1 12:00: as-of incr1 = full0 + incr1.
        (
            "2026-01-04 12:00:00",
            2,
            &["full0", "full2", "incr1", "incr3"],
            &[],
        ),
        (
            "2026-02-01 00:00:00",
            1,
            &["full2", "incr3"],
            &["full0", "incr1"],
        ),
    ];
    for (now, keep, want_keep, want_expire) in cases {
        let r = decide(&h, t(now), *keep, 300);
        assert_eq!(r.keep, *want_keep, "keep at {now} keep_days {keep}");
        assert_eq!(r.expire, *want_expire, "expire at {now} keep_days {keep}");
    }
}

#[test]
fn running_and_failed_rows() {
    let mut h = daily();
    let day5 = t("2026-01-06 00:00:00");
    h.rows.push(row("failed4", "FAILED", day5, None));
    h.rows.push(row("running5", "RUNNING", day5, None));
    // the dead run recorded p2 against incr1 (say it planned on an older base)
    if let Some(v) = h.manifest.get_mut("t") {
        v.push(m("running5", "p2", 2, 3, "incr1"));
    }
    let r = decide(&h, t("2026-02-01 00:00:00"), 1, 300);
    assert!(r.expire.contains(&"failed4".to_string()));
    assert!(!r.expire.contains(&"running5".to_string()), "never RUNNING");
    assert!(
        r.keep.contains(&"incr1".to_string()),
        "a RUNNING run's source"
    );
}

#[test]
fn old_restore_records_and_dead_claims() {
    let mut h = daily();
    let at = |s: &str| Some(t(s));
    h.restores = vec![
        RestoreRun {
            label: "old".into(),
            status: "FINISHED".into(),
            started_at: at("2026-01-01 00:00:00"),
            finished_at: at("2026-01-01 01:00:00"),
        },
        RestoreRun {
            label: "running".into(),
            status: "RUNNING".into(),
            started_at: at("2026-01-01 00:00:00"),
            finished_at: None,
        },
        RestoreRun {
            label: "recent".into(),
            status: "FAILED".into(),
            started_at: at("2026-01-31 00:00:00"),
            finished_at: at("2026-01-31 01:00:00"),
        },
    ];
    let mut dead = row("bbr_expire_db_x", "RUNNING", t("2026-01-31 00:00:00"), None);
    dead.backup_type = EXPIRE_CLAIM_TYPE.into();
    let mut live = row("bbr_expire_db_y", "RUNNING", t("2026-01-31 23:59:00"), None);
    live.backup_type = EXPIRE_CLAIM_TYPE.into();
    h.rows.push(dead);
    h.rows.push(live);
    let r = decide(&h, t("2026-02-01 00:00:00"), 2, 300);
    assert_eq!(r.restores, vec!["old".to_string()]);
    assert_eq!(r.dead_claims, vec!["bbr_expire_db_x".to_string()]);
    assert!(!r.expire.iter().any(|l| l.starts_with("bbr_expire")));
}

fn cfg() -> Config {
    Config::parse(
        std::path::Path::new("t.yaml"),
        "connection: {host: h, user: u}\nrepository: repo\ntables: [db.t]\nretention: {keep_days: 1}\n",
    )
    .unwrap()
}

fn kinds(p: &Plan) -> Vec<String> {
    p.steps.iter().map(|s| s.kind.to_string()).collect()
}

#[test]
fn plans_per_release_and_repository_state() {
    let h = daily();
    let now = t("2026-02-01 00:00:00");
    let r = decide(&h, now, 1, 300);
    let present = |cid: Option<&str>| RepositoryView {
        drop_supported: cid.is_some(),
        snapshots: ["full0", "incr1", "full2", "incr3"]
            .iter()
            .map(|l| {
                (
                    ("repo".to_string(), l.to_string()),
                    Presence::Present {
                        cluster_id: cid.map(str::to_string),
                    },
                )
            })
            .collect(),
    };
    // 4.2: mark, forget, drop, record — in that order for each snapshot.
    let (p, rep) = plan_expire(
        &cfg(),
        now,
        1,
        std::slice::from_ref(&h),
        std::slice::from_ref(&r),
        &present(Some("c1")),
        None,
    );
    assert_eq!(
        kinds(&p),
        [
            "RecordRunning",
            "Claim",
            "ExpireRecord",
            "DeleteManifest",
            "DeleteManifest",
            "DropSnapshot",
            "RecordDropped",
            "ExpireRecord",
            "DeleteManifest",
            "DeleteManifest",
            "DropSnapshot",
            "RecordDropped",
            "ReleaseClaim"
        ]
    );
    assert!(p.steps[5].sql.as_deref() == Some("DROP SNAPSHOT `full0` ON `repo`"));
    assert!(p.steps[2]
        .sql
        .as_deref()
        .unwrap()
        .contains(NOTE_DROP_PENDING));
    assert!(rep.expired.iter().all(|e| e.disposal == Disposal::Drop));
    assert!(!p.to_json().contains("\\\"ttl\\\""), "never a ttl property");
    // Before 4.2: no DROP; the snapshots are listed for the operator.
    let (p, rep) = plan_expire(
        &cfg(),
        now,
        1,
        std::slice::from_ref(&h),
        std::slice::from_ref(&r),
        &present(None),
        None,
    );
    assert!(!kinds(&p).contains(&"DropSnapshot".to_string()));
    assert!(rep
        .expired
        .iter()
        .all(|e| e.disposal == Disposal::DeleteByHand));
    assert_eq!(p.inputs["delete_from_storage"].as_array().unwrap().len(), 2);
    // A needed snapshot gone from the repository is marked EXPIRED (vanished) and reported.
    let mut view = present(Some("c1"));
    view.snapshots
        .insert(("repo".into(), "full2".into()), Presence::Absent);
    let (p, rep) = plan_expire(
        &cfg(),
        now,
        1,
        std::slice::from_ref(&h),
        std::slice::from_ref(&r),
        &view,
        None,
    );
    assert_eq!(rep.vanished.len(), 1);
    assert_eq!(rep.vanished[0].label, "full2");
    assert!(p
        .steps
        .iter()
        .any(|s| s.sql.as_deref().unwrap_or("").contains(NOTE_VANISHED)));
    // Nothing to do: an empty plan (no claim either).
    let r2 = decide(&h, now, 100, 300);
    let (p, _) = plan_expire(&cfg(), now, 100, &[h], &[r2], &present(Some("c1")), None);
    assert!(p.is_empty());
}

#[test]
fn a_dead_runs_pending_drop_is_completed() {
    let mut h = daily();
    h.rows[1].record.status = "EXPIRED".into();
    h.rows[1].error_message = Some(NOTE_DROP_PENDING.into());
    let now = t("2026-01-04 12:00:00");
    let r = decide(&h, now, 2, 300);
    assert_eq!(r.pending, vec!["incr1".to_string()]);
    let mut view = RepositoryView {
        drop_supported: true,
        ..RepositoryView::default()
    };
    view.snapshots.insert(
        ("repo".into(), "incr1".into()),
        Presence::Present {
            cluster_id: Some("c1".into()),
        },
    );
    let (p, _) = plan_expire(
        &cfg(),
        now,
        2,
        std::slice::from_ref(&h),
        std::slice::from_ref(&r),
        &view,
        None,
    );
    assert_eq!(
        kinds(&p),
        [
            "RecordRunning",
            "Claim",
            "DeleteManifest",
            "DeleteManifest",
            "DropSnapshot",
            "RecordDropped",
            "ReleaseClaim"
        ]
    );
    // Already dropped by the dead run: only the manifest and the note are completed.
    view.snapshots
        .insert(("repo".into(), "incr1".into()), Presence::Absent);
    let (p, _) = plan_expire(&cfg(), now, 2, &[h], &[r], &view, None);
    assert_eq!(
        kinds(&p),
        [
            "RecordRunning",
            "Claim",
            "DeleteManifest",
            "DeleteManifest",
            "RecordDropped",
            "ReleaseClaim"
        ]
    );
    assert!(p.steps[4].sql.as_deref().unwrap().contains(NOTE_DROPPED));
}

/// A table's life and the backup tool's recording rule (as chain.rs's property test models it).
#[derive(Debug, Clone)]
enum Op {
    Load(u8),
    Truncate(u8),
    Drop(u8),
    Add(u8),
    SchemaChange,
    /// A daily backup: FINISHED (true) or FAILED; `whole` = a rolling full of this table.
    Backup {
        ok: bool,
        whole: bool,
    },
    Wait,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..5).prop_map(Op::Load),
        1 => (0u8..5).prop_map(Op::Truncate),
        1 => (0u8..5).prop_map(Op::Drop),
        1 => (0u8..5).prop_map(Op::Add),
        1 => Just(Op::SchemaChange),
        4 => (any::<bool>(), prop::bool::weighted(0.15)).prop_map(|(ok, whole)| Op::Backup { ok: ok || whole, whole }),
        2 => Just(Op::Wait),
    ]
}

type State = BTreeMap<String, (i64, i64)>;

/// Builds a two-table history from the ops (table `b` changes on odd ops only) with the backup
/// tool's lean recording rule: per table a `backup_tables` row when something was recorded
/// (complete for a whole-table snapshot), the partitions in the snapshot and a tombstone per
/// partition dropped since the base (the latest FINISHED backup's fold).
fn build(ops: &[Op], running_last: bool) -> (DatabaseHistory, NaiveDateTime) {
    let mut tables: BTreeMap<String, State> = ["a", "b"]
        .iter()
        .map(|t| {
            (
                t.to_string(),
                (0..3).map(|i| (format!("p{i}"), (i, 1))).collect(),
            )
        })
        .collect();
    let mut next_id = 100;
    let mut changed_schema: BTreeSet<String> = BTreeSet::new();
    let mut rows = Vec::new();
    let mut manifest: BTreeMap<String, Vec<ManifestRow>> = BTreeMap::new();
    let mut records: BTreeMap<String, Vec<TableRecord>> = BTreeMap::new();
    // The fold of each table as of the latest FINISHED backup (the base of the next one).
    let mut base: BTreeMap<String, State> = BTreeMap::new();
    let mut clock = t("2026-01-01 00:00:00");
    for (i, op) in ops.iter().enumerate() {
        clock += chrono::Duration::hours(7);
        let tname = if i % 2 == 1 { "b" } else { "a" };
        let table = tables.get_mut(tname).unwrap();
        match *op {
            Op::Load(p) => {
                if let Some(e) = table.get_mut(&format!("p{p}")) {
                    e.1 += 1;
                }
            }
            Op::Truncate(p) => {
                if let Some(e) = table.get_mut(&format!("p{p}")) {
                    next_id += 1;
                    *e = (next_id, 1);
                }
            }
            Op::Drop(p) => {
                if table.len() > 1 {
                    table.remove(&format!("p{p}"));
                }
            }
            Op::Add(p) => {
                next_id += 1;
                table.entry(format!("p{p}")).or_insert((next_id, 1));
            }
            Op::SchemaChange => {
                changed_schema.insert(tname.to_string());
            }
            Op::Wait => clock += chrono::Duration::hours(20),
            Op::Backup { ok, whole } => {
                let label = format!("b{i:03}");
                let mut recorded = false;
                let mut data = false;
                for (tn, state) in &tables {
                    let b = base.get(tn);
                    let is_whole = b.is_none() || whole || changed_schema.contains(tn);
                    let changed: Vec<&String> = state
                        .iter()
                        .filter(|(n, v)| is_whole || b.and_then(|b| b.get(*n)) != Some(v))
                        .map(|(n, _)| n)
                        .collect();
                    let dropped: Vec<&String> = match b {
                        Some(b) if !is_whole => {
                            b.keys().filter(|n| !state.contains_key(*n)).collect()
                        }
                        _ => vec![],
                    };
                    if changed.is_empty() && dropped.is_empty() {
                        continue;
                    }
                    recorded = true;
                    data |= !changed.is_empty();
                    let rows = manifest.entry(tn.clone()).or_default();
                    for n in changed {
                        let (id, v) = state[n];
                        rows.push(m(&label, n, id, v, &label));
                    }
                    for n in dropped {
                        rows.push(ManifestRow {
                            in_snapshot: false,
                            source_label: String::new(),
                            ..m(&label, n, 0, 0, &label)
                        });
                    }
                    records.entry(tn.clone()).or_default().push(TableRecord {
                        label: label.clone(),
                        complete: is_whole,
                    });
                }
                if !recorded {
                    continue;
                }
                let status = if ok { "FINISHED" } else { "FAILED" };
                let ts = format!("ts{i}");
                rows.push(row(&label, status, clock, data.then_some(ts.as_str())));
                if ok {
                    base = tables.clone();
                    changed_schema.clear();
                }
            }
        }
    }
    if running_last {
        if let Some(r) = rows.last_mut() {
            r.record.status = "RUNNING".into();
        }
    }
    (
        DatabaseHistory {
            database: "db".into(),
            rows,
            manifest,
            tables: records,
            restores: vec![],
        },
        clock,
    )
}

/// The history after the decision ran: expired rows EXPIRED, their manifest and table rows gone.
fn apply(h: &DatabaseHistory, r: &Retention) -> DatabaseHistory {
    let gone: BTreeSet<&String> = r.expire.iter().collect();
    let mut out = h.clone();
    for row in &mut out.rows {
        if gone.contains(&row.record.label) {
            row.record.status = "EXPIRED".into();
        }
    }
    for rows in out.manifest.values_mut() {
        rows.retain(|m| !gone.contains(&m.label));
    }
    for recs in out.tables.values_mut() {
        recs.retain(|t| !gone.contains(&t.label));
    }
    out
}

fn records(h: &DatabaseHistory) -> Vec<BackupRecord> {
    h.rows.iter().map(|r| r.record.clone()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn every_restore_point_in_the_window_restores_the_same_after_expire(
        ops in prop::collection::vec(op(), 1..40),
        keep_days in 1u32..4,
        after_h in 0i64..60,
        running_last in prop::bool::weighted(0.2),
        probes in prop::collection::vec(0u32..1000, 5),
    ) {
        let (h, last) = build(&ops, running_last);
        let now = last + chrono::Duration::hours(after_h);
        let r = decide(&h, now, keep_days, 300);
        let after = apply(&h, &r);
        let (before_b, after_b) = (records(&h), records(&after));
        let start = window_start(now, keep_days);
        let mut points: Vec<NaiveDateTime> = vec![start, now];
        points.extend(h.rows.iter().filter_map(|r| r.record.snapshot_at).filter(|at| *at >= start && *at <= now));
        let span = (now - start).num_seconds().max(1);
        points.extend(probes.iter().map(|p| start + chrono::Duration::seconds(span * i64::from(*p) / 1000)));
        for (table, recs) in &h.tables {
            let rows = h.manifest.get(table).cloned().unwrap_or_default();
            let rows_after = after.manifest.get(table).cloned().unwrap_or_default();
            let recs_after = after.tables.get(table).cloned().unwrap_or_default();
            for p in &points {
                let want = chain::resolve(&before_b, recs, &rows, *p);
                let got = chain::resolve(&after_b, &recs_after, &rows_after, *p);
                prop_assert_eq!(&got, &want, "table {} at {}", table, p);
            }
        }
        for row in &h.rows {
            if r.expire.contains(&row.record.label) {
                prop_assert!(matches!(row.record.status.as_str(), "FINISHED" | "FAILED"));
            }
        }
        // The compact manifest discovery reads (one row per label and source) decides the same.
        let mut compact = h.clone();
        for rows in compact.manifest.values_mut() {
            let mut seen = BTreeSet::new();
            rows.retain(|m| seen.insert((m.label.clone(), m.source_label.clone(), m.in_snapshot)));
        }
        prop_assert_eq!(decide(&compact, now, keep_days, 300), r);
    }
}

#[test]
fn a_snapshot_that_cannot_be_checked_is_never_dropped_blindly() {
    let h = daily();
    let now = t("2026-02-01 00:00:00");
    let r = decide(&h, now, 1, 300);
    let mut view = RepositoryView {
        drop_supported: true,
        ..RepositoryView::default()
    };
    for l in ["full0", "incr1"] {
        view.snapshots.insert(
            ("repo".into(), l.into()),
            Presence::Unknown {
                reason: "ERROR: Failed to get info: timeout".into(),
            },
        );
    }
    let (p, rep) = plan_expire(&cfg(), now, 1, &[h], &[r], &view, None);
    assert!(!kinds(&p).contains(&"DropSnapshot".to_string()));
    assert!(rep
        .expired
        .iter()
        .all(|e| e.disposal == Disposal::DeleteByHand));
    assert!(
        rep.vanished.is_empty(),
        "an unknown answer is no proof it is gone"
    );
}
