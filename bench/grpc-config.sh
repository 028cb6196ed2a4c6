#!/usr/bin/env bash
# The gateway configurations of bench/grpc.sh and bench/counts.sh: Seldon's two routes
# for deployment `example` in namespace `seldon` (REST: the prefix rewritten to /; gRPC: the
# path regex plus the `seldon` and `namespace` headers, over HTTP/2) to one orchestrator.
#   bench/grpc-config.sh DIR ENGINE_HTTP_PORT ENGINE_GRPC_PORT ENVOY_PORT ENVOY_ADMIN_PORT
# writes DIR/sluice/istio.yaml (for `sluice gateway --config DIR/sluice`), DIR/envoy.yaml
# (what istiod generates for the same routes) and DIR/nginx-rest.conf, DIR/nginx-grpc.conf
# (nginx as the same gateway, one worker in one process: HTTP/1.1 for REST, h2c for gRPC,
# since an nginx port speaks one or the other).
set -euo pipefail
dir=$1 engine_http=$2 engine_grpc=$3 envoy_port=$4 envoy_admin=$5
# sluice gateway: Seldon's VirtualService and the predictor Service as a ServiceEntry.
mkdir -p "$dir/sluice"
cat > "$dir/sluice/istio.yaml" <<EOF2
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: seldon-gateway, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: example-http, namespace: seldon}
spec:
  hosts: ["*"]
  gateways: [istio-system/seldon-gateway]
  http:
  - match: [{uri: {prefix: /seldon/seldon/example/}}]
    rewrite: {uri: /}
    route: [{destination: {host: example-default.seldon.svc.cluster.local, port: {number: 8000}}}]
  - match: [{uri: {regex: ".*tensorflow.*|.*seldon.protos.*|.*inference.*"}, headers: {seldon: {exact: example}, namespace: {exact: seldon}}}]
    route: [{destination: {host: example-default.seldon.svc.cluster.local, port: {number: 5001}}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: example-default, namespace: seldon}
spec:
  hosts: [example-default.seldon.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 8000, name: http, protocol: HTTP}, {number: 5001, name: grpc, protocol: GRPC}]
  endpoints: [{address: 127.0.0.1, ports: {http: $engine_http, grpc: $engine_grpc}}]
EOF2

# Envoy: what istiod generates for the same routes (HTTP/2 to the grpc port).
cat > "$dir/envoy.yaml" <<EOF2
admin: {address: {socket_address: {address: 127.0.0.1, port_value: $envoy_admin}}}
static_resources:
  listeners:
  - address: {socket_address: {address: 127.0.0.1, port_value: $envoy_port}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: gw
          codec_type: AUTO
          http_filters:
          - name: envoy.filters.http.router
            typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {prefix: /seldon/seldon/example/, case_sensitive: true}
                route: {cluster: http, prefix_rewrite: /, timeout: 0s}
              - match:
                  safe_regex: {regex: ".*tensorflow.*|.*seldon.protos.*|.*inference.*"}
                  headers:
                  - {name: seldon, string_match: {exact: example}}
                  - {name: namespace, string_match: {exact: seldon}}
                route: {cluster: grpc, timeout: 0s}
  clusters:
  - name: http
    connect_timeout: 10s
    load_assignment: {cluster_name: http, endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: $engine_http}}}}]}]}
  - name: grpc
    connect_timeout: 10s
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: {http2_protocol_options: {}}
    load_assignment: {cluster_name: grpc, endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: $engine_grpc}}}}]}]}
EOF2
# nginx: the same two routes, keep-alive upstream connections as the other gateways keep.
for transport in rest grpc; do
  listen="127.0.0.1:$envoy_port"; [ "$transport" = grpc ] && listen="$listen http2"
  cat > "$dir/nginx-$transport.conf" <<EOF2
worker_processes 1; daemon off; master_process off;
pid $dir/nginx.pid; error_log $dir/nginx.err warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $dir/nginx-body; proxy_temp_path $dir/nginx-proxy;
  fastcgi_temp_path $dir/nginx-fcgi; uwsgi_temp_path $dir/nginx-uwsgi; scgi_temp_path $dir/nginx-scgi;
  upstream engine_http { server 127.0.0.1:$engine_http; keepalive 64; }
  upstream engine_grpc { server 127.0.0.1:$engine_grpc; keepalive 64; }
  server {
    listen $listen;
    location /seldon/seldon/example/ {
      proxy_pass http://engine_http/;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
    location ~ "tensorflow|seldon\.protos|inference" {
      if (\$http_seldon != "example") { return 404; }
      if (\$http_namespace != "seldon") { return 404; }
      grpc_pass grpc://engine_grpc;
    }
    location / { return 404; }
  }
}
EOF2
done
