//! Issue 11: restore preflight over the wire — refusals exit 2 before anything is written (no
//! restore_history row, no RESTORE sent), the dry run too; each snapshot is read from the
//! repository its history row names.

mod common;
use common::*;

fn snapshot_at(env: &Env, label: &str) -> String {
    let r = env.query(&format!(
        "SELECT snapshot_at FROM ops.backup_history WHERE label = '{label}'"
    ));
    r[0][0].clone().unwrap()[..19].to_string()
}

/// init, a full and an incremental of sales; returns the incremental's label.
fn chain(env: &Env) -> String {
    env.run_ok(&["init"], 0);
    env.backup_finished();
    env.sim.load("sales", "orders", "p20260102", 5).unwrap();
    env.backup_finished()
}

/// Runs the restore (real, then dry) expecting exit 2 with `want` in the one error line, and
/// checks nothing was written or sent.
fn refused(env: &Env, at: &str, want: &str) {
    for dry in [false, true] {
        env.sim.clear_statements();
        let mut a = vec!["restore", "--table", "sales.orders", "--timestamp", at];
        if dry {
            a.push("--dry-run");
        }
        let o = env.run(&a);
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        let line = err.lines().last().unwrap_or_default();
        assert_eq!(o.status.code(), Some(2), "dry={dry}: {err}");
        assert!(line.contains(want), "dry={dry}: {line}");
        let written: Vec<String> = env
            .sent()
            .into_iter()
            .filter(|s| {
                let u = s.trim_start().to_ascii_uppercase();
                !(u.starts_with("SELECT")
                    || u.starts_with("SHOW")
                    || u.starts_with("ADMIN SHOW")
                    || u.starts_with("SET"))
            })
            .collect();
        assert!(written.is_empty(), "dry={dry}: {written:?}");
        assert!(env
            .query("SELECT label FROM ops.restore_history")
            .is_empty());
    }
}

#[test]
fn a_missing_repository_is_refused_before_anything_is_written() {
    if skip_on_real_cluster("preflight_repository") {
        return;
    }
    let env = Env::demo();
    let incr = chain(&env);
    env.sim.drop_table("sales", "orders").unwrap();
    env.query(&format!(
        "UPDATE ops.backup_history SET repository = 'gone_repo' WHERE label = '{incr}'"
    ));
    refused(
        &env,
        &snapshot_at(&env, &incr),
        "repository gone_repo does not exist",
    );
}

#[test]
fn a_snapshot_missing_from_its_repository_is_refused_with_one_show_snapshot() {
    if skip_on_real_cluster("preflight_snapshot") {
        return;
    }
    let env = Env::demo();
    let incr = chain(&env);
    env.sim.drop_table("sales", "orders").unwrap();
    env.query(&format!(
        "UPDATE ops.backup_history SET backup_timestamp = '2020-01-01-00-00-00-000' WHERE label = '{incr}'"
    ));
    refused(
        &env,
        &snapshot_at(&env, &incr),
        &format!("snapshot {incr} (2 of 2 of this restore) is not in repository"),
    );
    let shows: Vec<String> = env
        .sent()
        .into_iter()
        .filter(|s| s.starts_with("SHOW SNAPSHOT"))
        .collect();
    assert_eq!(shows.len(), 1, "{shows:?}");
    assert!(shows[0].contains("WHERE SNAPSHOT IN ("), "{}", shows[0]);
}

#[test]
fn a_missing_database_is_refused_before_3_4_and_created_from_3_4() {
    if skip_on_real_cluster("preflight_database") {
        return;
    }
    let env = Env::demo();
    let incr = chain(&env);
    let at = snapshot_at(&env, &incr);
    env.query("DROP DATABASE sales");
    refused(&env, &at, "database sales does not exist");
    // 3.4+ (release 3.4.0, handshake 8.0.33): RESTORE creates the database
    env.sim.set_release("3.4.0").unwrap();
    env.run_ok(
        &["restore", "--table", "sales.orders", "--timestamp", &at],
        0,
    );
    assert!(env.sim.table_exists("sales", "orders"));
}

#[test]
fn each_snapshot_is_restored_from_the_repository_its_row_names() {
    if skip_on_real_cluster("per_snapshot_repository") {
        return;
    }
    let env = Env::demo();
    env.sim.create_repository("old_repo", false).unwrap();
    let incr = chain(&env);
    env.sim.drop_table("sales", "orders").unwrap();
    // the full backup's row says it was written to old_repo: the preflight looks there (and
    // does not find it, since the simulator wrote it to the configured repository)
    let full = env.history()[0].0.clone();
    env.query(&format!(
        "UPDATE ops.backup_history SET repository = 'old_repo' WHERE label = '{full}'"
    ));
    refused(
        &env,
        &snapshot_at(&env, &incr),
        &format!("snapshot {full} (1 of 2 of this restore) is not in repository old_repo"),
    );
}

#[test]
fn too_few_alive_backends_for_the_replicas_is_refused() {
    if skip_on_real_cluster("preflight_backends") {
        return;
    }
    use starrocks_sim::TableSpec;
    let env = Env::with(
        starrocks_sim::SimOptions {
            backends: 3,
            ..sim_options()
        },
        "",
    );
    // customers backed up with 3 replicas, then the cluster has only one backend
    env.sim.drop_table("sales", "customers").unwrap();
    env.sim
        .create_table(
            "sales",
            "customers",
            &TableSpec::new(&[("id", "BIGINT"), ("name", "VARCHAR(64)")]).replication(3),
        )
        .unwrap();
    env.run_ok(&["init"], 0);
    let full = env.backup_finished();
    env.sim.drop_table("sales", "customers").unwrap();
    env.sim.set_backends(1);
    let at = snapshot_at(&env, &full);
    for dry in [false, true] {
        let mut a = vec!["restore", "--table", "sales.customers", "--timestamp", &at];
        if dry {
            a.push("--dry-run");
        }
        let o = env.run(&a);
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(
            err.contains("replication_num 3") && err.contains("only 1 backend(s) are alive"),
            "{err}"
        );
        assert!(
            err.lines()
                .last()
                .unwrap_or_default()
                .contains("set restore_replication_num to at most 1"),
            "the one error line says what to do: {err}"
        );
    }
    assert!(env
        .query("SELECT label FROM ops.restore_history")
        .is_empty());
    assert!(!env.sent().iter().any(|s| s.starts_with("RESTORE")));

    // SPEC `restore_replication_num`: the same restore onto the smaller cluster, with fewer replicas.
    env.append_config("restore_replication_num: 1\n");
    env.run_ok(
        &["restore", "--table", "sales.customers", "--timestamp", &at],
        0,
    );
    let restores: Vec<String> = env
        .sent()
        .into_iter()
        .filter(|s| s.starts_with("RESTORE"))
        .collect();
    assert_eq!(restores.len(), 1, "{restores:?}");
    assert!(
        restores[0].contains("\"replication_num\" = \"1\""),
        "{}",
        restores[0]
    );
    assert!(env.sim.table_exists("sales", "customers"));
}

#[test]
fn restore_replication_num_zero_is_refused_naming_the_key() {
    let env = Env::demo();
    env.append_config("restore_replication_num: 0\n");
    let o = env.run(&["list"]);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("restore_replication_num"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}
