//! Istio's standard metrics, with Istio's names and label names, served on the admin
//! listener's `/stats/prometheus`.
//!
//! The registry is the process's: `sluice up` registers its engines' families in it and a
//! second gateway (the in-mesh listener) shares these families, so one scrape has every
//! family once, its samples contiguous — what strict scrapers require.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The labels Istio puts on request metrics (the subset a gateway can know).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Labels {
    /// `source`: a gateway reports as the client side.
    pub reporter: &'static str,
    /// The gateway workload.
    pub source_workload: String,
    /// The gateway's namespace.
    pub source_workload_namespace: String,
    /// Upstream service host, or `unknown`.
    pub destination_service: String,
    /// Its first DNS label.
    pub destination_service_name: String,
    /// Its namespace (second label of a `.svc.` name), or `unknown`.
    pub destination_service_namespace: String,
    /// `http` or `grpc`.
    pub request_protocol: &'static str,
    /// The HTTP status sent to the client.
    pub response_code: u16,
    /// The gRPC status, for gRPC.
    pub grpc_response_status: String,
    /// Envoy response flags: `-`, `NR` (no route), `NC` (no cluster), `UH` (no healthy
    /// upstream), `UF` (connect failure), `URX` (retries exhausted), `UT` (timeout),
    /// `UO` (overflow), `FI` (fault abort), `DI` (fault delay).
    pub response_flags: &'static str,
}

/// The four metrics of one label set, looked up once per request.
#[derive(Debug)]
struct Series {
    requests: Counter,
    duration: Histogram,
    request_bytes: Histogram,
    response_bytes: Histogram,
}

/// Prometheus text of families prometheus-client cannot hold (the engines' summaries).
pub type TextSource = Arc<dyn Fn() -> String + Send + Sync>;

/// The metric families.
pub struct Metrics {
    registry: Mutex<Registry>,
    texts: Mutex<Vec<TextSource>>,
    series: RwLock<HashMap<Labels, Arc<Series>>>,
    requests: Family<Labels, Counter>,
    duration: Family<Labels, Histogram, fn() -> Histogram>,
    request_bytes: Family<Labels, Histogram, fn() -> Histogram>,
    response_bytes: Family<Labels, Histogram, fn() -> Histogram>,
}

fn duration_buckets() -> Histogram {
    // Istio's default buckets for istio_request_duration_milliseconds.
    Histogram::new([
        0.5, 1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 30000.0,
        60000.0, 300000.0, 600000.0, 1800000.0, 3600000.0,
    ])
}

fn size_buckets() -> Histogram {
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        1.0, 10.0, 8,
    ))
}

impl Default for Metrics {
    fn default() -> Self {
        let requests = Family::<Labels, Counter>::default();
        let duration = Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(duration_buckets);
        let request_bytes =
            Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(size_buckets);
        let response_bytes =
            Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(size_buckets);
        let mut registry = Registry::default();
        registry.register(
            "istio_requests",
            "Requests handled by the gateway",
            requests.clone(),
        );
        registry.register(
            "istio_request_duration_milliseconds",
            "Request duration",
            duration.clone(),
        );
        registry.register("istio_request_bytes", "Request body sizes", request_bytes.clone());
        registry.register(
            "istio_response_bytes",
            "Response body sizes",
            response_bytes.clone(),
        );
        Metrics {
            registry: Mutex::new(registry),
            texts: Mutex::default(),
            series: RwLock::new(HashMap::new()),
            requests,
            duration,
            request_bytes,
            response_bytes,
        }
    }
}

impl Metrics {
    /// Record one finished request.
    pub fn record(&self, labels: &Labels, millis: f64, request_bytes: u64, response_bytes: u64) {
        let cached = self
            .series
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(labels)
            .cloned();
        let series = cached.unwrap_or_else(|| {
            let created = Arc::new(Series {
                requests: self.requests.get_or_create(labels).clone(),
                duration: self.duration.get_or_create(labels).clone(),
                request_bytes: self.request_bytes.get_or_create(labels).clone(),
                response_bytes: self.response_bytes.get_or_create(labels).clone(),
            });
            let mut cache = self.series.write().unwrap_or_else(|p| p.into_inner());
            cache.entry(labels.clone()).or_insert(created).clone()
        });
        series.requests.inc();
        series.duration.observe(millis);
        series.request_bytes.observe(request_bytes as f64);
        series.response_bytes.observe(response_bytes as f64);
    }

    /// Register other families on the same scrape (`sluice up`'s engines).
    pub fn register(&self, add: impl FnOnce(&mut Registry)) {
        add(&mut self.registry.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// Add families written as text (each family in one source only).
    pub fn add_text(&self, source: TextSource) {
        self.texts.lock().unwrap_or_else(|p| p.into_inner()).push(source);
    }

    /// The OpenMetrics exposition, `# EOF` last.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        if encode(&mut out, &registry).is_err() {
            out.clear();
        }
        drop(registry);
        let mut out = out.strip_suffix("# EOF\n").map(str::to_string).unwrap_or(out);
        let texts: Vec<TextSource> = self.texts.lock().unwrap_or_else(|p| p.into_inner()).clone();
        for text in texts {
            out.push_str(&text());
        }
        out.push_str("# EOF\n");
        out
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// `destination_service_name` and `_namespace` from a host.
pub fn service_parts(host: &str) -> (String, String) {
    let mut labels = host.split('.');
    let name = labels.next().unwrap_or("unknown").to_string();
    let namespace = match (labels.next(), labels.next()) {
        (Some(ns), Some("svc")) => ns.to_string(),
        _ => "unknown".to_string(),
    };
    (name, namespace)
}
