//! The service orchestrator of a predictor ("engine", Seldon's executor) and the
//! components sluice runs in process.
//!
//! ```text
//!  graph   — graph execution over the `Nodes` trait (pure: calls are the caller's)
//!  pyjson  — JSON as Seldon's Python wrapper (Flask) writes it: sorted keys, Python floats
//!  mock    — seldonio/mock_classifier, bit-identical to the real image
//! ```
//!
//! The REST server, graph execution and the built-in routers and combiners arrive with
//! `sluice up` (see ARCHITECTURE.md).

pub mod graph;
pub mod mock;
pub mod pyjson;
