//! `lifeboat copy`: snapshots copied between two repositories with different passwords are
//! re-encrypted and deduplicated for the destination, restore byte-identical there, are skipped
//! when copied again, and pass `verify --read-data`; a wrong source password or a damaged
//! source fails naming the source, and writes nothing.

mod common;

use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{
    Compare, Env, assert_restored_equal, code, fp16_like, is_root, lifeboat_cmd, random_bytes,
    restored_path, s, scan, set_times, stderr,
};
use serde_json::Value;

const SOURCE_PASSWORD: &str = "the source's own password";

/// The source repository: its own directory and password.
struct Source {
    dir: tempfile::TempDir,
    repo: PathBuf,
    password_file: PathBuf,
}

impl Source {
    fn new() -> Source {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("source-repo");
        let password_file = dir.path().join("source-pass");
        std::fs::write(&password_file, format!("{SOURCE_PASSWORD}\n")).unwrap();
        std::fs::set_permissions(&password_file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let src = Source {
            dir,
            repo,
            password_file,
        };
        src.ok(&[
            "init",
            "--kdf-memory",
            "8",
            "--kdf-iterations",
            "1",
            "--kdf-parallelism",
            "1",
        ]);
        src
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn cmd(&self) -> Command {
        let mut c = lifeboat_cmd();
        c.env("LIFEBOAT_PASSWORD", SOURCE_PASSWORD)
            .arg("--repo")
            .arg(&self.repo);
        c
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd().args(args).output().unwrap();
        assert!(
            out.status.success(),
            "source: lifeboat {args:?} failed: {}",
            stderr(&out)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn ok_json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        serde_json::from_str(&self.ok(&all)).unwrap()
    }

    /// Snapshot `path` with extra arguments; the new snapshot's ID.
    fn snapshot(&self, path: &Path, extra: &[&str]) -> String {
        let mut args = vec!["snapshot", s(path)];
        args.extend_from_slice(extra);
        self.ok_json(&args)["id"].as_str().unwrap().to_string()
    }
}

/// `lifeboat copy` into `dest` from `src` with the source's password file.
fn copy(dest: &Env, src: &Source, args: &[&str]) -> Output {
    dest.cmd()
        .arg("--json")
        .arg("copy")
        .arg("--from-repo")
        .arg(&src.repo)
        .arg("--from-password-file")
        .arg(&src.password_file)
        .args(args)
        .output()
        .unwrap()
}

fn copy_ok(dest: &Env, src: &Source, args: &[&str]) -> Value {
    let out = copy(dest, src, args);
    assert_eq!(
        code(&out),
        0,
        "copy {args:?} failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn write(p: &Path, data: &[u8]) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
}

/// A tree with multi-chunk random data, float weights (the byte-grouping filter), small files,
/// a symlink, a hard link, a sparse file, odd modes, xattrs where the filesystem has them, and
/// fixed times.
fn build_tree(root: &Path) {
    write(
        &root.join("big/random.bin"),
        &random_bytes(1, (5 << 20) + 777),
    );
    write(&root.join("big/weights.fp16"), &fp16_like(2, 6 << 20));
    write(&root.join("small.txt"), b"hello, copy\n");
    write(&root.join("empty"), b"");
    write(&root.join("nested/a/b/deep.txt"), b"deep\n");
    std::fs::create_dir_all(root.join("empty_dir")).unwrap();
    std::os::unix::fs::symlink("small.txt", root.join("link")).unwrap();
    std::fs::hard_link(root.join("small.txt"), root.join("hard")).unwrap();
    let f = std::fs::File::create(root.join("sparse.img")).unwrap();
    f.write_all_at(&random_bytes(3, 8192), 1 << 20).unwrap();
    f.set_len(8 << 20).unwrap();
    std::fs::set_permissions(
        root.join("nested/a/b/deep.txt"),
        std::fs::Permissions::from_mode(0o4750),
    )
    .unwrap();
    std::fs::set_permissions(root.join("empty"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let _ = xattr::set(root.join("small.txt"), "user.origin", b"copy test");
    let _ = xattr::set(root.join("big/weights.fp16"), "user.dtype", b"fp16");
    // Times far in the future: reading never updates them (relatime), so they stay comparable.
    let t = common::now_ns() + 86_400_000_000_000;
    for rel in [
        "big/random.bin",
        "big/weights.fp16",
        "small.txt",
        "empty",
        "nested/a/b/deep.txt",
        "sparse.img",
        "link",
        "empty_dir",
        "nested/a/b",
    ] {
        set_times(&root.join(rel), t + 1_000, t - 123_456_789);
    }
}

fn snapshots(dest: &Env) -> Vec<Value> {
    dest.ok_json(&["snapshots"]).as_array().unwrap().clone()
}

/// Every file below `dir`, for "nothing was written" checks.
fn listing(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let md = e.metadata().unwrap();
            if md.is_dir() {
                stack.push(e.path());
            } else {
                out.push((e.path(), md.len()));
            }
        }
    }
    out.sort();
    out
}

fn u(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

#[test]
fn copy_restores_byte_identical_keeps_what_users_see_and_a_second_run_skips() {
    let src = Source::new();
    let tree = src.path("data");
    build_tree(&tree);
    let original = scan(&tree);
    let id = src.snapshot(
        &tree,
        &["--tag", "nightly", "--tag", "gpu", "--hostname", "h1"],
    );

    let dest = Env::new();
    let r = copy_ok(&dest, &src, &[]);
    assert_eq!(u(&r, "snapshots_copied"), 1, "{r}");
    assert_eq!(u(&r, "snapshots_skipped"), 0, "{r}");
    let copied = &r["copied"][0];
    assert_eq!(copied["source"], id.as_str());
    let new_id = copied["destination"].as_str().unwrap().to_string();
    assert_ne!(new_id, id, "the copy has an ID of its own");
    assert!(u(&r, "blobs_read") > 10, "{r}");
    assert!(
        u(&r, "blobs_stored") > u(&r, "blobs_read"),
        "data and tree blobs: {r}"
    );
    eprintln!(
        "first copy: read {} blobs ({} bytes), stored {} blobs ({} raw, {} stored bytes)",
        u(&r, "blobs_read"),
        u(&r, "bytes_read"),
        u(&r, "blobs_stored"),
        u(&r, "raw_bytes_stored"),
        u(&r, "bytes_stored")
    );

    // What users see is kept.
    let theirs = &src.ok_json(&["snapshots"])[0];
    let ours = &snapshots(&dest)[0];
    assert_eq!(ours["id"], new_id.as_str());
    for key in [
        "time", "hostname", "username", "tags", "paths", "summary", "size", "group",
    ] {
        assert_eq!(ours[key], theirs[key], "{key}");
    }

    // Restore from the destination: byte-identical, field by field.
    let target = dest.path("restore");
    dest.ok(&["restore", &new_id, "--target", s(&target)]);
    assert_restored_equal(
        &tree,
        &original,
        &restored_path(&target, &tree),
        Compare {
            atime: false,
            owners: is_root(),
        },
    );

    // verify --read-data of the destination passes.
    dest.ok(&["verify", "--read-data"]);

    // A second run copies nothing and writes nothing.
    let before = listing(&dest.repo);
    let again = copy_ok(&dest, &src, &[]);
    assert_eq!(u(&again, "snapshots_copied"), 0, "{again}");
    assert_eq!(u(&again, "snapshots_skipped"), 1, "{again}");
    assert_eq!(again["skipped"][0]["destination"], new_id.as_str());
    assert_eq!(u(&again, "blobs_read"), 0);
    assert_eq!(u(&again, "blobs_stored"), 0);
    assert_eq!(listing(&dest.repo), before, "a second copy wrote nothing");
    let text = dest
        .cmd()
        .args(["copy", "--from-repo", s(&src.repo), "--from-password-file"])
        .arg(&src.password_file)
        .output()
        .unwrap();
    assert_eq!(code(&text), 0, "{}", stderr(&text));
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains(&format!("skipping snapshot {}", &id[..8]))
            && text.contains(&format!("already copied as {}", &new_id[..8])),
        "{text}"
    );
}

#[test]
fn a_snapshot_sharing_data_with_a_copied_one_stores_and_reads_only_new_blobs() {
    let src = Source::new();
    let tree = src.path("data");
    write(&tree.join("model.bin"), &random_bytes(11, 8 << 20));
    write(&tree.join("config.json"), b"{\"layers\": 12}");
    src.snapshot(&tree, &[]);
    let dest = Env::new();
    let first = copy_ok(&dest, &src, &[]);
    let model_bytes = u(&first, "bytes_read");
    assert!(model_bytes >= 8 << 20, "{first}");

    // One new file next to the unchanged model: only it is read and stored.
    write(&tree.join("adapter.bin"), &random_bytes(12, 1 << 20));
    let second_id = src.snapshot(&tree, &[]);
    let r = copy_ok(&dest, &src, &[]);
    eprintln!(
        "incremental copy: read {} blobs ({} bytes), learned {} from the earlier copy, stored {} blobs ({} raw bytes)",
        u(&r, "blobs_read"),
        u(&r, "bytes_read"),
        u(&r, "blobs_learned"),
        u(&r, "blobs_stored"),
        u(&r, "raw_bytes_stored")
    );
    assert_eq!(u(&r, "snapshots_copied"), 1, "{r}");
    assert_eq!(u(&r, "snapshots_skipped"), 1, "{r}");
    assert_eq!(r["copied"][0]["source"], second_id.as_str());
    assert!(
        u(&r, "blobs_learned") >= 4,
        "the model's chunks were learned: {r}"
    );
    assert!(
        u(&r, "bytes_read") < (1 << 20) + (256 << 10),
        "only the new file is read: {r}"
    );
    assert!(
        u(&r, "raw_bytes_stored") < (1 << 20) + (256 << 10),
        "only the new file (and tree blobs) are stored: {r}"
    );
    // The destination's own accounting agrees: both snapshots together occupy little more
    // than the model and the adapter once.
    let stats = dest.ok_json(&["stats", "--mode", "raw-data"]);
    let raw = u(&stats, "total_uncompressed_size");
    assert!(
        raw < (9 << 20) + (512 << 10),
        "deduplicated in the destination: {stats}"
    );

    // The same data under another group (other paths): nothing to learn from, so every chunk
    // is read, but the destination already holds them under their destination IDs.
    let other = src.path("elsewhere");
    write(&other.join("model.bin"), &random_bytes(11, 8 << 20));
    let other_id = src.snapshot(&other, &[]);
    let r = copy_ok(&dest, &src, &[]);
    eprintln!(
        "same data, other group: read {} blobs ({} bytes), stored {} blobs ({} raw bytes)",
        u(&r, "blobs_read"),
        u(&r, "bytes_read"),
        u(&r, "blobs_stored"),
        u(&r, "raw_bytes_stored")
    );
    assert_eq!(u(&r, "snapshots_copied"), 1, "{r}");
    assert!(u(&r, "bytes_read") >= 8 << 20, "{r}");
    assert!(
        u(&r, "raw_bytes_stored") < 256 << 10,
        "no data blob stored again: {r}"
    );
    dest.ok(&["verify", "--read-data"]);
    let target = dest.path("restore");
    let copy_id = r["copied"][0]["destination"].as_str().unwrap().to_string();
    assert_eq!(r["copied"][0]["source"], other_id.as_str());
    dest.ok(&["restore", &copy_id, "--target", s(&target)]);
    assert_eq!(
        std::fs::read(restored_path(&target, &other).join("model.bin")).unwrap(),
        random_bytes(11, 8 << 20)
    );
}

#[test]
fn filters_names_and_dry_run() {
    let src = Source::new();
    let tree = src.path("data");
    write(&tree.join("a.bin"), &random_bytes(21, 300_000));
    let a = src.snapshot(&tree, &["--tag", "keep"]);
    write(&tree.join("b.bin"), &random_bytes(22, 300_000));
    let b = src.snapshot(&tree, &["--tag", "other"]);
    let dest = Env::new();

    let before = listing(&dest.repo);
    let dry = copy_ok(&dest, &src, &["--dry-run"]);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(u(&dry, "snapshots_copied"), 2, "{dry}");
    assert!(dry["copied"][0]["destination"].is_null());
    assert!(u(&dry, "bytes_read") >= 600_000, "{dry}");
    assert_eq!(u(&dry, "blobs_stored"), 0);
    assert_eq!(listing(&dest.repo), before, "a dry run writes nothing");

    let r = copy_ok(&dest, &src, &["--tag", "keep"]);
    assert_eq!(u(&r, "snapshots_copied"), 1, "{r}");
    assert_eq!(r["copied"][0]["source"], a.as_str());
    let r = copy_ok(&dest, &src, &[&b[..8]]);
    assert_eq!(u(&r, "snapshots_copied"), 1, "{r}");
    assert_eq!(r["copied"][0]["source"], b.as_str());
    // The copy of b names the copy of a as its parent.
    let list = snapshots(&dest);
    assert_eq!(list.len(), 2);
    assert_eq!(list[1]["parent"], list[0]["id"]);
    let r = copy_ok(&dest, &src, &["latest"]);
    assert_eq!(u(&r, "snapshots_skipped"), 1, "{r}");

    // An unknown snapshot names the source.
    let out = copy(&dest, &src, &["deadbeefdead"]);
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("source repository"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn wrong_source_password_fails_clearly_and_writes_nothing() {
    let src = Source::new();
    let tree = src.path("data");
    write(&tree.join("a.bin"), &random_bytes(31, 100_000));
    src.snapshot(&tree, &[]);
    let dest = Env::new();
    let wrong = src.path("wrong-pass");
    std::fs::write(&wrong, "not the password\n").unwrap();
    std::fs::set_permissions(&wrong, std::fs::Permissions::from_mode(0o600)).unwrap();
    let before = listing(&dest.repo);
    let out = dest
        .cmd()
        .args([
            "copy",
            "--from-repo",
            s(&src.repo),
            "--from-password-file",
            s(&wrong),
        ])
        .output()
        .unwrap();
    let err = stderr(&out);
    eprintln!("{err}");
    assert_eq!(code(&out), 12, "{err}");
    assert!(err.contains("source repository"), "names the source: {err}");
    assert!(err.contains("wrong password"), "{err}");
    assert!(
        err.contains("--from-password-file") && err.contains("wrong-pass"),
        "the hint names the source's password file: {err}"
    );
    assert_eq!(listing(&dest.repo), before, "nothing written");
    assert!(snapshots(&dest).is_empty());

    // The destination's own wrong password names the destination (as JSON here).
    let out = dest
        .cmd()
        .env("LIFEBOAT_PASSWORD", "wrong")
        .args([
            "--json",
            "copy",
            "--from-repo",
            s(&src.repo),
            "--from-password-file",
        ])
        .arg(&src.password_file)
        .output()
        .unwrap();
    assert_eq!(code(&out), 12);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["code"], "wrong_password");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("destination repository"),
        "{v}"
    );

    // No source given: a usage error.
    let out = dest.run(&["copy"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("--from-repo"), "{}", stderr(&out));
    // The same repository on both sides is refused.
    let out = dest
        .cmd()
        .args(["copy", "--from-repo", s(&dest.repo)])
        .env("LIFEBOAT_FROM_PASSWORD", common::PASSWORD)
        .output()
        .unwrap();
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("same repository"), "{}", stderr(&out));
}

/// The data pack files of a repository.
fn packs(repo: &Path) -> Vec<PathBuf> {
    listing(&repo.join("data"))
        .into_iter()
        .map(|(p, _)| p)
        .collect()
}

#[test]
fn a_damaged_source_fails_naming_it_and_a_rerun_completes_the_copy() {
    let src = Source::new();
    let tree = src.path("data");
    write(&tree.join("a.bin"), &random_bytes(41, 2 << 20));
    src.snapshot(&tree, &[]);
    let packs_a = packs(&src.repo);
    write(&tree.join("b.bin"), &random_bytes(42, 3 << 20));
    src.snapshot(&tree, &[]);
    // The largest pack written by the second snapshot holds b.bin's data.
    let damaged = packs(&src.repo)
        .into_iter()
        .filter(|p| !packs_a.contains(p))
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let good = std::fs::read(&damaged).unwrap();
    let mut bad = good.clone();
    bad[1000] ^= 0x40;
    std::fs::set_permissions(&damaged, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(&damaged, &bad).unwrap();

    let dest = Env::new();
    let out = copy(&dest, &src, &[]);
    let err = stderr(&out);
    eprintln!("{err}");
    assert_eq!(code(&out), 4, "{err}");
    assert!(err.contains("source repository"), "names the source: {err}");
    // The first snapshot was copied; the destination is valid.
    assert_eq!(snapshots(&dest).len(), 1);
    dest.ok(&["verify", "--read-data"]);

    // Repaired, the copy completes.
    std::fs::write(&damaged, &good).unwrap();
    let r = copy_ok(&dest, &src, &[]);
    assert_eq!(u(&r, "snapshots_copied"), 1, "{r}");
    assert_eq!(u(&r, "snapshots_skipped"), 1, "{r}");
    dest.ok(&["verify", "--read-data"]);
    let target = dest.path("restore");
    dest.ok(&["restore", "latest", "--target", s(&target)]);
    assert_eq!(
        std::fs::read(restored_path(&target, &tree).join("b.bin")).unwrap(),
        random_bytes(42, 3 << 20)
    );
}

mod deployment {
    //! A snapshot with a Docker deployment section, made through the library with a deployment
    //! source that needs no Docker engine: its records and its tree (volume data, an image
    //! archive) are copied like the file tree.

    use std::io::Read;

    use lifeboat::Id;
    use lifeboat::ops::snapshot::{SnapshotOptions, create_with};
    use lifeboat::repo::{FileType, IndexedRepo, open_local};
    use lifeboat::snapshot::content::ContentReader;
    use lifeboat::snapshot::deployment::{
        ContainerRecord, Deployment, DeploymentSource, EngineInfo, ImageRecord, VolumeRecord,
    };
    use lifeboat::snapshot::entry::{Entry, Kind};
    use lifeboat::snapshot::manifest::{Snapshot, Summary};
    use lifeboat::snapshot::pipeline::Session;
    use lifeboat::snapshot::tree::TreeReader;

    use super::*;

    struct Fake;

    fn dir(path: &str) -> Entry {
        let mut e = Entry::new(path.as_bytes().to_vec(), Kind::Dir);
        e.mode = 0o700;
        e
    }

    fn file(s: &Session<'_, '_>, path: &str, data: &[u8]) {
        let (content, _) = s.ingest(data).unwrap();
        let mut e = Entry::new(path.as_bytes().to_vec(), Kind::File);
        e.mode = 0o644;
        e.size = data.len() as u64;
        e.mtime = 1_700_000_000_000_000_000;
        e.content = Some(content);
        s.push(e);
    }

    impl DeploymentSource for Fake {
        fn emit(
            &self,
            s: &Session<'_, '_>,
            _parent: Option<&lifeboat::snapshot::deployment::Previous<'_>>,
            _repo: &IndexedRepo,
            _readers: usize,
        ) -> lifeboat::Result<()> {
            s.push(dir("/"));
            s.push(dir("/images"));
            file(s, "/images/sha256-abc.tar", &random_bytes(51, 3 << 20));
            s.push(dir("/volumes"));
            s.push(dir("/volumes/db"));
            file(s, "/volumes/db/data.bin", &random_bytes(52, 1 << 20));
            file(s, "/volumes/db/weights.fp16", &fp16_like(53, 2 << 20));
            Ok(())
        }

        fn finish(&self, tree: Vec<Id>, summary: Summary) -> Deployment {
            Deployment {
                engine: EngineInfo {
                    version: "24.0.7".into(),
                    api_version: "1.43".into(),
                    os: "linux".into(),
                    arch: "amd64".into(),
                },
                containers: vec![ContainerRecord {
                    name: "db".into(),
                    id: "c".repeat(64),
                    image_id: "sha256:abc".into(),
                    inspect: serde_json::json!({"Name": "/db", "Config": {"Env": ["A=1"]}}),
                }],
                networks: Vec::new(),
                volumes: vec![VolumeRecord {
                    name: "db".into(),
                    anonymous: false,
                    inspect: serde_json::json!({"Name": "db", "Driver": "local"}),
                    data: Some("/volumes/db".into()),
                    helper_image: "sha256:abc".into(),
                }],
                images: vec![ImageRecord {
                    id: "sha256:abc".into(),
                    tags: vec!["db:1".into()],
                    digests: Vec::new(),
                    inspect: serde_json::json!({"Id": "sha256:abc"}),
                    archive: Some("/images/sha256-abc.tar".into()),
                    size: 3 << 20,
                }],
                tree,
                summary,
            }
        }
    }

    /// Every entry of every tree of a snapshot, with file contents read back whole.
    fn contents(repo: &IndexedRepo, snap: &Snapshot) -> Vec<(Entry, Vec<u8>)> {
        let mut out = Vec::new();
        for tree in snap.trees() {
            for e in TreeReader::new(repo, tree) {
                let mut e = e.unwrap();
                let mut data = Vec::new();
                if let Some(c) = &e.content {
                    ContentReader::new(repo, c, e.size, e.path_str())
                        .read_to_end(&mut data)
                        .unwrap();
                }
                // Chunk IDs differ between repositories by design; everything else must not.
                if let Some(c) = &mut e.content {
                    c.chunks.clear();
                }
                out.push((e, data));
            }
        }
        out
    }

    #[test]
    fn a_deployment_section_and_its_tree_are_copied() {
        let src = Source::new();
        let files = src.path("files");
        write(&files.join("app.conf"), b"port = 80\n");
        let (id, original) = {
            let repo = open_local(&src.repo, SOURCE_PASSWORD.as_bytes()).unwrap();
            let opts = SnapshotOptions {
                paths: vec![files.clone()],
                tags: vec!["deploy".into()],
                ..SnapshotOptions::default()
            };
            let r = create_with(&repo, &opts, Some(&Fake), &lifeboat::progress::Silent).unwrap();
            (r.id, r.snapshot)
        };
        let dest = Env::new();
        let r = copy_ok(&dest, &src, &[]);
        assert_eq!(u(&r, "snapshots_copied"), 1, "{r}");
        let new = Id::parse(r["copied"][0]["destination"].as_str().unwrap()).unwrap();

        let s = open_local(&src.repo, SOURCE_PASSWORD.as_bytes())
            .unwrap()
            .indexed()
            .unwrap();
        let d = open_local(&dest.repo, common::PASSWORD.as_bytes())
            .unwrap()
            .indexed()
            .unwrap();
        let copy: Snapshot = d.load_sealed(FileType::Snapshot, &new).unwrap();
        assert_eq!(copy.original, Some(id));
        let (dep_s, dep_d) = (
            original.deployment.clone().unwrap(),
            copy.deployment.clone().unwrap(),
        );
        assert_ne!(dep_s.tree, dep_d.tree, "the deployment tree was rewritten");
        assert_eq!(
            Deployment {
                tree: Vec::new(),
                ..dep_s
            },
            Deployment {
                tree: Vec::new(),
                ..dep_d
            },
            "the deployment records are kept"
        );
        let (a, b) = (contents(&s, &original), contents(&d, &copy));
        assert_eq!(a.len(), b.len());
        assert!(a.iter().any(|(e, _)| e.path == b"/volumes/db/weights.fp16"));
        assert_eq!(a, b, "every entry and every byte of both trees");
        // The source's chunk IDs mean nothing in the destination.
        let theirs = lifeboat::snapshot::tree::referenced_blobs(&s, [&original]).unwrap();
        let ours = lifeboat::snapshot::tree::referenced_blobs(&d, [&copy]).unwrap();
        assert!(theirs.is_disjoint(&ours));
        dest.ok(&["verify", "--read-data"]);
        let listed = dest.ok(&["ls", &new.to_hex(), "--docker", "-R"]);
        assert!(listed.contains("/volumes/db/data.bin"), "{listed}");
        // Copied again: skipped.
        let again = copy_ok(&dest, &src, &[]);
        assert_eq!(u(&again, "snapshots_skipped"), 1, "{again}");
    }
}

/// Whether the repository holds a finished pack file (not a temporary one).
fn has_pack(repo: &Path) -> bool {
    packs(repo)
        .iter()
        .any(|p| !p.file_name().unwrap().to_string_lossy().starts_with(".tmp"))
}

/// Start a copy, and once it wrote its first pack into the destination, send it `signal`.
/// Returns how it ended, or `None` when it finished before the signal.
fn copy_interrupted(dest: &Env, src: &Source, signal: &str) -> Option<std::process::ExitStatus> {
    let mut child = dest
        .cmd()
        .args(["copy", "--from-repo", s(&src.repo), "--from-password-file"])
        .arg(&src.password_file)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !has_pack(&dest.repo) {
        if child.try_wait().unwrap().is_some() || std::time::Instant::now() > deadline {
            let out = child.wait_with_output().unwrap();
            assert_eq!(code(&out), 0, "{}", stderr(&out));
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let kill = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    Some(child.wait().unwrap())
}

#[test]
fn an_interrupted_copy_leaves_a_valid_destination_and_a_rerun_completes_it() {
    let src = Source::new();
    let tree = src.path("data");
    // Big enough that a release build is still copying when the signal arrives.
    const PARTS: u64 = 6;
    for i in 0..PARTS {
        write(
            &tree.join(format!("part{i}.bin")),
            &random_bytes(60 + i, 16 << 20),
        );
    }
    let total: u64 = PARTS * (16 << 20);
    let original = scan(&tree);
    src.snapshot(&tree, &[]);
    for signal in ["-INT", "-KILL"] {
        let dest = Env::new();
        match copy_interrupted(&dest, &src, signal) {
            None => eprintln!("note: the copy finished before {signal}"),
            // SIGINT is seen at the copy's next check: one that came while the last pack and
            // the snapshot were being written lets the copy finish, complete and successful.
            Some(status) if signal == "-INT" && status.success() => {
                eprintln!("note: the copy finished before it saw {signal}");
                assert_eq!(
                    snapshots(&dest).len(),
                    1,
                    "a copy that succeeded saved its snapshot"
                );
            }
            Some(status) => {
                eprintln!("copy stopped by {signal}: {status}");
                if signal == "-INT" {
                    assert_eq!(status.code(), Some(130), "an interrupted copy exits 130");
                }
                assert!(snapshots(&dest).is_empty(), "no snapshot of a partial copy");
                let v = dest.run(&["verify"]);
                assert_eq!(code(&v), 0, "verify after {signal}: {}", stderr(&v));
            }
        }
        let finished_first = !snapshots(&dest).is_empty();
        let r = copy_ok(&dest, &src, &[]);
        eprintln!(
            "re-run after {signal}: stored {} blobs ({} raw bytes) of {total}",
            u(&r, "blobs_stored"),
            u(&r, "raw_bytes_stored")
        );
        assert_eq!(u(&r, "snapshots_copied"), u64::from(!finished_first), "{r}");
        if signal == "-INT" {
            assert!(
                u(&r, "raw_bytes_stored") < total,
                "the interrupted run's data was indexed and reused: {r}"
            );
        }
        dest.ok(&["verify", "--read-data"]);
        let target = dest.path("restore");
        dest.ok(&["restore", "latest", "--target", s(&target)]);
        assert_restored_equal(
            &tree,
            &original,
            &restored_path(&target, &tree),
            Compare {
                atime: false,
                owners: is_root(),
            },
        );
    }
}

#[test]
fn copying_back_skips_the_snapshots_that_came_from_there() {
    let src = Source::new();
    let tree = src.path("data");
    write(&tree.join("a.bin"), &random_bytes(71, 200_000));
    src.snapshot(&tree, &[]);
    let dest = Env::new();
    copy_ok(&dest, &src, &[]);
    // The destination's copy, copied back into the source: it is the source's own snapshot.
    let out = src
        .cmd()
        .env("LIFEBOAT_FROM_PASSWORD", common::PASSWORD)
        .args(["--json", "copy", "--from-repo", s(&dest.repo)])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(u(&r, "snapshots_copied"), 0, "{r}");
    assert_eq!(u(&r, "snapshots_skipped"), 1, "{r}");
}
