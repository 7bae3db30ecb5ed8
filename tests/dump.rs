//! `lifeboat dump` (issue 13): a file of a snapshot as its bytes, a directory as a tar archive
//! that the system's `tar -x` turns back into the tree (contents, modes, symlinks, hard links,
//! nanosecond mtimes, xattrs, owners as root), every byte verified on the way: a tampered pack
//! fails the dump with exit 4, leaves no `--target` file behind, and cuts the archive short so
//! `tar` fails too.

mod common;
mod security_support;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{Compare, Env, PASSWORD, code, has_tool, is_root, restored_path, s, stderr};
use security_support::{EXIT_DAMAGED, blob_of, flip_bit, open, pack_path};

/// `lifeboat dump ARGS` with stdout captured (a pipe, not a terminal).
fn dump(e: &Env, args: &[&str]) -> Output {
    e.run(&[&["dump"], args].concat())
}

fn dump_ok(e: &Env, args: &[&str]) -> Vec<u8> {
    let o = dump(e, args);
    assert_eq!(code(&o), 0, "dump {args:?}: {}", stderr(&o));
    o.stdout
}

/// Extract a tar archive with the system's tar into `into`: permissions as stored, xattrs
/// (all namespaces), owners when root (GNU tar's default for root: by name, else by number).
fn untar(archive: &[u8], into: &Path) -> Output {
    std::fs::create_dir_all(into).unwrap();
    let file = into.with_extension("tar");
    std::fs::write(&file, archive).unwrap();
    Command::new("tar")
        .args(["-x", "-p", "--xattrs", "--xattrs-include=*", "-f"])
        .arg(&file)
        .arg("-C")
        .arg(into)
        .output()
        .expect("run tar")
}

fn write(p: &Path, data: &[u8]) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
}

/// Whether the filesystem under `dir` takes `user.*` xattrs (tmpfs before Linux 6.6 does not).
fn user_xattrs_work(dir: &Path) -> bool {
    let probe = dir.join(".xattr-probe");
    std::fs::write(&probe, b"").unwrap();
    let ok = xattr::set(&probe, "user.probe", b"1").is_ok();
    std::fs::remove_file(&probe).unwrap();
    ok
}

/// A tree with what an archive must carry: nested directories with their own modes, a
/// multi-chunk file, an executable, a symlink, two hard links, a FIFO, a name longer than a
/// tar header holds, a name that is not UTF-8, nanosecond mtimes, an xattr when the filesystem
/// takes one, and (as root) owners without names on this host.
fn build_tree(src: &Path) {
    let models = src.join("models");
    write(
        &models.join("weights.bin"),
        &common::random_bytes(7, 3 << 20),
    );
    write(&models.join("run.sh"), b"#!/bin/sh\necho hi\n");
    std::fs::set_permissions(
        models.join("run.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::os::unix::fs::symlink("weights.bin", models.join("latest")).unwrap();
    write(&models.join("hard1"), b"one inode, two names");
    std::fs::hard_link(models.join("hard1"), models.join("hard2")).unwrap();
    common::sh("mkfifo", &[models.join("pipe").as_os_str()]);
    let deep = src.join("deep").join("a".repeat(60)).join("b".repeat(60));
    write(&deep.join("file-with-a-long-path.txt"), b"deep");
    write(
        &src.join(OsStr::from_bytes(b"name-\xff\xfe.bin")),
        b"binary name",
    );
    std::fs::create_dir(src.join("private")).unwrap();
    std::fs::set_permissions(src.join("private"), std::fs::Permissions::from_mode(0o700)).unwrap();
    if user_xattrs_work(src) {
        xattr::set(
            models.join("weights.bin"),
            "user.origin",
            b"hf:\x00org/model",
        )
        .unwrap();
    }
    if is_root() {
        std::os::unix::fs::lchown(models.join("run.sh"), Some(54321), Some(54322)).unwrap();
        std::os::unix::fs::lchown(models.join("latest"), Some(54323), Some(54324)).unwrap();
    }
    // Times last, deepest first (writing into a directory changes its mtime).
    let mut all: Vec<PathBuf> = common::scan(src)
        .keys()
        .map(|rel| {
            if rel.is_empty() {
                src.to_path_buf()
            } else {
                src.join(OsStr::from_bytes(rel))
            }
        })
        .collect();
    all.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
    let now = common::now_ns();
    for (i, p) in all.iter().enumerate() {
        let mtime = 1_600_000_000_000_000_000 + (i as i64) * 1_000_000_123;
        common::set_times(p, now + 3_600_000_000_000, mtime);
    }
}

#[test]
fn dump_of_a_file_is_its_bytes() {
    let e = Env::new();
    let src = e.path("src");
    let data = common::random_bytes(1, 5 << 20);
    write(&src.join("models/weights.bin"), &data);
    std::fs::set_permissions(
        src.join("models/weights.bin"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    std::fs::hard_link(src.join("models/weights.bin"), src.join("again.bin")).unwrap();
    let id = e.snapshot(&src);
    let file = src.join("models/weights.bin");
    assert!(dump_ok(&e, &["latest", s(&file)]) == data, "stdout differs");
    // A hard link's bytes are its file's.
    assert!(dump_ok(&e, &[&id, s(&src.join("again.bin"))]) == data);
    // SNAPSHOT:/DIR: the path is inside DIR.
    let spec = format!("{id}:{}", src.display());
    assert!(dump_ok(&e, &[&spec, "/models/weights.bin"]) == data);

    // --target: written atomically with the file's permission bits; --json reports it.
    let out = e.path("out/weights.bin");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let v = e.ok_json(&["dump", &id, s(&file), "--target", s(&out)]);
    assert_eq!(std::fs::read(&out).unwrap(), data);
    assert_eq!(std::fs::metadata(&out).unwrap().mode() & 0o7777, 0o640);
    assert_eq!(v["dump"]["format"], "file");
    assert_eq!(v["dump"]["bytes"], data.len() as u64);
    assert_eq!(v["dump"]["path"], s(&file));
    assert_eq!(v["snapshot"].as_str().unwrap(), id);
    assert_eq!(std::fs::read_dir(out.parent().unwrap()).unwrap().count(), 1);

    // --archive tar: a single member, named by its snapshot path.
    let tar = dump_ok(&e, &[&id, s(&file), "--archive", "tar"]);
    let t = e.path("t1");
    let o = untar(&tar, &t);
    assert!(o.status.success(), "tar: {}", stderr(&o));
    assert_eq!(std::fs::read(restored_path(&t, &file)).unwrap(), data);
}

#[test]
fn dump_of_a_directory_extracts_with_tar_into_the_same_tree() {
    let e = Env::new();
    let src = e.path("src");
    build_tree(&src);
    let orig = common::scan(&src);
    let id = e.snapshot(&src);
    let archive = dump_ok(&e, &[&id, s(&src)]);
    let t = e.path("x");
    let o = untar(&archive, &t);
    assert!(o.status.success(), "tar -x: {}", stderr(&o));
    common::assert_restored_equal(
        &src,
        &orig,
        &restored_path(&t, &src),
        Compare {
            atime: false,
            owners: is_root(),
        },
    );

    // `/` is the whole snapshot; SNAPSHOT:/DIR with `/` puts DIR's contents at the top.
    let whole = dump_ok(&e, &[&id, "/"]);
    let o = untar(&whole, &e.path("whole"));
    assert!(o.status.success(), "tar -x: {}", stderr(&o));
    assert!(common::same_content(
        &src.join("models/weights.bin"),
        &restored_path(&e.path("whole"), &src.join("models/weights.bin"))
    ));
    let spec = format!("{id}:{}", src.join("models").display());
    let inner = dump_ok(&e, &[&spec, "/"]);
    let t2 = e.path("inner");
    let o = untar(&inner, &t2);
    assert!(o.status.success(), "tar -x: {}", stderr(&o));
    assert!(common::same_content(
        &src.join("models/weights.bin"),
        &t2.join("weights.bin")
    ));
    assert_eq!(
        std::fs::read_link(t2.join("latest")).unwrap(),
        Path::new("weights.bin")
    );

    // A hard link whose first name lies outside the dumped directory becomes the file.
    let e2 = Env::new();
    let src2 = e2.path("src");
    write(&src2.join("a/first"), b"shared bytes");
    std::fs::create_dir_all(src2.join("b")).unwrap();
    std::fs::hard_link(src2.join("a/first"), src2.join("b/second")).unwrap();
    std::fs::hard_link(src2.join("a/first"), src2.join("b/third")).unwrap();
    let id2 = e2.snapshot(&src2);
    let part = dump_ok(&e2, &[&id2, s(&src2.join("b"))]);
    let t3 = e2.path("t3");
    let o = untar(&part, &t3);
    assert!(o.status.success(), "tar -x: {}", stderr(&o));
    let b = restored_path(&t3, &src2.join("b"));
    assert_eq!(std::fs::read(b.join("second")).unwrap(), b"shared bytes");
    let (m2, m3) = (
        std::fs::metadata(b.join("second")).unwrap(),
        std::fs::metadata(b.join("third")).unwrap(),
    );
    assert_eq!(
        m2.ino(),
        m3.ino(),
        "the later name links to the first one dumped"
    );

    // --target: a verified archive, mode 0600, and a text summary.
    let target = e.path("models.tar");
    let out = e.ok(&["dump", &id, s(&src), "--target", s(&target)]);
    assert!(out.contains("as a tar archive"), "{out}");
    assert_eq!(std::fs::read(&target).unwrap(), archive);
    assert_eq!(std::fs::metadata(&target).unwrap().mode() & 0o7777, 0o600);
}

#[test]
fn dump_of_a_path_not_in_the_snapshot_names_it() {
    let e = Env::new();
    let src = e.path("src");
    write(&src.join("f.txt"), b"x");
    std::os::unix::fs::symlink("f.txt", src.join("l")).unwrap();
    let id = e.snapshot(&src);
    let missing = src.join("nope.txt");
    let o = dump(&e, &[&id, s(&missing)]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!("{} is not in this snapshot", missing.display())),
        "{}",
        stderr(&o)
    );
    assert!(o.stdout.is_empty());
    // Nothing is created with --target either.
    let target = e.path("out.bin");
    let o = dump(&e, &[&id, s(&missing), "--target", s(&target)]);
    assert_eq!(code(&o), 1);
    assert!(!target.exists());
    assert_eq!(
        std::fs::read_dir(e.dir.path())
            .unwrap()
            .filter(|d| d
                .as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(".tmp-"))
            .count(),
        0,
        "a temporary file was left"
    );
    // --json: the error object, exit code named.
    let o = e.run(&["--json", "dump", &id, s(&missing), "--target", s(&target)]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["code"], "failure");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("not in this snapshot"),
        "{v}"
    );

    // A symlink has no bytes of its own: refused, with the way to get it.
    let o = dump(&e, &[&id, s(&src.join("l"))]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("is a symlink, not a regular file"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("--archive tar"), "{}", stderr(&o));
    let tar = dump_ok(&e, &[&id, s(&src.join("l")), "--archive", "tar"]);
    let t = e.path("t");
    assert!(untar(&tar, &t).status.success());
    assert_eq!(
        std::fs::read_link(restored_path(&t, &src.join("l"))).unwrap(),
        Path::new("f.txt")
    );

    // A relative PATH is a usage error; --json without --target too (stdout is the data).
    assert_eq!(code(&dump(&e, &[&id, "f.txt"])), 2);
    let o = e.run(&["--json", "dump", &id, s(&src.join("f.txt"))]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["code"], "usage");
}

#[test]
fn dump_of_tampered_data_fails_and_writes_nothing_complete() {
    let e = Env::new();
    let src = e.path("src");
    let data = common::random_bytes(3, 100_000);
    write(&src.join("a.bin"), &data);
    write(&src.join("b.txt"), b"fine");
    let id = e.snapshot(&src);
    let (_, loc) = blob_of(&open(&e), &data);
    flip_bit(&pack_path(&e, &loc.pack), loc.offset as usize + 24 + 999);

    let o = dump(&e, &[&id, s(&src.join("a.bin"))]);
    assert_eq!(code(&o), EXIT_DAMAGED, "{}", stderr(&o));
    assert!(stderr(&o).contains("a.bin"), "{}", stderr(&o));
    assert!(o.stdout.len() < data.len());

    let target = e.path("a.out");
    let o = dump(&e, &[&id, s(&src.join("a.bin")), "--target", s(&target)]);
    assert_eq!(code(&o), EXIT_DAMAGED, "{}", stderr(&o));
    assert!(!target.exists(), "a file from damaged data appeared");

    // The archive stops at the damaged file without an end: tar fails as well.
    let o = dump(&e, &[&id, s(&src)]);
    assert_eq!(code(&o), EXIT_DAMAGED, "{}", stderr(&o));
    let t = e.path("t");
    let x = untar(&o.stdout, &t);
    assert!(!x.status.success(), "tar accepted a cut archive");
    // The undamaged file still dumps.
    assert_eq!(dump_ok(&e, &[&id, s(&src.join("b.txt"))]), b"fine");
}

/// Like restic, binary data is never written to a terminal.
#[test]
fn dump_refuses_a_terminal() {
    if !has_tool("script") {
        eprintln!("skipped: `script` (util-linux) is needed to give the command a terminal");
        return;
    }
    let e = Env::new();
    let src = e.path("src");
    write(&src.join("f.bin"), b"\x00\x01binary");
    let id = e.snapshot(&src);
    let cmd = format!(
        "{} --repo {} dump {id} {}",
        env!("CARGO_BIN_EXE_lifeboat"),
        e.repo.display(),
        src.join("f.bin").display()
    );
    let o = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("LIFEBOAT_PASSWORD", PASSWORD)
        .env("LIFEBOAT_NO_CONFIG", "1")
        .output()
        .expect("run script");
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(code(&o), 2, "{text}");
    assert!(
        text.contains("refusing to write binary data to a terminal"),
        "{text}"
    );
    assert!(!text.contains("binary\n") && !o.stdout.windows(3).any(|w| w == b"\x00\x01b"));
}
