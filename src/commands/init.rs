//! `init`: create the ops database and tables if absent.

use std::io::Write;

use anyhow::Result;

use crate::cluster::Cluster;
use crate::config::Config;
use crate::planner::init::plan_init;
use crate::runner::Runner;
use crate::state;

pub(super) fn init(cfg: &Config, dry_run: bool, out: &mut dyn Write) -> Result<()> {
    let mut c = Cluster::connect(cfg)?;
    // a shared-data cluster has no BACKUP/RESTORE: refused before anything is created (exit 2)
    crate::release::detect(&mut c, cfg)?;
    let st = state::init_state(&mut c, cfg)?;
    let plan = plan_init(cfg, &st);
    if dry_run {
        plan.write_json(out)?;
        return Ok(());
    }
    let outcome = Runner::new(&mut c, cfg).run(&plan);
    if let Some(e) = outcome.error {
        return Err(crate::preflight::replication_refusal(cfg, &e)
            .unwrap_or(e)
            .into());
    }
    if plan.steps.is_empty() {
        writeln!(
            out,
            "{}: ops tables already exist, nothing to do",
            cfg.ops_database
        )?;
    } else {
        writeln!(
            out,
            "{}: {} step(s) run; ops tables ready (schema version {})",
            cfg.ops_database,
            plan.steps.len(),
            crate::history::schema::SCHEMA_VERSION
        )?;
    }
    Ok(())
}
