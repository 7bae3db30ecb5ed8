//! The `HostConfig` of a create body: everything the user could set, as it was set (`[]` is not
//! null), with references to other containers (`container:` modes, links, `VolumesFrom`)
//! rewritten from IDs to names.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::json::{get_str, is_empty, is_zero, value_obj, value_str, value_str_list};
use super::networking::NetMode;
use super::{DEFAULT_RUNTIME, Peers, SpecError};

/// The `HostConfig` to send: everything the user could set, references rewritten to names.
pub(super) fn host_config_body(
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
                // `[]` is kept as sent (see `sent`).
                if value.is_array() {
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
            // Zero means "set to 0", and false "do not", not "unset" (null): `--init=false`.
            "MemorySwappiness" | "Init" => {
                if !value.is_null() {
                    out.insert(key.clone(), value.clone());
                }
            }
            _ => {
                if sent(value) {
                    out.insert(key.clone(), value.clone());
                }
            }
        }
    }
    Ok(out)
}

/// Whether a recorded `HostConfig` value is sent back: every list and map that is not null, `[]`
/// and `{}` included, because the engine keeps them as it got them (`docker run` sends
/// `"Dns": []`, an API client `null`; docs/DOCKER.md has the table, and where the engine
/// normalizes, sending `[]` gives what it showed anyway); scalars when they are not the zero
/// value, which for plain numbers, booleans and strings means "not set".
fn sent(value: &Value) -> bool {
    match value {
        Value::Array(_) | Value::Object(_) => true,
        other => !is_empty(other) && !is_zero(other),
    }
}

/// A link as the engine stores it (`/other:/this/alias`) or as a user writes it (`other:alias`),
/// as (target, alias).
pub(super) fn parse_link(link: &str) -> (&str, &str) {
    let (target, alias) = link.split_once(':').unwrap_or((link, link));
    let target = target.trim_start_matches('/');
    let alias = alias.rsplit('/').next().unwrap_or(alias);
    (target, if alias.is_empty() { target } else { alias })
}
