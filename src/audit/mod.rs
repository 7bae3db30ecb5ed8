//! `lifeboat audit`: the hardening points that matter on an ML Docker host, checked from a
//! snapshot or from the live host, each finding with the exact field or line that shows it. A
//! snapshot already holds everything needed (containers' inspect documents, the host profile's
//! files and firewall tool outputs, per-file SHA-256 of model weights), so auditing it tells what
//! the host looked like then; the live mode gathers the same [`Inputs`] from the engine and a
//! host root, and both run the one set of checks in [`run`]. The container checks are one
//! table ([`containers::CHECKS`]), the host checks another ([`host::CHECKS`]); [`all_checks`]
//! lists every ID a finding can carry, and a test holds it to the table in docs/HOST.md.
//!
//! Severities follow what an attacker gains: `critical` is root on the host from inside a
//! container, `high` a direct path to it or to the host's login, `medium` a weakness that
//! widens exposure or hides tampering, `low` defence in depth. Container environment values are
//! never read by any check, so they cannot reach a finding.

pub mod containers;
pub mod firewall;
pub mod gather;
pub mod host;
pub mod sshd;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::snapshot::deployment::{ContainerRecord, ImageRecord};
use crate::snapshot::host::CommandOutput;

/// How bad a finding is; ordered, so `max()` is the worst.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl std::str::FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Severity, String> {
        Severity::ALL
            .into_iter()
            .find(|v| v.label().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("{s:?}: use info, low, medium, high or critical"))
    }
}

/// One problem found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable check ID (`container-root`), for scripts and suppression lists.
    pub id: &'static str,
    pub severity: Severity,
    /// What it is about: a container name, a host file path, a model path, `host`.
    pub subject: String,
    pub message: String,
    /// The field or line that shows it, quoted exactly.
    pub evidence: String,
}

/// The result of [`run`].
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// What was audited (`snapshot 1a2b3c4d of web1 at ...`, `live host`).
    pub source: String,
    /// IDs of the checks that ran.
    pub checked: Vec<String>,
    /// Checks that did not run, each `ID: why`.
    pub skipped: Vec<String>,
    /// Worst first.
    pub findings: Vec<Finding>,
}

impl Report {
    /// The worst severity among the findings.
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }

    /// Findings per severity, every severity present.
    pub fn counts(&self) -> BTreeMap<Severity, usize> {
        let mut c: BTreeMap<Severity, usize> = Severity::ALL.iter().map(|s| (*s, 0)).collect();
        for f in &self.findings {
            *c.entry(f.severity).or_default() += 1;
        }
        c
    }
}

/// Containers and the images they run.
#[derive(Clone, Debug, Default)]
pub struct DockerInputs {
    pub containers: Vec<ContainerRecord>,
    pub images: Vec<ImageRecord>,
}

/// A host file as read: its text, or why it could not be read. Absent files are not listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostFile {
    Text(String),
    Unreadable(String),
}

/// Host configuration files (by host path, `/etc/...`) and firewall tool outputs.
#[derive(Clone, Debug, Default)]
pub struct HostInputs {
    pub files: BTreeMap<String, HostFile>,
    /// Outputs of `iptables-save`, `nft-ruleset`, `ufw-status` (names as in
    /// [`crate::host::COMMANDS`]); empty when the tools were not run.
    pub commands: Vec<CommandOutput>,
    /// Why the tools were not run, when they were not.
    pub commands_note: Option<String>,
}

/// A model file whose bytes differ from a reference snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ModelChange {
    pub path: String,
    pub sha256_was: String,
    /// `None` when the file was not hashed (its size alone differs, or it is no longer a file).
    pub sha256_now: Option<String>,
    pub size_was: u64,
    pub size_now: Option<u64>,
}

/// Model files compared with a reference.
#[derive(Clone, Debug, Default)]
pub struct ModelInputs {
    /// The reference (`snapshot 1a2b3c4d at ...`).
    pub against: String,
    /// Where the current bytes come from (`snapshot 5e6f7a8b`, `the live file`).
    pub now: String,
    /// How many model files were compared.
    pub compared: usize,
    pub changed: Vec<ModelChange>,
}

/// Everything the checks look at. A `None` group is skipped; `skipped` says why.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    pub source: String,
    pub docker: Option<DockerInputs>,
    pub host: Option<HostInputs>,
    pub models: Option<ModelInputs>,
    /// `ID: why` for checks the gathering could not feed.
    pub skipped: Vec<String>,
}

/// What every check declares: the ID its findings carry, the worst severity it reports (some
/// checks grade lower, see docs/HOST.md) and a one-line title.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Check {
    /// Stable (`container-root`), for scripts and suppression lists.
    pub id: &'static str,
    pub severity: Severity,
    pub title: &'static str,
}

impl Check {
    /// A finding of this check at its severity.
    fn finding(
        &self,
        subject: &str,
        message: impl Into<String>,
        evidence: impl Into<String>,
    ) -> Finding {
        self.graded(self.severity, subject, message, evidence)
    }

    /// A finding of this check at a severity it grades (lower than its worst).
    fn graded(
        &self,
        severity: Severity,
        subject: &str,
        message: impl Into<String>,
        evidence: impl Into<String>,
    ) -> Finding {
        Finding {
            id: self.id,
            severity,
            subject: subject.to_string(),
            message: message.into(),
            evidence: evidence.into(),
        }
    }
}

/// medium: model weights whose bytes changed serve different answers with no error anywhere;
/// it may be a planned update, so it is for review, not an alarm.
pub const MODEL_CHANGED: Check = Check {
    id: "model-changed",
    severity: Severity::Medium,
    title: "a model file's bytes changed since the reference",
};

/// Every check, containers first, in the order a report names them as checked.
pub fn all_checks() -> impl Iterator<Item = Check> {
    containers::CHECKS
        .iter()
        .map(|c| c.check)
        .chain(host::CHECKS.iter().copied())
        .chain([MODEL_CHANGED])
}

pub use crate::host::profile::{DAEMON_JSON, SSHD_CONFIG};

/// Run every check the inputs allow.
pub fn run(inputs: &Inputs) -> Report {
    let mut r = Report {
        source: inputs.source.clone(),
        checked: Vec::new(),
        skipped: inputs.skipped.clone(),
        findings: Vec::new(),
    };
    let daemon = inputs.host.as_ref().map(|h| host::daemon_json(&h.files));
    if let Some(d) = &inputs.docker {
        // The daemon turns no-new-privileges on for every container (known only with the
        // host's files).
        let daemon_nnp = daemon
            .as_ref()
            .is_some_and(|d| d.no_new_privileges.is_none());
        for c in &d.containers {
            containers::check_container(c, &d.images, daemon_nnp, &mut r.findings);
        }
        r.checked
            .extend(containers::CHECKS.iter().map(|c| c.check.id.to_string()));
    }
    if let (Some(h), Some(d)) = (&inputs.host, &daemon) {
        host::check_host(h, d, &mut r);
    }
    if let Some(m) = &inputs.models {
        for c in &m.changed {
            r.findings.push(model_finding(c, m));
        }
        r.checked.push(MODEL_CHANGED.id.into());
    }
    r.findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(a.id.cmp(b.id))
            .then(a.subject.cmp(&b.subject))
    });
    r
}

/// A JSON value as it appears in the inspect document, for evidence.
fn quoted(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// The [`MODEL_CHANGED`] finding of one changed file.
fn model_finding(c: &ModelChange, m: &ModelInputs) -> Finding {
    let now = match (&c.sha256_now, c.size_now) {
        (Some(h), _) => format!("sha256 {h}"),
        (None, Some(s)) => format!("size {s}"),
        (None, None) => "not a regular file".into(),
    };
    let size = match c.size_now {
        Some(s) if s != c.size_was => format!("; size {} -> {s}", c.size_was),
        _ => String::new(),
    };
    MODEL_CHANGED.finding(
        &c.path,
        format!("model file changed since {}", m.against),
        format!(
            "sha256 {} in {} -> {now} in {}{size}",
            c.sha256_was, m.against, m.now
        ),
    )
}

/// Containers and inspect documents the checks' tests share.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;
    use serde_json::json;

    pub fn container(name: &str, inspect: Value) -> ContainerRecord {
        ContainerRecord {
            name: name.into(),
            id: format!("{name}-id"),
            image_id: "sha256:41ca82900d20aaaabbbbccccddddeeeeffff0000111122223333444455556666"
                .into(),
            inspect,
        }
    }

    /// A hardened container: nothing to report.
    pub fn hardened() -> Value {
        json!({
            "Image": "sha256:41ca82900d20aaaabbbbccccddddeeeeffff0000111122223333444455556666",
            "Config": {"User": "1000:1000", "Image": "registry.example/llm@sha256:0123", "Env": ["HF_TOKEN=hf_secret_value"]},
            "HostConfig": {"Privileged": false, "CapAdd": null, "SecurityOpt": ["no-new-privileges"],
                           "PortBindings": {}, "NetworkMode": "bridge", "PidMode": "", "Binds": ["/srv/models:/models:ro"]},
            "Mounts": [{"Type": "bind", "Source": "/srv/models", "Destination": "/models"}]
        })
    }

    /// Findings of one container (no host inputs: the daemon's defaults are unknown).
    pub fn audit_one(inspect: Value) -> Vec<Finding> {
        let inputs = Inputs {
            docker: Some(DockerInputs {
                containers: vec![container("c", inspect)],
                images: Vec::new(),
            }),
            ..Inputs::default()
        };
        run(&inputs).findings
    }

    pub fn with(mut v: Value, path: &str, x: Value) -> Value {
        let mut cur = &mut v;
        for k in path.split('.') {
            cur = &mut cur[k];
        }
        *cur = x;
        v
    }

    pub fn ids(f: &[Finding]) -> Vec<&'static str> {
        f.iter().map(|f| f.id).collect()
    }

    pub fn one<'f>(f: &'f [Finding], id: &str) -> &'f Finding {
        let found: Vec<_> = f.iter().filter(|f| f.id == id).collect();
        assert_eq!(found.len(), 1, "{id}: {f:#?}");
        found[0]
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;
    use serde_json::json;

    #[test]
    fn severity_orders_parses_and_serializes() {
        assert!(Severity::Info < Severity::Low && Severity::High < Severity::Critical);
        assert_eq!("HIGH".parse::<Severity>(), Ok(Severity::High));
        assert!("severe".parse::<Severity>().is_err());
        assert_eq!(serde_json::to_value(Severity::Medium).unwrap(), "medium");
    }

    #[test]
    fn hardened_container_has_no_findings() {
        let f = audit_one(hardened());
        assert!(f.is_empty(), "{f:#?}");
    }

    /// The checks table and the table of IDs in docs/HOST.md name the same checks, each once,
    /// and the documented severity starts with the check's worst.
    #[test]
    fn every_check_has_a_unique_id_and_is_documented() {
        let doc = include_str!("../../docs/HOST.md");
        let rows: Vec<(&str, &str)> = doc
            .lines()
            .skip_while(|l| l.trim() != "| ID | severity | finding |")
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .map(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                (cells[1].trim_matches('`'), cells[2])
            })
            .collect();
        assert!(!rows.is_empty(), "no check table in docs/HOST.md");
        let checks: Vec<Check> = all_checks().collect();
        let mut ids: Vec<&str> = checks.iter().map(|c| c.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), checks.len(), "duplicate check IDs: {checks:#?}");
        for c in &checks {
            let row = rows.iter().find(|(id, _)| *id == c.id);
            let (_, severity) = row.unwrap_or_else(|| panic!("{} not in docs/HOST.md", c.id));
            assert!(
                severity.starts_with(c.severity.label()),
                "{}: docs/HOST.md says {severity:?}, the check {:?}",
                c.id,
                c.severity
            );
        }
        for (id, _) in &rows {
            assert!(ids.contains(id), "docs/HOST.md lists {id}, no check has it");
        }
    }

    #[test]
    fn model_changes_and_report_order() {
        let inputs = Inputs {
            source: "test".into(),
            models: Some(ModelInputs {
                against: "snapshot aaaaaaaa".into(),
                now: "snapshot bbbbbbbb".into(),
                compared: 2,
                changed: vec![ModelChange {
                    path: "/srv/models/m.safetensors".into(),
                    sha256_was: "11".repeat(32),
                    sha256_now: Some("22".repeat(32)),
                    size_was: 10,
                    size_now: Some(12),
                }],
            }),
            docker: Some(DockerInputs {
                containers: vec![container(
                    "p",
                    with(hardened(), "HostConfig.Privileged", json!(true)),
                )],
                images: Vec::new(),
            }),
            ..Inputs::default()
        };
        let r = run(&inputs);
        assert_eq!(ids(&r.findings), ["container-privileged", "model-changed"]);
        let m = &r.findings[1];
        assert_eq!(
            (m.severity, m.subject.as_str()),
            (Severity::Medium, "/srv/models/m.safetensors")
        );
        assert!(
            m.evidence.contains(&format!(
                "sha256 {} in snapshot aaaaaaaa -> sha256 {} in snapshot bbbbbbbb; size 10 -> 12",
                "11".repeat(32),
                "22".repeat(32)
            )),
            "{m:?}"
        );
        assert_eq!(r.worst(), Some(Severity::Critical));
        assert_eq!(r.counts()[&Severity::Critical], 1);
        assert!(r.checked.contains(&"model-changed".to_string()));
        assert!(!r.checked.iter().any(|c| c.starts_with("sshd")));
    }
}
