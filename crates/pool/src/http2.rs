//! HTTP/2 (prior knowledge) connections, one per endpoint.

use std::sync::{Arc, Mutex};

use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::client::conn::http2;
use hyper_util::rt::TokioTimer;

use crate::{Body, BoxError, FastMap, SendError, connect};

/// HTTP/2 (prior knowledge) connections, one per endpoint, each carrying many streams.
#[derive(Clone, Debug, Default)]
pub struct Http2Pool {
    connections: Arc<Mutex<FastMap<String, http2::SendRequest<Body>>>>,
}

impl Http2Pool {
    /// A ready sender to `endpoint` (`host:port`): the pooled one, or a new connection.
    async fn sender(&self, endpoint: &str) -> Result<http2::SendRequest<Body>, SendError> {
        let pooled = self
            .connections
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(endpoint)
            .cloned();
        if let Some(mut sender) = pooled
            && sender.ready().await.is_ok()
        {
            return Ok(sender);
        }
        let (sender, connection) = http2::Builder::new(Boxed)
            .timer(TokioTimer::new())
            .handshake(connect(endpoint).await?)
            .await
            .map_err(|e| SendError::Connect(e.into()))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        self.connections
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(endpoint.to_string(), sender.clone());
        Ok(sender)
    }

    /// Send `request` (absolute URI: its authority is the `:authority`) to `endpoint`.
    pub async fn request(&self, endpoint: &str, request: Request<Body>) -> Result<Response<Body>, SendError> {
        let mut sender = self.sender(endpoint).await?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| SendError::Request(e.into()))?;
        Ok(response.map(|body| body.map_err(|e| Box::new(e) as BoxError).boxed()))
    }
}

/// Spawns hyper's tasks boxed. hyper's HTTP/2 client spawns up to two tasks per request
/// (one sends the body, when it is not sent at once; one waits for the response), each an
/// enum as large as its largest variant — the connection's own task, over a kilobyte. tokio
/// moves a spawned future into its task, and writes its stage over it when it ends: three
/// copies of that size per task. Boxed, what tokio moves is a pointer (gRPC through the
/// gateway: 2,000 fewer instructions per request, for one more allocation).
#[derive(Clone, Copy, Debug, Default)]
struct Boxed;

impl<F> hyper::rt::Executor<F> for Boxed
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        tokio::spawn(Box::pin(future));
    }
}
