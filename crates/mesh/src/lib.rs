//! Istio ingress-gateway semantics as pure functions: which Gateway server and
//! VirtualService route a request takes, where it goes, and with which policies —
//! exactly as istiod would configure an Envoy gateway (Istio ≥ 1.28).
//!
//! ```text
//!  Gateways, VirtualServices,        RouteTable::compile(&Proxy, &Config)
//!  DestinationRules, ServiceEntries ───────────────────────────────────────> (RouteTable, Vec<Diagnostic>)
//!                                                                                 │
//!  request::Parts + listener port + rng ──> RouteTable::route ──> Decision { delay, action }
//!                                                                   action = Reply (404, 503, redirect, direct
//!                                                                            response, fault abort, CORS preflight)
//!                                                                          | Forward (cluster, rewritten path and
//!                                                                            authority, header ops, timeout, retry
//!                                                                            policy, mirrors, CORS headers)
//! ```
//!
//! No I/O, no clock, no global randomness: the caller passes the RNG, so tests are
//! exact. Services and endpoints come from Istio `ServiceEntry` resources (the local
//! mode registers its engines that way); load balancing across a cluster's endpoints
//! and everything on the wire is `sluice-gateway`'s.

pub mod cluster;
mod compile;
pub mod config;
mod decide;
pub mod diagnostic;
mod explain;
pub mod grpc;
pub mod host;
mod index;
pub mod matcher;
pub mod path;
pub mod policy;
mod reuse;
pub mod route;
pub mod security;
mod sidecar;
pub mod table;
pub mod tls;

pub use cluster::{Cluster, Endpoint, UpstreamProtocol};
pub use config::{Config, Proxy};
pub use diagnostic::Diagnostic;
pub use reuse::Reuse;
pub use route::{Action, Decision, Forward, Reply, Scheme};
pub use table::RouteTable;
