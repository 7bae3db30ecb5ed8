//! The run log: what each scheduled job did in its last runs, kept on the host so
//! `lifeboat status` can answer "did last night's backup work, and if not, which step failed?"
//! without opening the repository (which needs the password).
//!
//! One JSON file per job, `<state_dir>/<job>.runs.json`, mode 0600 (step messages may name
//! paths), holding the newest [`KEEP`] runs oldest first. Writes are atomic and serialised by an
//! advisory lock on the state directory, so two runs finishing at once cannot lose a record.

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};

/// How many runs per job the log keeps.
pub const KEEP: usize = 50;

const SUFFIX: &str = ".runs.json";
const VERSION: u32 = 1;

/// One step of a run ("snapshot", "forget", "prune", "verify").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord {
    pub name: String,
    pub ok: bool,
    /// The error, or a warning summary, for the operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub duration_ms: u64,
}

/// One run of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    pub job: String,
    #[serde(with = "rfc3339")]
    pub started: DateTime<Utc>,
    #[serde(with = "rfc3339")]
    pub finished: DateTime<Utc>,
    pub success: bool,
    pub steps: Vec<StepRecord>,
    /// ID of the snapshot the run made, if it made one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct LogFile {
    version: u32,
    job: String,
    runs: Vec<RunRecord>,
}

pub use crate::config::validate_job;

/// The file holding `job`'s runs.
pub fn path_of(state_dir: &Path, job: &str) -> Result<PathBuf> {
    validate_job(job)?;
    Ok(state_dir.join(format!("{job}{SUFFIX}")))
}

/// Append `r` to its job's log (creating the state directory, mode 0700, if needed), dropping
/// all but the newest [`KEEP`] runs.
pub fn record(state_dir: &Path, r: &RunRecord) -> Result<()> {
    let path = path_of(state_dir, &r.job)?;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(state_dir)
        .at(state_dir)?;
    let dir = fs::File::open(state_dir).at(state_dir)?;
    rustix::fs::flock(&dir, rustix::fs::FlockOperation::LockExclusive)
        .map_err(|e| Error::io(state_dir, e.into()))?;
    let mut runs = read(&path, &r.job)?;
    runs.push(r.clone());
    if runs.len() > KEEP {
        runs.drain(..runs.len() - KEEP);
    }
    let file = LogFile {
        version: VERSION,
        job: r.job.clone(),
        runs,
    };
    let mut data = serde_json::to_vec_pretty(&file)
        .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
    data.push(b'\n');
    crate::util::write_file_atomic(&path, &data, 0o600)
    // The lock goes with `dir`.
}

/// Every recorded run of `job`, oldest first (empty when it never ran).
pub fn history(state_dir: &Path, job: &str) -> Result<Vec<RunRecord>> {
    read(&path_of(state_dir, job)?, job)
}

/// The newest run of `job`, if any.
pub fn last(state_dir: &Path, job: &str) -> Result<Option<RunRecord>> {
    Ok(history(state_dir, job)?.pop())
}

/// Jobs with a run log in `state_dir`, sorted (empty when the directory does not exist).
pub fn jobs(state_dir: &Path) -> Result<Vec<String>> {
    let rd = match fs::read_dir(state_dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(state_dir, e)),
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.at(state_dir)?;
        let name = entry.file_name();
        let Some(job) = name.to_str().and_then(|n| n.strip_suffix(SUFFIX)) else {
            continue;
        };
        if validate_job(job).is_ok() {
            out.push(job.to_string());
        }
    }
    out.sort();
    Ok(out)
}

fn read(path: &Path, job: &str) -> Result<Vec<RunRecord>> {
    let data = match fs::read(path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(path, e)),
    };
    let damaged = |why: String| {
        Error::Invalid(format!(
            "{}: not a lifeboat run log ({why}); move it aside to start a new history",
            path.display()
        ))
    };
    let file: LogFile = serde_json::from_slice(&data).map_err(|e| damaged(e.to_string()))?;
    if file.version != VERSION {
        return Err(damaged(format!(
            "format version {}, this lifeboat reads {VERSION}",
            file.version
        )));
    }
    if file.job != job || file.runs.iter().any(|r| r.job != job) {
        return Err(damaged(format!(
            "it holds runs of another job than {job:?}"
        )));
    }
    Ok(file.runs)
}

/// Serde for timestamps as RFC 3339 strings (chrono's serde feature is not enabled).
mod rfc3339 {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use std::os::unix::fs::PermissionsExt;

    fn run(job: &str, n: i64, success: bool) -> RunRecord {
        let started =
            Utc.with_ymd_and_hms(2026, 1, 1, 3, 0, 0).unwrap() + chrono::Duration::days(n);
        RunRecord {
            job: job.into(),
            started,
            finished: started + chrono::Duration::milliseconds(61_500),
            success,
            steps: vec![
                StepRecord {
                    name: "snapshot".into(),
                    ok: true,
                    message: None,
                    duration_ms: 60_000,
                },
                StepRecord {
                    name: "verify".into(),
                    ok: success,
                    message: (!success).then(|| "pack 3f2a9c01: authentication failed".into()),
                    duration_ms: 1_500,
                },
            ],
            snapshot: Some(format!("{n:064x}")),
        }
    }

    #[test]
    fn records_and_reads_back_the_last_run() {
        let d = tempfile::tempdir().unwrap();
        let state = d.path().join("state");
        assert_eq!(last(&state, "nightly").unwrap(), None);
        assert!(jobs(&state).unwrap().is_empty());
        record(&state, &run("nightly", 0, true)).unwrap();
        record(&state, &run("nightly", 1, false)).unwrap();
        record(&state, &run("models.hourly", 0, true)).unwrap();
        assert_eq!(
            last(&state, "nightly").unwrap(),
            Some(run("nightly", 1, false))
        );
        assert_eq!(history(&state, "nightly").unwrap().len(), 2);
        assert_eq!(jobs(&state).unwrap(), vec!["models.hourly", "nightly"]);
        let p = path_of(&state, "nightly").unwrap();
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o7777,
            0o600
        );
        assert_eq!(
            fs::metadata(&state).unwrap().permissions().mode() & 0o7777,
            0o700
        );
        // Other files in the state directory are not jobs.
        fs::write(state.join("notes.txt"), "x").unwrap();
        fs::write(state.join("bad..name.runs.json"), "{}").unwrap();
        assert_eq!(jobs(&state).unwrap(), vec!["models.hourly", "nightly"]);
    }

    #[test]
    fn keeps_the_newest_fifty() {
        let d = tempfile::tempdir().unwrap();
        for n in 0..(KEEP as i64 + 7) {
            record(d.path(), &run("j", n, n % 3 != 0)).unwrap();
        }
        let h = history(d.path(), "j").unwrap();
        assert_eq!(h.len(), KEEP);
        assert_eq!(h[0], run("j", 7, true));
        assert_eq!(h[KEEP - 1], run("j", KEEP as i64 + 6, true));
    }

    #[test]
    fn corrupt_log_is_a_clear_error() {
        let d = tempfile::tempdir().unwrap();
        let p = path_of(d.path(), "j").unwrap();
        fs::write(&p, b"{\"version\":1,\"job\":\"j\",\"runs\":[{\"job\"").unwrap();
        for err in [
            last(d.path(), "j").unwrap_err(),
            record(d.path(), &run("j", 0, true)).unwrap_err(),
        ] {
            let msg = err.to_string();
            assert!(msg.contains(&p.display().to_string()), "{msg}");
            assert!(msg.contains("not a lifeboat run log"), "{msg}");
        }
        // The damaged file was not replaced.
        assert!(fs::read(&p).unwrap().ends_with(b"\"job\""));
        fs::write(
            &p,
            serde_json::to_vec(&serde_json::json!({"version": 9, "job": "j", "runs": []})).unwrap(),
        )
        .unwrap();
        assert!(
            last(d.path(), "j")
                .unwrap_err()
                .to_string()
                .contains("format version 9")
        );
        // A file renamed from another job is refused too.
        record(d.path(), &run("k", 0, true)).unwrap();
        fs::rename(path_of(d.path(), "k").unwrap(), &p).unwrap();
        assert!(
            last(d.path(), "j")
                .unwrap_err()
                .to_string()
                .contains("another job")
        );
    }

    #[test]
    fn job_names_are_validated() {
        for good in ["default", "models-hourly", "a.b_c", "X9"] {
            validate_job(good).unwrap();
        }
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "../x",
            "a..b",
            "sp ace",
            "ü",
            "a\nb",
            &"x".repeat(101),
        ] {
            assert!(validate_job(bad).is_err(), "{bad:?}");
        }
        let d = tempfile::tempdir().unwrap();
        let mut r = run("ok", 0, true);
        r.job = "../escape".into();
        assert!(record(d.path(), &r).is_err());
        assert!(last(d.path(), "../escape").is_err());
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 0);
    }
}
