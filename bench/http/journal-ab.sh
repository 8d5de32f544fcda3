#!/usr/bin/env bash
# Persistent single publishes through the gateway alone, two builds alternated: BEFORE (a git ref, built from a
# `git archive` of it) and the working tree. Each run starts a fresh gateway on a fresh data folder (Synchronous=Full),
# warms up, purges the queue, then measures 64 connections for DUR seconds with wrk and reports msg/s beside the CPU
# the gateway process and its journal writer thread used (/proc), per message. For changes to the journal's commit
# path, where one run's msg/s swings with the disk's fsync time but the CPU per message does not.
# usage: bench/http/journal-ab.sh BEFORE_REF   environment: PAIRS (3), DUR (10), WARM (20)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); root=$(cd "$here/../.." && pwd)
before=${1:?usage: journal-ab.sh BEFORE_REF}; PAIRS=${PAIRS:-3}; DUR=${DUR:-10}; WARM=${WARM:-20}
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=0
. "$here/common.sh"
work=/tmp/gw-journal-ab; rm -rf "$work"; mkdir -p "$work/src-before"
git -C "$root" archive "$before" | tar -x -C "$work/src-before"
dotnet build -c Release "$work/src-before/src/Gateway.Server" -o "$work/before" >/dev/null
dotnet build -c Release "$root/src/Gateway.Server" -o "$work/after" >/dev/null
export GATEWAY_KEY; GATEWAY_KEY=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))'); auth="Authorization: Bearer $GATEWAY_KEY"
trap 'kill ${gpid:-} 2>/dev/null || true' EXIT
# CPU clock ticks of the process, or of its thread whose name holds "journal".
ticks() { python3 - "$@" <<'PY'
import glob, sys
pid, which = sys.argv[1], sys.argv[2]
paths = [f'/proc/{pid}'] if which == 'process' else glob.glob(f'/proc/{pid}/task/*')
for p in paths:
    try:
        if which == 'writer' and 'journal' not in open(p + '/comm').read(): continue
        f = open(p + '/stat').read().rsplit(')', 1)[1].split(); print(int(f[11]) + int(f[12])); break
    except OSError: pass
else: print(0)
PY
}
measure() { # build label
  local port data url out g0 g1 w0 w1
  port=$(free_port); data=$(mktemp -d); url="http://127.0.0.1:$port/api/vhosts/default/exchanges/amq.default/publish"
  (cd "$root" && Gateway__DataPath="$data" Gateway__Amqp__Enabled=false Gateway__Auth__BootstrapKey="$GATEWAY_KEY" Logging__LogLevel__Default=Warning \
    Kestrel__Endpoints__Http__Url="http://127.0.0.1:$port" "$work/$1/Gateway.Server") >"$work/server.log" 2>&1 & gpid=$!
  wait_up "http://127.0.0.1:$port/readyz"
  curl -fs -H "$auth" -XPUT "http://127.0.0.1:$port/api/vhosts/default/queues/bench-durable" -H 'content-type: application/json' -d '{"durable":true}' >/dev/null
  ROUTING_KEY=bench-durable DELIVERY_MODE=2 wrk -t1 -c64 -d"${WARM}s" -s "$here/publish.lua" "$url" >/dev/null
  curl -fs -H "$auth" -XDELETE "http://127.0.0.1:$port/api/vhosts/default/queues/bench-durable/messages" >/dev/null
  sync
  g0=$(ticks $gpid process); w0=$(ticks $gpid writer)
  out=$(ROUTING_KEY=bench-durable DELIVERY_MODE=2 wrk -t1 -c64 -d"${DUR}s" -s "$here/publish.lua" "$url" | grep WRKRESULT)
  g1=$(ticks $gpid process); w1=$(ticks $gpid writer)
  kill $gpid; wait $gpid 2>/dev/null || true; rm -rf "$data"
  python3 - "$1" "$out" $((g1 - g0)) $((w1 - w0)) "$(getconf CLK_TCK)" <<'PY'
import re, sys
label, out, g, w, hz = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
req, rps, bad = int(re.search(r'req=(\d+)', out)[1]), float(re.search(r'rps=([\d.]+)', out)[1]), re.search(r'non2xx=(\d+)', out)[1]
print(f"RESULT|journal_ab_{label}|msg_per_s|{rps:.0f}|msg/s|gateway_cpu_us_per_msg={g / hz / req * 1e6:.1f} writer_cpu_us_per_msg={w / hz / req * 1e6:.1f} non2xx={bad}")
PY
}
for p in $(seq 1 "$PAIRS"); do measure before; measure after; done
