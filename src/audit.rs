//! `lifeboat audit`: the hardening points that matter on an ML Docker host, checked from a
//! snapshot or from the live host, each finding with the exact field or line that shows it. A
//! snapshot already holds everything needed (containers' inspect documents, the host profile's
//! files and firewall tool outputs, per-file SHA-256 of model weights), so auditing it tells what
//! the host looked like then; the live mode gathers the same [`Inputs`] from the engine and a
//! host root, and both run the one set of checks in [`run`].
//!
//! Severities follow what an attacker gains: `critical` is root on the host from inside a
//! container, `high` a direct path to it or to the host's login, `medium` a weakness that
//! widens exposure or hides tampering, `low` defence in depth. Container environment values are
//! never read by any check, so they cannot reach a finding.

pub mod firewall;
pub mod gather;
pub mod sshd;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::snapshot::deployment::{ContainerRecord, ImageRecord, jget, jstr};
use crate::snapshot::host::CommandOutput;

/// How bad a finding is; ordered, so `max()` is the worst.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl std::str::FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Severity, String> {
        Severity::ALL
            .into_iter()
            .find(|v| v.label().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("{s:?}: use info, low, medium, high or critical"))
    }
}

/// One problem found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable check ID (`container-root`), for scripts and suppression lists.
    pub id: &'static str,
    pub severity: Severity,
    /// What it is about: a container name, a host file path, a model path, `host`.
    pub subject: String,
    pub message: String,
    /// The field or line that shows it, quoted exactly.
    pub evidence: String,
}

/// The result of [`run`].
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// What was audited (`snapshot 1a2b3c4d of web1 at ...`, `live host`).
    pub source: String,
    /// IDs of the checks that ran.
    pub checked: Vec<String>,
    /// Checks that did not run, each `ID: why`.
    pub skipped: Vec<String>,
    /// Worst first.
    pub findings: Vec<Finding>,
}

impl Report {
    /// The worst severity among the findings.
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }

    /// Findings per severity, every severity present.
    pub fn counts(&self) -> BTreeMap<Severity, usize> {
        let mut c: BTreeMap<Severity, usize> = Severity::ALL.iter().map(|s| (*s, 0)).collect();
        for f in &self.findings {
            *c.entry(f.severity).or_default() += 1;
        }
        c
    }
}

/// Containers and the images they run.
#[derive(Clone, Debug, Default)]
pub struct DockerInputs {
    pub containers: Vec<ContainerRecord>,
    pub images: Vec<ImageRecord>,
}

/// A host file as read: its text, or why it could not be read. Absent files are not listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostFile {
    Text(String),
    Unreadable(String),
}

/// Host configuration files (by host path, `/etc/...`) and firewall tool outputs.
#[derive(Clone, Debug, Default)]
pub struct HostInputs {
    pub files: BTreeMap<String, HostFile>,
    /// Outputs of `iptables-save`, `nft-ruleset`, `ufw-status` (names as in
    /// [`crate::host::COMMANDS`]); empty when the tools were not run.
    pub commands: Vec<CommandOutput>,
    /// Why the tools were not run, when they were not.
    pub commands_note: Option<String>,
}

/// A model file whose bytes differ from a reference snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ModelChange {
    pub path: String,
    pub sha256_was: String,
    /// `None` when the file was not hashed (its size alone differs, or it is no longer a file).
    pub sha256_now: Option<String>,
    pub size_was: u64,
    pub size_now: Option<u64>,
}

/// Model files compared with a reference.
#[derive(Clone, Debug, Default)]
pub struct ModelInputs {
    /// The reference (`snapshot 1a2b3c4d at ...`).
    pub against: String,
    /// Where the current bytes come from (`snapshot 5e6f7a8b`, `the live file`).
    pub now: String,
    /// How many model files were compared.
    pub compared: usize,
    pub changed: Vec<ModelChange>,
}

/// Everything the checks look at. A `None` group is skipped; `skipped` says why.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    pub source: String,
    pub docker: Option<DockerInputs>,
    pub host: Option<HostInputs>,
    pub models: Option<ModelInputs>,
    /// `ID: why` for checks the gathering could not feed.
    pub skipped: Vec<String>,
}

pub const CONTAINER_CHECKS: &[&str] = &[
    "container-privileged",
    "container-docker-socket",
    "container-cap-add",
    "container-unconfined",
    "container-host-pid",
    "container-host-network",
    "container-root",
    "container-port-public",
    "container-no-new-privileges",
    "container-image-tag",
];
pub const HOST_CHECKS: &[&str] = &[
    "sshd-root-login",
    "sshd-password-auth",
    "host-no-firewall",
    "daemon-userns-remap",
    "daemon-no-new-privileges",
];
pub const MODEL_CHECKS: &[&str] = &["model-changed"];

pub const DAEMON_JSON: &str = "/etc/docker/daemon.json";
pub const SSHD_CONFIG: &str = "/etc/ssh/sshd_config";

/// Run every check the inputs allow.
pub fn run(inputs: &Inputs) -> Report {
    let mut r = Report {
        source: inputs.source.clone(),
        checked: Vec::new(),
        skipped: inputs.skipped.clone(),
        findings: Vec::new(),
    };
    let daemon = inputs.host.as_ref().map(|h| daemon_json(&h.files));
    if let Some(d) = &inputs.docker {
        // The daemon turns no-new-privileges on for every container (known only with the
        // host's files).
        let daemon_nnp = daemon
            .as_ref()
            .is_some_and(|d| d.no_new_privileges.is_none());
        for c in &d.containers {
            check_container(c, &d.images, daemon_nnp, &mut r.findings);
        }
        r.checked
            .extend(CONTAINER_CHECKS.iter().map(|s| (*s).to_string()));
    }
    if let (Some(h), Some(d)) = (&inputs.host, &daemon) {
        check_sshd(h, &mut r);
        check_firewall(h, &mut r.findings);
        r.checked.push("host-no-firewall".into());
        if let Some(f) = &d.userns_remap {
            r.findings.push(f.clone());
        }
        if let Some(f) = &d.no_new_privileges {
            r.findings.push(f.clone());
        }
        r.checked.push("daemon-userns-remap".into());
        r.checked.push("daemon-no-new-privileges".into());
    }
    if let Some(m) = &inputs.models {
        for c in &m.changed {
            r.findings.push(model_finding(c, m));
        }
        r.checked.push("model-changed".into());
    }
    r.findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(a.id.cmp(b.id))
            .then(a.subject.cmp(&b.subject))
    });
    r
}

fn finding(
    id: &'static str,
    severity: Severity,
    subject: &str,
    message: impl Into<String>,
    evidence: impl Into<String>,
) -> Finding {
    Finding {
        id,
        severity,
        subject: subject.to_string(),
        message: message.into(),
        evidence: evidence.into(),
    }
}

/// A JSON value as it appears in the inspect document, for evidence.
fn quoted(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// Capabilities that give a container a short way to the host: `ALL` is every capability
/// (privileged without the devices); these others break out of namespaces, load kernel code,
/// read any file, trace host-visible processes or rewrite the host's network.
const DANGEROUS_CAPS: &[&str] = &[
    "SYS_ADMIN",
    "NET_ADMIN",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_PTRACE",
    "DAC_READ_SEARCH",
    "BPF",
    "PERFMON",
    "SYS_BOOT",
    "MAC_ADMIN",
    "MAC_OVERRIDE",
];

/// Docker's default capability set: adding one of these changes nothing.
const DEFAULT_CAPS: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "FSETID",
    "FOWNER",
    "MKNOD",
    "NET_RAW",
    "SETGID",
    "SETUID",
    "SETFCAP",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "KILL",
    "AUDIT_WRITE",
];

/// Host paths whose bind mount hands a container the Docker socket: the socket itself, or a
/// directory it is in.
const SOCKET_PATHS: &[&str] = &["/var/run/docker.sock", "/run/docker.sock"];
const SOCKET_DIRS: &[&str] = &["/", "/run", "/var/run"];

fn normalize(p: &str) -> String {
    let parts: Vec<&str> = p
        .split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .collect();
    format!("/{}", parts.join("/"))
}

/// The Docker socket mounted into a container: the evidence, and whether it is the socket's
/// directory rather than the socket.
fn socket_mount(inspect: &Value) -> Option<(String, bool)> {
    let mut dir = false;
    let mut exposes = |src: &str| {
        let n = normalize(src);
        dir = SOCKET_DIRS.contains(&n.as_str());
        SOCKET_PATHS.contains(&n.as_str()) || dir
    };
    for (i, b) in jget(inspect, "HostConfig.Binds")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let s = b.as_str().unwrap_or("");
        if s.starts_with('/') && exposes(s.split(':').next().unwrap_or("")) {
            return Some((format!("HostConfig.Binds[{i}]: {}", quoted(b)), dir));
        }
    }
    for field in ["HostConfig.Mounts", "Mounts"] {
        for (i, m) in jget(inspect, field)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            if m.get("Type").and_then(Value::as_str) == Some("bind")
                && exposes(m.get("Source").and_then(Value::as_str).unwrap_or(""))
            {
                let dst = m
                    .get("Destination")
                    .or_else(|| m.get("Target"))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                return Some((
                    format!(
                        "{field}[{i}]: Type \"bind\", Source {}, Destination \"{dst}\"",
                        quoted(&m["Source"])
                    ),
                    dir,
                ));
            }
        }
    }
    None
}

/// Whether a `Config.Image` reference pins content: `name@sha256:...`, or an image ID.
fn pinned(reference: &str, image_id: &str) -> bool {
    if reference.contains("@sha256:") {
        return true;
    }
    let hex = reference.strip_prefix("sha256:").unwrap_or(reference);
    let id_hex = image_id.strip_prefix("sha256:").unwrap_or(image_id);
    (reference.starts_with("sha256:") || hex.len() >= 12)
        && hex.bytes().all(|b| b.is_ascii_hexdigit())
        && !id_hex.is_empty()
        && id_hex.starts_with(&hex.to_ascii_lowercase())
}

/// The security options of a container, lowercase, `key:value` written as `key=value`.
fn security_opts(inspect: &Value) -> Vec<String> {
    jget(inspect, "HostConfig.SecurityOpt")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|s| s.to_ascii_lowercase().replacen(':', "=", 1))
        .collect()
}

/// The container checks. `daemon_nnp`: the daemon sets `no-new-privileges` for every
/// container, so a container need not ask for it.
fn check_container(
    c: &ContainerRecord,
    images: &[ImageRecord],
    daemon_nnp: bool,
    out: &mut Vec<Finding>,
) {
    let i = &c.inspect;
    let name = c.name.as_str();
    let hc = |k: &str| jget(i, &format!("HostConfig.{k}"));

    // critical: a privileged container has every capability and every host device; root in it
    // is root on the host.
    if hc("Privileged").and_then(Value::as_bool) == Some(true) {
        out.push(finding(
            "container-privileged",
            Severity::Critical,
            name,
            "runs privileged: all capabilities and host devices, root in it is root on the host",
            "HostConfig.Privileged: true",
        ));
    }
    // critical: the Docker API is root on the host (start a privileged container, mount /).
    if let Some((ev, dir)) = socket_mount(i) {
        let what = if dir {
            "the directory holding the Docker socket is mounted"
        } else {
            "the Docker socket is mounted"
        };
        out.push(finding(
            "container-docker-socket",
            Severity::Critical,
            name,
            format!("{what}: whoever controls the container controls the host"),
            ev,
        ));
    }
    // critical for ALL, high for the capabilities in DANGEROUS_CAPS, medium for any other:
    // every added capability is kernel attack surface the default set left out (adding one of
    // the defaults changes nothing and is not reported).
    let caps = hc("CapAdd").and_then(Value::as_array);
    let names: Vec<String> = caps
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|s| {
            let u = s.to_ascii_uppercase();
            u.strip_prefix("CAP_").map_or(u.clone(), str::to_string)
        })
        .filter(|n| !DEFAULT_CAPS.contains(&n.as_str()))
        .collect();
    if let (Some(caps), false) = (caps, names.is_empty()) {
        let sev = if names.iter().any(|n| n == "ALL") {
            Severity::Critical
        } else if names.iter().any(|n| DANGEROUS_CAPS.contains(&n.as_str())) {
            Severity::High
        } else {
            Severity::Medium
        };
        out.push(finding(
            "container-cap-add",
            sev,
            name,
            format!("adds capabilities: {}", names.join(", ")),
            format!("HostConfig.CapAdd: {}", quoted(&Value::Array(caps.clone()))),
        ));
    }
    let opts = security_opts(i);
    // high: without seccomp or AppArmor the kernel's whole syscall surface is reachable.
    for opt in opts
        .iter()
        .filter(|o| *o == "seccomp=unconfined" || *o == "apparmor=unconfined")
    {
        out.push(finding(
            "container-unconfined",
            Severity::High,
            name,
            format!(
                "{} profile disabled",
                opt.split('=').next().unwrap_or_default()
            ),
            format!("HostConfig.SecurityOpt contains \"{opt}\""),
        ));
    }
    // high: the host's PID namespace shows every host process; with root in the container
    // they can be signalled and, with SYS_PTRACE, entered.
    if hc("PidMode").and_then(Value::as_str) == Some("host") {
        out.push(finding(
            "container-host-pid",
            Severity::High,
            name,
            "shares the host's process namespace (--pid=host)",
            "HostConfig.PidMode: \"host\"",
        ));
    }
    // medium: the host's network namespace: every port the container opens is open on every
    // host interface, and services bound to the host's 127.0.0.1 are reachable.
    if hc("NetworkMode").and_then(Value::as_str) == Some("host") {
        out.push(finding(
            "container-host-network",
            Severity::Medium,
            name,
            "shares the host's network namespace (--network=host)",
            "HostConfig.NetworkMode: \"host\"",
        ));
    }
    // medium: root in the container is root on the host after any escape (uid 0 unless the
    // daemon remaps user namespaces).
    let user = jstr(i, "Config.User");
    let uid = user.split(':').next().unwrap_or("");
    if uid.is_empty() || uid == "root" || uid == "0" {
        let why = if user.is_empty() {
            "runs as root (no user set in the image or with --user)"
        } else {
            "runs as root"
        };
        out.push(finding(
            "container-root",
            Severity::Medium,
            name,
            why,
            format!("Config.User: \"{user}\""),
        ));
    }
    // medium: Docker publishes ports through its own iptables chains, ahead of the host
    // firewall's INPUT rules, so a port bound on every address is reachable from anywhere the
    // host is.
    if let Some(b) = hc("PortBindings").and_then(Value::as_object) {
        let mut public = Vec::new();
        for (port, list) in b {
            for binding in list.as_array().into_iter().flatten() {
                let ip = binding.get("HostIp").and_then(Value::as_str).unwrap_or("");
                if matches!(ip, "" | "0.0.0.0" | "::" | "[::]") {
                    let hp = binding
                        .get("HostPort")
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    public.push(format!(
                        "HostConfig.PortBindings[\"{port}\"]: HostIp \"{ip}\", HostPort \"{hp}\""
                    ));
                }
            }
        }
        if !public.is_empty() {
            out.push(finding(
                "container-port-public",
                Severity::Medium,
                name,
                format!(
                    "{} port binding(s) on every host address (Docker's rules bypass the host firewall)",
                    public.len()
                ),
                public.join("; "),
            ));
        }
    }
    // low: a setuid binary in the image can raise privileges inside the container; defence
    // in depth, asked per container or by the daemon's default.
    if !daemon_nnp
        && !opts
            .iter()
            .any(|o| o == "no-new-privileges" || o == "no-new-privileges=true")
    {
        out.push(finding(
            "container-no-new-privileges",
            Severity::Low,
            name,
            "setuid binaries can raise privileges (no no-new-privileges, here or as the daemon's default)",
            format!(
                "HostConfig.SecurityOpt: {}",
                quoted(hc("SecurityOpt").unwrap_or(&Value::Null))
            ),
        ));
    }
    // low: a tag can be moved to other content (a compromised registry or a careless push);
    // a digest pins the bytes. Low because it needs a registry-side compromise.
    let reference = jstr(i, "Config.Image");
    if !reference.is_empty() && !pinned(reference, &c.image_id) {
        let pin = images
            .iter()
            .find(|im| im.id == c.image_id)
            .and_then(|im| im.digests.first());
        let hint = match pin {
            Some(d) => format!(" (pin it as {d})"),
            None => " (the image has no registry digest)".into(),
        };
        out.push(finding(
            "container-image-tag",
            Severity::Low,
            name,
            "image referenced by tag, not by digest: the tag can be moved to other content",
            format!("Config.Image: \"{reference}\"{hint}"),
        ));
    }
}

fn check_sshd(h: &HostInputs, r: &mut Report) {
    let texts: BTreeMap<String, String> = h
        .files
        .iter()
        .filter_map(|(p, f)| match f {
            HostFile::Text(t) => Some((p.clone(), t.clone())),
            HostFile::Unreadable(_) => None,
        })
        .collect();
    match h.files.get(SSHD_CONFIG) {
        None => {
            for id in ["sshd-root-login", "sshd-password-auth"] {
                r.skipped.push(format!("{id}: {SSHD_CONFIG} not present"));
            }
            return;
        }
        Some(HostFile::Unreadable(why)) => {
            for id in ["sshd-root-login", "sshd-password-auth"] {
                r.skipped.push(format!("{id}: {SSHD_CONFIG}: {why}"));
            }
            return;
        }
        Some(HostFile::Text(_)) => {}
    }
    let cfg = sshd::parse(&texts, SSHD_CONFIG);
    let yes = |s: &sshd::Setting| s.value.eq_ignore_ascii_case("yes");
    // high: a root password login is one guessed password from owning the host.
    // Inside a Match block it applies to some connections only: medium.
    if let Some(s) = cfg.effective("PermitRootLogin").filter(|s| yes(s)) {
        r.findings.push(finding(
            "sshd-root-login",
            Severity::High,
            &s.file,
            "sshd lets root log in with a password",
            s.evidence(),
        ));
    }
    for s in cfg.conditional("PermitRootLogin").filter(|s| yes(s)) {
        r.findings.push(finding(
            "sshd-root-login",
            Severity::Medium,
            &s.file,
            "sshd lets root log in with a password for connections this Match block selects",
            s.evidence(),
        ));
    }
    // medium: passwords can be guessed or reused; keys cannot. OpenSSH's default is yes, so
    // an unset keyword is a finding too. Inside a Match block: low.
    match cfg.effective("PasswordAuthentication") {
        Some(s) if yes(s) => r.findings.push(finding(
            "sshd-password-auth",
            Severity::Medium,
            &s.file,
            "sshd accepts password logins",
            s.evidence(),
        )),
        Some(_) => {}
        None => r.findings.push(finding(
            "sshd-password-auth",
            Severity::Medium,
            SSHD_CONFIG,
            "sshd accepts password logins (not set: OpenSSH's default is yes)",
            format!("PasswordAuthentication not set in {}", cfg.files.join(", ")),
        )),
    }
    for s in cfg.conditional("PasswordAuthentication").filter(|s| yes(s)) {
        r.findings.push(finding(
            "sshd-password-auth",
            Severity::Low,
            &s.file,
            "sshd accepts password logins for connections this Match block selects",
            s.evidence(),
        ));
    }
    for n in cfg.notes {
        r.skipped.push(format!("sshd: {n}"));
    }
    r.checked.push("sshd-root-login".into());
    r.checked.push("sshd-password-auth".into());
}

/// A reader of one firewall format.
type Parser = fn(&str) -> firewall::Verdict;

/// Firewall state files, each with its parser.
const FIREWALL_FILES: &[(&str, Parser)] = &[
    ("/etc/iptables/rules.v4", firewall::iptables),
    ("/etc/nftables.conf", firewall::nft),
    ("/etc/ufw/ufw.conf", firewall::ufw_conf),
];

/// medium: nothing on the host drops inbound traffic, so every listening service (sshd, a
/// model server's admin port, an exporter) is reachable from anywhere the host is. Medium, not
/// high: cloud security groups often stand in, and this check cannot see them.
fn check_firewall(h: &HostInputs, out: &mut Vec<Finding>) {
    let mut live = Vec::new();
    let mut live_seen = false;
    for c in &h.commands {
        let parse: Parser = match c.name.as_str() {
            "iptables-save" => firewall::iptables,
            "nft-ruleset" => firewall::nft,
            "ufw-status" => firewall::ufw_status,
            _ => continue,
        };
        let label = c.argv.join(" ");
        if c.status == "ok" {
            let v = parse(&c.stdout);
            if v.is_filtering() {
                return;
            }
            live_seen = true;
            live.push(format!("`{label}`: {}", v.text()));
        } else {
            live.push(format!("`{label}`: {}", c.status));
        }
    }
    if let Some(n) = &h.commands_note {
        live.push(n.clone());
    }
    let mut files = Vec::new();
    let mut configured = None;
    for (path, parse) in FIREWALL_FILES {
        match h.files.get(*path) {
            None => files.push(format!("{path}: not present")),
            Some(HostFile::Unreadable(why)) => files.push(format!("{path}: {why}")),
            Some(HostFile::Text(t)) => {
                let v = parse(t);
                if v.is_filtering() && configured.is_none() {
                    configured = Some(format!("{path}: {}", v.text()));
                }
                files.push(format!("{path}: {}", v.text()));
            }
        }
    }
    if live_seen {
        // The kernel's rules are the truth; a configuration that filters but is not loaded
        // does not protect anything.
        let mut ev = live;
        if let Some(c) = configured {
            ev.push(format!("configured but not loaded: {c}"));
        }
        out.push(finding(
            "host-no-firewall",
            Severity::Medium,
            "host",
            "no host firewall filters inbound traffic",
            ev.join("; "),
        ));
    } else if configured.is_none() {
        let mut ev = live;
        ev.extend(files);
        out.push(finding(
            "host-no-firewall",
            Severity::Medium,
            "host",
            "no host firewall is configured (no loaded rules could be read)",
            ev.join("; "),
        ));
    }
}

/// The daemon.json findings (either may be `None`).
struct Daemon {
    userns_remap: Option<Finding>,
    no_new_privileges: Option<Finding>,
}

/// medium for `userns-remap`: without it uid 0 in a container is uid 0 on the host, so every
/// escape is a root escape. low for `no-new-privileges`: the daemon-wide default of the
/// per-container option (defence in depth against setuid binaries).
fn daemon_json(files: &BTreeMap<String, HostFile>) -> Daemon {
    let both = |ev: String| Daemon {
        userns_remap: Some(finding(
            "daemon-userns-remap",
            Severity::Medium,
            DAEMON_JSON,
            "containers' root is the host's root: no user-namespace remapping",
            ev.clone(),
        )),
        no_new_privileges: Some(finding(
            "daemon-no-new-privileges",
            Severity::Low,
            DAEMON_JSON,
            "containers may gain privileges through setuid binaries: no daemon-wide no-new-privileges",
            ev,
        )),
    };
    let text = match files.get(DAEMON_JSON) {
        None => return both(format!("{DAEMON_JSON}: not present")),
        Some(HostFile::Unreadable(why)) => return both(format!("{DAEMON_JSON}: {why}")),
        Some(HostFile::Text(t)) => t,
    };
    let v: Value = match serde_json::from_str(text) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => return both(format!("{DAEMON_JSON}: not a JSON object")),
        Err(e) => return both(format!("{DAEMON_JSON}: not valid JSON ({e})")),
    };
    let mut d = both(String::new());
    match v.get("userns-remap") {
        Some(Value::String(s)) if !s.trim().is_empty() => d.userns_remap = None,
        Some(other) => set_ev(
            &mut d.userns_remap,
            format!("\"userns-remap\": {}", quoted(other)),
        ),
        None => set_ev(
            &mut d.userns_remap,
            format!("{DAEMON_JSON}: no \"userns-remap\" key"),
        ),
    }
    match v.get("no-new-privileges") {
        Some(Value::Bool(true)) => d.no_new_privileges = None,
        Some(other) => set_ev(
            &mut d.no_new_privileges,
            format!("\"no-new-privileges\": {}", quoted(other)),
        ),
        None => set_ev(
            &mut d.no_new_privileges,
            format!("{DAEMON_JSON}: no \"no-new-privileges\" key"),
        ),
    }
    d
}

fn set_ev(f: &mut Option<Finding>, ev: String) {
    if let Some(f) = f {
        f.evidence = ev;
    }
}

/// medium: model weights whose bytes changed serve different answers with no error anywhere;
/// it may be a planned update, so it is for review, not an alarm.
fn model_finding(c: &ModelChange, m: &ModelInputs) -> Finding {
    let now = match (&c.sha256_now, c.size_now) {
        (Some(h), _) => format!("sha256 {h}"),
        (None, Some(s)) => format!("size {s}"),
        (None, None) => "not a regular file".into(),
    };
    let size = match c.size_now {
        Some(s) if s != c.size_was => format!("; size {} -> {s}", c.size_was),
        _ => String::new(),
    };
    finding(
        "model-changed",
        Severity::Medium,
        &c.path,
        format!("model file changed since {}", m.against),
        format!(
            "sha256 {} in {} -> {now} in {}{size}",
            c.sha256_was, m.against, m.now
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn container(name: &str, inspect: Value) -> ContainerRecord {
        ContainerRecord {
            name: name.into(),
            id: format!("{name}-id"),
            image_id: "sha256:41ca82900d20aaaabbbbccccddddeeeeffff0000111122223333444455556666"
                .into(),
            inspect,
        }
    }

    /// A hardened container: nothing to report.
    fn hardened() -> Value {
        json!({
            "Image": "sha256:41ca82900d20aaaabbbbccccddddeeeeffff0000111122223333444455556666",
            "Config": {"User": "1000:1000", "Image": "registry.example/llm@sha256:0123", "Env": ["HF_TOKEN=hf_secret_value"]},
            "HostConfig": {"Privileged": false, "CapAdd": null, "SecurityOpt": ["no-new-privileges"],
                           "PortBindings": {}, "NetworkMode": "bridge", "PidMode": "", "Binds": ["/srv/models:/models:ro"]},
            "Mounts": [{"Type": "bind", "Source": "/srv/models", "Destination": "/models"}]
        })
    }

    /// Findings of one container (no host inputs: the daemon's defaults are unknown).
    fn audit_one(inspect: Value) -> Vec<Finding> {
        let inputs = Inputs {
            docker: Some(DockerInputs {
                containers: vec![container("c", inspect)],
                images: Vec::new(),
            }),
            ..Inputs::default()
        };
        run(&inputs).findings
    }

    fn with(mut v: Value, path: &str, x: Value) -> Value {
        let mut cur = &mut v;
        for k in path.split('.') {
            cur = &mut cur[k];
        }
        *cur = x;
        v
    }

    fn ids(f: &[Finding]) -> Vec<&'static str> {
        f.iter().map(|f| f.id).collect()
    }

    fn one<'f>(f: &'f [Finding], id: &str) -> &'f Finding {
        let found: Vec<_> = f.iter().filter(|f| f.id == id).collect();
        assert_eq!(found.len(), 1, "{id}: {f:#?}");
        found[0]
    }

    #[test]
    fn severity_orders_parses_and_serializes() {
        assert!(Severity::Info < Severity::Low && Severity::High < Severity::Critical);
        assert_eq!("HIGH".parse::<Severity>(), Ok(Severity::High));
        assert!("severe".parse::<Severity>().is_err());
        assert_eq!(serde_json::to_value(Severity::Medium).unwrap(), "medium");
    }

    #[test]
    fn hardened_container_has_no_findings() {
        let f = audit_one(hardened());
        assert!(f.is_empty(), "{f:#?}");
    }

    #[test]
    fn root_user_forms() {
        for user in ["", "root", "0", "0:0", "root:root"] {
            let f = audit_one(with(hardened(), "Config.User", json!(user)));
            assert_eq!(ids(&f), ["container-root"], "{user:?}");
            assert_eq!(f[0].evidence, format!("Config.User: \"{user}\""));
            assert_eq!(f[0].severity, Severity::Medium);
        }
        for user in ["1000", "1000:0", "nobody", "appuser:root"] {
            assert!(
                audit_one(with(hardened(), "Config.User", json!(user))).is_empty(),
                "{user}"
            );
        }
    }

    #[test]
    fn privileged_and_namespaces() {
        let f = audit_one(with(hardened(), "HostConfig.Privileged", json!(true)));
        let p = one(&f, "container-privileged");
        assert_eq!(
            (p.severity, p.evidence.as_str()),
            (Severity::Critical, "HostConfig.Privileged: true")
        );
        let f = audit_one(with(hardened(), "HostConfig.PidMode", json!("host")));
        assert_eq!(one(&f, "container-host-pid").severity, Severity::High);
        let f = audit_one(with(hardened(), "HostConfig.NetworkMode", json!("host")));
        assert_eq!(
            one(&f, "container-host-network").evidence,
            "HostConfig.NetworkMode: \"host\""
        );
    }

    #[test]
    fn capabilities_by_danger() {
        for (caps, sev) in [
            (json!(["NET_ADMIN"]), Severity::High),
            (json!(["CAP_SYS_ADMIN"]), Severity::High),
            (json!(["SYS_TIME", "ALL"]), Severity::Critical),
            (json!(["SYS_NICE", "IPC_LOCK"]), Severity::Medium),
        ] {
            let f = audit_one(with(hardened(), "HostConfig.CapAdd", caps.clone()));
            let c = one(&f, "container-cap-add");
            assert_eq!(c.severity, sev, "{caps}");
            assert_eq!(c.evidence, format!("HostConfig.CapAdd: {caps}"));
        }
        assert!(audit_one(with(hardened(), "HostConfig.CapAdd", json!([]))).is_empty());
        // Already in Docker's default set: nothing added.
        let defaults = json!(["CHOWN", "cap_net_bind_service"]);
        assert!(audit_one(with(hardened(), "HostConfig.CapAdd", defaults)).is_empty());
    }

    #[test]
    fn docker_socket_in_binds_mounts_or_its_directory() {
        let f = audit_one(with(
            hardened(),
            "HostConfig.Binds",
            json!([
                "/srv/models:/models:ro",
                "/var/run/docker.sock:/var/run/docker.sock"
            ]),
        ));
        let s = one(&f, "container-docker-socket");
        assert_eq!(s.severity, Severity::Critical);
        assert_eq!(
            s.evidence,
            "HostConfig.Binds[1]: \"/var/run/docker.sock:/var/run/docker.sock\""
        );
        let f = audit_one(with(
            hardened(),
            "Mounts",
            json!([{"Type": "bind", "Source": "/run//docker.sock", "Destination": "/sock"}]),
        ));
        assert!(
            one(&f, "container-docker-socket")
                .evidence
                .starts_with("Mounts[0]: Type \"bind\"")
        );
        let f = audit_one(with(
            hardened(),
            "HostConfig.Binds",
            json!(["/var/run:/host-run"]),
        ));
        one(&f, "container-docker-socket");
        // A named volume called like the socket, or a look-alike path, is not the socket.
        for b in [
            "docker.sock:/x",
            "/var/run/docker.sock.bak:/x",
            "/srv/run:/x",
        ] {
            assert!(
                audit_one(with(hardened(), "HostConfig.Binds", json!([b]))).is_empty(),
                "{b}"
            );
        }
    }

    #[test]
    fn public_ports() {
        let bindings = json!({
            "8080/tcp": [{"HostIp": "", "HostPort": "8080"}],
            "9090/tcp": [{"HostIp": "127.0.0.1", "HostPort": "9090"}],
            "8443/tcp": [{"HostIp": "0.0.0.0", "HostPort": "443"}, {"HostIp": "::", "HostPort": "443"}]
        });
        let f = audit_one(with(hardened(), "HostConfig.PortBindings", bindings));
        let p = one(&f, "container-port-public");
        assert!(
            p.evidence
                .contains("HostConfig.PortBindings[\"8080/tcp\"]: HostIp \"\", HostPort \"8080\""),
            "{p:?}"
        );
        assert!(p.evidence.contains("HostIp \"0.0.0.0\", HostPort \"443\""));
        assert!(p.evidence.contains("HostIp \"::\""));
        assert!(!p.evidence.contains("9090"));
        let local = json!({"9090/tcp": [{"HostIp": "127.0.0.1", "HostPort": "9090"}]});
        assert!(audit_one(with(hardened(), "HostConfig.PortBindings", local)).is_empty());
    }

    #[test]
    fn image_references() {
        let f = audit_one(with(
            hardened(),
            "Config.Image",
            json!("vllm/vllm-openai:latest"),
        ));
        let t = one(&f, "container-image-tag");
        assert_eq!(t.severity, Severity::Low);
        assert!(
            t.evidence
                .starts_with("Config.Image: \"vllm/vllm-openai:latest\"")
        );
        // By image ID (full or a prefix of the container's image): pinned.
        for pinned in [
            "sha256:41ca82900d20aaaabbbbccccddddeeeeffff0000111122223333444455556666",
            "41ca82900d20",
        ] {
            assert!(
                audit_one(with(hardened(), "Config.Image", json!(pinned))).is_empty(),
                "{pinned}"
            );
        }
        // A hex-looking tag that is not this image's ID is a tag.
        assert!(!audit_one(with(hardened(), "Config.Image", json!("deadbeefcafe"))).is_empty());
        // The image's registry digest is offered as the pin.
        let inputs = Inputs {
            docker: Some(DockerInputs {
                containers: vec![container(
                    "c",
                    with(hardened(), "Config.Image", json!("llm:1")),
                )],
                images: vec![ImageRecord {
                    id: "sha256:41ca82900d20aaaabbbbccccddddeeeeffff0000111122223333444455556666"
                        .into(),
                    tags: vec!["llm:1".into()],
                    digests: vec!["llm@sha256:abcd".into()],
                    inspect: Value::Null,
                    archive: None,
                    size: 0,
                }],
            }),
            ..Inputs::default()
        };
        let r = run(&inputs);
        assert!(
            r.findings[0]
                .evidence
                .ends_with("(pin it as llm@sha256:abcd)"),
            "{r:?}"
        );
    }

    #[test]
    fn security_options() {
        let f = audit_one(with(
            hardened(),
            "HostConfig.SecurityOpt",
            json!([
                "no-new-privileges:true",
                "seccomp=unconfined",
                "apparmor:unconfined"
            ]),
        ));
        assert_eq!(ids(&f), ["container-unconfined", "container-unconfined"]);
        let f = audit_one(with(
            hardened(),
            "HostConfig.SecurityOpt",
            json!(["no-new-privileges:false"]),
        ));
        assert_eq!(
            one(&f, "container-no-new-privileges").severity,
            Severity::Low
        );
        assert!(
            audit_one(with(
                hardened(),
                "HostConfig.SecurityOpt",
                json!(["no-new-privileges=true"])
            ))
            .is_empty()
        );
        // The daemon's default makes the per-container option unnecessary.
        let mut host = HostInputs::default();
        host.files.insert(
            DAEMON_JSON.into(),
            HostFile::Text(r#"{"userns-remap": "default", "no-new-privileges": true}"#.into()),
        );
        let inputs = Inputs {
            docker: Some(DockerInputs {
                containers: vec![container(
                    "c",
                    with(hardened(), "HostConfig.SecurityOpt", json!(null)),
                )],
                images: Vec::new(),
            }),
            host: Some(host),
            ..Inputs::default()
        };
        let r = run(&inputs);
        assert!(
            !ids(&r.findings).contains(&"container-no-new-privileges"),
            "{r:#?}"
        );
    }

    #[test]
    fn env_values_never_reach_findings() {
        let mut v = hardened();
        v["HostConfig"]["Privileged"] = json!(true);
        v["Config"]["User"] = json!("");
        v["Config"]["Image"] = json!("llm:1");
        let f = audit_one(v);
        assert!(f.len() >= 3);
        let all = serde_json::to_string(&f).unwrap();
        assert!(!all.contains("hf_secret_value") && !all.contains("HF_TOKEN"));
    }

    fn host(files: &[(&str, &str)], commands: &[(&str, &str, &str)]) -> Inputs {
        Inputs {
            host: Some(HostInputs {
                files: files
                    .iter()
                    .map(|(p, t)| ((*p).to_string(), HostFile::Text((*t).to_string())))
                    .collect(),
                commands: commands
                    .iter()
                    .map(|(name, status, out)| CommandOutput {
                        name: (*name).into(),
                        argv: vec![(*name).into()],
                        status: (*status).into(),
                        exit_code: None,
                        stdout: (*out).into(),
                        stderr: String::new(),
                    })
                    .collect(),
                commands_note: None,
            }),
            ..Inputs::default()
        }
    }

    const GOOD_DAEMON: (&str, &str) = (
        DAEMON_JSON,
        r#"{"userns-remap": "default", "no-new-privileges": true}"#,
    );
    const FILTERING: (&str, &str, &str) = ("ufw-status", "ok", "Status: active\n");

    #[test]
    fn sshd_findings_follow_sshd_semantics() {
        let r = run(&host(
            &[
                (
                    SSHD_CONFIG,
                    "Include /etc/ssh/sshd_config.d/*.conf\nPermitRootLogin yes\nPasswordAuthentication no\n",
                ),
                (
                    "/etc/ssh/sshd_config.d/50-cloud-init.conf",
                    "PasswordAuthentication yes\n",
                ),
                GOOD_DAEMON,
            ],
            &[FILTERING],
        ));
        assert_eq!(
            ids(&r.findings),
            ["sshd-root-login", "sshd-password-auth"],
            "{r:#?}"
        );
        assert_eq!(r.findings[0].severity, Severity::High);
        assert_eq!(
            r.findings[0].evidence,
            "/etc/ssh/sshd_config:2: PermitRootLogin yes"
        );
        assert_eq!(
            r.findings[1].subject,
            "/etc/ssh/sshd_config.d/50-cloud-init.conf"
        );
        assert!(r.checked.contains(&"sshd-root-login".to_string()));

        // Unset PasswordAuthentication is OpenSSH's default, yes; prohibit-password is fine.
        let r = run(&host(
            &[
                (SSHD_CONFIG, "PermitRootLogin prohibit-password\n"),
                GOOD_DAEMON,
            ],
            &[FILTERING],
        ));
        let p = one(&r.findings, "sshd-password-auth");
        assert!(
            p.message.contains("default is yes") && p.evidence.contains("not set"),
            "{p:?}"
        );
        assert!(!ids(&r.findings).contains(&"sshd-root-login"));

        // A Match block scopes the value: reported lower.
        let r = run(&host(
            &[
                (
                    SSHD_CONFIG,
                    "PasswordAuthentication no\nMatch User ops\n  PermitRootLogin yes\n",
                ),
                GOOD_DAEMON,
            ],
            &[FILTERING],
        ));
        let m = one(&r.findings, "sshd-root-login");
        assert_eq!(m.severity, Severity::Medium);
        assert!(m.evidence.ends_with("(in \"Match User ops\")"));

        // No sshd_config: the sshd checks are skipped, and say so.
        let r = run(&host(&[GOOD_DAEMON], &[FILTERING]));
        assert!(r.findings.is_empty(), "{r:#?}");
        assert!(r.skipped.iter().any(|s| s.starts_with("sshd-root-login: ")));
        assert!(!r.checked.contains(&"sshd-root-login".to_string()));
    }

    #[test]
    fn daemon_json() {
        let only = |r: &Report| -> Vec<(&'static str, String)> {
            r.findings
                .iter()
                .filter(|f| f.id.starts_with("daemon-"))
                .map(|f| (f.id, f.evidence.clone()))
                .collect()
        };
        let missing = run(&host(&[], &[FILTERING]));
        assert_eq!(
            only(&missing),
            [
                ("daemon-userns-remap", format!("{DAEMON_JSON}: not present")),
                (
                    "daemon-no-new-privileges",
                    format!("{DAEMON_JSON}: not present")
                ),
            ]
        );
        let partial = run(&host(
            &[(
                DAEMON_JSON,
                r#"{"no-new-privileges": false, "log-driver": "json-file"}"#,
            )],
            &[FILTERING],
        ));
        assert_eq!(
            only(&partial),
            [
                (
                    "daemon-userns-remap",
                    format!("{DAEMON_JSON}: no \"userns-remap\" key")
                ),
                (
                    "daemon-no-new-privileges",
                    "\"no-new-privileges\": false".to_string()
                ),
            ]
        );
        let invalid = run(&host(&[(DAEMON_JSON, "{\"userns-remap\": ")], &[FILTERING]));
        assert!(only(&invalid)[0].1.contains("not valid JSON"));
        assert!(only(&run(&host(&[GOOD_DAEMON], &[FILTERING]))).is_empty());
        let empty = run(&host(
            &[(
                DAEMON_JSON,
                r#"{"userns-remap": "", "no-new-privileges": true}"#,
            )],
            &[FILTERING],
        ));
        assert_eq!(
            only(&empty),
            [("daemon-userns-remap", "\"userns-remap\": \"\"".to_string())]
        );
    }

    #[test]
    fn firewall_from_tools_then_files() {
        let fw = |r: &Report| {
            r.findings
                .iter()
                .find(|f| f.id == "host-no-firewall")
                .cloned()
        };
        // Tools ran, nothing filters.
        let open = run(&host(
            &[GOOD_DAEMON],
            &[
                (
                    "iptables-save",
                    "ok",
                    "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\nCOMMIT\n",
                ),
                ("nft-ruleset", "missing", ""),
                ("ufw-status", "ok", "Status: inactive\n"),
            ],
        ));
        let f = fw(&open).expect("finding");
        assert_eq!(f.severity, Severity::Medium);
        assert!(
            f.evidence.contains(":INPUT ACCEPT [0:0]")
                && f.evidence.contains("Status: inactive")
                && f.evidence.contains("`nft-ruleset`: missing"),
            "{f:?}"
        );
        // One tool shows filtering: no finding.
        let on = run(&host(
            &[GOOD_DAEMON],
            &[(
                "iptables-save",
                "ok",
                "*filter\n:INPUT DROP [0:0]\nCOMMIT\n",
            )],
        ));
        assert!(fw(&on).is_none());
        // Configured but not loaded: still a finding, and it says so.
        let r = run(&host(
            &[GOOD_DAEMON, ("/etc/ufw/ufw.conf", "ENABLED=yes\n")],
            &[("ufw-status", "ok", "Status: inactive\n")],
        ));
        assert!(
            fw(&r)
                .unwrap()
                .evidence
                .contains("configured but not loaded: /etc/ufw/ufw.conf")
        );
        // No tool output: the files decide.
        let files_on = run(&host(
            &[
                GOOD_DAEMON,
                (
                    "/etc/nftables.conf",
                    "table inet f {\n chain input {\n  type filter hook input priority 0; policy drop;\n }\n}\n",
                ),
            ],
            &[("nft-ruleset", "failed", "")],
        ));
        assert!(fw(&files_on).is_none(), "{files_on:#?}");
        let nothing = run(&host(&[GOOD_DAEMON], &[]));
        let f = fw(&nothing).unwrap();
        assert!(
            f.evidence.contains("/etc/iptables/rules.v4: not present"),
            "{f:?}"
        );
    }

    #[test]
    fn model_changes_and_report_order() {
        let inputs = Inputs {
            source: "test".into(),
            models: Some(ModelInputs {
                against: "snapshot aaaaaaaa".into(),
                now: "snapshot bbbbbbbb".into(),
                compared: 2,
                changed: vec![ModelChange {
                    path: "/srv/models/m.safetensors".into(),
                    sha256_was: "11".repeat(32),
                    sha256_now: Some("22".repeat(32)),
                    size_was: 10,
                    size_now: Some(12),
                }],
            }),
            docker: Some(DockerInputs {
                containers: vec![container(
                    "p",
                    with(hardened(), "HostConfig.Privileged", json!(true)),
                )],
                images: Vec::new(),
            }),
            ..Inputs::default()
        };
        let r = run(&inputs);
        assert_eq!(ids(&r.findings), ["container-privileged", "model-changed"]);
        let m = &r.findings[1];
        assert_eq!(
            (m.severity, m.subject.as_str()),
            (Severity::Medium, "/srv/models/m.safetensors")
        );
        assert!(
            m.evidence.contains(&format!(
                "sha256 {} in snapshot aaaaaaaa -> sha256 {} in snapshot bbbbbbbb; size 10 -> 12",
                "11".repeat(32),
                "22".repeat(32)
            )),
            "{m:?}"
        );
        assert_eq!(r.worst(), Some(Severity::Critical));
        assert_eq!(r.counts()[&Severity::Critical], 1);
        assert!(r.checked.contains(&"model-changed".to_string()));
        assert!(!r.checked.iter().any(|c| c.starts_with("sshd")));
    }
}
