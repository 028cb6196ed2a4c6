//! Problems found in configuration, one type for every command: what is wrong, in which
//! object and field, and — when it came from a file — where.
//!
//! ```text
//!  translate::validate, mesh::RouteTable::compile, load::load, sluice up's checks
//!        │  Diagnostic { severity, object, path, value, message, location: None }
//!        v
//!  load::Loaded::locate  ──> location = file:line:column of the object's field
//!        v
//!  Diagnostic::text / serde JSON  ──> `file:line:col: error: [Kind/name] path: message`
//! ```

use std::fmt;

use serde::Serialize;

use crate::document::FieldPath;

/// How bad a problem is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The object is rejected: nothing is rendered, served or applied from it.
    Error,
    /// Accepted, but something in it has no effect or may not do what was meant.
    Warning,
    /// Worth knowing but harmless (a deprecated field that is unused): shown with
    /// `--verbose` and in JSON output, not in the text output by default.
    Note,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        })
    }
}

/// The object a problem is in: `kind`, `namespace` (when set) and `name`.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectRef {
    /// `SeldonDeployment`, `VirtualService`, ...
    pub kind: String,
    /// `metadata.namespace`, when the object has one.
    pub namespace: Option<String>,
    /// `metadata.name`.
    pub name: String,
}

impl ObjectRef {
    /// An object of `kind` named `name` in `namespace`.
    pub fn new(kind: impl Into<String>, namespace: Option<&str>, name: impl Into<String>) -> Self {
        ObjectRef {
            kind: kind.into(),
            namespace: namespace.filter(|n| !n.is_empty()).map(str::to_string),
            name: name.into(),
        }
    }

    /// The object of `kind` with this metadata.
    pub fn of(
        kind: impl Into<String>,
        metadata: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    ) -> Self {
        ObjectRef::new(
            kind,
            metadata.namespace.as_deref(),
            metadata.name.clone().unwrap_or_default(),
        )
    }

    /// The namespace, `default` when unset (as the API server assigns it).
    pub fn namespace_or_default(&self) -> &str {
        self.namespace.as_deref().unwrap_or("default")
    }
}

impl fmt::Display for ObjectRef {
    /// `Kind/name`, as kubectl names objects.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind, self.name)
    }
}

/// Where a problem is written.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    /// The file as the user named it, or `<stdin>`.
    pub file: String,
    /// From 1.
    pub line: usize,
    /// From 1.
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// One problem: where it is, the value found there, and what would be valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The object at fault, when there is one.
    pub object: Option<ObjectRef>,
    /// The field at fault inside the object (the root for the object as a whole).
    pub path: FieldPath,
    /// The value found, rendered as JSON (`"p1"`, `150`), when there is one to show.
    pub value: Option<String>,
    /// What is wrong and what would be valid.
    pub message: String,
    /// Where it is written, once located.
    pub location: Option<Location>,
}

impl Diagnostic {
    /// An error at `path`.
    pub fn error(path: FieldPath, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            object: None,
            path,
            value: None,
            message: message.into(),
            location: None,
        }
    }

    /// A warning at `path`.
    pub fn warning(path: FieldPath, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(path, message)
        }
    }

    /// A note at `path`: harmless, shown only when asked for.
    pub fn note(path: FieldPath, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Note,
            ..Diagnostic::error(path, message)
        }
    }

    /// Show `value` (rendered as JSON) with the message.
    #[must_use]
    pub fn with_value(mut self, value: impl serde::Serialize) -> Self {
        self.value = serde_json::to_string(&value).ok();
        self
    }

    /// The problem is in `object`.
    #[must_use]
    pub fn in_object(mut self, object: ObjectRef) -> Self {
        self.object = Some(object);
        self
    }

    /// The problem is written at `location`.
    #[must_use]
    pub fn at(mut self, location: Location) -> Self {
        self.location = Some(location);
        self
    }

    /// Is this an error?
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Is this a note (shown only with `--verbose` or in JSON)?
    pub fn is_note(&self) -> bool {
        self.severity == Severity::Note
    }

    /// `file:line:column: error: [Kind/name] path: invalid value V: message`, each part
    /// present when known.
    pub fn text(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(location) = &self.location {
            write!(f, "{location}: ")?;
        }
        write!(f, "{}: ", self.severity)?;
        if let Some(object) = &self.object {
            write!(f, "[{object}] ")?;
        }
        if !self.path.is_root() {
            write!(f, "{}: ", self.path)?;
        }
        if let Some(value) = &self.value {
            write!(f, "invalid value {value}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// The JSON form (`sluice validate -o json`): flat, one object per problem.
impl Serialize for Diagnostic {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Flat<'a> {
            file: Option<&'a str>,
            line: Option<usize>,
            column: Option<usize>,
            severity: Severity,
            object: Option<String>,
            namespace: Option<&'a str>,
            path: String,
            value: Option<&'a str>,
            message: &'a str,
        }
        Flat {
            file: self.location.as_ref().map(|l| l.file.as_str()),
            line: self.location.as_ref().map(|l| l.line),
            column: self.location.as_ref().map(|l| l.column),
            severity: self.severity,
            object: self.object.as_ref().map(ToString::to_string),
            namespace: self.object.as_ref().and_then(|o| o.namespace.as_deref()),
            path: if self.path.is_root() {
                String::new()
            } else {
                self.path.to_string()
            },
            value: self.value.as_deref(),
            message: &self.message,
        }
        .serialize(serializer)
    }
}

/// Does any of `diagnostics` reject the configuration?
pub fn has_errors(diagnostics: &[Diagnostic]) -> bool {
    diagnostics.iter().any(Diagnostic::is_error)
}

/// `2 errors, 1 warning`, and `, 3 notes` when there are notes.
pub fn summary(diagnostics: &[Diagnostic]) -> String {
    let count = |severity: Severity| diagnostics.iter().filter(|d| d.severity == severity).count();
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    let mut out = format!(
        "{}, {}",
        plural(count(Severity::Error), "error"),
        plural(count(Severity::Warning), "warning")
    );
    let notes = count(Severity::Note);
    if notes > 0 {
        out.push_str(&format!(", {}", plural(notes, "note")));
    }
    out
}

/// What the text output shows: everything with `verbose`, else errors and warnings.
pub fn shown(diagnostics: &[Diagnostic], verbose: bool) -> impl Iterator<Item = &Diagnostic> {
    diagnostics.iter().filter(move |d| verbose || !d.is_note())
}

/// Sort located problems as a reader meets them: by file in the order given, then line
/// and column; problems without a location keep their place after the located ones.
pub fn sort_by_location(diagnostics: &mut [Diagnostic], files: &[String]) {
    let rank = |d: &Diagnostic| match &d.location {
        Some(l) => (
            0,
            files.iter().position(|f| *f == l.file).unwrap_or(usize::MAX),
            l.line,
            l.column,
        ),
        None => (1, 0, 0, 0),
    };
    diagnostics.sort_by_key(rank);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_has_each_part_when_known() {
        let d = Diagnostic::error(FieldPath::parse("spec.http[0].timeout"), "not a duration")
            .with_value("10parsecs")
            .in_object(ObjectRef::new("VirtualService", Some("default"), "vs"))
            .at(Location {
                file: "vs.yaml".into(),
                line: 9,
                column: 7,
            });
        assert_eq!(
            d.text(),
            "vs.yaml:9:7: error: [VirtualService/vs] spec.http[0].timeout: invalid value \"10parsecs\": not a duration"
        );
        let bare = Diagnostic::warning(FieldPath::root(), "no objects");
        assert_eq!(bare.text(), "warning: no objects");
    }

    #[test]
    fn json_is_flat() {
        let d = Diagnostic::warning(FieldPath::parse("spec.x"), "m")
            .in_object(ObjectRef::new("Gateway", None, "g"));
        let json = serde_json::to_value(&d).expect("json");
        assert_eq!(json["severity"], "warning");
        assert_eq!(json["object"], "Gateway/g");
        assert_eq!(json["path"], "spec.x");
        assert!(json["file"].is_null());
    }

    #[test]
    fn summary_counts() {
        let e = Diagnostic::error(FieldPath::root(), "e");
        let w = Diagnostic::warning(FieldPath::root(), "w");
        assert_eq!(summary(&[e.clone(), e, w.clone()]), "2 errors, 1 warning");
        assert_eq!(summary(&[]), "0 errors, 0 warnings");
        let n = Diagnostic::note(FieldPath::root(), "n");
        let all = [w.clone(), n.clone(), n];
        assert_eq!(summary(&all), "0 errors, 1 warning, 2 notes");
        assert_eq!(shown(&all, false).count(), 1);
        assert_eq!(shown(&all, true).count(), 3);
        assert_eq!(all[1].to_string(), "note: n");
    }
}
