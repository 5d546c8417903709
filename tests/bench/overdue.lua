-- GET /v1/reports/overdue?kind=contact&limit=50, the first page of the contact worklist. run.sh
-- runs it twice: as the sales manager (every owner) and as a sales rep (their customers only).
dofile(os.getenv("CRM_BENCH_DIR") .. "/common.lua")

local req

function init(args)
    req = wrk.format("GET", "/v1/reports/overdue?kind=contact&limit=50", bench_auth_headers())
end

function request()
    return req
end
