//! A write-only host on S3 (issue 14, docs/S3.md): against a real Garage, through a proxy that
//! enforces the host credential's policy. Garage grants per-bucket read/write only (write
//! includes delete), so the proxy answers 403, as S3 does for a credential without the
//! action, to every DELETE and to every GET or HEAD outside `config` and `keys/`. The host's
//! snapshots succeed without one refused request, write no lock and delete nothing; the owner
//! restores them exactly.

mod common;
#[path = "common/faultproxy.rs"]
mod faultproxy;
#[path = "common/garage.rs"]
mod garage;

use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use common::{Compare, PASSWORD, assert_restored_equal, code, lifeboat_cmd, scan, stderr};
use faultproxy::FaultProxy;
use garage::Garage;

/// Whether the host policy of docs/S3.md allows this request (`path` is `/bucket/key?query`).
fn host_policy_allows(method: &str, path: &str) -> bool {
    let (key, query) = path.split_once('?').unwrap_or((path, ""));
    let listing = query.contains("list-type");
    match method {
        "PUT" => true,
        "GET" if listing => true,
        "GET" | "HEAD" => key.ends_with("/config") || key.contains("/keys/"),
        _ => false,
    }
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run lifeboat")
}

fn must(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({:?}): {}",
        out.status.code(),
        stderr(&out)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_host_snapshots_to_s3_with_a_credential_that_cannot_read_or_delete() {
    let Some(g) = Garage::start(1) else { return };
    let dir = tempfile::tempdir().unwrap();
    let owner = |args: &[&str]| {
        let mut c = lifeboat_cmd();
        c.envs(g.env())
            .env("LIFEBOAT_PASSWORD", PASSWORD)
            .env("LIFEBOAT_CACHE_DIR", dir.path().join("owner-cache"))
            .arg("--repo")
            .arg(g.repo_url("hostkey"))
            .args(args);
        run(&mut c)
    };
    must(
        owner(&[
            "init",
            "--kdf-memory",
            "8",
            "--kdf-iterations",
            "1",
            "--kdf-parallelism",
            "1",
        ]),
        "init",
    );
    let key = dir.path().join("gpu-01.key");
    must(
        owner(&[
            "key",
            "add",
            "--write-only",
            "--hostname",
            "gpu-01",
            "--output",
            key.to_str().unwrap(),
        ]),
        "key add --write-only",
    );

    let proxy = FaultProxy::start(g.endpoint());
    let log: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let l = log.clone();
    proxy.fail_when(move |method, path| {
        l.lock().unwrap().push((method.into(), path.into()));
        (!host_policy_allows(method, path)).then_some(403)
    });
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("models")).unwrap();
    std::fs::write(src.join("models/shard.bin"), common::fp16_like(3, 4 << 20)).unwrap();
    std::fs::write(src.join("app.conf"), b"port = 8080\n").unwrap();
    let host = |args: &[&str]| {
        let mut c = lifeboat_cmd();
        // The host's credential is the same Garage key here: the proxy is what restricts it.
        c.envs(g.env())
            .env("LIFEBOAT_KEY_FILE", &key)
            .env("XDG_CACHE_HOME", dir.path().join("host-cache"))
            .arg("--repo")
            .arg(format!("s3:{}/{}/hostkey", proxy.endpoint(), g.bucket()))
            .args(args);
        run(&mut c)
    };
    let first: serde_json::Value = serde_json::from_str(&must(
        host(&["--json", "snapshot", src.to_str().unwrap()]),
        "host snapshot",
    ))
    .unwrap();
    let again: serde_json::Value = serde_json::from_str(&must(
        host(&["--json", "snapshot", src.to_str().unwrap()]),
        "host re-snapshot",
    ))
    .unwrap();
    assert_eq!(again["summary"]["bytes_read"], 0, "{again}");
    // What the host may not do, it cannot: reading the snapshots is refused by the key before
    // any request (exit 14), not by the store.
    let out = host(&["snapshots"]);
    assert_eq!(code(&out), 14, "{}", stderr(&out));

    let requests = log.lock().unwrap().clone();
    let refused: Vec<&(String, String)> = requests
        .iter()
        .filter(|(m, p)| !host_policy_allows(m, p))
        .collect();
    assert!(
        refused.is_empty(),
        "the host made requests its policy refuses: {refused:?}"
    );
    assert_eq!(proxy.faults(), 0);
    assert!(
        requests.iter().all(|(_, p)| !p.contains("/locks/")),
        "the host touched locks/"
    );
    assert!(
        requests
            .iter()
            .any(|(m, p)| m == "PUT" && p.contains("/data/")),
        "no pack was uploaded through the proxy"
    );

    // The owner restores both exactly and verifies every byte.
    for v in [&first, &again] {
        let id = v["id"].as_str().unwrap();
        let target = dir.path().join(format!("restore-{}", &id[..8]));
        must(
            owner(&["restore", id, "--target", target.to_str().unwrap()]),
            "owner restore",
        );
        assert_restored_equal(
            &src,
            &scan(&src),
            &common::restored_path(&target, &src),
            Compare {
                atime: false,
                owners: common::is_root(),
            },
        );
    }
    must(owner(&["verify", "--read-data"]), "owner verify");
}
