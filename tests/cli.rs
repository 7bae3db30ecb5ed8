//! Command-line conventions of the real binary: help and version, the exact forms scripts use,
//! repository and password sources, exit codes, key management, forget/prune, locks, unlock,
//! completions and man pages, and that the password never shows up in any output.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{Env, PASSWORD, code, lifeboat_cmd, random_bytes, s, stderr};
use serde_json::Value;

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn run(mut c: Command) -> Output {
    c.stdin(Stdio::null()).output().expect("run lifeboat")
}

fn ok(c: Command) -> String {
    let out = run(c);
    assert!(
        out.status.success(),
        "failed ({:?}):\nstdout: {}\nstderr: {}",
        out.status.code(),
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

/// The binary with `--repo` but no password source at all.
fn bare_cmd(repo: &Path) -> Command {
    let mut c = lifeboat_cmd();
    c.arg("--repo").arg(repo);
    c
}

fn write_password_file(path: &Path, pw: &str, mode: u32) {
    std::fs::write(path, format!("{pw}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Create an initialised repository in `e` with cheap key derivation and a small tree to
/// snapshot; returns the tree's path.
fn small_tree(e: &Env, name: &str) -> PathBuf {
    let d = e.path(name);
    std::fs::create_dir_all(d.join("sub")).unwrap();
    std::fs::write(d.join("a.txt"), b"alpha\n").unwrap();
    std::fs::write(d.join("sub/b.bin"), random_bytes(7, 200_000)).unwrap();
    d
}

fn hostname() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

fn lock_json(kind: &str, pid: u32, host: &str) -> String {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    serde_json::json!({
        "kind": kind,
        "hostname": host,
        "pid": pid,
        "created": now,
        "refreshed": now,
        "command": "prune",
    })
    .to_string()
}

fn write_lock(repo: &Path, name_byte: u8, json: &str) -> PathBuf {
    let p = repo.join("locks").join(hex::encode([name_byte; 32]));
    std::fs::write(&p, json).unwrap();
    p
}

/// A pid that certainly is not running (beyond the kernel's pid_max).
const DEAD_PID: u32 = 0x3fff_fff0;

#[test]
fn help_of_every_command_succeeds_and_names_its_key_flags() {
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["--help"],
            &[
                "--repo",
                "--password-file",
                "--password-command",
                "--json",
                "--quiet",
                "--lock-wait",
                "LIFEBOAT_REPO",
                "init",
                "snapshot",
                "snapshots",
                "restore",
                "dump",
                "verify",
                "forget",
                "prune",
                "unlock",
                "completions",
                "Exit codes",
            ],
        ),
        (
            &["init", "--help"],
            &["--kdf-memory", "--kdf-iterations", "--kdf-parallelism"],
        ),
        (&["key", "--help"], &["list", "add", "remove"]),
        (&["key", "add", "--help"], &["--new-password-file"]),
        (&["key", "list", "--help"], &["--json"]),
        (&["key", "remove", "--help"], &["<ID>"]),
        (
            &["snapshot", "--help"],
            &[
                "--container",
                "--all-containers",
                "--compose-project",
                "--label",
                "--no-images",
                "--tag",
                "--exclude",
                "--exclude-file",
                "--one-file-system",
                "--exclude-caches",
                "--parent",
                "--force",
                "--hostname",
                "--host",
                "--host-root",
                "--no-bind-data",
            ],
        ),
        (
            &["snapshots", "--help"],
            &["--hostname", "--tag", "--path", "--latest"],
        ),
        (
            &["update", "--help"],
            &[
                "[CONTAINER]",
                "--all",
                "--image",
                "--pull",
                "--healthy-after",
                "--health-timeout",
                "--dry-run",
                "--recover",
                "--state-dir",
            ],
        ),
        (
            &["rollback", "--help"],
            &["<CONTAINER>", "--volumes", "--snapshot", "--dry-run"],
        ),
        (&["ls", "--help"], &["--long", "--recursive", "<SNAPSHOT>"]),
        (
            &["diff", "--help"],
            &["--metadata", "<OLD>", "[NEW]", "--live", "--show-secrets"],
        ),
        (&["show", "--help"], &["<SNAPSHOT>", "--show-secrets"]),
        (
            &["dump", "--help"],
            &[
                "<SNAPSHOT>",
                "<PATH>",
                "--archive",
                "--target",
                "SNAPSHOT:/DIR",
                "tar -x",
            ],
        ),
        (
            &["restore", "--help"],
            &[
                "--target",
                "--include",
                "--dry-run",
                "--no-owner",
                "--numeric-owner",
                "latest",
                "--containers",
                "--container",
                "--replace",
            ],
        ),
        (
            &["verify", "--help"],
            &["--read-data", "--read-data-subset"],
        ),
        (
            &["forget", "--help"],
            &[
                "--keep-last",
                "--keep-hourly",
                "--keep-daily",
                "--keep-weekly",
                "--keep-monthly",
                "--keep-yearly",
                "--keep-tag",
                "--keep-within",
                "--prune",
                "--dry-run",
                "--hostname",
                "--group-by",
            ],
        ),
        (
            &["prune", "--help"],
            &["--repack-unused", "--dry-run", "--grace"],
        ),
        (&["unlock", "--help"], &["--remove-all"]),
        (&["completions", "--help"], &["bash", "zsh", "fish"]),
        (&["man", "--help"], &["<DIR>"]),
        (&["help", "restore"], &["--target"]),
    ];
    for (args, needles) in cases {
        let mut c = lifeboat_cmd();
        c.args(*args);
        let out = run(c);
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

#[test]
fn version_flag_prints_the_package_version() {
    for flag in ["--version", "-V"] {
        let mut c = lifeboat_cmd();
        c.arg(flag);
        let text = ok(c);
        assert_eq!(
            text.trim(),
            format!("lifeboat {}", env!("CARGO_PKG_VERSION"))
        );
    }
}

#[test]
fn unknown_flags_and_missing_arguments_are_usage_errors_with_exit_code_2() {
    for args in [
        &["--no-such-flag"][..],
        &["snapshot"][..],
        &["restore", "latest"][..],
        &["frobnicate"][..],
        &["--lock-wait", "5x", "snapshots"][..],
    ] {
        let mut c = lifeboat_cmd();
        c.args(args);
        let out = run(c);
        assert_eq!(code(&out), 2, "lifeboat {args:?}: {}", stderr(&out));
        assert!(!stderr(&out).is_empty());
    }
}

#[test]
fn script_forms_init_snapshot_list_restore_and_verify() {
    let e = Env::bare();
    let repo = e.repo.clone();
    let pwf = e.path("pw");
    write_password_file(&pwf, "script form password", 0o600);
    let src = small_tree(&e, "data");
    let cmd = || {
        let mut c = lifeboat_cmd();
        c.env("LIFEBOAT_PASSWORD_FILE", &pwf);
        c
    };

    // lifeboat --repo R init  (default key derivation parameters)
    let mut c = cmd();
    c.args(["--repo", s(&repo), "init"]);
    let text = ok(c);
    assert!(text.contains("created lifeboat repository"), "{text}");
    assert!(repo.join("config").is_file());
    assert_eq!(std::fs::read_dir(repo.join("data")).unwrap().count(), 256);

    // lifeboat --repo R snapshot --tag T PATH
    let mut c = cmd();
    c.args(["--repo", s(&repo), "snapshot", "--tag", "nightly", s(&src)]);
    let text = ok(c);
    assert!(
        text.contains("snapshot ") && text.contains(" saved"),
        "{text}"
    );

    // lifeboat --repo R snapshots --json
    let mut c = cmd();
    c.args(["--repo", s(&repo), "snapshots", "--json"]);
    let v: Value = serde_json::from_str(&ok(c)).expect("JSON array");
    let list = v.as_array().expect("array");
    assert_eq!(list.len(), 1);
    let snap = &list[0];
    let id = snap["id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 64);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    let short = snap["short_id"].as_str().unwrap();
    assert_eq!(short.len(), 8);
    assert!(id.starts_with(short));
    let time = snap["time"].as_str().unwrap();
    chrono::DateTime::parse_from_rfc3339(time).expect("RFC 3339 time");
    assert_eq!(snap["hostname"], hostname());
    assert_eq!(snap["tags"], serde_json::json!(["nightly"]));
    let canon = src.canonicalize().unwrap();
    assert_eq!(snap["paths"], serde_json::json!([s(&canon)]));
    assert_eq!(snap["summary"]["files"], 2, "{snap:#}");
    assert_eq!(snap["summary"]["bytes"], 200_006, "{snap:#}");

    // lifeboat --repo R restore latest --target DIR, and with an 8-digit prefix.
    for (spec, dir) in [("latest", "out1"), (&id[..8], "out2"), (&id[..], "out3")] {
        let target = e.path(dir);
        let mut c = cmd();
        c.args(["--repo", s(&repo), "restore", spec, "--target", s(&target)]);
        ok(c);
        let back = common::restored_path(&target, &canon);
        assert_eq!(std::fs::read(back.join("a.txt")).unwrap(), b"alpha\n");
        assert_eq!(
            std::fs::read(back.join("sub/b.bin")).unwrap(),
            random_bytes(7, 200_000)
        );
    }

    // lifeboat --repo R verify --read-data
    let mut c = cmd();
    c.args(["--repo", s(&repo), "verify", "--read-data"]);
    let text = ok(c);
    assert!(text.contains("no errors found"), "{text}");
}

#[test]
fn snapshot_ids_need_eight_hex_digits_and_must_exist() {
    let e = Env::new();
    let id = e.snapshot(&small_tree(&e, "data"));
    let target = e.path("out");
    let out = e.run(&["restore", &id[..7], "--target", s(&target)]);
    assert!(
        [1, 2].contains(&code(&out)),
        "7-digit prefix: exit {}",
        code(&out)
    );
    assert!(
        stderr(&out).contains("at least 8 hex digits"),
        "{}",
        stderr(&out)
    );
    assert!(!target.exists(), "nothing restored for a refused ID");

    for bad in ["latestt", "xyzxyzxyz", "12345678-"] {
        let out = e.run(&["restore", bad, "--target", s(&target)]);
        assert_ne!(code(&out), 0, "{bad}");
        assert!(stderr(&out).contains("not a snapshot"), "{}", stderr(&out));
    }

    let other = if id.starts_with("00000000") {
        "ffffffff"
    } else {
        "00000000"
    };
    let out = e.run(&["restore", other, "--target", s(&target)]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no snapshot matches") && stderr(&out).contains(other),
        "{}",
        stderr(&out)
    );
    // Prefixes are case-insensitive hex.
    let upper = id[..10].to_ascii_uppercase();
    e.ok(&["ls", &upper]);
}

#[test]
fn repository_from_lifeboat_repo_environment_variable() {
    let e = Env::bare();
    let src = small_tree(&e, "data");
    let cmd = |args: &[&str]| {
        let mut c = lifeboat_cmd();
        c.env("LIFEBOAT_REPO", &e.repo)
            .env("LIFEBOAT_PASSWORD", PASSWORD)
            .args(args);
        c
    };
    ok(cmd(&[
        "init",
        "--kdf-memory",
        "8",
        "--kdf-iterations",
        "1",
        "--kdf-parallelism",
        "1",
    ]));
    assert!(e.repo.join("config").is_file());
    ok(cmd(&["snapshot", s(&src)]));
    let v: Value = serde_json::from_str(&ok(cmd(&["snapshots", "--json"]))).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    // --repo wins over the environment.
    let mut c = cmd(&["snapshots"]);
    c.arg("--repo").arg(e.path("elsewhere"));
    assert_eq!(code(&run(c)), 10);
    // Neither: a clear error.
    let mut c = lifeboat_cmd();
    c.env("LIFEBOAT_PASSWORD", PASSWORD).arg("snapshots");
    let out = run(c);
    assert_ne!(code(&out), 0);
    assert!(stderr(&out).contains("LIFEBOAT_REPO"), "{}", stderr(&out));
}

#[test]
fn password_file_opens_and_warns_when_readable_by_others() {
    let e = Env::new();
    let pwf = e.path("pw");
    write_password_file(&pwf, PASSWORD, 0o600);
    let mut c = bare_cmd(&e.repo);
    c.env("LIFEBOAT_PASSWORD_FILE", &pwf).arg("snapshots");
    let out = run(c);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));

    std::fs::set_permissions(&pwf, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut c = bare_cmd(&e.repo);
    c.env("LIFEBOAT_PASSWORD_FILE", &pwf).arg("snapshots");
    let out = run(c);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("warning") && err.contains("readable by group or others"),
        "{err}"
    );

    // The --password-file flag works the same way.
    let mut c = bare_cmd(&e.repo);
    c.arg("--password-file").arg(&pwf).arg("snapshots");
    assert_eq!(code(&run(c)), 0);

    // A missing password file is an error naming it.
    let mut c = bare_cmd(&e.repo);
    c.env("LIFEBOAT_PASSWORD_FILE", e.path("nope"))
        .arg("snapshots");
    let out = run(c);
    assert_ne!(code(&out), 0);
    assert!(stderr(&out).contains("nope"), "{}", stderr(&out));
}

#[test]
fn password_command_supplies_the_password() {
    let e = Env::new();
    let mut c = bare_cmd(&e.repo);
    c.env("LIFEBOAT_PASSWORD_COMMAND", format!("echo '{PASSWORD}'"))
        .arg("snapshots");
    let out = run(c);
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    let mut c = bare_cmd(&e.repo);
    c.arg("--password-command")
        .arg(format!("printf '%s' '{PASSWORD}'"))
        .arg("snapshots");
    assert_eq!(code(&run(c)), 0);

    // A command printing another password: wrong password.
    let mut c = bare_cmd(&e.repo);
    c.env("LIFEBOAT_PASSWORD_COMMAND", "echo pw")
        .arg("snapshots");
    assert_eq!(code(&run(c)), 12);
}

#[test]
fn failing_password_command_is_a_clear_error() {
    let e = Env::new();
    let mut c = bare_cmd(&e.repo);
    c.env("LIFEBOAT_PASSWORD_COMMAND", "false").arg("snapshots");
    let out = run(c);
    assert_ne!(code(&out), 0);
    assert_ne!(code(&out), 12, "not reported as a wrong password");
    assert!(
        stderr(&out).contains("password command failed"),
        "{}",
        stderr(&out)
    );
    // A command that prints nothing gives an empty password: refused too.
    let mut c = bare_cmd(&e.repo);
    c.env("LIFEBOAT_PASSWORD_COMMAND", "true").arg("snapshots");
    let out = run(c);
    assert_ne!(code(&out), 0);
    assert!(stderr(&out).contains("empty"), "{}", stderr(&out));
}

#[test]
fn no_password_without_a_terminal_is_a_clear_error() {
    let e = Env::new();
    for args in [&["snapshots"][..], &["verify"][..]] {
        let mut c = bare_cmd(&e.repo);
        c.args(args);
        let out = run(c);
        assert_eq!(code(&out), 1, "{}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("no password given") && err.contains("LIFEBOAT_PASSWORD_FILE"),
            "{err}"
        );
    }
    // init too, and it creates nothing.
    let fresh = e.path("fresh");
    let mut c = bare_cmd(&fresh);
    c.arg("init");
    let out = run(c);
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("no password given"),
        "{}",
        stderr(&out)
    );
    assert!(!fresh.join("config").exists());
}

#[test]
fn wrong_password_exits_12() {
    let e = Env::new();
    for args in [&["snapshots"][..], &["verify"][..], &["key", "list"][..]] {
        let mut c = bare_cmd(&e.repo);
        c.env("LIFEBOAT_PASSWORD", "not the password").args(args);
        let out = run(c);
        assert_eq!(code(&out), 12, "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("wrong password"), "{}", stderr(&out));
    }
}

#[test]
fn missing_repository_exits_10() {
    let e = Env::bare();
    let empty = e.path("empty");
    std::fs::create_dir_all(&empty).unwrap();
    for repo in [e.path("does-not-exist"), empty] {
        for args in [
            &["snapshots"][..],
            &["snapshot", "/etc/hostname"][..],
            &["restore", "latest", "--target", "/nonexistent-target"][..],
            &["verify"][..],
            &["unlock"][..],
        ] {
            let mut c = bare_cmd(&repo);
            c.env("LIFEBOAT_PASSWORD", PASSWORD).args(args);
            let out = run(c);
            assert_eq!(
                code(&out),
                10,
                "{args:?} on {}: {}",
                repo.display(),
                stderr(&out)
            );
            assert!(stderr(&out).contains("no repository"), "{}", stderr(&out));
        }
    }
    assert!(!Path::new("/nonexistent-target").exists());
}

#[test]
fn init_twice_is_refused_and_leaves_the_repository_intact() {
    let e = Env::new();
    let id = e.snapshot(&small_tree(&e, "data"));
    let config = std::fs::read(e.repo.join("config")).unwrap();
    let out = e.run(&[
        "init",
        "--kdf-memory",
        "8",
        "--kdf-iterations",
        "1",
        "--kdf-parallelism",
        "1",
    ]);
    assert_ne!(code(&out), 0);
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
    assert_eq!(std::fs::read(e.repo.join("config")).unwrap(), config);
    let v = e.ok_json(&["snapshots"]);
    assert_eq!(v[0]["id"], id.as_str());
    // A non-empty directory that is not a repository is not taken over either.
    let other = e.path("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("precious"), b"x").unwrap();
    let mut c = bare_cmd(&other);
    c.env("LIFEBOAT_PASSWORD", PASSWORD).arg("init");
    assert_ne!(code(&run(c)), 0);
    assert!(!other.join("config").exists());
}

#[test]
fn key_add_list_and_remove() {
    let e = Env::new();
    e.snapshot(&small_tree(&e, "data"));
    let keys = e.ok_json(&["key", "list"]);
    let keys = keys.as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let first = keys[0]["id"].as_str().unwrap().to_string();

    // The only key cannot be removed.
    let out = e.run(&["key", "remove", &first[..8]]);
    assert_ne!(code(&out), 0);
    assert!(stderr(&out).contains("last key"), "{}", stderr(&out));

    let new_pw = "the second password";
    let npf = e.path("newpw");
    write_password_file(&npf, new_pw, 0o600);
    let v = e.ok_json(&[
        "key",
        "add",
        "--new-password-file",
        s(&npf),
        "--kdf-memory",
        "8",
        "--kdf-iterations",
        "1",
        "--kdf-parallelism",
        "1",
    ]);
    let added = v["added"].as_str().unwrap().to_string();
    assert_eq!(added.len(), 64);
    assert!(e.repo.join("keys").join(&added).is_file());

    // key list --json shows both with their parameters.
    let keys = e.ok_json(&["key", "list"]);
    let keys = keys.as_array().unwrap();
    assert_eq!(keys.len(), 2);
    let k = keys.iter().find(|k| k["id"] == added.as_str()).unwrap();
    assert_eq!(k["memory_kib"], 8192);
    assert_eq!(k["iterations"], 1);
    assert_eq!(k["parallelism"], 1);
    assert_eq!(k["hostname"], hostname());
    assert!(k["created"].as_str().is_some() && k["username"].as_str().is_some());

    // The new password opens the repository.
    let with_new = |args: &[&str]| {
        let mut c = bare_cmd(&e.repo);
        c.env("LIFEBOAT_PASSWORD", new_pw).args(args);
        run(c)
    };
    let out = with_new(&["snapshots", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        serde_json::from_str::<Value>(&stdout(&out)).unwrap()[0]["summary"]["files"],
        2
    );

    // The key in use cannot be removed...
    let out = e.run(&["key", "remove", &first[..8]]);
    assert_ne!(code(&out), 0);
    assert!(stderr(&out).contains("key in use"), "{}", stderr(&out));
    // ...but another one can; then the old password no longer opens the repository.
    let out = with_new(&["key", "remove", &first[..8]]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!e.repo.join("keys").join(&first).exists());
    assert_eq!(code(&e.run(&["snapshots"])), 12);
    let out = with_new(&["--json", "key", "list"]);
    let keys: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(keys.as_array().unwrap().len(), 1);
    // Unknown prefixes are errors.
    let out = with_new(&["key", "remove", "zzzzzzzz"]);
    assert_ne!(code(&out), 0);
    assert!(stderr(&out).contains("no key matches"), "{}", stderr(&out));
}

#[test]
fn forget_keep_last_removes_the_older_snapshot() {
    let e = Env::new();
    let src = small_tree(&e, "data");
    let old = e.snapshot(&src);
    std::fs::write(src.join("a.txt"), b"changed\n").unwrap();
    let new = e.snapshot(&src);

    // A dry run removes nothing.
    let v = e.ok_json(&["forget", "--keep-last", "1", "--dry-run"]);
    assert_eq!(v["removed"], serde_json::json!([old]));
    assert_eq!(e.ok_json(&["snapshots"]).as_array().unwrap().len(), 2);

    let text = e.ok(&["forget", "--keep-last", "1"]);
    assert!(text.contains("removed 1 snapshot(s)"), "{text}");
    let list = e.ok_json(&["snapshots"]);
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![new.as_str()]);
    assert!(!e.repo.join("snapshots").join(&old).exists());
    // Forgetting by ID works too.
    e.ok(&["forget", &new[..8]]);
    assert_eq!(e.ok_json(&["snapshots"]), serde_json::json!([]));
}

#[test]
fn forget_without_a_policy_or_ids_is_an_error() {
    let e = Env::new();
    let id = e.snapshot(&small_tree(&e, "data"));
    let out = e.run(&["forget"]);
    assert_ne!(code(&out), 0);
    assert!(stderr(&out).contains("nothing to do"), "{}", stderr(&out));
    let out = e.run(&["forget", &id[..8], "--keep-last", "1"]);
    assert_ne!(code(&out), 0);
    assert!(stderr(&out).contains("not both"), "{}", stderr(&out));
    assert_eq!(e.ok_json(&["snapshots"]).as_array().unwrap().len(), 1);
}

#[test]
fn prune_after_forget_frees_space_and_verify_still_passes() {
    let e = Env::new();
    let src = small_tree(&e, "data");
    std::fs::write(src.join("only_in_first.bin"), random_bytes(11, 3 << 20)).unwrap();
    e.snapshot(&src);
    std::fs::remove_file(src.join("only_in_first.bin")).unwrap();
    let keep = e.snapshot(&src);
    e.ok(&["forget", "--keep-last", "1"]);
    let data = e.repo.join("data");
    let before = common::du_bytes(&data);

    let dry = e.ok_json(&["prune", "--dry-run"]);
    assert_eq!(
        common::du_bytes(&data),
        before,
        "dry run deleted data: {dry:#}"
    );

    // The first prune only marks the unused data (a snapshot running elsewhere may still
    // use it); a prune after the grace period deletes it.
    let v = e.ok_json(&["prune"]);
    assert!(common::du_bytes(&data) >= before, "deleted at once: {v:#}");
    assert!(v["bytes_pending"].as_u64().unwrap() > 5 << 19, "{v:#}");
    assert!(v["next_deletion"].is_string(), "{v:#}");
    let v = e.ok_json(&["prune", "--grace", "0s"]);
    let after = common::du_bytes(&data);
    assert!(
        after + (5 << 19) < before,
        "prune freed too little: {before} -> {after} bytes: {v:#}"
    );
    assert!(v["bytes_freed"].as_u64().unwrap() > 5 << 19, "{v:#}");
    let text = e.ok(&["verify", "--read-data"]);
    assert!(text.contains("no errors found"), "{text}");
    // The kept snapshot still restores.
    let target = e.path("out");
    e.ok(&["restore", &keep[..8], "--target", s(&target)]);
    let back = common::restored_path(&target, &src.canonicalize().unwrap());
    assert_eq!(
        std::fs::read(back.join("sub/b.bin")).unwrap(),
        random_bytes(7, 200_000)
    );
    assert!(!back.join("only_in_first.bin").exists());
}

#[test]
fn stale_lock_of_a_dead_process_does_not_block_a_snapshot() {
    let e = Env::new();
    let src = small_tree(&e, "data");
    let stale = write_lock(
        &e.repo,
        0xaa,
        &lock_json("exclusive", DEAD_PID, &hostname()),
    );
    let out = e.run(&["snapshot", s(&src)]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!stale.exists(), "the stale lock was cleared");
    assert_eq!(std::fs::read_dir(e.repo.join("locks")).unwrap().count(), 0);
    // An old lock from another host is stale by age.
    let mut rec: Value = serde_json::from_str(&lock_json("exclusive", 1, "other-host")).unwrap();
    rec["refreshed"] = "2000-01-01T00:00:00Z".into();
    let old = write_lock(&e.repo, 0xbb, &rec.to_string());
    e.ok(&["snapshot", s(&src)]);
    assert!(!old.exists());
}

#[test]
fn live_exclusive_lock_blocks_a_snapshot_with_exit_11_unless_waiting() {
    let e = Env::new();
    let src = small_tree(&e, "data");
    let lock = write_lock(
        &e.repo,
        0xcc,
        &lock_json("exclusive", std::process::id(), &hostname()),
    );
    let out = e.run(&["snapshot", s(&src)]);
    assert_eq!(code(&out), 11, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("locked") && err.contains("exclusive lock held by"),
        "{err}"
    );
    assert!(lock.exists(), "a live lock is not removed");
    assert_eq!(e.ok_json(&["snapshots"]), serde_json::json!([]));
    // A shared lock of a live process does not block a snapshot, but blocks prune.
    std::fs::remove_file(&lock).unwrap();
    let shared = write_lock(
        &e.repo,
        0xcd,
        &lock_json("shared", std::process::id(), &hostname()),
    );
    e.ok(&["snapshot", s(&src)]);
    assert_eq!(code(&e.run(&["prune"])), 11);
    std::fs::remove_file(&shared).unwrap();

    // With --lock-wait, the snapshot waits for the holder to go away.
    let lock = write_lock(
        &e.repo,
        0xce,
        &lock_json("exclusive", std::process::id(), &hostname()),
    );
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        std::fs::remove_file(&lock).unwrap();
    });
    let started = Instant::now();
    let out = e.run(&["--lock-wait", "30s", "snapshot", s(&src)]);
    releaser.join().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(started.elapsed() >= Duration::from_millis(1400));
    assert_eq!(e.ok_json(&["snapshots"]).as_array().unwrap().len(), 2);
}

#[test]
fn unlock_removes_stale_locks_and_keeps_live_ones() {
    let e = Env::new();
    let stale = write_lock(
        &e.repo,
        0x11,
        &lock_json("exclusive", DEAD_PID, &hostname()),
    );
    let live = write_lock(
        &e.repo,
        0x22,
        &lock_json("shared", std::process::id(), &hostname()),
    );
    let garbage = write_lock(&e.repo, 0x33, "not json");
    let out = e.run(&["unlock"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("removed 2 lock(s)"),
        "{}",
        stdout(&out)
    );
    assert!(stderr(&out).contains("still held"), "{}", stderr(&out));
    assert!(!stale.exists() && !garbage.exists());
    assert!(live.exists());
    let out = e.run(&["unlock", "--remove-all"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("removed 1 lock(s)"),
        "{}",
        stdout(&out)
    );
    assert!(!live.exists());
}

#[test]
fn completions_print_shell_scripts() {
    let mut c = lifeboat_cmd();
    c.args(["completions", "bash"]);
    let text = ok(c);
    assert!(text.contains("_lifeboat()"), "{text}");
    assert!(text.contains("complete -F _lifeboat"), "{text}");
    assert!(text.contains("--lock-wait") && text.contains("snapshot"));
    for shell in ["zsh", "fish"] {
        let mut c = lifeboat_cmd();
        c.args(["completions", shell]);
        assert!(ok(c).contains("lifeboat"), "{shell}");
    }
    let mut c = lifeboat_cmd();
    c.args(["completions", "tcsh"]);
    assert_eq!(code(&run(c)), 2);
}

#[test]
fn man_writes_pages_into_a_directory() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("man1");
    let mut c = lifeboat_cmd();
    c.arg("man").arg(&dir);
    ok(c);
    let page = std::fs::read_to_string(dir.join("lifeboat.1")).expect("lifeboat.1 written");
    assert!(page.contains(".TH lifeboat 1"), "{page}");
    assert!(page.contains("snapshot"));
    let sub = std::fs::read_to_string(dir.join("lifeboat-restore.1")).expect("a page per command");
    assert!(sub.contains("target"));
}

#[test]
fn the_password_never_appears_in_any_output() {
    let secret = "Zq9-unique-SECRET-pw-7781";
    let wrong = "Wx4-unique-WRONG-pw-2265";
    let e = Env::bare();
    let pwf = e.path("pw");
    write_password_file(&pwf, secret, 0o644); // also triggers the permission warning
    let src = small_tree(&e, "data");
    let mut outputs: Vec<(String, Output)> = Vec::new();
    let mut go = |label: &str, envs: &[(&str, &str)], args: &[&str]| {
        let mut c = bare_cmd(&e.repo);
        for (k, v) in envs {
            c.env(k, v);
        }
        c.args(args);
        let out = run(c);
        outputs.push((label.to_string(), out));
    };
    let file = ("LIFEBOAT_PASSWORD_FILE", s(&pwf));
    go(
        "init",
        &[file],
        &[
            "init",
            "--kdf-memory",
            "8",
            "--kdf-iterations",
            "1",
            "--kdf-parallelism",
            "1",
        ],
    );
    go("snapshot", &[file], &["snapshot", s(&src)]);
    go("snapshots", &[file], &["--json", "snapshots"]);
    go("key list", &[file], &["key", "list"]);
    go("verify", &[file], &["verify", "--read-data"]);
    go("wrong env", &[("LIFEBOAT_PASSWORD", wrong)], &["snapshots"]);
    let wrong_cmd = format!("echo {wrong}");
    go(
        "wrong command",
        &[("LIFEBOAT_PASSWORD_COMMAND", wrong_cmd.as_str())],
        &["snapshots"],
    );
    let failing = format!("echo {secret}; exit 3");
    go(
        "failing command",
        &[("LIFEBOAT_PASSWORD_COMMAND", failing.as_str())],
        &["snapshots"],
    );
    let good_cmd = format!("echo {secret}");
    go(
        "help with password command set",
        &[("LIFEBOAT_PASSWORD_COMMAND", good_cmd.as_str())],
        &["--help"],
    );
    go(
        "usage error with password command set",
        &[("LIFEBOAT_PASSWORD_COMMAND", good_cmd.as_str())],
        &["snapshot", "--no-such-flag"],
    );
    assert_eq!(code(&outputs[0].1), 0, "init: {}", stderr(&outputs[0].1));
    assert_eq!(
        code(&outputs[1].1),
        0,
        "snapshot: {}",
        stderr(&outputs[1].1)
    );
    assert_eq!(code(&outputs[5].1), 12);
    assert_eq!(code(&outputs[6].1), 12);
    assert_ne!(code(&outputs[7].1), 0);
    for (label, out) in &outputs {
        for pw in [secret, wrong] {
            for (stream, text) in [("stdout", stdout(out)), ("stderr", stderr(out))] {
                assert!(
                    !text.contains(pw),
                    "{label}: the password appears on {stream}:\n{text}"
                );
            }
        }
    }
    // Nor in the repository's plain-text files.
    for dir in ["keys", "locks"] {
        for f in std::fs::read_dir(e.repo.join(dir)).unwrap() {
            let bytes = std::fs::read(f.unwrap().path()).unwrap();
            assert!(!String::from_utf8_lossy(&bytes).contains(secret));
        }
    }
}
