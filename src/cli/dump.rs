//! `lifeboat dump SNAPSHOT PATH`: a file of a snapshot as its bytes, or a directory as a tar
//! archive, on stdout or into `--target FILE`, for whoever needs the data without lifeboat.

use std::io::{IsTerminal, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use anyhow::Result;
use lifeboat::files::dump::{DumpOptions, Format, Sink, dump};
use lifeboat::snapshot::select::{self, Need};
use lifeboat::util::{human_bytes, show, show_path};

use super::{Exit, Global, UsageError, print_json};

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  lifeboat dump latest /srv/models/config.json > config.json
  lifeboat dump latest /srv/models | tar -x -C /tmp/x      # files land in /tmp/x/srv/models
  lifeboat dump latest:/srv/models / | tar -x -C /srv/new  # the directory's contents
  lifeboat dump 1a2b3c4d / --target host.tar               # the whole snapshot, verified first")]
pub struct Args {
    /// `latest` (the newest snapshot of this host with files), `latest~N`, or an ID prefix of
    /// at least 8 hex digits; `SNAPSHOT:/DIR` makes DIR the root: PATH is inside it and names
    /// in the archive are relative to it.
    #[arg(value_name = "SNAPSHOT")]
    pub snapshot: String,

    /// The absolute path in the snapshot, as `lifeboat ls` shows it. A regular file is
    /// written as its bytes; a directory (`/` for everything) as a tar archive whose names are
    /// the snapshot paths without their leading `/`.
    #[arg(value_name = "PATH")]
    pub path: PathBuf,

    /// Write an archive even for a single file (`tar`: POSIX pax, with owners, modes,
    /// nanosecond times, links and xattrs as `SCHILY.xattr.*`; extract with `tar -x`, as
    /// root with `--xattrs` to get the attributes back).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub archive: Option<ArchiveArg>,

    /// Write into this file instead of stdout. It is replaced only once the whole dump is
    /// written and verified (a temporary file renamed into place); it gets the dumped file's
    /// permission bits, or 0600 for an archive.
    #[arg(long, value_name = "FILE")]
    pub target: Option<PathBuf>,

    /// With `latest`: only snapshots of this hostname (default: this host's, when it has any).
    #[arg(long = "hostname", value_name = "HOST")]
    pub hosts: Vec<String>,
    /// With `latest`: only snapshots with this tag.
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
}

/// `--archive` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ArchiveArg {
    Tar,
}

pub fn run(g: &Global, a: &Args) -> Result<Exit> {
    if a.target.is_none() {
        if std::io::stdout().is_terminal() {
            crate::usage!(
                "refusing to write binary data to a terminal: redirect stdout (`> FILE`, `| tar -x`) or give --target FILE"
            );
        }
        if g.json {
            crate::usage!("--json needs --target FILE: without it, stdout carries the dumped data");
        }
    }
    let path = lifeboat::util::normalize_abs(a.path.as_os_str().as_bytes())
        .map_err(|e| UsageError(format!("PATH: {e}")))?;
    let repo = g.open()?;
    let (id, snap, root) = select::resolve_subtree(
        &repo,
        &a.snapshot,
        &g.filter(&a.hosts, &a.tags),
        &Need::files(),
    )?;
    let mut opts = DumpOptions::new(path);
    if let Some(root) = root {
        opts.root = root;
    }
    opts.archive = a.archive.is_some();
    let bar = g.progress();
    let report = match &a.target {
        Some(target) => dump(&repo, &snap.tree, &opts, Sink::File(target), &bar)?,
        None => {
            let mut out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
            let report = dump(&repo, &snap.tree, &opts, Sink::Stream(&mut out), &bar)?;
            out.flush()?;
            report
        }
    };
    if g.json {
        print_json(&serde_json::json!({ "snapshot": id.to_hex(), "dump": report }))?;
    } else if let Some(target) = a.target.as_ref().filter(|_| !g.quiet) {
        // Without --target, stdout is the data: nothing else is printed there.
        match report.format {
            Format::File => println!(
                "wrote {} of snapshot {} to {} ({}, verified)",
                show(&report.path),
                id.short(),
                show_path(target),
                human_bytes(report.bytes)
            ),
            Format::Tar => println!(
                "wrote {} of snapshot {} to {} as a tar archive: {} files ({}), {} dirs, {} links, {} special; every file verified",
                show(&report.path),
                id.short(),
                show_path(target),
                report.files,
                human_bytes(report.bytes),
                report.dirs,
                report.links,
                report.special
            ),
        }
    }
    Ok(Exit::Success)
}
