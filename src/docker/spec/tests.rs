//! The create-spec tests: real `docker inspect` fixtures (tests/fixtures/docker) turned into
//! create requests, and hostile JSON that must give errors, not panics.

use super::mounts::carry_anonymous_volumes;
use super::*;
use serde_json::json;

const A: &str = include_str!("../../../tests/fixtures/docker/container-a.json");
const B: &str = include_str!("../../../tests/fixtures/docker/container-b.json");
const C: &str = include_str!("../../../tests/fixtures/docker/container-c.json");
const D: &str = include_str!("../../../tests/fixtures/docker/container-d.json");
const F: &str = include_str!("../../../tests/fixtures/docker/container-f.json");
const M: &str = include_str!("../../../tests/fixtures/docker/container-m.json");
const R: &str = include_str!("../../../tests/fixtures/docker/container-r.json");
const L: &str = include_str!("../../../tests/fixtures/docker/container-l.json");
const IMAGE: &str = include_str!("../../../tests/fixtures/docker/image.json");
const IMAGE2: &str = include_str!("../../../tests/fixtures/docker/image2.json");

fn parse(s: &str) -> Value {
    serde_json::from_str(s).unwrap()
}

fn peers() -> Peers {
    let mut p = Peers::default();
    for c in [A, B, C, D, F, L, M, R] {
        let v = parse(c);
        let id = v["Id"].as_str().unwrap().to_owned();
        let name = v["Name"]
            .as_str()
            .unwrap()
            .trim_start_matches('/')
            .to_owned();
        p.labels_by_name.insert(
            name.clone(),
            v["Config"]["Labels"]
                .as_object()
                .cloned()
                .unwrap_or_default(),
        );
        p.names_by_id.insert(id, name);
    }
    p
}

fn spec(container: &str, image: &str) -> CreateSpec {
    create_spec(&parse(container), &parse(image), &peers()).unwrap()
}

#[test]
fn image_defaults_dropped_overrides_kept() {
    // a: image sets FOO=bar PATH=/bin, label img.l=1, VOLUME /data, CMD /bin/sh.
    let s = spec(A, IMAGE);
    let b = &s.body;
    assert_eq!(s.name, "lbspec-a");
    assert_eq!(b["Env"], json!(["FOO=override", "NEW=x"]));
    assert_eq!(b["Labels"], json!({"user.l": "2"}));
    assert_eq!(b["Volumes"], json!({"/anon": {}}));
    assert_eq!(b["Image"], "lbspec-test:1");
    // Entrypoint set by the user: Cmd kept as-is.
    assert_eq!(b["Entrypoint"], json!(["/bin/sleep"]));
    assert_eq!(b["Cmd"], json!(["3600"]));
    assert_eq!(b["ExposedPorts"], json!({"80/tcp": {}}));
    assert_eq!(b["MacAddress"], "02:42:ac:1e:00:99");
    assert!(s.running);
    for gone in [
        "Hostname",
        "Domainname",
        "User",
        "WorkingDir",
        "OnBuild",
        "Tty",
        "AttachStdin",
    ] {
        assert!(b.get(gone).is_none(), "{gone} should be dropped");
    }
}

#[test]
fn image_defaults_healthcheck_entrypoint_user() {
    // l: image 2 has ENTRYPOINT sh -c, CMD "sleep 5", USER 1000, WORKDIR /data, STOPSIGNAL
    // SIGINT, HEALTHCHECK interval 5s. The user overrode user, stop signal, interval, cmd and
    // re-set PATH to the image's value (indistinguishable: dropped).
    let s = spec(L, IMAGE2);
    let b = &s.body;
    assert_eq!(b["Env"], json!(["FOO=zzz"]));
    assert_eq!(b["User"], "0");
    assert_eq!(b["StopSignal"], "SIGTERM");
    assert_eq!(b["StopTimeout"], 20);
    assert_eq!(b["Healthcheck"], json!({"Interval": 9_000_000_000_u64}));
    assert_eq!(b["Cmd"], json!(["sleep 99"]));
    assert!(b.get("Entrypoint").is_none());
    assert!(b.get("WorkingDir").is_none());
    assert!(b.get("Volumes").is_none());
    assert_eq!(b["Labels"], json!({"mine": "yes"}));
    assert_eq!(b["Tty"], true);
    assert_eq!(b["OpenStdin"], true);
    let h = &b["HostConfig"];
    assert_eq!(h["CapAdd"], json!(["CAP_NET_ADMIN", "CAP_SYS_TIME"]));
    assert_eq!(
        h["Ulimits"],
        json!([{"Name": "nofile", "Hard": 2048, "Soft": 1024}])
    );
    assert_eq!(h["Devices"][0]["CgroupPermissions"], "r");
    assert_eq!(h["Init"], true);
    assert_eq!(h["ShmSize"], 268_435_456);
    assert_eq!(h["LogConfig"]["Config"]["max-size"], "5m");
    assert_eq!(
        h["RestartPolicy"],
        json!({"Name": "no", "MaximumRetryCount": 0})
    );
    for gone in [
        "Runtime",
        "ConsoleSize",
        "MaskedPaths",
        "ReadonlyPaths",
        "ContainerIDFile",
    ] {
        assert!(h.get(gone).is_none(), "{gone} should be dropped");
    }
}

#[test]
fn entrypoint_reset_and_explicit_equal_entrypoint() {
    let image = json!({"Config": {"Entrypoint": ["/bin/sh", "-c"], "Cmd": ["sleep 5"]}});
    let base = |ep: Value, cmd: Value| json!({"Id": "0123456789ab0123", "Name": "/x", "Config": {"Image": "i", "Entrypoint": ep, "Cmd": cmd}});
    // `--entrypoint ""`: the engine reports [] and fills Cmd from the image.
    let s = create_spec(
        &base(json!([]), json!(["sleep 5"])),
        &image,
        &Peers::default(),
    )
    .unwrap();
    assert_eq!(s.body["Entrypoint"], json!([]));
    assert!(s.body.get("Cmd").is_none());
    // Entrypoint given equal to the image's with no Cmd: Cmd stayed empty.
    let s = create_spec(
        &base(json!(["/bin/sh", "-c"]), Value::Null),
        &image,
        &Peers::default(),
    )
    .unwrap();
    assert_eq!(s.body["Entrypoint"], json!(["/bin/sh", "-c"]));
    assert!(s.body.get("Cmd").is_none());
    // New entrypoint: Cmd kept even when equal to the image's.
    let s = create_spec(
        &base(json!(["/x"]), json!(["sleep 5"])),
        &image,
        &Peers::default(),
    )
    .unwrap();
    assert_eq!(s.body["Cmd"], json!(["sleep 5"]));
}

#[test]
fn generated_hostname_dropped_user_hostname_kept() {
    assert!(spec(A, IMAGE).body.get("Hostname").is_none());
    assert_eq!(spec(D, IMAGE).body["Hostname"], "myhost");
    // b shares a's network stack: its hostname is a's short ID and must not be sent.
    assert!(spec(B, IMAGE).body.get("Hostname").is_none());
}

#[test]
fn container_modes_rewritten_to_names() {
    let s = spec(B, IMAGE);
    assert_eq!(s.body["HostConfig"]["NetworkMode"], "container:lbspec-a");
    assert!(s.body.get("NetworkingConfig").is_none());
    assert!(s.connect.is_empty());
    assert_eq!(s.depends_on, vec!["lbspec-a"]);
    let s = spec(C, IMAGE);
    assert_eq!(s.body["HostConfig"]["IpcMode"], "container:lbspec-a");
    // Unknown IDs stay as they are.
    let c = json!({"Id": "0123456789abcdef", "Name": "/x", "Config": {"Image": "i"},
        "HostConfig": {"PidMode": "container:ffff", "NetworkMode": "container:0123"}});
    let s = create_spec(&c, &Value::Null, &peers()).unwrap();
    assert_eq!(s.body["HostConfig"]["PidMode"], "container:ffff");
    assert_eq!(s.depends_on, vec!["0123", "ffff"]);
}

#[test]
fn links_and_volumes_from_rewritten() {
    // c: --link lbspec-a:aa --volumes-from lbspec-a --ipc container:lbspec-a
    let s = spec(C, IMAGE);
    let h = &s.body["HostConfig"];
    assert_eq!(h["Links"], json!(["lbspec-a:aa"]));
    assert_eq!(h["VolumesFrom"], json!(["lbspec-a"]));
    assert_eq!(s.depends_on, vec!["lbspec-a"]);
    // VolumesFrom given by ID prefix.
    let a_id = parse(A)["Id"].as_str().unwrap().to_owned();
    let c = json!({"Id": "0123456789abcdef", "Name": "/x", "Config": {"Image": "i"},
        "HostConfig": {"VolumesFrom": [format!("{}:rw", &a_id[..10])], "Links": ["/lbspec-f:/x/db", "lbspec-d"]}});
    let s = create_spec(&c, &Value::Null, &peers()).unwrap();
    assert_eq!(s.body["HostConfig"]["VolumesFrom"], json!(["lbspec-a:rw"]));
    assert_eq!(
        s.body["HostConfig"]["Links"],
        json!(["lbspec-f:db", "lbspec-d:lbspec-d"])
    );
    assert_eq!(s.depends_on, vec!["lbspec-a", "lbspec-d", "lbspec-f"]);
}

#[test]
fn networks_split_static_ip_and_aliases() {
    let s = spec(A, IMAGE);
    assert_eq!(s.body["HostConfig"]["NetworkMode"], "lbspec-net1");
    assert_eq!(
        s.body["NetworkingConfig"],
        json!({"EndpointsConfig": {"lbspec-net1": {"Aliases": ["web", "www"], "IPAMConfig": {"IPv4Address": "172.30.0.10"}}}})
    );
    // net2's runtime address 172.18.0.2 is not pinned, and its generated MAC is not sent; the
    // `{}` that `docker network connect` sent for its IPAM config and driver options is.
    assert_eq!(
        s.connect,
        vec![(
            "lbspec-net2".to_owned(),
            json!({"Aliases": ["other"], "IPAMConfig": {}, "DriverOpts": {}})
        )]
    );
    // Started once (short-ID alias appended) and never started (none yet).
    let f = spec(F, IMAGE);
    assert_eq!(
        f.body["NetworkingConfig"]["EndpointsConfig"]["lbspec-net1"],
        json!({"Aliases": ["zed"]})
    );
    let m = spec(M, IMAGE);
    assert_eq!(
        m.body["NetworkingConfig"]["EndpointsConfig"]["lbspec-net1"],
        json!({"Aliases": ["zed", "alpha"]})
    );
    // Default bridge without settings: no NetworkingConfig.
    let d = spec(D, IMAGE);
    assert!(d.body.get("NetworkingConfig").is_none());
    assert!(d.connect.is_empty());
    assert_eq!(d.body["HostConfig"]["NetworkMode"], "default");
}

#[test]
fn hostname_alias_added_by_engine_dropped() {
    // r: -h rhost, --network-alias api --network-alias api2, connected to net2 with alias rr
    // and to the default bridge. Engine 20.10 appended the short ID and "rhost" to both.
    let s = spec(R, IMAGE2);
    assert_eq!(s.body["Hostname"], "rhost");
    assert_eq!(
        s.body["NetworkingConfig"]["EndpointsConfig"]["lbspec-net1"]["Aliases"],
        json!(["api", "api2"])
    );
    // On the default bridge the engine adds no alias: the `[]` sent at connect is still there
    // and comes back, with the `{}`s.
    let empty = json!({"Aliases": [], "IPAMConfig": {}, "DriverOpts": {}});
    assert_eq!(
        s.connect,
        vec![
            ("bridge".to_owned(), empty),
            (
                "lbspec-net2".to_owned(),
                json!({"Aliases": ["rr"], "IPAMConfig": {}, "DriverOpts": {}})
            )
        ]
    );
    // A hostname equal to the container name is not added by the engine: an alias equal to
    // it was set by the user.
    let c = json!({"Id": "0123456789abcdef", "Name": "/web", "Config": {"Image": "i", "Hostname": "web"},
        "HostConfig": {"NetworkMode": "n"},
        "NetworkSettings": {"Networks": {"n": {"Aliases": ["web", "0123456789ab"]}}}});
    let s = create_spec(&c, &Value::Null, &Peers::default()).unwrap();
    assert_eq!(
        s.body["NetworkingConfig"]["EndpointsConfig"]["n"]["Aliases"],
        json!(["web"])
    );
}

#[test]
fn network_mode_by_id_becomes_name() {
    let c = json!({"Id": "0123456789abcdef", "Name": "/x", "Config": {"Image": "i"},
        "HostConfig": {"NetworkMode": "c8da0e250aa0"},
        "NetworkSettings": {"Networks": {"net1": {"NetworkID": "c8da0e250aa07e03", "IPAMConfig": {"IPv6Address": "fd00::5"}},
                                          "bridge": {"NetworkID": "53d1", "Aliases": null}}}});
    let s = create_spec(&c, &Value::Null, &Peers::default()).unwrap();
    assert_eq!(s.body["HostConfig"]["NetworkMode"], "net1");
    assert_eq!(
        s.body["NetworkingConfig"]["EndpointsConfig"]["net1"],
        json!({"IPAMConfig": {"IPv6Address": "fd00::5"}})
    );
    assert_eq!(s.connect, vec![("bridge".to_owned(), json!({}))]);
}

#[test]
fn gpu_device_requests_and_nvidia_runtime_kept() {
    let gpu = json!({"Driver": "", "Count": -1, "DeviceIDs": null, "Capabilities": [["gpu"]], "Options": {}});
    let c = json!({"Id": "0123456789abcdef", "Name": "/trainer", "Config": {"Image": "pytorch:2"},
        "HostConfig": {"Runtime": "nvidia", "DeviceRequests": [gpu.clone()], "ShmSize": 8_589_934_592_u64,
                       "Ulimits": [{"Name": "memlock", "Soft": -1, "Hard": -1}], "IpcMode": "host"}});
    let s = create_spec(&c, &Value::Null, &Peers::default()).unwrap();
    let h = &s.body["HostConfig"];
    assert_eq!(h["Runtime"], "nvidia");
    assert_eq!(h["DeviceRequests"], json!([gpu]));
    assert_eq!(h["ShmSize"], 8_589_934_592_u64);
    assert_eq!(h["IpcMode"], "host");
    assert_eq!(h["Ulimits"][0]["Soft"], -1);
}

#[test]
fn anonymous_named_and_bind_volumes() {
    let s = spec(A, IMAGE);
    assert_eq!(
        s.anonymous_volumes,
        vec![
            (
                "/anon".to_owned(),
                "22f9b78748e09b8559e82ac2577cf27d14bdc76680b9307b27e4192b5c5d1374".to_owned()
            ),
            (
                "/data".to_owned(),
                "5b6f877dde3e3c094cd5e3ed059c668c610c4c97d286d80debeb96914020706c".to_owned()
            ),
        ]
    );
    assert_eq!(s.named_volumes, vec!["lbspec-vol"]);
    assert_eq!(s.bind_sources, vec!["/tmp"]);
    assert_eq!(
        s.body["HostConfig"]["Binds"],
        json!(["lbspec-vol:/named", "/tmp:/hostdir:ro"])
    );
    // d: anonymous volume through --mount without a source, plus the image's /data.
    let d = spec(D, IMAGE);
    let dests: Vec<&str> = d
        .anonymous_volumes
        .iter()
        .map(|(d, _)| d.as_str())
        .collect();
    assert_eq!(dests, vec!["/data", "/m2"]);
    assert_eq!(d.bind_sources, vec!["/tmp"]);
    assert_eq!(
        d.body["HostConfig"]["Mounts"],
        json!([{"Type": "volume", "Target": "/m2"}, {"Type": "bind", "Source": "/tmp", "Target": "/bm"}])
    );
    // c gets a's volumes through VolumesFrom: named ones listed, anonymous ones by old name.
    let c = spec(C, IMAGE);
    assert_eq!(c.named_volumes, vec!["lbspec-vol"]);
    assert_eq!(c.anonymous_volumes.len(), 2);
}

#[test]
fn compose_depends_on_mapped_to_containers() {
    let labels = |svc: &str| {
        json!({COMPOSE_PROJECT_LABEL: "ml", COMPOSE_SERVICE_LABEL: svc})
            .as_object()
            .cloned()
            .unwrap()
    };
    let mut p = Peers::default();
    p.labels_by_name.insert("ml-db-1".into(), labels("db"));
    p.labels_by_name
        .insert("ml-cache-1".into(), labels("cache"));
    p.labels_by_name
        .insert("ml-cache-2".into(), labels("cache"));
    p.labels_by_name.insert("ml-api-1".into(), labels("api"));
    let mut other = labels("db");
    other.insert(COMPOSE_PROJECT_LABEL.into(), json!("other"));
    p.labels_by_name.insert("other-db-1".into(), other);
    let c = json!({"Id": "0123456789abcdef", "Name": "/ml-api-1", "Config": {"Image": "api",
        "Labels": {COMPOSE_PROJECT_LABEL: "ml", COMPOSE_SERVICE_LABEL: "api",
                   COMPOSE_DEPENDS_ON_LABEL: "db:service_healthy:false,cache:service_started:true,gone:service_started:false"}}});
    let s = create_spec(&c, &Value::Null, &p).unwrap();
    assert_eq!(s.depends_on, vec!["ml-cache-1", "ml-cache-2", "ml-db-1"]);
    // compose labels are kept so Compose still recognizes the container.
    assert_eq!(s.body["Labels"][COMPOSE_SERVICE_LABEL], "api");
}

#[test]
fn peers_resolution() {
    let p = peers();
    let a_id = parse(A)["Id"].as_str().unwrap().to_owned();
    assert_eq!(p.resolve(&a_id).as_deref(), Some("lbspec-a"));
    assert_eq!(p.resolve("/lbspec-a").as_deref(), Some("lbspec-a"));
    assert_eq!(p.resolve(&a_id[..5]).as_deref(), Some("lbspec-a"));
    assert_eq!(p.resolve("zzz"), None);
    assert_eq!(p.resolve(""), None);
}

#[test]
fn hostile_json_errors_not_panics() {
    let p = Peers::default();
    let img = Value::Null;
    assert!(matches!(
        create_spec(&json!(null), &img, &p),
        Err(SpecError::WrongType { .. })
    ));
    assert!(matches!(
        create_spec(&json!([1]), &img, &p),
        Err(SpecError::WrongType { .. })
    ));
    assert!(matches!(
        create_spec(&json!({}), &img, &p),
        Err(SpecError::Missing { .. })
    ));
    assert!(matches!(
        create_spec(&json!({"Id": "x", "Name": "/"}), &img, &p),
        Err(SpecError::Invalid { .. })
    ));
    assert!(matches!(
        create_spec(&json!({"Id": "x", "Name": "/n"}), &img, &p),
        Err(SpecError::Missing { .. })
    ));
    let base = || json!({"Id": "é", "Name": "/n", "Config": {"Image": "i"}});
    assert!(create_spec(&base(), &img, &p).is_ok());
    let cases = [
        ("/Config/Env", json!("A=1")),
        ("/Config/Env", json!([1])),
        ("/Config/Labels", json!(["a"])),
        ("/Config/Hostname", json!(5)),
        ("/Config/Entrypoint", json!({})),
        ("/Config/Healthcheck", json!("x")),
        ("/HostConfig", json!([])),
        ("/State", json!(true)),
        ("/Mounts", json!({})),
        ("/NetworkSettings", json!(1)),
    ];
    for (path, bad) in cases {
        let mut c = base();
        let (parent, key) = path.rsplit_once('/').unwrap();
        c.pointer_mut(if parent.is_empty() { "" } else { parent })
            .unwrap()[key] = bad;
        assert!(create_spec(&c, &img, &p).is_err(), "{path}");
    }
    let nested = [
        json!({"HostConfig": {"Links": [null]}}),
        json!({"HostConfig": {"VolumesFrom": "a"}}),
        json!({"HostConfig": {"Mounts": [{"Type": 1}]}}),
        json!({"HostConfig": {"RestartPolicy": {"Name": []}}}),
        json!({"HostConfig": {"NetworkMode": 3}}),
        json!({"HostConfig": {"Binds": [{}]}}),
        json!({"State": {"Running": "yes"}}),
        json!({"Mounts": [{"Destination": []}]}),
        json!({"NetworkSettings": {"Networks": {"n": {"Aliases": "a"}}}, "HostConfig": {"NetworkMode": "n"}}),
        json!({"NetworkSettings": {"Networks": {"n": 4}}}),
        json!({"NetworkSettings": {"Networks": {"n": {"IPAMConfig": []}}}}),
    ];
    for extra in nested {
        let mut c = base();
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        assert!(create_spec(&c, &img, &p).is_err(), "{extra}");
    }
    // Wrong-typed image.
    assert!(create_spec(&base(), &json!("img"), &p).is_err());
    assert!(create_spec(&base(), &json!({"Config": {"Env": {}}}), &p).is_ok());
    let mut c = base();
    c["Config"]["Env"] = json!(["A=1"]);
    assert!(create_spec(&c, &json!({"Config": {"Env": {}}}), &p).is_err());
    // Odd but well-typed values do not panic.
    let mut c = base();
    c["HostConfig"] = json!({"Links": [":", "", "/:/"], "VolumesFrom": [":", ""], "NetworkMode": "container:",
        "Binds": ["", ":", "a:b:c:d"], "Mounts": [{}], "IpcMode": "container:"});
    c["Mounts"] = json!([{}, {"Type": "volume"}]);
    assert!(create_spec(&c, &img, &p).is_ok());
}

#[test]
fn anonymous_volumes_carried_by_name() {
    let anon = "a".repeat(64);
    let other = "b".repeat(64);
    let live = json!({
        "Mounts": [
            {"Type": "volume", "Name": anon, "Destination": "/imgvol", "RW": true},
            {"Type": "volume", "Name": other, "Destination": "/m", "RW": false},
            {"Type": "volume", "Name": "data", "Destination": "/data", "RW": true},
            {"Type": "volume", "Name": "c".repeat(64), "Destination": "/gone", "RW": true}
        ]
    });
    let image = json!({"Config": {"Volumes": {"/imgvol": {}}}});
    let mut body = json!({
        "Image": "app:2",
        "HostConfig": {
            "Binds": ["data:/data"],
            "Mounts": [{"Type": "volume", "Target": "/m", "ReadOnly": true}]
        }
    });
    let carried = carry_anonymous_volumes(&mut body, &image, &live);
    assert_eq!(
        carried,
        vec![
            ("/imgvol".to_string(), anon.clone()),
            ("/m".to_string(), other.clone())
        ]
    );
    assert_eq!(
        body["HostConfig"]["Binds"],
        json!(["data:/data", format!("{anon}:/imgvol")])
    );
    assert_eq!(body["HostConfig"]["Mounts"][0]["Source"], json!(other));
    // The new image no longer declares /gone: not mounted. Nothing live: nothing carried.
    let mut plain = json!({"Image": "x"});
    assert!(carry_anonymous_volumes(&mut plain, &image, &json!({})).is_empty());
    assert_eq!(plain, json!({"Image": "x"}));
    // Hostile shapes do not panic.
    let mut weird = json!({"HostConfig": 3, "Volumes": {"/imgvol": {}}});
    let c = carry_anonymous_volumes(&mut weird, &Value::Null, &live);
    assert_eq!(c.len(), 1);
}

/// `docker run` sends `[]` for several lists and a raw API create sends null; the engine keeps
/// what it got (docs/DOCKER.md, "Empty list or null"), so the create body carries `[]` and `{}`
/// where the inspect has them and nothing where it has null. False and 0 of settings whose unset
/// value is null are values too.
#[test]
fn empty_lists_replayed_nulls_left_out() {
    let c = json!({"Id": "0123456789abcdef", "Name": "/x",
        "Config": {"Image": "i", "StopTimeout": 0, "OnBuild": [], "Healthcheck": {}},
        "HostConfig": {"Dns": [], "DnsSearch": null, "DnsOptions": [], "PortBindings": {},
            "CapAdd": [], "CapDrop": null, "Devices": [], "Ulimits": [], "BlkioDeviceReadBps": [],
            "VolumesFrom": [], "Links": null, "Binds": [], "DeviceRequests": null,
            "Init": false, "OomKillDisable": false, "MemorySwappiness": null, "PidsLimit": null,
            "CpuShares": 0, "Privileged": false, "CgroupParent": "", "NetworkMode": "n",
            "LogConfig": {"Type": "json-file", "Config": {}}},
        "NetworkSettings": {"Networks": {"n": {"Aliases": [], "Links": [], "DriverOpts": {},
            "IPAMConfig": {"LinkLocalIPs": []}, "MacAddress": "", "IPAddress": ""}}}});
    let s = create_spec(&c, &Value::Null, &Peers::default()).unwrap();
    let h = s.body["HostConfig"].as_object().unwrap();
    let mut sent: Vec<&str> = h.keys().map(String::as_str).collect();
    sent.sort_unstable();
    assert_eq!(
        sent,
        vec![
            "Binds",
            "BlkioDeviceReadBps",
            "CapAdd",
            "Devices",
            "Dns",
            "DnsOptions",
            "Init",
            "LogConfig",
            "NetworkMode",
            "PortBindings",
            "Ulimits",
            "VolumesFrom",
        ]
    );
    assert_eq!(h["Dns"], json!([]));
    assert_eq!(h["PortBindings"], json!({}));
    assert_eq!(h["Init"], json!(false));
    assert_eq!(s.body["StopTimeout"], json!(0));
    assert_eq!(s.body["OnBuild"], json!([]));
    assert_eq!(s.body["Healthcheck"], json!({}));
    assert_eq!(
        s.body["NetworkingConfig"]["EndpointsConfig"]["n"],
        json!({"Aliases": [], "Links": [], "DriverOpts": {}, "IPAMConfig": {}})
    );
    // The same container with nulls: nothing of it is sent.
    let c = json!({"Id": "0123456789abcdef", "Name": "/x",
        "Config": {"Image": "i", "OnBuild": null, "Healthcheck": null},
        "HostConfig": {"Dns": null, "PortBindings": null, "CapAdd": null, "VolumesFrom": null,
            "Init": null, "NetworkMode": "n"},
        "NetworkSettings": {"Networks": {"n": {"Aliases": null, "Links": null,
            "DriverOpts": null, "IPAMConfig": null}}}});
    let s = create_spec(&c, &Value::Null, &Peers::default()).unwrap();
    assert_eq!(
        s.body,
        json!({"Image": "i", "HostConfig": {"NetworkMode": "n"}})
    );
    // A healthcheck object equal to the image's is the image's (the engine copies it).
    let image = json!({"Config": {"Healthcheck": {"Test": ["CMD", "true"]}}});
    let c = json!({"Id": "0123456789abcdef", "Name": "/x",
        "Config": {"Image": "i", "Healthcheck": {"Test": ["CMD", "true"]}}});
    let s = create_spec(&c, &image, &Peers::default()).unwrap();
    assert!(s.body.get("Healthcheck").is_none());
}

/// Only the user's aliases come back once the engine added its own (the container ran or was
/// connected): then `[]` and null cannot be told apart and nothing is sent.
#[test]
fn generated_aliases_hide_an_empty_list() {
    let c = |aliases: Value| {
        json!({"Id": "0123456789abcdef", "Name": "/x", "Config": {"Image": "i"},
            "HostConfig": {"NetworkMode": "n"},
            "NetworkSettings": {"Networks": {"n": {"Aliases": aliases}}}})
    };
    let sent = |aliases: Value| {
        create_spec(&c(aliases), &Value::Null, &Peers::default())
            .unwrap()
            .body["NetworkingConfig"]["EndpointsConfig"]["n"]["Aliases"]
            .clone()
    };
    assert_eq!(sent(json!(["0123456789ab"])), Value::Null);
    assert_eq!(sent(json!(["a", "0123456789ab"])), json!(["a"]));
    assert_eq!(sent(json!([])), json!([]));
    assert_eq!(sent(Value::Null), Value::Null);
}

/// The engine's merge of a create request with its image (20.10, `daemon/commit.go`): an empty
/// Entrypoint lets an empty Cmd become the image's, and a null Entrypoint become the image's.
fn engine_merge(sent: &Value, image: &Value) -> (Value, Value) {
    let get = |v: &Value, k: &str| v.get(k).cloned().unwrap_or(Value::Null);
    let empty = |v: &Value| v.as_array().is_none_or(Vec::is_empty);
    let (mut e, mut c) = (get(sent, "Entrypoint"), get(sent, "Cmd"));
    if empty(&e) {
        if empty(&c) {
            c = get(image, "Cmd");
        }
        if e.is_null() {
            e = get(image, "Entrypoint");
        }
    }
    (e, c)
}

/// Every Entrypoint/Cmd a client can send, against every kind of image: the body built from the
/// resulting inspect gives the same Entrypoint and Cmd again (`[]` and null included), and never
/// sends a value equal to the image's when leaving it out gives the same.
#[test]
fn entrypoint_and_cmd_come_back_exactly() {
    let lists = [Value::Null, json!([]), json!(["/a"]), json!(["/b", "x"])];
    for ie in &lists {
        for ic in &lists {
            let image = json!({"Entrypoint": ie, "Cmd": ic});
            for e in &lists {
                for c in &lists {
                    let (re, rc) = engine_merge(&json!({"Entrypoint": e, "Cmd": c}), &image);
                    let inspect = json!({"Id": "0123456789abcdef", "Name": "/x",
                        "Config": {"Image": "i", "Entrypoint": re, "Cmd": rc}});
                    let s = create_spec(&inspect, &json!({ "Config": image }), &Peers::default())
                        .unwrap();
                    let again = engine_merge(&s.body, &image);
                    let case = format!("image {ie}/{ic}, sent {e}/{c} -> {re}/{rc}: {}", s.body);
                    assert_eq!(again, (re.clone(), rc.clone()), "{case}");
                    // Minimal: dropping what was sent would change the result.
                    for key in ["Entrypoint", "Cmd"] {
                        let mut less = s.body.clone();
                        if less.as_object_mut().unwrap().remove(key).is_some() {
                            let without = engine_merge(&less, &image);
                            assert_ne!(
                                without,
                                (re.clone(), rc.clone()),
                                "{key} not needed: {case}"
                            );
                        }
                    }
                }
            }
        }
    }
}
