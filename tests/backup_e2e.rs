//! Issue 3 "Done when", end to end over the wire against the simulator.

mod common;
use common::*;

#[test]
fn init_twice_is_harmless_and_first_backup_is_full() {
    let env = Env::demo();
    let out = env.run_ok(&["init"], 0);
    assert!(out.contains("ops tables ready"), "{out}");
    let out = env.run_ok(&["init"], 0);
    assert!(out.contains("nothing to do"), "{out}");
    let out = env.run_ok(&["backup"], 0);
    assert!(out.contains("FINISHED"), "{out}");
    let h = env.history();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].1, "full");
    assert_eq!(h[0].2, "FINISHED");
    let jobs = env.sim.jobs();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].state, "FINISHED");
    let snap = env.in_snapshot(&h[0].0);
    assert_eq!(snap.len(), 5, "{snap:?}");
}
