//! Multi-document YAML in, typed objects with field paths and source positions out.
//!
//! `parse` reads every document of a YAML text into a [`Document`]: the raw JSON value
//! plus an index from [`FieldPath`] to the line and column where that field is written,
//! built the first time a position is asked for (a configuration without problems never
//! needs one, and indexing costs about as much as parsing).
//! [`Document::typed`] deserializes the value into a sluice type and collects every
//! field the type does not know (the fields Kubernetes would prune), so callers can
//! report them instead of dropping them silently.

mod path;
mod positions;

use std::fmt;
use std::sync::{Arc, OnceLock};

use serde::de::DeserializeOwned;
use serde_json::Value;

pub use path::FieldPath;

/// A 1-based line and column in a source text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub column: usize,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// One YAML document of a file.
#[derive(Clone, Debug)]
pub struct Document {
    /// The document as a JSON value.
    pub value: Value,
    /// Where it is in its text, to place its fields.
    anchor: Anchor,
}

/// Where one document is written: enough to place its fields without keeping its value.
/// Cheap to clone (the text's positions are shared).
#[derive(Clone, Debug)]
pub struct Anchor {
    /// Which non-empty document of its text this is, from 0.
    number: usize,
    /// The positions of every document of the text, shared by them.
    positions: Arc<Positions>,
    /// Lines before the text in its file (a part of a file read on its own, see [`split`]).
    lines_before: usize,
}

/// Where each document of one text starts and each of its fields is written: indexed from
/// the text the first time a position is asked for.
struct Positions {
    text: Arc<str>,
    documents: usize,
    index: OnceLock<Vec<positions::Index>>,
}

impl Positions {
    /// The index of document `number`. Both readers skip the same empty documents; were
    /// they ever to disagree (a parser bug), positions fall back to the text's start.
    fn of(&self, number: usize) -> Option<&positions::Index> {
        self.index
            .get_or_init(|| {
                positions::index(&self.text)
                    .ok()
                    .filter(|index| index.len() == self.documents)
                    .unwrap_or_default()
            })
            .get(number)
    }
}

impl fmt::Debug for Positions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Positions")
            .field("bytes", &self.text.len())
            .field("documents", &self.documents)
            .field("indexed", &self.index.get().is_some())
            .finish()
    }
}

/// The YAML text is not well formed.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    /// Where the problem is, when the parser knows.
    pub position: Option<Position>,
    /// What is wrong.
    pub message: String,
}

/// A document deserialized into a sluice type.
#[derive(Clone, Debug)]
pub struct Typed<T> {
    /// The typed value.
    pub value: T,
    /// Fields present in the document that the type does not have.
    pub ignored: Vec<FieldPath>,
}

/// The document does not fit the type: a field has the wrong type or a required one is missing.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct TypeError {
    /// The field at fault.
    pub path: FieldPath,
    /// What is wrong, as serde words it.
    pub message: String,
}

/// The largest YAML text sluice reads.
pub const MAX_TEXT_BYTES: usize = 256 << 20;

/// The YAML reader's limits. serde-saphyr's defaults (1,024 documents, 250,000 nodes,
/// a million events, 64 MiB of scalars) guard against hostile input but refuse a gateway's
/// real configuration long before it is large: 1,000 SeldonDeployments rendered into one
/// file are 2,000 documents. The counts are raised to what [`MAX_TEXT_BYTES`] (checked in
/// [`parse`]) can hold; the guards against alias bombs and deep nesting stay as they are.
fn options() -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_documents = 1_000_000;
    budget.max_nodes = 100_000_000;
    budget.max_events = 200_000_000;
    budget.max_total_scalar_bytes = MAX_TEXT_BYTES;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options
}

/// Parse every non-empty document of a YAML text.
pub fn parse(text: &str) -> Result<Vec<Document>, ParseError> {
    parse_shared(&Arc::from(text))
}

/// [`parse`], keeping `text` itself (not a copy) for placing fields later.
pub fn parse_shared(text: &Arc<str>) -> Result<Vec<Document>, ParseError> {
    if text.len() > MAX_TEXT_BYTES {
        return Err(ParseError {
            position: None,
            message: format!(
                "the text is {} MiB; sluice reads at most {} MiB per file (split it into several files)",
                text.len() >> 20,
                MAX_TEXT_BYTES >> 20
            ),
        });
    }
    let values: Vec<Value> =
        serde_saphyr::from_multiple_with_options(text, options()).map_err(|err| ParseError {
            position: error_position(&err),
            message: first_line(&err.to_string()),
        })?;
    let positions = Arc::new(Positions {
        text: text.clone(),
        documents: values.len(),
        index: OnceLock::new(),
    });
    Ok(values
        .into_iter()
        .enumerate()
        .map(|(number, mut value)| {
            prune_nulls(&mut value);
            Document {
                value,
                anchor: Anchor {
                    number,
                    positions: positions.clone(),
                    lines_before: 0,
                },
            }
        })
        .collect())
}

/// A text cut before each line that starts a document (`---`), each part with the number of
/// lines before it, so that the parts can be read, and remembered, one by one: the
/// documents of the parts are the documents of the text (YAML's anchors, aliases and tags
/// do not cross a document marker). `None` when the text must be read whole: it has a
/// directive (a line starting with `%`), which applies past the marker that follows it, or
/// a lone `\r` or a NUL, which the YAML reader takes for a line break and the text's end
/// (lines here end at `\n` only, so the lines counted before a part would be off).
/// The reader's budgets (documents, nodes) then apply to each part; the text's size limit
/// ([`MAX_TEXT_BYTES`]) is checked on the whole text by its callers.
pub fn split(text: &str) -> Option<Vec<(usize, &str)>> {
    let bytes = text.as_bytes();
    let lone_cr = memchr::memchr_iter(b'\r', bytes).any(|i| bytes.get(i + 1) != Some(&b'\n'));
    if lone_cr || memchr::memchr(0, bytes).is_some() {
        return None;
    }
    let mut parts = Vec::new();
    let (mut start, mut start_line) = (0, 0);
    // Each line's start, found by its first byte: only `%`, `-` and a BOM's first byte
    // (0xEF) can begin a line that matters here.
    let starts = std::iter::once(0).chain(memchr::memchr_iter(b'\n', bytes).map(|i| i + 1));
    for (line, at) in starts.take_while(|&at| at < bytes.len()).enumerate() {
        let rest = &text[at..];
        match bytes[at] {
            b'%' => return None,
            0xEF if rest.trim_start_matches('\u{feff}').starts_with('%') => return None,
            b'-' if at > start && is_document_start(rest) => {
                parts.push((start_line, &text[start..at]));
                (start, start_line) = (at, line);
            }
            _ => {}
        }
    }
    if bytes.len() > start || parts.is_empty() {
        parts.push((start_line, &text[start..]));
    }
    Some(parts)
}

/// `---` alone, or followed by a space, a tab or the line's end, at the start of `line` (a
/// line and what follows it).
pub(crate) fn is_document_start(line: &str) -> bool {
    line.strip_prefix("---")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t', '\r', '\n']))
}

/// A field written with no value (`children:`, `parameters: ~`) is absent, as the API
/// server reads it: structural schemas prune nulls, and Go's JSON leaves the field unset.
/// Nulls inside lists are kept (they are errors there).
fn prune_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, field| !field.is_null());
            map.values_mut().for_each(prune_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(prune_nulls),
        _ => {}
    }
}

impl Document {
    /// `apiVersion` of the document, or `""`.
    pub fn api_version(&self) -> &str {
        self.value.get("apiVersion").and_then(Value::as_str).unwrap_or("")
    }

    /// `kind` of the document, or `""`.
    pub fn kind(&self) -> &str {
        self.value.get("kind").and_then(Value::as_str).unwrap_or("")
    }

    /// `metadata.name` of the document, or `""`.
    pub fn name(&self) -> &str {
        self.value
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// Where the document starts.
    pub fn start(&self) -> Position {
        self.anchor.start()
    }

    /// Where `path` is written; for a field that is absent, where its closest present parent is.
    pub fn position(&self, path: &FieldPath) -> Position {
        self.anchor.position(path)
    }

    /// Where the document is, without its value.
    pub fn anchor(&self) -> &Anchor {
        &self.anchor
    }

    /// Deserialize into `T`, collecting the fields `T` does not know.
    pub fn typed<T: DeserializeOwned>(&self) -> Result<Typed<T>, TypeError> {
        let mut ignored = Vec::new();
        let mut record = |p: serde_ignored::Path<'_>| {
            let path = FieldPath::from_ignored(&p);
            // The type meta is read by whoever dispatched on it; some types do not store it.
            if !path.is_type_meta() {
                ignored.push(path);
            }
        };
        let deserializer = serde_ignored::Deserializer::new(&self.value, &mut record);
        let value = serde_path_to_error::deserialize(deserializer).map_err(|err| TypeError {
            path: FieldPath::from_tracked(err.path()),
            message: err.inner().to_string(),
        })?;
        Ok(Typed { value, ignored })
    }
}

impl Anchor {
    /// The same document, in a text that starts `lines` lines into its file.
    pub fn with_lines_before(&self, lines: usize) -> Anchor {
        Anchor {
            lines_before: lines,
            ..self.clone()
        }
    }

    /// Move the document to a text that starts `lines` lines into its file.
    pub fn set_lines_before(&mut self, lines: usize) {
        self.lines_before = lines;
    }

    /// Lines before its text in its file.
    pub fn lines_before(&self) -> usize {
        self.lines_before
    }

    /// Where the document starts.
    pub fn start(&self) -> Position {
        let start = self
            .positions
            .of(self.number)
            .map_or(Position { line: 1, column: 1 }, |(start, _)| *start);
        self.in_file(start)
    }

    /// Where `path` is written; for a field that is absent, where its closest present parent is.
    pub fn position(&self, path: &FieldPath) -> Position {
        let Some((start, fields)) = self.positions.of(self.number) else {
            return self.in_file(Position { line: 1, column: 1 });
        };
        let mut path = path.clone();
        loop {
            if let Some(found) = fields.get(&path) {
                return self.in_file(*found);
            }
            if !path.pop() {
                return self.in_file(*start);
            }
        }
    }

    fn in_file(&self, at: Position) -> Position {
        Position {
            line: at.line + self.lines_before,
            ..at
        }
    }
}

fn error_position(err: &serde_saphyr::Error) -> Option<Position> {
    err.location().map(|location| Position {
        line: location.line() as usize,
        column: location.column() as usize,
    })
}

fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or(message).to_string()
}

#[cfg(test)]
mod tests;
