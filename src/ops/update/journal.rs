//! The journal of an update in flight (`STATE_DIR/updates/NAME.json`, written atomically at
//! every step) and the per-container lock beside it, so an interrupted update can be repaired
//! and two updates of one container never run at once.

use std::fs::File;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::docker::aside::Aside;
use crate::error::{Error, Result};

/// The step an update has reached, as recorded in its journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JournalStep {
    /// About to stop the old container and rename it aside.
    Stopping,
    /// The old container is aside; the new one is being created.
    Aside,
    /// The new container exists (not started yet).
    Created,
    /// The new container was started; its health is being waited for.
    Started,
    /// The new container passed the health gate; the old one is being removed.
    Healthy,
}

/// What is in flight: written (atomically, mode 0600) before the old container is touched,
/// updated at every step, removed at the end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    pub container: String,
    pub old_id: String,
    /// The old container's name while aside.
    pub aside: String,
    pub was_running: bool,
    pub old_image_id: String,
    pub new_image: String,
    pub new_image_id: String,
    /// The `pre-update` snapshot (full ID).
    pub snapshot: String,
    /// Destinations of the old container's anonymous volumes the new one mounts.
    #[serde(default)]
    pub carried_volumes: Vec<String>,
    #[serde(default)]
    pub new_id: Option<String>,
    pub step: JournalStep,
    pub pid: u32,
    pub started: String,
}

impl Journal {
    /// The old container as set aside, for [`Aside`]'s stop, put back and remove.
    pub(super) fn aside(&self) -> Aside {
        Aside {
            name: self.container.clone(),
            id: self.old_id.clone(),
            aside: self.aside.clone(),
            was_running: self.was_running,
        }
    }
}

/// `STATE_DIR/updates`, created (0700) when missing.
pub(super) fn updates_dir(state_dir: &Path) -> Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = state_dir.join("updates");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|e| Error::io(&dir, e))?;
    Ok(dir)
}

pub(super) fn journal_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.json"))
}

pub(super) fn write_journal(dir: &Path, j: &Journal) -> Result<()> {
    let data =
        serde_json::to_vec_pretty(j).map_err(|e| Error::Invalid(format!("update journal: {e}")))?;
    let file = format!("{}.json", j.container);
    crate::util::atomic_write_mode(dir, &file, &[&data], 0o600, true).map_err(|e| Error::io(dir, e))
}

pub(super) fn remove_journal(dir: &Path, name: &str) -> Result<()> {
    let p = journal_path(dir, name);
    match std::fs::remove_file(&p) {
        Ok(()) => File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io(dir, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(&p, e)),
    }
}

/// The journals left in the state directory (none when it does not exist).
pub fn leftover_journals(state_dir: &Path) -> Result<Vec<PathBuf>> {
    let dir = state_dir.join("updates");
    let rd = match std::fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(&dir, e)),
    };
    let mut out = Vec::new();
    for e in rd {
        let p = e.map_err(|e| Error::io(&dir, e))?.path();
        if p.extension().is_some_and(|x| x == "json") {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

/// An exclusive `flock` on `updates/NAME.lock`: one update of a container at a time, and a
/// recovery never touches an update that is still running. The kernel drops it when the
/// process dies, `kill -9` included.
pub(super) struct ContainerLock {
    _file: File,
}

impl ContainerLock {
    /// `None` when another process holds it.
    pub(super) fn take(dir: &Path, name: &str) -> Result<Option<ContainerLock>> {
        use std::os::unix::fs::OpenOptionsExt;
        let p = dir.join(format!("{name}.lock"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&p)
            .map_err(|e| Error::io(&p, e))?;
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(Some(ContainerLock { _file: file })),
            Err(e) if e == rustix::io::Errno::WOULDBLOCK => Ok(None),
            Err(e) => Err(Error::io(&p, e.into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::aside::ASIDE_MARK;

    #[test]
    fn journal_format_is_stable() {
        let j = Journal {
            container: "api".into(),
            old_id: "a".repeat(64),
            aside: format!("api{ASIDE_MARK}aaaaaaaaaaaa"),
            was_running: true,
            old_image_id: "sha256:1".into(),
            new_image: "app:2".into(),
            new_image_id: "sha256:2".into(),
            snapshot: "b".repeat(64),
            carried_volumes: vec!["/imgvol".into()],
            new_id: None,
            step: JournalStep::Started,
            pid: 1,
            started: "2026-01-01T00:00:00Z".into(),
        };
        let v = serde_json::to_value(&j).unwrap();
        assert_eq!(v["step"], "started");
        assert_eq!(v["aside"], "api.lifeboat-old-aaaaaaaaaaaa");
        let back: Journal = serde_json::from_value(v).unwrap();
        assert_eq!(back, j);
        assert!(JournalStep::Healthy > JournalStep::Started);
        assert_eq!(
            serde_json::to_value(JournalStep::Stopping).unwrap(),
            "stopping"
        );
    }

    #[test]
    fn container_lock_is_exclusive_per_container() {
        let dir = tempfile::tempdir().unwrap();
        let a = ContainerLock::take(dir.path(), "api").unwrap();
        assert!(a.is_some());
        // flock locks belong to the open file: a second open in this process conflicts too.
        assert!(ContainerLock::take(dir.path(), "api").unwrap().is_none());
        assert!(ContainerLock::take(dir.path(), "db").unwrap().is_some());
        drop(a);
        assert!(ContainerLock::take(dir.path(), "api").unwrap().is_some());
    }
}
