//! Compiled `HTTPMatchRequest`s: what a route requires of a request.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use http::{HeaderMap, HeaderName};
use regex::Regex;
use sluice_api::istio::{HttpMatchRequest, StringMatch};

use crate::path::Target;
use crate::route::Scheme;

/// A compiled Istio `StringMatch`.
#[derive(Clone, Debug)]
pub enum Match {
    /// Equal to the value.
    Exact(String),
    /// Starts with the value.
    Prefix(String),
    /// RE2 regex matching the whole value, shared by every route with the same pattern.
    Regex(Arc<Regex>),
    /// Present, any value (`{}` or `regex: "*"`).
    Present,
}

impl Match {
    /// Compile; `Err` says what is wrong (an invalid or empty regex, more than one kind).
    pub fn compile(m: &StringMatch) -> Result<Match, String> {
        match (&m.exact, &m.prefix, &m.regex) {
            (None, None, None) => Ok(Match::Present),
            (Some(e), None, None) => Ok(Match::Exact(e.clone())),
            (None, Some(p), None) => Ok(Match::Prefix(p.clone())),
            (None, None, Some(r)) if r == "*" => Ok(Match::Present),
            (None, None, Some(r)) => full_regex(r).map(Match::Regex),
            _ => Err("set exactly one of exact, prefix, regex".to_string()),
        }
    }

    /// Does `value` match (case-sensitively)?
    pub fn matches(&self, value: &str) -> bool {
        match self {
            Match::Exact(e) => value == e,
            Match::Prefix(p) => value.starts_with(p.as_str()),
            Match::Regex(r) => r.is_match(value),
            Match::Present => true,
        }
    }

    /// Is this the match-everything of a catch-all route (`prefix: /` or `regex: .*`)?
    fn matches_any_path(&self) -> bool {
        match self {
            Match::Prefix(p) => p == "/",
            Match::Regex(r) => r.as_str() == "^(?:.*)$",
            _ => false,
        }
    }
}

/// Two conditions are equal when they match the same values: regexes by their pattern.
impl PartialEq for Match {
    fn eq(&self, other: &Match) -> bool {
        match (self, other) {
            (Match::Exact(a), Match::Exact(b)) | (Match::Prefix(a), Match::Prefix(b)) => a == b,
            (Match::Regex(a), Match::Regex(b)) => a.as_str() == b.as_str(),
            (Match::Present, Match::Present) => true,
            _ => false,
        }
    }
}

/// `exact "x"`, `prefix "/a"`, `regex "..."`, `present`.
pub fn describe(m: &Match) -> String {
    match m {
        Match::Exact(e) => format!("exact {e:?}"),
        Match::Prefix(p) => format!("prefix {p:?}"),
        Match::Regex(r) => format!(
            "regex {:?}",
            r.as_str().trim_start_matches("^(?:").trim_end_matches(")$")
        ),
        Match::Present => "present".to_string(),
    }
}

/// Compile an RE2 regex that must match the whole input (Envoy's semantics).
///
/// A pattern compiled before is shared, not compiled again: every SeldonDeployment's gRPC
/// route has the same regex, and each compiled copy takes about 17 KB and 0.1 ms (10,000
/// deployments: 170 MB and a second per reload). A `Regex` clone would still take 0.7 KB
/// (its own cache pool), so routes share the one `Arc`. The memo changes no result; it
/// holds at most [`SHARED_REGEXES`] patterns and starts over when full. Workers matching
/// one shared pattern share its cache pool: regex keeps 8 stacks of caches, chosen by
/// thread, and a worker that finds its stack in use makes a cache for that one match (an
/// allocation). With a worker per core that is rare up to 8 cores; on larger machines many
/// gRPC requests at once may allocate there.
pub fn full_regex(pattern: &str) -> Result<Arc<Regex>, String> {
    if pattern.is_empty() {
        return Err("the regex is empty".to_string());
    }
    if pattern.len() > 1024 {
        return Err("the regex is longer than 1024 characters".to_string());
    }
    static COMPILED: std::sync::LazyLock<std::sync::Mutex<HashMap<String, Arc<Regex>>>> =
        std::sync::LazyLock::new(Default::default);
    let mut compiled = COMPILED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(regex) = compiled.get(pattern) {
        return Ok(regex.clone());
    }
    let regex =
        Arc::new(Regex::new(&format!("^(?:{pattern})$")).map_err(|e| format!("not a valid RE2 regex: {e}"))?);
    if compiled.len() >= SHARED_REGEXES {
        compiled.clear();
    }
    compiled.insert(pattern.to_string(), regex.clone());
    Ok(regex)
}

/// How many distinct patterns [`full_regex`] keeps compiled.
pub const SHARED_REGEXES: usize = 4096;

/// The URI condition, with `ignoreUriCase`.
#[derive(Clone, Debug, PartialEq)]
pub struct UriMatch {
    /// The compiled match.
    pub matcher: Match,
    /// Compare exact and prefix case-insensitively.
    pub ignore_case: bool,
}

impl UriMatch {
    fn matches(&self, path: &str) -> bool {
        match (&self.matcher, self.ignore_case) {
            (Match::Exact(e), true) => path.eq_ignore_ascii_case(e),
            (Match::Prefix(p), true) => path
                .get(..p.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(p)),
            (m, _) => m.matches(path),
        }
    }

    /// The length of the path prefix this condition matched, for prefix rewrites.
    pub fn matched_prefix_len(&self) -> Option<usize> {
        match &self.matcher {
            Match::Prefix(p) => Some(p.len()),
            _ => None,
        }
    }
}

/// The parts of a request that routes match on.
#[derive(Clone, Copy, Debug)]
pub struct RequestView<'a> {
    /// `GET`, `POST`, ...
    pub method: &'a str,
    /// The normalized path, without query.
    pub path: &'a str,
    /// The query string, without `?`.
    pub query: Option<&'a str>,
    /// `Host`/`:authority` as received (port included).
    pub authority: &'a str,
    /// The scheme the request arrived over.
    pub scheme: Scheme,
    /// Request headers.
    pub headers: &'a HeaderMap,
    /// The verified JWT's identity, when the request has one.
    pub identity: Option<&'a crate::security::Identity>,
}

/// A header a route matches on: a pseudo-header, or a header name parsed once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeaderKey {
    /// `:method`.
    Method,
    /// `:authority` (or `host`).
    Authority,
    /// `:scheme`.
    Scheme,
    /// `:path` (with query).
    Path,
    /// A regular header.
    Name(HeaderName),
    /// `@request.auth.claims.a.b`: a claim of the verified JWT (gateway routes only).
    Claim(Vec<String>),
}

impl HeaderKey {
    /// The key for `name` (any case); `Err` for an unknown pseudo-header or an invalid name.
    pub fn parse(name: &str) -> Result<HeaderKey, String> {
        match name.to_ascii_lowercase().as_str() {
            ":method" => Ok(HeaderKey::Method),
            ":authority" | "host" => Ok(HeaderKey::Authority),
            ":scheme" => Ok(HeaderKey::Scheme),
            ":path" => Ok(HeaderKey::Path),
            _ if name.starts_with("@request.auth.claims.") => {
                let path: Vec<String> = name["@request.auth.claims.".len()..]
                    .split('.')
                    .map(str::to_string)
                    .collect();
                if path.iter().any(String::is_empty) {
                    return Err(format!(
                        "{name:?}: write a claim as @request.auth.claims.name or @request.auth.claims.a.b"
                    ));
                }
                Ok(HeaderKey::Claim(path))
            }
            other if other.starts_with(':') => {
                Err(format!("{name:?} is not a pseudo-header routes can match"))
            }
            other => HeaderName::try_from(other)
                .map(HeaderKey::Name)
                .map_err(|_| format!("{name:?} is not a valid HTTP header name")),
        }
    }
}

impl std::fmt::Display for HeaderKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            HeaderKey::Method => ":method",
            HeaderKey::Authority => ":authority",
            HeaderKey::Scheme => ":scheme",
            HeaderKey::Path => ":path",
            HeaderKey::Name(n) => n.as_str(),
            HeaderKey::Claim(path) => return write!(f, "@request.auth.claims.{}", path.join(".")),
        })
    }
}

impl<'a> RequestView<'a> {
    /// The view of a request whose target was normalized to `target`, received for
    /// `authority` over `scheme`.
    pub fn new(
        parts: &'a http::request::Parts,
        target: &'a Target<'_>,
        authority: &'a str,
        scheme: Scheme,
    ) -> Self {
        RequestView {
            method: parts.method.as_str(),
            path: &target.path,
            query: target.query,
            authority,
            scheme,
            headers: &parts.headers,
            identity: parts.extensions.get(),
        }
    }

    /// A header's value; several values are joined with `,` (Envoy's header matching).
    /// Pseudo-headers `:method`, `:authority`, `:scheme`, `:path` are answered too.
    pub fn header(&self, key: &HeaderKey) -> Option<String> {
        self.value(key).map(Cow::into_owned)
    }

    /// [`Self::header`], borrowed from the request where it can be (one value, UTF-8).
    pub fn value(&self, key: &HeaderKey) -> Option<Cow<'a, str>> {
        match key {
            HeaderKey::Method => Some(Cow::Borrowed(self.method)),
            HeaderKey::Authority => Some(Cow::Borrowed(self.authority)),
            HeaderKey::Scheme => Some(Cow::Borrowed(self.scheme.as_str())),
            HeaderKey::Path => Some(match self.query {
                Some(q) => Cow::Owned(format!("{}?{q}", self.path)),
                None => Cow::Borrowed(self.path),
            }),
            HeaderKey::Name(name) => self.header_value(name),
            HeaderKey::Claim(_) => self.values(key).into_iter().next().map(Cow::Owned),
        }
    }

    /// A regular header's values joined with `,`, borrowed when there is one UTF-8 value.
    pub fn header_value(&self, name: &HeaderName) -> Option<Cow<'a, str>> {
        let headers: &'a HeaderMap = self.headers;
        let mut values = headers.get_all(name).iter();
        let first = values.next()?;
        let Some(second) = values.next() else {
            return Some(String::from_utf8_lossy(first.as_bytes()));
        };
        let all = [first, second].into_iter().chain(values);
        Some(Cow::Owned(
            all.map(|v| String::from_utf8_lossy(v.as_bytes()))
                .collect::<Vec<_>>()
                .join(","),
        ))
    }

    /// The values a condition on `key` is tested against: the header's (joined), or each
    /// value of a claim (a string, or each string of a list).
    pub fn values(&self, key: &HeaderKey) -> Vec<String> {
        match key {
            HeaderKey::Claim(path) => self.identity.map(|i| i.claim_values(path)).unwrap_or_default(),
            other => self.header(other).into_iter().collect(),
        }
    }

    /// The first value of a query parameter; `?key` alone has the value `""`.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query?.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (key == name).then_some(value)
        })
    }
}

/// `list.key` as a field path (`headers["x y"]` when the key needs quoting).
fn field(list: &str, key: &str) -> String {
    sluice_api::document::FieldPath::root()
        .key(list)
        .key(key)
        .to_string()
}

fn compile_one(errors: &mut Vec<(String, String)>, field: String, m: &StringMatch) -> Option<Match> {
    match Match::compile(m) {
        Ok(m) => Some(m),
        Err(e) => {
            errors.push((field, e));
            None
        }
    }
}

fn header_conditions(
    errors: &mut Vec<(String, String)>,
    list: &str,
    from: &BTreeMap<String, StringMatch>,
) -> Vec<(HeaderKey, Match)> {
    let mut out = Vec::new();
    for (name, m) in from {
        let at = field(list, name);
        let (Some(m), key) = (compile_one(errors, at.clone(), m), HeaderKey::parse(name)) else {
            continue;
        };
        match key {
            Ok(key) => out.push((key, m)),
            Err(e) => errors.push((at, e)),
        }
    }
    out
}

/// One compiled match block: every condition must hold.
#[derive(Clone, Debug, PartialEq)]
pub struct RequestMatch {
    /// Path condition; `None` is prefix `/`.
    pub uri: Option<UriMatch>,
    /// Header conditions.
    pub headers: Vec<(HeaderKey, Match)>,
    /// Inverted header conditions.
    pub without_headers: Vec<(HeaderKey, Match)>,
    /// Query parameter conditions.
    pub query_params: Vec<(String, Match)>,
}

impl RequestMatch {
    /// The match of a route with no `match` list: every request.
    pub fn any() -> Self {
        RequestMatch {
            uri: None,
            headers: Vec::new(),
            without_headers: Vec::new(),
            query_params: Vec::new(),
        }
    }

    /// Compile a match block; method, authority and scheme become pseudo-header conditions.
    /// Errors name the field (`headers.x-user`) and what is wrong.
    pub fn compile(m: &HttpMatchRequest) -> Result<Self, Vec<(String, String)>> {
        let mut errors = Vec::new();
        let uri = m
            .uri
            .as_ref()
            .and_then(|u| compile_one(&mut errors, "uri".into(), u))
            .map(|matcher| UriMatch {
                matcher,
                ignore_case: m.ignore_uri_case.unwrap_or(false),
            });
        let mut headers = Vec::new();
        for (key, name, field) in [
            (HeaderKey::Method, "method", &m.method),
            (HeaderKey::Authority, "authority", &m.authority),
            (HeaderKey::Scheme, "scheme", &m.scheme),
        ] {
            if let Some(sm) = field
                && let Some(c) = compile_one(&mut errors, name.into(), sm)
            {
                headers.push((key, c));
            }
        }
        headers.extend(header_conditions(&mut errors, "headers", &m.headers));
        let without_headers = header_conditions(&mut errors, "withoutHeaders", &m.without_headers);
        let query_params: Vec<(String, Match)> = m
            .query_params
            .iter()
            .filter_map(|(k, v)| compile_one(&mut errors, field("queryParams", k), v).map(|c| (k.clone(), c)))
            .collect();
        if errors.is_empty() {
            // Kept as long as the route: without the room `extend` left for more.
            headers.shrink_to_fit();
            Ok(RequestMatch {
                uri,
                headers,
                without_headers,
                query_params,
            })
        } else {
            Err(errors)
        }
    }

    /// Does the request meet every condition?
    pub fn matches(&self, req: &RequestView<'_>) -> bool {
        if let Some(uri) = &self.uri
            && !uri.matches(req.path)
        {
            return false;
        }
        let header_ok = |(key, m): &(HeaderKey, Match)| match key {
            HeaderKey::Claim(_) => req.values(key).iter().any(|v| m.matches(v)),
            _ => req.value(key).is_some_and(|v| m.matches(&v)),
        };
        // A missing header counts as "" for value matchers and as absent for presence.
        let without_ok = |(key, m): &(HeaderKey, Match)| match (req.value(key), m) {
            (None, Match::Present) => true,
            (None, m) => !m.matches(""),
            (Some(v), m) => !m.matches(&v),
        };
        self.headers.iter().all(header_ok)
            && self.without_headers.iter().all(without_ok)
            && self
                .query_params
                .iter()
                .all(|(name, m)| req.query_param(name).is_some_and(|v| m.matches(v)))
    }

    /// Why the request does not match (the first failing condition), or `None` if it does.
    pub fn mismatch(&self, req: &RequestView<'_>) -> Option<String> {
        if let Some(uri) = &self.uri
            && !uri.matches(req.path)
        {
            return Some(format!(
                "path {:?} does not match uri {}",
                req.path,
                describe(&uri.matcher)
            ));
        }
        for (name, m) in &self.headers {
            match req.header(name) {
                None => return Some(format!("header {name} is absent (needs {})", describe(m))),
                Some(v) if !m.matches(&v) => {
                    return Some(format!("header {name}: {v:?} does not match {}", describe(m)));
                }
                Some(_) => {}
            }
        }
        for (name, m) in &self.without_headers {
            let value = req.header(name);
            let hit = match (&value, m) {
                (None, Match::Present) => false,
                (None, m) => m.matches(""),
                (Some(v), m) => m.matches(v),
            };
            if hit {
                return Some(format!(
                    "withoutHeaders {name}: {value:?} matches {}",
                    describe(m)
                ));
            }
        }
        for (name, m) in &self.query_params {
            match req.query_param(name) {
                None => return Some(format!("query parameter {name} is absent")),
                Some(v) if !m.matches(v) => {
                    return Some(format!(
                        "query parameter {name}: {v:?} does not match {}",
                        describe(m)
                    ));
                }
                Some(_) => {}
            }
        }
        None
    }

    /// A catch-all: any path, no other condition (Istio moves these to the end and stops
    /// translating a VirtualService after one).
    pub fn is_catch_all(&self) -> bool {
        self.uri.as_ref().is_none_or(|u| u.matcher.matches_any_path())
            && self.headers.is_empty()
            && self.without_headers.is_empty()
            && self.query_params.is_empty()
    }
}
