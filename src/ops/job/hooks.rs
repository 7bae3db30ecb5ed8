//! The job's shell hooks: `before` the snapshot, `after` a successful job, `on_error` after a
//! failed one. They start through [`crate::child`]: no password or other secret in their
//! environment, their output on stderr (stdout carries the run's summary), their process group
//! killed after the timeout.

use std::process::Command;
use std::time::Duration;

use crate::child::{self, Failure, Input, Options, Sink};
use crate::error::{Error, Result};
use crate::observer::{Event, Observer};

/// The hooks of a job, and how long each may run: the configuration's typed `[hooks]`.
pub use crate::config::Hooks;

/// How a hook is named in logs and errors: its position and program, never its arguments
/// (a command line may carry a credential).
fn hook_name(i: usize, h: &str) -> String {
    format!("hook #{} ({})", i + 1, child::program_name(h))
}

/// Run shell hooks in order; the first failure stops them. `error` is exported to `on_error`
/// hooks as LIFEBOAT_ERROR.
pub fn run_hooks(
    hooks: &[String],
    job: &str,
    error: Option<&str>,
    timeout: Duration,
    observer: &dyn Observer,
) -> Result<()> {
    for (i, h) in hooks.iter().enumerate() {
        let name = hook_name(i, h);
        observer.event(Event::HookStarted {
            number: i + 1,
            name: name.clone(),
        });
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(h).env("LIFEBOAT_JOB", job);
        if let Some(e) = error {
            cmd.env("LIFEBOAT_ERROR", e);
        }
        // A hook's output goes to stderr: stdout carries the run's summary (`--json`).
        let opts = Options {
            stdin: Input::Null,
            stdout: Sink::Stderr,
            stderr: Sink::Inherit,
            timeout,
            ..Options::default()
        };
        let status = match child::run(&mut cmd, &opts) {
            Ok(done) => done.status,
            Err(Failure::TimedOut(_)) => {
                return Err(Error::Invalid(format!(
                    "{name} ran longer than {} and was killed",
                    child::show_duration(timeout)
                )));
            }
            Err(Failure::Interrupted) => return Err(Error::Interrupted),
            Err(e) => return Err(Error::Invalid(format!("{name} {e}"))),
        };
        if !status.success() {
            return Err(Error::Invalid(format!("{name} failed ({status})")));
        }
    }
    Ok(())
}
