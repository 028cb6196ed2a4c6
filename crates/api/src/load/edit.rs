//! Loading files again as an edit of the last load. When only some documents of a file
//! changed, and each still reads as the same objects, the last load is updated in place:
//! the changed documents are read, and nothing else is touched but the line numbers of the
//! documents after them. A reload of 10,000 SeldonDeployments' routes (40,000 objects in
//! one 12 MB file) after a one-deployment edit then costs what changed.
//!
//! ```text
//!  last load's parts:  [ a ][ b ][ c ][ d ][ e ]      compared from the start, then the end
//!  new text:           [ a ][ b ][  c'  ][ d ][ e ]   c' is read; d and e move down a line
//! ```

use std::hash::BuildHasher;
use std::ops::Range;
use std::sync::Arc;

use super::{Cache, Kept, Loaded, Source, Typed, read_all};
use crate::document;

/// An object replaced by [`load_edit`]: its place in [`Loaded::resources`] (which now holds
/// the new object) and the object it was.
#[derive(Clone, Debug)]
pub struct Replaced {
    /// Its index in [`Loaded::resources`].
    pub index: usize,
    /// The object the last load had there.
    pub was: Typed,
}

/// Load `sources` as an edit of `last`, the load `cache` last made (with
/// [`load_cached`](super::load_cached) or this function). When the files are those read
/// last, in the same order, each read in parts, and their texts differ only inside some
/// documents, each of which still reads as the same objects (kinds, namespaces and names,
/// in order) without problems, `last` becomes the load of `sources` and the objects
/// replaced are returned. Otherwise nothing changes and the answer is `None`: load them
/// with `load_cached`.
///
/// `last` is then what `load_cached` would make of `sources` (`tests/edit.rs` compares them).
pub fn load_edit(sources: &[Source], cache: &mut Cache, last: &mut Loaded) -> Option<Vec<Replaced>> {
    let same_files = sources.len() == cache.files.len()
        && last.files.len() == sources.len()
        && sources.iter().zip(&cache.files).all(|(s, f)| s.name == f.name);
    // Problems of the last load are placed at lines that an edit could move.
    if !same_files || !last.diagnostics.is_empty() || last.resources.len() != cache.resources {
        return None;
    }
    let mut edits = Vec::new();
    for (source, file) in sources.iter().zip(&cache.files) {
        if let Some(edit) = cache.plan(&source.text, file.parts.clone()?)? {
            edits.push(edit);
        }
    }
    let mut replaced = Vec::new();
    for edit in edits {
        cache.apply(edit, last, &mut replaced);
    }
    Some(replaced)
}

/// One file's edit: the last load's parts `old` (positions in [`Cache::parts`]) become
/// `new` (each with its lines before; `None` when its text is unchanged), and the file's
/// `later` parts move `shift` lines.
struct Edit {
    old: Range<usize>,
    new: Vec<(usize, Option<Kept>)>,
    later: Range<usize>,
    shift: isize,
}

impl Cache {
    /// How `text` differs from the file the last load read as `parts`: `Some(None)` when it
    /// does not, `None` when the difference is not an edit of some documents (see
    /// [`load_edit`]).
    fn plan(&self, text: &str, parts: Range<usize>) -> Option<Option<Edit>> {
        if text.len() > document::MAX_TEXT_BYTES {
            return None;
        }
        let kept = self.parts.get(parts.clone())?;
        let bytes = text.as_bytes();
        // The parts the text starts with, then those it ends with.
        let (mut i, mut start) = (0, 0);
        while let Some(part) = kept.get(i)
            && bytes[start..].starts_with(part.text.as_bytes())
        {
            start += part.text.len();
            i += 1;
        }
        if i == kept.len() && start == bytes.len() {
            return Some(None);
        }
        // A part ends where the next document starts: the last one found is the start of
        // a longer document when no document starts after it.
        let longer = |rest: &str| !rest.is_empty() && !document::is_document_start(rest);
        if i > 0 && text.get(start..).is_some_and(longer) {
            i -= 1;
            start -= kept[i].text.len();
        }
        if i == kept.len() {
            return None; // documents added at the end
        }
        let (mut j, mut end) = (kept.len(), bytes.len());
        while j > i && bytes[start..end].ends_with(kept[j - 1].text.as_bytes()) {
            j -= 1;
            end -= kept[j].text.len();
        }
        // Between them, whole lines: the changed documents' new text.
        let region = text.get(start..end)?;
        if region.is_empty() || (end < bytes.len() && !region.ends_with('\n')) {
            return None;
        }
        let split = document::split(region)?;
        if split.len() != j - i {
            return None;
        }
        let base = self.placed.get(parts.start + i)?.lines_before;
        let mut new = Vec::with_capacity(split.len());
        for ((lines, part), was) in split.into_iter().zip(&kept[i..j]) {
            // Between two edited documents, the unchanged ones are kept as they are.
            if part == &*was.text {
                new.push((base + lines, None));
                continue;
            }
            let shared: Arc<str> = Arc::from(part);
            let mut reads = read_all(document::parse_shared(&shared).ok()?, 0).to_vec();
            if reads.len() != was.reads.len() {
                return None;
            }
            for (read, old) in reads.iter_mut().zip(was.reads.iter()) {
                let same = *read.object == *old.object
                    && read.ordered == old.ordered
                    && read.problems.is_empty()
                    && read.typed.is_some();
                if !same {
                    return None;
                }
                // In the reading order, it takes the place of the object it replaces.
                if read.ordered
                    && let (Some(typed), Some(time)) = (
                        read.typed.as_mut(),
                        old.typed.as_ref().and_then(Typed::creation_time),
                    )
                {
                    typed.set_creation_time(time);
                }
                // An object read again as it was (a comment or the layout edited) stays the
                // one shared with what was made from it.
                if read.typed == old.typed {
                    read.typed.clone_from(&old.typed);
                }
            }
            new.push((
                base + lines,
                Some(Kept {
                    hash: self.hasher.hash_one(part),
                    text: shared,
                    reads: reads.into(),
                }),
            ));
        }
        let shift = match self.placed.get(parts.start + j) {
            Some(after) if j < kept.len() => {
                let lines = memchr::memchr_iter(b'\n', region.as_bytes()).count();
                isize::try_from(lines).ok()? - isize::try_from(after.lines_before - base).ok()?
            }
            _ => 0,
        };
        Some(Some(Edit {
            old: parts.start + i..parts.start + j,
            new,
            later: parts.start + j..parts.end,
            shift,
        }))
    }

    /// Make `edit` in the cache and in `last`, the load it made; push the objects replaced.
    fn apply(&mut self, edit: Edit, last: &mut Loaded, replaced: &mut Vec<Replaced>) {
        let Cache {
            parts,
            placed,
            by_text,
            ..
        } = self;
        for (at, (lines_before, kept)) in edit.old.zip(edit.new) {
            let place = &mut placed[at];
            place.lines_before = lines_before;
            let Some(kept) = kept else {
                let objects = place.first_resource..place.first_resource + place.resources;
                for resource in last.resources.get_mut(objects).unwrap_or_default() {
                    resource.anchor.set_lines_before(lines_before);
                }
                continue;
            };
            for (n, read) in kept.reads.iter().enumerate() {
                let index = place.first_resource + n;
                if let (Some(resource), Some(typed)) = (last.resources.get_mut(index), read.typed.clone()) {
                    resource.anchor = read.anchor.with_lines_before(lines_before);
                    if !resource.typed.is_shared_with(&typed) {
                        let was = std::mem::replace(&mut resource.typed, typed);
                        replaced.push(Replaced { index, was });
                    }
                }
            }
            if let Ok(entry) = by_text.find_entry(parts[at].hash, |&i| i == at) {
                entry.remove();
            }
            by_text.insert_unique(kept.hash, at, |&i| parts[i].hash);
            parts[at] = kept;
        }
        if edit.shift != 0 {
            for place in &mut placed[edit.later] {
                place.lines_before = place.lines_before.saturating_add_signed(edit.shift);
                let objects = place.first_resource..place.first_resource + place.resources;
                for resource in last.resources.get_mut(objects).unwrap_or_default() {
                    let lines = resource.anchor.lines_before().saturating_add_signed(edit.shift);
                    resource.anchor.set_lines_before(lines);
                }
            }
        }
    }
}
