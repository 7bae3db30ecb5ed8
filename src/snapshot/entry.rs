//! One filesystem object in a snapshot (FORMAT.md §8, "The tree stream"). Files from the host,
//! from a Docker volume's tar stream and from the host-configuration profile all become
//! `Entry`s, so dedup, verification and restore are written once.

use serde::{Deserialize, Serialize};

use crate::id::Id;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Hardlink,
    Fifo,
    Chardev,
    Blockdev,
    Socket,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::File => "file",
            Kind::Dir => "dir",
            Kind::Symlink => "symlink",
            Kind::Hardlink => "hardlink",
            Kind::Fifo => "fifo",
            Kind::Chardev => "chardev",
            Kind::Blockdev => "blockdev",
            Kind::Socket => "socket",
        }
    }

    /// The type letter `ls -l` shows.
    /// The kind of a file as the filesystem reports it.
    pub fn of(ft: std::fs::FileType) -> Kind {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_file() {
            Kind::File
        } else if ft.is_dir() {
            Kind::Dir
        } else if ft.is_symlink() {
            Kind::Symlink
        } else if ft.is_fifo() {
            Kind::Fifo
        } else if ft.is_char_device() {
            Kind::Chardev
        } else if ft.is_block_device() {
            Kind::Blockdev
        } else {
            Kind::Socket
        }
    }

    pub fn letter(self) -> char {
        match self {
            Kind::File | Kind::Hardlink => '-',
            Kind::Dir => 'd',
            Kind::Symlink => 'l',
            Kind::Fifo => 'p',
            Kind::Chardev => 'c',
            Kind::Blockdev => 'b',
            Kind::Socket => 's',
        }
    }
}

/// Where a regular file's bytes are.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Content {
    pub chunks: Vec<Id>,
    #[serde(with = "crate::util::bytes32")]
    pub sha256: [u8; 32],
    /// Data ranges `(offset, length)` of a sparse file; the chunks fill them in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extents: Option<Vec<(u64, u64)>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Xattr(
    #[serde(with = "serde_bytes")] pub Vec<u8>,
    #[serde(with = "serde_bytes")] pub Vec<u8>,
);

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    #[serde(with = "serde_bytes")]
    pub path: Vec<u8>,
    pub kind: Kind,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    pub mtime: i64,
    pub atime: i64,
    pub ctime: i64,
    #[serde(default)]
    pub ino: u64,
    #[serde(default)]
    pub dev: u64,
    #[serde(default)]
    pub nlink: u64,
    #[serde(default)]
    pub size: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub xattrs: Vec<Xattr>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "serde_bytes")]
    pub target: Option<Vec<u8>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rdev: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Content>,
}

impl Entry {
    /// A directory entry with neutral metadata (used for synthesized ancestors).
    pub fn new(path: Vec<u8>, kind: Kind) -> Entry {
        Entry {
            path,
            kind,
            mode: 0o755,
            uid: 0,
            gid: 0,
            user: None,
            group: None,
            mtime: 0,
            atime: 0,
            ctime: 0,
            ino: 0,
            dev: 0,
            nlink: 1,
            size: 0,
            xattrs: Vec::new(),
            target: None,
            rdev: None,
            content: None,
        }
    }

    pub fn path_str(&self) -> String {
        crate::util::show(&self.path)
    }

    /// `drwxr-xr-x`-style mode string including setuid/setgid/sticky.
    pub fn mode_string(&self) -> String {
        let m = self.mode;
        let mut s = String::with_capacity(10);
        s.push(self.kind.letter());
        let bit = |b: u32, c: char| if m & b != 0 { c } else { '-' };
        let special = |x: u32, sp: u32, lower: char, upper: char| match (m & x != 0, m & sp != 0) {
            (true, true) => lower,
            (false, true) => upper,
            (true, false) => 'x',
            (false, false) => '-',
        };
        s.push(bit(0o400, 'r'));
        s.push(bit(0o200, 'w'));
        s.push(special(0o100, 0o4000, 's', 'S'));
        s.push(bit(0o040, 'r'));
        s.push(bit(0o020, 'w'));
        s.push(special(0o010, 0o2000, 's', 'S'));
        s.push(bit(0o004, 'r'));
        s.push(bit(0o002, 'w'));
        s.push(special(0o001, 0o1000, 't', 'T'));
        s
    }

    /// Whether the metadata that decides "unchanged since the parent snapshot" matches.
    pub fn same_file_state(&self, other: &Entry) -> bool {
        self.kind == other.kind
            && self.size == other.size
            && self.mtime == other.mtime
            && self.ctime == other.ctime
            && self.ino == other.ino
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cbor_round_trip_with_binary_names() {
        let mut e = Entry::new(b"/d/\xff\xfe name".to_vec(), Kind::File);
        e.xattrs.push(Xattr(b"user.k".to_vec(), vec![0, 1, 2]));
        e.target = Some(b"t".to_vec());
        e.content = Some(Content {
            chunks: vec![Id::random()],
            sha256: [9; 32],
            extents: Some(vec![(0, 5)]),
        });
        let mut buf = Vec::new();
        ciborium::into_writer(&e, &mut buf).unwrap();
        let back: Entry = ciborium::from_reader(&buf[..]).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn mode_strings() {
        let mut e = Entry::new(b"/x".to_vec(), Kind::File);
        e.mode = 0o4755;
        assert_eq!(e.mode_string(), "-rwsr-xr-x");
        e.kind = Kind::Dir;
        e.mode = 0o1777;
        assert_eq!(e.mode_string(), "drwxrwxrwt");
    }
}
