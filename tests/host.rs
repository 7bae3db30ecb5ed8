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

/// Write `body` at `root/rel` with `mode`, creating parents.
fn put(root: &std::path::Path, rel: &str, body: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, body).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Whether `sshd -t` can run here; in CI it must (`.ci/run` installs openssh-server).
fn sshd_available() -> bool {
    let ok = std::path::Path::new("/usr/sbin/sshd").exists() || common::has_tool("sshd");
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "sshd is missing in CI: .ci/run installs openssh-server"
        );
        eprintln!("skipping the sshd checks: sshd is not installed (apt install openssh-server)");
    }
    ok
}

/// The profile files of a host root, scanned, without the root itself and without what lies
/// outside the profile (`etc/hostname`, which the apply must not touch).
fn profile_scan(root: &std::path::Path) -> common::Tree {
    let mut t = common::scan(root);
    t.retain(|rel, _| !rel.is_empty() && rel.as_slice() != b"etc/hostname");
    t
}

/// `restore --host --apply` into another host root reproduces every profile file byte for byte
/// with owners, modes and xattrs, removes an extra drop-in with --delete, leaves files outside
/// the profile alone; `--undo` puts the host root back exactly as it was.
#[test]
fn apply_reproduces_the_profile_and_undo_puts_it_back() {
    let e = Env::new();
    let a = e.path("host-a");
    put(
        &a,
        "etc/ssh/sshd_config",
        "PermitRootLogin no\nPasswordAuthentication no\nInclude /etc/ssh/sshd_config.d/*.conf\n",
        0o644,
    );
    put(
        &a,
        "etc/ssh/sshd_config.d/10-hardening.conf",
        "X11Forwarding no\n",
        0o644,
    );
    put(
        &a,
        "etc/ssh/ssh_host_ed25519_key",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nk\n",
        0o600,
    );
    put(
        &a,
        "etc/sudoers.d/90-ops",
        "ops ALL=(ALL) NOPASSWD: /usr/bin/docker\n",
        0o440,
    );
    put(
        &a,
        "etc/docker/daemon.json",
        "{\"userns-remap\": \"default\", \"no-new-privileges\": true}\n",
        0o644,
    );
    put(
        &a,
        "home/alice/.ssh/authorized_keys",
        "ssh-ed25519 AAAA alice\n",
        0o600,
    );
    xattr::set(
        a.join("etc/docker/daemon.json"),
        "user.lifeboat.test",
        b"kept",
    )
    .unwrap();
    if common::is_root() {
        std::os::unix::fs::lchown(
            a.join("home/alice/.ssh/authorized_keys"),
            Some(1000),
            Some(1000),
        )
        .unwrap();
        std::os::unix::fs::lchown(a.join("home/alice/.ssh"), Some(1000), Some(1000)).unwrap();
    }
    e.ok(&[
        "snapshot",
        "--host",
        "--host-root",
        common::s(&a),
        "--no-host-commands",
    ]);

    // Another host: a weaker sshd_config, a backdoor drop-in, no daemon.json, no alice.
    let b = e.path("host-b");
    put(&b, "etc/ssh/sshd_config", "PermitRootLogin yes\n", 0o644);
    put(
        &b,
        "etc/ssh/ssh_host_ed25519_key",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nother\n",
        0o600,
    );
    put(&b, "etc/sudoers.d/90-ops", "ops ALL=(ALL) ALL\n", 0o644);
    put(
        &b,
        "etc/sudoers.d/99-backdoor",
        "mallory ALL=(ALL) NOPASSWD: ALL\n",
        0o440,
    );
    put(&b, "etc/hostname", "host-b\n", 0o644);
    let before = e.path("host-b-before");
    common::sh("cp", &["-a".as_ref(), b.as_os_str(), before.as_os_str()]);

    // A dry run checks and writes nothing.
    let dry = e.run(&[
        "restore",
        "latest",
        "--host",
        "--host-root",
        common::s(&b),
        "--apply",
        "--delete",
        "--dry-run",
    ]);
    assert_eq!(common::code(&dry), 0, "{}", common::stderr(&dry));
    common::assert_restored_equal(
        &before,
        &common::scan(&before),
        &b,
        common::Compare {
            atime: false,
            owners: true,
        },
    );

    let out = e.ok(&[
        "restore",
        "latest",
        "--host",
        "--host-root",
        common::s(&b),
        "--apply",
        "--delete",
    ]);
    assert!(out.contains("remove  /etc/sudoers.d/99-backdoor"), "{out}");
    if sshd_available() {
        assert!(out.contains("sshd -t") && out.contains(" ok"), "{out}");
    }
    let bad = common::compare_trees(
        &a,
        &profile_scan(&a),
        &b,
        &profile_scan(&b),
        common::Compare {
            atime: false,
            owners: common::is_root(),
        },
    );
    assert!(
        bad.is_empty(),
        "host-b differs from host-a after --apply:\n  {}",
        bad.join("\n  ")
    );
    assert_eq!(
        std::fs::read_to_string(b.join("etc/hostname")).unwrap(),
        "host-b\n"
    );
    // The second apply finds nothing to do.
    let again = e.run(&["restore", "latest", "--host", "--host-root", common::s(&b)]);
    assert_eq!(
        common::code(&again),
        0,
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );

    // Undo: host-b is as it was, created files (daemon.json, alice's home) gone again.
    let undone = e.ok(&["restore", "--host", "--undo", "--host-root", common::s(&b)]);
    assert!(undone.contains("undone"), "{undone}");
    let bad = common::compare_trees(
        &before,
        &profile_scan(&before),
        &b,
        &profile_scan(&b),
        common::Compare {
            atime: false,
            owners: true,
        },
    );
    assert!(
        bad.is_empty(),
        "host-b after --undo differs from before the apply:\n  {}",
        bad.join("\n  ")
    );
    assert!(!b.join("etc/docker").exists() && !b.join("home").exists());
    // The undo snapshot was used up: a second undo has nothing to do.
    let none = e.run(&["restore", "--host", "--undo", "--host-root", common::s(&b)]);
    assert_eq!(common::code(&none), 1);
    assert!(
        common::stderr(&none).contains("nothing to undo"),
        "{}",
        common::stderr(&none)
    );
}

/// An sshd_config that `sshd -t` rejects is never installed, and nothing else is written.
#[test]
fn apply_refuses_an_sshd_config_that_sshd_rejects() {
    if !sshd_available() {
        return;
    }
    let e = Env::new();
    let a = e.path("host-a");
    put(
        &a,
        "etc/ssh/sshd_config",
        "PermitRootLogin no\nThisIsNotAnSshdKeyword yes\n",
        0o644,
    );
    put(&a, "etc/sudoers.d/90-ops", "ops ALL=(ALL) ALL\n", 0o440);
    e.ok(&[
        "snapshot",
        "--host",
        "--host-root",
        common::s(&a),
        "--no-host-commands",
    ]);
    let b = e.path("host-b");
    put(
        &b,
        "etc/ssh/sshd_config",
        "PermitRootLogin prohibit-password\n",
        0o644,
    );
    let out = e.run(&[
        "restore",
        "latest",
        "--host",
        "--host-root",
        common::s(&b),
        "--apply",
    ]);
    let err = common::stderr(&out);
    assert_eq!(common::code(&out), 1, "{err}");
    assert!(
        err.contains("sshd -t") && err.contains("ThisIsNotAnSshdKeyword"),
        "{err}"
    );
    assert!(err.contains("nothing was written"), "{err}");
    assert_eq!(
        std::fs::read_to_string(b.join("etc/ssh/sshd_config")).unwrap(),
        "PermitRootLogin prohibit-password\n"
    );
    assert!(!b.join("etc/sudoers.d").exists());
    // No undo snapshot was taken for an apply that never started.
    let v = e.ok_json(&["snapshots", "--tag", "host-undo"]);
    assert_eq!(v.as_array().map(Vec::len), Some(0), "{v}");
}

/// --apply-firewall: the rule set is checked (`iptables-restore --test` on the staged copy)
/// before anything is written, and loaded from its installed place after; a rule set the
/// tool rejects stops the apply. Fake tools record their calls (the test must not change the
/// machine's firewall).
#[test]
fn apply_firewall_checks_first_and_loads_after() {
    use std::os::unix::fs::PermissionsExt;
    let e = Env::new();
    let bin = e.path("fakebin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = e.path("calls.log");
    let script = format!(
        "#!/bin/sh\necho \"$(basename $0) $*\" >> {}\nfor f in \"$@\"; do [ -f \"$f\" ] && grep -q REJECT-ME \"$f\" && {{ echo 'line 2 failed' >&2; exit 1; }}; done\nexit 0\n",
        log.display()
    );
    for tool in ["iptables-restore", "iptables-save", "ip6tables-save", "nft"] {
        let p = bin.join(tool);
        std::fs::write(&p, &script).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let a = e.path("host-a");
    put(
        &a,
        "etc/iptables/rules.v4",
        "*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n",
        0o640,
    );
    e.ok(&[
        "snapshot",
        "--host",
        "--host-root",
        common::s(&a),
        "--no-host-commands",
    ]);
    let b = e.path("host-b");
    std::fs::create_dir_all(b.join("etc")).unwrap();
    let out = e
        .cmd()
        .env("PATH", &path)
        .args([
            "restore",
            "latest",
            "--host",
            "--host-root",
            common::s(&b),
            "--apply",
            "--apply-firewall",
        ])
        .output()
        .unwrap();
    assert_eq!(common::code(&out), 0, "{}", common::stderr(&out));
    let calls = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = calls
        .lines()
        .filter(|l| l.starts_with("iptables-restore"))
        .collect();
    assert_eq!(lines.len(), 2, "{calls}");
    assert!(
        lines[0].starts_with("iptables-restore --test ") && !lines[0].contains(common::s(&b)),
        "{calls}"
    );
    assert_eq!(
        lines[1],
        format!("iptables-restore {}/etc/iptables/rules.v4", b.display())
    );
    assert_eq!(
        std::fs::read(b.join("etc/iptables/rules.v4")).unwrap(),
        std::fs::read(a.join("etc/iptables/rules.v4")).unwrap()
    );

    // A rule set the tool rejects: refused before anything is written.
    put(
        &a,
        "etc/iptables/rules.v4",
        "*filter\nREJECT-ME\nCOMMIT\n",
        0o640,
    );
    e.ok(&[
        "snapshot",
        "--host",
        "--host-root",
        common::s(&a),
        "--no-host-commands",
    ]);
    let out = e
        .cmd()
        .env("PATH", &path)
        .args([
            "restore",
            "latest",
            "--host",
            "--host-root",
            common::s(&b),
            "--apply",
            "--apply-firewall",
        ])
        .output()
        .unwrap();
    let err = common::stderr(&out);
    assert_eq!(common::code(&out), 1, "{err}");
    assert!(
        err.contains("rejects the snapshot's /etc/iptables/rules.v4")
            && err.contains("line 2 failed"),
        "{err}"
    );
    assert!(
        !std::fs::read_to_string(b.join("etc/iptables/rules.v4"))
            .unwrap()
            .contains("REJECT-ME")
    );
}

/// The configuration file extends and trims the profile (`host.include`, `host.exclude`).
#[test]
fn config_extends_and_trims_the_profile() {
    let e = Env::new();
    let root = e.path("hostroot");
    put(&root, "etc/wireguard/wg0.conf", "[Interface]\n", 0o600);
    put(&root, "etc/sudoers.d/ops", "ops ALL=(ALL) ALL\n", 0o440);
    put(&root, "etc/ssh/sshd_config", "PermitRootLogin no\n", 0o644);
    let cfg = e.path("lifeboat.toml");
    std::fs::write(
        &cfg,
        "[host]\ninclude = [\"/etc/wireguard\"]\nexclude = [\"/etc/sudoers.d\"]\ncommands = false\n",
    )
    .unwrap();
    let out = e
        .cmd()
        .arg("--config")
        .arg(&cfg)
        .args([
            "--json",
            "snapshot",
            "--host",
            "--host-root",
            common::s(&root),
            "--no-host-commands",
        ])
        .output()
        .unwrap();
    assert_eq!(common::code(&out), 0, "{}", common::stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let present = v["host"]["present"].to_string();
    assert!(
        present.contains("/etc/wireguard") && present.contains("/etc/ssh/sshd_config"),
        "{present}"
    );
    assert!(!present.contains("/etc/sudoers.d"), "{present}");
    let ls = e.ok(&["ls", "latest"]);
    assert!(
        ls.contains("wg0.conf") && !ls.contains("sudoers.d/ops"),
        "{ls}"
    );
}

/// An apply whose writes are all refused (the live `/etc/ssh` is a symlink, which the confined
/// writer never follows) changed nothing: it says so, instead of "putting the previous files
/// back failed too", and leaves no `host-undo` snapshot behind.
#[test]
fn refused_apply_says_nothing_was_written() {
    let e = Env::new();
    let a = e.path("host-a");
    put(&a, "etc/ssh/sshd_config", "PermitRootLogin no\n", 0o644);
    e.ok(&[
        "snapshot",
        "--host",
        "--host-root",
        common::s(&a),
        "--no-host-commands",
    ]);
    let b = e.path("host-b");
    put(&b, "elsewhere/sshd_config", "PermitRootLogin yes\n", 0o644);
    std::fs::create_dir_all(b.join("etc")).unwrap();
    std::os::unix::fs::symlink("../elsewhere", b.join("etc/ssh")).unwrap();
    // No sshd here: the check must not be what refuses.
    let out = e
        .cmd()
        .env("PATH", "/nonexistent")
        .args(["restore", "latest", "--host", "--host-root"])
        .arg(&b)
        .arg("--apply")
        .output()
        .unwrap();
    let err = common::stderr(&out);
    assert_eq!(common::code(&out), 1, "{err}");
    assert!(err.contains("nothing was written"), "{err}");
    assert!(!err.contains("failed too"), "{err}");
    assert!(err.contains("refusing to write through"), "{err}");
    assert_eq!(
        std::fs::read_to_string(b.join("elsewhere/sshd_config")).unwrap(),
        "PermitRootLogin yes\n"
    );
    let v = e.ok_json(&["snapshots", "--tag", "host-undo"]);
    assert_eq!(v.as_array().map(Vec::len), Some(0), "{v}");
}

/// `restore --host --undo --dry-run` (as docs/HOST.md describes it) lists what the undo would
/// put back and remove, changes nothing, and keeps the undo snapshot for the real undo.
#[test]
fn undo_dry_run_lists_and_changes_nothing() {
    let e = Env::new();
    let a = e.path("host-a");
    put(&a, "etc/ssh/sshd_config", "PermitRootLogin no\n", 0o644);
    put(&a, "etc/sudoers.d/90-ops", "ops ALL=(ALL) ALL\n", 0o440);
    e.ok(&[
        "snapshot",
        "--host",
        "--host-root",
        common::s(&a),
        "--no-host-commands",
    ]);
    let b = e.path("host-b");
    put(&b, "etc/ssh/sshd_config", "PermitRootLogin yes\n", 0o644);
    let apply = e
        .cmd()
        .env("PATH", "/nonexistent")
        .args(["restore", "latest", "--host", "--host-root"])
        .arg(&b)
        .arg("--apply")
        .output()
        .unwrap();
    assert_eq!(common::code(&apply), 0, "{}", common::stderr(&apply));
    let applied = |p: &str| std::fs::read_to_string(b.join(p)).ok();
    assert_eq!(
        applied("etc/ssh/sshd_config").as_deref(),
        Some("PermitRootLogin no\n")
    );

    let out = e.ok(&[
        "restore",
        "--host",
        "--undo",
        "--host-root",
        common::s(&b),
        "--dry-run",
    ]);
    assert!(out.contains("would put back /etc/ssh/sshd_config"), "{out}");
    assert!(out.contains("would remove   /etc/sudoers.d"), "{out}");
    assert!(out.contains("nothing changed"), "{out}");
    assert_eq!(
        applied("etc/ssh/sshd_config").as_deref(),
        Some("PermitRootLogin no\n")
    );
    assert!(b.join("etc/sudoers.d/90-ops").exists());
    let v = e.ok_json(&["snapshots", "--tag", "host-undo"]);
    assert_eq!(v.as_array().map(Vec::len), Some(1), "{v}");

    // The real undo still has its snapshot to apply.
    e.ok(&["restore", "--host", "--undo", "--host-root", common::s(&b)]);
    assert_eq!(
        applied("etc/ssh/sshd_config").as_deref(),
        Some("PermitRootLogin yes\n")
    );
    assert!(!b.join("etc/sudoers.d").exists());
}

/// A hung `sshd -t` cannot hang an apply: a fake `sshd` that sleeps forever is killed after
/// `host.tool_timeout`, and the apply fails saying so, before anything is written: the host
/// root is unchanged, no `host-undo` snapshot is taken, no staging directory is left.
#[test]
fn a_hung_sshd_check_times_out_and_writes_nothing() {
    use std::os::unix::fs::PermissionsExt;
    use std::time::{Duration, Instant};
    let e = Env::new();
    let a = e.path("host-a");
    put(&a, "etc/ssh/sshd_config", "PermitRootLogin no\n", 0o644);
    put(&a, "etc/sudoers.d/90-ops", "ops ALL=(ALL) ALL\n", 0o440);
    e.ok(&[
        "snapshot",
        "--host",
        "--host-root",
        common::s(&a),
        "--no-host-commands",
    ]);
    let b = e.path("host-b");
    put(&b, "etc/ssh/sshd_config", "PermitRootLogin yes\n", 0o644);
    // What a write would change: the set of paths, and each one's inode, mode, size, mtime.
    let state = |root: &std::path::Path| -> Vec<_> {
        common::scan(root)
            .into_iter()
            .map(|(rel, n)| (rel, n.ino, n.mode, n.size, n.mtime_ns))
            .collect()
    };
    let before = state(&b);

    let bin = e.path("fakebin");
    std::fs::create_dir_all(&bin).unwrap();
    let pid_file = e.path("sleeper.pid");
    let sshd = bin.join("sshd");
    std::fs::write(
        &sshd,
        format!(
            "#!/bin/sh\nsleep 1000 &\necho $! > {}\nwait\n",
            pid_file.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&sshd, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = e.path("lifeboat.toml");
    std::fs::write(&config, "[host]\ntool_timeout = \"1s\"\n").unwrap();
    let tmp = e.path("tmp");
    std::fs::create_dir_all(&tmp).unwrap();

    let started = Instant::now();
    let out = e
        .cmd()
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .env("TMPDIR", &tmp)
        .arg("--config")
        .arg(&config)
        .args(["restore", "latest", "--host", "--host-root"])
        .arg(&b)
        .arg("--apply")
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    let err = common::stderr(&out);
    assert_eq!(common::code(&out), 1, "{err}");
    assert!(pid_file.exists(), "the fake sshd never ran: {err}");
    assert!(
        err.contains("sshd -t") && err.contains(common::s(&sshd)),
        "{err}"
    );
    assert!(
        err.contains("did not finish within 1s and was killed"),
        "{err}"
    );
    assert!(err.contains("nothing was written"), "{err}");
    // 1 s of timeout, 2 s of grace between SIGTERM and SIGKILL at most, and the rest of the
    // command (opening the repository, staging) with room to spare on a loaded machine.
    assert!(elapsed < Duration::from_secs(15), "took {elapsed:?}");

    // The tool's whole process group was ended, not only the shell.
    let sleeper = std::fs::read_to_string(&pid_file).unwrap();
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", sleeper.trim()));
    assert!(
        stat.as_deref()
            .map_or(true, |s| s.contains(") Z ") || !s.contains("(sleep)")),
        "the sleeping child outlived the timeout: {stat:?}"
    );

    assert_eq!(state(&b), before, "the host root changed");
    assert!(!b.join("etc/sudoers.d").exists());
    let v = e.ok_json(&["snapshots", "--tag", "host-undo"]);
    assert_eq!(v.as_array().map(Vec::len), Some(0), "{v}");
    let v = e.ok_json(&["snapshots"]);
    assert_eq!(v.as_array().map(Vec::len), Some(1), "{v}");
    let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().collect();
    assert!(left.is_empty(), "left in TMPDIR: {left:?}");
}
