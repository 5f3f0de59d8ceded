//! `ALTER TABLE t RENAME n` and `ALTER TABLE t SWAP WITH u`, as the FE runs them (docs/STARROCKS-NOTES.md
//! "Rename, swap and RESTORE AS alias"): the ALTER's own table must be NORMAL
//! (AlterJobExecutor.visitAlterTableStatement), the SWAP partner's state is not checked, and a rename
//! renames an unpartitioned table's one partition too (OlapTable.setName).

use crate::cluster::{Cluster, TableState};
use crate::sql::{err, table_ident};
use crate::SimError;

/// Errno of an AlterJobException / DdlException (reported as an analysis error; unverified on a
/// real cluster).
const ER_ALTER: u16 = 1064;

/// InvalidOlapTableStateException.of(RESTORE, t) (common/InvalidOlapTableStateException.java).
fn restoring(t: &str) -> SimError {
    err(
        ER_ALTER,
        format!("A snapshot restore operation is in progress on the table {t}. Please wait until the current operation completes. To check the status of the operation, see https://docs.starrocks.io/docs/sql-reference/sql-statements/backup_restore/SHOW_RESTORE"),
    )
}

impl Cluster {
    /// The ALTER's target must be NORMAL before any clause runs.
    pub(crate) fn check_alterable(&self, db: &str, t: &str) -> Result<(), SimError> {
        match self.dbs.get(db).and_then(|d| d.tables.get(t)) {
            Some(tb) if tb.state != TableState::Normal => Err(restoring(t)),
            _ => Ok(()),
        }
    }

    /// Moves the model table and its SQLite rows to `new` (no checks).
    fn move_table(&mut self, db: &str, old: &str, new: &str) -> Result<(), SimError> {
        let d = self
            .dbs
            .get_mut(db)
            .ok_or_else(|| err(1049, format!("Unknown database '{db}'")))?;
        let Some(mut tb) = d.tables.remove(old) else {
            return Err(err(ER_ALTER, format!("Unknown table '{old}'")));
        };
        tb.name = new.to_string();
        if !tb.is_partitioned() {
            for p in tb.partitions.iter_mut().filter(|p| p.name == old) {
                p.name = new.to_string();
            }
        }
        d.tables.insert(new.to_string(), tb);
        self.db
            .execute(
                &format!(
                    "ALTER TABLE {} RENAME TO {}",
                    table_ident(db, old),
                    table_ident(db, new)
                ),
                [],
            )
            .map_err(|e| err(ER_ALTER, e.to_string()))?;
        self.mark_dirty(db, old);
        self.mark_dirty(db, new);
        Ok(())
    }

    /// `ALTER TABLE t RENAME new` (LocalMetastore.renameTable).
    pub(crate) fn rename_table(&mut self, db: &str, t: &str, new: &str) -> Result<(), SimError> {
        if t == new {
            return Err(err(ER_ALTER, "Same table name"));
        }
        if self.table_exists(db, new) {
            return Err(err(ER_ALTER, format!("Table name[{new}] is already used")));
        }
        self.move_table(db, t, new)
    }

    /// `ALTER TABLE t SWAP WITH u` (AlterJobExecutor.visitSwapTableClause, AlterJobMgr.swapTableInternal):
    /// one atomic exchange of the two names.
    pub(crate) fn swap_tables(&mut self, db: &str, t: &str, u: &str) -> Result<(), SimError> {
        if !self.table_exists(db, u) {
            return Err(err(
                ER_ALTER,
                format!("Table {u} does not exist or is not OLAP/LAKE table"),
            ));
        }
        let tmp = format!("__sim_swap_{t}");
        self.move_table(db, t, &tmp)?;
        self.move_table(db, u, t)?;
        self.move_table(db, &tmp, u)
    }
}
