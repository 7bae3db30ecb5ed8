//! The repository: the only code that knows lifeboat's byte format (docs/FORMAT.md).
//!
//! Storage is behind [`backend::Backend`] (a local directory today); the types above it never
//! name a backend, so a second one (object storage) is one more adapter and no new call sites.
//!
//! A repository handle has two states, and each state's type has only the methods it allows:
//! - [`Repository`] (opened: `init`, `open`, `open_with`): the keys and the configuration are
//!   read. It reads and writes sealed files (snapshots, index files) and deletes them, reads
//!   packs raw, manages key files, and takes locks (waiting as long as [`OpenOptions`] said
//!   when it was opened).
//! - [`IndexedRepo`] (`repo.indexed()`, after taking a lock when the command locks): the
//!   opened repository plus the index of every stored blob. Only it locates and reads blobs
//!   (`read_blob`, `read_blob_into`), writes new ones (`pack_writer`) and secures a new
//!   snapshot's references against a concurrent prune. It derefs to [`Repository`].
//!   `repo.indexed_from(files)` makes one from index files a command read strictly itself
//!   (prune, verify).
//!
//! The rule for callers: an operation that takes a lock (snapshot, restore, prune, verify,
//! forget) takes a `&Repository` and makes its indexed handle after locking, so the index is
//! that moment's; a reader that takes no lock (ls, diff, find, stats, audit) takes an
//! `&IndexedRepo` its caller made.
//!
//! What a handle may do besides is decided when it is opened and checked in one place,
//! [`Repository::require`]: today every key reads and writes; a write-only key (one that
//! seals packs and snapshots but cannot decrypt) or a read-only backend narrows [`Access`]
//! there, and the existing calls then fail with a clear error instead of needing new ones.

pub mod archive;
pub mod backend;
mod blobs;
mod cache;
mod configfile;
pub mod hostkey;
pub mod hosts;
pub mod index;
mod indexed;
mod keyops;
pub mod keyring;
pub mod keys;
pub mod location;
pub mod lock;
pub mod pack;
mod packcache;
pub mod published;
pub mod s3;
mod sealed;
pub mod writer;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use archive::{ArchiveMeta, ArchiveReader, ArchiveWriter};
pub use backend::{Backend, FileType, LocalBackend};
pub use index::{IdSet, Index, IndexFile, Location};
pub use indexed::IndexedRepo;
pub use location::{RepoLocation, S3Location, backend_for};
pub use lock::{LockGuard, LockKind};
pub use pack::BlobKind;
pub use s3::{S3Backend, S3Options};
pub use writer::PackWriter;

use crate::chunk::Compression;
use crate::chunk::cdc::{ChunkerParams, Gear};
pub use configfile::FORMAT_VERSION;
pub use hostkey::{HostKey, HostKeyFile};
pub use keyring::Keyring;
pub use sealed::Signer;

use crate::crypto::recipient::OwnerSecret;
use crate::crypto::{KdfParams, MasterKeys};
use crate::error::{Error, Result};
use crate::observer::{Observer, Warning};

/// Largest decompressed sealed file (index, snapshot) a reader accepts. Writers stay far
/// below it: index files hold at most about 150,000 blobs (about 13 MiB).
const MAX_SEALED_PLAIN: u64 = 64 << 20;
const DEFAULT_PACK_SIZE: u64 = 16 << 20;

/// The sealed configuration (FORMAT.md §5).
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct RepoConfig {
    #[serde(with = "serde_bytes")]
    pub id: Vec<u8>,
    pub created: String,
    pub chunker: ChunkerParams,
    pub tree_chunker: ChunkerParams,
    pub pack_size: u64,
    /// Version 2: the owner's X25519 public key, which every object is sealed to.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "serde_bytes")]
    pub owner_x25519: Option<Vec<u8>>,
    /// Version 2: the owner's Ed25519 public key, which signs what hosts may trust.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "serde_bytes")]
    pub owner_ed25519: Option<Vec<u8>>,
}

/// The chunking and packing parameters a new repository is made with (FORMAT.md §5).
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    pub chunker: ChunkerParams,
    pub tree_chunker: ChunkerParams,
    pub pack_size: u64,
}

impl Default for Layout {
    fn default() -> Self {
        Layout {
            chunker: ChunkerParams::DATA,
            tree_chunker: ChunkerParams::TREE,
            pack_size: DEFAULT_PACK_SIZE,
        }
    }
}

impl RepoConfig {
    /// This repository's chunking and packing parameters.
    pub fn layout(&self) -> Layout {
        Layout {
            chunker: self.chunker,
            tree_chunker: self.tree_chunker,
            pack_size: self.pack_size,
        }
    }
}

/// How a repository is opened: said once, used by every operation on the handle.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// How long [`Repository::lock`] waits for a lock held by another lifeboat.
    pub lock_wait: Duration,
    /// Where to cache sealed files (index, snapshots) of this repository; `None`: no cache.
    pub cache_dir: Option<std::path::PathBuf>,
    /// Where a write-only host key keeps its cache of what it uploaded (FORMAT.md §13.4);
    /// `None`: none, so every snapshot reads every file.
    pub host_cache_dir: Option<std::path::PathBuf>,
}

/// What an opened handle may do (see the module comment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    /// Decrypt sealed files and blobs.
    pub read: bool,
    /// Write packs, sealed files and key files.
    pub write: bool,
    /// Delete them (forget, prune, key remove): the owner's alone.
    pub delete: bool,
}

impl Access {
    /// A master key on a writable backend: everything.
    pub const FULL: Access = Access {
        read: true,
        write: true,
        delete: true,
    };
    /// A master key on read-only storage (an archive).
    pub const READ_ONLY: Access = Access {
        read: true,
        write: false,
        delete: false,
    };
    /// A write-only host key (FORMAT.md §13).
    pub const WRITE_ONLY: Access = Access {
        read: false,
        write: true,
        delete: false,
    };
}

/// One thing an operation needs the handle to allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    Read,
    Write,
    Delete,
}

/// An opened repository (see the module comment for its states).
#[derive(Clone)]
pub struct Repository {
    backend: Arc<dyn Backend>,
    keys: Arc<Keyring>,
    config: RepoConfig,
    data_gear: Gear,
    tree_gear: Gear,
    compression: Compression,
    observer: Arc<dyn Observer>,
    /// Name of the key file the password opened (`keys/<name>`).
    key_in_use: String,
    options: OpenOptions,
    access: Access,
    /// The register of host keys, read once when a snapshot's signature is first checked.
    hosts: Arc<std::sync::OnceLock<Vec<hosts::HostRecord>>>,
    cache: Option<Arc<cache::SealedCache>>,
    /// Whole packs in memory, for a remote backend (see [`Repository::read_packed`]).
    packs: Option<Arc<packcache::PackCache>>,
}

impl std::fmt::Debug for Repository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Repository({})", self.backend.location())
    }
}

fn sealed_label(t: FileType) -> &'static str {
    match t {
        FileType::Snapshot => "snapshot",
        FileType::Index => "index",
        _ => "other",
    }
}

impl Repository {
    /// Create a new repository protected by `password`.
    pub fn init(backend: Arc<dyn Backend>, password: &[u8], kdf: KdfParams) -> Result<Repository> {
        Self::init_with(backend, password, kdf, &Layout::default())
    }

    /// Create a new repository with the chunking and pack parameters of `layout` (an export
    /// makes its archive repository like the one it reads from).
    pub fn init_with(
        backend: Arc<dyn Backend>,
        password: &[u8],
        kdf: KdfParams,
        layout: &Layout,
    ) -> Result<Repository> {
        Self::init_version(backend, password, kdf, layout, FORMAT_VERSION)
    }

    /// A new repository in format version 1, as lifeboat wrote them before version 2: for
    /// tests of reading old repositories and of `migrate`.
    #[doc(hidden)]
    pub fn init_v1(
        backend: Arc<dyn Backend>,
        password: &[u8],
        kdf: KdfParams,
    ) -> Result<Repository> {
        Self::init_version(backend, password, kdf, &Layout::default(), 1)
    }

    fn init_version(
        backend: Arc<dyn Backend>,
        password: &[u8],
        kdf: KdfParams,
        layout: &Layout,
        version: u32,
    ) -> Result<Repository> {
        let loc = backend.location();
        if backend.exists().map_err(|e| Error::io(&loc, e))? {
            return Err(Error::RepositoryExists(loc));
        }
        kdf.check_bounds("new key")?;
        let keys = MasterKeys::generate();
        let owner = (version >= 2).then(OwnerSecret::generate);
        let (key_id, key_bytes) = keys::KeyFile::create(&keys, password, kdf)?;
        backend.create().map_err(|e| Error::io(&loc, e))?;
        let public = owner.as_ref().map(OwnerSecret::public);
        let config = RepoConfig {
            id: keys.repo_id.to_vec(),
            created: crate::util::now_rfc3339(),
            chunker: layout.chunker,
            tree_chunker: layout.tree_chunker,
            pack_size: layout.pack_size,
            owner_x25519: public.map(|p| p.x25519.to_vec()),
            owner_ed25519: public.map(|p| p.ed25519.to_vec()),
        };
        backend
            .write(FileType::Key, &key_id.to_hex(), &key_bytes)
            .map_err(|e| Error::io(format!("{loc}/keys"), e))?;
        let file = match &owner {
            Some(owner) => configfile::encode_v2(&config, &keys, owner),
            None => configfile::encode_v1(&config, &keys),
        };
        // The config is written last: a repository exists once it is complete.
        backend
            .write(FileType::Config, "config", &file)
            .map_err(|e| Error::io(format!("{loc}/config"), e))?;
        Ok(Self::assemble(
            backend,
            Keyring::owner(version, keys, owner)?,
            config,
            key_id.to_hex(),
            OpenOptions::default(),
        ))
    }

    /// Upgrade a version 1 repository to version 2 (FORMAT.md §13.7): make the owner's key
    /// pairs and rewrite `config`. Stored objects stay as they are. Returns the handle,
    /// reopened as version 2.
    pub fn migrate(self) -> Result<Repository> {
        self.require(Capability::Write)?;
        let master = self
            .keys
            .master()
            .ok_or_else(|| Error::Internal("migrate needs the owner's keys".into()))?;
        if self.keys.version() >= 2 {
            return Err(Error::Invalid(format!(
                "{}: already format version {}",
                self.backend.location(),
                self.keys.version()
            )));
        }
        let owner = OwnerSecret::generate();
        let public = owner.public();
        let mut config = self.config.clone();
        config.owner_x25519 = Some(public.x25519.to_vec());
        config.owner_ed25519 = Some(public.ed25519.to_vec());
        let file = configfile::encode_v2(&config, master, &owner);
        self.backend
            .replace(FileType::Config, "config", &file)
            .map_err(|e| Error::io(config_object(&*self.backend), e))?;
        let master = MasterKeys::from_payload(&master.wrap_payload(), "key")?;
        let mut repo = Self::assemble(
            self.backend.clone(),
            Keyring::owner(2, master, Some(owner))?,
            config,
            self.key_in_use.clone(),
            self.options.clone(),
        );
        repo.observer = self.observer.clone();
        repo.compression = self.compression;
        Ok(repo)
    }

    fn assemble(
        backend: Arc<dyn Backend>,
        keys: Keyring,
        config: RepoConfig,
        key_in_use: String,
        options: OpenOptions,
    ) -> Repository {
        let data_gear = Gear::new(config.chunker, keys.chunker_seed());
        let tree_gear = Gear::new(config.tree_chunker, keys.chunker_seed().rotate_left(32));
        let cache = options
            .cache_dir
            .as_deref()
            .and_then(|root| cache::SealedCache::open(root, &config.id))
            .map(Arc::new);
        let packs = backend
            .is_remote()
            .then(|| Arc::new(packcache::PackCache::new(PACKS_HELD)));
        let access = match (backend.is_read_only(), keys.is_host()) {
            (true, false) => Access::READ_ONLY,
            (false, false) => Access::FULL,
            (read_only, true) => Access {
                write: !read_only,
                ..Access::WRITE_ONLY
            },
        };
        Repository {
            cache,
            packs,
            backend,
            keys: Arc::new(keys),
            config,
            data_gear,
            tree_gear,
            compression: Compression::default(),
            observer: Arc::new(crate::observer::Silent),
            key_in_use,
            options,
            access,
            hosts: Arc::default(),
        }
    }

    /// Read the header of `config`: refuses unknown formats before any password is asked.
    /// Returns the file and its format version.
    pub fn check_format(backend: &dyn Backend) -> Result<(Vec<u8>, u32)> {
        let loc = backend.location();
        if !backend.exists().map_err(|e| Error::io(&loc, e))? {
            return Err(Error::NoRepository(loc));
        }
        let file = backend
            .read(FileType::Config, "config")
            .map_err(|e| Error::io(format!("{loc}/config"), e))?;
        if file.len() < 12 || &file[..8] != configfile::MAGIC {
            return Err(Error::corrupt(
                config_object(backend),
                "not a lifeboat repository (bad magic)",
            ));
        }
        let version = u32::from_le_bytes(file[8..12].try_into().expect("4 bytes"));
        if !(1..=FORMAT_VERSION).contains(&version) {
            return Err(Error::UnsupportedVersion(
                config_object(backend),
                u64::from(version),
            ));
        }
        Ok((file, version))
    }

    /// Open an existing repository with `password` and default [`OpenOptions`].
    pub fn open(backend: Arc<dyn Backend>, password: &[u8]) -> Result<Repository> {
        Self::open_with(backend, password, &OpenOptions::default())
    }

    /// Open an existing repository with `password`.
    pub fn open_with(
        backend: Arc<dyn Backend>,
        password: &[u8],
        options: &OpenOptions,
    ) -> Result<Repository> {
        let (file, version) = Self::check_format(&*backend)?;
        let object = config_object(&*backend);
        let parsed = configfile::parse(&file, version, &object)?;
        let (keys, key_in_use) = Self::unlock(&*backend, password)?;
        let (config, owner) = parsed.open_as_owner(&keys, &object)?;
        check_config(&config, &keys.repo_id, &object)?;
        Ok(Self::assemble(
            backend,
            Keyring::owner(version, keys, owner)?,
            config,
            key_in_use,
            options.clone(),
        ))
    }

    /// Open a version 2 repository with a write-only host key: it adds snapshots and reads
    /// nothing (FORMAT.md §13). The config is trusted only when the owner named in the key
    /// file signed it.
    pub fn open_host(
        backend: Arc<dyn Backend>,
        key: HostKey,
        options: &OpenOptions,
    ) -> Result<Repository> {
        let (file, version) = Self::check_format(&*backend)?;
        let object = config_object(&*backend);
        let parsed = configfile::parse(&file, version, &object)?;
        let config = parsed.open_as_host(&key.owner, &object)?;
        check_config(&config, &key.repo_id, &object)?;
        let hostname = key.hostname.clone();
        Ok(Self::assemble(
            backend,
            Keyring::host(key)?,
            config,
            format!("host key of {hostname}"),
            options.clone(),
        ))
    }

    /// Find the key file `password` opens. Distinguishes a wrong password from damaged keys.
    fn unlock(backend: &dyn Backend, password: &[u8]) -> Result<(MasterKeys, String)> {
        if password.is_empty() {
            return Err(Error::Password("empty password".into()));
        }
        let names = backend
            .list(FileType::Key)
            .map_err(|e| Error::io("keys", e))?;
        let mut damaged: Vec<Error> = Vec::new();
        let mut intact = 0;
        for name in names.iter().filter(|n| keys::is_key_file_name(n)) {
            let parsed = backend
                .read(FileType::Key, name)
                .map_err(|e| Error::io(format!("keys/{name}"), e))
                .and_then(|b| keys::KeyFile::parse(name, &b));
            let (kf, params) = match parsed {
                Ok(p) => p,
                Err(e) => {
                    damaged.push(e);
                    continue;
                }
            };
            intact += 1;
            match kf.unlock(name, &params, password) {
                Ok(keys::Unlock::Opened(k)) => return Ok((k, name.clone())),
                Ok(keys::Unlock::WrongPassword) => {}
                Err(e) => damaged.push(e),
            }
        }
        match damaged.into_iter().next() {
            None if intact > 0 => Err(Error::WrongPassword),
            None => Err(Error::corrupt("keys", "the repository has no key files")),
            Some(first) => Err(match first {
                Error::Corrupt { object, reason } => Error::Corrupt {
                    object,
                    reason: format!(
                        "{reason}; the password opens none of the {intact} intact key(s)"
                    ),
                },
                other => other,
            }),
        }
    }

    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    /// How the handle was opened.
    pub fn options(&self) -> &OpenOptions {
        &self.options
    }

    /// The keys this handle holds, and every seal and open with them.
    pub fn keys(&self) -> &Keyring {
        &self.keys
    }

    pub fn config(&self) -> &RepoConfig {
        &self.config
    }

    pub fn data_gear(&self) -> &Gear {
        &self.data_gear
    }

    pub fn tree_gear(&self) -> &Gear {
        &self.tree_gear
    }

    pub fn compression(&self) -> Compression {
        self.compression
    }

    pub fn set_compression(&mut self, c: Compression) {
        self.compression = c;
    }

    /// What this handle may do.
    pub fn access(&self) -> Access {
        self.access
    }

    /// The one place a handle's capabilities are checked (see the module comment).
    pub fn require(&self, capability: Capability) -> Result<()> {
        let allowed = match capability {
            Capability::Read => self.access.read,
            Capability::Write => self.access.write,
            Capability::Delete => self.access.delete,
        };
        if allowed {
            return Ok(());
        }
        if capability != Capability::Read && self.backend.is_read_only() {
            return Err(self.backend.refusal("nothing can be written to it"));
        }
        if let Some(host) = self.keys.host_key() {
            return Err(Error::WriteOnly {
                hostname: host.hostname.clone(),
                refused: match capability {
                    Capability::Delete => "delete anything from the repository".into(),
                    _ => "read the repository's snapshots, index or data".into(),
                },
            });
        }
        Err(Error::Invalid(format!(
            "{}: this key cannot {} the repository",
            self.backend.location(),
            match capability {
                Capability::Read => "read",
                Capability::Write => "write to",
                Capability::Delete => "delete from",
            }
        )))
    }

    /// How messages name an object of this repository (`pack 3f2a...`): as it is, or after
    /// what holds the repository when that is worth saying (`archive /srv/host.lbx: pack ...`).
    pub fn object_name(&self, object: impl std::fmt::Display) -> String {
        match self.backend.container() {
            Some(c) => format!("{c}: {object}"),
            None => object.to_string(),
        }
    }

    /// Whether `password` opens one of this repository's key files (an export refuses an
    /// archive password that would also open the repository it reads). A damaged key file
    /// opens with no password.
    pub fn password_opens(&self, password: &[u8]) -> Result<bool> {
        match Self::unlock(&*self.backend, password) {
            Ok(_) => Ok(true),
            Err(e @ Error::Io { .. }) => Err(e),
            Err(_) => Ok(false),
        }
    }

    /// Take a lock, waiting for conflicting holders as long as the [`OpenOptions`] said. A
    /// write-only host key takes none (it could not remove it, FORMAT.md §13.5).
    pub fn lock(&self, kind: LockKind, command: &str) -> Result<LockGuard> {
        if let Some(host) = self.keys.host_key() {
            return Err(Error::WriteOnly {
                hostname: host.hostname.clone(),
                refused: format!("take a lock ({command})"),
            });
        }
        lock::acquire(self.backend.clone(), kind, command, self.options.lock_wait)
    }

    /// The host key register, read once per handle.
    fn hosts_cached(&self) -> Result<&[hosts::HostRecord]> {
        if let Some(h) = self.hosts.get() {
            return Ok(h);
        }
        let read = self.host_records()?;
        Ok(self.hosts.get_or_init(|| read))
    }

    /// Install the observer told of damage that is worked around (a damaged index or
    /// snapshot file that is skipped); the default drops it.
    pub fn set_observer(&mut self, observer: Arc<dyn Observer>) {
        self.observer = observer;
    }

    /// Report damage that is being worked around.
    pub fn notice(&self, msg: &str) {
        self.observer.warn(Warning::damage(msg));
    }
}

/// Refuse a configuration that does not belong to `repo_id` or has impossible parameters.
fn check_config(config: &RepoConfig, repo_id: &[u8; 8], object: &str) -> Result<()> {
    if config.id != repo_id {
        return Err(Error::corrupt(
            object,
            "repository id differs from the key's",
        ));
    }
    if !config.chunker.is_sane() || !config.tree_chunker.is_sane() {
        return Err(Error::hostile(object, "chunker parameters out of bounds"));
    }
    if !(1 << 20..=1 << 30).contains(&config.pack_size) {
        return Err(Error::hostile(
            object,
            format!("pack size {} out of bounds", config.pack_size),
        ));
    }
    Ok(())
}

/// How messages name the `config` file of the repository on `backend`.
fn config_object(backend: &dyn Backend) -> String {
    match backend.container() {
        Some(c) => format!("{c}: config"),
        None => "config".into(),
    }
}

/// Packs a remote repository's handle keeps in memory (16 MiB each by default).
const PACKS_HELD: usize = 4;

/// A failed pack read in the repository's terms: a missing or short pack is damage.
fn pack_read_error(object: &str, e: std::io::Error, offset: u64, len: usize) -> Error {
    if let Some(a) = crate::error::ArchiveError::of(&e) {
        return Error::Archive(a.clone());
    }
    match e.kind() {
        std::io::ErrorKind::NotFound if crate::error::StorageError::of(&e).is_none() => {
            Error::corrupt(object, "pack file is missing")
        }
        std::io::ErrorKind::UnexpectedEof => {
            Error::corrupt(object, format!("truncated: no bytes at {offset}+{len}"))
        }
        _ => Error::io(object, e),
    }
}

/// Open the repository in a local directory with default [`OpenOptions`].
pub fn open_local(path: &std::path::Path, password: &[u8]) -> Result<Repository> {
    Repository::open(Arc::new(LocalBackend::new(path)), password)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::Id;

    pub fn cheap() -> KdfParams {
        KdfParams::new(8 * 1024, 1, 1)
    }

    #[test]
    fn init_open_and_wrong_password() {
        let d = tempfile::tempdir().unwrap();
        let b: Arc<dyn Backend> = Arc::new(LocalBackend::new(d.path().join("r")));
        let r = Repository::init(b.clone(), b"pw", cheap()).unwrap();
        assert!(matches!(
            Repository::init(b.clone(), b"pw", cheap()),
            Err(Error::RepositoryExists(_))
        ));
        let r2 = Repository::open(b.clone(), b"pw").unwrap();
        assert_eq!(r.config().id, r2.config().id);
        assert!(matches!(
            Repository::open(b.clone(), b"wrong"),
            Err(Error::WrongPassword)
        ));
        let k2 = r.add_key(b"second", cheap()).unwrap();
        Repository::open(b.clone(), b"second").unwrap();
        assert_eq!(r.list_keys().unwrap().len(), 2);
        let r2 = Repository::open(b.clone(), b"second").unwrap();
        assert_eq!(r2.key_in_use(), k2.to_hex());
        let current: Vec<bool> = r2
            .list_keys()
            .unwrap()
            .iter()
            .map(|k| k.current == (k.id == k2.to_hex()))
            .collect();
        assert_eq!(current, [true, true], "exactly the opened key is current");
        assert!(r2.remove_key(&k2.to_hex()[..8]).is_err(), "key in use");
        r.remove_key(&k2.to_hex()[..8]).unwrap();
        assert!(matches!(
            Repository::open(b, b"second"),
            Err(Error::WrongPassword)
        ));
    }

    #[test]
    fn sealed_files_are_bound_to_their_id() {
        let d = tempfile::tempdir().unwrap();
        let b: Arc<dyn Backend> = Arc::new(LocalBackend::new(d.path().join("r")));
        let r = Repository::init(b.clone(), b"pw", cheap()).unwrap();
        let id = r
            .save_sealed(FileType::Index, &IndexFile::default())
            .unwrap();
        let _: IndexFile = r.load_sealed(FileType::Index, &id).unwrap();
        let other = Id::random();
        std::fs::copy(
            d.path().join("r/index").join(id.to_hex()),
            d.path().join("r/index").join(other.to_hex()),
        )
        .unwrap();
        let err = r
            .load_sealed::<IndexFile>(FileType::Index, &other)
            .unwrap_err();
        assert!(err.is_integrity(), "{err}");
    }
}
