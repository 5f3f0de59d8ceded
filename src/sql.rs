//! THE audited quoting helper. Every identifier and literal that reaches the cluster goes through
//! [`ident`], [`qualified`] or [`literal`]; statements are sent as plain text (no prepared statements,
//! see STARROCKS.md §5), so this file is the only defence against injection and broken SQL.

/// Quotes an identifier with backticks; an embedded backtick is doubled (MySQL rule).
pub fn ident(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('`');
    for c in name.chars() {
        if c == '`' {
            out.push('`');
        }
        out.push(c);
    }
    out.push('`');
    out
}

/// `db`.`table`
pub fn qualified(db: &str, table: &str) -> String {
    format!("{}.{}", ident(db), ident(table))
}

/// Quotes a string literal with single quotes, backslash-escaping `\`, `'` and the control
/// characters MySQL has escapes for. Other control characters cannot end a literal and pass as-is.
pub fn literal(value: &str) -> String {
    quoted(value, '\'')
}

/// `value` between `quote`s, backslash-escaping `\`, the quote and MySQL's control-character escapes.
fn quoted(value: &str, quote: char) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push(quote);
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            '\0' => out.push_str("\\0"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{1a}' => out.push_str("\\Z"),
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// A double-quoted string, as StarRocks PROPERTIES are written (`"key" = "value"`); the same escapes
/// as [`literal`], with `"` escaped instead of `'`.
pub fn dquote(value: &str) -> String {
    quoted(value, '"')
}

/// `"key" = "value"` for a PROPERTIES list.
pub fn property(key: &str, value: &str) -> String {
    format!("{} = {}", dquote(key), dquote(value))
}

/// A literal or `NULL`.
pub fn opt_literal(value: Option<&str>) -> String {
    match value {
        Some(v) => literal(v),
        None => "NULL".to_string(),
    }
}

/// `('a', 'b', ...)` for IN lists; callers never pass an empty slice (checked).
pub fn literal_list<S: AsRef<str>>(values: &[S]) -> String {
    if values.is_empty() {
        // An empty IN () is a syntax error; a list that can match nothing is the honest equivalent.
        return "(NULL)".to_string();
    }
    let items: Vec<String> = values.iter().map(|v| literal(v.as_ref())).collect();
    format!("({})", items.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Parses a literal back the way MySQL's lexer does; returns None if the text is not ONE literal.
    fn unescape_literal(s: &str) -> Option<String> {
        let mut chars = s.chars();
        if chars.next()? != '\'' {
            return None;
        }
        let mut out = String::new();
        loop {
            match chars.next()? {
                '\\' => match chars.next()? {
                    '0' => out.push('\0'),
                    'n' => out.push('\n'),
                    'r' => out.push('\r'),
                    't' => out.push('\t'),
                    'b' => out.push('\u{8}'),
                    'Z' => out.push('\u{1a}'),
                    c => out.push(c),
                },
                '\'' => {
                    return if chars.next().is_none() {
                        Some(out)
                    } else {
                        None
                    };
                }
                c => out.push(c),
            }
        }
    }

    fn unquote_ident(s: &str) -> Option<String> {
        let inner = s.strip_prefix('`')?.strip_suffix('`')?;
        let mut out = String::new();
        let mut chars = inner.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '`' && chars.next()? != '`' {
                return None;
            }
            out.push(c);
        }
        Some(out)
    }

    #[test]
    fn literal_examples() {
        assert_eq!(literal("a"), "'a'");
        assert_eq!(literal("it's"), "'it\\'s'");
        assert_eq!(literal("a\\'; DROP"), "'a\\\\\\'; DROP'");
        assert_eq!(literal("x\ny"), "'x\\ny'");
        assert_eq!(opt_literal(None), "NULL");
        assert_eq!(literal_list(&["a", "b"]), "('a', 'b')");
    }

    #[test]
    fn dquote_examples() {
        assert_eq!(
            dquote("2026-01-01-00-00-13-000"),
            "\"2026-01-01-00-00-13-000\""
        );
        assert_eq!(dquote("a\"b'c\\"), "\"a\\\"b'c\\\\\"");
        assert_eq!(property("timeout", "600"), "\"timeout\" = \"600\"");
    }

    #[test]
    fn ident_examples() {
        assert_eq!(ident("sales"), "`sales`");
        assert_eq!(ident("we`ird"), "`we``ird`");
        assert_eq!(qualified("a", "b"), "`a`.`b`");
    }

    proptest! {
        #[test]
        fn literal_round_trips(s in any::<String>()) {
            let lit = literal(&s);
            prop_assert_eq!(unescape_literal(&lit), Some(s));
        }

        #[test]
        fn literal_has_no_raw_quote_or_newline(s in any::<String>()) {
            let lit = literal(&s);
            let inner = &lit[1..lit.len() - 1];
            let mut escaped = false;
            for c in inner.chars() {
                if escaped { escaped = false; continue; }
                prop_assert!(c != '\'' && c != '\n' && c != '\r' && c != '\0');
                if c == '\\' { escaped = true; }
            }
            prop_assert!(!escaped);
        }

        #[test]
        fn dquote_round_trips(s in any::<String>()) {
            // the same lexer rules with the quote characters swapped
            let d = dquote(&s);
            let swapped: String = d.chars().map(|c| match c { '"' => '\'', '\'' => '"', c => c }).collect();
            let back = unescape_literal(&swapped).map(|u| u.chars().map(|c| match c { '"' => '\'', '\'' => '"', c => c }).collect::<String>());
            prop_assert_eq!(back, Some(s));
        }

        #[test]
        fn ident_round_trips(s in any::<String>()) {
            prop_assert_eq!(unquote_ident(&ident(&s)), Some(s));
        }
    }
}
