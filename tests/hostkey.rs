//! Write-only host keys (issue 14, FORMAT.md §13): a host snapshots with a key file that opens
//! nothing; the owner restores exactly; every owner command is refused with the owner key named;
//! no secret in the key file opens any object; a host's garbage under another's chunk ID
//! poisons nothing; the host's cache keeps snapshots incremental and losing it costs a re-read
//! only; hosts deduplicate across each other through the owner's verified list; a revoked key's
//! new snapshots fail the owner's verify; a version 1 repository migrates.

mod common;
mod docker_support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;

use common::{Compare, Env, PASSWORD, code, lifeboat_cmd, s, scan, stderr};
use lifeboat::crypto::recipient::OwnerSecret;
use lifeboat::crypto::{self, SecretKey};
use lifeboat::id::Id;
use lifeboat::repo::keyring::{SEALED_V2, V2_PREFIX, blob_ad};
use lifeboat::repo::{Backend, BlobKind, FileType, HostKeyFile, LocalBackend, Repository};
use serde_json::Value;

const EXIT_WRITE_ONLY: i32 = 14;
const EXIT_DAMAGED: i32 = 4;

/// A repository and the host key files made for it.
struct Fx {
    e: Env,
}

impl Fx {
    fn new() -> Fx {
        Fx { e: Env::new() }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.e.path(rel)
    }

    /// `key add --write-only --hostname HOST --output FILE` with the owner's password.
    fn host_key(&self, host: &str) -> PathBuf {
        let file = self.path(&format!("{host}.key"));
        self.e.ok(&[
            "key",
            "add",
            "--write-only",
            "--hostname",
            host,
            "--output",
            s(&file),
        ]);
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "host key file mode");
        file
    }

    /// The binary as a host: the key file, no password anywhere, a cache of its own.
    fn as_host(&self, key: &Path, args: &[&str]) -> Output {
        let cache = self.path(&format!(
            "cache-{}",
            key.file_stem().unwrap().to_string_lossy()
        ));
        lifeboat_cmd()
            .env("LIFEBOAT_KEY_FILE", key)
            .env("XDG_CACHE_HOME", &cache)
            .env("HOME", self.e.dir.path())
            .arg("--repo")
            .arg(&self.e.repo)
            .args(args)
            .output()
            .expect("run lifeboat")
    }

    /// A host snapshot that must succeed: its JSON answer.
    fn host_snapshot(&self, key: &Path, args: &[&str]) -> Value {
        let out = self.as_host(key, &[&["--json", "snapshot"], args].concat());
        assert_eq!(code(&out), 0, "host snapshot {args:?}: {}", stderr(&out));
        serde_json::from_slice(&out.stdout).expect("snapshot json")
    }

    fn owner(&self) -> Repository {
        Repository::open(
            Arc::new(LocalBackend::new(&self.e.repo)),
            PASSWORD.as_bytes(),
        )
        .expect("owner opens")
    }
}

fn summary(v: &Value, field: &str) -> u64 {
    v["summary"][field]
        .as_u64()
        .unwrap_or_else(|| panic!("no summary.{field} in {v}"))
}

fn write(p: &Path, data: &[u8]) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
}

/// Files and a model-like shard under `root`.
fn make_files(root: &Path, seed: u64) {
    write(&root.join("app/config.toml"), b"[server]\nport = 8080\n");
    write(
        &root.join("models/shard-0.bin"),
        &common::fp16_like(seed, 3 << 20),
    );
    write(
        &root.join("data/blob.bin"),
        &common::random_bytes(seed + 1, 700_000),
    );
    std::os::unix::fs::symlink("shard-0.bin", root.join("models/latest")).unwrap();
}

fn restore_and_compare(fx: &Fx, snap: &str, src: &Path) {
    let target = fx.path(&format!("restore-{}", &snap[..8]));
    fx.e.ok(&["restore", snap, "--target", s(&target)]);
    compare_restored(&target, src, snap);
}

/// Restore where the repository holds a forged copy of a blob beside the good one. Which copy
/// the index tries first depends on the order it read its files: when it is the forged one,
/// the restore reads past it and says so (exit 4: damage noticed). The result is exact.
fn restore_past_forgery(fx: &Fx, snap: &str, src: &Path) {
    let target = fx.path(&format!("restore-{}", &snap[..8]));
    let out = fx.e.run(&["restore", snap, "--target", s(&target)]);
    match code(&out) {
        0 => {}
        EXIT_DAMAGED => assert!(
            stderr(&out).contains("another copy is read"),
            "{}",
            stderr(&out)
        ),
        c => panic!("restore exit {c}: {}", stderr(&out)),
    }
    compare_restored(&target, src, snap);
}

fn compare_restored(target: &Path, src: &Path, snap: &str) {
    let restored = common::restored_path(target, src);
    let bad = common::compare_trees(
        src,
        &scan(src),
        &restored,
        &scan(&restored),
        Compare {
            atime: false,
            owners: common::is_root(),
        },
    );
    assert!(
        bad.is_empty(),
        "restore of {snap} differs:\n{}",
        bad.join("\n")
    );
}

/// The host key snapshots files, a host profile and (when an engine answers) a container with
/// a volume; the owner restores and reads each exactly.
#[test]
fn host_key_snapshots_what_the_owner_restores_exactly() {
    let fx = Fx::new();
    let key = fx.host_key("gpu-01");
    let src = fx.path("src");
    make_files(&src, 1);
    let hroot = fx.path("hostroot");
    write(
        &hroot.join("etc/ssh/sshd_config"),
        b"PermitRootLogin no\nPasswordAuthentication no\n",
    );
    write(&hroot.join("etc/docker/daemon.json"), b"{\"icc\": false}\n");
    let mut args = vec![
        s(&src).to_string(),
        "--host".into(),
        "--host-root".into(),
        s(&hroot).to_string(),
    ];
    let px = docker_support::docker_available().then(|| {
        docker_support::ensure_test_image();
        let px = docker_support::Prefix::new();
        let (name, vol) = (px.n("api"), px.n("vol"));
        docker_support::docker(&[
            "run",
            "-d",
            "--name",
            &name,
            "-v",
            &format!("{vol}:/data"),
            "-e",
            "API_TOKEN=host-key-test-secret",
            "lifeboat-test:1",
            "sh",
            "-c",
            "echo volume-bytes > /data/a.txt; trap 'exit 0' TERM; while :; do sleep 1; done",
        ]);
        assert!(docker_support::wait_for(
            std::time::Duration::from_secs(20),
            || docker_support::docker_out(&["exec", &name, "cat", "/data/a.txt"])
                .status
                .success()
        ));
        args.extend(["--container".into(), name.clone()]);
        (px, name, vol)
    });
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let v = fx.host_snapshot(&key, &args);
    let snap = v["id"].as_str().unwrap().to_string();
    assert!(
        !String::from_utf8_lossy(&serde_json::to_vec(&v).unwrap()).contains("host-key-test-secret"),
        "a container's secret in the host's output"
    );
    // The owner sees it, recorded under the key's hostname and signed by that host.
    let list = fx.e.ok_json(&["snapshots"]);
    assert_eq!(list[0]["hostname"], "gpu-01", "{list}");
    let owner = fx.owner();
    match owner.snapshot_signer(&Id::parse(&snap).unwrap()).unwrap() {
        Some(lifeboat::repo::Signer::Host(h)) => assert_eq!(h.hostname, "gpu-01"),
        other => panic!("signed by {other:?}"),
    }
    restore_and_compare(&fx, &snap, &src);
    let dumped =
        fx.e.ok(&["dump", &snap, s(&hroot.join("etc/ssh/sshd_config"))]);
    assert_eq!(dumped, "PermitRootLogin no\nPasswordAuthentication no\n");
    if let Some((px, name, vol)) = px {
        // Incremental for the deployment too: the volume's files and the image archive of the
        // last run are not read again (the host's cache records them).
        let again = fx.host_snapshot(&key, &args);
        assert_eq!(
            again["deployment"]["summary"]["bytes_read"], 0,
            "the host read its deployment again: {again}"
        );
        let show = fx.e.ok_json(&["show", &snap]);
        assert!(show.to_string().contains(&name), "{show}");
        // The volume's file, read by the owner from the deployment tree.
        let repo = fx.owner().indexed().unwrap();
        let snapshot: lifeboat::snapshot::manifest::Snapshot = repo
            .load_sealed(FileType::Snapshot, &Id::parse(&snap).unwrap())
            .unwrap();
        let tree = &snapshot.deployment.as_ref().expect("a deployment").tree;
        let want = format!("/volumes/{vol}/a.txt");
        let entry = lifeboat::snapshot::tree::TreeReader::new(&repo, tree)
            .map(Result::unwrap)
            .find(|e| e.path == want.as_bytes())
            .unwrap_or_else(|| panic!("no {want} in the deployment tree"));
        let mut bytes = Vec::new();
        for id in &entry.content.unwrap().chunks {
            bytes.extend(repo.read_blob(BlobKind::Data, id).unwrap());
        }
        assert_eq!(bytes, b"volume-bytes\n");
        px.cleanup();
    }
    fx.e.ok(&["verify", "--read-data"]);
}

/// Everything but taking snapshots is refused, each time naming the owner's key as the way.
#[test]
fn host_key_is_refused_everything_but_snapshots() {
    let fx = Fx::new();
    let key = fx.host_key("web-1");
    let src = fx.path("src");
    make_files(&src, 2);
    let snap = fx.host_snapshot(&key, &[s(&src)])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let target = fx.path("t");
    let config = src.join("app/config.toml");
    let evil_key = fx.path("evil.key");
    let pw = fx.path("newpw");
    std::fs::write(&pw, "another password\n").unwrap();
    let refused: Vec<Vec<&str>> = vec![
        vec!["snapshots"],
        vec!["ls", &snap],
        vec!["show", &snap],
        vec!["diff", &snap, &snap],
        vec!["restore", &snap, "--target", s(&target)],
        vec!["dump", &snap, s(&config)],
        vec!["find", "config.toml"],
        vec!["stats"],
        vec!["forget", &snap],
        vec!["forget", "--keep-last", "1"],
        vec!["prune"],
        vec!["verify"],
        vec!["tag", &snap, "--add", "x"],
        vec!["key", "list"],
        vec!["key", "add", "--new-password-file", s(&pw)],
        vec![
            "key",
            "add",
            "--write-only",
            "--hostname",
            "evil",
            "--output",
            s(&evil_key),
        ],
    ];
    for args in refused {
        let out = fx.as_host(&key, &args);
        let err = stderr(&out);
        assert_eq!(code(&out), EXIT_WRITE_ONLY, "{args:?}: {err}");
        assert!(
            err.contains("write-only host key") && err.contains("owner"),
            "{args:?} does not say why and what would work: {err}"
        );
        assert!(!target.exists(), "{args:?} wrote a restore target");
    }
    assert!(!evil_key.exists());
    assert_eq!(fx.e.ok_json(&["snapshots"]).as_array().unwrap().len(), 1);
    // The JSON error names the code.
    let out = fx.as_host(&key, &["--json", "ls", &snap]);
    let v: Value = serde_json::from_slice(&out.stderr)
        .or_else(|_| serde_json::from_slice(&out.stdout))
        .unwrap_or(Value::Null);
    assert!(
        v.to_string().contains("write_only_key"),
        "json error: {v} / {}",
        stderr(&out)
    );
}

/// Every secret the host key file holds, tried as a symmetric key and as an X25519 secret
/// against every stored object (with that object's own associated data): none opens anything.
/// The owner's keys open each of them (so the attempt is a real one).
#[test]
fn no_secret_in_the_host_key_file_opens_any_object() {
    let fx = Fx::new();
    let key = fx.host_key("db-1");
    let src = fx.path("src");
    make_files(&src, 3);
    fx.host_snapshot(&key, &[s(&src)]);
    write(&src.join("app/new.txt"), b"second run\n");
    fx.host_snapshot(&key, &[s(&src)]);

    let bytes = std::fs::read(&key).unwrap();
    let host = HostKeyFile::parse(&bytes, "key")
        .unwrap()
        .unlock(None)
        .unwrap();
    let mut secrets: Vec<[u8; 32]> = lifeboat::repo::keyring::host_secrets(&host)
        .iter()
        .map(|k| **k)
        .collect();
    secrets.push(host.owner.x25519);
    secrets.push(host.owner.ed25519);
    // And every 32-byte value written in hex anywhere in the file.
    let text = String::from_utf8(bytes).unwrap();
    for word in text.split(|c: char| !c.is_ascii_hexdigit()) {
        if let Ok(raw) = hex::decode(word) {
            for w in raw.windows(32) {
                secrets.push(w.try_into().unwrap());
            }
        }
    }
    secrets.sort();
    secrets.dedup();
    assert!(secrets.len() > 5);

    let owner = fx.owner();
    let backend = owner.backend().clone();
    let mut objects = 0;
    let mut try_open = |what: &str, label: &str, id: &[u8], sealed: &[u8]| {
        let v2 = sealed.first() == Some(&SEALED_V2) && sealed.len() > V2_PREFIX;
        let (e, body) = if v2 {
            (
                Some(<[u8; 32]>::try_from(&sealed[1..V2_PREFIX]).unwrap()),
                &sealed[V2_PREFIX..],
            )
        } else {
            (None, sealed)
        };
        let ads = [
            format!("lifeboat/v2/{label}/"),
            format!("lifeboat/v1/{label}/"),
        ];
        for secret in &secrets {
            let mut keys = vec![SecretKey::from_bytes(*secret)];
            if let Some(e) = e
                && let Ok(run) = OwnerSecret::from_bytes(secret, secret).open_run(&e, "x")
            {
                keys.push(run.data);
                keys.push(run.meta);
            }
            for k in &keys {
                for ad in &ads {
                    let mut a = ad.as_bytes().to_vec();
                    a.extend_from_slice(id);
                    assert!(
                        crypto::open(k, &a, body).is_err(),
                        "{what} opened with a secret of the host key file"
                    );
                }
            }
        }
        objects += 1;
    };
    for t in [FileType::Index, FileType::Snapshot] {
        for name in backend.list(t).unwrap() {
            let id = Id::parse(&name).unwrap();
            let mut sealed = backend.read(t, &name).unwrap();
            let label = if t == FileType::Index {
                "index"
            } else {
                "snapshot"
            };
            if t == FileType::Snapshot {
                sealed.truncate(sealed.len() - 80);
            }
            owner
                .keys()
                .open_object(label, &id.0, &sealed, "object")
                .expect("the owner opens it");
            try_open(&format!("{label} {name}"), label, &id.0, &sealed);
        }
    }
    for name in backend.list(FileType::Pack).unwrap() {
        let pack = Id::parse(&name).unwrap();
        let header = owner.read_pack_header(&pack).unwrap();
        let bytes = backend.read(FileType::Pack, &name).unwrap();
        let hl = u32::from_le_bytes(bytes[bytes.len() - 4..].try_into().unwrap()) as usize;
        let sealed_header = &bytes[bytes.len() - 4 - hl..bytes.len() - 4];
        try_open(
            &format!("pack header {name}"),
            "pack-header",
            &pack.0,
            sealed_header,
        );
        let mut off = 0usize;
        for e in &header.entries {
            let blob = &bytes[off..off + e.stored_len as usize];
            off += e.stored_len as usize;
            // Blobs carry no run key of their own: the pack's is the one to try.
            let mut prefixed = vec![SEALED_V2];
            prefixed.extend_from_slice(&header.run.unwrap());
            prefixed.extend_from_slice(blob);
            let ad_label = "blob";
            let mut id = vec![e.kind as u8];
            id.extend_from_slice(&e.id.0);
            assert_eq!(blob_ad(2, e.kind, &e.id)[..17], *b"lifeboat/v2/blob/");
            try_open(
                &format!("blob {} in pack {name}", e.id),
                ad_label,
                &id,
                &prefixed,
            );
        }
    }
    assert!(objects >= 6, "only {objects} objects tried");
}

/// A second host uploads garbage under the ID of a chunk the first host is about to write:
/// the first host does not deduplicate against it, the owner's restore is exact, and the
/// owner's verify names the forged blob and leaves it off the verified list.
#[test]
fn a_hosts_forged_blob_poisons_nothing() {
    let fx = Fx::new();
    let key_a = fx.host_key("host-a");
    let owner = fx.owner();
    let evil = owner.add_host_key("host-b").unwrap();
    // The file host A will back up: small enough to be one chunk.
    let src = fx.path("src");
    let shard = common::random_bytes(7, 200_000);
    write(&src.join("shard.bin"), &shard);
    let id = owner.keys().chunk_id(&shard);
    {
        let b = Repository::open_host(
            Arc::new(LocalBackend::new(&fx.e.repo)),
            evil,
            &Default::default(),
        )
        .unwrap();
        let b = b.indexed_with(Default::default());
        let mut encoded = vec![0u8];
        encoded.extend_from_slice(&vec![0x66u8; shard.len()]);
        let sealed = b.keys().seal_blob(BlobKind::Data, &id, &encoded);
        let w = b.pack_writer();
        w.add(BlobKind::Data, id, shard.len() as u32, sealed)
            .unwrap();
        w.finish().unwrap();
    }
    let v = fx.host_snapshot(&key_a, &[s(&src)]);
    assert!(
        summary(&v, "raw_added") >= shard.len() as u64,
        "host A deduplicated against host B's upload: {v}"
    );
    let snap = v["id"].as_str().unwrap().to_string();
    restore_past_forgery(&fx, &snap, &src);
    let out = fx.e.run(&["verify", "--read-data"]);
    assert_eq!(
        code(&out),
        EXIT_DAMAGED,
        "{}{}",
        stderr(&out),
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        stderr(&out).contains("does not hash to its id")
            || String::from_utf8_lossy(&out.stdout).contains("does not hash to its id")
    );
    // A third host with the same shard deduplicates against A's verified copy only.
    let key_c = fx.host_key("host-c");
    let src_c = fx.path("src-c");
    write(&src_c.join("copy-of-shard.bin"), &shard);
    let v = fx.host_snapshot(&key_c, &[s(&src_c)]);
    assert!(
        summary(&v, "raw_added") < shard.len() as u64,
        "host C stored the verified shard again: {v}"
    );
    let snap_c = v["id"].as_str().unwrap().to_string();
    restore_past_forgery(&fx, &snap_c, &src_c);
}

/// Unchanged files are not read again; after the cache is lost, everything is read again but
/// nothing new is stored (the owner's verified list knows the data); a prune's condemnation
/// reaches the host, which then stores that data anew.
#[test]
fn host_cache_keeps_snapshots_incremental_and_its_loss_costs_a_read() {
    let fx = Fx::new();
    let key = fx.host_key("edge-7");
    let src = fx.path("src");
    make_files(&src, 4);
    let first = fx.host_snapshot(&key, &[s(&src)]);
    let total = summary(&first, "bytes");
    assert_eq!(summary(&first, "bytes_read"), total);
    let again = fx.host_snapshot(&key, &[s(&src)]);
    assert_eq!(summary(&again, "bytes_read"), 0, "{again}");
    assert_eq!(
        summary(&again, "files_new") + summary(&again, "files_changed"),
        0
    );
    fx.e.ok(&["verify", "--read-data"]);
    std::fs::remove_dir_all(fx.path("cache-edge-7")).unwrap();
    let lost = fx.host_snapshot(&key, &[s(&src)]);
    assert_eq!(summary(&lost, "bytes_read"), total, "{lost}");
    assert!(
        summary(&lost, "raw_added") < 64 << 10,
        "the data was stored again after the cache was lost: {lost}"
    );
    restore_and_compare(&fx, lost["id"].as_str().unwrap(), &src);

    // Forget everything and prune: the packs are condemned and the list published; the host
    // stores its data anew rather than reuse what is about to be deleted.
    let all: Vec<String> =
        fx.e.ok_json(&["snapshots"])
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["id"].as_str().unwrap().to_string())
            .collect();
    let mut forget = vec!["forget", "--prune"];
    forget.extend(all.iter().map(String::as_str));
    fx.e.ok(&forget);
    let owner = fx.owner();
    assert!(
        !owner
            .published_names(lifeboat::repo::published::CONDEMNED)
            .unwrap()
            .is_empty(),
        "prune published no condemned list"
    );
    let after = fx.host_snapshot(&key, &[s(&src)]);
    assert!(
        summary(&after, "raw_added") >= total,
        "the host reused condemned data: {after}"
    );
    restore_and_compare(&fx, after["id"].as_str().unwrap(), &src);
}

/// A key the owner rotated: the new key works; a snapshot the old one writes afterwards is
/// refused by the owner's verify.
#[test]
fn a_revoked_host_keys_new_snapshots_fail_verify() {
    let fx = Fx::new();
    let old = fx.host_key("gw");
    let src = fx.path("src");
    make_files(&src, 5);
    fx.host_snapshot(&old, &[s(&src)]);
    let new = fx.path("gw-new.key");
    fx.e.ok(&["key", "rotate-host", "gw", "--output", s(&new)]);
    let keys = fx.e.ok_json(&["key", "list"]);
    let hosts: Vec<&Value> = keys
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["kind"] == "host")
        .collect();
    assert_eq!(hosts.len(), 2, "{keys}");
    assert_eq!(hosts.iter().filter(|k| k["revoked"].is_string()).count(), 1);
    fx.e.ok(&["verify"]);
    std::thread::sleep(std::time::Duration::from_millis(20));
    let late = fx.host_snapshot(&old, &[s(&src)])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let out = fx.e.run(&["verify"]);
    let text = format!("{}{}", stderr(&out), String::from_utf8_lossy(&out.stdout));
    assert_ne!(code(&out), 0, "{text}");
    assert!(
        text.contains(&late[..8]) && text.contains("revoked"),
        "{text}"
    );
    let status = fx.e.run(&["status", "--hostname", "gw"]);
    assert!(
        stderr(&status).contains(&late[..8]) && stderr(&status).contains("revoked"),
        "status does not flag it: {}",
        stderr(&status)
    );
    let fresh = fx.host_snapshot(&new, &[s(&src)]);
    assert!(fresh["id"].is_string());
    // The host's own status works with its key: its run records, no repository read.
    let out = fx.as_host(&new, &["status"]);
    assert!(code(&out) != EXIT_WRITE_ONLY, "{}", stderr(&out));
}

/// A version 1 repository: its snapshots stay readable after `migrate`, and a host key made
/// afterwards adds snapshots the owner restores.
#[test]
fn migrate_keeps_version_1_data_and_enables_host_keys() {
    let e = Env::bare();
    let backend: Arc<dyn Backend> = Arc::new(LocalBackend::new(&e.repo));
    Repository::init_v1(
        backend,
        PASSWORD.as_bytes(),
        lifeboat::crypto::KdfParams::new(8192, 1, 1),
    )
    .unwrap();
    let fx = Fx { e };
    let src = fx.path("src");
    make_files(&src, 6);
    let old = fx.e.snapshot(&src);
    let out = fx.e.run(&[
        "key",
        "add",
        "--write-only",
        "--hostname",
        "h",
        "--output",
        s(&fx.path("h.key")),
    ]);
    assert_ne!(code(&out), 0, "a version 1 repository made a host key");
    assert!(stderr(&out).contains("version"), "{}", stderr(&out));
    fx.e.ok(&["migrate"]);
    assert_ne!(code(&fx.e.run(&["migrate"])), 0, "migrated twice");
    let key = fx.host_key("h");
    write(&src.join("later.txt"), b"after the migration\n");
    let v = fx.host_snapshot(&key, &[s(&src)]);
    restore_and_compare(&fx, v["id"].as_str().unwrap(), &src);
    let target = fx.path("old");
    fx.e.ok(&["restore", &old, "--target", s(&target)]);
    assert!(
        common::restored_path(&target, &src)
            .join("models/shard-0.bin")
            .exists()
    );
    fx.e.ok(&["verify", "--read-data"]);
}

/// A host's scheduled job with `repository.key_file` in its configuration: the snapshot runs,
/// retention, prune and verify are left to the owner, and `status` reports the run.
#[test]
fn a_host_job_runs_from_its_configuration() {
    let fx = Fx::new();
    let key = fx.host_key("job-host");
    let src = fx.path("src");
    make_files(&src, 8);
    let cfg = fx.path("job.toml");
    std::fs::write(
        &cfg,
        format!(
            "name = \"nightly\"\n[repository]\npath = \"{}\"\nkey_file = \"{}\"\n[snapshot]\npaths = [\"{}\"]\n[monitoring]\nstate_dir = \"{}\"\n",
            s(&fx.e.repo),
            s(&key),
            s(&src),
            s(&fx.path("state"))
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        lifeboat_cmd()
            .env("XDG_CACHE_HOME", fx.path("cache-job"))
            .arg("--config")
            .arg(&cfg)
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["--json", "run"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let steps = v["steps"].as_array().unwrap();
    for s in steps {
        let want = match s["name"].as_str().unwrap() {
            "forget" | "prune" | "verify" => "skipped",
            _ => "ok",
        };
        assert_eq!(s["status"], want, "{s}");
    }
    let out = run(&["status"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("nightly"));
    restore_and_compare(&fx, v["snapshot"].as_str().unwrap(), &src);
}

/// The key file is a secret like an SSH key: made 0600 and never over an existing file, refused
/// when others can read it, and optionally wrapped by a passphrase that the host gives as it
/// would give a password.
#[test]
fn the_host_key_file_is_guarded_like_an_ssh_key() {
    let fx = Fx::new();
    let key = fx.host_key("kf");
    let again = fx.e.run(&[
        "key",
        "add",
        "--write-only",
        "--hostname",
        "kf",
        "--output",
        s(&key),
    ]);
    assert_ne!(code(&again), 0, "an existing key file was replaced");
    let src = fx.path("src");
    make_files(&src, 9);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = fx.as_host(&key, &["snapshot", s(&src)]);
    assert_ne!(code(&out), 0);
    assert!(stderr(&out).contains("chmod 600"), "{}", stderr(&out));
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();

    let pass = fx.path("pass");
    std::fs::write(&pass, "host passphrase\n").unwrap();
    std::fs::set_permissions(&pass, std::fs::Permissions::from_mode(0o600)).unwrap();
    let wrapped = fx.path("wrapped.key");
    fx.e.ok(&[
        "key",
        "add",
        "--write-only",
        "--hostname",
        "kf2",
        "--output",
        s(&wrapped),
        "--passphrase-file",
        s(&pass),
        "--kdf-memory",
        "8",
        "--kdf-iterations",
        "1",
    ]);
    let text = std::fs::read_to_string(&wrapped).unwrap();
    assert!(text.contains("\"kdf\""), "{text}");
    let without = fx.as_host(&wrapped, &["snapshot", s(&src)]);
    assert_ne!(
        code(&without),
        0,
        "a wrapped key opened without its passphrase"
    );
    let mut c = lifeboat_cmd();
    c.env("LIFEBOAT_KEY_FILE", &wrapped)
        .env("LIFEBOAT_PASSWORD_FILE", &pass)
        .env("XDG_CACHE_HOME", fx.path("cache-kf2"))
        .arg("--repo")
        .arg(&fx.e.repo)
        .args(["--json", "snapshot", s(&src)]);
    let out = c.output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    restore_and_compare(&fx, v["id"].as_str().unwrap(), &src);
}
