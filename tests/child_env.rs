//! Child processes never see secrets: `run`'s hooks, the password command and what
//! `schedule install` writes get no `LIFEBOAT_PASSWORD*` variable, no key or token variable,
//! and no AWS secret; a password command that hangs is timed out, with its whole process group
//! killed.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{Env, PASSWORD, code, lifeboat_cmd, s, stderr};

/// Secret variables set for lifeboat in these tests, with values found nowhere else.
const SECRETS: &[(&str, &str)] = &[
    ("LIFEBOAT_PASSWORD_EXTRA", "extra-secret-4711"),
    ("LIFEBOAT_API_TOKEN", "api-token-4712"),
    ("LIFEBOAT_S3_SECRET_KEY", "s3-secret-4713"),
    ("AWS_SECRET_ACCESS_KEY", "aws-secret-4714"),
    ("AWS_SESSION_TOKEN", "aws-token-4715"),
];

fn with_secrets(c: &mut Command) {
    for (k, v) in SECRETS {
        c.env(k, v);
    }
    // Not a secret: passed on, which shows the dump is of the environment lifeboat had.
    c.env("LIFEBOAT_CHILD_ENV_MARKER", "visible");
}

/// An `env` dump must hold the marker and none of the secrets (names or values).
fn assert_scrubbed(dump: &Path, password: &str) {
    let text = std::fs::read_to_string(dump)
        .unwrap_or_else(|e| panic!("{} was not written: {e}", dump.display()));
    assert!(
        text.contains("LIFEBOAT_CHILD_ENV_MARKER=visible"),
        "{}: not lifeboat's environment:\n{text}",
        dump.display()
    );
    for line in text.lines() {
        let name = line.split('=').next().unwrap_or("");
        assert!(
            !name.starts_with("LIFEBOAT_PASSWORD"),
            "{} has {line}",
            dump.display()
        );
    }
    assert!(
        !text.contains(password),
        "{}: the password leaked",
        dump.display()
    );
    for (k, v) in SECRETS {
        assert!(
            !text.contains(k) && !text.contains(v),
            "{}: {k} leaked:\n{text}",
            dump.display()
        );
    }
}

fn run(mut c: Command) -> Output {
    c.stdin(Stdio::null()).output().expect("run lifeboat")
}

/// `lifeboat run` with LIFEBOAT_PASSWORD set: the before, after and on_error hooks dump their
/// environment; no secret is in any of them.
#[test]
fn hooks_do_not_inherit_the_password_or_secrets() {
    let e = Env::new();
    let data = e.path("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("f"), "x").unwrap();
    let config = |hooks: &str| {
        let cfg = e.path("lifeboat.toml");
        std::fs::write(
            &cfg,
            format!(
                "name = \"nightly\"\n\n[repository]\npath = \"{}\"\n\n[snapshot]\npaths = [\"{}\"]\n\n[monitoring]\nstate_dir = \"{}\"\n\n[hooks]\n{hooks}\n",
                e.repo.display(),
                data.display(),
                e.path("state").display(),
            ),
        )
        .unwrap();
        cfg
    };
    let lifeboat = |cfg: &Path| {
        let mut c = lifeboat_cmd();
        c.env("LIFEBOAT_PASSWORD", PASSWORD)
            .arg("--config")
            .arg(cfg)
            .arg("run");
        with_secrets(&mut c);
        run(c)
    };
    let (before, after, on_error) = (
        e.path("before.env"),
        e.path("after.env"),
        e.path("on_error.env"),
    );
    let cfg = config(&format!(
        "before = [\"env > {}\"]\nafter = [\"env > {}\"]",
        before.display(),
        after.display()
    ));
    let out = lifeboat(&cfg);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_scrubbed(&before, PASSWORD);
    assert_scrubbed(&after, PASSWORD);

    let cfg = config(&format!(
        "before = [\"exit 3\"]\non_error = [\"env > {}\"]",
        on_error.display()
    ));
    let out = lifeboat(&cfg);
    assert_eq!(code(&out), 30, "{}", stderr(&out));
    assert_scrubbed(&on_error, PASSWORD);
    let text = std::fs::read_to_string(&on_error).unwrap();
    assert!(text.contains("LIFEBOAT_ERROR="), "{text}");
}

/// The password command itself gets none of the secrets either, not even
/// LIFEBOAT_PASSWORD_COMMAND or a LIFEBOAT_PASSWORD that it overrides.
#[test]
fn password_command_does_not_inherit_the_password_or_secrets() {
    let e = Env::new();
    let dump = e.path("pwcmd.env");
    let mut c = lifeboat_cmd();
    c.arg("--repo")
        .arg(&e.repo)
        .env("LIFEBOAT_PASSWORD", "overridden-password-4716")
        .env(
            "LIFEBOAT_PASSWORD_COMMAND",
            format!("env > {}; echo '{PASSWORD}'", dump.display()),
        )
        .arg("snapshots");
    with_secrets(&mut c);
    let out = run(c);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_scrubbed(&dump, "overridden-password-4716");
}

/// A password command that never finishes is killed after LIFEBOAT_PASSWORD_COMMAND_TIMEOUT,
/// with its process group (a background child it started too), and the error names the
/// timeout and the program, never the command's arguments.
#[test]
fn hanging_password_command_is_timed_out_with_its_process_group() {
    let e = Env::new();
    let pidfile = e.path("grandchild.pid");
    let mut c = lifeboat_cmd();
    c.arg("--repo")
        .arg(&e.repo)
        .env(
            "LIFEBOAT_PASSWORD_COMMAND",
            format!(
                "sleep 3217 & echo $! > {}; wait; echo secret-arg-4717",
                pidfile.display()
            ),
        )
        .env("LIFEBOAT_PASSWORD_COMMAND_TIMEOUT", "1s")
        .arg("snapshots");
    let t = Instant::now();
    let out = run(c);
    let took = t.elapsed();
    assert!(took < Duration::from_secs(20), "took {took:?}");
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("password command (sleep …)") && err.contains("1s"),
        "{err}"
    );
    assert!(err.contains("LIFEBOAT_PASSWORD_COMMAND_TIMEOUT"), "{err}");
    assert!(
        !err.contains("3217") && !err.contains("secret-arg-4717"),
        "arguments leaked: {err}"
    );
    let pid = std::fs::read_to_string(&pidfile).unwrap();
    let stat = Path::new("/proc").join(pid.trim()).join("stat");
    // Killed: gone, or a zombie waiting for a reaper that may not exist in a container.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let alive = std::fs::read_to_string(&stat)
            .ok()
            .and_then(|st| st.rsplit(')').next().map(|r| r.trim().to_string()))
            .is_some_and(|r| !r.starts_with('Z'));
        if !alive {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the password command's background child {} still runs",
            pid.trim()
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // A bad timeout value is a usage error, not silently the default.
    let mut c = lifeboat_cmd();
    c.arg("--repo")
        .arg(&e.repo)
        .env("LIFEBOAT_PASSWORD_COMMAND", "echo x")
        .env("LIFEBOAT_PASSWORD_COMMAND_TIMEOUT", "soon")
        .arg("snapshots");
    let out = run(c);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("LIFEBOAT_PASSWORD_COMMAND_TIMEOUT"),
        "{}",
        stderr(&out)
    );
}

/// What `schedule install` writes (systemd units, a cron file) carries no password and no
/// secret variable, even when the installing shell has them.
#[test]
fn scheduled_units_carry_no_password() {
    let d = tempfile::tempdir().unwrap();
    let units = d.path().join("units");
    std::fs::create_dir(&units).unwrap();
    let config = d.path().join("lifeboat.toml");
    std::fs::write(&config, "").unwrap();
    let cron = d.path().join("cron");
    for target in [["--unit-dir", s(&units)], ["--cron-file", s(&cron)]] {
        let mut c = lifeboat_cmd();
        c.env("LIFEBOAT_PASSWORD", PASSWORD)
            .args(["schedule", "install", "--no-enable", "--job", "nightly"])
            .args(["--on-calendar", "daily", "--config", s(&config)])
            .args(target);
        with_secrets(&mut c);
        let out = run(c);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    }
    let mut files: Vec<_> = std::fs::read_dir(&units)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.push(cron);
    assert_eq!(files.len(), 3);
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(!text.contains(PASSWORD), "{}: {text}", f.display());
        assert!(!text.contains("PASSWORD"), "{}: {text}", f.display());
        assert!(!text.contains("Environment"), "{}: {text}", f.display());
        for (k, v) in SECRETS {
            assert!(
                !text.contains(k) && !text.contains(v),
                "{}: {text}",
                f.display()
            );
        }
    }
}
