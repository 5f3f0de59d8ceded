//! Loads as the FE applies them beyond plain INSERT: automatic partitions created for new values,
//! INSERT OVERWRITE and the temporary partitions it holds meanwhile, and strict mode's refusal of
//! strings longer than their column (STARROCKS.md §6, docs/STARROCKS-NOTES.md).

use std::collections::BTreeSet;

use crate::cluster::{Cluster, Output, Session, Table};
use crate::ddl::PartitionSpec;
use crate::sql::{err, sqlite_ident, translate, Cur, ER_PARSE};
use crate::SimError;

impl Cluster {
    /// Automatic partitioning: a value without a partition gets one (`p<value>`, alphanumerics
    /// only, as the FE names them) before the rows are routed.
    pub(crate) fn auto_partitions(
        &mut self,
        db: &str,
        t: &str,
        select: &str,
    ) -> Result<(), SimError> {
        let mut values = BTreeSet::new();
        if let Output::Rows { rows, .. } = self.query_sqlite(select)? {
            for r in rows {
                values.insert(r.into_iter().next().flatten().unwrap_or_default());
            }
        }
        for v in values {
            if self.table(db, t)?.route(&v).is_some() {
                continue;
            }
            let name: String = std::iter::once('p')
                .chain(v.chars().filter(|c| c.is_ascii_alphanumeric()))
                .collect();
            let spec = PartitionSpec {
                name,
                lower: None,
                upper: None,
                values: vec![v],
            };
            self.add_partition(db, t, &spec, false)?;
        }
        Ok(())
    }

    /// `INSERT OVERWRITE t [PARTITION (p, ...)] ...`: the target partitions (all without a PARTITION
    /// clause) are replaced by new ones holding only the new rows — new ids, version 1 + the load
    /// (InsertOverwriteJobRunner: temporary partitions `<p>_<jobId>` loaded, then swapped in; the
    /// window they exist in is modelled by `Sim::begin_insert_overwrite`).
    pub(crate) fn insert_overwrite(&mut self, s: &Session, sql: &str) -> Result<Output, SimError> {
        let lower = sql.to_ascii_lowercase();
        let k = lower
            .find("overwrite")
            .ok_or_else(|| err(ER_PARSE, "syntax"))?;
        let rewritten = format!("{}INTO{}", &sql[..k], &sql[k + "overwrite".len()..]);
        let tr = {
            let me = &*self;
            translate(&rewritten, &mut |db, t| me.resolve(s, db, t, true))?
        };
        let target = tr
            .tables
            .first()
            .cloned()
            .ok_or_else(|| err(ER_PARSE, "syntax"))?;
        let db = target.db.clone().unwrap_or_default();
        let tn = target.table.clone();
        let targets: Vec<String> = if tr.partitions.is_empty() {
            let t = self.table(&db, &tn)?;
            t.partitions
                .iter()
                .filter(|p| !p.is_temp)
                .map(|p| p.name.clone())
                .collect()
        } else {
            tr.partitions.clone()
        };
        for p in &targets {
            self.truncate_partition(&db, &tn, p)?;
        }
        let c = Cur::new(&rewritten)?;
        self.insert(s, &rewritten, &c)
    }

    /// The first half of an INSERT OVERWRITE: a temporary partition `<p>_<job>` beside each target
    /// (same range or values), as the FE holds while it loads. Returns the job id.
    pub(crate) fn begin_insert_overwrite(
        &mut self,
        db: &str,
        t: &str,
        partitions: &[&str],
    ) -> Result<u64, SimError> {
        let job = self.next_id();
        let table = self.table(db, t)?.clone();
        for name in partitions {
            let p = table.partition(name).ok_or_else(|| {
                err(
                    ER_PARSE,
                    format!("Unknown partition '{name}' in table '{t}'"),
                )
            })?;
            let spec = PartitionSpec {
                name: format!("{name}_{job}"),
                lower: p.lower.clone(),
                upper: p.upper.clone(),
                values: p.values.clone(),
            };
            self.push_partition(db, t, &spec, true)?;
        }
        Ok(job)
    }

    /// The second half: each temporary partition `<p>_<job>` (loaded with `rows` rows: version 2)
    /// replaces `<p>` — the partition name stays, its id is the temporary one's.
    pub(crate) fn finish_insert_overwrite(
        &mut self,
        db: &str,
        t: &str,
        job: u64,
        rows: u64,
    ) -> Result<(), SimError> {
        let suffix = format!("_{job}");
        let temps: Vec<String> = self
            .table(db, t)?
            .partitions
            .iter()
            .filter(|p| p.is_temp && p.name.ends_with(&suffix))
            .map(|p| p.name.clone())
            .collect();
        for tmp in temps {
            let name = tmp.trim_end_matches(&suffix).to_string();
            self.truncate_partition(db, t, &name)?;
            let now = self.now();
            let table = self.table_mut(db, t)?;
            let Some(k) = table.partitions.iter().position(|p| p.name == tmp) else {
                continue;
            };
            let temp = table.partitions.remove(k);
            if let Some(p) = table.partition_mut(&name) {
                p.id = temp.id;
                p.version = 2;
                p.version_time = now;
                p.row_count = rows;
                p.physical.clear();
                // the temporary partition was made with the table's default distribution
                // (LocalMetastore.createTempPartitionsFromPartitions), and replaces the old one
                p.buckets = temp.buckets;
            }
        }
        Ok(())
    }

    /// Strict mode: a new row with a string longer than its column (in bytes) fails the whole
    /// INSERT, nothing loaded (STARROCKS.md §6; the text per release in Release).
    pub(crate) fn too_long(&mut self, table: &Table, ident: &str, before: i64) -> Option<SimError> {
        for col in &table.columns {
            let Some(limit) = col.byte_limit() else {
                continue;
            };
            let sql = format!(
                "SELECT COUNT(*) FROM {ident} WHERE rowid > {before} AND length(CAST({} AS BLOB)) > {limit}",
                sqlite_ident(&col.name)
            );
            let over: i64 = self.db.query_row(&sql, [], |r| r.get(0)).unwrap_or(0);
            if over > 0 {
                let txn = self.next_id();
                let job = self.next_id();
                return Some(err(1064, self.release.filtered_insert_error(txn, job)));
            }
        }
        None
    }
}
