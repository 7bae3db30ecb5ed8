//! `find`: which snapshots hold files whose name (or, for a pattern with a `/`, whose path)
//! matches glob patterns. Several snapshots are searched at once, and their matches are
//! handed out in snapshot order; memory stays bounded however many entries match, because a
//! snapshot searched ahead of the one being reported waits once its small buffer is full.

use std::collections::VecDeque;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_channel::{Receiver, Sender, bounded, unbounded};

use crate::error::{Error, Result};
use crate::files::pattern::Matcher;
use crate::id::Id;
use crate::repo::IndexedRepo;
use crate::snapshot::entry::Entry;
use crate::snapshot::manifest::Snapshot;
use crate::snapshot::tree::TreeReader;

/// Matches buffered per snapshot searched ahead of the one being reported.
const BUFFERED: usize = 256;

/// What the search of one snapshot yields, in tree order.
#[derive(Debug)]
// Nearly every value is a match: boxing it would only add an allocation per match.
#[allow(clippy::large_enum_variant)]
pub enum Found {
    /// An entry that matches.
    Match(Entry),
    /// The snapshot's tree could not be read further (damaged or missing data); matches
    /// before this point were delivered.
    Failed(Error),
}

/// Search the file trees of `snapshots` with `threads` workers. `visit(i, found)` is called
/// on the calling thread, for snapshot `i` in order, then `i + 1`...; an error from it stops
/// the search and is returned.
pub fn find(
    repo: &IndexedRepo,
    snapshots: &[(Id, Snapshot)],
    matcher: &Matcher,
    threads: usize,
    mut visit: impl FnMut(usize, Found) -> Result<()>,
) -> Result<()> {
    let threads = threads.clamp(1, snapshots.len().max(1));
    let window = threads * 2;
    let stop = AtomicBool::new(false);
    let (job_tx, job_rx) = unbounded::<(usize, Sender<Found>)>();
    std::thread::scope(|scope| {
        for i in 0..threads {
            let job_rx = job_rx.clone();
            let stop = &stop;
            std::thread::Builder::new()
                .name(format!("find-{i}"))
                .spawn_scoped(scope, move || {
                    // Jobs are taken in snapshot order, so the snapshot being reported is
                    // always in a worker's hands before any later one: no deadlock.
                    for (k, tx) in job_rx {
                        search(repo, &snapshots[k].1, matcher, stop, &tx);
                    }
                })
                .expect("spawn find worker");
        }
        drop(job_rx);
        let mut pending: VecDeque<Receiver<Found>> = VecDeque::new();
        let mut issued = 0;
        let mut job_tx = Some(job_tx);
        let result = (|| {
            for current in 0..snapshots.len() {
                while issued < snapshots.len() && issued < current + window {
                    let (tx, rx) = bounded(BUFFERED);
                    if let Some(j) = &job_tx {
                        let _ = j.send((issued, tx));
                    }
                    pending.push_back(rx);
                    issued += 1;
                }
                if issued == snapshots.len() {
                    job_tx = None;
                }
                let Some(rx) = pending.pop_front() else { break };
                for found in rx {
                    visit(current, found)?;
                }
                crate::interrupt::check()?;
            }
            Ok(())
        })();
        // On an early end, workers notice at their next entry; queued jobs end at once.
        stop.store(true, Ordering::Relaxed);
        drop(job_tx);
        drop(pending);
        result
    })
}

fn search(
    repo: &IndexedRepo,
    snap: &Snapshot,
    matcher: &Matcher,
    stop: &AtomicBool,
    tx: &Sender<Found>,
) {
    for e in TreeReader::new(repo, &snap.tree) {
        if stop.load(Ordering::Relaxed) || crate::interrupt::is_set() {
            return;
        }
        let found = match e {
            Ok(e) if matcher.is_match(Path::new(OsStr::from_bytes(&e.path))) => Found::Match(e),
            Ok(_) => continue,
            Err(err) => Found::Failed(err),
        };
        let failed = matches!(found, Found::Failed(_));
        if tx.send(found).is_err() || failed {
            return;
        }
    }
}
