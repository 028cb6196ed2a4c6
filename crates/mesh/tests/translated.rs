//! The product's promise, without sockets: the objects `sluice-translate` renders for a
//! SeldonDeployment, compiled by `sluice-mesh`, route requests the way the SeldonDeployment
//! says — the traffic split, the shadow mirror, Seldon's REST and gRPC routes, each to
//! its predictor's Service port and DestinationRule subset.

use std::collections::BTreeMap;
use std::sync::Arc;

use rand::SeedableRng;
use rand::rngs::StdRng;
use sluice_api::istio::{
    Gateway, GatewaySpec, NETWORKING_API_VERSION, Object, Port, Server, ServiceEntry, ServiceEntryResolution,
    ServiceEntrySpec, ServicePort, WorkloadEntry,
};
use sluice_mesh::{Action, Config, Proxy, RouteTable, Scheme};
use sluice_translate::fixture::sdep;
use sluice_translate::{Desired, Settings, desired, istio};

/// `istio-system/seldon-gateway`, port 80, every host: the gateway Seldon's objects bind to.
fn seldon_gateway() -> Gateway {
    let mut g = Object {
        api_version: NETWORKING_API_VERSION.into(),
        kind: "Gateway".into(),
        spec: GatewaySpec {
            selector: BTreeMap::from([("istio".into(), "ingressgateway".into())]),
            servers: vec![Server {
                port: Port {
                    number: 80,
                    protocol: "HTTP".into(),
                    name: "http".into(),
                    target_port: None,
                },
                hosts: vec!["*".into()],
                ..Server::default()
            }],
        },
        ..Object::default()
    };
    g.metadata.name = Some("seldon-gateway".into());
    g.metadata.namespace = Some("istio-system".into());
    g
}

/// The predictor Services as the mesh sees them, with one pod each, labelled as the
/// predictor's pods are (so DestinationRule subsets select them); pod IPs 10.0.0.N.
fn services(sdep: &sluice_api::SeldonDeployment, desired: &Desired) -> Vec<ServiceEntry> {
    sdep.spec
        .predictors
        .iter()
        .enumerate()
        .map(|(i, predictor)| {
            let name = sluice_translate::names::predictor_key(sdep, predictor);
            let service = desired
                .services
                .iter()
                .find(|s| s.metadata.name.as_deref() == Some(name.as_str()))
                .expect("a Service per predictor");
            let ports: Vec<ServicePort> = service
                .spec
                .as_ref()
                .and_then(|s| s.ports.clone())
                .unwrap_or_default()
                .into_iter()
                .map(|p| ServicePort {
                    number: u32::try_from(p.port).expect("port"),
                    name: p.name.unwrap_or_default(),
                    protocol: None,
                    target_port: None,
                })
                .collect();
            let mut labels = predictor.labels.clone();
            labels.insert("version".into(), istio::version(predictor));
            let mut se = Object {
                api_version: NETWORKING_API_VERSION.into(),
                kind: "ServiceEntry".into(),
                spec: ServiceEntrySpec {
                    hosts: vec![format!("{name}.seldon.svc.cluster.local")],
                    ports: ports.clone(),
                    resolution: Some(ServiceEntryResolution::Static),
                    endpoints: vec![WorkloadEntry {
                        address: Some(format!("10.0.0.{}", i + 1)),
                        labels,
                        ..WorkloadEntry::default()
                    }],
                    ..ServiceEntrySpec::default()
                },
                ..Object::default()
            };
            se.metadata.name = Some(name);
            se.metadata.namespace = Some("seldon".into());
            se
        })
        .collect()
}

fn table(sdep: &sluice_api::SeldonDeployment) -> RouteTable {
    let desired = desired(sdep, &Settings::default()).expect("valid");
    let config = Config {
        gateways: vec![seldon_gateway().into()],
        virtual_services: desired.virtual_services.iter().cloned().map(Arc::new).collect(),
        destination_rules: desired.destination_rules.iter().cloned().map(Arc::new).collect(),
        service_entries: services(sdep, &desired).into_iter().map(Arc::new).collect(),
        ..Config::default()
    };
    let (table, diagnostics) = RouteTable::compile(&Proxy::default(), &config);
    assert!(diagnostics.is_empty(), "{diagnostics:#?}");
    table
}

/// Route one request; (cluster, mirrors) or the local reply's status.
fn route(table: &RouteTable, path: &str, headers: &[(&str, &str)], seed: u64) -> (String, Vec<String>) {
    let mut b = http::Request::builder()
        .method("POST")
        .uri(path)
        .header("host", "anything.example.com");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let (parts, ()) = b.body(()).expect("request").into_parts();
    match table
        .route(80, Scheme::Http, &parts, &mut StdRng::seed_from_u64(seed))
        .action
    {
        Action::Forward(f) => (
            f.cluster.name.clone(),
            f.mirrors().map(|m| m.name.clone()).collect(),
        ),
        Action::Reply(r) => (r.status.as_str().to_string(), Vec::new()),
    }
}

#[test]
fn a_canary_with_a_shadow_routes_as_its_seldon_deployment_says() {
    let sdep = sdep("example")
        .namespace("seldon")
        .predictor("main", Some(75))
        .predictor("canary", Some(25))
        .predictor("shadow", None)
        .shadow()
        .build();
    let table = table(&sdep);
    let rest = "/seldon/seldon/example/api/v1.0/predictions";
    let n = 2000;
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for seed in 0..n {
        let (cluster, mirrors) = route(&table, rest, &[], seed);
        assert_eq!(
            mirrors,
            ["outbound|8000|shadow|example-shadow.seldon.svc.cluster.local"],
            "every request is mirrored to the shadow"
        );
        *counts.entry(cluster).or_insert(0) += 1;
    }
    let main = counts["outbound|8000|main|example-main.seldon.svc.cluster.local"];
    let canary = counts["outbound|8000|canary|example-canary.seldon.svc.cluster.local"];
    assert_eq!(
        main + canary,
        n as usize,
        "{counts:?}: only main and canary take traffic"
    );
    // 75 % within five standard deviations (binomial, n = 2000: sd ≈ 19).
    assert!((main as f64 - 0.75 * n as f64).abs() < 5.0 * 19.4, "{counts:?}");

    // Seldon's gRPC route: the seldon and namespace headers, to each predictor's grpc port.
    let grpc = [("seldon", "example"), ("namespace", "seldon")];
    let mut grpc_clusters = std::collections::BTreeSet::new();
    for seed in 0..200 {
        grpc_clusters.insert(route(&table, "/seldon.protos.Seldon/Predict", &grpc, seed).0);
    }
    assert_eq!(
        grpc_clusters.into_iter().collect::<Vec<_>>(),
        [
            "outbound|5001|canary|example-canary.seldon.svc.cluster.local",
            "outbound|5001|main|example-main.seldon.svc.cluster.local"
        ]
    );
    // Without the headers a gRPC path matches no route; another deployment's path neither.
    assert_eq!(route(&table, "/seldon.protos.Seldon/Predict", &[], 1).0, "404");
    assert_eq!(
        route(&table, "/seldon/seldon/other/api/v1.0/predictions", &[], 1).0,
        "404"
    );
}

/// Heap allocations made by this thread, counted by the test binary's allocator.
mod counting {
    #![allow(unsafe_code)]

    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    thread_local! {
        static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    }

    /// The system allocator, counting the allocations of each thread.
    pub(crate) struct Counting;

    fn count() {
        // `try_with`: a thread being torn down still allocates; it is not counted.
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
    }

    // SAFETY: every call is passed to the system allocator unchanged.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            count();
            // SAFETY: the caller's contract is `System`'s.
            unsafe { System.alloc(layout) }
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            count();
            // SAFETY: as above.
            unsafe { System.alloc_zeroed(layout) }
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            count();
            // SAFETY: as above.
            unsafe { System.realloc(ptr, layout, new_size) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: as above.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    /// Allocations this thread made while `f` ran.
    pub(crate) fn during<T>(f: impl FnOnce() -> T) -> (T, u64) {
        let before = ALLOCATIONS.with(Cell::get);
        let out = f();
        (out, ALLOCATIONS.with(Cell::get) - before)
    }
}

#[global_allocator]
static ALLOCATOR: counting::Counting = counting::Counting;

#[test]
fn routing_a_seldon_request_allocates_nothing() {
    // Issue 14: the route decision (match, split, mirror, rewrite, policies) reuses what
    // the table compiled and borrows the rest from the request.
    let sdep = sdep("example")
        .namespace("seldon")
        .predictor("main", Some(75))
        .predictor("canary", Some(25))
        .predictor("shadow", None)
        .shadow()
        .build();
    let table = table(&sdep);
    let request = |uri: &str, headers: &[(&str, &str)]| {
        let mut b = http::Request::builder()
            .method("POST")
            .uri(uri)
            .header("host", "Gateway.Example.com:80")
            .header("content-type", "application/json");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).expect("request").into_parts().0
    };
    let requests = [
        request("/seldon/seldon/example/api/v1.0/predictions", &[]),
        request("/seldon/seldon/example/api/v1.0/predictions?x=1", &[]),
        request(
            "/seldon.protos.Seldon/Predict",
            &[("seldon", "example"), ("namespace", "seldon")],
        ),
    ];
    let mut rng = StdRng::seed_from_u64(7);
    for parts in &requests {
        // The first use of a regex makes its scratch space, once per thread.
        table.route(80, Scheme::Http, parts, &mut rng);
        let mut forwarded = 0;
        let ((), allocations) = counting::during(|| {
            for _ in 0..100 {
                let decision = table.route(80, Scheme::Http, parts, &mut rng);
                if let Action::Forward(f) = &decision.action {
                    forwarded += usize::from(!f.cluster.endpoints.is_empty());
                }
            }
        });
        assert_eq!(forwarded, 100, "{} is forwarded", parts.uri);
        assert_eq!(allocations, 0, "allocations routing {} 100 times", parts.uri);
    }
}
