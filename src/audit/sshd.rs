//! Reading `sshd_config` the way sshd does, so the audit reports the value sshd will use and not
//! merely a line that mentions it: keywords are case-insensitive, `keyword value` and
//! `keyword=value` both work, comments and blank lines are ignored, the first value obtained for
//! a keyword wins, `Include` pulls in files (globs sorted, relative names under `/etc/ssh`) at
//! the point where it appears, and a `Match` block applies only to the connections it matches,
//! until the next `Match` or the end of the file it is in (an included file's `Match` does not
//! leak into the file that included it).

use std::collections::{BTreeMap, HashMap};

use crate::files::pattern::PathGlob;

/// sshd's limit on nested `Include`s (`READCONF_MAX_DEPTH`).
const MAX_DEPTH: usize = 16;

/// One directive as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting {
    /// First argument, as written (compare with `eq_ignore_ascii_case`).
    pub value: String,
    /// Host path of the file (`/etc/ssh/sshd_config`).
    pub file: String,
    /// 1-based line number.
    pub line: usize,
    /// The line, trimmed.
    pub text: String,
    /// The criteria of the `Match` block it is in; `None` in the global section.
    pub within_match: Option<String>,
}

impl Setting {
    /// `file:line: text`, plus the Match block when there is one.
    pub fn evidence(&self) -> String {
        match &self.within_match {
            Some(m) => format!(
                "{}:{}: {} (in \"Match {m}\")",
                self.file, self.line, self.text
            ),
            None => format!("{}:{}: {}", self.file, self.line, self.text),
        }
    }
}

/// The parsed configuration: per keyword (lowercase), the first global value, the first value in
/// a `Match all` block, and every value in a conditional `Match` block.
#[derive(Clone, Debug, Default)]
pub struct SshdConfig {
    global: HashMap<String, Setting>,
    match_all: HashMap<String, Setting>,
    conditional: Vec<(String, Setting)>,
    /// Problems met while reading (an Include that matched nothing, too deep a nesting).
    pub notes: Vec<String>,
    /// Files read, in order.
    pub files: Vec<String>,
}

impl SshdConfig {
    /// The value sshd uses for connections no `Match` block selects, or that every connection
    /// gets (`Match all` overrides the global section). `None`: not set, sshd's default applies.
    pub fn effective(&self, keyword: &str) -> Option<&Setting> {
        let k = keyword.to_ascii_lowercase();
        self.match_all.get(&k).or_else(|| self.global.get(&k))
    }

    /// Values set inside conditional `Match` blocks, in file order.
    pub fn conditional(&self, keyword: &str) -> impl Iterator<Item = &Setting> {
        let k = keyword.to_ascii_lowercase();
        self.conditional
            .iter()
            .filter(move |(kw, _)| *kw == k)
            .map(|(_, s)| s)
    }
}

/// Parse `main` (a host path) and what it includes, reading files from `files` (host path →
/// text). Files not in the map are absent.
pub fn parse(files: &BTreeMap<String, String>, main: &str) -> SshdConfig {
    let mut cfg = SshdConfig::default();
    if let Some(text) = files.get(main) {
        let mut m = None;
        read_file(files, main, text, 0, &mut m, &mut cfg);
    }
    cfg
}

fn read_file(
    files: &BTreeMap<String, String>,
    path: &str,
    text: &str,
    depth: usize,
    in_match: &mut Option<String>,
    cfg: &mut SshdConfig,
) {
    cfg.files.push(path.to_string());
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (keyword, args) = split_line(line);
        let kw = keyword.to_ascii_lowercase();
        if kw == "match" {
            *in_match = Some(args.join(" "));
            continue;
        }
        if kw == "include" {
            if depth + 1 > MAX_DEPTH {
                cfg.notes.push(format!(
                    "{path}:{}: Include nested more than {MAX_DEPTH} deep; not followed",
                    i + 1
                ));
                continue;
            }
            for pattern in &args {
                let pattern = if pattern.starts_with('/') {
                    (*pattern).to_string()
                } else {
                    format!("/etc/ssh/{pattern}")
                };
                let glob = PathGlob::new(&pattern);
                let matched: Vec<&String> = files.keys().filter(|k| glob.is_match(k)).collect();
                if matched.is_empty() && !pattern.contains(['*', '?', '[']) {
                    cfg.notes
                        .push(format!("{path}:{}: Include {pattern}: no such file", i + 1));
                }
                // BTreeMap keys are sorted, as glob(3) sorts its results.
                for f in matched {
                    // The included file starts in the includer's Match state, and its own
                    // Match blocks end with it.
                    let mut inner = in_match.clone();
                    read_file(files, f, &files[f], depth + 1, &mut inner, cfg);
                }
            }
            continue;
        }
        let Some(value) = args.first() else {
            continue;
        };
        let setting = Setting {
            value: (*value).to_string(),
            file: path.to_string(),
            line: i + 1,
            text: line.to_string(),
            within_match: in_match.clone(),
        };
        match in_match.as_deref() {
            None => {
                cfg.global.entry(kw).or_insert(setting);
            }
            Some(m) if m.eq_ignore_ascii_case("all") => {
                cfg.match_all.entry(kw).or_insert(setting);
            }
            Some(_) => cfg.conditional.push((kw, setting)),
        }
    }
}

/// Split a line into its keyword and arguments: the keyword ends at whitespace or `=`; arguments
/// are separated by whitespace, may be double-quoted, and a word starting with `#` begins a
/// comment.
fn split_line(line: &str) -> (&str, Vec<&str>) {
    let end = line
        .find(|c: char| c.is_whitespace() || c == '=')
        .unwrap_or(line.len());
    let keyword = &line[..end];
    let mut rest = line[end..].trim_start();
    if let Some(r) = rest.strip_prefix('=') {
        rest = r.trim_start();
    }
    let mut args = Vec::new();
    while !rest.is_empty() {
        if rest.starts_with('#') {
            break;
        }
        if let Some(r) = rest.strip_prefix('"') {
            let close = r.find('"').unwrap_or(r.len());
            args.push(&r[..close]);
            rest = r.get(close + 1..).unwrap_or("").trim_start();
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            args.push(&rest[..end]);
            rest = rest[end..].trim_start();
        }
    }
    (keyword, args)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(list: &[(&str, &str)]) -> BTreeMap<String, String> {
        list.iter()
            .map(|(p, t)| ((*p).to_string(), (*t).to_string()))
            .collect()
    }

    const MAIN: &str = "/etc/ssh/sshd_config";

    #[test]
    fn first_value_wins_and_keywords_ignore_case() {
        let f = files(&[(
            MAIN,
            "# PermitRootLogin yes\n\n  permitrootlogin   no\nPermitRootLogin yes\nPasswordAuthentication=YES\n",
        )]);
        let c = parse(&f, MAIN);
        let s = c.effective("PermitRootLogin").unwrap();
        assert_eq!((s.value.as_str(), s.line), ("no", 3));
        assert_eq!(c.effective("passwordauthentication").unwrap().value, "YES");
        assert!(c.effective("X11Forwarding").is_none());
    }

    #[test]
    fn include_is_read_in_place_and_in_sorted_order() {
        let f = files(&[
            (
                MAIN,
                "Include /etc/ssh/sshd_config.d/*.conf\nPasswordAuthentication no\n",
            ),
            (
                "/etc/ssh/sshd_config.d/50-cloud-init.conf",
                "PasswordAuthentication yes\n",
            ),
            (
                "/etc/ssh/sshd_config.d/10-hardening.conf",
                "PermitRootLogin no\nPasswordAuthentication no\n",
            ),
            (
                "/etc/ssh/sshd_config.d/99-late.txt",
                "PermitRootLogin yes\n",
            ),
        ]);
        let c = parse(&f, MAIN);
        let pa = c.effective("PasswordAuthentication").unwrap();
        assert_eq!(pa.file, "/etc/ssh/sshd_config.d/10-hardening.conf");
        assert_eq!(pa.value, "no");
        assert_eq!(c.effective("PermitRootLogin").unwrap().value, "no");
        assert_eq!(
            c.files,
            [
                MAIN,
                "/etc/ssh/sshd_config.d/10-hardening.conf",
                "/etc/ssh/sshd_config.d/50-cloud-init.conf"
            ]
        );
    }

    #[test]
    fn include_before_the_main_value_wins_over_it() {
        let f = files(&[
            (MAIN, "Include sshd_config.d/*.conf\nPermitRootLogin no\n"),
            ("/etc/ssh/sshd_config.d/a.conf", "PermitRootLogin yes\n"),
        ]);
        let s = parse(&f, MAIN)
            .effective("permitrootlogin")
            .cloned()
            .unwrap();
        assert_eq!(s.value, "yes");
        assert_eq!(
            s.evidence(),
            "/etc/ssh/sshd_config.d/a.conf:1: PermitRootLogin yes"
        );
    }

    #[test]
    fn match_blocks_are_scoped() {
        let f = files(&[
            (
                MAIN,
                "Match User backup\n  PermitRootLogin yes\nMatch all\nPasswordAuthentication yes\n",
            ),
            ("/etc/ssh/other", "PermitRootLogin no\n"),
        ]);
        let c = parse(&f, MAIN);
        assert!(c.effective("PermitRootLogin").is_none());
        let cond: Vec<_> = c.conditional("PermitRootLogin").collect();
        assert_eq!(cond.len(), 1);
        assert_eq!(cond[0].within_match.as_deref(), Some("User backup"));
        assert!(cond[0].evidence().contains("in \"Match User backup\""));
        // `Match all` applies to every connection.
        assert_eq!(c.effective("PasswordAuthentication").unwrap().value, "yes");
    }

    #[test]
    fn a_match_in_an_included_file_ends_with_that_file() {
        let f = files(&[
            (
                MAIN,
                "Include /etc/ssh/sshd_config.d/*\nPermitRootLogin yes\n",
            ),
            (
                "/etc/ssh/sshd_config.d/a",
                "Match Address 10.0.0.0/8\nPasswordAuthentication yes\n",
            ),
        ]);
        let c = parse(&f, MAIN);
        assert_eq!(c.effective("PermitRootLogin").unwrap().file, MAIN);
        assert!(c.effective("PasswordAuthentication").is_none());
        assert_eq!(c.conditional("PasswordAuthentication").count(), 1);
    }

    #[test]
    fn quotes_comments_and_missing_includes() {
        let f = files(&[(
            MAIN,
            "PermitRootLogin \"yes\" # trailing\nInclude /etc/ssh/nope.conf\nBanner\n",
        )]);
        let c = parse(&f, MAIN);
        assert_eq!(c.effective("PermitRootLogin").unwrap().value, "yes");
        assert!(c.effective("Banner").is_none());
        assert!(
            c.notes[0].contains("nope.conf: no such file"),
            "{:?}",
            c.notes
        );
    }

    #[test]
    fn include_loops_stop() {
        let f = files(&[(MAIN, "Include /etc/ssh/sshd_config\nPort 22\n")]);
        let c = parse(&f, MAIN);
        assert!(c.notes.iter().any(|n| n.contains("nested more than")));
        assert_eq!(c.effective("Port").unwrap().value, "22");
    }
}
