//! Problems in the Istio configuration, as `sluice_api::Diagnostic`s naming the object
//! and the field: the loader that read the object places them at its file and line.

pub use sluice_api::diagnostic::{Diagnostic, ObjectRef, Severity};
use sluice_api::document::FieldPath;

/// An error in `object` at `path` (`spec.http[0].timeout`): Istio would reject it.
pub(crate) fn error(object: &ObjectRef, path: impl AsRef<str>, message: impl Into<String>) -> Diagnostic {
    Diagnostic::error(FieldPath::parse(path.as_ref()), message).in_object(object.clone())
}

/// A warning in `object` at `path`: accepted, but part of it has no effect.
pub(crate) fn warning(object: &ObjectRef, path: impl AsRef<str>, message: impl Into<String>) -> Diagnostic {
    Diagnostic::warning(FieldPath::parse(path.as_ref()), message).in_object(object.clone())
}
