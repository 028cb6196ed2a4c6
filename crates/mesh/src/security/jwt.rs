//! `RequestAuthentication` as Envoy's `jwt_authn` filter runs it (spec §6): where tokens
//! are found, the verification steps in order with Envoy's failure strings, the
//! any-provider-or-all-valid-or-missing requirement, and what a verified token does to the
//! request on its way upstream.
//!
//! The cryptography is `jsonwebtoken`'s; this module decides which key, which checks and
//! which answer. The clock and the keys of `jwksUri` rules are the caller's.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::header::{HeaderName, HeaderValue};
use http::request::Parts;
use http::{StatusCode, Uri};
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

/// Envoy's clock skew allowance for `nbf` and `exp`, in seconds.
pub const CLOCK_SKEW_SECONDS: u64 = 60;

/// Where a provider's keys come from.
#[derive(Clone, Debug)]
pub enum Keys {
    /// Inline `jwks`.
    Inline(Arc<JwkSet>),
    /// `jwksUri`: fetched by the caller; until then every token fails (Istio's
    /// public-only placeholder key).
    Uri(String),
}

/// A header a token is read from, with the prefix before the token.
#[derive(Clone, Debug)]
pub struct FromHeader {
    /// Header name.
    pub name: HeaderName,
    /// Text before the token (`Bearer `), searched case-sensitively.
    pub prefix: String,
}

/// One `jwtRule`: an Envoy JWT provider.
#[derive(Clone, Debug)]
pub struct Provider {
    /// The `iss` a token must carry; `None` accepts any.
    pub issuer: Option<String>,
    /// Accepted audiences, normalized; empty: no audience check.
    pub audiences: Vec<String>,
    /// Where the keys come from.
    pub keys: Keys,
    /// How long fetching `jwksUri` may take.
    pub fetch_timeout: std::time::Duration,
    /// Token headers.
    pub from_headers: Vec<FromHeader>,
    /// Token query parameters.
    pub from_params: Vec<String>,
    /// Token cookies.
    pub from_cookies: Vec<String>,
    /// Keep the token on the request forwarded upstream.
    pub forward_original_token: bool,
    /// Header set to the token's payload segment.
    pub output_payload_to_header: Option<HeaderName>,
    /// Headers set to claims (`a.b.c` paths).
    pub output_claim_to_headers: Vec<(HeaderName, Vec<String>)>,
    /// Claims split on spaces for authorization (besides `scope` and `permission`).
    pub space_delimited_claims: Vec<String>,
    /// `RequestAuthentication ns/name` and the rule index, for `explain`.
    pub origin: String,
}

/// The identity a verified token gives the request: what authorization and claim-based
/// routing see. Stored in the request's extensions.
#[derive(Clone, Debug, PartialEq)]
pub struct Identity {
    /// `iss`.
    pub issuer: Option<String>,
    /// `sub`.
    pub subject: Option<String>,
    /// `aud` (a string or a list).
    pub audiences: Vec<String>,
    /// `azp`.
    pub presenter: Option<String>,
    /// The whole payload.
    pub claims: Value,
    /// Claims whose string values are split on spaces when matched.
    pub space_delimited: Vec<String>,
}

impl Identity {
    /// `iss/sub`, Istio's request principal, when both are present.
    pub fn principal(&self) -> Option<String> {
        Some(format!("{}/{}", self.issuer.as_ref()?, self.subject.as_ref()?))
    }

    /// The values of a claim at `path` (nested objects): a string, each string of a list,
    /// and (for space-delimited claims) each word; numbers and booleans as text.
    pub fn claim_values(&self, path: &[String]) -> Vec<String> {
        let Some(value) = claim(&self.claims, path) else {
            return Vec::new();
        };
        let split = path.len() == 1
            && (["scope", "permission"].contains(&path[0].as_str())
                || self.space_delimited.contains(&path[0]));
        let mut out = Vec::new();
        let mut push = |s: String| {
            if split {
                out.extend(s.split_whitespace().map(str::to_string));
            } else {
                out.push(s);
            }
        };
        match value {
            Value::Array(items) => items.iter().filter_map(scalar_text).for_each(&mut push),
            other => {
                if let Some(s) = scalar_text(other) {
                    push(s);
                }
            }
        }
        out
    }
}

/// A claim at a nested path.
fn claim<'a>(claims: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(claims, |v, key| v.get(key))
}

/// A claim as header text: strings as they are, integral numbers as integers, booleans.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => format!("{}", f as i64),
            _ => n.to_string(),
        }),
        _ => None,
    }
}

/// Why a token was refused: Envoy's status string and HTTP status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// 401, or 403 for an audience mismatch.
    pub status: StatusCode,
    /// Envoy's text, e.g. `Jwt is expired`.
    pub message: &'static str,
    /// The provider (rule) that refused it.
    pub origin: String,
}

/// What authentication made of a request.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// No rule applies, or no token in any configured location: the request goes on
    /// without an identity.
    Anonymous,
    /// A token verified: the request goes on with this identity.
    Verified {
        /// Whose token.
        identity: Box<Identity>,
        /// The rule that verified it.
        origin: String,
    },
    /// A token was refused.
    Refused(Failure),
}

/// A token found in a request, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Location {
    Header(HeaderName),
    Param(String),
    Cookie,
}

#[derive(Clone, Debug)]
struct Found {
    token: String,
    location: Location,
}

/// The JWT filter of one workload: its providers sorted by issuer.
#[derive(Clone, Debug, Default)]
pub struct Authenticator {
    providers: Vec<Provider>,
    verified: Arc<Verified>,
}

/// How many verified tokens the filter remembers (per configuration).
const VERIFIED_ENTRIES: usize = 1024;

/// Tokens this filter verified: a client sending the same token again costs a lookup
/// rather than a signature check, as with Envoy's `jwt_cache_config`. The time checks run
/// on every use, and an entry is used only with the very key set that verified it.
#[derive(Debug, Default)]
struct Verified {
    entries: std::sync::Mutex<std::collections::HashMap<(usize, String), Remembered>>,
}

#[derive(Debug, Clone)]
struct Remembered {
    /// The key set that verified it: a refreshed `jwksUri` set is another one.
    keys: Arc<JwkSet>,
    identity: Identity,
    segment: String,
    nbf: Option<u64>,
    exp: Option<u64>,
}

impl Verified {
    fn get(&self, provider: usize, token: &str, keys: &Arc<JwkSet>) -> Option<Remembered> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(&(provider, token.to_string()))
            .filter(|r| Arc::ptr_eq(&r.keys, keys))
            .cloned()
    }

    fn put(&self, provider: usize, token: &str, remembered: Remembered) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= VERIFIED_ENTRIES {
            entries.clear();
        }
        entries.insert((provider, token.to_string()), remembered);
    }
}

/// A parsed token before its checks.
struct Parsed {
    alg: Algorithm,
    kid: Option<String>,
    payload: Value,
    payload_segment: String,
    signing_input: String,
    signature: String,
}

impl Authenticator {
    /// The filter for `providers` (sorted here by issuer, as Istio does).
    pub fn new(mut providers: Vec<Provider>) -> Self {
        providers.sort_by(|a, b| a.issuer.cmp(&b.issuer));
        Authenticator {
            providers,
            verified: Arc::default(),
        }
    }

    /// Whether any rule applies.
    pub fn is_empty(&self) -> bool {
        self.providers.is_empty()
    }

    /// The providers, sorted by issuer.
    pub fn providers(&self) -> &[Provider] {
        &self.providers
    }

    /// The `jwksUri`s the caller must fetch, with their fetch timeouts.
    pub fn jwks_uris(&self) -> Vec<(String, std::time::Duration)> {
        self.providers
            .iter()
            .filter_map(|p| match &p.keys {
                Keys::Uri(u) => Some((u.clone(), p.fetch_timeout)),
                Keys::Inline(_) => None,
            })
            .collect()
    }

    /// Authenticate a request and, when it goes on, prepare it for upstream: client
    /// values of output headers removed, a verified token's header or parameter removed
    /// (unless `forwardOriginalToken`), claims and payload written to their headers.
    /// `now` is seconds since the epoch; `fetched` answers the keys of a `jwksUri`.
    pub fn authenticate(
        &self,
        parts: &mut Parts,
        now: u64,
        fetched: &dyn Fn(&str) -> Option<Arc<JwkSet>>,
    ) -> Outcome {
        if self.providers.is_empty() {
            return Outcome::Anonymous;
        }
        // Client-supplied values of the headers the filter writes never reach upstream.
        for p in &self.providers {
            if let Some(h) = &p.output_payload_to_header {
                parts.headers.remove(h);
            }
            for (h, _) in &p.output_claim_to_headers {
                parts.headers.remove(h);
            }
        }
        if is_cors_preflight(parts) {
            return Outcome::Anonymous;
        }
        // Each provider's verdict: no token, every token valid, or the first failure.
        let verdicts: Vec<Verdict> = self
            .providers
            .iter()
            .enumerate()
            .map(|(i, p)| verify_provider(p, (i, &self.verified), parts, now, fetched))
            .collect();
        let chosen = verdicts.iter().position(|v| matches!(v, Verdict::Valid(..)));
        let Some(index) = chosen else {
            // any() failed; all(valid-or-missing) fails at the first refused provider.
            return match verdicts.into_iter().find_map(|v| match v {
                Verdict::Invalid(f) => Some(f),
                _ => None,
            }) {
                Some(failure) => Outcome::Refused(failure),
                None => Outcome::Anonymous,
            };
        };
        let provider = &self.providers[index];
        let Verdict::Valid(identity, found, payload_segment) =
            verdicts.into_iter().nth(index).unwrap_or(Verdict::Missing)
        else {
            return Outcome::Anonymous;
        };
        if !provider.forward_original_token {
            for f in &found {
                remove_token(parts, f);
            }
        }
        if let Some(h) = &provider.output_payload_to_header
            && let Ok(v) = HeaderValue::from_str(&payload_segment)
        {
            parts.headers.insert(h.clone(), v);
        }
        for (h, path) in &provider.output_claim_to_headers {
            if let Some(text) = claim(&identity.claims, path).and_then(scalar_text)
                && let Ok(v) = HeaderValue::from_str(&text)
            {
                parts.headers.insert(h.clone(), v);
            }
        }
        Outcome::Verified {
            identity: Box::new(identity),
            origin: provider.origin.clone(),
        }
    }
}

enum Verdict {
    Missing,
    Valid(Identity, Vec<Found>, String),
    Invalid(Failure),
}

fn verify_provider(
    provider: &Provider,
    (index, verified): (usize, &Verified),
    parts: &Parts,
    now: u64,
    fetched: &dyn Fn(&str) -> Option<Arc<JwkSet>>,
) -> Verdict {
    let found = extract(provider, parts);
    if found.is_empty() {
        return Verdict::Missing;
    }
    let keys = match &provider.keys {
        Keys::Inline(set) => Some(set.clone()),
        Keys::Uri(uri) => fetched(uri),
    };
    let mut first = None;
    for f in &found {
        let remembered = keys.as_ref().and_then(|k| verified.get(index, &f.token, k));
        let checked = match remembered {
            Some(r) => check_time(r.nbf, r.exp, now).map(|()| (r.identity, r.segment)),
            None => verify(provider, &f.token, now, keys.as_deref()).inspect(|(identity, segment)| {
                let Some(keys) = &keys else { return };
                let time = |name: &str| identity.claims.get(name).and_then(Value::as_u64);
                verified.put(
                    index,
                    &f.token,
                    Remembered {
                        keys: keys.clone(),
                        identity: identity.clone(),
                        segment: segment.clone(),
                        nbf: time("nbf"),
                        exp: time("exp"),
                    },
                );
            }),
        };
        match checked {
            Ok((identity, segment)) => {
                first.get_or_insert((identity, segment));
            }
            Err((status, message)) => {
                return Verdict::Invalid(Failure {
                    status,
                    message,
                    origin: provider.origin.clone(),
                });
            }
        }
    }
    match first {
        Some((identity, segment)) => Verdict::Valid(identity, found, segment),
        None => Verdict::Missing,
    }
}

/// `nbf` and `exp` against the clock, with Envoy's skew.
fn check_time(nbf: Option<u64>, exp: Option<u64>, now: u64) -> Result<(), Refusal> {
    if nbf.is_some_and(|nbf| nbf > now.saturating_add(CLOCK_SKEW_SECONDS)) {
        return Err((UNAUTHORIZED, status::NOT_YET_VALID));
    }
    if exp.is_some_and(|exp| now > exp.saturating_add(CLOCK_SKEW_SECONDS)) {
        return Err((UNAUTHORIZED, status::EXPIRED));
    }
    Ok(())
}

/// CORS preflights skip JWT: `OPTIONS` with non-empty `Origin` and
/// `Access-Control-Request-Method`.
fn is_cors_preflight(parts: &Parts) -> bool {
    let non_empty = |name: &str| parts.headers.get(name).is_some_and(|v| !v.is_empty());
    parts.method == http::Method::OPTIONS && non_empty("origin") && non_empty("access-control-request-method")
}

/// The default locations: `Authorization: Bearer …`, then `?access_token=`.
fn uses_defaults(p: &Provider) -> bool {
    p.from_headers.is_empty() && p.from_params.is_empty() && p.from_cookies.is_empty()
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '=' | '+' | '/')
}

/// The token after `prefix` in a header value: from the first token character after the
/// prefix to the last of that run. No prefix in the value: no token here.
fn after_prefix(value: &str, prefix: &str) -> Option<String> {
    let start = value.find(prefix)? + prefix.len();
    let rest = &value[start..];
    let rest = rest.trim_start_matches(|c: char| !is_token_char(c));
    let token: String = rest.chars().take_while(|c| is_token_char(*c)).collect();
    (!token.is_empty()).then_some(token)
}

fn extract(p: &Provider, parts: &Parts) -> Vec<Found> {
    let mut found = Vec::new();
    let defaults = [FromHeader {
        name: http::header::AUTHORIZATION,
        prefix: "Bearer ".to_string(),
    }];
    let default_params = ["access_token".to_string()];
    let (headers, params): (&[FromHeader], &[String]) = if uses_defaults(p) {
        (&defaults, &default_params)
    } else {
        (&p.from_headers, &p.from_params)
    };
    for h in headers {
        for value in parts.headers.get_all(&h.name) {
            let Ok(value) = value.to_str() else { continue };
            let token = if h.prefix.is_empty() {
                let t = value.trim();
                (!t.is_empty()).then(|| t.to_string())
            } else {
                after_prefix(value, &h.prefix)
            };
            if let Some(token) = token {
                found.push(Found {
                    token,
                    location: Location::Header(h.name.clone()),
                });
            }
        }
    }
    let query = parts.uri.query().unwrap_or("");
    for name in params {
        for pair in query.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            if k == name && !v.is_empty() {
                found.push(Found {
                    token: v.to_string(),
                    location: Location::Param(name.clone()),
                });
            }
        }
    }
    for name in &p.from_cookies {
        for value in parts.headers.get_all(http::header::COOKIE) {
            let Ok(value) = value.to_str() else { continue };
            for cookie in value.split(';') {
                if let Some((k, v)) = cookie.trim().split_once('=')
                    && k == name
                    && !v.is_empty()
                {
                    found.push(Found {
                        token: v.trim_matches('"').to_string(),
                        location: Location::Cookie,
                    });
                }
            }
        }
    }
    // One token read twice (the same header through two rules) is verified once.
    let mut seen = std::collections::BTreeSet::new();
    found.retain(|f| seen.insert((f.token.clone(), format!("{:?}", f.location))));
    found
}

/// Take a verified token off the request: its whole header, or its query parameter.
/// Cookies stay.
fn remove_token(parts: &mut Parts, found: &Found) {
    match &found.location {
        Location::Header(name) => {
            parts.headers.remove(name);
        }
        Location::Param(name) => {
            let Some(pq) = parts.uri.path_and_query() else {
                return;
            };
            let Some(query) = pq.query() else { return };
            let kept: Vec<&str> = query
                .split('&')
                .filter(|pair| pair.split_once('=').map_or(*pair, |(k, _)| k) != name)
                .collect();
            let new = if kept.is_empty() {
                pq.path().to_string()
            } else {
                format!("{}?{}", pq.path(), kept.join("&"))
            };
            let mut uri = std::mem::take(&mut parts.uri).into_parts();
            uri.path_and_query = new.parse().ok();
            parts.uri = Uri::from_parts(uri).unwrap_or_default();
        }
        Location::Cookie => {}
    }
}

const UNAUTHORIZED: StatusCode = StatusCode::UNAUTHORIZED;

/// JWT verification library strings (Envoy's `jwt_verify_lib`).
pub mod status {
    /// Not three dot-separated segments.
    pub const NOT_THREE_SEGMENTS: &str =
        "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections";
    /// Header not base64url.
    pub const HEADER_BAD_BASE64: &str = "Jwt header is an invalid Base64url encoded";
    /// Header not JSON.
    pub const HEADER_BAD_JSON: &str = "Jwt header is an invalid JSON";
    /// `alg` missing or not a string.
    pub const ALG_MISSING: &str = "Jwt header [alg] field is required and must be a string";
    /// `alg` not supported.
    pub const ALG_UNSUPPORTED: &str = "Jwt header [alg] is not supported";
    /// `kid` not a string.
    pub const KID_NOT_STRING: &str = "Jwt header [kid] field is not a string";
    /// Payload not base64url.
    pub const PAYLOAD_BAD_BASE64: &str = "Jwt payload is an invalid Base64url encoded";
    /// Payload not a JSON object.
    pub const PAYLOAD_BAD_JSON: &str = "Jwt payload is an invalid JSON";
    /// `iss` not a string.
    pub const ISS_NOT_STRING: &str = "Jwt payload [iss] field is not a string";
    /// `sub` not a string.
    pub const SUB_NOT_STRING: &str = "Jwt payload [sub] field is not a string";
    /// A time claim not an integer.
    pub const TIME_NOT_INTEGER: &str =
        "Jwt payload [exp], [nbf] or [iat] field is not a positive 64 bit integer";
    /// `aud` neither a string nor a list of strings.
    pub const AUD_BAD: &str = "Jwt payload [aud] field is not a string or string list";
    /// Signature not base64url.
    pub const SIGNATURE_BAD_BASE64: &str = "Jwt signature is an invalid Base64url encoded";
    /// `iss` is not the provider's issuer.
    pub const UNKNOWN_ISSUER: &str = "Jwt issuer is not configured";
    /// `nbf` in the future.
    pub const NOT_YET_VALID: &str = "Jwt not yet valid";
    /// `exp` in the past.
    pub const EXPIRED: &str = "Jwt is expired";
    /// No accepted audience.
    pub const AUDIENCE_NOT_ALLOWED: &str = "Audiences in Jwt are not allowed";
    /// No key for the token's `kid`/`alg`.
    pub const NO_KEY: &str = "Jwks doesn't have key to match kid or alg from Jwt";
    /// The signature does not verify.
    pub const VERIFICATION_FAILS: &str = "Jwt verification fails";
}

type Refusal = (StatusCode, &'static str);

fn b64(segment: &str, bad: &'static str) -> Result<Vec<u8>, Refusal> {
    // Envoy accepts padded and unpadded base64url.
    URL_SAFE_NO_PAD
        .decode(segment.trim_end_matches('='))
        .map_err(|_| (UNAUTHORIZED, bad))
}

fn parse(token: &str) -> Result<Parsed, Refusal> {
    let segments: Vec<&str> = token.split('.').collect();
    let [header, payload, signature] = segments[..] else {
        return Err((UNAUTHORIZED, status::NOT_THREE_SEGMENTS));
    };
    let header_json: Value = serde_json::from_slice(&b64(header, status::HEADER_BAD_BASE64)?)
        .map_err(|_| (UNAUTHORIZED, status::HEADER_BAD_JSON))?;
    if !header_json.is_object() {
        return Err((UNAUTHORIZED, status::HEADER_BAD_JSON));
    }
    let alg = header_json
        .get("alg")
        .and_then(Value::as_str)
        .ok_or((UNAUTHORIZED, status::ALG_MISSING))?;
    let alg: Algorithm = alg.parse().map_err(|_| (UNAUTHORIZED, status::ALG_UNSUPPORTED))?;
    let kid = match header_json.get("kid") {
        None => None,
        Some(Value::String(k)) => Some(k.clone()),
        Some(_) => return Err((UNAUTHORIZED, status::KID_NOT_STRING)),
    };
    let payload_json: Value = serde_json::from_slice(&b64(payload, status::PAYLOAD_BAD_BASE64)?)
        .map_err(|_| (UNAUTHORIZED, status::PAYLOAD_BAD_JSON))?;
    if !payload_json.is_object() {
        return Err((UNAUTHORIZED, status::PAYLOAD_BAD_JSON));
    }
    b64(signature, status::SIGNATURE_BAD_BASE64)?;
    Ok(Parsed {
        alg,
        kid,
        payload: payload_json,
        payload_segment: payload.to_string(),
        signing_input: format!("{header}.{payload}"),
        signature: signature.trim_end_matches('=').to_string(),
    })
}

/// A claim that must be a string when present.
fn string_claim(payload: &Value, name: &str, bad: &'static str) -> Result<Option<String>, Refusal> {
    match payload.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err((UNAUTHORIZED, bad)),
    }
}

fn time_claim(payload: &Value, name: &str) -> Result<Option<u64>, Refusal> {
    match payload.get(name) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or((UNAUTHORIZED, status::TIME_NOT_INTEGER)),
    }
}

/// An audience compared as Envoy does: without `http://`/`https://` and one trailing `/`.
pub fn normalize_audience(aud: &str) -> String {
    let a = aud
        .strip_prefix("http://")
        .or_else(|| aud.strip_prefix("https://"))
        .unwrap_or(aud);
    a.strip_suffix('/').unwrap_or(a).to_string()
}

/// Verify one token for one provider: the identity and the payload segment, or why not.
fn verify(
    provider: &Provider,
    token: &str,
    now: u64,
    keys: Option<&JwkSet>,
) -> Result<(Identity, String), Refusal> {
    let parsed = parse(token)?;
    let payload = &parsed.payload;
    let issuer = string_claim(payload, "iss", status::ISS_NOT_STRING)?;
    let subject = string_claim(payload, "sub", status::SUB_NOT_STRING)?;
    let (nbf, exp) = (time_claim(payload, "nbf")?, time_claim(payload, "exp")?);
    time_claim(payload, "iat")?;
    let audiences: Vec<String> = match payload.get("aud") {
        None => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .ok_or((UNAUTHORIZED, status::AUD_BAD))?,
        Some(_) => return Err((UNAUTHORIZED, status::AUD_BAD)),
    };
    if let Some(expected) = &provider.issuer
        && issuer.as_deref() != Some(expected.as_str())
    {
        return Err((UNAUTHORIZED, status::UNKNOWN_ISSUER));
    }
    check_time(nbf, exp, now)?;
    if !provider.audiences.is_empty()
        && !audiences
            .iter()
            .any(|a| provider.audiences.contains(&normalize_audience(a)))
    {
        return Err((StatusCode::FORBIDDEN, status::AUDIENCE_NOT_ALLOWED));
    }
    // Without fetched keys nothing verifies (Istio's placeholder key signs nothing).
    let Some(keys) = keys else {
        return Err((UNAUTHORIZED, status::VERIFICATION_FAILS));
    };
    let candidates: Vec<&Jwk> = keys
        .keys
        .iter()
        .filter(|k| parsed.kid.is_none() || k.common.key_id.is_none() || k.common.key_id == parsed.kid)
        .filter(|k| key_fits(k, parsed.alg))
        .collect();
    if candidates.is_empty() {
        return Err((UNAUTHORIZED, status::NO_KEY));
    }
    let verified = candidates.iter().any(|jwk| {
        DecodingKey::from_jwk(jwk).is_ok_and(|key| {
            jsonwebtoken::crypto::verify(
                &parsed.signature,
                parsed.signing_input.as_bytes(),
                &key,
                parsed.alg,
            )
            .unwrap_or(false)
        })
    });
    if !verified {
        return Err((UNAUTHORIZED, status::VERIFICATION_FAILS));
    }
    let identity = Identity {
        issuer,
        subject,
        audiences,
        presenter: payload.get("azp").and_then(Value::as_str).map(str::to_string),
        claims: parsed.payload.clone(),
        space_delimited: provider.space_delimited_claims.clone(),
    };
    Ok((identity, parsed.payload_segment))
}

/// Whether a key can check a signature of `alg`: its type (and curve) fit the algorithm,
/// and its own `alg`, when set, is that algorithm.
fn key_fits(key: &Jwk, alg: Algorithm) -> bool {
    if let Some(key_alg) = key.common.key_algorithm
        && format!("{key_alg:?}") != format!("{alg:?}")
    {
        return false;
    }
    match (&key.algorithm, alg) {
        (
            AlgorithmParameters::RSA(_),
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512,
        ) => true,
        (AlgorithmParameters::EllipticCurve(ec), Algorithm::ES256) => ec.curve == EllipticCurve::P256,
        (AlgorithmParameters::EllipticCurve(ec), Algorithm::ES384) => ec.curve == EllipticCurve::P384,
        (AlgorithmParameters::OctetKey(_), Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) => true,
        (AlgorithmParameters::OctetKeyPair(_), Algorithm::EdDSA) => true,
        _ => false,
    }
}

/// Parse a JWKS document (inline `jwks`, or a `jwksUri` response).
pub fn parse_jwks(text: &str) -> Result<JwkSet, String> {
    serde_json::from_str::<JwkSet>(text).map_err(|e| format!("not a JWKS document: {e}"))
}
