-- GET /v1/customers?limit=50 (the first page, newest first).
dofile(os.getenv("CRM_BENCH_DIR") .. "/common.lua")

local req

function init(args)
    req = wrk.format("GET", "/v1/customers?limit=50", bench_auth_headers())
end

function request()
    return req
end
