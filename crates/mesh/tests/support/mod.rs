//! The shared fixture of spec §12.0, and helpers to route requests through a table.
#![allow(dead_code, unreachable_pub)]

use rand::SeedableRng;
use rand::rngs::StdRng;
use sluice_api::document;
use sluice_api::istio::{
    AuthorizationPolicy, DestinationRule, Gateway, Kind, RequestAuthentication, ServiceEntry, VirtualService,
};
use sluice_mesh::{Action, Config, Decision, Proxy, RouteTable, Scheme};

/// Gateway G0 and the service registry of spec §12.0 (a, b, g, e, d).
pub const FIXTURE: &str = r#"
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: a, namespace: default}
spec:
  hosts: [a.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 8080, name: http, protocol: HTTP}]
  endpoints:
  - {address: 127.0.0.11, labels: {version: v1}}
  - {address: 127.0.0.12, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: b, namespace: default}
spec:
  hosts: [b.default.svc.cluster.local]
  resolution: STATIC
  ports: [{number: 8080, name: http, protocol: HTTP}]
  endpoints: [{address: 127.0.0.21}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: g, namespace: default}
spec:
  hosts: [g.default.svc.cluster.local]
  resolution: STATIC
  ports: [{number: 9090, name: grpc, protocol: GRPC}]
  endpoints: [{address: 127.0.0.31}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: e, namespace: default}
spec:
  hosts: [e.default.svc.cluster.local]
  resolution: STATIC
  ports: [{number: 8080, name: http, protocol: HTTP}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: d, namespace: default}
spec:
  hosts: [d.default.svc.cluster.local]
  resolution: STATIC
  ports: [{number: 8080, name: http, protocol: HTTP}]
  endpoints: [{address: 127.0.0.41}]
"#;

/// Parse multi-document YAML into a Config.
pub fn config(yaml: &str) -> Config {
    let mut config = Config::default();
    for doc in document::parse(yaml).expect("valid YAML") {
        match Kind::from_type_meta(doc.api_version(), doc.kind()).expect("an Istio kind") {
            Kind::Gateway => config
                .gateways
                .push(doc.typed::<Gateway>().expect("Gateway").value.into()),
            Kind::VirtualService => config
                .virtual_services
                .push(doc.typed::<VirtualService>().expect("VS").value.into()),
            Kind::DestinationRule => config
                .destination_rules
                .push(doc.typed::<DestinationRule>().expect("DR").value.into()),
            Kind::ServiceEntry => config
                .service_entries
                .push(doc.typed::<ServiceEntry>().expect("SE").value.into()),
            Kind::RequestAuthentication => config
                .request_authentications
                .push(doc.typed::<RequestAuthentication>().expect("RA").value.into()),
            Kind::AuthorizationPolicy => config
                .authorization_policies
                .push(doc.typed::<AuthorizationPolicy>().expect("AP").value.into()),
        }
    }
    config
}

/// The fixture plus `extra`, compiled; any error fails the test.
pub fn table(extra: &str) -> RouteTable {
    let (table, diagnostics) =
        RouteTable::compile(&Proxy::default(), &config(&format!("{FIXTURE}\n---\n{extra}")));
    let errors: Vec<_> = diagnostics.iter().filter(|d| d.is_error()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    table
}

/// The fixture plus `extra`, compiled, returning the diagnostics.
pub fn diagnostics(extra: &str) -> Vec<sluice_mesh::Diagnostic> {
    RouteTable::compile(&Proxy::default(), &config(&format!("{FIXTURE}\n---\n{extra}"))).1
}

/// `VS(...)` of spec §12.0: namespace default, gateway istio-system/gw, host app.example.com.
pub fn vs(http: &str) -> String {
    vs_named("vs", http)
}

/// Like `vs`, with a name (and a creation time from the name's order, for precedence).
pub fn vs_named(name: &str, http: &str) -> String {
    format!(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: {name}, namespace: default}}\nspec:\n  hosts: [app.example.com]\n  gateways: [istio-system/gw]\n  http: {http}\n"
    )
}

/// A request builder: `req("GET", "/path").host("app.example.com")`.
pub struct Req {
    builder: http::request::Builder,
    port: u16,
    scheme: Scheme,
}

pub fn req(method: &str, target: &str) -> Req {
    Req {
        builder: http::Request::builder()
            .method(method)
            .uri(target)
            .header("host", "app.example.com"),
        port: 80,
        scheme: Scheme::Http,
    }
}

impl Req {
    pub fn header(mut self, name: &str, value: &str) -> Self {
        if name.eq_ignore_ascii_case("host")
            && let Some(h) = self.builder.headers_mut()
        {
            h.remove("host");
        }
        self.builder = self.builder.header(name, value);
        self
    }

    pub fn host(self, host: &str) -> Self {
        self.header("host", host)
    }

    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// The request, its listener port and scheme.
    pub fn into_parts(self) -> (http::request::Parts, u16, Scheme) {
        let (parts, ()) = self.builder.body(()).expect("valid request").into_parts();
        (parts, self.port, self.scheme)
    }

    /// Route through `table` with a seeded RNG.
    pub fn route(self, table: &RouteTable) -> Decision {
        self.route_seeded(table, 7)
    }

    pub fn route_seeded(self, table: &RouteTable, seed: u64) -> Decision {
        let (parts, ()) = self.builder.body(()).expect("valid request").into_parts();
        table.route(self.port, self.scheme, &parts, &mut StdRng::seed_from_u64(seed))
    }
}

/// Where a decision sends the request: `"a.default.svc.cluster.local"`, or the local reply status.
pub fn target(d: &Decision) -> String {
    match &d.action {
        Action::Forward(f) => f.cluster.host.split('.').next().unwrap_or_default().to_string(),
        Action::Reply(r) => r.status.as_str().to_string(),
    }
}

pub fn forward(d: &Decision) -> &sluice_mesh::Forward {
    match &d.action {
        Action::Forward(f) => f,
        Action::Reply(r) => panic!("expected a forward, got {r:?}"),
    }
}

pub fn reply(d: &Decision) -> &sluice_mesh::Reply {
    match &d.action {
        Action::Reply(r) => r,
        Action::Forward(f) => panic!("expected a local reply, got a forward to {}", f.cluster.name),
    }
}

pub fn header<'a>(r: &'a sluice_mesh::Reply, name: &str) -> Option<&'a str> {
    r.headers
        .iter()
        .find(|(n, _)| n == name)
        .and_then(|(_, v)| v.to_str().ok())
}
