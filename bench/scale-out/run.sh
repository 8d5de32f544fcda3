#!/usr/bin/env bash
# Issue 15: the gateway over a private 3-node RabbitMQ cluster (quorum queues), each figure beside RabbitMQ.Client
# straight to the same cluster in the same run, on the same cores. Prints RESULT|label|metric|value|unit lines, the CPU
# each measurement used (gateway processes, the 3 RabbitMQ nodes, the whole host) and one table of figure, baseline,
# ratio and target at the end. Ratios are the point: everything shares this machine's cores, so absolutes move with it.
#
# usage: bench/scale-out/run.sh
# environment:
#   ANCHOR   the RabbitMQ cluster anchor (cluster.sh and bench/): ../shared/anchors/rabbitmq-cluster beside the repository
#   RUNS     rounds, interleaved (1): each round measures every figure and its baseline, one after the other
#   DUR      seconds per publish measurement (10); WARM seconds of warm-up per gateway node and publish kind (15: .NET
#            compiles the hot paths again under load in a fresh process, see bench/README.md)
#   COUNT    messages pre-filled for the consume figures (200000)
#   BATCH, BATCH_CONNS  messages per batch request (100) and concurrent batch clients in all (8, split over the nodes)
#   SINGLE_CONNS        connections of the single-publish figures in all (64, split over the nodes)
#   GW2_NODE            the cluster node gateway node 2 connects to first (1: the queues' leader, like both baselines)
# The cluster: RMQC_BASE=/tmp/rmqc-bench, AMQP 5761-5763, management 15761-15763, distribution 25761-25763 (RMQC_*).
# Needs wrk (apt-get install -y wrk), python3, the .NET 10 SDK, and the Debian rabbitmq-server package (cluster.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
ANCHOR=${ANCHOR:-$root/../shared/anchors/rabbitmq-cluster}
RUNS=${RUNS:-1}; DUR=${DUR:-10}; WARM=${WARM:-15}; COUNT=${COUNT:-200000}
BATCH=${BATCH:-100}; BATCH_CONNS=${BATCH_CONNS:-8}; SINGLE_CONNS=${SINGLE_CONNS:-64}; GW2_NODE=${GW2_NODE:-1}
export RMQC_BASE=${RMQC_BASE:-/tmp/rmqc-bench} RMQC_AMQP_BASE=${RMQC_AMQP_BASE:-5760} RMQC_MGMT_BASE=${RMQC_MGMT_BASE:-15760} \
  RMQC_DIST_BASE=${RMQC_DIST_BASE:-25760}
out=${OUT:-/tmp/gw-bench-scale}
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

if [ ! -x "$ANCHOR/cluster.sh" ] || [ ! -f "$ANCHOR/bench/Program.cs" ]; then
  echo "The RabbitMQ cluster anchor is missing: expected $ANCHOR/cluster.sh and $ANCHOR/bench/ (set ANCHOR=<folder>)." >&2
  exit 2
fi
for tool in wrk python3 dotnet curl; do command -v $tool >/dev/null || { echo "$tool is missing${tool/wrk/: apt-get install -y wrk}" >&2; exit 2; }; done
cluster() { "$ANCHOR/cluster.sh" "$@"; }
amqp() { echo $((RMQC_AMQP_BASE + $1)); }
mgmt() { echo $((RMQC_MGMT_BASE + $1)); }

mkdir -p "$out"
log=$out/results.txt; : > "$log"
say() { echo "$*" | tee -a "$log"; }
load_note() { say "# load $(date -u +%H:%M:%S): $(uptime | sed 's/.*load average/load average/')"; }

# --- build: the server and the load client from this repository, the anchor's harness from a copy (its folder is read-only)
say "# $(date -u '+%Y-%m-%d %H:%M UTC') at $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$root" status --porcelain -- src bench 2>/dev/null | grep -q . && echo ' (working tree modified)'), $(nproc) cores"
load_note
dotnet build -c Release "$root/src/Gateway.Server" -o "$out/server" >"$out/build.log" 2>&1 || { tail -20 "$out/build.log" >&2; exit 1; }
dotnet build -c Release "$root/bench/Gateway.LoadClient" -o "$out/client" >>"$out/build.log" 2>&1 || { tail -20 "$out/build.log" >&2; exit 1; }
rm -rf "$out/anchor-src"; mkdir -p "$out/anchor-src"; cp "$ANCHOR"/bench/*.cs "$ANCHOR"/bench/*.csproj "$ANCHOR"/bench/*.json "$out/anchor-src/"; chmod -R u+w "$out/anchor-src"
dotnet build -c Release "$out/anchor-src" -o "$out/anchor" >>"$out/build.log" 2>&1 || { tail -20 "$out/build.log" >&2; exit 1; }

# --- teardown, whatever happens from here on
gateways=(); datas=()
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for p in "${gateways[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${gateways[@]}"; do wait "$p" 2>/dev/null || true; done
  cluster down --kill >/dev/null 2>&1 || true
  for d in "${datas[@]}"; do rm -rf "$d"; done
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "# starting the 3-node cluster ($RMQC_BASE)"
cluster up >"$out/cluster-up.log" 2>&1 || { tail -20 "$out/cluster-up.log" >&2; exit 1; }
beams="$(cluster pid 1),$(cluster pid 2),$(cluster pid 3)"
anchor_common=(--port "$(amqp 1)" --vhost / --mgmt "http://127.0.0.1:$(mgmt 1)" --beam-pids "$beams")

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# start_gateway NAME FIRST-NODE: a gateway node over the cluster, its URIs starting at FIRST-NODE; sets GW_URL, GW_PID
start_gateway() {
  local name=$1 first=$2 port data i n
  port=$(free_port); data=$(mktemp -d); datas+=("$data")
  local -a uris=()
  for i in 0 1 2; do n=$(( (first - 1 + i) % 3 + 1 )); uris+=("Gateway__RabbitMq__Uris__$i=amqp://guest:guest@127.0.0.1:$(amqp $n)/"); done
  env Gateway__Backend=RabbitMq "${uris[@]}" Gateway__RabbitMq__ManagementUri="http://127.0.0.1:$(mgmt "$first")/" \
    Gateway__RabbitMq__NodeName="$name" Gateway__Auth__Enabled=false Gateway__DataPath="$data" Gateway__Amqp__Enabled=false Logging__LogLevel__Default=Warning \
    DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=0 dotnet "$out/server/Gateway.Server.dll" --urls "http://127.0.0.1:$port" >"$out/$name.log" 2>&1 &
  GW_PID=$!; gateways+=("$GW_PID"); GW_URL="http://127.0.0.1:$port"
  for _ in $(seq 1 300); do
    curl -fs "$GW_URL/readyz" 2>/dev/null | grep -q '"status":"Healthy"' && return 0
    kill -0 "$GW_PID" 2>/dev/null || break
    sleep 0.2
  done
  echo "gateway $name did not become ready; its log ($out/$name.log):" >&2; tail -20 "$out/$name.log" >&2; return 1
}
start_gateway gw1 1; gw1=$GW_URL; gw1_pid=$GW_PID
start_gateway gw2 "$GW2_NODE"; gw2=$GW_URL; gw2_pid=$GW_PID
say "# gateway nodes: gw1 $gw1 (pid $gw1_pid, cluster node 1 first), gw2 $gw2 (pid $gw2_pid, cluster node $GW2_NODE first)"

api=/api/vhosts/default
queue=gw-bench-pub   # durable: a quorum queue, declared through gw1 (whose connection is on node 1, so its leader is there)
curl -fs -XDELETE "$gw1$api/queues/$queue" >/dev/null 2>&1 || true
curl -fs -XPUT "$gw1$api/queues/$queue" -H 'content-type: application/json' -d '{"durable":true}' >/dev/null
say "# $queue: $(curl -fs -u guest:guest "http://127.0.0.1:$(mgmt 1)/api/queues/%2F/$queue" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("type"), "queue, leader", d.get("leader"), "members", ",".join(d.get("members", [])))')"
purge() { curl -fs -XDELETE "$gw1$api/queues/$queue/messages" >/dev/null || true; }

# --- CPU accounting: clock ticks of the gateways and of the 3 beam.smp, and the host's busy ticks
ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14+$15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done; echo $t; }
host_busy() { awk '/^cpu /{print $2+$3+$4+$7+$8}' /proc/stat; }
cpu_start() { c_gw=$(ticks "${gateways[@]}"); c_rmq=$(ticks ${beams//,/ }); c_host=$(host_busy); c_t=$(date +%s.%N); }
cpu_line() { # label: cores used since cpu_start
  local hz; hz=$(getconf CLK_TCK)
  python3 - "$1" "$c_t" "$(date +%s.%N)" "$c_gw" "$(ticks "${gateways[@]}")" "$c_rmq" "$(ticks ${beams//,/ })" "$c_host" "$(host_busy)" "$hz" <<'PY' | tee -a "$log"
import sys
label, t0, t1, g0, g1, r0, r1, h0, h1, hz = sys.argv[1:]
wall = float(t1) - float(t0); hz = float(hz)
cores = lambda a, b: (float(b) - float(a)) / hz / wall
g, r, h = cores(g0, g1), cores(r0, r1), cores(h0, h1)
print(f"RESULT|{label}|gateway_cpu|{g:.2f}|cores\nRESULT|{label}|broker_cpu|{r:.2f}|cores\nRESULT|{label}|host_busy|{h:.2f}|cores")
print(f"# {label}: gateway nodes {g:.2f} cores, RabbitMQ (3 nodes) {r:.2f}, load generator and the rest {h-g-r:.2f}, host {h:.2f} of 2")
PY
}
snapshot_top() { (sleep "$1"; top -b -n 1 -w 200 | head -22 > "$out/top-$2.txt") & }

# --- figures
declare -A figure   # figure[name,round] = msg/s
# wrk_publish LABEL NODES CONNS LUA PATH BATCH SECONDS [measure]: wrk against NODES gateway nodes at once, CONNS split over them
wrk_publish() {
  local label=$1 nodes=$2 conns=$3 lua=$4 path=$5 batch=$6 secs=$7 measure=${8:-}
  local -a urls=("$gw1") files=()
  [ "$nodes" = 2 ] && urls+=("$gw2")
  local per=$((conns / nodes)) i=0 u
  local -a pids=()
  [ -n "$measure" ] && cpu_start
  for u in "${urls[@]}"; do
    files+=("$out/wrk-$label-$i.txt")
    BATCH=$batch DELIVERY_MODE=2 ROUTING_KEY=$queue wrk -t1 -c"$per" -d"${secs}s" --timeout 10s --latency -s "$root/bench/http/$lua" "$u$path" >"${files[-1]}" 2>&1 &
    pids+=($!); i=$((i + 1))
  done
  [ -n "$measure" ] && snapshot_top $((secs / 2)) "$label"
  for u in "${pids[@]}"; do wait "$u" || true; done
  [ -z "$measure" ] && return 0
  cpu_line "$label"
  python3 - "$label" "$batch" "${files[@]}" <<'PY' | tee -a "$log"
import sys, re
label, batch, files = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
total = 0.0; bad = 0; p99 = []
for f in files:
    m = re.search(r"WRKRESULT (.*)", open(f).read())
    if not m: sys.exit(f"wrk printed no result: {f}")
    kv = dict(p.split("=") for p in m.group(1).split())
    total += float(kv["rps"]) * batch; bad += int(kv["errors"]) + int(kv["non2xx"]); p99.append(int(kv["p99_us"]))
print(f"RESULT|{label}|msg_per_s|{total:.1f}|msg/s")
print(f"RESULT|{label}|errors_or_non2xx|{bad}|count")
print(f"RESULT|{label}|request_p99_us|{max(p99)}|us")
PY
}
value() { grep "^RESULT|$1|$2|" "$log" | tail -1 | cut -d'|' -f4; }

# Warm-up: each node, each publish kind (a fresh .NET process compiles its hot paths again over the first seconds).
say "# warm-up: ${WARM}s of batch and of single publishes on each gateway node"
wrk_publish warm_batch 2 "$BATCH_CONNS" batch.lua "$api/exchanges/amq.default/publish/batch" "$BATCH" "$WARM"
wrk_publish warm_single 2 "$SINGLE_CONNS" publish.lua "$api/exchanges/amq.default/publish" 1 "$WARM"
purge

for r in $(seq 1 "$RUNS"); do
  say "# ---- round $r of $RUNS"; load_note
  # RabbitMQ.Client straight to node 1 (the leader): persistent, confirms, window 1000, one channel, quorum queue
  dotnet "$out/anchor/Bench.dll" confirm --mode window --window 1000 --duration "$DUR" --qtype quorum --queue bench.quorum.confirm \
    --label rmq_confirm_window1000 "${anchor_common[@]}" | grep -E '^RESULT|^#' | tee -a "$log"
  figure[rmq_confirm,$r]=$(value rmq_confirm_window1000 msg_per_s)

  for nodes in 1 2; do
    wrk_publish pre 1 "$BATCH_CONNS" batch.lua "$api/exchanges/amq.default/publish/batch" "$BATCH" 2; purge
    wrk_publish "gw_batch${BATCH}_c${BATCH_CONNS}_${nodes}node_r$r" "$nodes" "$BATCH_CONNS" batch.lua "$api/exchanges/amq.default/publish/batch" "$BATCH" "$DUR" measure
    figure[batch_$nodes,$r]=$(value "gw_batch${BATCH}_c${BATCH_CONNS}_${nodes}node_r$r" msg_per_s); purge
  done
  for nodes in 1 2; do
    wrk_publish pre 1 "$SINGLE_CONNS" publish.lua "$api/exchanges/amq.default/publish" 1 2; purge
    wrk_publish "gw_single_c${SINGLE_CONNS}_${nodes}node_r$r" "$nodes" "$SINGLE_CONNS" publish.lua "$api/exchanges/amq.default/publish" 1 "$DUR" measure
    figure[single_$nodes,$r]=$(value "gw_single_c${SINGLE_CONNS}_${nodes}node_r$r" msg_per_s); purge
  done

  # Diagnostic: the RabbitMQ backend looks the vhost up in the management API (GET /api/vhosts/<vhost>) on every publish
  # request; this is that request alone, straight to node 1, and what it costs the cluster.
  cpu_start
  mg=$(wrk -t1 -c8 -d5s -H 'Authorization: Basic Z3Vlc3Q6Z3Vlc3Q=' "http://127.0.0.1:$(mgmt 1)/api/vhosts/%2F" 2>&1 | awk '/Requests\/sec/{print $2}')
  cpu_line "mgmt_get_vhost_c8_r$r"
  say "RESULT|mgmt_get_vhost_c8_r$r|req_per_s|${mg:-0}|req/s"
  figure[mgmt,$r]=${mg:-nan}

  # consume: COUNT persistent messages pre-filled into a quorum queue, one consumer, manual ack, prefetch 1000
  dotnet "$out/anchor/Bench.dll" consume --ack manual --prefetch 1000 --count "$COUNT" --persistent --qtype quorum \
    --queue bench.quorum.consume --label rmq_consume_manualack_prefetch1000 "${anchor_common[@]}" | grep -E '^RESULT|^#' | tee -a "$log"
  figure[rmq_consume,$r]=$(value rmq_consume_manualack_prefetch1000 msg_per_s)
  # the same through gw1: the load client fills ws-bench-durable (quorum) through the gateway, then consumes over a WebSocket
  # (the CPU is counted from the end of the fill, which the client prints, to the end of the consume)
  dotnet "$out/client/Gateway.LoadClient.dll" "$gw1" "$COUNT" 1000 manual persistent >"$out/consume-r$r.txt" 2>&1 & client=$!
  while kill -0 "$client" 2>/dev/null && ! grep -qs '^# filled' "$out/consume-r$r.txt"; do sleep 0.05; done
  cpu_start; snapshot_top 2 "ws_consume_r$r"
  wait "$client" || { cat "$out/consume-r$r.txt" >&2; exit 1; }
  cpu_line "gw_ws_consume_r$r"
  grep -E '^RESULT|^#' "$out/consume-r$r.txt" | tee -a "$log"
  figure[consume,$r]=$(value ws_consume_manualack_prefetch1000_16B_persistent msg_per_s)
done
load_note

# --- the table: per figure, each round's value and ratio, the median ratio, the target
python3 - "$RUNS" "$BATCH" "$BATCH_CONNS" "$SINGLE_CONNS" <<PY | tee -a "$log"
import statistics
runs, batch, bconns, sconns = $RUNS, $BATCH, $BATCH_CONNS, $SINGLE_CONNS
f = {}
$(for k in "${!figure[@]}"; do echo "f['$k'] = float('${figure[$k]:-nan}' or 'nan')"; done)
rows = [
  (f"batch publish, {batch}/request, {bconns} clients, 1 gateway node", "batch_1", "rmq_confirm", 1.0),
  (f"batch publish, {batch}/request, {bconns} clients, 2 gateway nodes", "batch_2", "rmq_confirm", 1.0),
  (f"single publish, {sconns} connections, 1 gateway node", "single_1", "rmq_confirm", 0.5),
  (f"single publish, {sconns} connections, 2 gateway nodes", "single_2", "rmq_confirm", 0.5),
  ("WebSocket consume, manual ack, prefetch 1000, 1 gateway node", "consume", "rmq_consume", 0.8),
]
base_name = {"rmq_confirm": "RabbitMQ.Client confirm window 1000", "rmq_consume": "RabbitMQ.Client consume manual ack prefetch 1000"}
print()
print("| figure (persistent 16 B, quorum queue) | gateway msg/s | baseline | baseline msg/s | ratio | target | |")
print("|---|---:|---|---:|---:|---:|---|")
for title, key, base, target in rows:
    g = [f.get(f"{key},{r}", float("nan")) for r in range(1, runs + 1)]
    b = [f.get(f"{base},{r}", float("nan")) for r in range(1, runs + 1)]
    ratios = [x / y if y else float("nan") for x, y in zip(g, b)]
    med = statistics.median(ratios)
    fmt = lambda v: " / ".join(f"{x:,.0f}" for x in v)
    print(f"| {title} | {fmt(g)} | {base_name[base]} | {fmt(b)} | {' / '.join(f'{x:.2f}' for x in ratios)}{f' (median {med:.2f})' if runs > 1 else ''} | ≥ {target:g}× | {'met' if med >= target else 'missed'} |")
m = [f.get(f"mgmt,{r}", float("nan")) for r in range(1, runs + 1)]
print(f"| (diagnostic) management API GET /api/vhosts/%2F alone, 8 connections, node 1 | {' / '.join(f'{x:,.0f}' for x in m)} req/s | | | | | |")
PY
say "# raw results: $log; top snapshots: $out/top-*.txt; gateway logs: $out/gw1.log, $out/gw2.log"
