//! `lifeboat snapshot [PATH...] [--container NAME...]`: take a snapshot of files and, when
//! asked, of Docker containers with their images, networks and volumes.

use std::path::PathBuf;

use anyhow::{Context, Result};
use lifeboat::config::Config;
use lifeboat::docker::capture::{BindMount, Capture, CaptureOptions, Selection, VolumeAccess};
use lifeboat::files::walk::Excludes;
use lifeboat::ops::snapshot::{ParentChoice, SnapshotOptions, SnapshotResult, create_with};
use lifeboat::repo::Repository;
use lifeboat::util::human_bytes;

use super::{Exit, Global, print_json};

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Files and directories to include. Without paths, containers or --host, the job in the
    /// configuration file says what to back up.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Capture the host's security configuration: sshd, firewall, sudoers, AppArmor, audit,
    /// apt, systemd units, cron, log shippers, ... (see docs/HOST.md), each item recorded as
    /// present or absent, plus the output of iptables-save, nft, ufw, dpkg, systemctl, docker info.
    #[arg(long = "host", help_heading = "Host")]
    pub host_profile: bool,

    /// Read the host profile under this directory instead of `/` (a chroot, a mounted disk, tests).
    #[arg(long, value_name = "DIR", default_value = "/", help_heading = "Host")]
    pub host_root: PathBuf,

    /// Add a path or pattern (`*` matches one name) to the host profile (repeatable).
    #[arg(long = "host-include", value_name = "PATH", help_heading = "Host")]
    pub host_include: Vec<String>,

    /// Leave a profile item or path out (repeatable).
    #[arg(long = "host-exclude", value_name = "PATH", help_heading = "Host")]
    pub host_exclude: Vec<String>,

    /// Do not run the live-state tools (iptables-save, nft, ufw, dpkg, systemctl, docker).
    #[arg(long, help_heading = "Host")]
    pub no_host_commands: bool,

    /// Check the snapshot's files against a published checksum list (`sha256sum` format,
    /// e.g. a model's SHA256SUMS; relative names are relative to the list's directory). A file
    /// that does not match, or is missing, stops the snapshot from being saved.
    #[arg(long = "expect-sha256", value_name = "FILE", help_heading = "Models")]
    pub expect_sha256: Vec<PathBuf>,

    /// A model directory: snapshotted, and every file in it counts as a model for `models
    /// verify --models DIR` (repeatable; the configuration's models.dirs).
    #[arg(long = "models", value_name = "DIR", help_heading = "Models")]
    pub models: Vec<PathBuf>,

    /// With --expect-sha256: save the snapshot anyway and report mismatches as warnings.
    #[arg(long, requires = "expect_sha256", help_heading = "Models")]
    pub allow_mismatch: bool,

    /// Capture this container with its image, networks and volumes (name or ID; repeatable).
    #[arg(long = "container", value_name = "NAME", help_heading = "Docker")]
    pub containers: Vec<String>,

    /// Capture every container on the engine (except those labelled lifeboat.exclude=true).
    #[arg(long, help_heading = "Docker")]
    pub all_containers: bool,

    /// Capture the containers of this Compose project, and its compose files (repeatable).
    #[arg(
        long = "compose-project",
        value_name = "PROJECT",
        help_heading = "Docker"
    )]
    pub compose_projects: Vec<String>,

    /// Capture containers with this label, `KEY` or `KEY=VALUE` (repeatable).
    #[arg(long = "label", value_name = "KEY[=VALUE]", help_heading = "Docker")]
    pub labels: Vec<String>,

    /// Keep only image references (ID, tags, digests), not image content: smaller, but a
    /// restore then needs the image from a registry.
    #[arg(long, help_heading = "Docker")]
    pub no_images: bool,

    /// Read volume data through the Engine API even when the mountpoint is readable here
    /// (the default reads local mountpoints directly, which is faster).
    #[arg(long, help_heading = "Docker")]
    pub volumes_via_api: bool,

    /// Tag the snapshot (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,

    /// Leave out paths matching a glob. With a `/` it matches the absolute path
    /// (`/srv/*/cache`, `**/*.tmp`), without one any file or directory name (`*.log`).
    #[arg(
        short = 'e',
        long = "exclude",
        value_name = "GLOB",
        help_heading = "Excluding"
    )]
    pub excludes: Vec<String>,

    /// Read exclude globs from a file, one per line (`#` starts a comment).
    #[arg(long = "exclude-file", value_name = "FILE", help_heading = "Excluding")]
    pub exclude_files: Vec<PathBuf>,

    /// Stay on the filesystem of each given path.
    #[arg(short = 'x', long, help_heading = "Excluding")]
    pub one_file_system: bool,

    /// Skip the contents of directories tagged with a CACHEDIR.TAG file.
    #[arg(long, help_heading = "Excluding")]
    pub exclude_caches: bool,

    /// Compare against this snapshot to skip unchanged files (default: the newest of the same
    /// group: this host, the same paths, containers and host profile).
    #[arg(long, value_name = "SNAPSHOT", conflicts_with = "force")]
    pub parent: Option<String>,

    /// Read every file, even unchanged ones.
    #[arg(long)]
    pub force: bool,

    /// Record this hostname instead of the machine's (restic's `--host NAME`).
    #[arg(long, value_name = "NAME")]
    pub hostname: Option<String>,
}

impl Args {
    /// Whether the command line says what to back up.
    fn has_selection(&self) -> bool {
        !self.paths.is_empty()
            || !self.models.is_empty()
            || !self.containers.is_empty()
            || self.all_containers
            || !self.compose_projects.is_empty()
            || !self.labels.is_empty()
            || self.host_profile
    }

    /// The configuration's job as snapshot arguments.
    pub fn from_config(c: &Config) -> Args {
        Args {
            paths: c.snapshot.paths.clone(),
            models: c.models.dirs.clone(),
            host_profile: c.host.enabled,
            host_root: c.host.root.clone().unwrap_or_else(|| PathBuf::from("/")),
            host_include: c.host.include.clone(),
            host_exclude: c.host.exclude.clone(),
            no_host_commands: !c.host.commands.unwrap_or(true),
            expect_sha256: c.models.expect_sha256.clone(),
            allow_mismatch: c.models.allow_mismatch,
            containers: c.containers.names.clone(),
            all_containers: c.containers.all,
            compose_projects: c.containers.compose_projects.clone(),
            labels: c.containers.labels.clone(),
            no_images: !c.containers.images.unwrap_or(true),
            volumes_via_api: c.containers.volumes_via_api,
            tags: c.snapshot.tags.clone(),
            excludes: c.snapshot.exclude.clone(),
            exclude_files: Vec::new(),
            one_file_system: c.snapshot.one_file_system,
            exclude_caches: c.snapshot.exclude_caches,
            parent: None,
            force: false,
            hostname: c.hostname.clone(),
        }
    }

    /// These arguments with the configuration filled in: without a selection on the command
    /// line the configured job runs (with the command line's tags, excludes and options
    /// added); with one, only the host profile's include/exclude and the hostname come from
    /// the file.
    pub fn with_config(&self, cfg: Option<&Config>) -> Result<Args> {
        let Some(c) = cfg else {
            if !self.has_selection() {
                crate::usage!(
                    "nothing to snapshot: give paths, --container, --host, or a configuration file with a job (--config, see `lifeboat config example`)"
                );
            }
            return Ok(self.clone());
        };
        if self.has_selection() {
            let mut a = self.clone();
            if a.host_include.is_empty() {
                a.host_include.clone_from(&c.host.include);
            }
            if a.host_exclude.is_empty() {
                a.host_exclude.clone_from(&c.host.exclude);
            }
            if a.hostname.is_none() {
                a.hostname.clone_from(&c.hostname);
            }
            return Ok(a);
        }
        if !c.has_job() {
            anyhow::bail!(
                "nothing to snapshot: the configuration {} names no paths, containers, models or host profile",
                c.source
                    .as_ref()
                    .map_or(String::new(), |p| p.display().to_string())
            );
        }
        let mut a = Args::from_config(c);
        a.tags.extend(self.tags.iter().cloned());
        a.excludes.extend(self.excludes.iter().cloned());
        a.exclude_files.clone_from(&self.exclude_files);
        a.one_file_system |= self.one_file_system;
        a.exclude_caches |= self.exclude_caches;
        a.no_images |= self.no_images;
        a.volumes_via_api |= self.volumes_via_api;
        a.no_host_commands |= self.no_host_commands;
        a.expect_sha256.extend(self.expect_sha256.iter().cloned());
        a.allow_mismatch |= self.allow_mismatch;
        a.parent.clone_from(&self.parent);
        a.force = self.force;
        if self.hostname.is_some() {
            a.hostname.clone_from(&self.hostname);
        }
        Ok(a)
    }
}

/// Whether `s` reads as a hostname rather than a path or a snapshot name: what restic's
/// `--host NAME` habit leaves behind as a positional argument.
pub(super) fn looks_like_hostname(s: &str) -> bool {
    let hex_id = s.len() >= 8 && s.bytes().all(|b| b.is_ascii_hexdigit());
    !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && !s.starts_with(['-', '.'])
        && !s.starts_with("latest")
        && !hex_id
}

pub fn run(g: &Global, a: &Args) -> Result<Exit> {
    if let Some(first) = a.paths.first().filter(|_| a.host_profile) {
        let name = first.to_str().unwrap_or_default();
        if !first.is_absolute() && !first.exists() && looks_like_hostname(name) {
            crate::usage!(
                "--host takes no value here: it captures this machine's host profile; to record the hostname {name}, use `--hostname {name}` (restic's --host); {name} is not a path here"
            );
        }
    }
    let a = &a.with_config(g.cfg())?;
    let repo = g.open()?;
    let (r, binds) = execute_with_binds(g, &repo, a)?;
    print(g, &repo, &r, &binds);
    Ok(if r.warnings.is_empty() {
        Exit::Success
    } else {
        Exit::Partial
    })
}

/// Take the snapshot `a` describes (already merged with the configuration).
pub fn execute(g: &Global, repo: &Repository, a: &Args) -> Result<SnapshotResult> {
    Ok(execute_with_binds(g, repo, a)?.0)
}

/// [`execute`], and the bind mounts of the captured containers that the snapshot's paths do
/// not hold: each is named in a warning that does not make the snapshot partial (its exit code
/// stays 0), since nothing the snapshot set out to read was missed.
fn execute_with_binds(
    g: &Global,
    repo: &Repository,
    a: &Args,
) -> Result<(SnapshotResult, Vec<BindMount>)> {
    let excludes = excludes(a)?;
    let selection = Selection {
        names: a.containers.clone(),
        all: a.all_containers,
        compose_projects: a.compose_projects.clone(),
        labels: a.labels.clone(),
    };
    let engine = if selection.is_empty() {
        None
    } else {
        Some(lifeboat::docker::Engine::connect().context("Docker")?)
    };
    let capture = match &engine {
        Some(engine) => Some(
            Capture::plan(
                engine,
                &CaptureOptions {
                    selection,
                    images: !a.no_images,
                    volume_access: if a.volumes_via_api {
                        VolumeAccess::Api
                    } else {
                        VolumeAccess::Auto
                    },
                },
            )
            .context("planning the Docker capture")?,
        ),
        None => None,
    };
    let mut paths = a.paths.clone();
    paths.extend(a.models.iter().cloned());
    let host = host_profile(a, &mut paths)?;
    if let Some(c) = &capture {
        for n in &c.notices {
            super::log::event("notice", "notice", &n.to_string(), serde_json::Value::Null);
        }
        paths.extend(c.compose_files());
    }
    // What was asked for: the snapshot's group (latest, retention, parent).
    let selection = lifeboat::snapshot::group::Selection::new(
        &a.paths,
        &a.models,
        Some(lifeboat::snapshot::group::Containers::new(
            &a.containers,
            a.all_containers,
            &a.compose_projects,
            &a.labels,
        )),
    )?;
    let opts = SnapshotOptions {
        paths,
        selection: Some(selection),
        tags: a.tags.clone(),
        excludes,
        parent: match (&a.parent, a.force) {
            (_, true) => ParentChoice::None,
            (Some(p), false) => ParentChoice::Id(p.clone()),
            (None, false) => ParentChoice::Auto,
        },
        hostname: a.hostname.clone(),
        host,
        expected_sha256: {
            let mut all = Vec::new();
            for f in &a.expect_sha256 {
                all.extend(lifeboat::models::checksums::parse_sha256sums(f)?);
            }
            all
        },
        allow_mismatch: a.allow_mismatch,
        ..Default::default()
    };
    let binds = capture
        .as_ref()
        .map(|c| c.uncaptured_binds(&opts.paths))
        .unwrap_or_default();
    for b in &binds {
        super::log::warn(&format!(
            "container {}: bind mount {} -> {} not captured (add the path to the snapshot: lifeboat snapshot {} --container {})",
            b.container, b.source, b.destination, b.source, b.container
        ));
    }
    let bar = g.progress();
    let r = match &capture {
        Some(c) => {
            let warn = |m: String| super::log::warn(&m);
            c.quiesced(&warn, || create_with(repo, &opts, Some(c), &bar))?
        }
        None => create_with(repo, &opts, None, &bar)?,
    };
    Ok((r, binds))
}

/// The excludes the arguments give: patterns, those of the exclude files, file system and
/// cache-directory rules.
fn excludes(a: &Args) -> Result<Excludes> {
    let mut excludes = Excludes {
        patterns: a.excludes.clone(),
        one_file_system: a.one_file_system,
        caches: a.exclude_caches,
        paths: Vec::new(),
    };
    for f in &a.exclude_files {
        excludes.patterns.extend(
            Excludes::read_file(f)
                .with_context(|| format!("reading exclude file {}", f.display()))?,
        );
    }
    Ok(excludes)
}

/// With `--host`: this machine's host profile, its files added to `paths`.
fn host_profile(
    a: &Args,
    paths: &mut Vec<PathBuf>,
) -> Result<Option<lifeboat::snapshot::host::HostSection>> {
    if !a.host_profile {
        return Ok(None);
    }
    let opts = lifeboat::host::HostOptions {
        root: a.host_root.clone(),
        include: a.host_include.clone(),
        exclude: a.host_exclude.clone(),
        commands: !a.no_host_commands,
    };
    let (section, found) = lifeboat::host::capture(&opts)
        .with_context(|| format!("--host-root {}", a.host_root.display()))?;
    paths.extend(found);
    Ok(Some(section))
}

/// Print a snapshot's result: JSON, or a short summary.
fn print(g: &Global, repo: &Repository, r: &SnapshotResult, binds: &[BindMount]) {
    if let Err(e) = print_inner(g, repo, r, binds) {
        super::log::warn(&format!("printing the summary: {e}"));
    }
}

/// Each number means one thing: the files' size, the volumes' and the image archives' sizes,
/// what was read and added this run, and the snapshot's size (all of its data, as
/// `snapshots` lists it).
fn print_inner(
    g: &Global,
    repo: &Repository,
    r: &SnapshotResult,
    binds: &[BindMount],
) -> Result<()> {
    let s = &r.snapshot.summary;
    let dep = r.snapshot.deployment.as_ref();
    let sizes = match dep {
        // The deployment tree was just written: read under an index that holds it.
        Some(d) => Some(lifeboat::docker::report::data_sizes(&repo.indexed()?, d)?),
        None => None,
    };
    let bytes_read = s.bytes_read + dep.map_or(0, |d| d.summary.bytes_read);
    if g.json {
        print_json(&serde_json::json!({
            "id": r.id.to_hex(),
            "short_id": r.id.short(),
            "time": r.snapshot.time,
            "parent": r.snapshot.parent.map(|p| p.to_hex()),
            "size": r.snapshot.total_bytes(),
            "summary": s,
            "deployment": dep.map(|d| serde_json::json!({
                "containers": d.containers.iter().map(|c| &c.name).collect::<Vec<_>>(),
                "volumes": d.volumes.iter().map(|v| &v.name).collect::<Vec<_>>(),
                "networks": d.networks.iter().map(|n| &n.name).collect::<Vec<_>>(),
                "images": d.images.iter().map(|i| &i.id).collect::<Vec<_>>(),
                "summary": d.summary,
                "data": sizes,
            })),
            "host": r.snapshot.host.as_ref().map(|h| serde_json::json!({
                "root": h.root,
                "present": h.items.iter().filter(|i| !i.found.is_empty()).map(|i| &i.pattern).collect::<Vec<_>>(),
                "absent": h.items.iter().filter(|i| i.found.is_empty()).map(|i| &i.pattern).collect::<Vec<_>>(),
                "commands": h.commands.iter().map(|c| (c.name.clone(), c.status.clone())).collect::<std::collections::BTreeMap<_, _>>(),
            })),
            "warnings": r.warnings,
            "bind_mounts_not_captured": binds,
        }))?;
    } else if !g.quiet {
        if dep.is_none() || !r.snapshot.paths.is_empty() {
            println!(
                "files:  {} new, {} changed, {} unmodified; {} dirs, {} other; {}",
                s.files_new,
                s.files_changed,
                s.files_unmodified,
                s.dirs,
                s.others,
                human_bytes(s.bytes)
            );
        }
        if let (Some(d), Some(z)) = (dep, sizes) {
            println!(
                "docker: {} container(s), {} network(s); {} volume(s), {} files, {}; {} image(s), {} archived",
                d.containers.len(),
                d.networks.len(),
                d.volumes.len(),
                z.volume_files,
                human_bytes(z.volume_bytes),
                d.images.len(),
                human_bytes(z.image_bytes)
            );
        }
        println!(
            "data:   {} read, {} added ({} stored) in {} blobs",
            human_bytes(bytes_read),
            human_bytes(s.raw_added),
            human_bytes(s.stored_added),
            s.blobs_added
        );
        println!(
            "snapshot {} saved: {} in {:.2}s",
            r.id.short(),
            human_bytes(r.snapshot.total_bytes()),
            s.duration_ms as f64 / 1000.0
        );
        if !r.warnings.is_empty() {
            eprintln!(
                "{} warning(s): some files were not read completely; see above",
                r.warnings.len()
            );
        }
    }
    Ok(())
}
