//! `lifeboat recover` onto a real bare host: a deployment is built on the first engine (two
//! containers on a user network with a static IP and aliases, a sidecar in the first's network
//! namespace, a named and an anonymous volume, a bind-mounted model directory, a tmpfs, a
//! healthcheck, 30+ settings, one container stopped), snapshotted with a host profile tree and
//! a models directory, then recovered onto a second engine started by the test in its own
//! network namespace (`docker_support::bare`) with an empty host root and an empty target.
//! The result is compared field by field with independent code: every container's inspect
//! (generated values aside), volume bytes, model SHA-256, the host tree.
//!
//! Without an engine (or root) the tests skip, except under `CI=true`, where they fail.

mod common;
mod docker_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::{Env, Rng, s};
use docker_support::bare::BareEngine;
use docker_support::{
    IMAGE_1, Prefix, compare_inspects, docker, docker_available, docker_out, ensure_test_image,
    ids_of, inspect, wait_for,
};
use serde_json::Value;

const IDLE: &str = "trap 'exit 0' TERM INT USR1; while :; do sleep 1; done";

/// A deployment on the first engine, snapshotted, and the trees it was made from.
struct Fixture {
    /// Removes the fixture's Docker objects on drop.
    _px: Prefix,
    e: Env,
    /// Container names: api (running, healthcheck), side (in api's network namespace),
    /// worker (created, never started).
    names: [String; 3],
    volume: String,
    network: String,
    models: PathBuf,
    host_a: PathBuf,
    snapshot: String,
    /// Original inspects, in `names` order.
    orig: Vec<Value>,
}

fn put(root: &Path, rel: &str, body: &[u8], mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, body).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A /24 in 10.150-199.x.0 that no network on the default engine uses, created as `name`.
fn network_with_free_subnet(px: &Prefix, name: &str) -> String {
    let h = blake3::hash(px.0.as_bytes());
    let h = h.as_bytes();
    for attempt in 0..16u8 {
        let a = 150 + (h[0].wrapping_add(attempt * 7)) % 50;
        let b = h[1].wrapping_add(attempt * 13);
        let subnet = format!("10.{a}.{b}");
        let out = docker_out(&[
            "network",
            "create",
            "--subnet",
            &format!("{subnet}.0/24"),
            "--label",
            "lbt.recover=1",
            name,
        ]);
        if out.status.success() {
            return subnet;
        }
    }
    panic!("no free subnet for {name}");
}

impl Fixture {
    fn build() -> Option<Fixture> {
        if !docker_available() {
            return None;
        }
        ensure_test_image();
        let px = Prefix::new();
        let e = Env::new();
        let n = |s: &str| px.n(s);
        let names = [n("api"), n("side"), n("worker")];
        let (volume, network) = (n("data"), n("net"));
        // Models: a bind-mounted directory with a weights file and a config.
        let models = e.path("srv/models");
        let mut rng = Rng(7);
        put(&models, "llm/model.safetensors", &rng.bytes(3 << 20), 0o644);
        put(&models, "llm/config.json", b"{\"layers\": 2}\n", 0o644);
        put(&models, "tok/tokenizer.bin", &rng.bytes(300_000), 0o600);
        // A host profile tree.
        let host_a = e.path("host-a");
        put(
            &host_a,
            "etc/ssh/sshd_config",
            b"PermitRootLogin no\nPasswordAuthentication no\n",
            0o644,
        );
        put(
            &host_a,
            "etc/sudoers.d/90-ops",
            b"ops ALL=(ALL) NOPASSWD: /usr/bin/docker\n",
            0o440,
        );
        put(
            &host_a,
            "etc/docker/daemon.json",
            b"{\"no-new-privileges\": true}\n",
            0o644,
        );

        let subnet = network_with_free_subnet(&px, &network);
        docker(&["volume", "create", "--label", "lbt.vol=data", &volume]);
        let models_s = s(&models).to_string();
        let api: Vec<String> = [
            "run",
            "-d",
            "--name",
            &names[0],
            "--hostname",
            "apihost",
            "--domainname",
            "example.test",
            "-e",
            "APP_MODE=prod",
            "-e",
            "SECRET_TOKEN=s3cr3t",
            "-w",
            "/tmp",
            "-l",
            "com.example.tier=backend",
            "-l",
            "lbt.recover=api",
            "-v",
            &format!("{volume}:/data"),
            "-v",
            "/anon",
            "-v",
            &format!("{models_s}:/models:ro"),
            "--tmpfs",
            "/run2:rw,size=8m,mode=755",
            "--network",
            &network,
            "--ip",
            &format!("{subnet}.10"),
            "--network-alias",
            "api",
            "--network-alias",
            "inference",
            "--restart",
            "on-failure:3",
            "-m",
            "256m",
            "--memory-reservation",
            "128m",
            "--cpu-shares",
            "512",
            "--pids-limit",
            "100",
            "--ulimit",
            "nofile=1024:2048",
            "--cap-add",
            "NET_ADMIN",
            "--cap-drop",
            "MKNOD",
            "--security-opt",
            "no-new-privileges",
            "--read-only",
            "--init",
            "--shm-size",
            "64m",
            "--sysctl",
            "net.core.somaxconn=1024",
            "--add-host",
            "db.local:10.1.2.3",
            "--dns",
            "10.0.0.53",
            "--dns-search",
            "example.internal",
            "--dns-option",
            "ndots:2",
            "--health-cmd",
            "test -d /data",
            "--health-interval",
            "1s",
            "--health-timeout",
            "2s",
            "--health-retries",
            "3",
            "--stop-signal",
            "SIGUSR1",
            "--stop-timeout",
            "5",
            "--log-opt",
            "max-size=1m",
            "--group-add",
            "2000",
            "--oom-score-adj",
            "100",
            "--ipc",
            "shareable",
            "-t",
            IMAGE_1,
            "sh",
            "-c",
            IDLE,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        docker(&api.iter().map(String::as_str).collect::<Vec<_>>());
        docker(&[
            "run",
            "-d",
            "--name",
            &names[1],
            "--network",
            &format!("container:{}", names[0]),
            "-e",
            "SIDE=1",
            "--restart",
            "unless-stopped",
            IMAGE_1,
            "sh",
            "-c",
            IDLE,
        ]);
        docker(&[
            "create",
            "--name",
            &names[2],
            "--network",
            &network,
            "--ip",
            &format!("{subnet}.11"),
            "--network-alias",
            "worker",
            "-v",
            &format!("{volume}:/shared:ro"),
            "-e",
            "ROLE=batch",
            IMAGE_1,
            "sh",
            "-c",
            IDLE,
        ]);
        // Volume data: files with owners, a directory, a symlink.
        docker(&[
            "run",
            "--rm",
            "-v",
            &format!("{volume}:/d"),
            "-v",
            "/tmp:/h:ro",
            IMAGE_1,
            "sh",
            "-c",
            "mkdir -p /d/db && echo rows > /d/db/table && head -c 200000 /dev/urandom > /d/blob \
             && chown -R 1000:1000 /d/db && ln -s db/table /d/link",
        ]);
        docker(&["exec", &names[0], "sh", "-c", "echo anon > /anon/a.txt"]);
        assert!(
            wait_for(Duration::from_secs(30), || {
                inspect(&names[0])["State"]["Health"]["Status"] == "healthy"
            }),
            "the api container did not become healthy"
        );
        let orig: Vec<Value> = names.iter().map(|n| inspect(n)).collect();
        let out = e.ok(&[
            "--json",
            "snapshot",
            "--host",
            "--host-root",
            s(&host_a),
            "--no-host-commands",
            "--container",
            &names[0],
            "--container",
            &names[1],
            "--container",
            &names[2],
            s(&models),
        ]);
        let v: Value = serde_json::from_str(&out).unwrap();
        let snapshot = v["id"].as_str().unwrap().to_string();
        Some(Fixture {
            _px: px,
            e,
            names,
            volume,
            network,
            models,
            host_a,
            snapshot,
            orig,
        })
    }

    /// `recover SNAPSHOT` onto `bare`, into `dirs` (without the flush: tests need no crash
    /// safety), then `extra`.
    fn recover_command(&self, bare: &BareEngine, dirs: &Dirs, extra: &[&str]) -> Command {
        let mut c = self.e.cmd();
        c.args(["recover", &self.snapshot, "--docker-host", &bare.host()])
            .args([
                "--host-root",
                s(&dirs.host_root),
                "--target",
                s(&dirs.target),
            ])
            .args(["--state-dir", s(&dirs.state), "--no-sync"])
            .args(extra);
        c
    }

    fn recover(&self, bare: &BareEngine, dirs: &Dirs, extra: &[&str]) -> Output {
        self.recover_command(bare, dirs, extra).output().unwrap()
    }
}

/// The empty directories a recovery writes into.
struct Dirs {
    host_root: PathBuf,
    target: PathBuf,
    state: PathBuf,
}

impl Dirs {
    fn new(e: &Env, tag: &str) -> Dirs {
        let d = Dirs {
            host_root: e.path(&format!("{tag}-host")),
            target: e.path(&format!("{tag}-target")),
            state: e.path(&format!("{tag}-state")),
        };
        for p in [&d.host_root, &d.target, &d.state] {
            std::fs::create_dir_all(p).unwrap();
        }
        d
    }
}

fn show(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Every file under `root` (relative path -> SHA-256 hex), read independently of lifeboat.
fn hashes(root: &Path) -> BTreeMap<String, String> {
    use sha2::Digest;
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(root).into_iter().flatten() {
        if e.file_type().is_file() {
            let bytes = std::fs::read(e.path()).unwrap();
            let rel = e
                .path()
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            out.insert(rel, hex::encode(sha2::Sha256::digest(&bytes)));
        }
    }
    out
}

/// Everything that must be equal after the recovery, compared with independent code; one
/// line per difference.
fn differences(fx: &Fixture, bare: &BareEngine, dirs: &Dirs) -> Vec<String> {
    let mut bad = Vec::new();
    // Containers: the inspect, field by field (generated values are blanked by the shared
    // test comparison: IDs, generated hostname and alias, runtime state).
    let orig_ids = ids_of(&fx.orig.iter().collect::<Vec<_>>());
    let mut rest = Vec::new();
    for n in &fx.names {
        let out = bare.docker_out(&["container", "inspect", n]);
        if !out.status.success() {
            bad.push(format!("container {n}: not recovered"));
            continue;
        }
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        rest.push(v[0].clone());
    }
    if rest.len() == fx.names.len() {
        let rest_ids = ids_of(&rest.iter().collect::<Vec<_>>());
        for (o, r) in fx.orig.iter().zip(&rest) {
            bad.extend(compare_inspects(o, &orig_ids, r, &rest_ids));
            if o["State"]["Running"] != r["State"]["Running"] {
                bad.push(format!(
                    "{}: running {} vs {}",
                    o["Name"], o["State"]["Running"], r["State"]["Running"]
                ));
            }
        }
    }
    // Exactly one of each object: nothing duplicated by reruns.
    let count = |args: &[&str]| bare.docker(args).lines().filter(|l| !l.is_empty()).count();
    let containers = count(&["ps", "-aq"]);
    if containers != fx.names.len() {
        bad.push(format!(
            "{containers} containers on the bare engine, expected {}",
            fx.names.len()
        ));
    }
    let used: std::collections::BTreeSet<&str> = fx
        .orig
        .iter()
        .flat_map(|o| o["Mounts"].as_array().unwrap().iter())
        .filter(|m| m["Type"] == "volume")
        .map(|m| m["Name"].as_str().unwrap())
        .collect();
    let volumes = count(&["volume", "ls", "-q"]);
    if volumes != used.len() {
        bad.push(format!(
            "{volumes} volumes on the bare engine, expected {} (named and anonymous)",
            used.len()
        ));
    }
    // Volume bytes: the named volume's files on both engines.
    let mp = |engine: Option<&BareEngine>, v: &str| -> PathBuf {
        let args = ["volume", "inspect", "-f", "{{.Mountpoint}}", v];
        PathBuf::from(match engine {
            Some(b) => b.docker(&args),
            None => docker(&args),
        })
    };
    let (want, got) = (
        hashes(&mp(None, &fx.volume)),
        hashes(&mp(Some(bare), &fx.volume)),
    );
    if want != got {
        bad.push(format!(
            "volume {}: files differ: {want:?} vs {got:?}",
            fx.volume
        ));
    }
    // Models: SHA-256 of every file under the target.
    let models_rest = common::restored_path(&dirs.target, &fx.models);
    let (want, got) = (hashes(&fx.models), hashes(&models_rest));
    if want != got {
        bad.push(format!("models differ: {want:?} vs {got:?}"));
    }
    // The host tree, field by field (type, mode, owner, size, mtime, xattrs, content).
    let scan = |root: &Path| {
        let mut t = common::scan(root);
        t.retain(|rel, n| !rel.is_empty() && n.ty == common::Ty::File);
        t
    };
    bad.extend(common::compare_trees(
        &fx.host_a,
        &scan(&fx.host_a),
        &dirs.host_root,
        &scan(&dirs.host_root),
        common::Compare {
            atime: false,
            owners: common::is_root(),
        },
    ));
    bad
}

#[test]
fn recover_onto_a_bare_engine_is_exact() {
    let Some(fx) = Fixture::build() else { return };
    let Some(bare) = BareEngine::start() else {
        return;
    };
    let dirs = Dirs::new(&fx.e, "one");

    // --plan writes nothing and names what it would do.
    let plan = fx.recover(&bare, &dirs, &["--plan"]);
    assert!(plan.status.success(), "{}", show(&plan));
    let text = String::from_utf8_lossy(&plan.stdout);
    for want in [
        fx.names[0].as_str(),
        fx.volume.as_str(),
        fx.network.as_str(),
        "load from the snapshot",
    ] {
        assert!(text.contains(want), "plan lacks {want}:\n{text}");
    }
    assert_eq!(bare.docker(&["ps", "-aq"]), "", "--plan created containers");
    assert!(
        std::fs::read_dir(&dirs.target).unwrap().next().is_none(),
        "--plan wrote files"
    );

    let out = fx.recover(&bare, &dirs, &["--json"]);
    assert!(out.status.success(), "{}", show(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["exact"], true, "{}", show(&out));
    let bad = differences(&fx, &bare, &dirs);
    assert!(
        bad.is_empty(),
        "recovery differs in {} way(s):\n  {}",
        bad.len(),
        bad.join("\n  ")
    );
    // The report: each container compared, volumes and models verified, the audit ran.
    let d = &report["report"]["docker"];
    assert_eq!(d["containers"].as_array().unwrap().len(), 3, "{d}");
    for c in d["containers"].as_array().unwrap() {
        assert_eq!(c["differences"], Value::Array(vec![]), "{c}");
    }
    assert!(
        d["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["check"]["differing"] == Value::Array(vec![])),
        "{d}"
    );
    assert!(
        report["report"]["files_check"]["files_verified"]
            .as_u64()
            .unwrap()
            >= 3
    );
    assert!(
        report["report"]["audit"]["checked"]
            .as_array()
            .is_some_and(|c| !c.is_empty())
    );
    // The env value is a secret: never in the output.
    assert!(!String::from_utf8_lossy(&out.stdout).contains("s3cr3t"));

    // A second run finds everything in place and changes nothing.
    let again = fx.recover(&bare, &dirs, &[]);
    assert!(again.status.success(), "{}", show(&again));
    let text = String::from_utf8_lossy(&again.stdout);
    assert!(text.contains("exists and matches: skip"), "{text}");
    assert!(text.contains(": exact"), "{text}");
    let bad = differences(&fx, &bare, &dirs);
    assert!(
        bad.is_empty(),
        "after a second run:\n  {}",
        bad.join("\n  ")
    );
}

/// Killed (SIGKILL) at random points and run again until it completes: nothing duplicated,
/// the result exact, the report clean.
#[test]
fn recover_killed_at_random_points_completes() {
    let Some(fx) = Fixture::build() else { return };
    let Some(bare) = BareEngine::start() else {
        return;
    };
    let dirs = Dirs::new(&fx.e, "kill");
    let mut rng = Rng(std::process::id() as u64);
    let mut kills = 0;
    for round in 0..6 {
        let mut child = fx
            .recover_command(&bare, &dirs, &[])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let wait_ms = 150 + rng.next_u64() % (400 + 500 * round);
        std::thread::sleep(Duration::from_millis(wait_ms));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            kills += 1;
        }
        let _ = child.wait();
    }
    eprintln!("recover was killed {kills} time(s)");
    let out = fx.recover(&bare, &dirs, &["--json"]);
    assert!(out.status.success(), "{}", show(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["exact"], true, "{}", show(&out));
    let bad = differences(&fx, &bare, &dirs);
    assert!(
        bad.is_empty(),
        "after {kills} kill(s):\n  {}",
        bad.join("\n  ")
    );
    // The journal is gone once the recovery completed.
    let left: Vec<_> = walkdir::WalkDir::new(&dirs.state)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .collect();
    assert!(left.is_empty(), "journal left behind: {left:?}");
}

/// Nothing on the bare engine and nothing in the recovery's directories.
fn nothing_written(bare: &BareEngine, dirs: &Dirs) -> Vec<String> {
    let mut bad = Vec::new();
    for (what, args) in [
        ("containers", &["ps", "-aq"][..]),
        ("volumes", &["volume", "ls", "-q"][..]),
        ("images", &["images", "-q"][..]),
    ] {
        let out = bare.docker(args);
        if !out.trim().is_empty() {
            bad.push(format!("{what} on the bare engine: {out}"));
        }
    }
    for d in [&dirs.host_root, &dirs.target] {
        if std::fs::read_dir(d).unwrap().next().is_some() {
            bad.push(format!("{} is not empty", d.display()));
        }
    }
    bad
}

/// `export` + `recover --from FILE`: the same exact recovery from one portable file with its
/// own password; a wrong password, a flipped byte and a cut archive are refused before
/// anything is written.
#[test]
fn recover_from_a_portable_archive() {
    let Some(fx) = Fixture::build() else { return };
    let Some(bare) = BareEngine::start() else {
        return;
    };
    let archive_pass = fx.e.path("archive-pass");
    put(
        fx.e.dir.path(),
        "archive-pass",
        b"another long archive secret\n",
        0o600,
    );
    let archive = fx.e.path("host.lbx");
    let out =
        fx.e.cmd()
            .env("LIFEBOAT_ARCHIVE_PASSWORD_FILE", &archive_pass)
            .args(["export", &fx.snapshot, "--output", s(&archive)])
            .output()
            .unwrap();
    assert!(out.status.success(), "export: {}", show(&out));
    let host = bare.host();
    let from = |file: &Path, password: &str, dirs: &Dirs, extra: &[&str]| -> Output {
        let mut c = common::lifeboat_cmd();
        c.env("LIFEBOAT_PASSWORD", password).args([
            "recover",
            "--from",
            s(file),
            "--docker-host",
            &host,
            "--host-root",
            s(&dirs.host_root),
            "--target",
            s(&dirs.target),
            "--state-dir",
            s(&dirs.state),
            "--no-sync",
        ]);
        c.args(extra).output().unwrap()
    };
    let archive_secret = "another long archive secret";

    // The repository's password does not open the archive.
    let dirs = Dirs::new(&fx.e, "bad");
    let wrong = from(&archive, common::PASSWORD, &dirs, &[]);
    assert_eq!(common::code(&wrong), 12, "{}", show(&wrong));
    // A flipped byte in the middle (inside the image's pack) and a cut archive.
    let bytes = std::fs::read(&archive).unwrap();
    let mut flipped = bytes.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x20;
    let tampered = fx.e.path("tampered.lbx");
    std::fs::write(&tampered, &flipped).unwrap();
    let cut = fx.e.path("cut.lbx");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    for (file, what) in [(&tampered, "damaged"), (&cut, "truncated")] {
        let out = from(file, archive_secret, &dirs, &[]);
        assert_eq!(common::code(&out), 4, "{what}: {}", show(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(what) && err.contains(s(file)), "{what}: {err}");
    }
    let bad = nothing_written(&bare, &dirs);
    assert!(
        bad.is_empty(),
        "a refused archive wrote:\n  {}",
        bad.join("\n  ")
    );

    // The archive itself: exact.
    let dirs = Dirs::new(&fx.e, "lbx");
    let out = from(&archive, archive_secret, &dirs, &["--json"]);
    assert!(out.status.success(), "{}", show(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["exact"], true, "{}", show(&out));
    let bad = differences(&fx, &bare, &dirs);
    assert!(
        bad.is_empty(),
        "recovery from the archive differs:\n  {}",
        bad.join("\n  ")
    );
    // A read-only archive keeps no undo snapshot, and the report says so.
    let warnings = report["report"]["host"]["warnings"].to_string();
    assert!(warnings.contains("no undo snapshot"), "{warnings}");
}

/// A host profile that `sshd -t` refuses is written nowhere: not by the host phase, and not by
/// the files phase either (the profile's files are the host phase's alone, also when the
/// snapshot lists them as paths); the rest of the recovery still happens.
#[test]
fn refused_host_profile_is_written_nowhere() {
    if !(std::path::Path::new("/usr/sbin/sshd").exists() || common::has_tool("sshd")) {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but sshd is missing"
        );
        eprintln!("skipping: sshd is not installed");
        return;
    }
    let e = Env::new();
    let host_a = e.path("host-a");
    put(
        &host_a,
        "etc/ssh/sshd_config",
        b"NoSuchSshdOption yes\n",
        0o644,
    );
    put(
        &host_a,
        "etc/sudoers.d/90-ops",
        b"ops ALL=(ALL) ALL\n",
        0o440,
    );
    let models = e.path("srv/models");
    put(&models, "m.safetensors", &Rng(3).bytes(100_000), 0o644);
    e.ok(&[
        "snapshot",
        "--host",
        "--host-root",
        s(&host_a),
        "--no-host-commands",
        s(&models),
    ]);
    let dirs = Dirs::new(&e, "r");
    let out = e.run(&[
        "recover",
        "--host-root",
        s(&dirs.host_root),
        "--target",
        s(&dirs.target),
        "--state-dir",
        s(&dirs.state),
        "--no-sync",
    ]);
    assert_eq!(common::code(&out), 1, "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("phase host failed"),
        "{}",
        show(&out)
    );
    let found: Vec<_> = walkdir::WalkDir::new(&dirs.host_root)
        .into_iter()
        .chain(walkdir::WalkDir::new(&dirs.target))
        .flatten()
        .filter(|x| x.file_name() == "sshd_config" || x.file_name() == "90-ops")
        .map(|x| x.path().to_path_buf())
        .collect();
    assert!(
        found.is_empty(),
        "the refused profile was written: {found:?}"
    );
    let restored = common::restored_path(&dirs.target, &models.join("m.safetensors"));
    assert!(
        restored.is_file(),
        "the files phase did not run:\n{}",
        show(&out)
    );
}
