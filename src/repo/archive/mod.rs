//! Single-file archives (`.lbx`, written by `lifeboat export`): one repository's files in one
//! POSIX tar file, under the paths a local repository gives them, followed by a table of
//! contents (docs/FORMAT.md §12). The file can be carried anywhere, read in place by lifeboat
//! (`--from host.lbx`) or unpacked with `tar -xf` into a repository directory.
//!
//! Both sides are [`Backend`](super::Backend)s, so nothing above `repo/` knows about archives:
//! - [`ArchiveWriter`] is what an export initialises a fresh repository on and copies a
//!   snapshot into: every file written is appended as a tar member; locks stay in memory;
//!   nothing can be removed; [`ArchiveWriter::finish`] appends the table of contents and the
//!   end marker and renames the temporary file into place.
//! - [`ArchiveReader`] serves a finished archive read-only: on open it walks the tar headers
//!   (seeking past the data) and checks them against the table of contents, so an archive cut
//!   short anywhere is refused at once; reads are positioned reads of the file. A repository
//!   opened on it cannot write, and a shared lock first checks every member's digest
//!   ([`Backend::check_intact`](super::Backend::check_intact)).
//!
//! This module holds what both sides share: member names, the tar header, the table of
//! contents.

mod reader;
mod writer;

use serde::{Deserialize, Serialize};

pub use reader::{ArchiveReader, check_bytes};
pub use writer::{ArchiveMeta, ArchiveWriter};

use super::backend::{FileType, check_name};

/// The last member: the table of contents.
pub const TOC_NAME: &str = "lifeboat-archive.json";
/// The table of contents' `format` value.
pub const FORMAT_NAME: &str = "lifeboat-archive";
/// The table of contents' `version` this lifeboat writes and reads.
pub const ARCHIVE_VERSION: u64 = 1;
/// Tar's block size: headers are one block, data is padded to whole blocks.
const BLOCK: u64 = 512;
/// The largest table of contents a reader accepts.
const MAX_TOC: u64 = 64 << 20;
/// The most zero bytes a reader accepts after the end marker (tar programs pad to their record
/// size, 10 KiB by default).
const MAX_TRAILING_ZEROS: u64 = 1 << 20;

/// The table of contents (`lifeboat-archive.json`): what the archive holds and where.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Toc {
    /// Always [`FORMAT_NAME`].
    pub format: String,
    pub version: u64,
    /// The archive repository's ID (hex), as in its `config`.
    pub repository: String,
    /// The snapshot the archive was made for: its ID in the archive (hex).
    pub snapshot: String,
    /// The same snapshot's ID in the repository it was exported from (hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_snapshot: Option<String>,
    /// RFC 3339 time of the export.
    pub created: String,
    /// `lifeboat x.y.z`.
    pub program: String,
    /// Every member before the table of contents, in file order.
    pub members: Vec<TocMember>,
}

/// One member as the table of contents records it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct TocMember {
    /// The member's name in the tar file (directories end with `/`).
    pub name: String,
    /// Byte offset of its data (just after its header).
    pub offset: u64,
    /// Length of its data.
    pub size: u64,
    /// BLAKE3 (unkeyed) of its data, hex.
    pub blake3: String,
}

/// What a member name stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Member {
    /// One of the repository's directories.
    Dir,
    /// A repository file: its type and its name within the type (as the `Backend` names it).
    File(FileType, String),
    /// The table of contents.
    Toc,
}

/// The directories of a repository as members, in the order an export writes them: what
/// `init` creates, so that `tar -xf` gives a directory `--repo` opens (`locks/` included).
pub(crate) fn directories() -> Vec<String> {
    let mut dirs: Vec<String> = ["keys/", "snapshots/", "index/", "locks/", "data/"]
        .iter()
        .map(|d| (*d).to_string())
        .collect();
    dirs.extend((0..=255u8).map(|b| format!("data/{b:02x}/")));
    dirs
}

/// The member name of a repository file (`data/3f/3f2a...` for a pack).
pub(crate) fn member_name(t: FileType, name: &str) -> std::io::Result<String> {
    let dir = match t {
        FileType::Config => return Ok("config".into()),
        FileType::Key => "keys",
        FileType::Snapshot => "snapshots",
        FileType::Index => "index",
        FileType::Pack => "data",
        FileType::Lock => "locks",
    };
    check_name(t, name)?;
    Ok(if t == FileType::Pack {
        format!("data/{}/{name}", &name[..2])
    } else {
        format!("{dir}/{name}")
    })
}

/// What a member name stands for, or why it has no place in an archive.
pub(crate) fn classify(name: &str) -> Result<Member, String> {
    let unexpected = || format!("unexpected member {name:?}");
    if name == TOC_NAME {
        return Ok(Member::Toc);
    }
    if name == "config" {
        return Ok(Member::File(FileType::Config, "config".into()));
    }
    if let Some(dir) = name.strip_suffix('/') {
        let known = matches!(dir, "keys" | "snapshots" | "index" | "locks" | "data")
            || dir.strip_prefix("data/").is_some_and(|xx| {
                xx.len() == 2
                    && xx
                        .bytes()
                        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            });
        return if known {
            Ok(Member::Dir)
        } else {
            Err(unexpected())
        };
    }
    let (t, file) = if let Some(f) = name.strip_prefix("keys/") {
        (FileType::Key, f)
    } else if let Some(f) = name.strip_prefix("snapshots/") {
        (FileType::Snapshot, f)
    } else if let Some(f) = name.strip_prefix("index/") {
        (FileType::Index, f)
    } else if let Some(rest) = name.strip_prefix("data/") {
        let (xx, f) = rest.split_once('/').ok_or_else(unexpected)?;
        if f.get(..2) != Some(xx) {
            return Err(unexpected());
        }
        (FileType::Pack, f)
    } else if name.starts_with("locks/") {
        return Err(format!(
            "member {name:?} is a lock, which archives never hold"
        ));
    } else {
        return Err(unexpected());
    };
    check_name(t, file).map_err(|_| unexpected())?;
    Ok(Member::File(t, file.to_string()))
}

/// A ustar header for a member: mode 0600 (files) or 0700 (directories), owner 0:0, the
/// name written as is (every name of the layout fits the 100-byte name field).
pub(crate) fn header(name: &str, size: u64, dir: bool, mtime: u64) -> [u8; 512] {
    let mut h = tar::Header::new_ustar();
    debug_assert!(name.len() < 100, "member names of the layout are short");
    let field = &mut h.as_old_mut().name;
    let n = name.len().min(field.len() - 1);
    field[..n].copy_from_slice(&name.as_bytes()[..n]);
    h.set_size(size);
    h.set_mode(if dir { 0o700 } else { 0o600 });
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(mtime);
    h.set_entry_type(if dir {
        tar::EntryType::Directory
    } else {
        tar::EntryType::Regular
    });
    h.set_cksum();
    *h.as_bytes()
}

/// Whether a header block's checksum field matches its bytes (the sum of all bytes, the
/// checksum field counted as spaces). The field must be in one of its two usual forms, seven
/// octal digits and a NUL (POSIX, this writer) or six and a NUL and a space (GNU tar), so that
/// no byte of it can change unnoticed.
pub(crate) fn checksum_ok(block: &[u8; 512]) -> bool {
    let sum: u64 = block
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                u64::from(b' ')
            } else {
                u64::from(*b)
            }
        })
        .sum();
    let f = &block[148..156];
    let digits = if f[7] == 0 {
        &f[..7]
    } else if f[6] == 0 && f[7] == b' ' {
        &f[..6]
    } else {
        return false;
    };
    let stored = digits.iter().try_fold(0u64, |acc, d| {
        (b'0'..=b'7')
            .contains(d)
            .then(|| acc * 8 + u64::from(d - b'0'))
    });
    stored == Some(sum)
}

/// `size` rounded up to whole blocks; `None` on overflow.
pub(crate) fn padded(size: u64) -> Option<u64> {
    size.checked_add(BLOCK - 1).map(|s| s / BLOCK * BLOCK)
}

#[cfg(test)]
mod tests;
