//! `sluice up` when parts fail or clients misbehave, through the real binary: a `run:`
//! component killed under load is logged, reaped, taken out of the gateway and restarted;
//! another replica keeps serving; bodies and headers over the limits are refused without
//! being held in memory; SIGTERM drains with `Connection: close`; SIGKILL of sluice takes
//! its components with it.

mod support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use support::{BODY, Up, client, eventually, exchange, predict, scratch, send};

/// A component in Python's standard library: answers `/predict` with its process id, after
/// a second when the request names `sleep`.
const COMPONENT: &str = r#"
import json, os, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if b"sleep" in body:
            time.sleep(1.0)
        out = json.dumps({"data": {"names": ["pid"], "ndarray": [[os.getpid()]]}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

port = int(os.environ["PREDICTIVE_UNIT_HTTP_SERVICE_PORT"])
ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
"#;

/// A SeldonDeployment `name` of one model container with `replicas`, its component file
/// beside it; the `--component` argument that runs it.
fn deployment(name: &str, replicas: u32) -> (PathBuf, String) {
    let file = scratch(
        name,
        &format!(
            "apiVersion: machinelearning.seldon.io/v1\nkind: SeldonDeployment\nmetadata: {{name: {name}, namespace: seldon}}\nspec:\n  predictors:\n  - name: default\n    replicas: {replicas}\n    graph: {{name: model, type: MODEL}}\n    componentSpecs:\n    - spec:\n        containers:\n        - {{name: model, image: my/model:1}}\n"
        ),
    );
    let script = file.with_file_name("component.py");
    std::fs::write(&script, COMPONENT).expect("component");
    (file, format!("model=run:python3 {}", script.display()))
}

/// The process id in a prediction of [`COMPONENT`].
fn answered_by(body: &str) -> Option<u32> {
    let at = body.find("[[")? + 2;
    let digits: String = body[at..].chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn path(name: &str) -> String {
    format!("/seldon/seldon/{name}/api/v1.0/predictions")
}

fn kill9(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success(), "kill -9 {pid}");
}

/// `R`, `S`, `Z`... from /proc, or `None` once the process is gone.
fn process_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(") ")?.1.chars().next()
}

/// The states of `parent`'s children.
fn children_states(parent: u32) -> Vec<(u32, char)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let rest = stat.rsplit_once(") ")?.1;
            let mut fields = rest.split(' ');
            let state = fields.next()?.chars().next()?;
            let ppid: u32 = fields.next()?.parse().ok()?;
            (ppid == parent).then_some((pid, state))
        })
        .collect()
}

async fn readiness(admin: SocketAddr) -> (u16, String) {
    send(&client(), "GET", admin, "/healthz/ready", None, "").await
}

#[tokio::test]
async fn a_killed_component_is_logged_reaped_restarted_and_dies_with_sluice() {
    let (file, component) = deployment("crashy", 1);
    let up = Up::start(&[&file], &["--component", &component]);
    let c = client();
    let (status, body) = predict(&c, up.gateway, &path("crashy"), None).await;
    assert_eq!(status, 200, "{body}");
    let first = answered_by(&body).expect("a process id");
    assert_eq!(readiness(up.admin).await.0, 200);

    kill9(first);
    // Until it is back: 503 `no healthy upstream`, as Envoy answers for a cluster whose
    // endpoints are all unhealthy (a request racing the detection may fail otherwise).
    let mut saw_unhealthy = false;
    let mut back = None;
    let started = Instant::now();
    while back.is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never back: {}",
            up.stderr()
        );
        let (status, body) = predict(&c, up.gateway, &path("crashy"), None).await;
        match status {
            503 if body == "no healthy upstream" => {
                if !saw_unhealthy {
                    let (ready, why) = readiness(up.admin).await;
                    assert_eq!(ready, 503, "{why}");
                    assert!(
                        why.contains("seldon/crashy predictor default replica 0")
                            && why.contains("was killed by SIGKILL; restarting in"),
                        "{why}"
                    );
                }
                saw_unhealthy = true;
            }
            200 => back = answered_by(&body).filter(|pid| *pid != first),
            _ => assert!(!saw_unhealthy, "{status} {body} after the endpoint was taken out"),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(saw_unhealthy, "no 503 while the component was down");
    let second = back.expect("restarted");
    assert_eq!(readiness(up.admin).await.0, 200);
    let needles = ["crashy/default/model", "was killed by SIGKILL"];
    let log = up.stderr_with(&needles);
    assert!(needles.iter().all(|n| log.contains(n)), "{log}");
    // Reaped: sluice has no zombie child.
    let children = children_states(up.pid());
    assert!(children.iter().all(|(_, state)| *state != 'Z'), "{children:?}");
    assert!(children.iter().any(|(pid, _)| *pid == second), "{children:?}");

    // SIGKILL leaves sluice no time to stop anything: the kernel kills its components.
    let _ = up.kill();
    eventually(
        "the component dies with sluice",
        Duration::from_secs(10),
        || async { matches!(process_state(second), None | Some('Z')) },
    )
    .await;
}

// Multi-threaded: `Up::stop` blocks while sluice drains the request in flight.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_replica_serves_while_one_is_down_and_sigterm_drains_with_connection_close() {
    let (file, component) = deployment("pair", 2);
    let up = Up::start(&[&file], &["--component", &component]);
    assert!(
        up.lines.join("\n").contains("pair  default    100%     2"),
        "{:?}",
        up.lines
    );
    let c = client();
    let mut pids = std::collections::BTreeSet::new();
    for _ in 0..40 {
        let (status, body) = predict(&c, up.gateway, &path("pair"), None).await;
        assert_eq!(status, 200, "{body}");
        pids.extend(answered_by(&body));
    }
    assert_eq!(
        pids.len(),
        2,
        "both replicas serve, each with its own process: {pids:?}"
    );
    let victim = *pids.first().expect("pid");
    kill9(victim);
    eventually("the replica is taken out", Duration::from_secs(10), || async {
        readiness(up.admin).await.0 == 503
    })
    .await;
    // From detection on, the other replica answers everything.
    for _ in 0..100 {
        let (status, body) = predict(&c, up.gateway, &path("pair"), None).await;
        assert_eq!(status, 200, "{body}");
        assert_ne!(answered_by(&body), Some(victim));
    }
    eventually("the replica is back", Duration::from_secs(20), || async {
        readiness(up.admin).await.0 == 200
    })
    .await;

    // SIGTERM while a request is in flight on a keep-alive connection: it completes,
    // and tells the client to move on.
    let gateway = up.gateway;
    let slow = tokio::spawn(async move {
        exchange(
            &client(),
            "POST",
            gateway,
            &path("pair"),
            None,
            r#"{"data":{"names":["sleep"],"ndarray":[[1]]}}"#,
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let status = up.stop();
    let (code, headers, body) = slow.await.expect("in-flight request");
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        headers.get("connection").and_then(|v| v.to_str().ok()),
        Some("close"),
        "{headers:?}"
    );
    assert!(status.success(), "{status:?}");
}

/// A request head of `extra` bytes more, then `body_len` bytes (sent while the answer is
/// read; writing stops when the server closes); the status line.
async fn raw(gateway: SocketAddr, head: String, body_len: usize) -> String {
    let stream = TcpStream::connect(gateway).await.expect("connect");
    let (mut read, mut write) = stream.into_split();
    let writer = tokio::spawn(async move {
        write.write_all(head.as_bytes()).await?;
        let chunk = vec![b' '; 1 << 20];
        let mut sent = 0;
        while sent < body_len {
            let n = chunk.len().min(body_len - sent);
            write.write_all(&chunk[..n]).await?;
            sent += n;
        }
        Ok::<_, std::io::Error>(())
    });
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !answer.windows(2).any(|w| w == b"\r\n") {
        match tokio::time::timeout(Duration::from_secs(30), read.read(&mut buf)).await {
            Ok(Ok(0)) | Err(_) => break,
            Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
            Ok(Err(_)) => break,
        }
    }
    writer.abort();
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

/// The peak resident memory of process `pid` so far (`VmHWM`), in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmHWM")
}

#[tokio::test]
async fn bodies_and_headers_over_the_limits_are_refused_without_being_held() {
    let file = scratch(
        "limits",
        "apiVersion: machinelearning.seldon.io/v1\nkind: SeldonDeployment\nmetadata: {name: big, namespace: seldon}\nspec:\n  predictors:\n  - name: default\n    graph: {name: classifier, type: MODEL}\n    componentSpecs:\n    - spec:\n        containers:\n        - {name: classifier, image: seldonio/mock_classifier:1.18.2}\n---\napiVersion: machinelearning.seldon.io/v1\nkind: SeldonDeployment\nmetadata: {name: small, namespace: seldon}\nspec:\n  annotations: {seldon.io/rest-max-body-size: 1Mi}\n  predictors:\n  - name: default\n    graph: {name: classifier, type: MODEL}\n    componentSpecs:\n    - spec:\n        containers:\n        - {name: classifier, image: seldonio/mock_classifier:1.18.2}\n",
    );
    let up = Up::start(&[&file], &[]);
    let gateway = up.gateway;
    let head = |name: &str, framing: &str| {
        format!(
            "POST {} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{framing}\r\n\r\n",
            path(name)
        )
    };
    // Four concurrent 100 MiB bodies over the default 32 MiB: each refused.
    let hundred = 100 << 20;
    let big: Vec<_> = (0..4)
        .map(|_| {
            tokio::spawn(raw(
                gateway,
                head("big", &format!("Content-Length: {hundred}")),
                hundred,
            ))
        })
        .collect();
    for answer in big {
        let line = answer.await.expect("request");
        assert!(line.starts_with("HTTP/1.1 413"), "{line}");
    }
    // The peak, not what is left: no moment held the bodies.
    let rss = peak_rss_kib(up.pid());
    assert!(rss < 150 * 1024, "peak RSS {rss} KiB with four 100 MiB requests");
    let c = client();
    let (status, body) = send(&c, "POST", gateway, &path("big"), None, BODY).await;
    assert_eq!(status, 200, "{body}");

    // A chunked body is counted as it arrives: 2 MiB against the annotation's 1 MiB.
    let chunked = {
        let mut text = head("small", "Transfer-Encoding: chunked");
        for _ in 0..32 {
            text.push_str(&format!("{:x}\r\n{}\r\n", 64 << 10, " ".repeat(64 << 10)));
        }
        text.push_str("0\r\n\r\n");
        text
    };
    let line = raw(gateway, chunked, 0).await;
    assert!(line.starts_with("HTTP/1.1 413"), "{line}");
    let (status, body) = send(&c, "POST", gateway, &path("small"), None, BODY).await;
    assert_eq!(status, 200, "{body}");
    // The refusal is Seldon's status body.
    let (status, refusal) = send(&c, "POST", gateway, &path("small"), None, &" ".repeat(2 << 20)).await;
    assert_eq!(status, 413);
    assert!(
        refusal.contains("\"status\":\"FAILURE\"") && refusal.contains("larger than 1048576 bytes"),
        "{refusal}"
    );

    // 100 KiB of headers: over Envoy's 60 KiB.
    let line = raw(
        gateway,
        format!(
            "GET {} HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
            path("big"),
            "a".repeat(100 << 10)
        ),
        0,
    )
    .await;
    assert!(line.starts_with("HTTP/1.1 431"), "{line}");
}

/// [`COMPONENT`] with a readiness endpoint: `GET /ready` answers 503 while a file
/// `not-ready` lies beside the script, 200 otherwise.
const PROBED_COMPONENT: &str = r#"
import json, os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

flag = os.path.join(os.path.dirname(os.path.abspath(__file__)), "not-ready")

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, out):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def do_GET(self):
        self.answer(503 if os.path.exists(flag) else 200, b"{}")

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.answer(200, json.dumps({"data": {"names": ["pid"], "ndarray": [[os.getpid()]]}}).encode())

ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"#;

#[tokio::test]
async fn an_http_component_failing_its_readiness_probe_leaves_and_rejoins_the_gateway() {
    let file = scratch(
        "probed",
        "apiVersion: machinelearning.seldon.io/v1\nkind: SeldonDeployment\nmetadata: {name: probed, namespace: seldon}\nspec:\n  predictors:\n  - name: default\n    graph: {name: model, type: MODEL}\n    componentSpecs:\n    - spec:\n        containers:\n        - name: model\n          image: my/model:1\n          readinessProbe: {httpGet: {path: /ready, port: http}, periodSeconds: 1, failureThreshold: 1}\n",
    );
    let script = file.with_file_name("probed.py");
    std::fs::write(&script, PROBED_COMPONENT).expect("component");
    let flag = file.with_file_name("not-ready");
    let _ = std::fs::remove_file(&flag);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    // Started here, not by sluice: an http:// component is probed, never restarted.
    let mut server = std::process::Command::new("python3")
        .arg(&script)
        .env("PORT", port.to_string())
        .spawn()
        .expect("python3 runs");
    eventually("the component listens", Duration::from_secs(10), || async move {
        TcpStream::connect(("127.0.0.1", port)).await.is_ok()
    })
    .await;
    let mapping = format!("model=http://127.0.0.1:{port}");
    let up = Up::start(&[&file], &["--component", &mapping]);
    let c = client();
    let (status, body) = predict(&c, up.gateway, &path("probed"), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(answered_by(&body), Some(server.id()));

    // Listening still, but not ready: out of the gateway with Envoy's answer, and the
    // readiness endpoint says which probe failed.
    std::fs::write(&flag, "").expect("flag");
    eventually("the replica leaves", Duration::from_secs(10), || {
        let c = c.clone();
        let gateway = up.gateway;
        async move {
            let (status, body) = predict(&c, gateway, &path("probed"), None).await;
            status == 503 && body == "no healthy upstream"
        }
    })
    .await;
    let (ready, why) = readiness(up.admin).await;
    assert_eq!(ready, 503, "{why}");
    assert!(
        why.contains("component model's readiness probe: GET /ready answered 503"),
        "{why}"
    );

    std::fs::remove_file(&flag).expect("flag");
    eventually("the replica is back", Duration::from_secs(10), || {
        let c = c.clone();
        let gateway = up.gateway;
        async move { predict(&c, gateway, &path("probed"), None).await.0 == 200 }
    })
    .await;
    assert_eq!(readiness(up.admin).await.0, 200);
    let _ = server.kill();
    let _ = server.wait();
}
