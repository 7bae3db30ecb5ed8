//! Capturing a deployment: choosing containers, recording them with their images, networks and
//! volumes, keeping databases quiet while their volumes are read (stop labels and pre-snapshot
//! hooks), and streaming volume data and image archives into the snapshot.

mod binds;
mod quiesce;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;

pub use binds::{BindOptions, BindPlan, SkipReason, SkippedBind};

use super::engine::{Engine, Listed};
use super::{spec, tarsrc};
use crate::error::{DockerError, Error, Result};
use crate::files::walk::{Excludes, ParentCursor, walk_rebased};
use crate::id::Id;
use crate::observer::{Observer, Warning};
use crate::repo::IndexedRepo;
use crate::snapshot::deployment::{
    ContainerRecord, Deployment, DeploymentSource, IMAGES_DIR, ImageRecord, NetworkRecord,
    Previous, VOLUMES_DIR, VolumeRecord, image_path, jget, jstr, volume_path,
};
use crate::snapshot::entry::{Entry, Kind};
use crate::snapshot::manifest::Summary;
use crate::snapshot::pipeline::Session;

pub const LABEL_STOP: &str = "lifeboat.stop";
pub const LABEL_EXCLUDE: &str = "lifeboat.exclude";
pub const LABEL_HOOK: &str = "lifeboat.pre-snapshot";
pub const LABEL_HOOK_TIMEOUT: &str = "lifeboat.pre-snapshot.timeout";
pub const LABEL_HOOK_ON_ERROR: &str = "lifeboat.pre-snapshot.on-error";
const COMPOSE_PROJECT: &str = "com.docker.compose.project";
const COMPOSE_FILES: &str = "com.docker.compose.project.config_files";
const COMPOSE_DIR: &str = "com.docker.compose.project.working_dir";

/// A bind mount of a captured container: its host path, recorded and replayed as configuration
/// (and captured as data, see `binds`), and what the container sees it as.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BindMount {
    pub container: String,
    pub source: String,
    pub destination: String,
}

/// Networks every engine has; they are never created or recorded.
pub const BUILTIN_NETWORKS: [&str; 3] = ["bridge", "host", "none"];

/// Which containers a snapshot takes.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub names: Vec<String>,
    pub all: bool,
    pub compose_projects: Vec<String>,
    /// `KEY` or `KEY=VALUE`.
    pub labels: Vec<String>,
}

impl Selection {
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
            && !self.all
            && self.compose_projects.is_empty()
            && self.labels.is_empty()
    }
}

/// How volume data is read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum VolumeAccess {
    /// Read the mountpoint directly when the engine is local and it is readable, else the API.
    #[default]
    Auto,
    /// Always through the Engine API (a helper container's archive endpoint).
    Api,
}

#[derive(Debug, Clone, Default)]
pub struct CaptureOptions {
    pub selection: Selection,
    /// Store image content (`docker save`), not only references.
    pub images: bool,
    pub volume_access: VolumeAccess,
}

/// A planned capture: the records, ready to stream their data.
pub struct Capture<'e> {
    engine: &'e Engine,
    opts: CaptureOptions,
    deployment: Deployment,
    /// Notices for the user (excluded containers, ...).
    pub notices: Vec<String>,
    captured_volumes: Mutex<HashSet<String>>,
    captured_images: Mutex<HashSet<String>>,
}

impl std::fmt::Debug for Capture<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capture")
            .field("containers", &self.deployment.containers.len())
            .finish()
    }
}

fn label_matches(labels: &HashMap<String, String>, want: &str) -> bool {
    match want.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
        None => labels.contains_key(want),
    }
}

fn is_true(labels: &HashMap<String, String>, key: &str) -> bool {
    labels
        .get(key)
        .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes"))
}

/// Labels of an inspect document as a map.
pub fn labels_of(inspect: &Value) -> HashMap<String, String> {
    jget(inspect, "Config.Labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// Peers for the spec conversion: every container's name by ID, and labels by name.
pub fn peers_of(containers: &[ContainerRecord]) -> spec::Peers {
    let mut p = spec::Peers::default();
    for c in containers {
        p.names_by_id.insert(c.id.clone(), c.name.clone());
        if let Some(l) = jget(&c.inspect, "Config.Labels").and_then(Value::as_object) {
            p.labels_by_name.insert(c.name.clone(), l.clone());
        }
    }
    p
}

/// Names in dependency order (a container after those it depends on); unknown names in
/// `depends_on` are ignored, cycles broken by name order.
pub fn dependency_order(deps: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    fn visit(
        n: &str,
        deps: &BTreeMap<String, Vec<String>>,
        seen: &mut HashSet<String>,
        out: &mut Vec<String>,
    ) {
        if !seen.insert(n.to_string()) {
            return;
        }
        for d in deps.get(n).into_iter().flatten() {
            if deps.contains_key(d) {
                visit(d, deps, seen, out);
            }
        }
        out.push(n.to_string());
    }
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for n in deps.keys() {
        visit(n, deps, &mut seen, &mut out);
    }
    out
}

/// The listed containers the selection names (a compose project, a label or all of them),
/// without lifeboat's helpers and those labelled [`LABEL_EXCLUDE`] (said in `notices`).
fn selected(listed: Vec<Listed>, sel: &Selection, notices: &mut Vec<String>) -> Vec<Listed> {
    listed
        .into_iter()
        .filter(|c| {
            sel.all
                || sel
                    .names
                    .iter()
                    .any(|n| &c.name == n || (n.len() >= 12 && c.id.starts_with(n.as_str())))
                || c.labels
                    .get(COMPOSE_PROJECT)
                    .is_some_and(|p| sel.compose_projects.contains(p))
                || sel.labels.iter().any(|l| label_matches(&c.labels, l))
        })
        .filter(|c| {
            let skip =
                is_true(&c.labels, LABEL_EXCLUDE) || c.labels.contains_key("lifeboat.helper");
            if skip && is_true(&c.labels, LABEL_EXCLUDE) {
                notices.push(format!(
                    "container {} skipped: labelled {LABEL_EXCLUDE}=true",
                    c.name
                ));
            }
            !skip
        })
        .collect()
}

/// The user-defined networks a container is on, not yet in `networks`, recorded without their
/// runtime member list.
fn add_networks(
    engine: &Engine,
    inspect: &Value,
    networks: &mut BTreeMap<String, NetworkRecord>,
) -> Result<()> {
    let Some(nets) = jget(inspect, "NetworkSettings.Networks").and_then(Value::as_object) else {
        return Ok(());
    };
    for name in nets.keys() {
        if BUILTIN_NETWORKS.contains(&name.as_str()) || networks.contains_key(name) {
            continue;
        }
        if let Some(mut ni) = engine.inspect_network(name)? {
            if let Some(o) = ni.as_object_mut() {
                o.insert("Containers".into(), Value::Object(serde_json::Map::new()));
            }
            networks.insert(
                name.clone(),
                NetworkRecord {
                    name: name.clone(),
                    inspect: ni,
                },
            );
        }
    }
    Ok(())
}

/// The volumes a container mounts, not yet in `volumes`; `image_id` (the container's image)
/// is the helper image that later reads their data.
fn add_volumes(
    engine: &Engine,
    inspect: &Value,
    image_id: &str,
    volumes: &mut BTreeMap<String, VolumeRecord>,
) -> Result<()> {
    let named = named_volumes(inspect);
    // A volume this container does not name may still be named (shared through
    // VolumesFrom): only engine-generated names are anonymous.
    for m in jget(inspect, "Mounts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if m.get("Type").and_then(Value::as_str) != Some("volume") {
            continue;
        }
        let name = m.get("Name").and_then(Value::as_str).unwrap_or_default();
        if name.is_empty() || volumes.contains_key(name) {
            continue;
        }
        if let Some(vi) = engine.inspect_volume(name)? {
            volumes.insert(
                name.to_string(),
                VolumeRecord {
                    name: name.to_string(),
                    anonymous: !named.contains(name) && spec::is_generated_volume_name(name),
                    inspect: vi,
                    data: None,
                    helper_image: image_id.to_string(),
                },
            );
        }
    }
    Ok(())
}

impl<'e> Capture<'e> {
    /// Inspect what the selection names. Fails when a named container does not exist.
    pub fn plan(engine: &'e Engine, opts: &CaptureOptions) -> Result<Capture<'e>> {
        let sel = &opts.selection;
        let listed = engine.list_containers()?;
        let mut notices = Vec::new();
        for n in &sel.names {
            if !listed
                .iter()
                .any(|c| &c.name == n || c.id.starts_with(n.as_str()))
            {
                return Err(DockerError::NoSuchContainer(n.to_string()).into());
            }
        }
        let mut chosen = selected(listed, sel, &mut notices);
        chosen.sort_by(|a, b| a.name.cmp(&b.name));
        let mut d = Deployment {
            engine: engine.info()?,
            ..Deployment::default()
        };
        let mut images: BTreeMap<String, ImageRecord> = BTreeMap::new();
        let mut networks: BTreeMap<String, NetworkRecord> = BTreeMap::new();
        let mut volumes: BTreeMap<String, VolumeRecord> = BTreeMap::new();
        for c in chosen {
            let Some(inspect) = engine.inspect_container(&c.id)? else {
                notices.push(format!("container {} vanished while planning", c.name));
                continue;
            };
            let image_id = jstr(&inspect, "Image").to_string();
            if !images.contains_key(&image_id) {
                if let Some(ii) = engine.inspect_image(&image_id)? {
                    images.insert(image_id.clone(), image_record(&image_id, ii, opts.images));
                } else {
                    notices.push(format!(
                        "container {}: its image {image_id} is gone; only the reference is kept",
                        c.name
                    ));
                }
            }
            add_networks(engine, &inspect, &mut networks)?;
            add_volumes(engine, &inspect, &image_id, &mut volumes)?;
            d.containers.push(ContainerRecord {
                name: c.name.clone(),
                id: c.id.clone(),
                image_id,
                inspect,
            });
        }
        d.images = images.into_values().collect();
        d.networks = networks.into_values().collect();
        d.volumes = volumes.into_values().collect();
        Ok(Capture {
            engine,
            opts: opts.clone(),
            deployment: d,
            notices,
            captured_volumes: Mutex::new(HashSet::new()),
            captured_images: Mutex::new(HashSet::new()),
        })
    }

    pub fn deployment(&self) -> &Deployment {
        &self.deployment
    }

    /// Compose files the captured containers came from (recorded as files of the snapshot).
    pub fn compose_files(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for c in &self.deployment.containers {
            let labels = labels_of(&c.inspect);
            let dir = labels.get(COMPOSE_DIR).cloned().unwrap_or_default();
            for f in labels
                .get(COMPOSE_FILES)
                .into_iter()
                .flat_map(|v| v.split(','))
            {
                let p = PathBuf::from(dir.as_str()).join(f.trim());
                if !f.trim().is_empty() && p.exists() && !out.contains(&p) {
                    out.push(p);
                }
            }
        }
        out
    }

    /// Names of containers in dependency order (dependencies first).
    pub fn order(&self) -> Vec<String> {
        let peers = peers_of(&self.deployment.containers);
        let deps: BTreeMap<String, Vec<String>> = self
            .deployment
            .containers
            .iter()
            .map(|c| {
                let image = self
                    .deployment
                    .image(&c.image_id)
                    .map_or(Value::Null, |i| i.inspect.clone());
                let d = spec::create_spec(&c.inspect, &image, &peers)
                    .map(|s| s.depends_on)
                    .unwrap_or_default();
                (c.name.clone(), d)
            })
            .collect();
        dependency_order(&deps)
    }
}

/// `30`, `30s`, `5m`, `1h` (see [`crate::util::parse_duration`]).
pub fn parse_duration(s: &str) -> Option<Duration> {
    crate::util::parse_duration(s).ok()
}

/// Volume names the container mounts by name (binds `name:/path` and `Mounts` of type volume);
/// its other volume mounts are anonymous.
fn named_volumes(inspect: &Value) -> HashSet<String> {
    let mut out = HashSet::new();
    for b in jget(inspect, "HostConfig.Binds")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(src) = b.as_str().and_then(|s| s.split(':').next())
            && !src.starts_with('/')
        {
            out.insert(src.to_string());
        }
    }
    for m in jget(inspect, "HostConfig.Mounts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if m.get("Type").and_then(Value::as_str) == Some("volume")
            && let Some(s) = m.get("Source").and_then(Value::as_str)
        {
            out.insert(s.to_string());
        }
    }
    out
}

/// An image record from its inspect document (`keep`: its archive goes into the snapshot).
pub(crate) fn image_record(id: &str, inspect: Value, keep: bool) -> ImageRecord {
    let list = |k: &str| -> Vec<String> {
        inspect
            .get(k)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    ImageRecord {
        id: id.to_string(),
        tags: list("RepoTags"),
        digests: list("RepoDigests"),
        size: inspect.get("Size").and_then(Value::as_u64).unwrap_or(0),
        archive: keep.then(|| image_path(id)),
        inspect,
    }
}

fn dir_entry(path: &str) -> Entry {
    let mut e = Entry::new(path.as_bytes().to_vec(), Kind::Dir);
    e.mode = 0o700;
    e
}

impl DeploymentSource for Capture<'_> {
    fn emit(
        &self,
        s: &Session<'_, '_>,
        parent: Option<&Previous<'_>>,
        repo: &IndexedRepo,
        readers: usize,
    ) -> Result<()> {
        s.push(dir_entry("/"));
        let keep_images: Vec<&ImageRecord> = self
            .deployment
            .images
            .iter()
            .filter(|i| i.archive.is_some())
            .collect();
        if !keep_images.is_empty() {
            s.push(dir_entry(IMAGES_DIR));
            for img in keep_images {
                crate::interrupt::check()?;
                // An image ID names its content: the parent's archive of the same image, saved
                // under the same tags, is this one (no `docker save` of gigabytes again).
                if let Some(e) = parent_archive(s, repo, parent, img)? {
                    s.push(e);
                    self.captured_images
                        .lock()
                        .expect("images")
                        .insert(img.id.clone());
                    continue;
                }
                // Only tags that still point to this image (a tag may have moved since).
                let mut tags = Vec::new();
                for t in &img.tags {
                    if self
                        .engine
                        .inspect_image(t)?
                        .is_some_and(|i| jstr(&i, "Id") == img.id)
                    {
                        tags.push(t.clone());
                    }
                }
                let reader = self.engine.save_image(&img.id, &tags);
                let (content, n) = s.ingest(reader).map_err(|e| {
                    if crate::interrupt::is_set() {
                        Error::Interrupted
                    } else {
                        DockerError::SaveImage {
                            image: img.id.clone(),
                            reason: e.to_string(),
                        }
                        .into()
                    }
                })?;
                let mut e = Entry::new(image_path(&img.id).into_bytes(), Kind::File);
                e.mode = 0o600;
                e.size = n;
                e.content = Some(content);
                s.push(e);
                self.captured_images
                    .lock()
                    .expect("images")
                    .insert(img.id.clone());
            }
        }
        if self.deployment.volumes.is_empty() {
            return Ok(());
        }
        s.push(dir_entry(VOLUMES_DIR));
        let mut cursor = parent.map(|p| ParentCursor::new(p.entries(repo)));
        for v in &self.deployment.volumes {
            crate::interrupt::check()?;
            if s.has_failed() {
                return Ok(());
            }
            let path = volume_path(&v.name);
            let mountpoint = PathBuf::from(jstr(&v.inspect, "Mountpoint"));
            let local = self.opts.volume_access == VolumeAccess::Auto
                && self.engine.local
                && !mountpoint.as_os_str().is_empty()
                && std::fs::read_dir(&mountpoint).is_ok();
            if local {
                cursor = walk_rebased(
                    s,
                    &mountpoint,
                    path.as_bytes(),
                    &Excludes::default(),
                    cursor,
                    readers,
                )?;
            } else {
                self.read_through_api(s, v, &path)?;
            }
            self.captured_volumes
                .lock()
                .expect("volumes")
                .insert(v.name.clone());
        }
        Ok(())
    }

    fn finish(&self, tree: Vec<Id>, summary: Summary) -> Deployment {
        let mut d = self.deployment.clone();
        let vols = self.captured_volumes.lock().expect("volumes");
        for v in &mut d.volumes {
            v.data = vols.contains(&v.name).then(|| volume_path(&v.name));
        }
        let imgs = self.captured_images.lock().expect("images");
        for i in &mut d.images {
            if !imgs.contains(&i.id) {
                i.archive = None;
            }
        }
        d.tree = tree;
        d.summary = summary;
        d
    }
}

/// The parent deployment's archive entry of `img` when it can stand for a new save: same image
/// ID, recorded under the same tags, every chunk still in the repository.
fn parent_archive(
    s: &Session<'_, '_>,
    repo: &IndexedRepo,
    parent: Option<&Previous<'_>>,
    img: &ImageRecord,
) -> Result<Option<Entry>> {
    let Some(p) = parent else { return Ok(None) };
    if !p.archived(&img.id, &img.tags) {
        return Ok(None);
    }
    let path = image_path(&img.id);
    for e in p.entries(repo) {
        let e = e?;
        if e.path == path.as_bytes() {
            let known = e
                .content
                .as_ref()
                .is_some_and(|c| c.chunks.iter().all(|id| s.writer().is_known(id)));
            return Ok(known.then_some(e));
        }
        // Paths come sorted: past `/images/` there is nothing more to find.
        if e.path.as_slice() > IMAGES_DIR.as_bytes()
            && !e.path.starts_with(format!("{IMAGES_DIR}/").as_bytes())
        {
            break;
        }
    }
    Ok(None)
}

impl Capture<'_> {
    /// Read a volume through a helper container that is created, never started, and removed.
    fn read_through_api(&self, s: &Session<'_, '_>, v: &VolumeRecord, path: &str) -> Result<()> {
        let helper = Helper::create(self.engine, &v.name, &v.helper_image, true)?;
        let reader = self.engine.download(&helper.name, HELPER_MOUNT);
        tarsrc::emit_tar(
            s,
            reader,
            HELPER_MOUNT.trim_start_matches('/'),
            path.as_bytes(),
        )
    }
}

/// Where a helper container mounts the volume it reads or writes.
pub const HELPER_MOUNT: &str = "/lifeboat-volume";

/// A created-but-never-started container with one volume mounted; removed on drop.
pub struct Helper<'e> {
    engine: &'e Engine,
    pub name: String,
}

impl<'e> Helper<'e> {
    pub fn create(
        engine: &'e Engine,
        volume: &str,
        image: &str,
        read_only: bool,
    ) -> Result<Helper<'e>> {
        let name = format!("lifeboat-helper-{}", crate::repo::backend::random_suffix());
        let body = serde_json::json!({
            "Image": image,
            "Entrypoint": ["/lifeboat-helper-is-never-started"],
            "Cmd": [],
            "Labels": { "lifeboat.helper": "true" },
            "NetworkDisabled": true,
            "HostConfig": {
                "NetworkMode": "none",
                "Mounts": [{
                    "Type": "volume", "Source": volume, "Target": HELPER_MOUNT,
                    "ReadOnly": read_only, "VolumeOptions": { "NoCopy": true }
                }]
            }
        });
        engine.create_container(&name, body)?;
        Ok(Helper { engine, name })
    }
}

impl Drop for Helper<'_> {
    fn drop(&mut self) {
        self.engine
            .remove_with_anonymous_volumes(&self.name, &[HELPER_MOUNT]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependency_order_puts_dependencies_first() {
        let mut deps = BTreeMap::new();
        deps.insert("a".to_string(), vec!["b".to_string()]);
        deps.insert("b".to_string(), vec!["c".to_string(), "gone".to_string()]);
        deps.insert("c".to_string(), vec![]);
        deps.insert("d".to_string(), vec!["a".to_string()]);
        assert_eq!(dependency_order(&deps), ["c", "b", "a", "d"]);
        // A cycle does not loop forever.
        deps.insert("c".to_string(), vec!["a".to_string()]);
        assert_eq!(dependency_order(&deps).len(), 4);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("x"), None);
    }
}
