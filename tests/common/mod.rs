//! Shared harness for integration tests: runs the real `lifeboat` binary with a clean
//! environment (no LIFEBOAT_* from the developer's shell), cheap key derivation, temp dirs.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const PASSWORD: &str = "correct horse battery staple";

pub struct Env {
    pub dir: tempfile::TempDir,
    pub repo: PathBuf,
}

impl Env {
    /// A temp dir with an initialised repository (`repo/`).
    pub fn new() -> Env {
        let e = Env::bare();
        let out = e.run(&[
            "init",
            "--kdf-memory",
            "8",
            "--kdf-iterations",
            "1",
            "--kdf-parallelism",
            "1",
        ]);
        assert!(
            out.status.success(),
            "init failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        e
    }

    /// A temp dir without a repository.
    pub fn bare() -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = dir.path().join("repo");
        Env { dir, repo }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// A command for the binary with `--repo` and the password set, nothing else inherited.
    pub fn cmd(&self) -> Command {
        let mut c = lifeboat_cmd();
        c.env("LIFEBOAT_PASSWORD", PASSWORD)
            .arg("--repo")
            .arg(&self.repo);
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run lifeboat")
    }

    /// Run and require success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "lifeboat {args:?} failed ({:?}):\nstdout: {}\nstderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    /// Snapshot `path`, return the new snapshot's full ID.
    pub fn snapshot(&self, path: &Path) -> String {
        let out = self.ok(&["--json", "snapshot", path.to_str().expect("utf-8 path")]);
        let v: serde_json::Value = serde_json::from_str(&out).expect("snapshot json");
        v["id"].as_str().expect("id").to_string()
    }
}

/// The binary with a scrubbed environment.
pub fn lifeboat_cmd() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lifeboat"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("LIFEBOAT_") {
            c.env_remove(&k);
        }
    }
    c
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}
