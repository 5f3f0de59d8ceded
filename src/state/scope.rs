//! The tables in scope at run time: `tables:` patterns (`hr.*`) expanded against the OLAP tables
//! the cluster has now, less `exclude:` (the matcher is config::TablePattern).

use crate::cluster::Cluster;
use crate::config::{Config, TableRef};
use crate::error::BbrError;
use crate::planner::chain::{self, Chain, ChainError};
use crate::sql::literal_list;

/// The OLAP tables of the pattern databases: information_schema.tables shows them as
/// TABLE_TYPE 'BASE TABLE' with ENGINE 'StarRocks' (Table.getMysqlType / Table.getEngine in the FE;
/// views and materialized views are 'VIEW', external tables another engine).
pub fn olap_tables_sql(databases: &[String]) -> String {
    format!(
        "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.tables WHERE TABLE_SCHEMA IN {} AND TABLE_TYPE = 'BASE TABLE' AND ENGINE = 'StarRocks'",
        literal_list(databases)
    )
}

/// The config with its patterns expanded (unchanged when it has none). Exit 2 when nothing at all
/// is in scope.
pub fn expand_table_patterns(c: &mut Cluster, cfg: &Config) -> Result<Config, BbrError> {
    if cfg.patterns.is_empty() {
        return Ok(cfg.clone());
    }
    let rs = super::q(
        c,
        cfg,
        &olap_tables_sql(&cfg.pattern_databases()),
        "listing the tables of the db.* databases",
    )?;
    let found: Vec<TableRef> = (0..rs.rows.len())
        .filter_map(|i| {
            Some(TableRef {
                database: rs.get(i, "TABLE_SCHEMA")?,
                table: rs.get(i, "TABLE_NAME")?,
            })
        })
        .collect();
    let expanded = cfg.with_found_tables(&found);
    if expanded.tables.is_empty() {
        let pats: Vec<String> = cfg.patterns.iter().map(|p| p.to_string()).collect();
        return Err(BbrError::usage(
            format!(
                "no table is in scope: {} match(es) no table of the cluster (after exclude)",
                pats.join(", ")
            ),
            "create the tables or fix `tables`/`exclude` in the config",
        ));
    }
    tracing::debug!(
        "tables in scope: {}",
        expanded
            .tables
            .iter()
            .map(|t| t.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(expanded)
}

/// A table and the chain of its newest restore point (or why there is none).
pub type TableChain = (TableRef, Result<Chain, ChainError>);

/// The chain of the newest restore point (the cluster's NOW()) of every table in scope, for the
/// metrics (RESTORE jobs it needs).
/// A table that has no backup yet gets its ChainError.
pub fn newest_chains(c: &mut Cluster, cfg: &Config) -> Result<Vec<TableChain>, BbrError> {
    let now = super::cluster_now(c, cfg)?;
    let now = super::parse_time(&now).ok_or_else(|| {
        BbrError::job_failed(format!("cannot parse cluster time '{now}'"), "report this")
    })?;
    let mut out = Vec::new();
    for t in &cfg.tables {
        let d = super::restore::restore_state(c, cfg, t, Some(now))?;
        out.push((
            t.clone(),
            chain::resolve(&d.backups, &d.tables, &d.manifest, now),
        ));
    }
    Ok(out)
}
