//! The Docker phase of a recovery: survey what the engine already has, make again what an
//! interrupted run of this recovery left incomplete (and only that: see [`super::journal`]),
//! restore the rest through [`crate::docker::apply`], start what was running, wait for the
//! health gates, then compare every container and every volume with the snapshot.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::check::{TreeCheck, check_volume};
use super::journal::{self, Journal};
use crate::docker::Engine;
use crate::docker::apply::{self, ApplyOptions, Step, VolumeData, create_specs};
use crate::docker::capture::dependency_order;
use crate::docker::compare::{self, Difference};
use crate::docker::spec::CreateSpec;
use crate::error::Result;
use crate::progress::Progress;
use crate::repo::Repository;
use crate::snapshot::deployment::{Deployment, jget, jstr};

/// What the survey found for one container or named volume of the snapshot.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Found {
    /// Not on the engine: it will be made.
    Missing,
    /// There and equal to the snapshot (configuration, and data for a volume): skipped.
    Matches,
    /// Made by an earlier, interrupted run of this recovery and not complete: made again.
    Incomplete { reason: String },
    /// There before the recovery, and different: left alone.
    Differs { reason: String },
}

/// One object of the plan and what happens to it.
#[derive(Debug, Clone, Serialize)]
pub struct Surveyed {
    pub name: String,
    #[serde(flatten)]
    pub found: Found,
}

/// The Docker part of the plan: the objects in the order they are made.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DockerPlan {
    /// Images: ID, tags, stored size, and whether the engine has it already.
    pub images: Vec<PlannedImage>,
    /// User-defined networks, and whether each exists.
    pub networks: Vec<Surveyed>,
    /// Named volumes.
    pub volumes: Vec<Surveyed>,
    /// Containers in dependency order.
    pub containers: Vec<PlannedContainer>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlannedImage {
    pub id: String,
    pub tags: Vec<String>,
    pub size: u64,
    pub present: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlannedContainer {
    pub name: String,
    pub image: String,
    /// Started after it is made (it was running when the snapshot was taken).
    pub running: bool,
    pub depends_on: Vec<String>,
    /// Host paths it bind-mounts.
    pub bind_sources: Vec<String>,
    #[serde(flatten)]
    pub found: Found,
}

/// How one container came out.
#[derive(Debug, Serialize)]
pub struct ContainerResult {
    pub name: String,
    /// What the recovery did: `created`, `already matched`, `left alone`, `failed`.
    pub outcome: &'static str,
    pub running: bool,
    /// The health gate: how it passed, or why not (for containers that were running).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<std::result::Result<String, String>>,
    /// Fields of `docker inspect` that differ from the snapshot (none for an exact restore).
    pub differences: Vec<Difference>,
    /// Generated values that differ, as expected (the ID, a generated hostname, the short-ID
    /// alias, a volume's path on this engine, ...): named, never counted as differences.
    pub generated: Vec<String>,
}

/// How one volume's data came out.
#[derive(Debug, Serialize)]
pub struct VolumeResult {
    /// The snapshot's volume name.
    pub name: String,
    /// The volume holding it now (an anonymous volume gets a new name).
    pub live: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check: Option<TreeCheck>,
    /// Why the data could not be compared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unchecked: Option<String>,
}

/// What the Docker phase did.
#[derive(Debug, Default, Serialize)]
pub struct DockerOutcome {
    pub steps: Vec<Step>,
    /// Objects an interrupted run left incomplete, removed and made again.
    pub redone: Vec<String>,
    pub containers: Vec<ContainerResult>,
    pub volumes: Vec<VolumeResult>,
    pub warnings: Vec<String>,
    /// Objects that failed, with the reason.
    pub failures: Vec<(String, String)>,
}

/// How long the health gates wait, and how long a container without a healthcheck must run.
#[derive(Debug, Clone, Copy)]
pub struct HealthOptions {
    pub healthy_after: Duration,
    pub timeout: Duration,
}

/// The engine's view of the deployment, and the journal of this recovery on it.
pub struct Survey<'a> {
    engine: &'a Engine,
    repo: &'a Repository,
    dep: &'a Deployment,
    specs: BTreeMap<String, CreateSpec>,
    order: Vec<String>,
    journal: Journal,
    journal_path: PathBuf,
    pub plan: DockerPlan,
}

impl<'a> Survey<'a> {
    /// Look at what the engine has of `dep` (reading the data of volumes that exist).
    pub fn take(
        engine: &'a Engine,
        repo: &'a Repository,
        snapshot: &str,
        dep: &'a Deployment,
        state_dir: &Path,
        progress: &dyn Progress,
    ) -> Result<Survey<'a>> {
        let engine_id = engine.engine_id()?;
        let journal_path = journal::path(state_dir, &engine_id, snapshot);
        let journal = Journal::load(&journal_path, snapshot, &engine_id)?;
        let specs = create_specs(dep, &[])?;
        let deps: BTreeMap<String, Vec<String>> = specs
            .iter()
            .map(|(n, s)| (n.clone(), s.depends_on.clone()))
            .collect();
        let order = dependency_order(&deps);
        let mut s = Survey {
            engine,
            repo,
            dep,
            specs,
            order,
            journal,
            journal_path,
            plan: DockerPlan::default(),
        };
        s.plan = s.look(progress)?;
        Ok(s)
    }

    fn look(&self, progress: &dyn Progress) -> Result<DockerPlan> {
        let (engine, dep) = (self.engine, self.dep);
        let mut plan = DockerPlan::default();
        let mut images: BTreeSet<&str> = BTreeSet::new();
        for c in &dep.containers {
            images.insert(&c.image_id);
        }
        for id in images {
            let rec = dep.image(id);
            plan.images.push(PlannedImage {
                id: id.to_string(),
                tags: rec.map(|r| r.tags.clone()).unwrap_or_default(),
                size: rec.map_or(0, |r| r.size),
                present: engine.inspect_image(id)?.is_some(),
            });
        }
        for n in &dep.networks {
            let found = match engine.inspect_network(&n.name)? {
                None => Found::Missing,
                Some(live) => {
                    let diffs = compare::compare_networks(&n.inspect, &live);
                    if diffs.is_empty() {
                        Found::Matches
                    } else {
                        Found::Differs {
                            reason: format!("differs in {}", fields(&diffs)),
                        }
                    }
                }
            };
            plan.networks.push(Surveyed {
                name: n.name.clone(),
                found,
            });
        }
        for v in dep.volumes.iter().filter(|v| !v.anonymous) {
            let found = match engine.inspect_volume(&v.name)? {
                None => Found::Missing,
                Some(live) => {
                    let ours = self.journal.volumes.contains(&v.name);
                    match self.data_matches(&v.name, &live, progress)? {
                        Ok(()) => Found::Matches,
                        Err(reason) if ours => Found::Incomplete { reason },
                        Err(reason) => Found::Differs { reason },
                    }
                }
            };
            plan.volumes.push(Surveyed {
                name: v.name.clone(),
                found,
            });
        }
        for name in &self.order {
            let (Some(c), Some(spec)) = (dep.container(name), self.specs.get(name)) else {
                continue;
            };
            let found = match engine.inspect_container(name)? {
                None => Found::Missing,
                Some(live) => {
                    let ours = self.journal.containers.contains(name);
                    match self.container_complete(c, spec, &live, progress)? {
                        Ok(()) => Found::Matches,
                        Err(reason) if ours => Found::Incomplete { reason },
                        Err(reason) => Found::Differs { reason },
                    }
                }
            };
            plan.containers.push(PlannedContainer {
                name: name.clone(),
                image: jstr(&c.inspect, "Config.Image").to_string(),
                running: spec.running,
                depends_on: spec.depends_on.clone(),
                bind_sources: spec.bind_sources.clone(),
                found,
            });
        }
        Ok(plan)
    }

    /// Whether an existing container equals the snapshot: its configuration, and the data of
    /// the anonymous volumes it mounts (named volumes are surveyed on their own).
    fn container_complete(
        &self,
        c: &crate::snapshot::deployment::ContainerRecord,
        spec: &CreateSpec,
        live: &Value,
        progress: &dyn Progress,
    ) -> Result<std::result::Result<(), String>> {
        let diffs = compare::compare_containers(&c.inspect, live);
        if !diffs.is_empty() {
            return Ok(Err(format!("differs in {}", fields(&diffs))));
        }
        for (dest, old) in &spec.anonymous_volumes {
            let Some(live_volume) = mounted_volume(live, dest) else {
                return Ok(Err(format!("no volume mounted at {dest}")));
            };
            let Some(vol) = self.engine.inspect_volume(&live_volume)? else {
                return Ok(Err(format!("volume {live_volume} vanished")));
            };
            if let Err(reason) = self.data_matches(old, &vol, progress)? {
                return Ok(Err(format!("anonymous volume at {dest}: {reason}")));
            }
        }
        Ok(Ok(()))
    }

    /// Whether the volume `live` holds exactly the data the snapshot has for volume `recorded`.
    fn data_matches(
        &self,
        recorded: &str,
        live: &Value,
        progress: &dyn Progress,
    ) -> Result<std::result::Result<(), String>> {
        match self.check_data(recorded, live, progress)? {
            Checked::Done(c) if c.exact() => Ok(Ok(())),
            Checked::Done(c) => Ok(Err(describe_check(&c))),
            Checked::NoData => Ok(Ok(())),
            Checked::Unreachable(why) => Ok(Err(why)),
        }
    }

    fn check_data(&self, recorded: &str, live: &Value, progress: &dyn Progress) -> Result<Checked> {
        let Some(data) = self.dep.volume(recorded).and_then(|v| v.data.as_deref()) else {
            return Ok(Checked::NoData);
        };
        let mountpoint = PathBuf::from(jstr(live, "Mountpoint"));
        if !(self.engine.local && std::fs::read_dir(&mountpoint).is_ok()) {
            return Ok(Checked::Unreachable(format!(
                "its mountpoint {} is not readable here, so its data cannot be compared",
                mountpoint.display()
            )));
        }
        Ok(Checked::Done(check_volume(
            self.repo,
            &self.dep.tree,
            data,
            &mountpoint,
            progress,
        )?))
    }

    /// Make the deployment: remove what an interrupted run left incomplete, journal what is
    /// about to be made, restore it, start what should run, wait for health, compare.
    pub fn recover(
        mut self,
        health: HealthOptions,
        progress: &dyn Progress,
    ) -> Result<DockerOutcome> {
        let mut out = DockerOutcome::default();
        let engine = self.engine;
        // Containers first (dependents before what they depend on), then their volumes.
        for c in self.plan.containers.iter().rev() {
            if let Found::Incomplete { reason } = &c.found {
                out.redone.push(format!("container {} ({reason})", c.name));
                engine.remove_with_anonymous_volumes(&c.name, &[]);
            }
        }
        for v in &self.plan.volumes {
            if let Found::Incomplete { reason } = &v.found {
                for c in self.users_of(&v.name) {
                    engine.remove_with_anonymous_volumes(&c, &[]);
                    if !out
                        .redone
                        .iter()
                        .any(|r| r.starts_with(&format!("container {c} ")))
                    {
                        out.redone
                            .push(format!("container {c} (its volume {} is redone)", v.name));
                    }
                }
                out.redone.push(format!("volume {} ({reason})", v.name));
                engine.remove_volume(&v.name)?;
            }
        }
        let mut make = Vec::new();
        for c in &self.plan.containers {
            if engine.inspect_container(&c.name)?.is_none() {
                make.push(c.name.clone());
                self.journal.containers.insert(c.name.clone());
            }
        }
        for v in &self.plan.volumes {
            if engine.inspect_volume(&v.name)?.is_none() {
                self.journal.volumes.insert(v.name.clone());
            }
        }
        self.journal.save(&self.journal_path)?;
        self.warn_about_binds(&make, &mut out);
        if !make.is_empty() {
            let opts = ApplyOptions {
                names: make.clone(),
                replace: false,
                dry_run: false,
                via_api: false,
                volume_data: VolumeData::Keep,
            };
            let r = apply::apply(engine, self.repo, self.dep, &opts, progress)?;
            out.steps = r.steps;
            out.warnings.extend(r.warnings);
            out.warnings.extend(r.conflicts);
            for f in r.failures {
                out.failures.push((
                    format!("container {}", f.container),
                    progress.describe(&f.error),
                ));
            }
        }
        self.start_stopped(&mut out);
        let gated = self.health_gates(health);
        self.results(&make, gated, &mut out, progress)?;
        if out.failures.is_empty() {
            Journal::remove(&self.journal_path);
        }
        Ok(out)
    }

    /// Containers of the snapshot that mount named volume `volume` and exist now.
    fn users_of(&self, volume: &str) -> Vec<String> {
        self.order
            .iter()
            .rev()
            .filter(|n| {
                self.specs[*n].named_volumes.iter().any(|v| v == volume)
                    && self.engine.inspect_container(n).ok().flatten().is_some()
            })
            .cloned()
            .collect()
    }

    /// Bind sources that do not exist here: the engine would make empty directories for them.
    fn warn_about_binds(&self, make: &[String], out: &mut DockerOutcome) {
        for name in make {
            for src in &self.specs[name].bind_sources {
                if !Path::new(src).exists() {
                    out.warnings.push(format!(
                        "container {name}: bind-mount source {src} does not exist on this host (the snapshot does not hold it, or it was recovered under --target)"
                    ));
                }
            }
        }
    }

    /// Start the snapshot's running containers that exist stopped (made by an earlier run, or
    /// stopped since).
    fn start_stopped(&self, out: &mut DockerOutcome) {
        for c in &self.plan.containers {
            if !c.running || matches!(c.found, Found::Differs { .. }) {
                continue;
            }
            let Ok(Some(live)) = self.engine.inspect_container(&c.name) else {
                continue;
            };
            if jget(&live, "State.Running").and_then(Value::as_bool) != Some(true) {
                out.steps.push(Step {
                    action: "start container",
                    object: c.name.clone(),
                });
                if let Err(e) = self.engine.start(&c.name) {
                    out.failures
                        .push((format!("container {}", c.name), e.to_string()));
                }
            }
        }
    }

    fn health_gates(
        &self,
        health: HealthOptions,
    ) -> BTreeMap<String, std::result::Result<String, String>> {
        let running: Vec<String> = self
            .plan
            .containers
            .iter()
            .filter(|c| c.running && !matches!(c.found, Found::Differs { .. }))
            .map(|c| c.name.clone())
            .collect();
        crate::ops::health::wait_all_healthy(
            self.engine,
            &running,
            health.healthy_after,
            health.timeout,
        )
        .into_iter()
        .collect()
    }

    /// Compare every container and every volume with the snapshot.
    fn results(
        &self,
        made: &[String],
        mut gated: BTreeMap<String, std::result::Result<String, String>>,
        out: &mut DockerOutcome,
        progress: &dyn Progress,
    ) -> Result<()> {
        for c in &self.plan.containers {
            let rec = self.dep.container(&c.name);
            let live = self.engine.inspect_container(&c.name)?;
            let (Some(rec), Some(live)) = (rec, live) else {
                out.containers.push(ContainerResult {
                    name: c.name.clone(),
                    outcome: "failed",
                    running: false,
                    health: gated.remove(&c.name),
                    differences: Vec::new(),
                    generated: Vec::new(),
                });
                if !out
                    .failures
                    .iter()
                    .any(|(n, _)| n == &format!("container {}", c.name))
                {
                    out.failures.push((
                        format!("container {}", c.name),
                        "it does not exist after the recovery".into(),
                    ));
                }
                continue;
            };
            let outcome = match &c.found {
                Found::Differs { .. } => "left alone",
                _ if made.contains(&c.name) => "created",
                _ => "already matched",
            };
            let health = gated.remove(&c.name);
            if let Some(Err(why)) = &health {
                out.failures.push((
                    format!("container {}", c.name),
                    format!("health gate: {why}"),
                ));
            }
            let comparison = compare::container_comparison(&rec.inspect, &live);
            out.containers.push(ContainerResult {
                name: c.name.clone(),
                outcome,
                running: jget(&live, "State.Running").and_then(Value::as_bool) == Some(true),
                health,
                generated: comparison
                    .generated_fields()
                    .into_iter()
                    .map(str::to_string)
                    .collect(),
                differences: comparison.differences,
            });
            for (dest, old) in &self.specs[&c.name].anonymous_volumes {
                let Some(now) = mounted_volume(&live, dest) else {
                    continue;
                };
                if out.volumes.iter().any(|v| v.live == now) {
                    continue;
                }
                out.volumes.push(self.volume_result(old, &now, progress)?);
            }
        }
        for v in self.dep.volumes.iter().filter(|v| !v.anonymous) {
            out.volumes
                .push(self.volume_result(&v.name, &v.name, progress)?);
        }
        Ok(())
    }

    fn volume_result(
        &self,
        recorded: &str,
        live_name: &str,
        progress: &dyn Progress,
    ) -> Result<VolumeResult> {
        let mut r = VolumeResult {
            name: recorded.to_string(),
            live: live_name.to_string(),
            check: None,
            unchecked: None,
        };
        let Some(live) = self.engine.inspect_volume(live_name)? else {
            r.unchecked = Some("the volume does not exist".into());
            return Ok(r);
        };
        match self.check_data(recorded, &live, progress)? {
            Checked::Done(c) => r.check = Some(c),
            Checked::NoData => r.unchecked = Some("the snapshot holds no data for it".into()),
            Checked::Unreachable(why) => r.unchecked = Some(why),
        }
        Ok(r)
    }
}

enum Checked {
    Done(TreeCheck),
    NoData,
    Unreachable(String),
}

/// The volume mounted at `dest` in a container's inspect.
fn mounted_volume(live: &Value, dest: &str) -> Option<String> {
    jget(live, "Mounts")
        .and_then(Value::as_array)?
        .iter()
        .find(|m| jstr(m, "Destination") == dest && jstr(m, "Type") == "volume")
        .map(|m| jstr(m, "Name").to_string())
}

fn fields(diffs: &[Difference]) -> String {
    let mut f: Vec<&str> = diffs.iter().map(|d| d.field.as_str()).take(5).collect();
    if diffs.len() > 5 {
        f.push("...");
    }
    f.join(", ")
}

/// `3 file(s) differ (create /a, replace /b, ...), 1 extra`
pub fn describe_check(c: &TreeCheck) -> String {
    let mut parts = Vec::new();
    if !c.differing.is_empty() {
        let first: Vec<&str> = c.differing.iter().map(String::as_str).take(3).collect();
        parts.push(format!(
            "{} object(s) missing or different ({}{})",
            c.differing.len(),
            first.join(", "),
            if c.differing.len() > 3 { ", ..." } else { "" }
        ));
    }
    if !c.extra.is_empty() {
        parts.push(format!("{} object(s) not in the snapshot", c.extra.len()));
    }
    parts.join("; ")
}
