#!/usr/bin/env python3
"""The gateway configurations of bench/scale.sh: N SeldonDeployments' routes on one gateway.

    bench/scale-config.py DIR N ENGINE_HTTP ENGINE_GRPC ENVOY_PORT ENVOY_ADMIN [CHANGED]

Each deployment `model-NNNNN` (namespace `seldon`) gets what sluice render gives it: a
VirtualService with Seldon's two routes (REST: the prefix rewritten to /, to port 8000; gRPC:
the path regex plus the `seldon` and `namespace` headers, to port 5001), the predictor's
DestinationRule with its subset, and its Service, here a ServiceEntry whose endpoint is the one
orchestrator of the benchmark. (Envoy gets no subset clusters: the routes do not use them.) Writes
DIR/sluice/istio.yaml (for `sluice gateway --config DIR/sluice`) and DIR/envoy.yaml (what istiod
generates for the same routes: one virtual host, the routes in the same order, two clusters per
deployment). With CHANGED, deployment CHANGED's REST route also sets a response header (the
one-deployment edit the reload measurement applies).
"""

import os
import sys

GRPC_REGEX = ".*tensorflow.*|.*seldon.protos.*|.*inference.*"


def name(i):
    # Zero-padded so that Istio's order (by name, as none has a creation time) is numeric.
    return f"model-{i:05d}"


def sluice_config(n, http, grpc, changed):
    out = [
        """apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: seldon-gateway, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*"]
"""
    ]
    for i in range(n):
        d = name(i)
        extra = "\n    headers: {response: {set: {x-changed: \"yes\"}}}" if i == changed else ""
        out.append(
            f"""---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {d}-http, namespace: seldon}}
spec:
  hosts: ["*"]
  gateways: [istio-system/seldon-gateway]
  http:
  - match: [{{uri: {{prefix: /seldon/seldon/{d}/}}}}]
    rewrite: {{uri: /}}{extra}
    route: [{{destination: {{host: {d}-default.seldon.svc.cluster.local, port: {{number: 8000}}}}}}]
  - match: [{{uri: {{regex: "{GRPC_REGEX}"}}, headers: {{seldon: {{exact: {d}}}, namespace: {{exact: seldon}}}}}}]
    route: [{{destination: {{host: {d}-default.seldon.svc.cluster.local, port: {{number: 5001}}}}}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: {d}-default, namespace: seldon}}
spec:
  hosts: [{d}-default.seldon.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{{number: 8000, name: http, protocol: HTTP}}, {{number: 5001, name: grpc, protocol: GRPC}}]
  endpoints: [{{address: 127.0.0.1, ports: {{http: {http}, grpc: {grpc}}}}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: {d}-default, namespace: seldon}}
spec:
  host: {d}-default.seldon.svc.cluster.local
  subsets: [{{name: default, labels: {{version: default}}}}]
"""
        )
    return "".join(out)


def envoy_config(n, http, grpc, port, admin):
    routes, clusters = [], []
    for i in range(n):
        d = name(i)
        routes.append(
            f"""              - match: {{prefix: /seldon/seldon/{d}/, case_sensitive: true}}
                route: {{cluster: {d}-http, prefix_rewrite: /, timeout: 0s}}
              - match:
                  safe_regex: {{regex: "{GRPC_REGEX}"}}
                  headers:
                  - {{name: namespace, string_match: {{exact: seldon}}}}
                  - {{name: seldon, string_match: {{exact: {d}}}}}
                route: {{cluster: {d}-grpc, timeout: 0s}}
"""
        )
        clusters.append(
            f"""  - name: {d}-http
    connect_timeout: 10s
    load_assignment: {{cluster_name: {d}-http, endpoints: [{{lb_endpoints: [{{endpoint: {{address: {{socket_address: {{address: 127.0.0.1, port_value: {http}}}}}}}}}]}}]}}
  - name: {d}-grpc
    connect_timeout: 10s
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: {{http2_protocol_options: {{}}}}
    load_assignment: {{cluster_name: {d}-grpc, endpoints: [{{lb_endpoints: [{{endpoint: {{address: {{socket_address: {{address: 127.0.0.1, port_value: {grpc}}}}}}}}}]}}]}}
"""
        )
    return (
        f"""admin: {{address: {{socket_address: {{address: 127.0.0.1, port_value: {admin}}}}}}}
static_resources:
  listeners:
  - address: {{socket_address: {{address: 127.0.0.1, port_value: {port}}}}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: gw
          codec_type: AUTO
          http_filters:
          - name: envoy.filters.http.router
            typed_config: {{"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}}
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
"""
        + "".join(routes)
        + "  clusters:\n"
        + "".join(clusters)
    )


def main():
    directory, n, http, grpc, port, admin = sys.argv[1:7]
    n = int(n)
    changed = int(sys.argv[7]) if len(sys.argv) > 7 else None
    os.makedirs(os.path.join(directory, "sluice"), exist_ok=True)
    # Written whole and renamed, so a watching gateway never reads half a file.
    target = os.path.join(directory, "sluice", "istio.yaml")
    with open(target + ".tmp", "w") as f:
        f.write(sluice_config(n, http, grpc, changed))
    os.replace(target + ".tmp", target)
    with open(os.path.join(directory, "envoy.yaml"), "w") as f:
        f.write(envoy_config(n, http, grpc, port, admin))


if __name__ == "__main__":
    main()
