//! Regression tests for SECURITY-TESTS.md case 22 (issue 10, item 2): clocks disagree between
//! hosts, and locks can be misjudged, yet no prune may delete data that a snapshot which
//! began before it could reference.
//!
//! The snapshot here runs through the library and is held still, after it loaded the index
//! and before it reads any file, by a deployment source that waits for the test. Its lock is
//! then removed (as a host whose clock runs ahead used to have it removed, or `unlock
//! --remove-all` does), and prunes run while it waits.

mod common;
mod security_support;

use std::path::Path;
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, Sender, channel};

use common::{Env, code, stderr};
use lifeboat::Id;
use lifeboat::ops::snapshot::{ParentChoice, SnapshotOptions, SnapshotResult, create_with};
use lifeboat::repo::IndexedRepo;
use lifeboat::snapshot::deployment::{Deployment, DeploymentSource};
use lifeboat::snapshot::entry::{Entry, Kind};
use lifeboat::snapshot::manifest::Summary;
use lifeboat::snapshot::pipeline::Session;
use security_support::*;

/// A deployment source that says when the snapshot reached it and waits to be let go.
struct Pause {
    reached: Mutex<Sender<()>>,
    go: Mutex<Receiver<()>>,
}

impl DeploymentSource for Pause {
    fn emit(
        &self,
        s: &Session<'_, '_>,
        _parent: Option<&lifeboat::snapshot::deployment::Previous<'_>>,
        _repo: &IndexedRepo,
        _readers: usize,
    ) -> lifeboat::Result<()> {
        self.reached.lock().unwrap().send(()).unwrap();
        self.go.lock().unwrap().recv().unwrap();
        s.push(Entry::new(b"/".to_vec(), Kind::Dir));
        Ok(())
    }

    fn finish(&self, tree: Vec<Id>, summary: Summary) -> Deployment {
        Deployment {
            tree,
            summary,
            ..Deployment::default()
        }
    }
}

/// A repository whose only data is that of a forgotten snapshot of `src` (so no snapshot
/// references it, yet a new snapshot of `src` deduplicates against all of it).
fn repository_with_forgotten_data(env: &Env) -> std::path::PathBuf {
    let src = env.path("src");
    write_tree(
        &src,
        &[
            ("model.bin", &random(7, 3 << 20)),
            ("config.json", b"{\"layers\": 12}".as_slice()),
        ],
    );
    let first = env.snapshot(&src);
    env.ok(&["forget", &first]);
    src
}

/// Take a snapshot of `src` that pauses after loading the index; while it waits, remove its
/// lock and run `during`. Returns the snapshot's result.
fn snapshot_with_prunes_meanwhile(
    env: &Env,
    src: &Path,
    during: impl FnOnce(),
) -> lifeboat::Result<SnapshotResult> {
    let repo = open(env);
    let (reached_tx, reached) = channel();
    let (go, go_rx) = channel();
    let pause = Pause {
        reached: Mutex::new(reached_tx),
        go: Mutex::new(go_rx),
    };
    let opts = SnapshotOptions {
        paths: vec![src.to_path_buf()],
        parent: ParentChoice::None,
        ..SnapshotOptions::default()
    };
    std::thread::scope(|scope| {
        let running =
            scope.spawn(|| create_with(&repo, &opts, Some(&pause), &lifeboat::progress::Silent));
        reached.recv().expect("the snapshot reached its pause");
        // Whatever happens meanwhile, the snapshot is let go, so a failure cannot hang the test.
        let meanwhile = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let locks = lock_files(env);
            assert_eq!(locks.len(), 1, "the running snapshot holds one lock");
            std::fs::remove_file(&locks[0]).unwrap();
            during();
        }));
        go.send(()).unwrap();
        let result = running.join().expect("snapshot thread");
        if let Err(panic) = meanwhile {
            std::panic::resume_unwind(panic);
        }
        result
    })
}

fn restores_exactly(env: &Env, id: &str, src: &Path) {
    let target = env.path(&format!("restore-{}", &id[..8]));
    let o = restore(env, id, &target);
    assert_eq!(code(&o), 0, "restore of {id}: {}", stderr(&o));
    let names = ["model.bin", "config.json"];
    assert_eq!(
        exact_restored(src, &target, &names),
        names,
        "{}",
        stderr(&o)
    );
}

/// A prune entering while a snapshot runs only marks the data the snapshot reuses; the
/// snapshot keeps it at commit, and it survives every later prune.
#[test]
fn prune_during_a_snapshot_never_loses_the_data_it_deduplicated_against() {
    let env = Env::new();
    let src = repository_with_forgotten_data(&env);
    let packs_before = pack_files(&env);
    let result = snapshot_with_prunes_meanwhile(&env, &src, || {
        env.ok(&["prune"]);
        env.ok(&["prune"]);
        for p in &packs_before {
            assert!(
                p.exists(),
                "{} deleted within the grace period",
                p.display()
            );
        }
    })
    .expect("the snapshot completes");
    let id = result.id.to_hex();
    restores_exactly(&env, &id, &src);
    env.ok(&["verify", "--read-data"]);
    // Later prunes, with no grace left, keep everything the snapshot needs.
    env.ok(&["prune", "--grace", "0s"]);
    env.ok(&["prune", "--grace", "0s"]);
    restores_exactly(&env, &id, &src);
    env.ok(&["verify", "--read-data"]);
}

/// With the grace period waived, a second prune deletes the marked data while the snapshot
/// still runs: the snapshot must then fail, naming the cause, and save nothing.
#[test]
fn snapshot_fails_instead_of_saving_references_to_data_a_prune_deleted() {
    let env = Env::new();
    let src = repository_with_forgotten_data(&env);
    let result = snapshot_with_prunes_meanwhile(&env, &src, || {
        env.ok(&["prune", "--grace", "0s"]);
        env.ok(&["prune", "--grace", "0s"]);
    });
    let err = result.expect_err("a snapshot over deleted data must not be saved");
    assert!(
        err.to_string().contains("deleted by a prune"),
        "unclear error: {err}"
    );
    assert!(snapshot_files(&env).is_empty(), "a snapshot was saved");
    // The next snapshot writes the data again and is whole.
    let id = env.snapshot(&src);
    restores_exactly(&env, &id, &src);
}

/// A lock refreshed "in the future" by a host whose clock runs ahead keeps prune out, and
/// `unlock` leaves it alone.
#[test]
fn lock_refreshed_in_the_future_by_another_host_keeps_prune_out() {
    let env = Env::new();
    let src = repository_with_forgotten_data(&env);
    let _ = src;
    let ahead = (chrono::Utc::now() + chrono::Duration::seconds(60))
        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let lock = serde_json::json!({
        "kind": "shared", "hostname": "clock-runs-ahead", "pid": 4242,
        "created": ahead, "refreshed": ahead, "command": "snapshot",
    });
    let name = Id::random().to_hex();
    let path = env.repo.join("locks").join(&name);
    std::fs::write(&path, serde_json::to_vec(&lock).unwrap()).unwrap();
    let packs = pack_files(&env);
    let o = env.run(&["prune"]);
    assert_fails(&o, 11, &["clock-runs-ahead"], "prune under a live lock");
    assert!(path.exists(), "the live lock was removed");
    assert_eq!(
        pack_files(&env),
        packs,
        "prune changed packs while locked out"
    );
    env.ok(&["unlock"]);
    assert!(path.exists(), "unlock removed a live lock");
}
