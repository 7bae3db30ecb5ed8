//! The one conversion from the file as read ([`super::raw`]) to typed values
//! ([`super::Config`]): each duration, fraction, policy and path is parsed and checked here,
//! once, with its default; a value that does not parse is a problem with its line.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::Error;
use crate::util::parse_duration;

use super::lines::{at, line_of};
use super::raw::{PruneConfig, RawConfig, ScheduleConfig, UpdateConfig};
use super::retention::Policy;
use super::{
    Config, Containers, Hooks, Host, Monitoring, Prune, Repository, Schedule, Update, Verify,
    parse_subset,
};

/// Problems, each with its line (when known).
type Problems = Vec<(Option<usize>, Error)>;

/// Collects the problems of values, each named by its key and line.
struct Checker<'a> {
    text: &'a str,
    file: &'a Path,
    problems: Problems,
}

impl Checker<'_> {
    fn err(&mut self, table: &str, key: &str, msg: String) {
        let full = if table.is_empty() {
            key.to_string()
        } else {
            format!("{table}.{key}")
        };
        let line = line_of(self.text, table, key);
        self.problems.push((line, at(self.file, line, &full, msg)));
    }

    /// A duration key (`None` when unset or bad).
    fn duration(&mut self, table: &str, key: &str, value: Option<&String>) -> Option<Duration> {
        match parse_duration(value?) {
            Ok(d) => Some(d),
            Err(m) => {
                self.err(table, key, m);
                None
            }
        }
    }

    /// Paths must be absolute.
    fn absolute<'p>(
        &mut self,
        table: &str,
        key: &str,
        paths: impl IntoIterator<Item = &'p PathBuf>,
    ) {
        for p in paths {
            if !p.is_absolute() {
                self.err(
                    table,
                    key,
                    format!("{} must be an absolute path", p.display()),
                );
            }
        }
    }
}

/// `raw` as typed values with their defaults, and every problem of its values.
pub(super) fn typed(raw: RawConfig, text: &str, file: &Path) -> (Config, Problems) {
    let mut c = Checker {
        text,
        file,
        problems: Vec::new(),
    };
    let d = Config::default();
    check_paths(&mut c, &raw);
    if let Some(n) = &raw.name
        && let Err(e) = super::validate_job(n)
    {
        c.err("", "name", e.to_string());
    }
    let r = raw.repository;
    if r.password_file.is_some() && r.password_command.is_some() {
        c.err(
            "repository",
            "password_command",
            "give either password_file or password_command, not both".into(),
        );
    }
    let repository = Repository {
        lock_wait: c.duration("repository", "lock_wait", r.lock_wait.as_ref()),
        path: r.path,
        s3_region: r.s3_region,
        s3_virtual_host: r.s3_virtual_host,
        s3_credentials_file: r.s3_credentials_file,
        s3_profile: r.s3_profile,
        s3_connections: r.s3_connections,
        password_file: r.password_file,
        password_command: r.password_command,
        key_file: r.key_file,
    };
    let tool_timeout = c
        .duration("host", "tool_timeout", raw.host.tool_timeout.as_ref())
        .unwrap_or(d.host.tool_timeout);
    let hooks = Hooks {
        timeout: c
            .duration("hooks", "timeout", raw.hooks.timeout.as_ref())
            .unwrap_or(d.hooks.timeout),
        before: raw.hooks.before,
        after: raw.hooks.after,
        on_error: raw.hooks.on_error,
    };
    let prune = prune(&mut c, &d, &raw.prune);
    let schedule = schedule(&mut c, &d, raw.schedule);
    let update = update(&mut c, &d, &raw.update);
    let m = raw.monitoring;
    let retention = retention(&mut c, raw.retention);
    if let Some(f) = m
        .log_format
        .as_deref()
        .filter(|f| *f != "text" && *f != "json")
    {
        c.err(
            "monitoring",
            "log_format",
            format!("{f:?}: use \"text\" or \"json\""),
        );
    }
    let verify = Verify {
        read_data_subset: match &raw.verify.read_data_subset {
            None => d.verify.read_data_subset,
            Some(s) => parse_subset(s).unwrap_or_else(|m| {
                c.err("verify", "read_data_subset", m);
                d.verify.read_data_subset
            }),
        },
    };
    let h = raw.host;
    let cfg = Config {
        name: raw.name,
        hostname: raw.hostname,
        repository,
        snapshot: raw.snapshot,
        containers: Containers {
            names: raw.containers.names,
            labels: raw.containers.labels,
            compose_projects: raw.containers.compose_projects,
            all: raw.containers.all,
            images: raw.containers.images.unwrap_or(d.containers.images),
            volumes_via_api: raw.containers.volumes_via_api,
            bind_data: raw.containers.bind_data.unwrap_or(d.containers.bind_data),
        },
        host: Host {
            enabled: h.enabled,
            root: h.root.unwrap_or(d.host.root),
            include: h.include,
            exclude: h.exclude,
            commands: h.commands.unwrap_or(d.host.commands),
            tool_timeout,
        },
        models: raw.models,
        hooks,
        retention,
        prune,
        verify,
        schedule,
        monitoring: Monitoring {
            metrics_file: m.metrics_file,
            state_dir: m.state_dir.unwrap_or(d.monitoring.state_dir),
            log_format: m.log_format,
        },
        update,
        source: Some(file.to_path_buf()),
    };
    (cfg, c.problems)
}

/// `[prune]`: how often (none when zero) and the grace period of condemned packs.
fn prune(c: &mut Checker<'_>, d: &Config, p: &PruneConfig) -> Prune {
    Prune {
        every: match &p.every {
            None => d.prune.every,
            Some(v) => c
                .duration("prune", "every", Some(v))
                .filter(|e| !e.is_zero()),
        },
        grace: c
            .duration("prune", "grace", p.grace.as_ref())
            .unwrap_or(d.prune.grace),
    }
}

/// `[schedule]`: the timer's calendar, its random delay, and the age `status` calls stale.
fn schedule(c: &mut Checker<'_>, d: &Config, s: ScheduleConfig) -> Schedule {
    Schedule {
        randomized_delay: c
            .duration("schedule", "randomized_delay", s.randomized_delay.as_ref())
            .unwrap_or(d.schedule.randomized_delay),
        max_age: c.duration("schedule", "max_age", s.max_age.as_ref()),
        on_calendar: s
            .on_calendar
            .unwrap_or_else(|| d.schedule.on_calendar.clone()),
    }
}

/// `[update]`: the health gate's times.
fn update(c: &mut Checker<'_>, d: &Config, u: &UpdateConfig) -> Update {
    Update {
        healthy_after: c
            .duration("update", "healthy_after", u.healthy_after.as_ref())
            .unwrap_or(d.update.healthy_after),
        health_timeout: c
            .duration("update", "health_timeout", u.health_timeout.as_ref())
            .unwrap_or(d.update.health_timeout),
    }
}

/// Paths must be absolute, and so must the host profile's additions and removals.
fn check_paths(c: &mut Checker<'_>, raw: &RawConfig) {
    let r = &raw.repository;
    if let Some(p) = r.path.as_deref().filter(|p| !p.starts_with("s3:")) {
        c.absolute("repository", "path", [&PathBuf::from(p)]);
    }
    c.absolute("repository", "s3_credentials_file", &r.s3_credentials_file);
    c.absolute("repository", "password_file", &r.password_file);
    c.absolute("repository", "key_file", &r.key_file);
    c.absolute("host", "root", &raw.host.root);
    c.absolute("monitoring", "metrics_file", &raw.monitoring.metrics_file);
    c.absolute("monitoring", "state_dir", &raw.monitoring.state_dir);
    c.absolute("snapshot", "paths", &raw.snapshot.paths);
    c.absolute("models", "dirs", &raw.models.dirs);
    c.absolute("models", "expect_sha256", &raw.models.expect_sha256);
    let h = &raw.host;
    for (key, list) in [("include", &h.include), ("exclude", &h.exclude)] {
        for p in list.iter().filter(|p| !p.starts_with('/')) {
            c.err(
                "host",
                key,
                format!("{p:?} must be an absolute path like /etc/wireguard"),
            );
        }
    }
}

/// The retention policy, `keep_within` parsed.
fn retention(c: &mut Checker<'_>, rt: super::raw::RetentionConfig) -> Policy {
    let within = match &rt.keep_within {
        None => None,
        Some(w) => match w.parse() {
            Ok(w) => Some(w),
            Err(m) => {
                c.err("retention", "keep_within", m);
                None
            }
        },
    };
    Policy {
        last: rt.keep_last,
        hourly: rt.keep_hourly,
        daily: rt.keep_daily,
        weekly: rt.keep_weekly,
        monthly: rt.keep_monthly,
        yearly: rt.keep_yearly,
        tags: rt.keep_tags,
        within,
    }
}
