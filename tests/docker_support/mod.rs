//! Docker fixtures for `tests/docker.rs`: is an engine there (and must it be, in CI), the local
//! test images (`scripts/test-image`), uniquely prefixed objects that are removed on drop, the
//! `docker` CLI as a checked helper, a raw Engine API call for what the CLI of a newer version
//! cannot send to an older engine, and an independent field-by-field comparison of container
//! inspects and of volume contents.
//!
//! The comparison is written here, not taken from the library: the tests check the product, so
//! they must not share its idea of which fields matter.
#![allow(dead_code)]

pub mod bare;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::process::{Command, Output, Stdio};
use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

/// The test images `scripts/test-image` builds (see its header for their defaults).
pub const IMAGE_1: &str = "lifeboat-test:1";
pub const IMAGE_2: &str = "lifeboat-test:2";

// ---------------------------------------------------------------------------------------------
// Is there an engine?
// ---------------------------------------------------------------------------------------------

/// Whether a Docker engine answers. In CI (`CI=true`) a missing engine fails the test loudly:
/// the Docker suite must never pass there by skipping. Elsewhere the test prints why it skips.
pub fn docker_available() -> bool {
    static CHECK: std::sync::OnceLock<Result<String, String>> = std::sync::OnceLock::new();
    let res = CHECK.get_or_init(|| {
        match Command::new("docker")
            .args(["version", "--format", "{{.Server.Version}}"])
            .stdin(Stdio::null())
            .output()
        {
            Ok(o) if o.status.success() => Ok(String::from_utf8_lossy(&o.stdout).trim().into()),
            Ok(o) => Err(format!(
                "`docker version` failed: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            )),
            Err(e) => Err(format!("cannot run the docker CLI: {e}")),
        }
    });
    match res {
        Ok(_) => true,
        Err(why) => {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
            assert!(
                !ci,
                "CI=true but the Docker engine is unreachable ({why}); the Docker tests must run \
                 in CI: start the engine (`service docker start`) or fix DOCKER_HOST"
            );
            eprintln!("skipping Docker test: {why}");
            false
        }
    }
}

/// Build `lifeboat-test:1` and `:2` once per test process (the script is idempotent and takes a
/// lock, so several test binaries may call it at once).
pub fn ensure_test_image() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| run_image_script(&[]));
}

/// Build one more image like `lifeboat-test:1` but with its own content and ID, under `tag`.
/// A test that deletes its image uses one of these so that it never pulls the shared image
/// from under a test running in parallel.
pub fn build_private_image(tag: &str) {
    run_image_script(&[tag]);
}

fn run_image_script(args: &[&str]) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/test-image");
    let out = Command::new("bash")
        .arg(script)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {script}: {e}"));
    assert!(
        out.status.success(),
        "{script} {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---------------------------------------------------------------------------------------------
// The docker CLI
// ---------------------------------------------------------------------------------------------

/// Run `docker ARGS` and return its output, success or not.
pub fn docker_out(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running docker {args:?}: {e}"))
}

/// Run `docker ARGS`, require success, return stdout with the trailing newline trimmed.
pub fn docker(args: &[&str]) -> String {
    let out = docker_out(args);
    assert!(
        out.status.success(),
        "docker {} failed ({:?}):\nstdout: {}\nstderr: {}",
        args.join(" "),
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim_end().to_string()
}

/// Owned-argument form of [`docker`], for argument lists built at run time.
pub fn docker_v(args: &[String]) -> String {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    docker(&a)
}

/// The raw inspect of one object (container, volume, network or image), as the engine sent it.
pub fn inspect_kind(kind: &str, name: &str) -> Value {
    let out = docker(&[kind, "inspect", name]);
    let v: Value = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("docker {kind} inspect {name}: not JSON ({e})"));
    v.as_array()
        .and_then(|a| a.first())
        .cloned()
        .unwrap_or_else(|| panic!("docker {kind} inspect {name}: empty answer"))
}

/// The raw inspect of a container.
pub fn inspect(name: &str) -> Value {
    inspect_kind("container", name)
}

/// Whether an object exists (`kind` is container, volume, network or image).
pub fn exists(kind: &str, name: &str) -> bool {
    docker_out(&[kind, "inspect", name]).status.success()
}

/// `docker inspect -f {{.State.Running}}`.
pub fn is_running(name: &str) -> bool {
    let out = docker_out(&["container", "inspect", "-f", "{{.State.Running}}", name]);
    out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "true"
}

/// Wait until `cond` holds, at most `timeout`; returns whether it did.
pub fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Unix time now as `SECS.NANOS`, the form `docker events --since/--until` accepts.
pub fn docker_time_now() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970");
    format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
}

/// POST a JSON body to the Engine API over its Unix socket; returns the parsed answer.
///
/// Used only where this machine's docker CLI (newer than the engine) refuses a flag the engine
/// accepts, e.g. a container-wide MAC address (`Config.MacAddress`, API 1.41).
pub fn api_post(path_and_query: &str, body: &Value) -> Value {
    let host = std::env::var("DOCKER_HOST").unwrap_or_default();
    let sock = if host.is_empty() {
        "/var/run/docker.sock".to_string()
    } else if let Some(path) = host.strip_prefix("unix://") {
        path.to_string()
    } else {
        panic!("DOCKER_HOST={host}: the tests reach the API only over a Unix socket")
    };
    let body = serde_json::to_vec(body).expect("json body");
    let mut s = std::os::unix::net::UnixStream::connect(&sock)
        .unwrap_or_else(|e| panic!("connecting to {sock}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(120))).ok();
    let head = format!(
        "POST {path_and_query} HTTP/1.0\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).expect("write request");
    s.write_all(&body).expect("write body");
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).expect("read response");
    let resp = String::from_utf8_lossy(&resp).into_owned();
    let (head, payload) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    assert!(
        (200..300).contains(&status),
        "POST {path_and_query} -> {status}: {payload}"
    );
    serde_json::from_str(payload.trim()).unwrap_or(Value::Null)
}

// ---------------------------------------------------------------------------------------------
// Uniquely named objects, removed on drop
// ---------------------------------------------------------------------------------------------

/// A unique name prefix (`lbt-<pid>-<rand>-`) for one test's containers, volumes, networks and
/// images. On drop, every object whose name starts with it is removed, with the anonymous
/// volumes of its containers.
pub struct Prefix(pub String);

impl Prefix {
    pub fn new() -> Prefix {
        static N: AtomicU64 = AtomicU64::new(0);
        let seed = format!(
            "{}-{}-{:?}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed),
            std::time::SystemTime::now()
        );
        let rand = &blake3::hash(seed.as_bytes()).to_hex()[..6];
        Prefix(format!("lbt-{}-{rand}-", std::process::id()))
    }

    /// `PREFIX + suffix`.
    pub fn n(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.0)
    }

    /// Names of this prefix's containers (all states).
    pub fn containers(&self) -> Vec<String> {
        let out = docker(&[
            "ps",
            "-a",
            "--filter",
            &format!("name=^/{}", self.0),
            "--format",
            "{{.Names}}",
        ]);
        out.lines()
            .filter(|l| l.starts_with(&self.0))
            .map(str::to_string)
            .collect()
    }

    /// Names of this prefix's volumes.
    pub fn volumes(&self) -> Vec<String> {
        let out = docker(&[
            "volume",
            "ls",
            "-q",
            "--filter",
            &format!("name={}", self.0),
        ]);
        out.lines()
            .filter(|l| l.starts_with(&self.0))
            .map(str::to_string)
            .collect()
    }

    /// Names of this prefix's networks.
    pub fn networks(&self) -> Vec<String> {
        let out = docker(&[
            "network",
            "ls",
            "--filter",
            &format!("name={}", self.0),
            "--format",
            "{{.Name}}",
        ]);
        out.lines()
            .filter(|l| l.starts_with(&self.0))
            .map(str::to_string)
            .collect()
    }

    /// `repo:tag` of this prefix's images.
    pub fn images(&self) -> Vec<String> {
        let out = docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
        out.lines()
            .filter(|l| l.starts_with(&self.0))
            .map(str::to_string)
            .collect()
    }

    /// Remove everything with this prefix (errors ignored: best effort, also used mid-test).
    pub fn cleanup(&self) {
        let containers = self.containers();
        let mut anon = Vec::new();
        for c in &containers {
            let o = docker_out(&["container", "inspect", c]);
            if let Ok(v) = serde_json::from_slice::<Value>(&o.stdout) {
                for m in v[0]["Mounts"].as_array().into_iter().flatten() {
                    if m["Type"] == "volume"
                        && let Some(n) = m["Name"].as_str()
                        && is_anonymous_name(n)
                    {
                        anon.push(n.to_string());
                    }
                }
            }
        }
        if !containers.is_empty() {
            let mut a = vec!["rm", "-f", "-v"];
            a.extend(containers.iter().map(String::as_str));
            docker_out(&a);
        }
        let mut vols = self.volumes();
        vols.extend(anon);
        for v in &vols {
            docker_out(&["volume", "rm", "-f", v]);
        }
        for n in self.networks() {
            docker_out(&["network", "rm", &n]);
        }
        for i in self.images() {
            docker_out(&["rmi", "-f", &i]);
        }
    }
}

impl Drop for Prefix {
    fn drop(&mut self) {
        if std::env::var_os("LBT_KEEP").is_some() {
            eprintln!("LBT_KEEP set: leaving Docker objects {}*", self.0);
            return;
        }
        self.cleanup();
    }
}

/// Whether a volume name is one the engine generated (64 hex digits): an anonymous volume.
pub fn is_anonymous_name(n: &str) -> bool {
    n.len() == 64 && n.bytes().all(|b| b.is_ascii_hexdigit())
}

// ---------------------------------------------------------------------------------------------
// Independent comparison of container inspects
// ---------------------------------------------------------------------------------------------

/// Container ID -> name, for the containers of one side of a comparison (IDs differ after a
/// restore; names do not). References to a container (`container:<id>` modes, the generated
/// hostname and network alias = 12-character ID prefix) are written as `<id of NAME>`.
pub type Ids = BTreeMap<String, String>;

/// The ID map of these containers, read from their inspects.
pub fn ids_of(inspects: &[&Value]) -> Ids {
    inspects
        .iter()
        .map(|v| {
            (
                v["Id"].as_str().expect("Id").to_string(),
                v["Name"]
                    .as_str()
                    .expect("Name")
                    .trim_start_matches('/')
                    .to_string(),
            )
        })
        .collect()
}

fn rewrite_ids(s: &str, ids: &Ids) -> String {
    for (id, name) in ids {
        if s == id || s == &id[..12] {
            return format!("<id of {name}>");
        }
        if let Some(rest) = s.strip_prefix("container:")
            && (rest == id || rest == &id[..12] || rest == name)
        {
            return format!("container:{name}");
        }
    }
    s.to_string()
}

fn rewrite_all(v: &mut Value, ids: &Ids) {
    match v {
        Value::String(s) => *s = rewrite_ids(s, ids),
        Value::Array(a) => a.iter_mut().for_each(|x| rewrite_all(x, ids)),
        Value::Object(o) => o.values_mut().for_each(|x| rewrite_all(x, ids)),
        _ => {}
    }
}

/// The replayable part of a container inspect: what must be equal after an exact restore.
///
/// Dropped (runtime or generated): Id, Created, State, RestartCount, ExecIDs, the host paths
/// (ResolvConfPath, HostnamePath, HostsPath, LogPath, GraphDriver), sizes, the default runtime
/// (filled in at the first start), and NetworkSettings except, per network, IPAMConfig, Links,
/// DriverOpts and the aliases the user set (sorted). Mounts are keyed by destination, with
/// anonymous volume names and volume host paths blanked. Container references are by name (see
/// [`Ids`]). Empty lists and maps are kept: `[]` is not null.
pub fn replayable(inspect: &Value, ids: &Ids) -> Value {
    let mut v = inspect.clone();
    rewrite_all(&mut v, ids);
    let o = v.as_object_mut().expect("inspect is an object");
    for k in [
        "Id",
        "Created",
        "State",
        "RestartCount",
        "ExecIDs",
        "ResolvConfPath",
        "HostnamePath",
        "HostsPath",
        "LogPath",
        "GraphDriver",
        "SizeRw",
        "SizeRootFs",
        // The engine's storage driver, not a setting of the container.
        "Driver",
    ] {
        o.remove(k);
    }
    // The default runtime: the docker CLI names it at create, an API client does not, and the
    // engine fills it in when the container first starts (a restored container that was
    // stopped is never started). "runc" and none are the same runtime.
    if let Some(h) = o.get_mut("HostConfig").and_then(Value::as_object_mut)
        && h.get("Runtime").and_then(Value::as_str) == Some("runc")
    {
        h.remove("Runtime");
    }
    // The aliases the engine adds by itself (the container's short ID, and its hostname when
    // that is not its name): generated, like the ID. Here after the rewrite above.
    let name = o
        .get("Name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim_start_matches('/')
        .to_string();
    let mut generated = vec![format!("<id of {name}>")];
    if let Some(host) = o
        .get("Config")
        .and_then(|c| c.get("Hostname"))
        .and_then(Value::as_str)
        .filter(|h| !h.is_empty() && *h != name)
    {
        generated.push(host.to_string());
    }
    // Networks: only what a user sets per endpoint, as the engine shows it (`{}` and `[]` are
    // not null: `docker network connect` sends `{}`, an API client null).
    let mut nets = Map::new();
    if let Some(ns) = o
        .get("NetworkSettings")
        .and_then(|n| n.get("Networks"))
        .and_then(Value::as_object)
    {
        for (name, ep) in ns {
            let mut keep = Map::new();
            for k in ["IPAMConfig", "Links", "DriverOpts"] {
                keep.insert(k.into(), ep.get(k).cloned().unwrap_or(Value::Null));
            }
            keep.insert("Aliases".into(), user_aliases(&ep["Aliases"], &generated));
            nets.insert(name.clone(), keep.into());
        }
    }
    o.insert(
        "NetworkSettings".into(),
        serde_json::json!({ "Networks": nets }),
    );
    // Mounts: by destination, anonymous names blanked, host paths of volumes dropped.
    let mut mounts = Map::new();
    for m in o
        .get("Mounts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let mut m = m.clone();
        let mo = m.as_object_mut().expect("mount object");
        if mo.get("Type").and_then(Value::as_str) == Some("volume") {
            mo.remove("Source");
            if mo
                .get("Name")
                .and_then(Value::as_str)
                .is_some_and(is_anonymous_name)
            {
                mo.insert("Name".into(), "<anonymous>".into());
            }
        }
        let dest = mo
            .get("Destination")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string();
        mounts.insert(dest, m);
    }
    o.insert("Mounts".into(), mounts.into());
    v
}

/// An endpoint's aliases without the generated ones, sorted. Once the engine added one, whether
/// the user's list was `[]` or null cannot be seen any more: then an empty rest is null. A list
/// without generated aliases (a container never started) stays as it is, `[]` included.
fn user_aliases(aliases: &Value, generated: &[String]) -> Value {
    let Some(list) = aliases.as_array() else {
        return aliases.clone();
    };
    let is_generated = |a: &Value| a.as_str().is_some_and(|a| generated.iter().any(|g| g == a));
    let mut own: Vec<Value> = list.iter().filter(|a| !is_generated(a)).cloned().collect();
    if own.is_empty() && own.len() != list.len() {
        return Value::Null;
    }
    own.sort_by_key(Value::to_string);
    Value::Array(own)
}

/// Every difference between the replayable parts of two inspects, one
/// `"path: expected X vs actual Y"` line each.
pub fn compare_inspects(
    expected: &Value,
    exp_ids: &Ids,
    actual: &Value,
    act_ids: &Ids,
) -> Vec<String> {
    let name = expected["Name"]
        .as_str()
        .unwrap_or("?")
        .trim_start_matches('/');
    let (e, a) = (replayable(expected, exp_ids), replayable(actual, act_ids));
    let mut out = Vec::new();
    diff_values(name, &e, &a, &mut out);
    out
}

/// Whether a value is "nothing": null, which an absent key is too. `[]` and `{}` are values:
/// the docker CLI sends `"Dns": []` where an API client sends null, the engine keeps what it
/// got, and `docker inspect` shows two different containers, so an exact restore keeps them
/// apart.
fn is_nothing(v: &Value) -> bool {
    v.is_null()
}

/// Recursive structural diff; `path` names the position (`Config.Env[2]`).
pub fn diff_values(path: &str, e: &Value, a: &Value, out: &mut Vec<String>) {
    if is_nothing(e) && is_nothing(a) {
        return;
    }
    match (e, a) {
        (Value::Object(eo), Value::Object(ao)) => {
            let keys: std::collections::BTreeSet<&String> = eo.keys().chain(ao.keys()).collect();
            for k in keys {
                let p = format!("{path}.{k}");
                match (eo.get(k), ao.get(k)) {
                    (Some(x), Some(y)) => diff_values(&p, x, y, out),
                    (Some(x), None) if !is_nothing(x) => {
                        out.push(format!("{p}: expected {x} vs actual <absent>"));
                    }
                    (None, Some(y)) if !is_nothing(y) => {
                        out.push(format!("{p}: expected <absent> vs actual {y}"));
                    }
                    _ => {}
                }
            }
        }
        (Value::Array(ea), Value::Array(aa)) if ea.len() == aa.len() => {
            for (i, (x, y)) in ea.iter().zip(aa).enumerate() {
                diff_values(&format!("{path}[{i}]"), x, y, out);
            }
        }
        _ if e == a => {}
        _ => out.push(format!("{path}: expected {e} vs actual {a}")),
    }
}

/// The user-visible definition of a volume: name, driver, options, labels.
pub fn volume_def(name: &str) -> Value {
    let v = inspect_kind("volume", name);
    serde_json::json!({
        "Name": v["Name"], "Driver": v["Driver"], "Options": v["Options"],
        "Labels": v["Labels"], "Scope": v["Scope"],
    })
}

/// The user-visible definition of a network; the IPAM pools only when `with_ipam_config`
/// (an auto-assigned subnet need not come back the same).
pub fn network_def(name: &str, with_ipam_config: bool) -> Value {
    let v = inspect_kind("network", name);
    let mut d = serde_json::json!({
        "Name": v["Name"], "Driver": v["Driver"], "Options": v["Options"],
        "Labels": v["Labels"], "Internal": v["Internal"], "Attachable": v["Attachable"],
        "EnableIPv6": v["EnableIPv6"], "Scope": v["Scope"], "Ingress": v["Ingress"],
        "IPAMDriver": v["IPAM"]["Driver"], "IPAMOptions": v["IPAM"]["Options"],
    });
    if with_ipam_config {
        d["IPAMConfig"] = v["IPAM"]["Config"].clone();
    }
    d
}

// ---------------------------------------------------------------------------------------------
// Volume contents, read through `docker cp CONTAINER:PATH -` (a tar stream)
// ---------------------------------------------------------------------------------------------

/// One object of a listing: `type mode uid:gid mtime size content-hash/link-target`.
pub type Listing = BTreeMap<String, String>;

/// Every object below `path` in container `name` (the path itself included, as `.`), read as
/// the engine archives it: type, permission bits, numeric owner, mtime, size, BLAKE3 of the
/// content, symlink targets. Names of one hard-linked file all show the file, plus the list of
/// its names (which name the archive stores first is the engine's choice).
pub fn listing(name: &str, path: &str) -> Listing {
    let out = docker_out(&["cp", &format!("{name}:{path}"), "-"]);
    assert!(
        out.status.success(),
        "docker cp {name}:{path} - failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The archive's first component is the basename of `path`.
    let rel_of = |full: &str| match full.trim_end_matches('/').split_once('/') {
        Some((_, r)) => r.to_string(),
        None => ".".to_string(),
    };
    let mut ar = tar::Archive::new(&out.stdout[..]);
    let mut l = Listing::new();
    let mut hard: Vec<(String, String)> = Vec::new();
    for entry in ar.entries().expect("tar entries") {
        let mut en = entry.expect("tar entry");
        let h = en.header().clone();
        let rel = rel_of(&en.path().expect("entry path").to_string_lossy());
        let link = en
            .link_name()
            .ok()
            .flatten()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let kind = match h.entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => "file",
            tar::EntryType::Directory => "dir",
            tar::EntryType::Symlink => "symlink",
            tar::EntryType::Link => {
                hard.push((rel, rel_of(&link)));
                continue;
            }
            tar::EntryType::Fifo => "fifo",
            tar::EntryType::Char => "char",
            tar::EntryType::Block => "block",
            _ => "other",
        };
        let mut body = Vec::new();
        en.read_to_end(&mut body).expect("entry data");
        let what = match kind {
            "symlink" => format!("-> {link}"),
            "file" => blake3::hash(&body).to_hex()[..16].to_string(),
            _ => String::new(),
        };
        l.insert(
            rel,
            format!(
                "{kind} {:04o} {}:{} mtime={} size={} {what}",
                h.mode().unwrap_or(0) & 0o7777,
                h.uid().unwrap_or(0),
                h.gid().unwrap_or(0),
                h.mtime().unwrap_or(0),
                body.len(),
            ),
        );
    }
    // Hard links: every name shows the file and the group of names.
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, target) in &hard {
        let g = groups
            .entry(target.clone())
            .or_insert_with(|| vec![target.clone()]);
        g.push(name.clone());
    }
    for (target, mut names) in groups {
        names.sort();
        let line = l
            .get(&target)
            .cloned()
            .unwrap_or_else(|| "<link target missing>".into());
        for n in &names {
            l.insert(n.clone(), format!("{line} hard-linked as {names:?}"));
        }
    }
    l
}

/// Every difference between two listings, prefixed with `what`.
pub fn compare_listings(what: &str, expected: &Listing, actual: &Listing) -> Vec<String> {
    let mut out = Vec::new();
    for (k, e) in expected {
        match actual.get(k) {
            None => out.push(format!("{what}/{k}: missing (expected {e})")),
            Some(a) if a != e => out.push(format!("{what}/{k}: expected {e} vs actual {a}")),
            Some(_) => {}
        }
    }
    for (k, a) in actual {
        if !expected.contains_key(k) {
            out.push(format!("{what}/{k}: unexpected object {a}"));
        }
    }
    out
}

/// The volume name mounted at `dest` in an inspect.
pub fn volume_at(inspect: &Value, dest: &str) -> Option<String> {
    inspect["Mounts"]
        .as_array()?
        .iter()
        .find(|m| m["Destination"] == dest)
        .and_then(|m| m["Name"].as_str())
        .map(str::to_string)
}
