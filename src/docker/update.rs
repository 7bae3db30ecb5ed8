//! Safe container updates (`lifeboat update`, `lifeboat rollback`): the flow operators do by
//! hand (stop, pull, run again with the same options) with a snapshot before it, a health gate
//! after it and a way back at every step. The old container is only renamed aside until the new
//! one is healthy; a small journal in the state directory names what is in flight, so an update
//! killed half-way is repaired by the next `lifeboat update` (or `--recover`).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::apply::{
    self, ASIDE_MARK, ApplyOptions, ApplyReport, Aside, Step, VolumeData, aside_name, short,
};
use super::capture::{Capture, CaptureOptions, LABEL_EXCLUDE, Selection, VolumeAccess};
use super::engine::Engine;
use super::model::{jget, jstr};
use super::spec::{self, Peers};
use crate::error::{Error, Result};
use crate::id::Id;
use crate::progress::Progress;
use crate::repo::Repository;
use crate::snapshot::create::{ParentChoice, SnapshotOptions, create_with};
use crate::snapshot::select;

/// Tag of the snapshot taken before an update (what `lifeboat rollback` goes back to).
pub const PRE_UPDATE_TAG: &str = "pre-update";
/// Tag of the snapshot taken before `rollback --volumes` overwrites volume data.
pub const PRE_ROLLBACK_TAG: &str = "pre-rollback";
/// Where journals live unless told otherwise.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/lifeboat";
/// Lines of the failed container's output kept for the report.
pub const LOG_LINES: usize = 20;
/// How often the new container's state is read while waiting for it to be healthy.
const POLL: Duration = Duration::from_millis(100);

#[derive(Debug, Clone)]
pub struct UpdateOptions {
    /// Wait this long with the new container running and not restarting, when it has no
    /// healthcheck.
    pub healthy_after: Duration,
    /// Give up (and roll back) when the new container is not healthy after this long.
    pub health_timeout: Duration,
    /// Journals go to `STATE_DIR/updates/`.
    pub state_dir: PathBuf,
    pub lock_wait: Duration,
}

/// What an update is going to do: found before anything is changed.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// The container's name (without `/`).
    pub container: String,
    pub old_id: String,
    /// The image reference the new container is created from.
    pub image: String,
    pub old_image_id: String,
    pub new_image_id: String,
    pub running: bool,
}

impl Plan {
    pub fn up_to_date(&self) -> bool {
        self.old_image_id == self.new_image_id
    }
}

/// How an update ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The new container is healthy and has the name; the old one is removed.
    Updated,
    /// It failed; the old container has its name back (and runs again if it ran).
    RolledBack,
}

#[derive(Debug, Clone, Serialize)]
pub struct UpdateReport {
    pub plan: Plan,
    pub outcome: Outcome,
    /// The `pre-update` snapshot.
    pub snapshot: String,
    pub new_id: Option<String>,
    pub steps: Vec<Step>,
    /// How the health gate was passed (`healthy after 1.2s`, ...).
    pub health: Option<String>,
    /// Why it was rolled back.
    pub reason: Option<String>,
    /// The last lines of the failed container's output (its own output, not its config).
    pub logs: Vec<String>,
    pub warnings: Vec<String>,
    pub seconds: f64,
}

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
    fn aside(&self) -> Aside {
        Aside {
            name: self.container.clone(),
            id: self.old_id.clone(),
            aside: self.aside.clone(),
            was_running: self.was_running,
        }
    }
}

/// What `recover` did about one leftover journal.
#[derive(Debug, Clone, Serialize)]
pub struct Recovery {
    pub container: String,
    pub step: JournalStep,
    pub snapshot: String,
    pub actions: Vec<String>,
    /// When the repair failed (the journal is kept for another try).
    pub error: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Planning: which image, and is it new?
// ---------------------------------------------------------------------------------------------

/// The peers of the spec conversion for a live engine: every container's name by ID, and its
/// labels (for Compose dependencies).
pub fn live_peers(engine: &Engine) -> Result<Peers> {
    let mut p = Peers::default();
    for c in engine.list_containers()? {
        let labels: Map<String, Value> = c
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        p.labels_by_name.insert(c.name.clone(), labels);
        p.names_by_id.insert(c.id, c.name);
    }
    Ok(p)
}

/// Find `container` and the image it would be updated to: `image` (a local reference), or its
/// own reference re-resolved. With `pull` the reference is pulled first. Nothing else changes.
pub fn plan(engine: &Engine, container: &str, image: Option<&str>, pull: bool) -> Result<Plan> {
    let live = engine.inspect_container(container)?.ok_or_else(|| {
        Error::Docker(format!(
            "no container named {container} (see `docker ps -a`)"
        ))
    })?;
    let name = jstr(&live, "Name").trim_start_matches('/').to_string();
    if name.contains(ASIDE_MARK) {
        return Err(Error::Docker(format!(
            "{name} is an old container set aside by an update; run `lifeboat update --recover`, or remove it once the update is confirmed"
        )));
    }
    if jget(&live, "Config.Labels")
        .and_then(|l| l.get("lifeboat.helper"))
        .is_some()
    {
        return Err(Error::Docker(format!(
            "{name} is a lifeboat helper container, not something to update"
        )));
    }
    let reference = match image {
        Some(r) => r.to_string(),
        None => jstr(&live, "Config.Image").to_string(),
    };
    if reference.is_empty() {
        return Err(Error::Docker(format!(
            "container {name} records no image reference: give one with --image"
        )));
    }
    if pull {
        engine.pull(&reference)?;
    }
    let new = engine.inspect_image(&reference)?.ok_or_else(|| {
        Error::Docker(format!(
            "image {reference} is not on this engine: load or build it, or pull it with --pull"
        ))
    })?;
    Ok(Plan {
        container: name,
        old_id: jstr(&live, "Id").to_string(),
        image: reference,
        old_image_id: jstr(&live, "Image").to_string(),
        new_image_id: jstr(&new, "Id").to_string(),
        running: jget(&live, "State.Running").and_then(Value::as_bool) == Some(true),
    })
}

/// Every container whose image reference now names another image than the one it runs (`--all`),
/// by name. Skipped: lifeboat's helpers and aside containers, containers labelled
/// `lifeboat.exclude=true`, and those created from an image ID or digest (nothing to follow).
/// With `pull` every reference is pulled first (once); a failed pull is an error.
pub fn outdated(engine: &Engine, pull: bool, notice: &dyn Fn(String)) -> Result<Vec<Plan>> {
    let mut listed = engine.list_containers()?;
    listed.sort_by(|a, b| a.name.cmp(&b.name));
    let mut pulled = std::collections::HashSet::new();
    let mut out = Vec::new();
    for c in listed {
        if c.labels.contains_key("lifeboat.helper") || c.name.contains(ASIDE_MARK) {
            continue;
        }
        if c.labels
            .get(LABEL_EXCLUDE)
            .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes"))
        {
            notice(format!(
                "container {} skipped: labelled {LABEL_EXCLUDE}=true",
                c.name
            ));
            continue;
        }
        let Some(live) = engine.inspect_container(&c.id)? else {
            continue;
        };
        let reference = jstr(&live, "Config.Image").to_string();
        let pinned = reference.is_empty()
            || reference.contains('@')
            || reference.starts_with("sha256:")
            || (reference.len() == 64 && spec::is_hex(&reference));
        if pinned {
            continue;
        }
        if pull && pulled.insert(reference.clone()) {
            engine.pull(&reference)?;
        }
        match plan(engine, &c.name, None, false) {
            Ok(p) if !p.up_to_date() => out.push(p),
            Ok(_) => {}
            Err(e) => notice(format!("container {}: {e}", c.name)),
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Snapshots before an update or a rollback
// ---------------------------------------------------------------------------------------------

/// Snapshot one container with its image and volumes, tagged `tag`, exactly as
/// `lifeboat snapshot --container NAME --tag TAG` does: its `lifeboat.pre-snapshot` hook runs and
/// it is stopped only when labelled `lifeboat.stop`; unchanged volume files are not read again
/// (the previous snapshot of this host is the parent).
pub fn snapshot_container(
    engine: &Engine,
    repo: &Repository,
    name: &str,
    tag: &str,
    lock_wait: Duration,
    progress: &dyn Progress,
    warn: &dyn Fn(String),
) -> Result<Id> {
    let capture = Capture::plan(
        engine,
        &CaptureOptions {
            selection: Selection {
                names: vec![name.to_string()],
                ..Selection::default()
            },
            images: true,
            volume_access: VolumeAccess::Auto,
        },
    )?;
    for n in &capture.notices {
        warn(n.clone());
    }
    if capture.deployment().container(name).is_none() {
        return Err(Error::Docker(format!(
            "container {name} could not be snapshotted (labelled {LABEL_EXCLUDE}=true?): no {tag} snapshot, nothing changed"
        )));
    }
    let opts = SnapshotOptions {
        paths: capture.compose_files(),
        tags: vec![tag.to_string()],
        parent: ParentChoice::Auto,
        lock_wait,
        selection: Some(crate::snapshot::group::Selection::new(
            &capture.compose_files(),
            &[],
            Some(crate::snapshot::group::Containers::new(
                &[name.to_string()],
                false,
                &[],
                &[],
            )),
        )?),
        ..SnapshotOptions::default()
    };
    let r = capture.quiesced(warn, || create_with(repo, &opts, Some(&capture), progress))?;
    for w in &r.warnings {
        warn(w.clone());
    }
    Ok(r.id)
}

// ---------------------------------------------------------------------------------------------
// The update
// ---------------------------------------------------------------------------------------------

/// Run an update planned by [`plan`]: snapshot, stop and set aside, create and start the new
/// container from the old one's spec with only the image changed, wait for it to be healthy,
/// remove the old one. On any failure after the old container was touched, the new one is
/// removed and the old one put back: `Ok` with [`Outcome::RolledBack`]. `Err` means either that
/// nothing was changed (the snapshot failed, say) or that putting back failed too (the journal is
/// kept; `lifeboat update --recover` retries).
pub fn execute(
    engine: &Engine,
    repo: &Repository,
    plan: &Plan,
    opts: &UpdateOptions,
    progress: &dyn Progress,
    say: &dyn Fn(&Step),
) -> Result<UpdateReport> {
    let started = Instant::now();
    let name = plan.container.as_str();
    let dir = updates_dir(&opts.state_dir)?;
    let _lock = ContainerLock::take(&dir, name)?
        .ok_or_else(|| Error::Docker(format!("another lifeboat update of {name} is running")))?;
    if journal_path(&dir, name).exists() {
        return Err(Error::Docker(format!(
            "an interrupted update of {name} is recorded in {}: run `lifeboat update --recover` first",
            journal_path(&dir, name).display()
        )));
    }
    let sharing = namespace_dependents(engine, &plan.old_id, name)?;
    if !sharing.is_empty() {
        return Err(Error::Docker(format!(
            "{} share(s) a namespace of {name} (--network/--ipc/--pid container:{name}) and would be left attached to the removed container: recreate them after updating it, or update them together with their compose project; nothing was changed",
            sharing.join(", ")
        )));
    }
    let mut steps = Vec::new();
    let mut warnings = Vec::new();
    let mut step = |action: &'static str, object: String| {
        let s = Step { action, object };
        say(&s);
        steps.push(s);
    };

    // 1. The way back.
    let warn_cell = std::cell::RefCell::new(Vec::new());
    let t = Instant::now();
    let snapshot = snapshot_container(
        engine,
        repo,
        name,
        PRE_UPDATE_TAG,
        opts.lock_wait,
        progress,
        &|w| warn_cell.borrow_mut().push(w),
    )?;
    warnings.extend(warn_cell.into_inner());
    step(
        "snapshot",
        format!(
            "{} (tag {PRE_UPDATE_TAG}, {:.2}s)",
            snapshot.short(),
            t.elapsed().as_secs_f64()
        ),
    );

    // 2. The new container's spec: the old one's, with only the image changed.
    let live = engine.inspect_container(&plan.old_id)?.ok_or_else(|| {
        Error::Docker(format!(
            "container {name} vanished during the update; nothing was changed"
        ))
    })?;
    if jstr(&live, "Image") != plan.old_image_id {
        return Err(Error::Docker(format!(
            "container {name} changed image during the update; nothing was changed"
        )));
    }
    let old_image = engine
        .inspect_image(&plan.old_image_id)?
        .unwrap_or(Value::Null);
    let new_image = engine.inspect_image(&plan.new_image_id)?.ok_or_else(|| {
        Error::Docker(format!(
            "image {} vanished during the update; nothing was changed",
            plan.image
        ))
    })?;
    let mut spec = spec::create_spec(&live, &old_image, &live_peers(engine)?)
        .map_err(|e| Error::Docker(format!("container {name}: {e}")))?;
    spec.body["Image"] = Value::String(plan.image.clone());
    let carried = spec::mounts::carry_anonymous_volumes(&mut spec.body, &new_image, &live);
    let keep: Vec<&str> = carried.iter().map(|(d, _)| d.as_str()).collect();
    let running = jget(&live, "State.Running").and_then(Value::as_bool) == Some(true);

    // 3. Journal, then stop and set aside.
    let mut journal = Journal {
        container: name.to_string(),
        old_id: plan.old_id.clone(),
        aside: aside_name(name, &plan.old_id),
        was_running: running,
        old_image_id: plan.old_image_id.clone(),
        new_image: plan.image.clone(),
        new_image_id: plan.new_image_id.clone(),
        snapshot: snapshot.to_hex(),
        carried_volumes: keep.iter().map(|d| (*d).to_string()).collect(),
        new_id: None,
        step: JournalStep::Stopping,
        pid: std::process::id(),
        started: crate::util::now_rfc3339(),
    };
    write_journal(&dir, &journal)?;
    let aside = journal.aside();
    if running {
        step("stop", format!("{name} ({})", short(&plan.old_id)));
    }
    if let Err(e) = aside.stop_and_rename(engine) {
        // Nothing renamed: the old container is where it was (started again if it ran).
        if engine
            .inspect_container(name)?
            .is_some_and(|c| jstr(&c, "Id") == plan.old_id)
        {
            remove_journal(&dir, name)?;
        }
        return Err(e);
    }
    step("rename aside", format!("{name} -> {}", aside.aside));
    journal.step = JournalStep::Aside;
    write_journal(&dir, &journal)?;
    for (dest, volume) in &carried {
        step("keep anonymous volume", format!("{volume} at {dest}"));
    }

    // 4.–5. Create, start, wait; remove the old one or put it back.
    let mut health = None;
    let attempt = (|| -> std::result::Result<(), String> {
        let new_id = engine
            .create_container(name, spec.body.clone())
            .map_err(|e| e.to_string())?;
        step("create container", format!("{name} from {}", plan.image));
        journal.new_id = Some(new_id.clone());
        journal.step = JournalStep::Created;
        write_journal(&dir, &journal).map_err(|e| e.to_string())?;
        for (net, endpoint) in &spec.connect {
            engine
                .connect_network(net, &new_id, endpoint.clone())
                .map_err(|e| e.to_string())?;
        }
        let created = engine
            .inspect_container(&new_id)
            .map_err(|e| e.to_string())?
            .ok_or("the new container vanished after create")?;
        if jstr(&created, "Image") != plan.new_image_id {
            return Err(format!(
                "{} moved to another image during the update ({})",
                plan.image,
                jstr(&created, "Image")
            ));
        }
        if !running {
            return Ok(());
        }
        engine.start(&new_id).map_err(|e| e.to_string())?;
        step("start container", name.to_string());
        journal.step = JournalStep::Started;
        write_journal(&dir, &journal).map_err(|e| e.to_string())?;
        health = Some(wait_healthy(
            engine,
            &new_id,
            opts.healthy_after,
            opts.health_timeout,
        )?);
        journal.step = JournalStep::Healthy;
        write_journal(&dir, &journal).map_err(|e| e.to_string())?;
        Ok(())
    })();

    let mut report = UpdateReport {
        plan: plan.clone(),
        outcome: Outcome::Updated,
        snapshot: snapshot.to_hex(),
        new_id: journal.new_id.clone(),
        steps: Vec::new(),
        health: health.clone(),
        reason: None,
        logs: Vec::new(),
        warnings,
        seconds: 0.0,
    };
    match attempt {
        Ok(()) => {
            if let Some(h) = &health {
                step("healthy", format!("{name}: {h}"));
            } else {
                step("not started", format!("{name} (it was not running)"));
            }
            match aside.remove_old(engine) {
                Ok(()) => step("remove old container", aside.aside.clone()),
                Err(e) => report.warnings.push(format!(
                    "the old container {} could not be removed ({e}); remove it with `docker rm {}`",
                    aside.aside, aside.aside
                )),
            }
            remove_journal(&dir, name)?;
        }
        Err(reason) => {
            report.outcome = Outcome::RolledBack;
            if let Some(id) = &journal.new_id {
                report.logs = engine
                    .logs_tail(id, LOG_LINES)
                    .unwrap_or_else(|e| vec![format!("(no logs: {e})")]);
            }
            if let Err(e) = aside.put_back(engine, &keep) {
                return Err(Error::Docker(format!(
                    "the update of {name} failed ({reason}) and putting the old container back failed too: {e}; the journal is kept, run `lifeboat update --recover`"
                )));
            }
            if journal.new_id.is_some() {
                step("remove new container", name.to_string());
            }
            step(
                "put back",
                format!("{} -> {name} ({})", aside.aside, short(&plan.old_id)),
            );
            if running {
                match wait_running(engine, &plan.old_id) {
                    Ok(()) => step("running again", name.to_string()),
                    Err(e) => report.warnings.push(e),
                }
            }
            remove_journal(&dir, name)?;
            report.reason = Some(reason);
        }
    }
    report.steps = steps;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Other containers that use a namespace of this one (`container:` network, IPC or PID mode):
/// they keep pointing at the old container's namespaces, which an update removes.
fn namespace_dependents(engine: &Engine, id: &str, name: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for c in engine.list_containers()? {
        if c.id == id {
            continue;
        }
        let Some(i) = engine.inspect_container(&c.id)? else {
            continue;
        };
        let shares = ["NetworkMode", "IpcMode", "PidMode"].iter().any(|k| {
            jstr(&i, &format!("HostConfig.{k}"))
                .strip_prefix("container:")
                .is_some_and(|t| t == name || t == id || (t.len() >= 12 && id.starts_with(t)))
        });
        if shares {
            out.push(c.name);
        }
    }
    Ok(out)
}

/// Wait until the new container is healthy: with a healthcheck, `State.Health.Status` is
/// `healthy` (`unhealthy` fails at once); without one, it runs without a restart for
/// `healthy_after`. It exiting or restarting fails; so does `timeout`, and an interrupt.
/// Polls every 100 ms: no fixed sleep. `Ok` says how it passed.
fn wait_healthy(
    engine: &Engine,
    id: &str,
    healthy_after: Duration,
    timeout: Duration,
) -> std::result::Result<String, String> {
    let start = Instant::now();
    loop {
        if crate::interrupt::is_set() {
            return Err("interrupted".into());
        }
        let i = engine
            .inspect_container(id)
            .map_err(|e| e.to_string())?
            .ok_or("the new container vanished")?;
        let exit = jget(&i, "State.ExitCode").and_then(Value::as_i64);
        let exit = exit.map_or_else(|| "?".to_string(), |c| c.to_string());
        let restarts = i.get("RestartCount").and_then(Value::as_u64).unwrap_or(0);
        let restarting = jget(&i, "State.Restarting").and_then(Value::as_bool) == Some(true);
        if restarts > 0 || restarting {
            return Err(format!(
                "the new container restarted (exit code {exit}, restarts {restarts})"
            ));
        }
        if jget(&i, "State.Running").and_then(Value::as_bool) != Some(true) {
            let oom = jget(&i, "State.OOMKilled").and_then(Value::as_bool) == Some(true);
            return Err(format!(
                "the new container exited with code {exit}{}",
                if oom { " (killed: out of memory)" } else { "" }
            ));
        }
        let elapsed = start.elapsed();
        match jget(&i, "State.Health.Status").and_then(Value::as_str) {
            Some("healthy") => {
                return Ok(format!(
                    "healthy (healthcheck) after {:.1}s",
                    elapsed.as_secs_f64()
                ));
            }
            Some("unhealthy") => {
                let last = jget(&i, "State.Health.Log")
                    .and_then(Value::as_array)
                    .and_then(|l| l.last())
                    .map(|l| {
                        let code = l.get("ExitCode").and_then(Value::as_i64).unwrap_or(-1);
                        let out = l.get("Output").and_then(Value::as_str).unwrap_or("").trim();
                        if out.is_empty() {
                            format!("check exited {code}")
                        } else {
                            format!("check exited {code}: {out}")
                        }
                    })
                    .unwrap_or_default();
                return Err(format!("the new container is unhealthy ({last})"));
            }
            Some(_) => {}
            None if elapsed >= healthy_after => {
                return Ok(format!(
                    "running for {:.1}s without a restart (no healthcheck)",
                    elapsed.as_secs_f64()
                ));
            }
            None => {}
        }
        if elapsed >= timeout {
            let status = jstr(&i, "State.Health.Status");
            return Err(format!(
                "not healthy after {}s{}",
                timeout.as_secs(),
                if status.is_empty() {
                    String::new()
                } else {
                    format!(" (health: {status})")
                }
            ));
        }
        std::thread::sleep(
            POLL.min(timeout.saturating_sub(elapsed))
                .max(Duration::from_millis(1)),
        );
    }
}

/// After putting back: the old container runs (checked for up to 5 s).
fn wait_running(engine: &Engine, id: &str) -> std::result::Result<(), String> {
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        let i = engine.inspect_container(id).map_err(|e| e.to_string())?;
        if i.as_ref()
            .and_then(|i| jget(i, "State.Running"))
            .and_then(Value::as_bool)
            == Some(true)
        {
            return Ok(());
        }
        if Instant::now() >= end {
            return Err(format!(
                "the old container {} was put back but is not running: see `docker logs {}`",
                short(id),
                short(id)
            ));
        }
        std::thread::sleep(POLL);
    }
}

// ---------------------------------------------------------------------------------------------
// Journals and crash recovery
// ---------------------------------------------------------------------------------------------

/// `STATE_DIR/updates`, created (0700) when missing.
fn updates_dir(state_dir: &Path) -> Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = state_dir.join("updates");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|e| Error::io(&dir, e))?;
    Ok(dir)
}

fn journal_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.json"))
}

fn write_journal(dir: &Path, j: &Journal) -> Result<()> {
    let data =
        serde_json::to_vec_pretty(j).map_err(|e| Error::Invalid(format!("update journal: {e}")))?;
    let file = format!("{}.json", j.container);
    crate::repo::backend::atomic_write(dir, &file, &data, true).map_err(|e| Error::io(dir, e))
}

fn remove_journal(dir: &Path, name: &str) -> Result<()> {
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
struct ContainerLock {
    _file: File,
}

impl ContainerLock {
    /// `None` when another process holds it.
    fn take(dir: &Path, name: &str) -> Result<Option<ContainerLock>> {
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

/// Repair what interrupted updates left (their journals in `STATE_DIR/updates`), one by one:
/// when the old container (set aside) and a new one both exist, the new one is removed, unless
/// the journal reached the healthy step and it is still healthy, in which case the update is
/// completed by removing the old one; otherwise the old container gets its name back and is
/// started if it was running. A journal whose update is still running (its lock is held) is
/// left alone. Journals repaired are deleted; one whose repair failed is kept and reported.
pub fn recover(engine: &Engine, state_dir: &Path) -> Result<Vec<Recovery>> {
    let mut out = Vec::new();
    for path in leftover_journals(state_dir)? {
        let dir = path.parent().unwrap_or(state_dir).to_path_buf();
        let data = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let j: Journal = serde_json::from_slice(&data).map_err(|e| {
            Error::Invalid(format!(
                "{}: not an update journal ({e}); look at it and remove it",
                path.display()
            ))
        })?;
        if path.file_stem().and_then(|s| s.to_str()) != Some(j.container.as_str()) {
            return Err(Error::Invalid(format!(
                "{}: names container {}, not its file name; look at it and remove it",
                path.display(),
                j.container
            )));
        }
        let Some(_lock) = ContainerLock::take(&dir, &j.container)? else {
            continue;
        };
        let mut r = Recovery {
            container: j.container.clone(),
            step: j.step,
            snapshot: j.snapshot.clone(),
            actions: Vec::new(),
            error: None,
        };
        match repair(engine, &j, &mut r.actions) {
            Ok(()) => remove_journal(&dir, &j.container)?,
            Err(e) => r.error = Some(e.to_string()),
        }
        out.push(r);
    }
    Ok(out)
}

fn repair(engine: &Engine, j: &Journal, actions: &mut Vec<String>) -> Result<()> {
    let name = &j.container;
    let old = engine.inspect_container(&j.old_id)?;
    let new = engine
        .inspect_container(name)?
        .filter(|c| jstr(c, "Id") != j.old_id);
    let aside = j.aside();
    let keep: Vec<&str> = j.carried_volumes.iter().map(String::as_str).collect();
    match (old, new) {
        (None, Some(_)) => {
            actions.push(format!(
                "the old container is gone and {name} exists: the update had completed; nothing to do"
            ));
            Ok(())
        }
        (None, None) => Err(Error::Docker(format!(
            "neither the old container {} nor a new {name} exists: bring it back with `lifeboat rollback {name} --snapshot {}`",
            short(&j.old_id),
            &j.snapshot[..j.snapshot.len().min(8)]
        ))),
        (Some(_), Some(n)) if j.step == JournalStep::Healthy && is_healthy(&n) => {
            aside.remove_old(engine)?;
            actions.push(format!(
                "the new {name} had passed its health check and still does: removed the old container {} (update completed)",
                aside.aside
            ));
            Ok(())
        }
        (Some(_), new) => {
            if let Some(n) = &new {
                actions.push(format!(
                    "removed the new container {name} ({})",
                    short(jstr(n, "Id"))
                ));
            }
            aside.put_back(engine, &keep)?;
            actions.push(format!(
                "put the old container {} back as {name}{}",
                short(&j.old_id),
                if j.was_running { " and started it" } else { "" }
            ));
            if j.was_running {
                wait_running(engine, &j.old_id).map_err(Error::Docker)?;
            }
            Ok(())
        }
    }
}

fn is_healthy(i: &Value) -> bool {
    let running = jget(i, "State.Running").and_then(Value::as_bool) == Some(true)
        && jget(i, "State.Restarting").and_then(Value::as_bool) != Some(true);
    running
        && match jget(i, "State.Health.Status").and_then(Value::as_str) {
            Some(s) => s == "healthy",
            None => true,
        }
}

// ---------------------------------------------------------------------------------------------
// Rollback
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Default)]
pub struct RollbackOptions {
    /// A snapshot ID prefix; default: the newest `pre-update` snapshot of this host holding the
    /// container as another container than the one running now.
    pub snapshot: Option<String>,
    /// Also bring back volume data (exactly the snapshot's files); without it existing volumes
    /// keep their data and anonymous volumes are carried over.
    pub volumes: bool,
    pub dry_run: bool,
    pub lock_wait: Duration,
    /// Where update journals and per-container locks are kept (in `updates/`), as for
    /// [`UpdateOptions::state_dir`]: a rollback holds the container's lock, so an update and a
    /// rollback of one container never run at once, and refuses while an interrupted update of
    /// it is recorded there.
    pub state_dir: PathBuf,
}

#[derive(Debug, Serialize)]
pub struct RollbackReport {
    pub container: String,
    /// The snapshot gone back to (full ID) and its time.
    pub snapshot: String,
    pub snapshot_time: String,
    /// With `--volumes`: the snapshot of what was overwritten.
    pub pre_rollback_snapshot: Option<String>,
    pub apply: ApplyReport,
}

/// Bring `name` back as it was in its latest `pre-update` snapshot (or `opts.snapshot`; one that
/// recorded the container running now, left by an update that was rolled back, is skipped): the
/// container config and image exactly as recorded, through [`apply::apply`] with `replace`.
/// With `volumes`, its volume data too: the container is snapshotted first (tag
/// `pre-rollback`) and stopped, then its volumes are made to hold exactly the snapshot's files.
pub fn rollback(
    engine: &Engine,
    repo: &Repository,
    name: &str,
    opts: &RollbackOptions,
    progress: &dyn Progress,
    warn: &dyn Fn(String),
) -> Result<RollbackReport> {
    let _lock = if opts.dry_run {
        None
    } else {
        let dir = updates_dir(&opts.state_dir)?;
        let lock = ContainerLock::take(&dir, name)?.ok_or_else(|| {
            Error::Docker(format!(
                "an update or rollback of {name} is running (it holds {})",
                dir.join(format!("{name}.lock")).display()
            ))
        })?;
        if journal_path(&dir, name).exists() {
            return Err(Error::Docker(format!(
                "an interrupted update of {name} is recorded in {}: run `lifeboat update --recover --state-dir {}` first",
                journal_path(&dir, name).display(),
                opts.state_dir.display()
            )));
        }
        Some(lock)
    };
    let current = engine.inspect_container(name)?;
    let current_id = current.as_ref().map(|c| jstr(c, "Id").to_string());
    let (id, snap) = match &opts.snapshot {
        Some(spec) => select::resolve(
            repo,
            spec,
            &select::Filter::default(),
            &select::Need::default(),
        )?,
        None => {
            // A snapshot that recorded the very container running now belongs to an update
            // that was rolled back (or never happened): going back to it would change nothing.
            let host = crate::util::hostname();
            select::all(repo)?
                .into_iter()
                .rev()
                .find(|(_, s)| {
                    s.hostname == host
                        && s.tags.iter().any(|t| t == PRE_UPDATE_TAG)
                        && s.deployment
                            .as_ref()
                            .and_then(|d| d.container(name))
                            .is_some_and(|c| Some(&c.id) != current_id.as_ref())
                })
                .ok_or_else(|| {
                    Error::NoSuchSnapshot(format!(
                        "latest {PRE_UPDATE_TAG} snapshot of container {name} on {host} taken before an update that went through"
                    ))
                })?
        }
    };
    let dep = snap.deployment.as_ref().ok_or_else(|| {
        Error::Invalid(format!(
            "snapshot {} holds no containers (it was taken without --container)",
            id.short()
        ))
    })?;
    if dep.container(name).is_none() {
        return Err(Error::Invalid(format!(
            "container {name} is not in snapshot {} (see `lifeboat show {}`)",
            id.short(),
            id.short()
        )));
    }
    let mut pre_rollback = None;
    if opts.volumes && !opts.dry_run && current.is_some() {
        pre_rollback = Some(
            snapshot_container(
                engine,
                repo,
                name,
                PRE_ROLLBACK_TAG,
                opts.lock_wait,
                progress,
                warn,
            )?
            .to_hex(),
        );
    }
    // The current container is stopped and set aside before any volume data is written, and
    // put back (running again) when the rollback fails.
    let applied = apply::apply(
        engine,
        repo,
        dep,
        &ApplyOptions {
            names: vec![name.to_string()],
            replace: true,
            dry_run: opts.dry_run,
            lock_wait: opts.lock_wait,
            via_api: false,
            volume_data: if opts.volumes {
                VolumeData::Exact
            } else {
                VolumeData::Keep
            },
        },
        progress,
    );
    let mut applied = applied?;
    // The update moved the tag (a pull, a build): the old image comes back by ID, as the
    // warning says. That is what a rollback is for, not a difference.
    let recorded = dep.container(name).map(|c| c.image_id.clone());
    for (_, diffs) in &mut applied.differences {
        diffs.retain(|d| !(d.field == "Config.Image" && d.actual.as_str() == recorded.as_deref()));
    }
    applied.differences.retain(|(_, d)| !d.is_empty());
    Ok(RollbackReport {
        container: name.to_string(),
        snapshot: id.to_hex(),
        snapshot_time: snap.time.clone(),
        pre_rollback_snapshot: pre_rollback,
        apply: applied,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn healthy_means_running_and_not_unhealthy() {
        let running = serde_json::json!({"State": {"Running": true, "Restarting": false}});
        assert!(is_healthy(&running));
        let starting =
            serde_json::json!({"State": {"Running": true, "Health": {"Status": "starting"}}});
        assert!(!is_healthy(&starting));
        let ok = serde_json::json!({"State": {"Running": true, "Health": {"Status": "healthy"}}});
        assert!(is_healthy(&ok));
        let restarting = serde_json::json!({"State": {"Running": true, "Restarting": true}});
        assert!(!is_healthy(&restarting));
        assert!(!is_healthy(&Value::Null));
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
