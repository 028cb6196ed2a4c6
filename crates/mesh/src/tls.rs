//! Gateway servers that terminate TLS (spec §3.3, §3.5): what each `HTTPS` server asks of
//! the handshake, where its certificate comes from (a Kubernetes `Secret` named by
//! `credentialName`, as `kubectl create secret tls` writes it, or file paths), and
//! everything Istio's admission or the local gateway would refuse, each at its field.
//!
//! Certificates from Secrets are checked here (they are part of the configuration);
//! certificates named by path are read and checked by the gateway.

use std::collections::BTreeMap;
use std::path::PathBuf;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sluice_api::istio::{Server, ServerTlsMode, TlsProtocol};
use sluice_api::k8s_openapi::api::core::v1::Secret;

use crate::diagnostic::{self, Diagnostic, ObjectRef};

/// How the client is authenticated in the handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// `SIMPLE`: no client certificate.
    None,
    /// `MUTUAL`: a client certificate signed by the CA is required.
    Required,
    /// `OPTIONAL_MUTUAL`: a client certificate is checked when sent.
    Optional,
}

/// Where a server's certificate, key and client CA are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// PEM from a Secret of the configuration.
    Pem {
        /// The certificate chain.
        cert: Vec<u8>,
        /// The private key.
        key: Vec<u8>,
        /// The CA for client certificates.
        ca: Option<Vec<u8>>,
        /// `Secret ns/name`, for messages.
        origin: String,
    },
    /// File paths (`serverCertificate`, `privateKey`, `caCertificates`).
    Files {
        /// The certificate chain.
        cert: PathBuf,
        /// The private key.
        key: PathBuf,
        /// The CA for client certificates.
        ca: Option<PathBuf>,
    },
}

/// The TLS a gateway server terminates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerTls {
    /// Client certificates.
    pub client_auth: ClientAuth,
    /// Certificate and key.
    pub credential: Credential,
    /// Lowest TLS version (1.2 or 1.3); `None`: 1.2.
    pub min_version: Option<u8>,
    /// Highest TLS version; `None`: 1.3.
    pub max_version: Option<u8>,
    /// Accepted client certificate SANs (any of them); empty: any.
    pub subject_alt_names: Vec<String>,
    /// Accepted base64 SHA-256 hashes of client certificate SPKIs; empty: any.
    pub verify_certificate_spki: Vec<String>,
    /// Accepted hex SHA-256 hashes of client certificates; empty: any.
    pub verify_certificate_hash: Vec<String>,
    /// The Gateway of this server, and the server's field path, for diagnostics.
    pub object: ObjectRef,
    /// `spec.servers[i]`.
    pub at: String,
}

impl ServerTls {
    /// Whether a connection whose handshake was made under `then` may go on under this
    /// server: the same client authentication (mode, CA, pins) and protocol versions. The
    /// server's own certificate may differ: a renewed certificate keeps connections.
    pub fn admits_connections_of(&self, then: &ServerTls) -> bool {
        let ca = |c: &Credential| match c {
            Credential::Pem { ca, .. } => ca.clone().map(Ok),
            Credential::Files { ca, .. } => ca.clone().map(Err),
        };
        self.client_auth == then.client_auth
            && ca(&self.credential) == ca(&then.credential)
            && self.min_version == then.min_version
            && self.max_version == then.max_version
            && self.subject_alt_names == then.subject_alt_names
            && self.verify_certificate_spki == then.verify_certificate_spki
            && self.verify_certificate_hash == then.verify_certificate_hash
    }
}

/// Secrets by `namespace/name`.
pub type Secrets<'a> = BTreeMap<(String, String), &'a Secret>;

/// A Secret's value under the first of `keys` (from `data` or `stringData`).
fn secret_value(secret: &Secret, keys: &[&str]) -> Option<(String, Vec<u8>)> {
    keys.iter().find_map(|k| {
        secret
            .data
            .as_ref()
            .and_then(|d| d.get(*k))
            .map(|v| (k.to_string(), v.0.clone()))
            .or_else(|| {
                secret
                    .string_data
                    .as_ref()
                    .and_then(|d| d.get(*k))
                    .map(|v| (k.to_string(), v.clone().into_bytes()))
            })
    })
}

fn version(p: Option<TlsProtocol>) -> Result<Option<u8>, String> {
    match p {
        None | Some(TlsProtocol::TlsAuto) => Ok(None),
        Some(TlsProtocol::TlsV1_2) => Ok(Some(2)),
        Some(TlsProtocol::TlsV1_3) => Ok(Some(3)),
        Some(other) => Err(format!(
            "{other:?}: sluice serves TLS 1.2 and 1.3 only (TLSV1_2, TLSV1_3 or TLS_AUTO)"
        )),
    }
}

/// Check certificate and key PEM from a Secret; problems are placed at the Secret's keys.
fn check_pem(
    secret: &ObjectRef,
    cert: &(String, Vec<u8>),
    key: &(String, Vec<u8>),
    diagnostics: &mut Vec<Diagnostic>,
) {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&cert.1).collect();
    if certs.is_empty() || certs.iter().any(Result::is_err) {
        diagnostics.push(diagnostic::error(
            secret,
            format!("data[{:?}]", cert.0),
            "not a PEM certificate chain (-----BEGIN CERTIFICATE-----)",
        ));
    }
    if PrivateKeyDer::from_pem_slice(&key.1).is_err() {
        diagnostics.push(diagnostic::error(
            secret,
            format!("data[{:?}]", key.0),
            "not a PEM private key (PKCS#8, PKCS#1 or SEC1)",
        ));
    }
}

fn check_ca(secret: &ObjectRef, ca: &(String, Vec<u8>), diagnostics: &mut Vec<Diagnostic>) {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&ca.1).collect();
    if certs.is_empty() || certs.iter().any(Result::is_err) {
        diagnostics.push(diagnostic::error(
            secret,
            format!("data[{:?}]", ca.0),
            "not PEM CA certificates (-----BEGIN CERTIFICATE-----)",
        ));
    }
}

/// The TLS of an `HTTPS` server, or `None` with the reasons in `diagnostics`.
/// `namespace` is the gateway workload's: `credentialName` Secrets are looked up there.
pub fn server_tls(
    object: &ObjectRef,
    at: &str,
    server: &Server,
    namespace: &str,
    secrets: &Secrets<'_>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<ServerTls> {
    let before = diagnostics.len();
    let err = |d: &mut Vec<Diagnostic>, field: &str, m: String| {
        d.push(diagnostic::error(object, format!("{at}.tls{field}"), m));
    };
    let Some(tls) = &server.tls else {
        diagnostics.push(diagnostic::error(
            object,
            format!("{at}.tls"),
            "an HTTPS server needs tls (mode: SIMPLE and a credentialName, for instance)",
        ));
        return None;
    };
    let client_auth = match tls.mode {
        Some(ServerTlsMode::Simple) => ClientAuth::None,
        Some(ServerTlsMode::Mutual) => ClientAuth::Required,
        Some(ServerTlsMode::OptionalMutual) => ClientAuth::Optional,
        None | Some(ServerTlsMode::Passthrough) => {
            err(
                diagnostics,
                ".mode",
                format!(
                    "{}: PASSTHROUGH (Istio's default mode) forwards TLS unterminated by SNI, which the local gateway does not do; set mode: SIMPLE or MUTUAL to terminate TLS here",
                    if tls.mode.is_none() {
                        "mode is not set"
                    } else {
                        "PASSTHROUGH"
                    }
                ),
            );
            return None;
        }
        Some(ServerTlsMode::AutoPassthrough) => {
            err(
                diagnostics,
                ".mode",
                "AUTO_PASSTHROUGH is for mesh-internal east-west gateways; the local gateway terminates TLS only (SIMPLE, MUTUAL, OPTIONAL_MUTUAL)".into(),
            );
            return None;
        }
        Some(ServerTlsMode::IstioMutual) => {
            err(
                diagnostics,
                ".mode",
                "ISTIO_MUTUAL needs Istio's mesh certificates, which do not exist locally; use MUTUAL with your own CA".into(),
            );
            return None;
        }
    };
    let (min_version, max_version) = match (
        version(tls.min_protocol_version),
        version(tls.max_protocol_version),
    ) {
        (Ok(min), Ok(max)) => {
            if let (Some(lo), Some(hi)) = (min, max)
                && lo > hi
            {
                err(
                    diagnostics,
                    ".minProtocolVersion",
                    "minProtocolVersion is above maxProtocolVersion".into(),
                );
            }
            (min, max)
        }
        (min, max) => {
            if let Err(e) = &min {
                err(diagnostics, ".minProtocolVersion", e.clone());
            }
            if let Err(e) = &max {
                err(diagnostics, ".maxProtocolVersion", e.clone());
            }
            (None, None)
        }
    };
    if !tls.credential_names.is_empty() || !tls.tls_certificates.is_empty() {
        err(
            diagnostics,
            if tls.credential_names.is_empty() { ".tlsCertificates" } else { ".credentialNames" },
            "several certificates per server are not supported by sluice yet; use one credentialName (or serverCertificate and privateKey)".into(),
        );
    }
    if tls.ca_crl.is_some() {
        err(
            diagnostics,
            ".caCrl",
            "certificate revocation lists are not supported by sluice yet; remove caCrl or the revoked certificates' CA".into(),
        );
    }
    if tls.insecure_skip_verify == Some(true) {
        err(
            diagnostics,
            ".insecureSkipVerify",
            "insecureSkipVerify is not supported by sluice; use OPTIONAL_MUTUAL to accept clients without certificates".into(),
        );
    }
    for (field, list) in [
        (".cipherSuites", &tls.cipher_suites),
        (".ecdhCurves", &tls.ecdh_curves),
    ] {
        if !list.is_empty() {
            diagnostics.push(diagnostic::warning(
                object,
                format!("{at}.tls{field}"),
                "not applied by the local gateway: rustls offers only modern cipher suites and curves",
            ));
        }
    }
    let files = tls.server_certificate.is_some() || tls.private_key.is_some();
    let credential = match (&tls.credential_name, files) {
        (Some(_), true) => {
            err(
                diagnostics,
                ".credentialName",
                "set credentialName or serverCertificate/privateKey, not both".into(),
            );
            None
        }
        (Some(name), false) => from_secret(
            object,
            at,
            tls,
            name,
            client_auth,
            namespace,
            secrets,
            diagnostics,
        ),
        (None, _) => match (&tls.server_certificate, &tls.private_key) {
            (Some(cert), Some(key)) => {
                let ca = tls.ca_certificates.as_ref().map(PathBuf::from);
                if ca.is_none() && client_auth != ClientAuth::None {
                    err(
                        diagnostics,
                        ".caCertificates",
                        "MUTUAL and OPTIONAL_MUTUAL verify client certificates against caCertificates; set it".into(),
                    );
                }
                Some(Credential::Files {
                    cert: PathBuf::from(cert),
                    key: PathBuf::from(key),
                    ca,
                })
            }
            (cert, _) => {
                err(
                    diagnostics,
                    if cert.is_none() {
                        ".serverCertificate"
                    } else {
                        ".privateKey"
                    },
                    "a TLS server needs a credentialName, or serverCertificate and privateKey".into(),
                );
                None
            }
        },
    };
    if diagnostics[before..].iter().any(Diagnostic::is_error) {
        return None;
    }
    Some(ServerTls {
        client_auth,
        credential: credential?,
        min_version,
        max_version,
        subject_alt_names: tls.subject_alt_names.clone(),
        verify_certificate_spki: tls.verify_certificate_spki.clone(),
        verify_certificate_hash: tls
            .verify_certificate_hash
            .iter()
            .map(|h| h.replace(':', "").to_ascii_lowercase())
            .collect(),
        object: object.clone(),
        at: at.to_string(),
    })
}

/// `credentialName`: the Secret's certificate and key, and for client certificates its CA
/// (`ca.crt`/`cacert`) or the `NAME-cacert` Secret's (or `caCertCredentialName`'s).
#[allow(clippy::too_many_arguments)]
fn from_secret(
    object: &ObjectRef,
    at: &str,
    tls: &sluice_api::istio::ServerTlsSettings,
    name: &str,
    client_auth: ClientAuth,
    namespace: &str,
    secrets: &Secrets<'_>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Credential> {
    let field = format!("{at}.tls.credentialName");
    let Some(secret) = secrets.get(&(namespace.to_string(), name.to_string())) else {
        let elsewhere: Vec<&str> = secrets
            .keys()
            .filter(|(_, n)| n == name)
            .map(|(ns, _)| ns.as_str())
            .collect();
        let hint = if elsewhere.is_empty() {
            format!(
                "add it to the files, e.g. the output of `kubectl create secret tls {name} -n {namespace} --cert=fullchain.pem --key=privkey.pem --dry-run=client -o yaml`"
            )
        } else {
            format!(
                "a Secret of that name is in namespace {}; the gateway reads Secrets of its own namespace {namespace}",
                elsewhere.join(", ")
            )
        };
        diagnostics.push(diagnostic::error(
            object,
            field,
            format!("no Secret {namespace}/{name} in the configuration; {hint}"),
        ));
        return None;
    };
    let secret_ref = ObjectRef::of("Secret", &secret.metadata);
    let cert = secret_value(secret, &["tls.crt", "cert"]);
    let key = secret_value(secret, &["tls.key", "key"]);
    let (Some(cert), Some(key)) = (cert, key) else {
        diagnostics.push(diagnostic::error(
            &secret_ref,
            "data",
            "a certificate Secret holds tls.crt and tls.key (kubernetes.io/tls) or cert and key",
        ));
        return None;
    };
    check_pem(&secret_ref, &cert, &key, diagnostics);
    let mut ca = None;
    if client_auth != ClientAuth::None {
        let ca_name = tls
            .ca_cert_credential_name
            .clone()
            .unwrap_or_else(|| format!("{name}-cacert"));
        let own = secret_value(secret, &["ca.crt", "cacert"]).map(|v| (secret_ref.clone(), v));
        let separate = secrets
            .get(&(namespace.to_string(), ca_name.clone()))
            .and_then(|s| {
                secret_value(s, &["ca.crt", "cacert"]).map(|v| (ObjectRef::of("Secret", &s.metadata), v))
            });
        let found = if tls.ca_cert_credential_name.is_some() {
            separate.or(own)
        } else {
            own.or(separate)
        };
        match found {
            Some((origin, value)) => {
                check_ca(&origin, &value, diagnostics);
                ca = Some(value.1);
            }
            None => {
                diagnostics.push(diagnostic::error(
                    object,
                    field,
                    format!(
                        "MUTUAL and OPTIONAL_MUTUAL need a CA for client certificates: ca.crt in Secret {namespace}/{name}, or a Secret {namespace}/{ca_name} with ca.crt"
                    ),
                ));
                return None;
            }
        }
    }
    Some(Credential::Pem {
        cert: cert.1,
        key: key.1,
        ca,
        origin: format!("Secret {namespace}/{name}"),
    })
}
