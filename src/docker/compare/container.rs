//! One container inspect split into what a restore replays, compared strictly, and the values the
//! engine generated, named when they differ. The "never replay" list of `DOCKER-FIDELITY.md` is
//! here, field by field, so that nothing is left out of the comparison without a name.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;

use serde_json::{Map, Value};

use super::{prune_null, sort_list};
use crate::docker::spec::{
    DEFAULT_RUNTIME, generated_aliases, is_generated_volume_name, is_hex, short_id,
};

/// What `container:<id>` becomes when the ID is not in the name map.
const UNRESOLVED_CONTAINER: &str = "container:<id>";

/// Top-level fields that are runtime state or properties of the engine rather than of the
/// container's configuration: the process's path and arguments (derived from `Entrypoint` and
/// `Cmd`, which are compared), restart and exec counters, sizes, the storage driver, security
/// labels the engine picks. Neither replayed nor generated: not compared.
const RUNTIME: &[&str] = &[
    "Path",
    "Args",
    "RestartCount",
    "Driver",
    "Platform",
    "MountLabel",
    "ProcessLabel",
    "AppArmorProfile",
    "ExecIDs",
    "SizeRw",
    "SizeRootFs",
];

/// Top-level fields the engine generates for every container: its ID, creation time and the
/// files it keeps under its data root, named by the ID.
const GENERATED: &[&str] = &[
    "Id",
    "Created",
    "ResolvConfPath",
    "HostnamePath",
    "HostsPath",
    "LogPath",
];

/// `State` fields that are timestamps of this container's life and its process.
const STATE_GENERATED: &[&str] = &["StartedAt", "FinishedAt", "Pid"];

/// Endpoint fields the engine assigns when the container joins a network (IDs, and the network's
/// gateway and prefix, which follow an auto-assigned subnet). `IPAddress`, `GlobalIPv6Address`
/// and `MacAddress` are generated too, unless the user set them (see [`network_settings`]).
const ENDPOINT_GENERATED: &[&str] = &[
    "NetworkID",
    "EndpointID",
    "Gateway",
    "IPPrefixLen",
    "IPv6Gateway",
    "GlobalIPv6PrefixLen",
];

/// A container inspect, split.
pub(super) struct Split {
    /// What a restore replays, normalized: compared strictly.
    pub(super) replayed: Value,
    /// Generated values by dotted field (null and "" left out).
    pub(super) generated: BTreeMap<String, Value>,
}

/// Split `inspect` (one element of `docker inspect`); `names_by_id` (full ID -> name) names the
/// containers of `container:<id>` modes.
pub(super) fn split<S: BuildHasher>(
    inspect: &Value,
    names_by_id: &HashMap<String, String, S>,
) -> Split {
    let mut generated = BTreeMap::new();
    let Some(root) = inspect.as_object() else {
        return Split {
            replayed: prune_null(inspect.clone()),
            generated,
        };
    };
    let id = root.get("Id").and_then(Value::as_str).unwrap_or("");
    let short = short_id(id);
    let shares_uts = root
        .get("HostConfig")
        .and_then(|h| h.get("NetworkMode"))
        .and_then(Value::as_str)
        .is_some_and(|m| m.starts_with("container:"));
    let user_mac = root
        .get("Config")
        .and_then(|c| c.get("MacAddress"))
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty());
    let g = &mut generated;
    let mut out = Map::new();
    for (key, value) in root {
        let key_str = key.as_str();
        if RUNTIME.contains(&key_str) {
            continue;
        }
        if GENERATED.contains(&key_str) {
            put(g, key.clone(), value);
            continue;
        }
        let normalized = match key_str {
            "State" => match state(value, g) {
                Some(state) => state,
                None => continue,
            },
            // The layer paths name random layer IDs; the driver's name is the engine's.
            "GraphDriver" => {
                put(
                    g,
                    "GraphDriver.Data".into(),
                    value.get("Data").unwrap_or(&Value::Null),
                );
                continue;
            }
            "Config" => config(value, short, shares_uts, g),
            "HostConfig" => host_config(value, names_by_id, g),
            "Mounts" => mounts(value, g),
            "NetworkSettings" => {
                match network_settings(value, &generated_aliases(root), user_mac, g) {
                    Some(ns) => ns,
                    None => continue,
                }
            }
            _ => value.clone(),
        };
        out.insert(key.clone(), normalized);
    }
    Split {
        replayed: prune_null(Value::Object(out)),
        generated,
    }
}

/// Records a generated value (null and "" are no value).
fn put(generated: &mut BTreeMap<String, Value>, field: String, value: &Value) {
    if !value.is_null() && value.as_str() != Some("") {
        generated.insert(field, value.clone());
    }
}

/// Whether it runs is restored; its timestamps and PID are generated; the rest is runtime.
fn state(state: &Value, g: &mut BTreeMap<String, Value>) -> Option<Value> {
    let state = state.as_object()?;
    for key in STATE_GENERATED {
        if let Some(v) = state.get(*key) {
            put(g, format!("State.{key}"), v);
        }
    }
    let running = state.get("Running")?;
    let mut out = Map::new();
    out.insert("Running".into(), running.clone());
    Some(Value::Object(out))
}

fn config(
    config: &Value,
    short: Option<&str>,
    shares_uts: bool,
    g: &mut BTreeMap<String, Value>,
) -> Value {
    let Some(config) = config.as_object() else {
        return config.clone();
    };
    let mut out = config.clone();
    // Generated: the short ID, or with `container:` networking the provider's short ID.
    if let Some(host) = config.get("Hostname").and_then(Value::as_str)
        && (Some(host) == short || (shares_uts && host.len() == 12 && is_hex(host)))
    {
        put(g, "Config.Hostname".into(), &Value::String(host.to_owned()));
        out.remove("Hostname");
    }
    // The engine appends the image's entries after the user's, so an entry dropped as equal to
    // the image's moves: compare as a set.
    if let Some(env) = out.get_mut("Env") {
        sort_list(env);
    }
    Value::Object(out)
}

fn host_config<S: BuildHasher>(
    host: &Value,
    names_by_id: &HashMap<String, String, S>,
    g: &mut BTreeMap<String, Value>,
) -> Value {
    let Some(host) = host.as_object() else {
        return host.clone();
    };
    let mut out = host.clone();
    // Client-side values.
    out.remove("ContainerIDFile");
    out.remove("ConsoleSize");
    // The engine's default runtime, which it fills in when the container first starts (the
    // docker CLI sends it at create, an API client does not): the same as none.
    if out.get("Runtime").and_then(Value::as_str) == Some(DEFAULT_RUNTIME) {
        out.remove("Runtime");
    }
    for mode in ["NetworkMode", "IpcMode", "PidMode"] {
        let Some(raw) = out.get(mode).and_then(Value::as_str) else {
            continue;
        };
        let Some(other) = raw.strip_prefix("container:") else {
            continue;
        };
        let other = other.trim_start_matches('/');
        let named = match names_by_id.get(other) {
            Some(name) => format!("container:{name}"),
            None if other.len() == 64 && is_hex(other) => UNRESOLVED_CONTAINER.to_owned(),
            None => format!("container:{other}"),
        };
        if named != raw {
            // The other container's ID: generated, like this one's.
            put(
                g,
                format!("HostConfig.{mode}"),
                &Value::String(raw.to_owned()),
            );
        }
        out.insert(mode.into(), Value::String(named));
    }
    // "no" (what the CLI sends) and "" (the API default) are the same policy.
    if let Some(name) = out.get_mut("RestartPolicy").and_then(|p| p.get_mut("Name"))
        && name.as_str() == Some("no")
    {
        *name = Value::String(String::new());
    }
    // Engine 20.10 rebuilds Links from its link graph (a map) on every inspect: order is random.
    if let Some(links) = out.get_mut("Links") {
        sort_list(links);
    }
    Value::Object(out)
}

/// Mounts keyed by destination (the engine lists them in map order). A volume's `Source` is its
/// path under the engine's data root, and an anonymous volume's `Name` is random: generated.
fn mounts(mounts: &Value, g: &mut BTreeMap<String, Value>) -> Value {
    let Some(list) = mounts.as_array() else {
        return mounts.clone();
    };
    let mut out = Map::new();
    for (i, mount) in list.iter().enumerate() {
        let Some(m) = mount.as_object() else {
            out.insert(format!("#{i}"), mount.clone());
            continue;
        };
        let mut m = m.clone();
        let key = match m.remove("Destination") {
            Some(Value::String(dest)) => dest,
            _ => format!("#{i}"),
        };
        if m.get("Type").and_then(Value::as_str) == Some("volume") {
            if let Some(source) = m.remove("Source") {
                put(g, format!("Mounts.{key}.Source"), &source);
            }
            let anonymous = m
                .get("Name")
                .and_then(Value::as_str)
                .is_some_and(is_generated_volume_name);
            if anonymous && let Some(name) = m.remove("Name") {
                put(g, format!("Mounts.{key}.Name"), &name);
            }
        }
        out.insert(key, Value::Object(m));
    }
    Value::Object(out)
}

/// Per network, what the user set: aliases without the ones the engine adds (listed as
/// generated), `IPAMConfig`, links, driver options, a static address (`IPAddress` when
/// `IPAMConfig` pins it) and a user-set MAC (equal to `Config.MacAddress`). Everything outside
/// `Networks` (sandbox, actual host ports, the legacy bridge fields) is generated or runtime.
fn network_settings(
    ns: &Value,
    gen_aliases: &[String],
    user_mac: Option<&str>,
    g: &mut BTreeMap<String, Value>,
) -> Option<Value> {
    let ns = ns.as_object()?;
    for (key, value) in ns {
        if key != "Networks" {
            put(g, format!("NetworkSettings.{key}"), value);
        }
    }
    let networks = ns.get("Networks")?;
    let mut wrapped = Map::new();
    let Some(networks) = networks.as_object() else {
        wrapped.insert("Networks".into(), networks.clone());
        return Some(Value::Object(wrapped));
    };
    let mut out = Map::new();
    for (name, endpoint) in networks {
        let Some(endpoint) = endpoint.as_object() else {
            out.insert(name.clone(), endpoint.clone());
            continue;
        };
        let field = format!("NetworkSettings.Networks.{name}");
        let pinned = |key: &str| {
            endpoint
                .get("IPAMConfig")
                .and_then(|i| i.get(key))
                .and_then(Value::as_str)
                .is_some_and(|a| !a.is_empty())
        };
        let mut ep = Map::new();
        for (key, value) in endpoint {
            let user_set = match key.as_str() {
                "Aliases" => {
                    if let Some(aliases) =
                        aliases(value, gen_aliases, &format!("{field}.Aliases"), g)
                    {
                        ep.insert(key.clone(), aliases);
                    }
                    continue;
                }
                "MacAddress" => user_mac.is_some_and(|m| value.as_str() == Some(m)),
                "IPAddress" => pinned("IPv4Address"),
                "GlobalIPv6Address" => pinned("IPv6Address"),
                k => !ENDPOINT_GENERATED.contains(&k),
            };
            if user_set {
                ep.insert(key.clone(), value.clone());
            } else {
                put(g, format!("{field}.{key}"), value);
            }
        }
        if let Some(links) = ep.get_mut("Links") {
            sort_list(links);
        }
        out.insert(name.clone(), Value::Object(ep));
    }
    wrapped.insert("Networks".into(), Value::Object(out));
    Some(Value::Object(wrapped))
}

/// An endpoint's aliases without the generated ones (recorded under `field`), sorted. When the
/// engine added generated aliases and the user set none, whether the user sent `[]` or null is
/// not visible any more (and does not matter): `None`, as for null. A list with no generated
/// alias (a container never started) stays as it is, `[]` included.
fn aliases(
    value: &Value,
    gen_aliases: &[String],
    field: &str,
    g: &mut BTreeMap<String, Value>,
) -> Option<Value> {
    let Some(list) = value.as_array() else {
        return Some(value.clone());
    };
    let is_generated = |a: &Value| {
        a.as_str()
            .is_some_and(|a| gen_aliases.iter().any(|x| x == a))
    };
    let (generated, own): (Vec<Value>, Vec<Value>) = list.iter().cloned().partition(is_generated);
    if !generated.is_empty() {
        put(g, field.to_owned(), &Value::Array(generated.clone()));
    }
    if own.is_empty() && !generated.is_empty() {
        return None;
    }
    let mut own = Value::Array(own);
    sort_list(&mut own);
    Some(own)
}
