//! The one glob matcher: `snapshot --exclude`, `restore --include`/`--exclude`, `find`, the
//! host profile's patterns and the audit's reading of sshd's `Include` all match paths through
//! it, so a pattern means the same everywhere.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use globset::{GlobSet, GlobSetBuilder};

use crate::error::{Error, Result};

/// Glob patterns as `--exclude` reads them (and `find` searches with): a pattern with a `/` is
/// matched against the absolute path, one without against the last component's name; `*` and
/// `?` never cross a `/`, `**` does.
pub struct Matcher {
    full: GlobSet,
    name: GlobSet,
    paths: Vec<Vec<u8>>,
}

impl Matcher {
    /// Compile `patterns`; `what` names them in errors.
    pub fn globs(patterns: &[String], case_insensitive: bool, what: &str) -> Result<Matcher> {
        let mut full = GlobSetBuilder::new();
        let mut name = GlobSetBuilder::new();
        for p in patterns {
            let g = globset::GlobBuilder::new(p)
                .literal_separator(true)
                .backslash_escape(true)
                .case_insensitive(case_insensitive)
                .build()
                .map_err(|e| Error::Invalid(format!("{what} {p:?}: {e}")))?;
            if p.contains('/') {
                full.add(g)
            } else {
                name.add(g)
            };
        }
        let build = |b: GlobSetBuilder| {
            b.build()
                .map_err(|e| Error::Invalid(format!("{what}s: {e}")))
        };
        Ok(Matcher {
            full: build(full)?,
            name: build(name)?,
            paths: Vec::new(),
        })
    }

    /// The same matcher, also matching each of `paths` (absolute) and everything below it.
    pub(crate) fn with_paths(mut self, paths: &[PathBuf]) -> Matcher {
        self.paths = paths
            .iter()
            .map(|p| p.as_os_str().as_bytes().to_vec())
            .collect();
        self
    }

    /// Whether a pattern matches `path` (absolute).
    pub fn is_match(&self, path: &Path) -> bool {
        self.full.is_match(path) || path.file_name().is_some_and(|n| self.name.is_match(n))
    }

    pub(crate) fn excludes(&self, path: &Path) -> bool {
        let b = path.as_os_str().as_bytes();
        self.paths.iter().any(|p| crate::util::is_within(b, p)) || self.is_match(path)
    }
}

/// The glob (in [`Matcher`]'s syntax) that matches what `pattern` matches when `*` is its only
/// special character, standing for any run of characters within one name (the host profile's
/// patterns, FORMAT.md §8.2): every other glob character escaped, runs of `*` made one.
pub fn star_only(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() * 2);
    let mut star = false;
    for c in pattern.chars() {
        match c {
            '*' if star => {}
            '*' => out.push('*'),
            '?' | '[' | ']' | '{' | '}' | ',' | '!' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
        star = c == '*';
    }
    out
}

/// A whole-path pattern read as glob(3) reads it (sshd's `Include`, which the audit follows):
/// `*`, `?` and `[...]` match within one component, `\\` escapes, a name that starts with `.`
/// is matched only by a pattern component that does too, and nothing else is special (no
/// `**`, no `{a,b}`). Built on [`Matcher`]'s glob engine.
pub struct PathGlob {
    glob: Option<globset::GlobMatcher>,
    pattern: String,
}

impl PathGlob {
    pub fn new(pattern: &str) -> PathGlob {
        let mut escaped = String::with_capacity(pattern.len() * 2);
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    escaped.push(c);
                    if let Some(n) = chars.next() {
                        escaped.push(n);
                    }
                }
                '*' if escaped.ends_with('*') && !escaped.ends_with("\\*") => {}
                '{' | '}' | ',' => {
                    escaped.push('\\');
                    escaped.push(c);
                }
                _ => escaped.push(c),
            }
        }
        // A pattern glob(3) cannot parse (an unclosed `[`) matches only itself.
        let glob = globset::GlobBuilder::new(&escaped)
            .literal_separator(true)
            .backslash_escape(true)
            .build()
            .ok()
            .map(|g| g.compile_matcher());
        PathGlob {
            glob,
            pattern: pattern.to_string(),
        }
    }

    pub fn is_match(&self, path: &str) -> bool {
        let Some(glob) = &self.glob else {
            return path == self.pattern;
        };
        let pattern: Vec<&str> = self.pattern.split('/').collect();
        let names: Vec<&str> = path.split('/').collect();
        pattern.len() == names.len()
            && pattern
                .iter()
                .zip(&names)
                .all(|(p, n)| !n.starts_with('.') || p.starts_with('.'))
            && glob.is_match(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(patterns: &[&str], path: &str) -> bool {
        let p: Vec<String> = patterns.iter().map(|s| (*s).to_string()).collect();
        Matcher::globs(&p, false, "pattern")
            .unwrap()
            .is_match(Path::new(path))
    }

    #[test]
    fn a_pattern_without_a_slash_matches_the_name_and_with_one_the_whole_path() {
        assert!(matches(&["*.log"], "/var/log/x.log"));
        assert!(!matches(&["*.log"], "/var/x.log/y"));
        assert!(matches(&["/var/*/x.log"], "/var/log/x.log"));
        assert!(
            !matches(&["/var/*"], "/var/log/x.log"),
            "* never crosses a /"
        );
        assert!(matches(&["/var/**"], "/var/log/x.log"));
    }

    #[test]
    fn paths_exclude_themselves_and_what_is_below() {
        let m = Matcher::globs(&[], false, "pattern")
            .unwrap()
            .with_paths(&[PathBuf::from("/repo")]);
        assert!(m.excludes(Path::new("/repo")) && m.excludes(Path::new("/repo/data/x")));
        assert!(!m.excludes(Path::new("/repository")));
        assert!(!m.is_match(Path::new("/repo")), "paths are not patterns");
    }

    #[test]
    fn star_only_patterns_keep_every_other_character_literal() {
        let name = |pattern: &str, name: &str| {
            Matcher::globs(&[star_only(pattern)], false, "pattern")
                .unwrap()
                .is_match(Path::new(name))
        };
        assert!(name("ssh_host_*", "ssh_host_ed25519_key"));
        assert!(!name("ssh_host_*", "sshd_config"));
        assert!(name("*", "alice") && name("*", ".hidden"));
        assert!(name("a*b*c", "aXbYc") && !name("a*b*c", "aXc"));
        assert!(name("a**b", "aXb"), "a run of stars is one star");
        assert!(name("plain", "plain") && !name("plain", "plainer"));
        for literal in ["f?o*", "[ab]*", "{a,b}*", "x\\y*", "!n*"] {
            let written = literal.replace('*', "");
            assert!(name(literal, &written), "{literal} matches {written}");
        }
        assert!(!name("f?o*", "fxo"));
        assert!(!name("[ab]*", "a"));
        assert!(!name("{a,b}*", "a"));
    }

    #[test]
    fn path_globs_read_patterns_as_glob3_does() {
        let m = |p: &str, path: &str| PathGlob::new(p).is_match(path);
        assert!(m(
            "/etc/ssh/sshd_config.d/*.conf",
            "/etc/ssh/sshd_config.d/a.conf"
        ));
        assert!(!m(
            "/etc/ssh/sshd_config.d/*.conf",
            "/etc/ssh/sshd_config.d/a.txt"
        ));
        assert!(!m("/etc/ssh/*", "/etc/ssh/sshd_config.d/a.conf"));
        assert!(!m("/etc/ssh/**", "/etc/ssh/sshd_config.d/a.conf"));
        assert!(!m("/etc/ssh/d/*", "/etc/ssh/d/.hidden"));
        assert!(m("/etc/ssh/d/.*", "/etc/ssh/d/.hidden"));
        assert!(m("/etc/ssh/a?c", "/etc/ssh/abc"));
        assert!(m("/e/a*b*c", "/e/aXXbYYc") && !m("/e/a*b*c", "/e/aXXc"));
        assert!(m("/e/[ab].conf", "/e/b.conf") && !m("/e/[ab].conf", "/e/c.conf"));
        assert!(m("/e/{a,b}", "/e/{a,b}") && !m("/e/{a,b}", "/e/a"));
        assert!(m("/e/x\\*", "/e/x*") && !m("/e/x\\*", "/e/xy"));
        assert!(m("/e/a[b", "/e/a[b") && !m("/e/a[b", "/e/ab"));
    }
}
