//! Restoring a batch of entries: the regular files in parallel (on the reader pool of a
//! remote repository, as wide as the store takes requests), then the other entries in order.

use rayon::prelude::*;

use super::{Ctx, FileOutcome, restore_file, restore_other};
use crate::repo::IndexedRepo;
use crate::snapshot::entry::{Entry, Kind};

/// For a remote backend, a thread pool as wide as its concurrency, up to twice the cores
/// (each reader holds a pack and two windows of decoded chunks: memory bounds the width).
pub(super) fn reader_pool(repo: &IndexedRepo) -> Option<rayon::ThreadPool> {
    let backend = repo.backend();
    let want = backend
        .concurrency()
        .min(2 * rayon::current_num_threads().max(1));
    (backend.is_remote() && want > rayon::current_num_threads())
        .then(|| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(want)
                .thread_name(|i| format!("restore-read-{i}"))
                .build()
                .ok()
        })
        .flatten()
}

pub(super) fn process_batch(ctx: &Ctx<'_>, batch: Vec<Entry>) {
    let (files, others): (Vec<Entry>, Vec<Entry>) =
        batch.into_iter().partition(|e| e.kind == Kind::File);
    match &ctx.readers {
        Some(pool) => pool.install(|| restore_files(ctx, &files)),
        None => restore_files(ctx, &files),
    }
    for e in &others {
        if let Err(err) = restore_other(ctx, e) {
            ctx.error(e, &err);
        }
    }
}

fn restore_files(ctx: &Ctx<'_>, files: &[Entry]) {
    files.par_iter().for_each(|e| match restore_file(ctx, e) {
        Ok(FileOutcome::Written(n, replaced)) => {
            let mut r = ctx.report.lock().expect("report");
            r.files_written += 1;
            r.files_replaced += u64::from(replaced);
            r.bytes_written += n;
        }
        Ok(FileOutcome::Skipped) => ctx.progress.advance(e.size),
        Ok(FileOutcome::Unchanged) => {
            ctx.progress.advance(e.size);
            ctx.report.lock().expect("report").files_unchanged += 1;
        }
        Ok(FileOutcome::Planned(p)) => ctx.report.lock().expect("report").plan.push(p),
        Err(err) => ctx.error(e, &err),
    });
}
