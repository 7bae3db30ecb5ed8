//! Entries as a POSIX tar archive (pax interchange format), so a snapshot's files reach tools
//! that do not know lifeboat (`lifeboat dump ... | tar -x`) with their names, owners, modes,
//! times, links and extended attributes. Each member is a ustar header, preceded by a pax
//! extended header when a value does not fit one: a long or non-UTF-8 name or link target, a
//! long user or group name, a large id, a file of 8 GiB or more, an mtime with nanoseconds or
//! before 1970, extended attributes (`SCHILY.xattr.NAME`, as GNU tar and bsdtar read them).
//!
//! The writer never ends an archive it did not finish: the end-of-archive blocks are written
//! only by [`TarWriter::finish`], so a stream cut short by an error reads as truncated to any
//! `tar`, never as a complete archive missing files.

use std::io::{Read, Write};

use super::entry::{Entry, Kind};

const BLOCK: usize = 512;
/// Largest value of a 12-byte octal field (11 digits: sizes, times).
const MAX_OCTAL_11: u64 = 0o77_777_777_777;

/// pax records of one member: key and value, both bytes.
type Records = Vec<(Vec<u8>, Vec<u8>)>;

/// What a member holds besides its header.
pub enum Body<'a> {
    /// Directories, symlinks (their target is the entry's), FIFOs, devices.
    None,
    /// A regular file's bytes: exactly the entry's `size` of them.
    Data(&'a mut dyn Read),
    /// A hard link to the member of this name, written earlier.
    Link(&'a [u8]),
}

/// Why a member could not be written.
#[derive(Debug)]
pub enum TarError {
    /// Reading the member's data failed (damaged repository data surfaces here).
    Read(std::io::Error),
    /// Writing the archive failed.
    Write(std::io::Error),
    /// The data held another number of bytes than the entry's size.
    Size { expected: u64, got: u64 },
    /// The kind cannot be stored in a tar archive (a socket).
    Unsupported(Kind),
}

/// Writes a tar archive member by member.
pub struct TarWriter<W: Write> {
    out: W,
}

impl<W: Write> TarWriter<W> {
    pub fn new(out: W) -> Self {
        TarWriter { out }
    }

    /// Append `e` under `name` (relative, without a leading `/`; a directory's name without
    /// its trailing `/`, which is added). Returns the data bytes written.
    pub fn append(&mut self, name: &[u8], e: &Entry, body: Body<'_>) -> Result<u64, TarError> {
        let (typeflag, link): (u8, Option<&[u8]>) = match (&body, e.kind) {
            (Body::Link(target), _) => (b'1', Some(target)),
            (Body::Data(_), _) => (b'0', None),
            (Body::None, Kind::Dir) => (b'5', None),
            (Body::None, Kind::Symlink) => (b'2', Some(e.target.as_deref().unwrap_or_default())),
            (Body::None, Kind::Fifo) => (b'6', None),
            (Body::None, Kind::Chardev) => (b'3', None),
            (Body::None, Kind::Blockdev) => (b'4', None),
            (Body::None, kind) => return Err(TarError::Unsupported(kind)),
        };
        let mut name = name.to_vec();
        if typeflag == b'5' && !name.ends_with(b"/") {
            name.push(b'/');
        }
        let size = if typeflag == b'0' { e.size } else { 0 };
        let (header, pax) = header(e, &name, typeflag, link, size);
        if !pax.is_empty() {
            let data = pax_data(&pax);
            let mut h = empty_header();
            let u = h.as_ustar_mut().expect("ustar");
            u.name[..14].copy_from_slice(b"././@PaxHeader");
            octal(&mut u.mode, 0o644);
            octal(&mut u.size, data.len() as u64);
            u.typeflag[0] = b'x';
            h.set_cksum();
            self.block(h.as_bytes()).map_err(TarError::Write)?;
            self.out.write_all(&data).map_err(TarError::Write)?;
            self.pad(data.len() as u64).map_err(TarError::Write)?;
        }
        self.block(header.as_bytes()).map_err(TarError::Write)?;
        let Body::Data(data) = body else {
            return Ok(0);
        };
        let got = copy_exact(data, &mut self.out, size)?;
        if got != size {
            return Err(TarError::Size {
                expected: size,
                got,
            });
        }
        self.pad(size).map_err(TarError::Write)?;
        Ok(size)
    }

    /// End the archive (two zero blocks) and flush it.
    pub fn finish(&mut self) -> std::io::Result<()> {
        self.out.write_all(&[0u8; 2 * BLOCK])?;
        self.out.flush()
    }

    /// The writer underneath (to write something other than members to it).
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    pub fn into_inner(self) -> W {
        self.out
    }

    fn block(&mut self, b: &[u8; BLOCK]) -> std::io::Result<()> {
        self.out.write_all(b)
    }

    /// Zeros up to the next block boundary after `len` bytes.
    fn pad(&mut self, len: u64) -> std::io::Result<()> {
        let rest = (len % BLOCK as u64) as usize;
        if rest == 0 {
            return Ok(());
        }
        self.out.write_all(&[0u8; BLOCK][..BLOCK - rest])
    }
}

/// Copy `size` bytes from `r` to `w`, then make sure `r` has nothing more (a reader that
/// checks its data at its end, such as a snapshot's content reader, reports damage there).
/// Returns how many bytes `r` gave, up to `size + 1`.
pub fn copy_exact(r: &mut dyn Read, w: &mut dyn Write, size: u64) -> Result<u64, TarError> {
    let mut buf = vec![0u8; 256 << 10];
    let mut done = 0u64;
    while done < size {
        let want = buf
            .len()
            .min(usize::try_from(size - done).unwrap_or(usize::MAX));
        let n = match r.read(&mut buf[..want]) {
            Ok(0) => return Ok(done),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(TarError::Read(e)),
        };
        w.write_all(&buf[..n]).map_err(TarError::Write)?;
        done += n as u64;
    }
    loop {
        match r.read(&mut buf[..1]) {
            Ok(0) => return Ok(done),
            Ok(_) => return Ok(done + 1),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(TarError::Read(e)),
        }
    }
}

fn empty_header() -> tar::Header {
    let mut h = tar::Header::new_ustar();
    // `new_ustar` sets magic "ustar\0" and version "00"; every other field starts zeroed.
    let u = h.as_ustar_mut().expect("ustar");
    octal(&mut u.mode, 0);
    octal(&mut u.uid, 0);
    octal(&mut u.gid, 0);
    octal(&mut u.size, 0);
    octal(&mut u.mtime, 0);
    h
}

/// The ustar header of a member and the pax records it needs.
fn header(
    e: &Entry,
    name: &[u8],
    typeflag: u8,
    link: Option<&[u8]>,
    size: u64,
) -> (tar::Header, Records) {
    let mut pax: Records = Vec::new();
    let mut record = |k: &str, v: Vec<u8>| pax.push((k.as_bytes().to_vec(), v));
    let mut h = empty_header();
    let u = h.as_ustar_mut().expect("ustar");
    let mut binary = false;
    if !split_name(name, &mut u.prefix, &mut u.name) {
        let cut = name.len().min(u.name.len());
        u.name[..cut].copy_from_slice(&name[..cut]);
        binary |= std::str::from_utf8(name).is_err();
        record("path", name.to_vec());
    }
    if let Some(target) = link {
        if target.len() <= u.linkname.len() {
            u.linkname[..target.len()].copy_from_slice(target);
        } else {
            binary |= std::str::from_utf8(target).is_err();
            record("linkpath", target.to_vec());
        }
    }
    octal(&mut u.mode, u64::from(e.mode & 0o7777));
    for (field, id, key) in [(&mut u.uid, e.uid, "uid"), (&mut u.gid, e.gid, "gid")] {
        if !octal(field, u64::from(id)) {
            record(key, id.to_string().into_bytes());
        }
    }
    for (field, owner, key) in [
        (&mut u.uname, &e.user, "uname"),
        (&mut u.gname, &e.group, "gname"),
    ] {
        match owner.as_deref() {
            // NUL-terminated in the header: at most 31 bytes.
            Some(n) if n.len() < field.len() => field[..n.len()].copy_from_slice(n.as_bytes()),
            Some(n) => record(key, n.as_bytes().to_vec()),
            None => {}
        }
    }
    if !octal(&mut u.size, size) {
        record("size", size.to_string().into_bytes());
    }
    let secs = e.mtime.div_euclid(1_000_000_000);
    let nanos = e.mtime.rem_euclid(1_000_000_000);
    let whole = u64::try_from(secs).ok().filter(|s| *s <= MAX_OCTAL_11);
    octal(&mut u.mtime, whole.unwrap_or(0));
    if whole.is_none() || nanos != 0 {
        record("mtime", pax_time(e.mtime).into_bytes());
    }
    u.typeflag[0] = typeflag;
    if let (Kind::Chardev | Kind::Blockdev, Some(rdev)) = (e.kind, e.rdev) {
        let (major, minor) = (rustix::fs::major(rdev), rustix::fs::minor(rdev));
        if !octal(&mut u.dev_major, u64::from(major)) {
            record("SCHILY.devmajor", major.to_string().into_bytes());
        }
        if !octal(&mut u.dev_minor, u64::from(minor)) {
            record("SCHILY.devminor", minor.to_string().into_bytes());
        }
    }
    for x in &e.xattrs {
        let mut key = b"SCHILY.xattr.".to_vec();
        key.extend_from_slice(&x.0);
        binary |= std::str::from_utf8(&x.0).is_err();
        pax.push((key, x.1.clone()));
    }
    if binary {
        // Names that are not UTF-8 are stored byte for byte (POSIX pax `hdrcharset`).
        pax.insert(0, (b"hdrcharset".to_vec(), b"BINARY".to_vec()));
    }
    h.set_cksum();
    (h, pax)
}

/// Put `name` into the ustar `name` field, or split at a `/` into `prefix` and `name`; false
/// when it fits neither way (a pax `path` record carries it then).
fn split_name(name: &[u8], prefix: &mut [u8; 155], field: &mut [u8; 100]) -> bool {
    if name.len() <= field.len() {
        field[..name.len()].copy_from_slice(name);
        return true;
    }
    // The split's `/` is dropped: prefix + "/" + name.
    let body = name.strip_suffix(b"/").unwrap_or(name);
    let tail = &name[body.len()..];
    for (i, _) in body.iter().enumerate().filter(|(_, c)| **c == b'/') {
        let (p, rest) = (&name[..i], &name[i + 1..]);
        if p.len() <= prefix.len() && rest.len() <= field.len() && rest.len() > tail.len() {
            prefix[..p.len()].copy_from_slice(p);
            field[..rest.len()].copy_from_slice(rest);
            return true;
        }
    }
    false
}

/// `v` as zero-padded octal with a terminating NUL; false (field zeroed) when it does not fit.
fn octal(field: &mut [u8], v: u64) -> bool {
    let digits = field.len() - 1;
    let max = if digits >= 21 {
        u64::MAX
    } else {
        (1u64 << (3 * digits)) - 1
    };
    let fits = v <= max;
    let s = format!("{:0digits$o}", if fits { v } else { 0 });
    field[..digits].copy_from_slice(s.as_bytes());
    field[digits] = 0;
    fits
}

/// Nanoseconds since the epoch as a pax time: `SECONDS[.FRACTION]`, negative before 1970.
fn pax_time(ns: i64) -> String {
    let sign = if ns < 0 { "-" } else { "" };
    let abs = ns.unsigned_abs();
    let (secs, frac) = (abs / 1_000_000_000, abs % 1_000_000_000);
    if frac == 0 {
        format!("{sign}{secs}")
    } else {
        format!("{sign}{secs}.{frac:09}")
    }
}

/// pax records: `LEN KEY=VALUE\n`, where LEN counts the whole record including itself.
pub fn pax_data(records: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in records {
        let body = k.len() + v.len() + 3; // ' ', '=', '\n'
        let mut len = body + 1;
        while len != body + len.to_string().len() {
            len = body + len.to_string().len();
        }
        out.extend_from_slice(format!("{len} ").as_bytes());
        out.extend_from_slice(k);
        out.push(b'=');
        out.extend_from_slice(v);
        out.push(b'\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::entry::Xattr;

    fn entry(kind: Kind) -> Entry {
        let mut e = Entry::new(b"/x".to_vec(), kind);
        e.mode = 0o640;
        e.uid = 1234;
        e.gid = 5678;
        e.user = Some("alice".into());
        e.group = Some("staff".into());
        e.mtime = 1_700_000_000_123_456_789;
        e
    }

    /// Name, type, data and pax records of each member.
    type Member = (Vec<u8>, tar::EntryType, Vec<u8>, Vec<(String, Vec<u8>)>);

    fn read_back(bytes: &[u8]) -> Vec<Member> {
        let mut a = tar::Archive::new(bytes);
        let mut out = Vec::new();
        for m in a.entries().unwrap() {
            let mut m = m.unwrap();
            let pax: Vec<(String, Vec<u8>)> = m
                .pax_extensions()
                .unwrap()
                .map(|exts| {
                    exts.map(|ext| {
                        let ext = ext.unwrap();
                        (ext.key().unwrap().to_string(), ext.value_bytes().to_vec())
                    })
                    .collect()
                })
                .unwrap_or_default();
            let name = m.path_bytes().to_vec();
            let ty = m.header().entry_type();
            let mut data = Vec::new();
            m.read_to_end(&mut data).unwrap();
            out.push((name, ty, data, pax));
        }
        out
    }

    #[test]
    fn members_round_trip_through_a_tar_reader() {
        let mut w = TarWriter::new(Vec::new());
        let dir = entry(Kind::Dir);
        w.append(b"srv/models", &dir, Body::None).unwrap();
        let mut f = entry(Kind::File);
        f.size = 5;
        f.xattrs.push(Xattr(b"user.k".to_vec(), vec![0, 1, 255]));
        w.append(b"srv/models/w.bin", &f, Body::Data(&mut &b"hello"[..]))
            .unwrap();
        w.append(b"srv/models/again", &f, Body::Link(b"srv/models/w.bin"))
            .unwrap();
        let mut l = entry(Kind::Symlink);
        l.target = Some(b"../elsewhere".to_vec());
        w.append(b"srv/models/l", &l, Body::None).unwrap();
        w.finish().unwrap();
        let bytes = w.into_inner();
        assert_eq!(bytes.len() % BLOCK, 0);
        let back = read_back(&bytes);
        assert_eq!(back.len(), 4);
        assert_eq!(back[0].0, b"srv/models/");
        assert_eq!(back[0].1, tar::EntryType::Directory);
        assert_eq!(back[1].2, b"hello");
        assert!(
            back[1]
                .3
                .iter()
                .any(|(k, v)| k == "SCHILY.xattr.user.k" && v == &[0, 1, 255])
        );
        assert!(
            back[1]
                .3
                .iter()
                .any(|(k, v)| k == "mtime" && v == b"1700000000.123456789")
        );
        assert_eq!(back[2].1, tar::EntryType::Link);
        assert_eq!(back[3].1, tar::EntryType::Symlink);
        let mut a = tar::Archive::new(&bytes[..]);
        let m = a.entries().unwrap().nth(1).unwrap().unwrap();
        let h = m.header();
        assert_eq!(h.mode().unwrap(), 0o640);
        assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (1234, 5678));
        assert_eq!(h.username().unwrap(), Some("alice"));
        assert_eq!(h.groupname().unwrap(), Some("staff"));
        assert_eq!(h.mtime().unwrap(), 1_700_000_000);
    }

    #[test]
    fn long_and_binary_names_go_to_pax_records() {
        let long: Vec<u8> = [b"d/".repeat(100), b"file".to_vec()].concat();
        let binary = b"dir/\xff\xfe-name".to_vec();
        let huge_owner = "u".repeat(40);
        let mut e = entry(Kind::File);
        e.user = Some(huge_owner.clone());
        e.uid = u32::MAX;
        let mut w = TarWriter::new(Vec::new());
        w.append(&long, &e, Body::Data(&mut &b""[..])).unwrap();
        w.append(&binary, &e, Body::Data(&mut &b""[..])).unwrap();
        let mut l = entry(Kind::Symlink);
        l.target = Some(vec![b't'; 150]);
        w.append(b"l", &l, Body::None).unwrap();
        w.finish().unwrap();
        let bytes = w.into_inner();
        let back = read_back(&bytes);
        assert_eq!(back[0].0, long);
        assert!(
            back[0]
                .3
                .iter()
                .any(|(k, v)| k == "uname" && v == huge_owner.as_bytes())
        );
        assert!(
            back[0]
                .3
                .iter()
                .any(|(k, v)| k == "uid" && v == b"4294967295")
        );
        // Short enough for the header: stored byte for byte, no record needed.
        assert_eq!(back[1].0, binary);
        let mut a = tar::Archive::new(&bytes[..]);
        let m = a.entries().unwrap().nth(2).unwrap().unwrap();
        assert_eq!(m.link_name_bytes().unwrap().as_ref(), &[b't'; 150][..]);
    }

    #[test]
    fn a_name_is_split_into_prefix_and_name_when_it_can_be() {
        let name: Vec<u8> = [b"p".repeat(120), b"/".to_vec(), b"n".repeat(90)].concat();
        let (mut prefix, mut field) = ([0u8; 155], [0u8; 100]);
        assert!(split_name(&name, &mut prefix, &mut field));
        assert_eq!(&prefix[..120], &b"p".repeat(120)[..]);
        assert_eq!(&field[..90], &b"n".repeat(90)[..]);
        let unsplittable = b"x".repeat(150);
        assert!(!split_name(&unsplittable, &mut [0u8; 155], &mut [0u8; 100]));
    }

    #[test]
    fn data_of_another_size_than_the_entry_is_refused() {
        let mut e = entry(Kind::File);
        e.size = 10;
        let mut w = TarWriter::new(Vec::new());
        let err = w
            .append(b"f", &e, Body::Data(&mut &b"short"[..]))
            .unwrap_err();
        assert!(
            matches!(
                err,
                TarError::Size {
                    expected: 10,
                    got: 5
                }
            ),
            "{err:?}"
        );
        let mut w = TarWriter::new(Vec::new());
        let err = w
            .append(b"f", &e, Body::Data(&mut &b"eleven bytes"[..]))
            .unwrap_err();
        assert!(matches!(err, TarError::Size { got: 11, .. }), "{err:?}");
        let s = entry(Kind::Socket);
        assert!(matches!(
            w.append(b"s", &s, Body::None),
            Err(TarError::Unsupported(Kind::Socket))
        ));
    }

    #[test]
    fn times_before_1970_and_big_sizes_use_records() {
        assert_eq!(pax_time(-1_500_000_000), "-1.500000000");
        assert_eq!(pax_time(2_000_000_000), "2");
        let mut f = [0u8; 12];
        assert!(octal(&mut f, MAX_OCTAL_11));
        assert!(!octal(&mut f, MAX_OCTAL_11 + 1));
        assert_eq!(&f, b"00000000000\0");
        let d = pax_data(&[(b"mtime".to_vec(), b"1.5".to_vec())]);
        assert_eq!(d, b"13 mtime=1.5\n");
        let long = vec![b'x'; 95];
        let d = pax_data(&[(b"k".to_vec(), long)]);
        let len: usize = std::str::from_utf8(&d[..3]).unwrap().parse().unwrap();
        assert_eq!(len, d.len());
    }
}
