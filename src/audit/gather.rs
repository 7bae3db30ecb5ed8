//! Gathering the audit's [`Inputs`]: from a stored snapshot (its deployment records, the host
//! profile's files read back from the file tree, the firewall tool outputs it recorded, its
//! model files against the previous snapshot of the same host), or piece by piece from the live
//! host (the engine, files under a host root, the firewall tools run now). Nothing here judges;
//! the checks in [`super::run`] do.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::Path;

use super::{
    DAEMON_JSON, DockerInputs, HostFile, HostInputs, Inputs, ModelChange, ModelInputs, SSHD_CONFIG,
};
use crate::docker::Engine;
use crate::error::{Error, Result};
use crate::host::profile;
use crate::id::Id;
use crate::models;
use crate::models::verify::{Status, VerifyReport};
use crate::repo::IndexedRepo;
use crate::snapshot::deployment::{ContainerRecord, jstr};
use crate::snapshot::entry::Kind;
use crate::snapshot::manifest::Snapshot;
use crate::snapshot::tree::TreeReader;

/// Host files the checks read (host paths), besides the files directly in [`SSHD_DIR`].
pub const HOST_FILES: &[&str] = &[
    SSHD_CONFIG,
    DAEMON_JSON,
    profile::IPTABLES_RULES_V4,
    profile::NFTABLES_CONF,
    profile::UFW_CONF,
];
/// sshd's drop-in directory (Ubuntu's `Include /etc/ssh/sshd_config.d/*.conf`).
pub const SSHD_DIR: &str = profile::SSHD_CONFIG_DIR;
/// Largest configuration file read.
const MAX_FILE: u64 = 1 << 20;

/// Whether the checks read this host path.
fn wanted(p: &str) -> bool {
    HOST_FILES.contains(&p)
        || p.strip_prefix(SSHD_DIR)
            .and_then(|r| r.strip_prefix('/'))
            .is_some_and(|r| !r.is_empty() && !r.contains('/'))
}

/// Every input a snapshot holds. `all` is every snapshot of the repository, oldest first (for
/// the previous snapshot of the same host).
pub fn from_snapshot(
    repo: &IndexedRepo,
    id: &Id,
    snap: &Snapshot,
    all: &[(Id, Snapshot)],
) -> Result<Inputs> {
    let mut inputs = Inputs {
        source: format!(
            "snapshot {} of {} at {}",
            id.short(),
            snap.hostname,
            snap.time
        ),
        ..Inputs::default()
    };
    match &snap.deployment {
        Some(d) => {
            inputs.docker = Some(DockerInputs {
                containers: d.containers.clone(),
                images: d.images.clone(),
            });
        }
        None => inputs
            .skipped
            .push("container-*: the snapshot holds no containers".into()),
    }
    inputs.host = host_from_snapshot(repo, snap)?;
    if inputs.host.is_none() {
        inputs.skipped.push(
            "sshd-*, host-no-firewall, daemon-*: the snapshot holds no host profile \
             (take one with `lifeboat snapshot --host`)"
                .into(),
        );
    }
    match models_from_snapshots(repo, id, snap, all)? {
        Ok(m) => inputs.models = Some(m),
        Err(why) => inputs.skipped.push(format!("model-changed: {why}")),
    }
    Ok(inputs)
}

/// The host profile's audited files, read back from the snapshot's file tree, and the firewall
/// tool outputs it recorded. `None` when the snapshot has no host profile.
pub fn host_from_snapshot(repo: &IndexedRepo, snap: &Snapshot) -> Result<Option<HostInputs>> {
    let Some(host) = &snap.host else {
        return Ok(None);
    };
    let root = host.root.trim_end_matches('/');
    let mut files = BTreeMap::new();
    for e in TreeReader::new(repo, &snap.tree) {
        let e = e?;
        let full = String::from_utf8_lossy(&e.path).into_owned();
        let Some(rel) = full.strip_prefix(root).filter(|r| r.starts_with('/')) else {
            continue;
        };
        if !wanted(rel) {
            continue;
        }
        let f = match (e.kind, &e.content) {
            (Kind::File, None) => HostFile::Text(String::new()),
            (Kind::File, Some(_)) if e.size > MAX_FILE => {
                HostFile::Unreadable("larger than 1 MiB; not read".into())
            }
            (Kind::File, Some(content)) => {
                let mut buf = Vec::new();
                crate::snapshot::content::ContentReader::new(repo, content, e.size, rel)
                    .read_to_end(&mut buf)
                    .map_err(|err| Error::corrupt(rel, err))?;
                HostFile::Text(String::from_utf8_lossy(&buf).into_owned())
            }
            (Kind::Symlink, _) => HostFile::Unreadable(format!(
                "a symbolic link to {} in the snapshot; not followed",
                e.target
                    .as_deref()
                    .map(|t| String::from_utf8_lossy(t).into_owned())
                    .unwrap_or_default()
            )),
            (k, _) => HostFile::Unreadable(format!("a {} in the snapshot, not a file", k.label())),
        };
        files.insert(rel.to_string(), f);
    }
    let commands: Vec<_> = host
        .commands
        .iter()
        .filter(|c| crate::host::FIREWALL_COMMANDS.contains(&c.name.as_str()))
        .cloned()
        .collect();
    let commands_note = commands
        .is_empty()
        .then(|| "the snapshot recorded no firewall tool outputs".to_string());
    Ok(Some(HostInputs {
        files,
        commands,
        commands_note,
    }))
}

/// The snapshot's model files against those of the previous snapshot of the same host (by
/// time): same path, different SHA-256. `Ok(Err(why))` when there is nothing to compare.
pub fn models_from_snapshots(
    repo: &IndexedRepo,
    id: &Id,
    snap: &Snapshot,
    all: &[(Id, Snapshot)],
) -> Result<std::result::Result<ModelInputs, String>> {
    let now = models::recorded_models(repo, snap, &[])?;
    if now.is_empty() {
        return Ok(Err("the snapshot holds no model files".into()));
    }
    let key = (snap.time(), *id);
    let Some((prev_id, prev)) = all
        .iter()
        .rfind(|(i, s)| i != id && s.hostname == snap.hostname && (s.time(), *i) < key)
    else {
        return Ok(Err(format!(
            "no earlier snapshot of host {} to compare with",
            snap.hostname
        )));
    };
    let before: HashMap<Vec<u8>, ([u8; 32], u64)> = models::recorded_models(repo, prev, &[])?
        .into_iter()
        .filter_map(|e| {
            let sha = e.content.as_ref()?.sha256;
            Some((e.path, (sha, e.size)))
        })
        .collect();
    let mut m = ModelInputs {
        against: format!("snapshot {} ({})", prev_id.short(), prev.time),
        now: format!("snapshot {} ({})", id.short(), snap.time),
        ..ModelInputs::default()
    };
    for e in &now {
        let (Some(c), Some((sha_was, size_was))) = (&e.content, before.get(&e.path)) else {
            continue;
        };
        m.compared += 1;
        if c.sha256 != *sha_was {
            m.changed.push(ModelChange {
                path: crate::escape::lossy(&e.path),
                sha256_was: hex::encode(sha_was),
                sha256_now: Some(hex::encode(c.sha256)),
                size_was: *size_was,
                size_now: Some(e.size),
            });
        }
    }
    Ok(Ok(m))
}

/// The modified models of a [`models::verify::verify_live`] report (missing and unreadable files are
/// not changes of content, and are left to `lifeboat models verify`).
pub fn models_from_verify(report: &VerifyReport, against: String) -> ModelInputs {
    ModelInputs {
        against,
        now: "the live file".into(),
        compared: report.models.len(),
        changed: report
            .models
            .iter()
            .filter(|c| c.status == Status::Modified)
            .map(|c| ModelChange {
                path: c.path.clone(),
                sha256_was: c.sha256.clone(),
                sha256_now: c.sha256_now.clone(),
                size_was: c.size,
                size_now: c.size_now,
            })
            .collect(),
    }
}

/// Every container on the engine (running or not) with its image records.
pub fn docker_live(engine: &Engine) -> Result<DockerInputs> {
    let mut d = DockerInputs::default();
    let mut seen = std::collections::HashSet::new();
    for c in engine.list_containers()? {
        let Some(inspect) = engine.inspect_container(&c.id)? else {
            continue; // removed while listing
        };
        let image_id = jstr(&inspect, "Image").to_string();
        if seen.insert(image_id.clone())
            && let Some(ii) = engine.inspect_image(&image_id)?
        {
            d.images
                .push(crate::docker::capture::image_record(&image_id, ii, false));
        }
        d.containers.push(ContainerRecord {
            name: c.name,
            id: c.id,
            image_id,
            inspect,
        });
    }
    d.containers.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(d)
}

/// The audited files under `root`, and the firewall tools' outputs when `root` is this
/// machine's `/` (the tools read the running kernel, which a host root is not).
pub fn host_live(root: &Path) -> HostInputs {
    let this_machine = std::fs::canonicalize(root).is_ok_and(|p| p == Path::new("/"));
    let mut paths: Vec<String> = HOST_FILES.iter().map(|s| (*s).to_string()).collect();
    if let Ok(rd) = std::fs::read_dir(under(root, SSHD_DIR)) {
        paths.extend(
            rd.flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .map(|n| format!("{SSHD_DIR}/{n}")),
        );
    }
    let files = paths
        .into_iter()
        .filter_map(|p| read_host_file(&under(root, &p), this_machine).map(|f| (p, f)))
        .collect();
    if this_machine {
        HostInputs {
            files,
            commands: crate::host::run_firewall_commands(),
            commands_note: None,
        }
    } else {
        HostInputs {
            files,
            commands: Vec::new(),
            commands_note: Some(format!(
                "firewall tools not run: they read this machine's kernel, not the host root {}",
                root.display()
            )),
        }
    }
}

fn under(root: &Path, host_path: &str) -> std::path::PathBuf {
    root.join(host_path.trim_start_matches('/'))
}

/// A host file's text; `None` when absent. Symbolic links are followed only on this machine's
/// own root (under another root an absolute link would lead out of it).
fn read_host_file(path: &Path, follow: bool) -> Option<HostFile> {
    let md = match std::fs::symlink_metadata(path) {
        Ok(md) if md.file_type().is_symlink() && follow => match std::fs::metadata(path) {
            Ok(md) => md,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => return Some(HostFile::Unreadable(e.to_string())),
        },
        Ok(md) if md.file_type().is_symlink() => {
            return Some(HostFile::Unreadable(
                "a symbolic link under a host root; not followed".into(),
            ));
        }
        Ok(md) => md,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => return Some(HostFile::Unreadable(e.to_string())),
    };
    if !md.is_file() {
        return Some(HostFile::Unreadable("not a regular file".into()));
    }
    if md.len() > MAX_FILE {
        return Some(HostFile::Unreadable("larger than 1 MiB; not read".into()));
    }
    Some(match std::fs::read(path) {
        Ok(b) => HostFile::Text(String::from_utf8_lossy(&b).into_owned()),
        Err(e) => HostFile::Unreadable(e.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wanted_paths() {
        assert!(wanted("/etc/ssh/sshd_config"));
        assert!(wanted("/etc/ssh/sshd_config.d/50-cloud-init.conf"));
        assert!(!wanted("/etc/ssh/sshd_config.d"));
        assert!(!wanted("/etc/ssh/sshd_config.d/a/b.conf"));
        assert!(!wanted("/etc/ssh/ssh_host_ed25519_key"));
        assert!(wanted("/etc/docker/daemon.json"));
    }

    #[test]
    fn live_files_under_a_host_root() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        std::fs::create_dir_all(r.join("etc/ssh/sshd_config.d")).unwrap();
        std::fs::write(r.join("etc/ssh/sshd_config"), "PermitRootLogin yes\n").unwrap();
        std::fs::write(r.join("etc/ssh/sshd_config.d/a.conf"), "Port 2\n").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", r.join("etc/nftables.conf")).unwrap();
        let h = host_live(r);
        assert!(h.commands.is_empty() && h.commands_note.is_some());
        assert_eq!(
            h.files.get(SSHD_CONFIG),
            Some(&HostFile::Text("PermitRootLogin yes\n".into()))
        );
        assert!(h.files.contains_key("/etc/ssh/sshd_config.d/a.conf"));
        assert!(matches!(
            h.files.get("/etc/nftables.conf"),
            Some(HostFile::Unreadable(_))
        ));
        assert!(!h.files.contains_key(DAEMON_JSON));
    }
}
