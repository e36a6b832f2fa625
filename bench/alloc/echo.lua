-- wrk script for `make -C bench alloc`, the "64 KiB POST echo" workload:
--
--   WRK_CONNECTIONS=C wrk -t1 -c C ... -s echo.lua http://127.0.0.1:PORT/echo -- 1
--
-- Every request is `POST /echo` with a 65,536-byte body (Content-Type application/octet-stream);
-- the server sends the body back. Everything else (one request per write at DEPTH 1, and the
-- RAWLAT line with the latency percentiles wrk measured, which bench/lib/benchutil.py's
-- run_wrk parses) comes from ../http/pipeline.lua, loaded first.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "../http/pipeline.lua")

wrk.method = "POST"
wrk.body = string.rep("a", 65536)
wrk.headers["Content-Type"] = "application/octet-stream"
