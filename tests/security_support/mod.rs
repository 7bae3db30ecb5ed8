//! Helpers for the security suites (`tests/security_repo.rs`, `tests/security_restore.rs`):
//! damaging repository files, crafting hostile snapshots through the library, and checking
//! that a failure is clean (right exit code, named object, no panic, nothing outside).
#![allow(dead_code)]

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use lifeboat::Id;
use lifeboat::repo::index::{IndexFile, IndexPack};
use lifeboat::repo::{BlobKind, FileType, IndexedRepo, Location};
use lifeboat::snapshot::entry::{Content, Entry, Kind};
use lifeboat::snapshot::manifest::Snapshot;
use sha2::Digest;

use crate::common::{Env, PASSWORD, code, stderr};

/// Exit codes of the binary (README).
pub const EXIT_ERROR: i32 = 1;
pub const EXIT_PARTIAL: i32 = 3;
pub const EXIT_DAMAGED: i32 = 4;
pub const EXIT_WRONG_PASSWORD: i32 = 12;

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Stdout and stderr together, for "the secret never appears" checks.
pub fn all_output(o: &Output) -> String {
    format!("{}{}", stdout(o), stderr(o))
}

/// The process ended by itself (no signal, no abort) and did not panic.
pub fn assert_no_panic(o: &Output, what: &str) {
    let err = stderr(o);
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{what}: lifeboat panicked:\n{err}"
    );
    assert!(
        o.status.code().is_some(),
        "{what}: lifeboat was killed by a signal ({:?}), stderr:\n{err}",
        o.status
    );
}

/// A clean failure: exit code `want`, no panic, and stderr names every `needles` item.
pub fn assert_fails(o: &Output, want: i32, needles: &[&str], what: &str) {
    assert_no_panic(o, what);
    let err = stderr(o);
    assert_eq!(
        code(o),
        want,
        "{what}: exit code {} (want {want})\nstdout: {}\nstderr: {err}",
        code(o),
        stdout(o)
    );
    for n in needles {
        assert!(
            err.contains(n),
            "{what}: stderr does not mention {n:?}:\n{err}"
        );
    }
}

/// Like [`assert_fails`] but any non-zero exit code is accepted.
pub fn assert_fails_any(o: &Output, needles: &[&str], what: &str) {
    assert_no_panic(o, what);
    let err = stderr(o);
    assert_ne!(
        code(o),
        0,
        "{what}: succeeded but should have failed: {err}"
    );
    for n in needles {
        assert!(
            err.contains(n),
            "{what}: stderr does not mention {n:?}:\n{err}"
        );
    }
}

/// Open the test repository through the library, with its index loaded.
pub fn open(env: &Env) -> IndexedRepo {
    lifeboat::repo::open_local(&env.repo, PASSWORD.as_bytes())
        .expect("open repository")
        .indexed()
        .expect("load index")
}

/// Regular files directly in `dir` (names starting with `.` skipped), sorted.
pub fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read_dir {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| {
            p.is_file()
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    v.sort();
    v
}

/// Every object below `dir` (files, links, dirs), not following symlinks, sorted.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd {
            let p = e.expect("dir entry").path();
            let md = std::fs::symlink_metadata(&p).expect("lstat");
            if md.is_dir() {
                stack.push(p.clone());
            }
            out.push(p);
        }
    }
    out.sort();
    out
}

pub fn index_files(env: &Env) -> Vec<PathBuf> {
    files_in(&env.repo.join("index"))
}

pub fn snapshot_files(env: &Env) -> Vec<PathBuf> {
    files_in(&env.repo.join("snapshots"))
}

pub fn key_files(env: &Env) -> Vec<PathBuf> {
    files_in(&env.repo.join("keys"))
}

pub fn lock_files(env: &Env) -> Vec<PathBuf> {
    files_in(&env.repo.join("locks"))
}

/// All pack files.
pub fn pack_files(env: &Env) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for sub in files_or_dirs(&env.repo.join("data")) {
        if sub.is_dir() {
            v.extend(files_in(&sub));
        }
    }
    v.sort();
    v
}

fn files_or_dirs(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|rd| rd.map(|e| e.expect("dir entry").path()).collect())
        .unwrap_or_default()
}

pub fn pack_path(env: &Env, pack: &Id) -> PathBuf {
    let hex = pack.to_hex();
    env.repo.join("data").join(&hex[..2]).join(hex)
}

/// The short form (8 hex digits) of a file named by a 64-digit ID.
pub fn short_name(p: &Path) -> String {
    p.file_name().expect("named").to_string_lossy()[..8].to_string()
}

pub fn flip_bit(p: &Path, offset: usize) {
    let mut b = std::fs::read(p).expect("read file to damage");
    assert!(offset < b.len(), "offset {offset} beyond {}", b.len());
    b[offset] ^= 0x10;
    std::fs::write(p, b).expect("write damaged file");
}

pub fn truncate_to(p: &Path, len: u64) {
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(p)
        .expect("open to truncate");
    f.set_len(len).expect("truncate");
}

pub fn append(p: &Path, bytes: &[u8]) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(p)
        .expect("open to append");
    f.write_all(bytes).expect("append");
}

pub fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).expect("stat").len()
}

/// Where the only blob of a single-chunk file with content `data` is stored.
pub fn blob_of(repo: &IndexedRepo, data: &[u8]) -> (Id, Location) {
    let id = repo.keys().chunk_id(data);
    let loc = repo
        .locate(BlobKind::Data, &id)
        .expect("blob of this content is indexed");
    (id, loc)
}

/// A directory of source files for a snapshot, written with the given contents.
pub fn write_tree(root: &Path, files: &[(&str, &[u8])]) {
    for (rel, data) in files {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, data).expect("write source file");
    }
}

/// Restore snapshot `snap` into `target`.
pub fn restore(env: &Env, snap: &str, target: &Path) -> Output {
    env.run(&["restore", snap, "--target", target.to_str().expect("utf-8")])
}

/// Files of a source directory that were restored byte-for-byte: panics if any restored file
/// (under its final name) has contents that differ from the source.
pub fn exact_restored(src: &Path, target: &Path, names: &[&str]) -> Vec<String> {
    let base = crate::common::restored_path(target, src);
    let mut ok = Vec::new();
    for n in names {
        let want = std::fs::read(src.join(n)).expect("source file");
        match std::fs::read(base.join(n)) {
            Ok(got) => {
                assert!(
                    got == want,
                    "{n} was restored with WRONG content ({} bytes, want {})",
                    got.len(),
                    want.len()
                );
                ok.push((*n).to_string());
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => panic!("reading restored {n}: {e}"),
        }
    }
    ok
}

/// No object at all below `dir`.
pub fn assert_empty(dir: &Path, what: &str) {
    let found = walk(dir);
    assert!(
        found.is_empty(),
        "{what}: something was written outside the target: {found:?}"
    );
}

/// Whether `p` is named like one of lifeboat's restore temporaries (`.lifeboat-*.tmp`).
pub fn is_restore_temporary(p: &Path) -> bool {
    p.file_name().is_some_and(|n| {
        let n = n.to_string_lossy();
        n.starts_with(".lifeboat-") && n.ends_with(".tmp")
    })
}

/// Objects named like lifeboat's restore temporaries below `dir`.
pub fn restore_temporaries(dir: &Path) -> Vec<PathBuf> {
    walk(dir)
        .into_iter()
        .filter(|p| is_restore_temporary(p))
        .collect()
}

/// `n` bytes of pseudo-random (incompressible) data.
pub fn random(seed: u64, n: usize) -> Vec<u8> {
    crate::common::random_bytes(seed, n)
}

// ---- hostile repositories built through the library ----

/// One object of a hand-made tree stream; a file's `data` is stored as one data blob.
pub struct Spec {
    pub entry: Entry,
    pub data: Option<Vec<u8>>,
}

fn base_entry(path: &[u8], kind: Kind, mode: u32) -> Entry {
    let mut e = Entry::new(path.to_vec(), kind);
    e.mode = mode;
    e.mtime = 1_700_000_000_000_000_000;
    e.atime = e.mtime;
    e.ctime = e.mtime;
    e
}

pub fn dir(path: &[u8]) -> Spec {
    Spec {
        entry: base_entry(path, Kind::Dir, 0o755),
        data: None,
    }
}

pub fn file(path: &[u8], data: &[u8]) -> Spec {
    Spec {
        entry: base_entry(path, Kind::File, 0o644),
        data: Some(data.to_vec()),
    }
}

/// A file whose content points at already stored chunks.
pub fn file_with_chunks(path: &[u8], chunks: Vec<Id>, sha256: [u8; 32], size: u64) -> Spec {
    let mut e = base_entry(path, Kind::File, 0o644);
    e.size = size;
    e.content = Some(Content {
        chunks,
        sha256,
        extents: None,
    });
    Spec {
        entry: e,
        data: None,
    }
}

pub fn symlink(path: &[u8], target: &[u8]) -> Spec {
    let mut e = base_entry(path, Kind::Symlink, 0o777);
    e.target = Some(target.to_vec());
    Spec {
        entry: e,
        data: None,
    }
}

pub fn hardlink(path: &[u8], target: &[u8]) -> Spec {
    let mut e = base_entry(path, Kind::Hardlink, 0o644);
    e.target = Some(target.to_vec());
    Spec {
        entry: e,
        data: None,
    }
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(data).into()
}

/// Encode entries as a tree stream exactly as given (no ordering or path checks).
pub fn tree_stream(repo: &IndexedRepo, specs: Vec<Spec>) -> Vec<u8> {
    let w = repo.pack_writer();
    let mut stream = Vec::new();
    for s in specs {
        let mut e = s.entry;
        if let Some(d) = s.data {
            let chunks = if d.is_empty() {
                Vec::new()
            } else {
                vec![w.store(BlobKind::Data, &d, 0).expect("store data blob")]
            };
            e.size = d.len() as u64;
            e.content = Some(Content {
                chunks,
                sha256: sha256(&d),
                extents: None,
            });
        }
        ciborium::into_writer(&e, &mut stream).expect("encode entry");
    }
    w.finish().expect("finish data packs");
    stream
}

/// Write a snapshot whose tree stream holds exactly `specs`, in this order. Returns its ID.
pub fn write_snapshot(env: &Env, specs: Vec<Spec>) -> String {
    let repo = open(env);
    let stream = tree_stream(&repo, specs);
    let w = repo.pack_writer();
    let tree = w
        .store(BlobKind::Tree, &stream, 0)
        .expect("store tree blob");
    w.finish().expect("finish tree pack");
    save_snapshot(&repo, vec![tree])
}

/// Save a snapshot description pointing at `tree` blobs.
pub fn save_snapshot(repo: &IndexedRepo, tree: Vec<Id>) -> String {
    let snap = Snapshot {
        version: 1,
        time: lifeboat::util::now_rfc3339(),
        hostname: "hostile".into(),
        username: "mallory".into(),
        tags: Vec::new(),
        paths: vec![serde_bytes::ByteBuf::from(b"/".to_vec())],
        parent: None,
        original: None,
        tree,
        summary: Default::default(),
        excludes: Vec::new(),
        program: "security test".into(),
        deployment: None,
        host: None,
        selection: None,
    };
    repo.save_sealed(FileType::Snapshot, &snap)
        .expect("save snapshot")
        .to_hex()
}

/// Store an already encoded blob (`encoded` = codec byte + body) sealed as data blob `id` in
/// a new pack with its own index file, bypassing the encoder. The pack is assembled by hand
/// from docs/FORMAT.md §6. Returns the pack ID.
pub fn store_encoded_blob(repo: &IndexedRepo, id: Id, raw_len: u32, encoded: &[u8]) -> Id {
    // The handle's own keys seal it (version 2: its run's keys, FORMAT.md §13.3).
    let sealed = repo.keys().seal_blob(BlobKind::Data, &id, encoded);
    let pack = Id::random();
    let mut header = vec![1u8];
    header.extend_from_slice(&1u32.to_le_bytes());
    header.push(BlobKind::Data as u8);
    header.extend_from_slice(&id.0);
    header.extend_from_slice(&(sealed.len() as u32).to_le_bytes());
    header.extend_from_slice(&raw_len.to_le_bytes());
    let sealed_header = repo.keys().seal_object("pack-header", &pack.0, &header);
    let mut bytes = sealed.clone();
    bytes.extend_from_slice(&sealed_header);
    bytes.extend_from_slice(&(sealed_header.len() as u32).to_le_bytes());
    repo.backend()
        .write(FileType::Pack, &pack.to_hex(), &bytes)
        .expect("write pack");
    let f = IndexFile {
        packs: vec![IndexPack {
            id: pack,
            blobs: vec![(BlobKind::Data, id, 0, sealed.len() as u32, raw_len)],
            condemned: None,
            run: repo
                .keys()
                .run_public()
                .map(|e| serde_bytes::ByteBuf::from(e.to_vec())),
        }],
    };
    repo.save_sealed(FileType::Index, &f).expect("save index");
    pack
}

// ---- processes ----

/// Spawn the binary with the test password and `--repo`, output discarded.
pub fn spawn(env: &Env, args: &[&str]) -> std::process::Child {
    env.cmd()
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn lifeboat")
}

/// SIGKILL a child after `after` (if it still runs); returns whether it was killed.
pub fn kill_after(child: &mut std::process::Child, after: Duration) -> bool {
    let deadline = Instant::now() + after;
    while Instant::now() < deadline {
        if child.try_wait().expect("try_wait").is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let running = child.try_wait().expect("try_wait").is_none();
    if running {
        child.kill().expect("kill -9");
    }
    // Reap it, so its pid is really gone (a zombie's pid still exists).
    child.wait().expect("wait");
    running
}

/// `sh -c SCRIPT` with arguments `$1...`: no LIFEBOAT_* variables from the developer's shell,
/// the test password in `LIFEBOAT_PASSWORD`, the binary in `$LB` and the repository in `$REPO`.
pub fn shell(env: &Env, script: &str, args: &[&str]) -> Command {
    let mut sh = Command::new("sh");
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("LIFEBOAT_") {
            sh.env_remove(&k);
        }
    }
    sh.env("LIFEBOAT_PASSWORD", PASSWORD)
        .env("LB", env!("CARGO_BIN_EXE_lifeboat"))
        .env("REPO", &env.repo)
        .arg("-c")
        .arg(script)
        .arg("sh")
        .args(args);
    sh
}

pub fn mode_of(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).expect("lstat").mode()
}
