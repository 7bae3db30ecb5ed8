//! Exact round trips through the real binary: a tree with every object type and every piece of
//! metadata lifeboat records is snapshotted, restored and compared field by field (lstat, xattrs,
//! ACLs, hard links, holes, bytes); plus restore over an existing target, `--include`,
//! `--dry-run`, `ls`, `diff`, incremental snapshots and files changing while being read.

mod common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use common::{
    Compare, Env, Tree, Ty, assert_restored_equal, code, distinct_files, fp16_like, has_tool,
    is_root, is_sparse, now_ns, random_bytes, restored_path, s, scan, set_times, sh, stderr,
};
use serde_json::Value;

const SPARSE_SIZE: u64 = 64 << 20;
const ACL_USER: &str = "1234";

/// What the full tree ended up containing (some parts need root or tools).
struct Full {
    src: PathBuf,
    acl: bool,
    root: bool,
    /// Device nodes could be created (root, and a device cgroup that allows mknod).
    devices: bool,
    /// security.* and trusted.* xattrs could be set (root with CAP_SYS_ADMIN).
    privileged_xattrs: bool,
}

fn mkdir(p: &Path) {
    std::fs::create_dir_all(p).unwrap_or_else(|e| panic!("mkdir {}: {e}", p.display()));
}

fn write(p: &Path, data: &[u8]) {
    if let Some(d) = p.parent() {
        mkdir(d);
    }
    std::fs::write(p, data).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", p.display()));
}

fn lchown(p: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(p, Some(uid), Some(gid))
        .unwrap_or_else(|e| panic!("chown {}: {e}", p.display()));
}

fn symlink(target: &str, link: &Path) {
    std::os::unix::fs::symlink(target, link)
        .unwrap_or_else(|e| panic!("symlink {}: {e}", link.display()));
}

fn try_mknod(p: &Path, ft: rustix::fs::FileType, mode: u32, dev: u64) -> rustix::io::Result<()> {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        p,
        ft,
        rustix::fs::Mode::from_raw_mode(mode),
        dev,
    )
}

fn mknod(p: &Path, ft: rustix::fs::FileType, mode: u32, dev: u64) {
    try_mknod(p, ft, mode, dev).unwrap_or_else(|e| panic!("mknod {}: {e}", p.display()));
}

fn setxattr(p: &Path, name: &str, value: &[u8]) {
    xattr::set(p, name, value).unwrap_or_else(|e| panic!("setxattr {name} {}: {e}", p.display()));
}

fn setfacl(args: &[&str], p: &Path) {
    let mut a: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    a.push(p.as_os_str());
    sh("setfacl", &a);
}

/// Build the tree with every object type and every piece of metadata lifeboat records.
fn build_full_tree(e: &Env) -> Full {
    let src = e.path("src");
    let root = is_root();
    let acl = has_tool("setfacl");
    if !root {
        eprintln!(
            "not root: skipping owners, setuid-as-other-owner, devices, security.*/trusted.* xattrs and mode 0000 files"
        );
    }
    if !acl {
        eprintln!("setfacl not installed (Debian package `acl`): skipping POSIX ACLs");
    }
    let p = |rel: &str| src.join(rel);
    mkdir(&src);

    // Regular files: empty, small, multi-chunk random, fp16-like weights, sparse.
    write(&p("empty.txt"), b"");
    write(&p("small.txt"), b"hello, lifeboat\n");
    write(&p("big/random.bin"), &random_bytes(1, (6 << 20) + 12_345));
    write(&p("big/weights.fp16"), &fp16_like(2, 20 << 20));
    {
        let f = std::fs::File::create(p("sparse.img")).unwrap();
        f.write_all_at(&random_bytes(3, 8192), 4096).unwrap();
        f.write_all_at(&random_bytes(4, 16384), 40 << 20).unwrap();
        f.set_len(SPARSE_SIZE).unwrap();
        // Only a hole; and a hole followed by data up to the end.
        std::fs::File::create(p("holes_only.img"))
            .unwrap()
            .set_len(16 << 20)
            .unwrap();
        let f = std::fs::File::create(p("sparse_tail.img")).unwrap();
        f.write_all_at(&random_bytes(6, 5000), (20 << 20) - 5000)
            .unwrap();
    }

    // Directories: empty, private, sticky, setgid, nested.
    mkdir(&p("empty_dir"));
    write(&p("private/secret.txt"), b"top secret\n");
    write(&p("shared/note.txt"), b"anyone may write here\n");
    write(&p("setgid_dir/inherit.txt"), b"group inherits\n");
    write(&p("nested/a/b/c/deep.txt"), b"deep\n");
    write(&p("nested/a/file.txt"), b"a file\n");
    mkdir(&p("nested/a/empty"));

    // Every mode bit on regular files.
    let mut modes = vec![
        0o644, 0o755, 0o777, 0o400, 0o4755, 0o2755, 0o1755, 0o6755, 0o7777, 0o4711,
    ];
    if root {
        modes.extend([0o000, 0o111, 0o7000]);
    }
    for m in &modes {
        write(
            &p(&format!("modes/m{m:04o}")),
            format!("mode {m:o}\n").as_bytes(),
        );
    }

    // Symlinks: relative, absolute, dangling, to a directory.
    mkdir(&p("links"));
    symlink("../small.txt", &p("links/rel"));
    symlink("/etc/hostname", &p("links/abs"));
    symlink("does/not/exist", &p("links/dangling"));
    symlink("../nested", &p("links/dir"));

    // Hard links: four names of one inode in three directories.
    write(&p("hard/h1"), &random_bytes(5, 100_000));
    std::fs::hard_link(p("hard/h1"), p("hard/h2")).unwrap();
    mkdir(&p("hard/sub"));
    std::fs::hard_link(p("hard/h1"), p("hard/sub/h3")).unwrap();
    mkdir(&p("zzz_other"));
    std::fs::hard_link(p("hard/h1"), p("zzz_other/h4")).unwrap();
    // A second, independent pair.
    write(&p("hard/pair_a"), b"pair\n");
    std::fs::hard_link(p("hard/pair_a"), p("hard/pair_b")).unwrap();

    // Special files.
    mkdir(&p("special"));
    mknod(&p("special/fifo"), rustix::fs::FileType::Fifo, 0o640, 0);
    let sock = std::os::unix::net::UnixListener::bind(p("special/sock")).unwrap();
    drop(sock);
    let devices = root
        && match try_mknod(
            &p("special/null"),
            rustix::fs::FileType::CharacterDevice,
            0o666,
            rustix::fs::makedev(1, 3),
        ) {
            Ok(()) => {
                mknod(
                    &p("special/loop7"),
                    rustix::fs::FileType::BlockDevice,
                    0o660,
                    rustix::fs::makedev(7, 7),
                );
                true
            }
            Err(err) => {
                eprintln!("cannot create device nodes here ({err}): skipping them");
                false
            }
        };

    // Names: Unicode and not UTF-8 at all.
    write(
        &p("unicode/日本語のファイル.txt"),
        "こんにちは\n".as_bytes(),
    );
    write(&p("unicode/emoji 🚀 launch.bin"), b"\xf0\x9f\x9a\x80");
    write(&p("unicode/Ünïcödé dir/ñandú.txt"), b"n\n");
    let bad_file = p("unicode").join(OsStr::from_bytes(b"bad-\xff\xfe"));
    write(&bad_file, b"not utf-8 name\n");
    let bad_dir = p("unicode").join(OsStr::from_bytes(b"dir-\xfe\xff"));
    write(&bad_dir.join("inside.txt"), b"inside\n");

    // Extended attributes.
    write(&p("xattr/file"), b"with xattrs\n");
    setxattr(&p("xattr/file"), "user.comment", b"hello");
    setxattr(&p("xattr/file"), "user.binary", &[0, 1, 2, 0xff, 0]);
    setxattr(&p("xattr/file"), "user.empty", b"");
    setxattr(&p("xattr/file"), "user.large", &random_bytes(8, 2500));
    setxattr(&p("xattr"), "user.on_dir", b"dir value");
    let privileged_xattrs = root
        && match xattr::set(p("xattr/file"), "trusted.lifeboat", b"trusted value") {
            Ok(()) => {
                setxattr(&p("xattr/file"), "security.lifeboat", b"security value");
                setxattr(&p("links/rel"), "trusted.on_symlink", b"link value");
                true
            }
            Err(err) => {
                eprintln!(
                    "cannot set trusted.* xattrs here ({err}, needs CAP_SYS_ADMIN): skipping security.*/trusted.*"
                );
                false
            }
        };

    // POSIX ACLs: an access ACL on a file, a default ACL on a directory (with one file created
    // before it, which has no ACL, and ones created after, which inherit it).
    if acl {
        write(&p("acl/file"), b"acl\n");
        setfacl(
            &["-m", &format!("u:{ACL_USER}:rwx,g:5678:r-x")],
            &p("acl/file"),
        );
        write(
            &p("acl/defdir/before.txt"),
            b"created before the default acl\n",
        );
        setfacl(
            &["-d", "-m", &format!("u:{ACL_USER}:rwx,g:5678:r-x")],
            &p("acl/defdir"),
        );
        write(&p("acl/defdir/after.txt"), b"inherits\n");
        mkdir(&p("acl/defdir/subdir"));
    }

    // Owners (root only): a directory, a setuid file, a symlink and a FIFO of other users.
    if root {
        write(&p("owned/file"), b"owned by 1234\n");
        mknod(&p("owned/fifo"), rustix::fs::FileType::Fifo, 0o600, 0);
        symlink("file", &p("owned/link"));
        lchown(&p("owned"), 1234, 5678);
        lchown(&p("owned/file"), 1234, 5678);
        lchown(&p("owned/fifo"), 1234, 5678);
        lchown(&p("owned/link"), 4321, 8765);
        lchown(&p("modes/m4755"), 1234, 5678);
        chmod(&p("owned/file"), 0o4750);
    }

    // Modes last (chown clears setuid).
    for m in &modes {
        chmod(&p(&format!("modes/m{m:04o}")), *m);
    }
    if root {
        chmod(&p("modes/m4755"), 0o4755);
    }
    chmod(&p("private/secret.txt"), 0o600);
    chmod(&p("private"), 0o700);
    chmod(&p("shared"), 0o1777);
    chmod(&p("setgid_dir"), 0o2775);
    chmod(&p("empty_dir"), 0o750);

    // Times with nanoseconds, deepest first so creating children does not move them again.
    let all: Vec<Vec<u8>> = scan(&src).into_keys().collect();
    let base_atime = now_ns() + 2 * 86_400 * 1_000_000_000;
    for (i, rel) in all.iter().enumerate().rev() {
        let path = if rel.is_empty() {
            src.clone()
        } else {
            src.join(OsStr::from_bytes(rel))
        };
        let i = i as i64;
        set_times(
            &path,
            base_atime + i * 1_000_003_001,
            1_500_000_000_123_456_789 + i * 1_000_000_007,
        );
    }
    Full {
        src,
        acl,
        root,
        devices,
        privileged_xattrs,
    }
}

/// Check the original tree has what the test believes it has, so a broken builder (or a
/// filesystem without holes or xattrs) cannot make the comparison vacuous.
fn check_original(f: &Full, t: &Tree) {
    let get = |rel: &str| {
        t.get(rel.as_bytes())
            .unwrap_or_else(|| panic!("original tree lacks {rel}"))
    };
    assert!(
        is_sparse(get("sparse.img")),
        "sparse.img has no holes on this filesystem"
    );
    assert!(is_sparse(get("holes_only.img")));
    assert!(is_sparse(get("sparse_tail.img")));
    assert_eq!(get("hard/h1").nlink, 4);
    assert_eq!(get("modes/m6755").mode, 0o6755);
    assert_eq!(get("shared").mode, 0o1777);
    assert_eq!(get("links/dangling").ty, Ty::Symlink);
    assert_eq!(get("special/fifo").ty, Ty::Fifo);
    assert_eq!(get("special/sock").ty, Ty::Socket);
    assert!(get("empty.txt").mtime_ns % 1_000_000_000 != 0);
    assert_eq!(
        get("xattr/file").xattrs.len(),
        if f.privileged_xattrs { 6 } else { 4 }
    );
    if f.acl {
        let names: Vec<&[u8]> = get("acl/defdir")
            .xattrs
            .iter()
            .map(|x| x.0.as_slice())
            .collect();
        assert!(
            names.contains(&&b"system.posix_acl_default"[..]),
            "{names:?}"
        );
        assert!(get("acl/defdir/before.txt").xattrs.is_empty());
        assert!(!get("acl/defdir/after.txt").xattrs.is_empty());
    }
    if f.devices {
        assert_eq!(get("special/null").ty, Ty::Char);
        assert_eq!(get("special/loop7").ty, Ty::Block);
    }
    if f.root {
        assert_eq!(
            (get("owned/file").uid, get("owned/file").mode),
            (1234, 0o4750)
        );
        assert_eq!(get("owned/link").uid, 4321);
    }
}

fn restore_json(e: &Env, snap: &str, target: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["restore", snap, "--target", s(target)];
    args.extend_from_slice(extra);
    let v = e.ok_json(&args);
    let r = &v["report"];
    assert_eq!(r["errors"], serde_json::json!([]), "restore errors: {v:#}");
    assert_eq!(
        r["warnings"],
        serde_json::json!([]),
        "restore warnings: {v:#}"
    );
    v
}

/// A freshly built full tree, its scan and a snapshot of it.
fn full_fixture() -> (Env, Full, Tree, String) {
    let e = Env::new();
    let f = build_full_tree(&e);
    let orig = scan(&f.src);
    check_original(&f, &orig);
    let id = e.snapshot(&f.src);
    // Taking the snapshot must not have disturbed the original (atimes included).
    let after = scan(&f.src);
    let bad = common::compare_trees(&f.src, &orig, &f.src, &after, Compare::default());
    assert!(bad.is_empty(), "snapshot changed the source: {bad:#?}");
    (e, f, orig, id)
}

#[test]
fn every_object_type_and_all_metadata_survive_snapshot_and_restore() {
    let (e, f, orig, id) = full_fixture();
    let target = e.path("out");
    let v = restore_json(&e, &id, &target, &[]);
    let r = &v["report"];
    assert_eq!(r["files_written"], distinct_files(&orig), "{v:#}");
    assert_eq!(r["files_unchanged"], 0);
    let back = restored_path(&target, &f.src);
    assert_restored_equal(&f.src, &orig, &back, Compare::default());

    // The points most likely to regress, spelled out.
    let md = std::fs::metadata(back.join("sparse.img")).unwrap();
    assert_eq!(md.len(), SPARSE_SIZE);
    assert!(
        md.blocks() * 512 <= 1 << 20,
        "sparse file restored with {} blocks allocated: holes were filled",
        md.blocks()
    );
    let h1 = std::fs::metadata(back.join("hard/h1")).unwrap().ino();
    for other in ["hard/h2", "hard/sub/h3", "zzz_other/h4"] {
        assert_eq!(
            std::fs::metadata(back.join(other)).unwrap().ino(),
            h1,
            "{other}"
        );
    }
    assert_eq!(
        std::fs::read_link(back.join("links/abs")).unwrap(),
        Path::new("/etc/hostname")
    );
    let bad = back
        .join("unicode")
        .join(OsStr::from_bytes(b"bad-\xff\xfe"));
    assert_eq!(std::fs::read(bad).unwrap(), b"not utf-8 name\n");
    assert_eq!(
        std::fs::symlink_metadata(back.join("modes/m6755"))
            .unwrap()
            .mode()
            & 0o7777,
        0o6755
    );
    if f.devices {
        let null = std::fs::symlink_metadata(back.join("special/null")).unwrap();
        assert_eq!(null.rdev(), rustix::fs::makedev(1, 3));
    }
    if f.privileged_xattrs {
        assert_eq!(
            xattr::get(back.join("xattr/file"), "trusted.lifeboat").unwrap(),
            Some(b"trusted value".to_vec())
        );
    }
    if f.acl {
        let out = std::process::Command::new("getfacl")
            .arg("-cp")
            .arg(back.join("acl/file"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(&format!("user:{ACL_USER}:rwx")), "{text}");
    }
    e.ok(&["verify", "--read-data"]);
}

#[test]
fn second_restore_over_identical_target_reports_all_files_unchanged() {
    let (e, f, orig, id) = full_fixture();
    let target = e.path("out");
    restore_json(&e, &id, &target, &[]);
    let v = restore_json(&e, &id, &target, &[]);
    let r = &v["report"];
    assert_eq!(r["files_unchanged"], distinct_files(&orig), "{v:#}");
    assert_eq!(r["files_written"], 0, "{v:#}");
    assert_eq!(r["bytes_written"], 0, "{v:#}");
    assert_restored_equal(
        &f.src,
        &orig,
        &restored_path(&target, &f.src),
        Compare::default(),
    );
}

#[test]
fn restoring_hard_links_again_leaves_no_temporary_files() {
    let e = Env::new();
    let src = e.path("links");
    write(&src.join("a"), b"one inode, two names\n");
    std::fs::hard_link(src.join("a"), src.join("b")).unwrap();
    let future = now_ns() + 2 * 86_400 * 1_000_000_000;
    set_times(&src.join("a"), future, 1_600_000_000_000_000_001);
    set_times(&src, future, 1_600_000_000_000_000_002);
    let orig = scan(&src);
    let id = e.snapshot(&src);
    let target = e.path("out");
    let back = restored_path(&target, &src);
    for round in 1..=2 {
        restore_json(&e, &id, &target, &[]);
        let mut names: Vec<_> = std::fs::read_dir(&back)
            .unwrap()
            .map(|d| d.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["a", "b"], "after restore {round}");
    }
    assert_restored_equal(&src, &orig, &back, Compare::default());
}

#[test]
fn restore_puts_back_modified_truncated_and_deleted_files() {
    let (e, f, orig, id) = full_fixture();
    let target = e.path("out");
    restore_json(&e, &id, &target, &[]);
    let back = restored_path(&target, &f.src);
    // Same size and same mtime, different bytes: only the content hash can tell.
    let small = back.join("small.txt");
    let o = &orig[&b"small.txt"[..]];
    std::fs::write(&small, b"HELLO, LIFEBOAT\n").unwrap();
    set_times(&small, o.atime_ns, o.mtime_ns);
    std::fs::OpenOptions::new()
        .write(true)
        .open(back.join("big/random.bin"))
        .unwrap()
        .set_len(1000)
        .unwrap();
    std::fs::remove_file(back.join("empty.txt")).unwrap();
    std::fs::remove_file(back.join("hard/sub/h3")).unwrap();
    std::fs::remove_file(back.join("links/rel")).unwrap();
    std::fs::remove_file(back.join("special/fifo")).unwrap();
    chmod(&back.join("modes/m0644"), 0o600);
    std::fs::remove_dir(back.join("empty_dir")).unwrap();

    let v = restore_json(&e, &id, &target, &[]);
    let r = &v["report"];
    let written = r["files_written"].as_u64().unwrap();
    assert!(written >= 3, "small, random.bin, empty.txt: {v:#}");
    assert_eq!(
        written + r["files_unchanged"].as_u64().unwrap(),
        distinct_files(&orig),
        "{v:#}"
    );
    assert_restored_equal(&f.src, &orig, &back, Compare::default());
}

#[test]
fn restore_removes_xattrs_added_to_an_unchanged_file() {
    let (e, f, orig, id) = full_fixture();
    let target = e.path("out");
    restore_json(&e, &id, &target, &[]);
    let back = restored_path(&target, &f.src);
    setxattr(&back.join("small.txt"), "user.added_later", b"x");
    setxattr(&back.join("xattr/file"), "user.comment", b"changed");
    restore_json(&e, &id, &target, &[]);
    assert_restored_equal(&f.src, &orig, &back, Compare::default());
}

#[test]
fn rewriting_a_file_in_a_directory_with_default_acl_does_not_inherit_the_acl() {
    if !has_tool("setfacl") {
        eprintln!("skipped: setfacl not installed (Debian package `acl`)");
        return;
    }
    let (e, f, orig, id) = full_fixture();
    let target = e.path("out");
    restore_json(&e, &id, &target, &[]);
    let back = restored_path(&target, &f.src);
    std::fs::write(back.join("acl/defdir/before.txt"), b"damaged").unwrap();
    let v = restore_json(&e, &id, &target, &[]);
    assert_eq!(v["report"]["files_written"], 1, "{v:#}");
    assert_restored_equal(&f.src, &orig, &back, Compare::default());
}

#[test]
fn include_restores_only_the_requested_subtree() {
    let (e, f, orig, id) = full_fixture();
    let target = e.path("out");
    let nested = f.src.join("nested");
    restore_json(&e, &id, &target, &["--include", s(&nested)]);
    let back = restored_path(&target, &f.src);
    let names: Vec<_> = std::fs::read_dir(&back)
        .unwrap()
        .map(|d| d.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![OsStr::new("nested").to_owned()]);
    let sub: Tree = orig
        .iter()
        .filter_map(|(k, v)| {
            if k == b"nested" {
                Some((Vec::new(), v.clone()))
            } else {
                k.strip_prefix(&b"nested/"[..])
                    .map(|r| (r.to_vec(), v.clone()))
            }
        })
        .collect();
    assert!(sub.len() >= 7, "{}", sub.len());
    assert_restored_equal(&nested, &sub, &back.join("nested"), Compare::default());

    // A single file, into a fresh target.
    let t2 = e.path("out2");
    restore_json(&e, &id, &t2, &["--include", s(&f.src.join("small.txt"))]);
    let back2 = restored_path(&t2, &f.src);
    let names: Vec<_> = std::fs::read_dir(&back2)
        .unwrap()
        .map(|d| d.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![OsStr::new("small.txt").to_owned()]);
    assert_eq!(
        std::fs::read(back2.join("small.txt")).unwrap(),
        b"hello, lifeboat\n"
    );

    // A name that is not an absolute path is a pattern (restic's habit): the directory of
    // that name, wherever it is, with everything below it.
    let t3 = e.path("out3");
    restore_json(&e, &id, &t3, &["--include", "nested"]);
    let back3 = common::restored_path(&t3, &f.src);
    assert!(back3.join("nested").is_dir());
    assert!(!back3.join("small.txt").exists());
}

#[test]
fn include_of_a_directory_holding_a_later_hard_link_name_restores_that_file() {
    // zzz_other/h4 is the 4th name of hard/h1's inode; in the snapshot it is a `hardlink`
    // entry pointing at hard/h1, which lies outside the included subtree.
    let (e, f, orig, id) = full_fixture();
    let target = e.path("out");
    let other = f.src.join("zzz_other");
    let out = e.run(&[
        "restore",
        &id,
        "--target",
        s(&target),
        "--include",
        s(&other),
    ]);
    assert_eq!(
        code(&out),
        0,
        "restore --include {} failed: {}",
        other.display(),
        stderr(&out)
    );
    let h4 = restored_path(&target, &other).join("h4");
    assert!(common::same_content(&f.src.join("hard/h1"), &h4));
    let o = &orig[&b"zzz_other/h4"[..]];
    let md = std::fs::symlink_metadata(&h4).unwrap();
    assert_eq!(md.mode() & 0o7777, o.mode);
    assert_eq!(md.mtime() * 1_000_000_000 + md.mtime_nsec(), o.mtime_ns);
}

#[test]
fn include_path_with_a_trailing_slash_restores_the_directory_contents() {
    // Shells complete directory names with a trailing slash: `--include /srv/models/`.
    let e = Env::new();
    let src = e.path("tree");
    write(&src.join("dir/file.txt"), b"content\n");
    write(&src.join("dir/sub/deep.txt"), b"deep\n");
    write(&src.join("other.txt"), b"other\n");
    let id = e.snapshot(&src);
    let slash = format!("{}/", src.join("dir").display());

    let target = e.path("out");
    let v = restore_json(&e, &id, &target, &["--include", &slash]);
    let back = restored_path(&target, &src);
    assert_eq!(v["report"]["files_written"], 2, "{v:#}");
    assert_eq!(
        std::fs::read(back.join("dir/sub/deep.txt")).unwrap(),
        b"deep\n"
    );
    assert!(!back.join("other.txt").exists());

    let listed = e.ok(&["ls", &id, &slash]);
    let plain = e.ok(&["ls", &id, s(&src.join("dir"))]);
    assert_eq!(listed, plain, "`ls SNAP DIR/` lists like `ls SNAP DIR`");
}

#[test]
fn include_that_matches_nothing_is_not_a_silent_success() {
    let e = Env::new();
    let src = e.path("tree");
    write(&src.join("file.txt"), b"content\n");
    let id = e.snapshot(&src);
    let target = e.path("out");
    let typo = src.join("flie.txt");
    let out = e.run(&[
        "restore",
        &id,
        "--target",
        s(&target),
        "--include",
        s(&typo),
    ]);
    let err = stderr(&out);
    assert!(
        code(&out) != 0 || err.contains("flie.txt"),
        "restoring a path that is not in the snapshot wrote nothing, said nothing and exited 0:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn no_owner_restore_as_root_does_not_create_setuid_root_files() {
    if !is_root() {
        eprintln!("skipped: needs root (chown to another user)");
        return;
    }
    let e = Env::new();
    let src = e.path("tree");
    for (name, mode) in [("suid", 0o4755), ("sgid", 0o2755), ("both", 0o6711)] {
        write(&src.join(name), b"#!/bin/sh\n");
        lchown(&src.join(name), 1234, 5678);
        chmod(&src.join(name), mode);
    }
    write(&src.join("own_suid"), b"#!/bin/sh\n");
    chmod(&src.join("own_suid"), 0o4755);
    let id = e.snapshot(&src);
    let target = e.path("out");
    let out = e.run(&["restore", &id, "--target", s(&target), "--no-owner"]);
    assert!([0, 3].contains(&code(&out)), "{}", stderr(&out));
    let back = restored_path(&target, &src);
    for name in ["suid", "sgid", "both"] {
        let md = std::fs::symlink_metadata(back.join(name)).unwrap();
        assert_eq!(md.uid(), 0, "--no-owner: owned by the restoring user");
        assert_eq!(
            md.mode() & 0o6000,
            0,
            "{name}: set-id bit of a file owned by 1234:5678 restored on a root-owned copy ({:o})",
            md.mode() & 0o7777
        );
    }
    // A set-id file that root owned anyway keeps its bits.
    let md = std::fs::symlink_metadata(back.join("own_suid")).unwrap();
    assert_eq!(md.mode() & 0o7777, 0o4755);
}

#[test]
fn dry_run_writes_nothing_and_lists_planned_actions() {
    let (e, f, orig, id) = full_fixture();
    let target = e.path("out");

    // Into a target that does not exist: everything would be created, nothing is.
    let text = e.ok(&["restore", &id, "--target", s(&target), "--dry-run"]);
    assert!(!target.exists(), "dry run created the target");
    let line_for = |text: &str, rel: &str| {
        let want = format!("{}", f.src.join(rel).display());
        text.lines()
            .find(|l| l.ends_with(&want))
            .unwrap_or_else(|| panic!("no action for {rel} in:\n{text}"))
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(line_for(&text, "small.txt"), "create");
    assert_eq!(line_for(&text, "empty_dir"), "mkdir");
    assert_eq!(line_for(&text, "links/rel"), "symlink");
    assert_eq!(line_for(&text, "hard/h2"), "hardlink");
    assert_eq!(line_for(&text, "special/fifo"), "mknod");
    let last = text.lines().last().unwrap();
    assert!(
        last.starts_with("dry run: ") && last.ends_with("action(s), nothing written"),
        "{last}"
    );
    let n: usize = last
        .split_whitespace()
        .nth(2)
        .unwrap()
        .parse()
        .expect("action count");
    assert!(n >= orig.len(), "{n} actions for {} objects", orig.len());

    // JSON form of the same plan.
    let v = e.ok_json(&["restore", &id, "--target", s(&target), "--dry-run"]);
    let plan = v["report"]["plan"].as_array().expect("plan array");
    assert_eq!(plan.len(), n);
    assert!(plan.iter().any(|p| p["action"] == "create"
        && p["path"] == format!("{}", f.src.join("big/weights.fp16").display())
        && p["size"] == 20 << 20));
    assert!(!target.exists());

    // Over a restored target: files are kept, a changed one would be replaced, and the
    // target is left exactly as it was.
    restore_json(&e, &id, &target, &[]);
    let back = restored_path(&target, &f.src);
    std::fs::write(back.join("small.txt"), b"changed in the target\n").unwrap();
    // Scanning lists directories, which (relatime) moves the atime of directories whose atime
    // is not newer than their mtime (the target itself and the restored ancestors); after one
    // scan they are stable.
    scan(&target);
    let before = scan(&target);
    let text = e.ok(&["restore", &id, "--target", s(&target), "--dry-run"]);
    let with_target = |rel: &str| format!("{}", back.join(rel).display());
    let action = |rel: &str| {
        text.lines()
            .find(|l| l.ends_with(&with_target(rel)))
            .map(|l| l.split_whitespace().next().unwrap().to_string())
    };
    assert_eq!(action("small.txt").as_deref(), Some("replace"), "{text}");
    assert_eq!(action("big/random.bin").as_deref(), Some("keep"), "{text}");
    assert_eq!(action("empty_dir"), None, "existing dirs need no mkdir");
    let after = scan(&target);
    let bad = common::compare_trees(&target, &before, &target, &after, Compare::default());
    assert!(bad.is_empty(), "dry run changed the target: {bad:#?}");
    assert_eq!(
        std::fs::read(back.join("small.txt")).unwrap(),
        b"changed in the target\n"
    );
}

#[test]
fn ls_shows_entries_plain_long_and_json() {
    let (e, f, orig, id) = full_fixture();
    let src = s(&f.src).to_string();
    let p = |rel: &str| format!("{src}/{rel}");

    // Plain, whole snapshot: every path of the tree (non-UTF-8 bytes escaped as `\xNN`).
    let plain = e.ok(&["ls", &id]);
    let lines: Vec<&str> = plain.lines().collect();
    for rel in orig.keys() {
        let want = if rel.is_empty() {
            src.clone()
        } else {
            format!("{src}/{}", lifeboat::escape::bytes(rel))
        };
        assert!(lines.contains(&want.as_str()), "ls lacks {want}");
    }
    assert!(lines.contains(&"/"), "ancestors are listed");

    // A directory without -R: itself and its children only.
    let modes = e.ok(&["ls", "latest", &p("nested")]);
    assert_eq!(
        modes.lines().collect::<Vec<_>>(),
        vec![p("nested"), p("nested/a")]
    );
    let rec = e.ok(&["ls", "latest", &p("nested"), "-R"]);
    assert!(rec.lines().any(|l| l == p("nested/a/b/c/deep.txt")));

    // Long form: mode strings with special bits, owners, sizes, link targets.
    let long = e.ok(&["ls", "-l", &id, &src]);
    let long_line = |name: &str| {
        long.lines()
            .find(|l| l.ends_with(&p(name)) || l.contains(&format!("{} -> ", p(name))))
            .unwrap_or_else(|| panic!("ls -l lacks {name}:\n{long}"))
            .to_string()
    };
    assert!(long_line("shared").starts_with("drwxrwxrwt "), "{long}");
    assert!(long_line("private").starts_with("drwx------ "), "{long}");
    assert!(long_line("sparse.img").contains(&format!(" {SPARSE_SIZE} ")));
    let long_modes = e.ok(&["ls", "-l", &id, &p("modes")]);
    let mline = |m: &str| {
        long_modes
            .lines()
            .find(|l| l.ends_with(&format!("/modes/{m}")))
            .unwrap_or_else(|| panic!("{m}:\n{long_modes}"))
            .to_string()
    };
    assert!(mline("m6755").starts_with("-rwsr-sr-x "), "{long_modes}");
    assert!(mline("m7777").starts_with("-rwsrwsrwt "), "{long_modes}");
    assert!(mline("m0400").starts_with("-r-------- "), "{long_modes}");
    let long_links = e.ok(&["ls", "-l", &id, &p("links")]);
    assert!(
        long_links
            .lines()
            .any(|l| l.starts_with("lrwxrwxrwx ") && l.ends_with("/links/abs -> /etc/hostname")),
        "{long_links}"
    );
    let long_special = e.ok(&["ls", "-l", &id, &p("special")]);
    assert!(
        long_special
            .lines()
            .any(|l| l.starts_with("prw-r----- ") && l.ends_with("/special/fifo")),
        "{long_special}"
    );
    if f.devices {
        assert!(
            long_special
                .lines()
                .any(|l| l.starts_with("crw-") && l.ends_with("/special/null")),
            "{long_special}"
        );
    }
    if f.root {
        let owned = e.ok(&["ls", "-l", &id, &p("owned")]);
        let fl = owned
            .lines()
            .find(|l| l.ends_with("/owned/file"))
            .unwrap()
            .to_string();
        let cols: Vec<&str> = fl.split_whitespace().collect();
        assert_eq!(
            &cols[..3],
            &["-rwsr-x---", "1234", "5678"],
            "unknown ids shown numerically: {fl}"
        );
    }

    // JSON lines.
    let json = e.ok(&["--json", "ls", &id, &src, "-R"]);
    let items: Vec<Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    let find = |rel: &str| {
        items
            .iter()
            .find(|v| v["path"] == p(rel))
            .unwrap_or_else(|| panic!("ls --json lacks {rel}"))
    };
    assert_eq!(items.len(), orig.len(), "one line per object below {src}");
    let small = find("small.txt");
    assert_eq!(small["type"], "file");
    assert_eq!(small["size"], 16);
    assert_eq!(
        small["mtime_ns"],
        orig[&b"small.txt"[..]].mtime_ns,
        "{small}"
    );
    use sha2::Digest;
    assert_eq!(
        small["sha256"],
        hex::encode(sha2::Sha256::digest(b"hello, lifeboat\n"))
    );
    assert_eq!(find("modes/m4755")["mode"], "4755");
    assert_eq!(find("shared")["type"], "dir");
    assert_eq!(find("shared")["mode"], "1777");
    assert_eq!(find("links/dangling")["type"], "symlink");
    assert_eq!(find("links/dangling")["target"], "does/not/exist");
    assert_eq!(find("hard/h2")["type"], "hardlink");
    assert_eq!(find("hard/h2")["target"], p("hard/h1"));
    assert_eq!(find("special/fifo")["type"], "fifo");
    assert_eq!(find("special/sock")["type"], "socket");
    assert_eq!(find("unicode/日本語のファイル.txt")["type"], "file");
    // A name that is not UTF-8: `path` is readable, `path_hex` exact.
    let bad = find("unicode/bad-\u{fffd}\u{fffd}");
    assert_eq!(
        hex::decode(bad["path_hex"].as_str().unwrap()).unwrap(),
        [p("unicode/bad-").as_bytes(), b"\xff\xfe"].concat()
    );
    assert!(find("small.txt").get("path_hex").is_none());
    if f.root {
        assert_eq!(find("owned/file")["uid"], 1234);
        assert_eq!(find("owned/file")["gid"], 5678);
    }
    if f.devices {
        assert_eq!(find("special/null")["type"], "chardev");
        assert_eq!(find("special/loop7")["type"], "blockdev");
    }
}

/// Snapshot JSON summary of `path`.
fn snap_summary(e: &Env, path: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["snapshot"];
    args.extend_from_slice(extra);
    args.push(s(path));
    e.ok_json(&args)
}

#[test]
fn diff_shows_added_removed_modified_type_and_metadata_changes() {
    let e = Env::new();
    let src = e.path("tree");
    write(&src.join("modified.txt"), b"old content");
    write(&src.join("removed.txt"), b"bye");
    write(&src.join("chmodded.txt"), b"same");
    write(&src.join("retimed.txt"), b"same");
    write(&src.join("becomes_link"), b"a file");
    write(&src.join("same.txt"), b"untouched");
    write(&src.join("gone_dir/inner.txt"), b"inner");
    let old = e.snapshot(&src);

    write(&src.join("modified.txt"), b"new content, longer");
    std::fs::remove_file(src.join("removed.txt")).unwrap();
    std::fs::remove_dir_all(src.join("gone_dir")).unwrap();
    chmod(&src.join("chmodded.txt"), 0o600);
    set_times(
        &src.join("retimed.txt"),
        now_ns(),
        1_000_000_000_000_000_001,
    );
    std::fs::remove_file(src.join("becomes_link")).unwrap();
    symlink("same.txt", &src.join("becomes_link"));
    write(&src.join("added.txt"), b"hello");
    let new = e.snapshot(&src);

    let p = |rel: &str| format!("{}/{rel}", src.display());
    let text = e.ok(&["diff", &old, &new, "--metadata"]);
    let sym = |rel: &str| {
        text.lines()
            .find(|l| l.split_whitespace().nth(1) == Some(p(rel).as_str()))
            .map(|l| l.split_whitespace().next().unwrap().to_string())
    };
    assert_eq!(sym("added.txt").as_deref(), Some("+"), "{text}");
    assert_eq!(sym("removed.txt").as_deref(), Some("-"), "{text}");
    assert_eq!(sym("gone_dir").as_deref(), Some("-"), "{text}");
    assert_eq!(sym("gone_dir/inner.txt").as_deref(), Some("-"), "{text}");
    assert_eq!(sym("modified.txt").as_deref(), Some("M"), "{text}");
    assert_eq!(sym("becomes_link").as_deref(), Some("T"), "{text}");
    assert_eq!(sym("chmodded.txt").as_deref(), Some("U"), "{text}");
    assert_eq!(sym("retimed.txt").as_deref(), Some("U"), "{text}");
    assert_eq!(sym("same.txt"), None, "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("U  ") && l.contains("chmodded.txt") && l.contains("(mode)")),
        "{text}"
    );
    assert!(
        text.contains("1 added, 3 removed, 1 modified, 1 type changed"),
        "{text}"
    );

    // Without --metadata, metadata-only changes are not listed (but still counted).
    let short = e.ok(&["diff", &old, &new]);
    assert!(!short.contains("chmodded.txt"), "{short}");
    assert!(short.contains(&p("modified.txt")));

    // JSON.
    let v = e.ok_json(&["diff", &old, &new, "--metadata"]);
    let changes = v["changes"].as_array().unwrap();
    let change = |rel: &str| {
        changes
            .iter()
            .find(|c| c["path"] == p(rel))
            .map(|c| c["change"].as_str().unwrap().to_string())
    };
    assert_eq!(change("added.txt").as_deref(), Some("added"));
    assert_eq!(change("removed.txt").as_deref(), Some("removed"));
    assert_eq!(change("modified.txt").as_deref(), Some("modified"));
    assert_eq!(change("becomes_link").as_deref(), Some("type"));
    assert_eq!(change("chmodded.txt").as_deref(), Some("metadata"));
    assert_eq!(change("same.txt"), None);
    let fields = changes
        .iter()
        .find(|c| c["path"] == p("retimed.txt"))
        .unwrap()["fields"]
        .clone();
    assert_eq!(fields, serde_json::json!(["mtime"]));
    let sum = &v["summary"];
    assert_eq!(
        (
            &sum["added"],
            &sum["removed"],
            &sum["modified"],
            &sum["type_changed"]
        ),
        (&1.into(), &3.into(), &1.into(), &1.into()),
        "{sum}"
    );
    assert_eq!(sum["bytes_added"], 5 + 19, "{sum}");
    assert_eq!(sum["bytes_removed"], 3 + 5 + 11, "{sum}");

    // A snapshot against itself has no differences.
    let v = e.ok_json(&["diff", &new, &new, "--metadata"]);
    assert_eq!(v["changes"], serde_json::json!([]));
}

#[test]
fn second_snapshot_reads_only_changed_files() {
    let (e, f, orig, first) = full_fixture();
    let n = distinct_files(&orig);
    // The fixture's snapshot saw every file as new.
    let list = e.ok_json(&["snapshots"]);
    assert_eq!(list[0]["summary"]["files_new"], n);

    let v = snap_summary(&e, &f.src, &[]);
    let sum = &v["summary"];
    assert_eq!(v["parent"], first.as_str(), "{v:#}");
    assert_eq!(sum["files_unmodified"], n, "{v:#}");
    assert_eq!(sum["files_new"], 0, "{v:#}");
    assert_eq!(sum["files_changed"], 0, "{v:#}");
    assert_eq!(sum["bytes_read"], 0, "{v:#}");
    assert_eq!(sum["files"], n, "{v:#}");

    // Touch one file: exactly that one is read again.
    let small = f.src.join("small.txt");
    let o = &orig[&b"small.txt"[..]];
    set_times(&small, o.atime_ns, o.mtime_ns + 1);
    let v = snap_summary(&e, &f.src, &[]);
    let sum = &v["summary"];
    assert_eq!(sum["files_changed"], 1, "{v:#}");
    assert_eq!(sum["files_unmodified"], n - 1, "{v:#}");
    assert_eq!(sum["bytes_read"], 16, "{v:#}");

    // --force reads everything again.
    let v = snap_summary(&e, &f.src, &["--force"]);
    assert_eq!(v["summary"]["files_new"], n, "{v:#}");
    assert_eq!(v["parent"], Value::Null);

    // The incremental snapshot restores exactly like a full one.
    let now = scan(&f.src);
    let target = e.path("out");
    restore_json(&e, "latest", &target, &[]);
    assert_restored_equal(
        &f.src,
        &now,
        &restored_path(&target, &f.src),
        Compare::default(),
    );
}

#[test]
fn file_growing_while_read_gives_warning_and_exit_code_3() {
    let e = Env::new();
    let src = e.path("grow");
    write(&src.join("steady.txt"), b"steady");
    let growing = src.join("growing.log");
    write(&growing, &random_bytes(9, 48 << 20));
    let mut triggered = None;
    for attempt in 0..3 {
        let stop = Arc::new(AtomicBool::new(false));
        let appends = Arc::new(AtomicU64::new(0));
        let writer = {
            let (stop, appends, path) = (stop.clone(), appends.clone(), growing.clone());
            std::thread::spawn(move || {
                use std::io::Write;
                let mut f = std::fs::OpenOptions::new()
                    .append(true)
                    .open(&path)
                    .unwrap();
                let block = vec![b'x'; 4096];
                // Bounded: at most ~40 MiB even if the snapshot is slow.
                while !stop.load(Ordering::Relaxed) && appends.load(Ordering::Relaxed) < 10_000 {
                    f.write_all(&block).unwrap();
                    appends.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(std::time::Duration::from_micros(500));
                }
            })
        };
        while appends.load(Ordering::Relaxed) < 5 {
            std::thread::yield_now();
        }
        let out = e.run(&["snapshot", s(&src)]);
        stop.store(true, Ordering::Relaxed);
        writer.join().unwrap();
        if code(&out) == 3 {
            triggered = Some(out);
            break;
        }
        assert_eq!(code(&out), 0, "attempt {attempt}: {}", stderr(&out));
        eprintln!("attempt {attempt}: the append did not overlap the read; retrying");
    }
    let out = triggered.expect(
        "a file appended to every 0.5 ms during the whole snapshot was never reported as changed",
    );
    let err = stderr(&out);
    assert!(
        err.contains("growing.log") && err.contains("changed while being read"),
        "{err}"
    );
    assert!(!err.contains("steady.txt"), "{err}");
    // The snapshot was still saved, and records the warning.
    let list = e.ok_json(&["snapshots"]);
    let last = list.as_array().unwrap().last().unwrap().clone();
    assert!(
        last["summary"]["warnings"].as_u64().unwrap() >= 1,
        "{last:#}"
    );
    e.ok(&["verify", "--read-data"]);
}
