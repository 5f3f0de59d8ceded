//! StopPartitionScheduler: after a RESTORE job, switch off every property that would make
//! StarRocks's partition scheduler drop restored partitions (see planner::restore::scheduler).

use tracing::warn;

use super::{details, Runner};
use crate::error::BbrError;
use crate::plan::Step;
use crate::planner::restore::scheduler::{live_droppers, SchedulerGuard};

impl Runner<'_> {
    /// One SELECT of the restored tables' PROPERTIES; the planned ALTER of each live dropping
    /// property; one line per switched-off property with the ALTER that switches it back on.
    pub(super) fn stop_partition_scheduler(&mut self, step: &Step) -> Result<(), BbrError> {
        // a plan without details has nothing to guard
        if step.details.is_none() {
            return Ok(());
        }
        let guard: &SchedulerGuard = details(step)?;
        let sql = step.sql.clone().unwrap_or_default();
        let rs = self.read(step, &sql, "reading the restored tables' properties")?;
        let (Some(ti), Some(pi)) = (rs.col("TABLE_NAME"), rs.col("PROPERTIES")) else {
            return Ok(());
        };
        let db = guard.database.as_str();
        for row in &rs.rows {
            let name = row.get(ti).cloned().flatten().unwrap_or_default();
            let props = row.get(pi).cloned().flatten().unwrap_or_default();
            let Some(t) = guard.tables.iter().find(|t| t.table == name) else {
                continue;
            };
            for live in live_droppers(db, &t.final_name, &props) {
                let Some(off) = t.switch_off.iter().find(|s| s.property == live.property) else {
                    continue;
                };
                self.query(step, &off.sql, "switching the partition scheduler off")
                    .map_err(|mut e| {
                        e.what = format!(
                            "the restore of {db}.{} completed but switching its partition scheduler off failed ({}): {}",
                            t.final_name, live.why, e.what
                        );
                        e.todo = format!(
                            "run {} at once, or StarRocks drops restored partitions within 10 minutes",
                            off.sql
                        );
                        e
                    })?;
                warn!(
                    "{db}.{}: switched the partition scheduler off ({}), so restored partitions stay; once the data is safe switch it back on with: {}",
                    t.final_name, live.why, live.switch_on
                );
            }
        }
        Ok(())
    }
}
