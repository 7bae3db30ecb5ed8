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

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde_json::{Map, Value};

/// Compose label naming the project a container belongs to.
pub const COMPOSE_PROJECT_LABEL: &str = "com.docker.compose.project";
/// Compose label naming the service a container runs.
pub const COMPOSE_SERVICE_LABEL: &str = "com.docker.compose.service";
/// Compose label listing the services a container depends on (`svc:condition:restart,...`).
pub const COMPOSE_DEPENDS_ON_LABEL: &str = "com.docker.compose.depends_on";

/// The engine's default OCI runtime: never replayed.
const DEFAULT_RUNTIME: &str = "runc";

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

/// The effective network mode, with a network given by ID rewritten to its name.
#[derive(Debug, Clone, PartialEq, Eq)]
enum NetMode {
    /// `default`, `bridge` or empty: the default bridge network.
    Bridge(String),
    /// `host` or `none`: no endpoints.
    NoEndpoints(String),
    /// `container:<x>`: shares another container's stack (x as stored, not yet resolved).
    Container(String),
    /// A user-defined network, by name.
    User(String),
}

fn network_mode(
    host_config: &Map<String, Value>,
    networks: &Map<String, Value>,
) -> Result<NetMode, SpecError> {
    let mode = get_str(host_config, "NetworkMode", "HostConfig.NetworkMode")?.unwrap_or("");
    Ok(match mode {
        "" | "default" | "bridge" => NetMode::Bridge(if mode.is_empty() {
            "default".into()
        } else {
            mode.into()
        }),
        "host" | "none" => NetMode::NoEndpoints(mode.into()),
        _ => {
            if let Some(other) = mode.strip_prefix("container:") {
                NetMode::Container(other.into())
            } else if networks.contains_key(mode) {
                NetMode::User(mode.into())
            } else {
                // Given by ID (or ID prefix): name it, since the ID changes when it is recreated.
                let by_id = networks.iter().find(|(_, ep)| {
                    ep.get("NetworkID")
                        .and_then(Value::as_str)
                        .is_some_and(|nid| !nid.is_empty() && nid.starts_with(mode))
                });
                NetMode::User(by_id.map_or_else(|| mode.to_owned(), |(n, _)| n.clone()))
            }
        }
    })
}

/// The Config part of the create body, without image defaults and generated values.
#[allow(clippy::too_many_lines)]
fn config_body(
    config: &Map<String, Value>,
    image: &Map<String, Value>,
    short_id: Option<&str>,
    mode: &NetMode,
) -> Result<Map<String, Value>, SpecError> {
    let mut out = Map::new();
    let shares_uts = matches!(mode, NetMode::Container(_));
    for (key, value) in config {
        let field = format!("Config.{key}");
        match key.as_str() {
            // The engine rejects a hostname with a `container:` network mode; the default is the
            // short ID, which changes with the container.
            "Hostname" => {
                let host = value_str(value, &field)?.unwrap_or("");
                if !host.is_empty() && Some(host) != short_id && !shares_uts {
                    out.insert(key.clone(), value.clone());
                }
            }
            "Domainname" => {
                if !value_str(value, &field)?.unwrap_or("").is_empty() && !shares_uts {
                    out.insert(key.clone(), value.clone());
                }
            }
            "Image" | "MacAddress" => {
                if !value_str(value, &field)?.unwrap_or("").is_empty() {
                    out.insert(key.clone(), value.clone());
                }
            }
            "Env" => {
                let image_env: HashSet<&str> = value_str_list(
                    image.get("Env").unwrap_or(&Value::Null),
                    "(image).Config.Env",
                )?
                .into_iter()
                .collect();
                let own: Vec<Value> = value_str_list(value, &field)?
                    .into_iter()
                    .filter(|e| !image_env.contains(e))
                    .map(|e| Value::String(e.to_owned()))
                    .collect();
                if !own.is_empty() {
                    out.insert(key.clone(), Value::Array(own));
                }
            }
            // Maps the engine merges with the image's: keep only entries the image does not set
            // with the same value.
            "Labels" | "Volumes" | "ExposedPorts" => {
                let Some(own) = value_obj(value, &field)? else {
                    continue;
                };
                let theirs = match image.get(key) {
                    None => None,
                    Some(v) => value_obj(v, &format!("(image).{field}"))?,
                };
                let kept: Map<String, Value> = own
                    .iter()
                    .filter(|(k, v)| theirs.and_then(|t| t.get(*k)) != Some(*v))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                if !kept.is_empty() {
                    out.insert(key.clone(), Value::Object(kept));
                }
            }
            "Healthcheck" => {
                if let Some(hc) =
                    healthcheck(value, image.get(key).unwrap_or(&Value::Null), &field)?
                {
                    out.insert(key.clone(), hc);
                }
            }
            "Entrypoint" | "Cmd" => {} // below: they depend on each other
            "User" | "WorkingDir" | "StopSignal" | "OnBuild" | "Shell" | "ArgsEscaped" => {
                if !is_empty(value) && !same(value, image.get(key).unwrap_or(&Value::Null)) {
                    out.insert(key.clone(), value.clone());
                }
            }
            // Tty, OpenStdin, StdinOnce, Attach*, NetworkDisabled, StopTimeout and anything newer:
            // keep what is not the zero value.
            _ => {
                if !is_empty(value) && !is_zero(value) {
                    out.insert(key.clone(), value.clone());
                }
            }
        }
    }

    // The engine fills Cmd from the image only when neither Entrypoint nor Cmd is given, and
    // Entrypoint from the image only when it is not given (null).
    let null = Value::Null;
    let entrypoint = config.get("Entrypoint").unwrap_or(&null);
    let cmd = config.get("Cmd").unwrap_or(&null);
    value_str_list(entrypoint, "Config.Entrypoint")?;
    value_str_list(cmd, "Config.Cmd")?;
    let image_entrypoint = image.get("Entrypoint").unwrap_or(&null);
    let image_cmd = image.get("Cmd").unwrap_or(&null);
    let mut send_entrypoint = None;
    if !same(entrypoint, image_entrypoint) {
        // `[]` resets the image's entrypoint; non-empty replaces it.
        send_entrypoint = Some(if is_empty(entrypoint) {
            Value::Array(Vec::new())
        } else {
            entrypoint.clone()
        });
    } else if !is_empty(entrypoint) && is_empty(cmd) && !is_empty(image_cmd) {
        // Entrypoint given explicitly (equal to the image's), which stopped the image's Cmd.
        send_entrypoint = Some(entrypoint.clone());
    }
    let entrypoint_given = send_entrypoint.as_ref().is_some_and(|e| !is_empty(e));
    if let Some(e) = send_entrypoint {
        out.insert("Entrypoint".into(), e);
    }
    if !is_empty(cmd) && (entrypoint_given || !same(cmd, image_cmd)) {
        out.insert("Cmd".into(), cmd.clone());
    }
    Ok(out)
}

/// The healthcheck fields that differ from the image's (the engine fills the others from it).
fn healthcheck(own: &Value, image: &Value, field: &str) -> Result<Option<Value>, SpecError> {
    let Some(own) = value_obj(own, field)? else {
        return Ok(None);
    };
    let empty = Map::new();
    let theirs = value_obj(image, &format!("(image).{field}"))?.unwrap_or(&empty);
    let kept: Map<String, Value> = own
        .iter()
        .filter(|(k, v)| {
            !is_empty(v) && !is_zero(v) && !same(v, theirs.get(*k).unwrap_or(&Value::Null))
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok((!kept.is_empty()).then_some(Value::Object(kept)))
}

/// The `HostConfig` to send: everything the user could set, references rewritten to names.
fn host_config_body(
    host_config: &Map<String, Value>,
    mode: &NetMode,
    peers: &Peers,
    depends: &mut BTreeSet<String>,
) -> Result<Map<String, Value>, SpecError> {
    let mut out = Map::new();
    for (key, value) in host_config {
        let field = format!("HostConfig.{key}");
        match key.as_str() {
            // Client-side or engine-computed.
            "ContainerIDFile" | "ConsoleSize" => {}
            // Engine defaults unless the user cleared them (`--security-opt systempaths=unconfined`).
            "MaskedPaths" | "ReadonlyPaths" => {
                if value.as_array().is_some_and(Vec::is_empty) {
                    out.insert(key.clone(), value.clone());
                }
            }
            "Runtime" => {
                let runtime = value_str(value, &field)?.unwrap_or("");
                if !runtime.is_empty() && runtime != DEFAULT_RUNTIME {
                    out.insert(key.clone(), value.clone());
                }
            }
            "NetworkMode" => {
                let mode = match mode {
                    NetMode::Bridge(m) | NetMode::NoEndpoints(m) | NetMode::User(m) => m.clone(),
                    NetMode::Container(other) => {
                        let other = peers.name_of(other);
                        depends.insert(other.clone());
                        format!("container:{other}")
                    }
                };
                out.insert(key.clone(), Value::String(mode));
            }
            "IpcMode" | "PidMode" | "UTSMode" | "UsernsMode" | "CgroupnsMode" | "Cgroup" => {
                let Some(m) = value_str(value, &field)?.filter(|m| !m.is_empty()) else {
                    continue;
                };
                let m = match m.strip_prefix("container:") {
                    Some(other) => {
                        let other = peers.name_of(other);
                        depends.insert(other.clone());
                        format!("container:{other}")
                    }
                    None => m.to_owned(),
                };
                out.insert(key.clone(), Value::String(m));
            }
            "Links" => {
                let links: Vec<Value> = value_str_list(value, &field)?
                    .into_iter()
                    .map(|link| {
                        let (target, alias) = parse_link(link);
                        let target = peers.name_of(target);
                        depends.insert(target.clone());
                        Value::String(format!("{target}:{alias}"))
                    })
                    .collect();
                if !links.is_empty() {
                    out.insert(key.clone(), Value::Array(links));
                }
            }
            "VolumesFrom" => {
                let from: Vec<Value> = value_str_list(value, &field)?
                    .into_iter()
                    .map(|entry| {
                        let (other, opts) = entry
                            .split_once(':')
                            .map_or((entry, None), |(a, b)| (a, Some(b)));
                        let other = peers.name_of(other);
                        depends.insert(other.clone());
                        Value::String(match opts {
                            Some(opts) => format!("{other}:{opts}"),
                            None => other,
                        })
                    })
                    .collect();
                if !from.is_empty() {
                    out.insert(key.clone(), Value::Array(from));
                }
            }
            "RestartPolicy" => {
                let Some(policy) = value_obj(value, &field)? else {
                    continue;
                };
                let name = get_str(policy, "Name", &format!("{field}.Name"))?.unwrap_or("");
                // "no" (what the CLI sends) and "" (the API default) mean the same; keep the spelling.
                if !name.is_empty() {
                    out.insert(key.clone(), value.clone());
                }
            }
            // Zero means "set to 0", not "unset".
            "MemorySwappiness" => {
                if !value.is_null() {
                    out.insert(key.clone(), value.clone());
                }
            }
            _ => {
                if !is_empty(value) && !is_zero(value) {
                    out.insert(key.clone(), value.clone());
                }
            }
        }
    }
    Ok(out)
}

/// A link as the engine stores it (`/other:/this/alias`) or as a user writes it (`other:alias`),
/// as (target, alias).
fn parse_link(link: &str) -> (&str, &str) {
    let (target, alias) = link.split_once(':').unwrap_or((link, link));
    let target = target.trim_start_matches('/');
    let alias = alias.rsplit('/').next().unwrap_or(alias);
    (target, if alias.is_empty() { target } else { alias })
}

/// (`EndpointsConfig` for create, networks to connect afterwards).
type Networking = (Map<String, Value>, Vec<(String, Value)>);

fn networking(
    networks: &Map<String, Value>,
    mode: &NetMode,
    generated_aliases: &[&str],
    peers: &Peers,
    depends: &mut BTreeSet<String>,
) -> Result<Networking, SpecError> {
    let mut create = Map::new();
    let mut connect = Vec::new();
    let primary = match mode {
        NetMode::NoEndpoints(_) | NetMode::Container(_) => return Ok((create, connect)),
        NetMode::Bridge(_) => "bridge",
        NetMode::User(name) => name.as_str(),
    };
    let sorted: BTreeMap<&String, &Value> = networks.iter().collect();
    for (net, endpoint) in sorted {
        if net == "host" || net == "none" {
            continue;
        }
        let settings = endpoint_settings(
            endpoint,
            &format!("NetworkSettings.Networks.{net}"),
            generated_aliases,
            peers,
            depends,
        )?;
        if net == primary {
            if !settings.is_empty() {
                create.insert(net.clone(), Value::Object(settings));
            }
        } else {
            connect.push((net.clone(), Value::Object(settings)));
        }
    }
    Ok((create, connect))
}

/// The user-set part of one network endpoint: aliases without the generated ones, static
/// addresses from `IPAMConfig` only, links and driver options. The MAC address is not here: on API
/// 1.41 the engine takes a user-set MAC only from `Config.MacAddress` (kept in the body).
fn endpoint_settings(
    endpoint: &Value,
    field: &str,
    generated_aliases: &[&str],
    peers: &Peers,
    depends: &mut BTreeSet<String>,
) -> Result<Map<String, Value>, SpecError> {
    let mut out = Map::new();
    let Some(endpoint) = value_obj(endpoint, field)? else {
        return Ok(out);
    };
    let aliases: Vec<Value> = value_str_list(
        endpoint.get("Aliases").unwrap_or(&Value::Null),
        &format!("{field}.Aliases"),
    )?
    .into_iter()
    .filter(|a| !a.is_empty() && !generated_aliases.contains(a))
    .map(|a| Value::String(a.to_owned()))
    .collect();
    if !aliases.is_empty() {
        out.insert("Aliases".into(), Value::Array(aliases));
    }
    if let Some(ipam) = get_obj(endpoint, "IPAMConfig", &format!("{field}.IPAMConfig"))? {
        let kept: Map<String, Value> = ipam
            .iter()
            .filter(|(_, v)| !is_empty(v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !kept.is_empty() {
            out.insert("IPAMConfig".into(), Value::Object(kept));
        }
    }
    let links: Vec<Value> = value_str_list(
        endpoint.get("Links").unwrap_or(&Value::Null),
        &format!("{field}.Links"),
    )?
    .into_iter()
    .map(|link| {
        let (target, alias) = parse_link(link);
        let target = peers.name_of(target);
        depends.insert(target.clone());
        Value::String(format!("{target}:{alias}"))
    })
    .collect();
    if !links.is_empty() {
        out.insert("Links".into(), Value::Array(links));
    }
    if let Some(opts) = get_obj(endpoint, "DriverOpts", &format!("{field}.DriverOpts"))?
        && !opts.is_empty()
    {
        out.insert("DriverOpts".into(), Value::Object(opts.clone()));
    }
    Ok(out)
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

#[derive(Debug, Default)]
struct Volumes {
    anonymous: Vec<(String, String)>,
    named: Vec<String>,
    binds: Vec<String>,
}

/// Sorts the container's mounts into anonymous volumes, named volumes and bind sources.
fn volumes(
    root: &Map<String, Value>,
    host_config: &Map<String, Value>,
) -> Result<Volumes, SpecError> {
    /// What the user asked for at a destination.
    enum Wanted {
        Named,
        Anonymous,
        Other,
    }
    let mut wanted: HashMap<String, Wanted> = HashMap::new();
    let mut named = BTreeSet::new();
    let mut binds = BTreeSet::new();
    let null = Value::Null;
    for bind in value_str_list(
        host_config.get("Binds").unwrap_or(&null),
        "HostConfig.Binds",
    )? {
        let mut parts = bind.split(':');
        let (source, dest) = match (parts.next(), parts.next()) {
            (Some(source), Some(dest)) => (source, dest),
            (Some(dest), None) => ("", dest),
            _ => continue,
        };
        if source.is_empty() {
            wanted.insert(dest.to_owned(), Wanted::Anonymous);
        } else if source.starts_with('/') {
            binds.insert(source.to_owned());
            wanted.insert(dest.to_owned(), Wanted::Other);
        } else {
            named.insert(source.to_owned());
            wanted.insert(dest.to_owned(), Wanted::Named);
        }
    }
    if let Some(mounts) = host_config.get("Mounts") {
        for (i, mount) in value_list(mounts, "HostConfig.Mounts")?.iter().enumerate() {
            let field = format!("HostConfig.Mounts.{i}");
            let Some(mount) = value_obj(mount, &field)? else {
                continue;
            };
            let kind = get_str(mount, "Type", &format!("{field}.Type"))?.unwrap_or("");
            let source = get_str(mount, "Source", &format!("{field}.Source"))?.unwrap_or("");
            let target = get_str(mount, "Target", &format!("{field}.Target"))?
                .unwrap_or("")
                .to_owned();
            match (kind, source.is_empty()) {
                ("volume", true) => wanted.insert(target, Wanted::Anonymous),
                ("volume", false) => {
                    named.insert(source.to_owned());
                    wanted.insert(target, Wanted::Named)
                }
                ("bind", false) => {
                    binds.insert(source.to_owned());
                    wanted.insert(target, Wanted::Other)
                }
                _ => wanted.insert(target, Wanted::Other),
            };
        }
    }
    let mut anonymous = BTreeMap::new();
    if let Some(mounts) = root.get("Mounts") {
        for (i, mount) in value_list(mounts, "Mounts")?.iter().enumerate() {
            let field = format!("Mounts.{i}");
            let Some(mount) = value_obj(mount, &field)? else {
                continue;
            };
            let kind = get_str(mount, "Type", &format!("{field}.Type"))?.unwrap_or("");
            let dest =
                get_str(mount, "Destination", &format!("{field}.Destination"))?.unwrap_or("");
            let name = get_str(mount, "Name", &format!("{field}.Name"))?.unwrap_or("");
            let source = get_str(mount, "Source", &format!("{field}.Source"))?.unwrap_or("");
            match (kind, wanted.get(dest)) {
                ("volume", Some(Wanted::Anonymous)) if !name.is_empty() => {
                    anonymous.insert(dest.to_owned(), name.to_owned());
                }
                // From Config.Volumes (user `-v /path` or image VOLUME), or through VolumesFrom.
                ("volume", None) if is_generated_volume_name(name) => {
                    anonymous.insert(dest.to_owned(), name.to_owned());
                }
                ("volume", None) if !name.is_empty() => {
                    named.insert(name.to_owned());
                }
                ("bind", None) if !source.is_empty() => {
                    binds.insert(source.to_owned());
                }
                _ => {}
            }
        }
    }
    Ok(Volumes {
        anonymous: anonymous.into_iter().collect(),
        named: named.into_iter().collect(),
        binds: binds.into_iter().collect(),
    })
}

/// Keep the anonymous volumes of a container that is being replaced: the replacement mounts
/// them by name instead of getting fresh, empty ones (what `docker compose up` does when it
/// recreates a container).
///
/// `body` is the create request of the replacement and `image` the inspect of the image it is
/// created from; `live` is the inspect of the container being replaced. A destination where the
/// replacement would get an anonymous volume (a `Config.Volumes` entry of the request or of its
/// image, or a `HostConfig.Mounts` volume without a source) and where `live` has an
/// engine-named volume gets that volume: a `Mounts` entry gets its `Source`, otherwise
/// `NAME:DEST` is added to `HostConfig.Binds` (`:ro` kept). Destinations the request already
/// mounts by name, bind or tmpfs are left alone.
///
/// Returns the (destination, volume name) pairs carried over, by destination. The replacement's
/// `HostConfig` then names these volumes, which the original's did not: the one field that
/// differs, by design.
pub fn carry_anonymous_volumes(
    body: &mut Value,
    image: &Value,
    live: &Value,
) -> Vec<(String, String)> {
    let null = Value::Null;
    // The live container's engine-named volumes, by destination: (name, read-write).
    let mut live_anon: BTreeMap<String, (String, bool)> = BTreeMap::new();
    for m in live
        .get("Mounts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let kind = m.get("Type").and_then(Value::as_str).unwrap_or("");
        let name = m.get("Name").and_then(Value::as_str).unwrap_or("");
        let dest = m.get("Destination").and_then(Value::as_str).unwrap_or("");
        if kind == "volume" && is_generated_volume_name(name) && !dest.is_empty() {
            let rw = m.get("RW").and_then(Value::as_bool).unwrap_or(true);
            live_anon.insert(dest.to_owned(), (name.to_owned(), rw));
        }
    }
    if live_anon.is_empty() {
        return Vec::new();
    }
    let Some(req) = body.as_object_mut() else {
        return Vec::new();
    };
    // Where the request mounts something itself: by name, bind or tmpfs.
    let mut taken: HashSet<String> = HashSet::new();
    let host = req.get("HostConfig").unwrap_or(&null);
    for bind in host
        .get("Binds")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        let mut parts = bind.split(':');
        if let (Some(source), Some(dest)) = (parts.next(), parts.next()) {
            if !source.is_empty() {
                taken.insert(dest.to_owned());
            }
        }
    }
    let mut anon_mounts: HashSet<String> = HashSet::new();
    for m in host
        .get("Mounts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let target = m.get("Target").and_then(Value::as_str).unwrap_or("");
        let source = m.get("Source").and_then(Value::as_str).unwrap_or("");
        let kind = m.get("Type").and_then(Value::as_str).unwrap_or("");
        if kind == "volume" && source.is_empty() {
            anon_mounts.insert(target.to_owned());
        } else {
            taken.insert(target.to_owned());
        }
    }
    for dest in host
        .get("Tmpfs")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(Map::keys)
    {
        taken.insert(dest.clone());
    }
    // Where the replacement gets an anonymous volume.
    let mut wanted: BTreeSet<String> = anon_mounts.iter().cloned().collect();
    for volumes in [
        req.get("Volumes"),
        image.get("Config").and_then(|c| c.get("Volumes")),
    ] {
        wanted.extend(
            volumes
                .and_then(Value::as_object)
                .into_iter()
                .flat_map(Map::keys)
                .cloned(),
        );
    }
    let mut carried = Vec::new();
    let mut binds_to_add = Vec::new();
    for dest in wanted {
        if taken.contains(&dest) {
            continue;
        }
        let Some((name, rw)) = live_anon.get(&dest) else {
            continue;
        };
        if anon_mounts.contains(&dest) {
            if let Some(mounts) = req
                .get_mut("HostConfig")
                .and_then(|h| h.get_mut("Mounts"))
                .and_then(Value::as_array_mut)
            {
                for m in mounts.iter_mut() {
                    let target = m.get("Target").and_then(Value::as_str) == Some(dest.as_str());
                    if let (true, Some(o)) = (target, m.as_object_mut()) {
                        o.insert("Source".into(), Value::String(name.clone()));
                    }
                }
            }
        } else {
            let ro = if *rw { "" } else { ":ro" };
            binds_to_add.push(Value::String(format!("{name}:{dest}{ro}")));
        }
        carried.push((dest, name.clone()));
    }
    if !binds_to_add.is_empty() {
        let host = req
            .entry("HostConfig")
            .or_insert_with(|| Value::Object(Map::new()));
        if !host.is_object() {
            *host = Value::Object(Map::new());
        }
        if let Some(h) = host.as_object_mut() {
            let binds = h.entry("Binds").or_insert_with(|| Value::Array(Vec::new()));
            if !binds.is_array() {
                *binds = Value::Array(Vec::new());
            }
            if let Some(list) = binds.as_array_mut() {
                list.extend(binds_to_add);
            }
        }
    }
    carried
}

// --- typed access that reports instead of panicking ---

fn missing(field: &str) -> SpecError {
    SpecError::Missing {
        field: field.to_owned(),
    }
}

pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn wrong(field: &str, expected: &'static str, found: &Value) -> SpecError {
    SpecError::WrongType {
        field: if field.is_empty() {
            "(root)".into()
        } else {
            field.to_owned()
        },
        expected,
        found: type_name(found),
    }
}

fn as_obj<'a>(v: &'a Value, field: &str) -> Result<&'a Map<String, Value>, SpecError> {
    v.as_object().ok_or_else(|| wrong(field, "an object", v))
}

/// An object, or `None` for null.
fn value_obj<'a>(v: &'a Value, field: &str) -> Result<Option<&'a Map<String, Value>>, SpecError> {
    match v {
        Value::Null => Ok(None),
        Value::Object(m) => Ok(Some(m)),
        other => Err(wrong(field, "an object", other)),
    }
}

/// A string, or `None` for null.
fn value_str<'a>(v: &'a Value, field: &str) -> Result<Option<&'a str>, SpecError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        other => Err(wrong(field, "a string", other)),
    }
}

/// An array (empty for null).
fn value_list<'a>(v: &'a Value, field: &str) -> Result<&'a [Value], SpecError> {
    match v {
        Value::Null => Ok(&[]),
        Value::Array(a) => Ok(a),
        other => Err(wrong(field, "an array", other)),
    }
}

/// An array of strings (empty for null).
fn value_str_list<'a>(v: &'a Value, field: &str) -> Result<Vec<&'a str>, SpecError> {
    value_list(v, field)?
        .iter()
        .enumerate()
        .map(|(i, item)| {
            item.as_str()
                .ok_or_else(|| wrong(&format!("{field}.{i}"), "a string", item))
        })
        .collect()
}

fn get_obj<'a>(
    m: &'a Map<String, Value>,
    key: &str,
    field: &str,
) -> Result<Option<&'a Map<String, Value>>, SpecError> {
    m.get(key).map_or(Ok(None), |v| value_obj(v, field))
}

fn get_str<'a>(
    m: &'a Map<String, Value>,
    key: &str,
    field: &str,
) -> Result<Option<&'a str>, SpecError> {
    m.get(key).map_or(Ok(None), |v| value_str(v, field))
}

fn req_str<'a>(m: &'a Map<String, Value>, key: &str, field: &str) -> Result<&'a str, SpecError> {
    get_str(m, key, field)?.ok_or_else(|| missing(field))
}

fn get_bool(m: &Map<String, Value>, key: &str, field: &str) -> Result<Option<bool>, SpecError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(wrong(field, "a boolean", other)),
    }
}

/// null, "", [] and {}: what the engine reports for "not set".
pub(crate) fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.is_empty(),
        Value::Bool(_) | Value::Number(_) => false,
    }
}

/// false and 0: the zero values of settings that default to them.
fn is_zero(v: &Value) -> bool {
    match v {
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        _ => false,
    }
}

/// Equal, with every kind of "not set" equal to the others.
fn same(a: &Value, b: &Value) -> bool {
    a == b || (is_empty(a) && is_empty(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const A: &str = include_str!("../../tests/fixtures/docker/container-a.json");
    const B: &str = include_str!("../../tests/fixtures/docker/container-b.json");
    const C: &str = include_str!("../../tests/fixtures/docker/container-c.json");
    const D: &str = include_str!("../../tests/fixtures/docker/container-d.json");
    const F: &str = include_str!("../../tests/fixtures/docker/container-f.json");
    const M: &str = include_str!("../../tests/fixtures/docker/container-m.json");
    const R: &str = include_str!("../../tests/fixtures/docker/container-r.json");
    const L: &str = include_str!("../../tests/fixtures/docker/container-l.json");
    const IMAGE: &str = include_str!("../../tests/fixtures/docker/image.json");
    const IMAGE2: &str = include_str!("../../tests/fixtures/docker/image2.json");

    fn parse(s: &str) -> Value {
        serde_json::from_str(s).unwrap()
    }

    fn peers() -> Peers {
        let mut p = Peers::default();
        for c in [A, B, C, D, F, L, M, R] {
            let v = parse(c);
            let id = v["Id"].as_str().unwrap().to_owned();
            let name = v["Name"]
                .as_str()
                .unwrap()
                .trim_start_matches('/')
                .to_owned();
            p.labels_by_name.insert(
                name.clone(),
                v["Config"]["Labels"]
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            );
            p.names_by_id.insert(id, name);
        }
        p
    }

    fn spec(container: &str, image: &str) -> CreateSpec {
        create_spec(&parse(container), &parse(image), &peers()).unwrap()
    }

    #[test]
    fn image_defaults_dropped_overrides_kept() {
        // a: image sets FOO=bar PATH=/bin, label img.l=1, VOLUME /data, CMD /bin/sh.
        let s = spec(A, IMAGE);
        let b = &s.body;
        assert_eq!(s.name, "lbspec-a");
        assert_eq!(b["Env"], json!(["FOO=override", "NEW=x"]));
        assert_eq!(b["Labels"], json!({"user.l": "2"}));
        assert_eq!(b["Volumes"], json!({"/anon": {}}));
        assert_eq!(b["Image"], "lbspec-test:1");
        // Entrypoint set by the user: Cmd kept as-is.
        assert_eq!(b["Entrypoint"], json!(["/bin/sleep"]));
        assert_eq!(b["Cmd"], json!(["3600"]));
        assert_eq!(b["ExposedPorts"], json!({"80/tcp": {}}));
        assert_eq!(b["MacAddress"], "02:42:ac:1e:00:99");
        assert!(s.running);
        for gone in [
            "Hostname",
            "Domainname",
            "User",
            "WorkingDir",
            "OnBuild",
            "Tty",
            "AttachStdin",
        ] {
            assert!(b.get(gone).is_none(), "{gone} should be dropped");
        }
    }

    #[test]
    fn image_defaults_healthcheck_entrypoint_user() {
        // l: image 2 has ENTRYPOINT sh -c, CMD "sleep 5", USER 1000, WORKDIR /data, STOPSIGNAL
        // SIGINT, HEALTHCHECK interval 5s. The user overrode user, stop signal, interval, cmd and
        // re-set PATH to the image's value (indistinguishable: dropped).
        let s = spec(L, IMAGE2);
        let b = &s.body;
        assert_eq!(b["Env"], json!(["FOO=zzz"]));
        assert_eq!(b["User"], "0");
        assert_eq!(b["StopSignal"], "SIGTERM");
        assert_eq!(b["StopTimeout"], 20);
        assert_eq!(b["Healthcheck"], json!({"Interval": 9_000_000_000_u64}));
        assert_eq!(b["Cmd"], json!(["sleep 99"]));
        assert!(b.get("Entrypoint").is_none());
        assert!(b.get("WorkingDir").is_none());
        assert!(b.get("Volumes").is_none());
        assert_eq!(b["Labels"], json!({"mine": "yes"}));
        assert_eq!(b["Tty"], true);
        assert_eq!(b["OpenStdin"], true);
        let h = &b["HostConfig"];
        assert_eq!(h["CapAdd"], json!(["CAP_NET_ADMIN", "CAP_SYS_TIME"]));
        assert_eq!(
            h["Ulimits"],
            json!([{"Name": "nofile", "Hard": 2048, "Soft": 1024}])
        );
        assert_eq!(h["Devices"][0]["CgroupPermissions"], "r");
        assert_eq!(h["Init"], true);
        assert_eq!(h["ShmSize"], 268_435_456);
        assert_eq!(h["LogConfig"]["Config"]["max-size"], "5m");
        assert_eq!(
            h["RestartPolicy"],
            json!({"Name": "no", "MaximumRetryCount": 0})
        );
        for gone in [
            "Runtime",
            "ConsoleSize",
            "MaskedPaths",
            "ReadonlyPaths",
            "ContainerIDFile",
        ] {
            assert!(h.get(gone).is_none(), "{gone} should be dropped");
        }
    }

    #[test]
    fn entrypoint_reset_and_explicit_equal_entrypoint() {
        let image = json!({"Config": {"Entrypoint": ["/bin/sh", "-c"], "Cmd": ["sleep 5"]}});
        let base = |ep: Value, cmd: Value| json!({"Id": "0123456789ab0123", "Name": "/x", "Config": {"Image": "i", "Entrypoint": ep, "Cmd": cmd}});
        // `--entrypoint ""`: the engine reports [] and fills Cmd from the image.
        let s = create_spec(
            &base(json!([]), json!(["sleep 5"])),
            &image,
            &Peers::default(),
        )
        .unwrap();
        assert_eq!(s.body["Entrypoint"], json!([]));
        assert!(s.body.get("Cmd").is_none());
        // Entrypoint given equal to the image's with no Cmd: Cmd stayed empty.
        let s = create_spec(
            &base(json!(["/bin/sh", "-c"]), Value::Null),
            &image,
            &Peers::default(),
        )
        .unwrap();
        assert_eq!(s.body["Entrypoint"], json!(["/bin/sh", "-c"]));
        assert!(s.body.get("Cmd").is_none());
        // New entrypoint: Cmd kept even when equal to the image's.
        let s = create_spec(
            &base(json!(["/x"]), json!(["sleep 5"])),
            &image,
            &Peers::default(),
        )
        .unwrap();
        assert_eq!(s.body["Cmd"], json!(["sleep 5"]));
    }

    #[test]
    fn generated_hostname_dropped_user_hostname_kept() {
        assert!(spec(A, IMAGE).body.get("Hostname").is_none());
        assert_eq!(spec(D, IMAGE).body["Hostname"], "myhost");
        // b shares a's network stack: its hostname is a's short ID and must not be sent.
        assert!(spec(B, IMAGE).body.get("Hostname").is_none());
    }

    #[test]
    fn container_modes_rewritten_to_names() {
        let s = spec(B, IMAGE);
        assert_eq!(s.body["HostConfig"]["NetworkMode"], "container:lbspec-a");
        assert!(s.body.get("NetworkingConfig").is_none());
        assert!(s.connect.is_empty());
        assert_eq!(s.depends_on, vec!["lbspec-a"]);
        let s = spec(C, IMAGE);
        assert_eq!(s.body["HostConfig"]["IpcMode"], "container:lbspec-a");
        // Unknown IDs stay as they are.
        let c = json!({"Id": "0123456789abcdef", "Name": "/x", "Config": {"Image": "i"},
            "HostConfig": {"PidMode": "container:ffff", "NetworkMode": "container:0123"}});
        let s = create_spec(&c, &Value::Null, &peers()).unwrap();
        assert_eq!(s.body["HostConfig"]["PidMode"], "container:ffff");
        assert_eq!(s.depends_on, vec!["0123", "ffff"]);
    }

    #[test]
    fn links_and_volumes_from_rewritten() {
        // c: --link lbspec-a:aa --volumes-from lbspec-a --ipc container:lbspec-a
        let s = spec(C, IMAGE);
        let h = &s.body["HostConfig"];
        assert_eq!(h["Links"], json!(["lbspec-a:aa"]));
        assert_eq!(h["VolumesFrom"], json!(["lbspec-a"]));
        assert_eq!(s.depends_on, vec!["lbspec-a"]);
        // VolumesFrom given by ID prefix.
        let a_id = parse(A)["Id"].as_str().unwrap().to_owned();
        let c = json!({"Id": "0123456789abcdef", "Name": "/x", "Config": {"Image": "i"},
            "HostConfig": {"VolumesFrom": [format!("{}:rw", &a_id[..10])], "Links": ["/lbspec-f:/x/db", "lbspec-d"]}});
        let s = create_spec(&c, &Value::Null, &peers()).unwrap();
        assert_eq!(s.body["HostConfig"]["VolumesFrom"], json!(["lbspec-a:rw"]));
        assert_eq!(
            s.body["HostConfig"]["Links"],
            json!(["lbspec-f:db", "lbspec-d:lbspec-d"])
        );
        assert_eq!(s.depends_on, vec!["lbspec-a", "lbspec-d", "lbspec-f"]);
    }

    #[test]
    fn networks_split_static_ip_and_aliases() {
        let s = spec(A, IMAGE);
        assert_eq!(s.body["HostConfig"]["NetworkMode"], "lbspec-net1");
        assert_eq!(
            s.body["NetworkingConfig"],
            json!({"EndpointsConfig": {"lbspec-net1": {"Aliases": ["web", "www"], "IPAMConfig": {"IPv4Address": "172.30.0.10"}}}})
        );
        // net2's runtime address 172.18.0.2 is not pinned, and its generated MAC is not sent.
        assert_eq!(
            s.connect,
            vec![("lbspec-net2".to_owned(), json!({"Aliases": ["other"]}))]
        );
        // Started once (short-ID alias appended) and never started (none yet).
        let f = spec(F, IMAGE);
        assert_eq!(
            f.body["NetworkingConfig"]["EndpointsConfig"]["lbspec-net1"],
            json!({"Aliases": ["zed"]})
        );
        let m = spec(M, IMAGE);
        assert_eq!(
            m.body["NetworkingConfig"]["EndpointsConfig"]["lbspec-net1"],
            json!({"Aliases": ["zed", "alpha"]})
        );
        // Default bridge without settings: no NetworkingConfig.
        let d = spec(D, IMAGE);
        assert!(d.body.get("NetworkingConfig").is_none());
        assert!(d.connect.is_empty());
        assert_eq!(d.body["HostConfig"]["NetworkMode"], "default");
    }

    #[test]
    fn hostname_alias_added_by_engine_dropped() {
        // r: -h rhost, --network-alias api --network-alias api2, connected to net2 with alias rr
        // and to the default bridge. Engine 20.10 appended the short ID and "rhost" to both.
        let s = spec(R, IMAGE2);
        assert_eq!(s.body["Hostname"], "rhost");
        assert_eq!(
            s.body["NetworkingConfig"]["EndpointsConfig"]["lbspec-net1"]["Aliases"],
            json!(["api", "api2"])
        );
        assert_eq!(
            s.connect,
            vec![
                ("bridge".to_owned(), json!({})),
                ("lbspec-net2".to_owned(), json!({"Aliases": ["rr"]}))
            ]
        );
        // A hostname equal to the container name is not added by the engine: an alias equal to
        // it was set by the user.
        let c = json!({"Id": "0123456789abcdef", "Name": "/web", "Config": {"Image": "i", "Hostname": "web"},
            "HostConfig": {"NetworkMode": "n"},
            "NetworkSettings": {"Networks": {"n": {"Aliases": ["web", "0123456789ab"]}}}});
        let s = create_spec(&c, &Value::Null, &Peers::default()).unwrap();
        assert_eq!(
            s.body["NetworkingConfig"]["EndpointsConfig"]["n"]["Aliases"],
            json!(["web"])
        );
    }

    #[test]
    fn network_mode_by_id_becomes_name() {
        let c = json!({"Id": "0123456789abcdef", "Name": "/x", "Config": {"Image": "i"},
            "HostConfig": {"NetworkMode": "c8da0e250aa0"},
            "NetworkSettings": {"Networks": {"net1": {"NetworkID": "c8da0e250aa07e03", "IPAMConfig": {"IPv6Address": "fd00::5"}},
                                              "bridge": {"NetworkID": "53d1", "Aliases": null}}}});
        let s = create_spec(&c, &Value::Null, &Peers::default()).unwrap();
        assert_eq!(s.body["HostConfig"]["NetworkMode"], "net1");
        assert_eq!(
            s.body["NetworkingConfig"]["EndpointsConfig"]["net1"],
            json!({"IPAMConfig": {"IPv6Address": "fd00::5"}})
        );
        assert_eq!(s.connect, vec![("bridge".to_owned(), json!({}))]);
    }

    #[test]
    fn gpu_device_requests_and_nvidia_runtime_kept() {
        let gpu = json!({"Driver": "", "Count": -1, "DeviceIDs": null, "Capabilities": [["gpu"]], "Options": {}});
        let c = json!({"Id": "0123456789abcdef", "Name": "/trainer", "Config": {"Image": "pytorch:2"},
            "HostConfig": {"Runtime": "nvidia", "DeviceRequests": [gpu.clone()], "ShmSize": 8_589_934_592_u64,
                           "Ulimits": [{"Name": "memlock", "Soft": -1, "Hard": -1}], "IpcMode": "host"}});
        let s = create_spec(&c, &Value::Null, &Peers::default()).unwrap();
        let h = &s.body["HostConfig"];
        assert_eq!(h["Runtime"], "nvidia");
        assert_eq!(h["DeviceRequests"], json!([gpu]));
        assert_eq!(h["ShmSize"], 8_589_934_592_u64);
        assert_eq!(h["IpcMode"], "host");
        assert_eq!(h["Ulimits"][0]["Soft"], -1);
    }

    #[test]
    fn anonymous_named_and_bind_volumes() {
        let s = spec(A, IMAGE);
        assert_eq!(
            s.anonymous_volumes,
            vec![
                (
                    "/anon".to_owned(),
                    "22f9b78748e09b8559e82ac2577cf27d14bdc76680b9307b27e4192b5c5d1374".to_owned()
                ),
                (
                    "/data".to_owned(),
                    "5b6f877dde3e3c094cd5e3ed059c668c610c4c97d286d80debeb96914020706c".to_owned()
                ),
            ]
        );
        assert_eq!(s.named_volumes, vec!["lbspec-vol"]);
        assert_eq!(s.bind_sources, vec!["/tmp"]);
        assert_eq!(
            s.body["HostConfig"]["Binds"],
            json!(["lbspec-vol:/named", "/tmp:/hostdir:ro"])
        );
        // d: anonymous volume through --mount without a source, plus the image's /data.
        let d = spec(D, IMAGE);
        let dests: Vec<&str> = d
            .anonymous_volumes
            .iter()
            .map(|(d, _)| d.as_str())
            .collect();
        assert_eq!(dests, vec!["/data", "/m2"]);
        assert_eq!(d.bind_sources, vec!["/tmp"]);
        assert_eq!(
            d.body["HostConfig"]["Mounts"],
            json!([{"Type": "volume", "Target": "/m2"}, {"Type": "bind", "Source": "/tmp", "Target": "/bm"}])
        );
        // c gets a's volumes through VolumesFrom: named ones listed, anonymous ones by old name.
        let c = spec(C, IMAGE);
        assert_eq!(c.named_volumes, vec!["lbspec-vol"]);
        assert_eq!(c.anonymous_volumes.len(), 2);
    }

    #[test]
    fn compose_depends_on_mapped_to_containers() {
        let labels = |svc: &str| {
            json!({COMPOSE_PROJECT_LABEL: "ml", COMPOSE_SERVICE_LABEL: svc})
                .as_object()
                .cloned()
                .unwrap()
        };
        let mut p = Peers::default();
        p.labels_by_name.insert("ml-db-1".into(), labels("db"));
        p.labels_by_name
            .insert("ml-cache-1".into(), labels("cache"));
        p.labels_by_name
            .insert("ml-cache-2".into(), labels("cache"));
        p.labels_by_name.insert("ml-api-1".into(), labels("api"));
        let mut other = labels("db");
        other.insert(COMPOSE_PROJECT_LABEL.into(), json!("other"));
        p.labels_by_name.insert("other-db-1".into(), other);
        let c = json!({"Id": "0123456789abcdef", "Name": "/ml-api-1", "Config": {"Image": "api",
            "Labels": {COMPOSE_PROJECT_LABEL: "ml", COMPOSE_SERVICE_LABEL: "api",
                       COMPOSE_DEPENDS_ON_LABEL: "db:service_healthy:false,cache:service_started:true,gone:service_started:false"}}});
        let s = create_spec(&c, &Value::Null, &p).unwrap();
        assert_eq!(s.depends_on, vec!["ml-cache-1", "ml-cache-2", "ml-db-1"]);
        // compose labels are kept so Compose still recognizes the container.
        assert_eq!(s.body["Labels"][COMPOSE_SERVICE_LABEL], "api");
    }

    #[test]
    fn peers_resolution() {
        let p = peers();
        let a_id = parse(A)["Id"].as_str().unwrap().to_owned();
        assert_eq!(p.resolve(&a_id).as_deref(), Some("lbspec-a"));
        assert_eq!(p.resolve("/lbspec-a").as_deref(), Some("lbspec-a"));
        assert_eq!(p.resolve(&a_id[..5]).as_deref(), Some("lbspec-a"));
        assert_eq!(p.resolve("zzz"), None);
        assert_eq!(p.resolve(""), None);
    }

    #[test]
    fn hostile_json_errors_not_panics() {
        let p = Peers::default();
        let img = Value::Null;
        assert!(matches!(
            create_spec(&json!(null), &img, &p),
            Err(SpecError::WrongType { .. })
        ));
        assert!(matches!(
            create_spec(&json!([1]), &img, &p),
            Err(SpecError::WrongType { .. })
        ));
        assert!(matches!(
            create_spec(&json!({}), &img, &p),
            Err(SpecError::Missing { .. })
        ));
        assert!(matches!(
            create_spec(&json!({"Id": "x", "Name": "/"}), &img, &p),
            Err(SpecError::Invalid { .. })
        ));
        assert!(matches!(
            create_spec(&json!({"Id": "x", "Name": "/n"}), &img, &p),
            Err(SpecError::Missing { .. })
        ));
        let base = || json!({"Id": "é", "Name": "/n", "Config": {"Image": "i"}});
        assert!(create_spec(&base(), &img, &p).is_ok());
        let cases = [
            ("/Config/Env", json!("A=1")),
            ("/Config/Env", json!([1])),
            ("/Config/Labels", json!(["a"])),
            ("/Config/Hostname", json!(5)),
            ("/Config/Entrypoint", json!({})),
            ("/Config/Healthcheck", json!("x")),
            ("/HostConfig", json!([])),
            ("/State", json!(true)),
            ("/Mounts", json!({})),
            ("/NetworkSettings", json!(1)),
        ];
        for (path, bad) in cases {
            let mut c = base();
            let (parent, key) = path.rsplit_once('/').unwrap();
            c.pointer_mut(if parent.is_empty() { "" } else { parent })
                .unwrap()[key] = bad;
            assert!(create_spec(&c, &img, &p).is_err(), "{path}");
        }
        let nested = [
            json!({"HostConfig": {"Links": [null]}}),
            json!({"HostConfig": {"VolumesFrom": "a"}}),
            json!({"HostConfig": {"Mounts": [{"Type": 1}]}}),
            json!({"HostConfig": {"RestartPolicy": {"Name": []}}}),
            json!({"HostConfig": {"NetworkMode": 3}}),
            json!({"HostConfig": {"Binds": [{}]}}),
            json!({"State": {"Running": "yes"}}),
            json!({"Mounts": [{"Destination": []}]}),
            json!({"NetworkSettings": {"Networks": {"n": {"Aliases": "a"}}}, "HostConfig": {"NetworkMode": "n"}}),
            json!({"NetworkSettings": {"Networks": {"n": 4}}}),
            json!({"NetworkSettings": {"Networks": {"n": {"IPAMConfig": []}}}}),
        ];
        for extra in nested {
            let mut c = base();
            for (k, v) in extra.as_object().unwrap() {
                c[k] = v.clone();
            }
            assert!(create_spec(&c, &img, &p).is_err(), "{extra}");
        }
        // Wrong-typed image.
        assert!(create_spec(&base(), &json!("img"), &p).is_err());
        assert!(create_spec(&base(), &json!({"Config": {"Env": {}}}), &p).is_ok());
        let mut c = base();
        c["Config"]["Env"] = json!(["A=1"]);
        assert!(create_spec(&c, &json!({"Config": {"Env": {}}}), &p).is_err());
        // Odd but well-typed values do not panic.
        let mut c = base();
        c["HostConfig"] = json!({"Links": [":", "", "/:/"], "VolumesFrom": [":", ""], "NetworkMode": "container:",
            "Binds": ["", ":", "a:b:c:d"], "Mounts": [{}], "IpcMode": "container:"});
        c["Mounts"] = json!([{}, {"Type": "volume"}]);
        assert!(create_spec(&c, &img, &p).is_ok());
    }

    #[test]
    fn anonymous_volumes_carried_by_name() {
        let anon = "a".repeat(64);
        let other = "b".repeat(64);
        let live = json!({
            "Mounts": [
                {"Type": "volume", "Name": anon, "Destination": "/imgvol", "RW": true},
                {"Type": "volume", "Name": other, "Destination": "/m", "RW": false},
                {"Type": "volume", "Name": "data", "Destination": "/data", "RW": true},
                {"Type": "volume", "Name": "c".repeat(64), "Destination": "/gone", "RW": true}
            ]
        });
        let image = json!({"Config": {"Volumes": {"/imgvol": {}}}});
        let mut body = json!({
            "Image": "app:2",
            "HostConfig": {
                "Binds": ["data:/data"],
                "Mounts": [{"Type": "volume", "Target": "/m", "ReadOnly": true}]
            }
        });
        let carried = carry_anonymous_volumes(&mut body, &image, &live);
        assert_eq!(
            carried,
            vec![
                ("/imgvol".to_string(), anon.clone()),
                ("/m".to_string(), other.clone())
            ]
        );
        assert_eq!(
            body["HostConfig"]["Binds"],
            json!(["data:/data", format!("{anon}:/imgvol")])
        );
        assert_eq!(body["HostConfig"]["Mounts"][0]["Source"], json!(other));
        // The new image no longer declares /gone: not mounted. Nothing live: nothing carried.
        let mut plain = json!({"Image": "x"});
        assert!(carry_anonymous_volumes(&mut plain, &image, &json!({})).is_empty());
        assert_eq!(plain, json!({"Image": "x"}));
        // Hostile shapes do not panic.
        let mut weird = json!({"HostConfig": 3, "Volumes": {"/imgvol": {}}});
        let c = carry_anonymous_volumes(&mut weird, &Value::Null, &live);
        assert_eq!(c.len(), 1);
    }
}
