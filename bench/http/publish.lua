-- wrk script: single publish of a 16-byte payload to the default exchange.
-- environment: ROUTING_KEY (queue name, default "bench"), DELIVERY_MODE (1 transient, 2 persistent; default unset)
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
-- GATEWAY_KEY: the API key (authentication is on by default); the baseline server ignores it.
if os.getenv("GATEWAY_KEY") then wrk.headers["Authorization"] = "Bearer " .. os.getenv("GATEWAY_KEY") end
local key = os.getenv("ROUTING_KEY") or "bench"
local mode = os.getenv("DELIVERY_MODE")
local properties = mode and (',"properties":{"deliveryMode":' .. mode .. '}') or ""
wrk.body = '{"routingKey":"' .. key .. '","payload":"0123456789abcdef"' .. properties .. '}'

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRKRESULT req=%d dur_us=%d rps=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d errors=%d non2xx=%d\n",
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.connect + e.read + e.write + e.timeout, e.status))
end
