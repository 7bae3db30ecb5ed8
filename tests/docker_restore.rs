//! Docker restores and snapshots against the real engine, for what issue 10 found: a
//! `restore --replace` that wrote volume data under a running container and left files the
//! snapshot lacks, bind mounts skipped without a word, and `diff` between two snapshots blind
//! to a changed container. Without an engine the tests skip, except in CI.

mod common;
mod docker_support;

use std::process::Output;
use std::time::Duration;

use common::{Env, code};
use docker_support::{
    IMAGE_1, Prefix, docker, docker_available, ensure_test_image, inspect, inspect_kind,
    is_running, wait_for,
};
use serde_json::Value;

/// A command that stops within a second on SIGTERM (plain `sleep` as PID 1 ignores it).
const IDLE: &str = "trap 'exit 0' TERM INT; while :; do sleep 1; done";

/// One test's Docker objects (removed on drop) and repository.
struct Fx {
    px: Prefix,
    e: Env,
}

impl Fx {
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

    fn run(&self, args: &[&str]) -> Output {
        self.e.run(args)
    }

    fn ok(&self, args: &[&str]) -> String {
        self.e.ok(args)
    }

    /// `lifeboat --json snapshot ARGS`: the snapshot's ID and its whole JSON answer.
    fn snapshot(&self, args: &[&str]) -> (String, Value) {
        let out = self.run(&[&["--json", "snapshot"], args].concat());
        assert!(
            matches!(code(&out), 0 | 3),
            "snapshot {args:?} failed:\n{}",
            show(&out)
        );
        let v: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("snapshot --json: not JSON ({e}):\n{}", show(&out)));
        (v["id"].as_str().expect("an id").to_string(), v)
    }
}

impl Drop for Fx {
    fn drop(&mut self) {
        self.px.cleanup();
    }
}

fn show(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn docker_run(args: &[&str]) -> String {
    docker(&[&["run", "-d"], args].concat())
}

/// `diff SNAP1 SNAP2` compares the deployments as `diff --live` does: a container recreated
/// with another environment value and memory limit is reported, values masked unless
/// `--show-secrets`; a file added to its volume is listed.
#[test]
fn diff_between_snapshots_reports_container_changes() {
    const SECRET1: &str = "first-t0ken-4801";
    const SECRET2: &str = "second-t0ken-4802";
    let Some(fx) = Fx::new() else { return };
    let svc = fx.n("svc");
    let vol = format!("{svc}-vol:/data");
    let run = |token: &str, extra: &[&str]| {
        let env = format!("API_TOKEN={token}");
        let mut a = vec![
            "--name",
            svc.as_str(),
            "-e",
            env.as_str(),
            "-v",
            vol.as_str(),
        ];
        a.extend_from_slice(extra);
        a.extend_from_slice(&[IMAGE_1, "sh", "-c", IDLE]);
        docker_run(&a);
    };
    run(SECRET1, &[]);
    let (s1, _) = fx.snapshot(&["--container", &svc]);
    docker(&["rm", "-f", &svc]);
    run(SECRET2, &["-m", "64m"]);
    docker(&["exec", &svc, "sh", "-c", "echo new > /data/new.txt"]);
    let (s2, _) = fx.snapshot(&["--container", &svc]);

    let out = fx.ok(&["diff", &s1, &s2]);
    // Which variable changed is seen, its values are not.
    assert!(
        out.contains(&format!(
            r#"container {svc}: Config.Env: ["API_TOKEN=***"] -> ["API_TOKEN=***"]"#
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("+  volume {svc}-vol:/new.txt")),
        "{out}"
    );
    assert!(
        out.contains(&format!("container {svc}: HostConfig.Memory")),
        "{out}"
    );
    assert!(out.contains("API_TOKEN=***"), "{out}");
    assert!(!out.contains(SECRET1) && !out.contains(SECRET2), "{out}");

    let v: Value = serde_json::from_str(&fx.ok(&["--json", "diff", &s1, &s2])).unwrap();
    let text = v["deployment"].to_string();
    assert!(
        text.contains("Config.Env") && text.contains("HostConfig.Memory"),
        "{v}"
    );
    assert!(!text.contains(SECRET1) && !text.contains(SECRET2), "{v}");

    let shown = fx.ok(&["diff", &s1, &s2, "--show-secrets"]);
    assert!(
        shown.contains(SECRET1) && shown.contains(SECRET2),
        "{shown}"
    );

    // The same snapshot twice: no deployment change.
    let same = fx.ok(&["diff", &s2, &s2]);
    assert!(!same.contains(&format!("container {svc}")), "{same}");
    assert!(same.contains("docker: no change"), "{same}");
}

/// A container whose loop appends to a file in its named volume while `/writer-on` exists in
/// its own root file system (so the restored container, fresh from the image, does not write),
/// and which ignores SIGTERM: a stop takes its whole stop timeout, while it keeps writing.
fn writer(name: &str, extra: &[&str]) {
    let vol = format!("{name}-vol:/data");
    let mut a = vec!["--name", name, "-v", vol.as_str(), "--stop-timeout", "2"];
    a.extend_from_slice(extra);
    a.extend_from_slice(&[
        IMAGE_1,
        "sh",
        "-c",
        "trap '' TERM; while :; do [ -e /writer-on ] && echo appended >> /data/log; sleep 0.1; done",
    ]);
    docker_run(&a);
    docker(&[
        "exec",
        name,
        "sh",
        "-c",
        "printf 'snapshot line 1\\nsnapshot line 2\\n' > /data/log; echo keep > /data/keep.txt",
    ]);
}

/// After the snapshot: the writer starts appending, and a file appears that the snapshot lacks.
fn diverge(name: &str) {
    docker(&[
        "exec",
        name,
        "sh",
        "-c",
        "touch /writer-on; echo later > /data/extra.txt",
    ]);
    let appended = wait_for(Duration::from_secs(10), || {
        docker(&["exec", name, "cat", "/data/log"]).contains("appended")
    });
    assert!(appended, "the writer in {name} does not write");
}

fn volume_file(name: &str, rel: &str) -> Option<String> {
    let mp = inspect_kind("volume", &format!("{name}-vol"))["Mountpoint"]
        .as_str()
        .unwrap()
        .to_string();
    std::fs::read_to_string(format!("{mp}/{rel}")).ok()
}

/// `restore --container X --replace` stops (and sets aside) the old container before writing
/// its volumes: the restored log holds exactly the snapshot's bytes, with no line the old
/// container appended after them. With the default `--volume-data exact` a file created after
/// the snapshot is removed; with `merge` it stays.
#[test]
fn replace_stops_the_old_container_before_writing_its_volumes() {
    let Some(fx) = Fx::new() else { return };
    for (mode, extra_kept) in [(None, false), (Some("merge"), true)] {
        let w = fx.n(if extra_kept { "merge" } else { "exact" });
        writer(&w, &[]);
        let (snap, _) = fx.snapshot(&["--container", &w]);
        diverge(&w);
        let old_id = inspect(&w)["Id"].as_str().unwrap().to_string();
        let mut args = vec![
            "restore",
            snap.as_str(),
            "--container",
            w.as_str(),
            "--replace",
        ];
        if let Some(m) = mode {
            args.extend_from_slice(&["--volume-data", m]);
        }
        let out = fx.run(&args);
        assert_eq!(code(&out), 0, "{args:?}: {}", show(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        // The order: set aside, then the volume's data, then the new container.
        let pos = |what: &str| {
            stdout
                .find(what)
                .unwrap_or_else(|| panic!("no {what:?} in\n{stdout}"))
        };
        assert!(pos("rename aside") < pos("restore volume data"), "{stdout}");
        // The name `update` gives a container it sets aside, too.
        pos(&format!("{w} -> {w}.lifeboat-old-{}", &old_id[..12]));
        assert!(
            pos("restore volume data") < pos("create container"),
            "{stdout}"
        );
        assert_eq!(
            volume_file(&w, "log").as_deref(),
            Some("snapshot line 1\nsnapshot line 2\n"),
            "the old container wrote into the volume after it was restored ({args:?})"
        );
        assert_eq!(volume_file(&w, "keep.txt").as_deref(), Some("keep\n"));
        assert_eq!(
            volume_file(&w, "extra.txt").is_some(),
            extra_kept,
            "a file the snapshot lacks, with {mode:?}"
        );
        assert!(is_running(&w), "{w} not running after the restore");
        assert_ne!(inspect(&w)["Id"].as_str().unwrap(), old_id);
        assert!(
            !docker_support::exists("container", &old_id),
            "the old container was not removed"
        );
    }
}

/// When the new container cannot start (its published port is taken), the old container comes
/// back, running, and the output says its volumes now hold the snapshot's data.
#[test]
fn failed_replace_puts_the_old_container_back_and_says_what_the_volumes_hold() {
    let Some(fx) = Fx::new() else { return };
    let w = fx.n("fail");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let publish = format!("127.0.0.1:{port}:8080");
    writer(&w, &["-p", &publish]);
    let (snap, _) = fx.snapshot(&["--container", &w]);
    // The same container without the port, and the port taken by someone else.
    docker(&["rm", "-f", &w]);
    writer(&w, &[]);
    let old_id = inspect(&w)["Id"].as_str().unwrap().to_string();
    let _taken = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    docker(&["exec", &w, "sh", "-c", "echo later > /data/extra.txt"]);

    let args = [
        "restore",
        snap.as_str(),
        "--container",
        w.as_str(),
        "--replace",
    ];
    let out = fx.run(&args);
    assert_eq!(code(&out), 1, "{}", show(&out));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.contains("put back"), "{all}");
    assert!(
        all.contains(&format!("{w}-vol")) && all.contains("the snapshot's data"),
        "the output must say what the volumes hold now:\n{all}"
    );
    assert!(!all.contains("every restored container matches"), "{all}");
    assert_eq!(inspect(&w)["Id"].as_str().unwrap(), old_id);
    assert!(
        wait_for(Duration::from_secs(10), || is_running(&w)),
        "the old container is not running again"
    );
    assert_eq!(fx.px.containers(), vec![w.clone()], "leftover containers");
    assert_eq!(volume_file(&w, "extra.txt"), None, "exact is the default");
}

/// The sources of a container's bind mounts are captured with it by default; `snapshot` names
/// in a warning (which does not make the snapshot partial: exit 0) each one it leaves out: a
/// system file, or every source with `--no-bind-data` unless the snapshot's paths hold it.
/// Sockets are not data and are never named.
#[test]
fn snapshot_warns_about_bind_mounts_it_does_not_capture() {
    let Some(fx) = Fx::new() else { return };
    let api = fx.n("api");
    let models = fx.e.path("srv/models");
    std::fs::create_dir_all(&models).unwrap();
    std::fs::write(models.join("weights.bin"), b"w").unwrap();
    let config = fx.e.path("srv/app.conf");
    std::fs::write(&config, b"c").unwrap();
    let (models_s, config_s) = (
        models.to_str().unwrap().to_string(),
        config.to_str().unwrap().to_string(),
    );
    docker_run(&[
        "--name",
        &api,
        "-v",
        &format!("{models_s}:/models:ro"),
        "--mount",
        &format!("type=bind,source={config_s},target=/etc/app.conf"),
        "-v",
        "/var/run/docker.sock:/var/run/docker.sock",
        "-v",
        "/etc/passwd:/host-passwd:ro",
        IMAGE_1,
        "sh",
        "-c",
        IDLE,
    ]);
    let off = |src: &str, dest: &str| {
        format!(
            "container {api}: bind mount {src} -> {dest} not captured: bind data capture is off (add the path to the snapshot: lifeboat snapshot {src} --container {api})"
        )
    };
    let system = format!(
        "container {api}: bind mount /etc/passwd -> /host-passwd not captured: /etc is a system directory of the host"
    );

    // The default: the model directory and the config file are captured; /etc/passwd is not.
    let out = fx.run(&["snapshot", "--container", &api]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains(&models_s) && !err.contains(&config_s),
        "{err}"
    );
    assert!(err.contains(&system), "{err}");
    // A socket is not data to back up.
    assert!(!err.contains("docker.sock"), "{err}");
    let (_, v) = fx.snapshot(&["--container", &api]);
    let captured = v["bind_mounts"]["captured"].to_string();
    assert!(
        captured.contains(&models_s) && captured.contains(&config_s),
        "{v}"
    );
    let skipped = &v["bind_mounts"]["skipped"];
    let reason = |src: &str| {
        skipped
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["source"].as_str().unwrap().ends_with(src))
            .map(|b| b["reason"].as_str().unwrap().to_string())
    };
    assert_eq!(reason("/etc/passwd").as_deref(), Some("system"), "{v}");
    assert_eq!(reason("docker.sock").as_deref(), Some("not-data"), "{v}");

    // --no-bind-data: every data source is named.
    let out = fx.run(&["snapshot", "--container", &api, "--no-bind-data"]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&off(&models_s, "/models")), "{err}");
    assert!(err.contains(&off(&config_s, "/etc/app.conf")), "{err}");
    assert!(!err.contains("docker.sock"), "{err}");
    let (_, v) = fx.snapshot(&["--container", &api, "--no-bind-data"]);
    assert_eq!(v["bind_mounts"]["captured"], serde_json::json!([]), "{v}");
    assert!(
        v["bind_mounts"]["skipped"].to_string().contains("disabled"),
        "{v}"
    );

    // The models directory given as a path: only the config file is left to warn about.
    let out = fx.run(&["snapshot", &models_s, "--container", &api, "--no-bind-data"]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains(&off(&models_s, "/models")), "{err}");
    assert!(err.contains(&off(&config_s, "/etc/app.conf")), "{err}");

    // A directory holding both: no warning about them.
    let srv = fx.e.path("srv");
    let out = fx.run(&[
        "snapshot",
        srv.to_str().unwrap(),
        "--container",
        &api,
        "--no-bind-data",
    ]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains(&models_s) && !err.contains(&config_s),
        "{err}"
    );
}

/// The usual way models reach a container, a bind-mounted directory, is backed up with the
/// container alone (`--container`): the snapshot's file tree holds the directory with its
/// files, and a files restore brings them back. `--no-bind-data` leaves it out, with a warning.
#[test]
fn bind_mounted_model_dir_is_captured_with_its_container() {
    let Some(fx) = Fx::new() else { return };
    let api = fx.n("api");
    let models = fx.e.path("srv/models");
    std::fs::create_dir_all(models.join("tokenizer")).unwrap();
    let weights = common::random_bytes(11, 300_000);
    std::fs::write(models.join("model.safetensors"), &weights).unwrap();
    std::fs::write(models.join("tokenizer/config.json"), b"{}").unwrap();
    let models_s = models.to_str().unwrap().to_string();
    docker_run(&[
        "--name",
        &api,
        "-v",
        &format!("{models_s}:/models:ro"),
        IMAGE_1,
        "sh",
        "-c",
        IDLE,
    ]);
    let (id, v) = fx.snapshot(&["--container", &api]);
    assert_eq!(v["warnings"], serde_json::json!([]), "{v}");
    let listing = fx.ok(&["ls", "-R", &id, &models_s]);
    for f in ["model.safetensors", "tokenizer", "tokenizer/config.json"] {
        let want = format!("{models_s}/{f}");
        assert!(
            listing.lines().any(|l| l == want),
            "{want} missing:\n{listing}"
        );
    }
    let target = fx.e.path("restored");
    fx.ok(&["restore", &id, "--target", target.to_str().unwrap()]);
    let back = common::restored_path(&target, &models);
    assert_eq!(
        std::fs::read(back.join("model.safetensors")).unwrap(),
        weights
    );
    assert_eq!(
        std::fs::read(back.join("tokenizer/config.json")).unwrap(),
        b"{}"
    );

    let out = fx.run(&["--json", "snapshot", "--container", &api, "--no-bind-data"]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!(
            "bind mount {models_s} -> /models not captured: bind data capture is off"
        )),
        "{}",
        show(&out)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let id2 = v["id"].as_str().unwrap();
    let out = fx.run(&["ls", "-R", id2]);
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains(&models_s),
        "{}",
        show(&out)
    );
}

/// `rollback --state-dir DIR` means what it means for `update`: the rollback holds the
/// container's update lock in `DIR/updates` (so it refuses while an update of that container
/// runs) and refuses while an interrupted update of it is recorded there.
#[test]
fn rollback_uses_the_update_state_dir() {
    let Some(fx) = Fx::new() else { return };
    let api = fx.n("api");
    docker_run(&["--name", &api, IMAGE_1, "sh", "-c", IDLE]);
    let state = fx.e.path("state");
    let updates = state.join("updates");
    std::fs::create_dir_all(&updates).unwrap();
    let lock = updates.join(format!("{api}.lock"));
    // Another process holds the container's lock, as a running update does.
    // One process (the shell becomes `sleep`) holds it, so killing that process frees it.
    let mut holder = std::process::Command::new("sh")
        .arg("-c")
        .arg(r#"exec 9>"$1" && flock 9 && exec sleep 60"#)
        .arg("sh")
        .arg(&lock)
        .spawn()
        .expect("sh and flock(1) from util-linux");
    assert!(
        wait_for(Duration::from_secs(10), || lock.exists()),
        "flock did not take {}",
        lock.display()
    );
    std::thread::sleep(Duration::from_millis(200));
    let state_s = state.to_str().unwrap();
    let out = fx.run(&["rollback", &api, "--state-dir", state_s]);
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!(code(&out), 1, "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("an update or rollback of {api} is running")),
        "{err}"
    );

    // No lock held, no journal: it gets as far as looking for a pre-update snapshot.
    let out = fx.run(&["rollback", &api, "--state-dir", state_s]);
    assert_eq!(code(&out), 1, "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("is running"), "{err}");
    assert!(err.contains("pre-update"), "{err}");
}

/// A `lifeboat.pre-snapshot` command runs in the container with the container's environment,
/// never lifeboat's: the repository password is not in it.
#[test]
fn pre_snapshot_exec_gets_no_lifeboat_secret() {
    let Some(fx) = Fx::new() else { return };
    let db = fx.n("db");
    let vol = format!("{db}-vol:/data");
    docker_run(&[
        "--name",
        &db,
        "-v",
        &vol,
        "-e",
        "OWN=container-value",
        "-l",
        "lifeboat.pre-snapshot=env > /data/hook.env",
        IMAGE_1,
        "sh",
        "-c",
        IDLE,
    ]);
    let out =
        fx.e.cmd()
            .env("AWS_SECRET_ACCESS_KEY", "aws-secret-4901")
            .args(["snapshot", "--container", &db])
            .output()
            .unwrap();
    assert_eq!(code(&out), 0, "{}", show(&out));
    let env = volume_file(&db, "hook.env").expect("the hook ran");
    assert!(env.contains("OWN=container-value"), "{env}");
    assert!(!env.contains("LIFEBOAT_"), "{env}");
    assert!(!env.contains(common::PASSWORD), "{env}");
    assert!(!env.contains("aws-secret-4901"), "{env}");
}
