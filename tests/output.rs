//! What lifeboat prints: names from a snapshot never reach the terminal raw (no escape
//! sequences, no forged lines) while `--json` keeps them exact; errors under `--json` are JSON;
//! and the small things an operator trips over in the output.

mod common;

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
