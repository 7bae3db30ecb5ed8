//! A second, bare Docker engine for recovery tests: its own data root, exec root, socket,
//! pidfile and an empty `--config-file`, inside its own network namespace (`unshare -n`), so
//! nothing of the first engine (images, networks, volumes, bridges, iptables rules) is there.
//! Started by the test, stopped by PID on drop (its containers removed first).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::docker_available;

pub struct BareEngine {
    dir: tempfile::TempDir,
    child: Option<Child>,
    pub sock: PathBuf,
}

impl BareEngine {
    /// Start one (about 2 to 10 s). `None` (with the reason printed) when this machine cannot
    /// run one: not root, no `unshare` or `dockerd`; under `CI=true` that fails the test.
    pub fn start() -> Option<BareEngine> {
        if !docker_available() {
            return None;
        }
        let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        let missing = if !rustix_is_root() {
            Some("a second engine needs root".to_string())
        } else if !Path::new("/usr/sbin/dockerd").exists() && which("dockerd").is_none() {
            Some("dockerd is not installed".to_string())
        } else if which("unshare").is_none() {
            Some("unshare (util-linux) is not installed".to_string())
        } else {
            None
        };
        if let Some(why) = missing {
            assert!(!ci, "CI=true but the bare-engine test cannot run: {why}");
            eprintln!("skipping bare-engine test: {why}");
            return None;
        }
        // Short paths: a unix socket path must fit in 108 bytes.
        let dir = tempfile::Builder::new()
            .prefix("lbbare")
            .tempdir_in("/tmp")
            .expect("temp dir");
        let p = |n: &str| dir.path().join(n);
        for d in ["data", "exec"] {
            std::fs::create_dir_all(p(d)).unwrap();
        }
        std::fs::write(p("daemon.json"), "{}").unwrap();
        let log = std::fs::File::create(p("dockerd.log")).unwrap();
        let script = format!(
            "ip link set lo up 2>/dev/null; exec dockerd --data-root {} --exec-root {} -H unix://{} --pidfile {} --config-file {}",
            p("data").display(),
            p("exec").display(),
            p("sock").display(),
            p("pid").display(),
            p("daemon.json").display()
        );
        let child = Command::new("unshare")
            .args(["-n", "sh", "-c", &script])
            .env_remove("DOCKER_HOST")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start dockerd under unshare -n");
        let mut e = BareEngine {
            sock: p("sock"),
            dir,
            child: Some(child),
        };
        let end = Instant::now() + Duration::from_secs(60);
        loop {
            let ok = Command::new("docker")
                .args([
                    "-H",
                    &e.host(),
                    "version",
                    "--format",
                    "{{.Server.Version}}",
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return Some(e);
            }
            let exited = e.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
            if exited.is_some() || Instant::now() >= end {
                let log =
                    std::fs::read_to_string(e.dir.path().join("dockerd.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(15).collect();
                panic!(
                    "the bare engine did not come up ({exited:?}); last log lines:\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `unix:///.../sock`, as `--docker-host` and `DOCKER_HOST` take it.
    pub fn host(&self) -> String {
        format!("unix://{}", self.sock.display())
    }

    /// Its data root (volumes live under `volumes/NAME/_data`).
    pub fn data_root(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Run `docker ARGS` against this engine, requiring success; stdout trimmed.
    pub fn docker(&self, args: &[&str]) -> String {
        let out = self.docker_out(args);
        assert!(
            out.status.success(),
            "docker -H bare {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim_end().to_string()
    }

    pub fn docker_out(&self, args: &[&str]) -> std::process::Output {
        Command::new("docker")
            .arg("-H")
            .arg(self.host())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("docker CLI")
    }
}

impl Drop for BareEngine {
    fn drop(&mut self) {
        // Containers first: their shims would outlive the daemon.
        let ids = self.docker_out(&["ps", "-aq"]);
        let ids = String::from_utf8_lossy(&ids.stdout).to_string();
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if !ids.is_empty() {
            let mut a = vec!["rm", "-f", "-v"];
            a.extend(ids);
            let _ = self.docker_out(&a);
        }
        if let Some(mut c) = self.child.take() {
            let pid = c.id();
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
            let end = Instant::now() + Duration::from_secs(30);
            while Instant::now() < end {
                if c.try_wait().ok().flatten().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        // Anything still mounted below the data root (overlay layers) is unmounted before
        // the temp dir is removed.
        if let Ok(mounts) = std::fs::read_to_string("/proc/mounts") {
            let root = self.dir.path().to_string_lossy().to_string();
            let mut points: Vec<&str> = mounts
                .lines()
                .filter_map(|l| l.split_whitespace().nth(1))
                .filter(|m| m.starts_with(&root))
                .collect();
            points.sort_by_key(|p| std::cmp::Reverse(p.len()));
            for m in points {
                let _ = Command::new("umount").args(["-l", m]).status();
            }
        }
    }
}

fn rustix_is_root() -> bool {
    rustix::process::geteuid().is_root()
}

fn which(cmd: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(cmd))
            .find(|p| p.is_file())
    })
}
