//! The validating admission webhook: `AdmissionReview` v1 over HTTPS, answered with the
//! very rules and messages of `sluice validate` — a bad SeldonDeployment is refused at
//! `kubectl apply` with every problem listed; warnings come back as admission warnings.
//!
//! ```text
//!  API server ──HTTPS──> serve (rustls) ──> review(settings, AdmissionReview JSON)
//!                                              └─ load ──> translate::source::check ──> allowed / denied + warnings
//! ```
//!
//! Certificates come from files (a cert-manager Secret mounted in the pod) or are made at
//! start-up ([`self_signed`]), their CA then patched into the
//! `ValidatingWebhookConfiguration`'s `caBundle` ([`patch_ca_bundle`]).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sluice_api::diagnostic::{Diagnostic, Severity};
use sluice_api::load::{self, Source, Typed};
use sluice_translate::{Settings, source};
use tokio::net::TcpListener;

/// The path the API server posts reviews to.
pub const PATH: &str = "/validate-machinelearning-seldon-io-v1-seldondeployment";

/// A problem of the webhook's own set-up.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// A certificate or key could not be read or used.
    #[error("webhook certificate: {0}")]
    Certificate(String),
    /// The listener could not be opened.
    #[error("webhook listener: {0}")]
    Listen(#[from] std::io::Error),
}

/// Every problem of `object` (a SeldonDeployment as JSON), as `sluice validate` finds them.
pub fn problems(settings: &Settings, object: &serde_json::Value) -> Vec<Diagnostic> {
    let loaded = load::load(&[Source {
        name: "<admission>".to_string(),
        text: object.to_string(),
    }]);
    let mut out: Vec<Diagnostic> = loaded.diagnostics.clone();
    for resource in &loaded.resources {
        if let Typed::SeldonDeployment(sdep) = &resource.typed {
            let checked = source::check(sdep, settings, None);
            out.extend(
                checked
                    .diagnostics
                    .into_iter()
                    .map(|d| d.in_object((*resource.object).clone())),
            );
        }
    }
    // A line and column of the request's JSON mean nothing to the user of kubectl.
    for d in &mut out {
        d.location = None;
    }
    out
}

/// Answer one `AdmissionReview` (JSON in, JSON out).
pub fn review(settings: &Settings, body: &[u8]) -> Vec<u8> {
    let response = match serde_json::from_slice::<AdmissionReview<DynamicObject>>(body)
        .map_err(|e| e.to_string())
        .and_then(|r| TryInto::<AdmissionRequest<DynamicObject>>::try_into(r).map_err(|e| e.to_string()))
    {
        Err(e) => AdmissionResponse::invalid(format!("not an AdmissionReview: {e}")),
        Ok(request) => {
            let mut response = AdmissionResponse::from(&request);
            if let Some(object) = request.object.as_ref().and_then(|o| serde_json::to_value(o).ok()) {
                let found = problems(settings, &object);
                let (errors, warnings): (Vec<&Diagnostic>, Vec<&Diagnostic>) = found
                    .iter()
                    .filter(|d| !d.is_note())
                    .partition(|d| d.severity == Severity::Error);
                if !warnings.is_empty() {
                    response.warnings = Some(warnings.iter().map(ToString::to_string).collect());
                }
                if !errors.is_empty() {
                    let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
                    response = response.deny(format!(
                        "{} ({}):\n{}",
                        "the SeldonDeployment is invalid",
                        sluice_api::diagnostic::summary(&found),
                        list.join("\n")
                    ));
                }
            }
            response
        }
    };
    serde_json::to_vec(&response.into_review()).unwrap_or_default()
}

/// A serving certificate and key, PEM.
#[derive(Clone, Debug)]
pub struct Certificate {
    /// The chain, PEM.
    pub cert_pem: String,
    /// The key, PEM.
    pub key_pem: String,
    /// The CA that signed it, PEM (for `caBundle`).
    pub ca_pem: String,
}

/// Read `tls.crt`, `tls.key` (and `ca.crt`, else the chain) from a directory, as
/// cert-manager writes a Secret.
pub fn from_dir(dir: &Path) -> Result<Certificate, WebhookError> {
    let read = |name: &str| {
        std::fs::read_to_string(dir.join(name))
            .map_err(|e| WebhookError::Certificate(format!("{}: {e}", dir.join(name).display())))
    };
    let cert_pem = read("tls.crt")?;
    let key_pem = read("tls.key")?;
    let ca_pem = read("ca.crt").unwrap_or_else(|_| cert_pem.clone());
    Ok(Certificate {
        cert_pem,
        key_pem,
        ca_pem,
    })
}

/// A CA and a serving certificate for `dns_names` (e.g. `sluice-webhook.seldon-system.svc`),
/// made now.
pub fn self_signed(dns_names: &[String]) -> Result<Certificate, WebhookError> {
    let bad = |e: rcgen::Error| WebhookError::Certificate(e.to_string());
    let ca_key = rcgen::KeyPair::generate().map_err(bad)?;
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(bad)?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "sluice-operator webhook CA");
    let ca = ca_params.self_signed(&ca_key).map_err(bad)?;
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().map_err(bad)?;
    let mut params = rcgen::CertificateParams::new(dns_names.to_vec()).map_err(bad)?;
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        dns_names.first().cloned().unwrap_or_default(),
    );
    let cert = params.signed_by(&key, &issuer).map_err(bad)?;
    Ok(Certificate {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        ca_pem: ca.pem(),
    })
}

fn tls_config(cert: &Certificate) -> Result<rustls::ServerConfig, WebhookError> {
    let bad = |e: &dyn std::fmt::Display| WebhookError::Certificate(e.to_string());
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert.cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| bad(&e))?;
    let key = PrivateKeyDer::from_pem_slice(cert.key_pem.as_bytes()).map_err(|e| bad(&e))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(&e))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| bad(&e))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

async fn answer(settings: &Settings, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let plain = |status: StatusCode, text: &str| {
        Response::builder()
            .status(status)
            .header(header::CONTENT_TYPE, "text/plain")
            .body(Full::new(Bytes::from(text.to_string())))
            .unwrap_or_default()
    };
    if request.method() != Method::POST || request.uri().path() != PATH {
        return plain(
            StatusCode::NOT_FOUND,
            "POST AdmissionReviews to the webhook path\n",
        );
    }
    // The API server sends at most a few MiB; more is not a review.
    let body = match Limited::new(request.into_body(), 8 << 20).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return plain(StatusCode::PAYLOAD_TOO_LARGE, "review too large\n"),
    };
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(review(settings, &body))))
        .unwrap_or_default()
}

/// Serve the webhook over HTTPS on `addr` until `stop` resolves; returns its address.
pub async fn serve(
    settings: Settings,
    cert: &Certificate,
    addr: SocketAddr,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Result<SocketAddr, WebhookError> {
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls_config(cert)?));
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let settings = Arc::new(settings);
    tokio::spawn(async move {
        tokio::pin!(stop);
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    let (acceptor, settings) = (acceptor.clone(), settings.clone());
                    tokio::spawn(async move {
                        let Ok(tls) = acceptor.accept(stream).await else { return };
                        let service = service_fn(move |request| {
                            let settings = settings.clone();
                            async move { Ok::<_, Infallible>(answer(&settings, request).await) }
                        });
                        let _ = auto::Builder::new(TokioExecutor::new())
                            .serve_connection(TokioIo::new(tls), service)
                            .await;
                    });
                }
                () = &mut stop => return,
            }
        }
    });
    Ok(local)
}

/// Put `ca_pem` into every webhook of the `ValidatingWebhookConfiguration` `name`.
pub async fn patch_ca_bundle(client: &kube::Client, name: &str, ca_pem: &str) -> Result<(), kube::Error> {
    use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
    use kube::api::{Api, Patch, PatchParams};
    let api: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    let Some(current) = api.get_opt(name).await? else {
        tracing::warn!(
            configuration = name,
            "no ValidatingWebhookConfiguration to give the CA to"
        );
        return Ok(());
    };
    let bundle = k8s_openapi::ByteString(ca_pem.as_bytes().to_vec());
    let webhooks: Vec<serde_json::Value> = current
        .webhooks
        .iter()
        .flatten()
        .map(|w| {
            let mut config = serde_json::to_value(&w.client_config).unwrap_or_default();
            config["caBundle"] = serde_json::to_value(&bundle).unwrap_or_default();
            serde_json::json!({"name": w.name, "clientConfig": config})
        })
        .collect();
    let patch = serde_json::json!({"webhooks": webhooks});
    api.patch(name, &PatchParams::default(), &Patch::Strategic(&patch))
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn review_of(object: serde_json::Value) -> serde_json::Value {
        let request = serde_json::json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": "u-1",
                "kind": {"group": "machinelearning.seldon.io", "version": "v1", "kind": "SeldonDeployment"},
                "resource": {"group": "machinelearning.seldon.io", "version": "v1", "resource": "seldondeployments"},
                "operation": "CREATE",
                "userInfo": {},
                "object": object,
            }
        });
        let out = review(&Settings::default(), request.to_string().as_bytes());
        serde_json::from_slice(&out).expect("json")
    }

    #[test]
    fn a_bad_sdep_is_denied_with_every_problem() {
        let bad = serde_json::json!({
            "apiVersion": "machinelearning.seldon.io/v1", "kind": "SeldonDeployment",
            "metadata": {"name": "abtest", "namespace": "seldon"},
            "spec": {"predictors": [
                {"name": "p1", "traffic": 50, "graph": {"name": "m", "type": "MODEL", "implementation": "SIMPLE_MODEL"}},
                {"name": "p1", "traffic": 40, "graph": {"name": "m", "type": "MODEL", "implementation": "SIMPLE_MODEL"}}
            ]}
        });
        let answer = review_of(bad);
        let response = &answer["response"];
        assert_eq!(response["uid"], "u-1");
        assert_eq!(response["allowed"], false);
        let message = response["status"]["message"].as_str().expect("message");
        assert!(
            message.contains("spec.predictors[1].name: invalid value \"p1\": duplicate predictor name"),
            "{message}"
        );
        assert!(message.contains("sums to 90"), "{message}");
        assert!(!message.contains("<admission>"), "no positions: {message}");
    }

    #[test]
    fn a_good_sdep_is_admitted_with_its_warnings() {
        let good = serde_json::json!({
            "apiVersion": "machinelearning.seldon.io/v1", "kind": "SeldonDeployment",
            "metadata": {"name": "iris", "namespace": "seldon"},
            "spec": {"predictors": [
                {"name": "default", "replica": 2, "graph": {"name": "m", "type": "MODEL", "implementation": "SIMPLE_MODEL"}}
            ]}
        });
        let answer = review_of(good);
        assert_eq!(answer["response"]["allowed"], true);
        let warnings = answer["response"]["warnings"].as_array().expect("warnings");
        assert!(
            warnings[0]
                .as_str()
                .is_some_and(|w| w.contains("spec.predictors[0].replica")),
            "{warnings:?}"
        );
    }

    #[test]
    fn garbage_is_an_invalid_review() {
        let out: serde_json::Value =
            serde_json::from_slice(&review(&Settings::default(), b"{}")).expect("json");
        assert_eq!(out["response"]["allowed"], false);
    }

    #[test]
    fn self_signed_certificates_serve_tls() {
        let cert = self_signed(&["sluice-webhook.seldon-system.svc".to_string()]).expect("certificate");
        assert!(cert.ca_pem.contains("BEGIN CERTIFICATE"));
        tls_config(&cert).expect("usable by rustls");
    }
}
