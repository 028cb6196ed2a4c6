//! Component calls over gRPC (`endpoint.type: GRPC`), as Seldon's executor makes them
//! (spec `seldon-wire.md` §1.7, §2.2): the graph step picks the component service and rpc
//! (Seldon's component services, or `ModelInfer`/`ModelReady`/`ModelMetadata` for v2), the
//! JSON payload becomes the rpc's message, the request's headers go along as metadata, and
//! the answer comes back as JSON for the graph.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use http::HeaderMap;
use serde::Serialize;
use sluice_api::proto::seldon::protos::{Feedback, SeldonMessage, SeldonMessageList};
use tonic::transport::{Channel, Endpoint};

use super::services::{
    combiner_client::CombinerClient, model_client::ModelClient,
    output_transformer_client::OutputTransformerClient, router_client::RouterClient,
    transformer_client::TransformerClient,
};
use crate::graph::{Error, Method, Payload, Protocol};
use crate::grpc::inference::grpc_inference_service_client::GrpcInferenceServiceClient;
use sluice_api::proto::inference as v2p;

/// One HTTP/2 connection per component address, opened on first use and shared by every
/// call (tonic multiplexes them).
#[derive(Debug, Default)]
pub struct Channels(Mutex<HashMap<String, Channel>>);

impl Channels {
    fn get(&self, host: &str, port: u16) -> Result<Channel, Error> {
        let target = format!("http://{host}:{port}");
        let mut channels = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(channel) = channels.get(&target) {
            return Ok(channel.clone());
        }
        let channel = Endpoint::from_shared(target.clone())
            .map_err(|e| Error::internal(format!("{target} is not a gRPC address: {e}")))?
            .tcp_nodelay(true)
            .connect_lazy();
        channels.insert(target, channel.clone());
        Ok(channel)
    }
}

/// One component call over gRPC.
#[derive(Debug)]
pub(crate) struct Call<'a> {
    pub(crate) channels: &'a Channels,
    pub(crate) host: &'a str,
    pub(crate) port: u16,
    /// Forwarded as metadata (the executor forwards every incoming key).
    pub(crate) headers: &'a HeaderMap,
    /// `seldon.io/grpc-timeout`, as the call's deadline.
    pub(crate) timeout: Option<Duration>,
    /// The largest message sent or received.
    pub(crate) max_message: usize,
    /// The predictor's protocol: Seldon's component services, or v2's inference service.
    pub(crate) protocol: Protocol,
    /// The model the call names (v2's `model_name`): the node, or the request's override.
    pub(crate) model: &'a str,
}

/// The full rpc path of a graph step on a component: the metrics' `service` label.
pub fn rpc_path(protocol: Protocol, method: Method) -> &'static str {
    if protocol == Protocol::V2 {
        return match method {
            Method::Status => "/inference.GRPCInferenceService/ModelReady",
            Method::Metadata => "/inference.GRPCInferenceService/ModelMetadata",
            _ => "/inference.GRPCInferenceService/ModelInfer",
        };
    }
    match method {
        Method::Predict => "/seldon.protos.Model/Predict",
        Method::TransformInput => "/seldon.protos.Transformer/TransformInput",
        Method::TransformOutput => "/seldon.protos.OutputTransformer/TransformOutput",
        Method::Route => "/seldon.protos.Router/Route",
        Method::Aggregate => "/seldon.protos.Combiner/Aggregate",
        Method::SendFeedback => "/seldon.protos.Model/SendFeedback",
        Method::Metadata => "/seldon.protos.Model/Metadata",
        Method::Status => "/seldon.protos.Model/Status",
    }
}

impl Call<'_> {
    /// Make the call for `method` with `payload` (JSON); the answer as JSON, or the
    /// component's status as an error.
    pub(crate) async fn make(&self, method: Method, payload: &Payload) -> Result<Payload, Error> {
        let channel = self.channels.get(self.host, self.port)?;
        if self.protocol == Protocol::V2 {
            return self.v2(channel, method, payload).await;
        }
        let limit = self.max_message;
        macro_rules! client {
            ($client:ident) => {
                $client::new(channel)
                    .max_decoding_message_size(limit)
                    .max_encoding_message_size(limit)
            };
        }
        let body = match method {
            Method::Predict => json(
                client!(ModelClient)
                    .predict(self.request(message(payload)?))
                    .await,
            )?,
            Method::TransformInput => json(
                client!(TransformerClient)
                    .transform_input(self.request(message(payload)?))
                    .await,
            )?,
            Method::TransformOutput => json(
                client!(OutputTransformerClient)
                    .transform_output(self.request(message(payload)?))
                    .await,
            )?,
            Method::Route => json(client!(RouterClient).route(self.request(message(payload)?)).await)?,
            Method::Aggregate => {
                let list: SeldonMessageList = serde_json::from_slice::<Vec<SeldonMessage>>(&payload.body)
                    .map(|seldon_messages| SeldonMessageList { seldon_messages })
                    .map_err(|e| invalid("SeldonMessage list", &e))?;
                json(client!(CombinerClient).aggregate(self.request(list)).await)?
            }
            Method::SendFeedback => {
                let feedback: Feedback =
                    serde_json::from_slice(&payload.body).map_err(|e| invalid("Feedback", &e))?;
                json(client!(ModelClient).send_feedback(self.request(feedback)).await)?
            }
            Method::Metadata => json(
                client!(ModelClient)
                    .metadata(self.request(pbjson_types::Empty {}))
                    .await,
            )?,
            // Seldon's gRPC client has no status call either.
            Method::Status => return Err(Error::internal("Not implemented")),
        };
        Ok(Payload {
            body,
            content_type: "application/json".to_string(),
        })
    }

    /// An Open Inference Protocol call: the executor's v2 client makes only these three.
    async fn v2(&self, channel: Channel, method: Method, payload: &Payload) -> Result<Payload, Error> {
        let mut client = GrpcInferenceServiceClient::new(channel)
            .max_decoding_message_size(self.max_message)
            .max_encoding_message_size(self.max_message);
        let model = self.model.to_string();
        let body = match method {
            Method::Predict | Method::TransformInput | Method::TransformOutput => {
                let json: serde_json::Value =
                    serde_json::from_slice(&payload.body).map_err(|e| invalid("v2 inference request", &e))?;
                let request = super::v2::request_proto(&json, &model).map_err(|e| Error {
                    status: 400,
                    info: format!("the message cannot be sent over gRPC: {e}"),
                    body: None,
                    grpc_code: None,
                })?;
                let answer = client
                    .model_infer(self.request(request))
                    .await
                    .map_err(status_error)?;
                let json = super::v2::response_json(answer.get_ref()).map_err(Error::internal)?;
                serde_json::to_vec(&json).map_err(|e| Error::internal(e.to_string()))?
            }
            Method::Status => {
                let answer = client
                    .model_ready(self.request(v2p::ModelReadyRequest {
                        name: model.clone(),
                        version: String::new(),
                    }))
                    .await
                    .map_err(status_error)?;
                // Not ready is an error, as REST's `/v2/models/<m>/ready` answers it (not a 200).
                if !answer.get_ref().ready {
                    return Err(Error {
                        status: 503,
                        info: format!("model {model} is not ready"),
                        body: None,
                        grpc_code: None,
                    });
                }
                serde_json::to_vec(&serde_json::json!({"ready": true}))
                    .map_err(|e| Error::internal(e.to_string()))?
            }
            Method::Metadata => {
                let answer = client
                    .model_metadata(self.request(v2p::ModelMetadataRequest {
                        name: model,
                        version: String::new(),
                    }))
                    .await
                    .map_err(status_error)?;
                serde_json::to_vec(&super::v2::metadata_json(answer.get_ref()))
                    .map_err(|e| Error::internal(e.to_string()))?
            }
            Method::Route | Method::Aggregate | Method::SendFeedback => {
                return Err(Error::internal(format!(
                    "{} is not part of the Open Inference Protocol's gRPC service",
                    method.path()
                )));
            }
        };
        Ok(Payload {
            body,
            content_type: "application/json".to_string(),
        })
    }

    /// `message` with the request's headers as metadata (minus HTTP's own and gRPC's
    /// reserved ones, which gRPC does not send as metadata) and the deadline.
    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        // Every key goes along, binary (`-bin`) ones included, as the executor forwards them.
        *request.metadata_mut() = tonic::metadata::MetadataMap::from_headers(forwarded(self.headers));
        if let Some(t) = self.timeout {
            request.set_timeout(t);
        }
        request
    }
}

/// The request's headers a component call carries: all but HTTP's own and gRPC's
/// reserved ones (which gRPC never sends as metadata).
pub(crate) fn forwarded(headers: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let reserved = matches!(
            name.as_str(),
            "content-type" | "content-length" | "host" | "te" | "user-agent" | "connection"
        ) || name.as_str().starts_with("grpc-");
        if !reserved {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

/// The payload as the rpc's request message.
fn message(payload: &Payload) -> Result<SeldonMessage, Error> {
    serde_json::from_slice(&payload.body).map_err(|e| invalid("SeldonMessage", &e))
}

fn invalid(what: &str, e: &serde_json::Error) -> Error {
    Error {
        status: 400,
        info: format!("the message cannot be sent over gRPC: it is not a {what} ({e})"),
        body: None,
        grpc_code: None,
    }
}

/// A component's answer as JSON, or its status as an error.
fn json<T: Serialize>(answer: Result<tonic::Response<T>, tonic::Status>) -> Result<Vec<u8>, Error> {
    let message = answer.map_err(status_error)?;
    serde_json::to_vec(message.get_ref()).map_err(|e| Error::internal(e.to_string()))
}

/// A component's status as an engine error with the same meaning.
fn status_error(status: tonic::Status) -> Error {
    // tonic reports its own deadline as CANCELLED "Timeout expired"; gRPC (and grpc-go,
    // which Seldon's executor uses) calls it DEADLINE_EXCEEDED.
    let expired =
        status.code() == tonic::Code::Cancelled && status.message() == tonic::TimeoutExpired(()).to_string();
    let code = if expired {
        tonic::Code::DeadlineExceeded
    } else {
        status.code()
    };
    Error {
        status: http_status(code),
        info: status.message().to_string(),
        body: None,
        // The code itself reaches a gRPC caller unchanged (the HTTP status is its meaning
        // for REST callers).
        grpc_code: Some(code as i32),
    }
}

/// The HTTP status with the meaning of a gRPC code (the inverse of
/// [`code_of`](super::code_of)).
pub fn http_status(code: tonic::Code) -> u16 {
    use tonic::Code;
    match code {
        Code::Ok => 200,
        Code::InvalidArgument | Code::OutOfRange | Code::FailedPrecondition => 400,
        Code::Unauthenticated => 401,
        Code::PermissionDenied => 403,
        Code::NotFound => 404,
        Code::Aborted | Code::AlreadyExists => 409,
        Code::ResourceExhausted => 429,
        Code::Cancelled => 499,
        Code::Unimplemented => 501,
        Code::Unavailable => 503,
        Code::DeadlineExceeded => 504,
        Code::Unknown | Code::Internal | Code::DataLoss => 500,
    }
}
