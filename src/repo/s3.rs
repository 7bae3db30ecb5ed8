//! A repository on S3-compatible object storage (AWS S3, Garage, MinIO, Ceph RGW, B2, Wasabi)
//! through opendal's S3 service: objects written create-only (`If-None-Match: *`), ranged
//! reads, paginated listings, retries with backoff and time limits. The object layout is the
//! local one (FORMAT.md §2) under the location's prefix.
//!
//! The [`super::Backend`] trait is synchronous; every call here runs its future on this
//! backend's own Tokio runtime and waits for the answer on a channel, so it works from any
//! thread, including one inside another runtime (the Docker engine's).

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use opendal::layers::{RetryLayer, TimeoutLayer};
use opendal::{ErrorKind as OdKind, Operator};

use super::backend::{Backend, FileType, check_name};
use super::location::S3Location;
use crate::error::{StorageError, StorageErrorKind};

/// How to reach and authenticate to the store, besides the location. Secrets are never held
/// here: credentials come from the AWS variables, a shared credentials file or a profile, and
/// are read by the signing library itself.
#[derive(Clone, Debug, Default)]
pub struct S3Options {
    /// Signing region; `None` means `AWS_REGION`, `AWS_DEFAULT_REGION`, else `us-east-1`.
    pub region: Option<String>,
    /// Virtual-host addressing (`bucket.host`); `None` means "only on amazonaws.com".
    pub virtual_host: Option<bool>,
    /// A shared credentials file (`[profile]` with `aws_access_key_id` ...), instead of
    /// `AWS_SHARED_CREDENTIALS_FILE`.
    pub credentials_file: Option<PathBuf>,
    /// The profile in that file (else `AWS_PROFILE`, else `default`).
    pub profile: Option<String>,
    /// Uploads in flight at once (default [`DEFAULT_CONNECTIONS`]).
    pub connections: Option<usize>,
    /// Give up on one request after this long (default 120 s); retries come on top.
    pub timeout: Option<Duration>,
    /// Attempts per request after the first (default 6, exponential backoff with jitter).
    pub retries: Option<usize>,
}

pub const DEFAULT_CONNECTIONS: usize = 8;
const DEFAULT_REGION: &str = "us-east-1";

/// A repository under `s3:ENDPOINT/BUCKET/PREFIX`.
pub struct S3Backend {
    op: Operator,
    rt: tokio::runtime::Runtime,
    location: S3Location,
    connections: usize,
}

impl std::fmt::Debug for S3Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "S3Backend({})", self.location)
    }
}

impl S3Backend {
    /// Connect lazily (no request is sent until the first call).
    pub fn new(location: S3Location, opts: &S3Options) -> io::Result<S3Backend> {
        opendal::install_default();
        let region = opts
            .region
            .clone()
            .or_else(|| std::env::var("AWS_REGION").ok().filter(|r| !r.is_empty()))
            .or_else(|| {
                std::env::var("AWS_DEFAULT_REGION")
                    .ok()
                    .filter(|r| !r.is_empty())
            })
            .unwrap_or_else(|| DEFAULT_REGION.to_string());
        let root = format!("/{}", location.prefix);
        let mut builder = opendal::services::S3::default()
            .endpoint(&location.endpoint)
            .bucket(&location.bucket)
            .root(&root)
            .region(&region);
        if opts.virtual_host.unwrap_or_else(|| location.is_aws()) {
            builder = builder.enable_virtual_host_style();
        }
        if !location.is_aws() {
            // The instance metadata service only exists on AWS; elsewhere asking it for
            // credentials only adds a timeout to a missing-credentials error.
            builder = builder.disable_ec2_metadata();
        }
        if let Some(chain) = credential_chain(opts) {
            builder = builder.credential_provider_chain(chain);
        } else if let Some(p) = &opts.profile {
            builder = builder.profile(p);
        }
        let retry = RetryLayer::new()
            .with_jitter()
            .with_min_delay(Duration::from_millis(200))
            .with_max_delay(Duration::from_secs(10))
            .with_max_times(opts.retries.unwrap_or(6));
        let timeout = TimeoutLayer::new()
            .with_timeout(opts.timeout.unwrap_or(Duration::from_secs(120)))
            .with_io_timeout(Duration::from_secs(60));
        let op = Operator::new(builder)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?
            .layer(timeout)
            .layer(retry);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("s3-io")
            .enable_all()
            .build()?;
        Ok(S3Backend {
            op,
            rt,
            location,
            connections: opts.connections.unwrap_or(DEFAULT_CONNECTIONS).clamp(1, 64),
        })
    }

    /// The object key of a repository file, relative to the prefix.
    fn key(t: FileType, name: &str) -> io::Result<String> {
        if t == FileType::Config {
            return Ok("config".into());
        }
        check_name(t, name)?;
        Ok(match t {
            FileType::Config => unreachable!("handled above"),
            FileType::Key => format!("keys/{name}"),
            FileType::Snapshot => format!("snapshots/{name}"),
            FileType::Index => format!("index/{name}"),
            FileType::Pack => format!("data/{}/{name}", &name[..2]),
            FileType::Lock => format!("locks/{name}"),
        })
    }

    fn dir(t: FileType) -> &'static str {
        match t {
            FileType::Config => "",
            FileType::Key => "keys/",
            FileType::Snapshot => "snapshots/",
            FileType::Index => "index/",
            FileType::Pack => "data/",
            FileType::Lock => "locks/",
        }
    }

    /// Run a request on the runtime and wait for it, from any thread.
    fn run<T, F>(&self, fut: F) -> opendal::Result<T>
    where
        T: Send + 'static,
        F: Future<Output = opendal::Result<T>> + Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.rt.spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx.recv().unwrap_or_else(|_| {
            Err(opendal::Error::new(
                OdKind::Unexpected,
                "the S3 request task ended without an answer",
            ))
        })
    }

    fn bucket_label(&self) -> String {
        if self.location.prefix.is_empty() {
            self.location.bucket.clone()
        } else {
            format!("{}/{}", self.location.bucket, self.location.prefix)
        }
    }

    /// An opendal error as an I/O error that names the operation and object, keeps the kind
    /// callers match on (not found, exists, truncated) and carries a [`StorageError`] where
    /// the user must act.
    fn error(&self, what: &str, key: &str, e: &opendal::Error) -> io::Error {
        let detail = format!("{what} {key}: {}", short_message(e));
        let storage = |kind| {
            let bucket = if kind == StorageErrorKind::NoSuchBucket {
                self.location.bucket.clone()
            } else {
                self.bucket_label()
            };
            io::Error::new(
                match kind {
                    StorageErrorKind::AccessDenied | StorageErrorKind::NoCredentials => {
                        io::ErrorKind::PermissionDenied
                    }
                    StorageErrorKind::NoSuchBucket => io::ErrorKind::NotFound,
                    StorageErrorKind::Unavailable => io::ErrorKind::Other,
                },
                StorageError {
                    kind,
                    bucket,
                    detail: detail.clone(),
                },
            )
        };
        if e.to_string().contains("NoSuchBucket") {
            return storage(StorageErrorKind::NoSuchBucket);
        }
        // opendal's words when the signer found no credential (opendal_core::raw::http_util).
        if ["signing http request", "loading credential"]
            .iter()
            .any(|m| e.message().starts_with(m))
        {
            return storage(StorageErrorKind::NoCredentials);
        }
        // A short body (a truncated object): opendal says so in words only.
        if e.message().contains("too little data") {
            return io::Error::new(io::ErrorKind::UnexpectedEof, detail);
        }
        match e.kind() {
            OdKind::PermissionDenied => storage(StorageErrorKind::AccessDenied),
            OdKind::NotFound => io::Error::new(io::ErrorKind::NotFound, detail),
            OdKind::ConditionNotMatch | OdKind::AlreadyExists => {
                io::Error::new(io::ErrorKind::AlreadyExists, detail)
            }
            OdKind::RangeNotSatisfied => io::Error::new(io::ErrorKind::UnexpectedEof, detail),
            OdKind::ConfigInvalid | OdKind::Unsupported => {
                io::Error::new(io::ErrorKind::InvalidInput, detail)
            }
            // Retryable failures (5xx, 429, dropped connections, time-outs), after the retries.
            _ if e.is_temporary() || e.is_persistent() => storage(StorageErrorKind::Unavailable),
            _ => io::Error::other(detail),
        }
    }
}

/// The store's answer in one short line: opendal's message, and the S3 error code and
/// message when the response body had them; no request context (headers, signatures).
fn short_message(e: &opendal::Error) -> String {
    let full = e.to_string();
    let code = xml_field(&full, "Code");
    let message = xml_field(&full, "Message");
    let mut s = match (code, message) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c,
        _ => {
            let m = e.message().lines().next().unwrap_or("").to_string();
            if m.is_empty() {
                e.kind().to_string()
            } else {
                m
            }
        }
    };
    if s.len() > 300 {
        let mut cut = 300;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

/// `<Tag>value</Tag>` (or `Tag: "value"` as opendal's debug form prints it) from an error text.
fn xml_field(text: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    if let Some(start) = text.find(&open) {
        let rest = &text[start + open.len()..];
        return rest.find('<').map(|end| rest[..end].to_string());
    }
    let debug = format!("{}: \"", tag.to_ascii_lowercase());
    let start = text.find(&debug)?;
    let rest = &text[start + debug.len()..];
    rest.find('"').map(|end| rest[..end].to_string())
}

/// Credentials from a shared credentials file named in the configuration (never inline).
fn credential_chain(
    opts: &S3Options,
) -> Option<reqsign_core::ProvideCredentialChain<reqsign_aws_core::Credential>> {
    let file = opts.credentials_file.as_ref()?;
    let mut profile = reqsign_aws_core::ProfileCredentialProvider::new()
        .with_credentials_file(file.to_string_lossy().to_string());
    if let Some(p) = &opts.profile {
        profile = profile.with_profile(p.clone());
    }
    Some(reqsign_core::ProvideCredentialChain::new().push(profile))
}

impl Backend for S3Backend {
    fn location(&self) -> String {
        self.location.to_string()
    }

    fn exists(&self) -> io::Result<bool> {
        let op = self.op.clone();
        match self.run(async move { op.stat("config").await }) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == OdKind::NotFound => {
                // A missing bucket also answers "not found": tell the two apart.
                self.probe_bucket()?;
                Ok(false)
            }
            Err(e) => Err(self.error("HEAD", "config", &e)),
        }
    }

    fn create(&self) -> io::Result<()> {
        self.probe_bucket()?;
        let op = self.op.clone();
        let any = self
            .run(async move { op.list_with("").limit(1).await })
            .map_err(|e| self.error("LIST", "/", &e))?;
        if any.iter().any(|e| e.path() != "/" && !e.path().is_empty()) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} is not empty", self.location),
            ));
        }
        Ok(())
    }

    fn read(&self, t: FileType, name: &str) -> io::Result<Vec<u8>> {
        let key = Self::key(t, name)?;
        let (op, k) = (self.op.clone(), key.clone());
        self.run(async move { op.read(&k).await })
            .map(|b| b.to_vec())
            .map_err(|e| self.error("GET", &key, &e))
    }

    fn read_at(&self, t: FileType, name: &str, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let key = Self::key(t, name)?;
        let (op, k) = (self.op.clone(), key.clone());
        let end = offset
            .checked_add(len as u64)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "range overflows"))?;
        let got = self
            .run(async move { op.read_with(&k).range(offset..end).await })
            .map(|b| b.to_vec())
            .map_err(|e| self.error("GET", &key, &e))?;
        if got.len() != len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("GET {key}: {} of {len} bytes at {offset}", got.len()),
            ));
        }
        Ok(got)
    }

    fn size(&self, t: FileType, name: &str) -> io::Result<u64> {
        let key = Self::key(t, name)?;
        let (op, k) = (self.op.clone(), key.clone());
        self.run(async move { op.stat(&k).await })
            .map(|m| m.content_length())
            .map_err(|e| self.error("HEAD", &key, &e))
    }

    fn write(&self, t: FileType, name: &str, data: &[u8]) -> io::Result<()> {
        self.write_buffer(t, name, opendal::Buffer::from(data.to_vec()))
    }

    fn write_parts(&self, t: FileType, name: &str, parts: Vec<Vec<u8>>) -> io::Result<()> {
        let parts: Vec<bytes::Bytes> = parts.into_iter().map(bytes::Bytes::from).collect();
        self.write_buffer(t, name, opendal::Buffer::from(parts))
    }

    fn replace(&self, t: FileType, name: &str, data: &[u8]) -> io::Result<()> {
        self.put(t, name, opendal::Buffer::from(data.to_vec()), false)
    }

    fn list(&self, t: FileType) -> io::Result<Vec<String>> {
        Ok(self
            .list_with_sizes(t)?
            .into_iter()
            .map(|(n, _)| n)
            .collect())
    }

    fn list_with_sizes(&self, t: FileType) -> io::Result<Vec<(String, u64)>> {
        if t == FileType::Config {
            return Ok(if self.exists()? {
                vec![("config".into(), self.size(t, "config")?)]
            } else {
                Vec::new()
            });
        }
        let dir = Self::dir(t);
        let op = self.op.clone();
        // The listing pages through the store (1000 keys a request) until it is complete.
        let entries = self
            .run(async move { op.list_with(dir).recursive(true).await })
            .map_err(|e| self.error("LIST", dir, &e))?;
        let mut names: Vec<(String, u64)> = entries
            .iter()
            .filter(|e| e.metadata().mode().is_file())
            .filter_map(|e| {
                let name = e.name();
                // Only well-formed names at their place (a pack under its two-digit folder).
                let key = Self::key(t, name).ok()?;
                (e.path() == key).then(|| (name.to_string(), e.metadata().content_length()))
            })
            .collect();
        names.sort();
        Ok(names)
    }

    fn remove(&self, t: FileType, name: &str) -> io::Result<()> {
        let key = Self::key(t, name)?;
        let (op, k) = (self.op.clone(), key.clone());
        self.run(async move { op.delete(&k).await })
            .map_err(|e| self.error("DELETE", &key, &e))
    }

    fn clean_temporary(&self, _max_age: Duration) -> io::Result<usize> {
        // Objects appear whole or not at all: there are no temporary files to clean.
        Ok(0)
    }

    fn concurrency(&self) -> usize {
        self.connections
    }

    fn is_remote(&self) -> bool {
        true
    }
}

impl S3Backend {
    fn write_buffer(&self, t: FileType, name: &str, buf: opendal::Buffer) -> io::Result<()> {
        self.put(t, name, buf, true)
    }

    /// One PUT (an object appears whole); `create_only`: refused when the object exists.
    fn put(
        &self,
        t: FileType,
        name: &str,
        buf: opendal::Buffer,
        create_only: bool,
    ) -> io::Result<()> {
        let key = Self::key(t, name)?;
        let (op, k) = (self.op.clone(), key.clone());
        let res = self.run(async move { op.write_with(&k, buf).if_not_exists(create_only).await });
        match res {
            Ok(_) => Ok(()),
            Err(e) => Err(self.error("PUT", &key, &e)),
        }
    }

    /// Fail with a clear error when the bucket is missing or the credentials are refused.
    fn probe_bucket(&self) -> io::Result<()> {
        let op = self.op.clone();
        match self.run(async move { op.list_with("").limit(1).await }) {
            Ok(_) => Ok(()),
            Err(e) => {
                let err = self.error("LIST", "/", &e);
                if e.kind() == OdKind::NotFound && StorageError::of(&err).is_none() {
                    // A listing never answers "not found" for an existing bucket.
                    return Err(io::Error::new(
                        io::ErrorKind::NotFound,
                        StorageError {
                            kind: StorageErrorKind::NoSuchBucket,
                            bucket: self.location.bucket.clone(),
                            detail: format!("at {}", self.location.endpoint),
                        },
                    ));
                }
                Err(err)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_local_layout() {
        assert_eq!(S3Backend::key(FileType::Config, "").unwrap(), "config");
        assert_eq!(
            S3Backend::key(FileType::Pack, "abcd").unwrap(),
            "data/ab/abcd"
        );
        assert_eq!(S3Backend::key(FileType::Lock, "ff").unwrap(), "locks/ff");
        assert!(S3Backend::key(FileType::Index, "../config").is_err());
        assert!(S3Backend::key(FileType::Pack, "a").is_err());
    }

    #[test]
    fn store_messages_are_short_and_keep_the_s3_code() {
        let e = opendal::Error::new(
            OdKind::PermissionDenied,
            "<Error><Code>InvalidAccessKeyId</Code><Message>No such key: GK123</Message></Error>",
        );
        assert_eq!(short_message(&e), "InvalidAccessKeyId: No such key: GK123");
    }
}
