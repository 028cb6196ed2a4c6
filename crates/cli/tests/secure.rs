//! `examples/secure` end to end through the real `sluice up` binary: TLS at the gateway
//! with the example's Secret, a token from `sluice token`, the namespace's policies at each
//! predictor's sidecar, and both of Seldon's ways to keep `/prometheus` scrapeable — the
//! `GET /prometheus` rule, and `traffic.sidecar.istio.io/excludeInboundPorts`.

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
