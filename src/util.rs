//! Small helpers shared across modules: time formatting, host identity, the ordering and
//! validation of snapshot paths, and atomic file writes.

use std::cmp::Ordering;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Current time as RFC 3339 with nanoseconds, UTC.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

pub fn hostname() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

pub fn username() -> String {
    uzers::get_current_username()
        .map(|u| u.to_string_lossy().into_owned())
        .unwrap_or_else(|| rustix::process::geteuid().as_raw().to_string())
}

pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Order of paths in a tree stream: component by component, bytewise
/// (`/a` < `/a/b` < `/a/b/c` < `/a/c` < `/ab`). Equivalent to comparing bytes with `/` treated
/// as the smallest byte, which is also the order of a depth-first walk with sorted siblings.
pub fn path_cmp(a: &[u8], b: &[u8]) -> Ordering {
    let key = |c: u8| if c == b'/' { 0 } else { c };
    for (x, y) in a.iter().zip(b.iter()) {
        match key(*x).cmp(&key(*y)) {
            Ordering::Equal => continue,
            o => return o,
        }
    }
    a.len().cmp(&b.len())
}

/// Why a stored path is not acceptable, or `None` when it is normalised (FORMAT.md §8).
pub fn path_problem(p: &[u8]) -> Option<&'static str> {
    if p.first() != Some(&b'/') {
        return Some("path is not absolute");
    }
    if p == b"/" {
        return None;
    }
    if p.contains(&0) {
        return Some("path contains a NUL byte");
    }
    if p.len() > 4096 {
        return Some("path longer than 4096 bytes");
    }
    for comp in p[1..].split(|&c| c == b'/') {
        match comp {
            b"" => return Some("path has an empty component"),
            b"." | b".." => return Some("path has a '.' or '..' component"),
            c if c.len() > 255 => return Some("path component longer than 255 bytes"),
            _ => {}
        }
    }
    None
}

/// Normalise an absolute path given by a user: repeated and trailing slashes and `.`
/// components go; `..` is refused (its meaning depends on symlinks the snapshot may not hold).
pub fn normalize_abs(p: &[u8]) -> Result<Vec<u8>, String> {
    if p.first() != Some(&b'/') {
        return Err(format!("{} is not an absolute path", show(p)));
    }
    let mut out = Vec::with_capacity(p.len());
    for comp in p.split(|&c| c == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => return Err(format!("{}: '..' is not allowed here", show(p))),
            c => {
                out.push(b'/');
                out.extend_from_slice(c);
            }
        }
    }
    if out.is_empty() {
        out.push(b'/');
    }
    Ok(out)
}

/// The parent of a normalised absolute path (`/a/b` -> `/a`, `/a` -> `/`).
pub fn parent(p: &[u8]) -> Option<&[u8]> {
    if p == b"/" {
        return None;
    }
    let i = p.iter().rposition(|&c| c == b'/')?;
    Some(if i == 0 { b"/" } else { &p[..i] })
}

/// Whether `p` is `dir` or inside it.
pub fn is_within(p: &[u8], dir: &[u8]) -> bool {
    dir == b"/" || p == dir || (p.starts_with(dir) && p.get(dir.len()) == Some(&b'/'))
}

/// A byte path (or name) for people: control characters, invalid UTF-8 and backslashes
/// escaped ([`crate::escape::bytes`]). For data (`--json`, files) use
/// [`crate::escape::json_fields`] or keep the bytes.
pub fn show(p: &[u8]) -> String {
    crate::escape::bytes(p)
}

/// [`show`] for a filesystem path.
pub fn show_path(p: impl AsRef<Path>) -> String {
    use std::os::unix::ffi::OsStrExt;
    crate::escape::bytes(p.as_ref().as_os_str().as_bytes())
}

/// Where snapshot path `p` (absolute) lands under `root`: `root` `/` gives `p` itself, never
/// `//p`; a trailing slash on `root` is not doubled either.
pub fn under(root: &Path, p: &[u8]) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    let mut out = root.as_os_str().as_bytes().to_vec();
    while out.last() == Some(&b'/') {
        out.pop();
    }
    if p != b"/" {
        if p.first() != Some(&b'/') {
            out.push(b'/');
        }
        out.extend_from_slice(p);
    }
    if out.is_empty() {
        out.push(b'/');
    }
    out
}

/// Make snapshot roots absolute with real (symlink-free) parents, sorted in stream order,
/// without duplicates or roots nested in other roots.
pub fn normalize_roots(paths: &[PathBuf]) -> crate::Result<Vec<PathBuf>> {
    use std::os::unix::ffi::OsStrExt;
    let mut out = Vec::new();
    for p in paths {
        let abs = std::path::absolute(p).map_err(|e| crate::Error::io(p, e))?;
        std::fs::symlink_metadata(&abs).map_err(|e| crate::Error::io(&abs, e))?;
        let real = match (abs.parent(), abs.file_name()) {
            (Some(parent), Some(name)) => parent
                .canonicalize()
                .map_err(|e| crate::Error::io(parent, e))?
                .join(name),
            _ => abs.canonicalize().map_err(|e| crate::Error::io(&abs, e))?,
        };
        out.push(real);
    }
    out.sort_by(|a, b| path_cmp(a.as_os_str().as_bytes(), b.as_os_str().as_bytes()));
    let mut kept: Vec<PathBuf> = Vec::new();
    for p in out {
        let inside = kept
            .last()
            .is_some_and(|k| is_within(p.as_os_str().as_bytes(), k.as_os_str().as_bytes()));
        if !inside {
            kept.push(p);
        }
    }
    Ok(kept)
}

/// Serde for `[u8; 32]` as a CBOR byte string.
pub mod bytes32 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let b: serde_bytes::ByteBuf = Deserialize::deserialize(d)?;
        <[u8; 32]>::try_from(b.as_slice())
            .map_err(|_| serde::de::Error::invalid_length(b.len(), &"32 bytes"))
    }
}

/// Human-readable byte counts (binary units).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// SHA-256 of everything a reader yields.
pub fn sha256_of(mut r: impl std::io::Read) -> std::io::Result<[u8; 32]> {
    use sha2::Digest;
    let mut sha = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return Ok(sha.finalize().into()),
            Ok(n) => sha.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Feed `n` zero bytes to a SHA-256 (the holes of sparse files).
pub fn sha256_zeros(sha: &mut sha2::Sha256, mut n: u64) {
    use sha2::Digest;
    static ZEROS: [u8; 65536] = [0; 65536];
    while n > 0 {
        let k = n.min(ZEROS.len() as u64) as usize;
        sha.update(&ZEROS[..k]);
        n -= k as u64;
    }
}

/// Prefix of the temporary files [`atomic_write_mode`] leaves only when the process dies
/// mid-write (so they can be recognised and cleaned up later).
pub const TMP_PREFIX: &str = ".tmp-";

/// 16 random hex digits, for temporary names.
pub fn random_suffix() -> String {
    let mut b = [0u8; 8];
    crate::crypto::fill_random(&mut b);
    hex::encode(b)
}

/// Write `parts` one after the other to `dir/name` atomically: temporary file in `dir`, fsync,
/// rename, fsync `dir`. The file gets exactly `mode`, whatever the umask. With `replace` false
/// an existing file is never overwritten (link(2) fails instead). On error nothing is left
/// behind.
pub fn atomic_write_mode(
    dir: &Path,
    name: &str,
    parts: &[&[u8]],
    mode: u32,
    replace: bool,
) -> io::Result<()> {
    let tmp = dir.join(format!("{TMP_PREFIX}{}", random_suffix()));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        for part in parts {
            f.write_all(part)?;
        }
        f.sync_all()?;
        drop(f);
        let dest = dir.join(name);
        if replace {
            fs::rename(&tmp, &dest)?;
        } else {
            fs::hard_link(&tmp, &dest)?;
            fs::remove_file(&tmp)?;
        }
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Replace the file at `path` atomically with `data`, mode `mode` (see [`atomic_write_mode`]).
pub fn write_file_atomic(path: &Path, data: &[u8], mode: u32) -> crate::Result<()> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| crate::Error::Invalid(format!("{}: not a file name", path.display())))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    atomic_write_mode(dir, name, &[data], mode, true).map_err(|e| crate::Error::io(path, e))
}

/// Replace the file at `path` atomically with what `fill` writes into it (streamed, for data
/// too large to hold in memory): a temporary file in its directory, created 0600 (`fill` may
/// give it another mode once the content is known), fsync, rename, fsync the directory. When
/// `fill` fails, the temporary file is removed and `path` is untouched.
pub fn write_file_atomic_with<T>(
    path: &Path,
    fill: impl FnOnce(&mut File) -> crate::Result<T>,
) -> crate::Result<T> {
    let name = path
        .file_name()
        .ok_or_else(|| crate::Error::Invalid(format!("{}: not a file name", show_path(path))))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let tmp = dir.join(format!("{TMP_PREFIX}{}", random_suffix()));
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| crate::Error::io(path, e))?;
    let result = fill(&mut f).and_then(|v| {
        let io = |e| crate::Error::io(path, e);
        f.sync_all().map_err(io)?;
        fs::rename(&tmp, dir.join(name)).map_err(io)?;
        File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
        Ok(v)
    });
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_depth_first() {
        let mut v: Vec<&[u8]> = vec![b"/ab", b"/a/c", b"/a", b"/a/b/c", b"/a/b", b"/a-c", b"/"];
        v.sort_by(|a, b| path_cmp(a, b));
        let want: Vec<&[u8]> = vec![b"/", b"/a", b"/a/b", b"/a/b/c", b"/a/c", b"/a-c", b"/ab"];
        assert_eq!(v, want);
    }

    #[test]
    fn path_rules() {
        assert!(path_problem(b"/a/b").is_none());
        assert!(path_problem(b"/").is_none());
        for bad in [
            &b"a/b"[..],
            b"/a//b",
            b"/a/../b",
            b"/a/./b",
            b"/a/",
            b"/a\0b",
            b"",
        ] {
            assert!(path_problem(bad).is_some(), "{:?}", show(bad));
        }
        assert!(path_problem(&[b"/".as_slice(), &[b'x'; 256]].concat()).is_some());
        assert_eq!(parent(b"/a/b"), Some(&b"/a"[..]));
        assert_eq!(parent(b"/a"), Some(&b"/"[..]));
        assert!(is_within(b"/a/b", b"/a") && !is_within(b"/ab", b"/a") && is_within(b"/x", b"/"));
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(normalize_abs(b"/a//b/./c/").unwrap(), b"/a/b/c");
        assert_eq!(normalize_abs(b"///").unwrap(), b"/");
        assert!(normalize_abs(b"/a/../b").is_err() && normalize_abs(b"a/b").is_err());
        assert_eq!(under(Path::new("/"), b"/etc/x"), b"/etc/x");
        assert_eq!(under(Path::new("/tmp/r/"), b"/etc"), b"/tmp/r/etc");
        assert_eq!(under(Path::new("/tmp/r"), b"/"), b"/tmp/r");
        assert_eq!(under(Path::new("/"), b"/"), b"/");
        assert_eq!(under(Path::new("rel"), b"/a"), b"rel/a");
    }

    #[test]
    fn atomic_write_sets_mode_and_replaces() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f.prom");
        write_file_atomic(&p, b"one", 0o644).unwrap();
        write_file_atomic(&p, b"two", 0o600).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o7777,
            0o600
        );
        // Only the file itself: no temporary left behind.
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
        assert!(write_file_atomic(&d.path().join("missing/f"), b"x", 0o644).is_err());
    }

    #[test]
    fn streamed_atomic_write_leaves_nothing_when_it_fails() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("out.bin");
        fs::write(&p, b"old").unwrap();
        let r: crate::Result<()> = write_file_atomic_with(&p, |f| {
            f.write_all(b"partial").unwrap();
            Err(crate::Error::Interrupted)
        });
        assert!(matches!(r, Err(crate::Error::Interrupted)));
        assert_eq!(fs::read(&p).unwrap(), b"old");
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1, "temporary left");
        write_file_atomic_with(&p, |f| {
            f.write_all(b"new").map_err(|e| crate::Error::io("t", e))?;
            f.set_permissions(fs::Permissions::from_mode(0o640))
                .map_err(|e| crate::Error::io("t", e))
        })
        .unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"new");
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o7777,
            0o640
        );
    }
}

/// Parse a duration: `30s`, `5m`, `2h`, `1d`, `1w`, or plain seconds; a sum like `1h30m` too.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let t = s.trim();
    let bad = || format!("{s:?} is not a duration like 30s, 5m, 2h, 1d or 1h30m");
    if t.is_empty() {
        return Err(bad());
    }
    let mut total: u64 = 0;
    let mut rest = t;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let mult = match rest[..unit_len].trim() {
            "" if rest.len() == unit_len => 1,
            "s" => 1,
            "m" | "min" => 60,
            "h" => 3600,
            "d" => 86400,
            "w" => 7 * 86400,
            u => return Err(format!("{s:?}: unknown unit {u:?} (use s, m, h, d or w)")),
        };
        total = n
            .checked_mul(mult)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
        rest = &rest[unit_len..];
    }
    Ok(std::time::Duration::from_secs(total))
}

#[cfg(test)]
mod duration_tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
        assert!(parse_duration("x").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("5y").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
    }
}
