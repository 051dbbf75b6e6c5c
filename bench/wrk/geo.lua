-- wrk script of bench/geo_query.py --wrk: NGSI-LD geo-queries from random points.
--
-- Each request is GET /ngsi-ld/v1/entities?type=BENCH_TYPE&georel=...&geometry=...&coordinates=...
-- with the bearer token BENCH_TOKEN, from a random point in the box BENCH_BOX
-- ("minLon,minLat,maxLon,maxLat", default Chongqing 106.3,29.4,106.8,29.8):
--
-- - BENCH_GEOREL=near: georel=near;maxDistance==BENCH_RADIUS (metres), geometry=Point;
-- - BENCH_GEOREL=within: geometry=Polygon, a square of side 2 × BENCH_RADIUS metres centred on
--   the point (so both ask about the same area).
--
-- BENCH_OPTIONS (default keyValues; empty: normalized) and BENCH_LIMIT (default 1000) are added.
-- Each thread seeds its own generator from BENCH_SEED + its number, so runs are repeatable.
-- done() prints one line "WRKJSON {...}" (latency percentiles in microseconds, status errors).

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

local headers, georel, radius, type_, options, limit
local min_lon, min_lat, max_lon, max_lat

local function urlencode(s)
  return (s:gsub("[^%w%-%._~]", function(c)
    return string.format("%%%02X", string.byte(c))
  end))
end

function init(args)
  headers = {
    ["Authorization"] = "Bearer " .. env("BENCH_TOKEN", ""),
    ["Accept"] = "application/json",
  }
  georel = env("BENCH_GEOREL", "near")
  radius = tonumber(env("BENCH_RADIUS", "600"))
  type_ = env("BENCH_TYPE", "PublicToilet")
  options = env("BENCH_OPTIONS", "keyValues")
  limit = env("BENCH_LIMIT", "1000")
  local box = env("BENCH_BOX", "106.3,29.4,106.8,29.8")
  local parts = {}
  for x in string.gmatch(box, "[^,]+") do
    table.insert(parts, tonumber(x))
  end
  min_lon, min_lat, max_lon, max_lat = parts[1], parts[2], parts[3], parts[4]
  math.randomseed(tonumber(env("BENCH_SEED", "2026")) + tid)
end

function request()
  local lon = min_lon + math.random() * (max_lon - min_lon)
  local lat = min_lat + math.random() * (max_lat - min_lat)
  local q
  if georel == "within" then
    local dlat = radius / 111320.0
    local dlon = radius / (111320.0 * math.cos(math.rad(lat)))
    local coords = string.format(
      "[[[%.6f,%.6f],[%.6f,%.6f],[%.6f,%.6f],[%.6f,%.6f],[%.6f,%.6f]]]",
      lon - dlon, lat - dlat, lon + dlon, lat - dlat, lon + dlon, lat + dlat,
      lon - dlon, lat + dlat, lon - dlon, lat - dlat
    )
    q = "georel=within&geometry=Polygon&coordinates=" .. urlencode(coords)
  else
    q = "georel=" .. urlencode(string.format("near;maxDistance==%g", radius))
      .. "&geometry=Point&coordinates=" .. urlencode(string.format("[%.6f,%.6f]", lon, lat))
  end
  local path = "/ngsi-ld/v1/entities?type=" .. urlencode(type_) .. "&" .. q .. "&limit=" .. limit
  if options ~= "" then
    path = path .. "&options=" .. options
  end
  return wrk.format("GET", path, headers)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,'
      .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
      .. '"latency_us":{"mean":%.1f,"p50":%d,"p90":%d,"p95":%d,"p99":%d,"max":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(95),
    latency:percentile(99), latency.max
  ))
end
