//! `lifeboat restore SNAPSHOT --target DIR`: restore files; `--containers` / `--container NAME`:
//! restore the snapshot's Docker deployment onto the engine.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use lifeboat::escape::text as esc;
use lifeboat::files::restore::{Overwrite, RestoreOptions, RestoreReport, restore};
use lifeboat::snapshot::select::{self, Need};
use lifeboat::snapshot::tree::Subtree;
use lifeboat::util::{human_bytes, show, show_path, under};

use super::{Exit, Global, print_json};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// `latest` (the newest snapshot with what this restore needs), `latest~N`, or an ID prefix
    /// of at least 8 hex digits; `SNAPSHOT:/DIR` restores the contents of that directory
    /// straight into --target.
    #[arg(value_name = "SNAPSHOT", required_unless_present = "undo")]
    pub snapshot: Option<String>,

    /// Directory to restore into; files land at TARGET/<original absolute path>.
    #[arg(short, long, value_name = "DIR", required_unless_present_any = ["containers", "container", "host_profile", "undo"])]
    pub target: Option<PathBuf>,

    /// Show how the live host's security configuration differs from the snapshot's host
    /// profile (a unified diff per file; private keys never shown). Writes nothing.
    #[arg(long = "host", help_heading = "Host")]
    pub host_profile: bool,

    /// With --host: compare against the host configuration under this directory.
    #[arg(long, value_name = "DIR", default_value = "/", help_heading = "Host")]
    pub host_root: PathBuf,

    /// With --host: write the snapshot's versions of the differing files, atomically, with
    /// their owners, modes and xattrs. An sshd_config that `sshd -t` rejects is never
    /// installed; what was replaced is kept in a `host-undo` snapshot for --undo.
    #[arg(long, requires = "host_profile", help_heading = "Host")]
    pub apply: bool,

    /// With --apply (or --undo): check the firewall rule sets first (`iptables-restore
    /// --test`, `nft -c`), then load them after the files are in place.
    #[arg(long, help_heading = "Host")]
    pub apply_firewall: bool,

    /// Undo the last `restore --host --apply` on this host root: put back the files it
    /// replaced and remove those it created.
    #[arg(long, requires = "host_profile", conflicts_with_all = ["snapshot", "apply", "containers", "container", "target"], help_heading = "Host")]
    pub undo: bool,

    /// Restore every container of the snapshot with its image, networks and volumes.
    #[arg(long, help_heading = "Docker")]
    pub containers: bool,

    /// Restore this container (repeatable).
    #[arg(long = "container", value_name = "NAME", help_heading = "Docker")]
    pub container: Vec<String>,

    /// Replace existing containers (and restore volume data into existing volumes): the old
    /// containers are stopped and renamed aside before any volume data is written, and removed
    /// only when the new one is up (put back, running again, when it fails).
    #[arg(long, help_heading = "Docker")]
    pub replace: bool,

    /// With --replace, what happens to files an existing volume has that the snapshot lacks:
    /// `exact` (the default) removes them, so the volume holds exactly the snapshot's files;
    /// `merge` keeps them.
    #[arg(long, value_name = "MODE", value_parser = ["exact", "merge"], requires = "replace", help_heading = "Docker")]
    pub volume_data: Option<String>,

    /// Write volume data through the Engine API (a helper container) even when the volume's
    /// mountpoint is reachable here; the default writes local mountpoints directly.
    #[arg(long, help_heading = "Docker")]
    pub volumes_via_api: bool,

    /// Show secret values (environment) in reported differences.
    #[arg(long, help_heading = "Docker")]
    pub show_secrets: bool,

    /// Restore only this, with what is below it and the directories leading to it
    /// (repeatable): an absolute path of the snapshot as `lifeboat ls` shows it, or a glob
    /// pattern as --exclude takes (`*.safetensors`, `/srv/models/**/config.json`). With
    /// SNAPSHOT:/DIR, paths inside DIR as if DIR were `/`.
    #[arg(short, long = "include", value_name = "PATH|PATTERN")]
    pub includes: Vec<String>,

    /// Leave out what matches this glob pattern, with everything below it (repeatable): with a
    /// `/` it is matched against the whole path, without one against each name (`*.tmp`).
    #[arg(short = 'e', long = "exclude", value_name = "PATTERN")]
    pub excludes: Vec<String>,

    /// What to do with a file already in the target: `always` replaces it unless it holds
    /// the snapshot's bytes (checked by SHA-256); `if-changed` trusts a matching size and
    /// modification time instead of reading it; `if-newer` replaces it only with a newer
    /// version; `never` leaves every existing file alone. Metadata is fixed in place for
    /// files kept with `always` and `if-changed`.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = OverwriteArg::Always)]
    pub overwrite: OverwriteArg,

    /// Remove what the snapshot does not have. With --target: files and directories inside
    /// the snapshot's own paths (never in the directories that merely lead to them) and within
    /// what --include selects; what --exclude leaves out is kept. With --host --apply: files
    /// inside the profile (a `sudoers.d` drop-in added since, say), kept in the undo snapshot.
    /// Try it with --dry-run.
    #[arg(long)]
    pub delete: bool,

    /// Show what would be written, write nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Do not restore file owners (the default when not running as root).
    #[arg(long)]
    pub no_owner: bool,

    /// Give files exactly the recorded uid and gid. By default, a file whose recorded user or
    /// group name exists on this host gets that name's id here (a fresh host often numbers its
    /// users differently), and the recorded number only when the name is unknown here, as tar
    /// does. Docker volume data always keeps its numbers.
    #[arg(long)]
    pub numeric_owner: bool,

    /// Do not flush the target filesystem at the end (faster, not crash-safe).
    #[arg(long)]
    pub no_sync: bool,

    /// With `latest`: only snapshots of this hostname (default: this host's, when it has any).
    #[arg(long = "hostname", value_name = "HOST")]
    pub hosts: Vec<String>,
    /// With `latest`: only snapshots with this tag.
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
}

/// `--overwrite` values (restic 0.17's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OverwriteArg {
    Always,
    IfChanged,
    IfNewer,
    Never,
}

impl From<OverwriteArg> for Overwrite {
    fn from(o: OverwriteArg) -> Overwrite {
        match o {
            OverwriteArg::Always => Overwrite::Always,
            OverwriteArg::IfChanged => Overwrite::IfChanged,
            OverwriteArg::IfNewer => Overwrite::IfNewer,
            OverwriteArg::Never => Overwrite::Never,
        }
    }
}

/// An `--include` that is an absolute path without glob characters names exactly that path;
/// anything else is a pattern.
fn is_plain_path(s: &str) -> bool {
    s.starts_with('/') && !s.contains(['*', '?', '[', '{', '\\'])
}

pub fn run(g: &Global, a: &Args) -> Result<Exit> {
    if a.apply_firewall && !a.apply && !a.undo {
        crate::usage!("--apply-firewall goes with --host --apply or --host --undo");
    }
    if let Some(name) = a
        .snapshot
        .as_deref()
        .filter(|s| a.host_profile && super::snapshot::looks_like_hostname(s))
    {
        crate::usage!(
            "--host takes no value: it compares with the snapshot's host profile; to pick the snapshots of host {name}, use `--hostname {name}`"
        );
    }
    let repo = g.open()?;
    if a.undo {
        return host_undo(g, a, &repo);
    }
    let spec = a.snapshot.as_deref().unwrap_or("latest");
    // What `latest` must hold for this restore.
    let need = Need {
        files: a.target.is_some(),
        host_profile: a.host_profile,
        deployment: a.containers,
        containers: a.container.clone(),
        group: None,
    };
    let (id, snap, subpath) =
        select::resolve_subtree(&repo, spec, &g.filter(&a.hosts, &a.tags), &need)?;
    if subpath.is_some() && (a.host_profile || a.containers || !a.container.is_empty()) {
        crate::usage!(
            "SNAPSHOT:PATH restores files only: drop --host, --containers and --container"
        );
    }
    let mut exit = Exit::Success;
    if a.host_profile && a.apply {
        exit = exit.worst(host_apply(g, a, &repo, &snap)?);
    } else if a.host_profile {
        exit = exit.worst(host_diff(g, a, &repo, &snap)?);
    }
    if a.containers || !a.container.is_empty() {
        exit = run_docker(g, a, &repo, &snap)?;
    }
    let Some(target) = &a.target else {
        return Ok(exit);
    };
    let mut opts = file_options(a, target)?;
    if let Some(sub) = subpath {
        // The directory must be there (a restore of nothing would look like success).
        if let Some(Err(e)) = Subtree::new(&repo.indexed()?, &snap.tree, Some(&sub)).next() {
            return Err(anyhow::Error::new(e).context(format!("snapshot {}", id.short())));
        }
        // The directory's contents land directly in the target (restic's `ID:subfolder`);
        // the target keeps its own owner and mode.
        opts.rebase = Some(sub);
    }
    opts.dry_run = a.dry_run;
    opts.owners = opts.owners && !a.no_owner;
    opts.report_unrestored_owners &= !a.no_owner;
    opts.sync = !a.no_sync;
    let bar = g.progress();
    let r = restore(&repo, &snap, &opts, &bar)?;
    if g.json {
        print_json(&serde_json::json!({ "snapshot": id.to_hex(), "target": target, "report": r }))?;
    } else {
        show_files(g, a, &id, target, &r);
    }
    let files = if r.damaged > 0 {
        Exit::Integrity
    } else if !r.errors.is_empty() {
        Exit::Failure
    } else if !r.warnings.is_empty() {
        Exit::Partial
    } else {
        Exit::Success
    };
    Ok(exit.worst(files))
}

/// The file restore's options from the arguments: target, includes (paths and patterns),
/// excludes, overwrite and delete.
fn file_options(a: &Args, target: &Path) -> Result<RestoreOptions> {
    let mut opts = RestoreOptions::new(target);
    let (paths, patterns): (Vec<&String>, Vec<&String>) =
        a.includes.iter().partition(|i| is_plain_path(i));
    opts.includes = paths
        .iter()
        .map(|p| lifeboat::util::normalize_abs(p.as_bytes()))
        .collect::<Result<_, _>>()
        .map_err(|e| super::UsageError(format!("--include: {e}")))?;
    opts.include_patterns = patterns.into_iter().cloned().collect();
    opts.exclude_patterns.clone_from(&a.excludes);
    opts.overwrite = a.overwrite.into();
    opts.delete = a.delete;
    opts.numeric_owner = a.numeric_owner;
    Ok(opts)
}

/// The file restore's report as text: the plan of a dry run, else the counts, then its
/// warnings and errors.
fn show_files(g: &Global, a: &Args, id: &lifeboat::id::Id, target: &Path, r: &RestoreReport) {
    if a.dry_run {
        for p in &r.plan {
            println!("{:<8} {}", p.action, show(&under(target, &p.path)));
        }
        println!("dry run: {} action(s), nothing written", r.plan.len());
    } else if !r.errors.is_empty() {
        println!(
            "restore of snapshot {} to {} FAILED for {} object(s); {} files written ({}), {} unchanged",
            id.short(),
            show_path(target),
            r.errors.len(),
            r.files_written,
            human_bytes(r.bytes_written),
            r.files_unchanged
        );
    } else if !g.quiet {
        println!(
            "restored snapshot {} to {}: {} files written ({}), {} unchanged, {} dirs, {} links, {} special",
            id.short(),
            show_path(target),
            r.files_written,
            human_bytes(r.bytes_written),
            r.files_unchanged,
            r.dirs,
            r.links,
            r.special
        );
        if r.owners_by_name > 0 {
            println!(
                "{} object(s) owned by name: their user or group has another id on this host than in the snapshot (--numeric-owner keeps the recorded ids)",
                r.owners_by_name
            );
        }
        if r.files_replaced > 0 {
            println!(
                "{} existing file(s) held other bytes and were replaced by the snapshot's (--overwrite never or if-newer keeps them)",
                r.files_replaced
            );
        }
        if r.skipped_existing > 0 {
            println!(
                "{} existing object(s) left as they were (--overwrite {})",
                r.skipped_existing,
                if a.overwrite == OverwriteArg::Never {
                    "never"
                } else {
                    "if-newer"
                }
            );
        }
        if r.deleted > 0 {
            println!(
                "{} object(s) not in the snapshot deleted (--delete)",
                r.deleted
            );
        }
    }
    for w in &r.warnings {
        super::log::warn(&w.to_string());
    }
    for e in &r.errors {
        super::log::error(&e.to_string());
    }
}

fn run_docker(
    g: &Global,
    a: &Args,
    repo: &lifeboat::repo::Repository,
    snap: &lifeboat::snapshot::Snapshot,
) -> Result<Exit> {
    use lifeboat::docker::apply::{ApplyOptions, apply};
    use lifeboat::docker::compare::shown_differences;
    let Some(dep) = &snap.deployment else {
        bail!("this snapshot holds no containers (it was taken without --container)");
    };
    let engine = lifeboat::docker::Engine::connect().context("Docker")?;
    use lifeboat::docker::apply::VolumeData;
    let opts = ApplyOptions {
        names: a.container.clone(),
        replace: a.replace,
        dry_run: a.dry_run,
        via_api: a.volumes_via_api,
        volume_data: match a.volume_data.as_deref() {
            Some("merge") => VolumeData::Write,
            _ if a.replace => VolumeData::Exact,
            _ => VolumeData::Write,
        },
    };
    let bar = g.progress();
    let report = apply(&engine, repo, dep, &opts, &bar)?;
    let shown = shown_differences(&report.differences, a.show_secrets);
    if g.json {
        print_json(&serde_json::json!({
            "steps": report.steps,
            "conflicts": report.conflicts,
            "differences": shown,
            "generated": report.generated,
            "failures": super::errors::failures(&report.failures),
            "warnings": report.warnings,
            "dry_run": a.dry_run,
        }))?;
    } else {
        for s in &report.steps {
            if a.dry_run || !g.quiet {
                println!(
                    "{}{:<20} {}",
                    if a.dry_run { "would " } else { "" },
                    s.action,
                    esc(&s.object)
                );
            }
        }
        for c in &report.conflicts {
            eprintln!("conflict: {}", esc(c));
        }
        print_problems(&report, &shown);
        if a.dry_run {
            println!("dry run: nothing changed");
        } else if report.failures.is_empty() && report.differences.is_empty() {
            let restored = report
                .steps
                .iter()
                .filter(|s| s.action == "create container")
                .count();
            if !g.quiet {
                for (name, generated) in &report.generated {
                    let fields: Vec<&str> = generated.iter().map(|v| v.field.as_str()).collect();
                    println!(
                        "container {}: {} generated value(s) differ as expected: {}",
                        esc(name),
                        fields.len(),
                        esc(&fields.join(", "))
                    );
                }
            }
            if report.conflicts.is_empty() {
                println!("deployment restored; every restored container matches the snapshot");
            } else {
                println!(
                    "{restored} container(s) restored and matching the snapshot; {} conflict(s) left alone",
                    report.conflicts.len()
                );
            }
        }
    }
    Ok(if !report.failures.is_empty() {
        Exit::Failure
    } else if !report.conflicts.is_empty() || !report.differences.is_empty() {
        Exit::Partial
    } else {
        Exit::Success
    })
}

/// `restore --host`: what applying the snapshot's host profile would change, as diffs.
fn host_diff(
    g: &Global,
    a: &Args,
    repo: &lifeboat::repo::Repository,
    snap: &lifeboat::snapshot::Snapshot,
) -> Result<Exit> {
    let diffs = lifeboat::host::diff_live(&repo.indexed()?, snap, &a.host_root)?;
    if g.json {
        print_json(&serde_json::json!({ "host_root": a.host_root, "differences": diffs }))?;
    } else {
        for d in &diffs {
            match (&d.diff, &d.note) {
                (Some(text), _) => print!("{text}"),
                (None, Some(note)) => println!("{} {}: {}", d.change, esc(&d.path), esc(note)),
                (None, None) => println!("{} {}", d.change, esc(&d.path)),
            }
        }
        if diffs.is_empty() {
            println!(
                "host configuration under {} matches the snapshot",
                show_path(&a.host_root)
            );
        } else {
            println!(
                "{} file(s) differ; nothing was written (--apply writes the snapshot's versions)",
                diffs.len()
            );
        }
    }
    Ok(if diffs.is_empty() {
        Exit::Success
    } else {
        Exit::Partial
    })
}

fn apply_options(g: &Global, a: &Args) -> lifeboat::host::apply::ApplyOptions {
    lifeboat::host::apply::ApplyOptions {
        live_root: a.host_root.clone(),
        firewall: a.apply_firewall,
        delete_extra: a.delete,
        dry_run: a.dry_run,
        hostname: None,
        tool_timeout: g
            .cfg()
            .map_or(lifeboat::child::DEFAULT_TIMEOUT, |c| c.host_tool_timeout()),
    }
}

/// `restore --host --apply`: write the snapshot's host files, keeping an undo snapshot.
fn host_apply(
    g: &Global,
    a: &Args,
    repo: &lifeboat::repo::Repository,
    snap: &lifeboat::snapshot::Snapshot,
) -> Result<Exit> {
    let bar = g.progress();
    let r = lifeboat::ops::host_apply::apply(repo, snap, &apply_options(g, a), &bar)
        .context("applying the host profile")?;
    if g.json {
        print_json(
            &serde_json::json!({ "host_root": a.host_root, "apply": r, "dry_run": a.dry_run }),
        )?;
    } else {
        // With --quiet only what is left undone (extra files kept) and warnings are shown.
        let detail = !g.quiet || a.dry_run;
        for c in r.checks.iter().filter(|_| detail) {
            match &c.detail {
                Some(d) => println!("check {:<40} {} ({})", esc(&c.what), c.status, esc(d)),
                None => println!("check {:<40} {}", esc(&c.what), c.status),
            }
        }
        let verb = if a.dry_run { "would write " } else { "write " };
        for d in r
            .changes
            .iter()
            .filter(|d| detail || (d.change == "extra" && !a.delete))
        {
            match d.change {
                "extra" if a.delete => println!(
                    "{}remove  {}",
                    if a.dry_run { "would " } else { "" },
                    esc(&d.path)
                ),
                "extra" => println!(
                    "keep    {} (not in the snapshot; --delete removes it)",
                    esc(&d.path)
                ),
                change => println!("{verb}{:<8} {}", change, esc(&d.path)),
            }
        }
        for f in r.firewall.iter().filter(|_| detail) {
            println!(
                "loaded  {} ({})",
                esc(&f.argv.join(" ")),
                esc(f.status.as_str())
            );
        }
        for w in &r.warnings {
            super::log::warn(w);
        }
        if a.dry_run {
            println!("dry run: checks passed, nothing written");
        } else if let Some(u) = &r.undo_snapshot {
            println!(
                "host profile applied to {}: {} file(s) written, {} removed; undo with `lifeboat restore --host --undo --host-root {}` (snapshot {})",
                show_path(&a.host_root),
                r.files_written,
                r.removed.len(),
                show_path(&a.host_root),
                &u[..8]
            );
        } else if r.files_written > 0 || !r.removed.is_empty() {
            println!(
                "host profile applied to {}: {} file(s) written, {} removed (no undo snapshot: the repository is read-only)",
                show_path(&a.host_root),
                r.files_written,
                r.removed.len()
            );
        } else {
            println!(
                "host configuration under {} already matches the snapshot",
                show_path(&a.host_root)
            );
        }
    }
    Ok(if r.kept_extra.is_empty() {
        Exit::Success
    } else {
        Exit::Partial
    })
}

/// `restore --host --undo`: put back what the last apply replaced.
fn host_undo(g: &Global, a: &Args, repo: &lifeboat::repo::Repository) -> Result<Exit> {
    let bar = g.progress();
    let r = lifeboat::host::apply::undo(repo, &apply_options(g, a), &bar)
        .context("undoing the last host apply")?;
    if g.json {
        print_json(&serde_json::json!({ "host_root": a.host_root, "undo": r }))?;
    } else if a.dry_run {
        for p in &r.would_write {
            println!("would put back {}", esc(p));
        }
        for p in &r.removed {
            println!("would remove   {}", esc(p));
        }
        println!(
            "dry run: undo snapshot {} would be applied; nothing changed",
            &r.undo_snapshot[..8]
        );
    } else {
        for p in &r.removed {
            if !g.quiet {
                println!("removed {}", esc(p));
            }
        }
        for w in &r.warnings {
            super::log::warn(w);
        }
        println!(
            "undone: {} file(s) put back under {}, {} removed (undo snapshot {} applied and deleted)",
            r.files_written,
            show_path(&a.host_root),
            r.removed.len(),
            &r.undo_snapshot[..8]
        );
    }
    Ok(if r.warnings.is_empty() {
        Exit::Success
    } else {
        Exit::Partial
    })
}

/// The warnings, failures and per-field differences of a deployment restore, on stderr (shared
/// by `restore --containers` and `rollback`); `shown` are the differences as they may be shown.
pub(super) fn print_problems(
    report: &lifeboat::docker::apply::ApplyReport,
    shown: &[(String, Vec<lifeboat::docker::compare::Difference>)],
) {
    for w in &report.warnings {
        super::log::warn(w);
    }
    for f in &report.failures {
        super::log::error(&format!(
            "container {}: {}",
            esc(&f.container),
            super::errors::describe(&f.error)
        ));
    }
    for (n, diffs) in shown {
        for d in diffs {
            eprintln!(
                "differs: container {}: {}: snapshot {} , now {}",
                esc(n),
                esc(&d.field),
                d.expected,
                d.actual
            );
        }
    }
}
