-- tests/bench/common.lua — shared by get.lua, list.lua and post.lua (loaded with dofile).
--
-- Environment (set by tests/bench/run.sh):
--   CRM_BENCH_TOKEN  bearer token sent on every request
--   CRM_BENCH_OUT    file the done() summary is written to as one JSON object (stdout if unset)
--
-- Every thread gets a distinct number `tid` (setup runs in the main thread, before init).

local next_tid = 0

function setup(thread)
    next_tid = next_tid + 1
    thread:set("tid", next_tid)
end

function bench_auth_headers(extra)
    local token = os.getenv("CRM_BENCH_TOKEN")
    if not token or token == "" then
        error("CRM_BENCH_TOKEN is not set")
    end
    local h = { ["Authorization"] = "Bearer " .. token }
    for k, v in pairs(extra or {}) do
        h[k] = v
    end
    return h
end

-- Seeds math.random differently in every thread.
function bench_seed()
    math.randomseed(os.time() * 1000 + (tid or 0) * 7919)
    for _ = 1, 10 do
        math.random()
    end
end

-- Latencies from wrk are in microseconds; written in milliseconds.
function done(summary, latency, requests)
    local e = summary.errors
    local secs = summary.duration / 1e6
    local out = string.format(
        '{"requests":%d,"duration_s":%.6f,"bytes":%d,"rps":%.2f,' ..
        '"lat_mean_ms":%.3f,"lat_stdev_ms":%.3f,"lat_max_ms":%.3f,' ..
        '"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,"p999_ms":%.3f,' ..
        '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}',
        summary.requests, secs, summary.bytes, summary.requests / secs,
        latency.mean / 1000, latency.stdev / 1000, latency.max / 1000,
        latency:percentile(50) / 1000, latency:percentile(90) / 1000,
        latency:percentile(99) / 1000, latency:percentile(99.9) / 1000,
        e.connect, e.read, e.write, e.status, e.timeout)
    local path = os.getenv("CRM_BENCH_OUT")
    if path and path ~= "" then
        local f = assert(io.open(path, "w"))
        f:write(out, "\n")
        f:close()
    else
        io.write(out, "\n")
    end
end
