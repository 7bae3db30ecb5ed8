//! Docker deployments through the real binary against the real engine: a container that sets
//! every field this engine accepts is snapshotted with its image, networks and volumes, all of
//! it is deleted, and the restore is compared field by field with the original inspect and byte
//! by byte with the original volume contents (docs: DOCKER-FIDELITY "How to prove it"). Plus
//! restore over an existing container (with and without `--replace`), the `lifeboat.stop` label
//! (also when the snapshot is interrupted), `lifeboat.exclude`, `--dry-run`, and secrets that
//! must never be printed.
//!
//! Every object a test makes carries a unique prefix and is removed when the test ends. Without
//! an engine the tests skip, except in CI (`CI=true`), where they fail.

mod common;
mod docker_support;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use common::{Env, Rng, code, s};
use docker_support::{
    IMAGE_1, IMAGE_2, Prefix, api_post, build_private_image, compare_inspects, compare_listings,
    diff_values, docker, docker_available, docker_out, docker_time_now, docker_v,
    ensure_test_image, exists, ids_of, inspect, inspect_kind, is_running, listing, network_def,
    replayable, volume_at, volume_def, wait_for,
};
use serde_json::{Value, json};

/// A command that stops within a second on SIGTERM or SIGUSR1 (plain `sleep` as PID 1 ignores
/// them and every stop would wait for the stop timeout).
const IDLE: &str = "trap 'exit 0' TERM INT USR1; while :; do sleep 1; done";

/// One test's world: Docker objects with a unique prefix and a lifeboat repository. Fields drop
/// in order: the Docker objects go first, then the temp dir (bind-mount sources live there).
struct Fx {
    px: Prefix,
    e: Env,
}

impl Fx {
    /// `None` (after printing why) when there is no engine outside CI.
    fn new() -> Option<Fx> {
        if !docker_available() {
            return None;
        }
        ensure_test_image();
        Some(Fx {
            px: Prefix::new(),
            e: Env::new(),
        })
    }

    fn n(&self, suffix: &str) -> String {
        self.px.n(suffix)
    }

    /// Run lifeboat with these arguments (after `--repo R`).
    fn run(&self, args: &[&str]) -> Output {
        self.e.run(args)
    }

    /// Run lifeboat and require success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        self.e.ok(args)
    }

    /// `lifeboat --json snapshot ARGS`, returns the snapshot ID.
    fn snapshot(&self, args: &[&str]) -> String {
        let mut a = vec!["--json", "snapshot"];
        a.extend_from_slice(args);
        let out = self.ok(&a);
        let v: Value = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("snapshot --json: not JSON ({e}):\n{out}"));
        v["id"]
            .as_str()
            .unwrap_or_else(|| panic!("snapshot --json without an id: {out}"))
            .to_string()
    }
}

/// stdout and stderr of a run, together, for "does the output mention X" checks.
fn all_output(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn show_run(args: &[&str], o: &Output) -> String {
    format!(
        "lifeboat {args:?} exited {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Run `docker run -d ARGS` (owned strings), returns the container ID.
fn docker_run(args: &[String]) -> String {
    let mut a = vec!["run".to_string(), "-d".to_string()];
    a.extend_from_slice(args);
    docker_v(&a)
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_string()).collect()
}

/// Bytes derived from the prefix, to spread subnets, ports and MACs between runs.
fn prefix_bytes(px: &Prefix) -> [u8; 32] {
    *blake3::hash(px.0.as_bytes()).as_bytes()
}

/// A /24 in 10.200-249.x.0 that no network on this engine uses yet, created as `name`.
fn create_network_with_free_subnet(px: &Prefix, name: &str, extra: &[&str]) -> String {
    let h = prefix_bytes(px);
    for attempt in 0..16u8 {
        let a = 200 + (h[0].wrapping_add(attempt * 7)) % 50;
        let b = h[1].wrapping_add(attempt.wrapping_mul(31));
        let net = format!("10.{a}.{b}");
        let mut args = strs(&[
            "network",
            "create",
            "--subnet",
            &format!("{net}.0/24"),
            "--gateway",
            &format!("{net}.1"),
            "--ip-range",
            &format!("{net}.128/25"),
        ]);
        args.extend(extra.iter().map(|s| (*s).to_string()));
        args.push(name.to_string());
        let a2: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = docker_out(&a2);
        if out.status.success() {
            return net;
        }
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("overlap"),
            "docker network create {name} failed: {err}"
        );
    }
    panic!("no free 10.x.y.0/24 subnet found for {name}");
}

/// `n` consecutive ports free for TCP and UDP on all addresses.
fn free_ports(px: &Prefix, n: u16) -> u16 {
    let h = prefix_bytes(px);
    let mut base = 20000 + u16::from_le_bytes([h[2], h[3]]) % 30000;
    for _ in 0..200 {
        let all_free = (base..base + n).all(|p| {
            std::net::TcpListener::bind(("0.0.0.0", p)).is_ok()
                && std::net::UdpSocket::bind(("0.0.0.0", p)).is_ok()
        });
        if all_free {
            return base;
        }
        base = 20000 + (base - 20000 + 97) % 30000;
    }
    panic!("no {n} consecutive free ports found");
}

/// A block device of this machine for the blkio throttle fields, if any.
fn a_block_device() -> Option<String> {
    let mut names: Vec<String> = std::fs::read_dir("/sys/block")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| {
            !["loop", "ram", "zram", "dm-", "md", "nbd"]
                .iter()
                .any(|p| n.starts_with(p))
        })
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|n| format!("/dev/{n}"))
        .find(|p| Path::new(p).exists())
}

/// Run a shell script in a container as root.
fn exec_root(container: &str, script: &str) {
    docker(&["exec", "-u", "0:0", container, "sh", "-c", script]);
}

/// What the fidelity test writes into the volumes of `app`: owners, modes, a set-group-ID
/// directory, a sticky directory, symlinks (one dangling), a hard link, a FIFO, an old mtime,
/// a 5 MiB random file; in the image's anonymous volume the seeded file is deleted (a restore
/// must not bring the image's copy back) and others are written.
const FILL_VOLUMES: &str = r#"set -e
cd /data
mkdir -p sub/deeper empty
echo hello > hello.txt
touch -d '2020-01-02 03:04:05' hello.txt
ln hello.txt hard.txt
printf 'private\n' > sub/private.txt
chmod 600 sub/private.txt
chown 1000:2000 sub/private.txt
echo deep > sub/deeper/deep.txt
chown -R 65534:65534 sub/deeper
chown 1000:1000 sub
chmod 2775 sub
chmod 1777 empty
ln -s hello.txt link
ln -s ../missing sub/dangling
mkfifo pipe
head -c 5242880 /dev/urandom > big.bin
chmod 444 big.bin
chmod 750 /data
rm /imgvol/seed.txt
echo written > /imgvol/written.txt
mkdir /imgvol/d
chown 1000:1000 /imgvol/d
echo anon > /anon/a.txt
chmod 700 /anon
"#;

/// The paths of `app` whose contents must come back byte for byte.
const APP_VOLUME_PATHS: [&str; 3] = ["/data", "/imgvol", "/anon"];

#[test]
fn fidelity_round_trip() {
    let Some(fx) = Fx::new() else { return };
    let px = &fx.px;
    let (app, side, peer) = (fx.n("app"), fx.n("side"), fx.n("peer"));
    let (net1, net2) = (fx.n("net1"), fx.n("net2"));
    let (data, cfg, nc) = (fx.n("data"), fx.n("cfg"), fx.n("nc"));
    // An image of its own: it is deleted below, and tests in parallel use the shared one.
    let img = format!("{}img:1", px.0);
    build_private_image(&img);
    let bind = fx.e.path("bind");
    std::fs::create_dir_all(&bind).unwrap();
    std::fs::write(bind.join("from-host.txt"), b"bind mount content\n").unwrap();

    // Networks: one with a user-chosen subnet, gateway and range, options and labels; one
    // internal, attachable, with an MTU option and an automatic subnet.
    let subnet = create_network_with_free_subnet(
        px,
        &net1,
        &[
            "--label",
            "lbt.net=one",
            "-o",
            "com.docker.network.bridge.enable_icc=true",
        ],
    );
    docker(&[
        "network",
        "create",
        "--internal",
        "--attachable",
        "--label",
        "lbt.net=two",
        "-o",
        "com.docker.network.driver.mtu=1400",
        &net2,
    ]);
    // Volumes: one with labels (gets the data), one with driver options (a tmpfs: no data kept),
    // one mounted with NoCopy.
    docker(&[
        "volume",
        "create",
        "--label",
        "lbt.vol=data",
        "--label",
        "com.example.backup=daily",
        &data,
    ]);
    docker(&[
        "volume",
        "create",
        "--opt",
        "type=tmpfs",
        "--opt",
        "device=tmpfs",
        "--opt",
        "o=size=8m,uid=1000",
        "--label",
        "lbt.vol=cfg",
        &cfg,
    ]);
    docker(&["volume", "create", &nc]);

    let port = free_ports(px, 4);
    let p = |k: u16| (port + k).to_string();
    let ip_app = format!("{subnet}.10");
    let ip_peer = format!("{subnet}.11");
    let bind_s = s(&bind).to_string();

    // `app`: every field this engine accepts from `docker run` without special hardware
    // (refused here: --privileged, --cap-add ALL, --storage-opt, --blkio-weight (discarded),
    // bind propagation rslave (/ is not shared), --mac-address from this newer CLI).
    let mut a = strs(&[
        "--name",
        &app,
        "--hostname",
        "apphost",
        "--domainname",
        "example.test",
        "-e",
        "IMG_DEFAULT=overridden",
        "-e",
        "APP_MODE=prod",
        "-e",
        "WITH_SPACE=a b  c",
        "-e",
        "EMPTY=",
        "--entrypoint",
        "/bin/sh",
        "-w",
        "/home/app",
        "-u",
        "1000:1000",
        "-l",
        "com.example.tier=backend",
        "-l",
        "com.docker.compose.project=lbtproj",
        "-l",
        "com.docker.compose.service=app",
        "-l",
        "com.docker.compose.oneoff=False",
        "-l",
        "com.example.note=v a l",
        "-p",
        &format!("127.0.0.1:{}:8080", p(0)),
        "-p",
        &format!("{}:8081/udp", p(1)),
        "-p",
        &format!("127.0.0.1:{}-{}:9090-9091", p(2), p(3)),
        "-p",
        "8082",
        "-P",
        "--expose",
        "7000",
        "-v",
        &format!("{data}:/data"),
        "-v",
        "/anon",
        "-v",
        &format!("{bind_s}:/bind:ro"),
        "--tmpfs",
        "/run2:rw,size=8m,mode=755",
        "--network",
        &net1,
        "--ip",
        &ip_app,
        "--network-alias",
        "appalias",
        "--network-alias",
        "api",
        "--restart",
        "on-failure:3",
        "-m",
        "256m",
        "--memory-reservation",
        "128m",
        "--memory-swap",
        "512m",
        "--cpus",
        "0.5",
        "--cpu-shares",
        "512",
        "--cpuset-cpus",
        "0",
        "--pids-limit",
        "100",
        "--ulimit",
        "nofile=1024:2048",
        "--ulimit",
        "nproc=512:1024",
        "--cap-add",
        "NET_ADMIN",
        "--cap-add",
        "SYS_PTRACE",
        "--cap-drop",
        "MKNOD",
        "--security-opt",
        "no-new-privileges",
        "--read-only",
        "--init",
        "--shm-size",
        "128m",
        "--sysctl",
        "net.core.somaxconn=1024",
        "--ipc",
        "shareable",
        "--add-host",
        "db.local:10.1.2.3",
        "--add-host",
        "cache.local:10.1.2.4",
        "--dns",
        "10.0.0.53",
        "--dns-search",
        "example.internal",
        "--dns-option",
        "ndots:2",
        "--health-cmd",
        "true",
        "--health-interval",
        "30s",
        "--health-timeout",
        "5s",
        "--health-retries",
        "4",
        "--health-start-period",
        "10s",
        "--stop-signal",
        "SIGUSR1",
        "--stop-timeout",
        "7",
        "--log-driver",
        "json-file",
        "--log-opt",
        "max-size=1m",
        "--log-opt",
        "max-file=2",
        "--group-add",
        "2000",
        "--oom-score-adj",
        "100",
        "-t",
        "-i",
        "--device",
        "/dev/null:/dev/mynull:rw",
        &img,
        "-c",
        IDLE,
    ]);
    docker_run(&a);
    docker(&[
        "network", "connect", "--alias", "second", "--alias", "other", &net2, &app,
    ]);

    // `side`: shares app's network, IPC and PID namespaces and its volumes (read-only); has a
    // tmpfs mount with options (here, not on app: volumes-from a container with a tmpfs
    // `--mount` fails on this engine, "get: no such volume").
    a = strs(&[
        "--name",
        &side,
        "--network",
        &format!("container:{app}"),
        "--ipc",
        &format!("container:{app}"),
        "--pid",
        &format!("container:{app}"),
        "--volumes-from",
        &format!("{app}:ro"),
        "-v",
        &format!("{cfg}:/cfg"),
        "--mount",
        "type=tmpfs,destination=/scratch,tmpfs-size=16777216,tmpfs-mode=1770",
        "--restart",
        "unless-stopped",
        "-e",
        "SIDE=1",
        "-l",
        "lbt.role=side",
        "--stop-timeout",
        "2",
        &img,
        "sh",
        "-c",
        IDLE,
    ]);
    docker_run(&a);

    // `peer`: created through the API for what this CLI cannot send to a 1.41 engine (a user
    // MAC address); also a legacy link, static IP, CPU quota, blkio throttles, a non-default
    // runtime, no healthcheck, a private cgroup namespace, mounts with options.
    let h = prefix_bytes(px);
    let mac = format!("02:42:0a:{:02x}:{:02x}:99", h[4], h[5]);
    let mut host_config = json!({
        "NetworkMode": net1,
        "PublishAllPorts": true,
        "Memory": 64 << 20,
        "OomKillDisable": true,
        "MemorySwappiness": 10,
        "CpuPeriod": 100_000,
        "CpuQuota": 50_000,
        "CpusetMems": "0",
        "Runtime": "io.containerd.runc.v2",
        "SecurityOpt": ["seccomp=unconfined"],
        "CgroupnsMode": "private",
        "CgroupParent": "/lbt-cgroup",
        "DeviceCgroupRules": ["c 1:3 rmw"],
        "RestartPolicy": {"Name": "always", "MaximumRetryCount": 0},
        "LogConfig": {"Type": "json-file", "Config": {"max-size": "2m"}},
        "Mounts": [
            {"Type": "volume", "Source": nc, "Target": "/nc", "VolumeOptions": {"NoCopy": true}},
            {"Type": "bind", "Source": bind_s, "Target": "/b2", "ReadOnly": true,
             "BindOptions": {"Propagation": "rprivate"}},
        ],
    });
    if let Some(dev) = a_block_device() {
        host_config["BlkioDeviceReadBps"] = json!([{"Path": dev, "Rate": 1 << 20}]);
        host_config["BlkioDeviceWriteIOps"] = json!([{"Path": dev, "Rate": 100}]);
    } else {
        eprintln!("no block device found: blkio throttles not tested");
    }
    let body = json!({
        "Image": img,
        "Cmd": ["sh", "-c", IDLE],
        "User": "app",
        "WorkingDir": "/tmp",
        "Env": ["PEER=1", "EMPTY="],
        "Labels": {"lbt.role": "peer", "empty": ""},
        "ExposedPorts": {"9999/tcp": {}},
        "MacAddress": mac,
        "Healthcheck": {"Test": ["NONE"]},
        "StopSignal": "SIGTERM",
        "StopTimeout": 3,
        "HostConfig": host_config,
        "NetworkingConfig": {"EndpointsConfig": {net1.clone(): {
            "IPAMConfig": {"IPv4Address": ip_peer},
            "Links": [format!("{app}:dbalias")],
            "Aliases": ["peer1"],
        }}},
    });
    api_post(&format!("/v1.41/containers/create?name={peer}"), &body);
    docker(&["start", &peer]);

    // Written from a helper: `docker exec -u 0` into app has no capabilities (app runs as
    // 1000 with no-new-privileges), so it could not chown.
    docker(&[
        "run",
        "--rm",
        "--name",
        &fx.n("fill"),
        "--volumes-from",
        &app,
        &img,
        "sh",
        "-c",
        FILL_VOLUMES,
    ]);
    assert!(
        wait_for(Duration::from_secs(20), || [&app, &side, &peer]
            .iter()
            .all(|c| is_running(c))),
        "fixture containers did not all start"
    );

    // The original state.
    let names = [app.clone(), side.clone(), peer.clone()];
    let orig: Vec<Value> = names.iter().map(|n| inspect(n)).collect();
    let orig_ids = ids_of(&orig.iter().collect::<Vec<_>>());
    let orig_lists: Vec<_> = APP_VOLUME_PATHS.iter().map(|p| listing(&app, p)).collect();
    let orig_vols: Vec<Value> = [&data, &cfg, &nc].iter().map(|v| volume_def(v)).collect();
    let orig_nets = [network_def(&net1, true), network_def(&net2, false)];
    let image_id = inspect_kind("image", &img)["Id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(orig[0]["Image"], image_id.as_str());
    let fields = count_set_fields(&replayable(&orig[0], &orig_ids));
    eprintln!("app sets {fields} replayable leaf fields");

    let snap = fx.snapshot(&[
        "--container",
        &app,
        "--container",
        &side,
        "--container",
        &peer,
    ]);

    // Delete everything: containers (with their anonymous volumes), volumes, networks, image.
    docker(&["rm", "-f", "-v", &side, &peer, &app]);
    docker(&["volume", "rm", &data, &cfg, &nc]);
    docker(&["network", "rm", &net1, &net2]);
    docker(&["rmi", "-f", &img]);
    assert!(
        !exists("image", &image_id),
        "image {image_id} still present"
    );

    let args = ["restore", snap.as_str(), "--containers"];
    let out = fx.run(&args);
    assert!(out.status.success(), "{}", show_run(&args, &out));

    let mut bad = Vec::new();
    if !wait_for(Duration::from_secs(30), || {
        names.iter().all(|n| is_running(n))
    }) {
        for n in &names {
            if !is_running(n) {
                bad.push(format!("{n}: not running after the restore"));
            }
        }
    }
    let missing: Vec<&String> = names.iter().filter(|n| !exists("container", n)).collect();
    assert!(
        missing.is_empty(),
        "containers not restored: {missing:?}\n{}",
        show_run(&args, &out)
    );
    let rest: Vec<Value> = names.iter().map(|n| inspect(n)).collect();
    let rest_ids = ids_of(&rest.iter().collect::<Vec<_>>());
    for (o, r) in orig.iter().zip(&rest) {
        bad.extend(compare_inspects(o, &orig_ids, r, &rest_ids));
    }
    if rest[0]["Image"] != image_id.as_str() {
        bad.push(format!(
            "image: expected {image_id} vs actual {}",
            rest[0]["Image"]
        ));
    }
    let tags = inspect_kind("image", &image_id)["RepoTags"].clone();
    if !tags
        .as_array()
        .is_some_and(|t| t.iter().any(|x| x == img.as_str()))
    {
        bad.push(format!(
            "image tags: expected to contain {img} vs actual {tags}"
        ));
    }
    for (p, l) in APP_VOLUME_PATHS.iter().zip(&orig_lists) {
        bad.extend(compare_listings(p, l, &listing(&app, p)));
    }
    for (v, o) in [&data, &cfg, &nc].iter().zip(&orig_vols) {
        if exists("volume", v) {
            diff_values(&format!("volume {v}"), o, &volume_def(v), &mut bad);
        } else {
            bad.push(format!("volume {v}: not restored"));
        }
    }
    for ((n, ipam), o) in [(&net1, true), (&net2, false)].iter().zip(&orig_nets) {
        if exists("network", n) {
            diff_values(&format!("network {n}"), o, &network_def(n, *ipam), &mut bad);
        } else {
            bad.push(format!("network {n}: not restored"));
        }
    }
    // side shares app's anonymous volumes (volumes-from): still the same volumes.
    for dest in ["/imgvol", "/anon"] {
        let (va, vs) = (volume_at(&rest[0], dest), volume_at(&rest[1], dest));
        if va.is_none() || va != vs {
            bad.push(format!(
                "{dest}: app and side must share one volume: app {va:?}, side {vs:?}"
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "restore differs from the snapshot in {} way(s):\n  {}",
        bad.len(),
        bad.join("\n  ")
    );
}

/// Leaf values of a replayable inspect that are set (not null, empty, false or zero).
fn count_set_fields(v: &Value) -> usize {
    match v {
        Value::Object(o) => o.values().map(count_set_fields).sum(),
        Value::Array(a) if !a.is_empty() => a.iter().map(count_set_fields).sum(),
        Value::Null | Value::Bool(false) | Value::Array(_) => 0,
        Value::String(s) if s.is_empty() => 0,
        Value::Number(n) if n.as_f64() == Some(0.0) => 0,
        _ => 1,
    }
}

/// A plain long-running container with a named volume holding a little data.
fn simple_container(name: &str, image: &str, extra: &[&str]) -> String {
    let vol = format!("{name}-vol");
    let mut a = strs(&[
        "--name",
        name,
        "--init",
        "-v",
        &format!("{vol}:/data"),
        "-e",
        "MODE=one",
        "-l",
        "lbt.test=simple",
        "--restart",
        "unless-stopped",
    ]);
    a.extend(extra.iter().map(|s| (*s).to_string()));
    a.extend(strs(&[image, "sh", "-c", IDLE]));
    let id = docker_run(&a);
    exec_root(
        name,
        "echo data > /data/file.txt && mkdir -p /data/d && chown 1000:1000 /data/d",
    );
    id
}

#[test]
fn update_safety_replace() {
    let Some(fx) = Fx::new() else { return };
    let web = fx.n("web");
    simple_container(&web, IMAGE_1, &["-p", "127.0.0.1::8080"]);
    let orig = inspect(&web);
    let image1 = inspect_kind("image", IMAGE_1)["Id"].clone();
    assert_eq!(orig["Image"], image1);
    let snap = fx.snapshot(&["--container", &web]);

    // An "update": same name, newer image, other environment.
    docker(&["rm", "-f", &web]);
    docker_run(&strs(&[
        "--name",
        &web,
        "--init",
        "-v",
        &format!("{web}-vol:/data"),
        "-e",
        "MODE=two",
        "-e",
        "NEW=1",
        IMAGE_2,
        "sh",
        "-c",
        IDLE,
    ]));
    let updated_id = inspect(&web)["Id"].clone();

    let args = ["restore", snap.as_str(), "--containers", "--replace"];
    let out = fx.run(&args);
    assert!(out.status.success(), "{}", show_run(&args, &out));
    assert!(
        wait_for(Duration::from_secs(30), || is_running(&web)),
        "{web} not running after restore --replace"
    );
    let now = inspect(&web);
    assert_ne!(
        now["Id"], updated_id,
        "the updated container was not replaced"
    );
    let mut bad = compare_inspects(&orig, &ids_of(&[&orig]), &now, &ids_of(&[&now]));
    if now["Image"] != image1 {
        bad.push(format!(
            "image: expected {image1} vs actual {}",
            now["Image"]
        ));
    }
    assert!(
        bad.is_empty(),
        "restore --replace differs from the snapshot in {} way(s):\n  {}",
        bad.len(),
        bad.join("\n  ")
    );
    // The updated container was set aside and removed once the restored one was up.
    let left = fx.px.containers();
    assert_eq!(
        left,
        vec![web.clone()],
        "leftover containers after --replace"
    );
    assert!(
        !exists("container", updated_id.as_str().unwrap()),
        "the replaced container still exists"
    );
}

#[test]
fn existing_container_left_alone_without_replace() {
    let Some(fx) = Fx::new() else { return };
    let keep = fx.n("keep");
    simple_container(&keep, IMAGE_1, &[]);
    let snap = fx.snapshot(&["--container", &keep]);
    // A different container under the same name.
    docker(&["rm", "-f", &keep]);
    simple_container(&keep, IMAGE_1, &["-e", "CHANGED=1"]);
    let before = inspect(&keep);

    let args = ["restore", snap.as_str(), "--containers"];
    let out = fx.run(&args);
    assert_eq!(
        code(&out),
        3,
        "an existing container must be left alone and reported (exit 3)\n{}",
        show_run(&args, &out)
    );
    assert!(
        all_output(&out).contains(&keep),
        "the output must name the container left alone\n{}",
        show_run(&args, &out)
    );
    let after = inspect(&keep);
    assert_eq!(
        after["Id"], before["Id"],
        "the existing container was replaced"
    );
    assert_eq!(after["Config"]["Env"], before["Config"]["Env"]);
    assert!(is_running(&keep), "the existing container was stopped");
    assert_eq!(
        fx.px.containers(),
        vec![keep.clone()],
        "extra containers appeared"
    );
}

/// `docker events` actions of one container between two times.
fn events(container: &str, since: &str, until: &str) -> Vec<String> {
    docker(&[
        "events",
        "--since",
        since,
        "--until",
        until,
        "--filter",
        &format!("container={container}"),
        "--format",
        "{{.Action}}",
    ])
    .lines()
    .map(str::to_string)
    .collect()
}

/// Whether the container died (or was stopped) and was started again after that.
fn stopped_then_started(ev: &[String]) -> bool {
    let stop = ev.iter().position(|a| a == "die" || a == "stop");
    let start = ev.iter().rposition(|a| a == "start");
    matches!((stop, start), (Some(s), Some(t)) if s < t)
}

/// Wait for a child at most `timeout`; one that overstays is killed, reaped, and gives `None`.
fn wait_at_most(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let end = Instant::now() + timeout;
    loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            return Some(st);
        }
        if Instant::now() >= end {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn stop_label_consistency() {
    let Some(fx) = Fx::new() else { return };
    let db = fx.n("db");
    simple_container(&db, IMAGE_1, &["-l", "lifeboat.stop=true"]);

    // A snapshot stops the container while its volume is read, then starts it again.
    let t0 = docker_time_now();
    fx.snapshot(&["--container", &db]);
    let t1 = docker_time_now();
    assert!(is_running(&db), "{db} is not running after the snapshot");
    let ev = events(&db, &t0, &t1);
    assert!(
        stopped_then_started(&ev),
        "expected a stop then a start during the snapshot, events: {ev:?}"
    );

    // Interrupted while reading the volume: the container must be started again all the same.
    let big = fx.e.path("big.bin");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&big).unwrap());
        let mut r = Rng(0x5eed_1234);
        let mut buf = vec![0u8; 1 << 20];
        for _ in 0..300 {
            r.fill(&mut buf);
            f.write_all(&buf).unwrap();
        }
        f.flush().unwrap();
    }
    docker(&["cp", s(&big), &format!("{db}:/data/big.bin")]);
    std::fs::remove_file(&big).unwrap();

    let log = fx.e.path("interrupted.log");
    let t2 = docker_time_now();
    let mut child =
        fx.e.cmd()
            .args(["snapshot", "--container", &db])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("spawn lifeboat");
    let mut stopped = false;
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if !is_running(&db) {
            stopped = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    if !stopped {
        let status = wait_at_most(&mut child, Duration::ZERO);
        panic!(
            "lifeboat never stopped {db} (exited {status:?}): cannot test an interrupt\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }
    // Aim the interrupt at the volume read (about 2 s for 300 MB here): wait briefly for a
    // reader of the volume other than the container itself (a helper container), if lifeboat
    // uses one, then interrupt.
    let vol = format!("{db}-vol");
    let others = |vol: &str| -> Vec<String> {
        docker(&[
            "ps",
            "-a",
            "--filter",
            &format!("volume={vol}"),
            "--format",
            "{{.Names}}",
        ])
        .lines()
        .filter(|n| *n != db)
        .map(str::to_string)
        .collect()
    };
    wait_for(Duration::from_millis(300), || !others(&vol).is_empty());
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(kill.success(), "kill -INT failed");
    let Some(status) = wait_at_most(&mut child, Duration::from_secs(60)) else {
        panic!("lifeboat did not exit within 60 s of SIGINT");
    };
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    let mut bad = Vec::new();
    if !wait_for(Duration::from_secs(30), || is_running(&db)) {
        bad.push(format!(
            "{db} was not started again after the interrupted snapshot"
        ));
    }
    if status.code() != Some(130) {
        bad.push(format!(
            "an interrupted snapshot exits 130, this one {:?}",
            status.code()
        ));
    }
    let left = others(&vol);
    if !left.is_empty() {
        bad.push(format!("containers left using {vol}: {left:?}"));
    }
    let ev = events(&db, &t2, &docker_time_now());
    if !stopped_then_started(&ev) {
        bad.push(format!(
            "expected a stop then a start around the interrupt, events: {ev:?}"
        ));
    }
    assert!(
        bad.is_empty(),
        "interrupted snapshot:\n  {}\nstderr: {log_text}",
        bad.join("\n  ")
    );
}

#[test]
fn exclude_label_and_dry_run() {
    let Some(fx) = Fx::new() else { return };
    let group = format!("lbt.group={}", fx.px.0);
    let (keep, skip, net) = (fx.n("kept"), fx.n("skipped"), fx.n("dnet"));
    docker(&["network", "create", &net]);
    simple_container(&keep, IMAGE_1, &["-l", &group, "--network", &net]);
    simple_container(
        &skip,
        IMAGE_1,
        &["-l", &group, "-l", "lifeboat.exclude=true"],
    );
    let snap = fx.snapshot(&["--label", &group]);

    let show = fx.ok(&["--json", "show", &snap]);
    let _: Value = serde_json::from_str(&show)
        .unwrap_or_else(|e| panic!("show --json: not JSON ({e}):\n{show}"));
    assert!(
        show.contains(&keep),
        "{keep} missing from show --json:\n{show}"
    );
    assert!(
        !show.contains(&skip),
        "{skip} has lifeboat.exclude=true but is in the snapshot:\n{show}"
    );

    // Remove what the snapshot holds; a dry run plans to bring it back and creates nothing.
    docker(&["rm", "-f", &keep]);
    docker(&["volume", "rm", &format!("{keep}-vol")]);
    docker(&["network", "rm", &net]);
    let state = |px: &Prefix| (px.containers(), px.volumes(), px.networks());
    let before = state(&fx.px);
    let args = ["restore", snap.as_str(), "--containers", "--dry-run"];
    let out = fx.run(&args);
    assert!(out.status.success(), "{}", show_run(&args, &out));
    assert!(
        all_output(&out).contains(&keep),
        "the dry-run plan must name {keep}\n{}",
        show_run(&args, &out)
    );
    assert_eq!(state(&fx.px), before, "--dry-run changed the engine");
    assert!(!exists("container", &keep), "--dry-run created {keep}");
}

#[test]
fn secrets_masked() {
    const SECRET: &str = "s3cr3t-value-123";
    const SECRET2: &str = "n3w-t0ken-456";
    let Some(fx) = Fx::new() else { return };
    let svc = fx.n("svc");
    simple_container(&svc, IMAGE_1, &["-e", &format!("API_TOKEN={SECRET}")]);
    let snap = fx.snapshot(&["--container", &svc]);

    let mut printed: BTreeMap<String, String> = BTreeMap::new();
    for args in [
        vec!["show", snap.as_str()],
        vec!["--json", "show", snap.as_str()],
        vec!["--json", "snapshots"],
        vec!["snapshots"],
    ] {
        let out = fx.run(&args);
        assert!(out.status.success(), "{}", show_run(&args, &out));
        printed.insert(format!("{args:?}"), all_output(&out));
    }
    // Drift: the token and the memory limit change.
    docker(&["rm", "-f", &svc]);
    simple_container(
        &svc,
        IMAGE_1,
        &["-e", &format!("API_TOKEN={SECRET2}"), "-m", "64m"],
    );
    let args = ["diff", snap.as_str(), "--live"];
    let out = fx.run(&args);
    assert_ne!(code(&out), 2, "{}", show_run(&args, &out));
    let diff = all_output(&out);
    let lower = diff.to_lowercase();
    assert!(
        lower.contains("memory"),
        "diff --live must report the memory change\n{}",
        show_run(&args, &out)
    );
    assert!(
        lower.contains("env") || diff.contains("API_TOKEN"),
        "diff --live must report the changed environment\n{}",
        show_run(&args, &out)
    );
    printed.insert(format!("{args:?}"), diff);
    for (cmd, text) in &printed {
        for secret in [SECRET, SECRET2] {
            assert!(
                !text.contains(secret),
                "lifeboat {cmd} printed the secret {secret}:\n{text}"
            );
        }
    }
    // The repository is encrypted: the value is nowhere in it in the clear.
    let mut stack = vec![fx.e.repo.clone()];
    while let Some(d) = stack.pop() {
        for ent in std::fs::read_dir(&d).unwrap() {
            let p = ent.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let bytes = std::fs::read(&p).unwrap();
                assert!(
                    !bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
                    "{} holds the secret in the clear",
                    p.display()
                );
            }
        }
    }
    // Asked for explicitly, it is shown.
    let shown = fx.ok(&["show", &snap, "--show-secrets"]);
    assert!(
        shown.contains(SECRET),
        "show --show-secrets must print the value:\n{shown}"
    );
}

/// The comparison itself: a container recreated with the same `docker run` compares equal (no
/// runtime or generated field leaks into it), and one changed flag is reported. Without this,
/// a comparison that drops too much would let every fidelity bug through.
#[test]
fn comparison_is_sound() {
    let Some(fx) = Fx::new() else { return };
    let (c, net) = (fx.n("cmp"), fx.n("cnet"));
    docker(&["network", "create", &net]);
    let run = |extra: &[&str]| {
        let mut a = strs(&[
            "--name",
            &c,
            "--network",
            &net,
            "--network-alias",
            "cmp",
            "-v",
            "/anon",
            "-e",
            "A=1",
            "-p",
            "127.0.0.1::8080",
        ]);
        a.extend(extra.iter().map(|s| (*s).to_string()));
        a.extend(strs(&[IMAGE_1, "sh", "-c", IDLE]));
        docker_run(&a);
        assert!(wait_for(Duration::from_secs(20), || is_running(&c)));
        let v = inspect(&c);
        docker(&["rm", "-f", "-v", &c]);
        v
    };
    let first = run(&[]);
    let second = run(&[]);
    assert_ne!(first["Id"], second["Id"]);
    let same = compare_inspects(&first, &ids_of(&[&first]), &second, &ids_of(&[&second]));
    assert!(
        same.is_empty(),
        "identical `docker run`s compare different:\n  {}",
        same.join("\n  ")
    );
    let third = run(&["-m", "64m"]);
    let changed = compare_inspects(&first, &ids_of(&[&first]), &third, &ids_of(&[&third]));
    assert!(
        changed.iter().any(|d| d.contains("HostConfig.Memory")),
        "a changed memory limit was not reported: {changed:?}"
    );
}

/// Volume data read and written through the Engine API only (as with a remote or rootless
/// engine): a helper container's archive endpoint out, a tar upload in. Owners, modes (set-ID
/// bits included), the volume root's own owner and mode, symlinks, FIFOs and contents come back;
/// times at the archive's one-second resolution.
#[test]
fn volumes_via_api_round_trip() {
    let Some(fx) = Fx::new() else { return };
    let c = fx.n("api");
    let vol = format!("{c}-vol");
    docker_run(&strs(&[
        "--name",
        &c,
        "-v",
        &format!("{vol}:/data"),
        IMAGE_1,
        "sh",
        "-c",
        IDLE,
    ]));
    exec_root(
        &c,
        "set -e; cd /data; mkdir -p sub/deep; echo hi > a; chown 1234:5678 a; chmod 4750 a; \
         echo g > g; chmod 2755 g; ln -s a link; mkfifo fifo; \
         head -c 3000000 /dev/urandom > sub/deep/big; touch -d '2001-02-03 04:05:06' sub/deep/big; \
         chown 99:99 /data; chmod 700 /data",
    );
    let before = listing(&c, "/data");
    let snap = fx.snapshot(&["--container", &c, "--volumes-via-api"]);
    docker(&["rm", "-f", &c]);
    docker(&["volume", "rm", &vol]);
    let args = [
        "restore",
        snap.as_str(),
        "--containers",
        "--volumes-via-api",
    ];
    let out = fx.run(&args);
    assert!(out.status.success(), "{}", show_run(&args, &out));
    let after = listing(&c, "/data");
    let bad = compare_listings(&vol, &before, &after);
    assert!(
        bad.is_empty(),
        "volume data differs after an API round trip:\n  {}",
        bad.join("\n  ")
    );
}

/// `--compose-project` picks the project's containers and records the compose files their
/// labels name; `--label KEY=VALUE` selects by label.
#[test]
fn compose_project_and_label_selection() {
    let Some(fx) = Fx::new() else { return };
    let project = fx.n("proj");
    let dir = tempfile::tempdir().expect("tempdir");
    let compose = dir.path().join("compose.yaml");
    std::fs::write(&compose, "services:\n  web:\n    image: lifeboat-test:1\n").expect("write");
    let (web, other) = (fx.n("web"), fx.n("other"));
    docker_run(&strs(&[
        "--name",
        &web,
        "-l",
        &format!("com.docker.compose.project={project}"),
        "-l",
        "com.docker.compose.service=web",
        "-l",
        &format!(
            "com.docker.compose.project.working_dir={}",
            dir.path().display()
        ),
        "-l",
        "com.docker.compose.project.config_files=compose.yaml",
        IMAGE_1,
        "sh",
        "-c",
        IDLE,
    ]));
    docker_run(&strs(&[
        "--name",
        &other,
        "-l",
        &format!("lbt.pick={project}"),
        IMAGE_1,
        "sh",
        "-c",
        IDLE,
    ]));
    let snap = fx.snapshot(&["--compose-project", &project, "--no-images"]);
    let show = fx.ok(&["--json", "show", &snap]);
    assert!(
        show.contains(&web) && !show.contains(&other),
        "compose selection wrong:\n{show}"
    );
    let files = fx.ok(&["ls", &snap, "-R"]);
    assert!(
        files.contains(&compose.display().to_string()),
        "compose file not recorded:\n{files}"
    );
    let v: Value = serde_json::from_str(&show).expect("show --json");
    let images = v["deployment"]["images"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        !images.is_empty() && images.iter().all(|i| i["archived"] == json!(false)),
        "--no-images stored image content:\n{show}"
    );
    let snap2 = fx.snapshot(&["--label", &format!("lbt.pick={project}")]);
    let show2 = fx.ok(&["--json", "show", &snap2]);
    assert!(
        show2.contains(&other) && !show2.contains(&web),
        "label selection wrong:\n{show2}"
    );
}

/// Regression: `prune` once walked only the file tree and deleted every volume and image
/// blob. The deployment's data must survive prune and pass `verify --read-data`, and a
/// restore from it must still work.
#[test]
fn prune_keeps_deployment_data() {
    let Some(fx) = Fx::new() else { return };
    let c = fx.n("pruned");
    simple_container(&c, IMAGE_1, &[]);
    let snap = fx.snapshot(&["--container", &c]);
    fx.ok(&["prune"]);
    fx.ok(&["verify", "--read-data"]);
    docker(&["rm", "-f", &c]);
    docker(&["volume", "rm", &format!("{c}-vol")]);
    let args = ["restore", snap.as_str(), "--containers"];
    let out = fx.run(&args);
    assert!(out.status.success(), "{}", show_run(&args, &out));
    let data = docker(&["exec", &c, "cat", "/data/file.txt"]);
    assert_eq!(data.trim(), "data");
}
