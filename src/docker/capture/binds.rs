//! Bind-mount sources as data of the snapshot. Models and configuration usually reach a
//! container through a bind mount, and a recorded mount whose host directory is gone brings
//! back a container without its data; so the sources of the captured containers' bind mounts
//! (directories and regular files) become file paths of the snapshot by default, and a files
//! restore recreates them. What must never be captured this way is left out with its reason:
//! sockets and devices (not data), `/` and system directories (the host's, not the
//! deployment's: `/etc/localtime` is bind-mounted everywhere), the Docker data root, the
//! repository itself, and everything when the engine runs on another host (its paths are not
//! this host's). A source that the snapshot's paths already hold is simply captured.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use super::{BindMount, Capture};
use crate::snapshot::deployment::{jget, jstr};

/// System directories: a bind source at, in or above one of them is not captured.
const SYSTEM_DIRS: [&str; 15] = [
    "/etc",
    "/proc",
    "/sys",
    "/dev",
    "/run",
    "/var/run",
    "/boot",
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/var/lib/containerd",
    "/var/lib/kubelet",
];

/// The Docker data root when the engine does not say.
const DEFAULT_DATA_ROOT: &str = "/var/lib/docker";

/// What happens to the sources of bind mounts.
#[derive(Debug, Clone)]
pub struct BindOptions {
    /// Add them to the snapshot's file paths (the default); off, they are only named.
    pub capture: bool,
    /// Paths that are never captured, nor anything holding them (the repository's directory,
    /// when it is local).
    pub refuse: Vec<PathBuf>,
}

impl Default for BindOptions {
    fn default() -> Self {
        BindOptions {
            capture: true,
            refuse: Vec::new(),
        }
    }
}

/// The bind mounts of a capture: which sources the snapshot holds, which it leaves out, why.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BindPlan {
    /// Sources the snapshot holds: added to its file paths, or under one of them already.
    pub captured: Vec<BindMount>,
    pub skipped: Vec<SkippedBind>,
    /// The paths to add to the snapshot's file paths (each once, symlinks resolved).
    #[serde(skip)]
    pub add: Vec<PathBuf>,
}

/// A bind mount whose source the snapshot does not hold.
#[derive(Debug, Clone, Serialize)]
pub struct SkippedBind {
    #[serde(flatten)]
    pub mount: BindMount,
    pub reason: SkipReason,
    /// The reason for people: which rule, and what it protects.
    pub why: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SkipReason {
    /// Capturing bind data was turned off.
    Disabled,
    /// A socket, device or FIFO (`/var/run/docker.sock`, `/dev/nvidia0`): not data.
    NotData,
    /// The source does not exist on this host.
    Missing,
    /// The engine runs on another host: its bind sources are not paths of this one.
    RemoteEngine,
    /// `/`, or a system directory, something in one, or a directory holding one.
    System,
    /// The Docker data root, something in it, or a directory holding it.
    DockerData,
    /// The repository, something in it, or a directory holding it.
    Repository,
}

impl SkipReason {
    /// Whether leaving the source out deserves a warning: data of the deployment is not in
    /// the snapshot (a socket or device never is data).
    pub fn warns(self) -> bool {
        self != SkipReason::NotData
    }
}

fn resolve(p: &Path) -> PathBuf {
    std::fs::canonicalize(p)
        .or_else(|_| std::path::absolute(p))
        .unwrap_or_else(|_| p.to_path_buf())
}

/// Whether `a` is `b`, inside it, or holds it.
fn overlaps(a: &Path, b: &Path) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

impl Capture<'_> {
    /// Plan the bind mounts of the captured containers, given the snapshot's file paths.
    pub fn bind_plan(&self, paths: &[PathBuf], opts: &BindOptions) -> BindPlan {
        let held: Vec<PathBuf> = paths.iter().map(|p| resolve(p)).collect();
        let data_root = self
            .engine
            .data_root()
            .ok()
            .flatten()
            .map_or_else(|| PathBuf::from(DEFAULT_DATA_ROOT), PathBuf::from);
        let refused: Vec<PathBuf> = opts.refuse.iter().map(|p| resolve(p)).collect();
        let mut plan = BindPlan::default();
        for c in &self.deployment.containers {
            for m in jget(&c.inspect, "Mounts")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|m| jstr(m, "Type") == "bind")
            {
                let mount = BindMount {
                    container: c.name.clone(),
                    source: jstr(m, "Source").to_string(),
                    destination: jstr(m, "Destination").to_string(),
                };
                let verdict = if self.engine.local {
                    judge(Path::new(&mount.source), &held, &data_root, &refused)
                } else {
                    Err((
                        SkipReason::RemoteEngine,
                        "the engine runs on another host (DOCKER_HOST), whose paths are not readable here".to_string(),
                    ))
                };
                match verdict {
                    Ok(Some(_)) if !opts.capture => {
                        plan.skipped.push(SkippedBind {
                            mount,
                            reason: SkipReason::Disabled,
                            why: "bind data capture is off".into(),
                        });
                    }
                    Ok(Some(src)) => {
                        if !plan.add.contains(&src) {
                            plan.add.push(src);
                        }
                        plan.captured.push(mount);
                    }
                    Ok(None) => plan.captured.push(mount),
                    Err((reason, why)) => plan.skipped.push(SkippedBind { mount, reason, why }),
                }
            }
        }
        plan
    }
}

/// `Ok(Some(path))`: a source to add (resolved); `Ok(None)`: the snapshot's paths hold it
/// already; `Err`: why it is left out.
fn judge(
    source: &Path,
    held: &[PathBuf],
    data_root: &Path,
    refused: &[PathBuf],
) -> Result<Option<PathBuf>, (SkipReason, String)> {
    let Ok(src) = std::fs::canonicalize(source) else {
        return Err((
            SkipReason::Missing,
            "the source does not exist on this host".into(),
        ));
    };
    match std::fs::metadata(&src) {
        Ok(md) if md.is_dir() || md.is_file() => {}
        Ok(_) => return Err((SkipReason::NotData, "a socket or device, not data".into())),
        Err(e) => {
            return Err((
                SkipReason::Missing,
                format!("the source cannot be read: {e}"),
            ));
        }
    }
    if held.iter().any(|h| src.starts_with(h)) {
        return Ok(None);
    }
    if src == Path::new("/") {
        return Err((SkipReason::System, "it is the whole filesystem `/`".into()));
    }
    for sys in SYSTEM_DIRS.iter().map(Path::new) {
        if overlaps(&src, &resolve(sys)) || overlaps(&src, sys) {
            return Err((
                SkipReason::System,
                format!(
                    "{} is a system directory of the host, not data of the deployment (the host profile, `snapshot --host`, covers the host's configuration); give the path to the snapshot to capture it anyway",
                    sys.display()
                ),
            ));
        }
    }
    if overlaps(&src, data_root) {
        return Err((
            SkipReason::DockerData,
            format!(
                "{} is the Docker data root (volumes and images are captured through the engine)",
                data_root.display()
            ),
        ));
    }
    if let Some(r) = refused.iter().find(|r| overlaps(&src, r)) {
        return Err((
            SkipReason::Repository,
            format!(
                "{} is the repository this snapshot is written to",
                r.display()
            ),
        ));
    }
    Ok(Some(src))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_directories_docker_data_and_the_repository_are_never_captured() {
        let d = tempfile::tempdir().unwrap();
        let models = d.path().join("models");
        std::fs::create_dir(&models).unwrap();
        let repo = d.path().join("repo");
        std::fs::create_dir(&repo).unwrap();
        let data_root = Path::new("/var/lib/docker");
        let refused = vec![resolve(&repo)];
        let reason =
            |p: &Path, held: &[PathBuf]| judge(p, held, data_root, &refused).map_err(|e| e.0);
        assert_eq!(reason(&models, &[]), Ok(Some(resolve(&models))));
        assert_eq!(reason(&models, &[d.path().to_path_buf()]), Ok(None));
        assert_eq!(reason(Path::new("/"), &[]), Err(SkipReason::System));
        assert_eq!(reason(Path::new("/etc"), &[]), Err(SkipReason::System));
        assert_eq!(
            reason(Path::new("/etc/hostname"), &[]),
            Err(SkipReason::System)
        );
        assert_eq!(
            reason(Path::new("/proc/self"), &[]),
            Err(SkipReason::System)
        );
        // Given as a path of the snapshot, it is captured.
        assert_eq!(
            reason(Path::new("/etc/hostname"), &[PathBuf::from("/etc")]),
            Ok(None)
        );
        assert_eq!(reason(&repo, &[]), Err(SkipReason::Repository));
        assert_eq!(
            reason(d.path(), &[]),
            Err(SkipReason::Repository),
            "holds the repository"
        );
        assert_eq!(
            reason(&d.path().join("gone"), &[]),
            Err(SkipReason::Missing)
        );
        assert_eq!(
            judge(&models, &[], &resolve(d.path()), &[]).map_err(|e| e.0),
            Err(SkipReason::DockerData)
        );
        if Path::new("/dev/null").exists() {
            assert_eq!(
                reason(Path::new("/dev/null"), &[]),
                Err(SkipReason::NotData)
            );
        }
        assert!(!SkipReason::NotData.warns() && SkipReason::System.warns());
    }
}
