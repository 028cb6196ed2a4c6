//! `security.istio.io` specs: `RequestAuthentication` and `AuthorizationPolicy`,
//! field for field as in the `v1` CRD schemas.

use serde::{Deserialize, Serialize};

use super::networking::WorkloadSelector;

/// Istio `type.v1beta1.PolicyTargetReference`: a Gateway API resource a policy attaches to.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyTargetReference {
    /// API group of the target (e.g. `gateway.networking.k8s.io`).
    pub group: Option<String>,
    /// Kind of the target (required).
    pub kind: String,
    /// Name of the target (required).
    pub name: String,
    /// Namespace of the target (defaults to the policy's namespace).
    pub namespace: Option<String>,
}

// ---------------------------------------------------------------------------
// RequestAuthentication
// ---------------------------------------------------------------------------

/// Istio `RequestAuthentication` spec: JWT validation for the selected workloads.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestAuthenticationSpec {
    /// Workloads the policy applies to (at most one of selector/targetRef/targetRefs).
    pub selector: Option<WorkloadSelector>,
    /// Single resource the policy attaches to (hidden in Istio's docs).
    pub target_ref: Option<PolicyTargetReference>,
    /// Resources the policy attaches to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_refs: Vec<PolicyTargetReference>,
    /// JWT validation rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jwt_rules: Vec<JwtRule>,
}

/// Istio `JWTRule`: how to find and validate a JWT.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JwtRule {
    /// Issuer (`iss` claim) of the token.
    pub issuer: Option<String>,
    /// Accepted audiences (`aud` claim).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<String>,
    /// URL of the provider's public key set.
    pub jwks_uri: Option<String>,
    /// `jwks_uri`, the schema's snake_case alias of `jwksUri`.
    #[serde(rename = "jwks_uri")]
    pub jwks_uri_alt: Option<String>,
    /// Inline JSON Web Key Set.
    pub jwks: Option<String>,
    /// Headers the token is read from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from_headers: Vec<JwtHeader>,
    /// Query parameters the token is read from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from_params: Vec<String>,
    /// Header receiving the base64-encoded verified payload.
    pub output_payload_to_header: Option<String>,
    /// Keep the original token in the upstream request.
    pub forward_original_token: Option<bool>,
    /// Claims copied to request headers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub output_claim_to_headers: Vec<ClaimToHeader>,
    /// Cookies the token is read from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from_cookies: Vec<String>,
    /// Timeout for fetching the JWKS (duration).
    pub timeout: Option<String>,
    /// Whether the token must be present.
    pub presence: Option<JwtPresence>,
    /// Claims treated as space-delimited strings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub space_delimited_claims: Vec<String>,
}

/// Istio `JWTRule` `presence`: whether a request must carry the token.
#[serde_with::skip_serializing_none]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JwtPresence {
    /// Requests without a token are accepted (Istio's default).
    #[default]
    Optional,
    /// Requests without a token are rejected.
    Required,
}

/// Istio `JWTHeader`: a header carrying the token, with an optional prefix.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JwtHeader {
    /// Header name (required).
    pub name: String,
    /// Prefix stripped before decoding (e.g. `"Bearer "`).
    pub prefix: Option<String>,
}

/// Istio `ClaimToHeader`: copy a JWT claim into a request header.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimToHeader {
    /// Header to create (required).
    pub header: String,
    /// Claim to copy (required).
    pub claim: String,
}

// ---------------------------------------------------------------------------
// AuthorizationPolicy
// ---------------------------------------------------------------------------

/// Istio `AuthorizationPolicy` spec: access control for the selected workloads.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizationPolicySpec {
    /// Workloads the policy applies to (at most one of selector/targetRef/targetRefs).
    pub selector: Option<WorkloadSelector>,
    /// Single resource the policy attaches to (hidden in Istio's docs).
    pub target_ref: Option<PolicyTargetReference>,
    /// Resources the policy attaches to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_refs: Vec<PolicyTargetReference>,
    /// Rules matched against requests (OR-ed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<Rule>,
    /// Action taken when a rule matches (default ALLOW).
    pub action: Option<AuthorizationPolicyAction>,
    /// External authorizer for the CUSTOM action.
    pub provider: Option<ExtensionProvider>,
}

/// Istio `AuthorizationPolicy.Action`: what a matching rule does.
#[serde_with::skip_serializing_none]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AuthorizationPolicyAction {
    /// Allow matching requests (Istio's default).
    #[default]
    Allow,
    /// Deny matching requests.
    Deny,
    /// Audit matching requests.
    Audit,
    /// Delegate to the extension provider.
    Custom,
}

/// Istio `AuthorizationPolicy.ExtensionProvider`: the external authorizer of a CUSTOM policy.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtensionProvider {
    /// Name of the extension provider in the mesh config.
    pub name: Option<String>,
}

/// Istio `Rule`: request sources, operations and conditions (AND-ed).
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    /// Request sources (OR-ed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from: Vec<RuleFrom>,
    /// Request operations (OR-ed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<RuleTo>,
    /// Additional conditions (AND-ed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub when: Vec<Condition>,
}

/// Istio `Rule.From`: one entry of a rule's `from` list.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleFrom {
    /// Source of the request.
    pub source: Option<Source>,
}

/// Istio `Rule.To`: one entry of a rule's `to` list.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleTo {
    /// Operation of the request.
    pub operation: Option<Operation>,
}

/// Istio `Source`: identity of the request's origin (fields AND-ed, values OR-ed).
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    /// Peer identities (`<trust domain>/ns/<ns>/sa/<sa>`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub principals: Vec<String>,
    /// Negated peer identities.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_principals: Vec<String>,
    /// Request identities (`<iss>/<sub>` of the JWT).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub request_principals: Vec<String>,
    /// Negated request identities.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_request_principals: Vec<String>,
    /// Peer namespaces.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// Negated peer namespaces.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_namespaces: Vec<String>,
    /// Peer IPs or CIDR blocks.
    #[serde(default, rename = "ipBlocks", skip_serializing_if = "Vec::is_empty")]
    pub ip_blocks: Vec<String>,
    /// Negated peer IPs or CIDR blocks.
    #[serde(default, rename = "notIpBlocks", skip_serializing_if = "Vec::is_empty")]
    pub not_ip_blocks: Vec<String>,
    /// Original client IPs or CIDR blocks (X-Forwarded-For / PROXY protocol).
    #[serde(default, rename = "remoteIpBlocks", skip_serializing_if = "Vec::is_empty")]
    pub remote_ip_blocks: Vec<String>,
    /// Negated original client IPs or CIDR blocks.
    #[serde(default, rename = "notRemoteIpBlocks", skip_serializing_if = "Vec::is_empty")]
    pub not_remote_ip_blocks: Vec<String>,
    /// Peer service accounts (`<ns>/<sa>`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub service_accounts: Vec<String>,
    /// Negated peer service accounts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_service_accounts: Vec<String>,
    /// Peer trust domains.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trust_domains: Vec<String>,
    /// Negated peer trust domains.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_trust_domains: Vec<String>,
}

/// Istio `Operation`: properties of the request (fields AND-ed, values OR-ed).
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    /// Hosts (`Host` header).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// Negated hosts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_hosts: Vec<String>,
    /// Destination ports (strings in the schema).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<String>,
    /// Negated destination ports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_ports: Vec<String>,
    /// HTTP methods (or gRPC `POST`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
    /// Negated HTTP methods.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_methods: Vec<String>,
    /// Request paths (exact, prefix `*`, suffix or template).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    /// Negated request paths.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_paths: Vec<String>,
}

/// Istio `Condition`: an additional attribute check (`key` in `values`, not in `notValues`).
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Istio attribute name, e.g. `request.auth.claims[iss]` (required).
    pub key: String,
    /// Allowed values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    /// Negated values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_values: Vec<String>,
}
