//! Which entries of the tree stream a restore writes: `--include` paths and patterns,
//! `--exclude` patterns, and the directories that lead to what is included.
//!
//! The stream is in path order, so one pass decides: an included entry brings everything
//! below it; a directory that is not (yet) included waits on a stack and is restored only
//! when something below it is, so the target gets exactly the ancestors it needs with their
//! recorded metadata; an excluded entry leaves out everything below it.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::error::Result;
use crate::files::pattern::Matcher;
use crate::snapshot::entry::{Entry, Kind};
use crate::util::is_within;

/// An `--include` or `--exclude` pattern (glob) and whether it matched anything.
struct Pattern {
    text: String,
    matcher: Matcher,
    matched: bool,
}

/// What the restore does with one entry of the stream.
#[derive(Debug)]
pub(super) enum Verdict {
    /// Restore it, after these ancestor directories that were waiting for it. `owned`:
    /// selected in its own right (not only as the way to something selected).
    Restore { ancestors: Vec<Entry>, owned: bool },
    /// Leave it out.
    Skip,
}

pub(super) struct Chooser {
    /// Exact absolute paths, each with everything below it.
    paths: Vec<(Vec<u8>, bool)>,
    includes: Vec<Pattern>,
    excludes: Vec<Pattern>,
    /// Directories an include pattern matched: everything below them is included.
    included: Vec<Vec<u8>>,
    /// The directory an exclude pattern matched, while the stream is below it.
    excluded: Option<Vec<u8>>,
    /// Directories not selected themselves, waiting for something below them to be.
    waiting: Vec<Entry>,
}

fn compile(patterns: &[String], what: &str) -> Result<Vec<Pattern>> {
    patterns
        .iter()
        .map(|p| {
            Ok(Pattern {
                text: p.clone(),
                matcher: Matcher::globs(std::slice::from_ref(p), false, what)?,
                matched: false,
            })
        })
        .collect()
}

impl Chooser {
    pub(super) fn new(
        paths: &[Vec<u8>],
        includes: &[String],
        excludes: &[String],
    ) -> Result<Chooser> {
        Ok(Chooser {
            paths: paths.iter().map(|p| (p.clone(), false)).collect(),
            includes: compile(includes, "--include pattern")?,
            excludes: compile(excludes, "--exclude pattern")?,
            included: Vec::new(),
            excluded: None,
            waiting: Vec::new(),
        })
    }

    fn everything(&self) -> bool {
        self.paths.is_empty() && self.includes.is_empty()
    }

    /// Decide about the next entry of the stream.
    pub(super) fn judge(&mut self, e: &Entry) -> Verdict {
        let inside = |d: &[u8]| is_within(&e.path, d) && e.path != d;
        while self.waiting.last().is_some_and(|d| !inside(&d.path)) {
            self.waiting.pop();
        }
        while self.included.last().is_some_and(|d| !inside(d)) {
            self.included.pop();
        }
        if self.excluded.as_deref().is_some_and(inside) {
            return Verdict::Skip;
        }
        self.excluded = None;
        let path = Path::new(OsStr::from_bytes(&e.path));
        let mut excluded = false;
        for p in &mut self.excludes {
            if p.matcher.is_match(path) {
                p.matched = true;
                excluded = true;
            }
        }
        if excluded {
            if e.kind == Kind::Dir {
                self.excluded = Some(e.path.clone());
            }
            return Verdict::Skip;
        }
        let mut selected = self.everything() || !self.included.is_empty();
        for (p, matched) in &mut self.paths {
            if is_within(&e.path, p) {
                *matched = true;
                selected = true;
            }
        }
        for p in &mut self.includes {
            if p.matcher.is_match(path) {
                p.matched = true;
                selected = true;
            }
        }
        if selected {
            if e.kind == Kind::Dir && !self.everything() {
                self.included.push(e.path.clone());
            }
            return Verdict::Restore {
                ancestors: std::mem::take(&mut self.waiting),
                owned: true,
            };
        }
        if e.kind == Kind::Dir {
            self.waiting.push(e.clone());
        }
        Verdict::Skip
    }

    /// The includes, then the excludes, that matched nothing, as given.
    pub(super) fn unmatched(&self) -> (Vec<String>, Vec<String>) {
        let unmatched = |ps: &[Pattern]| -> Vec<String> {
            ps.iter()
                .filter(|p| !p.matched)
                .map(|p| crate::escape::text(&p.text))
                .collect()
        };
        let mut includes: Vec<String> = self
            .paths
            .iter()
            .filter(|(_, m)| !m)
            .map(|(p, _)| crate::util::show(p))
            .collect();
        includes.extend(unmatched(&self.includes));
        (includes, unmatched(&self.excludes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(paths: &[&str]) -> Vec<Entry> {
        paths
            .iter()
            .map(|p| {
                let kind = if p.ends_with('/') {
                    Kind::Dir
                } else {
                    Kind::File
                };
                let path = p.trim_end_matches('/');
                Entry::new(
                    if path.is_empty() {
                        b"/".to_vec()
                    } else {
                        path.as_bytes().to_vec()
                    },
                    kind,
                )
            })
            .collect()
    }

    /// (path, restored, owned) for every entry, with waiting ancestors flushed in order.
    fn run(c: &mut Chooser, entries: &[Entry]) -> Vec<(String, bool)> {
        let mut out = Vec::new();
        for e in entries {
            if let Verdict::Restore { ancestors, owned } = c.judge(e) {
                for a in ancestors {
                    out.push((a.path_str(), false));
                }
                out.push((e.path_str(), owned));
            }
        }
        out
    }

    const TREE: &[&str] = &[
        "/",
        "/etc/",
        "/etc/ssh/",
        "/etc/ssh/sshd_config",
        "/srv/",
        "/srv/a.bin",
        "/srv/cache/",
        "/srv/cache/x.tmp",
        "/srv/m/",
        "/srv/m/w.bin",
        "/srv/m/w.tmp",
    ];

    #[test]
    fn exact_paths_bring_their_ancestors_and_everything_below() {
        let mut c = Chooser::new(&[b"/etc/ssh".to_vec()], &[], &[]).unwrap();
        let got = run(&mut c, &stream(TREE));
        let want = [
            ("/", false),
            ("/etc", false),
            ("/etc/ssh", true),
            ("/etc/ssh/sshd_config", true),
        ];
        assert_eq!(got, want.map(|(p, o)| (p.to_string(), o)));
        assert_eq!(c.unmatched(), (vec![], vec![]));
    }

    #[test]
    fn patterns_select_names_anywhere_and_excludes_cut_subtrees() {
        let mut c = Chooser::new(&[], &["*.bin".into()], &["/srv/cache".into()]).unwrap();
        let got: Vec<String> = run(&mut c, &stream(TREE))
            .into_iter()
            .map(|x| x.0)
            .collect();
        assert_eq!(got, ["/", "/srv", "/srv/a.bin", "/srv/m", "/srv/m/w.bin"]);
        let mut c = Chooser::new(&[], &[], &["*.tmp".into(), "/nowhere".into()]).unwrap();
        let got: Vec<String> = run(&mut c, &stream(TREE))
            .into_iter()
            .map(|x| x.0)
            .collect();
        assert!(!got.iter().any(|p| p.ends_with(".tmp")), "{got:?}");
        assert!(got.contains(&"/srv/m/w.bin".to_string()));
        assert_eq!(c.unmatched(), (vec![], vec!["/nowhere".to_string()]));
    }

    #[test]
    fn a_matched_directory_brings_everything_below_it() {
        let mut c = Chooser::new(&[], &["/srv/m".into()], &["w.tmp".into()]).unwrap();
        let got = run(&mut c, &stream(TREE));
        let want = [
            ("/", false),
            ("/srv", false),
            ("/srv/m", true),
            ("/srv/m/w.bin", true),
        ];
        assert_eq!(got, want.map(|(p, o)| (p.to_string(), o)));
    }
}
