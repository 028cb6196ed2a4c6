//! Pure data types for sluice: the `SeldonDeployment` custom resource
//! (`machinelearning.seldon.io/v1`, with `v1alpha2`/`v1alpha3` accepted on input),
//! the subset of Istio resources sluice reads and writes, the one loader that
//! turns multi-document YAML into typed objects with source positions, and the one
//! `Diagnostic` type every command reports problems with.
//!
//! ```text
//!  files' texts ──> load::load ──> Loaded { resources (typed, with their documents), diagnostics }
//!                     │
//!                     └─ document::parse ──> Document { value, positions (indexed when first asked) }
//!                                              └─> Document::typed::<T>() ──> Typed<T> { value, ignored fields }
//!
//!  any later problem: Diagnostic { object, path } ──> Loaded::locate ──> file:line:col
//! ```
//!
//! Nothing here does I/O, reads the environment or is async: the translation
//! (`sluice-translate`), the route engine (`sluice-mesh`) and the binary build on it.

pub mod diagnostic;
pub mod document;
pub mod duration;
pub mod ids;
pub mod istio;
pub mod load;
pub mod proto;
pub mod seldon;

pub use diagnostic::{Diagnostic, Location, ObjectRef, Severity};
pub use document::{Document, Position};
/// The Kubernetes types sluice reads (`Secret`), for crates that use them from here.
pub use k8s_openapi;
pub use seldon::{SeldonDeployment, SeldonDeploymentSpec};
