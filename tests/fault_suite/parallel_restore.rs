//! Restores spanning databases run at once (parallel_databases, issue 10): hr's connection dropped
//! before and after each kind of statement its part of the run sends, and the run killed while
//! hr's job runs. Invariants: sales' restore, on its own connection, finishes whatever happens to
//! hr's; hr restored afterwards by its one-table command or, after the kill, by the same
//! two-database command (sales skipped as done, hr's dead run continued); no row
//! left RUNNING, exactly one FINISHED record per database, each table as it was backed up.

use super::*;

const MARKERS: [&str; 4] = ["bbr_restore_hr_", "bbr_hr_", "'hr'", "`hr`"];

/// Both databases backed up, both tables dropped: the two-database restore arguments, the
/// one-table hr restore arguments, and sales.orders / hr.people as they must come back.
fn setup(env: &Env) -> (Vec<String>, Vec<String>, Parts, Parts) {
    env.run_ok(&["backup"], 0);
    let sales = orders(env).unwrap();
    let hr = parts_in(env, "hr", "people").unwrap();
    env.sim.advance(Duration::from_secs(5));
    let at = env.sim.now().format("%Y-%m-%d %H:%M:%S").to_string();
    env.sim.drop_table("sales", "orders").unwrap();
    env.sim.drop_table("hr", "people").unwrap();
    env.sim.clear_statements();
    let both = args(&[
        "restore",
        "--timestamp",
        &at,
        "--table",
        "sales.orders",
        "--table",
        "hr.people",
    ]);
    let one = args(&["restore", "--timestamp", &at, "--table", "hr.people"]);
    (both, one, sales, hr)
}

fn parts_in(env: &Env, db: &str, table: &str) -> Option<Parts> {
    if !env.sim.table_exists(db, table) {
        return None;
    }
    let mut v: Parts = env
        .sim
        .partitions(db, table)
        .ok()?
        .into_iter()
        .filter(|p| !p.is_temp)
        .map(|p| (p.name, p.visible_version, p.row_count))
        .collect();
    v.sort();
    Some(v)
}

/// One regex per kind of statement hr's part sent in an undisturbed run (its text up to the first
/// literal or label, then anything naming hr), from its first write on.
fn hr_patterns() -> Vec<String> {
    let env = two_db_env();
    let (both, _, _, _) = setup(&env);
    let o = run(&env, &strs(&both));
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let log = env.sim.statements();
    let hr_conn = log
        .iter()
        .find(|s| s.sql.starts_with("RESTORE SNAPSHOT `hr`"))
        .map(|s| s.conn_id)
        .expect("hr's RESTORE");
    let mut out: Vec<String> = Vec::new();
    let mut writing = false;
    for s in log.iter().filter(|s| s.conn_id == hr_conn) {
        writing |= is_write(&s.sql);
        if !writing || !MARKERS.iter().any(|m| s.sql.contains(m)) {
            continue;
        }
        let cut = [s.sql.find(['\'', '$']), s.sql.find("bbr_")]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(s.sql.len());
        let p = format!(
            "^{}.*(bbr_restore_hr_|bbr_hr_|'hr'|`hr`)",
            regex_escape(&s.sql[..cut])
        );
        if !out.contains(&p) {
            out.push(p);
        }
    }
    assert!(out.len() >= 5, "{out:?}");
    out
}

fn strs(a: &[String]) -> Vec<&str> {
    a.iter().map(String::as_str).collect()
}

/// What must hold after the faulty run: sales restored and recorded once, then hr restored by
/// `rerun` (run again while it does not succeed), nothing left RUNNING.
fn settled(env: &Env, rerun: &[String], sales: &Parts, hr: &Parts) -> Vec<String> {
    let mut p = Vec::new();
    if orders(env).as_ref() != Some(sales) {
        p.push(format!("sales.orders {:?}, want {sales:?}", orders(env)));
    }
    env.sim.stall_jobs(false);
    let mut done = false;
    for _ in 0..3 {
        env.sim.advance(Duration::from_secs(60));
        let o = run(env, &strs(rerun));
        match code(&o) {
            0 => done = true,
            4 if parts_in(env, "hr", "people").as_ref() == Some(hr) => done = true,
            c => p.push(format!("hr restore rerun exit {c}: {}", text(&o.stderr))),
        }
        if done {
            break;
        }
    }
    if !done {
        p.push("no rerun restored hr.people".into());
    }
    if parts_in(env, "hr", "people").as_ref() != Some(hr) {
        p.push(format!(
            "hr.people {:?}, want {hr:?}",
            parts_in(env, "hr", "people")
        ));
    }
    let rows = env.query("SELECT label, database_name, status FROM ops.restore_history");
    for r in &rows {
        if s(&r[2]) == "RUNNING" {
            p.push(format!("restore {} left RUNNING", s(&r[0])));
        }
    }
    for db in ["sales", "hr"] {
        let n = rows
            .iter()
            .filter(|r| s(&r[1]) == db && s(&r[2]) == "FINISHED")
            .count();
        if n != 1 {
            p.push(format!("{n} FINISHED restore records of {db}: {rows:?}"));
        }
    }
    p.extend(verify(env, "backup_repo", &two_db_tables(), false));
    assert_no_secret(&env.sim, &[]);
    p
}

#[test]
fn parallel_restore_fault_in_one_database() {
    if skip_on_real_cluster("parallel_restore_fault_in_one_database") {
        return;
    }
    let mut tally = Tally::new(
        "parallel-restore",
        "two databases restored at once (parallel_databases); hr's connection dropped before and after each kind of statement of its part (then hr's one-table restore rerun), or the run killed while hr's job runs (then the same two-database command rerun: sales skipped, hr's run continued)",
    );
    for (i, pattern) in hr_patterns().iter().enumerate() {
        for when in [When::Before, When::After] {
            let id = format!("drop {when:?} hr statement {} {pattern}", i + 1);
            let env = two_db_env();
            let (both, one, sales, hr) = setup(&env);
            env.sim.drop_connection(pattern, when);
            let o = run(&env, &strs(&both));
            let mut p = Vec::new();
            if code(&o) != 0 {
                if let Err(e) = error_line(&o) {
                    p.push(e);
                }
            }
            p.extend(settled(&env, &one, &sales, &hr));
            tally.case(&id, p);
        }
    }
    // killed while hr's job runs (its polls never answered), once sales' restore is FINISHED
    let env = two_db_env();
    let (both, _, sales, hr) = setup(&env);
    // (SHOW RESTORE is read in preflight too: hang only the polls after hr's RESTORE)
    env.sim.on_statement(
        "^RESTORE SNAPSHOT `hr`",
        Box::new(|sim| sim.hang("^SHOW RESTORE FROM `hr`", When::Before)),
    );
    let mut child = spawn(&env, &strs(&both), "killed");
    let sales_done = || {
        env.query("SELECT COUNT(*) FROM ops.restore_history WHERE database_name = 'sales' AND status = 'FINISHED'")[0][0].as_deref() == Some("1")
    };
    let start = Instant::now();
    let mut early = None;
    while !(sales_done() && env.sim.hung() > 0) {
        if let Ok(Some(st)) = child.child.try_wait() {
            early = Some(format!("the run ended ({st}) before it was killed"));
            break;
        }
        if start.elapsed() > Duration::from_secs(60) {
            early = Some("sales never FINISHED while hr's poll hung".to_string());
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill(&env);
    let mut p: Vec<String> = early.into_iter().collect();
    // the same two-database command again: sales (done by the killed run) is skipped, hr's dead
    // run continued
    p.extend(settled(&env, &both, &sales, &hr));
    // the rerun continued hr's dead run: one RESTORE of hr in all
    let hr_jobs = env
        .sim
        .jobs()
        .into_iter()
        .filter(|j| j.kind == JobKind::Restore && j.db == "hr")
        .count();
    if hr_jobs != 1 {
        p.push(format!(
            "{hr_jobs} RESTORE jobs of hr, want 1 (the dead run continued)"
        ));
    }
    tally.case("kill while hr's RESTORE runs", p);
    tally.finish();
}
