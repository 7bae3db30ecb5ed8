//! `lifeboat find PATTERN...`: which snapshots hold matching files.

use std::io::Write;

use anyhow::Result;
use lifeboat::ops::find::{Found, find};
use lifeboat::snapshot::Entry;
use lifeboat::snapshot::select;
use lifeboat::source::fs::Matcher;

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

fn local_time(ns: i64) -> String {
    chrono::DateTime::from_timestamp(
        ns.div_euclid(1_000_000_000),
        ns.rem_euclid(1_000_000_000) as u32,
    )
    .map(|t| {
        t.with_timezone(&chrono::Local)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    })
    .unwrap_or_default()
}

fn owner(name: Option<&String>, id: u32) -> String {
    name.filter(|n| !n.is_empty())
        .cloned()
        .unwrap_or_else(|| id.to_string())
}

pub fn run(g: &Global, a: &Args) -> Result<Exit> {
    let matcher = Matcher::globs(&a.patterns, a.ignore_case, "pattern")
        .map_err(|e| super::UsageError(e.to_string()))?;
    let repo = g.open()?;
    repo.load_index()?;
    let filter = a.filter.filter(g);
    let snapshots = if a.snapshots.is_empty() {
        select::all(&repo)?
            .into_iter()
            .filter(|(_, s)| filter.matches(s))
            .collect()
    } else {
        let mut v: Vec<_> = Vec::new();
        for spec in &a.snapshots {
            let found = select::resolve(&repo, spec, &filter, &select::Need::default())?;
            if !v.iter().any(|(id, _)| *id == found.0) {
                v.push(found);
            }
        }
        v
    };
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
                    "snapshot {}: {err}; the rest of it was not searched",
                    id.short()
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
        let v = serde_json::json!({
            "snapshot": id.to_hex(),
            "short_id": id.short(),
            "snapshot_time": snap.time,
            "path": e.path_str(),
            "type": e.kind.label(),
            "mode": format!("{:04o}", e.mode),
            "uid": e.uid, "gid": e.gid, "user": e.user, "group": e.group,
            "size": e.size,
            "mtime": local_time(e.mtime),
            "mtime_ns": e.mtime,
            "sha256": e.content.as_ref().map(|c| hex::encode(c.sha256)),
            "target": e.target.as_ref().map(|t| lifeboat::util::show(t)),
        });
        serde_json::to_writer(&mut *out, &v)?;
        return writeln!(out);
    }
    let when = snap
        .time()
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_default();
    let link = e
        .target
        .as_ref()
        .map(|t| format!(" -> {}", lifeboat::util::show(t)))
        .unwrap_or_default();
    writeln!(
        out,
        "{} {}  {} {:>8} {:>8} {:>12} {} {}{}",
        id.short(),
        when,
        e.mode_string(),
        owner(e.user.as_ref(), e.uid),
        owner(e.group.as_ref(), e.gid),
        e.size,
        local_time(e.mtime),
        e.path_str(),
        link
    )
}
