//! `sluice up`: run SeldonDeployments on this machine, behind the local Istio gateway,
//! with the same VirtualServices and DestinationRules the operator would apply.
//!
//! ```text
//!  SeldonDeployment files ──> translate::desired ──> VirtualService, DestinationRules
//!          │                                                   │
//!          └─> per predictor replica: an engine on 127.0.0.1:0 │
//!                 (components: built in, the mock in process,  │
//!                  or a URL the user maps)                     │
//!                          │                                   v
//!                          └── ServiceEntry (endpoints, pod labels) ──> mesh::RouteTable ──> gateway
//! ```
//!
//! A predictor's Istio objects are applied only once its engines are ready, as the
//! operator does (B1): a new canary never receives traffic before it can answer.
//! RequestAuthentications and AuthorizationPolicies apply where Istio applies them: at the
//! gateway (`sluice-gateway`), and at each predictor's inbound (`guard`), as its sidecar.

pub mod components;
pub mod explainers;
mod guard;
pub mod health;
pub mod models;
mod plan;
pub mod progress;
mod run;
pub mod servers;
pub mod supervisor;

pub use components::{Mapping, Mappings};
pub use plan::{Plan, PlanError, not_served_locally, orchestrator_checks};
pub use progress::{Progress, Reporter};
pub use run::{Local, Options, Summary};
pub use supervisor::Supervisor;
