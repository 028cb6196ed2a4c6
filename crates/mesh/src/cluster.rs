//! Upstream clusters: a destination (host, subset, port) resolved against the service
//! registry (`ServiceEntry`) and its `DestinationRule` — endpoints, protocol and
//! connection policy. Istio calls each one `outbound|<port>|<subset>|<host>`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use sluice_api::istio::{
    ConnectionPoolSettings, DestinationRule, H2UpgradePolicy, LoadBalancerSettings, OutlierDetection,
    ServiceEntry, ServiceEntryResolution, SimpleLb, TrafficPolicy,
};

use crate::config::Proxy;
use crate::diagnostic::{self, Diagnostic, ObjectRef};
use crate::host;
use crate::policy::duration;

/// Which HTTP version the gateway speaks to a cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpstreamProtocol {
    /// HTTP/1.1 (ports named `http`, or no protocol).
    Http1,
    /// HTTP/2 with prior knowledge (ports of protocol `HTTP2`/`GRPC`, or named `http2-*`/`grpc-*`).
    Http2,
    /// Whatever the client spoke (DestinationRule `useClientProtocol`).
    Client,
}

/// How requests are spread over a cluster's endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadBalancer {
    /// Fewest active requests among two random picks (Istio's default).
    LeastRequest,
    /// In turn.
    RoundRobin,
    /// At random.
    Random,
}

/// One endpoint of a cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// IP address or DNS name.
    address: String,
    /// Port.
    port: u16,
    /// Labels (subsets select on them).
    pub labels: BTreeMap<String, String>,
    /// `address:port`, made once: the key of the endpoint's connections and state.
    authority: String,
}

impl Endpoint {
    /// The endpoint at `address` (an IP address or DNS name) and `port`.
    pub fn new(address: String, port: u16, labels: BTreeMap<String, String>) -> Self {
        let authority = if address.contains(':') {
            format!("[{address}]:{port}")
        } else {
            format!("{address}:{port}")
        };
        Endpoint {
            address,
            port,
            labels,
            authority,
        }
    }

    /// `address:port`, bracketing IPv6 addresses.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// The IP address or DNS name.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

/// Connection limits and timeouts of a cluster (DestinationRule `connectionPool`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pool {
    /// TCP connect timeout (default 10 s).
    pub connect_timeout: Duration,
    /// Close idle upstream connections after this (default 1 h).
    pub idle_timeout: Duration,
    /// Most concurrent requests (`http2MaxRequests`); more are answered 503 overflow.
    pub max_requests: Option<u32>,
    /// Most requests waiting for a connection (`http1MaxPendingRequests`).
    pub max_pending: Option<u32>,
    /// Most connections (`tcp.maxConnections`).
    pub max_connections: Option<u32>,
    /// Requests per connection; 1 disables keep-alive.
    pub max_requests_per_connection: Option<u32>,
}

impl Default for Pool {
    fn default() -> Self {
        Pool {
            connect_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(3600),
            max_requests: None,
            max_pending: None,
            max_connections: None,
            max_requests_per_connection: None,
        }
    }
}

/// Passive health checking (DestinationRule `outlierDetection`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outlier {
    /// Consecutive 5xx (and local failures) before ejection; 0 disables.
    pub consecutive_5xx: u32,
    /// Consecutive 502/503/504 (and local failures) before ejection; 0 disables.
    pub consecutive_gateway_errors: u32,
    /// How often ejections are reviewed.
    pub interval: Duration,
    /// Ejection time, multiplied by the number of ejections.
    pub base_ejection_time: Duration,
    /// Most endpoints ejected at once, in percent.
    pub max_ejection_percent: u32,
}

/// A resolved upstream cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cluster {
    /// `outbound|<port>|<subset>|<host>`.
    pub name: String,
    /// The service host.
    pub host: String,
    /// The service port.
    pub port: u16,
    /// The subset, if the route named one.
    pub subset: Option<String>,
    /// The endpoints; empty means 503 `no healthy upstream`.
    pub endpoints: Vec<Endpoint>,
    /// HTTP version to the endpoints.
    pub protocol: UpstreamProtocol,
    /// Load-balancing algorithm.
    pub load_balancer: LoadBalancer,
    /// Connection policy.
    pub pool: Pool,
    /// Passive health checking.
    pub outlier: Option<Outlier>,
}

/// Why a destination has no cluster (Envoy answers 503 with an empty body).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Missing {
    /// No ServiceEntry declares the host.
    UnknownHost,
    /// The service has no such port, or several ports and none was chosen.
    UnknownPort,
    /// No DestinationRule defines the subset.
    UnknownSubset,
}

impl Missing {
    /// Words for `explain` and diagnostics.
    pub fn describe(&self) -> &'static str {
        match self {
            Missing::UnknownHost => "no ServiceEntry declares this host",
            Missing::UnknownPort => {
                "the service has no such port (or several ports and the route names none)"
            }
            Missing::UnknownSubset => "no DestinationRule for this host defines the subset",
        }
    }
}

#[derive(Clone, Debug)]
struct Service {
    namespace: String,
    ports: Vec<(u16, String, Option<String>, Option<u32>)>,
    resolution: ServiceEntryResolution,
    endpoints: Vec<sluice_api::istio::WorkloadEntry>,
}

#[derive(Clone, Debug)]
struct Rule {
    namespace: String,
    host: String,
    export_to: Vec<String>,
    spec: sluice_api::istio::DestinationRuleSpec,
}

/// (host, subset, port) of a destination.
type ClusterKey = (String, Option<String>, u16);

/// The service registry and the DestinationRules, ready to resolve destinations.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    proxy_namespace: String,
    root_namespace: String,
    services: BTreeMap<String, Service>,
    rules: Vec<Rule>,
    /// `rules` by (namespace, host) for exact hosts, and by namespace for wildcard hosts
    /// (`*`, `*.x`): the rule for a destination is found without reading every rule.
    exact_rules: HashMap<(String, String), Vec<usize>>,
    wildcard_rules: HashMap<String, Vec<usize>>,
    cache: BTreeMap<ClusterKey, Result<Arc<Cluster>, Missing>>,
}

fn visible(export_to: &[String], own_namespace: &str, proxy_namespace: &str) -> bool {
    export_to.is_empty()
        || export_to
            .iter()
            .any(|e| e == "*" || e == proxy_namespace || (e == "." && own_namespace == proxy_namespace))
}

impl Registry {
    /// Index the ServiceEntries and DestinationRules visible to the proxy.
    pub fn build(
        proxy: &Proxy,
        entries: &[Arc<ServiceEntry>],
        rules: &[Arc<DestinationRule>],
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Self {
        let mut services = BTreeMap::new();
        for se in entries {
            let ns = se
                .metadata
                .namespace
                .clone()
                .unwrap_or_else(|| "default".to_string());
            let id = ObjectRef::of("ServiceEntry", &se.metadata);
            if !visible(&se.spec.export_to, &ns, &proxy.namespace) {
                continue;
            }
            let resolution = se.spec.resolution.unwrap_or_default();
            if resolution == ServiceEntryResolution::None {
                diagnostics.push(diagnostic::warning(
                    &id,
                    "spec.resolution",
                    "resolution NONE forwards to the original destination address, which the local gateway does not know; use STATIC endpoints or DNS",
                ));
            }
            let mut ports = Vec::new();
            for (i, p) in se.spec.ports.iter().enumerate() {
                match u16::try_from(p.number) {
                    Ok(n) if n > 0 => ports.push((n, p.name.clone(), p.protocol.clone(), p.target_port)),
                    _ => diagnostics.push(diagnostic::error(
                        &id,
                        format!("spec.ports[{i}].number"),
                        "a port number is between 1 and 65535",
                    )),
                }
            }
            for h in &se.spec.hosts {
                let host = host::resolve_short(h, &ns, &proxy.cluster_domain);
                if services.contains_key(&host) {
                    diagnostics.push(diagnostic::warning(
                        &id,
                        "spec.hosts",
                        format!(
                            "{host} is already declared by another ServiceEntry; the first one read is used"
                        ),
                    ));
                }
                services.entry(host).or_insert_with(|| Service {
                    namespace: ns.clone(),
                    ports: ports.clone(),
                    resolution,
                    endpoints: se.spec.endpoints.clone(),
                });
            }
        }
        for dr in rules {
            let id = ObjectRef::of("DestinationRule", &dr.metadata);
            let mut policies: Vec<(String, &TrafficPolicy)> = Vec::new();
            if let Some(p) = &dr.spec.traffic_policy {
                policies.push(("spec.trafficPolicy".to_string(), p));
            }
            for (i, subset) in dr.spec.subsets.iter().enumerate() {
                if let Some(p) = &subset.traffic_policy {
                    policies.push((format!("spec.subsets[{i}].trafficPolicy"), p));
                }
            }
            for (at, policy) in policies {
                report_unsupported(&id, &at, policy, diagnostics);
            }
        }
        let rules = rules
            .iter()
            .filter_map(|dr| {
                let ns = dr
                    .metadata
                    .namespace
                    .clone()
                    .unwrap_or_else(|| "default".to_string());
                visible(&dr.spec.export_to, &ns, &proxy.namespace).then(|| Rule {
                    host: host::resolve_short(&dr.spec.host, &ns, &proxy.cluster_domain),
                    namespace: ns,
                    export_to: dr.spec.export_to.clone(),
                    spec: dr.spec.clone(),
                })
            })
            .collect::<Vec<Rule>>();
        let mut exact_rules: HashMap<(String, String), Vec<usize>> = HashMap::new();
        let mut wildcard_rules: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, rule) in rules.iter().enumerate() {
            if rule.host.starts_with('*') {
                wildcard_rules.entry(rule.namespace.clone()).or_default().push(i);
            } else {
                let key = (rule.namespace.clone(), rule.host.clone());
                exact_rules.entry(key).or_default().push(i);
            }
        }
        Registry {
            proxy_namespace: proxy.namespace.clone(),
            root_namespace: proxy.root_namespace.clone(),
            services,
            rules,
            exact_rules,
            wildcard_rules,
            cache: BTreeMap::new(),
        }
    }

    /// Every (service host, its namespace, port) of the registry.
    pub fn service_ports(&self) -> Vec<(String, String, u16)> {
        self.services
            .iter()
            .flat_map(|(host, s)| {
                s.ports
                    .iter()
                    .map(move |(p, ..)| (host.clone(), s.namespace.clone(), *p))
            })
            .collect()
    }

    /// The port a destination without `port` goes to: the service's only port, else the
    /// listener's port.
    pub fn default_port(&self, host: &str, listener_port: u16) -> u16 {
        match self.services.get(host).map(|s| s.ports.as_slice()) {
            Some([(only, ..)]) => *only,
            _ => listener_port,
        }
    }

    /// Resolve a destination to its cluster (cached: routes share one `Arc`).
    pub fn cluster(&mut self, host: &str, subset: Option<&str>, port: u16) -> Result<Arc<Cluster>, Missing> {
        let key = (host.to_string(), subset.map(str::to_string), port);
        if let Some(found) = self.cache.get(&key) {
            return found.clone();
        }
        let resolved = self.resolve(host, subset, port).map(Arc::new);
        self.cache.insert(key, resolved.clone());
        resolved
    }

    fn resolve(&self, host: &str, subset: Option<&str>, port: u16) -> Result<Cluster, Missing> {
        let service = self.services.get(host).ok_or(Missing::UnknownHost)?;
        let (_, port_name, protocol, target_port) = service
            .ports
            .iter()
            .find(|(n, ..)| *n == port)
            .ok_or(Missing::UnknownPort)?;
        let rule = self.rule_for(host, &service.namespace);
        let subset_spec = match subset {
            None => None,
            Some(name) => Some(
                rule.and_then(|r| r.spec.subsets.iter().find(|s| s.name == name))
                    .ok_or(Missing::UnknownSubset)?,
            ),
        };
        let policy = effective_policy(
            rule.and_then(|r| r.spec.traffic_policy.as_deref()),
            subset_spec.and_then(|s| s.traffic_policy.as_deref()),
            port,
        );
        let labels = subset_spec.map(|s| s.labels.clone()).unwrap_or_default();
        let endpoint_port = |e: &sluice_api::istio::WorkloadEntry| -> u16 {
            e.ports
                .get(port_name)
                .copied()
                .or(*target_port)
                .and_then(|p| u16::try_from(p).ok())
                .unwrap_or(port)
        };
        let mut endpoints: Vec<Endpoint> = service
            .endpoints
            .iter()
            .filter(|e| labels.iter().all(|(k, v)| e.labels.get(k) == Some(v)))
            .filter_map(|e| {
                Some(Endpoint::new(
                    e.address.clone()?,
                    endpoint_port(e),
                    e.labels.clone(),
                ))
            })
            .collect();
        if endpoints.is_empty()
            && subset_spec.is_none()
            && matches!(
                service.resolution,
                ServiceEntryResolution::Dns | ServiceEntryResolution::DnsRoundRobin
            )
            && service.endpoints.is_empty()
        {
            // DNS resolution without endpoints: the host itself is the address.
            endpoints.push(Endpoint::new(
                host.to_string(),
                target_port.and_then(|p| u16::try_from(p).ok()).unwrap_or(port),
                BTreeMap::new(),
            ));
        }
        let pool_http = policy.connection_pool.as_ref().and_then(|p| p.http.as_ref());
        let upstream = if pool_http.and_then(|h| h.use_client_protocol) == Some(true) {
            UpstreamProtocol::Client
        } else if pool_http.and_then(|h| h.h2_upgrade_policy) == Some(H2UpgradePolicy::Upgrade)
            || is_http2(port_name, protocol.as_deref())
        {
            UpstreamProtocol::Http2
        } else {
            UpstreamProtocol::Http1
        };
        Ok(Cluster {
            name: format!("outbound|{port}|{}|{host}", subset.unwrap_or("")),
            host: host.to_string(),
            port,
            subset: subset.map(str::to_string),
            endpoints,
            protocol: upstream,
            load_balancer: load_balancer(policy.load_balancer.as_ref()),
            pool: pool(policy.connection_pool.as_ref()),
            outlier: policy.outlier_detection.as_ref().map(outlier),
        })
    }

    /// The DestinationRule for `host`: looked up in the proxy's namespace, then the
    /// service's, then the root namespace; the most specific host wins within one.
    fn rule_for(&self, host: &str, service_namespace: &str) -> Option<&Rule> {
        for ns in [&self.proxy_namespace, service_namespace, &self.root_namespace] {
            let exact = self
                .exact_rules
                .get(&(ns.to_string(), host.to_string()))
                .map_or(&[][..], Vec::as_slice);
            let wildcard = self.wildcard_rules.get(ns).map_or(&[][..], Vec::as_slice);
            // In the rules' order, as a scan of all of them would meet them (ties go to the last).
            let mut candidates: Vec<usize> = exact.iter().chain(wildcard).copied().collect();
            candidates.sort_unstable();
            let best = candidates
                .into_iter()
                .filter_map(|i| self.rules.get(i))
                .filter(|r| r.namespace == *ns && host::covers(&r.host, host))
                .filter(|r| visible(&r.export_to, &r.namespace, &self.proxy_namespace))
                .max_by_key(|r| (r.host == host, r.host.len()));
            if best.is_some() {
                return best;
            }
        }
        None
    }
}

/// Policy parts the local gateway does not apply are reported, never dropped silently.
fn report_unsupported(id: &ObjectRef, at: &str, policy: &TrafficPolicy, diagnostics: &mut Vec<Diagnostic>) {
    use sluice_api::istio::ClientTlsMode;
    let mut warn = |field: &str, message: &str| {
        diagnostics.push(diagnostic::warning(id, format!("{at}.{field}"), message))
    };
    // ISTIO_MUTUAL is the mesh's own mTLS: on one machine without sidecars, plain text is what a pod sees.
    if matches!(
        policy.tls.as_ref().and_then(|t| t.mode),
        Some(ClientTlsMode::Simple | ClientTlsMode::Mutual)
    ) {
        warn(
            "tls",
            "upstream TLS origination is not supported by the local gateway yet; it connects in plain text",
        );
    }
    if let Some(pool) = &policy.connection_pool {
        let tcp = pool.tcp.as_ref();
        let http = pool.http.as_ref();
        let ignored = [
            (
                "tcp.maxConnections",
                tcp.is_some_and(|t| t.max_connections.is_some()),
            ),
            (
                "tcp.connectTimeout",
                tcp.is_some_and(|t| t.connect_timeout.is_some()),
            ),
            ("tcp.tcpKeepalive", tcp.is_some_and(|t| t.tcp_keepalive.is_some())),
            (
                "tcp.maxConnectionDuration",
                tcp.is_some_and(|t| t.max_connection_duration.is_some()),
            ),
            ("tcp.idleTimeout", tcp.is_some_and(|t| t.idle_timeout.is_some())),
            (
                "http.http1MaxPendingRequests",
                http.is_some_and(|h| h.http1_max_pending_requests.is_some()),
            ),
            (
                "http.maxRequestsPerConnection",
                http.is_some_and(|h| h.max_requests_per_connection.is_some()),
            ),
            ("http.maxRetries", http.is_some_and(|h| h.max_retries.is_some())),
            (
                "http.maxConcurrentStreams",
                http.is_some_and(|h| h.max_concurrent_streams.is_some()),
            ),
            (
                "http.http2KeepAlive",
                http.is_some_and(|h| h.http2_keep_alive.is_some()),
            ),
            // The gateway closes idle upstream connections after 60 s, Seldon's setting.
            (
                "http.idleTimeout",
                http.and_then(|h| h.idle_timeout.as_deref())
                    .is_some_and(|t| duration(t).ok() != Some(Duration::from_secs(60))),
            ),
        ];
        for (field, set) in ignored {
            if set {
                warn(
                    &format!("connectionPool.{field}"),
                    "not applied by the local gateway yet (it uses a 10 s connect timeout and closes idle connections after 60 s)",
                );
            }
        }
    }
    if let Some(o) = &policy.outlier_detection {
        // consecutive5xxErrors, consecutiveGatewayErrors, baseEjectionTime and
        // maxEjectionPercent are applied; these are not.
        let ignored = [
            (
                "splitExternalLocalOriginErrors",
                o.split_external_local_origin_errors.is_some(),
            ),
            (
                "consecutiveLocalOriginFailures",
                o.consecutive_local_origin_failures.is_some(),
            ),
            ("minHealthPercent", o.min_health_percent.is_some_and(|p| p > 0)),
            (
                "outlierDetectionHttpErrorCodes",
                !o.outlier_detection_http_error_codes.is_empty(),
            ),
        ];
        for (field, set) in ignored {
            if set {
                warn(
                    &format!("outlierDetection.{field}"),
                    "not applied by the local gateway yet",
                );
            }
        }
    }

    if let Some(lb) = &policy.load_balancer
        && (lb.consistent_hash.is_some()
            || lb.locality_lb_setting.is_some()
            || lb.simple == Some(SimpleLb::Passthrough))
    {
        warn(
            "loadBalancer",
            "only simple ROUND_ROBIN, LEAST_REQUEST and RANDOM are applied by the local gateway; LEAST_REQUEST is used",
        );
    }
    if policy.tunnel.is_some() || policy.proxy_protocol.is_some() {
        warn(
            "tunnel",
            "tunnel and proxyProtocol are not supported by the local gateway",
        );
    }
}

fn is_http2(port_name: &str, protocol: Option<&str>) -> bool {
    let protocol = protocol.unwrap_or("").to_ascii_uppercase();
    matches!(protocol.as_str(), "HTTP2" | "GRPC" | "GRPC-WEB")
        || ["http2", "grpc"]
            .iter()
            .any(|p| port_name == *p || port_name.starts_with(&format!("{p}-")))
}

/// Subset policy overrides the top level component-wise; port-level settings for the
/// port replace load balancer, pool, outlier detection and TLS entirely.
fn effective_policy(top: Option<&TrafficPolicy>, subset: Option<&TrafficPolicy>, port: u16) -> TrafficPolicy {
    let mut out = top.cloned().unwrap_or_default();
    if let Some(s) = subset {
        if s.load_balancer.is_some() {
            out.load_balancer = s.load_balancer.clone();
        }
        if s.connection_pool.is_some() {
            out.connection_pool = s.connection_pool.clone();
        }
        if s.outlier_detection.is_some() {
            out.outlier_detection = s.outlier_detection.clone();
        }
        if s.tls.is_some() {
            out.tls = s.tls.clone();
        }
        if !s.port_level_settings.is_empty() {
            out.port_level_settings = s.port_level_settings.clone();
        }
    }
    let port_level = out
        .port_level_settings
        .iter()
        .find(|p| p.port.as_ref().and_then(|s| s.number) == Some(u32::from(port)))
        .cloned();
    if let Some(p) = port_level {
        out.load_balancer = p.load_balancer;
        out.connection_pool = p.connection_pool;
        out.outlier_detection = p.outlier_detection;
        out.tls = p.tls;
    }
    out
}

fn load_balancer(lb: Option<&LoadBalancerSettings>) -> LoadBalancer {
    match lb.and_then(|l| l.simple) {
        Some(SimpleLb::RoundRobin) => LoadBalancer::RoundRobin,
        Some(SimpleLb::Random) => LoadBalancer::Random,
        _ => LoadBalancer::LeastRequest,
    }
}

/// Zero values mean unset, as in Istio.
fn positive(v: Option<i32>) -> Option<u32> {
    v.and_then(|v| u32::try_from(v).ok()).filter(|v| *v > 0)
}

fn pool(p: Option<&ConnectionPoolSettings>) -> Pool {
    let mut out = Pool::default();
    let Some(p) = p else { return out };
    if let Some(tcp) = &p.tcp {
        out.max_connections = positive(tcp.max_connections);
        if let Some(d) = tcp.connect_timeout.as_deref().and_then(|d| duration(d).ok()) {
            out.connect_timeout = d;
        }
        if let Some(d) = tcp.idle_timeout.as_deref().and_then(|d| duration(d).ok()) {
            out.idle_timeout = d;
        }
    }
    if let Some(http) = &p.http {
        out.max_requests = positive(http.http2_max_requests);
        out.max_pending = positive(http.http1_max_pending_requests);
        out.max_requests_per_connection = positive(http.max_requests_per_connection);
        if let Some(d) = http.idle_timeout.as_deref().and_then(|d| duration(d).ok()) {
            out.idle_timeout = d;
        }
    }
    out
}

fn outlier(o: &OutlierDetection) -> Outlier {
    let d = |v: &Option<String>, default: u64| {
        v.as_deref()
            .and_then(|v| duration(v).ok())
            .unwrap_or(Duration::from_secs(default))
    };
    Outlier {
        consecutive_5xx: o
            .consecutive_5xx_errors
            .or(o.consecutive_errors.and_then(|v| u32::try_from(v).ok()))
            .unwrap_or(5),
        consecutive_gateway_errors: o.consecutive_gateway_errors.unwrap_or(0),
        interval: d(&o.interval, 10),
        base_ejection_time: d(&o.base_ejection_time, 30),
        max_ejection_percent: o
            .max_ejection_percent
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(10),
    }
}
