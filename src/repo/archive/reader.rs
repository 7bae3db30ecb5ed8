//! Reading an archive in place: the read-only [`Backend`] behind `--from host.lbx` (and
//! `--repo host.lbx`). Opening walks the tar headers from the start, seeking past the data and
//! never unpacking anything, and checks what it finds against the table of contents: an
//! archive cut short anywhere, or with a member that disagrees with it, is refused before any
//! password is asked for. Reads are positioned reads of the one open file (`pread`), so any
//! number of threads read at once. Every change is refused with "read-only"; a shared lock
//! first checks each member's data against its BLAKE3 digest in the table of contents, once.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rayon::prelude::*;

use super::{
    ARCHIVE_VERSION, BLOCK, FORMAT_NAME, MAX_TOC, MAX_TRAILING_ZEROS, Member, TOC_NAME, Toc,
    checksum_ok, classify, padded,
};
use crate::error::{ArchiveError, ArchiveProblem, Error, Result};
use crate::repo::backend::{Backend, FileType};
use crate::util::show_path;

/// Positioned reads of the archive's bytes: the file, or a buffer (tests, fuzzing).
pub(crate) trait Bytes: Sync {
    fn len(&self) -> u64;
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
}

/// Bytes in memory read as an archive (tests, fuzzing).
pub(crate) struct Mem<'a>(pub &'a [u8]);

impl Bytes for Mem<'_> {
    fn len(&self) -> u64 {
        self.0.len() as u64
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let start = usize::try_from(offset).map_err(|_| io::ErrorKind::UnexpectedEof)?;
        let end = start
            .checked_add(buf.len())
            .filter(|e| *e <= self.0.len())
            .ok_or(io::ErrorKind::UnexpectedEof)?;
        buf.copy_from_slice(&self.0[start..end]);
        Ok(())
    }
}

/// The file and its length when it was opened.
struct Opened<'a>(&'a File, u64);

impl Bytes for Opened<'_> {
    fn len(&self) -> u64 {
        self.1
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.0.read_exact_at(buf, offset)
    }
}

/// A member found by the scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    pub name: String,
    pub member: Member,
    pub offset: u64,
    pub size: u64,
}

/// What a valid archive holds: its members (the table of contents last) and the table.
#[derive(Debug)]
pub(crate) struct Scan {
    pub members: Vec<Found>,
    pub toc: Toc,
}

fn read_block(src: &dyn Bytes, at: u64) -> io::Result<[u8; 512]> {
    let mut b = [0u8; 512];
    src.read_exact_at(&mut b, at)?;
    Ok(b)
}

/// Whether `len` bytes from `at` are all zero (read in pieces).
fn zeros(src: &dyn Bytes, at: u64, len: u64) -> io::Result<bool> {
    let mut buf = vec![0u8; len.min(1 << 16) as usize];
    let mut done = 0;
    while done < len {
        let n = (len - done).min(buf.len() as u64) as usize;
        src.read_exact_at(&mut buf[..n], at + done)?;
        if buf[..n].iter().any(|b| *b != 0) {
            return Ok(false);
        }
        done += n as u64;
    }
    Ok(true)
}

/// Walk the tar headers of `src` and check them against the table of contents. Reads headers,
/// padding, the end marker and the table of contents; never member data.
pub(crate) fn scan(src: &dyn Bytes) -> std::result::Result<Scan, ArchiveProblem> {
    use ArchiveProblem::{Damaged, NotAnArchive, Truncated};
    let io_err = |e: io::Error| match e.kind() {
        io::ErrorKind::UnexpectedEof => Truncated(format!("reading it failed: {e}")),
        _ => Damaged(format!("reading it failed: {e}")),
    };
    let len = src.len();
    if len == 0 {
        return Err(NotAnArchive("the file is empty".into()));
    }
    let mut members: Vec<Found> = Vec::new();
    let mut names: HashSet<String> = HashSet::new();
    let mut pos = 0u64;
    let after = |members: &[Found]| {
        members.last().map_or_else(
            || "at its start".to_string(),
            |m| format!("after member {}", m.name),
        )
    };
    loop {
        if pos.checked_add(BLOCK).is_none_or(|e| e > len) {
            if pos == 0 {
                return Err(NotAnArchive("shorter than one tar header".into()));
            }
            return Err(Truncated(format!(
                "it ends {} (byte {len}), without {} end-of-archive marker",
                after(&members),
                if pos == len { "the" } else { "a whole" }
            )));
        }
        let block = read_block(src, pos).map_err(io_err)?;
        if block.iter().all(|b| *b == 0) {
            if members.is_empty() {
                return Err(NotAnArchive(
                    "it starts with an end-of-archive marker".into(),
                ));
            }
            break;
        }
        let h = tar::Header::from_byte_slice(&block);
        let magic_ok = h.as_ustar().is_some() || h.as_gnu().is_some();
        if !checksum_ok(&block) || !magic_ok {
            if pos == 0 {
                return Err(NotAnArchive("not a tar file".into()));
            }
            return Err(Damaged(format!(
                "the member header at byte {pos} ({}) fails its checksum",
                after(&members)
            )));
        }
        let raw = h.path_bytes();
        let name = std::str::from_utf8(&raw)
            .map_err(|_| {
                if pos == 0 {
                    NotAnArchive("its first member is not part of a repository".into())
                } else {
                    Damaged(format!("the member name at byte {pos} is not UTF-8"))
                }
            })?
            .to_string();
        let member = classify(&name).map_err(|why| {
            if pos == 0 {
                NotAnArchive(format!(
                    "its first member is not part of a repository: {why}"
                ))
            } else {
                Damaged(why)
            }
        })?;
        let is_dir = h.entry_type().is_dir();
        let is_file = h.entry_type().is_file();
        match (&member, is_dir, is_file) {
            (Member::Dir, true, _) | (Member::File(..) | Member::Toc, _, true) => {}
            _ => {
                return Err(Damaged(format!(
                    "member {name:?} has the wrong type ({:?})",
                    h.entry_type()
                )));
            }
        }
        let size = h
            .entry_size()
            .map_err(|_| Damaged(format!("member {name:?}: unreadable size")))?;
        if is_dir && size != 0 {
            return Err(Damaged(format!("directory member {name:?} has data")));
        }
        if let Member::File(t, _) = &member
            && size > max_size(*t)
        {
            return Err(Damaged(format!(
                "member {name} is {size} bytes, more than a {} can be",
                t.label()
            )));
        }
        if let Some(last) = members.last()
            && last.member == Member::Toc
        {
            return Err(Damaged(format!(
                "member {name:?} follows the table of contents"
            )));
        }
        if !names.insert(name.clone()) {
            return Err(Damaged(format!("member {name:?} appears twice")));
        }
        let data = pos + BLOCK;
        let end = data
            .checked_add(size)
            .filter(|e| padded(*e).is_some())
            .ok_or_else(|| Damaged(format!("member {name:?}: size {size} out of range")))?;
        if end > len {
            return Err(Truncated(format!(
                "member {name} needs {size} bytes from byte {data}, the file ends at byte {len}"
            )));
        }
        let next = padded(end).unwrap_or(end);
        if next > len {
            return Err(Truncated(format!(
                "it ends in the padding after member {name} (byte {len})"
            )));
        }
        if !zeros(src, end, next - end).map_err(io_err)? {
            return Err(Damaged(format!(
                "the padding after member {name} is not zero"
            )));
        }
        members.push(Found {
            name,
            member,
            offset: data,
            size,
        });
        pos = next;
    }
    // The end marker: two zero blocks (the first was read), then at most a tar record's
    // padding of zeros.
    if pos + 2 * BLOCK > len {
        return Err(Truncated(format!(
            "its end-of-archive marker is cut (byte {len})"
        )));
    }
    let rest = len - pos - 2 * BLOCK;
    if rest > MAX_TRAILING_ZEROS || !zeros(src, pos + BLOCK, BLOCK + rest).map_err(io_err)? {
        return Err(Damaged(
            "bytes other than zeros follow the end-of-archive marker".into(),
        ));
    }
    let Some(last) = members.last().filter(|m| m.member == Member::Toc) else {
        return Err(NotAnArchive(format!(
            "a tar file without lifeboat's table of contents ({TOC_NAME})"
        )));
    };
    if last.size > MAX_TOC {
        return Err(Damaged(format!(
            "its table of contents is {} bytes, more than a reader accepts",
            last.size
        )));
    }
    let mut json = vec![0u8; last.size as usize];
    src.read_exact_at(&mut json, last.offset).map_err(io_err)?;
    let toc: Toc = serde_json::from_slice(&json)
        .map_err(|e| Damaged(format!("its table of contents cannot be read: {e}")))?;
    check_toc(&toc, &members)?;
    Ok(Scan { members, toc })
}

/// The largest file of a type a reader accepts (it reads such files whole): far above what
/// writers make (packs of at most 1 GiB plus a blob and a header, sealed files of at most
/// 64 MiB, key files and `config` of a few hundred bytes).
fn max_size(t: FileType) -> u64 {
    match t {
        FileType::Pack => 2 << 30,
        FileType::Index | FileType::Snapshot => 256 << 20,
        FileType::Config | FileType::Key | FileType::Lock => 1 << 20,
    }
}

/// The table of contents must describe exactly the members found, and a repository.
fn check_toc(toc: &Toc, members: &[Found]) -> std::result::Result<(), ArchiveProblem> {
    use ArchiveProblem::{Damaged, NotAnArchive, UnsupportedVersion};
    if toc.format != FORMAT_NAME {
        return Err(NotAnArchive(format!(
            "its table of contents is of format {:?}",
            toc.format
        )));
    }
    if toc.version != ARCHIVE_VERSION {
        return Err(UnsupportedVersion(toc.version));
    }
    let listed = &members[..members.len() - 1];
    if toc.members.len() != listed.len() {
        return Err(Damaged(format!(
            "it holds {} members, its table of contents lists {}",
            listed.len(),
            toc.members.len()
        )));
    }
    for (t, m) in toc.members.iter().zip(listed) {
        if t.name != m.name || t.offset != m.offset || t.size != m.size {
            return Err(Damaged(format!(
                "member {} (byte {}, {} bytes) differs from its table of contents entry ({} at byte {}, {} bytes)",
                m.name, m.offset, m.size, t.name, t.offset, t.size
            )));
        }
        let hex_ok = t.blake3.len() == 64
            && t.blake3
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
        if !hex_ok {
            return Err(Damaged(format!(
                "the digest of member {} in its table of contents is malformed",
                t.name
            )));
        }
    }
    let has = |t: FileType| {
        listed
            .iter()
            .any(|m| matches!(&m.member, Member::File(ft, _) if *ft == t))
    };
    if !has(FileType::Config) || !has(FileType::Key) {
        return Err(Damaged(
            "it holds no repository (no config or key file)".into(),
        ));
    }
    Ok(())
}

/// Check every member's data against its digest (in parallel); `Ok` or the problem naming
/// the first few members that differ.
pub(crate) fn check_digests(src: &dyn Bytes, toc: &Toc) -> std::result::Result<(), ArchiveProblem> {
    let bad: Vec<(u64, String)> = toc
        .members
        .par_iter()
        .filter(|m| m.size > 0)
        .filter_map(|m| {
            let mut hasher = blake3::Hasher::new();
            let mut buf = vec![0u8; m.size.min(1 << 20) as usize];
            let mut done = 0u64;
            while done < m.size {
                let n = (m.size - done).min(buf.len() as u64) as usize;
                if let Err(e) = src.read_exact_at(&mut buf[..n], m.offset + done) {
                    return Some((m.offset, format!("{} ({e})", m.name)));
                }
                hasher.update(&buf[..n]);
                done += n as u64;
            }
            (hasher.finalize().to_hex().as_str() != m.blake3).then(|| (m.offset, m.name.clone()))
        })
        .collect();
    if bad.is_empty() {
        return Ok(());
    }
    let mut bad = bad;
    bad.sort();
    let first: Vec<&str> = bad.iter().take(3).map(|(_, n)| n.as_str()).collect();
    Err(ArchiveProblem::Damaged(format!(
        "{} member(s) differ from the digest their table of contents records: {}{}",
        bad.len(),
        first.join(", "),
        if bad.len() > first.len() { ", ..." } else { "" }
    )))
}

/// Check an archive held in memory as reading one from a file does: its structure and table
/// of contents, then every member's digest. Returns the table of contents (tools, fuzzing).
pub fn check_bytes(bytes: &[u8]) -> std::result::Result<Toc, ArchiveProblem> {
    let found = scan(&Mem(bytes))?;
    check_digests(&Mem(bytes), &found.toc)?;
    Ok(found.toc)
}

/// A finished archive, read in place (see the module comment).
pub struct ArchiveReader {
    path: PathBuf,
    file: File,
    len: u64,
    files: HashMap<(FileType, String), (u64, u64)>,
    toc: Toc,
    intact: OnceLock<std::result::Result<(), ArchiveError>>,
}

impl std::fmt::Debug for ArchiveReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ArchiveReader({})", self.path.display())
    }
}

impl ArchiveReader {
    /// Open the archive at `path` and check its structure (see the module comment).
    pub fn open(path: &Path) -> Result<ArchiveReader> {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(ArchiveError::new(path, ArchiveProblem::Missing).into());
            }
            Err(e) => return Err(Error::io(path, e)),
        };
        let md = file.metadata().map_err(|e| Error::io(path, e))?;
        if !md.is_file() {
            return Err(ArchiveError::new(
                path,
                ArchiveProblem::NotAnArchive("not a regular file".into()),
            )
            .into());
        }
        let len = md.len();
        let found = scan(&Opened(&file, len)).map_err(|p| ArchiveError::new(path, p))?;
        let files = found
            .members
            .into_iter()
            .filter_map(|m| match m.member {
                Member::File(t, n) => Some(((t, n), (m.offset, m.size))),
                _ => None,
            })
            .collect();
        Ok(ArchiveReader {
            path: path.to_path_buf(),
            file,
            len,
            files,
            toc: found.toc,
            intact: OnceLock::new(),
        })
    }

    /// The archive's table of contents.
    pub fn toc(&self) -> &Toc {
        &self.toc
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn error(&self, problem: ArchiveProblem) -> ArchiveError {
        ArchiveError::new(&self.path, problem)
    }

    fn span(&self, t: FileType, name: &str) -> io::Result<(u64, u64)> {
        self.files
            .get(&(t, name.to_string()))
            .copied()
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!(
                        "no {} {name} in archive {}",
                        t.label(),
                        show_path(&self.path)
                    ),
                )
            })
    }

    /// A read that hits the end of the file: the file shrank since it was opened.
    fn read_exact(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.file.read_exact_at(buf, offset).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                self.error(ArchiveProblem::Truncated(format!(
                    "it became shorter than its {} bytes while it was read",
                    self.len
                )))
                .into_io()
            } else {
                e
            }
        })
    }

    fn read_only(&self, what: String) -> io::Error {
        self.error(ArchiveProblem::ReadOnly(what)).into_io()
    }
}

impl Backend for ArchiveReader {
    fn location(&self) -> String {
        show_path(&self.path)
    }

    fn container(&self) -> Option<String> {
        Some(format!("archive {}", show_path(&self.path)))
    }

    fn exists(&self) -> io::Result<bool> {
        Ok(true)
    }

    fn create(&self) -> io::Result<()> {
        Err(self.read_only("a repository cannot be created in it".into()))
    }

    fn read(&self, t: FileType, name: &str) -> io::Result<Vec<u8>> {
        let (offset, size) = self.span(t, name)?;
        let mut buf = vec![0u8; size as usize];
        self.read_exact(&mut buf, offset)?;
        Ok(buf)
    }

    fn read_at(&self, t: FileType, name: &str, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let (start, size) = self.span(t, name)?;
        if offset.checked_add(len as u64).is_none_or(|e| e > size) {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{} {name}: no bytes at {offset}+{len}", t.label()),
            ));
        }
        let mut buf = vec![0u8; len];
        self.read_exact(&mut buf, start + offset)?;
        Ok(buf)
    }

    fn size(&self, t: FileType, name: &str) -> io::Result<u64> {
        self.span(t, name).map(|(_, size)| size)
    }

    fn write(&self, t: FileType, name: &str, _data: &[u8]) -> io::Result<()> {
        Err(self.read_only(format!("{} {name} cannot be written", t.label())))
    }

    fn list(&self, t: FileType) -> io::Result<Vec<String>> {
        let mut out: Vec<String> = self
            .files
            .keys()
            .filter(|(ft, _)| *ft == t)
            .map(|(_, n)| n.clone())
            .collect();
        out.sort();
        Ok(out)
    }

    fn remove(&self, t: FileType, name: &str) -> io::Result<()> {
        Err(self.read_only(format!("{} {name} cannot be removed", t.label())))
    }

    fn clean_temporary(&self, _max_age: std::time::Duration) -> io::Result<usize> {
        Ok(0)
    }

    fn is_read_only(&self) -> bool {
        true
    }

    fn refusal(&self, what: &str) -> Error {
        self.error(ArchiveProblem::ReadOnly(what.to_string()))
            .into()
    }

    fn check_intact(&self) -> Result<()> {
        self.intact
            .get_or_init(|| {
                check_digests(&Opened(&self.file, self.len), &self.toc).map_err(|p| self.error(p))
            })
            .clone()
            .map_err(Error::from)
    }
}
