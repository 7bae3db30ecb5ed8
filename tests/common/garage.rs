//! A throwaway Garage cluster (S3-compatible object store) on 127.0.0.1 for the S3 tests:
//! `Garage::start(nodes)` runs `scripts/garage start` in a temp dir (free ports, one zone per
//! node, replication min(3, nodes), a key and the bucket `lifeboat`) and `Drop` stops it.
//! Every test starts its own cluster, so tests may run in parallel.
//!
//! Without the `garage` binary a test skips (prints why and gets `None`), except under
//! `CI=true`, where it fails: the S3 suite must never pass in CI by skipping.
//!
//! Include it with `#[path = "common/garage.rs"] mod garage;`. It also holds a tiny, independent
//! S3 client (SigV4-signed requests over a plain TCP stream, `Garage::s3`) so that tests can
//! look at what lifeboat stored without sharing lifeboat's idea of S3.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// `scripts/garage` in this checkout.
pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/garage")
}

/// The garage binary the script would use: `GARAGE_BIN`, else `garage` on PATH, else
/// `~/.cargo/bin/garage`.
pub fn garage_binary() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("GARAGE_BIN") {
        return Some(PathBuf::from(bin)).filter(|p| p.is_file());
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("garage"));
    let in_cargo = std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo/bin/garage"));
    on_path.chain(in_cargo).find(|p| p.is_file())
}

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// A running test cluster; stopped (every node, by PID) when dropped.
pub struct Garage {
    vars: BTreeMap<String, String>,
    nodes: usize,
    started_in: Duration,
    // Last: the directory goes after `Drop::drop` has stopped the nodes that use it.
    dir: tempfile::TempDir,
}

impl Garage {
    /// Start a cluster of `nodes` nodes. `None` (with a note on stderr) when garage is not
    /// installed; a panic instead under `CI=true`, or when the cluster does not start.
    pub fn start(nodes: usize) -> Option<Garage> {
        if garage_binary().is_none() {
            assert!(!ci(), "garage not installed: run scripts/garage install");
            eprintln!("skipping: garage not installed (scripts/garage install)");
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("lifeboat-garage-")
            .tempdir()
            .expect("tempdir");
        let t0 = Instant::now();
        let out = Command::new(script())
            .arg("start")
            .arg(dir.path())
            .arg(nodes.to_string())
            // The nodes stop by themselves if this test binary dies without dropping us.
            .env("GARAGE_WATCH_PID", std::process::id().to_string())
            .stdin(Stdio::null())
            .output()
            .expect("run scripts/garage");
        let started_in = t0.elapsed();
        check(&out, "scripts/garage start");
        eprint!("{}", String::from_utf8_lossy(&out.stdout));
        let vars = read_env_file(&dir.path().join("env"));
        Some(Garage {
            vars,
            nodes,
            started_in,
            dir,
        })
    }

    fn var(&self, name: &str) -> &str {
        self.vars
            .get(name)
            .unwrap_or_else(|| panic!("{name} missing from the cluster's env file"))
    }

    /// Node 1's S3 endpoint, `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        self.var("S3_ENDPOINT")
    }

    /// Every node's S3 endpoint, node 1 first.
    pub fn endpoints(&self) -> Vec<String> {
        self.var("S3_ENDPOINTS")
            .split_whitespace()
            .map(str::to_string)
            .collect()
    }

    /// Node N's S3 endpoint (1-based).
    pub fn node_endpoint(&self, n: usize) -> String {
        self.endpoints()[n - 1].clone()
    }

    pub fn bucket(&self) -> &str {
        self.var("S3_BUCKET")
    }

    pub fn region(&self) -> &str {
        self.var("S3_REGION")
    }

    pub fn access_key(&self) -> &str {
        self.var("AWS_ACCESS_KEY_ID")
    }

    pub fn secret_key(&self) -> &str {
        self.var("AWS_SECRET_ACCESS_KEY")
    }

    pub fn nodes(&self) -> usize {
        self.nodes
    }

    /// How long `scripts/garage start` took.
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    /// The cluster's directory (node configs, data, logs, env files).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `s3:http://127.0.0.1:PORT/lifeboat/PREFIX` (no trailing part for an empty prefix).
    pub fn repo_url(&self, prefix: &str) -> String {
        self.repo_url_via(self.endpoint(), prefix)
    }

    /// The same repository URL through another endpoint (another node, a `FaultProxy`):
    /// `s3:ENDPOINT/lifeboat/PREFIX`.
    pub fn repo_url_via(&self, endpoint: &str, prefix: &str) -> String {
        let prefix = prefix.trim_matches('/');
        let base = format!("s3:{}/{}", endpoint.trim_end_matches('/'), self.bucket());
        if prefix.is_empty() {
            base
        } else {
            format!("{base}/{prefix}")
        }
    }

    /// The credentials and region as environment variables for the lifeboat binary.
    pub fn env(&self) -> Vec<(String, String)> {
        ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
            .iter()
            .map(|k| ((*k).to_string(), self.var(k).to_string()))
            .chain([("AWS_REGION".to_string(), self.region().to_string())])
            .collect()
    }

    fn run_script(&self, args: &[&str]) -> String {
        let out = Command::new(script())
            .arg(args[0])
            .arg(self.dir())
            .args(&args[1..])
            .stdin(Stdio::null())
            .output()
            .expect("run scripts/garage");
        check(&out, &format!("scripts/garage {}", args.join(" ")));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Another bucket, which the cluster's key may read and write.
    pub fn create_bucket(&self, name: &str) {
        self.run_script(&["bucket", name]);
    }

    /// Another bucket and a second key with as little as Garage can give a writer: read and
    /// write, not owner. Garage has no per-action permissions: the key CAN still delete objects
    /// (see scripts/garage); a test that needs deletes refused must refuse them itself, e.g.
    /// with `FaultProxy::fail_when`. Returns the key's (id, secret).
    pub fn create_bucket_no_delete(&self, name: &str) -> (String, String) {
        let out = self.run_script(&["bucket", name, "--no-delete"]);
        key_from_env_file(Path::new(out.trim()))
    }

    /// A new key with no access to any bucket: (id, secret).
    pub fn key_without_access(&self) -> (String, String) {
        static N: AtomicU64 = AtomicU64::new(1);
        let name = format!("noaccess-{}", N.fetch_add(1, Ordering::Relaxed));
        let out = self.run_script(&["key", &name]);
        key_from_env_file(Path::new(out.trim()))
    }

    /// Stop node N (1-based); its data stays.
    pub fn stop_node(&self, n: usize) {
        self.run_script(&["stop-node", &n.to_string()]);
    }

    /// Kill node N (SIGKILL: a crash, nothing flushed or said goodbye); its data stays.
    pub fn kill_node(&self, n: usize) {
        self.run_script(&["stop-node", &n.to_string(), "--kill"]);
    }

    /// Start node N again on its ports and data; returns once it has rejoined the nodes that run.
    pub fn start_node(&self, n: usize) {
        self.run_script(&["start-node", &n.to_string()]);
    }

    /// Node N's log (for a failing test's message).
    pub fn node_log(&self, n: usize) -> String {
        std::fs::read_to_string(self.dir().join(format!("node{n}/log"))).unwrap_or_default()
    }

    /// The `garage` CLI against node 1 (e.g. `["bucket", "info", "lifeboat"]`); its stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new(garage_binary().expect("garage binary"))
            .arg("-c")
            .arg(self.var("GARAGE_CONFIG"))
            .args(args)
            .env("RUST_LOG", "garage=warn")
            .stdin(Stdio::null())
            .output()
            .expect("run garage");
        check(&out, &format!("garage {}", args.join(" ")));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A SigV4-signed S3 request with the cluster's key to node 1, e.g.
    /// `g.s3("PUT", "/lifeboat/a/b", b"data")`, `g.s3("GET", "/lifeboat?list-type=2", b"")`.
    pub fn s3(&self, method: &str, path_query: &str, body: &[u8]) -> HttpResponse {
        self.s3_at(self.endpoint(), method, path_query, body)
    }

    /// The same against another endpoint (another node, a `FaultProxy`).
    pub fn s3_at(
        &self,
        endpoint: &str,
        method: &str,
        path_query: &str,
        body: &[u8],
    ) -> HttpResponse {
        let creds = Credentials {
            access_key: self.access_key(),
            secret_key: self.secret_key(),
            region: self.region(),
        };
        signed_request(endpoint, &creds, method, path_query, body)
            .unwrap_or_else(|e| panic!("{method} {endpoint}{path_query}: {e}"))
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        let out = Command::new(script())
            .arg("stop")
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .output();
        match out {
            Ok(o) if o.status.success() => {}
            Ok(o) => eprintln!(
                "scripts/garage stop failed: {}",
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => eprintln!("cannot run scripts/garage stop: {e}"),
        }
    }
}

fn check(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({:?}):\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// KEY=VALUE lines (no quotes), as `scripts/garage` writes them.
pub fn read_env_file(path: &Path) -> BTreeMap<String, String> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn key_from_env_file(path: &Path) -> (String, String) {
    let vars = read_env_file(path);
    (
        vars["AWS_ACCESS_KEY_ID"].clone(),
        vars["AWS_SECRET_ACCESS_KEY"].clone(),
    )
}

// ---------------------------------------------------------------------------------------------
// A tiny S3 client: AWS Signature Version 4 over one HTTP/1.1 request (`Connection: close`).
// ---------------------------------------------------------------------------------------------

pub struct Credentials<'a> {
    pub access_key: &'a str,
    pub secret_key: &'a str,
    pub region: &'a str,
}

#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    const BLOCK: usize = 64;
    let mut k = if key.len() > BLOCK {
        Sha256::digest(key).to_vec()
    } else {
        key.to_vec()
    };
    k.resize(BLOCK, 0);
    let inner: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    let outer: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    let mut h = Sha256::new();
    h.update(&inner);
    h.update(data);
    let inner_hash = h.finalize();
    let mut h = Sha256::new();
    h.update(&outer);
    h.update(inner_hash);
    h.finalize().to_vec()
}

/// RFC 3986 percent-encoding as SigV4 wants it (`/` kept in paths, encoded in query parts).
fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (uri_encode(k, false), uri_encode(v, false))
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// One signed request to `endpoint` (`http://host:port`). `path_query` is the path (unencoded
/// characters are encoded) and an optional query of plain `k=v` pairs.
pub fn signed_request(
    endpoint: &str,
    creds: &Credentials,
    method: &str,
    path_query: &str,
    body: &[u8],
) -> io::Result<HttpResponse> {
    let host = endpoint
        .strip_prefix("http://")
        .expect("an http:// endpoint")
        .trim_end_matches('/');
    let (path, query) = path_query.split_once('?').unwrap_or((path_query, ""));
    let path = uri_encode(path, true);
    let query = canonical_query(query);
    let now = chrono::Utc::now();
    let amz_date = now.format("%Y%m%dT%H%M%SZ").to_string();
    let date = now.format("%Y%m%d").to_string();
    let payload_hash = sha256_hex(body);
    let signed_headers = "host;x-amz-content-sha256;x-amz-date";
    let canonical_request = format!(
        "{method}\n{path}\n{query}\nhost:{host}\nx-amz-content-sha256:{payload_hash}\n\
         x-amz-date:{amz_date}\n\n{signed_headers}\n{payload_hash}"
    );
    let scope = format!("{date}/{}/s3/aws4_request", creds.region);
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    );
    let mut key = hmac_sha256(
        format!("AWS4{}", creds.secret_key).as_bytes(),
        date.as_bytes(),
    );
    for part in [creds.region, "s3", "aws4_request"] {
        key = hmac_sha256(&key, part.as_bytes());
    }
    let signature = hex::encode(hmac_sha256(&key, string_to_sign.as_bytes()));
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, \
         Signature={signature}",
        creds.access_key
    );
    let target = if query.is_empty() {
        path
    } else {
        format!("{path}?{query}")
    };
    http_request(
        host,
        method,
        &target,
        &[
            ("x-amz-content-sha256", &payload_hash),
            ("x-amz-date", &amz_date),
            ("Authorization", &authorization),
        ],
        body,
    )
}

/// One plain HTTP/1.1 request to `host` (`127.0.0.1:PORT`) with `Connection: close`; the
/// response with its body (Content-Length, chunked or up to the close).
pub fn http_request(
    host: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<HttpResponse> {
    let mut stream = TcpStream::connect(host)?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut req = format!(
        "{method} {target} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes())?;
    stream.write_all(body)?;
    let mut r = BufReader::new(stream);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other(format!("bad status line {line:?}")))?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 || line.trim_end().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let find = |name: &str| {
        headers
            .iter()
            .find(|h: &&(String, String)| h.0.eq_ignore_ascii_case(name))
            .map(|h| h.1.clone())
    };
    let mut body = Vec::new();
    if method == "HEAD" || status == 204 || status == 304 {
    } else if find("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        loop {
            line.clear();
            r.read_line(&mut line)?;
            let size_hex = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_hex, 16)
                .map_err(|_| io::Error::other(format!("bad chunk size {line:?}")))?;
            if size == 0 {
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            r.read_exact(&mut body[start..])?;
            line.clear();
            r.read_line(&mut line)?;
        }
    } else if let Some(len) = find("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| io::Error::other("bad content-length"))?;
        body.resize(len, 0);
        r.read_exact(&mut body)?;
    } else {
        r.read_to_end(&mut body)?;
    }
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}
