//! `sluice predict`: one prediction (or a measured run of many) through a gateway, over
//! REST or gRPC, in Seldon's protocol or the Open Inference Protocol — what users reach
//! for before writing a client. The request body and the latency summary are pure
//! functions; the rest is the two clients.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use sluice_api::proto::inference::ModelInferRequest;
use sluice_api::proto::seldon::protos::SeldonMessage;
use sluice_engine::grpc::inference::grpc_inference_service_client::GrpcInferenceServiceClient;
use sluice_engine::grpc::services::seldon_client::SeldonClient;

/// The API a deployment speaks (`spec.protocol`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Api {
    /// Seldon's (`/api/v1.0/predictions`, `seldon.protos.Seldon/Predict`).
    Seldon,
    /// The Open Inference Protocol (`/v2/models/<model>/infer`, `ModelInfer`).
    V2,
}

/// `sluice predict`'s flags.
#[derive(Debug)]
pub(crate) struct PredictArgs {
    pub(crate) deployment: String,
    pub(crate) namespace: String,
    pub(crate) gateway: String,
    pub(crate) grpc: bool,
    pub(crate) api: Api,
    pub(crate) data: Option<String>,
    pub(crate) payload: Option<String>,
    pub(crate) model: Option<String>,
    pub(crate) host: Option<String>,
    pub(crate) requests: u32,
    pub(crate) concurrency: u32,
    pub(crate) timeout: Duration,
}

/// The request body: `--payload` as it is, else `--data` (a JSON array of rows) wrapped as
/// the protocol wants it.
pub(crate) fn body(api: Api, data: Option<&str>, payload: Option<&str>) -> Result<Value> {
    if let Some(p) = payload {
        return serde_json::from_str(p).context("--payload is not JSON");
    }
    let data = data.unwrap_or("[[1.0,2.0,5.0]]");
    let rows: Value = serde_json::from_str(data)
        .with_context(|| format!("--data {data:?} is not JSON: write rows, e.g. '[[1.0,2.0]]'"))?;
    if !rows.is_array() {
        bail!("--data {data:?} is not a JSON array: write rows, e.g. '[[1.0,2.0]]'");
    }
    Ok(match api {
        Api::Seldon => json!({"data": {"ndarray": rows}}),
        Api::V2 => {
            let (shape, flat) = flatten(&rows)?;
            let datatype = if flat.iter().all(Value::is_number) {
                "FP64"
            } else {
                "BYTES"
            };
            json!({"inputs": [{"name": "input-0", "datatype": datatype, "shape": shape, "data": flat}]})
        }
    })
}

/// The shape and row-major elements of nested arrays of equal lengths.
fn flatten(value: &Value) -> Result<(Vec<usize>, Vec<Value>)> {
    match value {
        Value::Array(items) => {
            let mut shape = vec![items.len()];
            let mut flat = Vec::new();
            let mut inner: Option<Vec<usize>> = None;
            for item in items {
                let (s, f) = flatten(item)?;
                if inner.as_ref().is_some_and(|i| *i != s) {
                    bail!("--data rows have different lengths: a v2 tensor needs a rectangular array");
                }
                inner = Some(s);
                flat.extend(f);
            }
            shape.extend(inner.unwrap_or_default());
            Ok((shape, flat))
        }
        other => Ok((Vec::new(), vec![other.clone()])),
    }
}

/// Latencies of a run, in the order they finished, and the failures' descriptions.
#[derive(Debug, Default)]
pub(crate) struct Run {
    pub(crate) latencies: Vec<Duration>,
    pub(crate) failures: Vec<String>,
    pub(crate) took: Duration,
}

/// The run as a few lines: counts, rate, and latency percentiles of the successes.
pub(crate) fn summary(run: &Run) -> String {
    let mut sorted = run.latencies.clone();
    sorted.sort();
    let total = sorted.len() + run.failures.len();
    let at = |q: f64| -> String {
        if sorted.is_empty() {
            return "-".to_string();
        }
        // Nearest rank.
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        format!("{:.2} ms", sorted[rank - 1].as_secs_f64() * 1e3)
    };
    let rate = total as f64 / run.took.as_secs_f64().max(1e-9);
    let mut out = format!(
        "requests: {total}, succeeded: {}, failed: {}, in {:.2} s ({rate:.0} req/s)\n\
         latency of successes: p50 {}, p90 {}, p99 {}, max {}\n",
        sorted.len(),
        run.failures.len(),
        run.took.as_secs_f64(),
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0),
    );
    let mut kinds: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for f in &run.failures {
        *kinds.entry(f.as_str()).or_default() += 1;
    }
    for (kind, n) in kinds {
        out.push_str(&format!("  {n} × {kind}\n"));
    }
    out
}

/// One request's transport.
enum Caller {
    Rest {
        client: Client<HttpConnector, Full<Bytes>>,
        url: String,
        host: Option<String>,
        body: Bytes,
    },
    Grpc {
        client: SeldonClient<tonic::transport::Channel>,
        message: Box<SeldonMessage>,
        metadata: Metadata,
    },
    GrpcV2 {
        client: GrpcInferenceServiceClient<tonic::transport::Channel>,
        message: Box<ModelInferRequest>,
        metadata: Metadata,
    },
}

/// The `seldon` and `namespace` metadata the gateway's gRPC route matches on.
#[derive(Debug, Clone)]
struct Metadata {
    deployment: String,
    namespace: String,
}

impl Metadata {
    fn request<T>(&self, message: T, timeout: Duration) -> Result<tonic::Request<T>, String> {
        let mut request = tonic::Request::new(message);
        request.set_timeout(timeout);
        let metadata = request.metadata_mut();
        for (key, value) in [("seldon", &self.deployment), ("namespace", &self.namespace)] {
            let value = value
                .parse()
                .map_err(|_| format!("{value:?} cannot be gRPC metadata"))?;
            metadata.insert(key, value);
        }
        Ok(request)
    }
}

/// A gRPC status as one line.
fn status_text(status: &tonic::Status) -> String {
    let code = sluice_engine::grpc::code_name(status.code());
    match status.message() {
        "" => format!("gRPC status {code}"),
        message => format!("gRPC status {code}: {message}"),
    }
}

impl Caller {
    /// One call: the answer's text, or why it failed.
    async fn call(&self, timeout: Duration) -> Result<String, String> {
        match self {
            Caller::Rest {
                client,
                url,
                host,
                body,
            } => {
                let mut request = Request::post(url.as_str()).header("content-type", "application/json");
                if let Some(h) = host {
                    request = request.header("host", h.as_str());
                }
                let request = request.body(Full::new(body.clone())).map_err(|e| e.to_string())?;
                let answer = tokio::time::timeout(timeout, async {
                    let response = client.request(request).await.map_err(|e| format!("{url}: {e}"))?;
                    let status = response.status();
                    let body = response
                        .into_body()
                        .collect()
                        .await
                        .map_err(|e| e.to_string())?
                        .to_bytes();
                    let text = String::from_utf8_lossy(&body).trim_end().to_string();
                    match (status, text.as_str()) {
                        (StatusCode::OK, _) => Ok(text),
                        (_, "") => Err(format!("HTTP {status}")),
                        _ => Err(format!("HTTP {status}: {text}")),
                    }
                })
                .await;
                answer.unwrap_or_else(|_| Err(format!("no answer within {timeout:?}")))
            }
            Caller::Grpc {
                client,
                message,
                metadata,
            } => {
                let request = metadata.request(SeldonMessage::clone(message), timeout)?;
                let answer = client
                    .clone()
                    .predict(request)
                    .await
                    .map_err(|s| status_text(&s))?;
                serde_json::to_string(answer.get_ref()).map_err(|e| e.to_string())
            }
            Caller::GrpcV2 {
                client,
                message,
                metadata,
            } => {
                let request = metadata.request(ModelInferRequest::clone(message), timeout)?;
                let answer = client
                    .clone()
                    .model_infer(request)
                    .await
                    .map_err(|s| status_text(&s))?;
                sluice_engine::grpc::v2::response_json(answer.get_ref()).map(|json| json.to_string())
            }
        }
    }
}

/// Run `sluice predict`.
pub(crate) fn predict(args: PredictArgs) -> Result<ExitCode> {
    if args.requests == 0 || args.concurrency == 0 {
        bail!("--requests and --concurrency must be at least 1");
    }
    let body = body(args.api, args.data.as_deref(), args.payload.as_deref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    runtime.block_on(async move {
        let caller = Arc::new(caller(&args, body)?);
        if args.requests == 1 {
            return Ok(match caller.call(args.timeout).await {
                Ok(text) => {
                    println!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("sluice predict: {e}");
                    ExitCode::FAILURE
                }
            });
        }
        let run = measure(caller, args.requests, args.concurrency, args.timeout).await;
        print!("{}", summary(&run));
        Ok(if run.failures.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    })
}

fn caller(args: &PredictArgs, body: Value) -> Result<Caller> {
    let gateway = args.gateway.trim_end_matches('/');
    let authority = gateway.strip_prefix("http://").unwrap_or(gateway).to_string();
    if args.grpc {
        let mut endpoint = tonic::transport::Endpoint::from_shared(format!("http://{authority}"))
            .with_context(|| format!("--gateway {gateway:?} is not HOST:PORT"))?
            .tcp_nodelay(true);
        if let Some(h) = &args.host {
            let uri = format!("http://{h}")
                .parse()
                .with_context(|| format!("--host {h:?} is not a host name"))?;
            endpoint = endpoint.origin(uri);
        }
        let channel = endpoint.connect_lazy();
        let metadata = Metadata {
            deployment: args.deployment.clone(),
            namespace: args.namespace.clone(),
        };
        return Ok(match args.api {
            Api::Seldon => Caller::Grpc {
                client: SeldonClient::new(channel).max_decoding_message_size(usize::MAX),
                message: Box::new(
                    serde_json::from_value(body).context("the payload is not a SeldonMessage")?,
                ),
                metadata,
            },
            Api::V2 => Caller::GrpcV2 {
                client: GrpcInferenceServiceClient::new(channel).max_decoding_message_size(usize::MAX),
                message: Box::new(
                    sluice_engine::grpc::v2::request_proto(&body, args.model.as_deref().unwrap_or_default())
                        .map_err(anyhow::Error::msg)
                        .context("the payload is not a v2 inference request")?,
                ),
                metadata,
            },
        });
    }
    let path = match (args.api, &args.model) {
        (Api::Seldon, _) => "api/v1.0/predictions".to_string(),
        (Api::V2, Some(m)) => format!("v2/models/{m}/infer"),
        (Api::V2, None) => "v2/models/infer".to_string(),
    };
    let url = format!(
        "http://{authority}/seldon/{}/{}/{path}",
        args.namespace, args.deployment
    );
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Ok(Caller::Rest {
        client: Client::builder(TokioExecutor::new()).build(connector),
        url,
        host: args.host.clone(),
        body: Bytes::from(body.to_string()),
    })
}

/// `requests` calls, `concurrency` at a time.
async fn measure(caller: Arc<Caller>, requests: u32, concurrency: u32, timeout: Duration) -> Run {
    let next = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency.min(requests))
        .map(|_| {
            let (caller, next) = (caller.clone(), next.clone());
            tokio::spawn(async move {
                let mut run = Run::default();
                while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < requests {
                    let at = Instant::now();
                    match caller.call(timeout).await {
                        Ok(_) => run.latencies.push(at.elapsed()),
                        Err(e) => run.failures.push(e),
                    }
                }
                run
            })
        })
        .collect();
    let mut run = Run::default();
    for worker in workers {
        if let Ok(part) = worker.await {
            run.latencies.extend(part.latencies);
            run.failures.extend(part.failures);
        }
    }
    run.took = started.elapsed();
    run
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_becomes_the_protocols_body() {
        assert_eq!(
            body(Api::Seldon, Some("[[1,2]]"), None).expect("body"),
            json!({"data": {"ndarray": [[1, 2]]}})
        );
        assert_eq!(
            body(Api::V2, Some("[[1,2,3],[4,5,6]]"), None).expect("body"),
            json!({"inputs": [{"name": "input-0", "datatype": "FP64", "shape": [2, 3], "data": [1, 2, 3, 4, 5, 6]}]})
        );
        assert_eq!(
            body(Api::Seldon, None, Some(r#"{"strData":"hi"}"#)).expect("body"),
            json!({"strData": "hi"})
        );
        let ragged = body(Api::V2, Some("[[1,2],[3]]"), None).expect_err("ragged");
        assert!(ragged.to_string().contains("rectangular"), "{ragged}");
        let scalar = body(Api::Seldon, Some("3"), None).expect_err("not rows");
        assert!(scalar.to_string().contains("not a JSON array"), "{scalar}");
    }

    #[test]
    fn the_summary_counts_and_ranks() {
        let run = Run {
            latencies: (1..=100).map(Duration::from_millis).collect(),
            failures: vec!["HTTP 503".into(), "HTTP 503".into()],
            took: Duration::from_secs(2),
        };
        let text = summary(&run);
        assert!(
            text.contains("requests: 102, succeeded: 100, failed: 2"),
            "{text}"
        );
        assert!(text.contains("(51 req/s)"), "{text}");
        assert!(
            text.contains("p50 50.00 ms, p90 90.00 ms, p99 99.00 ms, max 100.00 ms"),
            "{text}"
        );
        assert!(text.contains("2 × HTTP 503"), "{text}");
    }
}
