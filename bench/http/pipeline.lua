-- wrk script for `make -C bench http`:
--
--   WRK_CONNECTIONS=C wrk -t1 -c C ... -s pipeline.lua URL -- DEPTH
--
-- Pipelining: every write sends DEPTH copies of wrk's default request for URL (GET, Host header)
-- back to back; wrk counts each response and writes the next batch when all DEPTH responses of
-- the previous one are in. DEPTH 1 is ordinary keep-alive.
--
-- Latency. wrk records one latency sample per write (per batch), from the write to the last
-- response of the batch, then "corrects" the histogram for coordinated omission with an interval
-- computed per *response* (duration / (responses / connections)). With DEPTH > 1 that interval
-- is DEPTH times too short, so the correction adds most of its synthetic samples below the
-- smallest real one, where wrk's percentile code never looks: `--latency` prints 0.00us for
-- the upper percentiles. done() below undoes the correction exactly (stats_correct() only
-- ever adds a bucket's original count to the buckets 1, 2, ... intervals below it) and prints
-- the percentiles of the samples wrk actually measured, one line, for run.py:
--
--   RAWLAT count=N p50=US p90=US p99=US max=US interval=US done_cpu=SECONDS
--
-- (done_cpu is the CPU time done() itself took; run.py subtracts it from wrk's CPU time.)
init = function(args)
    local depth = tonumber(args[1]) or 16
    local r = {}
    for i = 1, depth do
        r[i] = wrk.format(nil, wrk.path)
    end
    batch = table.concat(r)
end

request = function()
    return batch
end

-- done() runs in wrk's main Lua state, where init() never ran: the connection count comes from
-- the environment.
local connections = tonumber(os.getenv("WRK_CONNECTIONS") or "") or 64

-- The histogram, as {values ascending}, {value -> count}. Fast path: read wrk's `stats` struct
-- (src/stats.h: count, limit, min, max, data[]) through LuaJIT's FFI, checked against what the
-- Lua API says (min, max, number of populated buckets). Slow path, if that check fails: the
-- API's latency(i), which scans from min for every bucket (seconds for a long tail).
local function histogram(latency)
    local values, counts = {}, {}
    local ok = pcall(function()
        local ffi = require("ffi")
        ffi.cdef("typedef struct { uint64_t count, limit, min, max; uint64_t data[?]; } wrk_stats_t;")
        local s = ffi.cast("wrk_stats_t **", latency)[0]
        local lo, hi = tonumber(s.min), tonumber(s.max)
        assert(lo == latency.min and hi == latency.max)
        for v = lo, hi do
            local c = tonumber(s.data[v])
            if c > 0 then
                values[#values + 1] = v
                counts[v] = c
            end
        end
        assert(#values == #latency)
    end)
    if ok then return values, counts end
    values, counts = {}, {}
    for i = 1, #latency do
        local v, c = latency(i)  -- i-th populated bucket (ascending): value in µs, count
        values[i] = v
        counts[v] = c
    end
    return values, counts
end

done = function(summary, latency, requests)
    local started = os.clock()
    local values, final = histogram(latency)
    local buckets = #values
    -- The interval wrk used (integer arithmetic, as in wrk.c).
    local perConnection = math.floor(summary.requests / connections)
    local e = perConnection > 0 and math.floor(summary.duration / perConnection) or 0
    -- orig[m] = final[m] - sum_{k>=1} orig[m + k e] for m > e; top-down with running sums.
    local orig, sums = {}, {}
    local total = 0
    for i = buckets, 1, -1 do
        local v = values[i]
        local o = final[v]
        if e > 0 and v > e then o = o - (sums[v + e] or 0) end
        if o < 0 then o = 0 end
        orig[v] = o
        sums[v] = o + (e > 0 and (sums[v + e] or 0) or 0)
        total = total + o
    end
    local function percentile(p)
        local rank = math.max(1, math.ceil(p / 100 * total))
        local seen = 0
        for i = 1, buckets do
            seen = seen + orig[values[i]]
            if seen >= rank then return values[i] end
        end
        return values[buckets] or 0
    end
    local p50, p90, p99 = percentile(50), percentile(90), percentile(99)
    io.write(string.format("RAWLAT count=%d p50=%d p90=%d p99=%d max=%d interval=%d done_cpu=%.3f\n",
        total, p50, p90, p99, buckets > 0 and values[buckets] or 0, e, os.clock() - started))
end
