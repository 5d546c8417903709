-- GET /v1/reports/complaints?from=<Jan 1>&to=<Dec 31> of this year (CRM_BENCH_YEAR), as the sales
-- manager: every complaint received this year, overall.
dofile(os.getenv("CRM_BENCH_DIR") .. "/common.lua")

local req

function init(args)
    local year = os.getenv("CRM_BENCH_YEAR")
    if not year or year == "" then
        error("CRM_BENCH_YEAR is not set")
    end
    req = wrk.format("GET", "/v1/reports/complaints?from=" .. year .. "-01-01&to=" .. year .. "-12-31",
        bench_auth_headers())
end

function request()
    return req
end
