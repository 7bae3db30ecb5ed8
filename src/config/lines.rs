//! Where a problem is in a configuration file: the line of a key, the key on a line, and
//! setting aside the lines of a bad key so the rest is read on (`lifeboat config check` lists
//! every problem, each with its line).

use std::path::Path;

use crate::error::Error;

/// A problem found in a configuration file, with where it is.
pub(super) fn at(
    file: &Path,
    line: Option<usize>,
    key: &str,
    msg: impl std::fmt::Display,
) -> Error {
    let place = match line {
        Some(l) => format!("{}:{l}", file.display()),
        None => file.display().to_string(),
    };
    if key.is_empty() {
        Error::Invalid(format!("{place}: {msg}"))
    } else {
        Error::Invalid(format!("{place}: `{key}`: {msg}"))
    }
}

/// The 1-based line where `key` is set inside `[table]` (or at the top for an empty table).
pub(super) fn line_of(text: &str, table: &str, key: &str) -> Option<usize> {
    let mut current = String::new();
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if let Some(h) = l.strip_prefix('[').and_then(|h| h.split(']').next()) {
            current = h.trim().to_string();
            continue;
        }
        let Some((k, _)) = l.split_once('=') else {
            continue;
        };
        let k = k.trim().trim_matches('"');
        if current == table && k == key {
            return Some(i + 1);
        }
    }
    None
}

/// The dotted key set on 1-based `line` (`table.key`), or the table a header line names.
pub(super) fn key_at(text: &str, line: usize) -> String {
    let mut table = String::new();
    for (i, l) in text.lines().enumerate().take(line) {
        let l = l.trim();
        if let Some(h) = l.strip_prefix('[').and_then(|h| h.split(']').next()) {
            table = h.trim_matches(|c| c == '[' || c == ' ').to_string();
            if i + 1 == line {
                return table;
            }
        } else if i + 1 == line {
            let key = l
                .split_once('=')
                .map_or("", |(k, _)| k.trim().trim_matches('"'));
            return match (table.is_empty(), key.is_empty()) {
                (_, true) => table,
                (true, false) => key.to_string(),
                (false, false) => format!("{table}.{key}"),
            };
        }
    }
    String::new()
}

/// Blank (keeping the line count) the lines `span` touches, and for a table header the
/// table's lines up to the next header, so the text reads on without them. False when nothing
/// changed.
pub(super) fn blank_lines(text: &mut String, span: std::ops::Range<usize>) -> bool {
    let start = text[..span.start.min(text.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let line_end = |from: usize| text[from..].find('\n').map_or(text.len(), |i| from + i);
    let mut end = line_end(span.end.saturating_sub(1).max(start).min(text.len()));
    if text[start..end].trim_start().starts_with('[') {
        // A whole table: up to the next header.
        while end < text.len() {
            let next = end + 1;
            let next_end = line_end(next);
            if text[next..next_end].trim_start().starts_with('[') {
                break;
            }
            end = next_end;
        }
    }
    // Byte for byte, so that later errors' offsets still point into the original text.
    let blanked: String = text[start..end]
        .chars()
        .map(|c| match c {
            '\n' => "\n".to_string(),
            c => " ".repeat(c.len_utf8()),
        })
        .collect();
    if blanked == text[start..end] {
        return false;
    }
    text.replace_range(start..end, &blanked);
    true
}
