//! The deployment section of a snapshot: typed records of the Docker objects it captured
//! (FORMAT.md §8.1). The engine's own inspect documents are kept whole, so a later lifeboat can
//! replay fields an older one did not know about; volume data and image archives live in the
//! section's own tree stream, beside the file tree. A format type, so it lives with the
//! snapshot description below `docker/`, which captures and applies it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::manifest::Summary;
use super::pipeline::Session;
use crate::error::Result;
use crate::id::Id;
use crate::repo::IndexedRepo;

/// Where a volume's data and an image's archive are recorded in the deployment tree.
pub const VOLUMES_DIR: &str = "/volumes";
pub const IMAGES_DIR: &str = "/images";

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Deployment {
    pub engine: EngineInfo,
    pub containers: Vec<ContainerRecord>,
    pub networks: Vec<NetworkRecord>,
    pub volumes: Vec<VolumeRecord>,
    pub images: Vec<ImageRecord>,
    /// Tree stream holding `/volumes/NAME/...` and `/images/ID.tar`.
    pub tree: Vec<Id>,
    #[serde(default)]
    pub summary: Summary,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineInfo {
    pub version: String,
    pub api_version: String,
    pub os: String,
    pub arch: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContainerRecord {
    /// Name without the leading `/`.
    pub name: String,
    pub id: String,
    /// The image ID the container ran (`sha256:...`).
    pub image_id: String,
    /// `GET /containers/{id}/json`, whole.
    pub inspect: Value,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NetworkRecord {
    pub name: String,
    /// `GET /networks/{id}`, whole (its `Containers` map emptied: runtime state).
    pub inspect: Value,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VolumeRecord {
    pub name: String,
    /// Created by the engine for a container (`-v /path` or an image `VOLUME`), not by name.
    pub anonymous: bool,
    /// `GET /volumes/{name}`, whole.
    pub inspect: Value,
    /// Path of the data in the deployment tree, when captured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// The image of a container that mounts it (the helper container that reads or writes the
    /// data through the Engine API is created from it, never started).
    #[serde(default)]
    pub helper_image: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// `sha256:...`
    pub id: String,
    pub tags: Vec<String>,
    pub digests: Vec<String>,
    /// `GET /images/{id}/json`, whole.
    pub inspect: Value,
    /// Path of the `docker save` archive in the deployment tree (absent with `--no-images`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive: Option<String>,
    #[serde(default)]
    pub size: u64,
}

impl Deployment {
    pub fn container(&self, name: &str) -> Option<&ContainerRecord> {
        self.containers.iter().find(|c| c.name == name)
    }
    pub fn image(&self, id: &str) -> Option<&ImageRecord> {
        self.images.iter().find(|i| i.id == id)
    }
    pub fn volume(&self, name: &str) -> Option<&VolumeRecord> {
        self.volumes.iter().find(|v| v.name == name)
    }
    pub fn network(&self, name: &str) -> Option<&NetworkRecord> {
        self.networks.iter().find(|n| n.name == name)
    }
}

/// The deployment a new one is compared against, so unchanged volume files and image archives
/// are not read again.
pub enum Previous<'a> {
    /// A stored snapshot's deployment: its tree is read from the repository.
    Stored(&'a Deployment),
    /// What a write-only host remembers of its last deployment (it cannot read it back): the
    /// images it archived with their tags, and the files of its tree in order.
    Recorded {
        images: &'a [(String, Vec<String>)],
        files: &'a [super::entry::Entry],
    },
}

impl Previous<'_> {
    /// Whether the previous deployment archived image `id` under exactly `tags`.
    pub fn archived(&self, id: &str, tags: &[String]) -> bool {
        match self {
            Previous::Stored(d) => d
                .image(id)
                .is_some_and(|old| old.archive.is_some() && old.tags == tags),
            Previous::Recorded { images, .. } => {
                images.iter().any(|(i, t)| i == id && t.as_slice() == tags)
            }
        }
    }

    /// The entries of its tree, in stream order.
    pub fn entries<'r>(
        &'r self,
        repo: &'r IndexedRepo,
    ) -> Box<dyn Iterator<Item = Result<super::entry::Entry>> + 'r> {
        match self {
            Previous::Stored(d) => Box::new(super::tree::TreeReader::new(repo, &d.tree)),
            Previous::Recorded { files, .. } => Box::new(files.iter().cloned().map(Ok)),
        }
    }
}

/// A source of a deployment section (Docker objects and their data) recorded beside the files.
/// The snapshot calls `emit` inside its own pipeline run, with the previous deployment of this
/// host (if any) so unchanged data need not be read again. The seam between taking a snapshot
/// (`ops::snapshot`) and Docker's capture, here so that `docker/` need not import `ops/`.
pub trait DeploymentSource {
    fn emit(
        &self,
        s: &Session<'_, '_>,
        parent: Option<&Previous<'_>>,
        repo: &IndexedRepo,
        readers: usize,
    ) -> Result<()>;
    /// The finished section, given the tree stream the run produced.
    fn finish(&self, tree: Vec<Id>, summary: Summary) -> Deployment;
}

/// Tree path of a volume's data.
pub fn volume_path(name: &str) -> String {
    format!("{VOLUMES_DIR}/{name}")
}

/// Tree path of an image archive (`sha256:abc` → `/images/sha256-abc.tar`).
pub fn image_path(id: &str) -> String {
    format!("{IMAGES_DIR}/{}.tar", id.replace(':', "-"))
}

/// A string field of a JSON document by path (`"Config.Image"`), or "".
pub fn jstr<'v>(v: &'v Value, path: &str) -> &'v str {
    jget(v, path).and_then(Value::as_str).unwrap_or("")
}

/// A field of a JSON document by dotted path.
pub fn jget<'v>(v: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(v, |v, k| v.get(k))
}
