-- wrk script: batch publish of BATCH (default 1000) transient 16-byte messages per request.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
-- GATEWAY_KEY: the API key (authentication is on by default); the baseline server ignores it.
if os.getenv("GATEWAY_KEY") then wrk.headers["Authorization"] = "Bearer " .. os.getenv("GATEWAY_KEY") end
local n = tonumber(os.getenv("BATCH") or "1000")
local mode = os.getenv("DELIVERY_MODE") or "1"
local key = os.getenv("ROUTING_KEY") or "bench"
local parts = {}
for i = 1, n do
  parts[i] = '{"routingKey":"' .. key .. '","payload":"0123456789abcdef","properties":{"deliveryMode":' .. mode .. '}}'
end
wrk.body = '{"messages":[' .. table.concat(parts, ",") .. ']}'

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRKRESULT req=%d dur_us=%d rps=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d errors=%d non2xx=%d\n",
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.connect + e.read + e.write + e.timeout, e.status))
end
