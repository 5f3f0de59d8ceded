//! Prepared statements as the FE answers them: placeholders, parameter binding as SQL literals,
//! text result columns.

use opensrv_mysql::{Column, ColumnFlags, ColumnType, ValueInner};

use crate::SimError;

/// Result-set column definitions: every column is a VARCHAR, as the FE's text answers are.
pub(crate) fn text_columns(names: &[String]) -> Vec<Column> {
    names
        .iter()
        .map(|c| Column {
            table: String::new(),
            column: c.clone(),
            coltype: ColumnType::MYSQL_TYPE_VAR_STRING,
            colflags: ColumnFlags::empty(),
        })
        .collect()
}

/// StarRocks ConnectProcessor.handleExecute for an id it does not know: `setError` (errno 1047),
/// no statement run, nothing audited.
pub(crate) fn unknown_stmt(id: u32) -> SimError {
    SimError {
        code: 1047,
        message: format!("msg: Not Found prepared statement, stmtName: {id}"),
    }
}

/// Byte offsets of the `?` placeholders of `sql`: those outside quotes, backticks and comments.
pub(crate) fn placeholders(sql: &str) -> Vec<usize> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            q @ (b'\'' | b'"' | b'`') => {
                i += 1;
                while i < b.len() && b[i] != q {
                    // backslash escapes inside string literals (not in identifiers)
                    if b[i] == b'\\' && q != b'`' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'-' if b.get(i + 1) == Some(&b'-')
                && b.get(i + 2).is_none_or(|c| c.is_ascii_whitespace()) =>
            {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < b.len() && !(b[i] == b'*' && b.get(i + 1) == Some(&b'/')) {
                    i += 1;
                }
                i += 1;
            }
            b'?' => out.push(i),
            _ => {}
        }
        i += 1;
    }
    out
}

/// `sql` with its placeholders replaced, in order, by `literals` (as many as there are placeholders).
pub(crate) fn bind(sql: &str, literals: &[String]) -> String {
    let mut out =
        String::with_capacity(sql.len() + literals.iter().map(String::len).sum::<usize>());
    let mut last = 0;
    for (pos, lit) in placeholders(sql).into_iter().zip(literals) {
        out.push_str(&sql[last..pos]);
        out.push_str(lit);
        last = pos + 1;
    }
    out.push_str(&sql[last..]);
    out
}

/// A single-quoted SQL string literal with MySQL backslash escapes.
pub(crate) fn str_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\0' => out.push_str("\\0"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{1a}' => out.push_str("\\Z"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// A bound COM_STMT_EXECUTE parameter as a SQL literal.
pub(crate) fn param_literal(v: ValueInner<'_>) -> String {
    fn ymd(b: &[u8]) -> String {
        match b {
            [y0, y1, m, d, ..] => format!("{:04}-{m:02}-{d:02}", u16::from_le_bytes([*y0, *y1])),
            _ => "0000-00-00".to_string(),
        }
    }
    fn hms(h: u32, b: &[u8]) -> String {
        match b {
            [m, s, rest @ ..] => {
                let mut t = format!("{h:02}:{m:02}:{s:02}");
                if let [u0, u1, u2, u3] = rest {
                    let us = u32::from_le_bytes([*u0, *u1, *u2, *u3]);
                    if us != 0 {
                        t.push_str(&format!(".{us:06}"));
                    }
                }
                t
            }
            _ => format!("{h:02}:00:00"),
        }
    }
    match v {
        ValueInner::NULL => "NULL".to_string(),
        ValueInner::Int(i) => i.to_string(),
        ValueInner::UInt(u) => u.to_string(),
        ValueInner::Double(f) if f.is_finite() => format!("{f:?}"),
        ValueInner::Double(_) => "NULL".to_string(),
        ValueInner::Bytes(b) => match std::str::from_utf8(b) {
            Ok(s) => str_literal(s),
            Err(_) => {
                let hex: String = b.iter().map(|x| format!("{x:02X}")).collect();
                format!("X'{hex}'")
            }
        },
        ValueInner::Date(b) => str_literal(&ymd(b)),
        ValueInner::Datetime(b) => match b.get(4) {
            Some(&h) => str_literal(&format!("{} {}", ymd(b), hms(u32::from(h), &b[5..]))),
            None => str_literal(&format!("{} 00:00:00", ymd(b))),
        },
        ValueInner::Time(b) => match b {
            [neg, d0, d1, d2, d3, h, rest @ ..] => {
                let days = u32::from_le_bytes([*d0, *d1, *d2, *d3]);
                let sign = if *neg != 0 { "-" } else { "" };
                str_literal(&format!("{sign}{}", hms(days * 24 + u32::from(*h), rest)))
            }
            _ => str_literal("00:00:00"),
        },
    }
}
