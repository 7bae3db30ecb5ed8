//! Where a repository lives, parsed from what users type (`--repo`, `LIFEBOAT_REPO`, the
//! configuration file) in restic's notation: a local directory, or `s3:` followed by an
//! endpoint, a bucket and an optional prefix; or a single-file archive (`--from host.lbx`,
//! or a `--repo` path that names a regular file). Credentials never belong in it.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use super::{ArchiveReader, Backend, LocalBackend, S3Backend, S3Options};

/// A repository's place: a local directory, a bucket (and prefix) on S3-compatible storage,
/// or a single-file archive read in place (read-only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RepoLocation {
    Local(PathBuf),
    S3(S3Location),
    Archive(PathBuf),
}

/// The backend for a location: a directory, an archive (read in place; a local path naming a
/// regular file is one too), or a bucket reached with `s3`'s options.
pub fn backend_for(location: &RepoLocation, s3: &S3Options) -> crate::Result<Arc<dyn Backend>> {
    Ok(match location {
        RepoLocation::Archive(p) => Arc::new(ArchiveReader::open(p)?),
        RepoLocation::Local(p) if p.is_file() => Arc::new(ArchiveReader::open(p)?),
        RepoLocation::Local(p) => Arc::new(LocalBackend::new(p)),
        RepoLocation::S3(l) => Arc::new(
            S3Backend::new(l.clone(), s3).map_err(|e| crate::Error::io(location.to_string(), e))?,
        ),
    })
}

/// `s3:https://ENDPOINT/BUCKET[/PREFIX]`, with the endpoint's scheme defaulting to https.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Location {
    /// Scheme, host and port: `http://127.0.0.1:3900`, `https://s3.amazonaws.com`.
    pub endpoint: String,
    pub bucket: String,
    /// Key prefix inside the bucket, without leading or trailing `/` (empty: the bucket's root).
    pub prefix: String,
}

/// Why a repository string cannot be used. The message never repeats the string itself: a
/// mistyped URL may hold a secret.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid repository location: {0}")]
pub struct LocationError(pub String);

fn err(msg: impl Into<String>) -> LocationError {
    LocationError(msg.into())
}

impl RepoLocation {
    /// Parse `s3:...` as an S3 location and anything else as a local path.
    pub fn parse(s: &str) -> Result<RepoLocation, LocationError> {
        if let Some(rest) = s.strip_prefix("s3:") {
            return S3Location::parse(rest).map(RepoLocation::S3);
        }
        if s.is_empty() {
            return Err(err("the repository location is empty"));
        }
        Ok(RepoLocation::Local(PathBuf::from(s)))
    }

    /// A local path that names a regular file is an archive; anything else stays as it is.
    /// (Reads the filesystem: what the user typed is only known to be a file once looked at.)
    #[must_use]
    pub fn resolved(self) -> RepoLocation {
        match self {
            RepoLocation::Local(p) if p.is_file() => RepoLocation::Archive(p),
            other => other,
        }
    }
}

impl fmt::Display for RepoLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RepoLocation::Local(p) | RepoLocation::Archive(p) => write!(f, "{}", p.display()),
            RepoLocation::S3(s) => write!(f, "{s}"),
        }
    }
}

impl fmt::Display for S3Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3:{}/{}", self.endpoint, self.bucket)?;
        if !self.prefix.is_empty() {
            write!(f, "/{}", self.prefix)?;
        }
        Ok(())
    }
}

impl S3Location {
    /// Parse what follows `s3:`: `http://HOST[:PORT]/BUCKET[/PREFIX]`, `https://...`, or
    /// `HOST/BUCKET[/PREFIX]` (https).
    pub fn parse(rest: &str) -> Result<S3Location, LocationError> {
        const FORM: &str = "use s3:https://ENDPOINT/BUCKET[/PREFIX] (or s3:http://HOST:PORT/BUCKET/PREFIX for a local server)";
        let (scheme, after) = if let Some(a) = rest.strip_prefix("https://") {
            ("https", a)
        } else if let Some(a) = rest.strip_prefix("http://") {
            ("http", a)
        } else if rest.starts_with("//") {
            return Err(err(format!(
                "`s3://BUCKET` names no endpoint; {FORM}, e.g. s3:s3.amazonaws.com/BUCKET"
            )));
        } else if rest.contains("://") {
            return Err(err(format!(
                "only http and https endpoints are supported; {FORM}"
            )));
        } else {
            ("https", rest)
        };
        let (host, path) = after.split_once('/').unwrap_or((after, ""));
        if host.contains('@') {
            return Err(err(
                "credentials do not belong in the repository URL (it shows in process lists and logs): give them in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE or a credentials file",
            ));
        }
        if host.is_empty() || host.contains(['?', '#', ' ']) {
            return Err(err(format!(
                "the endpoint host is missing or malformed; {FORM}"
            )));
        }
        if path.contains(['?', '#']) {
            return Err(err(
                "query strings and fragments are not allowed in an S3 location",
            ));
        }
        let mut parts = path.split('/').filter(|p| !p.is_empty());
        let bucket = parts
            .next()
            .ok_or_else(|| err(format!("no bucket named; {FORM}")))?;
        check_bucket(bucket)?;
        let prefix: Vec<&str> = parts.collect();
        if prefix.iter().any(|p| *p == "." || *p == "..") {
            return Err(err("`.` and `..` are not allowed in an S3 prefix"));
        }
        Ok(S3Location {
            endpoint: format!("{scheme}://{host}"),
            bucket: bucket.to_string(),
            prefix: prefix.join("/"),
        })
    }

    /// The endpoint's host name without a port.
    pub fn host(&self) -> &str {
        let after = self
            .endpoint
            .split_once("://")
            .map_or(self.endpoint.as_str(), |(_, h)| h);
        if after.starts_with('[') {
            return after.split_once(']').map_or(after, |(h, _)| &h[1..]);
        }
        after.split(':').next().unwrap_or(after)
    }

    /// Whether the endpoint is Amazon's (virtual-host addressing is then the default).
    pub fn is_aws(&self) -> bool {
        let h = self.host();
        h == "amazonaws.com" || h.ends_with(".amazonaws.com") || h.ends_with(".amazonaws.com.cn")
    }
}

/// S3 bucket naming rules (3-63 characters of lowercase letters, digits, `.` and `-`,
/// starting and ending with a letter or digit); a few servers allow more, none allow `/`.
fn check_bucket(b: &str) -> Result<(), LocationError> {
    let ok_chars = b.bytes().all(|c| {
        c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-' || c == b'_'
    });
    let ends_ok = b
        .bytes()
        .next()
        .zip(b.bytes().last())
        .is_some_and(|(f, l)| f.is_ascii_alphanumeric() && l.is_ascii_alphanumeric());
    if !(3..=63).contains(&b.len()) || !ok_chars || !ends_ok {
        return Err(err(format!(
            "bucket name {b:?} breaks S3's rules (3-63 lowercase letters, digits, `.` or `-`)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s3(s: &str) -> S3Location {
        match RepoLocation::parse(s).unwrap() {
            RepoLocation::S3(l) => l,
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn restic_forms_parse() {
        let l = s3("s3:http://127.0.0.1:3900/lifeboat/hosts/a");
        assert_eq!(l.endpoint, "http://127.0.0.1:3900");
        assert_eq!(
            (l.bucket.as_str(), l.prefix.as_str()),
            ("lifeboat", "hosts/a")
        );
        assert_eq!(l.host(), "127.0.0.1");
        assert!(!l.is_aws());
        assert_eq!(l.to_string(), "s3:http://127.0.0.1:3900/lifeboat/hosts/a");
        let aws = s3("s3:s3.amazonaws.com/my-backups");
        assert_eq!(aws.endpoint, "https://s3.amazonaws.com");
        assert_eq!(aws.prefix, "");
        assert!(aws.is_aws());
        let eu = s3("s3:https://s3.eu-west-1.amazonaws.com/b-1/x/");
        assert_eq!((eu.bucket.as_str(), eu.prefix.as_str()), ("b-1", "x"));
        assert!(eu.is_aws());
        assert_eq!(s3("s3:http://[::1]:9000/bkt").host(), "::1");
        assert_eq!(
            RepoLocation::parse("/srv/lifeboat").unwrap(),
            RepoLocation::Local("/srv/lifeboat".into())
        );
    }

    #[test]
    fn a_local_path_naming_a_file_resolves_to_an_archive() {
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("host.lbx");
        std::fs::write(&file, b"x").unwrap();
        let at = |p: &std::path::Path| RepoLocation::parse(p.to_str().unwrap()).unwrap().resolved();
        assert_eq!(at(&file), RepoLocation::Archive(file.clone()));
        assert_eq!(at(d.path()), RepoLocation::Local(d.path().to_path_buf()));
        let missing = d.path().join("nothing");
        assert_eq!(at(&missing), RepoLocation::Local(missing.clone()));
    }

    #[test]
    fn bad_locations_are_refused_without_echoing_secrets() {
        let e = RepoLocation::parse("s3:http://AKIA:supersecret@host/bucket").unwrap_err();
        assert!(!e.to_string().contains("supersecret"), "{e}");
        assert!(e.to_string().contains("AWS_ACCESS_KEY_ID"));
        for bad in [
            "s3://bucket/x",
            "s3:http://host",
            "s3:http://host/",
            "s3:ftp://host/bucket",
            "s3:http://host/Upper",
            "s3:http://host/ab",
            "s3:http://host/bucket/../x",
            "s3:http://host/bucket?x=1",
            "",
        ] {
            assert!(RepoLocation::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
