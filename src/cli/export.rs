//! `lifeboat export`: one snapshot into a single-file archive (`.lbx`) with a password of its
//! own, which `--from FILE` reads in place on any host.

use std::path::PathBuf;

use anyhow::Result;
use lifeboat::ops::export::{ExportOptions, ExportReport, export};
use lifeboat::util::{human_bytes, show_path};

use super::filter::FilterArgs;
use super::password::{self, Password};
use super::{Exit, Global, print_json};

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  # the newest snapshot of this host, for the disaster-recovery drawer
  export LIFEBOAT_ARCHIVE_PASSWORD_FILE=/root/.archive-pass
  lifeboat export latest --output /media/usb/gpu-01.lbx

  # on the rebuilt host (or anywhere): read it in place, with the archive's password
  export LIFEBOAT_PASSWORD_FILE=/root/.archive-pass
  lifeboat snapshots --from /media/usb/gpu-01.lbx
  lifeboat restore --from /media/usb/gpu-01.lbx --target /           # files
  lifeboat restore --from /media/usb/gpu-01.lbx --containers         # the Docker deployment
  lifeboat verify --read-data --from /media/usb/gpu-01.lbx

  # without lifeboat: it is a tar file of a repository directory
  mkdir gpu-01 && tar -xf gpu-01.lbx -C gpu-01 && lifeboat snapshots --repo gpu-01

The archive is a repository of its own holding exactly what the snapshot needs (its files,
its Docker deployment with image archives and volume data, its host profile), encrypted with
fresh keys under the archive password: the repository's password does not open it, and it
does not open the repository (an archive password that would is refused). Give the archive
password with --archive-password-file, --archive-password-command,
LIFEBOAT_ARCHIVE_PASSWORD_FILE, LIFEBOAT_ARCHIVE_PASSWORD_COMMAND or
LIFEBOAT_ARCHIVE_PASSWORD (never on the command line), or type it twice at the prompt. The
repository is opened as usual (--repo, LIFEBOAT_PASSWORD_FILE, ...).

The file is written beside FILE under a temporary name (.tmp-NAME-...) and renamed when
complete: an interrupted export leaves no FILE. Reading it checks its structure at once and
every byte before restore or verify write or report anything; a truncated or damaged archive
is refused with exit code 4. Its layout is in docs/FORMAT.md (\"Single-file archives\").")]
// No argument group of its own: the flattened KDF options' struct is also named `Args`.
#[group(skip)]
pub struct Args {
    /// The snapshot to export: `latest` (this host's newest, within the filters) or an ID
    /// prefix.
    #[arg(value_name = "SNAPSHOT", default_value = "latest")]
    pub snapshot: String,
    /// The archive file to write (conventionally NAME.lbx).
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Replace FILE when it exists (atomically: the old file stays until the new one is
    /// complete).
    #[arg(long)]
    pub force: bool,
    /// Show what would be exported and read; write no archive.
    #[arg(long)]
    pub dry_run: bool,
    /// Read the archive's password from this file (first line).
    #[arg(
        long,
        env = "LIFEBOAT_ARCHIVE_PASSWORD_FILE",
        value_name = "FILE",
        hide_env_values = true,
        help_heading = "Archive password"
    )]
    pub archive_password_file: Option<PathBuf>,
    /// Run this shell command and use its output as the archive's password.
    #[arg(
        long,
        env = "LIFEBOAT_ARCHIVE_PASSWORD_COMMAND",
        value_name = "CMD",
        hide_env_values = true,
        help_heading = "Archive password"
    )]
    pub archive_password_command: Option<String>,
    #[command(flatten)]
    pub filter: FilterArgs,
    #[command(flatten)]
    pub kdf: super::init::Args,
}

/// The archive password's source.
fn source(a: &Args) -> password::Source<'_> {
    password::Source {
        file: a.archive_password_file.as_deref(),
        command: a.archive_password_command.as_deref(),
        env: "LIFEBOAT_ARCHIVE_PASSWORD",
        flags: "--archive-",
        whose: " for the archive",
    }
}

/// The new archive password: from its file, command or variable, or typed twice.
fn archive_password(a: &Args) -> Result<Password> {
    let src = source(a);
    let given = src.file.is_some()
        || src.command.is_some()
        || std::env::var_os("LIFEBOAT_ARCHIVE_PASSWORD").is_some();
    if given {
        src.get()
    } else {
        password::prompt_twice("archive", &src)
    }
}

pub fn run(g: &Global, a: &Args) -> Result<Exit> {
    let kdf = super::init::kdf(
        a.kdf.kdf_memory,
        a.kdf.kdf_iterations,
        a.kdf.kdf_parallelism,
    );
    kdf.check_bounds("--kdf-* options")?;
    let pw = archive_password(a)?;
    let repo = g.open()?;
    let opts = ExportOptions {
        spec: a.snapshot.clone(),
        filter: a.filter.filter(g),
        output: a.output.clone(),
        replace: a.force,
        dry_run: a.dry_run,
        kdf,
    };
    let bar = g.progress();
    let report = export(&repo, &pw, &opts, &bar)?;
    if g.json {
        print_json(&json(&report))?;
    } else if !g.quiet {
        print(&report);
    }
    Ok(Exit::Success)
}

fn json(r: &ExportReport) -> serde_json::Value {
    serde_json::json!({
        "dry_run": r.dry_run,
        "archive": r.archive,
        "snapshot": r.snapshot.map(|i| i.to_hex()),
        "source_snapshot": r.source_snapshot.to_hex(),
        "repository": r.repository,
        "time": r.time,
        "hostname": r.hostname,
        "paths": r.paths,
        "tags": r.tags,
        "bytes": r.bytes,
        "blobs": r.blobs,
        "raw_bytes": r.raw_bytes,
        "packs": r.packs,
        "blobs_read": r.blobs_read,
        "bytes_read": r.bytes_read,
    })
}

fn print(r: &ExportReport) {
    let what = format!(
        "snapshot {} of {} at {} ({})",
        r.source_snapshot.short(),
        r.hostname,
        r.time,
        r.paths.join(", ")
    );
    match r.snapshot {
        Some(id) => {
            println!(
                "exported {what} to {}: {} ({} blob(s), {} before compression), snapshot {} in the archive",
                show_path(&r.archive),
                human_bytes(r.bytes),
                r.blobs,
                human_bytes(r.raw_bytes),
                id.short()
            );
            println!(
                "read it with `lifeboat --from {} snapshots` and the archive password",
                show_path(&r.archive)
            );
        }
        None => println!(
            "would export {what} to {}: {} blob(s) ({}) to read (dry run: nothing written)",
            show_path(&r.archive),
            r.blobs_read,
            human_bytes(r.bytes_read)
        ),
    }
}
