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

    /// Parse a path as [`Display`](fmt::Display) prints it: `spec.predictors[0].name`,
    /// `metadata.annotations["seldon.io/istio-host"]`.
    pub fn parse(text: &str) -> Self {
        let mut path = Self::root();
        let mut rest = text;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('.') {
                rest = after;
            } else if let Some(after) = rest.strip_prefix("[\"") {
                // A quoted key, as Debug-formatted: `\"` and `\\` are escapes.
                let mut key = String::new();
                let mut chars = after.char_indices();
                let mut end = after.len();
                while let Some((i, c)) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some((_, escaped)) = chars.next() {
                                key.push(escaped);
                            }
                        }
                        '"' => {
                            end = i + 1;
                            break;
                        }
                        c => key.push(c),
                    }
                }
                path = path.key(key);
                rest = after[end..].strip_prefix(']').unwrap_or(&after[end..]);
            } else if let Some(after) = rest.strip_prefix('[') {
                let (index, tail) = after.split_once(']').unwrap_or((after, ""));
                if let Ok(i) = index.parse() {
                    path = path.index(i);
                } else if !index.is_empty() {
                    path = path.key(index);
                }
                rest = tail;
            } else {
                let end = rest.find(['.', '[']).unwrap_or(rest.len());
                path = path.key(&rest[..end]);
                rest = &rest[end..];
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
