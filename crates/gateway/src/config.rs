//! Reading configuration files: the files behind the paths given (directories as
//! `kubectl -f DIR` reads them), their texts for `sluice_api::load`, the Istio resources
//! the gateway serves, and the fingerprint used to notice changes.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use sluice_api::Diagnostic;
use sluice_api::document::FieldPath;
use sluice_api::load::{self, Loaded, Source, Typed};
use sluice_mesh::Config;

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
    /// A directory holds no configuration file.
    #[error("directory {0} has no .yaml, .yml or .json files")]
    EmptyDirectory(PathBuf),
}

fn is_manifest(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    )
}

/// The files behind `paths`: files as given, directories' `.yaml`/`.yml`/`.json` files,
/// sorted, not recursive (as `kubectl -f DIR`).
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
                .filter(|p| p.is_file() && is_manifest(p))
                .collect();
            if found.is_empty() {
                return Err(LoadError::EmptyDirectory(path.clone()));
            }
            found.sort();
            out.extend(found);
        } else {
            out.push(path.clone());
        }
    }
    Ok(out)
}

/// The texts of the files behind `paths`, named as given.
pub fn read(paths: &[PathBuf]) -> Result<Vec<Source>, LoadError> {
    files(paths)?
        .into_iter()
        .map(|file| {
            let text = std::fs::read_to_string(&file).map_err(|source| LoadError::Read {
                path: file.clone(),
                source,
            })?;
            Ok(Source {
                name: file.display().to_string(),
                text,
            })
        })
        .collect()
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

/// The Istio resources of `loaded` the gateway serves, with a problem for every object it
/// does not serve (placed at its `kind`).
pub fn istio(loaded: &Loaded) -> (Config, Vec<Diagnostic>) {
    let mut config = Config::default();
    let mut problems = Vec::new();
    for resource in &loaded.resources {
        match &resource.typed {
            Typed::Gateway(g) => config.gateways.push(g.clone()),
            Typed::VirtualService(v) => config.virtual_services.push(v.clone()),
            Typed::DestinationRule(d) => config.destination_rules.push(d.clone()),
            Typed::ServiceEntry(s) => config.service_entries.push(s.clone()),
            Typed::RequestAuthentication(r) => config.request_authentications.push(r.clone()),
            Typed::AuthorizationPolicy(a) => config.authorization_policies.push(a.clone()),
            Typed::Secret(s) => config.secrets.push(s.clone()),
            Typed::SeldonDeployment(_) => problems.push(resource.locate(Diagnostic::warning(
                FieldPath::root().key("kind"),
                "a SeldonDeployment is run by `sluice up`, not served by `sluice gateway`; skipped",
            ))),
        }
    }
    (config, problems)
}

/// Put `now` where `was` is in `config` (found by address; both of one kind): whether it
/// was there.
pub fn replace(config: &mut Config, was: &Typed, now: &Typed) -> bool {
    fn put<T>(list: &mut [std::sync::Arc<T>], was: &std::sync::Arc<T>, now: &std::sync::Arc<T>) -> bool {
        match list.iter_mut().find(|o| std::sync::Arc::ptr_eq(o, was)) {
            Some(o) => {
                *o = now.clone();
                true
            }
            None => false,
        }
    }
    match (was, now) {
        (Typed::Gateway(a), Typed::Gateway(b)) => put(&mut config.gateways, a, b),
        (Typed::VirtualService(a), Typed::VirtualService(b)) => put(&mut config.virtual_services, a, b),
        (Typed::DestinationRule(a), Typed::DestinationRule(b)) => put(&mut config.destination_rules, a, b),
        (Typed::ServiceEntry(a), Typed::ServiceEntry(b)) => put(&mut config.service_entries, a, b),
        (Typed::RequestAuthentication(a), Typed::RequestAuthentication(b)) => {
            put(&mut config.request_authentications, a, b)
        }
        (Typed::AuthorizationPolicy(a), Typed::AuthorizationPolicy(b)) => {
            put(&mut config.authorization_policies, a, b)
        }
        (Typed::Secret(a), Typed::Secret(b)) => put(&mut config.secrets, a, b),
        _ => false,
    }
}

/// A problem with the files as a whole (they could not be read).
pub fn read_error(error: &LoadError) -> Diagnostic {
    Diagnostic::error(FieldPath::root(), error.to_string())
}

/// Read `paths` and everything the loader found, or why they could not be read.
pub fn load(paths: &[PathBuf]) -> Result<Loaded, Vec<Diagnostic>> {
    let sources = read(paths).map_err(|e| vec![read_error(&e)])?;
    Ok(load::load(&sources))
}
