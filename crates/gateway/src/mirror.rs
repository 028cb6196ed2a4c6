//! Mirrored requests: fire-and-forget copies that never delay or change the primary.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request};
use sluice_mesh::{Cluster, UpstreamProtocol};
use tokio::sync::Semaphore;

use crate::full;
use crate::headers::{X_ENVOY_ATTEMPT_COUNT, X_ENVOY_INTERNAL, X_FORWARDED_FOR};
use crate::upstream::{Balancer, Clients};

/// Mirrors in flight at once; more are dropped rather than queued.
pub(crate) const MAX_IN_FLIGHT: usize = 256;
/// Mirrors give up after this when the route has no timeout.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// What a mirror needs: the request after route processing, with its body.
pub(crate) struct Copy {
    pub(crate) method: Method,
    pub(crate) uri: http::Uri,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) timeout: Option<Duration>,
    /// The gateway's address on the client's connection (appended to `x-forwarded-for`).
    pub(crate) local: std::net::SocketAddr,
}

impl Copy {
    /// The headers of the copy as Envoy's shadow writer sends it: an internal request
    /// from the gateway itself, first try.
    fn headers(&self) -> HeaderMap {
        let mut headers = self.headers.clone();
        let local = self.local.ip().to_string();
        let xff = match headers.get(X_FORWARDED_FOR) {
            Some(existing) => {
                HeaderValue::from_bytes(&[existing.as_bytes(), b",", local.as_bytes()].concat())
            }
            None => HeaderValue::try_from(local),
        };
        if let Ok(v) = xff {
            headers.insert(X_FORWARDED_FOR, v);
        }
        headers.insert(X_ENVOY_INTERNAL, HeaderValue::from_static("true"));
        headers.insert(X_ENVOY_ATTEMPT_COUNT, HeaderValue::from(1));
        headers
    }
}

/// Send `copy` to each cluster in the background. Returns at once.
pub(crate) fn send(
    copy: Copy,
    clusters: Vec<Arc<Cluster>>,
    clients: &Clients,
    balancer: &Arc<Balancer>,
    limit: &Arc<Semaphore>,
) {
    let headers = copy.headers();
    for cluster in clusters {
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            tracing::debug!(cluster = %cluster.name, "mirror dropped: too many in flight");
            continue;
        };
        let h2 = cluster.protocol == UpstreamProtocol::Http2;
        let clients = clients.clone();
        let balancer = balancer.clone();
        let mut builder = Request::builder()
            .method(copy.method.clone())
            .uri(copy.uri.clone());
        if let Some(h) = builder.headers_mut() {
            *h = headers.clone();
        }
        let Ok(request) = builder.body(full(copy.body.clone())) else {
            continue;
        };
        let timeout = copy.timeout.unwrap_or(DEFAULT_TIMEOUT);
        tokio::spawn(async move {
            let _permit = permit;
            let Some(pick) = balancer.pick(&cluster, &[]) else {
                return;
            };
            // The response is read and dropped; errors are ignored, as Istio does.
            let sent = clients.request(h2, pick.endpoint.authority(), request);
            if let Ok(Ok(response)) = tokio::time::timeout(timeout, sent).await {
                use http_body_util::BodyExt;
                let _ = tokio::time::timeout(timeout, response.into_body().collect()).await;
            }
        });
    }
}
