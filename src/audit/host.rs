//! The host checks: sshd's login settings (read as sshd reads them, see [`super::sshd`]), the
//! host firewall (see [`super::firewall`]) and the Docker daemon's `daemon.json`. Each check's
//! ID is declared once here and the report's list of checked IDs comes from [`CHECKS`].

use std::collections::BTreeMap;

use serde_json::Value;

use crate::host::profile;

use super::{
    Check, DAEMON_JSON, Finding, HostFile, HostInputs, Report, SSHD_CONFIG, Severity, firewall,
    quoted, sshd,
};

pub const SSHD_ROOT_LOGIN: Check = Check {
    id: "sshd-root-login",
    severity: Severity::High,
    title: "sshd lets root log in with a password",
};
pub const SSHD_PASSWORD_AUTH: Check = Check {
    id: "sshd-password-auth",
    severity: Severity::Medium,
    title: "sshd accepts password logins",
};
pub const HOST_NO_FIREWALL: Check = Check {
    id: "host-no-firewall",
    severity: Severity::Medium,
    title: "no host firewall filters inbound traffic",
};
pub const DAEMON_USERNS_REMAP: Check = Check {
    id: "daemon-userns-remap",
    severity: Severity::Medium,
    title: "no user-namespace remapping in the Docker daemon",
};
pub const DAEMON_NO_NEW_PRIVILEGES: Check = Check {
    id: "daemon-no-new-privileges",
    severity: Severity::Low,
    title: "no daemon-wide no-new-privileges",
};

/// Every host check, in the order a report names them as checked.
pub const CHECKS: &[Check] = &[
    SSHD_ROOT_LOGIN,
    SSHD_PASSWORD_AUTH,
    HOST_NO_FIREWALL,
    DAEMON_USERNS_REMAP,
    DAEMON_NO_NEW_PRIVILEGES,
];

/// Every host check: sshd, the firewall, then the daemon's findings computed by [`daemon_json`]
/// (the container checks need them too).
pub(super) fn check_host(h: &HostInputs, daemon: &Daemon, r: &mut Report) {
    check_sshd(h, r);
    check_firewall(h, &mut r.findings);
    r.checked.push(HOST_NO_FIREWALL.id.into());
    r.findings.extend(daemon.userns_remap.iter().cloned());
    r.findings.extend(daemon.no_new_privileges.iter().cloned());
    r.checked
        .extend([DAEMON_USERNS_REMAP.id, DAEMON_NO_NEW_PRIVILEGES.id].map(String::from));
}

/// high (medium inside a `Match` block): root logs in with a password. medium (low inside a
/// `Match` block): password logins at all. Skipped, and said so, without `sshd_config`.
fn check_sshd(h: &HostInputs, r: &mut Report) {
    let texts: BTreeMap<String, String> = h
        .files
        .iter()
        .filter_map(|(p, f)| match f {
            HostFile::Text(t) => Some((p.clone(), t.clone())),
            HostFile::Unreadable(_) => None,
        })
        .collect();
    match h.files.get(SSHD_CONFIG) {
        None => {
            for id in [SSHD_ROOT_LOGIN.id, SSHD_PASSWORD_AUTH.id] {
                r.skipped.push(format!("{id}: {SSHD_CONFIG} not present"));
            }
            return;
        }
        Some(HostFile::Unreadable(why)) => {
            for id in [SSHD_ROOT_LOGIN.id, SSHD_PASSWORD_AUTH.id] {
                r.skipped.push(format!("{id}: {SSHD_CONFIG}: {why}"));
            }
            return;
        }
        Some(HostFile::Text(_)) => {}
    }
    let cfg = sshd::parse(&texts, SSHD_CONFIG);
    let yes = |s: &sshd::Setting| s.value.eq_ignore_ascii_case("yes");
    // high: a root password login is one guessed password from owning the host.
    // Inside a Match block it applies to some connections only: medium.
    if let Some(s) = cfg.effective("PermitRootLogin").filter(|s| yes(s)) {
        r.findings.push(SSHD_ROOT_LOGIN.finding(
            &s.file,
            "sshd lets root log in with a password",
            s.evidence(),
        ));
    }
    for s in cfg.conditional("PermitRootLogin").filter(|s| yes(s)) {
        r.findings.push(SSHD_ROOT_LOGIN.graded(
            Severity::Medium,
            &s.file,
            "sshd lets root log in with a password for connections this Match block selects",
            s.evidence(),
        ));
    }
    // medium: passwords can be guessed or reused; keys cannot. OpenSSH's default is yes, so
    // an unset keyword is a finding too. Inside a Match block: low.
    match cfg.effective("PasswordAuthentication") {
        Some(s) if yes(s) => r.findings.push(SSHD_PASSWORD_AUTH.finding(
            &s.file,
            "sshd accepts password logins",
            s.evidence(),
        )),
        Some(_) => {}
        None => r.findings.push(SSHD_PASSWORD_AUTH.finding(
            SSHD_CONFIG,
            "sshd accepts password logins (not set: OpenSSH's default is yes)",
            format!("PasswordAuthentication not set in {}", cfg.files.join(", ")),
        )),
    }
    for s in cfg.conditional("PasswordAuthentication").filter(|s| yes(s)) {
        r.findings.push(SSHD_PASSWORD_AUTH.graded(
            Severity::Low,
            &s.file,
            "sshd accepts password logins for connections this Match block selects",
            s.evidence(),
        ));
    }
    for n in cfg.notes {
        r.skipped.push(format!("sshd: {n}"));
    }
    r.checked
        .extend([SSHD_ROOT_LOGIN.id, SSHD_PASSWORD_AUTH.id].map(String::from));
}

/// A reader of one firewall format.
type Parser = fn(&str) -> firewall::Verdict;

/// Firewall state files, each with its parser.
const FIREWALL_FILES: &[(&str, Parser)] = &[
    (profile::IPTABLES_RULES_V4, firewall::iptables),
    (profile::NFTABLES_CONF, firewall::nft),
    (profile::UFW_CONF, firewall::ufw_conf),
];

/// medium: nothing on the host drops inbound traffic, so every listening service (sshd, a
/// model server's admin port, an exporter) is reachable from anywhere the host is. Medium, not
/// high: cloud security groups often stand in, and this check cannot see them.
fn check_firewall(h: &HostInputs, out: &mut Vec<Finding>) {
    let mut live = Vec::new();
    let mut live_seen = false;
    for c in &h.commands {
        let parse: Parser = match c.name.as_str() {
            "iptables-save" => firewall::iptables,
            "nft-ruleset" => firewall::nft,
            "ufw-status" => firewall::ufw_status,
            _ => continue,
        };
        let label = c.argv.join(" ");
        if c.status.is_ok() {
            let v = parse(&c.stdout);
            if v.is_filtering() {
                return;
            }
            live_seen = true;
            live.push(format!("`{label}`: {}", v.text()));
        } else {
            live.push(format!("`{label}`: {}", c.status));
        }
    }
    if let Some(n) = &h.commands_note {
        live.push(n.clone());
    }
    let mut files = Vec::new();
    let mut configured = None;
    for (path, parse) in FIREWALL_FILES {
        match h.files.get(*path) {
            None => files.push(format!("{path}: not present")),
            Some(HostFile::Unreadable(why)) => files.push(format!("{path}: {why}")),
            Some(HostFile::Text(t)) => {
                let v = parse(t);
                if v.is_filtering() && configured.is_none() {
                    configured = Some(format!("{path}: {}", v.text()));
                }
                files.push(format!("{path}: {}", v.text()));
            }
        }
    }
    if live_seen {
        // The kernel's rules are the truth; a configuration that filters but is not loaded
        // does not protect anything.
        let mut ev = live;
        if let Some(c) = configured {
            ev.push(format!("configured but not loaded: {c}"));
        }
        out.push(HOST_NO_FIREWALL.finding(
            "host",
            "no host firewall filters inbound traffic",
            ev.join("; "),
        ));
    } else if configured.is_none() {
        let mut ev = live;
        ev.extend(files);
        out.push(HOST_NO_FIREWALL.finding(
            "host",
            "no host firewall is configured (no loaded rules could be read)",
            ev.join("; "),
        ));
    }
}

/// The daemon.json findings (either may be `None`).
pub(super) struct Daemon {
    userns_remap: Option<Finding>,
    pub(super) no_new_privileges: Option<Finding>,
}

/// medium for `userns-remap`: without it uid 0 in a container is uid 0 on the host, so every
/// escape is a root escape. low for `no-new-privileges`: the daemon-wide default of the
/// per-container option (defence in depth against setuid binaries).
pub(super) fn daemon_json(files: &BTreeMap<String, HostFile>) -> Daemon {
    let both = |ev: String| {
        Daemon {
        userns_remap: Some(DAEMON_USERNS_REMAP.finding(
            DAEMON_JSON,
            "containers' root is the host's root: no user-namespace remapping",
            ev.clone(),
        )),
        no_new_privileges: Some(DAEMON_NO_NEW_PRIVILEGES.finding(
            DAEMON_JSON,
            "containers may gain privileges through setuid binaries: no daemon-wide no-new-privileges",
            ev,
        )),
    }
    };
    let text = match files.get(DAEMON_JSON) {
        None => return both(format!("{DAEMON_JSON}: not present")),
        Some(HostFile::Unreadable(why)) => return both(format!("{DAEMON_JSON}: {why}")),
        Some(HostFile::Text(t)) => t,
    };
    let v: Value = match serde_json::from_str(text) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => return both(format!("{DAEMON_JSON}: not a JSON object")),
        Err(e) => return both(format!("{DAEMON_JSON}: not valid JSON ({e})")),
    };
    let mut d = both(String::new());
    match v.get("userns-remap") {
        Some(Value::String(s)) if !s.trim().is_empty() => d.userns_remap = None,
        Some(other) => set_ev(
            &mut d.userns_remap,
            format!("\"userns-remap\": {}", quoted(other)),
        ),
        None => set_ev(
            &mut d.userns_remap,
            format!("{DAEMON_JSON}: no \"userns-remap\" key"),
        ),
    }
    match v.get("no-new-privileges") {
        Some(Value::Bool(true)) => d.no_new_privileges = None,
        Some(other) => set_ev(
            &mut d.no_new_privileges,
            format!("\"no-new-privileges\": {}", quoted(other)),
        ),
        None => set_ev(
            &mut d.no_new_privileges,
            format!("{DAEMON_JSON}: no \"no-new-privileges\" key"),
        ),
    }
    d
}

fn set_ev(f: &mut Option<Finding>, ev: String) {
    if let Some(f) = f {
        f.evidence = ev;
    }
}

#[cfg(test)]
mod tests {
    use crate::audit::fixtures::{ids, one};
    use crate::audit::{
        DAEMON_JSON, HostFile, HostInputs, Inputs, Report, SSHD_CONFIG, Severity, run,
    };
    use crate::snapshot::host::CommandOutput;

    fn host(files: &[(&str, &str)], commands: &[(&str, &str, &str)]) -> Inputs {
        Inputs {
            host: Some(HostInputs {
                files: files
                    .iter()
                    .map(|(p, t)| ((*p).to_string(), HostFile::Text((*t).to_string())))
                    .collect(),
                commands: commands
                    .iter()
                    .map(|(name, status, out)| CommandOutput {
                        name: (*name).into(),
                        argv: vec![(*name).into()],
                        status: (*status).into(),
                        exit_code: None,
                        stdout: (*out).into(),
                        stderr: String::new(),
                    })
                    .collect(),
                commands_note: None,
            }),
            ..Inputs::default()
        }
    }

    const GOOD_DAEMON: (&str, &str) = (
        DAEMON_JSON,
        r#"{"userns-remap": "default", "no-new-privileges": true}"#,
    );
    const FILTERING: (&str, &str, &str) = ("ufw-status", "ok", "Status: active\n");

    #[test]
    fn sshd_findings_follow_sshd_semantics() {
        let r = run(&host(
            &[
                (
                    SSHD_CONFIG,
                    "Include /etc/ssh/sshd_config.d/*.conf\nPermitRootLogin yes\nPasswordAuthentication no\n",
                ),
                (
                    "/etc/ssh/sshd_config.d/50-cloud-init.conf",
                    "PasswordAuthentication yes\n",
                ),
                GOOD_DAEMON,
            ],
            &[FILTERING],
        ));
        assert_eq!(
            ids(&r.findings),
            ["sshd-root-login", "sshd-password-auth"],
            "{r:#?}"
        );
        assert_eq!(r.findings[0].severity, Severity::High);
        assert_eq!(
            r.findings[0].evidence,
            "/etc/ssh/sshd_config:2: PermitRootLogin yes"
        );
        assert_eq!(
            r.findings[1].subject,
            "/etc/ssh/sshd_config.d/50-cloud-init.conf"
        );
        assert!(r.checked.contains(&"sshd-root-login".to_string()));

        // Unset PasswordAuthentication is OpenSSH's default, yes; prohibit-password is fine.
        let r = run(&host(
            &[
                (SSHD_CONFIG, "PermitRootLogin prohibit-password\n"),
                GOOD_DAEMON,
            ],
            &[FILTERING],
        ));
        let p = one(&r.findings, "sshd-password-auth");
        assert!(
            p.message.contains("default is yes") && p.evidence.contains("not set"),
            "{p:?}"
        );
        assert!(!ids(&r.findings).contains(&"sshd-root-login"));

        // A Match block scopes the value: reported lower.
        let r = run(&host(
            &[
                (
                    SSHD_CONFIG,
                    "PasswordAuthentication no\nMatch User ops\n  PermitRootLogin yes\n",
                ),
                GOOD_DAEMON,
            ],
            &[FILTERING],
        ));
        let m = one(&r.findings, "sshd-root-login");
        assert_eq!(m.severity, Severity::Medium);
        assert!(m.evidence.ends_with("(in \"Match User ops\")"));

        // No sshd_config: the sshd checks are skipped, and say so.
        let r = run(&host(&[GOOD_DAEMON], &[FILTERING]));
        assert!(r.findings.is_empty(), "{r:#?}");
        assert!(r.skipped.iter().any(|s| s.starts_with("sshd-root-login: ")));
        assert!(!r.checked.contains(&"sshd-root-login".to_string()));
    }

    #[test]
    fn daemon_json() {
        let only = |r: &Report| -> Vec<(&'static str, String)> {
            r.findings
                .iter()
                .filter(|f| f.id.starts_with("daemon-"))
                .map(|f| (f.id, f.evidence.clone()))
                .collect()
        };
        let missing = run(&host(&[], &[FILTERING]));
        assert_eq!(
            only(&missing),
            [
                ("daemon-userns-remap", format!("{DAEMON_JSON}: not present")),
                (
                    "daemon-no-new-privileges",
                    format!("{DAEMON_JSON}: not present")
                ),
            ]
        );
        let partial = run(&host(
            &[(
                DAEMON_JSON,
                r#"{"no-new-privileges": false, "log-driver": "json-file"}"#,
            )],
            &[FILTERING],
        ));
        assert_eq!(
            only(&partial),
            [
                (
                    "daemon-userns-remap",
                    format!("{DAEMON_JSON}: no \"userns-remap\" key")
                ),
                (
                    "daemon-no-new-privileges",
                    "\"no-new-privileges\": false".to_string()
                ),
            ]
        );
        let invalid = run(&host(&[(DAEMON_JSON, "{\"userns-remap\": ")], &[FILTERING]));
        assert!(only(&invalid)[0].1.contains("not valid JSON"));
        assert!(only(&run(&host(&[GOOD_DAEMON], &[FILTERING]))).is_empty());
        let empty = run(&host(
            &[(
                DAEMON_JSON,
                r#"{"userns-remap": "", "no-new-privileges": true}"#,
            )],
            &[FILTERING],
        ));
        assert_eq!(
            only(&empty),
            [("daemon-userns-remap", "\"userns-remap\": \"\"".to_string())]
        );
    }

    #[test]
    fn firewall_from_tools_then_files() {
        let fw = |r: &Report| {
            r.findings
                .iter()
                .find(|f| f.id == "host-no-firewall")
                .cloned()
        };
        // Tools ran, nothing filters.
        let open = run(&host(
            &[GOOD_DAEMON],
            &[
                (
                    "iptables-save",
                    "ok",
                    "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\nCOMMIT\n",
                ),
                ("nft-ruleset", "missing", ""),
                ("ufw-status", "ok", "Status: inactive\n"),
            ],
        ));
        let f = fw(&open).expect("finding");
        assert_eq!(f.severity, Severity::Medium);
        assert!(
            f.evidence.contains(":INPUT ACCEPT [0:0]")
                && f.evidence.contains("Status: inactive")
                && f.evidence.contains("`nft-ruleset`: missing"),
            "{f:?}"
        );
        // One tool shows filtering: no finding.
        let on = run(&host(
            &[GOOD_DAEMON],
            &[(
                "iptables-save",
                "ok",
                "*filter\n:INPUT DROP [0:0]\nCOMMIT\n",
            )],
        ));
        assert!(fw(&on).is_none());
        // Configured but not loaded: still a finding, and it says so.
        let r = run(&host(
            &[GOOD_DAEMON, ("/etc/ufw/ufw.conf", "ENABLED=yes\n")],
            &[("ufw-status", "ok", "Status: inactive\n")],
        ));
        assert!(
            fw(&r)
                .unwrap()
                .evidence
                .contains("configured but not loaded: /etc/ufw/ufw.conf")
        );
        // No tool output: the files decide.
        let files_on = run(&host(
            &[
                GOOD_DAEMON,
                (
                    "/etc/nftables.conf",
                    "table inet f {\n chain input {\n  type filter hook input priority 0; policy drop;\n }\n}\n",
                ),
            ],
            &[("nft-ruleset", "failed", "")],
        ));
        assert!(fw(&files_on).is_none(), "{files_on:#?}");
        let nothing = run(&host(&[GOOD_DAEMON], &[]));
        let f = fw(&nothing).unwrap();
        assert!(
            f.evidence.contains("/etc/iptables/rules.v4: not present"),
            "{f:?}"
        );
    }
}
