//! Conformance cases of spec §12.1–§12.5 that are decided by the route table alone,
//! each named after its number. Cases about the wire (retries against real sockets,
//! timeouts, protocols) are in `sluice-gateway`'s tests.

mod support;

use support::*;

const TO_A: &str = "[{route: [{destination: {host: a.default.svc.cluster.local}}]}]";

fn vs_yaml(name: &str, namespace: &str, extra_spec: &str, http: &str) -> String {
    format!(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: {name}, namespace: {namespace}}}\nspec:\n{extra_spec}  http: {http}\n"
    )
}

// §12.1 Binding and virtual-host selection

#[test]
fn c01_no_virtual_service_is_404() {
    let t = table("");
    let d = req("GET", "/").route(&t);
    assert_eq!(reply(&d).status, 404);
    assert!(reply(&d).body.is_empty());
}

#[test]
fn c02_catch_all_route_forwards() {
    let t = table(&vs(TO_A));
    assert_eq!(target(&req("GET", "/anything").route(&t)), "a");
}

#[test]
fn c03_other_host_is_404() {
    let t = table(&vs(TO_A));
    assert_eq!(
        target(&req("GET", "/").host("other.example.com").route(&t)),
        "404"
    );
}

#[test]
fn c04_host_is_case_insensitive_and_port_ignored() {
    let t = table(&vs(TO_A));
    assert_eq!(
        target(&req("GET", "/").host("APP.Example.COM:31380").route(&t)),
        "a"
    );
}

#[test]
fn c05_unqualified_gateway_resolves_in_the_vs_namespace() {
    let t = table(&vs_yaml(
        "v",
        "apps",
        "  hosts: [app.example.com]\n  gateways: [gw]\n",
        TO_A,
    ));
    assert_eq!(target(&req("GET", "/").route(&t)), "404");
}

#[test]
fn c06_qualified_and_legacy_gateway_names() {
    for gw in ["istio-system/gw", "gw.istio-system.svc.cluster.local"] {
        let http = "[{route: [{destination: {host: a.default.svc.cluster.local}}]}]";
        let t = table(&vs_yaml(
            "v",
            "apps",
            &format!("  hosts: [app.example.com]\n  gateways: [{gw}]\n"),
            http,
        ));
        assert_eq!(target(&req("GET", "/").route(&t)), "a", "{gw}");
    }
}

#[test]
fn c07_vs_without_gateways_binds_to_mesh_only() {
    for (gateways, expected) in [
        ("", "404"),
        ("  gateways: [mesh]\n", "404"),
        ("  gateways: [mesh, istio-system/gw]\n", "a"),
    ] {
        let t = table(&vs_yaml(
            "v",
            "default",
            &format!("  hosts: [app.example.com]\n{gateways}"),
            TO_A,
        ));
        assert_eq!(target(&req("GET", "/").route(&t)), expected, "{gateways:?}");
    }
}

#[test]
fn c08_export_to_dot_hides_a_vs_from_the_gateway_namespace() {
    let spec = "  hosts: [app.example.com]\n  gateways: [istio-system/gw]\n  exportTo: [\".\"]\n";
    assert_eq!(
        target(&req("GET", "/").route(&table(&vs_yaml("v", "default", spec, TO_A)))),
        "404"
    );
    assert_eq!(
        target(&req("GET", "/").route(&table(&vs_yaml("v", "istio-system", spec, TO_A)))),
        "a"
    );
}

#[test]
fn c09_wildcard_server_and_vs_hosts() {
    let gw = "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: wild, namespace: istio-system}\nspec:\n  selector: {istio: ingressgateway}\n  servers:\n  - port: {number: 81, name: http, protocol: HTTP}\n    hosts: [\"*.example.com\"]\n---\n";
    let vs = vs_yaml(
        "v",
        "default",
        "  hosts: [\"*.example.com\"]\n  gateways: [istio-system/wild]\n",
        TO_A,
    );
    let t = table(&format!("{gw}{vs}"));
    for (host, expected) in [
        ("foo.example.com", "a"),
        ("a.b.example.com", "a"),
        ("example.com", "404"),
    ] {
        assert_eq!(
            target(&req("GET", "/").host(host).port(81).route(&t)),
            expected,
            "{host}"
        );
    }
}

fn gateway_with_hosts(hosts: &str) -> String {
    format!(
        "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {{name: scoped, namespace: istio-system}}\nspec:\n  selector: {{istio: ingressgateway}}\n  servers:\n  - port: {{number: 82, name: http, protocol: HTTP}}\n    hosts: [{hosts}]\n---\n"
    )
}

#[test]
fn c10_server_hosts_can_be_scoped_to_a_namespace() {
    let spec = "  hosts: [app.example.com]\n  gateways: [istio-system/scoped]\n";
    let gw = gateway_with_hosts("\"apps/*\"");
    let in_default = table(&format!("{gw}{}", vs_yaml("v", "default", spec, TO_A)));
    assert_eq!(target(&req("GET", "/").port(82).route(&in_default)), "404");
    let in_apps = table(&format!("{gw}{}", vs_yaml("v", "apps", spec, TO_A)));
    assert_eq!(target(&req("GET", "/").port(82).route(&in_apps)), "a");
}

#[test]
fn c11_dot_server_host_means_the_gateway_namespace() {
    let spec = "  hosts: [app.example.com]\n  gateways: [istio-system/scoped]\n";
    let gw = gateway_with_hosts("\"./app.example.com\"");
    let in_default = table(&format!("{gw}{}", vs_yaml("v", "default", spec, TO_A)));
    assert_eq!(target(&req("GET", "/").port(82).route(&in_default)), "404");
    let in_system = table(&format!("{gw}{}", vs_yaml("v", "istio-system", spec, TO_A)));
    assert_eq!(target(&req("GET", "/").port(82).route(&in_system)), "a");
}

#[test]
fn c12_short_vs_hosts_resolve_to_cluster_names() {
    let t = table(&vs_yaml(
        "v",
        "default",
        "  hosts: [app]\n  gateways: [istio-system/gw]\n",
        TO_A,
    ));
    assert_eq!(target(&req("GET", "/").host("app").route(&t)), "404");
    assert_eq!(
        target(&req("GET", "/").host("app.default.svc.cluster.local").route(&t)),
        "a"
    );
}

#[test]
fn c13_exact_virtual_host_wins_over_wildcard() {
    let vs1 = vs_yaml(
        "vs1",
        "default",
        "  hosts: [\"*.example.com\"]\n  gateways: [istio-system/gw]\n",
        TO_A,
    );
    let vs2 = vs_yaml(
        "vs2",
        "default",
        "  hosts: [app.example.com]\n  gateways: [istio-system/gw]\n",
        "[{match: [{uri: {prefix: /v2}}], route: [{destination: {host: b.default.svc.cluster.local}}]}]",
    );
    let t = table(&format!("{vs1}---\n{vs2}"));
    assert_eq!(target(&req("GET", "/x").route(&t)), "404");
    assert_eq!(target(&req("GET", "/v2").route(&t)), "b");
    assert_eq!(target(&req("GET", "/x").host("other.example.com").route(&t)), "a");
}

fn timed_vs(name: &str, created: &str, http: &str) -> String {
    format!(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: {name}, namespace: default, creationTimestamp: \"{created}\"}}\nspec:\n  hosts: [app.example.com]\n  gateways: [istio-system/gw]\n  http: {http}\n---\n"
    )
}

const OLD: &str = "2026-01-01T00:00:00Z";
const NEW: &str = "2026-02-01T00:00:00Z";

#[test]
fn c14_routes_of_several_virtual_services_are_concatenated() {
    let t = table(&format!(
        "{}{}",
        timed_vs(
            "zz-old",
            OLD,
            "[{match: [{uri: {prefix: /a}}], route: [{destination: {host: a.default.svc.cluster.local}}]}]"
        ),
        timed_vs(
            "aa-new",
            NEW,
            "[{match: [{uri: {prefix: /b}}], route: [{destination: {host: b.default.svc.cluster.local}}]}]"
        ),
    ));
    assert_eq!(target(&req("GET", "/a").route(&t)), "a");
    assert_eq!(target(&req("GET", "/b").route(&t)), "b");
    assert_eq!(target(&req("GET", "/c").route(&t)), "404");
}

#[test]
fn c15_catch_all_routes_move_to_the_end() {
    let t = table(&format!(
        "{}{}",
        timed_vs("zz-old", OLD, TO_A),
        timed_vs(
            "aa-new",
            NEW,
            "[{match: [{uri: {prefix: /b}}], route: [{destination: {host: b.default.svc.cluster.local}}]}]"
        ),
    ));
    assert_eq!(target(&req("GET", "/b").route(&t)), "b");
    assert_eq!(target(&req("GET", "/x").route(&t)), "a");
}

#[test]
fn c16_older_catch_all_wins() {
    let t = table(&format!(
        "{}{}",
        timed_vs("zz-old", OLD, TO_A),
        timed_vs(
            "aa-new",
            NEW,
            "[{route: [{destination: {host: b.default.svc.cluster.local}}]}]"
        ),
    ));
    for path in ["/", "/b", "/x"] {
        assert_eq!(target(&req("GET", path).route(&t)), "a", "{path}");
    }
}

#[test]
fn c17_routes_after_a_catch_all_are_dropped() {
    let http = "[{route: [{destination: {host: a.default.svc.cluster.local}}]}, {match: [{uri: {prefix: /b}}], route: [{destination: {host: b.default.svc.cluster.local}}]}]";
    let t = table(&vs(http));
    assert_eq!(target(&req("GET", "/b").route(&t)), "a");
    assert!(
        diagnostics(&vs(http))
            .iter()
            .any(|d| d.message.contains("unreachable"))
    );
}

#[test]
fn c18_regex_catch_all_short_circuits() {
    let t = table(&vs(
        "[{match: [{uri: {regex: \".*\"}}], fault: {abort: {httpStatus: 418, percentage: {value: 100}}}, route: [{destination: {host: a.default.svc.cluster.local}}]}, {route: [{destination: {host: b.default.svc.cluster.local}}]}]",
    ));
    for path in ["/", "/x/y"] {
        let d = req("GET", path).route(&t);
        assert_eq!(reply(&d).status, 418);
        assert_eq!(reply(&d).body, b"fault filter abort");
    }
}

// §12.2 Match semantics

fn one_match(m: &str) -> String {
    vs(&format!(
        "[{{match: [{m}], route: [{{destination: {{host: a.default.svc.cluster.local}}}}]}}]"
    ))
}

#[test]
fn c19_prefix_is_a_plain_string_prefix() {
    let t = table(&one_match("{uri: {prefix: /foo}}"));
    for (path, expected) in [("/foo", "a"), ("/foo/bar", "a"), ("/foobar", "a"), ("/fo", "404")] {
        assert_eq!(target(&req("GET", path).route(&t)), expected, "{path}");
    }
}

#[test]
fn c20_exact_ignores_the_query() {
    let t = table(&one_match("{uri: {exact: /foo}}"));
    for (path, expected) in [("/foo", "a"), ("/foo?x=1", "a"), ("/foo/", "404")] {
        assert_eq!(target(&req("GET", path).route(&t)), expected, "{path}");
    }
}

#[test]
fn c21_regex_matches_the_whole_path() {
    let t = table(&one_match("{uri: {regex: \"/api/v[0-9]+\"}}"));
    for (path, expected) in [("/api/v1", "a"), ("/api/v1/users", "404"), ("/x/api/v1", "404")] {
        assert_eq!(target(&req("GET", path).route(&t)), expected, "{path}");
    }
}

#[test]
fn c22_ignore_uri_case_applies_to_exact_and_prefix_only() {
    let t = table(&one_match("{uri: {prefix: /Foo}, ignoreUriCase: true}"));
    assert_eq!(target(&req("GET", "/foo/x").route(&t)), "a");
    let t = table(&one_match("{uri: {regex: /Foo}, ignoreUriCase: true}"));
    assert_eq!(target(&req("GET", "/foo").route(&t)), "404");
}

#[test]
fn c23_header_exact_is_case_sensitive_in_the_value() {
    let t = table(&one_match("{headers: {end-user: {exact: jason}}}"));
    assert_eq!(
        target(&req("GET", "/").header("End-User", "jason").route(&t)),
        "a"
    );
    assert_eq!(
        target(&req("GET", "/").header("end-user", "Jason").route(&t)),
        "404"
    );
    assert_eq!(target(&req("GET", "/").route(&t)), "404");
}

#[test]
fn c24_header_presence() {
    for m in ["{headers: {x-debug: {}}}", "{headers: {x-debug: {regex: \"*\"}}}"] {
        let t = table(&one_match(m));
        assert_eq!(
            target(&req("GET", "/").header("x-debug", "").route(&t)),
            "a",
            "{m}"
        );
        assert_eq!(target(&req("GET", "/").route(&t)), "404", "{m}");
    }
}

fn without_headers(m: &str) -> String {
    vs(&format!(
        "[{{match: [{{withoutHeaders: {{end-user: {m}}}}}], fault: {{abort: {{httpStatus: 403, percentage: {{value: 100}}}}}}, route: [{{destination: {{host: a.default.svc.cluster.local}}}}]}}, {{route: [{{destination: {{host: a.default.svc.cluster.local}}}}]}}]"
    ))
}

#[test]
fn c25_without_headers_inverts_the_match() {
    let t = table(&without_headers("{exact: jason}"));
    assert_eq!(
        target(&req("GET", "/").header("end-user", "jason").route(&t)),
        "a"
    );
    assert_eq!(
        target(&req("GET", "/").header("end-user", "bob").route(&t)),
        "403"
    );
    assert_eq!(target(&req("GET", "/").route(&t)), "403");
}

#[test]
fn c26_without_headers_presence_and_any_string() {
    let t = table(&without_headers("{regex: \"*\"}"));
    assert_eq!(
        target(&req("GET", "/").header("end-user", "jason").route(&t)),
        "a"
    );
    assert_eq!(target(&req("GET", "/").header("end-user", "").route(&t)), "a");
    assert_eq!(target(&req("GET", "/").route(&t)), "403");
    let t = table(&without_headers("{regex: \".*\"}"));
    for r in [
        req("GET", "/").header("end-user", "jason"),
        req("GET", "/").header("end-user", ""),
        req("GET", "/"),
    ] {
        assert_eq!(target(&r.route(&t)), "a");
    }
}

#[test]
fn c27_query_parameters() {
    let t = table(&vs(
        "[{match: [{queryParams: {version: {exact: v2}}}], route: [{destination: {host: b.default.svc.cluster.local}}]}, {route: [{destination: {host: a.default.svc.cluster.local}}]}]",
    ));
    assert_eq!(target(&req("GET", "/?version=v2").route(&t)), "b");
    assert_eq!(target(&req("GET", "/?version=v22").route(&t)), "a");
    assert_eq!(target(&req("GET", "/").route(&t)), "a");
    let t = table(&one_match("{queryParams: {flag: {exact: \"\"}}}"));
    assert_eq!(target(&req("GET", "/?flag").route(&t)), "a");
}

#[test]
fn c28_method_match() {
    for m in ["{method: {exact: GET}}", "{headers: {\":method\": {exact: GET}}}"] {
        let t = table(&one_match(m));
        assert_eq!(target(&req("GET", "/").route(&t)), "a", "{m}");
        assert_eq!(target(&req("POST", "/").route(&t)), "404", "{m}");
    }
}

#[test]
fn c29_authority_match_includes_the_port() {
    let t = table(&one_match("{authority: {exact: app.example.com}}"));
    assert_eq!(target(&req("GET", "/").route(&t)), "a");
    assert_eq!(
        target(&req("GET", "/").host("app.example.com:80").route(&t)),
        "404"
    );
}

#[test]
fn c30_blocks_or_conditions_and() {
    let t = table(&vs(
        "[{match: [{uri: {prefix: /a}}, {headers: {x: {exact: \"1\"}}}], route: [{destination: {host: a.default.svc.cluster.local}}]}]",
    ));
    assert_eq!(target(&req("GET", "/a").route(&t)), "a");
    assert_eq!(target(&req("GET", "/z").header("x", "1").route(&t)), "a");
    assert_eq!(target(&req("GET", "/z").route(&t)), "404");
    let t = table(&one_match("{uri: {prefix: /a}, headers: {x: {exact: \"1\"}}}"));
    assert_eq!(target(&req("GET", "/a").route(&t)), "404");
}

#[test]
fn c31_match_port_is_a_static_filter() {
    let t = table(&vs(
        "[{match: [{port: 8080}], route: [{destination: {host: b.default.svc.cluster.local}}]}, {route: [{destination: {host: a.default.svc.cluster.local}}]}]",
    ));
    assert_eq!(target(&req("GET", "/any").route(&t)), "a");
}

#[test]
fn c32_match_gateways_override_the_top_level() {
    let t = table(&vs_yaml(
        "v",
        "default",
        "  hosts: [app.example.com]\n  gateways: [mesh, istio-system/gw]\n",
        "[{match: [{gateways: [mesh]}], route: [{destination: {host: b.default.svc.cluster.local}}]}, {route: [{destination: {host: a.default.svc.cluster.local}}]}]",
    ));
    assert_eq!(target(&req("GET", "/").route(&t)), "a");
}

#[test]
fn c33_paths_are_normalized_before_matching() {
    let t = table(&one_match("{uri: {prefix: /public}}"));
    assert_eq!(target(&req("GET", "/public/%2E%2E/private").route(&t)), "404");
    let t = table(&one_match("{uri: {exact: /b}}"));
    let d = req("GET", "/a/../b").route(&t);
    assert_eq!(forward(&d).path_and_query("/a/../b"), "/b");
    let t = table(&one_match("{uri: {exact: /a/b}}"));
    assert_eq!(target(&req("GET", "/a//b").route(&t)), "404");
}

#[test]
fn c34_fragments_are_dropped() {
    let t = table(&one_match("{uri: {exact: /foo}}"));
    // `http::Uri` rejects `#` in a request target, as hyper does on the wire; the
    // normalization drops it for targets that carry it.
    let target = sluice_mesh::path::normalize("/foo#frag").expect("valid");
    assert_eq!(target.path, "/foo");
    assert_eq!(support::target(&req("GET", "/foo").route(&t)), "a");
}

// §12.3 Destinations (the parts decided by the table)

fn split(weights: (i32, i32), seed: u64, n: usize) -> (usize, usize) {
    let t = table(&vs(&format!(
        "[{{route: [{{destination: {{host: a.default.svc.cluster.local}}, weight: {}}}, {{destination: {{host: b.default.svc.cluster.local}}, weight: {}}}]}}]",
        weights.0, weights.1
    )));
    let mut rng_seed = seed;
    let (mut a, mut b) = (0, 0);
    for _ in 0..n {
        rng_seed += 1;
        match target(&req("GET", "/").route_seeded(&t, rng_seed)).as_str() {
            "a" => a += 1,
            "b" => b += 1,
            other => panic!("{other}"),
        }
    }
    (a, b)
}

#[test]
fn c35_weighted_split_lands_within_binomial_bounds() {
    // 1000 draws at p = 0.25: mean 250, sd ≈ 13.7; ±4 sd.
    for weights in [(25, 75), (1, 3)] {
        let (a, b) = split(weights, 1000, 1000);
        assert!((195..=305).contains(&a), "{weights:?}: a={a} b={b}");
    }
}

#[test]
fn c36_single_destination_with_weight_zero_gets_everything() {
    let t = table(&vs(
        "[{route: [{destination: {host: a.default.svc.cluster.local}, weight: 0}]}]",
    ));
    assert_eq!(target(&req("GET", "/").route(&t)), "a");
}

#[test]
fn c37_weight_zero_destination_gets_nothing() {
    let (a, b) = split((100, 0), 5, 300);
    assert_eq!((a, b), (300, 0));
}

#[test]
fn c38_subsets_select_endpoints_and_missing_subsets_are_503() {
    let dr = "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: a, namespace: default}\nspec:\n  host: a.default.svc.cluster.local\n  subsets: [{name: v1, labels: {version: v1}}]\n---\n";
    let t = table(&format!(
        "{dr}{}",
        vs("[{route: [{destination: {host: a.default.svc.cluster.local, subset: v1}}]}]")
    ));
    let d = req("GET", "/").route(&t);
    let endpoints: Vec<&str> = forward(&d)
        .cluster
        .endpoints
        .iter()
        .map(|e| e.address())
        .collect();
    assert_eq!(endpoints, ["127.0.0.11"]);
    assert_eq!(
        forward(&d).cluster.name,
        "outbound|8080|v1|a.default.svc.cluster.local"
    );
    let t = table(&format!(
        "{dr}{}",
        vs("[{route: [{destination: {host: a.default.svc.cluster.local, subset: v3}}]}]")
    ));
    let r = req("GET", "/").route(&t);
    assert_eq!((reply(&r).status.as_u16(), reply(&r).body.len()), (503, 0));
}

#[test]
fn c39_unknown_host_is_503_empty() {
    let http = "[{route: [{destination: {host: missing.default.svc.cluster.local}}]}]";
    let d = req("GET", "/").route(&table(&vs(http)));
    assert_eq!((reply(&d).status.as_u16(), reply(&d).body.len()), (503, 0));
    assert!(
        diagnostics(&vs(http))
            .iter()
            .any(|d| d.message.contains("no ServiceEntry declares this host"))
    );
}

#[test]
fn c40_no_endpoints_is_a_cluster_without_endpoints() {
    let d = req("GET", "/").route(&table(&vs(
        "[{route: [{destination: {host: e.default.svc.cluster.local}}]}]",
    )));
    // The gateway answers 503 `no healthy upstream` for an empty cluster.
    assert!(forward(&d).cluster.endpoints.is_empty());
}

#[test]
fn c46_several_ports_need_an_explicit_port() {
    let se = "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: two, namespace: default}\nspec:\n  hosts: [two.default.svc.cluster.local]\n  resolution: STATIC\n  ports: [{number: 8080, name: http}, {number: 9000, name: http-admin}]\n  endpoints: [{address: 127.0.0.51}]\n---\n";
    let t = table(&format!(
        "{se}{}",
        vs("[{route: [{destination: {host: two.default.svc.cluster.local}}]}]")
    ));
    assert_eq!(target(&req("GET", "/").route(&t)), "503");
    let t = table(&format!(
        "{se}{}",
        vs("[{route: [{destination: {host: two.default.svc.cluster.local, port: {number: 8080}}}]}]")
    ));
    assert_eq!(target(&req("GET", "/").route(&t)), "two");
}

#[test]
fn default_retry_policy_and_explicit_ones() {
    let d = req("GET", "/").route(&table(&vs(TO_A)));
    let retry = forward(&d).retry();
    assert_eq!(retry.attempts, 2);
    assert!(retry.retry_on.connect_failure() && !retry.retry_on.response(503, None));
    let d = req("GET", "/").route(&table(&vs(
        "[{retries: {attempts: 0}, route: [{destination: {host: a.default.svc.cluster.local}}]}]",
    )));
    assert_eq!(forward(&d).retry().attempts, 0);
    let d = req("GET", "/").route(&table(&vs("[{retries: {attempts: 3, retryOn: \"503\"}, route: [{destination: {host: a.default.svc.cluster.local}}]}]")));
    let on = &forward(&d).retry().retry_on;
    assert!(on.response(503, None) && !on.response(500, None) && !on.connect_failure());
}

// §12.4 Redirects, direct responses, rewrites, headers

fn location(http: &str, r: Req) -> String {
    let d = r.route(&table(&vs(http)));
    header(reply(&d), "location").unwrap_or_default().to_string()
}

#[test]
fn c55_redirect_uri_keeps_the_query() {
    let http = "[{match: [{uri: {exact: /foo}}], redirect: {uri: /new/path}}]";
    let d = req("GET", "/foo?key=value").route(&table(&vs(http)));
    assert_eq!(reply(&d).status, 301);
    assert!(reply(&d).body.is_empty());
    assert_eq!(
        location(http, req("GET", "/foo?key=value")),
        "http://app.example.com/new/path?key=value"
    );
}

#[test]
fn c56_redirect_uri_with_its_own_query() {
    assert_eq!(
        location("[{redirect: {uri: \"/new?x=1\"}}]", req("GET", "/foo?key=value")),
        "http://app.example.com/new?x=1"
    );
}

#[test]
fn c57_c58_derive_port_from_request() {
    assert_eq!(
        location(
            "[{redirect: {derivePort: FROM_REQUEST_PORT, scheme: https}}]",
            req("GET", "/foo")
        ),
        "https://app.example.com:80/foo"
    );
    let http = "[{redirect: {derivePort: FROM_REQUEST_PORT}}]";
    assert_eq!(location(http, req("GET", "/foo")), "http://app.example.com/foo");
    assert_eq!(
        location(http, req("GET", "/foo").host("app.example.com:80")),
        "http://app.example.com:80/foo"
    );
}

#[test]
fn c59_redirect_authority() {
    assert_eq!(
        location(
            "[{redirect: {authority: new.example.com}}]",
            req("GET", "/foo?x=1")
        ),
        "http://new.example.com/foo?x=1"
    );
}

#[test]
fn c60_redirect_scheme_drops_the_old_default_port() {
    let http = "[{redirect: {scheme: https}}]";
    assert_eq!(
        location(http, req("GET", "/foo").host("app.example.com:80")),
        "https://app.example.com/foo"
    );
    assert_eq!(
        location(http, req("GET", "/foo").host("app.example.com:8080")),
        "https://app.example.com:8080/foo"
    );
}

#[test]
fn c61_redirect_prefix_rewrite() {
    assert_eq!(
        location(
            "[{match: [{uri: {prefix: /foo/}}], redirect: {prefixRewrite: /new/}}]",
            req("GET", "/foo/bar")
        ),
        "http://app.example.com/new/bar"
    );
}

#[test]
fn c62_redirect_code() {
    let d = req("GET", "/").route(&table(&vs("[{redirect: {uri: /x, redirectCode: 308}}]")));
    assert_eq!(reply(&d).status, 308);
}

#[test]
fn c63_direct_response() {
    let d = req("GET", "/").route(&table(&vs(
        "[{directResponse: {status: 503, body: {string: \"unknown error\"}}}]",
    )));
    assert_eq!(
        (reply(&d).status.as_u16(), reply(&d).body.as_slice()),
        (503, b"unknown error".as_slice())
    );
    let d = req("GET", "/").route(&table(&vs(
        "[{directResponse: {status: 503, body: {string: \"{}\"}}, headers: {response: {set: {content-type: application/json}}}}]",
    )));
    assert_eq!(header(reply(&d), "content-type"), Some("application/json"));
    let d = req("GET", "/").route(&table(&vs("[{directResponse: {status: 503}}]")));
    assert!(reply(&d).body.is_empty());
}

fn upstream_path(http: &str, target: &str) -> (String, Option<String>) {
    let d = req("GET", target).route(&table(&vs(http)));
    let f = forward(&d);
    // What the gateway sends when the route leaves the path as the request wrote it.
    let uri: http::Uri = target.parse().expect("a request target");
    let request = uri.path_and_query().map_or("/", |p| p.as_str());
    (
        f.path_and_query(request).into_owned(),
        f.original_path(request).map(Into::into),
    )
}

#[test]
fn c64_rewrite_of_an_exact_match_replaces_the_path() {
    assert_eq!(
        upstream_path(
            "[{match: [{uri: {exact: /foo}}], rewrite: {uri: /new/path}, route: [{destination: {host: a.default.svc.cluster.local}}]}]",
            "/foo?key=value"
        ),
        (
            "/new/path?key=value".to_string(),
            Some("/foo?key=value".to_string())
        )
    );
}

#[test]
fn c65_rewrite_of_a_prefix_match_replaces_the_prefix() {
    assert_eq!(
        upstream_path("[{match: [{uri: {prefix: /ratings}}], rewrite: {uri: /v1/bookRatings}, route: [{destination: {host: a.default.svc.cluster.local}}]}]", "/ratings/2?x=1").0,
        "/v1/bookRatings/2?x=1"
    );
}

#[test]
fn c66_rewrite_without_match_and_to_slash() {
    assert_eq!(
        upstream_path(
            "[{rewrite: {uri: /v2}, route: [{destination: {host: a.default.svc.cluster.local}}]}]",
            "/foo"
        )
        .0,
        "/v2foo"
    );
    assert_eq!(
        upstream_path("[{match: [{uri: {prefix: /foo}}], rewrite: {uri: /}, route: [{destination: {host: a.default.svc.cluster.local}}]}]", "/foo/bar").0,
        "//bar"
    );
}

#[test]
fn c67_regex_rewrite() {
    // Spec §12.4 gives `/customprefix/v1/api/update`, but group 2 of this pattern captures
    // `/v1/api` with its leading slash, so RE2 (and Envoy's regex_rewrite) produce `//`.
    assert_eq!(
        upstream_path(
            "[{rewrite: {uriRegexRewrite: {match: \"^/service/([^/]+)(/.*)$\", rewrite: \"/customprefix/\\\\2/\\\\1\"}}, route: [{destination: {host: a.default.svc.cluster.local}}]}]",
            "/service/update/v1/api?q=1"
        )
        .0,
        "/customprefix//v1/api/update?q=1"
    );
    assert_eq!(
        upstream_path(
            "[{rewrite: {uriRegexRewrite: {match: \"^/service/([^/]+)(/.*)$\", rewrite: \"\\\\2/instance/\\\\1\"}}, route: [{destination: {host: a.default.svc.cluster.local}}]}]",
            "/service/update/v1/api"
        )
        .0,
        "/v1/api/instance/update"
    );
}

#[test]
fn c68_c69_authority_rewrites_and_their_precedence() {
    let authority = |http: &str| {
        forward(&req("GET", "/").route(&table(&vs(http))))
            .authority()
            .and_then(|a| a.to_str().ok())
            .map(str::to_string)
    };
    assert_eq!(authority("[{rewrite: {authority: new-authority}, route: [{destination: {host: a.default.svc.cluster.local}}]}]").as_deref(), Some("new-authority"));
    assert_eq!(
        authority("[{headers: {request: {set: {\":authority\": route-authority}}}, route: [{destination: {host: a.default.svc.cluster.local}, headers: {request: {set: {Host: dest-authority}}}}]}]").as_deref(),
        Some("route-authority")
    );
    assert_eq!(
        authority("[{route: [{destination: {host: a.default.svc.cluster.local}, headers: {request: {set: {Host: dest-authority}}}}]}]").as_deref(),
        Some("dest-authority")
    );
}

#[test]
fn c70_c71_header_operations() {
    let d = req("GET", "/").route(&table(&vs(
        "[{headers: {request: {add: {x-a: \"2\"}, set: {x-b: \"y\", x-pct: \"100%%\"}, remove: [x-c]}, response: {set: {x-resp: v}, remove: [x-up]}}, route: [{destination: {host: a.default.svc.cluster.local}}]}]",
    )));
    let f = forward(&d);
    let mut request = http::HeaderMap::new();
    request.insert("x-a", "1".parse().expect("value"));
    request.insert("x-b", "z".parse().expect("value"));
    request.insert("x-c", "1".parse().expect("value"));
    for ops in f.request_headers() {
        ops.apply(&mut request);
    }
    let xa: Vec<&str> = request
        .get_all("x-a")
        .iter()
        .map(|v| v.to_str().unwrap_or_default())
        .collect();
    assert_eq!(xa, ["1", "2"]);
    assert_eq!(request.get("x-b").map(|v| v.as_bytes()), Some(b"y".as_slice()));
    assert_eq!(
        request.get("x-pct").map(|v| v.as_bytes()),
        Some(b"100%".as_slice())
    );
    assert!(request.get("x-c").is_none());
    let mut response = http::HeaderMap::new();
    response.insert("x-up", "1".parse().expect("value"));
    for ops in f.response_headers() {
        ops.apply(&mut response);
    }
    assert!(response.get("x-up").is_none());
    assert_eq!(
        response.get("x-resp").map(|v| v.as_bytes()),
        Some(b"v".as_slice())
    );
}

// §12.5 Mirroring, fault injection, CORS (decisions)

#[test]
fn c72_c73_mirrors() {
    let d = req("GET", "/").route(&table(&vs("[{route: [{destination: {host: a.default.svc.cluster.local}}], mirror: {host: b.default.svc.cluster.local}}]")));
    assert_eq!(
        forward(&d).mirrors().map(|c| c.host.as_str()).collect::<Vec<_>>(),
        ["b.default.svc.cluster.local"]
    );
    let d = req("GET", "/").route(&table(&vs("[{route: [{destination: {host: a.default.svc.cluster.local}}], mirror: {host: b.default.svc.cluster.local}, mirrorPercentage: {value: 0}}]")));
    assert!(forward(&d).mirrors().next().is_none());
    let t = table(&vs(
        "[{route: [{destination: {host: a.default.svc.cluster.local}}], mirrors: [{destination: {host: b.default.svc.cluster.local}, percentage: {value: 50}}]}]",
    ));
    let mirrored = (0..1000)
        .filter(|s| {
            forward(&req("GET", "/").route_seeded(&t, *s))
                .mirrors()
                .next()
                .is_some()
        })
        .count();
    assert!((435..=565).contains(&mirrored), "{mirrored}");
}

#[test]
fn more_mirrors_than_a_decision_records_are_an_error_at_the_field() {
    // A decision records the mirrors that fire in a 64-bit set; a 65th is refused, never dropped.
    let mirrors = |n: usize| {
        let list: Vec<&str> = (0..n)
            .map(|_| "{destination: {host: b.default.svc.cluster.local}}")
            .collect();
        format!(
            "[{{route: [{{destination: {{host: a.default.svc.cluster.local}}}}], mirrors: [{}]}}]",
            list.join(", ")
        )
    };
    let errors = |n: usize| {
        diagnostics(&vs(&mirrors(n)))
            .into_iter()
            .filter(|d| d.is_error())
            .map(|d| format!("{}: {}", d.path, d.message))
            .collect::<Vec<_>>()
    };
    assert_eq!(errors(64), Vec::<String>::new());
    assert_eq!(
        errors(65),
        ["spec.http[0].mirrors: 65 mirrors; a route may have at most 64"]
    );
    let d = req("GET", "/").route(&table(&vs(&mirrors(64))));
    assert_eq!(forward(&d).mirrors().count(), 64);
}

#[test]
fn c74_c75_fault_abort() {
    let d = req("GET", "/").route(&table(&vs("[{fault: {abort: {httpStatus: 418, percentage: {value: 100}}}, route: [{destination: {host: a.default.svc.cluster.local}}]}]")));
    assert_eq!(
        (reply(&d).status.as_u16(), reply(&d).body.as_slice()),
        (418, b"fault filter abort".as_slice())
    );
    let d = req("GET", "/").route(&table(&vs(
        "[{fault: {abort: {httpStatus: 418}}, route: [{destination: {host: a.default.svc.cluster.local}}]}]",
    )));
    assert_eq!(target(&d), "a");
    let d = req("POST", "/svc/Method").route(&table(&vs(
        "[{fault: {abort: {grpcStatus: UNAVAILABLE, percentage: {value: 100}}}, route: [{destination: {host: g.default.svc.cluster.local}}]}]",
    )));
    assert_eq!(
        (
            reply(&d).status.as_u16(),
            reply(&d).grpc_status.map(|c| c.number())
        ),
        (503, Some(14)),
        "UNAVAILABLE is 503 for plain HTTP clients"
    );
}

#[test]
fn c76_fault_delay() {
    let d = req("GET", "/").route(&table(&vs("[{fault: {delay: {fixedDelay: 2s, percentage: {value: 100}}}, timeout: 1s, route: [{destination: {host: a.default.svc.cluster.local}}]}]")));
    assert_eq!(d.delay, Some(std::time::Duration::from_secs(2)));
    assert_eq!(forward(&d).timeout(), Some(std::time::Duration::from_secs(1)));
}

const CORS: &str = "[{corsPolicy: {allowOrigins: [{exact: cors.com}], allowMethods: [POST, GET], allowHeaders: [X-Foo-Bar, X-Foo-Baz], maxAge: 24h}, route: [{destination: {host: a.default.svc.cluster.local}}]}]";

#[test]
fn c77_cors_preflight_and_actual_requests() {
    let t = table(&vs(CORS));
    let d = req("OPTIONS", "/")
        .header("origin", "cors.com")
        .header("access-control-request-method", "DELETE")
        .route(&t);
    let r = reply(&d);
    assert_eq!(r.status, 200);
    assert_eq!(header(r, "access-control-allow-origin"), Some("cors.com"));
    assert_eq!(header(r, "access-control-allow-methods"), Some("POST,GET"));
    assert_eq!(
        header(r, "access-control-allow-headers"),
        Some("X-Foo-Bar,X-Foo-Baz")
    );
    assert_eq!(header(r, "access-control-max-age"), Some("86400"));
    let d = req("GET", "/").header("origin", "cors.com").route(&t);
    assert!(forward(&d).extra_response_headers.contains(&(
        http::header::ACCESS_CONTROL_ALLOW_ORIGIN,
        http::HeaderValue::from_static("cors.com")
    )));
    let d = req("GET", "/").route(&t);
    assert!(forward(&d).extra_response_headers.is_empty());
}

#[test]
fn c78_unmatched_preflights() {
    let preflight = || {
        req("OPTIONS", "/")
            .header("origin", "evil.com")
            .header("access-control-request-method", "GET")
    };
    assert_eq!(target(&preflight().route(&table(&vs(CORS)))), "a");
    let ignore = CORS.replace("maxAge: 24h", "maxAge: 24h, unmatchedPreflights: IGNORE");
    let d = preflight().route(&table(&vs(&ignore)));
    assert_eq!(reply(&d).status, 200);
    assert_eq!(header(reply(&d), "access-control-allow-origin"), None);
}

// §12.6 (table part)

#[test]
fn c79_https_redirect_before_routing() {
    let gw = "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: redirect, namespace: istio-system}\nspec:\n  selector: {istio: ingressgateway}\n  servers:\n  - port: {number: 83, name: http, protocol: HTTP}\n    hosts: [\"*\"]\n    tls: {httpsRedirect: true}\n";
    let t = table(gw);
    let d = req("GET", "/p?q=1").port(83).route(&t);
    assert_eq!(reply(&d).status, 301);
    assert_eq!(
        header(reply(&d), "location"),
        Some("https://app.example.com/p?q=1")
    );
    let d = req("GET", "/p?q=1").port(83).host("app.example.com:80").route(&t);
    assert_eq!(
        header(reply(&d), "location"),
        Some("https://app.example.com:80/p?q=1")
    );
}

// §13: configuration Istio rejects

#[test]
fn invalid_configuration_is_reported_with_resource_and_field() {
    let cases = [
        (
            "[{match: [{uri: {prefix: /a}}]}]",
            "spec.http[0]",
            "needs one of route, redirect, directResponse",
        ),
        (
            "[{redirect: {uri: /x}, route: [{destination: {host: a.default.svc.cluster.local}}]}]",
            "spec.http[0]",
            "mutually exclusive",
        ),
        (
            "[{route: [{destination: {host: a.default.svc.cluster.local}, weight: 0}, {destination: {host: b.default.svc.cluster.local}, weight: 0}]}]",
            "spec.http[0].route",
            "must not all be 0",
        ),
        (
            "[{match: [{port: 8080, uri: {regex: \"(\"}}], route: [{destination: {host: a.default.svc.cluster.local}}]}]",
            "spec.http[0].match[0].uri",
            "not a valid RE2 regex",
        ),
        (
            "[{match: [{uri: {regex: \"(\"}}], route: [{destination: {host: a.default.svc.cluster.local}}]}]",
            "spec.http[0].match[0].uri",
            "not a valid RE2 regex",
        ),
        (
            "[{timeout: soon, route: [{destination: {host: a.default.svc.cluster.local}}]}]",
            "spec.http[0].timeout",
            "not a duration",
        ),
        (
            "[{retries: {attempts: 0, perTryTimeout: 1s}, route: [{destination: {host: a.default.svc.cluster.local}}]}]",
            "spec.http[0].retries.attempts",
            "attempts 0",
        ),
        (
            "[{retries: {attempts: 2, retryOn: \"5xx, reset\"}, route: [{destination: {host: a.default.svc.cluster.local}}]}]",
            "spec.http[0].retries.retryOn",
            "\" reset\" is not a retry condition",
        ),
        (
            "[{fault: {abort: {httpStatus: 999, percentage: {value: 100}}}, route: [{destination: {host: a.default.svc.cluster.local}}]}]",
            "spec.http[0].fault.abort.httpStatus",
            "between 200 and 599",
        ),
        (
            "[{redirect: {uri: /x, redirectCode: 399}}]",
            "spec.http[0].redirect.redirectCode",
            "301, 302, 303, 307 or 308",
        ),
        (
            "[{headers: {request: {set: {x: \"50%\"}}}, route: [{destination: {host: a.default.svc.cluster.local}}]}]",
            "spec.http[0].headers.request.set.x",
            "lone %",
        ),
        (
            "[{headers: {request: {set: {\"x y\": v}}}, route: [{destination: {host: a.default.svc.cluster.local}}]}]",
            "spec.http[0].headers.request.set[\"x y\"]",
            "not a valid HTTP header name",
        ),
        (
            "[{route: [{destination: {host: a.default.svc.cluster.local}, headers: {response: {add: {x: \"a\\u0001b\"}}}}]}]",
            "spec.http[0].route[0].headers.response.add.x",
            "control characters",
        ),
        (
            "[{match: [{headers: {\"bad header\": {exact: v}}}], route: [{destination: {host: a.default.svc.cluster.local}}]}]",
            "spec.http[0].match[0].headers[\"bad header\"]",
            "not a valid HTTP header name",
        ),
    ];
    for (http, path, words) in cases {
        let found = diagnostics(&vs(http));
        assert!(
            found.iter().any(|d| d.is_error()
                && d.object.as_ref().map(ToString::to_string).as_deref() == Some("VirtualService/vs")
                && d.path.to_string() == path
                && d.message.contains(words)),
            "{http}: expected an error at {path} containing {words:?}, got {found:#?}"
        );
    }
}

#[test]
fn malformed_authorities_do_not_panic() {
    let t = table(&vs(TO_A));
    for host in ["[abc", "[::1", "[", ":"] {
        assert_eq!(target(&req("GET", "/").host(host).route(&t)), "404", "{host}");
    }
}

// In-mesh routing (the sidecar view), for Seldon's `mesh` gateway + `seldon.io/svc-name` case.

const MESH: &str = r#"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: canary-example-1, namespace: my-ns}
spec:
  hosts: [canary-example-1.my-ns.svc.cluster.local]
  resolution: STATIC
  ports: [{number: 8000, name: http}]
  endpoints: [{address: 127.0.0.61, labels: {version: main}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: canary-example-1-canary, namespace: my-ns}
spec:
  hosts: [canary-example-1-canary.my-ns.svc.cluster.local]
  resolution: STATIC
  ports: [{number: 8000, name: http}]
  endpoints: [{address: 127.0.0.62, labels: {version: canary}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: canary-example-1, namespace: my-ns}
spec:
  hosts: [canary-example-1]
  gateways: [mesh]
  http:
  - match: [{uri: {prefix: /seldon/my-ns/canary-example-1/}}]
    rewrite: {uri: /}
    route:
    - {destination: {host: canary-example-1.my-ns.svc.cluster.local, port: {number: 8000}}, weight: 75}
    - {destination: {host: canary-example-1-canary.my-ns.svc.cluster.local, port: {number: 8000}}, weight: 25}
"#;

#[test]
fn mesh_bound_virtual_services_route_in_mesh_traffic() {
    let (t, diagnostics) =
        sluice_mesh::RouteTable::compile_mesh(&sluice_mesh::Proxy::default(), &config(MESH));
    assert!(diagnostics.iter().all(|d| !d.is_error()), "{diagnostics:#?}");
    let path = "/seldon/my-ns/canary-example-1/api/v1.0/predictions";
    let mut canary = 0;
    for seed in 0..400 {
        let d = req("POST", path)
            .host("canary-example-1.my-ns:8000")
            .port(8000)
            .route_seeded(&t, seed);
        assert_eq!(forward(&d).path_and_query(path), "/api/v1.0/predictions");
        if forward(&d).cluster.host.starts_with("canary-example-1-canary") {
            canary += 1;
        }
    }
    assert!((57..=143).contains(&canary), "{canary} of 400");
    // The VirtualService owns the host: other paths get 404, as in the sidecar.
    assert_eq!(
        target(
            &req("GET", "/other")
                .host("canary-example-1.my-ns")
                .port(8000)
                .route(&t)
        ),
        "404"
    );
    // A service no VirtualService claims is reached directly, by its short names too.
    let d = req("GET", "/x")
        .host("canary-example-1-canary.my-ns.svc")
        .port(8000)
        .route(&t);
    assert_eq!(
        forward(&d).cluster.host,
        "canary-example-1-canary.my-ns.svc.cluster.local"
    );
    assert_eq!(forward(&d).path_and_query("/x"), "/x");
}
