//! Field-by-field comparison of two containers, networks or volumes, for proving a restore exact.
//!
//! A restored container can never be byte-identical to the original: IDs, timestamps, runtime
//! addresses, generated hostnames, short-ID aliases and anonymous volume names are new. This module
//! normalizes an inspect down to what a restore replays (see `DOCKER-FIDELITY.md`), treats the
//! engine's several spellings of "not set" (null, "", [], {}) as one, compares lists the engine
//! reorders as sets, and reports every remaining difference by dotted field path. It also masks
//! environment values so differences can be shown without leaking secrets. Pure functions, no
//! panics on any input.

use std::collections::{BTreeSet, HashMap};
use std::hash::BuildHasher;

use serde_json::{Map, Value};

use super::spec::json::is_empty;
use super::spec::{generated_aliases, is_generated_volume_name, is_hex, short_id};

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

/// What `container:<id>` becomes when the ID is not in the name map.
const UNRESOLVED_CONTAINER: &str = "container:<id>";

/// Top-level inspect fields that are runtime state, generated, or derived from other fields.
const NEVER_REPLAYED: &[&str] = &[
    "Id",
    "Created",
    "Path",
    "Args",
    "ResolvConfPath",
    "HostnamePath",
    "HostsPath",
    "LogPath",
    "RestartCount",
    "Driver",
    "Platform",
    "MountLabel",
    "ProcessLabel",
    "AppArmorProfile",
    "ExecIDs",
    "GraphDriver",
    "SizeRw",
    "SizeRootFs",
];

/// Compare the inspect of the original container with the inspect of the restored (or live) one,
/// after removing what is never replayed. `container:<id>` modes compare equal whatever the ID;
/// use [`compare_containers_with`] to check which container they name. Returns every difference,
/// sorted by field.
#[must_use]
pub fn compare_containers(expected: &Value, actual: &Value) -> Vec<Difference> {
    let none: HashMap<String, String> = HashMap::new();
    compare_containers_with(expected, &none, actual, &none)
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
    diff(
        &normalize_container_with(expected, expected_names),
        &normalize_container_with(actual, actual_names),
    )
}

/// Normalised form used by [`compare_containers`] (exposed so callers/tests can show it).
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
    let Some(root) = inspect.as_object() else {
        return prune(inspect.clone());
    };
    let id = root.get("Id").and_then(Value::as_str).unwrap_or("");
    let short = short_id(id);
    let shares_uts = root
        .get("HostConfig")
        .and_then(|h| h.get("NetworkMode"))
        .and_then(Value::as_str)
        .is_some_and(|m| m.starts_with("container:"));
    let mut out = Map::new();
    for (key, value) in root {
        if NEVER_REPLAYED.contains(&key.as_str()) {
            continue;
        }
        let normalized = match key.as_str() {
            // Whether it runs is restored; the rest of State is runtime.
            "State" => match value.get("Running") {
                Some(running) => {
                    let mut state = Map::new();
                    state.insert("Running".into(), running.clone());
                    Value::Object(state)
                }
                None => continue,
            },
            "Config" => normalize_config(value, short, shares_uts),
            "HostConfig" => normalize_host_config(value, names_by_id),
            "Mounts" => normalize_mounts(value),
            "NetworkSettings" => match value.get("Networks") {
                Some(networks) => {
                    let mut ns = Map::new();
                    ns.insert(
                        "Networks".into(),
                        normalize_networks(networks, &generated_aliases(root)),
                    );
                    Value::Object(ns)
                }
                None => continue,
            },
            _ => value.clone(),
        };
        out.insert(key.clone(), normalized);
    }
    prune(Value::Object(out))
}

fn normalize_config(config: &Value, short: Option<&str>, shares_uts: bool) -> Value {
    let Some(config) = config.as_object() else {
        return config.clone();
    };
    let mut out = config.clone();
    // Generated: the short ID, or with `container:` networking the provider's short ID.
    if let Some(host) = config.get("Hostname").and_then(Value::as_str)
        && (Some(host) == short || (shares_uts && host.len() == 12 && is_hex(host)))
    {
        out.remove("Hostname");
    }
    // The engine appends the image's entries after the user's, so an entry dropped as equal to
    // the image's moves: compare as a set.
    if let Some(env) = out.get_mut("Env") {
        sort_list(env);
    }
    Value::Object(out)
}

fn normalize_host_config<S: BuildHasher>(
    host: &Value,
    names_by_id: &HashMap<String, String, S>,
) -> Value {
    let Some(host) = host.as_object() else {
        return host.clone();
    };
    let mut out = host.clone();
    // Client-side values.
    out.remove("ContainerIDFile");
    out.remove("ConsoleSize");
    for mode in ["NetworkMode", "IpcMode", "PidMode"] {
        let Some(other) = out
            .get(mode)
            .and_then(Value::as_str)
            .and_then(|m| m.strip_prefix("container:"))
        else {
            continue;
        };
        let other = other.trim_start_matches('/');
        let named = match names_by_id.get(other) {
            Some(name) => format!("container:{name}"),
            None if other.len() == 64 && is_hex(other) => UNRESOLVED_CONTAINER.to_owned(),
            None => format!("container:{other}"),
        };
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

/// Mounts keyed by destination (the engine lists them in map order); anonymous volumes compared
/// without their generated name and path.
fn normalize_mounts(mounts: &Value) -> Value {
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
        let anonymous = m.get("Type").and_then(Value::as_str) == Some("volume")
            && m.get("Name")
                .and_then(Value::as_str)
                .is_some_and(is_generated_volume_name);
        if anonymous {
            m.remove("Name");
            m.remove("Source");
        }
        let key = match m.remove("Destination") {
            Some(Value::String(dest)) => dest,
            _ => format!("#{i}"),
        };
        out.insert(key, Value::Object(m));
    }
    Value::Object(out)
}

/// Per network: only what is replayed, aliases without the ones the engine adds. Runtime
/// addresses, IDs and the MAC (generated unless set
/// through `Config.MacAddress`, which is compared there) are dropped.
fn normalize_networks(networks: &Value, generated: &[String]) -> Value {
    let Some(networks) = networks.as_object() else {
        return networks.clone();
    };
    let mut out = Map::new();
    for (name, endpoint) in networks {
        let Some(endpoint) = endpoint.as_object() else {
            out.insert(name.clone(), endpoint.clone());
            continue;
        };
        let mut ep = Map::new();
        for key in ["Aliases", "IPAMConfig", "Links", "DriverOpts"] {
            if let Some(v) = endpoint.get(key) {
                ep.insert(key.into(), v.clone());
            }
        }
        if let Some(Value::Array(aliases)) = ep.get_mut("Aliases") {
            aliases.retain(|a| !a.as_str().is_some_and(|a| generated.iter().any(|g| g == a)));
        }
        for key in ["Aliases", "Links"] {
            if let Some(list) = ep.get_mut(key) {
                sort_list(list);
            }
        }
        out.insert(name.clone(), Value::Object(ep));
    }
    Value::Object(out)
}

/// Compare two network inspects on what a restore recreates: Name, Driver, Options, Labels,
/// Internal, Attachable, `EnableIPv6`, Scope, `ConfigOnly`, `ConfigFrom` and IPAM (Driver, Options,
/// Config as a set). Not Id, Created or Containers.
#[must_use]
pub fn compare_networks(expected: &Value, actual: &Value) -> Vec<Difference> {
    diff(&normalize_network(expected), &normalize_network(actual))
}

fn normalize_network(network: &Value) -> Value {
    let Some(root) = network.as_object() else {
        return prune(network.clone());
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
    prune(Value::Object(out))
}

/// Compare two volume inspects: Name (unless both are anonymous), Driver, Options, Labels. Not
/// Mountpoint, `CreatedAt`, Scope or Status.
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
            prune(Value::Object(out))
        }
        None => prune(v.clone()),
    };
    diff(&normalize(expected), &normalize(actual))
}

/// A copy of `v` with every value of the environment replaced by `***` (`KEY=value` ->
/// `KEY=***`; a bare `KEY` stays): in `Config.Env` of an inspect, in `Env` of a create body, or in
/// `v` itself when it is a list of such strings or one such string.
#[must_use]
pub fn mask_env(v: &Value) -> Value {
    let mut out = v.clone();
    match &mut out {
        Value::Object(root) => {
            if let Some(env) = root.get_mut("Env") {
                *env = mask_entries(env);
            }
            if let Some(env) = root.get_mut("Config").and_then(|c| c.get_mut("Env")) {
                *env = mask_entries(env);
            }
        }
        other => *other = mask_entries(other),
    }
    out
}

/// Per-container differences as they may be shown: environment values masked unless
/// `show_secrets`.
#[must_use]
pub fn shown_differences(
    differences: &[(String, Vec<Difference>)],
    show_secrets: bool,
) -> Vec<(String, Vec<Difference>)> {
    differences
        .iter()
        .map(|(name, diffs)| {
            let d = if show_secrets {
                diffs.clone()
            } else {
                diffs.iter().map(mask_difference).collect()
            };
            (name.clone(), d)
        })
        .collect()
}

/// A copy of `d` with environment values masked when its field is (under) an `Env`. When both
/// sides are lists, only the entries that differ are kept, so that which variables changed stays
/// visible once their values are hidden.
pub fn mask_difference(d: &Difference) -> Difference {
    let under_env = d.field.split('.').any(|part| part == "Env");
    if !under_env {
        return d.clone();
    }
    let (expected, actual) = match (&d.expected, &d.actual) {
        (Value::Array(e), Value::Array(a)) => (
            Value::Array(e.iter().filter(|x| !a.contains(x)).cloned().collect()),
            Value::Array(a.iter().filter(|x| !e.contains(x)).cloned().collect()),
        ),
        (e, a) => (e.clone(), a.clone()),
    };
    Difference {
        field: d.field.clone(),
        expected: mask_entries(&expected),
        actual: mask_entries(&actual),
    }
}

/// One environment entry as it may be shown: `KEY=value` → `KEY=***`; a bare `KEY` stays. The
/// one place values are hidden (`show`, `diff`, `restore --dry-run`, `update`).
pub fn mask_entry(entry: &str) -> String {
    match entry.split_once('=') {
        Some((key, _)) => format!("{key}=***"),
        None => entry.to_string(),
    }
}

fn mask_entries(v: &Value) -> Value {
    match v {
        Value::String(entry) => Value::String(mask_entry(entry)),
        Value::Array(items) => Value::Array(items.iter().map(mask_entries).collect()),
        other => other.clone(),
    }
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

/// Removes object members that are "not set" (null, "", [], {}), recursively (after pruning their
/// own members). Array elements are kept: their positions matter.
fn prune(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| (k, prune(v)))
                .filter(|(_, v)| !is_empty(v))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(prune).collect()),
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const A: &str = include_str!("../../tests/fixtures/docker/container-a.json");
    const B: &str = include_str!("../../tests/fixtures/docker/container-b.json");
    const M: &str = include_str!("../../tests/fixtures/docker/container-m.json");
    const R: &str = include_str!("../../tests/fixtures/docker/container-r.json");
    const NET: &str = include_str!("../../tests/fixtures/docker/network-net1.json");
    const VOLUME: &str = include_str!("../../tests/fixtures/docker/volume.json");

    fn parse(s: &str) -> Value {
        serde_json::from_str(s).unwrap()
    }

    fn fields(d: &[Difference]) -> Vec<&str> {
        d.iter().map(|d| d.field.as_str()).collect()
    }

    #[test]
    fn identical_container_has_no_differences() {
        let a = parse(A);
        assert!(compare_containers(&a, &a).is_empty());
    }

    /// The same container recreated: new ID, timestamps, runtime addresses, generated names.
    fn recreated(a: &Value) -> Value {
        let mut r = a.clone();
        let new_id = "9".repeat(64);
        let old_short = a["Id"].as_str().unwrap()[..12].to_owned();
        r["Id"] = json!(new_id);
        r["Created"] = json!("2030-01-01T00:00:00Z");
        r["State"]["Pid"] = json!(4242);
        r["State"]["StartedAt"] = json!("2030-01-01T00:00:01Z");
        r["RestartCount"] = json!(2);
        r["LogPath"] = json!("/elsewhere");
        r["GraphDriver"] = json!({"Name": "overlay2"});
        r["HostConfig"]["ConsoleSize"] = json!([24, 80]);
        r["Config"]["Hostname"] = json!(&new_id[..12]);
        r["NetworkSettings"]["SandboxID"] = json!("x");
        r["NetworkSettings"]["Ports"] = json!({});
        for (_, ep) in r["NetworkSettings"]["Networks"].as_object_mut().unwrap() {
            ep["EndpointID"] = json!("y");
            ep["NetworkID"] = json!("z");
            ep["IPAddress"] = json!("10.9.9.9");
            ep["MacAddress"] = json!("02:42:0a:09:09:09");
            // Same aliases in another order, with the new short ID.
            let mut aliases: Vec<Value> = ep["Aliases"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|a| a.as_str() != Some(old_short.as_str()))
                .cloned()
                .collect();
            aliases.reverse();
            aliases.insert(0, json!(&new_id[..12]));
            ep["Aliases"] = Value::Array(aliases);
        }
        // Mounts in another order, anonymous volumes with new names.
        let mounts = r["Mounts"].as_array_mut().unwrap();
        mounts.reverse();
        for m in mounts.iter_mut() {
            if m["Name"].as_str().is_some_and(is_generated_volume_name) {
                m["Name"] = json!("f".repeat(64));
                m["Source"] = json!(format!("/var/lib/docker/volumes/{}/_data", "f".repeat(64)));
            }
        }
        r
    }

    #[test]
    fn runtime_and_generated_fields_ignored_alias_order_is_a_set() {
        let a = parse(A);
        let r = recreated(&a);
        assert_eq!(compare_containers(&a, &r), vec![]);
        let n = normalize_container(&a);
        assert_eq!(
            n["NetworkSettings"]["Networks"]["lbspec-net1"]["Aliases"],
            json!(["web", "www"])
        );
        assert!(n.get("Id").is_none() && n["Config"].get("Hostname").is_none());
        assert_eq!(
            n["Mounts"]["/anon"],
            json!({"Type": "volume", "Driver": "local", "RW": true})
        );
        assert_eq!(n["State"], json!({"Running": true}));
    }

    #[test]
    fn changed_memory_env_and_static_ip_found() {
        let a = parse(A);
        let mut r = recreated(&a);
        r["HostConfig"]["Memory"] = json!(134_217_728);
        r["Config"]["Env"] = json!(["PATH=/bin", "NEW=x", "FOO=bar"]);
        r["NetworkSettings"]["Networks"]["lbspec-net1"]["IPAMConfig"] = json!({});
        r["NetworkSettings"]["Networks"]["lbspec-net2"]["Aliases"] = json!(["other", "extra"]);
        r["Config"]["MacAddress"] = json!("");
        r["Image"] = json!("sha256:other");
        r["State"]["Running"] = json!(false);
        let d = compare_containers(&a, &r);
        assert_eq!(
            fields(&d),
            vec![
                "Config.Env",
                "Config.MacAddress",
                "HostConfig.Memory",
                "Image",
                "NetworkSettings.Networks.lbspec-net1.IPAMConfig",
                "NetworkSettings.Networks.lbspec-net2.Aliases",
                "State.Running",
            ]
        );
        assert_eq!(d[2].expected, json!(67_108_864));
        assert_eq!(d[2].actual, json!(134_217_728));
        assert_eq!(d[0].expected, json!(["FOO=override", "NEW=x", "PATH=/bin"]));
        assert_eq!(d[4].expected, json!({"IPv4Address": "172.30.0.10"}));
        assert_eq!(d[4].actual, Value::Null);
        // Env order alone is not a difference.
        let mut r = recreated(&a);
        r["Config"]["Env"] = json!(["PATH=/bin", "NEW=x", "FOO=override"]);
        assert!(compare_containers(&a, &r).is_empty());
    }

    #[test]
    fn never_started_vs_started_and_empty_spellings() {
        // m was captured before it ever started (no short-ID alias, no MAC, empty runtime fields).
        let f = parse(M);
        let mut started = f.clone();
        let short = f["Id"].as_str().unwrap()[..12].to_owned();
        let ep = &mut started["NetworkSettings"]["Networks"]["lbspec-net1"];
        ep["Aliases"] = json!(["alpha", short, "zed"]);
        ep["MacAddress"] = json!("02:42:ac:1e:00:02");
        ep["IPAddress"] = json!("172.30.0.2");
        started["HostConfig"]["Dns"] = Value::Null;
        started["HostConfig"]["CapAdd"] = json!([]);
        started["HostConfig"]["ExtraHosts"] = json!([]);
        started["Config"]["Domainname"] = Value::Null;
        assert!(compare_containers(&f, &started).is_empty());
    }

    #[test]
    fn container_mode_compared_by_name() {
        let b = parse(B);
        let mut r = b.clone();
        r["Id"] = json!("1".repeat(64));
        r["HostConfig"]["NetworkMode"] = json!(format!("container:{}", "2".repeat(64)));
        r["Config"]["Hostname"] = json!("222222222222");
        assert!(compare_containers(&b, &r).is_empty());
        let old_a =
            b["HostConfig"]["NetworkMode"].as_str().unwrap()["container:".len()..].to_owned();
        let exp: HashMap<_, _> = [(old_a, "lbspec-a".to_owned())].into();
        let act: HashMap<_, _> = [("2".repeat(64), "lbspec-other".to_owned())].into();
        let d = compare_containers_with(&b, &exp, &r, &act);
        assert_eq!(fields(&d), vec!["HostConfig.NetworkMode"]);
        assert_eq!(d[0].expected, "container:lbspec-a");
    }

    #[test]
    fn hostname_alias_and_restart_policy_spellings() {
        let r = parse(R);
        let mut n = r.clone();
        n["Id"] = json!("a".repeat(64));
        for (_, ep) in n["NetworkSettings"]["Networks"].as_object_mut().unwrap() {
            if let Some(aliases) = ep["Aliases"].as_array_mut() {
                aliases.retain(|a| a != "rhost" && a.as_str().is_some_and(|a| a.len() != 12));
            }
        }
        n["HostConfig"]["RestartPolicy"] =
            json!({"Name": "unless-stopped", "MaximumRetryCount": 0});
        assert!(compare_containers(&r, &n).is_empty());
        let no = json!({"HostConfig": {"RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}}});
        let unset = json!({"HostConfig": {"RestartPolicy": {"Name": "", "MaximumRetryCount": 0}}});
        assert!(compare_containers(&no, &unset).is_empty());
    }

    #[test]
    fn links_compared_as_set() {
        let a = json!({"HostConfig": {"Links": ["/x:/c/x", "/y:/c/y"]}});
        let b = json!({"HostConfig": {"Links": ["/y:/c/y", "/x:/c/x"]}});
        assert!(compare_containers(&a, &b).is_empty());
    }

    #[test]
    fn networks_compared_on_config_only() {
        let n = parse(NET);
        let mut r = n.clone();
        r["Id"] = json!("abc");
        r["Created"] = json!("now");
        r["Containers"] = json!({});
        r["IPAM"]["Options"] = Value::Null;
        r["Labels"] = Value::Null;
        assert!(compare_networks(&n, &r).is_empty());
        r["IPAM"]["Config"] = json!([{"Subnet": "172.31.0.0/24"}]);
        r["Internal"] = json!(true);
        assert_eq!(
            fields(&compare_networks(&n, &r)),
            vec!["IPAM.Config", "Internal"]
        );
        // IPAM.Config is a set.
        let two = json!({"IPAM": {"Config": [{"Subnet": "a"}, {"Subnet": "b"}]}});
        let owt = json!({"IPAM": {"Config": [{"Subnet": "b"}, {"Subnet": "a"}]}});
        assert!(compare_networks(&two, &owt).is_empty());
    }

    #[test]
    fn volumes_compared_without_runtime_fields() {
        let v = parse(VOLUME);
        let mut r = v.clone();
        r["Mountpoint"] = json!("/x");
        r["CreatedAt"] = json!("later");
        r["Options"] = json!({});
        assert!(compare_volumes(&v, &r).is_empty());
        r["Labels"] = json!({"k": "v"});
        assert_eq!(fields(&compare_volumes(&v, &r)), vec!["Labels"]);
        let anon = |n: char| json!({"Name": n.to_string().repeat(64), "Driver": "local"});
        assert!(compare_volumes(&anon('a'), &anon('b')).is_empty());
        assert_eq!(fields(&compare_volumes(&v, &anon('b'))), vec!["Name"]);
    }

    #[test]
    fn env_masking() {
        let a = parse(A);
        let masked = mask_env(&a);
        assert_eq!(
            masked["Config"]["Env"],
            json!(["FOO=***", "NEW=***", "PATH=***"])
        );
        assert_eq!(masked["HostConfig"], a["HostConfig"]);
        assert_eq!(
            mask_env(&json!({"Env": ["K=v=w", "BARE"]})),
            json!({"Env": ["K=***", "BARE"]})
        );
        assert_eq!(mask_env(&json!(["S=secret"])), json!(["S=***"]));
        let d = Difference {
            field: "Config.Env".into(),
            expected: json!(["TOKEN=abc"]),
            actual: Value::Null,
        };
        assert_eq!(mask_difference(&d).expected, json!(["TOKEN=***"]));
        // Only the entries that differ, so a changed value is seen without being shown.
        let d = Difference {
            field: "Config.Env".into(),
            expected: json!(["A=1", "B=2", "P=x"]),
            actual: json!(["A=1", "B=3", "P=x", "N=y"]),
        };
        let m = mask_difference(&d);
        assert_eq!(
            (m.expected, m.actual),
            (json!(["B=***"]), json!(["B=***", "N=***"]))
        );
        let d = Difference {
            field: "HostConfig.Memory".into(),
            expected: json!("A=b"),
            actual: json!(1),
        };
        assert_eq!(mask_difference(&d), d);
        // Hostile shapes are left alone.
        assert_eq!(
            mask_env(&json!({"Config": 1, "Env": {"a": 1}})),
            json!({"Config": 1, "Env": {"a": 1}})
        );
    }

    #[test]
    fn hostile_json_no_panics() {
        let weird = [
            json!(null),
            json!(1),
            json!("x"),
            json!([1, {}]),
            json!({"Id": 5, "Config": [], "HostConfig": "h", "Mounts": {"a": 1}, "NetworkSettings": {"Networks": [1]}}),
            json!({"Id": "é", "Config": {"Hostname": 1, "Env": "x"}, "HostConfig": {"NetworkMode": 1, "Links": 2},
                   "Mounts": [1, {"Destination": 3}, {"Type": "volume", "Name": 4}], "State": 1,
                   "NetworkSettings": {"Networks": {"n": 1, "m": {"Aliases": "a", "Links": {}}}}}),
            json!({"IPAM": 1, "Name": []}),
        ];
        for a in &weird {
            for b in &weird {
                let _ = compare_containers(a, b);
                let _ = compare_networks(a, b);
                let _ = compare_volumes(a, b);
                let _ = mask_env(a);
            }
        }
        assert_eq!(
            fields(&compare_containers(&json!(1), &json!(2))),
            vec!["(root)"]
        );
    }
}
