-- wrk script for the refresh-grant benchmarks: every request presents a refresh token that
-- was never presented before (presenting one twice would be reuse and end its session).
--
--   wrk -t1 -c32 -d12s --latency -s bench/refresh.lua http://127.0.0.1:PORT -- TOKENS CLIENT_ID [chain]
--
-- TOKENS is a file with one refresh token per line. With several wrk threads (WRK_THREADS
-- set to -t), thread k of n takes lines k, k+n, k+2n... so no two threads share a token. Without "chain" each line
-- is presented once (bench_refresh.py). With "chain" each answer's new refresh token goes
-- back into the pool for a later request, so a run lasts any time from a few sessions
-- (bench_fleet.py, its soak): TOKENS then needs more lines than connections (each
-- connection has at most one token in flight), and a refused or lost token drops out of
-- the pool ("lost" counts them). done() prints one line "RESULT {json}".

local threads = {}
local counter = 0

-- wrk sets up and starts its threads one after another (setup, then that thread's init,
-- then it runs) and calls thread 0's request() once before the run to check the script,
-- throwing that request away: no thread could count the others by itself. So the thread
-- count comes from WRK_THREADS (bench/harness.py sets it to wrk's -t), each thread takes
-- every n-th line, and thread 0's checked request presents nothing ("wrk_check").
local expected = tonumber(os.getenv("WRK_THREADS") or "1")

function setup(thread)
   if counter >= expected then
      error("wrk runs more threads than WRK_THREADS=" .. expected .. " says: set it to wrk's -t")
   end
   thread:set("id", counter)
   thread:set("nthreads", expected)
   thread:set("wrk_check", counter == 0)
   counter = counter + 1
   table.insert(threads, thread)
end

function init(args)
   local client_id = args[2] or "tokenstile-kiosk"
   chain = args[3] == "chain"
   prefix = "grant_type=refresh_token&client_id=" .. client_id .. "&refresh_token="
   pool = {}
   local i = 0
   for line in io.lines(args[1]) do
      if i % nthreads == id then
         table.insert(pool, line)
      end
      i = i + 1
   end
   exhausted = 0
   presented = 0
   lost = 0
   statuses = {}
   headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
end

function request()
   if wrk_check then -- wrk's check of the script, never sent: spend no token on it
      wrk_check = false
      return wrk.format("POST", "/token", headers, "grant_type=refresh_token&refresh_token=check&client_id=x")
   end
   local token = table.remove(pool)
   if token == nil then
      -- No token left (chaining: every one in flight): a recognisable bad request, counted
      -- and reported as a failure.
      exhausted = exhausted + 1
      return wrk.format("POST", "/token", headers, "grant_type=refresh_token&refresh_token=exhausted&client_id=x")
   end
   presented = presented + 1
   return wrk.format("POST", "/token", headers, prefix .. token)
end

function response(status, headers, body)
   local key = tostring(status)
   statuses[key] = (statuses[key] or 0) + 1
   if chain then
      local token = status == 200 and string.match(body, '"refresh_token":"([^"]+)"')
      if token then
         table.insert(pool, token)
      else
         lost = lost + 1
      end
   end
end

function done(summary, latency, requests)
   local exhausted_total, presented_total, lost_total = 0, 0, 0
   local status_totals = {}
   for _, thread in ipairs(threads) do
      exhausted_total = exhausted_total + (thread:get("exhausted") or 0)
      presented_total = presented_total + (thread:get("presented") or 0)
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
      '"p999_us":%d,"max_us":%d,"mean_us":%.1f,"connect_errors":%d,"read_errors":%d,' ..
      '"write_errors":%d,"timeouts":%d,"non_2xx":%d,"tokens_exhausted":%d,' ..
      '"tokens_presented":%d,"lost":%d,"statuses":{%s}}\n',
      summary.duration, summary.requests,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency:percentile(99.9), latency.max, latency.mean,
      e.connect, e.read, e.write, e.timeout, e.status,
      exhausted_total, presented_total, lost_total, table.concat(parts, ",")))
end
