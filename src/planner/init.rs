//! `init`: create the ops database and whichever ops tables are missing (all with IF NOT EXISTS, so a
//! second run, or a race with another init, is harmless), upgrade an ops schema of the previous
//! version in place, and record the schema version.

use serde::Serialize;

use crate::config::Config;
use crate::history::schema::{record_version_sql, upgrade_v1_sql, SCHEMA_VERSION};
use crate::history::{create_database_sql, create_table_sql, OPS_TABLES};
use crate::plan::{Command, Plan, Step, StepKind};

/// What init learned from the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InitState {
    pub database_exists: bool,
    /// Ops tables that already exist, sorted.
    pub existing_tables: Vec<String>,
    /// The recorded ops schema version (1: none recorded, the layout before versioning).
    pub schema_version: u32,
}

#[derive(Serialize)]
struct Inputs<'a> {
    ops_database: &'a str,
    replication_num: u32,
    database_exists: bool,
    existing_tables: &'a [String],
    schema_version: u32,
    target_schema_version: u32,
}

fn step(cfg: &Config, kind: StepKind, description: String, sql: String) -> Step {
    Step {
        kind,
        description,
        database: Some(cfg.ops_database.clone()),
        label: None,
        sql: Some(sql),
        retry: super::idempotent(cfg),
        details: None,
    }
}

pub fn plan_init(cfg: &Config, state: &InitState) -> Plan {
    let ops = &cfg.ops_database;
    let mut steps = Vec::new();
    if !state.database_exists {
        steps.push(step(
            cfg,
            StepKind::CreateDatabase,
            format!("create the ops database {ops}"),
            create_database_sql(ops),
        ));
    }
    for t in OPS_TABLES {
        if state.existing_tables.iter().any(|e| e == t) {
            continue;
        }
        if let Some(sql) = create_table_sql(ops, t, cfg.replication_num) {
            steps.push(step(
                cfg,
                StepKind::CreateTable,
                format!("create {ops}.{t}"),
                sql,
            ));
        }
    }
    if state.schema_version < SCHEMA_VERSION {
        // Also on a fresh database (nothing to select) and in recover's plan (catalog of unknown
        // version): the statement only describes manifests nothing describes yet.
        steps.push(step(
            cfg,
            StepKind::UpgradeSchema,
            format!(
                "upgrade the ops schema from version {} to {SCHEMA_VERSION}: mark every manifest written by version 1 complete in {ops}.backup_tables (no row changes)",
                state.schema_version
            ),
            upgrade_v1_sql(ops),
        ));
        steps.push(step(
            cfg,
            StepKind::RecordSchemaVersion,
            format!("record ops schema version {SCHEMA_VERSION}"),
            record_version_sql(ops),
        ));
    }
    let inputs = Inputs {
        ops_database: ops,
        replication_num: cfg.replication_num,
        database_exists: state.database_exists,
        existing_tables: &state.existing_tables,
        schema_version: state.schema_version,
        target_schema_version: SCHEMA_VERSION,
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
        use StepKind::*;
        let all: Vec<String> = OPS_TABLES.iter().map(|s| s.to_string()).collect();
        let v1: Vec<String> = ["backup_history", "backup_partitions", "restore_history"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        // (database exists, existing tables, recorded version, expected kinds)
        let cases: Vec<(bool, Vec<String>, u32, Vec<StepKind>)> = vec![
            (
                false,
                vec![],
                1,
                vec![
                    CreateDatabase,
                    CreateTable,
                    CreateTable,
                    CreateTable,
                    CreateTable,
                    CreateTable,
                    UpgradeSchema,
                    RecordSchemaVersion,
                ],
            ),
            (
                true,
                vec!["backup_history".to_string()],
                1,
                vec![
                    CreateTable,
                    CreateTable,
                    CreateTable,
                    CreateTable,
                    UpgradeSchema,
                    RecordSchemaVersion,
                ],
            ),
            (
                true,
                v1,
                1,
                vec![CreateTable, CreateTable, UpgradeSchema, RecordSchemaVersion],
            ),
            // a crash after the upgrade but before the version was recorded: sent again (it adds
            // only what nothing describes yet), then recorded
            (
                true,
                all.clone(),
                1,
                vec![UpgradeSchema, RecordSchemaVersion],
            ),
            (true, all, SCHEMA_VERSION, vec![]),
        ];
        for (db, existing, version, want) in cases {
            let p = plan_init(
                &cfg(),
                &InitState {
                    database_exists: db,
                    existing_tables: existing,
                    schema_version: version,
                },
            );
            let kinds: Vec<StepKind> = p.steps.iter().map(|s| s.kind).collect();
            assert_eq!(kinds, want);
            assert!(p.steps.iter().all(|s| s.retry.safe_to_retry));
        }
    }
}
