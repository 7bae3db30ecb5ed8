//! `lifeboat find PATTERN...`: which snapshots hold matching files.

use std::io::Write;

use anyhow::Result;
use lifeboat::files::pattern::Matcher;
use lifeboat::ops::find::{Found, find};
use lifeboat::snapshot::Entry;
use lifeboat::snapshot::select;

use super::filter::FilterArgs;
use super::{Exit, Global};

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  lifeboat find '*.safetensors'                    # by name, in every snapshot
  lifeboat find '/srv/models/**/config.json'       # a pattern with / matches the whole path
  lifeboat find -i 'readme*' --snapshot latest     # ignoring case, newest snapshot only
  lifeboat find --hostname gpu-01 --tag nightly 'sshd_config'
  lifeboat find --json '*.pt' | jq -r .path

Patterns are globs as --exclude reads them: `*` and `?` stay within one path component, `**`
crosses them, `[abc]` is a class. Quote them so the shell leaves them alone.
Each match is a line: snapshot ID and time, then mode, owner, size, time and path as in
`lifeboat ls -l`; --json prints one object per line.")]
pub struct Args {
    /// Glob patterns; an entry matches if any of them does (against its name, or against its
    /// absolute path when the pattern contains a `/`).
    #[arg(value_name = "PATTERN", required = true)]
    pub patterns: Vec<String>,
    /// Search only this snapshot (`latest` or an ID prefix; repeatable).
    #[arg(short = 's', long = "snapshot", value_name = "SNAPSHOT")]
    pub snapshots: Vec<String>,
    /// Match patterns ignoring upper and lower case.
    #[arg(short = 'i', long)]
    pub ignore_case: bool,
    #[command(flatten)]
    pub filter: FilterArgs,
}

pub fn run(g: &Global, a: &Args) -> Result<Exit> {
    let matcher = Matcher::globs(&a.patterns, a.ignore_case, "pattern")
        .map_err(|e| super::UsageError(e.to_string()))?;
    let repo = g.open()?.indexed()?;
    let filter = a.filter.filter(g);
    let snapshots = select::pick(&repo, &a.snapshots, &filter)?;
    let threads = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut matches = 0u64;
    let mut damaged = 0u64;
    find(&repo, &snapshots, &matcher, threads, |i, found| {
        let (id, snap) = &snapshots[i];
        let e = match found {
            Found::Match(e) => e,
            Found::Failed(err) => {
                damaged += 1;
                out.flush().map_err(|e| lifeboat::Error::io("stdout", e))?;
                super::log::warn(&format!(
                    "snapshot {}: {}; the rest of it was not searched",
                    id.short(),
                    super::errors::describe(&err)
                ));
                return Ok(());
            }
        };
        matches += 1;
        write_match(&mut out, g.json, id, snap, &e).map_err(|e| lifeboat::Error::io("stdout", e))
    })?;
    out.flush()?;
    if !g.json && !g.quiet && matches == 0 {
        eprintln!("no matches in {} snapshot(s)", snapshots.len());
    }
    Ok(if damaged > 0 {
        Exit::Integrity
    } else {
        Exit::Success
    })
}

fn write_match(
    out: &mut impl Write,
    json: bool,
    id: &lifeboat::Id,
    snap: &lifeboat::snapshot::Snapshot,
    e: &Entry,
) -> std::io::Result<()> {
    if json {
        let mut v = super::ls::entry_json(e);
        if let Some(o) = v.as_object_mut() {
            o.insert("snapshot".into(), id.to_hex().into());
            o.insert("short_id".into(), id.short().into());
            o.insert("snapshot_time".into(), snap.time.clone().into());
        }
        serde_json::to_writer(&mut *out, &v)?;
        return writeln!(out);
    }
    let when = snap.time().map(super::ls::local_time).unwrap_or_default();
    writeln!(out, "{} {}  {}", id.short(), when, super::ls::entry_long(e))
}
