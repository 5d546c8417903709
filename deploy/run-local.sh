#!/usr/bin/env bash
# deploy/run-local.sh — build and run crm-service on this machine, in the foreground.
#
#   deploy/run-local.sh           install missing packages, build Release, migrate, run
#   deploy/run-local.sh --demo    same, then seed demo users and ~50 customers (once)
#
# Without CRM_DATABASE_URL a private PostgreSQL 15 cluster is kept in .local/pg on port
# ${CRM_LOCAL_PG_PORT:-54329} (started here, stopped again on exit if this script started it).
# Generated secrets are kept in .local/jwt-secret and .local/admin-password (mode 600) and reused;
# CRM_JWT_SECRET / CRM_ADMIN_PASSWORD from the environment win. Ctrl-C stops everything cleanly.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$(pwd -P)
# shellcheck source=pg-cluster.sh
source deploy/pg-cluster.sh

demo=0
for arg in "$@"; do
    case $arg in
        --demo) demo=1 ;;
        -h | --help)
            sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            printf 'run-local.sh: unknown argument: %s (try --help)\n' "$arg" >&2
            exit 2
            ;;
    esac
done

say() { printf '==> %s\n' "$*"; }
die() {
    printf 'run-local.sh: %s\n' "$*" >&2
    exit 1
}

local_dir=$repo/.local
binary=$repo/build/release/crm-service
demo_password=demo-pass-2026

# Where the service listens (CRM_LISTEN, default 127.0.0.1:8080) and where curl reaches it.
listen=${CRM_LISTEN:-127.0.0.1:8080}
listen_port=${listen##*:}
listen_host=${listen%:*}
listen_host=${listen_host#[}
listen_host=${listen_host%]}
case $listen_host in
    '' | 0.0.0.0 | '*') url_host=127.0.0.1 ;;
    ::) url_host='[::1]' ;;
    *:*) url_host="[$listen_host]" ;;
    *) url_host=$listen_host ;;
esac
base_url="http://$url_host:$listen_port"

# Status 0 when something already listens on host:port (bind fails even with SO_REUSEADDR).
port_busy() {
    python3 - "$1" "$2" <<'EOF'
import socket, sys
host, port = sys.argv[1] or "0.0.0.0", int(sys.argv[2])
family = socket.AF_INET6 if ":" in host else socket.AF_INET
s = socket.socket(family, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind((host, port))
except OSError:
    sys.exit(0)
finally:
    s.close()
sys.exit(1)
EOF
}

check_listen_port() {
    if port_busy "$listen_host" "$listen_port"; then
        die "port $listen_port on ${listen_host:-all addresses} is already in use (another crm-service?); stop it or set CRM_LISTEN=127.0.0.1:<other port>"
    fi
}

svc_pid=""
pg_dir=""
started_pg=0

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$svc_pid" ] && kill -0 "$svc_pid" 2>/dev/null; then
        say "stopping crm-service (pid $svc_pid)"
        stop_process "$svc_pid" crm-service
    fi
    if [ "$started_pg" -eq 1 ]; then
        say "stopping PostgreSQL in $pg_dir"
        pg_cluster_stop "$pg_dir" || true
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Print the content of a secret file, creating it (mode 600) with GENERATOR's output if missing.
secret_file() {
    local file=$1 generator=$2
    if [ ! -s "$file" ]; then
        (umask 077 && "$generator" >"$file.tmp" && mv -f "$file.tmp" "$file")
    fi
    chmod 600 "$file"
    cat "$file"
}
gen_jwt_secret() { head -c 48 /dev/urandom | base64 -w0; }
gen_admin_password() { head -c 18 /dev/urandom | base64 -w0 | tr '+/' '-_'; }

# Quote a string for a POSIX shell command line.
shell_quote() {
    local s=${1//\'/\'\\\'\'}
    printf "'%s'" "$s"
}

json_login_body() {
    python3 -c 'import json, sys; print(json.dumps({"username": sys.argv[1], "password": sys.argv[2]}, ensure_ascii=False))' "$1" "$2"
}

# ---------------------------------------------------------------------------------------------
check_listen_port

say "checking packages"
crm_install_deps

say "building Release into build/release"
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j2
[ -x "$binary" ] || die "build finished but $binary is missing"

mkdir -p "$local_dir"
chmod 755 "$local_dir" # PostgreSQL (user postgres) must traverse it to reach .local/pg

if [ -z "${CRM_DATABASE_URL:-}" ]; then
    pg_dir=$local_dir/pg
    pg_port=${CRM_LOCAL_PG_PORT:-54329}
    if ! pg_cluster_running "$pg_dir"; then
        say "starting PostgreSQL 15 in .local/pg on 127.0.0.1:$pg_port"
        started_pg=1
    else
        say "PostgreSQL in .local/pg is already running; reusing it (it will be left running)"
    fi
    pg_cluster_start "$pg_dir" "$pg_port"
    pg_cluster_ensure_db "$pg_dir" "$pg_port" crm
    export CRM_DATABASE_URL="postgresql://postgres@127.0.0.1:$pg_port/crm"
fi

if [ -z "${CRM_JWT_SECRET:-}" ]; then
    CRM_JWT_SECRET=$(secret_file "$local_dir/jwt-secret" gen_jwt_secret)
    export CRM_JWT_SECRET
fi
if [ -z "${CRM_ADMIN_PASSWORD:-}" ]; then
    CRM_ADMIN_PASSWORD=$(secret_file "$local_dir/admin-password" gen_admin_password)
    export CRM_ADMIN_PASSWORD
fi

say "applying migrations"
"$binary" migrate

check_listen_port
say "starting crm-service on $listen"
"$binary" &
svc_pid=$!

ready=0
for _ in $(seq 1 600); do
    if ! kill -0 "$svc_pid" 2>/dev/null; then
        rc=0
        wait "$svc_pid" || rc=$?
        svc_pid=""
        die "crm-service exited during start-up (status $rc)"
    fi
    if curl -fs --max-time 2 -o /dev/null "$base_url/readyz"; then
        ready=1
        break
    fi
    sleep 0.1
done
[ "$ready" -eq 1 ] || die "crm-service did not become ready within 60 s ($base_url/readyz)"

# ---------------------------------------------------------------------------------------------
# Demo data, seeded through the public HTTP API.

api_body=""
api_status=""
api_tmp=""

# api METHOD PATH TOKEN [BODY [IDEMPOTENCY_KEY]] — sets api_status and api_body.
api() {
    local method=$1 path=$2 token=$3 body=${4:-} key=${5:-}
    local args=(-sS --max-time 30 -o "$api_tmp" -w '%{http_code}' -X "$method"
        -H 'Accept: application/json')
    [ -n "$token" ] && args+=(-H "Authorization: Bearer $token")
    [ -n "$key" ] && args+=(-H "Idempotency-Key: $key")
    if [ -n "$body" ]; then
        args+=(-H 'Content-Type: application/json' --data-binary @-)
    fi
    api_status=$(printf '%s' "$body" | curl "${args[@]}" "$base_url$path") || api_status=000
    api_body=$(cat "$api_tmp" 2>/dev/null || true)
}

# json_field FIELD... — the first present field of the JSON object in api_body.
json_field() {
    printf '%s' "$api_body" | python3 -c '
import json, sys
try:
    d = json.load(sys.stdin)
except ValueError:
    sys.exit(1)
for f in sys.argv[1:]:
    if isinstance(d, dict) and d.get(f) not in (None, ""):
        print(d[f])
        sys.exit(0)
sys.exit(1)' "$@"
}

api_fail() {
    printf 'run-local.sh: demo: %s → HTTP %s: %s\n' "$1" "$api_status" "${api_body:0:400}" >&2
}

# login USER PASSWORD — prints an access token.
login() {
    api POST /v1/auth/token "" "$(json_login_body "$1" "$2")"
    if [ "$api_status" != 200 ] && [ "$api_status" != 201 ]; then
        api_fail "login as $1"
        return 1
    fi
    json_field access_token token || {
        api_fail "no token in the login response for $1"
        return 1
    }
}

# One line per demo customer: owner TAB customer JSON TAB primary contact JSON (deterministic).
demo_plan() {
    python3 - <<'EOF'
import json, random

rng = random.Random(2026)
cities = [  # city, region, area code, districts
    ("杭州", "华东", "0571", ["萧山", "余杭", ""]), ("绍兴", "华东", "0575", ["柯桥", "上虞", ""]),
    ("宁波", "华东", "0574", ["鄞州", ""]), ("嘉兴", "华东", "0573", ["桐乡", "海宁"]),
    ("湖州", "华东", "0572", ["织里", ""]), ("苏州", "华东", "0512", ["吴江", "常熟", "张家港"]),
    ("无锡", "华东", "0510", ["江阴", ""]), ("南通", "华东", "0513", ["海门", ""]),
    ("常州", "华东", "0519", [""]), ("青岛", "华东", "0532", ["即墨", ""]),
    ("泉州", "华东", "0595", ["晋江", "石狮"]), ("广州", "华南", "020", ["番禺", ""]),
    ("佛山", "华南", "0757", ["南海", "顺德"]), ("东莞", "华南", "0769", ["虎门", ""]),
    ("中山", "华南", "0760", [""]), ("汕头", "华南", "0754", ["潮南", ""]),
    ("北京", "华北", "010", [""]), ("天津", "华北", "022", [""]),
    ("石家庄", "华北", "0311", [""]), ("保定", "华北", "0312", ["高阳", ""]),
    ("武汉", "华中", "027", ["汉阳", ""]), ("郑州", "华中", "0371", [""]),
    ("长沙", "华中", "0731", [""]), ("成都", "西南", "028", [""]),
    ("重庆", "西南", "023", [""]), ("西安", "西北", "029", [""]),
    ("沈阳", "东北", "024", [""]), ("大连", "东北", "0411", [""]),
]
trade = ["华纺", "锦绣", "恒丰", "永盛", "鑫源", "瑞丰", "宏达", "天虹", "嘉禾", "盛泰", "金鹰",
         "联发", "富润", "新明", "德隆", "东升", "汇通", "振兴", "亿丰", "美润", "雅琪", "百合",
         "博洋", "凯达", "华美", "森源", "兴业", "银河", "天成", "佳和", "丝路", "云锦"]
keywords = {
    "服装": ["服饰", "制衣", "时装", "服装", "纺织", "针织"],
    "家纺": ["家纺", "家居用品", "床上用品", "布艺", "布业", "印染"],
    "产业用纺织品": ["无纺布", "产业用布", "过滤材料", "土工材料", "篷布", "特种纺织"],
}
suffixes = ["有限公司", "有限公司", "有限公司", "股份有限公司", "实业有限公司"]
surnames = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐许韩冯邓曹"
given = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛",
         "明", "超", "秀英", "建华", "海燕", "志强", "晓燕", "文博", "雪梅", "国平", "丽娟"]
titles = ["采购经理", "采购经理", "采购总监", "总经理", "副总经理", "技术经理", "质量主管", "采购专员"]
mobile_prefixes = ["138", "139", "135", "136", "137", "150", "151", "158", "159", "186", "187",
                   "188", "133", "153", "180", "189", "177"]

seen = set()
n = 0
while n < 50:
    city, region, area, districts = rng.choice(cities)
    industry = rng.choice(list(keywords))
    keyword = rng.choice(keywords[industry])
    suffix = rng.choice(suffixes)
    if keyword.endswith("业"):  # no "布业实业有限公司"
        suffix = suffix.replace("实业", "")
    name = city + rng.choice(districts) + rng.choice(trade) + keyword + suffix
    if name in seen:
        continue
    seen.add(name)
    customer = {
        "name": name,
        "region": region,
        "industry": industry,
        "status": "active" if rng.random() < 0.7 else "prospect",
        "phone": "%s-%08d" % (area, rng.randrange(20000000, 89999999)),
    }
    contact = {
        "name": rng.choice(surnames) + rng.choice(given),
        "title": rng.choice(titles),
        "mobile": rng.choice(mobile_prefixes) + "%08d" % rng.randrange(10**8),
        "is_primary": True,
    }
    owner = "sales%d" % (n % 3 + 1)
    print("\t".join([owner, json.dumps(customer, ensure_ascii=False), json.dumps(contact, ensure_ascii=False)]))
    n += 1
EOF
}

demo_users=(
    "sales1|陈晓东|sales"
    "sales2|林静|sales"
    "sales3|周海涛|sales"
    "manager1|王建国|sales_manager"
    "finance1|刘芳|finance"
    "office1|赵敏|office"
    "erp1|ERP 接口|erp"
)

seed_demo() {
    local admin_token entry username display role body
    admin_token=$(login admin "$CRM_ADMIN_PASSWORD") || return 1

    say "demo: creating users"
    for entry in "${demo_users[@]}"; do
        IFS='|' read -r username display role <<<"$entry"
        body=$(python3 -c 'import json, sys
print(json.dumps(dict(zip(["username", "display_name", "role", "password"], sys.argv[1:])), ensure_ascii=False))' \
            "$username" "$display" "$role" "$demo_password")
        api POST /v1/users "$admin_token" "$body" "crm-demo-user-$username"
        case $api_status in
            200 | 201) ;;
            409) printf '    %s exists already\n' "$username" ;;
            *) api_fail "create user $username"; return 1 ;;
        esac
    done

    say "demo: creating customers and their primary contacts"
    local -A tokens=()
    local u
    for u in sales1 sales2 sales3; do
        tokens[$u]=$(login "$u" "$demo_password") || return 1
    done

    local plan owner customer contact id i=0 created=0 existing=0
    plan=$(demo_plan) || return 1
    while IFS=$'\t' read -r owner customer contact; do
        i=$((i + 1))
        api POST /v1/customers "${tokens[$owner]}" "$customer" "crm-demo-customer-$i"
        case $api_status in
            200 | 201) ;;
            409)
                existing=$((existing + 1))
                continue
                ;;
            *) api_fail "create customer $i"; return 1 ;;
        esac
        id=$(json_field id) || {
            api_fail "no id in the created customer $i"
            return 1
        }
        api POST "/v1/customers/$id/contacts" "${tokens[$owner]}" "$contact" "crm-demo-contact-$i"
        case $api_status in
            200 | 201) created=$((created + 1)) ;;
            *) api_fail "create contact for customer $id"; return 1 ;;
        esac
    done <<<"$plan"
    printf '    %d customers with a primary contact created' "$created"
    [ "$existing" -gt 0 ] && printf ', %d existed already' "$existing"
    printf '\n'
}

print_demo_logins() {
    printf '\nDemo logins (password %s):\n' "$demo_password"
    local entry username display role
    for entry in "${demo_users[@]}"; do
        IFS='|' read -r username display role <<<"$entry"
        printf '  %-9s %-14s %s\n' "$username" "$role" "$display"
    done
}

if [ "$demo" -eq 1 ]; then
    if [ -e "$local_dir/demo-seeded" ]; then
        say "demo data was seeded before (remove .local/demo-seeded to seed again)"
        print_demo_logins
    else
        api_tmp=$(mktemp)
        if seed_demo; then
            date -u +%Y-%m-%dT%H:%M:%SZ >"$local_dir/demo-seeded"
            print_demo_logins
        else
            printf 'run-local.sh: demo seeding failed (see above); the service keeps running\n' >&2
        fi
        rm -f "$api_tmp"
    fi
fi

# ---------------------------------------------------------------------------------------------
login_body=$(json_login_body admin "$CRM_ADMIN_PASSWORD")
token_cmd="curl -s -X POST $base_url/v1/auth/token -H 'Content-Type: application/json' -d $(shell_quote "$login_body")"
extract="python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get(\"access_token\") or d[\"token\"])'"

masked_db_url=$(printf '%s' "$CRM_DATABASE_URL" | sed -E 's#(://[^:/@]*):[^@/]*@#\1:***@#')
cat <<EOF

crm-service is ready at $base_url (pid $svc_pid; Ctrl-C stops it)
  database: $masked_db_url
  admin login: username admin, password $CRM_ADMIN_PASSWORD

Get a token:
  $token_cmd
List customers with it:
  TOKEN=\$($token_cmd | $extract) && curl -s $base_url/v1/customers -H "Authorization: Bearer \$TOKEN"

EOF

rc=0
wait "$svc_pid" || rc=$?
svc_pid=""
say "crm-service exited with status $rc"
exit "$rc"
