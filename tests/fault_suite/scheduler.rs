//! The partition-scheduler half of the restore failures (StopPartitionScheduler): a run SIGKILLed
//! between a RESTORE job finishing and its switch-off. The same restore command rerun must still
//! switch the dropping property off before it records the restore FINISHED, so the next scheduler
//! pass (simulated here right after) keeps every restored partition.

use super::*;

const READ: &str = "^SELECT TABLE_NAME, PROPERTIES FROM information_schema.tables_config";

/// Where the run dies: the properties read after the first RESTORE job (of two), before it reaches
/// the FE or executed but unanswered; or the switch-off ALTER, executed but unanswered (the rerun
/// finds the property off and sends nothing). The property is off from then on, so later reads
/// change nothing. (what, statement, when)
pub(super) const CASES: [(&str, &str, When); 3] = [
    ("properties read, before", READ, When::Before),
    ("properties read, after", READ, When::After),
    (
        "switch-off ALTER, after",
        r#"SET \("dynamic_partition\.enable" = "false"\)$"#,
        When::After,
    ),
];

const SWITCH_OFF: &str = r#"SET ("dynamic_partition.enable" = "false")"#;

/// sales.orders with a dynamic window (start -3 days) backed up twice, dropped, and restored ten days
/// later: the first statement matching `hang_on` never answers; the run is killed there and rerun.
pub(super) fn crash_before_switch_off(hang_on: &str, when: When) -> Vec<String> {
    let env = new_env("");
    env.query(r#"ALTER TABLE sales.orders SET ("dynamic_partition.enable" = "true", "dynamic_partition.time_unit" = "DAY", "dynamic_partition.start" = "-3", "dynamic_partition.end" = "1", "dynamic_partition.prefix" = "p")"#);
    let (a, want) = restore_setup(&env);
    env.sim.advance(Duration::from_secs(10 * 86_400));
    env.sim.hang(hang_on, when);
    let av: Vec<&str> = a.iter().map(String::as_str).collect();
    let mut child = spawn(&env, &av, "killed");
    let mut p = Vec::new();
    let start = Instant::now();
    while env.sim.hung() == 0 {
        if let Ok(Some(st)) = child.child.try_wait() {
            p.push(format!("the run ended ({st}) before the hung statement"));
            break;
        }
        if start.elapsed() > Duration::from_secs(60) {
            p.push("the hung statement was never sent".into());
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill(&env);
    let killed_at = env.sent().len();
    p.extend(restore_settle(&env, &a, &want, false));
    let sent = env.sent();
    let rerun = &sent[killed_at.min(sent.len())..];
    // before anything else of the rerun: before its next RESTORE and before it records FINISHED
    let next_restore = rerun.iter().position(|s| s.starts_with("RESTORE"));
    let finished = rerun
        .iter()
        .position(|s| s.contains("restore_history") && s.contains("'FINISHED'"));
    let switched = rerun.iter().position(|s| s.ends_with(SWITCH_OFF));
    // killed on the ALTER itself: it was executed, the rerun finds the property off
    let done_by_dead_run = hang_on.contains("dynamic_partition");
    match (switched, next_restore, finished) {
        (Some(s), Some(r), Some(f)) if s < r && s < f => {}
        (None, _, Some(_)) if done_by_dead_run => {}
        _ => p.push(format!(
            "the rerun did not switch the scheduler off first (ALTER at {switched:?}, next RESTORE at {next_restore:?}, FINISHED at {finished:?})"
        )),
    }
    let props = env.query("SELECT PROPERTIES FROM information_schema.tables_config WHERE TABLE_SCHEMA = 'sales' AND TABLE_NAME = 'orders'");
    if !props
        .first()
        .and_then(|r| r[0].as_deref())
        .is_some_and(|j| j.contains(r#""dynamic_partition.enable":"false""#))
    {
        p.push(format!(
            "dynamic partitioning still on after the rerun: {props:?}"
        ));
    }
    env.sim.advance(Duration::from_secs(600));
    env.sim.run_partition_scheduler();
    if orders(&env).as_deref() != Some(&want[..]) {
        p.push(format!(
            "after the scheduler ran the table is {:?}, want {want:?}",
            orders(&env)
        ));
    }
    p
}
