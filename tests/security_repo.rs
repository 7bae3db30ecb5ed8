//! Security suite, repository side (docs/FORMAT.md, SECURITY-TESTS.md "Format and crypto",
//! cases 1-9, 16 and 18): damaged, truncated, tampered and hostile repository files, passwords
//! and key files, decompression bombs, a full disk, `kill -9` at random points, and secrets.
//! Every case runs the real binary and checks the exit code, that the damaged object is named,
//! that nothing panicked, and that older snapshots stay restorable.

mod common;
mod security_support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use common::{Env, PASSWORD, code, is_root, stderr};
use lifeboat::Id;
use lifeboat::repo::index::IndexFile;
use lifeboat::repo::{BlobKind, FileType, Location};
use security_support::*;

// ---------------------------------------------------------------------------------------------
// Fixture: one snapshot of three single-chunk, equally sized, incompressible files, so they
// are three blobs of identical stored length in one data pack.
// ---------------------------------------------------------------------------------------------

const NAMES: [&str; 3] = ["a.bin", "b.bin", "c.bin"];
const FILE_LEN: usize = 150_000;

struct Fx {
    env: Env,
    src: PathBuf,
    snap: String,
}

fn fixture() -> Fx {
    let env = Env::new();
    let src = env.path("src");
    let files: Vec<(&str, Vec<u8>)> = NAMES
        .iter()
        .enumerate()
        .map(|(i, n)| (*n, random(i as u64 + 1, FILE_LEN)))
        .collect();
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(n, d)| (*n, d.as_slice())).collect();
    write_tree(&src, &refs);
    let snap = env.snapshot(&src);
    Fx { env, src, snap }
}

impl Fx {
    fn data(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.src.join(name)).expect("source file")
    }

    /// The fixture files ordered by their blob's offset in the data pack.
    fn blobs_by_offset(&self) -> Vec<(&'static str, Id, Location)> {
        let repo = open(&self.env);
        let mut v: Vec<_> = NAMES
            .iter()
            .map(|n| {
                let (id, loc) = blob_of(&repo, &self.data(n));
                (*n, id, loc)
            })
            .collect();
        v.sort_by_key(|(_, _, l)| l.offset);
        assert!(
            v.iter().all(|(_, _, l)| l.pack == v[0].2.pack),
            "fixture files share one data pack"
        );
        assert!(
            v.iter().all(|(_, _, l)| l.stored_len == v[0].2.stored_len),
            "fixture blobs have equal stored lengths"
        );
        v
    }

    fn data_pack(&self) -> PathBuf {
        pack_path(&self.env, &self.blobs_by_offset()[0].2.pack)
    }

    fn restore(&self, snap: &str, tag: &str) -> (Output, PathBuf) {
        let t = self.env.path(tag);
        (restore(&self.env, snap, &t), t)
    }

    /// Names of fixture files restored exactly; panics on a file with wrong content.
    fn restored(&self, target: &Path) -> Vec<String> {
        exact_restored(&self.src, target, &NAMES)
    }
}

fn short(p: &Path) -> String {
    short_name(p)
}

fn pack_named(p: &Path) -> String {
    format!("pack {}", short(p))
}

/// Restore after damage to the data pack: exit 4, the pack named, and exactly `intact`
/// restored (no file with wrong content anywhere).
fn expect_pack_damage(fx: &Fx, pack: &Path, intact: &[&str], tag: &str) {
    let (o, t) = fx.restore(&fx.snap, tag);
    assert_fails(&o, EXIT_DAMAGED, &[&pack_named(pack)], "restore");
    let mut got = fx.restored(&t);
    got.sort();
    let mut want: Vec<String> = intact.iter().map(|s| (*s).to_string()).collect();
    want.sort();
    assert_eq!(got, want, "files restored from the damaged pack");
    let tmp = restore_temporaries(&t);
    assert!(tmp.is_empty(), "temporary files left behind: {tmp:?}");
}

fn verify(env: &Env, read_data: bool) -> Output {
    if read_data {
        env.run(&["verify", "--read-data"])
    } else {
        env.run(&["verify"])
    }
}

// ---------------------------------------------------------------------------------------------
// Format and crypto
// ---------------------------------------------------------------------------------------------

/// Two repositories with the same password get different salts, master keys and chunk IDs,
/// and stored IDs do not reveal the content (no plain hash of it).
#[test]
fn format_per_repository_salt_keys_and_keyed_chunk_ids() {
    let a = Env::new();
    let b = Env::new();
    let data = random(42, 100_000);
    for e in [&a, &b] {
        write_tree(&e.path("src"), &[("same.bin", &data)]);
        e.snapshot(&e.path("src"));
    }
    let salt = |e: &Env| -> String {
        let kf: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&key_files(e)[0]).unwrap()).unwrap();
        kf["kdf"]["salt"].as_str().unwrap().to_string()
    };
    assert_ne!(salt(&a), salt(&b), "salts are per repository");
    let (ra, rb) = (open(&a), open(&b));
    assert_ne!(ra.config().id, rb.config().id);
    let (ida, _) = blob_of(&ra, &data);
    let (idb, _) = blob_of(&rb, &data);
    assert_ne!(ida, idb, "chunk IDs are keyed per repository");
    assert_ne!(
        ida.0,
        *blake3::hash(&data).as_bytes(),
        "not an unkeyed hash"
    );
    assert_ne!(&ida.0, &sha256(&data), "not a plain SHA-256");
    // Neither the plaintext nor its chunk ID is visible anywhere in the repository (pack
    // headers and index files are encrypted too).
    for p in walk(&a.repo).into_iter().filter(|p| p.is_file()) {
        let bytes = std::fs::read(&p).unwrap();
        assert!(
            !bytes.windows(64).any(|w| w == &data[1000..1064]),
            "{} holds plaintext",
            p.display()
        );
        assert!(
            !bytes.windows(32).any(|w| w == ida.0),
            "{} shows a chunk ID in the clear",
            p.display()
        );
    }
}

/// Sealed files are bound to their name and role: a snapshot renamed to another ID, an index
/// file presented as a snapshot, and a pack renamed to another ID are all refused.
#[test]
fn format_sealed_files_bound_to_id_and_role() {
    let fx = fixture();
    let env = &fx.env;
    // A snapshot file under another ID.
    let snap = snapshot_files(env)[0].clone();
    let other = Id::random().to_hex();
    std::fs::copy(&snap, env.repo.join("snapshots").join(&other)).unwrap();
    let (o, _) = fx.restore(&other, "t1");
    assert_fails(
        &o,
        EXIT_DAMAGED,
        &[&format!("snapshot {}", &other[..8])],
        "renamed snapshot",
    );
    std::fs::remove_file(env.repo.join("snapshots").join(&other)).unwrap();
    // An index file presented as a snapshot (same ID, other role).
    let idx = index_files(env)[0].clone();
    let name = idx.file_name().unwrap().to_owned();
    std::fs::copy(&idx, env.repo.join("snapshots").join(&name)).unwrap();
    let (o, _) = fx.restore(&name.to_string_lossy(), "t2");
    assert_fails(
        &o,
        EXIT_DAMAGED,
        &[&format!("snapshot {}", short(&idx))],
        "index as snapshot",
    );
    std::fs::remove_file(env.repo.join("snapshots").join(&name)).unwrap();
    // A pack renamed: its header is bound to its ID.
    let pack = fx.data_pack();
    let new_id = Id::random();
    let new_path = pack_path(env, &new_id);
    std::fs::rename(&pack, &new_path).unwrap();
    let v = verify(env, false);
    assert_fails(&v, EXIT_DAMAGED, &[&pack_named(&pack)], "verify");
    // The original snapshot still restores once the pack is back.
    std::fs::rename(&new_path, &pack).unwrap();
    let (o, t) = fx.restore(&fx.snap, "t3");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(fx.restored(&t).len(), 3);
}

/// A data blob relabelled as a tree blob in the index (role swap) is refused by the AEAD.
#[test]
fn format_blob_moved_to_other_role_refused() {
    let fx = fixture();
    let env = &fx.env;
    let repo = open(env);
    let (id, _) = blob_of(&repo, &fx.data("a.bin"));
    // Rewrite the index with the data blob's kind changed to tree.
    let files = repo.read_index_files().unwrap();
    for (iid, mut f) in files {
        for p in &mut f.packs {
            for b in &mut p.blobs {
                if b.1 == id {
                    b.0 = BlobKind::Tree;
                }
            }
        }
        repo.save_sealed(FileType::Index, &f).unwrap();
        std::fs::remove_file(env.repo.join("index").join(iid.to_hex())).unwrap();
    }
    // A snapshot whose tree is that (data) blob.
    let repo = open(env);
    let snap = save_snapshot(&repo, vec![id]);
    let pack = pack_path(env, &repo.locate(BlobKind::Tree, &id).unwrap().pack);
    let (o, _) = fx.restore(&snap, "t");
    assert_fails(
        &o,
        EXIT_DAMAGED,
        &[&format!("tree blob {}", id.short()), &pack_named(&pack)],
        "restore",
    );
    let v = verify(env, true);
    assert_fails(
        &v,
        EXIT_DAMAGED,
        &[&pack_named(&pack)],
        "verify --read-data",
    );
}

/// A pack copied from another repository (other keys) over a pack of the same size is
/// refused: blobs and header are authenticated under this repository's keys.
#[test]
fn format_blob_replayed_from_other_repository_refused() {
    let fx = fixture();
    let other = Env::new();
    let src = other.path("src");
    let files: Vec<(&str, Vec<u8>)> = NAMES.iter().map(|n| (*n, fx.data(n))).collect();
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(n, d)| (*n, d.as_slice())).collect();
    write_tree(&src, &refs);
    other.snapshot(&src);
    let theirs = open(&other);
    let their_pack = pack_path(&other, &blob_of(&theirs, &fx.data("a.bin")).1.pack);
    let ours = fx.data_pack();
    assert_eq!(file_len(&ours), file_len(&their_pack), "same-size packs");
    std::fs::copy(&their_pack, &ours).unwrap();
    let v = verify(&fx.env, false);
    assert_fails(&v, EXIT_DAMAGED, &[&pack_named(&ours)], "verify");
    expect_pack_damage(&fx, &ours, &[], "t");
}

/// Nonces are random (sealing the same value twice differs from the first byte), and the
/// repository keeps no nonce or counter state: only the documented files exist.
#[test]
fn format_random_nonces_and_no_nonce_state() {
    let fx = fixture();
    let repo = open(&fx.env);
    let a = repo
        .save_sealed(FileType::Index, &IndexFile::default())
        .unwrap();
    let b = repo
        .save_sealed(FileType::Index, &IndexFile::default())
        .unwrap();
    let read = |id: Id| std::fs::read(fx.env.repo.join("index").join(id.to_hex())).unwrap();
    let (ba, bb) = (read(a), read(b));
    assert_eq!(ba.len(), bb.len());
    // Version 2 files start with the run's public key (one per handle), then the nonce.
    let at = if ba[0] == lifeboat::repo::keyring::SEALED_V2 {
        assert_eq!(ba[..33], bb[..33], "one run per handle");
        lifeboat::repo::keyring::V2_PREFIX
    } else {
        0
    };
    assert_ne!(
        ba[at..at + 24],
        bb[at..at + 24],
        "fresh 24-byte nonce per message"
    );
    let mut top: Vec<String> = std::fs::read_dir(&fx.env.repo)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    top.sort();
    assert_eq!(
        top,
        ["config", "data", "index", "keys", "locks", "snapshots"],
        "no state files besides the documented layout"
    );
}

/// Unknown key-file versions and key-derivation algorithms are refused, even when the file's
/// name matches its (tampered) content.
#[test]
fn format_unknown_key_version_and_algorithm_refused() {
    let env = Env::new();
    let key = key_files(&env)[0].clone();
    let orig = std::fs::read(&key).unwrap();
    for (field, value, needle) in [
        ("algorithm", serde_json::json!("scrypt"), "scrypt"),
        ("version", serde_json::json!(20), "v20"),
        ("file-version", serde_json::json!(2), "version 2"),
    ] {
        let mut kf: serde_json::Value = serde_json::from_slice(&orig).unwrap();
        if field == "file-version" {
            kf["version"] = value;
        } else {
            kf["kdf"][field] = value;
        }
        let bytes = serde_json::to_vec_pretty(&kf).unwrap();
        let name = hex::encode(blake3::hash(&bytes).as_bytes());
        std::fs::remove_file(key_files(&env)[0].clone()).unwrap();
        std::fs::write(env.repo.join("keys").join(&name), &bytes).unwrap();
        let o = env.run(&["snapshots"]);
        assert_fails_any(&o, &[&format!("key file {}", &name[..8]), needle], field);
        assert_ne!(
            code(&o),
            EXIT_WRONG_PASSWORD,
            "{field}: not a wrong password"
        );
        std::fs::remove_file(env.repo.join("keys").join(&name)).unwrap();
        std::fs::write(&key, &orig).unwrap();
    }
    env.ok(&["snapshots"]);
}

// ---------------------------------------------------------------------------------------------
// 1. Truncation
// ---------------------------------------------------------------------------------------------

#[test]
fn truncate_pack_at_blob_boundary() {
    let fx = fixture();
    let blobs = fx.blobs_by_offset();
    let pack = fx.data_pack();
    // Keep exactly the first blob: the second, the third and the header are gone.
    truncate_to(&pack, u64::from(blobs[1].2.offset));
    assert_fails(
        &verify(&fx.env, false),
        EXIT_DAMAGED,
        &[&pack_named(&pack)],
        "verify",
    );
    expect_pack_damage(&fx, &pack, &[blobs[0].0], "t");
}

#[test]
fn truncate_pack_at_random_offsets() {
    let fx = fixture();
    let blobs = fx.blobs_by_offset();
    let pack = fx.data_pack();
    let orig = std::fs::read(&pack).unwrap();
    let len = orig.len() as u64;
    let b1 = u64::from(blobs[1].2.offset);
    let b2 = u64::from(blobs[2].2.offset);
    // (offset, files whose blob lies wholly before it)
    let cases: Vec<(u64, Vec<&str>)> = vec![
        (777, vec![]),
        (b1 + 4321, vec![blobs[0].0]),
        (b2 + 99_999, vec![blobs[0].0, blobs[1].0]),
        (len - 30, vec![blobs[0].0, blobs[1].0, blobs[2].0]),
    ];
    for (i, (off, intact)) in cases.iter().enumerate() {
        std::fs::write(&pack, &orig).unwrap();
        truncate_to(&pack, *off);
        assert_fails(
            &verify(&fx.env, false),
            EXIT_DAMAGED,
            &[&pack_named(&pack)],
            &format!("verify, truncated at {off}"),
        );
        if intact.len() == 3 {
            // Only the header is cut: every blob is still readable and authentic.
            let (o, t) = fx.restore(&fx.snap, &format!("t{i}"));
            assert_no_panic(&o, "restore");
            assert_eq!(fx.restored(&t).len(), 3, "{}", stderr(&o));
        } else {
            expect_pack_damage(&fx, &pack, intact, &format!("t{i}"));
        }
    }
}

/// Two snapshots; the newer one's index file is damaged by `damage`. The damaged index is
/// named, and the older snapshot (whose blobs are in the other index file) still restores.
fn damaged_newer_index(damage: impl Fn(&Path)) {
    let fx = fixture();
    let before = index_files(&fx.env);
    write_tree(&fx.src, &[("d.bin", &random(99, FILE_LEN))]);
    let newer = fx.env.snapshot(&fx.src);
    let idx = index_files(&fx.env)
        .into_iter()
        .find(|p| !before.contains(p))
        .expect("the newer snapshot wrote an index file");
    damage(&idx);
    let named = format!("index {}", short(&idx));
    assert_fails(&verify(&fx.env, false), EXIT_DAMAGED, &[&named], "verify");
    let (o, _) = fx.restore(&newer, "t-new");
    assert_fails(&o, EXIT_DAMAGED, &[&named], "restore of the newer snapshot");
    // Nothing lost: the older snapshot does not need the damaged index file.
    let (o, t) = fx.restore(&fx.snap, "t-old");
    assert_no_panic(&o, "restore of the older snapshot");
    assert_eq!(
        fx.restored(&t).len(),
        3,
        "the older snapshot must still restore although an unrelated index file is damaged \
         (exit {}): {}",
        code(&o),
        stderr(&o)
    );
}

#[test]
fn truncate_index_at_seal_boundary() {
    // After the nonce, and with the tag cut off.
    damaged_newer_index(|p| truncate_to(p, 24));
    damaged_newer_index(|p| truncate_to(p, file_len(p) - 16));
}

#[test]
fn truncate_index_at_random_offset() {
    damaged_newer_index(|p| truncate_to(p, file_len(p) * 3 / 5 + 1));
}

/// Two snapshots; the newer one's snapshot file is damaged by `damage`.
fn damaged_newer_snapshot(fx: &Fx, damage: impl Fn(&Path)) -> String {
    let before = snapshot_files(&fx.env);
    write_tree(&fx.src, &[("d.bin", &random(98, FILE_LEN))]);
    let newer = fx.env.snapshot(&fx.src);
    let file = snapshot_files(&fx.env)
        .into_iter()
        .find(|p| !before.contains(p))
        .expect("new snapshot file");
    damage(&file);
    let named = format!("snapshot {}", &newer[..8]);
    let (o, _) = fx.restore(&newer[..8], "t-new");
    assert_fails(
        &o,
        EXIT_DAMAGED,
        &[&named],
        "restore of the damaged snapshot",
    );
    assert_fails(&verify(&fx.env, false), EXIT_DAMAGED, &[&named], "verify");
    let (o, t) = fx.restore(&fx.snap[..8], "t-old");
    assert_eq!(code(&o), 0, "older snapshot: {}", stderr(&o));
    assert_eq!(fx.restored(&t).len(), 3);
    newer
}

#[test]
fn truncate_snapshot_file_at_seal_boundary() {
    let fx = fixture();
    damaged_newer_snapshot(&fx, |p| truncate_to(p, 24));
    let fx = fixture();
    damaged_newer_snapshot(&fx, |p| truncate_to(p, file_len(p) - 16));
}

#[test]
fn truncate_snapshot_file_at_random_offset() {
    let fx = fixture();
    damaged_newer_snapshot(&fx, |p| truncate_to(p, file_len(p) / 2 + 3));
}

// ---------------------------------------------------------------------------------------------
// 2. Trailing garbage and lying length fields
// ---------------------------------------------------------------------------------------------

#[test]
fn trailing_garbage_after_pack() {
    let fx = fixture();
    let pack = fx.data_pack();
    append(&pack, &random(5, 1000));
    assert_fails(
        &verify(&fx.env, false),
        EXIT_DAMAGED,
        &[&pack_named(&pack)],
        "verify",
    );
    // Blobs are still where the index says and authentic: a restore gives exact files or a
    // clear error, never wrong data.
    let (o, t) = fx.restore(&fx.snap, "t");
    assert_no_panic(&o, "restore");
    if code(&o) != 0 {
        assert!(stderr(&o).contains(&pack_named(&pack)), "{}", stderr(&o));
    } else {
        assert_eq!(fx.restored(&t).len(), 3);
    }
}

#[test]
fn trailing_garbage_after_index_file() {
    let fx = fixture();
    let idx = index_files(&fx.env)[0].clone();
    append(&idx, b"garbage after the tag");
    let named = format!("index {}", short(&idx));
    assert_fails(&verify(&fx.env, false), EXIT_DAMAGED, &[&named], "verify");
    let (o, _) = fx.restore(&fx.snap, "t");
    assert_fails(&o, EXIT_DAMAGED, &[&named], "restore");
}

#[test]
fn pack_header_length_field_lies() {
    let fx = fixture();
    let pack = fx.data_pack();
    let orig = std::fs::read(&pack).unwrap();
    let n = orig.len();
    let hl = u32::from_le_bytes(orig[n - 4..].try_into().unwrap());
    for (i, lie) in [hl + 1, hl - 1, 0, 45, u32::MAX, n as u32]
        .into_iter()
        .enumerate()
    {
        let mut b = orig.clone();
        b[n - 4..].copy_from_slice(&lie.to_le_bytes());
        std::fs::write(&pack, &b).unwrap();
        for read_data in [false, true] {
            assert_fails(
                &verify(&fx.env, read_data),
                EXIT_DAMAGED,
                &[&pack_named(&pack)],
                &format!("verify (read data: {read_data}) with header length {lie}"),
            );
        }
        let (o, t) = fx.restore(&fx.snap, &format!("t{i}"));
        assert_no_panic(&o, "restore");
        fx.restored(&t); // exact or absent, never wrong
    }
}

/// Index entries whose lengths lie (raw length, stored length, offset): clear errors.
#[test]
fn index_entry_length_fields_lie() {
    let fx = fixture();
    let repo = open(&fx.env);
    let (id, loc) = blob_of(&repo, &fx.data("b.bin"));
    let pack = pack_path(&fx.env, &loc.pack);
    type Lie = fn(&mut (BlobKind, Id, u32, u32, u32));
    let lies: [(&str, Lie); 4] = [
        ("raw length + 1", |b| b.4 += 1),
        ("raw length - 1", |b| b.4 -= 1),
        ("stored length + 1", |b| b.3 += 1),
        ("offset + 7", |b| b.2 += 7),
    ];
    let orig: Vec<(PathBuf, Vec<u8>)> = index_files(&fx.env)
        .into_iter()
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    for (i, (what, lie)) in lies.iter().enumerate() {
        let repo = open(&fx.env);
        for (iid, mut f) in repo.read_index_files().unwrap() {
            for p in &mut f.packs {
                for b in &mut p.blobs {
                    if b.1 == id {
                        lie(b);
                    }
                }
            }
            repo.save_sealed(FileType::Index, &f).unwrap();
            std::fs::remove_file(fx.env.repo.join("index").join(iid.to_hex())).unwrap();
        }
        assert_fails(
            &verify(&fx.env, false),
            EXIT_DAMAGED,
            &[&pack_named(&pack)],
            &format!("verify, {what}"),
        );
        let (o, t) = fx.restore(&fx.snap, &format!("t{i}"));
        assert_fails(&o, EXIT_DAMAGED, &["b.bin"], &format!("restore, {what}"));
        let mut got = fx.restored(&t);
        got.sort();
        assert_eq!(got, ["a.bin", "c.bin"], "{what}");
        for p in index_files(&fx.env) {
            std::fs::remove_file(p).unwrap();
        }
        for (p, b) in &orig {
            std::fs::write(p, b).unwrap();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Swapped, duplicated, deleted blobs; a deleted pack
// ---------------------------------------------------------------------------------------------

fn rewrite_pack(fx: &Fx, edit: impl Fn(&mut Vec<u8>, &[(&str, Id, Location)])) -> PathBuf {
    let blobs = fx.blobs_by_offset();
    let pack = fx.data_pack();
    let mut b = std::fs::read(&pack).unwrap();
    edit(&mut b, &blobs);
    std::fs::write(&pack, &b).unwrap();
    pack
}

fn range(l: &Location) -> std::ops::Range<usize> {
    l.offset as usize..(l.offset + l.stored_len) as usize
}

#[test]
fn swap_two_blobs_inside_pack() {
    let fx = fixture();
    let blobs = fx.blobs_by_offset();
    let pack = rewrite_pack(&fx, |b, bl| {
        let (x, y) = (range(&bl[0].2), range(&bl[1].2));
        let first = b[x.clone()].to_vec();
        let second = b[y.clone()].to_vec();
        b[x].copy_from_slice(&second);
        b[y].copy_from_slice(&first);
    });
    assert_fails(
        &verify(&fx.env, true),
        EXIT_DAMAGED,
        &[&pack_named(&pack)],
        "verify --read-data",
    );
    expect_pack_damage(&fx, &pack, &[blobs[2].0], "t");
}

#[test]
fn duplicate_blob_inside_pack() {
    let fx = fixture();
    let blobs = fx.blobs_by_offset();
    // The first blob's bytes also stand in place of the second.
    let pack = rewrite_pack(&fx, |b, bl| {
        let first = b[range(&bl[0].2)].to_vec();
        b[range(&bl[1].2)].copy_from_slice(&first);
    });
    assert_fails(
        &verify(&fx.env, true),
        EXIT_DAMAGED,
        &[&pack_named(&pack)],
        "verify --read-data",
    );
    expect_pack_damage(&fx, &pack, &[blobs[0].0, blobs[2].0], "t");
}

#[test]
fn delete_blob_inside_pack() {
    let fx = fixture();
    let blobs = fx.blobs_by_offset();
    let pack = rewrite_pack(&fx, |b, bl| {
        b.drain(range(&bl[1].2));
    });
    assert_fails(
        &verify(&fx.env, false),
        EXIT_DAMAGED,
        &[&pack_named(&pack)],
        "verify",
    );
    expect_pack_damage(&fx, &pack, &[blobs[0].0], "t");
}

#[test]
fn delete_whole_pack() {
    let fx = fixture();
    let old_pack = fx.data_pack();
    let extra = random(77, FILE_LEN);
    write_tree(&fx.src, &[("d.bin", &extra)]);
    let newer = fx.env.snapshot(&fx.src);
    let repo = open(&fx.env);
    let lost = pack_path(&fx.env, &blob_of(&repo, &extra).1.pack);
    assert_ne!(lost, old_pack);
    std::fs::remove_file(&lost).unwrap();
    assert_fails(
        &verify(&fx.env, false),
        EXIT_DAMAGED,
        &[&pack_named(&lost)],
        "verify",
    );
    // The newer snapshot: every other file restored, d.bin refused naming the pack.
    let (o, t) = fx.restore(&newer, "t-new");
    assert_fails(&o, EXIT_DAMAGED, &[&pack_named(&lost), "d.bin"], "restore");
    assert_eq!(fx.restored(&t).len(), 3, "the other files are restored");
    assert!(!common::restored_path(&t, &fx.src).join("d.bin").exists());
    // The older snapshot does not use the pack.
    let (o, t) = fx.restore(&fx.snap, "t-old");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(fx.restored(&t).len(), 3);
}

// ---------------------------------------------------------------------------------------------
// 4. One flipped bit
// ---------------------------------------------------------------------------------------------

#[test]
fn bitflip_config_header() {
    let env = Env::new();
    let cfg = env.repo.join("config");
    let orig = std::fs::read(&cfg).unwrap();
    // In the magic, in the sealed configuration, in its tag.
    for off in [0, 3, 12 + 24 + 5, orig.len() - 1] {
        std::fs::write(&cfg, &orig).unwrap();
        flip_bit(&cfg, off);
        let o = env.run(&["snapshots"]);
        assert_fails(
            &o,
            EXIT_DAMAGED,
            &["config"],
            &format!("bit flipped at {off}"),
        );
    }
    std::fs::write(&cfg, &orig).unwrap();
    env.ok(&["snapshots"]);
}

/// Byte offset of the first decimal digit of `field`'s value in a key file's JSON text.
fn json_value_offset(bytes: &[u8], field: &str) -> usize {
    let pat = format!("\"{field}\": ");
    let i = bytes
        .windows(pat.len())
        .position(|w| w == pat.as_bytes())
        .unwrap_or_else(|| panic!("{field} in key file"));
    let mut j = i + pat.len();
    while !bytes[j].is_ascii_digit() {
        j += 1; // skip a quote
    }
    j
}

/// Flip one bit in a key file (keeping it valid JSON): under its old name it is damaged; renamed
/// to match its content it still never opens, and is never taken for a wrong password when
/// only the wrapped key changed.
fn key_file_bitflip(field: &str, renamed_codes: &[i32]) {
    let env = Env::new();
    let key = key_files(&env)[0].clone();
    let orig = std::fs::read(&key).unwrap();
    // The first decimal digit of the value: '0'..'9' with the low bit flipped stay digits,
    // so the file stays valid JSON (and the wrapped key valid hex).
    let off = json_value_offset(&orig, field);
    let mut b = orig.clone();
    b[off] ^= 0x01;
    assert!(b[off].is_ascii_digit(), "still valid JSON");
    std::fs::write(&key, &b).unwrap();
    let o = env.run(&["snapshots"]);
    assert_fails(
        &o,
        EXIT_DAMAGED,
        &[&format!("key file {}", short(&key)), "damaged"],
        "bit flip, old name",
    );
    assert!(!stderr(&o).contains("wrong password"), "{}", stderr(&o));
    // Renamed to match: the attacker's version.
    let name = hex::encode(blake3::hash(&b).as_bytes());
    std::fs::remove_file(&key).unwrap();
    std::fs::write(env.repo.join("keys").join(&name), &b).unwrap();
    let o = env.run(&["snapshots"]);
    assert_no_panic(&o, "renamed");
    assert!(
        renamed_codes.contains(&code(&o)),
        "renamed key file with flipped {field}: exit {} (want one of {renamed_codes:?}): {}",
        code(&o),
        stderr(&o)
    );
}

#[test]
fn bitflip_key_file_kdf_params() {
    // A changed KDF parameter changes the derived key: it cannot open (damaged or, once the
    // name is recomputed, indistinguishable from a wrong password).
    key_file_bitflip("memory_kib", &[EXIT_DAMAGED, EXIT_WRONG_PASSWORD]);
    key_file_bitflip("iterations", &[EXIT_DAMAGED, EXIT_WRONG_PASSWORD]);
}

#[test]
fn bitflip_key_file_wrapped_key() {
    // The key check still matches, so this is corruption, never "wrong password".
    key_file_bitflip("wrapped", &[EXIT_DAMAGED]);
}

#[test]
fn bitflip_pack_ciphertext() {
    let fx = fixture();
    let blobs = fx.blobs_by_offset();
    let pack = fx.data_pack();
    flip_bit(&pack, blobs[1].2.offset as usize + 24 + 5000);
    assert_fails(
        &verify(&fx.env, true),
        EXIT_DAMAGED,
        &[&pack_named(&pack)],
        "verify --read-data",
    );
    expect_pack_damage(&fx, &pack, &[blobs[0].0, blobs[2].0], "t");
}

#[test]
fn bitflip_pack_nonce() {
    let fx = fixture();
    let blobs = fx.blobs_by_offset();
    let pack = fx.data_pack();
    flip_bit(&pack, blobs[2].2.offset as usize + 3);
    expect_pack_damage(&fx, &pack, &[blobs[0].0, blobs[1].0], "t");
}

#[test]
fn bitflip_blob_tag() {
    let fx = fixture();
    let blobs = fx.blobs_by_offset();
    let pack = fx.data_pack();
    let l = &blobs[0].2;
    flip_bit(&pack, (l.offset + l.stored_len) as usize - 1);
    assert_fails(
        &verify(&fx.env, true),
        EXIT_DAMAGED,
        &[&pack_named(&pack)],
        "verify --read-data",
    );
    expect_pack_damage(&fx, &pack, &[blobs[1].0, blobs[2].0], "t");
}

#[test]
fn bitflip_pack_header() {
    let fx = fixture();
    let pack = fx.data_pack();
    flip_bit(&pack, file_len(&pack) as usize - 4 - 40);
    assert_fails(
        &verify(&fx.env, false),
        EXIT_DAMAGED,
        &[&pack_named(&pack)],
        "verify",
    );
    let (o, t) = fx.restore(&fx.snap, "t");
    assert_no_panic(&o, "restore");
    fx.restored(&t);
}

#[test]
fn bitflip_index_file() {
    damaged_newer_index(|p| flip_bit(p, file_len(p) as usize / 2));
}

#[test]
fn bitflip_snapshot_file() {
    let fx = fixture();
    damaged_newer_snapshot(&fx, |p| flip_bit(p, file_len(p) as usize / 2));
    // Listing fails cleanly or names the damaged snapshot; new backups are still taken (a
    // warning about the damaged snapshot is fine, refusing to back up is not).
    let o = fx.env.run(&["snapshots"]);
    assert_no_panic(&o, "snapshots");
    let before = snapshot_files(&fx.env);
    write_tree(&fx.src, &[("e.bin", b"after the damage".as_slice())]);
    let o = fx.env.run(&["snapshot", fx.src.to_str().unwrap()]);
    assert_no_panic(&o, "snapshot");
    let new: Vec<PathBuf> = snapshot_files(&fx.env)
        .into_iter()
        .filter(|p| !before.contains(p))
        .collect();
    assert_eq!(
        new.len(),
        1,
        "one damaged snapshot file must not stop new backups (exit {}): {}",
        code(&o),
        stderr(&o)
    );
    let (o, t) = fx.restore(&short(&new[0]), "t-after");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let e = common::restored_path(&t, &fx.src).join("e.bin");
    assert_eq!(std::fs::read(e).unwrap(), b"after the damage");
}

// ---------------------------------------------------------------------------------------------
// 5. Passwords
// ---------------------------------------------------------------------------------------------

#[test]
fn wrong_password_vs_corrupted_key_file() {
    let env = Env::new();
    let o = env
        .cmd()
        .env("LIFEBOAT_PASSWORD", "not the password")
        .arg("snapshots")
        .output()
        .unwrap();
    assert_fails(
        &o,
        EXIT_WRONG_PASSWORD,
        &["wrong password"],
        "wrong password",
    );
    assert!(!all_output(&o).contains("not the password"));
    // The right password on a damaged key file: a different message and exit 4.
    let key = key_files(&env)[0].clone();
    let off = json_value_offset(&std::fs::read(&key).unwrap(), "wrapped") + 10;
    flip_bit(&key, off);
    let o = env.run(&["snapshots"]);
    assert_fails(
        &o,
        EXIT_DAMAGED,
        &[&format!("key file {}", short(&key))],
        "damaged key",
    );
    assert!(
        !stderr(&o).contains("wrong password"),
        "damage is not reported as a wrong password: {}",
        stderr(&o)
    );
}

#[test]
fn empty_password_refused() {
    let env = Env::new();
    let o = env
        .cmd()
        .env("LIFEBOAT_PASSWORD", "")
        .arg("snapshots")
        .output()
        .unwrap();
    assert_fails_any(&o, &["empty"], "empty LIFEBOAT_PASSWORD");
    let pf = env.path("empty-pass");
    std::fs::write(&pf, "\n").unwrap();
    std::fs::set_permissions(&pf, std::fs::Permissions::from_mode(0o600)).unwrap();
    let o = common::lifeboat_cmd()
        .arg("--repo")
        .arg(&env.repo)
        .arg("--password-file")
        .arg(&pf)
        .arg("snapshots")
        .output()
        .unwrap();
    assert_fails_any(&o, &["empty"], "empty password file");
    // Nor can a repository be created with one.
    let bare = Env::bare();
    let o = bare
        .cmd()
        .env("LIFEBOAT_PASSWORD", "")
        .args(["init", "--kdf-memory", "8", "--kdf-iterations", "1"])
        .output()
        .unwrap();
    assert_fails_any(&o, &["empty"], "init with an empty password");
    assert!(!bare.repo.join("config").exists(), "no repository created");
}

#[test]
fn password_file_readable_by_others_warns() {
    let env = Env::new();
    let pf = env.path("pass");
    std::fs::write(&pf, format!("{PASSWORD}\n")).unwrap();
    let run = |mode: u32| {
        std::fs::set_permissions(&pf, std::fs::Permissions::from_mode(mode)).unwrap();
        common::lifeboat_cmd()
            .arg("--repo")
            .arg(&env.repo)
            .arg("--password-file")
            .arg(&pf)
            .arg("snapshots")
            .output()
            .unwrap()
    };
    let o = run(0o644);
    assert_no_panic(&o, "0644");
    let err = stderr(&o);
    assert!(
        err.contains("warning") && err.contains(pf.to_str().unwrap()),
        "a group/world-readable password file is warned about: {err}"
    );
    assert!(!all_output(&o).contains(PASSWORD));
    let o = run(0o600);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(!stderr(&o).contains("warning"), "{}", stderr(&o));
}

#[test]
fn password_command_failure_is_an_error() {
    let env = Env::new();
    let o = common::lifeboat_cmd()
        .arg("--repo")
        .arg(&env.repo)
        .arg("--password-command")
        .arg("echo half-a-secret; exit 3")
        .arg("snapshots")
        .output()
        .unwrap();
    assert_fails(&o, EXIT_ERROR, &["password command"], "failing command");
    assert!(
        !all_output(&o).contains("half-a-secret"),
        "the command's output is not echoed"
    );
    // A command that succeeds works.
    let o = common::lifeboat_cmd()
        .arg("--repo")
        .arg(&env.repo)
        .arg("--password-command")
        .arg(format!("printf '%s\\n' '{PASSWORD}'"))
        .arg("snapshots")
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

// ---------------------------------------------------------------------------------------------
// 6. Hostile KDF parameters, unknown versions and codecs
// ---------------------------------------------------------------------------------------------

/// Replace the key file with one whose KDF parameters are edited by `edit`; `rename` gives
/// it the name of its new content.
fn hostile_key(env: &Env, edit: impl Fn(&mut serde_json::Value), rename: bool) -> String {
    let key = key_files(env)[0].clone();
    let mut kf: serde_json::Value = serde_json::from_slice(&std::fs::read(&key).unwrap()).unwrap();
    edit(&mut kf);
    let bytes = serde_json::to_vec_pretty(&kf).unwrap();
    std::fs::remove_file(&key).unwrap();
    let name = if rename {
        hex::encode(blake3::hash(&bytes).as_bytes())
    } else {
        key.file_name().unwrap().to_string_lossy().into_owned()
    };
    std::fs::write(env.repo.join("keys").join(&name), &bytes).unwrap();
    name
}

fn timed(env: &Env, args: &[&str]) -> (Output, Duration) {
    let t = Instant::now();
    let o = env.run(args);
    (o, t.elapsed())
}

#[test]
fn hostile_kdf_params_refused_before_allocation() {
    type Edit = fn(&mut serde_json::Value);
    let edits: [(&str, Edit); 4] = [
        ("memory", |k| k["kdf"]["memory_kib"] = 4_194_304.into()),
        ("iterations", |k| k["kdf"]["iterations"] = 4_000_000.into()),
        ("parallelism", |k| k["kdf"]["parallelism"] = 255.into()),
        ("salt", |k| k["kdf"]["salt"] = "00".into()),
    ];
    for (what, edit) in edits {
        let env = Env::new();
        let name = hostile_key(&env, edit, true);
        let (o, took) = timed(&env, &["snapshots"]);
        assert_fails(
            &o,
            EXIT_DAMAGED,
            &[&format!("key file {}", &name[..8]), "refused", what],
            &format!("hostile {what}"),
        );
        assert!(
            took < Duration::from_millis(900),
            "hostile {what} refused only after {took:?}: work was done before the check"
        );
    }
}

#[test]
fn hostile_kdf_params_not_renamed_reported_damaged() {
    let env = Env::new();
    let name = hostile_key(&env, |k| k["kdf"]["memory_kib"] = 4_194_304.into(), false);
    let (o, took) = timed(&env, &["snapshots"]);
    assert_fails(
        &o,
        EXIT_DAMAGED,
        &[&format!("key file {}", &name[..8]), "damaged"],
        "tampered key file under its old name",
    );
    assert!(took < Duration::from_millis(900), "took {took:?}");
}

#[test]
fn unknown_format_version_in_config() {
    let env = Env::new();
    let cfg = env.repo.join("config");
    let mut b = std::fs::read(&cfg).unwrap();
    let good = b.clone();
    b[8..12].copy_from_slice(&3u32.to_le_bytes());
    std::fs::write(&cfg, &b).unwrap();
    let o = env.run(&["snapshots"]);
    assert_fails_any(&o, &["config", "unsupported format version 3"], "version 3");
    // Refused before any password is asked for.
    let o = common::lifeboat_cmd()
        .arg("--repo")
        .arg(&env.repo)
        .arg("snapshots")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_fails_any(&o, &["unsupported format version 3"], "no password given");
    // Version 2's public part (what host keys trust) is signed by the owner: a changed byte
    // there is refused as damage, even though the sealed part still opens.
    let mut bent = good.clone();
    bent[20] ^= 1;
    std::fs::write(&cfg, &bent).unwrap();
    let o = env.run(&["snapshots"]);
    assert_fails(&o, EXIT_DAMAGED, &["config"], "public part changed");
    // A version 1 header on a version 2 file does not open either.
    let mut v1 = good;
    v1[8..12].copy_from_slice(&1u32.to_le_bytes());
    std::fs::write(&cfg, &v1).unwrap();
    let o = env.run(&["snapshots"]);
    assert_fails(&o, EXIT_DAMAGED, &["config"], "version 1 header");
}

#[test]
fn unknown_compression_codec_in_blob() {
    let env = Env::new();
    let repo = open(&env);
    let data = b"plain bytes behind an unknown codec".to_vec();
    let id = repo.keys().chunk_id(&data);
    let mut enc = vec![9u8];
    enc.extend_from_slice(&data);
    let pack = store_encoded_blob(&repo, id, data.len() as u32, &enc);
    // Byte grouping with an unknown stride.
    let data2 = random(3, 4096);
    let id2 = repo.keys().chunk_id(&data2);
    let mut enc2 = vec![2u8, 3, 0];
    enc2.extend_from_slice(&[0; 15]);
    enc2.extend_from_slice(&data2);
    let pack2 = store_encoded_blob(&repo, id2, data2.len() as u32, &enc2);
    let snap = write_snapshot(
        &env,
        vec![
            dir(b"/"),
            file_with_chunks(b"/codec9.bin", vec![id], sha256(&data), data.len() as u64),
            file_with_chunks(b"/stride3.bin", vec![id2], sha256(&data2), 4096),
        ],
    );
    let t = env.path("t");
    let o = restore(&env, &snap, &t);
    assert_fails(
        &o,
        EXIT_DAMAGED,
        &[
            "codec9.bin",
            &format!("pack {}", pack.short()),
            "codec 9",
            "stride3.bin",
            &format!("pack {}", pack2.short()),
            "stride 3",
        ],
        "restore",
    );
    assert!(!t.join("codec9.bin").exists() && !t.join("stride3.bin").exists());
    let v = env.run(&["verify", "--read-data"]);
    assert_fails(
        &v,
        EXIT_DAMAGED,
        &[&format!("pack {}", pack.short()), "codec 9"],
        "verify --read-data",
    );
}

// ---------------------------------------------------------------------------------------------
// 7. Decompression bombs
// ---------------------------------------------------------------------------------------------

/// A zstd frame of `total` zero bytes made of RLE blocks (4 bytes per 128 KiB), with or
/// without the content size in its header.
fn zero_frame(total: u64, declare_size: bool) -> Vec<u8> {
    let mut f = vec![0x28, 0xB5, 0x2F, 0xFD];
    if declare_size {
        f.push(0xC0); // 8-byte content size, window descriptor follows
        f.push(0x38); // window 128 KiB
        f.extend_from_slice(&total.to_le_bytes());
    } else {
        f.push(0x00);
        f.push(0x38);
    }
    let block = 128 * 1024u64;
    let mut left = total;
    while left > 0 {
        let n = left.min(block);
        left -= n;
        let h = u32::from(left == 0) | (1 << 1) | ((n as u32) << 3);
        f.extend_from_slice(&h.to_le_bytes()[..3]);
        f.push(0);
    }
    f
}

/// Peak resident memory (KiB) of a child, sampled from /proc until it exits.
fn run_measuring_rss(mut cmd: std::process::Command) -> (Output, u64, Duration) {
    let start = Instant::now();
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status = format!("/proc/{}/status", child.id());
    let mut peak = 0u64;
    let reader = {
        let mut err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut s = Vec::new();
            std::io::Read::read_to_end(&mut err, &mut s).ok();
            s
        })
    };
    loop {
        if let Ok(s) = std::fs::read_to_string(&status)
            && let Some(l) = s.lines().find(|l| l.starts_with("VmHWM:"))
        {
            let kib: u64 = l.split_whitespace().nth(1).unwrap().parse().unwrap();
            peak = peak.max(kib);
        }
        if child.try_wait().unwrap().is_some() || start.elapsed() > Duration::from_secs(60) {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let _ = child.kill();
    let mut o = child.wait_with_output().unwrap();
    o.stderr = reader.join().unwrap();
    (o, peak, start.elapsed())
}

#[test]
fn decompression_bomb_blob_refused() {
    let env = Env::new();
    let repo = open(&env);
    // Sanity: the frame builder makes valid zstd.
    let small = zstd::stream::decode_all(&zero_frame(300_000, true)[..]).unwrap();
    assert_eq!(small, vec![0u8; 300_000]);
    const HUGE: u64 = 16 << 30; // 16 GiB in a 512 KiB frame
    let raw_len = 4096usize;
    let claimed = vec![0u8; raw_len];
    let mut specs = vec![dir(b"/")];
    let mut packs = Vec::new();
    for (i, enc) in [
        // zstd, content size declared as 16 GiB
        [vec![1u8], zero_frame(HUGE, true)].concat(),
        // zstd, no content size: expands to 16 GiB
        [vec![1u8], zero_frame(HUGE, false)].concat(),
        // byte planes, plane 0 a bomb
        {
            let frame = zero_frame(HUGE, false);
            let mut e = vec![2u8, 2, 0, 1];
            e.extend_from_slice(&(frame.len() as u32).to_le_bytes());
            e.push(0);
            e.extend_from_slice(&2048u32.to_le_bytes());
            e.extend_from_slice(&frame);
            e.extend_from_slice(&[0u8; 2048]);
            e
        },
    ]
    .into_iter()
    .enumerate()
    {
        // Each bomb poses as a different 4 KiB chunk.
        let mut plain = claimed.clone();
        plain[0] = i as u8 + 1;
        let id = repo.keys().chunk_id(&plain);
        packs.push(store_encoded_blob(&repo, id, raw_len as u32, &enc));
        let name = format!("/bomb{i}.bin");
        specs.push(file_with_chunks(
            name.as_bytes(),
            vec![id],
            sha256(&plain),
            raw_len as u64,
        ));
    }
    let snap = write_snapshot(&env, specs);
    let t = env.path("t");
    let mut cmd = env.cmd();
    cmd.args(["restore", &snap, "--target", t.to_str().unwrap()]);
    let (o, peak_kib, took) = run_measuring_rss(cmd);
    let mut needles: Vec<String> = (0..3).map(|i| format!("bomb{i}.bin")).collect();
    needles.extend(packs.iter().map(|p| format!("pack {}", p.short())));
    let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
    assert_fails(&o, EXIT_DAMAGED, &needles, "restore of bombs");
    assert!(
        peak_kib < 512 * 1024,
        "restore of bombs used {peak_kib} KiB of memory"
    );
    assert!(took < Duration::from_secs(20), "took {took:?}");
    let mut cmd = env.cmd();
    cmd.args(["verify", "--read-data"]);
    let (v, peak_kib, _) = run_measuring_rss(cmd);
    assert_fails(&v, EXIT_DAMAGED, &needles[3..], "verify --read-data");
    assert!(peak_kib < 512 * 1024, "verify used {peak_kib} KiB");
}

/// A snapshot file (sealed, zstd-compressed CBOR) that expands to 16 GiB: refused without
/// expanding it into memory.
#[test]
fn decompression_bomb_snapshot_file_refused() {
    let env = Env::new();
    let repo = open(&env);
    let id = Id::random();
    let mut plain = vec![1u8];
    plain.extend_from_slice(&zero_frame(16 << 30, false));
    let mut sealed = repo.keys().seal_object("snapshot", &id.0, &plain);
    repo.keys().sign_snapshot(&id, &mut sealed);
    std::fs::write(env.repo.join("snapshots").join(id.to_hex()), sealed).unwrap();
    let mut cmd = env.cmd();
    cmd.args(["snapshots"]);
    let (o, peak_kib, took) = run_measuring_rss(cmd);
    assert_fails(
        &o,
        EXIT_DAMAGED,
        &[&format!("snapshot {}", id.short())],
        "snapshots",
    );
    assert!(
        peak_kib < 512 * 1024,
        "a {} KiB snapshot file made lifeboat use {peak_kib} KiB of memory (took {took:?})",
        plain.len() / 1024
    );
}

// ---------------------------------------------------------------------------------------------
// 8. Disk full
// ---------------------------------------------------------------------------------------------

/// A tmpfs mounted for the duration of a test.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Result<Tmpfs, String> {
        if !is_root() {
            return Err("not root: cannot mount a tmpfs".into());
        }
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let o = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(dir)
            .output()
            .map_err(|e| format!("mount: {e}"))?;
        if !o.status.success() {
            return Err(format!("mount failed: {}", stderr(&o)));
        }
        Ok(Tmpfs(dir.to_path_buf()))
    }

    fn resize(&self, size: &str) {
        let o = std::process::Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .output()
            .unwrap();
        assert!(o.status.success(), "remount: {}", stderr(&o));
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

#[test]
fn enospc_during_snapshot() {
    // Declared in this order so the drop order is: env, unmount, remove the mount point.
    let mnt_dir = tempfile::tempdir().unwrap();
    let fs = match Tmpfs::mount(mnt_dir.path(), "2m") {
        Ok(m) => m,
        Err(why) => {
            eprintln!("SKIPPED enospc_during_snapshot: {why}");
            return;
        }
    };
    let env = Env {
        repo: mnt_dir.path().join("repo"),
        dir: tempfile::tempdir().unwrap(),
    };
    env.ok(&[
        "init",
        "--kdf-memory",
        "8",
        "--kdf-iterations",
        "1",
        "--kdf-parallelism",
        "1",
    ]);
    let src = env.path("src");
    write_tree(
        &src,
        &[
            ("big.bin", &random(11, 8 << 20)),
            ("small.txt", b"hello".as_slice()),
        ],
    );
    let o = env.run(&["snapshot", src.to_str().unwrap()]);
    assert_fails(&o, EXIT_ERROR, &["No space left on device"], "snapshot");
    assert!(
        !stdout(&o).contains("saved"),
        "no success printed: {}",
        stdout(&o)
    );
    let listed: serde_json::Value =
        serde_json::from_str(&env.ok(&["--json", "snapshots"])).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 0, "no snapshot recorded");
    let v = env.run(&["verify"]);
    assert_eq!(code(&v), 0, "repository still valid: {}", stderr(&v));
    // Space freed: the next snapshot works.
    fs.resize("64m");
    let id = env.snapshot(&src);
    let v = env.run(&["verify", "--read-data"]);
    assert_eq!(code(&v), 0, "{}", stderr(&v));
    let t = env.path("t");
    let o = restore(&env, &id, &t);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(exact_restored(&src, &t, &["big.bin", "small.txt"]).len(), 2);
}

// ---------------------------------------------------------------------------------------------
// 9. kill -9
// ---------------------------------------------------------------------------------------------

/// `n` files of `each` random bytes under `dir`.
fn big_tree(dir: &Path, n: usize, each: usize, seed: u64) -> Vec<String> {
    std::fs::create_dir_all(dir).unwrap();
    (0..n)
        .map(|i| {
            let name = format!("part{i}.bin");
            std::fs::write(dir.join(&name), random(seed + i as u64, each)).unwrap();
            name
        })
        .collect()
}

/// After a kill: verify passes (warnings about unindexed packs allowed) without `unlock`,
/// and the older snapshot restores exactly.
fn after_kill_checks(env: &Env, old_src: &Path, old: &str, names: &[&str], tag: &str) {
    let v = env.run(&["verify"]);
    assert_no_panic(&v, "verify");
    assert_eq!(code(&v), 0, "verify after kill ({tag}): {}", stderr(&v));
    let t = env.path(tag);
    let o = restore(env, &old[..8], &t);
    assert_eq!(
        code(&o),
        0,
        "older snapshot after kill ({tag}): {}",
        stderr(&o)
    );
    assert_eq!(exact_restored(old_src, &t, names).len(), names.len());
}

#[test]
fn kill9_snapshot() {
    let env = Env::new();
    let old_src = env.path("old");
    write_tree(
        &old_src,
        &[
            ("keep.txt", b"precious".as_slice()),
            ("model.bin", &random(7, 300_000)),
        ],
    );
    let old = env.snapshot(&old_src);
    let big = env.path("big");
    let names = big_tree(&big, 4, 64 << 20, 100);
    for (i, ms) in [150u64, 400, 900].into_iter().enumerate() {
        let mut c = spawn(&env, &["snapshot", big.to_str().unwrap()]);
        if !kill_after(&mut c, Duration::from_millis(ms)) {
            eprintln!("note: snapshot finished before the kill at {ms} ms");
        }
        after_kill_checks(
            &env,
            &old_src,
            &old,
            &["keep.txt", "model.bin"],
            &format!("t{i}"),
        );
    }
    // A stale lock of a dead process does not block even an exclusive command.
    let mut c = spawn(&env, &["snapshot", big.to_str().unwrap()]);
    kill_after(&mut c, Duration::from_millis(300));
    let o = env.run(&["prune"]);
    assert_eq!(code(&o), 0, "prune after kill: {}", stderr(&o));
    let id = env.snapshot(&big);
    let v = env.run(&["verify", "--read-data"]);
    assert_eq!(code(&v), 0, "{}", stderr(&v));
    let t = env.path("t-new");
    let o = restore(&env, &id[..8], &t);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    assert_eq!(exact_restored(&big, &t, &refs).len(), names.len());
}

#[test]
fn kill9_restore() {
    let env = Env::new();
    let src = env.path("src");
    let mut names = big_tree(&src, 4, 48 << 20, 200);
    for i in 0..40 {
        let n = format!("small/f{i:02}.txt");
        write_tree(&src, &[(&n, format!("small file {i}\n").as_bytes())]);
        names.push(n);
    }
    let id = env.snapshot(&src);
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let t = env.path("t");
    let base = common::restored_path(&t, &src);
    for ms in [200u64, 600] {
        let mut c = spawn(
            &env,
            &["restore", &id[..8], "--target", t.to_str().unwrap()],
        );
        if !kill_after(&mut c, Duration::from_millis(ms)) {
            eprintln!("note: restore finished before the kill at {ms} ms");
        }
        // No partial file under a final name: anything not named like a temporary is complete.
        for p in walk(&t) {
            if !std::fs::symlink_metadata(&p).unwrap().is_file() || is_restore_temporary(&p) {
                continue;
            }
            let rel = p
                .strip_prefix(&base)
                .unwrap_or_else(|_| panic!("{} restored outside the snapshot path", p.display()));
            assert!(
                std::fs::read(&p).unwrap() == std::fs::read(src.join(rel)).unwrap(),
                "{} is under its final name but incomplete after kill at {ms} ms",
                rel.display()
            );
        }
    }
    // The dead restore's lock does not block an exclusive command.
    let o = env.run(&["prune"]);
    assert_eq!(
        code(&o),
        0,
        "prune after the killed restore: {}",
        stderr(&o)
    );
    assert!(lock_files(&env).is_empty(), "stale locks cleared");
    let o = restore(&env, &id[..8], &t);
    assert_eq!(code(&o), 0, "restore after kill: {}", stderr(&o));
    assert_eq!(exact_restored(&src, &t, &refs).len(), names.len());
    let left = restore_temporaries(&t);
    assert!(
        left.is_empty(),
        "the completed restore leaves temporaries of the killed run in the target: {left:?}"
    );
}

#[test]
fn kill9_prune() {
    let env = Env::new();
    let src = env.path("src");
    let names = big_tree(&src, 4, 32 << 20, 300);
    let first = env.snapshot(&src);
    std::fs::remove_file(src.join(&names[1])).unwrap();
    std::fs::remove_file(src.join(&names[3])).unwrap();
    write_tree(&src, &[("note.txt", b"second snapshot".as_slice())]);
    let kept = env.snapshot(&src);
    let keep_names = [names[0].as_str(), names[2].as_str(), "note.txt"];
    env.ok(&["forget", &first[..8]]);
    let packs_before = pack_files(&env).len();
    for (i, ms) in [40u64, 180, 300, 420, 550].into_iter().enumerate() {
        // No grace period: runs after the first delete what it marked, so kills land in
        // deletions too.
        let mut c = spawn(&env, &["prune", "--grace", "0s"]);
        if !kill_after(&mut c, Duration::from_millis(ms)) {
            eprintln!("note: prune finished before the kill at {ms} ms");
        }
        eprintln!(
            "after the kill at {ms} ms: {} packs, {} index files",
            pack_files(&env).len(),
            index_files(&env).len()
        );
        after_kill_checks(&env, &src, &kept, &keep_names, &format!("t{i}"));
    }
    for _ in 0..2 {
        let o = env.run(&["prune", "--grace", "0s"]);
        assert_eq!(code(&o), 0, "prune after kills: {}", stderr(&o));
    }
    assert!(pack_files(&env).len() < packs_before, "prune freed packs");
    let v = env.run(&["verify", "--read-data"]);
    assert_eq!(code(&v), 0, "{}", stderr(&v));
    assert!(
        !stderr(&v).contains("warning"),
        "prune removed leftovers: {}",
        stderr(&v)
    );
    after_kill_checks(&env, &src, &kept, &keep_names, "t-final");
}

// ---------------------------------------------------------------------------------------------
// 16, 18. Secrets
// ---------------------------------------------------------------------------------------------

#[test]
fn password_never_in_output_argv_or_repository() {
    let env = Env::new();
    let src = env.path("src");
    write_tree(&src, &[("a.txt", b"alpha".as_slice())]);
    let id = env.snapshot(&src);
    let t = env.path("t");
    let mut outputs = vec![
        env.run(&["snapshots"]),
        env.run(&["--json", "snapshots"]),
        env.run(&["ls", &id[..8], "-l"]),
        env.run(&["restore", &id[..8], "--target", t.to_str().unwrap()]),
        env.run(&["verify", "--read-data"]),
        env.run(&["key", "list"]),
        env.run(&["--json", "snapshot", src.to_str().unwrap()]),
    ];
    // Failures must not echo a password either.
    outputs.push(
        env.cmd()
            .env("LIFEBOAT_PASSWORD", "s3cret-wrong-guess")
            .arg("snapshots")
            .output()
            .unwrap(),
    );
    for o in &outputs {
        assert_no_panic(o, "command");
        let all = all_output(o);
        assert!(!all.contains(PASSWORD), "password in output: {all}");
        assert!(
            !all.contains("s3cret-wrong-guess"),
            "password in output: {all}"
        );
    }
    // There is no way to pass it on the command line.
    let o = env.run(&["--password", "x", "snapshots"]);
    assert_eq!(code(&o), 2, "no --password option: {}", stderr(&o));
    // Not in the argv (or environment) of a running process given a password file.
    let pf = env.path("pass");
    std::fs::write(&pf, PASSWORD).unwrap();
    std::fs::set_permissions(&pf, std::fs::Permissions::from_mode(0o600)).unwrap();
    let big = env.path("big");
    big_tree(&big, 1, 96 << 20, 500);
    let mut child = common::lifeboat_cmd()
        .arg("--repo")
        .arg(&env.repo)
        .arg("--password-file")
        .arg(&pf)
        .args(["snapshot", big.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut seen = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        for f in ["cmdline", "environ"] {
            if let Ok(b) = std::fs::read(format!("/proc/{}/{f}", child.id())) {
                assert!(
                    !b.windows(PASSWORD.len()).any(|w| w == PASSWORD.as_bytes()),
                    "password in /proc/<pid>/{f}"
                );
                seen += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(child.wait().unwrap().success());
    assert!(seen > 0, "the running process was observed");
    // Nowhere in the repository in plain text.
    for p in walk(&env.repo).into_iter().filter(|p| p.is_file()) {
        let b = std::fs::read(&p).unwrap();
        assert!(
            !b.windows(PASSWORD.len()).any(|w| w == PASSWORD.as_bytes()),
            "password in {}",
            p.display()
        );
    }
}

#[test]
fn repository_files_private_under_umask_000() {
    let env = Env::bare();
    let src = env.path("src");
    write_tree(&src, &[("a.txt", b"alpha".as_slice())]);
    let newpw = env.path("newpw");
    std::fs::write(&newpw, "another password\n").unwrap();
    std::fs::set_permissions(&newpw, std::fs::Permissions::from_mode(0o600)).unwrap();
    let script = r#"umask 000
"$LB" --repo "$REPO" init --kdf-memory 8 --kdf-iterations 1 --kdf-parallelism 1 &&
"$LB" --repo "$REPO" snapshot "$1" &&
"$LB" --repo "$REPO" key add --new-password-file "$2" --kdf-memory 8 --kdf-iterations 1 --kdf-parallelism 1"#;
    let o = shell(
        &env,
        script,
        &[src.to_str().unwrap(), newpw.to_str().unwrap()],
    )
    .output()
    .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(key_files(&env).len(), 2);
    let mut checked = 0;
    for p in std::iter::once(env.repo.clone()).chain(walk(&env.repo)) {
        let m = mode_of(&p) & 0o7777;
        let want = if p.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(m, want, "{} has mode {m:o}", p.display());
        checked += 1;
    }
    assert!(
        checked > 260,
        "config, keys, data dirs, packs, index, snapshot"
    );
}

/// Key material is zeroized after use: once the repository is open (here: the process waits
/// for a lock held by someone else), the password is nowhere in the process's memory.
#[test]
fn password_not_left_in_process_memory() {
    use std::os::unix::fs::FileExt;
    if !is_root() {
        eprintln!(
            "SKIPPED password_not_left_in_process_memory: reading /proc/<pid>/mem needs root"
        );
        return;
    }
    let env = Env::new();
    let pf = env.path("pass");
    std::fs::write(&pf, PASSWORD).unwrap();
    std::fs::set_permissions(&pf, std::fs::Permissions::from_mode(0o600)).unwrap();
    let src = env.path("src");
    write_tree(&src, &[("a.txt", b"alpha".as_slice())]);
    // An exclusive lock held by a live process (this test): the snapshot opens the
    // repository, then waits for the lock.
    let now = lifeboat::util::now_rfc3339();
    let lock = serde_json::json!({
        "kind": "exclusive", "hostname": lifeboat::util::hostname(),
        "pid": std::process::id(), "created": now, "refreshed": now, "command": "test",
    });
    std::fs::write(
        env.repo.join("locks").join(Id::random().to_hex()),
        serde_json::to_vec(&lock).unwrap(),
    )
    .unwrap();
    let mut child = common::lifeboat_cmd()
        .arg("--repo")
        .arg(&env.repo)
        .arg("--password-file")
        .arg(&pf)
        .args(["--lock-wait", "60s", "snapshot", src.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    let pid = child.id();
    let mut found = Vec::new();
    let mut scanned = 0usize;
    // Sanity check of the scanner: the password file's path (in argv) must be found.
    let marker = pf.to_str().unwrap().as_bytes().to_vec();
    let mut marker_seen = false;
    if let (Ok(maps), Ok(mem)) = (
        std::fs::read_to_string(format!("/proc/{pid}/maps")),
        std::fs::File::open(format!("/proc/{pid}/mem")),
    ) {
        for line in maps.lines() {
            let mut parts = line.split_whitespace();
            let (Some(range), Some(perms)) = (parts.next(), parts.next()) else {
                continue;
            };
            let name = line.split_whitespace().nth(5).unwrap_or("[anon]");
            if !perms.starts_with('r') || name.starts_with("[v") || !perms.contains('w') {
                continue;
            }
            let (a, b) = range.split_once('-').unwrap();
            let (a, b) = (
                u64::from_str_radix(a, 16).unwrap(),
                u64::from_str_radix(b, 16).unwrap(),
            );
            let mut buf = vec![0u8; (b - a) as usize];
            if mem.read_exact_at(&mut buf, a).is_ok() {
                scanned += buf.len();
                marker_seen |= buf.windows(marker.len()).any(|w| w == marker.as_slice());
                if buf
                    .windows(PASSWORD.len())
                    .any(|w| w == PASSWORD.as_bytes())
                {
                    found.push(line.to_string());
                }
            }
        }
    }
    let still_running = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    let _ = child.wait();
    assert!(still_running, "the snapshot waits for the lock");
    assert!(scanned > 1 << 20, "memory was read ({scanned} bytes)");
    assert!(
        marker_seen,
        "the scanner finds argv in the process's memory"
    );
    assert!(
        found.is_empty(),
        "the password is still in the memory of the running process, in: {found:?}"
    );
}
