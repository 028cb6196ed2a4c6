//! Our own serde types for the subset of Istio resources sluice reads and
//! writes: `Gateway`, `VirtualService`, `DestinationRule`, `ServiceEntry`
//! (`networking.istio.io`) and `RequestAuthentication`, `AuthorizationPolicy`
//! (`security.istio.io`).
//!
//! The specs model every field of the `v1` CRD schemas (Istio's
//! `crd-all.gen.yaml`), with the schema's exact wire names. Nothing uses
//! `deny_unknown_fields` or `flatten`: unknown fields are detected by the
//! caller with `serde_ignored` and reported, never silently dropped. Absent
//! optional fields, empty lists and empty maps are skipped on output, so a
//! parsed object serializes back to what was read.
//!
//! Versions: `v1` is what we write ([`NETWORKING_API_VERSION`],
//! [`SECURITY_API_VERSION`]); `v1beta1` and `v1alpha3` (networking) and
//! `v1beta1` (security) are accepted on input — their schemas are identical
//! to `v1`. See [`Kind::from_type_meta`].

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

pub mod networking;
pub mod retry_on;
pub mod security;

pub use networking::*;
pub use retry_on::RetryOn;
pub use security::*;

#[cfg(test)]
mod tests;

/// API group of Istio's networking resources.
pub const NETWORKING_GROUP: &str = "networking.istio.io";
/// API group of Istio's security resources.
pub const SECURITY_GROUP: &str = "security.istio.io";
/// Networking versions accepted on input (all share the `v1` schema).
pub const NETWORKING_VERSIONS: &[&str] = &["v1", "v1beta1", "v1alpha3"];
/// Security versions accepted on input (all share the `v1` schema).
pub const SECURITY_VERSIONS: &[&str] = &["v1", "v1beta1"];
/// `apiVersion` written for networking resources.
pub const NETWORKING_API_VERSION: &str = "networking.istio.io/v1";
/// `apiVersion` written for security resources.
pub const SECURITY_API_VERSION: &str = "security.istio.io/v1";

/// A namespaced Istio object: `apiVersion`, `kind`, `metadata`, `spec` (and Istio's `status`, kept opaque).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Object<S> {
    /// `group/version`, e.g. `networking.istio.io/v1`.
    pub api_version: String,
    /// Resource kind, e.g. `VirtualService`.
    pub kind: String,
    /// Standard Kubernetes object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The resource's spec.
    #[serde(default)]
    pub spec: S,
    /// Status written by Istio, kept as opaque JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<serde_json::Value>,
}

/// An Istio `networking.istio.io` `Gateway`.
pub type Gateway = Object<GatewaySpec>;
/// An Istio `networking.istio.io` `VirtualService`.
pub type VirtualService = Object<VirtualServiceSpec>;
/// An Istio `networking.istio.io` `DestinationRule`.
pub type DestinationRule = Object<DestinationRuleSpec>;
/// An Istio `networking.istio.io` `ServiceEntry`.
pub type ServiceEntry = Object<ServiceEntrySpec>;
/// An Istio `security.istio.io` `RequestAuthentication`.
pub type RequestAuthentication = Object<RequestAuthenticationSpec>;
/// An Istio `security.istio.io` `AuthorizationPolicy`.
pub type AuthorizationPolicy = Object<AuthorizationPolicySpec>;

/// The Istio resource kinds sluice understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// `networking.istio.io` `Gateway`.
    Gateway,
    /// `networking.istio.io` `VirtualService`.
    VirtualService,
    /// `networking.istio.io` `DestinationRule`.
    DestinationRule,
    /// `networking.istio.io` `ServiceEntry`.
    ServiceEntry,
    /// `security.istio.io` `RequestAuthentication`.
    RequestAuthentication,
    /// `security.istio.io` `AuthorizationPolicy`.
    AuthorizationPolicy,
}

impl Kind {
    /// All kinds, in declaration order.
    pub const ALL: [Kind; 6] = [
        Kind::Gateway,
        Kind::VirtualService,
        Kind::DestinationRule,
        Kind::ServiceEntry,
        Kind::RequestAuthentication,
        Kind::AuthorizationPolicy,
    ];

    /// Recognizes an Istio kind from `apiVersion` and `kind`; `None` unless the
    /// group is the kind's group and the version is one we accept.
    pub fn from_type_meta(api_version: &str, kind: &str) -> Option<Kind> {
        let (group, version) = api_version.split_once('/')?;
        let kind = Kind::ALL.into_iter().find(|k| k.as_str() == kind)?;
        (group == kind.group() && kind.versions().contains(&version)).then_some(kind)
    }

    /// The kind's name as written in `kind:`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Kind::Gateway => "Gateway",
            Kind::VirtualService => "VirtualService",
            Kind::DestinationRule => "DestinationRule",
            Kind::ServiceEntry => "ServiceEntry",
            Kind::RequestAuthentication => "RequestAuthentication",
            Kind::AuthorizationPolicy => "AuthorizationPolicy",
        }
    }

    /// The kind's API group.
    pub fn group(&self) -> &'static str {
        match self {
            Kind::Gateway | Kind::VirtualService | Kind::DestinationRule | Kind::ServiceEntry => {
                NETWORKING_GROUP
            }
            Kind::RequestAuthentication | Kind::AuthorizationPolicy => SECURITY_GROUP,
        }
    }

    /// The versions accepted on input for this kind.
    pub fn versions(&self) -> &'static [&'static str] {
        if self.group() == NETWORKING_GROUP {
            NETWORKING_VERSIONS
        } else {
            SECURITY_VERSIONS
        }
    }

    /// The `apiVersion` we write for this kind (always `v1`).
    pub fn api_version(&self) -> &'static str {
        if self.group() == NETWORKING_GROUP {
            NETWORKING_API_VERSION
        } else {
            SECURITY_API_VERSION
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
