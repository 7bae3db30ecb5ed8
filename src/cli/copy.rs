//! `lifeboat copy`: copy snapshots from another repository into this one (restic's `copy`).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use lifeboat::observer::Observer;
use lifeboat::ops::copy::{CopyOptions, CopyReport, copy};
use lifeboat::repo::RepoLocation;
use lifeboat::repo::writer::WriteStats;
use lifeboat::util::{human_bytes, show_path};

use super::filter::FilterArgs;
use super::password;
use super::{Exit, Global, UsageError, print_json};

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  # local -> S3: an off-site copy of every snapshot (the destination's password as usual)
  export LIFEBOAT_FROM_REPO=/srv/lifeboat LIFEBOAT_FROM_PASSWORD_FILE=/root/.lifeboat-pass
  export LIFEBOAT_PASSWORD_FILE=/root/.offsite-pass
  lifeboat copy --repo s3:http://minio:9000/backups/gpu-01

  # S3 -> local: bring the newest snapshot of a host back to restore it here
  lifeboat copy latest --hostname gpu-01 --repo /srv/lifeboat \\
      --from-repo s3:http://minio:9000/backups/gpu-01 --from-password-command 'pass show offsite'

  # air-gapped: copy onto a removable disk, carry it over, copy from it on the other side
  lifeboat init --repo /media/usb/lifeboat                      # once
  lifeboat copy --repo /media/usb/lifeboat --from-repo /srv/lifeboat --tag nightly
  lifeboat copy --repo /srv/vault --from-repo /media/usb/lifeboat   # on the isolated host

  lifeboat copy --dry-run                  # what would be copied and read, nothing written
  lifeboat copy 1a2b3c4d --json            # one snapshot; a report for scripts

The source repository: --from-repo or LIFEBOAT_FROM_REPO; its password from
--from-password-file, --from-password-command, LIFEBOAT_FROM_PASSWORD_FILE,
LIFEBOAT_FROM_PASSWORD_COMMAND or LIFEBOAT_FROM_PASSWORD (never on the command line), else a
prompt. The destination is the usual repository (--repo, LIFEBOAT_REPO, the configuration).

Snapshots are named as in the source. Each repository keys its chunk IDs with a secret of its
own, so every chunk a snapshot needs is read from the source, authenticated, and stored here
encrypted with this repository's keys, unless this repository already holds it; chunks of
snapshots copied before are recognised without reading them again. A copy keeps the time,
hostname, paths, tags and Docker and host sections, and records the source snapshot's ID as
`original`: a snapshot copied before is skipped, so running the same copy again copies
nothing. An interrupted copy leaves both repositories valid; run it again to finish.")]
pub struct Args {
    /// Snapshots to copy (`latest` or ID prefixes, as named in the source); without them,
    /// every snapshot of the source the filters match.
    #[arg(value_name = "SNAPSHOT")]
    pub snapshots: Vec<String>,
    /// The repository to copy from.
    #[arg(
        long,
        env = "LIFEBOAT_FROM_REPO",
        value_name = "DIR|s3:URL",
        help_heading = "Source repository"
    )]
    pub from_repo: Option<String>,
    /// Read the source repository's password from this file (first line).
    #[arg(
        long,
        env = "LIFEBOAT_FROM_PASSWORD_FILE",
        value_name = "FILE",
        hide_env_values = true,
        help_heading = "Source repository"
    )]
    pub from_password_file: Option<PathBuf>,
    /// Run this shell command and use its output as the source repository's password.
    #[arg(
        long,
        env = "LIFEBOAT_FROM_PASSWORD_COMMAND",
        value_name = "CMD",
        hide_env_values = true,
        help_heading = "Source repository"
    )]
    pub from_password_command: Option<String>,
    /// Show what would be copied and read from the source; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub filter: FilterArgs,
}

/// Marks an error of the source repository's opening (for the wrong-password hint).
#[derive(Debug)]
struct SourceRepo(String);

impl std::fmt::Display for SourceRepo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether a failed command's error is the source repository's (opening it).
pub fn is_source_error(e: &anyhow::Error) -> bool {
    e.downcast_ref::<SourceRepo>().is_some()
}

/// The hint for damage found during a copy: the error names the repository.
pub const INTEGRITY_HINT: &str = "run `lifeboat --repo REPOSITORY verify --read-data` on the repository the error names to find all damage";

/// The wrong-password hint for the source repository: where its password came from (never
/// the password, nor the command's text).
pub fn password_hint(a: &Args) -> String {
    let from = if let Some(f) = &a.from_password_file {
        format!(
            "the source repository's password was read from {} (--from-password-file or LIFEBOAT_FROM_PASSWORD_FILE)",
            show_path(f)
        )
    } else if a.from_password_command.is_some() {
        "the source repository's password came from its password command (--from-password-command or LIFEBOAT_FROM_PASSWORD_COMMAND)".to_string()
    } else if std::env::var_os("LIFEBOAT_FROM_PASSWORD").is_some() {
        "the source repository's password came from LIFEBOAT_FROM_PASSWORD".to_string()
    } else {
        "the source repository's password was typed at the prompt".to_string()
    };
    format!("{from}; check that it is the password of one of the source repository's keys")
}

/// The source repository's password source.
fn source_password(a: &Args) -> password::Source<'_> {
    password::Source {
        file: a.from_password_file.as_deref(),
        command: a.from_password_command.as_deref(),
        env: "LIFEBOAT_FROM_PASSWORD",
        flags: "--from-",
        whose: " for the source repository",
    }
}

/// Logs what the repository reports outside the operation (a damaged index or snapshot file
/// skipped), naming the repository.
struct Named {
    name: String,
    inner: super::progress::Log,
}

impl Observer for Named {
    fn warn(&self, w: lifeboat::observer::Warning) {
        self.inner.warn(lifeboat::observer::Warning {
            kind: w.kind,
            message: format!("{}: {}", self.name, w.message),
        });
    }

    fn event(&self, event: lifeboat::observer::Event) {
        self.inner.event(event);
    }

    fn describe(&self, error: &lifeboat::Error) -> String {
        self.inner.describe(error)
    }

    fn visible(&self) -> bool {
        false
    }
}

fn named(g: &Global, repo: &mut lifeboat::repo::Repository, name: String) {
    repo.set_observer(Arc::new(Named {
        name,
        inner: super::progress::Log {
            tally: g.tally.clone(),
        },
    }));
}

pub fn run(g: &Global, a: &Args) -> Result<Exit> {
    let Some(from) = &a.from_repo else {
        return Err(UsageError(
            "no source repository given: use --from-repo DIR (or s3:URL) or set LIFEBOAT_FROM_REPO"
                .into(),
        )
        .into());
    };
    let from = RepoLocation::parse(from).map_err(|e| UsageError(format!("--from-repo: {e}")))?;
    // Both named before any password is asked for.
    let to = g.location()?;
    let source_name = format!(
        "source repository {}",
        lifeboat::escape::controls(&from.to_string())
    );
    let dest_name = format!(
        "destination repository {}",
        lifeboat::escape::controls(&to.to_string())
    );
    let mut source = g
        .open_at(&from, &source_password(a))
        .map_err(|e| e.context(SourceRepo(source_name.clone())))?;
    named(g, &mut source, source_name);
    let mut destination = g.open().with_context(|| dest_name.clone())?;
    named(g, &mut destination, dest_name);
    let opts = CopyOptions {
        specs: a.snapshots.clone(),
        filter: a.filter.filter(g),
        dry_run: a.dry_run,
    };
    let bar = g.progress();
    let report = copy(&source, &destination, &opts, &bar)?;
    if g.json {
        print_json(&json(&report))?;
    } else if !g.quiet {
        print(&report);
    }
    Ok(Exit::Success)
}

fn stored_json(w: &WriteStats) -> serde_json::Value {
    serde_json::json!({
        "blobs_stored": w.blobs,
        "raw_bytes_stored": w.raw_bytes,
        "bytes_stored": w.stored_bytes,
    })
}

fn json(r: &CopyReport) -> serde_json::Value {
    let copied: Vec<serde_json::Value> = r
        .copied
        .iter()
        .map(|c| {
            let mut v = serde_json::json!({
                "source": c.source.to_hex(),
                "destination": c.destination.map(|d| d.to_hex()),
                "time": c.time,
                "hostname": c.hostname,
                "paths": c.paths,
                "tags": c.tags,
                "blobs_read": c.blobs_read,
                "bytes_read": c.bytes_read,
            });
            merge(&mut v, stored_json(&c.stored));
            v
        })
        .collect();
    let skipped: Vec<serde_json::Value> = r
        .skipped
        .iter()
        .map(|s| {
            serde_json::json!({
                "source": s.source.to_hex(),
                "destination": s.destination.to_hex(),
                "time": s.time,
                "hostname": s.hostname,
            })
        })
        .collect();
    let mut v = serde_json::json!({
        "dry_run": r.dry_run,
        "snapshots_copied": r.copied.len(),
        "snapshots_skipped": r.skipped.len(),
        "copied": copied,
        "skipped": skipped,
        "blobs_read": r.blobs_read,
        "bytes_read": r.bytes_read,
        "blobs_learned": r.blobs_learned,
        "packs_written": r.stored.packs,
    });
    merge(&mut v, stored_json(&r.stored));
    v
}

fn merge(into: &mut serde_json::Value, from: serde_json::Value) {
    if let (Some(a), serde_json::Value::Object(b)) = (into.as_object_mut(), from) {
        a.extend(b);
    }
}

fn print(r: &CopyReport) {
    for s in &r.skipped {
        println!(
            "skipping snapshot {} of {} at {}: already copied as {}",
            s.source.short(),
            s.hostname,
            s.time,
            s.destination.short()
        );
    }
    for c in &r.copied {
        let what = format!(
            "snapshot {} of {} at {} ({})",
            c.source.short(),
            c.hostname,
            c.time,
            c.paths.join(", ")
        );
        match c.destination {
            Some(d) => println!(
                "copied {what} -> {}: read {} blob(s) ({}), stored {} new ({})",
                d.short(),
                c.blobs_read,
                human_bytes(c.bytes_read),
                c.stored.blobs,
                human_bytes(c.stored.stored_bytes)
            ),
            None => println!(
                "would copy {what}: {} blob(s) ({}) to read",
                c.blobs_read,
                human_bytes(c.bytes_read)
            ),
        }
    }
    if r.dry_run {
        println!(
            "would copy {} snapshot(s), skip {}; would read {} blob(s) ({}) from the source (dry run: nothing written)",
            r.copied.len(),
            r.skipped.len(),
            r.blobs_read,
            human_bytes(r.bytes_read)
        );
    } else {
        println!(
            "copied {} snapshot(s), skipped {}; read {} blob(s) ({}) from the source, stored {} new blob(s) ({}, {} before compression)",
            r.copied.len(),
            r.skipped.len(),
            r.blobs_read,
            human_bytes(r.bytes_read),
            r.stored.blobs,
            human_bytes(r.stored.stored_bytes),
            human_bytes(r.stored.raw_bytes)
        );
    }
}
