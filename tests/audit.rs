//! `lifeboat audit` through the binary: a host root built by the test audited live and from a
//! `snapshot --host` of it (same findings, exit code by the worst one, JSON parsed), containers
//! with each container weakness on the real engine audited from a snapshot and live (a hardened
//! one has none of them), and a model file whose bytes changed between two snapshots.
//!
//! Docker objects carry a unique prefix and are removed when the test ends, failed or not.
//! Without an engine the Docker test skips, except in CI (`CI=true`), where it fails.

mod common;
mod docker_support;

use std::path::Path;
use std::process::Output;

use common::{Env, code, s, stderr};
use docker_support::{IMAGE_1, Prefix, docker, docker_available, ensure_test_image};
use serde_json::Value;

/// An engine address nothing answers on, so live audits of the host root are not affected by
/// whatever containers this machine runs.
const NO_ENGINE: &str = "unix:///nonexistent/lifeboat-audit-test.sock";

fn write(root: &Path, rel: &str, body: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, body).unwrap();
}

/// `lifeboat --json audit ARGS` with `DOCKER_HOST` set to `docker_host` when given; returns the
/// output and the parsed report.
fn audit_json(e: &Env, docker_host: Option<&str>, args: &[&str]) -> (Output, Value) {
    let mut c = e.cmd();
    if let Some(h) = docker_host {
        c.env("DOCKER_HOST", h);
    }
    let out = c
        .arg("--json")
        .arg("audit")
        .args(args)
        .output()
        .expect("run lifeboat");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|err| {
        panic!(
            "audit {args:?}: stdout is not JSON ({err}):\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            stderr(&out)
        )
    });
    (out, v)
}

fn findings<'v>(v: &'v Value, id: &str) -> Vec<&'v Value> {
    v["findings"]
        .as_array()
        .expect("findings array")
        .iter()
        .filter(|f| f["id"] == id)
        .collect()
}

/// The finding IDs reported for `subject`.
fn ids_for<'v>(v: &'v Value, subject: &str) -> Vec<&'v str> {
    v["findings"]
        .as_array()
        .expect("findings array")
        .iter()
        .filter(|f| f["subject"] == subject)
        .map(|f| f["id"].as_str().unwrap())
        .collect()
}

/// The host-root findings both modes must report, with their evidence.
fn assert_host_findings(v: &Value, what: &str) {
    let root = findings(v, "sshd-root-login");
    assert_eq!(root.len(), 1, "{what}: {v:#}");
    assert_eq!(root[0]["severity"], "high");
    assert_eq!(root[0]["subject"], "/etc/ssh/sshd_config");
    assert_eq!(
        root[0]["evidence"], "/etc/ssh/sshd_config:2: PermitRootLogin yes",
        "{what}"
    );
    let userns = findings(v, "daemon-userns-remap");
    assert_eq!(userns.len(), 1, "{what}: {v:#}");
    assert_eq!(userns[0]["severity"], "medium");
    assert_eq!(
        userns[0]["evidence"], "/etc/docker/daemon.json: no \"userns-remap\" key",
        "{what}"
    );
    // The drop-in's `PasswordAuthentication no` comes first (Include on line 1) and wins over
    // the main file's later `yes`; daemon.json sets no-new-privileges.
    assert!(
        findings(v, "sshd-password-auth").is_empty(),
        "{what}: {v:#}"
    );
    assert!(
        findings(v, "daemon-no-new-privileges").is_empty(),
        "{what}: {v:#}"
    );
    assert_eq!(v["worst"], "high", "{what}");
    assert_eq!(v["exit_code"], 23, "{what}");
    let checked: Vec<&str> = v["checked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    for c in ["sshd-root-login", "daemon-userns-remap", "host-no-firewall"] {
        assert!(checked.contains(&c), "{what}: {c} not checked: {checked:?}");
    }
}

#[test]
fn host_root_findings_live_and_from_a_snapshot() {
    let e = Env::new();
    let root = e.path("hostroot");
    write(
        &root,
        "etc/ssh/sshd_config",
        "Include /etc/ssh/sshd_config.d/*.conf\nPermitRootLogin yes\nPasswordAuthentication yes\n",
    );
    write(
        &root,
        "etc/ssh/sshd_config.d/10-no-passwords.conf",
        "# cloud image default\npasswordauthentication no\n",
    );
    write(
        &root,
        "etc/docker/daemon.json",
        "{\"no-new-privileges\": true, \"log-driver\": \"json-file\"}\n",
    );
    let r = s(&root);

    // Live, under the host root; no engine: container checks are skipped with a warning.
    let (out, v) = audit_json(&e, Some(NO_ENGINE), &["--live", "--host-root", r]);
    assert_eq!(code(&out), 23, "{v:#}\n{}", stderr(&out));
    assert_host_findings(&v, "live");
    assert!(
        stderr(&out).contains("warning: container checks skipped"),
        "{}",
        stderr(&out)
    );
    let skipped = v["skipped"].to_string();
    assert!(
        skipped.contains("container-*: no Docker engine reachable"),
        "{skipped}"
    );
    assert!(
        skipped.contains("model-changed: no snapshot of"),
        "{skipped}"
    );
    // The firewall is judged from files only (the tools read this machine, not the root).
    let fw = findings(&v, "host-no-firewall");
    assert!(
        fw[0]["evidence"]
            .as_str()
            .unwrap()
            .contains("/etc/iptables/rules.v4: not present"),
        "{v:#}"
    );

    // Text: grouped worst first, the evidence on its own line, a summary.
    let mut c = e.cmd();
    let out = c
        .env("DOCKER_HOST", NO_ENGINE)
        .args(["audit", "--live", "--host-root", r])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(code(&out), 23, "{text}");
    let high = text.find("HIGH (1)").expect(&text);
    let medium = text.find("MEDIUM (").expect(&text);
    assert!(high < medium, "{text}");
    let evidence_line = format!(
        "\n{}/etc/ssh/sshd_config:2: PermitRootLogin yes\n",
        " ".repeat(31)
    );
    assert!(text.contains(&evidence_line), "{text}");
    assert!(text.contains("0 critical, 1 high, "), "{text}");

    // --min-severity hides the lower ones and the exit code follows what is shown.
    let (out, v) = audit_json(
        &e,
        Some(NO_ENGINE),
        &["--live", "--host-root", r, "--min-severity", "high"],
    );
    assert_eq!(code(&out), 23);
    assert_eq!(v["findings"].as_array().unwrap().len(), 1, "{v:#}");
    assert!(v["hidden"].as_u64().unwrap() >= 1);
    let (out, v) = audit_json(
        &e,
        Some(NO_ENGINE),
        &["--live", "--host-root", r, "--min-severity", "critical"],
    );
    assert_eq!(code(&out), 0, "{v:#}");

    // From a snapshot of the same root: the same findings, read back from the repository.
    e.ok(&["snapshot", "--host", "--host-root", r]);
    // The live files change afterwards; the snapshot's audit must not see that.
    write(&root, "etc/ssh/sshd_config", "PermitRootLogin no\n");
    let (out, v) = audit_json(&e, None, &["latest"]);
    assert_eq!(code(&out), 23, "{v:#}\n{}", stderr(&out));
    assert_host_findings(&v, "snapshot");
    assert!(v["source"].as_str().unwrap().starts_with("snapshot "));
    assert!(
        v["skipped"]
            .to_string()
            .contains("container-*: the snapshot holds no containers"),
        "{v:#}"
    );
    // And the live root, fixed, no longer has the finding.
    let (_, v) = audit_json(&e, Some(NO_ENGINE), &["--live", "--host-root", r]);
    assert!(findings(&v, "sshd-root-login").is_empty(), "{v:#}");

    // Usage: a snapshot or --live, not both, not neither.
    assert_eq!(code(&e.run(&["audit"])), 2);
    assert_eq!(code(&e.run(&["audit", "latest", "--live"])), 2);
}

/// A little safetensors file whose tensor bytes are `fill`.
fn safetensors(fill: u8) -> Vec<u8> {
    let header = br#"{"w":{"dtype":"F16","shape":[2,4],"data_offsets":[0,16]}}"#;
    let mut b = (header.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(header);
    b.extend(std::iter::repeat_n(fill, 16));
    b
}

#[test]
fn model_bytes_changed_between_snapshots() {
    let e = Env::new();
    let dir = e.path("models");
    std::fs::create_dir_all(&dir).unwrap();
    let model = dir.join("llm.safetensors");
    std::fs::write(&model, safetensors(1)).unwrap();
    std::fs::write(dir.join("config.json"), "{}").unwrap();
    let first = e.snapshot(&dir);

    // Same size, different bytes.
    std::fs::write(&model, safetensors(2)).unwrap();
    std::fs::write(dir.join("config.json"), "{\"changed\": 1}").unwrap();
    let second = e.snapshot(&dir);

    let (out, v) = audit_json(&e, None, &[&second[..12]]);
    assert_eq!(code(&out), 22, "{v:#}\n{}", stderr(&out));
    let changed = findings(&v, "model-changed");
    assert_eq!(changed.len(), 1, "{v:#}");
    assert_eq!(changed[0]["subject"], s(&model));
    assert_eq!(changed[0]["severity"], "medium");
    let ev = changed[0]["evidence"].as_str().unwrap();
    assert!(
        ev.contains(&first[..8]) && ev.contains(&second[..8]),
        "evidence names both snapshots: {ev}"
    );
    // Only model files count: config.json changed too.
    assert_eq!(v["findings"].as_array().unwrap().len(), 1, "{v:#}");

    // The first snapshot has nothing earlier to compare with.
    let (out, v) = audit_json(&e, None, &[&first[..12]]);
    assert_eq!(code(&out), 0, "{v:#}");
    assert!(
        v["skipped"].to_string().contains("no earlier snapshot"),
        "{v:#}"
    );

    // Live: the file on disk against the latest snapshot of this host.
    let empty_root = e.path("emptyroot");
    std::fs::create_dir_all(&empty_root).unwrap();
    let (_, v) = audit_json(
        &e,
        Some(NO_ENGINE),
        &["--live", "--host-root", s(&empty_root)],
    );
    assert!(findings(&v, "model-changed").is_empty(), "{v:#}");
    std::fs::write(&model, safetensors(3)).unwrap();
    let (_, v) = audit_json(
        &e,
        Some(NO_ENGINE),
        &["--live", "--host-root", s(&empty_root)],
    );
    let changed = findings(&v, "model-changed");
    assert_eq!(changed.len(), 1, "{v:#}");
    assert!(
        changed[0]["evidence"]
            .as_str()
            .unwrap()
            .contains("the live file"),
        "{v:#}"
    );
}

/// The container weaknesses, each on its own container, audited from a snapshot and live.
#[test]
fn container_findings_on_the_real_engine() {
    if !docker_available() {
        return;
    }
    ensure_test_image();
    // Declared after nothing that outlives it: dropped (containers removed) even on panic.
    let px = Prefix::new();
    let e = Env::new();
    let image_id = docker(&["image", "inspect", "-f", "{{.Id}}", IMAGE_1]);
    let port = 20000 + std::process::id() % 20000;
    let create = |name: &str, flags: &[&str], image: &str| {
        let mut a = vec!["create", "--name", name];
        a.extend_from_slice(flags);
        a.push(image);
        docker(&a);
    };
    let (privileged, caps, sock, ports, root, hardened) = (
        px.n("privileged"),
        px.n("caps"),
        px.n("sock"),
        px.n("ports"),
        px.n("root"),
        px.n("hardened"),
    );
    let safe: &[&str] = &["--user", "1000", "--security-opt", "no-new-privileges"];
    let with_safe = |extra: &[&str]| -> Vec<String> {
        safe.iter().chain(extra).map(|x| (*x).to_string()).collect()
    };
    fn as_strs(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }
    create(
        &privileged,
        &as_strs(&with_safe(&["--privileged"])),
        IMAGE_1,
    );
    create(
        &caps,
        &as_strs(&with_safe(&["--cap-add", "NET_ADMIN"])),
        IMAGE_1,
    );
    create(
        &sock,
        &as_strs(&with_safe(&[
            "-v",
            "/var/run/docker.sock:/var/run/docker.sock",
        ])),
        IMAGE_1,
    );
    let publish = format!("0.0.0.0:{port}:8080");
    create(&ports, &as_strs(&with_safe(&["-p", &publish])), IMAGE_1);
    create(
        &root,
        &["--user", "root", "--security-opt", "no-new-privileges"],
        IMAGE_1,
    );
    // By image ID: pinned to content, so no tag finding either.
    create(&hardened, safe, &image_id);

    let mut args = vec!["--json", "snapshot", "--no-images"];
    for c in [&privileged, &caps, &sock, &ports, &root, &hardened] {
        args.extend(["--container", c.as_str()]);
    }
    let snap: Value = serde_json::from_str(&e.ok(&args)).unwrap();
    let id = snap["id"].as_str().unwrap().to_string();

    let expected: [(&str, &str); 6] = [
        (&privileged, "container-privileged"),
        (&caps, "container-cap-add"),
        (&sock, "container-docker-socket"),
        (&ports, "container-port-public"),
        (&root, "container-root"),
        (&root, "container-image-tag"),
    ];
    let check = |v: &Value, what: &str| {
        for (name, id) in expected {
            assert!(
                ids_for(v, name).contains(&id),
                "{what}: {id} missing for {name}: {:?}",
                ids_for(v, name)
            );
        }
        let cap = findings(v, "container-cap-add")
            .into_iter()
            .find(|f| f["subject"] == caps.as_str())
            .unwrap();
        assert_eq!(cap["severity"], "high", "{what}");
        assert!(cap["evidence"].as_str().unwrap().contains("NET_ADMIN"));
        let port_f = findings(v, "container-port-public")
            .into_iter()
            .find(|f| f["subject"] == ports.as_str())
            .unwrap();
        assert!(
            port_f["evidence"]
                .as_str()
                .unwrap()
                .contains(&format!("HostIp \"0.0.0.0\", HostPort \"{port}\"")),
            "{what}: {port_f}"
        );
        // Each weakness only where it was put.
        for (name, id) in &expected[..4] {
            for other in [&caps, &sock, &ports, &root, &hardened, &privileged] {
                if other.as_str() != *name {
                    assert!(
                        !ids_for(v, other).contains(id),
                        "{what}: {id} reported for {other}"
                    );
                }
            }
        }
        assert!(
            ids_for(v, &hardened).is_empty(),
            "{what}: hardened container has findings: {:?}",
            ids_for(v, &hardened)
        );
        assert_eq!(v["worst"], "critical", "{what}");
    };

    let (out, v) = audit_json(&e, None, &[&id[..12]]);
    assert_eq!(code(&out), 24, "{v:#}\n{}", stderr(&out));
    check(&v, "snapshot");

    // Live: the same containers straight from the engine (others on this engine may add
    // findings of their own; only ours are asserted).
    let empty_root = e.path("emptyroot");
    std::fs::create_dir_all(&empty_root).unwrap();
    let (out, v) = audit_json(&e, None, &["--live", "--host-root", s(&empty_root)]);
    assert_eq!(code(&out), 24, "{}", stderr(&out));
    check(&v, "live");
    drop(px);
}
