//! Hashing a live file at the speed of the disk: within a large file a reader thread fills
//! big buffers while the caller's thread hashes the previous one, since SHA-256 itself cannot
//! be split.

use std::fs::File;
use std::io::{self, Read};

use sha2::{Digest, Sha256};

use crate::progress::Progress;

/// Read size of live files; large reads keep the disk streaming and the hasher busy.
const READ_BUF: usize = 8 << 20;
/// Files at least this large are read by a separate thread while the previous buffer hashes.
const PIPELINE_MIN: u64 = 16 << 20;

/// Fill `buf` as far as the file goes; 0 means end of file.
fn read_full(f: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn stopped() -> io::Error {
    io::Error::new(io::ErrorKind::Interrupted, "interrupted")
}

/// SHA-256 and length of everything in `file`. Large files are read by a second thread into
/// rotating buffers so reading and hashing overlap. An `Interrupted` error means a stop was
/// requested.
pub(super) fn hash_file(
    mut file: File,
    size: u64,
    progress: &dyn Progress,
) -> io::Result<([u8; 32], u64)> {
    let _ = rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::Sequential);
    let mut sha = Sha256::new();
    let mut total = 0u64;
    if size < PIPELINE_MIN {
        let mut buf = vec![0u8; (size as usize + 1).min(READ_BUF)];
        loop {
            let n = read_full(&mut file, &mut buf)?;
            if n == 0 {
                break;
            }
            sha.update(&buf[..n]);
            total += n as u64;
            progress.advance(n as u64);
            if crate::interrupt::is_set() {
                return Err(stopped());
            }
        }
        return Ok((sha.finalize().into(), total));
    }
    let (full_tx, full_rx) = crossbeam_channel::bounded::<(Vec<u8>, usize)>(2);
    let (free_tx, free_rx) = crossbeam_channel::bounded::<Vec<u8>>(3);
    for _ in 0..3 {
        let _ = free_tx.send(vec![0u8; READ_BUF]);
    }
    std::thread::scope(|s| {
        let reader = s.spawn(move || -> io::Result<()> {
            // Ends when the file does, or when the hasher hangs up (stop requested).
            while let Ok(mut buf) = free_rx.recv() {
                let n = read_full(&mut file, &mut buf)?;
                if n == 0 || full_tx.send((buf, n)).is_err() {
                    break;
                }
            }
            Ok(())
        });
        let mut stop = false;
        for (buf, n) in &full_rx {
            sha.update(&buf[..n]);
            total += n as u64;
            progress.advance(n as u64);
            if crate::interrupt::is_set() {
                stop = true;
                break;
            }
            let _ = free_tx.send(buf);
        }
        drop(full_rx);
        drop(free_tx);
        let read = reader
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("reader thread panicked")));
        read?;
        if stop {
            return Err(stopped());
        }
        Ok((sha.finalize().into(), total))
    })
}
