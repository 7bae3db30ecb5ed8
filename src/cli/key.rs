//! `lifeboat key list|add|remove`: the passwords that open a repository.

use std::path::PathBuf;

use std::io::IsTerminal;

use anyhow::Result;

use super::{Exit, Global, UsageError, password, print_json};

#[derive(clap::Subcommand, Debug)]
pub enum Cmd {
    /// List key files; `*` (JSON: `"current": true`) marks the one the given password opens.
    #[command(
        after_help = "Examples:\n  lifeboat key list\n  lifeboat key list --json | jq -r '.[] | select(.current) | .id'"
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
    Add {
        /// Read the new password from this file (first line) instead of prompting.
        #[arg(long, value_name = "FILE")]
        new_password_file: Option<PathBuf>,
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
                    "  {:<10} {:<32} {:<16} {:<12} argon2id",
                    "ID", "created", "host", "user"
                );
                for k in keys {
                    println!(
                        "{} {:<10} {:<32} {:<16} {:<12} m={}MiB t={} p={}",
                        if k.current { '*' } else { ' ' },
                        &k.id[..8],
                        k.created,
                        k.hostname,
                        k.username,
                        k.memory_kib / 1024,
                        k.iterations,
                        k.parallelism
                    );
                }
            }
        }
        Cmd::Add {
            new_password_file,
            kdf,
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
