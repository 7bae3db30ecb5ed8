//! Turns a saved `docker inspect` of a container into the request that recreates it.
//!
//! The engine copies image defaults and generated values (short-ID hostname, short-ID alias,
//! anonymous volume names, runtime addresses) into what it reports, so replaying an inspect as-is
//! pins image defaults and stale runtime state. This module keeps exactly what the user set (see
//! `DOCKER-FIDELITY.md`): it drops every value equal to the image's, drops generated and runtime
//! fields, rewrites references to other containers from IDs to names, and splits networking into
//! the one network given at create time plus the ones to connect afterwards. Everything here is a
//! pure function over the engine's inspect JSON (API 1.41 field names), so it is tested without an
//! engine and never panics on hostile input.
//!
//! [`create_spec`] is here; the body's parts are in `config` (the `Config` fields),
//! `host_config`, `networking` and [`mounts`] (which also carries anonymous volumes over to a
//! replacement container), over the typed JSON access in `json`.

mod config;
mod host_config;
pub(crate) mod json;
pub mod mounts;
mod networking;
#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap};

use serde_json::{Map, Value};

use config::config_body;
use host_config::host_config_body;
use json::{as_obj, get_bool, get_obj, get_str, missing, req_str, value_str};
use mounts::volumes;
use networking::{network_mode, networking};

/// Compose label naming the project a container belongs to.
pub const COMPOSE_PROJECT_LABEL: &str = "com.docker.compose.project";
/// Compose label naming the service a container runs.
pub const COMPOSE_SERVICE_LABEL: &str = "com.docker.compose.service";
/// Compose label listing the services a container depends on (`svc:condition:restart,...`).
pub const COMPOSE_DEPENDS_ON_LABEL: &str = "com.docker.compose.depends_on";

/// The engine's default OCI runtime: never replayed.
pub(super) const DEFAULT_RUNTIME: &str = "runc";

/// Why an inspect could not be turned into a create spec.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// A field the spec cannot be built without is absent (or null).
    #[error("inspect JSON has no `{field}`")]
    Missing {
        /// Dotted path of the field.
        field: String,
    },
    /// A field has a JSON type the engine never reports there.
    #[error("inspect JSON field `{field}` should be {expected} but is {found}")]
    WrongType {
        /// Dotted path of the field.
        field: String,
        /// The JSON type the engine reports.
        expected: &'static str,
        /// The JSON type found.
        found: &'static str,
    },
    /// A field has the right type but a value that cannot be used.
    #[error("inspect JSON field `{field}` is invalid: {reason}")]
    Invalid {
        /// Dotted path of the field.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// What is needed to recreate one container exactly.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateSpec {
    /// Container name without the leading '/'.
    pub name: String,
    /// Body for `POST /containers/create`: the Config fields at top level (Image, Env, Cmd, ...)
    /// plus "`HostConfig`" and "`NetworkingConfig`" (with at most ONE network in `EndpointsConfig`:
    /// the one matching `HostConfig.NetworkMode`).
    pub body: Value,
    /// Further networks to connect after create, in name order: (network name, `EndpointSettings`
    /// JSON for `POST /networks/{name}/connect` with only user-set values).
    pub connect: Vec<(String, Value)>,
    /// Whether it was running (`State.Running`) and should be started after restore.
    pub running: bool,
    /// Names of containers that must exist/start first (`container:<x>` modes, links,
    /// `VolumesFrom`, compose `depends_on`), sorted, without duplicates or the container itself.
    pub depends_on: Vec<String>,
    /// Anonymous volumes: (destination inside the container, old volume name), by destination.
    /// Not pinned in the body: the engine creates fresh ones at create time; restore writes the
    /// saved data into whatever volume gets mounted at that destination. With `VolumesFrom`, this
    /// can also list the provider's anonymous volumes (same old name): callers dedupe by name.
    pub anonymous_volumes: Vec<(String, String)>,
    /// Named volumes the container mounts (its own and those it gets through `VolumesFrom`), sorted.
    pub named_volumes: Vec<String>,
    /// Host paths bind-mounted into the container, sorted.
    pub bind_sources: Vec<String>,
}

/// The other containers of the engine/snapshot, used to turn IDs into names.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Peers {
    /// Full 64-hex container ID -> container name without '/'.
    pub names_by_id: HashMap<String, String>,
    /// Container name -> its `Config.Labels`, for mapping compose services to containers.
    pub labels_by_name: HashMap<String, Map<String, Value>>,
}

impl Peers {
    /// The name of the container `reference` designates, resolved as the engine does: exact ID,
    /// then exact name, then unique ID prefix. `None` when nothing (or more than one) matches.
    #[must_use]
    pub fn resolve(&self, reference: &str) -> Option<String> {
        let reference = reference.trim_start_matches('/');
        if reference.is_empty() {
            return None;
        }
        if let Some(name) = self.names_by_id.get(reference) {
            return Some(name.clone());
        }
        if self.names_by_id.values().any(|n| n == reference) {
            return Some(reference.to_owned());
        }
        let mut hits = self
            .names_by_id
            .iter()
            .filter(|(id, _)| id.starts_with(reference))
            .map(|(_, name)| name);
        match (hits.next(), hits.next()) {
            (Some(name), None) => Some(name.clone()),
            _ => None,
        }
    }

    /// `reference` as a name when it resolves, else unchanged (without a leading '/').
    fn name_of(&self, reference: &str) -> String {
        self.resolve(reference)
            .unwrap_or_else(|| reference.trim_start_matches('/').to_owned())
    }
}

/// Build the create spec of `container` (one element of `docker inspect`, i.e. the object of
/// `GET /containers/{id}/json`) whose image inspect is `image` (`Value::Null` when unknown: then
/// nothing is dropped as an image default).
///
/// # Errors
/// [`SpecError`] when the JSON is not shaped like an engine inspect: `Id`, `Name` or `Config`
/// missing, or any field the spec reads having the wrong JSON type.
pub fn create_spec(
    container: &Value,
    image: &Value,
    peers: &Peers,
) -> Result<CreateSpec, SpecError> {
    let root = as_obj(container, "")?;
    let id = req_str(root, "Id", "Id")?;
    let name = req_str(root, "Name", "Name")?
        .trim_start_matches('/')
        .to_owned();
    if name.is_empty() {
        return Err(SpecError::Invalid {
            field: "Name".into(),
            reason: "empty name".into(),
        });
    }
    let short_id = short_id(id);
    let config = get_obj(root, "Config", "Config")?.ok_or_else(|| missing("Config"))?;
    let empty = Map::new();
    let host_config = get_obj(root, "HostConfig", "HostConfig")?.unwrap_or(&empty);
    let image_config = match image {
        Value::Null => &empty,
        other => get_obj(as_obj(other, "(image)")?, "Config", "(image).Config")?.unwrap_or(&empty),
    };
    let networks = match get_obj(root, "NetworkSettings", "NetworkSettings")? {
        Some(ns) => get_obj(ns, "Networks", "NetworkSettings.Networks")?.unwrap_or(&empty),
        None => &empty,
    };
    let running = match root.get("State") {
        None | Some(Value::Null) => false,
        Some(state) => {
            get_bool(as_obj(state, "State")?, "Running", "State.Running")?.unwrap_or(false)
        }
    };

    let mut depends = BTreeSet::new();
    let network_mode = network_mode(host_config, networks)?;
    let mut body = config_body(config, image_config, short_id, &network_mode)?;
    if !body.contains_key("Image") {
        let image_ref = get_str(root, "Image", "Image")?.filter(|s| !s.is_empty());
        let image_ref = image_ref.ok_or_else(|| missing("Config.Image"))?;
        body.insert("Image".into(), Value::String(image_ref.to_owned()));
    }
    let host = host_config_body(host_config, &network_mode, peers, &mut depends)?;
    let generated = generated_aliases(root);
    let generated: Vec<&str> = generated.iter().map(String::as_str).collect();
    let (endpoints, connect) =
        networking(networks, &network_mode, &generated, peers, &mut depends)?;
    body.insert("HostConfig".into(), Value::Object(host));
    if !endpoints.is_empty() {
        let mut networking = Map::new();
        networking.insert("EndpointsConfig".into(), Value::Object(endpoints));
        body.insert("NetworkingConfig".into(), Value::Object(networking));
    }
    compose_depends_on(config, peers, &mut depends)?;
    depends.remove(&name);

    let volumes = volumes(root, host_config)?;
    Ok(CreateSpec {
        name,
        body: Value::Object(body),
        connect,
        running,
        depends_on: depends.into_iter().collect(),
        anonymous_volumes: volumes.anonymous,
        named_volumes: volumes.named,
        bind_sources: volumes.binds,
    })
}

/// The first 12 characters of a container ID: the engine's default hostname and network alias.
pub(crate) fn short_id(id: &str) -> Option<&str> {
    id.get(..12).filter(|s| is_hex(s))
}

/// The aliases engine 20.10 adds by itself to every endpoint on a user-defined network when the
/// container starts: its short ID and, when it differs from the container name, its hostname. An
/// alias the user set to one of these is indistinguishable, and comes back the same way.
pub(crate) fn generated_aliases(root: &Map<String, Value>) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(short) = root.get("Id").and_then(Value::as_str).and_then(short_id) {
        out.push(short.to_owned());
    }
    let name = root
        .get("Name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim_start_matches('/');
    let host = root
        .get("Config")
        .and_then(|c| c.get("Hostname"))
        .and_then(Value::as_str);
    if let Some(host) = host.filter(|h| !h.is_empty() && *h != name) {
        out.push(host.to_owned());
    }
    out
}

/// Whether `s` is non-empty lowercase hex (container IDs, generated volume names).
pub(crate) fn is_hex(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Whether a volume name is one the engine generated for an anonymous volume (64 hex digits).
pub(crate) fn is_generated_volume_name(name: &str) -> bool {
    name.len() == 64 && is_hex(name)
}

/// Adds the containers of the compose services named in the `depends_on` label, found among the
/// peers of the same compose project. Services with no container among the peers are skipped.
fn compose_depends_on(
    config: &Map<String, Value>,
    peers: &Peers,
    depends: &mut BTreeSet<String>,
) -> Result<(), SpecError> {
    let Some(labels) = get_obj(config, "Labels", "Config.Labels")? else {
        return Ok(());
    };
    let label = |labels: &Map<String, Value>, key: &str| {
        labels.get(key).and_then(Value::as_str).map(str::to_owned)
    };
    let Some(list) = labels.get(COMPOSE_DEPENDS_ON_LABEL) else {
        return Ok(());
    };
    let list = value_str(list, &format!("Config.Labels.{COMPOSE_DEPENDS_ON_LABEL}"))?.unwrap_or("");
    let project = label(labels, COMPOSE_PROJECT_LABEL);
    for service in list
        .split(',')
        .map(|s| s.split(':').next().unwrap_or("").trim())
    {
        if service.is_empty() {
            continue;
        }
        for (name, peer_labels) in &peers.labels_by_name {
            if label(peer_labels, COMPOSE_PROJECT_LABEL) == project
                && label(peer_labels, COMPOSE_SERVICE_LABEL).as_deref() == Some(service)
            {
                depends.insert(name.clone());
            }
        }
    }
    Ok(())
}
