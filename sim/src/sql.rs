//! Tokenizing MySQL-flavoured SQL (sqlparser's tokenizer) and re-emitting it for SQLite.

use sqlparser::dialect::MySqlDialect;
use sqlparser::tokenizer::{Token, Tokenizer, Whitespace};

use crate::SimError;

/// Errno StarRocks uses for parse and analysis errors.
pub(crate) const ER_PARSE: u16 = 1064;

pub(crate) fn err(code: u16, msg: impl Into<String>) -> SimError {
    SimError {
        code,
        message: msg.into(),
    }
}

/// Tokens of `sql` with whitespace and comments, string escapes already resolved (MySQL rules).
pub(crate) fn tokenize(sql: &str) -> Result<Vec<Token>, SimError> {
    let dialect = MySqlDialect {};
    Tokenizer::new(&dialect, sql).tokenize().map_err(|e| {
        err(
            ER_PARSE,
            format!("Getting syntax error. Detail message: {e}."),
        )
    })
}

pub(crate) fn is_ws(t: &Token) -> bool {
    matches!(t, Token::Whitespace(_))
}

/// A SQLite string literal (only `''` escaping).
pub(crate) fn sqlite_str(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A SQLite identifier.
pub(crate) fn sqlite_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// The SQLite table holding StarRocks table `db`.`t` (one flat namespace: SQLite limits ATTACH to 10).
pub(crate) fn table_ident(db: &str, t: &str) -> String {
    sqlite_ident(&format!("{db}.{t}"))
}

/// Cursor over significant tokens (no whitespace) for hand-written statement parsers.
pub(crate) struct Cur {
    pub(crate) t: Vec<Token>,
    pub(crate) i: usize,
}

impl Cur {
    pub(crate) fn new(sql: &str) -> Result<Cur, SimError> {
        let mut t: Vec<Token> = tokenize(sql)?.into_iter().filter(|t| !is_ws(t)).collect();
        while matches!(t.last(), Some(Token::SemiColon)) {
            t.pop();
        }
        Ok(Cur { t, i: 0 })
    }

    pub(crate) fn peek(&self) -> Option<&Token> {
        self.t.get(self.i)
    }

    pub(crate) fn peek_at(&self, k: usize) -> Option<&Token> {
        self.t.get(self.i + k)
    }

    pub(crate) fn next(&mut self) -> Option<Token> {
        let t = self.t.get(self.i).cloned();
        if t.is_some() {
            self.i += 1;
        }
        t
    }

    pub(crate) fn at_end(&self) -> bool {
        self.i >= self.t.len()
    }

    /// Whether the token at offset `k` is the unquoted keyword `kw`.
    pub(crate) fn is_kw_at(&self, k: usize, kw: &str) -> bool {
        matches!(self.peek_at(k), Some(Token::Word(w)) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(kw))
    }

    pub(crate) fn is_kw(&self, kw: &str) -> bool {
        self.is_kw_at(0, kw)
    }

    pub(crate) fn eat_kw(&mut self, kw: &str) -> bool {
        if self.is_kw(kw) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    /// Eats a sequence of keywords only if all match.
    pub(crate) fn eat_kws(&mut self, kws: &[&str]) -> bool {
        if kws.iter().enumerate().all(|(k, kw)| self.is_kw_at(k, kw)) {
            self.i += kws.len();
            true
        } else {
            false
        }
    }

    pub(crate) fn expect_kw(&mut self, kw: &str) -> Result<(), SimError> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            Err(self.syntax())
        }
    }

    pub(crate) fn eat(&mut self, tok: &Token) -> bool {
        if self.peek() == Some(tok) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    pub(crate) fn expect(&mut self, tok: &Token) -> Result<(), SimError> {
        if self.eat(tok) {
            Ok(())
        } else {
            Err(self.syntax())
        }
    }

    /// A StarRocks-looking syntax error at the current token.
    pub(crate) fn syntax(&self) -> SimError {
        let near = self
            .peek()
            .map(|t| t.to_string())
            .unwrap_or_else(|| "<EOF>".to_string());
        err(
            ER_PARSE,
            format!("Getting syntax error at line 1, column {}. Detail message: Unexpected input '{near}'.", self.i),
        )
    }

    /// An identifier (quoted or not).
    pub(crate) fn ident(&mut self) -> Result<String, SimError> {
        match self.peek() {
            Some(Token::Word(w)) => {
                let v = w.value.clone();
                self.i += 1;
                Ok(v)
            }
            _ => Err(self.syntax()),
        }
    }

    /// `name` or `db.name`.
    pub(crate) fn qualified(&mut self) -> Result<(Option<String>, String), SimError> {
        let first = self.ident()?;
        if self.eat(&Token::Period) {
            let second = self.ident()?;
            Ok((Some(first), second))
        } else {
            Ok((None, first))
        }
    }

    /// A quoted string ('x' or "x").
    pub(crate) fn string(&mut self) -> Result<String, SimError> {
        match self.peek() {
            Some(Token::SingleQuotedString(s)) | Some(Token::DoubleQuotedString(s)) => {
                let v = s.clone();
                self.i += 1;
                Ok(v)
            }
            _ => Err(self.syntax()),
        }
    }

    /// A string, number or bare word as text (partition bounds, property values).
    pub(crate) fn value(&mut self) -> Result<String, SimError> {
        match self.peek() {
            Some(Token::SingleQuotedString(s)) | Some(Token::DoubleQuotedString(s)) => {
                let v = s.clone();
                self.i += 1;
                Ok(v)
            }
            Some(Token::Number(n, _)) => {
                let v = n.clone();
                self.i += 1;
                Ok(v)
            }
            Some(Token::Minus) => {
                self.i += 1;
                match self.next() {
                    Some(Token::Number(n, _)) => Ok(format!("-{n}")),
                    _ => Err(self.syntax()),
                }
            }
            Some(Token::Word(w)) => {
                let v = w.value.clone();
                self.i += 1;
                Ok(v)
            }
            _ => Err(self.syntax()),
        }
    }

    /// `( a, b, c )` of identifiers.
    pub(crate) fn ident_list(&mut self) -> Result<Vec<String>, SimError> {
        self.expect(&Token::LParen)?;
        let mut out = Vec::new();
        loop {
            out.push(self.ident()?);
            if self.eat(&Token::Comma) {
                continue;
            }
            self.expect(&Token::RParen)?;
            return Ok(out);
        }
    }

    /// `PROPERTIES ("k" = "v", ...)` body after the keyword; keys and values must be strings.
    pub(crate) fn properties(&mut self) -> Result<Vec<(String, String)>, SimError> {
        self.expect(&Token::LParen)?;
        let mut out = Vec::new();
        if self.eat(&Token::RParen) {
            return Ok(out);
        }
        loop {
            let k = self.string()?;
            self.expect(&Token::Eq)?;
            let v = self.string()?;
            out.push((k, v));
            if self.eat(&Token::Comma) {
                continue;
            }
            self.expect(&Token::RParen)?;
            return Ok(out);
        }
    }

    /// Skips a balanced parenthesised group starting at the current `(`.
    pub(crate) fn skip_group(&mut self) -> Result<(), SimError> {
        self.expect(&Token::LParen)?;
        let mut depth = 1;
        while depth > 0 {
            match self.next() {
                Some(Token::LParen) => depth += 1,
                Some(Token::RParen) => depth -= 1,
                Some(_) => {}
                None => return Err(self.syntax()),
            }
        }
        Ok(())
    }

    pub(crate) fn expect_end(&self) -> Result<(), SimError> {
        if self.at_end() {
            Ok(())
        } else {
            Err(self.syntax())
        }
    }
}

/// Words that end a FROM list or cannot be a table alias.
const CLAUSE_WORDS: &[&str] = &[
    "WHERE",
    "GROUP",
    "ORDER",
    "LIMIT",
    "HAVING",
    "UNION",
    "ON",
    "USING",
    "SET",
    "WINDOW",
    "JOIN",
    "LEFT",
    "RIGHT",
    "INNER",
    "OUTER",
    "CROSS",
    "FULL",
    "NATURAL",
    "VALUES",
    "SELECT",
    "EXCEPT",
    "INTERSECT",
    "PARTITION",
    "FOR",
    "OFFSET",
    "WITH",
];

fn is_clause_word(t: &Token) -> bool {
    matches!(t, Token::Word(w) if w.quote_style.is_none() && CLAUSE_WORDS.iter().any(|k| w.value.eq_ignore_ascii_case(k)))
}

/// A table reference found while translating.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TableRef {
    pub(crate) db: Option<String>,
    pub(crate) table: String,
}

/// Maps `(db?, table)` to the qualified `(db, table)` or the analyzer's error.
pub(crate) type Resolver<'a> =
    dyn FnMut(Option<&str>, &str) -> Result<(String, String), SimError> + 'a;

/// The result of translating a DML/query statement for SQLite.
pub(crate) struct Translated {
    pub(crate) sql: String,
    pub(crate) tables: Vec<TableRef>,
    /// `INSERT INTO t PARTITION (p)`: the named partitions (clause removed from `sql`).
    pub(crate) partitions: Vec<String>,
}

fn word_is(t: Option<&Token>, kw: &str) -> bool {
    matches!(t, Some(Token::Word(w)) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(kw))
}

/// Re-emits a MySQL statement for SQLite: string literals re-quoted, table names qualified by
/// `resolve(db, table) -> (db, table)`, `INSERT ... PARTITION (p)` removed, MySQL-only spellings mapped.
pub(crate) fn translate(sql: &str, resolve: &mut Resolver<'_>) -> Result<Translated, SimError> {
    let toks = tokenize(sql)?;
    // indices of significant tokens, to look ahead past whitespace
    let sig: Vec<usize> = (0..toks.len()).filter(|&i| !is_ws(&toks[i])).collect();
    let mut sig_pos = vec![usize::MAX; toks.len()];
    for (k, &i) in sig.iter().enumerate() {
        sig_pos[i] = k;
    }
    let nth = |i: usize, k: usize| -> Option<&Token> {
        let p = sig_pos[i];
        sig.get(p + k).map(|&j| &toks[j])
    };
    // CTE names are not tables
    let mut ctes: Vec<String> = Vec::new();
    for k in 0..sig.len().saturating_sub(2) {
        if let (Token::Word(w), true, Token::LParen) = (
            &toks[sig[k]],
            word_is(Some(&toks[sig[k + 1]]), "AS"),
            &toks[sig[k + 2]],
        ) {
            ctes.push(w.value.to_ascii_lowercase());
        }
    }

    let mut out = String::with_capacity(sql.len() + 16);
    let mut tables = Vec::new();
    let mut partitions = Vec::new();
    let mut depth: i32 = 0;
    let mut expect_table = false;
    let mut from_depth: Option<i32> = None;
    let mut cast_depths: Vec<i32> = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let t = &toks[i];
        if is_ws(t) {
            match t {
                Token::Whitespace(Whitespace::SingleLineComment { .. })
                | Token::Whitespace(Whitespace::MultiLineComment(_)) => out.push(' '),
                other => out.push_str(&other.to_string()),
            }
            i += 1;
            continue;
        }
        match t {
            Token::SemiColon if sig_pos[i] + 1 == sig.len() => {
                i += 1;
                continue;
            }
            Token::SemiColon => {
                return Err(err(
                    ER_PARSE,
                    "Getting syntax error. Detail message: multi-statements are not supported.",
                ))
            }
            Token::LParen => {
                depth += 1;
                expect_table = false;
                out.push('(');
            }
            Token::RParen => {
                if cast_depths.last() == Some(&depth) {
                    cast_depths.pop();
                }
                depth -= 1;
                if from_depth.is_some_and(|d| d > depth) {
                    from_depth = None;
                }
                out.push(')');
            }
            Token::Comma => {
                if from_depth == Some(depth) {
                    expect_table = true;
                }
                out.push(',');
            }
            Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => {
                out.push_str(&sqlite_str(s));
            }
            Token::Word(w) if expect_table => {
                expect_table = false;
                // qualified?
                let (db, name, consumed) = if matches!(nth(i, 1), Some(Token::Period))
                    && matches!(nth(i, 2), Some(Token::Word(_)))
                {
                    let second = match nth(i, 2) {
                        Some(Token::Word(w2)) => w2.value.clone(),
                        _ => String::new(),
                    };
                    (Some(w.value.clone()), second, 3)
                } else {
                    (None, w.value.clone(), 1)
                };
                if db.is_none() && ctes.contains(&name.to_ascii_lowercase()) {
                    out.push_str(&t.to_string());
                } else {
                    let (rdb, rt) = resolve(db.as_deref(), &name)?;
                    tables.push(TableRef {
                        db: Some(rdb.clone()),
                        table: rt.clone(),
                    });
                    out.push_str(&table_ident(&rdb, &rt));
                    // SQLite sees one table named "db.t": alias it so `t.col` still resolves
                    let after = nth(i, consumed);
                    let has_alias = match after {
                        Some(tok @ Token::Word(_)) => !is_clause_word(tok) || word_is(after, "AS"),
                        _ => false,
                    };
                    if !has_alias {
                        out.push_str(&format!(" AS {}", sqlite_ident(&name)));
                    }
                    // skip the consumed significant tokens
                    let last = sig[sig_pos[i] + consumed - 1];
                    i = last + 1;
                    // INSERT INTO t PARTITION (p, ...): remember and drop
                    let mut j = i;
                    while j < toks.len() && is_ws(&toks[j]) {
                        j += 1;
                    }
                    if j < toks.len()
                        && (word_is(Some(&toks[j]), "PARTITION")
                            || word_is(Some(&toks[j]), "PARTITIONS"))
                        && matches!(nth(j, 1), Some(Token::LParen))
                    {
                        let mut k = sig_pos[j] + 2;
                        while k < sig.len() {
                            match &toks[sig[k]] {
                                Token::RParen => break,
                                Token::Word(pw) => partitions.push(pw.value.clone()),
                                _ => {}
                            }
                            k += 1;
                        }
                        i = sig.get(k).map(|&x| x + 1).unwrap_or(toks.len());
                    }
                    continue;
                }
            }
            Token::Word(w) if w.quote_style.is_none() => {
                let up = w.value.to_ascii_uppercase();
                match up.as_str() {
                    "FROM" => {
                        expect_table = true;
                        from_depth = Some(depth);
                        out.push_str(&w.value);
                    }
                    "JOIN" | "INTO" | "UPDATE" => {
                        expect_table = true;
                        out.push_str(&w.value);
                    }
                    "INSERT" if word_is(nth(i, 1), "OVERWRITE") => {
                        // handled by the caller; emit as INSERT INTO
                        out.push_str("INSERT INTO");
                        i = sig[sig_pos[i] + 1] + 1;
                        expect_table = true;
                        continue;
                    }
                    "CURRENT_TIMESTAMP" | "LOCALTIME" | "LOCALTIMESTAMP" => {
                        out.push_str("now()");
                        if matches!(nth(i, 1), Some(Token::LParen))
                            && matches!(nth(i, 2), Some(Token::RParen))
                        {
                            i = sig[sig_pos[i] + 2] + 1;
                            continue;
                        }
                    }
                    "CAST" => {
                        cast_depths.push(depth + 1);
                        out.push_str(&w.value);
                    }
                    "AS" if cast_depths.last() == Some(&depth) => {
                        out.push_str("AS");
                        // map the target type
                        if let Some(Token::Word(ty)) = nth(i, 1) {
                            let tu = ty.value.to_ascii_uppercase();
                            let mapped = match tu.as_str() {
                                "DATETIME" | "DATE" | "VARCHAR" | "STRING" | "CHAR" | "JSON" => {
                                    Some("TEXT")
                                }
                                "SIGNED" | "UNSIGNED" | "BIGINT" | "INT" | "LARGEINT"
                                | "TINYINT" | "SMALLINT" | "BOOLEAN" => Some("INTEGER"),
                                "DOUBLE" | "FLOAT" | "DECIMAL" => Some("REAL"),
                                _ => None,
                            };
                            if let Some(m) = mapped {
                                out.push(' ');
                                out.push_str(m);
                                // skip the type word and an optional (n[,m])
                                let mut k = sig_pos[i] + 2;
                                if matches!(sig.get(k).map(|&x| &toks[x]), Some(Token::LParen)) {
                                    while k < sig.len() && !matches!(toks[sig[k]], Token::RParen) {
                                        k += 1;
                                    }
                                    k += 1;
                                }
                                i = sig.get(k).copied().unwrap_or(toks.len());
                                continue;
                            }
                        }
                    }
                    _ => {
                        if from_depth == Some(depth)
                            && is_clause_word(t)
                            && up != "JOIN"
                            && !matches!(
                                up.as_str(),
                                "LEFT" | "RIGHT" | "INNER" | "OUTER" | "CROSS" | "FULL" | "NATURAL"
                            )
                        {
                            from_depth = None;
                        }
                        out.push_str(&w.value);
                    }
                }
            }
            other => {
                out.push_str(&other.to_string());
            }
        }
        i += 1;
    }
    Ok(Translated {
        sql: out,
        tables,
        partitions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tr(sql: &str) -> Translated {
        translate(sql, &mut |db, t| {
            Ok((db.unwrap_or("d").to_string(), t.to_string()))
        })
        .unwrap()
    }

    #[test]
    fn escapes_become_sqlite_literals() {
        let t = tr(r"INSERT INTO t VALUES ('it\'s', 'a\\b', '''', 'x\ny')");
        assert_eq!(
            t.sql,
            "INSERT INTO \"d.t\" AS \"t\" VALUES ('it''s', 'a\\b', '''', 'x\ny')"
        );
    }

    #[test]
    fn qualifies_from_lists_and_joins() {
        let t = tr("SELECT a.x FROM t1 a, s.t2 b JOIN t3 ON 1=1 WHERE x IN (SELECT y FROM t4)");
        let names: Vec<_> = t.tables.iter().map(|r| r.table.clone()).collect();
        assert_eq!(names, vec!["t1", "t2", "t3", "t4"]);
        assert!(t.sql.contains("\"s.t2\" b"), "{}", t.sql);
        assert!(t.sql.contains("\"d.t1\" a,"), "{}", t.sql);
        assert!(t.sql.contains("\"d.t3\" AS \"t3\" ON"), "{}", t.sql);
    }

    #[test]
    fn insert_partition_clause_is_removed() {
        let t = tr("INSERT INTO s.t PARTITION (p1) (a) VALUES (1)");
        assert_eq!(t.partitions, vec!["p1"]);
        assert_eq!(t.sql, "INSERT INTO \"s.t\" AS \"t\" (a) VALUES (1)");
    }
}
