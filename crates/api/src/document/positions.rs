//! An index from field path to source position, built from the YAML event stream.

use std::collections::BTreeMap;

use serde_saphyr::granit_parser::{Event, Marker, Parser, ScanError};

use super::{FieldPath, Position};

/// Where each document starts, and where each of its fields is written.
pub(super) type Index = (Position, BTreeMap<FieldPath, Position>);

enum Frame {
    Map {
        path: FieldPath,
        /// The key whose value comes next; `None` while a key is expected.
        key: Option<FieldPath>,
    },
    Seq {
        path: FieldPath,
        next: usize,
    },
    /// A complex (non-scalar) mapping key: nothing inside it is a field.
    Skip,
}

/// Index every non-empty document of `text`, in order.
pub(super) fn index(text: &str) -> Result<Vec<Index>, ScanError> {
    let mut documents = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut current: Option<Index> = None;
    let mut empty = true;
    for event in Parser::new_from_str(text) {
        let (event, span) = event?;
        let at = position(span.start);
        match event {
            Event::DocumentStart(..) => {
                current = Some((at, BTreeMap::new()));
                empty = true;
            }
            Event::DocumentEnd => {
                if let Some(doc) = current.take()
                    && !empty
                {
                    documents.push(doc);
                }
                stack.clear();
            }
            Event::Scalar(ref value, ..) if stack.is_empty() => {
                // A document that is a lone scalar: only null-like ones are skipped by serde.
                empty = is_null(value);
                if let Some((start, _)) = current.as_mut() {
                    *start = at;
                }
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                empty = false;
                let path = match enter(&mut stack, at, current.as_mut()) {
                    Some(path) => path,
                    None => {
                        stack.push(Frame::Skip);
                        continue;
                    }
                };
                if stack.is_empty()
                    && let Some((start, _)) = current.as_mut()
                {
                    *start = at;
                }
                stack.push(match event {
                    Event::MappingStart(..) => Frame::Map { path, key: None },
                    _ => Frame::Seq { path, next: 0 },
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                stack.pop();
                finish_value(&mut stack);
            }
            Event::Scalar(ref value, ..) => {
                if let Some(Frame::Map { path, key }) = stack.last_mut()
                    && key.is_none()
                {
                    let field = path.key(value.to_string());
                    if let Some((_, positions)) = current.as_mut() {
                        positions.insert(field.clone(), at);
                    }
                    *key = Some(field);
                    continue;
                }
                enter(&mut stack, at, current.as_mut());
                finish_value(&mut stack);
            }
            Event::Alias(..) => {
                enter(&mut stack, at, current.as_mut());
                finish_value(&mut stack);
            }
            _ => {}
        }
    }
    Ok(documents)
}

/// A value node starts: return its path (recording sequence items), or `None` inside a skipped key.
fn enter(stack: &mut [Frame], at: Position, current: Option<&mut Index>) -> Option<FieldPath> {
    match stack.last_mut() {
        None => Some(FieldPath::root()),
        Some(Frame::Skip) => None,
        Some(Frame::Map { key: Some(key), .. }) => Some(key.clone()),
        // A complex key (a mapping or sequence used as a key).
        Some(Frame::Map { key: None, .. }) => None,
        Some(Frame::Seq { path, next }) => {
            let item = path.index(*next);
            *next += 1;
            if let Some((_, positions)) = current {
                positions.insert(item.clone(), at);
            }
            Some(item)
        }
    }
}

/// A value node ended: its parent map expects a key again.
fn finish_value(stack: &mut [Frame]) {
    if let Some(Frame::Map { key, .. }) = stack.last_mut() {
        *key = None;
    }
}

fn position(marker: Marker) -> Position {
    Position {
        line: marker.line(),
        column: marker.col() + 1,
    }
}

fn is_null(value: &str) -> bool {
    matches!(value, "" | "~" | "null" | "Null" | "NULL")
}
