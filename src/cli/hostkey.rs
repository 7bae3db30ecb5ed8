//! Opening the repository with a write-only host key file (`--key-file`, `LIFEBOAT_KEY_FILE`):
//! the file is the secret, like an SSH key, so it must be private to its owner.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use lifeboat::repo::{HostKeyFile, RepoLocation, Repository};

use super::{Global, UsageError, password, progress};

/// Open the repository at `location` with the host key in `file`.
pub fn open(g: &Global, location: &RepoLocation, file: &Path) -> Result<Repository> {
    let shown = lifeboat::util::show_path(file);
    let meta = std::fs::metadata(file).with_context(|| format!("host key file {shown}"))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(UsageError(format!(
            "host key file {shown} is readable by others (mode {mode:04o}): it is a secret like an SSH key; run `chmod 600 {shown}`"
        ))
        .into());
    }
    let bytes = zeroize::Zeroizing::new(
        std::fs::read(file).with_context(|| format!("host key file {shown}"))?,
    );
    let parsed = HostKeyFile::parse(&bytes, &format!("host key file {shown}"))?;
    let key = if parsed.needs_passphrase() {
        let pass = password::Source::of(g).get()?;
        parsed.unlock(Some(&pass))?
    } else {
        parsed.unlock(None)?
    };
    let backend = g.backend_at(location)?;
    let options = lifeboat::repo::OpenOptions {
        lock_wait: g.lock_wait,
        cache_dir: None,
        host_cache_dir: g.cache_home(),
    };
    let mut repo = Repository::open_host(backend, key, &options)?;
    repo.set_observer(Arc::new(progress::Log {
        tally: g.tally.clone(),
    }));
    Ok(repo)
}
