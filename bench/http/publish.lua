-- wrk script: single transient publish of a 16-byte payload to the default exchange, routing key "bench".
-- usage: wrk -t1 -c64 -d10s --latency -s publish.lua http://127.0.0.1:PORT/api/vhosts/default/exchanges/amq.default/publish
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("WRK_BODY") or '{"routingKey":"bench","payload":"0123456789abcdef"}'

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRKRESULT req=%d dur_us=%d rps=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d errors=%d non2xx=%d\n",
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.connect + e.read + e.write + e.timeout, e.status))
end
