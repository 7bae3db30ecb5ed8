//! Regression tests for SECURITY-TESTS.md case 21 (issue 10, item 1): a restore running as
//! root must never change the owner, mode or xattrs of an inode it did not verify through the
//! same descriptor, nor of an inode that has links the snapshot does not account for.
//!
//! The attack: an unprivileged user who owns a directory of the target keeps swapping the name
//! of a set-user-ID file between a copy with the snapshot's bytes (so the restore finds it
//! "already matching") and a hard link to their own program. A restore that hashes the name
//! and then opens it again to apply owner and mode hands that program to root with the set-ID
//! bit on. Without any race, a hard link from inside the target to a file outside it must not
//! lend the outside file the snapshot's metadata either.

mod common;
mod security_support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Env, code, is_root, restored_path, stderr};
use security_support::*;

/// The unprivileged user of the attack.
const RACER: u32 = 1234;

fn chown(p: &Path, uid: u32) {
    std::os::unix::fs::lchown(p, Some(uid), Some(uid)).unwrap();
}

fn set_mode(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// `uid mode` of a path (not following symlinks).
fn owner_mode(p: &Path) -> (u32, u32) {
    let m = std::fs::symlink_metadata(p).unwrap();
    (m.uid(), m.mode() & 0o7777)
}

/// A source tree with one set-user-ID root program (16 MiB, so hashing it takes a while) in a
/// directory owned by `dir_owner`, and its snapshot, restored once into `target`. Returns the
/// snapshot, the program bytes and the restored program's directory.
fn restored_setuid_program(env: &Env, dir_owner: u32) -> (String, Vec<u8>, std::path::PathBuf) {
    // Every directory above the program is searchable by others, in the snapshot too.
    set_mode(env.dir.path(), 0o755);
    let src = env.path("src");
    let program = random(21, 16 << 20);
    write_tree(&src, &[("d/tool", &program)]);
    set_mode(&src.join("d/tool"), 0o4755);
    chown(&src.join("d"), dir_owner);
    let snap = env.snapshot(&src);
    let target = env.path("target");
    let o = restore(env, &snap, &target);
    assert_eq!(code(&o), 0, "first restore: {}", stderr(&o));
    let d = restored_path(&target, &src).join("d");
    assert_eq!(owner_mode(&d.join("tool")), (0, 0o4755));
    (snap, program, d)
}

/// Hard links swapped in while root restores: neither the user's copy of the program nor
/// their own binary ever becomes root's or set-ID, however the race falls.
#[test]
fn restore_never_makes_a_swapped_in_hard_link_setuid_root() {
    if !is_root() || !common::has_tool("setpriv") {
        eprintln!(
            "SKIPPED restore_never_makes_a_swapped_in_hard_link_setuid_root: needs root and setpriv"
        );
        return;
    }
    let env = Env::new();
    // The user owns the directory the program lives in, and a workshop on the same filesystem
    // with a copy of the program's bytes and a program of their own.
    let (snap, program, d) = restored_setuid_program(&env, RACER);
    let shop = env.path("shop");
    std::fs::create_dir(&shop).unwrap();
    std::fs::write(shop.join("copy"), &program).unwrap();
    std::fs::write(shop.join("evil"), b"#!/bin/sh\nid\n").unwrap();
    for p in [&shop, &shop.join("copy"), &shop.join("evil")] {
        chown(p, RACER);
        set_mode(p, 0o755);
    }
    // The racer: rename(2) a link to the copy, then a link to their program, over the name.
    let script = r#"
        while :; do
            ln -f "$1/copy" "$2/.a" && mv -f "$2/.a" "$2/tool"
            ln -f "$1/evil" "$2/.b" && mv -f "$2/.b" "$2/tool"
        done"#;
    let mut racer = Command::new("setpriv")
        .args(["--reuid=1234", "--regid=1234", "--clear-groups", "--"])
        .args(["sh", "-c", script, "racer"])
        .arg(&shop)
        .arg(&d)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let target = env.path("target");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut runs = 0;
    let mut verdict = Ok(());
    // At least 5 runs however slow the machine is (a loaded CI host), up to 30 within the time.
    while runs < 5 || (runs < 30 && Instant::now() < deadline) {
        let o = restore(&env, &snap, &target);
        assert_no_panic(&o, "restore under a racing hard-link swap");
        runs += 1;
        for name in ["copy", "evil"] {
            let (uid, mode) = owner_mode(&shop.join(name));
            if uid != RACER || mode & 0o6000 != 0 {
                verdict = Err(format!(
                    "run {runs}: the user's {name} became uid {uid} mode {mode:o}"
                ));
            }
        }
        if verdict.is_err() {
            break;
        }
    }
    let _ = racer.kill();
    let _ = racer.wait();
    verdict.unwrap();
    assert!(runs >= 5, "only {runs} restores ran");
    // Once the race is over, a restore puts the program back exactly, in a fresh inode.
    let o = restore(&env, &snap, &target);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(std::fs::read(d.join("tool")).unwrap(), program);
    assert_eq!(owner_mode(&d.join("tool")), (0, 0o4755));
    assert_eq!(std::fs::metadata(d.join("tool")).unwrap().nlink(), 1);
}

/// A name in the target that is a hard link to a file outside it, with the snapshot's bytes:
/// the outside file keeps its own owner and mode; the target gets its own copy.
#[test]
fn restore_never_changes_metadata_through_a_preexisting_hard_link() {
    let env = Env::new();
    let (snap, program, d) = restored_setuid_program(&env, 0);
    let outside = env.path("outside-tool");
    std::fs::write(&outside, &program).unwrap();
    set_mode(&outside, 0o640);
    std::fs::remove_file(d.join("tool")).unwrap();
    std::fs::hard_link(&outside, d.join("tool")).unwrap();
    let before = std::fs::metadata(&outside).unwrap();
    let target = env.path("target");
    let o = restore(&env, &snap, &target);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let after = std::fs::metadata(&outside).unwrap();
    assert_eq!(
        after.mode() & 0o7777,
        0o640,
        "the outside file's mode was changed through the link"
    );
    assert_eq!((after.uid(), after.gid()), (before.uid(), before.gid()));
    assert_eq!(after.mtime_nsec(), before.mtime_nsec());
    assert_eq!(after.nlink(), 1, "the target still links the outside file");
    let restored = std::fs::metadata(d.join("tool")).unwrap();
    assert_ne!(restored.ino(), after.ino());
    assert_eq!(restored.mode() & 0o7777, 0o4755);
    assert_eq!(std::fs::read(d.join("tool")).unwrap(), program);
}

/// A matching file owned by someone else than the snapshot says is not given away in place
/// (a process of that user may hold it open for writing): a fresh copy replaces it.
#[test]
fn restore_never_chowns_an_existing_inode() {
    if !is_root() {
        eprintln!("SKIPPED restore_never_chowns_an_existing_inode: needs root");
        return;
    }
    let env = Env::new();
    let (snap, program, d) = restored_setuid_program(&env, 0);
    let tool = d.join("tool");
    chown(&tool, RACER);
    set_mode(&tool, 0o755);
    let old = std::fs::metadata(&tool).unwrap().ino();
    let target = env.path("target");
    let o = restore(&env, &snap, &target);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let m = std::fs::metadata(&tool).unwrap();
    assert_eq!((m.uid(), m.mode() & 0o7777), (0, 0o4755));
    assert_ne!(
        m.ino(),
        old,
        "the user's inode was chowned to root in place"
    );
    assert_eq!(std::fs::read(&tool).unwrap(), program);
}

/// A file whose bytes and metadata already match is left alone: same inode, nothing written.
#[test]
fn restore_keeps_a_matching_file_in_place() {
    let env = Env::new();
    let (snap, _, d) = restored_setuid_program(&env, 0);
    let tool = d.join("tool");
    let before = std::fs::metadata(&tool).unwrap();
    set_mode(&tool, 0o755);
    let target = env.path("target");
    let out = env.ok_json(&["restore", &snap, "--target", target.to_str().unwrap()]);
    assert_eq!(out["report"]["files_unchanged"], 1, "{out}");
    assert_eq!(out["report"]["files_written"], 0, "{out}");
    let after = std::fs::metadata(&tool).unwrap();
    assert_eq!(after.ino(), before.ino());
    assert_eq!(after.mode() & 0o7777, 0o4755, "mode fixed in place");
}

/// Hard-linked files: when every link of the existing inode is one of the snapshot's names,
/// the file is kept and fixed in place; one more link from outside the target makes restore
/// write a fresh copy under both names and leave the outside file as it was.
#[test]
fn restore_fixes_hard_links_in_place_only_when_the_snapshot_accounts_for_every_link() {
    let env = Env::new();
    let src = env.path("src");
    write_tree(&src, &[("a", b"linked bytes".as_slice())]);
    std::fs::hard_link(src.join("a"), src.join("b")).unwrap();
    set_mode(&src.join("a"), 0o640);
    let snap = env.snapshot(&src);
    let target = env.path("target");
    let o = restore(&env, &snap, &target);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let base = restored_path(&target, &src);
    let ino = |p: &Path| std::fs::metadata(p).unwrap().ino();
    assert_eq!(ino(&base.join("a")), ino(&base.join("b")));

    // Only the snapshot's names: kept, mode fixed in place.
    set_mode(&base.join("a"), 0o600);
    let kept = ino(&base.join("a"));
    let o = restore(&env, &snap, &target);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(ino(&base.join("a")), kept);
    assert_eq!(ino(&base.join("b")), kept);
    assert_eq!(owner_mode(&base.join("a")).1, 0o640);

    // A third link from outside the target.
    set_mode(&base.join("a"), 0o600);
    let outside = env.path("outside");
    std::fs::hard_link(base.join("a"), &outside).unwrap();
    let o = restore(&env, &snap, &target);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(owner_mode(&outside).1, 0o600, "changed through its link");
    assert_eq!(std::fs::metadata(&outside).unwrap().nlink(), 1);
    let fresh = ino(&base.join("a"));
    assert_ne!(fresh, kept);
    assert_eq!(ino(&base.join("b")), fresh, "the names are still one file");
    assert_eq!(owner_mode(&base.join("b")).1, 0o640);
    assert_eq!(std::fs::read(base.join("b")).unwrap(), b"linked bytes");
}
