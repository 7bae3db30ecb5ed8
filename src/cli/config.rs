//! `lifeboat config check|example`: validate the configuration file with precise errors (file,
//! line, key), or print a commented example to start from.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use anyhow::Result;
use lifeboat::config::{Config, DEFAULT_PATH, EXAMPLE};

use super::{Exit, Global, print_json};

#[derive(clap::Subcommand, Debug)]
pub enum Cmd {
    /// Validate a configuration file: unknown keys, bad values and wrong types are named with
    /// their line; a readable password source and an existing repository are checked too.
    Check(CheckArgs),
    /// Print a commented example configuration with every key.
    Example,
}

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// The file to check [default: --config, LIFEBOAT_CONFIG, or /etc/lifeboat/lifeboat.toml].
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
}

pub fn run(g: &Global, c: &Cmd) -> Result<Exit> {
    match c {
        Cmd::Example => {
            print!("{EXAMPLE}");
            Ok(Exit::Success)
        }
        Cmd::Check(a) => check(g, a),
    }
}

fn check(g: &Global, a: &CheckArgs) -> Result<Exit> {
    let file = a
        .file
        .clone()
        .or_else(|| g.config.clone())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_PATH));
    let cfg = match Config::check_file(&file) {
        Ok(c) => c,
        Err(errors) => {
            let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
            if g.json {
                print_json(&serde_json::json!({
                    "file": file,
                    "ok": false,
                    "error": errors.first(),
                    "errors": errors,
                }))?;
            } else {
                for e in &errors {
                    super::log::error(e);
                }
            }
            return Ok(Exit::Usage);
        }
    };
    let mut warnings = Vec::new();
    let r = &cfg.repository;
    match &r.path {
        None => warnings.push(
            "repository.path is not set: every command needs --repo or LIFEBOAT_REPO".to_string(),
        ),
        Some(p) => match lifeboat::repo::RepoLocation::parse(p) {
            Err(e) => warnings.push(format!("repository.path: {e}")),
            Ok(lifeboat::repo::RepoLocation::Local(dir))
                if !dir.is_file() && !dir.join("config").exists() =>
            {
                warnings.push(format!(
                    "repository.path {}: no repository there yet (`lifeboat init` creates it)",
                    dir.display()
                ));
            }
            // A remote repository is checked by `lifeboat status`, which reaches the store.
            Ok(_) => {}
        },
    }
    if let Some(f) = &r.password_file {
        match std::fs::metadata(f) {
            Err(e) => warnings.push(format!("repository.password_file {}: {e}", f.display())),
            Ok(m) if m.permissions().mode() & 0o077 != 0 => warnings.push(format!(
                "repository.password_file {} is readable by group or others (chmod 600 it)",
                f.display()
            )),
            Ok(_) => {}
        }
    } else if r.password_command.is_none() && r.key_file.is_none() {
        warnings.push(
            "no password source: set repository.password_file, password_command or key_file (scheduled runs cannot prompt)".into(),
        );
    }
    if let Some(f) = &r.key_file {
        match std::fs::metadata(f) {
            Err(e) => warnings.push(format!("repository.key_file {}: {e}", f.display())),
            Ok(m) if m.permissions().mode() & 0o077 != 0 => warnings.push(format!(
                "repository.key_file {} is readable by group or others (chmod 600 it)",
                f.display()
            )),
            Ok(_) => {}
        }
    }
    if !cfg.has_job() {
        warnings.push(
            "nothing to back up: set snapshot.paths, containers, models.dirs or host.enabled"
                .into(),
        );
    }
    if cfg.retention.is_empty() {
        warnings.push("no retention policy: `lifeboat run` keeps every snapshot".into());
    }
    for p in cfg.snapshot.paths.iter().chain(&cfg.models.dirs) {
        if !p.exists() {
            warnings.push(format!("{} does not exist", p.display()));
        }
    }
    if g.json {
        print_json(&serde_json::json!({
            "file": file,
            "ok": true,
            "job": cfg.job(),
            "warnings": warnings,
        }))?;
    } else {
        for w in &warnings {
            super::log::warn(&w.to_string());
        }
        let c = &cfg.containers;
        let what = [
            (!cfg.snapshot.paths.is_empty())
                .then(|| format!("{} path(s)", cfg.snapshot.paths.len())),
            (!cfg.models.dirs.is_empty())
                .then(|| format!("{} model dir(s)", cfg.models.dirs.len())),
            c.all.then(|| "all containers".to_string()),
            (!c.names.is_empty()).then(|| format!("containers {}", c.names.join(", "))),
            (!c.labels.is_empty()).then(|| format!("labels {}", c.labels.join(", "))),
            (!c.compose_projects.is_empty())
                .then(|| format!("compose projects {}", c.compose_projects.join(", "))),
            cfg.host.enabled.then(|| "the host profile".to_string()),
        ];
        let what: Vec<String> = what.into_iter().flatten().collect();
        println!(
            "{}: valid; job {:?} backs up {}",
            file.display(),
            cfg.job(),
            if what.is_empty() {
                "nothing".to_string()
            } else {
                what.join(", ")
            }
        );
    }
    Ok(if warnings.is_empty() {
        Exit::Success
    } else {
        Exit::Partial
    })
}
