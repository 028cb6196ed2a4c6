#!/usr/bin/env bash
# gRPC through the gateway, sluice vs Envoy on the same route, and the orchestrator's gRPC
# hop vs its REST hop. One upstream: `sluice engine` for a one-node SIMPLE_MODEL predictor
# (answers in process), serving seldon.protos.Seldon on its gRPC port and REST on its http
# port. In front of it, on the same CPU in turn: `sluice gateway` and Envoy, each with
# Seldon's two routes for deployment `example` (the gRPC route: the regex on the path plus
# the `seldon` and `namespace` headers, to the gRPC port over HTTP/2; the REST route: the
# prefix rewritten to /, to the http port). The load generator is `sluice predict`
# (keep-alive; --grpc for gRPC), which reports req/s and latency percentiles; CPU is read
# from /proc for the proxy and the engine.
#   cargo build --release && bench/grpc.sh        (after scripts/test has made .venv)
# Environment: REQUESTS (per run, default 20000), CONCURRENCIES (default "1 16"), REPEATS
# (default 2: sluice, Envoy, sluice, Envoy, ... interleaved, one table row per run),
# ENVOY (default .venv/bin/envoy). Proxies on CPU 1; engine and load on CPU 0.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
sluice="$here/target/release/sluice"
envoy=${ENVOY:-$here/.venv/bin/envoy}
requests=${REQUESTS:-20000}
repeats=${REPEATS:-2}
concurrencies=${CONCURRENCIES:-"1 16"}
for tool in "$sluice" "$envoy" "$(command -v taskset || echo taskset)"; do
  [ -x "$tool" ] || { echo "missing: $tool (cargo build --release; scripts/test makes .venv with envoy)" >&2; exit 2; }
done
. "$here/bench/lib.sh"
bench_dir sluice-grpc-bench
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
tick=$(getconf CLK_TCK)

engine_http=$(free_port) engine_grpc=$(free_port)
predictor='{"name":"default","graph":{"name":"model","type":"MODEL","implementation":"SIMPLE_MODEL"}}'
ENGINE_PREDICTOR=$(printf '%s' "$predictor" | base64 -w0) RUST_LOG=warn taskset -c 0 "$sluice" engine \
  --sdep example --namespace seldon --predictor default --http_port "$engine_http" --grpc_port "$engine_grpc" \
  >"$dir/engine.log" 2>&1 &
engine=$!; pids+=("$engine")
wait_port "$engine_http"; wait_port "$engine_grpc"

envoy_port=$(free_port) envoy_admin=$(free_port)
"$here/bench/grpc-config.sh" "$dir" "$engine_http" "$engine_grpc" "$envoy_port" "$envoy_admin"

sluice_port=$(free_port) sluice_admin=$(free_port)
start_proxy() { # name -> pid in $proxy, port in $proxy_port
  case $1 in
    sluice)
      RUST_LOG=warn taskset -c 1 "$sluice" gateway --config "$dir/sluice" --port-map "80=$sluice_port" \
        --admin "127.0.0.1:$sluice_admin" >"$dir/sluice.log" 2>&1 &
      proxy=$! proxy_port=$sluice_port ;;
    envoy)
      taskset -c 1 "$envoy" -c "$dir/envoy.yaml" --concurrency 1 --log-level warn >"$dir/envoy.log" 2>&1 &
      proxy=$! proxy_port=$envoy_port ;;
  esac
  pids+=("$proxy")
  wait_port "$proxy_port"
}

printf '| connections | transport | proxy | req/s | p50 | p99 | proxy CPU ms / 1k req | engine CPU ms / 1k req | proxy RSS MiB |\n'
printf '|---|---|---|---:|---:|---:|---:|---:|---:|\n'
for proxy_name in $(for _ in $(seq "$repeats"); do echo sluice envoy; done); do
  start_proxy "$proxy_name"
  for transport in grpc rest; do
    flag=(); [ "$transport" = grpc ] && flag=(--grpc)
    # Check the route first: one prediction must answer.
    taskset -c 0 "$sluice" predict example -n seldon --gateway "127.0.0.1:$proxy_port" ${flag[@]+"${flag[@]}"} \
      --data '[[1.0,2.0,5.0]]' >/dev/null || { echo "$proxy_name $transport: the route does not answer" >&2; exit 1; }
    for c in $concurrencies; do
      # Warm up, then measure.
      taskset -c 0 "$sluice" predict example -n seldon --gateway "127.0.0.1:$proxy_port" ${flag[@]+"${flag[@]}"} \
        --requests 2000 --concurrency "$c" >/dev/null
      p0=$(cpu_ticks "$proxy") e0=$(cpu_ticks "$engine")
      out=$(taskset -c 0 "$sluice" predict example -n seldon --gateway "127.0.0.1:$proxy_port" ${flag[@]+"${flag[@]}"} \
        --requests "$requests" --concurrency "$c")
      p1=$(cpu_ticks "$proxy") e1=$(cpu_ticks "$engine")
      rate=$(sed -n 's/.*(\([0-9]*\) req\/s).*/\1/p' <<<"$out")
      p50=$(sed -n 's/.*p50 \([0-9.]* ms\).*/\1/p' <<<"$out")
      p99=$(sed -n 's/.*p99 \([0-9.]* ms\).*/\1/p' <<<"$out")
      failed=$(sed -n 's/.*failed: \([0-9]*\).*/\1/p' <<<"$out")
      [ "$failed" = 0 ] || { echo "$proxy_name $transport c$c: $failed failed" >&2; echo "$out" >&2; exit 1; }
      rss=$(awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$proxy/status")
      pcpu=$(awk -v t="$((p1 - p0))" -v hz="$tick" -v n="$requests" 'BEGIN {printf "%.1f", t * 1000 / hz / n * 1000}')
      ecpu=$(awk -v t="$((e1 - e0))" -v hz="$tick" -v n="$requests" 'BEGIN {printf "%.1f", t * 1000 / hz / n * 1000}')
      printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$c" "$transport" "$proxy_name" "$rate" "$p50" "$p99" "$pcpu" "$ecpu" "$rss"
    done
  done
  kill -TERM "$proxy"; wait "$proxy" 2>/dev/null || true
done
