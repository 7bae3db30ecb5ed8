//! A Docker deployment through an S3 repository: a container and its volume snapshotted into
//! Garage, removed from the engine, and restored from the bucket with the volume's bytes.
//! Needs both the Docker engine and Garage (each skips, except under CI=true).

mod common;
mod docker_support;
#[path = "common/garage.rs"]
mod garage;

use common::{PASSWORD, code, lifeboat_cmd, stderr};
use docker_support::{
    IMAGE_1, Prefix, docker, docker_available, ensure_test_image, exists, inspect_kind,
};

#[test]
fn a_container_and_its_volume_come_back_from_s3() {
    if !docker_available() {
        return;
    }
    let Some(g) = garage::Garage::start(1) else {
        return;
    };
    ensure_test_image();
    let px = Prefix::new();
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let mut c = lifeboat_cmd();
        c.envs(g.env())
            .env("LIFEBOAT_PASSWORD", PASSWORD)
            .env("LIFEBOAT_CACHE_DIR", dir.path().join("cache"))
            .arg("--repo")
            .arg(g.repo_url("docker"))
            .args(args);
        let out = c.output().unwrap();
        assert!(
            matches!(code(&out), 0 | 3),
            "lifeboat {args:?}: {}",
            stderr(&out)
        );
        out
    };
    run(&[
        "init",
        "--kdf-memory",
        "8",
        "--kdf-iterations",
        "1",
        "--kdf-parallelism",
        "1",
    ]);
    let name = px.n("s3app");
    let vol = format!("{name}-vol");
    docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "-v",
        &format!("{vol}:/data"),
        "-e",
        "MODEL=llm-7b",
        "--restart",
        "unless-stopped",
        IMAGE_1,
        "sh",
        "-c",
        "printf 'weights\\n' > /data/model.bin; trap 'exit 0' TERM; while :; do sleep 1; done",
    ]);
    assert!(docker_support::wait_for(
        std::time::Duration::from_secs(10),
        || docker(&["exec", &name, "cat", "/data/model.bin"]).contains("weights")
    ));
    let before = inspect_kind("container", &name);
    run(&["snapshot", "--container", &name]);
    docker(&["rm", "-f", &name]);
    docker(&["volume", "rm", &vol]);
    assert!(!exists("container", &name));
    run(&["restore", "latest", "--container", &name]);
    let after = inspect_kind("container", &name);
    assert_eq!(after["Config"]["Env"], before["Config"]["Env"]);
    assert_eq!(
        after["HostConfig"]["RestartPolicy"],
        before["HostConfig"]["RestartPolicy"]
    );
    assert_eq!(after["Config"]["Image"], before["Config"]["Image"]);
    let mp = inspect_kind("volume", &vol)["Mountpoint"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        std::fs::read_to_string(format!("{mp}/model.bin")).unwrap(),
        "weights\n"
    );
    px.cleanup();
}
