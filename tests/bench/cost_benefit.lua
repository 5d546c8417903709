-- GET /v1/reports/cost-benefit?year=<this year>&group_by=tier (CRM_BENCH_YEAR, the business year
-- run.sh reads from the database), as the sales manager.
dofile(os.getenv("CRM_BENCH_DIR") .. "/common.lua")

local req

function init(args)
    local year = os.getenv("CRM_BENCH_YEAR")
    if not year or year == "" then
        error("CRM_BENCH_YEAR is not set")
    end
    req = wrk.format("GET", "/v1/reports/cost-benefit?year=" .. year .. "&group_by=tier", bench_auth_headers())
end

function request()
    return req
end
