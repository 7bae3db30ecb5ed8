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
mod cache;
pub mod index;
mod indexed;
pub mod keys;
pub mod location;
pub mod lock;
pub mod pack;
mod packcache;
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

use crate::chunk::cdc::{ChunkerParams, Gear};
use crate::chunk::{self, Compression};
use crate::crypto::{self, KdfParams, MasterKeys, NONCE_LEN};
use crate::error::{Error, Result};
use crate::id::Id;
use crate::observer::{Observer, Warning};

const MAGIC: &[u8; 8] = b"LBREPO\0\x01";
pub const FORMAT_VERSION: u32 = 1;
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
}

/// What an opened handle may do (see the module comment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    /// Decrypt sealed files and blobs.
    pub read: bool,
    /// Write or delete packs, sealed files and key files.
    pub write: bool,
}

impl Access {
    /// A master key on a writable backend: everything.
    pub const FULL: Access = Access {
        read: true,
        write: true,
    };
    /// A master key on read-only storage (an archive).
    pub const READ_ONLY: Access = Access {
        read: true,
        write: false,
    };
}

/// One thing an operation needs the handle to allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    Read,
    Write,
}

/// An opened repository (see the module comment for its states).
#[derive(Clone)]
pub struct Repository {
    backend: Arc<dyn Backend>,
    keys: Arc<MasterKeys>,
    config: RepoConfig,
    data_gear: Gear,
    tree_gear: Gear,
    compression: Compression,
    observer: Arc<dyn Observer>,
    /// Name of the key file the password opened (`keys/<name>`).
    key_in_use: String,
    options: OpenOptions,
    access: Access,
    cache: Option<Arc<cache::SealedCache>>,
    /// Whole packs in memory, for a remote backend (see [`Repository::read_packed`]).
    packs: Option<Arc<packcache::PackCache>>,
}

impl std::fmt::Debug for Repository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Repository({})", self.backend.location())
    }
}

fn config_header() -> [u8; 12] {
    let mut h = [0u8; 12];
    h[..8].copy_from_slice(MAGIC);
    h[8..].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h
}

fn labelled_ad(label: &str, id: &[u8]) -> Vec<u8> {
    let mut ad = format!("lifeboat/v1/{label}/").into_bytes();
    ad.extend_from_slice(id);
    ad
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
        let loc = backend.location();
        if backend.exists().map_err(|e| Error::io(&loc, e))? {
            return Err(Error::RepositoryExists(loc));
        }
        kdf.check_bounds("new key")?;
        let keys = MasterKeys::generate();
        let (key_id, key_bytes) = keys::KeyFile::create(&keys, password, kdf)?;
        backend.create().map_err(|e| Error::io(&loc, e))?;
        let config = RepoConfig {
            id: keys.repo_id.to_vec(),
            created: crate::util::now_rfc3339(),
            chunker: layout.chunker,
            tree_chunker: layout.tree_chunker,
            pack_size: layout.pack_size,
        };
        backend
            .write(FileType::Key, &key_id.to_hex(), &key_bytes)
            .map_err(|e| Error::io(format!("{loc}/keys"), e))?;
        let mut cbor = Vec::new();
        ciborium::into_writer(&config, &mut cbor).expect("config serializes");
        let header = config_header();
        let mut file = header.to_vec();
        file.extend_from_slice(&crypto::seal(
            &keys.meta_key,
            &labelled_ad("config", &header),
            &cbor,
        ));
        // The config is written last: a repository exists once it is complete.
        backend
            .write(FileType::Config, "config", &file)
            .map_err(|e| Error::io(format!("{loc}/config"), e))?;
        Ok(Self::assemble(
            backend,
            keys,
            config,
            key_id.to_hex(),
            OpenOptions::default(),
        ))
    }

    fn assemble(
        backend: Arc<dyn Backend>,
        keys: MasterKeys,
        config: RepoConfig,
        key_in_use: String,
        options: OpenOptions,
    ) -> Repository {
        let data_gear = Gear::new(config.chunker, keys.chunker_seed);
        let tree_gear = Gear::new(config.tree_chunker, keys.chunker_seed.rotate_left(32));
        let cache = options
            .cache_dir
            .as_deref()
            .and_then(|root| cache::SealedCache::open(root, &config.id))
            .map(Arc::new);
        let packs = backend
            .is_remote()
            .then(|| Arc::new(packcache::PackCache::new(PACKS_HELD)));
        let access = if backend.is_read_only() {
            Access::READ_ONLY
        } else {
            Access::FULL
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
        }
    }

    /// Read the header of `config`: refuses unknown formats before any password is asked.
    pub fn check_format(backend: &dyn Backend) -> Result<Vec<u8>> {
        let loc = backend.location();
        if !backend.exists().map_err(|e| Error::io(&loc, e))? {
            return Err(Error::NoRepository(loc));
        }
        let file = backend
            .read(FileType::Config, "config")
            .map_err(|e| Error::io(format!("{loc}/config"), e))?;
        if file.len() < 12 || &file[..8] != MAGIC {
            return Err(Error::corrupt(
                config_object(backend),
                "not a lifeboat repository (bad magic)",
            ));
        }
        let version = u32::from_le_bytes(file[8..12].try_into().expect("4 bytes"));
        if version != FORMAT_VERSION {
            return Err(Error::UnsupportedVersion(
                config_object(backend),
                u64::from(version),
            ));
        }
        Ok(file)
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
        let file = Self::check_format(&*backend)?;
        let object = config_object(&*backend);
        let (keys, key_in_use) = Self::unlock(&*backend, password)?;
        let header = &file[..12];
        let cbor = crypto::open(&keys.meta_key, &labelled_ad("config", header), &file[12..])
            .map_err(|e| Error::corrupt(&object, e))?;
        let config: RepoConfig = ciborium::from_reader(&cbor[..])
            .map_err(|e| Error::corrupt(&object, format!("cbor: {e}")))?;
        if config.id != keys.repo_id {
            return Err(Error::corrupt(
                &object,
                "repository id differs from the key's",
            ));
        }
        if !config.chunker.is_sane() || !config.tree_chunker.is_sane() {
            return Err(Error::hostile(&object, "chunker parameters out of bounds"));
        }
        if !(1 << 20..=1 << 30).contains(&config.pack_size) {
            return Err(Error::hostile(
                &object,
                format!("pack size {} out of bounds", config.pack_size),
            ));
        }
        Ok(Self::assemble(
            backend,
            keys,
            config,
            key_in_use,
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
        for name in &names {
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

    pub fn keys(&self) -> &MasterKeys {
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
        };
        if allowed {
            return Ok(());
        }
        if capability == Capability::Write && self.backend.is_read_only() {
            return Err(self.backend.refusal("nothing can be written to it"));
        }
        Err(Error::Invalid(format!(
            "{}: this key cannot {} the repository",
            self.backend.location(),
            match capability {
                Capability::Read => "read",
                Capability::Write => "write to",
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

    /// Take a lock, waiting for conflicting holders as long as the [`OpenOptions`] said.
    pub fn lock(&self, kind: LockKind, command: &str) -> Result<LockGuard> {
        lock::acquire(self.backend.clone(), kind, command, self.options.lock_wait)
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

    // ---- keys ----

    /// Add a key file for another password.
    pub fn add_key(&self, password: &[u8], kdf: KdfParams) -> Result<Id> {
        self.require(Capability::Write)?;
        let (id, bytes) = keys::KeyFile::create(&self.keys, password, kdf)?;
        self.backend
            .write(FileType::Key, &id.to_hex(), &bytes)
            .map_err(|e| Error::io("keys", e))?;
        Ok(id)
    }

    pub fn list_keys(&self) -> Result<Vec<keys::KeyInfo>> {
        let mut out = Vec::new();
        for name in self
            .backend
            .list(FileType::Key)
            .map_err(|e| Error::io("keys", e))?
        {
            let bytes = self
                .backend
                .read(FileType::Key, &name)
                .map_err(|e| Error::io("keys", e))?;
            let (kf, _) = keys::KeyFile::parse(&name, &bytes)?;
            let mut info = kf.info(&name);
            info.current = name == self.key_in_use;
            out.push(info);
        }
        Ok(out)
    }

    /// Name of the key file the password opened (`keys/<name>`).
    pub fn key_in_use(&self) -> &str {
        &self.key_in_use
    }

    /// Remove a key file by ID prefix. The last key, and the key in use, cannot be removed.
    pub fn remove_key(&self, prefix: &str) -> Result<String> {
        self.require(Capability::Write)?;
        let names = self
            .backend
            .list(FileType::Key)
            .map_err(|e| Error::io("keys", e))?;
        let matches: Vec<&String> = names.iter().filter(|n| n.starts_with(prefix)).collect();
        let name = match matches.as_slice() {
            [one] => (*one).clone(),
            [] => return Err(Error::Invalid(format!("no key matches {prefix:?}"))),
            _ => {
                return Err(Error::Invalid(format!(
                    "key prefix {prefix:?} is ambiguous"
                )));
            }
        };
        if names.len() == 1 {
            return Err(Error::Invalid(
                "refusing to remove the last key: the repository would be unreadable".into(),
            ));
        }
        if self.key_in_use == name {
            return Err(Error::Invalid(
                "refusing to remove the key in use; open the repository with another password first".into(),
            ));
        }
        self.backend
            .remove(FileType::Key, &name)
            .map_err(|e| Error::io("keys", e))?;
        Ok(name)
    }

    // ---- blobs ----

    /// Encode (compression filters) and seal a chunk. `offset` is its position in its stream,
    /// which aligns the float byte-grouping filter.
    pub fn seal_blob(&self, kind: BlobKind, id: &Id, data: &[u8], offset: u64) -> Vec<u8> {
        let mut buf = Vec::with_capacity(NONCE_LEN + data.len() + 64 + crypto::TAG_LEN);
        buf.resize(NONCE_LEN, 0);
        chunk::encode_into(&mut buf, data, offset, self.compression);
        crypto::seal_in_place(kind.key(&self.keys), &pack::blob_ad(kind, id), &mut buf);
        buf
    }

    /// Open a sealed blob read from its pack and check it hashes to its ID.
    pub fn open_blob(
        &self,
        kind: BlobKind,
        id: &Id,
        loc: &Location,
        sealed: &[u8],
    ) -> Result<Vec<u8>> {
        self.open_blob_in_place(kind, id, loc, &mut sealed.to_vec())
    }

    /// Like [`Repository::open_blob`], decrypting in the caller's buffer.
    pub fn open_blob_in_place(
        &self,
        kind: BlobKind,
        id: &Id,
        loc: &Location,
        sealed: &mut [u8],
    ) -> Result<Vec<u8>> {
        let mut data = Vec::new();
        self.open_blob_into(kind, id, loc, sealed, &mut data)?;
        Ok(data)
    }

    /// Like [`Repository::open_blob_in_place`], decoding into `out` (replacing its contents).
    /// Every blob read ends here.
    pub fn open_blob_into(
        &self,
        kind: BlobKind,
        id: &Id,
        loc: &Location,
        sealed: &mut [u8],
        out: &mut Vec<u8>,
    ) -> Result<()> {
        self.require(Capability::Read)?;
        let object = self.object_name(format_args!(
            "{} blob {id} (pack {})",
            kind.label(),
            loc.pack
        ));
        let encoded = crypto::open_in_place(kind.key(&self.keys), &pack::blob_ad(kind, id), sealed)
            .map_err(|e| Error::corrupt(&object, e))?;
        chunk::decode_into(encoded, loc.raw_len as usize, &object, out)?;
        if self.keys.chunk_id(out) != *id {
            out.clear();
            return Err(Error::corrupt(&object, "content does not hash to its id"));
        }
        Ok(())
    }

    /// Bytes of a pack that hold blobs, for reading those blobs: a ranged read on a local
    /// backend; on a remote one, a slice of the whole pack, fetched once and kept while it is
    /// among the last few used (one request instead of one per blob).
    pub fn read_packed(&self, pack: &Id, offset: u64, len: usize) -> Result<Vec<u8>> {
        let Some(cache) = &self.packs else {
            return self.read_pack_range(pack, offset, len);
        };
        let whole = cache
            .get(pack, || {
                self.backend
                    .read(FileType::Pack, &pack.to_hex())
                    .map_err(|e| {
                        pack_read_error(
                            &self.object_name(format_args!("pack {pack}")),
                            e,
                            offset,
                            len,
                        )
                    })
            })
            .map_err(|e| match e {
                packcache::FetchError::Own(e) => e,
                packcache::FetchError::Other(text) => {
                    Error::io(format!("pack {pack}"), std::io::Error::other(text))
                }
            })?;
        let end = offset.saturating_add(len as u64);
        if end > whole.len() as u64 {
            return Err(Error::corrupt(
                format!("pack {pack}"),
                format!("truncated: no bytes at {offset}+{len}"),
            ));
        }
        Ok(whole[offset as usize..end as usize].to_vec())
    }

    /// Exactly the bytes `offset..offset+len` of a pack (headers, a verify's whole body).
    pub fn read_pack_range(&self, pack: &Id, offset: u64, len: usize) -> Result<Vec<u8>> {
        self.backend
            .read_at(FileType::Pack, &pack.to_hex(), offset, len)
            .map_err(|e| {
                pack_read_error(
                    &self.object_name(format_args!("pack {pack}")),
                    e,
                    offset,
                    len,
                )
            })
    }

    /// Read and authenticate a pack's header.
    pub fn read_pack_header(&self, pack: &Id) -> Result<Vec<pack::PackEntry>> {
        let object = self.object_name(format_args!("pack {pack}"));
        let name = pack.to_hex();
        let size = self
            .backend
            .size(FileType::Pack, &name)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => Error::corrupt(&object, "pack file is missing"),
                _ => Error::io(&object, e),
            })?;
        if size < 4 {
            return Err(Error::corrupt(&object, "truncated"));
        }
        let last4 = self.read_pack_range(pack, size - 4, 4)?;
        let hl = pack::header_len_from_tail(&last4, size, &object)?;
        let body = size - 4 - u64::from(hl);
        let sealed = self.read_pack_range(pack, body, hl as usize)?;
        pack::open_header(&self.keys, pack, &sealed, body)
    }
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
