//! The service orchestrator of a predictor ("engine", Seldon's executor) and the
//! components sluice runs in process.
//!
//! ```text
//!  graph   — graph execution over the `Nodes` trait (pure: calls are the caller's)
//!  pyjson  — JSON as Seldon's Python wrapper (Flask) writes it: sorted keys, Python floats
//!  mock    — seldonio/mock_classifier, bit-identical to the real image
//! ```
//!
//! ```text
//!  server      — the REST routes of the seldon, tensorflow and v2 protocols, Seldon's
//!                headers, errors (JSON), metrics
//!  components  — each node: built in (pass-through), the mock in process, or REST
//!  headers     — Seldon's header names, the request's `seldon-puid`
//!  metrics     — seldon_api_executor_{server,client}_requests_seconds
//!  pod         — `sluice engine` in a predictor pod: ENGINE_PREDICTOR, components' endpoints
//! ```

mod body;
pub mod components;
pub mod graph;
pub mod grpc;
mod headers;
pub mod metrics;
pub mod mock;
pub mod pod;
pub mod pyjson;
pub mod server;

pub use components::Component;
pub use server::{Config, Engine};
