//! Finding snapshots: list them all, resolve a snapshot name (`latest`, `latest~N`, an ID
//! prefix, `ID~N`, each optionally `:SUBPATH`) to the snapshot a command needs, and pick the
//! parent of a new snapshot.
//!
//! `latest` is resolved within what the command says it [`Need`]s (files, a host profile, a
//! deployment, given containers, a group), never to an internal snapshot (`pre-update`, ...)
//! unless the tag filter names its tag, and preferably on this host. `~N` steps back within the
//! group of the snapshot it starts from. A damaged snapshot file could be any snapshot, so
//! `latest` refuses to guess while one exists (an integrity error naming it).

use rayon::prelude::*;

use super::group::Group;
use super::manifest::Snapshot;
use crate::error::{Error, Result};
use crate::id::Id;
use crate::repo::{FileType, Repository};

/// Every readable snapshot, oldest first. A damaged snapshot file is skipped with a notice, so
/// one bad file never stops backups or restores of the others.
pub fn all(repo: &Repository) -> Result<Vec<(Id, Snapshot)>> {
    let loaded = load_all(repo)?;
    for (_, e) in loaded.damaged {
        repo.notice(&format!("{e}; skipped"));
    }
    Ok(loaded.good)
}

/// Every snapshot, failing on the first damaged one (for `prune`, which must know every
/// snapshot's data before deleting anything).
pub fn all_strict(repo: &Repository) -> Result<Vec<(Id, Snapshot)>> {
    let loaded = load_all(repo)?;
    match loaded.damaged.into_iter().next() {
        Some((_, e)) => Err(e),
        None => Ok(loaded.good),
    }
}

/// Every snapshot file, split into the readable and the damaged.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Readable snapshots, oldest first.
    pub good: Vec<(Id, Snapshot)>,
    /// Snapshot files that failed authentication or decoding, with the error.
    pub damaged: Vec<(Id, Error)>,
}

/// Load every snapshot file; damaged ones are returned, not skipped silently.
pub fn load_all(repo: &Repository) -> Result<Loaded> {
    let ids = repo.list_ids(FileType::Snapshot)?;
    let loaded: Vec<(Id, Result<Snapshot>)> = ids
        .par_iter()
        .map(|id| (*id, repo.load_sealed::<Snapshot>(FileType::Snapshot, id)))
        .collect();
    let mut good = Vec::new();
    let mut damaged = Vec::new();
    for (id, r) in loaded {
        match r {
            Ok(s) => good.push((id, s)),
            Err(e) if e.is_integrity() => damaged.push((id, e)),
            Err(e) => return Err(e),
        }
    }
    good.sort_by(|a, b| a.1.time().cmp(&b.1.time()).then(a.0.cmp(&b.0)));
    Ok(Loaded { good, damaged })
}

/// Filters shared by commands that pick snapshots (`--hostname`, `--tag`, `--path`).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub hosts: Vec<String>,
    pub tags: Vec<String>,
    pub paths: Vec<String>,
    /// The host whose snapshots `latest` prefers when `hosts` is empty (the configured or the
    /// machine's hostname); `None`: no preference.
    pub this_host: Option<String>,
}

impl Filter {
    pub fn matches(&self, s: &Snapshot) -> bool {
        (self.hosts.is_empty() || self.hosts.contains(&s.hostname))
            && self.tags.iter().all(|t| s.tags.contains(t))
            && (self.paths.is_empty() || self.paths.iter().all(|p| s.paths_display().contains(p)))
    }

    /// Whether an internal snapshot may stand for `latest`: only when the tag filter asks for
    /// its tag.
    fn admits(&self, s: &Snapshot) -> bool {
        s.internal()
            .is_none_or(|t| self.tags.iter().any(|x| x == t))
    }
}

/// What a command needs of the snapshot a name like `latest` stands for; the default needs
/// nothing (any regular snapshot). Fields combine: all must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Need {
    /// A file tree (the snapshot was given paths).
    pub files: bool,
    /// A host profile (`snapshot --host`).
    pub host_profile: bool,
    /// A deployment (Docker objects).
    pub deployment: bool,
    /// A deployment holding each of these containers.
    pub containers: Vec<String>,
    /// A snapshot of this group (`diff`: the group of the other snapshot).
    pub group: Option<Group>,
}

impl Need {
    pub fn files() -> Need {
        Need {
            files: true,
            ..Need::default()
        }
    }

    pub fn host_profile() -> Need {
        Need {
            host_profile: true,
            ..Need::default()
        }
    }

    pub fn deployment() -> Need {
        Need {
            deployment: true,
            ..Need::default()
        }
    }

    pub fn accepts(&self, s: &Snapshot) -> bool {
        let holds = |n: &String| {
            let n = n.strip_prefix('/').unwrap_or(n);
            s.deployment
                .as_ref()
                .is_some_and(|d| d.container(n).is_some())
        };
        (!self.files || !s.paths.is_empty())
            && (!self.host_profile || s.host.is_some())
            && (!self.deployment || s.deployment.is_some())
            && self.containers.iter().all(holds)
            && self.group.as_ref().is_none_or(|g| *g == Group::of(s))
    }

    /// ` with files, with a deployment holding api, db` (empty when nothing is needed).
    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.files {
            parts.push("with files".to_string());
        }
        if self.host_profile {
            parts.push("with a host profile".to_string());
        }
        if !self.containers.is_empty() {
            parts.push(format!(
                "with a deployment holding {}",
                self.containers.join(", ")
            ));
        } else if self.deployment {
            parts.push("with a deployment (containers)".to_string());
        }
        if let Some(g) = &self.group {
            parts.push(format!("in group {g}"));
        }
        parts.iter().map(|p| format!(" {p}")).collect()
    }
}

/// A parsed snapshot name: `latest` or an ID prefix, `~N` back, `:SUBPATH`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Spec {
    /// `None`: `latest`; else a lowercase hex ID prefix.
    prefix: Option<String>,
    back: u32,
    subpath: Option<Vec<u8>>,
}

fn parse(spec: &str) -> Result<Spec> {
    let not_a_snapshot = || {
        Error::Invalid(format!(
            "{spec:?} is not a snapshot: use `latest`, at least 8 hex digits of an ID (see `lifeboat snapshots`), optionally `~N` (N snapshots before it in its group) and `:/PATH` (a directory of it)"
        ))
    };
    let (name, subpath) = match spec.split_once(':') {
        Some((name, sub)) => {
            let sub = crate::util::normalize_abs(sub.as_bytes()).map_err(|_| {
                Error::Invalid(format!(
                    "{spec:?}: the part after ':' must be an absolute path in the snapshot, like `latest:/srv/models`"
                ))
            })?;
            // `:/` is the whole snapshot.
            (name, (sub != b"/").then_some(sub))
        }
        None => (spec, None),
    };
    let (base, back) = match name.split_once('~') {
        Some((base, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
            (base, n.parse::<u32>().map_err(|_| not_a_snapshot())?)
        }
        Some(_) => return Err(not_a_snapshot()),
        None => (name, 0),
    };
    let prefix = if base == "latest" {
        None
    } else if (8..=64).contains(&base.len()) && base.bytes().all(|b| b.is_ascii_hexdigit()) {
        Some(base.to_ascii_lowercase())
    } else {
        return Err(not_a_snapshot());
    };
    Ok(Spec {
        prefix,
        back,
        subpath,
    })
}
/// The snapshots a command names (`latest`, ID prefixes; each once, in the order given), or
/// when it names none, every snapshot `filter` matches, oldest first.
pub fn pick(repo: &Repository, specs: &[String], filter: &Filter) -> Result<Vec<(Id, Snapshot)>> {
    if specs.is_empty() {
        return Ok(all(repo)?
            .into_iter()
            .filter(|(_, s)| filter.matches(s))
            .collect());
    }
    let mut picked: Vec<(Id, Snapshot)> = Vec::new();
    for spec in specs {
        let found = resolve(repo, spec, filter, &Need::default())?;
        if !picked.iter().any(|(id, _)| *id == found.0) {
            picked.push(found);
        }
    }
    Ok(picked)
}

/// Resolve a snapshot name to the whole snapshot it stands for, within `filter` and what the
/// command needs. A name with `:SUBPATH` is refused: use [`resolve_subtree`] where a command
/// works on a subtree.
pub fn resolve(
    repo: &Repository,
    spec: &str,
    filter: &Filter,
    need: &Need,
) -> Result<(Id, Snapshot)> {
    let (id, snap, sub) = resolve_subtree(repo, spec, filter, need)?;
    if sub.is_some() {
        return Err(Error::Invalid(format!(
            "{spec:?}: this command takes a whole snapshot, not SNAPSHOT:PATH"
        )));
    }
    Ok((id, snap))
}

/// Resolve a snapshot name; the third value is its `:SUBPATH`, normalised, when it has one.
pub fn resolve_subtree(
    repo: &Repository,
    spec: &str,
    filter: &Filter,
    need: &Need,
) -> Result<(Id, Snapshot, Option<Vec<u8>>)> {
    let parsed = parse(spec)?;
    let (id, snap) = match &parsed.prefix {
        Some(prefix) if parsed.back == 0 => {
            let id = find_id(repo, prefix)?;
            (id, repo.load_sealed(FileType::Snapshot, &id)?)
        }
        Some(prefix) => {
            let id = find_id(repo, prefix)?;
            let base: Snapshot = repo.load_sealed(FileType::Snapshot, &id)?;
            let loaded = load_all(repo)?;
            refuse_damaged(repo, &loaded, spec)?;
            let same = Need {
                group: Some(Group::of(&base)),
                ..need.clone()
            };
            let list: Vec<(Id, Snapshot)> = loaded
                .good
                .into_iter()
                .filter(|(i, s)| *i == id || (filter.matches(s) && same.accepts(s)))
                .collect();
            step_back(list, id, parsed.back, spec)?
        }
        None => latest(repo, spec, parsed.back, filter, need)?,
    };
    Ok((id, snap, parsed.subpath))
}

/// The ID that a snapshot name stands for, without reading the snapshot when the name is an ID
/// prefix (so a damaged snapshot file can still be named, by `forget`).
pub fn resolve_id(repo: &Repository, spec: &str, filter: &Filter, need: &Need) -> Result<Id> {
    match parse(spec)? {
        Spec {
            prefix: Some(prefix),
            back: 0,
            subpath: None,
        } => find_id(repo, &prefix),
        _ => Ok(resolve(repo, spec, filter, need)?.0),
    }
}

/// The one snapshot ID starting with `prefix` (lowercase hex).
fn find_id(repo: &Repository, prefix: &str) -> Result<Id> {
    let all = repo.list_ids(FileType::Snapshot)?;
    if all.is_empty() {
        return Err(Error::NoSnapshots);
    }
    let ids: Vec<Id> = all
        .into_iter()
        .filter(|id| id.to_hex().starts_with(prefix))
        .collect();
    match ids.as_slice() {
        [] => Err(Error::NoSuchSnapshot(format!("{prefix:?}"))),
        [id] => Ok(*id),
        many => Err(Error::AmbiguousSnapshot(
            prefix.into(),
            many.iter().map(Id::short).collect::<Vec<_>>().join(", "),
        )),
    }
}

/// A damaged snapshot file could be the snapshot a relative name stands for: refuse to guess.
fn refuse_damaged(repo: &Repository, loaded: &Loaded, spec: &str) -> Result<()> {
    let Some((id, e)) = loaded.damaged.first() else {
        return Ok(());
    };
    let detail = match e {
        Error::Corrupt { reason, .. } | Error::Hostile { reason, .. } => reason.clone(),
        other => other.to_string(),
    };
    let more = match loaded.damaged.len() {
        1 => String::new(),
        n => format!(" (and {} more damaged snapshot file(s))", n - 1),
    };
    Err(Error::corrupt(
        repo.object_name(format_args!("snapshots/{}", id.to_hex())),
        format!(
            "damaged ({detail}){more}; it could be the snapshot {spec:?} stands for, so that is not decided: name a snapshot by ID (`lifeboat snapshots`), or remove the damaged file with `lifeboat forget {}`",
            id.short()
        ),
    ))
}

/// `latest` (and `latest~back`) within `filter` and `need`.
fn latest(
    repo: &Repository,
    spec: &str,
    back: u32,
    filter: &Filter,
    need: &Need,
) -> Result<(Id, Snapshot)> {
    let loaded = load_all(repo)?;
    if loaded.good.is_empty() && loaded.damaged.is_empty() {
        return Err(Error::NoSnapshots);
    }
    refuse_damaged(repo, &loaded, spec)?;
    let internal_ok = |s: &Snapshot| {
        filter.admits(s)
            || need
                .group
                .as_ref()
                .is_some_and(|g| g.internal == s.internal())
    };
    let mut left_out: Vec<&'static str> = Vec::new();
    let mut list: Vec<(Id, Snapshot)> = Vec::new();
    for (id, s) in loaded.good {
        if !(filter.matches(&s) && need.accepts(&s)) {
            continue;
        }
        if internal_ok(&s) {
            list.push((id, s));
        } else if let Some(t) = s.internal()
            && !left_out.contains(&t)
        {
            left_out.push(t);
        }
    }
    if filter.hosts.is_empty()
        && let Some(me) = &filter.this_host
    {
        if list.iter().any(|(_, s)| s.hostname == *me) {
            list.retain(|(_, s)| s.hostname == *me);
        } else {
            let mut hosts: Vec<&str> = list.iter().map(|(_, s)| s.hostname.as_str()).collect();
            hosts.sort_unstable();
            hosts.dedup();
            if hosts.len() > 1 {
                return Err(Error::Invalid(format!(
                    "{spec:?} is ambiguous: no snapshot of this host ({me}) matches, but snapshots of {} do: choose one with --hostname HOST, or name a snapshot by ID (`lifeboat snapshots`)",
                    hosts.join(", ")
                )));
            }
        }
    }
    let Some((id, _)) = list.last() else {
        let mut what = format!("\"latest\"{}", need.describe());
        if !filter.hosts.is_empty() {
            what.push_str(&format!(" of host {}", filter.hosts.join(" or ")));
        }
        if !filter.tags.is_empty() {
            what.push_str(&format!(" tagged {}", filter.tags.join(", ")));
        }
        if !left_out.is_empty() {
            what.push_str(&format!(
                " (internal snapshots, tagged {}, are never `latest` unless --tag names the tag)",
                left_out.join(", ")
            ));
        }
        return Err(Error::NoSuchSnapshot(what));
    };
    let id = *id;
    if back == 0 {
        return Ok(list.pop().expect("not empty"));
    }
    let group = Group::of(&list.last().expect("not empty").1);
    list.retain(|(_, s)| Group::of(s) == group);
    step_back(list, id, back, spec)
}

/// The snapshot `back` places before `from` in `list` (oldest first, one group).
fn step_back(
    mut list: Vec<(Id, Snapshot)>,
    from: Id,
    back: u32,
    spec: &str,
) -> Result<(Id, Snapshot)> {
    let at = list
        .iter()
        .position(|(i, _)| *i == from)
        .ok_or_else(|| Error::NoSuchSnapshot(format!("{spec:?}")))?;
    let back = usize::try_from(back).unwrap_or(usize::MAX);
    if back > at {
        return Err(Error::NoSuchSnapshot(format!(
            "{spec:?}: its group has {} snapshot(s) up to {} (see `lifeboat snapshots`)",
            at + 1,
            from.short()
        )));
    }
    Ok(list.swap_remove(at - back))
}

/// The newest snapshot of `group`: the parent for change detection of a new snapshot of it.
pub fn parent_for(repo: &Repository, group: &Group) -> Result<Option<(Id, Snapshot)>> {
    let list = all(repo)?;
    Ok(list.into_iter().rev().find(|(_, s)| Group::of(s) == *group))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_into_base_steps_back_and_subpath() {
        let p = parse("latest").unwrap();
        assert_eq!((p.prefix, p.back, p.subpath), (None, 0, None));
        let p = parse("latest~2:/srv//models/").unwrap();
        assert_eq!(
            (p.prefix, p.back, p.subpath),
            (None, 2, Some(b"/srv/models".to_vec()))
        );
        let p = parse("ABCDEF12~1").unwrap();
        assert_eq!(p.prefix.as_deref(), Some("abcdef12"));
        for bad in [
            "latestt",
            "latest~",
            "latest~x",
            "latest~-1",
            "abcdef1",
            "abcdef12:rel",
            "abcdef12:/a/../b",
            "latest~99999999999",
            "",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
