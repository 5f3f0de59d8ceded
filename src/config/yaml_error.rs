//! YAML and type errors of the config as one operator line: `bad config FILE:LINE: key 'a.b' <what>`.
//! The dotted key is rebuilt from the YAML indentation at the parser's location (serde-saphyr gives a
//! line and column, not a path), and the parser's wording is translated.

use std::path::Path;

use crate::error::BbrError;

/// A YAML/type error as one line naming the file, line and the dotted key really at fault, in
/// operator words (no Rust type names, no parser options).
pub(super) fn yaml_error(path: &Path, text: &str, e: &serde_saphyr::Error) -> BbrError {
    let msg = short_message(e);
    let (line, col) = e
        .location()
        .map(|l| (l.line(), l.column()))
        .unwrap_or((0, 0));
    let here = key_path(text, line, col);
    let (line, key, what) = if let Some(field) = between(&msg, "missing field `", "`") {
        // The location is somewhere inside the mapping that lacks the field: name the mapping.
        let parent = parent_path(text, line);
        let key = if parent.is_empty() {
            field.to_string()
        } else {
            format!("{}.{field}", parent.join("."))
        };
        let at = parent.last().and_then(|p| key_line(text, p)).unwrap_or(0);
        (at, Some(key), "is missing".to_string())
    } else if msg.starts_with("duplicate mapping key") {
        (line, here, "appears twice; keep one".to_string())
    } else {
        (line, here, operator_words(&msg))
    };
    let loc = if line > 0 {
        format!(":{line}")
    } else {
        String::new()
    };
    let key = key.map(|k| format!(": key '{k}'")).unwrap_or_default();
    BbrError::usage(
        format!("bad config {}{loc}{key} {what}", path.display()),
        "fix the config file",
    )
}

fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let i = s.find(start)? + start.len();
    let j = s[i..].find(end)? + i;
    Some(&s[i..j])
}

/// The parser's words for what was expected, as an operator reads them.
fn operator_words(msg: &str) -> String {
    const TYPES: [(&str, &str); 9] = [
        ("invalid u16", "must be a whole number from 1 to 65535"),
        ("invalid u32", "must be a whole number (0 or more)"),
        ("invalid u64", "must be a whole number (0 or more)"),
        ("invalid i64", "must be a whole number"),
        ("invalid bool", "must be true or false"),
        (
            "expected sequence start",
            "must be a list (`- item` lines or [a, b])",
        ),
        (
            "expected mapping start",
            "must be a mapping (`key: value` lines or {a: 1})",
        ),
        (
            "did not find expected key",
            "is not indented like its neighbours (or a `key:` is malformed)",
        ),
        ("invalid type: ", "has the wrong kind of value: "),
    ];
    for (k, words) in TYPES {
        if let Some(i) = msg.find(k) {
            if k.ends_with(": ") {
                return format!("{words}{}", &msg[i + k.len()..]);
            }
            return words.to_string();
        }
    }
    format!("is wrong: {msg}")
}

/// Leading spaces of a line (YAML indentation).
fn indent(l: &str) -> usize {
    l.len() - l.trim_start_matches([' ', '-']).len()
}

/// The block key a line holds (`key: ...` or `- key: ...`).
fn line_key(l: &str) -> Option<String> {
    let l = l.trim_start().trim_start_matches("- ");
    let (k, _) = l.split_once(':')?;
    let k = k.trim();
    (!k.is_empty() && !k.contains([' ', '{', '[', '#'])).then(|| k.to_string())
}

/// 1-based line of the first block key `key` (for naming where a missing field belongs).
pub(super) fn key_line(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .position(|l| line_key(l).as_deref() == Some(key))
        .and_then(|i| u64::try_from(i + 1).ok())
}

/// The block keys enclosing 1-based `line` (outermost first), by indentation.
fn parent_path(text: &str, line: u64) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let Some(n) = usize::try_from(line)
        .ok()
        .filter(|&n| n >= 1 && n <= lines.len())
    else {
        return Vec::new();
    };
    let mut level = indent(lines[n - 1]);
    let mut out = Vec::new();
    for l in lines[..n - 1].iter().rev() {
        if l.trim().is_empty() || l.trim_start().starts_with('#') {
            continue;
        }
        if indent(l) < level {
            if let Some(k) = line_key(l) {
                out.push(k);
            }
            level = indent(l);
        }
    }
    out.reverse();
    out
}

/// The dotted key at (line, column): enclosing block keys, the line's own key, and within a flow
/// mapping (`retry: {attempts: 0}`) the last key before the column.
fn key_path(text: &str, line: u64, col: u64) -> Option<String> {
    let n = usize::try_from(line).ok()?;
    let l = text.lines().nth(n.checked_sub(1)?)?;
    let mut path = parent_path(text, line);
    match line_key(l) {
        Some(k) => path.push(k),
        None => {
            // a continued value: the key of the nearest line above
            path = parent_path(text, line);
            let above = key_at_line(text, line)?;
            if path.last() != Some(&above) {
                path.push(above);
            }
        }
    }
    let upto: String = l
        .chars()
        .take(usize::try_from(col).unwrap_or(0).saturating_sub(1))
        .collect();
    if let Some(brace) = upto.rfind('{') {
        let inner = &upto[brace..];
        if let Some(k) = inner
            .rsplit([',', '{'])
            .find_map(|part| part.split_once(':').map(|(k, _)| k.trim().to_string()))
            .filter(|k| !k.is_empty())
        {
            path.push(k);
        }
    }
    (!path.is_empty()).then(|| path.join("."))
}

/// The first line of serde-saphyr's message, without its source snippet and its own location prefix
/// (`error: line X column Y: `), which is printed already.
fn short_message(e: &serde_saphyr::Error) -> String {
    let full = e.to_string();
    let mut msg = full.lines().next().unwrap_or("invalid YAML").trim();
    msg = msg.strip_prefix("error:").unwrap_or(msg).trim();
    if msg.starts_with("line ") {
        if let Some(i) = msg.find(": ") {
            msg = &msg[i + 2..];
        }
    }
    msg.to_string()
}

/// The mapping key on a 1-based line (`key: ...` or `- key: ...`), or on the nearest line above it
/// (a value continued on the next line).
fn key_at_line(text: &str, line: u64) -> Option<String> {
    let n = usize::try_from(line).ok()?;
    let lines: Vec<&str> = text.lines().take(n).collect();
    lines.iter().rev().find_map(|l| {
        let l = l.trim_start().trim_start_matches("- ");
        let (k, _) = l.split_once(':')?;
        let k = k.trim();
        (!k.is_empty() && !k.contains(' ') && !k.starts_with('#')).then(|| k.to_string())
    })
}
