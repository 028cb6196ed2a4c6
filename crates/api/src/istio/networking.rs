//! `networking.istio.io` specs: `Gateway`, `VirtualService`, `DestinationRule`
//! and `ServiceEntry`, field for field as in the `v1` CRD schemas.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

// ---------------------------------------------------------------------------
// Shared messages
// ---------------------------------------------------------------------------

/// Istio `StringMatch`: one of `exact`, `prefix` or `regex` (RE2); the caller checks that exactly one is set.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StringMatch {
    /// Exact string match.
    pub exact: Option<String>,
    /// Prefix-based match.
    pub prefix: Option<String>,
    /// RE2-style regex-based match.
    pub regex: Option<String>,
}

/// Istio `Percent`: a percentage in the range 0.0 to 100.0.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Percent {
    /// The percentage value (an absent value means 0, as in Istio's proto).
    #[serde(default)]
    pub value: f64,
}

/// Istio `PortSelector`: the port of a destination service.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortSelector {
    /// Valid port number.
    pub number: Option<u32>,
}

/// Istio `type.v1beta1.WorkloadSelector`: pods/VMs selected by labels (`matchLabels`).
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadSelector {
    /// Labels that indicate the set of pods/VMs the configuration applies to.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
}

// ---------------------------------------------------------------------------
// Gateway
// ---------------------------------------------------------------------------

/// Istio `Gateway` spec: a load balancer at the edge of the mesh.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewaySpec {
    /// The servers (listeners) exposed by this gateway.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub servers: Vec<Server>,
    /// Labels selecting the gateway pods/VMs this configuration applies to.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub selector: BTreeMap<String, String>,
}

/// Istio `Server`: one port exposed by a gateway, with its hosts and TLS settings.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Server {
    /// The port on which the proxy listens (required).
    pub port: Port,
    /// The IP or Unix domain socket the listener binds to.
    pub bind: Option<String>,
    /// Hosts exposed by this server (required by Istio).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// TLS settings for this server.
    pub tls: Option<ServerTlsSettings>,
    /// Optional server name, unique across the gateway's servers.
    pub name: Option<String>,
    /// Loopback address or socket to forward traffic to by default (hidden, not implemented by Istio).
    pub default_endpoint: Option<String>,
}

/// Istio `Port` of a gateway server: number, protocol and name are all required.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Port {
    /// Port number.
    pub number: u32,
    /// Protocol exposed on the port (HTTP, HTTPS, GRPC, HTTP2, MONGO, TCP, TLS).
    pub protocol: String,
    /// Label assigned to the port.
    pub name: String,
    /// Deprecated by Istio: endpoint port, only meaningful for ServiceEntries.
    pub target_port: Option<u32>,
}

/// Istio `ServerTLSSettings`: TLS options of a gateway server.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerTlsSettings {
    /// Send a 301 redirect for all HTTP connections, asking clients to use HTTPS.
    pub https_redirect: Option<bool>,
    /// Whether connections to this port are secured with TLS.
    pub mode: Option<ServerTlsMode>,
    /// Path to the server certificate file.
    pub server_certificate: Option<String>,
    /// Path to the server private key file.
    pub private_key: Option<String>,
    /// Path to the CA certificates used to verify client certificates.
    pub ca_certificates: Option<String>,
    /// Path to the certificate revocation list (CRL).
    pub ca_crl: Option<String>,
    /// Name of the secret holding the server TLS certificates.
    pub credential_name: Option<String>,
    /// Like `credentialName`, for several certificates (e.g. RSA and ECDSA).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub credential_names: Vec<String>,
    /// Inline certificate/key file paths, for several certificates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tls_certificates: Vec<TlsCertificate>,
    /// Alternate names accepted in client certificates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subject_alt_names: Vec<String>,
    /// Base64-encoded SHA-256 hashes of authorized client certificate SPKIs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verify_certificate_spki: Vec<String>,
    /// Hex-encoded SHA-256 hashes of authorized client certificates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verify_certificate_hash: Vec<String>,
    /// Minimum TLS protocol version.
    pub min_protocol_version: Option<TlsProtocol>,
    /// Maximum TLS protocol version.
    pub max_protocol_version: Option<TlsProtocol>,
    /// Allowed cipher suites.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cipher_suites: Vec<String>,
    /// Allowed ECDH curves.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ecdh_curves: Vec<String>,
    /// Name of the secret or configmap holding the CA certificates for mutual TLS.
    pub ca_cert_credential_name: Option<String>,
    /// Validate client certificates but accept them even if invalid.
    pub insecure_skip_verify: Option<bool>,
}

/// Istio `ServerTLSSettings.TLSCertificate`: one certificate/key pair given by file paths.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsCertificate {
    /// Path to the server certificate file.
    pub server_certificate: Option<String>,
    /// Path to the private key file.
    pub private_key: Option<String>,
    /// Path to the CA certificates file (hidden in Istio's docs).
    pub ca_certificates: Option<String>,
}

/// Istio `ServerTLSSettings.TLSmode`: how a gateway server terminates TLS.
#[serde_with::skip_serializing_none]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ServerTlsMode {
    /// Forward the connection as is, routing on SNI.
    Passthrough,
    /// Standard TLS termination.
    Simple,
    /// Mutual TLS with client certificates.
    Mutual,
    /// SNI routing without a matching VirtualService (mTLS assumed).
    AutoPassthrough,
    /// Mutual TLS with Istio-generated certificates.
    IstioMutual,
    /// Client certificate requested but not required.
    OptionalMutual,
}

/// Istio `ServerTLSSettings.TLSProtocol`: a TLS protocol version bound.
#[serde_with::skip_serializing_none]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TlsProtocol {
    /// Automatically choose the optimal version.
    #[default]
    #[serde(rename = "TLS_AUTO")]
    TlsAuto,
    /// TLS 1.0.
    #[serde(rename = "TLSV1_0")]
    TlsV1_0,
    /// TLS 1.1.
    #[serde(rename = "TLSV1_1")]
    TlsV1_1,
    /// TLS 1.2.
    #[serde(rename = "TLSV1_2")]
    TlsV1_2,
    /// TLS 1.3.
    #[serde(rename = "TLSV1_3")]
    TlsV1_3,
}

// ---------------------------------------------------------------------------
// VirtualService
// ---------------------------------------------------------------------------

/// Istio `VirtualService` spec: routing rules for traffic addressed to a set of hosts.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualServiceSpec {
    /// Destination hosts to which the routing rules apply.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// Gateways and sidecars (`mesh`) that apply these routes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gateways: Vec<String>,
    /// Ordered HTTP route rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http: Vec<HttpRoute>,
    /// Ordered route rules for non-terminated TLS and HTTPS traffic.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tls: Vec<TlsRoute>,
    /// Ordered route rules for opaque TCP traffic.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tcp: Vec<TcpRoute>,
    /// Namespaces to which this virtual service is exported.
    #[serde(default, rename = "exportTo", skip_serializing_if = "Vec::is_empty")]
    pub export_to: Vec<String>,
}

/// Istio `HTTPRoute`: match conditions and actions for HTTP/1.1, HTTP2 and gRPC traffic.
///
/// The parts a route rarely sets are boxed: a gateway keeps every route it loaded (two per
/// SeldonDeployment), and unboxed they made a route 1,056 bytes, where it is now 392.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRoute {
    /// Route name, used for debugging and concatenated with match names.
    pub name: Option<String>,
    /// Match conditions (OR-ed) that activate the rule.
    #[serde(default, rename = "match", skip_serializing_if = "Vec::is_empty")]
    pub matches: Vec<HttpMatchRequest>,
    /// Weighted destinations to forward the traffic to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub route: Vec<HttpRouteDestination>,
    /// Redirect sent instead of forwarding.
    pub redirect: Option<Box<HttpRedirect>>,
    /// Fixed response returned instead of forwarding.
    pub direct_response: Option<Box<HttpDirectResponse>>,
    /// Delegate VirtualService defining the routes.
    pub delegate: Option<Box<Delegate>>,
    /// URI and authority rewrite applied before forwarding.
    pub rewrite: Option<HttpRewrite>,
    /// Request timeout (duration such as `"1s"`).
    pub timeout: Option<String>,
    /// Retry policy.
    pub retries: Option<HttpRetry>,
    /// Client-side fault injection.
    pub fault: Option<Box<HttpFaultInjection>>,
    /// Single destination to which traffic is mirrored.
    pub mirror: Option<Box<Destination>>,
    /// Destinations to which traffic is mirrored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mirrors: Vec<HttpMirrorPolicy>,
    /// Percentage of traffic mirrored to `mirror` (absent means 100%).
    pub mirror_percentage: Option<Percent>,
    /// Deprecated by Istio: integer mirror percentage (use `mirrorPercentage`).
    #[serde(rename = "mirrorPercent")]
    pub mirror_percent: Option<u32>,
    /// Deprecated by Istio: `mirror_percent`, the schema's snake_case alias of `mirrorPercent`.
    #[serde(rename = "mirror_percent")]
    pub mirror_percent_alt: Option<u32>,
    /// Cross-Origin Resource Sharing policy.
    pub cors_policy: Option<Box<CorsPolicy>>,
    /// Header manipulation rules.
    pub headers: Option<Box<Headers>>,
}

/// Istio `HTTPMatchRequest`: conditions (AND-ed) on an HTTP request. The conditions a match
/// rarely sets (scheme, method, authority) are boxed, as in [`HttpRoute`].
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpMatchRequest {
    /// Name of the match, appended to the route name.
    pub name: Option<String>,
    /// URI (path) match.
    pub uri: Option<StringMatch>,
    /// URI scheme match.
    pub scheme: Option<Box<StringMatch>>,
    /// HTTP method match.
    pub method: Option<Box<StringMatch>>,
    /// HTTP authority (host) match.
    pub authority: Option<Box<StringMatch>>,
    /// Header matches, keyed by lowercase header name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, StringMatch>,
    /// Port on the host being addressed.
    pub port: Option<u32>,
    /// Labels constraining the source (client) workloads.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub source_labels: BTreeMap<String, String>,
    /// Gateways where the rule applies (overrides the VirtualService's `gateways`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gateways: Vec<String>,
    /// Query parameter matches.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub query_params: BTreeMap<String, StringMatch>,
    /// Whether URI matching is case-insensitive.
    pub ignore_uri_case: Option<bool>,
    /// Headers that must not match.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub without_headers: BTreeMap<String, StringMatch>,
    /// Source namespace constraining the client workloads.
    pub source_namespace: Option<String>,
    /// Prefix used when emitting statistics for this route.
    pub stat_prefix: Option<String>,
}

/// Istio `HTTPRouteDestination`: a weighted destination with header operations.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRouteDestination {
    /// The destination service (required).
    pub destination: Destination,
    /// Relative weight of this destination.
    pub weight: Option<i32>,
    /// Header manipulation rules for this destination.
    pub headers: Option<Headers>,
}

/// Istio `Destination`: a service (and optional subset and port) in the registry.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Destination {
    /// Service host name (required).
    pub host: String,
    /// Subset name defined in a DestinationRule.
    pub subset: Option<String>,
    /// Port on the host.
    pub port: Option<PortSelector>,
}

/// Istio `Headers`: request and response header manipulation.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Headers {
    /// Operations on request headers.
    pub request: Option<HeaderOperations>,
    /// Operations on response headers.
    pub response: Option<HeaderOperations>,
}

/// Istio `Headers.HeaderOperations`: set, append and remove headers.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeaderOperations {
    /// Headers overwritten with the given values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub set: BTreeMap<String, String>,
    /// Headers appended with the given values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub add: BTreeMap<String, String>,
    /// Headers removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove: Vec<String>,
}

/// Istio `HTTPRewrite`: rewrite of the path and authority before forwarding.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRewrite {
    /// Replacement for the path (or the matched prefix).
    pub uri: Option<String>,
    /// Replacement for the Authority/Host header.
    pub authority: Option<String>,
    /// Regex-based rewrite of the path.
    #[serde(rename = "uriRegexRewrite")]
    pub uri_regex_rewrite: Option<RegexRewrite>,
}

/// Istio `RegexRewrite`: replace the parts of the path matching a regex.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegexRewrite {
    /// RE2 regex matched against the path (`match` in YAML).
    #[serde(rename = "match")]
    pub match_regex: Option<String>,
    /// Replacement for the matching parts (may use capture groups).
    pub rewrite: Option<String>,
}

/// Istio `HTTPRedirect`: a 301 (or other) redirect response.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRedirect {
    /// Replacement for the path.
    pub uri: Option<String>,
    /// Replacement for the Authority/Host.
    pub authority: Option<String>,
    /// Replacement for the port.
    pub port: Option<u32>,
    /// Dynamic choice of the port.
    pub derive_port: Option<RedirectPortSelection>,
    /// Replacement for the scheme.
    pub scheme: Option<String>,
    /// HTTP status code of the redirect (default 301).
    pub redirect_code: Option<u32>,
    /// Replacement for the matched prefix.
    pub prefix_rewrite: Option<String>,
}

/// Istio `HTTPRedirect.RedirectPortSelection`: how a redirect derives its port.
#[serde_with::skip_serializing_none]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RedirectPortSelection {
    /// 80 for HTTP, 443 for HTTPS.
    #[default]
    FromProtocolDefault,
    /// The port of the request.
    FromRequestPort,
}

/// Istio `HTTPDirectResponse`: a fixed response returned by the proxy.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpDirectResponse {
    /// HTTP status of the response (required; a uint32 in the schema).
    pub status: u32,
    /// Response body.
    pub body: Option<HttpBody>,
}

/// Istio `HTTPBody`: a direct response body, as text or base64 bytes.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpBody {
    /// Body as a string.
    pub string: Option<String>,
    /// Body as base64-encoded bytes.
    pub bytes: Option<String>,
}

/// Istio `Delegate`: the VirtualService that defines the routes of a delegating route.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delegate {
    /// Name of the delegate VirtualService.
    pub name: Option<String>,
    /// Namespace of the delegate VirtualService.
    pub namespace: Option<String>,
}

/// Istio `HTTPRetry`: retry policy of an HTTP route.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRetry {
    /// Number of retries.
    pub attempts: Option<i32>,
    /// Timeout per attempt (duration).
    pub per_try_timeout: Option<String>,
    /// Comma-separated retry conditions (Envoy `x-envoy-retry-on` / gRPC codes).
    pub retry_on: Option<String>,
    /// Whether retries may go to other localities.
    pub retry_remote_localities: Option<bool>,
    /// Whether retries skip previously tried hosts.
    pub retry_ignore_previous_hosts: Option<bool>,
    /// Minimum duration between retry attempts.
    pub backoff: Option<String>,
}

/// Istio `HTTPFaultInjection`: delays and aborts injected on the client side.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpFaultInjection {
    /// Delay injected before forwarding.
    pub delay: Option<HttpFaultInjectionDelay>,
    /// Abort returned instead of forwarding.
    pub abort: Option<HttpFaultInjectionAbort>,
}

/// Istio `HTTPFaultInjection.Delay`: a delay injected into a percentage of requests.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpFaultInjectionDelay {
    /// Fixed delay (duration, at least 1ms).
    pub fixed_delay: Option<String>,
    /// Exponential delay (duration; hidden in Istio's docs).
    pub exponential_delay: Option<String>,
    /// Percentage of requests delayed.
    pub percentage: Option<Percent>,
    /// Deprecated by Istio: integer percentage of requests delayed (use `percentage`).
    pub percent: Option<i32>,
}

/// Istio `HTTPFaultInjection.Abort`: an error returned for a percentage of requests.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpFaultInjectionAbort {
    /// HTTP status code returned.
    pub http_status: Option<i32>,
    /// gRPC status code name returned (e.g. `UNAVAILABLE`).
    pub grpc_status: Option<String>,
    /// HTTP/2 error returned (hidden in Istio's docs).
    #[serde(rename = "http2Error")]
    pub http2_error: Option<String>,
    /// Percentage of requests aborted.
    pub percentage: Option<Percent>,
}

/// Istio `HTTPMirrorPolicy`: a mirror destination and the share of traffic it gets.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpMirrorPolicy {
    /// Destination of the mirrored traffic (required).
    pub destination: Destination,
    /// Percentage of traffic mirrored (absent means 100%).
    pub percentage: Option<Percent>,
}

/// Istio `CorsPolicy`: Cross-Origin Resource Sharing settings of a route.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CorsPolicy {
    /// Deprecated by Istio: exact allowed origins (use `allowOrigins`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_origin: Vec<String>,
    /// Patterns of allowed origins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_origins: Vec<StringMatch>,
    /// Allowed HTTP methods.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_methods: Vec<String>,
    /// Allowed request headers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_headers: Vec<String>,
    /// Headers the browser may access.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expose_headers: Vec<String>,
    /// How long preflight results may be cached (duration).
    pub max_age: Option<String>,
    /// Whether credentials may be sent with the actual request.
    pub allow_credentials: Option<bool>,
    /// Whether preflights not matching the allowed origins are forwarded upstream.
    pub unmatched_preflights: Option<UnmatchedPreflights>,
}

/// Istio `CorsPolicy.UnmatchedPreflights`: handling of preflights from disallowed origins.
#[serde_with::skip_serializing_none]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum UnmatchedPreflights {
    /// Not set: Istio forwards such preflights.
    #[default]
    Unspecified,
    /// Forward the preflight to the upstream.
    Forward,
    /// Answer the preflight without forwarding.
    Ignore,
}

/// Istio `TLSRoute`: SNI-based routing of non-terminated TLS traffic.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsRoute {
    /// Match conditions (required by the schema).
    #[serde(default, rename = "match", skip_serializing_if = "Vec::is_empty")]
    pub matches: Vec<TlsMatchAttributes>,
    /// Weighted destinations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub route: Vec<RouteDestination>,
}

/// Istio `TLSMatchAttributes`: match conditions on a TLS connection.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsMatchAttributes {
    /// SNI values to match (required by the schema).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sni_hosts: Vec<String>,
    /// Destination IPs or subnets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub destination_subnets: Vec<String>,
    /// Port on the host being addressed.
    pub port: Option<u32>,
    /// Labels constraining the source workloads.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub source_labels: BTreeMap<String, String>,
    /// Gateways where the rule applies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gateways: Vec<String>,
    /// Source namespace constraining the client workloads.
    pub source_namespace: Option<String>,
}

/// Istio `TCPRoute`: routing of opaque TCP traffic.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TcpRoute {
    /// Match conditions.
    #[serde(default, rename = "match", skip_serializing_if = "Vec::is_empty")]
    pub matches: Vec<L4MatchAttributes>,
    /// Weighted destinations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub route: Vec<RouteDestination>,
}

/// Istio `L4MatchAttributes`: match conditions on a TCP connection.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct L4MatchAttributes {
    /// Destination IPs or subnets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub destination_subnets: Vec<String>,
    /// Port on the host being addressed.
    pub port: Option<u32>,
    /// Source IP or subnet (hidden in Istio's docs).
    pub source_subnet: Option<String>,
    /// Labels constraining the source workloads.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub source_labels: BTreeMap<String, String>,
    /// Gateways where the rule applies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gateways: Vec<String>,
    /// Source namespace constraining the client workloads.
    pub source_namespace: Option<String>,
}

/// Istio `RouteDestination`: a weighted destination of a TLS or TCP route.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteDestination {
    /// The destination service (required).
    pub destination: Destination,
    /// Relative weight of this destination.
    pub weight: Option<i32>,
}

// ---------------------------------------------------------------------------
// DestinationRule
// ---------------------------------------------------------------------------

/// Istio `DestinationRule` spec: policies applied to traffic for a service after routing.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DestinationRuleSpec {
    /// Service host name the rule applies to (required).
    pub host: String,
    /// Traffic policy for the whole service (boxed: 1.2 KB inline, and most rules have none).
    pub traffic_policy: Option<Box<TrafficPolicy>>,
    /// Named versions (subsets) of the service.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subsets: Vec<Subset>,
    /// Namespaces to which this destination rule is exported.
    #[serde(default, rename = "exportTo", skip_serializing_if = "Vec::is_empty")]
    pub export_to: Vec<String>,
    /// Workloads to which this rule applies.
    pub workload_selector: Option<WorkloadSelector>,
}

/// Istio `Subset`: a named set of endpoints of a service, selected by labels.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subset {
    /// Subset name (required).
    pub name: String,
    /// Endpoint labels selecting the subset.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Traffic policy overriding the service-level one for this subset (boxed, as above).
    pub traffic_policy: Option<Box<TrafficPolicy>>,
}

/// Istio `TrafficPolicy`: load balancing, connection pool, outlier detection and TLS settings.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrafficPolicy {
    /// Load balancing algorithm.
    pub load_balancer: Option<LoadBalancerSettings>,
    /// Connection pool limits.
    pub connection_pool: Option<ConnectionPoolSettings>,
    /// Ejection of unhealthy hosts.
    pub outlier_detection: Option<OutlierDetection>,
    /// TLS settings for upstream connections.
    pub tls: Option<ClientTlsSettings>,
    /// Per-port overrides.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub port_level_settings: Vec<PortTrafficPolicy>,
    /// Tunneling of TCP over other transports.
    pub tunnel: Option<TunnelSettings>,
    /// Upstream PROXY protocol settings.
    pub proxy_protocol: Option<ProxyProtocol>,
    /// Limit on concurrent retries relative to active requests.
    pub retry_budget: Option<RetryBudget>,
}

/// Istio `TrafficPolicy.PortTrafficPolicy`: traffic policy for one port of the service.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortTrafficPolicy {
    /// Port the policy applies to.
    pub port: Option<PortSelector>,
    /// Load balancing algorithm.
    pub load_balancer: Option<LoadBalancerSettings>,
    /// Connection pool limits.
    pub connection_pool: Option<ConnectionPoolSettings>,
    /// Ejection of unhealthy hosts.
    pub outlier_detection: Option<OutlierDetection>,
    /// TLS settings for upstream connections.
    pub tls: Option<ClientTlsSettings>,
}

/// Istio `TrafficPolicy.TunnelSettings`: tunnel TCP over another protocol (e.g. CONNECT).
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TunnelSettings {
    /// Tunnel protocol (`CONNECT` or `POST`).
    pub protocol: Option<String>,
    /// Host to which the connection is tunneled (required).
    pub target_host: String,
    /// Port to which the connection is tunneled (required).
    pub target_port: u32,
}

/// Istio `TrafficPolicy.ProxyProtocol`: upstream PROXY protocol settings.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProxyProtocol {
    /// PROXY protocol version.
    pub version: Option<ProxyProtocolVersion>,
}

/// Istio `TrafficPolicy.ProxyProtocol.VERSION`: PROXY protocol version.
#[serde_with::skip_serializing_none]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ProxyProtocolVersion {
    /// Version 1 (human readable).
    #[default]
    V1,
    /// Version 2 (binary).
    V2,
}

/// Istio `TrafficPolicy.RetryBudget`: limit on concurrent retries.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryBudget {
    /// Allowed concurrent retries as a percentage (0-100) of active requests.
    pub percent: Option<f64>,
    /// Minimum retry concurrency allowed.
    pub min_retry_concurrency: Option<u32>,
    /// Window over which requests are counted for the budget (duration).
    pub budget_interval: Option<String>,
}

/// Istio `LoadBalancerSettings`: load balancing algorithm for a destination.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancerSettings {
    /// Standard algorithm.
    pub simple: Option<SimpleLb>,
    /// Consistent-hash (session affinity) algorithm.
    pub consistent_hash: Option<ConsistentHashLb>,
    /// Utilization-based algorithm using backend-reported ORCA metrics.
    pub backend_utilization: Option<BackendUtilizationLb>,
    /// Locality load balancing settings.
    pub locality_lb_setting: Option<LocalityLoadBalancerSetting>,
    /// Zone-aware load balancing settings.
    pub zone_aware_lb_setting: Option<ZoneAwareLoadBalancerSetting>,
    /// Deprecated by Istio: slow-start duration (use `warmup`).
    pub warmup_duration_secs: Option<String>,
    /// Slow-start (warmup) configuration.
    pub warmup: Option<WarmupConfiguration>,
}

/// Istio `LoadBalancerSettings.SimpleLB`: standard load balancing algorithms.
#[serde_with::skip_serializing_none]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SimpleLb {
    /// Let Istio choose (currently `LEAST_REQUEST`).
    #[default]
    Unspecified,
    /// Deprecated by Istio: use `LEAST_REQUEST`.
    LeastConn,
    /// Random host.
    Random,
    /// Forward to the original destination address.
    Passthrough,
    /// Round robin.
    RoundRobin,
    /// Least outstanding requests.
    LeastRequest,
}

/// Istio `LoadBalancerSettings.ConsistentHashLB`: hash-based session affinity.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsistentHashLb {
    /// Hash on this HTTP header.
    pub http_header_name: Option<String>,
    /// Hash on an HTTP cookie.
    pub http_cookie: Option<HttpCookie>,
    /// Hash on the source IP address.
    pub use_source_ip: Option<bool>,
    /// Hash on this HTTP query parameter.
    pub http_query_parameter_name: Option<String>,
    /// Ring hash algorithm settings.
    pub ring_hash: Option<RingHash>,
    /// Maglev algorithm settings.
    pub maglev: Option<MagLev>,
    /// Deprecated by Istio: minimum ring size (use `ringHash`).
    pub minimum_ring_size: Option<u64>,
}

/// Istio `ConsistentHashLB.HTTPCookie`: the cookie hashed for session affinity.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpCookie {
    /// Cookie name (required).
    pub name: String,
    /// Cookie path.
    pub path: Option<String>,
    /// Cookie lifetime (duration).
    pub ttl: Option<String>,
    /// Additional cookie attributes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<HttpCookieAttribute>,
}

/// Istio `ConsistentHashLB.HTTPCookie.Attribute`: one extra cookie attribute.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpCookieAttribute {
    /// Attribute name (required).
    pub name: String,
    /// Attribute value.
    pub value: Option<String>,
}

/// Istio `ConsistentHashLB.RingHash`: ring hash settings.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RingHash {
    /// Minimum number of virtual nodes on the ring.
    pub minimum_ring_size: Option<u64>,
}

/// Istio `ConsistentHashLB.MagLev`: Maglev hashing settings.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MagLev {
    /// Maglev lookup table size (a prime number).
    pub table_size: Option<u64>,
}

/// Istio `LoadBalancerSettings` `backendUtilization`: weights from backend-reported ORCA metrics.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackendUtilizationLb {
    /// Penalty for endpoints returning errors, as a percentage.
    pub error_utilization_penalty_percent: Option<u32>,
    /// Custom ORCA metric names used to compute utilization.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metric_names_for_computing_utilization: Vec<String>,
    /// After how long without reports an endpoint's weight expires (duration).
    pub weight_expiration_period: Option<String>,
    /// How long after first reports a weight is trusted (duration).
    pub weight_stabilization_period: Option<String>,
    /// How often weights are recomputed (duration).
    pub weight_update_period: Option<String>,
}

/// Istio `LocalityLoadBalancerSetting`: locality-weighted distribution and failover.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalityLoadBalancerSetting {
    /// Traffic distribution weights per originating locality.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub distribute: Vec<LocalityLbDistribute>,
    /// Region-level failover rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failover: Vec<LocalityLbFailover>,
    /// Labels ordering endpoints for priority-based failover.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failover_priority: Vec<String>,
    /// Whether locality load balancing is enabled.
    pub enabled: Option<bool>,
}

/// Istio `LocalityLoadBalancerSetting.Distribute`: weights for traffic from one locality.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalityLbDistribute {
    /// Originating locality (`region/zone/subzone`, wildcards allowed).
    pub from: Option<String>,
    /// Upstream localities and their weights.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub to: BTreeMap<String, u32>,
}

/// Istio `LocalityLoadBalancerSetting.Failover`: failover from one region to another.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalityLbFailover {
    /// Originating region.
    pub from: Option<String>,
    /// Region traffic fails over to.
    pub to: Option<String>,
}

/// Istio `zoneAwareLbSetting`: zone-aware load balancing settings.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ZoneAwareLoadBalancerSetting {
    /// Whether zone-aware load balancing is enabled.
    pub enabled: Option<bool>,
    /// Region-level failover rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failover: Vec<LocalityLbFailover>,
    /// Labels ordering endpoints for priority-based failover.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failover_priority: Vec<String>,
    /// Minimum upstream hosts in the local region for zone awareness to apply.
    pub min_cluster_size: Option<u32>,
}

/// Istio `WarmupConfiguration`: slow-start ramp-up of traffic to new endpoints.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WarmupConfiguration {
    /// Warmup duration (required).
    pub duration: String,
    /// Starting percentage of traffic (0-100).
    pub minimum_percent: Option<f64>,
    /// Speed of the traffic increase (1.0 is linear).
    pub aggression: Option<f64>,
}

/// Istio `ConnectionPoolSettings`: TCP and HTTP connection limits to upstream hosts.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionPoolSettings {
    /// Settings common to HTTP and TCP connections.
    pub tcp: Option<TcpSettings>,
    /// HTTP connection pool settings.
    pub http: Option<HttpSettings>,
}

/// Istio `ConnectionPoolSettings.TCPSettings`: TCP connection limits.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TcpSettings {
    /// Maximum HTTP/1 or TCP connections to a destination host.
    pub max_connections: Option<i32>,
    /// TCP connection timeout (duration).
    pub connect_timeout: Option<String>,
    /// SO_KEEPALIVE settings.
    pub tcp_keepalive: Option<TcpKeepalive>,
    /// Maximum connection duration.
    pub max_connection_duration: Option<String>,
    /// Idle timeout for TCP connections.
    pub idle_timeout: Option<String>,
}

/// Istio `ConnectionPoolSettings.TCPSettings.TcpKeepalive`: TCP keepalive probes.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TcpKeepalive {
    /// Maximum unanswered probes before the connection is dead.
    pub probes: Option<u32>,
    /// Idle time before probes start (duration).
    pub time: Option<String>,
    /// Time between probes (duration).
    pub interval: Option<String>,
}

/// Istio `ConnectionPoolSettings.HTTPSettings`: HTTP/1.1 and HTTP/2 limits.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpSettings {
    /// Maximum requests queued while waiting for a connection.
    #[serde(rename = "http1MaxPendingRequests")]
    pub http1_max_pending_requests: Option<i32>,
    /// Maximum active requests to a destination.
    #[serde(rename = "http2MaxRequests")]
    pub http2_max_requests: Option<i32>,
    /// Maximum requests per connection.
    pub max_requests_per_connection: Option<i32>,
    /// Maximum outstanding retries to all hosts.
    pub max_retries: Option<i32>,
    /// Idle timeout for upstream connections (duration).
    pub idle_timeout: Option<String>,
    /// Whether HTTP/1.1 connections are upgraded to HTTP/2.
    #[serde(rename = "h2UpgradePolicy")]
    pub h2_upgrade_policy: Option<H2UpgradePolicy>,
    /// Preserve the client protocol towards the backend.
    pub use_client_protocol: Option<bool>,
    /// Maximum concurrent streams on one HTTP/2 connection.
    pub max_concurrent_streams: Option<i32>,
    /// HTTP/2 PING keepalive settings.
    #[serde(rename = "http2KeepAlive")]
    pub http2_keep_alive: Option<Http2KeepAlive>,
}

/// Istio `ConnectionPoolSettings.HTTPSettings.H2UpgradePolicy`: HTTP/1.1 to HTTP/2 upgrade policy.
#[serde_with::skip_serializing_none]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum H2UpgradePolicy {
    /// Use the mesh-wide default.
    #[default]
    Default,
    /// Do not upgrade.
    DoNotUpgrade,
    /// Upgrade to HTTP/2.
    Upgrade,
}

/// Istio `ConnectionPoolSettings.HTTPSettings.Http2KeepAlive`: HTTP/2 PING frames.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Http2KeepAlive {
    /// PING interval (duration).
    pub interval: Option<String>,
    /// PING response timeout (duration).
    pub timeout: Option<String>,
}

/// Istio `OutlierDetection`: circuit breaker ejecting unhealthy hosts.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutlierDetection {
    /// Distinguish local-origin failures from external errors.
    pub split_external_local_origin_errors: Option<bool>,
    /// Consecutive local-origin failures before ejection.
    pub consecutive_local_origin_failures: Option<u32>,
    /// Gateway errors (502/503/504) before ejection.
    pub consecutive_gateway_errors: Option<u32>,
    /// 5xx errors before ejection.
    #[serde(rename = "consecutive5xxErrors")]
    pub consecutive_5xx_errors: Option<u32>,
    /// Time between ejection sweeps (duration).
    pub interval: Option<String>,
    /// Minimum ejection duration.
    pub base_ejection_time: Option<String>,
    /// Maximum percentage of hosts that can be ejected.
    pub max_ejection_percent: Option<i32>,
    /// Minimum healthy percentage for outlier detection to stay enabled.
    pub min_health_percent: Option<i32>,
    /// Deprecated by Istio: consecutive errors before ejection (use `consecutive5xxErrors`).
    pub consecutive_errors: Option<i32>,
    /// HTTP status codes (100-599) treated as outlier detection errors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outlier_detection_http_error_codes: Vec<u32>,
}

/// Istio `ClientTLSSettings`: TLS settings for connections to an upstream service.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientTlsSettings {
    /// Whether and how upstream connections use TLS.
    pub mode: Option<ClientTlsMode>,
    /// Path to the client certificate file.
    pub client_certificate: Option<String>,
    /// Path to the client private key file.
    pub private_key: Option<String>,
    /// Path to the CA certificates used to verify the server.
    pub ca_certificates: Option<String>,
    /// Name of the secret holding the client TLS certificates.
    pub credential_name: Option<String>,
    /// Alternate names accepted in the server certificate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subject_alt_names: Vec<String>,
    /// SNI presented during the TLS handshake.
    pub sni: Option<String>,
    /// Skip verifying the server certificate.
    pub insecure_skip_verify: Option<bool>,
    /// Path to the certificate revocation list (CRL).
    pub ca_crl: Option<String>,
}

/// Istio `ClientTLSSettings.TLSmode`: TLS mode for upstream connections.
#[serde_with::skip_serializing_none]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ClientTlsMode {
    /// Plain-text connections.
    #[default]
    Disable,
    /// TLS to the upstream.
    Simple,
    /// Mutual TLS with client certificates given in the settings.
    Mutual,
    /// Mutual TLS with Istio-generated certificates.
    IstioMutual,
}

// ---------------------------------------------------------------------------
// ServiceEntry
// ---------------------------------------------------------------------------

/// Istio `ServiceEntry` spec: an entry added to Istio's service registry.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceEntrySpec {
    /// Hosts of the service (required by the schema).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// Virtual IP addresses of the service.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<String>,
    /// Ports of the service.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<ServicePort>,
    /// Whether the service is external to or part of the mesh.
    pub location: Option<ServiceEntryLocation>,
    /// How the service's endpoints are resolved.
    pub resolution: Option<ServiceEntryResolution>,
    /// Static endpoints of the service.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<WorkloadEntry>,
    /// Workloads (pods/WorkloadEntries) backing a MESH_INTERNAL service.
    pub workload_selector: Option<ServiceEntryWorkloadSelector>,
    /// Namespaces to which this service is exported.
    #[serde(default, rename = "exportTo", skip_serializing_if = "Vec::is_empty")]
    pub export_to: Vec<String>,
    /// Alternate names the server certificate must carry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subject_alt_names: Vec<String>,
}

/// Istio `ServicePort`: a port of a ServiceEntry (number and name required).
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePort {
    /// Port number.
    pub number: u32,
    /// Protocol exposed on the port.
    pub protocol: Option<String>,
    /// Label assigned to the port.
    pub name: String,
    /// Port on the endpoint where traffic is received.
    pub target_port: Option<u32>,
}

/// Istio `ServiceEntry.Location`: inside or outside the mesh.
#[serde_with::skip_serializing_none]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ServiceEntryLocation {
    /// External to the mesh (Istio's default).
    #[default]
    MeshExternal,
    /// Part of the mesh.
    MeshInternal,
}

/// Istio `ServiceEntry.Resolution`: endpoint resolution mode.
#[serde_with::skip_serializing_none]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ServiceEntryResolution {
    /// Forward to the connection's original destination address (Istio's default).
    #[default]
    None,
    /// Use the static endpoint addresses.
    Static,
    /// Resolve hosts with DNS, connecting to all returned addresses.
    Dns,
    /// Resolve hosts with DNS, connecting to the first returned address.
    DnsRoundRobin,
    /// Resolve wildcard hosts with DNS on demand.
    DynamicDns,
}

/// Istio `networking.WorkloadSelector`: a ServiceEntry's workload selector (`labels`, not `matchLabels`).
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceEntryWorkloadSelector {
    /// Labels selecting the workloads.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// Istio `WorkloadEntry` (as a ServiceEntry endpoint): a non-Kubernetes workload.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadEntry {
    /// Endpoint address (IP, host name or Unix socket) without the port.
    pub address: Option<String>,
    /// Endpoint ports, keyed by service port name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ports: BTreeMap<String, u32>,
    /// Labels of the endpoint.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Network the endpoint belongs to.
    pub network: Option<String>,
    /// Locality (`region/zone/subzone`) of the endpoint.
    pub locality: Option<String>,
    /// Load balancing weight (a uint32 in the schema).
    pub weight: Option<u32>,
    /// Service account of the workload's sidecar.
    pub service_account: Option<String>,
}
