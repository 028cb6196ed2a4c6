//! Reading Istio resources from files: multi-document YAML, many files, and the
//! fingerprint used to notice changes.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use sluice_api::document;
use sluice_api::istio::{DestinationRule, Gateway, Kind, ServiceEntry, VirtualService};
use sluice_mesh::Config;

/// The configuration read from files, with every problem found on the way.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The Istio resources.
    pub config: Config,
    /// `file:line:col: severity: [Kind/name] path: message` lines; errors reject the whole load.
    pub problems: Vec<Problem>,
}

/// One problem found while reading.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// An error rejects the configuration.
    pub error: bool,
    /// `file:line:col: ...`.
    pub text: String,
}

impl Loaded {
    /// Has any error?
    pub fn has_errors(&self) -> bool {
        self.problems.iter().any(|p| p.error)
    }
}

/// The files could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A path could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The files behind `paths`: files as given, directories' `.yaml`/`.yml`/`.json` files, sorted.
pub fn files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, LoadError> {
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|source| LoadError::Read {
                    path: path.clone(),
                    source,
                })?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.is_file()
                        && matches!(
                            p.extension().and_then(|e| e.to_str()),
                            Some("yaml" | "yml" | "json")
                        )
                })
                .collect();
            found.sort();
            out.extend(found);
        } else {
            out.push(path.clone());
        }
    }
    Ok(out)
}

/// What changes when a file changes: paths, sizes and modification times.
pub fn fingerprint(paths: &[PathBuf]) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
    files(paths)
        .unwrap_or_default()
        .into_iter()
        .map(|p| {
            let meta = std::fs::metadata(&p).ok();
            let len = meta.as_ref().map_or(0, |m| m.len());
            let modified = meta.and_then(|m| m.modified().ok());
            (p, len, modified)
        })
        .collect()
}

/// Read every Istio resource in `paths`. Resources without `creationTimestamp` count as
/// created in the order they are read (Istio orders VirtualServices by creation time).
pub fn load(paths: &[PathBuf]) -> Result<Loaded, LoadError> {
    let mut loaded = Loaded::default();
    let mut order = 0i64;
    for file in files(paths)? {
        let text = std::fs::read_to_string(&file).map_err(|source| LoadError::Read {
            path: file.clone(),
            source,
        })?;
        load_text(&file, &text, &mut loaded, &mut order);
    }
    Ok(loaded)
}

/// Read the Istio resources of one text (named `file` in messages) into `loaded`.
pub fn load_text(file: &Path, text: &str, loaded: &mut Loaded, order: &mut i64) {
    let name = file.display().to_string();
    let docs = match document::parse(text) {
        Ok(docs) => docs,
        Err(e) => {
            let at = e.position.unwrap_or_default();
            loaded.problems.push(Problem {
                error: true,
                text: format!("{name}:{at}: error: not valid YAML: {}", e.message),
            });
            return;
        }
    };
    for doc in docs {
        if !add_document(&name, &doc, loaded, order) {
            let mut problem = |error: bool, path: &document::FieldPath, message: &str| {
                let at = doc.position(path);
                let severity = if error { "error" } else { "warning" };
                let object = format!("[{}/{}]", doc.kind(), doc.name());
                loaded.problems.push(Problem {
                    error,
                    text: format!("{name}:{at}: {severity}: {object} {path}: {message}"),
                });
            };
            problem(
                false,
                &document::FieldPath::root().key("kind"),
                &format!(
                    "{} {} is not an Istio resource the gateway reads; skipped",
                    doc.api_version(),
                    doc.kind()
                ),
            );
        }
    }
}

/// Add one document if it is an Istio resource the gateway reads; `false` otherwise.
/// Problems are reported as `file:line:col` lines naming `file`.
pub fn add_document(name: &str, doc: &document::Document, loaded: &mut Loaded, order: &mut i64) -> bool {
    {
        let object = format!("[{}/{}]", doc.kind(), doc.name());
        let mut problem = |error: bool, path: &document::FieldPath, message: &str| {
            let at = doc.position(path);
            let severity = if error { "error" } else { "warning" };
            loaded.problems.push(Problem {
                error,
                text: format!("{name}:{at}: {severity}: {object} {path}: {message}"),
            });
        };
        let Some(kind) = Kind::from_type_meta(doc.api_version(), doc.kind()) else {
            return false;
        };
        macro_rules! typed {
            ($t:ty, $list:expr) => {
                match doc.typed::<$t>() {
                    Err(e) => problem(true, &e.path, &e.message),
                    Ok(t) => {
                        for path in &t.ignored {
                            problem(
                                false,
                                path,
                                "not a field the gateway reads; it is ignored (check the spelling)",
                            );
                        }
                        let mut value = t.value;
                        if value.metadata.creation_timestamp.is_none() {
                            *order += 1;
                            value.metadata.creation_timestamp = Some(k8s_time(*order));
                        }
                        $list.push(value);
                    }
                }
            };
        }
        match kind {
            Kind::Gateway => typed!(Gateway, loaded.config.gateways),
            Kind::VirtualService => typed!(VirtualService, loaded.config.virtual_services),
            Kind::DestinationRule => typed!(DestinationRule, loaded.config.destination_rules),
            Kind::ServiceEntry => typed!(ServiceEntry, loaded.config.service_entries),
            Kind::RequestAuthentication | Kind::AuthorizationPolicy => problem(
                true,
                &document::FieldPath::root().key("kind"),
                "RequestAuthentication and AuthorizationPolicy are not enforced by the local gateway yet; remove them rather than run unprotected",
            ),
        }
    }
    true
}

/// A creation time `seconds` after the epoch, for read order.
fn k8s_time(seconds: i64) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::Time {
    use k8s_openapi::jiff::Timestamp;
    k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        Timestamp::from_second(seconds).unwrap_or(Timestamp::UNIX_EPOCH),
    )
}
