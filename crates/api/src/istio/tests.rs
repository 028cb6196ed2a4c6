//! Samples modelled on Istio's documented examples, as JSON (serde-saphyr is
//! not a dev-dependency of this crate). Each sample is parsed into its typed
//! object and serialized back: the result must equal the input, which proves
//! no field is dropped or renamed and empty fields are skipped.

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::*;

/// Parses `json` as `T` and asserts that serializing it back yields the same JSON value.
fn round_trip<T: DeserializeOwned + Serialize>(json: &str) -> T {
    let input: Value = serde_json::from_str(json).expect("sample is valid JSON");
    let parsed: T = serde_json::from_str(json).expect("sample parses into the typed object");
    let output = serde_json::to_value(&parsed).expect("typed object serializes");
    assert_eq!(output, input, "round trip changed the object");
    parsed
}

const GATEWAY: &str = r#"{
  "apiVersion": "networking.istio.io/v1",
  "kind": "Gateway",
  "metadata": {
    "name": "my-gateway",
    "namespace": "some-config-namespace",
    "labels": { "app": "bookinfo" }
  },
  "spec": {
    "selector": { "app": "my-gateway-controller" },
    "servers": [
      {
        "port": { "number": 80, "name": "http", "protocol": "HTTP" },
        "hosts": ["uk.bookinfo.com", "eu.bookinfo.com"],
        "tls": { "httpsRedirect": true }
      },
      {
        "port": { "number": 443, "name": "https-443", "protocol": "HTTPS" },
        "hosts": ["uk.bookinfo.com", "eu.bookinfo.com"],
        "tls": {
          "mode": "SIMPLE",
          "credentialName": "bookinfo-secret",
          "minProtocolVersion": "TLSV1_2",
          "maxProtocolVersion": "TLSV1_3",
          "cipherSuites": ["ECDHE-ECDSA-AES256-GCM-SHA384"],
          "ecdhCurves": ["X25519"]
        }
      },
      {
        "port": { "number": 9443, "name": "https-9443", "protocol": "HTTPS" },
        "hosts": ["bookinfo-namespace/*.bookinfo.com"],
        "name": "mutual",
        "tls": {
          "mode": "MUTUAL",
          "serverCertificate": "/etc/certs/servercert.pem",
          "privateKey": "/etc/certs/privatekey.pem",
          "caCertificates": "/etc/certs/caCertificates.pem",
          "caCrl": "/etc/certs/crl.pem",
          "subjectAltNames": ["spiffe://cluster.local/ns/default/sa/client"],
          "verifyCertificateHash": ["AB:CD"],
          "verifyCertificateSpki": ["c2hhMjU2"],
          "insecureSkipVerify": false
        }
      },
      {
        "port": { "number": 8443, "name": "https-multi", "protocol": "HTTPS", "targetPort": 8443 },
        "hosts": ["*"],
        "tls": {
          "mode": "OPTIONAL_MUTUAL",
          "credentialNames": ["rsa-secret", "ecdsa-secret"],
          "caCertCredentialName": "client-ca",
          "tlsCertificates": [
            { "serverCertificate": "/etc/a.pem", "privateKey": "/etc/a.key", "caCertificates": "/etc/ca.pem" }
          ]
        }
      },
      {
        "port": { "number": 2379, "name": "mongo", "protocol": "MONGO" },
        "hosts": ["*"],
        "bind": "0.0.0.0",
        "defaultEndpoint": "127.0.0.1:2379"
      }
    ]
  },
  "status": { "conditions": [] }
}"#;

#[test]
fn gateway_round_trips() {
    let gw: Gateway = round_trip(GATEWAY);
    assert_eq!(gw.metadata.name.as_deref(), Some("my-gateway"));
    assert_eq!(
        gw.spec.selector.get("app").map(String::as_str),
        Some("my-gateway-controller")
    );
    assert_eq!(gw.spec.servers.len(), 5);
    let http = &gw.spec.servers[0];
    assert_eq!(http.port.number, 80);
    assert_eq!(http.port.protocol, "HTTP");
    assert_eq!(http.tls.as_ref().and_then(|t| t.https_redirect), Some(true));
    let https = gw.spec.servers[1].tls.as_ref().expect("tls");
    assert_eq!(https.mode, Some(ServerTlsMode::Simple));
    assert_eq!(https.min_protocol_version, Some(TlsProtocol::TlsV1_2));
    assert_eq!(https.credential_name.as_deref(), Some("bookinfo-secret"));
    let multi = gw.spec.servers[3].tls.as_ref().expect("tls");
    assert_eq!(multi.mode, Some(ServerTlsMode::OptionalMutual));
    assert_eq!(multi.credential_names, ["rsa-secret", "ecdsa-secret"]);
    assert_eq!(gw.spec.servers[3].port.target_port, Some(8443));
    assert_eq!(gw.spec.servers[4].bind.as_deref(), Some("0.0.0.0"));
    assert!(gw.status.is_some());
}

const VIRTUAL_SERVICE: &str = r#"{
  "apiVersion": "networking.istio.io/v1",
  "kind": "VirtualService",
  "metadata": { "name": "reviews-route", "namespace": "bookinfo" },
  "spec": {
    "hosts": ["reviews.prod.svc.cluster.local"],
    "gateways": ["bookinfo-gateway", "mesh"],
    "exportTo": ["."],
    "http": [
      {
        "name": "reviews-v2-routes",
        "match": [
          {
            "name": "prefix-match",
            "uri": { "prefix": "/wpcatalog" },
            "scheme": { "exact": "https" },
            "method": { "exact": "GET" },
            "authority": { "regex": "reviews\\..*" },
            "headers": { "end-user": { "exact": "jason" } },
            "withoutHeaders": { "x-debug": { "prefix": "" } },
            "queryParams": { "version": { "exact": "v2" } },
            "port": 9080,
            "sourceLabels": { "app": "productpage" },
            "sourceNamespace": "bookinfo",
            "gateways": ["mesh"],
            "ignoreUriCase": true,
            "statPrefix": "reviews-v2"
          }
        ],
        "rewrite": {
          "uri": "/newcatalog",
          "authority": "reviews.internal"
        },
        "route": [
          {
            "destination": { "host": "reviews.prod.svc.cluster.local", "subset": "v2", "port": { "number": 9080 } },
            "weight": 75,
            "headers": {
              "request": { "set": { "test": "true" } },
              "response": { "add": { "x-served-by": "v2" }, "remove": ["foo"] }
            }
          },
          {
            "destination": { "host": "reviews.prod.svc.cluster.local", "subset": "v1" },
            "weight": 25
          }
        ],
        "timeout": "10s",
        "retries": {
          "attempts": 3,
          "perTryTimeout": "2s",
          "retryOn": "gateway-error,connect-failure,refused-stream",
          "retryRemoteLocalities": true,
          "retryIgnorePreviousHosts": true,
          "backoff": "25ms"
        },
        "fault": {
          "delay": { "fixedDelay": "5s", "percentage": { "value": 0.1 } },
          "abort": { "httpStatus": 400, "percentage": { "value": 0.1 } }
        },
        "mirror": { "host": "reviews.prod.svc.cluster.local", "subset": "v3" },
        "mirrorPercentage": { "value": 50.0 },
        "mirrors": [
          { "destination": { "host": "mirror.svc.cluster.local" }, "percentage": { "value": 12.5 } }
        ],
        "corsPolicy": {
          "allowOrigins": [{ "exact": "https://example.com" }, { "regex": "https://.*\\.example\\.org" }],
          "allowMethods": ["POST", "GET"],
          "allowHeaders": ["X-Foo-Bar"],
          "exposeHeaders": ["X-Expose"],
          "allowCredentials": false,
          "maxAge": "24h",
          "unmatchedPreflights": "IGNORE"
        },
        "headers": { "request": { "remove": ["x-internal"] } }
      },
      {
        "match": [{ "uri": { "exact": "/v1/getProductRatings" } }],
        "redirect": {
          "uri": "/v1/bookRatings",
          "authority": "newratings.default.svc.cluster.local",
          "scheme": "https",
          "derivePort": "FROM_REQUEST_PORT",
          "redirectCode": 302
        }
      },
      {
        "match": [{ "uri": { "prefix": "/legacy" } }],
        "redirect": { "prefixRewrite": "/modern", "port": 8443 }
      },
      {
        "match": [{ "uri": { "regex": "^/service/([^/]+)(/.*)$" } }],
        "rewrite": { "uriRegexRewrite": { "match": "^/service/([^/]+)(/.*)$", "rewrite": "\\2/instance/\\1" } },
        "route": [{ "destination": { "host": "matcher.svc.cluster.local" } }]
      },
      {
        "match": [{ "uri": { "exact": "/unknown" } }],
        "directResponse": { "status": 503, "body": { "string": "unknown path" } }
      },
      {
        "match": [{ "uri": { "exact": "/grpc-fail" } }],
        "fault": {
          "abort": { "grpcStatus": "UNAVAILABLE", "percentage": { "value": 100.0 } },
          "delay": { "percent": 10, "fixedDelay": "1s" }
        },
        "route": [{ "destination": { "host": "grpc.svc.cluster.local" } }],
        "mirror": { "host": "grpc-shadow.svc.cluster.local" },
        "mirrorPercent": 5,
        "corsPolicy": { "allowOrigin": ["*"] }
      },
      {
        "match": [{ "uri": { "prefix": "/productpage" } }],
        "delegate": { "name": "productpage", "namespace": "nsA" }
      }
    ],
    "tls": [
      {
        "match": [
          {
            "sniHosts": ["login.bookinfo.com"],
            "port": 443,
            "destinationSubnets": ["10.0.0.0/16"],
            "sourceLabels": { "app": "web" },
            "gateways": ["mygateway"],
            "sourceNamespace": "frontend"
          }
        ],
        "route": [{ "destination": { "host": "login.prod.svc.cluster.local" } }]
      }
    ],
    "tcp": [
      {
        "match": [
          {
            "port": 27017,
            "destinationSubnets": ["10.1.0.0/16"],
            "sourceLabels": { "app": "client" },
            "gateways": ["mesh"],
            "sourceNamespace": "db-clients"
          }
        ],
        "route": [
          { "destination": { "host": "mongo.backup.svc.cluster.local", "port": { "number": 5555 } }, "weight": 100 }
        ]
      }
    ]
  }
}"#;

#[test]
fn virtual_service_round_trips() {
    let vs: VirtualService = round_trip(VIRTUAL_SERVICE);
    assert_eq!(vs.spec.hosts, ["reviews.prod.svc.cluster.local"]);
    assert_eq!(vs.spec.export_to, ["."]);
    assert_eq!(vs.spec.http.len(), 7);

    let main = &vs.spec.http[0];
    let m = &main.matches[0];
    assert_eq!(
        m.uri.as_ref().and_then(|u| u.prefix.as_deref()),
        Some("/wpcatalog")
    );
    assert_eq!(
        m.headers.get("end-user").and_then(|h| h.exact.as_deref()),
        Some("jason")
    );
    assert_eq!(m.ignore_uri_case, Some(true));
    assert_eq!(m.port, Some(9080));
    assert_eq!(main.route[0].weight, Some(75));
    assert_eq!(main.route[0].destination.subset.as_deref(), Some("v2"));
    assert_eq!(
        main.route[0].destination.port.as_ref().and_then(|p| p.number),
        Some(9080)
    );
    let request_ops = main.route[0]
        .headers
        .as_ref()
        .and_then(|h| h.request.as_ref())
        .expect("request ops");
    assert_eq!(request_ops.set.get("test").map(String::as_str), Some("true"));
    assert_eq!(main.timeout.as_deref(), Some("10s"));
    let retries = main.retries.as_ref().expect("retries");
    assert_eq!(retries.attempts, Some(3));
    assert_eq!(retries.per_try_timeout.as_deref(), Some("2s"));
    let fault = main.fault.as_ref().expect("fault");
    assert_eq!(fault.abort.as_ref().and_then(|a| a.http_status), Some(400));
    assert_eq!(
        fault
            .delay
            .as_ref()
            .and_then(|d| d.percentage.as_ref())
            .map(|p| p.value),
        Some(0.1)
    );
    assert_eq!(main.mirror_percentage.as_ref().map(|p| p.value), Some(50.0));
    assert_eq!(main.mirrors[0].destination.host, "mirror.svc.cluster.local");
    let cors = main.cors_policy.as_ref().expect("cors");
    assert_eq!(cors.unmatched_preflights, Some(UnmatchedPreflights::Ignore));
    assert_eq!(
        cors.allow_origins[0].exact.as_deref(),
        Some("https://example.com")
    );

    let redirect = vs.spec.http[1].redirect.as_ref().expect("redirect");
    assert_eq!(redirect.redirect_code, Some(302));
    assert_eq!(redirect.derive_port, Some(RedirectPortSelection::FromRequestPort));
    let regex = vs.spec.http[3]
        .rewrite
        .as_ref()
        .and_then(|r| r.uri_regex_rewrite.as_ref())
        .expect("regex");
    assert_eq!(regex.match_regex.as_deref(), Some("^/service/([^/]+)(/.*)$"));
    let direct = vs.spec.http[4].direct_response.as_ref().expect("direct response");
    assert_eq!(direct.status, 503);
    assert_eq!(
        direct.body.as_ref().and_then(|b| b.string.as_deref()),
        Some("unknown path")
    );
    let legacy = &vs.spec.http[5];
    assert_eq!(legacy.mirror_percent, Some(5));
    assert_eq!(
        legacy
            .fault
            .as_ref()
            .and_then(|f| f.delay.as_ref())
            .and_then(|d| d.percent),
        Some(10)
    );
    assert_eq!(
        legacy
            .fault
            .as_ref()
            .and_then(|f| f.abort.as_ref())
            .and_then(|a| a.grpc_status.as_deref()),
        Some("UNAVAILABLE")
    );
    assert_eq!(
        vs.spec.http[6].delegate.as_ref().and_then(|d| d.name.as_deref()),
        Some("productpage")
    );

    assert_eq!(vs.spec.tls[0].matches[0].sni_hosts, ["login.bookinfo.com"]);
    assert_eq!(vs.spec.tcp[0].matches[0].port, Some(27017));
    assert_eq!(vs.spec.tcp[0].route[0].weight, Some(100));
}

#[test]
fn deprecated_snake_case_aliases_are_kept_apart() {
    let route: HttpRoute = round_trip(r#"{ "mirror_percent": 7 }"#);
    assert_eq!(route.mirror_percent_alt, Some(7));
    assert_eq!(route.mirror_percent, None);
    let rule: JwtRule = round_trip(r#"{ "issuer": "a", "jwks_uri": "https://a/jwks.json" }"#);
    assert_eq!(rule.jwks_uri_alt.as_deref(), Some("https://a/jwks.json"));
    assert_eq!(rule.jwks_uri, None);
}

const DESTINATION_RULE: &str = r#"{
  "apiVersion": "networking.istio.io/v1",
  "kind": "DestinationRule",
  "metadata": { "name": "bookinfo-ratings", "namespace": "bookinfo" },
  "spec": {
    "host": "ratings.prod.svc.cluster.local",
    "exportTo": ["*"],
    "workloadSelector": { "matchLabels": { "app": "ratings" } },
    "trafficPolicy": {
      "loadBalancer": {
        "simple": "LEAST_REQUEST",
        "localityLbSetting": {
          "enabled": true,
          "distribute": [
            { "from": "us-west/zone1/*", "to": { "us-west/zone1/*": 80, "us-west/zone2/*": 20 } }
          ],
          "failover": [{ "from": "us-east", "to": "eu-west" }],
          "failoverPriority": ["topology.istio.io/network"]
        },
        "warmup": { "duration": "60s", "minimumPercent": 10.0, "aggression": 1.5 }
      },
      "connectionPool": {
        "tcp": {
          "maxConnections": 100,
          "connectTimeout": "30ms",
          "maxConnectionDuration": "1h",
          "idleTimeout": "5m",
          "tcpKeepalive": { "time": "7200s", "interval": "75s", "probes": 9 }
        },
        "http": {
          "http1MaxPendingRequests": 1024,
          "http2MaxRequests": 1024,
          "maxRequestsPerConnection": 10,
          "maxRetries": 3,
          "idleTimeout": "30s",
          "h2UpgradePolicy": "UPGRADE",
          "useClientProtocol": false,
          "maxConcurrentStreams": 100,
          "http2KeepAlive": { "interval": "30s", "timeout": "5s" }
        }
      },
      "outlierDetection": {
        "consecutive5xxErrors": 7,
        "consecutiveGatewayErrors": 5,
        "consecutiveLocalOriginFailures": 3,
        "splitExternalLocalOriginErrors": true,
        "interval": "5m",
        "baseEjectionTime": "15m",
        "maxEjectionPercent": 50,
        "minHealthPercent": 30,
        "outlierDetectionHttpErrorCodes": [500, 503]
      },
      "tls": {
        "mode": "MUTUAL",
        "clientCertificate": "/etc/certs/myclientcert.pem",
        "privateKey": "/etc/certs/client_private_key.pem",
        "caCertificates": "/etc/certs/rootcacerts.pem",
        "caCrl": "/etc/certs/crl.pem",
        "subjectAltNames": ["ratings.prod.svc.cluster.local"],
        "sni": "ratings.prod",
        "insecureSkipVerify": false
      },
      "portLevelSettings": [
        {
          "port": { "number": 80 },
          "loadBalancer": { "simple": "ROUND_ROBIN" },
          "connectionPool": { "tcp": { "maxConnections": 10 } },
          "outlierDetection": { "consecutiveErrors": 5 },
          "tls": { "mode": "ISTIO_MUTUAL" }
        },
        {
          "port": { "number": 443 },
          "tls": { "mode": "SIMPLE", "credentialName": "client-credential" }
        }
      ],
      "tunnel": { "protocol": "CONNECT", "targetHost": "192.168.1.2", "targetPort": 9443 },
      "proxyProtocol": { "version": "V2" },
      "retryBudget": { "percent": 25.5, "minRetryConcurrency": 3, "budgetInterval": "10s" }
    },
    "subsets": [
      { "name": "v1", "labels": { "version": "v1" } },
      {
        "name": "testversion",
        "labels": { "version": "v3" },
        "trafficPolicy": {
          "loadBalancer": {
            "consistentHash": {
              "httpCookie": {
                "name": "user",
                "path": "/",
                "ttl": "0s",
                "attributes": [{ "name": "SameSite", "value": "Strict" }, { "name": "Secure" }]
              },
              "ringHash": { "minimumRingSize": 1024 }
            }
          }
        }
      },
      {
        "name": "v4",
        "labels": { "version": "v4" },
        "trafficPolicy": {
          "loadBalancer": {
            "consistentHash": { "httpHeaderName": "x-user", "maglev": { "tableSize": 65537 } },
            "zoneAwareLbSetting": {
              "enabled": true,
              "minClusterSize": 3,
              "failover": [{ "from": "us-east", "to": "us-west" }],
              "failoverPriority": ["topology.kubernetes.io/zone"]
            }
          }
        }
      },
      {
        "name": "v5",
        "trafficPolicy": {
          "loadBalancer": {
            "backendUtilization": {
              "errorUtilizationPenaltyPercent": 10,
              "metricNamesForComputingUtilization": ["named_metrics.foo"],
              "weightExpirationPeriod": "3m",
              "weightStabilizationPeriod": "10s",
              "weightUpdatePeriod": "1s"
            },
            "warmupDurationSecs": "30s"
          }
        }
      },
      {
        "name": "v6",
        "trafficPolicy": {
          "loadBalancer": {
            "consistentHash": { "useSourceIp": true, "minimumRingSize": 512 }
          }
        }
      },
      {
        "name": "v7",
        "trafficPolicy": {
          "loadBalancer": { "consistentHash": { "httpQueryParameterName": "session" } }
        }
      }
    ]
  }
}"#;

#[test]
fn destination_rule_round_trips() {
    let dr: DestinationRule = round_trip(DESTINATION_RULE);
    assert_eq!(dr.spec.host, "ratings.prod.svc.cluster.local");
    assert_eq!(
        dr.spec
            .workload_selector
            .as_ref()
            .and_then(|w| w.match_labels.get("app"))
            .map(String::as_str),
        Some("ratings")
    );
    let tp = dr.spec.traffic_policy.as_ref().expect("traffic policy");
    let lb = tp.load_balancer.as_ref().expect("load balancer");
    assert_eq!(lb.simple, Some(SimpleLb::LeastRequest));
    let locality = lb.locality_lb_setting.as_ref().expect("locality");
    assert_eq!(locality.distribute[0].to.get("us-west/zone1/*"), Some(&80));
    assert_eq!(lb.warmup.as_ref().map(|w| w.duration.as_str()), Some("60s"));
    let pool = tp.connection_pool.as_ref().expect("connection pool");
    let http = pool.http.as_ref().expect("http");
    assert_eq!(http.http1_max_pending_requests, Some(1024));
    assert_eq!(http.http2_max_requests, Some(1024));
    assert_eq!(http.h2_upgrade_policy, Some(H2UpgradePolicy::Upgrade));
    assert_eq!(http.idle_timeout.as_deref(), Some("30s"));
    let tcp = pool.tcp.as_ref().expect("tcp");
    assert_eq!(tcp.tcp_keepalive.as_ref().and_then(|k| k.probes), Some(9));
    let od = tp.outlier_detection.as_ref().expect("outlier detection");
    assert_eq!(od.consecutive_5xx_errors, Some(7));
    assert_eq!(od.outlier_detection_http_error_codes, [500, 503]);
    assert_eq!(tp.tls.as_ref().and_then(|t| t.mode), Some(ClientTlsMode::Mutual));
    assert_eq!(
        tp.port_level_settings[0].port.as_ref().and_then(|p| p.number),
        Some(80)
    );
    assert_eq!(
        tp.port_level_settings[0].tls.as_ref().and_then(|t| t.mode),
        Some(ClientTlsMode::IstioMutual)
    );
    assert_eq!(tp.tunnel.as_ref().map(|t| t.target_port), Some(9443));
    assert_eq!(
        tp.proxy_protocol.as_ref().and_then(|p| p.version),
        Some(ProxyProtocolVersion::V2)
    );
    assert_eq!(tp.retry_budget.as_ref().and_then(|r| r.percent), Some(25.5));

    assert_eq!(dr.spec.subsets.len(), 6);
    assert_eq!(
        dr.spec.subsets[0].labels.get("version").map(String::as_str),
        Some("v1")
    );
    let hash = dr.spec.subsets[1]
        .traffic_policy
        .as_ref()
        .and_then(|t| t.load_balancer.as_ref())
        .and_then(|l| l.consistent_hash.as_ref())
        .expect("consistent hash");
    let cookie = hash.http_cookie.as_ref().expect("cookie");
    assert_eq!(cookie.name, "user");
    assert_eq!(cookie.attributes[1].value, None);
    assert_eq!(
        hash.ring_hash.as_ref().and_then(|r| r.minimum_ring_size),
        Some(1024)
    );
}

const SERVICE_ENTRY: &str = r#"{
  "apiVersion": "networking.istio.io/v1beta1",
  "kind": "ServiceEntry",
  "metadata": { "name": "external-svc-mongocluster" },
  "spec": {
    "hosts": ["mymongodb.somedomain"],
    "addresses": ["192.192.192.192/24"],
    "ports": [
      { "number": 27018, "name": "mongodb", "protocol": "MONGO" },
      { "number": 443, "name": "https", "protocol": "TLS", "targetPort": 8443 }
    ],
    "location": "MESH_INTERNAL",
    "resolution": "STATIC",
    "exportTo": ["."],
    "subjectAltNames": ["spiffe://cluster.local/ns/mongo/sa/mongo"],
    "endpoints": [
      { "address": "2.2.2.2" },
      {
        "address": "3.3.3.3",
        "ports": { "mongodb": 27019 },
        "labels": { "app": "mongo" },
        "network": "network-2",
        "locality": "us-east/zone1",
        "weight": 10,
        "serviceAccount": "mongo"
      }
    ]
  }
}"#;

#[test]
fn service_entry_round_trips() {
    let se: ServiceEntry = round_trip(SERVICE_ENTRY);
    assert_eq!(
        Kind::from_type_meta(&se.api_version, &se.kind),
        Some(Kind::ServiceEntry)
    );
    assert_eq!(se.spec.hosts, ["mymongodb.somedomain"]);
    assert_eq!(se.spec.location, Some(ServiceEntryLocation::MeshInternal));
    assert_eq!(se.spec.resolution, Some(ServiceEntryResolution::Static));
    assert_eq!(se.spec.ports[0].number, 27018);
    assert_eq!(se.spec.ports[0].protocol.as_deref(), Some("MONGO"));
    assert_eq!(se.spec.ports[1].target_port, Some(8443));
    let ep = &se.spec.endpoints[1];
    assert_eq!(ep.ports.get("mongodb"), Some(&27019));
    assert_eq!(ep.weight, Some(10));
    assert_eq!(ep.service_account.as_deref(), Some("mongo"));

    let selected: ServiceEntrySpec = round_trip(
        r#"{ "hosts": ["mysqldb.svc.com"], "resolution": "DNS_ROUND_ROBIN",
             "workloadSelector": { "labels": { "app": "mysqldb" } } }"#,
    );
    assert_eq!(selected.resolution, Some(ServiceEntryResolution::DnsRoundRobin));
    assert_eq!(
        selected
            .workload_selector
            .as_ref()
            .and_then(|w| w.labels.get("app"))
            .map(String::as_str),
        Some("mysqldb")
    );
}

const REQUEST_AUTHENTICATION: &str = r#"{
  "apiVersion": "security.istio.io/v1",
  "kind": "RequestAuthentication",
  "metadata": { "name": "jwt-example", "namespace": "istio-system" },
  "spec": {
    "selector": { "matchLabels": { "istio": "ingressgateway" } },
    "jwtRules": [
      {
        "issuer": "issuer-foo",
        "audiences": ["bookstore_android.apps.example.com"],
        "jwksUri": "https://example.com/.well-known/jwks.json",
        "fromHeaders": [{ "name": "x-jwt-assertion", "prefix": "Bearer " }, { "name": "x-goog-iap-jwt-assertion" }],
        "fromParams": ["my_token"],
        "fromCookies": ["session"],
        "outputPayloadToHeader": "x-jwt-payload",
        "forwardOriginalToken": true,
        "outputClaimToHeaders": [{ "header": "x-jwt-claim-foo", "claim": "foo" }],
        "timeout": "5s",
        "presence": "REQUIRED",
        "spaceDelimitedClaims": ["custom_scope"]
      },
      {
        "issuer": "issuer-bar",
        "jwks": "{\"keys\":[]}"
      }
    ]
  }
}"#;

#[test]
fn request_authentication_round_trips() {
    let ra: RequestAuthentication = round_trip(REQUEST_AUTHENTICATION);
    assert_eq!(
        ra.spec
            .selector
            .as_ref()
            .and_then(|s| s.match_labels.get("istio"))
            .map(String::as_str),
        Some("ingressgateway")
    );
    let rule = &ra.spec.jwt_rules[0];
    assert_eq!(rule.issuer.as_deref(), Some("issuer-foo"));
    assert_eq!(
        rule.jwks_uri.as_deref(),
        Some("https://example.com/.well-known/jwks.json")
    );
    assert_eq!(rule.from_headers[0].prefix.as_deref(), Some("Bearer "));
    assert_eq!(rule.from_headers[1].prefix, None);
    assert_eq!(rule.output_claim_to_headers[0].claim, "foo");
    assert_eq!(rule.forward_original_token, Some(true));
    assert_eq!(rule.presence, Some(JwtPresence::Required));
    assert_eq!(ra.spec.jwt_rules[1].jwks.as_deref(), Some("{\"keys\":[]}"));

    let targeted: RequestAuthenticationSpec = round_trip(
        r#"{ "targetRefs": [{ "group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "waypoint" }],
             "jwtRules": [{ "issuer": "a" }] }"#,
    );
    assert_eq!(targeted.target_refs[0].kind, "Gateway");
    assert_eq!(targeted.target_refs[0].namespace, None);
}

const AUTHORIZATION_POLICY: &str = r#"{
  "apiVersion": "security.istio.io/v1beta1",
  "kind": "AuthorizationPolicy",
  "metadata": { "name": "httpbin", "namespace": "foo" },
  "spec": {
    "selector": { "matchLabels": { "app": "httpbin", "version": "v1" } },
    "action": "ALLOW",
    "rules": [
      {
        "from": [
          {
            "source": {
              "principals": ["cluster.local/ns/default/sa/sleep"],
              "notPrincipals": ["cluster.local/ns/default/sa/evil"],
              "requestPrincipals": ["issuer-foo/*"],
              "notRequestPrincipals": ["issuer-bar/*"],
              "namespaces": ["dev"],
              "notNamespaces": ["prod"],
              "ipBlocks": ["10.0.0.0/8"],
              "notIpBlocks": ["10.1.0.0/16"],
              "remoteIpBlocks": ["203.0.113.0/24"],
              "notRemoteIpBlocks": ["203.0.113.7"],
              "serviceAccounts": ["default/sleep"],
              "notServiceAccounts": ["default/evil"],
              "trustDomains": ["cluster.local"],
              "notTrustDomains": ["evil.local"]
            }
          }
        ],
        "to": [
          {
            "operation": {
              "hosts": ["httpbin.foo"],
              "notHosts": ["admin.foo"],
              "ports": ["8000"],
              "notPorts": ["9000"],
              "methods": ["GET"],
              "notMethods": ["DELETE"],
              "paths": ["/info*"],
              "notPaths": ["/admin*"]
            }
          }
        ],
        "when": [
          { "key": "request.auth.claims[iss]", "values": ["https://accounts.google.com"], "notValues": ["evil"] }
        ]
      },
      { "to": [{ "operation": { "methods": ["HEAD"] } }] }
    ]
  }
}"#;

#[test]
fn authorization_policy_round_trips() {
    let ap: AuthorizationPolicy = round_trip(AUTHORIZATION_POLICY);
    assert_eq!(
        Kind::from_type_meta(&ap.api_version, &ap.kind),
        Some(Kind::AuthorizationPolicy)
    );
    assert_eq!(ap.spec.action, Some(AuthorizationPolicyAction::Allow));
    let rule = &ap.spec.rules[0];
    let source = rule.from[0].source.as_ref().expect("source");
    assert_eq!(source.principals, ["cluster.local/ns/default/sa/sleep"]);
    assert_eq!(source.ip_blocks, ["10.0.0.0/8"]);
    assert_eq!(source.not_remote_ip_blocks, ["203.0.113.7"]);
    assert_eq!(source.not_trust_domains, ["evil.local"]);
    let op = rule.to[0].operation.as_ref().expect("operation");
    assert_eq!(op.ports, ["8000"]);
    assert_eq!(op.not_paths, ["/admin*"]);
    assert_eq!(rule.when[0].key, "request.auth.claims[iss]");
    assert_eq!(rule.when[0].not_values, ["evil"]);
    assert!(ap.spec.rules[1].from.is_empty());

    let custom: AuthorizationPolicySpec = round_trip(
        r#"{ "action": "CUSTOM", "provider": { "name": "my-ext-authz" },
             "targetRef": { "kind": "Gateway", "group": "gateway.networking.k8s.io", "name": "gw", "namespace": "ns" },
             "rules": [{ "to": [{ "operation": { "paths": ["/admin/*"] } }] }] }"#,
    );
    assert_eq!(custom.action, Some(AuthorizationPolicyAction::Custom));
    assert_eq!(
        custom.provider.as_ref().and_then(|p| p.name.as_deref()),
        Some("my-ext-authz")
    );
    assert_eq!(custom.target_ref.as_ref().map(|t| t.name.as_str()), Some("gw"));

    let deny_all: AuthorizationPolicy = round_trip(
        r#"{ "apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
             "metadata": { "name": "deny-all" }, "spec": { "action": "DENY" } }"#,
    );
    assert_eq!(deny_all.spec.action, Some(AuthorizationPolicyAction::Deny));
    assert!(deny_all.spec.rules.is_empty());
}

#[test]
fn empty_fields_are_skipped_on_output() {
    let vs = VirtualService {
        api_version: NETWORKING_API_VERSION.to_owned(),
        kind: Kind::VirtualService.as_str().to_owned(),
        spec: VirtualServiceSpec {
            hosts: vec!["a".to_owned()],
            http: vec![HttpRoute {
                route: vec![HttpRouteDestination {
                    destination: Destination {
                        host: "a".to_owned(),
                        ..Default::default()
                    },
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        },
        ..Default::default()
    };
    let expected: Value = serde_json::from_str(
        r#"{ "apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {},
             "spec": { "hosts": ["a"], "http": [{ "route": [{ "destination": { "host": "a" } }] }] } }"#,
    )
    .expect("valid JSON");
    assert_eq!(serde_json::to_value(&vs).expect("serializes"), expected);
}

#[test]
fn unknown_fields_are_not_rejected_here() {
    // Reporting is the caller's job (serde_ignored); the types themselves accept and drop them.
    let parsed: DestinationRuleSpec =
        serde_json::from_str(r#"{ "host": "a", "trafficPolicy": { "bogus": 1 } }"#).expect("parses");
    assert_eq!(parsed.traffic_policy, Some(Box::default()));
}

#[test]
fn missing_required_fields_are_errors() {
    let err =
        serde_json::from_str::<DestinationRuleSpec>(r#"{ "subsets": [] }"#).expect_err("host is required");
    assert!(err.to_string().contains("missing field `host`"), "{err}");
    let err = serde_json::from_str::<HttpRouteDestination>(r#"{ "destination": {} }"#)
        .expect_err("host is required");
    assert!(err.to_string().contains("missing field `host`"), "{err}");
}

#[test]
fn enum_spellings_match_the_schema() {
    let tls: ServerTlsSettings =
        round_trip(r#"{ "mode": "AUTO_PASSTHROUGH", "minProtocolVersion": "TLS_AUTO" }"#);
    assert_eq!(tls.mode, Some(ServerTlsMode::AutoPassthrough));
    assert_eq!(tls.min_protocol_version, Some(TlsProtocol::TlsAuto));
    let lb: LoadBalancerSettings = round_trip(r#"{ "simple": "LEAST_CONN" }"#);
    assert_eq!(lb.simple, Some(SimpleLb::LeastConn));
    let http: HttpSettings = round_trip(r#"{ "h2UpgradePolicy": "DO_NOT_UPGRADE" }"#);
    assert_eq!(http.h2_upgrade_policy, Some(H2UpgradePolicy::DoNotUpgrade));
    let se: ServiceEntrySpec = round_trip(r#"{ "hosts": ["*.x"], "resolution": "DYNAMIC_DNS" }"#);
    assert_eq!(se.resolution, Some(ServiceEntryResolution::DynamicDns));
    assert!(serde_json::from_str::<ClientTlsSettings>(r#"{ "mode": "simple" }"#).is_err());
    assert_eq!(ClientTlsMode::default(), ClientTlsMode::Disable);
}

#[test]
fn kind_from_type_meta() {
    for kind in Kind::ALL {
        for version in kind.versions() {
            let api_version = format!("{}/{version}", kind.group());
            assert_eq!(Kind::from_type_meta(&api_version, kind.as_str()), Some(kind));
        }
        assert_eq!(
            Kind::from_type_meta(kind.api_version(), kind.as_str()),
            Some(kind)
        );
        assert_eq!(kind.to_string(), kind.as_str());
    }
    assert_eq!(
        Kind::from_type_meta("networking.istio.io/v1alpha3", "Gateway"),
        Some(Kind::Gateway)
    );
    assert_eq!(Kind::from_type_meta("networking.istio.io/v2", "Gateway"), None);
    assert_eq!(
        Kind::from_type_meta("security.istio.io/v1alpha3", "AuthorizationPolicy"),
        None
    );
    assert_eq!(Kind::from_type_meta("security.istio.io/v1", "Gateway"), None);
    assert_eq!(
        Kind::from_type_meta("gateway.networking.k8s.io/v1", "Gateway"),
        None
    );
    assert_eq!(Kind::from_type_meta("v1", "Gateway"), None);
    assert_eq!(Kind::from_type_meta("networking.istio.io/v1", "gateway"), None);
    assert_eq!(Kind::from_type_meta("networking.istio.io/v1", "Sidecar"), None);
}
