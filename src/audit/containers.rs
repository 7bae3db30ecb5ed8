//! The container checks, as one table: each row is a check's stable ID, its title, the worst
//! severity it reports and the function that finds it in an inspect document, so the list of
//! IDs a report names as checked is the table itself and cannot drift from the checks.

use serde_json::Value;

use super::{Check, Finding, Severity, quoted};
use crate::snapshot::deployment::{ContainerRecord, ImageRecord, jget, jstr};

/// One container check: what it is (ID, title, worst severity) and the function that finds it.
pub struct ContainerCheck {
    pub check: Check,
    find: fn(&Subject<'_>) -> Vec<Hit>,
}

/// Every container check, in the order a report names them as checked.
pub const CHECKS: &[ContainerCheck] = &[
    ContainerCheck {
        check: Check {
            id: "container-privileged",
            severity: Severity::Critical,
            title: "runs privileged",
        },
        find: privileged,
    },
    ContainerCheck {
        check: Check {
            id: "container-docker-socket",
            severity: Severity::Critical,
            title: "the Docker socket (or its directory) is mounted",
        },
        find: docker_socket,
    },
    ContainerCheck {
        check: Check {
            id: "container-cap-add",
            severity: Severity::Critical,
            title: "adds capabilities beyond Docker's default set",
        },
        find: cap_add,
    },
    ContainerCheck {
        check: Check {
            id: "container-unconfined",
            severity: Severity::High,
            title: "seccomp or AppArmor disabled",
        },
        find: unconfined,
    },
    ContainerCheck {
        check: Check {
            id: "container-host-pid",
            severity: Severity::High,
            title: "shares the host's process namespace",
        },
        find: host_pid,
    },
    ContainerCheck {
        check: Check {
            id: "container-host-network",
            severity: Severity::Medium,
            title: "shares the host's network namespace",
        },
        find: host_network,
    },
    ContainerCheck {
        check: Check {
            id: "container-root",
            severity: Severity::Medium,
            title: "runs as root",
        },
        find: root_user,
    },
    ContainerCheck {
        check: Check {
            id: "container-port-public",
            severity: Severity::Medium,
            title: "publishes a port on every host address",
        },
        find: public_ports,
    },
    ContainerCheck {
        check: Check {
            id: "container-no-new-privileges",
            severity: Severity::Low,
            title: "setuid binaries can raise privileges",
        },
        find: no_new_privileges,
    },
    ContainerCheck {
        check: Check {
            id: "container-image-tag",
            severity: Severity::Low,
            title: "image referenced by tag, not by digest",
        },
        find: image_tag,
    },
];

/// What a container check looks at.
struct Subject<'a> {
    c: &'a ContainerRecord,
    images: &'a [ImageRecord],
    /// The daemon sets `no-new-privileges` for every container, so a container need not ask
    /// for it.
    daemon_nnp: bool,
    /// [`security_opts`] of the container.
    opts: Vec<String>,
}

impl Subject<'_> {
    /// A `HostConfig` field of the inspect document.
    fn hc(&self, key: &str) -> Option<&Value> {
        jget(&self.c.inspect, &format!("HostConfig.{key}"))
    }
}

/// One finding of a check, before the table gives it its ID and subject.
struct Hit {
    message: String,
    evidence: String,
    /// `None`: the check's severity. Set by the checks that grade what they find.
    severity: Option<Severity>,
}

/// A check's one hit at the check's own severity.
fn hit(message: impl Into<String>, evidence: impl Into<String>) -> Vec<Hit> {
    vec![Hit {
        message: message.into(),
        evidence: evidence.into(),
        severity: None,
    }]
}

/// Run every check of the table on one container. `daemon_nnp`: the daemon sets
/// `no-new-privileges` for every container.
pub(super) fn check_container(
    c: &ContainerRecord,
    images: &[ImageRecord],
    daemon_nnp: bool,
    out: &mut Vec<Finding>,
) {
    let subject = Subject {
        c,
        images,
        daemon_nnp,
        opts: security_opts(&c.inspect),
    };
    for row in CHECKS {
        for h in (row.find)(&subject) {
            let severity = h.severity.unwrap_or(row.check.severity);
            out.push(row.check.graded(severity, &c.name, h.message, h.evidence));
        }
    }
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

/// critical: a privileged container has every capability and every host device; root in it is
/// root on the host.
fn privileged(s: &Subject<'_>) -> Vec<Hit> {
    if s.hc("Privileged").and_then(Value::as_bool) != Some(true) {
        return Vec::new();
    }
    hit(
        "runs privileged: all capabilities and host devices, root in it is root on the host",
        "HostConfig.Privileged: true",
    )
}

/// critical: the Docker API is root on the host (start a privileged container, mount /).
fn docker_socket(s: &Subject<'_>) -> Vec<Hit> {
    let Some((ev, dir)) = socket_mount(&s.c.inspect) else {
        return Vec::new();
    };
    let what = if dir {
        "the directory holding the Docker socket is mounted"
    } else {
        "the Docker socket is mounted"
    };
    hit(
        format!("{what}: whoever controls the container controls the host"),
        ev,
    )
}

/// critical for ALL, high for the capabilities in DANGEROUS_CAPS, medium for any other: every
/// added capability is kernel attack surface the default set left out (adding one of the
/// defaults changes nothing and is not reported).
fn cap_add(s: &Subject<'_>) -> Vec<Hit> {
    let caps = s.hc("CapAdd").and_then(Value::as_array);
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
    let (Some(caps), false) = (caps, names.is_empty()) else {
        return Vec::new();
    };
    let severity = if names.iter().any(|n| n == "ALL") {
        Severity::Critical
    } else if names.iter().any(|n| DANGEROUS_CAPS.contains(&n.as_str())) {
        Severity::High
    } else {
        Severity::Medium
    };
    vec![Hit {
        message: format!("adds capabilities: {}", names.join(", ")),
        evidence: format!("HostConfig.CapAdd: {}", quoted(&Value::Array(caps.clone()))),
        severity: Some(severity),
    }]
}

/// high: without seccomp or AppArmor the kernel's whole syscall surface is reachable.
fn unconfined(s: &Subject<'_>) -> Vec<Hit> {
    s.opts
        .iter()
        .filter(|o| *o == "seccomp=unconfined" || *o == "apparmor=unconfined")
        .flat_map(|opt| {
            hit(
                format!(
                    "{} profile disabled",
                    opt.split('=').next().unwrap_or_default()
                ),
                format!("HostConfig.SecurityOpt contains \"{opt}\""),
            )
        })
        .collect()
}

/// high: the host's PID namespace shows every host process; with root in the container they
/// can be signalled and, with SYS_PTRACE, entered.
fn host_pid(s: &Subject<'_>) -> Vec<Hit> {
    if s.hc("PidMode").and_then(Value::as_str) != Some("host") {
        return Vec::new();
    }
    hit(
        "shares the host's process namespace (--pid=host)",
        "HostConfig.PidMode: \"host\"",
    )
}

/// medium: the host's network namespace: every port the container opens is open on every host
/// interface, and services bound to the host's 127.0.0.1 are reachable.
fn host_network(s: &Subject<'_>) -> Vec<Hit> {
    if s.hc("NetworkMode").and_then(Value::as_str) != Some("host") {
        return Vec::new();
    }
    hit(
        "shares the host's network namespace (--network=host)",
        "HostConfig.NetworkMode: \"host\"",
    )
}

/// medium: root in the container is root on the host after any escape (uid 0 unless the
/// daemon remaps user namespaces).
fn root_user(s: &Subject<'_>) -> Vec<Hit> {
    let user = jstr(&s.c.inspect, "Config.User");
    let uid = user.split(':').next().unwrap_or("");
    if !(uid.is_empty() || uid == "root" || uid == "0") {
        return Vec::new();
    }
    let why = if user.is_empty() {
        "runs as root (no user set in the image or with --user)"
    } else {
        "runs as root"
    };
    hit(why, format!("Config.User: \"{user}\""))
}

/// medium: Docker publishes ports through its own iptables chains, ahead of the host
/// firewall's INPUT rules, so a port bound on every address is reachable from anywhere the
/// host is.
fn public_ports(s: &Subject<'_>) -> Vec<Hit> {
    let Some(b) = s.hc("PortBindings").and_then(Value::as_object) else {
        return Vec::new();
    };
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
    if public.is_empty() {
        return Vec::new();
    }
    hit(
        format!(
            "{} port binding(s) on every host address (Docker's rules bypass the host firewall)",
            public.len()
        ),
        public.join("; "),
    )
}

/// low: a setuid binary in the image can raise privileges inside the container; defence in
/// depth, asked per container or by the daemon's default.
fn no_new_privileges(s: &Subject<'_>) -> Vec<Hit> {
    if s.daemon_nnp
        || s.opts
            .iter()
            .any(|o| o == "no-new-privileges" || o == "no-new-privileges=true")
    {
        return Vec::new();
    }
    hit(
        "setuid binaries can raise privileges (no no-new-privileges, here or as the daemon's default)",
        format!(
            "HostConfig.SecurityOpt: {}",
            quoted(s.hc("SecurityOpt").unwrap_or(&Value::Null))
        ),
    )
}

/// low: a tag can be moved to other content (a compromised registry or a careless push); a
/// digest pins the bytes. Low because it needs a registry-side compromise.
fn image_tag(s: &Subject<'_>) -> Vec<Hit> {
    let reference = jstr(&s.c.inspect, "Config.Image");
    if reference.is_empty() || pinned(reference, &s.c.image_id) {
        return Vec::new();
    }
    let pin = s
        .images
        .iter()
        .find(|im| im.id == s.c.image_id)
        .and_then(|im| im.digests.first());
    let hint = match pin {
        Some(d) => format!(" (pin it as {d})"),
        None => " (the image has no registry digest)".into(),
    };
    hit(
        "image referenced by tag, not by digest: the tag can be moved to other content",
        format!("Config.Image: \"{reference}\"{hint}"),
    )
}

#[cfg(test)]
mod tests {
    use crate::audit::fixtures::*;
    use crate::audit::{DAEMON_JSON, DockerInputs, HostFile, HostInputs, Inputs, Severity, run};
    use crate::snapshot::deployment::ImageRecord;
    use serde_json::{Value, json};

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
}
