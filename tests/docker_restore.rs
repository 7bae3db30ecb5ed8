//! Docker restores and snapshots against the real engine, for what issue 10 found: a
//! `restore --replace` that wrote volume data under a running container and left files the
//! snapshot lacks, bind mounts skipped without a word, and `diff` between two snapshots blind
//! to a changed container. Without an engine the tests skip, except in CI.

mod common;
mod docker_support;

use std::process::Output;

use common::{Env, code};
use docker_support::{IMAGE_1, Prefix, docker, docker_available, ensure_test_image};
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
        let mut a = vec!["--name", svc.as_str(), "-e", env.as_str(), "-v", vol.as_str()];
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
    assert!(out.contains(&format!("+  volume {svc}-vol:/new.txt")), "{out}");
    assert!(
        out.contains(&format!("container {svc}: HostConfig.Memory")),
        "{out}"
    );
    assert!(out.contains("API_TOKEN=***"), "{out}");
    assert!(!out.contains(SECRET1) && !out.contains(SECRET2), "{out}");

    let v: Value = serde_json::from_str(&fx.ok(&["--json", "diff", &s1, &s2])).unwrap();
    let text = v["deployment"].to_string();
    assert!(text.contains("Config.Env") && text.contains("HostConfig.Memory"), "{v}");
    assert!(!text.contains(SECRET1) && !text.contains(SECRET2), "{v}");

    let shown = fx.ok(&["diff", &s1, &s2, "--show-secrets"]);
    assert!(shown.contains(SECRET1) && shown.contains(SECRET2), "{shown}");

    // The same snapshot twice: no deployment change.
    let same = fx.ok(&["diff", &s2, &s2]);
    assert!(!same.contains(&format!("container {svc}")), "{same}");
    assert!(same.contains("docker: no change"), "{same}");
}
