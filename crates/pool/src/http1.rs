//! HTTP/1.1 keep-alive connections, by endpoint.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::{Body as _, Frame, Incoming, SizeHint};
use hyper::client::conn::http1;
use tokio::task::AbortHandle;

use crate::{Body, BoxError, FastMap, SendError, connect};

/// An idle HTTP/1.1 connection older than this is closed rather than reused: the upstream
/// may be about to close it.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The most idle HTTP/1.1 connections kept per endpoint.
const MOST_IDLE: usize = 1024;

/// How long a connection whose response has ended may go on sending its request (the
/// upstream answered before reading the whole upload) before it is closed: an upstream that
/// neither reads nor closes would otherwise hold it for good. (Shorter in tests.)
const READY_WITHIN: Duration = if cfg!(test) {
    Duration::from_millis(200)
} else {
    IDLE_TIMEOUT
};

/// HTTP/1.1 keep-alive connections. A connection is taken for one request and given back
/// when its response has been read to the end; most recently used first. Taking and
/// giving back is a lock on one map: no task, timer or hashing of the request's URI.
#[derive(Clone, Debug, Default)]
pub struct Http1Pool {
    idle: Arc<Mutex<Idle>>,
}

#[derive(Debug, Default)]
struct Idle {
    /// By endpoint, the last given back last.
    connections: FastMap<String, Vec<IdleSender>>,
    /// When connections closed or timed out were last removed from every endpoint's list.
    swept: Option<Instant>,
}

#[derive(Debug)]
struct IdleSender {
    connection: Connection,
    since: Instant,
}

/// A connection: what sends requests on it, and the task that drives it (aborted, it
/// closes the socket at once).
#[derive(Debug)]
struct Connection {
    sender: http1::SendRequest<Body>,
    task: AbortHandle,
}

impl Http1Pool {
    /// Send `request` (origin-form URI, `Host` set) on a connection to `endpoint`.
    pub async fn request(
        &self,
        endpoint: &str,
        mut request: Request<Body>,
    ) -> Result<Response<Body>, SendError> {
        if let Some(mut connection) = self.take(endpoint)
            && connection.sender.ready().await.is_ok()
        {
            match connection.sender.try_send_request(request).await {
                Ok(response) => return Ok(self.giving_back(endpoint, connection, response)),
                // The upstream closed the idle connection before the request was written:
                // it is sent once more, on a new connection (as hyper's pooled client does).
                Err(mut e) => match e.take_message() {
                    Some(unsent) => request = unsent,
                    None => return Err(SendError::Request(e.into_error().into())),
                },
            }
        }
        let (sender, driver) = http1::Builder::new()
            .handshake(connect(endpoint).await?)
            .await
            .map_err(|e| SendError::Connect(e.into()))?;
        let task = tokio::spawn(async move {
            let _ = driver.await;
        })
        .abort_handle();
        let mut connection = Connection { sender, task };
        let response = connection
            .sender
            .send_request(request)
            .await
            .map_err(|e| SendError::Request(e.into()))?;
        Ok(self.giving_back(endpoint, connection, response))
    }

    /// An idle connection to `endpoint` that is still open and not too old.
    fn take(&self, endpoint: &str) -> Option<Connection> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let list = idle.connections.get_mut(endpoint)?;
        while let Some(IdleSender { connection, since }) = list.pop() {
            if !connection.sender.is_closed() && since.elapsed() < IDLE_TIMEOUT {
                return Some(connection);
            }
        }
        None
    }

    /// Keep `connection` for the next request to `endpoint` once it is ready for one: at
    /// once, or (hyper still writing the request, which the upstream answered before
    /// reading it whole) when it is — within [`READY_WITHIN`], else it is closed.
    fn give_back(&self, endpoint: String, mut connection: Connection) {
        if connection.sender.is_ready() {
            self.keep(&endpoint, connection);
            return;
        }
        let pool = self.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(READY_WITHIN, connection.sender.ready()).await {
                Ok(Ok(())) => pool.keep(&endpoint, connection),
                Ok(Err(_)) => {}
                Err(_) => connection.task.abort(),
            }
        });
    }

    /// Keep `connection`, ready for a request, for the next request to `endpoint`.
    fn keep(&self, endpoint: &str, connection: Connection) {
        let now = Instant::now();
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        // Once a timeout: connections to endpoints no longer used are closed too.
        if idle.swept.is_none_or(|at| now.duration_since(at) >= IDLE_TIMEOUT) {
            idle.swept = Some(now);
            idle.connections.retain(|_, list| {
                list.retain(|i| {
                    !i.connection.sender.is_closed() && now.duration_since(i.since) < IDLE_TIMEOUT
                });
                !list.is_empty()
            });
        }
        let list = match idle.connections.get_mut(endpoint) {
            Some(list) => list,
            None => idle.connections.entry(endpoint.to_string()).or_default(),
        };
        if list.len() >= MOST_IDLE {
            list.remove(0);
        }
        list.push(IdleSender {
            connection,
            since: now,
        });
    }

    /// `response`, whose body gives the connection back when read to the end.
    fn giving_back(
        &self,
        endpoint: &str,
        connection: Connection,
        response: Response<Incoming>,
    ) -> Response<Body> {
        response.map(|body| {
            let mut body = GivingBack {
                inner: body,
                back: Some((self.clone(), endpoint.to_string(), connection)),
            };
            if body.inner.is_end_stream() {
                body.give_back();
            }
            body.boxed()
        })
    }
}

/// A response body that gives its connection back to the pool once read to the end. One
/// dropped before its end takes the connection with it: hyper closes it, also while it is
/// still sending the request.
struct GivingBack {
    inner: Incoming,
    back: Option<(Http1Pool, String, Connection)>,
}

impl GivingBack {
    fn give_back(&mut self) {
        if let Some((pool, endpoint, connection)) = self.back.take() {
            pool.give_back(endpoint, connection);
        }
    }
}

impl hyper::body::Body for GivingBack {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let frame = Pin::new(&mut self.inner).poll_frame(cx);
        match &frame {
            Poll::Ready(None) => self.give_back(),
            // Trailers end a body (hyper's server polls no further).
            Poll::Ready(Some(Ok(f))) if f.is_trailers() || self.inner.is_end_stream() => self.give_back(),
            Poll::Ready(Some(Err(_))) => self.back = None,
            _ => {}
        }
        frame.map(|f| f.map(|r| r.map_err(|e| Box::new(e) as BoxError)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::full;

    /// How the test upstream answers each request on a connection.
    #[derive(Clone, Copy)]
    enum Answer {
        /// `200` with the connection's number as the body, keeping the connection open.
        KeepAlive,
        /// As `KeepAlive`, then closes the connection without saying so.
        ThenClose,
        /// As `KeepAlive` with `connection: close`, then closes it.
        ConnectionClose,
        /// As `KeepAlive`, the body chunked and followed by a trailer.
        WithTrailers,
        /// On the first connection only: a 10-byte body of which 5 bytes are sent, and the
        /// connection left open (and not read); later connections answer as `KeepAlive`.
        FirstCutShort,
    }

    /// An HTTP/1.1 upstream on loopback: its address, the connections it accepted and how
    /// many of them the pool closed.
    struct Upstream {
        addr: String,
        accepted: Arc<AtomicUsize>,
        closed: Arc<AtomicUsize>,
    }

    impl Upstream {
        /// Wait (up to 5 s) until the pool has closed `n` of its connections.
        async fn closed(&self, n: usize) -> usize {
            for _ in 0..500 {
                if self.closed.load(Ordering::SeqCst) >= n {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            self.closed.load(Ordering::SeqCst)
        }
    }

    async fn upstream(answer: Answer) -> Upstream {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let accepted = Arc::new(AtomicUsize::new(0));
        let closed = Arc::new(AtomicUsize::new(0));
        let (counter, closes) = (accepted.clone(), closed.clone());
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                let closes = closes.clone();
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    loop {
                        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                            match stream.read(&mut buf).await {
                                Ok(0) | Err(_) => {
                                    closes.fetch_add(1, Ordering::SeqCst);
                                    return;
                                }
                                Ok(read) => request.extend_from_slice(&buf[..read]),
                            }
                        }
                        request.clear();
                        let body = format!("connection {n}");
                        let (head, close) = match answer {
                            Answer::FirstCutShort if n == 1 => {
                                let _ = stream
                                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhalf.")
                                    .await;
                                // Nothing more is sent; the pool's close is seen.
                                while matches!(stream.read(&mut buf).await, Ok(1..)) {}
                                closes.fetch_add(1, Ordering::SeqCst);
                                return;
                            }
                            Answer::ConnectionClose => ("connection: close\r\n", true),
                            Answer::ThenClose => ("", true),
                            Answer::KeepAlive | Answer::FirstCutShort | Answer::WithTrailers => ("", false),
                        };
                        let response = match answer {
                            Answer::WithTrailers => format!(
                                "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ntrailer: x-t\r\n\r\n{:x}\r\n{body}\r\n0\r\nx-t: 1\r\n\r\n",
                                body.len()
                            ),
                            _ => format!(
                                "HTTP/1.1 200 OK\r\n{head}content-length: {}\r\n\r\n{body}",
                                body.len()
                            ),
                        };
                        if stream.write_all(response.as_bytes()).await.is_err() || close {
                            return;
                        }
                    }
                });
            }
        });
        Upstream {
            addr,
            accepted,
            closed,
        }
    }

    /// GET / through `pool`: the status and the body read to the end.
    async fn get(pool: &Http1Pool, addr: &str) -> (u16, String) {
        let request = Request::builder()
            .uri("/")
            .header(http::header::HOST, "model.example")
            .body(full(Bytes::new()))
            .expect("request");
        let response = pool.request(addr, request).await.expect("answered");
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.expect("body").to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn a_connection_read_to_the_end_carries_the_next_request() {
        let Upstream { addr, accepted, .. } = upstream(Answer::KeepAlive).await;
        let pool = Http1Pool::default();
        for _ in 0..5 {
            assert_eq!(get(&pool, &addr).await, (200, "connection 1".to_string()));
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_body_read_to_its_trailers_gives_its_connection_back() {
        let Upstream { addr, accepted, .. } = upstream(Answer::WithTrailers).await;
        let pool = Http1Pool::default();
        for _ in 0..3 {
            let request = Request::builder()
                .uri("/")
                .body(full(Bytes::new()))
                .expect("request");
            let mut body = pool.request(&addr, request).await.expect("answered").into_body();
            // Read as hyper's server reads a body it forwards: up to the trailers, no further.
            let mut data = Vec::new();
            loop {
                let frame = body.frame().await.expect("a frame").expect("no error");
                if let Some(trailers) = frame.trailers_ref() {
                    assert_eq!(trailers["x-t"], "1");
                    break;
                }
                data.extend_from_slice(frame.data_ref().expect("data"));
            }
            assert_eq!(data, b"connection 1");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_connection_is_not_reused_before_its_response_is_read_to_the_end() {
        let upstream = upstream(Answer::FirstCutShort).await;
        let Upstream { addr, accepted, .. } = &upstream;
        let pool = Http1Pool::default();
        let request = Request::builder()
            .uri("/")
            .body(full(Bytes::new()))
            .expect("request");
        let unfinished = pool.request(addr, request).await.expect("answered");
        // Were its connection given back, this request would wait behind the unread body.
        let answer = tokio::time::timeout(Duration::from_secs(10), get(&pool, addr)).await;
        assert_eq!(answer.expect("in time"), (200, "connection 2".to_string()));
        // Dropped before its end, it closes its connection.
        drop(unfinished);
        assert_eq!(upstream.closed(1).await, 1);
        assert_eq!(get(&pool, addr).await, (200, "connection 2".to_string()));
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    /// A request body that never ends (an upload still on its way).
    struct Endless;

    impl hyper::body::Body for Endless {
        type Data = Bytes;
        type Error = BoxError;

        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
            Poll::Pending
        }
    }

    #[tokio::test]
    async fn a_connection_answered_before_its_request_was_sent_whole_is_not_reused_meanwhile() {
        // The upstream answers once it has the head, as a server refusing an upload does.
        let upstream = upstream(Answer::KeepAlive).await;
        let Upstream { addr, accepted, .. } = &upstream;
        let pool = Http1Pool::default();
        let upload = Request::builder()
            .method(http::Method::POST)
            .uri("/")
            .header(http::header::HOST, "model.example")
            .body(Endless.boxed())
            .expect("request");
        let response = pool.request(addr, upload).await.expect("answered");
        let body = response.into_body().collect().await.expect("body").to_bytes();
        assert_eq!(body, "connection 1");
        // Its connection is still sending the upload: the next request takes another.
        let answer = tokio::time::timeout(Duration::from_secs(10), get(&pool, addr)).await;
        assert_eq!(answer.expect("in time"), (200, "connection 2".to_string()));
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
        // The upload never ends: its connection is closed once READY_WITHIN has passed.
        assert_eq!(upstream.closed(1).await, 1);
    }

    /// A 5-byte upload that arrives 50 ms after the request's head.
    struct Late(Pin<Box<tokio::time::Sleep>>, bool);

    impl hyper::body::Body for Late {
        type Data = Bytes;
        type Error = BoxError;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
            if self.1 {
                return Poll::Ready(None);
            }
            std::task::ready!(self.0.as_mut().poll(cx));
            self.1 = true;
            Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"hello")))))
        }

        fn size_hint(&self) -> SizeHint {
            SizeHint::with_exact(5)
        }
    }

    #[tokio::test]
    async fn a_connection_answered_before_its_request_was_sent_whole_is_kept_once_sent() {
        let upstream = upstream(Answer::KeepAlive).await;
        let pool = Http1Pool::default();
        let late = Late(Box::pin(tokio::time::sleep(Duration::from_millis(50))), false);
        let upload = Request::builder()
            .method(http::Method::POST)
            .uri("/")
            .body(late.boxed())
            .expect("request");
        let response = pool.request(&upstream.addr, upload).await.expect("answered");
        let body = response.into_body().collect().await.expect("body").to_bytes();
        assert_eq!(body, "connection 1");
        // Once the upload has gone, the connection is back in the pool.
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(
            get(&pool, &upstream.addr).await,
            (200, "connection 1".to_string())
        );
        assert_eq!(upstream.accepted.load(Ordering::SeqCst), 1);
        assert_eq!(upstream.closed.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_connection_the_upstream_closed_is_not_reused() {
        for answer in [Answer::ThenClose, Answer::ConnectionClose] {
            let Upstream { addr, accepted, .. } = upstream(answer).await;
            let pool = Http1Pool::default();
            for n in 1..=3 {
                assert_eq!(get(&pool, &addr).await, (200, format!("connection {n}")));
                // Time for the close to reach the connection's task.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            assert_eq!(accepted.load(Ordering::SeqCst), 3);
        }
    }

    #[tokio::test]
    async fn concurrent_requests_each_get_a_connection_and_all_are_kept() {
        let Upstream { addr, accepted, .. } = upstream(Answer::KeepAlive).await;
        let pool = Http1Pool::default();
        let answers = futures_util::future::join_all((0..4).map(|_| get(&pool, &addr))).await;
        let mut bodies: Vec<String> = answers.into_iter().map(|(_, body)| body).collect();
        bodies.sort();
        assert_eq!(
            bodies,
            ["connection 1", "connection 2", "connection 3", "connection 4"]
        );
        // Four idle connections now: four more concurrent requests open none.
        futures_util::future::join_all((0..4).map(|_| get(&pool, &addr))).await;
        assert_eq!(accepted.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn a_response_dropped_before_its_end_closes_a_connection_still_sending() {
        let upstream = upstream(Answer::FirstCutShort).await;
        let pool = Http1Pool::default();
        let upload = Request::builder()
            .method(http::Method::POST)
            .uri("/")
            .body(Endless.boxed())
            .expect("request");
        let unfinished = pool.request(&upstream.addr, upload).await.expect("answered");
        drop(unfinished);
        assert_eq!(upstream.closed(1).await, 1);
    }
}
