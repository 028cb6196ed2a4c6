//! `examples/secure` end to end through the real `sluice up` binary: TLS at the gateway
//! with the example's Secret, a token from `sluice token`, the namespace's policies at each
//! predictor's sidecar, and both of Seldon's ways to keep `/prometheus` scrapeable — the
//! `GET /prometheus` rule, and `traffic.sidecar.istio.io/excludeInboundPorts` — over REST
//! and over gRPC (HTTP/2 by ALPN on the TLS port).

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use support::{ANSWER, BODY, Up, client, eventually, example, exchange};

const PREDICT: &str = "/seldon/seldon/secure/api/v1.0/predictions";

/// A copy of examples/secure to edit.
fn copy_example() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sluice-secure-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    for entry in std::fs::read_dir(example("secure")).expect("example") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), dir.join(entry.file_name())).expect("copy");
    }
    dir
}

/// `sluice token --key issuer.pem --sub alice`.
fn mint(dir: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["token", "--key"])
        .arg(dir.join("issuer.pem"))
        .args(["--sub", "alice"])
        .output()
        .expect("sluice token");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8").trim().to_string()
}

/// POST a prediction over TLS (SNI seldon.example.com, trusting the example's CA).
async fn predict_tls(addr: SocketAddr, ca: &Path, token: Option<&str>) -> (u16, String) {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(ca).expect("ca.crt"))
        .expect("root");
    let config =
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("seldon.example.com").expect("name"), tcp)
        .await
        .expect("TLS handshake with the example's certificate");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("http1");
    tokio::spawn(conn);
    let mut request = http::Request::builder()
        .method("POST")
        .uri(PREDICT)
        .header("host", "seldon.example.com")
        .header("content-type", "application/json");
    if let Some(t) = token {
        request = request.header("authorization", format!("Bearer {t}"));
    }
    let response = sender
        .send_request(request.body(Full::new(Bytes::from(BODY))).expect("request"))
        .await
        .expect("response");
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.expect("body").to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// `seldon.protos.Seldon/Predict` over TLS with ALPN h2 (SNI seldon.example.com), framed by
/// hand on hyper's HTTP/2 client: the HTTP status, `grpc-status` (from the headers of a
/// trailers-only answer, else the trailers), `grpc-message`, and the answer's message.
async fn predict_grpc_tls(
    addr: SocketAddr,
    ca: &Path,
    token: Option<&str>,
) -> (
    u16,
    String,
    String,
    Option<sluice_api::proto::seldon::protos::SeldonMessage>,
) {
    use prost::Message;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(ca).expect("ca.crt"))
        .expect("root");
    let mut config =
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("seldon.example.com").expect("name"), tcp)
        .await
        .expect("TLS handshake");
    assert_eq!(
        stream.get_ref().1.alpn_protocol(),
        Some(&b"h2"[..]),
        "the gateway chose h2"
    );
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), TokioIo::new(stream))
            .await
            .expect("h2");
    tokio::spawn(conn);
    let message: sluice_api::proto::seldon::protos::SeldonMessage =
        serde_json::from_str(BODY).expect("the REST body is a SeldonMessage");
    let encoded = message.encode_to_vec();
    let mut framed = vec![0u8];
    framed.extend_from_slice(&u32::try_from(encoded.len()).expect("len").to_be_bytes());
    framed.extend_from_slice(&encoded);
    let mut request = http::Request::builder()
        .method("POST")
        .uri("https://seldon.example.com/seldon.protos.Seldon/Predict")
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("seldon", "secure")
        .header("namespace", "seldon");
    if let Some(t) = token {
        request = request.header("authorization", format!("Bearer {t}"));
    }
    let response = sender
        .send_request(request.body(Full::new(Bytes::from(framed))).expect("request"))
        .await
        .expect("response");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let collected = response.into_body().collect().await.expect("body");
    let trailers = collected.trailers().cloned().unwrap_or_default();
    let data = collected.to_bytes();
    let field = |name: &str| {
        headers
            .get(name)
            .or_else(|| trailers.get(name))
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let answer = (data.len() > 5).then(|| {
        sluice_api::proto::seldon::protos::SeldonMessage::decode(&data[5..]).expect("a SeldonMessage")
    });
    (status, field("grpc-status"), field("grpc-message"), answer)
}

/// The first orchestrator address in a table line of `seldon/secure`.
fn orchestrator(lines: &str) -> Option<SocketAddr> {
    lines
        .lines()
        .rev()
        .find(|l| l.contains("default") && l.contains("http://127.0.0.1:"))
        .and_then(|l| l.split("http://").nth(1))
        .and_then(|a| a.split_whitespace().next())
        .and_then(|a| a.parse().ok())
}

async fn status(addr: SocketAddr, method: &str, path: &str) -> u16 {
    exchange(&client(), method, addr, path, None, BODY).await.0
}

/// Poll until `check` holds (the files are polled every second), bounded.

#[tokio::test]
async fn the_secure_example_with_both_prometheus_options() {
    let dir = copy_example();
    let up = Up::start(&[&dir], &["--port-map", "80=0,443=0"]);
    let https = up.ports[&443]
        .strip_prefix("https://")
        .expect("443 is TLS")
        .parse()
        .expect("addr");
    let ca = dir.join("ca.crt");
    let token = mint(&dir);

    // Through the TLS gateway: the namespace policy wants a token at the predictor.
    let (code, body) = predict_tls(https, &ca, None).await;
    assert_eq!((code, body.as_str()), (403, "RBAC: access denied"));
    let (code, body) = predict_tls(https, &ca, Some(&token)).await;
    assert_eq!(code, 200, "{body}");
    assert!(body.contains(ANSWER), "{body}");
    // A signature byte changed: the token no longer verifies.
    let mut forged = token.clone().into_bytes();
    let at = forged.len() - 10;
    forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).expect("ascii");
    let (code, body) = predict_tls(https, &ca, Some(&forged)).await;
    assert_eq!((code, body.as_str()), (401, "Jwt verification fails"));

    // The same over gRPC on the same TLS port: the sidecar's refusals are gRPC statuses
    // (HTTP 200, trailers-only), as Envoy sends them.
    let (http, code, message, answer) = predict_grpc_tls(https, &ca, None).await;
    assert_eq!(
        (http, code.as_str(), message.as_str()),
        (200, "7", "RBAC: access denied")
    );
    assert!(answer.is_none());
    let (http, code, message, _) = predict_grpc_tls(https, &ca, Some(&forged)).await;
    assert_eq!(
        (http, code.as_str(), message.as_str()),
        (200, "16", "Jwt verification fails")
    );
    let (http, code, message, answer) = predict_grpc_tls(https, &ca, Some(&token)).await;
    assert_eq!((http, code.as_str()), (200, "0"), "{message}");
    let answer = serde_json::to_string(&answer.expect("an answer")).expect("JSON");
    assert!(
        answer.contains("0.43782349911420193"),
        "the mock's answer: {answer}"
    );
    // Plain HTTP is redirected to https.
    let (code, headers, _) = exchange(
        &client(),
        "GET",
        up.gateway,
        PREDICT,
        Some("seldon.example.com"),
        "",
    )
    .await;
    assert_eq!(code, 301);
    assert_eq!(
        headers["location"],
        format!("https://seldon.example.com{PREDICT}")
    );

    // Option 1: Seldon's GET /prometheus rule on ports 6000, 8000, 6001.
    let engine = orchestrator(&up.lines.join("\n")).expect("the table names the orchestrator");
    assert_eq!(status(engine, "GET", "/prometheus").await, 200);
    assert_eq!(
        status(engine, "POST", "/prometheus").await,
        403,
        "only GET is carved out"
    );
    assert_eq!(status(engine, "POST", "/api/v1.0/predictions").await, 403);

    // Without the rule, the namespace policy blocks the scrape too.
    let auth = std::fs::read_to_string(dir.join("auth.yaml")).expect("auth");
    let (without, _) = auth.split_once("  - to:").expect("the /prometheus rule");
    std::fs::write(dir.join("auth.yaml"), without).expect("write");
    eventually("the scrape being blocked", Duration::from_secs(15), || async {
        status(engine, "GET", "/prometheus").await == 403
    })
    .await;

    // Option 2: the pod annotation takes port 8000 away from the sidecar.
    let model = std::fs::read_to_string(dir.join("model.yaml")).expect("model");
    let annotated = model.replace(
        "    componentSpecs:\n    - spec:\n",
        "    componentSpecs:\n    - metadata:\n        annotations:\n          traffic.sidecar.istio.io/excludeInboundPorts: \"8000\"\n      spec:\n",
    );
    assert_ne!(model, annotated);
    std::fs::write(dir.join("model.yaml"), annotated).expect("write");
    // The changed pod gets new orchestrators; the reload's table names them.
    let mut scraped = false;
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline && !scraped {
        tokio::time::sleep(Duration::from_millis(300)).await;
        if let Some(new) = orchestrator(&up.stderr()).filter(|a| *a != engine) {
            scraped = status(new, "GET", "/prometheus").await == 200;
        }
    }
    assert!(scraped, "the excluded port is scrapeable:\n{}", up.stderr());
    // Through the gateway nothing changed for callers without a token? The port is
    // excluded: the sidecar no longer sees its traffic at all, as in Istio.
    let (code, _) = predict_tls(https, &ca, None).await;
    assert_eq!(code, 200, "an excluded port is not policed");
}
