#!/usr/bin/env bash
# Issue 4's WebSocket scenarios (bench/Gateway.LoadClient) against a fresh Release gateway, with a warm-up run first.
# Prints the load client's RESULT|label|metric|value|unit lines for each measured run, and the CPU seconds the server
# and the client used in it (both share this machine's cores).
#
# usage: bench/ws/run.sh [runs=3] <scenario and its arguments, URL standing for the gateway's address, PID for its pid>
#   bench/ws/run.sh 3 URL 500000 1000 manual      consume 500,000 queued messages, manual ack, prefetch 1000
#   bench/ws/run.sh 3 URL 500000 1000 auto        the same with auto-ack
#   bench/ws/run.sh 3 fanout URL 200000           one fanout exchange to 10 queues, one WebSocket consumer each
#   bench/ws/run.sh 3 latency URL 10000 10        HTTP publish -> WebSocket delivery at 10,000 msg/s for 10 s
#   bench/ws/run.sh 3 latency URL 10000 10 httpclient   the same with HttpClient as the publishers
#   bench/ws/run.sh 3 latency URL 10000 10 eventloop    the same from a one-thread event loop, evenly spaced, wrk2-style
#   bench/ws/run.sh 3 latency URL 10000 10 eventloop-ws the same publishing over a WebSocket instead of HTTP
#   bench/ws/run.sh 3 latency-floor URL 10000 10 raw    the floor: the same publishes against bench/Gateway.Baseline,
#                                                       which answers the publish path and does nothing else
#   bench/ws/run.sh 1 idle URL 10000 PID          server memory with 10,000 idle subscriptions
# environment: SERVER_CPUS, CLIENT_CPUS: taskset CPU lists for the server and the load client (e.g. 0 and 1), so that
#   the load generator does not run on the gateway's cores (bench/ws/latency-pinned.sh uses them); unset: unpinned.
# The first run in a fresh process is a warm-up (printed, not counted): .NET compiles the hot paths again with
# optimizations and profile data over the first tens of seconds under load, and a cold run measures that instead.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
runs=${1:-3}; shift
out=/tmp/gw-bench-ws
dotnet build -c Release "$root/src/Gateway.Server" -o $out/server >/dev/null
dotnet build -c Release "$root/bench/Gateway.LoadClient" -o $out/client >/dev/null
dll=$out/server/Gateway.Server.dll
if [ "$1" = latency-floor ]; then dotnet build -c Release "$root/bench/Gateway.Baseline" -o $out/baseline >/dev/null; dll=$out/baseline/Gateway.Baseline.dll; fi
data=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export GATEWAY_KEY=gw_benchmarkkey.$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')
pin_server=(); pin_client=()
[ -n "${SERVER_CPUS:-}" ] && pin_server=(taskset -c "$SERVER_CPUS")
[ -n "${CLIENT_CPUS:-}" ] && pin_client=(taskset -c "$CLIENT_CPUS")
Gateway__DataPath=$data Gateway__Amqp__Enabled=false Gateway__Auth__BootstrapKey=$GATEWAY_KEY Logging__LogLevel__Default=Warning \
  "${pin_server[@]}" dotnet $dll --urls http://127.0.0.1:$port > $out/server.log 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 1 300); do curl -s -o /dev/null http://127.0.0.1:$port/readyz 2>&1 && break; sleep 0.1; done
args=("$@"); args=("${args[@]/URL/http://127.0.0.1:$port}"); args=("${args[@]/PID/$server}")
cpu() { awk '{printf "%.2f", ($14+$15)/100}' /proc/$server/stat; }
for run in $(seq 0 "$runs"); do
  before=$(cpu)
  result=$(/usr/bin/time -f "client_cpu_s %U %S" "${pin_client[@]}" dotnet $out/client/Gateway.LoadClient.dll "${args[@]}" 2>&1 | grep -E "RESULT|client_cpu_s|^#")
  after=$(cpu)
  if [ "$run" = 0 ]; then echo "# warm-up: $(grep RESULT <<<"$result" | head -1)"; continue; fi
  grep -v client_cpu_s <<<"$result"
  read -r _ user sys < <(grep client_cpu_s <<<"$result")
  echo "# run $run: server cpu $(python3 -c "print(f'{$after-$before:.2f}')") s, client cpu $(python3 -c "print(f'{$user+$sys:.2f}')") s"
done
