//! One request through the gateway: decide, then answer locally or forward (spec §1,
//! §4.5–§4.11, §8, §9); metrics and the access log follow the response to its last byte.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use http::{Request, Response, Version, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use sluice_mesh::{Action, Cluster, Reply, Scheme};

use crate::flags::ResponseFlag;
use crate::forward;
use crate::headers::{GRPC_STATUS, X_FORWARDED_PROTO};
use crate::record::{Counted, Finish, Measured, Recorded};
use crate::server::Shared;
use crate::{Body, reply};

/// What a TLS connection told about itself.
#[derive(Clone, Debug, Default)]
pub(crate) struct TlsInfo {
    /// The server name the client asked for.
    pub(crate) sni: Option<String>,
    /// The TLS server (filter chain) of the port that took the connection, in `table`.
    pub(crate) chain: usize,
    /// The table in force at the handshake.
    pub(crate) table: Arc<sluice_mesh::RouteTable>,
    /// The client certificate's SPIFFE identity, without `spiffe://`.
    pub(crate) peer_principal: Option<String>,
    /// `x-forwarded-client-cert` for the client certificate (mutual TLS).
    pub(crate) xfcc: Option<http::HeaderValue>,
}

/// The downstream connection a request arrived on.
#[derive(Clone, Debug)]
pub(crate) struct Downstream {
    /// The client's address.
    pub(crate) peer: SocketAddr,
    /// The client's IP address as a header value.
    pub(crate) peer_ip: http::HeaderValue,
    /// The gateway's address on this connection.
    pub(crate) local: SocketAddr,
    /// The Gateway server port this listener stands for.
    pub(crate) port: u16,
    /// The connection's scheme.
    pub(crate) scheme: Scheme,
    /// TLS details, on an HTTPS server.
    pub(crate) tls: Option<Arc<TlsInfo>>,
}

/// One request in flight: its connection, what kind of request it is, and when it began.
pub(crate) struct Exchange<'a> {
    pub(crate) shared: &'a Shared,
    pub(crate) downstream: Downstream,
    /// The scheme used for routing and `x-forwarded-proto` (a trusted proxy's, or the connection's).
    pub(crate) scheme: Scheme,
    /// `content-type: application/grpc…`: local replies are trailers-only gRPC.
    pub(crate) grpc: bool,
    /// A HEAD request: replies carry headers only.
    pub(crate) head: bool,
    /// The client's HTTP version (the response carries it).
    pub(crate) version: Version,
    /// Bytes of the request body read so far.
    pub(crate) request_bytes: Arc<AtomicU64>,
}

/// How an exchange ended, for metrics and the access log.
pub(crate) struct Outcome {
    pub(crate) response: Response<Body>,
    pub(crate) flag: ResponseFlag,
    /// The upstream service, when the request was routed to one.
    pub(crate) service: Option<Arc<Cluster>>,
}

impl Exchange<'_> {
    /// A local reply with a flag.
    pub(crate) fn local(&self, reply: &Reply, flag: ResponseFlag, service: Option<Arc<Cluster>>) -> Outcome {
        Outcome {
            response: reply::local(reply, self.grpc, self.head),
            flag,
            service,
        }
    }
}

/// Handle one request that arrived on `downstream`.
pub(crate) async fn handle(
    shared: Arc<Shared>,
    request: Request<Incoming>,
    downstream: Downstream,
) -> Response<Body> {
    let started = Instant::now();
    let table = shared.table.load_full();
    let (parts, body) = request.into_parts();
    let exchange = Exchange {
        shared: &shared,
        downstream: downstream.clone(),
        scheme: routing_scheme(&shared, &parts, downstream.scheme),
        grpc: parts
            .headers
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc")),
        head: parts.method == http::Method::HEAD,
        version: parts.version,
        request_bytes: Arc::new(AtomicU64::new(0)),
    };
    // What the access log says of the request, taken before the request moves on.
    let log = shared.access_log.is_some().then(|| request_log(&parts));
    let mut parts = parts;
    // Authentication and authorization run before routing (spec §1): a 401/403 wins over
    // a 404, and a verified token's claims can steer the route.
    let decision = match secure(&shared, &table, &mut parts, &downstream, exchange.scheme) {
        Ok(()) => match &downstream.tls {
            None => table.route(downstream.port, exchange.scheme, &parts, &mut rand::rng()),
            Some(tls) => match current_chain(&table, downstream.port, tls) {
                Some(chain) => table.route_on(
                    downstream.port,
                    Some(chain),
                    exchange.scheme,
                    &parts,
                    &mut rand::rng(),
                ),
                None => sluice_mesh::Decision::reply(Reply::new(
                    http::StatusCode::MISDIRECTED_REQUEST,
                    "misdirected request: this connection's TLS server changed; reconnect",
                )),
            },
        },
        Err(reply) => sluice_mesh::Decision::reply(reply),
    };
    if let Some(delay) = decision.delay {
        tokio::time::sleep(delay).await;
    }
    let body = Counted {
        inner: body,
        read: exchange.request_bytes.clone(),
    };
    let outcome = match decision.action {
        Action::Reply(r) => {
            let flag = match (r.status.as_u16(), decision.route.is_some(), r.body.as_slice()) {
                (_, _, b"fault filter abort") => ResponseFlag::FaultInjected,
                (404, false, _) => ResponseFlag::NoRoute,
                (503, true, b"") => ResponseFlag::NoCluster,
                _ => ResponseFlag::None,
            };
            exchange.local(&r, flag, None)
        }
        Action::Forward(f) => forward::forward(&exchange, f, parts, body).await,
    };
    let flag = match (decision.delay, outcome.flag) {
        (Some(_), ResponseFlag::None) => ResponseFlag::DelayInjected,
        (_, flag) => flag,
    };
    let (response_parts, response_body) = outcome.response.into_parts();
    let measured = measured(&exchange, &response_parts, outcome.service, flag);
    let log = log.map(|mut line| {
        line.insert("route_name".into(), decision.route.map(|o| o.to_string()).into());
        line.insert("response_code".into(), response_parts.status.as_u16().into());
        line.insert("response_flags".into(), flag.as_str().into());
        line.insert("upstream_cluster".into(), measured.service().into());
        line.insert(
            "downstream_remote_address".into(),
            downstream.peer.to_string().into(),
        );
        line
    });
    let finish = Finish {
        shared: shared.clone(),
        measured,
        started,
        request_bytes: exchange.request_bytes.clone(),
        log,
    };
    Response::from_parts(response_parts, Recorded::new(response_body, finish).boxed())
}

/// The TLS server a request on a TLS connection belongs to now: the handshake's, or after
/// a reload the one its SNI selects — only if it authenticates clients exactly as the
/// handshake's did (mode, CA, pins; a renewed server certificate is fine). Otherwise `None`: the
/// connection no longer stands for any server (421, as Envoy drains such connections).
fn current_chain(table: &Arc<sluice_mesh::RouteTable>, port: u16, tls: &TlsInfo) -> Option<usize> {
    if Arc::ptr_eq(table, &tls.table) {
        return Some(tls.chain);
    }
    let then = &tls.table.listener(port)?.tls.get(tls.chain)?.tls;
    let listener = table.listener(port)?;
    let now = listener.chain_for(tls.sni.as_deref())?;
    listener
        .tls
        .get(now)?
        .tls
        .admits_connections_of(then)
        .then_some(now)
}

/// The security filters of the gateway: `Err` is the 401/403 to answer.
fn secure(
    shared: &Shared,
    table: &sluice_mesh::RouteTable,
    parts: &mut http::request::Parts,
    downstream: &Downstream,
    scheme: Scheme,
) -> Result<(), Reply> {
    let security = table.security();
    if security.is_empty() {
        return Ok(());
    }
    let connection = sluice_mesh::security::Connection {
        peer: downstream.peer,
        local: downstream.local,
        port: downstream.port,
        scheme,
        sni: downstream.tls.as_ref().and_then(|t| t.sni.clone()),
        peer_principal: downstream.tls.as_ref().and_then(|t| t.peer_principal.clone()),
        num_trusted_proxies: shared.options.num_trusted_proxies,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    security
        .check(parts, &connection, now, &|uri| shared.jwks.get(uri))
        .map(|_| ())
}

/// With trusted proxies in front, their `x-forwarded-proto` is believed (spec §3.4, C80).
fn routing_scheme(shared: &Shared, parts: &http::request::Parts, connection: Scheme) -> Scheme {
    if shared.options.num_trusted_proxies > 0
        && parts
            .headers
            .get(X_FORWARDED_PROTO)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"))
    {
        Scheme::Https
    } else {
        connection
    }
}

/// The exchange's part of Istio's metric labels.
fn measured(
    exchange: &Exchange<'_>,
    response: &http::response::Parts,
    service: Option<Arc<Cluster>>,
    flag: ResponseFlag,
) -> Measured {
    Measured {
        service,
        grpc: exchange.grpc,
        response_code: response.status.as_u16(),
        // Only real gRPC codes, so an upstream cannot grow the label set.
        grpc_status: response
            .headers
            .get(GRPC_STATUS)
            .and_then(|v| v.to_str().ok()?.parse::<u32>().ok())
            .and_then(sluice_mesh::grpc::Code::from_number)
            .map(|code| code.number()),
        response_flags: flag.as_str(),
    }
}

/// The request's fields of an access log line (Istio's JSON field names).
fn request_log(parts: &http::request::Parts) -> serde_json::Map<String, serde_json::Value> {
    let header = |name: header::HeaderName| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let mut line = serde_json::Map::new();
    line.insert("method".into(), parts.method.as_str().into());
    line.insert(
        "path".into(),
        parts.uri.path_and_query().map_or("/", |p| p.as_str()).into(),
    );
    line.insert("protocol".into(), protocol(parts.version).into());
    line.insert(
        "authority".into(),
        parts
            .uri
            .authority()
            .map(|a| a.to_string())
            .or_else(|| header(header::HOST))
            .into(),
    );
    line.insert("user_agent".into(), header(header::USER_AGENT).into());
    line
}

/// The protocol as Envoy's access log writes it.
fn protocol(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2",
        Version::HTTP_3 => "HTTP/3",
        _ => "HTTP/1.1",
    }
}
