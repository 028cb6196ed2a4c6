//! The local ingress gateway: serves Istio Gateway/VirtualService configuration the
//! way an Istio ingress gateway (Envoy) does, on loopback, for `sluice gateway` and
//! `sluice up`.
//!
//! ```text
//!  config files ──> config::load ──> mesh::RouteTable::compile ──┐ (rejected whole on any error)
//!        ^                                                        v
//!   poll (hot reload)                                ArcSwap<RouteTable> (in-flight requests keep theirs)
//!                                                                 │
//!  client ──> server (HTTP/1.1, h2, h2c) ──> proxy::handle ──> decision ──> reply::local (404, 503, ...)
//!                                                 │                   └──> upstream (pooled HTTP/1.1 or h2c),
//!                                                 │                        retries, timeouts, mirrors
//!                                                 └──> metrics (Istio's names) ──> admin /stats/prometheus
//! ```
//!
//! The routing semantics live in `sluice-mesh`; this crate owns sockets, clocks,
//! load balancing and everything on the wire.

mod access_log;
pub mod admin;
pub mod config;
pub mod flags;
mod forward;
mod headers;
pub mod jwks;
pub mod memory;
pub mod metrics;
mod mirror;
mod proxy;
mod record;
mod reply;
pub mod server;
pub mod tls;
mod upstream;
pub mod watch;

pub use config::LoadError;
pub use server::{Gateway, Options};
pub use upstream::{EndpointHealth, InProcess, InProcessServices};

/// The body type of requests and responses through the gateway, its boxed errors, and a
/// body holding bytes: the upstream pools' own.
pub use sluice_pool::{Body, BoxError, full};

/// A local reply as the gateway sends it (Istio's text, or for a gRPC request a
/// trailers-only gRPC status): for the sidecar filters `sluice up` runs in front of engines.
pub fn local_reply(reply: &sluice_mesh::Reply, grpc: bool) -> http::Response<Body> {
    reply::local(reply, grpc, false)
}

/// A map looked up on every request (the balancer's, endpoint health, in-process services,
/// the HTTP/2 pool): hashed with foldhash, seeded at random per process, at a fraction of
/// SipHash's cost for these short keys.
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
