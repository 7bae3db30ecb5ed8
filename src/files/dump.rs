//! `dump`: a snapshot's file as its bytes, or a directory as a tar archive, for people and
//! tools that need the data without lifeboat (restic's `dump`). Every byte comes through
//! [`ContentReader`], so each chunk is authenticated and each file's SHA-256 checked as a
//! restore checks them; damage ends the dump with an error, never a quietly wrong file, and a
//! tar archive cut short by it has no end marker, so `tar -x` fails too.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::id::Id;
use crate::observer::Warning;
use crate::progress::Progress;
use crate::repo::{IndexedRepo, LockKind, Repository};
use crate::snapshot::archive::{Body, TarError, TarWriter, copy_exact};
use crate::snapshot::content::ContentReader;
use crate::snapshot::entry::{Entry, Kind};
use crate::snapshot::tree::{TreeReader, rebase};
use crate::util::{is_within, path_cmp, show};

/// What to dump.
#[derive(Debug, Clone)]
pub struct DumpOptions {
    /// The snapshot path (absolute, normalised; relative to `root`).
    pub path: Vec<u8>,
    /// The directory of the snapshot that stands for `/` (`SNAPSHOT:/DIR`); `/` by default.
    /// Names in an archive are relative to it.
    pub root: Vec<u8>,
    /// A tar archive even when the path is a regular file.
    pub archive: bool,
}

impl DumpOptions {
    pub fn new(path: impl Into<Vec<u8>>) -> Self {
        DumpOptions {
            path: path.into(),
            root: b"/".to_vec(),
            archive: false,
        }
    }
}

/// Where the dump goes.
pub enum Sink<'a> {
    /// A stream (stdout): bytes already written stay written when the dump fails.
    Stream(&'a mut dyn Write),
    /// A file, replaced atomically only by a complete, verified dump: a file's own permission
    /// bits, or 0600 for an archive.
    File(&'a Path),
}

/// What was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// The bytes of one regular file.
    File,
    /// A tar archive.
    Tar,
}

#[derive(Debug, Serialize)]
pub struct DumpReport {
    pub format: Format,
    /// The snapshot path dumped (exact, see [`crate::escape::path_fields`]).
    #[serde(flatten, serialize_with = "crate::escape::path_fields")]
    pub path: Vec<u8>,
    /// The file written with [`Sink::File`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<PathBuf>,
    /// Regular files (and hard links stored as files), directories, links, other members.
    pub files: u64,
    pub dirs: u64,
    pub links: u64,
    pub special: u64,
    /// File content bytes written (without tar headers).
    pub bytes: u64,
    /// Objects an archive cannot hold (sockets), left out.
    pub skipped: Vec<String>,
}

/// Dump `opts.path` of the snapshot tree `tree` into `sink`.
pub fn dump(
    repo: &Repository,
    tree: &[Id],
    opts: &DumpOptions,
    sink: Sink<'_>,
    progress: &dyn Progress,
) -> Result<DumpReport> {
    let _lock = repo.lock(LockKind::Shared, "dump")?;
    let repo = &repo.indexed()?;
    match sink {
        Sink::Stream(out) => {
            let mut d = Dump::new(repo, opts, Path::new("stdout"), out, progress);
            d.run(tree)?;
            Ok(d.report)
        }
        Sink::File(path) => crate::util::write_file_atomic_with(path, |f| {
            let mut out = std::io::BufWriter::with_capacity(1 << 20, &mut *f);
            let mut d = Dump::new(repo, opts, path, &mut out, progress);
            d.run(tree)?;
            let (mut report, mode) = (d.report, d.mode);
            out.flush().map_err(|e| Error::io(path, e))?;
            drop(out);
            f.set_permissions(std::fs::Permissions::from_mode(mode.unwrap_or(0o600)))
                .map_err(|e| Error::io(path, e))?;
            report.target = Some(path.to_path_buf());
            Ok(report)
        }),
    }
}

/// One dump in progress.
struct Dump<'a> {
    repo: &'a IndexedRepo,
    opts: &'a DumpOptions,
    /// The snapshot path dumped: `root` + `path`.
    base: Vec<u8>,
    /// Where the output goes, for errors.
    label: &'a Path,
    out: TarWriter<&'a mut dyn Write>,
    progress: &'a dyn Progress,
    report: DumpReport,
    /// The permission bits of a file dumped as its bytes.
    mode: Option<u32>,
    /// Files with further hard links met outside `base`: a link inside may name one of them.
    outside: HashMap<Vec<u8>, Entry>,
    /// Snapshot path of a file with further hard links -> its name in the archive.
    members: HashMap<Vec<u8>, Vec<u8>>,
}

impl<'a> Dump<'a> {
    fn new(
        repo: &'a IndexedRepo,
        opts: &'a DumpOptions,
        label: &'a Path,
        out: &'a mut dyn Write,
        progress: &'a dyn Progress,
    ) -> Self {
        let base = join(&opts.root, &opts.path);
        Dump {
            repo,
            opts,
            report: DumpReport {
                format: Format::File,
                path: base.clone(),
                target: None,
                files: 0,
                dirs: 0,
                links: 0,
                special: 0,
                bytes: 0,
                skipped: Vec::new(),
            },
            base,
            label,
            out: TarWriter::new(out),
            progress,
            mode: None,
            outside: HashMap::new(),
            members: HashMap::new(),
        }
    }

    fn run(&mut self, tree: &[Id]) -> Result<()> {
        // The entries below `base` follow it, contiguous (FORMAT.md §8: depth-first order).
        let mut seen = false;
        for e in TreeReader::new(self.repo, tree) {
            crate::interrupt::check()?;
            let e = e?;
            if !is_within(&e.path, &self.base) {
                if seen || path_cmp(&e.path, &self.base) == std::cmp::Ordering::Greater {
                    break;
                }
                if e.kind == Kind::File && e.nlink > 1 {
                    self.outside.insert(e.path.clone(), e);
                }
                continue;
            }
            if !seen {
                seen = true;
                if !self.opts.archive && e.kind != Kind::Dir {
                    return self.raw(e);
                }
                self.report.format = Format::Tar;
                self.progress.start("dump", None);
            }
            self.member(e)?;
        }
        if !seen {
            return Err(Error::PathNotInSnapshot(show(&self.base)));
        }
        self.out.finish().map_err(|e| Error::io(self.label, e))?;
        self.progress.finish();
        Ok(())
    }

    /// A regular file (or a hard link to one) as its bytes.
    fn raw(&mut self, e: Entry) -> Result<()> {
        let e = match e.kind {
            Kind::File => e,
            Kind::Hardlink => self.linked_file(e, false)?,
            kind => {
                return Err(Error::NotARegularFile {
                    path: e.path_str(),
                    kind: kind.label(),
                });
            }
        };
        self.progress.start("dump", Some(e.size));
        self.mode = Some(e.mode & 0o777);
        let content = e
            .content
            .as_ref()
            .ok_or_else(|| Error::hostile(e.path_str(), "file without content"))?;
        let mut reader = Counting {
            inner: ContentReader::new(self.repo, content, e.size, object(&e)),
            progress: self.progress,
        };
        let got = copy_exact(&mut reader, self.out.get_mut(), e.size)
            .map_err(|err| self.tar_error(&e, err))?;
        if got != e.size {
            return Err(size_error(&e, got));
        }
        self.out
            .get_mut()
            .flush()
            .map_err(|err| Error::io(self.label, err))?;
        self.report.files = 1;
        self.report.bytes = e.size;
        self.progress.item(&e.path_str());
        self.progress.finish();
        Ok(())
    }

    /// The file a hard link names, with the link's own name and metadata: the file was left
    /// out of the dump (it lies outside the dumped path). With `record`, later links to the
    /// same file link to this member instead.
    fn linked_file(&mut self, mut e: Entry, record: bool) -> Result<Entry> {
        let target = e.target.clone().unwrap_or_default();
        let Some(first) = self.outside.remove(&target) else {
            return Err(Error::hostile(
                e.path_str(),
                "hard link to a file that is not in the snapshot before it",
            ));
        };
        if record {
            let name = self.name(&e.path);
            self.members.insert(target, name);
        }
        e.kind = Kind::File;
        e.target = None;
        e.size = first.size;
        e.content = first.content;
        Ok(e)
    }

    /// The archive member's name of a snapshot path: relative to `root`, no leading `/`.
    fn name(&self, path: &[u8]) -> Vec<u8> {
        let rel = rebase(path, &self.opts.root).unwrap_or_else(|| path.to_vec());
        rel[1..].to_vec()
    }

    /// One entry as an archive member.
    fn member(&mut self, e: Entry) -> Result<()> {
        let name = self.name(&e.path);
        // The root itself is where the archive is extracted: no member.
        if name.is_empty() {
            return Ok(());
        }
        let e = match e.kind {
            Kind::Hardlink => {
                let target = e.target.clone().unwrap_or_default();
                if let Some(first) = self.members.get(&target).cloned() {
                    self.append(&name, &e, Body::Link(&first))?;
                    self.report.links += 1;
                    return Ok(());
                }
                self.linked_file(e, true)?
            }
            _ => e,
        };
        match e.kind {
            Kind::File => {
                let content = e
                    .content
                    .as_ref()
                    .ok_or_else(|| Error::hostile(e.path_str(), "file without content"))?;
                let reader = ContentReader::new(self.repo, content, e.size, object(&e));
                let mut counting = Counting {
                    inner: reader,
                    progress: self.progress,
                };
                self.append(&name, &e, Body::Data(&mut counting))?;
                if e.nlink > 1 {
                    self.members.insert(e.path.clone(), name);
                }
                self.report.files += 1;
                self.report.bytes += e.size;
                self.progress.item(&e.path_str());
            }
            Kind::Socket => {
                self.progress.warn(Warning::advice(format!(
                    "{}: a socket cannot be stored in a tar archive; left out",
                    e.path_str()
                )));
                self.report.skipped.push(e.path_str());
            }
            Kind::Dir => {
                self.append(&name, &e, Body::None)?;
                self.report.dirs += 1;
            }
            Kind::Symlink => {
                self.append(&name, &e, Body::None)?;
                self.report.links += 1;
            }
            _ => {
                self.append(&name, &e, Body::None)?;
                self.report.special += 1;
            }
        }
        Ok(())
    }

    fn append(&mut self, name: &[u8], e: &Entry, body: Body<'_>) -> Result<()> {
        match self.out.append(name, e, body) {
            Ok(_) => Ok(()),
            Err(err) => Err(self.tar_error(e, err)),
        }
    }

    fn tar_error(&self, e: &Entry, err: TarError) -> Error {
        match err {
            TarError::Read(io) => in_file(e, Error::from_io(e.path_str(), io)),
            TarError::Write(io) => Error::io(self.label, io),
            TarError::Size { got, .. } => size_error(e, got),
            TarError::Unsupported(kind) => Error::NotARegularFile {
                path: e.path_str(),
                kind: kind.label(),
            },
        }
    }
}

/// The name a file's content reader gives its errors.
fn object(e: &Entry) -> String {
    format!("file {}", e.path_str())
}

/// A damaged chunk named as damage of the file too ("file /srv/m.bin: data blob ...:
/// authentication failed"), so the message says which file is lost.
fn in_file(e: &Entry, err: Error) -> Error {
    match err {
        Error::Corrupt { object: o, reason } if o != object(e) => Error::Corrupt {
            object: format!("{}: {o}", object(e)),
            reason,
        },
        other => other,
    }
}

fn size_error(e: &Entry, got: u64) -> Error {
    Error::corrupt(
        object(e),
        format!(
            "stored content holds {got} bytes, the snapshot says {}",
            e.size
        ),
    )
}

/// A reader that reports what passes through it as progress, and stops when the user
/// interrupts (a large file would otherwise run to its end first).
struct Counting<'p, R> {
    inner: R,
    progress: &'p dyn Progress,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        crate::interrupt::check().map_err(std::io::Error::other)?;
        let n = self.inner.read(buf)?;
        self.progress.advance(n as u64);
        Ok(n)
    }
}

/// `root` + `path` (both absolute).
fn join(root: &[u8], path: &[u8]) -> Vec<u8> {
    match (root, path) {
        (b"/", p) => p.to_vec(),
        (r, b"/") => r.to_vec(),
        (r, p) => [r, p].concat(),
    }
}
