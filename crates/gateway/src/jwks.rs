//! The keys of `jwksUri` rules: fetched over HTTP or HTTPS with the rule's timeout, cached,
//! and refreshed in the background, as istiod does for an Envoy gateway (spec §6.4). Until
//! a URI's first successful fetch, tokens for it fail (Istio's fail-closed placeholder);
//! requests without tokens are not affected.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use sluice_mesh::security::jwt::parse_jwks;
use sluice_mesh::security::jwt_keys::JwkSet;

/// How often fetched keys are refreshed (istiod's default).
pub const REFRESH: Duration = Duration::from_secs(20 * 60);
/// How soon a failed fetch is retried.
pub const RETRY: Duration = Duration::from_secs(5);
/// The largest JWKS document accepted.
const MAX_BYTES: usize = 1 << 20;

/// The HTTP(S) client keys are fetched with.
type HttpsClient = Client<HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// Fetched key sets by URI.
#[derive(Clone, Default)]
pub struct Jwks {
    keys: Arc<Mutex<BTreeMap<String, Arc<JwkSet>>>>,
    watched: Arc<Mutex<BTreeSet<String>>>,
    /// Made at the first fetch: reading and parsing the system's root certificates costs
    /// every gateway start 19 million instructions and keeps them in memory, while most
    /// configurations have no `jwksUri` to fetch.
    client: Arc<tokio::sync::OnceCell<HttpsClient>>,
}

impl std::fmt::Debug for Jwks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwks").finish_non_exhaustive()
    }
}

/// A client for `http` and `https` URIs, trusting the system's root certificates (none
/// found: only `http` URIs can be fetched).
fn https_client() -> HttpsClient {
    // An explicit provider: rustls cannot pick a default when another crate in the
    // build (object_store's reqwest) enables its `ring` feature beside `aws-lc-rs`.
    let provider = || Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(provider())
        .unwrap_or_else(|_| {
            // No system roots: only keys over plain http can be fetched.
            hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(
                rustls::ClientConfig::builder_with_provider(provider())
                    .with_safe_default_protocol_versions()
                    .expect("aws-lc-rs supports TLS 1.2 and 1.3")
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth(),
            )
        })
        .https_or_http()
        .enable_http1()
        .build();
    Client::builder(TokioExecutor::new()).build(https)
}

impl Jwks {
    /// The keys fetched from `uri`, once a fetch succeeded.
    pub fn get(&self, uri: &str) -> Option<Arc<JwkSet>> {
        self.keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(uri)
            .cloned()
    }

    /// Start fetching (and refreshing) every URI not fetched yet.
    pub fn watch(&self, uris: impl IntoIterator<Item = (String, Duration)>) {
        for (uri, timeout) in uris {
            if !self
                .watched
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(uri.clone())
            {
                continue;
            }
            let this = self.clone();
            tokio::spawn(async move {
                loop {
                    let wait = match this.fetch(&uri, timeout).await {
                        Ok(set) => {
                            this.keys
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .insert(uri.clone(), Arc::new(set));
                            REFRESH
                        }
                        Err(e) => {
                            tracing::warn!(
                                "jwksUri {uri}: {e}; tokens for it are refused until a fetch succeeds (retrying)"
                            );
                            RETRY
                        }
                    };
                    tokio::time::sleep(wait).await;
                }
            });
        }
    }

    /// Fetch once.
    async fn fetch(&self, uri: &str, timeout: Duration) -> Result<JwkSet, String> {
        let uri: http::Uri = uri.parse().map_err(|e| format!("not a URL: {e}"))?;
        // The certificates are read off the runtime's workers, which serve requests.
        let client = self
            .client
            .get_or_try_init(|| async {
                tokio::task::spawn_blocking(https_client)
                    .await
                    .map_err(|e| format!("cannot make the HTTPS client: {e}"))
            })
            .await?;
        let response = tokio::time::timeout(timeout, client.get(uri))
            .await
            .map_err(|_| format!("no answer within {timeout:?}"))?
            .map_err(|e| format!("cannot fetch: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("answered {}", response.status()));
        }
        let body = tokio::time::timeout(timeout, Limited::new(response.into_body(), MAX_BYTES).collect())
            .await
            .map_err(|_| format!("no answer within {timeout:?}"))?
            .map_err(|e| format!("cannot read the answer: {e}"))?
            .to_bytes();
        parse_jwks(&String::from_utf8_lossy(&body))
    }
}
