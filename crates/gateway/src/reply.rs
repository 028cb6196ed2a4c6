//! Responses the gateway makes itself (Istio's local replies, spec §9).

use bytes::Bytes;
use http::{HeaderValue, Response, header};
use sluice_mesh::Reply;
use sluice_mesh::grpc::Code;

use crate::headers::{GRPC_MESSAGE, GRPC_STATUS};
use crate::{Body, full};

/// The `server` header of every response, as Istio sets it.
pub(crate) const SERVER: HeaderValue = HeaderValue::from_static("istio-envoy");

/// Percent-encode a `grpc-message` (gRPC's rules: keep printable ASCII except `%`).
fn grpc_message(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Build the response for a local reply. gRPC requests get a trailers-only reply (no
/// body, no `content-length`, as Envoy sends it); HEAD requests get headers only.
pub(crate) fn local(reply: &Reply, grpc: bool, head: bool) -> Response<Body> {
    let mut response = Response::new(full(Bytes::new()));
    let headers = response.headers_mut();
    headers.insert(header::SERVER, SERVER);
    for (name, value) in &reply.headers {
        headers.append(name.clone(), value.clone());
    }
    if grpc {
        let code = reply.grpc_status.unwrap_or_else(|| Code::for_http(reply.status));
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        headers.insert(GRPC_STATUS, HeaderValue::from(code.number()));
        if !reply.body.is_empty()
            && let Ok(v) = HeaderValue::from_str(&grpc_message(&String::from_utf8_lossy(&reply.body)))
        {
            headers.insert(GRPC_MESSAGE, v);
        }
        return response;
    }
    if !reply.body.is_empty() && !headers.contains_key(header::CONTENT_TYPE) {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    }
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(reply.body.len()));
    *response.status_mut() = reply.status;
    if !head {
        *response.body_mut() = full(Bytes::from(reply.body.clone()));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    use http::StatusCode;

    fn text(status: StatusCode, body: &str, grpc: bool, head: bool) -> Response<Body> {
        local(&Reply::new(status, body), grpc, head)
    }

    #[test]
    fn plain_replies_carry_server_type_and_length() {
        let r = text(
            StatusCode::SERVICE_UNAVAILABLE,
            "no healthy upstream",
            false,
            false,
        );
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()["server"], "istio-envoy");
        assert_eq!(r.headers()["content-type"], "text/plain");
        assert_eq!(r.headers()["content-length"], "19");
        let empty = text(StatusCode::NOT_FOUND, "", false, false);
        assert_eq!(empty.headers()["content-length"], "0");
        assert!(empty.headers().get("content-type").is_none());
    }

    #[test]
    fn grpc_replies_are_trailers_only() {
        let r = text(
            StatusCode::GATEWAY_TIMEOUT,
            "upstream request timeout",
            true,
            false,
        );
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["grpc-status"], "14");
        assert!(
            r.headers().get("content-length").is_none(),
            "trailers-only: no length"
        );
        assert_eq!(r.headers()["grpc-message"], "upstream request timeout");
        assert_eq!(grpc_message("50% off\n"), "50%25 off%0A");
    }
}
