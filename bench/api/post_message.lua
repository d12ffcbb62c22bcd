-- wrk script: POST the payload in $NOMNOM_BENCH_PAYLOAD (one JSON document) to the URL given
-- on the command line; every request gets a fresh message id from the API. wrk reports any
-- answer >= 400 (a 503 from a failed publish) as "Non-2xx or 3xx responses".
local file = assert(io.open(os.getenv("NOMNOM_BENCH_PAYLOAD"), "r"))
wrk.method = "POST"
wrk.body = file:read("*a"):gsub("\n+$", "")
wrk.headers["Content-Type"] = "application/json"
file:close()
