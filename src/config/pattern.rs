//! `tables:` / `exclude:` patterns (`hr.*`, `hr.tmp_*`), matched against the tables the cluster has.

use std::fmt;

use super::TableRef;

/// A `tables:` / `exclude:` entry with a wildcard in the table part (`hr.*`, `hr.tmp_*`): `*` any
/// run of characters, `?` one. The database part is always literal.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TablePattern {
    pub database: String,
    pub table: String,
}

impl TablePattern {
    /// `Ok(None)` for a plain `db.table` (no wildcard).
    pub fn parse(s: &str) -> Result<Option<TablePattern>, String> {
        let Some((db, table)) = s.split_once('.') else {
            return Err(format!("'{s}' must be written as db.table or db.*"));
        };
        if db.contains(['*', '?']) {
            return Err(format!(
                "'{s}': wildcards are allowed in the table part only (db.*)"
            ));
        }
        // A pattern is name characters and wildcards only. StarRocks allows `*` in a quoted table
        // name, so anything else (`o;rd--er/*s*/`) is that literal name: found or reported missing,
        // never a pattern silently matching nothing.
        let pattern = table.contains(['*', '?'])
            && table
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '$' | '*' | '?'));
        if !pattern {
            return Ok(None);
        }
        TableRef::parse(&format!("{db}.{}", table.replace(['*', '?'], "x")))?;
        Ok(Some(TablePattern {
            database: db.to_string(),
            table: table.to_string(),
        }))
    }

    pub fn matches(&self, t: &TableRef) -> bool {
        t.database == self.database && glob(self.table.as_bytes(), t.table.as_bytes())
    }
}

impl fmt::Display for TablePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.database, self.table)
    }
}

/// `*` / `?` glob over bytes (iterative, with one backtrack point: linear in practice).
pub(super) fn glob(p: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        match p.get(pi) {
            Some(b'*') => {
                star = Some((pi, si));
                pi += 1;
            }
            Some(&c) if c == b'?' || c == s[si] => {
                pi += 1;
                si += 1;
            }
            _ => match star {
                Some((sp, ss)) => {
                    pi = sp + 1;
                    si = ss + 1;
                    star = Some((sp, ss + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}
