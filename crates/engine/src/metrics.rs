//! Seldon's executor metrics (spec §7.7), with its names and labels, on `/prometheus`:
//! a histogram and a summary each for served requests and for component calls.
//!
//! The families ([`Families`]) can be shared by the engines of one process (`sluice up`),
//! each engine's series then carrying its pod's name in a `pod` label, and registered in
//! the gateway's registry: one scrape, every family once and contiguous.
//!
//! A request finds its series by its label values, borrowed ([`Known`]): recording one
//! allocates nothing and hashes a few short strings once; only a label set seen for the
//! first time is made into the families' label structs.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::hash::{BuildHasher as _, Hash};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use hashbrown::HashTable;
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
    series: Mutex<HashMap<L, Arc<Mutex<Window>>>>,
}

impl<L: Hash + Eq> Summaries<L> {
    fn new(name: &'static str, help: &'static str) -> Self {
        Summaries {
            name,
            help,
            series: Mutex::default(),
        }
    }

    /// The window of a label set, made the first time; `None` once the family holds
    /// [`MAX_SERIES`] others.
    fn window(&self, labels: L) -> Option<Arc<Mutex<Window>>> {
        let mut series = self.series.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(window) = series.get(&labels) {
            return Some(window.clone());
        }
        (series.len() < MAX_SERIES).then(|| series.entry(labels).or_default().clone())
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
                    let w = w.lock().unwrap_or_else(|p| p.into_inner());
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

/// The metrics of one label set: its histogram and its summary's window (none when the
/// summary family is full). Clones share them.
#[derive(Clone, Debug)]
struct Series {
    histogram: Histogram,
    window: Option<Arc<Mutex<Window>>>,
}

impl Series {
    fn observe(&self, seconds: f64) {
        self.histogram.observe(seconds);
        if let Some(window) = &self.window {
            window.lock().unwrap_or_else(|p| p.into_inner()).observe(seconds);
        }
    }
}

/// The series recorded so far, found by their `N` label values borrowed from the call.
/// At most [`MAX_SERIES`] are kept; past that, a new label set's series is made for each
/// call (the families then find it again).
#[derive(Debug, Default)]
struct Known<const N: usize> {
    table: RwLock<HashTable<Entry<N>>>,
    hasher: foldhash::fast::RandomState,
}

#[derive(Debug)]
struct Entry<const N: usize> {
    hash: u64,
    key: [Box<str>; N],
    series: Series,
}

impl<const N: usize> Known<N> {
    /// Record `seconds` in the series of `key`, made by `make` the first time.
    fn observe(&self, key: [&str; N], seconds: f64, make: impl FnOnce() -> Series) {
        let hash = self.hasher.hash_one(key);
        let table = self.table.read().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = table.find(hash, |e| e.is(&key)) {
            entry.series.observe(seconds);
            return;
        }
        let full = table.len() >= MAX_SERIES;
        drop(table);
        if full {
            make().observe(seconds);
        } else {
            self.add(hash, key, make).observe(seconds);
        }
    }

    /// A label set seen for the first time: its series is made in the families (outside
    /// the lock every call reads, as a scrape holds the families' locks while it encodes),
    /// then kept. Two calls racing here both get the families' same metrics.
    #[cold]
    fn add(&self, hash: u64, key: [&str; N], make: impl FnOnce() -> Series) -> Series {
        let series = make();
        let mut table = self.table.write().unwrap_or_else(|p| p.into_inner());
        if table.len() < MAX_SERIES && table.find(hash, |e| e.is(&key)).is_none() {
            table.insert_unique(
                hash,
                Entry {
                    hash,
                    key: key.map(Box::from),
                    series: series.clone(),
                },
                |e| e.hash,
            );
        }
        series
    }
}

impl<const N: usize> Entry<N> {
    fn is(&self, key: &[&str; N]) -> bool {
        self.key.iter().zip(key).all(|(a, b)| **a == **b)
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
    /// Served requests' series, by service, method and code.
    served: Known<3>,
    /// Component calls' series, by node, image, method, path and code.
    calls: Known<5>,
}

impl Metrics {
    /// Metrics labelled with the deployment, predictor and predictor `version` annotation,
    /// in families of their own.
    pub fn new(deployment: &str, predictor: &str, version: &str) -> Self {
        let families = Families::default();
        let mut registry = Registry::default();
        families.register(&mut registry);
        let labels = [deployment, predictor, version];
        Metrics::with(families, Some(Mutex::new(registry)), Scope::new(), labels)
    }

    /// The same, in `families` shared with other engines, every series labelled `pod`.
    pub fn shared(families: &Families, pod: &str, deployment: &str, predictor: &str, version: &str) -> Self {
        let scope = vec![("pod", pod.to_string())];
        Metrics::with(families.clone(), None, scope, [deployment, predictor, version])
    }

    fn with(families: Families, registry: Option<Mutex<Registry>>, scope: Scope, labels: [&str; 3]) -> Self {
        let [deployment, predictor, version] = labels.map(str::to_string);
        Metrics {
            families,
            registry,
            scope,
            deployment,
            predictor,
            version,
            served: Known::default(),
            calls: Known::default(),
        }
    }

    /// Record a served request (`method` as on the wire, `POST`; the label is lower-case).
    pub fn server(&self, service: &str, method: &str, code: &str, took: Duration) {
        self.served
            .observe([service, method, code], took.as_secs_f64(), || {
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
                Series {
                    histogram: self.families.server.get_or_create(&labels).clone(),
                    window: self.families.server_summary.window(labels),
                }
            });
    }

    /// Record a component call.
    pub fn client(&self, node: &str, image: &str, call: (&str, &str), code: &str, took: Duration) {
        let (method, path) = call;
        self.calls
            .observe([node, image, method, path, code], took.as_secs_f64(), || {
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
                Series {
                    histogram: self.families.client.get_or_create(&labels).clone(),
                    window: self.families.client_summary.window(labels),
                }
            });
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

    #[test]
    fn shared_families_keep_each_engines_series_apart_by_pod() {
        let families = Families::default();
        let a = Metrics::shared(&families, "iris-default-0", "iris", "default", "");
        let b = Metrics::shared(&families, "iris-default-1", "iris", "default", "");
        for _ in 0..3 {
            a.server("predictions", "POST", "200", Duration::from_millis(1));
        }
        b.server("predictions", "POST", "200", Duration::from_millis(1));
        a.client(
            "m",
            "img:1",
            ("post", "/predict"),
            "500",
            Duration::from_millis(1),
        );
        let mut registry = Registry::default();
        families.register(&mut registry);
        let mut text = String::new();
        encode(&mut text, &registry).expect("encode");
        text.push_str(&families.summaries());
        let server = r#"deployment_name="iris",predictor_name="default",predictor_version="",service="predictions",method="post",code="200""#;
        for (pod, count) in [("iris-default-0", 3), ("iris-default-1", 1)] {
            for family in [
                "seldon_api_executor_server_requests_seconds_count",
                "seldon_api_executor_server_requests_seconds_summary_count",
            ] {
                let line = format!("{family}{{pod=\"{pod}\",{server}}} {count}\n");
                assert!(text.contains(&line), "{line} in {text}");
            }
        }
        assert!(text.contains(r#"seldon_api_executor_client_requests_seconds_count{pod="iris-default-0",deployment_name="iris",predictor_name="default",predictor_version="",service="/predict",model_name="m",model_image="img",model_version="1",method="post",code="500"} 1"#), "{text}");
    }
}
