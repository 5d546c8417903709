-- GET /v1/reports/kpis, the KPI board of the current quarter (the default period) with the previous
-- quarter beside it. run.sh runs it twice: as the sales manager (every customer) and as a sales rep
-- (their ~2,000 customers).
dofile(os.getenv("CRM_BENCH_DIR") .. "/common.lua")

local req

function init(args)
    req = wrk.format("GET", "/v1/reports/kpis", bench_auth_headers())
end

function request()
    return req
end
