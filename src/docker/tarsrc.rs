//! A tar stream (what the Engine's archive endpoint returns for a path in a container) turned
//! into ordinary snapshot entries, so volume data read through the API goes through the same
//! chunking, dedup and verification as any file. The stream comes from the engine, which a
//! restore must not trust blindly either: names are checked, order is enforced, sizes bounded.

use std::io::Read;

use crate::error::{Error, Result};
use crate::snapshot::entry::{Entry, Kind, Xattr};
use crate::snapshot::pipeline::Session;
use crate::util::{path_cmp, path_problem};

/// What an owner that cannot be read or stored is recorded as: `nobody`, never root.
const UNKNOWN_OWNER: u32 = 65534;

/// A numeric owner from the archive; one that is unreadable or does not fit 32 bits is
/// recorded as [`UNKNOWN_OWNER`] with a warning naming the file, never silently as root.
fn owner_id(s: &Session<'_, '_>, path: &[u8], what: &str, id: Option<u64>) -> u32 {
    match id.map(u32::try_from) {
        Some(Ok(id)) => id,
        Some(Err(_)) | None => {
            let shown = id.map_or_else(|| "unreadable".to_string(), |i| i.to_string());
            s.warn(format!(
                "{}: {what} {shown} cannot be recorded; recorded as {UNKNOWN_OWNER} (nobody)",
                crate::util::show(path)
            ));
            UNKNOWN_OWNER
        }
    }
}

/// Emit the entries of `tar` found under `strip` (the archive's top directory, e.g. `data` for
/// an archive of `/data`), recorded below `as_path`. The engine writes archives in walk order,
/// which is the tree's order; anything else is refused rather than silently reordered.
pub fn emit_tar(s: &Session<'_, '_>, tar: impl Read, strip: &str, as_path: &[u8]) -> Result<()> {
    let what = format!("archive of {}", crate::util::show(as_path));
    let bad = |reason: String| Error::hostile(&what, reason);
    let mut archive = tar::Archive::new(tar);
    let entries = archive
        .entries()
        .map_err(|e| Error::io(&what, std::io::Error::other(e)))?;
    let mut last: Option<Vec<u8>> = None;
    for item in entries {
        if s.has_failed() {
            return Ok(());
        }
        let mut te = item.map_err(|e| Error::io(&what, e))?;
        let raw = te.path_bytes().into_owned();
        let name = trim_name(&raw);
        let rel = if name == strip.as_bytes() {
            &b""[..]
        } else if let Some(rest) = name.strip_prefix(strip.as_bytes()) {
            match rest.strip_prefix(b"/") {
                Some(r) => r,
                None => continue,
            }
        } else {
            return Err(bad(format!(
                "entry {:?} outside {strip}",
                String::from_utf8_lossy(name)
            )));
        };
        let path = join(as_path, rel);
        if let Some(p) = path_problem(&path) {
            return Err(bad(format!(
                "entry {:?}: {p}",
                String::from_utf8_lossy(rel)
            )));
        }
        if let Some(l) = &last
            && path_cmp(&path, l) != std::cmp::Ordering::Greater
        {
            return Err(bad(format!(
                "entry {:?} out of order",
                String::from_utf8_lossy(rel)
            )));
        }
        last = Some(path.clone());
        let header = te.header().clone();
        let Some(kind) = entry_kind(header.entry_type()) else {
            s.warn(format!(
                "{}: tar entry type {:?} not supported, skipped",
                crate::util::show(&path),
                header.entry_type()
            ));
            continue;
        };
        let mut e = Entry::new(path, kind);
        read_metadata(s, &mut te, &header, &mut e);
        match kind {
            Kind::Symlink | Kind::Hardlink => {
                let target = te
                    .link_name_bytes()
                    .ok_or_else(|| bad("link without a target".into()))?
                    .into_owned();
                e.target = Some(if kind == Kind::Hardlink {
                    let t = trim_name(&target);
                    let t = t
                        .strip_prefix(strip.as_bytes())
                        .and_then(|r| r.strip_prefix(b"/"))
                        .ok_or_else(|| bad("hard link outside the archive".into()))?;
                    join(as_path, t)
                } else {
                    target
                });
            }
            Kind::Chardev | Kind::Blockdev => {
                let major = header.device_major().ok().flatten().unwrap_or(0);
                let minor = header.device_minor().ok().flatten().unwrap_or(0);
                e.rdev = Some(rustix::fs::makedev(major, minor));
            }
            Kind::File => {
                let (content, n) = s.ingest(&mut te).map_err(|err| Error::io(&what, err))?;
                s.files_new
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                e.size = n;
                e.content = Some(content);
                // A tar header does not carry the link count; 2 lets later hard links in the
                // stream name this file (the tree only accepts links to multi-link files).
                e.nlink = 2;
            }
            _ => {}
        }
        s.progress().item(&e.path_str());
        s.push(e);
    }
    Ok(())
}

/// The entry kind of a tar entry type; `None` for types a snapshot does not record.
fn entry_kind(t: tar::EntryType) -> Option<Kind> {
    Some(match t {
        tar::EntryType::Regular | tar::EntryType::Continuous => Kind::File,
        tar::EntryType::Directory => Kind::Dir,
        tar::EntryType::Symlink => Kind::Symlink,
        tar::EntryType::Link => Kind::Hardlink,
        tar::EntryType::Char => Kind::Chardev,
        tar::EntryType::Block => Kind::Blockdev,
        tar::EntryType::Fifo => Kind::Fifo,
        _ => return None,
    })
}

/// Mode, owners, times and extended attributes of a tar entry: the header's fields, then its
/// PAX records, which override them.
fn read_metadata<R: Read>(
    s: &Session<'_, '_>,
    te: &mut tar::Entry<'_, R>,
    header: &tar::Header,
    e: &mut Entry,
) {
    e.mode = header.mode().unwrap_or(0o644) & 0o7777;
    let (mut uid, mut gid) = (header.uid().ok(), header.gid().ok());
    e.user = header.username().ok().flatten().map(str::to_string);
    e.group = header.groupname().ok().flatten().map(str::to_string);
    e.mtime = (header.mtime().unwrap_or(0) as i64).saturating_mul(1_000_000_000);
    if let Ok(Some(pax)) = te.pax_extensions() {
        for ext in pax.flatten() {
            let key = ext.key_bytes();
            // Owners beyond the header's octal field come as PAX records (Go's archive/tar).
            if key == b"uid" || key == b"gid" {
                let v = std::str::from_utf8(ext.value_bytes())
                    .ok()
                    .and_then(|v| v.parse().ok());
                *(if key == b"uid" { &mut uid } else { &mut gid }) = v;
            } else if key == b"mtime" {
                if let Some(ns) = std::str::from_utf8(ext.value_bytes())
                    .ok()
                    .and_then(parse_pax_time)
                {
                    e.mtime = ns;
                }
            } else if let Some(xname) = key.strip_prefix(b"SCHILY.xattr.") {
                e.xattrs
                    .push(Xattr(xname.to_vec(), ext.value_bytes().to_vec()));
            }
        }
    }
    e.uid = owner_id(s, &e.path, "uid", uid);
    e.gid = owner_id(s, &e.path, "gid", gid);
    e.xattrs.sort_by(|a, b| a.0.cmp(&b.0));
    e.atime = e.mtime;
}

/// `./a/b/` → `a/b`.
fn trim_name(raw: &[u8]) -> &[u8] {
    let mut n = raw;
    while let Some(r) = n.strip_prefix(b"./") {
        n = r;
    }
    while let Some(r) = n.strip_suffix(b"/") {
        n = r;
    }
    n
}

fn join(base: &[u8], rel: &[u8]) -> Vec<u8> {
    let mut p = base.to_vec();
    if !rel.is_empty() {
        p.push(b'/');
        p.extend_from_slice(rel);
    }
    p
}

/// PAX time `1700000000.123456789` in nanoseconds.
fn parse_pax_time(s: &str) -> Option<i64> {
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: i64 = secs.parse().ok()?;
    let mut digits: String = frac.chars().take(9).collect();
    if !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    while digits.len() < 9 {
        digits.push('0');
    }
    let nanos: i64 = digits.parse().ok()?;
    Some(secs.saturating_mul(1_000_000_000).saturating_add(nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Entries and warnings of a tar stream run through a real snapshot session.
    fn emitted(tar: Vec<u8>) -> (Vec<Entry>, Vec<String>) {
        let d = tempfile::tempdir().unwrap();
        let backend = std::sync::Arc::new(crate::repo::LocalBackend::new(d.path().join("r")));
        let kdf = crate::crypto::KdfParams::new(8 * 1024, 1, 1);
        let repo = crate::repo::Repository::init(backend, b"pw", kdf)
            .unwrap()
            .indexed()
            .unwrap();
        let writer = repo.pack_writer();
        let (tree, _, warnings) =
            crate::snapshot::pipeline::run(&writer, &crate::progress::Silent, 1, |s| {
                for dir in [&b"/"[..], b"/volumes"] {
                    s.push(Entry::new(dir.to_vec(), Kind::Dir));
                }
                emit_tar(s, &tar[..], "v", b"/volumes/v")
            })
            .unwrap();
        writer.finish().unwrap();
        let entries = crate::snapshot::tree::TreeReader::new(&repo, &tree)
            .collect::<Result<Vec<_>>>()
            .unwrap();
        (entries, warnings)
    }

    /// Regression (issue 10, item 5): an owner the header field cannot hold came from a PAX
    /// record and was lost; an unreadable one was silently recorded as root.
    #[test]
    fn owners_from_pax_records_and_unreadable_owners_warned() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        b.append_data(&mut h.clone(), "v/", std::io::empty())
            .unwrap();
        // A large uid, carried by a PAX record as Go's archive/tar writes it.
        b.append_pax_extensions([("uid", &b"3000000000"[..]), ("gid", &b"70000"[..])])
            .unwrap();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(1);
        b.append_data(&mut h.clone(), "v/big", &b"x"[..]).unwrap();
        // A header whose uid field is garbage.
        let mut bad = h.clone();
        bad.as_old_mut().uid = *b"zzzzzzz\0";
        bad.set_cksum();
        b.append_data(&mut bad, "v/garbled", &b"y"[..]).unwrap();
        let (entries, warnings) = emitted(b.into_inner().unwrap());
        let by_name = |n: &str| {
            entries
                .iter()
                .find(|e| e.path.ends_with(n.as_bytes()))
                .unwrap_or_else(|| panic!("{n} not emitted"))
        };
        assert_eq!(
            (by_name("big").uid, by_name("big").gid),
            (3_000_000_000, 70000)
        );
        assert_eq!(by_name("garbled").uid, UNKNOWN_OWNER);
        assert!(
            warnings
                .iter()
                .any(|w| w.contains("/volumes/v/garbled") && w.contains("uid unreadable")),
            "{warnings:?}"
        );
    }

    #[test]
    fn names_and_times() {
        assert_eq!(trim_name(b"./v/a/"), b"v/a");
        assert_eq!(join(b"/volumes/x", b""), b"/volumes/x");
        assert_eq!(join(b"/volumes/x", b"a/b"), b"/volumes/x/a/b");
        assert_eq!(parse_pax_time("12.5"), Some(12_500_000_000));
        assert_eq!(parse_pax_time("12"), Some(12_000_000_000));
        assert_eq!(parse_pax_time("x"), None);
    }
}
