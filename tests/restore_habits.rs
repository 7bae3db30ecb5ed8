//! restic habits in `restore` (issue 10, item 12): `--overwrite always|if-changed|if-newer|never`
//! with restic 0.17's meaning, `--delete`, and `--include`/`--exclude` as patterns. Before
//! these, a local edit was overwritten without a word and there was no way to keep it.

mod common;

use std::path::{Path, PathBuf};

use common::{Env, code, s, stderr};
use filetime::FileTime;

fn write(p: &Path, data: &[u8]) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
}

fn set_mtime(p: &Path, secs: i64) {
    filetime::set_file_mtime(p, FileTime::from_unix_time(secs, 0)).unwrap();
}

/// A snapshot of `src/{model.bin, notes.txt}` restored once into `target`.
fn restored(e: &Env) -> (String, PathBuf, PathBuf) {
    let src = e.path("src");
    write(&src.join("model.bin"), b"weights v1");
    write(&src.join("notes.txt"), b"notes");
    set_mtime(&src.join("model.bin"), 1_700_000_000);
    let id = e.snapshot(&src);
    let target = e.path("target");
    e.ok(&["restore", &id, "--target", s(&target)]);
    let base = common::restored_path(&target, &src);
    (id, target, base)
}

fn restore_json(e: &Env, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["restore"];
    all.extend_from_slice(args);
    e.ok_json(&all)["report"].clone()
}

/// Regression: a local edit was silently overwritten, and nothing could keep it.
#[test]
fn overwrite_policies_keep_or_replace_a_local_edit_as_restic_does() {
    let e = Env::new();
    let (id, target, base) = restored(&e);
    let model = base.join("model.bin");
    let t = s(&target);

    // A newer local edit.
    write(&model, b"local edit, newer");
    set_mtime(&model, 1_800_000_000);
    let r = restore_json(&e, &[&id, "--target", t, "--overwrite", "never"]);
    assert_eq!(r["skipped_existing"], 2, "{r}");
    assert_eq!(std::fs::read(&model).unwrap(), b"local edit, newer");
    let r = restore_json(&e, &[&id, "--target", t, "--overwrite", "if-newer"]);
    assert_eq!(r["files_written"], 0, "{r}");
    assert_eq!(std::fs::read(&model).unwrap(), b"local edit, newer");
    let dry = e.ok(&[
        "restore",
        &id,
        "--target",
        t,
        "--overwrite",
        "if-newer",
        "--dry-run",
    ]);
    assert!(
        dry.lines()
            .any(|l| l.starts_with("skip") && l.ends_with("model.bin")),
        "{dry}"
    );

    // An older local edit is replaced by if-newer.
    set_mtime(&model, 1_600_000_000);
    let r = restore_json(&e, &[&id, "--target", t, "--overwrite", "if-newer"]);
    assert_eq!(r["files_replaced"], 1, "{r}");
    assert_eq!(std::fs::read(&model).unwrap(), b"weights v1");

    // if-changed trusts size and modification time: same length, same time, other bytes.
    write(&model, b"weights v2");
    set_mtime(&model, 1_700_000_000);
    let r = restore_json(&e, &[&id, "--target", t, "--overwrite", "if-changed"]);
    assert_eq!(r["files_written"], 0, "{r}");
    assert_eq!(std::fs::read(&model).unwrap(), b"weights v2");

    // always (the default) reads it, replaces it, and says so.
    let out = e.ok(&["restore", &id, "--target", t]);
    assert_eq!(std::fs::read(&model).unwrap(), b"weights v1");
    assert!(
        out.contains("1 existing file(s) held other bytes and were replaced"),
        "{out}"
    );
}

#[test]
fn delete_removes_only_what_the_snapshot_lacks_inside_its_own_paths() {
    let e = Env::new();
    let (id, target, base) = restored(&e);
    let t = s(&target);
    let outside = e.path("outside");
    write(&outside.join("precious"), b"not the restore's");
    write(&base.join("stray.txt"), b"added after the snapshot");
    write(&base.join("stray-dir/deep/file"), b"x");
    write(&base.join("keep.tmp"), b"excluded, so kept");
    std::os::unix::fs::symlink(&outside, base.join("link-out")).unwrap();
    // Beside the snapshot's path, in a directory that only leads to it.
    let beside = base.parent().unwrap().join("beside.txt");
    write(&beside, b"next to the snapshot's path");

    let dry = e.ok(&[
        "restore",
        &id,
        "--target",
        t,
        "--delete",
        "--exclude",
        "*.tmp",
        "--dry-run",
    ]);
    let deletions: Vec<&str> = dry.lines().filter(|l| l.starts_with("delete")).collect();
    assert_eq!(deletions.len(), 3, "{dry}");
    assert!(base.join("stray.txt").exists(), "a dry run deleted");

    let r = restore_json(&e, &[&id, "--target", t, "--delete", "--exclude", "*.tmp"]);
    assert_eq!(
        r["deleted"], 5,
        "stray.txt, stray-dir/deep/file and its two dirs, link-out: {r}"
    );
    assert!(!base.join("stray.txt").exists());
    assert!(!base.join("stray-dir").exists());
    assert!(std::fs::symlink_metadata(base.join("link-out")).is_err());
    assert!(outside.join("precious").exists(), "followed a symlink");
    assert!(base.join("keep.tmp").exists(), "deleted an excluded name");
    assert!(beside.exists(), "deleted outside the snapshot's paths");
    assert_eq!(
        std::fs::read(base.join("model.bin")).unwrap(),
        b"weights v1"
    );
}

#[test]
fn include_and_exclude_take_patterns() {
    let e = Env::new();
    let src = e.path("src");
    write(&src.join("a.bin"), b"a");
    write(&src.join("nested/b.bin"), b"b");
    write(&src.join("nested/c.txt"), b"c");
    write(&src.join("cache/d.bin"), b"d");
    let id = e.snapshot(&src);
    let base = |t: &Path| common::restored_path(t, &src);

    let t1 = e.path("t1");
    e.ok(&[
        "restore",
        &id,
        "--target",
        s(&t1),
        "--include",
        "*.bin",
        "--exclude",
        "cache",
    ]);
    assert!(base(&t1).join("a.bin").exists());
    assert!(base(&t1).join("nested/b.bin").exists());
    assert!(!base(&t1).join("nested/c.txt").exists());
    assert!(!base(&t1).join("cache").exists());

    // A name without a slash selects that directory wherever it is, with its contents.
    let t2 = e.path("t2");
    e.ok(&["restore", &id, "--target", s(&t2), "--include", "nested"]);
    assert!(base(&t2).join("nested/c.txt").exists());
    assert!(!base(&t2).join("a.bin").exists());

    // A pattern that matches nothing is an error, not an empty success.
    let t3 = e.path("t3");
    let o = e.run(&[
        "restore",
        &id,
        "--target",
        s(&t3),
        "--include",
        "*.safetensors",
    ]);
    assert_ne!(code(&o), 0);
    assert!(stderr(&o).contains("*.safetensors"), "{}", stderr(&o));
}

/// With --delete the target is made to match even where an object changed type: a directory
/// where the snapshot has a file, and a file where it has a directory.
#[test]
fn delete_replaces_objects_of_another_type() {
    let e = Env::new();
    let src = e.path("src");
    write(&src.join("was-dir"), b"a file in the snapshot");
    write(&src.join("was-file/inner"), b"a directory in the snapshot");
    let id = e.snapshot(&src);
    let target = e.path("target");
    let base = common::restored_path(&target, &src);
    write(&base.join("was-dir/leftover"), b"x");
    write(&base.join("was-file"), b"a file now");
    let o = e.run(&["restore", &id, "--target", s(&target)]);
    assert_ne!(
        code(&o),
        0,
        "a directory in the way is an error without --delete"
    );
    assert!(stderr(&o).contains("--delete"), "{}", stderr(&o));
    e.ok(&["restore", &id, "--target", s(&target), "--delete"]);
    assert_eq!(
        std::fs::read(base.join("was-dir")).unwrap(),
        b"a file in the snapshot"
    );
    assert_eq!(
        std::fs::read(base.join("was-file/inner")).unwrap(),
        b"a directory in the snapshot"
    );
}
