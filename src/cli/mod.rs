//! The command-line interface: argument definitions (clap), shared options, and dispatch to
//! one module per subcommand. Commands print; the library never does.

mod exit;
mod password;
mod progress;

mod audit;
mod diff;
mod forget;
mod init;
mod key;
mod ls;
mod misc;
mod models;
mod prune;
mod restore;
mod rollback;
mod show;
mod snapshot;
mod snapshots;
mod update;
mod verify;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use lifeboat::repo::{LocalBackend, Repository};

pub use exit::Exit;

/// Encrypted, deduplicated backup and exact restore of ML deployments on Docker hosts.
///
/// A repository is a directory of encrypted, compressed, deduplicated data. Point lifeboat at
/// it with --repo or LIFEBOAT_REPO, and give the password with LIFEBOAT_PASSWORD_FILE,
/// LIFEBOAT_PASSWORD_COMMAND or LIFEBOAT_PASSWORD (never on the command line).
///
/// Exit codes: 0 success, 1 error, 2 usage, 3 partial (some files skipped, see warnings),
/// 4 damaged or tampered data, 10 no repository, 11 locked, 12 wrong password, 130 interrupted;
/// `audit` by its worst finding: 21 low, 22 medium, 23 high, 24 critical.
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
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::Args, Debug, Clone)]
pub struct Global {
    /// Repository directory.
    #[arg(
        short = 'r',
        long,
        env = "LIFEBOAT_REPO",
        global = true,
        value_name = "DIR"
    )]
    pub repo: Option<PathBuf>,

    /// Read the password from this file (first line).
    #[arg(
        long,
        env = "LIFEBOAT_PASSWORD_FILE",
        global = true,
        value_name = "FILE",
        hide_env_values = true
    )]
    pub password_file: Option<PathBuf>,

    /// Run this shell command and use its output as the password.
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
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a new repository.
    Init(init::Args),
    /// Manage the passwords (key files) that open the repository.
    #[command(subcommand)]
    Key(key::Cmd),
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
    /// with the snapshot.
    Rollback(rollback::Args),
    /// Check the repository's structure, and with --read-data every byte.
    #[command(alias = "check")]
    Verify(verify::Args),
    /// Remove snapshots by ID or by a retention policy.
    Forget(forget::Args),
    /// Delete data no snapshot uses and repack partly used packs.
    Prune(prune::Args),
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
    pub fn repo_path(&self) -> Result<&PathBuf> {
        self.repo
            .as_ref()
            .context("no repository given: use --repo DIR or set LIFEBOAT_REPO")
    }

    /// Open the repository named by --repo with the password from the usual sources.
    pub fn open(&self) -> Result<Repository> {
        let path = self.repo_path()?;
        let backend = Arc::new(LocalBackend::new(path));
        // Refuse a non-repository before asking for a password.
        Repository::check_format(&*backend)?;
        let pw = password::get(self)?;
        let mut repo = Repository::open(backend, &pw)?;
        repo.set_notify(Arc::new(|msg: &str| {
            NOTICED.store(true, std::sync::atomic::Ordering::Relaxed);
            eprintln!("warning: {msg}");
        }));
        Ok(repo)
    }

    pub fn progress(&self) -> progress::Bar {
        progress::Bar::new(self.quiet || self.json)
    }
}

/// Set when the library reported damage it worked around (a damaged index or snapshot file
/// skipped); a command that otherwise succeeded then exits with [`Exit::Integrity`] so
/// scripts notice.
static NOTICED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Print JSON to stdout.
pub fn print_json<T: serde::Serialize>(v: &T) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, v)?;
    writeln!(out)?;
    Ok(())
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// SIGINT/SIGTERM ask the running command to stop cleanly; a second one exits at once.
fn install_signal_handlers() {
    let flag = lifeboat::interrupt::flag();
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register_conditional_shutdown(sig, 130, flag.clone());
        let _ = signal_hook::flag::register(sig, flag.clone());
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    install_signal_handlers();
    let g = &cli.global;
    let result = match &cli.command {
        Command::Init(a) => init::run(g, a),
        Command::Key(c) => key::run(g, c),
        Command::Snapshot(a) => snapshot::run(g, a),
        Command::Snapshots(a) => snapshots::run(g, a),
        Command::Ls(a) => ls::run(g, a),
        Command::Diff(a) => diff::run(g, a),
        Command::Show(a) => show::run(g, a),
        Command::Audit(a) => audit::run(g, a),
        Command::Models(c) => models::run(g, c),
        Command::Restore(a) => restore::run(g, a),
        Command::Update(a) => update::run(g, a),
        Command::Rollback(a) => rollback::run(g, a),
        Command::Verify(a) => verify::run(g, a),
        Command::Forget(a) => forget::run(g, a),
        Command::Prune(a) => prune::run(g, a),
        Command::Unlock(a) => misc::unlock(g, a),
        Command::Completions(a) => misc::completions(a),
        Command::Man(a) => misc::man(a),
    };
    match result {
        Ok(Exit::Success | Exit::Partial) if NOTICED.load(std::sync::atomic::Ordering::Relaxed) => {
            Exit::Integrity.into()
        }
        Ok(code) => code.into(),
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            let code = Exit::of(&e);
            eprintln!("error: {e:#}");
            if let Some(h) = code.hint() {
                eprintln!("hint: {h}");
            }
            code.into()
        }
    }
}
