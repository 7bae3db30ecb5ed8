//! `lifeboat schedule install|status|remove`: run a job regularly with a systemd timer (or a
//! cron.d entry where systemd is not running), see when it runs, and take it away again.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use lifeboat::ops::schedule::{self, DEFAULT_CONFIG, DEFAULT_UNIT_DIR, Schedule};

use super::{Exit, Global, print_json};

#[derive(clap::Subcommand, Debug)]
pub enum Cmd {
    /// Write and enable a systemd service and timer that run `lifeboat run` for a job.
    ///
    /// Writes lifeboat-<JOB>.service (a oneshot run at idle CPU and I/O priority, with
    /// hardening) and lifeboat-<JOB>.timer into the unit directory, then runs
    /// `systemctl daemon-reload` and `systemctl enable --now lifeboat-<JOB>.timer`. Where
    /// systemd is not running, prints the equivalent cron line instead (and writes it with
    /// --cron-file). Re-running install replaces the units; keep local changes in a drop-in
    /// (`systemctl edit lifeboat-<JOB>.service`).
    Install(InstallArgs),
    /// Show installed lifeboat timers: calendar, enabled, next and last run.
    Status(StatusArgs),
    /// Disable a job's timer and delete its units (or its cron file).
    Remove(RemoveArgs),
}

#[derive(clap::Args, Debug)]
pub struct InstallArgs {
    /// When to run, as a systemd calendar expression (see `man systemd.time`).
    ///
    /// Examples: daily, hourly, "*-*-* 03:30:00", "Mon..Fri 02:00". Checked with
    /// `systemd-analyze calendar` when it is installed.
    /// [default: schedule.on_calendar from the configuration, or daily]
    #[arg(long, value_name = "CALENDAR", value_parser = parse_calendar)]
    pub on_calendar: Option<String>,
    /// Start at a random point this long after the calendar time (e.g. 30m, 2h, 0s).
    ///
    /// Spreads the load when many hosts back up to the same storage.
    /// [default: schedule.randomized_delay from the configuration, or 30m]
    #[arg(long, value_name = "DURATION", value_parser = super::parse_duration)]
    pub randomized_delay: Option<Duration>,
    #[command(flatten)]
    pub job: JobArg,
    #[command(flatten)]
    pub units: UnitDirArg,
    /// Write the units but do not reload systemd or enable the timer.
    #[arg(long)]
    pub no_enable: bool,
    /// Print what would be written and run; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Schedule with cron instead: write this cron.d file (e.g. /etc/cron.d/lifeboat-default).
    #[arg(long, value_name = "PATH", conflicts_with = "unit_dir")]
    pub cron_file: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct JobArg {
    /// The job's name: letters, digits, '_', '.', '-' [default: the configuration's `name`,
    /// or `default`].
    #[arg(long, value_name = "NAME")]
    pub job: Option<String>,
}

impl JobArg {
    /// The job named here, or the configuration's, or `default`.
    fn name(&self, g: &Global) -> String {
        self.job
            .clone()
            .or_else(|| g.cfg().map(|c| c.job().to_string()))
            .unwrap_or_else(|| "default".to_string())
    }
}

#[derive(clap::Args, Debug)]
pub struct UnitDirArg {
    /// Directory of the unit files [default: /etc/systemd/system]. With another directory
    /// systemd is neither reloaded nor asked anything.
    #[arg(long, value_name = "DIR")]
    pub unit_dir: Option<PathBuf>,
}

impl UnitDirArg {
    fn dir(&self) -> &Path {
        self.unit_dir
            .as_deref()
            .unwrap_or(Path::new(DEFAULT_UNIT_DIR))
    }

    /// Whether systemd manages this directory and is there to ask.
    fn systemd_managed(&self) -> bool {
        self.unit_dir.is_none() && schedule::systemd_running()
    }
}

#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    pub units: UnitDirArg,
}

#[derive(clap::Args, Debug)]
pub struct RemoveArgs {
    #[command(flatten)]
    pub job: JobArg,
    #[command(flatten)]
    pub units: UnitDirArg,
    /// Remove this cron.d file instead of systemd units.
    #[arg(long, value_name = "PATH", conflicts_with = "unit_dir")]
    pub cron_file: Option<PathBuf>,
}

fn parse_calendar(s: &str) -> Result<String, String> {
    schedule::check_calendar(s)
        .map(|_| s.trim().to_string())
        .map_err(|e| e.to_string())
}

pub fn run(g: &Global, c: &Cmd) -> Result<Exit> {
    match c {
        Cmd::Install(a) => install(g, a),
        Cmd::Status(a) => status(g, a),
        Cmd::Remove(a) => remove(g, a),
    }
}

fn install(g: &Global, a: &InstallArgs) -> Result<Exit> {
    let binary = std::env::current_exe().context("cannot find the path of this lifeboat binary")?;
    // The scheduled run reads the file given with the global --config (or the default).
    let config_arg = g
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG));
    let config = std::path::absolute(&config_arg)
        .with_context(|| format!("cannot make {} absolute", config_arg.display()))?;
    let s = Schedule {
        job: a.job.name(g),
        on_calendar: a
            .on_calendar
            .clone()
            .unwrap_or_else(|| g.settings().schedule.on_calendar.clone()),
        randomized_delay: a
            .randomized_delay
            .unwrap_or(g.settings().schedule.randomized_delay),
        config,
        binary,
    };
    s.validate()?;
    if !s.config.exists() {
        eprintln!(
            "warning: {} does not exist yet; scheduled runs fail until it does",
            s.config.display()
        );
    }
    let use_cron =
        a.cron_file.is_some() || (a.units.unit_dir.is_none() && !schedule::systemd_running());
    if use_cron {
        return install_cron(g, a, &s);
    }
    let dir = a.units.dir();
    if a.dry_run {
        for (name, text) in [
            (
                schedule::service_name(&s.job),
                schedule::render_service(&s)?,
            ),
            (schedule::timer_name(&s.job), schedule::render_timer(&s)?),
        ] {
            println!("# {}\n{text}", dir.join(name).display());
        }
        let enable = !a.no_enable && a.units.systemd_managed();
        if enable {
            println!(
                "# then: systemctl daemon-reload && systemctl enable --now {}",
                schedule::timer_name(&s.job)
            );
        }
        return Ok(Exit::Success);
    }
    let written = schedule::write_units(dir, &s).with_context(|| {
        format!(
            "cannot write units to {} (it needs root: use sudo, or try --dry-run or --unit-dir)",
            dir.display()
        )
    })?;
    let enable = !a.no_enable && a.units.systemd_managed();
    if enable {
        schedule::enable(&s.job).with_context(|| {
            format!(
                "units written, but the timer could not be enabled; fix the cause, then run `systemctl daemon-reload && systemctl enable --now {}`",
                schedule::timer_name(&s.job)
            )
        })?;
    }
    if g.json {
        print_json(&serde_json::json!({
            "job": s.job,
            "on_calendar": s.on_calendar,
            "written": written,
            "enabled": enable,
        }))?;
    } else if !g.quiet {
        for p in &written {
            println!("wrote {}", p.display());
        }
        if enable {
            println!(
                "enabled {}; see `lifeboat schedule status` or `systemctl list-timers 'lifeboat-*'`",
                schedule::timer_name(&s.job)
            );
        } else {
            println!(
                "not enabled; to enable: systemctl daemon-reload && systemctl enable --now {}",
                schedule::timer_name(&s.job)
            );
        }
    }
    Ok(Exit::Success)
}

fn install_cron(g: &Global, a: &InstallArgs, s: &Schedule) -> Result<Exit> {
    let text = match schedule::cron::render_cron(s) {
        Ok(t) => t,
        Err(e) => {
            super::log::error(&e.to_string());
            return Ok(Exit::Usage);
        }
    };
    let Some(path) = &a.cron_file else {
        if !g.quiet {
            eprintln!(
                "systemd is not running here (no /run/systemd/system): nothing written. Put this in /etc/cron.d/lifeboat-{} (or rerun with --cron-file /etc/cron.d/lifeboat-{}):",
                s.job, s.job
            );
        }
        print!("{text}");
        return Ok(Exit::Success);
    };
    if path
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.contains('.'))
    {
        eprintln!(
            "warning: many crons ignore files in /etc/cron.d whose name contains a '.'; {} may never run",
            path.display()
        );
    }
    if a.dry_run {
        print!("# {}\n{text}", path.display());
        return Ok(Exit::Success);
    }
    lifeboat::util::write_file_atomic(path, text.as_bytes(), 0o644)
        .with_context(|| format!("cannot write {} (it needs root: use sudo)", path.display()))?;
    if g.json {
        print_json(&serde_json::json!({
            "job": s.job,
            "on_calendar": s.on_calendar,
            "written": [path],
            "enabled": true,
        }))?;
    } else if !g.quiet {
        println!("wrote {}", path.display());
    }
    Ok(Exit::Success)
}

fn status(g: &Global, a: &StatusArgs) -> Result<Exit> {
    let dir = a.units.dir();
    let ask = a.units.systemd_managed();
    let list = schedule::status(dir, ask)
        .with_context(|| format!("cannot read the lifeboat timers in {}", dir.display()))?;
    if g.json {
        print_json(&serde_json::json!({
            "unit_dir": dir,
            "systemd": ask,
            "timers": list,
        }))?;
        return Ok(Exit::Success);
    }
    if list.is_empty() {
        println!(
            "no lifeboat timers in {} (add one with `lifeboat schedule install`)",
            dir.display()
        );
        return Ok(Exit::Success);
    }
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    println!(
        "{:<24} {:<20} {:<8} {:<26} {:<26}",
        "TIMER", "CALENDAR", "ENABLED", "NEXT", "LAST"
    );
    for t in &list {
        let enabled = match t.enabled {
            Some(true) => "yes",
            Some(false) => "no",
            None => "?",
        };
        println!(
            "{:<24} {:<20} {:<8} {:<26} {:<26}",
            t.timer,
            opt(&t.on_calendar),
            enabled,
            opt(&t.next),
            opt(&t.last)
        );
    }
    if !ask {
        println!("(systemd not asked: it is not running here, or --unit-dir is not its directory)");
    }
    Ok(Exit::Success)
}

fn remove(g: &Global, a: &RemoveArgs) -> Result<Exit> {
    let job = &a.job.name(g);
    lifeboat::ops::runlog::validate_job(job)?;
    let mut removed: Vec<PathBuf> = Vec::new();
    if let Some(path) = &a.cron_file {
        if schedule::remove_generated(path)? {
            removed.push(path.clone());
        }
    } else {
        let dir = a.units.dir();
        let managed = a.units.systemd_managed();
        let timer = dir.join(schedule::timer_name(job));
        if managed && timer.exists() {
            schedule::disable(job).with_context(|| {
                format!(
                    "cannot disable {}; nothing was deleted",
                    schedule::timer_name(job)
                )
            })?;
        }
        removed = schedule::remove_units(dir, job)?;
        if managed && !removed.is_empty() {
            schedule::systemctl(&["daemon-reload"])
                .context("units deleted, but `systemctl daemon-reload` failed; run it by hand")?;
        }
    }
    if removed.is_empty() {
        bail!(
            "no schedule for job {job:?} found{} (see `lifeboat schedule status`; a cron entry is removed with --cron-file)",
            a.cron_file
                .as_ref()
                .map(|p| format!(" at {}", p.display()))
                .unwrap_or_else(|| format!(" in {}", a.units.dir().display()))
        );
    }
    if g.json {
        print_json(&serde_json::json!({ "job": job, "removed": removed }))?;
    } else if !g.quiet {
        for p in &removed {
            println!("removed {}", p.display());
        }
    }
    Ok(Exit::Success)
}
