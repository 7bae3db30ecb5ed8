//! Repository locks (FORMAT.md §10): many shared holders (snapshot, restore, verify) or one
//! exclusive holder (prune, forget). Locks are files written create-only (no backend needs
//! rename or overwrite): a background thread refreshes a lock by writing a new one and then
//! deleting the old, and the last is removed on drop. Locks of dead processes on this host,
//! and locks no one refreshed for [`STALE_AFTER`], are detected and cleared.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::backend::{Backend, FileType};
use crate::error::{Error, Result};
use crate::id::Id;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LockKind {
    Shared,
    Exclusive,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LockRecord {
    pub kind: LockKind,
    pub hostname: String,
    pub pid: u32,
    pub created: String,
    pub refreshed: String,
    pub command: String,
}

pub const REFRESH_EVERY: Duration = Duration::from_secs(300);
pub const STALE_AFTER: Duration = Duration::from_secs(1800);

impl LockRecord {
    /// Time since the last refresh by this host's clock. A refresh "in the future" comes from
    /// a host whose clock runs ahead: its holder is alive, so its age is zero, never "very
    /// old". Only an unreadable time counts as infinitely old.
    fn age(&self) -> Duration {
        chrono::DateTime::parse_from_rfc3339(&self.refreshed)
            .ok()
            .map_or(Duration::MAX, |t| {
                (chrono::Utc::now() - t.with_timezone(&chrono::Utc))
                    .to_std()
                    .unwrap_or(Duration::ZERO)
            })
    }

    /// Whether the holder is certainly gone: a dead process on this host, or no refresh for
    /// longer than [`STALE_AFTER`].
    pub fn is_stale(&self) -> bool {
        if self.hostname == crate::util::hostname() && self.pid != std::process::id() {
            let alive = rustix::process::Pid::from_raw(self.pid as i32)
                .map(|p| match rustix::process::test_kill_process(p) {
                    Ok(()) => true,
                    Err(e) => e != rustix::io::Errno::SRCH,
                })
                .unwrap_or(false);
            if !alive {
                return true;
            }
        }
        self.age() > STALE_AFTER
    }

    pub fn describe(&self) -> String {
        format!(
            "{} lock held by `{}` (pid {} on {}) since {}",
            match self.kind {
                LockKind::Shared => "shared",
                LockKind::Exclusive => "exclusive",
            },
            self.command,
            self.pid,
            self.hostname,
            self.created
        )
    }
}

/// A held lock. Dropping it stops the refresher and deletes the lock file.
pub struct LockGuard {
    backend: Arc<dyn Backend>,
    /// The lock file's current name (each refresh writes a new one).
    name: Arc<Mutex<String>>,
    stop: Arc<(Mutex<bool>, Condvar)>,
    refresher: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = self
            .name
            .lock()
            .map(|n| n.get(..8).unwrap_or("none").to_string())
            .unwrap_or_default();
        write!(f, "LockGuard({name})")
    }
}

/// Read every lock; remove stale ones. Returns the live locks other than `own`.
pub fn live_locks(backend: &dyn Backend, own: Option<&str>) -> Result<Vec<(String, LockRecord)>> {
    let mut out = Vec::new();
    for name in backend
        .list(FileType::Lock)
        .map_err(|e| Error::io("locks", e))?
    {
        if Some(name.as_str()) == own {
            continue;
        }
        let Ok(bytes) = backend.read(FileType::Lock, &name) else {
            continue;
        };
        match serde_json::from_slice::<LockRecord>(&bytes) {
            Ok(rec) if rec.is_stale() => {
                let _ = backend.remove(FileType::Lock, &name);
            }
            Ok(rec) => out.push((name, rec)),
            // An unreadable lock blocks nobody forever: it goes stale by its file age.
            Err(_) => {
                let _ = backend.remove(FileType::Lock, &name);
            }
        }
    }
    Ok(out)
}

/// Take a lock, waiting up to `wait` for conflicting holders to finish.
///
/// On read-only storage (an archive) nothing can change under a reader and nothing is
/// written: a shared lock is granted once the storage checked itself whole
/// ([`Backend::check_intact`]), an exclusive one (a command that would change the repository)
/// is refused.
pub fn acquire(
    backend: Arc<dyn Backend>,
    kind: LockKind,
    command: &str,
    wait: Duration,
) -> Result<LockGuard> {
    if backend.is_read_only() {
        return match kind {
            LockKind::Shared => {
                backend.check_intact()?;
                Ok(LockGuard::inert(backend))
            }
            LockKind::Exclusive => Err(backend.refusal(&format!(
                "`{command}` changes the repository and cannot lock it"
            ))),
        };
    }
    let name = Id::random().to_hex();
    let now = crate::util::now_rfc3339();
    let rec = LockRecord {
        kind,
        hostname: crate::util::hostname(),
        pid: std::process::id(),
        created: now.clone(),
        refreshed: now,
        command: command.to_string(),
    };
    let deadline = Instant::now() + wait;
    loop {
        let bytes = serde_json::to_vec(&rec).expect("lock serializes");
        backend
            .write(FileType::Lock, &name, &bytes)
            .map_err(|e| Error::io("locks", e))?;
        let others = live_locks(&*backend, Some(&name))?;
        let conflict = others
            .iter()
            .find(|(_, o)| kind == LockKind::Exclusive || o.kind == LockKind::Exclusive);
        let Some((_, holder)) = conflict else { break };
        let msg = holder.describe();
        let _ = backend.remove(FileType::Lock, &name);
        if Instant::now() >= deadline {
            return Err(Error::Locked(msg));
        }
        // Jitter avoids two exclusive waiters colliding forever.
        let jitter = u64::from(getrandom::u32().unwrap_or(0) % 500);
        std::thread::sleep(Duration::from_millis(500 + jitter));
    }
    let stop = Arc::new((Mutex::new(false), Condvar::new()));
    let name = Arc::new(Mutex::new(name));
    let refresher = {
        let (backend, name, stop, mut rec) = (backend.clone(), name.clone(), stop.clone(), rec);
        std::thread::Builder::new()
            .name("lock-refresh".into())
            .spawn(move || {
                let (m, cv) = &*stop;
                let mut stopped = m.lock().expect("lock state");
                while !*stopped {
                    let (s, timeout) = cv.wait_timeout(stopped, REFRESH_EVERY).expect("lock state");
                    stopped = s;
                    if *stopped {
                        return;
                    }
                    if timeout.timed_out() {
                        rec.refreshed = crate::util::now_rfc3339();
                        refresh(&*backend, &name, &rec);
                    }
                }
            })
            .ok()
    };
    Ok(LockGuard {
        backend,
        name,
        stop,
        refresher,
    })
}

/// Replace the lock file by a fresh one under a new name: the new one first, so the lock is
/// never absent; the old one is deleted after. A failed write keeps the old lock, which goes
/// stale only after [`STALE_AFTER`], six refresh periods later.
fn refresh(backend: &dyn Backend, name: &Mutex<String>, rec: &LockRecord) {
    let fresh = Id::random().to_hex();
    let bytes = serde_json::to_vec(rec).expect("lock serializes");
    if backend.write(FileType::Lock, &fresh, &bytes).is_err() {
        return;
    }
    let old = std::mem::replace(&mut *name.lock().expect("lock name"), fresh);
    let _ = backend.remove(FileType::Lock, &old);
}

impl LockGuard {
    /// A lock on read-only storage: no file, no refresher, nothing to remove.
    fn inert(backend: Arc<dyn Backend>) -> LockGuard {
        LockGuard {
            backend,
            name: Arc::new(Mutex::new(String::new())),
            stop: Arc::new((Mutex::new(true), Condvar::new())),
            refresher: None,
        }
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if self.refresher.is_none() && self.backend.is_read_only() {
            return;
        }
        {
            let (m, cv) = &*self.stop;
            *m.lock().expect("lock state") = true;
            cv.notify_all();
        }
        if let Some(t) = self.refresher.take() {
            let _ = t.join();
        }
        let name = self.name.lock().map(|n| n.clone()).unwrap_or_default();
        let _ = self.backend.remove(FileType::Lock, &name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::backend::LocalBackend;

    fn backend() -> (tempfile::TempDir, Arc<dyn Backend>) {
        let d = tempfile::tempdir().unwrap();
        let b = LocalBackend::new(d.path().join("r"));
        b.create().unwrap();
        (d, Arc::new(b))
    }

    #[test]
    fn shared_locks_coexist_exclusive_excludes() {
        let (_d, b) = backend();
        let s1 = acquire(b.clone(), LockKind::Shared, "snapshot", Duration::ZERO).unwrap();
        let _s2 = acquire(b.clone(), LockKind::Shared, "restore", Duration::ZERO).unwrap();
        let err = acquire(b.clone(), LockKind::Exclusive, "prune", Duration::ZERO).unwrap_err();
        assert!(
            err.to_string().contains("shared lock held by `snapshot`")
                || err.to_string().contains("restore")
        );
        drop(s1);
        drop(_s2);
        let x = acquire(b.clone(), LockKind::Exclusive, "prune", Duration::ZERO).unwrap();
        assert!(acquire(b.clone(), LockKind::Shared, "snapshot", Duration::ZERO).is_err());
        drop(x);
        assert!(
            b.list(FileType::Lock).unwrap().is_empty(),
            "locks removed on drop"
        );
    }

    #[test]
    fn refresh_replaces_the_lock_file_without_overwriting() {
        let (_d, b) = backend();
        let g = acquire(b.clone(), LockKind::Shared, "snapshot", Duration::ZERO).unwrap();
        let before = b.list(FileType::Lock).unwrap();
        assert_eq!(before.len(), 1);
        let mut rec: LockRecord =
            serde_json::from_slice(&b.read(FileType::Lock, &before[0]).unwrap()).unwrap();
        rec.refreshed = crate::util::now_rfc3339();
        refresh(&*b, &g.name, &rec);
        let after = b.list(FileType::Lock).unwrap();
        assert_eq!(after.len(), 1, "the old lock is gone, the new one present");
        assert_ne!(after, before, "a new name: nothing was overwritten");
        drop(g);
        assert!(b.list(FileType::Lock).unwrap().is_empty());
    }

    #[test]
    fn dead_process_lock_is_stale() {
        let (_d, b) = backend();
        let rec = LockRecord {
            kind: LockKind::Exclusive,
            hostname: crate::util::hostname(),
            pid: 0x3fff_fff0, // beyond pid_max: no such process
            created: crate::util::now_rfc3339(),
            refreshed: crate::util::now_rfc3339(),
            command: "prune".into(),
        };
        b.write(FileType::Lock, "aa", &serde_json::to_vec(&rec).unwrap())
            .unwrap();
        let g = acquire(b.clone(), LockKind::Shared, "snapshot", Duration::ZERO).unwrap();
        drop(g);
        assert!(
            b.list(FileType::Lock).unwrap().is_empty(),
            "stale lock cleared"
        );
        // An old lock from another host is stale by age.
        let mut old = rec.clone();
        old.hostname = "elsewhere".into();
        old.refreshed = "2000-01-01T00:00:00Z".into();
        assert!(old.is_stale());
        old.refreshed = crate::util::now_rfc3339();
        assert!(!old.is_stale());
    }

    /// Regression (issue 10, item 2): a lock refreshed "in the future" by a host whose clock
    /// runs ahead was taken for a stale one and deleted, and a prune went ahead.
    #[test]
    fn lock_refreshed_in_the_future_is_live() {
        let (_d, b) = backend();
        let ahead = (chrono::Utc::now() + chrono::Duration::seconds(60))
            .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let rec = LockRecord {
            kind: LockKind::Shared,
            hostname: "clock-runs-ahead".into(),
            pid: 4242,
            created: ahead.clone(),
            refreshed: ahead,
            command: "snapshot".into(),
        };
        assert!(!rec.is_stale());
        b.write(FileType::Lock, "bb", &serde_json::to_vec(&rec).unwrap())
            .unwrap();
        let err = acquire(b.clone(), LockKind::Exclusive, "prune", Duration::ZERO).unwrap_err();
        assert!(matches!(err, Error::Locked(_)), "{err}");
        assert_eq!(b.list(FileType::Lock).unwrap(), vec!["bb".to_string()]);
    }
}
