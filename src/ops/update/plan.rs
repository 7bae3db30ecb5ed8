//! Planning an update: which container, which image, and is that image new? Nothing changes
//! here except, with `pull`, the engine's copy of the image.

use std::collections::HashSet;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::docker::Engine;
use crate::docker::aside::ASIDE_MARK;
use crate::docker::capture::LABEL_EXCLUDE;
use crate::docker::spec::{self, Peers};
use crate::error::{Result, UpdateError};
use crate::observer::{Event, Observer};
use crate::snapshot::deployment::{jget, jstr};

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
    let live = engine
        .inspect_container(container)?
        .ok_or_else(|| UpdateError::NoSuchContainer(container.to_string()))?;
    let name = jstr(&live, "Name").trim_start_matches('/').to_string();
    if name.contains(ASIDE_MARK) {
        return Err(UpdateError::SetAside(name).into());
    }
    if jget(&live, "Config.Labels")
        .and_then(|l| l.get("lifeboat.helper"))
        .is_some()
    {
        return Err(UpdateError::Helper(name).into());
    }
    let reference = match image {
        Some(r) => r.to_string(),
        None => jstr(&live, "Config.Image").to_string(),
    };
    if reference.is_empty() {
        return Err(UpdateError::NoImageReference(name).into());
    }
    if pull {
        engine.pull(&reference)?;
    }
    let new = engine
        .inspect_image(&reference)?
        .ok_or_else(|| UpdateError::ImageNotPresent(reference.clone()))?;
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
pub fn outdated(engine: &Engine, pull: bool, observer: &dyn Observer) -> Result<Vec<Plan>> {
    let notice = |message: String| observer.event(Event::Notice(message));
    let mut listed = engine.list_containers()?;
    listed.sort_by(|a, b| a.name.cmp(&b.name));
    let mut pulled = HashSet::new();
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
