//! TLS termination for `HTTPS` Gateway servers (spec §3.3, §8): one rustls server
//! configuration per TLS server of a port, chosen by the ClientHello's SNI before the
//! handshake; client certificates for `MUTUAL`/`OPTIONAL_MUTUAL` checked against the CA and
//! the server's `subjectAltNames`/`verifyCertificateSpki`/`verifyCertificateHash`; the
//! client certificate's identity and `x-forwarded-client-cert` for the request.
//!
//! Configurations are built when a table is swapped in; connections keep the one they
//! started with, so rotating a certificate never breaks a connection in flight.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sluice_api::Diagnostic;
use sluice_api::document::FieldPath;
use sluice_mesh::RouteTable;
use sluice_mesh::tls::{ClientAuth, Credential, ServerTls};

use crate::proxy::TlsInfo;

/// The rustls configurations of a table's TLS servers, by port, in chain order, with the
/// table they were built for: a handshake picks its server and its configuration from
/// the same table, whatever reload happens meanwhile.
#[derive(Clone, Debug, Default)]
pub struct TlsConfigs {
    table: Arc<RouteTable>,
    ports: BTreeMap<u16, Vec<Arc<ServerConfig>>>,
}

impl TlsConfigs {
    /// The configurations for a table being put in service.
    pub(crate) fn serving(table: Arc<RouteTable>) -> Result<TlsConfigs, Vec<Diagnostic>> {
        let ports = build(&table)?;
        Ok(TlsConfigs { table, ports })
    }

    /// For a table whose certificates could not be built: its TLS ports refuse every
    /// handshake (never plain text in their place).
    pub(crate) fn refusing(table: Arc<RouteTable>) -> TlsConfigs {
        TlsConfigs {
            table,
            ports: BTreeMap::new(),
        }
    }

    /// Build every TLS server of `table`, only to find its problems: certificate
    /// problems are diagnostics at the Gateway server's field.
    pub fn check(table: &RouteTable) -> Result<(), Vec<Diagnostic>> {
        build(table).map(|_| ())
    }

    /// The table these configurations are for.
    pub(crate) fn table(&self) -> &Arc<RouteTable> {
        &self.table
    }

    /// Whether `port` speaks TLS.
    pub(crate) fn is_tls(&self, port: u16) -> bool {
        self.table.listener(port).is_some_and(|l| !l.tls.is_empty())
    }

    /// The configuration of `port`'s TLS server `chain`.
    pub(crate) fn config(&self, port: u16, chain: usize) -> Option<&Arc<ServerConfig>> {
        self.ports.get(&port)?.get(chain)
    }
}

fn build(table: &RouteTable) -> Result<BTreeMap<u16, Vec<Arc<ServerConfig>>>, Vec<Diagnostic>> {
    let mut ports = BTreeMap::new();
    let mut problems = Vec::new();
    for port in table.ports() {
        let Some(listener) = table.listener(port) else {
            continue;
        };
        let mut configs = Vec::new();
        for chain in &listener.tls {
            match server_config(&chain.tls) {
                Ok(c) => configs.push(Arc::new(c)),
                Err((field, message)) => problems.push(
                    Diagnostic::error(
                        FieldPath::parse(&format!("{}.tls.{field}", chain.tls.at)),
                        message,
                    )
                    .in_object(chain.tls.object.clone()),
                ),
            }
        }
        if !configs.is_empty() {
            ports.insert(port, configs);
        }
    }
    if problems.is_empty() {
        Ok(ports)
    } else {
        Err(problems)
    }
}

/// The certificate, key and CA files a table's TLS servers name by path: a change to
/// them reloads the configuration, as a change to the configuration files does.
pub fn credential_files(table: &RouteTable) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for port in table.ports() {
        for chain in table.listener(port).map_or(&[][..], |l| &l.tls[..]) {
            if let Credential::Files { cert, key, ca } = &chain.tls.credential {
                files.extend([cert.clone(), key.clone()]);
                files.extend(ca.clone());
            }
        }
    }
    files.sort();
    files.dedup();
    files
}

/// A problem with a server's TLS: the `tls` field to blame and what is wrong.
type Problem = (&'static str, String);

/// A credential's PEM: certificate chain, key, CA, and the field to blame for them.
struct Material {
    cert: Vec<u8>,
    key: Vec<u8>,
    ca: Option<Vec<u8>>,
    field: &'static str,
}

/// The PEM of a credential, read from its files when given by path.
fn read(credential: &Credential) -> Result<Material, Problem> {
    match credential {
        Credential::Pem { cert, key, ca, .. } => Ok(Material {
            cert: cert.clone(),
            key: key.clone(),
            ca: ca.clone(),
            field: "credentialName",
        }),
        Credential::Files { cert, key, ca } => {
            let file = |field: &'static str, path: &std::path::Path| {
                std::fs::read(path).map_err(|e| (field, format!("cannot read {}: {e}", path.display())))
            };
            Ok(Material {
                cert: file("serverCertificate", cert)?,
                key: file("privateKey", key)?,
                ca: ca.as_deref().map(|p| file("caCertificates", p)).transpose()?,
                field: "serverCertificate",
            })
        }
    }
}

fn server_config(tls: &ServerTls) -> Result<ServerConfig, Problem> {
    let Material { cert, key, ca, field } = read(&tls.credential)?;
    let origin = match &tls.credential {
        Credential::Pem { origin, .. } => origin.clone(),
        Credential::Files { cert, .. } => cert.display().to_string(),
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert)
        .collect::<Result<_, _>>()
        .map_err(|e| (field, format!("{origin}: not a PEM certificate chain: {e}")))?;
    if chain.is_empty() {
        return Err((field, format!("{origin}: no certificate in the PEM")));
    }
    let key = PrivateKeyDer::from_pem_slice(&key).map_err(|e| {
        (
            if field == "serverCertificate" {
                "privateKey"
            } else {
                field
            },
            format!("{origin}: not a PEM private key: {e}"),
        )
    })?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let versions: Vec<&'static rustls::SupportedProtocolVersion> =
        [(2u8, &rustls::version::TLS12), (3u8, &rustls::version::TLS13)]
            .into_iter()
            .filter(|(v, _)| {
                tls.min_version.is_none_or(|m| *v >= m) && tls.max_version.is_none_or(|m| *v <= m)
            })
            .map(|(_, v)| v)
            .collect();
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| ("minProtocolVersion", e.to_string()))?;
    let builder = match tls.client_auth {
        ClientAuth::None => builder.with_no_client_auth(),
        auth => {
            let ca_field = if field == "serverCertificate" {
                "caCertificates"
            } else {
                field
            };
            let ca = ca.ok_or((ca_field, "no CA for client certificates".to_string()))?;
            let mut roots = RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(&ca) {
                let c = c.map_err(|e| (ca_field, format!("{origin}: not PEM CA certificates: {e}")))?;
                roots
                    .add(c)
                    .map_err(|e| (ca_field, format!("{origin}: a CA certificate is not usable: {e}")))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if auth == ClientAuth::Optional {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            builder.with_client_cert_verifier(
                verifier
                    .build()
                    .map_err(|e| (ca_field, format!("{origin}: {e}")))?,
            )
        }
    };
    let mut config = builder.with_single_cert(chain, key).map_err(|e| {
        (
            field,
            format!("{origin}: the certificate and key do not make a usable pair: {e}"),
        )
    })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// What a finished handshake tells the request: SNI, client identity, XFCC; `Err` when the
/// client certificate is not one the server accepts (SAN, SPKI or hash pinning).
pub(crate) fn connection_info(
    table: &Arc<RouteTable>,
    tls: &ServerTls,
    chain: usize,
    sni: Option<String>,
    peer: Option<&CertificateDer<'_>>,
) -> Result<TlsInfo, String> {
    let mut info = TlsInfo {
        sni,
        chain,
        table: table.clone(),
        ..TlsInfo::default()
    };
    let Some(cert) = peer else {
        return Ok(info);
    };
    let der = cert.as_ref();
    let hash = hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der).as_ref());
    let (_, parsed) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| format!("unreadable client certificate: {e}"))?;
    let mut uris = Vec::new();
    let mut dns = Vec::new();
    if let Ok(Some(san)) = parsed.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                x509_parser::extensions::GeneralName::URI(u) => uris.push(u.to_string()),
                x509_parser::extensions::GeneralName::DNSName(d) => dns.push(d.to_string()),
                _ => {}
            }
        }
    }
    if !tls.subject_alt_names.is_empty()
        && !uris.iter().chain(&dns).any(|n| tls.subject_alt_names.contains(n))
    {
        return Err(format!(
            "client certificate SANs {:?} are not among subjectAltNames",
            [uris.clone(), dns.clone()].concat()
        ));
    }
    if !tls.verify_certificate_hash.is_empty() && !tls.verify_certificate_hash.contains(&hash) {
        return Err("client certificate hash is not in verifyCertificateHash".to_string());
    }
    if !tls.verify_certificate_spki.is_empty() {
        let spki = base64::engine::general_purpose::STANDARD
            .encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, parsed.public_key().raw).as_ref());
        if !tls.verify_certificate_spki.contains(&spki) {
            return Err("client certificate key is not in verifyCertificateSpki".to_string());
        }
    }
    info.peer_principal = uris
        .iter()
        .find_map(|u| u.strip_prefix("spiffe://"))
        .map(str::to_string);
    let pem = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        base64::engine::general_purpose::STANDARD
            .encode(der)
            .as_bytes()
            .chunks(64)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join("\n")
    );
    let mut xfcc = format!(
        "Hash={hash};Cert=\"{}\";Subject=\"{}\"",
        url_encode(&pem),
        parsed.subject().to_string().replace('"', "\\\"")
    );
    for u in &uris {
        xfcc.push_str(&format!(";URI={u}"));
    }
    for d in &dns {
        xfcc.push_str(&format!(";DNS={d}"));
    }
    match http::HeaderValue::try_from(xfcc) {
        Ok(v) => info.xfcc = Some(v),
        Err(_) => tracing::warn!(
            "the client certificate's details do not fit a header; x-forwarded-client-cert is not set"
        ),
    }
    Ok(info)
}

/// Percent-encoding of everything but unreserved characters (Envoy's URL-encoded PEM).
fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
