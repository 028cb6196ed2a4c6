//! Problems in the Istio configuration, each naming the resource and the field.

use std::fmt;

/// How bad a problem is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Istio would reject the resource; the configuration is not used.
    Error,
    /// Accepted, but part of it has no effect (Istio would skip it too).
    Warning,
}

/// One problem: `Kind namespace/name`, the field path inside it, and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// `VirtualService default/reviews`.
    pub resource: String,
    /// `spec.http[0].route[1].weight`.
    pub path: String,
    /// What is wrong and what would be valid.
    pub message: String,
}

impl Diagnostic {
    /// An error in `resource` at `path`.
    pub fn error(resource: &str, path: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            resource: resource.to_string(),
            path: path.into(),
            message: message.into(),
        }
    }

    /// A warning in `resource` at `path`.
    pub fn warning(resource: &str, path: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(resource, path, message)
        }
    }

    /// Is this an error?
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{severity}: {} {}: {}", self.resource, self.path, self.message)
    }
}
