//! Getting the repository password without it ever touching argv, logs or errors:
//! `LIFEBOAT_PASSWORD`, `--password-file`/`LIFEBOAT_PASSWORD_FILE`,
//! `--password-command`/`LIFEBOAT_PASSWORD_COMMAND`, or a prompt on the terminal.

use std::io::IsTerminal;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use zeroize::Zeroizing;

use super::Global;

pub type Password = Zeroizing<Vec<u8>>;

fn strip_newline(mut v: Vec<u8>) -> Password {
    if v.last() == Some(&b'\n') {
        v.pop();
        if v.last() == Some(&b'\r') {
            v.pop();
        }
    }
    Zeroizing::new(v)
}

pub fn from_file(path: &Path) -> Result<Password> {
    let md =
        std::fs::metadata(path).with_context(|| format!("password file {}", path.display()))?;
    if md.permissions().mode() & 0o077 != 0 {
        eprintln!(
            "warning: password file {} is readable by group or others (chmod 600 it)",
            path.display()
        );
    }
    let bytes =
        std::fs::read(path).with_context(|| format!("reading password file {}", path.display()))?;
    Ok(strip_newline(bytes))
}

/// How long a password command may take unless `LIFEBOAT_PASSWORD_COMMAND_TIMEOUT` says.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
const TIMEOUT_VAR: &str = "LIFEBOAT_PASSWORD_COMMAND_TIMEOUT";

fn command_timeout() -> Result<Duration> {
    let Some(v) = std::env::var_os(TIMEOUT_VAR) else {
        return Ok(COMMAND_TIMEOUT);
    };
    match v.to_str().map(super::parse_duration) {
        Some(Ok(d)) if !d.is_zero() => Ok(d),
        _ => crate::usage!(
            "{TIMEOUT_VAR}={:?} is not a duration like 30s or 5m",
            v.to_string_lossy()
        ),
    }
}

/// Run the password command (`sh -c CMD`, the terminal as its stdin so it can prompt) through
/// [`lifeboat::child`]: no secret variable in its environment, killed with its process group
/// after the timeout. It is named by its program only: its arguments may hold a secret.
fn from_command(cmd: &str) -> Result<Password> {
    use lifeboat::child::{self, Input, Options, Sink};
    let timeout = command_timeout()?;
    let name = format!("the password command ({})", child::program_name(cmd));
    let out = child::run(
        Command::new("sh").arg("-c").arg(cmd),
        &Options {
            stdin: Input::Inherit,
            stdout: Sink::Capture,
            stderr: Sink::Inherit,
            timeout,
            output_limit: 64 << 10,
        },
    );
    let out = match out {
        Ok(o) => o,
        Err(e @ child::Failure::TimedOut(_)) => bail!(
            "{name} {e}; no password obtained (set {TIMEOUT_VAR}, e.g. 5m, if it needs longer)"
        ),
        Err(child::Failure::Interrupted) => return Err(lifeboat::Error::Interrupted.into()),
        Err(e) => bail!("{name} {e}; no password obtained"),
    };
    let mut stdout = Zeroizing::new(out.stdout);
    if !out.status.success() {
        bail!(
            "the password command failed ({}; program {}); no password obtained",
            out.status,
            child::program_name(cmd)
        );
    }
    Ok(strip_newline(std::mem::take(&mut *stdout)))
}

fn prompt_for(msg: &str, source: &Source<'_>) -> Result<Password> {
    if !std::io::stdin().is_terminal() {
        let v = source.env;
        bail!(
            "no password given{}: set {v}_FILE or {v}_COMMAND (or {v}), or run on a terminal",
            source.whose
        );
    }
    let p = rpassword::prompt_password(msg).context("reading the password")?;
    Ok(Zeroizing::new(p.into_bytes()))
}

/// Where the password of a repository comes from: a file, a command, the variable that holds
/// it, or else a prompt. The main repository's is [`Source::of`] the global options; `copy`'s
/// source repository has one of its own (`--from-password-file`, `LIFEBOAT_FROM_PASSWORD`...).
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    pub file: Option<&'a Path>,
    pub command: Option<&'a str>,
    /// The variable holding the password itself; `_FILE` and `_COMMAND` name the others.
    pub env: &'static str,
    /// The flags' prefix: `--` (`--password-file`) or `--from-` (`--from-password-file`).
    pub flags: &'static str,
    /// For messages: "" for the main repository, " for the source repository".
    pub whose: &'static str,
}

impl<'a> Source<'a> {
    const MAIN: Source<'static> = Source {
        file: None,
        command: None,
        env: "LIFEBOAT_PASSWORD",
        flags: "--",
        whose: "",
    };

    /// The main repository's password source: the global options.
    pub fn of(g: &'a Global) -> Source<'a> {
        Source {
            file: g.password_file.as_deref(),
            command: g.password_command.as_deref(),
            ..Source::MAIN
        }
    }

    /// The password, never empty.
    pub fn get(&self) -> Result<Password> {
        let p = match (self.file, self.command) {
            (Some(_), Some(_)) => bail!(
                "give either {f}password-file or {f}password-command, not both",
                f = self.flags
            ),
            (Some(f), None) => from_file(f)?,
            (None, Some(c)) => from_command(c)?,
            (None, None) => match std::env::var_os(self.env) {
                Some(p) => Zeroizing::new(std::os::unix::ffi::OsStringExt::into_vec(p)),
                None => {
                    let what = match self.whose {
                        "" => "repository".to_string(),
                        w => w.trim_start_matches(" for the ").to_string(),
                    };
                    prompt_for(&format!("{what} password: "), self)?
                }
            },
        };
        if p.is_empty() {
            bail!("the password{} is empty", self.whose);
        }
        Ok(p)
    }
}

/// The password of an existing repository.
pub fn get(g: &Global) -> Result<Password> {
    Source::of(g).get()
}

/// A new password: from the same sources, or prompted twice.
pub fn new_password(g: &Global, file: Option<&Path>) -> Result<Password> {
    if let Some(f) = file {
        return from_file(f);
    }
    let interactive = g.password_file.is_none()
        && g.password_command.is_none()
        && std::env::var_os("LIFEBOAT_PASSWORD").is_none();
    if !interactive {
        return get(g);
    }
    prompt_new()
}

/// A new password typed twice on the terminal (never taken from the repository's password
/// sources: `key add` must not silently add the password already in use).
pub fn prompt_new() -> Result<Password> {
    prompt_twice("new", &Source::MAIN)
}

/// A new password for `what` (`new`, `archive`) typed twice on the terminal; without one, the
/// error names `source`'s variables.
pub fn prompt_twice(what: &str, source: &Source<'_>) -> Result<Password> {
    let a = prompt_for(&format!("{what} password: "), source)?;
    let b = prompt_for(&format!("repeat the {what} password: "), source)?;
    if a != b {
        bail!("the passwords differ");
    }
    if a.is_empty() {
        bail!("the password is empty");
    }
    Ok(a)
}
