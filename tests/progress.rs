//! What a snapshot tells its progress receiver (the terminal bar draws exactly this): totals
//! announced (the parent's, a pre-scan's, then the walk's exact ones), bytes advancing to the
//! total, files counted, and the name of the file whose bytes are being read.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;

use lifeboat::files::prescan::prescan;
use lifeboat::files::walk::Excludes;
use lifeboat::ops::snapshot::{ParentChoice, SnapshotOptions, SnapshotResult, create};
use lifeboat::progress::Progress;
use lifeboat::repo::{LocalBackend, Repository};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Start(String),
    Totals(u64, u64),
    Advance(u64),
    Reading(String),
    Item(String),
    Finish,
}

#[derive(Default)]
struct Recorder(Mutex<Vec<Ev>>);

impl Recorder {
    fn push(&self, e: Ev) {
        self.0.lock().unwrap().push(e);
    }
    fn take(&self) -> Vec<Ev> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl Progress for Recorder {
    fn start(&self, phase: &str, _total: Option<u64>) {
        self.push(Ev::Start(phase.into()));
    }
    fn totals(&self, bytes: u64, items: u64) {
        self.push(Ev::Totals(bytes, items));
    }
    fn advance(&self, bytes: u64) {
        self.push(Ev::Advance(bytes));
    }
    fn reading(&self, name: &str) {
        self.push(Ev::Reading(name.into()));
    }
    fn item(&self, name: &str) {
        self.push(Ev::Item(name.into()));
    }
    fn finish(&self) {
        self.push(Ev::Finish);
    }
}

fn repo(dir: &Path) -> Repository {
    let b = Arc::new(LocalBackend::new(dir.join("repo")));
    Repository::init(b, b"pw", lifeboat::crypto::KdfParams::new(8 * 1024, 1, 1)).unwrap()
}

fn bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Files of several sizes (one of several chunks), a sparse file, a hard link, a symlink, an
/// excluded file and a cache directory.
fn tree(root: &Path) -> PathBuf {
    let d = root.join("data");
    std::fs::create_dir_all(d.join("sub/cache")).unwrap();
    std::fs::write(d.join("empty"), b"").unwrap();
    std::fs::write(d.join("small"), b"hello").unwrap();
    std::fs::write(d.join("sub/big"), bytes(1, 5 << 20)).unwrap();
    std::fs::write(d.join("sub/mid"), bytes(2, 300_000)).unwrap();
    std::fs::hard_link(d.join("sub/mid"), d.join("mid-link")).unwrap();
    std::os::unix::fs::symlink("small", d.join("sym")).unwrap();
    std::fs::write(d.join("skip.tmp"), bytes(3, 70_000)).unwrap();
    std::fs::write(
        d.join("sub/cache/CACHEDIR.TAG"),
        b"Signature: 8a477f597d28d172789f06886806bc55",
    )
    .unwrap();
    std::fs::write(d.join("sub/cache/blob"), bytes(4, 90_000)).unwrap();
    let f = std::fs::File::create(d.join("sparse")).unwrap();
    f.set_len(8 << 20).unwrap();
    use std::os::unix::fs::FileExt;
    f.write_all_at(&bytes(5, 100_000), 4 << 20).unwrap();
    d
}

fn excludes() -> Excludes {
    Excludes {
        patterns: vec!["*.tmp".into()],
        caches: true,
        ..Excludes::default()
    }
}

fn options(d: &Path, parent: ParentChoice) -> SnapshotOptions {
    SnapshotOptions {
        paths: vec![d.to_path_buf()],
        excludes: excludes(),
        parent,
        readers: Some(1),
        encoders: Some(2),
        ..SnapshotOptions::default()
    }
}

fn snapshot(repo: &Repository, opts: &SnapshotOptions) -> (SnapshotResult, Vec<Ev>) {
    let rec = Recorder::default();
    let r = create(repo, opts, &rec).unwrap();
    (r, rec.take())
}

/// The events of the files phase (after its start).
fn files_phase(evs: &[Ev]) -> &[Ev] {
    let i = evs
        .iter()
        .position(|e| *e == Ev::Start("snapshot".into()))
        .expect("the files phase starts");
    &evs[i + 1..]
}

fn last_totals(evs: &[Ev]) -> (u64, u64) {
    evs.iter()
        .rev()
        .find_map(|e| match e {
            Ev::Totals(b, n) => Some((*b, *n)),
            _ => None,
        })
        .expect("totals announced")
}

fn advanced(evs: &[Ev]) -> u64 {
    evs.iter()
        .map(|e| if let Ev::Advance(n) = e { *n } else { 0 })
        .sum()
}

fn items(evs: &[Ev]) -> Vec<String> {
    evs.iter()
        .filter_map(|e| match e {
            Ev::Item(n) => Some(n.clone()),
            _ => None,
        })
        .collect()
}

fn read(evs: &[Ev]) -> Vec<String> {
    let mut v: Vec<String> = evs
        .iter()
        .filter_map(|e| match e {
            Ev::Reading(n) => Some(n.clone()),
            _ => None,
        })
        .collect();
    v.sort();
    v
}

/// The bytes advanced between `Reading(name)` and `Item(name)`: with one reader and no parent
/// (nothing advanced by the walk itself), exactly that file's, so the name announced is the
/// file whose bytes are being read.
fn bytes_while_reading(evs: &[Ev], name: &str) -> u64 {
    let start = evs
        .iter()
        .position(|e| *e == Ev::Reading(name.into()))
        .unwrap_or_else(|| panic!("{name} was never announced as being read"));
    let end = evs[start..]
        .iter()
        .position(|e| *e == Ev::Item(name.into()))
        .unwrap_or_else(|| panic!("{name} was never finished"))
        + start;
    assert!(
        !evs[start + 1..end]
            .iter()
            .any(|e| matches!(e, Ev::Reading(_))),
        "another file was announced while {name} was being read by the only reader"
    );
    advanced(&evs[start..end])
}

#[test]
fn snapshot_progress_announces_totals_advances_to_them_and_names_the_file_being_read() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = repo(tmp.path());
    let d = tree(tmp.path());
    let p = |rel: &str| format!("{}/{rel}", d.display());

    let (r, evs) = snapshot(&repo, &options(&d, ParentChoice::Auto));
    let s = &r.snapshot.summary;
    let evs = files_phase(&evs);
    // Totals: exactly the files the snapshot holds (hard link once, excludes and the cache's
    // contents left out, the sparse file at its full size).
    assert_eq!(s.files, 6, "{s:?}");
    assert_eq!(last_totals(evs), (s.bytes, s.files));
    assert_eq!(s.bytes, 5 + (5 << 20) + 300_000 + (8 << 20) + 43, "{s:?}");
    assert_eq!(advanced(evs), s.bytes);
    assert_eq!(items(evs).len() as u64, s.files);
    // Every file was read once (the hard link under its first name), and named while its
    // bytes were being read.
    assert_eq!(
        read(evs),
        [
            p("empty"),
            p("mid-link"),
            p("small"),
            p("sparse"),
            p("sub/big"),
            p("sub/cache/CACHEDIR.TAG"),
        ]
    );
    assert_eq!(bytes_while_reading(evs, &p("sub/big")), 5 << 20);
    assert_eq!(bytes_while_reading(evs, &p("mid-link")), 300_000);
    // A sparse file's holes count when it is finished.
    assert_eq!(bytes_while_reading(evs, &p("sparse")), 8 << 20);

    // Second snapshot with a parent: its totals first, the walk's exact ones later; only the
    // changed and the new file are read, unchanged ones advance without being named.
    std::fs::write(d.join("small"), b"hello, again").unwrap();
    std::fs::write(d.join("new"), bytes(6, 1000)).unwrap();
    let (r2, evs2) = snapshot(&repo, &options(&d, ParentChoice::Auto));
    let s2 = &r2.snapshot.summary;
    let evs2 = files_phase(&evs2);
    assert_eq!(r2.snapshot.parent, Some(r.id));
    let first = evs2.iter().find_map(|e| match e {
        Ev::Totals(b, n) => Some((*b, *n)),
        _ => None,
    });
    assert_eq!(first, Some((s.bytes, s.files)), "the parent's totals first");
    assert_eq!(last_totals(evs2), (s2.bytes, s2.files));
    assert_eq!(s2.bytes, s.bytes + 7 + 1000);
    assert_eq!(advanced(evs2), s2.bytes);
    assert_eq!(items(evs2).len() as u64, s2.files);
    assert_eq!(read(evs2), [p("new"), p("small")]);
    // The walk advances unchanged files from its own thread meanwhile, so the window holds
    // at least the file's bytes (the first snapshot, with no parent, checks them exactly).
    assert!(bytes_while_reading(evs2, &p("new")) >= 1000);
}

#[test]
fn prescan_counts_what_the_snapshot_records() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = repo(tmp.path());
    let d = tree(tmp.path());
    let stop = AtomicBool::new(false);
    let (bytes, files) = prescan(std::slice::from_ref(&d), &excludes(), &stop)
        .unwrap()
        .unwrap();
    let (r, evs) = snapshot(&repo, &options(&d, ParentChoice::None));
    assert_eq!(
        (bytes, files),
        (r.snapshot.summary.bytes, r.snapshot.summary.files)
    );
    // Without a parent the pre-scan runs; whichever announcement came last, it is exact.
    assert_eq!(last_totals(files_phase(&evs)), (bytes, files));
    // A stopped pre-scan gives up.
    let stop = AtomicBool::new(true);
    assert_eq!(prescan(&[d], &excludes(), &stop).unwrap(), None);
}

/// The bar itself, on a pseudo-terminal (util-linux `script`): total, percentage, ETA and the
/// name of the file being read; and nothing at all when stderr is not a terminal.
#[test]
fn snapshot_bar_shows_total_percentage_eta_and_the_file_being_read_only_on_a_terminal() {
    let e = common::Env::new();
    let d = e.path("data");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("weights.bin"), bytes(7, 48 << 20)).unwrap();
    // Not a terminal: no bar, no escape sequences.
    let out = e.run(&["snapshot", common::s(&d)]);
    assert_eq!(common::code(&out), 0, "{}", common::stderr(&out));
    assert_eq!(
        common::stderr(&out),
        "",
        "no progress output without a terminal"
    );
    if !common::has_tool("script") {
        eprintln!("skipping the terminal half: no `script`");
        return;
    }
    let line = format!(
        "stty cols 120 2>/dev/null; {} --repo {} snapshot --force {}",
        env!("CARGO_BIN_EXE_lifeboat"),
        e.repo.display(),
        d.display()
    );
    let out = std::process::Command::new("script")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("LIFEBOAT_NO_CONFIG", "1")
        .env("LIFEBOAT_PASSWORD", common::PASSWORD)
        .env("TERM", "xterm")
        .args(["-qec", &line, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let name = format!("{}", d.join("weights.bin").display());
    assert!(text.contains("48.00 MiB"), "the total is shown:\n{text}");
    assert!(text.contains('%'), "a percentage is shown:\n{text}");
    assert!(text.contains("eta"), "an ETA is shown:\n{text}");
    assert!(
        text.contains("/1 files"),
        "files are counted against their total:\n{text}"
    );
    assert!(
        text.contains(&name),
        "the file being read is named:\n{text}"
    );
}
