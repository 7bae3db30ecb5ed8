//! The shortest path through the real binary: init, snapshot, restore, compare bytes.

mod common;

#[test]
fn snapshot_restore_round_trip_bytes() {
    let e = common::Env::new();
    let src = e.path("src");
    std::fs::create_dir_all(src.join("d")).unwrap();
    std::fs::write(src.join("d/a.txt"), b"hello").unwrap();
    std::fs::write(src.join("b.bin"), vec![7u8; 3 << 20]).unwrap();
    let id = e.snapshot(&src);
    assert_eq!(id.len(), 64);
    let target = e.path("out");
    e.ok(&["restore", &id[..8], "--target", target.to_str().unwrap()]);
    let back = target.join(src.strip_prefix("/").unwrap());
    assert_eq!(std::fs::read(back.join("d/a.txt")).unwrap(), b"hello");
    assert_eq!(
        std::fs::read(back.join("b.bin")).unwrap(),
        vec![7u8; 3 << 20]
    );
    let v: serde_json::Value = serde_json::from_str(&e.ok(&["snapshots", "--json"])).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    e.ok(&["verify", "--read-data"]);
}
