//! Whole packs held in memory while a remote repository's blobs are read. On a network store
//! every request costs a round trip (tens of milliseconds with some servers), so reading a
//! restore's thousands of small files blob by blob is slow where reading each pack once is not
//! (restic does the same). A blob read through [`PackCache::get`] fetches its whole pack with
//! one GET, the first time any blob of it is needed; concurrent readers of one pack wait for
//! that one fetch. The cache keeps the few packs used last, so memory stays at
//! `capacity x pack size`. Local repositories do not use it: a ranged read is a `pread`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock};

use crate::error::Result;
use crate::id::Id;

type Slot = Arc<OnceLock<std::result::Result<Arc<Vec<u8>>, String>>>;

pub(super) struct PackCache {
    capacity: usize,
    /// Most recently used last.
    slots: Mutex<VecDeque<(Id, Slot)>>,
}

impl std::fmt::Debug for PackCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PackCache({} packs)", self.capacity)
    }
}

impl PackCache {
    pub(super) fn new(capacity: usize) -> PackCache {
        PackCache {
            capacity: capacity.max(1),
            slots: Mutex::new(VecDeque::new()),
        }
    }

    /// The whole pack `id`, fetched with `fetch` unless held; an error is returned to every
    /// waiter and not kept (the next call fetches again).
    pub(super) fn get(
        &self,
        id: &Id,
        fetch: impl FnOnce() -> Result<Vec<u8>>,
    ) -> std::result::Result<Arc<Vec<u8>>, FetchError> {
        let slot = {
            let mut slots = self.slots.lock().expect("pack cache");
            let slot = match slots.iter().position(|(k, _)| k == id) {
                Some(i) => slots.remove(i).expect("present").1,
                None => Slot::default(),
            };
            slots.push_back((*id, slot.clone()));
            while slots.len() > self.capacity {
                slots.pop_front();
            }
            slot
        };
        let mut error = None;
        let got = slot.get_or_init(|| match fetch() {
            Ok(bytes) => Ok(Arc::new(bytes)),
            Err(e) => {
                let text = e.to_string();
                error = Some(e);
                Err(text)
            }
        });
        match got {
            Ok(bytes) => Ok(bytes.clone()),
            Err(text) => {
                self.slots
                    .lock()
                    .expect("pack cache")
                    .retain(|(k, s)| k != id || !Arc::ptr_eq(s, &slot));
                Err(match error {
                    Some(e) => FetchError::Own(e),
                    None => FetchError::Other(text.clone()),
                })
            }
        }
    }
}

/// Why a cached read failed: this caller's own fetch (the typed error), or another reader's
/// fetch of the same pack that this caller waited for (its text).
pub(super) enum FetchError {
    Own(crate::error::Error),
    Other(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn one_fetch_per_pack_while_it_is_held() {
        let c = PackCache::new(2);
        let fetches = AtomicUsize::new(0);
        let fetch = |n: u8| {
            fetches.fetch_add(1, Ordering::SeqCst);
            Ok(vec![n; 4])
        };
        let (a, b, d) = (Id([1; 32]), Id([2; 32]), Id([3; 32]));
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| assert_eq!(*c.get(&a, || fetch(1)).ok().unwrap(), vec![1; 4]));
            }
        });
        assert_eq!(
            fetches.load(Ordering::SeqCst),
            1,
            "concurrent readers share one fetch"
        );
        c.get(&b, || fetch(2)).ok().unwrap();
        c.get(&a, || fetch(1)).ok().unwrap();
        c.get(&d, || fetch(3)).ok().unwrap(); // evicts b, the least recently used
        assert_eq!(fetches.load(Ordering::SeqCst), 3);
        c.get(&a, || fetch(1)).ok().unwrap();
        assert_eq!(fetches.load(Ordering::SeqCst), 3, "a was kept");
        c.get(&b, || fetch(2)).ok().unwrap();
        assert_eq!(fetches.load(Ordering::SeqCst), 4, "b was fetched again");
        let failed = c.get(&Id([9; 32]), || {
            Err(crate::error::Error::Invalid("boom".into()))
        });
        assert!(matches!(failed, Err(FetchError::Own(_))));
        assert!(
            c.get(&Id([9; 32]), || fetch(9)).is_ok(),
            "errors are not kept"
        );
    }
}
