//! The reverse of [`super::tarsrc`]: a subtree of the deployment tree written as a tar stream,
//! for engines whose volume mountpoints are not reachable from here (remote or rootless): the
//! stream is uploaded through a helper container's archive endpoint, which keeps owners, modes,
//! times and xattrs. File bytes come through [`ContentReader`], so they are verified on the way.

use std::io::Write;

use crate::error::{Error, Result};
use crate::id::Id;
use crate::repo::IndexedRepo;
use crate::snapshot::content::ContentReader;
use crate::snapshot::entry::{Entry, Kind};
use crate::snapshot::tree::TreeReader;

/// Write every entry at or below `prefix` as a tar stream, named `root/...` (`root/` for the
/// prefix itself). A named top directory, not `.`, because the engine skips a `.` entry when
/// extracting, and with it the volume root's owner and mode.
pub fn write_tar(
    repo: &IndexedRepo,
    tree: &[Id],
    prefix: &[u8],
    root: &str,
    out: impl Write,
) -> Result<()> {
    let mut b = tar::Builder::new(out);
    b.follow_symlinks(false);
    let io = |e: std::io::Error| Error::io("volume archive", e);
    for e in TreeReader::new(repo, tree) {
        crate::interrupt::check()?;
        let e = e?;
        let Some(name) = relative(&e.path, prefix) else {
            continue;
        };
        let name = under(root, &name);
        let mut h = tar::Header::new_gnu();
        h.set_mode(e.mode & 0o7777);
        h.set_uid(u64::from(e.uid));
        h.set_gid(u64::from(e.gid));
        if let Some(u) = &e.user {
            let _ = h.set_username(u);
        }
        if let Some(g) = &e.group {
            let _ = h.set_groupname(g);
        }
        h.set_mtime(u64::try_from(e.mtime.div_euclid(1_000_000_000)).unwrap_or(0));
        let pax = pax_records(&e);
        if !pax.is_empty() {
            let data = crate::snapshot::archive::pax_data(&pax);
            let mut ph = tar::Header::new_ustar();
            ph.set_entry_type(tar::EntryType::XHeader);
            ph.set_mode(0o644);
            ph.set_size(data.len() as u64);
            ph.set_path("PaxHeader").map_err(io)?;
            ph.set_cksum();
            b.append(&ph, data.as_slice()).map_err(io)?;
        }
        match e.kind {
            Kind::Dir => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                b.append_data(&mut h, dir_name(&name), std::io::empty())
                    .map_err(io)?;
            }
            Kind::File => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(e.size);
                let content = e
                    .content
                    .as_ref()
                    .ok_or_else(|| Error::hostile(e.path_str(), "file without content"))?;
                let reader = ContentReader::new(repo, content, e.size, e.path_str());
                b.append_data(&mut h, &name, reader).map_err(io)?;
            }
            Kind::Symlink | Kind::Hardlink => {
                let target = e.target.clone().unwrap_or_default();
                let target = if e.kind == Kind::Hardlink {
                    h.set_entry_type(tar::EntryType::Link);
                    under(
                        root,
                        &relative(&target, prefix).ok_or_else(|| {
                            Error::hostile(e.path_str(), "hard link outside its volume")
                        })?,
                    )
                } else {
                    h.set_entry_type(tar::EntryType::Symlink);
                    String::from_utf8_lossy(&target).into_owned()
                };
                h.set_size(0);
                b.append_link(&mut h, &name, &target).map_err(io)?;
            }
            Kind::Fifo | Kind::Chardev | Kind::Blockdev => {
                h.set_entry_type(match e.kind {
                    Kind::Fifo => tar::EntryType::Fifo,
                    Kind::Chardev => tar::EntryType::Char,
                    _ => tar::EntryType::Block,
                });
                if let Some(rdev) = e.rdev {
                    h.set_device_major(rustix::fs::major(rdev)).map_err(io)?;
                    h.set_device_minor(rustix::fs::minor(rdev)).map_err(io)?;
                }
                h.set_size(0);
                b.append_data(&mut h, &name, std::io::empty()).map_err(io)?;
            }
            Kind::Socket => {}
        }
    }
    b.into_inner().and_then(|mut w| w.flush()).map_err(io)
}

fn dir_name(name: &str) -> String {
    format!("{name}/")
}

/// `root` + relative name (`.` is the root itself).
fn under(root: &str, rel: &str) -> String {
    if rel == "." {
        root.to_string()
    } else {
        format!("{root}/{rel}")
    }
}

/// `prefix/a/b` → `a/b`; `prefix` → `.`.
fn relative(path: &[u8], prefix: &[u8]) -> Option<String> {
    if path == prefix {
        return Some(".".into());
    }
    let rest = path.strip_prefix(prefix)?.strip_prefix(b"/")?;
    Some(String::from_utf8_lossy(rest).into_owned())
}

/// Nanosecond times and xattrs, which a plain header cannot carry.
fn pax_records(e: &Entry) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    let secs = e.mtime.div_euclid(1_000_000_000);
    let nanos = e.mtime.rem_euclid(1_000_000_000);
    if nanos != 0 {
        out.push((b"mtime".to_vec(), format!("{secs}.{nanos:09}").into_bytes()));
    }
    for x in &e.xattrs {
        let mut key = b"SCHILY.xattr.".to_vec();
        key.extend_from_slice(&x.0);
        out.push((key, x.1.clone()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_relative_to_the_volume() {
        assert_eq!(relative(b"/volumes/v", b"/volumes/v").as_deref(), Some("."));
        assert_eq!(
            relative(b"/volumes/v/a/b", b"/volumes/v").as_deref(),
            Some("a/b")
        );
        assert_eq!(relative(b"/volumes/vv/a", b"/volumes/v"), None);
    }
}
