//! The configuration file (`/etc/lifeboat/lifeboat.toml`): one deployment's repository,
//! password source, what to back up (paths, containers, models, host profile), hooks,
//! retention, schedule and monitoring, so the nightly job and every update run with the same
//! settings. Unknown keys and bad values are errors that name the file, line and key: a typo in
//! a backup config must never silently back up less.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::error::{Error, Result};

/// Where the configuration is read from when `--config` is not given (if it exists).
pub const DEFAULT_PATH: &str = "/etc/lifeboat/lifeboat.toml";

/// Where run records and update journals live unless configured (`monitoring.state_dir`).
pub const DEFAULT_STATE_DIR: &str = "/var/lib/lifeboat";

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Job name: labels metrics and run records (default `default`).
    #[serde(default)]
    pub name: Option<String>,
    /// Hostname recorded in snapshots (default: the machine's).
    #[serde(default)]
    pub hostname: Option<String>,
    #[serde(default)]
    pub repository: RepositoryConfig,
    #[serde(default)]
    pub snapshot: SnapshotConfig,
    #[serde(default)]
    pub containers: ContainersConfig,
    #[serde(default)]
    pub host: HostConfig,
    #[serde(default)]
    pub models: ModelsConfig,
    #[serde(default)]
    pub hooks: HooksConfig,
    #[serde(default)]
    pub retention: RetentionConfig,
    #[serde(default)]
    pub prune: PruneConfig,
    #[serde(default)]
    pub verify: VerifyConfig,
    #[serde(default)]
    pub schedule: ScheduleConfig,
    #[serde(default)]
    pub monitoring: MonitoringConfig,
    #[serde(default)]
    pub update: UpdateConfig,
    /// The file this was read from (not a key).
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepositoryConfig {
    pub path: Option<PathBuf>,
    pub password_file: Option<PathBuf>,
    pub password_command: Option<String>,
    /// How long to wait for another lifeboat's lock (`5m`).
    pub lock_wait: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotConfig {
    #[serde(default)]
    pub paths: Vec<PathBuf>,
    #[serde(default)]
    pub exclude: Vec<String>,
    #[serde(default)]
    pub exclude_caches: bool,
    #[serde(default)]
    pub one_file_system: bool,
    #[serde(default)]
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainersConfig {
    #[serde(default)]
    pub names: Vec<String>,
    #[serde(default)]
    pub labels: Vec<String>,
    #[serde(default)]
    pub compose_projects: Vec<String>,
    #[serde(default)]
    pub all: bool,
    /// Store image content (default true).
    pub images: Option<bool>,
    #[serde(default)]
    pub volumes_via_api: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    /// Capture the host profile with every snapshot of the job.
    #[serde(default)]
    pub enabled: bool,
    pub root: Option<PathBuf>,
    /// Added to the built-in profile (`*` matches one name).
    #[serde(default)]
    pub include: Vec<String>,
    /// Removed from it (a profile item or a path).
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Run the live-state tools (default true).
    pub commands: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelsConfig {
    /// Model directories: snapshotted, and every file in them counts as a model.
    #[serde(default)]
    pub dirs: Vec<PathBuf>,
    /// Published checksum lists to check the snapshot against.
    #[serde(default)]
    pub expect_sha256: Vec<PathBuf>,
    #[serde(default)]
    pub allow_mismatch: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HooksConfig {
    /// Shell commands run before the snapshot; a failure stops the job.
    #[serde(default)]
    pub before: Vec<String>,
    /// Run after a successful job.
    #[serde(default)]
    pub after: Vec<String>,
    /// Run after a failed job (with LIFEBOAT_ERROR set).
    #[serde(default)]
    pub on_error: Vec<String>,
    /// Longest a hook may run (default 5m).
    pub timeout: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    pub keep_last: Option<u32>,
    pub keep_hourly: Option<u32>,
    pub keep_daily: Option<u32>,
    pub keep_weekly: Option<u32>,
    pub keep_monthly: Option<u32>,
    pub keep_yearly: Option<u32>,
    pub keep_within: Option<String>,
    #[serde(default)]
    pub keep_tags: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PruneConfig {
    /// Prune when the last prune is older than this (default 7d); `0` never prunes.
    pub every: Option<String>,
    /// How long a pack a prune marked unused stays before a later prune deletes it
    /// (default 23h; FORMAT.md §11).
    pub grace: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyConfig {
    /// Packs read back per run, as `N%` or `1/N` (default `1/30`: everything once a month).
    pub read_data_subset: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// systemd OnCalendar (default `daily`).
    pub on_calendar: Option<String>,
    pub randomized_delay: Option<String>,
    /// `status` warns when the newest snapshot is older than this (default 26h for daily).
    pub max_age: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitoringConfig {
    /// node_exporter textfile to write after each run.
    pub metrics_file: Option<PathBuf>,
    /// Where run records live (default /var/lib/lifeboat).
    pub state_dir: Option<PathBuf>,
    /// `text` or `json`.
    pub log_format: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateConfig {
    /// Without a healthcheck: running without a restart this long counts as healthy (30s).
    pub healthy_after: Option<String>,
    /// Longest wait for healthy (default 5m).
    pub health_timeout: Option<String>,
}

/// A problem found in a configuration file, with where it is.
fn at(file: &Path, line: Option<usize>, key: &str, msg: impl std::fmt::Display) -> Error {
    let place = match line {
        Some(l) => format!("{}:{l}", file.display()),
        None => file.display().to_string(),
    };
    if key.is_empty() {
        Error::Invalid(format!("{place}: {msg}"))
    } else {
        Error::Invalid(format!("{place}: `{key}`: {msg}"))
    }
}

/// The 1-based line where `key` is set inside `[table]` (or at the top for an empty table).
fn line_of(text: &str, table: &str, key: &str) -> Option<usize> {
    let mut current = String::new();
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if let Some(h) = l.strip_prefix('[').and_then(|h| h.split(']').next()) {
            current = h.trim().to_string();
            continue;
        }
        let Some((k, _)) = l.split_once('=') else {
            continue;
        };
        let k = k.trim().trim_matches('"');
        if current == table && k == key {
            return Some(i + 1);
        }
    }
    None
}

/// The dotted key set on 1-based `line` (`table.key`), or the table a header line names.
fn key_at(text: &str, line: usize) -> String {
    let mut table = String::new();
    for (i, l) in text.lines().enumerate().take(line) {
        let l = l.trim();
        if let Some(h) = l.strip_prefix('[').and_then(|h| h.split(']').next()) {
            table = h.trim_matches(|c| c == '[' || c == ' ').to_string();
            if i + 1 == line {
                return table;
            }
        } else if i + 1 == line {
            let key = l
                .split_once('=')
                .map_or("", |(k, _)| k.trim().trim_matches('"'));
            return match (table.is_empty(), key.is_empty()) {
                (_, true) => table,
                (true, false) => key.to_string(),
                (false, false) => format!("{table}.{key}"),
            };
        }
    }
    String::new()
}

/// Blank (keeping the line count) the lines `span` touches, and for a table header the
/// table's lines up to the next header, so the text reads on without them. False when nothing
/// changed.
fn blank_lines(text: &mut String, span: std::ops::Range<usize>) -> bool {
    let start = text[..span.start.min(text.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let line_end = |from: usize| text[from..].find('\n').map_or(text.len(), |i| from + i);
    let mut end = line_end(span.end.saturating_sub(1).max(start).min(text.len()));
    if text[start..end].trim_start().starts_with('[') {
        // A whole table: up to the next header.
        while end < text.len() {
            let next = end + 1;
            let next_end = line_end(next);
            if text[next..next_end].trim_start().starts_with('[') {
                break;
            }
            end = next_end;
        }
    }
    // Byte for byte, so that later errors' offsets still point into the original text.
    let blanked: String = text[start..end]
        .chars()
        .map(|c| match c {
            '\n' => "\n".to_string(),
            c => " ".repeat(c.len_utf8()),
        })
        .collect();
    if blanked == text[start..end] {
        return false;
    }
    text.replace_range(start..end, &blanked);
    true
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
                Error::Invalid(format!(
                    "{first} (and {more} more: `lifeboat config check` lists every problem)"
                ))
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
            match toml::from_str::<Config>(&work) {
                Ok(mut cfg) => {
                    cfg.source = Some(file.to_path_buf());
                    errors.extend(cfg.validate(text, file));
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

    /// Every problem of the values (paths, durations, names) that parsed, with its line.
    fn validate(&self, text: &str, file: &Path) -> Vec<(Option<usize>, Error)> {
        let mut errors = Vec::new();
        let mut err = |table: &str, key: &str, msg: String| {
            let full = if table.is_empty() {
                key.to_string()
            } else {
                format!("{table}.{key}")
            };
            let line = line_of(text, table, key);
            errors.push((line, at(file, line, &full, msg)));
        };
        if let Some(n) = &self.name {
            if let Err(e) = crate::ops::runlog::validate_job(n) {
                err("", "name", e.to_string());
            }
        }
        let r = &self.repository;
        if r.password_file.is_some() && r.password_command.is_some() {
            err(
                "repository",
                "password_command",
                "give either password_file or password_command, not both".into(),
            );
        }
        let durations: &[(&str, &str, &Option<String>)] = &[
            ("repository", "lock_wait", &r.lock_wait),
            ("hooks", "timeout", &self.hooks.timeout),
            ("prune", "every", &self.prune.every),
            ("prune", "grace", &self.prune.grace),
            (
                "schedule",
                "randomized_delay",
                &self.schedule.randomized_delay,
            ),
            ("schedule", "max_age", &self.schedule.max_age),
            ("update", "healthy_after", &self.update.healthy_after),
            ("update", "health_timeout", &self.update.health_timeout),
        ];
        for &(table, key, value) in durations {
            if let Some(v) = value {
                if let Err(m) = crate::util::parse_duration(v) {
                    err(table, key, m);
                }
            }
        }
        let paths: Vec<(&str, &str, &PathBuf)> = [
            ("repository", "path", r.path.as_ref()),
            ("repository", "password_file", r.password_file.as_ref()),
            ("host", "root", self.host.root.as_ref()),
            (
                "monitoring",
                "metrics_file",
                self.monitoring.metrics_file.as_ref(),
            ),
            (
                "monitoring",
                "state_dir",
                self.monitoring.state_dir.as_ref(),
            ),
        ]
        .into_iter()
        .filter_map(|(t, k, p)| p.map(|p| (t, k, p)))
        .chain(self.snapshot.paths.iter().map(|p| ("snapshot", "paths", p)))
        .chain(self.models.dirs.iter().map(|p| ("models", "dirs", p)))
        .chain(
            self.models
                .expect_sha256
                .iter()
                .map(|p| ("models", "expect_sha256", p)),
        )
        .collect();
        for (table, key, p) in paths {
            if !p.is_absolute() {
                err(
                    table,
                    key,
                    format!("{} must be an absolute path", p.display()),
                );
            }
        }
        if let Some(w) = &self.retention.keep_within {
            if let Err(m) = w.parse::<crate::ops::forget::Within>() {
                err("retention", "keep_within", m.to_string());
            }
        }
        if let Some(f) = &self.monitoring.log_format {
            if f != "text" && f != "json" {
                err(
                    "monitoring",
                    "log_format",
                    format!("{f:?}: use \"text\" or \"json\""),
                );
            }
        }
        if let Some(s) = &self.verify.read_data_subset {
            if let Err(m) = parse_subset(s) {
                err("verify", "read_data_subset", m);
            }
        }
        for (key, list) in [
            ("include", &self.host.include),
            ("exclude", &self.host.exclude),
        ] {
            for p in list.iter().filter(|p| !p.starts_with('/')) {
                err(
                    "host",
                    key,
                    format!("{p:?} must be an absolute path like /etc/wireguard"),
                );
            }
        }
        errors
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

    /// A duration key, already validated (`None` when unset).
    pub fn duration(value: &Option<String>) -> Option<Duration> {
        value
            .as_deref()
            .and_then(|v| crate::util::parse_duration(v).ok())
    }

    /// The retention policy (empty when no `keep_*` is set).
    pub fn policy(&self) -> crate::ops::forget::Policy {
        let r = &self.retention;
        crate::ops::forget::Policy {
            last: r.keep_last,
            hourly: r.keep_hourly,
            daily: r.keep_daily,
            weekly: r.keep_weekly,
            monthly: r.keep_monthly,
            yearly: r.keep_yearly,
            tags: r.keep_tags.clone(),
            within: r.keep_within.as_deref().and_then(|w| w.parse().ok()),
        }
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
pub const EXAMPLE: &str = include_str!("config_example.toml");

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
        assert!(!c.policy().is_empty());
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
        assert!(c.policy().is_empty());
    }

    #[test]
    fn subsets() {
        assert_eq!(parse_subset("5%"), Ok(0.05));
        assert!((parse_subset("1/30").unwrap() - 1.0 / 30.0).abs() < 1e-12);
        assert!(parse_subset("0%").is_err() && parse_subset("150%").is_err());
        assert!(parse_subset("1/0").is_err() && parse_subset("x").is_err());
    }
}
