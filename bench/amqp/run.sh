#!/usr/bin/env bash
# Issue 17's AMQP benchmark: the RabbitMQ anchor's own load tool (../shared/anchors/rabbitmq/bench, RabbitMQ.Client
# 7.2.2) pointed at the gateway's AMQP listener and at RabbitMQ, in one run, alternating target per scenario and round
# so that drifts in machine noise hit both alike. Prints both RESULT tables side by side (the anchor's summarize.py).
#
# usage: bench/amqp/run.sh                       # RUNS=3 rounds of DUR=10 s per scenario
#        RUNS=1 DUR=3 bench/amqp/run.sh          # quick smoke
#        ONLY="pub16 confwin" bench/amqp/run.sh  # a subset
# Scenarios (the anchor's ids): pub16 (transient publish, 16 B), confwin (persistent with confirms, window 1000),
#   cons_p1000 (consume 500k, manual ack, prefetch 1000), cons_auto (consume 500k, auto-ack), lat10k (latency at
#   10,000 msg/s, manual ack, prefetch 100).
# Needs rabbitmq-server installed (Debian's); it is started on loopback as the anchor's README says if it is not
# running, and stopped at the end if this script started it. The anchor folder is copied to /tmp (shared/ is read-only).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
anchor_src=${ANCHOR:-$root/../shared/anchors/rabbitmq}
RUNS=${RUNS:-3}; DUR=${DUR:-10}
ONLY=${ONLY:-"pub16 confwin cons_p1000 cons_auto lat10k"}
out=${OUT:-/tmp/gw-bench-amqp/$(date -u +%Y%m%d-%H%M%S)}
mkdir -p "$out"
anchor=/tmp/gw-bench-amqp/anchor
rm -rf "$anchor"; cp -r "$anchor_src" "$anchor"; rm -rf "$anchor/bench/bin" "$anchor/bench/obj"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=0

echo "building the gateway and the anchor's load tool (Release)..."
dotnet build -c Release "$root/src/Gateway.Server" -o /tmp/gw-bench-amqp/server >/dev/null
dotnet build -c Release "$anchor/bench/Bench.csproj" >/dev/null
BENCH=(dotnet "$anchor/bench/bin/Release/net10.0/Bench.dll")

# --- RabbitMQ on loopback (the anchor README's configuration)
started_rabbit=
if ! curl -fs -u guest:guest http://127.0.0.1:15672/api/overview >/dev/null 2>&1; then
  mkdir -p /etc/rabbitmq
  printf 'listeners.tcp.default = 127.0.0.1:5672\nmanagement.tcp.ip = 127.0.0.1\nmanagement.tcp.port = 15672\nloopback_users = none\n' > /etc/rabbitmq/rabbitmq.conf
  printf 'NODE_IP_ADDRESS=127.0.0.1\nNODENAME=rabbit@localhost\n' > /etc/rabbitmq/rabbitmq-env.conf
  rabbitmq-plugins enable --offline rabbitmq_management >/dev/null
  rabbitmq-server > "$out/rabbitmq.log" 2>&1 &
  started_rabbit=$!
  for _ in $(seq 1 120); do curl -fs -u guest:guest http://127.0.0.1:15672/api/overview >/dev/null 2>&1 && break; sleep 1; done
fi
curl -sf -u guest:guest -X PUT http://127.0.0.1:15672/api/vhosts/bench >/dev/null
curl -sf -u guest:guest -X PUT -H 'content-type: application/json' -d '{"configure":".*","write":".*","read":".*"}' \
  http://127.0.0.1:15672/api/permissions/bench/guest >/dev/null

# --- the gateway: Release build, fresh data folder, AMQP on a free port (RabbitMQ holds 5672)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
http_port=$(free_port); amqp_port=$(free_port)
key=gw_benchmarkkey.$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')
data=$(mktemp -d)
Gateway__DataPath=$data Gateway__Auth__BootstrapKey=$key Gateway__Amqp__Port=$amqp_port Logging__LogLevel__Default=Warning \
  dotnet /tmp/gw-bench-amqp/server/Gateway.Server.dll --urls http://127.0.0.1:$http_port > "$out/gateway.log" 2>&1 &
gateway=$!
cleanup() {
  kill "$gateway" 2>/dev/null || true
  if [ -n "$started_rabbit" ]; then rabbitmqctl stop >/dev/null 2>&1 || kill "$started_rabbit" 2>/dev/null || true; fi
  rm -rf "$data"
}
trap cleanup EXIT
for _ in $(seq 1 300); do curl -fs -o /dev/null http://127.0.0.1:$http_port/readyz && break; sleep 0.1; done
curl -sf -X PUT -H "authorization: Bearer $key" http://127.0.0.1:$http_port/api/vhosts/bench >/dev/null
curl -sf -X PUT -H "authorization: Bearer $key" -H 'content-type: application/json' \
  -d '{"configure":".*","write":".*","read":".*"}' http://127.0.0.1:$http_port/api/vhosts/bench/permissions/admin >/dev/null

args_of() { # scenario id -> the anchor tool's arguments (as run-all.sh)
  case "$1" in
    pub16)      echo "publish --size 16 --duration $DUR" ;;
    confwin)    echo "confirm --mode window --window 1000 --duration $DUR" ;;
    cons_p1000) echo "consume --ack manual --prefetch 1000 --count 500000" ;;
    cons_auto)  echo "consume --ack auto --count 500000" ;;
    lat10k)     echo "latency --rate 10000 --duration $DUR" ;;
    *) echo "unknown scenario $1" >&2; return 1 ;;
  esac
}
run() { # target id round
  local target=$1 id=$2 r=$3 conn
  if [ "$target" = gateway ]; then conn=(--port "$amqp_port" --user admin --pass "$key"); else conn=(--port 5672); fi
  echo "=== [$target $id] round $r (loadavg $(cut -d' ' -f1-3 /proc/loadavg))" | tee -a "$out/log.txt"
  # shellcheck disable=SC2046
  "${BENCH[@]}" $(args_of "$id") "${conn[@]}" > "$out/tmp" 2>&1 || echo "!!! [$target $id] round $r failed" | tee -a "$out/log.txt"
  cat "$out/tmp" >> "$out/log.txt"
  grep '^#' "$out/tmp" | sed 's/^/    /' || true
  grep '^RESULT|' "$out/tmp" | sed "s/^RESULT|/$r|/" >> "$out/$target.tsv" || true
}
: > "$out/gateway.tsv"; : > "$out/rabbitmq.tsv"
for r in $(seq 1 "$RUNS"); do
  for id in $ONLY; do
    if [ $((r % 2)) = 1 ]; then run gateway "$id" "$r"; run rabbitmq "$id" "$r"; else run rabbitmq "$id" "$r"; run gateway "$id" "$r"; fi
  done
done
echo "RabbitMQ (base) vs the gateway (other: ratio = gateway / RabbitMQ), medians of $RUNS rounds; raw in $out"
python3 "$anchor/summarize.py" "$out/rabbitmq.tsv" "$out/gateway.tsv" | tee "$out/summary.md"
