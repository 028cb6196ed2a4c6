#!/usr/bin/env bash
# HTTPS through sluice vs Envoy on the same route, certificate and policies (issue 10):
#   bench/secure-bench.sh            (after cargo build --release; needs wrk, nginx, openssl,
#                                     taskset and .venv/bin/envoy from scripts/test)
# Route: Seldon's prefix /seldon/seldon/example/ rewritten to /, to one nginx upstream.
# Scenarios, each for both proxies, interleaved, REPEATS times, medians:
#   tls        HTTPS (TLS 1.3, ECDSA P-256 certificate), keep-alive, 16 connections
#   tls-new    HTTPS, a new connection (and handshake) per request, 4 connections
#   tls-jwt    tls + a RequestAuthentication (ES256 token in every request) and an ALLOW
#              policy requiring a principal — Envoy with jwt_authn + rbac as istiod writes them
# Proxies are pinned to CPU 1 with one worker (Envoy --concurrency 1); wrk and nginx to CPU 0.
# Reported per run: req/s, p50 and p99 (wrk), proxy CPU ms per 1000 requests
# (utime+stime from /proc), proxy RSS after the run.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
SLUICE=${SLUICE_BIN:-$here/target/release/sluice}
ENVOY=${SLUICE_ENVOY:-$here/.venv/bin/envoy}
DURATION=${DURATION:-5}
REPEATS=${REPEATS:-3}
BASE=${PORT_BASE:-28400}
UP=$((BASE + 1)) SLUICE_PORT=$((BASE + 2)) ENVOY_PORT=$((BASE + 3)) ADMIN=$((BASE + 4)) ENVOY_ADMIN=$((BASE + 5))
work=$(mktemp -d /tmp/sluice-secure-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# Certificate (ECDSA P-256, as most ingress certificates today) and a test issuer.
openssl req -x509 -nodes -days 2 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
  -subj /CN=bench.example.com -addext subjectAltName=DNS:bench.example.com \
  -keyout "$work/tls.key" -out "$work/tls.crt" 2>/dev/null
"$SLUICE" token --new-key --key "$work/issuer.pem" 2>/dev/null
jwks=$("$SLUICE" token --key "$work/issuer.pem" --jwks)
token=$("$SLUICE" token --key "$work/issuer.pem" --iss bench-issuer --sub bench --expires-in 2h)

# The upstream.
cat > "$work/nginx.conf" <<EOF
worker_processes 1; daemon off; pid $work/nginx.pid; error_log $work/nginx.err;
events { worker_connections 4096; }
http { access_log off;
  server { listen 127.0.0.1:$UP; keepalive_requests 1000000;
    location = /api/v1.0/predictions { default_type application/json;
      return 200 '{"data":{"names":["proba"],"ndarray":[[0.43782349911420193]]}}'; } } }
EOF
taskset -c 0 nginx -c "$work/nginx.conf" -p "$work" & pids+=($!)

write_sluice() { # jwt: 0 or 1
  mkdir -p "$work/sluice-$1"
  cat > "$work/sluice-$1/config.yaml" <<EOF
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: seldon-gateway, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: ["*"]
    tls: {mode: SIMPLE, serverCertificate: $work/tls.crt, privateKey: $work/tls.key}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: example, namespace: seldon}
spec:
  hosts: [example.seldon.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 8000, name: http, protocol: HTTP}]
  endpoints: [{address: 127.0.0.1, ports: {http: $UP}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: example, namespace: seldon}
spec:
  hosts: ["*"]
  gateways: [istio-system/seldon-gateway]
  http:
  - match: [{uri: {prefix: /seldon/seldon/example/}}]
    rewrite: {uri: /}
    route: [{destination: {host: example.seldon.svc.cluster.local, port: {number: 8000}}}]
    retries: {attempts: 0}
EOF
  if [ "$1" = 1 ]; then cat >> "$work/sluice-$1/config.yaml" <<EOF
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt, namespace: istio-system}
spec:
  jwtRules: [{issuer: bench-issuer, jwks: '$jwks'}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: callers, namespace: istio-system}
spec:
  rules: [{from: [{source: {requestPrincipals: ["*"]}}]}]
EOF
  fi
}

write_envoy() { # jwt: 0 or 1
  local filters=""
  if [ "$1" = 1 ]; then filters="
          - name: envoy.filters.http.jwt_authn
            typed_config:
              \"@type\": type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication
              providers:
                origins-0: {issuer: bench-issuer, local_jwks: {inline_string: '$jwks'}, payload_in_metadata: bench-issuer}
              rules: [{match: {prefix: /}, requires: {requires_any: {requirements: [{provider_name: origins-0}, {allow_missing: {}}]}}}]
              bypass_cors_preflight: true
          - name: envoy.filters.http.rbac
            typed_config:
              \"@type\": type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC
              rules:
                action: ALLOW
                policies:
                  ns[istio-system]-policy[callers]-rule[0]:
                    permissions: [{any: true}]
                    principals: [{metadata: {filter: envoy.filters.http.jwt_authn, path: [{key: bench-issuer}, {key: sub}], value: {string_match: {safe_regex: {regex: '.+'}}}}}]"
  fi
  cat > "$work/envoy-$1.yaml" <<EOF
static_resources:
  listeners:
  - name: "0.0.0.0_443"
    address: {socket_address: {address: 127.0.0.1, port_value: $ENVOY_PORT}}
    filter_chains:
    - transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
          common_tls_context:
            alpn_protocols: [h2, http/1.1]
            tls_certificates: [{certificate_chain: {filename: $work/tls.crt}, private_key: {filename: $work/tls.key}}]
      filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: https
          codec_type: AUTO
          server_name: istio-envoy
          use_remote_address: true
          normalize_path: true
          forward_client_cert_details: SANITIZE_SET
          route_config:
            virtual_hosts:
            - name: "*:443"
              domains: ["*"]
              routes:
              - match: {prefix: /seldon/seldon/example/, case_sensitive: true}
                route: {cluster: upstream, prefix_rewrite: /, timeout: 0s}
          http_filters:$filters
          - name: envoy.filters.http.router
            typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}
  clusters:
  - name: upstream
    type: STATIC
    lb_policy: LEAST_REQUEST
    circuit_breakers: {thresholds: [{max_connections: 4294967295, max_pending_requests: 4294967295, max_requests: 4294967295}]}
    load_assignment: {cluster_name: upstream, endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: $UP}}}}]}]}
admin: {address: {socket_address: {address: 127.0.0.1, port_value: $ENVOY_ADMIN}}}
EOF
}

cat > "$work/post.lua" <<'EOF'
wrk.method = "POST"
wrk.body = '{"data":{"ndarray":[[1.0,2.0,5.0]]}}'
wrk.headers["Content-Type"] = "application/json"
EOF

cpu_ms() { awk '{print ($14 + $15) * 1000 / '"$(getconf CLK_TCK)"'}' "/proc/$1/stat"; }
rss_mib() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }

start_proxy() { # name jwt → pid on stdout
  if [ "$1" = sluice ]; then
    write_sluice "$2"
    taskset -c 1 env TOKIO_WORKER_THREADS=1 "$SLUICE" gateway --config "$work/sluice-$2" \
      --port-map "443=$SLUICE_PORT" --admin "127.0.0.1:$ADMIN" > "$work/sluice.log" 2>&1 &
  else
    write_envoy "$2"
    taskset -c 1 "$ENVOY" -c "$work/envoy-$2.yaml" --concurrency 1 -l error > "$work/envoy.log" 2>&1 &
  fi
  echo $!
}

port_of() { [ "$1" = sluice ] && echo "$SLUICE_PORT" || echo "$ENVOY_PORT"; }

wait_ready() { # port
  for _ in $(seq 100); do
    if curl --http1.1 -sk -o /dev/null "https://127.0.0.1:$1/"; then return 0; fi
    sleep 0.1
  done
  echo "proxy on $1 did not start" >&2; exit 1
}

results="$work/results.tsv"
: > "$results"
for repeat in $(seq "$REPEATS"); do
  for scenario in tls tls-new tls-jwt; do
    order="sluice envoy"; [ $((repeat % 2)) = 0 ] && order="envoy sluice"
    for proxy in $order; do
      jwt=0; [ "$scenario" = tls-jwt ] && jwt=1
      pid=$(start_proxy "$proxy" "$jwt"); pids+=("$pid")
      port=$(port_of "$proxy"); wait_ready "$port"
      url="https://127.0.0.1:$port/seldon/seldon/example/api/v1.0/predictions"
      args=(-t1 -c16 -d"${DURATION}s" --latency -s "$work/post.lua")
      [ "$scenario" = tls-new ] && args=(-t1 -c4 -d"${DURATION}s" --latency -s "$work/post.lua" -H "Connection: close")
      [ "$jwt" = 1 ] && args+=(-H "Authorization: Bearer $token")
      status=000
      for _ in $(seq 20); do
        status=$(curl --http1.1 -sk -o /dev/null -w '%{http_code}' -X POST "$url" -H "Authorization: Bearer $token" -d '{}' || true)
        [ "$status" = 200 ] && break
        sleep 0.1
      done
      [ "$status" = 200 ] || { echo "$proxy $scenario: check request got $status" >&2; exit 1; }
      before=$(cpu_ms "$pid")
      out=$(taskset -c 0 wrk "${args[@]}" "$url")
      after=$(cpu_ms "$pid")
      requests=$(echo "$out" | awk '/requests in/ {print $1}')
      rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
      p50=$(echo "$out" | awk '$1 == "50%" {print $2}')
      p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
      errors=$(echo "$out" | awk '/Non-2xx|Socket errors/ {print}' | tr '\n' ' ')
      cpu=$(awk -v a="$after" -v b="$before" -v n="$requests" 'BEGIN {printf "%.1f", (a - b) * 1000 / n}')
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$scenario" "$proxy" "$rps" "$p50" "$p99" "$cpu" "$(rss_mib "$pid")" "$errors" | tee -a "$results"
      kill "$pid"; wait "$pid" 2>/dev/null || true
    done
  done
done
echo
echo "medians (scenario, proxy, req/s, p50, p99, CPU ms/1k req, RSS MiB):"
python3 - "$results" <<'EOF'
import sys, statistics, collections
rows = collections.defaultdict(list)
def ms(v):
    return float(v[:-2]) if v.endswith("ms") else float(v[:-2]) / 1000 if v.endswith("us") else float(v[:-1]) * 1000
for line in open(sys.argv[1]):
    s, p, rps, p50, p99, cpu, rss, *_ = line.rstrip("\n").split("\t")
    rows[(s, p)].append((float(rps), ms(p50), ms(p99), float(cpu), float(rss)))
med = {k: [statistics.median(c) for c in zip(*v)] for k, v in rows.items()}
for s in ["tls", "tls-new", "tls-jwt"]:
    for p in ["envoy", "sluice"]:
        r = med[(s, p)]
        print(f"{s}\t{p}\t{r[0]:,.0f}\t{r[1]:.3f}\t{r[2]:.3f}\t{r[3]:.1f}\t{r[4]:.1f}")
    e, m = med[(s, "envoy")], med[(s, "sluice")]
    print(f"{s}\tsluice/envoy\treq/s {m[0]/e[0]:.2f}\tp50 {m[1]/e[1]:.2f}\tp99 {m[2]/e[2]:.2f}\tCPU/req {m[3]/e[3]:.2f}\tRSS {m[4]/e[4]:.2f}")
EOF
