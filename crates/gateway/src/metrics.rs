//! Istio's standard metrics, with Istio's names and label names, served on the admin
//! listener's `/stats/prometheus`.
//!
//! The registry is the process's: `sluice up` registers its engines' families in it and a
//! second gateway (the in-mesh listener) shares these families, so one scrape has every
//! family once, its samples contiguous — what strict scrapers require.

use std::hash::BuildHasher as _;
use std::sync::{Arc, Mutex, RwLock};

use hashbrown::HashTable;
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

/// What a request's series is found by, borrowed from the exchange: finding it copies
/// nothing and allocates nothing; only a label set seen for the first time is made into
/// [`Labels`].
#[derive(Clone, Copy, Debug, Hash)]
pub struct SeriesKey<'a> {
    /// The gateway workload (`source_workload`).
    pub workload: &'a str,
    /// The gateway's namespace.
    pub namespace: &'a str,
    /// Upstream service host, or `unknown`.
    pub service: &'a str,
    /// A gRPC request (`request_protocol`).
    pub grpc: bool,
    /// The HTTP status sent to the client.
    pub response_code: u16,
    /// The gRPC status, when the response had a real gRPC code.
    pub grpc_status: Option<u32>,
    /// Envoy response flags (see [`Labels::response_flags`]).
    pub response_flags: &'static str,
}

impl SeriesKey<'_> {
    /// The label set this key stands for.
    pub fn labels(&self) -> Labels {
        let (name, namespace) = service_parts(self.service);
        Labels {
            reporter: "source",
            source_workload: self.workload.to_string(),
            source_workload_namespace: self.namespace.to_string(),
            destination_service: self.service.to_string(),
            destination_service_name: name,
            destination_service_namespace: namespace,
            request_protocol: if self.grpc { "grpc" } else { "http" },
            response_code: self.response_code,
            grpc_response_status: self.grpc_status.map(|n| n.to_string()).unwrap_or_default(),
            response_flags: self.response_flags,
        }
    }
}

/// The four metrics of one label set, looked up once per request.
#[derive(Debug)]
pub struct Series {
    requests: Counter,
    duration: Histogram,
    request_bytes: Histogram,
    response_bytes: Histogram,
}

impl Series {
    /// Record one finished request.
    pub fn record(&self, millis: f64, request_bytes: u64, response_bytes: u64) {
        self.requests.inc();
        self.duration.observe(millis);
        self.request_bytes.observe(request_bytes as f64);
        self.response_bytes.observe(response_bytes as f64);
    }
}

/// A series known to [`Metrics::series`], with what its key hashed to and compares by.
struct Known {
    hash: u64,
    workload: String,
    namespace: String,
    service: String,
    grpc: bool,
    response_code: u16,
    grpc_status: Option<u32>,
    response_flags: &'static str,
    series: Arc<Series>,
}

impl Known {
    fn is(&self, key: &SeriesKey<'_>) -> bool {
        self.response_code == key.response_code
            && self.response_flags == key.response_flags
            && self.grpc == key.grpc
            && self.grpc_status == key.grpc_status
            && self.service == key.service
            && self.workload == key.workload
            && self.namespace == key.namespace
    }
}

/// Prometheus text of families prometheus-client cannot hold (the engines' summaries).
pub type TextSource = Arc<dyn Fn() -> String + Send + Sync>;

/// The metric families.
pub struct Metrics {
    registry: Mutex<Registry>,
    texts: Mutex<Vec<TextSource>>,
    /// Every series recorded so far, found by a borrowed [`SeriesKey`].
    series: RwLock<HashTable<Known>>,
    hasher: foldhash::fast::RandomState,
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
            series: RwLock::default(),
            hasher: foldhash::fast::RandomState::default(),
            requests,
            duration,
            request_bytes,
            response_bytes,
        }
    }
}

impl Metrics {
    /// The series of a request's labels: found without allocating, made the first time.
    pub fn series(&self, key: &SeriesKey<'_>) -> Arc<Series> {
        let hash = self.hasher.hash_one(key);
        let found = self
            .series
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .find(hash, |known| known.is(key))
            .map(|known| known.series.clone());
        found.unwrap_or_else(|| self.create(hash, key))
    }

    /// The first request of a label set: its metrics are made in the families (outside the
    /// lock every lookup reads, since a scrape holds the families' locks while it encodes),
    /// then kept. Two requests racing here both get the families' same metrics.
    #[cold]
    fn create(&self, hash: u64, key: &SeriesKey<'_>) -> Arc<Series> {
        let labels = key.labels();
        let series = Arc::new(Series {
            requests: self.requests.get_or_create(&labels).clone(),
            duration: self.duration.get_or_create(&labels).clone(),
            request_bytes: self.request_bytes.get_or_create(&labels).clone(),
            response_bytes: self.response_bytes.get_or_create(&labels).clone(),
        });
        let mut known = self.series.write().unwrap_or_else(|p| p.into_inner());
        if let Some(found) = known.find(hash, |k| k.is(key)) {
            return found.series.clone();
        }
        known.insert_unique(
            hash,
            Known {
                hash,
                workload: labels.source_workload,
                namespace: labels.source_workload_namespace,
                service: labels.destination_service,
                grpc: key.grpc,
                response_code: key.response_code,
                grpc_status: key.grpc_status,
                response_flags: key.response_flags,
                series: series.clone(),
            },
            |k| k.hash,
        );
        series
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

#[cfg(test)]
mod tests {
    use super::*;

    fn key(service: &str) -> SeriesKey<'_> {
        SeriesKey {
            workload: "istio-ingressgateway",
            namespace: "istio-system",
            service,
            grpc: false,
            response_code: 200,
            grpc_status: None,
            response_flags: "-",
        }
    }

    fn requests_line<'a>(text: &'a str, contains: &str) -> Vec<&'a str> {
        text.lines()
            .filter(|l| l.starts_with("istio_requests_total{") && l.contains(contains))
            .collect()
    }

    #[test]
    fn one_series_per_label_set_found_again_by_its_key() {
        let metrics = Metrics::default();
        let main = key("example-main.seldon.svc.cluster.local");
        let first = metrics.series(&main);
        assert!(Arc::ptr_eq(&first, &metrics.series(&main)));
        first.record(1.0, 10, 20);
        metrics.series(&main).record(2.0, 10, 20);

        // Each field tells series apart.
        let others = [
            SeriesKey {
                response_code: 503,
                ..main
            },
            SeriesKey {
                response_flags: "UF",
                ..main
            },
            SeriesKey {
                grpc: true,
                grpc_status: Some(14),
                ..main
            },
            SeriesKey { grpc: true, ..main },
            SeriesKey {
                workload: "other-gateway",
                ..main
            },
            SeriesKey {
                namespace: "other",
                ..main
            },
            key("example-canary.seldon.svc.cluster.local"),
        ];
        for other in &others {
            assert!(!Arc::ptr_eq(&first, &metrics.series(other)), "{other:?}");
            metrics.series(other).record(1.0, 1, 1);
        }

        let text = metrics.encode();
        let main_lines = requests_line(
            &text,
            "destination_service=\"example-main.seldon.svc.cluster.local\"",
        );
        // The first key's series and every other key's but the canary's.
        assert_eq!(main_lines.len(), others.len(), "{text}");
        let ok = requests_line(
            &text,
            "response_code=\"200\",grpc_response_status=\"\",response_flags=\"-\"",
        );
        assert!(
            ok.iter()
                .any(|l| l.contains("source_workload=\"istio-ingressgateway\"")
                    && l.contains("destination_service_name=\"example-main\"")
                    && l.contains("destination_service_namespace=\"seldon\"")
                    && l.contains("request_protocol=\"http\"")
                    && l.ends_with(" 2")),
            "{text}"
        );
        assert_eq!(
            requests_line(&text, "grpc_response_status=\"14\"").len(),
            1,
            "{text}"
        );
    }
}
