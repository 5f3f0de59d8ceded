//! A restore never leaves a table the partition scheduler will prune.
//!
//! When a RESTORE finishes, StarRocks registers every restored table with its partition scheduler
//! (RestoreJob.java:1929-1939), which drops partitions outside a dynamic-partition window
//! (`dynamic_partition.start`) or past a partition TTL (`partition_live_number`, `partition_ttl`)
//! within one `dynamic_partition_check_interval_seconds` (600 s) — a point-in-time restore of an
//! older point would silently lose the partitions it was run for. So after every RESTORE job the
//! plan has a StopPartitionScheduler step per database: the runner reads the restored tables'
//! PROPERTIES from information_schema.tables_config (one SELECT: the properties are only known
//! once the RESTORE created the table) and sends the planned `ALTER TABLE ... SET` that switches
//! each dropping property off, only for a property that is live. docs/STARROCKS-NOTES.md has the
//! FE facts.

use crate::config::Config;
pub use crate::plan::details::{Dropper, GuardedTable, SchedulerGuard, SwitchOff};
use crate::plan::{Details, Step, StepKind};
use crate::sql::{literal, literal_list, property, qualified};

/// `dynamic_partition.start` when not set (DynamicPartitionProperty.MIN_START_OFFSET): no drops.
const START_NOT_SET: i64 = i32::MIN as i64;

impl Dropper {
    const ALL: [Dropper; 3] = [Dropper::DynamicPartition, Dropper::LiveNumber, Dropper::Ttl];

    /// The property an ALTER sets, and the value that switches it off.
    fn off(self) -> (&'static str, &'static str) {
        match self {
            Dropper::DynamicPartition => ("dynamic_partition.enable", "false"),
            Dropper::LiveNumber => ("partition_live_number", "-1"),
            Dropper::Ttl => ("partition_ttl", "0 day"),
        }
    }
}

/// `ALTER TABLE db.t SET ("k" = "v")`: one property kind per statement (AlterJobExecutor handles
/// one kind per ALTER).
pub fn set_property_sql(db: &str, table: &str, key: &str, value: &str) -> String {
    format!(
        "ALTER TABLE {} SET ({})",
        qualified(db, table),
        property(key, value)
    )
}

/// The read: every guarded table's PROPERTIES (JSON), one statement.
pub fn properties_sql(db: &str, tables: &[&str]) -> String {
    format!(
        "SELECT TABLE_NAME, PROPERTIES FROM information_schema.tables_config WHERE TABLE_SCHEMA = {} AND TABLE_NAME IN {}",
        literal(db),
        literal_list(tables)
    )
}

/// The step after a RESTORE job of `db`: `tables` are (name now, final name).
pub fn stop_scheduler_step(
    cfg: &Config,
    db: &str,
    label: &str,
    tables: &[(String, String)],
) -> Step {
    let guard = SchedulerGuard {
        database: db.to_string(),
        tables: tables
            .iter()
            .map(|(t, f)| GuardedTable {
                table: t.clone(),
                final_name: f.clone(),
                switch_off: Dropper::ALL
                    .iter()
                    .map(|d| {
                        let (k, v) = d.off();
                        SwitchOff {
                            property: *d,
                            sql: set_property_sql(db, t, k, v),
                        }
                    })
                    .collect(),
            })
            .collect(),
    };
    let names: Vec<&str> = tables.iter().map(|(t, _)| t.as_str()).collect();
    super::super::job_step(
        db,
        label,
        StepKind::StopPartitionScheduler,
        format!(
            "read the PROPERTIES of {db}.({}); for each property that would make StarRocks's partition scheduler drop restored partitions (dynamic partitioning with a start, partition_live_number, partition_ttl) send its ALTER from details; nothing else is sent",
            names.join(", ")
        ),
        properties_sql(db, &names),
        super::super::idempotent(cfg),
        Some(Details::SchedulerGuard(guard)),
    )
}

/// A dropping property found live on a restored table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveDropper {
    pub property: Dropper,
    /// What the scheduler would have dropped, in operator words.
    pub why: String,
    /// The ALTER that switches it back on (with the table's final name).
    pub switch_on: String,
}

/// Which dropping properties a table's tables_config PROPERTIES (JSON object) has live. Text that
/// is not a JSON object has none (an older release without a key simply lacks it).
pub fn live_droppers(db: &str, final_name: &str, properties: &str) -> Vec<LiveDropper> {
    let Ok(serde_json::Value::Object(p)) = serde_json::from_str::<serde_json::Value>(properties)
    else {
        return Vec::new();
    };
    let get = |k: &str| p.get(k).and_then(|v| v.as_str()).map(str::trim);
    let on = |k: &str, v: &str| set_property_sql(db, final_name, k, v);
    let mut out = Vec::new();
    let start = get("dynamic_partition.start")
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or(START_NOT_SET);
    if get("dynamic_partition.enable").is_some_and(|e| e.eq_ignore_ascii_case("true"))
        && start != START_NOT_SET
    {
        let unit = get("dynamic_partition.time_unit").unwrap_or("DAY");
        let u = unit.to_ascii_lowercase();
        out.push(LiveDropper {
            property: Dropper::DynamicPartition,
            why: format!(
                "dynamic_partition.start = {start} ({unit}): the scheduler drops every partition that ends before the start of the {u} {} {u}(s) ago",
                -start
            ),
            switch_on: on("dynamic_partition.enable", "true"),
        });
    }
    if let Some(n) = get("partition_live_number").filter(|n| n.parse::<i64>().is_ok_and(|n| n > 0))
    {
        out.push(LiveDropper {
            property: Dropper::LiveNumber,
            why: format!(
                "partition_live_number = {n}: the scheduler keeps only the newest {n} partition(s) and drops the older ones"
            ),
            switch_on: on("partition_live_number", n),
        });
    }
    if let Some(t) = get("partition_ttl").filter(|t| !is_zero_period(t)) {
        out.push(LiveDropper {
            property: Dropper::Ttl,
            why: format!(
                "partition_ttl = {t}: the scheduler drops every partition that ended more than {t} ago"
            ),
            switch_on: on("partition_ttl", t),
        });
    }
    out
}

/// `0 day`, `0 days 0 hour`, empty: a zero period (PeriodDuration.isZero).
fn is_zero_period(t: &str) -> bool {
    t.split_whitespace()
        .filter_map(|w| w.parse::<i64>().ok())
        .all(|n| n == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_properties_prune_a_restored_table() {
        // (PROPERTIES, live droppers)
        let cases: &[(&str, &[Dropper])] = &[
            (r#"{"replication_num":"1"}"#, &[]),
            ("not json", &[]),
            (
                r#"{"dynamic_partition.enable":"true","dynamic_partition.start":"-3","dynamic_partition.time_unit":"DAY"}"#,
                &[Dropper::DynamicPartition],
            ),
            // no start: the window only adds partitions
            (
                r#"{"dynamic_partition.enable":"true","dynamic_partition.start":"-2147483648"}"#,
                &[],
            ),
            (
                r#"{"dynamic_partition.enable":"false","dynamic_partition.start":"-3"}"#,
                &[],
            ),
            (r#"{"partition_live_number":"2"}"#, &[Dropper::LiveNumber]),
            (r#"{"partition_live_number":"-1"}"#, &[]),
            (r#"{"partition_ttl":"3 day"}"#, &[Dropper::Ttl]),
            (r#"{"partition_ttl":"0 day"}"#, &[]),
            (
                r#"{"dynamic_partition.enable":"true","dynamic_partition.start":"-1","partition_live_number":"5","partition_ttl":"1 month"}"#,
                &[Dropper::DynamicPartition, Dropper::LiveNumber, Dropper::Ttl],
            ),
        ];
        for (props, want) in cases {
            let got: Vec<Dropper> = live_droppers("db", "t", props)
                .into_iter()
                .map(|d| d.property)
                .collect();
            assert_eq!(&got, want, "{props}");
        }
    }

    #[test]
    fn switching_back_on_restores_the_value_found() {
        let d = live_droppers("s", "ev", r#"{"partition_live_number":"7"}"#);
        assert_eq!(
            d[0].switch_on,
            r#"ALTER TABLE `s`.`ev` SET ("partition_live_number" = "7")"#
        );
        assert!(d[0].why.contains("newest 7"), "{}", d[0].why);
    }

    #[test]
    fn the_step_plans_every_switch_off_for_the_name_the_table_has_now() {
        let cfg = crate::config::Config::parse(
            std::path::Path::new("t.yaml"),
            "connection: {host: h, user: u}\nrepository: repo\ntables: [s.ev]\n",
        )
        .unwrap();
        let s = stop_scheduler_step(&cfg, "s", "L", &[("ev__restore".into(), "ev".into())]);
        assert_eq!(s.kind, StepKind::StopPartitionScheduler);
        assert_eq!(
            s.sql.as_deref(),
            Some("SELECT TABLE_NAME, PROPERTIES FROM information_schema.tables_config WHERE TABLE_SCHEMA = 's' AND TABLE_NAME IN ('ev__restore')")
        );
        let Some(Details::SchedulerGuard(g)) = &s.details else {
            panic!("no scheduler details: {:?}", s.details)
        };
        let sqls: Vec<&str> = g.tables[0]
            .switch_off
            .iter()
            .map(|s| s.sql.as_str())
            .collect();
        assert_eq!(
            sqls,
            [
                r#"ALTER TABLE `s`.`ev__restore` SET ("dynamic_partition.enable" = "false")"#,
                r#"ALTER TABLE `s`.`ev__restore` SET ("partition_live_number" = "-1")"#,
                r#"ALTER TABLE `s`.`ev__restore` SET ("partition_ttl" = "0 day")"#,
            ]
        );
        assert_eq!(g.tables[0].final_name, "ev");
    }
}
