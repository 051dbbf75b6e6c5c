-- wrk script of bench/api_latency.py: a mixed read/transition load with bearer tokens.
--
-- Most requests are GET BENCH_READ_PATH with BENCH_READ_TOKEN; every BENCH_WRITE_EVERY-th
-- request of a thread is POST BENCH_WRITE_PATH (its "%d" replaced by the next case id of the
-- thread, read from the file BENCH_IDS) with BENCH_WRITE_BODY and BENCH_WRITE_TOKEN, plus an
-- Idempotency-Key header unique to the run. Each thread takes every n-th id of the file, so no
-- case is moved twice.
--
-- BENCH_RATE > 0 paces the load: each thread sends its share of BENCH_RATE requests/s on a fixed
-- schedule (wrk's delay() hook; the clock is clock_gettime through LuaJIT's ffi), so with enough
-- connections a slow answer does not hold back the next request. wrk 4 measures latency from the
-- moment a request is actually sent, so when every connection is busy a late request is not
-- charged for the wait (coordinated omission); bench/api_latency.py reports the achieved rate so
-- that this shows. BENCH_RATE = 0 (the default): closed loop, as fast as the server answers.
--
-- done() prints one line "WRKJSON {...}" that bench/api_latency.py reads.

local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]])
local CLOCK_MONOTONIC = 1
local ts = ffi.new("bench_timespec")

local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local function env(name, default)
  local v = os.getenv(name)
  if v == nil or v == "" then
    return default
  end
  return v
end

local threads = {}
local thread_count = 0

function setup(thread)
  thread:set("tid", thread_count)
  thread_count = thread_count + 1
  table.insert(threads, thread)
end

-- Per-thread state (each wrk thread has its own Lua state; `tid` is set by setup()).
local read_req, write_path, write_body, write_headers
local write_every, ids, next_id, n_threads, run_id
local interval_ms, next_due
local sent = 0
-- globals: done() reads them through thread:get()
bench_writes, bench_ids_left = 0, 0

function init(args)
  n_threads = tonumber(env("BENCH_THREADS", "1"))
  run_id = env("BENCH_RUN_ID", "run")
  write_every = tonumber(env("BENCH_WRITE_EVERY", "0"))
  read_req = wrk.format("GET", env("BENCH_READ_PATH", "/"), {
    ["Authorization"] = "Bearer " .. env("BENCH_READ_TOKEN", ""),
    ["Accept"] = "application/json",
  })
  write_path = env("BENCH_WRITE_PATH", "/%d")
  write_body = env("BENCH_WRITE_BODY", "{}")
  write_headers = {
    ["Authorization"] = "Bearer " .. env("BENCH_WRITE_TOKEN", ""),
    ["Content-Type"] = "application/json",
    ["Accept"] = "application/json",
  }
  ids = {}
  local path = env("BENCH_IDS", nil)
  if write_every > 0 then
    if path == nil then
      error("BENCH_WRITE_EVERY > 0 needs BENCH_IDS (a file of case ids, one a line)")
    end
    local i = 0
    for line in io.lines(path) do
      if i % n_threads == tid then
        table.insert(ids, tonumber(line))
      end
      i = i + 1
    end
  end
  next_id = 1
  bench_ids_left = #ids
  local rate = tonumber(env("BENCH_RATE", "0"))
  if rate > 0 then
    interval_ms = 1000.0 * n_threads / rate
  end
end

-- Defined only when pacing: wrk then waits delay() ms before each request (closed loop: none).
if tonumber(env("BENCH_RATE", "0")) > 0 then
  function delay()
    local t = now_ms()
    if next_due == nil then
      -- threads start a fraction of an interval apart, so their schedules interleave
      next_due = t + interval_ms * tid / n_threads
    end
    local wait = next_due - t
    next_due = next_due + interval_ms
    if wait < 0 then
      return 0
    end
    return math.floor(wait)
  end
end

function request()
  sent = sent + 1
  if write_every > 0 and sent % write_every == 0 and next_id <= #ids then
    local id = ids[next_id]
    next_id = next_id + 1
    bench_writes = bench_writes + 1
    bench_ids_left = #ids - next_id + 1
    write_headers["Idempotency-Key"] = string.format("bench-%s-%d-%d", run_id, tid, id)
    return wrk.format("POST", string.format(write_path, id), write_headers, write_body)
  end
  return read_req
end

function done(summary, latency, requests)
  local total_writes, unused = 0, 0
  for _, t in ipairs(threads) do
    total_writes = total_writes + (t:get("bench_writes") or 0)
    unused = unused + (t:get("bench_ids_left") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"writes":%d,"ids_left":%d,'
      .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
      .. '"latency_us":{"mean":%.1f,"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d}}\n',
    summary.requests, summary.duration, summary.bytes, total_writes, unused,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max
  ))
end
