#!/usr/bin/env python3
"""Helpers for tests/bench/run.sh (standard library only).

  benchlib.py json-get KEY                     print KEY of the JSON object on stdin
  benchlib.py cpu SVC_PID POSTMASTER_PID       print a CPU snapshot (JSON) of the machine,
                                               crm-service and the PostgreSQL cluster
  benchlib.py log-slice LOG START END ROUTE    service-side latency of ROUTE from the access log
                                               between byte offsets START and END (JSON)
  benchlib.py pool-samples FILE                max of the sampled crm_db_pool_* gauges (JSON)
  benchlib.py pgbench FILE                     parse a pgbench report (JSON)
  benchlib.py report RAW_DIR OUT_JSON          print the results table, write OUT_JSON;
                                               exit 3 if a run had errors
"""

import json
import os
import re
import sys
import time

TARGETS = {  # scenario: minimum ratio of service req/s to the pgbench ceiling
    "get": 0.45,
    "list": 0.35,
    "post": 0.75,
    "overdue": 0.5,
    "overdue_sales": 0.5,
    "completion": 0.8,
    "kpis": 0.8,
    "kpis_sales": 0.8,
    "cost_benefit": 0.8,
    "complaints": 0.8,
}
GET_P99_MAX_MS = 15.0
PEAK_RSS_MAX_MB = 48.0
LABELS = {
    "get": "GET /v1/customers/{id}",
    "list": "GET /v1/customers?limit=50",
    "post": "POST /v1/customers",
    "overdue": "GET /v1/reports/overdue?kind=contact",
    "overdue_sales": "… overdue as a sales rep (2,000)",
    "completion": "GET /v1/reports/visit-completion",
    "kpis": "GET /v1/reports/kpis (quarter)",
    "kpis_sales": "… KPI board as a sales rep (2,000)",
    "cost_benefit": "GET /v1/reports/cost-benefit",
    "complaints": "GET /v1/reports/complaints",
}


def _proc_times(pid):
    """(utime+stime, cutime+cstime, ppid, utime) in clock ticks, or None if the process is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rindex(")") + 2:].split()
    # fields[0] is the state (field 3 of proc(5)); utime is field 14.
    return int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14]), int(fields[1]), int(fields[11])


def cmd_cpu(svc_pid, pm_pid):
    with open("/proc/stat") as f:
        cpu = [int(x) for x in f.readline().split()[1:]]
    total = sum(cpu[:8])  # user nice system idle iowait irq softirq steal
    idle = cpu[3] + cpu[4]
    svc = _proc_times(svc_pid)
    pg = 0
    pm = _proc_times(pm_pid)
    if pm:
        # Exited backends (pgbench's connections) are accounted in the postmaster's cutime.
        pg = pm[0] + pm[1]
        for name in os.listdir("/proc"):
            if name.isdigit() and name != str(pm_pid):
                t = _proc_times(name)
                if t and t[2] == int(pm_pid):
                    pg += t[0]
    ctx = 0
    try:
        for tid in os.listdir(f"/proc/{svc_pid}/task"):
            with open(f"/proc/{svc_pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        ctx += int(line.split()[1])
    except OSError:
        pass
    snap = {"t": time.monotonic(), "total": total, "idle": idle, "svc": svc[0] if svc else 0,
            "svc_user": svc[3] if svc else 0, "svc_ctx": ctx, "pg": pg,
            "hz": os.sysconf("SC_CLK_TCK"), "ncpu": os.cpu_count()}
    print(json.dumps(snap))


def cpu_delta(a, b, client=None):
    """CPU used between two snapshots, in cores (1.0 = one core busy all the time).
    client: {"client_cpu_s": …} for the load generator (wrk or pgbench) over the same window."""
    if not a or not b:
        return None
    hz = a["hz"]
    wall = b["t"] - a["t"]
    total = b["total"] - a["total"]
    busy_share = 1 - (b["idle"] - a["idle"]) / total if total else 0.0
    svc = (b["svc"] - a["svc"]) / hz / wall
    pg = (b["pg"] - a["pg"]) / hz / wall
    busy = busy_share * a["ncpu"]
    out = {"wall_s": round(wall, 2), "ncpu": a["ncpu"], "machine_busy_cores": round(busy, 2),
           "crm_service_cores": round(svc, 2), "postgres_cores": round(pg, 2)}
    if "svc_user" in a:
        user = (b["svc_user"] - a["svc_user"]) / hz / wall
        out["crm_service_user_cores"] = round(user, 2)
        out["crm_service_system_cores"] = round(svc - user, 2)
        out["crm_service_context_switches_per_s"] = round((b["svc_ctx"] - a["svc_ctx"]) / wall)
    if client and client.get("client_cpu_s") is not None:
        cl = client["client_cpu_s"] / wall
        out["load_generator_cores"] = round(cl, 2)
        out["other_cores"] = round(max(busy - svc - pg - cl, 0.0), 2)
    else:
        out["load_generator_and_other_cores"] = round(max(busy - svc - pg, 0.0), 2)
    return out


def percentile(sorted_vals, p):
    if not sorted_vals:
        return None
    k = (len(sorted_vals) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(sorted_vals) - 1)
    return sorted_vals[lo] + (sorted_vals[hi] - sorted_vals[lo]) * (k - lo)


def cmd_log_slice(path, start, end, route):
    with open(path, "rb") as f:
        f.seek(start)
        data = f.read(end - start)
    durations, statuses, other = [], {}, 0
    for line in data.splitlines():
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if ev.get("msg") != "request":
            other += 1
            continue
        if ev.get("route") != route:
            continue
        statuses[ev.get("status")] = statuses.get(ev.get("status"), 0) + 1
        durations.append(float(ev.get("duration_ms", "nan")))
    durations.sort()
    n = len(durations)
    out = {"requests": n, "statuses": statuses, "other_log_lines": other}
    if n:
        out.update({"mean_ms": round(sum(durations) / n, 3), "p50_ms": round(percentile(durations, 50), 3),
                    "p99_ms": round(percentile(durations, 99), 3), "max_ms": round(durations[-1], 3)})
    print(json.dumps(out))


def cmd_pool_samples(path):
    vals = {}
    n = 0
    try:
        with open(path) as f:
            for line in f:
                m = re.match(r"^(crm_db_pool_\w+) (\d+)$", line.strip())
                if m:
                    if m.group(1) == "crm_db_pool_size":
                        n += 1
                    vals.setdefault(m.group(1), []).append(int(m.group(2)))
    except OSError:
        pass
    out = {"samples": n}
    for k, v in vals.items():
        out[k.replace("crm_db_pool_", "") + "_max"] = max(v)
        out[k.replace("crm_db_pool_", "") + "_mean"] = round(sum(v) / len(v), 1)
    print(json.dumps(out))


def parse_pgbench(text):
    def grab(pattern, conv=float):
        m = re.search(pattern, text, re.M)
        return conv(m.group(1)) if m else None

    return {
        "tps": grab(r"^tps = ([\d.]+) \(without initial connection time\)"),
        "latency_avg_ms": grab(r"^latency average = ([\d.]+) ms"),
        "latency_stddev_ms": grab(r"^latency stddev = ([\d.]+) ms"),
        "transactions": grab(r"^number of transactions actually processed: (\d+)", int),
        "failed": grab(r"^number of failed transactions: (\d+)", int) or 0,
        "duration_s": grab(r"^duration: (\d+) s", int),
    }


def cmd_pgbench(path):
    with open(path) as f:
        print(json.dumps(parse_pgbench(f.read())))


def _load(path, default=None):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def _fmt(v, spec):
    return format(v, spec) if isinstance(v, (int, float)) else "-"


def cmd_report(raw, out_json):
    meta = _load(os.path.join(raw, "meta.json"), {})
    results = {"meta": meta, "scenarios": {}, "checks": []}
    problems = []
    rows = []
    only_core = os.environ.get("CRM_BENCH_ONLY") == "core"
    for scen, target in TARGETS.items():
        if only_core and scen not in ("get", "list", "post"):
            continue
        wrk = _load(os.path.join(raw, f"{scen}.wrk.json"))
        pg = _load(os.path.join(raw, f"{scen}.pgbench.json"))
        if wrk is None or pg is None:
            problems.append(f"{scen}: missing results")
            continue
        svc_log = _load(os.path.join(raw, f"{scen}.svclog.json"), {})
        def cpu(kind):
            return cpu_delta(_load(os.path.join(raw, f"{scen}.{kind}.cpu0.json")),
                             _load(os.path.join(raw, f"{scen}.{kind}.cpu1.json")),
                             _load(os.path.join(raw, f"{scen}.{kind}.client.json")))

        pool = _load(os.path.join(raw, f"{scen}.pool.json"), {})
        connections = _load(os.path.join(raw, f"{scen}.meta.json"), {}).get("connections")
        errs = wrk["errors"]
        nerr = sum(errs.values())
        if nerr:
            problems.append(f"{scen}: wrk reported errors {errs}")
        if pg.get("failed"):
            problems.append(f"{scen}: pgbench reported {pg['failed']} failed transactions")
        if not pg.get("tps"):
            problems.append(f"{scen}: no tps in the pgbench output")
        ratio = wrk["rps"] / pg["tps"] if pg.get("tps") else None
        ok = ratio is not None and ratio >= target
        results["scenarios"][scen] = {
            "label": LABELS[scen],
            "connections": connections,
            "service": wrk,
            "service_side": svc_log,
            "service_cpu": cpu("wrk"),
            "db_pool": pool,
            "ceiling": pg,
            "ceiling_cpu": cpu("pgbench"),
            "ratio": round(ratio, 3) if ratio is not None else None,
            "target_ratio": target,
            "pass": ok,
            "peak_rss_mb_after": _load(os.path.join(raw, f"{scen}.hwm.json"), {}).get("vm_hwm_mb"),
            "alone": _load(os.path.join(raw, f"{scen}.alone.json")),
        }
        rows.append((LABELS[scen], connections, wrk["rps"], wrk["p50_ms"], wrk["p99_ms"], pg.get("tps"), ratio,
                     f">= {target:.2f}", "PASS" if ok else "MISS"))
        results["checks"].append({"check": f"{scen} ratio", "value": ratio, "target": f">= {target}", "pass": ok})

    get = results["scenarios"].get("get")
    p99_ok = None
    if get:
        p99 = get["service"]["p99_ms"]
        p99_ok = p99 <= GET_P99_MAX_MS
        results["checks"].append({"check": "get p99 ms", "value": p99, "target": f"<= {GET_P99_MAX_MS}",
                                  "pass": p99_ok})
    mem = _load(os.path.join(raw, "rss.json"), {})
    rss_ok = None
    if mem.get("vm_hwm_mb") is not None:
        rss_ok = mem["vm_hwm_mb"] <= PEAK_RSS_MAX_MB
        results["checks"].append({"check": "peak RSS MB", "value": mem["vm_hwm_mb"], "target": f"<= {PEAK_RSS_MAX_MB}",
                                  "pass": rss_ok})
    results["memory"] = mem
    results["problems"] = problems
    results["all_targets_met"] = bool(results["checks"]) and all(c["pass"] for c in results["checks"]) \
        and len(results["scenarios"]) == len(TARGETS) and not only_core

    # ---- the table ----
    head = ("scenario", "conns", "svc req/s", "p50 ms", "p99 ms", "ceiling tps", "ratio", "target", "result")
    table = [head] + [(r[0], _fmt(r[1], "d"), _fmt(r[2], ".0f"), _fmt(r[3], ".2f"), _fmt(r[4], ".2f"),
                       _fmt(r[5], ".0f"), _fmt(r[6], ".3f"), r[7], r[8]) for r in rows]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(head))]

    def line(row):
        return "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(row, widths)))

    print()
    svc = meta.get("service", {})
    print(f"crm-service load benchmark — {meta.get('date', '')}  ({meta.get('ncpu', '?')} cores, "
          f"wrk -t2 -d{meta.get('duration_s', '?')}s and pgbench -M prepared -j 2 with conns connections each; "
          f"CRM_THREADS={svc.get('CRM_THREADS')}, CRM_DB_POOL_SIZE={svc.get('CRM_DB_POOL_SIZE')})")
    print(line(table[0]))
    print("  ".join("-" * w for w in widths))
    for row in table[1:]:
        print(line(row))
    if get:
        print(f"{'GET /v1/customers/{id} p99':<32} {get['service']['p99_ms']:8.2f} ms   target <= {GET_P99_MAX_MS:.0f} ms"
              f"   {'PASS' if p99_ok else 'MISS'}")
    alone = [(LABELS[k], v["alone"]) for k, v in results["scenarios"].items() if v.get("alone")]
    if alone:
        print("one report request alone (wrk, 1 connection; issue 5: well under a second):")
        for label, a in alone:
            print(f"  {label:<30} p50 {a['p50_ms']:8.1f} ms   p99 {a['p99_ms']:8.1f} ms   ({a['requests']} requests)")
    if mem.get("vm_hwm_mb") is not None:
        print(f"{'crm-service peak RSS (VmHWM)':<32} {mem['vm_hwm_mb']:8.1f} MB   target <= {PEAK_RSS_MAX_MB:.0f} MB"
              f"   {'PASS' if rss_ok else 'MISS'}   (after start-up {mem.get('start_rss_mb', '?')} MB)")

    # ---- where the time goes ----
    print()
    print("where the time goes (measured windows; CPU in cores, %s on this machine):" % meta.get("ncpu", "?"))

    def cpu_text(c, client_name, rate, service=True):
        if not c:
            return "CPU -"
        parts = []
        if service:
            split = ""
            if "crm_service_user_cores" in c:
                split = (f" (user {c['crm_service_user_cores']:.2f}, kernel {c['crm_service_system_cores']:.2f}, "
                         f"{c['crm_service_context_switches_per_s'] / rate if rate else 0:.1f} context switches/request)")
            parts.append(f"crm-service {c['crm_service_cores']:.2f}{split}")
        parts.append(f"postgres {c['postgres_cores']:.2f}")
        if "load_generator_cores" in c:
            parts += [f"{client_name} {c['load_generator_cores']:.2f}", f"other {c['other_cores']:.2f}"]
        else:
            parts += [f"{client_name}+other {c['load_generator_and_other_cores']:.2f}"]
        per = ""
        if rate:
            per = f"; per request: postgres {c['postgres_cores'] / rate * 1000:.2f} ms"
            if service:
                per += f", crm-service {c['crm_service_cores'] / rate * 1000:.2f} ms"
        return "CPU cores: " + ", ".join(parts) + per

    for scen, s in results["scenarios"].items():
        ss = s["service_side"] or {}
        w = s["service"]
        print(f"  {scen} ({s['connections'] or '?'} connections):")
        print(f"    service  {w['rps']:8.0f} req/s  wrk p50/p99 {w['p50_ms']:.2f}/{w['p99_ms']:.2f} ms, in-service "
              f"(access log) p50/p99 {_fmt(ss.get('p50_ms'), '.2f')}/{_fmt(ss.get('p99_ms'), '.2f')} ms; "
              f"pool in use max {s['db_pool'].get('in_use_max', '-')}, waiting max/mean "
              f"{s['db_pool'].get('waiting_max', '-')}/{s['db_pool'].get('waiting_mean', '-')}")
        print(f"             {cpu_text(s['service_cpu'], 'wrk', w['rps'])}")
        c = s["ceiling"]
        print(f"    ceiling  {_fmt(c.get('tps'), '8.0f')} tps    bare SQL, pgbench -c {s['connections'] or '?'}, latency avg "
              f"{_fmt(c.get('latency_avg_ms'), '.2f')} ms")
        print(f"             {cpu_text(s['ceiling_cpu'], 'pgbench', c.get('tps'), service=False)}")
    audit = _load(os.path.join(raw, "audit.json"))
    warnings = []
    if audit:
        results["audit"] = audit
        print(f"  audit: {audit.get('read_rows')} 'read' rows in audit_log for {audit.get('get_200')} answered "
              f"GET /v1/customers/{{id}} (200, warm-up included)")
        if audit.get("get_200") is not None and audit.get("read_rows") != audit.get("get_200"):
            warnings.append(f"audit trail: {audit.get('read_rows')} read rows for {audit.get('get_200')} "
                            f"successful reads — reads were not audited (or not yet flushed)")
    try:
        with open(os.path.join(raw, "service-errors.tsv")) as f:
            for line in f:
                n, msg = line.rstrip("\n").split("\t", 1)
                warnings.append(f"crm-service logged {n} × error \"{msg}\" (see build/bench/service.log)")
    except OSError:
        pass
    results["warnings"] = warnings
    print()
    verdict = "all targets met" if results["all_targets_met"] else "some targets missed (a report, not a gate)"
    print(f"result: {verdict}; JSON in {out_json}")
    for w in warnings:
        print(f"WARNING: {w}")
    for p in problems:
        print(f"ERROR: {p}")

    os.makedirs(os.path.dirname(os.path.abspath(out_json)), exist_ok=True)
    with open(out_json, "w") as f:
        json.dump(results, f, indent=2, ensure_ascii=False)
        f.write("\n")
    return 3 if problems else 0


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, args = argv[1], argv[2:]
    if cmd == "json-get":
        v = json.load(sys.stdin)
        for k in args[0].split("."):
            v = v[k]
        print(v)
    elif cmd == "cpu":
        cmd_cpu(args[0], args[1])
    elif cmd == "log-slice":
        cmd_log_slice(args[0], int(args[1]), int(args[2]), args[3])
    elif cmd == "pool-samples":
        cmd_pool_samples(args[0])
    elif cmd == "pgbench":
        cmd_pgbench(args[0])
    elif cmd == "report":
        return cmd_report(args[0], args[1])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
