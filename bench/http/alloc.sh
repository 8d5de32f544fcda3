#!/usr/bin/env bash
# Bytes allocated per request on a real Kestrel server, under load: the trivial 202 POST (bench/Gateway.Baseline) and
# Gateway's single transient publish with everything on (authentication, permissions, rate limiting, metrics).
# The runtime's allocation counter (dotnet.gc.heap.total_allocated, read with dotnet-counters once a second) over wrk's
# request rate in the same seconds. Needs wrk and dotnet-counters (dotnet tool install -g dotnet-counters).
# Prints RESULT|label|alloc_per_request|value|B lines and the difference.
# usage: bench/http/alloc.sh            environment: DUR (seconds measured, 8), WARM (seconds of warm-up, 15),
#   BEFORE (a commit: its gateway is measured too, in the same run, for a before/after figure)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
DUR=${DUR:-8}; WARM=${WARM:-15}
counters=$(command -v dotnet-counters || echo "$HOME/.dotnet/tools/dotnet-counters")
[ -x "$counters" ] || { echo "dotnet-counters is missing: dotnet tool install -g dotnet-counters" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=0
out=/tmp/gw-alloc; mkdir -p "$out"

. "$here/common.sh"
# measure label pid url: warm up, then wrk and dotnet-counters over the same seconds; the mean allocation rate of the
# whole seconds inside the window (first and last sample dropped) over wrk's request rate.
measure() {
  local label=$1 pid=$2 url=$3
  wrk -t1 -c64 -d"${WARM}s" -s "$here/publish.lua" "$url" >/dev/null
  rm -f "$out/$label.csv"
  "$counters" collect -p "$pid" --counters System.Runtime --format csv -o "$out/$label.csv" --refresh-interval 1 \
    --duration "00:00:$(printf '%02d' "$DUR")" >/dev/null 2>&1 & local cpid=$!
  local rps; rps=$(wrk -t1 -c64 -d"${DUR}s" -s "$here/publish.lua" "$url" | awk '/Requests\/sec/ {print $2}')
  wait $cpid || true
  python3 - "$label" "$out/$label.csv" "$rps" <<'PY'
import sys
label, path, rps = sys.argv[1], sys.argv[2], float(sys.argv[3])
rates = [float(l.rsplit(',', 1)[1]) for l in open(path) if 'total_allocated' in l]
inner = rates[1:-1] or rates
per = sum(inner) / len(inner) / rps
print(f"RESULT|{label}|req_per_s|{rps:.0f}|req/s")
print(f"RESULT|{label}|alloc_per_request|{per:.0f}|B")
open(f"/tmp/gw-alloc/{label}.per", "w").write(f"{per:.0f}")
PY
}

rm -rf "$out/baseline" "$out/server" "$out/before" # fresh: another checkout's build leaves a manifest pointing into it
dotnet build -c Release "$root/bench/Gateway.Baseline" -o "$out/baseline" >/dev/null
dotnet build -c Release "$root/src/Gateway.Server" -o "$out/server" >/dev/null
export GATEWAY_KEY; GATEWAY_KEY=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))'); auth="Authorization: Bearer $GATEWAY_KEY"

port=$(free_port)
"$out/baseline/Gateway.Baseline" --urls "http://127.0.0.1:$port" >/dev/null 2>&1 & bpid=$!
trap 'kill $bpid ${gpid:-} 2>/dev/null || true' EXIT
wait_listening "http://127.0.0.1:$port/"
measure baseline_post202_c64 $bpid "http://127.0.0.1:$port/publish"
kill $bpid; wait $bpid 2>/dev/null || true

# gateway label server-folder [extra settings]: the AMQP listener off for this build (never clashing with RabbitMQ on
# 5672); an older build (BEFORE) may not know that setting and gets none.
gateway() {
  local label=$1 dir=$2 port data; port=$(free_port); data=$(mktemp -d)
  env "${@:3}" Gateway__DataPath="$data" Gateway__Auth__BootstrapKey="$GATEWAY_KEY" Logging__LogLevel__Default=Warning \
    Kestrel__Endpoints__Http__Url="http://127.0.0.1:$port" "$dir/Gateway.Server" >"$out/server.log" 2>&1 & gpid=$!
  wait_up "http://127.0.0.1:$port/readyz"
  local api="http://127.0.0.1:$port/api/vhosts/default"
  # A bounded queue: the run measures the publish, not a queue growing by millions of messages.
  curl -fs -H "$auth" -XPUT "$api/queues/bench" -H 'content-type: application/json' -d '{"durable":false,"arguments":{"x-max-length":1000}}' >/dev/null
  measure "$label" $gpid "$api/exchanges/amq.default/publish"
  kill $gpid; wait $gpid 2>/dev/null || true; rm -rf "$data"
}
gateway publish_transient_single_c64 "$out/server" Gateway__Amqp__Enabled=false
if [ -n "${BEFORE:-}" ]; then
  rm -rf "$out/before-src"; git -C "$root" worktree add -f --detach "$out/before-src" "$BEFORE" >/dev/null 2>&1
  dotnet build -c Release "$out/before-src/src/Gateway.Server" -o "$out/before" >/dev/null
  gateway publish_transient_single_c64_before "$out/before" # (its dashboard files are read from the worktree)
  git -C "$root" worktree remove --force "$out/before-src"
  echo "RESULT|before_minus_baseline|alloc_per_request|$(( $(cat "$out/publish_transient_single_c64_before.per") - $(cat "$out/baseline_post202_c64.per") ))|B"
fi

base=$(cat "$out/baseline_post202_c64.per"); pub=$(cat "$out/publish_transient_single_c64.per")
echo "RESULT|publish_minus_baseline|alloc_per_request|$((pub - base))|B"
