//! The Kubernetes half of sluice: `sluice operator` reconciles SeldonDeployments into
//! Deployments, Services, VirtualServices and DestinationRules with the very translation
//! `sluice render` and `sluice up` use (`sluice_translate::desired`), validates them at
//! admission with `sluice validate`'s rules, and `install` prints what installs it.
//!
//! ```text
//!  config   — Seldon's operator environment, parsed once, every bad value reported
//!  reconcile — one SeldonDeployment: desired (pure) then server-side apply, Istio only
//!              once the Deployments are available, cleanup, status, events
//!  status   — Seldon's status (state, address, deploymentStatus, conditions), pure
//!  leader   — Lease-based leader election
//!  webhook  — the validating admission webhook (HTTPS, rustls)
//!  metrics  — /metrics, /healthz, /readyz
//!  install  — the install manifests (`sluice install`, the Helm chart's twin)
//!  run      — wiring it together
//! ```

pub mod config;
pub mod install;
pub mod leader;
pub mod metrics;
pub mod reconcile;
pub mod run;
pub mod status;
pub mod webhook;

pub use config::Config;
pub use run::{Options, run};
