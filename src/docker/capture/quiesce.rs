//! Keeping a deployment quiet while it is snapshotted: its `lifeboat.pre-snapshot` commands
//! run, containers labelled `lifeboat.stop=true` stop, and they start again whatever happens.

use super::*;

impl Capture<'_> {
    /// Run `f` with the deployment quiet: pre-snapshot hooks first (in running containers),
    /// then containers labelled `lifeboat.stop=true` stopped (dependents first). They are started
    /// again (dependencies first) whatever `f` returns, also after an interrupt.
    pub fn quiesced<T>(&self, observer: &dyn Observer, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let order = self.order();
        for name in &order {
            let Some(c) = self.deployment.container(name) else {
                continue;
            };
            let labels = labels_of(&c.inspect);
            let Some(cmd) = labels.get(LABEL_HOOK) else {
                continue;
            };
            if jget(&c.inspect, "State.Running").and_then(Value::as_bool) != Some(true) {
                observer.warn(Warning::advice(format!(
                    "container {name}: not running, pre-snapshot command skipped"
                )));
                continue;
            }
            let timeout = labels
                .get(LABEL_HOOK_TIMEOUT)
                .and_then(|t| parse_duration(t))
                .unwrap_or(Duration::from_secs(300));
            let fail = labels
                .get(LABEL_HOOK_ON_ERROR)
                .is_none_or(|v| v != "continue");
            let outcome = self
                .engine
                .exec(
                    name,
                    vec!["/bin/sh".into(), "-c".into(), cmd.clone()],
                    timeout,
                )
                .and_then(|(code, out)| {
                    if code == 0 {
                        Ok(())
                    } else {
                        let tail: String = out
                            .lines()
                            .rev()
                            .take(5)
                            .collect::<Vec<_>>()
                            .into_iter()
                            .rev()
                            .collect::<Vec<_>>()
                            .join(" | ");
                        Err(DockerError::PreSnapshotCommand {
                            container: name.to_string(),
                            code: code.to_string(),
                            output: tail,
                        }
                        .into())
                    }
                });
            match outcome {
                Ok(()) => {}
                Err(e) if fail => return Err(e),
                Err(e) => observer.warn(Warning::advice(format!("{e} (on-error=continue)"))),
            }
        }
        let mut guard = Restarter {
            engine: self.engine,
            stopped: Vec::new(),
            observer,
        };
        for name in order.iter().rev() {
            let Some(c) = self.deployment.container(name) else {
                continue;
            };
            let running = jget(&c.inspect, "State.Running").and_then(Value::as_bool) == Some(true);
            if running && is_true(&labels_of(&c.inspect), LABEL_STOP) {
                self.engine.stop(name)?;
                guard.stopped.push(name.clone());
            }
        }
        f()
    }
}

/// Starts stopped containers again when dropped (dependencies first: reverse stop order).
struct Restarter<'a> {
    engine: &'a Engine,
    stopped: Vec<String>,
    observer: &'a dyn Observer,
}

impl Drop for Restarter<'_> {
    fn drop(&mut self) {
        for name in self.stopped.iter().rev() {
            if let Err(e) = self.engine.start(name) {
                self.observer.warn(Warning::advice(format!(
                    "could not start {name} again: {e}"
                )));
            }
        }
    }
}
