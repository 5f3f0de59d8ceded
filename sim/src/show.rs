//! SET, DESCRIBE and SHOW statements, session variables.

use sqlparser::tokenizer::Token;

use crate::ddl::{self, PartitionSpec};
use crate::sql::{err, Cur};
use crate::SimError;

use crate::cluster::*;

/// Session variables answered by `SELECT @@x` and SHOW VARIABLES.
pub(crate) fn variable(name: &str, c: &Cluster, s: &Session) -> Option<String> {
    let v = match name.to_ascii_lowercase().as_str() {
        "max_allowed_packet" => "33554432".to_string(),
        "wait_timeout" => "28800".to_string(),
        "interactive_timeout" => "3600".to_string(),
        "net_write_timeout" | "net_read_timeout" => "60".to_string(),
        "version_comment" => format!("StarRocks version {}-sim", c.release),
        "version" => c.release.handshake().to_string(),
        "time_zone" => tz_text(s.tz),
        "system_time_zone" => tz_text(c.opts.system_time_zone),
        "autocommit" => "1".to_string(),
        "sql_mode" => "ONLY_FULL_GROUP_BY".to_string(),
        "character_set_client"
        | "character_set_connection"
        | "character_set_results"
        | "character_set_server" => "utf8".to_string(),
        "collation_connection" | "collation_server" | "collation_database" => {
            "utf8_general_ci".to_string()
        }
        "tx_isolation" | "transaction_isolation" => "REPEATABLE-READ".to_string(),
        "tx_read_only" | "transaction_read_only" => "0".to_string(),
        "lower_case_table_names" => "0".to_string(),
        "query_timeout" => "300".to_string(),
        "license" => "Apache License 2.0".to_string(),
        "auto_increment_increment" => "1".to_string(),
        "performance_schema" => "0".to_string(),
        "init_connect" => String::new(),
        "language" => "/starrocks/share/english/".to_string(),
        "net_buffer_length" => "16384".to_string(),
        "query_cache_size" | "query_cache_type" => "0".to_string(),
        "have_query_cache" => "YES".to_string(),
        _ => return None,
    };
    Some(v)
}

pub(crate) const VARIABLE_NAMES: &[&str] = &[
    "autocommit",
    "character_set_client",
    "character_set_connection",
    "character_set_results",
    "character_set_server",
    "collation_connection",
    "interactive_timeout",
    "max_allowed_packet",
    "query_timeout",
    "sql_mode",
    "system_time_zone",
    "time_zone",
    "tx_isolation",
    "version",
    "version_comment",
    "wait_timeout",
];

impl Cluster {
    pub(crate) fn set(&mut self, s: &mut Session, c: &mut Cur) -> Result<Output, SimError> {
        // SET [SESSION|GLOBAL] var = value [, ...]; only time_zone has an effect
        c.eat_kw("SESSION");
        c.eat_kw("GLOBAL");
        c.eat_kw("LOCAL");
        if c.eat_kw("NAMES") || c.eat_kw("CHARSET") || c.eat_kws(&["CHARACTER", "SET"]) {
            return ok();
        }
        loop {
            let mut name = c.ident()?;
            while c.eat(&Token::Period) {
                name = c.ident()?;
            }
            let name = name.trim_start_matches('@').to_ascii_lowercase();
            if !c.eat(&Token::Eq) {
                c.expect(&Token::Assignment)?;
            }
            let v = c.value()?;
            if name == "time_zone" {
                s.tz = parse_tz(&v)
                    .ok_or_else(|| err(1298, format!("Unknown or incorrect time zone: '{v}'")))?;
            }
            if !c.eat(&Token::Comma) {
                break;
            }
        }
        ok()
    }

    pub(crate) fn describe(&mut self, s: &Session, c: &mut Cur) -> Result<Output, SimError> {
        let (db, t) = c.qualified()?;
        let db = db
            .or_else(|| s.db.clone())
            .ok_or_else(|| err(1046, "No database selected"))?;
        let table = self.table(&db, &t)?;
        let rows = table
            .columns
            .iter()
            .map(|col| {
                vec![
                    Some(col.name.clone()),
                    Some(col.column_type()),
                    Some(if col.nullable { "YES" } else { "NO" }.to_string()),
                    Some(
                        if table.keys.contains(&col.name) {
                            "true"
                        } else {
                            "false"
                        }
                        .to_string(),
                    ),
                    col.default.clone(),
                    Some(String::new()),
                ]
            })
            .collect();
        Ok(Output::rows(
            &["Field", "Type", "Null", "Key", "Default", "Extra"],
            rows,
        ))
    }

    pub(crate) fn show(&mut self, s: &mut Session, c: &mut Cur) -> Result<Output, SimError> {
        c.eat_kw("FULL");
        if c.eat_kw("DATABASES") || c.eat_kw("SCHEMAS") {
            let mut rows = vec![vec![Some("information_schema".to_string())]];
            rows.extend(self.dbs.keys().map(|d| vec![Some(d.clone())]));
            return Ok(Output::rows(&["Database"], rows));
        }
        if c.eat_kw("TABLES") {
            let db = if c.eat_kw("FROM") || c.eat_kw("IN") {
                c.ident()?
            } else {
                s.db.clone()
                    .ok_or_else(|| err(1046, "No database selected"))?
            };
            let d = self.dbs.get(&db).ok_or_else(|| self.unknown_db(&db))?;
            let rows = d.tables.keys().map(|t| vec![Some(t.clone())]).collect();
            return Ok(Output::Rows {
                columns: vec![format!("Tables_in_{db}")],
                rows,
            });
        }
        if c.eat_kws(&["CREATE", "TABLE"]) {
            let (db, t) = c.qualified()?;
            let db = db
                .or_else(|| s.db.clone())
                .ok_or_else(|| err(1046, "No database selected"))?;
            let table = self.table(&db, &t)?;
            return Ok(Output::rows(
                &["Table", "Create Table"],
                vec![vec![
                    Some(t.clone()),
                    Some(show_create(table, self.opts.system_time_zone)),
                ]],
            ));
        }
        let temp = c.eat_kw("TEMPORARY");
        if c.eat_kw("PARTITIONS") {
            c.expect_kw("FROM")?;
            let (db, t) = c.qualified()?;
            let db = db
                .or_else(|| s.db.clone())
                .ok_or_else(|| err(1046, "No database selected"))?;
            let table = self.table(&db, &t)?;
            let list = table.is_list();
            let dist = table.distribution.join(", ");
            let rows = table
                .partitions
                .iter()
                .filter(|p| p.is_temp == temp)
                .flat_map(|p| p.physical_rows().into_iter().map(move |ph| (p, ph)))
                .map(|(p, (id, version))| {
                    vec![
                        Some(id.to_string()),
                        Some(p.name.clone()),
                        Some(version.to_string()),
                        Some(fmt_time(in_zone(p.version_time, self.show_zone(s)))),
                        Some("0".to_string()),
                        Some("NORMAL".to_string()),
                        Some(table.partition_column.clone().unwrap_or_default()),
                        Some(table.range_text(p)),
                        Some(dist.clone()),
                        Some(p.buckets.to_string()),
                        Some(p.replication_num.to_string()),
                        Some("HDD".to_string()),
                        Some("9999-12-31 23:59:59".to_string()),
                        None,
                        Some(format!("{:.3}KB", p.data_size() as f64 / 1024.0)),
                        Some("false".to_string()),
                        Some(p.row_count.to_string()),
                    ]
                })
                .collect();
            // PartitionsProcDir.java:121: the column is `List` for LIST tables, `Range` otherwise
            let range_col = if list { "List" } else { "Range" };
            return Ok(Output::rows(
                &[
                    "PartitionId",
                    "PartitionName",
                    "VisibleVersion",
                    "VisibleVersionTime",
                    "VisibleVersionHash",
                    "State",
                    "PartitionKey",
                    range_col,
                    "DistributionKey",
                    "Buckets",
                    "ReplicationNum",
                    "StorageMedium",
                    "CooldownTime",
                    "LastConsistencyCheckTime",
                    "DataSize",
                    "IsInMemory",
                    "RowCount",
                ],
                rows,
            ));
        }
        if temp {
            return Err(c.syntax());
        }
        if c.eat_kw("VARIABLES") {
            let pat = if c.eat_kw("LIKE") {
                Some(c.string()?)
            } else {
                None
            };
            let rows = VARIABLE_NAMES
                .iter()
                .filter(|n| pat.as_deref().is_none_or(|p| like(n, p)))
                .filter_map(|n| variable(n, self, s).map(|v| vec![Some(n.to_string()), Some(v)]))
                .collect();
            return Ok(Output::rows(&["Variable_name", "Value"], rows));
        }
        if c.eat_kw("BACKENDS") {
            let rows = (0..self.opts.backends)
                .map(|k| {
                    vec![
                        Some((10001 + k).to_string()),
                        Some(format!("127.0.0.{}", k + 2)),
                        Some("9050".to_string()),
                        Some("9060".to_string()),
                        Some("8040".to_string()),
                        Some("8060".to_string()),
                        // LastStartTime / LastHeartbeat: session zone, fixed +08:00 from 4.1
                        Some(fmt_time(in_zone(self.opts.start_time, self.show_zone(s)))),
                        Some(fmt_time(in_zone(self.now, self.show_zone(s)))),
                        Some("true".to_string()),
                        Some("false".to_string()),
                        Some("false".to_string()),
                        Some("0".to_string()),
                    ]
                })
                .collect();
            return Ok(Output::rows(
                &[
                    "BackendId",
                    "IP",
                    "HeartbeatPort",
                    "BePort",
                    "HttpPort",
                    "BrpcPort",
                    "LastStartTime",
                    "LastHeartbeat",
                    "Alive",
                    "SystemDecommissioned",
                    "ClusterDecommissioned",
                    "TabletNum",
                ],
                rows,
            ));
        }
        if c.eat_kw("REPOSITORIES") {
            return Ok(self.show_repositories(s));
        }
        if c.eat_kw("BACKUP") {
            return self.show_backup(s, c);
        }
        if c.eat_kw("RESTORE") {
            return self.show_restore(s, c);
        }
        if c.eat_kw("SNAPSHOT") {
            return self.show_snapshot(s, c);
        }
        Err(c.syntax())
    }
}

/// SQL LIKE with % and _ (case-insensitive), for SHOW ... LIKE.
pub(crate) fn like(s: &str, p: &str) -> bool {
    let re = format!(
        "(?i)^{}$",
        regex::escape(p).replace('%', ".*").replace('_', ".")
    );
    regex::Regex::new(&re)
        .map(|r| r.is_match(s))
        .unwrap_or(false)
}

/// A plausible `SHOW CREATE TABLE` text.
pub(crate) fn show_create(t: &Table, system_tz: chrono::FixedOffset) -> String {
    let mut s = format!("CREATE TABLE `{}` (\n", t.name);
    let cols: Vec<String> = t
        .columns
        .iter()
        .map(|c| {
            let mut d = format!("  `{}` {}", c.name, c.column_type());
            d.push_str(if c.nullable { " NULL" } else { " NOT NULL" });
            if let Some(v) = &c.default {
                d.push_str(&format!(" DEFAULT \"{v}\""));
            }
            d.push_str(" COMMENT \"\"");
            d
        })
        .collect();
    s.push_str(&cols.join(",\n"));
    s.push_str("\n) ENGINE=OLAP \n");
    let keys: Vec<String> = t.keys.iter().map(|k| format!("`{k}`")).collect();
    s.push_str(&format!("{}({})\n", t.keys_type.sql(), keys.join(", ")));
    if let Some(pc) = &t.partition_column {
        let parts: Vec<String> = t
            .partitions
            .iter()
            .filter(|p| !p.is_temp)
            .map(|p| {
                let spec = PartitionSpec {
                    name: p.name.clone(),
                    lower: p.lower.clone(),
                    upper: p.upper.clone(),
                    values: p.values.clone(),
                };
                let text = spec.sql();
                match (&p.lower, &p.upper) {
                    (Some(_), Some(_)) => text,
                    (None, _) => text,
                    (Some(l), None) => {
                        format!("PARTITION {} VALUES [(\"{l}\"), (MAXVALUE))", p.name)
                    }
                }
            })
            .collect();
        match t.partitioning {
            ddl::Partitioning::Range => s.push_str(&format!(
                "PARTITION BY RANGE(`{pc}`)\n({})\n",
                parts.join(",\n")
            )),
            ddl::Partitioning::List => s.push_str(&format!(
                "PARTITION BY LIST(`{pc}`)\n({})\n",
                parts.join(",\n")
            )),
            ddl::Partitioning::AutoList => s.push_str(&format!("PARTITION BY (`{pc}`)\n")),
        }
    }
    let dist: Vec<String> = t.distribution.iter().map(|k| format!("`{k}`")).collect();
    // the scheduler properties (dynamic_partition.*, partition TTL); their order is not pinned
    let sched: String = (t.scheduling.properties(system_tz).iter())
        .map(|(k, v)| format!("\"{k}\" = \"{v}\",\n"))
        .collect();
    s.push_str(&format!(
        "DISTRIBUTED BY HASH({}) BUCKETS {} \nPROPERTIES (\n\"compression\" = \"LZ4\",\n{sched}\"fast_schema_evolution\" = \"true\",\n\"replicated_storage\" = \"true\",\n\"replication_num\" = \"{}\"\n);",
        dist.join(", "),
        t.buckets,
        t.replication_num
    ));
    s
}
