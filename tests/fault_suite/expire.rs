//! The expire half of the fault suite (issue 13): SIGKILL at every step boundary of an expire plan
//! and a dropped connection before and after every statement, on a 4.2 cluster (DROP SNAPSHOT), then
//! a rerun. Invariants (`expire_verify`): never a snapshot dropped whose row is not EXPIRED; once
//! settled, never an EXPIRED row whose snapshot is still there, exactly the reference's snapshots
//! expired, every needed one FINISHED with its manifest and its snapshot, no claim left, and the
//! next backup finds nothing changed (its base is intact).

use super::*;

const RETENTION: &str = "retention: { keep_days: 1 }\n";

/// Four daily backups (a full, then loads into p20260102; the third `--full`) on a 4.2 cluster;
/// with keep_days 1 the first two are needed by no restore point. Returns the labels, oldest first.
fn expire_setup(env: &Env) -> Vec<String> {
    env.sim.set_drop_snapshot(true);
    env.run_ok(&["init"], 0);
    for day in 0..4 {
        if day > 0 {
            env.sim.advance(Duration::from_secs(86_400));
            env.sim.load("sales", "orders", "p20260102", 3).unwrap();
        }
        let args: &[&str] = if day == 2 {
            &["backup", "--full"]
        } else {
            &["backup"]
        };
        env.run_ok(args, 0);
    }
    env.sim.advance(Duration::from_secs(3_600));
    env.sim.clear_statements();
    labels(env)
}

fn labels(env: &Env) -> Vec<String> {
    env.query("SELECT label FROM ops.backup_history WHERE backup_type <> 'expire' ORDER BY started_at, label")
        .into_iter()
        .map(|r| s(&r[0]))
        .collect()
}

fn expire_verify(env: &Env, all: &[String], settled: bool) -> Vec<String> {
    let mut p = Vec::new();
    let rows: BTreeMap<String, (String, String, Option<String>)> = env
        .query("SELECT label, backup_type, status, error_message FROM ops.backup_history")
        .into_iter()
        .map(|r| (s(&r[0]), (s(&r[1]), s(&r[2]), r[3].clone())))
        .collect();
    let in_repo: BTreeSet<String> = env
        .sim
        .snapshots("backup_repo")
        .into_iter()
        .filter(|x| x.ok)
        .map(|x| x.label)
        .collect();
    for l in all {
        let Some((_, st, note)) = rows.get(l) else {
            p.push(format!("history row {l} lost"));
            continue;
        };
        if !in_repo.contains(l) && st != "EXPIRED" {
            p.push(format!("snapshot {l} dropped but its row is {st}"));
        }
        if settled && st == "EXPIRED" && in_repo.contains(l) {
            p.push(format!(
                "{l} EXPIRED ({note:?}) but its snapshot is still there"
            ));
        }
    }
    if settled {
        let expired: Vec<&String> = all.iter().filter(|l| rows[*l].1 == "EXPIRED").collect();
        if expired != vec![&all[0], &all[1]] {
            p.push(format!(
                "expired {expired:?}, an uninterrupted run expires [{}, {}]",
                all[0], all[1]
            ));
        }
        for l in all.iter().skip(2) {
            if rows[l].1 != "FINISHED" || !in_repo.contains(l) {
                p.push(format!(
                    "needed {l} is {} (in repository: {})",
                    rows[l].1,
                    in_repo.contains(l)
                ));
            }
            let n = env
                .query(&format!(
                    "SELECT label FROM ops.backup_partitions WHERE label = '{l}'"
                ))
                .len();
            if n == 0 {
                p.push(format!("needed {l} lost its manifest"));
            }
        }
        // both expired snapshots: manifest gone, note "snapshot dropped"
        for l in &all[..2] {
            let left = env
                .query(&format!(
                    "SELECT label FROM ops.backup_partitions WHERE label = '{l}'"
                ))
                .len();
            if left > 0 {
                p.push(format!("{left} manifest rows of the expired {l} left"));
            }
            if rows[l].2.as_deref() != Some(starrocks_bbr::planner::expire::NOTE_DROPPED) {
                p.push(format!("{l} note {:?}", rows[l].2));
            }
        }
        for (l, (_, st, _)) in &rows {
            if st == "RUNNING" {
                p.push(format!("{l} left RUNNING"));
            }
        }
    }
    p
}

/// After the fault: the dead claim goes stale, `expire` completes, a second finds nothing, and the
/// next backup finds nothing changed.
fn expire_settle(env: &Env, all: &[String]) -> Vec<String> {
    env.sim.advance(Duration::from_secs(60));
    let mut p = Vec::new();
    if let Err(e) = expect(env, &["expire"], 0) {
        p.push(format!("clean expire: {e}"));
    }
    match expect(env, &["expire"], 0) {
        Ok(o) if text(&o.stdout).contains("nothing to expire") => {}
        Ok(o) => p.push(format!("second expire still expired: {}", text(&o.stdout))),
        Err(e) => p.push(format!("second expire: {e}")),
    }
    p.extend(expire_verify(env, all, true));
    match expect(env, &["backup"], 0) {
        Ok(o) if text(&o.stdout).contains("nothing changed") => {}
        Ok(o) => p.push(format!("backup after expire: {}", text(&o.stdout))),
        Err(e) => p.push(format!("backup after expire: {e}")),
    }
    p
}

/// The reference run: its plan and statements, and how many snapshots it expires (the figure the
/// categories' rows state, so docs/RELIABILITY.md says what the suite really does).
fn expire_reference() -> (Reference, usize) {
    let env = new_env(RETENTION);
    expire_setup(&env);
    let steps = dry_run_steps(&env, &["expire", "--dry-run"]);
    let env = new_env(RETENTION);
    let all = expire_setup(&env);
    let o = run(&env, &["expire"]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let statements = env.sent();
    let p = expire_verify(&env, &all, true);
    assert!(p.is_empty(), "the reference expire itself: {p:?}");
    let expired = env
        .query("SELECT label FROM ops.backup_history WHERE status = 'EXPIRED'")
        .len();
    (Reference { steps, statements }, expired)
}

#[test]
fn expire_crash_at_every_step_boundary() {
    if skip_on_real_cluster("expire_crash_at_every_step_boundary") {
        return;
    }
    let (r, expired) = expire_reference();
    let mut tally = Tally::new(
        "expire-crash",
        format!("SIGKILL at every step boundary of an expire plan on 4.2 that drops {expired} snapshots (DROP SNAPSHOT), before and after the step's first statement, then rerun"),
    );
    for (kind, idx) in boundaries(&r) {
        for when in [When::Before, When::After] {
            let id = format!("expire kill {when:?} {kind} (statement #{idx})");
            let env = new_env(RETENTION);
            let all = expire_setup(&env);
            env.sim.hang_at(idx, when);
            let mut child = spawn(&env, &["expire"], "killed");
            if let Err(e) = wait_for_statement(&env, &mut child, idx) {
                child.kill(&env);
                tally.case(&id, vec![e]);
                continue;
            }
            child.kill(&env);
            let mut p = expire_verify(&env, &all, false);
            p.extend(expire_settle(&env, &all));
            tally.case(&id, p);
        }
    }
    tally.finish();
}

#[test]
fn expire_connection_dropped_at_every_statement() {
    if skip_on_real_cluster("expire_connection_dropped_at_every_statement") {
        return;
    }
    let (r, expired) = expire_reference();
    let mut tally = Tally::new(
        "expire-connection",
        format!("connection dropped before and after every statement of an expire run on 4.2 that drops {expired} snapshots; rerun if it did not finish"),
    );
    for idx in 0..r.statements.len() {
        for when in [When::Before, When::After] {
            let first: String = r.statements[idx].chars().take(60).collect();
            let id = format!("expire drop {when:?} #{idx} {first}");
            let env = new_env(RETENTION);
            let all = expire_setup(&env);
            env.sim.drop_connection_at(idx, when);
            let o = run(&env, &["expire"]);
            let mut p = Vec::new();
            if code(&o) != 0 {
                if let Err(e) = error_line(&o) {
                    p.push(e);
                }
            }
            p.extend(expire_verify(&env, &all, false));
            p.extend(expire_settle(&env, &all));
            tally.case(&id, p);
        }
    }
    tally.finish();
}
