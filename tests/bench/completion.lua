-- GET /v1/reports/visit-completion?period=2026 (every owner: the seeded year's ~40,000 plans).
dofile(os.getenv("CRM_BENCH_DIR") .. "/common.lua")

local req

function init(args)
    req = wrk.format("GET", "/v1/reports/visit-completion?period=2026", bench_auth_headers())
end

function request()
    return req
end
