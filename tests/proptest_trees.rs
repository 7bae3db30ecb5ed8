//! Property test: random small trees (nested directories, Unicode names, empty and random files,
//! symlinks, hard links, random permission bits and nanosecond times) survive snapshot and
//! restore through the real binary, compared field by field, and a second restore over the
//! result changes nothing.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use common::{
    Compare, Env, Rng, compare_trees, is_root, now_ns, restored_path, s, scan, set_times,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

#[derive(Debug, Clone)]
enum Item {
    File {
        len: usize,
        seed: u64,
        compressible: bool,
        mode: u32,
        mtime: i64,
    },
    Symlink {
        target: String,
        mtime: i64,
    },
    /// Another name for an earlier file of the tree (the `pick`-th, modulo); an empty file
    /// when there is none yet.
    HardLink {
        pick: usize,
    },
    Dir {
        entries: BTreeMap<String, Item>,
        mode: u32,
        mtime: i64,
    },
}

fn name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 ._~äöüßñ日本語€🚀-]{1,12}".prop_filter("not . or ..", |n| n != "." && n != "..")
}

/// Start of the atimes given to objects: 2099, after every generated mtime.
const ATIME_BASE: i64 = 4_100_000_000 * 1_000_000_000;

/// Nanoseconds, from before 1970 to 2096, with a random sub-second part.
fn mtime() -> impl Strategy<Value = i64> {
    (-2_000_000_000i64..4_000_000_000, 0i64..1_000_000_000)
        .prop_map(|(s, ns)| s * 1_000_000_000 + ns)
}

fn file() -> impl Strategy<Value = Item> {
    let len = prop_oneof![
        2 => Just(0usize),
        3 => 1usize..4096,
        2 => 4096usize..300_000,
    ];
    (len, any::<u64>(), any::<bool>(), 0u32..0o10000, mtime()).prop_map(
        |(len, seed, compressible, mode, mtime)| Item::File {
            len,
            seed,
            compressible,
            mode,
            mtime,
        },
    )
}

fn leaf() -> impl Strategy<Value = Item> {
    prop_oneof![
        6 => file(),
        2 => ("(/?[a-z.]{1,8}){1,3}", mtime())
            .prop_map(|(target, mtime)| Item::Symlink { target, mtime }),
        2 => any::<usize>().prop_map(|pick| Item::HardLink { pick }),
        1 => (0u32..0o10000, mtime()).prop_map(|(mode, mtime)| Item::Dir {
            entries: BTreeMap::new(),
            mode,
            mtime,
        }),
    ]
}

fn item() -> impl Strategy<Value = Item> {
    leaf().prop_recursive(4, 40, 6, |inner| {
        (
            proptest::collection::btree_map(name(), inner, 0..6),
            0u32..0o10000,
            mtime(),
        )
            .prop_map(|(entries, mode, mtime)| Item::Dir {
                entries,
                mode,
                mtime,
            })
    })
}

fn top() -> impl Strategy<Value = BTreeMap<String, Item>> {
    proptest::collection::btree_map(name(), item(), 1..8)
}

fn content(len: usize, seed: u64, compressible: bool) -> Vec<u8> {
    let mut r = Rng(seed);
    if compressible {
        let alphabet = b"model weights and config ";
        (0..len)
            .map(|_| alphabet[(r.next_u64() % alphabet.len() as u64) as usize])
            .collect()
    } else {
        r.bytes(len)
    }
}

struct Builder {
    root: bool,
    files: Vec<PathBuf>,
    atime: i64,
}

impl Builder {
    fn next_atime(&mut self) -> i64 {
        self.atime += 1_000_000_007;
        self.atime
    }

    fn build(&mut self, dir: &Path, entries: &BTreeMap<String, Item>) {
        for (name, item) in entries {
            let p = dir.join(name);
            match item {
                Item::File {
                    len,
                    seed,
                    compressible,
                    mode,
                    mtime,
                } => {
                    std::fs::write(&p, content(*len, *seed, *compressible)).unwrap();
                    // Without root, files must stay readable for the snapshot to read them.
                    let mode = if self.root { *mode } else { mode | 0o400 };
                    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
                    let a = self.next_atime();
                    set_times(&p, a, *mtime);
                    self.files.push(p);
                }
                Item::Symlink { target, mtime } => {
                    std::os::unix::fs::symlink(target, &p).unwrap();
                    let a = self.next_atime();
                    set_times(&p, a, *mtime);
                }
                Item::HardLink { pick } => {
                    if self.files.is_empty() {
                        std::fs::write(&p, b"").unwrap();
                        let a = self.next_atime();
                        set_times(&p, a, 1_234_567_890_123_456_789);
                        self.files.push(p);
                    } else {
                        let first = &self.files[pick % self.files.len()];
                        std::fs::hard_link(first, &p).unwrap();
                    }
                }
                Item::Dir {
                    entries,
                    mode,
                    mtime,
                } => {
                    std::fs::create_dir(&p).unwrap();
                    self.build(&p, entries);
                    // Directories stay writable and traversable (for the test's own cleanup).
                    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode | 0o700))
                        .unwrap();
                    let a = self.next_atime();
                    set_times(&p, a, *mtime);
                }
            }
        }
    }
}

fn count(entries: &BTreeMap<String, Item>) -> usize {
    entries
        .values()
        .map(|i| match i {
            Item::Dir { entries, .. } => 1 + count(entries),
            _ => 1,
        })
        .sum()
}

#[test]
fn random_trees_restore_exactly() {
    let e = Env::new();
    let case = AtomicU64::new(0);
    let root = is_root();
    let mut runner = TestRunner::new(Config {
        cases: 24,
        max_shrink_iters: 64,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&top(), |tree| {
        let n = case.fetch_add(1, Ordering::Relaxed);
        let base = e.path(&format!("case-{n}"));
        let src = base.join("tree");
        std::fs::create_dir_all(&src).unwrap();
        let mut b = Builder {
            root,
            files: Vec::new(),
            // Later than every generated mtime and than now, so that (with `relatime`)
            // listing a directory never moves its atime.
            atime: ATIME_BASE.max(now_ns() + 2 * 86_400 * 1_000_000_000),
        };
        b.build(&src, &tree);
        let a = b.next_atime();
        set_times(&src, a, 1_700_000_000_000_000_001);
        let orig = scan(&src);
        prop_assert_eq!(
            orig.len(),
            count(&tree) + 1,
            "the builder made every object"
        );

        let id = e.snapshot(&src);
        let target = base.join("out");
        let v = e.ok_json(&["restore", &id, "--target", s(&target)]);
        prop_assert_eq!(&v["report"]["errors"], &serde_json::json!([]));
        prop_assert_eq!(&v["report"]["warnings"], &serde_json::json!([]));
        let back = restored_path(&target, &src);
        let rest = scan(&back);
        let bad = compare_trees(&src, &orig, &back, &rest, Compare::default());
        if !bad.is_empty() {
            return Err(TestCaseError::fail(format!(
                "case {n} ({}): restored tree differs:\n  {}",
                base.display(),
                bad.join("\n  ")
            )));
        }
        // Restoring again over the result finds every file unchanged and changes nothing.
        let v = e.ok_json(&["restore", &id, "--target", s(&target)]);
        prop_assert_eq!(&v["report"]["files_written"], &serde_json::json!(0));
        prop_assert_eq!(&v["report"]["errors"], &serde_json::json!([]));
        let rest = scan(&back);
        let bad = compare_trees(&src, &orig, &back, &rest, Compare::default());
        if !bad.is_empty() {
            return Err(TestCaseError::fail(format!(
                "case {n} ({}): second restore left a different tree:\n  {}",
                base.display(),
                bad.join("\n  ")
            )));
        }
        std::fs::remove_dir_all(&base).unwrap();
        Ok(())
    });
    if let Err(err) = result {
        panic!("{err}");
    }
    // Everything the cases stored is intact.
    e.ok(&["verify", "--read-data"]);
}
