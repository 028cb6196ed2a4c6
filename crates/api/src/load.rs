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
//!  [Source { name, text }] ──> load ──> Loaded { resources: [Resource { object, file, document, typed }],
//!                                                diagnostics }
//!  Diagnostic { object, path } ──> Loaded::locate ──> Diagnostic { location: file:line:col }
//! ```

use crate::diagnostic::{Diagnostic, Location, ObjectRef};
use crate::document::{self, Document, FieldPath};
use crate::istio::{self, Kind};
use crate::seldon::{self, SeldonDeployment};

/// A text to load and the name problems give it (the path as given, or `<stdin>`).
#[derive(Clone, Debug)]
pub struct Source {
    /// The file's name in messages.
    pub name: String,
    /// Its content.
    pub text: String,
}

/// A typed object of a kind sluice reads.
#[derive(Clone, Debug)]
pub enum Typed {
    /// `machinelearning.seldon.io` `SeldonDeployment` (any served version).
    SeldonDeployment(Box<SeldonDeployment>),
    /// A Kubernetes `v1` `Secret`: a gateway server's certificate (`credentialName`).
    Secret(Box<k8s_openapi::api::core::v1::Secret>),
    /// `networking.istio.io` `Gateway`.
    Gateway(Box<istio::Gateway>),
    /// `networking.istio.io` `VirtualService`.
    VirtualService(Box<istio::VirtualService>),
    /// `networking.istio.io` `DestinationRule`.
    DestinationRule(Box<istio::DestinationRule>),
    /// `networking.istio.io` `ServiceEntry`.
    ServiceEntry(Box<istio::ServiceEntry>),
    /// `security.istio.io` `RequestAuthentication`.
    RequestAuthentication(Box<istio::RequestAuthentication>),
    /// `security.istio.io` `AuthorizationPolicy`.
    AuthorizationPolicy(Box<istio::AuthorizationPolicy>),
}

/// One object read from a file.
#[derive(Clone, Debug)]
pub struct Resource {
    /// Its kind, namespace (as written) and name.
    pub object: ObjectRef,
    /// The file it came from.
    pub file: String,
    /// The document, with the positions of its fields.
    pub document: Document,
    /// The object, typed.
    pub typed: Typed,
}

impl Resource {
    /// Place `diagnostic`, about this resource, at the position of its field.
    pub fn locate(&self, diagnostic: Diagnostic) -> Diagnostic {
        place(&self.file, &self.document, &self.object, diagnostic)
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
            .filter(|file| !self.resources.iter().any(|r| &r.file == *file))
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

/// Read every document of every source. Objects without `metadata.creationTimestamp`
/// count as created in the order they are read (Istio orders VirtualServices by creation
/// time).
pub fn load(sources: &[Source]) -> Loaded {
    let mut loaded = Loaded::default();
    let mut order = 0i64;
    for source in sources {
        loaded.files.push(source.name.clone());
        let documents = match document::parse(&source.text) {
            Ok(documents) => documents,
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
        for document in documents {
            read_document(&source.name, document, &mut order, &mut loaded);
        }
    }
    loaded
}

fn read_document(file: &str, document: Document, order: &mut i64, loaded: &mut Loaded) {
    let object = ObjectRef::new(
        document.kind(),
        document
            .value
            .pointer("/metadata/namespace")
            .and_then(|v| v.as_str()),
        document.name(),
    );
    let mut problems = Vec::new();
    let typed = typed(&document, order, &mut problems);
    loaded
        .diagnostics
        .extend(problems.into_iter().map(|p| place(file, &document, &object, p)));
    if let Some(typed) = typed {
        loaded.resources.push(Resource {
            object,
            file: file.to_string(),
            document,
            typed,
        });
    }
}

/// `diagnostic` about `object`, placed at its field in `document` of `file`.
fn place(file: &str, document: &Document, object: &ObjectRef, diagnostic: Diagnostic) -> Diagnostic {
    let at = document.position(&diagnostic.path);
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

/// The typed object, or `None` (with the reason in `problems`).
fn typed(document: &Document, order: &mut i64, problems: &mut Vec<Diagnostic>) -> Option<Typed> {
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
        return Some(Typed::SeldonDeployment(Box::new(sdep)));
    }
    if kind == "Secret" && api_version == "v1" {
        let secret: k8s_openapi::api::core::v1::Secret = fields(
            document,
            problems,
            "not a field of a Kubernetes Secret; it is ignored (check the spelling)",
        )?;
        return Some(Typed::Secret(Box::new(secret)));
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
            let mut value: istio::$variant = fields(document, problems, ISTIO_FIELD)?;
            if value.metadata.creation_timestamp.is_none() {
                *order += 1;
                value.metadata.creation_timestamp = Some(read_order(*order));
            }
            Typed::$variant(Box::new(value))
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
fn read_order(seconds: i64) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::Time {
    use k8s_openapi::jiff::Timestamp;
    k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        Timestamp::from_second(seconds).unwrap_or(Timestamp::UNIX_EPOCH),
    )
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
}
