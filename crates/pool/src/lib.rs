//! Connections to HTTP upstreams, by endpoint (`host:port`): [`Http1Pool`] keeps HTTP/1.1
//! keep-alive connections, each carrying one request at a time and given back when its
//! response has been read to the end; [`Http2Pool`] keeps one HTTP/2 (prior knowledge)
//! connection per endpoint, carrying many streams.
//!
//! Keyed by the endpoint rather than by the request URI, a request's `Host` (or
//! `:authority`) is free to be the routed host while the connection goes to the endpoint
//! a balancer chose. The gateway sends its upstream requests here, and the orchestrator
//! its calls to REST components.
//!
//! ```text
//!  http1  — the keep-alive pool: take, send (once more on a new connection if a reused
//!           one closed before the request left), give back when the body ends
//!  http2  — one connection per endpoint, made again when it fails
//! ```

mod http1;
mod http2;

use std::time::Duration;

use hyper_util::rt::TokioIo;

pub use http1::Http1Pool;
pub use http2::Http2Pool;

/// The body type of requests and responses through the pools.
pub type Body = http_body_util::combinators::BoxBody<bytes::Bytes, BoxError>;
/// Boxed errors from bodies and connections.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A body holding `bytes`.
pub fn full(bytes: impl Into<bytes::Bytes>) -> Body {
    use http_body_util::BodyExt;
    http_body_util::Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// A map looked up per request: hashed with foldhash, seeded at random per process, at a
/// fraction of SipHash's cost for these short keys.
type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// Istio's default connect timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why an upstream request failed.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// No connection could be made to the endpoint.
    #[error("connect: {0}")]
    Connect(#[source] BoxError),
    /// The connection failed or the stream was reset.
    #[error("{0}")]
    Request(#[source] BoxError),
}

impl SendError {
    /// Did the connection fail (rather than the request on it)?
    pub fn is_connect(&self) -> bool {
        matches!(self, SendError::Connect(_))
    }

    /// Did the upstream refuse the HTTP/2 stream (REFUSED_STREAM)?
    pub fn is_refused_stream(&self) -> bool {
        matches!(self, SendError::Request(e) if refused_stream(e.as_ref()))
    }

    /// Envoy's words for the reset reason.
    pub fn reset_reason(&self) -> &'static str {
        match self {
            SendError::Connect(e) if is_timeout(e.as_ref()) => "connection timeout",
            SendError::Connect(_) => "remote connection failure",
            SendError::Request(e) if refused_stream(e.as_ref()) => "remote refused stream reset",
            SendError::Request(_) => "remote reset",
        }
    }
}

fn is_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(error);
    while let Some(e) = source {
        if e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
            || e.to_string().contains("timed out")
        {
            return true;
        }
        source = e.source();
    }
    false
}

fn refused_stream(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(error);
    while let Some(e) = source {
        if let Some(h2) = e.downcast_ref::<h2::Error>() {
            return h2.reason() == Some(h2::Reason::REFUSED_STREAM);
        }
        source = e.source();
    }
    false
}

/// The `Host` an HTTP/1.1 client names `endpoint` (`host:port`) by: without the default
/// port `:80`.
pub fn host_of(endpoint: &str) -> Result<http::HeaderValue, http::header::InvalidHeaderValue> {
    http::HeaderValue::try_from(endpoint.strip_suffix(":80").unwrap_or(endpoint))
}

/// A TCP connection to `endpoint`, without Nagle's delay.
async fn connect(endpoint: &str) -> Result<TokioIo<tokio::net::TcpStream>, SendError> {
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(endpoint))
        .await
        .map_err(|_| SendError::Connect("connection timed out".into()))?
        .map_err(|e| SendError::Connect(e.into()))?;
    let _ = stream.set_nodelay(true);
    Ok(TokioIo::new(stream))
}
