//! Prometheus metrics of a scheduled run, as a file for node_exporter's textfile collector, so a
//! failed or missing backup raises an alert instead of being noticed at restore time.
//!
//! The file holds one job's last run (write one file per job, e.g. `lifeboat-<job>.prom`).
//! Every family is a gauge labelled with `job`, the per-step ones also with `step`. The
//! success timestamp must survive failed runs, or `time() - lifeboat_last_success_timestamp_
//! seconds` would reset on every failure: [`write_textfile`] reads it back from the file it
//! replaces.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::error::{Error, Result};

/// One step of a run ("snapshot", "forget", "prune", "verify").
#[derive(Debug, Clone, PartialEq)]
pub struct StepMetrics {
    pub name: String,
    pub ok: bool,
    pub duration: Duration,
    pub bytes_added: u64,
    pub files: u64,
    pub errors: u64,
}

/// The outcome of one run of a job.
#[derive(Debug, Clone, PartialEq)]
pub struct RunMetrics {
    pub job: String,
    pub started: DateTime<Utc>,
    pub duration: Duration,
    pub success: bool,
    /// Step names must be unique within a run (each becomes one series per family).
    pub steps: Vec<StepMetrics>,
    pub snapshot_count: u64,
    pub repo_bytes: u64,
}

impl RunMetrics {
    /// When the run finished: `started + duration`.
    pub fn finished(&self) -> DateTime<Utc> {
        chrono::Duration::from_std(self.duration)
            .ok()
            .and_then(|d| self.started.checked_add_signed(d))
            .unwrap_or(self.started)
    }
}

const LAST_SUCCESS: &str = "lifeboat_last_success_timestamp_seconds";

/// The run in the Prometheus text exposition format (version 0.0.4), as node_exporter's
/// textfile collector reads it. `previous_success` is the last successful run's finish time,
/// reported while this run failed; `None` then reports 0 ("never").
pub fn render(m: &RunMetrics, previous_success: Option<DateTime<Utc>>) -> String {
    let job = format!("job=\"{}\"", escape_label(&m.job));
    let finished = m.finished();
    let last_success = if m.success {
        Some(finished)
    } else {
        previous_success
    };
    let mut out = String::new();
    let mut family = |name: &str, help: &str, samples: &[(String, f64)]| {
        let _ = writeln!(out, "# HELP lifeboat_{name} {help}");
        let _ = writeln!(out, "# TYPE lifeboat_{name} gauge");
        for (labels, v) in samples {
            let _ = writeln!(out, "lifeboat_{name}{{{labels}}} {}", number(*v));
        }
    };
    let one = |v: f64| [(job.clone(), v)];
    family(
        "last_run_timestamp_seconds",
        "Unix time the last run finished, successful or not.",
        &one(unix_seconds(finished)),
    );
    family(
        "last_success_timestamp_seconds",
        "Unix time the last successful run finished (0: none yet).",
        &one(last_success.map_or(0.0, unix_seconds)),
    );
    family(
        "run_duration_seconds",
        "Duration of the last run.",
        &one(m.duration.as_secs_f64()),
    );
    family(
        "run_success",
        "1 if the last run succeeded, else 0.",
        &one(flag(m.success)),
    );
    let per_step = |f: &dyn Fn(&StepMetrics) -> f64| -> Vec<(String, f64)> {
        m.steps
            .iter()
            .map(|s| (format!("{job},step=\"{}\"", escape_label(&s.name)), f(s)))
            .collect()
    };
    family(
        "step_success",
        "1 if the step succeeded in the last run, else 0.",
        &per_step(&|s| flag(s.ok)),
    );
    family(
        "step_duration_seconds",
        "Duration of the step in the last run.",
        &per_step(&|s| s.duration.as_secs_f64()),
    );
    family(
        "step_bytes_added",
        "Bytes the step added to the repository in the last run (after deduplication and compression).",
        &per_step(&|s| s.bytes_added as f64),
    );
    family(
        "step_files",
        "Files the step processed in the last run.",
        &per_step(&|s| s.files as f64),
    );
    family(
        "step_errors",
        "Errors (including skipped files) of the step in the last run.",
        &per_step(&|s| s.errors as f64),
    );
    family(
        "snapshots",
        "Snapshots in the repository after the last run.",
        &one(m.snapshot_count as f64),
    );
    family(
        "repository_bytes",
        "Size of the repository after the last run.",
        &one(m.repo_bytes as f64),
    );
    out
}

/// Write [`render`]'s output to `path` atomically, mode 0644 (node_exporter runs as another
/// user; the file holds no secrets). When this run failed, the success timestamp of the file it
/// replaces is kept. A missing or unparsable old file means no previous success.
pub fn write_textfile(path: &Path, m: &RunMetrics) -> Result<()> {
    let previous = if m.success {
        None
    } else {
        match std::fs::read_to_string(path) {
            Ok(text) => previous_success(&text, &m.job),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            // Not valid UTF-8: not ours, nothing to keep.
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => None,
            Err(e) => return Err(Error::io(path, e)),
        }
    };
    crate::util::write_file_atomic(path, render(m, previous).as_bytes(), 0o644)
}

/// The last success timestamp of `job` in a textfile written by [`render`] (`None` when absent,
/// zero or unparsable).
pub fn previous_success(text: &str, job: &str) -> Option<DateTime<Utc>> {
    let want = format!("{LAST_SUCCESS}{{job=\"{}\"}} ", escape_label(job));
    let value: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix(&want))?
        .trim()
        .parse()
        .ok()?;
    if !value.is_finite() || value <= 0.0 {
        return None;
    }
    let ms = (value * 1000.0).round() as i64;
    DateTime::from_timestamp_millis(ms)
}

/// A label value escaped per the exposition format: backslash, double quote and line feed.
pub fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn unix_seconds(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

fn flag(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

/// Shortest form that reads back as the same value (`3`, `0.25`, `1767323045.5`).
fn number(v: f64) -> String {
    format!("{v}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn sample(success: bool) -> RunMetrics {
        RunMetrics {
            job: "default".into(),
            started: Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap(),
            duration: Duration::from_millis(90_500),
            success,
            steps: vec![
                StepMetrics {
                    name: "snapshot".into(),
                    ok: true,
                    duration: Duration::from_millis(80_250),
                    bytes_added: 1_048_576,
                    files: 1234,
                    errors: 0,
                },
                StepMetrics {
                    name: "verify".into(),
                    ok: success,
                    duration: Duration::from_millis(10_250),
                    bytes_added: 0,
                    files: 0,
                    errors: u64::from(!success),
                },
            ],
            snapshot_count: 42,
            repo_bytes: 5_000_000_000,
        }
    }

    const GOLDEN: &str = r#"# HELP lifeboat_last_run_timestamp_seconds Unix time the last run finished, successful or not.
# TYPE lifeboat_last_run_timestamp_seconds gauge
lifeboat_last_run_timestamp_seconds{job="default"} 1767323135.5
# HELP lifeboat_last_success_timestamp_seconds Unix time the last successful run finished (0: none yet).
# TYPE lifeboat_last_success_timestamp_seconds gauge
lifeboat_last_success_timestamp_seconds{job="default"} 1767323135.5
# HELP lifeboat_run_duration_seconds Duration of the last run.
# TYPE lifeboat_run_duration_seconds gauge
lifeboat_run_duration_seconds{job="default"} 90.5
# HELP lifeboat_run_success 1 if the last run succeeded, else 0.
# TYPE lifeboat_run_success gauge
lifeboat_run_success{job="default"} 1
# HELP lifeboat_step_success 1 if the step succeeded in the last run, else 0.
# TYPE lifeboat_step_success gauge
lifeboat_step_success{job="default",step="snapshot"} 1
lifeboat_step_success{job="default",step="verify"} 1
# HELP lifeboat_step_duration_seconds Duration of the step in the last run.
# TYPE lifeboat_step_duration_seconds gauge
lifeboat_step_duration_seconds{job="default",step="snapshot"} 80.25
lifeboat_step_duration_seconds{job="default",step="verify"} 10.25
# HELP lifeboat_step_bytes_added Bytes the step added to the repository in the last run (after deduplication and compression).
# TYPE lifeboat_step_bytes_added gauge
lifeboat_step_bytes_added{job="default",step="snapshot"} 1048576
lifeboat_step_bytes_added{job="default",step="verify"} 0
# HELP lifeboat_step_files Files the step processed in the last run.
# TYPE lifeboat_step_files gauge
lifeboat_step_files{job="default",step="snapshot"} 1234
lifeboat_step_files{job="default",step="verify"} 0
# HELP lifeboat_step_errors Errors (including skipped files) of the step in the last run.
# TYPE lifeboat_step_errors gauge
lifeboat_step_errors{job="default",step="snapshot"} 0
lifeboat_step_errors{job="default",step="verify"} 0
# HELP lifeboat_snapshots Snapshots in the repository after the last run.
# TYPE lifeboat_snapshots gauge
lifeboat_snapshots{job="default"} 42
# HELP lifeboat_repository_bytes Size of the repository after the last run.
# TYPE lifeboat_repository_bytes gauge
lifeboat_repository_bytes{job="default"} 5000000000
"#;

    #[test]
    fn renders_golden_text() {
        assert_eq!(render(&sample(true), None), GOLDEN);
    }

    #[test]
    fn failed_run_without_history_reports_zero() {
        let text = render(&sample(false), None);
        assert!(text.contains("lifeboat_last_success_timestamp_seconds{job=\"default\"} 0\n"));
        assert!(text.contains("lifeboat_run_success{job=\"default\"} 0\n"));
        assert!(text.contains("lifeboat_step_success{job=\"default\",step=\"verify\"} 0\n"));
        assert!(text.contains("lifeboat_step_errors{job=\"default\",step=\"verify\"} 1\n"));
    }

    #[test]
    fn failed_run_keeps_previous_success_timestamp() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("lifeboat-default.prom");
        let ok = sample(true);
        write_textfile(&path, &ok).unwrap();
        let mut failed = sample(false);
        failed.started = ok.started + chrono::Duration::days(1);
        write_textfile(&path, &failed).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains(
                "lifeboat_last_success_timestamp_seconds{job=\"default\"} 1767323135.5\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("lifeboat_last_run_timestamp_seconds{job=\"default\"} 1767409535.5\n")
        );
        // A second failure still keeps it.
        failed.started += chrono::Duration::days(1);
        write_textfile(&path, &failed).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(previous_success(&text, "default"), Some(ok.finished()));
        // A success moves it on.
        let mut ok2 = sample(true);
        ok2.started = failed.started + chrono::Duration::days(1);
        write_textfile(&path, &ok2).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(previous_success(&text, "default"), Some(ok2.finished()));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o644);
        // Only the file: no temporary left next to it for node_exporter to trip over.
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn previous_success_is_per_job_and_tolerates_garbage() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("x.prom");
        std::fs::write(&path, b"\xff\xfe not text").unwrap();
        write_textfile(&path, &sample(false)).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("lifeboat_last_success_timestamp_seconds{job=\"default\"} 0\n"));
        let other = render(&sample(true), None).replace("job=\"default\"", "job=\"other\"");
        assert_eq!(previous_success(&other, "default"), None);
        assert_eq!(
            previous_success(
                "lifeboat_last_success_timestamp_seconds{job=\"default\"} nope\n",
                "default"
            ),
            None
        );
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(escape_label("two\nlines"), "two\\nlines");
        let mut m = sample(false);
        m.job = "we\"ird\\job\n".into();
        m.steps[0].name = "snap\"shot".into();
        let text = render(
            &m,
            Some(Utc.with_ymd_and_hms(2025, 12, 31, 0, 0, 0).unwrap()),
        );
        assert!(text.contains(r#"lifeboat_run_success{job="we\"ird\\job\n"} 0"#));
        assert!(text.contains(r#"{job="we\"ird\\job\n",step="snap\"shot"} 1"#));
        // Every sample stays on one line and the success time reads back for the odd name.
        assert!(
            text.lines()
                .all(|l| l.starts_with('#') || l.starts_with("lifeboat_"))
        );
        assert_eq!(
            previous_success(&text, &m.job),
            Some(Utc.with_ymd_and_hms(2025, 12, 31, 0, 0, 0).unwrap())
        );
    }

    /// The output read by the reference parser (prometheus_client), when it is installed.
    #[test]
    fn parses_with_prometheus_client() {
        use std::io::Write;
        use std::process::{Command, Stdio};
        let probe = Command::new("python3")
            .args(["-c", "import prometheus_client"])
            .stderr(Stdio::null())
            .status();
        if !probe.is_ok_and(|s| s.success()) {
            eprintln!(
                "skipped: python3 with prometheus_client is not available (pip install prometheus_client)"
            );
            return;
        }
        const SCRIPT: &str = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families
for f in text_string_to_metric_families(sys.stdin.read()):
    for s in f.samples:
        labels = ",".join(k + "=" + repr(v) for k, v in sorted(s.labels.items()))
        print(f.type, s.name, labels, repr(float(s.value)))
"#;
        let mut m = sample(true);
        m.job = "we\"ird\\job\n".into();
        let text = render(&m, None);
        let mut child = Command::new("python3")
            .args(["-c", SCRIPT])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "parser rejected:\n{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let parsed = String::from_utf8(out.stdout).unwrap();
        let lines: Vec<&str> = parsed.lines().collect();
        assert_eq!(lines.len(), 6 + 5 * 2, "{parsed}");
        assert!(lines.iter().all(|l| l.starts_with("gauge lifeboat_")));
        assert!(
            lines.contains(
                &"gauge lifeboat_step_bytes_added job='we\"ird\\\\job\\n',step='snapshot' 1048576.0"
            ),
            "{parsed}"
        );
        assert!(lines.contains(
            &"gauge lifeboat_last_success_timestamp_seconds job='we\"ird\\\\job\\n' 1767323135.5"
        ), "{parsed}");
    }
}
