//! Header changes the gateway makes on the way up and down (spec §8).

use std::net::SocketAddr;

use http::{HeaderMap, HeaderName, HeaderValue, header};
use rand::{Rng, RngExt};
use sluice_mesh::Scheme;

/// Client headers Envoy strips: they would control the proxy.
const INTERNAL: &[&str] = &[
    "x-envoy-retry-on",
    "x-envoy-retry-grpc-on",
    "x-envoy-max-retries",
    "x-envoy-upstream-rq-timeout-ms",
    "x-envoy-upstream-rq-per-try-timeout-ms",
    "x-envoy-upstream-rq-timeout-alt-response",
    "x-envoy-expected-rq-timeout-ms",
    "x-envoy-retriable-status-codes",
    "x-envoy-retriable-header-names",
    "x-envoy-upstream-alt-stat-name",
    "x-envoy-hedge-on-per-try-timeout",
    "x-envoy-force-trace",
    "x-envoy-ip-tags",
    "x-envoy-original-url",
    "x-envoy-decorator-operation",
    "x-envoy-downstream-service-cluster",
    "x-envoy-downstream-service-node",
    "x-envoy-internal",
    "x-envoy-original-path",
    "x-envoy-attempt-count",
    "x-forwarded-client-cert",
];

/// Hop-by-hop headers, never forwarded.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "te",
];

/// A fresh UUID v4, as Envoy generates for `x-request-id`.
pub(crate) fn request_id(rng: &mut impl Rng) -> HeaderValue {
    let id = sluice_api::ids::uuid_v4_ascii(rng.random());
    // Owned by one allocation that clones share (the retry copy clones it): bytes from a
    // `Vec` would get a second allocation the first time they are cloned.
    let mut value = HeaderValue::from_maybe_shared(bytes::Bytes::from_owner(id))
        .unwrap_or_else(|_| HeaderValue::from_static("-"));
    // New on every request: not worth a place in HPACK's table (see `unique_per_message`).
    value.set_sensitive(true);
    value
}

/// The client's IP address as a header value (`x-forwarded-for`, `x-envoy-external-address`),
/// made once per connection.
pub(crate) fn peer_ip(peer: SocketAddr) -> HeaderValue {
    HeaderValue::try_from(peer.ip().to_string()).unwrap_or_else(|_| HeaderValue::from_static("-"))
}

// Header names the gateway reads or writes on every request, made once: a name given as a
// `&str` is checked and parsed again on each use.
pub(crate) const GRPC_MESSAGE: HeaderName = HeaderName::from_static("grpc-message");
pub(crate) const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
pub(crate) const GRPC_TIMEOUT: HeaderName = HeaderName::from_static("grpc-timeout");
pub(crate) const X_ENVOY_ATTEMPT_COUNT: HeaderName = HeaderName::from_static("x-envoy-attempt-count");
pub(crate) const X_ENVOY_EXPECTED_RQ_TIMEOUT_MS: HeaderName =
    HeaderName::from_static("x-envoy-expected-rq-timeout-ms");
pub(crate) const X_ENVOY_EXTERNAL_ADDRESS: HeaderName = HeaderName::from_static("x-envoy-external-address");
pub(crate) const X_ENVOY_INTERNAL: HeaderName = HeaderName::from_static("x-envoy-internal");
pub(crate) const X_ENVOY_ORIGINAL_HOST: HeaderName = HeaderName::from_static("x-envoy-original-host");
pub(crate) const X_ENVOY_ORIGINAL_PATH: HeaderName = HeaderName::from_static("x-envoy-original-path");
pub(crate) const X_ENVOY_OVERLOADED: HeaderName = HeaderName::from_static("x-envoy-overloaded");
pub(crate) const X_ENVOY_UPSTREAM_SERVICE_TIME: HeaderName =
    HeaderName::from_static("x-envoy-upstream-service-time");
pub(crate) const X_FORWARDED_CLIENT_CERT: HeaderName = HeaderName::from_static("x-forwarded-client-cert");
pub(crate) const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub(crate) const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
pub(crate) const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Headers whose value is new on every message: ids. HPACK gains nothing from indexing
/// them, and costs a lot: h2's encoder compares a value with every entry of the same name
/// in its table, so a table filled with earlier requests' ids (some 50 fit in its 4 KiB)
/// costs each request of a connection as many comparisons — 8 % of a gRPC request's
/// instructions through the gateway. Marked sensitive, h2 sends them as never-indexed
/// literals (RFC 7541 §6.2.3), which any HTTP/2 peer decodes, and indexes none; HTTP/1.1
/// ignores the mark. (h2 still compares with entries of the name indexed before, so the
/// gain holds while every value of these names is marked, as here.)
fn unique_per_message(name: &str) -> bool {
    matches!(
        name,
        "x-request-id"
            | "seldon-puid"
            | "traceparent"
            | "b3"
            | "x-b3-traceid"
            | "x-b3-spanid"
            | "x-b3-parentspanid"
    )
}

/// Remove the hop-by-hop headers, and with `internal` those Envoy strips from clients; mark
/// the values that are new on every message as not to be indexed. One pass over the
/// message's few headers; a removal by name (which hashes the name) only for those present
/// — most messages carry none.
fn sweep(headers: &mut HeaderMap, internal: bool) {
    let listed = |name: &str| {
        HOP_BY_HOP.contains(&name) || (internal && name.starts_with("x-") && INTERNAL.contains(&name))
    };
    let mut present: Vec<HeaderName> = Vec::new();
    for (name, value) in headers.iter_mut() {
        if listed(name.as_str()) {
            // A name's values come one after another: each name once.
            if present.last() != Some(name) {
                present.push(name.clone());
            }
        } else if unique_per_message(name.as_str()) {
            value.set_sensitive(true);
        }
    }
    for name in present {
        headers.remove(name);
    }
}

/// Prepare client headers for upstream: strip internal and hop-by-hop headers, mark ids
/// not to be indexed, set `x-forwarded-for`, `x-forwarded-proto`,
/// `x-envoy-external-address` and a new `x-request-id`.
pub(crate) fn upstream_request(
    headers: &mut HeaderMap,
    peer_ip: &HeaderValue,
    scheme: Scheme,
    request_id: HeaderValue,
) {
    let te_trailers = headers
        .get(header::TE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"trailers"));
    sweep(headers, true);
    if te_trailers {
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
    }
    let xff = match headers.get(X_FORWARDED_FOR).map(HeaderValue::as_bytes) {
        Some(existing) => HeaderValue::from_bytes(&[existing, b", ", peer_ip.as_bytes()].concat()).ok(),
        None => Some(peer_ip.clone()),
    };
    if let Some(v) = xff {
        headers.insert(X_FORWARDED_FOR, v);
    }
    // `scheme` is the connection's, or a trusted proxy's x-forwarded-proto.
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(scheme.as_str()));
    headers.insert(X_ENVOY_EXTERNAL_ADDRESS, peer_ip.clone());
    headers.insert(X_REQUEST_ID, request_id);
}

/// Prepare upstream response headers for the client: hop-by-hop removed, `server` replaced,
/// ids marked not to be indexed.
pub(crate) fn downstream_response(headers: &mut HeaderMap) {
    sweep(headers, false);
    headers.insert(header::SERVER, crate::reply::SERVER);
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn internal_names_start_with_x_as_sweep_assumes() {
        assert!(INTERNAL.iter().all(|n| n.starts_with("x-")));
    }

    #[test]
    fn c86_client_controls_are_stripped_and_forwarding_headers_set() {
        let mut h = HeaderMap::new();
        h.insert("x-request-id", HeaderValue::from_static("abc"));
        h.insert("x-envoy-retry-on", HeaderValue::from_static("5xx"));
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        h.insert("x-forwarded-for", HeaderValue::from_static("10.0.0.1"));
        h.insert("connection", HeaderValue::from_static("keep-alive"));
        let id = request_id(&mut StdRng::seed_from_u64(1));
        let ip = peer_ip("127.0.0.9:5555".parse().expect("addr"));
        upstream_request(&mut h, &ip, Scheme::Http, id.clone());
        assert_eq!(h["x-request-id"], id);
        assert_ne!(id, "abc");
        assert_eq!(id.len(), 36);
        assert_eq!(&id.as_bytes()[14..15], b"4", "UUID version 4");
        assert!(h.get("x-envoy-retry-on").is_none());
        assert!(h.get("connection").is_none());
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-forwarded-for"], "10.0.0.1, 127.0.0.9");
        assert_eq!(h["x-envoy-external-address"], "127.0.0.9");
    }

    #[test]
    fn ids_are_marked_not_to_be_indexed_both_ways() {
        let mut up = HeaderMap::new();
        up.insert(
            "traceparent",
            HeaderValue::from_static("00-4bf92f3577b34da6-00f067aa0ba902b7-01"),
        );
        up.insert("seldon", HeaderValue::from_static("example"));
        let ip = peer_ip("127.0.0.9:5555".parse().expect("addr"));
        upstream_request(
            &mut up,
            &ip,
            Scheme::Http,
            request_id(&mut StdRng::seed_from_u64(1)),
        );
        assert!(up["x-request-id"].is_sensitive());
        assert!(up["traceparent"].is_sensitive());
        assert!(
            !up["seldon"].is_sensitive(),
            "a routing header is indexed as usual"
        );
        assert!(!up["x-forwarded-for"].is_sensitive());

        let mut down = HeaderMap::new();
        down.insert(
            "seldon-puid",
            HeaderValue::from_static("d5f9c41d-430e-4585-85a1-00caf4d7e288"),
        );
        down.insert("content-type", HeaderValue::from_static("application/grpc"));
        down.insert("connection", HeaderValue::from_static("close"));
        downstream_response(&mut down);
        assert!(down["seldon-puid"].is_sensitive());
        assert!(!down["content-type"].is_sensitive());
        assert!(down.get("connection").is_none());
    }
}
