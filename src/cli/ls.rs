//! `lifeboat ls SNAPSHOT [PATH]`: list a snapshot's files.

use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use anyhow::Result;
use lifeboat::escape::text as esc;
use lifeboat::snapshot::entry::Entry;
use lifeboat::snapshot::select::{self, Need};
use lifeboat::snapshot::tree::Subtree;
use lifeboat::util::{is_within, parent, show};

use super::{Exit, Global};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// `latest` (the newest snapshot with files; with --docker, with a deployment), `latest~N`,
    /// or an ID prefix; `SNAPSHOT:/DIR` lists that directory as if it were `/`.
    #[arg(value_name = "SNAPSHOT")]
    pub snapshot: String,
    /// Only this absolute path and what is below it (inside DIR with SNAPSHOT:/DIR).
    #[arg(value_name = "PATH")]
    pub path: Option<PathBuf>,
    /// Long listing: mode, owner, size, time.
    #[arg(short, long)]
    pub long: bool,
    /// List the whole subtree, not just the directory's own entries.
    #[arg(short = 'R', long)]
    pub recursive: bool,

    /// With `latest`: only snapshots of this hostname (default: this host's, when it has any).
    #[arg(long = "hostname", value_name = "HOST")]
    pub hosts: Vec<String>,
    /// With `latest`: only snapshots with this tag (repeatable; names an internal tag such as
    /// pre-update to reach those snapshots).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// List the Docker deployment's data (`/volumes/NAME/...`, `/images/ID.tar`) instead of
    /// the files.
    #[arg(long)]
    pub docker: bool,
}

/// A time in nanoseconds since the epoch, in local time, as `ls -l` and `find` show it.
pub(super) fn local_time_ns(ns: i64) -> String {
    chrono::DateTime::from_timestamp(
        ns.div_euclid(1_000_000_000),
        ns.rem_euclid(1_000_000_000) as u32,
    )
    .map(local_time)
    .unwrap_or_default()
}

/// A time in local time, to the second (`ls -l`, `find`, `snapshots`).
pub(super) fn local_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.with_timezone(&chrono::Local)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// An entry as `ls --json` gives it (and `find --json`): names exact, `path_hex`/`target_hex`
/// beside them when they are not UTF-8.
pub(super) fn entry_json(e: &Entry) -> serde_json::Value {
    let mut v = serde_json::json!({
        "type": e.kind.label(),
        "mode": format!("{:04o}", e.mode),
        "uid": e.uid, "gid": e.gid, "user": e.user, "group": e.group,
        "size": e.size,
        "mtime": local_time_ns(e.mtime),
        "mtime_ns": e.mtime,
        "sha256": e.content.as_ref().map(|c| hex::encode(c.sha256)),
        "target": null,
    });
    if let Some(o) = v.as_object_mut() {
        o.extend(lifeboat::escape::json_fields("path", &e.path));
        if let Some(t) = &e.target {
            o.extend(lifeboat::escape::json_fields("target", t));
        }
    }
    v
}

/// An entry as `ls -l` shows it (and `find`): mode, owner, group, size, time, name (escaped).
pub(super) fn entry_long(e: &Entry) -> String {
    let link = e
        .target
        .as_ref()
        .map(|t| format!(" -> {}", show(t)))
        .unwrap_or_default();
    format!(
        "{} {:>8} {:>8} {:>12} {} {}{}",
        e.mode_string(),
        e.user
            .as_deref()
            .filter(|u| !u.is_empty())
            .map_or_else(|| e.uid.to_string(), esc),
        e.group
            .as_deref()
            .filter(|g| !g.is_empty())
            .map_or_else(|| e.gid.to_string(), esc),
        e.size,
        local_time_ns(e.mtime),
        e.path_str(),
        link
    )
}

pub fn run(g: &Global, a: &Args) -> Result<Exit> {
    let repo = g.open()?.indexed()?;
    let need = if a.docker {
        Need::deployment()
    } else {
        Need::files()
    };
    let (_, snap, root) =
        select::resolve_subtree(&repo, &a.snapshot, &g.filter(&a.hosts, &a.tags), &need)?;
    let base: Vec<u8> = match &a.path {
        Some(p) => {
            lifeboat::util::normalize_abs(p.as_os_str().as_bytes()).map_err(anyhow::Error::msg)?
        }
        None => b"/".to_vec(),
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    use std::io::Write;
    let tree = if a.docker {
        match &snap.deployment {
            Some(d) => &d.tree,
            None => anyhow::bail!("this snapshot holds no Docker deployment"),
        }
    } else {
        &snap.tree
    };
    for e in Subtree::new(&repo, tree, root.as_deref()) {
        let e = e?;
        if !is_within(&e.path, &base) {
            continue;
        }
        // Without -R: the base itself and its direct children.
        if !a.recursive && e.path != base && parent(&e.path) != Some(&base[..]) && a.path.is_some()
        {
            continue;
        }
        if g.json {
            serde_json::to_writer(&mut out, &entry_json(&e))?;
            writeln!(out)?;
        } else if a.long {
            writeln!(out, "{}", entry_long(&e))?;
        } else {
            writeln!(out, "{}", e.path_str())?;
        }
    }
    out.flush()?;
    Ok(Exit::Success)
}
