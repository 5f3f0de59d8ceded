//! The release knob: each release-dependent behaviour, over the wire. Facts and their FE source
//! lines are in docs/STARROCKS-NOTES.md.

mod common;

use common::*;
use mysql::prelude::Queryable;
use starrocks_sim::{SimOptions, TableSpec};

fn at(release: &str) -> starrocks_sim::Sim {
    start_with(SimOptions {
        release: release.into(),
        ..SimOptions::default()
    })
}

#[test]
fn handshake_current_version_errnos_and_partitions_meta_follow_the_release() {
    // STARROCKS.md §5 (handshake), §3 (errnos, ErrorCode.java), §6 (partitions_meta backports),
    // PartitionsMetaSystemTable.java; (release, handshake, new errnos, partitions_meta, prepare)
    let cases = [
        ("2.5.22", (5, 1, 0), false, false, false),
        ("3.0.9", (5, 1, 0), false, false, false),
        ("3.1.8", (5, 1, 0), false, false, false),
        ("3.1.9", (5, 1, 0), false, true, false),
        ("3.2.3", (5, 1, 0), false, false, true),
        ("3.2.4", (5, 1, 0), false, true, true),
        ("3.3.5", (5, 1, 0), true, true, true),
        ("3.4.0", (8, 0, 33), true, true, true),
        ("3.5.2", (8, 0, 33), true, true, true),
        ("4.1.0", (8, 0, 33), true, true, true),
    ];
    for (release, handshake, new_errnos, pm, prepare) in cases {
        let sim = at(release);
        let mut c = conn(&sim);
        assert_eq!(c.server_version(), handshake, "{release}");
        assert_eq!(
            one(&mut c, "SELECT current_version()"),
            Some(format!("{release}-sim")),
            "{release}"
        );
        let (code, _) = fail(&mut c, "USE nope");
        assert_eq!(code, if new_errnos { 5501 } else { 1049 }, "{release}");
        let r = c.query_drop("SELECT * FROM information_schema.partitions_meta");
        assert_eq!(r.is_ok(), pm, "{release}: {r:?}");
        if !pm {
            let (code, msg) = fail(&mut c, "SELECT * FROM information_schema.partitions_meta");
            assert_eq!(code, if new_errnos { 5502 } else { 1051 });
            assert!(msg.contains("Unknown table 'information_schema.partitions_meta'"));
        }
        assert_eq!(c.prep("SELECT 1").is_ok(), prepare, "{release}");
    }
}

#[test]
fn default_release_is_3_1_9_and_set_release_switches() {
    let sim = start();
    assert_eq!(sim.release().to_string(), "3.1.9");
    sim.set_release("4.1.0").unwrap();
    assert!(sim.set_release("four").is_err());
    let mut c = conn(&sim);
    assert_eq!(c.server_version(), (8, 0, 33));
    assert_eq!(
        one(&mut c, "SELECT current_version()"),
        Some("4.1.0-sim".into())
    );
}

#[test]
fn run_mode_in_frontend_config() {
    // ConfigBase.getConfigInfo (common/ConfigBase.java:502) and ShowResultMetaFactory.java:790
    let sim = start();
    let mut c = conn(&sim);
    let sql = "ADMIN SHOW FRONTEND CONFIG LIKE 'run_mode'";
    assert_eq!(
        columns(&mut c, sql),
        ["Key", "AliasNames", "Value", "Type", "IsMutable", "Comment"]
    );
    let r = rows(&mut c, sql);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0][0].as_deref(), Some("run_mode"));
    assert_eq!(r[0][2].as_deref(), Some("shared_nothing"));
    let sim = start_with(SimOptions {
        shared_data: true,
        ..SimOptions::default()
    });
    let mut c = conn(&sim);
    assert_eq!(rows(&mut c, sql)[0][2].as_deref(), Some("shared_data"));
    let _ = TableSpec::new(&[("a", "INT")]);
}
