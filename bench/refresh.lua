-- wrk script for bench/bench_refresh.py: every request presents the next unused refresh
-- token (each token exactly once; presenting one twice would be reuse and end its session).
--
--   wrk -t1 -c32 -d12s --latency -s bench/refresh.lua http://127.0.0.1:PORT -- TOKENS CLIENT_ID
--
-- TOKENS is a file with one refresh token per line. With several wrk threads, thread k of
-- n takes lines k, k+n, k+2n... so no two threads share a token. done() prints one line
-- "RESULT {json}" that bench_refresh.py parses.

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
   local path = args[1]
   local client_id = args[2] or "tokenstile-kiosk"
   bodies = {}
   local n = 0
   local i = 0
   for line in io.lines(path) do
      if i % nthreads == id then
         n = n + 1
         bodies[n] = "grant_type=refresh_token&refresh_token=" .. line .. "&client_id=" .. client_id
      end
      i = i + 1
   end
   total = n
   next_index = 0
   exhausted = 0
   statuses = {}
   headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
end

function request()
   next_index = next_index + 1
   local body = bodies[next_index]
   if body == nil then
      -- Out of tokens: a recognisable bad request, counted and reported as a failure.
      exhausted = exhausted + 1
      body = "grant_type=refresh_token&refresh_token=exhausted&client_id=x"
   end
   return wrk.format("POST", "/token", headers, body)
end

function response(status, headers, body)
   local key = tostring(status)
   statuses[key] = (statuses[key] or 0) + 1
end

function done(summary, latency, requests)
   local exhausted_total, used_total = 0, 0
   local status_totals = {}
   for _, thread in ipairs(threads) do
      exhausted_total = exhausted_total + (thread:get("exhausted") or 0)
      used_total = used_total + (thread:get("next_index") or 0)
      local st = thread:get("statuses") or {}
      for k, v in pairs(st) do
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
      '"p999_us":%d,"max_us":%d,"mean_us":%.1f,"connect_errors":%d,"read_errors":%d,' ..
      '"write_errors":%d,"timeouts":%d,"non_2xx":%d,"tokens_exhausted":%d,' ..
      '"tokens_presented":%d,"statuses":{%s}}\n',
      summary.duration, summary.requests,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency:percentile(99.9), latency.max, latency.mean,
      e.connect, e.read, e.write, e.timeout, e.status,
      exhausted_total, used_total, table.concat(parts, ",")))
end
