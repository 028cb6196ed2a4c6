//! RequestAuthentication and AuthorizationPolicy through a real gateway: keys fetched from a
//! real `jwksUri` server (and fail-closed while they cannot be), Istio's 401/403 on the
//! wire, and bypass attempts sent byte for byte — what Istio refuses never reaches the
//! upstream.

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use support::{Setup, get, upstream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A signing key and its JWKS.
struct Issuer {
    key: EncodingKey,
    jwks: String,
}

impl Issuer {
    fn new() -> Issuer {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
        let raw = pair.public_key_raw();
        let jwk = json!({"kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256",
            "x": URL_SAFE_NO_PAD.encode(&raw[1..33]), "y": URL_SAFE_NO_PAD.encode(&raw[33..65])});
        Issuer {
            key: EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).expect("pem"),
            jwks: json!({"keys": [jwk]}).to_string(),
        }
    }

    fn token(&self, claims: Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some("k1".to_string());
        jsonwebtoken::encode(&header, &claims, &self.key).expect("sign")
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// A JWKS endpoint: serves `body` at any path and counts fetches.
async fn jwks_server(body: String) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (body, counter) = (body.clone(), counter.clone());
            let service = service_fn(move |_req| {
                counter.fetch_add(1, Ordering::SeqCst);
                let body = body.clone();
                async move { Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from(body)))) }
            });
            tokio::spawn(async move {
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, hits)
}

fn request_authentication(jwks_uri: &str) -> String {
    format!(
        "apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {{name: jwt, namespace: istio-system}}\nspec:\n  jwtRules:\n  - {{issuer: issuer-1, jwksUri: \"{jwks_uri}\", timeout: 1s}}\n---\n"
    )
}

#[tokio::test]
async fn keys_from_jwks_uri_verify_tokens_and_failures_are_istios_answers() {
    let issuer = Issuer::new();
    let (jwks, fetches) = jwks_server(issuer.jwks.clone()).await;
    let (seen, a) = upstream("a").await;
    let running = Setup::new()
        .service("a", "http", &[(a, "v1")])
        .vs("[{route: [{destination: {host: a.default.svc.cluster.local}}]}]")
        .yaml(&request_authentication(&format!("http://{jwks}/jwks")))
        .start()
        .await;
    let valid = format!(
        "Bearer {}",
        issuer.token(json!({"iss": "issuer-1", "sub": "sub-1", "exp": now() + 600}))
    );
    // The keys arrive in the background; until then a token fails closed.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut status = 0;
    while Instant::now() < deadline {
        status = get(running.addr, "/", &[("authorization", &valid)]).await.status;
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, 200);
    assert!(fetches.load(Ordering::SeqCst) >= 1);
    let last = seen
        .seen
        .lock()
        .expect("seen")
        .last()
        .cloned()
        .expect("a request");
    assert!(
        last["headers"].get("authorization").is_none(),
        "the token is removed: {last}"
    );

    let before = seen.seen.lock().expect("seen").len();
    let expired = format!(
        "Bearer {}",
        issuer.token(json!({"iss": "issuer-1", "sub": "sub-1", "exp": now() - 3600}))
    );
    let got = get(running.addr, "/path?x", &[("authorization", &expired)]).await;
    assert_eq!((got.status, got.text().as_str()), (401, "Jwt is expired"));
    assert_eq!(got.headers["content-type"], "text/plain");
    assert_eq!(
        got.headers["www-authenticate"],
        r#"Bearer realm="http://app.example.com/path?x", error="invalid_token""#
    );
    assert_eq!(
        seen.seen.lock().expect("seen").len(),
        before,
        "refused requests never reach the upstream"
    );
}

#[tokio::test]
async fn c97_an_unreachable_jwks_uri_fails_closed_for_tokens_only() {
    let issuer = Issuer::new();
    let port = support::refused_port().await;
    let (_, a) = upstream("a").await;
    let running = Setup::new()
        .service("a", "http", &[(a, "v1")])
        .vs("[{route: [{destination: {host: a.default.svc.cluster.local}}]}]")
        .yaml(&request_authentication(&format!("http://127.0.0.1:{port}/jwks")))
        .start()
        .await;
    let valid = format!(
        "Bearer {}",
        issuer.token(json!({"iss": "issuer-1", "sub": "s", "exp": now() + 600}))
    );
    let got = get(running.addr, "/", &[("authorization", &valid)]).await;
    assert_eq!((got.status, got.text().as_str()), (401, "Jwt verification fails"));
    assert_eq!(get(running.addr, "/", &[]).await.status, 200);
}

/// Send `GET target` byte for byte (no client-side normalization); the status.
async fn raw_get(addr: SocketAddr, target: &str, host: &str) -> u16 {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let text = String::from_utf8_lossy(&response);
    text.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn bypass_attempts_are_handled_as_istio_does_and_denied_ones_never_reach_upstream() {
    let (seen, a) = upstream("a").await;
    let deny = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: deny-admin, namespace: istio-system}\nspec:\n  action: DENY\n  rules: [{to: [{operation: {paths: [\"/admin*\"]}}]}, {to: [{operation: {hosts: [admin.example.com, \"admin.example.com:*\"]}}]}]\n---\n";
    let star = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: star, namespace: default}\nspec:\n  hosts: [\"*\"]\n  gateways: [istio-system/gw]\n  http: [{route: [{destination: {host: a.default.svc.cluster.local}}]}]\n---\n";
    let running = Setup::new()
        .service("a", "http", &[(a, "v1")])
        .yaml(star)
        .yaml(deny)
        .start()
        .await;
    // Istio's default normalization (BASE): . and .. resolved, %2e and unreserved escapes
    // decoded, \ (and %5C) kept as data unless decoded; // and %2F are not merged or decoded.
    let cases = [
        ("/admin", "app.example.com", 403),
        ("/./admin", "app.example.com", 403),
        ("/x/../admin", "app.example.com", 403),
        ("/%2e%2e/admin", "app.example.com", 403),
        ("/%61dmin", "app.example.com", 403),
        ("/admin?x=1", "app.example.com", 403),
        ("/admin#frag", "app.example.com", 403),
        ("/ADMIN", "app.example.com", 200),
        ("//admin", "app.example.com", 200),
        ("/%2Fadmin", "app.example.com", 200),
        ("/", "admin.example.com", 403),
        ("/", "ADMIN.example.com:8080", 403),
        ("/", "admin.example.com.", 200),
    ];
    for (target, host, status) in cases {
        let before = seen.seen.lock().expect("seen").len();
        assert_eq!(
            raw_get(running.addr, target, host).await,
            status,
            "{target} Host: {host}"
        );
        let reached = seen.seen.lock().expect("seen").len() > before;
        assert_eq!(
            reached,
            status == 200,
            "{target} Host: {host}: reached the upstream: {reached}"
        );
    }
}
