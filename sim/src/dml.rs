//! INSERT / UPDATE / DELETE: SQLite rows plus the partitions they touch (versions, row counts).

use std::collections::BTreeMap;

use sqlparser::tokenizer::Token;

use crate::ddl::{self, KeysType};
use crate::sql::{err, sqlite_ident, table_ident, translate, Cur, ER_PARSE};
use crate::SimError;

use crate::cluster::*;

impl Cluster {
    /// A load landed on partitions: version +1 each, rows added per partition, time = now.
    pub(crate) fn publish(
        &mut self,
        db: &str,
        t: &str,
        parts: &BTreeMap<usize, i64>,
    ) -> Result<(), SimError> {
        let now = self.now;
        let e_db = self.unknown_db(db);
        let e_t = self.unknown_table(t);
        let table = self
            .dbs
            .get_mut(db)
            .ok_or(e_db)?
            .tables
            .get_mut(t)
            .ok_or(e_t)?;
        let mut touched = Vec::new();
        for (&k, &rows) in parts {
            if let Some(p) = table.partitions.get_mut(k) {
                p.version += 1;
                p.version_time = now;
                p.row_count = (p.row_count as i64 + rows).max(0) as u64;
                touched.push(p.name.clone());
            }
        }
        for name in touched {
            self.info_dirty_parts
                .insert((db.to_string(), t.to_string(), name));
        }
        Ok(())
    }

    /// Which partition each of the given SQLite rows (partition-column values) belongs to.
    pub(crate) fn route_rows(
        &mut self,
        db: &str,
        t: &str,
        select: &str,
    ) -> Result<BTreeMap<usize, i64>, SimError> {
        if self.table(db, t)?.partitioning == ddl::Partitioning::AutoList {
            self.auto_partitions(db, t, select)?;
        }
        let table = self.table(db, t)?.clone();
        let mut out = BTreeMap::new();
        if !table.is_partitioned() {
            let n = match self.query_sqlite(select)? {
                Output::Rows { rows, .. } => rows.len() as i64,
                Output::Flat(f) => f.rows().count() as i64,
                Output::Ok { .. } => 0,
            };
            out.insert(0usize, n);
            return Ok(out);
        }
        if let Output::Rows { rows, .. } = self.query_sqlite(select)? {
            for r in rows {
                let v = r.into_iter().next().flatten().unwrap_or_default();
                if let Some(k) = table.route(&v) {
                    *out.entry(k).or_insert(0) += 1;
                }
            }
        }
        Ok(out)
    }

    pub(crate) fn insert(&mut self, s: &Session, sql: &str, c: &Cur) -> Result<Output, SimError> {
        if c.is_kw_at(1, "OVERWRITE") {
            return self.insert_overwrite(s, sql);
        }
        let tr = {
            let me = &*self;
            translate(sql, &mut |db, t| me.resolve(s, db, t, true))?
        };
        let target = tr.tables.first().cloned().ok_or_else(|| c.syntax())?;
        let db = target.db.clone().unwrap_or_default();
        let tn = target.table.clone();
        let table = self.table(&db, &tn)?.clone();
        let mut sqlite_sql = tr.sql.clone();
        if matches!(table.keys_type, KeysType::Primary | KeysType::Unique) {
            let trimmed = sqlite_sql.trim_start();
            if let Some(rest) = trimmed
                .strip_prefix("INSERT")
                .or_else(|| trimmed.strip_prefix("insert"))
            {
                sqlite_sql = format!("INSERT OR REPLACE{rest}");
            }
        }
        for p in &tr.partitions {
            if table.partition(p).is_none() {
                return Err(err(
                    ER_PARSE,
                    format!("Getting analyzing error. Detail message: Unknown partition '{p}' in table '{tn}'."),
                ));
            }
        }
        let ident = table_ident(&db, &tn);
        let before: i64 = self
            .db
            .query_row(
                &format!("SELECT COALESCE(MAX(rowid), 0) FROM {ident}"),
                [],
                |r| r.get(0),
            )
            .map_err(sqlite_err)?;
        self.db
            .execute_batch("SAVEPOINT sim_insert")
            .map_err(sqlite_err)?;
        let n = match self.db.execute(&sqlite_sql, []) {
            Ok(n) => n as u64,
            Err(e) => {
                let _ = self
                    .db
                    .execute_batch("ROLLBACK TO sim_insert; RELEASE sim_insert");
                return Err(sqlite_err(e));
            }
        };
        if let Some(e) = self.too_long(&table, &ident, before) {
            self.db
                .execute_batch("ROLLBACK TO sim_insert; RELEASE sim_insert")
                .map_err(sqlite_err)?;
            return Err(e);
        }
        self.db
            .execute_batch("RELEASE sim_insert")
            .map_err(sqlite_err)?;
        if n == 0 {
            return Ok(Output::Ok { affected: 0 });
        }
        let parts = if let Some(first) = tr.partitions.first() {
            let mut m = BTreeMap::new();
            for p in &tr.partitions {
                if let Some(k) = table.partitions.iter().position(|x| &x.name == p) {
                    m.insert(k, if p == first { n as i64 } else { 0 });
                }
            }
            m
        } else {
            let col = table
                .partition_column
                .clone()
                .unwrap_or_else(|| "rowid".to_string());
            self.route_rows(
                &db,
                &tn,
                &format!(
                    "SELECT {} FROM {ident} WHERE rowid > {before}",
                    sqlite_ident(&col)
                ),
            )?
        };
        self.publish(&db, &tn, &parts)?;
        Ok(Output::Ok { affected: n })
    }

    pub(crate) fn update_delete(
        &mut self,
        s: &Session,
        sql: &str,
        is_update: bool,
    ) -> Result<Output, SimError> {
        let tr = {
            let me = &*self;
            translate(sql, &mut |db, t| me.resolve(s, db, t, true))?
        };
        let target = tr
            .tables
            .first()
            .cloned()
            .ok_or_else(|| err(ER_PARSE, "syntax error"))?;
        let db = target.db.clone().unwrap_or_default();
        let tn = target.table.clone();
        let table = self.table(&db, &tn)?.clone();
        if is_update && table.keys_type != KeysType::Primary {
            return Err(err(
                ER_PARSE,
                format!(
                    "Getting analyzing error. Detail message: table {tn} does not support update."
                ),
            ));
        }
        // rows touched, by partition: SELECT <partcol> FROM <target> WHERE <same predicate>
        let col = match &table.partition_column {
            Some(pc) => format!("`{pc}`"),
            None => "rowid".to_string(),
        };
        let pre_mysql = format!("SELECT {col} FROM `{db}`.`{tn}` {}", find_where(sql));
        let pre = {
            let me = &*self;
            translate(&pre_mysql, &mut |d, t| me.resolve(s, d, t, true))?.sql
        };
        let mut parts = self.route_rows(&db, &tn, &pre)?;
        let n = self.db.execute(&tr.sql, []).map_err(sqlite_err)? as u64;
        for v in parts.values_mut() {
            *v = if is_update { 0 } else { -*v };
        }
        if !table.is_partitioned() {
            parts.insert(0, if is_update { 0 } else { -(n as i64) });
        }
        self.publish(&db, &tn, &parts)?;
        Ok(Output::Ok { affected: n })
    }
}

/// The `WHERE ...` tail of a MySQL UPDATE/DELETE, re-emitted in MySQL syntax (empty when absent).
pub(crate) fn find_where(sql: &str) -> String {
    let Ok(toks) = crate::sql::tokenize(sql) else {
        return String::new();
    };
    let mut depth = 0;
    for (k, t) in toks.iter().enumerate() {
        match t {
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            Token::Word(w)
                if depth == 0
                    && w.quote_style.is_none()
                    && w.value.eq_ignore_ascii_case("WHERE") =>
            {
                return toks[k..]
                    .iter()
                    .filter(|x| !matches!(x, Token::SemiColon))
                    .map(|x| match x {
                        Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => {
                            format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
                        }
                        other => other.to_string(),
                    })
                    .collect();
            }
            _ => {}
        }
    }
    String::new()
}
