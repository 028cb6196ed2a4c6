//! Istio request security as pure functions (spec §1, §2.2, §6, §7, §13): which
//! `RequestAuthentication`s and `AuthorizationPolicy`s apply to a workload, the JWT filter
//! and the RBAC filters they become, and the answer for one request — before routing,
//! as Envoy's filter chain runs them.
//!
//! ```text
//!  RequestAuthentications,      Security::compile(&Workload, ..)
//!  AuthorizationPolicies   ─────────────────────────────────────> Security { authn, authz }
//!                                                                     │
//!  request Parts + Connection + now ──> Security::check ──> Ok(identity?) | Err(401/403 Reply)
//! ```

pub mod authz;
pub mod jwt;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use http::request::Parts;
use http::{HeaderValue, StatusCode};
use sluice_api::istio::{
    AuthorizationPolicy, AuthorizationPolicyAction, RequestAuthentication, WorkloadSelector,
};

use crate::diagnostic::{self, Diagnostic, ObjectRef};
use crate::grpc::Code;
use crate::path;
use crate::route::{Reply, Scheme};
pub use authz::{Authorizer, Decision, Facts};
pub use jwt::{Authenticator, Identity, Outcome};

/// The workload policies are selected for: its namespace and labels (spec §2.2).
#[derive(Clone, Debug)]
pub struct Workload {
    /// The workload's namespace.
    pub namespace: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Istio's root namespace: policies there apply to every workload they select.
    pub root_namespace: String,
}

impl Workload {
    /// Does a policy in `namespace` with `selector` apply here?
    pub fn selects(&self, namespace: &str, selector: Option<&WorkloadSelector>) -> bool {
        (namespace == self.root_namespace || namespace == self.namespace)
            && selector.is_none_or(|s| s.match_labels.iter().all(|(k, v)| self.labels.get(k) == Some(v)))
    }
}

/// The connection a request arrived on, as the security filters see it.
#[derive(Clone, Debug)]
pub struct Connection {
    /// The TCP peer.
    pub peer: SocketAddr,
    /// The gateway's address.
    pub local: SocketAddr,
    /// The Gateway server's port.
    pub port: u16,
    /// `http` or `https`.
    pub scheme: Scheme,
    /// The TLS server name.
    pub sni: Option<String>,
    /// The client certificate identity (a SPIFFE URI SAN without `spiffe://`).
    pub peer_principal: Option<String>,
    /// `numTrustedProxies`: the original client is that far from the right of
    /// `x-forwarded-for`.
    pub num_trusted_proxies: u32,
}

impl Connection {
    /// The original client's address (`remote.ip`, `remoteIpBlocks`).
    pub fn remote_ip(&self, headers: &http::HeaderMap) -> IpAddr {
        let n = self.num_trusted_proxies as usize;
        if n == 0 {
            return self.peer.ip();
        }
        let xff: Vec<String> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(',').map(|s| s.trim().to_string()))
            .collect();
        xff.len()
            .checked_sub(n)
            .and_then(|i| xff.get(i))
            .and_then(|s| s.parse().ok())
            .unwrap_or(self.peer.ip())
    }
}

/// What the security filters decided for a request, for `explain`.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    /// Authentication.
    pub authn: Outcome,
    /// Authorization; `None` when authentication already refused the request.
    pub authz: Option<Decision>,
}

/// The security filters of one workload.
#[derive(Clone, Debug, Default)]
pub struct Security {
    /// The JWT filter.
    pub authn: Authenticator,
    /// The RBAC filters.
    pub authz: Authorizer,
}

/// `RBAC: access denied`.
pub const RBAC_DENIED: &str = "RBAC: access denied";

impl Security {
    /// The filters for `workload` from every policy that selects it; problems Istio's
    /// admission would refuse are errors (then do not serve), the rest warnings.
    /// With `every`, every policy is checked, also those that do not apply.
    pub fn compile(
        workload: &Workload,
        request_authentications: &[Arc<RequestAuthentication>],
        authorization_policies: &[Arc<AuthorizationPolicy>],
        every: bool,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Security {
        let mut providers = Vec::new();
        for ra in request_authentications {
            let ns = ra.metadata.namespace.as_deref().unwrap_or("default");
            let applies = workload.selects(ns, ra.spec.selector.as_ref());
            if !applies && !every {
                continue;
            }
            let object = ObjectRef::of("RequestAuthentication", &ra.metadata);
            let compiled = compile_request_authentication(ra, &object, diagnostics);
            if applies && ra.spec.target_refs.is_empty() && ra.spec.target_ref.is_none() {
                providers.extend(compiled);
            }
        }
        let mut policies = Vec::new();
        for ap in authorization_policies {
            let ns = ap.metadata.namespace.as_deref().unwrap_or("default");
            let applies = workload.selects(ns, ap.spec.selector.as_ref());
            if !applies && !every {
                continue;
            }
            let object = ObjectRef::of("AuthorizationPolicy", &ap.metadata);
            let compiled = compile_authorization_policy(ap, &object, diagnostics);
            if applies
                && ap.spec.target_refs.is_empty()
                && ap.spec.target_ref.is_none()
                && let Some(p) = compiled
            {
                policies.push(p);
            }
        }
        // Istio's security best practices: a RequestAuthentication alone lets requests
        // without a token through.
        if !providers.is_empty() && !policies.iter().any(authz::Policy::requires_token) {
            for ra in request_authentications {
                let ns = ra.metadata.namespace.as_deref().unwrap_or("default");
                if workload.selects(ns, ra.spec.selector.as_ref()) {
                    diagnostics.push(diagnostic::warning(
                        &ObjectRef::of("RequestAuthentication", &ra.metadata),
                        "spec.jwtRules",
                        format!(
                            "tokens are optional at {}/{}: a request without one passes; add an AuthorizationPolicy that requires a principal (from.source.requestPrincipals: [\"*\"])",
                            workload.namespace,
                            workload.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
                        ),
                    ));
                }
            }
        }
        Security {
            authn: Authenticator::new(providers),
            authz: Authorizer::new(policies),
        }
    }

    /// Every problem of every RequestAuthentication and AuthorizationPolicy, whichever
    /// workload it selects (`sluice up` serves sidecars too, so a broken policy of a
    /// predictor's namespace must be refused like one of the gateway's).
    pub fn check_all(
        request_authentications: &[Arc<RequestAuthentication>],
        authorization_policies: &[Arc<AuthorizationPolicy>],
    ) -> Vec<Diagnostic> {
        let nowhere = Workload {
            namespace: String::new(),
            labels: BTreeMap::new(),
            root_namespace: String::new(),
        };
        let mut diagnostics = Vec::new();
        Security::compile(
            &nowhere,
            request_authentications,
            authorization_policies,
            true,
            &mut diagnostics,
        );
        diagnostics.retain(Diagnostic::is_error);
        diagnostics
    }

    /// Whether no policy applies (requests pass untouched).
    pub fn is_empty(&self) -> bool {
        self.authn.is_empty() && self.authz.is_empty()
    }

    /// Run the filters: authentication (which may rewrite the request for upstream),
    /// then authorization. The verified identity is left in the request's extensions for
    /// claim-based routing. `Err` is the local reply (401/403).
    pub fn check(
        &self,
        parts: &mut Parts,
        connection: &Connection,
        now: u64,
        fetched: &dyn Fn(&str) -> Option<Arc<jwt_keys::JwkSet>>,
    ) -> Result<Verdict, Reply> {
        // The realm names the request as the client sent it, before any token is removed.
        let realm = realm(parts, connection.scheme);
        let authn = self.authn.authenticate(parts, now, fetched);
        let identity = match &authn {
            Outcome::Refused(f) => return Err(authn_reply(f, &realm)),
            Outcome::Verified { identity, .. } => Some(identity.as_ref().clone()),
            Outcome::Anonymous => None,
        };
        if let Some(identity) = identity.clone() {
            parts.extensions.insert(identity);
        }
        if self.authz.is_empty() {
            return Ok(Verdict { authn, authz: None });
        }
        let decision = self.authorize(parts, connection, identity.as_ref());
        if decision.allowed() {
            Ok(Verdict {
                authn,
                authz: Some(decision),
            })
        } else {
            Err(rbac_reply())
        }
    }

    /// The RBAC decision alone.
    pub fn authorize(&self, parts: &Parts, connection: &Connection, identity: Option<&Identity>) -> Decision {
        let target = path::normalize(&parts.uri);
        let path = target.as_ref().map_or("", |t| &*t.path);
        let host = crate::table::authority(parts);
        let facts = Facts {
            method: parts.method.as_str(),
            path,
            host,
            headers: &parts.headers,
            port: connection.port,
            peer: connection.peer.ip(),
            remote: connection.remote_ip(&parts.headers),
            destination: connection.local.ip(),
            sni: connection.sni.as_deref(),
            peer_principal: connection.peer_principal.as_deref(),
            identity,
        };
        self.authz.decide(&facts)
    }
}

/// Re-exported so callers name key sets without a direct `jsonwebtoken` dependency.
pub mod jwt_keys {
    pub use jsonwebtoken::jwk::JwkSet;
}

/// `403 RBAC: access denied` (gRPC: 7).
pub fn rbac_reply() -> Reply {
    let mut r = Reply::new(StatusCode::FORBIDDEN, RBAC_DENIED);
    r.grpc_status = Some(Code::PermissionDenied);
    r
}

/// The JWT filter's refusal: its status string, `www-authenticate` (gRPC: 16 or 7).
fn authn_reply(f: &jwt::Failure, realm: &str) -> Reply {
    let mut r = Reply::new(f.status, f.message);
    r.grpc_status = Some(if f.status == StatusCode::FORBIDDEN {
        Code::PermissionDenied
    } else {
        Code::Unauthenticated
    });
    let value = format!("Bearer realm=\"{realm}\", error=\"invalid_token\"");
    if let Ok(v) = HeaderValue::try_from(value) {
        r.headers.push((http::header::WWW_AUTHENTICATE, v));
    }
    r
}

/// `<scheme>://<host><path?query>` with the path truncated to 256 characters.
fn realm(parts: &Parts, scheme: Scheme) -> String {
    let host = crate::table::authority(parts);
    let path: String = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .chars()
        .take(256)
        .collect();
    format!("{scheme}://{host}{path}")
}

fn compile_request_authentication(
    ra: &RequestAuthentication,
    object: &ObjectRef,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<jwt::Provider> {
    let err = |d: &mut Vec<Diagnostic>, at: String, m: String| d.push(diagnostic::error(object, at, m));
    if !ra.spec.target_refs.is_empty() || ra.spec.target_ref.is_some() {
        diagnostics.push(diagnostic::warning(
            object,
            "spec.targetRefs",
            "targetRefs attach policies to Kubernetes Gateway API gateways, which sluice does not run; this policy is not applied (select the workload with spec.selector)",
        ));
    }
    let mut providers = Vec::new();
    for (i, rule) in ra.spec.jwt_rules.iter().enumerate() {
        let at = format!("spec.jwtRules[{i}]");
        let before = diagnostics.len();
        let uri = rule.jwks_uri.as_ref().or(rule.jwks_uri_alt.as_ref());
        if rule.issuer.as_deref().unwrap_or("").is_empty() && uri.is_none() {
            err(
                diagnostics,
                format!("{at}.issuer"),
                "a rule needs an issuer or a jwksUri".into(),
            );
        }
        let keys = match (&rule.jwks, uri) {
            (Some(_), Some(_)) => {
                err(
                    diagnostics,
                    format!("{at}.jwks"),
                    "set jwks or jwksUri, not both".into(),
                );
                None
            }
            (Some(text), None) => match jwt::parse_jwks(text) {
                Ok(set) => Some(jwt::Keys::Inline(Arc::new(set))),
                Err(e) => {
                    err(diagnostics, format!("{at}.jwks"), e);
                    None
                }
            },
            (None, Some(uri)) => {
                if uri.starts_with("http://") || uri.starts_with("https://") {
                    Some(jwt::Keys::Uri(uri.clone()))
                } else {
                    err(
                        diagnostics,
                        format!("{at}.jwksUri"),
                        format!("{uri:?} is not an http:// or https:// URL"),
                    );
                    None
                }
            }
            (None, None) => {
                err(
                    diagnostics,
                    format!("{at}.jwksUri"),
                    "set jwks (inline keys) or jwksUri: sluice does not discover keys from the issuer's OpenID configuration".into(),
                );
                None
            }
        };
        for (j, a) in rule.audiences.iter().enumerate() {
            if a.is_empty() {
                err(
                    diagnostics,
                    format!("{at}.audiences[{j}]"),
                    "an audience is not empty".into(),
                );
            }
        }
        let mut from_headers = Vec::new();
        for (j, h) in rule.from_headers.iter().enumerate() {
            match http::HeaderName::try_from(h.name.to_ascii_lowercase()) {
                Ok(name) => from_headers.push(jwt::FromHeader {
                    name,
                    prefix: h.prefix.clone().unwrap_or_default(),
                }),
                Err(_) => err(
                    diagnostics,
                    format!("{at}.fromHeaders[{j}].name"),
                    format!("{:?} is not a header name", h.name),
                ),
            }
        }
        for (j, p) in rule.from_params.iter().enumerate() {
            if p.is_empty() {
                err(
                    diagnostics,
                    format!("{at}.fromParams[{j}]"),
                    "a parameter name is not empty".into(),
                );
            }
        }
        for (j, c) in rule.from_cookies.iter().enumerate() {
            if c.is_empty() {
                err(
                    diagnostics,
                    format!("{at}.fromCookies[{j}]"),
                    "a cookie name is not empty".into(),
                );
            }
        }
        let header_name = |d: &mut Vec<Diagnostic>, at: String, name: &str| -> Option<http::HeaderName> {
            let valid = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            match (valid, http::HeaderName::try_from(name.to_ascii_lowercase())) {
                (true, Ok(h)) => Some(h),
                _ => {
                    d.push(diagnostic::error(
                        object,
                        at,
                        format!("{name:?}: a header name of letters, digits, '-' and '_'"),
                    ));
                    None
                }
            }
        };
        let output_payload_to_header = rule
            .output_payload_to_header
            .as_ref()
            .and_then(|h| header_name(diagnostics, format!("{at}.outputPayloadToHeader"), h));
        let mut output_claim_to_headers = Vec::new();
        for (j, c) in rule.output_claim_to_headers.iter().enumerate() {
            let name = header_name(
                diagnostics,
                format!("{at}.outputClaimToHeaders[{j}].header"),
                &c.header,
            );
            if c.claim.is_empty() {
                err(
                    diagnostics,
                    format!("{at}.outputClaimToHeaders[{j}].claim"),
                    "a claim name is not empty".into(),
                );
            } else if let Some(name) = name {
                output_claim_to_headers.push((name, c.claim.split('.').map(str::to_string).collect()));
            }
        }
        let timeout = match rule.timeout.as_deref() {
            None => Duration::from_secs(5),
            Some(t) => sluice_api::duration::parse(t).unwrap_or_else(|| {
                err(
                    diagnostics,
                    format!("{at}.timeout"),
                    format!("{t:?} is not a duration such as 5s"),
                );
                Duration::from_secs(5)
            }),
        };
        if rule.presence.is_some() {
            diagnostics.push(diagnostic::warning(
                object,
                format!("{at}.presence"),
                "presence is not enforced by sluice; require a token with an AuthorizationPolicy (requestPrincipals: [\"*\"])",
            ));
        }
        if diagnostics[before..].iter().any(Diagnostic::is_error) {
            continue;
        }
        if let Some(keys) = keys {
            providers.push(jwt::Provider {
                issuer: rule.issuer.clone().filter(|i| !i.is_empty()),
                audiences: rule
                    .audiences
                    .iter()
                    .map(|a| jwt::normalize_audience(a))
                    .collect(),
                keys,
                fetch_timeout: timeout,
                from_headers,
                from_params: rule.from_params.clone(),
                from_cookies: rule.from_cookies.clone(),
                forward_original_token: rule.forward_original_token.unwrap_or(false),
                output_payload_to_header,
                output_claim_to_headers,
                space_delimited_claims: rule.space_delimited_claims.clone(),
                origin: format!("{} {at}", object_name(object)),
            });
        }
    }
    providers
}

fn object_name(object: &ObjectRef) -> String {
    format!(
        "{} {}/{}",
        object.kind,
        object.namespace.as_deref().unwrap_or("default"),
        object.name
    )
}

/// A value of a rule field, parsed from its text.
trait RuleValue: Sized {
    fn parse_value(text: &str) -> Result<Self, String>;
}

impl RuleValue for authz::Value {
    fn parse_value(text: &str) -> Result<Self, String> {
        Ok(authz::Value::parse(text))
    }
}

impl RuleValue for authz::RequestPrincipal {
    fn parse_value(text: &str) -> Result<Self, String> {
        Ok(authz::RequestPrincipal::parse(text))
    }
}

impl RuleValue for authz::IpBlock {
    fn parse_value(text: &str) -> Result<Self, String> {
        authz::IpBlock::parse(text)
    }
}

impl RuleValue for authz::PathValue {
    fn parse_value(text: &str) -> Result<Self, String> {
        authz::PathValue::parse(text)
    }
}

impl RuleValue for u16 {
    fn parse_value(text: &str) -> Result<Self, String> {
        text.parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("{text:?} is not a port (1-65535)"))
    }
}

/// A rule field and its `not…` form, each value parsed; every bad or empty value is an
/// error at `at.field[k]`.
fn rule_field<T: RuleValue>(
    object: &ObjectRef,
    at: &str,
    (name, not_name): (&str, &str),
    (values, not_values): (&[String], &[String]),
    diagnostics: &mut Vec<Diagnostic>,
) -> authz::Field<T> {
    let mut parse = |field: &str, list: &[String]| -> Vec<T> {
        list.iter()
            .enumerate()
            .filter_map(|(k, text)| {
                let parsed = if text.is_empty() {
                    Err("a value is not empty".to_string())
                } else {
                    T::parse_value(text)
                };
                parsed
                    .map_err(|e| diagnostics.push(diagnostic::error(object, format!("{at}.{field}[{k}]"), e)))
                    .ok()
            })
            .collect()
    };
    authz::Field {
        values: parse(name, values),
        not_values: parse(not_name, not_values),
    }
}

fn compile_authorization_policy(
    ap: &AuthorizationPolicy,
    object: &ObjectRef,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<authz::Policy> {
    let before = diagnostics.len();
    let err = |d: &mut Vec<Diagnostic>, at: String, m: String| d.push(diagnostic::error(object, at, m));
    let spec = &ap.spec;
    if !spec.target_refs.is_empty() || spec.target_ref.is_some() {
        if spec.selector.is_some() {
            err(
                diagnostics,
                "spec.targetRefs".into(),
                "set selector or targetRefs, not both".into(),
            );
        }
        diagnostics.push(diagnostic::warning(
            object,
            "spec.targetRefs",
            "targetRefs attach policies to Kubernetes Gateway API gateways, which sluice does not run; this policy is not applied (select the workload with spec.selector)",
        ));
    }
    let action = match spec.action {
        None | Some(AuthorizationPolicyAction::Allow) => authz::Action::Allow,
        Some(AuthorizationPolicyAction::Deny) => authz::Action::Deny,
        Some(AuthorizationPolicyAction::Audit) => authz::Action::Audit,
        Some(AuthorizationPolicyAction::Custom) => authz::Action::Custom,
    };
    match action {
        authz::Action::Deny | authz::Action::Custom if spec.rules.is_empty() => err(
            diagnostics,
            "spec.rules".into(),
            "a DENY or CUSTOM policy needs rules (without any it would never match)".into(),
        ),
        _ => {}
    }
    if action == authz::Action::Custom {
        if spec
            .provider
            .as_ref()
            .and_then(|p| p.name.as_deref())
            .is_none_or(str::is_empty)
        {
            err(
                diagnostics,
                "spec.provider.name".into(),
                "a CUSTOM policy names its provider".into(),
            );
        } else {
            diagnostics.push(diagnostic::warning(
                object,
                "spec.provider",
                "sluice has no external authorizers: as Istio does for an undefined provider, requests this CUSTOM policy matches are denied",
            ));
        }
    } else if spec.provider.is_some() {
        err(
            diagnostics,
            "spec.provider".into(),
            "provider is only for action CUSTOM".into(),
        );
    }
    let mut rules = Vec::new();
    for (i, rule) in spec.rules.iter().enumerate() {
        let at = format!("spec.rules[{i}]");
        let mut compiled = authz::Rule::default();
        for (j, from) in rule.from.iter().enumerate() {
            let at = format!("{at}.from[{j}].source");
            let Some(s) = &from.source else {
                err(diagnostics, at, "a from entry needs a source".into());
                continue;
            };
            for (field, v) in [
                ("serviceAccounts", &s.service_accounts),
                ("notServiceAccounts", &s.not_service_accounts),
                ("trustDomains", &s.trust_domains),
                ("notTrustDomains", &s.not_trust_domains),
            ] {
                if !v.is_empty() {
                    err(
                        diagnostics,
                        format!("{at}.{field}"),
                        format!(
                            "{field} is not supported by sluice yet; use principals (cluster.local/ns/NS/sa/SA)"
                        ),
                    );
                }
            }
            let source = authz::Source {
                request_principals: rule_field(
                    object,
                    &at,
                    ("requestPrincipals", "notRequestPrincipals"),
                    (&s.request_principals, &s.not_request_principals),
                    diagnostics,
                ),
                principals: rule_field(
                    object,
                    &at,
                    ("principals", "notPrincipals"),
                    (&s.principals, &s.not_principals),
                    diagnostics,
                ),
                namespaces: rule_field(
                    object,
                    &at,
                    ("namespaces", "notNamespaces"),
                    (&s.namespaces, &s.not_namespaces),
                    diagnostics,
                ),
                ip_blocks: rule_field(
                    object,
                    &at,
                    ("ipBlocks", "notIpBlocks"),
                    (&s.ip_blocks, &s.not_ip_blocks),
                    diagnostics,
                ),
                remote_ip_blocks: rule_field(
                    object,
                    &at,
                    ("remoteIpBlocks", "notRemoteIpBlocks"),
                    (&s.remote_ip_blocks, &s.not_remote_ip_blocks),
                    diagnostics,
                ),
            };
            if source.is_empty() && s.service_accounts.is_empty() && s.trust_domains.is_empty() {
                err(diagnostics, at, "a source sets at least one field".into());
            }
            compiled.from.push(source);
        }
        for (j, to) in rule.to.iter().enumerate() {
            let at = format!("{at}.to[{j}].operation");
            let Some(o) = &to.operation else {
                err(diagnostics, at, "a to entry needs an operation".into());
                continue;
            };
            let operation = authz::Operation {
                hosts: rule_field(
                    object,
                    &at,
                    ("hosts", "notHosts"),
                    (&o.hosts, &o.not_hosts),
                    diagnostics,
                ),
                ports: rule_field(
                    object,
                    &at,
                    ("ports", "notPorts"),
                    (&o.ports, &o.not_ports),
                    diagnostics,
                ),
                methods: rule_field(
                    object,
                    &at,
                    ("methods", "notMethods"),
                    (&o.methods, &o.not_methods),
                    diagnostics,
                ),
                paths: rule_field(
                    object,
                    &at,
                    ("paths", "notPaths"),
                    (&o.paths, &o.not_paths),
                    diagnostics,
                ),
            };
            if operation.is_empty() {
                err(diagnostics, at, "an operation sets at least one field".into());
            }
            compiled.to.push(operation);
        }
        for (j, c) in rule.when.iter().enumerate() {
            let at = format!("{at}.when[{j}]");
            if c.values.is_empty() && c.not_values.is_empty() {
                err(
                    diagnostics,
                    at.clone(),
                    "a condition needs values or notValues".into(),
                );
            }
            match authz::Condition::compile(&c.key, &c.values, &c.not_values) {
                Ok(cond) => compiled.when.push(cond),
                Err(e) => err(diagnostics, at, e),
            }
        }
        if action == authz::Action::Custom
            && (compiled.from.iter().any(|s| {
                !s.request_principals.is_empty() || !s.principals.is_empty() || !s.namespaces.is_empty()
            }) || compiled.when.iter().any(|c| {
                matches!(
                    c.key,
                    authz::Key::AuthPrincipal
                        | authz::Key::AuthAudiences
                        | authz::Key::AuthPresenter
                        | authz::Key::Claim(_)
                )
            }))
        {
            err(
                diagnostics,
                at.clone(),
                "a CUSTOM policy cannot use principals, namespaces, requestPrincipals or request.auth.*"
                    .into(),
            );
        }
        if action == authz::Action::Deny {
            for (j, o) in rule.to.iter().enumerate() {
                let Some(o) = &o.operation else { continue };
                for (k, p) in o.paths.iter().enumerate() {
                    if !p.ends_with('*') && !p.starts_with('*') && !p.contains('{') {
                        diagnostics.push(diagnostic::warning(
                            object,
                            format!("{at}.to[{j}].operation.paths[{k}]"),
                            format!(
                                "a DENY on the exact path {p:?} does not match {p}/, /{p} or {} (Istio's default normalization keeps them apart), so those reach the workload; prefer a prefix ({p}*) or an ALLOW policy (Istio's security best practices)",
                                p.to_ascii_uppercase()
                            ),
                        ));
                    }
                }
            }
        }
        for (j, o) in rule.to.iter().enumerate() {
            let Some(o) = &o.operation else { continue };
            for (k, h) in o.hosts.iter().enumerate() {
                if !h.contains(':') && !h.ends_with('*') && !o.hosts.iter().any(|x| x == &format!("{h}:*")) {
                    diagnostics.push(diagnostic::warning(
                        object,
                        format!("{at}.to[{j}].operation.hosts[{k}]"),
                        format!(
                            "{h:?} does not match {h}:PORT (a Host header with a port); add \"{h}:*\" as well"
                        ),
                    ));
                }
            }
        }
        rules.push(compiled);
    }
    if diagnostics[before..].iter().any(Diagnostic::is_error) {
        return None;
    }
    let dry_run = ap
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("istio.io/dry-run"))
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    Some(authz::Policy {
        name: object_name(object),
        object: object.clone(),
        action,
        dry_run,
        rules,
    })
}
