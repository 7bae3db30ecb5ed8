//! Exact restore down to "empty list or null", against the real engine (issue 13, Fidelity):
//! `docker run` sends `"Dns": []` and several other empty lists, a raw API create sends null, and
//! the engine keeps what it got, so `docker inspect` tells the two apart and a restore must too.
//! Four containers that set 30+ settings between them are made the ways users make them: through
//! the docker CLI (`[]` lists, `--init=false`, `--stop-timeout 0`, `network connect` with `{}`),
//! through the raw API with explicit nulls, through the API with `[]` and `{}` everywhere and
//! never started, and through the CLI then stopped. They are snapshotted, removed with their
//! networks and volume, restored, and compared with the originals by the test's own comparison
//! (`docker_support`, independent of the library) and by the restore's report: zero differences,
//! and the values that do differ are the generated ones, which the report names.
//!
//! Without an engine the test skips, except in CI (`CI=true`), where it fails.

mod common;
mod docker_support;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{Env, code, s};
use docker_support::{
    IMAGE_1, Prefix, api_post, compare_inspects, docker, docker_available, docker_out,
    ensure_test_image, exists, ids_of, inspect, is_running, wait_for,
};
use serde_json::{Value, json};

/// A command that stops within a second on SIGTERM or SIGUSR1.
const IDLE: &str = "trap 'exit 0' TERM INT USR1; while :; do sleep 1; done";

/// A /24 in 10.150-199.x.0 that no network on this engine uses yet, created as `name`; returns
/// `10.a.b`.
fn network_with_free_subnet(px: &Prefix, name: &str) -> String {
    let h = blake3::hash(px.0.as_bytes());
    let h = h.as_bytes();
    for attempt in 0..16u8 {
        let a = 150 + (h[0].wrapping_add(attempt * 7)) % 50;
        let b = h[1].wrapping_add(attempt.wrapping_mul(31));
        let net = format!("10.{a}.{b}");
        let subnet = format!("{net}.0/24");
        let out = docker_out(&["network", "create", "--subnet", &subnet, name]);
        if out.status.success() {
            return net;
        }
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("overlap"), "network create {name}: {err}");
    }
    panic!("no free 10.x.y.0/24 subnet found for {name}");
}

/// Leaves of a container's `Config` and `HostConfig` that are set (not null, "", false, 0, or
/// an empty list or map): how many settings a container carries.
fn settings(inspect: &Value) -> usize {
    fn count(v: &Value) -> usize {
        match v {
            Value::Object(o) => o.values().map(count).sum(),
            Value::Array(a) => a.iter().map(count).sum(),
            Value::Null | Value::Bool(false) => 0,
            Value::String(s) if s.is_empty() => 0,
            Value::Number(n) if n.as_f64() == Some(0.0) => 0,
            _ => 1,
        }
    }
    count(&inspect["Config"]) + count(&inspect["HostConfig"])
}

/// What the engine may generate for a container: every field the restore's report names as a
/// generated value must be one of these (so no setting can hide there).
fn is_generated_field(field: &str) -> bool {
    const EXACT: &[&str] = &[
        "Id",
        "Created",
        "Config.Hostname",
        "ResolvConfPath",
        "HostnamePath",
        "HostsPath",
        "LogPath",
        "GraphDriver.Data",
        "State.Pid",
        "State.StartedAt",
        "State.FinishedAt",
    ];
    EXACT.contains(&field)
        || field.starts_with("NetworkSettings.")
        || (field.starts_with("Mounts.")
            && (field.ends_with(".Source") || field.ends_with(".Name")))
}

/// The restore report's per-container list (`[[name, [..]], ...]`) as (name, fields).
fn per_container(v: &Value) -> Vec<(String, Vec<String>)> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|pair| {
            let name = pair[0].as_str().unwrap_or("?").to_string();
            let fields = pair[1]
                .as_array()
                .into_iter()
                .flatten()
                .map(|d| d["field"].as_str().unwrap_or("?").to_string())
                .collect();
            (name, fields)
        })
        .collect()
}

#[test]
fn empty_lists_and_nulls_restored_as_set() {
    if !docker_available() {
        return;
    }
    ensure_test_image();
    let px = Prefix::new();
    let e = Env::new();
    let (cli, api, fresh, stopped) = (px.n("cli"), px.n("api"), px.n("fresh"), px.n("stopped"));
    let (n1, n2, vol) = (px.n("n1"), px.n("n2"), px.n("vol"));
    let subnet = network_with_free_subnet(&px, &n1);
    docker(&["network", "create", &n2]);
    docker(&["volume", "create", "--label", "lbt.fidelity=1", &vol]);
    let bind = e.path("bind");
    std::fs::create_dir_all(&bind).unwrap();
    std::fs::write(bind.join("model.txt"), b"weights\n").unwrap();
    let bind_ro = format!("{}:/bind:ro", s(&bind));

    // 1. The docker CLI: lists it leaves empty go as `[]` (Dns, DnsOptions, DnsSearch, Devices,
    //    Ulimits-free Blkio*, PortBindings {}), `--init=false` as false, `--stop-timeout 0` as 0.
    let flags = format!(
        "run -d --name {cli} -e APP_MODE=prod -e EMPTY= -l com.example.tier=backend \
         -l com.example.empty= --entrypoint /bin/sh -w /home/app -u 1000:1000 \
         --health-cmd true --health-interval 30s --health-timeout 5s --health-retries 3 \
         --health-start-period 2s --stop-signal SIGUSR1 --stop-timeout 0 \
         --restart on-failure:2 -m 128m --memory-reservation 64m --cpus 0.5 --cpu-shares 256 \
         --pids-limit 64 --ulimit nofile=1024:2048 --cap-add NET_ADMIN --cap-drop MKNOD \
         --security-opt no-new-privileges --sysctl net.core.somaxconn=1024 \
         --add-host db.local:10.1.2.3 --tmpfs /run2:rw,size=8m --shm-size 128m --init=false \
         --read-only --log-driver json-file --log-opt max-size=1m --group-add 2000 \
         --oom-score-adj 100 --network {n1} --ip {subnet}.10 --network-alias clialias \
         --network-alias backend -v {vol}:/data -v {bind_ro} {IMAGE_1} -c"
    );
    let mut run: Vec<&str> = flags.split_whitespace().collect();
    run.push(IDLE);
    docker(&run);
    // `network connect` sends `"IPAMConfig": {}` and `"DriverOpts": {}`.
    docker(&["network", "connect", "--alias", "second", &n2, &cli]);

    // 2. The raw API with explicit nulls for every list it does not set.
    let ip_api = format!("{subnet}.11");
    let host_config = json!({
        "NetworkMode": n1,
        "Binds": [format!("{vol}:/data:ro"), bind_ro],
        "RestartPolicy": {"Name": "unless-stopped", "MaximumRetryCount": 0},
        "Memory": 96 << 20, "NanoCpus": 250_000_000, "CpuShares": 128, "PidsLimit": 50,
        "MemorySwappiness": 0, "OomScoreAdj": 50,
        "Ulimits": [{"Name": "nofile", "Soft": 512, "Hard": 1024}],
        "CapAdd": ["SYS_PTRACE"], "CapDrop": ["NET_RAW"],
        "SecurityOpt": ["no-new-privileges"],
        "Sysctls": {"net.core.somaxconn": "512"},
        "ExtraHosts": ["cache.local:10.1.2.4"],
        "Dns": ["10.0.0.53"], "DnsSearch": null, "DnsOptions": null,
        "Tmpfs": {"/run3": "size=4m"}, "ShmSize": 32 << 20,
        "Init": true, "ReadonlyRootfs": true,
        "LogConfig": {"Type": "json-file", "Config": {"max-file": "2"}},
        "GroupAdd": ["3000"],
        "Devices": null, "DeviceCgroupRules": null, "DeviceRequests": null,
        "BlkioWeightDevice": null, "BlkioDeviceReadBps": null, "BlkioDeviceWriteBps": null,
        "BlkioDeviceReadIOps": null, "BlkioDeviceWriteIOps": null,
        "VolumesFrom": null, "Links": null, "PortBindings": null,
    });
    let body = json!({
        "Image": IMAGE_1,
        "Hostname": "apihost", "Domainname": "example.test",
        "User": "1000", "WorkingDir": "/tmp",
        "Env": ["API=1", "EMPTY="],
        "Labels": {"com.example.tier": "api"},
        "Entrypoint": ["/bin/sh", "-c"], "Cmd": [IDLE],
        "Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": 20_000_000_000_u64, "Retries": 2},
        "StopSignal": "SIGTERM", "StopTimeout": 3,
        "OnBuild": null, "Shell": null, "Volumes": null, "ExposedPorts": null,
        "HostConfig": host_config,
        "NetworkingConfig": {"EndpointsConfig": {n1.clone(): {
            "IPAMConfig": {"IPv4Address": ip_api}, "Aliases": ["apialias"],
            "Links": null, "DriverOpts": null,
        }}},
    });
    api_post(&format!("/v1.41/containers/create?name={api}"), &body);
    api_post(
        &format!("/v1.41/networks/{n2}/connect"),
        &json!({"Container": api, "EndpointConfig": {"Aliases": null, "IPAMConfig": null}}),
    );
    docker(&["start", &api]);

    // 3. The API with `[]` and `{}` everywhere, never started (so no generated alias hides the
    //    `[]` of its aliases).
    let body = json!({
        "Image": IMAGE_1,
        "Entrypoint": [], "Cmd": ["sh", "-c", IDLE], "OnBuild": [], "Healthcheck": {},
        "HostConfig": {
            "NetworkMode": n1,
            "Binds": [], "Dns": [], "DnsOptions": [], "DnsSearch": [], "CapAdd": [],
            "CapDrop": [], "SecurityOpt": [], "ExtraHosts": [], "GroupAdd": [],
            "VolumesFrom": [], "Devices": [], "DeviceCgroupRules": [], "DeviceRequests": [],
            "Ulimits": [], "BlkioWeightDevice": [], "BlkioDeviceReadBps": [],
            "BlkioDeviceWriteBps": [], "BlkioDeviceReadIOps": [], "BlkioDeviceWriteIOps": [],
            "PortBindings": {}, "Init": false, "RestartPolicy": {"Name": "no"},
        },
        "NetworkingConfig": {"EndpointsConfig": {n1.clone(): {
            "Aliases": [], "Links": [], "DriverOpts": {}, "IPAMConfig": {},
        }}},
    });
    api_post(&format!("/v1.41/containers/create?name={fresh}"), &body);

    // 4. The CLI, started once and stopped: its generated alias and runtime stay behind.
    docker(&[
        "run",
        "-d",
        "--name",
        &stopped,
        "--network",
        &n1,
        IMAGE_1,
        "sh",
        "-c",
        IDLE,
    ]);
    docker(&["network", "connect", &n2, &stopped]);
    docker(&["stop", "-t", "5", &stopped]);

    let names = [cli.clone(), api.clone(), fresh.clone(), stopped.clone()];
    assert!(
        wait_for(Duration::from_secs(20), || is_running(&cli)
            && is_running(&api)),
        "fixture containers did not start"
    );
    let orig: Vec<Value> = names.iter().map(|n| inspect(n)).collect();
    let orig_ids = ids_of(&orig.iter().collect::<Vec<_>>());

    // The originals carry the distinctions the test is about (else it would prove nothing).
    let (c, a, f, st) = (&orig[0], &orig[1], &orig[2], &orig[3]);
    for k in [
        "Dns",
        "DnsOptions",
        "DnsSearch",
        "Devices",
        "BlkioDeviceReadBps",
    ] {
        assert_eq!(c["HostConfig"][k], json!([]), "cli HostConfig.{k}");
        assert_eq!(f["HostConfig"][k], json!([]), "fresh HostConfig.{k}");
    }
    for k in [
        "DnsSearch",
        "DnsOptions",
        "Devices",
        "BlkioDeviceReadBps",
        "VolumesFrom",
    ] {
        assert_eq!(a["HostConfig"][k], Value::Null, "api HostConfig.{k}");
    }
    assert_eq!(c["HostConfig"]["PortBindings"], json!({}));
    assert_eq!(a["HostConfig"]["PortBindings"], Value::Null);
    assert_eq!(c["HostConfig"]["Init"], json!(false));
    assert_eq!(c["Config"]["StopTimeout"], json!(0));
    assert_eq!(
        c["NetworkSettings"]["Networks"][&n2]["DriverOpts"],
        json!({})
    );
    assert_eq!(
        a["NetworkSettings"]["Networks"][&n2]["DriverOpts"],
        Value::Null
    );
    assert_eq!(f["NetworkSettings"]["Networks"][&n1]["Aliases"], json!([]));
    assert_eq!(f["Config"]["Entrypoint"], json!([]));
    assert_eq!(f["Config"]["Healthcheck"], json!({}));
    assert_eq!(st["HostConfig"]["Runtime"], "runc");
    for (n, i) in names.iter().zip(&orig).take(2) {
        let set = settings(i);
        assert!(set >= 30, "{n} sets only {set} settings");
    }

    let snap = e.ok_json(&[
        "snapshot",
        "--container",
        &cli,
        "--container",
        &api,
        "--container",
        &fresh,
        "--container",
        &stopped,
    ])["id"]
        .as_str()
        .expect("snapshot id")
        .to_string();

    docker(&["rm", "-f", "-v", &cli, &api, &fresh, &stopped]);
    docker(&["volume", "rm", &vol]);
    docker(&["network", "rm", &n1, &n2]);

    let args = ["--json", "restore", snap.as_str(), "--containers"];
    let out = e.run(&args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        code(&out),
        0,
        "restore failed:\nstdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_str(&stdout).expect("restore --json");
    assert!(
        wait_for(Duration::from_secs(30), || is_running(&cli)
            && is_running(&api)),
        "restored cli/api not running"
    );
    assert!(!is_running(&fresh) && !is_running(&stopped));
    let rest: Vec<Value> = names.iter().map(|n| inspect(n)).collect();
    let rest_ids = ids_of(&rest.iter().collect::<Vec<_>>());

    // The test's own comparison: nothing differs.
    let mut bad = Vec::new();
    for (o, r) in orig.iter().zip(&rest) {
        bad.extend(compare_inspects(o, &orig_ids, r, &rest_ids));
    }
    assert!(
        bad.is_empty(),
        "restore differs from the originals in {} way(s):\n  {}",
        bad.len(),
        bad.join("\n  ")
    );

    // The restore's own report agrees: no difference; the generated values named, and only
    // values the engine generates.
    assert_eq!(report["differences"], json!([]), "{report}");
    let generated = per_container(&report["generated"]);
    let by_name = |n: &str| -> BTreeSet<String> {
        generated
            .iter()
            .find(|(name, _)| name == n)
            .map(|(_, f)| f.iter().cloned().collect())
            .unwrap_or_default()
    };
    for (name, fields) in &generated {
        for f in fields {
            assert!(is_generated_field(f), "{name}: {f} reported as generated");
        }
    }
    let net = |n: &str, f: &str| format!("NetworkSettings.Networks.{n}.{f}");
    // (A MAC or an address the engine assigns may happen to come back the same: the engine
    // derives the MAC from the address. IDs, the short-ID hostname and alias cannot.)
    let g_cli = by_name(&cli);
    for f in [
        "Id".to_string(),
        "Created".to_string(),
        "Config.Hostname".to_string(),
        net(&n1, "Aliases"),
        net(&n1, "EndpointID"),
        net(&n2, "Aliases"),
    ] {
        assert!(
            g_cli.contains(&f),
            "cli: {f} not named as generated: {g_cli:?}"
        );
    }
    // A user hostname and a static address are settings, not generated.
    let g_api = by_name(&api);
    assert!(g_api.contains("Id"), "{g_api:?}");
    for f in ["Config.Hostname".to_string(), net(&n1, "IPAddress")] {
        assert!(!g_api.contains(&f), "api: {f} named as generated");
    }
    assert_eq!(
        rest[1]["NetworkSettings"]["Networks"][&n1]["IPAddress"],
        ip_api.as_str()
    );
    assert!(by_name(&stopped).contains(&net(&n1, "Aliases")));

    // Both comparisons see a `[]` turned into null, and a `{}` turned into null.
    let mut broken = rest[0].clone();
    broken["HostConfig"]["Dns"] = Value::Null;
    broken["NetworkSettings"]["Networks"][&n2]["DriverOpts"] = Value::Null;
    let ours = compare_inspects(&orig[0], &orig_ids, &broken, &rest_ids);
    assert_eq!(ours.len(), 2, "{ours:?}");
    let lib = lifeboat::docker::compare::container_comparison(&orig[0], &broken);
    let fields: Vec<&str> = lib.differences.iter().map(|d| d.field.as_str()).collect();
    assert_eq!(
        fields,
        vec!["HostConfig.Dns", net(&n2, "DriverOpts").as_str()]
    );
    assert!(exists("volume", &vol) && exists("network", &n1) && exists("network", &n2));
}
