//! Envoy, configured as istiod configures an ingress gateway, run as a child process.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The Envoy binary: `SLUICE_ENVOY`, else `.venv/bin/envoy` at the workspace root.
pub fn binary() -> PathBuf {
    std::env::var_os("SLUICE_ENVOY")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/envoy"))
}

/// Istio's default retry policy for routes without `retries` (spec §4.9), as istiod writes it.
pub const DEFAULT_RETRY: &str = "{retry_on: \"connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes\", num_retries: 2, retry_host_predicate: [{name: envoy.retry_host_predicates.previous_hosts, typed_config: {\"@type\": type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate}}], host_selection_retry_max_attempts: 5}";

/// The clusters of the §12.0 registry, as istiod names and shapes them (before a case's own).
fn registry_clusters() -> String {
    let h1 = |name: &str, endpoints: &[&str]| {
        let eps: Vec<String> = endpoints
            .iter()
            .map(|p| {
                format!(
                    "{{endpoint: {{address: {{socket_address: {{address: 127.0.0.1, port_value: {p}}}}}}}}}"
                )
            })
            .collect();
        format!(
            "- name: \"{name}\"\n  type: STATIC\n  connect_timeout: 10s\n  lb_policy: LEAST_REQUEST\n  circuit_breakers: {{thresholds: [{{max_connections: 4294967295, max_pending_requests: 4294967295, max_requests: 4294967295, max_retries: 4294967295}}]}}\n  load_assignment: {{cluster_name: \"{name}\", endpoints: [{{lb_endpoints: [{}]}}]}}\n",
            eps.join(", ")
        )
    };
    let mut out = String::new();
    out.push_str(&h1(
        "outbound|8080||a.default.svc.cluster.local",
        &["${A_V1}", "${A_V2}"],
    ));
    out.push_str(&h1("outbound|8080||b.default.svc.cluster.local", &["${B}"]));
    out.push_str(&h1("outbound|8080||e.default.svc.cluster.local", &[]));
    out.push_str(&h1("outbound|8080||d.default.svc.cluster.local", &["${D}"]));
    out.push_str(&h1("outbound|9090||g.default.svc.cluster.local", &["${G}"]));
    out.push_str("  typed_extension_protocol_options: {envoy.extensions.upstreams.http.v3.HttpProtocolOptions: {\"@type\": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions, explicit_http_config: {http2_protocol_options: {}}}}\n");
    out
}

/// The side of a variant written for Envoy.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Side {
    /// The route configuration's `virtual_hosts` (a YAML list).
    pub routes: String,
    /// The Gateway server port the listener stands for (default 80).
    #[serde(default)]
    pub port: Option<u16>,
    /// Clusters besides the registry's (a YAML list); one with a registry cluster's name
    /// replaces it.
    #[serde(default)]
    pub clusters: Option<String>,
    /// Extra HttpConnectionManager fields (a YAML mapping).
    #[serde(default)]
    pub hcm: Option<String>,
    /// HTTP filters before istiod's fault, cors and router (a YAML list): the
    /// `jwt_authn` and `rbac` filters of RequestAuthentications and AuthorizationPolicies.
    #[serde(default)]
    pub filters: Option<String>,
}

/// The whole bootstrap: one listener for the gateway port, the registry's clusters and
/// the case's.
pub fn bootstrap(side: &Side, listen: u16, trusted_proxies: u32) -> String {
    let port = side.port.unwrap_or(80);
    let own = side.clusters.as_deref().unwrap_or("");
    let own_names: Vec<String> = if own.trim().is_empty() {
        Vec::new()
    } else {
        let parsed: Vec<serde_json::Value> =
            serde_saphyr::from_str(own).expect("envoy.clusters is a YAML list");
        parsed
            .iter()
            .filter_map(|c| c["name"].as_str().map(str::to_string))
            .collect()
    };
    // A case's cluster replaces the registry's cluster of the same name.
    let registry: String = registry_clusters()
        .split("- name: ")
        .filter(|c| !c.is_empty())
        .filter(|c| {
            let name = c.lines().next().unwrap_or("").trim().trim_matches('"');
            !own_names.iter().any(|n| n == name)
        })
        .map(|c| format!("- name: {c}"))
        .collect();
    let hcm_extra = side.hcm.as_deref().unwrap_or("");
    let mut hcm = String::new();
    for line in hcm_extra.lines() {
        hcm.push_str("          ");
        hcm.push_str(line);
        hcm.push('\n');
    }
    format!(
        r#"static_resources:
  listeners:
  - name: "0.0.0.0_{port}"
    address: {{socket_address: {{address: 127.0.0.1, port_value: {listen}}}}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: "outbound_0.0.0.0_{port}"
          codec_type: AUTO
          server_name: istio-envoy
          server_header_transformation: OVERWRITE
          use_remote_address: true
          xff_num_trusted_hops: {trusted_proxies}
          normalize_path: true
          merge_slashes: false
          path_with_escaped_slashes_action: KEEP_UNCHANGED
          forward_client_cert_details: SANITIZE_SET
          stream_idle_timeout: 0s
          # istiod (Envoy >= 1.33, spec §11): no client is internal. Envoy 1.40 still counts
          # loopback as internal under an empty list, so list one address no client has.
          internal_address_config: {{cidr_ranges: [{{address_prefix: 203.0.113.255, prefix_len: 32}}]}}
          upgrade_configs: [{{upgrade_type: websocket}}]
{hcm}          route_config:
            name: "http.{port}"
            validate_clusters: false
            ignore_port_in_host_matching: true
            virtual_hosts:
{routes}
          http_filters:
{filters}          - name: envoy.filters.http.fault
            typed_config: {{"@type": type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault}}
          - name: envoy.filters.http.cors
            typed_config: {{"@type": type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors}}
          - name: envoy.filters.http.router
            typed_config: {{"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}}
  clusters:
{registry}{own}
# Istio's bootstrap runtime (spec C34): a #fragment is stripped, not rejected.
layered_runtime:
  layers:
  - name: istio
    static_layer:
      envoy.reloadable_features.http_reject_path_with_fragment: false
# No admin interface: one on a TCP port could take the listener port another case reserved
# (and a request for that case would reach this Envoy's admin page).
"#,
        routes = indent(&side.routes.replace("${RETRY}", DEFAULT_RETRY), 12),
        filters = side.filters.as_deref().map(|f| indent(f, 10)).unwrap_or_default(),
        own = indent(own, 2),
        registry = indent(&registry, 2),
    )
}

fn indent(text: &str, by: usize) -> String {
    let pad = " ".repeat(by);
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| format!("{pad}{l}\n"))
        .collect()
}

/// A running Envoy; killed on drop.
pub struct Envoy {
    child: Child,
    pub addr: SocketAddr,
    log: PathBuf,
}

impl Drop for Envoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Envoy {
    /// Start Envoy on `config` (its listener on `addr`) and wait until it listens.
    pub async fn start(dir: &Path, config: &str, addr: SocketAddr) -> Envoy {
        let binary = binary();
        assert!(
            binary.exists(),
            "Envoy not found at {} (run scripts/test, or set SLUICE_ENVOY)",
            binary.display()
        );
        let file = dir.join("envoy.yaml");
        std::fs::write(&file, config).expect("write envoy.yaml");
        let log = dir.join("envoy.log");
        let child = Command::new(&binary)
            .arg("-c")
            .arg(&file)
            .args([
                "--disable-hot-restart",
                "-l",
                "warning",
                "--use-dynamic-base-id",
                "--base-id-path",
            ])
            .arg(dir.join("base-id"))
            .arg("--log-path")
            .arg(&log)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("envoy starts");
        let mut envoy = Envoy { child, addr, log };
        for _ in 0..400 {
            if let Ok(Some(status)) = envoy.child.try_wait() {
                panic!(
                    "Envoy exited ({status}) on {}:\n{}",
                    file.display(),
                    std::fs::read_to_string(&envoy.log).unwrap_or_default()
                );
            }
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return envoy;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        envoy.child.kill().ok();
        panic!(
            "Envoy did not listen on {addr} within 10 s; log: {}",
            envoy.log.display()
        );
    }
}
