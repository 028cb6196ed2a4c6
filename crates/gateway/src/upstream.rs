//! Connections to upstream endpoints: pooled HTTP/1.1 and HTTP/2 (prior knowledge)
//! clients, load balancing and per-cluster request accounting.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rand::RngExt;
use sluice_mesh::cluster::LoadBalancer;
use sluice_mesh::{Cluster, Endpoint};

use crate::Body;

/// The two upstream clients.
#[derive(Clone, Debug)]
pub(crate) struct Clients {
    pub(crate) http1: Client<HttpConnector, Body>,
    pub(crate) http2: Client<HttpConnector, Body>,
}

impl Clients {
    pub(crate) fn new() -> Self {
        let connector = || {
            let mut c = HttpConnector::new();
            c.set_nodelay(true);
            // Istio's default connect timeout.
            c.set_connect_timeout(Some(Duration::from_secs(10)));
            c
        };
        let http1 = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(1024)
            .build(connector());
        let http2 = Client::builder(TokioExecutor::new())
            .http2_only(true)
            .pool_idle_timeout(Duration::from_secs(60))
            .build(connector());
        Clients { http1, http2 }
    }
}

/// Per-cluster state: round-robin position, active requests per endpoint, requests in flight.
#[derive(Debug, Default)]
pub(crate) struct ClusterState {
    next: AtomicUsize,
    active: Mutex<HashMap<String, usize>>,
    in_flight: AtomicU32,
}

/// All clusters' state, by cluster name.
#[derive(Debug, Default)]
pub(crate) struct Balancer {
    clusters: Mutex<HashMap<String, Arc<ClusterState>>>,
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
        if cluster.endpoints.len() == 1 {
            // One endpoint: nothing to balance, no load to track.
            return Some(Pick {
                endpoint: cluster.endpoints[0].clone(),
                state: None,
            });
        }
        let candidates: Vec<&Endpoint> = if tried.is_empty() {
            cluster.endpoints.iter().collect()
        } else {
            let fresh: Vec<&Endpoint> = cluster
                .endpoints
                .iter()
                .filter(|e| !tried.contains(&e.authority()))
                .collect();
            if fresh.is_empty() {
                cluster.endpoints.iter().collect()
            } else {
                fresh
            }
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
}
