//! Metrics and the access log are written when the response body completes — as Envoy
//! records them — so streamed and chunked responses count their real duration and size.
//!
//! ```text
//!  response headers decided ──> Recorded { body, measured, started } ──> client reads the body
//!                                                                            │ last frame, error, or drop
//!                                                                            v
//!                               metrics.series(key).record(duration, request bytes, response bytes)
//!                               access_log.write(line)
//! ```

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use hyper::body::{Frame, SizeHint};

use sluice_mesh::Cluster;

use crate::metrics::SeriesKey;
use crate::server::Shared;
use crate::{Body, BoxError};

/// What is written once the response is complete.
pub(crate) struct Finish {
    pub(crate) shared: Arc<Shared>,
    /// What the request's metric series is found by, when the response completes (a
    /// series appears with its first finished request, as Envoy's do).
    pub(crate) measured: Measured,
    pub(crate) started: Instant,
    /// Bytes of the request body read so far (shared with the request body's counter).
    pub(crate) request_bytes: Arc<AtomicU64>,
    /// The access log line's fields known at the response headers, when logging.
    pub(crate) log: Option<serde_json::Map<String, serde_json::Value>>,
}

impl Finish {
    fn write(self, response_bytes: u64) {
        let millis = self.started.elapsed().as_secs_f64() * 1000.0;
        let request_bytes = self.request_bytes.load(Ordering::Relaxed);
        let options = &self.shared.options;
        self.shared
            .metrics
            .series(&self.measured.key(&options.workload, &options.proxy.namespace))
            .record(millis, request_bytes, response_bytes);
        if let (Some(mut line), Some(log)) = (self.log, &self.shared.access_log) {
            line.insert("bytes_received".into(), request_bytes.into());
            line.insert("bytes_sent".into(), response_bytes.into());
            line.insert("duration".into(), (millis.round() as u64).into());
            log.write(serde_json::Value::Object(line).to_string());
        }
    }
}

/// The request's own part of its metric labels: cheap to keep until the response
/// completes (the cluster is shared, the rest is copied), the gateway's own labels added then.
pub(crate) struct Measured {
    /// The upstream service, when the request was routed to one.
    pub(crate) service: Option<Arc<Cluster>>,
    pub(crate) grpc: bool,
    pub(crate) response_code: u16,
    /// A real gRPC code from the response, for gRPC.
    pub(crate) grpc_status: Option<u32>,
    pub(crate) response_flags: &'static str,
}

impl Measured {
    /// The upstream service host, or `unknown`.
    pub(crate) fn service(&self) -> &str {
        self.service.as_deref().map_or("unknown", |c| c.host.as_str())
    }

    fn key<'a>(&'a self, workload: &'a str, namespace: &'a str) -> SeriesKey<'a> {
        SeriesKey {
            workload,
            namespace,
            service: self.service(),
            grpc: self.grpc,
            response_code: self.response_code,
            grpc_status: self.grpc_status,
            response_flags: self.response_flags,
        }
    }
}

/// A response body that counts what it sends and records the exchange when it ends
/// (last frame, error, or dropped by a client that went away).
pub(crate) struct Recorded {
    inner: Body,
    sent: u64,
    finish: Option<Finish>,
}

impl Recorded {
    pub(crate) fn new(inner: Body, finish: Finish) -> Self {
        Recorded {
            inner,
            sent: 0,
            finish: Some(finish),
        }
    }

    fn done(&mut self) {
        if let Some(finish) = self.finish.take() {
            finish.write(self.sent);
        }
    }
}

impl Drop for Recorded {
    fn drop(&mut self) {
        self.done();
    }
}

impl hyper::body::Body for Recorded {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.sent += data.len() as u64;
                }
                if self.inner.is_end_stream() {
                    self.done();
                }
            }
            Poll::Ready(None | Some(Err(_))) => self.done(),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A request body that counts the bytes read from it.
pub(crate) struct Counted<B> {
    pub(crate) inner: B,
    pub(crate) read: Arc<AtomicU64>,
}

impl<B> hyper::body::Body for Counted<B>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            self.read.fetch_add(data.len() as u64, Ordering::Relaxed);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
