-- Shared by the bench scripts: per-thread setup and a done() that prints one
-- machine-readable JSON line (prefixed "BENCH_JSON ") for bench/run.sh.
-- wrk runs setup() and done() in the main Lua state and request()/response()
-- in one Lua state per thread; thread:get() reads a thread's globals.

local threads = {}

-- The bearer token of every request, when the harness sets BENCH_TOKEN
-- (an instance with auth on); with_auth(headers) adds it.
local bench_token = os.getenv("BENCH_TOKEN")
function with_auth(headers)
  if bench_token and bench_token ~= "" then
    headers["Authorization"] = "Bearer " .. bench_token
  end
  return headers
end

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

-- Sum a global counter over all threads (0 when a thread never set it).
local function sum_threads(name)
  local total = 0
  for _, t in ipairs(threads) do
    total = total + (tonumber(t:get(name)) or 0)
  end
  return total
end

function done(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  local out = {
    requests = summary.requests,
    duration_s = secs,
    rps = summary.requests / secs,
    p50_ms = latency:percentile(50) / 1000,
    p90_ms = latency:percentile(90) / 1000,
    p99_ms = latency:percentile(99) / 1000,
    max_ms = latency.max / 1000,
    err_connect = e.connect,
    err_read = e.read,
    err_write = e.write,
    err_timeout = e.timeout,
    err_status = e.status,
    errors = e.connect + e.read + e.write + e.timeout + e.status,
    created = sum_threads("created"),
    non201 = sum_threads("non201"),
  }
  local parts = {}
  for k, v in pairs(out) do
    if math.floor(v) == v and math.abs(v) < 1e15 then
      parts[#parts + 1] = string.format('"%s":%d', k, v)
    else
      parts[#parts + 1] = string.format('"%s":%.3f', k, v)
    end
  end
  io.write("BENCH_JSON {" .. table.concat(parts, ",") .. "}\n")
end
