//! The one place lifeboat starts other programs (`run`'s hooks, the password command, `sshd
//! -t`, firewall tools, `systemctl`): each gets an environment without secrets and a time
//! limit, after which its whole process group is killed.
//!
//! A child inherits lifeboat's environment *minus* every variable [`is_secret`] names:
//! `LIFEBOAT_PASSWORD*` (the password itself, and where it comes from), lifeboat variables that
//! name a key, secret or token, and the cloud credentials that are secrets on their own
//! (`AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`). A hook that needs the repository reads it
//! through the configuration file, like any other lifeboat command.
//!
//! A child runs in a process group of its own, so that a timeout or an interrupt ends what it
//! started too; the exception is a child reading the terminal (the password command prompting,
//! say), which must stay in the terminal's foreground group to read it.

use std::ffi::OsStr;
use std::io::{IsTerminal, Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal};

/// Whether the environment variable `name` holds a secret that no child may see.
pub fn is_secret(name: &OsStr) -> bool {
    let Some(name) = name.to_str() else {
        return false;
    };
    let upper = name.to_ascii_uppercase();
    if upper.starts_with("LIFEBOAT_PASSWORD") {
        return true;
    }
    if let Some(rest) = upper.strip_prefix("LIFEBOAT_") {
        return ["KEY", "SECRET", "TOKEN", "CREDENTIAL"]
            .iter()
            .any(|w| rest.contains(w));
    }
    matches!(
        upper.as_str(),
        "AWS_SECRET_ACCESS_KEY" | "AWS_SESSION_TOKEN" | "AWS_SECURITY_TOKEN"
    )
}

/// Remove every secret variable of lifeboat's environment from what `cmd` passes on.
pub fn scrub(cmd: &mut Command) {
    for (name, _) in std::env::vars_os() {
        if is_secret(&name) {
            cmd.env_remove(&name);
        }
    }
}

/// How a command is named in messages: by its program, never its arguments (a command line
/// may carry a credential). `sh -c` scripts are named by their first word.
pub fn program_name(command_line: &str) -> String {
    let mut words = command_line.split_whitespace();
    let program = words.next().unwrap_or("");
    let more = if words.next().is_some() { " …" } else { "" };
    format!("{program}{more}")
}

/// What the child reads.
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    Null,
    /// lifeboat's own stdin (a terminal, for a password command that prompts).
    Inherit,
    /// These bytes, then end of file.
    Bytes(&'a [u8]),
}

/// Where an output stream of the child goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sink {
    /// Collected and returned (up to [`Options::output_limit`] bytes; the rest is read and
    /// dropped).
    Capture,
    /// lifeboat's stderr (a hook's output: stdout may carry JSON).
    Stderr,
    /// Where lifeboat's own stream goes.
    Inherit,
    Null,
}

#[derive(Debug, Clone, Copy)]
pub struct Options<'a> {
    pub stdin: Input<'a>,
    pub stdout: Sink,
    pub stderr: Sink,
    /// The child and its captured output must be done by then; then its process group gets
    /// SIGTERM, and SIGKILL a little later.
    pub timeout: Duration,
    pub output_limit: usize,
}

/// How long a child may run when its caller sets no other limit (and `host.tool_timeout`'s
/// default): a minute.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

impl Default for Options<'_> {
    fn default() -> Self {
        Options {
            stdin: Input::Null,
            stdout: Sink::Capture,
            stderr: Sink::Capture,
            timeout: DEFAULT_TIMEOUT,
            output_limit: 1 << 20,
        }
    }
}

/// A child that ran to its end.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Why a child did not run to its end.
#[derive(Debug)]
pub enum Failure {
    /// It could not be started (`NotFound`: no such program).
    Start(std::io::Error),
    /// It ran longer than the timeout and was killed (with its process group).
    TimedOut(Duration),
    /// lifeboat was asked to stop (SIGINT/SIGTERM); the child was killed.
    Interrupted,
    Wait(std::io::Error),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Start(e) => write!(f, "could not be started: {e}"),
            Failure::TimedOut(t) => write!(
                f,
                "did not finish within {} and was killed",
                show_duration(*t)
            ),
            Failure::Interrupted => write!(f, "was killed: lifeboat was interrupted"),
            Failure::Wait(e) => write!(f, "could not be waited for: {e}"),
        }
    }
}

impl std::error::Error for Failure {}

/// How long a child gets between SIGTERM and SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(2);

/// Run `cmd` (program, arguments and extra variables set by the caller) with a scrubbed
/// environment, the given stdio, and a time limit.
pub fn run(cmd: &mut Command, opts: &Options<'_>) -> Result<Finished, Failure> {
    scrub(cmd);
    let reads_terminal = matches!(opts.stdin, Input::Inherit) && std::io::stdin().is_terminal();
    let own_group = !reads_terminal;
    if own_group {
        cmd.process_group(0);
    }
    cmd.stdin(match opts.stdin {
        Input::Null => Stdio::null(),
        Input::Inherit => Stdio::inherit(),
        Input::Bytes(_) => Stdio::piped(),
    });
    cmd.stdout(stdio(opts.stdout));
    cmd.stderr(stdio(opts.stderr));
    let mut child = cmd.spawn().map_err(Failure::Start)?;
    let target = Target {
        pid: Pid::from_child(&child),
        own_group,
    };
    let deadline = Instant::now() + opts.timeout;
    let (rx, readers) = read_output(&mut child, opts.output_limit);
    if let (Input::Bytes(bytes), Some(mut stdin)) = (opts.stdin, child.stdin.take()) {
        let bytes = bytes.to_vec();
        // A child that does not read its input must not block lifeboat.
        std::thread::spawn(move || {
            let _ = stdin.write_all(&bytes);
        });
    }

    let mut pause = Duration::from_millis(2);
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) => {}
            Err(e) => {
                target.kill(&mut child);
                return Err(Failure::Wait(e));
            }
        }
        if crate::interrupt::is_set() {
            target.kill(&mut child);
            return Err(Failure::Interrupted);
        }
        if Instant::now() >= deadline {
            target.kill(&mut child);
            return Err(Failure::TimedOut(opts.timeout));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    };
    let (stdout, stderr) = collect_output(&rx, readers, &target, deadline, opts.timeout)?;
    Ok(Finished {
        status,
        stdout,
        stderr,
    })
}

/// The child as a target of signals: its process group when it has its own, else itself.
struct Target {
    pid: Pid,
    own_group: bool,
}

impl Target {
    fn signal(&self, sig: Signal) {
        if self.own_group {
            let _ = rustix::process::kill_process_group(self.pid, sig);
        } else {
            let _ = rustix::process::kill_process(self.pid, sig);
        }
    }

    /// SIGTERM, up to [`KILL_GRACE`] to exit, then SIGKILL, and reap it.
    fn kill(&self, child: &mut std::process::Child) {
        self.signal(Signal::TERM);
        let t = Instant::now();
        while t.elapsed() < KILL_GRACE {
            if matches!(child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // The group may outlive its leader: SIGKILL whatever is left of it.
        self.signal(Signal::KILL);
        let _ = child.wait();
    }
}

/// One thread per captured stream, each sending (is stdout, its first `limit` bytes) when the
/// stream ends; returns the receiver and how many threads send.
fn read_output(
    child: &mut std::process::Child,
    limit: usize,
) -> (mpsc::Receiver<(bool, Vec<u8>)>, usize) {
    let (tx, rx) = mpsc::channel::<(bool, Vec<u8>)>();
    let mut readers = 0;
    for (is_out, stream) in [
        (
            true,
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        ),
        (
            false,
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        ),
    ] {
        if let Some(mut r) = stream {
            readers += 1;
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut kept = Vec::with_capacity(limit.min(8192));
                let mut buf = [0u8; 8192];
                loop {
                    match r.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => {
                            let room = limit.saturating_sub(kept.len()).min(n);
                            kept.extend_from_slice(&buf[..room]);
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(_) => break,
                    }
                }
                let _ = tx.send((is_out, kept));
            });
        }
    }
    (rx, readers)
}

/// The captured (stdout, stderr) once the child has exited. The output pipes close when
/// everything holding them is done: a background process the child left may keep them open.
/// Wait until the deadline, then end the group.
fn collect_output(
    rx: &mpsc::Receiver<(bool, Vec<u8>)>,
    mut readers: usize,
    target: &Target,
    deadline: Instant,
    timeout: Duration,
) -> Result<(Vec<u8>, Vec<u8>), Failure> {
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let mut killed = false;
    while readers > 0 {
        let wait = if killed {
            Duration::from_millis(50)
        } else {
            deadline.saturating_duration_since(Instant::now())
        };
        match rx.recv_timeout(wait.max(Duration::from_millis(1))) {
            Ok((true, v)) => {
                stdout = v;
                readers -= 1;
            }
            Ok((false, v)) => {
                stderr = v;
                readers -= 1;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) if !killed && target.own_group => {
                let _ = rustix::process::kill_process_group(target.pid, Signal::KILL);
                killed = true;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => return Err(Failure::TimedOut(timeout)),
        }
        if killed && readers > 0 && Instant::now() > deadline + KILL_GRACE {
            return Err(Failure::TimedOut(timeout));
        }
    }
    if killed {
        return Err(Failure::TimedOut(timeout));
    }
    Ok((stdout, stderr))
}

/// `60s`, or `250ms` below a second or when not whole seconds.
pub fn show_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 && d.as_secs() > 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

fn stdio(s: Sink) -> Stdio {
    match s {
        Sink::Capture => Stdio::piped(),
        Sink::Stderr => std::io::stderr().into(),
        Sink::Inherit => Stdio::inherit(),
        Sink::Null => Stdio::null(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_variables_are_recognized() {
        for s in [
            "LIFEBOAT_PASSWORD",
            "LIFEBOAT_PASSWORD_FILE",
            "LIFEBOAT_PASSWORD_COMMAND",
            "LIFEBOAT_PASSWORD_COMMAND_TIMEOUT",
            "LIFEBOAT_KEY_FILE",
            "LIFEBOAT_S3_SECRET_KEY",
            "LIFEBOAT_API_TOKEN",
            "lifeboat_password",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
        ] {
            assert!(is_secret(OsStr::new(s)), "{s}");
        }
        for s in [
            "LIFEBOAT_REPO",
            "LIFEBOAT_CONFIG",
            "LIFEBOAT_JOB",
            "LIFEBOAT_ERROR",
            "PATH",
            "HOME",
            "AWS_ACCESS_KEY_ID",
            "AWS_REGION",
        ] {
            assert!(!is_secret(OsStr::new(s)), "{s}");
        }
    }

    #[test]
    fn programs_are_named_without_their_arguments() {
        assert_eq!(program_name("pass show lifeboat/prod"), "pass …");
        assert_eq!(program_name("  /usr/bin/getpw  "), "/usr/bin/getpw");
        assert_eq!(program_name(""), "");
    }

    #[test]
    fn output_and_status_are_returned() {
        let r = run(
            Command::new("sh").args(["-c", "cat; echo err >&2; exit 3"]),
            &Options {
                stdin: Input::Bytes(b"in"),
                ..Options::default()
            },
        )
        .unwrap();
        assert_eq!(r.status.code(), Some(3));
        assert_eq!(r.stdout, b"in");
        assert_eq!(r.stderr, b"err\n");
    }

    #[test]
    fn output_beyond_the_limit_is_dropped_without_blocking_the_child() {
        let r = run(
            Command::new("sh").args(["-c", "head -c 1000000 /dev/zero"]),
            &Options {
                output_limit: 10,
                ..Options::default()
            },
        )
        .unwrap();
        assert!(r.status.success());
        assert_eq!(r.stdout.len(), 10);
    }

    #[test]
    fn a_child_that_runs_too_long_is_killed() {
        let t = Instant::now();
        let r = run(
            Command::new("sh").args(["-c", "sleep 30"]),
            &Options {
                timeout: Duration::from_millis(200),
                ..Options::default()
            },
        );
        assert!(matches!(r, Err(Failure::TimedOut(_))), "{r:?}");
        assert!(t.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn a_background_process_holding_the_output_is_ended_at_the_deadline() {
        let t = Instant::now();
        let r = run(
            Command::new("sh").args(["-c", "sleep 30 & echo done"]),
            &Options {
                timeout: Duration::from_millis(300),
                ..Options::default()
            },
        );
        assert!(matches!(r, Err(Failure::TimedOut(_))), "{r:?}");
        assert!(t.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn a_missing_program_is_a_start_failure() {
        let r = run(
            &mut Command::new("/nonexistent/lifeboat-test-program"),
            &Options::default(),
        );
        assert!(
            matches!(&r, Err(Failure::Start(e)) if e.kind() == std::io::ErrorKind::NotFound),
            "{r:?}"
        );
    }
}
