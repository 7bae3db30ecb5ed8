//! `lifeboat models verify|list` through the real binary: live model files checked against a
//! snapshot (unchanged, one flipped bit, truncated, deleted, new), `--models DIR`, the JSON
//! report, and safetensors headers read from the repository (valid and malformed).

mod common;

use std::path::{Path, PathBuf};

use common::{Env, code, fp16_like, random_bytes, s, stderr};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// A valid safetensors file: two F16 tensors of 4 MiB each (8 MiB of data plus the header).
fn safetensors_bytes() -> Vec<u8> {
    let header = r#"{"__metadata__":{"format":"pt"},"layer.0.weight":{"dtype":"F16","shape":[1024,2048],"data_offsets":[0,4194304]},"layer.1.weight":{"dtype":"F16","shape":[2048,1024],"data_offsets":[4194304,8388608]}}"#;
    let mut v = (header.len() as u64).to_le_bytes().to_vec();
    v.extend_from_slice(header.as_bytes());
    v.extend_from_slice(&fp16_like(11, 8 << 20));
    v
}

/// `models/` with a safetensors, a gguf, a bin and a non-model file.
fn model_dir(e: &Env) -> PathBuf {
    let d = e.path("models");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("model.safetensors"), safetensors_bytes()).unwrap();
    let mut gguf = b"GGUF".to_vec();
    gguf.extend_from_slice(&random_bytes(2, 3 << 20));
    std::fs::write(d.join("weights.GGUF"), gguf).unwrap();
    std::fs::write(d.join("adapter.bin"), random_bytes(3, 100_000)).unwrap();
    std::fs::write(d.join("notes.txt"), b"not a model\n").unwrap();
    d
}

fn verify(e: &Env, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec!["models", "verify"];
    args.extend_from_slice(extra);
    let out = e.run(&args);
    (
        code(&out),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr(&out),
    )
}

fn verify_json(e: &Env, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["--json", "models", "verify"];
    args.extend_from_slice(extra);
    let out = e.run(&args);
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(&text)
        .unwrap_or_else(|err| panic!("not JSON ({err}): {text}\nstderr: {}", stderr(&out)));
    (code(&out), v)
}

fn status_of<'a>(v: &'a Value, path: &Path) -> &'a str {
    v["report"]["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["path"] == s(path))
        .unwrap_or_else(|| panic!("{} not in report: {v:#}", path.display()))["status"]
        .as_str()
        .unwrap()
}

fn counts(v: &Value) -> [u64; 5] {
    let c = &v["report"]["counts"];
    ["unchanged", "modified", "missing", "new", "models"].map(|k| c[k].as_u64().unwrap())
}

fn line_with<'a>(text: &'a str, needle: &str) -> &'a str {
    text.lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{text}"))
}

#[test]
fn verify_finds_flipped_bits_truncation_deletion_and_new_models() {
    let e = Env::new();
    let d = model_dir(&e);
    let id = e.snapshot(&d);
    let st = d.join("model.safetensors");

    // Untouched: everything unchanged, exit 0; the non-model file is not a model.
    let (c, out, err) = verify(&e, &[]);
    assert_eq!(c, 0, "stdout: {out}\nstderr: {err}");
    assert!(line_with(&out, "model.safetensors").starts_with("unchanged"));
    assert!(line_with(&out, "weights.GGUF").starts_with("unchanged"));
    assert!(!out.contains("notes.txt"), "{out}");
    let (c, v) = verify_json(&e, &[&id[..8]]);
    assert_eq!(c, 0);
    assert_eq!(v["ok"], true);
    assert_eq!(counts(&v), [3, 0, 0, 0, 3]);
    assert_eq!(v["snapshot"], id.as_str());

    // A changed non-model file does not matter.
    std::fs::write(d.join("notes.txt"), b"changed\n").unwrap();
    assert_eq!(verify(&e, &[]).0, 0);

    // One bit flipped in the middle of the safetensors: same size, different hash.
    let mut bytes = std::fs::read(&st).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x10;
    std::fs::write(&st, &bytes).unwrap();
    let (c, out, _) = verify(&e, &["latest"]);
    assert_eq!(c, 3, "{out}");
    let l = line_with(&out, "model.safetensors");
    assert!(
        l.starts_with("modified") && l.contains("SHA-256 differs"),
        "{l}"
    );
    assert!(line_with(&out, "weights.GGUF").starts_with("unchanged"));
    let (c, v) = verify_json(&e, &[]);
    assert_eq!(c, 3);
    assert_eq!(v["ok"], false);
    assert_eq!(counts(&v), [2, 1, 0, 0, 3]);
    let m = v["report"]["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["path"] == s(&st))
        .unwrap();
    assert_eq!(
        m["sha256_now"],
        hex::encode(Sha256::digest(&bytes)).as_str()
    );
    assert_ne!(m["sha256_now"], m["sha256"]);

    // Truncated gguf: modified by size alone.
    let gguf = d.join("weights.GGUF");
    let f = std::fs::OpenOptions::new().write(true).open(&gguf).unwrap();
    f.set_len(1000).unwrap();
    drop(f);
    let (c, out, _) = verify(&e, &[]);
    assert_eq!(c, 3);
    let l = line_with(&out, "weights.GGUF");
    assert!(
        l.starts_with("modified") && l.contains("size 1000 bytes"),
        "{l}"
    );

    // Deleted bin: missing. New onnx in the same directory: new.
    std::fs::remove_file(d.join("adapter.bin")).unwrap();
    std::fs::write(d.join("extra.onnx"), b"onnx").unwrap();
    let (c, out, _) = verify(&e, &[]);
    assert_eq!(c, 3);
    assert!(line_with(&out, "adapter.bin").starts_with("missing"));
    assert!(line_with(&out, "extra.onnx").starts_with("new"));
    let (c, v) = verify_json(&e, &[]);
    assert_eq!(c, 3);
    assert_eq!(counts(&v), [0, 2, 1, 1, 3]);
    assert_eq!(status_of(&v, &st), "modified");
    assert_eq!(status_of(&v, &gguf), "modified");
    assert_eq!(status_of(&v, &d.join("adapter.bin")), "missing");
    assert_eq!(v["report"]["new"][0]["path"], s(&d.join("extra.onnx")));
    assert_eq!(v["report"]["new"][0]["size"], 4);

    // A model replaced by a symlink to an identical copy is still a change.
    std::fs::write(e.path("copy"), &bytes).unwrap();
    std::fs::remove_file(&st).unwrap();
    std::os::unix::fs::symlink(e.path("copy"), &st).unwrap();
    let (_, v) = verify_json(&e, &[]);
    assert_eq!(status_of(&v, &st), "modified");
}

#[test]
fn models_dirs_count_every_file_below_them() {
    let e = Env::new();
    let d = model_dir(&e);
    std::fs::create_dir_all(d.join("sub")).unwrap();
    std::fs::write(d.join("sub/config.json"), b"{}").unwrap();
    e.snapshot(&d);
    let sub = d.join("sub");
    let (c, v) = verify_json(&e, &["--models", s(&sub)]);
    assert_eq!(c, 0, "{v:#}");
    assert_eq!(counts(&v), [1, 0, 0, 0, 1]);
    assert_eq!(status_of(&v, &sub.join("config.json")), "unchanged");

    // Any new file below the directory, recursively, is new; files outside it are ignored.
    std::fs::create_dir_all(sub.join("deeper")).unwrap();
    std::fs::write(sub.join("deeper/tokenizer.json"), b"{}").unwrap();
    std::fs::write(d.join("outside.onnx"), b"x").unwrap();
    let (c, v) = verify_json(&e, &["--models", &format!("{}/", s(&sub))]);
    assert_eq!(c, 3);
    assert_eq!(counts(&v), [1, 0, 0, 1, 1]);
    assert_eq!(
        v["report"]["new"][0]["path"],
        s(&sub.join("deeper/tokenizer.json"))
    );

    // Relative directories are refused.
    let out = e.run(&["models", "verify", "--models", "relative/dir"]);
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("not an absolute path"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn list_shows_hashes_and_safetensors_headers() {
    let e = Env::new();
    let d = model_dir(&e);
    let st = d.join("model.safetensors");
    std::fs::hard_link(&st, d.join("alias.safetensors")).unwrap();
    // Malformed headers: an absurd length, and a length that fits but JSON that does not.
    let mut bad = u64::MAX.to_le_bytes().to_vec();
    bad.extend_from_slice(&random_bytes(5, 4096));
    std::fs::write(d.join("huge.safetensors"), &bad).unwrap();
    let mut bad2 = 20u64.to_le_bytes().to_vec();
    bad2.extend_from_slice(b"{\"a\": {\"dtype\": 3}}\0\0\0\0");
    std::fs::write(d.join("garbage.safetensors"), &bad2).unwrap();
    std::fs::write(d.join("tiny.safetensors"), b"abc").unwrap();
    let id = e.snapshot(&d);

    let out = e.ok(&["models", "list", &id]);
    let l = line_with(&out, "/model.safetensors");
    let want = hex::encode(Sha256::digest(std::fs::read(&st).unwrap()));
    assert!(l.starts_with(&want), "{l}");
    assert!(l.contains("2 tensors") && l.contains("F16"), "{l}");
    assert!(line_with(&out, "alias.safetensors").starts_with(&want));
    for name in ["huge", "garbage", "tiny"] {
        let l = line_with(&out, &format!("{name}.safetensors"));
        assert!(l.contains("unreadable header"), "{l}");
    }
    assert!(!out.contains("notes.txt"));
    assert!(line_with(&out, "weights.GGUF").contains("3.0 MiB"));

    let v = e.ok_json(&["models", "list", "latest"]);
    let models = v["models"].as_array().unwrap();
    assert_eq!(models.len(), 7, "{v:#}");
    let m = models.iter().find(|m| m["path"] == s(&st)).unwrap();
    assert_eq!(m["sha256"], want.as_str());
    assert_eq!(m["size"], std::fs::metadata(&st).unwrap().len());
    assert_eq!(m["safetensors"]["tensors"], 2);
    assert_eq!(m["safetensors"]["dtypes"]["F16"], 2);
    assert_eq!(m["safetensors"]["parameters"], 4 << 20);
    let g = models
        .iter()
        .find(|m| m["path"] == s(&d.join("garbage.safetensors")))
        .unwrap();
    assert_eq!(g["header_error"], "unreadable header");
    assert!(g.get("safetensors").is_none());
}

#[test]
fn verify_without_models_or_snapshot() {
    let e = Env::new();
    // No snapshot yet: a clear error, not a crash.
    let out = e.run(&["models", "verify"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("no snapshot"), "{}", stderr(&out));

    // A snapshot without models: nothing to check, success.
    let d = e.path("plain");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("a.txt"), b"a").unwrap();
    e.snapshot(&d);
    let (c, v) = verify_json(&e, &[]);
    assert_eq!(c, 0);
    assert_eq!(counts(&v), [0, 0, 0, 0, 0]);
}

/// `snapshot --expect-sha256 SHA256SUMS`: a published list the models must match. A match
/// saves; a single differing byte refuses the snapshot (nothing saved) unless
/// `--allow-mismatch`, which saves it and exits 3.
#[test]
fn expect_sha256_refuses_a_mismatch() {
    use sha2::Digest;
    let e = Env::new();
    let dir = e.path("published");
    std::fs::create_dir_all(&dir).unwrap();
    let body = vec![7u8; 100_000];
    std::fs::write(dir.join("model.safetensors"), &body).unwrap();
    let good = hex::encode(sha2::Sha256::digest(&body));
    let list = dir.join("SHA256SUMS");
    std::fs::write(&list, format!("{good}  model.safetensors\n")).unwrap();
    let d = dir.to_str().unwrap();
    let l = list.to_str().unwrap();
    e.ok(&["snapshot", d, "--expect-sha256", l]);
    let count = |e: &Env| {
        e.ok_json(&["snapshots", "--json"])
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(count(&e), 1);

    let mut bad = body.clone();
    bad[50_000] ^= 1;
    std::fs::write(dir.join("model.safetensors"), &bad).unwrap();
    let out = e.run(&["snapshot", d, "--expect-sha256", l]);
    assert_eq!(common::code(&out), 1, "{}", common::stderr(&out));
    assert!(
        common::stderr(&out).contains("model.safetensors"),
        "{}",
        common::stderr(&out)
    );
    assert_eq!(count(&e), 1, "a mismatching snapshot was saved");

    let out = e.run(&["snapshot", d, "--expect-sha256", l, "--allow-mismatch"]);
    assert_eq!(common::code(&out), 3, "{}", common::stderr(&out));
    assert_eq!(count(&e), 2);
}
