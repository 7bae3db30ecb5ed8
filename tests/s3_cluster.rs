//! The S3 test infrastructure itself: a Garage cluster from `scripts/garage` answers S3 with
//! the key it made, survives a node's stop and restart, cleans up after itself; the fault
//! proxy in front of it injects errors without breaking signatures.
//!
//! Without garage these tests skip, except under `CI=true` (see tests/common/garage.rs).

#[path = "common/faultproxy.rs"]
mod faultproxy;
#[path = "common/garage.rs"]
mod garage;

use std::net::TcpStream;

use faultproxy::FaultProxy;
use garage::{Credentials, Garage, http_request, signed_request};

fn host(endpoint: &str) -> &str {
    endpoint.strip_prefix("http://").expect("http endpoint")
}

#[test]
fn three_node_cluster_serves_s3_through_a_node_restart() {
    let Some(g) = Garage::start(3) else { return };
    eprintln!("3-node cluster started in {:?}", g.started_in());
    assert_eq!(g.endpoints().len(), 3);
    assert_eq!(g.endpoint(), g.endpoints()[0]);
    assert_eq!(g.bucket(), "lifeboat");
    assert_eq!(g.region(), "garage");
    assert!(g.repo_url("t/1").starts_with("s3:http://127.0.0.1:"));
    assert!(g.repo_url("/t/1/").ends_with("/lifeboat/t/1"));
    assert_eq!(
        g.repo_url_via("http://127.0.0.1:1", "p"),
        "s3:http://127.0.0.1:1/lifeboat/p"
    );
    let env = g.env();
    assert!(env.iter().any(|(k, v)| k == "AWS_REGION" && v == "garage"));
    assert!(
        env.iter()
            .any(|(k, v)| k == "AWS_ACCESS_KEY_ID" && v == g.access_key())
    );

    // Secrets only in 0600 files.
    for f in ["env", "env.sh", "node1/garage.toml"] {
        let mode = std::fs::metadata(g.dir().join(f)).unwrap().permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o077,
            0,
            "{f} is private"
        );
    }

    // A plain unsigned request: every node's S3 API answers, with an S3 error.
    for ep in g.endpoints() {
        let r = http_request(host(&ep), "GET", "/lifeboat", &[], b"").unwrap();
        assert_eq!(r.status, 403, "{ep}: {}", r.text());
        assert!(r.text().contains("<Error>"), "{}", r.text());
    }

    // Signed: write, read, list.
    let r = g.s3("PUT", "/lifeboat/smoke/a", b"first object");
    assert_eq!(r.status, 200, "{}", r.text());
    let r = g.s3_at(&g.node_endpoint(3), "GET", "/lifeboat/smoke/a", b"");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.body, b"first object");

    // One node down: replication 3 keeps a write quorum of 2.
    g.stop_node(2);
    let down = TcpStream::connect(host(&g.node_endpoint(2)));
    assert!(down.is_err(), "node 2's S3 port is closed");
    let r = g.s3("PUT", "/lifeboat/smoke/b", b"written with node 2 down");
    assert_eq!(r.status, 200, "{}", r.text());
    g.start_node(2);
    let r = g.s3_at(&g.node_endpoint(2), "GET", "/lifeboat/smoke/b", b"");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.body, b"written with node 2 down");

    // A crash (SIGKILL) of node 3, a write meanwhile, node 3 back: it serves both objects.
    g.kill_node(3);
    let r = g.s3("PUT", "/lifeboat/smoke/c", b"written with node 3 crashed");
    assert_eq!(r.status, 200, "{}", r.text());
    g.start_node(3);
    let r = g.s3_at(&g.node_endpoint(3), "GET", "/lifeboat/smoke/c", b"");
    assert_eq!(r.body, b"written with node 3 crashed", "{}", r.text());
    let r = g.s3_at(
        &g.node_endpoint(3),
        "GET",
        "/lifeboat?list-type=2&prefix=smoke/",
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    for key in ["smoke/a", "smoke/b", "smoke/c"] {
        assert!(
            r.text().contains(&format!("<Key>{key}</Key>")),
            "{}",
            r.text()
        );
    }

    // Dropping the cluster stops every node.
    let endpoints = g.endpoints();
    drop(g);
    for ep in endpoints {
        assert!(TcpStream::connect(host(&ep)).is_err(), "{ep} still answers");
    }
}

#[test]
fn other_buckets_and_keys() {
    let Some(g) = Garage::start(1) else { return };
    g.create_bucket("second");
    let r = g.s3("PUT", "/second/x", b"x");
    assert_eq!(r.status, 200, "{}", r.text());

    // A key without access is refused.
    let (id, secret) = g.key_without_access();
    let creds = Credentials {
        access_key: &id,
        secret_key: &secret,
        region: g.region(),
    };
    let r = signed_request(g.endpoint(), &creds, "GET", "/lifeboat?list-type=2", b"").unwrap();
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("AccessDenied"), "{}", r.text());

    // The "no delete" key: reads and writes. Garage cannot deny it deletes (it has no
    // per-action permission): this records that limit, so a change in Garage shows here.
    let (id, secret) = g.create_bucket_no_delete("append-only");
    let creds = Credentials {
        access_key: &id,
        secret_key: &secret,
        region: g.region(),
    };
    let put = signed_request(g.endpoint(), &creds, "PUT", "/append-only/o", b"o").unwrap();
    assert_eq!(put.status, 200, "{}", put.text());
    let get = signed_request(g.endpoint(), &creds, "GET", "/append-only/o", b"").unwrap();
    assert_eq!(get.body, b"o");
    let other = signed_request(g.endpoint(), &creds, "GET", "/lifeboat?list-type=2", b"").unwrap();
    assert_eq!(other.status, 403, "only its own bucket");
    let del = signed_request(g.endpoint(), &creds, "DELETE", "/append-only/o", b"").unwrap();
    assert_eq!(
        del.status,
        204,
        "Garage lets a writer delete: {}",
        del.text()
    );
}

#[test]
fn proxy_injects_a_503_in_front_of_garage_and_keeps_signatures_valid() {
    let Some(g) = Garage::start(1) else { return };
    let p = FaultProxy::start(g.endpoint());
    // Signed for the proxy's Host header, forwarded unchanged: Garage accepts it.
    let r = g.s3_at(
        &p.endpoint(),
        "PUT",
        "/lifeboat/proxied",
        b"through the proxy",
    );
    assert_eq!(r.status, 200, "{}", r.text());

    p.fail_next(1, 503);
    let r = g.s3_at(&p.endpoint(), "GET", "/lifeboat/proxied", b"");
    assert_eq!(r.status, 503);
    assert!(
        r.text().contains("<Code>ServiceUnavailable</Code>"),
        "{}",
        r.text()
    );

    let r = g.s3_at(&p.endpoint(), "GET", "/lifeboat/proxied", b"");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.body, b"through the proxy");
    assert_eq!((p.requests(), p.faults(), p.forwarded()), (3, 1, 2));

    // A cut: refused while cut, served again after restore.
    p.cut();
    assert!(signed_request_fails(&g, &p));
    p.restore();
    let r = g.s3_at(&p.endpoint(), "GET", "/lifeboat/proxied", b"");
    assert_eq!(r.status, 200, "{}", r.text());
}

fn signed_request_fails(g: &Garage, p: &FaultProxy) -> bool {
    let creds = Credentials {
        access_key: g.access_key(),
        secret_key: g.secret_key(),
        region: g.region(),
    };
    signed_request(&p.endpoint(), &creds, "GET", "/lifeboat/proxied", b"").is_err()
}
