//! A container's mounts: sorted into anonymous volumes, named volumes and bind sources for the
//! spec, and the anonymous volumes a replacement container keeps by name.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde_json::{Map, Value};

use super::json::{get_str, value_list, value_obj, value_str_list};
use super::{SpecError, is_generated_volume_name};

#[derive(Debug, Default)]
pub(super) struct Volumes {
    pub(super) anonymous: Vec<(String, String)>,
    pub(super) named: Vec<String>,
    pub(super) binds: Vec<String>,
}

/// Sorts the container's mounts into anonymous volumes, named volumes and bind sources.
pub(super) fn volumes(
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
    let live_anon = live_anonymous(live);
    if live_anon.is_empty() {
        return Vec::new();
    }
    let Some(req) = body.as_object_mut() else {
        return Vec::new();
    };
    let (taken, anon_mounts) = request_mounts(req.get("HostConfig").unwrap_or(&Value::Null));
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
        append_binds(req, binds_to_add);
    }
    carried
}

/// The engine-named volumes of a live container, by destination: (name, read-write).
fn live_anonymous(live: &Value) -> BTreeMap<String, (String, bool)> {
    let mut out = BTreeMap::new();
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
            out.insert(dest.to_owned(), (name.to_owned(), rw));
        }
    }
    out
}

/// What a create request's `HostConfig` mounts itself: (destinations taken by a name, a bind
/// or a tmpfs; targets of `Mounts` volumes without a source, which get anonymous volumes).
fn request_mounts(host: &Value) -> (HashSet<String>, HashSet<String>) {
    let mut taken: HashSet<String> = HashSet::new();
    for bind in host
        .get("Binds")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        let mut parts = bind.split(':');
        if let (Some(source), Some(dest)) = (parts.next(), parts.next())
            && !source.is_empty()
        {
            taken.insert(dest.to_owned());
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
    (taken, anon_mounts)
}

/// Add entries to the request's `HostConfig.Binds`, creating it (or replacing a value that is
/// not a list) as needed.
fn append_binds(req: &mut Map<String, Value>, binds_to_add: Vec<Value>) {
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
