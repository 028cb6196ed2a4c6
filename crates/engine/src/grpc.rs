//! The orchestrator's gRPC API (spec `seldon-wire.md` §1.7–§1.8, §2): `seldon.protos.Seldon`
//! for seldon-protocol predictors and `inference.GRPCInferenceService` for v2, served by
//! the same graph code as REST. A request's message is turned into its REST JSON form
//! (proto3's JSON mapping for Seldon's messages, [`v2`] for the Open Inference Protocol),
//! run exactly as a REST request would be ([`Engine::run`]), and the answer turned back
//! into the rpc's response message: one graph, two codecs.
//!
//! ```text
//!  gRPC request ──tonic/prost──> message ──JSON codec──> JSON ──> Engine::run (graph)
//!  gRPC answer  <──tonic/prost── message <──JSON codec── JSON <──┘
//! ```
//!
//! Errors become gRPC statuses with the meaning of the REST status ([`code_of`]); metrics
//! are Seldon's, labelled with the full method, `unary` and the code name. [`client`]
//! makes the component calls of `endpoint.type: GRPC` nodes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body_util::BodyExt;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sluice_api::proto::seldon::protos::{
    Feedback, SeldonGraphMetadata, SeldonMessage, SeldonModelMetadata, SeldonModelMetadataRequest,
};
use tonic::codegen::Service;

use crate::graph::{self, Payload};
use crate::server::{Action, Body, Engine};
use sluice_api::proto::inference as v2p;

pub mod client;
pub mod v2;

/// The generated tonic services of `seldon.protos`.
#[allow(missing_docs, clippy::all, unreachable_pub, missing_debug_implementations)]
pub mod services {
    include!(concat!(env!("OUT_DIR"), "/seldon.protos.rs"));
}

/// The generated tonic service of `inference` (the Open Inference Protocol).
#[allow(missing_docs, clippy::all, unreachable_pub, missing_debug_implementations)]
pub mod inference {
    include!(concat!(env!("OUT_DIR"), "/inference.rs"));
}

/// The content type that marks a gRPC request (`application/grpc`, `application/grpc+proto`).
pub fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("application/grpc"))
        // Not gRPC-Web (`application/grpc-web`), which needs a translating proxy.
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('+') || rest.starts_with(';'))
}

/// The service a protocol's orchestrator serves over gRPC, by path prefix.
fn service_of(protocol: graph::Protocol) -> Option<&'static str> {
    match protocol {
        graph::Protocol::Seldon => Some("/seldon.protos.Seldon/"),
        graph::Protocol::V2 => Some("/inference.GRPCInferenceService/"),
        graph::Protocol::Tensorflow => None,
    }
}

/// Answer one gRPC request: `seldon.protos.Seldon` for the seldon protocol,
/// `inference.GRPCInferenceService` for v2, an `UNIMPLEMENTED` status for anything else.
pub(crate) async fn answer<B>(engine: &Arc<Engine>, request: Request<B>) -> Response<Body>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: std::fmt::Display,
{
    let path = request.uri().path();
    let protocol = engine.protocol();
    let Some(service) = service_of(protocol).filter(|s| path.starts_with(s)) else {
        let message = match service_of(protocol) {
            Some(service) => format!(
                "unknown method {path}: the orchestrator of a {protocol:?}-protocol predictor serves {}",
                service.trim_matches('/')
            ),
            None => "the tensorflow protocol is served over REST only for now".to_string(),
        };
        return status_only(&tonic::Status::unimplemented(message));
    };
    // A unary request is one message: read whole under the limit (plus its 5-byte frame
    // prefix), so that a larger one is refused with grpc-go's code and a message naming
    // the limit, before tonic decodes anything.
    let limit = engine.max_grpc_message();
    let (parts, body) = request.into_parts();
    let framed = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(5);
    let body = match crate::body::read(body, None, framed).await {
        Ok(body) => body,
        Err(crate::body::ReadError::TooLarge) => {
            return status_only(&tonic::Status::resource_exhausted(format!(
                "the request message is larger than {limit} bytes (the limit: seldon.io/grpc-max-message-size, or --max-request-body)"
            )));
        }
        Err(crate::body::ReadError::Failed(e)) => {
            return status_only(&tonic::Status::cancelled(format!("reading the request: {e}")));
        }
    };
    // The caller's deadline (tonic's server does not keep it): every component call ends
    // by then, as Seldon's executor passes its context on.
    let mut request = Request::from_parts(parts, http_body_util::Full::new(Bytes::from(body)));
    let timeout = request
        .headers()
        .get("grpc-timeout")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_timeout);
    if let Some(t) = timeout {
        request.extensions_mut().insert(Deadline(Instant::now() + t));
    }
    let api = Api {
        engine: engine.clone(),
    };
    let response = if service.starts_with("/seldon.protos.") {
        services::seldon_server::SeldonServer::new(api)
            .max_decoding_message_size(usize::MAX)
            .max_encoding_message_size(limit)
            .call(request)
            .await
    } else {
        inference::grpc_inference_service_server::GrpcInferenceServiceServer::new(api)
            .max_decoding_message_size(usize::MAX)
            .max_encoding_message_size(limit)
            .call(request)
            .await
    };
    let response = match response {
        Ok(response) => response,
        Err(never) => match never {},
    };
    // A unary answer is one message and its trailers: gathered, it is a body that can be
    // shared across threads, as the gateway's in-process hand-over needs.
    let (parts, body) = response.into_parts();
    match body.collect().await {
        Ok(collected) => {
            let trailers = collected.trailers().cloned();
            let data = collected.to_bytes();
            Response::from_parts(parts, unary_body(data, trailers))
        }
        Err(status) => status_only(&status),
    }
}

/// A body of one data frame and, when present, trailers.
fn unary_body(data: Bytes, trailers: Option<HeaderMap>) -> Body {
    let mut frames: Vec<Result<hyper::body::Frame<Bytes>, crate::server::BoxError>> = Vec::with_capacity(2);
    if !data.is_empty() {
        frames.push(Ok(hyper::body::Frame::data(data)));
    }
    if let Some(t) = trailers {
        frames.push(Ok(hyper::body::Frame::trailers(t)));
    }
    http_body_util::StreamBody::new(futures_util::stream::iter(frames)).boxed()
}

/// A trailers-only answer carrying `status`.
fn status_only(status: &tonic::Status) -> Response<Body> {
    let mut response = Response::new(unary_body(Bytes::new(), None));
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    let _ = status.add_header(headers);
    response
}

/// The orchestrator's gRPC services over the engine.
struct Api {
    engine: Arc<Engine>,
}

type Answer<T> = Result<tonic::Response<T>, tonic::Status>;

/// The message as JSON for the graph (proto3's JSON mapping).
fn proto_json<T: Serialize>(message: &T) -> Result<Vec<u8>, tonic::Status> {
    serde_json::to_vec(message)
        .map_err(|e| tonic::Status::internal(format!("the request has no JSON form: {e}")))
}

/// The graph's JSON answer as the rpc's message (proto3's JSON mapping).
fn from_json<O: DeserializeOwned>(body: &[u8]) -> Result<O, tonic::Status> {
    serde_json::from_slice(body).map_err(|e| invalid_answer(&e.to_string(), body))
}

/// The graph's JSON answer turned into the rpc's message by `convert`.
fn converted<O>(
    body: &[u8],
    convert: impl FnOnce(serde_json::Value) -> Result<O, String>,
) -> Result<O, tonic::Status> {
    let json = serde_json::from_slice(body).map_err(|e| invalid_answer(&e.to_string(), body))?;
    convert(json).map_err(|e| invalid_answer(&e, body))
}

fn invalid_answer(e: &str, body: &[u8]) -> tonic::Status {
    tonic::Status::internal(format!(
        "the graph's answer is not a valid message of this rpc ({e}): {}",
        String::from_utf8_lossy(body)
    ))
}

#[tonic::async_trait]
impl services::seldon_server::Seldon for Api {
    async fn predict(&self, request: tonic::Request<SeldonMessage>) -> Answer<SeldonMessage> {
        let body = proto_json(request.get_ref());
        self.call(
            "/seldon.protos.Seldon/Predict",
            Action::Predict { model: None },
            request,
            body,
            from_json,
        )
        .await
    }

    async fn send_feedback(&self, request: tonic::Request<Feedback>) -> Answer<SeldonMessage> {
        let body = proto_json(request.get_ref());
        self.call(
            "/seldon.protos.Seldon/SendFeedback",
            Action::Feedback,
            request,
            body,
            from_json,
        )
        .await
    }

    async fn model_metadata(
        &self,
        request: tonic::Request<SeldonModelMetadataRequest>,
    ) -> Answer<SeldonModelMetadata> {
        let action = Action::NodeMetadata(request.get_ref().name.clone());
        let mut response = self
            .call(
                "/seldon.protos.Seldon/ModelMetadata",
                action,
                request,
                Ok(Vec::new()),
                from_json,
            )
            .await?;
        // Seldon sends no puid header with metadata.
        response.metadata_mut().remove("seldon-puid");
        Ok(response)
    }

    async fn graph_metadata(
        &self,
        request: tonic::Request<pbjson_types::Empty>,
    ) -> Answer<SeldonGraphMetadata> {
        let mut response = self
            .call(
                "/seldon.protos.Seldon/GraphMetadata",
                Action::GraphMetadata,
                request,
                Ok(Vec::new()),
                |body| {
                    converted(body, |mut json| {
                        graph_metadata_fields(&mut json);
                        serde_json::from_value(json).map_err(|e| e.to_string())
                    })
                },
            )
            .await?;
        response.metadata_mut().remove("seldon-puid");
        Ok(response)
    }
}

#[tonic::async_trait]
impl inference::grpc_inference_service_server::GrpcInferenceService for Api {
    async fn server_live(
        &self,
        _request: tonic::Request<v2p::ServerLiveRequest>,
    ) -> Answer<v2p::ServerLiveResponse> {
        Ok(tonic::Response::new(v2p::ServerLiveResponse { live: true }))
    }

    async fn server_ready(
        &self,
        _request: tonic::Request<v2p::ServerReadyRequest>,
    ) -> Answer<v2p::ServerReadyResponse> {
        let ready = self.engine.ready().await;
        Ok(tonic::Response::new(v2p::ServerReadyResponse { ready }))
    }

    async fn server_metadata(
        &self,
        _request: tonic::Request<v2p::ServerMetadataRequest>,
    ) -> Answer<v2p::ServerMetadataResponse> {
        Ok(tonic::Response::new(v2p::ServerMetadataResponse {
            name: "sluice-engine".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            extensions: Vec::new(),
        }))
    }

    async fn model_ready(
        &self,
        request: tonic::Request<v2p::ModelReadyRequest>,
    ) -> Answer<v2p::ModelReadyResponse> {
        let action = Action::NodeStatus(request.get_ref().name.clone());
        let answer = self
            .call(
                "/inference.GRPCInferenceService/ModelReady",
                action,
                request,
                Ok(Vec::new()),
                |_| Ok(v2p::ModelReadyResponse { ready: true }),
            )
            .await;
        match answer {
            // The model answered that it is not ready (REST: 503, gRPC: `ready: false`).
            Err(status) if status.code() == tonic::Code::Unavailable => {
                Ok(tonic::Response::new(v2p::ModelReadyResponse { ready: false }))
            }
            other => other,
        }
    }

    async fn model_metadata(
        &self,
        request: tonic::Request<v2p::ModelMetadataRequest>,
    ) -> Answer<v2p::ModelMetadataResponse> {
        let action = Action::NodeMetadata(request.get_ref().name.clone());
        self.call(
            "/inference.GRPCInferenceService/ModelMetadata",
            action,
            request,
            Ok(Vec::new()),
            |body| converted(body, |json| v2::metadata_proto(&json)),
        )
        .await
    }

    async fn model_infer(
        &self,
        request: tonic::Request<v2p::ModelInferRequest>,
    ) -> Answer<v2p::ModelInferResponse> {
        // A model name in the request names every node, as the URL's does over REST.
        let model = Some(request.get_ref().model_name.clone()).filter(|m| !m.is_empty());
        let body = v2::request_json(request.get_ref())
            .map_err(tonic::Status::invalid_argument)
            .and_then(|json| serde_json::to_vec(&json).map_err(|e| tonic::Status::internal(e.to_string())));
        self.call(
            "/inference.GRPCInferenceService/ModelInfer",
            Action::Predict { model },
            request,
            body,
            |body| converted(body, |json| v2::response_proto(&json)),
        )
        .await
    }
}

impl Api {
    /// Run `action` on `body` (the request's JSON form), with the request's metadata as
    /// headers (and a new `seldon-puid` when it has none); `answer` turns the graph's
    /// answer into the rpc's message. Measured as Seldon's executor measures gRPC.
    async fn call<I, O>(
        &self,
        method: &str,
        action: Action,
        request: tonic::Request<I>,
        body: Result<Vec<u8>, tonic::Status>,
        answer: impl FnOnce(&[u8]) -> Result<O, tonic::Status>,
    ) -> Answer<O> {
        let started = Instant::now();
        let deadline = request.extensions().get::<Deadline>().map(|d| d.0);
        // gRPC's own headers (`grpc-timeout`, `grpc-accept-encoding`, ...) are not the
        // caller's metadata: they do not go to the components.
        let mut headers = client::forwarded(&request.into_parts().0.into_headers());
        let puid = crate::headers::puid(&mut headers);
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let result = match body {
            Ok(body) => {
                let payload = Payload {
                    body,
                    content_type: "application/json".to_string(),
                };
                match self.engine.run(&action, &headers, payload, deadline).await {
                    Ok(out) => answer(&out.body),
                    Err(e) => Err(status_of(&e)),
                }
            }
            Err(status) => Err(status),
        };
        let code = match &result {
            Ok(_) => tonic::Code::Ok,
            Err(status) => status.code(),
        };
        self.engine
            .metrics()
            .server(method, "unary", code_name(code), started.elapsed());
        let puid = tonic::metadata::MetadataValue::try_from(puid.as_bytes())
            .ok()
            .map(|mut v| {
                v.set_sensitive(true); // new on every request: not indexed (headers::puid)
                v
            });
        match result {
            Ok(message) => {
                let mut response = tonic::Response::new(message);
                if let Some(v) = puid {
                    response.metadata_mut().insert("seldon-puid", v);
                }
                Ok(response)
            }
            // The puid goes with a failure too, as grpc-go sends headers set before it.
            Err(mut status) => {
                if let Some(v) = puid {
                    status.metadata_mut().insert("seldon-puid", v);
                }
                Err(status)
            }
        }
    }
}

/// REST's graph metadata names the graph's edges `graphinputs` and `graphoutputs` (Seldon's
/// JSON); `SeldonGraphMetadata` names them `inputs` and `outputs`.
fn graph_metadata_fields(answer: &mut serde_json::Value) {
    if let Some(object) = answer.as_object_mut() {
        for (rest, proto) in [("graphinputs", "inputs"), ("graphoutputs", "outputs")] {
            if let Some(v) = object.remove(rest) {
                object.insert(proto.to_string(), v);
            }
        }
    }
}

/// When a gRPC call must be over, from its `grpc-timeout`.
#[derive(Clone, Copy, Debug)]
struct Deadline(Instant);

/// A `grpc-timeout` value: up to 8 digits and a unit (`H`, `M`, `S`, `m`, `u`, `n`).
pub fn parse_timeout(value: &str) -> Option<Duration> {
    let digits = value.get(..value.len().checked_sub(1)?)?;
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match value.as_bytes()[value.len() - 1] {
        b'H' => Duration::from_secs(n * 3600),
        b'M' => Duration::from_secs(n * 60),
        b'S' => Duration::from_secs(n),
        b'm' => Duration::from_millis(n),
        b'u' => Duration::from_micros(n),
        b'n' => Duration::from_nanos(n),
        _ => return None,
    })
}

/// The gRPC status of an engine error: the code with the REST status's meaning, and the
/// error's text (or the component's own answer) as the message.
pub fn status_of(e: &graph::Error) -> tonic::Status {
    let mut message = match &e.body {
        Some(body) => String::from_utf8_lossy(body).into_owned(),
        None => e.info.clone(),
    };
    // gRPC's C core (Python's grpcio) refuses trailers over 8 KiB: keep the status readable.
    if message.len() > MAX_MESSAGE {
        let mut end = MAX_MESSAGE;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
        message.push_str("... (truncated)");
    }
    let code = e
        .grpc_code
        .map_or_else(|| code_of(e.status), tonic::Code::from_i32);
    tonic::Status::new(code, message)
}

/// The longest `grpc-message` sent, in bytes.
const MAX_MESSAGE: usize = 4096;

/// The gRPC code with the meaning of an HTTP status. Seldon's executor sends `UNKNOWN` for
/// the errors it makes itself, which a 500 keeps.
pub fn code_of(http_status: u16) -> tonic::Code {
    use tonic::Code;
    match http_status {
        200..=299 => Code::Ok,
        400 => Code::InvalidArgument,
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::NotFound,
        409 => Code::Aborted,
        413 | 429 => Code::ResourceExhausted,
        499 => Code::Cancelled,
        501 => Code::Unimplemented,
        502 | 503 => Code::Unavailable,
        504 => Code::DeadlineExceeded,
        _ => Code::Unknown,
    }
}

/// A code's name as gRPC writes it (`OK`, `UNAVAILABLE`): the `code` label of metrics.
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_parse_as_the_protocol_writes_them() {
        assert_eq!(parse_timeout("1S"), Some(Duration::from_secs(1)));
        assert_eq!(parse_timeout("500m"), Some(Duration::from_millis(500)));
        assert_eq!(parse_timeout("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_timeout("99999999n"), Some(Duration::from_nanos(99_999_999)));
        for bad in ["", "S", "1", "123456789S", "1s", "-1S", "1.5S", "é"] {
            assert_eq!(parse_timeout(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn only_grpc_content_types_are_grpc() {
        let with = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(http::header::CONTENT_TYPE, HeaderValue::from_static(v));
            is_grpc(&h)
        };
        assert!(with("application/grpc") && with("application/grpc+proto") && with("application/grpc;x=1"));
        assert!(!with("application/grpc-web") && !with("application/json"));
    }

    #[test]
    fn long_messages_are_cut_on_a_character_boundary() {
        let e = graph::Error {
            status: 500,
            info: "é".repeat(5000),
            body: None,
            grpc_code: Some(13),
        };
        let status = status_of(&e);
        assert_eq!(
            status.code(),
            tonic::Code::Internal,
            "a component's code passes through"
        );
        assert!(
            status.message().len() <= MAX_MESSAGE + 20,
            "{}",
            status.message().len()
        );
        assert!(status.message().ends_with("... (truncated)"));
    }
}
