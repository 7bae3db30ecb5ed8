//! The bounded parallel pipeline that turns entries and their content into a stored snapshot.
//!
//! ```text
//!  source thread(s) ──ingest──> chunk+SHA-256+ID ──(new chunks, bounded)──> encoders ──> packs
//!        │                                                       (zstd/filters + AEAD, N threads)
//!        └──slot(seq)──> entries (any thread completes) ──> assembler (reorders) ──> tree blobs
//! ```
//!
//! Sources reserve a slot per entry in stream order and complete it from any thread, so files
//! can be read in parallel while the tree stays sorted. Memory is bounded: the chunk queue and
//! the number of open slots have fixed capacities, and a file is never held whole.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crossbeam_channel::{Receiver, Sender, bounded, unbounded};
use sha2::{Digest, Sha256};

use super::entry::{Content, Entry, Kind};
use super::manifest::Summary;
use super::tree::TreeWriter;
use crate::chunk::Chunker;
use crate::error::{Error, Result};
use crate::id::Id;
use crate::progress::Progress;
use crate::repo::{BlobKind, PackWriter};

/// Entries reserved but not yet written to the tree stream.
const MAX_OPEN_SLOTS: usize = 16 * 1024;

struct Job {
    id: Id,
    offset: u64,
    data: Vec<u8>,
}

/// Shared state of one snapshot run, usable from any thread of the run.
pub struct Session<'s, 'r> {
    writer: &'s PackWriter<'r>,
    progress: &'s dyn Progress,
    jobs: Sender<Option<Job>>,
    done: Sender<Option<(u64, Option<Entry>)>>,
    slots: Sender<()>,
    next_seq: AtomicU64,
    failed: AtomicBool,
    error: Mutex<Option<Error>>,
    warnings: Mutex<Vec<String>>,
    pub bytes_read: AtomicU64,
    pub files_new: AtomicU64,
    pub files_changed: AtomicU64,
    pub files_unmodified: AtomicU64,
    /// The regular files of the tree, in order, when the run was asked to record them.
    recorded: Option<Mutex<Vec<Entry>>>,
}

/// A reserved position in the tree stream.
#[must_use = "a slot must be completed, or the snapshot cannot finish"]
pub struct Slot(u64);

impl<'s, 'r> Session<'s, 'r> {
    /// Reserve the next position in the stream. Blocks while too many are open.
    pub fn reserve(&self) -> Slot {
        let _ = self.slots.send(());
        Slot(self.next_seq.fetch_add(1, Ordering::SeqCst))
    }

    pub fn complete(&self, slot: Slot, entry: Entry) {
        let _ = self.done.send(Some((slot.0, Some(entry))));
    }

    /// Give up a reserved position (the object vanished): nothing is recorded there.
    pub fn skip(&self, slot: Slot) {
        let _ = self.done.send(Some((slot.0, None)));
    }

    /// Reserve and complete at once (entries without content to read).
    pub fn push(&self, entry: Entry) {
        let s = self.reserve();
        self.complete(s, entry);
    }

    pub fn progress(&self) -> &dyn Progress {
        self.progress
    }

    pub fn writer(&self) -> &PackWriter<'r> {
        self.writer
    }

    /// Record a non-fatal problem; the snapshot completes but reports it.
    pub fn warn(&self, msg: String) {
        self.progress
            .warn(crate::observer::Warning::incomplete(msg.clone()));
        self.warnings.lock().expect("warnings").push(msg);
    }

    /// Record a fatal error; workers stop at their next step.
    pub fn fail(&self, e: Error) {
        self.failed.store(true, Ordering::SeqCst);
        let mut slot = self.error.lock().expect("error slot");
        if slot.is_none() {
            *slot = Some(e);
        }
    }

    /// True once the run failed or was interrupted: workers stop at their next step.
    pub fn has_failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed) || crate::interrupt::is_set()
    }

    /// Chunk a stream, hash it (SHA-256 of all bytes the reader yields), and queue new chunks
    /// for storage. Returns the content reference and the number of bytes read.
    pub fn ingest(&self, reader: impl Read) -> std::io::Result<(Content, u64)> {
        self.ingest_source(HashingReader::new(reader))
    }

    /// Like [`Session::ingest`] for a source that computes its own digest (sparse files hash
    /// their holes as zeros without yielding them).
    pub fn ingest_source<S: DigestSource>(&self, mut source: S) -> std::io::Result<(Content, u64)> {
        let gear = self.writer.repo().data_gear();
        let keys = self.writer.repo().keys();
        let mut chunks = Vec::new();
        {
            let mut chunker = Chunker::new(gear, &mut source);
            while let Some((offset, data)) = chunker.next_chunk()? {
                if self.has_failed() {
                    return Err(std::io::Error::other("snapshot aborted"));
                }
                let id = keys.chunk_id(&data);
                self.progress.advance(data.len() as u64);
                if self.writer.claim(&id) && self.jobs.send(Some(Job { id, offset, data })).is_err()
                {
                    return Err(std::io::Error::other("snapshot aborted"));
                }
                chunks.push(id);
            }
        }
        let n = source.bytes_read();
        self.bytes_read.fetch_add(n, Ordering::Relaxed);
        Ok((
            Content {
                chunks,
                sha256: source.digest(),
                extents: None,
            },
            n,
        ))
    }
}

/// A content stream that knows the SHA-256 of the file it represents.
pub trait DigestSource: Read {
    /// Bytes yielded so far.
    fn bytes_read(&self) -> u64;
    /// SHA-256 of the whole file (called at the end).
    fn digest(&mut self) -> [u8; 32];
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            sha: Sha256::new(),
            n: 0,
        }
    }
}

impl<R: Read> DigestSource for HashingReader<R> {
    fn bytes_read(&self) -> u64 {
        self.n
    }
    fn digest(&mut self) -> [u8; 32] {
        std::mem::take(&mut self.sha).finalize().into()
    }
}

/// Passes bytes through while hashing them.
pub struct HashingReader<R> {
    pub inner: R,
    pub sha: Sha256,
    pub n: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sha.update(&buf[..n]);
        self.n += n as u64;
        Ok(n)
    }
}

/// Counts of the assembled tree.
#[derive(Default)]
struct TreeCounts {
    files: u64,
    dirs: u64,
    others: u64,
    bytes: u64,
}

/// Run a snapshot session: `produce` pushes entries (from this thread, optionally helped by its
/// own scoped threads); encoders and the assembler run alongside. Returns the tree blob IDs,
/// the summary (without write statistics) and the warnings.
pub fn run<'r, F>(
    writer: &PackWriter<'r>,
    progress: &dyn Progress,
    encoders: usize,
    produce: F,
) -> Result<(Vec<Id>, Summary, Vec<String>)>
where
    F: FnOnce(&Session<'_, 'r>) -> Result<()>,
{
    run_recording(writer, progress, encoders, false, produce).map(|(t, s, w, _)| (t, s, w))
}

/// What a recorded run returns: [`run`]'s tree, summary and warnings, and the regular files.
pub type Recorded = (Vec<Id>, Summary, Vec<String>, Vec<Entry>);

/// Like [`run`]; with `record`, also returns the regular files of the tree in stream order
/// (what a write-only host remembers of its snapshot, since it cannot read it back).
pub fn run_recording<'r, F>(
    writer: &PackWriter<'r>,
    progress: &dyn Progress,
    encoders: usize,
    record: bool,
    produce: F,
) -> Result<Recorded>
where
    F: FnOnce(&Session<'_, 'r>) -> Result<()>,
{
    let (jobs_tx, jobs_rx) = bounded::<Option<Job>>(encoders * 2);
    let (done_tx, done_rx) = unbounded::<Option<(u64, Option<Entry>)>>();
    let (slots_tx, slots_rx) = bounded::<()>(MAX_OPEN_SLOTS);
    let session = Session {
        writer,
        progress,
        jobs: jobs_tx,
        done: done_tx,
        slots: slots_tx,
        next_seq: AtomicU64::new(0),
        failed: AtomicBool::new(false),
        error: Mutex::new(None),
        warnings: Mutex::new(Vec::new()),
        bytes_read: AtomicU64::new(0),
        files_new: AtomicU64::new(0),
        files_changed: AtomicU64::new(0),
        files_unmodified: AtomicU64::new(0),
        recorded: record.then(|| Mutex::new(Vec::new())),
    };
    let (tree, counts) = std::thread::scope(|scope| {
        let session = &session;
        let mut workers = Vec::new();
        for i in 0..encoders {
            let rx: Receiver<Option<Job>> = jobs_rx.clone();
            workers.push(
                std::thread::Builder::new()
                    .name(format!("encode-{i}"))
                    .spawn_scoped(scope, move || encode_loop(session, &rx))
                    .expect("spawn encoder"),
            );
        }
        let assembler = std::thread::Builder::new()
            .name("assemble".into())
            .spawn_scoped(scope, move || assemble(session, &done_rx, &slots_rx))
            .expect("spawn assembler");
        if let Err(e) = produce(session) {
            session.fail(e);
        }
        for _ in 0..encoders {
            let _ = session.jobs.send(None);
        }
        for w in workers {
            if w.join().is_err() {
                session.fail(Error::Internal("an encoder thread panicked".into()));
            }
        }
        let _ = session.done.send(None);
        match assembler.join() {
            Ok(r) => r,
            Err(_) => Err(Error::Internal("the assembler thread panicked".into())),
        }
    })?;
    if let Some(e) = session.error.lock().expect("error slot").take() {
        return Err(e);
    }
    crate::interrupt::check()?;
    let summary = Summary {
        files: counts.files,
        dirs: counts.dirs,
        others: counts.others,
        bytes: counts.bytes,
        files_new: session.files_new.load(Ordering::Relaxed),
        files_changed: session.files_changed.load(Ordering::Relaxed),
        files_unmodified: session.files_unmodified.load(Ordering::Relaxed),
        bytes_read: session.bytes_read.load(Ordering::Relaxed),
        ..Summary::default()
    };
    let warnings = std::mem::take(&mut *session.warnings.lock().expect("warnings"));
    let recorded = session
        .recorded
        .map(|r| r.into_inner().expect("recorded"))
        .unwrap_or_default();
    Ok((tree, summary, warnings, recorded))
}

fn encode_loop(s: &Session<'_, '_>, rx: &Receiver<Option<Job>>) {
    let repo = s.writer.repo();
    while let Ok(Some(job)) = rx.recv() {
        if s.has_failed() {
            continue; // drain so producers never block
        }
        let sealed = repo.seal_blob(BlobKind::Data, &job.id, &job.data, job.offset);
        if let Err(e) = s
            .writer
            .add(BlobKind::Data, job.id, job.data.len() as u32, sealed)
        {
            s.fail(e);
        }
        crate::bufpool::give(job.data);
    }
}

fn assemble(
    s: &Session<'_, '_>,
    done: &Receiver<Option<(u64, Option<Entry>)>>,
    slots: &Receiver<()>,
) -> Result<(Vec<Id>, TreeCounts)> {
    let mut tree = TreeWriter::new(s.writer);
    let mut counts = TreeCounts::default();
    let mut pending: BTreeMap<u64, Option<Entry>> = BTreeMap::new();
    let mut next = 0u64;
    while let Ok(Some((seq, entry))) = done.recv() {
        pending.insert(seq, entry);
        while let Some(e) = pending.remove(&next) {
            next += 1;
            let _ = slots.recv();
            let Some(e) = e else { continue };
            if s.has_failed() {
                continue;
            }
            match e.kind {
                Kind::File => {
                    counts.files += 1;
                    counts.bytes += e.size;
                    if let Some(r) = &s.recorded
                        && e.content.is_some()
                    {
                        r.lock().expect("recorded").push(e.clone());
                    }
                }
                Kind::Dir => counts.dirs += 1,
                _ => counts.others += 1,
            }
            if let Err(err) = tree.push(&e) {
                s.fail(err);
            }
        }
    }
    if !pending.is_empty() && !s.has_failed() {
        s.fail(Error::Internal(
            "snapshot ended with unfinished entries".into(),
        ));
    }
    Ok((tree.finish()?, counts))
}
