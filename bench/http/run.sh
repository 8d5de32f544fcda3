#!/usr/bin/env bash
# HTTP load benchmark: the trivial 202 baseline and Gateway's publish endpoints, in one run, on this machine.
# Prints RESULT|label|metric|value|unit lines (the format of ../shared/anchors/rabbitmq) and ratio lines.
# usage: bench/http/run.sh                 quick set: baseline, transient single and batch-1000 at 64 connections
#        SET=durability bench/http/run.sh  issue 3's set: persistent and transient, 1 and 64 clients, single and batch of 100
# environment: DUR (seconds measured, 8), WARM (seconds of warm-up per scenario, 20: a fresh gateway under wrk needs
#   15 – 25 s before tiered compilation settles — 6,400 -> 17,500 -> 26,800 req/s in consecutive 8-s runs)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
DUR=${DUR:-8}; WARM=${WARM:-20}; SET=${SET:-quick}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=0

. "$here/common.sh"
rps() { grep -o 'rps=[0-9.]*' <<<"$1" | cut -d= -f2; }
report() { # label wrk-output [messages-per-request]
  local kv; kv=$(grep -o 'WRKRESULT.*' <<<"$2" | cut -d' ' -f2-)
  for pair in $kv; do
    local k=${pair%%=*} v=${pair#*=}
    case $k in rps) echo "RESULT|$1|req_per_s|$v|req/s";; p50_us|p99_us) echo "RESULT|$1|$k|$v|us";; non2xx|errors) echo "RESULT|$1|$k|$v|count";; esac
  done
  [ -n "${3:-}" ] && python3 -c "print(f'RESULT|$1|msg_per_s|{float(\"$(rps "$2")\")*$3:.1f}|msg/s')"
  return 0
}
# run label connections lua url [batch]: warm up (JIT tiering takes seconds under load), then measure.
run() {
  local label=$1 conns=$2 lua=$3 url=$4 batch=${5:-}
  BATCH=${batch:-1} wrk -t1 -c"$conns" -d"${WARM}s" -s "$here/$lua" "$url" >/dev/null
  purge
  local out; out=$(BATCH=${batch:-1} wrk -t1 -c"$conns" -d"${DUR}s" --latency -s "$here/$lua" "$url")
  report "$label" "$out" "$batch"
  purge
  LAST=$(rps "$out")
}
# h2 label streams url: h2load over ONE connection with that many concurrent streams, warmed up first (needs h2load:
# apt-get install -y nghttp2-client). The body is publish.lua's (transient, routing key bench).
h2() {
  local label=$1 streams=$2 url=$3 body=/tmp/gw-bench/h2-body.json
  printf '{"routingKey":"bench","payload":"0123456789abcdef"}' > "$body"
  h2load -c1 -m"$streams" -D "$WARM" -H 'content-type: application/json' -H "$auth" -d "$body" "$url" >/dev/null
  purge
  local out; out=$(h2load -c1 -m"$streams" -D "$DUR" -H 'content-type: application/json' -H "$auth" -d "$body" "$url")
  purge
  LAST=$(grep -o 'finished in [^,]*, [0-9.]* req/s' <<<"$out" | awk '{print $(NF-1)}')
  echo "RESULT|$label|req_per_s|$LAST|req/s"
  echo "RESULT|$label|non2xx|$(grep -o '[0-9]* 2xx' <<<"$out" | awk -v all="$(grep -o 'requests: [0-9]* total' <<<"$out" | awk '{print $2}')" '{print all-$1}')|count"
}
purge() { [ -n "${api:-}" ] && { curl -fs -H "$auth" -XDELETE "$api/queues/bench/messages" >/dev/null; curl -fs -H "$auth" -XDELETE "$api/queues/bench-durable/messages" >/dev/null; } || true; }

# Fresh output folders: a build of another checkout leaves a static-assets manifest there that points into it.
rm -rf /tmp/gw-bench/baseline /tmp/gw-bench/server
dotnet build -c Release "$root/bench/Gateway.Baseline" -o /tmp/gw-bench/baseline >/dev/null
dotnet build -c Release "$root/src/Gateway.Server" -o /tmp/gw-bench/server >/dev/null

# Gateway keeps authentication on (the default), with a bootstrap key the scripts send (GATEWAY_KEY for the wrk
# scripts); the baseline gets the same header, so that both parse one.
export GATEWAY_KEY; GATEWAY_KEY=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))'); auth="Authorization: Bearer $GATEWAY_KEY"

# 1. Baseline: trivial minimal-API POST answering 202.
port=$(free_port)
/tmp/gw-bench/baseline/Gateway.Baseline --urls "http://127.0.0.1:$port" >/dev/null 2>&1 & bpid=$!
trap 'kill $bpid ${gpid:-} 2>/dev/null || true' EXIT
wait_listening "http://127.0.0.1:$port/"
run baseline_post202_c64 64 publish.lua "http://127.0.0.1:$port/publish"; base=$LAST
kill $bpid; wait $bpid 2>/dev/null || true

# 2. Gateway: fresh process and data folder (synchronous=FULL, the default); HTTP/1.1 on $port and cleartext HTTP/2
# (prior knowledge) on $h2port, as README "HTTP/2" configures them.
port=$(free_port); h2port=$(free_port); data=$(mktemp -d)
(cd "$root" && Gateway__DataPath="$data" Gateway__Amqp__Enabled=false Gateway__Auth__BootstrapKey="$GATEWAY_KEY" Logging__LogLevel__Default=Warning \
  Kestrel__Endpoints__Http__Url="http://127.0.0.1:$port" Kestrel__Endpoints__H2c__Url="http://127.0.0.1:$h2port" \
  Kestrel__Endpoints__H2c__Protocols=Http2 /tmp/gw-bench/server/Gateway.Server) >/tmp/gw-bench/server.log 2>&1 & gpid=$!
wait_up "http://127.0.0.1:$port/readyz"
api="http://127.0.0.1:$port/api/vhosts/default"
curl -fs -H "$auth" -XPUT "$api/queues/bench" -H 'content-type: application/json' -d '{"durable":false}' >/dev/null
curl -fs -H "$auth" -XPUT "$api/queues/bench-durable" -H 'content-type: application/json' -d '{"durable":true}' >/dev/null
single="$api/exchanges/amq.default/publish"; batch="$api/exchanges/amq.default/publish/batch"

if [ "$SET" = durability ]; then
  for c in 1 64; do
    ROUTING_KEY=bench-durable DELIVERY_MODE=2 run gateway_publish_persistent_16B_c$c $c publish.lua "$single"
    ROUTING_KEY=bench-durable DELIVERY_MODE=2 run gateway_publish_batch100_persistent_16B_c$c $c batch.lua "$batch" 100
    ROUTING_KEY=bench DELIVERY_MODE=1 run gateway_publish_transient_16B_c$c $c publish.lua "$single"
    ROUTING_KEY=bench DELIVERY_MODE=1 run gateway_publish_batch100_transient_16B_c$c $c batch.lua "$batch" 100
  done
else
  ROUTING_KEY=bench run gateway_publish_transient_16B_c64 64 publish.lua "$single"; one=$LAST
  ROUTING_KEY=bench run gateway_publish_batch1000_transient_16B_c64 64 batch.lua "$batch" 1000; many=$LAST
  if command -v h2load >/dev/null; then h2 gateway_publish_transient_16B_h2c_1conn_64streams 64 "http://127.0.0.1:$h2port/api/vhosts/default/exchanges/amq.default/publish"; h2rate=$LAST
  else echo "# h2load is missing (apt-get install -y nghttp2-client): no HTTP/2 figure" >&2; h2rate=0; fi
  python3 - "$base" "$one" "$many" "$h2rate" <<'PY'
import sys
base, single, batch, h2 = map(float, sys.argv[1:])
print(f"# single publish: {single:,.0f} req/s = {single/base:.2f} x the trivial 202 POST ({base:,.0f} req/s); target >= 0.67")
print(f"# batch publish (1000/request): {batch*1000:,.0f} msg/s; target >= 500,000")
if h2: print(f"# HTTP/2, 1 connection, 64 streams: {h2:,.0f} req/s = {h2/single:.2f} x HTTP/1.1 with 64 connections; target >= 1")
PY
fi
