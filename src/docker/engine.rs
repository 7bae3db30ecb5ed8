//! The one place lifeboat talks to the Docker Engine (through bollard): a blocking façade over
//! bollard's async API, so the rest of the library stays synchronous, and JSON in, JSON out, so
//! the engine's documents are kept whole (fields bollard does not know are not lost on the way
//! through its types more than once: inspects are stored as the engine sent them).

use std::io::Read;
use std::pin::Pin;

use bollard::Docker;
use bollard::errors::Error as BollardError;
use bollard::query_parameters as qp;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{DockerError, Error, Result};
use crate::snapshot::deployment::EngineInfo;

/// A connection to one engine, with the runtime that drives it.
pub struct Engine {
    docker: Docker,
    rt: tokio::runtime::Runtime,
    /// The engine runs on this machine (unix socket), so volume mountpoints are local paths.
    pub local: bool,
    /// Its unix socket, for the raw requests bollard's typed API cannot make exactly.
    socket: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("local", &self.local)
            .finish()
    }
}

fn docker_err(what: &str, e: &BollardError) -> Error {
    let reason = match e {
        BollardError::DockerResponseServerError {
            status_code,
            message,
        } => format!("{message} (HTTP {status_code})"),
        other => other.to_string(),
    };
    engine_err(what, reason)
}

fn engine_err(what: impl Into<String>, reason: impl std::fmt::Display) -> Error {
    DockerError::Engine {
        what: what.into(),
        reason: reason.to_string(),
    }
    .into()
}

fn is_not_found(e: &BollardError) -> bool {
    matches!(
        e,
        BollardError::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// Convert between bollard's typed documents and plain JSON.
fn to_json<T: serde::Serialize>(what: &str, v: &T) -> Result<Value> {
    serde_json::to_value(v).map_err(|e| engine_err(what, e))
}

fn from_json<T: DeserializeOwned>(what: &str, v: Value) -> Result<T> {
    serde_json::from_value(v).map_err(|e| engine_err(what, e))
}

/// A container as listed: ID, name (without `/`), labels.
#[derive(Debug, Clone)]
pub struct Listed {
    pub id: String,
    pub name: String,
    pub labels: std::collections::HashMap<String, String>,
}

impl Engine {
    /// Connect as the docker CLI does (`DOCKER_HOST`, else the local socket) and negotiate the
    /// API version.
    pub fn connect() -> Result<Engine> {
        Engine::connect_to(None)
    }

    /// Connect to the engine at `host` (`unix:///run/other.sock`, `tcp://h:2375`, as
    /// `DOCKER_HOST` takes it); `None`: as [`Engine::connect`] does.
    pub fn connect_to(host: Option<&str>) -> Result<Engine> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| engine_err("starting the I/O runtime", e))?;
        let given = host.map(str::to_string);
        let host = given
            .clone()
            .unwrap_or_else(|| std::env::var("DOCKER_HOST").unwrap_or_default());
        let local = host.is_empty() || host.starts_with("unix://");
        let socket = if host.is_empty() {
            Some("/var/run/docker.sock".into())
        } else {
            host.strip_prefix("unix://").map(Into::into)
        };
        let docker = match &given {
            Some(h) => Docker::connect_with_host(h).map_err(|e| {
                docker_err(
                    &format!("connecting to the engine at {h} (--docker-host)"),
                    &e,
                )
            })?,
            None => Docker::connect_with_defaults()
                .map_err(|e| docker_err("connecting to the engine (is DOCKER_HOST right?)", &e))?,
        };
        // Image loads and volume uploads answer only once the whole body is in: no short
        // request timeout (bollard's default is two minutes).
        let docker = docker.with_timeout(std::time::Duration::from_secs(24 * 3600));
        let docker = rt.block_on(async {
            let docker = docker.negotiate_version().await?;
            docker.ping().await?;
            Ok::<_, BollardError>(docker)
        });
        let docker = docker.map_err(|e| {
            docker_err(
                "cannot reach the Docker Engine (is it running, and may this user use its socket?)",
                &e,
            )
        })?;
        Ok(Engine {
            docker,
            rt,
            local,
            socket,
        })
    }

    fn run<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    pub fn info(&self) -> Result<EngineInfo> {
        let v = self
            .run(self.docker.version())
            .map_err(|e| docker_err("engine version", &e))?;
        Ok(EngineInfo {
            version: v.version.unwrap_or_default(),
            api_version: v.api_version.unwrap_or_default(),
            os: v.os.unwrap_or_default(),
            arch: v.arch.unwrap_or_default(),
        })
    }

    /// The engine's data root (`docker info`'s `DockerRootDir`, usually `/var/lib/docker`).
    pub fn data_root(&self) -> Result<Option<String>> {
        let info = self
            .run(self.docker.info())
            .map_err(|e| docker_err("engine info", &e))?;
        Ok(info.docker_root_dir.filter(|d| !d.is_empty()))
    }

    /// Every container (running or not).
    pub fn list_containers(&self) -> Result<Vec<Listed>> {
        let opts = qp::ListContainersOptionsBuilder::default()
            .all(true)
            .build();
        let list = self
            .run(self.docker.list_containers(Some(opts)))
            .map_err(|e| docker_err("listing containers", &e))?;
        Ok(list
            .into_iter()
            .map(|c| Listed {
                id: c.id.unwrap_or_default(),
                // A link target is also listed as `/linker/alias`; its own name has no `/`.
                name: c
                    .names
                    .unwrap_or_default()
                    .iter()
                    .map(|n| n.trim_start_matches('/'))
                    .find(|n| !n.contains('/'))
                    .unwrap_or_default()
                    .to_string(),
                labels: c.labels.unwrap_or_default(),
            })
            .collect())
    }

    /// `GET` an inspect document as the engine wrote it (local socket only): bollard's typed
    /// documents follow a newer API and drop fields older engines still report.
    fn raw_inspect(&self, what: &str, path: &str) -> Option<Result<Option<Value>>> {
        let sock = self.local_socket()?;
        let v = self.docker.client_version();
        let path = format!("/v{}.{}{path}", v.major_version, v.minor_version);
        Some(match request_json(&sock, "GET", &path, None) {
            Ok((200, v)) => Ok(Some(v)),
            Ok((404, _)) => Ok(None),
            Ok((status, v)) => Err(engine_err(
                what,
                format!(
                    "{} (HTTP {status})",
                    v.get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("no message")
                ),
            )),
            Err(e) => Err(engine_err(what, e)),
        })
    }

    /// `GET /containers/{name}/json`, or `None` when there is no such container.
    pub fn inspect_container(&self, name: &str) -> Result<Option<Value>> {
        if let Some(r) = self.raw_inspect(
            &format!("inspecting container {name}"),
            &format!("/containers/{}/json", url_escape(name)),
        ) {
            return r;
        }
        match self.run(self.docker.inspect_container(name, None)) {
            Ok(v) => Ok(Some(to_json("container inspect", &v)?)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(docker_err(&format!("inspecting container {name}"), &e)),
        }
    }

    pub fn inspect_image(&self, id: &str) -> Result<Option<Value>> {
        if let Some(r) = self.raw_inspect(
            &format!("inspecting image {id}"),
            &format!("/images/{}/json", url_escape_path(id)),
        ) {
            return r;
        }
        match self.run(self.docker.inspect_image(id)) {
            Ok(v) => Ok(Some(to_json("image inspect", &v)?)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(docker_err(&format!("inspecting image {id}"), &e)),
        }
    }

    pub fn inspect_network(&self, name: &str) -> Result<Option<Value>> {
        if let Some(r) = self.raw_inspect(
            &format!("inspecting network {name}"),
            &format!("/networks/{}", url_escape(name)),
        ) {
            return r;
        }
        match self.run(self.docker.inspect_network(name, None)) {
            Ok(v) => Ok(Some(to_json("network inspect", &v)?)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(docker_err(&format!("inspecting network {name}"), &e)),
        }
    }

    pub fn inspect_volume(&self, name: &str) -> Result<Option<Value>> {
        if let Some(r) = self.raw_inspect(
            &format!("inspecting volume {name}"),
            &format!("/volumes/{}", url_escape(name)),
        ) {
            return r;
        }
        match self.run(self.docker.inspect_volume(name)) {
            Ok(v) => Ok(Some(to_json("volume inspect", &v)?)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(docker_err(&format!("inspecting volume {name}"), &e)),
        }
    }

    /// `POST /containers/create` with a JSON body; returns the new ID.
    ///
    /// On a local socket the body goes to the engine as it is: bollard's typed body follows a
    /// newer API and has no place for fields that older engines still read from it (the
    /// container-level `MacAddress` before API 1.44), so it would silently drop them.
    pub fn create_container(&self, name: &str, body: Value) -> Result<String> {
        if let Some(sock) = self.local_socket() {
            let v = self.docker.client_version();
            let path = format!(
                "/v{}.{}/containers/create?name={}",
                v.major_version,
                v.minor_version,
                url_escape(name)
            );
            let reply = post_json(&sock, &path, &body)
                .map_err(|e| engine_err(format!("creating container {name}"), e))?;
            return Ok(crate::snapshot::deployment::jstr(&reply, "Id").to_owned());
        }
        let body: bollard::models::ContainerCreateBody =
            from_json(&format!("create spec of {name}"), body)?;
        let opts = qp::CreateContainerOptionsBuilder::default()
            .name(name)
            .build();
        let r = self
            .run(self.docker.create_container(Some(opts), body))
            .map_err(|e| docker_err(&format!("creating container {name}"), &e))?;
        Ok(r.id)
    }

    /// The engine's Unix socket, when it is reached through one.
    fn local_socket(&self) -> Option<std::path::PathBuf> {
        self.socket.clone()
    }

    pub fn start(&self, name: &str) -> Result<()> {
        self.run(
            self.docker
                .start_container(name, None::<qp::StartContainerOptions>),
        )
        .map_err(|e| docker_err(&format!("starting container {name}"), &e))
    }

    /// Stop with the container's own stop timeout (or the engine's default).
    pub fn stop(&self, name: &str) -> Result<()> {
        match self.run(
            self.docker
                .stop_container(name, None::<qp::StopContainerOptions>),
        ) {
            Ok(()) => Ok(()),
            // 304: already stopped.
            Err(BollardError::DockerResponseServerError {
                status_code: 304, ..
            }) => Ok(()),
            Err(e) => Err(docker_err(&format!("stopping container {name}"), &e)),
        }
    }

    pub fn rename(&self, name: &str, to: &str) -> Result<()> {
        let opts = qp::RenameContainerOptionsBuilder::default()
            .name(to)
            .build();
        self.run(self.docker.rename_container(name, opts))
            .map_err(|e| docker_err(&format!("renaming container {name} to {to}"), &e))
    }

    /// Remove a container (forced); its volumes stay.
    pub fn remove_container(&self, name: &str) -> Result<()> {
        let opts = qp::RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(false)
            .build();
        match self.run(self.docker.remove_container(name, Some(opts))) {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(docker_err(&format!("removing container {name}"), &e)),
        }
    }

    /// Remove a volume (forced: also when a stopped container still names it); a missing one
    /// is no error.
    pub fn remove_volume(&self, name: &str) -> Result<()> {
        let opts = qp::RemoveVolumeOptionsBuilder::default()
            .force(true)
            .build();
        match self.run(self.docker.remove_volume(name, Some(opts))) {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(docker_err(&format!("removing volume {name}"), &e)),
        }
    }

    /// The engine's own ID (`docker info`), which tells one engine from another.
    pub fn engine_id(&self) -> Result<String> {
        let i = self
            .run(self.docker.info())
            .map_err(|e| docker_err("engine info", &e))?;
        Ok(i.id.unwrap_or_default())
    }

    /// Remove a container and the anonymous volumes the engine made for it (those an image
    /// `VOLUME` or a bare `-v /path` created), except the mounts at `keep` destinations.
    /// Best effort: used for cleanup, where the first error must not hide the original one.
    pub fn remove_with_anonymous_volumes(&self, name: &str, keep: &[&str]) {
        let anonymous: Vec<String> = self
            .inspect_container(name)
            .ok()
            .flatten()
            .and_then(|i| i.get("Mounts").and_then(Value::as_array).cloned())
            .unwrap_or_default()
            .iter()
            .filter(|m| m.get("Type").and_then(Value::as_str) == Some("volume"))
            .filter(|m| {
                let dest = m.get("Destination").and_then(Value::as_str).unwrap_or("");
                !keep.contains(&dest)
            })
            .filter_map(|m| m.get("Name").and_then(Value::as_str).map(str::to_string))
            .filter(|n| super::spec::is_generated_volume_name(n))
            .collect();
        let _ = self.remove_container(name);
        for v in anonymous {
            let _ = self.run(
                self.docker
                    .remove_volume(&v, None::<qp::RemoveVolumeOptions>),
            );
        }
    }

    /// `POST /images/create?fromImage=...`: pull `reference` from its registry (no
    /// credentials: public images, or a registry that needs none). A reference without a tag
    /// or digest means `:latest`, as with `docker pull`, never every tag.
    pub fn pull(&self, reference: &str) -> Result<()> {
        let opts = if reference.contains('@') {
            // By digest: the engine ignores `tag`.
            qp::CreateImageOptionsBuilder::default().from_image(reference)
        } else {
            let (image, tag) = split_reference(reference);
            qp::CreateImageOptionsBuilder::default()
                .from_image(image)
                .tag(tag.unwrap_or("latest"))
        };
        let what = format!("pulling {reference}");
        self.run(async {
            let mut s = self.docker.create_image(Some(opts.build()), None, None);
            while let Some(item) = s.next().await {
                let info = item.map_err(|e| docker_err(&what, &e))?;
                if let Some(err) = info.error_detail.and_then(|d| d.message) {
                    return Err(engine_err(what, err));
                }
            }
            Ok(())
        })
    }

    /// The last `lines` lines of a container's output (stdout and stderr, in order), as the
    /// engine's log driver kept them.
    pub fn logs_tail(&self, container: &str, lines: usize) -> Result<Vec<String>> {
        let opts = qp::LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .tail(&lines.to_string())
            .build();
        let what = format!("reading the logs of {container}");
        let text = self.run(async {
            let mut s = self.docker.logs(container, Some(opts));
            let mut text = String::new();
            while let Some(item) = s.next().await {
                text.push_str(&item.map_err(|e| docker_err(&what, &e))?.to_string());
            }
            Ok::<_, Error>(text)
        })?;
        let all: Vec<String> = text.lines().map(str::to_string).collect();
        Ok(all[all.len().saturating_sub(lines)..].to_vec())
    }

    pub fn create_network(&self, body: Value) -> Result<()> {
        let req: bollard::models::NetworkCreateRequest = from_json("network spec", body)?;
        let name = req.name.clone();
        self.run(self.docker.create_network(req))
            .map(|_| ())
            .map_err(|e| docker_err(&format!("creating network {name}"), &e))
    }

    pub fn connect_network(&self, network: &str, container: &str, endpoint: Value) -> Result<()> {
        let body = serde_json::json!({ "Container": container, "EndpointConfig": endpoint });
        let req: bollard::models::NetworkConnectRequest = from_json("network connect", body)?;
        self.run(self.docker.connect_network(network, req))
            .map_err(|e| docker_err(&format!("connecting {container} to network {network}"), &e))
    }

    pub fn create_volume(&self, body: Value) -> Result<Value> {
        let req: bollard::models::VolumeCreateRequest = from_json("volume spec", body)?;
        let name = req.name.clone().unwrap_or_default();
        let v = self
            .run(self.docker.create_volume(req))
            .map_err(|e| docker_err(&format!("creating volume {name}"), &e))?;
        to_json("volume", &v)
    }

    /// Run a command in a running container; returns its exit code and combined output.
    pub fn exec(
        &self,
        container: &str,
        cmd: Vec<String>,
        timeout: std::time::Duration,
    ) -> Result<(i64, String)> {
        use bollard::exec::{CreateExecOptions, StartExecResults};
        let what = format!("running the pre-snapshot command in {container}");
        let fut = async {
            let exec = self
                .docker
                .create_exec(
                    container,
                    CreateExecOptions {
                        cmd: Some(cmd),
                        attach_stdout: Some(true),
                        attach_stderr: Some(true),
                        ..Default::default()
                    },
                )
                .await?;
            let mut out = String::new();
            if let StartExecResults::Attached { mut output, .. } =
                self.docker.start_exec(&exec.id, None).await?
            {
                while let Some(chunk) = output.next().await {
                    out.push_str(&chunk?.to_string());
                }
            }
            let inspect = self.docker.inspect_exec(&exec.id).await?;
            Ok::<_, BollardError>((inspect.exit_code.unwrap_or(-1), out))
        };
        match self.run(async { tokio::time::timeout(timeout, fut).await }) {
            Ok(r) => r.map_err(|e| docker_err(&what, &e)),
            Err(_) => Err(DockerError::TimedOut {
                what,
                secs: timeout.as_secs(),
            }
            .into()),
        }
    }

    /// `GET /containers/{id}/archive?path=...`: a tar stream of a path in a container.
    pub fn download(&self, container: &str, path: &str) -> StreamReader<'_> {
        let opts = qp::DownloadFromContainerOptionsBuilder::default()
            .path(path)
            .build();
        let stream = self.docker.download_from_container(container, Some(opts));
        StreamReader::new(
            self,
            Box::pin(stream),
            format!("reading {path} of container {container}"),
        )
    }

    /// `GET /images/get`: the `docker save` archive of an image, saved under its tags (so a
    /// load brings them back) or, without tags, its ID.
    pub fn save_image(&self, id: &str, tags: &[String]) -> StreamReader<'_> {
        let names: Vec<&str> = if tags.is_empty() {
            vec![id]
        } else {
            tags.iter().map(String::as_str).collect()
        };
        let stream = self.docker.export_images(&names);
        StreamReader::new(self, Box::pin(stream), format!("saving image {id}"))
    }

    /// `POST /images/load` from a reader producing a `docker save` archive.
    pub fn load_image(&self, archive: impl Read + Send) -> Result<()> {
        with_body(archive, |body| {
            let opts = qp::ImportImageOptionsBuilder::default().quiet(true).build();
            self.run(async {
                let mut s = self.docker.import_image_stream(opts, body, None);
                while let Some(item) = s.next().await {
                    let info = item.map_err(|e| docker_err("loading an image", &e))?;
                    if let Some(err) = info.error_detail.and_then(|d| d.message) {
                        return Err(engine_err("loading an image", err));
                    }
                }
                Ok(())
            })
        })
    }

    /// `PUT /containers/{id}/archive?path=...` from a reader producing a tar stream.
    pub fn upload(&self, container: &str, path: &str, tar: impl Read + Send) -> Result<()> {
        with_body(tar, |body| {
            let opts = qp::UploadToContainerOptionsBuilder::default()
                .path(path)
                .build();
            self.run(self.docker.upload_to_container(
                container,
                Some(opts),
                bollard::body_try_stream(body),
            ))
            .map_err(|e| docker_err(&format!("writing into {path} of container {container}"), &e))
        })
    }
}

type Body = futures_util::stream::BoxStream<'static, std::io::Result<Bytes>>;

/// Feed a blocking reader to an async request body: a scoped thread reads while `f` sends.
fn with_body<R: Read + Send>(mut r: R, f: impl FnOnce(Body) -> Result<()>) -> Result<()> {
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
    let body: Body =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) })
            .boxed();
    std::thread::scope(|scope| {
        scope.spawn(move || {
            loop {
                let mut buf = vec![0u8; 1 << 20];
                match r.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        buf.truncate(n);
                        if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                            break;
                        }
                    }
                    Err(e) => {
                        let _ = tx.blocking_send(Err(e));
                        break;
                    }
                }
            }
        });
        f(body)
    })
}

type ByteStream = Pin<Box<dyn Stream<Item = std::result::Result<Bytes, BollardError>> + Send>>;

/// A blocking [`Read`] over a byte stream from the engine.
pub struct StreamReader<'e> {
    engine: &'e Engine,
    stream: ByteStream,
    buf: Bytes,
    what: String,
    done: bool,
}

impl<'e> StreamReader<'e> {
    fn new(engine: &'e Engine, stream: ByteStream, what: String) -> Self {
        StreamReader {
            engine,
            stream,
            buf: Bytes::new(),
            what,
            done: false,
        }
    }
}

impl Read for StreamReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.buf.is_empty() && !self.done {
            match self.engine.run(self.stream.next()) {
                Some(Ok(b)) => self.buf = b,
                Some(Err(e)) => {
                    self.done = true;
                    return Err(std::io::Error::other(
                        docker_err(&self.what, &e).to_string(),
                    ));
                }
                None => self.done = true,
            }
        }
        let n = out.len().min(self.buf.len());
        out[..n].copy_from_slice(&self.buf[..n]);
        let _ = self.buf.split_to(n);
        Ok(n)
    }
}

/// `registry:5000/org/app:tag` → (`registry:5000/org/app`, `Some("tag")`); no tag: `None`.
/// (A registry port is not a tag: only a `:` after the last `/` counts.)
pub(crate) fn split_reference(reference: &str) -> (&str, Option<&str>) {
    let last_slash = reference.rfind('/').map_or(0, |i| i + 1);
    match reference[last_slash..].rfind(':') {
        Some(i) => (
            &reference[..last_slash + i],
            Some(&reference[last_slash + i + 1..]),
        ),
        None => (reference, None),
    }
}

/// Image references keep `/` and `:` (`registry:5000/org/app:tag`, `sha256:...`).
fn url_escape_path(s: &str) -> String {
    s.split('/')
        .map(|part| {
            part.split(':')
                .map(url_escape)
                .collect::<Vec<_>>()
                .join(":")
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Percent-encode a query value (container names are `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, but the
/// name comes from a snapshot, which is not trusted to be well-formed).
fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// One JSON POST over the engine's Unix socket. HTTP/1.0, so the reply is neither chunked
/// nor kept alive: read to the end, check the status, parse the body.
fn request_json(
    sock: &std::path::Path,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> std::result::Result<(u16, Value), String> {
    use std::io::Write;
    let payload = match body {
        Some(b) => serde_json::to_vec(b).map_err(|e| e.to_string())?,
        None => Vec::new(),
    };
    let mut s = std::os::unix::net::UnixStream::connect(sock)
        .map_err(|e| format!("connecting to {}: {e}", sock.display()))?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(300)))
        .map_err(|e| e.to_string())?;
    let head = format!(
        "{method} {path} HTTP/1.0\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        payload.len()
    );
    s.write_all(head.as_bytes())
        .and_then(|()| s.write_all(&payload))
        .map_err(|e| e.to_string())?;
    let mut reply = Vec::new();
    s.take(16 << 20)
        .read_to_end(&mut reply)
        .map_err(|e| e.to_string())?;
    let split = reply
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("malformed reply from the engine")?;
    let status: u16 = std::str::from_utf8(&reply[..split])
        .ok()
        .and_then(|h| h.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or("malformed status line from the engine")?;
    let json: Value = serde_json::from_slice(&reply[split + 4..]).unwrap_or(Value::Null);
    Ok((status, json))
}

fn post_json(
    sock: &std::path::Path,
    path: &str,
    body: &Value,
) -> std::result::Result<Value, String> {
    let (status, json) = request_json(sock, "POST", path, Some(body))?;
    if (200..300).contains(&status) {
        Ok(json)
    } else {
        let msg = json
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("no message")
            .to_string();
        Err(format!("{msg} (HTTP {status})"))
    }
}

#[cfg(test)]
mod tests {
    use super::split_reference;

    #[test]
    fn references_split_at_the_tag_not_the_registry_port() {
        assert_eq!(split_reference("app:2"), ("app", Some("2")));
        assert_eq!(split_reference("app"), ("app", None));
        assert_eq!(
            split_reference("registry:5000/org/app"),
            ("registry:5000/org/app", None)
        );
        assert_eq!(
            split_reference("registry:5000/org/app:v1.2"),
            ("registry:5000/org/app", Some("v1.2"))
        );
    }
}
