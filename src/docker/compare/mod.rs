//! Field-by-field comparison of two containers, networks or volumes, for proving a restore exact.
//!
//! A restored container can never be byte-identical to the original: its ID, timestamps, the
//! short-ID hostname and network alias, generated MACs, dynamic addresses, anonymous volume
//! names and the engine's paths are new. This module splits an inspect into what a restore
//! replays (see `DOCKER-FIDELITY.md`) and those **generated values**, compares the first strictly
//! and names the second: [`container_comparison`] returns a [`Comparison`] whose `differences`
//! must be empty for an exact restore and whose `generated` lists the generated values that
//! differ, as expected. The comparison is strict about "not set": an empty list and null are
//! different where the engine keeps them apart (`HostConfig.Dns: []` is what `docker run` sends,
//! `null` what a raw API create sends; docs/DOCKER.md has the table). Only an absent key, null
//! and "" are one. Lists the engine reorders are compared as sets. Environment values can be
//! masked ([`mask_env`]) so differences are shown without leaking secrets. Pure functions, no
//! panics on any input.

mod container;
mod mask;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::BuildHasher;

use serde_json::{Map, Value};

use super::spec::is_generated_volume_name;
use super::spec::json::is_empty;
pub use mask::{mask_difference, mask_entry, mask_env, shown_differences};

/// One field whose value differs.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Difference {
    /// Dotted path, e.g. "`HostConfig.Memory`", "`NetworkSettings.Networks.lbnet.Aliases`".
    pub field: String,
    /// Value in the original (null when absent).
    pub expected: Value,
    /// Value in the restored or live one (null when absent).
    pub actual: Value,
}

/// A value the engine generated (an ID, the short-ID hostname or alias, a MAC, a dynamic
/// address, a timestamp, a path under the engine's data root...) that differs between the two
/// containers, as it must after a restore. Never a difference.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GeneratedValue {
    /// Dotted path, e.g. "Id", "`Config.Hostname`", "`NetworkSettings.Networks.n1.MacAddress`".
    pub field: String,
    /// Value in the original (null when absent).
    pub expected: Value,
    /// Value in the restored or live one (null when absent).
    pub actual: Value,
}

/// Two containers compared: what differs, and which generated values differ (as expected).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Comparison {
    /// Every replayed field whose value differs, sorted by field: empty for an exact restore.
    pub differences: Vec<Difference>,
    /// Every generated value that differs, sorted by field.
    pub generated: Vec<GeneratedValue>,
}

impl Comparison {
    /// Whether no replayed field differs (generated values may).
    #[must_use]
    pub fn is_exact(&self) -> bool {
        self.differences.is_empty()
    }

    /// The fields of the generated values that differ, for a report ("3 generated values differ
    /// as expected: Id, `Config.Hostname`, ...").
    #[must_use]
    pub fn generated_fields(&self) -> Vec<&str> {
        self.generated.iter().map(|g| g.field.as_str()).collect()
    }
}

/// The replayed fields that differ between the inspect of the original container and the inspect
/// of the restored (or live) one: [`container_comparison`]'s `differences`. `container:<id>`
/// modes compare equal whatever the ID; use [`compare_containers_with`] to check which container
/// they name.
#[must_use]
pub fn compare_containers(expected: &Value, actual: &Value) -> Vec<Difference> {
    container_comparison(expected, actual).differences
}

/// [`compare_containers`] with ID -> name maps for each side, so `container:<id>` modes compare by
/// the name of the container they share with.
#[must_use]
pub fn compare_containers_with<S: BuildHasher>(
    expected: &Value,
    expected_names: &HashMap<String, String, S>,
    actual: &Value,
    actual_names: &HashMap<String, String, S>,
) -> Vec<Difference> {
    container_comparison_with(expected, expected_names, actual, actual_names).differences
}

/// Compare the original container with the restored (or live) one: every replayed field that
/// differs, and every generated value that differs (named, not a difference).
#[must_use]
pub fn container_comparison(expected: &Value, actual: &Value) -> Comparison {
    let none: HashMap<String, String> = HashMap::new();
    container_comparison_with(expected, &none, actual, &none)
}

/// [`container_comparison`] with ID -> name maps for each side (see [`compare_containers_with`]).
#[must_use]
pub fn container_comparison_with<S: BuildHasher>(
    expected: &Value,
    expected_names: &HashMap<String, String, S>,
    actual: &Value,
    actual_names: &HashMap<String, String, S>,
) -> Comparison {
    let e = container::split(expected, expected_names);
    let a = container::split(actual, actual_names);
    let keys: BTreeSet<&String> = e.generated.keys().chain(a.generated.keys()).collect();
    let null = Value::Null;
    let generated = keys
        .into_iter()
        .filter_map(|field| {
            let (x, y) = (
                e.generated.get(field).unwrap_or(&null),
                a.generated.get(field).unwrap_or(&null),
            );
            (x != y).then(|| GeneratedValue {
                field: field.clone(),
                expected: x.clone(),
                actual: y.clone(),
            })
        })
        .collect();
    Comparison {
        differences: diff(&e.replayed, &a.replayed),
        generated,
    }
}

/// The replayed part of a container inspect, as [`compare_containers`] compares it (exposed so
/// callers and tests can show it).
#[must_use]
pub fn normalize_container(inspect: &Value) -> Value {
    normalize_container_with(inspect, &HashMap::<String, String>::new())
}

/// [`normalize_container`], naming the containers of `container:<id>` modes through `names_by_id`
/// (full ID -> name); IDs not in it become `container:<id>` literally.
#[must_use]
pub fn normalize_container_with<S: BuildHasher>(
    inspect: &Value,
    names_by_id: &HashMap<String, String, S>,
) -> Value {
    container::split(inspect, names_by_id).replayed
}

/// The generated values of a container inspect by dotted field (the values a restore cannot
/// and must not keep; see [`GeneratedValue`]).
#[must_use]
pub fn generated_values(inspect: &Value) -> BTreeMap<String, Value> {
    container::split(inspect, &HashMap::<String, String>::new()).generated
}

/// Compare two network inspects on what a restore recreates: Name, Driver, Options, Labels,
/// Internal, Attachable, `EnableIPv6`, Scope, `ConfigOnly`, `ConfigFrom` and IPAM (Driver, Options,
/// Config as a set). Not Id, Created or Containers. Every spelling of "not set" is one here.
#[must_use]
pub fn compare_networks(expected: &Value, actual: &Value) -> Vec<Difference> {
    diff(&normalize_network(expected), &normalize_network(actual))
}

fn normalize_network(network: &Value) -> Value {
    let Some(root) = network.as_object() else {
        return prune_unset(network.clone());
    };
    let mut out = pick(
        root,
        &[
            "Name",
            "Driver",
            "Options",
            "Labels",
            "Internal",
            "Attachable",
            "EnableIPv6",
            "Scope",
            "ConfigOnly",
            "ConfigFrom",
        ],
    );
    if let Some(ipam) = root.get("IPAM") {
        let normalized = match ipam.as_object() {
            Some(ipam) => {
                let mut ipam = pick(ipam, &["Driver", "Options", "Config"]);
                if let Some(config) = ipam.get_mut("Config") {
                    sort_list(config);
                }
                Value::Object(ipam)
            }
            None => ipam.clone(),
        };
        out.insert("IPAM".into(), normalized);
    }
    prune_unset(Value::Object(out))
}

/// Compare two volume inspects: Name (unless both are anonymous), Driver, Options, Labels. Not
/// Mountpoint, `CreatedAt`, Scope or Status. Every spelling of "not set" is one here.
#[must_use]
pub fn compare_volumes(expected: &Value, actual: &Value) -> Vec<Difference> {
    let anonymous = |v: &Value| {
        v.get("Name")
            .and_then(Value::as_str)
            .is_some_and(is_generated_volume_name)
    };
    let skip_name = anonymous(expected) && anonymous(actual);
    let normalize = |v: &Value| match v.as_object() {
        Some(root) => {
            let mut out = pick(root, &["Name", "Driver", "Options", "Labels"]);
            if skip_name {
                out.remove("Name");
            }
            prune_unset(Value::Object(out))
        }
        None => prune_unset(v.clone()),
    };
    diff(&normalize(expected), &normalize(actual))
}

// --- helpers ---

fn pick(m: &Map<String, Value>, keys: &[&str]) -> Map<String, Value> {
    keys.iter()
        .filter_map(|k| m.get(*k).map(|v| ((*k).to_owned(), v.clone())))
        .collect()
}

/// Sorts a list the engine does not keep in order (by JSON text, so any element type works).
fn sort_list(v: &mut Value) {
    if let Value::Array(items) = v {
        items.sort_by_cached_key(Value::to_string);
    }
}

/// Removes object members that are "not set" in any spelling (null, "", [], {}), recursively
/// (after pruning their own members). For networks and volumes, where the distinction is not
/// compared. Array elements are kept: their positions matter.
fn prune_unset(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| (k, prune_unset(v)))
                .filter(|(_, v)| !is_empty(v))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(prune_unset).collect()),
        other => other,
    }
}

/// Removes object members that are null or "", recursively: an absent key, null and "" are one
/// (the engine has no null strings, and an engine that does not know a field leaves it out),
/// while `[]`, `{}`, `false` and `0` are values of their own. Array elements are kept.
fn prune_null(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null() && v.as_str() != Some(""))
                .map(|(k, v)| (k, prune_null(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(prune_null).collect()),
        other => other,
    }
}

/// Every differing leaf of two normalized values, sorted by field.
fn diff(expected: &Value, actual: &Value) -> Vec<Difference> {
    let mut out = Vec::new();
    diff_into("", expected, actual, &mut out);
    out.sort_by(|a, b| a.field.cmp(&b.field));
    out
}

fn diff_into(path: &str, expected: &Value, actual: &Value, out: &mut Vec<Difference>) {
    if let (Value::Object(e), Value::Object(a)) = (expected, actual) {
        let keys: BTreeSet<&String> = e.keys().chain(a.keys()).collect();
        for key in keys {
            let field = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            diff_into(
                &field,
                e.get(key).unwrap_or(&Value::Null),
                a.get(key).unwrap_or(&Value::Null),
                out,
            );
        }
    } else if expected != actual {
        out.push(Difference {
            field: if path.is_empty() {
                "(root)".into()
            } else {
                path.to_owned()
            },
            expected: expected.clone(),
            actual: actual.clone(),
        });
    }
}
