//! Daily operations from the configuration file: `config check/example`, `snapshot` of the
//! configured job, `run` (hooks, snapshot, forget, prune, verify, run record, metrics, exit
//! code per step), `status`, JSON logs, and overlapping runs and killed runs against the locks.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use common::Env;

/// A configuration for `e`'s repository backing up `data`, with extra TOML appended.
fn write_config(e: &Env, data: &Path, extra: &str) -> PathBuf {
    let pw = e.path("password");
    std::fs::write(&pw, format!("{}\n", common::PASSWORD)).unwrap();
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).unwrap();
    let cfg = e.path("lifeboat.toml");
    std::fs::write(
        &cfg,
        format!(
            "name = \"nightly\"\nhostname = \"ops-test\"\n\n[repository]\npath = \"{}\"\npassword_file = \"{}\"\nlock_wait = \"60s\"\n\n[snapshot]\npaths = [\"{}\"]\n\n[monitoring]\nstate_dir = \"{}\"\nmetrics_file = \"{}\"\n{extra}",
            e.repo.display(),
            pw.display(),
            data.display(),
            e.path("state").display(),
            e.path("metrics/lifeboat.prom").display(),
        ),
    )
    .unwrap();
    std::fs::create_dir_all(e.path("metrics")).unwrap();
    cfg
}

/// `lifeboat --config CFG ARGS` with no repository or password on the command line.
fn with_config(cfg: &Path, args: &[&str]) -> std::process::Output {
    common::lifeboat_cmd()
        .arg("--config")
        .arg(cfg)
        .args(args)
        .output()
        .unwrap()
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn config_check_names_file_line_and_key() {
    let e = Env::bare();
    let example = common::lifeboat_cmd()
        .args(["config", "example"])
        .output()
        .unwrap();
    assert!(example.status.success());
    let file = e.path("example.toml");
    std::fs::write(&file, &example.stdout).unwrap();
    let ok = common::lifeboat_cmd()
        .args(["config", "check"])
        .arg(&file)
        .output()
        .unwrap();
    // Valid; warnings (paths of the example do not exist here) give exit 3.
    assert!(
        matches!(common::code(&ok), 0 | 3),
        "{}",
        common::stderr(&ok)
    );
    assert!(
        stdout(&ok).contains("valid; job \"ml-prod\""),
        "{}",
        stdout(&ok)
    );

    let bad = e.path("bad.toml");
    std::fs::write(
        &bad,
        "[repository]\npath = \"/srv/r\"\n\n[retention]\nkeep_daily = 7\nkeep_within = \"soon\"\n",
    )
    .unwrap();
    let out = common::lifeboat_cmd()
        .args(["config", "check"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(common::code(&out), 2);
    let err = common::stderr(&out);
    assert!(
        err.contains(&format!("{}:6: `retention.keep_within`", bad.display())),
        "{err}"
    );

    // Every other command refuses to run on a broken configuration, with a usage exit.
    std::fs::write(&bad, "[snapshot]\npaths = [\"/x\"]\nexclud = [\"*.tmp\"]\n").unwrap();
    let out = with_config(&bad, &["snapshots"]);
    assert_eq!(common::code(&out), 2);
    assert!(
        common::stderr(&out).contains(":3: `snapshot.exclud`: unknown field `exclud`"),
        "{}",
        common::stderr(&out)
    );
}

/// `run` three times: each makes a snapshot, keeps the last two, verifies a slice, records the
/// run and writes metrics; `status` then reports the job; `snapshot` alone takes the job too.
#[test]
fn run_executes_the_configured_job() {
    let e = Env::new();
    let data = e.path("data");
    std::fs::create_dir_all(&data).unwrap();
    let hook_log = e.path("hooks.log");
    let cfg = write_config(
        &e,
        &data,
        &format!(
            "\n[retention]\nkeep_last = 2\n\n[prune]\nevery = \"1s\"\n\n[verify]\nread_data_subset = \"100%\"\n\n[hooks]\nbefore = [\"echo before $LIFEBOAT_JOB >> {0}\"]\nafter = [\"echo after >> {0}\"]\n",
            hook_log.display()
        ),
    );
    for i in 0..3 {
        std::fs::write(data.join(format!("file{i}")), vec![i as u8; 100_000]).unwrap();
        let out = with_config(&cfg, &["--json", "run"]);
        assert_eq!(
            common::code(&out),
            0,
            "run {i}: {}{}",
            stdout(&out),
            common::stderr(&out)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["job"], "nightly");
        assert_eq!(v["success"], true);
        let status = |name: &str| {
            v["steps"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["name"] == name)
                .unwrap()["status"]
                .clone()
        };
        assert_eq!(status("snapshot"), "ok");
        assert_eq!(status("forget"), "ok");
        assert_eq!(status("verify"), "ok");
    }
    let snaps = e.ok_json(&["snapshots"]);
    assert_eq!(snaps.as_array().unwrap().len(), 2, "keep_last = 2: {snaps}");
    let hooks = std::fs::read_to_string(&hook_log).unwrap();
    assert_eq!(hooks.matches("before nightly").count(), 3, "{hooks}");
    assert_eq!(hooks.matches("after").count(), 3, "{hooks}");

    let metrics = std::fs::read_to_string(e.path("metrics/lifeboat.prom")).unwrap();
    assert!(
        metrics.contains("lifeboat_run_success{job=\"nightly\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("lifeboat_snapshots{job=\"nightly\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("lifeboat_step_success{job=\"nightly\",step=\"snapshot\"} 1"),
        "{metrics}"
    );

    let out = with_config(&cfg, &["--json", "status"]);
    assert_eq!(
        common::code(&out),
        0,
        "{}{}",
        stdout(&out),
        common::stderr(&out)
    );
    let st: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(st["jobs"][0]["job"], "nightly");
    assert_eq!(st["jobs"][0]["success"], true);
    assert_eq!(st["repository"]["snapshots"], 2);
    assert!(st["repository"]["dedup_ratio"].as_f64().unwrap() > 0.0);
    // A schedule that wants a snapshot every second: the newest one is too old.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let out = with_config(&cfg, &["status", "--max-age", "1s"]);
    assert_eq!(common::code(&out), 3);
    assert!(
        common::stderr(&out).contains("more than the 1s the schedule allows"),
        "{}",
        common::stderr(&out)
    );

    // `snapshot` without arguments takes the configured job; a tag from the command line adds.
    let out = with_config(&cfg, &["--json", "snapshot", "--tag", "manual"]);
    assert_eq!(common::code(&out), 0, "{}", common::stderr(&out));
    let v = e.ok_json(&["snapshots", "--tag", "manual"]);
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["hostname"], "ops-test");
}

/// A failing `before` hook stops the job before the snapshot (exit 30); `on_error` hooks get
/// the reason; JSON logs are one object per line.
#[test]
fn failing_hook_stops_the_job_with_its_own_exit_code() {
    let e = Env::new();
    let data = e.path("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("f"), "x").unwrap();
    let err_log = e.path("error.log");
    let cfg = write_config(
        &e,
        &data,
        &format!(
            "\n[retention]\nkeep_last = 1\n\n[hooks]\nbefore = [\"exit 7\"]\non_error = [\"echo \\\"$LIFEBOAT_ERROR\\\" > {}\"]\n",
            err_log.display()
        ),
    );
    let out = with_config(&cfg, &["--log-format", "json", "run"]);
    assert_eq!(
        common::code(&out),
        30,
        "{}{}",
        stdout(&out),
        common::stderr(&out)
    );
    assert!(
        stdout(&out).contains("snapshot  skipped"),
        "{}",
        stdout(&out)
    );
    let reason = std::fs::read_to_string(&err_log).unwrap();
    assert!(
        reason.contains("hooks: hook #1 (exit …) failed"),
        "{reason}"
    );
    for line in common::stderr(&out).lines() {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|err| panic!("not a JSON log line ({err}): {line}"));
        assert!(
            v["time"].is_string() && v["level"].is_string() && v["event"].is_string(),
            "{line}"
        );
    }
    assert_eq!(e.ok_json(&["snapshots"]).as_array().unwrap().len(), 0);
    let st = with_config(&cfg, &["status"]);
    assert_eq!(common::code(&st), 3);
    assert!(
        common::stderr(&st).contains("the last run"),
        "{}",
        common::stderr(&st)
    );
}

/// Overlapping runs (two timers' runs, a manual snapshot, a prune) all finish, none deadlocks,
/// and the repository verifies; a snapshot killed with SIGKILL leaves a lock that the next
/// exclusive command detects as stale and clears.
#[test]
fn overlapping_and_killed_runs_leave_a_sound_repository() {
    let e = Env::new();
    let data = e.path("data");
    std::fs::create_dir_all(&data).unwrap();
    for i in 0..20 {
        std::fs::write(data.join(format!("f{i}")), common::random_bytes(i, 2 << 20)).unwrap();
    }
    let cfg = write_config(
        &e,
        &data,
        "\n[retention]\nkeep_last = 3\n\n[prune]\nevery = \"1s\"\n",
    );
    let spawn = |args: &[&str]| {
        common::lifeboat_cmd()
            .arg("--config")
            .arg(&cfg)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let children = vec![
        spawn(&["run", "--no-verify"]),
        spawn(&["run", "--no-verify", "--prune"]),
        spawn(&["snapshot", "--tag", "manual"]),
        spawn(&["prune"]),
    ];
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            matches!(common::code(&out), 0 | 3),
            "{}{}",
            stdout(&out),
            common::stderr(&out)
        );
    }
    let v = with_config(&cfg, &["verify", "--read-data"]);
    assert_eq!(common::code(&v), 0, "{}{}", stdout(&v), common::stderr(&v));

    // SIGKILL a snapshot while it holds its lock.
    for i in 0..40 {
        std::fs::write(
            data.join(format!("big{i}")),
            common::random_bytes(100 + i, 4 << 20),
        )
        .unwrap();
    }
    let locks = e.repo.join("locks");
    let mut child = spawn(&["snapshot", "--force"]);
    let t = std::time::Instant::now();
    // A lock file proper, not the temporary file it is written through.
    let lock_files = || {
        std::fs::read_dir(&locks).map_or(0, |d| {
            d.filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| !e.file_name().to_string_lossy().starts_with('.'))
            })
            .count()
        })
    };
    while lock_files() == 0 {
        assert!(
            t.elapsed().as_secs() < 30,
            "the snapshot never took its lock"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(child.id() as i32).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    child.wait().unwrap();
    let left = lock_files();
    // An exclusive command does not wait for the dead process's lock.
    let out = with_config(&cfg, &["--lock-wait", "0s", "prune"]);
    assert_eq!(common::code(&out), 0, "{}", common::stderr(&out));
    assert_eq!(
        lock_files(),
        0,
        "stale lock ({left} left by the kill) not cleared"
    );
    let v = with_config(&cfg, &["verify", "--read-data"]);
    assert_eq!(common::code(&v), 0, "{}{}", stdout(&v), common::stderr(&v));
}
