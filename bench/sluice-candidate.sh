#!/usr/bin/env bash
# Start `sluice gateway` in the foreground with the canary route of the Envoy benchmark:
#   bench/sluice-candidate.sh PORT ADMIN_PORT MAIN CANARY VS_YAML
# MAIN and CANARY are 127.0.0.1:port of the two backends; VS_YAML holds the
# VirtualService and DestinationRules (subsets version: main / version: canary).
# The binary is target/release/sluice (build it first: cargo build --release), or $SLUICE_BIN.
set -euo pipefail
port=$1 admin=$2 main=$3 canary=$4 vs_yaml=$5
here=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d /tmp/sluice-candidate.XXXXXX)
cp "$vs_yaml" "$dir/virtualservice.yaml"
service() { # name host:port version
  cat <<EOF2
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: $1, namespace: seldon}
spec:
  hosts: [$1.seldon.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 8000, name: http, protocol: HTTP}]
  endpoints: [{address: ${2%:*}, ports: {http: ${2##*:}}, labels: {version: $3}}]
EOF2
}
{
  cat <<EOF2
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: seldon-gateway, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*"]
EOF2
  service example-main "$main" main
  service example-canary "$canary" canary
} > "$dir/gateway.yaml"
exec "${SLUICE_BIN:-$here/target/release/sluice}" gateway --config "$dir" --port-map "80=$port" --admin "127.0.0.1:$admin"
