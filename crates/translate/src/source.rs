//! From a SeldonDeployment read by `sluice_api::load` to a checked one: the namespace
//! it runs in and every admission rule, each problem with its field path.

use sluice_api::document::FieldPath;
use sluice_api::{Diagnostic, SeldonDeployment};

use crate::settings::Settings;
use crate::validate;

/// A SeldonDeployment checked for admission.
#[derive(Clone, Debug)]
pub struct Checked {
    /// The SDep, with the requested namespace filled in.
    pub sdep: SeldonDeployment,
    /// Everything found, errors and warnings (field paths; the caller places them).
    pub diagnostics: Vec<Diagnostic>,
}

impl Checked {
    /// The SDep, when it has no errors.
    pub fn valid(&self) -> Option<&SeldonDeployment> {
        (!sluice_api::diagnostic::has_errors(&self.diagnostics)).then_some(&self.sdep)
    }
}

/// Check a SeldonDeployment. `namespace` (like `kubectl -n`) fills in a missing
/// `metadata.namespace` and must agree with one that is set.
pub fn check(sdep: &SeldonDeployment, settings: &Settings, namespace: Option<&str>) -> Checked {
    let mut diagnostics = Vec::new();
    let mut sdep = sdep.clone();
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
    Checked { sdep, diagnostics }
}
