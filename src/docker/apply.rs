//! Restoring a deployment onto an engine: images (loaded when their ID is missing), networks,
//! volumes with their data, then containers in dependency order, started when they were
//! running. Existing objects are never destroyed before their replacement works: without
//! `replace` they are left alone and reported; with it the old containers are stopped and
//! renamed aside ([`Aside`]) before any volume data is written, and each is removed only once
//! its replacement is up (put back on failure). Afterwards every created container is inspected
//! and compared with the snapshot.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::Serialize;
use serde_json::{Value, json};

pub use super::aside::{ASIDE_MARK, Aside, aside_name, short};
use super::capture::{BUILTIN_NETWORKS, dependency_order, peers_of};
use super::compare::{self, Difference, GeneratedValue};
use super::engine::Engine;
use super::spec::{self, CreateSpec};
use crate::error::{DockerError, Error, Result};
use crate::files::restore::{RestoreOptions, restore_tree};
use crate::progress::Progress;
use crate::repo::{IndexedRepo, Repository};
use crate::snapshot::content::ContentReader;
use crate::snapshot::deployment::{
    ContainerRecord, Deployment, VolumeRecord, image_path, jget, jstr,
};
use crate::snapshot::entry::Entry;
use crate::snapshot::tree::TreeReader;

#[derive(Debug, Clone, Default)]
pub struct ApplyOptions {
    /// Containers to restore (empty: all of the snapshot's).
    pub names: Vec<String>,
    pub replace: bool,
    pub dry_run: bool,
    /// Write volume data through the Engine API even when the mountpoint is local.
    pub via_api: bool,
    /// What happens to the data of volumes that exist already.
    pub volume_data: VolumeData,
}

/// What a restore does with the data of volumes that exist already.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum VolumeData {
    /// Without `replace` an existing volume is left alone and reported as a conflict; with
    /// `replace` the snapshot's files are written into it (files the snapshot does not have
    /// stay). A replaced container's anonymous volumes are new ones holding the snapshot's data.
    #[default]
    Write,
    /// Existing volumes keep their data, also with `replace` (no conflict reported), and a
    /// replaced container's anonymous volumes are carried over to the new one (`lifeboat
    /// rollback` without `--volumes`). Volumes that do not exist are created and filled.
    Keep,
    /// Like `Write`, and files the snapshot does not have are deleted first, so existing volumes
    /// hold exactly the snapshot's files (local mountpoints; through the Engine API they stay,
    /// with a warning).
    Exact,
}

/// One thing done (or, in a dry run, to be done).
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub action: &'static str,
    pub object: String,
}

#[derive(Debug, Default, Serialize)]
pub struct ApplyReport {
    pub steps: Vec<Step>,
    /// Existing objects left alone (no `replace`).
    pub conflicts: Vec<String>,
    /// Containers whose restored inspect differs from the snapshot, with the fields.
    pub differences: Vec<(String, Vec<Difference>)>,
    /// Restored containers whose generated values (ID, short-ID hostname and alias, MACs,
    /// dynamic addresses, timestamps...) differ from the snapshot's, as they must: named so a
    /// report can say which, never a difference.
    pub generated: Vec<(String, Vec<GeneratedValue>)>,
    /// Containers that could not be restored, with the reason.
    pub failures: Vec<ContainerFailure>,
    pub warnings: Vec<String>,
}

/// A container that could not be restored, and the error that stopped it (typed, so a
/// caller can word it; serialized as `[name, message]`).
#[derive(Debug)]
pub struct ContainerFailure {
    pub container: String,
    pub error: Error,
}

impl Serialize for ContainerFailure {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        (&self.container, self.error.to_string()).serialize(s)
    }
}

impl ApplyReport {
    fn step(&mut self, action: &'static str, object: impl Into<String>) {
        self.steps.push(Step {
            action,
            object: object.into(),
        });
    }
}

struct Ctx<'a> {
    engine: &'a Engine,
    repo: &'a IndexedRepo,
    dep: &'a Deployment,
    opts: &'a ApplyOptions,
    progress: &'a dyn Progress,
    report: ApplyReport,
    /// Existing volumes whose data this restore wrote (for what a put-back container finds).
    written: BTreeSet<String>,
    /// Running containers (not set aside) by the volumes they mount, looked up once.
    users: Option<BTreeMap<String, Vec<String>>>,
}

/// Restore the deployment's containers (those in `opts.names`, or all) as the module comment
/// describes; failures of single containers are in the report, not an `Err`.
pub fn apply(
    engine: &Engine,
    repo: &Repository,
    dep: &Deployment,
    opts: &ApplyOptions,
    progress: &dyn Progress,
) -> Result<ApplyReport> {
    for n in &opts.names {
        if dep.container(n).is_none() {
            return Err(Error::Invalid(format!(
                "container {n} is not in this snapshot (see `lifeboat show`)"
            )));
        }
    }
    let _lock = repo.lock(crate::repo::LockKind::Shared, "restore")?;
    let repo = &repo.indexed()?;
    let specs = create_specs(dep, &opts.names)?;
    let deps: BTreeMap<String, Vec<String>> = specs
        .iter()
        .map(|(n, s)| (n.clone(), s.depends_on.clone()))
        .collect();
    let order = dependency_order(&deps);
    let mut cx = Ctx {
        engine,
        repo,
        dep,
        opts,
        progress,
        report: ApplyReport::default(),
        written: BTreeSet::new(),
        users: None,
    };
    let todo = cx.containers_to_restore(&order, &deps)?;
    cx.ensure_images_and_networks(&todo)?;
    // The containers to replace are stopped and set aside (dependents first) before any
    // volume data is written: nothing may write into a volume while it is restored.
    let mut asides = cx.set_aside(&todo)?;
    let mut volumes = BTreeSet::new();
    for n in &todo {
        volumes.extend(specs[n].named_volumes.iter().cloned());
    }
    for v in &volumes {
        if let Err(e) = cx.ensure_volume(v, &asides) {
            let written: Vec<String> = cx.written.iter().cloned().collect();
            cx.put_back_all(&mut asides);
            if !written.is_empty() {
                cx.report.warnings.push(format!(
                    "volume(s) {} already hold the snapshot's data",
                    written.join(", ")
                ));
            }
            return Err(e);
        }
    }
    for name in &todo {
        if let Err(e) = crate::interrupt::check() {
            cx.put_back_all(&mut asides);
            return Err(e);
        }
        let aside = asides.remove(name);
        if let Err(e) = cx.container(name, &specs[name], aside) {
            if matches!(e, Error::Interrupted) {
                cx.put_back_all(&mut asides);
                return Err(e);
            }
            cx.report.failures.push(ContainerFailure {
                container: name.clone(),
                error: e,
            });
        }
    }
    Ok(cx.report)
}

/// The create spec of every container of the deployment (of those in `names`, when given).
pub fn create_specs(dep: &Deployment, names: &[String]) -> Result<BTreeMap<String, CreateSpec>> {
    let peers = peers_of(&dep.containers);
    let mut specs: BTreeMap<String, CreateSpec> = BTreeMap::new();
    for c in &dep.containers {
        if !names.is_empty() && !names.contains(&c.name) {
            continue;
        }
        let image = dep
            .image(&c.image_id)
            .map_or(Value::Null, |i| i.inspect.clone());
        let s = spec::create_spec(&c.inspect, &image, &peers).map_err(|e| DockerError::Spec {
            container: c.name.clone(),
            reason: e.to_string(),
        })?;
        specs.insert(c.name.clone(), s);
    }
    Ok(specs)
}

impl Ctx<'_> {
    /// The containers to restore, in dependency order. Conflicts first: without `replace` an
    /// existing container is left alone. A dependency neither restored nor present is a
    /// warning.
    fn containers_to_restore(
        &mut self,
        order: &[String],
        deps: &BTreeMap<String, Vec<String>>,
    ) -> Result<Vec<String>> {
        let mut todo = Vec::new();
        for name in order {
            let exists = self.engine.inspect_container(name)?.is_some();
            if exists && !self.opts.replace {
                self.report.conflicts.push(format!(
                    "container {name} exists: left alone (use --replace to replace it)"
                ));
                continue;
            }
            todo.push(name.clone());
        }
        for d in deps.values().flatten() {
            if !deps.contains_key(d) && self.engine.inspect_container(d)?.is_none() {
                self.report.warnings.push(format!(
                    "{d} is needed by a restored container but is neither restored nor present"
                ));
            }
        }
        Ok(todo)
    }

    /// The images and the user-defined networks the containers in `todo` need.
    fn ensure_images_and_networks(&mut self, todo: &[String]) -> Result<()> {
        let dep = self.dep;
        let images: BTreeSet<String> = todo
            .iter()
            .filter_map(|n| dep.container(n).map(|c| c.image_id.clone()))
            .collect();
        for id in &images {
            self.ensure_image(id)?;
        }
        let mut networks = BTreeSet::new();
        for n in todo {
            if let Some(nets) = dep
                .container(n)
                .and_then(|c| jget(&c.inspect, "NetworkSettings.Networks"))
                .and_then(Value::as_object)
            {
                networks.extend(
                    nets.keys()
                        .filter(|k| !BUILTIN_NETWORKS.contains(&k.as_str()))
                        .cloned(),
                );
            }
        }
        for n in &networks {
            self.ensure_network(n)?;
        }
        Ok(())
    }

    /// Stop and set aside the existing containers of `todo`, dependents first (a dry run only
    /// says so). When one cannot be set aside, those already are put back.
    fn set_aside(&mut self, todo: &[String]) -> Result<BTreeMap<String, Aside>> {
        let engine = self.engine;
        let mut asides: BTreeMap<String, Aside> = BTreeMap::new();
        for name in todo.iter().rev() {
            let Some(live) = engine.inspect_container(name)? else {
                continue;
            };
            let id = jstr(&live, "Id").to_string();
            let aside = aside_name(name, &id);
            if jget(&live, "State.Running").and_then(Value::as_bool) == Some(true) {
                self.report.step("stop", format!("{name} ({})", short(&id)));
            }
            self.report
                .step("rename aside", format!("{name} -> {aside}"));
            if self.opts.dry_run {
                continue;
            }
            match Aside::set(engine, name, &aside) {
                Ok(a) => {
                    asides.insert(name.clone(), a);
                }
                Err(e) => {
                    self.put_back_all(&mut asides);
                    return Err(DockerError::Step(format!(
                        "setting {name} aside: {e}; nothing was replaced and no volume data written"
                    ))
                    .into());
                }
            }
        }
        Ok(asides)
    }
}

impl Ctx<'_> {
    /// The deployment tree's entry at `path`.
    fn entry(&self, path: &str) -> Result<Option<Entry>> {
        for e in TreeReader::new(self.repo, &self.dep.tree) {
            let e = e?;
            if e.path == path.as_bytes() {
                return Ok(Some(e));
            }
        }
        Ok(None)
    }

    fn ensure_image(&mut self, id: &str) -> Result<()> {
        if self.engine.inspect_image(id)?.is_some() {
            return Ok(());
        }
        let rec = self.dep.image(id);
        let has_archive = rec.is_some_and(|r| r.archive.is_some());
        if !has_archive {
            let tags = rec.map(|r| r.tags.join(", ")).unwrap_or_default();
            return Err(DockerError::ImageNotSaved {
                id: id.to_string(),
                tags,
            }
            .into());
        }
        self.report.step("load image", id);
        if self.opts.dry_run {
            return Ok(());
        }
        let path = image_path(id);
        let entry = self.entry(&path)?.ok_or_else(|| {
            Error::corrupt(
                format!("snapshot image {id}"),
                "archive missing from the deployment tree",
            )
        })?;
        let content = entry
            .content
            .as_ref()
            .ok_or_else(|| Error::corrupt(&path, "archive without content"))?;
        self.engine.load_image(ContentReader::new(
            self.repo,
            content,
            entry.size,
            path.clone(),
        ))?;
        if self.engine.inspect_image(id)?.is_none() {
            return Err(DockerError::ImageNotLoaded(id.to_string()).into());
        }
        Ok(())
    }

    fn ensure_network(&mut self, name: &str) -> Result<()> {
        let Some(rec) = self.dep.network(name) else {
            return Ok(());
        };
        if let Some(live) = self.engine.inspect_network(name)? {
            let diffs = compare::compare_networks(&rec.inspect, &live);
            if !diffs.is_empty() {
                let fields: Vec<_> = diffs.iter().map(|d| d.field.as_str()).collect();
                self.report.warnings.push(format!(
                    "network {name} exists and differs from the snapshot in {}: left alone",
                    fields.join(", ")
                ));
            }
            return Ok(());
        }
        self.report.step("create network", name);
        if self.opts.dry_run {
            return Ok(());
        }
        let i = &rec.inspect;
        let body = json!({
            "Name": name,
            "CheckDuplicate": true,
            "Driver": jstr(i, "Driver"),
            "Internal": i.get("Internal").cloned().unwrap_or(Value::Bool(false)),
            "Attachable": i.get("Attachable").cloned().unwrap_or(Value::Bool(false)),
            "EnableIPv6": i.get("EnableIPv6").cloned().unwrap_or(Value::Bool(false)),
            "Options": i.get("Options").cloned().unwrap_or(json!({})),
            "Labels": i.get("Labels").cloned().unwrap_or(json!({})),
            "IPAM": i.get("IPAM").cloned().unwrap_or(json!({})),
        });
        self.engine.create_network(body)
    }

    fn ensure_volume(&mut self, name: &str, asides: &BTreeMap<String, Aside>) -> Result<()> {
        let Some(rec) = self.dep.volume(name) else {
            return Ok(());
        };
        if self.engine.inspect_volume(name)?.is_some() {
            if self.opts.volume_data == VolumeData::Keep {
                self.report.step("keep volume data", name);
                return Ok(());
            }
            if !self.opts.replace {
                self.report.conflicts.push(format!(
                    "volume {name} exists: its data was left alone (use --replace to restore the snapshot's data into it)"
                ));
                return Ok(());
            }
            if !self.opts.dry_run {
                let running: Vec<String> = self
                    .running_users()?
                    .get(name)
                    .into_iter()
                    .flatten()
                    .filter(|c| !asides.contains_key(*c))
                    .cloned()
                    .collect();
                if !running.is_empty() {
                    self.report.warnings.push(format!(
                        "volume {name} is also mounted by running container(s) {}, not replaced by this restore: its data was written while they run (stop them first for a consistent restore)",
                        running.join(", ")
                    ));
                }
                self.written.insert(name.to_string());
            }
        } else {
            self.report.step("create volume", name);
            if !self.opts.dry_run {
                let i = &rec.inspect;
                self.engine.create_volume(json!({
                    "Name": name,
                    "Driver": jstr(i, "Driver"),
                    "DriverOpts": i.get("Options").cloned().unwrap_or(json!({})),
                    "Labels": i.get("Labels").cloned().unwrap_or(json!({})),
                }))?;
            }
        }
        self.write_volume(rec, name, false)
    }

    /// Write a snapshot volume's data into a live volume (the same one, or the fresh anonymous
    /// volume a new container got at the same destination).
    /// `fresh`: the volume was just created by the engine for a new container and holds only
    /// what the image put there; it is emptied first, so it ends up holding exactly the
    /// snapshot's data (files the user had deleted from it do not come back).
    fn write_volume(&mut self, rec: &VolumeRecord, into: &str, fresh: bool) -> Result<()> {
        let Some(data) = &rec.data else {
            self.report.warnings.push(format!(
                "volume {}: the snapshot holds no data for it",
                rec.name
            ));
            return Ok(());
        };
        self.report
            .step("restore volume data", format!("{} -> {into}", rec.name));
        if self.opts.dry_run {
            return Ok(());
        }
        let live = self
            .engine
            .inspect_volume(into)?
            .ok_or_else(|| DockerError::Vanished {
                what: format!("volume {into}"),
                when: "",
            })?;
        let mountpoint = PathBuf::from(jstr(&live, "Mountpoint"));
        let local =
            !self.opts.via_api && self.engine.local && std::fs::read_dir(&mountpoint).is_ok();
        if !local {
            if !fresh && self.opts.volume_data == VolumeData::Exact {
                self.report.warnings.push(format!(
                    "volume {into}: written through the Engine API, which cannot delete: files the snapshot does not have stay"
                ));
            }
            return self.upload_volume(rec, data, into);
        }
        let mut ro = RestoreOptions::new(&mountpoint);
        ro.rebase = Some(data.as_bytes().to_vec());
        ro.root_metadata = true;
        // A volume's ids are the container's, not this host's users: never mapped by name.
        ro.numeric_owner = true;
        // A volume the engine just created may hold what the image had at the mount point;
        // with `exact`, an existing one loses what the snapshot lacks. One mechanism for both:
        // restore's --delete, confined to the volume.
        ro.delete = fresh || self.opts.volume_data == VolumeData::Exact;
        let r = restore_tree(self.repo, &self.dep.tree, None, &ro, self.progress)?;
        if let Some(first) = r.errors.first() {
            return Err(DockerError::VolumeIncomplete {
                volume: into.to_string(),
                count: r.errors.len(),
                first: first.to_string(),
            }
            .into());
        }
        if r.deleted > 0 && !fresh {
            self.report.step(
                "remove files not in the snapshot",
                format!("{into} ({})", r.deleted),
            );
        }
        self.report.warnings.extend(r.warnings);
        Ok(())
    }

    /// Write volume data through the Engine API: a tar stream of the snapshot's subtree,
    /// uploaded into a helper container (created, never started) that mounts the volume.
    fn upload_volume(&mut self, rec: &VolumeRecord, data: &str, into: &str) -> Result<()> {
        let image = if self.engine.inspect_image(&rec.helper_image)?.is_some() {
            rec.helper_image.clone()
        } else {
            return Err(DockerError::NoHelperImage {
                volume: into.to_string(),
                image: rec.helper_image.clone(),
            }
            .into());
        };
        let helper = super::capture::Helper::create(self.engine, into, &image, false)?;
        let (reader, writer) = std::io::pipe().map_err(|e| Error::io("pipe", e))?;
        let repo = self.repo;
        let tree = &self.dep.tree;
        std::thread::scope(|scope| {
            let root = super::capture::HELPER_MOUNT.trim_start_matches('/');
            let producer = scope.spawn(move || {
                super::tarsink::write_tar(repo, tree, data.as_bytes(), root, writer)
            });
            let uploaded = self.engine.upload(&helper.name, "/", reader);
            let produced = producer
                .join()
                .unwrap_or_else(|_| Err(DockerError::Step("tar writer panicked".into()).into()));
            // The stream's own error (damaged data) says more than the engine's reaction to it.
            produced.and(uploaded)
        })
    }

    /// Create and start container `name`; `aside`: the container it replaces, stopped and set
    /// aside already (removed once the new one works, put back when it does not).
    fn container(&mut self, name: &str, spec: &CreateSpec, aside: Option<Aside>) -> Result<()> {
        let rec = self
            .dep
            .container(name)
            .ok_or_else(|| Error::Invalid(format!("container {name} not in snapshot")))?;
        self.report.step("create container", name);
        if self.opts.dry_run {
            if spec.running {
                self.report.step("start container", name);
            }
            return Ok(());
        }
        let old = match &aside {
            Some(a) => self.engine.inspect_container(&a.id)?,
            None => None,
        };
        let mut spec = spec.clone();
        let mut expected = rec.inspect.clone();
        let mut carried = Vec::new();
        if let (Some(live), VolumeData::Keep) = (&old, self.opts.volume_data) {
            let image = self
                .dep
                .image(&rec.image_id)
                .map_or(Value::Null, |i| i.inspect.clone());
            carried = spec::mounts::carry_anonymous_volumes(&mut spec.body, &image, live);
            if !carried.is_empty() {
                // The new container names them in its HostConfig: compare with that.
                for key in ["Binds", "Mounts"] {
                    if let (Some(want), Some(h)) = (
                        jget(&spec.body, &format!("HostConfig.{key}")).cloned(),
                        expected
                            .get_mut("HostConfig")
                            .and_then(Value::as_object_mut),
                    ) {
                        h.insert(key.into(), want);
                    }
                }
                for (dest, volume) in &carried {
                    self.report
                        .step("keep anonymous volume", format!("{volume} at {dest}"));
                }
            }
        }
        let keep: Vec<&str> = carried.iter().map(|(d, _)| d.as_str()).collect();
        match self.create_and_start(rec, &spec, &keep) {
            Ok(()) => {
                if let Some(a) = &aside {
                    self.report.step("remove replaced container", &a.aside);
                    a.remove_old(self.engine)?;
                }
                self.verify(name, &expected)?;
                // A volume mounted by name is reported with the bind mode `z`, an anonymous one
                // with none: the carried volumes' one expected difference.
                if let Some((_, diffs)) = self
                    .report
                    .differences
                    .last_mut()
                    .filter(|(n, _)| n == name)
                {
                    diffs.retain(|d| {
                        !carried
                            .iter()
                            .any(|(dest, _)| d.field == format!("Mounts.{dest}.Mode"))
                    });
                }
                self.report.differences.retain(|(_, d)| !d.is_empty());
                Ok(())
            }
            Err(e) => {
                match &aside {
                    Some(a) => {
                        a.put_back(self.engine, &keep)?;
                        self.report.step(
                            "put back",
                            format!("{} -> {name} ({})", a.aside, short(&a.id)),
                        );
                        let mounted = old.as_ref().map(named_volumes).unwrap_or_default();
                        let overwritten: Vec<&str> = mounted
                            .iter()
                            .map(String::as_str)
                            .filter(|v| self.written.contains(*v))
                            .collect();
                        let data = if overwritten.is_empty() {
                            String::new()
                        } else {
                            format!(
                                "; its volume(s) {} now hold the snapshot's data (written by this restore), not what they held before",
                                overwritten.join(", ")
                            )
                        };
                        self.report.warnings.push(format!(
                            "container {name}: the replacement failed; the previous container was put back{data}"
                        ));
                    }
                    None => self.engine.remove_with_anonymous_volumes(name, &[]),
                }
                Err(e)
            }
        }
    }

    /// Create and start the container; `carried`: destinations where a replaced container's
    /// anonymous volume was carried over (its data is kept, not restored).
    fn create_and_start(
        &mut self,
        rec: &ContainerRecord,
        spec: &CreateSpec,
        carried: &[&str],
    ) -> Result<()> {
        let name = &rec.name;
        let mut body = spec.body.clone();
        // The same image means the same ID: a tag that moved is not followed.
        let wanted = jstr(&body, "Image").to_string();
        let resolved = self.engine.inspect_image(&wanted)?;
        if resolved
            .as_ref()
            .is_none_or(|i| jstr(i, "Id") != rec.image_id)
        {
            self.report.warnings.push(format!(
                "container {name}: {wanted} no longer names the snapshot's image; created from the image ID {}",
                rec.image_id
            ));
            body["Image"] = Value::String(rec.image_id.clone());
        }
        self.engine.create_container(name, body)?;
        if !spec.anonymous_volumes.is_empty() {
            let live =
                self.engine
                    .inspect_container(name)?
                    .ok_or_else(|| DockerError::Vanished {
                        what: format!("container {name}"),
                        when: "",
                    })?;
            for (dest, old_volume) in &spec.anonymous_volumes {
                if carried.contains(&dest.as_str()) {
                    continue;
                }
                let new_volume = jget(&live, "Mounts")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .find(|m| m.get("Destination").and_then(Value::as_str) == Some(dest.as_str()))
                    .and_then(|m| m.get("Name").and_then(Value::as_str))
                    .map(str::to_string);
                match (new_volume, self.dep.volume(old_volume)) {
                    (Some(v), Some(vrec)) => self.write_volume(vrec, &v, true)?,
                    (None, _) => {
                        return Err(DockerError::NoVolumeMounted {
                            container: name.to_string(),
                            destination: dest.to_string(),
                        }
                        .into());
                    }
                    (Some(_), None) => {}
                }
            }
        }
        for (net, endpoint) in &spec.connect {
            self.engine.connect_network(net, name, endpoint.clone())?;
        }
        if spec.running {
            self.report.step("start container", name);
            self.engine.start(name)?;
        }
        Ok(())
    }

    fn verify(&mut self, name: &str, expected: &Value) -> Result<()> {
        let Some(live) = self.engine.inspect_container(name)? else {
            return Err(DockerError::Vanished {
                what: format!("container {name}"),
                when: " after restore",
            }
            .into());
        };
        let c = compare::container_comparison(expected, &live);
        if !c.differences.is_empty() {
            self.report
                .differences
                .push((name.to_string(), c.differences));
        }
        if !c.generated.is_empty() {
            self.report.generated.push((name.to_string(), c.generated));
        }
        Ok(())
    }
}

impl Ctx<'_> {
    /// Put every container still aside back (renamed and started as it was); what fails is
    /// reported as a warning.
    fn put_back_all(&mut self, asides: &mut BTreeMap<String, Aside>) {
        for (name, a) in std::mem::take(asides) {
            match a.put_back(self.engine, &[]) {
                Ok(()) => self.report.step(
                    "put back",
                    format!("{} -> {name} ({})", a.aside, short(&a.id)),
                ),
                Err(e) => self.report.warnings.push(format!(
                    "container {name}: could not put the previous container back from {}: {e}",
                    a.aside
                )),
            }
        }
    }

    /// Running containers by the named volumes they mount (looked up once per restore).
    fn running_users(&mut self) -> Result<&BTreeMap<String, Vec<String>>> {
        if self.users.is_none() {
            let mut users: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for c in self.engine.list_containers()? {
                let Some(i) = self.engine.inspect_container(&c.id)? else {
                    continue;
                };
                if jget(&i, "State.Running").and_then(Value::as_bool) != Some(true) {
                    continue;
                }
                for v in named_volumes(&i) {
                    users.entry(v).or_default().push(c.name.clone());
                }
            }
            self.users = Some(users);
        }
        Ok(self.users.get_or_insert_default())
    }
}

/// The volumes a container inspect mounts, by name.
fn named_volumes(inspect: &Value) -> Vec<String> {
    jget(inspect, "Mounts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|m| jstr(m, "Type") == "volume")
        .map(|m| jstr(m, "Name").to_string())
        .filter(|n| !n.is_empty())
        .collect()
}
