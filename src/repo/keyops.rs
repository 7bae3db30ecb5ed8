//! Managing the repository's keys: password key files (FORMAT.md §4) and, in version 2, the
//! owner's register of write-only host keys (§13.2).

use super::hosts::HostRecord;
use super::{Capability, FileType, HostKey, Repository, keys};
use crate::crypto::KdfParams;
use crate::error::{Error, Result};
use crate::id::Id;

impl Repository {
    /// Add a key file for another password.
    pub fn add_key(&self, password: &[u8], kdf: KdfParams) -> Result<Id> {
        self.require(Capability::Write)?;
        let master = self.owner_master("add a key")?;
        let (id, bytes) = keys::KeyFile::create(master, password, kdf)?;
        self.backend
            .write(FileType::Key, &id.to_hex(), &bytes)
            .map_err(|e| Error::io("keys", e))?;
        Ok(id)
    }

    /// Password keys, then host keys (version 2), oldest first.
    pub fn list_keys(&self) -> Result<Vec<keys::KeyInfo>> {
        self.owner_master("list the repository's keys")?;
        let mut out = Vec::new();
        for name in self
            .backend
            .list(FileType::Key)
            .map_err(|e| Error::io("keys", e))?
            .into_iter()
            .filter(|n| keys::is_key_file_name(n))
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
        for h in self.host_records()? {
            out.push(keys::KeyInfo::host(&h));
        }
        Ok(out)
    }

    /// The master keys, or the refusal a write-only host key gets for `what`.
    fn owner_master(&self, what: &str) -> Result<&crate::crypto::MasterKeys> {
        match (self.keys.master(), self.keys.host_key()) {
            (Some(m), _) => Ok(m),
            (None, Some(h)) => Err(Error::WriteOnly {
                hostname: h.hostname.clone(),
                refused: what.into(),
            }),
            (None, None) => Err(Error::Internal("a handle with no keys".into())),
        }
    }

    /// Make a write-only host key for `hostname` and register its public key (FORMAT.md
    /// §13.2). The key is returned for the caller to write to a file; the repository keeps
    /// only the signed record.
    pub fn add_host_key(&self, hostname: &str) -> Result<HostKey> {
        self.require(Capability::Write)?;
        let master = self.owner_master("add a key")?;
        let Some(owner) = self.keys.owner_public().copied() else {
            return Err(Error::Invalid(format!(
                "{}: format version 1 has no write-only host keys; the owner must migrate the repository to version 2 first",
                self.backend.location()
            )));
        };
        if hostname.is_empty() || hostname.chars().any(char::is_control) {
            return Err(Error::Invalid(format!("{hostname:?} is not a hostname")));
        }
        let key = HostKey::generate(
            self.keys.repo_id(),
            hostname,
            owner,
            master.id_key(),
            master.chunker_seed,
        );
        self.put_host_record(&HostRecord {
            host_id: hex::encode(key.host_id),
            hostname: hostname.to_string(),
            public: hex::encode(key.public()),
            added: crate::util::now_rfc3339(),
            revoked: None,
        })?;
        Ok(key)
    }

    /// Revoke every host key of `hostname` not revoked yet; returns the records revoked.
    pub fn revoke_host_keys(&self, hostname: &str) -> Result<Vec<HostRecord>> {
        self.require(Capability::Write)?;
        self.owner_master("revoke a host key")?;
        let now = crate::util::now_rfc3339();
        let mut revoked = Vec::new();
        for mut h in self.host_records()? {
            if h.hostname == hostname && h.revoked.is_none() {
                h.revoked = Some(now.clone());
                self.put_host_record(&h)?;
                revoked.push(h);
            }
        }
        Ok(revoked)
    }

    /// Name of the key file the password opened (`keys/<name>`).
    pub fn key_in_use(&self) -> &str {
        &self.key_in_use
    }

    /// Remove a key file by ID prefix. The last key, and the key in use, cannot be removed.
    pub fn remove_key(&self, prefix: &str) -> Result<String> {
        self.require(Capability::Write)?;
        self.owner_master("remove a key")?;
        let names: Vec<String> = self
            .backend
            .list(FileType::Key)
            .map_err(|e| Error::io("keys", e))?
            .into_iter()
            .filter(|n| keys::is_key_file_name(n))
            .collect();
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
}
