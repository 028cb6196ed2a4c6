//! Diagnostics as a compiler prints them (`file:line:column: error: ...`) or as JSON.

use serde::Serialize;
use sluice_api::document::Document;
use sluice_translate::{Diagnostic, Severity};

/// One diagnostic, located in its file.
#[derive(Debug, Serialize)]
pub(crate) struct Located {
    pub(crate) file: String,
    pub(crate) line: usize,
    pub(crate) column: usize,
    pub(crate) severity: &'static str,
    /// `Kind/name` of the object, when known.
    pub(crate) object: Option<String>,
    pub(crate) path: String,
    pub(crate) value: Option<String>,
    pub(crate) message: String,
}

impl Located {
    /// Place `diagnostic` of document `doc` of `file`.
    pub(crate) fn new(file: &str, doc: &Document, diagnostic: &Diagnostic) -> Self {
        let at = doc.position(&diagnostic.path);
        let object = (!doc.kind().is_empty()).then(|| format!("{}/{}", doc.kind(), doc.name()));
        Located {
            file: file.to_string(),
            line: at.line,
            column: at.column,
            severity: severity(diagnostic.severity),
            object,
            path: diagnostic.path.to_string(),
            value: diagnostic.value.clone(),
            message: diagnostic.message.clone(),
        }
    }

    /// A problem with the file as a whole (not valid YAML).
    pub(crate) fn file_error(file: &str, line: usize, column: usize, message: String) -> Self {
        Located {
            file: file.to_string(),
            line,
            column,
            severity: "error",
            object: None,
            path: String::new(),
            value: None,
            message,
        }
    }

    pub(crate) fn is_error(&self) -> bool {
        self.severity == "error"
    }

    /// `file:line:column: error: [Kind/name] path: invalid value V: message`
    pub(crate) fn text(&self) -> String {
        let mut out = format!("{}:{}:{}: {}: ", self.file, self.line, self.column, self.severity);
        if let Some(object) = &self.object {
            out.push_str(&format!("[{object}] "));
        }
        if !self.path.is_empty() {
            out.push_str(&format!("{}: ", self.path));
        }
        if let Some(value) = &self.value {
            out.push_str(&format!("invalid value {value}: "));
        }
        out.push_str(&self.message);
        out
    }
}

fn severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// `2 errors, 1 warning`
pub(crate) fn summary(all: &[Located]) -> String {
    let errors = all.iter().filter(|d| d.is_error()).count();
    let warnings = all.len() - errors;
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    format!("{}, {}", plural(errors, "error"), plural(warnings, "warning"))
}
