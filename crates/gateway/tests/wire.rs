//! The gateway on real sockets: conformance cases of spec §12.1–§12.6 that are about the
//! wire (headers, failures, retries, timeouts, protocols, mirrors), the canary split, and
//! hot reload under load. Upstreams are real HTTP servers on 127.0.0.1:0.

mod support;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use support::*;

fn to(host: &str) -> String {
    format!("[{{route: [{{destination: {{host: {host}.default.svc.cluster.local}}}}]}}]")
}

#[tokio::test]
async fn c02_c86_headers_on_the_way_up_and_down() {
    let (_, addr) = upstream("a").await;
    let gw = Setup::new()
        .service("a", "http", &[(addr, "v1")])
        .vs(&to("a"))
        .start()
        .await;
    let got = get(
        gw.addr,
        "/anything",
        &[
            ("x-request-id", "abc"),
            ("x-envoy-retry-on", "5xx"),
            ("x-forwarded-proto", "https"),
        ],
    )
    .await;
    assert_eq!(got.status, 200);
    assert_eq!(
        got.headers["server"], "istio-envoy",
        "replaces the upstream's server header"
    );
    assert!(got.headers.contains_key("x-envoy-upstream-service-time"));
    assert!(!got.headers.contains_key("x-request-id"));
    let seen = got.json();
    let h = &seen["headers"];
    assert_ne!(h["x-request-id"], "abc");
    assert_eq!(h["x-request-id"].as_str().map(str::len), Some(36));
    assert!(h.get("x-envoy-retry-on").is_none());
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(h["x-envoy-external-address"], "127.0.0.1");
    assert_eq!(h["x-envoy-attempt-count"], "1");
    assert_eq!(h["host"], "app.example.com");
    assert_eq!(seen["body_len"], 5);
}

#[tokio::test]
async fn c01_c39_c40_local_replies() {
    let gw = Setup::new().service("e", "http", &[]).vs("[{match: [{uri: {prefix: /e}}], route: [{destination: {host: e.default.svc.cluster.local}}]}, {match: [{uri: {prefix: /missing}}], route: [{destination: {host: missing.default.svc.cluster.local}}]}]").start().await;
    let got = get(gw.addr, "/nothing", &[]).await;
    assert_eq!((got.status, got.body.len()), (404, 0));
    assert_eq!(got.headers["server"], "istio-envoy");
    assert!(!got.headers.contains_key("x-envoy-upstream-service-time"));
    let got = get(gw.addr, "/missing", &[]).await;
    assert_eq!((got.status, got.body.len()), (503, 0));
    let got = get(gw.addr, "/e", &[]).await;
    assert_eq!((got.status, got.text().as_str()), (503, "no healthy upstream"));
    assert_eq!(got.headers["content-type"], "text/plain");
}

#[tokio::test]
async fn canary_75_25_lands_within_binomial_bounds() {
    let (main, canary) = (Arc::new(Echo::default()), Arc::new(Echo::default()));
    let (m, c) = (
        echo("main", main.clone()).await,
        echo("canary", canary.clone()).await,
    );
    let config = format!(
        "{}{}{}{}",
        gateway_yaml(),
        service("main", "http", &[(m, "main")]),
        service("canary", "http", &[(c, "canary")]),
        vs(
            "[{route: [{destination: {host: main.default.svc.cluster.local}, weight: 75}, {destination: {host: canary.default.svc.cluster.local}, weight: 25}]}]"
        )
    );
    let gw = start(&config).await;
    let client = http1();
    let n = 2000;
    for _ in 0..n {
        assert_eq!(send(&client, gw.addr, "GET", "/", &[]).await.status, 200);
    }
    let canary_hits = canary.hits.load(Ordering::SeqCst);
    assert_eq!(main.hits.load(Ordering::SeqCst) + canary_hits, n);
    // Mean 500, sd ≈ 19.4: ±5 sd.
    assert!(
        (403..=597).contains(&canary_hits),
        "canary got {canary_hits} of {n}"
    );
}

#[tokio::test]
async fn c41_c42_refused_connections_with_and_without_retries() {
    let dead = refused_port().await;
    let d = format!("{}", std::net::SocketAddr::from(([127, 0, 0, 1], dead)));
    let d: std::net::SocketAddr = d.parse().expect("addr");
    let base = Setup::new().service("d", "http", &[(d, "v1")]);
    let gw = base.clone().vs(&to("d")).start().await;
    let got = get(gw.addr, "/", &[]).await;
    assert_eq!(got.status, 503);
    assert!(
        got.text().starts_with(
            "upstream connect error or disconnect/reset before headers. retried and the latest reset reason: "
        ),
        "{}",
        got.text()
    );
    let gw = base
        .clone()
        .vs("[{retries: {attempts: 0}, route: [{destination: {host: d.default.svc.cluster.local}}]}]")
        .start()
        .await;
    let got = get(gw.addr, "/", &[]).await;
    assert_eq!(got.status, 503);
    assert!(
        got.text()
            .starts_with("upstream connect error or disconnect/reset before headers. reset reason: "),
        "{}",
        got.text()
    );
}

#[tokio::test]
async fn retries_recover_from_a_refused_endpoint() {
    let (live, up) = upstream("live").await;
    let dead: std::net::SocketAddr = format!("127.0.0.1:{}", refused_port().await)
        .parse()
        .expect("addr");
    let gw = Setup::new()
        .service("a", "http", &[(up, "v1"), (dead, "v1")])
        .vs(&to("a"))
        .start()
        .await;
    for _ in 0..50 {
        assert_eq!(get(gw.addr, "/", &[]).await.status, 200);
    }
    assert_eq!(live.hits.load(Ordering::SeqCst), 50);
}

#[tokio::test]
async fn c43_c44_retried_responses() {
    let (a, addr) = upstream("a").await;
    let base = Setup::new().service("a", "http", &[(addr, "v1")]);
    a.fail_first.store(1, Ordering::SeqCst);
    let gw = base.clone().vs(&to("a")).start().await;
    assert_eq!(
        get(gw.addr, "/", &[]).await.status,
        503,
        "503 is not retried by default (Istio >= 1.24)"
    );

    let (a, addr) = upstream("a").await;
    a.fail_first.store(1, Ordering::SeqCst);
    let base = Setup::new().service("a", "http", &[(addr, "v1")]);
    let gw = base.clone().vs("[{retries: {attempts: 2, retryOn: 5xx}, route: [{destination: {host: a.default.svc.cluster.local}}]}]").start().await;
    let got = get(gw.addr, "/", &[]).await;
    assert_eq!(got.status, 200);
    let attempts: Vec<String> = a
        .seen
        .lock()
        .expect("lock")
        .iter()
        .map(|s| {
            s["headers"]["x-envoy-attempt-count"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert_eq!(attempts, ["1", "2"]);

    let gw = base.clone().vs("[{retries: {attempts: 3, retryOn: \"503\"}, route: [{destination: {host: a.default.svc.cluster.local}}]}]").start().await;
    assert_eq!(
        get(gw.addr, "/", &[("x-echo-status", "500")]).await.status,
        500,
        "500 is not in retryOn 503"
    );
}

#[tokio::test]
async fn c47_c51_route_timeout() {
    let (_, addr) = upstream("a").await;
    let gw = Setup::new()
        .service("a", "http", &[(addr, "v1")])
        .vs("[{timeout: 300ms, route: [{destination: {host: a.default.svc.cluster.local}}]}]")
        .start()
        .await;
    let got = get(gw.addr, "/", &[("x-echo-sleep-ms", "3000")]).await;
    assert_eq!(
        (got.status, got.text().as_str()),
        (504, "upstream request timeout")
    );
    let got = get(gw.addr, "/", &[]).await;
    assert_eq!(got.json()["headers"]["x-envoy-expected-rq-timeout-ms"], "300");
}

#[tokio::test]
async fn c49_per_try_timeouts_are_retried_only_for_reset_conditions() {
    let (a, addr) = upstream("a").await;
    let base = Setup::new().service("a", "http", &[(addr, "v1")]);
    let gw = base.clone().vs("[{timeout: 10s, retries: {attempts: 2, perTryTimeout: 100ms}, route: [{destination: {host: a.default.svc.cluster.local}}]}]").start().await;
    let got = get(gw.addr, "/", &[("x-echo-sleep-ms", "1000")]).await;
    assert_eq!(got.status, 504);
    assert_eq!(
        a.hits.load(Ordering::SeqCst),
        1,
        "default retryOn does not retry a per-try timeout"
    );

    let (b, addr) = upstream("a").await;
    let base = Setup::new().service("a", "http", &[(addr, "v1")]);
    let gw = base.clone().vs("[{timeout: 10s, retries: {attempts: 2, perTryTimeout: 100ms, retryOn: gateway-error}, route: [{destination: {host: a.default.svc.cluster.local}}]}]").start().await;
    let got = get(gw.addr, "/", &[("x-echo-sleep-ms", "1000")]).await;
    assert_eq!(got.status, 504);
    assert_eq!(b.hits.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn c53_circuit_breaker_overflow() {
    let (b, addr) = upstream("b").await;
    let dr = "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: b, namespace: default}\nspec:\n  host: b.default.svc.cluster.local\n  trafficPolicy: {connectionPool: {http: {http2MaxRequests: 1}}}\n---\n";
    let gw = start(&format!(
        "{}{}{dr}{}",
        gateway_yaml(),
        service("b", "http", &[(addr, "v1")]),
        vs(&to("b"))
    ))
    .await;
    let slow = tokio::spawn({
        let addr = gw.addr;
        async move { get(addr, "/", &[("x-echo-sleep-ms", "1500")]).await.status }
    });
    // Wait until the slow request reached the upstream, then overflow.
    while b.hits.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let got = get(gw.addr, "/", &[]).await;
    assert_eq!(got.status, 503);
    assert_eq!(got.headers["x-envoy-overloaded"], "true");
    assert_eq!(
        got.text(),
        "upstream connect error or disconnect/reset before headers. reset reason: overflow"
    );
    assert_eq!(slow.await.expect("join"), 200);
    assert_eq!(b.hits.load(Ordering::SeqCst), 1, "the overflow is not retried");
}

#[tokio::test]
async fn c64_c70_rewrite_and_header_operations_reach_the_upstream() {
    let (_, addr) = upstream("a").await;
    let gw = Setup::new().service("a", "http", &[(addr, "v1")]).vs("[{match: [{uri: {exact: /foo}}], rewrite: {uri: /new/path}, headers: {request: {set: {x-b: \"y\"}, remove: [x-c]}, response: {set: {x-resp: v}, remove: [x-up]}}, route: [{destination: {host: a.default.svc.cluster.local}}]}]").start().await;
    let got = get(gw.addr, "/foo?key=value", &[("x-b", "z"), ("x-c", "1")]).await;
    let seen = got.json();
    assert_eq!(seen["path"], "/new/path?key=value");
    // HTTP/1.1 upstream: the request line carries the origin-form target, the host in `Host`.
    assert_eq!(
        (&seen["version"], &seen["target"]),
        (&"HTTP/1.1".into(), &"/new/path?key=value".into())
    );
    assert_eq!(seen["headers"]["x-envoy-original-path"], "/foo?key=value");
    assert_eq!(seen["headers"]["x-b"], "y");
    assert!(seen["headers"].get("x-c").is_none());
    assert_eq!(got.headers["x-resp"], "v");
    assert!(!got.headers.contains_key("x-up"));
}

/// A gateway routing every request to service `a` at `primary` and mirroring it to
/// service `b` at `shadow`.
async fn mirrored(primary: std::net::SocketAddr, shadow: std::net::SocketAddr) -> Running {
    start(&format!(
        "{}{}{}{}",
        gateway_yaml(),
        service("a", "http", &[(primary, "v1")]),
        service("b", "http", &[(shadow, "v1")]),
        vs("[{route: [{destination: {host: a.default.svc.cluster.local}}], mirror: {host: b.default.svc.cluster.local}}]")
    ))
    .await
}

#[tokio::test]
async fn c72_mirror_to_a_held_shadow_does_not_delay_the_primary() {
    let primary = Arc::new(Echo::default());
    let hold = Arc::new(tokio::sync::Notify::new());
    let shadow = Arc::new(Echo {
        hold: Some(hold.clone()),
        ..Echo::default()
    });
    let (p, s) = (
        echo("primary", primary.clone()).await,
        echo("shadow", shadow.clone()).await,
    );
    let gw = mirrored(p, s).await;
    // The shadow answers nothing until released, yet every primary response arrives.
    for _ in 0..5 {
        let got = get(gw.addr, "/m", &[]).await;
        assert_eq!((got.status, got.json()["name"].as_str()), (200, Some("primary")));
    }
    while shadow.hits.load(Ordering::SeqCst) < 5 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let copy = shadow.seen.lock().expect("lock")[0].clone();
    assert_eq!(copy["path"], "/m");
    assert_eq!(
        copy["headers"]["host"], "app.example.com",
        "Istio >= 1.28 keeps the host"
    );
    hold.notify_waiters();

    // A dead shadow changes nothing either.
    let dead: std::net::SocketAddr = format!("127.0.0.1:{}", refused_port().await)
        .parse()
        .expect("addr");
    let gw = mirrored(p, dead).await;
    assert_eq!(get(gw.addr, "/", &[]).await.status, 200);
}

#[tokio::test]
async fn c72_a_mirror_keeps_an_x_forwarded_for_that_is_not_utf8() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (primary, p) = upstream("primary").await;
    let (shadow, s) = upstream("shadow").await;
    let gw = mirrored(p, s).await;
    // Header values may carry bytes that are not UTF-8 (obs-text); the copy keeps them.
    let mut stream = tokio::net::TcpStream::connect(gw.addr).await.expect("connect");
    stream
        .write_all(b"GET /m HTTP/1.1\r\nhost: app.example.com\r\nx-forwarded-for: 10.0.0.1\xff\r\nconnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("read");
    assert!(
        response.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&response)
    );
    while shadow.hits.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // The echo reads values lossily: the byte 0xFF is U+FFFD.
    let xff = |echo: &Echo| echo.seen.lock().expect("lock")[0]["headers"]["x-forwarded-for"].clone();
    assert_eq!(xff(&primary), "10.0.0.1\u{fffd}, 127.0.0.1");
    // Envoy's shadow writer appends the gateway's own address, after a bare comma.
    assert_eq!(xff(&shadow), "10.0.0.1\u{fffd}, 127.0.0.1,127.0.0.1");
}

#[tokio::test]
async fn c84_c85_protocols_follow_the_destination_port() {
    let a = Arc::new(Echo::default());
    let g = Arc::new(Echo::default());
    let (aa, ga) = (echo("a", a.clone()).await, echo("g", g.clone()).await);
    let gw = start(&format!(
        "{}{}{}{}",
        gateway_yaml(),
        service("a", "http", &[(aa, "v1")]),
        service("g", "grpc", &[(ga, "v1")]),
        vs("[{match: [{uri: {prefix: /g}}], route: [{destination: {host: g.default.svc.cluster.local}}]}, {route: [{destination: {host: a.default.svc.cluster.local}}]}]")
    ))
    .await;
    let got = h2c_get(gw.addr, "/x").await;
    assert_eq!(got.status, 200);
    assert_eq!(
        got.json()["version"],
        "HTTP/1.1",
        "an h2c client, an http port: HTTP/1.1 upstream"
    );
    let got = send(&http1(), gw.addr, "GET", "/g", &[]).await;
    assert_eq!(got.json()["version"], "HTTP/2.0", "a grpc port: HTTP/2 upstream");
}

#[tokio::test]
async fn a_host_that_is_no_authority_is_refused_before_an_http2_upstream() {
    // HTTP/2 sends the host as `:authority`; one that cannot be one is the request's fault:
    // 400, not three connect failures counted against a healthy endpoint.
    let g = Arc::new(Echo::default());
    let ga = echo("g", g.clone()).await;
    let gw = start(&format!(
        "{}{}{}",
        gateway_yaml(),
        service("g", "grpc", &[(ga, "v1")]),
        vs("[{match: [{uri: {prefix: /bad}}], rewrite: {authority: \"a b\"}, route: [{destination: {host: g.default.svc.cluster.local}}]}, {route: [{destination: {host: g.default.svc.cluster.local}}]}]")
    ))
    .await;
    let got = send(&http1(), gw.addr, "GET", "/bad", &[]).await;
    assert_eq!(got.status, 400);
    assert_eq!(g.hits.load(Ordering::SeqCst), 0, "the upstream never saw it");
    let got = send(&http1(), gw.addr, "GET", "/good", &[]).await;
    assert_eq!(got.status, 200, "the endpoint was not ejected or blamed");
}

#[tokio::test]
async fn hot_reload_under_load_loses_no_request() {
    let (one, two) = (Arc::new(Echo::default()), Arc::new(Echo::default()));
    let (o, t) = (echo("one", one.clone()).await, echo("two", two.clone()).await);
    let base = Setup::new()
        .service("one", "http", &[(o, "v1")])
        .service("two", "http", &[(t, "v1")]);
    let gw = base.clone().vs(&to("one")).start().await;
    let dir = gw.dir.clone();
    gw.gateway
        .watch_files(vec![dir.clone()], std::time::Duration::from_millis(50));
    let addr = gw.addr;
    let load = tokio::spawn(async move {
        let client = http1();
        let mut statuses = Vec::new();
        for _ in 0..600 {
            statuses.push(send(&client, addr, "GET", "/", &[]).await.status);
        }
        statuses
    });
    // Flip the route a few times, with one broken configuration in between.
    for (i, config) in [
        vs(&to("two")),
        "not: [valid".to_string(),
        vs(&to("one")),
        vs(&to("two")),
    ]
    .iter()
    .enumerate()
    {
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        let text = if i == 1 {
            config.clone()
        } else {
            format!("{base}{config}")
        };
        std::fs::write(dir.join("config.yaml"), text).expect("write");
    }
    let statuses = load.await.expect("join");
    assert!(
        statuses.iter().all(|s| *s == 200),
        "{:?}",
        statuses.iter().filter(|s| **s != 200).collect::<Vec<_>>()
    );
    assert!(two.hits.load(Ordering::SeqCst) > 0, "the reload took effect");
    assert!(one.hits.load(Ordering::SeqCst) > 0);
    gw.gateway.shutdown().await;
}

#[tokio::test]
async fn admin_serves_metrics_and_config_dump() {
    let (_, addr) = upstream("a").await;
    let gw = Setup::new()
        .service("a", "http", &[(addr, "v1")])
        .vs(&to("a"))
        .start()
        .await;
    get(gw.addr, "/", &[]).await;
    get(gw.addr, "/", &[("host", "nowhere")]).await;
    let admin = gw.admin.expect("admin");
    let client = http1();
    let fetch = |path: &'static str| {
        let client = client.clone();
        async move {
            let r = client
                .get(format!("http://{admin}{path}").parse().expect("uri"))
                .await
                .expect("admin");
            use http_body_util::BodyExt;
            String::from_utf8_lossy(&r.into_body().collect().await.expect("body").to_bytes()).into_owned()
        }
    };
    let metrics = fetch("/stats/prometheus").await;
    assert!(
        metrics.contains("istio_requests_total{reporter=\"source\""),
        "{metrics}"
    );
    assert!(
        metrics.contains("destination_service=\"a.default.svc.cluster.local\""),
        "{metrics}"
    );
    assert!(metrics.contains("response_code=\"200\""), "{metrics}");
    assert!(
        metrics.contains("istio_request_duration_milliseconds_bucket"),
        "{metrics}"
    );
    let dump: serde_json::Value = serde_json::from_str(&fetch("/config_dump").await).expect("json");
    assert_eq!(dump["listeners"][0]["port"], 80);
    assert_eq!(
        dump["listeners"][0]["virtual_hosts"][0]["domain"],
        "app.example.com"
    );
    assert_eq!(fetch("/healthz/ready").await, "LIVE\n");
}

#[tokio::test]
async fn c52_grpc_timeout_header_bounds_the_request() {
    let (_, addr) = upstream("g").await;
    let gw = Setup::new()
        .service("g", "grpc", &[(addr, "v1")])
        .vs(&to("g"))
        .start()
        .await;
    let got = get(
        gw.addr,
        "/pkg.Svc/Method",
        &[
            ("content-type", "application/grpc"),
            ("grpc-timeout", "200m"),
            ("x-echo-sleep-ms", "3000"),
        ],
    )
    .await;
    assert_eq!(got.status, 200, "gRPC local replies are trailers-only");
    assert_eq!(got.headers["grpc-status"], "14");
    assert_eq!(got.headers["grpc-message"], "upstream request timeout");
}

#[tokio::test]
async fn c79_c80_https_redirect_and_trusted_proxies() {
    let (_, addr) = upstream("a").await;
    let config = format!(
        "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {{name: gw, namespace: istio-system}}\nspec:\n  selector: {{istio: ingressgateway}}\n  servers:\n  - port: {{number: 80, name: http, protocol: HTTP}}\n    hosts: [\"*\"]\n    tls: {{httpsRedirect: true}}\n---\n{}{}",
        service("a", "http", &[(addr, "v1")]),
        vs(&to("a"))
    );
    let gw = start(&config).await;
    let got = get(gw.addr, "/p?q=1", &[("x-forwarded-proto", "https")]).await;
    assert_eq!(
        got.status, 301,
        "a client's x-forwarded-proto is not trusted by default"
    );
    assert_eq!(got.headers["location"], "https://app.example.com/p?q=1");
    let gw = start_with(&config, |o| o.num_trusted_proxies = 1).await;
    let got = get(gw.addr, "/p?q=1", &[("x-forwarded-proto", "https")]).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.json()["headers"]["x-forwarded-proto"], "https");
}

#[tokio::test]
async fn c47_route_timeout_covers_the_response_body() {
    let (_, addr) = upstream("a").await;
    let gw = Setup::new()
        .service("a", "http", &[(addr, "v1")])
        .vs("[{timeout: 300ms, route: [{destination: {host: a.default.svc.cluster.local}}]}]")
        .start()
        .await;
    let request = http::Request::builder()
        .uri(format!("http://{}/", gw.addr))
        .header("host", "app.example.com")
        .header("x-echo-stream-ms", "3000")
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .expect("request");
    let response = http1()
        .request(request)
        .await
        .expect("headers arrive before the timeout");
    assert_eq!(response.status(), 200);
    use http_body_util::BodyExt;
    assert!(
        response.into_body().collect().await.is_err(),
        "the body is cut off at the route timeout"
    );
}

#[tokio::test]
async fn c45_retriable_4xx_is_409_only() {
    let a = Arc::new(Echo::default());
    a.fail_first.store(1, Ordering::SeqCst);
    a.fail_status.store(409, Ordering::SeqCst);
    let addr = echo("a", a.clone()).await;
    let http = "[{retries: {attempts: 3, retryOn: retriable-4xx}, route: [{destination: {host: a.default.svc.cluster.local}}]}]";
    let gw = Setup::new()
        .service("a", "http", &[(addr, "v1")])
        .vs(http)
        .start()
        .await;
    assert_eq!(get(gw.addr, "/", &[]).await.status, 200, "409 then 200");
    assert_eq!(a.hits.load(Ordering::SeqCst), 2);
    assert_eq!(
        get(gw.addr, "/", &[("x-echo-status", "404")]).await.status,
        404,
        "404 is not retried"
    );
    assert_eq!(a.hits.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn c50_per_try_timeout_at_least_the_route_timeout_is_ignored() {
    let (a, addr) = upstream("a").await;
    let http = "[{timeout: 300ms, retries: {attempts: 2, perTryTimeout: 5s, retryOn: gateway-error}, route: [{destination: {host: a.default.svc.cluster.local}}]}]";
    let gw = Setup::new()
        .service("a", "http", &[(addr, "v1")])
        .vs(http)
        .start()
        .await;
    let got = get(gw.addr, "/", &[("x-echo-sleep-ms", "2000")]).await;
    assert_eq!(
        (got.status, got.text().as_str()),
        (504, "upstream request timeout")
    );
    assert_eq!(
        a.hits.load(Ordering::SeqCst),
        1,
        "the route timeout ended it, not a per-try timeout"
    );
}

#[tokio::test]
async fn c54_outlier_detection_ejects_within_max_ejection_percent() {
    let outlier = |extra: &str| {
        format!(
            "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {{name: b, namespace: default}}\nspec:\n  host: b.default.svc.cluster.local\n  trafficPolicy: {{outlierDetection: {{consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 1m{extra}}}}}\n---\n"
        )
    };
    let (_, addr) = upstream("b").await;
    let base = Setup::new().service("b", "http", &[(addr, "v1")]);
    let gw = base
        .clone()
        .yaml(&outlier(", maxEjectionPercent: 100"))
        .vs(&to("b"))
        .start()
        .await;
    assert_eq!(get(gw.addr, "/", &[("x-echo-status", "500")]).await.status, 500);
    let got = get(gw.addr, "/", &[]).await;
    assert_eq!(
        (got.status, got.text().as_str()),
        (503, "no healthy upstream"),
        "the only endpoint is ejected"
    );

    // With the default 10 %, one endpoint of one is never ejected.
    let gw = base.yaml(&outlier("")).vs(&to("b")).start().await;
    assert_eq!(get(gw.addr, "/", &[("x-echo-status", "500")]).await.status, 500);
    assert_eq!(get(gw.addr, "/", &[]).await.status, 200);
}

#[tokio::test]
async fn in_process_services_answer_without_a_socket_until_removed() {
    // Nothing listens on this endpoint: only the in-process service can answer.
    let dead: std::net::SocketAddr = format!("127.0.0.1:{}", refused_port().await)
        .parse()
        .expect("addr");
    let gw = Setup::new()
        .service("e", "http", &[(dead, "v1")])
        .vs("[{retries: {attempts: 0}, route: [{destination: {host: e.default.svc.cluster.local}}]}]")
        .start()
        .await;
    let service: sluice_gateway::InProcess = Arc::new(|request: http::Request<sluice_gateway::Body>| {
        Box::pin(async move {
            let text = format!("in process: {}", request.uri().path());
            http::Response::new(sluice_gateway::full(text))
        })
    });
    let services = gw.gateway.in_process_services();
    services.insert(dead, service);
    let got = get(gw.addr, "/predict", &[]).await;
    assert_eq!(
        (got.status, got.text()),
        (200, "in process: /predict".to_string())
    );
    // Istio's response headers and byte metrics, as for a socket.
    assert!(got.headers.contains_key("x-envoy-upstream-service-time"));
    let admin = gw.admin.expect("admin");
    let metrics = get(admin, "/stats/prometheus", &[]).await.text();
    assert!(
        metrics.lines().any(|l| l.starts_with("istio_response_bytes_sum{")
            && l.contains("response_code=\"200\"")
            && l.ends_with(" 20.0")),
        "{metrics}"
    );
    services.remove(dead);
    assert_eq!(
        get(gw.addr, "/predict", &[]).await.status,
        503,
        "back to the (refused) socket"
    );
}

#[tokio::test]
async fn a_streamed_response_is_measured_to_its_last_byte_in_metrics_and_access_log() {
    let (_, addr) = upstream("a").await;
    let log = std::env::temp_dir().join(format!("sluice-access-{}.log", std::process::id()));
    let _ = std::fs::remove_file(&log);
    let gw = Setup::new()
        .service("a", "http", &[(addr, "v1")])
        .vs(&to("a"))
        .start_with(|o| {
            o.access_log = true;
            o.access_log_path = Some(log.clone());
        })
        .await;
    // Headers at once, a chunked body ("late", 4 bytes) 300 ms later.
    let request = http::Request::builder()
        .uri(format!("http://{}/stream", gw.addr))
        .header("host", "app.example.com")
        .header("x-echo-stream-ms", "300")
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .expect("request");
    let got = Got::read(http1().request(request).await.expect("response")).await;
    assert_eq!((got.status, got.text().as_str()), (200, "late"));
    assert!(!got.headers.contains_key("content-length"), "chunked");

    let admin = gw.admin.expect("admin");
    let scrape = get(admin, "/stats/prometheus", &[]).await.text();
    let value = |prefix: &str| -> f64 {
        scrape
            .lines()
            .find(|l| l.starts_with(prefix) && l.contains("destination_service_name=\"a\""))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{prefix} in\n{scrape}"))
    };
    assert_eq!(
        value("istio_response_bytes_sum{"),
        4.0,
        "bytes of the body, not a Content-Length"
    );
    assert!(
        value("istio_request_duration_milliseconds_sum{") >= 300.0,
        "duration to the last byte:\n{scrape}"
    );

    let mut line = String::new();
    for _ in 0..100 {
        line = std::fs::read_to_string(&log).unwrap_or_default();
        if !line.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let entry: serde_json::Value = serde_json::from_str(line.trim()).expect("one JSON line");
    assert_eq!(entry["bytes_sent"], 4, "{entry}");
    assert_eq!(entry["path"], "/stream", "{entry}");
    assert!(entry["duration"].as_u64().is_some_and(|ms| ms >= 300), "{entry}");
    let _ = std::fs::remove_file(&log);
}
