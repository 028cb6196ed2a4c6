//! Problems found in a SeldonDeployment, each with its field path.

use std::fmt;

use sluice_api::document::FieldPath;

/// How bad a problem is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The object is rejected: Seldon's admission rules and sluice's stricter checks.
    Error,
    /// The object is accepted, but something in it has no effect.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One problem: where it is, the value found there, and what would be valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The field at fault.
    pub path: FieldPath,
    /// The value found, rendered as JSON (`"p1"`, `150`), when there is one to show.
    pub value: Option<String>,
    /// What is wrong and what would be valid.
    pub message: String,
}

impl Diagnostic {
    /// An error at `path`.
    pub fn error(path: FieldPath, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            path,
            value: None,
            message: message.into(),
        }
    }

    /// A warning at `path`.
    pub fn warning(path: FieldPath, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(path, message)
        }
    }

    /// Show `value` (rendered as JSON) with the message.
    #[must_use]
    pub fn with_value(mut self, value: impl serde::Serialize) -> Self {
        self.value = serde_json::to_string(&value).ok();
        self
    }

    /// Is this an error?
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: ", self.severity, self.path)?;
        if let Some(value) = &self.value {
            write!(f, "invalid value {value}: ")?;
        }
        f.write_str(&self.message)
    }
}
