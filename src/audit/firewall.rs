//! Is a host firewall filtering inbound traffic? Read from what the kernel has loaded
//! (`iptables-save`, `nft list ruleset`, `ufw status`) when those outputs exist, and from the
//! persistent configuration (`/etc/iptables/rules.v4`, `/etc/nftables.conf`,
//! `/etc/ufw/ufw.conf`) when they do not. "Filtering" means something on the input path can drop
//! or reject: a DROP/REJECT policy on the input hook, or a DROP/REJECT rule reachable from it.
//! Docker's own chains (on FORWARD and in the nat table) do not count: they route published
//! ports, they do not protect the host.

use std::collections::{HashMap, HashSet};

/// What one source says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Inbound traffic is filtered; the line that shows it.
    Filtering(String),
    /// Nothing filters inbound traffic; why, in words.
    Open(String),
}

impl Verdict {
    pub fn is_filtering(&self) -> bool {
        matches!(self, Verdict::Filtering(_))
    }

    pub fn text(&self) -> &str {
        match self {
            Verdict::Filtering(s) | Verdict::Open(s) => s,
        }
    }
}

/// `iptables-save` output (or a `rules.v4` file in the same format): the filter table's INPUT
/// chain and the user chains it jumps to.
pub fn iptables(text: &str) -> Verdict {
    let mut table = "";
    let mut policy: Option<&str> = None;
    let mut rules: HashMap<&str, Vec<&str>> = HashMap::new();
    for line in text.lines().map(str::trim) {
        if let Some(t) = line.strip_prefix('*') {
            table = t;
            continue;
        }
        if table != "filter" {
            continue;
        }
        if let Some(decl) = line.strip_prefix(':') {
            let mut w = decl.split_whitespace();
            if let (Some("INPUT"), Some(p)) = (w.next(), w.next()) {
                if p == "DROP" || p == "REJECT" {
                    return Verdict::Filtering(line.to_string());
                }
                policy = Some(line);
            }
            continue;
        }
        if let Some(rule) = line.strip_prefix("-A ") {
            let chain = rule.split_whitespace().next().unwrap_or("");
            rules.entry(chain).or_default().push(line);
        }
    }
    let Some(policy) = policy else {
        return Verdict::Open("no filter table INPUT chain".into());
    };
    let mut seen = HashSet::new();
    let mut stack = vec!["INPUT"];
    while let Some(chain) = stack.pop() {
        if !seen.insert(chain) {
            continue;
        }
        for rule in rules.get(chain).into_iter().flatten() {
            let words: Vec<&str> = rule.split_whitespace().collect();
            for pair in words.windows(2) {
                if pair[0] == "-j" || pair[0] == "-g" {
                    match pair[1] {
                        "DROP" | "REJECT" => return Verdict::Filtering((*rule).to_string()),
                        target => stack.push(target),
                    }
                }
            }
        }
    }
    let n = rules.get("INPUT").map_or(0, Vec::len);
    Verdict::Open(format!(
        "`{policy}` and nothing reachable from INPUT drops or rejects ({n} INPUT rule(s))"
    ))
}

/// `nft list ruleset` output (or an `nftables.conf`): chains hooked on input, and the chains
/// they jump to in the same table.
pub fn nft(text: &str) -> Verdict {
    struct Chain<'a> {
        input_hook: bool,
        lines: Vec<&'a str>,
    }
    let mut chains: HashMap<(String, String), Chain> = HashMap::new();
    let mut table = String::new();
    let mut current: Option<(String, String)> = None;
    let mut depth = 0i32;
    let mut chain_depth = 0i32;
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        if current.is_none() {
            if words.first() == Some(&"table") && line.ends_with('{') {
                // `table inet filter {` or `table filter {`
                table = words[1..words.len() - 1].join(" ");
            } else if words.first() == Some(&"chain") && line.ends_with('{') && words.len() >= 3 {
                let key = (table.clone(), words[1].to_string());
                chains.entry(key.clone()).or_insert(Chain {
                    input_hook: false,
                    lines: Vec::new(),
                });
                current = Some(key);
                chain_depth = depth + 1;
            }
        } else if let Some(key) = &current
            && let Some(c) = chains.get_mut(key)
        {
            if line.starts_with("type ") && words.windows(2).any(|w| w == ["hook", "input"]) {
                c.input_hook = true;
            }
            if line != "}" {
                c.lines.push(line);
            }
        }
        depth += line.matches('{').count() as i32 - line.matches('}').count() as i32;
        if current.is_some() && depth < chain_depth {
            current = None;
        }
    }
    let roots: Vec<&(String, String)> = chains
        .iter()
        .filter(|(_, c)| c.input_hook)
        .map(|(k, _)| k)
        .collect();
    if roots.is_empty() {
        return Verdict::Open("no chain hooked on input".into());
    }
    let mut seen = HashSet::new();
    let mut stack: Vec<(String, String)> = roots.iter().map(|k| (*k).clone()).collect();
    while let Some(key) = stack.pop() {
        if !seen.insert(key.clone()) {
            continue;
        }
        let Some(c) = chains.get(&key) else { continue };
        for line in &c.lines {
            let words: Vec<&str> = line
                .split(|ch: char| ch.is_whitespace() || ch == ';')
                .filter(|w| !w.is_empty())
                .collect();
            let policy_drop = words.windows(2).any(|w| w == ["policy", "drop"]);
            if policy_drop
                || (!line.starts_with("type ")
                    && words.iter().any(|w| *w == "drop" || *w == "reject"))
            {
                return Verdict::Filtering(format!("chain {} {}: {line}", key.0, key.1));
            }
            for w in words.windows(2) {
                if w[0] == "jump" || w[0] == "goto" {
                    stack.push((key.0.clone(), w[1].to_string()));
                }
            }
        }
    }
    Verdict::Open(format!(
        "{} input chain(s), none drops or rejects",
        roots.len()
    ))
}

/// `ufw status` output.
pub fn ufw_status(text: &str) -> Verdict {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("Status:"))
        .unwrap_or("no Status line");
    if line.eq_ignore_ascii_case("Status: active") {
        Verdict::Filtering(line.to_string())
    } else {
        Verdict::Open(format!("`{line}`"))
    }
}

/// `/etc/ufw/ufw.conf`: `ENABLED=yes` starts ufw at boot.
pub fn ufw_conf(text: &str) -> Verdict {
    for line in text.lines().map(str::trim) {
        if let Some(v) = line.strip_prefix("ENABLED=") {
            let v = v.trim_matches(['"', '\'']);
            return if v.eq_ignore_ascii_case("yes") {
                Verdict::Filtering(line.to_string())
            } else {
                Verdict::Open(format!("`{line}`"))
            };
        }
    }
    Verdict::Open("no ENABLED= line".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What iptables-save prints on a Docker host with no host firewall: Docker's chains only.
    const DOCKER_ONLY: &str = "# Generated by iptables-save v1.8.9
*nat
:PREROUTING ACCEPT [0:0]
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A DOCKER -i docker0 -j RETURN
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
:DOCKER-USER - [0:0]
-A FORWARD -j DOCKER-USER
-A FORWARD -o docker0 -j DOCKER
-A DOCKER-USER -j RETURN
-A DOCKER ! -i docker0 -o docker0 -j DROP
COMMIT
";

    #[test]
    fn iptables_with_only_docker_chains_is_open() {
        let v = iptables(DOCKER_ONLY);
        assert!(!v.is_filtering(), "{v:?}");
        assert!(v.text().contains(":INPUT ACCEPT [0:0]"), "{v:?}");
        assert!(!iptables("").is_filtering());
    }

    #[test]
    fn iptables_policy_or_reachable_drop_filters() {
        let policy = DOCKER_ONLY.replace(":INPUT ACCEPT", ":INPUT DROP");
        assert_eq!(
            iptables(&policy),
            Verdict::Filtering(":INPUT DROP [0:0]".into())
        );
        let chained = DOCKER_ONLY.replace(
            ":DOCKER - [0:0]\n:DOCKER-USER",
            ":DOCKER - [0:0]\n:host-in - [0:0]\n-A INPUT -i lo -j ACCEPT\n-A INPUT -j host-in\n-A host-in -p tcp --dport 22 -j ACCEPT\n-A host-in -j REJECT --reject-with icmp-port-unreachable\n:DOCKER-USER",
        );
        let v = iptables(&chained);
        assert!(
            v.is_filtering() && v.text().contains("-A host-in -j REJECT"),
            "{v:?}"
        );
        // INPUT rules that only accept filter nothing.
        let accept_only = DOCKER_ONLY.replace(
            ":DOCKER - [0:0]\n:DOCKER-USER",
            ":DOCKER - [0:0]\n-A INPUT -i lo -j ACCEPT\n:DOCKER-USER",
        );
        assert!(!iptables(&accept_only).is_filtering());
    }

    #[test]
    fn nft_input_hook() {
        let open = "table ip filter {\n\tchain INPUT {\n\t\ttype filter hook input priority filter; policy accept;\n\t}\n\tchain FORWARD {\n\t\ttype filter hook forward priority filter; policy drop;\n\t\tcounter packets 0 bytes 0 jump DOCKER-USER\n\t}\n}\n";
        assert!(!nft(open).is_filtering(), "{:?}", nft(open));
        assert!(!nft("").is_filtering());
        let conf = "#!/usr/sbin/nft -f\nflush ruleset\ntable inet filter {\n  set allowed { type ipv4_addr; elements = { 10.0.0.1, 10.0.0.2 } }\n  chain input {\n    type filter hook input priority 0; policy accept;\n    iif lo accept\n    jump checks\n  }\n  chain checks {\n    tcp dport { 22, 443 } accept\n    ct state invalid drop\n  }\n}\n";
        let v = nft(conf);
        assert!(
            v.is_filtering() && v.text().contains("ct state invalid drop"),
            "{v:?}"
        );
        let policy = open.replace(
            "hook input priority filter; policy accept",
            "hook input priority filter; policy drop",
        );
        assert!(nft(&policy).is_filtering());
    }

    #[test]
    fn ufw() {
        assert!(ufw_status("Status: active\nLogging: on (low)\n").is_filtering());
        assert!(!ufw_status("Status: inactive\n").is_filtering());
        assert!(ufw_conf("# comment\nENABLED=yes\nLOGLEVEL=low\n").is_filtering());
        assert!(!ufw_conf("ENABLED=no\n").is_filtering());
        assert!(!ufw_conf("").is_filtering());
    }
}
