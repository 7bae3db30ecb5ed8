//! The configuration file (`/etc/lifeboat/lifeboat.toml`): one deployment's repository,
//! password source, what to back up (paths, containers, models, host profile), hooks,
//! retention, schedule and monitoring, so the nightly job and every update run with the same
//! settings. Unknown keys and bad values are errors that name the file, line and key: a typo in
//! a backup config must never silently back up less.
//!
//! The file is read into [`raw`] structs (values as written), then turned once into the typed
//! [`Config`] ([`typed`]): durations as [`Duration`], the verify share as a fraction, the
//! retention as a [`Policy`], with every default in [`Config::default`]. Consumers read the
//! typed values and never parse again.

mod lines;
mod raw;
pub mod retention;
mod typed;

use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::Duration;

use crate::error::{Error, Result};

use lines::{at, blank_lines, key_at};
pub use raw::{ModelsConfig, SnapshotConfig};
pub use retention::{Policy, Within};

/// Where the configuration is read from when `--config` is not given (if it exists).
pub const DEFAULT_PATH: &str = "/etc/lifeboat/lifeboat.toml";

/// Where run records and update journals live unless configured (`monitoring.state_dir`).
pub const DEFAULT_STATE_DIR: &str = "/var/lib/lifeboat";

/// How long a pack a prune marked unused stays before a later prune deletes it (FORMAT.md §11).
pub const PRUNE_GRACE: Duration = Duration::from_secs(23 * 3600);

/// A configuration, typed; [`Config::default`] holds every default.
#[derive(Debug, Clone)]
pub struct Config {
    /// Job name: labels metrics and run records (see [`Config::job`]).
    pub name: Option<String>,
    /// Hostname recorded in snapshots (default: the machine's).
    pub hostname: Option<String>,
    pub repository: Repository,
    pub snapshot: SnapshotConfig,
    pub containers: Containers,
    pub host: Host,
    pub models: ModelsConfig,
    pub hooks: Hooks,
    /// Empty when no `keep_*` is set.
    pub retention: Policy,
    pub prune: Prune,
    pub verify: Verify,
    pub schedule: Schedule,
    pub monitoring: Monitoring,
    pub update: Update,
    /// The file this was read from.
    pub source: Option<PathBuf>,
}

#[derive(Debug, Clone, Default)]
pub struct Repository {
    /// Where the repository is: a directory, or `s3:ENDPOINT/BUCKET/PREFIX`.
    pub path: Option<String>,
    pub s3_region: Option<String>,
    pub s3_virtual_host: Option<bool>,
    pub s3_credentials_file: Option<PathBuf>,
    pub s3_profile: Option<String>,
    pub s3_connections: Option<usize>,
    pub password_file: Option<PathBuf>,
    pub password_command: Option<String>,
    /// A write-only host key file (mode 0600) instead of a password: the job snapshots only.
    pub key_file: Option<PathBuf>,
    /// How long to wait for another lifeboat's lock (unset: the command line's).
    pub lock_wait: Option<Duration>,
}

#[derive(Debug, Clone)]
pub struct Containers {
    pub names: Vec<String>,
    pub labels: Vec<String>,
    pub compose_projects: Vec<String>,
    pub all: bool,
    /// Store image content.
    pub images: bool,
    pub volumes_via_api: bool,
    /// Capture the sources of the containers' bind mounts as files of the snapshot.
    pub bind_data: bool,
}

#[derive(Debug, Clone)]
pub struct Host {
    /// Capture the host profile with every snapshot of the job.
    pub enabled: bool,
    pub root: PathBuf,
    /// Added to the built-in profile (`*` matches one name).
    pub include: Vec<String>,
    /// Removed from it (a profile item or a path).
    pub exclude: Vec<String>,
    /// Run the live-state tools.
    pub commands: bool,
    /// Longest `sshd -t` and the firewall tools may run during `restore --host --apply` and
    /// `--undo`.
    pub tool_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct Hooks {
    /// Shell commands run before the snapshot; a failure stops the job.
    pub before: Vec<String>,
    /// Run after a successful job.
    pub after: Vec<String>,
    /// Run after a failed job (with LIFEBOAT_ERROR set).
    pub on_error: Vec<String>,
    /// Longest a hook may run.
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct Prune {
    /// Prune when the last prune is older than this; `None` (`every = "0"`) never by schedule.
    pub every: Option<Duration>,
    /// How long a pack a prune marked unused stays before a later prune deletes it.
    pub grace: Duration,
}

#[derive(Debug, Clone)]
pub struct Verify {
    /// The share of the packs read back per run, in (0, 1].
    pub read_data_subset: f64,
}

#[derive(Debug, Clone)]
pub struct Schedule {
    /// systemd OnCalendar.
    pub on_calendar: String,
    pub randomized_delay: Duration,
    /// `status` warns when the newest snapshot is older than this (unset: from the calendar).
    pub max_age: Option<Duration>,
}

#[derive(Debug, Clone)]
pub struct Monitoring {
    /// node_exporter textfile to write after each run.
    pub metrics_file: Option<PathBuf>,
    /// Where run records live.
    pub state_dir: PathBuf,
    /// `text` or `json`.
    pub log_format: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Update {
    /// Without a healthcheck: running without a restart this long counts as healthy.
    pub healthy_after: Duration,
    /// Longest wait for healthy.
    pub health_timeout: Duration,
}

/// Every default, in one place.
impl Default for Config {
    fn default() -> Config {
        Config {
            name: None,
            hostname: None,
            repository: Repository::default(),
            snapshot: SnapshotConfig::default(),
            containers: Containers {
                names: Vec::new(),
                labels: Vec::new(),
                compose_projects: Vec::new(),
                all: false,
                images: true,
                volumes_via_api: false,
                bind_data: true,
            },
            host: Host {
                enabled: false,
                root: PathBuf::from("/"),
                include: Vec::new(),
                exclude: Vec::new(),
                commands: true,
                tool_timeout: crate::child::DEFAULT_TIMEOUT,
            },
            models: ModelsConfig::default(),
            hooks: Hooks {
                before: Vec::new(),
                after: Vec::new(),
                on_error: Vec::new(),
                timeout: Duration::from_secs(300),
            },
            retention: Policy::default(),
            prune: Prune {
                every: Some(Duration::from_secs(7 * 86400)),
                grace: PRUNE_GRACE,
            },
            verify: Verify {
                read_data_subset: 1.0 / 30.0,
            },
            schedule: Schedule {
                on_calendar: "daily".into(),
                randomized_delay: Duration::from_secs(30 * 60),
                max_age: None,
            },
            monitoring: Monitoring {
                metrics_file: None,
                state_dir: PathBuf::from(DEFAULT_STATE_DIR),
                log_format: None,
            },
            update: Update {
                healthy_after: Duration::from_secs(30),
                health_timeout: Duration::from_secs(300),
            },
            source: None,
        }
    }
}

/// The defaults, for commands run without a configuration file.
static DEFAULTS: LazyLock<Config> = LazyLock::new(Config::default);

/// Refuse job names that could escape the state directory or break a unit or file name: one or
/// more of `A-Z a-z 0-9 _ . -`, no `..`, at most 100 characters.
pub fn validate_job(job: &str) -> Result<()> {
    let ok_chars = job
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'));
    if job.is_empty() || job.len() > 100 || !ok_chars || job.contains("..") || job == "." {
        return Err(Error::Invalid(format!(
            "job name {job:?}: use 1-100 letters, digits, '_', '.' or '-' (no '/' or '..')"
        )));
    }
    Ok(())
}

impl Config {
    /// Read and validate `path`.
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Config::parse(&text, path)
    }

    /// Read `path` and find every problem in it ([`Config::check`]).
    pub fn check_file(path: &Path) -> std::result::Result<Config, Vec<Error>> {
        let text = std::fs::read_to_string(path).map_err(|e| vec![Error::io(path, e)])?;
        Config::check(&text, path)
    }

    /// The configuration at `explicit`, or at [`DEFAULT_PATH`] when that exists, or none.
    pub fn discover(explicit: Option<&Path>) -> Result<Option<Config>> {
        match explicit {
            Some(p) => Config::load(p).map(Some),
            None if Path::new(DEFAULT_PATH).exists() => {
                Config::load(Path::new(DEFAULT_PATH)).map(Some)
            }
            None => Ok(None),
        }
    }

    /// Parse and validate configuration text; `file` names it in errors. With several
    /// problems the error is the first one and says how many more [`Config::check`] finds.
    pub fn parse(text: &str, file: &Path) -> Result<Config> {
        Config::check(text, file).map_err(|mut errors| {
            let more = errors.len() - 1;
            let first = errors.swap_remove(0);
            if more == 0 {
                first
            } else {
                Error::Config {
                    first: first.to_string(),
                    more,
                }
            }
        })
    }

    /// Every problem of configuration text, each naming file, line and key (never empty on
    /// error). A syntax error ends the reading there; a key that is unknown or has a value of
    /// the wrong type is reported and its lines set aside, and the rest is read on.
    pub fn check(text: &str, file: &Path) -> std::result::Result<Config, Vec<Error>> {
        let line_at = |pos: usize| text[..pos.min(text.len())].matches('\n').count() + 1;
        // A value that does not fit is named by its key; a syntax error by its line alone.
        let problem = |e: &toml::de::Error, named: bool| {
            let line = e.span().map(|s| line_at(s.start));
            let key = line
                .filter(|_| named)
                .map(|l| key_at(text, l))
                .unwrap_or_default();
            (line, at(file, line, &key, e.message().trim()))
        };
        if let Err(e) = toml::from_str::<toml::Table>(text) {
            return Err(vec![problem(&e, false).1]);
        }
        let mut errors = Vec::new();
        let mut work = text.to_string();
        // Each round sets aside at least one line, so this ends; the bound is a backstop.
        for _ in 0..=text.lines().count() {
            match toml::from_str::<raw::RawConfig>(&work) {
                Ok(raw) => {
                    let (cfg, problems) = typed::typed(raw, text, file);
                    errors.extend(problems);
                    if errors.is_empty() {
                        return Ok(cfg);
                    }
                    break;
                }
                Err(e) => {
                    errors.push(problem(&e, true));
                    let set_aside = e.span().is_some_and(|span| blank_lines(&mut work, span));
                    if !set_aside || toml::from_str::<toml::Table>(&work).is_err() {
                        break;
                    }
                }
            }
        }
        // In the order of the file.
        errors.sort_by_key(|(line, _)| line.unwrap_or(usize::MAX));
        Err(errors.into_iter().map(|(_, e)| e).collect())
    }

    /// `host.tool_timeout`, else its default.
    pub fn host_tool_timeout(&self) -> Duration {
        self.host.tool_timeout
    }

    /// The defaults, shared.
    pub fn defaults() -> &'static Config {
        &DEFAULTS
    }

    /// The job name (`name`, else `default`).
    pub fn job(&self) -> &str {
        self.name.as_deref().unwrap_or("default")
    }

    /// Whether the file says what to snapshot.
    pub fn has_job(&self) -> bool {
        !self.snapshot.paths.is_empty()
            || !self.models.dirs.is_empty()
            || self.host.enabled
            || self.containers.all
            || !self.containers.names.is_empty()
            || !self.containers.labels.is_empty()
            || !self.containers.compose_projects.is_empty()
    }
}

/// `N%` or `1/N` as a fraction in (0, 1].
pub fn parse_subset(s: &str) -> std::result::Result<f64, String> {
    let bad = || format!("{s:?}: use a percentage like 5% or a fraction like 1/30");
    let f = if let Some(p) = s.strip_suffix('%') {
        p.trim().parse::<f64>().map_err(|_| bad())? / 100.0
    } else if let Some((a, b)) = s.split_once('/') {
        let (a, b): (f64, f64) = (
            a.trim().parse().map_err(|_| bad())?,
            b.trim().parse().map_err(|_| bad())?,
        );
        if b == 0.0 {
            return Err(bad());
        }
        a / b
    } else {
        return Err(bad());
    };
    if f > 0.0 && f <= 1.0 {
        Ok(f)
    } else {
        Err(bad())
    }
}

/// A commented example configuration: every key, with its default or an example value.
pub const EXAMPLE: &str = include_str!("example.toml");

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config> {
        Config::parse(text, Path::new("/etc/lifeboat/lifeboat.toml"))
    }

    #[test]
    fn the_example_is_valid_and_complete() {
        let c = parse(EXAMPLE).unwrap();
        assert_eq!(c.job(), "ml-prod");
        assert!(c.has_job());
        assert!(!c.retention.is_empty());
        assert!(c.host.enabled && !c.host.include.is_empty());
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let e = parse("[repository]\npath = \"/srv/r\"\n\n[snapshot]\npathz = [\"/x\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("/etc/lifeboat/lifeboat.toml:5:") && e.contains("pathz"),
            "{e}"
        );
        let e = parse("[retention]\nkeep_daily = 7\nkeep_within = \"2 fortnights\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("/etc/lifeboat/lifeboat.toml:3: `retention.keep_within`"),
            "{e}"
        );
        let e = parse("[snapshot]\npaths = [\"srv/models\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(":2: `snapshot.paths`") && e.contains("absolute"),
            "{e}"
        );
        let e = parse("[repository]\npassword_file = \"/a\"\npassword_command = \"pass x\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains(":3: `repository.password_command`"), "{e}");
        let e = parse("[retention]\nkeep_daily = -1\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains(":2:"), "{e}");
        let e = parse("name = \"../x\"\n").unwrap_err().to_string();
        assert!(e.contains(":1: `name`"), "{e}");
        let e = parse("[host]\ninclude = [\"etc/x\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains(":2: `host.include`"), "{e}");
    }

    #[test]
    fn check_finds_every_problem_in_file_order() {
        let text = "[snapshot]\nexclude = \"ünïcödé, not a list\"\npathz = 1\n[nope]\nx = 1\n[retention]\nkeep_within = \"soon\"\n";
        let errors: Vec<String> = Config::check(text, Path::new("/c.toml"))
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(errors.len(), 4, "{errors:#?}");
        assert!(
            errors[0].starts_with("/c.toml:2: `snapshot.exclude`: "),
            "{errors:#?}"
        );
        assert!(
            errors[1].starts_with("/c.toml:3: `snapshot.pathz`: "),
            "{errors:#?}"
        );
        assert!(errors[2].starts_with("/c.toml:4: `nope`: "), "{errors:#?}");
        assert!(
            errors[3].starts_with("/c.toml:7: `retention.keep_within`: "),
            "{errors:#?}"
        );
        // `parse` gives the first and says how many more there are.
        let e = Config::parse(text, Path::new("/c.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("/c.toml:2:") && e.contains("3 more"), "{e}");
    }

    #[test]
    fn empty_file_is_a_valid_config_without_a_job() {
        let c = parse("").unwrap();
        assert!(!c.has_job());
        assert_eq!(c.job(), "default");
        assert!(c.retention.is_empty());
    }

    #[test]
    fn values_are_typed_with_their_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.hooks.timeout, Duration::from_secs(300));
        assert_eq!(c.prune.every, Some(Duration::from_secs(7 * 86400)));
        assert_eq!(c.prune.grace, PRUNE_GRACE);
        assert!((c.verify.read_data_subset - 1.0 / 30.0).abs() < 1e-12);
        assert_eq!(c.monitoring.state_dir, PathBuf::from(DEFAULT_STATE_DIR));
        assert!(c.containers.images && c.containers.bind_data && c.host.commands);
        let c = parse("[prune]\nevery = \"0\"\ngrace = \"1h\"\n[verify]\nread_data_subset = \"5%\"\n[retention]\nkeep_within = \"1y\"\n").unwrap();
        assert_eq!(c.prune.every, None);
        assert_eq!(c.prune.grace, Duration::from_secs(3600));
        assert_eq!(c.verify.read_data_subset, 0.05);
        assert_eq!(c.retention.within.map(|w| w.years), Some(1));
    }

    #[test]
    fn subsets() {
        assert_eq!(parse_subset("5%"), Ok(0.05));
        assert!((parse_subset("1/30").unwrap() - 1.0 / 30.0).abs() < 1e-12);
        assert!(parse_subset("0%").is_err() && parse_subset("150%").is_err());
        assert!(parse_subset("1/0").is_err() && parse_subset("x").is_err());
    }
}
