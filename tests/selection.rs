//! Which snapshot a command gets: snapshot groups (what a snapshot selected, and whether it is
//! an internal one such as `pre-update`), `latest` resolved within what the command needs,
//! `latest~N`, `SNAPSHOT:SUBPATH`, `snapshots --latest N`, retention per group, and the
//! `--host` (host profile) / `--hostname` (filter) split. Each test is named after the trap it
//! guards (docs/OPERATIONS.md, "Snapshot groups"; README.md, "Naming snapshots").

mod common;
mod docker_support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Env, code, s, stderr};
use docker_support::{IMAGE_1, IMAGE_2, Prefix, docker, docker_available, ensure_test_image};
use serde_json::Value;

fn tree(e: &Env, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let d = e.path(name);
    for (rel, body) in files {
        let p = d.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }
    d
}

/// `snapshot ARGS --json`: the new snapshot's full ID.
fn snap(e: &Env, args: &[&str]) -> String {
    let mut all = vec!["snapshot"];
    all.extend_from_slice(args);
    let v = e.ok_json(&all);
    v["id"].as_str().expect("id").to_string()
}

fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|s| s["id"].as_str().expect("id").to_string())
        .collect()
}

fn removed(v: &Value) -> Vec<String> {
    v["removed"]
        .as_array()
        .expect("removed")
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

/// The snapshot a `--dry-run` restore of `spec` would read (`restore --json` names it).
fn restored_by(e: &Env, spec: &str) -> String {
    let t = e.path("dry-target");
    let v = e.ok_json(&["restore", spec, "--target", s(&t), "--dry-run"]);
    v["snapshot"].as_str().expect("snapshot").to_string()
}

fn planned_paths(v: &Value) -> Vec<String> {
    v["report"]["plan"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| p["path"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Item 6: partial and internal snapshots are not `latest`, and retention applies per group
// ---------------------------------------------------------------------------------------------

/// The walkthrough's trap, on the real engine: a full snapshot of two containers and a path,
/// then `lifeboat update` of one container, which leaves a `pre-update` snapshot of that one
/// container. `show latest` and `restore latest --containers` must still take the full
/// snapshot, and `forget --keep-last 1` must keep both (they are different groups).
#[test]
fn pre_update_snapshot_of_one_container_is_not_latest_nor_ages_out_the_full_one() {
    if !docker_available() {
        return;
    }
    ensure_test_image();
    let px = Prefix::new();
    let e = Env::new();
    let data = tree(&e, "data", &[("conf.txt", "x\n")]);
    let (api, db) = (px.n("api"), px.n("db"));
    for n in [&api, &db] {
        docker(&[
            "run",
            "-d",
            "--name",
            n,
            "--stop-timeout",
            "1",
            IMAGE_1,
            "sh",
            "-c",
            "trap 'exit 0' TERM INT; while :; do sleep 1; done",
        ]);
    }
    let full = snap(
        &e,
        &[
            s(&data),
            "--container",
            &api,
            "--container",
            &db,
            "--no-images",
        ],
    );
    let state = e.path("state");
    let out = e.run(&[
        "update",
        &api,
        "--image",
        IMAGE_2,
        "--healthy-after",
        "1s",
        "--state-dir",
        s(&state),
    ]);
    assert_eq!(code(&out), 0, "update: {}", stderr(&out));
    let pre = e.ok_json(&["snapshots", "--tag", "pre-update"]);
    assert_eq!(ids(&pre).len(), 1, "{pre}");
    let pre = ids(&pre).remove(0);

    let shown = e.ok_json(&["show", "latest"]);
    assert_eq!(shown["snapshot"], full.as_str(), "show latest: {shown}");

    let f = e.ok_json(&["forget", "--keep-last", "1", "--dry-run"]);
    assert!(removed(&f).is_empty(), "keep-last 1 removed {f}");
    assert_eq!(f["groups"].as_array().map(Vec::len), Some(2), "{f}");

    // Both containers exist, so a dry run without --replace reports each as a conflict (exit 3).
    let out = e.run(&["--json", "restore", "latest", "--containers", "--dry-run"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&db) && text.contains(&api),
        "restore latest --containers must plan every container of the full snapshot: {text}"
    );
    // `--container db` takes the newest regular snapshot holding db: the full one.
    let out = e.run(&[
        "--json",
        "restore",
        "latest",
        "--container",
        &db,
        "--dry-run",
    ]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&db));
    // The pre-update snapshot is still reachable by ID (and `--tag pre-update`).
    let shown = e.ok_json(&["show", &pre[..8]]);
    assert_eq!(shown["snapshot"], pre.as_str(), "{shown}");
    // A later full snapshot compares against the full one, not the pre-update one.
    let again = e.ok_json(&[
        "snapshot",
        s(&data),
        "--container",
        &api,
        "--container",
        &db,
        "--no-images",
    ]);
    assert_eq!(again["parent"], full.as_str(), "{again}");
    for n in [&api, &db] {
        docker(&["rm", "-f", n]);
    }
}

/// The same trap without Docker: a snapshot tagged `pre-update` (what `update` makes) of part of
/// the data is internal: never the plain `latest`, never the parent of the job's snapshots,
/// and it is retained in its own group.
#[test]
fn internal_snapshot_is_not_latest_nor_parent_and_has_its_own_retention_group() {
    let e = Env::new();
    let a = tree(&e, "a", &[("f", "1")]);
    let b = tree(&e, "b", &[("g", "2")]);
    let full = snap(&e, &[s(&a), s(&b)]);
    let partial = snap(&e, &[s(&a), s(&b), "--tag", "pre-update"]);
    assert_eq!(restored_by(&e, "latest"), full);
    let ls = e.ok(&["ls", "latest"]);
    assert!(ls.contains("/b"), "{ls}");

    let f = e.ok_json(&["forget", "--keep-last", "1", "--dry-run"]);
    assert!(removed(&f).is_empty(), "{f}");
    let groups: Vec<&str> = f["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["group"].as_str().unwrap())
        .collect();
    assert_eq!(groups.len(), 2, "{f}");
    assert!(
        groups.iter().any(|g| g.ends_with("internal=pre-update")),
        "{groups:?}"
    );

    // The next regular snapshot's parent is the regular one.
    let next = e.ok_json(&["snapshot", s(&a), s(&b)]);
    assert_eq!(next["parent"], full.as_str(), "{next}");
    // --keep-daily 1: the day's snapshot of the regular group is the newest regular one.
    let f = e.ok_json(&["forget", "--keep-daily", "1", "--dry-run"]);
    assert_eq!(removed(&f), vec![full.clone()], "{f}");
    assert!(!removed(&f).contains(&partial));
}

/// Retention runs per group: the newest snapshot of each selection survives `--keep-last 1`,
/// and the newest snapshot of an internal group is kept even by a policy that matches none of
/// it (it is the way back of the last update).
#[test]
fn retention_is_per_selection_and_keeps_the_newest_internal_snapshot() {
    let e = Env::new();
    let a = tree(&e, "a", &[("f", "1")]);
    let b = tree(&e, "b", &[("g", "2")]);
    let a1 = snap(&e, &[s(&a), "--tag", "nightly"]);
    let a2 = snap(&e, &[s(&a), "--tag", "nightly"]);
    let b1 = snap(&e, &[s(&b), "--tag", "nightly"]);
    let p1 = snap(&e, &[s(&a), "--tag", "pre-update"]);
    let p2 = snap(&e, &[s(&a), "--tag", "pre-update"]);
    let f = e.ok_json(&[
        "forget",
        "--keep-tag",
        "nightly",
        "--keep-last",
        "1",
        "--dry-run",
    ]);
    assert_eq!(removed(&f), vec![p1.clone()], "{f}");
    let f = e.ok_json(&["forget", "--keep-tag", "nightly", "--dry-run"]);
    assert_eq!(removed(&f), vec![p1], "{f}");
    let _ = (a1, a2, b1, p2);
}

// ---------------------------------------------------------------------------------------------
// latest resolves within what the command needs; latest~N; this host first
// ---------------------------------------------------------------------------------------------

#[test]
fn latest_takes_the_newest_snapshot_with_what_the_command_needs() {
    let e = Env::new();
    let a = tree(&e, "a", &[("f", "1")]);
    let root = tree(
        &e,
        "hostroot",
        &[("etc/ssh/sshd_config", "PermitRootLogin no\n")],
    );
    let with_host = snap(
        &e,
        &["--host", "--host-root", s(&root), "--no-host-commands"],
    );
    let files = snap(&e, &[s(&a)]);
    // `restore --host` needs a host profile: the older snapshot.
    let out = e.run(&[
        "--json",
        "restore",
        "latest",
        "--host",
        "--host-root",
        s(&root),
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // `restore --target` takes the newest with files.
    assert_eq!(restored_by(&e, "latest"), files);
    // `show latest` needs a deployment: there is none, and it says what it looked for.
    let out = e.run(&["show", "latest"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("deployment"), "{}", stderr(&out));
    let _ = with_host;
}

#[test]
fn latest_tilde_n_steps_back_within_the_group() {
    let e = Env::new();
    let a = tree(&e, "a", &[("f", "1")]);
    let b = tree(&e, "b", &[("g", "2")]);
    let a1 = snap(&e, &[s(&a)]);
    let a2 = snap(&e, &[s(&a)]);
    let _b1 = snap(&e, &[s(&b)]);
    let a3 = snap(&e, &[s(&a)]);
    let _b2 = snap(&e, &[s(&b)]);
    // latest is b2; latest~1 is the b snapshot before it (b1); over a's group by ID.
    let latest_a = &a3[..8];
    assert_eq!(restored_by(&e, &format!("{latest_a}~1")), a2);
    assert_eq!(restored_by(&e, &format!("{latest_a}~2")), a1);
    let b_prev = restored_by(&e, "latest~1");
    assert_eq!(b_prev, _b1);
    let out = e.run(&[
        "restore",
        "latest~2",
        "--target",
        s(&e.path("t")),
        "--dry-run",
    ]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("latest~2"), "{}", stderr(&out));
    let out = e.run(&["ls", "latest~x"]);
    assert_ne!(code(&out), 0);
    assert!(stderr(&out).contains("not a snapshot"), "{}", stderr(&out));
}

#[test]
fn latest_prefers_this_host_and_refuses_to_guess_between_other_hosts() {
    let e = Env::new();
    let a = tree(&e, "a", &[("f", "1")]);
    let mine = snap(&e, &[s(&a)]);
    let _other = snap(&e, &[s(&a), "--hostname", "vm-a"]);
    assert_eq!(restored_by(&e, "latest"), mine);
    let t = e.path("t");
    let v = e.ok_json(&[
        "restore",
        "latest",
        "--hostname",
        "vm-a",
        "--target",
        s(&t),
        "--dry-run",
    ]);
    assert_eq!(v["snapshot"], _other.as_str());

    // A new machine: only other hosts' snapshots. One host: it is taken; two: name one.
    let e2 = Env::new();
    let a = tree(&e2, "a", &[("f", "1")]);
    let vm_a = snap(&e2, &[s(&a), "--hostname", "vm-a"]);
    assert_eq!(restored_by(&e2, "latest"), vm_a);
    snap(&e2, &[s(&a), "--hostname", "vm-b"]);
    let out = e2.run(&["restore", "latest", "--target", s(&t), "--dry-run"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("vm-a") && stderr(&out).contains("--hostname"),
        "{}",
        stderr(&out)
    );
}

// ---------------------------------------------------------------------------------------------
// SNAPSHOT:SUBPATH
// ---------------------------------------------------------------------------------------------

#[test]
fn snapshot_subpath_restores_lists_and_diffs_that_subtree_as_the_root() {
    let e = Env::new();
    let src = tree(
        &e,
        "srv",
        &[
            ("models/m1.bin", "weights-1"),
            ("models/sub/t.json", "{}"),
            ("other/o.txt", "o"),
        ],
    );
    let models = src.join("models");
    let id1 = snap(&e, &[s(&src)]);
    std::fs::write(models.join("m2.bin"), "weights-2").unwrap();
    let id2 = snap(&e, &[s(&src)]);
    let sub = s(&models).to_string();

    // restore ID:SUB puts the subtree's contents directly into the target.
    let t = e.path("restored");
    e.ok(&[
        "restore",
        &format!("{}:{sub}", &id1[..8]),
        "--target",
        s(&t),
    ]);
    assert_eq!(
        std::fs::read_to_string(t.join("m1.bin")).unwrap(),
        "weights-1"
    );
    assert_eq!(std::fs::read_to_string(t.join("sub/t.json")).unwrap(), "{}");
    assert!(!t.join("o.txt").exists() && !t.join("other").exists());
    assert!(!t.join(sub.trim_start_matches('/')).exists());
    // --include is relative to the subtree.
    let v = e.ok_json(&[
        "restore",
        &format!("latest:{sub}"),
        "--target",
        s(&e.path("t2")),
        "--include",
        "/sub",
        "--dry-run",
    ]);
    let p = planned_paths(&v);
    assert!(p.iter().any(|x| x == "/sub/t.json"), "{p:?}");
    assert!(!p.iter().any(|x| x.contains("m1.bin")), "{p:?}");

    // ls ID:SUB lists the subtree with paths from its root.
    let ls = e.ok(&["ls", &format!("{}:{sub}", &id2[..8]), "-R"]);
    let lines: Vec<&str> = ls.lines().collect();
    assert!(
        lines.contains(&"/m2.bin") && lines.contains(&"/sub/t.json"),
        "{ls}"
    );
    assert!(!ls.contains("o.txt") && !ls.contains(&sub), "{ls}");

    // diff OLD:SUB NEW:SUB compares the subtrees.
    let d = e.ok_json(&[
        "diff",
        &format!("{}:{sub}", &id1[..8]),
        &format!("latest:{sub}"),
    ]);
    let changes: Vec<String> = d["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{} {}",
                c["change"].as_str().unwrap(),
                c["path"].as_str().unwrap()
            )
        })
        .collect();
    assert!(
        changes.contains(&"added /m2.bin".to_string()),
        "{changes:?}"
    );

    // A subpath that is not in the snapshot, or not absolute, is refused.
    let out = e.run(&["ls", &format!("{}:/nope", &id1[..8])]);
    assert_ne!(code(&out), 0);
    assert!(stderr(&out).contains("/nope"), "{}", stderr(&out));
    let out = e.run(&["ls", &format!("{}:rel", &id1[..8])]);
    assert_ne!(code(&out), 0);
    // Commands that take a whole snapshot say so.
    let out = e.run(&["show", &format!("{}:{sub}", &id1[..8])]);
    assert_ne!(code(&out), 0);
    assert!(stderr(&out).contains("whole snapshot"), "{}", stderr(&out));
}

/// A hard link inside the subtree whose first name lies outside it is restored as a file.
#[test]
fn snapshot_subpath_restore_keeps_hard_links_whose_first_name_is_outside() {
    let e = Env::new();
    let src = tree(&e, "src", &[("a/first", "linked data")]);
    std::fs::create_dir_all(src.join("b")).unwrap();
    std::fs::hard_link(src.join("a/first"), src.join("b/second")).unwrap();
    let id = snap(&e, &[s(&src)]);
    let t = e.path("t");
    e.ok(&[
        "restore",
        &format!("{}:{}", &id[..8], s(&src.join("b"))),
        "--target",
        s(&t),
    ]);
    assert_eq!(
        std::fs::read_to_string(t.join("second")).unwrap(),
        "linked data"
    );
}

// ---------------------------------------------------------------------------------------------
// snapshots --latest N
// ---------------------------------------------------------------------------------------------

#[test]
fn snapshots_latest_n_lists_the_newest_of_each_group() {
    let e = Env::new();
    let a = tree(&e, "a", &[("f", "1")]);
    let b = tree(&e, "b", &[("g", "2")]);
    let _a1 = snap(&e, &[s(&a)]);
    let a2 = snap(&e, &[s(&a)]);
    let b1 = snap(&e, &[s(&b)]);
    let a3 = snap(&e, &[s(&a)]);
    let p = snap(&e, &[s(&a), "--tag", "pre-update"]);
    let v = e.ok_json(&["snapshots", "--latest", "1"]);
    assert_eq!(ids(&v), vec![b1.clone(), a3.clone(), p.clone()], "{v}");
    let v = e.ok_json(&["snapshots", "--latest", "2"]);
    assert_eq!(ids(&v), vec![a2, b1, a3, p], "{v}");
    assert!(v[0]["group"].as_str().unwrap().contains("paths="), "{v}");
    let human = e.ok(&["snapshots", "--latest", "1"]);
    assert!(human.contains("3 snapshot(s)"), "{human}");
}

// ---------------------------------------------------------------------------------------------
// Item 5 and 13: a damaged newest snapshot, an empty repository
// ---------------------------------------------------------------------------------------------

fn snapshot_file(e: &Env, id: &str) -> PathBuf {
    let p = e.repo.join("snapshots").join(id);
    assert!(p.exists(), "{}", p.display());
    p
}

fn damage(p: &Path) {
    let mut b = std::fs::read(p).unwrap();
    let n = b.len();
    b[n / 2] ^= 0x40;
    std::fs::write(p, b).unwrap();
}

#[test]
fn restore_latest_with_a_damaged_snapshot_is_an_integrity_error_naming_it() {
    let e = Env::new();
    let a = tree(&e, "a", &[("f", "1")]);
    let old = snap(&e, &[s(&a)]);
    let newer = snap(&e, &[s(&a)]);
    damage(&snapshot_file(&e, &newer));
    let t = e.path("t");
    let out = e.run(&["restore", "latest", "--target", s(&t)]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stderr(&out).contains(&newer[..8]), "{}", stderr(&out));
    assert!(!t.exists(), "nothing restored");
    // By ID prefix: integrity too.
    let out = e.run(&["restore", &newer[..8], "--target", s(&t)]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stderr(&out).contains(&newer[..8]), "{}", stderr(&out));
    // The older one still restores by ID, and the damaged one can be forgotten by ID.
    assert_eq!(restored_by(&e, &old[..8]), old);
    e.ok(&["forget", &newer[..8]]);
    assert_eq!(restored_by(&e, "latest"), old);
}

#[test]
fn restore_latest_on_an_empty_repository_says_there_are_no_snapshots_yet() {
    let e = Env::new();
    let out = e.run(&["restore", "latest", "--target", s(&e.path("t"))]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("no snapshots yet"), "{err}");
    assert!(err.contains("lifeboat snapshot"), "{err}");
    assert!(!err.contains("no snapshot matches"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Item 11: --host is the host profile, --hostname the filter
// ---------------------------------------------------------------------------------------------

#[test]
fn hostname_is_the_filter_and_host_only_the_profile() {
    let e = Env::new();
    let a = tree(&e, "a", &[("f", "1")]);
    let vm = snap(&e, &[s(&a), "--hostname", "vm-1"]);
    snap(&e, &[s(&a)]);
    let v = e.ok_json(&["snapshots", "--hostname", "vm-1"]);
    assert_eq!(ids(&v), vec![vm.clone()]);
    let f = e.ok_json(&[
        "forget",
        "--hostname",
        "vm-1",
        "--keep-last",
        "1",
        "--dry-run",
    ]);
    assert_eq!(f["groups"].as_array().map(Vec::len), Some(1), "{f}");
    for cmd in [
        &["snapshots", "--host", "vm-1"][..],
        &["forget", "--host", "vm-1", "--keep-last", "1"],
    ] {
        let out = e.run(cmd);
        assert_eq!(code(&out), 2, "{cmd:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("--hostname vm-1"),
            "{cmd:?}: {}",
            stderr(&out)
        );
    }
    // restic's `--host NAME` habit on snapshot: explained, not read as a path.
    let out = e.run(&["snapshot", "--host", "vm", s(&a)]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("--hostname vm") && err.contains("takes no value"),
        "{err}"
    );
    let out = e.run(&["restore", "--host", "vm", "--target", s(&e.path("t"))]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("--hostname vm"), "{}", stderr(&out));
    // A relative path that exists is still a path.
    let out = e
        .cmd()
        .current_dir(e.dir.path())
        .args([
            "snapshot",
            "--host",
            "--host-root",
            s(&e.path("a")),
            "--no-host-commands",
            "a",
        ])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let _ = Duration::ZERO;
}
