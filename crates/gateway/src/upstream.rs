//! Connections to upstream endpoints: pooled HTTP/1.1 and HTTP/2 (prior knowledge)
//! clients, services in this process reached without a socket, load balancing and
//! per-cluster request accounting.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use http::{HeaderValue, Request, Response, header};
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rand::RngExt;
use sluice_mesh::cluster::LoadBalancer;
use sluice_mesh::{Cluster, Endpoint};

use crate::{Body, BoxError};

/// A service living in this process at an endpoint address (`sluice up`'s engines): the
/// gateway hands it requests directly instead of writing them to a loopback socket. The
/// routing decision, timeouts, retries on its answers and metrics are the same.
pub type InProcess = Arc<
    dyn Fn(Request<Body>) -> std::pin::Pin<Box<dyn Future<Output = Response<Body>> + Send>> + Send + Sync,
>;

/// The services in this process, by the endpoint address (`host:port`) they stand for.
/// Cloning gives another handle to the same set.
#[derive(Clone, Default)]
pub struct InProcessServices(Arc<ArcSwap<HashMap<String, InProcess>>>);

impl InProcessServices {
    /// Requests for the endpoint `addr` go to `service` from now on.
    pub fn insert(&self, addr: SocketAddr, service: InProcess) {
        self.0.rcu(|map| {
            let mut map = HashMap::clone(map);
            map.insert(addr.to_string(), service.clone());
            map
        });
    }

    /// Requests for `addr` use the socket again (its service is going away).
    pub fn remove(&self, addr: SocketAddr) {
        self.0.rcu(|map| {
            let mut map = HashMap::clone(map);
            map.remove(&addr.to_string());
            map
        });
    }

    /// The addresses served in process, sorted.
    pub fn addresses(&self) -> Vec<String> {
        let mut out: Vec<String> = self.0.load().keys().cloned().collect();
        out.sort();
        out
    }

    fn get(&self, authority: &str) -> Option<InProcess> {
        self.0.load().get(authority).cloned()
    }
}

impl std::fmt::Debug for InProcessServices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.load().keys()).finish()
    }
}

/// Endpoints that are not ready (a pod failing its readiness probe): the balancer skips
/// them, as Envoy skips endpoints EDS marks unhealthy, and a cluster with none left
/// answers `503 no healthy upstream` (`UH`). Each is kept with the reason, for
/// `/healthz/ready`. Cloning gives another handle to the same set.
#[derive(Clone, Debug, Default)]
pub struct EndpointHealth(Arc<ArcSwap<HashMap<String, String>>>);

impl EndpointHealth {
    /// `addr` is not ready, because of `why`; requests avoid it until [`up`](Self::up).
    pub fn down(&self, addr: SocketAddr, why: &str) {
        let key = addr.to_string();
        self.0.rcu(|map| {
            let mut map = HashMap::clone(map);
            map.insert(key.clone(), why.to_string());
            map
        });
    }

    /// `addr` is ready (again), or gone.
    pub fn up(&self, addr: SocketAddr) {
        let key = addr.to_string();
        if !self.0.load().contains_key(&key) {
            return;
        }
        self.0.rcu(|map| {
            let mut map = HashMap::clone(map);
            map.remove(&key);
            map
        });
    }

    /// Why each endpoint that is down is down, sorted.
    pub fn reasons(&self) -> Vec<String> {
        let mut out: Vec<String> = self.0.load().values().cloned().collect();
        out.sort();
        out
    }
}

/// Why an upstream request failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SendError {
    /// No connection could be made to the endpoint.
    #[error("connect: {0}")]
    Connect(#[source] BoxError),
    /// The connection failed or the stream was reset.
    #[error("{0}")]
    Request(#[source] BoxError),
}

impl SendError {
    /// Did the connection fail (rather than the request on it)?
    pub(crate) fn is_connect(&self) -> bool {
        matches!(self, SendError::Connect(_))
    }

    /// Envoy's words for the reset reason.
    pub(crate) fn reset_reason(&self) -> &'static str {
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

/// Did the upstream refuse the HTTP/2 stream (REFUSED_STREAM)?
pub(crate) fn refused_stream(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(error);
    while let Some(e) = source {
        if let Some(h2) = e.downcast_ref::<h2::Error>() {
            return h2.reason() == Some(h2::Reason::REFUSED_STREAM);
        }
        source = e.source();
    }
    false
}

/// Istio's default connect timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// HTTP/2 (prior knowledge) connections, one per endpoint, each carrying many streams.
/// Unlike a pool keyed by the request URI, the request's `:authority` is free to be the
/// routed host while the connection goes to the chosen endpoint.
#[derive(Clone, Debug, Default)]
pub(crate) struct Http2Pool {
    connections: Arc<Mutex<HashMap<String, hyper::client::conn::http2::SendRequest<Body>>>>,
}

impl Http2Pool {
    /// A ready sender to `endpoint` (`host:port`): the pooled one, or a new connection.
    async fn sender(
        &self,
        endpoint: &str,
    ) -> Result<hyper::client::conn::http2::SendRequest<Body>, SendError> {
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
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(endpoint))
            .await
            .map_err(|_| SendError::Connect("connection timed out".into()))?
            .map_err(|e| SendError::Connect(e.into()))?;
        let _ = stream.set_nodelay(true);
        let (sender, connection) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .timer(hyper_util::rt::TokioTimer::new())
            .handshake(hyper_util::rt::TokioIo::new(stream))
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

    async fn request(&self, endpoint: &str, request: Request<Body>) -> Result<Response<Body>, SendError> {
        let mut sender = self.sender(endpoint).await?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| SendError::Request(e.into()))?;
        Ok(response.map(|body| body.map_err(|e| Box::new(e) as BoxError).boxed()))
    }
}

/// The upstream clients, and the in-process services.
#[derive(Clone, Debug)]
pub(crate) struct Clients {
    pub(crate) http1: Client<HttpConnector, Body>,
    pub(crate) http2: Http2Pool,
    pub(crate) in_process: InProcessServices,
}

impl Clients {
    pub(crate) fn new() -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let http1 = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(1024)
            .build(connector);
        Clients {
            http1,
            http2: Http2Pool::default(),
            in_process: InProcessServices::default(),
        }
    }

    /// Send `request` (its URI a path, its host in `Host`) to `endpoint` (`host:port`): to
    /// the service in this process there, else over HTTP/2 (`h2`: the host becomes
    /// `:authority`, the connection goes to the endpoint) or HTTP/1.1 (the pooled client
    /// connects to the endpoint; the host stays in `Host`).
    pub(crate) async fn request(
        &self,
        h2: bool,
        endpoint: &str,
        mut request: Request<Body>,
    ) -> Result<Response<Body>, SendError> {
        let host = if h2 {
            request.headers_mut().remove(header::HOST)
        } else {
            None
        };
        let authority = host.as_ref().and_then(|h| h.to_str().ok()).unwrap_or(endpoint);
        let uri = format!(
            "http://{authority}{}",
            request.uri().path_and_query().map_or("/", |p| p.as_str())
        );
        *request.uri_mut() = uri
            .parse()
            .map_err(|e: http::uri::InvalidUri| SendError::Connect(e.into()))?;
        *request.version_mut() = if h2 {
            http::Version::HTTP_2
        } else {
            http::Version::HTTP_11
        };
        if let Some(service) = self.in_process.get(endpoint) {
            let mut response = service(request).await;
            // What the socket would have carried: byte metrics read the length.
            if let Some(n) = hyper::body::Body::size_hint(response.body()).exact()
                && !response.headers().contains_key(header::CONTENT_LENGTH)
            {
                response
                    .headers_mut()
                    .insert(header::CONTENT_LENGTH, HeaderValue::from(n));
            }
            return Ok(response);
        }
        if h2 {
            return self.http2.request(endpoint, request).await;
        }
        let response = self.http1.request(request).await.map_err(|e| {
            if e.is_connect() {
                SendError::Connect(e.into())
            } else {
                SendError::Request(e.into())
            }
        })?;
        Ok(response.map(|body| body.map_err(|e| Box::new(e) as BoxError).boxed()))
    }
}

/// Per-cluster state: round-robin position, active requests per endpoint, requests in flight.
#[derive(Debug, Default)]
pub(crate) struct ClusterState {
    next: AtomicUsize,
    active: Mutex<HashMap<String, usize>>,
    in_flight: AtomicU32,
    /// Passive health per endpoint (outlier detection), by `host:port`.
    health: Mutex<HashMap<String, Health>>,
}

/// An endpoint's recent failures and ejection.
#[derive(Debug, Default)]
struct Health {
    consecutive_5xx: u32,
    consecutive_gateway: u32,
    ejections: u32,
    ejected_until: Option<Instant>,
}

/// How one try ended, for outlier detection.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Outcome {
    /// The upstream answered with this status.
    Status(u16),
    /// Connect failure, reset or timeout (a locally originated failure).
    Failure,
}

/// All clusters' state, by cluster name.
#[derive(Debug, Default)]
pub(crate) struct Balancer {
    clusters: Mutex<HashMap<String, Arc<ClusterState>>>,
    /// Endpoints not ready, skipped whatever the cluster's outlier detection says.
    pub(crate) down: EndpointHealth,
}

/// A request counted against a cluster's limit; released on drop.
pub(crate) struct InFlight(Arc<ClusterState>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// An endpoint chosen for one try; its active count is released on drop.
pub(crate) struct Pick {
    pub(crate) endpoint: Endpoint,
    /// `None` when the cluster has one endpoint (no load to track).
    state: Option<Arc<ClusterState>>,
}

impl Drop for Pick {
    fn drop(&mut self) {
        if let Some(state) = &self.state
            && let Ok(mut active) = state.active.lock()
            && let Some(n) = active.get_mut(&self.endpoint.authority())
        {
            *n = n.saturating_sub(1);
        }
    }
}

impl Balancer {
    fn state(&self, cluster: &Cluster) -> Arc<ClusterState> {
        let mut map = self.clusters.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(state) = map.get(&cluster.name) {
            return state.clone();
        }
        map.entry(cluster.name.clone()).or_default().clone()
    }

    /// Count a request against the cluster's `http2MaxRequests`; `None` means overflow.
    pub(crate) fn admit(&self, cluster: &Cluster) -> Option<InFlight> {
        let state = self.state(cluster);
        let now = state.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        let guard = InFlight(state);
        match cluster.pool.max_requests {
            Some(max) if now > max => None,
            _ => Some(guard),
        }
    }

    /// Choose an endpoint, avoiding `tried` when another is available.
    pub(crate) fn pick(&self, cluster: &Cluster, tried: &[String]) -> Option<Pick> {
        // Endpoints not ready and ejected ones are out (panic threshold 0: none left is
        // "no healthy upstream").
        let down = self.down.0.load();
        let ready = |e: &&Endpoint| down.is_empty() || !down.contains_key(&e.authority());
        let healthy: Vec<&Endpoint> = if cluster.outlier.is_some() {
            let state = self.state(cluster);
            let health = state.health.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            cluster
                .endpoints
                .iter()
                .filter(ready)
                .filter(|e| {
                    health
                        .get(&e.authority())
                        .and_then(|h| h.ejected_until)
                        .is_none_or(|t| t <= now)
                })
                .collect()
        } else {
            cluster.endpoints.iter().filter(ready).collect()
        };
        drop(down);
        if healthy.len() == 1 && cluster.endpoints.len() == 1 {
            // One endpoint: nothing to balance, no load to track.
            return Some(Pick {
                endpoint: healthy[0].clone(),
                state: None,
            });
        }
        let candidates: Vec<&Endpoint> = if tried.is_empty() {
            healthy
        } else {
            let fresh: Vec<&Endpoint> = healthy
                .iter()
                .copied()
                .filter(|e| !tried.contains(&e.authority()))
                .collect();
            if fresh.is_empty() { healthy } else { fresh }
        };
        if candidates.is_empty() {
            return None;
        }
        let state = self.state(cluster);
        let mut rng = rand::rng();
        let mut active = state.active.lock().unwrap_or_else(|p| p.into_inner());
        let chosen = match cluster.load_balancer {
            LoadBalancer::RoundRobin => {
                candidates[state.next.fetch_add(1, Ordering::Relaxed) % candidates.len()]
            }
            LoadBalancer::Random => candidates[rng.random_range(0..candidates.len())],
            LoadBalancer::LeastRequest => {
                // Envoy's default: the less loaded of two random choices.
                let a = candidates[rng.random_range(0..candidates.len())];
                let b = candidates[rng.random_range(0..candidates.len())];
                let load = |e: &Endpoint| active.get(&e.authority()).copied().unwrap_or(0);
                if load(b) < load(a) { b } else { a }
            }
        };
        *active.entry(chosen.authority()).or_insert(0) += 1;
        drop(active);
        Some(Pick {
            endpoint: chosen.clone(),
            state: Some(state),
        })
    }

    /// Outlier detection: count consecutive errors per endpoint and eject it when a
    /// threshold is reached, unless more than `maxEjectionPercent` would then be ejected.
    pub(crate) fn report(&self, cluster: &Cluster, endpoint: &Endpoint, outcome: Outcome) {
        let Some(policy) = &cluster.outlier else { return };
        let state = self.state(cluster);
        let mut health = state.health.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let ejected = health
            .values()
            .filter(|h| h.ejected_until.is_some_and(|t| t > now))
            .count();
        let h = health.entry(endpoint.authority()).or_default();
        let (is_5xx, is_gateway) = match outcome {
            Outcome::Status(s) => (s >= 500, matches!(s, 502..=504)),
            Outcome::Failure => (true, true),
        };
        h.consecutive_5xx = if is_5xx { h.consecutive_5xx + 1 } else { 0 };
        h.consecutive_gateway = if is_gateway { h.consecutive_gateway + 1 } else { 0 };
        let tripped = (policy.consecutive_5xx > 0 && h.consecutive_5xx >= policy.consecutive_5xx)
            || (policy.consecutive_gateway_errors > 0
                && h.consecutive_gateway >= policy.consecutive_gateway_errors);
        let total = cluster.endpoints.len().max(1);
        let allowed = (ejected + 1) * 100 <= total * policy.max_ejection_percent as usize;
        if tripped && allowed && h.ejected_until.is_none_or(|t| t <= now) {
            h.ejections += 1;
            h.ejected_until = Some(now + policy.base_ejection_time * h.ejections);
            h.consecutive_5xx = 0;
            h.consecutive_gateway = 0;
        }
    }
}
