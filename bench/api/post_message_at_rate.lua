-- wrk script: as post_message.lua, at a fixed total rate of $NOMNOM_BENCH_RATE requests/s over
-- $NOMNOM_BENCH_THREADS wrk threads (wrk has no rate option, and wrk2 is no Debian package).
-- Each thread spaces its requests on a schedule of its own, so a slow answer does not slow the
-- offered rate while connections are free; wrk then reports the latencies at that rate.
local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } nomnom_timespec;
  int clock_gettime(int clock, nomnom_timespec* now);
]]
local clock = ffi.new("nomnom_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, clock) -- CLOCK_MONOTONIC
  return tonumber(clock.tv_sec) * 1000 + tonumber(clock.tv_nsec) / 1e6
end

local file = assert(io.open(os.getenv("NOMNOM_BENCH_PAYLOAD"), "r"))
wrk.method = "POST"
wrk.body = file:read("*a"):gsub("\n+$", "")
wrk.headers["Content-Type"] = "application/json"
file:close()

local interval = tonumber(os.getenv("NOMNOM_BENCH_THREADS")) * 1000 /
                 tonumber(os.getenv("NOMNOM_BENCH_RATE"))
local next_send = nil

function delay()
  local now = now_ms()
  if next_send == nil or next_send < now - 1000 then next_send = now end
  next_send = next_send + interval
  return math.max(0, next_send - interval - now)
end
