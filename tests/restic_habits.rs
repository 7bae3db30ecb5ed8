//! restic habits that must just work: `key list` marking the key in use, `key add` asking for
//! the new password, `find` across snapshots, `stats` in restic's modes, and `tag`.

mod common;
mod security_support;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use common::{Env, PASSWORD, code, has_tool, lifeboat_cmd, s, stderr};
use serde_json::Value;

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

const CHEAP_KDF: [&str; 6] = [
    "--kdf-memory",
    "8",
    "--kdf-iterations",
    "1",
    "--kdf-parallelism",
    "1",
];

/// The binary with `--repo` and `password` in LIFEBOAT_PASSWORD, stdin closed (no terminal).
fn with_password(e: &Env, password: &str, args: &[&str]) -> Output {
    let mut c = lifeboat_cmd();
    c.env("LIFEBOAT_PASSWORD", password)
        .arg("--repo")
        .arg(&e.repo)
        .args(args)
        .stdin(Stdio::null());
    c.output().expect("run lifeboat")
}

fn key_files(e: &Env) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(e.repo.join("keys"))
        .unwrap()
        .map(|f| f.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn add_key_from_file(e: &Env, new_pw: &str) -> String {
    let f = e.path("new-password");
    std::fs::write(&f, format!("{new_pw}\n")).unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut args = vec!["key", "add", "--new-password-file", s(&f)];
    args.extend_from_slice(&CHEAP_KDF);
    e.ok_json(&args)["added"].as_str().unwrap().to_string()
}

#[test]
fn key_list_marks_the_key_the_password_opens() {
    let e = Env::new();
    let first = key_files(&e).remove(0);
    let second = add_key_from_file(&e, "second password");
    for (pw, current) in [(PASSWORD, &first), ("second password", &second)] {
        let out = with_password(&e, pw, &["--json", "key", "list"]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let keys: Value = serde_json::from_str(&stdout(&out)).unwrap();
        let marked: Vec<&str> = keys
            .as_array()
            .unwrap()
            .iter()
            .filter(|k| k["current"] == true)
            .map(|k| k["id"].as_str().unwrap())
            .collect();
        assert_eq!(marked, [current.as_str()], "{keys}");
        assert!(
            keys.as_array()
                .unwrap()
                .iter()
                .all(|k| k["current"].is_boolean()),
            "every key says whether it is current: {keys}"
        );
        // The table marks the same key with `*`.
        let out = with_password(&e, pw, &["key", "list"]);
        let text = stdout(&out);
        let starred: Vec<&str> = text.lines().filter(|l| l.starts_with('*')).collect();
        assert_eq!(starred.len(), 1, "{text}");
        assert!(starred[0].contains(&current[..8]), "{text}");
    }
}

#[test]
fn key_add_never_reuses_the_repository_password_as_the_new_one() {
    let e = Env::new();
    let before = key_files(&e);
    // LIFEBOAT_PASSWORD opens the repository; without a terminal and without
    // --new-password-file there is no new password, and that is a usage error.
    let mut args = vec!["key", "add"];
    args.extend_from_slice(&CHEAP_KDF);
    let out = with_password(&e, PASSWORD, &args);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--new-password-file"),
        "{}",
        stderr(&out)
    );
    // The same with --password-file.
    let pwf = e.path("pw");
    std::fs::write(&pwf, format!("{PASSWORD}\n")).unwrap();
    let mut c = lifeboat_cmd();
    c.arg("--repo")
        .arg(&e.repo)
        .arg("--password-file")
        .arg(&pwf)
        .args(&args)
        .stdin(Stdio::null());
    let out = c.output().unwrap();
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert_eq!(key_files(&e), before, "no key file was added");
}

/// `lifeboat ARGS` on a pseudo-terminal (util-linux `script`), typing `input`.
fn on_terminal(e: &Env, args: &[&str], input: &str) -> Option<Output> {
    if !has_tool("script") {
        eprintln!("skipping: no `script` to provide a terminal");
        return None;
    }
    let mut line = format!(
        "{} --repo {}",
        env!("CARGO_BIN_EXE_lifeboat"),
        e.repo.display()
    );
    for a in args {
        line.push(' ');
        line.push_str(a);
    }
    let mut c = Command::new("script");
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("LIFEBOAT_") {
            c.env_remove(&k);
        }
    }
    c.env("LIFEBOAT_NO_CONFIG", "1")
        .env("LIFEBOAT_PASSWORD", PASSWORD)
        .args(["-qec", &line, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    Some(child.wait_with_output().unwrap())
}

#[test]
fn key_add_on_a_terminal_asks_for_the_new_password_twice() {
    let e = Env::new();
    let mut args = vec!["key", "add"];
    args.extend_from_slice(&CHEAP_KDF);
    let Some(out) = on_terminal(&e, &args, "typed new pw\ntyped new pw\n") else {
        return;
    };
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("new password:"), "{text}");
    assert!(text.contains("repeat the new password:"), "{text}");
    assert_eq!(key_files(&e).len(), 2);
    // The typed password opens the repository, as the key in use.
    let out = with_password(&e, "typed new pw", &["--json", "key", "list"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let keys: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        keys.as_array()
            .unwrap()
            .iter()
            .filter(|k| k["current"] == true)
            .count(),
        1
    );
    // Two different entries are refused and add nothing.
    let Some(out) = on_terminal(&e, &args, "one\nanother\n") else {
        return;
    };
    assert_ne!(code(&out), 0);
    assert!(stdout(&out).contains("differ"), "{}", stdout(&out));
    assert_eq!(key_files(&e).len(), 2);
}

// ---------------------------------------------------------------------------------------------
// tag
// ---------------------------------------------------------------------------------------------

fn tree(e: &Env, name: &str) -> PathBuf {
    let d = e.path(name);
    std::fs::create_dir_all(d.join("sub")).unwrap();
    std::fs::write(d.join("a.txt"), b"alpha\n").unwrap();
    std::fs::write(d.join("sub/b.bin"), common::random_bytes(7, 100_000)).unwrap();
    d
}

fn snapshot_files(e: &Env) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(e.repo.join("snapshots"))
        .unwrap()
        .map(|f| f.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// `snapshots --json` as (id, tags).
fn listed(e: &Env) -> Vec<(String, Vec<String>)> {
    e.ok_json(&["snapshots"])
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().to_string(),
                s["tags"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t.as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect()
}

#[test]
fn tag_rewrites_the_snapshot_under_a_new_id_that_records_the_original() {
    let e = Env::new();
    let src = tree(&e, "data");
    let first = e.snapshot(&src);
    let v = e.ok_json(&["tag", "--add", "keep", "--add", "gpu", &first[..8]]);
    let changed = v["changed"].as_array().unwrap();
    assert_eq!(changed.len(), 1, "{v}");
    let second = changed[0]["new"].as_str().unwrap().to_string();
    assert_eq!(changed[0]["old"], first.as_str());
    assert_eq!(changed[0]["original"], first.as_str());
    assert_ne!(second, first);
    assert_eq!(
        snapshot_files(&e),
        [second.as_str()],
        "the old file is gone"
    );
    assert_eq!(
        listed(&e),
        [(second.clone(), vec!["keep".into(), "gpu".into()])]
    );

    // A second change keeps the first ID as the original; remove and add in one go.
    let v = e.ok_json(&["tag", "--remove", "keep", "--add", "weekly", "latest"]);
    let third = v["changed"][0]["new"].as_str().unwrap().to_string();
    assert_eq!(v["changed"][0]["original"], first.as_str());
    assert_eq!(
        listed(&e),
        [(third.clone(), vec!["gpu".into(), "weekly".into()])]
    );

    // Nothing to change: the snapshot keeps its ID.
    let v = e.ok_json(&["tag", "--add", "gpu", &third[..8]]);
    assert_eq!(v["changed"].as_array().unwrap().len(), 0);
    assert_eq!(v["unchanged"][0], third.as_str());
    assert_eq!(snapshot_files(&e), [third.as_str()]);

    // --set replaces; --set '' clears.
    e.ok(&["tag", "--set", "only", &third[..8]]);
    assert_eq!(listed(&e)[0].1, ["only"]);
    e.ok(&["tag", "--set", "", "latest"]);
    assert!(listed(&e)[0].1.is_empty());

    // The rewritten snapshot is whole: its files restore and verify.
    let target = e.path("restored");
    e.ok(&["restore", "latest", "--target", s(&target)]);
    assert!(common::same_content(
        &src.join("sub/b.bin"),
        &common::restored_path(&target, &src.join("sub/b.bin"))
    ));
    e.ok(&["verify", "--read-data"]);
}

#[test]
fn tag_without_snapshots_changes_every_snapshot_the_filters_match() {
    let e = Env::new();
    let src = tree(&e, "data");
    e.ok(&["snapshot", "--hostname", "alpha", s(&src)]);
    e.ok(&["snapshot", "--hostname", "beta", s(&src)]);
    e.ok(&["snapshot", "--hostname", "beta", "--tag", "x", s(&src)]);
    let v = e.ok_json(&["tag", "--hostname", "beta", "--add", "moved"]);
    assert_eq!(v["changed"].as_array().unwrap().len(), 2, "{v}");
    let hosts_tags: Vec<(String, Vec<String>)> = e
        .ok_json(&["snapshots"])
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["hostname"].as_str().unwrap().to_string(),
                serde_json::from_value(s["tags"].clone()).unwrap(),
            )
        })
        .collect();
    assert_eq!(
        hosts_tags,
        [
            ("alpha".into(), vec![]),
            ("beta".into(), vec!["moved".to_string()]),
            ("beta".into(), vec!["x".to_string(), "moved".to_string()]),
        ]
    );
    // --tag narrows further.
    let v = e.ok_json(&["tag", "--tag", "x", "--remove", "moved"]);
    assert_eq!(v["changed"].as_array().unwrap().len(), 1, "{v}");
    // Nonsense is a usage error before anything is touched.
    for args in [
        &["tag", "latest"][..],
        &["tag", "--set", "a", "--add", "b", "latest"][..],
        &["tag", "--add", "", "latest"][..],
    ] {
        let out = e.run(args);
        assert_eq!(code(&out), 2, "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn tag_takes_an_exclusive_lock() {
    let e = Env::new();
    let src = tree(&e, "data");
    let id = e.snapshot(&src);
    // A live shared lock (a running snapshot: this test's own, living pid).
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let host = rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned();
    let lock = serde_json::json!({
        "kind": "shared", "hostname": host, "pid": std::process::id(),
        "created": now, "refreshed": now, "command": "snapshot",
    });
    let p = e.repo.join("locks").join(hex::encode([7u8; 32]));
    std::fs::write(&p, lock.to_string()).unwrap();
    let out = e.run(&["tag", "--add", "x", &id[..8]]);
    assert_eq!(code(&out), 11, "{}", stderr(&out));
    assert_eq!(snapshot_files(&e), [id.as_str()]);
    std::fs::remove_file(&p).unwrap();
    e.ok(&["tag", "--add", "x", &id[..8]]);
}

/// If the old file cannot be deleted, the new one is already saved: the snapshot exists twice,
/// never zero times.
#[test]
fn tag_never_loses_a_snapshot_when_the_old_file_cannot_be_deleted() {
    let e = Env::new();
    let src = tree(&e, "data");
    let id = e.snapshot(&src);
    let old = e.repo.join("snapshots").join(&id);
    let pin = Command::new("chattr").arg("+i").arg(&old).output();
    if !pin.is_ok_and(|o| o.status.success()) {
        eprintln!("skipping: chattr +i is not available here");
        return;
    }
    let out = e.run(&["tag", "--add", "x", &id[..8]]);
    let _ = Command::new("chattr").arg("-i").arg(&old).output();
    assert_ne!(code(&out), 0);
    assert!(stderr(&out).contains(&id[..8]), "{}", stderr(&out));
    let files = snapshot_files(&e);
    assert_eq!(files.len(), 2, "old and new both kept: {files:?}");
    assert!(files.contains(&id));
    let tags: Vec<Vec<String>> = listed(&e).into_iter().map(|(_, t)| t).collect();
    assert!(tags.contains(&vec!["x".to_string()]), "{tags:?}");
}

// ---------------------------------------------------------------------------------------------
// find
// ---------------------------------------------------------------------------------------------

/// `find --json` as (short snapshot ID, path) pairs, in output order.
fn found(e: &Env, args: &[&str]) -> Vec<(String, String)> {
    let mut all = vec!["--json", "find"];
    all.extend_from_slice(args);
    e.ok(&all)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|err| panic!("{err}: {l}"));
            (
                v["short_id"].as_str().unwrap().to_string(),
                v["path"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn find_matches_names_and_full_paths_across_snapshots() {
    let e = Env::new();
    let d = e.path("srv");
    std::fs::create_dir_all(d.join("models/llama")).unwrap();
    std::fs::write(d.join("models/llama/weights.BIN"), b"w1").unwrap();
    std::fs::write(d.join("models/llama/config.json"), b"{}").unwrap();
    std::fs::write(d.join("notes.txt"), b"n").unwrap();
    let one = e.snapshot(&d)[..8].to_string();
    std::fs::remove_file(d.join("models/llama/weights.BIN")).unwrap();
    std::fs::write(d.join("models/new.bin"), b"w2").unwrap();
    let two = e.ok_json(&["snapshot", "--hostname", "other", s(&d)])["short_id"]
        .as_str()
        .unwrap()
        .to_string();
    let p = |rel: &str| format!("{}/{rel}", d.display());

    // By name: case matters unless -i.
    assert_eq!(found(&e, &["*.bin"]), [(two.clone(), p("models/new.bin"))]);
    assert_eq!(
        found(&e, &["-i", "*.bin"]),
        [
            (one.clone(), p("models/llama/weights.BIN")),
            (two.clone(), p("models/new.bin")),
        ]
    );
    // A pattern with a / matches the whole path; * stays within a component, ** does not.
    let under_models = format!("{}/models/*", d.display());
    assert_eq!(
        found(&e, &[&under_models]),
        [
            (one.clone(), p("models/llama")),
            (two.clone(), p("models/llama")),
            (two.clone(), p("models/new.bin")),
        ]
    );
    let deep = format!("{}/**/config.json", d.display());
    assert_eq!(
        found(&e, &[&deep, "notes.txt"]),
        [
            (one.clone(), p("models/llama/config.json")),
            (one.clone(), p("notes.txt")),
            (two.clone(), p("models/llama/config.json")),
            (two.clone(), p("notes.txt")),
        ]
    );
    // --snapshot and the filters limit the search.
    assert_eq!(
        found(&e, &["--snapshot", &one, "notes.txt"]),
        [(one.clone(), p("notes.txt"))]
    );
    assert_eq!(
        found(&e, &["--hostname", "other", "notes.txt"]),
        [(two.clone(), p("notes.txt"))]
    );

    // Human output: one line per match, snapshot ID first, then as `ls -l`.
    let text = e.ok(&["find", "notes.txt", "--snapshot", &two]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    let fields: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(fields[0], two);
    assert!(fields[3].starts_with("-rw"), "{text}");
    assert_eq!(fields[6], "1", "size: {text}");
    assert!(lines[0].ends_with(&p("notes.txt")), "{text}");

    // A broken pattern is a usage error.
    let out = e.run(&["find", "[oops"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
}

#[test]
fn find_reports_matches_in_snapshot_order_with_many_snapshots_and_matches() {
    let e = Env::new();
    let d = e.path("many");
    std::fs::create_dir_all(&d).unwrap();
    // More matches per snapshot than a searcher buffers ahead, so later snapshots must wait
    // for earlier ones to be printed.
    for i in 0..700 {
        std::fs::write(d.join(format!("f{i:04}.dat")), i.to_string()).unwrap();
    }
    let mut ids = Vec::new();
    for k in 0..7 {
        std::fs::write(d.join(format!("only-in-{k}.dat")), b"x").unwrap();
        ids.push(e.snapshot(&d)[..8].to_string());
    }
    let got = found(&e, &["*.dat"]);
    let mut want = Vec::new();
    for (k, id) in ids.iter().enumerate() {
        let mut names: Vec<String> = (0..700).map(|i| format!("f{i:04}.dat")).collect();
        names.extend((0..=k).map(|j| format!("only-in-{j}.dat")));
        names.sort();
        want.extend(
            names
                .into_iter()
                .map(|n| (id.clone(), format!("{}/{n}", d.display()))),
        );
    }
    assert_eq!(got.len(), want.len());
    assert!(got == want, "matches out of snapshot or tree order");
    // A closed pipe ends the search quietly.
    let mut c = e.cmd();
    c.args(["find", "*.dat"]).stdout(Stdio::piped());
    let mut child = c.spawn().unwrap();
    drop(child.stdout.take());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn find_reports_a_damaged_snapshot_and_searches_the_others() {
    let e = Env::new();
    let d = tree(&e, "data");
    let good = e.snapshot(&d)[..8].to_string();
    let repo = security_support::open(&e);
    let bad = security_support::save_snapshot(&repo, vec![lifeboat::Id::random()]);
    let out = e.run(&["--json", "find", "a.txt"]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stderr(&out).contains(&bad[..8]), "{}", stderr(&out));
    let lines: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{}", stdout(&out));
    assert_eq!(lines[0]["short_id"], good.as_str());
}

// ---------------------------------------------------------------------------------------------
// stats
// ---------------------------------------------------------------------------------------------

fn stats(e: &Env, args: &[&str]) -> Value {
    let mut all = vec!["stats"];
    all.extend_from_slice(args);
    e.ok_json(&all)
}

#[test]
fn stats_restore_size_counts_the_files_a_restore_writes() {
    let e = Env::new();
    let d = e.path("data");
    std::fs::create_dir_all(d.join("sub")).unwrap();
    std::fs::write(d.join("a"), vec![1u8; 1000]).unwrap();
    std::fs::write(d.join("sub/b"), common::random_bytes(3, 30_000)).unwrap();
    std::fs::hard_link(d.join("sub/b"), d.join("b-link")).unwrap();
    std::os::unix::fs::symlink("a", d.join("sym")).unwrap();
    let one = e.snapshot(&d);
    std::fs::write(d.join("c"), vec![2u8; 500]).unwrap();
    let two = e.snapshot(&d);

    let v = stats(&e, &[&one[..8]]);
    assert_eq!(v["mode"], "restore-size");
    assert_eq!(v["snapshots_count"], 1);
    // a, sub/b and its second name: the link's bytes are written once.
    assert_eq!(v["total_file_count"], 3);
    assert_eq!(v["total_size"], 31_000);
    // Without snapshots: all of them, each counted as restored.
    let v = stats(&e, &[]);
    assert_eq!(v["snapshots_count"], 2);
    assert_eq!(v["total_file_count"], 3 + 4);
    assert_eq!(v["total_size"], 31_000 + 31_500);
    assert_eq!(stats(&e, &[&one[..8], &two[..8]]), v);
    // Human output names the mode and the numbers.
    let text = e.ok(&["stats"]);
    assert!(text.contains("restore-size"), "{text}");
    assert!(text.contains("Total File Count:  7"), "{text}");
}

#[test]
fn stats_raw_data_counts_each_referenced_blob_once_with_its_stored_size() {
    let e = Env::new();
    let d = e.path("data");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("big"), common::random_bytes(9, 3 << 20)).unwrap();
    std::fs::write(d.join("text"), "hello world\n".repeat(20_000)).unwrap();
    let one = e.snapshot(&d);
    std::fs::write(d.join("more"), common::random_bytes(10, 1 << 20)).unwrap();
    e.snapshot(&d);

    // Nothing was pruned or forgotten: every blob in the index is referenced, so the index's
    // totals are the answer for all snapshots.
    let repo = security_support::open(&e);
    let (mut count, mut stored, mut raw) = (0u64, 0u64, 0u64);
    for (_, f) in repo.read_index_files().unwrap() {
        for p in &f.packs {
            for b in &p.blobs {
                count += 1;
                stored += u64::from(b.3);
                raw += u64::from(b.4);
            }
        }
    }
    let all = stats(&e, &["--mode", "raw-data"]);
    assert_eq!(all["total_blob_count"], count);
    assert_eq!(all["total_size"], stored);
    assert_eq!(all["total_uncompressed_size"], raw);
    let ratio = all["compression_ratio"].as_f64().unwrap();
    assert!((ratio - raw as f64 / stored as f64).abs() < 1e-9);
    assert!(ratio > 1.0, "the text compresses: {all}");
    // The first snapshot alone references fewer blobs; the second shares them (deduplicated).
    let first = stats(&e, &["--mode", "raw-data", &one[..8]]);
    let second = stats(&e, &["--mode", "raw-data", "latest"]);
    let n = |v: &Value| v["total_blob_count"].as_u64().unwrap();
    assert!(n(&first) < n(&all));
    assert!(
        n(&first) + n(&second) > n(&all),
        "shared blobs counted once"
    );
}

#[test]
fn stats_files_by_contents_counts_each_distinct_content_once() {
    let e = Env::new();
    let d = e.path("data");
    std::fs::create_dir_all(d.join("copy")).unwrap();
    let body = common::random_bytes(4, 50_000);
    std::fs::write(d.join("model.bin"), &body).unwrap();
    std::fs::write(d.join("copy/model.bin"), &body).unwrap();
    std::fs::write(d.join("other"), b"12345").unwrap();
    e.snapshot(&d);
    e.snapshot(&d);
    let v = stats(&e, &["--mode", "files-by-contents"]);
    assert_eq!(v["snapshots_count"], 2);
    assert_eq!(v["total_file_count"], 2);
    assert_eq!(v["total_size"], 50_005);
    let out = e.run(&["stats", "--mode", "blobs"]);
    assert_eq!(code(&out), 2);
}

#[test]
fn help_of_find_stats_and_tag_teaches_with_examples() {
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["find", "--help"],
            &[
                "<PATTERN>",
                "--snapshot",
                "--hostname",
                "--tag",
                "--path",
                "--ignore-case",
                "Examples:",
                "lifeboat find",
            ],
        ),
        (
            &["stats", "--help"],
            &[
                "[SNAPSHOT]",
                "--mode",
                "restore-size",
                "raw-data",
                "files-by-contents",
                "--hostname",
                "Examples:",
                "lifeboat stats",
            ],
        ),
        (
            &["tag", "--help"],
            &[
                "--add",
                "--remove",
                "--set",
                "--hostname",
                "--tag",
                "--path",
                "Examples:",
                "new ID",
            ],
        ),
        (
            &["key", "add", "--help"],
            &["--new-password-file", "Examples:"],
        ),
        (&["key", "list", "--help"], &["current", "Examples:"]),
        (&["--help"], &["find", "stats", "tag"]),
    ];
    for (args, needles) in cases {
        let out = lifeboat_cmd().args(*args).output().unwrap();
        assert_eq!(code(&out), 0, "lifeboat {args:?}: {}", stderr(&out));
        let text = stdout(&out);
        for n in *needles {
            assert!(
                text.contains(n),
                "lifeboat {args:?} does not mention {n}:\n{text}"
            );
        }
    }
}
