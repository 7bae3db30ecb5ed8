//! The host's security configuration: a built-in profile of what makes up a hardened Ubuntu
//! Docker host (sshd, firewall, sudoers, AppArmor, audit, apt, systemd units, cron, log
//! shippers, ...), each item recorded as present or absent, and the live state that lives
//! outside files (firewall rule sets, enabled units, installed packages, the engine's info),
//! captured by running the tools when they exist. Files go into the snapshot's file tree like any
//! other path; everything is resolved under a host root (`/` by default), so tests and chroots
//! never touch the machine's own `/etc`.

pub mod apply;
pub mod profile;

pub use profile::{COMMANDS, FIREWALL_COMMANDS, PROFILE};

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde::Serialize;

use crate::child::DEFAULT_TIMEOUT;
pub use crate::error::HostError;
use crate::files::pattern::{Matcher, star_only};
use crate::snapshot::host::{CommandOutput, CommandStatus, HostSection, ItemState, join};

/// Most output kept from a host tool.
const MAX_OUTPUT: usize = 16 << 20;

/// Options of a host capture: the profile (built-in, plus and minus the config's lists).
#[derive(Clone, Debug, Default)]
pub struct HostOptions {
    pub root: PathBuf,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub commands: bool,
}

/// Expand one pattern under `root`: returns host paths (`/etc/...`) that exist, sorted.
pub fn expand(root: &Path, pattern: &str) -> Vec<String> {
    let mut current = vec![PathBuf::from("/")];
    for part in pattern.split('/').filter(|p| !p.is_empty()) {
        let mut next = Vec::new();
        for base in &current {
            if part.contains('*') {
                let Some(m) = component(part) else { continue };
                let Ok(rd) = std::fs::read_dir(join(root, base)) else {
                    continue;
                };
                let mut names: Vec<String> = rd
                    .flatten()
                    .filter_map(|e| e.file_name().into_string().ok())
                    .filter(|n| m.is_match(Path::new(n)))
                    .collect();
                names.sort();
                next.extend(names.into_iter().map(|n| base.join(n)));
            } else {
                next.push(base.join(part));
            }
        }
        current = next;
    }
    current
        .into_iter()
        .filter(|p| std::fs::symlink_metadata(join(root, p)).is_ok())
        .map(|p| p.display().to_string())
        .collect()
}

/// The matcher of one component of a profile pattern, where `*` matches any run of characters
/// within one name and nothing else is special; `None` for a component no name can match.
fn component(part: &str) -> Option<Matcher> {
    Matcher::globs(&[star_only(part)], false, "host profile pattern").ok()
}

/// Resolve the profile: every item with what it matched, and the real paths to snapshot.
pub fn resolve(opts: &HostOptions) -> (Vec<ItemState>, Vec<PathBuf>) {
    let mut patterns: Vec<String> = PROFILE
        .iter()
        .map(|s| (*s).to_string())
        .chain(opts.include.iter().cloned())
        .filter(|p| !opts.exclude.contains(p))
        .collect();
    patterns.dedup();
    let mut items = Vec::new();
    let mut paths = Vec::new();
    for p in patterns {
        let found: Vec<String> = expand(&opts.root, &p)
            .into_iter()
            .filter(|f| !opts.exclude.iter().any(|x| x == f))
            .collect();
        paths.extend(found.iter().map(|f| join(&opts.root, Path::new(f))));
        items.push(ItemState { pattern: p, found });
    }
    (items, paths)
}

/// Resolve the profile under `opts.root` (made absolute and symlink-free) and run the tools:
/// the host section of a snapshot, and the paths whose files it needs.
pub fn capture(opts: &HostOptions) -> crate::Result<(HostSection, Vec<PathBuf>)> {
    let root = opts
        .root
        .canonicalize()
        .map_err(|e| crate::Error::io(&opts.root, e))?;
    if !root.is_dir() {
        return Err(HostError::RootNotDirectory(root.display().to_string()).into());
    }
    let (items, paths) = resolve(&HostOptions {
        root: root.clone(),
        ..opts.clone()
    });
    let commands = if opts.commands {
        run_commands()
    } else {
        Vec::new()
    };
    let section = HostSection {
        root: root.display().to_string(),
        items,
        commands,
    };
    Ok((section, paths))
}

/// Run the live-state tools; a missing tool is recorded, not an error.
pub fn run_commands() -> Vec<CommandOutput> {
    COMMANDS
        .iter()
        .map(|(name, prog, args)| run_one(name, prog, args, DEFAULT_TIMEOUT))
        .collect()
}

/// Run only the firewall tools ([`FIREWALL_COMMANDS`]), as `lifeboat audit --live` needs.
pub fn run_firewall_commands() -> Vec<CommandOutput> {
    COMMANDS
        .iter()
        .filter(|(name, _, _)| FIREWALL_COMMANDS.contains(name))
        .map(|(name, prog, args)| run_one(name, prog, args, DEFAULT_TIMEOUT))
        .collect()
}

/// Run `prog args` under `LC_ALL=C` with nothing on its stdin (see [`run_tool`]).
pub(crate) fn run_one(name: &str, prog: &str, args: &[&str], timeout: Duration) -> CommandOutput {
    let argv: Vec<&str> = std::iter::once(prog).chain(args.iter().copied()).collect();
    run_tool(name, &argv, None, true, timeout)
}

/// Run a tool through [`crate::child`] (no secrets in its environment, its process group
/// killed after `timeout`), `input` on its stdin, under `LC_ALL=C` when `c_locale`; a missing
/// tool is status `missing`, a failing one `failed`, one that ran too long `timeout`.
pub(crate) fn run_tool(
    name: &str,
    argv: &[&str],
    input: Option<&[u8]>,
    c_locale: bool,
    timeout: Duration,
) -> CommandOutput {
    use crate::child::{self, Failure, Input, Options};
    let mut out = CommandOutput {
        name: name.to_string(),
        argv: argv.iter().map(|s| (*s).to_string()).collect(),
        status: CommandStatus::Error,
        exit_code: None,
        stdout: String::new(),
        stderr: String::new(),
    };
    let Some((prog, args)) = argv.split_first() else {
        out.status = CommandStatus::Error;
        return out;
    };
    let mut cmd = Command::new(prog);
    cmd.args(args);
    if c_locale {
        cmd.env("LC_ALL", "C");
    }
    let opts = Options {
        stdin: input.map_or(Input::Null, Input::Bytes),
        timeout,
        output_limit: MAX_OUTPUT,
        ..Options::default()
    };
    match child::run(&mut cmd, &opts) {
        Ok(done) => {
            out.stdout = String::from_utf8_lossy(&done.stdout).into_owned();
            out.stderr = String::from_utf8_lossy(&done.stderr).into_owned();
            if done.status.success() {
                out.status = CommandStatus::Ok;
            } else {
                out.status = CommandStatus::Failed;
                out.exit_code = done.status.code();
            }
        }
        Err(Failure::Start(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            out.status = CommandStatus::Missing;
        }
        Err(Failure::TimedOut(_)) => out.status = CommandStatus::Timeout,
        Err(e) => {
            out.status = CommandStatus::Error;
            out.stderr = e.to_string();
        }
    }
    out
}

/// How one profile file on the live host differs from the snapshot.
#[derive(Clone, Debug, Serialize)]
pub struct FileDiff {
    /// Host path (`/etc/ssh/sshd_config`).
    pub path: String,
    /// `modified`, `missing` (in the snapshot, not on the host), `type` (kind changed),
    /// `extra` (on the host inside the profile, not in the snapshot), `metadata` (same
    /// contents, another mode or owner).
    pub change: &'static str,
    /// A unified diff (snapshot → live) for text files; `None` for binary or secret files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    /// Why no diff is shown (secret, binary, large).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Largest file shown as a text diff.
const MAX_DIFF: u64 = 1 << 20;

/// Files whose contents are never shown: private keys.
fn is_secret(path: &str, body: &[u8]) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    (name.starts_with("ssh_host_") && name.ends_with("_key"))
        || body.windows(11).any(|w| w == b"PRIVATE KEY")
}

/// Compare the snapshot's profile files with those under `live_root`; writes nothing.
pub fn diff_live(
    repo: &crate::repo::IndexedRepo,
    snap: &crate::snapshot::Snapshot,
    live_root: &Path,
) -> crate::Result<Vec<FileDiff>> {
    use crate::snapshot::entry::Kind;
    let Some(host) = &snap.host else {
        return Err(HostError::NoProfile.into());
    };
    let root = host.root.trim_end_matches('/');
    let found: Vec<&str> = host
        .items
        .iter()
        .flat_map(|i| i.found.iter().map(String::as_str))
        .collect();
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut recorded_dirs = Vec::new();
    for e in crate::snapshot::tree::TreeReader::new(repo, &snap.tree) {
        let e = e?;
        let full = String::from_utf8_lossy(&e.path).into_owned();
        let Some(rel) = full.strip_prefix(root) else {
            continue;
        };
        let rel = if rel.is_empty() { "/" } else { rel };
        if !found
            .iter()
            .any(|f| rel == *f || rel.starts_with(&format!("{f}/")))
        {
            continue;
        }
        seen.insert(rel.to_string());
        if e.kind == Kind::Dir {
            recorded_dirs.push(rel.to_string());
        }
        let live = join(live_root, Path::new(rel));
        let md = std::fs::symlink_metadata(&live).ok();
        let push = |out: &mut Vec<FileDiff>, change, diff, note: Option<&str>| {
            out.push(FileDiff {
                path: rel.to_string(),
                change,
                diff,
                note: note.map(str::to_string),
            });
        };
        match (e.kind, md) {
            (_, None) => push(&mut out, "missing", None, None),
            (Kind::Dir, Some(m)) if !m.is_dir() => push(&mut out, "type", None, None),
            (Kind::Dir, Some(m)) => {
                if let Some(note) = metadata_change(&e, &m, true) {
                    push(&mut out, "metadata", None, Some(&note));
                }
            }
            (Kind::Symlink, Some(m)) if !m.file_type().is_symlink() => {
                push(&mut out, "type", None, None);
            }
            (Kind::Symlink, Some(m)) => {
                let now = std::fs::read_link(&live).ok();
                let was = e
                    .target
                    .as_deref()
                    .map(|t| String::from_utf8_lossy(t).into_owned());
                if now.map(|p| p.display().to_string()) != was {
                    push(&mut out, "modified", None, Some("symlink target changed"));
                } else if let Some(note) = metadata_change(&e, &m, false) {
                    push(&mut out, "metadata", None, Some(&note));
                }
            }
            (Kind::File | Kind::Hardlink, Some(m)) if !m.is_file() => {
                push(&mut out, "type", None, None);
            }
            (Kind::File, Some(m)) => {
                if let Some((change, diff, note)) = file_change(repo, &e, &m, &live, rel)? {
                    push(&mut out, change, diff, note.as_deref());
                }
            }
            _ => {}
        }
    }
    out.extend(extras(host, live_root, &seen, &recorded_dirs));
    Ok(out)
}

/// A [`FileDiff`]'s change, diff and note.
type Change = (&'static str, Option<String>, Option<String>);

/// How a recorded regular file differs from the live one at `live` (`m`: its metadata), as
/// (change, diff, note), or `None` when it does not: a unified diff of text files up to 1 MiB
/// (never of secrets), else only that it changed, else a change of mode or owner.
fn file_change(
    repo: &crate::repo::IndexedRepo,
    e: &crate::snapshot::entry::Entry,
    m: &std::fs::Metadata,
    live: &Path,
    rel: &str,
) -> crate::Result<Option<Change>> {
    let Some(content) = &e.content else {
        return Ok(None);
    };
    let same_size = m.len() == e.size;
    let live_bytes = if m.len() <= MAX_DIFF || same_size {
        std::fs::read(live).ok()
    } else {
        None
    };
    if same_size && let Some(b) = &live_bytes {
        use sha2::Digest;
        if sha2::Sha256::digest(b).as_slice() == content.sha256 {
            return Ok(metadata_change(e, m, true).map(|note| ("metadata", None, Some(note))));
        }
    }
    let recorded = if e.size <= MAX_DIFF {
        let mut buf = Vec::new();
        crate::snapshot::content::ContentReader::new(repo, content, e.size, rel)
            .read_to_end(&mut buf)
            .map_err(|err| crate::Error::corrupt(rel, err))?;
        Some(buf)
    } else {
        None
    };
    let note = |n: &str| Ok(Some(("modified", None, Some(n.to_string()))));
    match (recorded, live_bytes) {
        (Some(a), Some(b)) if is_secret(rel, &a) || is_secret(rel, &b) => {
            note("secret: contents not shown")
        }
        (Some(a), Some(b)) => match (std::str::from_utf8(&a), std::str::from_utf8(&b)) {
            (Ok(x), Ok(y)) => {
                let d = similar::TextDiff::from_lines(x, y)
                    .unified_diff()
                    .context_radius(3)
                    .header(&format!("snapshot{rel}"), &format!("live{rel}"))
                    .to_string();
                Ok(Some(("modified", Some(d), None)))
            }
            _ => note("binary"),
        },
        _ => note("larger than 1 MiB"),
    }
}

/// How a live object's mode and owner differ from the recorded ones (`mode 0644 -> 0440`),
/// or `None`. A symlink's mode means nothing and is not compared.
fn metadata_change(
    e: &crate::snapshot::entry::Entry,
    live: &std::fs::Metadata,
    with_mode: bool,
) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let mut notes = Vec::new();
    if with_mode && live.mode() & 0o7777 != e.mode & 0o7777 {
        notes.push(format!(
            "mode {:04o} in the snapshot, {:04o} live",
            e.mode & 0o7777,
            live.mode() & 0o7777
        ));
    }
    if (live.uid(), live.gid()) != (e.uid, e.gid) {
        notes.push(format!(
            "owner {}:{} in the snapshot, {}:{} live",
            e.uid,
            e.gid,
            live.uid(),
            live.gid()
        ));
    }
    (!notes.is_empty()).then(|| notes.join(", "))
}

/// Live objects inside the profile that the snapshot does not have: files added to a recorded
/// directory (a new `sudoers.d` drop-in), and items the snapshot recorded as absent. Only the
/// topmost such path is named; what is below an extra directory goes with it.
fn extras(
    host: &HostSection,
    live_root: &Path,
    seen: &std::collections::HashSet<String>,
    recorded_dirs: &[String],
) -> Vec<FileDiff> {
    let mut out: Vec<String> = Vec::new();
    for item in host.items.iter().filter(|i| i.found.is_empty()) {
        out.extend(expand(live_root, &item.pattern));
    }
    for dir in recorded_dirs {
        let live = join(live_root, Path::new(dir));
        let mut it = walkdir::WalkDir::new(&live).min_depth(1).into_iter();
        while let Some(Ok(e)) = it.next() {
            let Ok(rel) = e.path().strip_prefix(&live) else {
                continue;
            };
            let host_path = format!("{}/{}", dir.trim_end_matches('/'), rel.display());
            if !seen.contains(&host_path) {
                if e.file_type().is_dir() {
                    it.skip_current_dir();
                }
                out.push(host_path);
            }
        }
    }
    out.sort();
    out.dedup();
    out.into_iter()
        .map(|path| FileDiff {
            path,
            change: "extra",
            diff: None,
            note: Some("on the host, not in the snapshot".into()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let glob_match = |p: &str, n: &str| component(p).is_some_and(|m| m.is_match(Path::new(n)));
        assert!(glob_match("ssh_host_*", "ssh_host_ed25519_key"));
        assert!(glob_match("*", "alice"));
        assert!(!glob_match("ssh_host_*", "sshd_config"));
        assert!(glob_match("a*b*c", "aXbYc"));
        assert!(!glob_match("a*b*c", "aXc"));
        assert!(glob_match("plain", "plain") && !glob_match("plain", "plainer"));
        assert!(glob_match("x?[y]*", "x?[y]z") && !glob_match("x?[y]*", "xay"));
    }

    #[test]
    fn profile_under_a_host_root() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        std::fs::create_dir_all(r.join("etc/ssh")).unwrap();
        std::fs::write(r.join("etc/ssh/sshd_config"), "PermitRootLogin no\n").unwrap();
        std::fs::write(r.join("etc/ssh/ssh_host_ed25519_key"), "k").unwrap();
        std::fs::create_dir_all(r.join("home/alice/.ssh")).unwrap();
        std::fs::write(r.join("home/alice/.ssh/authorized_keys"), "ssh-ed25519 A").unwrap();
        let (items, paths) = resolve(&HostOptions {
            root: r.to_path_buf(),
            ..HostOptions::default()
        });
        let found = |p: &str| items.iter().find(|i| i.pattern == p).unwrap().found.clone();
        assert_eq!(found("/etc/ssh/sshd_config"), ["/etc/ssh/sshd_config"]);
        assert_eq!(
            found("/etc/ssh/ssh_host_*"),
            ["/etc/ssh/ssh_host_ed25519_key"]
        );
        assert_eq!(
            found("/home/*/.ssh/authorized_keys"),
            ["/home/alice/.ssh/authorized_keys"]
        );
        assert!(found("/etc/sudoers").is_empty());
        assert!(paths.iter().all(|p| p.starts_with(r)));
        assert_eq!(paths.len(), 3);
    }

    #[test]
    fn missing_tool_is_recorded() {
        let run = |name, prog| run_one(name, prog, &[], DEFAULT_TIMEOUT);
        let o = run("x", "lifeboat-no-such-tool-xyz");
        assert_eq!(o.status, CommandStatus::Missing);
        let o = run("t", "true");
        assert_eq!(o.status, CommandStatus::Ok);
        let o = run("f", "false");
        assert_eq!((o.status, o.exit_code), (CommandStatus::Failed, Some(1)));
    }

    #[test]
    fn a_tool_that_runs_too_long_is_a_timeout() {
        let t = std::time::Instant::now();
        let o = run_one("s", "sleep", &["30"], Duration::from_millis(200));
        assert_eq!(o.status, CommandStatus::Timeout);
        assert!(t.elapsed() < Duration::from_secs(10));
    }
}
