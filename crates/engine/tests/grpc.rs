//! The orchestrator's gRPC API on a real socket (HTTP/2, tonic on both sides): Seldon's
//! `Predict`, `SendFeedback` and metadata over the same graph as REST, components called
//! over gRPC with their metadata, deadlines and statuses, and message size limits.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use sluice_api::proto::seldon::protos::{
    DefaultData, Feedback, SeldonMessage, SeldonModelMetadataRequest, Tensor, default_data, seldon_message,
};
use sluice_api::seldon::{PredictiveUnit, PredictorSpec};
use sluice_engine::graph::Protocol;
use sluice_engine::grpc::services::model_server::{Model, ModelServer};
use sluice_engine::grpc::services::seldon_client::SeldonClient;
use sluice_engine::mock::MockClassifier;
use sluice_engine::server::{Cors, MAX_BODY};
use sluice_engine::{Component, Config, Engine};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::transport::Channel;

const IMAGE: &str = "seldonio/mock_classifier:1.18.2";

fn unit(name: &str, kind: &str) -> PredictiveUnit {
    PredictiveUnit {
        name: name.into(),
        kind: Some(kind.into()),
        ..PredictiveUnit::default()
    }
}

fn config(root: PredictiveUnit, components: BTreeMap<String, Component>) -> Config {
    Config {
        deployment: "iris".into(),
        namespace: "seldon".into(),
        predictor: PredictorSpec {
            name: "default".into(),
            graph: root,
            ..PredictorSpec::default()
        },
        components,
        rest_timeout: None,
        grpc_timeout: None,
        prometheus_path: "/prometheus".into(),
        protocol: Protocol::Seldon,
        cors: Cors::default(),
        shared_metrics: None,
        max_body: MAX_BODY,
        max_grpc_message: MAX_BODY,
    }
}

async fn serve(config: Config) -> (SocketAddr, Arc<Engine>, watch::Sender<bool>) {
    let engine = Engine::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, rx) = watch::channel(false);
    tokio::spawn(engine.clone().serve(listener, rx));
    (addr, engine, stop)
}

async fn seldon(addr: SocketAddr) -> SeldonClient<Channel> {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    SeldonClient::new(channel)
        .max_decoding_message_size(64 << 20)
        .max_encoding_message_size(64 << 20)
}

fn tensor(shape: Vec<i32>, values: Vec<f64>) -> SeldonMessage {
    SeldonMessage {
        data_oneof: Some(seldon_message::DataOneof::Data(DefaultData {
            names: vec![],
            data_oneof: Some(default_data::DataOneof::Tensor(Tensor { shape, values })),
        })),
        ..SeldonMessage::default()
    }
}

fn values(message: &SeldonMessage) -> Vec<f64> {
    match &message.data_oneof {
        Some(seldon_message::DataOneof::Data(DefaultData {
            data_oneof: Some(default_data::DataOneof::Tensor(t)),
            ..
        })) => t.values.clone(),
        other => panic!("not a tensor: {other:?}"),
    }
}

/// A REST prediction: status and body.
async fn post(addr: SocketAddr, body: &str) -> (u16, String) {
    use http_body_util::BodyExt;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let request = http::Request::post(format!("http://{addr}/api/v1.0/predictions"))
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(bytes::Bytes::from(body.to_string())))
        .expect("request");
    let response = client.request(request).await.expect("response");
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.expect("body").to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

async fn rest(addr: SocketAddr, body: &str) -> serde_json::Value {
    let (status, body) = post(addr, body).await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).expect("JSON")
}

#[tokio::test]
async fn predict_over_grpc_runs_the_graph_rest_runs() {
    let mock = MockClassifier::new("classifier", IMAGE, &[]).expect("mock");
    let (addr, engine, _stop) = serve(config(
        unit("classifier", "MODEL"),
        BTreeMap::from([("classifier".into(), Component::Mock(mock))]),
    ))
    .await;
    let mut client = seldon(addr).await;
    let mut request = tonic::Request::new(tensor(vec![1, 3], vec![1.0, 2.0, 5.0]));
    request
        .metadata_mut()
        .insert("seldon-puid", "p-123".parse().expect("value"));
    let response = client.predict(request).await.expect("predict");
    assert_eq!(
        response
            .metadata()
            .get("seldon-puid")
            .and_then(|v| v.to_str().ok()),
        Some("p-123"),
        "the puid travels back as a header"
    );
    let over_grpc = values(response.get_ref());
    let over_rest = rest(
        addr,
        r#"{"data":{"tensor":{"shape":[1,3],"values":[1.0,2.0,5.0]}}}"#,
    )
    .await;
    assert_eq!(
        serde_json::json!(over_grpc),
        over_rest["data"]["tensor"]["values"],
        "the same numbers over both transports"
    );
    assert_eq!(over_grpc, vec![0.43782349911420193]);
    assert_eq!(
        response.get_ref().meta.as_ref().map(|m| m.request_path.clone()),
        Some(
            BTreeMap::from([("classifier".to_string(), IMAGE.to_string())])
                .into_iter()
                .collect()
        ),
    );

    // Without a puid one is made.
    let response = client
        .predict(tensor(vec![1, 3], vec![1.0, 2.0, 5.0]))
        .await
        .expect("predict");
    let puid = response
        .metadata()
        .get("seldon-puid")
        .and_then(|v| v.to_str().ok());
    assert_eq!(puid.map(str::len), Some(36), "a UUID: {puid:?}");

    // Feedback runs the feedback walk; the mock accepts it.
    let feedback = Feedback {
        request: Some(tensor(vec![1, 3], vec![1.0, 2.0, 5.0])),
        response: Some(response.get_ref().clone()),
        reward: 1.0,
        truth: None,
    };
    client.send_feedback(feedback).await.expect("feedback");

    // Metadata: the graph's, and a node that is not there (Seldon's error text).
    let graph = client
        .graph_metadata(pbjson_types::Empty {})
        .await
        .expect("graph metadata");
    assert_eq!(graph.get_ref().name, "default");
    assert!(graph.get_ref().models.contains_key("classifier"), "{graph:?}");
    let missing = client
        .model_metadata(SeldonModelMetadataRequest { name: "nope".into() })
        .await
        .expect_err("no such node");
    assert_eq!(missing.code(), tonic::Code::Unknown);
    assert_eq!(missing.message(), "Failed to find model nope");

    // Seldon's gRPC metrics: the full method, `unary`, the code's name.
    let text = engine.metrics_text();
    for series in [
        r#"service="/seldon.protos.Seldon/Predict",method="unary",code="OK"} 2"#,
        r#"service="/seldon.protos.Seldon/SendFeedback",method="unary",code="OK"} 1"#,
        r#"service="/seldon.protos.Seldon/ModelMetadata",method="unary",code="UNKNOWN"} 1"#,
    ] {
        assert!(
            text.lines().any(
                |l| l.starts_with("seldon_api_executor_server_requests_seconds_count") && l.ends_with(series)
            ),
            "{series} in\n{text}"
        );
    }
}

#[tokio::test]
async fn other_services_are_unimplemented_and_say_what_is_served() {
    let (addr, _engine, _stop) = serve(config(unit("m", "MODEL"), BTreeMap::new())).await;
    let channel = Channel::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    // A Model service call on the orchestrator (a component API it does not serve).
    let mut client = sluice_engine::grpc::services::model_client::ModelClient::new(channel);
    let status = client
        .predict(tensor(vec![1], vec![1.0]))
        .await
        .expect_err("unimplemented");
    assert_eq!(status.code(), tonic::Code::Unimplemented);
    assert!(status.message().contains("seldon.protos.Seldon"), "{status:?}");
}

#[tokio::test]
async fn messages_over_4_mib_pass_and_the_limit_is_a_resource_exhausted_status() {
    // SIMPLE_MODEL passes its input through: the answer is as large as the request.
    let n: i32 = (5 << 20) / 8;
    let (addr, _engine, _stop) = serve(config(
        unit("m", "MODEL"),
        BTreeMap::from([("m".into(), Component::Builtin)]),
    ))
    .await;
    let big: Vec<f64> = (0..n).map(f64::from).collect();
    let answer = seldon(addr)
        .await
        .predict(tensor(vec![1, n], big.clone()))
        .await
        .expect("a 5 MiB message under the 32 MiB default");
    assert_eq!(values(answer.get_ref()), big);

    let (addr, _engine, _stop) = serve(Config {
        max_grpc_message: 1 << 20,
        ..config(
            unit("m", "MODEL"),
            BTreeMap::from([("m".into(), Component::Builtin)]),
        )
    })
    .await;
    let status = seldon(addr)
        .await
        .predict(tensor(vec![1, n], big))
        .await
        .expect_err("over seldon.io/grpc-max-message-size");
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    assert!(
        status.message().contains("larger than 1048576 bytes"),
        "{status:?}"
    );
}

/// A `Model` component over gRPC: doubles the values; `strData: "bad"` is an
/// INVALID_ARGUMENT, `"internal"` an INTERNAL, `"deadline"` answers the `grpc-timeout` it got; `strData: "slow"` answers after 2 s; the `seldon` metadata it got
/// comes back in `meta.tags`.
#[derive(Debug)]
struct Doubler;

#[tonic::async_trait]
impl Model for Doubler {
    async fn predict(
        &self,
        request: tonic::Request<SeldonMessage>,
    ) -> Result<tonic::Response<SeldonMessage>, tonic::Status> {
        let seldon = request
            .metadata()
            .get("seldon")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let grpc_timeout = request
            .metadata()
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let message = request.into_inner();
        match &message.data_oneof {
            Some(seldon_message::DataOneof::StrData(s)) if s == "bad" => {
                return Err(tonic::Status::invalid_argument("bad input"));
            }
            Some(seldon_message::DataOneof::StrData(s)) if s == "internal" => {
                return Err(tonic::Status::internal("boom"));
            }
            Some(seldon_message::DataOneof::StrData(s)) if s == "deadline" => {
                return Ok(tonic::Response::new(SeldonMessage {
                    data_oneof: Some(seldon_message::DataOneof::StrData(
                        grpc_timeout.unwrap_or_else(|| "none".to_string()),
                    )),
                    ..SeldonMessage::default()
                }));
            }
            Some(seldon_message::DataOneof::StrData(s)) if s == "slow" => {
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            _ => {}
        }
        let mut answer = match &message.data_oneof {
            Some(seldon_message::DataOneof::Data(_)) => {
                tensor(vec![1, 3], values(&message).iter().map(|v| v * 2.0).collect())
            }
            _ => message.clone(),
        };
        let mut meta = answer.meta.take().unwrap_or_default();
        meta.tags
            .insert("seldon".into(), pbjson_types::Value::from(seldon));
        answer.meta = Some(meta);
        Ok(tonic::Response::new(answer))
    }

    async fn send_feedback(
        &self,
        _request: tonic::Request<Feedback>,
    ) -> Result<tonic::Response<SeldonMessage>, tonic::Status> {
        Ok(tonic::Response::new(SeldonMessage::default()))
    }

    async fn metadata(
        &self,
        _request: tonic::Request<pbjson_types::Empty>,
    ) -> Result<tonic::Response<sluice_api::proto::seldon::protos::SeldonModelMetadata>, tonic::Status> {
        Err(tonic::Status::unimplemented("no metadata"))
    }
}

/// The doubler on 127.0.0.1, served by hyper (HTTP/2 prior knowledge) as a gRPC server is.
async fn doubler() -> SocketAddr {
    use tonic::codegen::Service;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let service = hyper::service::service_fn(|request: http::Request<hyper::body::Incoming>| {
                let mut server = ModelServer::new(Doubler);
                async move { server.call(request).await }
            });
            tokio::spawn(
                hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service),
            );
        }
    });
    addr
}

#[tokio::test]
async fn grpc_components_get_metadata_deadlines_and_pass_their_statuses_on() {
    let component = doubler().await;
    let (addr, engine, _stop) = serve(Config {
        grpc_timeout: Some(Duration::from_millis(300)),
        ..config(
            unit("doubler", "MODEL"),
            BTreeMap::from([(
                "doubler".into(),
                Component::Grpc {
                    host: "127.0.0.1".into(),
                    port: component.port(),
                    image: "example/doubler:1.0".into(),
                },
            )]),
        )
    })
    .await;

    // gRPC in, gRPC to the component; the caller's metadata goes along.
    let mut client = seldon(addr).await;
    let mut request = tonic::Request::new(tensor(vec![1, 3], vec![1.0, 2.0, 5.0]));
    request
        .metadata_mut()
        .insert("seldon", "iris".parse().expect("value"));
    let answer = client.predict(request).await.expect("predict");
    assert_eq!(values(answer.get_ref()), vec![2.0, 4.0, 10.0]);
    let tags = &answer.get_ref().meta.as_ref().expect("meta").tags;
    assert_eq!(
        tags.get("seldon"),
        Some(&pbjson_types::Value::from("iris".to_string()))
    );

    // REST in, gRPC to the component.
    let body = rest(
        addr,
        r#"{"data":{"tensor":{"shape":[1,3],"values":[1.0,2.0,5.0]}}}"#,
    )
    .await;
    assert_eq!(
        body["data"]["tensor"]["values"],
        serde_json::json!([2.0, 4.0, 10.0]),
        "{body}"
    );

    // The component's status reaches the caller: as itself over gRPC, as 400 over REST.
    let bad = SeldonMessage {
        data_oneof: Some(seldon_message::DataOneof::StrData("bad".into())),
        ..SeldonMessage::default()
    };
    let status = client.predict(bad).await.expect_err("invalid");
    assert_eq!(
        (status.code(), status.message()),
        (tonic::Code::InvalidArgument, "bad input")
    );
    let (status, body) = post(addr, r#"{"strData":"bad"}"#).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("bad input"), "{body}");
    // Codes without an HTTP twin of their own pass through unchanged too.
    let internal = SeldonMessage {
        data_oneof: Some(seldon_message::DataOneof::StrData("internal".into())),
        ..SeldonMessage::default()
    };
    let status = client.predict(internal).await.expect_err("internal");
    assert_eq!((status.code(), status.message()), (tonic::Code::Internal, "boom"));
    assert!(
        status.metadata().get("seldon-puid").is_some(),
        "the puid goes with failures too"
    );

    // seldon.io/grpc-timeout is the call's deadline.
    let slow = SeldonMessage {
        data_oneof: Some(seldon_message::DataOneof::StrData("slow".into())),
        ..SeldonMessage::default()
    };
    let status = client.predict(slow).await.expect_err("deadline");
    assert_eq!(status.code(), tonic::Code::DeadlineExceeded, "{status:?}");

    // Client metrics name the component's rpc.
    let text = engine.metrics_text();
    let series = r#"service="/seldon.protos.Model/Predict",model_name="doubler",model_image="example/doubler",model_version="1.0",method="unary",code="OK"} 2"#;
    assert!(
        text.lines().any(
            |l| l.starts_with("seldon_api_executor_client_requests_seconds_count") && l.ends_with(series)
        ),
        "{series} in\n{text}"
    );
}

#[tokio::test]
async fn a_v2_predictor_serves_the_inference_service() {
    use sluice_api::proto::inference::{
        ModelMetadataRequest, ModelReadyRequest, ServerLiveRequest, ServerReadyRequest,
    };
    use sluice_engine::grpc::inference::grpc_inference_service_client::GrpcInferenceServiceClient;
    let (addr, _engine, _stop) = serve(Config {
        protocol: Protocol::V2,
        ..config(
            PredictiveUnit {
                implementation: Some("SIMPLE_MODEL".into()),
                ..unit("model", "MODEL")
            },
            BTreeMap::from([("model".into(), Component::Builtin)]),
        )
    })
    .await;
    let channel = Channel::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    let mut client = GrpcInferenceServiceClient::new(channel.clone());
    assert!(
        client
            .server_live(ServerLiveRequest {})
            .await
            .expect("live")
            .get_ref()
            .live
    );
    assert!(
        client
            .server_ready(ServerReadyRequest {})
            .await
            .expect("ready")
            .get_ref()
            .ready
    );
    let ready = client
        .model_ready(ModelReadyRequest {
            name: "model".into(),
            version: String::new(),
        })
        .await
        .expect("model ready");
    assert!(ready.get_ref().ready);
    let metadata = client
        .model_metadata(ModelMetadataRequest {
            name: "model".into(),
            version: String::new(),
        })
        .await
        .expect("metadata");
    assert_eq!(
        metadata.get_ref().name,
        "SIMPLE_MODEL",
        "the built-in answers for itself"
    );
    let missing = client
        .model_ready(ModelReadyRequest {
            name: "nope".into(),
            version: String::new(),
        })
        .await
        .expect_err("no such node");
    assert_eq!(
        (missing.code(), missing.message()),
        (tonic::Code::Unknown, "Failed to find model nope")
    );
    // Seldon's service is not what a v2 predictor serves.
    let status = SeldonClient::new(channel)
        .predict(tensor(vec![1], vec![1.0]))
        .await
        .expect_err("unimplemented");
    assert_eq!(status.code(), tonic::Code::Unimplemented);
    assert!(
        status.message().contains("inference.GRPCInferenceService"),
        "{status:?}"
    );
}

/// An Open Inference Protocol model over gRPC: doubles FP64 inputs into output `doubled`;
/// ready only under the name `model`, and not when the call carries `x-not-ready`.
#[derive(Debug)]
struct V2Doubler;

#[tonic::async_trait]
impl sluice_engine::grpc::inference::grpc_inference_service_server::GrpcInferenceService for V2Doubler {
    async fn server_live(
        &self,
        _r: tonic::Request<sluice_api::proto::inference::ServerLiveRequest>,
    ) -> Result<tonic::Response<sluice_api::proto::inference::ServerLiveResponse>, tonic::Status> {
        Ok(tonic::Response::new(
            sluice_api::proto::inference::ServerLiveResponse { live: true },
        ))
    }
    async fn server_ready(
        &self,
        _r: tonic::Request<sluice_api::proto::inference::ServerReadyRequest>,
    ) -> Result<tonic::Response<sluice_api::proto::inference::ServerReadyResponse>, tonic::Status> {
        Ok(tonic::Response::new(
            sluice_api::proto::inference::ServerReadyResponse { ready: true },
        ))
    }
    async fn model_ready(
        &self,
        r: tonic::Request<sluice_api::proto::inference::ModelReadyRequest>,
    ) -> Result<tonic::Response<sluice_api::proto::inference::ModelReadyResponse>, tonic::Status> {
        let ready = r.get_ref().name == "model" && r.metadata().get("x-not-ready").is_none();
        Ok(tonic::Response::new(
            sluice_api::proto::inference::ModelReadyResponse { ready },
        ))
    }
    async fn server_metadata(
        &self,
        _r: tonic::Request<sluice_api::proto::inference::ServerMetadataRequest>,
    ) -> Result<tonic::Response<sluice_api::proto::inference::ServerMetadataResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("no"))
    }
    async fn model_metadata(
        &self,
        _r: tonic::Request<sluice_api::proto::inference::ModelMetadataRequest>,
    ) -> Result<tonic::Response<sluice_api::proto::inference::ModelMetadataResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("no"))
    }
    async fn model_infer(
        &self,
        r: tonic::Request<sluice_api::proto::inference::ModelInferRequest>,
    ) -> Result<tonic::Response<sluice_api::proto::inference::ModelInferResponse>, tonic::Status> {
        use sluice_api::proto::inference::{InferTensorContents, ModelInferResponse, model_infer_response};
        let request = r.into_inner();
        let input = request
            .inputs
            .first()
            .ok_or_else(|| tonic::Status::invalid_argument("no input"))?;
        let values: Vec<f64> = input
            .contents
            .as_ref()
            .map(|c| c.fp64_contents.iter().map(|v| v * 2.0).collect())
            .unwrap_or_default();
        Ok(tonic::Response::new(ModelInferResponse {
            model_name: request.model_name.clone(),
            outputs: vec![model_infer_response::InferOutputTensor {
                name: "doubled".into(),
                datatype: "FP64".into(),
                shape: input.shape.clone(),
                contents: Some(InferTensorContents {
                    fp64_contents: values,
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        }))
    }
}

#[tokio::test]
async fn a_v2_component_over_grpc_from_rest_and_grpc_callers() {
    use sluice_api::proto::inference::{
        InferTensorContents, ModelInferRequest, ModelReadyRequest, model_infer_request,
    };
    use sluice_engine::grpc::inference::grpc_inference_service_client::GrpcInferenceServiceClient;
    use sluice_engine::grpc::inference::grpc_inference_service_server::GrpcInferenceServiceServer;
    use tonic::codegen::Service;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let component = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let service = hyper::service::service_fn(|request: http::Request<hyper::body::Incoming>| {
                let mut server = GrpcInferenceServiceServer::new(V2Doubler);
                async move { server.call(request).await }
            });
            tokio::spawn(
                hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service),
            );
        }
    });
    let (addr, _engine, _stop) = serve(Config {
        protocol: Protocol::V2,
        ..config(
            unit("model", "MODEL"),
            BTreeMap::from([(
                "model".into(),
                Component::Grpc {
                    host: "127.0.0.1".into(),
                    port: component.port(),
                    image: "example/v2:1".into(),
                },
            )]),
        )
    })
    .await;

    // REST in: /v2/models/infer becomes ModelInfer on the component.
    use http_body_util::BodyExt;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let body = r#"{"inputs":[{"name":"x","datatype":"FP64","shape":[1,2],"data":[1.5,2.0]}]}"#;
    let request = http::Request::post(format!("http://{addr}/v2/models/infer"))
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(bytes::Bytes::from(body)))
        .expect("request");
    let response = client.request(request).await.expect("response");
    assert_eq!(response.status(), 200);
    let answer: serde_json::Value =
        serde_json::from_slice(&response.into_body().collect().await.expect("body").to_bytes())
            .expect("JSON");
    assert_eq!(
        answer["outputs"][0]["data"],
        serde_json::json!([3.0, 4.0]),
        "{answer}"
    );
    assert_eq!(
        answer["model_name"], "model",
        "the node's name is the model_name sent"
    );

    // gRPC in.
    let channel = Channel::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    let mut v2 = GrpcInferenceServiceClient::new(channel);
    let answer = v2
        .model_infer(ModelInferRequest {
            inputs: vec![model_infer_request::InferInputTensor {
                name: "x".into(),
                datatype: "FP64".into(),
                shape: vec![1, 1],
                contents: Some(InferTensorContents {
                    fp64_contents: vec![21.0],
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        })
        .await
        .expect("infer");
    let contents = answer.get_ref().outputs[0].contents.clone().expect("contents");
    assert_eq!(contents.fp64_contents, vec![42.0]);

    // Readiness is the component's: ready under its name, not ready under another
    // (`ready: false` over gRPC, 503 over REST).
    let ready = |name: &str| ModelReadyRequest {
        name: name.into(),
        version: String::new(),
    };
    assert!(
        v2.model_ready(ready("model"))
            .await
            .expect("ready")
            .get_ref()
            .ready
    );
    let mut not_ready = tonic::Request::new(ready("model"));
    not_ready
        .metadata_mut()
        .insert("x-not-ready", "1".parse().expect("value"));
    assert!(
        !v2.model_ready(not_ready)
            .await
            .expect("an answer")
            .get_ref()
            .ready
    );
    for (header, status) in [(None, 200), (Some("1"), 503)] {
        let mut request = http::Request::get(format!("http://{addr}/v2/models/model/ready"));
        if let Some(v) = header {
            request = request.header("x-not-ready", v);
        }
        let request = request
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .expect("request");
        assert_eq!(client.request(request).await.expect("response").status(), status);
    }
}

#[tokio::test]
async fn the_callers_grpc_timeout_bounds_the_component_calls() {
    let component = doubler().await;
    let (addr, _engine, _stop) = serve(config(
        unit("doubler", "MODEL"),
        BTreeMap::from([(
            "doubler".into(),
            Component::Grpc {
                host: "127.0.0.1".into(),
                port: component.port(),
                image: "example/doubler:1.0".into(),
            },
        )]),
    ))
    .await;
    let deadline = || SeldonMessage {
        data_oneof: Some(seldon_message::DataOneof::StrData("deadline".into())),
        ..SeldonMessage::default()
    };
    let seen = |answer: &SeldonMessage| match &answer.data_oneof {
        Some(seldon_message::DataOneof::StrData(s)) => s.clone(),
        other => panic!("not strData: {other:?}"),
    };
    let mut client = seldon(addr).await;
    // No seldon.io/grpc-timeout and no caller deadline: the component call has none.
    let answer = client.predict(deadline()).await.expect("answer");
    assert_eq!(seen(answer.get_ref()), "none");
    // The caller's 5 s travel on: the component gets what is left of them.
    let mut request = tonic::Request::new(deadline());
    request.set_timeout(Duration::from_secs(5));
    let answer = client.predict(request).await.expect("answer");
    let got = sluice_engine::grpc::parse_timeout(&seen(answer.get_ref())).expect("a grpc-timeout");
    assert!(got > Duration::ZERO && got <= Duration::from_secs(5), "{got:?}");
}
