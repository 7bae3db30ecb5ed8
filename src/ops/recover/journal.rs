//! Which Docker objects a recovery made itself, kept on disk so that a run interrupted at any
//! point can be run again: an object this recovery made and left incomplete is made again,
//! one that was there before is never touched.
//!
//! The journal is written (atomically) *before* the objects are created, naming every
//! container and named volume of the deployment that does not exist at that moment; a later
//! run adds what is missing then. So an object named here either did not exist before any
//! run of this recovery, or was made by one.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq)]
pub struct Journal {
    /// The snapshot being recovered (hex).
    pub snapshot: String,
    /// The engine it is recovered onto (`docker info` ID).
    pub engine: String,
    pub containers: BTreeSet<String>,
    pub volumes: BTreeSet<String>,
}

/// Where the journal of recovering `snapshot` onto engine `engine` lives.
pub fn path(state_dir: &Path, engine: &str, snapshot: &str) -> PathBuf {
    // Engine IDs are `XXXX:XXXX:...` (older engines) or UUIDs: keep only safe characters.
    let engine: String = engine
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    state_dir.join("recover").join(format!(
        "{engine}-{}.json",
        &snapshot[..snapshot.len().min(16)]
    ))
}

impl Journal {
    /// The journal at `path`, or an empty one for this snapshot and engine.
    pub fn load(path: &Path, snapshot: &str, engine: &str) -> Result<Journal> {
        match std::fs::read(path) {
            Ok(bytes) => {
                let j: Journal = serde_json::from_slice(&bytes).map_err(|e| {
                    Error::Invalid(format!(
                        "recovery journal {} is damaged ({e}); remove it to start over (objects it named are then treated as existing before the recovery)",
                        path.display()
                    ))
                })?;
                if j.snapshot != snapshot || j.engine != engine {
                    return Err(Error::Invalid(format!(
                        "recovery journal {} belongs to another snapshot or engine",
                        path.display()
                    )));
                }
                Ok(j)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Journal {
                snapshot: snapshot.to_string(),
                engine: engine.to_string(),
                ..Journal::default()
            }),
            Err(e) => Err(Error::io(path.display().to_string(), e)),
        }
    }

    /// Write the journal atomically (0600; its directory is made 0700).
    pub fn save(&self, path: &Path) -> Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir.display().to_string(), e))?;
        let bytes = serde_json::to_vec_pretty(self)
            .map_err(|e| Error::Invalid(format!("recovery journal: {e}")))?;
        crate::util::write_file_atomic(path, &bytes, 0o600)
    }

    /// Remove the journal once the recovery is complete.
    pub fn remove(path: &Path) {
        let _ = std::fs::remove_file(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refuses_another_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let p = path(dir.path(), "AB:CD", "0123456789abcdef0123");
        assert!(p.ends_with("recover/AB-CD-0123456789abcdef.json"));
        let mut j = Journal::load(&p, "0123456789abcdef0123", "AB:CD").unwrap();
        assert!(j.containers.is_empty());
        j.containers.insert("api".into());
        j.volumes.insert("data".into());
        j.save(&p).unwrap();
        assert_eq!(
            Journal::load(&p, "0123456789abcdef0123", "AB:CD").unwrap(),
            j
        );
        assert!(Journal::load(&p, "ffff", "AB:CD").is_err());
        std::fs::write(&p, b"{not json").unwrap();
        let e = Journal::load(&p, "0123456789abcdef0123", "AB:CD").unwrap_err();
        assert!(e.to_string().contains("damaged"), "{e}");
        Journal::remove(&p);
        assert!(!p.exists());
    }
}
