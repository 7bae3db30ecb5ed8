//! Owners restored by name (issue 13, restic#3572): a file snapshotted as user `lbtest_*` with
//! one uid is restored to the uid that name has on the restoring host, and with
//! `--numeric-owner` to the recorded number; a name this host does not know falls back to the
//! number. Runs as root only (it creates and deletes a user and a group); the user is removed
//! on drop, whatever happens.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use common::{Env, code, has_tool, is_root, restored_path, s, stderr};

/// A user and a group of the same name, created with the given ids and removed on drop.
struct TestUser {
    name: String,
}

impl TestUser {
    fn new(name: &str) -> TestUser {
        TestUser {
            name: name.to_string(),
        }
    }

    fn create(&self, uid: u32, gid: u32) {
        run("groupadd", &["-g", &gid.to_string(), &self.name]);
        run(
            "useradd",
            &[
                "-u",
                &uid.to_string(),
                "-g",
                &self.name,
                "-M",
                "-N",
                "-s",
                "/usr/sbin/nologin",
                &self.name,
            ],
        );
    }

    fn delete(&self) {
        let _ = Command::new("userdel").arg(&self.name).output();
        let _ = Command::new("groupdel").arg(&self.name).output();
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        self.delete();
    }
}

fn run(prog: &str, args: &[&str]) {
    let o = Command::new(prog).args(args).output().expect(prog);
    assert!(
        o.status.success(),
        "{prog} {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Two ids (user and group) that no user and no group of this host has.
fn free_ids(from: u32) -> (u32, u32) {
    let free =
        |id: u32| uzers::get_user_by_uid(id).is_none() && uzers::get_group_by_gid(id).is_none();
    let mut id = from;
    while !(free(id) && free(id + 1)) {
        id += 2;
    }
    (id, id + 1)
}

fn owner(p: &Path) -> (u32, u32) {
    let md = std::fs::symlink_metadata(p).unwrap();
    (md.uid(), md.gid())
}

#[test]
fn restore_maps_owners_by_name_unless_numeric_owner() {
    if !is_root() {
        eprintln!("skipped: creating a test user and restoring owners needs root");
        return;
    }
    if !has_tool("useradd") || !has_tool("groupadd") {
        eprintln!("skipped: useradd/groupadd are not installed");
        return;
    }
    let name = format!(
        "lbtest_{}",
        &common::random_bytes(common::now_ns() as u64, 4)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let user = TestUser::new(&name);
    let (uid_a, gid_a) = free_ids(52_000);
    user.create(uid_a, gid_a);

    let e = Env::new();
    let src = e.path("src");
    std::fs::create_dir_all(src.join("d")).unwrap();
    std::fs::write(src.join("d/model.bin"), b"weights").unwrap();
    std::os::unix::fs::symlink("model.bin", src.join("d/link")).unwrap();
    for p in ["d", "d/model.bin", "d/link"] {
        std::os::unix::fs::lchown(src.join(p), Some(uid_a), Some(gid_a)).unwrap();
    }
    let id = e.snapshot(&src);
    let listing = e.ok(&["ls", "-l", &id, s(&src.join("d/model.bin"))]);
    assert!(
        listing.contains(&name),
        "the snapshot records the name: {listing}"
    );

    // The same name, other numbers: as on a freshly installed host.
    user.delete();
    let (uid_b, gid_b) = free_ids(uid_a + 2);
    user.create(uid_b, gid_b);

    let t = e.path("by-name");
    let v = e.ok_json(&["restore", &id, "--target", s(&t)]);
    let base = restored_path(&t, &src);
    for p in ["d", "d/model.bin", "d/link"] {
        assert_eq!(
            owner(&base.join(p)),
            (uid_b, gid_b),
            "{p}: not owned by name"
        );
    }
    assert_eq!(v["report"]["owners_by_name"], 3, "{v}");
    let out = e.ok(&["restore", &id, "--target", s(&e.path("text"))]);
    assert!(out.contains("3 object(s) owned by name"), "{out}");

    let t = e.path("numeric");
    let o = e.run(&["restore", &id, "--target", s(&t), "--numeric-owner"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let base = restored_path(&t, &src);
    for p in ["d", "d/model.bin", "d/link"] {
        assert_eq!(owner(&base.join(p)), (uid_a, gid_a), "{p}: --numeric-owner");
    }

    // A name this host does not know: the recorded number.
    user.delete();
    let t = e.path("unknown");
    e.ok(&["restore", &id, "--target", s(&t)]);
    assert_eq!(
        owner(&restored_path(&t, &src).join("d/model.bin")),
        (uid_a, gid_a)
    );

    // A restore over the by-name copy with --numeric-owner changes the owners back in place.
    user.create(uid_b, gid_b);
    let t = e.path("by-name");
    e.ok(&["restore", &id, "--target", s(&t), "--numeric-owner"]);
    assert_eq!(
        owner(&restored_path(&t, &src).join("d/model.bin")),
        (uid_a, gid_a)
    );
}
