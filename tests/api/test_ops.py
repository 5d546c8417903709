"""Operations endpoints: /healthz, /readyz, /metrics, /openapi.yaml, /docs (no authentication)."""

import re

import requests

import schema_check
from conftest import REPO

LABELS = r'\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\}'
METRIC_LINE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(' + LABELS + r')? [-+]?([0-9.eE+-]+|NaN|Inf|\+Inf|-Inf)$')


def test_healthz(api):
    r = api.get("/healthz")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json() == {"status": "ok"}
    assert "WWW-Authenticate" not in r.headers


def test_healthz_ignores_a_bad_token(api):
    r = api.get("/healthz", token="garbage")
    assert r.status_code == 200


def test_readyz(api, db):
    r = api.get("/readyz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ready"
    assert isinstance(body["schema_version"], int)
    assert body["schema_version"] == int(db("SELECT max(version) FROM schema_migrations"))
    newest = max(int(p.name.split("_", 1)[0]) for p in (REPO / "sql" / "migrations").glob("*.sql"))
    assert body["schema_version"] == newest


def _metrics(api):
    r = api.get("/metrics")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain")
    return r.text


def _metric_value(text, name, labels=None):
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(' + LABELS + r')? (\S+)$', line)
        if not m or m.group(1) != name:
            continue
        have = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        if labels is None or all(have.get(k) == v for k, v in labels.items()):
            return float(m.group(3))
    return None


def test_metrics_format_and_families(api):
    api.get("/healthz")
    text = _metrics(api)
    for family, kind in (("crm_http_requests_total", "counter"),
                         ("crm_http_request_duration_seconds", "histogram"),
                         ("crm_db_pool_in_use", "gauge"),
                         ("crm_db_pool_waiting", "gauge"),
                         ("crm_db_pool_size", "gauge"),
                         ("crm_db_errors_total", "counter")):
        assert f"# TYPE {family} {kind}" in text, family
        assert f"# HELP {family} " in text, family
    for line in text.splitlines():
        if line and not line.startswith("#"):
            assert METRIC_LINE.match(line), line
    assert _metric_value(text, "crm_db_pool_size") == 6       # CRM_DB_POOL_SIZE of the test server
    in_use = _metric_value(text, "crm_db_pool_in_use")
    assert in_use is not None and 0 <= in_use <= 6
    assert _metric_value(text, "crm_db_pool_waiting") >= 0
    assert text.endswith("\n")


def test_metrics_count_requests_by_route_and_status(api):
    before = _metrics(api)
    labels_ok = {"method": "GET", "route": "/healthz", "status": "200"}
    labels_404 = {"route": "unmatched", "status": "404"}
    n_ok = _metric_value(before, "crm_http_requests_total", labels_ok) or 0
    n_404 = _metric_value(before, "crm_http_requests_total", labels_404) or 0
    for _ in range(3):
        api.get("/healthz")
    api.get("/v1/metrics-test-unknown")
    after = _metrics(api)
    assert _metric_value(after, "crm_http_requests_total", labels_ok) == n_ok + 3
    assert _metric_value(after, "crm_http_requests_total", labels_404) == n_404 + 1
    # Route labels are patterns, never concrete ids or query strings.
    assert "metrics-test-unknown" not in after
    count = _metric_value(after, "crm_http_request_duration_seconds_count", {"route": "/healthz"})
    inf = _metric_value(after, "crm_http_request_duration_seconds_bucket", {"route": "/healthz", "le": "+Inf"})
    assert count is not None and count == inf and count >= 3


def test_metrics_route_labels_are_patterns(api, users):
    api.get(f"/v1/users/{users.ids['sales']}", users["admin"])
    text = _metrics(api)
    assert users.ids["sales"] not in text
    assert _metric_value(text, "crm_http_requests_total",
                         {"method": "GET", "route": "/v1/users/{id}", "status": "200"}) >= 1


def test_openapi_is_the_repository_file(api):
    r = api.get("/openapi.yaml")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/yaml")
    assert r.content == (REPO / "api" / "openapi.yaml").read_bytes()
    assert int(r.headers["Content-Length"]) == len(r.content)


def test_docs_is_html(api):
    r = api.get("/docs")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/html")
    assert "charset=utf-8" in r.headers["Content-Type"].lower()
    text = r.text
    assert text.lstrip().lower().startswith("<!doctype html>")
    assert "</html>" in text
    assert 'href="/openapi.yaml"' in text
    for op in ("auth_token", "users_list", "audit_list", "customers_get"):
        assert op in text, op
    # The embedded spec is escaped: no raw tags from the YAML reach the page.
    assert "<script" not in text.lower()


def test_ops_need_no_auth_and_reject_other_methods(api):
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.yaml", "/docs"):
        r = api.get(path)
        assert r.status_code == 200, path
        assert r.headers["X-Request-Id"]
        r = api.call("POST", path, headers={"Content-Type": "application/json"}, data=b"{}")
        assert r.status_code == 405, path
        assert r.headers["Allow"] == "GET"
        schema_check.validate("POST", path, 405, r.json(), content_type="application/problem+json")


def test_readyz_not_ready_when_schema_is_behind(server, db):
    """With the schema one version behind the expected migration /readyz answers 503 (liveness
    stays 200); restoring the row brings readiness back."""
    top = db("SELECT max(version) FROM schema_migrations")
    name = db(f"SELECT name FROM schema_migrations WHERE version = {top}")
    db(f"DELETE FROM schema_migrations WHERE version = {top}")
    try:
        r = requests.get(server.base + "/readyz", timeout=10)
        assert r.status_code == 503
        assert r.headers["Retry-After"]
        problem = r.json()
        assert problem["status"] == 503
        assert str(top) in problem["detail"]
        schema_check.validate("GET", "/readyz", 503, problem, content_type="application/problem+json")
        assert requests.get(server.base + "/healthz", timeout=10).status_code == 200
    finally:
        db(f"INSERT INTO schema_migrations (version, name) VALUES ({top}, '{name}')")
    assert requests.get(server.base + "/readyz", timeout=10).status_code == 200
