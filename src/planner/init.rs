//! `init`: create the ops database and whichever ops tables are missing (all with IF NOT EXISTS, so a
//! second run, or a race with another init, is harmless).

use serde::Serialize;

use crate::config::Config;
use crate::history::{create_database_sql, create_table_sql, OPS_TABLES};
use crate::plan::{Command, Plan, Step, StepKind};

/// What init learned from the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InitState {
    pub database_exists: bool,
    /// Ops tables that already exist, sorted.
    pub existing_tables: Vec<String>,
}

#[derive(Serialize)]
struct Inputs<'a> {
    ops_database: &'a str,
    replication_num: u32,
    database_exists: bool,
    existing_tables: &'a [String],
}

pub fn plan_init(cfg: &Config, state: &InitState) -> Plan {
    let ops = &cfg.ops_database;
    let mut steps = Vec::new();
    if !state.database_exists {
        steps.push(Step {
            kind: StepKind::CreateDatabase,
            description: format!("create the ops database {ops}"),
            database: Some(ops.clone()),
            label: None,
            sql: Some(create_database_sql(ops)),
            retry: super::idempotent(cfg),
            details: None,
        });
    }
    for t in OPS_TABLES {
        if state.existing_tables.iter().any(|e| e == t) {
            continue;
        }
        if let Some(sql) = create_table_sql(ops, t, cfg.replication_num) {
            steps.push(Step {
                kind: StepKind::CreateTable,
                description: format!("create {ops}.{t}"),
                database: Some(ops.clone()),
                label: None,
                sql: Some(sql),
                retry: super::idempotent(cfg),
                details: None,
            });
        }
    }
    let inputs = Inputs {
        ops_database: ops,
        replication_num: cfg.replication_num,
        database_exists: state.database_exists,
        existing_tables: &state.existing_tables,
    };
    Plan::new(
        Command::Init,
        serde_json::to_value(inputs).unwrap_or_default(),
        steps,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn cfg() -> Config {
        Config::parse(
            Path::new("t.yaml"),
            "connection: {host: h, user: u}\nrepository: r\ntables: [a.b]\nreplication_num: 1\n",
        )
        .unwrap()
    }

    #[test]
    fn table_driven() {
        let cases = [
            (false, vec![], 4),
            (true, vec![], 3),
            (true, vec!["backup_history".to_string()], 2),
            (true, OPS_TABLES.iter().map(|s| s.to_string()).collect(), 0),
        ];
        for (db, existing, n) in cases {
            let p = plan_init(
                &cfg(),
                &InitState {
                    database_exists: db,
                    existing_tables: existing,
                },
            );
            assert_eq!(p.steps.len(), n);
            assert!(p.steps.iter().all(|s| s.retry.safe_to_retry));
        }
    }
}
