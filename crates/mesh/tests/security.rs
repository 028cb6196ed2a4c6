//! Spec §12.7 (RequestAuthentication) and §12.8 (AuthorizationPolicy), each case a test
//! named after its number, plus the attack suite: every request runs the security filters
//! then routing, as the gateway does. Tokens are signed in the test with a key generated
//! for the run.

mod support;

use std::net::SocketAddr;
use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use sluice_mesh::security::jwt::status;
use sluice_mesh::security::{Connection, Identity};
use sluice_mesh::{Action, RouteTable};
use support::{req, table, vs};

/// The test clock: 2026-12-05.
const NOW: u64 = 1_796_428_800;

/// An issuer's signing key and its public JWKS.
struct Issuer {
    key: EncodingKey,
    jwks: String,
}

impl Issuer {
    fn new(kid: &str) -> Issuer {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
        let raw = pair.public_key_raw();
        let (x, y) = (&raw[1..33], &raw[33..65]);
        let jwk = json!({"kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256", "use": "sig",
            "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y)});
        Issuer {
            key: EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).expect("pem"),
            jwks: json!({"keys": [jwk]}).to_string(),
        }
    }

    fn sign(&self, kid: &str, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(kid.to_string());
        jsonwebtoken::encode(&header, claims, &self.key).expect("sign")
    }
}

fn issuer() -> &'static Issuer {
    static I: OnceLock<Issuer> = OnceLock::new();
    I.get_or_init(|| Issuer::new("k1"))
}

fn other_issuer() -> &'static Issuer {
    static I: OnceLock<Issuer> = OnceLock::new();
    I.get_or_init(|| Issuer::new("k1"))
}

/// A valid token of `iss`/`sub` with extra claims.
fn token(iss: &str, sub: &str, extra: Value) -> String {
    let mut claims = json!({"iss": iss, "sub": sub, "iat": NOW - 10, "exp": NOW + 3600});
    if let (Some(c), Value::Object(extra)) = (claims.as_object_mut(), extra) {
        c.extend(extra);
    }
    issuer().sign("k1", &claims)
}

fn expired(iss: &str, sub: &str) -> String {
    issuer().sign("k1", &json!({"iss": iss, "sub": sub, "exp": NOW - 120}))
}

/// A RequestAuthentication in istio-system with one rule for `iss` (inline keys) and more fields.
fn ra(name: &str, namespace: &str, iss: &str, more: &str) -> String {
    format!(
        "apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {{name: {name}, namespace: {namespace}}}\nspec:\n  jwtRules:\n  - issuer: {iss}\n    jwks: '{}'\n{more}",
        issuer().jwks
    )
}

fn ap(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {{name: {name}, namespace: istio-system}}\nspec: {spec}\n"
    )
}

fn route_a() -> String {
    vs("[{route: [{destination: {host: a.default.svc.cluster.local}}]}]")
}

/// What the gateway does with a request: the status (200 for a forward), the reply body
/// and headers, and the request as it goes upstream.
struct Seen {
    status: u16,
    body: String,
    headers: Vec<(String, String)>,
    upstream: http::request::Parts,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
    fn upstream_header(&self, name: &str) -> Option<&str> {
        self.upstream.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A plain-text connection from 10.0.0.9 to the gateway's `port`.
fn client(port: u16, scheme: sluice_mesh::Scheme, num_trusted_proxies: u32) -> Connection {
    Connection {
        peer: SocketAddr::from(([10, 0, 0, 9], 5555)),
        local: SocketAddr::from(([127, 0, 0, 1], port)),
        port,
        scheme,
        sni: None,
        peer_principal: None,
        num_trusted_proxies,
    }
}

fn through_with(table: &RouteTable, r: support::Req, trusted: u32) -> Seen {
    let (mut parts, port, scheme) = r.into_parts();
    let connection = client(port, scheme, trusted);
    let reply = match table.security().check(&mut parts, &connection, NOW, &|_| None) {
        Err(reply) => reply,
        Ok(_) => {
            let decision = table.route(
                port,
                scheme,
                &parts,
                &mut <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(1),
            );
            match decision.action {
                Action::Forward(_) => {
                    return Seen {
                        status: 200,
                        body: String::new(),
                        headers: Vec::new(),
                        upstream: parts,
                    };
                }
                Action::Reply(r) => r,
            }
        }
    };
    Seen {
        status: reply.status.as_u16(),
        body: String::from_utf8_lossy(&reply.body).into_owned(),
        headers: reply
            .headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect(),
        upstream: parts,
    }
}

fn through(table: &RouteTable, r: support::Req) -> Seen {
    through_with(table, r, 0)
}

fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

fn with_ra(more: &str, extra: &str) -> RouteTable {
    table(&format!(
        "{}\n---\n{}\n---\n{extra}",
        route_a(),
        ra("ra", "istio-system", "issuer-1", more)
    ))
}

// §12.7 RequestAuthentication

#[test]
fn c87_no_token_passes() {
    let t = with_ra("", "");
    assert_eq!(through(&t, req("GET", "/")).status, 200);
}

#[test]
fn c88_valid_token_is_removed_unless_forwarded() {
    let t = with_ra("", "");
    let tok = token("issuer-1", "sub-1", json!({}));
    let s = through(&t, req("GET", "/").header("authorization", &bearer(&tok)));
    assert_eq!(s.status, 200);
    assert_eq!(s.upstream_header("authorization"), None);
    assert_eq!(
        s.upstream
            .extensions
            .get::<Identity>()
            .and_then(Identity::principal),
        Some("issuer-1/sub-1".to_string())
    );
    let t = with_ra("    forwardOriginalToken: true\n", "");
    let s = through(&t, req("GET", "/").header("authorization", &bearer(&tok)));
    assert_eq!(s.upstream_header("authorization"), Some(bearer(&tok).as_str()));
}

#[test]
fn c89_expired_token_gets_401_with_www_authenticate() {
    let t = with_ra("", "");
    let s = through(
        &t,
        req("GET", "/path?x").header("authorization", &bearer(&expired("issuer-1", "s"))),
    );
    assert_eq!((s.status, s.body.as_str()), (401, status::EXPIRED));
    assert_eq!(
        s.header("www-authenticate"),
        Some(r#"Bearer realm="http://app.example.com/path?x", error="invalid_token""#)
    );
}

#[test]
fn c90_unknown_key_other_issuer_and_malformed() {
    let t = with_ra("", "");
    let unknown_key = other_issuer().sign("k1", &json!({"iss": "issuer-1", "sub": "s", "exp": NOW + 60}));
    let s = through(&t, req("GET", "/").header("authorization", &bearer(&unknown_key)));
    assert_eq!((s.status, s.body.as_str()), (401, status::VERIFICATION_FAILS));
    let unknown_kid = issuer().sign("k9", &json!({"iss": "issuer-1", "sub": "s"}));
    let s = through(&t, req("GET", "/").header("authorization", &bearer(&unknown_kid)));
    assert_eq!((s.status, s.body.as_str()), (401, status::NO_KEY));
    let s = through(
        &t,
        req("GET", "/").header("authorization", &bearer(&token("other", "s", json!({})))),
    );
    assert_eq!((s.status, s.body.as_str()), (401, status::UNKNOWN_ISSUER));
    let s = through(&t, req("GET", "/").header("authorization", "Bearer abc"));
    assert_eq!((s.status, s.body.as_str()), (401, status::NOT_THREE_SEGMENTS));
}

#[test]
fn c91_audiences() {
    let t = with_ra("    audiences: [foo]\n", "");
    let s = through(
        &t,
        req("GET", "/").header(
            "authorization",
            &bearer(&token("issuer-1", "s", json!({"aud": "bar"}))),
        ),
    );
    assert_eq!((s.status, s.body.as_str()), (403, status::AUDIENCE_NOT_ALLOWED));
    let s = through(
        &t,
        req("GET", "/").header(
            "authorization",
            &bearer(&token("issuer-1", "s", json!({"aud": "https://foo/"}))),
        ),
    );
    assert_eq!(s.status, 200);
}

#[test]
fn c92_other_schemes_are_not_tokens() {
    let t = with_ra("", "");
    let s = through(&t, req("GET", "/").header("authorization", "Basic dXNlcjpw"));
    assert_eq!(s.status, 200);
    assert_eq!(s.upstream_header("authorization"), Some("Basic dXNlcjpw"));
    let lower = format!("bearer {}", expired("issuer-1", "s"));
    let s = through(&t, req("GET", "/").header("authorization", &lower));
    assert_eq!(s.status, 200, "a lower-case bearer is not read, so not refused");
}

#[test]
fn c93_token_locations() {
    let more = "    fromHeaders: [{name: x-jwt-token, prefix: \"Value \"}]\n    fromParams: [token, secondary_token]\n";
    let policy = ap(
        "allow",
        "{rules: [{from: [{source: {requestPrincipals: [issuer-1/sub-1]}}], to: [{operation: {methods: [GET]}}]}]}",
    );
    let t = with_ra(more, &policy);
    let tok = token("issuer-1", "sub-1", json!({}));
    assert_eq!(
        through(&t, req("GET", "/").header("x-jwt-token", &format!("Value {tok}"))).status,
        200
    );
    assert_eq!(
        through(&t, req("GET", "/").header("authorization", &bearer(&tok))).status,
        403
    );
    assert_eq!(
        through(&t, req("GET", &format!("/?token_value={tok}"))).status,
        403
    );
    let s = through(&t, req("GET", &format!("/?token={tok}")));
    assert_eq!(s.status, 200);
    assert_eq!(s.upstream.uri.to_string(), "/", "the token parameter is removed");
    let s = through(
        &t,
        req(
            "GET",
            &format!("/?token={tok}&secondary_token={}", expired("issuer-1", "sub-1")),
        ),
    );
    assert_eq!(s.status, 401);
}

#[test]
fn c94_claims_and_payload_to_headers() {
    let more = "    outputPayloadToHeader: x-test-payload\n    outputClaimToHeaders:\n    - {header: x-jwt-iss, claim: iss}\n    - {header: x-jwt-iat, claim: iat}\n    - {header: x-jwt-nested, claim: nested.nested-2.key2}\n    - {header: x-jwt-none, claim: missing}\n";
    let t = with_ra(more, "");
    let tok = token(
        "issuer-1",
        "s",
        json!({"nested": {"nested-2": {"key2": "value2"}}}),
    );
    let s = through(
        &t,
        req("GET", "/")
            .header("authorization", &bearer(&tok))
            .header("x-jwt-nested", "spoof")
            .header("x-jwt-none", "spoof"),
    );
    assert_eq!(s.status, 200);
    assert_eq!(s.upstream_header("x-test-payload"), tok.split('.').nth(1));
    assert_eq!(s.upstream_header("x-jwt-iss"), Some("issuer-1"));
    assert_eq!(
        s.upstream_header("x-jwt-iat"),
        Some((NOW - 10).to_string().as_str())
    );
    assert_eq!(s.upstream_header("x-jwt-nested"), Some("value2"));
    assert_eq!(s.upstream_header("x-jwt-none"), None);
    // Without a token the spoofed values are removed too.
    let s = through(&t, req("GET", "/").header("x-jwt-nested", "spoof"));
    assert_eq!(s.upstream_header("x-jwt-nested"), None);
}

#[test]
fn c95_cors_preflight_bypasses_jwt() {
    let t = with_ra("", "");
    let tok = bearer(&expired("issuer-1", "s"));
    let preflight = req("OPTIONS", "/")
        .header("authorization", &tok)
        .header("origin", "https://x.example.com")
        .header("access-control-request-method", "POST");
    assert_eq!(through(&t, preflight).status, 200);
    assert_eq!(
        through(&t, req("OPTIONS", "/").header("authorization", &tok)).status,
        401
    );
}

#[test]
fn c96_grpc_gets_unauthenticated() {
    let t = with_ra("", "");
    let (mut parts, port, scheme) = req("POST", "/pkg.Svc/M")
        .header("content-type", "application/grpc")
        .header("authorization", &bearer(&expired("issuer-1", "s")))
        .into_parts();
    let connection = client(port, scheme, 0);
    let reply = t
        .security()
        .check(&mut parts, &connection, NOW, &|_| None)
        .expect_err("refused");
    assert_eq!(reply.grpc_status, Some(sluice_mesh::grpc::Code::Unauthenticated));
    assert_eq!(reply.body, status::EXPIRED.as_bytes());
}

#[test]
fn c97_unfetched_jwks_uri_fails_closed() {
    let ra = "apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {name: ra, namespace: istio-system}\nspec:\n  jwtRules:\n  - issuer: issuer-1\n    jwksUri: http://127.0.0.1:1/jwks\n";
    let t = table(&format!("{}\n---\n{ra}", route_a()));
    let s = through(
        &t,
        req("GET", "/").header("authorization", &bearer(&token("issuer-1", "s", json!({})))),
    );
    assert_eq!((s.status, s.body.as_str()), (401, status::VERIFICATION_FAILS));
    assert_eq!(through(&t, req("GET", "/")).status, 200);
}

#[test]
fn c98_claim_based_routing() {
    let route = vs(
        "[{match: [{headers: {\"@request.auth.claims.nested.key1\": {exact: valueA}}}], route: [{destination: {host: a.default.svc.cluster.local}}]}]",
    );
    let t = table(&format!(
        "{route}\n---\n{}",
        ra("ra", "istio-system", "issuer-1", "")
    ));
    let good = token("issuer-1", "s", json!({"nested": {"key1": "valueA"}}));
    let other = token("issuer-1", "s", json!({"nested": {"key1": "valueB"}}));
    assert_eq!(
        through(&t, req("GET", "/").header("authorization", &bearer(&good))).status,
        200
    );
    assert_eq!(
        through(&t, req("GET", "/").header("authorization", &bearer(&other))).status,
        404
    );
    assert_eq!(through(&t, req("GET", "/")).status, 404);
    assert_eq!(
        through(
            &t,
            req("GET", "/").header("authorization", &bearer(&expired("issuer-1", "s")))
        )
        .status,
        401
    );
    assert_eq!(
        through(
            &t,
            req("GET", "/").header("request.auth.claims.nested.key1", "valueA")
        )
        .status,
        404
    );
}

#[test]
fn c99_rules_of_several_policies_combine() {
    let t = table(&format!(
        "{}\n---\n{}\n---\n{}",
        route_a(),
        ra("ra1", "istio-system", "issuer-1", ""),
        ra("ra2", "istio-system", "issuer-2", "")
    ));
    for iss in ["issuer-1", "issuer-2"] {
        let s = through(
            &t,
            req("GET", "/").header("authorization", &bearer(&token(iss, "s", json!({})))),
        );
        assert_eq!(s.status, 200, "{iss}");
    }
    let s = through(
        &t,
        req("GET", "/").header("authorization", &bearer(&expired("issuer-2", "s"))),
    );
    assert_eq!(s.status, 401);
    // Audiences per rule; an audience-free rule for issuer-2 accepts any audience.
    let combined = format!(
        "apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {{name: ra1, namespace: istio-system}}\nspec:\n  jwtRules:\n  - {{issuer: issuer-1, audiences: [foo], jwks: '{k}'}}\n  - {{issuer: issuer-2, audiences: [bar], jwks: '{k}'}}\n",
        k = issuer().jwks
    );
    let t = table(&format!(
        "{}\n---\n{combined}\n---\n{}",
        route_a(),
        ra("ra2", "istio-system", "issuer-2", "")
    ));
    let s = through(
        &t,
        req("GET", "/").header(
            "authorization",
            &bearer(&token("issuer-1", "s", json!({"aud": "x"}))),
        ),
    );
    assert_eq!(s.status, 403);
    let s = through(
        &t,
        req("GET", "/").header(
            "authorization",
            &bearer(&token("issuer-2", "s", json!({"aud": "x"}))),
        ),
    );
    assert_eq!(s.status, 200);
}

// §12.8 AuthorizationPolicy

fn with_ap(spec: &str) -> RouteTable {
    table(&format!("{}\n---\n{}", route_a(), ap("p", spec)))
}

#[test]
fn c100_allow_nothing_denies_before_routing() {
    let t = with_ap("{}");
    let s = through(&t, req("GET", "/"));
    assert_eq!((s.status, s.body.as_str()), (403, "RBAC: access denied"));
    assert_eq!(through(&t, req("GET", "/").host("other.example.com")).status, 403);
}

#[test]
fn c101_empty_rule_allows_all() {
    assert_eq!(through(&with_ap("{rules: [{}]}"), req("GET", "/")).status, 200);
}

#[test]
fn c102_deny_wins_over_allow() {
    let t = table(&format!(
        "{}\n---\n{}\n---\n{}",
        route_a(),
        ap("allow", "{rules: [{to: [{operation: {paths: [\"/allow*\"]}}]}]}"),
        ap(
            "deny",
            "{action: DENY, rules: [{to: [{operation: {paths: [/allow/admin]}}]}]}"
        )
    ));
    for (path, status) in [
        ("/allow", 200),
        ("/allow?param=value", 200),
        ("/allow/admin", 403),
        ("/allow/admin?param=value", 403),
        ("/other", 403),
    ] {
        assert_eq!(through(&t, req("GET", path)).status, status, "{path}");
    }
}

#[test]
fn c103_paths_are_normalized_first() {
    let t = with_ap("{rules: [{to: [{operation: {paths: [\"/public*\"], methods: [GET]}}]}]}");
    for (m, path, status) in [
        ("GET", "/public/../public", 200),
        ("GET", "/public/../private", 403),
        ("GET", "/public/%2e%2e/private", 403),
        ("HEAD", "/public", 403),
    ] {
        assert_eq!(through(&t, req(m, path)).status, status, "{m} {path}");
    }
}

#[test]
fn c104_path_templates() {
    let t = with_ap(
        "{rules: [{to: [{operation: {paths: [\"/allow/admin/{**}\", \"/foo/{*}/bar/{**}\", \"/store/{**}/cart\"]}}]}]}",
    );
    for (path, status) in [
        ("/allow/admin/", 200),
        ("/allow/admin", 403),
        ("/allow/admin/foo/temp.txt", 200),
        ("/foo/bar/bat.txt", 403),
        ("/foo/buzz/bar/bat", 200),
        ("/store//cart", 200),
        ("/store/cart", 403),
    ] {
        assert_eq!(through(&t, req("GET", path)).status, status, "{path}");
    }
}

#[test]
fn c105_hosts_ignore_case() {
    let star = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: star, namespace: default}\nspec:\n  hosts: [\"*\"]\n  gateways: [istio-system/gw]\n  http: [{route: [{destination: {host: a.default.svc.cluster.local}}]}]\n";
    let t = table(&format!(
        "{star}\n---\n{}",
        ap(
            "deny",
            "{action: DENY, rules: [{to: [{operation: {hosts: [deny.example.com, \"*.suffix.example.com\", \"prefix.example.*\"]}}]}]}"
        )
    ));
    for (host, status) in [
        ("DENY.EXAMPLE.COM", 403),
        ("deny.suffix.example.com", 403),
        ("Prefix.Example.Org", 403),
        ("www.example.com", 200),
    ] {
        assert_eq!(through(&t, req("GET", "/").host(host)).status, status, "{host}");
    }
}

#[test]
fn c106_hosts_include_the_port() {
    let t = with_ap("{rules: [{to: [{operation: {hosts: [app.example.com]}}]}]}");
    assert_eq!(through(&t, req("GET", "/")).status, 200);
    assert_eq!(
        through(&t, req("GET", "/").host("app.example.com:80")).status,
        403
    );
    let t = with_ap("{rules: [{to: [{operation: {hosts: [app.example.com, \"app.example.com:*\"]}}]}]}");
    assert_eq!(
        through(&t, req("GET", "/").host("app.example.com:80")).status,
        200
    );
}

#[test]
fn c107_to_entries_are_ored() {
    let star = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: star, namespace: default}\nspec:\n  hosts: [\"*\"]\n  gateways: [istio-system/gw]\n  http: [{route: [{destination: {host: a.default.svc.cluster.local}}]}]\n";
    let t = table(&format!(
        "{star}\n---\n{}",
        ap(
            "deny",
            "{action: DENY, rules: [{to: [{operation: {hosts: [internal.example.com]}}, {operation: {paths: [/private]}}]}]}"
        )
    ));
    assert_eq!(
        through(&t, req("GET", "/").host("internal.example.com")).status,
        403
    );
    assert_eq!(
        through(&t, req("GET", "/private").host("www.example.com")).status,
        403
    );
    assert_eq!(through(&t, req("GET", "/").host("www.example.com")).status, 200);
}

#[test]
fn c108_remote_ip_blocks_with_trusted_proxies() {
    let t = with_ap(
        "{action: DENY, rules: [{from: [{source: {remoteIpBlocks: [172.17.72.46, 192.168.4.0/23]}}]}]}",
    );
    let xff = |ip: &str| req("GET", "/").header("x-forwarded-for", ip);
    assert_eq!(through_with(&t, xff("192.168.5.233"), 1).status, 403);
    assert_eq!(through_with(&t, xff("10.4.5.6"), 1).status, 200);
    let t = with_ap("{action: DENY, rules: [{from: [{source: {notRemoteIpBlocks: [172.23.240.0/22]}}]}]}");
    assert_eq!(through_with(&t, xff("10.2.3.4"), 1).status, 403);
    assert_eq!(through_with(&t, xff("172.23.242.188"), 1).status, 200);
    // Without trusted proxies the client cannot choose its address.
    assert_eq!(through_with(&t, xff("172.23.242.188"), 0).status, 403);
}

#[test]
fn c109_request_principals_and_methods() {
    let t = with_ra(
        "",
        &ap(
            "allow",
            "{rules: [{from: [{source: {requestPrincipals: [issuer-1/sub-1]}}], to: [{operation: {methods: [GET]}}]}]}",
        ),
    );
    let sub1 = bearer(&token("issuer-1", "sub-1", json!({})));
    assert_eq!(through(&t, req("GET", "/")).status, 403);
    assert_eq!(
        through(&t, req("GET", "/").header("authorization", &sub1)).status,
        200
    );
    let sub2 = bearer(&token("issuer-1", "sub-2", json!({})));
    assert_eq!(
        through(&t, req("GET", "/").header("authorization", &sub2)).status,
        403
    );
    let old = bearer(&expired("issuer-1", "sub-1"));
    assert_eq!(
        through(&t, req("GET", "/").header("authorization", &old)).status,
        401
    );
    assert_eq!(
        through(&t, req("POST", "/").header("authorization", &sub1)).status,
        403
    );
}

#[test]
fn c110_any_request_principal() {
    let t = with_ra(
        "",
        &ap(
            "allow",
            "{rules: [{from: [{source: {requestPrincipals: [\"*\"]}}]}]}",
        ),
    );
    let valid = bearer(&token("issuer-1", "s", json!({})));
    assert_eq!(
        through(&t, req("GET", "/").header("authorization", &valid)).status,
        200
    );
    assert_eq!(through(&t, req("GET", "/")).status, 403);
    let no_sub = bearer(&issuer().sign("k1", &json!({"iss": "issuer-1", "exp": NOW + 60})));
    assert_eq!(
        through(&t, req("GET", "/").header("authorization", &no_sub)).status,
        403
    );
    let t = with_ra(
        "",
        &ap(
            "deny",
            "{action: DENY, rules: [{from: [{source: {notRequestPrincipals: [\"*\"]}}]}]}",
        ),
    );
    assert_eq!(through(&t, req("GET", "/")).status, 403);
    assert_eq!(
        through(&t, req("GET", "/").header("authorization", &valid)).status,
        200
    );
}

#[test]
fn c111_principal_splits_at_the_last_slash() {
    let t = table(&format!(
        "{}\n---\n{}\n---\n{}",
        route_a(),
        ra("ra", "istio-system", "https://accounts.example.com", ""),
        ap(
            "allow",
            "{rules: [{from: [{source: {requestPrincipals: [\"https://accounts.example.com/1234\"]}}]}]}"
        )
    ));
    let ok = bearer(&token("https://accounts.example.com", "1234", json!({})));
    assert_eq!(
        through(&t, req("GET", "/").header("authorization", &ok)).status,
        200
    );
    let other = bearer(&token("https://accounts.example.com", "12345", json!({})));
    assert_eq!(
        through(&t, req("GET", "/").header("authorization", &other)).status,
        403
    );
}

#[test]
fn c112_claim_conditions() {
    let t = with_ra(
        "",
        &ap(
            "allow",
            "{rules: [{when: [{key: \"request.auth.claims[groups]\", values: [group-2]}]}]}",
        ),
    );
    for (groups, status) in [
        (json!(["group-1", "group-2"]), 200),
        (json!("group-2"), 200),
        (json!(["group-1"]), 403),
    ] {
        let tok = bearer(&token("issuer-1", "s", json!({"groups": groups})));
        assert_eq!(
            through(&t, req("GET", "/").header("authorization", &tok)).status,
            status,
            "{groups}"
        );
    }
    let t = with_ra(
        "",
        &ap(
            "allow",
            "{rules: [{when: [{key: \"request.auth.claims[scope]\", values: [write]}]}]}",
        ),
    );
    let tok = bearer(&token("issuer-1", "s", json!({"scope": "read write"})));
    assert_eq!(
        through(&t, req("GET", "/").header("authorization", &tok)).status,
        200
    );
    let t = with_ra(
        "",
        &ap(
            "allow",
            "{rules: [{when: [{key: \"request.auth.claims[nested][role]\", values: [admin]}]}]}",
        ),
    );
    let tok = bearer(&token("issuer-1", "s", json!({"nested": {"role": "admin"}})));
    assert_eq!(
        through(&t, req("GET", "/").header("authorization", &tok)).status,
        200
    );
}

#[test]
fn c113_header_conditions() {
    let t = with_ap("{rules: [{when: [{key: \"request.headers[X-Token]\", values: [\"abc*\"]}]}]}");
    assert_eq!(
        through(&t, req("GET", "/").header("x-token", "abcdef")).status,
        200
    );
    assert_eq!(through(&t, req("GET", "/").header("x-token", "zabc")).status, 403);
    assert_eq!(through(&t, req("GET", "/")).status, 403);
}

#[test]
fn c114_principals_need_client_certificates() {
    let t = with_ap("{rules: [{from: [{source: {principals: [cluster.local/ns/default/sa/client]}}]}]}");
    assert_eq!(through(&t, req("GET", "/")).status, 403);
}

#[test]
fn c115_custom_without_provider_denies_what_it_matches() {
    let t = with_ap(
        "{action: CUSTOM, provider: {name: not-configured}, rules: [{to: [{operation: {paths: [\"/admin*\"]}}]}]}",
    );
    let s = through(&t, req("GET", "/admin"));
    assert_eq!((s.status, s.body.as_str()), (403, "RBAC: access denied"));
    assert_eq!(through(&t, req("GET", "/other")).status, 200);
}

#[test]
fn c116_dry_run_is_not_enforced() {
    let policy = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: p, namespace: istio-system, annotations: {istio.io/dry-run: \"true\"}}\nspec: {action: DENY, rules: [{}]}\n";
    let t = table(&format!("{}\n---\n{policy}", route_a()));
    assert_eq!(through(&t, req("GET", "/")).status, 200);
}

#[test]
fn c117_cors_preflight_does_not_bypass_rbac() {
    let t = with_ra(
        "",
        &ap(
            "allow",
            "{rules: [{from: [{source: {requestPrincipals: [\"*\"]}}]}]}",
        ),
    );
    let preflight = req("OPTIONS", "/")
        .header("origin", "https://x.example.com")
        .header("access-control-request-method", "POST");
    assert_eq!(through(&t, preflight).status, 403);
}

#[test]
fn c118_policies_apply_by_namespace_and_selector() {
    let t = with_ap("{selector: {matchLabels: {app: other}}}");
    assert_eq!(through(&t, req("GET", "/")).status, 200);
    let elsewhere = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: p, namespace: default}\nspec: {}\n";
    let t = table(&format!("{}\n---\n{elsewhere}", route_a()));
    assert_eq!(through(&t, req("GET", "/")).status, 200);
    let t = with_ap("{selector: {matchLabels: {istio: ingressgateway}}}");
    assert_eq!(through(&t, req("GET", "/")).status, 403);
}

#[test]
fn c119_ports_are_the_server_port() {
    let t = with_ap("{action: DENY, rules: [{to: [{operation: {ports: [\"8080\"]}}]}]}");
    assert_eq!(through(&t, req("GET", "/")).status, 200);
    let t = with_ap("{action: DENY, rules: [{to: [{operation: {ports: [\"80\"]}}]}]}");
    assert_eq!(through(&t, req("GET", "/")).status, 403);
}

#[test]
fn c120_jwt_runs_before_rbac() {
    let t = with_ra("", &ap("deny", "{action: DENY, rules: [{}]}"));
    let bad = bearer(&expired("issuer-1", "s"));
    assert_eq!(
        through(&t, req("GET", "/").header("authorization", &bad)).status,
        401
    );
    assert_eq!(through(&t, req("GET", "/")).status, 403);
}

// The attack suite: every forged or misplaced token is refused with Istio's answer.

fn forge(header: Value, payload: Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(payload.to_string()),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

#[test]
fn attacks_on_tokens_are_refused() {
    let t = with_ra("    audiences: [svc]\n", "");
    let claims = json!({"iss": "issuer-1", "sub": "s", "aud": "svc", "exp": NOW + 60});
    let good = issuer().sign("k1", &claims);
    let mut segments: Vec<String> = good.split('.').map(str::to_string).collect();
    segments[1] =
        URL_SAFE_NO_PAD.encode(json!({"iss": "issuer-1", "sub": "admin", "aud": "svc"}).to_string());
    let tampered = segments.join(".");
    // HS256 "signed" with the public key material an attacker can read from the JWKS.
    let hs = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(issuer().jwks.as_bytes()),
    )
    .expect("hs256");
    let cases: Vec<(&str, String, u16, &str)> = vec![
        (
            "alg none",
            forge(json!({"alg": "none"}), claims.clone(), b""),
            401,
            status::ALG_UNSUPPORTED,
        ),
        ("HS256 with the public key", hs, 401, status::NO_KEY),
        (
            "expired",
            issuer().sign("k1", &json!({"iss": "issuer-1", "aud": "svc", "exp": NOW - 61})),
            401,
            status::EXPIRED,
        ),
        (
            "not yet valid",
            issuer().sign("k1", &json!({"iss": "issuer-1", "aud": "svc", "nbf": NOW + 61})),
            401,
            status::NOT_YET_VALID,
        ),
        (
            "wrong issuer",
            issuer().sign("k1", &json!({"iss": "evil", "aud": "svc"})),
            401,
            status::UNKNOWN_ISSUER,
        ),
        (
            "wrong audience",
            issuer().sign("k1", &json!({"iss": "issuer-1", "aud": "other"})),
            403,
            status::AUDIENCE_NOT_ALLOWED,
        ),
        ("unknown kid", issuer().sign("k2", &claims), 401, status::NO_KEY),
        ("tampered payload", tampered, 401, status::VERIFICATION_FAILS),
        (
            "malformed segments",
            "a.b".to_string(),
            401,
            status::NOT_THREE_SEGMENTS,
        ),
        (
            "bad base64 header",
            "A.e30.e30".to_string(),
            401,
            status::HEADER_BAD_BASE64,
        ),
        (
            "header not JSON",
            format!("{}.e30.sig", URL_SAFE_NO_PAD.encode("nope")),
            401,
            status::HEADER_BAD_JSON,
        ),
        (
            "oversized",
            format!("{good}{}", "A".repeat(64 * 1024)),
            401,
            status::VERIFICATION_FAILS,
        ),
    ];
    for (name, tok, code, body) in cases {
        let s = through(&t, req("GET", "/").header("authorization", &bearer(&tok)));
        assert_eq!((s.status, s.body.as_str()), (code, body), "{name}");
    }
    // Just inside the clock skew: accepted.
    let edge = issuer().sign("k1", &json!({"iss": "issuer-1", "aud": "svc", "exp": NOW - 59}));
    assert_eq!(
        through(&t, req("GET", "/").header("authorization", &bearer(&edge))).status,
        200
    );
}

#[test]
fn a_token_where_the_rule_does_not_read_is_no_identity() {
    let t = with_ra(
        "    fromHeaders: [{name: x-jwt}]\n",
        &ap(
            "allow",
            "{rules: [{from: [{source: {requestPrincipals: [\"*\"]}}]}]}",
        ),
    );
    let tok = token("issuer-1", "s", json!({}));
    assert_eq!(
        through(&t, req("GET", "/").header("authorization", &bearer(&tok))).status,
        403
    );
    assert_eq!(
        through(&t, req("GET", &format!("/?access_token={tok}"))).status,
        403
    );
    assert_eq!(through(&t, req("GET", "/").header("x-jwt", &tok)).status, 200);
}

#[test]
fn path_bypass_attempts_are_normalized_as_istio_does() {
    // DENY /admin* : every spelling that normalizes into /admin is denied; what Istio's
    // default normalization leaves alone (//admin, %2F, case) is not, exactly as in Istio.
    let t = with_ap("{action: DENY, rules: [{to: [{operation: {paths: [\"/admin*\"]}}]}]}");
    for (path, status) in [
        ("/admin", 403),
        ("/./admin", 403),
        ("/x/../admin", 403),
        ("/%2e%2e/admin", 403),
        ("/%61dmin", 403),
        ("/admin?x=1", 403),
        ("/admin#frag", 403),
        ("/public%5C..%5Cadmin", 200),
        ("/ADMIN", 200),
        ("//admin", 200),
        ("/%2Fadmin", 200),
    ] {
        assert_eq!(through(&t, req("GET", path)).status, status, "{path}");
    }
}

#[test]
fn host_bypass_attempts() {
    let star = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: star, namespace: default}\nspec:\n  hosts: [\"*\"]\n  gateways: [istio-system/gw]\n  http: [{route: [{destination: {host: a.default.svc.cluster.local}}]}]\n";
    let t = table(&format!(
        "{star}\n---\n{}",
        ap(
            "deny",
            "{action: DENY, rules: [{to: [{operation: {hosts: [admin.example.com, \"admin.example.com:*\"]}}]}]}"
        )
    ));
    assert_eq!(through(&t, req("GET", "/").host("admin.example.com")).status, 403);
    assert_eq!(
        through(&t, req("GET", "/").host("ADMIN.example.com:8080")).status,
        403
    );
    // A trailing dot is another name to Envoy's RBAC, as in Istio.
    assert_eq!(
        through(&t, req("GET", "/").host("admin.example.com.")).status,
        200
    );
}

#[test]
fn invalid_policies_are_refused_with_their_field() {
    let cases = [
        (ap("p", "{action: DENY}"), "spec.rules", "needs rules"),
        (ap("p", "{rules: [{from: [{source: {ipBlocks: [not-an-ip]}}]}]}"), "spec.rules[0].from[0].source.ipBlocks[0]", "not an IP"),
        (ap("p", "{rules: [{to: [{operation: {ports: [\"http\"]}}]}]}"), "spec.rules[0].to[0].operation.ports[0]", "not a port"),
        (ap("p", "{rules: [{to: [{operation: {paths: [\"/a/{**}/b/{**}\"]}}]}]}"), "spec.rules[0].to[0].operation.paths[0]", "last operator"),
        (ap("p", "{rules: [{when: [{key: request.bogus, values: [x]}]}]}"), "spec.rules[0].when[0]", "unknown key"),
        (ap("p", "{rules: [{when: [{key: source.ip}]}]}"), "spec.rules[0].when[0]", "values or notValues"),
        (ap("p", "{action: ALLOW, provider: {name: x}, rules: [{}]}"), "spec.provider", "only for action CUSTOM"),
        (
            "apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {name: r, namespace: istio-system}\nspec:\n  jwtRules: [{issuer: i, jwks: 'not json'}]\n".to_string(),
            "spec.jwtRules[0].jwks",
            "not a JWKS",
        ),
        (
            "apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {name: r, namespace: istio-system}\nspec:\n  jwtRules: [{issuer: i, jwksUri: ftp://x}]\n".to_string(),
            "spec.jwtRules[0].jwksUri",
            "not an http",
        ),
    ];
    for (yaml, path, message) in cases {
        let d = support::diagnostics(&yaml);
        assert!(
            d.iter()
                .any(|d| d.is_error() && d.path.to_string() == path && d.message.contains(message)),
            "{path}: {message}\n{d:#?}"
        );
    }
}

#[test]
fn best_practice_warnings() {
    let warned = |yaml: &str, path: &str, text: &str| {
        let d = support::diagnostics(yaml);
        assert!(
            d.iter()
                .any(|d| !d.is_error() && d.path.to_string() == path && d.message.contains(text)),
            "{path}: {text}\n{d:#?}"
        );
    };
    warned(
        &ra("ra", "istio-system", "issuer-1", ""),
        "spec.jwtRules",
        "tokens are optional",
    );
    warned(
        &ap(
            "p",
            "{rules: [{from: [{source: {principals: [cluster.local/ns/default/sa/client]}}]}]}",
        ),
        "spec.rules",
        "no server of this gateway asks for one",
    );
    warned(
        &ap(
            "p",
            "{action: DENY, rules: [{to: [{operation: {paths: [/admin]}}]}]}",
        ),
        "spec.rules[0].to[0].operation.paths[0]",
        "does not match /admin/",
    );
    warned(
        &ap("p", "{rules: [{to: [{operation: {hosts: [app.example.com]}}]}]}"),
        "spec.rules[0].to[0].operation.hosts[0]",
        "app.example.com:*",
    );
    // A policy requiring a principal silences the first.
    let both = format!(
        "{}\n---\n{}",
        ra("ra", "istio-system", "issuer-1", ""),
        ap("p", "{rules: [{from: [{source: {requestPrincipals: [\"*\"]}}]}]}")
    );
    assert!(
        !support::diagnostics(&both)
            .iter()
            .any(|d| d.message.contains("tokens are optional"))
    );
}

#[test]
fn a_remembered_token_still_expires_and_needs_the_same_keys() {
    let t = with_ra("", "");
    let tok = bearer(&token("issuer-1", "s", json!({})));
    let check =
        |table: &RouteTable,
         now: u64,
         fetched: &dyn Fn(&str) -> Option<std::sync::Arc<sluice_mesh::security::jwt_keys::JwkSet>>| {
            let (mut parts, port, scheme) = req("GET", "/").header("authorization", &tok).into_parts();
            let connection = client(port, scheme, 0);
            table
                .security()
                .check(&mut parts, &connection, now, fetched)
                .map(|_| ())
                .map_err(|r| String::from_utf8_lossy(&r.body).into_owned())
        };
    assert_eq!(check(&t, NOW, &|_| None), Ok(()));
    assert_eq!(check(&t, NOW, &|_| None), Ok(()), "remembered");
    assert_eq!(check(&t, NOW + 7200, &|_| None), Err(status::EXPIRED.to_string()));
    // jwksUri keys: a refreshed key set that no longer has the key refuses the token.
    let ra = "apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {name: ra, namespace: istio-system}\nspec:\n  jwtRules:\n  - issuer: issuer-1\n    jwksUri: https://keys.example.com/jwks\n";
    let t = table(&format!("{}\n---\n{ra}", route_a()));
    let first = std::sync::Arc::new(sluice_mesh::security::jwt::parse_jwks(&issuer().jwks).expect("jwks"));
    let rotated =
        std::sync::Arc::new(sluice_mesh::security::jwt::parse_jwks(&other_issuer().jwks).expect("jwks"));
    assert_eq!(check(&t, NOW, &|_| Some(first.clone())), Ok(()));
    assert_eq!(
        check(&t, NOW, &|_| Some(rotated.clone())),
        Err(status::VERIFICATION_FAILS.to_string())
    );
}

#[test]
fn request_principals_compare_issuer_and_subject_separately() {
    // Two issuers, one a path below the other: "https://idp.example.com/*" means issuer
    // https://idp.example.com, any subject — not any principal string with that prefix.
    let rules = format!(
        "{}\n---\n{}\n---\n{}\n---\n{}",
        route_a(),
        ra("ra1", "istio-system", "https://idp.example.com", ""),
        ra("ra2", "istio-system", "https://idp.example.com/tenant-b", ""),
        ap(
            "allow",
            "{rules: [{from: [{source: {requestPrincipals: [\"https://idp.example.com/*\", \"*/sub1\"]}}]}]}"
        )
    );
    let t = table(&rules);
    let call = |iss: &str, sub: &str| {
        through(
            &t,
            req("GET", "/").header("authorization", &bearer(&token(iss, sub, json!({})))),
        )
        .status
    };
    assert_eq!(call("https://idp.example.com", "x"), 200);
    assert_eq!(call("https://idp.example.com/tenant-b", "x"), 403);
    assert_eq!(call("https://idp.example.com/tenant-b", "sub1"), 200, "*/sub1");
    assert_eq!(call("https://idp.example.com/tenant-b", "evil/sub1"), 403);
}

#[test]
fn more_configuration_istio_rejects() {
    let d = support::diagnostics(&ap(
        "p",
        "{rules: [{to: [{operation: {paths: [\"/a/{**}/{*}\"]}}]}]}",
    ));
    assert!(
        d.iter()
            .any(|d| d.is_error() && d.message.contains("last operator")),
        "{d:#?}"
    );
    let http_with_tls = "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: g2, namespace: istio-system}\nspec:\n  selector: {istio: ingressgateway}\n  servers:\n  - port: {number: 8443, name: h, protocol: HTTP}\n    hosts: [\"*\"]\n    tls: {mode: SIMPLE, credentialName: cred}\n";
    let d = support::diagnostics(http_with_tls);
    assert!(
        d.iter().any(|d| d.is_error()
            && d.path.to_string() == "spec.servers[0].tls"
            && d.message.contains("use protocol HTTPS")),
        "{d:#?}"
    );
    // A broken policy of another namespace is found by check_all (sluice up's sidecars).
    let elsewhere = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: p, namespace: seldon}\nspec: {rules: [{from: [{source: {ipBlocks: [10.0.0.0/33]}}]}]}\n";
    let config = support::config(elsewhere);
    let found = sluice_mesh::security::Security::check_all(
        &config.request_authentications,
        &config.authorization_policies,
    );
    assert!(
        found.iter().any(|d| d.message.contains("prefix length")),
        "{found:#?}"
    );
}
