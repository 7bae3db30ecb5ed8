//! Reading a deployment back for people: a summary of what a snapshot holds (`show`), and the
//! drift between a snapshot and the live engine (`diff --live`). Environment values are masked
//! unless the caller asks for secrets.

use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use serde::Serialize;
use serde_json::Value;

use super::compare::{self, Difference};
use super::engine::Engine;
use crate::error::Result;
use crate::repo::IndexedRepo;
use crate::snapshot::deployment::{
    Deployment, IMAGES_DIR, ImageRecord, VOLUMES_DIR, VolumeRecord, jget, jstr,
};
use crate::snapshot::entry::Kind;
use crate::snapshot::tree::TreeReader;

#[derive(Debug, Serialize)]
pub struct ContainerView {
    pub name: String,
    pub image: String,
    pub image_id: String,
    pub state: String,
    pub ports: Vec<String>,
    pub mounts: Vec<String>,
    pub networks: Vec<String>,
    pub env: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct VolumeView {
    pub name: String,
    pub driver: String,
    pub anonymous: bool,
    pub files: u64,
    pub bytes: u64,
    pub data: bool,
}

#[derive(Debug, Serialize)]
pub struct NetworkView {
    pub name: String,
    pub driver: String,
    pub subnets: Vec<String>,
    pub internal: bool,
}

#[derive(Debug, Serialize)]
pub struct ImageView {
    pub id: String,
    pub tags: Vec<String>,
    pub size: u64,
    pub archived: bool,
}

#[derive(Debug, Serialize)]
pub struct Overview {
    pub containers: Vec<ContainerView>,
    pub volumes: Vec<VolumeView>,
    pub networks: Vec<NetworkView>,
    pub images: Vec<ImageView>,
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// A deployment's data by kind (its summary counts them together): volume files and image
/// archives, from its tree.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct DataSizes {
    pub volume_files: u64,
    pub volume_bytes: u64,
    pub image_archives: u64,
    pub image_bytes: u64,
}

pub fn data_sizes(repo: &IndexedRepo, dep: &Deployment) -> Result<DataSizes> {
    let mut d = DataSizes::default();
    let (volumes, images) = (format!("{VOLUMES_DIR}/"), format!("{IMAGES_DIR}/"));
    for e in TreeReader::new(repo, &dep.tree) {
        let e = e?;
        if e.kind != Kind::File {
            continue;
        }
        if e.path.starts_with(volumes.as_bytes()) {
            d.volume_files += 1;
            d.volume_bytes += e.size;
        } else if e.path.starts_with(images.as_bytes()) {
            d.image_archives += 1;
            d.image_bytes += e.size;
        }
    }
    Ok(d)
}

/// Files and bytes below each volume's data in the deployment tree.
fn volume_sizes(repo: &IndexedRepo, dep: &Deployment) -> Result<BTreeMap<String, (u64, u64)>> {
    let mut out = BTreeMap::new();
    let prefix = format!("{VOLUMES_DIR}/");
    for e in TreeReader::new(repo, &dep.tree) {
        let e = e?;
        let Some(rest) = e.path.strip_prefix(prefix.as_bytes()) else {
            continue;
        };
        let name = rest.split(|b| *b == b'/').next().unwrap_or_default();
        let slot = out
            .entry(String::from_utf8_lossy(name).into_owned())
            .or_insert((0, 0));
        if e.kind == Kind::File {
            slot.0 += 1;
            slot.1 += e.size;
        }
    }
    Ok(out)
}

pub fn overview(repo: &IndexedRepo, dep: &Deployment, show_secrets: bool) -> Result<Overview> {
    let sizes = volume_sizes(repo, dep)?;
    let containers = dep
        .containers
        .iter()
        .map(|c| {
            let i = &c.inspect;
            let mut ports = Vec::new();
            if let Some(pb) = jget(i, "HostConfig.PortBindings").and_then(Value::as_object) {
                for (port, binds) in pb {
                    for b in binds.as_array().into_iter().flatten() {
                        let ip = jstr(b, "HostIp");
                        let hp = jstr(b, "HostPort");
                        let host = if ip.is_empty() {
                            hp.to_string()
                        } else {
                            format!("{ip}:{hp}")
                        };
                        ports.push(format!("{host}->{port}"));
                    }
                }
            }
            let mounts = jget(i, "Mounts")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|m| {
                    let src = match jstr(m, "Type") {
                        "volume" => jstr(m, "Name"),
                        _ => jstr(m, "Source"),
                    };
                    format!("{}:{}={}", jstr(m, "Type"), src, jstr(m, "Destination"))
                })
                .collect();
            let networks = jget(i, "NetworkSettings.Networks")
                .and_then(Value::as_object)
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default();
            let env = strings(jget(i, "Config.Env"))
                .into_iter()
                .map(|e| {
                    if show_secrets {
                        e
                    } else {
                        compare::mask_entry(&e)
                    }
                })
                .collect();
            let state = if jget(i, "State.Running").and_then(Value::as_bool) == Some(true) {
                "running".to_string()
            } else {
                jstr(i, "State.Status").to_string()
            };
            ContainerView {
                name: c.name.clone(),
                image: jstr(i, "Config.Image").to_string(),
                image_id: c.image_id.clone(),
                state,
                ports,
                mounts,
                networks,
                env,
            }
        })
        .collect();
    let volumes = dep
        .volumes
        .iter()
        .map(|v| {
            let (files, bytes) = sizes.get(&v.name).copied().unwrap_or_default();
            VolumeView {
                name: v.name.clone(),
                driver: jstr(&v.inspect, "Driver").to_string(),
                anonymous: v.anonymous,
                files,
                bytes,
                data: v.data.is_some(),
            }
        })
        .collect();
    let networks = dep
        .networks
        .iter()
        .map(|n| NetworkView {
            name: n.name.clone(),
            driver: jstr(&n.inspect, "Driver").to_string(),
            subnets: jget(&n.inspect, "IPAM.Config")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|c| jstr(c, "Subnet").to_string())
                .filter(|s| !s.is_empty())
                .collect(),
            internal: n.inspect.get("Internal").and_then(Value::as_bool) == Some(true),
        })
        .collect();
    let images = dep
        .images
        .iter()
        .map(|i| ImageView {
            id: i.id.clone(),
            tags: i.tags.clone(),
            size: i.size,
            archived: i.archive.is_some(),
        })
        .collect();
    Ok(Overview {
        containers,
        volumes,
        networks,
        images,
    })
}

/// How one volume's live contents differ from the snapshot (paths relative to the volume).
#[derive(Debug, Default, Serialize)]
pub struct VolumeDrift {
    pub name: String,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub modified: Vec<String>,
    /// Why the contents could not be compared (mountpoint not accessible, volume missing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unchecked: Option<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct Drift {
    /// Containers of the snapshot that no longer exist.
    pub missing: Vec<String>,
    /// Configuration differences per container (snapshot → live).
    pub containers: Vec<(String, Vec<Difference>)>,
    pub networks: Vec<(String, Vec<Difference>)>,
    pub volumes: Vec<VolumeDrift>,
}

impl Drift {
    pub fn is_empty(&self) -> bool {
        self.missing.is_empty()
            && self.containers.is_empty()
            && self.networks.is_empty()
            && self.volumes.iter().all(|v| {
                v.added.is_empty()
                    && v.removed.is_empty()
                    && v.modified.is_empty()
                    && v.unchecked.is_none()
            })
    }
}

/// (kind, size, mtime s, mode) of a file, for the content comparison.
type Shape = (char, u64, i64, u32);

/// Size recorded for a hard link (its size is the first name's).
const LINK: u64 = u64::MAX;

/// Whether a live object differs from its record: kind and mode always; size and mtime for
/// files (a directory's mtime moves whenever a name in it does, which is reported as such).
fn differs(recorded: &Shape, live: &Shape) -> bool {
    recorded.0 != live.0
        || recorded.3 != live.3
        || (recorded.0 == '-'
            && recorded.1 != LINK
            && (recorded.1 != live.1 || recorded.2 != live.2))
}

pub fn live_drift(engine: &Engine, repo: &IndexedRepo, dep: &Deployment) -> Result<Drift> {
    let mut d = Drift::default();
    for c in &dep.containers {
        match engine.inspect_container(&c.name)? {
            None => d.missing.push(c.name.clone()),
            Some(live) => {
                let diffs = compare::compare_containers(&c.inspect, &live);
                if !diffs.is_empty() {
                    d.containers.push((c.name.clone(), diffs));
                }
            }
        }
    }
    for n in &dep.networks {
        match engine.inspect_network(&n.name)? {
            None => d.missing.push(format!("network {}", n.name)),
            Some(live) => {
                let diffs = compare::compare_networks(&n.inspect, &live);
                if !diffs.is_empty() {
                    d.networks.push((n.name.clone(), diffs));
                }
            }
        }
    }
    // Snapshot side of every volume, from one pass over the tree.
    let mut recorded: BTreeMap<String, BTreeMap<Vec<u8>, Shape>> = BTreeMap::new();
    let prefix = format!("{VOLUMES_DIR}/");
    for e in TreeReader::new(repo, &dep.tree) {
        let e = e?;
        let Some(rest) = e.path.strip_prefix(prefix.as_bytes()) else {
            continue;
        };
        let (name, rel) = match rest.iter().position(|b| *b == b'/') {
            Some(i) => (&rest[..i], rest[i..].to_vec()),
            None => (rest, b"/".to_vec()),
        };
        recorded
            .entry(String::from_utf8_lossy(name).into_owned())
            .or_default()
            .insert(
                rel,
                (
                    e.kind.letter(),
                    if e.kind == Kind::Hardlink {
                        LINK
                    } else {
                        e.size
                    },
                    e.mtime.div_euclid(1_000_000_000),
                    e.mode,
                ),
            );
    }
    for v in &dep.volumes {
        if v.data.is_none() || v.anonymous {
            // Anonymous volumes get new names when recreated: compared through containers.
            continue;
        }
        let mut vd = VolumeDrift {
            name: v.name.clone(),
            ..VolumeDrift::default()
        };
        let live = match engine.inspect_volume(&v.name)? {
            Some(l) => l,
            None => {
                d.missing.push(format!("volume {}", v.name));
                continue;
            }
        };
        let mountpoint = PathBuf::from(jstr(&live, "Mountpoint"));
        if !(engine.local && std::fs::read_dir(&mountpoint).is_ok()) {
            vd.unchecked = Some(format!("{} not accessible here", mountpoint.display()));
            d.volumes.push(vd);
            continue;
        }
        let mut now: BTreeMap<Vec<u8>, Shape> = BTreeMap::new();
        for de in walkdir::WalkDir::new(&mountpoint).into_iter().flatten() {
            let Ok(md) = de.metadata() else { continue };
            let rel = de.path().strip_prefix(&mountpoint).unwrap_or(de.path());
            let mut key = b"/".to_vec();
            key.extend_from_slice(rel.as_os_str().as_bytes());
            let kind = Kind::of(md.file_type());
            let size = if kind == Kind::File { md.size() } else { 0 };
            now.insert(key, (kind.letter(), size, md.mtime(), md.mode() & 0o7777));
        }
        let empty = BTreeMap::new();
        let before = recorded.get(&v.name).unwrap_or(&empty);
        let show = |p: &[u8]| String::from_utf8_lossy(p).into_owned();
        for (p, shape) in before {
            match now.get(p) {
                None => vd.removed.push(show(p)),
                Some(s) if differs(shape, s) => vd.modified.push(show(p)),
                Some(_) => {}
            }
        }
        for p in now.keys() {
            if !before.contains_key(p) {
                vd.added.push(show(p));
            }
        }
        if !(vd.added.is_empty() && vd.removed.is_empty() && vd.modified.is_empty()) {
            d.volumes.push(vd);
        }
    }
    Ok(d)
}

/// How the deployment of one snapshot differs from another's (`diff SNAP1 SNAP2`), with the
/// same field comparison as a restore's check and `diff --live`.
#[derive(Debug, Default, Serialize)]
pub struct DeploymentDiff {
    /// Objects only the newer snapshot has: `container api`, `network n`, `volume v`,
    /// `image sha256:… (tags)`.
    pub added: Vec<String>,
    /// Objects only the older snapshot has.
    pub removed: Vec<String>,
    /// Configuration differences per container in both (older → newer).
    pub containers: Vec<(String, Vec<Difference>)>,
    pub networks: Vec<(String, Vec<Difference>)>,
    /// Volume configuration (driver, options, labels).
    pub volumes: Vec<(String, Vec<Difference>)>,
    /// Volume contents, for volumes in both (an anonymous volume is matched with the one the
    /// same container mounts at the same place).
    pub data: Vec<VolumeDrift>,
}

impl DeploymentDiff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.containers.is_empty()
            && self.networks.is_empty()
            && self.volumes.is_empty()
            && self.data.is_empty()
    }

    /// Environment values replaced by `***`.
    pub fn mask_secrets(&mut self) {
        for (_, diffs) in self.containers.iter_mut().chain(self.networks.iter_mut()) {
            *diffs = diffs.iter().map(compare::mask_difference).collect();
        }
    }
}

/// Compare the deployments of two snapshots (either may have none).
pub fn deployment_diff(
    repo: &IndexedRepo,
    old: Option<&Deployment>,
    new: Option<&Deployment>,
) -> Result<DeploymentDiff> {
    let empty = Deployment::default();
    let (old, new) = (old.unwrap_or(&empty), new.unwrap_or(&empty));
    let mut d = DeploymentDiff::default();
    let ids = |dep: &Deployment| -> std::collections::HashMap<String, String> {
        dep.containers
            .iter()
            .map(|c| (c.id.clone(), c.name.clone()))
            .collect()
    };
    let (old_ids, new_ids) = (ids(old), ids(new));
    // Anonymous volume names in the older snapshot -> the newer one's at the same mount.
    let mut anon: BTreeMap<String, String> = BTreeMap::new();
    for a in &old.containers {
        match new.container(&a.name) {
            None => d.removed.push(format!("container {}", a.name)),
            Some(b) => {
                let diffs =
                    compare::compare_containers_with(&a.inspect, &old_ids, &b.inspect, &new_ids);
                if !diffs.is_empty() {
                    d.containers.push((a.name.clone(), diffs));
                }
                let mounts = |c: &Value| -> BTreeMap<String, String> {
                    jget(c, "Mounts")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter(|m| jstr(m, "Type") == "volume")
                        .map(|m| {
                            (
                                jstr(m, "Destination").to_string(),
                                jstr(m, "Name").to_string(),
                            )
                        })
                        .collect()
                };
                let later = mounts(&b.inspect);
                for (dest, name) in mounts(&a.inspect) {
                    let is_anon =
                        |n: &str| new.volume(n).or(old.volume(n)).is_some_and(|v| v.anonymous);
                    if let Some(other) = later.get(&dest).filter(|o| is_anon(o) && is_anon(&name)) {
                        anon.insert(name, other.clone());
                    }
                }
            }
        }
    }
    for b in &new.containers {
        if old.container(&b.name).is_none() {
            d.added.push(format!("container {}", b.name));
        }
    }
    for a in &old.networks {
        match new.network(&a.name) {
            None => d.removed.push(format!("network {}", a.name)),
            Some(b) => {
                let diffs = compare::compare_networks(&a.inspect, &b.inspect);
                if !diffs.is_empty() {
                    d.networks.push((a.name.clone(), diffs));
                }
            }
        }
    }
    for b in &new.networks {
        if old.network(&b.name).is_none() {
            d.added.push(format!("network {}", b.name));
        }
    }
    // Volumes: pairs (older name, newer name).
    let mut pairs = Vec::new();
    for a in &old.volumes {
        let counterpart = anon.get(&a.name).unwrap_or(&a.name);
        match new.volume(counterpart) {
            None => d.removed.push(format!("volume {}", a.name)),
            Some(b) => pairs.push((a, b)),
        }
    }
    for b in &new.volumes {
        if !pairs.iter().any(|(_, p)| p.name == b.name) {
            d.added.push(format!("volume {}", b.name));
        }
    }
    for (a, b) in &pairs {
        let diffs = compare::compare_volumes(&a.inspect, &b.inspect);
        if !diffs.is_empty() {
            d.volumes.push((a.name.clone(), diffs));
        }
    }
    let image = |i: &ImageRecord| format!("image {} ({})", i.id, i.tags.join(", "));
    for a in &old.images {
        if new.image(&a.id).is_none() {
            d.removed.push(image(a));
        }
    }
    for b in &new.images {
        if old.image(&b.id).is_none() {
            d.added.push(image(b));
        }
    }
    d.data = volume_data_diff(repo, old, new, &pairs)?;
    Ok(d)
}

/// The contents of each pair of volumes (older, newer), from the two deployment trees: what
/// was added, removed, and changed (contents, kind, mode, owner or link target).
fn volume_data_diff(
    repo: &IndexedRepo,
    old: &Deployment,
    new: &Deployment,
    pairs: &[(&VolumeRecord, &VolumeRecord)],
) -> Result<Vec<VolumeDrift>> {
    use crate::snapshot::diff::{Change, DiffItem, diff_entries};
    // Each side's entries of one volume, relative to it: `/volumes/<name>/rel` -> `/rel`.
    let by_volume =
        |tree: &[crate::id::Id]| -> Result<BTreeMap<String, Vec<crate::snapshot::entry::Entry>>> {
            let mut out: BTreeMap<String, Vec<_>> = BTreeMap::new();
            let prefix = format!("{VOLUMES_DIR}/");
            for e in TreeReader::new(repo, tree) {
                let mut e = e?;
                let Some(rest) = e.path.strip_prefix(prefix.as_bytes()) else {
                    continue;
                };
                let (name, rel) = match rest.iter().position(|b| *b == b'/') {
                    Some(i) => (&rest[..i], rest[i..].to_vec()),
                    None => (rest, b"/".to_vec()),
                };
                let name = String::from_utf8_lossy(name).into_owned();
                e.path = rel;
                out.entry(name).or_default().push(e);
            }
            Ok(out)
        };
    if pairs.is_empty() {
        return Ok(Vec::new());
    }
    let (before, after) = (by_volume(&old.tree)?, by_volume(&new.tree)?);
    let none = Vec::new();
    let mut out = Vec::new();
    for (a, b) in pairs {
        let mut vd = VolumeDrift {
            name: a.name.clone(),
            ..VolumeDrift::default()
        };
        let (x, y) = (
            before.get(&a.name).unwrap_or(&none),
            after.get(&b.name).unwrap_or(&none),
        );
        diff_entries(
            x.iter().cloned().map(Ok),
            y.iter().cloned().map(Ok),
            |i: &DiffItem| {
                let list = match i.change {
                    Change::Added => &mut vd.added,
                    Change::Removed => &mut vd.removed,
                    Change::Modified | Change::Type => &mut vd.modified,
                    Change::Metadata
                        if i.fields
                            .iter()
                            .any(|f| matches!(*f, "mode" | "owner" | "target")) =>
                    {
                        &mut vd.modified
                    }
                    Change::Metadata => return,
                };
                list.push(crate::escape::lossy(&i.path));
            },
        )?;
        if !(vd.added.is_empty() && vd.removed.is_empty() && vd.modified.is_empty()) {
            out.push(vd);
        }
    }
    Ok(out)
}
