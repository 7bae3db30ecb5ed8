//! Networking of a create spec: the effective network mode, the one network given at create time
//! and the others to connect afterwards, each endpoint with only what the user set.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::Peers;
use super::SpecError;
use super::host_config::parse_link;
use super::json::{get_obj, get_str, is_empty, value_obj, value_str_list};

/// The effective network mode, with a network given by ID rewritten to its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum NetMode {
    /// `default`, `bridge` or empty: the default bridge network.
    Bridge(String),
    /// `host` or `none`: no endpoints.
    NoEndpoints(String),
    /// `container:<x>`: shares another container's stack (x as stored, not yet resolved).
    Container(String),
    /// A user-defined network, by name.
    User(String),
}

pub(super) fn network_mode(
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

/// (`EndpointsConfig` for create, networks to connect afterwards).
type Networking = (Map<String, Value>, Vec<(String, Value)>);

pub(super) fn networking(
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

/// The user-set part of one network endpoint, as it was set (`[]` and `{}` are not null: the
/// engine keeps them as it got them, and `docker network connect` sends `{}` where an API client
/// sends null): aliases without the generated ones, static addresses from `IPAMConfig` only,
/// links and driver options. The MAC address is not here: on API 1.41 the engine takes a user-set
/// MAC only from `Config.MacAddress` (kept in the body).
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
    let null = Value::Null;
    let aliases_value = endpoint.get("Aliases").unwrap_or(&null);
    let all = value_str_list(aliases_value, &format!("{field}.Aliases"))?;
    let own: Vec<Value> = all
        .iter()
        .filter(|a| !a.is_empty() && !generated_aliases.contains(a))
        .map(|a| Value::String((*a).to_owned()))
        .collect();
    // Aliases the engine added (the container started, or was connected) hide whether the
    // user's list was `[]` or null; then only the user's own are sent. A list without them
    // (`[]` of a container never started) is sent as it is.
    let added = all.iter().any(|a| generated_aliases.contains(a));
    if !own.is_empty() || (aliases_value.is_array() && !added) {
        out.insert("Aliases".into(), Value::Array(own));
    }
    if let Some(ipam) = get_obj(endpoint, "IPAMConfig", &format!("{field}.IPAMConfig"))? {
        // Its members are left out by the engine when empty: `{}` stays `{}`.
        let kept: Map<String, Value> = ipam
            .iter()
            .filter(|(_, v)| !is_empty(v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        out.insert("IPAMConfig".into(), Value::Object(kept));
    }
    let links_value = endpoint.get("Links").unwrap_or(&null);
    let links: Vec<Value> = value_str_list(links_value, &format!("{field}.Links"))?
        .into_iter()
        .map(|link| {
            let (target, alias) = parse_link(link);
            let target = peers.name_of(target);
            depends.insert(target.clone());
            Value::String(format!("{target}:{alias}"))
        })
        .collect();
    if links_value.is_array() {
        out.insert("Links".into(), Value::Array(links));
    }
    if let Some(opts) = get_obj(endpoint, "DriverOpts", &format!("{field}.DriverOpts"))? {
        out.insert("DriverOpts".into(), Value::Object(opts.clone()));
    }
    Ok(out)
}
