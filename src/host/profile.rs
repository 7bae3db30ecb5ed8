//! The host security profile as data, in one place: which host paths a snapshot captures, which
//! of them the code treats specially (sshd's configuration, Docker's `daemon.json`, the firewall
//! rule sets), how each is checked and loaded, and which tools record live state. Capture
//! ([`super::resolve`]), apply and undo ([`super::apply`]) and the audit read these tables;
//! `docs/HOST.md` describes them.

/// sshd's main configuration: checked with `sshd -t` before an apply installs it.
pub const SSHD_CONFIG: &str = "/etc/ssh/sshd_config";
/// sshd's drop-in directory (Ubuntu's `Include /etc/ssh/sshd_config.d/*.conf`).
pub const SSHD_CONFIG_DIR: &str = "/etc/ssh/sshd_config.d";
/// The Docker daemon's configuration (`userns-remap`, `no-new-privileges`, ...).
pub const DAEMON_JSON: &str = "/etc/docker/daemon.json";
/// iptables' saved IPv4 rule set (`iptables-persistent`).
pub const IPTABLES_RULES_V4: &str = "/etc/iptables/rules.v4";
/// iptables' saved IPv6 rule set.
pub const IPTABLES_RULES_V6: &str = "/etc/iptables/rules.v6";
/// nftables' rule set, loaded at boot.
pub const NFTABLES_CONF: &str = "/etc/nftables.conf";
/// ufw's switch (`ENABLED=yes`).
pub const UFW_CONF: &str = "/etc/ufw/ufw.conf";

/// Profile items, as absolute paths under the host root. A `*` matches one path component.
pub const PROFILE: &[&str] = &[
    SSHD_CONFIG,
    SSHD_CONFIG_DIR,
    "/etc/ssh/ssh_host_*",
    "/root/.ssh/authorized_keys",
    "/home/*/.ssh/authorized_keys",
    "/etc/ufw",
    "/etc/iptables",
    NFTABLES_CONF,
    DAEMON_JSON,
    "/etc/apparmor.d",
    "/etc/sudoers",
    "/etc/sudoers.d",
    "/etc/fail2ban",
    "/etc/audit",
    "/etc/sysctl.conf",
    "/etc/sysctl.d",
    "/etc/security/limits.conf",
    "/etc/apt/sources.list",
    "/etc/apt/sources.list.d",
    "/etc/apt/apt.conf.d",
    "/etc/systemd/system",
    "/etc/crontab",
    "/etc/cron.d",
    "/etc/cron.daily",
    "/etc/cron.hourly",
    "/etc/cron.weekly",
    "/etc/cron.monthly",
    "/etc/logrotate.d",
    "/etc/filebeat",
    "/etc/elastic-agent",
    "/opt/Elastic/Agent/elastic-agent.yml",
    "/etc/fluent-bit",
];

/// A firewall rule set file and the commands (the file is appended as the last argument) that
/// check it (run on the staged copy before anything is written) and load it (run on the
/// installed file after).
#[derive(Debug, Clone, Copy)]
pub struct RuleSetFile {
    pub path: &'static str,
    pub check: &'static [&'static str],
    pub load: &'static [&'static str],
}

/// The rule set files `restore --host --apply --apply-firewall` checks and loads.
pub const RULE_SET_FILES: &[RuleSetFile] = &[
    RuleSetFile {
        path: IPTABLES_RULES_V4,
        check: &["iptables-restore", "--test"],
        load: &["iptables-restore"],
    },
    RuleSetFile {
        path: IPTABLES_RULES_V6,
        check: &["ip6tables-restore", "--test"],
        load: &["ip6tables-restore"],
    },
    RuleSetFile {
        path: NFTABLES_CONF,
        check: &["nft", "-c", "-f"],
        load: &["nft", "-f"],
    },
];

/// Live state captured by running a tool: (name, program, arguments).
pub const COMMANDS: &[(&str, &str, &[&str])] = &[
    ("iptables-save", "iptables-save", &[]),
    ("ip6tables-save", "ip6tables-save", &[]),
    ("nft-ruleset", "nft", &["list", "ruleset"]),
    ("ufw-status", "ufw", &["status", "verbose"]),
    ("dpkg-selections", "dpkg", &["--get-selections"]),
    (
        "systemd-enabled",
        "systemctl",
        &["list-unit-files", "--state=enabled", "--no-pager"],
    ),
    ("docker-info", "docker", &["info"]),
    ("docker-version", "docker", &["version"]),
];

/// The [`COMMANDS`] that show whether a firewall is loaded.
pub const FIREWALL_COMMANDS: &[&str] = &["iptables-save", "nft-ruleset", "ufw-status"];

/// The [`COMMANDS`] whose output is a loaded rule set that can be put back, each with the
/// command that loads it from stdin: an apply with the firewall option records them in its
/// undo snapshot, and undo loads them again (nft's after `flush ruleset`, since `nft -f` adds).
pub const RESTORABLE_RULES: &[(&str, &[&str])] = &[
    ("iptables-save", &["iptables-restore"]),
    ("ip6tables-save", &["ip6tables-restore"]),
    ("nft-ruleset", &["nft", "-f", "-"]),
];

/// The [`COMMANDS`] entry named `name`.
pub fn command(name: &str) -> Option<(&'static str, &'static str, &'static [&'static str])> {
    COMMANDS.iter().find(|(n, _, _)| *n == name).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every path the code treats specially is captured by some profile item, so a check or a
    /// load never looks for a file no snapshot holds.
    #[test]
    fn special_paths_lie_inside_the_profile() {
        let special = [SSHD_CONFIG, SSHD_CONFIG_DIR, DAEMON_JSON, UFW_CONF]
            .into_iter()
            .chain(RULE_SET_FILES.iter().map(|r| r.path));
        for p in special {
            assert!(
                PROFILE
                    .iter()
                    .any(|item| crate::util::is_within(p.as_bytes(), item.as_bytes())),
                "{p} is outside the profile"
            );
        }
    }

    #[test]
    fn named_commands_exist() {
        for name in FIREWALL_COMMANDS
            .iter()
            .chain(RESTORABLE_RULES.iter().map(|(n, _)| n))
        {
            assert!(command(name).is_some(), "{name}");
        }
    }
}
