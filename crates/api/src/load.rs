//! The one loader: YAML texts (named by their files) in, typed resources with their
//! source positions out, with every problem of the reading itself — not YAML, not an
//! object sluice reads, a field of the wrong type, a field sluice does not know.
//!
//! `sluice validate`, `sluice gateway` and `sluice up` all read their files through it,
//! so a file means the same to each of them, and any later problem about one of its
//! objects (`translate::validate`, `mesh::RouteTable::compile`) is placed at its file,
//! line and column by [`Loaded::locate`].
//!
//! ```text
//!  [Source { name, text }] ──> load ──> Loaded { resources: [Resource { object, file, anchor, typed }],
//!                                                diagnostics }
//!  Diagnostic { object, path } ──> Loaded::locate ──> Diagnostic { location: file:line:col }
//! ```
//!
//! A [`Cache`] makes loading the same files again cost what changed in them: each text is
//! read document by document ([`document::split`]), and a document whose text is unchanged
//! since the last load is not parsed again (`sluice gateway` reloads this way).

mod edit;

use std::hash::BuildHasher;
use std::sync::Arc;

use crate::diagnostic::{Diagnostic, Location, ObjectRef};
use crate::document::{self, Anchor, Document, FieldPath};
use crate::istio::{self, Kind};
use crate::seldon::{self, SeldonDeployment};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

pub use edit::{Replaced, load_edit};

/// A text to load and the name problems give it (the path as given, or `<stdin>`).
#[derive(Clone, Debug)]
pub struct Source {
    /// The file's name in messages.
    pub name: String,
    /// Its content.
    pub text: String,
}

/// A typed object of a kind sluice reads (shared: a reload reuses the unchanged ones).
/// Equal objects are of the same kind with the same content, shared or not.
#[derive(Clone, Debug, PartialEq)]
pub enum Typed {
    /// `machinelearning.seldon.io` `SeldonDeployment` (any served version).
    SeldonDeployment(Arc<SeldonDeployment>),
    /// A Kubernetes `v1` `Secret`: a gateway server's certificate (`credentialName`).
    Secret(Arc<k8s_openapi::api::core::v1::Secret>),
    /// `networking.istio.io` `Gateway`.
    Gateway(Arc<istio::Gateway>),
    /// `networking.istio.io` `VirtualService`.
    VirtualService(Arc<istio::VirtualService>),
    /// `networking.istio.io` `DestinationRule`.
    DestinationRule(Arc<istio::DestinationRule>),
    /// `networking.istio.io` `ServiceEntry`.
    ServiceEntry(Arc<istio::ServiceEntry>),
    /// `security.istio.io` `RequestAuthentication`.
    RequestAuthentication(Arc<istio::RequestAuthentication>),
    /// `security.istio.io` `AuthorizationPolicy`.
    AuthorizationPolicy(Arc<istio::AuthorizationPolicy>),
}

/// One object read from a file.
#[derive(Clone, Debug)]
pub struct Resource {
    /// Its kind, namespace (as written) and name (shared with the load cache).
    pub object: Arc<ObjectRef>,
    /// The file it came from.
    pub file: Arc<str>,
    /// Where its document is in the file, to place its fields.
    pub anchor: Anchor,
    /// The object, typed.
    pub typed: Typed,
}

impl Resource {
    /// Place `diagnostic`, about this resource, at the position of its field.
    pub fn locate(&self, diagnostic: Diagnostic) -> Diagnostic {
        place(&self.file, &self.anchor, &self.object, diagnostic)
    }
}

/// Everything read from the sources.
#[derive(Clone, Debug, Default)]
pub struct Loaded {
    /// The objects sluice reads, in the order they were read.
    pub resources: Vec<Resource>,
    /// Problems of the reading, located.
    pub diagnostics: Vec<Diagnostic>,
    /// The files, in the order given (for sorting problems).
    pub files: Vec<String>,
}

impl Loaded {
    /// A warning for each file with no SeldonDeployment or Istio object (an empty file,
    /// only comments, or only kinds sluice does not read): it runs nothing, which is rarely
    /// what was meant. Files that already have an error are left to it.
    pub fn files_without_objects(&self) -> Vec<crate::Diagnostic> {
        self.files
            .iter()
            .filter(|file| !self.resources.iter().any(|r| &*r.file == file.as_str()))
            .filter(|file| {
                !self
                    .diagnostics
                    .iter()
                    .any(|d| d.is_error() && d.location.as_ref().is_some_and(|l| &l.file == *file))
            })
            .map(|file| {
                crate::Diagnostic::warning(
                    crate::document::FieldPath::root(),
                    "no SeldonDeployment or Istio object in this file; it adds nothing",
                )
                .at(crate::diagnostic::Location {
                    file: file.clone(),
                    line: 1,
                    column: 1,
                })
            })
            .collect()
    }
}

/// Documents already read, by their text: [`load_cached`] parses only the documents whose
/// text it has not seen in the previous load. It keeps what the last load read (the texts
/// and their typed objects, not the parsed values).
///
/// A reload mostly reads the same texts in the same order, so a part is first compared
/// with the part the last load read at the same place; only a part that differs is hashed
/// and looked up. Each text's hash is computed once, when it is first read, and kept: the
/// index is rebuilt from the kept hashes, never from the texts.
#[derive(Debug, Default)]
pub struct Cache {
    /// The last load's parts, in the order it read them.
    parts: Vec<Kept>,
    /// Where each of `parts` was in the last load (the same length).
    placed: Vec<Placed>,
    /// The last load's files, in order.
    files: Vec<FileRead>,
    /// How many objects the last load read (its [`Loaded::resources`]).
    resources: usize,
    /// Positions in `parts`, by the hash of their text.
    by_text: hashbrown::HashTable<usize>,
    hasher: foldhash::fast::RandomState,
}

/// Where a part was in the last load: the lines before it in its file, and its objects'
/// places in [`Loaded::resources`] (for [`load_edit`]).
#[derive(Clone, Copy, Debug)]
struct Placed {
    lines_before: usize,
    first_resource: usize,
    resources: usize,
}

/// A file of the last load: its name, and its parts' positions in [`Cache::parts`] (`None`
/// when it was read whole, or was not valid YAML).
#[derive(Clone, Debug)]
struct FileRead {
    name: String,
    parts: Option<std::ops::Range<usize>>,
}

/// A part of a text as read: its text, the text's hash, and its documents.
#[derive(Clone, Debug)]
struct Kept {
    hash: u64,
    text: Arc<str>,
    reads: Arc<[Read]>,
}

impl Cache {
    /// The position in `parts` of a part with this text, given its hash, that this load
    /// has not `used` yet.
    fn find(&self, hash: u64, text: &str, used: &[bool]) -> Option<usize> {
        self.by_text
            .find(hash, |&i| {
                self.parts[i].hash == hash && !used[i] && *self.parts[i].text == *text
            })
            .copied()
    }

    /// Keep what this load read (`next`) for the next load.
    fn keep(&mut self, next: Reading, resources: usize) {
        let parts = next.parts;
        let mut by_text = hashbrown::HashTable::with_capacity(parts.len());
        for (i, kept) in parts.iter().enumerate() {
            by_text.insert_unique(kept.hash, i, |&j| parts[j].hash);
        }
        self.parts = parts;
        self.placed = next.placed;
        self.files = next.files;
        self.resources = resources;
        self.by_text = by_text;
    }
}

/// One document read: its object, typed, with its own problems (placed when loaded).
#[derive(Clone, Debug)]
struct Read {
    object: Arc<ObjectRef>,
    anchor: Anchor,
    typed: Option<Typed>,
    problems: Vec<Diagnostic>,
    /// An Istio object without a creation time: it is given its place in the reading order.
    ordered: bool,
}

/// Read every document of every source. Objects without `metadata.creationTimestamp`
/// count as created in the order they are read (Istio orders VirtualServices by creation
/// time).
pub fn load(sources: &[Source]) -> Loaded {
    load_cached(sources, &mut Cache::default())
}

/// [`load`], reusing the documents of `cache` whose text is unchanged; `cache` then holds
/// this load's documents.
pub fn load_cached(sources: &[Source], cache: &mut Cache) -> Loaded {
    let mut loaded = Loaded::default();
    // Mostly one object per part, as many as last time.
    loaded.resources.reserve(cache.parts.len());
    let mut order = 0i64;
    let mut next = Reading {
        parts: Vec::with_capacity(cache.parts.len()),
        placed: Vec::with_capacity(cache.parts.len()),
        files: Vec::with_capacity(sources.len()),
        used: vec![false; cache.parts.len()],
        at: 0,
    };
    for source in sources {
        next.pad();
        loaded.files.push(source.name.clone());
        let file: Arc<str> = Arc::from(source.name.as_str());
        let first_part = next.parts.len();
        let read = read_text(&source.text, order, cache, &mut next);
        next.files.push(FileRead {
            name: source.name.clone(),
            parts: read
                .as_ref()
                .is_ok_and(|parts| parts.iter().all(|p| p.kept.is_some()))
                .then_some(first_part..next.parts.len()),
        });
        let parts = match read {
            Ok(parts) => parts,
            Err(e) => {
                let at = e.position.unwrap_or_default();
                loaded.diagnostics.push(
                    Diagnostic::error(FieldPath::root(), format!("not valid YAML: {}", e.message)).at(
                        Location {
                            file: source.name.clone(),
                            line: at.line,
                            column: at.column,
                        },
                    ),
                );
                continue;
            }
        };
        for part in parts {
            let first_resource = loaded.resources.len();
            let mut restamped: Option<Vec<Read>> = None;
            for (i, read) in part.reads.iter().enumerate() {
                if let Some(stamped) = take(&file, read, part.lines_before, &mut order, &mut loaded) {
                    restamped.get_or_insert_with(|| part.reads.to_vec())[i].typed = Some(stamped);
                }
            }
            if part.kept.is_some() {
                next.placed.push(Placed {
                    lines_before: part.lines_before,
                    first_resource,
                    resources: loaded.resources.len() - first_resource,
                });
            }
            // Objects that moved in the reading order keep their new creation time for the
            // next load, so that they are copied once, not on every load (`take` copies a
            // restamped object: `part.reads` holds it too).
            if let (Some(reads), Some(kept)) = (restamped, part.kept) {
                next.parts[kept].reads = reads.into();
            }
        }
    }
    next.pad();
    cache.keep(next, loaded.resources.len());
    loaded
}

impl Reading {
    /// Give the parts kept but not placed (those of a text then read whole) a place that
    /// is never used: their file is read whole, so [`load_edit`] does not edit it.
    fn pad(&mut self) {
        let unplaced = Placed {
            lines_before: 0,
            first_resource: 0,
            resources: 0,
        };
        self.placed.resize(self.parts.len(), unplaced);
    }
}

/// A part of a text and its documents read.
struct Part {
    lines_before: usize,
    /// Its place in [`Reading::parts`], when it is kept for the next load.
    kept: Option<usize>,
    reads: Arc<[Read]>,
}

/// This load's parts so far (with where each is, and the files read), the last load's
/// parts it took, and where the last load's part read next would be.
struct Reading {
    parts: Vec<Kept>,
    placed: Vec<Placed>,
    files: Vec<FileRead>,
    used: Vec<bool>,
    /// The position in [`Cache::parts`] after the last part found there.
    at: usize,
}

/// The documents of `text`, part by part: from `cache` where a part's text was read before,
/// parsed otherwise; either way kept in `next` (a text read whole, as one part, is not). Objects parsed here already have their
/// creation time in the reading order after `order` objects (so they are not copied for it).
fn read_text(
    text: &str,
    mut order: i64,
    cache: &Cache,
    next: &mut Reading,
) -> Result<Vec<Part>, document::ParseError> {
    let start = order;
    let whole = move |text: &str| -> Result<Vec<Part>, document::ParseError> {
        let reads = read_all(document::parse(text)?, start);
        Ok(vec![Part {
            lines_before: 0,
            kept: None,
            reads,
        }])
    };
    if text.len() > document::MAX_TEXT_BYTES {
        return whole(text);
    }
    let Some(parts) = document::split(text) else {
        return whole(text);
    };
    let mut out = Vec::with_capacity(parts.len());
    for (lines_before, part) in parts {
        // The same text in the same place as in the last load, or found by its hash. Each
        // part of the last load is taken once: a document written twice is read twice, so
        // that no two resources share an object (an edit replaces objects by address).
        let found = match cache.parts.get(next.at) {
            Some(kept) if !next.used[next.at] && *kept.text == *part => Ok(next.at),
            _ => {
                let hash = cache.hasher.hash_one(part);
                cache.find(hash, part, &next.used).ok_or(hash)
            }
        };
        let kept = match found {
            Ok(at) => {
                next.at = at + 1;
                next.used[at] = true;
                cache.parts[at].clone()
            }
            Err(hash) => {
                let shared: Arc<str> = Arc::from(part);
                match document::parse_shared(&shared) {
                    Ok(documents) => Kept {
                        hash,
                        text: shared,
                        reads: read_all(documents, order),
                    },
                    // Read whole, the text says what is wrong where, as it does without
                    // parts. The parts read before stay kept, for when it is mended.
                    Err(_) => return whole(text),
                }
            }
        };
        order += kept.reads.iter().filter(|r| r.ordered).count() as i64;
        out.push(Part {
            lines_before,
            kept: Some(next.parts.len()),
            reads: kept.reads.clone(),
        });
        next.parts.push(kept);
    }
    Ok(out)
}

/// The documents read, the objects without a creation time given theirs after `order`.
fn read_all(documents: Vec<Document>, order: i64) -> Arc<[Read]> {
    let mut next = order;
    documents
        .into_iter()
        .map(|document| {
            let mut read = read_document(document);
            if read.ordered
                && let Some(typed) = read.typed.as_mut()
            {
                next += 1;
                typed.set_creation_time(read_order(next));
            }
            read
        })
        .collect()
}

fn read_document(document: Document) -> Read {
    let object = Arc::new(ObjectRef::new(
        document.kind(),
        document
            .value
            .pointer("/metadata/namespace")
            .and_then(|v| v.as_str()),
        document.name(),
    ));
    let mut problems = Vec::new();
    let typed = typed(&document, &mut problems);
    let ordered = typed.as_ref().is_some_and(Typed::lacks_creation_time);
    Read {
        object,
        anchor: document.anchor().clone(),
        typed,
        problems,
        ordered,
    }
}

/// Add `read`, from `lines_before` lines into `file`, to `loaded`; the object, when it had to
/// be copied to take its creation time in this reading order.
fn take(
    file: &Arc<str>,
    read: &Read,
    lines_before: usize,
    order: &mut i64,
    loaded: &mut Loaded,
) -> Option<Typed> {
    let anchor = read.anchor.with_lines_before(lines_before);
    loaded.diagnostics.extend(
        read.problems
            .iter()
            .map(|p| place(file, &anchor, &read.object, p.clone())),
    );
    let mut typed = read.typed.clone()?;
    let mut restamped = None;
    if read.ordered {
        *order += 1;
        if typed.set_creation_time(read_order(*order)) {
            restamped = Some(typed.clone());
        }
    }
    loaded.resources.push(Resource {
        object: read.object.clone(),
        file: file.clone(),
        anchor,
        typed,
    });
    restamped
}

/// `diagnostic` about `object`, placed at its field in the document at `anchor` of `file`.
fn place(file: &str, anchor: &Anchor, object: &ObjectRef, diagnostic: Diagnostic) -> Diagnostic {
    let at = anchor.position(&diagnostic.path);
    let mut located = diagnostic.at(Location {
        file: file.to_string(),
        line: at.line,
        column: at.column,
    });
    if located.object.is_none() && !object.kind.is_empty() {
        located.object = Some(object.clone());
    }
    located
}

impl Typed {
    /// Is `other` this very object (not a copy)?
    pub fn is_shared_with(&self, other: &Typed) -> bool {
        match (self, other) {
            (Typed::SeldonDeployment(a), Typed::SeldonDeployment(b)) => Arc::ptr_eq(a, b),
            (Typed::Secret(a), Typed::Secret(b)) => Arc::ptr_eq(a, b),
            (Typed::Gateway(a), Typed::Gateway(b)) => Arc::ptr_eq(a, b),
            (Typed::VirtualService(a), Typed::VirtualService(b)) => Arc::ptr_eq(a, b),
            (Typed::DestinationRule(a), Typed::DestinationRule(b)) => Arc::ptr_eq(a, b),
            (Typed::ServiceEntry(a), Typed::ServiceEntry(b)) => Arc::ptr_eq(a, b),
            (Typed::RequestAuthentication(a), Typed::RequestAuthentication(b)) => Arc::ptr_eq(a, b),
            (Typed::AuthorizationPolicy(a), Typed::AuthorizationPolicy(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    /// An Istio object without `metadata.creationTimestamp`.
    fn lacks_creation_time(&self) -> bool {
        self.istio_metadata()
            .is_some_and(|m| m.creation_timestamp.is_none())
    }

    /// Set an Istio object's creation time, copying it if it is shared; whether it changed.
    fn set_creation_time(&mut self, time: Time) -> bool {
        macro_rules! set {
            ($object:expr) => {{
                let changed = $object.metadata.creation_timestamp.as_ref() != Some(&time);
                if changed {
                    Arc::make_mut($object).metadata.creation_timestamp = Some(time);
                }
                changed
            }};
        }
        match self {
            Typed::Gateway(o) => set!(o),
            Typed::VirtualService(o) => set!(o),
            Typed::DestinationRule(o) => set!(o),
            Typed::ServiceEntry(o) => set!(o),
            Typed::RequestAuthentication(o) => set!(o),
            Typed::AuthorizationPolicy(o) => set!(o),
            Typed::SeldonDeployment(_) | Typed::Secret(_) => false,
        }
    }

    /// An Istio object's creation time.
    fn creation_time(&self) -> Option<Time> {
        self.istio_metadata()?.creation_timestamp.clone()
    }

    fn istio_metadata(&self) -> Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta> {
        match self {
            Typed::Gateway(o) => Some(&o.metadata),
            Typed::VirtualService(o) => Some(&o.metadata),
            Typed::DestinationRule(o) => Some(&o.metadata),
            Typed::ServiceEntry(o) => Some(&o.metadata),
            Typed::RequestAuthentication(o) => Some(&o.metadata),
            Typed::AuthorizationPolicy(o) => Some(&o.metadata),
            Typed::SeldonDeployment(_) | Typed::Secret(_) => None,
        }
    }
}

/// The typed object, or `None` (with the reason in `problems`).
fn typed(document: &Document, problems: &mut Vec<Diagnostic>) -> Option<Typed> {
    let (api_version, kind) = (document.api_version(), document.kind());
    if kind == "SeldonDeployment" && api_version.starts_with(&format!("{}/", seldon::GROUP)) {
        if !seldon::is_api_version(api_version) {
            problems.push(
                Diagnostic::error(
                    FieldPath::root().key("apiVersion"),
                    format!(
                        "unsupported SeldonDeployment version; use one of: {}",
                        seldon::VERSIONS
                            .iter()
                            .map(|v| format!("{}/{v}", seldon::GROUP))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
                .with_value(api_version),
            );
        }
        let sdep: SeldonDeployment = fields(
            document,
            problems,
            "not a field of the SeldonDeployment schema: Kubernetes prunes it and sluice ignores it (check the spelling)",
        )?;
        return Some(Typed::SeldonDeployment(Arc::new(sdep)));
    }
    if kind == "Secret" && api_version == "v1" {
        let secret: k8s_openapi::api::core::v1::Secret = fields(
            document,
            problems,
            "not a field of a Kubernetes Secret; it is ignored (check the spelling)",
        )?;
        return Some(Typed::Secret(Arc::new(secret)));
    }
    const ISTIO_FIELD: &str =
        "not a field sluice reads for this Istio kind; it is ignored (check the spelling)";
    let Some(kind) = Kind::from_type_meta(api_version, kind) else {
        problems.push(
            Diagnostic::warning(
                FieldPath::root().key("kind"),
                "not a kind sluice reads (SeldonDeployment, Secret, or Istio Gateway, VirtualService, DestinationRule, ServiceEntry, RequestAuthentication, AuthorizationPolicy); skipped",
            )
            .with_value(format!("{api_version}/{kind}")),
        );
        return None;
    };
    macro_rules! istio {
        ($variant:ident) => {{
            let value: istio::$variant = fields(document, problems, ISTIO_FIELD)?;
            Typed::$variant(Arc::new(value))
        }};
    }
    Some(match kind {
        Kind::Gateway => istio!(Gateway),
        Kind::VirtualService => istio!(VirtualService),
        Kind::DestinationRule => istio!(DestinationRule),
        Kind::ServiceEntry => istio!(ServiceEntry),
        Kind::RequestAuthentication => istio!(RequestAuthentication),
        Kind::AuthorizationPolicy => istio!(AuthorizationPolicy),
    })
}

/// Deserialize `document`; fields the type does not know are warnings with `unknown`.
fn fields<T: serde::de::DeserializeOwned>(
    document: &Document,
    problems: &mut Vec<Diagnostic>,
    unknown: &str,
) -> Option<T> {
    match document.typed::<T>() {
        Err(e) => {
            problems.push(Diagnostic::error(e.path, e.message));
            None
        }
        Ok(typed) => {
            problems.extend(
                typed
                    .ignored
                    .into_iter()
                    .map(|path| Diagnostic::warning(path, unknown)),
            );
            Some(typed.value)
        }
    }
}

/// A creation time `seconds` after the epoch, standing for read order.
fn read_order(seconds: i64) -> Time {
    use k8s_openapi::jiff::Timestamp;
    Time(Timestamp::from_second(seconds).unwrap_or(Timestamp::UNIX_EPOCH))
}

impl Loaded {
    /// Place `diagnostic` at its object's field in the file it came from; problems about
    /// objects not read from a file (generated ones) stay without a location.
    pub fn locate(&self, diagnostic: Diagnostic) -> Diagnostic {
        if diagnostic.location.is_some() {
            return diagnostic;
        }
        match diagnostic.object.as_ref().and_then(|o| self.find(o)) {
            Some(resource) => resource.locate(diagnostic),
            None => diagnostic,
        }
    }

    /// The resource that is `object` (namespaces compared with `default` for unset).
    pub fn find(&self, object: &ObjectRef) -> Option<&Resource> {
        self.resources.iter().find(|r| {
            r.object.kind == object.kind
                && r.object.name == object.name
                && r.object.namespace_or_default() == object.namespace_or_default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(name: &str, text: &str) -> Source {
        Source {
            name: name.into(),
            text: text.into(),
        }
    }

    const TWO: &str = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: vs, namespace: apps}\nspec:\n  hosts: [a]\n  http:\n  - timeout: soon\n    route: [{destination: {host: a}}]\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n";

    #[test]
    fn reads_typed_resources_and_places_its_own_problems() {
        let loaded = load(&[source("a.yaml", TWO), source("b.yaml", "a: [1")]);
        assert_eq!(loaded.resources.len(), 1);
        assert!(matches!(loaded.resources[0].typed, Typed::VirtualService(_)));
        let texts: Vec<String> = loaded.diagnostics.iter().map(ToString::to_string).collect();
        assert!(
            texts[0].starts_with("a.yaml:11:1: warning: [ConfigMap/c] kind: "),
            "{texts:?}"
        );
        assert!(texts[1].starts_with("b.yaml:1:"), "{texts:?}");
        assert!(texts[1].contains("error: not valid YAML"), "{texts:?}");
        assert_eq!(loaded.files, ["a.yaml", "b.yaml"]);
    }

    #[test]
    fn later_problems_are_placed_by_object_and_path() {
        let loaded = load(&[source("a.yaml", TWO)]);
        let found = Diagnostic::error(FieldPath::parse("spec.http[0].timeout"), "not a duration")
            .in_object(ObjectRef::new("VirtualService", Some("apps"), "vs"));
        assert_eq!(
            loaded.locate(found).to_string(),
            "a.yaml:7:5: error: [VirtualService/vs] spec.http[0].timeout: not a duration"
        );
        // Another namespace's object of the same name is not this one.
        let elsewhere = Diagnostic::error(FieldPath::root(), "x").in_object(ObjectRef::new(
            "VirtualService",
            Some("default"),
            "vs",
        ));
        assert!(loaded.locate(elsewhere).location.is_none());
    }

    #[test]
    fn istio_objects_count_as_created_in_reading_order() {
        let loaded = load(&[
            source("a.yaml", TWO),
            source("c.yaml", &TWO.replace("name: vs", "name: vs2")),
        ]);
        let created: Vec<i64> = loaded
            .resources
            .iter()
            .map(|r| match &r.typed {
                Typed::VirtualService(vs) => vs
                    .metadata
                    .creation_timestamp
                    .as_ref()
                    .map_or(0, |t| t.0.as_second()),
                _ => 0,
            })
            .collect();
        assert_eq!(created, [1, 2]);
    }

    /// What a load says, to compare loads: problems as printed, and each object with its
    /// file, creation time and start.
    fn summary(loaded: &Loaded) -> (Vec<String>, Vec<String>) {
        let resources = loaded
            .resources
            .iter()
            .map(|r| {
                let created = r
                    .typed
                    .istio_metadata()
                    .and_then(|m| m.creation_timestamp.clone());
                format!("{} {} {:?} {}", r.file, r.object, created, r.anchor.start())
            })
            .collect();
        (
            loaded.diagnostics.iter().map(ToString::to_string).collect(),
            resources,
        )
    }

    fn virtual_service(name: &str) -> String {
        format!(
            "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: {name}}}\nspec:\n  hosts: [a]\n  http:\n  - route: [{{destination: {{host: a}}}}]\n    bogus: 1\n"
        )
    }

    fn typed_vs(resource: &Resource) -> &Arc<istio::VirtualService> {
        match &resource.typed {
            Typed::VirtualService(vs) => vs,
            other => panic!("not a VirtualService: {other:?}"),
        }
    }

    #[test]
    fn a_cached_load_reads_what_a_fresh_one_reads_and_parses_only_changed_documents() {
        let docs = |names: &[&str]| -> String {
            names
                .iter()
                .map(|n| format!("---\n{}", virtual_service(n)))
                .collect()
        };
        let mut cache = Cache::default();
        let first = [source("a.yaml", &docs(&["a", "b", "c"]))];
        let one = load_cached(&first, &mut cache);
        assert_eq!(summary(&one), summary(&load(&first)));
        assert_eq!(one.resources.len(), 3);
        assert_eq!(
            one.diagnostics.len(),
            3,
            "each document's unknown field: {:?}",
            one.diagnostics
        );

        // `b` gains a line: `a` and `c` are the objects already read, `c`'s problem moves down.
        let edited =
            docs(&["a", "b", "c"]).replace("metadata: {name: b}\n", "metadata: {name: b}\n# edited\n");
        let second = [source("a.yaml", &edited)];
        let two = load_cached(&second, &mut cache);
        assert_eq!(summary(&two), summary(&load(&second)));
        assert!(Arc::ptr_eq(
            typed_vs(&one.resources[0]),
            typed_vs(&two.resources[0])
        ));
        assert!(!Arc::ptr_eq(
            typed_vs(&one.resources[1]),
            typed_vs(&two.resources[1])
        ));
        assert!(Arc::ptr_eq(
            typed_vs(&one.resources[2]),
            typed_vs(&two.resources[2])
        ));
        assert_eq!(two.diagnostics[2].location.as_ref().map(|l| l.line), Some(28));

        // A new first object: the others take their new place in the reading order once,
        // and keep it for the next load (no copy then).
        let third = [source("a.yaml", &format!("{}{edited}", docs(&["z"])))];
        let three = load_cached(&third, &mut cache);
        assert_eq!(summary(&three), summary(&load(&third)));
        let again = load_cached(&third, &mut cache);
        for (a, b) in three.resources.iter().zip(&again.resources) {
            assert!(Arc::ptr_eq(typed_vs(a), typed_vs(b)), "{} copied again", a.object);
        }

        // A broken document is reported as a fresh load reports it; the next good load
        // still reuses what it can.
        let broken = [source("a.yaml", &format!("{}---\na: [1\n", third[0].text))];
        assert_eq!(
            summary(&load_cached(&broken, &mut cache)),
            summary(&load(&broken))
        );
        let four = load_cached(&third, &mut cache);
        assert_eq!(summary(&four), summary(&load(&third)));
        for (a, b) in again.resources.iter().zip(&four.resources) {
            assert!(Arc::ptr_eq(typed_vs(a), typed_vs(b)), "{} read again", a.object);
        }
    }

    #[test]
    fn identical_documents_are_each_kept_with_their_own_place_in_the_reading_order() {
        let text = format!("---\n{}---\n{}", virtual_service("a"), virtual_service("a"));
        let sources = [source("a.yaml", &text)];
        let mut cache = Cache::default();
        let one = load_cached(&sources, &mut cache);
        let two = load_cached(&sources, &mut cache);
        assert_eq!(summary(&two), summary(&load(&sources)));
        for (a, b) in one.resources.iter().zip(&two.resources) {
            assert!(Arc::ptr_eq(typed_vs(a), typed_vs(b)), "{} copied again", a.object);
        }
    }

    #[test]
    fn documents_reordered_or_moved_to_another_file_are_found_in_the_cache() {
        // With creation times of their own, objects keep their content whatever the order.
        let created = |name: &str, day: u32| {
            virtual_service(name).replace(
                &format!("metadata: {{name: {name}}}"),
                &format!("metadata: {{name: {name}, creationTimestamp: \"2026-01-0{day}T00:00:00Z\"}}"),
            )
        };
        let docs = |names: &[&str]| -> String {
            names
                .iter()
                .zip(1..)
                .map(|(n, day)| format!("---\n{}", created(n, day)))
                .collect()
        };
        let mut cache = Cache::default();
        let first = [
            source("a.yaml", &docs(&["a", "b", "c"])),
            source("b.yaml", &docs(&["d"])),
        ];
        let one = load_cached(&first, &mut cache);
        let by_name = |loaded: &Loaded, name: &str| -> Arc<istio::VirtualService> {
            let found = loaded.resources.iter().find(|r| r.object.name == name);
            typed_vs(found.expect("the object")).clone()
        };
        // `c` first, `b` moved to b.yaml: the same texts, found by their hash.
        let a_b_c = docs(&["a", "b", "c"]);
        let parts: Vec<&str> = a_b_c.split_inclusive("bogus: 1\n").collect();
        let moved = [
            source("a.yaml", &format!("{}{}", parts[2], parts[0])),
            source("b.yaml", &format!("{}{}", parts[1], docs(&["d"]))),
        ];
        let two = load_cached(&moved, &mut cache);
        assert_eq!(summary(&two), summary(&load(&moved)));
        for name in ["a", "b", "c", "d"] {
            assert!(
                Arc::ptr_eq(&by_name(&one, name), &by_name(&two, name)),
                "{name} read again"
            );
        }
    }

    #[test]
    fn a_broken_document_among_others_reads_as_a_fresh_load_then_mends() {
        let doc = |name: &str| format!("---\n{}", virtual_service(name));
        let good = [doc("a"), doc("b"), doc("c")].concat();
        let broken = [doc("a"), "---\na: [1\n".to_string(), doc("c")].concat();
        let mut cache = Cache::default();
        for text in [&good, &broken, &good, &broken] {
            let sources = [source("a.yaml", text)];
            assert_eq!(
                summary(&load_cached(&sources, &mut cache)),
                summary(&load(&sources))
            );
        }
    }

    #[test]
    fn the_cache_keeps_only_the_last_loads_documents() {
        let mut cache = Cache::default();
        load_cached(&[source("a.yaml", &virtual_service("a"))], &mut cache);
        load_cached(&[source("a.yaml", &virtual_service("b"))], &mut cache);
        assert_eq!(cache.parts.len(), 1);
        assert!(cache.parts.iter().all(|kept| kept.text.contains("name: b")));
    }
}
