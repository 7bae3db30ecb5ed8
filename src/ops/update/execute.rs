//! Running one update: snapshot, set the old container aside, create and start the new one,
//! wait for it to be healthy, then remove the old one or put it back. The journal is written
//! before every step that changes the engine.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use super::journal::{
    ContainerLock, Journal, JournalStep, journal_path, remove_journal, updates_dir, write_journal,
};
use super::plan::{Plan, live_peers};
use super::{LOG_LINES, snapshot_container};
use crate::docker::Engine;
use crate::docker::apply::Step;
use crate::docker::aside::{Aside, aside_name, short};
use crate::docker::spec::{self, CreateSpec};
use crate::error::{DockerError, Result, UpdateError};
use crate::observer::Collecting;
use crate::progress::Progress;
use crate::repo::Repository;
use crate::snapshot::deployment::{jget, jstr};
use crate::snapshot::tags::PRE_UPDATE_TAG;

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

/// Run an update planned by [`plan`](super::plan::plan): snapshot, stop and set aside, create
/// and start the new container from the old one's spec with only the image changed, wait for it
/// to be healthy, remove the old one. On any failure after the old container was touched, the
/// new one is removed and the old one put back: `Ok` with [`Outcome::RolledBack`]. `Err` means
/// either that nothing was changed (the snapshot failed, say) or that putting back failed too
/// (the journal is kept; `lifeboat update --recover` retries).
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
        .ok_or_else(|| UpdateError::AlreadyRunning(name.to_string()))?;
    refuse_to_start(engine, plan, &dir)?;
    let mut steps = Steps {
        say,
        done: Vec::new(),
    };

    // 1. The way back.
    let collected = Collecting::new(progress);
    let t = Instant::now();
    let snapshot = snapshot_container(engine, repo, name, PRE_UPDATE_TAG, &collected)?;
    let warnings: Vec<String> = collected
        .into_warnings()
        .into_iter()
        .map(|w| w.message)
        .collect();
    steps.push(
        "snapshot",
        format!(
            "{} (tag {PRE_UPDATE_TAG}, {:.2}s)",
            snapshot.short(),
            t.elapsed().as_secs_f64()
        ),
    );

    // 2. The new container's spec: the old one's, with only the image changed.
    let new = new_spec(engine, plan)?;
    let keep: Vec<&str> = new.carried.iter().map(|(d, _)| d.as_str()).collect();

    // 3. Journal, then stop and set aside.
    let mut run = InFlight {
        engine,
        plan,
        dir: &dir,
        steps,
        journal: Journal {
            container: name.to_string(),
            old_id: plan.old_id.clone(),
            aside: aside_name(name, &plan.old_id),
            was_running: new.running,
            old_image_id: plan.old_image_id.clone(),
            new_image: plan.image.clone(),
            new_image_id: plan.new_image_id.clone(),
            snapshot: snapshot.to_hex(),
            carried_volumes: keep.iter().map(|d| (*d).to_string()).collect(),
            new_id: None,
            step: JournalStep::Stopping,
            pid: std::process::id(),
            started: crate::util::now_rfc3339(),
        },
    };
    let aside = run.set_aside(&new.carried)?;

    // 4.–5. Create, start, wait; remove the old one or put it back.
    let mut health = None;
    let attempt = run.create_and_start(&new, opts, &mut health);
    let mut report = UpdateReport {
        plan: plan.clone(),
        outcome: Outcome::Updated,
        snapshot: snapshot.to_hex(),
        new_id: run.journal.new_id.clone(),
        steps: Vec::new(),
        health: health.clone(),
        reason: None,
        logs: Vec::new(),
        warnings,
        seconds: 0.0,
    };
    match attempt {
        Ok(()) => run.complete(&aside, health.as_deref(), &mut report)?,
        Err(reason) => {
            run.put_back(&aside, &keep, &reason, &mut report)?;
            report.outcome = Outcome::RolledBack;
            report.reason = Some(reason);
        }
    }
    report.steps = run.steps.done;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Errors when an update of the container must not start: an interrupted one is recorded, or
/// other containers share its namespaces.
fn refuse_to_start(engine: &Engine, plan: &Plan, dir: &Path) -> Result<()> {
    let name = plan.container.as_str();
    if journal_path(dir, name).exists() {
        return Err(UpdateError::Interrupted {
            container: name.to_string(),
            journal: journal_path(dir, name),
            state_dir: None,
        }
        .into());
    }
    let sharing = namespace_dependents(engine, &plan.old_id, name)?;
    if !sharing.is_empty() {
        return Err(UpdateError::SharedNamespace {
            container: name.to_string(),
            dependents: sharing,
        }
        .into());
    }
    Ok(())
}

/// The new container: its create spec, the old container's anonymous volumes it mounts
/// (destination, volume), and whether the old one was running.
struct NewContainer {
    spec: CreateSpec,
    carried: Vec<(String, String)>,
    running: bool,
}

/// The old container's spec with only the image changed, checked against the plan.
fn new_spec(engine: &Engine, plan: &Plan) -> Result<NewContainer> {
    let name = plan.container.as_str();
    let live = engine
        .inspect_container(&plan.old_id)?
        .ok_or_else(|| UpdateError::ChangedMeanwhile(format!("container {name} vanished")))?;
    if jstr(&live, "Image") != plan.old_image_id {
        return Err(
            UpdateError::ChangedMeanwhile(format!("container {name} changed image")).into(),
        );
    }
    let old_image = engine
        .inspect_image(&plan.old_image_id)?
        .unwrap_or(Value::Null);
    let new_image = engine
        .inspect_image(&plan.new_image_id)?
        .ok_or_else(|| UpdateError::ChangedMeanwhile(format!("image {} vanished", plan.image)))?;
    let mut spec = spec::create_spec(&live, &old_image, &live_peers(engine)?).map_err(|e| {
        DockerError::Spec {
            container: name.to_string(),
            reason: e.to_string(),
        }
    })?;
    spec.body["Image"] = Value::String(plan.image.clone());
    let carried = spec::mounts::carry_anonymous_volumes(&mut spec.body, &new_image, &live);
    let running = jget(&live, "State.Running").and_then(Value::as_bool) == Some(true);
    Ok(NewContainer {
        spec,
        carried,
        running,
    })
}

/// The steps of an update, said as they happen and kept for the report.
struct Steps<'a> {
    say: &'a dyn Fn(&Step),
    done: Vec<Step>,
}

impl Steps<'_> {
    fn push(&mut self, action: &'static str, object: String) {
        let s = Step { action, object };
        (self.say)(&s);
        self.done.push(s);
    }
}

/// An update past its snapshot: what it acts on, its journal (written at every step) and the
/// steps taken so far.
struct InFlight<'a> {
    engine: &'a Engine,
    plan: &'a Plan,
    dir: &'a Path,
    steps: Steps<'a>,
    journal: Journal,
}

impl InFlight<'_> {
    /// Record that the update reached `step`.
    fn reach(&mut self, step: JournalStep) -> Result<()> {
        self.journal.step = step;
        write_journal(self.dir, &self.journal)
    }

    /// Write the journal, then stop the old container and rename it aside. When that fails,
    /// nothing was renamed and the journal goes again.
    fn set_aside(&mut self, carried: &[(String, String)]) -> Result<Aside> {
        let (engine, plan) = (self.engine, self.plan);
        let name = plan.container.as_str();
        write_journal(self.dir, &self.journal)?;
        let aside = self.journal.aside();
        if self.journal.was_running {
            self.steps
                .push("stop", format!("{name} ({})", short(&plan.old_id)));
        }
        if let Err(e) = aside.stop_and_rename(engine) {
            // Nothing renamed: the old container is where it was (started again if it ran).
            if engine
                .inspect_container(name)?
                .is_some_and(|c| jstr(&c, "Id") == plan.old_id)
            {
                remove_journal(self.dir, name)?;
            }
            return Err(e);
        }
        self.steps
            .push("rename aside", format!("{name} -> {}", aside.aside));
        self.reach(JournalStep::Aside)?;
        for (dest, volume) in carried {
            self.steps
                .push("keep anonymous volume", format!("{volume} at {dest}"));
        }
        Ok(aside)
    }

    /// Create the new container, connect its networks and, when the old one ran, start it and
    /// wait for the health gate (`health` says how it passed). `Err` is why it failed.
    fn create_and_start(
        &mut self,
        new: &NewContainer,
        opts: &UpdateOptions,
        health: &mut Option<String>,
    ) -> std::result::Result<(), String> {
        let (engine, plan) = (self.engine, self.plan);
        let name = plan.container.as_str();
        let new_id = engine
            .create_container(name, new.spec.body.clone())
            .map_err(|e| e.to_string())?;
        self.steps
            .push("create container", format!("{name} from {}", plan.image));
        self.journal.new_id = Some(new_id.clone());
        self.reach(JournalStep::Created)
            .map_err(|e| e.to_string())?;
        for (net, endpoint) in &new.spec.connect {
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
        if !new.running {
            return Ok(());
        }
        engine.start(&new_id).map_err(|e| e.to_string())?;
        self.steps.push("start container", name.to_string());
        self.reach(JournalStep::Started)
            .map_err(|e| e.to_string())?;
        *health = Some(crate::ops::health::wait_healthy(
            engine,
            &new_id,
            opts.healthy_after,
            opts.health_timeout,
        )?);
        self.reach(JournalStep::Healthy).map_err(|e| e.to_string())
    }

    /// The new container passed: remove the old one (a failure is a warning) and the journal.
    fn complete(
        &mut self,
        aside: &Aside,
        health: Option<&str>,
        report: &mut UpdateReport,
    ) -> Result<()> {
        let name = self.plan.container.as_str();
        if let Some(h) = health {
            self.steps.push("healthy", format!("{name}: {h}"));
        } else {
            self.steps
                .push("not started", format!("{name} (it was not running)"));
        }
        match aside.remove_old(self.engine) {
            Ok(()) => self.steps.push("remove old container", aside.aside.clone()),
            Err(e) => report.warnings.push(format!(
                "the old container {} could not be removed ({e}); remove it with `docker rm {}`",
                aside.aside, aside.aside
            )),
        }
        remove_journal(self.dir, name)
    }

    /// The new container failed (`reason`): keep its last output, remove it and put the old
    /// one back (running again if it ran), then remove the journal. `Err` when putting back
    /// failed too: the journal is kept for `--recover`.
    fn put_back(
        &mut self,
        aside: &Aside,
        keep: &[&str],
        reason: &str,
        report: &mut UpdateReport,
    ) -> Result<()> {
        let (engine, plan) = (self.engine, self.plan);
        let name = plan.container.as_str();
        if let Some(id) = &self.journal.new_id {
            report.logs = engine
                .logs_tail(id, LOG_LINES)
                .unwrap_or_else(|e| vec![format!("(no logs: {e})")]);
        }
        if let Err(e) = aside.put_back(engine, keep) {
            return Err(UpdateError::PutBackFailed {
                container: name.to_string(),
                reason: reason.to_string(),
                cause: e.to_string(),
            }
            .into());
        }
        if self.journal.new_id.is_some() {
            self.steps.push("remove new container", name.to_string());
        }
        self.steps.push(
            "put back",
            format!("{} -> {name} ({})", aside.aside, short(&plan.old_id)),
        );
        if self.journal.was_running {
            match wait_running(engine, &plan.old_id) {
                Ok(()) => self.steps.push("running again", name.to_string()),
                Err(e) => report.warnings.push(e),
            }
        }
        remove_journal(self.dir, name)
    }
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

/// After putting back: the old container runs (checked for up to 5 s).
pub(super) fn wait_running(engine: &Engine, id: &str) -> std::result::Result<(), String> {
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
