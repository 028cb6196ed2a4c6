//! The real `sluice up` binary, started and read like a user would: its start-up lines
//! give the gateway, in-mesh and metrics addresses and the ready-to-paste `curl`s.

#![allow(dead_code)] // each test binary uses its own part

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// The mock classifier's answer to [`BODY`].
pub(crate) const ANSWER: &str = "0.43782349911420193";
/// The prediction request of Seldon's Istio examples.
pub(crate) const BODY: &str = r#"{"data":{"ndarray":[[1.0,2.0,5.0]]}}"#;

pub(crate) fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub(crate) fn example(name: &str) -> PathBuf {
    workspace().join("examples").join(name)
}

/// A file `sdep.yaml` with `text` in a directory of its own.
pub(crate) fn scratch(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sluice-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("sdep.yaml");
    std::fs::write(&file, text).expect("write");
    file
}

/// A running `sluice up`; SIGTERM on drop.
pub(crate) struct Up {
    child: Child,
    /// Gateway port 80.
    pub(crate) gateway: SocketAddr,
    /// In-mesh listener ports, by service port.
    pub(crate) mesh: BTreeMap<u16, SocketAddr>,
    /// Every gateway port: `scheme://address`.
    pub(crate) ports: BTreeMap<u16, String>,
    /// The admin listener.
    pub(crate) admin: SocketAddr,
    /// The start-up table and `curl` lines.
    pub(crate) lines: Vec<String>,
    stderr: Arc<Mutex<String>>,
    stdout: mpsc::Receiver<String>,
}

impl Up {
    /// `sluice up FILES --port-map 80=0 --admin 127.0.0.1:0 ARGS`, once its table is out.
    pub(crate) fn start(files: &[&Path], args: &[&str]) -> Up {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .arg("up")
            .args(files)
            .args(if args.contains(&"--port-map") {
                &["--admin", "127.0.0.1:0"][..]
            } else {
                &["--port-map", "80=0", "--admin", "127.0.0.1:0"][..]
            })
            .args(args)
            .current_dir(workspace())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("sluice up starts");
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err = child.stderr.take().expect("stderr");
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .expect("lock")
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let (tx, rx) = mpsc::channel();
        let out = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    // Nobody listens any more: keep draining so sluice never blocks.
                    continue;
                }
            }
        });
        let mut up = Up {
            child,
            gateway: "0.0.0.0:0".parse().expect("addr"),
            mesh: BTreeMap::new(),
            ports: BTreeMap::new(),
            admin: "0.0.0.0:0".parse().expect("addr"),
            lines: Vec::new(),
            stderr,
            stdout: rx,
        };
        loop {
            let line = match up.stdout.recv_timeout(Duration::from_secs(60)) {
                Ok(line) => line,
                Err(e) => panic!("sluice up did not finish starting ({e}): {}", up.stderr()),
            };
            if line.starts_with("Watching the files") {
                break;
            }
            if let Some(rest) = line.strip_prefix("gateway port ") {
                let (port, url) = rest.split_once(": ").expect("gateway port line");
                if let Some(addr) = url.strip_prefix("http://")
                    && port == "80"
                {
                    up.gateway = addr.parse().expect("gateway address");
                }
                up.ports.insert(port.parse().expect("port"), url.to_string());
            } else if let Some(rest) = line.strip_prefix("in-mesh service port ") {
                let (port, rest) = rest.split_once(": http://").expect("mesh line");
                let addr = rest.split(' ').next().expect("address");
                up.mesh
                    .insert(port.parse().expect("port"), addr.parse().expect("mesh address"));
            } else if let Some(rest) = line.strip_prefix("metrics: http://") {
                let addr = rest.split('/').next().expect("address");
                up.admin = addr.parse().expect("admin address");
            } else {
                up.lines.push(line);
            }
        }
        up
    }

    /// The next line sluice writes on stdout after its start-up table (access log lines).
    pub(crate) fn next_line(&self, timeout: Duration) -> Option<String> {
        self.stdout.recv_timeout(timeout).ok()
    }

    /// What sluice wrote on stderr so far.
    pub(crate) fn stderr(&self) -> String {
        self.stderr.lock().expect("lock").clone()
    }

    /// What sluice wrote on stderr once it holds every one of `needles`, or after 10 s.
    /// Sluice writes a line before the stdout line that ends `start`, yet a thread reads
    /// stderr: on a busy machine it may not have read that line yet.
    pub(crate) fn stderr_with(&self, needles: &[&str]) -> String {
        let started = std::time::Instant::now();
        loop {
            let stderr = self.stderr();
            if needles.iter().all(|n| stderr.contains(n)) || started.elapsed() > Duration::from_secs(10) {
                return stderr;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Its process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: sluice gets no chance to clean up.
    pub(crate) fn kill(mut self) -> ExitStatus {
        let _ = self.child.kill();
        self.child.wait().expect("sluice up exits")
    }

    /// SIGTERM, then its exit status.
    pub(crate) fn stop(mut self) -> ExitStatus {
        self.terminate()
    }

    fn terminate(&mut self) -> ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().expect("sluice up exits")
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.terminate();
        }
    }
}

pub(crate) type HttpClient = Client<HttpConnector, Full<Bytes>>;

pub(crate) fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// `method` `http://addr/path` with `body` as JSON and an optional Host; status and body.
pub(crate) async fn send(
    client: &HttpClient,
    method: &str,
    addr: SocketAddr,
    path: &str,
    host: Option<&str>,
    body: &str,
) -> (u16, String) {
    let (status, _, body) = exchange(client, method, addr, path, host, body).await;
    (status, body)
}

/// Like [`send`], with the response headers.
pub(crate) async fn exchange(
    client: &HttpClient,
    method: &str,
    addr: SocketAddr,
    path: &str,
    host: Option<&str>,
    body: &str,
) -> (u16, http::HeaderMap, String) {
    let mut b = http::Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .header("content-type", "application/json");
    if let Some(h) = host {
        b = b.header("host", h);
    }
    let r = client
        .request(b.body(Full::new(Bytes::from(body.to_string()))).expect("request"))
        .await
        .expect("response");
    let (parts, body) = r.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    (
        parts.status.as_u16(),
        parts.headers,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

/// POST [`BODY`] to `path`.
pub(crate) async fn predict(
    client: &HttpClient,
    addr: SocketAddr,
    path: &str,
    host: Option<&str>,
) -> (u16, String) {
    send(client, "POST", addr, path, host, BODY).await
}

/// Wait until `check` holds, at most `limit`; panics naming `what` after that.
pub(crate) async fn eventually<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = std::time::Instant::now();
    while !check().await {
        assert!(
            started.elapsed() < limit,
            "{what} did not happen within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The admin scrape.
pub(crate) async fn scrape(admin: SocketAddr) -> String {
    send(&client(), "GET", admin, "/stats/prometheus", None, "")
        .await
        .1
}

/// Requests each predictor's engines answered, from the admin scrape.
pub(crate) async fn served_by(admin: SocketAddr) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for line in scrape(admin)
        .await
        .lines()
        .filter(|l| l.starts_with("seldon_api_executor_server_requests_seconds_count{"))
    {
        let predictor = line
            .split("predictor_name=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or("")
            .to_string();
        let n: u64 = line.rsplit(' ').next().and_then(|v| v.parse().ok()).unwrap_or(0);
        *out.entry(predictor).or_insert(0) += n;
    }
    out
}
