"""Black-box API tests for satisfaction surveys (operations surveys_*, survey_responses_*,
surveys_results and reports_survey_coverage in api/openapi.yaml).

Every JSON response is validated against the spec by the `api` fixture; the tests assert on
the bodies as well. Figures are checked against numbers computed by hand from fixtures whose
customers are listed explicitly (tier- and owner-targeted campaigns would pick up customers
other tests created), or owned by a sales rep created for the test.
"""

import json
import uuid

import pytest

from conftest import USER_PASSWORD, assert_invalid, problem, unique, walk_pages

ROLES = ["sales", "sales2", "manager", "finance", "office", "erp", "admin"]
DEL = object()   # a member left out of a body


# ---------------------------------------------------------------- helpers

def same_problem(a, b):
    """Two problems that tell the client the same thing (request ids and paths aside)."""
    strip = lambda p: {k: v for k, v in p.items() if k not in ("request_id", "instance")}
    return strip(a) == strip(b)


def spath(sid=None, suffix=""):
    return "/v1/surveys" + (f"/{sid}" if sid else "") + suffix


def rpath(sid, rid=None):
    return f"/v1/surveys/{sid}/responses" + (f"/{rid}" if rid else "")


def make_survey(api, users, customers=(), token="office", **fields):
    body = {"title": unique("2026 下半年满意度调查"), "period": "2026-H2", "method": "questionnaire",
            "target_customer_ids": [c["id"] for c in customers]}
    body.update(fields)
    r = api.post(spath(), users[token], body)
    assert r.status_code == 201, r.text
    return r.json()


def open_survey(api, users, customers, **fields):
    s = make_survey(api, users, customers, **fields)
    r = api.post(spath(s["id"], "/open"), users["office"])
    assert r.status_code == 200, r.text
    return r.json()


def answer(pq=4, sv=4, dl=4, ov=4, nps=8, **extra):
    body = {"product_quality": pq, "service": sv, "delivery": dl, "overall": ov, "nps": nps}
    body.update(extra)
    return body


def respond(api, users, sid, customer, token="office", **scores):
    r = api.post(rpath(sid), users[token], dict(answer(**scores), customer_id=customer["id"]))
    assert r.status_code == 201, r.text
    return r.json()


@pytest.fixture
def fresh_sales(api, users):
    """A sales rep created for the test (a portfolio no other test touches): (id, token)."""
    def make():
        name = "s" + uuid.uuid4().hex[:10]
        r = api.post("/v1/users", users["admin"], {"username": name, "display_name": "临时销售",
                                                   "role": "sales", "password": USER_PASSWORD})
        assert r.status_code == 201, r.text
        return r.json()["id"], api.login(name, USER_PASSWORD)
    return make


def customer_as(api, token, **fields):
    body = {"name": unique("苏州丝绸有限公司")}
    body.update(fields)
    r = api.post("/v1/customers", token, body)
    assert r.status_code == 201, r.text
    return r.json()


def set_tier(api, users, customer, tier):
    r = api.patch(f"/v1/customers/{customer['id']}", users["manager"],
                  {"tier_override": tier, "tier_override_reason": "测试分级"})
    assert r.status_code == 200, r.text


# ---------------------------------------------------------------- campaigns

def test_create_get_and_defaults(api, users, make_customer, db):
    c = make_customer()
    r = api.post(spath(), users["office"], {"title": "  年度调查  ", "period": "2026-H2", "method": "phone",
                                             "target_tiers": ["vip", "key"], "target_customer_ids": [c["id"]]})
    assert r.status_code == 201, r.text
    s = r.json()
    assert r.headers["Location"] == f"/v1/surveys/{s['id']}"
    assert r.headers["ETag"] == 'W/"1"'
    assert s["title"] == "年度调查" and s["status"] == "draft" and s["version"] == 1
    assert (s["period_from"], s["period_to"]) == ("2026-07-01", "2026-12-31")
    assert s["target_tiers"] == ["vip", "key"] and s["target_owner_ids"] == [] and s["target_customer_ids"] == [c["id"]]
    assert s["targeted_count"] == 0 and s["opened_at"] is None and s["created_by"] == users.ids["office"]
    g = api.get(spath(s["id"]), users["manager"])
    assert g.status_code == 200 and g.json() == s
    assert api.get(spath(s["id"]), users["manager"], headers={"If-None-Match": 'W/"1"'}).status_code == 304
    assert db(f"SELECT count(*) FROM audit_log WHERE entity = 'survey' AND entity_id = '{s['id']}' "
              "AND action = 'create'") == "1"


@pytest.mark.parametrize("period,expected", [
    ("2026", ("2026-01-01", "2026-12-31")),
    ("2026-Q1", ("2026-01-01", "2026-03-31")),
    ("2024-02", ("2024-02-01", "2024-02-29")),
])
def test_period_names(api, users, make_customer, period, expected):
    s = make_survey(api, users, [make_customer()], period=period)
    assert (s["period_from"], s["period_to"]) == expected


def test_explicit_dates(api, users, make_customer):
    c = make_customer()
    body = {"title": "x", "method": "online", "period_from": "2026-03-05", "period_to": "2026-03-05",
            "target_customer_ids": [c["id"]]}
    r = api.post(spath(), users["manager"], body)
    assert r.status_code == 201, r.text
    assert (r.json()["period_from"], r.json()["period_to"]) == ("2026-03-05", "2026-03-05")


@pytest.mark.parametrize("body,field", [
    ({"title": DEL}, "title"),
    ({"title": ""}, "title"),
    ({"title": "x" * 201}, "title"),
    ({"method": "email"}, "method"),
    ({"period": "2026-Q5"}, "period"),
    ({"period": "2026-H2", "period_from": "2026-01-01"}, "period"),
    ({"period": DEL, "period_from": "2026-02-01"}, "period_to"),
    ({"period": DEL, "period_to": "2026-02-01"}, "period_from"),
    ({"period": DEL, "period_from": "2026-02-02", "period_to": "2026-02-01"}, "period_to"),
    ({"period": DEL, "period_from": "2026-02-30", "period_to": "2026-03-01"}, "period_from"),
    ({"target_tiers": ["gold"]}, "target_tiers"),
    ({"target_tiers": "vip"}, "target_tiers"),
    ({"target_owner_ids": [str(uuid.uuid4())]}, "target_owner_ids"),
    ({"target_customer_ids": [str(uuid.uuid4())]}, "target_customer_ids"),
    ({"target_customer_ids": ["nope"]}, "target_customer_ids"),
    ({"target_customer_ids": []}, "target_tiers"),
    ({"target_customer_ids": None}, "target_customer_ids"),
    ({"status": "open"}, "status"),
    ({"id": str(uuid.uuid4())}, "id"),
    ({"targeted_count": 3}, "targeted_count"),
    ({"bogus": 1}, "bogus"),
])
def test_create_bad_input(api, users, make_customer, db, body, field):
    c = make_customer()
    base = {"title": unique("坏调查"), "period": "2026-H2", "method": "questionnaire", "target_customer_ids": [c["id"]]}
    base.update(body)
    base = {k: v for k, v in base.items() if v is not DEL}
    assert_invalid(api.post(spath(), users["office"], base), field)
    assert db(f"SELECT count(*) FROM surveys WHERE title = '{base.get('title')}'") == "0"


def test_create_reports_every_bad_field(api, users):
    body = problem(api.post(spath(), users["office"], {"title": "", "method": "fax", "period": "x",
                                                       "target_tiers": ["gold"]}), 422)
    fields = {e["field"] for e in body["errors"]}
    assert {"title", "method", "period", "target_tiers"} <= fields


@pytest.mark.parametrize("role,status", [("sales", 403), ("sales2", 403), ("finance", 403), ("erp", 403),
                                         ("manager", 201), ("office", 201), ("admin", 201)])
def test_create_roles(api, users, make_customer, role, status):
    c = make_customer()
    r = api.post(spath(), users[role], {"title": unique("角色"), "period": "2026", "method": "online",
                                         "target_customer_ids": [c["id"]]})
    assert r.status_code == status, r.text


def test_read_roles_and_draft_visibility(api, users, make_customer):
    c = make_customer()
    draft = make_survey(api, users, [c])
    opened = open_survey(api, users, [c])
    for role in ["manager", "finance", "office", "admin"]:
        assert api.get(spath(draft["id"]), users[role]).status_code == 200
        ids = {s["id"] for s in walk_pages(api, spath(), users[role], "status=draft")}
        assert draft["id"] in ids
    for role in ["sales", "sales2"]:
        body = problem(api.get(spath(draft["id"]), users[role]), 404)
        missing = problem(api.get(spath(str(uuid.uuid4())), users[role]), 404)
        assert same_problem(body, missing)
        assert api.get(spath(opened["id"]), users[role]).status_code == 200
        ids = {s["id"] for s in walk_pages(api, spath(), users[role])}
        assert draft["id"] not in ids and opened["id"] in ids
    problem(api.get(spath(), users["erp"]), 403)
    problem(api.get(spath(draft["id"]), users["erp"]), 403)


def test_sales_see_only_their_own_explicit_targets(api, users, make_customer):
    """A campaign naming customers of several owners: each rep reads only their own customers' ids
    in target_customer_ids (GET and list, in the campaign's order); the roles that see every customer
    read the whole list."""
    mine1, theirs, mine2 = make_customer("sales"), make_customer("sales2"), make_customer("sales")
    everyone = [mine1["id"], theirs["id"], mine2["id"]]
    s = open_survey(api, users, [mine1, theirs, mine2])
    assert s["target_customer_ids"] == everyone and s["targeted_count"] == 3

    def seen(role):
        got = api.get(spath(s["id"]), users[role])
        assert got.status_code == 200, got.text
        listed = [x for x in walk_pages(api, spath(), users[role]) if x["id"] == s["id"]]
        assert len(listed) == 1 and listed[0]["target_customer_ids"] == got.json()["target_customer_ids"]
        return got.json()["target_customer_ids"]

    assert seen("sales") == [mine1["id"], mine2["id"]]
    assert seen("sales2") == [theirs["id"]]
    for role in ("manager", "office", "finance", "admin"):
        assert seen(role) == everyone, role
    # Reassigning a customer moves its id to the new owner's view.
    r = api.patch(f"/v1/customers/{theirs['id']}", users["manager"], {"owner_id": users.ids["sales"]},
                  headers={"If-Match": api.get(f"/v1/customers/{theirs['id']}", users["manager"]).headers["ETag"]})
    assert r.status_code == 200, r.text
    assert seen("sales") == everyone and seen("sales2") == []


def test_get_not_found(api, users):
    problem(api.get(spath(str(uuid.uuid4())), users["office"]), 404)
    problem(api.get(spath("not-a-uuid"), users["office"]), 404)


def test_patch_draft_and_if_match(api, users, make_customer, db):
    c, c2 = make_customer(), make_customer()
    s = make_survey(api, users, [c])
    r = api.patch(spath(s["id"]), users["manager"], {"title": "新标题", "period": "2026-Q3",
                                                     "target_customer_ids": [c["id"], c2["id"]]},
                  headers={"If-Match": 'W/"1"'})
    assert r.status_code == 200, r.text
    u = r.json()
    assert u["title"] == "新标题" and u["version"] == 2 and r.headers["ETag"] == 'W/"2"'
    assert (u["period_from"], u["period_to"]) == ("2026-07-01", "2026-09-30")
    assert u["target_customer_ids"] == [c["id"], c2["id"]]
    # one end of the period alone; the other end stays
    u = api.patch(spath(s["id"]), users["office"], {"period_to": "2026-10-15"}).json()
    assert (u["period_from"], u["period_to"]) == ("2026-07-01", "2026-10-15")
    assert_invalid(api.patch(spath(s["id"]), users["office"], {"period_to": "2026-06-30"}), "period_to")
    assert_invalid(api.patch(spath(s["id"]), users["office"], {"target_customer_ids": []}), "target_tiers")
    assert_invalid(api.patch(spath(s["id"]), users["office"], {"status": "open"}), "status")
    problem(api.patch(spath(s["id"]), users["office"], {"title": "旧"}, headers={"If-Match": 'W/"1"'}), 412)
    assert api.get(spath(s["id"]), users["office"]).json()["title"] == "新标题"
    problem(api.patch(spath(s["id"]), users["sales"], {"title": "x"}), 403)
    problem(api.patch(spath(str(uuid.uuid4())), users["office"], {"title": "x"}), 404)
    row = json.loads(db(f"SELECT json_build_object('b', before, 'a', after) FROM audit_log WHERE entity = 'survey' "
                        f"AND entity_id = '{s['id']}' AND action = 'update' ORDER BY id LIMIT 1"))
    assert row["b"]["title"] == s["title"] and row["a"]["title"] == "新标题"


def test_open_resolves_targets_and_freezes_them(api, users, make_customer, fresh_sales, db):
    owner_id, token = fresh_sales()
    a = customer_as(api, token)
    b = customer_as(api, token)
    lost = customer_as(api, token)
    assert api.patch(f"/v1/customers/{lost['id']}", token, {"status": "lost"}).status_code == 200
    set_tier(api, users, a, "key")
    other = make_customer()                      # another owner: only when listed explicitly
    s = make_survey(api, users, [other], target_owner_ids=[owner_id])
    r = api.post(spath(s["id"], "/open"), users["office"], headers={"If-Match": 'W/"1"'})
    assert r.status_code == 200, r.text
    o = r.json()
    assert o["status"] == "open" and o["opened_by"] == users.ids["office"] and o["opened_at"]
    assert o["targeted_count"] == 3
    got = db(f"SELECT string_agg(customer_id::text || ':' || tier, ',' ORDER BY customer_id) FROM survey_targets "
             f"WHERE survey_id = '{s['id']}'")
    want = ",".join(sorted([f"{a['id']}:key", f"{b['id']}:reserve", f"{other['id']}:reserve"]))
    assert got == want
    # a customer changing tier or owner afterwards does not change who was targeted
    set_tier(api, users, b, "vip")
    assert api.get(spath(s["id"]), users["office"]).json()["targeted_count"] == 3
    assert db(f"SELECT tier FROM survey_targets WHERE survey_id = '{s['id']}' AND customer_id = '{b['id']}'") == "reserve"
    assert db(f"SELECT count(*) FROM audit_log WHERE entity = 'survey' AND entity_id = '{s['id']}' "
              "AND action = 'open'") == "1"


def test_open_by_tier_narrowed_by_owner(api, users, fresh_sales, db):
    owner_id, token = fresh_sales()
    vip = customer_as(api, token)
    general = customer_as(api, token)
    set_tier(api, users, vip, "vip")
    set_tier(api, users, general, "general")
    s = make_survey(api, users, [], target_tiers=["vip"], target_owner_ids=[owner_id])
    o = api.post(spath(s["id"], "/open"), users["admin"]).json()
    assert o["targeted_count"] == 1
    assert db(f"SELECT customer_id FROM survey_targets WHERE survey_id = '{s['id']}'") == vip["id"]


def test_open_with_no_match_is_409(api, users, fresh_sales):
    owner_id, _ = fresh_sales()
    s = make_survey(api, users, [], target_owner_ids=[owner_id])
    body = problem(api.post(spath(s["id"], "/open"), users["office"]), 409)
    assert "no live customer" in body["detail"]
    assert api.get(spath(s["id"]), users["office"]).json()["status"] == "draft"


def test_transitions(api, users, make_customer, db):
    c = make_customer()
    s = make_survey(api, users, [c])
    body = problem(api.post(spath(s["id"], "/close"), users["office"]), 409)
    assert "draft" in body["detail"]
    problem(api.post(spath(s["id"], "/open"), users["sales"]), 403)
    problem(api.post(spath(s["id"], "/open"), users["office"], headers={"If-Match": 'W/"9"'}), 412)
    assert_invalid(api.post(spath(s["id"], "/open"), users["office"], {"x": 1}), "x")
    assert api.post(spath(s["id"], "/open"), users["office"]).status_code == 200
    assert "open" in problem(api.post(spath(s["id"], "/open"), users["office"]), 409)["detail"]
    assert "open" in problem(api.patch(spath(s["id"]), users["office"], {"title": "x"}), 409)["detail"]
    assert "open" in problem(api.delete(spath(s["id"]), users["office"]), 409)["detail"]
    r = api.post(spath(s["id"], "/close"), users["manager"])
    assert r.status_code == 200 and r.json()["status"] == "closed" and r.json()["closed_by"] == users.ids["manager"]
    assert "closed" in problem(api.post(spath(s["id"], "/close"), users["office"]), 409)["detail"]
    assert "closed" in problem(api.post(spath(s["id"], "/open"), users["office"]), 409)["detail"]
    assert db(f"SELECT string_agg(action, ',' ORDER BY id) FROM audit_log WHERE entity = 'survey' "
              f"AND entity_id = '{s['id']}'") == "create,open,close"
    problem(api.post(spath(str(uuid.uuid4()), "/open"), users["office"]), 404)


def test_archive_restore_draft(api, users, make_customer, db):
    c = make_customer()
    s = make_survey(api, users, [c])
    problem(api.delete(spath(s["id"]), users["sales"]), 403)
    problem(api.delete(spath(s["id"]), users["office"], headers={"If-Match": 'W/"5"'}), 412)
    assert api.delete(spath(s["id"]), users["office"]).status_code == 204
    assert api.delete(spath(s["id"]), users["office"]).status_code == 204      # idempotent
    g = api.get(spath(s["id"]), users["office"]).json()
    assert g["archived"] is True and g["archived_at"]
    assert s["id"] not in {x["id"] for x in walk_pages(api, spath(), users["office"], "status=draft")}
    assert s["id"] in {x["id"] for x in walk_pages(api, spath(), users["office"], "status=draft&include_archived=true")}
    assert "archived" in problem(api.post(spath(s["id"], "/open"), users["office"]), 409)["detail"]
    assert "archived" in problem(api.patch(spath(s["id"]), users["office"], {"title": "y"}), 409)["detail"]
    r = api.post(spath(s["id"], "/restore"), users["manager"])
    assert r.status_code == 200 and r.json()["archived"] is False
    assert "not archived" in problem(api.post(spath(s["id"], "/restore"), users["office"]), 409)["detail"]
    assert db(f"SELECT string_agg(action, ',' ORDER BY id) FROM audit_log WHERE entity = 'survey' "
              f"AND entity_id = '{s['id']}'") == "create,archive,restore"


def test_list_filters_and_pagination(api, users, make_customer):
    c = make_customer()
    title = unique("分页")
    made = [make_survey(api, users, [c], title=f"{title}-{i}", method="online", period="2019-Q2")["id"]
            for i in range(5)]
    pages = walk_pages(api, spath(), users["office"], "method=online&from=2019-04-01&to=2019-06-30", limit=2)
    ids = [s["id"] for s in pages]
    assert set(made) <= set(ids) and len(ids) == len(set(ids))
    mine = [i for i in ids if i in made]
    assert mine == list(reversed(made))          # newest first
    asc = [s["id"] for s in walk_pages(api, spath(), users["office"], "sort=created_at&from=2019-04-01&to=2019-06-30",
                                        limit=2) if s["id"] in made]
    assert asc == made
    assert all(s["period_to"] >= "2019-04-01" for s in pages)
    none = api.get(spath() + "?from=2019-07-01&to=2019-07-31&method=online", users["office"]).json()
    assert not set(made) & {s["id"] for s in none["items"]}
    first = api.get(spath() + "?limit=2", users["office"]).json()
    problem(api.get(spath() + f"?sort=created_at&cursor={first['next_cursor']}", users["office"]), 400)
    for q in ["status=bogus", "method=x", "from=2026-13-01", "limit=0", "limit=201", "cursor=!!", "sort=title",
              "include_archived=maybe", "unknown=1"]:
        problem(api.get(spath() + "?" + q, users["office"]), 400)


def test_idempotent_create(api, users, make_customer, db):
    c = make_customer()
    title = unique("幂等")
    body = {"title": title, "period": "2026", "method": "phone", "target_customer_ids": [c["id"]]}
    key = str(uuid.uuid4())
    r1 = api.post(spath(), users["office"], body, headers={"Idempotency-Key": key})
    r2 = api.post(spath(), users["office"], body, headers={"Idempotency-Key": key})
    assert r1.status_code == r2.status_code == 201 and r1.json() == r2.json()
    assert db(f"SELECT count(*) FROM surveys WHERE title = '{title}'") == "1"


# ---------------------------------------------------------------- responses

def test_response_create_get_and_audit(api, users, make_customer, db):
    c = make_customer()
    s = open_survey(api, users, [c], method="phone")
    r = api.post(rpath(s["id"]), users["sales"], dict(answer(5, 4, 3, 4, 9, comment="交期可以更快"),
                                                      customer_id=c["id"]))
    assert r.status_code == 201, r.text
    x = r.json()
    assert r.headers["Location"] == f"/v1/surveys/{s['id']}/responses/{x['id']}"
    assert (x["product_quality"], x["service"], x["delivery"], x["overall"], x["nps"]) == (5, 4, 3, 4, 9)
    assert x["method"] == "phone" and x["recorded_by"] == users.ids["sales"] and x["comment"] == "交期可以更快"
    assert x["follow_up_id"] is None and x["survey_id"] == s["id"] and x["customer_id"] == c["id"]
    g = api.get(rpath(s["id"], x["id"]), users["sales"])
    assert g.status_code == 200 and g.json() == x and g.headers["ETag"] == 'W/"1"'
    assert api.get(rpath(s["id"], x["id"]), users["sales"], headers={"If-None-Match": 'W/"1"'}).status_code == 304
    assert db(f"SELECT customer_id FROM audit_log WHERE entity = 'survey_response' AND entity_id = '{x['id']}' "
              "AND action = 'create'") == c["id"]


def test_response_explicit_method_and_time(api, users, make_customer):
    c = make_customer()
    s = open_survey(api, users, [c])
    x = respond(api, users, s["id"], c, method="online", responded_at="2026-06-01T10:00:00+08:00")
    assert x["method"] == "online" and x["responded_at"] == "2026-06-01T02:00:00Z"


def test_second_response_is_409(api, users, make_customer, db):
    c = make_customer()
    s = open_survey(api, users, [c])
    respond(api, users, s["id"], c)
    body = problem(api.post(rpath(s["id"]), users["manager"], dict(answer(), customer_id=c["id"])), 409)
    assert body["detail"] and "already" in json.dumps(body)
    assert db(f"SELECT count(*) FROM survey_responses WHERE survey_id = '{s['id']}'") == "1"
    # the database guarantees it too
    with pytest.raises(Exception):
        db(f"INSERT INTO survey_responses (survey_id, customer_id, product_quality, service, delivery, overall, nps, "
           f"method, recorded_by) VALUES ('{s['id']}', '{c['id']}', 3, 3, 3, 3, 5, 'phone', '{users.ids['office']}')")


def test_response_only_while_open(api, users, make_customer):
    c = make_customer()
    s = make_survey(api, users, [c])
    assert "draft" in problem(api.post(rpath(s["id"]), users["office"], dict(answer(), customer_id=c["id"])), 409)["detail"]
    problem(api.post(rpath(s["id"]), users["sales"], dict(answer(), customer_id=c["id"])), 404)   # draft unseen
    api.post(spath(s["id"], "/open"), users["office"])
    api.post(spath(s["id"], "/close"), users["office"])
    assert "closed" in problem(api.post(rpath(s["id"]), users["office"], dict(answer(), customer_id=c["id"])),
                               409)["detail"]


def test_response_customer_rules(api, users, make_customer):
    mine, theirs, untargeted = make_customer(), make_customer(owner="sales2"), make_customer()
    s = open_survey(api, users, [mine, theirs])
    e1 = assert_invalid(api.post(rpath(s["id"]), users["sales"], dict(answer(), customer_id=theirs["id"])),
                        "customer_id")
    e2 = assert_invalid(api.post(rpath(s["id"]), users["sales"], dict(answer(), customer_id=str(uuid.uuid4()))),
                        "customer_id")
    assert e1["errors"] == e2["errors"]
    body = assert_invalid(api.post(rpath(s["id"]), users["office"], dict(answer(), customer_id=untargeted["id"])),
                          "customer_id")
    assert "target" in body["errors"][0]["message"]
    assert api.post(rpath(s["id"]), users["sales2"], dict(answer(), customer_id=theirs["id"])).status_code == 201
    problem(api.post(rpath(str(uuid.uuid4())), users["office"], dict(answer(), customer_id=mine["id"])), 404)


def test_response_for_archived_customer(api, users, make_customer, db):
    c = make_customer()
    s = open_survey(api, users, [c])
    assert api.delete(f"/v1/customers/{c['id']}", users["sales"]).status_code == 204
    body = problem(api.post(rpath(s["id"]), users["office"], dict(answer(), customer_id=c["id"])), 409)
    assert "customer archived" in body["detail"]
    assert db(f"SELECT count(*) FROM survey_responses WHERE survey_id = '{s['id']}'") == "0"


@pytest.mark.parametrize("body,field", [
    ({"product_quality": 0}, "product_quality"),
    ({"service": 6}, "service"),
    ({"delivery": "3"}, "delivery"),
    ({"overall": 2.5}, "overall"),
    ({"nps": 11}, "nps"),
    ({"nps": -1}, "nps"),
    ({"nps": None}, "nps"),
    ({"method": "fax"}, "method"),
    ({"comment": "x" * 5001}, "comment"),
    ({"responded_at": "2099-01-01T00:00:00Z"}, "responded_at"),
    ({"responded_at": "yesterday"}, "responded_at"),
    ({"recorded_by": str(uuid.uuid4())}, "recorded_by"),
    ({"id": str(uuid.uuid4())}, "id"),
    ({"customer_id": None}, "customer_id"),
    ({"extra": 1}, "extra"),
])
def test_response_bad_input(api, users, make_customer, db, body, field):
    c = make_customer()
    s = open_survey(api, users, [c])
    full = dict(answer(), customer_id=c["id"])
    full.update(body)
    assert_invalid(api.post(rpath(s["id"]), users["office"], full), field)
    assert db(f"SELECT count(*) FROM survey_responses WHERE survey_id = '{s['id']}'") == "0"


def test_response_missing_scores(api, users, make_customer):
    c = make_customer()
    s = open_survey(api, users, [c])
    body = problem(api.post(rpath(s["id"]), users["office"], {"customer_id": c["id"]}), 422)
    assert {"product_quality", "service", "delivery", "overall", "nps"} <= {e["field"] for e in body["errors"]}


@pytest.mark.parametrize("role,status", [("sales", 201), ("sales2", 422), ("manager", 201), ("office", 201),
                                         ("admin", 201), ("finance", 403), ("erp", 403)])
def test_response_roles(api, users, make_customer, role, status):
    c = make_customer()
    s = open_survey(api, users, [c])
    r = api.post(rpath(s["id"]), users[role], dict(answer(), customer_id=c["id"]))
    assert r.status_code == status, r.text


def test_low_score_raises_follow_up(api, users, make_customer, db):
    c = make_customer()
    s = open_survey(api, users, [c], title="售后满意度")
    x = respond(api, users, s["id"], c, token="office", pq=2, sv=4, dl=1, ov=3, nps=3)
    assert x["follow_up_id"]
    r = api.get(f"/v1/follow-ups?source_type=survey&source_id={x['id']}", users["sales"])
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert len(items) == 1
    f = items[0]
    assert f["id"] == x["follow_up_id"] and f["customer_id"] == c["id"] and f["status"] == "open"
    assert f["responsible_user_id"] == users.ids["sales"] and f["source_type"] == "survey"
    assert f["due_date"] == db("SELECT crm_today() + 14")
    assert "售后满意度" in f["description"] and "product quality 2" in f["description"]
    assert "delivery 1" in f["description"] and "service" not in f["description"]
    assert db(f"SELECT count(*) FROM audit_log WHERE entity = 'follow_up' AND entity_id = '{f['id']}' "
              "AND action = 'create'") == "1"
    # other reps do not see it
    assert api.get(f"/v1/follow-ups/{f['id']}", users["sales2"]).status_code == 404


def test_scores_above_two_raise_nothing(api, users, make_customer, db):
    c = make_customer()
    s = open_survey(api, users, [c])
    x = respond(api, users, s["id"], c, pq=3, sv=3, dl=3, ov=3, nps=0)       # nps is not a 1-5 dimension
    assert x["follow_up_id"] is None
    assert db(f"SELECT count(*) FROM follow_ups WHERE source_id = '{x['id']}'") == "0"


def test_patch_response(api, users, make_customer, db):
    c = make_customer()
    s = open_survey(api, users, [c])
    x = respond(api, users, s["id"], c, token="sales")
    p = rpath(s["id"], x["id"])
    problem(api.patch(p, users["sales"], {"comment": "y"}, headers={"If-Match": 'W/"7"'}), 412)
    r = api.patch(p, users["sales"], {"comment": "改了", "overall": 2}, headers={"If-Match": 'W/"1"'})
    assert r.status_code == 200, r.text
    u = r.json()
    assert u["comment"] == "改了" and u["overall"] == 2 and u["version"] == 2 and u["follow_up_id"]
    # a second low correction does not raise a second item
    u2 = api.patch(p, users["office"], {"service": 1}).json()
    assert u2["follow_up_id"] == u["follow_up_id"]
    assert db(f"SELECT count(*) FROM follow_ups WHERE source_type = 'survey' AND source_id = '{x['id']}'") == "1"
    assert_invalid(api.patch(p, users["office"], {"customer_id": c["id"]}), "customer_id")
    assert_invalid(api.patch(p, users["office"], {"nps": 12}), "nps")
    assert_invalid(api.patch(p, users["office"], {"nps": None}), "nps")
    problem(api.patch(p, users["sales2"], {"comment": "z"}), 404)
    problem(api.patch(p, users["finance"], {"comment": "z"}), 403)
    problem(api.patch(rpath(s["id"], str(uuid.uuid4())), users["office"], {"comment": "z"}), 404)
    assert db(f"SELECT count(*) FROM audit_log WHERE entity = 'survey_response' AND entity_id = '{x['id']}' "
              "AND action = 'update'") == "2"
    api.post(spath(s["id"], "/close"), users["office"])
    assert "closed" in problem(api.patch(p, users["office"], {"comment": "晚了"}), 409)["detail"]


def test_response_reads_scoped(api, users, make_customer):
    mine, theirs = make_customer(), make_customer(owner="sales2")
    s = open_survey(api, users, [mine, theirs])
    a = respond(api, users, s["id"], mine)
    b = respond(api, users, s["id"], theirs)
    assert {x["id"] for x in walk_pages(api, rpath(s["id"]), users["sales"])} == {a["id"]}
    assert {x["id"] for x in walk_pages(api, rpath(s["id"]), users["sales2"])} == {b["id"]}
    assert {x["id"] for x in walk_pages(api, rpath(s["id"]), users["office"])} == {a["id"], b["id"]}
    assert [x["id"] for x in walk_pages(api, rpath(s["id"]), users["manager"], f"customer_id={theirs['id']}")] == [b["id"]]
    assert [x["id"] for x in walk_pages(api, rpath(s["id"]), users["admin"],
                                        f"owner_id={users.ids['sales']}")] == [a["id"]]
    hidden = problem(api.get(rpath(s["id"], b["id"]), users["sales"]), 404)
    missing = problem(api.get(rpath(s["id"], str(uuid.uuid4())), users["sales"]), 404)
    assert same_problem(hidden, missing)
    problem(api.get(rpath(s["id"], "nope"), users["office"]), 404)
    problem(api.get(rpath(str(uuid.uuid4()), a["id"]), users["office"]), 404)
    for role in ["finance", "erp"]:
        problem(api.get(rpath(s["id"]), users[role]), 403)
        problem(api.get(rpath(s["id"], a["id"]), users[role]), 403)
    for q in ["customer_id=x", "owner_id=1", "limit=0", "cursor=zz", "sort=x"]:
        problem(api.get(rpath(s["id"]) + "?" + q, users["office"]), 400)


def test_responses_pagination(api, users, make_customer):
    cs = [make_customer() for _ in range(5)]
    s = open_survey(api, users, cs)
    made = [respond(api, users, s["id"], c)["id"] for c in cs]
    got = [x["id"] for x in walk_pages(api, rpath(s["id"]), users["office"], limit=2)]
    assert got == list(reversed(made))


def test_response_idempotency(api, users, make_customer, db):
    c = make_customer()
    s = open_survey(api, users, [c])
    key = str(uuid.uuid4())
    body = dict(answer(), customer_id=c["id"])
    r1 = api.post(rpath(s["id"]), users["office"], body, headers={"Idempotency-Key": key})
    r2 = api.post(rpath(s["id"]), users["office"], body, headers={"Idempotency-Key": key})
    assert r1.status_code == r2.status_code == 201 and r1.json() == r2.json()
    assert db(f"SELECT count(*) FROM survey_responses WHERE survey_id = '{s['id']}'") == "1"


# ---------------------------------------------------------------- results

def figures(targeted, responded, rate, pq, sv, dl, ov, nps, pro, pas, det):
    return {"targeted": targeted, "responded": responded, "response_rate": rate, "product_quality": pq,
            "service": sv, "delivery": dl, "overall": ov, "nps": nps, "promoters": pro, "passives": pas,
            "detractors": det}


def test_results_hand_computed(api, users, fresh_sales):
    o1, t1 = fresh_sales()
    o2, t2 = fresh_sales()
    a1, a2, a3 = customer_as(api, t1), customer_as(api, t1), customer_as(api, t1)
    b1, b2, b3 = customer_as(api, t2), customer_as(api, t2), customer_as(api, t2)
    for c in (a1, a2, b1):
        set_tier(api, users, c, "vip")
    for c in (a3, b2, b3):
        set_tier(api, users, c, "general")

    # previous campaign: a1, b1 answer; closed before the current one
    prev = open_survey(api, users, [a1, a2, b1, b2], title="上期")
    respond(api, users, prev["id"], a1, pq=3, sv=3, dl=3, ov=3, nps=10)
    respond(api, users, prev["id"], b1, pq=4, sv=2, dl=4, ov=4, nps=5)
    assert api.post(spath(prev["id"], "/close"), users["office"]).status_code == 200

    cur = open_survey(api, users, [a1, a2, a3, b1, b2, b3], title="本期")
    respond(api, users, cur["id"], a1, pq=5, sv=4, dl=3, ov=5, nps=10)
    respond(api, users, cur["id"], a2, pq=4, sv=4, dl=4, ov=4, nps=9)
    respond(api, users, cur["id"], a3, pq=3, sv=5, dl=2, ov=3, nps=7)
    respond(api, users, cur["id"], b1, pq=2, sv=3, dl=5, ov=4, nps=6)
    # b2, b3 do not answer

    r = api.get(spath(cur["id"], "/results"), users["manager"])
    assert r.status_code == 200, r.text
    res = r.json()
    assert res["survey_id"] == cur["id"] and res["title"] == "本期" and res["status"] == "open"
    # overall: 4 of 6; pq (5+4+3+2)/4 = 3.5; sv 16/4 = 4; dl 14/4 = 3.5; ov 16/4 = 4;
    # nps: promoters 10, 9 (2), passive 7 (1), detractor 6 (1): (2 - 1) / 4 = 25.0
    assert res["overall"] == figures(6, 4, 0.6667, 3.5, 4, 3.5, 4, 25.0, 2, 1, 1)
    # by tier: vip a1, a2, b1 (3/3): pq 11/3 = 3.67, sv 11/3 = 3.67, dl 12/3 = 4, ov 13/3 = 4.33,
    #   nps (2 - 1) / 3 = 33.3; general a3, b2, b3 (1/3): 3, 5, 2, 3, passive only: 0
    assert res["by_tier"] == [
        dict(tier="vip", **figures(3, 3, 1, 3.67, 3.67, 4, 4.33, 33.3, 2, 0, 1)),
        dict(tier="general", **figures(3, 1, 0.3333, 3, 5, 2, 3, 0, 0, 1, 0)),
    ]
    # by owner: o1 a1-a3 (3/3): pq 4, sv 4.33, dl 3, ov 4, nps (2 - 0) / 3 = 66.7;
    #   o2 b1-b3 (1/3): 2, 3, 5, 4, nps -100
    by_owner = {x["owner_id"]: x for x in res["by_owner"]}
    assert by_owner == {
        o1: dict(owner_id=o1, **figures(3, 3, 1, 4, 4.33, 3, 4, 66.7, 2, 1, 0)),
        o2: dict(owner_id=o2, **figures(3, 1, 0.3333, 2, 3, 5, 4, -100, 0, 0, 1)),
    }
    # previous: a1, b1 of 4: rate 0.5; pq 3.5, sv 2.5, dl 3.5, ov 3.5; nps (1 - 1) / 2 = 0
    assert res["previous"]["survey_id"] == prev["id"] and res["previous"]["title"] == "上期"
    assert res["previous"]["figures"] == figures(4, 2, 0.5, 3.5, 2.5, 3.5, 3.5, 0, 1, 0, 1)
    assert res["change"] == {"response_rate": 0.1667, "product_quality": 0, "service": 1.5, "delivery": 0,
                             "overall": 0.5, "nps": 25.0}

    # a sales rep sees their own portfolio only: o1's customers
    mine = api.get(spath(cur["id"], "/results"), t1).json()
    assert mine["overall"] == figures(3, 3, 1, 4, 4.33, 3, 4, 66.7, 2, 1, 0)
    assert [x["owner_id"] for x in mine["by_owner"]] == [o1]
    # previous for o1: a1 of a1, a2 answered: rate 0.5, 3, 3, 3, 3, nps 100
    assert mine["previous"]["figures"] == figures(2, 1, 0.5, 3, 3, 3, 3, 100, 1, 0, 0)
    assert mine["change"] == {"response_rate": 0.5, "product_quality": 1, "service": 1.33, "delivery": 0,
                              "overall": 1, "nps": -33.3}


def test_results_empty_and_draft(api, users, make_customer):
    c = make_customer()
    d = make_survey(api, users, [c])
    res = api.get(spath(d["id"], "/results"), users["office"]).json()
    assert res["overall"] == figures(0, 0, None, None, None, None, None, None, 0, 0, 0)
    assert res["by_tier"] == [] and res["by_owner"] == []
    problem(api.get(spath(d["id"], "/results"), users["sales"]), 404)      # drafts are unseen by sales
    o = open_survey(api, users, [c])
    res = api.get(spath(o["id"], "/results"), users["sales2"]).json()      # none of sales2's customers
    assert res["overall"]["targeted"] == 0 and res["overall"]["nps"] is None
    for role in ["finance", "erp"]:
        problem(api.get(spath(o["id"], "/results"), users[role]), 403)
    problem(api.get(spath(str(uuid.uuid4()), "/results"), users["office"]), 404)


def test_results_previous_is_by_closing_date(api, users, make_customer):
    c = make_customer()
    first = open_survey(api, users, [c], title="第一")
    second = open_survey(api, users, [c], title="第二")
    api.post(spath(second["id"], "/close"), users["office"])     # closed first
    api.post(spath(first["id"], "/close"), users["office"])      # closed last
    third = open_survey(api, users, [c])
    assert api.get(spath(third["id"], "/results"), users["office"]).json()["previous"]["survey_id"] == first["id"]
    # for a closed campaign, the previous one closed before it
    assert api.get(spath(first["id"], "/results"), users["office"]).json()["previous"]["survey_id"] == second["id"]


# ---------------------------------------------------------------- coverage report

def cov(api, token, query):
    return walk_pages(api, "/v1/reports/survey-coverage", token, query, limit=2)


def test_coverage_report(api, users, fresh_sales, db):
    owner, token = fresh_sales()
    recent = customer_as(api, token, name="A-" + unique())
    old = customer_as(api, token, name="B-" + unique())
    never = customer_as(api, token, name="C-" + unique())
    lost = customer_as(api, token, name="D-" + unique())
    api.patch(f"/v1/customers/{lost['id']}", token, {"status": "lost"})
    today = db("SELECT crm_today()")
    lo = db("SELECT ((crm_today() - interval '6 months')::date + 1)")
    inside = db("SELECT to_char(((crm_today() - interval '6 months')::date + 2)::timestamp, 'YYYY-MM-DD') || 'T12:00:00+08:00'")
    outside = db("SELECT to_char(((crm_today() - interval '6 months')::date - 1)::timestamp, 'YYYY-MM-DD') || 'T12:00:00+08:00'")
    s = open_survey(api, users, [recent, old, never])
    respond(api, users, s["id"], recent, responded_at=inside)
    o = respond(api, users, s["id"], old, responded_at=outside)
    year = today[:4]
    items = cov(api, token, f"year={year}")
    assert [x["customer_id"] for x in items] == [old["id"], never["id"]]      # by name: B, C
    assert items[0]["last_surveyed_at"] == o["responded_at"] and items[1]["last_surveyed_at"] is None
    assert items[0]["window_from"] == lo and items[0]["window_to"] == today
    assert items[0]["owner_id"] == owner and items[0]["tier"] == "reserve"
    # managers see them too, filtered by owner; other reps do not
    assert [x["customer_id"] for x in cov(api, users["manager"], f"year={year}&owner_id={owner}")] == \
        [old["id"], never["id"]]
    assert cov(api, users["sales2"], f"year={year}&owner_id={owner}") == []
    assert cov(api, users["office"], f"year={year}&owner_id={owner}&tier=vip") == []
    # an earlier year: these customers did not exist by its end
    assert cov(api, users["office"], f"year={int(year) - 1}&owner_id={owner}") == []
    for q in ["", "year=26", "year=abcd", "year=2026-H1", f"year={year}&tier=gold", f"year={year}&owner_id=x",
              f"year={year}&limit=500"]:
        problem(api.get("/v1/reports/survey-coverage?" + q, users["office"]), 400)
    first = api.get(f"/v1/reports/survey-coverage?year={year}&limit=1", users["office"]).json()
    if first["next_cursor"]:
        problem(api.get(f"/v1/reports/survey-coverage?year={int(year) - 1}&cursor={first['next_cursor']}",
                        users["office"]), 400)
    for role in ["finance", "erp"]:
        problem(api.get(f"/v1/reports/survey-coverage?year={year}", users[role]), 403)


def test_crm_nps_rule(db):
    # promoters, detractors, answers -> % promoters - % detractors, one decimal, halves away from zero
    assert db("SELECT crm_nps(2, 1, 4)") == "25.0"
    assert db("SELECT crm_nps(1, 0, 16)") == "6.3"
    assert db("SELECT crm_nps(0, 1, 16)") == "-6.3"
    assert db("SELECT crm_nps(1, 0, 6)") == "16.7"
    assert db("SELECT crm_nps(0, 3, 3)") == "-100.0"
    assert db("SELECT crm_nps(0, 0, 0) IS NULL") == "t"


def test_concurrent_second_response(api, users, make_customer, db):
    import threading
    c = make_customer()
    s = open_survey(api, users, [c])
    statuses = []
    def post(token):
        r = api.call("POST", rpath(s["id"]), users[token], json_body=dict(answer(), customer_id=c["id"]),
                     validate=False)
        statuses.append(r.status_code)
    threads = [threading.Thread(target=post, args=(t,)) for t in ("office", "manager", "admin", "sales")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [201, 409, 409, 409]
    assert db(f"SELECT count(*) FROM survey_responses WHERE survey_id = '{s['id']}'") == "1"


def test_close_racing_responses(api, users, make_customer, db):
    """Responses racing a close: each one is either recorded before the close or refused 409."""
    import threading
    cs = [make_customer() for _ in range(6)]
    s = open_survey(api, users, cs)
    results = []
    def post(c):
        r = api.call("POST", rpath(s["id"]), users["office"], json_body=dict(answer(), customer_id=c["id"]),
                     validate=False)
        results.append(r.status_code)
    threads = [threading.Thread(target=post, args=(c,)) for c in cs]
    for t in threads[:3]:
        t.start()
    assert api.post(spath(s["id"], "/close"), users["manager"]).status_code == 200
    for t in threads[3:]:
        t.start()
    for t in threads:
        t.join()
    assert set(results) <= {201, 409}
    assert int(db(f"SELECT count(*) FROM survey_responses WHERE survey_id = '{s['id']}'")) == results.count(201)
