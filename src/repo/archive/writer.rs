//! Writing an archive: the [`Backend`] an export initialises its fresh repository on and
//! copies a snapshot into. Every file the repository writes becomes the next tar member of a
//! temporary file beside the output (`.tmp-NAME-RANDOM`, mode 0600), and can be read back
//! while the export runs (the copy reads its own index and snapshots). Locks are kept in
//! memory and never reach the file; nothing else can be removed. [`ArchiveWriter::finish`]
//! appends the table of contents and the end marker, syncs the file and only then gives it the
//! output's name (and syncs the directory); an export that fails or is interrupted before
//! leaves no file under that name, and the temporary file is removed when the writer is dropped.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::{
    ARCHIVE_VERSION, BLOCK, FORMAT_NAME, Member, TOC_NAME, Toc, TocMember, classify, directories,
    header, member_name, padded,
};
use crate::error::{ArchiveError, ArchiveProblem, Error, Result};
use crate::id::Id;
use crate::repo::backend::{Backend, FileType};
use crate::util::{TMP_PREFIX, random_suffix, show_path};

/// What the table of contents says about the archive besides its members.
#[derive(Debug, Clone)]
pub struct ArchiveMeta {
    /// The archive repository's ID.
    pub repository: Vec<u8>,
    /// The snapshot's ID in the archive.
    pub snapshot: Id,
    /// The snapshot's ID in the repository it came from.
    pub source_snapshot: Option<Id>,
}

/// An archive being written (see the module comment).
#[derive(Debug)]
pub struct ArchiveWriter {
    output: PathBuf,
    tmp: PathBuf,
    file: File,
    /// Modification time of every member (the export's start, whole seconds).
    mtime: u64,
    state: Mutex<State>,
    locks: Mutex<BTreeMap<String, Vec<u8>>>,
}

#[derive(Debug, Default)]
struct State {
    /// Where the next member's header goes.
    end: u64,
    members: Vec<TocMember>,
    /// (type, name) -> (data offset, size), for reading back.
    files: HashMap<(FileType, String), (u64, u64)>,
    created: bool,
    /// The table of contents and the end marker are written: nothing more can be added.
    finished: bool,
    /// The file has the output's name: it stays when the writer is dropped.
    named: bool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl ArchiveWriter {
    /// Start an archive that [`ArchiveWriter::finish`] will name `output`. Refuses an existing
    /// `output` unless `replace`; the check is made again when the file is named.
    pub fn start(output: &Path, replace: bool) -> Result<ArchiveWriter> {
        let name = output
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|n| !n.is_empty())
            .ok_or_else(|| Error::Invalid(format!("{}: not a file name", show_path(output))))?;
        match fs::symlink_metadata(output) {
            Ok(md) if md.is_dir() => {
                return Err(Error::Invalid(format!(
                    "{} is a directory: name the archive file to write",
                    show_path(output)
                )));
            }
            Ok(_) if !replace => {
                return Err(ArchiveError::new(output, ArchiveProblem::Exists).into());
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(output, e)),
        }
        let dir = parent(output);
        let tmp = dir.join(format!("{TMP_PREFIX}{name}-{}", random_suffix()));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| Error::io(&tmp, e))?;
        file.set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(|e| Error::io(&tmp, e))?;
        let mtime = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Ok(ArchiveWriter {
            output: output.to_path_buf(),
            tmp,
            file,
            mtime,
            state: Mutex::new(State::default()),
            locks: Mutex::new(BTreeMap::new()),
        })
    }

    /// The file being written until [`ArchiveWriter::finish`] names it.
    pub fn temporary_path(&self) -> &Path {
        &self.tmp
    }

    /// Append one member: header, data, padding. Registered (readable, in the table of
    /// contents) only once all of it is written.
    fn append(&self, st: &mut State, name: &str, dir: bool, parts: &[&[u8]]) -> io::Result<()> {
        if st.finished {
            return Err(io::Error::other("the archive is already finished"));
        }
        let size: u64 = parts.iter().map(|p| p.len() as u64).sum();
        let mut hasher = blake3::Hasher::new();
        let head = header(name, size, dir, self.mtime);
        let start = st.end;
        self.file.write_all_at(&head, start)?;
        let data = start + BLOCK;
        let mut at = data;
        for p in parts {
            self.file.write_all_at(p, at)?;
            hasher.update(p);
            at += p.len() as u64;
        }
        let end = data + padded(size).ok_or_else(|| io::Error::other("member too large"))?;
        let pad = (end - at) as usize;
        if pad > 0 {
            self.file.write_all_at(&vec![0u8; pad], at)?;
        }
        st.end = end;
        st.members.push(TocMember {
            name: name.to_string(),
            offset: data,
            size,
            blake3: hasher.finalize().to_hex().to_string(),
        });
        if let Ok(Member::File(t, n)) = classify(name) {
            st.files.insert((t, n), (data, size));
        }
        Ok(())
    }

    fn write_member(&self, t: FileType, name: &str, parts: &[&[u8]]) -> io::Result<()> {
        let member = member_name(t, name)?;
        if t == FileType::Lock {
            let mut locks = lock(&self.locks);
            if locks.contains_key(name) {
                return Err(exists(&member));
            }
            locks.insert(name.to_string(), parts.concat());
            return Ok(());
        }
        let mut st = lock(&self.state);
        if st.files.contains_key(&(t, name.to_string())) {
            return Err(exists(&member));
        }
        self.append(&mut st, &member, false, parts)
    }

    fn span(&self, t: FileType, name: &str) -> io::Result<(u64, u64)> {
        lock(&self.state)
            .files
            .get(&(t, name.to_string()))
            .copied()
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("no {} {name} in the archive being written", t.label()),
                )
            })
    }

    /// Complete the archive: the table of contents (with `meta`) as its last member, the end
    /// marker, a sync; then the file gets the output's name (replacing an existing file only
    /// when `replace`) and the directory is synced. Returns the archive's size in bytes.
    pub fn finish(&self, meta: &ArchiveMeta, replace: bool) -> Result<u64> {
        let mut st = lock(&self.state);
        if st.finished {
            return Err(Error::Invalid(format!(
                "{}: the archive is already finished",
                show_path(&self.output)
            )));
        }
        let toc = Toc {
            format: FORMAT_NAME.into(),
            version: ARCHIVE_VERSION,
            repository: hex::encode(&meta.repository),
            snapshot: meta.snapshot.to_hex(),
            source_snapshot: meta.source_snapshot.map(|i| i.to_hex()),
            created: crate::util::now_rfc3339(),
            program: format!("lifeboat {}", env!("CARGO_PKG_VERSION")),
            members: st.members.clone(),
        };
        let json = serde_json::to_vec(&toc)
            .map_err(|e| Error::Invalid(format!("encoding the table of contents: {e}")))?;
        let io = |e| Error::io(&self.tmp, e);
        self.append(&mut st, TOC_NAME, false, &[&json])
            .map_err(io)?;
        let end = st.end + 2 * BLOCK;
        self.file
            .write_all_at(&[0u8; 2 * BLOCK as usize], st.end)
            .map_err(io)?;
        // Bytes a failed write left beyond the last member go.
        self.file.set_len(end).map_err(io)?;
        self.file.sync_all().map_err(io)?;
        st.finished = true;
        if replace {
            fs::rename(&self.tmp, &self.output).map_err(|e| Error::io(&self.output, e))?;
        } else {
            fs::hard_link(&self.tmp, &self.output).map_err(|e| {
                if e.kind() == io::ErrorKind::AlreadyExists {
                    ArchiveError::new(&self.output, ArchiveProblem::Exists).into()
                } else {
                    Error::io(&self.output, e)
                }
            })?;
            // The archive has its name; the temporary name is only a second link to it.
            let _ = fs::remove_file(&self.tmp);
        }
        st.named = true;
        File::open(parent(&self.output))
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io(parent(&self.output), e))?;
        Ok(end)
    }
}

fn parent(p: &Path) -> &Path {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

fn exists(member: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("{member} is already in the archive"),
    )
}

impl Drop for ArchiveWriter {
    fn drop(&mut self) {
        if !lock(&self.state).named {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

impl Backend for ArchiveWriter {
    fn location(&self) -> String {
        show_path(&self.output)
    }

    fn container(&self) -> Option<String> {
        Some(format!("archive {}", show_path(&self.output)))
    }

    fn exists(&self) -> io::Result<bool> {
        Ok(lock(&self.state)
            .files
            .contains_key(&(FileType::Config, "config".to_string())))
    }

    fn create(&self) -> io::Result<()> {
        let mut st = lock(&self.state);
        if st.created || st.end > 0 {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "the archive already holds a repository",
            ));
        }
        for d in directories() {
            self.append(&mut st, &d, true, &[])?;
        }
        st.created = true;
        Ok(())
    }

    fn read(&self, t: FileType, name: &str) -> io::Result<Vec<u8>> {
        if t == FileType::Lock {
            return lock(&self.locks)
                .get(name)
                .cloned()
                .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such lock"));
        }
        let (offset, size) = self.span(t, name)?;
        let mut buf = vec![0u8; size as usize];
        self.file.read_exact_at(&mut buf, offset)?;
        Ok(buf)
    }

    fn read_at(&self, t: FileType, name: &str, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let whole = self.span(t, name)?;
        let mut buf = vec![0u8; len];
        let end = offset.checked_add(len as u64);
        if end.is_none_or(|e| e > whole.1) {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{} {name}: no bytes at {offset}+{len}", t.label()),
            ));
        }
        self.file.read_exact_at(&mut buf, whole.0 + offset)?;
        Ok(buf)
    }

    fn size(&self, t: FileType, name: &str) -> io::Result<u64> {
        if t == FileType::Lock {
            return self.read(t, name).map(|b| b.len() as u64);
        }
        self.span(t, name).map(|(_, size)| size)
    }

    fn write(&self, t: FileType, name: &str, data: &[u8]) -> io::Result<()> {
        self.write_member(t, name, &[data])
    }

    fn write_parts(&self, t: FileType, name: &str, parts: Vec<Vec<u8>>) -> io::Result<()> {
        let slices: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        self.write_member(t, name, &slices)
    }

    fn list(&self, t: FileType) -> io::Result<Vec<String>> {
        if t == FileType::Lock {
            return Ok(lock(&self.locks).keys().cloned().collect());
        }
        let mut out: Vec<String> = lock(&self.state)
            .files
            .keys()
            .filter(|(ft, _)| *ft == t)
            .map(|(_, n)| n.clone())
            .collect();
        out.sort();
        Ok(out)
    }

    fn remove(&self, t: FileType, name: &str) -> io::Result<()> {
        if t == FileType::Lock {
            return match lock(&self.locks).remove(name) {
                Some(_) => Ok(()),
                None => Err(io::Error::new(io::ErrorKind::NotFound, "no such lock")),
            };
        }
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "an archive being written only grows: {} {name} cannot be removed",
                t.label()
            ),
        ))
    }

    fn clean_temporary(&self, _max_age: std::time::Duration) -> io::Result<usize> {
        Ok(0)
    }
}
