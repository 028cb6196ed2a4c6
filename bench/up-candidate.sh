#!/usr/bin/env bash
# Start `sluice up` in the foreground with the benchmark's canary as a SeldonDeployment:
# "example" in namespace "seldon", predictors main 75 / canary 25, each one model whose
# component is the harness's MAIN or CANARY backend (answering POST /predict):
#   bench/up-candidate.sh PORT ADMIN_PORT MAIN CANARY
# The whole local stack runs in the one process: gateway → engine → model. Compared with
# Envoy's one hop to the same backends, this measures what the orchestrator adds.
# The binary is target/release/sluice (build it first: cargo build --release).
set -euo pipefail
port=$1 admin=$2 main=$3 canary=$4
here=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d /tmp/sluice-up-candidate.XXXXXX)
predictor() { # name traffic image
  cat <<EOF2
  - name: $1
    traffic: $2
    graph: {name: classifier, type: MODEL}
    componentSpecs:
    - spec:
        containers: [{name: classifier, image: "$3"}]
EOF2
}
{
  cat <<EOF2
apiVersion: machinelearning.seldon.io/v1
kind: SeldonDeployment
metadata: {name: example, namespace: seldon}
spec:
  predictors:
EOF2
  predictor main 75 bench/main:1
  predictor canary 25 bench/canary:1
} >"$dir/example.yaml"
exec "$here/target/release/sluice" up "$dir/example.yaml" \
  --port-map "80=$port" --admin "127.0.0.1:$admin" \
  --component "bench/main:1=http://$main" --component "bench/canary:1=http://$canary"
