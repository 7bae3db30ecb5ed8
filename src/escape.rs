//! Names shown to people and names handed to programs are two different things: a file name
//! can hold any byte but NUL and `/`, and printed raw its ESC, BEL or newline would drive the
//! terminal or forge a line of output. Human text escapes them (as GNU `ls -b` does, in a
//! form bash's `$'...'` reads back); `--json` carries the exact bytes.

use std::fmt::Write as _;

/// A name or other untrusted text for people: control characters (C0, DEL, C1), the
/// characters that reorder or break a line (bidirectional overrides, U+2028/U+2029) and the
/// bytes of invalid UTF-8 are escaped; a literal backslash is doubled so that every escape is
/// unambiguous. `\n`, `\t`, `\r`, `\a`, `\b`, `\f`, `\v` and `\e` by name, the rest as `\xNN`
/// per byte.
pub fn bytes(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len());
    for chunk in b.utf8_chunks() {
        push(&mut out, chunk.valid(), true);
        for byte in chunk.invalid() {
            let _ = write!(out, "\\x{byte:02x}");
        }
    }
    out
}

/// [`bytes`] for text that is already a string (a container name, an environment value, a
/// path read back lossily).
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push(&mut out, s, true);
    out
}

/// The last line of defence where messages are printed: the same escapes as [`bytes`] for
/// control and line-breaking characters, but a backslash is left alone, so a message whose
/// names were already escaped passes unchanged (escaping is not applied twice).
pub fn controls(s: &str) -> String {
    if !s.chars().any(needs_escape) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    push(&mut out, s, false);
    out
}

/// Whether [`controls`] would change `c`.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200e}' | '\u{200f}' | '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

fn push(out: &mut String, s: &str, backslash: bool) {
    for c in s.chars() {
        match c {
            '\\' if backslash => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\x0b' => out.push_str("\\v"),
            '\x1b' => out.push_str("\\e"),
            c if needs_escape(c) => {
                let mut buf = [0u8; 4];
                for byte in c.encode_utf8(&mut buf).bytes() {
                    let _ = write!(out, "\\x{byte:02x}");
                }
            }
            c => out.push(c),
        }
    }
}

/// Text for a JSON string field: exactly the bytes when they are UTF-8 (JSON encoding takes
/// care of control characters), U+FFFD for each invalid sequence otherwise; pair it with
/// [`hex_if_not_utf8`] so that such a name still round-trips.
pub fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The bytes in hex when they are not UTF-8 (the `*_hex` companion of a JSON name field),
/// `None` when the string field alone is exact.
pub fn hex_if_not_utf8(b: &[u8]) -> Option<String> {
    std::str::from_utf8(b).is_err().then(|| hex::encode(b))
}

/// The JSON fields for a byte name: `"KEY": text` and, when the bytes are not UTF-8,
/// `"KEY_hex": "..."` with the exact bytes.
pub fn json_fields(key: &str, b: &[u8]) -> serde_json::Map<String, serde_json::Value> {
    let mut m = serde_json::Map::new();
    m.insert(key.to_string(), lossy(b).into());
    if let Some(h) = hex_if_not_utf8(b) {
        m.insert(format!("{key}_hex"), h.into());
    }
    m
}

/// `#[serde(flatten, serialize_with = "crate::escape::path_fields")]` on a `Vec<u8>` field:
/// `"path"` and, for a name that is not UTF-8, `"path_hex"` (see [`json_fields`]).
pub fn path_fields<S: serde::Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(None)?;
    m.serialize_entry("path", &lossy(b))?;
    if let Some(h) = hex_if_not_utf8(b) {
        m.serialize_entry("path_hex", &h)?;
    }
    m.end()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_drives_a_terminal_or_breaks_a_line() {
        assert_eq!(bytes(b"plain name.txt"), "plain name.txt");
        assert_eq!(bytes("mod\u{e8}le".as_bytes()), "mod\u{e8}le");
        assert_eq!(
            bytes(b"a\x1b[31mb\x07c\nd\re\tf\x7fg\x00"),
            "a\\e[31mb\\ac\\nd\\re\\tf\\x7fg\\x00"
        );
        assert_eq!(bytes(b"back\\slash"), "back\\\\slash");
        assert_eq!(bytes(b"bad\xff\xfeutf8"), "bad\\xff\\xfeutf8");
        // C1 CSI and a right-to-left override, as their UTF-8 bytes.
        assert_eq!(
            bytes("x\u{9b}y\u{202e}z".as_bytes()),
            "x\\xc2\\x9by\\xe2\\x80\\xaez"
        );
        assert_eq!(text("a\nb\\"), "a\\nb\\\\");
    }

    #[test]
    fn a_forged_line_stays_on_its_line() {
        let shown = bytes(b"/x\n-  removed /etc/shadow");
        assert!(!shown.contains('\n'));
        assert_eq!(shown, "/x\\n-  removed /etc/shadow");
    }

    #[test]
    fn escaping_is_unambiguous() {
        // A real backslash-x sequence and a real byte never look the same.
        assert_ne!(bytes(b"\\x1b"), bytes(b"\x1b"));
        assert_ne!(bytes(b"\\e"), bytes(b"\x1b"));
        assert_ne!(bytes(b"\\xff"), bytes(b"\xff"));
    }

    #[test]
    fn controls_leave_escaped_text_alone() {
        let once = bytes(b"a\\b\x1bc");
        assert_eq!(controls(&once), once);
        assert_eq!(controls("warn\x1b]0;pwned\x07"), "warn\\e]0;pwned\\a");
        assert_eq!(controls("two\nlines"), "two\\nlines");
    }

    #[test]
    fn json_names_round_trip() {
        let m = json_fields("path", b"/ok/\x1b");
        assert_eq!(m["path"], "/ok/\x1b");
        assert!(!m.contains_key("path_hex"));
        let m = json_fields("path", b"/bad\xff");
        assert_eq!(m["path"], "/bad\u{fffd}");
        assert_eq!(
            hex::decode(m["path_hex"].as_str().unwrap()).unwrap(),
            b"/bad\xff"
        );
    }
}
