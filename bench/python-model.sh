#!/usr/bin/env bash
# Is the orchestrator ever the bottleneck in front of a Python model? Measures, with wrk, one
# Seldon Python model (seldon-core-microservice, one gunicorn worker) called directly at
# /predict, and the same model behind `sluice up` (gateway → engine → model); and, for
# scale, Seldon's mock classifier served in process by `sluice up`.
#   bench/python-model.sh            (after scripts/test has made .venv, and cargo build --release)
# Environment: DURATION (seconds per run, default 5), CONCURRENCIES (default "1 16").
# sluice binds 127.0.0.1; Seldon's wrapper binds all interfaces (it has no flag for that).
# Everything stops on exit.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
sluice="$here/target/release/sluice"
microservice="$here/.venv/bin/seldon-core-microservice"
duration=${DURATION:-5}
concurrencies=${CONCURRENCIES:-"1 16"}
for tool in "$sluice" "$microservice" "$(command -v wrk || echo wrk)" "$(command -v curl || echo curl)"; do
  [ -x "$tool" ] || { echo "missing: $tool (cargo build --release; scripts/test makes .venv)" >&2; exit 2; }
done

. "$here/bench/lib.sh"
# Each background job below is `setsid CMD &`: bench_cleanup stops its whole group.
bench_dir sluice-python-bench

wait_for() { # url
  for _ in $(seq 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done
  echo "not up: $1" >&2; exit 1
}

cat >"$dir/SumModel.py" <<'EOF'
class SumModel:
    def predict(self, X, features_names=None):
        return [[float(sum(row))] for row in X]
EOF
model_port=$(free_port)
(cd "$dir" && exec setsid "$microservice" SumModel --service-type MODEL --workers 1 \
  --http-port "$model_port" --grpc-port "$(free_port)" --metrics-port "$(free_port)" >"$dir/model.log" 2>&1) &
pids+=($!)

cat >"$dir/sdep.yaml" <<'EOF'
apiVersion: machinelearning.seldon.io/v1
kind: SeldonDeployment
metadata: {name: summer, namespace: seldon}
spec:
  predictors:
  - name: default
    graph: {name: model, type: MODEL}
    componentSpecs:
    - spec:
        containers: [{name: model, image: example/sum-model:1.0}]
EOF
gateway_port=$(free_port)
setsid "$sluice" up "$dir/sdep.yaml" "$here/examples/single-model.yaml" \
  --port-map "80=$gateway_port" --admin "127.0.0.1:$(free_port)" \
  --component "model=http://127.0.0.1:$model_port" >"$dir/up.log" 2>&1 &
pids+=($!)

body='{"data":{"ndarray":[[1.0,2.0,5.0]]}}'
cat >"$dir/post.lua" <<EOF
wrk.method = "POST"
wrk.body = '$body'
wrk.headers["Content-Type"] = "application/json"
EOF
wait_for "http://127.0.0.1:$model_port/health/ping"
for _ in $(seq 100); do grep -q Watching "$dir/up.log" && break; sleep 0.1; done
grep -q Watching "$dir/up.log" || { cat "$dir/up.log" >&2; exit 1; }

run() { # label url connections
  local out
  out=$(wrk -t1 -c"$3" -d"${duration}s" --latency -s "$dir/post.lua" "$2")
  local rps p50 p99
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  printf '| %s | %s | %s | %s | %s |\n' "$3" "$1" "$rps" "$p50" "$p99"
}

echo "| connections | target | req/s | p50 | p99 |"
echo "|---|---|---:|---:|---:|"
for c in $concurrencies; do
  run "Python model direct (/predict)" "http://127.0.0.1:$model_port/predict" "$c"
  run "sluice up → engine → Python model" "http://127.0.0.1:$gateway_port/seldon/seldon/summer/api/v1.0/predictions" "$c"
  run "sluice up → engine → mock classifier (in process)" "http://127.0.0.1:$gateway_port/seldon/seldon/iris/api/v1.0/predictions" "$c"
done
