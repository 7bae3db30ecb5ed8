//! Shared harness for integration tests: runs the real `lifeboat` binary with a clean
//! environment (no LIFEBOAT_* from the developer's shell), cheap key derivation, temp dirs.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const PASSWORD: &str = "correct horse battery staple";

pub struct Env {
    pub dir: tempfile::TempDir,
    pub repo: PathBuf,
}

impl Env {
    /// A temp dir with an initialised repository (`repo/`).
    pub fn new() -> Env {
        let e = Env::bare();
        let out = e.run(&[
            "init",
            "--kdf-memory",
            "8",
            "--kdf-iterations",
            "1",
            "--kdf-parallelism",
            "1",
        ]);
        assert!(
            out.status.success(),
            "init failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        e
    }

    /// A temp dir without a repository.
    pub fn bare() -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = dir.path().join("repo");
        Env { dir, repo }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// A command for the binary with `--repo` and the password set, nothing else inherited.
    pub fn cmd(&self) -> Command {
        let mut c = lifeboat_cmd();
        c.env("LIFEBOAT_PASSWORD", PASSWORD)
            .arg("--repo")
            .arg(&self.repo);
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run lifeboat")
    }

    /// Run and require success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "lifeboat {args:?} failed ({:?}):\nstdout: {}\nstderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    /// Snapshot `path`, return the new snapshot's full ID.
    pub fn snapshot(&self, path: &Path) -> String {
        let out = self.ok(&["--json", "snapshot", path.to_str().expect("utf-8 path")]);
        let v: serde_json::Value = serde_json::from_str(&out).expect("snapshot json");
        v["id"].as_str().expect("id").to_string()
    }
}

/// The binary with a scrubbed environment.
pub fn lifeboat_cmd() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lifeboat"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("LIFEBOAT_") {
            c.env_remove(&k);
        }
    }
    // Never the machine's own /etc/lifeboat/lifeboat.toml; tests pass --config explicitly.
    c.env("LIFEBOAT_NO_CONFIG", "1");
    c
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

// ---------------------------------------------------------------------------------------------
// Helpers added for the round-trip, property and CLI suites.
// ---------------------------------------------------------------------------------------------

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};

impl Env {
    /// Run with `--json` and require success; returns the parsed stdout.
    pub fn ok_json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.ok(&all);
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("lifeboat {args:?}: stdout is not JSON ({e}):\n{out}"))
    }

    /// Where snapshot path `src` lands under restore target `target`.
    pub fn restored(&self, target: &Path, src: &Path) -> PathBuf {
        restored_path(target, src)
    }
}

/// `TARGET/<src without its leading />`: where a restore puts snapshot path `src`.
pub fn restored_path(target: &Path, src: &Path) -> PathBuf {
    target.join(src.strip_prefix("/").expect("absolute source path"))
}

/// A path as `&str` for argv (test paths are UTF-8).
pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 test path")
}

/// Small deterministic PRNG (SplitMix64) for test data: fast, no extra dependency.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = vec![0u8; n];
        self.fill(&mut v);
        v
    }
}

/// `n` bytes of incompressible pseudo-random data.
pub fn random_bytes(seed: u64, n: usize) -> Vec<u8> {
    Rng(seed).bytes(n)
}

/// `n` bytes that look like fp16 model weights (small exponents, random mantissas).
pub fn fp16_like(seed: u64, n: usize) -> Vec<u8> {
    let mut r = Rng(seed);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let x = r.next_u64();
        for k in 0..4 {
            let bits = (x >> (16 * k)) as u16;
            let sign = bits & 0x8000;
            let exp = 11 + (bits >> 10) % 5; // around 2^-4 .. 2^0
            let mant = bits & 0x03ff;
            let v = sign | (exp << 10) | mant;
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out.truncate(n);
    out
}

/// Nanoseconds since the epoch, now.
pub fn now_ns() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970");
    d.as_secs() as i64 * 1_000_000_000 + i64::from(d.subsec_nanos())
}

/// Set atime and mtime (nanoseconds) of `p` without following a symlink.
///
/// Tests give objects atimes in the future: with the usual `relatime` mount option, reading a
/// file or listing a directory then never updates its atime, so atimes stay comparable.
pub fn set_times(p: &Path, atime_ns: i64, mtime_ns: i64) {
    let ft = |ns: i64| {
        filetime::FileTime::from_unix_time(
            ns.div_euclid(1_000_000_000),
            ns.rem_euclid(1_000_000_000) as u32,
        )
    };
    filetime::set_symlink_file_times(p, ft(atime_ns), ft(mtime_ns))
        .unwrap_or_else(|e| panic!("setting times of {}: {e}", p.display()));
}

/// Whether an external tool is on PATH.
pub fn has_tool(name: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|d| {
            std::fs::metadata(d.join(name)).is_ok_and(|m| m.is_file() && m.mode() & 0o111 != 0)
        })
    })
}

/// Run an external command and require success.
pub fn sh(prog: &str, args: &[&OsStr]) {
    let out = Command::new(prog)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {prog}: {e}"));
    assert!(
        out.status.success(),
        "{prog} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Total bytes of the regular files below `dir`.
pub fn du_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir") {
            let e = e.expect("dir entry");
            let md = e.metadata().expect("metadata");
            if md.is_dir() {
                stack.push(e.path());
            } else {
                total += md.len();
            }
        }
    }
    total
}

/// All extended attributes of `p` (not following a symlink), sorted by name.
pub fn xattrs_of(p: &Path) -> Vec<(Vec<u8>, Vec<u8>)> {
    let names = match xattr::list(p) {
        Ok(n) => n,
        Err(e) if e.raw_os_error() == Some(libc::ENOTSUP) => return Vec::new(),
        Err(e) => panic!("listing xattrs of {}: {e}", p.display()),
    };
    let mut out: Vec<_> = names
        .map(|n| {
            let v = xattr::get(p, &n)
                .unwrap_or_else(|e| panic!("xattr {n:?} of {}: {e}", p.display()))
                .unwrap_or_default();
            (n.as_bytes().to_vec(), v)
        })
        .collect();
    out.sort();
    out
}

/// Object type as `lstat` sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    File,
    Dir,
    Symlink,
    Fifo,
    Char,
    Block,
    Socket,
}

/// Everything lifeboat promises to restore about one object, read with `lstat`.
#[derive(Debug, Clone)]
pub struct Node {
    pub ty: Ty,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub mtime_ns: i64,
    pub atime_ns: i64,
    pub nlink: u64,
    pub dev: u64,
    pub ino: u64,
    pub rdev: u64,
    pub blocks: u64,
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    pub target: Option<Vec<u8>>,
}

/// A scanned tree: relative path (bytes, `""` for the root) -> node.
pub type Tree = BTreeMap<Vec<u8>, Node>;

fn node_of(p: &Path) -> Node {
    let md = std::fs::symlink_metadata(p).unwrap_or_else(|e| panic!("lstat {}: {e}", p.display()));
    let ft = md.file_type();
    let ty = if ft.is_file() {
        Ty::File
    } else if ft.is_dir() {
        Ty::Dir
    } else if ft.is_symlink() {
        Ty::Symlink
    } else if ft.is_fifo() {
        Ty::Fifo
    } else if ft.is_char_device() {
        Ty::Char
    } else if ft.is_block_device() {
        Ty::Block
    } else {
        Ty::Socket
    };
    let target = (ty == Ty::Symlink).then(|| {
        std::fs::read_link(p)
            .expect("readlink")
            .as_os_str()
            .as_bytes()
            .to_vec()
    });
    Node {
        ty,
        mode: md.mode() & 0o7777,
        uid: md.uid(),
        gid: md.gid(),
        size: if ty == Ty::File { md.size() } else { 0 },
        mtime_ns: md.mtime() * 1_000_000_000 + md.mtime_nsec(),
        atime_ns: md.atime() * 1_000_000_000 + md.atime_nsec(),
        nlink: md.nlink(),
        dev: md.dev(),
        ino: md.ino(),
        rdev: md.rdev(),
        blocks: md.blocks(),
        xattrs: xattrs_of(p),
        target,
    }
}

/// Scan `root` recursively with `lstat` (never following symlinks). Each object is stat'ed
/// before it is read (directories listed, links read), so scanning disturbs no recorded atime.
pub fn scan(root: &Path) -> Tree {
    fn walk(root: &Path, rel: &[u8], out: &mut Tree) {
        let p = if rel.is_empty() {
            root.to_path_buf()
        } else {
            root.join(OsStr::from_bytes(rel))
        };
        let n = node_of(&p);
        let is_dir = n.ty == Ty::Dir;
        out.insert(rel.to_vec(), n);
        if is_dir {
            let mut names: Vec<Vec<u8>> = std::fs::read_dir(&p)
                .unwrap_or_else(|e| panic!("read_dir {}: {e}", p.display()))
                .map(|e| e.expect("dir entry").file_name().as_bytes().to_vec())
                .collect();
            names.sort();
            for name in names {
                let mut child = rel.to_vec();
                if !child.is_empty() {
                    child.push(b'/');
                }
                child.extend_from_slice(&name);
                walk(root, &child, out);
            }
        }
    }
    let mut out = Tree::new();
    walk(root, b"", &mut out);
    out
}

/// Display a relative path of a [`Tree`].
pub fn show_rel(rel: &[u8]) -> String {
    if rel.is_empty() {
        ".".into()
    } else {
        String::from_utf8_lossy(rel).into_owned()
    }
}

/// Whether a file occupies fewer blocks than its size (has holes).
pub fn is_sparse(n: &Node) -> bool {
    n.ty == Ty::File && n.blocks * 512 < n.size
}

fn open_noatime(p: &Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOATIME | libc::O_NOFOLLOW)
        .open(p)
        .or_else(|_| {
            std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(p)
        })
        .unwrap_or_else(|e| panic!("open {}: {e}", p.display()))
}

/// Whether two files have the same bytes (read without touching atimes).
pub fn same_content(a: &Path, b: &Path) -> bool {
    let (mut fa, mut fb) = (open_noatime(a), open_noatime(b));
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let na = read_full(&mut fa, &mut ba);
        let nb = read_full(&mut fb, &mut bb);
        if na != nb || ba[..na] != bb[..nb] {
            return false;
        }
        if na == 0 {
            return true;
        }
    }
}

fn read_full(f: &mut std::fs::File, buf: &mut [u8]) -> usize {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]).expect("read") {
            0 => break,
            k => n += k,
        }
    }
    n
}

/// What [`compare_trees`] checks besides type, mode, owner, size, mtime, xattrs, link targets,
/// hard-link identity, sparseness and content.
#[derive(Debug, Clone, Copy)]
pub struct Compare {
    /// Compare atimes too (restore sets them).
    pub atime: bool,
    /// Compare numeric owners (restore sets them only as root).
    pub owners: bool,
}

impl Default for Compare {
    fn default() -> Self {
        Compare {
            atime: true,
            owners: true,
        }
    }
}

/// Every difference between an original tree and its restored copy, one line each.
pub fn compare_trees(
    orig_root: &Path,
    orig: &Tree,
    rest_root: &Path,
    rest: &Tree,
    c: Compare,
) -> Vec<String> {
    let mut bad = Vec::new();
    for rel in rest.keys() {
        if !orig.contains_key(rel) {
            bad.push(format!(
                "{}: extra object in the restored tree",
                show_rel(rel)
            ));
        }
    }
    // Hard-link identity: original inode -> restored inode must be a bijection.
    let mut ino_map: HashMap<(u64, u64), u64> = HashMap::new();
    let mut ino_back: HashMap<u64, (u64, u64)> = HashMap::new();
    for (rel, o) in orig {
        let name = show_rel(rel);
        let Some(r) = rest.get(rel) else {
            bad.push(format!("{name}: missing in the restored tree"));
            continue;
        };
        let mut diff = |field: &str, a: String, b: String| {
            if a != b {
                bad.push(format!("{name}: {field}: original {a}, restored {b}"));
            }
        };
        diff("type", format!("{:?}", o.ty), format!("{:?}", r.ty));
        if o.ty != r.ty {
            continue;
        }
        diff("mode", format!("{:04o}", o.mode), format!("{:04o}", r.mode));
        if c.owners {
            diff("uid", o.uid.to_string(), r.uid.to_string());
            diff("gid", o.gid.to_string(), r.gid.to_string());
        }
        diff("size", o.size.to_string(), r.size.to_string());
        diff("mtime_ns", o.mtime_ns.to_string(), r.mtime_ns.to_string());
        if c.atime {
            diff("atime_ns", o.atime_ns.to_string(), r.atime_ns.to_string());
        }
        diff(
            "xattrs",
            format!("{:?}", show_xattrs(&o.xattrs)),
            format!("{:?}", show_xattrs(&r.xattrs)),
        );
        diff(
            "symlink target",
            format!("{:?}", o.target.as_deref().map(String::from_utf8_lossy)),
            format!("{:?}", r.target.as_deref().map(String::from_utf8_lossy)),
        );
        if matches!(o.ty, Ty::Char | Ty::Block) {
            diff("rdev", format!("{:#x}", o.rdev), format!("{:#x}", r.rdev));
        }
        if o.ty != Ty::Dir {
            diff("nlink", o.nlink.to_string(), r.nlink.to_string());
            let key = (o.dev, o.ino);
            match ino_map.get(&key) {
                Some(&ri) if ri != r.ino => bad.push(format!(
                    "{name}: hard link broken: shares an inode with another name in the original, not in the restore"
                )),
                Some(_) => {}
                None => {
                    if let Some(prev) = ino_back.get(&r.ino)
                        && *prev != key {
                            bad.push(format!(
                                "{name}: restored as a hard link of an unrelated file"
                            ));
                        }
                    ino_map.insert(key, r.ino);
                    ino_back.insert(r.ino, key);
                }
            }
        }
        if o.ty == Ty::File {
            if is_sparse(o) && (!is_sparse(r) || r.blocks > o.blocks * 2 + 256) {
                bad.push(format!(
                    "{name}: holes not preserved: original {} blocks, restored {} blocks (size {})",
                    o.blocks, r.blocks, o.size
                ));
            }
            let (po, pr) = (
                orig_root.join(OsStr::from_bytes(rel)),
                rest_root.join(OsStr::from_bytes(rel)),
            );
            if o.size == r.size && !same_content(&po, &pr) {
                bad.push(format!("{name}: content differs"));
            }
        }
    }
    bad
}

fn show_xattrs(x: &[(Vec<u8>, Vec<u8>)]) -> Vec<(String, String)> {
    x.iter()
        .map(|(k, v)| (String::from_utf8_lossy(k).into_owned(), hex::encode(v)))
        .collect()
}

/// Scan the restored copy of `orig_root` and panic with every difference.
pub fn assert_restored_equal(orig_root: &Path, orig: &Tree, rest_root: &Path, c: Compare) {
    let rest = scan(rest_root);
    let bad = compare_trees(orig_root, orig, rest_root, &rest, c);
    assert!(
        bad.is_empty(),
        "restored tree {} differs from {} in {} way(s):\n  {}",
        rest_root.display(),
        orig_root.display(),
        bad.len(),
        bad.join("\n  ")
    );
}

/// Number of distinct regular files (inodes) in a tree: what a snapshot counts as files.
pub fn distinct_files(t: &Tree) -> u64 {
    let mut seen = std::collections::HashSet::new();
    t.values()
        .filter(|n| n.ty == Ty::File && seen.insert((n.dev, n.ino)))
        .count() as u64
}
