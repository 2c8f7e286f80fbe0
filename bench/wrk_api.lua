-- wrk's script for bench/bench_api.py: one route of the API, with the tenant's API key.
--
--   [WRK_THINK_MS=500] wrk -t2 -c50 -d15s -s bench/wrk_api.lua http://127.0.0.1:PORT -- KEY ROUTE TOP_ID
--
-- ROUTE: list (min_score drawn from MIN_SCORES, sort=-bird_dog_score), detail (a random id in
-- 1..TOP_ID) or search (q=<a street>, sort=list_price). WRK_THINK_MS: each connection waits an
-- exponential pause of that mean before each request (wrk's `delay`), as people and scripts do;
-- read from the environment because wrk decides whether a script has `delay` before `init` runs
-- (a `delay` returning 0 would still put every request through a timer).
-- `done` prints one line the bench parses: `WRK requests=… seconds=… errors=… p50=… p95=… p99=…`
-- (latencies in microseconds; errors: non-2xx answers plus socket errors), then `QUANTILES` and
-- the latency at each 0.1 % from 0.1 to 99.9 (bench/bench_split.py merges two runs' distributions).

local STREETS = { "main", "oak", "pine", "cedar", "elm", "lake", "hill", "park" }
local MIN_SCORES = { 40, 50, 60, 70, 80 }

local counter = 0
local threads = {}

function setup(thread)
   counter = counter + 1
   thread:set("id", counter)
   table.insert(threads, thread)
end

function init(args)
   key, route, top = args[1], args[2], tonumber(args[3])
   math.randomseed(id * 7919 + os.time())
   wrk.headers["X-API-Key"] = key
   failed = 0
end

function request()
   local path
   if route == "detail" then
      path = "/api/v1/properties/" .. math.random(1, top)
   elseif route == "search" then
      path = "/api/v1/properties?q=" .. STREETS[math.random(#STREETS)] .. "&sort=list_price&limit=50"
   else
      path = "/api/v1/properties?min_score=" .. MIN_SCORES[math.random(#MIN_SCORES)]
         .. "&sort=-bird_dog_score&limit=50"
   end
   return wrk.format("GET", path)
end

local think_ms = tonumber(os.getenv("WRK_THINK_MS") or "0")
if think_ms > 0 then
   function delay()
      return math.floor(-math.log(1 - math.random()) * think_ms)
   end
end

function response(status, headers, body)
   if status ~= 200 then
      failed = failed + 1
   end
end

function done(summary, latency, requests)
   local failures = 0
   for _, thread in ipairs(threads) do
      failures = failures + thread:get("failed")
   end
   local e = summary.errors
   local errors = failures + e.connect + e.read + e.write + e.timeout
   io.write(string.format("WRK requests=%d seconds=%.3f errors=%d p50=%d p95=%d p99=%d\n",
      summary.requests, summary.duration / 1e6, errors,
      latency:percentile(50), latency:percentile(95), latency:percentile(99)))
   local quantiles = {}
   for i = 1, 999 do
      quantiles[#quantiles + 1] = tostring(latency:percentile(i / 10))
   end
   io.write("QUANTILES " .. table.concat(quantiles, " ") .. "\n")
end
