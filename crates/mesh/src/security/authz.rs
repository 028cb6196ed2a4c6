//! `AuthorizationPolicy` as Envoy's RBAC filters run it (spec §7): rules compiled once,
//! then CUSTOM (no provider here: deny), DENY, ALLOW in that order; AUDIT and dry-run
//! policies never change the answer.

use std::net::IpAddr;

use regex::Regex;

use super::jwt::Identity;

/// What a rule can look at in one request.
#[derive(Clone, Debug)]
pub struct Facts<'a> {
    /// `:method`.
    pub method: &'a str,
    /// The normalized path, without the query.
    pub path: &'a str,
    /// `Host`/`:authority` as sent, port included.
    pub host: &'a str,
    /// Request headers.
    pub headers: &'a http::HeaderMap,
    /// The port the connection arrived on (the Gateway server's port).
    pub port: u16,
    /// The TCP peer.
    pub peer: IpAddr,
    /// The original client: the peer, or from `x-forwarded-for` past trusted proxies.
    pub remote: IpAddr,
    /// The gateway's own address on the connection.
    pub destination: IpAddr,
    /// The TLS server name the client asked for.
    pub sni: Option<&'a str>,
    /// The client certificate's identity (`cluster.local/ns/x/sa/y`), with mutual TLS.
    pub peer_principal: Option<&'a str>,
    /// The verified token's identity.
    pub identity: Option<&'a Identity>,
}

/// An Istio string value: exact, `prefix*`, `*suffix`, or `*` (present, non-empty).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// The whole value.
    Exact(String),
    /// `abc*`.
    Prefix(String),
    /// `*abc`.
    Suffix(String),
    /// `*`.
    Present,
}

impl Value {
    /// Parse a rule value.
    pub fn parse(value: &str) -> Value {
        if value == "*" {
            Value::Present
        } else if let Some(p) = value.strip_suffix('*') {
            Value::Prefix(p.to_string())
        } else if let Some(s) = value.strip_prefix('*') {
            Value::Suffix(s.to_string())
        } else {
            Value::Exact(value.to_string())
        }
    }

    fn matches(&self, text: &str, ignore_case: bool) -> bool {
        let (text, fold) = if ignore_case {
            (text.to_ascii_lowercase(), true)
        } else {
            (text.to_string(), false)
        };
        let lower = |s: &str| {
            if fold {
                s.to_ascii_lowercase()
            } else {
                s.to_string()
            }
        };
        match self {
            Value::Present => !text.is_empty(),
            Value::Exact(v) => text == lower(v),
            Value::Prefix(p) => text.starts_with(&lower(p)),
            Value::Suffix(s) => text.ends_with(&lower(s)),
        }
    }
}

/// A path value: a plain value or a `{*}`/`{**}` template.
#[derive(Clone, Debug)]
pub enum PathValue {
    /// Exact, prefix, suffix or presence.
    Plain(Value),
    /// A template compiled to an anchored regex.
    Template(Regex),
}

impl PathValue {
    /// Parse a `paths` value; `Err` for a malformed template.
    pub fn parse(value: &str) -> Result<PathValue, String> {
        if !value.contains('{') && !value.contains('}') {
            return Ok(PathValue::Plain(Value::parse(value)));
        }
        let segments: Vec<&str> = value.split('/').collect();
        let mut pattern = String::from("^");
        for (i, segment) in segments.iter().enumerate() {
            if i > 0 {
                pattern.push('/');
            }
            match *segment {
                "{*}" => pattern.push_str("[^/]+"),
                "{**}" => {
                    if segments[i + 1..].iter().any(|s| s.contains('{')) {
                        return Err(format!("{value:?}: {{**}} must be the last operator"));
                    }
                    pattern.push_str(".*");
                }
                s if s.contains('{') || s.contains('}') || s.contains('*') => {
                    return Err(format!(
                        "{value:?}: a template segment is exactly {{*}} or {{**}}, and templates use no other wildcard"
                    ));
                }
                s => pattern.push_str(&regex::escape(s)),
            }
        }
        pattern.push('$');
        Regex::new(&pattern)
            .map(PathValue::Template)
            .map_err(|e| format!("{value:?}: {e}"))
    }

    fn matches(&self, path: &str) -> bool {
        match self {
            PathValue::Plain(v) => v.matches(path, false),
            PathValue::Template(re) => re.is_match(path),
        }
    }
}

/// An IP block: an address or a CIDR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpBlock {
    addr: IpAddr,
    prefix: u8,
}

impl IpBlock {
    /// Parse `1.2.3.4` or `10.0.0.0/8` (IPv6 too).
    pub fn parse(value: &str) -> Result<IpBlock, String> {
        let (addr, prefix) = match value.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (value, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("{value:?} is not an IP address or CIDR block"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{value:?}: the prefix length is 0 to {max}"))?,
        };
        Ok(IpBlock { addr, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(a) & mask == u32::from(b) & mask
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(a) & mask == u128::from(b) & mask
            }
            _ => false,
        }
    }
}

/// One field of a rule with its values and their negation.
#[derive(Clone, Debug)]
pub struct Field<T> {
    /// Values; one must match (empty: no condition).
    pub values: Vec<T>,
    /// `not…` values; none may match.
    pub not_values: Vec<T>,
}

impl<T> Default for Field<T> {
    fn default() -> Self {
        Field {
            values: Vec::new(),
            not_values: Vec::new(),
        }
    }
}

impl<T> Field<T> {
    /// Does a request meet this field, given how one value matches it?
    fn holds(&self, matches: impl Fn(&T) -> bool) -> bool {
        (self.values.is_empty() || self.values.iter().any(&matches)) && !self.not_values.iter().any(&matches)
    }

    /// Whether neither values nor `not…` values are set.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty() && self.not_values.is_empty()
    }
}

/// `from.source`: who sends the request.
#[derive(Clone, Debug, Default)]
pub struct Source {
    /// `requestPrincipals`: `iss/sub` of the verified token.
    pub request_principals: Field<RequestPrincipal>,
    /// `principals`: the client certificate identity.
    pub principals: Field<Value>,
    /// `namespaces`: from the client certificate identity.
    pub namespaces: Field<Value>,
    /// `ipBlocks`: the TCP peer.
    pub ip_blocks: Field<IpBlock>,
    /// `remoteIpBlocks`: the original client.
    pub remote_ip_blocks: Field<IpBlock>,
}

/// `to.operation`: what is asked for.
#[derive(Clone, Debug, Default)]
pub struct Operation {
    /// `hosts`, case-insensitive, port included.
    pub hosts: Field<Value>,
    /// `ports`: the connection's local port.
    pub ports: Field<u16>,
    /// `methods`.
    pub methods: Field<Value>,
    /// `paths`.
    pub paths: Field<PathValue>,
}

/// A `when` key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Key {
    /// `request.headers[name]`.
    Header(http::HeaderName),
    /// `source.ip`.
    SourceIp,
    /// `remote.ip`.
    RemoteIp,
    /// `source.namespace`.
    SourceNamespace,
    /// `source.principal`.
    SourcePrincipal,
    /// `request.auth.principal`.
    AuthPrincipal,
    /// `request.auth.audiences`.
    AuthAudiences,
    /// `request.auth.presenter`.
    AuthPresenter,
    /// `request.auth.claims[a][b]`.
    Claim(Vec<String>),
    /// `destination.ip`.
    DestinationIp,
    /// `destination.port`.
    DestinationPort,
    /// `connection.sni`.
    Sni,
}

impl Key {
    /// Parse a `when.key`; `Err` names what is valid.
    pub fn parse(key: &str) -> Result<Key, String> {
        if let Some(name) = key
            .strip_prefix("request.headers[")
            .and_then(|k| k.strip_suffix(']'))
        {
            return http::HeaderName::try_from(name.to_ascii_lowercase())
                .map(Key::Header)
                .map_err(|_| format!("{key:?}: {name:?} is not a header name"));
        }
        if let Some(rest) = key.strip_prefix("request.auth.claims") {
            let path = claim_path(rest).ok_or_else(|| {
                format!("{key:?}: write claims as request.auth.claims[name] or request.auth.claims[a][b]")
            })?;
            return Ok(Key::Claim(path));
        }
        Ok(match key {
            "source.ip" => Key::SourceIp,
            "remote.ip" => Key::RemoteIp,
            "source.namespace" => Key::SourceNamespace,
            "source.principal" => Key::SourcePrincipal,
            "request.auth.principal" => Key::AuthPrincipal,
            "request.auth.audiences" => Key::AuthAudiences,
            "request.auth.presenter" => Key::AuthPresenter,
            "destination.ip" => Key::DestinationIp,
            "destination.port" => Key::DestinationPort,
            "connection.sni" => Key::Sni,
            "source.serviceAccount" | "source.trustDomain" => {
                return Err(format!(
                    "{key:?} is not supported by sluice yet; use source.principal (cluster.local/ns/NS/sa/SA)"
                ));
            }
            other if other.starts_with("experimental.envoy.filters.") => {
                return Err(format!(
                    "{key:?}: experimental Envoy filter metadata is not supported by sluice"
                ));
            }
            other => {
                return Err(format!(
                    "unknown key {other:?}; use request.headers[name], source.ip, remote.ip, source.namespace, source.principal, request.auth.principal, request.auth.audiences, request.auth.presenter, request.auth.claims[name], destination.ip, destination.port or connection.sni"
                ));
            }
        })
    }

    /// Whether values of this key are IP blocks.
    fn is_ip(&self) -> bool {
        matches!(self, Key::SourceIp | Key::RemoteIp | Key::DestinationIp)
    }
}

/// `[a][b]` → `["a", "b"]`.
fn claim_path(rest: &str) -> Option<Vec<String>> {
    let mut path = Vec::new();
    let mut rest = rest;
    while !rest.is_empty() {
        let inner = rest.strip_prefix('[')?;
        let end = inner.find(']')?;
        if end == 0 {
            return None;
        }
        path.push(inner[..end].to_string());
        rest = &inner[end + 1..];
    }
    (!path.is_empty()).then_some(path)
}

/// A `when` value: a string value, or an IP block for IP keys.
#[derive(Clone, Debug)]
pub enum CondValue {
    /// A string value.
    Text(Value),
    /// An address or CIDR.
    Ip(IpBlock),
}

/// One `when` condition.
#[derive(Clone, Debug)]
pub struct Condition {
    /// What it looks at.
    pub key: Key,
    /// Its values.
    pub field: Field<CondValue>,
}

impl Condition {
    /// Compile a condition; `Err` for a bad key or value.
    pub fn compile(key: &str, values: &[String], not_values: &[String]) -> Result<Condition, String> {
        let key = Key::parse(key)?;
        let one = |v: &String| -> Result<CondValue, String> {
            if key.is_ip() {
                IpBlock::parse(v).map(CondValue::Ip)
            } else if key == Key::DestinationPort {
                v.parse::<u16>()
                    .map(|_| CondValue::Text(Value::Exact(v.clone())))
                    .map_err(|_| format!("{v:?} is not a port"))
            } else {
                Ok(CondValue::Text(Value::parse(v)))
            }
        };
        Ok(Condition {
            field: Field {
                values: values.iter().map(one).collect::<Result<_, _>>()?,
                not_values: not_values.iter().map(one).collect::<Result<_, _>>()?,
            },
            key,
        })
    }

    fn holds(&self, facts: &Facts<'_>) -> bool {
        let texts: Vec<String> = match &self.key {
            Key::Header(name) => {
                let values: Vec<String> = facts
                    .headers
                    .get_all(name)
                    .iter()
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                    .collect();
                if values.is_empty() {
                    Vec::new()
                } else {
                    vec![values.join(",")]
                }
            }
            Key::SourceIp => vec![facts.peer.to_string()],
            Key::RemoteIp => vec![facts.remote.to_string()],
            Key::DestinationIp => vec![facts.destination.to_string()],
            Key::DestinationPort => vec![facts.port.to_string()],
            Key::Sni => facts.sni.map(str::to_string).into_iter().collect(),
            Key::SourcePrincipal => facts.peer_principal.map(str::to_string).into_iter().collect(),
            Key::SourceNamespace => facts.peer_principal.and_then(namespace_of).into_iter().collect(),
            Key::AuthPrincipal => facts.identity.and_then(Identity::principal).into_iter().collect(),
            Key::AuthAudiences => facts.identity.map(|i| i.audiences.clone()).unwrap_or_default(),
            Key::AuthPresenter => facts
                .identity
                .and_then(|i| i.presenter.clone())
                .into_iter()
                .collect(),
            Key::Claim(path) => facts.identity.map(|i| i.claim_values(path)).unwrap_or_default(),
        };
        self.field.holds(|v| match v {
            CondValue::Text(value) => texts.iter().any(|t| value.matches(t, false)),
            CondValue::Ip(block) => texts
                .iter()
                .filter_map(|t| t.parse::<IpAddr>().ok())
                .any(|ip| block.contains(ip)),
        })
    }
}

/// The namespace in a `cluster.local/ns/<ns>/sa/<sa>` identity.
fn namespace_of(principal: &str) -> Option<String> {
    let mut parts = principal.split('/');
    while let Some(p) = parts.next() {
        if p == "ns" {
            return parts.next().map(str::to_string);
        }
    }
    None
}

/// One rule: any `from` and any `to` and every `when`.
#[derive(Clone, Debug, Default)]
pub struct Rule {
    /// Sources; empty: any.
    pub from: Vec<Source>,
    /// Operations; empty: any.
    pub to: Vec<Operation>,
    /// Conditions; all must hold.
    pub when: Vec<Condition>,
}

/// A `requestPrincipals` value: split at the last `/` into an issuer and a subject
/// value, each exact, `prefix*`, `*suffix` or `*` (present), as Istio generates it; `*`
/// alone needs both `iss` and `sub`; a value without `/` constrains the issuer only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestPrincipal {
    issuer: Value,
    subject: Option<Value>,
}

impl RequestPrincipal {
    /// Parse a value.
    pub fn parse(value: &str) -> RequestPrincipal {
        if value == "*" {
            return RequestPrincipal {
                issuer: Value::Present,
                subject: Some(Value::Present),
            };
        }
        match value.rsplit_once('/') {
            Some((iss, sub)) => RequestPrincipal {
                issuer: Value::parse(iss),
                subject: Some(Value::parse(sub)),
            },
            None => RequestPrincipal {
                issuer: Value::parse(value),
                subject: None,
            },
        }
    }

    fn matches(&self, identity: Option<&Identity>) -> bool {
        let Some(identity) = identity else { return false };
        let Some(iss) = identity.issuer.as_deref() else {
            return false;
        };
        if !self.issuer.matches(iss, false) {
            return false;
        }
        match &self.subject {
            None => true,
            Some(sub_value) => identity
                .subject
                .as_deref()
                .is_some_and(|sub| sub_value.matches(sub, false)),
        }
    }
}

impl Source {
    fn holds(&self, facts: &Facts<'_>) -> bool {
        self.request_principals.holds(|v| v.matches(facts.identity))
            && self
                .principals
                .holds(|v| facts.peer_principal.is_some_and(|p| v.matches(p, false)))
            && self.namespaces.holds(|v| {
                facts
                    .peer_principal
                    .and_then(namespace_of)
                    .is_some_and(|n| v.matches(&n, false))
            })
            && self.ip_blocks.holds(|b| b.contains(facts.peer))
            && self.remote_ip_blocks.holds(|b| b.contains(facts.remote))
    }

    /// Fields that need a client certificate.
    pub fn needs_peer_identity(&self) -> bool {
        !self.principals.values.is_empty() || !self.namespaces.values.is_empty()
    }

    /// Whether no field is set.
    pub fn is_empty(&self) -> bool {
        self.request_principals.is_empty()
            && self.principals.is_empty()
            && self.namespaces.is_empty()
            && self.ip_blocks.is_empty()
            && self.remote_ip_blocks.is_empty()
    }
}

impl Operation {
    fn holds(&self, facts: &Facts<'_>) -> bool {
        self.hosts.holds(|v| v.matches(facts.host, true))
            && self.ports.holds(|p| *p == facts.port)
            && self.methods.holds(|v| v.matches(facts.method, false))
            && self.paths.holds(|v| v.matches(facts.path))
    }

    /// Whether no field is set.
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty() && self.ports.is_empty() && self.methods.is_empty() && self.paths.is_empty()
    }
}

impl Rule {
    /// Does the request meet this rule?
    pub fn matches(&self, facts: &Facts<'_>) -> bool {
        (self.from.is_empty() || self.from.iter().any(|s| s.holds(facts)))
            && (self.to.is_empty() || self.to.iter().any(|o| o.holds(facts)))
            && self.when.iter().all(|c| c.holds(facts))
    }
}

/// What a policy does with the requests its rules match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Allow (when any ALLOW policy applies, only what one allows passes).
    Allow,
    /// Deny.
    Deny,
    /// Log only.
    Audit,
    /// An external authorizer; none is configured here, so matching requests are denied.
    Custom,
}

/// One compiled AuthorizationPolicy.
#[derive(Clone, Debug)]
pub struct Policy {
    /// `AuthorizationPolicy ns/name`.
    pub name: String,
    /// The policy, for diagnostics.
    pub object: crate::diagnostic::ObjectRef,
    /// Its action.
    pub action: Action,
    /// `istio.io/dry-run: "true"`: evaluated, never enforced.
    pub dry_run: bool,
    /// Its rules; none: matches nothing.
    pub rules: Vec<Rule>,
}

impl Policy {
    /// Whether a rule needs the client certificate's identity (`principals`, `namespaces`).
    pub fn needs_peer_identity(&self) -> bool {
        self.rules
            .iter()
            .flat_map(|r| &r.from)
            .any(Source::needs_peer_identity)
    }

    /// Whether it demands a verified token: an ALLOW on `requestPrincipals`, or a DENY
    /// on `notRequestPrincipals`.
    pub fn requires_token(&self) -> bool {
        let from = || self.rules.iter().flat_map(|r| &r.from);
        match self.action {
            Action::Allow => from().any(|s| !s.request_principals.values.is_empty()),
            Action::Deny => from().any(|s| !s.request_principals.not_values.is_empty()),
            _ => false,
        }
    }

    /// The index of the first rule the request meets.
    fn matching_rule(&self, facts: &Facts<'_>) -> Option<usize> {
        self.rules.iter().position(|r| r.matches(facts))
    }
}

/// The authorization decision and why, for the gateway and `explain`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// No policy applies.
    NoPolicy,
    /// Allowed by this policy's rule.
    AllowedBy {
        /// The policy.
        policy: String,
        /// The rule's index.
        rule: usize,
    },
    /// No DENY matched and no ALLOW policy applies.
    AllowedNoAllowPolicy,
    /// Denied by a DENY (or unconfigured CUSTOM) policy's rule.
    DeniedBy {
        /// The policy.
        policy: String,
        /// The rule's index.
        rule: usize,
    },
    /// ALLOW policies apply and none matched.
    NotAllowed,
}

impl Decision {
    /// Whether the request goes on.
    pub fn allowed(&self) -> bool {
        !matches!(self, Decision::DeniedBy { .. } | Decision::NotAllowed)
    }
}

/// The RBAC filters of one workload.
#[derive(Clone, Debug, Default)]
pub struct Authorizer {
    policies: Vec<Policy>,
}

impl Authorizer {
    /// The filters for these policies.
    pub fn new(policies: Vec<Policy>) -> Self {
        Authorizer { policies }
    }

    /// The policies.
    pub fn policies(&self) -> &[Policy] {
        &self.policies
    }

    /// Whether any policy applies.
    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }

    /// Istio's decision procedure: CUSTOM (deny: no provider), DENY, then ALLOW.
    pub fn decide(&self, facts: &Facts<'_>) -> Decision {
        let enforced = || self.policies.iter().filter(|p| !p.dry_run);
        for action in [Action::Custom, Action::Deny] {
            for p in enforced().filter(|p| p.action == action) {
                if let Some(rule) = p.matching_rule(facts) {
                    return Decision::DeniedBy {
                        policy: p.name.clone(),
                        rule,
                    };
                }
            }
        }
        let mut allow = enforced().filter(|p| p.action == Action::Allow).peekable();
        if allow.peek().is_none() {
            return if self.policies.is_empty() {
                Decision::NoPolicy
            } else {
                Decision::AllowedNoAllowPolicy
            };
        }
        for p in allow {
            if let Some(rule) = p.matching_rule(facts) {
                return Decision::AllowedBy {
                    policy: p.name.clone(),
                    rule,
                };
            }
        }
        Decision::NotAllowed
    }
}
