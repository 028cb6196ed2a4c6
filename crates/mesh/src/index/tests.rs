use std::collections::BTreeMap;

use http::{HeaderMap, HeaderValue};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use sluice_api::istio::{HttpMatchRequest, StringMatch};

use super::RouteIndex;
use crate::matcher::{RequestMatch, RequestView};
use crate::route::Scheme;

/// Paths, prefixes and values that overlap on purpose: shared prefixes, case variants,
/// one a prefix of another, non-ASCII, Seldon's shapes.
const PATHS: &[&str] = &[
    "/",
    "/a",
    "/a/",
    "/A/",
    "/a/b",
    "/ab",
    "/seldon/ns/m1/",
    "/seldon/ns/m10/",
    "/seldon/NS/m1/",
    "/seldon.protos.Seldon/Predict",
    "/é/x",
    "",
];
const NAMES: &[&str] = &["seldon", "namespace", "x-a"];
const VALUES: &[&str] = &["m1", "m10", "ns", "", "a,b", "a", "é"];

fn pick<'a>(rng: &mut StdRng, from: &[&'a str]) -> &'a str {
    from[rng.random_range(0..from.len())]
}

fn string_match(rng: &mut StdRng, from: &[&str]) -> StringMatch {
    let value = pick(rng, from).to_string();
    match rng.random_range(0..5) {
        0 | 1 => StringMatch {
            exact: Some(value),
            ..StringMatch::default()
        },
        2 => StringMatch {
            prefix: Some(value),
            ..StringMatch::default()
        },
        3 => StringMatch {
            regex: Some(if value.is_empty() {
                ".*".to_string()
            } else {
                format!("{}.*", regex::escape(&value))
            }),
            ..StringMatch::default()
        },
        _ => StringMatch::default(),
    }
}

fn route(rng: &mut StdRng) -> RequestMatch {
    let mut m = HttpMatchRequest::default();
    if rng.random_bool(0.8) {
        m.uri = Some(string_match(rng, PATHS));
        m.ignore_uri_case = rng.random_bool(0.2).then_some(true);
    }
    let mut headers = BTreeMap::new();
    for _ in 0..rng.random_range(0..3) {
        headers.insert(pick(rng, NAMES).to_string(), string_match(rng, VALUES));
    }
    m.headers = headers;
    if rng.random_bool(0.1) {
        m.method = Some(Box::new(StringMatch {
            exact: Some("POST".to_string()),
            ..StringMatch::default()
        }));
    }
    if rng.random_bool(0.1) {
        m.without_headers
            .insert(pick(rng, NAMES).to_string(), string_match(rng, VALUES));
    }
    RequestMatch::compile(&m).unwrap_or_else(|_| RequestMatch::any())
}

fn request(rng: &mut StdRng) -> (String, HeaderMap) {
    let mut path = pick(rng, PATHS).to_string();
    if path.is_empty() || rng.random_bool(0.5) {
        path = format!("{path}{}", pick(rng, &["", "x", "/api/v1.0/predictions", "1/"]));
    }
    if !path.starts_with('/') {
        path.insert(0, '/');
    }
    let mut headers = HeaderMap::new();
    for _ in 0..rng.random_range(0..4) {
        let name = http::HeaderName::from_static(pick(rng, NAMES));
        let value = match rng.random_range(0..10) {
            // A value that is not UTF-8.
            0 => HeaderValue::from_bytes(b"m\xff1").expect("header value"),
            _ => HeaderValue::from_str(pick(rng, VALUES)).expect("header value"),
        };
        headers.append(name, value);
    }
    (path, headers)
}

#[test]
fn the_index_finds_the_route_a_scan_from_the_top_finds() {
    let mut rng = StdRng::seed_from_u64(14);
    let mut found = 0;
    for _ in 0..3000 {
        let routes: Vec<RequestMatch> = (0..rng.random_range(1..40)).map(|_| route(&mut rng)).collect();
        let index = RouteIndex::build(&routes);
        for _ in 0..40 {
            let (path, headers) = request(&mut rng);
            let view = RequestView {
                method: if rng.random_bool(0.5) { "POST" } else { "GET" },
                path: &path,
                query: None,
                authority: "example.com",
                scheme: Scheme::Http,
                headers: &headers,
                identity: None,
            };
            let scan = routes.iter().position(|r| r.matches(&view));
            let indexed = index.first(&view, |i| routes[i].matches(&view));
            assert_eq!(indexed, scan, "{path} {headers:?}\n{routes:#?}");
            found += usize::from(scan.is_some());
        }
    }
    // The generator must exercise matches, not only misses.
    assert!(found > 20_000, "only {found} requests matched a route");
}

#[test]
fn seldons_routes_are_each_filed_under_their_own_key() {
    // 1,000 deployments' REST prefix and gRPC regex + headers: the last deployment's
    // request tests only its own route, not the 1,999 before it.
    let mut routes = Vec::new();
    for n in 0..1000 {
        let rest = HttpMatchRequest {
            uri: Some(StringMatch {
                prefix: Some(format!("/seldon/seldon/model-{n}/")),
                ..StringMatch::default()
            }),
            ..HttpMatchRequest::default()
        };
        let grpc = HttpMatchRequest {
            uri: Some(StringMatch {
                regex: Some(".*tensorflow.*|.*seldon.protos.*|.*inference.*".to_string()),
                ..StringMatch::default()
            }),
            headers: [
                ("seldon", format!("model-{n}")),
                ("namespace", "seldon".to_string()),
            ]
            .into_iter()
            .map(|(k, v)| {
                let m = StringMatch {
                    exact: Some(v),
                    ..StringMatch::default()
                };
                (k.to_string(), m)
            })
            .collect(),
            ..HttpMatchRequest::default()
        };
        routes.push(RequestMatch::compile(&rest).expect("rest"));
        routes.push(RequestMatch::compile(&grpc).expect("grpc"));
    }
    let index = RouteIndex::build(&routes);
    let tested = std::cell::Cell::new(0);
    let headers = HeaderMap::new();
    let path = "/seldon/seldon/model-999/api/v1.0/predictions";
    let view = RequestView {
        method: "POST",
        path,
        query: None,
        authority: "example.com",
        scheme: Scheme::Http,
        headers: &headers,
        identity: None,
    };
    let first = index.first(&view, |i| {
        tested.set(tested.get() + 1);
        routes[i].matches(&view)
    });
    assert_eq!((first, tested.get()), (Some(1998), 1));
    let mut headers = HeaderMap::new();
    headers.insert("seldon", HeaderValue::from_static("model-999"));
    headers.insert("namespace", HeaderValue::from_static("seldon"));
    let view = RequestView {
        path: "/seldon.protos.Seldon/Predict",
        headers: &headers,
        ..view
    };
    tested.set(0);
    let first = index.first(&view, |i| {
        tested.set(tested.get() + 1);
        routes[i].matches(&view)
    });
    assert_eq!((first, tested.get()), (Some(1999), 1));
}
