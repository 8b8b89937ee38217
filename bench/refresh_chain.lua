-- wrk script for bench/bench_fleet.py: refresh grants that chain, so a run can last any
-- time (the soak) from a few sessions. Each response's new refresh token goes back into
-- a pool and a later request presents it; every token is presented exactly once.
--
--   wrk -t1 -c32 -d600s --latency -s bench/refresh_chain.lua http://127.0.0.1:PORT -- TOKENS CLIENT_ID
--
-- TOKENS: one refresh token per line, more lines than connections (each connection has
-- at most one token in flight). With several wrk threads, thread k of n takes lines k,
-- k+n, ... A refused or lost token drops out of the pool: "lost" counts them.
-- done() prints one line "RESULT {json}".

local threads = {}
local counter = 0

function setup(thread)
   thread:set("id", counter)
   counter = counter + 1
   table.insert(threads, thread)
   for _, t in ipairs(threads) do
      t:set("nthreads", counter)
   end
end

function init(args)
   local client_id = args[2] or "tokenstile-kiosk"
   prefix = "grant_type=refresh_token&client_id=" .. client_id .. "&refresh_token="
   pool = {}
   local i = 0
   for line in io.lines(args[1]) do
      if i % nthreads == id then
         table.insert(pool, line)
      end
      i = i + 1
   end
   empty = 0
   lost = 0
   statuses = {}
   headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
end

function request()
   local token = table.remove(pool)
   if token == nil then
      -- Every token is in flight: a recognisable bad request, counted as a failure.
      empty = empty + 1
      token = "pool-empty"
   end
   return wrk.format("POST", "/token", headers, prefix .. token)
end

function response(status, headers, body)
   local key = tostring(status)
   statuses[key] = (statuses[key] or 0) + 1
   local token = status == 200 and string.match(body, '"refresh_token":"([^"]+)"')
   if token then
      table.insert(pool, token)
   else
      lost = lost + 1
   end
end

function done(summary, latency, requests)
   local empty_total, lost_total = 0, 0
   local status_totals = {}
   for _, thread in ipairs(threads) do
      empty_total = empty_total + (thread:get("empty") or 0)
      lost_total = lost_total + (thread:get("lost") or 0)
      for k, v in pairs(thread:get("statuses") or {}) do
         status_totals[k] = (status_totals[k] or 0) + v
      end
   end
   local parts = {}
   for k, v in pairs(status_totals) do
      table.insert(parts, string.format('"%s":%d', k, v))
   end
   local e = summary.errors
   io.write(string.format(
      'RESULT {"duration_us":%d,"requests":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
      '"p999_us":%d,"max_us":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,' ..
      '"timeouts":%d,"non_2xx":%d,"pool_empty":%d,"lost":%d,"statuses":{%s}}\n',
      summary.duration, summary.requests,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency:percentile(99.9), latency.max,
      e.connect, e.read, e.write, e.timeout, e.status,
      empty_total, lost_total, table.concat(parts, ",")))
end
