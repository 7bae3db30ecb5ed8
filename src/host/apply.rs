//! Putting a snapshot's host profile back onto a live host, safely, and taking it back out.
//!
//! Applying runs in an order that never leaves a host worse off than a refused apply:
//! 1. work out what differs (the same comparison `restore --host` shows);
//! 2. materialize the snapshot's versions in a private staging directory and check them there:
//!    `sshd -t` on the sshd configuration (a config that would lock everyone out is never
//!    installed), and with `--apply-firewall` the rule sets' own dry runs;
//! 3. snapshot the live versions of every path about to change (tag `host-undo`), so the apply
//!    can be undone, including which paths did not exist before;
//! 4. write each file atomically (temp file, fsync, rename, fsync dir) with its recorded owner,
//!    mode and xattrs; if that fails half-way, the undo snapshot is put back at once;
//! 5. with `--apply-firewall`, load the rule sets now in place.
//!
//! Undo applies the newest `host-undo` snapshot of the same host root, removes what the apply
//! created, and then deletes that undo snapshot, so a second undo steps back one more apply.

use std::collections::HashSet;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use serde::Serialize;

use super::profile::{RESTORABLE_RULES, RULE_SET_FILES, RuleSetFile, SSHD_CONFIG, SSHD_CONFIG_DIR};
use super::{FileDiff, diff_live, run_one};
use crate::error::{Error, HostError, Result};
use crate::files::restore::target::{Target, errno_io};
use crate::files::restore::{RestoreOptions, RestoreReport, restore_tree};
use crate::id::Id;
use crate::progress::Progress;
use crate::repo::{FileType as RepoFile, LockKind, Repository};
use crate::snapshot::Snapshot;
use crate::snapshot::host::{CommandOutput, CommandStatus, HostSection, ItemState, join};
use crate::snapshot::tags::HOST_UNDO_TAG;

#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// The host root to write (`/` on a real host).
    pub live_root: PathBuf,
    /// Check and then load the firewall rule sets (`iptables-restore`, `nft -f`).
    pub firewall: bool,
    /// Remove files inside the profile that the snapshot does not have.
    pub delete_extra: bool,
    /// Check everything, write nothing.
    pub dry_run: bool,
    /// Hostname recorded in the undo snapshot (default: this machine's).
    pub hostname: Option<String>,
    /// Longest each tool (`sshd -t`, the firewall checks and loads) may run before its
    /// process group is killed and the apply refused ([`crate::child::DEFAULT_TIMEOUT`]).
    pub tool_timeout: Duration,
}

/// A check run before anything is written.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub what: String,
    /// `ok`, or `skipped` with the reason in `detail`.
    pub status: CheckStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// How a [`Check`] ended (a failed check is an error, not a status).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Ok,
    Skipped,
}

impl std::fmt::Display for CheckStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CheckStatus::Ok => "ok",
            CheckStatus::Skipped => "skipped",
        })
    }
}

#[derive(Debug, Default, Serialize)]
pub struct ApplyReport {
    /// What differed before the apply.
    pub changes: Vec<FileDiff>,
    pub files_written: u64,
    /// Extra paths removed (with `delete_extra`).
    pub removed: Vec<String>,
    /// Extra paths left in place.
    pub kept_extra: Vec<String>,
    /// The snapshot that `--undo` applies (hex ID).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub undo_snapshot: Option<String>,
    pub checks: Vec<Check>,
    pub firewall: Vec<CommandOutput>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct UndoReport {
    /// The `host-undo` snapshot that was applied and then deleted.
    pub undo_snapshot: String,
    pub files_written: u64,
    /// Paths the apply had created, now removed (or to be removed, in a dry run).
    pub removed: Vec<String>,
    /// In a dry run: the paths that would be put back.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub would_write: Vec<String>,
    pub firewall: Vec<CommandOutput>,
    pub warnings: Vec<String>,
}

/// The tree prefix the snapshot's host paths live under (`None` when the root was `/`).
fn tree_prefix(host: &HostSection) -> Option<Vec<u8>> {
    let root = host.root.trim_end_matches('/');
    (!root.is_empty()).then(|| root.as_bytes().to_vec())
}

fn canonical_root(root: &Path) -> Result<PathBuf> {
    let r = root.canonicalize().map_err(|e| Error::io(root, e))?;
    if !r.is_dir() {
        return Err(HostError::RootNotDirectory(r.display().to_string()).into());
    }
    Ok(r)
}

/// What an apply keeps before it writes, for undo: the live versions of the paths it is about to
/// change (`paths`, under the live root) and a host section naming them, with the topmost missing
/// path of each that does not exist yet as an item that found nothing (FORMAT.md §8.2).
#[derive(Debug, Clone)]
pub struct UndoSnapshot {
    pub paths: Vec<PathBuf>,
    pub section: HostSection,
}

/// Apply `snap`'s host profile to `opts.live_root`. `keep_undo` saves the [`UndoSnapshot`] as a
/// `host-undo` snapshot and returns its ID: taking a snapshot is an operation above `host/`
/// ([`crate::ops::host_apply::apply`] supplies it).
pub fn apply(
    repo: &Repository,
    snap: &Snapshot,
    opts: &ApplyOptions,
    keep_undo: &dyn Fn(UndoSnapshot) -> Result<Option<Id>>,
    progress: &dyn Progress,
) -> Result<ApplyReport> {
    let Some(host) = &snap.host else {
        return Err(HostError::NoProfile.into());
    };
    let live_root = canonical_root(&opts.live_root)?;
    let mut report = ApplyReport {
        changes: diff_live(&repo.indexed()?, snap, &live_root)?,
        ..ApplyReport::default()
    };
    let to_write: Vec<String> = report
        .changes
        .iter()
        .filter(|d| d.change != "extra")
        .map(|d| d.path.clone())
        .collect();
    let extras: Vec<String> = report
        .changes
        .iter()
        .filter(|d| d.change == "extra")
        .map(|d| d.path.clone())
        .collect();
    if opts.delete_extra {
        report.removed.clone_from(&extras);
    } else {
        report.kept_extra.clone_from(&extras);
    }
    let (checks, firewall_files) = stage_and_check(repo, snap, host, opts, &to_write)?;
    report.checks = checks;
    if opts.dry_run {
        return Ok(report);
    }
    if to_write.is_empty() && report.removed.is_empty() && !opts.firewall {
        return Ok(report);
    }

    // What is live now, so the apply can be undone.
    let touched: Vec<String> = to_write.iter().chain(&report.removed).cloned().collect();
    let undo = keep_undo(live_versions(&live_root, &touched, opts))?;
    match &undo {
        Some(undo) => report.undo_snapshot = Some(undo.to_hex()),
        None => report.warnings.push(
            "no undo snapshot was kept (the repository is read-only): the replaced files are gone"
                .into(),
        ),
    }

    // Removals first: writing last leaves the directories with their recorded metadata.
    let written = report
        .removed
        .iter()
        .try_for_each(|p| remove_tree(&live_root, p))
        .and_then(|()| write_files(repo, &snap.tree, tree_prefix(host), &live_root, &to_write));
    match written {
        Ok(n) => report.files_written = n,
        Err(e) => {
            // Writes refused before any took place (a symlinked directory, a read-only
            // file system): the host is as it was; there is nothing to put back.
            let now = repo
                .indexed()
                .and_then(|repo| diff_live(&repo, snap, &live_root));
            let unchanged = now.is_ok_and(|now| {
                let key = |d: &FileDiff| (d.path.clone(), d.change);
                now.iter().map(key).eq(report.changes.iter().map(key))
            });
            if unchanged {
                if let Some(undo) = &undo {
                    let _lock = repo.lock(LockKind::Exclusive, "host apply")?;
                    repo.delete_snapshot(undo)?;
                }
                return Err(HostError::NothingWritten(e.to_string()).into());
            }
            let Some(undo) = undo else {
                return Err(HostError::UndoFailed {
                    failure: e.to_string(),
                    undo: "no undo snapshot was kept (read-only repository)".into(),
                }
                .into());
            };
            let back = undo_with(repo, &live_root, undo, opts, progress);
            return Err(match back {
                Ok(_) => HostError::RolledBack(e.to_string()),
                Err(u) => HostError::UndoFailed {
                    failure: e.to_string(),
                    undo: u.to_string(),
                },
            }
            .into());
        }
    }
    load_firewall(&live_root, &firewall_files, opts.tool_timeout, &mut report)?;
    Ok(report)
}

/// Stage the snapshot's versions of what the apply writes (with the whole sshd configuration
/// when any of it changes, and the firewall rule sets with `opts.firewall`) and check them
/// there, before anything on the host changes. Returns the checks and the rule sets to load
/// once the files are in place.
fn stage_and_check(
    repo: &Repository,
    snap: &Snapshot,
    host: &HostSection,
    opts: &ApplyOptions,
    to_write: &[String],
) -> Result<(Vec<Check>, Vec<&'static str>)> {
    let recorded: HashSet<&str> = host
        .items
        .iter()
        .flat_map(|i| i.found.iter().map(String::as_str))
        .collect();
    // The recorded item (file or directory) that holds a host path, if any.
    let holder = |path: &str| {
        recorded
            .iter()
            .find(|r| crate::util::is_within(path.as_bytes(), r.as_bytes()))
            .map(|r| (*r).to_string())
    };
    let firewall_items: Vec<String> = RULE_SET_FILES
        .iter()
        .filter(|_| opts.firewall)
        .filter_map(|r| holder(r.path))
        .collect();
    let sshd_touched = to_write.iter().any(|p| {
        p == SSHD_CONFIG || crate::util::is_within(p.as_bytes(), SSHD_CONFIG_DIR.as_bytes())
    });

    let mut stage_set: Vec<String> = to_write.to_vec();
    if sshd_touched {
        stage_set.extend(
            [SSHD_CONFIG, SSHD_CONFIG_DIR]
                .iter()
                .filter_map(|p| holder(p)),
        );
    }
    stage_set.extend(firewall_items);
    stage_set.sort();
    stage_set.dedup();
    let stage = tempfile::Builder::new()
        .prefix(".lifeboat-host-stage")
        .tempdir()
        .map_err(|e| Error::io(std::env::temp_dir(), e))?;
    if !stage_set.is_empty() {
        let mut ro = RestoreOptions::new(stage.path());
        ro.includes = stage_set.iter().map(|p| p.as_bytes().to_vec()).collect();
        ro.rebase = tree_prefix(host);
        ro.owners = false;
        ro.report_unrestored_owners = false;
        ro.sync = false;
        let r = restore_tree(repo, &snap.tree, None, &ro, &crate::progress::Silent)?;
        fail_on_errors(&r, "staging the snapshot's host files")?;
    }
    // The rule sets the snapshot has: checked now, loaded after the files are in place.
    let firewall_files: Vec<&'static str> = RULE_SET_FILES
        .iter()
        .map(|r| r.path)
        .filter(|f| opts.firewall && join(stage.path(), Path::new(f)).is_file())
        .collect();
    let mut checks = Vec::new();
    if sshd_touched {
        checks.push(check_sshd(stage.path(), opts.tool_timeout)?);
    }
    for &RuleSetFile {
        path: file, check, ..
    } in RULE_SET_FILES
    {
        if firewall_files.contains(&file) {
            checks.push(check_firewall(
                stage.path(),
                file,
                check,
                opts.tool_timeout,
            )?);
        }
    }
    Ok((checks, firewall_files))
}

/// Load the checked rule sets from their place under `live_root`; the first that fails to
/// load is an error.
fn load_firewall(
    live_root: &Path,
    firewall_files: &[&str],
    timeout: Duration,
    report: &mut ApplyReport,
) -> Result<()> {
    for &RuleSetFile {
        path: file, load, ..
    } in RULE_SET_FILES
    {
        if firewall_files.contains(&file) {
            let path = join(live_root, Path::new(file));
            let out = run_with_file(load, &path, timeout);
            let failure = (!out.status.is_ok()).then(|| match out.status {
                CommandStatus::Timeout => format!("`{}` {}", load[0], timed_out(timeout)),
                _ => out.stderr.trim().to_string(),
            });
            report.firewall.push(out);
            if let Some(output) = failure {
                return Err(HostError::FirewallLoad {
                    file: (*file).to_string(),
                    output,
                }
                .into());
            }
        }
    }
    Ok(())
}

fn fail_on_errors(r: &RestoreReport, what: &str) -> Result<()> {
    if r.errors.is_empty() {
        return Ok(());
    }
    let msg = format!("{what}: {}", r.errors.join("; "));
    Err(if r.damaged > 0 {
        Error::corrupt("host profile", msg)
    } else {
        Error::Invalid(msg)
    })
}

/// Write `paths` (host paths) of `tree` into `live_root`, durably, with owners when root.
fn write_files(
    repo: &Repository,
    tree: &[Id],
    prefix: Option<Vec<u8>>,
    live_root: &Path,
    paths: &[String],
) -> Result<u64> {
    if paths.is_empty() {
        return Ok(0);
    }
    let mut ro = RestoreOptions::new(live_root);
    ro.includes = paths.iter().map(|p| p.as_bytes().to_vec()).collect();
    ro.rebase = prefix;
    ro.durable = true;
    // The recorded ids, as `diff_live` compares them (an owner mapped by name would differ
    // from the snapshot there, and every apply would write the file again); a name lookup
    // would also describe this system, not a mounted disk under another host root.
    ro.numeric_owner = true;
    let r = restore_tree(repo, tree, None, &ro, &crate::progress::Silent)?;
    fail_on_errors(&r, "writing host files")?;
    Ok(r.files_written)
}

/// `sshd -t` on the staged configuration, with its `Include`s pointed into the staging
/// directory so drop-ins are checked as they will be installed.
fn check_sshd(stage: &Path, timeout: Duration) -> Result<Check> {
    let what = "sshd -t".to_string();
    let staged = join(stage, Path::new(SSHD_CONFIG));
    let Ok(text) = std::fs::read_to_string(&staged) else {
        return Ok(Check {
            what,
            status: CheckStatus::Skipped,
            detail: Some("the snapshot has no readable sshd_config".into()),
        });
    };
    let Some(sshd) = find_program("sshd", &["/usr/sbin/sshd", "/usr/local/sbin/sshd"]) else {
        return Ok(Check {
            what,
            status: CheckStatus::Skipped,
            detail: Some("sshd is not installed here: the configuration was not checked".into()),
        });
    };
    let ssh_dir = join(stage, Path::new("/etc/ssh"));
    let rewritten: String = text
        .lines()
        .map(|line| rewrite_include(line, &ssh_dir))
        .collect::<Vec<_>>()
        .join("\n");
    let check_file = ssh_dir.join(".lifeboat-sshd-check");
    std::fs::write(&check_file, rewritten + "\n").map_err(|e| Error::io(&check_file, e))?;
    let sshd_name = sshd.display().to_string();
    let check_name = check_file.display().to_string();
    let out = super::run_tool(
        "sshd -t",
        &[&sshd_name, "-t", "-f", &check_name],
        None,
        true,
        timeout,
    );
    match out.status {
        CommandStatus::Ok | CommandStatus::Failed => {}
        CommandStatus::Timeout => {
            return Err(HostError::CheckTimedOut {
                file: SSHD_CONFIG.to_string(),
                tool: format!("{sshd_name} -t"),
                limit: timeout,
            }
            .into());
        }
        _ => return Err(Error::io(&sshd, std::io::Error::other(out.stderr))),
    }
    if !out.status.is_ok() {
        let msg = out
            .stderr
            .replace(&check_file.display().to_string(), SSHD_CONFIG)
            .replace(&ssh_dir.display().to_string(), "/etc/ssh");
        return Err(HostError::SshdRejects {
            file: SSHD_CONFIG.to_string(),
            tool: "sshd -t".to_string(),
            output: msg.trim().to_string(),
        }
        .into());
    }
    Ok(Check {
        what,
        status: CheckStatus::Ok,
        detail: None,
    })
}

/// Point an `Include` line's paths (absolute under `/etc/ssh`, or relative, which sshd reads
/// relative to `/etc/ssh`) at the staged copy.
fn rewrite_include(line: &str, ssh_dir: &Path) -> String {
    let trimmed = line.trim_start();
    let mut words = trimmed.split_whitespace();
    if !words
        .next()
        .is_some_and(|k| k.eq_ignore_ascii_case("include"))
    {
        return line.to_string();
    }
    let args: Vec<String> = words
        .map(|w| {
            if let Some(rest) = w.strip_prefix("/etc/ssh/") {
                ssh_dir.join(rest).display().to_string()
            } else if w.starts_with('/') {
                w.to_string()
            } else {
                ssh_dir.join(w).display().to_string()
            }
        })
        .collect();
    format!("Include {}", args.join(" "))
}

/// How a tool that ran out of time is described: `did not finish within 60s and was killed`.
fn timed_out(timeout: Duration) -> String {
    crate::child::Failure::TimedOut(timeout).to_string()
}

fn check_firewall(stage: &Path, file: &str, check: &[&str], timeout: Duration) -> Result<Check> {
    let out = run_with_file(check, &join(stage, Path::new(file)), timeout);
    match out.status {
        CommandStatus::Ok => Ok(Check {
            what: check.join(" ") + " " + file,
            status: CheckStatus::Ok,
            detail: None,
        }),
        CommandStatus::Missing => Err(HostError::FirewallToolMissing {
            tool: check[0].to_string(),
            file: file.to_string(),
        }
        .into()),
        CommandStatus::Timeout => Err(HostError::CheckTimedOut {
            file: file.to_string(),
            tool: check.join(" "),
            limit: timeout,
        }
        .into()),
        _ => Err(HostError::FirewallRejects {
            tool: check.join(" "),
            file: file.to_string(),
            output: out.stderr.trim().to_string(),
        }
        .into()),
    }
}

/// Run `argv` with `file` as its last argument.
fn run_with_file(argv: &[&str], file: &Path, timeout: Duration) -> CommandOutput {
    let file = file.display().to_string();
    let args: Vec<&str> = argv[1..]
        .iter()
        .copied()
        .chain(std::iter::once(file.as_str()))
        .collect();
    run_one(argv[0], argv[0], &args, timeout)
}

fn find_program(name: &str, fallbacks: &[&str]) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(name))
        .chain(fallbacks.iter().map(PathBuf::from))
        .find(|p| p.is_file())
}

/// The live versions of `paths` (absent ones recorded as absent) under `live_root`, to be kept
/// as a `host-undo` snapshot; with the firewall option, also the live rule sets.
fn live_versions(live_root: &Path, paths: &[String], opts: &ApplyOptions) -> UndoSnapshot {
    let mut items: Vec<ItemState> = Vec::new();
    let mut real = Vec::new();
    let exists = |p: &str| std::fs::symlink_metadata(join(live_root, Path::new(p))).is_ok();
    for p in paths {
        if exists(p) {
            real.push(join(live_root, Path::new(p)));
            items.push(ItemState {
                pattern: p.clone(),
                found: vec![p.clone()],
            });
            continue;
        }
        // The apply creates missing parents too: record the topmost missing one as absent, so
        // undo removes what the apply created and nothing more.
        let mut top = p.as_str();
        while let Some(parent) = crate::util::parent(top.as_bytes()) {
            let parent = &top[..parent.len()];
            if parent == "/" || exists(parent) {
                break;
            }
            top = parent;
        }
        if !items.iter().any(|i| i.pattern == top) {
            items.push(ItemState {
                pattern: top.to_string(),
                found: Vec::new(),
            });
        }
    }
    let commands = if opts.firewall {
        RESTORABLE_RULES
            .iter()
            .filter_map(|(name, _)| super::profile::command(name))
            .map(|(n, p, a)| run_one(n, p, a, opts.tool_timeout))
            .collect()
    } else {
        Vec::new()
    };
    UndoSnapshot {
        paths: real,
        section: HostSection {
            root: live_root.display().to_string(),
            items,
            commands,
        },
    }
}

/// Undo the newest apply to `opts.live_root`.
pub fn undo(repo: &Repository, opts: &ApplyOptions, progress: &dyn Progress) -> Result<UndoReport> {
    let live_root = canonical_root(&opts.live_root)?;
    let root = live_root.display().to_string();
    let (id, _) = crate::snapshot::select::all(repo)?
        .into_iter()
        .rev()
        .find(|(_, s)| {
            s.tags.iter().any(|t| t == HOST_UNDO_TAG)
                && s.host.as_ref().is_some_and(|h| h.root == root)
                && opts.hostname.as_ref().is_none_or(|h| *h == s.hostname)
        })
        .ok_or_else(|| HostError::NothingToUndo {
            tag: HOST_UNDO_TAG,
            root: root.clone(),
        })?;
    undo_with(repo, &live_root, id, opts, progress)
}

fn undo_with(
    repo: &Repository,
    live_root: &Path,
    id: Id,
    opts: &ApplyOptions,
    _progress: &dyn Progress,
) -> Result<UndoReport> {
    let snap: Snapshot = repo.load_sealed(RepoFile::Snapshot, &id)?;
    let host = snap.host.as_ref().ok_or_else(|| {
        Error::corrupt(
            format!("snapshot {}", id.short()),
            format!("{HOST_UNDO_TAG} without a host section"),
        )
    })?;
    let mut report = UndoReport {
        undo_snapshot: id.to_hex(),
        ..UndoReport::default()
    };
    let present: Vec<String> = host.items.iter().flat_map(|i| i.found.clone()).collect();
    let absent: Vec<&str> = host
        .items
        .iter()
        .filter(|i| i.found.is_empty())
        .map(|i| i.pattern.as_str())
        .collect();
    if opts.dry_run {
        report.removed = absent
            .iter()
            .filter(|p| std::fs::symlink_metadata(join(live_root, Path::new(p))).is_ok())
            .map(|p| (*p).to_string())
            .collect();
        report.would_write = present;
        return Ok(report);
    }
    for p in absent {
        if std::fs::symlink_metadata(join(live_root, Path::new(p))).is_ok() {
            remove_tree(live_root, p)?;
            report.removed.push(p.to_string());
        }
    }
    report.files_written = write_files(repo, &snap.tree, tree_prefix(host), live_root, &present)?;
    if opts.firewall {
        for c in host.commands.iter().filter(|c| c.status.is_ok()) {
            let Some((_, argv)) = RESTORABLE_RULES.iter().find(|(n, _)| *n == c.name) else {
                continue;
            };
            let input = if c.name == "nft-ruleset" {
                format!("flush ruleset\n{}", c.stdout)
            } else {
                c.stdout.clone()
            };
            report
                .firewall
                .push(run_with_input(argv, &input, opts.tool_timeout));
        }
        if let Some(bad) = report.firewall.iter().find(|o| !o.status.is_ok()) {
            let why = if bad.status == CommandStatus::Timeout {
                timed_out(opts.tool_timeout)
            } else {
                format!("failed: {}", bad.stderr.trim())
            };
            report.warnings.push(format!("{} {why}", bad.name));
        }
    }
    // The undo is done: drop its snapshot so the next undo steps back one more apply.
    let _lock = repo.lock(LockKind::Exclusive, "host undo")?;
    repo.delete_snapshot(&id)?;
    Ok(report)
}

fn run_with_input(argv: &[&str], input: &str, timeout: Duration) -> CommandOutput {
    super::run_tool(
        argv.first().copied().unwrap_or(""),
        argv,
        Some(input.as_bytes()),
        false,
        timeout,
    )
}

/// Remove the host path `path` under `live_root` and everything below it, never following a
/// symlink (a symlink is removed, not its target).
fn remove_tree(live_root: &Path, path: &str) -> Result<()> {
    let target = Target::open(live_root, false)?;
    let (dir, name) = target.parent_of(path.as_bytes(), false)?;
    remove_at(&dir, name).map_err(|e| Error::io(join(live_root, Path::new(path)), errno_io(e)))
}

fn remove_at(dir: &OwnedFd, name: &[u8]) -> rustix::io::Result<()> {
    let st = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
    if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
        let sub = rustix::fs::openat(
            dir,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let mut names = Vec::new();
        for ent in rustix::fs::Dir::read_from(&sub)? {
            let ent = ent?;
            let n = ent.file_name().to_bytes();
            if n != b"." && n != b".." {
                names.push(n.to_vec());
            }
        }
        for n in names {
            remove_at(&sub, &n)?;
        }
        rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR)
    } else {
        rustix::fs::unlinkat(dir, name, AtFlags::empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn includes_point_into_the_stage() {
        let d = Path::new("/tmp/stage/etc/ssh");
        assert_eq!(
            rewrite_include("Include /etc/ssh/sshd_config.d/*.conf", d),
            "Include /tmp/stage/etc/ssh/sshd_config.d/*.conf"
        );
        assert_eq!(
            rewrite_include("  include extra.conf /opt/x.conf", d),
            "Include /tmp/stage/etc/ssh/extra.conf /opt/x.conf"
        );
        assert_eq!(
            rewrite_include("PermitRootLogin no", d),
            "PermitRootLogin no"
        );
        assert_eq!(rewrite_include("# Include x", d), "# Include x");
    }

    #[test]
    fn remove_tree_does_not_follow_symlinks() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("keep"), "x").unwrap();
        let d = root.path().join("etc/sudoers.d");
        std::fs::create_dir_all(d.join("sub")).unwrap();
        std::fs::write(d.join("sub/f"), "x").unwrap();
        std::os::unix::fs::symlink(outside.path(), d.join("sub/link")).unwrap();
        remove_tree(root.path(), "/etc/sudoers.d/sub").unwrap();
        assert!(!d.join("sub").exists());
        assert!(outside.path().join("keep").exists());
        // A symlinked parent is refused, not followed.
        std::os::unix::fs::symlink(outside.path(), root.path().join("etc/evil")).unwrap();
        assert!(remove_tree(root.path(), "/etc/evil/keep").is_err());
        assert!(outside.path().join("keep").exists());
    }
}
