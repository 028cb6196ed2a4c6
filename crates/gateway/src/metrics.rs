//! Istio's standard metrics, with Istio's names and label names, served on the admin
//! listener's `/stats/prometheus`.

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

/// The metric families.
#[derive(Debug)]
pub struct Metrics {
    registry: Mutex<Registry>,
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

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        if encode(&mut out, &registry).is_err() {
            out.clear();
        }
        out
    }
}

/// Several Prometheus/OpenMetrics texts as one exposition: each family's `# HELP`, `# TYPE`
/// and `# UNIT` once, then every sample of that family from every text, families in order
/// of first appearance. Scrapers require a family's lines to be contiguous, so appending
/// texts that share families (engines, a second gateway) would not do. `# EOF` is dropped.
pub fn merge(texts: &[String]) -> String {
    #[derive(Default)]
    struct Group<'a> {
        metadata: Vec<&'a str>,
        samples: Vec<&'a str>,
    }
    let mut order: Vec<&str> = Vec::new();
    let mut groups: HashMap<&str, Group<'_>> = HashMap::new();
    for text in texts {
        let mut family = "";
        for line in text.lines() {
            if line.is_empty() || line == "# EOF" {
                continue;
            }
            let metadata = ["# HELP ", "# TYPE ", "# UNIT "]
                .iter()
                .find_map(|prefix| line.strip_prefix(prefix));
            if let Some(rest) = metadata {
                family = rest.split(' ').next().unwrap_or("");
            }
            let group = groups.entry(family).or_insert_with(|| {
                order.push(family);
                Group::default()
            });
            if metadata.is_some() {
                // One HELP, one TYPE, one UNIT per family: the first source's.
                let kind = &line[..7];
                if !group.metadata.iter().any(|m| m.starts_with(kind)) {
                    group.metadata.push(line);
                }
            } else if !line.starts_with('#') {
                group.samples.push(line);
            }
        }
    }
    let mut out = String::new();
    for family in order {
        let group = &groups[family];
        for line in group.metadata.iter().chain(&group.samples) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
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

#[cfg(test)]
mod tests {
    use super::merge;

    #[test]
    fn families_shared_by_several_texts_stay_contiguous() {
        let a = "# HELP x X.\n# TYPE x counter\nx_total{p=\"a\"} 1\n# TYPE y gauge\ny{p=\"a\"} 2\n# EOF\n";
        let b = "# HELP x Another X.\n# TYPE x counter\nx_total{p=\"b\"} 3\n# TYPE z gauge\nz 4\n";
        assert_eq!(
            merge(&[a.to_string(), b.to_string()]),
            "# HELP x X.\n# TYPE x counter\nx_total{p=\"a\"} 1\nx_total{p=\"b\"} 3\n\
             # TYPE y gauge\ny{p=\"a\"} 2\n# TYPE z gauge\nz 4\n"
        );
    }
}
