//! Field paths such as `spec.predictors[1].annotations["seldon.io/svc-name"]`.

use std::fmt;

/// One step into a document.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Segment {
    Key(String),
    Index(usize),
}

/// A path to a field of a document, printed the way `kubectl explain` and
/// Kubernetes field errors print them: `spec.predictors[0].graph.name`.
/// Keys that are not plain identifiers print quoted: `annotations["seldon.io/istio-host"]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FieldPath(Vec<Segment>);

impl FieldPath {
    /// The document root.
    pub fn root() -> Self {
        Self::default()
    }

    /// The path of a key of the map at `self`.
    #[must_use]
    pub fn key(&self, key: impl Into<String>) -> Self {
        let mut next = self.clone();
        next.0.push(Segment::Key(key.into()));
        next
    }

    /// The path of an item of the list at `self`.
    #[must_use]
    pub fn index(&self, index: usize) -> Self {
        let mut next = self.clone();
        next.0.push(Segment::Index(index));
        next
    }

    /// Remove the last step; false at the root.
    pub fn pop(&mut self) -> bool {
        self.0.pop().is_some()
    }

    /// Is this the root?
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// Is this `apiVersion` or `kind` at the root?
    pub(crate) fn is_type_meta(&self) -> bool {
        matches!(self.0.as_slice(), [Segment::Key(k)] if k == "apiVersion" || k == "kind")
    }

    /// Parse a dotted path (`spec.predictors[0].name`), as written in tests and docs.
    pub fn parse(text: &str) -> Self {
        let mut path = Self::root();
        for part in text.split('.').filter(|p| !p.is_empty()) {
            let (key, rest) = part.split_once('[').unwrap_or((part, ""));
            if !key.is_empty() {
                path = path.key(key);
            }
            for index in rest.split('[') {
                if let Ok(i) = index.trim_end_matches(']').parse() {
                    path = path.index(i);
                }
            }
        }
        path
    }

    pub(crate) fn from_ignored(path: &serde_ignored::Path<'_>) -> Self {
        use serde_ignored::Path;
        match path {
            Path::Root => Self::root(),
            Path::Seq { parent, index } => Self::from_ignored(parent).index(*index),
            Path::Map { parent, key } => Self::from_ignored(parent).key(key.clone()),
            Path::Some { parent } | Path::NewtypeStruct { parent } | Path::NewtypeVariant { parent } => {
                Self::from_ignored(parent)
            }
        }
    }

    pub(crate) fn from_tracked(path: &serde_path_to_error::Path) -> Self {
        use serde_path_to_error::Segment as Tracked;
        let mut out = Self::root();
        for segment in path.iter() {
            out = match segment {
                Tracked::Seq { index } => out.index(*index),
                Tracked::Map { key } => out.key(key.clone()),
                Tracked::Enum { variant } => out.key(variant.clone()),
                Tracked::Unknown => out,
            };
        }
        out
    }
}

fn is_plain(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("<root>");
        }
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(key) if is_plain(key) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    f.write_str(key)?;
                }
                Segment::Key(key) => write!(f, "[{key:?}]")?,
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}
