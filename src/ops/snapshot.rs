//! Taking a snapshot: lock, pick the parent, run the pipeline over a deployment source and the
//! filesystem walk, check published checksums, write the index and the snapshot description.
//! An operation above the things backed up (files, docker, host, models), which it combines.

use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::error::{Error, Result};
use crate::files::walk::{self, Excludes, ParentCursor};
use crate::id::Id;
use crate::progress::Progress;
use crate::repo::writer::WriteStats;
use crate::repo::{IndexedRepo, LockKind, Repository};
use crate::snapshot::deployment::{DeploymentSource, Previous};
use crate::snapshot::entry::Entry;
use crate::snapshot::group::{Group, Selection};
use crate::snapshot::manifest::{Snapshot, Summary};
use crate::snapshot::pipeline;
use crate::snapshot::select;
use crate::snapshot::tree::TreeReader;

use super::hostrun::HostRun;

/// Which snapshot to compare against to skip unchanged files.
#[derive(Debug, Clone, Default)]
pub enum ParentChoice {
    /// The newest snapshot of this host with the same paths.
    #[default]
    Auto,
    /// Read every file.
    None,
    Id(String),
}

#[derive(Debug, Clone, Default)]
pub struct SnapshotOptions {
    pub paths: Vec<PathBuf>,
    pub tags: Vec<String>,
    pub excludes: Excludes,
    pub parent: ParentChoice,
    /// Overrides the recorded hostname.
    pub hostname: Option<String>,
    /// Threads reading files (default: CPU count).
    pub readers: Option<usize>,
    /// Threads compressing and encrypting (default: CPU count).
    pub encoders: Option<usize>,
    /// The host profile's record (its files are among `paths`).
    pub host: Option<crate::snapshot::host::HostSection>,
    /// Published checksums (absolute path, SHA-256) the snapshot's files must match.
    pub expected_sha256: Vec<(Vec<u8>, [u8; 32])>,
    /// Save the snapshot even when files do not match `expected_sha256` (as warnings).
    pub allow_mismatch: bool,
    /// What was asked for (paths, model directories, containers), recorded as the snapshot's
    /// selection, its group; the host root is taken from `host`. `None`: derived from the
    /// paths, the deployment and the host section (internal snapshots).
    pub selection: Option<Selection>,
}

#[derive(Debug)]
pub struct SnapshotResult {
    pub id: Id,
    pub snapshot: Snapshot,
    pub warnings: Vec<String>,
    pub write: WriteStats,
}

/// What the files' run compares against to skip unchanged files.
enum Parent<'a> {
    None,
    /// A snapshot in the repository (its tree is read as the walk goes).
    Snapshot(&'a Snapshot),
    /// The files a write-only host remembers of its last snapshot (it cannot read one).
    Files(&'a [Entry]),
}

/// The files' pipeline run, with progress totals: the parent's totals as the first estimate,
/// or without a parent a pre-scan of the selection on a thread of its own; the walk announces
/// the exact totals when it is done (see `docs/BENCHMARKS.md` for what the pre-scan costs).
/// With `record`, also returns the regular files recorded (a host's next parent).
#[allow(clippy::too_many_arguments)]
fn files_run(
    repo: &IndexedRepo,
    writer: &crate::repo::PackWriter<'_>,
    progress: &dyn Progress,
    encoders: usize,
    readers: usize,
    roots: &[PathBuf],
    excludes: &Excludes,
    parent: Parent<'_>,
    record: bool,
) -> Result<pipeline::Recorded> {
    progress.start("snapshot", None);
    match parent {
        Parent::Snapshot(p) => progress.totals(p.summary.bytes, p.summary.files),
        Parent::Files(f) if !f.is_empty() => {
            progress.totals(f.iter().map(|e| e.size).sum(), f.len() as u64);
        }
        _ => {}
    }
    let has_parent = match parent {
        Parent::None => false,
        Parent::Snapshot(_) => true,
        Parent::Files(f) => !f.is_empty(),
    };
    // Set when the run ends: the pre-scan is then of no use.
    let done = AtomicBool::new(false);
    // Set when the walk announced its exact totals.
    let walked = AtomicBool::new(false);
    // The walk's announcement and the pre-scan's must not cross: the later of the two would win.
    let announce = std::sync::Mutex::new(());
    let totals = Totals {
        inner: progress,
        walked: &walked,
        announce: &announce,
    };
    std::thread::scope(|scope| {
        if !has_parent && progress.visible() {
            let (done, walked, announce) = (&done, &walked, &announce);
            std::thread::Builder::new()
                .name("prescan".into())
                .spawn_scoped(scope, move || {
                    // The lowest CPU priority (Linux applies it to this thread alone): the
                    // pre-scan takes only CPU time the snapshot leaves idle.
                    let _ =
                        rustix::process::setpriority_process(Some(rustix::thread::gettid()), 19);
                    if let Ok(Some((bytes, files))) =
                        crate::files::prescan::prescan(roots, excludes, done)
                    {
                        let _g = announce.lock();
                        if !walked.load(Ordering::SeqCst) && !done.load(Ordering::SeqCst) {
                            progress.totals(bytes, files);
                        }
                    }
                })
                .expect("spawn prescan");
        }
        let r = pipeline::run_recording(writer, &totals, encoders, record, |s| {
            type Entries<'e> = Box<dyn Iterator<Item = Result<Entry>> + 'e>;
            let cursor: Option<ParentCursor<Entries<'_>>> = match parent {
                Parent::None => None,
                Parent::Snapshot(p) => {
                    Some(ParentCursor::new(Box::new(TreeReader::new(repo, &p.tree))))
                }
                Parent::Files(f) => Some(ParentCursor::new(Box::new(f.iter().cloned().map(Ok)))),
            };
            walk::walk(s, roots, excludes, cursor, readers)
        });
        done.store(true, Ordering::SeqCst);
        r
    })
}

/// Passes progress through, noting when the walk announced its exact totals so that a slower
/// pre-scan does not replace them.
struct Totals<'a> {
    inner: &'a dyn Progress,
    walked: &'a AtomicBool,
    announce: &'a std::sync::Mutex<()>,
}

impl Progress for Totals<'_> {
    fn start(&self, phase: &str, total: Option<u64>) {
        self.inner.start(phase, total);
    }
    fn totals(&self, bytes: u64, items: u64) {
        let _g = self.announce.lock();
        self.walked.store(true, Ordering::SeqCst);
        self.inner.totals(bytes, items);
    }
    fn advance(&self, bytes: u64) {
        self.inner.advance(bytes);
    }
    fn reading(&self, name: &str) {
        self.inner.reading(name);
    }
    fn item(&self, name: &str) {
        self.inner.item(name);
    }
    fn warn(&self, warning: crate::observer::Warning) {
        self.inner.warn(warning);
    }
    fn event(&self, event: crate::observer::Event) {
        self.inner.event(event);
    }
    fn finish(&self) {
        self.inner.finish();
    }
    fn visible(&self) -> bool {
        self.inner.visible()
    }
}

pub fn create(
    repo: &Repository,
    opts: &SnapshotOptions,
    progress: &dyn Progress,
) -> Result<SnapshotResult> {
    create_with(repo, opts, None, progress)
}

/// Snapshot paths and, when given, a deployment.
pub fn create_with(
    repo: &Repository,
    opts: &SnapshotOptions,
    deployment: Option<&dyn DeploymentSource>,
    progress: &dyn Progress,
) -> Result<SnapshotResult> {
    let started = Instant::now();
    let time = crate::util::now_rfc3339();
    if opts.paths.is_empty() && deployment.is_none() && opts.host.is_none() {
        return Err(Error::Invalid(
            "nothing to snapshot: give at least one path or container".into(),
        ));
    }
    // A write-only host key takes no lock: it could not remove one it left behind, and the
    // owner's prune relies on its grace period and the host's commit check instead.
    let _lock = match repo.keys().is_host() {
        true => None,
        false => Some(repo.lock(LockKind::Shared, "snapshot")?),
    };
    let roots = crate::util::normalize_roots(&opts.paths)?;
    // A host key's snapshots are recorded under the hostname it was made for.
    let key_host = repo.keys().host_key().map(|k| k.hostname.clone());
    if let (Some(k), Some(h)) = (&key_host, &opts.hostname)
        && k != h
    {
        return Err(Error::Invalid(format!(
            "this write-only key is for host {k}; it cannot record snapshots as {h}"
        )));
    }
    let hostname = (opts.hostname.clone().or(key_host)).unwrap_or_else(crate::util::hostname);
    let root_bytes: Vec<Vec<u8>> = roots
        .iter()
        .map(|p| p.as_os_str().as_bytes().to_vec())
        .collect();
    let probe = probe(opts, &time, &hostname, &root_bytes);
    let group = Group::of(&probe);
    let mut host = HostRun::start(repo, &group)?;
    // Indexed under the lock: no prune changes the index meanwhile. A host's index is its
    // cache's.
    let repo = &match host.as_mut() {
        Some((_, index)) => repo.indexed_with(std::mem::take(index)),
        None => repo.indexed()?,
    };
    let mut host = host.map(|(run, _)| run);
    let (group_parent, parent) = match &host {
        Some(_) => (None, None),
        None => parents(repo, opts, &group)?,
    };
    let mut excludes = opts.excludes.clone();
    if let Some(local) = repo.backend().local_root()
        && let Ok(real) = local.canonicalize()
    {
        excludes.paths.push(real);
    }
    let cpus = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    let readers = opts.readers.unwrap_or(cpus).max(1);
    let encoders = opts.encoders.unwrap_or(cpus).max(1);
    let writer = match host {
        Some(_) => repo.pack_writer().track_reuse(),
        None => repo.pack_writer(),
    };
    let mut warnings: Vec<String> = host
        .as_mut()
        .map(|h| std::mem::take(&mut h.warnings))
        .unwrap_or_default();
    let mut section = None;
    let mut run = Ok(());
    if let Some(src) = deployment {
        // The group's previous deployment; else the newest of this host (it may still share
        // volumes and images with this one).
        let stored = match group_parent.and_then(|(_, s)| s.deployment) {
            Some(d) => Some(d),
            None if host.is_some() => None,
            None => select::all(repo)?
                .into_iter()
                .rev()
                .find(|(_, s)| s.hostname == hostname && s.deployment.is_some())
                .and_then(|(_, s)| s.deployment),
        };
        // A host key has no stored deployment to read: its cache's record stands in.
        let previous = match (&host, &stored) {
            (Some(h), _) => h.previous_deployment(),
            (None, Some(d)) => Some(Previous::Stored(d)),
            (None, None) => None,
        };
        progress.start("docker", None);
        let recorded = pipeline::run_recording(&writer, progress, encoders, host.is_some(), |s| {
            src.emit(s, previous.as_ref(), repo, readers)
        });
        match recorded {
            Ok((tree, summary, w, files)) => {
                warnings.extend(w);
                let d = src.finish(tree, summary);
                if let Some(h) = host.as_mut() {
                    h.record_deployment(&d, &files);
                }
                section = Some(d);
            }
            Err(e) => run = Err(e),
        }
    }
    let run = run.and_then(|()| {
        if roots.is_empty() {
            return Ok((Vec::new(), Summary::default(), Vec::new(), Vec::new()));
        }
        let parent = match (&host, &parent) {
            (Some(h), _) => Parent::Files(h.parent_files()),
            (None, Some((_, p))) => Parent::Snapshot(p),
            (None, None) => Parent::None,
        };
        let record = host.is_some() || !opts.expected_sha256.is_empty();
        files_run(
            repo, &writer, progress, encoders, readers, &roots, &excludes, parent, record,
        )
    });
    // Even a failed or interrupted run indexes the packs it wrote, so the next run reuses them.
    let reused = writer.reused();
    let finished = writer.finish();
    if let (Some(h), Ok(f)) = (host.as_mut(), &finished) {
        h.wrote(&f.packs);
    }
    let (tree, mut summary, w, files) = match run {
        Ok(r) => r,
        Err(e) => {
            // What the failed run stored is remembered; the run's own error is what counts.
            if let Some(h) = host.as_mut() {
                let _ = h.save(repo, None);
            }
            return Err(e);
        }
    };
    warnings.extend(w);
    let finished = finished?;
    let write = finished.stats;
    progress.finish();
    if !opts.expected_sha256.is_empty() {
        let problems = crate::models::checksums::check_expected_in(
            files.iter().cloned().map(Ok),
            &opts.expected_sha256,
        )?;
        if !problems.is_empty() && !opts.allow_mismatch {
            return Err(Error::ChecksumMismatch { problems });
        }
        warnings.extend(problems);
    }
    summary.blobs_added = write.blobs;
    summary.raw_added = write.raw_bytes;
    summary.stored_added = write.stored_bytes;
    summary.warnings = warnings.len() as u64;
    summary.duration_ms = started.elapsed().as_millis() as u64;
    let mut snapshot = Snapshot {
        username: crate::util::username(),
        parent: parent.map(|(id, _)| id),
        original: None,
        tree,
        summary,
        excludes: opts.excludes.patterns.clone(),
        program: format!("lifeboat {}", env!("CARGO_PKG_VERSION")),
        deployment: section,
        ..probe
    };
    // Every new snapshot records its selection; without one given, what it holds says it.
    if snapshot.selection.is_none() {
        snapshot.selection = Some(Selection::derived(&snapshot));
    }
    // What this run reused rather than wrote must still be there (a prune may have run).
    match host.as_mut() {
        Some(h) => h.check_commit(repo, &repo.index(), &reused, &finished.packs)?,
        None => {
            repo.secure_references(|| crate::snapshot::tree::referenced_blobs(repo, [&snapshot]))?;
        }
    }
    let id = repo.save_sealed(crate::repo::FileType::Snapshot, &snapshot)?;
    if let Some(h) = host.as_mut() {
        h.save(repo, Some(&files))?;
    }
    Ok(SnapshotResult {
        id,
        snapshot,
        warnings,
        write,
    })
}

/// The snapshot about to be taken, without its content yet: what decides its group (paths,
/// hostname, tags, selection), from which its parent is chosen.
fn probe(opts: &SnapshotOptions, time: &str, hostname: &str, root_bytes: &[Vec<u8>]) -> Snapshot {
    // The group this snapshot will be in: its parent is the newest snapshot of the same group,
    // never a partial or internal one of other paths or containers.
    let mut selection = opts.selection.clone();
    if let Some(sel) = &mut selection {
        sel.host_root = opts.host.as_ref().map(|h| h.root.clone());
    }
    Snapshot {
        version: 1,
        time: time.to_string(),
        hostname: hostname.to_string(),
        username: String::new(),
        tags: opts.tags.clone(),
        paths: root_bytes
            .iter()
            .map(|p| serde_bytes::ByteBuf::from(p.clone()))
            .collect(),
        parent: None,
        tree: Vec::new(),
        summary: Summary::default(),
        excludes: Vec::new(),
        program: String::new(),
        deployment: None,
        host: opts.host.clone(),
        selection,
        original: None,
    }
}

/// A stored snapshot with its ID.
type Found = (Id, Snapshot);

/// The group's newest snapshot (whose deployment a new one compares against) and the parent
/// whose unchanged files are not read again (`--parent`, none, or the group's).
fn parents(
    repo: &IndexedRepo,
    opts: &SnapshotOptions,
    group: &Group,
) -> Result<(Option<Found>, Option<Found>)> {
    let group_parent = match &opts.parent {
        ParentChoice::Id(_) => None,
        _ => select::parent_for(repo, group)?,
    };
    let parent = match &opts.parent {
        ParentChoice::None => None,
        ParentChoice::Auto => group_parent.clone(),
        ParentChoice::Id(spec) => Some(select::resolve(
            repo,
            spec,
            &select::Filter::default(),
            &select::Need::default(),
        )?),
    };
    Ok((group_parent, parent))
}
