//! The command-line interface: argument definitions (clap), shared options, and dispatch to
//! one module per subcommand. Commands print; the library never does.

// `println!`/`print!` for this module and every command module declared below (textual
// scope): they write through `out::write`, which turns a closed stdout pipe into a quiet,
// successful end instead of std's panic.
macro_rules! println {
    () => {
        $crate::cli::out::write(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cli::out::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}
macro_rules! print {
    ($($arg:tt)*) => {
        $crate::cli::out::write(format_args!($($arg)*))
    };
}

mod errors;
mod exit;
mod filter;
mod find;
mod hostkey;
mod log;
mod out;
mod password;
mod progress;

mod audit;
mod config;
mod copy;
mod diff;
mod dump;
mod export;
mod forget;
mod init;
mod key;
mod ls;
mod misc;
mod models;
mod prune;
mod recover;
mod restore;
mod rollback;
mod run;
mod schedule;
mod show;
mod snapshot;
mod snapshots;
mod stats;
mod status;
mod tag;
mod update;
mod verify;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use clap::{Parser, Subcommand};
use lifeboat::repo::{Backend, RepoLocation, Repository};

pub use exit::{Exit, UsageError};

/// Encrypted, deduplicated backup and exact restore of ML deployments on Docker hosts.
///
/// A repository is a directory of encrypted, compressed, deduplicated data. Point lifeboat at
/// it with --repo or LIFEBOAT_REPO, and give the password with LIFEBOAT_PASSWORD_FILE,
/// LIFEBOAT_PASSWORD_COMMAND or LIFEBOAT_PASSWORD (never on the command line).
///
/// Exit codes: 0 success, 1 error, 2 usage, 3 partial (some files skipped, see warnings),
/// 4 damaged or tampered data, 10 no repository (or no such bucket), 11 locked, 12 wrong
/// password, 13 storage access denied, 130 interrupted;
/// `audit` by its worst finding: 21 low, 22 medium, 23 high, 24 critical; `run` by the step
/// that failed: 30 a hook, 31 snapshot, 32 forget, 33 prune, 34 verify.
#[derive(Parser, Debug)]
#[command(
    name = "lifeboat",
    version,
    propagate_version = true,
    max_term_width = 100
)]
#[command(
    after_help = "Quick start:\n  export LIFEBOAT_REPO=/srv/lifeboat LIFEBOAT_PASSWORD_FILE=/root/.lifeboat-pass\n  lifeboat init\n  lifeboat snapshot /srv/models /etc\n  lifeboat snapshots\n  lifeboat restore latest --target /tmp/restore"
)]
pub struct Cli {
    #[command(flatten, next_help_heading = "Global options")]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::Args, Debug, Clone)]
pub struct Global {
    /// Repository: a directory, or S3-compatible storage as s3:https://ENDPOINT/BUCKET/PREFIX
    /// (s3:http://127.0.0.1:3900/lifeboat/host-a for a local Garage, s3:s3.amazonaws.com/BUCKET
    /// for AWS). S3 credentials come from AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+
    /// AWS_SESSION_TOKEN), AWS_PROFILE / AWS_SHARED_CREDENTIALS_FILE, or the configuration's
    /// repository.s3_credentials_file; the region from AWS_REGION (default us-east-1).
    /// Self-hosted stores get path-style requests; LIFEBOAT_S3_VIRTUAL_HOST=1 switches.
    #[arg(
        short = 'r',
        long,
        env = "LIFEBOAT_REPO",
        global = true,
        value_name = "DIR|s3:URL"
    )]
    pub repo: Option<String>,

    /// Read from this archive (a file written by `lifeboat export`) instead of the repository,
    /// in place and read-only: restore, snapshots, ls, show, verify and other readers take it;
    /// commands that change a repository refuse it. Its password is the one given to the
    /// export (give it as usual: LIFEBOAT_PASSWORD_FILE, --password-file, ...). Overrides
    /// --repo; a --repo that names a regular file is read as an archive too.
    #[arg(
        long,
        env = "LIFEBOAT_FROM_ARCHIVE",
        global = true,
        value_name = "FILE.lbx"
    )]
    pub from: Option<PathBuf>,

    /// Keep copies of a remote repository's index and snapshot files here [default:
    /// $XDG_CACHE_HOME/lifeboat or ~/.cache/lifeboat]; they are checked against their sealed
    /// IDs on every use.
    #[arg(long, env = "LIFEBOAT_CACHE_DIR", global = true, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Use no local cache: download index and snapshot files on every run.
    #[arg(long, global = true)]
    pub no_cache: bool,

    /// Use this write-only host key (made by `lifeboat key add --write-only`) instead of a
    /// password: it takes snapshots and nothing else (it cannot list, read, restore, forget or
    /// prune). A passphrase, when the file has one, is read like a password.
    #[arg(long, env = "LIFEBOAT_KEY_FILE", global = true, value_name = "FILE")]
    pub key_file: Option<PathBuf>,

    /// Read the password from this file (first line).
    #[arg(
        long,
        env = "LIFEBOAT_PASSWORD_FILE",
        global = true,
        value_name = "FILE",
        hide_env_values = true
    )]
    pub password_file: Option<PathBuf>,

    /// Run this shell command and use its output as the password (killed after 60s, or
    /// LIFEBOAT_PASSWORD_COMMAND_TIMEOUT).
    #[arg(
        long,
        env = "LIFEBOAT_PASSWORD_COMMAND",
        global = true,
        value_name = "CMD",
        hide_env_values = true
    )]
    pub password_command: Option<String>,

    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,

    /// Print only errors and warnings; no progress bars.
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// Wait this long for a lock held by another lifeboat (e.g. 30s, 5m).
    #[arg(long, global = true, value_name = "DURATION", default_value = "0s", value_parser = parse_duration)]
    pub lock_wait: Duration,

    /// Configuration file [default: /etc/lifeboat/lifeboat.toml, when it exists]. Flags given
    /// on the command line override it. See `lifeboat config example`.
    #[arg(long, env = "LIFEBOAT_CONFIG", global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Log format on stderr: `text`, or `json` (one object per event, for ELK or Loki).
    #[arg(long, global = true, value_name = "FORMAT", value_parser = ["text", "json"])]
    pub log_format: Option<String>,

    /// Read no configuration file unless --config names one: not the default one (scripts,
    /// tests).
    #[arg(long, env = "LIFEBOAT_NO_CONFIG", global = true, value_parser = clap::builder::BoolishValueParser::new())]
    pub no_config: bool,

    /// The loaded configuration (not an argument).
    #[arg(skip)]
    pub cfg: Option<Arc<lifeboat::config::Config>>,

    /// Whether --lock-wait was given (a given 0s overrides the configuration).
    #[arg(skip)]
    pub lock_wait_given: bool,

    /// The warnings every observer of this command counted (not an argument).
    #[arg(skip)]
    pub tally: Arc<progress::Tally>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a new repository.
    Init(init::Args),
    /// Manage the passwords (key files) that open the repository, and write-only host keys.
    #[command(subcommand)]
    Key(key::Cmd),
    /// Upgrade a format version 1 repository to version 2 (owner key pairs, so that hosts can
    /// hold write-only keys). Stored data is not rewritten; older lifeboat versions cannot
    /// open the repository afterwards.
    Migrate,
    /// Take a snapshot of paths and/or Docker containers.
    #[command(alias = "backup")]
    Snapshot(snapshot::Args),
    /// Summarize a snapshot's Docker deployment: containers, volumes, networks, images.
    Show(show::Args),
    /// List snapshots.
    Snapshots(snapshots::Args),
    /// List the files of a snapshot.
    Ls(ls::Args),
    /// Show what changed between two snapshots, or between a snapshot and the live engine.
    Diff(diff::Args),
    /// Find files by name or path pattern across snapshots.
    Find(find::Args),
    /// Sizes of snapshots: as restored, as stored (deduplicated), or by unique contents.
    Stats(stats::Args),
    /// Security report of a snapshot or the live host: container hardening, sshd, firewall,
    /// Docker daemon settings, changed model files; each finding with its evidence.
    ///
    /// Exit code by the worst finding shown: 0 none above info, 21 low, 22 medium, 23 high,
    /// 24 critical.
    Audit(audit::Args),
    /// Check live model files against a snapshot, or list a snapshot's models.
    #[command(subcommand)]
    Models(models::Cmd),
    /// Restore files into a target directory, and/or the Docker deployment onto the engine.
    Restore(restore::Args),
    /// Disaster recovery in one command: the host profile, the files and models, then the
    /// whole Docker deployment of a snapshot, with a plan first and a field-by-field report.
    Recover(recover::Args),
    /// Write a file of a snapshot to stdout as its bytes, or a directory as a tar archive.
    ///
    /// For the data without lifeboat (restic's `dump`): `lifeboat dump latest /srv/app.conf >
    /// app.conf`, `lifeboat dump latest /srv/models | tar -x -C /tmp/x`. Every chunk is
    /// authenticated and every file's SHA-256 checked as `restore` does; damage stops the dump
    /// with exit 4 (an archive cut short has no end marker, so `tar -x` fails too). With
    /// --target FILE the file appears only once the whole dump is verified.
    Dump(dump::Args),
    /// Update a container to a newer image safely: snapshot, recreate, health gate, roll back
    ///
    /// What you would do by hand (docker stop, pull, run with the same options), made safe:
    /// 1. a snapshot of the container, its volumes and its image, tagged `pre-update`
    ///    (incremental: unchanged volume files are not read again);
    /// 2. the new image: --image REF (local), --pull (from the registry), or else the
    ///    container's own tag looked up again ("already up to date" when it names the same
    ///    image ID: nothing changes, exit 0);
    /// 3. the old container stopped (its own stop signal and timeout) and renamed aside
    ///    (NAME.lifeboat-old-ID), the new one created with exactly the same settings, only the
    ///    image changed (anonymous volumes are carried over), and started;
    /// 4. a health gate: its healthcheck says healthy, or without one it runs for
    ///    --healthy-after with no restart, within --health-timeout;
    /// 5. healthy: the old container is removed (its image stays). Otherwise the new one's last
    ///    20 log lines are shown, it is removed, the old one gets its name back and runs again:
    ///    exit 1.
    ///
    /// A journal in --state-dir records each step, so an update killed half-way is repaired by
    /// the next `lifeboat update` or by `lifeboat update --recover`. Undo a successful update
    /// with `lifeboat rollback NAME`.
    #[command(verbatim_doc_comment)]
    Update(update::Args),
    /// Bring a container back as its latest `pre-update` snapshot recorded it.
    ///
    /// The container's settings and image exactly as recorded (the image is loaded from the
    /// snapshot if it is gone); with --volumes its volume data too, otherwise volumes keep the
    /// data they have now. The current container is replaced the safe way (renamed aside,
    /// removed only once the snapshot's one runs) and the result is compared field by field
    /// with the snapshot. Like `update`, it repairs interrupted updates recorded in --state-dir
    /// first and holds the container's update lock.
    Rollback(rollback::Args),
    /// Check the repository's structure, and with --read-data every byte.
    #[command(alias = "check")]
    Verify(verify::Args),
    /// Remove snapshots by ID or by a retention policy.
    Forget(forget::Args),
    /// Add, remove or replace the tags of snapshots (each changed one gets a new ID).
    Tag(tag::Args),
    /// Write one snapshot into a single-file archive with its own password (read it with
    /// --from FILE).
    ///
    /// The archive is a self-contained repository (the snapshot's files, Docker deployment and
    /// host profile, under fresh keys) in one tar file: carry it off the host, and restore or
    /// recover from it anywhere with `--from FILE` and the archive's password.
    Export(export::Args),
    /// Copy snapshots from another repository into this one (re-encrypted, deduplicated).
    ///
    /// Every blob the snapshots reference is read from the source repository (--from-repo),
    /// authenticated, and stored here under this repository's keys, deduplicated against what
    /// it already holds; a snapshot copied before is skipped. The copies keep their time,
    /// hostname, paths, tags and Docker and host sections.
    Copy(copy::Args),
    /// Delete data no snapshot uses and repack partly used packs.
    Prune(prune::Args),
    /// Run a job regularly: install, list or remove its systemd timer (or cron entry).
    ///
    /// `lifeboat schedule install` writes lifeboat-<JOB>.service and lifeboat-<JOB>.timer to
    /// /etc/systemd/system and enables the timer, which runs `lifeboat run --config FILE --job
    /// JOB` on the calendar (daily by default, with a random delay, catching up after downtime).
    /// Check it with `lifeboat schedule status` or `systemctl list-timers 'lifeboat-*'`, see a
    /// run's output with `journalctl -u lifeboat-<JOB>.service`, and undo it with `lifeboat
    /// schedule remove --job JOB`.
    #[command(subcommand)]
    Schedule(schedule::Cmd),
    /// Run the configured job: snapshot, forget by the retention policy, prune when due, and
    /// verify a rotating slice of the data; one summary and one exit code.
    ///
    /// Reads the configuration file (--config, LIFEBOAT_CONFIG, or
    /// /etc/lifeboat/lifeboat.toml). Exit code: 0 success, 3 the snapshot has warnings, 30
    /// a `before` hook failed, 31 the snapshot failed, 32 forget, 33 prune, 34 verify found
    /// damage or failed. Writes a run record (for `lifeboat status`) and, when configured,
    /// Prometheus metrics for node_exporter's textfile collector.
    Run(run::Args),
    /// Show the last run of each job, the newest snapshot's age, and the repository's size
    /// and deduplication; warns when the newest snapshot is older than the schedule allows.
    Status(status::Args),
    /// Check the configuration file, or print a commented example.
    #[command(subcommand)]
    Config(config::Cmd),
    /// Remove stale locks left by crashed runs.
    Unlock(misc::UnlockArgs),
    /// Print shell completions.
    Completions(misc::CompletionsArgs),
    /// Write man pages.
    Man(misc::ManArgs),
}

/// Parse `30s`, `5m`, `2h`, `1d` or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    lifeboat::util::parse_duration(s)
}

impl Global {
    /// Read the configuration (--config, or the default file when it exists) and take from
    /// it what the command line left unset: the repository, the password source, the lock wait.
    fn load_config(&mut self) -> Result<()> {
        if self.no_config && self.config.is_none() {
            return Ok(());
        }
        let Some(cfg) = lifeboat::config::Config::discover(self.config.as_deref())? else {
            return Ok(());
        };
        let r = &cfg.repository;
        if self.repo.is_none() {
            self.repo.clone_from(&r.path);
        }
        let password_given = self.password_file.is_some()
            || self.password_command.is_some()
            || std::env::var_os("LIFEBOAT_PASSWORD").is_some();
        if !password_given {
            self.password_file.clone_from(&r.password_file);
            self.password_command.clone_from(&r.password_command);
        }
        if self.key_file.is_none() {
            self.key_file.clone_from(&r.key_file);
        }
        if !self.lock_wait_given
            && let Some(d) = r.lock_wait
        {
            self.lock_wait = d;
        }
        if self.log_format.is_none() {
            self.log_format.clone_from(&cfg.monitoring.log_format);
        }
        self.cfg = Some(Arc::new(cfg));
        Ok(())
    }

    /// The loaded configuration, if any.
    pub fn cfg(&self) -> Option<&lifeboat::config::Config> {
        self.cfg.as_deref()
    }

    /// The loaded configuration, or the defaults without one.
    pub fn settings(&self) -> &lifeboat::config::Config {
        self.cfg().unwrap_or(lifeboat::config::Config::defaults())
    }

    /// The snapshot filter of `--hostname` and `--tag`; without a hostname, `latest` prefers
    /// this host (the configuration's `hostname`, else the machine's).
    pub fn filter(&self, hosts: &[String], tags: &[String]) -> lifeboat::snapshot::select::Filter {
        lifeboat::snapshot::select::Filter {
            hosts: hosts.to_vec(),
            tags: tags.to_vec(),
            paths: Vec::new(),
            this_host: Some(
                self.cfg()
                    .and_then(|c| c.hostname.clone())
                    .unwrap_or_else(lifeboat::util::hostname),
            ),
        }
    }

    /// Where --from (an archive), or else --repo (or LIFEBOAT_REPO, or the configuration) says
    /// the repository is.
    pub fn location(&self) -> Result<RepoLocation> {
        if let Some(archive) = &self.from {
            return Ok(RepoLocation::Archive(archive.clone()));
        }
        let given = self.repo.as_deref().ok_or_else(|| {
            UsageError(
                "no repository given: use --repo DIR (or s3:URL), --from ARCHIVE, or set LIFEBOAT_REPO".into(),
            )
        })?;
        Ok(RepoLocation::parse(given)
            .map_err(|e| UsageError(e.to_string()))?
            .resolved())
    }

    /// How to reach an S3 repository: the configuration's `s3_*` keys, then the environment.
    pub fn s3_options(&self) -> Result<lifeboat::repo::S3Options> {
        let r = self.cfg().map(|c| &c.repository);
        let virtual_host = match std::env::var("LIFEBOAT_S3_VIRTUAL_HOST").ok().as_deref() {
            None | Some("") => r.and_then(|r| r.s3_virtual_host),
            Some("1" | "true" | "yes" | "on") => Some(true),
            Some("0" | "false" | "no" | "off") => Some(false),
            Some(v) => {
                return Err(
                    UsageError(format!("LIFEBOAT_S3_VIRTUAL_HOST={v:?}: use 1 or 0")).into(),
                );
            }
        };
        Ok(lifeboat::repo::S3Options {
            region: r.and_then(|r| r.s3_region.clone()),
            virtual_host,
            credentials_file: r.and_then(|r| r.s3_credentials_file.clone()),
            profile: r.and_then(|r| r.s3_profile.clone()),
            connections: r.and_then(|r| r.s3_connections),
            ..Default::default()
        })
    }

    /// The backend of `location` (the repository of --repo, or another one such as copy's
    /// source).
    pub fn backend_at(&self, location: &RepoLocation) -> Result<Arc<dyn Backend>> {
        Ok(lifeboat::repo::backend_for(location, &self.s3_options()?)?)
    }

    /// The local cache of a remote repository's sealed files, unless --no-cache.
    pub fn cache_root(&self, backend: &dyn Backend) -> Option<PathBuf> {
        if !backend.is_remote() {
            return None;
        }
        self.cache_home()
    }

    /// --cache-dir, or the user's cache directory; `None` with --no-cache.
    pub fn cache_home(&self) -> Option<PathBuf> {
        if self.no_cache {
            return None;
        }
        self.cache_dir.clone().or_else(|| {
            std::env::var_os("XDG_CACHE_HOME")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
                .map(|c| c.join("lifeboat"))
        })
    }

    /// Open the repository named by --repo with the password from the usual sources; its
    /// locks wait as long as --lock-wait (or the configuration) says.
    pub fn open(&self) -> Result<Repository> {
        let location = self.location()?;
        if let Some(file) = &self.key_file {
            return hostkey::open(self, &location, file);
        }
        self.open_at(&location, &password::Source::of(self))
    }

    /// Open the repository at `location` with the password from `password` (`copy` opens its
    /// source this way); locks wait as long as --lock-wait says.
    pub fn open_at(
        &self,
        location: &RepoLocation,
        password: &password::Source<'_>,
    ) -> Result<Repository> {
        let backend = self.backend_at(location)?;
        // Refuse a non-repository before asking for a password.
        Repository::check_format(&*backend)?;
        let pw = password.get()?;
        let options = lifeboat::repo::OpenOptions {
            lock_wait: self.lock_wait,
            cache_dir: self.cache_root(&*backend),
            host_cache_dir: None,
        };
        let mut repo = Repository::open_with(backend, &pw, &options)?;
        repo.set_observer(Arc::new(progress::Log {
            tally: self.tally.clone(),
        }));
        Ok(repo)
    }

    pub fn progress(&self) -> progress::Bar {
        progress::Bar::new(self.quiet || self.json, self.tally.clone())
    }
}

/// Print JSON to stdout.
pub fn print_json<T: serde::Serialize>(v: &T) -> Result<()> {
    let mut out = std::io::stdout().lock();
    // As an io::Error, so that a closed pipe is recognised as one.
    serde_json::to_writer_pretty(&mut out, v).map_err(std::io::Error::from)?;
    writeln!(out)?;
    Ok(())
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<serde_json::Error>()
                .is_some_and(|j| j.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe))
    })
}

/// An error and its causes on one line, leaving out a cause whose text the previous level
/// already includes (the library's I/O errors name their cause in their own message).
fn error_text(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let c = errors::cause_text(cause);
        if text.contains(&c) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&c);
    }
    text
}

/// SIGINT/SIGTERM ask the running command to stop cleanly; a second one exits at once.
fn install_signal_handlers() {
    let flag = lifeboat::interrupt::flag();
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register_conditional_shutdown(sig, 130, flag.clone());
        let _ = signal_hook::flag::register(sig, flag.clone());
    }
}

/// Whether argument `id` was given on the command line or in the environment (not defaulted),
/// at any level of subcommands (global options are propagated).
fn given(m: &clap::ArgMatches, id: &str) -> bool {
    use clap::parser::ValueSource;
    matches!(
        m.try_get_raw(id).ok().flatten().and(m.value_source(id)),
        Some(ValueSource::CommandLine | ValueSource::EnvVariable)
    ) || m.subcommand().is_some_and(|(_, sub)| given(sub, id))
}

/// Whether `--json` is on the command line (before any `--`): clap's own errors are then
/// reported as JSON too, although parsing failed.
fn json_in_args() -> bool {
    std::env::args_os()
        .skip(1)
        .take_while(|a| a != "--")
        .any(|a| a == "--json")
}

/// A clap error: help and version print as usual; a usage error prints for people on stderr
/// and, under `--json`, as the JSON error object on stdout.
fn clap_error(e: &clap::Error, json: bool) -> ExitCode {
    if !e.use_stderr() || !json {
        e.exit();
    }
    let _ = e.print();
    let rendered = e.render().to_string();
    // The first paragraph, on one line: "the following required arguments were not provided:
    // --target <DIR>".
    let first = rendered.split("\n\n").next().unwrap_or_default();
    let mut lines = first.trim_start_matches("error: ").lines().map(str::trim);
    let mut message = lines.next().unwrap_or_default().to_string();
    let rest: Vec<&str> = lines.filter(|l| !l.is_empty()).collect();
    if !rest.is_empty() {
        message = format!("{message} {}", rest.join(", "));
    }
    print_error_json(
        &message,
        Exit::Usage,
        Some("`lifeboat COMMAND --help` shows the usage"),
    );
    Exit::Usage.into()
}

/// The error object `--json` prints on stdout instead of a result: the message with its
/// causes, the exit code's name and number, and the hint when there is one.
fn print_error_json(message: &str, code: Exit, hint: Option<&str>) {
    let mut v = serde_json::json!({
        "error": lifeboat::escape::controls(message),
        "code": code.name(),
        "exit": code as u8,
    });
    if let Some(h) = hint {
        v["hint"] = h.into();
    }
    // Nothing more can be done when stdout is gone; stderr has the message already.
    let _ = print_json(&v);
}

/// Report a command's failure: on stderr for people (through the log), and under `--json`
/// as one JSON object on stdout.
fn fail(g: &Global, e: &anyhow::Error, code: Exit, hint: Option<&str>) -> ExitCode {
    let text = error_text(e);
    log::error(&text);
    if let Some(h) = hint {
        log::hint(h);
    }
    if g.json {
        print_error_json(&text, code, hint);
    }
    code.into()
}

/// Where the password came from, for the wrong-password hint (never the password itself,
/// nor the password command's text, which may carry a credential).
fn password_hint(g: &Global, m: &clap::ArgMatches) -> String {
    use clap::parser::ValueSource;
    fn source(m: &clap::ArgMatches, id: &str) -> Option<ValueSource> {
        m.try_get_raw(id)
            .ok()
            .flatten()
            .and(m.value_source(id))
            .filter(|s| *s != ValueSource::DefaultValue)
            .or_else(|| m.subcommand().and_then(|(_, sub)| source(sub, id)))
    }
    let origin = |id: &str, flag: &str, env: &str, key: &str| match source(m, id) {
        Some(ValueSource::CommandLine) => flag.to_string(),
        Some(ValueSource::EnvVariable) => env.to_string(),
        _ => match g.cfg().and_then(|c| c.source.as_deref()) {
            Some(f) => format!("{key} in {}", lifeboat::util::show_path(f)),
            None => key.to_string(),
        },
    };
    let from = if let Some(f) = &g.password_file {
        format!(
            "the password was read from {} ({})",
            lifeboat::util::show_path(f),
            origin(
                "password_file",
                "--password-file",
                "LIFEBOAT_PASSWORD_FILE",
                "repository.password_file"
            )
        )
    } else if g.password_command.is_some() {
        format!(
            "the password came from the password command ({})",
            origin(
                "password_command",
                "--password-command",
                "LIFEBOAT_PASSWORD_COMMAND",
                "repository.password_command"
            )
        )
    } else if std::env::var_os("LIFEBOAT_PASSWORD").is_some() {
        "the password came from LIFEBOAT_PASSWORD".to_string()
    } else {
        "the password was typed at the prompt".to_string()
    };
    if matches!(g.location(), Ok(RepoLocation::Archive(_))) {
        return format!(
            "{from}; an archive opens with the archive password given to `lifeboat export`, not the repository's"
        );
    }
    format!(
        "{from}; check that it is the password of one of this repository's keys (with a password that works, `lifeboat key add` adds another)"
    )
}

pub fn main() -> ExitCode {
    use clap::{CommandFactory, FromArgMatches};
    let json = json_in_args();
    let matches = match Cli::command().try_get_matches() {
        Ok(m) => m,
        Err(e) => return clap_error(&e, json),
    };
    let mut cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => return clap_error(&e, json),
    };
    cli.global.lock_wait_given = given(&matches, "lock_wait");
    install_signal_handlers();
    log::init(&cli.global);
    // `config check` reports on the file itself; the others read it before they start.
    let reads_config = !matches!(
        cli.command,
        Command::Config(_) | Command::Completions(_) | Command::Man(_)
    );
    // A timer may be installed before its configuration file is written.
    let config_may_be_missing = matches!(cli.command, Command::Schedule(_))
        && cli.global.config.as_ref().is_some_and(|c| !c.exists());
    if reads_config
        && !config_may_be_missing
        && let Err(e) = cli.global.load_config()
    {
        return fail(
            &cli.global,
            &e,
            Exit::Usage,
            Some(
                "`lifeboat config check` shows every problem; `lifeboat config example` a valid file",
            ),
        );
    }
    log::init(&cli.global);
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| dispatch(&cli)));
    let result = match run {
        Ok(r) => r,
        Err(payload) => match payload.downcast::<out::Unwritable>() {
            Ok(u) => Err(anyhow::Error::new(u.0).context("writing to stdout")),
            Err(other) => std::panic::resume_unwind(other),
        },
    };
    match result {
        // Damage the library worked around (a damaged index or snapshot file skipped): a
        // command that otherwise succeeded exits with [`Exit::Integrity`] so scripts notice.
        Ok(Exit::Success | Exit::Partial) if cli.global.tally.damage() > 0 => {
            Exit::Integrity.into()
        }
        Ok(code) => code.into(),
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            let code = Exit::of(&e);
            let archive = exit::archive_error(&e);
            let hint = match (code, exit::storage_error(&e)) {
                _ if archive.is_some() => archive.map(errors::archive_hint),
                (Exit::WrongPassword, _) => Some(match &cli.command {
                    Command::Copy(a) if copy::is_source_error(&e) => copy::password_hint(a),
                    _ => password_hint(&cli.global, &matches),
                }),
                (_, Some(s)) => Some(errors::storage_hint(s).to_string()),
                (Exit::Integrity, _) if matches!(cli.command, Command::Copy(_)) => {
                    Some(copy::INTEGRITY_HINT.to_string())
                }
                (Exit::Integrity, _)
                    if matches!(cli.global.location(), Ok(RepoLocation::Archive(_))) =>
                {
                    Some(errors::DAMAGED_ARCHIVE_HINT.to_string())
                }
                _ => code.hint().map(str::to_string),
            };
            fail(&cli.global, &e, code, hint.as_deref())
        }
    }
}

fn dispatch(cli: &Cli) -> Result<Exit> {
    let g = &cli.global;
    match &cli.command {
        Command::Init(a) => init::run(g, a),
        Command::Key(c) => key::run(g, c),
        Command::Migrate => key::migrate(g),
        Command::Snapshot(a) => snapshot::run(g, a),
        Command::Snapshots(a) => snapshots::run(g, a),
        Command::Ls(a) => ls::run(g, a),
        Command::Diff(a) => diff::run(g, a),
        Command::Find(a) => find::run(g, a),
        Command::Stats(a) => stats::run(g, a),
        Command::Show(a) => show::run(g, a),
        Command::Audit(a) => audit::run(g, a),
        Command::Models(c) => models::run(g, c),
        Command::Restore(a) => restore::run(g, a),
        Command::Recover(a) => recover::run(g, a),
        Command::Dump(a) => dump::run(g, a),
        Command::Update(a) => update::run(g, a),
        Command::Rollback(a) => rollback::run(g, a),
        Command::Verify(a) => verify::run(g, a),
        Command::Forget(a) => forget::run(g, a),
        Command::Tag(a) => tag::run(g, a),
        Command::Export(a) => export::run(g, a),
        Command::Copy(a) => copy::run(g, a),
        Command::Prune(a) => prune::run(g, a),
        Command::Schedule(c) => schedule::run(g, c),
        Command::Config(c) => config::run(g, c),
        Command::Run(a) => run::run(g, a),
        Command::Status(a) => status::run(g, a),
        Command::Unlock(a) => misc::unlock(g, a),
        Command::Completions(a) => misc::completions(a),
        Command::Man(a) => misc::man(a),
    }
}
