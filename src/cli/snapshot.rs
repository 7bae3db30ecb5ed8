//! `lifeboat snapshot PATH...`: take a snapshot.

use std::path::PathBuf;

use anyhow::{Context, Result};
use lifeboat::snapshot::create::{ParentChoice, SnapshotOptions, create};
use lifeboat::source::fs::Excludes;
use lifeboat::util::human_bytes;

use super::{Exit, Global, print_json};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Files and directories to include.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Tag the snapshot (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,

    /// Leave out paths matching a glob. With a `/` it matches the absolute path
    /// (`/srv/*/cache`, `**/*.tmp`), without one any file or directory name (`*.log`).
    #[arg(
        short = 'e',
        long = "exclude",
        value_name = "GLOB",
        help_heading = "Excluding"
    )]
    pub excludes: Vec<String>,

    /// Read exclude globs from a file, one per line (`#` starts a comment).
    #[arg(long = "exclude-file", value_name = "FILE", help_heading = "Excluding")]
    pub exclude_files: Vec<PathBuf>,

    /// Stay on the filesystem of each given path.
    #[arg(short = 'x', long, help_heading = "Excluding")]
    pub one_file_system: bool,

    /// Skip the contents of directories tagged with a CACHEDIR.TAG file.
    #[arg(long, help_heading = "Excluding")]
    pub exclude_caches: bool,

    /// Compare against this snapshot to skip unchanged files (default: the newest with the same host and paths).
    #[arg(long, value_name = "SNAPSHOT", conflicts_with = "force")]
    pub parent: Option<String>,

    /// Read every file, even unchanged ones.
    #[arg(long)]
    pub force: bool,

    /// Record this hostname instead of the machine's.
    #[arg(long, value_name = "NAME")]
    pub host: Option<String>,
}

pub fn run(g: &Global, a: &Args) -> Result<Exit> {
    let repo = g.open()?;
    let mut excludes = Excludes {
        patterns: a.excludes.clone(),
        one_file_system: a.one_file_system,
        caches: a.exclude_caches,
        paths: Vec::new(),
    };
    for f in &a.exclude_files {
        excludes.patterns.extend(
            Excludes::read_file(f)
                .with_context(|| format!("reading exclude file {}", f.display()))?,
        );
    }
    let opts = SnapshotOptions {
        paths: a.paths.clone(),
        tags: a.tags.clone(),
        excludes,
        parent: match (&a.parent, a.force) {
            (_, true) => ParentChoice::None,
            (Some(p), false) => ParentChoice::Id(p.clone()),
            (None, false) => ParentChoice::Auto,
        },
        hostname: a.host.clone(),
        lock_wait: g.lock_wait,
        ..Default::default()
    };
    let bar = g.progress();
    let r = create(&repo, &opts, &bar)?;
    let s = &r.snapshot.summary;
    if g.json {
        print_json(&serde_json::json!({
            "id": r.id.to_hex(),
            "short_id": r.id.short(),
            "time": r.snapshot.time,
            "parent": r.snapshot.parent.map(|p| p.to_hex()),
            "summary": s,
            "warnings": r.warnings,
        }))?;
    } else if !g.quiet {
        println!(
            "files: {} new, {} changed, {} unmodified; {} dirs, {} other",
            s.files_new, s.files_changed, s.files_unmodified, s.dirs, s.others
        );
        println!(
            "data:  read {}, added {} ({} stored) in {} blobs",
            human_bytes(s.bytes_read),
            human_bytes(s.raw_added),
            human_bytes(s.stored_added),
            s.blobs_added
        );
        println!(
            "snapshot {} saved ({} in {:.2}s)",
            r.id.short(),
            human_bytes(s.bytes),
            s.duration_ms as f64 / 1000.0
        );
        if !r.warnings.is_empty() {
            eprintln!(
                "{} warning(s): some files were not read completely; see above",
                r.warnings.len()
            );
        }
    }
    Ok(if r.warnings.is_empty() {
        Exit::Success
    } else {
        Exit::Partial
    })
}
