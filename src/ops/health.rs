//! The health gate shared by `update` (the new container must come up healthy before the old
//! one is removed) and `recover` (every restarted container must come up before the report).

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::docker::Engine;
use crate::snapshot::deployment::{jget, jstr};

const POLL: Duration = Duration::from_millis(100);

/// Where one container stands: passed (how), failed (why), or not decided yet.
enum Gate {
    Pass(String),
    Fail(String),
    Wait,
}

/// The gate for one inspect, `elapsed` after the wait began: with a healthcheck,
/// `State.Health.Status` must be `healthy` (`unhealthy` fails at once); without one, it must
/// run without a restart for `healthy_after`. Exiting or restarting fails.
fn gate(i: &Value, elapsed: Duration, healthy_after: Duration) -> Gate {
    let exit = jget(i, "State.ExitCode").and_then(Value::as_i64);
    let exit = exit.map_or_else(|| "?".to_string(), |c| c.to_string());
    let restarts = i.get("RestartCount").and_then(Value::as_u64).unwrap_or(0);
    let restarting = jget(i, "State.Restarting").and_then(Value::as_bool) == Some(true);
    if restarts > 0 || restarting {
        return Gate::Fail(format!(
            "the container restarted (exit code {exit}, restarts {restarts})"
        ));
    }
    if jget(i, "State.Running").and_then(Value::as_bool) != Some(true) {
        let oom = jget(i, "State.OOMKilled").and_then(Value::as_bool) == Some(true);
        return Gate::Fail(format!(
            "the container exited with code {exit}{}",
            if oom { " (killed: out of memory)" } else { "" }
        ));
    }
    match jget(i, "State.Health.Status").and_then(Value::as_str) {
        Some("healthy") => Gate::Pass(format!(
            "healthy (healthcheck) after {:.1}s",
            elapsed.as_secs_f64()
        )),
        Some("unhealthy") => {
            let last = jget(i, "State.Health.Log")
                .and_then(Value::as_array)
                .and_then(|l| l.last())
                .map(|l| {
                    let code = l.get("ExitCode").and_then(Value::as_i64).unwrap_or(-1);
                    let out = l.get("Output").and_then(Value::as_str).unwrap_or("").trim();
                    if out.is_empty() {
                        format!("check exited {code}")
                    } else {
                        format!("check exited {code}: {out}")
                    }
                })
                .unwrap_or_default();
            Gate::Fail(format!("the container is unhealthy ({last})"))
        }
        Some(_) => Gate::Wait,
        None if elapsed >= healthy_after => Gate::Pass(format!(
            "running for {:.1}s without a restart (no healthcheck)",
            elapsed.as_secs_f64()
        )),
        None => Gate::Wait,
    }
}

/// Why the wait for `i` ran out after `timeout`.
fn timed_out(i: &Value, timeout: Duration) -> String {
    let status = jstr(i, "State.Health.Status");
    format!(
        "not healthy after {}s{}",
        timeout.as_secs(),
        if status.is_empty() {
            String::new()
        } else {
            format!(" (health: {status})")
        }
    )
}

/// Wait until the container is healthy (see [`gate`]); `timeout` and an interrupt fail.
/// Polls every 100 ms: no fixed sleep. `Ok` says how it passed.
pub(crate) fn wait_healthy(
    engine: &Engine,
    id: &str,
    healthy_after: Duration,
    timeout: Duration,
) -> std::result::Result<String, String> {
    let mut all = wait_all_healthy(engine, &[id.to_string()], healthy_after, timeout);
    all.pop()
        .map_or_else(|| Err("no container".into()), |(_, r)| r)
}

/// [`wait_healthy`] for several containers at once: every one is polled in each round until
/// each has passed or failed, or `timeout` ran out for the rest. Results in the given order.
pub(crate) fn wait_all_healthy(
    engine: &Engine,
    ids: &[String],
    healthy_after: Duration,
    timeout: Duration,
) -> Vec<(String, std::result::Result<String, String>)> {
    let start = Instant::now();
    let mut done: Vec<Option<std::result::Result<String, String>>> = vec![None; ids.len()];
    loop {
        let elapsed = start.elapsed();
        for (id, slot) in ids.iter().zip(done.iter_mut()) {
            if slot.is_some() {
                continue;
            }
            if crate::interrupt::is_set() {
                *slot = Some(Err("interrupted".into()));
                continue;
            }
            let i = match engine.inspect_container(id) {
                Ok(Some(i)) => i,
                Ok(None) => {
                    *slot = Some(Err("the container vanished".into()));
                    continue;
                }
                Err(e) => {
                    *slot = Some(Err(e.to_string()));
                    continue;
                }
            };
            match gate(&i, elapsed, healthy_after) {
                Gate::Pass(how) => *slot = Some(Ok(how)),
                Gate::Fail(why) => *slot = Some(Err(why)),
                Gate::Wait if elapsed >= timeout => *slot = Some(Err(timed_out(&i, timeout))),
                Gate::Wait => {}
            }
        }
        if done.iter().all(Option::is_some) {
            break;
        }
        std::thread::sleep(
            POLL.min(timeout.saturating_sub(start.elapsed()))
                .max(Duration::from_millis(1)),
        );
    }
    ids.iter()
        .cloned()
        .zip(
            done.into_iter()
                .map(|r| r.unwrap_or_else(|| Err("undecided".into()))),
        )
        .collect()
}
