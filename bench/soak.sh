#!/usr/bin/env bash
# Soak: `sluice up` with `run:` models (Python's standard library, bench/soak-component.py)
# at a fixed request rate for several minutes, while every minute the SeldonDeployment is
# edited (the canary's traffic flips between 25 % and 40 %) and a component is killed with
# SIGKILL — the canary's only replica and one of main's two replicas in turn. Reports per
# minute: requests, failures while the canary had no replica up (expected: its share of
# traffic gets 503 until the restart), other failures (expected: none), p50/p99 and
# sluice's RSS.
#   cargo build --release && bench/soak.sh
# Environment: MINUTES (default 5), RATE (requests/s, default 200).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
sluice="$here/target/release/sluice"
minutes=${MINUTES:-5}
rate=${RATE:-200}
[ -x "$sluice" ] || { echo "missing: $sluice (cargo build --release)" >&2; exit 2; }

dir=$(mktemp -d /tmp/sluice-soak.XXXXXX)
sluice_pid=""
load=""
cleanup() {
  [ -n "$load" ] && kill "$load" 2>/dev/null || true
  [ -n "$sluice_pid" ] && kill -TERM "$sluice_pid" 2>/dev/null && wait "$sluice_pid" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

cp "$here/bench/soak-component.py" "$dir/main.py"
cp "$here/bench/soak-component.py" "$dir/canary.py"
write_sdep() { # canary traffic
  cat > "$dir/sdep.yaml" <<YAML
apiVersion: machinelearning.seldon.io/v1
kind: SeldonDeployment
metadata: {name: soak, namespace: seldon}
spec:
  predictors:
  - name: main
    traffic: $((100 - $1))
    replicas: 2
    graph: {name: model, type: MODEL}
    componentSpecs:
    - spec:
        containers:
        - {name: model, image: soak/main:1}
  - name: canary
    traffic: $1
    graph: {name: model, type: MODEL}
    componentSpecs:
    - spec:
        containers:
        - {name: model, image: soak/canary:1}
YAML
}
write_sdep 25

"$sluice" up "$dir/sdep.yaml" --port-map 80=0 --admin 127.0.0.1:0 \
  --component "soak/main=run:python3 $dir/main.py" \
  --component "soak/canary=run:python3 $dir/canary.py" >"$dir/stdout" 2>"$dir/stderr" &
sluice_pid=$!
for _ in $(seq 1 300); do
  grep -q '^Watching the files' "$dir/stdout" 2>/dev/null && break
  sleep 0.1
done
gateway=$(sed -n 's|^gateway port 80: http://||p' "$dir/stdout")
[ -n "$gateway" ] || { cat "$dir/stderr" >&2; exit 1; }
echo "soak: sluice up on $gateway, $rate req/s for $minutes min, an edit and a kill every minute" >&2

now() { date +%s.%N; }
python3 "$here/bench/soak-load.py" run "http://$gateway/seldon/seldon/soak/api/v1.0/predictions" \
  "$rate" "$((minutes * 60))" "$dir/requests.csv" &
load=$!
: >"$dir/events.csv"
: >"$dir/rss.csv"
(
  while kill -0 "$load" 2>/dev/null; do
    echo "$(now),$(awk '/VmRSS/ {print $2}' "/proc/$sluice_pid/status")" >>"$dir/rss.csv"
    sleep 5
  done
) &
for m in $(seq 1 "$minutes"); do
  sleep 20
  if [ $((m % 2)) -eq 1 ]; then write_sdep 40; else write_sdep 25; fi
  echo "$(now),edit" >>"$dir/events.csv"
  sleep 20
  # The newest process of the predictor whose turn it is (an edit replaces the engines).
  if [ $((m % 2)) -eq 1 ]; then who=canary; else who=main; fi
  # Only sluice's children: its own command line names the scripts too.
  pid=$(pgrep -n -P "$sluice_pid" -f "^python3 $dir/$who.py" || true)
  if [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null; then
    echo "$(now),kill $who" >>"$dir/events.csv"
  fi
  sleep 20
done
wait "$load"
sleep 1
echo
echo "### $(date -u +%Y-%m-%d), $(nproc) vCPU, $rate req/s, $minutes min, sluice $("$sluice" --version | awk '{print $2}')"
echo
python3 "$here/bench/soak-load.py" report "$dir/requests.csv" "$dir/events.csv" "$dir/rss.csv"
echo
echo "restarts logged: $(grep -c 'component process restarted' "$dir/stderr" || true); zombies: $(ps -o stat= --ppid "$sluice_pid" | grep -c Z || true)"
