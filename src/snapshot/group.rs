//! Snapshot groups: what a snapshot selected (paths, model directories, containers, host
//! profile) on which host, and whether an internal step made it (`pre-update`, `pre-rollback`,
//! `host-undo`). `latest`, retention and the parent of a new snapshot all work within a group,
//! so a partial snapshot never stands in for a full one.

use std::borrow::Cow;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use super::manifest::Snapshot;
use crate::error::Result;
use crate::id::Id;

/// Tags of the snapshots lifeboat takes for itself: the way back of an update, of a rollback
/// and of a host apply. Each such snapshot is in a group of its own kind, is never anyone's
/// plain `latest`, and is never the parent of a regular snapshot.
pub const INTERNAL_TAGS: [&str; 3] = [
    crate::ops::update::PRE_UPDATE_TAG,
    crate::ops::update::PRE_ROLLBACK_TAG,
    crate::host::apply::UNDO_TAG,
];

/// The internal tag of a snapshot with these tags, if any (the first in [`INTERNAL_TAGS`]).
pub fn internal_tag(tags: &[String]) -> Option<&'static str> {
    INTERNAL_TAGS
        .iter()
        .find(|t| tags.iter().any(|x| x == *t))
        .copied()
}

/// Which containers a snapshot was asked for (FORMAT.md §8, `selection.containers`).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Containers {
    /// `--container` names, sorted, without a leading `/`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    /// `--all-containers`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all: bool,
    /// `--compose-project`, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compose_projects: Vec<String>,
    /// `--label`, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
}

impl Containers {
    /// A selection in canonical form (sorted, without duplicates), so that the order of the
    /// flags never makes another group.
    pub fn new(names: &[String], all: bool, projects: &[String], labels: &[String]) -> Self {
        let canon = |v: &[String], f: fn(&str) -> &str| {
            let mut v: Vec<String> = v.iter().map(|s| f(s).to_string()).collect();
            v.sort();
            v.dedup();
            v
        };
        Containers {
            names: canon(names, |s| s.strip_prefix('/').unwrap_or(s)),
            all,
            compose_projects: canon(projects, |s| s),
            labels: canon(labels, |s| s),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
            && !self.all
            && self.compose_projects.is_empty()
            && self.labels.is_empty()
    }
}

/// What a snapshot was asked to capture (FORMAT.md §8, `selection`). Recorded by every
/// snapshot since it was introduced; for older ones [`Selection::derived`] reconstructs what
/// it can.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Selection {
    /// The paths named, absolute and normalised as the snapshot stores them (sorted by
    /// component, nested paths dropped).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<ByteBuf>,
    /// Model directories (`--models`, `models.dirs`), likewise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<ByteBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub containers: Option<Containers>,
    /// The host root of the host profile, when one was captured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_root: Option<String>,
}

fn normalized(paths: &[PathBuf]) -> Result<Vec<ByteBuf>> {
    Ok(crate::source::fs::normalize_roots(paths)?
        .into_iter()
        .map(|p| ByteBuf::from(p.as_os_str().as_bytes().to_vec()))
        .collect())
}

impl Selection {
    /// The selection of a snapshot of `paths` and `models` (normalised the way the snapshot
    /// stores paths: they must exist) and, when given, containers. The host root is filled in
    /// from the host section when the snapshot is made.
    pub fn new(
        paths: &[PathBuf],
        models: &[PathBuf],
        containers: Option<Containers>,
    ) -> Result<Selection> {
        Ok(Selection {
            paths: normalized(paths)?,
            models: normalized(models)?,
            containers: containers.filter(|c| !c.is_empty()),
            host_root: None,
        })
    }

    /// What can be told of a snapshot that did not record its selection: its paths without
    /// those of the host profile, the containers its deployment holds (as names), and the host
    /// root. Model directories and compose files count as paths.
    pub fn derived(s: &Snapshot) -> Selection {
        let host_paths: Vec<Vec<u8>> = s
            .host
            .iter()
            .flat_map(|h| {
                let root = std::path::Path::new(&h.root);
                h.items.iter().flat_map(move |i| {
                    i.found.iter().map(move |f| {
                        crate::host::join(root, std::path::Path::new(f))
                            .as_os_str()
                            .as_bytes()
                            .to_vec()
                    })
                })
            })
            .collect();
        // Already in the order `normalize_roots` gives, as a recorded selection is.
        let paths: Vec<ByteBuf> = s
            .paths
            .iter()
            .filter(|p| !host_paths.iter().any(|h| h.as_slice() == p.as_slice()))
            .cloned()
            .collect();
        Selection {
            paths,
            models: Vec::new(),
            containers: s.deployment.as_ref().map(|d| {
                let names: Vec<String> = d.containers.iter().map(|c| c.name.clone()).collect();
                Containers::new(&names, false, &[], &[])
            }),
            host_root: s.host.as_ref().map(|h| h.root.clone()),
        }
    }

    /// `paths=/a,/b models=/m containers=api,db host-profile=/`: `paths=` always, the rest
    /// when present.
    fn write_label(&self, out: &mut Vec<String>) {
        let list = |v: &[ByteBuf]| {
            v.iter()
                .map(|p| crate::util::show(p))
                .collect::<Vec<_>>()
                .join(",")
        };
        out.push(format!("paths={}", list(&self.paths)));
        if !self.models.is_empty() {
            out.push(format!("models={}", list(&self.models)));
        }
        if let Some(c) = &self.containers {
            if !c.names.is_empty() {
                out.push(format!("containers={}", c.names.join(",")));
            }
            if c.all {
                out.push("all-containers".into());
            }
            if !c.compose_projects.is_empty() {
                out.push(format!("compose={}", c.compose_projects.join(",")));
            }
            if !c.labels.is_empty() {
                out.push(format!("labels={}", c.labels.join(",")));
            }
        }
        if let Some(root) = &self.host_root {
            out.push(format!("host-profile={root}"));
        }
    }
}

impl Snapshot {
    /// What the snapshot selected: as recorded, or derived for a snapshot that did not record it.
    pub fn selection(&self) -> Cow<'_, Selection> {
        match &self.selection {
            Some(s) => Cow::Borrowed(s),
            None => Cow::Owned(Selection::derived(self)),
        }
    }

    /// The internal tag (`pre-update`, `pre-rollback`, `host-undo`) when lifeboat took the
    /// snapshot for itself.
    pub fn internal(&self) -> Option<&'static str> {
        internal_tag(&self.tags)
    }
}

/// A snapshot group: the fields a [`GroupBy`] keeps (unset ones are `None`), and always the
/// internal tag, so internal snapshots never share a group with regular ones.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Group {
    pub hostname: Option<String>,
    pub selection: Option<Selection>,
    /// Sorted.
    pub tags: Option<Vec<String>>,
    pub internal: Option<&'static str>,
}

impl Group {
    /// The group `latest` and the parent choice work in: host, selection and internal tag.
    pub fn of(s: &Snapshot) -> Group {
        GroupBy::DEFAULT.group(s)
    }
}

impl fmt::Display for Group {
    /// `host=h paths=/srv containers=api tags=a,b internal=pre-update`, fields in that order,
    /// those not grouped by left out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(h) = &self.hostname {
            parts.push(format!("host={h}"));
        }
        if let Some(s) = &self.selection {
            s.write_label(&mut parts);
        }
        if let Some(t) = &self.tags {
            parts.push(format!("tags={}", t.join(",")));
        }
        if let Some(i) = self.internal {
            parts.push(format!("internal={i}"));
        }
        f.write_str(&parts.join(" "))
    }
}

/// Which fields make a group for retention (`forget --group-by`). `paths` stands for the whole
/// selection: paths, model directories, containers and host profile. Internal snapshots are
/// always grouped apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GroupBy {
    pub host: bool,
    pub paths: bool,
    pub tags: bool,
}

impl GroupBy {
    /// Host and selection: restic's default (host, paths), with lifeboat's wider selection.
    pub const DEFAULT: GroupBy = GroupBy {
        host: true,
        paths: true,
        tags: false,
    };

    pub fn parse(s: &str) -> std::result::Result<GroupBy, String> {
        let mut g = GroupBy::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "host" => g.host = true,
                "paths" => g.paths = true,
                "tags" => g.tags = true,
                other => {
                    return Err(format!(
                        "unknown group-by field {other:?} (use host, paths, tags)"
                    ));
                }
            }
        }
        Ok(g)
    }

    /// The group of `s` under this grouping.
    pub fn group(&self, s: &Snapshot) -> Group {
        Group {
            hostname: self.host.then(|| s.hostname.clone()),
            selection: self.paths.then(|| s.selection().into_owned()),
            tags: self.tags.then(|| {
                let mut t = s.tags.clone();
                t.sort();
                t
            }),
            internal: s.internal(),
        }
    }
}

/// The `n` newest snapshots of each group (`snapshots --latest N`), in the order of `list`.
pub fn newest_per_group(list: Vec<(Id, Snapshot)>, n: usize) -> Vec<(Id, Snapshot)> {
    let mut order: Vec<usize> = (0..list.len()).collect();
    order.sort_by(|&a, &b| {
        list[b]
            .1
            .time()
            .cmp(&list[a].1.time())
            .then(list[b].0.cmp(&list[a].0))
    });
    let mut seen: std::collections::HashMap<Group, usize> = Default::default();
    let mut keep = vec![false; list.len()];
    for i in order {
        let c = seen.entry(Group::of(&list[i].1)).or_default();
        if *c < n {
            *c += 1;
            keep[i] = true;
        }
    }
    list.into_iter()
        .zip(keep)
        .filter_map(|(s, k)| k.then_some(s))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::model::{ContainerRecord, Deployment};

    fn snap(host: &str, paths: &[&str], tags: &[&str]) -> Snapshot {
        Snapshot {
            version: 1,
            time: "2026-01-01T00:00:00Z".into(),
            hostname: host.into(),
            username: "u".into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            paths: paths
                .iter()
                .map(|p| ByteBuf::from(p.as_bytes().to_vec()))
                .collect(),
            parent: None,
            tree: vec![],
            summary: Default::default(),
            excludes: vec![],
            program: String::new(),
            deployment: None,
            host: None,
            selection: None,
            original: None,
        }
    }

    fn with_containers(mut s: Snapshot, names: &[&str]) -> Snapshot {
        s.deployment = Some(Deployment {
            containers: names
                .iter()
                .map(|n| ContainerRecord {
                    name: n.to_string(),
                    id: String::new(),
                    image_id: String::new(),
                    inspect: serde_json::Value::Null,
                })
                .collect(),
            ..Deployment::default()
        });
        s
    }

    #[test]
    fn a_pre_update_snapshot_of_one_container_is_its_own_internal_group() {
        let full = with_containers(snap("h", &["/srv"], &[]), &["api", "db"]);
        let pre = with_containers(snap("h", &[], &["pre-update"]), &["api"]);
        let (gf, gp) = (Group::of(&full), Group::of(&pre));
        assert_ne!(gf, gp);
        assert_eq!(gf.to_string(), "host=h paths=/srv containers=api,db");
        assert_eq!(
            gp.to_string(),
            "host=h paths= containers=api internal=pre-update"
        );
        // Same selection, but one is internal: still two groups.
        let full_tagged = with_containers(snap("h", &["/srv"], &["pre-update"]), &["api", "db"]);
        assert_ne!(Group::of(&full_tagged), gf);
        // Grouping by host alone still keeps internal snapshots apart.
        let by_host = GroupBy::parse("host").unwrap();
        assert_ne!(by_host.group(&full), by_host.group(&pre));
        assert_eq!(
            by_host.group(&full),
            by_host.group(&with_containers(snap("h", &["/x"], &[]), &["z"]))
        );
    }

    #[test]
    fn a_recorded_selection_wins_over_what_can_be_derived() {
        let mut s = with_containers(snap("h", &["/srv", "/srv/compose.yml"], &[]), &["web"]);
        let derived = Group::of(&s);
        assert_eq!(
            derived.to_string(),
            "host=h paths=/srv,/srv/compose.yml containers=web"
        );
        s.selection = Some(Selection {
            paths: vec![ByteBuf::from(b"/srv".to_vec())],
            containers: Some(Containers::new(&[], false, &["shop".into()], &[])),
            ..Selection::default()
        });
        assert_eq!(Group::of(&s).to_string(), "host=h paths=/srv compose=shop");
        // Flag order and a leading '/' do not make another group.
        assert_eq!(
            Containers::new(&["/b".into(), "a".into(), "b".into()], false, &[], &[]),
            Containers::new(&["a".into(), "b".into()], false, &[], &[])
        );
    }

    #[test]
    fn derived_selection_leaves_out_the_host_profiles_files() {
        let mut s = snap("h", &["/data", "/etc/ssh/sshd_config"], &[]);
        s.host = Some(crate::host::HostSection {
            root: "/".into(),
            items: vec![crate::host::ItemState {
                pattern: "/etc/ssh/sshd_config".into(),
                found: vec!["/etc/ssh/sshd_config".into()],
            }],
            commands: vec![],
        });
        assert_eq!(
            Group::of(&s).to_string(),
            "host=h paths=/data host-profile=/"
        );
    }

    #[test]
    fn newest_per_group_keeps_n_of_each() {
        let mut list = Vec::new();
        for (i, (p, tag)) in [("/a", ""), ("/b", ""), ("/a", ""), ("/a", "pre-update")]
            .iter()
            .enumerate()
        {
            let tags: Vec<&str> = Some(*tag).filter(|t| !t.is_empty()).into_iter().collect();
            let mut s = snap("h", &[p], &tags);
            s.time = format!("2026-01-0{}T00:00:00Z", i + 1);
            list.push((Id::random(), s));
        }
        let times = |v: Vec<(Id, Snapshot)>| v.into_iter().map(|(_, s)| s.time).collect::<Vec<_>>();
        assert_eq!(
            times(newest_per_group(list.clone(), 1)),
            vec![
                "2026-01-02T00:00:00Z",
                "2026-01-03T00:00:00Z",
                "2026-01-04T00:00:00Z"
            ]
        );
        assert_eq!(newest_per_group(list, 2).len(), 4);
    }
}
