//! `lifeboat schedule` through the real binary, always with `--unit-dir` or `--cron-file` in a
//! temp dir so nothing touches /etc or the host's systemd: unit contents and modes, what
//! `systemd-analyze verify` thinks of them, cron files, remove, and usage errors.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{code, lifeboat_cmd, s, stderr};

fn run(args: &[&str]) -> Output {
    lifeboat_cmd()
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run lifeboat")
}

fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "lifeboat {args:?} failed ({:?}):\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

fn has_command(name: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|st| st.success())
}

fn binary() -> String {
    std::fs::canonicalize(env!("CARGO_BIN_EXE_lifeboat"))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn install_writes_units_with_modes_and_contents() {
    let d = tempfile::tempdir().unwrap();
    let units = d.path().join("units");
    std::fs::create_dir(&units).unwrap();
    let config = d.path().join("lifeboat.toml");
    std::fs::write(&config, "").unwrap();
    let out = ok(&[
        "schedule",
        "install",
        "--unit-dir",
        s(&units),
        "--no-enable",
        "--job",
        "models",
        "--on-calendar",
        "*-*-* 03:30:00",
        "--randomized-delay",
        "15m",
        "--config",
        s(&config),
    ]);
    assert!(out.contains("not enabled"), "{out}");
    let service = units.join("lifeboat-models.service");
    let timer = units.join("lifeboat-models.timer");
    assert_eq!(mode(&service), 0o644);
    assert_eq!(mode(&timer), 0o644);
    // Only the two units: no temporaries left behind.
    assert_eq!(std::fs::read_dir(&units).unwrap().count(), 2);

    let svc = std::fs::read_to_string(&service).unwrap();
    let want_exec = format!(
        "ExecStart={} run --config {} --job models\n",
        binary(),
        config.display()
    );
    assert!(svc.contains(&want_exec), "{svc}");
    for line in [
        "Type=oneshot",
        "Nice=19",
        "IOSchedulingClass=idle",
        "PrivateTmp=yes",
        "NoNewPrivileges=yes",
        "ProtectKernelTunables=yes",
        "ProtectKernelModules=yes",
        "ProtectControlGroups=yes",
        "RestrictSUIDSGID=yes",
        "LockPersonality=yes",
        "MemoryDenyWriteExecute=yes",
        "SystemCallArchitectures=native",
        "TimeoutStartSec=24h",
    ] {
        assert!(svc.lines().any(|l| l == line), "missing {line}:\n{svc}");
    }
    // A tool that restores /etc and reads /home must not get a read-only or hidden view.
    assert!(!svc.lines().any(|l| l.starts_with("ProtectSystem=")));
    assert!(!svc.lines().any(|l| l.starts_with("ProtectHome=")));

    let tmr = std::fs::read_to_string(&timer).unwrap();
    for line in [
        "OnCalendar=*-*-* 03:30:00",
        "RandomizedDelaySec=900s",
        "Persistent=true",
        "AccuracySec=1min",
        "Unit=lifeboat-models.service",
        "WantedBy=timers.target",
    ] {
        assert!(tmr.lines().any(|l| l == line), "missing {line}:\n{tmr}");
    }

    // Status reads them back without asking systemd (not its directory).
    let st: serde_json::Value = serde_json::from_str(&ok(&[
        "--json",
        "schedule",
        "status",
        "--unit-dir",
        s(&units),
    ]))
    .unwrap();
    assert_eq!(st["systemd"], false);
    assert_eq!(st["timers"][0]["job"], "models");
    assert_eq!(st["timers"][0]["on_calendar"], "*-*-* 03:30:00");
    assert!(st["timers"][0]["enabled"].is_null());

    // Installing again replaces the units.
    ok(&[
        "schedule",
        "install",
        "--unit-dir",
        s(&units),
        "--no-enable",
        "--job",
        "models",
        "--on-calendar",
        "hourly",
        "--config",
        s(&config),
    ]);
    assert!(
        std::fs::read_to_string(&timer)
            .unwrap()
            .contains("OnCalendar=hourly\n")
    );
}

#[test]
fn units_pass_systemd_analyze_verify() {
    if !has_command("systemd-analyze") {
        eprintln!("skipped: systemd-analyze is not installed");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    ok(&[
        "schedule",
        "install",
        "--unit-dir",
        s(d.path()),
        "--no-enable",
        "--job",
        "verify-me",
    ]);
    let service = d.path().join("lifeboat-verify-me.service");
    let timer = d.path().join("lifeboat-verify-me.timer");
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&service)
        .arg(&timer)
        .env("SYSTEMD_LOG_COLOR", "0")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(
        out.status.success(),
        "systemd-analyze verify failed:\n{err}"
    );
    // Unknown or invalid settings are only warnings: none may name our units.
    let ours: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("lifeboat-verify-me"))
        .collect();
    assert!(ours.is_empty(), "systemd-analyze verify complained:\n{err}");
}

#[test]
fn invalid_calendar_is_a_usage_error() {
    let d = tempfile::tempdir().unwrap();
    let mut bad = vec![""];
    if has_command("systemd-analyze") {
        bad.extend(["bogus", "*-*-* 25:00:00"]);
    } else {
        eprintln!("systemd-analyze is not installed: only the checks lifeboat makes itself");
    }
    for cal in bad {
        let out = run(&[
            "schedule",
            "install",
            "--unit-dir",
            s(d.path()),
            "--no-enable",
            "--on-calendar",
            cal,
        ]);
        assert_eq!(code(&out), 2, "{cal:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("calendar"), "{}", stderr(&out));
    }
    let out = run(&[
        "schedule",
        "install",
        "--unit-dir",
        s(d.path()),
        "--job",
        "../etc",
    ]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("job name"), "{}", stderr(&out));
    assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0);
}

#[test]
fn remove_deletes_the_units() {
    let d = tempfile::tempdir().unwrap();
    let dir = s(d.path());
    ok(&[
        "schedule",
        "install",
        "--unit-dir",
        dir,
        "--no-enable",
        "--job",
        "a",
    ]);
    ok(&[
        "schedule",
        "install",
        "--unit-dir",
        dir,
        "--no-enable",
        "--job",
        "b",
    ]);
    let out = ok(&["schedule", "remove", "--unit-dir", dir, "--job", "a"]);
    assert!(
        out.contains("lifeboat-a.timer") && out.contains("lifeboat-a.service"),
        "{out}"
    );
    let mut left: Vec<String> = std::fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["lifeboat-b.service", "lifeboat-b.timer"]);
    // Removing again says there is nothing to remove.
    let out = run(&["schedule", "remove", "--unit-dir", dir, "--job", "a"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("no schedule for job"),
        "{}",
        stderr(&out)
    );
    // A unit lifeboat did not write is left alone.
    std::fs::write(
        d.path().join("lifeboat-c.timer"),
        "[Timer]\nOnCalendar=daily\n",
    )
    .unwrap();
    let out = run(&["schedule", "remove", "--unit-dir", dir, "--job", "c"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("not generated by lifeboat"),
        "{}",
        stderr(&out)
    );
    assert!(d.path().join("lifeboat-c.timer").exists());
}

#[test]
fn cron_file_install_and_remove() {
    let d = tempfile::tempdir().unwrap();
    let cron = d.path().join("lifeboat-nightly");
    ok(&[
        "schedule",
        "install",
        "--cron-file",
        s(&cron),
        "--job",
        "nightly",
        "--on-calendar",
        "*-*-* 03:30:00",
        "--config",
        "/etc/lifeboat/lifeboat.toml",
    ]);
    assert_eq!(mode(&cron), 0o644);
    let text = std::fs::read_to_string(&cron).unwrap();
    let want = format!(
        "30 3 * * * root {} run --config /etc/lifeboat/lifeboat.toml --job nightly\n",
        binary()
    );
    assert!(text.ends_with(&want), "{text}");
    assert!(text.contains("SHELL=/bin/sh\n"));

    // A calendar cron cannot express: usage error, nothing written.
    let other = d.path().join("lifeboat-other");
    let out = run(&[
        "schedule",
        "install",
        "--cron-file",
        s(&other),
        "--on-calendar",
        "*-*-* 03:30:15",
    ]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot translate"),
        "{}",
        stderr(&out)
    );
    assert!(!other.exists());

    ok(&[
        "schedule",
        "remove",
        "--job",
        "nightly",
        "--cron-file",
        s(&cron),
    ]);
    assert!(!cron.exists());
}

#[test]
fn dry_run_writes_nothing() {
    let d = tempfile::tempdir().unwrap();
    let out = ok(&[
        "schedule",
        "install",
        "--unit-dir",
        s(d.path()),
        "--dry-run",
    ]);
    assert!(
        out.contains("[Timer]") && out.contains("ExecStart="),
        "{out}"
    );
    let cron = d.path().join("lifeboat-default");
    let out = ok(&["schedule", "install", "--cron-file", s(&cron), "--dry-run"]);
    assert!(out.contains("0 0 * * * root "), "{out}");
    assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0);
}
