#!/usr/bin/env bash
# Persistent single publishes with confirms: Gateway over HTTP (64 connections, each publish answered after its journal
# commit) beside RabbitMQ's confirm-window-1000 publisher (../shared/anchors/rabbitmq/bench, RabbitMQ.Client), in one run,
# rounds interleaved. RabbitMQ runs as a private single node (the cluster anchor's cluster.sh with one node, its own
# ports and data under /tmp), stopped while the gateway is measured so that the two never share the cores.
# Prints RESULT|label|...|value|unit lines and the ratio per round; target >= 1.5 (issue 16).
# usage: bench/http/persistent.sh   environment: ROUNDS (3), DUR (seconds measured, 10), WARM (gateway warm-up, 20),
#   ANCHORS (the anchors folder, ../shared/anchors beside the repository)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
ROUNDS=${ROUNDS:-3}; DUR=${DUR:-10}; WARM=${WARM:-20}; ANCHORS=${ANCHORS:-$root/../shared/anchors}
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=0
work=/tmp/gw-persistent; rm -rf "$work"; mkdir -p "$work"
. "$here/common.sh"

# The anchor's tool and cluster script, copied out of shared/ (read-only in CI).
cp -r "$ANCHORS/rabbitmq/bench" "$work/anchor-bench"; cp "$ANCHORS/rabbitmq-cluster/cluster.sh" "$work/cluster.sh"
dotnet build -c Release "$work/anchor-bench" -o "$work/anchor" >/dev/null
dotnet build -c Release "$root/src/Gateway.Server" -o "$work/server" >/dev/null
export RMQC_NODES=1 RMQC_BASE=$work/rmq RMQC_AMQP_BASE=5780 RMQC_MGMT_BASE=15780 RMQC_DIST_BASE=25780
rabbit() { bash "$work/cluster.sh" "$@"; }
trap 'rabbit down --kill >/dev/null 2>&1 || true; kill ${gpid:-} 2>/dev/null || true' EXIT

export GATEWAY_KEY; GATEWAY_KEY=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))'); auth="Authorization: Bearer $GATEWAY_KEY"
port=$(free_port); data=$(mktemp -d)
url="http://127.0.0.1:$port/api/vhosts/default/exchanges/amq.default/publish"
start_gateway() { # the same data folder each round: the journal of earlier rounds is purged, not deleted
  (cd "$root" && Gateway__DataPath="$data" Gateway__Amqp__Enabled=false Gateway__Auth__BootstrapKey="$GATEWAY_KEY" Logging__LogLevel__Default=Warning \
    Kestrel__Endpoints__Http__Url="http://127.0.0.1:$port" "$work/server/Gateway.Server") >"$work/server.log" 2>&1 & gpid=$!
  wait_up "http://127.0.0.1:$port/readyz"
  curl -fs -H "$auth" -XPUT "http://127.0.0.1:$port/api/vhosts/default/queues/bench-durable" -H 'content-type: application/json' \
    -d '{"durable":true}' >/dev/null
  curl -fs -H "$auth" -XDELETE "http://127.0.0.1:$port/api/vhosts/default/queues/bench-durable/messages" >/dev/null
}

for r in $(seq 1 "$ROUNDS"); do
  rabbit up >/dev/null 2>&1
  rabbit ctl 1 add_vhost bench >/dev/null; rabbit ctl 1 set_permissions -p bench guest '.*' '.*' '.*' >/dev/null
  sync # each side is measured with no other writes of the run still on their way to the disk
  line=$("$work/anchor/Bench" confirm --mode window --window 1000 --duration "$DUR" --port 5781 --mgmt http://127.0.0.1:15781 | grep '^RESULT' | grep msg_per_s | head -1)
  rabbit down --kill >/dev/null 2>&1
  rmq=$(cut -d'|' -f4 <<<"$line"); echo "RESULT|rabbitmq_confirm_window1000_persistent_16B|msg_per_s|$rmq|msg/s|round $r"

  start_gateway
  ROUTING_KEY=bench-durable DELIVERY_MODE=2 wrk -t1 -c64 -d"${WARM}s" -s "$here/publish.lua" "$url" >/dev/null
  curl -fs -H "$auth" -XDELETE "http://127.0.0.1:$port/api/vhosts/default/queues/bench-durable/messages" >/dev/null
  sync
  out=$(ROUTING_KEY=bench-durable DELIVERY_MODE=2 wrk -t1 -c64 -d"${DUR}s" --latency -s "$here/publish.lua" "$url")
  kill $gpid; wait $gpid 2>/dev/null || true
  gw=$(grep -o 'rps=[0-9.]*' <<<"$out" | cut -d= -f2); bad=$(grep -o 'non2xx=[0-9]*' <<<"$out" | cut -d= -f2)
  echo "RESULT|gateway_publish_persistent_16B_c64|msg_per_s|$gw|msg/s|round $r (non-2xx: $bad)"
  python3 -c "print(f'# round $r: gateway {float(\"$gw\"):,.0f} / RabbitMQ {float(\"$rmq\"):,.0f} = {float(\"$gw\")/float(\"$rmq\"):.2f} x; target >= 1.5')"
done
rm -rf "$data"
