//! Upstream requests: to endpoints over pooled HTTP/1.1 and HTTP/2 (prior knowledge)
//! connections (`sluice-pool`), or to services in this process without a socket; load
//! balancing and per-cluster request accounting.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arc_swap::ArcSwap;
use http::{HeaderValue, Request, Response, header};
use rand::RngExt;
use sluice_mesh::cluster::LoadBalancer;
use sluice_mesh::{Cluster, Endpoint};

pub(crate) use sluice_pool::SendError;
use sluice_pool::{Http1Pool, Http2Pool};

use crate::{Body, FastMap};

/// A service living in this process at an endpoint address (`sluice up`'s engines): the
/// gateway hands it requests directly instead of writing them to a loopback socket. The
/// routing decision, timeouts, retries on its answers and metrics are the same.
pub type InProcess = Arc<
    dyn Fn(Request<Body>) -> std::pin::Pin<Box<dyn Future<Output = Response<Body>> + Send>> + Send + Sync,
>;

/// The services in this process, by the endpoint address (`host:port`) they stand for.
/// Cloning gives another handle to the same set.
#[derive(Clone, Default)]
pub struct InProcessServices(Arc<ArcSwap<FastMap<String, InProcess>>>);

impl InProcessServices {
    /// Requests for the endpoint `addr` go to `service` from now on.
    pub fn insert(&self, addr: SocketAddr, service: InProcess) {
        self.0.rcu(|map| {
            let mut map = FastMap::clone(map);
            map.insert(addr.to_string(), service.clone());
            map
        });
    }

    /// Requests for `addr` use the socket again (its service is going away).
    pub fn remove(&self, addr: SocketAddr) {
        self.0.rcu(|map| {
            let mut map = FastMap::clone(map);
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
pub struct EndpointHealth(Arc<ArcSwap<FastMap<String, String>>>);

impl EndpointHealth {
    /// `addr` is not ready, because of `why`; requests avoid it until [`up`](Self::up).
    pub fn down(&self, addr: SocketAddr, why: &str) {
        let key = addr.to_string();
        self.0.rcu(|map| {
            let mut map = FastMap::clone(map);
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
            let mut map = FastMap::clone(map);
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

/// The upstream connection pools, and the in-process services.
#[derive(Clone, Debug, Default)]
pub(crate) struct Clients {
    pub(crate) http1: Http1Pool,
    pub(crate) http2: Http2Pool,
    pub(crate) in_process: InProcessServices,
}

impl Clients {
    /// Send `request` (its URI a path, its host in `Host`) to `endpoint` (`host:port`): to
    /// the service in this process there, else over HTTP/2 (`h2`: the host becomes
    /// `:authority`) or HTTP/1.1 (the host stays in `Host`, the endpoint's when the client
    /// sent none); either way the connection goes to the endpoint.
    pub(crate) async fn request(
        &self,
        h2: bool,
        endpoint: &str,
        mut request: Request<Body>,
    ) -> Result<Response<Body>, SendError> {
        if h2 {
            as_http2(&mut request, endpoint)?;
        } else {
            as_http1(&mut request, endpoint)?;
        }
        if let Some(service) = self.in_process.get(endpoint) {
            return Ok(in_process(&service, request).await);
        }
        if h2 {
            self.http2.request(endpoint, request).await
        } else {
            self.http1.request(endpoint, request).await
        }
    }
}

/// `request` as HTTP/1.1 sends it: its host in `Host`, the endpoint's when it has none.
fn as_http1(request: &mut Request<Body>, endpoint: &str) -> Result<(), SendError> {
    *request.version_mut() = http::Version::HTTP_11;
    if !request.headers().contains_key(header::HOST) {
        let host = sluice_pool::host_of(endpoint).map_err(|e| SendError::Connect(e.into()))?;
        request.headers_mut().insert(header::HOST, host);
    }
    Ok(())
}

/// `request` as HTTP/2 sends it: its host (the endpoint when it has none) as `:authority`
/// of an absolute URI, assembled from parts (the path is shared, not re-parsed).
fn as_http2(request: &mut Request<Body>, endpoint: &str) -> Result<(), SendError> {
    let host = request.headers_mut().remove(header::HOST);
    let authority = host.as_ref().and_then(|h| h.to_str().ok()).unwrap_or(endpoint);
    let mut uri = std::mem::take(request.uri_mut()).into_parts();
    uri.scheme = Some(http::uri::Scheme::HTTP);
    uri.authority =
        Some(http::uri::Authority::try_from(authority).map_err(|e| SendError::Connect(e.into()))?);
    if uri.path_and_query.is_none() {
        uri.path_and_query = Some(http::uri::PathAndQuery::from_static("/"));
    }
    *request.uri_mut() =
        http::Uri::from_parts(uri).map_err(|e: http::uri::InvalidUriParts| SendError::Connect(e.into()))?;
    *request.version_mut() = http::Version::HTTP_2;
    Ok(())
}

/// `request` handed to the service in this process.
async fn in_process(service: &InProcess, request: Request<Body>) -> Response<Body> {
    let mut response = service(request).await;
    // What the socket would have carried: byte metrics read the length.
    if let Some(n) = hyper::body::Body::size_hint(response.body()).exact()
        && !response.headers().contains_key(header::CONTENT_LENGTH)
    {
        response
            .headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(n));
    }
    response
}

/// Per-cluster state: round-robin position, active requests per endpoint, requests in
/// flight. Read without locks on every request; only outlier detection takes a lock.
#[derive(Debug, Default)]
pub(crate) struct ClusterState {
    next: AtomicUsize,
    /// Active requests per endpoint, by `host:port` (an entry is added the first time an
    /// endpoint is picked; the counters themselves are atomics).
    active: ArcSwap<FastMap<String, Arc<AtomicUsize>>>,
    in_flight: AtomicU32,
    /// Passive health per endpoint (outlier detection), by `host:port`.
    health: Mutex<FastMap<String, Health>>,
}

impl ClusterState {
    /// The active-request counter of `endpoint`.
    fn active(&self, endpoint: &str) -> Arc<AtomicUsize> {
        if let Some(counter) = self.active.load().get(endpoint) {
            return counter.clone();
        }
        self.active.rcu(|map| {
            let mut map = FastMap::clone(map);
            map.entry(endpoint.to_string()).or_default();
            map
        });
        self.active.load().get(endpoint).cloned().unwrap_or_default()
    }

    /// Requests active on `endpoint` now.
    fn load(&self, endpoint: &str) -> usize {
        self.active
            .load()
            .get(endpoint)
            .map_or(0, |n| n.load(Ordering::Relaxed))
    }
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

/// All clusters' state, by cluster name: looked up without a lock, added to (copied and
/// swapped) the first time a cluster is used.
#[derive(Debug, Default)]
pub(crate) struct Balancer {
    clusters: ArcSwap<FastMap<String, Arc<ClusterState>>>,
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
pub(crate) struct Pick<'a> {
    pub(crate) endpoint: &'a Endpoint,
    /// `None` when the cluster has one endpoint (no load to track).
    active: Option<Arc<AtomicUsize>>,
}

impl Drop for Pick<'_> {
    fn drop(&mut self) {
        if let Some(active) = &self.active {
            active.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Balancer {
    fn state(&self, cluster: &Cluster) -> Arc<ClusterState> {
        if let Some(state) = self.clusters.load().get(&cluster.name) {
            return state.clone();
        }
        self.clusters.rcu(|map| {
            let mut map = FastMap::clone(map);
            map.entry(cluster.name.clone()).or_default();
            map
        });
        self.clusters
            .load()
            .get(&cluster.name)
            .cloned()
            .unwrap_or_default()
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

    /// Choose an endpoint, avoiding `tried` when another is available. Allocates nothing
    /// once the cluster and its endpoints have been seen.
    pub(crate) fn pick<'a>(&self, cluster: &'a Cluster, tried: &[&str]) -> Option<Pick<'a>> {
        // Endpoints not ready and ejected ones are out (panic threshold 0: none left is
        // "no healthy upstream").
        let down = self.down.0.load();
        let state = (cluster.outlier.is_some() || cluster.endpoints.len() > 1).then(|| self.state(cluster));
        let health = match (&cluster.outlier, &state) {
            (Some(_), Some(state)) => Some(state.health.lock().unwrap_or_else(|p| p.into_inner())),
            _ => None,
        };
        let now = Instant::now();
        let usable = |e: &Endpoint| {
            (down.is_empty() || !down.contains_key(e.authority()))
                && health.as_ref().is_none_or(|h| {
                    h.get(e.authority())
                        .and_then(|h| h.ejected_until)
                        .is_none_or(|t| t <= now)
                })
        };
        if let [only] = cluster.endpoints.as_slice() {
            // One endpoint: nothing to balance, no load to track.
            return usable(only).then_some(Pick {
                endpoint: only,
                active: None,
            });
        }
        let fresh = |e: &Endpoint| usable(e) && !tried.contains(&e.authority());
        let mut count = cluster.endpoints.iter().filter(|e| fresh(e)).count();
        let candidate: &dyn Fn(&Endpoint) -> bool = if count > 0 {
            &fresh
        } else {
            count = cluster.endpoints.iter().filter(|e| usable(e)).count();
            &usable
        };
        if count == 0 {
            return None;
        }
        let nth = |n: usize| cluster.endpoints.iter().filter(|e| candidate(e)).nth(n);
        let state = state.as_ref()?;
        let mut rng = rand::rng();
        let chosen = match cluster.load_balancer {
            LoadBalancer::RoundRobin => nth(state.next.fetch_add(1, Ordering::Relaxed) % count),
            LoadBalancer::Random => nth(rng.random_range(0..count)),
            LoadBalancer::LeastRequest => {
                // Envoy's default: the less loaded of two random choices.
                let a = nth(rng.random_range(0..count))?;
                let b = nth(rng.random_range(0..count))?;
                let load = |e: &Endpoint| state.load(e.authority());
                Some(if load(b) < load(a) { b } else { a })
            }
        }?;
        let active = state.active(chosen.authority());
        active.fetch_add(1, Ordering::Relaxed);
        Some(Pick {
            endpoint: chosen,
            active: Some(active),
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
        let h = match health.get_mut(endpoint.authority()) {
            Some(h) => h,
            None => health.entry(endpoint.authority().to_string()).or_default(),
        };
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

#[cfg(test)]
mod tests;
