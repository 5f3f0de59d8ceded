//! The re-base half of the fault suite (issues 10 + 13): a backup that takes a table whole because
//! its chain needs a snapshot deleted behind the tool's back (which `expire` then marked EXPIRED),
//! SIGKILLed at every step boundary, and with a dropped connection before and after every
//! statement, then rerun. Invariants: `verify` (no lost or wrong record, no duplicate BACKUP), and
//! once settled `coverage` (every partition the newest records name is held by a complete
//! snapshot: the vanished one is needed no more) and orders' re-base recorded with its reason.

use super::*;

const RETENTION: &str = "retention: { keep_days: 30 }\n";

/// A full, an incremental holding orders/p20260102 (then deleted from the repository and marked
/// EXPIRED by `expire`), an incremental holding customers; then loads into both tables.
fn rebase_setup(env: &Env) {
    env.run_ok(&["init"], 0);
    env.run_ok(&["backup"], 0);
    env.sim.load("sales", "orders", "p20260102", 3).unwrap();
    env.run_ok(&["backup"], 0);
    env.sim.load("sales", "customers", "customers", 2).unwrap();
    env.run_ok(&["backup"], 0);
    let labels = env.history();
    env.sim.delete_snapshot_files("backup_repo", &labels[1].0);
    env.run_ok(&["expire"], 1);
    env.sim.load("sales", "orders", "p20260101", 1).unwrap();
    env.sim.load("sales", "customers", "customers", 1).unwrap();
    env.sim.clear_statements();
}

/// After `settle`: orders was taken whole for the vanished snapshot by a FINISHED run.
fn rebased(env: &Env) -> Vec<String> {
    let rows = env.query("SELECT t.decision FROM ops.backup_tables t JOIN ops.backup_history h ON h.label = t.label WHERE h.status = 'FINISHED' AND t.table_name = 'orders'");
    if rows
        .iter()
        .any(|r| s(&r[0]).contains("which is no longer in repository backup_repo"))
    {
        Vec::new()
    } else {
        vec![format!("orders was not re-based: {rows:?}")]
    }
}

fn rebase_reference() -> Reference {
    let env = new_env(RETENTION);
    rebase_setup(&env);
    let steps = dry_run_steps(&env, &["backup", "--dry-run"]);
    let env = new_env(RETENTION);
    rebase_setup(&env);
    let o = run(&env, &["backup"]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let statements = env.sent();
    let mut p = verify(&env, "backup_repo", &demo_tables(), true);
    p.extend(rebased(&env));
    assert!(p.is_empty(), "the reference re-base itself: {p:?}");
    Reference { steps, statements }
}

fn after_fault(env: &Env) -> Vec<String> {
    let mut p = verify(env, "backup_repo", &demo_tables(), false);
    p.extend(settle(env));
    p.extend(rebased(env));
    p
}

#[test]
fn rebase_crash_and_connection_faults() {
    if skip_on_real_cluster("rebase_crash_and_connection_faults") {
        return;
    }
    let mut tally = Tally::new(
        "rebase",
        "a backup re-basing a table whose chain needs a snapshot deleted behind the tool's back: SIGKILL at every step boundary (before and after its first statement) and connection dropped before and after every statement, then rerun",
    );
    let r = rebase_reference();
    for (kind, idx) in boundaries(&r) {
        for when in [When::Before, When::After] {
            let id = format!("rebase kill {when:?} {kind} (statement #{idx})");
            let env = new_env(RETENTION);
            rebase_setup(&env);
            env.sim.hang_at(idx, when);
            let mut child = spawn(&env, &["backup"], "killed");
            if let Err(e) = wait_for_statement(&env, &mut child, idx) {
                child.kill(&env);
                tally.case(&id, vec![e]);
                continue;
            }
            child.kill(&env);
            tally.case(&id, after_fault(&env));
        }
    }
    for idx in 0..r.statements.len() {
        for when in [When::Before, When::After] {
            let first: String = r.statements[idx].chars().take(60).collect();
            let id = format!("rebase drop {when:?} #{idx} {first}");
            let env = new_env(RETENTION);
            rebase_setup(&env);
            env.sim.drop_connection_at(idx, when);
            let o = run(&env, &["backup"]);
            let mut p = Vec::new();
            if code(&o) != 0 {
                if let Err(e) = error_line(&o) {
                    p.push(e);
                }
            }
            p.extend(after_fault(&env));
            tally.case(&id, p);
        }
    }
    tally.finish();
}
