//! The archive's writer and reader together, and the reader on hostile input: every cut,
//! every changed byte outside the table of contents' free text, crafted headers. None may
//! panic, and none may be taken for a good archive.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::reader::{Mem, check_digests, scan};
use super::*;
use crate::crypto::KdfParams;
use crate::error::{ArchiveProblem, Error};
use crate::id::Id;
use crate::repo::backend::Backend;
use crate::repo::{BlobKind, IndexFile, LockKind, Repository};

/// BLAKE3 of `data`, hex.
fn digest(data: &[u8]) -> String {
    blake3::hash(data).to_hex().to_string()
}

fn hex(b: u8, n: usize) -> String {
    format!("{b:02x}").repeat(n)
}

/// An archive written through the backend calls a repository makes, without the crypto.
fn small_archive(dir: &Path) -> PathBuf {
    let out = dir.join("small.lbx");
    let w = ArchiveWriter::start(&out, false).unwrap();
    w.create().unwrap();
    w.write(FileType::Key, &hex(0xaa, 32), b"key bytes")
        .unwrap();
    w.write(FileType::Config, "config", b"config bytes")
        .unwrap();
    w.write_parts(
        FileType::Pack,
        &hex(0x3f, 32),
        vec![vec![1u8; 700], vec![2u8; 300]],
    )
    .unwrap();
    w.write(FileType::Index, &hex(0x01, 32), &[7u8; 512])
        .unwrap();
    w.write(FileType::Snapshot, &hex(0x02, 32), b"snap")
        .unwrap();
    // Locks live in memory only.
    w.write(FileType::Lock, &hex(0x0c, 32), b"{}").unwrap();
    assert_eq!(w.list(FileType::Lock).unwrap().len(), 1);
    w.remove(FileType::Lock, &hex(0x0c, 32)).unwrap();
    let refused = w.remove(FileType::Pack, &hex(0x3f, 32)).unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::PermissionDenied);
    assert!(
        w.write(FileType::Index, &hex(0x01, 32), b"again").is_err(),
        "names are written once"
    );
    assert_eq!(
        w.read_at(FileType::Pack, &hex(0x3f, 32), 698, 4).unwrap(),
        [1, 1, 2, 2],
        "what was written reads back while writing"
    );
    assert!(
        !out.exists(),
        "nothing under the output's name before finish"
    );
    let meta = ArchiveMeta {
        repository: vec![9; 8],
        snapshot: Id([2; 32]),
        source_snapshot: None,
    };
    let size = w.finish(&meta, false).unwrap();
    assert_eq!(std::fs::metadata(&out).unwrap().len(), size);
    assert!(!w.temporary_path().exists());
    drop(w);
    assert!(
        out.exists(),
        "a finished archive stays when the writer is dropped"
    );
    out
}

fn problem(bytes: &[u8]) -> Option<ArchiveProblem> {
    scan(&Mem(bytes)).err()
}

#[test]
fn written_archives_read_back_and_are_plain_tar_files() {
    let d = tempfile::tempdir().unwrap();
    let path = small_archive(d.path());
    let r = ArchiveReader::open(&path).unwrap();
    assert_eq!(r.list(FileType::Key).unwrap(), vec![hex(0xaa, 32)]);
    assert_eq!(r.list(FileType::Pack).unwrap(), vec![hex(0x3f, 32)]);
    assert!(r.list(FileType::Lock).unwrap().is_empty());
    assert_eq!(r.read(FileType::Config, "config").unwrap(), b"config bytes");
    assert_eq!(r.size(FileType::Pack, &hex(0x3f, 32)).unwrap(), 1000);
    assert_eq!(
        r.read_at(FileType::Pack, &hex(0x3f, 32), 699, 2).unwrap(),
        [1, 2]
    );
    let past = r
        .read_at(FileType::Pack, &hex(0x3f, 32), 999, 2)
        .unwrap_err();
    assert_eq!(past.kind(), std::io::ErrorKind::UnexpectedEof);
    let missing = r.read(FileType::Index, &hex(0x55, 32)).unwrap_err();
    assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
    let w = r.write(FileType::Index, &hex(0x55, 32), b"x").unwrap_err();
    assert!(w.to_string().contains("is read-only"), "{w}");
    assert!(r.remove(FileType::Pack, &hex(0x3f, 32)).is_err());
    assert!(r.is_read_only());
    r.check_intact().unwrap();
    assert_eq!(r.toc().snapshot, hex(0x02, 32));
    assert_eq!(r.toc().repository, hex(0x09, 8));

    // Any tar reader lists the repository's layout, the table of contents last.
    let mut names = Vec::new();
    let mut ar = tar::Archive::new(std::fs::File::open(&path).unwrap());
    for e in ar.entries().unwrap() {
        let e = e.unwrap();
        names.push(String::from_utf8(e.path_bytes().to_vec()).unwrap());
    }
    assert_eq!(names.first().map(String::as_str), Some("keys/"));
    assert!(names.contains(&"locks/".to_string()));
    assert!(names.contains(&"data/ff/".to_string()));
    assert!(names.contains(&format!("data/3f/{}", hex(0x3f, 32))));
    assert_eq!(names.last().map(String::as_str), Some(TOC_NAME));
}

#[test]
fn an_existing_output_is_kept_unless_replacing_and_an_abandoned_export_leaves_nothing() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("a.lbx");
    std::fs::write(&out, b"precious").unwrap();
    let e = ArchiveWriter::start(&out, false).unwrap_err();
    assert!(
        matches!(&e, Error::Archive(a) if a.problem == ArchiveProblem::Exists),
        "{e}"
    );
    let w = ArchiveWriter::start(&out, true).unwrap();
    w.create().unwrap();
    let tmp = w.temporary_path().to_path_buf();
    assert!(tmp.exists());
    drop(w);
    assert!(
        !tmp.exists(),
        "the temporary file goes with an unfinished writer"
    );
    assert_eq!(std::fs::read(&out).unwrap(), b"precious");
    let listing: Vec<_> = std::fs::read_dir(d.path()).unwrap().collect();
    assert_eq!(listing.len(), 1);
    // Created before finish by someone else: finish without replacing refuses.
    let out2 = d.path().join("b.lbx");
    let w = ArchiveWriter::start(&out2, false).unwrap();
    w.create().unwrap();
    std::fs::write(&out2, b"theirs").unwrap();
    let meta = ArchiveMeta {
        repository: vec![1; 8],
        snapshot: Id([1; 32]),
        source_snapshot: None,
    };
    assert!(w.finish(&meta, false).is_err());
    assert_eq!(std::fs::read(&out2).unwrap(), b"theirs");
}

#[test]
fn every_cut_is_refused_as_truncated() {
    let d = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(small_archive(d.path())).unwrap();
    assert!(scan(&Mem(&bytes)).is_ok());
    let mut cuts: Vec<usize> = (1..bytes.len()).step_by(211).collect();
    cuts.extend((512..bytes.len()).step_by(512));
    cuts.extend(bytes.len() - 1100..bytes.len());
    for cut in cuts {
        match problem(&bytes[..cut]) {
            Some(ArchiveProblem::Truncated(_)) => {}
            Some(ArchiveProblem::NotAnArchive(_)) if cut < 512 => {}
            other => panic!("cut at {cut} of {}: {other:?}", bytes.len()),
        }
    }
}

#[test]
fn every_changed_byte_outside_the_tables_free_text_is_caught() {
    let d = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(small_archive(d.path())).unwrap();
    let good = scan(&Mem(&bytes)).unwrap();
    let toc = good.members.last().unwrap();
    let toc_data = toc.offset..toc.offset + toc.size;
    let pack = good
        .members
        .iter()
        .find(|m| matches!(m.member, Member::File(FileType::Pack, _)))
        .unwrap();
    let pack_header = (pack.offset - BLOCK) as usize;
    // A spread over the whole file, every byte of one header, and every checksum field of
    // the first headers (the one field the checksum does not cover).
    let mut offsets: Vec<usize> = (0..bytes.len()).step_by(151).collect();
    offsets.extend(pack_header..pack_header + 512);
    offsets.extend((0..20).flat_map(|h| h * 512 + 148..h * 512 + 156));
    let mut checked = 0;
    for at in offsets {
        if toc_data.contains(&(at as u64)) {
            continue;
        }
        let mut b = bytes.clone();
        b[at] ^= 0x20;
        let caught = match scan(&Mem(&b)) {
            Err(_) => true,
            Ok(s) => check_digests(&Mem(&b), &s.toc).is_err(),
        };
        assert!(caught, "a changed byte at {at} went unnoticed");
        checked += 1;
    }
    assert!(checked > 1000, "{checked}");
}

/// A valid-looking header block for `name` (checksum set).
fn block(name: &str, size: u64, ty: tar::EntryType) -> Vec<u8> {
    let mut h = tar::Header::new_ustar();
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.set_size(size);
    h.set_mode(0o600);
    h.set_entry_type(ty);
    h.set_cksum();
    h.as_bytes().to_vec()
}

fn with_data(mut head: Vec<u8>, data: &[u8]) -> Vec<u8> {
    head.extend_from_slice(data);
    head.resize(padded(head.len() as u64).unwrap() as usize, 0);
    head
}

/// A tar file of `members` with a table of contents that lists them truthfully, and the end
/// marker.
fn crafted(members: &[(&str, &[u8], tar::EntryType)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut listed = Vec::new();
    for (name, data, ty) in members {
        listed.push(TocMember {
            name: (*name).to_string(),
            offset: out.len() as u64 + BLOCK,
            size: data.len() as u64,
            blake3: digest(data),
        });
        out.extend(with_data(block(name, data.len() as u64, *ty), data));
    }
    let toc = Toc {
        format: FORMAT_NAME.into(),
        version: ARCHIVE_VERSION,
        repository: hex(1, 8),
        snapshot: hex(2, 32),
        source_snapshot: None,
        created: "2026-01-01T00:00:00Z".into(),
        program: "test".into(),
        members: listed,
    };
    let json = serde_json::to_vec(&toc).unwrap();
    out.extend(with_data(
        block(TOC_NAME, json.len() as u64, tar::EntryType::Regular),
        &json,
    ));
    out.extend([0u8; 1024]);
    out
}

const FILE: tar::EntryType = tar::EntryType::Regular;

fn key() -> String {
    format!("keys/{}", hex(0xaa, 32))
}

#[test]
fn crafted_archives_are_refused_without_panics() {
    let k = key();
    let ok = crafted(&[("config", b"c", FILE), (&k, b"k", FILE)]);
    assert!(scan(&Mem(&ok)).is_ok());

    let damaged = |bytes: &[u8], want: &str| match problem(bytes) {
        Some(ArchiveProblem::Damaged(m)) => assert!(m.contains(want), "{m}"),
        other => panic!("expected damage ({want}), got {other:?}"),
    };
    // Names that leave the layout, or climb out of it.
    for bad in [
        "data/../config",
        "../config",
        "/config",
        "keys/../../etc/passwd",
        "data/3f/40aa",
        "index/UPPER",
        "snapshots/",
        "other",
    ] {
        let b = crafted(&[("config", b"c", FILE), (&k, b"k", FILE), (bad, b"x", FILE)]);
        damaged(&b, "member");
    }
    damaged(
        &crafted(&[
            ("config", b"c", FILE),
            (&k, b"k", FILE),
            (&format!("locks/{}", hex(1, 32)), b"{}", FILE),
        ]),
        "lock",
    );
    damaged(
        &crafted(&[("config", b"c", FILE), (&k, b"k", FILE), (&k, b"k", FILE)]),
        "twice",
    );
    damaged(
        &crafted(&[
            ("config", b"c", FILE),
            (&k, b"k", FILE),
            ("keys/", b"", tar::EntryType::Symlink),
        ]),
        "wrong type",
    );
    damaged(&crafted(&[("config", b"c", FILE)]), "no repository");
    // Not a tar file, an empty one, a tar file of something else.
    for junk in [&b""[..], &[0u8; 2048][..], &[b'x'; 4096][..]] {
        assert!(
            matches!(problem(junk), Some(ArchiveProblem::NotAnArchive(_))),
            "{:?}",
            problem(junk)
        );
    }
    let mut plain = with_data(block("notes.txt", 3, FILE), b"abc");
    plain.extend([0u8; 1024]);
    assert!(matches!(
        problem(&plain),
        Some(ArchiveProblem::NotAnArchive(_))
    ));
    let mut no_toc = with_data(block("config", 1, FILE), b"c");
    no_toc.extend([0u8; 1024]);
    assert!(matches!(
        problem(&no_toc),
        Some(ArchiveProblem::NotAnArchive(_))
    ));

    // Sizes far beyond the file, octal and base-256.
    let mut huge = block("config", 0, FILE);
    huge[124..136].copy_from_slice(b"77777777777\0");
    let mut h = tar::Header::from_byte_slice(&huge).clone();
    h.set_cksum();
    assert!(matches!(
        problem(h.as_bytes()),
        Some(ArchiveProblem::Truncated(_) | ArchiveProblem::Damaged(_))
    ));
    // A key file larger than any key file, whole in the file: refused before it is read.
    let big_key = vec![b'k'; (1 << 20) + 1];
    damaged(
        &crafted(&[("config", b"c", FILE), (&k, &big_key, FILE)]),
        "more than a key file can be",
    );
    let mut b256 = block("config", 0, FILE);
    b256[124] = 0x80;
    b256[125..136].fill(0xff);
    let mut h = tar::Header::from_byte_slice(&b256).clone();
    h.set_cksum();
    let mut bytes = h.as_bytes().to_vec();
    bytes.extend([0u8; 4096]);
    assert!(problem(&bytes).is_some());

    // A table of contents that lies about an offset, or is not JSON, or is from the future.
    let mut lying = ok.clone();
    let text = String::from_utf8_lossy(&lying).into_owned();
    let at = text.find("\"offset\":512").unwrap();
    lying[at + 10] = b'6';
    let _ = problem(&lying).expect("refused");
    let future = String::from_utf8_lossy(&ok).replace("\"version\":1", "\"version\":7");
    assert!(matches!(
        problem(future.as_bytes()),
        Some(ArchiveProblem::UnsupportedVersion(7)) | Some(ArchiveProblem::Damaged(_))
    ));

    // Something after the end marker.
    let mut trailing = ok.clone();
    trailing.extend(b"appended");
    damaged(&trailing, "end-of-archive");
    // Zero padding to a tar record is fine.
    let mut record = ok.clone();
    record.resize(10240 * 4, 0);
    assert!(scan(&Mem(&record)).is_ok());
}

#[test]
fn a_repository_on_an_archive_reads_and_cannot_change() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("r.lbx");
    let w = Arc::new(ArchiveWriter::start(&out, false).unwrap());
    let backend: Arc<dyn Backend> = w.clone();
    let kdf = KdfParams::new(8192, 1, 1);
    let repo = Repository::init(backend, b"archive pw", kdf)
        .unwrap()
        .indexed()
        .unwrap();
    let lock = repo.lock(LockKind::Shared, "test").unwrap();
    let writer = repo.pack_writer();
    let blob = writer.store(BlobKind::Data, b"hello archive", 0).unwrap();
    writer.finish().unwrap();
    let snap = repo
        .save_sealed(FileType::Snapshot, &IndexFile::default())
        .unwrap();
    drop(lock);
    let meta = ArchiveMeta {
        repository: repo.config().id.clone(),
        snapshot: snap,
        source_snapshot: None,
    };
    drop(repo);
    w.finish(&meta, false).unwrap();

    let reader: Arc<dyn Backend> = Arc::new(ArchiveReader::open(&out).unwrap());
    assert!(matches!(
        Repository::open(reader.clone(), b"other pw"),
        Err(Error::WrongPassword)
    ));
    let repo = Repository::open(reader, b"archive pw").unwrap();
    assert!(!repo.access().write);
    let shared = repo.lock(LockKind::Shared, "restore").unwrap();
    let excl = repo.lock(LockKind::Exclusive, "prune").unwrap_err();
    assert!(excl.to_string().contains("is read-only"), "{excl}");
    let idx = repo.indexed().unwrap();
    assert_eq!(
        idx.read_blob(BlobKind::Data, &blob).unwrap(),
        b"hello archive"
    );
    let e = idx
        .save_sealed(FileType::Index, &IndexFile::default())
        .unwrap_err();
    assert!(e.to_string().contains("is read-only"), "{e}");
    drop(shared);

    // A changed byte in the pack: the shared lock refuses the archive, and a read that goes
    // ahead regardless fails naming the archive and the blob.
    let mut bytes = std::fs::read(&out).unwrap();
    let toc = scan(&Mem(&bytes)).unwrap();
    let pack = toc
        .members
        .iter()
        .find(|m| matches!(m.member, Member::File(FileType::Pack, _)))
        .unwrap();
    bytes[(pack.offset + 30) as usize] ^= 1;
    std::fs::write(&out, &bytes).unwrap();
    let reader: Arc<dyn Backend> = Arc::new(ArchiveReader::open(&out).unwrap());
    let repo = Repository::open(reader, b"archive pw").unwrap();
    let e = repo.lock(LockKind::Shared, "restore").unwrap_err();
    assert!(e.is_integrity(), "{e}");
    assert!(e.to_string().contains(&pack.name), "{e}");
    let e = repo
        .indexed()
        .unwrap()
        .read_blob(BlobKind::Data, &blob)
        .unwrap_err();
    assert!(e.is_integrity(), "{e}");
    assert!(e.to_string().starts_with("archive "), "{e}");
}
