//! `snapshot --host`: the host security profile captured under a `--host-root` built by the
//! test (the machine's own /etc is never read or written), each item present or absent, tool
//! outputs recorded (a missing tool is not an error), and the files restorable byte for byte.

mod common;

use common::Env;

#[test]
fn host_profile_under_a_host_root() {
    let e = Env::new();
    let root = e.path("hostroot");
    let w = |rel: &str, body: &str| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, body).unwrap();
    };
    w(
        "etc/ssh/sshd_config",
        "PermitRootLogin no\nPasswordAuthentication no\n",
    );
    w(
        "etc/ssh/sshd_config.d/10-hardening.conf",
        "X11Forwarding no\n",
    );
    w(
        "etc/ssh/ssh_host_ed25519_key",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nsecret\n",
    );
    w(
        "etc/docker/daemon.json",
        "{\"userns-remap\": \"default\"}\n",
    );
    w(
        "home/alice/.ssh/authorized_keys",
        "ssh-ed25519 AAAA alice\n",
    );
    w("etc/sudoers.d/alice", "alice ALL=(ALL) ALL\n");
    w("etc/not-in-profile.conf", "ignored\n");
    let v = e.ok_json(&[
        "snapshot",
        "--host",
        "--host-root",
        root.to_str().unwrap(),
        "--host-exclude",
        "/etc/sudoers.d",
    ]);
    let host = &v["host"];
    let present: Vec<&str> = host["present"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    for item in [
        "/etc/ssh/sshd_config",
        "/etc/ssh/sshd_config.d",
        "/etc/ssh/ssh_host_*",
        "/etc/docker/daemon.json",
        "/home/*/.ssh/authorized_keys",
    ] {
        assert!(present.contains(&item), "{item} not present: {host}");
    }
    assert!(
        !present.contains(&"/etc/sudoers.d"),
        "excluded item captured"
    );
    let absent = host["absent"].as_array().unwrap();
    assert!(
        absent.iter().any(|x| x == "/etc/ufw"),
        "absent items not recorded: {host}"
    );
    // Every tool has a status; none of them makes the snapshot fail.
    let commands = host["commands"].as_object().unwrap();
    assert!(commands.contains_key("iptables-save") && commands.contains_key("dpkg-selections"));
    assert!(commands.values().all(|s| ["ok", "failed", "missing", "timeout", "error"]
        .contains(&s.as_str().unwrap())));

    // The files come back byte for byte; a file outside the profile was not taken.
    let target = e.path("restored");
    e.ok(&["restore", "latest", "--target", target.to_str().unwrap()]);
    for rel in [
        "etc/ssh/sshd_config",
        "etc/ssh/sshd_config.d/10-hardening.conf",
        "etc/ssh/ssh_host_ed25519_key",
        "etc/docker/daemon.json",
        "home/alice/.ssh/authorized_keys",
    ] {
        let orig = root.join(rel);
        let back = e.restored(&target, &orig);
        assert_eq!(
            std::fs::read(&orig).unwrap(),
            std::fs::read(&back).unwrap(),
            "{rel}"
        );
    }
    assert!(
        !e.restored(&target, &root.join("etc/not-in-profile.conf"))
            .exists()
    );
    assert!(
        !e.restored(&target, &root.join("etc/sudoers.d/alice"))
            .exists()
    );
}

/// `restore --host`: a unified diff per changed profile file against the live host root,
/// private keys never shown, missing files named, nothing written.
#[test]
fn restore_host_shows_diffs_and_writes_nothing() {
    let e = Env::new();
    let root = e.path("hostroot");
    let w = |rel: &str, body: &str| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, body).unwrap();
    };
    w("etc/ssh/sshd_config", "Port 22\nPermitRootLogin no\n");
    w(
        "etc/ssh/ssh_host_ed25519_key",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nold-secret\n",
    );
    w("etc/docker/daemon.json", "{}\n");
    let r = root.to_str().unwrap();
    e.ok(&["snapshot", "--host", "--host-root", r, "--no-host-commands"]);
    let clean = e.run(&["restore", "latest", "--host", "--host-root", r]);
    assert_eq!(common::code(&clean), 0, "{}", common::stderr(&clean));

    w("etc/ssh/sshd_config", "Port 22\nPermitRootLogin yes\n");
    w(
        "etc/ssh/ssh_host_ed25519_key",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nnew-secret\n",
    );
    std::fs::remove_file(root.join("etc/docker/daemon.json")).unwrap();
    let out = e.run(&["restore", "latest", "--host", "--host-root", r]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(common::code(&out), 3, "{text}{}", common::stderr(&out));
    assert!(
        text.contains("-PermitRootLogin no") && text.contains("+PermitRootLogin yes"),
        "{text}"
    );
    assert!(text.contains("secret: contents not shown"), "{text}");
    assert!(
        !text.contains("old-secret") && !text.contains("new-secret"),
        "key shown:\n{text}"
    );
    assert!(text.contains("missing /etc/docker/daemon.json"), "{text}");
    // Nothing was written.
    assert_eq!(
        std::fs::read_to_string(root.join("etc/ssh/sshd_config")).unwrap(),
        "Port 22\nPermitRootLogin yes\n"
    );
    assert!(!root.join("etc/docker/daemon.json").exists());
}
