//! `lifeboat export` and reading its single-file archive with `--from`: a snapshot exported
//! restores field by field equal from the archive, verifies, lists alone, is a plain tar of a
//! repository; the archive has its own password; damaged, truncated and foreign files are
//! refused naming the archive and restore writes nothing; an existing output is kept and an
//! interrupted export leaves none; a Docker deployment comes back from an archive.

mod common;
mod docker_support;

use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{
    Compare, Env, Tree, assert_restored_equal, code, fp16_like, is_root, lifeboat_cmd,
    random_bytes, restored_path, s, scan, set_times, stderr,
};
use serde_json::Value;

const ARCHIVE_PASSWORD: &str = "the archive's own password";
const CHEAP_KDF: [&str; 6] = [
    "--kdf-memory",
    "8",
    "--kdf-iterations",
    "1",
    "--kdf-parallelism",
    "1",
];

fn write(p: &Path, data: &[u8]) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
}

/// A tree with multi-chunk random data, float weights, small files, a symlink, a hard link, a
/// sparse file, odd modes, xattrs where the filesystem has them, and fixed times.
fn build_tree(root: &Path) {
    write(
        &root.join("big/random.bin"),
        &random_bytes(1, (5 << 20) + 333),
    );
    write(&root.join("big/weights.fp16"), &fp16_like(2, 3 << 20));
    write(&root.join("small.txt"), b"hello, archive\n");
    write(&root.join("empty"), b"");
    write(&root.join("nested/a/b/deep.txt"), b"deep\n");
    std::fs::create_dir_all(root.join("empty_dir")).unwrap();
    std::os::unix::fs::symlink("small.txt", root.join("link")).unwrap();
    std::fs::hard_link(root.join("small.txt"), root.join("hard")).unwrap();
    let f = std::fs::File::create(root.join("sparse.img")).unwrap();
    f.write_all_at(&random_bytes(3, 8192), 1 << 20).unwrap();
    f.set_len(4 << 20).unwrap();
    std::fs::set_permissions(
        root.join("nested/a/b/deep.txt"),
        std::fs::Permissions::from_mode(0o4750),
    )
    .unwrap();
    let _ = xattr::set(root.join("small.txt"), "user.origin", b"archive test");
    let _ = xattr::set(root.join("big/weights.fp16"), "user.dtype", b"fp16");
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

/// A repository with one snapshot of a tree, and the archive password in a file.
struct Fx {
    e: Env,
    tree: PathBuf,
    original: Tree,
    id: String,
    password_file: PathBuf,
}

impl Fx {
    fn new() -> Fx {
        let e = Env::new();
        let tree = e.path("data");
        build_tree(&tree);
        let original = scan(&tree);
        let id = e.snapshot(&tree);
        let password_file = e.path("archive-pass");
        std::fs::write(&password_file, format!("{ARCHIVE_PASSWORD}\n")).unwrap();
        std::fs::set_permissions(&password_file, std::fs::Permissions::from_mode(0o600)).unwrap();
        Fx {
            e,
            tree,
            original,
            id,
            password_file,
        }
    }

    /// `lifeboat --json export ARGS` with the archive password file and a cheap KDF.
    fn export_cmd(&self, args: &[&str]) -> Command {
        let mut c = self.e.cmd();
        c.env("LIFEBOAT_ARCHIVE_PASSWORD_FILE", &self.password_file)
            .arg("--json")
            .arg("export")
            .args(args)
            .args(CHEAP_KDF);
        c
    }

    fn export(&self, args: &[&str]) -> Output {
        self.export_cmd(args).output().unwrap()
    }

    fn export_ok(&self, args: &[&str]) -> Value {
        let out = self.export(args);
        assert_eq!(code(&out), 0, "export {args:?}: {}", show(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Export the snapshot to `name` in the test directory; the archive's path.
    fn archive(&self, name: &str) -> PathBuf {
        let path = self.e.path(name);
        self.export_ok(&[&self.id, "--output", s(&path)]);
        path
    }
}

fn show(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        stderr(o)
    )
}

/// The binary reading `archive` with the archive's password, nothing else set.
fn from(archive: &Path, args: &[&str]) -> Output {
    lifeboat_cmd()
        .env("LIFEBOAT_PASSWORD", ARCHIVE_PASSWORD)
        .arg("--from")
        .arg(archive)
        .args(args)
        .output()
        .unwrap()
}

fn from_ok(archive: &Path, args: &[&str]) -> String {
    let out = from(archive, args);
    assert_eq!(code(&out), 0, "--from {args:?}: {}", show(&out));
    String::from_utf8(out.stdout).unwrap()
}

/// The table of contents at the end of an archive, parsed.
fn toc(bytes: &[u8]) -> Value {
    let start = bytes
        .windows(28)
        .rposition(|w| w == b"{\"format\":\"lifeboat-archive\"")
        .expect("a table of contents");
    let end = start + bytes[start..].iter().position(|b| *b == 0).unwrap();
    serde_json::from_slice(&bytes[start..end]).unwrap()
}

/// The (offset, size) of the first member whose name starts with `prefix` and holds data.
fn member(bytes: &[u8], prefix: &str) -> (usize, usize) {
    let t = toc(bytes);
    let m = t["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"].as_str().unwrap().starts_with(prefix) && m["size"].as_u64() > Some(0))
        .unwrap_or_else(|| panic!("no member {prefix}* in {t}"));
    (
        m["offset"].as_u64().unwrap() as usize,
        m["size"].as_u64().unwrap() as usize,
    )
}

#[test]
fn an_exported_snapshot_restores_equal_verifies_and_is_a_plain_tar_of_a_repository() {
    let fx = Fx::new();
    // A second snapshot that the archive must not hold.
    write(&fx.e.path("other/x.txt"), b"not exported\n");
    fx.e.snapshot(&fx.e.path("other"));
    let archive = fx.e.path("host.lbx");
    let r = fx.export_ok(&[&fx.id[..8], "--output", s(&archive)]);
    let md = std::fs::metadata(&archive).unwrap();
    assert_eq!(md.mode() & 0o777, 0o600, "the archive is private");
    assert_eq!(r["bytes"].as_u64(), Some(md.len()), "{r}");
    assert_eq!(r["source_snapshot"], fx.id.as_str());
    assert_eq!(r["archive"], s(&archive));
    assert!(r["blobs"].as_u64().unwrap() > 5, "{r}");
    let in_archive = r["snapshot"].as_str().unwrap().to_string();
    assert_ne!(
        in_archive, fx.id,
        "the archive's snapshot has an ID of its own"
    );

    // Exactly the one snapshot, as users saw it.
    let listed: Value = serde_json::from_str(&from_ok(&archive, &["--json", "snapshots"])).unwrap();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["id"], in_archive.as_str());
    let theirs: Value = fx.e.ok_json(&["snapshots"]);
    let theirs = theirs
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["id"] == fx.id.as_str())
        .unwrap();
    for key in ["time", "hostname", "username", "tags", "paths", "summary"] {
        assert_eq!(listed[0][key], theirs[key], "{key}");
    }

    // Restored from the archive: field by field equal.
    let target = fx.e.path("restore");
    from_ok(&archive, &["restore", "latest", "--target", s(&target)]);
    assert_restored_equal(
        &fx.tree,
        &fx.original,
        &restored_path(&target, &fx.tree),
        Compare {
            atime: false,
            owners: is_root(),
        },
    );
    from_ok(&archive, &["verify", "--read-data"]);
    let ls = from_ok(&archive, &["ls", "latest"]);
    assert!(ls.contains("nested/a/b/deep.txt"), "{ls}");

    // `tar` lists the repository's layout, and unpacks a repository --repo opens.
    let out = Command::new("tar")
        .arg("-tf")
        .arg(&archive)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let names: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    for want in [
        "config",
        "keys/",
        "snapshots/",
        "index/",
        "locks/",
        "data/00/",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
    }
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("data/") && n.len() == 8 + 64)
    );
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("snapshots/") && n.len() == 10 + 64)
    );
    assert_eq!(
        names.last().map(String::as_str),
        Some("lifeboat-archive.json")
    );
    let unpacked = fx.e.path("unpacked");
    std::fs::create_dir(&unpacked).unwrap();
    let out = Command::new("tar")
        .arg("-xf")
        .arg(&archive)
        .arg("-C")
        .arg(&unpacked)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let repo_cmd = |args: &[&str]| {
        lifeboat_cmd()
            .env("LIFEBOAT_PASSWORD", ARCHIVE_PASSWORD)
            .arg("--repo")
            .arg(&unpacked)
            .args(args)
            .output()
            .unwrap()
    };
    let out = repo_cmd(&["--json", "snapshots"]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["id"], in_archive.as_str());
    let out = repo_cmd(&["verify", "--read-data"]);
    assert_eq!(code(&out), 0, "{}", show(&out));

    // --repo naming the file reads it as an archive too.
    let out = lifeboat_cmd()
        .env("LIFEBOAT_PASSWORD", ARCHIVE_PASSWORD)
        .arg("--repo")
        .arg(&archive)
        .args(["--json", "snapshots"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", show(&out));

    // Commands that change a repository refuse the archive, naming it; it is unchanged.
    let before = std::fs::read(&archive).unwrap();
    for args in [
        vec!["snapshot", s(&fx.tree)],
        vec!["forget", &in_archive[..8]],
        vec!["prune"],
        vec!["tag", "latest", "--add", "x"],
    ] {
        let out = from(&archive, &args);
        assert_ne!(code(&out), 0, "{args:?} on an archive: {}", show(&out));
        let err = stderr(&out);
        assert!(
            err.contains(&format!("archive {}", s(&archive))) && err.contains("read-only"),
            "{args:?}: {err}"
        );
    }
    assert!(
        std::fs::read(&archive).unwrap() == before,
        "the archive was changed"
    );

    // The copy's source may be an archive too: back into a repository.
    let back = Env::new();
    let out = back
        .cmd()
        .env("LIFEBOAT_FROM_PASSWORD", ARCHIVE_PASSWORD)
        .args(["--json", "copy", "--from-repo", s(&archive)])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", show(&out));
    back.ok(&["verify", "--read-data"]);
}

#[test]
fn an_archive_has_its_own_password() {
    let fx = Fx::new();
    let archive = fx.archive("host.lbx");
    // The repository's password does not open the archive ...
    let out = lifeboat_cmd()
        .env("LIFEBOAT_PASSWORD", common::PASSWORD)
        .arg("--from")
        .arg(&archive)
        .arg("snapshots")
        .output()
        .unwrap();
    assert_eq!(code(&out), 12, "{}", show(&out));
    let err = stderr(&out);
    assert!(
        err.contains("wrong password") && err.contains("archive password"),
        "{err}"
    );
    // ... and the archive's does not open the repository.
    let out = lifeboat_cmd()
        .env("LIFEBOAT_PASSWORD", ARCHIVE_PASSWORD)
        .arg("--repo")
        .arg(&fx.e.repo)
        .arg("snapshots")
        .output()
        .unwrap();
    assert_eq!(code(&out), 12, "{}", show(&out));
    assert!(stderr(&out).contains("wrong password"), "{}", show(&out));
    // An archive password that would open the repository is refused; nothing is written.
    let same = fx.e.path("same-pass");
    std::fs::write(&same, common::PASSWORD).unwrap();
    std::fs::set_permissions(&same, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = fx
        .export_cmd(&["--output", s(&fx.e.path("same.lbx"))])
        .env("LIFEBOAT_ARCHIVE_PASSWORD_FILE", &same)
        .output()
        .unwrap();
    assert_eq!(code(&out), 1, "{}", show(&out));
    assert!(
        stderr(&out).contains("password of its own"),
        "{}",
        show(&out)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["error"].as_str().unwrap().contains("password"), "{v}");
    assert!(!fx.e.path("same.lbx").exists());
    // No archive password and no terminal: a clear error naming the variables.
    let out =
        fx.e.cmd()
            .args(["export", "--output", s(&fx.e.path("none.lbx"))])
            .stdin(Stdio::null())
            .output()
            .unwrap();
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("LIFEBOAT_ARCHIVE_PASSWORD_FILE"),
        "{}",
        show(&out)
    );
}

/// Nothing at all below `dir` (or no `dir`).
fn untouched(dir: &Path) -> bool {
    std::fs::read_dir(dir).map_or(true, |mut d| d.next().is_none())
}

#[test]
fn damaged_truncated_and_foreign_archives_are_refused_and_restore_writes_nothing() {
    let fx = Fx::new();
    let archive = fx.archive("host.lbx");
    let good = std::fs::read(&archive).unwrap();
    let len = good.len();
    let flip = |prefix: &str| {
        let (off, size) = member(&good, prefix);
        let mut b = good.clone();
        b[off + size / 2] ^= 0x01;
        b
    };
    let toc_at = good
        .windows(28)
        .rposition(|w| w == b"{\"format\":\"lifeboat-archive\"")
        .unwrap();
    let cases: Vec<(&str, Vec<u8>, i32, &str)> = vec![
        ("pack byte", flip("data/"), 4, "is damaged"),
        ("index byte", flip("index/"), 4, "is damaged"),
        ("snapshot byte", flip("snapshots/"), 4, "archive "),
        (
            "cut in the middle",
            good[..len / 2].to_vec(),
            4,
            "is truncated",
        ),
        (
            "table of contents cut",
            good[..toc_at + 40].to_vec(),
            4,
            "is truncated",
        ),
        (
            "end marker cut",
            good[..len - 700].to_vec(),
            4,
            "is truncated",
        ),
        (
            "not a tar file",
            b"#!/bin/sh\necho this is no archive\n".repeat(40),
            10,
            "is not a lifeboat archive",
        ),
    ];
    for (what, bytes, exit, says) in cases {
        let path = fx.e.path(&format!("{}.lbx", what.replace(' ', "-")));
        std::fs::write(&path, &bytes).unwrap();
        let target = fx.e.path(&format!("target-{}", what.replace(' ', "-")));
        std::fs::create_dir(&target).unwrap();
        let out = from(&path, &["restore", "latest", "--target", s(&target)]);
        let err = stderr(&out);
        eprintln!("{what}: exit {:?}: {err}", out.status.code());
        assert_eq!(code(&out), exit, "{what}: {}", show(&out));
        assert!(
            err.contains(&format!("archive {}", s(&path))),
            "{what}: {err}"
        );
        assert!(err.contains(says), "{what}: {err}");
        assert!(untouched(&target), "{what}: restore wrote into the target");
        // Under --json too: one error object naming the archive.
        let out = from(
            &path,
            &["--json", "restore", "latest", "--target", s(&target)],
        );
        let v: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{what}: --json error not JSON ({e}): {}", show(&out)));
        assert!(
            v["error"].as_str().unwrap().contains("archive"),
            "{what}: {v}"
        );
        assert!(untouched(&target), "{what}: restore wrote into the target");
        // verify finds it too.
        let out = from(&path, &["verify", "--read-data"]);
        assert_ne!(code(&out), 0, "{what}: verify: {}", show(&out));
    }
    // The good one still restores (the cases above were copies).
    let target = fx.e.path("target-good");
    from_ok(&archive, &["restore", "latest", "--target", s(&target)]);
    assert!(!untouched(&target));
    // A missing archive file.
    let out = from(&fx.e.path("nowhere.lbx"), &["snapshots"]);
    assert_eq!(code(&out), 10, "{}", show(&out));
    assert!(stderr(&out).contains("does not exist"), "{}", show(&out));
}

/// Start `export` to `out` and, once its temporary file holds `min` bytes, send it `signal`.
/// Returns how it ended, or `None` when it finished first.
fn export_interrupted(
    fx: &Fx,
    out: &Path,
    min: u64,
    signal: &str,
) -> Option<std::process::ExitStatus> {
    let mut child = fx
        .export_cmd(&[&fx.id, "--output", s(out)])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let dir = out.parent().unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let tmp = temporaries(dir);
        let size = tmp
            .first()
            .and_then(|t| std::fs::metadata(t).ok())
            .map_or(0, |m| m.len());
        if size >= min {
            break;
        }
        if child.try_wait().unwrap().is_some() || Instant::now() > deadline {
            assert!(child.wait().unwrap().success());
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let kill = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    Some(child.wait().unwrap())
}

fn temporaries(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".tmp-")
        })
        .collect()
}

#[test]
fn an_existing_output_is_kept_and_an_interrupted_export_leaves_no_archive() {
    let fx = Fx::new();
    let out = fx.e.path("out/host.lbx");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    std::fs::write(&out, b"an older archive\n").unwrap();
    let o = fx.export(&["--output", s(&out)]);
    assert_ne!(code(&o), 0, "{}", show(&o));
    assert!(stderr(&o).contains("already exists"), "{}", show(&o));
    assert!(stderr(&o).contains("--force"), "{}", show(&o));
    assert_eq!(std::fs::read(&out).unwrap(), b"an older archive\n");
    // A dry run writes nothing and says what would be read.
    let d = fx.export_ok(&["--output", s(&fx.e.path("out/dry.lbx")), "--dry-run"]);
    assert_eq!(d["dry_run"], true);
    assert!(d["blobs_read"].as_u64().unwrap() > 0, "{d}");
    assert!(!fx.e.path("out/dry.lbx").exists());
    // --force replaces it with a complete archive.
    fx.export_ok(&["--output", s(&out), "--force"]);
    from_ok(&out, &["verify", "--read-data"]);
    assert!(temporaries(out.parent().unwrap()).is_empty());

    // Big enough to be caught writing.
    for i in 0..3u64 {
        write(
            &fx.tree.join(format!("more/part{i}.bin")),
            &random_bytes(40 + i, 16 << 20),
        );
    }
    let big = fx.e.snapshot(&fx.tree);
    let fx = Fx { id: big, ..fx };
    for signal in ["-INT", "-KILL"] {
        let dir = fx.e.path(&format!("killed{signal}"));
        std::fs::create_dir(&dir).unwrap();
        let target = dir.join("host.lbx");
        match export_interrupted(&fx, &target, 4 << 20, signal) {
            None => {
                eprintln!("note: the export finished before {signal}");
                continue;
            }
            Some(status) if signal == "-INT" && status.success() => {
                eprintln!("note: the export finished before it saw {signal}");
                from_ok(&target, &["verify"]);
                continue;
            }
            Some(status) => {
                eprintln!("export stopped by {signal}: {status}");
                if signal == "-INT" {
                    assert_eq!(status.code(), Some(130));
                    assert!(
                        temporaries(&dir).is_empty(),
                        "an interrupted export removes its temporary file"
                    );
                }
            }
        }
        assert!(
            !target.exists(),
            "{signal}: an interrupted export left {target:?}"
        );
    }
}

#[test]
fn a_docker_deployment_restores_from_an_archive() {
    use docker_support::{
        Prefix, build_private_image, compare_inspects, docker, docker_available, exists, ids_of,
        inspect, listing,
    };
    if !docker_available() {
        return;
    }
    let px = Prefix::new();
    let img = px.n("img:1");
    build_private_image(&img);
    let (app, vol) = (px.n("app"), px.n("data"));
    docker(&[
        "run",
        "-d",
        "--name",
        &app,
        "-v",
        &format!("{vol}:/data"),
        "-e",
        "MODEL=llama",
        "--label",
        "tier=gpu",
        &img,
        "sh",
        "-c",
        "trap 'exit 0' TERM; while :; do sleep 1; done",
    ]);
    docker(&[
        "exec",
        &app,
        "sh",
        "-c",
        "echo weights > /data/w.bin && mkdir -p /data/sub && echo x > /data/sub/y",
    ]);
    let orig = inspect(&app);
    let orig_ids = ids_of(&[&orig]);
    let orig_data = listing(&app, "/data");
    assert!(orig_data.len() >= 4, "{orig_data:?}");

    let fx = Fx::new();
    let snap = fx.e.ok_json(&["snapshot", "--container", &app])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let archive = fx.e.path("deploy.lbx");
    fx.export_ok(&[&snap, "--output", s(&archive)]);
    let shown = from_ok(&archive, &["show", "latest"]);
    assert!(shown.contains(&app) && shown.contains(&vol), "{shown}");

    docker(&["rm", "-f", "-v", &app]);
    docker(&["volume", "rm", &vol]);
    docker(&["rmi", "-f", &img]);
    assert!(!exists("container", &app) && !exists("volume", &vol));

    let out = from(&archive, &["restore", "latest", "--containers"]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert!(docker_support::wait_for(Duration::from_secs(30), || {
        docker_support::is_running(&app)
    }));
    let rest = inspect(&app);
    let bad = compare_inspects(&orig, &orig_ids, &rest, &ids_of(&[&rest]));
    assert!(
        bad.is_empty(),
        "restored container differs:\n{}",
        bad.join("\n")
    );
    let bad = docker_support::compare_listings("/data", &orig_data, &listing(&app, "/data"));
    assert!(
        bad.is_empty(),
        "restored volume differs:\n{}",
        bad.join("\n")
    );
    drop(px);
}
