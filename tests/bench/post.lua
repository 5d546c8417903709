-- POST /v1/customers with a unique name per request: run tag, thread number and a counter.
-- Env: CRM_BENCH_RUN (a tag that differs between warm-up and measured runs), plus common.lua's.
dofile(os.getenv("CRM_BENCH_DIR") .. "/common.lua")

local headers
local counter = 0
local run_tag

function init(args)
    headers = bench_auth_headers({ ["Content-Type"] = "application/json" })
    run_tag = os.getenv("CRM_BENCH_RUN") or "run"
end

function request()
    counter = counter + 1
    local body = string.format('{"name":"压测客户 %s-t%d-%d"}',
        run_tag, tid or 0, counter)
    return wrk.format("POST", "/v1/customers", headers, body)
end
