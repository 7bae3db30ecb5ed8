//! Containers set aside: stopped and renamed so that a replacement can take the name, removed
//! once it works, put back when it does not. `restore --replace`, `rollback` and `update` all go
//! through it, under one name (`NAME.lifeboat-old-<short ID>`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::engine::Engine;
use crate::error::{DockerError, Result};
use crate::snapshot::deployment::{jget, jstr};

/// A container stopped and renamed aside so that its replacement can take its name: removed
/// once the replacement works, put back when it does not. `restore --replace` and `lifeboat
/// update` both go through it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Aside {
    /// The name the container had, and its replacement gets.
    pub name: String,
    /// The old container's ID (it is found by ID, whatever its name is now).
    pub id: String,
    /// Its name while aside.
    pub aside: String,
    /// Whether it was running: it is started again when put back.
    pub was_running: bool,
}

impl Aside {
    /// Stop container `name` if it runs (the engine's stop: its own stop signal and timeout)
    /// and rename it to `aside`. When the rename fails it is started again.
    pub fn set(engine: &Engine, name: &str, aside: &str) -> Result<Aside> {
        let old = engine
            .inspect_container(name)?
            .ok_or_else(|| DockerError::Step(format!("no container named {name}")))?;
        let a = Aside {
            name: name.to_string(),
            id: jstr(&old, "Id").to_string(),
            aside: aside.to_string(),
            was_running: jget(&old, "State.Running").and_then(Value::as_bool) == Some(true),
        };
        a.stop_and_rename(engine)?;
        Ok(a)
    }

    /// The second half of [`Aside::set`], for a caller that recorded `self` first.
    pub fn stop_and_rename(&self, engine: &Engine) -> Result<()> {
        if self.was_running {
            engine.stop(&self.id)?;
        }
        if let Err(e) = engine.rename(&self.id, &self.aside) {
            if self.was_running {
                let _ = engine.start(&self.id);
            }
            return Err(e);
        }
        Ok(())
    }

    /// The replacement failed: remove whatever container now has the name (never the old one)
    /// with the anonymous volumes the engine made for it, except those mounted at `keep`
    /// (carried over from the old container); rename the old container back and start it if it
    /// was running.
    pub fn put_back(&self, engine: &Engine, keep: &[&str]) -> Result<()> {
        if let Some(now) = engine.inspect_container(&self.name)?
            && jstr(&now, "Id") != self.id
        {
            engine.remove_with_anonymous_volumes(jstr(&now, "Id"), keep);
            if engine.inspect_container(&self.name)?.is_some() {
                return Err(DockerError::Step(format!(
                    "could not remove the replacement of {} to put the old container back",
                    self.name
                ))
                .into());
            }
        }
        let old = engine.inspect_container(&self.id)?.ok_or_else(|| {
            DockerError::Step(format!(
                "the old container {} ({}) is gone: nothing to put back",
                self.name,
                short(&self.id)
            ))
        })?;
        if jstr(&old, "Name").trim_start_matches('/') != self.name {
            engine.rename(&self.id, &self.name)?;
        }
        let running = jget(&old, "State.Running").and_then(Value::as_bool) == Some(true);
        if self.was_running && !running {
            engine.start(&self.id)?;
        }
        Ok(())
    }

    /// The replacement works: remove the old container. Its volumes and its image stay.
    pub fn remove_old(&self, engine: &Engine) -> Result<()> {
        engine.remove_container(&self.id)
    }
}

/// The first 12 hex digits of a container ID, as `docker ps` shows it.
pub fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// What marks a container set aside: its name is `NAME` + this + its short ID.
pub const ASIDE_MARK: &str = ".lifeboat-old-";

/// The name a container gets while set aside, by `update` and `restore --replace` alike:
/// `NAME.lifeboat-old-<short ID>`.
pub fn aside_name(name: &str, id: &str) -> String {
    format!("{name}{ASIDE_MARK}{}", short(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `restore --replace`, `rollback` and `update` set containers aside under one name, which
    /// `update --all` and `update NAME` recognize.
    #[test]
    fn containers_set_aside_are_named_one_way() {
        let id = "3d4761b4fbb0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a";
        assert_eq!(aside_name("api", id), "api.lifeboat-old-3d4761b4fbb0");
        assert!(aside_name("api", id).contains(ASIDE_MARK));
        assert_eq!(aside_name("api", "short"), "api.lifeboat-old-short");
    }
}
