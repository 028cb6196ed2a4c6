//! How each graph node is reached: built in (passing messages through, as in Seldon's Go
//! executor), the mock classifier in process, or a component over REST in the predictor's
//! protocol.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderValue, Request, header};
use rand::RngExt;
use sluice_api::seldon::PredictiveUnit;
use sluice_pool::Http1Pool;

use crate::graph::{Error, Method, Nodes, Payload, Protocol};
use crate::metrics::Metrics;
use crate::mock::MockClassifier;

/// How one node is reached.
#[derive(Clone, Debug)]
pub enum Component {
    /// SIMPLE_MODEL, SIMPLE_ROUTER, AVERAGE_COMBINER: messages pass through, as in the
    /// executor (spec §8.2); status and metadata are answered for the node.
    Builtin,
    /// The mock classifier, in process.
    Mock(MockClassifier),
    /// A component serving the predictor's protocol over REST at `host:port`; `image`
    /// labels metrics.
    Http {
        /// Host or IP.
        host: String,
        /// Port.
        port: u16,
        /// Container image, for metrics.
        image: String,
    },
    /// A component serving Seldon's gRPC component services (`endpoint.type: GRPC`) at
    /// `host:port`; `image` labels metrics.
    Grpc {
        /// Host or IP.
        host: String,
        /// Port.
        port: u16,
        /// Container image, for metrics.
        image: String,
    },
}

/// Where a REST component is called, made once per engine: its `host:port` and the `Host`
/// header naming it (without `:80`, as HTTP clients write it).
#[derive(Clone, Debug)]
pub(crate) struct Address {
    pub(crate) endpoint: String,
    pub(crate) host: HeaderValue,
}

impl Address {
    fn new(host: &str, port: u16) -> Result<Address, http::header::InvalidHeaderValue> {
        let endpoint = format!("{host}:{port}");
        let host = sluice_pool::host_of(&endpoint)?;
        Ok(Address { endpoint, host })
    }

    /// The addresses of the REST components among `components`, by node.
    pub(crate) fn of_all(components: &BTreeMap<String, Component>) -> BTreeMap<String, Address> {
        components
            .iter()
            .filter_map(|(node, component)| match component {
                Component::Http { host, port, .. } => Some((node.clone(), Address::new(host, *port).ok()?)),
                _ => None,
            })
            .collect()
    }
}

impl Component {
    /// The address of a component reached over the network.
    pub fn address(&self) -> Option<(&str, u16)> {
        match self {
            Component::Http { host, port, .. } | Component::Grpc { host, port, .. } => Some((host, *port)),
            Component::Builtin | Component::Mock(_) => None,
        }
    }
}

/// The components of a graph plus the request's headers (forwarded to every call).
#[derive(Debug)]
pub struct Components<'a> {
    pub(crate) by_node: &'a BTreeMap<String, Component>,
    /// Keep-alive connections to REST components.
    pub(crate) client: &'a Http1Pool,
    /// The REST components' addresses, by node.
    pub(crate) addresses: &'a BTreeMap<String, Address>,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) timeout: Option<Duration>,
    pub(crate) metrics: &'a Metrics,
    pub(crate) protocol: Protocol,
    /// The model named in the request URL (`/v2/models/{model}/infer`): the executor then
    /// calls every node by that name.
    pub(crate) model: Option<&'a str>,
    /// The largest answer read from a component (the request limit: what a component
    /// answers is parsed and passed on like a request).
    pub(crate) max_body: u64,
    /// The gRPC connections of `Grpc` components.
    pub(crate) channels: &'a crate::grpc::client::Channels,
    /// Deadline of each gRPC component call (`seldon.io/grpc-timeout`).
    pub(crate) grpc_timeout: Option<Duration>,
    /// The largest gRPC message sent or received.
    pub(crate) max_grpc_message: usize,
    /// The caller's deadline (a gRPC caller's `grpc-timeout`): no component call lasts
    /// beyond it.
    pub(crate) deadline: Option<Instant>,
}

impl Nodes for Components<'_> {
    async fn call(&self, node: &PredictiveUnit, method: Method, payload: Payload) -> Result<Payload, Error> {
        match self.by_node.get(&node.name) {
            None | Some(Component::Builtin) => Ok(builtin(node, method, payload)),
            Some(Component::Mock(mock)) => {
                let started = Instant::now();
                let response = match method {
                    Method::Predict => mock.predict(&payload.body),
                    Method::TransformInput => mock.transform_input(&payload.body),
                    Method::SendFeedback => mock.send_feedback(&payload.body),
                    Method::Route => mock.not_defined("Route"),
                    Method::Aggregate => mock.not_defined("Aggregate"),
                    Method::TransformOutput => mock.not_defined("Transform output"),
                    Method::Status => mock.health_status(),
                    Method::Metadata => mock.metadata(),
                };
                // The mock answers 200, 400 or 500: always a status.
                let code = http::StatusCode::from_u16(response.status)
                    .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
                self.metrics.client(
                    self.model.unwrap_or(&node.name),
                    &mock.image,
                    (Wire::of(method).label, method.path()),
                    code.as_str(),
                    started.elapsed(),
                );
                if response.status == 200 {
                    Ok(Payload {
                        body: response.body,
                        content_type: "application/json".to_string(),
                    })
                } else {
                    Err(Error {
                        status: response.status,
                        info: String::from_utf8_lossy(&response.body).into_owned(),
                        body: Some(response.body),
                        grpc_code: None,
                    })
                }
            }
            Some(Component::Http { host, port, image }) => {
                // Every REST component's address was made with the engine; one missing
                // could not be a `Host` value.
                let Some(address) = self.addresses.get(&node.name) else {
                    return Err(Error::internal(format!(
                        "component {host}:{port} cannot be named in a Host header"
                    )));
                };
                self.http(node, method, payload, address, image).await
            }
            Some(Component::Grpc { host, port, image }) => {
                let call = crate::grpc::client::Call {
                    channels: self.channels,
                    host,
                    port: *port,
                    headers: self.headers,
                    timeout: self.within_deadline(self.grpc_timeout),
                    max_message: self.max_grpc_message,
                    protocol: self.protocol,
                    model: self.model.unwrap_or(&node.name),
                };
                let started = Instant::now();
                // Boxed: a gRPC call's state is kilobytes, and inline it would make every
                // request's future (REST ones too) that much larger to move.
                let result = Box::pin(call.make(method, &payload)).await;
                let code = match &result {
                    Ok(_) => "OK",
                    Err(e) => crate::grpc::code_name(crate::grpc::code_of(e.status)),
                };
                self.metrics.client(
                    self.model.unwrap_or(&node.name),
                    image,
                    ("unary", crate::grpc::client::rpc_path(self.protocol, method)),
                    code,
                    started.elapsed(),
                );
                result
            }
        }
    }

    fn random(&self) -> f64 {
        rand::rng().random::<f64>()
    }

    fn protocol(&self) -> Protocol {
        self.protocol
    }
}

/// How a component call goes on the wire: its HTTP method, the metrics label, and the
/// name Go's client gives it in errors (`Post "http://..."`).
struct Wire {
    method: http::Method,
    label: &'static str,
    verb: &'static str,
}

impl Wire {
    fn of(method: Method) -> Wire {
        if method.is_get() {
            Wire {
                method: http::Method::GET,
                label: "get",
                verb: "Get",
            }
        } else {
            Wire {
                method: http::Method::POST,
                label: "post",
                verb: "Post",
            }
        }
    }
}

/// A built-in implementation passes messages through (spec §8.2); asked for its status or
/// metadata, it answers for itself, as it has no container to ask.
fn builtin(node: &PredictiveUnit, method: Method, payload: Payload) -> Payload {
    let json = |value: serde_json::Value| Payload {
        body: value.to_string().into_bytes(),
        content_type: "application/json".to_string(),
    };
    match method {
        Method::Status => json(serde_json::json!({"status": "ok"})),
        Method::Metadata => json(serde_json::json!({
            "name": node.implementation.as_deref().unwrap_or(&node.name),
            "inputs": [],
            "outputs": [],
        })),
        _ => payload,
    }
}

impl Components<'_> {
    /// A call's timeout: `configured`, shortened to what is left of the caller's deadline.
    fn within_deadline(&self, configured: Option<Duration>) -> Option<Duration> {
        let left = self.deadline.map(|d| d.saturating_duration_since(Instant::now()));
        match (configured, left) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    async fn http(
        &self,
        node: &PredictiveUnit,
        method: Method,
        payload: Payload,
        address: &Address,
        image: &str,
    ) -> Result<Payload, Error> {
        let path = self.protocol.path(method, self.model.unwrap_or(&node.name));
        let endpoint = &address.endpoint;
        let url = || format!("http://{endpoint}{path}");
        let Wire {
            verb,
            label,
            method: http_method,
        } = Wire::of(method);
        let mut request = Request::new(sluice_pool::full(payload.body));
        *request.method_mut() = http_method;
        *request.uri_mut() = match &path {
            Cow::Borrowed(path) => http::Uri::from_static(path),
            Cow::Owned(path) => path
                .parse()
                .map_err(|e| Error::internal(format!("{verb} \"{}\": {e}", url())))?,
        };
        // Every client header goes along (as the executor does), but for the framing ones
        // and the host, which is the component's.
        let headers = request.headers_mut();
        *headers = self.headers.clone();
        headers.remove(header::CONTENT_LENGTH);
        headers.remove(header::TRANSFER_ENCODING);
        headers.insert(header::HOST, address.host.clone());
        match payload.content_type.as_str() {
            "application/json" => {
                headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))
            }
            other => match HeaderValue::try_from(other) {
                Ok(v) => headers.insert(header::CONTENT_TYPE, v),
                Err(_) => headers.remove(header::CONTENT_TYPE),
            },
        };
        let started = Instant::now();
        let call = async {
            let response = self
                .client
                .request(endpoint, request)
                .await
                .map_err(|e| Error::internal(format!("{verb} \"{}\": {e}", url())))?;
            let status = response.status();
            let content_type = response
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let declared = crate::body::content_length(response.headers());
            let body = crate::body::read(response.into_body(), declared, self.max_body)
                .await
                .map_err(|e| match e {
                    crate::body::ReadError::TooLarge => Error::internal(format!(
                        "{verb} \"{}\": the answer is larger than {} bytes",
                        url(),
                        self.max_body
                    )),
                    crate::body::ReadError::Failed(e) => Error::internal(format!("reading {}: {e}", url())),
                })?;
            Ok::<_, Error>((status, content_type, body))
        };
        let result = match self.within_deadline(self.timeout) {
            Some(t) => tokio::time::timeout(t, call).await.unwrap_or_else(|_| {
                Err(Error::internal(format!(
                    "{verb} \"{}\": timeout after {t:?}",
                    url()
                )))
            }),
            None => call.await,
        };
        let (status, content_type, body) = result?;
        let model = self.model.unwrap_or(&node.name);
        self.metrics
            .client(model, image, (label, &path), status.as_str(), started.elapsed());
        if status == http::StatusCode::OK {
            Ok(Payload { body, content_type })
        } else {
            Err(Error {
                status: status.as_u16(),
                info: String::from_utf8_lossy(&body).into_owned(),
                body: Some(body),
                grpc_code: None,
            })
        }
    }
}
