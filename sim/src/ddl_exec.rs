//! CREATE / DROP / TRUNCATE / ALTER as the FE executes them on the catalog model.

use std::collections::BTreeMap;

use sqlparser::tokenizer::Token;

use crate::ddl::{self, KeysType};
use crate::sql::{err, sqlite_ident, sqlite_str, table_ident, Cur, ER_PARSE};
use crate::SimError;

use crate::cluster::*;

impl Cluster {
    pub(crate) fn create_database(
        &mut self,
        db: &str,
        if_not_exists: bool,
    ) -> Result<(), SimError> {
        if self.dbs.contains_key(db) || db.eq_ignore_ascii_case("information_schema") {
            if if_not_exists {
                return Ok(());
            }
            return Err(err(
                1007,
                format!("Can't create database '{db}'; database exists"),
            ));
        }
        self.dbs.insert(
            db.to_string(),
            Database {
                tables: BTreeMap::new(),
            },
        );
        self.info_dirty.insert((db.to_string(), String::new()));
        Ok(())
    }

    pub(crate) fn create(&mut self, s: &Session, c: &mut Cur) -> Result<Output, SimError> {
        if c.eat_kw("DATABASE") || c.eat_kw("SCHEMA") {
            let ine = c.eat_kws(&["IF", "NOT", "EXISTS"]);
            let db = c.ident()?;
            self.create_database(&db, ine)?;
            return ok();
        }
        if c.eat_kw("TABLE") || c.eat_kws(&["EXTERNAL", "TABLE"]) {
            let ct = ddl::parse_create_table(c)?;
            let db = ct
                .db
                .clone()
                .or_else(|| s.db.clone())
                .ok_or_else(|| err(1046, "No database selected"))?;
            self.create_table_model(&db, ct, None)?;
            return ok();
        }
        let read_only = c.eat_kws(&["READ", "ONLY"]);
        if c.eat_kw("REPOSITORY") {
            let name = c.ident()?;
            c.expect_kw("WITH")?;
            c.expect_kw("BROKER")?;
            if !c.is_kw("ON") {
                c.ident()?;
            }
            c.expect_kw("ON")?;
            c.expect_kw("LOCATION")?;
            let loc = c.string()?;
            if c.eat_kw("PROPERTIES") {
                c.properties()?;
            }
            self.create_repository(&name, read_only, &loc)?;
            return ok();
        }
        Err(c.syntax())
    }

    /// Creates the model table and its SQLite table. `restore` sets the initial partitions.
    pub(crate) fn create_table_model(
        &mut self,
        db: &str,
        ct: ddl::CreateTable,
        restore: Option<Vec<Partition>>,
    ) -> Result<bool, SimError> {
        if !self.dbs.contains_key(db) {
            return Err(self.unknown_db(db));
        }
        if self.table_exists(db, &ct.name) {
            if ct.if_not_exists {
                return Ok(false);
            }
            return Err(err(1050, format!("Table '{}' already exists", ct.name)));
        }
        let scheduling = crate::scheduler::Scheduling::from_create(
            &ct.properties,
            self.release,
            ct.partition_column.is_some() && ct.partitioning == ddl::Partitioning::Range,
        )?;
        let rn = ct.replication_num.unwrap_or(3);
        if restore.is_none() && rn > self.opts.backends {
            let bes: Vec<String> = (0..self.opts.backends)
                .map(|k| (10001 + k).to_string())
                .collect();
            return Err(err(
                ER_PARSE,
                format!(
                    "Table replication num should be less than or equal to the number of available BE nodes. You can change this default by setting the replication_num table properties. Current alive backend is [{}]. , table={}, default_replication_num={}",
                    bes.join(","),
                    ct.name,
                    rn
                ),
            ));
        }
        // SQLite side
        let mut cols: Vec<String> = ct
            .columns
            .iter()
            .map(|col| {
                let mut d = format!("{} {}", sqlite_ident(&col.name), col.sqlite_type());
                match &col.default {
                    Some(v) if v == "CURRENT_TIMESTAMP" => d.push_str(" DEFAULT (now())"),
                    Some(v) => d.push_str(&format!(" DEFAULT {}", sqlite_str(v))),
                    None => {}
                }
                d
            })
            .collect();
        if matches!(ct.keys_type, KeysType::Primary | KeysType::Unique) {
            let keys: Vec<String> = ct.keys.iter().map(|k| sqlite_ident(k)).collect();
            cols.push(format!("PRIMARY KEY ({})", keys.join(", ")));
        }
        let ident = table_ident(db, &ct.name);
        self.db
            .execute(&format!("DROP TABLE IF EXISTS {ident}"), [])
            .map_err(sqlite_err)?;
        self.db
            .execute(&format!("CREATE TABLE {ident} ({})", cols.join(", ")), [])
            .map_err(sqlite_err)?;
        let now = self.now;
        let buckets = if ct.buckets == 0 { 1 } else { ct.buckets };
        let partitions = match restore {
            Some(p) => p,
            None if ct.partition_column.is_none() => vec![Partition {
                id: self.next_id(),
                name: ct.name.clone(),
                lower: None,
                upper: None,
                version: 1,
                version_time: now,
                row_count: 0,
                replication_num: rn,
                is_temp: false,
                values: Vec::new(),
                physical: Vec::new(),
                buckets,
            }],
            None => {
                let mut v = Vec::new();
                for spec in &ct.partitions {
                    v.push(Partition {
                        id: self.next_id(),
                        name: spec.name.clone(),
                        lower: spec.lower.clone(),
                        upper: spec.upper.clone(),
                        version: 1,
                        version_time: now,
                        row_count: 0,
                        replication_num: rn,
                        is_temp: false,
                        values: spec.values.clone(),
                        physical: Vec::new(),
                        buckets,
                    });
                }
                v
            }
        };
        let table = Table {
            name: ct.name.clone(),
            columns: ct.columns,
            keys_type: ct.keys_type,
            keys: ct.keys.clone(),
            partition_column: ct.partition_column,
            partitioning: ct.partitioning,
            partitions,
            replication_num: rn,
            distribution: if ct.distribution.is_empty() {
                ct.keys
            } else {
                ct.distribution
            },
            buckets,
            state: TableState::Normal,
            create_time: now,
            bloom_filter_columns: ct
                .properties
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("bloom_filter_columns"))
                .map(|(_, v)| split_list(v))
                .unwrap_or_default(),
            rollups: Vec::new(),
            sort_key: ct.order_by,
            scheduling,
        };
        if let Some(d) = self.dbs.get_mut(db) {
            d.tables.insert(ct.name.clone(), table);
        }
        self.mark_dirty(db, &ct.name);
        Ok(true)
    }

    pub(crate) fn drop(&mut self, s: &Session, c: &mut Cur) -> Result<Output, SimError> {
        if self.drop_snapshot_enabled() && c.eat_kw("SNAPSHOT") {
            return self.drop_snapshot(c);
        }
        if c.eat_kw("DATABASE") || c.eat_kw("SCHEMA") {
            let ie = c.eat_kws(&["IF", "EXISTS"]);
            let db = c.ident()?;
            c.eat_kw("FORCE");
            let Some(d) = self.dbs.remove(&db) else {
                if ie {
                    return ok();
                }
                return Err(self.unknown_db(&db));
            };
            for t in d.tables.keys() {
                self.db
                    .execute(&format!("DROP TABLE IF EXISTS {}", table_ident(&db, t)), [])
                    .map_err(sqlite_err)?;
                self.mark_dirty(&db, t);
            }
            self.info_dirty.insert((db, String::new()));
            return ok();
        }
        if c.eat_kw("TABLE") {
            let ie = c.eat_kws(&["IF", "EXISTS"]);
            let (db, t) = c.qualified()?;
            c.eat_kw("FORCE");
            let db = db
                .or_else(|| s.db.clone())
                .ok_or_else(|| err(1046, "No database selected"))?;
            if !self.dbs.contains_key(&db) {
                return Err(self.unknown_db(&db));
            }
            if !self.table_exists(&db, &t) {
                if ie {
                    return ok();
                }
                return Err(self.unknown_table(&t));
            }
            self.drop_table(&db, &t)?;
            return ok();
        }
        if c.eat_kw("REPOSITORY") {
            let name = c.ident()?;
            if self.repos.remove(&name).is_none() {
                return Err(err(5064, format!("Repository {name} does not exist")));
            }
            return ok();
        }
        Err(c.syntax())
    }

    pub(crate) fn truncate(&mut self, s: &Session, c: &mut Cur) -> Result<Output, SimError> {
        c.eat_kw("TABLE");
        let (db, t) = c.qualified()?;
        let db = db
            .or_else(|| s.db.clone())
            .ok_or_else(|| err(1046, "No database selected"))?;
        let names: Vec<String> = if c.eat_kw("PARTITION") {
            c.ident_list()?
        } else {
            self.table(&db, &t)?
                .partitions
                .iter()
                .filter(|p| !p.is_temp)
                .map(|p| p.name.clone())
                .collect()
        };
        for p in names {
            self.truncate_partition(&db, &t, &p)?;
        }
        ok()
    }

    pub(crate) fn alter(&mut self, s: &Session, c: &mut Cur) -> Result<Output, SimError> {
        c.expect_kw("TABLE")?;
        let (db, t) = c.qualified()?;
        let db = db
            .or_else(|| s.db.clone())
            .ok_or_else(|| err(1046, "No database selected"))?;
        self.table(&db, &t)?;
        self.check_alterable(&db, &t)?;
        if c.eat_kw("RENAME") {
            let new = c.ident()?;
            self.rename_table(&db, &t, &new)?;
            return ok();
        }
        if c.eat_kws(&["SWAP", "WITH"]) {
            let other = c.ident()?;
            self.swap_tables(&db, &t, &other)?;
            return ok();
        }
        if c.eat_kws(&["ADD", "COLUMN"]) {
            let name = c.ident()?;
            let ty = match c.next() {
                Some(Token::Word(w)) => {
                    let mut ty = w.value.to_ascii_uppercase();
                    if matches!(c.peek(), Some(Token::LParen)) {
                        let start = c.i;
                        c.skip_group()?;
                        let args: String = c.t[start..c.i].iter().map(|t| t.to_string()).collect();
                        ty.push_str(&args.replace(' ', ""));
                    }
                    ty
                }
                _ => return Err(c.syntax()),
            };
            self.add_column(&db, &t, &name, &ty)?;
            return ok();
        }
        if c.eat_kws(&["MODIFY", "COLUMN"]) {
            // MODIFY COLUMN c [type] [NULL|NOT NULL] [DEFAULT v] [COMMENT 's']: metadata only here
            // (neither partition ids nor versions move)
            let name = c.ident()?;
            let table = self.table(&db, &t)?;
            let Some(mut col) = table.columns.iter().find(|x| x.name == name).cloned() else {
                return Err(err(1054, format!("Unknown column '{name}' in '{t}'")));
            };
            if let Some(Token::Word(w)) = c.peek() {
                let kw = w.value.to_ascii_uppercase();
                if !["DEFAULT", "COMMENT", "NULL", "NOT"].contains(&kw.as_str()) {
                    c.next();
                    let mut ty = kw;
                    if matches!(c.peek(), Some(Token::LParen)) {
                        let start = c.i;
                        c.skip_group()?;
                        let args: String = c.t[start..c.i].iter().map(|t| t.to_string()).collect();
                        ty.push_str(&args.replace(' ', ""));
                    }
                    col.ty = ty;
                }
            }
            while !c.at_end() {
                if c.eat_kws(&["NOT", "NULL"]) {
                    col.nullable = false;
                } else if c.eat_kw("NULL") {
                    col.nullable = true;
                } else if c.eat_kw("DEFAULT") {
                    col.default = if c.eat_kw("NULL") {
                        None
                    } else {
                        Some(c.value()?)
                    };
                } else if c.eat_kw("COMMENT") {
                    col.comment = c.string()?;
                } else {
                    return Err(c.syntax());
                }
            }
            let table = self.table_mut(&db, &t)?;
            if let Some(x) = table.columns.iter_mut().find(|x| x.name == name) {
                *x = col;
            }
            return ok();
        }
        if c.eat_kws(&["ADD", "ROLLUP"]) {
            // ADD ROLLUP r (c1, c2): a new index; versions do not move
            let name = c.ident()?;
            let cols = c.ident_list()?;
            let table = self.table_mut(&db, &t)?;
            if table.rollups.iter().any(|(n, _)| *n == name) {
                return Err(err(
                    ER_PARSE,
                    format!("Rollup index[{name}] already exists"),
                ));
            }
            table.rollups.push((name, cols));
            return ok();
        }
        if c.eat_kws(&["ORDER", "BY"]) {
            // ReorderColumnsClause: fewer columns than the table has = a new sort key
            // (SchemaChangeHandler.java:1060-1064, :2204), a schema change that moves no version;
            // all of them = reordering the columns (not simulated)
            let cols = c.ident_list()?;
            let table = self.table_mut(&db, &t)?;
            if cols.len() == table.columns.len() {
                return Err(err(ER_PARSE, "the simulator does not reorder columns"));
            }
            if let Some(x) = cols
                .iter()
                .find(|x| !table.columns.iter().any(|c| c.name.eq_ignore_ascii_case(x)))
            {
                return Err(err(5064, format!("Column[{x}] not exists")));
            }
            table.sort_key = cols;
            self.mark_dirty(&db, &t);
            return ok();
        }
        if c.eat_kws(&["DROP", "ROLLUP"]) {
            let name = c.ident()?;
            let table = self.table_mut(&db, &t)?;
            if !table.rollups.iter().any(|(n, _)| *n == name) {
                return Err(err(
                    ER_PARSE,
                    format!("Rollup index[{name}] does not exist"),
                ));
            }
            table.rollups.retain(|(n, _)| *n != name);
            self.mark_dirty(&db, &t);
            return ok();
        }
        if self.release.has_default_buckets() && c.eat_kws(&["DISTRIBUTED", "BY", "HASH"]) {
            // AlterJobExecutor.visitAlterTableModifyDefaultBucketsClause (alter/AlterJobExecutor.java:211-229):
            // the default distribution's bucket count, for partitions created from now on
            let cols = c.ident_list()?;
            c.expect_kw("DEFAULT")?;
            c.expect_kw("BUCKETS")?;
            let n: u32 = c.value()?.parse().map_err(|_| c.syntax())?;
            let table = self.table_mut(&db, &t)?;
            // AlterTableClauseAnalyzer.java:168-191 (an analyzer error, so errno 1064)
            let same = cols.len() == table.distribution.len()
                && cols
                    .iter()
                    .zip(&table.distribution)
                    .all(|(a, b)| a.eq_ignore_ascii_case(b));
            if !same {
                return Err(err(
                    ER_PARSE,
                    format!(
                        "Getting analyzing error. Detail message: Distribution columns mismatch: [{}] vs [{}].",
                        cols.join(", "),
                        table.distribution.join(", ")
                    ),
                ));
            }
            if n == 0 {
                return Err(err(
                    ER_PARSE,
                    "Getting analyzing error. Detail message: Bucket num must > 0.",
                ));
            }
            table.buckets = n;
            self.mark_dirty(&db, &t);
            return ok();
        }
        if c.eat_kw("SET") {
            // SET ("bloom_filter_columns" = "a, b"): metadata only here
            let props = c.properties()?;
            let release = self.release;
            let table = self.table_mut(&db, &t)?;
            let range = table.is_partitioned() && !table.is_list();
            table.scheduling.apply(&props, release, range, &t)?;
            for (k, v) in props {
                if k.eq_ignore_ascii_case("bloom_filter_columns") {
                    table.bloom_filter_columns = split_list(&v);
                }
            }
            return ok();
        }
        if c.eat_kws(&["DROP", "COLUMN"]) {
            let name = c.ident()?;
            let table = self.table_mut(&db, &t)?;
            table.columns.retain(|col| col.name != name);
            self.db
                .execute(
                    &format!(
                        "ALTER TABLE {} DROP COLUMN {}",
                        table_ident(&db, &t),
                        sqlite_ident(&name)
                    ),
                    [],
                )
                .map_err(sqlite_err)?;
            return ok();
        }
        let temp_add = c.eat_kws(&["ADD", "TEMPORARY", "PARTITION"]);
        if temp_add || c.eat_kws(&["ADD", "PARTITION"]) {
            let prev = None;
            let spec = ddl::parse_partition_def(c, prev)?;
            self.add_partition(&db, &t, &spec, temp_add)?;
            return ok();
        }
        if c.eat_kws(&["DROP", "TEMPORARY", "PARTITION"]) || c.eat_kws(&["DROP", "PARTITION"]) {
            c.eat_kws(&["IF", "EXISTS"]);
            let name = c.ident()?;
            self.drop_partition(&db, &t, &name)?;
            return ok();
        }
        Err(c.syntax())
    }
}

/// `a, b` -> [a, b] (property lists).
pub(crate) fn split_list(v: &str) -> Vec<String> {
    v.split(',')
        .map(|x| x.trim().to_string())
        .filter(|x| !x.is_empty())
        .collect()
}
