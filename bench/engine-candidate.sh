#!/usr/bin/env bash
# Start `sluice engine` in the foreground for one predictor whose single model is MAIN
# (host:port answering Seldon's POST /predict):
#   bench/engine-candidate.sh PORT MAIN
# Used with the gateway benchmark's ORCHESTRATOR mode (CANDIDATE_PATH=/api/v1.0/predictions).
set -euo pipefail
port=$1 main=$2
here=$(cd "$(dirname "$0")/.." && pwd)
predictor=$(printf '{"name":"default","graph":{"name":"classifier","type":"MODEL","endpoint":{"service_host":"%s","httpPort":%s}}}' "${main%:*}" "${main##*:}")
ENGINE_PREDICTOR=$(printf '%s' "$predictor" | base64 -w0) exec "$here/target/release/sluice" engine \
  --sdep example --namespace seldon --predictor default --http_port "$port"
