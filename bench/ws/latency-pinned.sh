#!/usr/bin/env bash
# Issue 16, item 4: HTTP publish -> WebSocket delivery latency with the gateway and the load generator on different
# cores (taskset: server on SERVER_CPUS, default 0; load client on CLIENT_CPUS, default 1), beside the floor measured
# the same way in the same run: the same publishes against bench/Gateway.Baseline, which answers the publish path and
# does nothing else. Prints both scenarios' RESULT lines and one line with the p99 ratio (target <= 1.5).
# usage: bench/ws/latency-pinned.sh [runs=3] [rate=10000] [seconds=10]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
runs=${1:-3}; rate=${2:-10000}; seconds=${3:-10}
command -v taskset >/dev/null || { echo "taskset is missing (util-linux)" >&2; exit 1; }
export SERVER_CPUS=${SERVER_CPUS:-0} CLIENT_CPUS=${CLIENT_CPUS:-1}
echo "# gateway on CPU $SERVER_CPUS, load client on CPU $CLIENT_CPUS; $rate msg/s for $seconds s, $runs runs after a warm-up"
gateway=$("$here/run.sh" "$runs" latency URL "$rate" "$seconds")
echo "$gateway"
floor=$("$here/run.sh" "$runs" latency-floor URL "$rate" "$seconds" raw)
echo "$floor"
python3 - "$gateway" "$floor" <<'PY'
import re, statistics, sys
def p99s(text, metric):
    return [float(v) for v in re.findall(r'^RESULT\|[^|]*\|' + re.escape(metric) + r'\|([0-9.]+)\|', text, re.M)]
# The gateway's p99 of publish -> delivery, the floor's p99 of its publish round trip (it delivers nothing).
g, f = p99s(sys.argv[1], "p99_us"), p99s(sys.argv[2], "confirm_p99_us")
print(f"# p99 per run: gateway {', '.join(f'{v:,.0f}' for v in g)} us; floor {', '.join(f'{v:,.0f}' for v in f)} us")
if not g or not f: sys.exit("no p99 figures found")
gm, fm = statistics.median(g), statistics.median(f)
print(f"# p99 median: gateway {gm:,.0f} us, floor {fm:,.0f} us: {gm/fm:.2f} x the floor (target <= 1.5)")
PY
