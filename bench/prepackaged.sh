#!/usr/bin/env bash
# What the orchestrator costs in front of a real model server: SKLEARN_SERVER with
# `protocol: v2` through `sluice up` (gateway → engine → the MLServer sluice starts) against
# calling an MLServer with the same model and settings directly. The model is a small
# scikit-learn logistic regression trained here. wrk, POST /v2/models/classifier/infer.
#   cargo build --release && bench/prepackaged.sh     (after scripts/test has made .venv-mlserver)
# Environment: DURATION (seconds per run, default 5), CONCURRENCIES (default "1 16").
# Everything stops on exit.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
sluice="$here/target/release/sluice"
mlserver="$here/.venv-mlserver/bin/mlserver"
python="$here/.venv-mlserver/bin/python"
duration=${DURATION:-5}
concurrencies=${CONCURRENCIES:-"1 16"}
for tool in "$sluice" "$mlserver" "$(command -v wrk || echo wrk)" "$(command -v curl || echo curl)"; do
  [ -x "$tool" ] || { echo "missing: $tool (cargo build --release; scripts/test makes .venv-mlserver; apt install wrk)" >&2; exit 2; }
done

. "$here/bench/lib.sh"
bench_dir sluice-prepackaged-bench

mkdir "$dir/model"
"$python" - "$dir/model" <<'PY'
import sys, joblib
from sklearn.linear_model import LogisticRegression
X = [[5.1,3.5,1.4,0.2],[4.9,3.0,1.4,0.2],[7.0,3.2,4.7,1.4],[6.4,3.2,4.5,1.5],[6.3,3.3,6.0,2.5],[5.8,2.7,5.1,1.9]]
joblib.dump(LogisticRegression(max_iter=1000).fit(X, [0,0,1,1,2,2]), sys.argv[1] + "/model.joblib")
PY

# MLServer as sluice starts it (servers.rs), on its own ports.
direct=$(free_port)
(export MLSERVER_MODEL_NAME=classifier MLSERVER_MODEL_IMPLEMENTATION=mlserver_sklearn.SKLearnModel \
   MLSERVER_MODEL_URI="$dir/model" MLSERVER_MODEL_VERSION=v1 MLSERVER_PARALLEL_WORKERS=0 \
   MLSERVER_HTTP_PORT="$direct" MLSERVER_GRPC_PORT="$(free_port)" MLSERVER_METRICS_PORT="$(free_port)"
 exec setsid "$mlserver" start "$dir/model" >"$dir/mlserver.log" 2>&1) &
pids+=($!)

cat >"$dir/sdep.yaml" <<YAML
apiVersion: machinelearning.seldon.io/v1
kind: SeldonDeployment
metadata: {name: iris, namespace: seldon}
spec:
  protocol: v2
  predictors:
  - name: default
    graph: {name: classifier, implementation: SKLEARN_SERVER, modelUri: "file://$dir/model"}
YAML
gateway=$(free_port)
setsid "$sluice" up "$dir/sdep.yaml" --port-map "80=$gateway" --admin "127.0.0.1:$(free_port)" \
  --mlserver "$mlserver" --ready-timeout 120 >"$dir/up.log" 2>&1 &
pids+=($!)

body='{"inputs":[{"name":"input-0","shape":[1,4],"datatype":"FP64","data":[5.1,3.5,1.4,0.2]}]}'
cat >"$dir/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$body'
wrk.headers["Content-Type"] = "application/json"
LUA
for _ in $(seq 600); do curl -sf -o /dev/null "http://127.0.0.1:$direct/v2/models/classifier/ready" && break; sleep 0.1; done
for _ in $(seq 1200); do grep -q Watching "$dir/up.log" && break; sleep 0.1; done
grep -q Watching "$dir/up.log" || { cat "$dir/up.log" >&2; exit 1; }
through="http://127.0.0.1:$gateway/seldon/seldon/iris/v2/models/classifier/infer"
curl -sf -H 'Content-Type: application/json' -d "$body" "$through" >/dev/null || { echo "sluice does not answer" >&2; cat "$dir/up.log" >&2; exit 1; }

run() { # label url connections
  local out rps p50 p99
  out=$(wrk -t1 -c"$3" -d"${duration}s" --latency -s "$dir/post.lua" "$2")
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  printf '| %s | %s | %s | %s | %s |\n' "$3" "$1" "$rps" "$p50" "$p99"
}
echo "| connections | target | req/s | p50 | p99 |"
echo "|---|---|---:|---:|---:|"
for c in $concurrencies; do
  run "MLServer direct" "http://127.0.0.1:$direct/v2/models/classifier/infer" "$c"
  run "sluice up → engine → MLServer (SKLEARN_SERVER, v2)" "$through" "$c"
done
