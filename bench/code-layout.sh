#!/usr/bin/env bash
# Write crates/cli/layout.txt: the functions sluice runs while it serves — start-up, the
# gateway's REST and gRPC routes, `sluice up` and `sluice engine` in front of a model, the
# README's canary, `validate` and `render` — by the names scripts/symbol-order resolves for
# each build. `scripts/build-ordered` links those functions together, so the code that runs
# sits in a few pages instead of all over the binary (bench/README.md, "Code layout").
#   cargo build --release && scripts/build-ordered production && \
#     bench/code-layout.sh target/release/sluice target/production/sluice
# Each workload runs under callgrind (bench/counts.sh, a few hundred requests) for each binary
# given: the profiles inline differently (fat LTO in production), so each runs functions the
# other does not have. A function ranks by how many workloads run it (the code they share
# first), then by its own instructions. Run it again when the list has gone stale:
# scripts/symbol-order says how many listed functions a build still has.
set -euo pipefail
shopt -s inherit_errexit
here=$(cd "$(dirname "$0")/.." && pwd)
[ $# -gt 0 ] || set -- "$here/target/release/sluice"
for bin in "$@"; do [ -x "$bin" ] || { echo "missing: $bin (cargo build --release)" >&2; exit 2; }; done
out=$here/crates/cli/layout.txt
. "$here/bench/lib.sh"
bench_dir sluice-layout
profile() { # BINARY INTO: every workload's callgrind output in INTO/WORKLOAD.out
  local bin=$1 into=$2 predictor port gateway
  mkdir -p "$into"
  realpath "$bin" >"$into/binary"
  callgrind() { valgrind --tool=callgrind --demangle=no --callgrind-out-file="$into/$1.out" "${@:2}"; }
  for workload in "sluice rest" "sluice grpc" "up rest" "engine rest"; do
    read -r proxy transport <<<"$workload"
    echo "==> $proxy $transport under callgrind" >&2
    SLUICE=$bin N1=50 N2=300 CALLGRIND_OPTS=--demangle=no KEEP="$into/$proxy-$transport.out" \
      "$here/bench/counts.sh" instructions "$proxy" "$transport" | sed -n 1p >&2
  done
  # The README's canary (examples/istio/canary.yaml: ServiceEntries, DestinationRule subsets, a
  # weighted route) in front of two SIMPLE_MODEL orchestrators on its endpoints' ports.
  echo "==> sluice gateway on examples/istio/canary.yaml under callgrind" >&2
  predictor=$(printf '%s' '{"name":"default","graph":{"name":"model","type":"MODEL","implementation":"SIMPLE_MODEL"}}' | base64 -w0)
  for port in 9001 9002; do
    ENGINE_PREDICTOR=$predictor RUST_LOG=warn "$bin" engine --sdep example --namespace seldon --predictor default \
      --http_port "$port" --grpc_port "$(free_port)" >"$into/engine-$port.log" 2>&1 &
    pids+=("$!")
  done
  port=$(free_port)
  RUST_LOG=warn callgrind gateway-canary "$bin" gateway --config "$here/examples/istio/canary.yaml" \
    --port-map "80=$port" --admin "127.0.0.1:$(free_port)" >"$into/gateway.log" 2>&1 &
  gateway=$!
  pids+=("$gateway")
  wait_port 9001; wait_port 9002; wait_port "$port"
  "$bin" predict example -n seldon --gateway "127.0.0.1:$port" --requests 300 --concurrency 16 --timeout 120 >/dev/null
  kill -TERM "${pids[@]}"; wait "${pids[@]}" 2>/dev/null || true
  pids=()
  # Reading, checking and translating every example (what `sluice up` and the operator do first).
  echo "==> sluice validate and render on examples/ under callgrind" >&2
  callgrind validate "$bin" validate -f "$here/examples/" >/dev/null 2>"$into/validate.log" ||
    { echo "sluice validate failed on examples/:" >&2; tail "$into/validate.log" >&2; exit 1; }
  callgrind render "$bin" render -f "$here/examples/" >/dev/null 2>"$into/render.log" ||
    { echo "sluice render failed on examples/:" >&2; tail "$into/render.log" >&2; exit 1; }
}
n=0
for bin in "$@"; do
  n=$((n + 1))
  echo "==> profiling $bin" >&2
  profile "$bin" "$dir/$n"
done
# Each function's own instructions in each workload (callgrind's cost lines; a call's
# inclusive cost, after its calls= line, is the callee's), for the binary's functions only.
python3 - "$dir"/*/ >"$dir/costs.tsv" <<'PY'
import glob, os, re, sys
for profiled in sys.argv[1:]:
  binary = open(os.path.join(profiled, "binary")).read().strip()
  for path in sorted(glob.glob(os.path.join(profiled, "*.out"))):
    workload = os.path.basename(path)
    cost, names, objects, current, ours, skip_next = {}, {}, {}, None, False, False
    for line in open(path, errors="replace"):
        line = line.rstrip("\n")
        m = re.match(r"(c?ob|c?fn)=\((\d+)\)(?: (.*))?$", line)
        if m:
            kind, ident, name = m.groups()
            table = objects if kind.endswith("ob") else names  # ids shared with cob=, cfn=
            if name:
                table[ident] = name.split("'")[0]
            if kind == "ob":  # the object (binary or library) of the functions that follow
                ours = os.path.realpath(objects.get(ident, "")) == binary
            elif kind == "fn":
                current = names.get(ident) if ours else None
                skip_next = False
            continue
        if line.startswith("calls="):
            skip_next = True
            continue
        if line and line[0] in "0123456789+-*":
            if skip_next:  # whichever function's call it was
                skip_next = False
                continue
            if not current:
                continue
            fields = line.split()
            if len(fields) >= 2 and fields[1].isdigit():
                cost[current] = cost.get(current, 0) + int(fields[1])
    for symbol, n in cost.items():
        if not symbol.startswith(("0x", "(")):  # callgrind's names for code without a symbol
            print(f"{workload}\t{n}\t{symbol}")
PY
# Ranked by how many workloads run a function (the code they share first, what fewer of them
# run after), then by its instructions.
{
  echo "# Generated by bench/code-layout.sh: the functions sluice runs while it serves (the ones most"
  echo "# workloads share first, then by instructions), by the names scripts/symbol-order resolves"
  echo "# for each build. Do not edit by hand."
  cut -f3 "$dir/costs.tsv" | "$here/scripts/symbol-order" --keys | paste -d '\t' <(cut -f1,2 "$dir/costs.tsv") - |
    awk -F '\t' '{ cost[$3] += $2; if (!(($3, $1) in seen)) { seen[$3, $1] = 1; runs[$3]++ } }
      END { for (k in cost) print runs[k] "\t" cost[k] "\t" k }' |
    LC_ALL=C sort -t "$(printf '\t')" -k1,1nr -k2,2nr -k3,3 | cut -f3
} >"$dir/layout.txt"
# A profile that found none of the binary's functions (its path not matched, say) must not
# replace the list.
functions=$(grep -vc '^#' "$dir/layout.txt" || true)
if [ "$functions" -lt 1000 ]; then
  echo "only $functions functions found in the profiles; $out left as it was" >&2
  exit 1
fi
mv "$dir/layout.txt" "$out"
echo "wrote $out: $(grep -vc '^#' "$out") functions" >&2
for bin in "$@"; do "$here/scripts/symbol-order" "$bin" "$out" >/dev/null; done
