//! `lifeboat snapshot [PATH...] [--container NAME...]`: take a snapshot of files and, when
//! asked, of Docker containers with their images, networks and volumes.

use std::path::PathBuf;

use anyhow::Result;
use lifeboat::config::Config;
use lifeboat::docker::capture::{BindPlan, Selection, VolumeAccess};
use lifeboat::host::HostOptions;
use lifeboat::ops::job::{JobError, SnapshotRequest, take_snapshot};
use lifeboat::ops::snapshot::{ParentChoice, SnapshotResult};
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

    /// Do not capture the host directories and files that the containers bind-mount. By
    /// default they are added to the snapshot's paths (a model directory mounted with `-v
    /// /srv/models:/models` is backed up with its container), except sockets and devices, `/`
    /// and system directories (/etc, /proc, /sys, /dev, /run, ...), the Docker data root and
    /// the repository, each named in a warning. With this flag every source is only named.
    #[arg(long, help_heading = "Docker")]
    pub no_bind_data: bool,

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
    /// The snapshot these arguments ask for, without the configuration.
    fn request(&self) -> SnapshotRequest {
        SnapshotRequest {
            paths: self.paths.clone(),
            models: self.models.clone(),
            containers: Selection {
                names: self.containers.clone(),
                all: self.all_containers,
                compose_projects: self.compose_projects.clone(),
                labels: self.labels.clone(),
            },
            images: !self.no_images,
            volume_access: if self.volumes_via_api {
                VolumeAccess::Api
            } else {
                VolumeAccess::Auto
            },
            bind_data: !self.no_bind_data,
            host: self.host_profile,
            host_options: HostOptions {
                root: self.host_root.clone(),
                include: self.host_include.clone(),
                exclude: self.host_exclude.clone(),
                commands: !self.no_host_commands,
            },
            expect_sha256: self.expect_sha256.clone(),
            allow_mismatch: self.allow_mismatch,
            tags: self.tags.clone(),
            excludes: self.excludes.clone(),
            exclude_files: self.exclude_files.clone(),
            one_file_system: self.one_file_system,
            exclude_caches: self.exclude_caches,
            parent: match (&self.parent, self.force) {
                (_, true) => ParentChoice::None,
                (Some(p), false) => ParentChoice::Id(p.clone()),
                (None, false) => ParentChoice::Auto,
            },
            hostname: self.hostname.clone(),
        }
    }

    /// The snapshot these arguments ask for, with the configuration filled in: without a
    /// selection on the command line the configured job runs (with the command line's tags,
    /// excludes and options added); with one, only the host profile's include/exclude and the
    /// hostname come from the file.
    pub fn request_with_config(&self, cfg: Option<&Config>) -> Result<SnapshotRequest> {
        let own = self.request();
        let Some(c) = cfg else {
            if !own.has_selection() {
                crate::usage!(
                    "nothing to snapshot: give paths, --container, --host, or a configuration file with a job (--config, see `lifeboat config example`)"
                );
            }
            return Ok(own);
        };
        if own.has_selection() {
            let mut r = own;
            let host = &mut r.host_options;
            if host.include.is_empty() {
                host.include.clone_from(&c.host.include);
            }
            if host.exclude.is_empty() {
                host.exclude.clone_from(&c.host.exclude);
            }
            if r.hostname.is_none() {
                r.hostname.clone_from(&c.hostname);
            }
            return Ok(r);
        }
        if !c.has_job() {
            anyhow::bail!(
                "nothing to snapshot: the configuration {} names no paths, containers, models or host profile",
                c.source
                    .as_ref()
                    .map_or(String::new(), |p| p.display().to_string())
            );
        }
        let mut r = SnapshotRequest::from_config(c);
        r.tags.extend(own.tags);
        r.excludes.extend(own.excludes);
        r.exclude_files = own.exclude_files;
        r.one_file_system |= own.one_file_system;
        r.exclude_caches |= own.exclude_caches;
        r.images &= own.images;
        if own.volume_access == VolumeAccess::Api {
            r.volume_access = VolumeAccess::Api;
        }
        r.bind_data &= own.bind_data;
        r.host_options.commands &= own.host_options.commands;
        r.expect_sha256.extend(own.expect_sha256);
        r.allow_mismatch |= own.allow_mismatch;
        r.parent = own.parent;
        if own.hostname.is_some() {
            r.hostname = own.hostname;
        }
        Ok(r)
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
    let request = a.request_with_config(g.cfg())?;
    let repo = g.open()?;
    let bar = g.progress();
    let taken = take_snapshot(&repo, &request, &bar).map_err(job_error)?;
    let r = &taken.result;
    print(g, &repo, r, &taken.binds);
    Ok(if r.warnings.is_empty() {
        Exit::Success
    } else {
        Exit::Partial
    })
}

/// A job error as the CLI reports it: its context, then the library error (which keeps its
/// exit code).
pub(super) fn job_error(e: JobError) -> anyhow::Error {
    match e.context {
        Some(c) => anyhow::Error::new(e.error).context(c),
        None => e.error.into(),
    }
}

/// Print a snapshot's result: JSON, or a short summary.
fn print(g: &Global, repo: &Repository, r: &SnapshotResult, binds: &BindPlan) {
    if let Err(e) = print_inner(g, repo, r, binds) {
        super::log::warn(&format!("printing the summary: {e}"));
    }
}

/// Each number means one thing: the files' size, the volumes' and the image archives' sizes,
/// what was read and added this run, and the snapshot's size (all of its data, as
/// `snapshots` lists it).
fn print_inner(g: &Global, repo: &Repository, r: &SnapshotResult, binds: &BindPlan) -> Result<()> {
    let s = &r.snapshot.summary;
    let dep = r.snapshot.deployment.as_ref();
    let sizes = match dep {
        // A write-only host key cannot read back what it wrote: no sizes of the data.
        _ if repo.keys().is_host() => None,
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
            "bind_mounts": binds,
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
        if let (Some(d), None) = (dep, &sizes) {
            println!(
                "docker: {} container(s), {} network(s), {} volume(s), {} image(s)",
                d.containers.len(),
                d.networks.len(),
                d.volumes.len(),
                d.images.len()
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
        if !binds.captured.is_empty() {
            let mut sources: Vec<&str> = binds.captured.iter().map(|b| b.source.as_str()).collect();
            sources.sort_unstable();
            sources.dedup();
            println!(
                "binds:  {} bind-mount source(s) captured with their containers: {}",
                sources.len(),
                lifeboat::escape::text(&sources.join(", "))
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
