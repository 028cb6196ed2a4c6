//! HTTPS Gateway servers over real TLS (spec §3.3–§3.5, cases C81–C83): certificates made
//! in the test (a CA, server and client certificates), the gateway's certificate as the
//! Kubernetes Secret `kubectl create secret tls` prints, clients that speak HTTP/1.1 and h2
//! over rustls.

mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, SanType};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use sluice_gateway::server::compile_files;
use support::{Setup, service, upstream};

/// A CA that signs the test's certificates.
struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate and its key, as PEM.
#[derive(Clone)]
struct Pem {
    cert: String,
    key: String,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        Ca {
            issuer: CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("ca"),
        }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A certificate for DNS names (and 127.0.0.1), or for a SPIFFE URI.
    fn issue(&self, names: &[&str], uri: Option<&str>) -> Pem {
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).expect("params");
        params
            .subject_alt_names
            .push(SanType::IpAddress("127.0.0.1".parse().expect("ip")));
        if let Some(uri) = uri {
            params
                .subject_alt_names
                .push(SanType::URI(uri.try_into().expect("uri")));
        }
        params
            .distinguished_name
            .push(DnType::CommonName, names.first().copied().unwrap_or("client"));
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.issuer).expect("sign");
        Pem {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }
}

/// What `kubectl create secret tls NAME --cert --key --dry-run=client -o yaml` prints
/// (with `ca.crt` when given), in namespace istio-system.
fn secret(name: &str, pem: &Pem, ca: Option<&str>) -> String {
    let ca = ca
        .map(|c| format!("  ca.crt: {}\n", STANDARD.encode(c)))
        .unwrap_or_default();
    format!(
        "apiVersion: v1\ndata:\n{ca}  tls.crt: {}\n  tls.key: {}\nkind: Secret\nmetadata:\n  creationTimestamp: null\n  name: {name}\n  namespace: istio-system\ntype: kubernetes.io/tls\n---\n",
        STANDARD.encode(&pem.cert),
        STANDARD.encode(&pem.key)
    )
}

/// A Gateway `name` with one HTTPS server on 443.
fn https_gateway(name: &str, hosts: &str, tls: &str) -> String {
    format!(
        "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {{name: {name}, namespace: istio-system}}\nspec:\n  selector: {{istio: ingressgateway}}\n  servers:\n  - port: {{number: 443, name: https-{name}, protocol: HTTPS}}\n    hosts: {hosts}\n    tls: {tls}\n---\n"
    )
}

fn route_to(name: &str, hosts: &str, gateway: &str, service: &str) -> String {
    format!(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: {name}, namespace: default}}\nspec:\n  hosts: {hosts}\n  gateways: [istio-system/{gateway}]\n  http: [{{route: [{{destination: {{host: {service}.default.svc.cluster.local}}}}]}}]\n---\n"
    )
}

/// A client's view of one TLS exchange.
#[derive(Debug)]
struct Answer {
    status: u16,
    version: http::Version,
    body: String,
}

/// A TLS connection trusting `ca`: SNI `sni` (None: connect by IP, no SNI), ALPN,
/// optional client certificate; `Err` when the handshake fails.
async fn connect(
    addr: SocketAddr,
    sni: Option<&str>,
    ca: &str,
    client: Option<&Pem>,
    alpn: &[&[u8]],
) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, String> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca.as_bytes()) {
        roots
            .add(c.map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    let mut config = match client {
        None => builder.with_no_client_auth(),
        Some(pem) => builder
            .with_client_auth_cert(
                CertificateDer::pem_slice_iter(pem.cert.as_bytes())
                    .collect::<Result<_, _>>()
                    .map_err(|e| e.to_string())?,
                PrivateKeyDer::from_pem_slice(pem.key.as_bytes()).map_err(|e| e.to_string())?,
            )
            .map_err(|e| e.to_string())?,
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let name = match sni {
        Some(n) => ServerName::try_from(n.to_string()).map_err(|e| e.to_string())?,
        None => ServerName::IpAddress(addr.ip().into()),
    };
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| format!("handshake: {e}"))
}

/// One request over TLS (see [`connect`]); `Err` when the handshake or the request fails.
async fn over_tls(
    addr: SocketAddr,
    sni: Option<&str>,
    ca: &str,
    client: Option<&Pem>,
    alpn: &[&[u8]],
    host: &str,
) -> Result<Answer, String> {
    let stream = connect(addr, sni, ca, client, alpn).await?;
    let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
    let request = Request::builder()
        .uri(if h2 {
            format!("https://{host}/p")
        } else {
            "/p".to_string()
        })
        .header("host", host)
        .header("x-forwarded-client-cert", "By=spoofed")
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let mut request = request;
    if h2 {
        request.headers_mut().remove("host");
    }
    let response = if h2 {
        let (mut sender, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                .await
                .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        sender.send_request(request).await.map_err(|e| e.to_string())?
    } else {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        sender.send_request(request).await.map_err(|e| e.to_string())?
    };
    let (parts, body) = response.into_parts();
    let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok(Answer {
        status: parts.status.as_u16(),
        version: parts.version,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn https_port(change: &mut sluice_gateway::Options) {
    change.port_map = BTreeMap::from([(80, 0), (443, 0)]);
}

#[tokio::test]
async fn c81_sni_selects_the_server_and_alpn_offers_h2() {
    let ca = Ca::new("test CA");
    let pem = ca.issue(&["app.example.com"], None);
    let (seen, a) = upstream("a").await;
    let running = Setup::new()
        .service("a", "http", &[(a, "v1")])
        .yaml(&secret("cred", &pem, None))
        .yaml(&https_gateway(
            "secure",
            "[app.example.com]",
            "{mode: SIMPLE, credentialName: cred}",
        ))
        .yaml(&route_to("vs", "[app.example.com]", "secure", "a"))
        .start_with(https_port)
        .await;
    let addr = running.gateway.addresses()[&443];
    let h1 = over_tls(
        addr,
        Some("app.example.com"),
        &ca.pem(),
        None,
        &[b"http/1.1"],
        "app.example.com",
    )
    .await
    .expect("HTTP/1.1 over TLS");
    assert_eq!(
        (h1.status, h1.version),
        (200, http::Version::HTTP_11),
        "{}",
        h1.body
    );
    let h2 = over_tls(
        addr,
        Some("app.example.com"),
        &ca.pem(),
        None,
        &[b"h2", b"http/1.1"],
        "app.example.com",
    )
    .await
    .expect("h2 over TLS");
    assert_eq!((h2.status, h2.version), (200, http::Version::HTTP_2));
    let last = seen
        .seen
        .lock()
        .expect("seen")
        .last()
        .cloned()
        .expect("a request");
    assert_eq!(last["headers"]["x-forwarded-proto"], "https", "{last}");
    assert!(
        last["headers"].get("x-forwarded-client-cert").is_none(),
        "a client's XFCC never passes: {last}"
    );
    let other = over_tls(
        addr,
        Some("other.example.com"),
        &ca.pem(),
        None,
        &[b"http/1.1"],
        "other.example.com",
    )
    .await;
    assert!(other.is_err(), "no server for that SNI: {other:?}");
    let no_sni = over_tls(addr, None, &ca.pem(), None, &[b"http/1.1"], "app.example.com").await;
    assert!(no_sni.is_err(), "no SNI and no catch-all server: {no_sni:?}");

    // hosts ["*"]: any SNI, and a ClientHello without one.
    let running = Setup::new()
        .service("a", "http", &[(a, "v1")])
        .yaml(&secret("cred", &pem, None))
        .yaml(&https_gateway(
            "secure",
            "[\"*\"]",
            "{mode: SIMPLE, credentialName: cred}",
        ))
        .yaml(&route_to("vs", "[app.example.com]", "secure", "a"))
        .start_with(https_port)
        .await;
    let addr = running.gateway.addresses()[&443];
    let no_sni = over_tls(addr, None, &ca.pem(), None, &[b"http/1.1"], "app.example.com")
        .await
        .expect("served without SNI");
    assert_eq!(no_sni.status, 200);
}

#[tokio::test]
async fn c82_a_connection_reaches_only_its_servers_routes() {
    let ca = Ca::new("test CA");
    let pem = ca.issue(&["*.example.com"], None);
    let (_, a) = upstream("a").await;
    let (_, b) = upstream("b").await;
    let running = Setup::new()
        .service("a", "http", &[(a, "v1")])
        .yaml(&service("b", "http", &[(b, "v1")]))
        .yaml(&secret("wildcard", &pem, None))
        .yaml(&https_gateway(
            "gw1",
            "[s1.example.com]",
            "{mode: SIMPLE, credentialName: wildcard}",
        ))
        .yaml(&https_gateway(
            "gw2",
            "[s2.example.com]",
            "{mode: SIMPLE, credentialName: wildcard}",
        ))
        .yaml(&route_to("vs1", "[s1.example.com]", "gw1", "a"))
        .yaml(&route_to("vs2", "[s2.example.com]", "gw2", "b"))
        .start_with(https_port)
        .await;
    let addr = running.gateway.addresses()[&443];
    let pem_ca = ca.pem();
    let ok = over_tls(
        addr,
        Some("s1.example.com"),
        &pem_ca,
        None,
        &[b"http/1.1"],
        "s1.example.com",
    )
    .await
    .expect("s1");
    assert_eq!(ok.status, 200);
    let cross = over_tls(
        addr,
        Some("s1.example.com"),
        &pem_ca,
        None,
        &[b"http/1.1"],
        "s2.example.com",
    )
    .await
    .expect("s1 connection");
    assert_eq!(cross.status, 404);
}

#[tokio::test]
async fn c83_mutual_tls_and_the_client_identity() {
    let ca = Ca::new("test CA");
    let server = ca.issue(&["app.example.com"], None);
    let client = ca.issue(&[], Some("spiffe://cluster.local/ns/default/sa/client"));
    let stranger = Ca::new("another CA").issue(&[], Some("spiffe://cluster.local/ns/default/sa/client"));
    let (seen, a) = upstream("a").await;
    let allow_client = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: mtls, namespace: istio-system}\nspec: {rules: [{from: [{source: {principals: [cluster.local/ns/default/sa/client]}}]}]}\n---\n";
    let running = Setup::new()
        .service("a", "http", &[(a, "v1")])
        .yaml(&secret("cred", &server, Some(&ca.pem())))
        .yaml(&https_gateway(
            "secure",
            "[app.example.com]",
            "{mode: MUTUAL, credentialName: cred}",
        ))
        .yaml(&route_to("vs", "[app.example.com]", "secure", "a"))
        .yaml(allow_client)
        .start_with(https_port)
        .await;
    let addr = running.gateway.addresses()[&443];
    let pem_ca = ca.pem();
    let none = over_tls(
        addr,
        Some("app.example.com"),
        &pem_ca,
        None,
        &[b"http/1.1"],
        "app.example.com",
    )
    .await;
    assert!(none.is_err(), "no client certificate: {none:?}");
    let wrong = over_tls(
        addr,
        Some("app.example.com"),
        &pem_ca,
        Some(&stranger),
        &[b"http/1.1"],
        "app.example.com",
    )
    .await;
    assert!(wrong.is_err(), "a certificate of another CA: {wrong:?}");
    let ok = over_tls(
        addr,
        Some("app.example.com"),
        &pem_ca,
        Some(&client),
        &[b"http/1.1"],
        "app.example.com",
    )
    .await
    .expect("mutual TLS");
    assert_eq!(
        ok.status, 200,
        "the principals policy allows the client: {}",
        ok.body
    );
    let last = seen
        .seen
        .lock()
        .expect("seen")
        .last()
        .cloned()
        .expect("a request");
    let xfcc = last["headers"]["x-forwarded-client-cert"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(xfcc.starts_with("Hash="), "{xfcc}");
    assert!(
        xfcc.contains("URI=spiffe://cluster.local/ns/default/sa/client"),
        "{xfcc}"
    );
    assert!(!xfcc.contains("spoofed"), "{xfcc}");

    // OPTIONAL_MUTUAL: no certificate is fine (and then the principals policy denies).
    let running = Setup::new()
        .service("a", "http", &[(a, "v1")])
        .yaml(&secret("cred", &server, Some(&ca.pem())))
        .yaml(&https_gateway(
            "secure",
            "[app.example.com]",
            "{mode: OPTIONAL_MUTUAL, credentialName: cred}",
        ))
        .yaml(&route_to("vs", "[app.example.com]", "secure", "a"))
        .start_with(https_port)
        .await;
    let addr = running.gateway.addresses()[&443];
    let anonymous = over_tls(
        addr,
        Some("app.example.com"),
        &pem_ca,
        None,
        &[b"http/1.1"],
        "app.example.com",
    )
    .await
    .expect("optional");
    assert_eq!(anonymous.status, 200);
}

#[tokio::test]
async fn subject_alt_names_pin_the_client() {
    let ca = Ca::new("test CA");
    let server = ca.issue(&["app.example.com"], None);
    let good = ca.issue(&[], Some("spiffe://cluster.local/ns/default/sa/good"));
    let other = ca.issue(&[], Some("spiffe://cluster.local/ns/default/sa/other"));
    let (_, a) = upstream("a").await;
    let running = Setup::new()
        .service("a", "http", &[(a, "v1")])
        .yaml(&secret("cred", &server, Some(&ca.pem())))
        .yaml(&https_gateway(
            "secure",
            "[app.example.com]",
            "{mode: MUTUAL, credentialName: cred, subjectAltNames: [\"spiffe://cluster.local/ns/default/sa/good\"]}",
        ))
        .yaml(&route_to("vs", "[app.example.com]", "secure", "a"))
        .start_with(https_port)
        .await;
    let addr = running.gateway.addresses()[&443];
    let ok = over_tls(
        addr,
        Some("app.example.com"),
        &ca.pem(),
        Some(&good),
        &[b"http/1.1"],
        "app.example.com",
    )
    .await
    .expect("pinned SAN");
    assert_eq!(ok.status, 200);
    let refused = over_tls(
        addr,
        Some("app.example.com"),
        &ca.pem(),
        Some(&other),
        &[b"http/1.1"],
        "app.example.com",
    )
    .await;
    assert!(refused.is_err(), "{refused:?}");
}

#[test]
fn a_bad_certificate_is_a_diagnostic_at_its_line() {
    let dir = std::env::temp_dir().join(format!("sluice-tls-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let yaml = format!(
        "{}{}{}",
        https_gateway(
            "secure",
            "[app.example.com]",
            "{mode: SIMPLE, credentialName: cred}"
        ),
        "apiVersion: v1\nkind: Secret\nmetadata: {name: cred, namespace: istio-system}\ntype: kubernetes.io/tls\ndata:\n  tls.crt: bm90IGEgY2VydA==\n  tls.key: bm90IGEga2V5\n---\n",
        https_gateway(
            "missing",
            "[b.example.com]",
            "{mode: SIMPLE, credentialName: nowhere}"
        )
    );
    std::fs::write(dir.join("config.yaml"), &yaml).expect("write");
    let problems =
        compile_files(&sluice_mesh::Proxy::default(), std::slice::from_ref(&dir)).expect_err("refused");
    let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
    let cert = text
        .iter()
        .find(|t| t.contains("tls.crt"))
        .expect("the certificate is named");
    assert!(
        cert.contains("config.yaml:") && cert.contains("not a PEM certificate"),
        "{text:#?}"
    );
    let missing = text
        .iter()
        .find(|t| t.contains("nowhere"))
        .expect("the missing Secret is named");
    assert!(missing.contains("kubectl create secret tls"), "{missing}");
    // PASSTHROUGH and ISTIO_MUTUAL are refused, not served as something else.
    for mode in ["PASSTHROUGH", "ISTIO_MUTUAL", "AUTO_PASSTHROUGH"] {
        std::fs::write(
            dir.join("config.yaml"),
            https_gateway("secure", "[app.example.com]", &format!("{{mode: {mode}}}")),
        )
        .expect("write");
        let problems =
            compile_files(&sluice_mesh::Proxy::default(), std::slice::from_ref(&dir)).expect_err(mode);
        assert!(
            problems
                .iter()
                .any(|p| p.to_string().contains(mode) && p.to_string().contains("tls.mode")),
            "{mode}: {problems:#?}"
        );
    }
}

#[tokio::test]
async fn certificate_rotation_under_load_fails_no_request() {
    let ca = Ca::new("test CA");
    let first = ca.issue(&["app.example.com"], None);
    let second = ca.issue(&["app.example.com"], None);
    let (_, a) = upstream("a").await;
    let config = |pem: &Pem| {
        Setup::new()
            .service("a", "http", &[(a, "v1")])
            .yaml(&secret("cred", pem, None))
            .yaml(&https_gateway(
                "secure",
                "[app.example.com]",
                "{mode: SIMPLE, credentialName: cred}",
            ))
            .yaml(&route_to("vs", "[app.example.com]", "secure", "a"))
    };
    let running = config(&first).start_with(https_port).await;
    let addr = running.gateway.addresses()[&443];
    let stop = Arc::new(AtomicBool::new(false));
    let (sent, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let load = {
        let (stop, sent, failed, ca) = (stop.clone(), sent.clone(), failed.clone(), ca.pem());
        tokio::spawn(async move {
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while !stop.load(Ordering::SeqCst) && std::time::Instant::now() < deadline {
                let r = over_tls(
                    addr,
                    Some("app.example.com"),
                    &ca,
                    None,
                    &[b"h2", b"http/1.1"],
                    "app.example.com",
                )
                .await;
                sent.fetch_add(1, Ordering::SeqCst);
                if !matches!(r, Ok(Answer { status: 200, .. })) {
                    failed.fetch_add(1, Ordering::SeqCst);
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    std::fs::write(running.dir.join("config.yaml"), config(&second).to_string()).expect("write");
    let (table, warnings) =
        compile_files(&sluice_mesh::Proxy::default(), std::slice::from_ref(&running.dir)).expect("valid");
    running.gateway.swap(table, warnings).await.expect("swap");
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);
    load.await.expect("load");
    let (sent, failed) = (sent.load(Ordering::SeqCst), failed.load(Ordering::SeqCst));
    assert!(sent > 5, "{sent}");
    assert_eq!(failed, 0, "{failed} of {sent} failed");
    // New connections get the new certificate.
    let stream = connect(addr, Some("app.example.com"), &ca.pem(), None, &[])
        .await
        .expect("handshake");
    let served = stream.get_ref().1.peer_certificates().expect("certs")[0].clone();
    let expected = CertificateDer::from_pem_slice(second.cert.as_bytes()).expect("second");
    assert_eq!(served, expected, "the rotated certificate is served");
}

/// The certificate a TLS server on `addr` presents for SNI app.example.com.
async fn served_certificate(addr: SocketAddr, ca: &str) -> Option<CertificateDer<'static>> {
    let stream = connect(addr, Some("app.example.com"), ca, None, &[]).await.ok()?;
    stream.get_ref().1.peer_certificates()?.first().cloned()
}

#[tokio::test]
async fn certificates_named_by_path_reload_when_the_files_change() {
    let ca = Ca::new("test CA");
    let (first, second) = (
        ca.issue(&["app.example.com"], None),
        ca.issue(&["app.example.com"], None),
    );
    let (_, a) = upstream("a").await;
    let dir = std::env::temp_dir().join(format!("sluice-tls-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let (cert, key) = (dir.join("server.crt"), dir.join("server.key"));
    std::fs::write(&cert, &first.cert).expect("cert");
    std::fs::write(&key, &first.key).expect("key");
    let tls = format!(
        "{{mode: SIMPLE, serverCertificate: {}, privateKey: {}}}",
        cert.display(),
        key.display()
    );
    let running = Setup::new()
        .service("a", "http", &[(a, "v1")])
        .yaml(&https_gateway("secure", "[app.example.com]", &tls))
        .yaml(&route_to("vs", "[app.example.com]", "secure", "a"))
        .start_with(https_port)
        .await;
    running
        .gateway
        .watch_files(vec![running.dir.clone()], Duration::from_millis(100));
    let addr = running.gateway.addresses()[&443];
    let pem_der = |p: &Pem| CertificateDer::from_pem_slice(p.cert.as_bytes()).expect("der");
    assert_eq!(served_certificate(addr, &ca.pem()).await, Some(pem_der(&first)));
    // A renewed certificate and key land on disk (key first, as cert-manager-like tools do).
    std::fs::write(&key, &second.key).expect("key");
    std::fs::write(&cert, &second.cert).expect("cert");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut served = None;
    while std::time::Instant::now() < deadline {
        served = served_certificate(addr, &ca.pem()).await;
        if served == Some(pem_der(&second)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(served, Some(pem_der(&second)), "the new certificate is served");
}

#[tokio::test]
async fn a_connection_never_moves_to_another_tls_server_after_a_reload() {
    let ca = Ca::new("test CA");
    let pem = ca.issue(&["app.example.com", "admin.example.com"], None);
    let (_, a) = upstream("a").await;
    let base = Setup::new()
        .service("a", "http", &[(a, "v1")])
        .yaml(&secret("cred", &pem, Some(&ca.pem())))
        .yaml(&route_to("admin", "[admin.example.com]", "admin", "a"));
    let admin = https_gateway(
        "admin",
        "[admin.example.com]",
        "{mode: MUTUAL, credentialName: cred}",
    );
    let app = format!(
        "{}{}",
        https_gateway("app", "[app.example.com]", "{mode: SIMPLE, credentialName: cred}"),
        route_to("app", "[app.example.com]", "app", "a")
    );
    let running = base.clone().yaml(&app).yaml(&admin).start_with(https_port).await;
    let addr = running.gateway.addresses()[&443];
    // A keep-alive connection to the SIMPLE server, without a client certificate.
    let stream = connect(addr, Some("app.example.com"), &ca.pem(), None, &[b"http/1.1"])
        .await
        .expect("handshake");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("http1");
    tokio::spawn(conn);
    let get = |host: &str| {
        Request::builder()
            .uri("/p")
            .header("host", host)
            .body(Empty::<Bytes>::new())
            .expect("request")
    };
    let r = sender
        .send_request(get("app.example.com"))
        .await
        .expect("response");
    assert_eq!(r.status(), 200);
    let _ = r.into_body().collect().await;
    // The SIMPLE server goes away: the MUTUAL one is now the port's first TLS server.
    std::fs::write(running.dir.join("config.yaml"), base.yaml(&admin).to_string()).expect("write");
    let (table, warnings) =
        compile_files(&sluice_mesh::Proxy::default(), std::slice::from_ref(&running.dir)).expect("valid");
    running.gateway.swap(table, warnings).await.expect("swap");
    let r = sender
        .send_request(get("admin.example.com"))
        .await
        .expect("response");
    assert_eq!(
        r.status(),
        421,
        "the old connection does not reach the MUTUAL server's routes"
    );
}
