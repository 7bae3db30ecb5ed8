//! A fault-injecting HTTP/1.1 reverse proxy for the S3 tests: it listens on 127.0.0.1:0 and
//! forwards each request to one upstream (a Garage S3 endpoint), byte for byte (the Host header
//! and every other header unchanged, so SigV4 signatures stay valid), over a fresh upstream
//! connection per request. Client connections are kept alive; request and response bodies are
//! relayed by their framing (Content-Length, chunked with trailers, or up to the close), and
//! `Expect: 100-continue` is passed through.
//!
//! Controls, thread-safe and changeable while requests run:
//! - `fail_next(n, status)`: the next n requests get `status` and an S3-style XML error, not
//!   forwarded; `fail_every(k)` (503) / `fail_every_with(k, status)`: every k-th request;
//!   `fail_when(rule)`: a status for the requests a rule picks (e.g. 403 for deletes, which
//!   Garage itself cannot deny to a writer); `clear_faults()`.
//! - `delay(d)`: wait `d` before forwarding each request.
//! - `cut()`: a server stopped mid-run: new connections are refused and the ones open are shut
//!   (requests under way fail); `restore()` listens again on the same port.
//! - counters: `requests()` seen, `faults()` injected, `forwarded()` answered by the upstream.
//!
//! Std threads only (one per client connection). Include with
//! `#[path = "common/faultproxy.rs"] mod faultproxy;`.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

/// Picks the status to answer a request with (method, target such as `/bucket/key?x=y`), or
/// `None` to let it through.
pub type Rule = dyn Fn(&str, &str) -> Option<u16> + Send + Sync;

pub struct FaultProxy {
    shared: Arc<Shared>,
    acceptor: Option<thread::JoinHandle<()>>,
}

struct Shared {
    addr: SocketAddr,
    upstream: String,
    ctl: Mutex<Ctl>,
    changed: Condvar,
    requests: AtomicU64,
    faults: AtomicU64,
    forwarded: AtomicU64,
    next_id: AtomicU64,
    /// Open client and upstream streams, to shut on `cut`.
    open: Mutex<HashMap<u64, TcpStream>>,
}

#[derive(Default)]
struct Ctl {
    fail_next: u64,
    fail_next_status: u16,
    fail_every: u64,
    fail_every_status: u16,
    rule: Option<Arc<Rule>>,
    delay: Duration,
    cut: bool,
    listening: bool,
    stop: bool,
    bind_error: Option<String>,
}

impl FaultProxy {
    /// A proxy for `upstream` (`http://127.0.0.1:PORT` or `127.0.0.1:PORT`).
    pub fn start(upstream: &str) -> FaultProxy {
        let up = upstream.strip_prefix("http://").unwrap_or(upstream);
        assert!(!up.contains("://"), "only http upstreams: {upstream}");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let shared = Arc::new(Shared {
            addr: listener.local_addr().expect("local addr"),
            upstream: up.trim_end_matches('/').to_string(),
            ctl: Mutex::new(Ctl {
                listening: true,
                ..Ctl::default()
            }),
            changed: Condvar::new(),
            requests: AtomicU64::new(0),
            faults: AtomicU64::new(0),
            forwarded: AtomicU64::new(0),
            next_id: AtomicU64::new(0),
            open: Mutex::new(HashMap::new()),
        });
        let s = shared.clone();
        let acceptor = thread::Builder::new()
            .name("faultproxy-accept".into())
            .spawn(move || accept_loop(&s, listener))
            .expect("spawn");
        FaultProxy {
            shared,
            acceptor: Some(acceptor),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// `http://127.0.0.1:PORT`, to use where the upstream's endpoint would go.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.shared.addr)
    }

    /// Answer the next `n` requests with `status` (e.g. 500, 503) without forwarding them.
    pub fn fail_next(&self, n: u64, status: u16) {
        let mut c = self.shared.ctl();
        c.fail_next = n;
        c.fail_next_status = status;
    }

    /// Answer every k-th request (counting all requests seen) with 503; 0 turns it off.
    pub fn fail_every(&self, k: u64) {
        self.fail_every_with(k, 503);
    }

    pub fn fail_every_with(&self, k: u64, status: u16) {
        let mut c = self.shared.ctl();
        c.fail_every = k;
        c.fail_every_status = status;
    }

    /// Answer the requests that `rule` picks with the status it returns, e.g.
    /// `p.fail_when(|m, t| (m == "DELETE" || t.contains("?delete")).then_some(403))`.
    pub fn fail_when(&self, rule: impl Fn(&str, &str) -> Option<u16> + Send + Sync + 'static) {
        self.shared.ctl().rule = Some(Arc::new(rule));
    }

    /// No more injected errors (`fail_next`, `fail_every`, `fail_when`) nor delay.
    pub fn clear_faults(&self) {
        let mut c = self.shared.ctl();
        c.fail_next = 0;
        c.fail_every = 0;
        c.rule = None;
        c.delay = Duration::ZERO;
    }

    /// Wait `d` before forwarding each request (zero: no delay).
    pub fn delay(&self, d: Duration) {
        self.shared.ctl().delay = d;
    }

    /// Stop serving, as a server that was stopped: once this returns, connections are refused,
    /// and every connection that was open (and its request under way) has been shut.
    pub fn cut(&self) {
        {
            let mut c = self.shared.ctl();
            if c.cut {
                return;
            }
            c.cut = true;
        }
        // Wake the acceptor, which then closes the listening socket.
        let _ = TcpStream::connect_timeout(&self.shared.addr, Duration::from_secs(1));
        let c = self.shared.ctl();
        let (_c, timeout) = self
            .shared
            .changed
            .wait_timeout_while(c, Duration::from_secs(10), |c| c.listening)
            .expect("lock");
        assert!(
            !timeout.timed_out(),
            "faultproxy: the listener did not close"
        );
        let open: Vec<TcpStream> = self.shared.open_streams().drain().map(|(_, s)| s).collect();
        for s in open {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// Serve again on the same address after `cut`.
    pub fn restore(&self) {
        {
            let mut c = self.shared.ctl();
            if !c.cut {
                return;
            }
            c.cut = false;
            c.bind_error = None;
        }
        self.shared.changed.notify_all();
        let c = self.shared.ctl();
        let (c, timeout) = self
            .shared
            .changed
            .wait_timeout_while(c, Duration::from_secs(10), |c| {
                !c.listening && c.bind_error.is_none()
            })
            .expect("lock");
        assert!(
            !timeout.timed_out(),
            "faultproxy: no listener after restore"
        );
        if let Some(e) = &c.bind_error {
            panic!(
                "faultproxy: cannot listen on {} again: {e}",
                self.shared.addr
            );
        }
    }

    pub fn is_cut(&self) -> bool {
        self.shared.ctl().cut
    }

    /// Requests seen (forwarded, failed on purpose, or lost to a cut or an upstream error).
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// Requests answered with an injected error.
    pub fn faults(&self) -> u64 {
        self.shared.faults.load(Ordering::SeqCst)
    }

    /// Requests that the upstream answered (their answers relayed to the client).
    pub fn forwarded(&self) -> u64 {
        self.shared.forwarded.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.ctl().stop = true;
        self.shared.changed.notify_all();
        let _ = TcpStream::connect_timeout(&self.shared.addr, Duration::from_secs(1));
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
        for (_, s) in self.shared.open_streams().drain() {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

impl Shared {
    fn ctl(&self) -> MutexGuard<'_, Ctl> {
        self.ctl
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn open_streams(&self) -> MutexGuard<'_, HashMap<u64, TcpStream>> {
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn track(&self, s: &TcpStream) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        if let Ok(clone) = s.try_clone() {
            self.open_streams().insert(id, clone);
        }
        id
    }

    fn untrack(&self, id: u64) {
        self.open_streams().remove(&id);
    }

    fn set_listening(&self, listening: bool, error: Option<String>) {
        let mut c = self.ctl();
        c.listening = listening;
        if error.is_some() {
            c.cut = true;
            c.bind_error = error;
        }
        drop(c);
        self.changed.notify_all();
    }
}

fn accept_loop(shared: &Arc<Shared>, first: TcpListener) {
    let mut listener = Some(first);
    loop {
        let Some(l) = &listener else {
            let c = shared.ctl();
            let c = shared
                .changed
                .wait_while(c, |c| c.cut && !c.stop)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if c.stop {
                return;
            }
            drop(c);
            match bind_again(shared.addr) {
                Ok(l) => {
                    listener = Some(l);
                    shared.set_listening(true, None);
                }
                Err(e) => shared.set_listening(false, Some(e.to_string())),
            }
            continue;
        };
        let accepted = l.accept();
        let (stop, cut) = {
            let c = shared.ctl();
            (c.stop, c.cut)
        };
        if stop {
            return;
        }
        if cut {
            listener = None; // closed: connections are refused from now on
            shared.set_listening(false, None);
            continue;
        }
        match accepted {
            Ok((stream, _)) => {
                let s = shared.clone();
                let spawned =
                    thread::Builder::new()
                        .name("faultproxy-conn".into())
                        .spawn(move || {
                            let id = s.track(&stream);
                            let _ = serve(&s, stream);
                            s.untrack(id);
                        });
                if spawned.is_err() {
                    thread::sleep(Duration::from_millis(10));
                }
            }
            Err(_) => thread::sleep(Duration::from_millis(10)), // e.g. out of descriptors
        }
    }
}

/// The port was ours a moment ago; another socket may hold it for a while (TIME_WAIT is
/// allowed by std's SO_REUSEADDR, a program that took the port is not).
fn bind_again(addr: SocketAddr) -> io::Result<TcpListener> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match TcpListener::bind(addr) {
            Ok(l) => return Ok(l),
            Err(e) if Instant::now() > deadline => return Err(e),
            Err(_) => thread::sleep(Duration::from_millis(20)),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP/1.1 framing
// ---------------------------------------------------------------------------------------------

/// How a message's body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    None,
    Length(u64),
    Chunked,
    /// Up to the connection's close (a response without length).
    ToEof,
}

/// A parsed request or response head; `raw` is exactly the bytes read, to forward unchanged.
#[derive(Debug)]
pub struct Head {
    pub raw: Vec<u8>,
    /// Request: method, target, version. Response: version, status, reason.
    pub start: [String; 3],
    pub headers: Vec<(String, String)>,
}

const MAX_HEAD: usize = 64 * 1024;

impl Head {
    /// Read one head (start line and headers up to the empty line). `None` at a clean end of
    /// stream before any byte of it.
    pub fn read(r: &mut impl BufRead) -> io::Result<Option<Head>> {
        let mut raw = Vec::new();
        let mut lines: Vec<String> = Vec::new();
        loop {
            let start = raw.len();
            let n = r
                .by_ref()
                .take(MAX_HEAD as u64)
                .read_until(b'\n', &mut raw)?;
            if n == 0 {
                if raw.is_empty() {
                    return Ok(None);
                }
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            if raw.len() > MAX_HEAD {
                return Err(io::Error::other("HTTP head too large"));
            }
            let line = String::from_utf8_lossy(&raw[start..])
                .trim_end_matches(['\r', '\n'])
                .to_string();
            if line.is_empty() {
                if lines.is_empty() {
                    raw.clear(); // an empty line before a request is allowed: skip it
                    continue;
                }
                break;
            }
            lines.push(line);
        }
        let mut parts = lines[0].splitn(3, ' ').map(str::to_string);
        let start = [
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
        ];
        let headers = lines[1..]
            .iter()
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        Ok(Some(Head {
            raw,
            start,
            headers,
        }))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(k, _)| k == name)
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    fn content_length(&self) -> io::Result<Option<u64>> {
        self.header("content-length")
            .map(|v| {
                v.parse()
                    .map_err(|_| io::Error::other(format!("bad content-length {v:?}")))
            })
            .transpose()
    }

    fn chunked(&self) -> bool {
        self.has_token("transfer-encoding", "chunked")
    }

    /// A request's body.
    pub fn request_body(&self) -> io::Result<Body> {
        Ok(if self.chunked() {
            Body::Chunked
        } else {
            self.content_length()?.map_or(Body::None, Body::Length)
        })
    }

    pub fn status(&self) -> u16 {
        self.start[1].parse().unwrap_or(0)
    }

    /// A response's body, given the request's method.
    pub fn response_body(&self, method: &str) -> io::Result<Body> {
        let status = self.status();
        Ok(
            if method == "HEAD" || (100..200).contains(&status) || status == 204 || status == 304 {
                Body::None
            } else if self.chunked() {
                Body::Chunked
            } else {
                self.content_length()?.map_or(Body::ToEof, Body::Length)
            },
        )
    }

    /// Whether the connection closes after this message (HTTP/1.0 without keep-alive, or
    /// `Connection: close`).
    pub fn closes(&self, version: &str) -> bool {
        self.has_token("connection", "close")
            || (version == "HTTP/1.0" && !self.has_token("connection", "keep-alive"))
    }
}

/// Copy one body from `r` to `w` unchanged (chunk sizes, extensions and trailers included).
pub fn copy_body(r: &mut impl BufRead, w: &mut impl Write, body: Body) -> io::Result<()> {
    match body {
        Body::None => {}
        Body::Length(n) => copy_exact(r, w, n)?,
        Body::ToEof => {
            io::copy(r, w)?;
        }
        Body::Chunked => loop {
            let mut line = Vec::new();
            if r.by_ref().take(4096).read_until(b'\n', &mut line)? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            w.write_all(&line)?;
            let text = String::from_utf8_lossy(&line);
            let size = text.split(';').next().unwrap_or("").trim();
            let size = u64::from_str_radix(size, 16)
                .map_err(|_| io::Error::other(format!("bad chunk size line {text:?}")))?;
            if size == 0 {
                // Trailer fields, then the empty line.
                loop {
                    line.clear();
                    if r.by_ref()
                        .take(MAX_HEAD as u64)
                        .read_until(b'\n', &mut line)?
                        == 0
                    {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                    w.write_all(&line)?;
                    if line == b"\r\n" || line == b"\n" {
                        break;
                    }
                }
                break;
            }
            copy_exact(r, w, size)?;
            line.clear();
            r.read_until(b'\n', &mut line)?; // the CRLF after the data
            w.write_all(&line)?;
        },
    }
    w.flush()
}

fn copy_exact(r: &mut impl BufRead, w: &mut impl Write, n: u64) -> io::Result<()> {
    let copied = io::copy(&mut r.by_ref().take(n), w)?;
    if copied < n {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(())
}

fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Injected Fault",
    }
}

fn s3_code(status: u16) -> &'static str {
    match status {
        403 => "AccessDenied",
        404 => "NoSuchKey",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        _ => "InjectedFault",
    }
}

/// An S3-style error answer.
fn write_fault(w: &mut impl Write, status: u16, req: &Head, n: u64, close: bool) -> io::Result<()> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code>\
         <Message>injected by faultproxy</Message><Resource>{}</Resource>\
         <RequestId>faultproxy-{n}</RequestId></Error>\n",
        s3_code(status),
        xml_escape(&req.start[1]),
    );
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\
         x-amz-request-id: faultproxy-{n}\r\n",
        reason(status),
        body.len()
    );
    if close {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    w.write_all(head.as_bytes())?;
    if req.start[0] != "HEAD" {
        w.write_all(body.as_bytes())?;
    }
    w.flush()
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// What to do with request number `n`.
enum Plan {
    Fail(u16),
    Forward(Duration),
    Drop,
}

fn plan(shared: &Shared, n: u64, req: &Head) -> Plan {
    let mut c = shared.ctl();
    if c.cut {
        return Plan::Drop;
    }
    if c.fail_next > 0 {
        c.fail_next -= 1;
        return Plan::Fail(c.fail_next_status);
    }
    if c.fail_every > 0 && n.is_multiple_of(c.fail_every) {
        return Plan::Fail(c.fail_every_status);
    }
    if let Some(status) = c
        .rule
        .as_ref()
        .and_then(|rule| rule(&req.start[0], &req.start[1]))
    {
        return Plan::Fail(status);
    }
    Plan::Forward(c.delay)
}

/// Serve one client connection: request after request until either side closes.
fn serve(shared: &Shared, client: TcpStream) -> io::Result<()> {
    client.set_nodelay(true)?;
    let mut from_client = BufReader::new(client.try_clone()?);
    let mut to_client = client;
    loop {
        let Some(req) = Head::read(&mut from_client)? else {
            return Ok(());
        };
        let n = shared.requests.fetch_add(1, Ordering::SeqCst) + 1;
        let body = req.request_body()?;
        let expect_continue = req.has_token("expect", "100-continue");
        let client_closes = req.closes(&req.start[2]);
        let delay = match plan(shared, n, &req) {
            Plan::Drop => return Ok(()),
            Plan::Fail(status) => {
                shared.faults.fetch_add(1, Ordering::SeqCst);
                if expect_continue {
                    // The client waits for a go-ahead before its body: answer and close.
                    return write_fault(&mut to_client, status, &req, n, true);
                }
                copy_body(&mut from_client, &mut io::sink(), body)?;
                write_fault(&mut to_client, status, &req, n, client_closes)?;
                if client_closes {
                    return Ok(());
                }
                continue;
            }
            Plan::Forward(delay) => delay,
        };
        if !delay.is_zero() {
            thread::sleep(delay);
            if shared.ctl().cut {
                return Ok(());
            }
        }
        let upstream = TcpStream::connect(&shared.upstream)?;
        let up_id = shared.track(&upstream);
        let result = exchange(
            shared,
            &mut from_client,
            &mut to_client,
            upstream,
            &req,
            body,
            expect_continue,
        );
        shared.untrack(up_id);
        let keep_alive = result?;
        if client_closes || !keep_alive {
            return Ok(());
        }
    }
}

/// One request upstream and its response back; whether the client connection may go on.
fn exchange(
    shared: &Shared,
    from_client: &mut BufReader<TcpStream>,
    to_client: &mut TcpStream,
    upstream: TcpStream,
    req: &Head,
    body: Body,
    expect_continue: bool,
) -> io::Result<bool> {
    upstream.set_nodelay(true)?;
    let mut to_up = upstream.try_clone()?;
    let mut from_up = BufReader::new(upstream);
    to_up.write_all(&req.raw)?;
    let mut resp = if expect_continue {
        to_up.flush()?;
        let first = read_response(&mut from_up)?;
        if first.status() != 100 {
            // A final answer before the body: relay it, then close (the body may follow).
            shared.forwarded.fetch_add(1, Ordering::SeqCst);
            to_client.write_all(&first.raw)?;
            copy_body(&mut from_up, to_client, first.response_body(&req.start[0])?)?;
            return Ok(false);
        }
        to_client.write_all(&first.raw)?;
        to_client.flush()?;
        copy_body(from_client, &mut to_up, body)?;
        read_response(&mut from_up)?
    } else {
        copy_body(from_client, &mut to_up, body)?;
        read_response(&mut from_up)?
    };
    // Interim responses (102, 103, a late 100) go to the client as they come.
    while (100..200).contains(&resp.status()) && resp.status() != 101 {
        to_client.write_all(&resp.raw)?;
        resp = read_response(&mut from_up)?;
    }
    // Counted before the client can see the answer (tests read the counter right after).
    shared.forwarded.fetch_add(1, Ordering::SeqCst);
    to_client.write_all(&resp.raw)?;
    let resp_body = resp.response_body(&req.start[0])?;
    copy_body(&mut from_up, to_client, resp_body)?;
    Ok(resp_body != Body::ToEof && !resp.closes(&resp.start[0]) && resp.status() != 101)
}

fn read_response(r: &mut impl BufRead) -> io::Result<Head> {
    Head::read(r)?.ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny upstream: records each request's raw bytes; answers by path:
    /// `/chunked` (chunked body with a trailer), `/eof` (body up to the close), `/slow`
    /// (answers after 3 s), anything else a Content-Length body naming method, path and body
    /// length. Honours `Expect: 100-continue`.
    struct Upstream {
        addr: SocketAddr,
        seen: Arc<Mutex<Vec<Vec<u8>>>>,
    }

    impl Upstream {
        fn start() -> Upstream {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = l.local_addr().unwrap();
            let seen = Arc::new(Mutex::new(Vec::new()));
            let s = seen.clone();
            thread::spawn(move || {
                for c in l.incoming() {
                    let Ok(c) = c else { return };
                    let s = s.clone();
                    thread::spawn(move || {
                        let _ = Upstream::serve(c, &s);
                    });
                }
            });
            Upstream { addr, seen }
        }

        fn serve(c: TcpStream, seen: &Mutex<Vec<Vec<u8>>>) -> io::Result<()> {
            let mut r = BufReader::new(c.try_clone()?);
            let mut w = c;
            while let Some(req) = Head::read(&mut r)? {
                if req.has_token("expect", "100-continue") {
                    w.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
                }
                let mut raw = req.raw.clone();
                let mut body = Vec::new();
                copy_body(&mut r, &mut body, req.request_body()?)?;
                raw.extend_from_slice(&body);
                seen.lock().unwrap().push(raw);
                let (method, path) = (&req.start[0], &req.start[1]);
                match path.as_str() {
                    "/chunked" => w.write_all(
                        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                          5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: yes\r\n\r\n",
                    )?,
                    "/eof" => {
                        w.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end")?;
                        return Ok(());
                    }
                    _ => {
                        if path == "/slow" {
                            thread::sleep(Duration::from_secs(3));
                        }
                        let text = format!("{method} {path} {}", body.len());
                        w.write_all(
                            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", text.len())
                                .as_bytes(),
                        )?;
                        if method != "HEAD" {
                            w.write_all(text.as_bytes())?;
                        }
                    }
                }
            }
            Ok(())
        }

        fn seen(&self) -> Vec<Vec<u8>> {
            self.seen.lock().unwrap().clone()
        }
    }

    struct Client {
        r: BufReader<TcpStream>,
        w: TcpStream,
    }

    impl Client {
        fn connect(p: &FaultProxy) -> Client {
            let w = TcpStream::connect(p.addr()).unwrap();
            w.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            Client {
                r: BufReader::new(w.try_clone().unwrap()),
                w,
            }
        }

        /// Send `raw`, read one response: (head, body as raw framed bytes).
        fn send(&mut self, raw: &[u8], method: &str) -> io::Result<(Head, Vec<u8>)> {
            self.w.write_all(raw)?;
            self.read(method)
        }

        fn read(&mut self, method: &str) -> io::Result<(Head, Vec<u8>)> {
            let head = read_response(&mut self.r)?;
            let mut body = Vec::new();
            copy_body(&mut self.r, &mut body, head.response_body(method)?)?;
            Ok((head, body))
        }
    }

    const PUT: &[u8] = b"PUT /bucket/key?x=1 HTTP/1.1\r\nHost: example.test:1234\r\n\
        Authorization: AWS4-HMAC-SHA256 Credential=GK/x, Signature=abc\r\n\
        X-Amz-Date: 20250101T000000Z\r\nContent-Length: 5\r\n\r\nhello";

    fn get(path: &str) -> Vec<u8> {
        format!("GET {path} HTTP/1.1\r\nHost: h\r\n\r\n").into_bytes()
    }

    #[test]
    fn forwards_requests_unchanged_over_one_kept_alive_connection() {
        let up = Upstream::start();
        let p = FaultProxy::start(&format!("http://{}", up.addr));
        let mut c = Client::connect(&p);

        let (h, body) = c.send(PUT, "PUT").unwrap();
        assert_eq!(h.status(), 200);
        assert_eq!(body, b"PUT /bucket/key?x=1 5");

        let (h, body) = c.send(&get("/chunked"), "GET").unwrap();
        assert_eq!(h.header("transfer-encoding"), Some("chunked"));
        assert_eq!(
            body, b"5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: yes\r\n\r\n",
            "chunks relayed byte for byte"
        );

        let head = b"HEAD /x HTTP/1.1\r\nHost: h\r\n\r\n";
        let (h, body) = c.send(head, "HEAD").unwrap();
        assert_eq!(h.header("content-length"), Some("9")); // "HEAD /x 0"
        assert!(body.is_empty());

        // Chunked request body, relayed as is.
        let chunked = b"POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n\
            3\r\nabc\r\n0\r\n\r\n";
        let (h, _) = c.send(chunked, "POST").unwrap();
        assert_eq!(h.status(), 200);

        let seen = up.seen();
        assert_eq!(seen.len(), 4);
        assert_eq!(
            seen[0], PUT,
            "the request reaches the upstream byte for byte"
        );
        assert_eq!(seen[1], get("/chunked"));
        assert_eq!(seen[2], head);
        assert_eq!(seen[3], chunked);
        assert_eq!((p.requests(), p.forwarded(), p.faults()), (4, 4, 0));
    }

    #[test]
    fn fail_next_answers_s3_errors_then_forwards_again() {
        let up = Upstream::start();
        let p = FaultProxy::start(&up.addr.to_string());
        p.fail_next(2, 503);
        let mut c = Client::connect(&p);
        for _ in 0..2 {
            let (h, body) = c.send(PUT, "PUT").unwrap();
            assert_eq!(h.status(), 503);
            assert_eq!(h.header("content-type"), Some("application/xml"));
            let body = String::from_utf8(body).unwrap();
            assert!(body.contains("<Code>ServiceUnavailable</Code>"), "{body}");
            assert!(
                body.contains("<Resource>/bucket/key?x=1</Resource>"),
                "{body}"
            );
        }
        // The failed requests' bodies were read: the same connection goes on.
        let (h, body) = c.send(PUT, "PUT").unwrap();
        assert_eq!(h.status(), 200);
        assert_eq!(body, b"PUT /bucket/key?x=1 5");
        assert_eq!(up.seen().len(), 1, "failed requests are not forwarded");
        assert_eq!((p.requests(), p.faults(), p.forwarded()), (3, 2, 1));

        p.fail_next(1, 500);
        let (h, body) = c.send(&get("/a"), "GET").unwrap();
        assert_eq!(h.status(), 500);
        assert!(
            String::from_utf8(body)
                .unwrap()
                .contains("<Code>InternalError</Code>")
        );
    }

    #[test]
    fn fail_every_and_fail_when() {
        let up = Upstream::start();
        let p = FaultProxy::start(&up.addr.to_string());
        p.fail_every(3);
        let mut c = Client::connect(&p);
        let statuses: Vec<u16> = (0..6)
            .map(|_| c.send(&get("/x"), "GET").unwrap().0.status())
            .collect();
        assert_eq!(statuses, [200, 200, 503, 200, 200, 503]);
        p.clear_faults();

        p.fail_when(|m, t| (m == "DELETE" || t.contains("?delete")).then_some(403));
        let del = b"DELETE /bucket/key HTTP/1.1\r\nHost: h\r\n\r\n";
        let (h, body) = c.send(del, "DELETE").unwrap();
        assert_eq!(h.status(), 403);
        assert!(
            String::from_utf8(body)
                .unwrap()
                .contains("<Code>AccessDenied</Code>")
        );
        assert_eq!(c.send(&get("/x"), "GET").unwrap().0.status(), 200);
        assert_eq!(p.faults(), 3);
    }

    #[test]
    fn delay_holds_each_request() {
        let up = Upstream::start();
        let p = FaultProxy::start(&up.addr.to_string());
        p.delay(Duration::from_millis(300));
        let mut c = Client::connect(&p);
        let t = Instant::now();
        assert_eq!(c.send(&get("/x"), "GET").unwrap().0.status(), 200);
        assert!(t.elapsed() >= Duration::from_millis(300));
        p.delay(Duration::ZERO);
        let t = Instant::now();
        assert_eq!(c.send(&get("/x"), "GET").unwrap().0.status(), 200);
        assert!(t.elapsed() < Duration::from_millis(300));
    }

    #[test]
    fn close_delimited_response_and_expect_continue() {
        let up = Upstream::start();
        let p = FaultProxy::start(&up.addr.to_string());
        let mut c = Client::connect(&p);
        let (h, body) = c.send(&get("/eof"), "GET").unwrap();
        assert_eq!(h.status(), 200);
        assert_eq!(body, b"until the end");
        // The proxy closed the client connection after it.
        let mut rest = Vec::new();
        assert_eq!(c.r.read_to_end(&mut rest).unwrap_or(0), 0);

        let mut c = Client::connect(&p);
        c.w.write_all(
            b"PUT /k HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
        )
        .unwrap();
        let (h, _) = c.read("PUT").unwrap();
        assert_eq!(h.status(), 100, "the go-ahead is relayed before the body");
        c.w.write_all(b"abc").unwrap();
        let (h, body) = c.read("PUT").unwrap();
        assert_eq!(h.status(), 200);
        assert_eq!(body, b"PUT /k 3");
    }

    #[test]
    fn cut_refuses_and_resets_then_restore_serves_again() {
        let up = Upstream::start();
        let p = FaultProxy::start(&up.addr.to_string());
        let addr = p.addr();
        let mut idle = Client::connect(&p);
        assert_eq!(idle.send(&get("/x"), "GET").unwrap().0.status(), 200);

        // A request under way when the server goes.
        let slow = thread::spawn(move || {
            let mut c = TcpStream::connect(addr).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            c.write_all(&get("/slow")).unwrap();
            let t = Instant::now();
            let mut buf = Vec::new();
            let got = c.read_to_end(&mut buf);
            (got.is_err() || buf.is_empty(), t.elapsed())
        });
        let t = Instant::now();
        while up.seen().len() < 2 && t.elapsed() < Duration::from_secs(10) {
            thread::sleep(Duration::from_millis(10));
        }
        p.cut();
        assert!(p.is_cut());
        let (failed, took) = slow.join().unwrap();
        assert!(failed, "the request under way got no response");
        assert!(
            took < Duration::from_secs(2),
            "and failed at once ({took:?})"
        );
        assert!(
            TcpStream::connect(addr).is_err(),
            "new connections are refused"
        );
        assert!(
            idle.send(&get("/x"), "GET").is_err(),
            "open connections are shut"
        );

        p.restore();
        let mut c = Client::connect(&p);
        assert_eq!(c.send(&get("/x"), "GET").unwrap().0.status(), 200);
        assert_eq!(p.addr(), addr);
    }
}
