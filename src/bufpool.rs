//! Recycled megabyte buffers for the data path.
//!
//! A snapshot moves every chunk through buffers of about a megabyte that are allocated on one
//! thread and freed on another (chunker → encoder → pack flusher). glibc hands such memory back
//! to the kernel and faults it in again, zeroed, on the next allocation: about 450 MiB of page
//! faults for a 650 MiB snapshot. Buffers given back here are reused instead. The pool is
//! bounded, so it never holds more than [`MAX_POOLED_BYTES`] of idle memory.

use std::sync::{Mutex, PoisonError};

/// Smaller buffers are left to the allocator, which serves them well.
const MIN_POOLED: usize = 64 << 10;
/// Idle capacity the pool may keep.
pub const MAX_POOLED_BYTES: usize = 64 << 20;

struct Pool {
    buffers: Vec<Vec<u8>>,
    bytes: usize,
}

static POOL: Mutex<Pool> = Mutex::new(Pool {
    buffers: Vec::new(),
    bytes: 0,
});

/// An empty buffer with room for at least `capacity` bytes: the smallest pooled one that fits,
/// or a new one.
pub fn take(capacity: usize) -> Vec<u8> {
    if capacity >= MIN_POOLED {
        let mut pool = POOL.lock().unwrap_or_else(PoisonError::into_inner);
        let best = pool
            .buffers
            .iter()
            .enumerate()
            .filter(|(_, b)| b.capacity() >= capacity)
            .min_by_key(|(_, b)| b.capacity())
            .map(|(i, _)| i);
        if let Some(i) = best {
            let buf = pool.buffers.swap_remove(i);
            pool.bytes -= buf.capacity();
            return buf;
        }
    }
    Vec::with_capacity(capacity)
}

/// Hand a buffer back for reuse (its contents are dropped). Small buffers, and any beyond
/// the pool's bound, are freed.
pub fn give(mut buf: Vec<u8>) {
    if buf.capacity() < MIN_POOLED {
        return;
    }
    buf.clear();
    let mut pool = POOL.lock().unwrap_or_else(PoisonError::into_inner);
    if pool.bytes + buf.capacity() <= MAX_POOLED_BYTES {
        pool.bytes += buf.capacity();
        pool.buffers.push(buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_the_smallest_fitting_buffer_and_stays_bounded() {
        // The pool is process-wide: other tests may use it concurrently, so only properties
        // that hold whatever they do are checked.
        let big = Vec::<u8>::with_capacity(4 << 20);
        let ptr = big.as_ptr();
        give(big);
        let again = take(3 << 20);
        assert!(again.capacity() >= 3 << 20 && again.is_empty());
        if again.as_ptr() == ptr {
            assert_eq!(again.capacity(), 4 << 20, "the pooled buffer came back");
        }
        give(again);
        let small = take(100);
        assert!(small.capacity() >= 100 && small.is_empty());
        for _ in 0..100 {
            give(Vec::with_capacity(1 << 20));
        }
        let held = POOL.lock().unwrap().bytes;
        assert!(held <= MAX_POOLED_BYTES, "{held} bytes held");
    }
}
