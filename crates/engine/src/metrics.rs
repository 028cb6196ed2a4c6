//! Seldon's executor metrics (spec §7.7), with its names and labels, on `/prometheus`:
//! a histogram and a summary each for served requests and for component calls.
//!
//! The families ([`Families`]) can be shared by the engines of one process (`sluice up`),
//! each engine's series then carrying its pod's name in a `pod` label, and registered in
//! the gateway's registry: one scrape, every family once and contiguous.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
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

/// A label set written by hand (for the summaries, which prometheus-client lacks).
trait Render {
    /// `name="value",...` in Seldon's label order, values escaped.
    fn render(&self) -> String;
}

fn render(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            let v = v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
            format!("{k}=\"{v}\"")
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The label scoping one engine's series among others: `pod="example-main-0"`, or none
/// for an engine alone in its process (as in a pod).
pub type Scope = Vec<(&'static str, String)>;

impl<L: Render> Render for (Scope, L) {
    fn render(&self) -> String {
        let (scope, labels) = self;
        let pairs: Vec<(&str, &str)> = scope.iter().map(|(k, v)| (*k, v.as_str())).collect();
        if pairs.is_empty() {
            labels.render()
        } else {
            format!("{},{}", render(&pairs), labels.render())
        }
    }
}

impl Render for ServerLabels {
    fn render(&self) -> String {
        render(&[
            ("deployment_name", &self.deployment_name),
            ("predictor_name", &self.predictor_name),
            ("predictor_version", &self.predictor_version),
            ("service", &self.service),
            ("method", &self.method),
            ("code", &self.code),
        ])
    }
}

impl Render for ClientLabels {
    fn render(&self) -> String {
        render(&[
            ("deployment_name", &self.deployment_name),
            ("predictor_name", &self.predictor_name),
            ("predictor_version", &self.predictor_version),
            ("service", &self.service),
            ("model_name", &self.model_name),
            ("model_image", &self.model_image),
            ("model_version", &self.model_version),
            ("method", &self.method),
            ("code", &self.code),
        ])
    }
}

/// The quantiles of Seldon's `_summary` metrics.
const QUANTILES: [f64; 6] = [0.5, 0.75, 0.9, 0.98, 0.99, 1.0];

/// How many recent observations a summary's quantiles are computed over.
const WINDOW: usize = 1024;

/// How many label sets a summary keeps (each holds up to [`WINDOW`] values). Model names
/// in request URLs become labels, so clients could otherwise grow it without bound.
const MAX_SERIES: usize = 1000;

/// One summary series: every observation's sum and count, and the most recent ones for
/// the quantiles. (Go's summary estimates them over a 10-minute window; this one uses the
/// last [`WINDOW`] observations, exact over those.)
#[derive(Debug, Default)]
struct Window {
    recent: VecDeque<f64>,
    sum: f64,
    count: u64,
}

impl Window {
    fn observe(&mut self, value: f64) {
        if self.recent.len() == WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back(value);
        self.sum += value;
        self.count += 1;
    }

    /// The nearest-rank quantiles of the recent observations (1.0 is the maximum).
    fn quantiles(&self) -> [(f64, f64); 6] {
        let mut sorted: Vec<f64> = self.recent.iter().copied().collect();
        sorted.sort_by(f64::total_cmp);
        QUANTILES.map(|q| {
            let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len().max(1));
            (q, sorted.get(rank - 1).copied().unwrap_or(f64::NAN))
        })
    }
}

/// The `_summary` families, by label set.
#[derive(Debug)]
struct Summaries<L> {
    name: &'static str,
    help: &'static str,
    series: Mutex<HashMap<L, Window>>,
}

impl<L: Hash + Eq> Summaries<L> {
    fn new(name: &'static str, help: &'static str) -> Self {
        Summaries {
            name,
            help,
            series: Mutex::default(),
        }
    }

    fn observe(&self, labels: L, value: f64) {
        let mut series = self.series.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(window) = series.get_mut(&labels) {
            window.observe(value);
        } else if series.len() < MAX_SERIES {
            series.entry(labels).or_default().observe(value);
        }
    }

    /// OpenMetrics text of the family, series in label order.
    fn encode(&self, out: &mut String)
    where
        L: Render,
    {
        // A copy, so that requests do not wait for the sorting and formatting.
        let mut rows: Vec<(String, Window)> = {
            let series = self.series.lock().unwrap_or_else(|p| p.into_inner());
            series
                .iter()
                .map(|(labels, w)| {
                    let copy = Window {
                        recent: w.recent.clone(),
                        sum: w.sum,
                        count: w.count,
                    };
                    (labels.render(), copy)
                })
                .collect()
        };
        if rows.is_empty() {
            return;
        }
        let name = self.name;
        let _ = writeln!(out, "# HELP {name} {}.", self.help);
        let _ = writeln!(out, "# TYPE {name} summary");
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        for (labels, window) in rows {
            for (q, v) in window.quantiles() {
                let _ = writeln!(out, "{name}{{{labels},quantile=\"{q}\"}} {v}");
            }
            let _ = writeln!(out, "{name}_sum{{{labels}}} {}", window.sum);
            let _ = writeln!(out, "{name}_count{{{labels}}} {}", window.count);
        }
    }
}

type Server = (Scope, ServerLabels);
type ClientCall = (Scope, ClientLabels);

/// The executor's metric families. Clones share them.
#[derive(Clone, Debug)]
pub struct Families {
    server: Family<Server, Histogram, fn() -> Histogram>,
    client: Family<ClientCall, Histogram, fn() -> Histogram>,
    server_summary: Arc<Summaries<Server>>,
    client_summary: Arc<Summaries<ClientCall>>,
}

impl Default for Families {
    fn default() -> Self {
        Families {
            server: Family::new_with_constructor(histogram),
            client: Family::new_with_constructor(histogram),
            server_summary: Arc::new(Summaries::new(
                "seldon_api_executor_server_requests_seconds_summary",
                "Server-side request latency",
            )),
            client_summary: Arc::new(Summaries::new(
                "seldon_api_executor_client_requests_seconds_summary",
                "Latency of calls to components",
            )),
        }
    }
}

impl Families {
    /// Register the histograms in `registry`. (prometheus-client has no summary type: the
    /// summaries are [`Families::summaries`]'s text.)
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "seldon_api_executor_server_requests_seconds",
            "Server-side request latency",
            self.server.clone(),
        );
        registry.register(
            "seldon_api_executor_client_requests_seconds",
            "Latency of calls to components",
            self.client.clone(),
        );
    }

    /// The summary families as Prometheus text, each family once.
    pub fn summaries(&self) -> String {
        let mut out = String::new();
        self.server_summary.encode(&mut out);
        self.client_summary.encode(&mut out);
        out
    }
}

/// One engine's metrics: its label values, in families of its own or shared.
#[derive(Debug)]
pub struct Metrics {
    families: Families,
    /// The registry of families of its own (`None` when they are shared and registered elsewhere).
    registry: Option<Mutex<Registry>>,
    scope: Scope,
    deployment: String,
    predictor: String,
    version: String,
}

impl Metrics {
    /// Metrics labelled with the deployment, predictor and predictor `version` annotation,
    /// in families of their own.
    pub fn new(deployment: &str, predictor: &str, version: &str) -> Self {
        let families = Families::default();
        let mut registry = Registry::default();
        families.register(&mut registry);
        Metrics {
            families,
            registry: Some(Mutex::new(registry)),
            scope: Scope::new(),
            deployment: deployment.to_string(),
            predictor: predictor.to_string(),
            version: version.to_string(),
        }
    }

    /// The same, in `families` shared with other engines, every series labelled `pod`.
    pub fn shared(families: &Families, pod: &str, deployment: &str, predictor: &str, version: &str) -> Self {
        Metrics {
            families: families.clone(),
            registry: None,
            scope: vec![("pod", pod.to_string())],
            deployment: deployment.to_string(),
            predictor: predictor.to_string(),
            version: version.to_string(),
        }
    }

    /// Record a served request.
    pub fn server(&self, service: &str, method: &str, code: &str, took: Duration) {
        let labels = (
            self.scope.clone(),
            ServerLabels {
                deployment_name: self.deployment.clone(),
                predictor_name: self.predictor.clone(),
                predictor_version: self.version.clone(),
                service: service.to_string(),
                method: method.to_ascii_lowercase(),
                code: code.to_string(),
            },
        );
        self.families
            .server
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
        self.families.server_summary.observe(labels, took.as_secs_f64());
    }

    /// Record a component call.
    pub fn client(&self, node: &str, image: &str, call: (&str, &str), code: &str, took: Duration) {
        let (method, path) = call;
        let mut parts = image.split(':');
        let (model_image, model_version) = match (parts.next(), parts.next(), parts.next()) {
            (Some(name), Some(version), None) => (name.to_string(), version.to_string()),
            _ => (image.to_string(), String::new()),
        };
        let labels = (
            self.scope.clone(),
            ClientLabels {
                deployment_name: self.deployment.clone(),
                predictor_name: self.predictor.clone(),
                predictor_version: self.version.clone(),
                service: path.to_string(),
                model_name: node.to_string(),
                model_image,
                model_version,
                method: method.to_string(),
                code: code.to_string(),
            },
        );
        self.families
            .client
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
        self.families.client_summary.observe(labels, took.as_secs_f64());
    }

    /// Prometheus text of the families (all engines' series when shared), without the
    /// OpenMetrics `# EOF` line.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let encoded = match &self.registry {
            Some(registry) => encode(&mut out, &registry.lock().unwrap_or_else(|p| p.into_inner())),
            None => {
                let mut registry = Registry::default();
                self.families.register(&mut registry);
                encode(&mut out, &registry)
            }
        };
        if encoded.is_err() {
            out.clear();
        }
        let mut out = out.strip_suffix("# EOF\n").map(str::to_string).unwrap_or(out);
        out.push_str(&self.families.summaries());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_quantiles_are_nearest_rank_over_the_recent_window() {
        let mut w = Window::default();
        for v in 1..=100 {
            w.observe(f64::from(v));
        }
        let q: Vec<f64> = w.quantiles().iter().map(|(_, v)| *v).collect();
        assert_eq!(q, [50.0, 75.0, 90.0, 98.0, 99.0, 100.0]);
        // Old observations leave the window; sum and count keep them.
        for _ in 0..WINDOW {
            w.observe(0.5);
        }
        assert_eq!(w.quantiles()[5], (1.0, 0.5));
        assert_eq!(w.count, 100 + WINDOW as u64);
        assert_eq!(w.sum, 5050.0 + 0.5 * WINDOW as f64);
    }

    #[test]
    fn summaries_are_written_with_seldons_names_and_labels() {
        let m = Metrics::new("iris", "default", "");
        m.server("predictions", "POST", "200", Duration::from_millis(3));
        m.server("predictions", "POST", "200", Duration::from_millis(5));
        m.client(
            "classifier",
            "seldonio/mock_classifier:1.18.2",
            ("post", "/predict"),
            "200",
            Duration::from_millis(1),
        );
        let text = m.encode();
        let labels = r#"deployment_name="iris",predictor_name="default",predictor_version="",service="predictions",method="post",code="200""#;
        assert!(
            text.contains("# TYPE seldon_api_executor_server_requests_seconds_summary summary\n"),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "seldon_api_executor_server_requests_seconds_summary{{{labels},quantile=\"0.5\"}} 0.003\n"
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "seldon_api_executor_server_requests_seconds_summary{{{labels},quantile=\"1\"}} 0.005\n"
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "seldon_api_executor_server_requests_seconds_summary_count{{{labels}}} 2\n"
            )),
            "{text}"
        );
        assert!(text.contains(r#"seldon_api_executor_client_requests_seconds_summary_count{deployment_name="iris",predictor_name="default",predictor_version="",service="/predict",model_name="classifier",model_image="seldonio/mock_classifier",model_version="1.18.2",method="post",code="200"} 1"#), "{text}");
        // Label values are escaped as the text format wants.
        m.client(
            "a\"b\\c\nd",
            "img",
            ("post", "/predict"),
            "200",
            Duration::from_millis(1),
        );
        assert!(
            m.encode().contains(r#"model_name="a\"b\\c\nd""#),
            "{}",
            m.encode()
        );
        // The histograms are still there.
        assert!(
            text.contains(&format!(
                "seldon_api_executor_server_requests_seconds_count{{{labels}}} 2\n"
            )),
            "{text}"
        );
    }

    #[test]
    fn summaries_keep_a_bounded_number_of_series() {
        let m = Metrics::new("iris", "default", "");
        for i in 0..MAX_SERIES + 10 {
            m.client(
                &format!("model-{i}"),
                "img",
                ("post", "/predict"),
                "200",
                Duration::from_millis(1),
            );
        }
        let text = m.encode();
        let series = |name: &str| text.lines().filter(|l| l.starts_with(name)).count();
        assert_eq!(
            series("seldon_api_executor_client_requests_seconds_summary_count{"),
            MAX_SERIES
        );
        // Known series still count.
        m.client(
            "model-0",
            "img",
            ("post", "/predict"),
            "200",
            Duration::from_millis(1),
        );
        assert!(m.encode().contains(
            r#"model_name="model-0",model_image="img",model_version="",method="post",code="200"} 2"#
        ));
    }
}
