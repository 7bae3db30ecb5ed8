//! What lifeboat prints: names from a snapshot never reach the terminal raw (no escape
//! sequences, no forged lines) while `--json` keeps them exact; errors under `--json` are JSON;
//! and the small things an operator trips over in the output.

mod common;
mod docker_support;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{Env, PASSWORD, code, is_root, stderr};
use serde_json::Value;

/// Paths (below the tree) whose names try to drive the terminal or forge output lines.
const HOSTILE: &[&[u8]] = &[
    b"title\x1b]0;pwned\x07",
    b"x\n-  removed /etc/shadow",
    b"x\n-  removed /etc",
    b"carriage\rreturn",
    b"bad\xff\xfeutf8",
    b"clear\x1b[2J\x1b[H",
    b"back\\slash",
];

/// The first control byte (0x00-0x1f but the line ends, 0x7f) of output meant for people.
fn control_byte(out: &[u8]) -> Option<(usize, u8)> {
    out.iter()
        .enumerate()
        .find(|&(_, &b)| (b < 0x20 && b != b'\n') || b == 0x7f)
        .map(|(i, &b)| (i, b))
}

fn assert_clean(what: &str, out: &[u8]) {
    if let Some((i, b)) = control_byte(out) {
        panic!(
            "{what}: control byte {b:#04x} at {i} in human output:\n{}",
            String::from_utf8_lossy(out).escape_debug()
        );
    }
    let text = String::from_utf8_lossy(out);
    assert!(
        !text.lines().any(|l| l.starts_with("-  removed")),
        "{what}: a file name forged a line:\n{text}"
    );
}

fn hostile_tree(e: &Env) -> PathBuf {
    let d = e.path("tree");
    std::fs::create_dir(&d).unwrap();
    std::fs::write(d.join("plain"), b"plain").unwrap();
    d
}

fn add_hostile(d: &Path) {
    std::fs::create_dir_all(d.join(OsStr::from_bytes(b"x\n-  removed /etc"))).unwrap();
    for name in HOSTILE {
        let p = d.join(OsStr::from_bytes(name));
        if !p.exists() {
            std::fs::write(p, b"x").unwrap();
        }
    }
    std::os::unix::fs::symlink(OsStr::from_bytes(b"\x1b[31mred\x07"), d.join("link")).unwrap();
}

/// The snapshot paths of the hostile names (what `--json` must give back exactly).
fn hostile_paths(d: &Path) -> Vec<Vec<u8>> {
    HOSTILE
        .iter()
        .map(|n| [d.as_os_str().as_bytes(), b"/", n].concat())
        .collect()
}

/// The exact bytes of a JSON name: `path`, or `path_hex` when the name is not UTF-8.
fn json_name(v: &Value) -> Vec<u8> {
    match v.get("path_hex").and_then(Value::as_str) {
        Some(h) => hex::decode(h).unwrap(),
        None => v["path"].as_str().unwrap().as_bytes().to_vec(),
    }
}

fn run(e: &Env, args: &[&OsStr]) -> Output {
    e.cmd().args(args).stdin(Stdio::null()).output().unwrap()
}

#[test]
fn hostile_file_names_are_escaped_in_human_output_and_exact_in_json() {
    let e = Env::new();
    let d = hostile_tree(&e);
    let old = e.snapshot(&d);
    add_hostile(&d);
    let new = e.snapshot(&d);
    let t = e.path("target");

    for args in [
        vec!["ls", "-l", &new],
        vec!["ls", &new],
        vec!["diff", &old, &new],
        vec![
            "restore",
            &new,
            "--target",
            t.to_str().unwrap(),
            "--dry-run",
        ],
    ] {
        let out = e.run(&args);
        assert_eq!(code(&out), 0, "{args:?}: {}", stderr(&out));
        assert_clean(&format!("{args:?} stdout"), &out.stdout);
        assert_clean(&format!("{args:?} stderr"), &out.stderr);
    }
    // The escaped forms are what `ls -b` shows (and bash's $'...' reads back).
    let listing = e.ok(&["ls", &new]);
    for shown in [
        "title\\e]0;pwned\\a",
        "x\\n-  removed /etc/shadow",
        "carriage\\rreturn",
        "bad\\xff\\xfeutf8",
        "back\\\\slash",
    ] {
        assert!(listing.contains(shown), "{shown} not in:\n{listing}");
    }
    assert!(e.ok(&["ls", "-l", &new]).contains("-> \\e[31mred\\a"));

    // --json: the exact bytes, invalid UTF-8 included.
    let want = hostile_paths(&d);
    let lines = e.ok(&["--json", "ls", &new]);
    let listed: Vec<Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let names: Vec<Vec<u8>> = listed.iter().map(json_name).collect();
    for w in &want {
        assert!(
            names.contains(w),
            "{:?} missing from ls --json",
            String::from_utf8_lossy(w)
        );
    }
    let link = listed
        .iter()
        .find(|v| v["path"].as_str().unwrap().ends_with("/link"))
        .unwrap();
    assert_eq!(link["target"], "\x1b[31mred\x07");

    let diff = e.ok_json(&["diff", &old, &new]);
    let changed: Vec<Vec<u8>> = diff["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(json_name)
        .collect();
    for w in &want {
        assert!(
            changed.contains(w),
            "{:?} missing from diff --json",
            String::from_utf8_lossy(w)
        );
    }

    let plan = e.ok_json(&[
        "restore",
        &new,
        "--target",
        t.to_str().unwrap(),
        "--dry-run",
    ]);
    let planned: Vec<Vec<u8>> = plan["report"]["plan"]
        .as_array()
        .unwrap()
        .iter()
        .map(json_name)
        .collect();
    for w in &want {
        assert!(
            planned.contains(w),
            "{:?} missing from the plan",
            String::from_utf8_lossy(w)
        );
    }
}

#[test]
fn warnings_and_errors_escape_the_names_they_carry() {
    let e = Env::new();
    let d = hostile_tree(&e);
    // A snapshot root that is a symlink is noticed, with its target in the message.
    let root = e.path("root-link");
    std::os::unix::fs::symlink(
        OsStr::from_bytes(b"/\x1b]0;pwned\x07\n-  removed /etc/shadow"),
        &root,
    )
    .unwrap();
    let out = run(&e, &[OsStr::new("snapshot"), root.as_os_str()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("symlink"), "{}", stderr(&out));
    assert_clean("snapshot of a symlink root", &out.stderr);

    // An error naming a path given on the command line.
    let snap = e.snapshot(&d);
    let bad = OsStr::from_bytes(b"/\x1b[2J\n-  removed /etc/shadow/..");
    let out = run(&e, &[OsStr::new("ls"), OsStr::new(&snap), bad]);
    assert_ne!(code(&out), 0);
    assert!(stderr(&out).contains("error"), "{}", stderr(&out));
    assert_clean("ls error", &out.stderr);
    // ... and under --log-format json, the message is escaped alike.
    let mut args: Vec<&OsStr> = ["--log-format", "json", "ls", &snap]
        .into_iter()
        .map(OsStr::new)
        .collect();
    args.push(bad);
    let out = run(&e, &args);
    assert_clean("ls error (json log)", &out.stderr);
    let ev: Value =
        serde_json::from_slice(out.stderr.split(|b| *b == b'\n').next().unwrap()).unwrap();
    assert!(!ev["message"].as_str().unwrap().contains('\x1b'), "{ev}");
}

/// Run the binary as `nobody` (uid/gid 65534) with the test password.
fn as_nobody(e: &Env, args: &[&OsStr]) -> Output {
    let mut c = Command::new("setpriv");
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("LIFEBOAT_") {
            c.env_remove(&k);
        }
    }
    c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_lifeboat"))
        .arg("--repo")
        .arg(&e.repo)
        .args(args)
        .env("LIFEBOAT_NO_CONFIG", "1")
        .env("LIFEBOAT_PASSWORD", PASSWORD)
        .stdin(Stdio::null());
    c.output().unwrap()
}

#[test]
fn an_unreadable_file_is_warned_about_with_its_name_escaped() {
    let e = Env::new();
    let d = hostile_tree(&e);
    let name = OsStr::from_bytes(b"secret\x1b]0;pwned\x07\n-  removed etc-shadow");
    let f = d.join(name);
    std::fs::write(&f, b"x").unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o000)).unwrap();
    let args = [OsStr::new("snapshot"), d.as_os_str()];
    let out = if is_root() {
        if !common::has_tool("setpriv") {
            eprintln!(
                "SKIPPED an_unreadable_file_is_warned_about_with_its_name_escaped: needs setpriv as root"
            );
            return;
        }
        // Everything but the file itself belongs to `nobody`, who then cannot read it.
        std::fs::set_permissions(e.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        for p in walk(&e.repo).into_iter().chain([e.repo.clone(), d.clone()]) {
            std::os::unix::fs::lchown(&p, Some(65534), Some(65534)).unwrap();
        }
        std::os::unix::fs::lchown(d.join("plain"), Some(65534), Some(65534)).unwrap();
        as_nobody(&e, &args)
    } else {
        run(&e, &args)
    };
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("secret\\e]0;pwned\\a\\n-  removed"),
        "{}",
        stderr(&out)
    );
    assert_clean("unreadable file warning", &out.stderr);
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() && !p.is_symlink() {
            out.extend(walk(&p));
        }
        out.push(p);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Errors under --json
// ---------------------------------------------------------------------------------------------

/// The one JSON object a failing command prints on stdout under `--json`, checked against
/// the exit code.
fn json_error(what: &str, out: &Output) -> Value {
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "{what}: stdout is not one JSON object ({e}):\n{text}\nstderr: {}",
            stderr(out)
        )
    });
    assert_eq!(v["exit"], code(out), "{what}: {v}");
    assert!(
        v["error"].as_str().is_some_and(|s| !s.is_empty()),
        "{what}: {v}"
    );
    assert!(v["code"].is_string(), "{what}: {v}");
    assert!(
        stderr(out).contains("error"),
        "{what}: stderr keeps the message for people"
    );
    v
}

#[test]
fn json_errors_are_one_object_on_stdout_with_code_and_exit() {
    let e = Env::new();
    let d = hostile_tree(&e);
    let id = e.snapshot(&d);
    let cases: Vec<(Vec<&str>, &str, i32)> = vec![
        (
            vec!["--json", "restore", "deadbeef", "--target", "/tmp/x"],
            "failure",
            1,
        ),
        // Parse errors by clap itself, and usage errors found after parsing.
        (vec!["--json", "restore"], "usage", 2),
        (vec!["restore", "--no-such-flag", "--json"], "usage", 2),
        (
            vec![
                "--json",
                "restore",
                &id,
                "--target",
                "t",
                "--apply-firewall",
            ],
            "usage",
            2,
        ),
    ];
    for (args, want, exit) in cases {
        let out = e.run(&args);
        let v = json_error(&format!("{args:?}"), &out);
        assert_eq!(
            (v["code"].as_str().unwrap(), code(&out)),
            (want, exit),
            "{args:?}: {v}"
        );
    }
    // No repository there.
    let out = common::lifeboat_cmd()
        .env("LIFEBOAT_PASSWORD", PASSWORD)
        .args(["--json", "--repo"])
        .arg(e.path("nowhere"))
        .arg("snapshots")
        .output()
        .unwrap();
    let v = json_error("no repository", &out);
    assert_eq!(
        (v["code"].as_str().unwrap(), code(&out)),
        ("no_repository", 10),
        "{v}"
    );
    assert!(v["hint"].as_str().unwrap().contains("lifeboat init"), "{v}");
    // The wrong password.
    let out = e
        .cmd()
        .env("LIFEBOAT_PASSWORD", "not the password")
        .args(["--json", "snapshots"])
        .output()
        .unwrap();
    let v = json_error("wrong password", &out);
    assert_eq!(
        (v["code"].as_str().unwrap(), code(&out)),
        ("wrong_password", 12),
        "{v}"
    );
    // Damaged data: the snapshot file cut short.
    let snap_file = std::fs::read_dir(e.repo.join("snapshots"))
        .unwrap()
        .map(|f| f.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&id[..8])
        })
        .unwrap();
    let bytes = std::fs::read(&snap_file).unwrap();
    std::fs::write(&snap_file, &bytes[..bytes.len() / 2]).unwrap();
    let out = e.run(&["--json", "ls", &id]);
    let v = json_error("damaged snapshot", &out);
    assert_eq!(
        (v["code"].as_str().unwrap(), code(&out)),
        ("integrity", 4),
        "{v}"
    );
    // Without --json, stdout stays empty and stderr has the message.
    let out = e.run(&["restore", "deadbeef", "--target", "/tmp/x"]);
    assert!(out.stdout.is_empty());
    assert!(stderr(&out).starts_with("error: "), "{}", stderr(&out));
}

#[test]
fn no_repository_given_is_a_usage_error() {
    let out = common::lifeboat_cmd().args(["snapshots"]).output().unwrap();
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("--repo"), "{}", stderr(&out));
    let out = common::lifeboat_cmd()
        .args(["--json", "snapshots"])
        .output()
        .unwrap();
    assert_eq!(json_error("no repository given", &out)["code"], "usage");
}

#[test]
fn a_missing_config_file_is_reported_once_as_a_usage_error() {
    let e = Env::new();
    let missing = e.path("missing.toml");
    let out = e
        .cmd()
        .arg("--config")
        .arg(&missing)
        .arg("snapshots")
        .output()
        .unwrap();
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
    assert_eq!(err.matches("missing.toml").count(), 1, "{err}");
    let out = e
        .cmd()
        .arg("--config")
        .arg(&missing)
        .args(["--json", "snapshots"])
        .output()
        .unwrap();
    let v = json_error("missing config", &out);
    assert_eq!(v["code"], "usage");
    assert!(v["hint"].as_str().unwrap().contains("config check"), "{v}");
}

// ---------------------------------------------------------------------------------------------
// Small things in the output
// ---------------------------------------------------------------------------------------------

#[test]
fn restore_dry_run_to_root_prints_paths_without_a_double_slash() {
    let e = Env::new();
    let d = hostile_tree(&e);
    let id = e.snapshot(&d);
    let out = e.ok(&["restore", &id, "--target", "/", "--dry-run"]);
    assert!(!out.contains("//"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.ends_with(&format!(" {}", d.join("plain").display()))),
        "{out}"
    );
    let out = e.ok(&["restore", &id, "--target", "/tmp/x/", "--dry-run"]);
    assert!(!out.contains("//"), "{out}");
}

#[test]
fn wrong_password_hint_names_the_password_source_and_a_step_that_works() {
    let e = Env::new();
    let out = e
        .cmd()
        .env("LIFEBOAT_PASSWORD", "nope")
        .arg("snapshots")
        .output()
        .unwrap();
    assert_eq!(code(&out), 12);
    let err = stderr(&out);
    let hint = err
        .lines()
        .find(|l| l.starts_with("hint:"))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(
        !hint.contains("key list"),
        "key list needs the password: {hint}"
    );
    assert!(hint.contains("LIFEBOAT_PASSWORD"), "{hint}");
    assert!(hint.contains("key add"), "{hint}");
    assert!(!err.contains("nope"), "the password itself is never shown");
    let f = e.path("pw");
    std::fs::write(&f, "nope\n").unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = common::lifeboat_cmd()
        .arg("--repo")
        .arg(&e.repo)
        .arg("--password-file")
        .arg(&f)
        .arg("snapshots")
        .output()
        .unwrap();
    assert_eq!(code(&out), 12);
    let err = stderr(&out);
    assert!(
        err.contains(&format!("{}", f.display())) && err.contains("--password-file"),
        "{err}"
    );
}

#[test]
fn show_on_a_snapshot_without_containers_says_so_and_succeeds() {
    let e = Env::new();
    let d = hostile_tree(&e);
    let id = e.snapshot(&d);
    let out = e.run(&["show", &id]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("no Docker deployment"), "{text}");
    assert!(text.contains(&d.display().to_string()), "{text}");
    let v = e.ok_json(&["show", &id]);
    assert!(v["deployment"].is_null(), "{v}");
    assert_eq!(v["snapshot"], id.as_str());
}

#[test]
fn subcommand_help_lists_global_options_under_their_own_heading() {
    for sub in ["restore", "snapshot", "ls"] {
        let out = common::lifeboat_cmd()
            .args([sub, "--help"])
            .output()
            .unwrap();
        let help = String::from_utf8_lossy(&out.stdout);
        let (own, global) = help
            .split_once("Global options:")
            .unwrap_or_else(|| panic!("{sub} --help has no Global options heading:\n{help}"));
        for flag in [
            "--repo",
            "--password-file",
            "--json",
            "--lock-wait",
            "--log-format",
        ] {
            assert!(
                global.contains(flag),
                "{sub}: {flag} not under Global options"
            );
            assert!(
                !own.contains(flag),
                "{sub}: {flag} among the command's own options"
            );
        }
    }
}

/// Run with stdout on a pipe whose reading end is already closed (`| head -0`).
fn into_closed_pipe(mut c: Command) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    c.stdout(writer).stderr(Stdio::piped()).stdin(Stdio::null());
    c.output().unwrap()
}

#[test]
fn a_closed_stdout_pipe_ends_the_command_quietly_with_success() {
    let e = Env::new();
    let d = hostile_tree(&e);
    let id = e.snapshot(&d);
    let mut completions = common::lifeboat_cmd();
    completions.args(["completions", "bash"]);
    let mut snapshots = e.cmd();
    snapshots.arg("snapshots");
    let mut ls = e.cmd();
    ls.args(["ls", "-l", &id]);
    let mut diff = e.cmd();
    diff.args(["diff", &id, &id]);
    let mut json = e.cmd();
    json.args(["--json", "snapshots"]);
    let mut json_lines = e.cmd();
    json_lines.args(["--json", "ls", &id]);
    for (name, c) in [
        ("completions", completions),
        ("snapshots", snapshots),
        ("ls", ls),
        ("diff", diff),
        ("--json snapshots", json),
        ("--json ls", json_lines),
    ] {
        let out = into_closed_pipe(c);
        assert_eq!(code(&out), 0, "{name}: {}", stderr(&out));
        assert!(
            !stderr(&out).contains("panicked"),
            "{name}: {}",
            stderr(&out)
        );
    }
    // The repository is left unlocked.
    assert_eq!(std::fs::read_dir(e.repo.join("locks")).unwrap().count(), 0);
}

#[test]
fn config_check_reports_every_problem_with_file_line_and_key() {
    let e = Env::bare();
    let f = e.path("bad.toml");
    std::fs::write(
        &f,
        "[repository]\npath = \"relative/repo\"\nlock_wait = \"soon\"\n\n[snapshot]\npaths = [\"/x\"]\nexclud = [\"*.tmp\"]\n\n[retention]\nkeep_daily = \"seven\"\nkeep_within = \"2 fortnights\"\n",
    )
    .unwrap();
    let out = common::lifeboat_cmd()
        .args(["config", "check"])
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let err = stderr(&out);
    let file = f.display().to_string();
    for want in [
        format!("{file}:2: `repository.path`"),
        format!("{file}:3: `repository.lock_wait`"),
        format!("{file}:7: "),
        format!("{file}:10: "),
        format!("{file}:11: `retention.keep_within`"),
    ] {
        assert!(err.contains(&want), "{want} not reported:\n{err}");
    }
    assert!(err.contains("exclud"), "{err}");
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error: ")).count(),
        5,
        "{err}"
    );
    let out = common::lifeboat_cmd()
        .args(["--json", "config", "check"])
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(code(&out), 2);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["errors"].as_array().unwrap().len(), 5, "{v}");
    // A syntax error stops the reading there: reported alone, with its line.
    std::fs::write(&f, "[repository]\npath = \"/srv/r\"\nlock_wait = \n").unwrap();
    let out = common::lifeboat_cmd()
        .args(["config", "check"])
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains(&format!("{file}:3:")),
        "{}",
        stderr(&out)
    );
}

#[test]
fn docker_snapshot_summary_numbers_mean_one_thing_each_and_agree() {
    if !docker_support::docker_available() {
        return;
    }
    docker_support::ensure_test_image();
    let px = docker_support::Prefix::new();
    let e = Env::new();
    let c = px.n("sum");
    docker_support::docker(&[
        "run",
        "-d",
        "--name",
        &c,
        "-v",
        &format!("{}:/data", px.n("sum-vol")),
        docker_support::IMAGE_1,
        "sh",
        "-c",
        "trap 'exit 0' TERM INT; while :; do sleep 1; done",
    ]);
    docker_support::docker(&[
        "exec",
        &c,
        "sh",
        "-c",
        "head -c 300000 /dev/urandom > /data/big",
    ]);
    let text = e.ok(&["snapshot", "--container", &c]);
    let v = e.ok_json(&["snapshot", "--container", &c]);
    let data = &v["deployment"]["data"];
    let (volume_bytes, image_bytes) = (
        data["volume_bytes"].as_u64().unwrap(),
        data["image_bytes"].as_u64().unwrap(),
    );
    // The volumes' bytes are the volumes' alone (300 000 bytes and the image's small anonymous
    // volume), the image archive is counted apart, and together they are the snapshot's size.
    assert!((300_000..400_000).contains(&volume_bytes), "{v}");
    assert!(image_bytes > 1 << 20, "{v}");
    assert_eq!(
        volume_bytes + image_bytes,
        v["size"].as_u64().unwrap(),
        "{v}"
    );
    let shown: u64 = e.ok_json(&["show", v["id"].as_str().unwrap()])["deployment"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["bytes"].as_u64().unwrap())
        .sum();
    assert_eq!(shown, volume_bytes);
    // The text says the same numbers, and the size `snapshots` lists.
    let human = |n: u64| lifeboat::util::human_bytes(n);
    let docker_line = text.lines().find(|l| l.starts_with("docker:")).unwrap();
    assert!(
        docker_line.contains(&format!(" files, {};", human(volume_bytes)))
            && docker_line.contains(&format!("{} archived", human(image_bytes))),
        "{text}"
    );
    let size = human(v["size"].as_u64().unwrap());
    let saved = text.lines().find(|l| l.starts_with("snapshot ")).unwrap();
    assert!(saved.contains(&format!("saved: {size} in")), "{text}");
    let short = &saved["snapshot ".len().."snapshot ".len() + 8];
    let table = e.ok(&["snapshots"]);
    let row = table.lines().find(|l| l.starts_with(short)).unwrap();
    assert!(row.contains(&size), "{row} vs {text}");
    assert_eq!(
        e.ok_json(&["snapshots"])[0]["size"].as_u64(),
        v["size"].as_u64(),
        "the first snapshot holds the same data"
    );
}
