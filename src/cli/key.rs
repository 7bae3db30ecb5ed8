//! `lifeboat key list|add|remove|rotate-host` and `lifeboat migrate`: the passwords that open
//! a repository (owners) and the write-only keys of hosts (FORMAT.md §13).

use std::path::PathBuf;

use std::io::IsTerminal;

use anyhow::Result;

use super::{Exit, Global, UsageError, password, print_json};

#[derive(clap::Subcommand, Debug)]
pub enum Cmd {
    /// List password keys (owners) and write-only host keys; `*` (JSON: `"current": true`)
    /// marks the one the given password opens.
    #[command(
        after_help = "Examples:\n  lifeboat key list\n  lifeboat key list --json | jq -r '.[] | select(.kind == \"host\") | .hostname'"
    )]
    List,
    /// Add a password (a new key file wrapping the same master key).
    ///
    /// The new password is typed twice on the terminal, or read from --new-password-file.
    /// It is never taken from LIFEBOAT_PASSWORD, --password-file or --password-command: those
    /// open the repository.
    #[command(
        after_help = "Examples:\n  lifeboat key add                                    # prompts twice for the new password\n  lifeboat key add --new-password-file /root/ops-pass  # scripts: first line of the file"
    )]
    ///
    /// With --write-only: a key file for one host instead of a password. It takes snapshots
    /// (files, Docker, host profile, models) and cannot read, list, restore, forget or prune
    /// anything, not even its own snapshots once taken: a host that is broken into cannot read
    /// or destroy its old backups. Copy FILE to the host (mode 0600) and use it there with
    /// --key-file FILE or LIFEBOAT_KEY_FILE, without any password.
    #[command(
        after_help = "Examples:\n  lifeboat key add                                    # prompts twice for the new password\n  lifeboat key add --new-password-file /root/ops-pass  # scripts: first line of the file\n  lifeboat key add --write-only --hostname gpu-01 --output gpu-01.key\n  # on gpu-01:  LIFEBOAT_KEY_FILE=/etc/lifeboat/gpu-01.key lifeboat snapshot /srv/models"
    )]
    Add {
        /// Read the new password from this file (first line) instead of prompting.
        #[arg(long, value_name = "FILE", conflicts_with = "write_only")]
        new_password_file: Option<PathBuf>,
        /// Make a write-only host key (needs --hostname and --output).
        #[arg(long, requires_all = ["hostname", "output"])]
        write_only: bool,
        /// The host the write-only key is for (its snapshots are recorded under this name).
        #[arg(long, value_name = "HOST", requires = "write_only")]
        hostname: Option<String>,
        /// Where to write the host key file (created 0600; an existing file is not replaced).
        #[arg(long, value_name = "FILE", requires = "write_only")]
        output: Option<PathBuf>,
        /// Protect the host key file with the passphrase in this file (first line); the host
        /// then gives it like a password (LIFEBOAT_PASSWORD_FILE, ...).
        #[arg(long, value_name = "FILE", requires = "write_only")]
        passphrase_file: Option<PathBuf>,
        #[command(flatten)]
        kdf: super::init::Args,
    },
    /// Revoke the write-only key(s) of a host and make a new one.
    ///
    /// Snapshots the old key writes after this are refused by the owner's `verify` and
    /// flagged by `status`; the new key file goes to --output.
    RotateHost {
        /// The host whose keys are revoked.
        hostname: String,
        /// Where to write the new host key file (0600).
        #[arg(long, value_name = "FILE")]
        output: PathBuf,
        /// Protect the new file with the passphrase in this file (first line).
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
        #[command(flatten)]
        kdf: super::init::Args,
    },
    /// Remove a key file by ID prefix (not the last one, not the one in use).
    Remove {
        /// Key ID or a unique prefix of it.
        id: String,
    },
}

pub fn run(g: &Global, c: &Cmd) -> Result<Exit> {
    let repo = g.open()?;
    match c {
        Cmd::List => {
            let keys = repo.list_keys()?;
            if g.json {
                print_json(&keys)?;
            } else {
                println!(
                    "  {:<10} {:<9} {:<32} {:<16} {:<12} argon2id / state",
                    "ID", "kind", "created", "host", "user"
                );
                for k in keys {
                    let detail = match (&k.revoked, k.kind) {
                        (Some(t), _) => format!("revoked {t}"),
                        (None, "host") => "write-only".to_string(),
                        (None, _) => format!(
                            "m={}MiB t={} p={}",
                            k.memory_kib / 1024,
                            k.iterations,
                            k.parallelism
                        ),
                    };
                    println!(
                        "{} {:<10} {:<9} {:<32} {:<16} {:<12} {detail}",
                        if k.current { '*' } else { ' ' },
                        &k.id[..8],
                        k.kind,
                        k.created,
                        k.hostname,
                        k.username,
                    );
                }
            }
        }
        Cmd::Add {
            write_only: true,
            hostname,
            output,
            passphrase_file,
            kdf,
            ..
        } => {
            let (Some(hostname), Some(output)) = (hostname, output) else {
                return Err(UsageError("--write-only needs --hostname and --output".into()).into());
            };
            let key = repo.add_host_key(hostname)?;
            write_host_key(g, &key, output, passphrase_file.as_deref(), kdf)?;
        }
        Cmd::RotateHost {
            hostname,
            output,
            passphrase_file,
            kdf,
        } => {
            let revoked = repo.revoke_host_keys(hostname)?;
            let key = repo.add_host_key(hostname)?;
            if !g.json {
                for r in &revoked {
                    println!("revoked host key {} of {}", &r.host_id[..8], r.hostname);
                }
            }
            write_host_key(g, &key, output, passphrase_file.as_deref(), kdf)?;
        }
        Cmd::Add {
            new_password_file,
            kdf,
            ..
        } => {
            let params = super::init::kdf(kdf.kdf_memory, kdf.kdf_iterations, kdf.kdf_parallelism);
            params.check_bounds("--kdf-* options")?;
            let pw = match new_password_file {
                Some(f) => password::from_file(f)?,
                None if std::io::stdin().is_terminal() => password::prompt_new()?,
                None => {
                    return Err(UsageError(
                        "no new password: give it with --new-password-file FILE, or run on a terminal to type it twice (the password that opens the repository is never reused as the new one)".into(),
                    )
                    .into());
                }
            };
            let id = repo.add_key(&pw, params)?;
            if g.json {
                print_json(&serde_json::json!({ "added": id.to_hex() }))?;
            } else {
                println!("added key {}", id.short());
            }
        }
        Cmd::Remove { id } => {
            let name = repo.remove_key(id)?;
            if g.json {
                print_json(&serde_json::json!({ "removed": name }))?;
            } else {
                println!("removed key {}", &name[..8]);
            }
        }
    }
    Ok(Exit::Success)
}

/// Write a new host key file, 0600, never over an existing file.
fn write_host_key(
    g: &Global,
    key: &lifeboat::repo::HostKey,
    output: &std::path::Path,
    passphrase_file: Option<&std::path::Path>,
    kdf: &super::init::Args,
) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let pass = passphrase_file.map(password::from_file).transpose()?;
    let params = super::init::kdf(kdf.kdf_memory, kdf.kdf_iterations, kdf.kdf_parallelism);
    let bytes = key.to_file(pass.as_ref().map(|p| (p.as_slice(), params)))?;
    let shown = lifeboat::util::show_path(output);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(output)
        .map_err(|e| anyhow::anyhow!("host key file {shown}: {e}"))?;
    f.write_all(&bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| anyhow::anyhow!("host key file {shown}: {e}"))?;
    let id = hex::encode(key.host_id);
    if g.json {
        print_json(&serde_json::json!({
            "added": id, "kind": "host", "hostname": key.hostname, "file": output,
        }))?;
    } else {
        println!(
            "added write-only host key {} for {} in {shown}\non {}: lifeboat --key-file FILE snapshot ... (or LIFEBOAT_KEY_FILE=FILE); keep the file 0600",
            &id[..8],
            key.hostname,
            key.hostname
        );
    }
    Ok(())
}

/// `lifeboat migrate`: format version 1 to 2, with the owner's password.
pub fn migrate(g: &Global) -> Result<Exit> {
    let repo = g.open()?;
    let _lock = repo.lock(lifeboat::repo::LockKind::Exclusive, "migrate")?;
    let from = repo.keys().version();
    let repo = repo.migrate()?;
    if g.json {
        print_json(&serde_json::json!({ "from": from, "to": repo.keys().version() }))?;
    } else {
        println!(
            "migrated {} from format version {from} to {}: `lifeboat key add --write-only` makes host keys",
            repo.backend().location(),
            repo.keys().version()
        );
    }
    Ok(Exit::Success)
}
