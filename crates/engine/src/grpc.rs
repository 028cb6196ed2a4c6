//! The orchestrator's gRPC API (spec `seldon-wire.md` §1.7–§1.8): `seldon.protos.Seldon`
//! served by the same graph code as REST. A request's message is turned into its proto3
//! JSON form, run exactly as a REST request would be ([`Engine::run`]), and the answer
//! parsed back into the rpc's response message: one graph, two codecs.
//!
//! ```text
//!  gRPC request ──tonic/prost──> SeldonMessage ──pbjson──> JSON ──> Engine::run (graph)
//!  gRPC answer  <──tonic/prost── SeldonMessage <──pbjson── JSON <──┘
//! ```
//!
//! Errors become gRPC statuses with the meaning of the REST status ([`code_of`]); metrics
//! are Seldon's, labelled with the full method, `unary` and the code name.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body_util::BodyExt;
use rand::RngExt;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sluice_api::proto::seldon::protos::{
    Feedback, SeldonGraphMetadata, SeldonMessage, SeldonModelMetadata, SeldonModelMetadataRequest,
};
use tonic::codegen::Service;

use crate::graph::{self, Payload};
use crate::server::{Action, Body, Engine};

pub mod client;

/// The generated tonic services of `seldon.protos`.
#[allow(missing_docs, clippy::all, unreachable_pub, missing_debug_implementations)]
pub mod services {
    include!(concat!(env!("OUT_DIR"), "/seldon.protos.rs"));
}

/// The content type that marks a gRPC request (`application/grpc`, `application/grpc+proto`).
pub fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"))
}

/// The path prefix of the one service the orchestrator serves.
const SELDON_SERVICE: &str = "/seldon.protos.Seldon/";

/// Answer one gRPC request: `seldon.protos.Seldon` for the seldon protocol, an
/// `UNIMPLEMENTED` status for anything else.
pub(crate) async fn answer<B>(engine: &Arc<Engine>, request: Request<B>) -> Response<Body>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: std::fmt::Display,
{
    let path = request.uri().path();
    if !path.starts_with(SELDON_SERVICE) || engine.protocol() != graph::Protocol::Seldon {
        let message = match engine.protocol() {
            graph::Protocol::Seldon => format!(
                "unknown method {path}: the orchestrator serves seldon.protos.Seldon (Predict, SendFeedback, ModelMetadata, GraphMetadata)"
            ),
            other => format!(
                "the {other:?} protocol is served over REST only for now: gRPC serves seldon.protos.Seldon for protocol: seldon"
            ),
        };
        return status_only(&tonic::Status::unimplemented(message));
    }
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
    let request = Request::from_parts(parts, http_body_util::Full::new(Bytes::from(body)));
    let mut server = services::seldon_server::SeldonServer::new(Api {
        engine: engine.clone(),
    })
    .max_decoding_message_size(usize::MAX)
    .max_encoding_message_size(limit);
    let response = match server.call(request).await {
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

/// `seldon.protos.Seldon` over the engine.
struct Api {
    engine: Arc<Engine>,
}

#[tonic::async_trait]
impl services::seldon_server::Seldon for Api {
    async fn predict(
        &self,
        request: tonic::Request<SeldonMessage>,
    ) -> Result<tonic::Response<SeldonMessage>, tonic::Status> {
        self.call(
            "/seldon.protos.Seldon/Predict",
            Action::Predict { model: None },
            request,
        )
        .await
    }

    async fn send_feedback(
        &self,
        request: tonic::Request<Feedback>,
    ) -> Result<tonic::Response<SeldonMessage>, tonic::Status> {
        self.call("/seldon.protos.Seldon/SendFeedback", Action::Feedback, request)
            .await
    }

    async fn model_metadata(
        &self,
        request: tonic::Request<SeldonModelMetadataRequest>,
    ) -> Result<tonic::Response<SeldonModelMetadata>, tonic::Status> {
        let action = Action::NodeMetadata(request.get_ref().name.clone());
        let mut response = self
            .call("/seldon.protos.Seldon/ModelMetadata", action, request)
            .await?;
        // Seldon sends no puid header with metadata.
        response.metadata_mut().remove("seldon-puid");
        Ok(response)
    }

    async fn graph_metadata(
        &self,
        request: tonic::Request<pbjson_types::Empty>,
    ) -> Result<tonic::Response<SeldonGraphMetadata>, tonic::Status> {
        let mut response = self
            .call(
                "/seldon.protos.Seldon/GraphMetadata",
                Action::GraphMetadata,
                request,
            )
            .await?;
        response.metadata_mut().remove("seldon-puid");
        Ok(response)
    }
}

impl Api {
    /// Run `action` on the request's message as JSON, with its metadata as headers (and a
    /// new `seldon-puid` when it has none), and parse the answer as `O`.
    async fn call<I: Serialize, O: DeserializeOwned>(
        &self,
        method: &str,
        action: Action,
        request: tonic::Request<I>,
    ) -> Result<tonic::Response<O>, tonic::Status> {
        let started = Instant::now();
        let (metadata, _, message) = request.into_parts();
        let mut headers = metadata.into_headers();
        let puid = match headers.get("seldon-puid").and_then(|v| v.to_str().ok()) {
            Some(p) => p.to_string(),
            None => sluice_api::ids::uuid_v4(rand::rng().random()),
        };
        if let Ok(v) = HeaderValue::try_from(puid.as_str()) {
            headers.insert("seldon-puid", v);
        }
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let result = self.run(&action, &headers, &message).await;
        let code = match &result {
            Ok(_) => tonic::Code::Ok,
            Err(status) => status.code(),
        };
        self.engine
            .metrics()
            .server(method, "unary", code_name(code), started.elapsed());
        let mut response = tonic::Response::new(result?);
        if let Ok(v) = tonic::metadata::MetadataValue::try_from(puid.as_str()) {
            response.metadata_mut().insert("seldon-puid", v);
        }
        Ok(response)
    }

    async fn run<I: Serialize, O: DeserializeOwned>(
        &self,
        action: &Action,
        headers: &HeaderMap,
        message: &I,
    ) -> Result<O, tonic::Status> {
        let body = serde_json::to_vec(message)
            .map_err(|e| tonic::Status::internal(format!("the request has no JSON form: {e}")))?;
        let payload = Payload {
            body,
            content_type: "application/json".to_string(),
        };
        let out = self
            .engine
            .run(action, headers, payload)
            .await
            .map_err(|e| status_of(&e))?;
        let invalid = |e: serde_json::Error| {
            tonic::Status::internal(format!(
                "the graph's answer is not a valid message of this rpc ({e}): {}",
                String::from_utf8_lossy(&out.body)
            ))
        };
        let mut answer: serde_json::Value = serde_json::from_slice(&out.body).map_err(invalid)?;
        if *action == Action::GraphMetadata {
            graph_metadata_fields(&mut answer);
        }
        serde_json::from_value(answer).map_err(invalid)
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

/// The gRPC status of an engine error: the code with the REST status's meaning, and the
/// error's text (or the component's own answer) as the message.
pub fn status_of(e: &graph::Error) -> tonic::Status {
    let message = match &e.body {
        Some(body) => String::from_utf8_lossy(body).into_owned(),
        None => e.info.clone(),
    };
    tonic::Status::new(code_of(e.status), message)
}

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
