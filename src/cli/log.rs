//! Events on stderr: human-readable lines by default, or with `--log-format json` one JSON
//! object per line (time, level, event, message and fields) for log shippers such as ELK or
//! Loki. Messages never carry secrets: they are built from the same texts the CLI prints.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use super::Global;

static JSON: AtomicBool = AtomicBool::new(false);
static QUIET: AtomicBool = AtomicBool::new(false);

pub fn init(g: &Global) {
    JSON.store(g.log_format.as_deref() == Some("json"), Ordering::Relaxed);
    QUIET.store(g.quiet, Ordering::Relaxed);
}

pub fn is_json() -> bool {
    JSON.load(Ordering::Relaxed)
}

/// One event. In text mode `info` prints the bare message (not at all with --quiet), other
/// levels prefix it. Control characters in the message are escaped in both modes (names are
/// escaped where messages are built; this catches any that were not, so a message is always
/// one line and never drives the terminal).
pub fn event(level: &str, event: &str, message: &str, fields: serde_json::Value) {
    if level == "info" && QUIET.load(Ordering::Relaxed) {
        return;
    }
    let message = lifeboat::escape::controls(message);
    let mut err = std::io::stderr().lock();
    if is_json() {
        let mut obj = serde_json::Map::new();
        obj.insert(
            "time".into(),
            chrono::Utc::now()
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                .into(),
        );
        obj.insert("level".into(), level.into());
        obj.insert("event".into(), event.into());
        obj.insert("message".into(), message.as_str().into());
        if let serde_json::Value::Object(f) = fields {
            obj.extend(f);
        }
        let _ = writeln!(err, "{}", serde_json::Value::Object(obj));
    } else if level == "info" {
        let _ = writeln!(err, "{message}");
    } else {
        let _ = writeln!(err, "{level}: {message}");
    }
}

pub fn warn(message: &str) {
    event("warning", "warning", message, serde_json::Value::Null);
}

pub fn error(message: &str) {
    event("error", "error", message, serde_json::Value::Null);
}

pub fn hint(message: &str) {
    event("hint", "hint", message, serde_json::Value::Null);
}

/// One event the library observed, as a log line.
pub fn observed(e: &lifeboat::observer::Event) {
    use lifeboat::observer::Event;
    match e {
        Event::StepStarted { step } => event(
            "info",
            "step_start",
            &format!("{step}: starting"),
            serde_json::json!({ "step": step }),
        ),
        Event::StepFinished {
            step,
            ok,
            duration,
            detail,
        } => event(
            if *ok { "info" } else { "error" },
            "step_end",
            &format!(
                "{step}: {} in {:.1}s{}",
                if *ok { "ok" } else { "FAILED" },
                duration.as_secs_f64(),
                if detail.is_empty() {
                    String::new()
                } else {
                    format!(": {detail}")
                }
            ),
            serde_json::json!({ "step": step, "ok": ok, "duration_s": duration.as_secs_f64(), "detail": detail }),
        ),
        Event::HookStarted { number, name } => event(
            "info",
            "hook",
            &format!("running {name}"),
            serde_json::json!({ "hook": number }),
        ),
        Event::Notice(message) => event("notice", "notice", message, serde_json::Value::Null),
        Event::Damage(message) => error(message),
    }
}
