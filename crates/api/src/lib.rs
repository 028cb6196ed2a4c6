//! Pure data types for sluice: the `SeldonDeployment` custom resource
//! (`machinelearning.seldon.io/v1`, with `v1alpha2`/`v1alpha3` accepted on input),
//! the subset of Istio resources sluice reads and writes, and the loader that
//! turns multi-document YAML into typed objects with source positions.
//!
//! ```text
//!  YAML text ──> document::parse ──> Document { kind, raw, positions }
//!                                        │
//!                                        └─> Document::typed::<T>() ──> Typed<T> { value, ignored fields }
//! ```
//!
//! Nothing here does I/O, reads the environment or is async: the translation
//! (`sluice-translate`), the route engine (`sluice-mesh`) and the binary build on it.

pub mod document;
pub mod duration;
pub mod ids;
pub mod istio;
pub mod seldon;

pub use document::{Document, Position};
pub use seldon::{SeldonDeployment, SeldonDeploymentSpec};
