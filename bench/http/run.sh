#!/usr/bin/env bash
# HTTP load benchmark: the trivial 202 baseline and Gateway's publish endpoints, in one run, on this machine.
# Prints RESULT|label|metric|value|unit lines (the format of ../shared/anchors/rabbitmq) and a ratio line.
# usage: bench/http/run.sh            (DUR=10 CONNS=64 BATCH=1000 override)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
DUR=${DUR:-10}; CONNS=${CONNS:-64}; BATCH=${BATCH:-1000}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=0

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 1 200); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "server at $1 did not start" >&2; return 1; }
result() { # label wrk-output
  local kv; kv=$(grep -o 'WRKRESULT.*' <<<"$2" | cut -d' ' -f2-)
  for pair in $kv; do
    local k=${pair%%=*} v=${pair#*=}
    case $k in rps) echo "RESULT|$1|req_per_s|$v|req/s";; p50_us|p99_us|max_us) echo "RESULT|$1|$k|$v|us";; non2xx|errors) echo "RESULT|$1|$k|$v|count";; esac
  done
}
rps() { grep -o 'rps=[0-9.]*' <<<"$1" | cut -d= -f2; }
# JIT tiering (tier-0, then PGO-instrumented, then optimized code) takes seconds under load: warm every target up first.
warm() { wrk -t1 -c"$CONNS" -d"${WARM:-4}s" "$@" >/dev/null; }

dotnet build -c Release "$root/bench/Gateway.Baseline" -o /tmp/gw-bench/baseline >/dev/null
dotnet build -c Release "$root/src/Gateway.Server" -o /tmp/gw-bench/server >/dev/null

# 1. Baseline: trivial minimal-API POST answering 202.
port=$(free_port)
/tmp/gw-bench/baseline/Gateway.Baseline --urls "http://127.0.0.1:$port" >/dev/null 2>&1 & bpid=$!
trap 'kill $bpid ${gpid:-} 2>/dev/null || true' EXIT
sleep 0.2; wait_up "http://127.0.0.1:$port/" || true
warm -s "$here/publish.lua" "http://127.0.0.1:$port/publish"
out=$(wrk -t1 -c"$CONNS" -d"${DUR}s" --latency -s "$here/publish.lua" "http://127.0.0.1:$port/publish")
result baseline_post202_c$CONNS "$out"; base=$(rps "$out")
kill $bpid; wait $bpid 2>/dev/null || true

# 2. Gateway, fresh process and data folder.
port=$(free_port); data=$(mktemp -d)
(cd "$root" && Gateway__DataPath="$data" Logging__LogLevel__Default=Warning /tmp/gw-bench/server/Gateway.Server --urls "http://127.0.0.1:$port") >/tmp/gw-bench/server.log 2>&1 & gpid=$!
wait_up "http://127.0.0.1:$port/readyz"
api="http://127.0.0.1:$port/api/vhosts/default"
curl -fs -XPUT "$api/queues/bench" -H 'content-type: application/json' -d '{"durable":false}' >/dev/null

warm -s "$here/publish.lua" "$api/exchanges/amq.default/publish"
curl -fs -XDELETE "$api/queues/bench/messages" >/dev/null
out=$(wrk -t1 -c"$CONNS" -d"${DUR}s" --latency -s "$here/publish.lua" "$api/exchanges/amq.default/publish")
result gateway_publish_transient_16B_c$CONNS "$out"; single=$(rps "$out")
curl -fs -XDELETE "$api/queues/bench/messages" >/dev/null

BATCH=$BATCH warm -s "$here/batch.lua" "$api/exchanges/amq.default/publish/batch"
curl -fs -XDELETE "$api/queues/bench/messages" >/dev/null
out=$(BATCH=$BATCH wrk -t1 -c"$CONNS" -d"${DUR}s" --latency -s "$here/batch.lua" "$api/exchanges/amq.default/publish/batch")
result gateway_publish_batch${BATCH}_transient_16B_c$CONNS "$out"; batch=$(rps "$out")
curl -fs -XDELETE "$api/queues/bench/messages" >/dev/null

python3 - "$base" "$single" "$batch" "$BATCH" <<'PY'
import sys
base, single, batch, n = map(float, sys.argv[1:])
print(f"RESULT|gateway_publish_batch{int(n)}_transient_16B|msg_per_s|{batch*n:.1f}|msg/s")
print(f"# single publish: {single:,.0f} req/s = {single/base:.2f} x the trivial 202 POST ({base:,.0f} req/s); target >= 0.67")
print(f"# batch publish ({int(n)}/request): {batch*n:,.0f} msg/s; target >= 500,000")
PY
