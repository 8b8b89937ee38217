-- wrk script for the authorization-code benchmark: each flow is GET /authorize with a
-- provider-session cookie (302 with a code) and then POST /token with that code and its
-- PKCE verifier (200 with an ID token).
--
--   wrk -t1 -c32 -d10s --latency -s bench/code_flow.lua http://127.0.0.1:PORT -- \
--       PAIRS COOKIES CLIENT_ID REDIRECT_URI BASIC OUT SAMPLE_EVERY
--
-- PAIRS: one "verifier challenge" line per flow (PKCE S256, made by bench_code_flow.py;
-- Lua has no SHA-256); thread k of n takes lines k, k+n... COOKIES: one provider-session
-- cookie value per line, used in turn. BASIC: the value of the Authorization header
-- (client_secret_basic). wrk's Lua API has no connection identity, so a code waits in
-- a queue of the thread, and whichever connection sends next exchanges it before any
-- new flow starts: a code waits at most one turn of wrk's event loop, and each
-- connection has one request in flight, as a browser and its app would.
-- Each flow's nonce is its number; the ID token's nonce (its payload decoded here)
-- says which flow a token answer ends, so a flow's latency is measured from its
-- authorize request to its token answer. done() writes OUT.latency (one flow latency
-- in microseconds per line), OUT.sample (every SAMPLE_EVERY-th flow: nonce, code,
-- verifier, ID token, tab-separated) and prints "RESULT {json}".

local ffi = require("ffi")
local bit = require("bit")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")

local function now_us()
   ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
   return tonumber(ts.tv_sec) * 1000000 + tonumber(ts.tv_nsec) / 1000
end

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

local B64 = {}
do
   local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
   for i = 1, #alphabet do
      B64[alphabet:byte(i)] = i - 1
   end
end

local function b64url_decode(text)
   local out, acc, nbits = {}, 0, 0
   for i = 1, #text do
      local v = B64[text:byte(i)]
      if v == nil then
         return nil
      end
      acc = bit.bor(bit.lshift(acc, 6), v)
      nbits = nbits + 6
      if nbits >= 8 then
         nbits = nbits - 8
         out[#out + 1] = string.char(bit.band(bit.rshift(acc, nbits), 0xff))
         acc = bit.band(acc, bit.lshift(1, nbits) - 1)
      end
   end
   return table.concat(out)
end

local function urlencode(text)
   return (text:gsub("[^%w%-%._~]", function(c)
      return string.format("%%%02X", c:byte())
   end))
end

function init(args)
   pairs_list = {}
   local i = 0
   for line in io.lines(args[1]) do
      if i % nthreads == id then
         local verifier, challenge = line:match("^(%S+) (%S+)$")
         table.insert(pairs_list, { verifier, challenge })
      end
      i = i + 1
   end
   cookies = {}
   for line in io.lines(args[2]) do
      table.insert(cookies, line)
   end
   client_id = args[3]
   redirect_uri = args[4]
   token_headers = {
      ["Content-Type"] = "application/x-www-form-urlencoded",
      ["Authorization"] = args[5],
   }
   out_path = args[6]
   sample_every = tonumber(args[7])
   authorize_prefix = "/authorize?response_type=code&scope=openid&code_challenge_method=S256"
      .. "&client_id=" .. urlencode(client_id) .. "&redirect_uri=" .. urlencode(redirect_uri)
   token_prefix = "grant_type=authorization_code&redirect_uri=" .. urlencode(redirect_uri)
   next_pair, next_cookie, flow_no = 1, 1, 0
   ready = {} -- codes received, not yet exchanged: { code, verifier, nonce }
   started, verifiers, granted = {}, {}, {}
   seen_codes = {}
   latencies, sample = {}, {}
   authorize_codes, authorize_other, token_ok, token_other = 0, 0, 0, 0
   exhausted, duplicate_codes, unmatched, state_mismatch = 0, 0, 0, 0
   statuses = {}
end

function request()
   if wrk_check then -- wrk's check of the script, never sent: spend no PKCE pair on it
      wrk_check = false
      return wrk.format("GET", "/authorize?client_id=check")
   end
   local entry = table.remove(ready)
   if entry ~= nil then
      local body = token_prefix .. "&code=" .. urlencode(entry[1])
         .. "&code_verifier=" .. entry[2]
      return wrk.format("POST", "/token", token_headers, body)
   end
   local pair = pairs_list[next_pair]
   if pair == nil then
      -- No PKCE pair left: a recognisable bad request, counted and reported.
      exhausted = exhausted + 1
      return wrk.format("GET", "/authorize?client_id=exhausted")
   end
   next_pair = next_pair + 1
   flow_no = flow_no + 1
   local nonce = "f" .. id .. "x" .. flow_no
   started[nonce] = now_us()
   verifiers[nonce] = pair[1]
   local cookie = cookies[next_cookie]
   next_cookie = next_cookie % #cookies + 1
   local path = authorize_prefix .. "&code_challenge=" .. pair[2] .. "&state=s" .. nonce
      .. "&nonce=" .. nonce
   return wrk.format("GET", path, { ["Cookie"] = "tokenstile-session=" .. cookie })
end

local function authorize_answer(location)
   local code = location:match("[?&]code=([^&]+)")
   local state = location:match("[?&]state=s([^&]+)")
   if code == nil or state == nil or verifiers[state] == nil then
      if code ~= nil then
         state_mismatch = state_mismatch + 1
      end
      authorize_other = authorize_other + 1
      return
   end
   code = code:gsub("%%(%x%x)", function(h)
      return string.char(tonumber(h, 16))
   end)
   if seen_codes[code] then
      duplicate_codes = duplicate_codes + 1
   end
   seen_codes[code] = true
   authorize_codes = authorize_codes + 1
   table.insert(ready, { code, verifiers[state], state })
   granted[state] = code .. "\t" .. verifiers[state]
   verifiers[state] = nil
end

local function token_answer(body)
   local id_token = body:match('"id_token":"([^"]+)"')
   local payload = id_token and id_token:match("^[^.]+%.([^.]+)%.")
   local claims = payload and b64url_decode(payload)
   local nonce = claims and claims:match('"nonce":"([^"]+)"')
   local began = nonce and started[nonce]
   if began == nil then
      unmatched = unmatched + 1
      return
   end
   latencies[#latencies + 1] = math.floor(now_us() - began)
   started[nonce] = nil
   token_ok = token_ok + 1
   if token_ok % sample_every == 0 then
      sample[#sample + 1] = nonce .. "\t" .. granted[nonce] .. "\t" .. id_token
   end
   granted[nonce] = nil
end

function response(status, headers, body)
   local key = tostring(status)
   statuses[key] = (statuses[key] or 0) + 1
   local location = headers["Location"] or headers["location"]
   if status == 302 and location ~= nil then
      authorize_answer(location)
   elseif status == 200 and body:find('"id_token"', 1, true) then
      token_answer(body)
   else
      token_other = token_other + 1
   end
end

function done(summary, latency, requests)
   local out_path = threads[1]:get("out_path")
   local totals = {}
   local names = {
      "authorize_codes", "authorize_other", "token_ok", "token_other", "exhausted",
      "duplicate_codes", "unmatched", "state_mismatch",
   }
   local status_totals = {}
   local lat_file = io.open(out_path .. ".latency", "w")
   local sample_file = io.open(out_path .. ".sample", "w")
   for _, thread in ipairs(threads) do
      for _, name in ipairs(names) do
         totals[name] = (totals[name] or 0) + (thread:get(name) or 0)
      end
      for k, v in pairs(thread:get("statuses") or {}) do
         status_totals[k] = (status_totals[k] or 0) + v
      end
      for _, v in ipairs(thread:get("latencies") or {}) do
         lat_file:write(v, "\n")
      end
      for _, v in ipairs(thread:get("sample") or {}) do
         sample_file:write(v, "\n")
      end
   end
   lat_file:close()
   sample_file:close()
   local parts = {}
   for k, v in pairs(status_totals) do
      table.insert(parts, string.format('"%s":%d', k, v))
   end
   local counts = {}
   for _, name in ipairs(names) do
      table.insert(counts, string.format('"%s":%d', name, totals[name]))
   end
   local e = summary.errors
   io.write(string.format(
      'RESULT {"duration_us":%d,"requests":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
      '"p999_us":%d,"max_us":%d,"mean_us":%.1f,"connect_errors":%d,"read_errors":%d,' ..
      '"write_errors":%d,"timeouts":%d,"non_2xx":%d,%s,"statuses":{%s}}\n',
      summary.duration, summary.requests,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency:percentile(99.9), latency.max, latency.mean,
      e.connect, e.read, e.write, e.timeout, e.status,
      table.concat(counts, ","), table.concat(parts, ",")))
end
