//! Seldon's executor metrics (spec §7.7), with its names and labels, on `/prometheus`.

use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

const BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

fn histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// Labels of server-side requests.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ServerLabels {
    /// SDep name.
    pub deployment_name: String,
    /// Predictor name.
    pub predictor_name: String,
    /// The predictor annotation `version` (normally empty, as in Seldon).
    pub predictor_version: String,
    /// `predictions`, `feedback`, `status` or `metadata`.
    pub service: String,
    /// Lower-case HTTP method.
    pub method: String,
    /// HTTP status.
    pub code: String,
}

/// Labels of calls to components.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClientLabels {
    /// SDep name.
    pub deployment_name: String,
    /// Predictor name.
    pub predictor_name: String,
    /// The predictor annotation `version`.
    pub predictor_version: String,
    /// The path called, e.g. `/predict`.
    pub service: String,
    /// Node name.
    pub model_name: String,
    /// Image name.
    pub model_image: String,
    /// Image tag.
    pub model_version: String,
    /// Lower-case HTTP method.
    pub method: String,
    /// HTTP status.
    pub code: String,
}

/// The executor's metric families for one predictor.
#[derive(Debug)]
pub struct Metrics {
    registry: Mutex<Registry>,
    server: Family<ServerLabels, Histogram, fn() -> Histogram>,
    client: Family<ClientLabels, Histogram, fn() -> Histogram>,
    deployment: String,
    predictor: String,
    version: String,
}

impl Metrics {
    /// Metrics labelled with the deployment, predictor and predictor `version` annotation.
    pub fn new(deployment: &str, predictor: &str, version: &str) -> Self {
        let server = Family::<ServerLabels, Histogram, fn() -> Histogram>::new_with_constructor(histogram);
        let client = Family::<ClientLabels, Histogram, fn() -> Histogram>::new_with_constructor(histogram);
        let mut registry = Registry::default();
        registry.register(
            "seldon_api_executor_server_requests_seconds",
            "Server-side request latency",
            server.clone(),
        );
        registry.register(
            "seldon_api_executor_client_requests_seconds",
            "Latency of calls to components",
            client.clone(),
        );
        Metrics {
            registry: Mutex::new(registry),
            server,
            client,
            deployment: deployment.to_string(),
            predictor: predictor.to_string(),
            version: version.to_string(),
        }
    }

    /// Record a served request.
    pub fn server(&self, service: &str, method: &str, code: u16, took: Duration) {
        self.server
            .get_or_create(&ServerLabels {
                deployment_name: self.deployment.clone(),
                predictor_name: self.predictor.clone(),
                predictor_version: self.version.clone(),
                service: service.to_string(),
                method: method.to_ascii_lowercase(),
                code: code.to_string(),
            })
            .observe(took.as_secs_f64());
    }

    /// Record a component call.
    pub fn client(&self, node: &str, image: &str, call: (&str, &str), code: u16, took: Duration) {
        let (method, path) = call;
        let (model_image, model_version) = match image.split(':').collect::<Vec<_>>().as_slice() {
            [name, version] => (name.to_string(), version.to_string()),
            _ => (image.to_string(), String::new()),
        };
        self.client
            .get_or_create(&ClientLabels {
                deployment_name: self.deployment.clone(),
                predictor_name: self.predictor.clone(),
                predictor_version: self.version.clone(),
                service: path.to_string(),
                model_name: node.to_string(),
                model_image,
                model_version,
                method: method.to_string(),
                code: code.to_string(),
            })
            .observe(took.as_secs_f64());
    }

    /// Prometheus text (without the OpenMetrics `# EOF` line, so it can be merged).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        if encode(&mut out, &registry).is_err() {
            out.clear();
        }
        out.strip_suffix("# EOF\n").map(str::to_string).unwrap_or(out)
    }
}
