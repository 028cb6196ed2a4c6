//! Responses the gateway makes itself (Istio's local replies, spec §9).

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use sluice_mesh::Reply;

use crate::{Body, full};

/// The `server` header of every response, as Istio sets it.
pub(crate) const SERVER: HeaderValue = HeaderValue::from_static("istio-envoy");

/// Map an HTTP status to the gRPC status of a trailers-only reply (Envoy's mapping).
pub(crate) fn grpc_status_for(status: u16) -> u32 {
    match status {
        400 => 13,
        401 => 16,
        403 => 7,
        404 => 12,
        429 | 502 | 503 | 504 => 14,
        _ => 2,
    }
}

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

/// Build the response for a local reply. gRPC requests get a trailers-only reply;
/// HEAD requests get headers only.
pub(crate) fn local(reply: &Reply, grpc: bool, head: bool) -> Response<Body> {
    let mut builder = Response::builder();
    let headers = builder.headers_mut();
    let body = if grpc {
        let code = reply.grpc_status.unwrap_or_else(|| grpc_status_for(reply.status));
        if let Some(h) = headers {
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
            h.insert("grpc-status", HeaderValue::from(code));
            if !reply.body.is_empty()
                && let Ok(v) = HeaderValue::from_str(&grpc_message(&String::from_utf8_lossy(&reply.body)))
            {
                h.insert("grpc-message", v);
            }
        }
        builder = builder.status(StatusCode::OK);
        Bytes::new()
    } else {
        builder =
            builder.status(StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
        Bytes::from(reply.body.clone())
    };
    if let Some(h) = builder.headers_mut() {
        h.insert(header::SERVER, SERVER);
        for (name, value) in &reply.headers {
            if let (Ok(n), Ok(v)) = (
                http::HeaderName::try_from(name.as_str()),
                HeaderValue::try_from(value.as_str()),
            ) {
                h.append(n, v);
            }
        }
        if !body.is_empty() && !h.contains_key(header::CONTENT_TYPE) {
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        }
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    }
    let body = if head { Bytes::new() } else { body };
    builder
        .body(full(body))
        .unwrap_or_else(|_| Response::new(full(Bytes::new())))
}

/// A local reply with a status and a text body.
pub(crate) fn text(status: u16, body: &str, grpc: bool, head: bool) -> Response<Body> {
    local(&Reply::new(status, body), grpc, head)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_replies_carry_server_type_and_length() {
        let r = text(503, "no healthy upstream", false, false);
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()["server"], "istio-envoy");
        assert_eq!(r.headers()["content-type"], "text/plain");
        assert_eq!(r.headers()["content-length"], "19");
        let empty = text(404, "", false, false);
        assert_eq!(empty.headers()["content-length"], "0");
        assert!(empty.headers().get("content-type").is_none());
    }

    #[test]
    fn grpc_replies_are_trailers_only() {
        let r = text(504, "upstream request timeout", true, false);
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["grpc-status"], "14");
        assert_eq!(r.headers()["grpc-message"], "upstream request timeout");
        assert_eq!(grpc_message("50% off\n"), "50%25 off%0A");
    }
}
