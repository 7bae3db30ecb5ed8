//! The comparison tests: real `docker inspect` fixtures (tests/fixtures/docker) recreated with
//! new generated values, the [] vs null rule, networks, volumes, masking and hostile JSON.

use super::*;
use serde_json::json;

const A: &str = include_str!("../../../tests/fixtures/docker/container-a.json");
const B: &str = include_str!("../../../tests/fixtures/docker/container-b.json");
const M: &str = include_str!("../../../tests/fixtures/docker/container-m.json");
const R: &str = include_str!("../../../tests/fixtures/docker/container-r.json");
const NET: &str = include_str!("../../../tests/fixtures/docker/network-net1.json");
const VOLUME: &str = include_str!("../../../tests/fixtures/docker/volume.json");

fn parse(s: &str) -> Value {
    serde_json::from_str(s).unwrap()
}

fn fields(d: &[Difference]) -> Vec<&str> {
    d.iter().map(|d| d.field.as_str()).collect()
}

#[test]
fn identical_container_has_no_differences() {
    let a = parse(A);
    assert!(compare_containers(&a, &a).is_empty());
}

/// The same container recreated: new ID, timestamps, runtime addresses, generated names.
fn recreated(a: &Value) -> Value {
    let mut r = a.clone();
    let new_id = "9".repeat(64);
    let old_short = a["Id"].as_str().unwrap()[..12].to_owned();
    r["Id"] = json!(new_id);
    r["Created"] = json!("2030-01-01T00:00:00Z");
    r["State"]["Pid"] = json!(4242);
    r["State"]["StartedAt"] = json!("2030-01-01T00:00:01Z");
    r["RestartCount"] = json!(2);
    r["LogPath"] = json!("/elsewhere");
    r["GraphDriver"] = json!({"Name": "overlay2"});
    r["HostConfig"]["ConsoleSize"] = json!([24, 80]);
    r["Config"]["Hostname"] = json!(&new_id[..12]);
    r["NetworkSettings"]["SandboxID"] = json!("x");
    r["NetworkSettings"]["Ports"] = json!({});
    let user_mac = a["Config"]["MacAddress"].clone();
    for (_, ep) in r["NetworkSettings"]["Networks"].as_object_mut().unwrap() {
        ep["EndpointID"] = json!("y");
        ep["NetworkID"] = json!("z");
        // A static address and a user-set MAC come back; the others are generated.
        if ep["IPAMConfig"]["IPv4Address"].is_null() {
            ep["IPAddress"] = json!("10.9.9.9");
        }
        if ep["MacAddress"] != user_mac {
            ep["MacAddress"] = json!("02:42:0a:09:09:09");
        }
        // Same aliases in another order, with the new short ID.
        let mut aliases: Vec<Value> = ep["Aliases"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a.as_str() != Some(old_short.as_str()))
            .cloned()
            .collect();
        aliases.reverse();
        aliases.insert(0, json!(&new_id[..12]));
        ep["Aliases"] = Value::Array(aliases);
    }
    // Mounts in another order, anonymous volumes with new names.
    let mounts = r["Mounts"].as_array_mut().unwrap();
    mounts.reverse();
    for m in mounts.iter_mut() {
        if m["Name"].as_str().is_some_and(is_generated_volume_name) {
            m["Name"] = json!("f".repeat(64));
            m["Source"] = json!(format!("/var/lib/docker/volumes/{}/_data", "f".repeat(64)));
        }
    }
    r
}

#[test]
fn runtime_and_generated_fields_ignored_alias_order_is_a_set() {
    let a = parse(A);
    let r = recreated(&a);
    assert_eq!(compare_containers(&a, &r), vec![]);
    // The generated values that differ are named, each with both values.
    let c = container_comparison(&a, &r);
    assert!(c.is_exact());
    let (anon, short) = ("Mounts./anon", &a["Id"].as_str().unwrap()[..12]);
    assert_eq!(
        c.generated_fields(),
        vec![
            "Config.Hostname",
            "Created",
            "GraphDriver.Data",
            "Id",
            "LogPath",
            &format!("{anon}.Name"),
            &format!("{anon}.Source"),
            "Mounts./data.Name",
            "Mounts./data.Source",
            "NetworkSettings.Networks.lbspec-net1.Aliases",
            "NetworkSettings.Networks.lbspec-net1.EndpointID",
            "NetworkSettings.Networks.lbspec-net1.NetworkID",
            "NetworkSettings.Networks.lbspec-net2.Aliases",
            "NetworkSettings.Networks.lbspec-net2.EndpointID",
            "NetworkSettings.Networks.lbspec-net2.IPAddress",
            "NetworkSettings.Networks.lbspec-net2.MacAddress",
            "NetworkSettings.Networks.lbspec-net2.NetworkID",
            "NetworkSettings.Ports",
            "NetworkSettings.SandboxID",
            "State.Pid",
            "State.StartedAt",
        ]
    );
    let alias = &c.generated[9];
    assert_eq!(alias.expected, json!([short]));
    assert_eq!(alias.actual, json!(["999999999999"]));
    assert_eq!(c.generated[0].expected, json!(short));
    let n = normalize_container(&a);
    assert_eq!(
        n["NetworkSettings"]["Networks"]["lbspec-net1"]["Aliases"],
        json!(["web", "www"])
    );
    assert!(n.get("Id").is_none() && n["Config"].get("Hostname").is_none());
    assert_eq!(
        n["Mounts"]["/anon"],
        json!({"Type": "volume", "Driver": "local", "RW": true})
    );
    assert_eq!(n["State"], json!({"Running": true}));
}

#[test]
fn changed_memory_env_and_static_ip_found() {
    let a = parse(A);
    let mut r = recreated(&a);
    r["HostConfig"]["Memory"] = json!(134_217_728);
    r["Config"]["Env"] = json!(["PATH=/bin", "NEW=x", "FOO=bar"]);
    r["NetworkSettings"]["Networks"]["lbspec-net1"]["IPAMConfig"] = json!({});
    r["NetworkSettings"]["Networks"]["lbspec-net2"]["Aliases"] = json!(["other", "extra"]);
    r["Config"]["MacAddress"] = json!("");
    r["Image"] = json!("sha256:other");
    r["State"]["Running"] = json!(false);
    let d = compare_containers(&a, &r);
    assert_eq!(
        fields(&d),
        vec![
            "Config.Env",
            "Config.MacAddress",
            "HostConfig.Memory",
            "Image",
            "NetworkSettings.Networks.lbspec-net1.IPAMConfig.IPv4Address",
            // No longer pinned and no longer the user's: both now generated on the restored side.
            "NetworkSettings.Networks.lbspec-net1.IPAddress",
            "NetworkSettings.Networks.lbspec-net1.MacAddress",
            "NetworkSettings.Networks.lbspec-net2.Aliases",
            "State.Running",
        ]
    );
    assert_eq!(d[2].expected, json!(67_108_864));
    assert_eq!(d[2].actual, json!(134_217_728));
    assert_eq!(d[0].expected, json!(["FOO=override", "NEW=x", "PATH=/bin"]));
    assert_eq!(d[4].expected, json!("172.30.0.10"));
    assert_eq!(d[4].actual, Value::Null);
    // Env order alone is not a difference.
    let mut r = recreated(&a);
    r["Config"]["Env"] = json!(["PATH=/bin", "NEW=x", "FOO=override"]);
    assert!(compare_containers(&a, &r).is_empty());
}

#[test]
fn never_started_vs_started() {
    // m was captured before it ever started (no short-ID alias, no MAC, empty runtime fields).
    let f = parse(M);
    let mut started = f.clone();
    let short = f["Id"].as_str().unwrap()[..12].to_owned();
    let ep = &mut started["NetworkSettings"]["Networks"]["lbspec-net1"];
    ep["Aliases"] = json!(["alpha", short, "zed"]);
    ep["MacAddress"] = json!("02:42:ac:1e:00:02");
    ep["IPAddress"] = json!("172.30.0.2");
    started["State"]["StartedAt"] = json!("2030-01-01T00:00:01Z");
    started["Config"]["Domainname"] = Value::Null;
    let c = container_comparison(&f, &started);
    assert_eq!(c.differences, vec![]);
    assert_eq!(
        c.generated_fields(),
        vec![
            "NetworkSettings.Networks.lbspec-net1.Aliases",
            "NetworkSettings.Networks.lbspec-net1.IPAddress",
            "NetworkSettings.Networks.lbspec-net1.MacAddress",
            "State.StartedAt",
        ]
    );
    // Only generated aliases, added when it started: whether the user sent [] or null is not
    // visible any more; a restore sends nothing, and a copy that was never started (null)
    // compares equal.
    let mut only_generated = f.clone();
    only_generated["NetworkSettings"]["Networks"]["lbspec-net1"]["Aliases"] = json!([short]);
    let mut copy = f.clone();
    copy["NetworkSettings"]["Networks"]["lbspec-net1"]["Aliases"] = Value::Null;
    assert_eq!(compare_containers(&only_generated, &copy), vec![]);
}

/// `docker run` sends `[]` for `HostConfig.Dns` and several other lists, a raw API create sends
/// null, and the engine keeps what it got (docs/DOCKER.md has the table): the two are different
/// containers to `docker inspect`, so an exact restore must keep them apart. This test used to
/// say the opposite (every "not set" one), which let a restore turn `[]` into null unseen.
#[test]
fn empty_list_and_null_differ() {
    let f = parse(M);
    assert_eq!(f["HostConfig"]["Dns"], json!([]));
    let mut other = f.clone();
    other["HostConfig"]["Dns"] = Value::Null;
    other["HostConfig"]["CapAdd"] = json!([]);
    other["HostConfig"]["PortBindings"] = Value::Null;
    other["HostConfig"]["Ulimits"] = Value::Null;
    other["Config"]["Entrypoint"] = json!([]);
    other["NetworkSettings"]["Networks"]["lbspec-net1"]["IPAMConfig"] = json!({});
    other["NetworkSettings"]["Networks"]["lbspec-net1"]["DriverOpts"] = json!({});
    let d = compare_containers(&f, &other);
    assert_eq!(
        fields(&d),
        vec![
            "Config.Entrypoint",
            "HostConfig.CapAdd",
            "HostConfig.Dns",
            "HostConfig.PortBindings",
            "HostConfig.Ulimits",
            "NetworkSettings.Networks.lbspec-net1.DriverOpts",
            "NetworkSettings.Networks.lbspec-net1.IPAMConfig",
        ]
    );
    assert_eq!((&d[2].expected, &d[2].actual), (&json!([]), &Value::Null));
    // An absent key, null and "" are one; false and 0 are values (`--init=false`,
    // `--stop-timeout 0`).
    let mut spelled = f.clone();
    spelled["Config"]["Domainname"] = Value::Null;
    spelled["HostConfig"]
        .as_object_mut()
        .unwrap()
        .remove("CapAdd");
    spelled["HostConfig"]["Isolation"] = Value::Null;
    assert_eq!(compare_containers(&f, &spelled), vec![]);
    spelled["HostConfig"]["Init"] = json!(false);
    spelled["Config"]["StopTimeout"] = json!(0);
    assert_eq!(
        fields(&compare_containers(&f, &spelled)),
        vec!["Config.StopTimeout", "HostConfig.Init"]
    );
    // The default runtime is filled in by the engine when the container starts.
    let mut runc = f.clone();
    runc["HostConfig"]["Runtime"] = json!("runc");
    let mut none = f.clone();
    none["HostConfig"]
        .as_object_mut()
        .unwrap()
        .remove("Runtime");
    assert_eq!(compare_containers(&runc, &none), vec![]);
    none["HostConfig"]["Runtime"] = json!("nvidia");
    assert_eq!(
        fields(&compare_containers(&runc, &none)),
        vec!["HostConfig.Runtime"]
    );
}

/// A pinned address and a user MAC are settings: when they do not come back, that is a
/// difference, not a generated value.
#[test]
fn static_address_and_user_mac_compared() {
    let a = parse(A);
    let mut r = a.clone();
    let ep = &mut r["NetworkSettings"]["Networks"]["lbspec-net1"];
    ep["IPAddress"] = json!("172.30.0.77");
    ep["MacAddress"] = json!("02:42:ac:1e:00:02");
    let c = container_comparison(&a, &r);
    assert_eq!(
        fields(&c.differences),
        vec![
            "NetworkSettings.Networks.lbspec-net1.IPAddress",
            "NetworkSettings.Networks.lbspec-net1.MacAddress",
        ]
    );
    // The new MAC is not the user's: it shows as generated on the restored side.
    assert_eq!(
        c.generated_fields(),
        vec!["NetworkSettings.Networks.lbspec-net1.MacAddress"]
    );
    assert_eq!(c.generated[0].expected, Value::Null);
}

#[test]
fn container_mode_compared_by_name() {
    let b = parse(B);
    let mut r = b.clone();
    r["Id"] = json!("1".repeat(64));
    r["HostConfig"]["NetworkMode"] = json!(format!("container:{}", "2".repeat(64)));
    r["Config"]["Hostname"] = json!("222222222222");
    assert!(compare_containers(&b, &r).is_empty());
    let old_a = b["HostConfig"]["NetworkMode"].as_str().unwrap()["container:".len()..].to_owned();
    let exp: HashMap<_, _> = [(old_a, "lbspec-a".to_owned())].into();
    let act: HashMap<_, _> = [("2".repeat(64), "lbspec-other".to_owned())].into();
    let d = compare_containers_with(&b, &exp, &r, &act);
    assert_eq!(fields(&d), vec!["HostConfig.NetworkMode"]);
    assert_eq!(d[0].expected, "container:lbspec-a");
}

#[test]
fn hostname_alias_and_restart_policy_spellings() {
    let r = parse(R);
    let mut n = r.clone();
    n["Id"] = json!("a".repeat(64));
    for (_, ep) in n["NetworkSettings"]["Networks"].as_object_mut().unwrap() {
        if let Some(aliases) = ep["Aliases"].as_array_mut() {
            aliases.retain(|a| a != "rhost" && a.as_str().is_some_and(|a| a.len() != 12));
        }
    }
    n["HostConfig"]["RestartPolicy"] = json!({"Name": "unless-stopped", "MaximumRetryCount": 0});
    assert!(compare_containers(&r, &n).is_empty());
    let no = json!({"HostConfig": {"RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}}});
    let unset = json!({"HostConfig": {"RestartPolicy": {"Name": "", "MaximumRetryCount": 0}}});
    assert!(compare_containers(&no, &unset).is_empty());
}

#[test]
fn links_compared_as_set() {
    let a = json!({"HostConfig": {"Links": ["/x:/c/x", "/y:/c/y"]}});
    let b = json!({"HostConfig": {"Links": ["/y:/c/y", "/x:/c/x"]}});
    assert!(compare_containers(&a, &b).is_empty());
}

#[test]
fn networks_compared_on_config_only() {
    let n = parse(NET);
    let mut r = n.clone();
    r["Id"] = json!("abc");
    r["Created"] = json!("now");
    r["Containers"] = json!({});
    r["IPAM"]["Options"] = Value::Null;
    r["Labels"] = Value::Null;
    assert!(compare_networks(&n, &r).is_empty());
    r["IPAM"]["Config"] = json!([{"Subnet": "172.31.0.0/24"}]);
    r["Internal"] = json!(true);
    assert_eq!(
        fields(&compare_networks(&n, &r)),
        vec!["IPAM.Config", "Internal"]
    );
    // IPAM.Config is a set.
    let two = json!({"IPAM": {"Config": [{"Subnet": "a"}, {"Subnet": "b"}]}});
    let owt = json!({"IPAM": {"Config": [{"Subnet": "b"}, {"Subnet": "a"}]}});
    assert!(compare_networks(&two, &owt).is_empty());
}

#[test]
fn volumes_compared_without_runtime_fields() {
    let v = parse(VOLUME);
    let mut r = v.clone();
    r["Mountpoint"] = json!("/x");
    r["CreatedAt"] = json!("later");
    r["Options"] = json!({});
    assert!(compare_volumes(&v, &r).is_empty());
    r["Labels"] = json!({"k": "v"});
    assert_eq!(fields(&compare_volumes(&v, &r)), vec!["Labels"]);
    let anon = |n: char| json!({"Name": n.to_string().repeat(64), "Driver": "local"});
    assert!(compare_volumes(&anon('a'), &anon('b')).is_empty());
    assert_eq!(fields(&compare_volumes(&v, &anon('b'))), vec!["Name"]);
}

#[test]
fn env_masking() {
    let a = parse(A);
    let masked = mask_env(&a);
    assert_eq!(
        masked["Config"]["Env"],
        json!(["FOO=***", "NEW=***", "PATH=***"])
    );
    assert_eq!(masked["HostConfig"], a["HostConfig"]);
    assert_eq!(
        mask_env(&json!({"Env": ["K=v=w", "BARE"]})),
        json!({"Env": ["K=***", "BARE"]})
    );
    assert_eq!(mask_env(&json!(["S=secret"])), json!(["S=***"]));
    let d = Difference {
        field: "Config.Env".into(),
        expected: json!(["TOKEN=abc"]),
        actual: Value::Null,
    };
    assert_eq!(mask_difference(&d).expected, json!(["TOKEN=***"]));
    // Only the entries that differ, so a changed value is seen without being shown.
    let d = Difference {
        field: "Config.Env".into(),
        expected: json!(["A=1", "B=2", "P=x"]),
        actual: json!(["A=1", "B=3", "P=x", "N=y"]),
    };
    let m = mask_difference(&d);
    assert_eq!(
        (m.expected, m.actual),
        (json!(["B=***"]), json!(["B=***", "N=***"]))
    );
    let d = Difference {
        field: "HostConfig.Memory".into(),
        expected: json!("A=b"),
        actual: json!(1),
    };
    assert_eq!(mask_difference(&d), d);
    // Hostile shapes are left alone.
    assert_eq!(
        mask_env(&json!({"Config": 1, "Env": {"a": 1}})),
        json!({"Config": 1, "Env": {"a": 1}})
    );
}

#[test]
fn hostile_json_no_panics() {
    let weird = [
        json!(null),
        json!(1),
        json!("x"),
        json!([1, {}]),
        json!({"Id": 5, "Config": [], "HostConfig": "h", "Mounts": {"a": 1}, "NetworkSettings": {"Networks": [1]}}),
        json!({"Id": "é", "Config": {"Hostname": 1, "Env": "x"}, "HostConfig": {"NetworkMode": 1, "Links": 2},
               "Mounts": [1, {"Destination": 3}, {"Type": "volume", "Name": 4}], "State": 1,
               "NetworkSettings": {"Networks": {"n": 1, "m": {"Aliases": "a", "Links": {}}}}}),
        json!({"IPAM": 1, "Name": []}),
    ];
    for a in &weird {
        for b in &weird {
            let _ = compare_containers(a, b);
            let _ = compare_networks(a, b);
            let _ = compare_volumes(a, b);
            let _ = mask_env(a);
        }
    }
    assert_eq!(
        fields(&compare_containers(&json!(1), &json!(2))),
        vec!["(root)"]
    );
}
