-- GET /v1/customers/{id} with a random id per request (the ids file holds one UUID a line).
-- Env: CRM_BENCH_IDS (the ids file), plus those of common.lua.
dofile(os.getenv("CRM_BENCH_DIR") .. "/common.lua")

local reqs = {}

function init(args)
    bench_seed()
    local headers = bench_auth_headers()
    local f = assert(io.open(os.getenv("CRM_BENCH_IDS"), "r"))
    for id in f:lines() do
        if id ~= "" then
            -- Pre-formatted so wrk spends no time building requests.
            reqs[#reqs + 1] = wrk.format("GET", "/v1/customers/" .. id, headers)
        end
    end
    f:close()
    if #reqs == 0 then
        error("no ids in " .. os.getenv("CRM_BENCH_IDS"))
    end
end

function request()
    return reqs[math.random(#reqs)]
end
