//! Security suite, restore side (SECURITY-TESTS.md cases 8 and 10-14): hostile manifests
//! (path traversal, NUL bytes, empty and overlong names, order), symlink and hard-link escapes,
//! symlinks planted in or swapped into the target, special files and ownership as root and as
//! an unprivileged user, staged writes that never destroy an existing file, and a full target
//! disk. Every case checks the exit code, the message, that nothing panicked and that nothing
//! was written outside the target.

mod common;
mod security_support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{Env, PASSWORD, code, is_root, restored_path, stderr};
use security_support::*;

/// A repository with a hostile snapshot, an empty `outside` directory next to the target, and
/// an empty working directory for the restore process (so a relative write would show).
struct Hostile {
    env: Env,
    snap: String,
    target: PathBuf,
    outside: PathBuf,
    cwd: PathBuf,
}

impl Hostile {
    fn new(build: impl FnOnce(&Path) -> Vec<Spec>) -> Hostile {
        let env = Env::new();
        let outside = env.path("outside");
        let cwd = env.path("cwd");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::create_dir_all(&cwd).unwrap();
        let specs = build(&outside);
        let snap = write_snapshot(&env, specs);
        let target = env.path("target");
        Hostile {
            env,
            snap,
            target,
            outside,
            cwd,
        }
    }

    fn restore(&self) -> Output {
        self.env
            .cmd()
            .current_dir(&self.cwd)
            .args(["restore", &self.snap, "--target"])
            .arg(&self.target)
            .output()
            .unwrap()
    }

    /// Nothing outside the target: `outside` and the working directory are unchanged, and
    /// the test directory holds nothing new.
    fn assert_contained(&self, outside_before: &[PathBuf]) {
        assert_eq!(
            walk(&self.outside),
            outside_before,
            "something was written outside the target"
        );
        assert_empty(&self.cwd, "restore working directory");
        let mut top: Vec<String> = std::fs::read_dir(self.env.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != "target")
            .collect();
        top.sort();
        assert_eq!(
            top,
            ["cwd", "outside", "repo"],
            "new objects next to the target"
        );
    }
}

/// The stream must be refused as tampering: exit 4, the entry and `reason` named, nothing
/// written outside; `verify` and `ls` refuse it as well.
fn assert_manifest_refused(build: impl FnOnce(&Path) -> Vec<Spec>, reason: &str) {
    let h = Hostile::new(build);
    let before = walk(&h.outside);
    let o = h.restore();
    assert_fails(&o, EXIT_DAMAGED, &["tree entry", reason], "restore");
    h.assert_contained(&before);
    let v = h.env.run(&["verify"]);
    assert_fails(
        &v,
        EXIT_DAMAGED,
        &[&format!("snapshot {}", &h.snap[..8]), reason],
        "verify",
    );
    let l = h.env.run(&["ls", &h.snap[..8], "-R"]);
    assert_fails(&l, EXIT_DAMAGED, &["tree entry", reason], "ls");
}

fn outside_path(outside: &Path, rest: &str) -> Vec<u8> {
    format!("{}/{rest}", outside.display()).into_bytes()
}

// ---------------------------------------------------------------------------------------------
// 10. Manifest paths
// ---------------------------------------------------------------------------------------------

#[test]
fn manifest_path_with_dotdot() {
    assert_manifest_refused(
        |_| {
            vec![
                dir(b"/"),
                dir(b"/a"),
                file(b"/a/../../outside/pwned", b"escaped"),
            ]
        },
        "'..'",
    );
}

#[test]
fn manifest_path_dotdot_at_root() {
    assert_manifest_refused(
        |_| vec![dir(b"/"), file(b"/../outside/pwned", b"escaped")],
        "'..'",
    );
}

#[test]
fn manifest_path_with_dot() {
    assert_manifest_refused(
        |_| vec![dir(b"/"), dir(b"/a"), file(b"/a/./b", b"x")],
        "'.'",
    );
}

#[test]
fn manifest_path_not_absolute() {
    assert_manifest_refused(
        |_| vec![dir(b"/"), file(b"pwned", b"relative")],
        "not absolute",
    );
}

/// An absolute path naming a place outside the target, written as a relative one (what a
/// naive `target.join(path)` would turn into an absolute write).
#[test]
fn manifest_path_absolute_escape() {
    assert_manifest_refused(
        |outside| {
            let mut p = outside_path(outside, "pwned");
            p.remove(0); // "tmp/.../outside/pwned"
            vec![dir(b"/"), file(&p, b"absolute escape")]
        },
        "not absolute",
    );
}

#[test]
fn manifest_path_with_empty_component() {
    assert_manifest_refused(
        |outside| {
            let mut p = b"/".to_vec();
            p.extend_from_slice(&outside_path(outside, "pwned")); // "//tmp/.../outside/pwned"
            vec![dir(b"/"), file(&p, b"double slash")]
        },
        "empty component",
    );
}

#[test]
fn manifest_path_with_trailing_slash() {
    assert_manifest_refused(
        |_| vec![dir(b"/"), dir(b"/a"), file(b"/a/", b"x")],
        "empty component",
    );
}

#[test]
fn manifest_path_with_nul_byte() {
    assert_manifest_refused(
        |_| vec![dir(b"/"), file(b"/evil\0/../../outside/pwned", b"nul")],
        "NUL",
    );
}

#[test]
fn manifest_path_with_overlong_component() {
    let mut p = b"/".to_vec();
    p.extend_from_slice(&[b'n'; 256]);
    assert_manifest_refused(move |_| vec![dir(b"/"), file(&p, b"x")], "255");
}

#[test]
fn manifest_path_overlong_total() {
    // 20 directories of 250 bytes: each component is fine, the path is over 4096 bytes.
    assert_manifest_refused(
        |_| {
            let mut specs = vec![dir(b"/")];
            let mut p = Vec::new();
            for i in 0..20u8 {
                p.push(b'/');
                p.extend_from_slice(&[b'a' + i; 250]);
                specs.push(dir(&p));
            }
            p.extend_from_slice(b"/f");
            specs.push(file(&p, b"deep"));
            specs
        },
        "4096",
    );
}

#[test]
fn manifest_paths_out_of_order() {
    assert_manifest_refused(
        |_| vec![dir(b"/"), file(b"/b", b"b"), file(b"/a", b"a")],
        "out of order",
    );
}

#[test]
fn manifest_duplicate_path() {
    assert_manifest_refused(
        |_| vec![dir(b"/"), file(b"/a", b"first"), file(b"/a", b"second")],
        "duplicate",
    );
}

#[test]
fn manifest_entry_without_parent_directory() {
    assert_manifest_refused(
        |_| vec![dir(b"/"), file(b"/missing/child", b"orphan")],
        "parent directory",
    );
}

// ---------------------------------------------------------------------------------------------
// 11. Symlinks and hard links in the snapshot
// ---------------------------------------------------------------------------------------------

/// `d -> OUTSIDE` followed by `d/passwd`: refused in one snapshot; and when the link was
/// restored by an earlier restore, a later snapshot's `d/passwd` does not go through it.
#[test]
fn symlink_then_file_below_it() {
    assert_manifest_refused(
        |outside| {
            vec![
                dir(b"/"),
                symlink(b"/d", outside.to_str().unwrap().as_bytes()),
                file(b"/d/passwd", b"root::0:0::/root:/bin/sh\n"),
            ]
        },
        "parent directory",
    );
    // Two snapshots restored into one target: first the link, then a directory's content.
    let h = Hostile::new(|outside| {
        vec![
            dir(b"/"),
            symlink(b"/d", outside.to_str().unwrap().as_bytes()),
        ]
    });
    let o = h.restore();
    assert_eq!(code(&o), 0, "a symlink itself is restored: {}", stderr(&o));
    assert!(
        std::fs::symlink_metadata(h.target.join("d"))
            .unwrap()
            .is_symlink()
    );
    let second = write_snapshot(
        &h.env,
        vec![
            dir(b"/"),
            dir(b"/d"),
            file(b"/d/passwd", b"root::0:0::/root:/bin/sh\n"),
        ],
    );
    let o = h
        .env
        .cmd()
        .current_dir(&h.cwd)
        .args(["restore", &second, "--target"])
        .arg(&h.target)
        .output()
        .unwrap();
    assert_fails_any(&o, &["symlink", "/d"], "restore through the earlier link");
    h.assert_contained(&[]);
}

#[test]
fn symlink_and_directory_with_same_name() {
    assert_manifest_refused(
        |outside| {
            vec![
                dir(b"/"),
                symlink(b"/d", outside.to_str().unwrap().as_bytes()),
                dir(b"/d"),
                file(b"/d/x", b"through the link?"),
            ]
        },
        "duplicate",
    );
    assert_manifest_refused(
        |outside| {
            vec![
                dir(b"/"),
                dir(b"/d"),
                file(b"/d/x", b"x"),
                symlink(b"/d", outside.to_str().unwrap().as_bytes()),
            ]
        },
        "duplicate",
    );
}

fn secret_outside(outside: &Path) -> PathBuf {
    let p = outside.join("secret");
    std::fs::write(&p, b"host secret").unwrap();
    p
}

fn assert_secret_untouched(h: &Hostile) {
    let p = h.outside.join("secret");
    assert_eq!(std::fs::read(&p).unwrap(), b"host secret");
    assert_eq!(
        std::fs::metadata(&p).unwrap().nlink(),
        1,
        "a hard link to a file outside the target was made"
    );
}

#[test]
fn hardlink_to_path_outside_snapshot() {
    for (i, target) in ["abs", "dotdot", "later"].into_iter().enumerate() {
        let h = Hostile::new(|outside| {
            let secret = secret_outside(outside);
            let t = match target {
                "abs" => secret.to_str().unwrap().as_bytes().to_vec(),
                "dotdot" => b"/../outside/secret".to_vec(),
                _ => b"/z".to_vec(), // a file that comes later in the stream
            };
            let mut z = file(b"/z", b"later file");
            z.entry.nlink = 2;
            vec![dir(b"/"), hardlink(b"/h", &t), z]
        });
        let before = walk(&h.outside);
        let o = h.restore();
        assert_fails(
            &o,
            EXIT_DAMAGED,
            &["tree entry", "hard link"],
            &format!("variant {i} ({target})"),
        );
        h.assert_contained(&before);
        assert_secret_untouched(&h);
        assert!(std::fs::symlink_metadata(h.target.join("h")).is_err());
    }
}

#[test]
fn hardlink_through_earlier_symlink() {
    let h = Hostile::new(|outside| {
        secret_outside(outside);
        vec![
            dir(b"/"),
            symlink(b"/s", outside.to_str().unwrap().as_bytes()),
            hardlink(b"/t", b"/s/secret"),
        ]
    });
    let before = walk(&h.outside);
    let o = h.restore();
    assert_fails(&o, EXIT_DAMAGED, &["tree entry", "hard link"], "restore");
    h.assert_contained(&before);
    assert_secret_untouched(&h);
    assert!(std::fs::symlink_metadata(h.target.join("t")).is_err());
}

// ---------------------------------------------------------------------------------------------
// 12. Symlinks in the target
// ---------------------------------------------------------------------------------------------

#[test]
fn preexisting_symlinks_in_target() {
    let env = Env::new();
    let src = env.path("src");
    write_tree(
        &src,
        &[
            ("sub/file.txt", b"in a subdirectory".as_slice()),
            ("top.txt", b"new top".as_slice()),
        ],
    );
    let snap = env.snapshot(&src);
    let outside = env.path("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("victim"), b"victim").unwrap();
    let before = walk(&outside);

    // A directory of the snapshot is a symlink in the target.
    let t1 = env.path("t1");
    let base = restored_path(&t1, &src);
    std::fs::create_dir_all(&base).unwrap();
    std::os::unix::fs::symlink(&outside, base.join("sub")).unwrap();
    let o = restore(&env, &snap, &t1);
    assert_fails_any(&o, &["symlink", "sub"], "symlinked directory");
    assert_eq!(walk(&outside), before, "written through the symlink");
    assert_eq!(std::fs::read(base.join("top.txt")).unwrap(), b"new top");
    assert!(
        std::fs::symlink_metadata(base.join("sub"))
            .unwrap()
            .is_symlink()
    );

    // The first component below the target is a symlink.
    let t2 = env.path("t2");
    std::fs::create_dir_all(&t2).unwrap();
    let first = src.components().nth(1).unwrap().as_os_str().to_owned();
    std::os::unix::fs::symlink(&outside, t2.join(&first)).unwrap();
    let o = restore(&env, &snap, &t2);
    assert_fails_any(&o, &["symlink"], "symlinked first component");
    assert_eq!(walk(&outside), before, "written through the symlink");

    // A file of the snapshot is a symlink in the target: replaced, never followed.
    let t3 = env.path("t3");
    let base = restored_path(&t3, &src);
    std::fs::create_dir_all(&base).unwrap();
    std::os::unix::fs::symlink(outside.join("victim"), base.join("top.txt")).unwrap();
    let o = restore(&env, &snap, &t3);
    assert_no_panic(&o, "symlinked file");
    assert_eq!(std::fs::read(outside.join("victim")).unwrap(), b"victim");
    assert_eq!(walk(&outside), before);
    if code(&o) == 0 {
        let md = std::fs::symlink_metadata(base.join("top.txt")).unwrap();
        assert!(md.is_file(), "the link was replaced by the file");
        assert_eq!(std::fs::read(base.join("top.txt")).unwrap(), b"new top");
    } else {
        assert!(stderr(&o).contains("top.txt"), "{}", stderr(&o));
    }
}

/// Directories of the target are swapped for symlinks to an outside directory while a
/// restore runs (CVE-2018-15664 pattern): nothing may land outside.
#[test]
fn symlink_swapped_in_during_restore() {
    let env = Env::new();
    let src = env.path("src");
    let n = 300;
    for i in 0..n {
        let name = format!("d{i:03}/f.bin");
        write_tree(&src, &[(&name, &random(i as u64, 20_000))]);
    }
    let snap = env.snapshot(&src);
    let outside = env.path("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let t = env.path("t");
    let base = restored_path(&t, &src);
    let mut child = env
        .cmd()
        .args(["restore", &snap, "--target", t.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut swaps = 0;
    while child.try_wait().unwrap().is_none() {
        for i in 0..n {
            let d = base.join(format!("d{i:03}"));
            let is_dir = std::fs::symlink_metadata(&d).is_ok_and(|m| m.is_dir());
            if is_dir && std::fs::rename(&d, base.join(format!("d{i:03}.moved"))).is_ok() {
                let _ = std::os::unix::fs::symlink(&outside, &d);
                swaps += 1;
            }
        }
    }
    let o = child.wait_with_output().unwrap();
    assert_no_panic(&o, "restore");
    eprintln!("swapped {swaps} directories during the restore");
    assert_empty(
        &outside,
        "directories swapped for symlinks during the restore",
    );
}

// ---------------------------------------------------------------------------------------------
// 13. Special files, special bits, capabilities, foreign owners
// ---------------------------------------------------------------------------------------------

/// `security.capability` = cap_net_bind_service+ep (VFS_CAP_REVISION_2).
const CAP_NET_BIND: [u8; 20] = [1, 0, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

/// Objects that need root to create or restore exactly. Returns their names.
fn special_tree(src: &Path) -> Vec<&'static str> {
    std::fs::create_dir_all(src).unwrap();
    let run = |prog: &str, args: &[&str]| {
        let o = Command::new(prog).args(args).output().unwrap();
        assert!(o.status.success(), "{prog} {args:?}: {}", stderr(&o));
    };
    let p = |n: &str| src.join(n).to_str().unwrap().to_string();
    run("mknod", &[&p("chardev"), "c", "1", "3"]);
    run("mknod", &[&p("blockdev"), "b", "7", "200"]);
    run("mkfifo", &[&p("fifo")]);
    std::fs::write(src.join("setuid"), b"#!/bin/sh\n").unwrap();
    std::fs::set_permissions(src.join("setuid"), std::fs::Permissions::from_mode(0o4755)).unwrap();
    std::fs::write(src.join("setgid"), b"#!/bin/sh\n").unwrap();
    std::fs::set_permissions(src.join("setgid"), std::fs::Permissions::from_mode(0o2755)).unwrap();
    std::fs::create_dir(src.join("sticky")).unwrap();
    std::fs::set_permissions(src.join("sticky"), std::fs::Permissions::from_mode(0o1777)).unwrap();
    std::fs::write(src.join("capable"), b"\x7fELF").unwrap();
    std::fs::set_permissions(src.join("capable"), std::fs::Permissions::from_mode(0o755)).unwrap();
    xattr::set(src.join("capable"), "security.capability", &CAP_NET_BIND).unwrap();
    vec![
        "chardev", "blockdev", "fifo", "setuid", "setgid", "sticky", "capable",
    ]
}

/// The metadata that must survive a restore, as a comparable string.
fn meta(p: &Path, owners: bool) -> String {
    let md = std::fs::symlink_metadata(p).unwrap();
    let cap = xattr::get(p, "security.capability").ok().flatten();
    format!(
        "type {:o} mode {:o} rdev {} cap {:?}{}",
        md.mode() & 0o170_000,
        md.mode() & 0o7777,
        md.rdev(),
        cap,
        if owners {
            format!(" owner {}:{}", md.uid(), md.gid())
        } else {
            String::new()
        }
    )
}

#[test]
fn special_files_restored_exactly_as_root() {
    if !is_root() {
        eprintln!("SKIPPED special_files_restored_exactly_as_root: not root");
        return;
    }
    let env = Env::new();
    let src = env.path("src");
    let mut names = special_tree(&src);
    std::fs::write(src.join("foreign"), b"owned by someone else").unwrap();
    std::os::unix::fs::chown(src.join("foreign"), Some(1234), Some(5678)).unwrap();
    std::os::unix::fs::lchown(src.join("setgid"), Some(0), Some(4321)).unwrap();
    std::fs::set_permissions(src.join("setgid"), std::fs::Permissions::from_mode(0o2755)).unwrap();
    names.push("foreign");
    let snap = env.snapshot(&src);
    let t = env.path("t");
    let o = restore(&env, &snap, &t);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let base = restored_path(&t, &src);
    for n in names {
        assert_eq!(
            meta(&base.join(n), true),
            meta(&src.join(n), true),
            "{n} restored differently as root"
        );
    }
}

/// Run the binary as `nobody` (uid/gid 65534) with the test password.
fn as_nobody(env: &Env, args: &[&str]) -> Option<Output> {
    if !is_root() || !common::has_tool("setpriv") {
        return None;
    }
    let mut c = Command::new("setpriv");
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("LIFEBOAT_") {
            c.env_remove(&k);
        }
    }
    c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_lifeboat"))
        .arg("--repo")
        .arg(&env.repo)
        .args(args)
        .env("LIFEBOAT_PASSWORD", PASSWORD);
    Some(c.output().unwrap())
}

/// Make the repository readable and a fresh target writable by `nobody`.
fn prepare_for_nobody(env: &Env) -> PathBuf {
    std::fs::set_permissions(env.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    for p in std::iter::once(env.repo.clone()).chain(walk(&env.repo)) {
        std::os::unix::fs::lchown(&p, Some(65534), Some(65534)).unwrap();
    }
    let t = env.path("t");
    std::fs::create_dir(&t).unwrap();
    std::os::unix::fs::chown(&t, Some(65534), Some(65534)).unwrap();
    t
}

/// Restored as an unprivileged user: what cannot be restored (device nodes, capabilities) is
/// reported by name and the run ends "partial" (exit 3); nothing differs silently.
#[test]
fn special_files_as_non_root_reported_and_skipped() {
    if !is_root() || !common::has_tool("setpriv") {
        eprintln!("SKIPPED special_files_as_non_root_reported_and_skipped: needs root and setpriv");
        return;
    }
    let env = Env::new();
    let src = env.path("src");
    let names = special_tree(&src);
    let snap = env.snapshot(&src);
    let t = prepare_for_nobody(&env);
    let o = as_nobody(&env, &["restore", &snap, "--target", t.to_str().unwrap()]).unwrap();
    assert_no_panic(&o, "restore as nobody");
    let err = stderr(&o);
    assert_eq!(code(&o), EXIT_PARTIAL, "partial restore: {err}");
    let base = restored_path(&t, &src);
    let mut differ = Vec::new();
    for n in names {
        let p = base.join(n);
        let same =
            std::fs::symlink_metadata(&p).is_ok() && meta(&p, false) == meta(&src.join(n), false);
        if !same {
            differ.push(n);
            assert!(
                err.lines().any(|l| l.contains("warning") && l.contains(n)),
                "{n} was not restored exactly, and no warning names it:\n{err}"
            );
        }
    }
    assert!(
        differ.contains(&"chardev") && differ.contains(&"blockdev"),
        "device nodes cannot be created without root: {differ:?}"
    );
}

/// Files owned by another user, restored by an unprivileged user: the owner cannot be
/// restored; that must be reported, not silently dropped.
#[test]
fn foreign_owner_as_non_root_reported() {
    if !is_root() || !common::has_tool("setpriv") {
        eprintln!("SKIPPED foreign_owner_as_non_root_reported: needs root and setpriv");
        return;
    }
    let env = Env::new();
    let src = env.path("src");
    write_tree(&src, &[("foreign.txt", b"owned by 1234:5678".as_slice())]);
    std::os::unix::fs::chown(src.join("foreign.txt"), Some(1234), Some(5678)).unwrap();
    let snap = env.snapshot(&src);
    let t = prepare_for_nobody(&env);
    let o = as_nobody(&env, &["restore", &snap, "--target", t.to_str().unwrap()]).unwrap();
    assert_no_panic(&o, "restore as nobody");
    let restored = restored_path(&t, &src).join("foreign.txt");
    assert_eq!(std::fs::read(&restored).unwrap(), b"owned by 1234:5678");
    let md = std::fs::metadata(&restored).unwrap();
    assert_ne!(
        md.uid(),
        1234,
        "an unprivileged user cannot give files away"
    );
    let err = stderr(&o);
    assert!(
        err.to_lowercase().contains("owner"),
        "the owner 1234:5678 of foreign.txt was dropped silently (exit {}): {err:?}",
        code(&o)
    );
    assert_eq!(code(&o), EXIT_PARTIAL, "{err}");
}

// ---------------------------------------------------------------------------------------------
// 14. Staged writes
// ---------------------------------------------------------------------------------------------

/// A chunk is corrupted: the existing version of the file in the target stays untouched (same
/// inode, bytes and mtime), a file that did not exist does not appear, and no temporary is
/// left behind.
#[test]
fn corrupted_chunk_keeps_existing_file() {
    let env = Env::new();
    let src = env.path("src");
    let model = random(1, 150_000);
    let fresh = random(2, 150_000);
    write_tree(
        &src,
        &[
            ("model.bin", &model),
            ("fresh.bin", &fresh),
            ("ok.txt", b"fine".as_slice()),
        ],
    );
    let snap = env.snapshot(&src);
    let t = env.path("t");
    let o = restore(&env, &snap, &t);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let base = restored_path(&t, &src);
    // The local versions: one with another size, one missing.
    let local = b"the operator's local version".to_vec();
    std::fs::write(base.join("model.bin"), &local).unwrap();
    std::fs::remove_file(base.join("fresh.bin")).unwrap();
    std::fs::remove_file(base.join("ok.txt")).unwrap();
    let before = std::fs::metadata(base.join("model.bin")).unwrap();
    // Corrupt both blobs.
    let repo = open(&env);
    let mut packs = Vec::new();
    for data in [&model, &fresh] {
        let (_, loc) = blob_of(&repo, data);
        let pack = pack_path(&env, &loc.pack);
        flip_bit(&pack, loc.offset as usize + 24 + 777);
        packs.push(format!("pack {}", loc.pack.short()));
    }
    let o = restore(&env, &snap, &t);
    assert_fails(
        &o,
        EXIT_DAMAGED,
        &["model.bin", "fresh.bin", &packs[0]],
        "restore",
    );
    let after = std::fs::metadata(base.join("model.bin")).unwrap();
    assert_eq!(std::fs::read(base.join("model.bin")).unwrap(), local);
    assert_eq!(after.ino(), before.ino(), "model.bin was replaced");
    assert_eq!(after.mtime_nsec(), before.mtime_nsec());
    assert!(
        !base.join("fresh.bin").exists(),
        "an unverified file appeared under its final name"
    );
    assert_eq!(std::fs::read(base.join("ok.txt")).unwrap(), b"fine");
    let tmp = restore_temporaries(&t);
    assert!(tmp.is_empty(), "temporaries left: {tmp:?}");
}

// ---------------------------------------------------------------------------------------------
// 8. Disk full while restoring
// ---------------------------------------------------------------------------------------------

#[test]
fn enospc_during_restore() {
    if !is_root() {
        eprintln!("SKIPPED enospc_during_restore: not root");
        return;
    }
    let env = Env::new();
    let src = env.path("src");
    write_tree(
        &src,
        &[
            ("big.bin", &random(5, 8 << 20)),
            ("small.txt", b"small".as_slice()),
        ],
    );
    let snap = env.snapshot(&src);
    let mnt = tempfile::tempdir().unwrap();
    let o = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
        .arg(mnt.path())
        .output()
        .unwrap();
    if !o.status.success() {
        eprintln!(
            "SKIPPED enospc_during_restore: mount failed: {}",
            stderr(&o)
        );
        return;
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(self.0).status();
        }
    }
    let _guard = Unmount(mnt.path());
    let t = mnt.path().join("t");
    let base = restored_path(&t, &src);
    std::fs::create_dir_all(&base).unwrap();
    std::fs::write(base.join("big.bin"), b"previous version").unwrap();
    let o = restore(&env, &snap, &t);
    assert_fails(
        &o,
        EXIT_ERROR,
        &["big.bin", "No space left on device"],
        "restore",
    );
    assert_eq!(
        std::fs::read(base.join("big.bin")).unwrap(),
        b"previous version",
        "the existing file was destroyed"
    );
    let tmp = restore_temporaries(&t);
    assert!(tmp.is_empty(), "temporaries left on the full disk: {tmp:?}");
    assert!(
        !stdout(&o).contains("restored snapshot"),
        "a failed restore prints a success line: {}",
        stdout(&o)
    );
}
