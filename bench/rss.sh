#!/usr/bin/env bash
# Where `sluice gateway`'s memory is on the canary route (examples/istio/canary.yaml, two nginx
# upstreams on its endpoints' ports 9001 and 9002): resident set idle and after wrk at 1, 16
# and 64 keep-alive connections, split into file pages (the binary's code and read-only data,
# shared with the page cache) and anonymous memory (heap, stacks).
#   bench/rss.sh [BINARY...]      # default target/release/sluice; several: one after another
# Needs nginx and wrk (Debian: apt-get install nginx-light wrk), python3 and two CPUs: the
# gateway runs on CPU 1, wrk on CPU 0 (taskset). DURATION (default 5) seconds of load per step.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
[ $# -gt 0 ] || set -- "$here/target/release/sluice"
for tool in nginx wrk python3 taskset; do command -v "$tool" >/dev/null || { echo "missing: $tool (apt-get install nginx-light wrk)" >&2; exit 2; }; done
. "$here/bench/lib.sh"
bench_dir sluice-rss
cat >"$dir/nginx.conf" <<EOF2
daemon off; worker_processes 1; pid $dir/nginx.pid; error_log $dir/nginx.log;
events {}
http {
  access_log off; client_body_temp_path $dir/body; proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi; uwsgi_temp_path $dir/uwsgi; scgi_temp_path $dir/scgi;
  server { listen 127.0.0.1:9001; location / { return 200 '{"data":{"ndarray":[[0.1]]}}'; } }
  server { listen 127.0.0.1:9002; location / { return 200 '{"data":{"ndarray":[[0.2]]}}'; } }
}
EOF2
nginx -c "$dir/nginx.conf" -p "$dir" &
pids+=("$!")
cat >"$dir/post.lua" <<'EOF2'
wrk.method = "POST"
wrk.body = '{"data":{"ndarray":[[1.0,2.0,5.0]]}}'
wrk.headers["Content-Type"] = "application/json"
EOF2
wait_port 9001; wait_port 9002
# Resident MiB: all, file-backed, anonymous (smaps_rollup), and the high-water mark.
memory() {
  awk '/^Rss:/ {r = $2} /^Anonymous:/ {a = $2} END {printf "%6.1f %6.1f %6.1f", r / 1024, (r - a) / 1024, a / 1024}' "/proc/$1/smaps_rollup"
  awk '/^VmHWM:/ {printf " %6.1f\n", $2 / 1024}' "/proc/$1/status"
}
printf '%-40s %-6s %6s %6s %6s %6s\n' binary step rss file anon hwm
for bin in "$@"; do
  port=$(free_port)
  RUST_LOG=warn taskset -c 1 "$bin" gateway --config "$here/examples/istio/canary.yaml" --port-map "80=$port" \
    --admin "127.0.0.1:$(free_port)" >"$dir/gateway.log" 2>&1 &
  gateway=$!
  pids+=("$gateway")
  wait_port "$port"
  sleep 1
  printf '%-40s %-6s %s\n' "$bin" idle "$(memory "$gateway")"
  for connections in 1 16 64; do
    taskset -c 0 wrk -t1 -c "$connections" -d "${DURATION:-5}s" -s "$dir/post.lua" \
      "http://127.0.0.1:$port/seldon/seldon/example/api/v1.0/predictions" >"$dir/wrk.log"
    grep -q "Non-2xx" "$dir/wrk.log" && { echo "errors at c$connections:" >&2; cat "$dir/wrk.log" >&2; exit 1; }
    sleep 1
    printf '%-40s %-6s %s\n' "$bin" "c$connections" "$(memory "$gateway")"
  done
  kill -TERM "$gateway"; wait "$gateway" 2>/dev/null || true
done
