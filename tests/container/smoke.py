"""Smoke checks and a bounded load through the compose proxy (used by tests/container/run.sh).

  python3 smoke.py smoke  BASE ADMIN_PASSWORD STATE   token, create + read a customer, list,
                                                      X-Request-Id passthrough, body limit;
                                                      writes the token and customer id to STATE
  python3 smoke.py load   BASE STATE SECONDS          reads for SECONDS (8 threads, bounded);
                                                      fails if any request was lost
  python3 smoke.py wait   BASE STATE SECONDS          until a customer read answers 200 again
  python3 smoke.py probe  BASE STATE SECONDS          one reader for SECONDS: what clients saw
                                                      (e.g. across a database restart); fails
                                                      unless all were 200 or 503 and the last
                                                      2 seconds all 200

Only 127.0.0.1 is ever addressed (BASE is the proxy's published port).
"""

import json
import sys
import threading
import time
import uuid
from urllib.parse import urlparse

import requests


def check_base(base):
    host = urlparse(base).hostname
    if host not in ("127.0.0.1", "localhost"):
        sys.exit(f"refusing to send traffic to {host}: loopback only")


def smoke(base, admin_password, state_path):
    s = requests.Session()
    r = s.post(f"{base}/v1/auth/token", json={"username": "admin", "password": admin_password}, timeout=10)
    assert r.status_code == 200, r.text
    admin = {"Authorization": f"Bearer {r.json()['access_token']}"}
    # A sales rep owns what they create.
    user, password = f"ct-sales-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    r = s.post(f"{base}/v1/users", json={"username": user, "display_name": "容器测试", "role": "sales",
                                         "password": password}, headers=admin, timeout=10)
    assert r.status_code == 201, r.text
    r = s.post(f"{base}/v1/auth/token", json={"username": user, "password": password}, timeout=10)
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}

    rid = uuid.uuid4().hex
    name = f"宁波容器测试有限公司-{uuid.uuid4().hex[:8]}"
    r = s.post(f"{base}/v1/customers", json={"name": name, "region": "华东"},
               headers={**auth, "X-Request-Id": rid, "Idempotency-Key": uuid.uuid4().hex}, timeout=10)
    assert r.status_code == 201, r.text
    assert r.headers.get("X-Request-Id") == rid, "the proxy did not pass X-Request-Id through"
    cid = r.json()["id"]

    r = s.get(f"{base}/v1/customers/{cid}", headers=auth, timeout=10)
    assert r.status_code == 200 and r.json()["name"] == name, r.text
    r = s.get(f"{base}/v1/customers", params={"q": name[:12], "limit": 20}, headers=auth, timeout=10)
    assert r.status_code == 200, r.text
    assert cid in [c["id"] for c in r.json()["items"]]
    r = s.get(f"{base}/v1/me", headers=auth, timeout=10)
    assert r.status_code == 200 and r.headers.get("X-Request-Id"), r.text

    # Bodies beyond the proxy's limit never reach a replica.
    r = s.post(f"{base}/v1/customers", data=b"{" + b" " * (2 << 20) + b"}",
               headers={**auth, "Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 413, r.status_code

    with open(state_path, "w") as f:
        json.dump({"token": token, "customer_id": cid}, f)
    print(f"smoke: tokens, user, create {cid}, read, list, X-Request-Id, 413 over 1 MiB: ok")


def load(base, state_path, seconds):
    st = json.load(open(state_path))
    auth = {"Authorization": f"Bearer {st['token']}"}
    urls = [f"{base}/v1/customers/{st['customer_id']}", f"{base}/v1/customers?limit=5"]
    deadline = time.monotonic() + seconds
    lock = threading.Lock()
    counts = {"ok": 0, "lost": 0}
    failures = []

    def worker(n):
        s = requests.Session()
        i = 0
        while time.monotonic() < deadline and i < 5000:  # bounded in time and count
            url = urls[(n + i) % len(urls)]
            i += 1
            try:
                r = s.get(url, headers=auth, timeout=15)
                good = r.status_code == 200
                what = r.status_code
            except requests.RequestException as e:
                good, what = False, type(e).__name__
            with lock:
                counts["ok" if good else "lost"] += 1
                if not good and len(failures) < 10:
                    failures.append(f"{url}: {what}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"load: {counts['ok']} ok, {counts['lost']} lost in {seconds}s")
    if counts["lost"] or counts["ok"] == 0:
        print("\n".join(failures))
        sys.exit(1)


def wait(base, state_path, seconds):
    st = json.load(open(state_path))
    auth = {"Authorization": f"Bearer {st['token']}"}
    start = time.monotonic()
    last = None
    while time.monotonic() - start < seconds:
        try:
            r = requests.get(f"{base}/v1/customers/{st['customer_id']}", headers=auth, timeout=5)
            last = r.status_code
            if r.status_code == 200:
                print(f"wait: reads answer 200 again after {time.monotonic() - start:.1f}s")
                return
        except requests.RequestException as e:
            last = type(e).__name__
        time.sleep(0.5)
    sys.exit(f"wait: no recovery within {seconds}s (last: {last})")


def probe(base, state_path, seconds):
    st = json.load(open(state_path))
    auth = {"Authorization": f"Bearer {st['token']}"}
    s = requests.Session()
    start = time.monotonic()
    seen = []  # (seconds since start, status or exception name)
    while time.monotonic() - start < seconds:
        try:
            what = s.get(f"{base}/v1/customers/{st['customer_id']}", headers=auth, timeout=5).status_code
        except requests.RequestException as e:
            what = type(e).__name__
        seen.append((time.monotonic() - start, what))
        time.sleep(0.02)
    bad = [(t, w) for t, w in seen if w != 200]
    summary = {}
    for _, w in seen:
        summary[w] = summary.get(w, 0) + 1
    print(f"probe: {summary}" + (f"; not 200 from {bad[0][0]:.1f}s to {bad[-1][0]:.1f}s" if bad else ""))
    if any(w != 200 for t, w in seen if t > seconds - 2) or not seen:
        sys.exit("probe: not recovered by the end")
    if any(w not in (200, 503) for _, w in seen):
        sys.exit("probe: clients saw something else than the service's 200 or 503")


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    mode, base = sys.argv[1], sys.argv[2]
    check_base(base)
    if mode == "smoke":
        smoke(base, sys.argv[3], sys.argv[4])
    elif mode == "load":
        load(base, sys.argv[3], float(sys.argv[4]))
    elif mode == "wait":
        wait(base, sys.argv[3], float(sys.argv[4]))
    elif mode == "probe":
        probe(base, sys.argv[3], float(sys.argv[4]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
