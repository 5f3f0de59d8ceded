//! The in-process control API's model changes (Sim::load, truncate_partition, ...).

use std::collections::BTreeMap;

use crate::ddl::{Column, PartitionSpec};
use crate::jobs::Repo;
use crate::sql::{err, sqlite_ident, sqlite_str, table_ident, ER_PARSE};
use crate::SimError;

use crate::cluster::*;
use crate::model::*;

impl Cluster {
    pub(crate) fn create_repository(
        &mut self,
        name: &str,
        read_only: bool,
        location: &str,
    ) -> Result<(), SimError> {
        if self.repos.contains_key(name) {
            return Err(err(5064, format!("Repository {name} already exist")));
        }
        let id = self.next_id();
        self.repos.insert(
            name.to_string(),
            Repo {
                id,
                name: name.to_string(),
                read_only,
                location: location.to_string(),
                create_time: self.now,
                store: self.store.clone(),
                stray_info_files: Vec::new(),
            },
        );
        Ok(())
    }

    pub(crate) fn load(
        &mut self,
        db: &str,
        t: &str,
        partition: &str,
        rows: u64,
    ) -> Result<(), SimError> {
        let table = self.table(db, t)?;
        if table.state != TableState::Normal {
            return Err(err(
                ER_BAD_TABLE_STATE,
                "Table state is not NORMAL: 'RESTORING'".to_string(),
            ));
        }
        let k = table
            .partitions
            .iter()
            .position(|p| p.name == partition)
            .ok_or_else(|| {
                err(
                    ER_PARSE,
                    format!("Unknown partition '{partition}' in table '{t}'"),
                )
            })?;
        let mut m = BTreeMap::new();
        m.insert(k, rows as i64);
        self.publish(db, t, &m)
    }

    pub(crate) fn truncate_partition(
        &mut self,
        db: &str,
        t: &str,
        partition: &str,
    ) -> Result<(), SimError> {
        let id = self.next_id();
        let now = self.now;
        let table = self.table_mut(db, t)?;
        let is_part = table.is_partitioned();
        let col = table.partition_column.clone();
        let p = table.partition_mut(partition).ok_or_else(|| {
            err(
                ER_PARSE,
                format!("Unknown partition '{partition}' in table '{t}'"),
            )
        })?;
        p.id = id;
        p.version = 1;
        p.version_time = now;
        p.row_count = 0;
        let (lower, upper) = (p.lower.clone(), p.upper.clone());
        let values = p.values.clone();
        let ident = table_ident(db, t);
        let mut sql = format!("DELETE FROM {ident}");
        if is_part && !values.is_empty() {
            let col = sqlite_ident(&col.clone().unwrap_or_default());
            let vals: Vec<String> = values.iter().map(|v| sqlite_str(v)).collect();
            sql.push_str(&format!(" WHERE {col} IN ({})", vals.join(", ")));
        } else if is_part {
            let col = sqlite_ident(&col.unwrap_or_default());
            let mut conds = Vec::new();
            if let Some(l) = lower {
                conds.push(format!("{col} >= {}", sqlite_str(&l)));
            }
            if let Some(u) = upper {
                conds.push(format!("{col} < {}", sqlite_str(&u)));
            }
            if !conds.is_empty() {
                sql.push_str(&format!(" WHERE {}", conds.join(" AND ")));
            }
        }
        self.db.execute(&sql, []).map_err(sqlite_err)?;
        Ok(())
    }

    pub(crate) fn drop_partition(
        &mut self,
        db: &str,
        t: &str,
        partition: &str,
    ) -> Result<(), SimError> {
        let table = self.table_mut(db, t)?;
        let before = table.partitions.len();
        table.partitions.retain(|p| p.name != partition);
        if table.partitions.len() == before {
            return Err(err(
                ER_PARSE,
                format!("Error in list of partitions to {partition}"),
            ));
        }
        Ok(())
    }

    pub(crate) fn add_partition(
        &mut self,
        db: &str,
        t: &str,
        part: &PartitionSpec,
        temp: bool,
    ) -> Result<(), SimError> {
        if !self.table(db, t)?.is_partitioned() {
            return Err(err(ER_PARSE, format!("Table[{t}] is not partitioned")));
        }
        self.push_partition(db, t, part, temp)
    }

    /// Adds a partition without the "partitioned table" check: INSERT OVERWRITE creates its
    /// temporary partition on unpartitioned tables too (InsertOverwriteJobRunner.java:398-417,
    /// PartitionUtils.createAndAddTempPartitionsForTable from the source partition ids).
    pub(crate) fn push_partition(
        &mut self,
        db: &str,
        t: &str,
        part: &PartitionSpec,
        temp: bool,
    ) -> Result<(), SimError> {
        let id = self.next_id();
        let now = self.now;
        let table = self.table_mut(db, t)?;
        if table.partitions.iter().any(|p| p.name == part.name) {
            return Err(err(1517, format!("Duplicate partition name {}", part.name)));
        }
        let lower = part.lower.clone().or_else(|| {
            // LESS THAN: the greatest existing upper bound below the new upper bound
            table
                .partitions
                .iter()
                .filter(|p| !p.is_temp)
                .filter_map(|p| p.upper.clone())
                .filter(|u| part.upper.as_deref().is_none_or(|nu| cmp_bound(u, nu) < 0))
                .max_by(|a, b| cmp_bound(a, b).cmp(&0))
        });
        let rn = table.replication_num;
        let buckets = table.buckets;
        table.partitions.push(Partition {
            id,
            name: part.name.clone(),
            lower,
            upper: part.upper.clone(),
            version: 1,
            version_time: now,
            row_count: 0,
            replication_num: rn,
            is_temp: temp,
            values: part.values.clone(),
            physical: Vec::new(),
            buckets,
        });
        Ok(())
    }

    pub(crate) fn add_column(
        &mut self,
        db: &str,
        t: &str,
        column: &str,
        ty: &str,
    ) -> Result<(), SimError> {
        let col = Column {
            name: column.to_string(),
            ty: ty.to_ascii_uppercase(),
            nullable: true,
            default: None,
            agg: String::new(),
            comment: String::new(),
        };
        let sqlite_ty = col.sqlite_type();
        let table = self.table_mut(db, t)?;
        if table.columns.iter().any(|c| c.name == column) {
            return Err(err(1060, format!("Duplicate column name '{column}'")));
        }
        table.columns.push(col);
        self.db
            .execute(
                &format!(
                    "ALTER TABLE {} ADD COLUMN {} {sqlite_ty}",
                    table_ident(db, t),
                    sqlite_ident(column)
                ),
                [],
            )
            .map_err(sqlite_err)?;
        Ok(())
    }

    pub(crate) fn drop_table(&mut self, db: &str, t: &str) -> Result<(), SimError> {
        if let Some(d) = self.dbs.get_mut(db) {
            if d.tables.remove(t).is_some() {
                self.db
                    .execute(&format!("DROP TABLE IF EXISTS {}", table_ident(db, t)), [])
                    .map_err(sqlite_err)?;
                self.mark_dirty(db, t);
            }
        }
        Ok(())
    }

    pub(crate) fn partitions(&self, db: &str, t: &str) -> Result<Vec<PartitionInfo>, SimError> {
        let table = self.table(db, t)?;
        Ok(table
            .partitions
            .iter()
            .map(|p| PartitionInfo {
                id: p.id,
                name: p.name.clone(),
                visible_version: p.version,
                visible_version_time: p.version_time,
                row_count: p.row_count,
                replication_num: p.replication_num,
                is_temp: p.is_temp,
                range: table.range_text(p),
            })
            .collect())
    }

    pub(crate) fn table_exists(&self, db: &str, t: &str) -> bool {
        self.dbs.get(db).is_some_and(|d| d.tables.contains_key(t))
    }
}
