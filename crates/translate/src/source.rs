//! From a parsed YAML document to a checked SeldonDeployment: type, unknown fields,
//! namespace and every admission rule, each problem with its field path.

use sluice_api::document::{Document, FieldPath};
use sluice_api::{SeldonDeployment, seldon};

use crate::diagnostic::Diagnostic;
use crate::settings::Settings;
use crate::validate;

/// A document checked as a SeldonDeployment.
#[derive(Clone, Debug)]
pub struct Checked {
    /// The SDep, when the document could be read as one (it may still have errors).
    pub sdep: Option<SeldonDeployment>,
    /// Everything found, errors and warnings.
    pub diagnostics: Vec<Diagnostic>,
}

impl Checked {
    /// The SDep, when it has no errors.
    pub fn valid(&self) -> Option<&SeldonDeployment> {
        self.sdep
            .as_ref()
            .filter(|_| !self.diagnostics.iter().any(Diagnostic::is_error))
    }
}

/// Is the document a SeldonDeployment (any served version)?
pub fn is_seldon_deployment(doc: &Document) -> bool {
    doc.kind() == "SeldonDeployment" && doc.api_version().starts_with(&format!("{}/", seldon::GROUP))
}

/// Check a SeldonDeployment document. `namespace` (like `kubectl -n`) fills in a missing
/// `metadata.namespace` and must agree with one that is set.
pub fn check(doc: &Document, settings: &Settings, namespace: Option<&str>) -> Checked {
    let mut diagnostics = Vec::new();
    if !seldon::is_api_version(doc.api_version()) {
        diagnostics.push(
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
            .with_value(doc.api_version()),
        );
    }
    let typed = match doc.typed::<SeldonDeployment>() {
        Ok(typed) => typed,
        Err(err) => {
            diagnostics.push(Diagnostic::error(err.path, err.message));
            return Checked {
                sdep: None,
                diagnostics,
            };
        }
    };
    for path in typed.ignored {
        diagnostics.push(Diagnostic::warning(
            path,
            "not a field of the SeldonDeployment schema: Kubernetes prunes it and sluice ignores it (check the spelling)",
        ));
    }
    let mut sdep = typed.value;
    if let Some(namespace) = namespace {
        match sdep.metadata.namespace.as_deref() {
            None | Some("") => sdep.metadata.namespace = Some(namespace.to_string()),
            Some(own) if own != namespace => diagnostics.push(
                Diagnostic::error(
                    FieldPath::parse("metadata.namespace"),
                    format!("the object's namespace does not match the requested namespace {namespace:?}"),
                )
                .with_value(own),
            ),
            Some(_) => {}
        }
    }
    diagnostics.extend(validate::validate(&sdep, settings));
    Checked {
        sdep: Some(sdep),
        diagnostics,
    }
}

/// Check a document that is not a SeldonDeployment: Istio resources sluice reads are
/// typed (wrong types are errors, fields sluice does not model are warnings); any
/// other kind is reported as not read by sluice.
pub fn check_other(doc: &Document) -> Vec<Diagnostic> {
    use sluice_api::istio::{self, Kind};
    fn fields<T: serde::de::DeserializeOwned>(doc: &Document) -> Vec<Diagnostic> {
        match doc.typed::<T>() {
            Err(err) => vec![Diagnostic::error(err.path, err.message)],
            Ok(typed) => typed
                .ignored
                .into_iter()
                .map(|path| {
                    Diagnostic::warning(
                        path,
                        "not a field sluice reads for this Istio kind; it is ignored (check the spelling)",
                    )
                })
                .collect(),
        }
    }
    match Kind::from_type_meta(doc.api_version(), doc.kind()) {
        Some(Kind::Gateway) => fields::<istio::Gateway>(doc),
        Some(Kind::VirtualService) => fields::<istio::VirtualService>(doc),
        Some(Kind::DestinationRule) => fields::<istio::DestinationRule>(doc),
        Some(Kind::ServiceEntry) => fields::<istio::ServiceEntry>(doc),
        Some(Kind::RequestAuthentication) => fields::<istio::RequestAuthentication>(doc),
        Some(Kind::AuthorizationPolicy) => fields::<istio::AuthorizationPolicy>(doc),
        None => vec![Diagnostic::warning(
            FieldPath::root().key("kind"),
            "not a kind sluice reads (SeldonDeployment, or Istio Gateway, VirtualService, DestinationRule, ServiceEntry, RequestAuthentication, AuthorizationPolicy); skipped",
        )
        .with_value(format!("{}/{}", doc.api_version(), doc.kind()))],
    }
}
