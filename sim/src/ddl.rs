//! StarRocks CREATE TABLE: the public spec used by the control API, and the parser for SQL DDL.

use sqlparser::tokenizer::Token;

use crate::sql::{err, Cur, ER_PARSE};
use crate::SimError;

/// The table's key model; only PRIMARY KEY tables accept UPDATE, PRIMARY/UNIQUE upsert on INSERT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeysType {
    /// DUPLICATE KEY
    #[default]
    Duplicate,
    /// AGGREGATE KEY
    Aggregate,
    /// UNIQUE KEY
    Unique,
    /// PRIMARY KEY
    Primary,
}

impl KeysType {
    /// KeysType.toString() as tables_config.TABLE_MODEL shows it.
    pub(crate) fn model_name(self) -> &'static str {
        match self {
            KeysType::Duplicate => "DUP_KEYS",
            KeysType::Aggregate => "AGG_KEYS",
            KeysType::Unique => "UNIQUE_KEYS",
            KeysType::Primary => "PRIMARY_KEYS",
        }
    }

    pub(crate) fn sql(self) -> &'static str {
        match self {
            KeysType::Duplicate => "DUPLICATE KEY",
            KeysType::Aggregate => "AGGREGATE KEY",
            KeysType::Unique => "UNIQUE KEY",
            KeysType::Primary => "PRIMARY KEY",
        }
    }
}

/// One range partition. `lower: None` on a LESS THAN partition means "the previous partition's upper
/// bound" (StarRocks semantics); `upper: None` is MAXVALUE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionSpec {
    /// Partition name.
    pub name: String,
    /// Inclusive lower bound (None: previous upper bound, or MINVALUE for the first).
    pub lower: Option<String>,
    /// Exclusive upper bound (None: MAXVALUE).
    pub upper: Option<String>,
    /// LIST partitions: the values (`VALUES IN (...)`); empty for range partitions.
    pub values: Vec<String>,
}

impl PartitionSpec {
    /// `PARTITION name VALUES LESS THAN ("upper")`.
    pub fn less_than(name: &str, upper: &str) -> Self {
        PartitionSpec {
            name: name.to_string(),
            lower: None,
            upper: Some(upper.to_string()),
            values: Vec::new(),
        }
    }

    /// `PARTITION name VALUES [("lower"), ("upper"))`.
    pub fn range(name: &str, lower: &str, upper: &str) -> Self {
        PartitionSpec {
            name: name.to_string(),
            lower: Some(lower.to_string()),
            upper: Some(upper.to_string()),
            values: Vec::new(),
        }
    }

    /// `PARTITION name VALUES IN ("v1", "v2")` (a LIST partition).
    pub fn list(name: &str, values: &[&str]) -> Self {
        PartitionSpec {
            name: name.to_string(),
            lower: None,
            upper: None,
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }

    pub(crate) fn sql(&self) -> String {
        if !self.values.is_empty() {
            let vals: Vec<String> = self.values.iter().map(|v| format!("\"{v}\"")).collect();
            return format!("PARTITION {} VALUES IN ({})", self.name, vals.join(", "));
        }
        let up = match &self.upper {
            Some(u) => format!("(\"{u}\")"),
            None => "MAXVALUE".to_string(),
        };
        match (&self.lower, &self.upper) {
            (Some(l), Some(u)) => format!("PARTITION {} VALUES [(\"{l}\"), (\"{u}\"))", self.name),
            _ => format!("PARTITION {} VALUES LESS THAN {up}", self.name),
        }
    }
}

/// What [`crate::Sim::create_table`] creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    /// (name, StarRocks type), e.g. ("id", "BIGINT"), ("dt", "DATE").
    pub columns: Vec<(String, String)>,
    /// Key model.
    pub keys_type: KeysType,
    /// Key columns; empty = the first column.
    pub keys: Vec<String>,
    /// Range partition column; None (with no partitions) = unpartitioned.
    pub partition_column: Option<String>,
    /// Range partitions in order; empty = unpartitioned (one partition named after the table).
    pub partitions: Vec<PartitionSpec>,
    /// Replicas per tablet (defaults to 1 here so it fits the default single backend).
    pub replication_num: u32,
    /// How the table is partitioned on `partition_column`.
    pub partitioning: Partitioning,
}

/// Partitioning of a [`TableSpec`] (StarRocks PartitionInfo types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Partitioning {
    /// `PARTITION BY RANGE (col) (...)` (or unpartitioned without a partition column).
    #[default]
    Range,
    /// `PARTITION BY LIST (col) (PARTITION p VALUES IN (...), ...)`.
    List,
    /// `PARTITION BY (col)`: automatic LIST partitioning, one partition per value, created on load.
    AutoList,
}

impl TableSpec {
    /// An unpartitioned duplicate-key table on the first column, replication_num 1.
    pub fn new(columns: &[(&str, &str)]) -> Self {
        TableSpec {
            columns: columns
                .iter()
                .map(|(n, t)| (n.to_string(), t.to_string()))
                .collect(),
            keys_type: KeysType::Duplicate,
            keys: Vec::new(),
            partition_column: None,
            partitions: Vec::new(),
            replication_num: 1,
            partitioning: Partitioning::Range,
        }
    }

    /// LIST-partitions the table on `column` (partitions made with [`PartitionSpec::list`]).
    pub fn list(mut self, column: &str, partitions: Vec<PartitionSpec>) -> Self {
        self.partition_column = Some(column.to_string());
        self.partitions = partitions;
        self.partitioning = Partitioning::List;
        self
    }

    /// Automatic partitioning on `column` (`PARTITION BY (col)`): partitions appear as rows land.
    pub fn auto_list(mut self, column: &str) -> Self {
        self.partition_column = Some(column.to_string());
        self.partitions = Vec::new();
        self.partitioning = Partitioning::AutoList;
        self
    }

    /// Range-partitions the table on `column`.
    pub fn range(mut self, column: &str, partitions: Vec<PartitionSpec>) -> Self {
        self.partition_column = Some(column.to_string());
        self.partitions = partitions;
        self
    }

    /// Sets replication_num.
    pub fn replication(mut self, n: u32) -> Self {
        self.replication_num = n;
        self
    }

    /// Makes it a PRIMARY KEY table on these columns.
    pub fn primary_key(mut self, cols: &[&str]) -> Self {
        self.keys_type = KeysType::Primary;
        self.keys = cols.iter().map(|c| c.to_string()).collect();
        self
    }

    /// The StarRocks DDL for this spec.
    pub fn to_sql(&self, db: &str, table: &str) -> String {
        let cols: Vec<String> = self
            .columns
            .iter()
            .map(|(n, t)| format!("`{n}` {t}"))
            .collect();
        let keys = if self.keys.is_empty() {
            self.columns
                .first()
                .map(|c| vec![c.0.clone()])
                .unwrap_or_default()
        } else {
            self.keys.clone()
        };
        let keys_sql: Vec<String> = keys.iter().map(|k| format!("`{k}`")).collect();
        let mut s = format!(
            "CREATE TABLE `{db}`.`{table}` ({}) {}({})",
            cols.join(", "),
            self.keys_type.sql(),
            keys_sql.join(", ")
        );
        if let Some(pc) = &self.partition_column {
            let parts: Vec<String> = self.partitions.iter().map(|p| p.sql()).collect();
            match self.partitioning {
                Partitioning::Range => s.push_str(&format!(
                    " PARTITION BY RANGE(`{pc}`) ({})",
                    parts.join(", ")
                )),
                Partitioning::List => s.push_str(&format!(
                    " PARTITION BY LIST(`{pc}`) ({})",
                    parts.join(", ")
                )),
                Partitioning::AutoList => s.push_str(&format!(" PARTITION BY (`{pc}`)")),
            }
        }
        s.push_str(&format!(
            " DISTRIBUTED BY HASH({}) BUCKETS 1 PROPERTIES (\"replication_num\" = \"{}\")",
            keys_sql.first().cloned().unwrap_or_default(),
            self.replication_num
        ));
        s
    }
}

/// A column of the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Column {
    pub(crate) name: String,
    /// StarRocks type as written, upper-cased keyword (e.g. `VARCHAR(96)`).
    pub(crate) ty: String,
    pub(crate) nullable: bool,
    pub(crate) default: Option<String>,
    /// COMMENT (empty when none): RESTORE's Column.equals compares it.
    pub(crate) comment: String,
    /// Aggregation type as declared (`SUM`, `REPLACE`, ...; empty: none): Column.equals compares it.
    pub(crate) agg: String,
}

impl Column {
    /// The most bytes a value may take: VARCHAR(n) / CHAR(n) n, STRING 65,533 (VARCHAR(65533));
    /// None for other types. The BE checks it; strict mode fails the whole INSERT.
    pub(crate) fn byte_limit(&self) -> Option<usize> {
        let ty = self.ty.to_ascii_uppercase();
        if ty == "STRING" {
            return Some(65_533);
        }
        let inner = ty
            .strip_prefix("VARCHAR(")
            .or_else(|| ty.strip_prefix("CHAR("))?
            .strip_suffix(')')?;
        inner.trim().parse().ok()
    }

    /// SQLite affinity for the StarRocks type.
    pub(crate) fn sqlite_type(&self) -> &'static str {
        let base = self.base_type();
        match base.as_str() {
            "INT" | "INTEGER" | "BIGINT" | "TINYINT" | "SMALLINT" | "LARGEINT" | "BOOLEAN" => {
                "INTEGER"
            }
            "FLOAT" | "DOUBLE" => "REAL",
            "DECIMAL" | "DECIMALV2" | "DECIMAL32" | "DECIMAL64" | "DECIMAL128" => "NUMERIC",
            _ => "TEXT",
        }
    }

    /// The type name without arguments, upper case.
    pub(crate) fn base_type(&self) -> String {
        self.ty
            .split(['(', '<'])
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_uppercase()
    }

    /// information_schema DATA_TYPE (lower-case base type).
    pub(crate) fn data_type(&self) -> String {
        self.base_type().to_ascii_lowercase()
    }

    /// information_schema COLUMN_TYPE / SHOW CREATE TABLE type text.
    pub(crate) fn column_type(&self) -> String {
        let base = self.base_type();
        match base.as_str() {
            "STRING" => "varchar(65533)".to_string(),
            "INT" | "INTEGER" => "int(11)".to_string(),
            "BIGINT" => "bigint(20)".to_string(),
            "TINYINT" => "tinyint(4)".to_string(),
            "SMALLINT" => "smallint(6)".to_string(),
            "BOOLEAN" => "boolean".to_string(),
            _ => self.ty.to_ascii_lowercase(),
        }
    }
}

/// A parsed `CREATE TABLE`.
#[derive(Debug, Clone)]
pub(crate) struct CreateTable {
    pub(crate) if_not_exists: bool,
    pub(crate) db: Option<String>,
    pub(crate) name: String,
    pub(crate) columns: Vec<Column>,
    pub(crate) keys_type: KeysType,
    pub(crate) keys: Vec<String>,
    pub(crate) partition_column: Option<String>,
    /// Partitions with LESS THAN lower bounds already filled in.
    pub(crate) partitions: Vec<PartitionSpec>,
    /// RANGE, LIST or automatic LIST.
    pub(crate) partitioning: Partitioning,
    pub(crate) replication_num: Option<u32>,
    pub(crate) distribution: Vec<String>,
    pub(crate) buckets: u32,
    pub(crate) properties: Vec<(String, String)>,
    /// ORDER BY (sort key); empty: the key columns.
    pub(crate) order_by: Vec<String>,
}

/// Aggregation types a column definition may name (AggregateType).
const AGGREGATIONS: [&str; 7] = [
    "REPLACE_IF_NOT_NULL",
    "REPLACE",
    "SUM",
    "MAX",
    "MIN",
    "HLL_UNION",
    "BITMAP_UNION",
];

fn is_type_end(c: &Cur) -> bool {
    [
        "NULL",
        "NOT",
        "DEFAULT",
        "COMMENT",
        "AUTO_INCREMENT",
        "KEY",
        "AS",
        "REPLACE",
        "SUM",
        "MAX",
        "MIN",
        "REPLACE_IF_NOT_NULL",
        "HLL_UNION",
        "BITMAP_UNION",
    ]
    .iter()
    .any(|k| c.is_kw(k))
}

/// Parses one partition definition after `PARTITION`; `prev_upper` is the previous upper bound.
pub(crate) fn parse_partition_def(
    c: &mut Cur,
    prev_upper: Option<String>,
) -> Result<PartitionSpec, SimError> {
    let name = c.ident()?;
    c.expect_kw("VALUES")?;
    let spec = |lower, upper| PartitionSpec {
        name: name.clone(),
        lower,
        upper,
        values: Vec::new(),
    };
    if c.eat_kw("IN") {
        // VALUES IN ("a", "b") or, multi-column, (("a", 1), ("b", 2)): values kept as written
        c.expect(&Token::LParen)?;
        let mut values = Vec::new();
        loop {
            if matches!(c.peek(), Some(Token::LParen)) {
                let start = c.i;
                c.skip_group()?;
                values.push(c.t[start..c.i].iter().map(|t| t.to_string()).collect());
            } else {
                values.push(c.value()?);
            }
            if c.eat(&Token::Comma) {
                continue;
            }
            c.expect(&Token::RParen)?;
            break;
        }
        return Ok(PartitionSpec {
            name,
            lower: None,
            upper: None,
            values,
        });
    }
    if c.eat_kws(&["LESS", "THAN"]) {
        if c.eat_kw("MAXVALUE") {
            return Ok(spec(prev_upper, None));
        }
        c.expect(&Token::LParen)?;
        let up = if c.eat_kw("MAXVALUE") {
            None
        } else {
            Some(c.value()?)
        };
        c.expect(&Token::RParen)?;
        Ok(spec(prev_upper, up))
    } else if c.eat(&Token::LBracket) {
        c.expect(&Token::LParen)?;
        let lo = c.value()?;
        c.expect(&Token::RParen)?;
        c.expect(&Token::Comma)?;
        c.expect(&Token::LParen)?;
        let hi = c.value()?;
        c.expect(&Token::RParen)?;
        c.expect(&Token::RParen)?;
        Ok(spec(Some(lo), Some(hi)))
    } else {
        Err(c.syntax())
    }
}

/// Parses `CREATE TABLE ...` (cursor after `CREATE TABLE`).
pub(crate) fn parse_create_table(c: &mut Cur) -> Result<CreateTable, SimError> {
    let if_not_exists = c.eat_kws(&["IF", "NOT", "EXISTS"]);
    let (db, name) = c.qualified()?;
    c.expect(&Token::LParen)?;
    let mut columns = Vec::new();
    loop {
        if c.is_kw("INDEX") {
            // INDEX idx (c) USING BITMAP [COMMENT '']
            while !matches!(c.peek(), Some(Token::Comma) | Some(Token::RParen) | None) {
                if matches!(c.peek(), Some(Token::LParen)) {
                    c.skip_group()?;
                } else {
                    c.next();
                }
            }
        } else {
            let cname = c.ident()?;
            let mut ty = String::new();
            match c.next() {
                Some(Token::Word(w)) => ty.push_str(&w.value.to_ascii_uppercase()),
                _ => return Err(c.syntax()),
            }
            // type arguments: (n[, m]) or <...>
            if matches!(c.peek(), Some(Token::LParen)) {
                let start = c.i;
                c.skip_group()?;
                let args: String = c.t[start..c.i].iter().map(|t| t.to_string()).collect();
                ty.push_str(&args.replace(' ', ""));
            } else if matches!(c.peek(), Some(Token::Lt)) {
                let mut depth = 0;
                loop {
                    match c.next() {
                        Some(Token::Lt) => {
                            depth += 1;
                            ty.push('<');
                        }
                        Some(Token::Gt) => {
                            depth -= 1;
                            ty.push('>');
                            if depth == 0 {
                                break;
                            }
                        }
                        Some(Token::ShiftRight) => {
                            depth -= 2;
                            ty.push_str(">>");
                            if depth <= 0 {
                                break;
                            }
                        }
                        Some(t) => ty.push_str(&t.to_string().to_ascii_uppercase()),
                        None => return Err(c.syntax()),
                    }
                }
            }
            let mut nullable = true;
            let mut default = None;
            let mut comment = String::new();
            let mut agg = String::new();
            while !matches!(c.peek(), Some(Token::Comma) | Some(Token::RParen) | None) {
                if c.eat_kws(&["NOT", "NULL"]) {
                    nullable = false;
                } else if c.eat_kw("NULL") {
                    nullable = true;
                } else if c.eat_kw("DEFAULT") {
                    if c.is_kw("CURRENT_TIMESTAMP") {
                        c.next();
                        default = Some("CURRENT_TIMESTAMP".to_string());
                    } else if c.eat_kw("NULL") {
                        default = None;
                    } else {
                        default = Some(c.value()?);
                    }
                } else if c.eat_kw("COMMENT") {
                    comment = c.string()?;
                } else if let Some(k) = AGGREGATIONS.iter().find(|k| c.is_kw(k)) {
                    agg = k.to_string();
                    c.next();
                } else if is_type_end(c) {
                    c.next();
                } else if matches!(c.peek(), Some(Token::LParen)) {
                    c.skip_group()?;
                } else {
                    return Err(c.syntax());
                }
            }
            columns.push(Column {
                name: cname,
                ty,
                nullable,
                default,
                comment,
                agg,
            });
        }
        if c.eat(&Token::Comma) {
            continue;
        }
        c.expect(&Token::RParen)?;
        break;
    }
    let mut ct = CreateTable {
        if_not_exists,
        db,
        name,
        columns,
        keys_type: KeysType::Duplicate,
        keys: Vec::new(),
        partition_column: None,
        partitions: Vec::new(),
        partitioning: Partitioning::Range,
        replication_num: None,
        distribution: Vec::new(),
        buckets: 0,
        properties: Vec::new(),
        order_by: Vec::new(),
    };
    while !c.at_end() {
        if c.eat_kw("ENGINE") {
            c.expect(&Token::Eq)?;
            c.ident()?;
        } else if c.is_kw_at(1, "KEY")
            && ["DUPLICATE", "AGGREGATE", "UNIQUE", "PRIMARY"]
                .iter()
                .any(|k| c.is_kw(k))
        {
            ct.keys_type = if c.is_kw("DUPLICATE") {
                KeysType::Duplicate
            } else if c.is_kw("AGGREGATE") {
                KeysType::Aggregate
            } else if c.is_kw("UNIQUE") {
                KeysType::Unique
            } else {
                KeysType::Primary
            };
            c.next();
            c.next();
            ct.keys = c.ident_list()?;
        } else if c.eat_kw("COMMENT") {
            c.string()?;
        } else if c.eat_kws(&["PARTITION", "BY"]) {
            if c.eat_kw("RANGE") {
                let cols = c.ident_list()?;
                ct.partition_column = cols.into_iter().next();
                c.expect(&Token::LParen)?;
                let mut prev: Option<String> = None;
                if !c.eat(&Token::RParen) {
                    loop {
                        if c.eat_kw("START") {
                            return Err(err(
                                ER_PARSE,
                                "the simulator does not support batch partition creation (START ... END ... EVERY)",
                            ));
                        }
                        c.expect_kw("PARTITION")?;
                        let p = parse_partition_def(c, prev.clone())?;
                        prev = p.upper.clone();
                        ct.partitions.push(p);
                        if c.eat(&Token::Comma) {
                            continue;
                        }
                        c.expect(&Token::RParen)?;
                        break;
                    }
                }
            } else if c.eat_kw("LIST") {
                let cols = c.ident_list()?;
                ct.partition_column = cols.into_iter().next();
                ct.partitioning = Partitioning::List;
                c.expect(&Token::LParen)?;
                if !c.eat(&Token::RParen) {
                    loop {
                        c.expect_kw("PARTITION")?;
                        let p = parse_partition_def(c, None)?;
                        if p.values.is_empty() {
                            return Err(c.syntax());
                        }
                        ct.partitions.push(p);
                        if c.eat(&Token::Comma) {
                            continue;
                        }
                        c.expect(&Token::RParen)?;
                        break;
                    }
                }
            } else if matches!(c.peek(), Some(Token::LParen)) {
                // automatic partitioning on columns: PARTITION BY (col[, ...])
                let cols = c.ident_list()?;
                ct.partition_column = cols.into_iter().next();
                ct.partitioning = Partitioning::AutoList;
            } else {
                return Err(err(
                    ER_PARSE,
                    "the simulator supports PARTITION BY RANGE (...), LIST (...) with explicit partitions, or (col)",
                ));
            }
        } else if c.eat_kws(&["DISTRIBUTED", "BY"]) {
            if c.eat_kw("HASH") {
                ct.distribution = c.ident_list()?;
            } else {
                c.expect_kw("RANDOM")?;
            }
            if c.eat_kw("BUCKETS") {
                let v = c.value()?;
                ct.buckets = v.parse().map_err(|_| c.syntax())?;
            }
        } else if c.eat_kws(&["ORDER", "BY"]) {
            ct.order_by = c.ident_list()?;
        } else if c.eat_kw("PROPERTIES") {
            ct.properties = c.properties()?;
            for (k, v) in &ct.properties {
                if k.eq_ignore_ascii_case("replication_num") {
                    ct.replication_num =
                        Some(v.parse().map_err(|_| {
                            err(ER_PARSE, format!("Invalid replication number: {v}"))
                        })?);
                }
            }
        } else {
            return Err(c.syntax());
        }
    }
    if ct.keys.is_empty() {
        if let Some(first) = ct.columns.first() {
            ct.keys.push(first.name.clone());
        }
    }
    Ok(ct)
}
