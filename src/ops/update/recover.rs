//! Crash recovery: what an interrupted update left (its journal in `STATE_DIR/updates`) is
//! repaired, by completing the update when the new container had passed its health gate and
//! still does, else by putting the old container back.

use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use super::execute::wait_running;
use super::journal::{ContainerLock, Journal, JournalStep, leftover_journals, remove_journal};
use crate::docker::Engine;
use crate::docker::aside::short;
use crate::error::{Error, Result, UpdateError};
use crate::snapshot::deployment::{jget, jstr};

/// What `recover` did about one leftover journal.
#[derive(Debug, Clone, Serialize)]
pub struct Recovery {
    pub container: String,
    pub step: JournalStep,
    pub snapshot: String,
    pub actions: Vec<String>,
    /// When the repair failed (the journal is kept for another try): the error's text.
    pub error: Option<String>,
    /// The same error, typed, for a caller that words it its own way.
    #[serde(skip)]
    pub cause: Option<std::sync::Arc<Error>>,
}

/// Repair what interrupted updates left (their journals in `STATE_DIR/updates`), one by one:
/// when the old container (set aside) and a new one both exist, the new one is removed, unless
/// the journal reached the healthy step and it is still healthy, in which case the update is
/// completed by removing the old one; otherwise the old container gets its name back and is
/// started if it was running. A journal whose update is still running (its lock is held) is
/// left alone. Journals repaired are deleted; one whose repair failed is kept and reported.
pub fn recover(engine: &Engine, state_dir: &Path) -> Result<Vec<Recovery>> {
    let mut out = Vec::new();
    for path in leftover_journals(state_dir)? {
        let dir = path.parent().unwrap_or(state_dir).to_path_buf();
        let data = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let j: Journal = serde_json::from_slice(&data).map_err(|e| UpdateError::BadJournal {
            path: path.clone(),
            reason: format!("not an update journal ({e})"),
        })?;
        if path.file_stem().and_then(|s| s.to_str()) != Some(j.container.as_str()) {
            return Err(UpdateError::BadJournal {
                reason: format!("names container {}, not its file name", j.container),
                path,
            }
            .into());
        }
        let Some(_lock) = ContainerLock::take(&dir, &j.container)? else {
            continue;
        };
        let mut r = Recovery {
            container: j.container.clone(),
            step: j.step,
            snapshot: j.snapshot.clone(),
            actions: Vec::new(),
            error: None,
            cause: None,
        };
        match repair(engine, &j, &mut r.actions) {
            Ok(()) => remove_journal(&dir, &j.container)?,
            Err(e) => {
                r.error = Some(e.to_string());
                r.cause = Some(std::sync::Arc::new(e));
            }
        }
        out.push(r);
    }
    Ok(out)
}

fn repair(engine: &Engine, j: &Journal, actions: &mut Vec<String>) -> Result<()> {
    let name = &j.container;
    let old = engine.inspect_container(&j.old_id)?;
    let new = engine
        .inspect_container(name)?
        .filter(|c| jstr(c, "Id") != j.old_id);
    let aside = j.aside();
    let keep: Vec<&str> = j.carried_volumes.iter().map(String::as_str).collect();
    match (old, new) {
        (None, Some(_)) => {
            actions.push(format!(
                "the old container is gone and {name} exists: the update had completed; nothing to do"
            ));
            Ok(())
        }
        (None, None) => Err(UpdateError::BothGone {
            container: name.to_string(),
            old: short(&j.old_id).to_string(),
            snapshot: j.snapshot[..j.snapshot.len().min(8)].to_string(),
        }
        .into()),
        (Some(_), Some(n)) if j.step == JournalStep::Healthy && is_healthy(&n) => {
            aside.remove_old(engine)?;
            actions.push(format!(
                "the new {name} had passed its health check and still does: removed the old container {} (update completed)",
                aside.aside
            ));
            Ok(())
        }
        (Some(_), new) => {
            if let Some(n) = &new {
                actions.push(format!(
                    "removed the new container {name} ({})",
                    short(jstr(n, "Id"))
                ));
            }
            aside.put_back(engine, &keep)?;
            actions.push(format!(
                "put the old container {} back as {name}{}",
                short(&j.old_id),
                if j.was_running { " and started it" } else { "" }
            ));
            if j.was_running {
                wait_running(engine, &j.old_id).map_err(UpdateError::NotRunning)?;
            }
            Ok(())
        }
    }
}

/// Running, not restarting, and healthy when it has a healthcheck.
fn is_healthy(i: &Value) -> bool {
    let running = jget(i, "State.Running").and_then(Value::as_bool) == Some(true)
        && jget(i, "State.Restarting").and_then(Value::as_bool) != Some(true);
    running
        && match jget(i, "State.Health.Status").and_then(Value::as_str) {
            Some(s) => s == "healthy",
            None => true,
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthy_means_running_and_not_unhealthy() {
        let running = serde_json::json!({"State": {"Running": true, "Restarting": false}});
        assert!(is_healthy(&running));
        let starting =
            serde_json::json!({"State": {"Running": true, "Health": {"Status": "starting"}}});
        assert!(!is_healthy(&starting));
        let ok = serde_json::json!({"State": {"Running": true, "Health": {"Status": "healthy"}}});
        assert!(is_healthy(&ok));
        let restarting = serde_json::json!({"State": {"Running": true, "Restarting": true}});
        assert!(!is_healthy(&restarting));
        assert!(!is_healthy(&Value::Null));
    }
}
