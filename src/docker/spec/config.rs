//! The `Config` part of a create body: what the user set, without the image's defaults and the
//! engine's generated values.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::SpecError;
use super::json::{is_empty, is_zero, same, value_obj, value_str, value_str_list};
use super::networking::NetMode;

/// The Config part of the create body, without image defaults and generated values.
pub(super) fn config_body(
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
                let theirs = image.get(key).unwrap_or(&Value::Null);
                if let Some(hc) = healthcheck(value, theirs, &field)? {
                    out.insert(key.clone(), hc);
                } else if value.is_object() && is_empty(theirs) {
                    // `{}` (a client sent an empty healthcheck) is not the image's: the engine
                    // keeps it as sent when the image has none.
                    out.insert(key.clone(), Value::Object(Map::new()));
                }
            }
            "Entrypoint" | "Cmd" => {} // entrypoint_and_cmd: they depend on each other
            // Kept as sent, `[]` too, and never filled from the image.
            "OnBuild" => {
                value_str_list(value, &field)?;
                if !value.is_null() {
                    out.insert(key.clone(), value.clone());
                }
            }
            // 0 means "stop at once", not "unset" (null): `--stop-timeout 0`.
            "StopTimeout" => {
                if !value.is_null() {
                    out.insert(key.clone(), value.clone());
                }
            }
            "User" | "WorkingDir" | "StopSignal" | "Shell" | "ArgsEscaped" => {
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
    entrypoint_and_cmd(config, image, &mut out)?;
    Ok(out)
}

/// Entrypoint and Cmd, which depend on each other. The engine (20.10, `merge` in
/// `daemon/commit.go`) fills them from the image when the request leaves Entrypoint empty: Cmd
/// becomes the image's when it is empty too, and Entrypoint the image's when it is null (`[]`
/// stays `[]`). This sends the pair that gives back exactly the recorded one, `[]` and null
/// included, without sending a value the engine takes from the image anyway.
fn entrypoint_and_cmd(
    config: &Map<String, Value>,
    image: &Map<String, Value>,
    out: &mut Map<String, Value>,
) -> Result<(), SpecError> {
    let null = Value::Null;
    let entrypoint = config.get("Entrypoint").unwrap_or(&null);
    let cmd = config.get("Cmd").unwrap_or(&null);
    value_str_list(entrypoint, "Config.Entrypoint")?;
    value_str_list(cmd, "Config.Cmd")?;
    let image_entrypoint = image.get("Entrypoint").unwrap_or(&null);
    let image_cmd = image.get("Cmd").unwrap_or(&null);
    let send_entrypoint = if entrypoint == image_entrypoint {
        // The image's: sent only when it was given explicitly, which the Cmd shows: the engine
        // would have filled an empty Cmd from the image.
        !is_empty(entrypoint) && is_empty(cmd) && cmd != image_cmd
    } else {
        true
    };
    if send_entrypoint {
        // A null that is not the image's can only be a reset: `[]`.
        let sent = if entrypoint.is_null() {
            Value::Array(Vec::new())
        } else {
            entrypoint.clone()
        };
        out.insert("Entrypoint".into(), sent);
    }
    if send_entrypoint && !is_empty(entrypoint) {
        // A non-empty Entrypoint stops the engine from touching Cmd: send it as recorded.
        if !cmd.is_null() {
            out.insert("Cmd".into(), cmd.clone());
        }
    } else if !is_empty(cmd) && cmd != image_cmd {
        // Otherwise an empty Cmd becomes the image's, so only a Cmd of the user's is sent.
        out.insert("Cmd".into(), cmd.clone());
    }
    Ok(())
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
