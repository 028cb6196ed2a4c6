#!/usr/bin/env bash
# Cost as routes grow: N SeldonDeployments' routes (bench/scale-config.py: each a
# VirtualService with Seldon's REST and gRPC routes and its predictor's ServiceEntry) on one
# gateway, sluice vs Envoy fed the equivalent static configuration. For each N: start-up time,
# RSS, and REST predictions through the first, the middle and the last deployment's route
# (req/s, p99, proxy CPU per request); for sluice, the time to apply a one-deployment edit
# while the first deployment is under load, and that load's failures.
# One upstream: `sluice engine` with a SIMPLE_MODEL predictor (answers in process) behind every
# deployment. Proxies on CPU 1; engine and load generator (`sluice predict`) on CPU 0.
#   cargo build --release && bench/scale.sh        (after scripts/test has made .venv)
# Environment: COUNTS (default "1 100 1000 10000"), REQUESTS (per row, default 20000),
# CONCURRENCY (default 16), PROXIES (default "sluice envoy"), ENVOY (default .venv/bin/envoy),
# SLUICE (default target/release/sluice).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
sluice=${SLUICE:-"$here/target/release/sluice"}
envoy=${ENVOY:-$here/.venv/bin/envoy}
counts=${COUNTS:-"1 100 1000 10000"}
requests=${REQUESTS:-20000}
concurrency=${CONCURRENCY:-16}
proxies=${PROXIES:-"sluice envoy"}
for tool in "$sluice" "$envoy" "$(command -v taskset || echo taskset)"; do
  [ -x "$tool" ] || { echo "missing: $tool (cargo build --release; scripts/test makes .venv with envoy)" >&2; exit 2; }
done
. "$here/bench/lib.sh"
bench_dir sluice-scale-bench
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
tick=$(getconf CLK_TCK)
now_ms() { date +%s%3N; }
predict() { # deployment requests -> sluice predict's summary
  taskset -c 0 "$sluice" predict "$1" -n seldon --gateway "127.0.0.1:$port" --requests "$2" \
    --concurrency "$concurrency" --timeout 60
}

engine_http=$(free_port) engine_grpc=$(free_port)
predictor='{"name":"default","graph":{"name":"model","type":"MODEL","implementation":"SIMPLE_MODEL"}}'
ENGINE_PREDICTOR=$(printf '%s' "$predictor" | base64 -w0) RUST_LOG=warn taskset -c 0 "$sluice" engine \
  --sdep example --namespace seldon --predictor default --http_port "$engine_http" --grpc_port "$engine_grpc" \
  >"$dir/engine.log" 2>&1 &
pids+=("$!")
wait_port "$engine_http"

printf '| deployments | proxy | start s | RSS MiB | route | req/s | p99 ms | proxy CPU ms / 1k req |\n'
printf '|---:|---|---:|---:|---|---:|---:|---:|\n'
reloads=()
for n in $counts; do
  for proxy_name in $proxies; do
    port=$(free_port) admin=$(free_port)
    python3 "$here/bench/scale-config.py" "$dir" "$n" "$engine_http" "$engine_grpc" "$port" "$admin"
    started=$(now_ms)
    case $proxy_name in
      sluice) RUST_LOG=info taskset -c 1 "$sluice" gateway --config "$dir/sluice" --port-map "80=$port" \
                --admin "127.0.0.1:$admin" >"$dir/gw.log" 2>&1 & ;;
      envoy) taskset -c 1 "$envoy" -c "$dir/envoy.yaml" --concurrency 1 --log-level warn >"$dir/gw.log" 2>&1 & ;;
    esac
    proxy=$!; pids+=("$proxy")
    wait_port "$port" 6000 # up to 10 minutes: Envoy with tens of thousands of clusters starts slowly
    first=$(printf 'model-%05d' 0) middle=$(printf 'model-%05d' $((n / 2))) last=$(printf 'model-%05d' $((n - 1)))
    # Ready when the last route answers (Envoy opens its port before its routes are in).
    until taskset -c 0 "$sluice" predict "$last" -n seldon --gateway "127.0.0.1:$port" --timeout 5 >/dev/null 2>&1; do
      kill -0 "$proxy" || { cat "$dir/gw.log" >&2; exit 1; }
      sleep 0.1
    done
    start=$(awk -v ms="$(( $(now_ms) - started ))" 'BEGIN {printf "%.2f", ms / 1000}')
    for route in first middle last; do
      deployment=${!route}
      predict "$deployment" 2000 >/dev/null
      p0=$(cpu_ticks "$proxy")
      out=$(predict "$deployment" "$requests")
      p1=$(cpu_ticks "$proxy")
      rate=$(sed -n 's/.*(\([0-9]*\) req\/s).*/\1/p' <<<"$out")
      p99=$(sed -n 's/.*p99 \([0-9.]*\) ms.*/\1/p' <<<"$out")
      failed=$(sed -n 's/.*failed: \([0-9]*\).*/\1/p' <<<"$out")
      [ "$failed" = 0 ] || { echo "$proxy_name $n $route: $failed failed" >&2; echo "$out" >&2; exit 1; }
      rss=$(awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$proxy/status")
      pcpu=$(awk -v t="$((p1 - p0))" -v hz="$tick" -v n="$requests" 'BEGIN {printf "%.1f", t * 1000 / hz / n * 1000}')
      printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$n" "$proxy_name" "$start" "$rss" "$route ($deployment)" "$rate" "$p99" "$pcpu"
    done
    if [ "$proxy_name" = sluice ]; then
      # A one-deployment edit under load: the middle deployment's route gains a response
      # header; the first deployment's clients must see no failure while it is applied.
      predict "$first" $((requests * 2)) >"$dir/load.out" 2>&1 &
      load=$!
      sleep 1
      python3 "$here/bench/scale-config.py" "$dir" "$n" "$engine_http" "$engine_grpc" "$port" "$admin" $((n / 2))
      edited=$(now_ms)
      until curl -s -o /dev/null -D - -X POST "http://127.0.0.1:$port/seldon/seldon/$middle/api/v1.0/predictions" \
          -H 'Content-Type: application/json' -d '{"data":{"ndarray":[[1.0]]}}' | grep -qi '^x-changed: yes'; do
        sleep 0.01
      done
      visible=$(( $(now_ms) - edited ))
      wait "$load" || true
      failed=$(sed -n 's/.*failed: \([0-9]*\).*/\1/p' "$dir/load.out")
      applied=$(sed -n 's/.*configuration reloaded.*elapsed_ms=\([0-9]*\).*/\1/p' "$dir/gw.log" | tail -1)
      reloads+=("| $n | ${applied:-?} | $visible | ${failed:-?} |")
    fi
    kill -TERM "$proxy"; wait "$proxy" 2>/dev/null || true
  done
done
if [ ${#reloads[@]} -gt 0 ]; then
  printf '\nsluice: a one-deployment edit under load (the file watch polls every second)\n\n'
  printf '| deployments | load and compile ms | edit to visible ms | failed requests of the load |\n'
  printf '|---:|---:|---:|---:|\n'
  printf '%s\n' "${reloads[@]}"
fi
