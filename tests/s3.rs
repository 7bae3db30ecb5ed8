//! lifeboat on S3-compatible storage, against a real Garage cluster (scripts/garage): every
//! command as on a local repository, the cache, and the faults of a network store: refused
//! credentials, a missing bucket, a store stopped mid-snapshot, 500/503 answers and slow
//! responses (through a fault-injecting proxy), tampered objects, concurrent writers and a
//! prune, and one node of three lost during a snapshot.

mod common;
#[path = "common/faultproxy.rs"]
mod faultproxy;
#[path = "common/garage.rs"]
mod garage;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use std::sync::{Arc, Mutex};

use common::{Compare, PASSWORD, assert_restored_equal, code, lifeboat_cmd, scan, stderr};
use faultproxy::FaultProxy;
use garage::Garage;

/// A proxy in front of the cluster that also keeps a log of the requests (method, path), and
/// can play a store that dies after a given number of pack uploads.
struct Proxy {
    inner: FaultProxy,
    log: Arc<Mutex<Vec<(String, String)>>>,
    /// Pack uploads let through before every request fails with 503 (`usize::MAX`: never).
    die_after_packs: Arc<std::sync::atomic::AtomicUsize>,
}

impl Proxy {
    fn start(g: &Garage) -> Proxy {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let inner = FaultProxy::start(g.endpoint());
        let log: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let die_after_packs = Arc::new(AtomicUsize::new(usize::MAX));
        let (l, limit) = (log.clone(), die_after_packs.clone());
        let packs = AtomicUsize::new(0);
        inner.fail_when(move |method, path| {
            l.lock()
                .unwrap()
                .push((method.to_string(), path.to_string()));
            if packs.load(Ordering::SeqCst) >= limit.load(Ordering::SeqCst) {
                return Some(503);
            }
            if method == "PUT" && path.contains("/data/") {
                packs.fetch_add(1, Ordering::SeqCst);
            }
            None
        });
        Proxy {
            inner,
            log,
            die_after_packs,
        }
    }

    /// From now on, let `n` more pack uploads through, then fail everything.
    fn die_after_packs(&self, n: usize) {
        let seen = self.count("PUT", "/data/");
        self.die_after_packs
            .store(seen + n, std::sync::atomic::Ordering::SeqCst);
    }

    /// Work again.
    fn revive(&self) {
        self.die_after_packs
            .store(usize::MAX, std::sync::atomic::Ordering::SeqCst);
    }

    fn url(&self, g: &Garage, prefix: &str) -> String {
        format!("s3:{}/{}/{prefix}", self.inner.endpoint(), g.bucket())
    }

    fn log(&self) -> Vec<(String, String)> {
        self.log.lock().unwrap().clone()
    }

    fn clear_log(&self) {
        self.log.lock().unwrap().clear();
    }

    /// Requests of `method` for objects (not listings) whose path contains `part`.
    fn count(&self, method: &str, part: &str) -> usize {
        self.log()
            .iter()
            .filter(|(m, p)| m == method && !p.contains("list-type") && p.contains(part))
            .count()
    }
}

/// A repository under its own prefix of the cluster's bucket, with a scratch directory.
struct S3Env {
    dir: tempfile::TempDir,
    url: String,
    vars: Vec<(String, String)>,
}

impl S3Env {
    fn new(g: &Garage, prefix: &str) -> S3Env {
        S3Env {
            dir: tempfile::tempdir().expect("tempdir"),
            url: g.repo_url(prefix),
            vars: g.env(),
        }
    }

    fn with_url(&self, url: &str) -> S3Env {
        S3Env {
            dir: tempfile::tempdir().expect("tempdir"),
            url: url.to_string(),
            vars: self.vars.clone(),
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn cmd(&self) -> Command {
        let mut c = lifeboat_cmd();
        for (k, v) in &self.vars {
            c.env(k, v);
        }
        c.env("LIFEBOAT_PASSWORD", PASSWORD)
            .env("LIFEBOAT_CACHE_DIR", self.path("cache"))
            .arg("--repo")
            .arg(&self.url);
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run lifeboat")
    }

    /// Start a command with its output captured, to wait for later.
    fn spawn(&self, args: &[&str]) -> std::process::Child {
        self.cmd()
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start lifeboat")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "lifeboat {args:?} on {} failed ({:?}):\nstdout: {}\nstderr: {}",
            self.url,
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            stderr(&out)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    fn ok_json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        serde_json::from_str(&self.ok(&all)).expect("json stdout")
    }

    fn init(&self) {
        self.ok(&[
            "init",
            "--kdf-memory",
            "8",
            "--kdf-iterations",
            "1",
            "--kdf-parallelism",
            "1",
        ]);
    }
}

/// A tree with what a deployment holds: weights, text, an empty file, a symlink, a hard link.
fn sample_tree(root: &Path, seed: u64, model_mib: usize) {
    std::fs::create_dir_all(root.join("models/llm")).unwrap();
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(
        root.join("models/llm/weights.bin"),
        common::fp16_like(seed, model_mib << 20),
    )
    .unwrap();
    std::fs::write(
        root.join("models/llm/noise.bin"),
        common::random_bytes(seed + 1, 3 << 20),
    )
    .unwrap();
    let text: String = (0..20_000)
        .map(|i| format!("line {i} of seed {seed}\n"))
        .collect();
    std::fs::write(root.join("etc/app.conf"), text).unwrap();
    std::fs::write(root.join("etc/empty"), b"").unwrap();
    std::os::unix::fs::symlink("app.conf", root.join("etc/link")).unwrap();
    std::fs::hard_link(root.join("etc/app.conf"), root.join("etc/app.hard")).unwrap();
}

fn restore_and_compare(e: &S3Env, snapshot: &str, src: &Path, into: &str) {
    let target = e.path(into);
    e.ok(&["restore", snapshot, "--target", target.to_str().unwrap()]);
    assert_restored(src, &target);
}

/// `src` as restored under `target` equals `src`, field by field (atimes aside; owners only
/// as root, who can set them).
fn assert_restored(src: &Path, target: &Path) {
    assert_restored_equal(
        src,
        &scan(src),
        &common::restored_path(target, src),
        Compare {
            atime: false,
            owners: common::is_root(),
        },
    );
}

/// A password file as lifeboat wants one: private.
fn secret_file(path: &Path, content: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, content).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn start(nodes: usize) -> Option<Garage> {
    Garage::start(nodes)
}

/// The library's S3 backend on the repository under `prefix`, for tampering with objects
/// directly; its credentials come from a shared credentials file (that path is tested too).
fn raw_backend(g: &Garage, prefix: &str, scratch: &Path) -> lifeboat::repo::S3Backend {
    let creds = scratch.join("aws-credentials");
    std::fs::write(
        &creds,
        format!(
            "[tests]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            g.access_key(),
            g.secret_key()
        ),
    )
    .unwrap();
    let lifeboat::repo::RepoLocation::S3(loc) =
        lifeboat::repo::RepoLocation::parse(&g.repo_url(prefix)).unwrap()
    else {
        unreachable!("an s3: URL")
    };
    let opts = lifeboat::repo::S3Options {
        region: Some(g.region().to_string()),
        credentials_file: Some(creds),
        profile: Some("tests".into()),
        ..Default::default()
    };
    lifeboat::repo::S3Backend::new(loc, &opts).unwrap()
}

#[test]
fn every_command_works_on_s3_as_on_a_local_repository() {
    let Some(g) = start(1) else { return };
    let e = S3Env::new(&g, "roundtrip");
    e.init();
    let src = e.path("src");
    sample_tree(&src, 1, 8);
    let first = e.ok_json(&["snapshot", "--tag", "nightly", src.to_str().unwrap()]);
    let id = first["id"].as_str().unwrap().to_string();
    assert!(
        first["summary"]["stored_added"].as_u64().unwrap() > 0,
        "{first}"
    );
    let list = e.ok_json(&["snapshots"]);
    assert_eq!(list.as_array().unwrap().len(), 1);
    let ls = e.ok(&["ls", &id]);
    assert!(ls.contains("weights.bin"), "{ls}");
    restore_and_compare(&e, &id, &src, "back1");
    e.ok(&["verify", "--read-data"]);

    // A change, a second snapshot, a diff, retention and a prune.
    std::fs::write(src.join("etc/new.conf"), b"new\n").unwrap();
    let second = e.ok_json(&["snapshot", src.to_str().unwrap()]);
    let id2 = second["id"].as_str().unwrap().to_string();
    let diff = e.ok(&["diff", &id, &id2]);
    assert!(diff.contains("new.conf"), "{diff}");
    e.ok(&["forget", "--keep-last", "1", "--prune"]);
    assert_eq!(e.ok_json(&["snapshots"]).as_array().unwrap().len(), 1);
    e.ok(&["verify", "--read-data"]);
    restore_and_compare(&e, &id2, &src, "back2");
    let stats = e.ok_json(&["stats"]);
    assert!(stats.is_object(), "{stats}");
    e.ok(&["unlock"]);
    // Nothing was left behind in the lock folder.
    let s3 = raw_backend(&g, "roundtrip", e.dir.path());
    use lifeboat::repo::Backend;
    assert!(s3.list(lifeboat::repo::FileType::Lock).unwrap().is_empty());
}

#[test]
fn cache_keeps_an_unchanged_resnapshot_from_downloading_the_index() {
    let Some(g) = start(1) else { return };
    let proxy = Proxy::start(&g);
    let e = S3Env::new(&g, "cache").with_url(&proxy.url(&g, "cache"));
    e.init();
    let src = e.path("src");
    sample_tree(&src, 2, 4);
    e.ok(&["snapshot", src.to_str().unwrap()]);
    // The same again: the index and the parent come from the cache.
    proxy.clear_log();
    e.ok(&["snapshot", src.to_str().unwrap()]);
    let gets: Vec<String> = proxy
        .log()
        .into_iter()
        .filter(|(m, p)| {
            m == "GET"
                && !p.contains("list-type")
                && (p.contains("/index/") || p.contains("/snapshots/"))
        })
        .map(|(m, p)| format!("{m} {p}"))
        .collect();
    assert!(gets.is_empty(), "cached files downloaded again: {gets:?}");
    // What an unchanged re-snapshot costs in requests (docs/S3.md quotes these).
    let log = proxy.log();
    let tally = |m: &str, listing: bool| {
        log.iter()
            .filter(|(method, p)| method == m && p.contains("list-type") == listing)
            .count()
    };
    let (puts, gets, heads, lists, deletes) = (
        tally("PUT", false),
        tally("GET", false),
        tally("HEAD", false),
        tally("GET", true),
        tally("DELETE", false),
    );
    eprintln!(
        "unchanged re-snapshot: {puts} PUT, {gets} GET, {heads} HEAD, {lists} LIST, {deletes} DELETE"
    );
    // PUTs: the lock, the snapshot, and one small pack and index for the tree of the
    // scratch directory above `src` (its mtime changed when the cache appeared in it).
    assert!(
        puts <= 4 && gets <= 4 && lists <= 6 && deletes <= 1,
        "{log:?}"
    );
    // Without the cache they are downloaded, and the result is the same.
    proxy.clear_log();
    e.ok(&["--no-cache", "snapshot", src.to_str().unwrap()]);
    assert!(
        proxy.count("GET", "/index/") > 0,
        "--no-cache read the index from the store"
    );
    // A damaged cache file is noticed (authenticated) and replaced from the store.
    let cache = e.path("cache");
    for f in walkdir::WalkDir::new(&cache).into_iter().flatten() {
        if f.file_type().is_file() && f.path().to_string_lossy().contains("/index/") {
            std::fs::write(f.path(), b"garbage").unwrap();
        }
    }
    e.ok(&["snapshot", src.to_str().unwrap()]);
    e.ok(&["verify"]);
}

#[test]
fn refused_credentials_and_a_missing_bucket_are_named_without_secrets() {
    let Some(g) = start(1) else { return };
    let e = S3Env::new(&g, "denied");
    e.init();
    let (id, secret) = g.key_without_access();
    let mut c = e.cmd();
    c.env("AWS_ACCESS_KEY_ID", &id)
        .env("AWS_SECRET_ACCESS_KEY", &secret)
        .args(["snapshots"]);
    let out = c.output().unwrap();
    let err = stderr(&out);
    assert_eq!(code(&out), 13, "{err}");
    assert!(err.contains("access denied to bucket `lifeboat"), "{err}");
    assert!(
        !err.contains(&secret) && !err.contains(g.secret_key()),
        "{err}"
    );
    assert!(
        err.lines().count() <= 3,
        "short, not a stack of HTTP text: {err}"
    );
    // JSON errors carry the named code.
    let mut c = e.cmd();
    c.env("AWS_SECRET_ACCESS_KEY", "wrong-secret")
        .args(["--json", "snapshots"]);
    let out = c.output().unwrap();
    assert_eq!(code(&out), 13, "{}", stderr(&out));
    let j = String::from_utf8_lossy(&out.stdout).to_string() + &stderr(&out);
    assert!(j.contains("access_denied"), "{j}");
    assert!(!j.contains("wrong-secret"), "{j}");

    let missing = e.with_url(&g.repo_url("x").replace("/lifeboat/", "/no-such-bucket/"));
    let out = missing.run(&["init"]);
    let err = stderr(&out);
    assert_eq!(code(&out), 10, "{err}");
    assert!(
        err.contains("bucket `no-such-bucket` does not exist"),
        "{err}"
    );
    let out = missing.run(&["snapshots"]);
    assert_eq!(code(&out), 10, "{}", stderr(&out));
    // Credentials in the URL are refused before anything is sent, and not echoed.
    let out = e
        .with_url("s3:http://AKIAX:hunter2@127.0.0.1:1/lifeboat")
        .run(&["snapshots"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(!stderr(&out).contains("hunter2"));
}

#[test]
fn retries_ride_out_errors_and_slowness_then_fail_clearly() {
    let Some(g) = start(1) else { return };
    let proxy = FaultProxy::start(g.endpoint());
    let e = S3Env::new(&g, "faults").with_url(&format!(
        "s3:{}/{}/faults",
        proxy.endpoint(),
        g.bucket()
    ));
    e.init();
    let src = e.path("src");
    sample_tree(&src, 3, 4);
    // Every third request fails with 503, every seventh with 500: the run completes.
    proxy.fail_every_with(3, 503);
    proxy.delay(Duration::from_millis(30));
    let snap = e.ok_json(&["snapshot", src.to_str().unwrap()]);
    assert!(proxy.faults() > 0, "the proxy injected no fault");
    proxy.clear_faults();
    proxy.delay(Duration::ZERO);
    e.ok(&["verify", "--read-data"]);
    restore_and_compare(&e, snap["id"].as_str().unwrap(), &src, "back");
    // A store that keeps failing: a clear error after the retries, no success printed.
    proxy.fail_next(u64::MAX, 503);
    let t = std::time::Instant::now();
    let out = e.run(&["snapshot", src.to_str().unwrap()]);
    let err = stderr(&out);
    assert_ne!(code(&out), 0, "{err}");
    assert!(err.contains("unavailable") || err.contains("503"), "{err}");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("snapshot "),
        "no success line"
    );
    assert!(
        t.elapsed() < Duration::from_secs(120),
        "gave up in {:?}",
        t.elapsed()
    );
}

#[test]
fn a_store_stopped_mid_snapshot_fails_it_and_the_next_one_reuses_the_uploads() {
    let Some(g) = start(1) else { return };
    let proxy = Proxy::start(&g);
    let e = S3Env::new(&g, "cut").with_url(&proxy.url(&g, "cut"));
    e.init();
    let src = e.path("src");
    sample_tree(&src, 4, 96);
    // The store fails every request once two packs went up (so the run cannot finish first
    // whatever the timing), and its connections are cut as well.
    proxy.die_after_packs(2);
    let child = e.spawn(&["--json", "snapshot", src.to_str().unwrap()]);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while proxy.count("PUT", "/data/") < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    proxy.inner.cut();
    let out = child.wait_with_output().unwrap();
    assert_ne!(code(&out), 0, "a snapshot through a dead store succeeded");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("\"id\""));
    proxy.inner.restore();
    proxy.revive();
    e.ok(&["verify", "--read-data"]);
    assert_eq!(e.ok_json(&["snapshots"]).as_array().unwrap().len(), 0);
    let snap = e.ok_json(&["snapshot", src.to_str().unwrap()]);
    let total = snap["summary"]["bytes"].as_u64().expect("summary.bytes");
    let stored = snap["summary"]["stored_added"]
        .as_u64()
        .expect("summary.stored_added");
    assert!(
        stored < total * 9 / 10,
        "the second run re-uploaded what the first stored: {stored} of {total} bytes"
    );
    e.ok(&["verify", "--read-data"]);
    restore_and_compare(&e, snap["id"].as_str().unwrap(), &src, "back");
}

#[test]
fn a_truncated_or_tampered_object_is_an_integrity_error() {
    let Some(g) = start(1) else { return };
    let e = S3Env::new(&g, "tamper");
    e.init();
    let src = e.path("src");
    sample_tree(&src, 5, 4);
    let snap = e.ok_json(&["snapshot", src.to_str().unwrap()]);
    let id = snap["id"].as_str().unwrap().to_string();
    let s3 = raw_backend(&g, "tamper", e.dir.path());
    use lifeboat::repo::{Backend, FileType};
    let packs = s3.list(FileType::Pack).unwrap();
    let victim = packs
        .iter()
        .max_by_key(|p| s3.size(FileType::Pack, p).unwrap())
        .unwrap();
    let mut bytes = s3.read(FileType::Pack, victim).unwrap();
    // Tampered: one byte flipped in the middle.
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    s3.remove(FileType::Pack, victim).unwrap();
    s3.write(FileType::Pack, victim, &bytes).unwrap();
    let out = e.run(&["verify", "--read-data"]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stderr(&out).contains(&victim[..8]), "{}", stderr(&out));
    let out = e.run(&["restore", &id, "--target", e.path("t1").to_str().unwrap()]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    // Truncated: half of it.
    bytes[mid] ^= 0x40;
    s3.remove(FileType::Pack, victim).unwrap();
    s3.write(FileType::Pack, victim, &bytes[..mid]).unwrap();
    let out = e.run(&["verify", "--read-data"]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stderr(&out).contains(&victim[..8]), "{}", stderr(&out));
    let out = e.run(&["restore", &id, "--target", e.path("t2").to_str().unwrap()]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
}

#[test]
fn two_hosts_snapshot_into_one_bucket_while_a_third_prunes() {
    let Some(g) = start(1) else { return };
    let e = S3Env::new(&g, "shared");
    e.init();
    let (a, b) = (e.path("a"), e.path("b"));
    sample_tree(&a, 6, 24);
    sample_tree(&b, 7, 24);
    // Something for the prune to do: a forgotten snapshot's data.
    let old = e.path("old");
    sample_tree(&old, 8, 8);
    let gone = e.ok_json(&["snapshot", "--hostname", "old", old.to_str().unwrap()]);
    e.ok(&["forget", gone["id"].as_str().unwrap()]);
    let writers = [
        e.spawn(&[
            "--lock-wait",
            "5m",
            "snapshot",
            "--hostname",
            "a",
            a.to_str().unwrap(),
        ]),
        e.spawn(&[
            "--lock-wait",
            "5m",
            "snapshot",
            "--hostname",
            "b",
            b.to_str().unwrap(),
        ]),
    ];
    std::thread::sleep(Duration::from_millis(300));
    let pruner = e.spawn(&["--lock-wait", "5m", "prune"]);
    for c in writers.into_iter().chain([pruner]) {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }
    e.ok(&["verify", "--read-data"]);
    let list = e.ok_json(&["snapshots"]);
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    let restored = e.path("ra");
    e.ok(&[
        "restore",
        "latest",
        "--hostname",
        "a",
        "--target",
        restored.to_str().unwrap(),
    ]);
    assert_restored(&a, &restored);
}

#[test]
fn a_snapshot_completes_with_one_node_of_three_down() {
    let Some(g) = start(3) else { return };
    let e = S3Env::new(&g, "quorum");
    e.init();
    let src = e.path("src");
    sample_tree(&src, 9, 64);
    let child = e.spawn(&["--json", "snapshot", src.to_str().unwrap()]);
    std::thread::sleep(Duration::from_millis(700));
    g.stop_node(3);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let snap: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    g.start_node(3);
    e.ok(&["verify", "--read-data"]);
    restore_and_compare(&e, snap["id"].as_str().unwrap(), &src, "back");
}

#[test]
fn a_configured_job_runs_against_s3() {
    let Some(g) = start(1) else { return };
    let e = S3Env::new(&g, "job");
    e.init();
    let src = e.path("src");
    sample_tree(&src, 10, 2);
    let pw = e.path("pw");
    secret_file(&pw, PASSWORD);
    let cfg = e.path("lifeboat.toml");
    std::fs::write(
        &cfg,
        format!(
            "[repository]\npath = \"{}\"\npassword_file = \"{}\"\n\n[snapshot]\npaths = [\"{}\"]\n\n[retention]\nkeep_last = 2\n\n[monitoring]\nstate_dir = \"{}\"\n",
            e.url,
            pw.display(),
            src.display(),
            e.path("state").display()
        ),
    )
    .unwrap();
    let mut c = lifeboat_cmd();
    for (k, v) in &e.vars {
        c.env(k, v);
    }
    let out = c
        .env("LIFEBOAT_CACHE_DIR", e.path("cache"))
        .args(["--config", cfg.to_str().unwrap(), "run"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let out = lifeboat_cmd()
        .envs(e.vars.iter().map(|(k, v)| (k.clone(), v.clone())))
        .env("LIFEBOAT_CACHE_DIR", e.path("cache"))
        .args(["--config", cfg.to_str().unwrap(), "status"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(e.ok_json(&["snapshots"]).as_array().unwrap().len(), 1);
}

#[test]
fn copy_takes_snapshots_from_local_to_s3_and_back_for_an_air_gapped_copy() {
    let Some(g) = start(1) else { return };
    let remote = S3Env::new(&g, "copy");
    remote.init();
    let local = common::Env::new();
    let src = local.path("src");
    sample_tree(&src, 11, 6);
    let id = local.snapshot(&src);
    // Local -> S3, the source's password from a file.
    let pw = local.path("local-pw");
    secret_file(&pw, PASSWORD);
    let mut c = remote.cmd();
    c.args(["--json", "copy", "--from-repo", common::s(&local.repo)])
        .args(["--from-password-file", common::s(&pw)]);
    let out = c.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // S3 -> a new local directory (the air-gapped copy).
    let gap = common::Env::new();
    let mut c = gap.cmd();
    for (k, v) in &remote.vars {
        c.env(k, v);
    }
    let rpw = local.path("remote-pw");
    secret_file(&rpw, PASSWORD);
    c.env("LIFEBOAT_CACHE_DIR", remote.path("cache")).args([
        "copy",
        "--from-repo",
        &remote.url,
        "--from-password-file",
        common::s(&rpw),
    ]);
    let out = c.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    gap.ok(&["verify", "--read-data"]);
    let target = gap.path("back");
    gap.ok(&["restore", "latest", "--target", common::s(&target)]);
    assert_restored(&src, &target);
    // The copies keep the snapshot's identity: copying again copies nothing.
    let mut c = remote.cmd();
    c.args(["--json", "copy", "--from-repo", common::s(&local.repo)])
        .args(["--from-password-file", common::s(&pw)]);
    let out = c.output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["copied"].as_array().map(Vec::len),
        Some(0),
        "{report} ({id})"
    );
}

#[test]
fn the_host_profile_goes_to_s3_and_its_diff_comes_back() {
    let Some(g) = start(1) else { return };
    let e = S3Env::new(&g, "host");
    e.init();
    let root = e.path("hostroot");
    let w = |rel: &str, body: &str| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, body).unwrap();
    };
    w("etc/ssh/sshd_config", "Port 22\nPermitRootLogin no\n");
    w("etc/docker/daemon.json", "{\"icc\": false}\n");
    let r = root.to_str().unwrap();
    e.ok(&["snapshot", "--host", "--host-root", r, "--no-host-commands"]);
    let clean = e.run(&["restore", "latest", "--host", "--host-root", r]);
    assert_eq!(code(&clean), 0, "{}", stderr(&clean));
    w("etc/ssh/sshd_config", "Port 22\nPermitRootLogin yes\n");
    let out = e.run(&["restore", "latest", "--host", "--host-root", r]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(code(&out), 3, "{text}{}", stderr(&out));
    assert!(text.contains("+PermitRootLogin yes"), "{text}");
    // The audit of the snapshot reads it from the store too.
    let audit = e.run(&["audit", "latest"]);
    assert!(
        [0, 21, 22, 23, 24].contains(&code(&audit)),
        "{}",
        stderr(&audit)
    );
}
