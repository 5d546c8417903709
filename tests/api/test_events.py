"""Black-box API tests for events (operations events_* in api/openapi.yaml).

Customer events with the customers invited to and attending them. "Visible customers only": a sales rep
sees an event they organise or that has one of their customers on it, and in its customers array only
their own customers. Every JSON response is validated against the spec by the `api` fixture, and the
tests assert on the bodies as well.
"""

import threading
import uuid

import pytest

from conftest import assert_invalid, problem, unique, walk_pages

ROLES = ["sales", "sales2", "manager", "finance", "office", "erp", "admin"]
READERS = ["sales", "manager", "finance", "office", "admin"]
WRITERS = ["sales", "manager", "office", "admin"]


# ---------------------------------------------------------------- helpers

def epath(eid=None, suffix=""):
    p = "/v1/events"
    if eid is not None:
        p += f"/{eid}"
    return p + suffix


def apath(eid, cid):
    return f"/v1/events/{eid}/customers/{cid}"


def put(api, token, eid, cid, body=None, **kw):
    return api.call("PUT", apath(eid, cid), token, json_body={} if body is None else body, **kw)


def count_events(db, title):
    return int(db(f"SELECT count(*) FROM events WHERE title = '{title}'"))


def list_all(api, token, query=""):
    return walk_pages(api, epath(), token, query)


def ids_of(items):
    return [x["id"] for x in items]


def customers_of(event):
    return [c["customer_id"] for c in event["customers"]]


@pytest.fixture
def make_event(api, users):
    """Creates an event as `by` (default the manager); extra fields go into the body."""
    def make(by="manager", invite=(), **fields):
        body = {"type": "product_show", "title": unique("新品发布会"), "event_date": "2026-10-15"}
        if invite:
            body["invited_customer_ids"] = [c["id"] for c in invite]
        body.update(fields)
        r = api.post(epath(), users[by], body)
        assert r.status_code == 201, r.text
        return r.json()
    return make


# ---------------------------------------------------------------- create / get

def test_create_returns_201_location_etag_and_document(api, users, make_customer):
    a = make_customer(name=unique("B-绍兴印染"))
    b = make_customer(owner="sales2", name=unique("A-柯桥面料"))
    body = {
        "type": "trend_launch",
        "title": "2027 春夏流行趋势发布会",
        "event_date": "2026-11-23",
        "place": "杭州国际博览中心 3 号馆",
        "description": "发布 2027 春夏面料趋势，展示新型再生涤纶。",
        "feedback": None,
        "invited_customer_ids": [a["id"], b["id"].upper()],
    }
    r = api.post(epath(), users["manager"], body)
    assert r.status_code == 201, r.text
    e = r.json()
    assert r.headers["Location"] == epath(e["id"])
    assert r.headers["ETag"] == 'W/"1"'
    for k in ("type", "title", "event_date", "place", "description", "feedback"):
        assert e[k] == body[k], k
    assert e["organizer_id"] == users.ids["manager"]
    # Sorted by customer name (A before B), everyone invited, nobody attended yet.
    assert e["customers"] == [
        {"customer_id": b["id"], "customer_name": b["name"], "invited": True, "attended": False, "feedback": None},
        {"customer_id": a["id"], "customer_name": a["name"], "invited": True, "attended": False, "feedback": None},
    ]
    assert (e["invited_count"], e["attended_count"]) == (2, 0)
    assert e["version"] == 1 and e["archived"] is False and e["archived_at"] is None
    assert e["created_at"].endswith("Z") and e["updated_at"].endswith("Z")

    g = api.get(r.headers["Location"], users["manager"])
    assert g.status_code == 200 and g.headers["ETag"] == 'W/"1"'
    assert g.json() == e


def test_create_minimal_by_sales_without_customers(api, users, db):
    title = unique("技术交流会")
    r = api.post(epath(), users["sales"], {"type": "technical_exchange", "title": f"  {title} ",
                                            "event_date": "2026-12-01"})
    assert r.status_code == 201, r.text
    e = r.json()
    assert e["title"] == title and e["type"] == "technical_exchange" and e["event_date"] == "2026-12-01"
    assert e["organizer_id"] == users.ids["sales"]
    assert e["customers"] == [] and e["invited_count"] == 0 and e["attended_count"] == 0
    for k in ("place", "description", "feedback"):
        assert e[k] is None, k
    assert db(f"SELECT organizer_id FROM events WHERE id = '{e['id']}'") == users.ids["sales"]
    # The organizer sees it; another rep does not (no customer of theirs on it).
    assert api.get(epath(e["id"]), users["sales"]).json() == e
    problem(api.get(epath(e["id"]), users["sales2"]), 404)


CREATE_INVALID = [
    ({"type": "party"}, "type"),
    ({"type": None}, "type"),
    ({"type": ""}, "type"),
    ({"title": ""}, "title"),
    ({"title": "   "}, "title"),
    ({"title": None}, "title"),
    ({"title": "会" * 201}, "title"),
    ({"title": 7}, "title"),
    ({"event_date": "2026-02-30"}, "event_date"),
    ({"event_date": "23/11/2026"}, "event_date"),
    ({"event_date": "2026-11-23T10:00:00Z"}, "event_date"),
    ({"event_date": None}, "event_date"),
    ({"place": "地" * 501}, "place"),
    ({"description": "述" * 5001}, "description"),
    ({"feedback": "反" * 5001}, "feedback"),
    ({"invited_customer_ids": "not-a-list"}, "invited_customer_ids"),
    ({"invited_customer_ids": None}, "invited_customer_ids"),
    ({"invited_customer_ids": ["not-a-uuid"]}, "invited_customer_ids"),
    ({"invited_customer_ids": [5]}, "invited_customer_ids"),
    ({"invited_customer_ids": [str(uuid.uuid4())] * 2}, "invited_customer_ids"),
    ({"invited_customer_ids": [str(uuid.uuid4()) for _ in range(501)]}, "invited_customer_ids"),
    ({"invited_customer_ids": [str(uuid.uuid4())]}, "invited_customer_ids"),
    ({"organizer_id": "00000000-0000-4000-8000-000000000000"}, "organizer_id"),
    ({"id": "00000000-0000-4000-8000-000000000000"}, "id"),
    ({"customers": []}, "customers"),
    ({"invited_count": 0}, "invited_count"),
    ({"version": 1}, "version"),
    ({"archived": False}, "archived"),
    ({"created_at": "2026-01-01T00:00:00Z"}, "created_at"),
    ({"cost": "100.00"}, "cost"),
]


@pytest.mark.parametrize("extra,field", CREATE_INVALID, ids=[f"{f}-{i}" for i, (_, f) in enumerate(CREATE_INVALID)])
def test_create_invalid_is_422_naming_the_field(api, users, db, extra, field):
    title = unique("无效活动")
    body = {"type": "other", "title": title, "event_date": "2026-10-01", **extra}
    body_out = assert_invalid(api.post(epath(), users["manager"], body), field)
    if field in ("id", "organizer_id", "customers", "invited_count", "version", "archived", "created_at"):
        assert [e["message"] for e in body_out["errors"] if e["field"] == field] == ["is read-only"]
    assert count_events(db, title) == 0


def test_create_reports_every_missing_and_bad_field(api, users):
    body = assert_invalid(api.post(epath(), users["sales"], {}), "type")
    assert {e["field"] for e in body["errors"]} == {"type", "title", "event_date"}
    body = assert_invalid(api.post(epath(), users["sales"], {"type": "x", "place": "p" * 501, "foo": 1,
                                                             "invited_customer_ids": [str(uuid.uuid4())]}),
                          "type")
    assert {e["field"] for e in body["errors"]} == {"type", "title", "event_date", "place", "foo",
                                                    "invited_customer_ids"}


def test_inviting_another_reps_customer_looks_like_a_missing_one(api, users, make_customer, db):
    mine, theirs = make_customer(), make_customer(owner="sales2")
    missing = str(uuid.uuid4())
    title = unique("越权邀请")
    messages = []
    for cid in (theirs["id"], missing):
        body = {"type": "product_show", "title": title, "event_date": "2026-10-01",
                "invited_customer_ids": [mine["id"], cid]}
        out = assert_invalid(api.post(epath(), users["sales"], body), "invited_customer_ids")
        assert [e["field"] for e in out["errors"]] == ["invited_customer_ids"]
        messages.append(out["errors"][0]["message"].replace(cid, "<id>"))
    assert messages[0] == messages[1] == "no such customer: <id>"
    assert count_events(db, title) == 0
    assert db(f"SELECT count(*) FROM event_customers WHERE customer_id IN ('{mine['id']}', '{theirs['id']}')") == "0"
    # A manager may invite both reps' customers.
    r = api.post(epath(), users["manager"], {"type": "product_show", "title": title, "event_date": "2026-10-01",
                                              "invited_customer_ids": [mine["id"], theirs["id"]]})
    assert r.status_code == 201 and r.json()["invited_count"] == 2


@pytest.mark.parametrize("data,ctype,status", [
    (b'{"title": "x",', "application/json", 400),
    (b'{"title": "a", "title": "b"}', "application/json", 400),
    (b'{"title": "x"}', "text/plain", 415),
    (b"[]", "application/json", 422),
])
def test_malformed_create_requests(api, users, data, ctype, status):
    problem(api.call("POST", epath(), users["manager"], data=data, headers={"Content-Type": ctype}), status)


# ---------------------------------------------------------------- roles and scope

@pytest.fixture
def shared_event(make_event, make_customer):
    """An event of the manager with one customer of `sales` and one of `sales2`."""
    own = make_customer(name=unique("A-本人客户"))
    other = make_customer(owner="sales2", name=unique("B-他人客户"))
    return make_event(invite=[own, other], title=unique("共享活动")), own, other


@pytest.mark.parametrize("role", ROLES)
def test_get_and_list_for_every_role(api, users, shared_event, role):
    e, own, other = shared_event
    r = api.get(epath(e["id"]), users[role])
    lr = api.get(epath() + f"?q={e['title']}", users[role])
    if role == "erp":
        assert problem(r, 403)["type"].endswith("/forbidden")
        problem(lr, 403)
        return
    assert r.status_code == 200, r.text
    got = r.json()
    assert lr.status_code == 200 and ids_of(lr.json()["items"]) == [e["id"]]
    assert lr.json()["items"][0] == got
    # Counts are over every customer; the array only lists those the caller may see.
    assert (got["invited_count"], got["attended_count"]) == (2, 0)
    if role == "sales":
        assert customers_of(got) == [own["id"]]
    elif role == "sales2":
        assert customers_of(got) == [other["id"]]
    else:
        assert customers_of(got) == [own["id"], other["id"]]
    assert {k: v for k, v in got.items() if k != "customers"} == {k: v for k, v in e.items() if k != "customers"}


def test_sales_see_an_event_only_with_one_of_their_customers(api, users, make_event, make_customer):
    own = make_customer()
    e = make_event(invite=[own], title=unique("仅本人客户"))
    problem(api.get(epath(e["id"]), users["sales2"]), 404)
    assert list_all(api, users["sales2"], f"q={e['title']}") == []
    # Once one of sales2's customers is on it, sales2 sees it, with only that customer.
    theirs = make_customer(owner="sales2")
    assert put(api, users["manager"], e["id"], theirs["id"]).status_code == 200
    got = api.get(epath(e["id"]), users["sales2"]).json()
    assert customers_of(got) == [theirs["id"]] and got["invited_count"] == 2
    assert ids_of(list_all(api, users["sales2"], f"q={e['title']}")) == [e["id"]]
    # A withdrawn invitation still counts as history: the event stays visible.
    assert api.delete(apath(e["id"], theirs["id"]), users["manager"]).status_code == 204
    got = api.get(epath(e["id"]), users["sales2"]).json()
    assert got["customers"][0]["invited"] is False and got["invited_count"] == 1
    # Reassigning the customer moves the visibility with it.
    r = api.patch(f"/v1/customers/{theirs['id']}", users["manager"], {"owner_id": users.ids["sales"]})
    assert r.status_code == 200, r.text
    problem(api.get(epath(e["id"]), users["sales2"]), 404)
    assert set(customers_of(api.get(epath(e["id"]), users["sales"]).json())) == {own["id"], theirs["id"]}


def test_invisible_event_looks_like_a_missing_one(api, users, make_event, make_customer):
    own = make_customer()
    e = make_event(invite=[own])
    theirs = make_customer(owner="sales2")
    missing = str(uuid.uuid4())
    calls = [
        ("GET", epath(e["id"]), epath(missing), None),
        ("PATCH", epath(e["id"]), epath(missing), {"title": "偷改"}),
        ("DELETE", epath(e["id"]), epath(missing), None),
        ("POST", epath(e["id"], "/restore"), epath(missing, "/restore"), None),
        ("PUT", apath(e["id"], theirs["id"]), apath(missing, theirs["id"]), {"attended": True}),
        ("DELETE", apath(e["id"], theirs["id"]), apath(missing, theirs["id"]), None),
    ]
    for method, hidden, absent, body in calls:
        b1 = problem(api.call(method, hidden, users["sales2"], json_body=body), 404)
        b2 = problem(api.call(method, absent, users["sales2"], json_body=body), 404)
        assert (b1["type"], b1["title"], b1.get("detail")) == (b2["type"], b2["title"], b2.get("detail")), method
        assert set(b1) == set(b2) and "errors" not in b1
    problem(api.get(epath("not-a-uuid"), users["manager"]), 404)
    assert api.get(epath(e["id"]), users["manager"]).json() == e


@pytest.mark.parametrize("role", ["finance", "erp"])
def test_roles_that_may_not_write(api, users, shared_event, db, role):
    e, own, _ = shared_event
    title = unique()
    problem(api.post(epath(), users[role], {"type": "other", "title": title, "event_date": "2026-10-01"}), 403)
    assert count_events(db, title) == 0
    problem(api.patch(epath(e["id"]), users[role], {"title": "x"}), 403)
    problem(api.delete(epath(e["id"]), users[role]), 403)
    problem(api.post(epath(e["id"], "/restore"), users[role]), 403)
    problem(put(api, users[role], e["id"], own["id"], {"attended": True}), 403)
    problem(api.delete(apath(e["id"], own["id"]), users[role]), 403)
    assert api.get(epath(e["id"]), users["manager"]).json() == e


def test_sales_who_did_not_organise_may_not_change_the_event(api, users, shared_event, db):
    e, own, _ = shared_event
    for method, path, body in [("PATCH", epath(e["id"]), {"title": "改名"}),
                               ("DELETE", epath(e["id"]), None),
                               ("POST", epath(e["id"], "/restore"), None)]:
        out = problem(api.call(method, path, users["sales"], json_body=body), 403)
        assert out["type"].endswith("/forbidden") and "organizer" in out["detail"], out
    assert api.get(epath(e["id"]), users["manager"]).json() == e
    assert db(f"SELECT count(*) FROM audit_log WHERE entity = 'event' AND entity_id = '{e['id']}' "
              f"AND action <> 'create'") == "0"
    # But the rep records their own customer's attendance at it.
    r = put(api, users["sales"], e["id"], own["id"], {"attended": True, "feedback": "对再生涤纶很感兴趣"})
    assert r.status_code == 200, r.text
    assert r.json()["customers"] == [{"customer_id": own["id"], "customer_name": own["name"], "invited": True,
                                      "attended": True, "feedback": "对再生涤纶很感兴趣"}]


@pytest.mark.parametrize("role", WRITERS)
def test_organizer_and_privileged_roles_change_the_event(api, users, make_event, role):
    e = make_event(by="sales", title=unique("本人组织"))
    r = api.patch(epath(e["id"]), users[role], {"place": "宁波会展中心", "feedback": "反响热烈"})
    assert r.status_code == 200, r.text
    assert r.json()["place"] == "宁波会展中心" and r.json()["feedback"] == "反响热烈" and r.json()["version"] == 2
    assert r.json()["organizer_id"] == users.ids["sales"]
    assert api.delete(epath(e["id"]), users[role]).status_code == 204
    r = api.post(epath(e["id"], "/restore"), users[role])
    assert r.status_code == 200 and r.json()["archived"] is False and r.json()["version"] == 4


# ---------------------------------------------------------------- update

PATCH_INVALID = [
    ({"title": None}, "title"),
    ({"title": ""}, "title"),
    ({"type": None}, "type"),
    ({"type": "dinner"}, "type"),
    ({"event_date": None}, "event_date"),
    ({"event_date": "2026-13-01"}, "event_date"),
    ({"place": "地" * 501}, "place"),
    ({"invited_customer_ids": []}, "invited_customer_ids"),
    ({"organizer_id": "00000000-0000-4000-8000-000000000000"}, "organizer_id"),
    ({"customers": []}, "customers"),
    ({"attended_count": 3}, "attended_count"),
    ({"version": 2}, "version"),
    ({"updated_at": "2026-01-01T00:00:00Z"}, "updated_at"),
    ({"unknown": 1}, "unknown"),
]


@pytest.mark.parametrize("patch,field", PATCH_INVALID, ids=[f"{f}-{i}" for i, (_, f) in enumerate(PATCH_INVALID)])
def test_patch_invalid_is_422_and_changes_nothing(api, users, make_event, patch, field):
    e = make_event(place="上海")
    assert_invalid(api.patch(epath(e["id"]), users["manager"], patch), field)
    assert api.get(epath(e["id"]), users["manager"]).json() == e


def test_patch_updates_clears_and_empty_patch(api, users, make_event, make_customer, db):
    c = make_customer()
    e = make_event(invite=[c], place="苏州", description="面料展示")
    r = api.call("PATCH", epath(e["id"]), users["manager"],
                 data=b'{"place": null, "type": "technical_exchange", "event_date": "2026-12-24", '
                      b'"feedback": "\xe5\xae\xa2\xe6\x88\xb7\xe6\xbb\xa1\xe6\x84\x8f"}',
                 headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200, r.text
    u = r.json()
    assert u["place"] is None and u["type"] == "technical_exchange" and u["event_date"] == "2026-12-24"
    assert u["feedback"] == "客户满意" and u["description"] == "面料展示" and u["version"] == 2
    assert u["customers"] == e["customers"] and r.headers["ETag"] == 'W/"2"'
    r = api.patch(epath(e["id"]), users["manager"], {})
    assert r.status_code == 200 and r.json() == u
    row = db(f"SELECT (before->>'place') || '|' || coalesce(after->>'place', 'NULL') || '|' || "
             f"(after->>'feedback') || '|' || coalesce(customer_id::text, 'NULL') FROM audit_log "
             f"WHERE entity = 'event' AND action = 'update' AND entity_id = '{e['id']}'")
    assert row == "苏州|NULL|客户满意|NULL"


# ---------------------------------------------------------------- attendance

def test_attendance_put_invites_marks_attended_and_records_feedback(api, users, make_event, make_customer, db):
    a, b = make_customer(name=unique("A")), make_customer(owner="sales2", name=unique("B"))
    e = make_event(invite=[a])
    # A new customer is invited by an empty body.
    r = put(api, users["manager"], e["id"], b["id"])
    assert r.status_code == 200, r.text
    got = r.json()
    assert customers_of(got) == [a["id"], b["id"]] and got["version"] == 2 and r.headers["ETag"] == 'W/"2"'
    assert (got["invited_count"], got["attended_count"]) == (2, 0)
    # Attended implies invited, also for a customer not yet on the event.
    c = make_customer(name=unique("C"))
    r = put(api, users["manager"], e["id"], c["id"], {"attended": True, "feedback": "希望提供小样"})
    assert r.status_code == 200, r.text
    row = [x for x in r.json()["customers"] if x["customer_id"] == c["id"]][0]
    assert row == {"customer_id": c["id"], "customer_name": c["name"], "invited": True, "attended": True,
                   "feedback": "希望提供小样"}
    assert (r.json()["invited_count"], r.json()["attended_count"], r.json()["version"]) == (3, 1, 3)
    # Members left out keep their value; null clears the feedback.
    r = put(api, users["manager"], e["id"], c["id"], {"feedback": None})
    row = [x for x in r.json()["customers"] if x["customer_id"] == c["id"]][0]
    assert row["attended"] is True and row["invited"] is True and row["feedback"] is None
    assert r.json()["version"] == 4
    # A body that changes nothing leaves the version alone and writes no audit row.
    n_audit = db(f"SELECT count(*) FROM audit_log WHERE entity_id = '{e['id']}' AND action = 'attendance'")
    r = put(api, users["manager"], e["id"], c["id"], {"attended": True, "invited": True, "feedback": None})
    assert r.status_code == 200 and r.json()["version"] == 4 and r.headers["ETag"] == 'W/"4"'
    assert db(f"SELECT count(*) FROM audit_log WHERE entity_id = '{e['id']}' AND action = 'attendance'") == n_audit
    assert db(f"SELECT invited::text || attended::text FROM event_customers "
              f"WHERE event_id = '{e['id']}' AND customer_id = '{c['id']}'") == "truetrue"
    # The attendance audit rows carry the customer and the row before/after.
    rows = db(f"SELECT customer_id || '|' || coalesce(before->>'attended', 'NULL') || '|' || (after->>'attended') "
              f"FROM audit_log WHERE entity = 'event' AND entity_id = '{e['id']}' AND action = 'attendance' "
              f"ORDER BY id").splitlines()
    assert rows == [f"{b['id']}|NULL|false", f"{c['id']}|NULL|true", f"{c['id']}|true|true"]
    # Attendance shows in the customer's history.
    h = api.get(f"/v1/customers/{c['id']}/history", users["sales"]).json()["items"]
    assert [(x["entity"], x["action"]) for x in h if x["entity_id"] == e["id"]] == [("event", "attendance")] * 2


ATTENDANCE_INVALID = [
    ({"invited": False, "attended": True}, "invited"),
    ({"invited": None}, "invited"),
    ({"attended": "yes"}, "attended"),
    ({"attended": None}, "attended"),
    ({"feedback": "评" * 5001}, "feedback"),
    ({"customer_name": "x"}, "customer_name"),
    ({"customer_id": str(uuid.uuid4())}, "customer_id"),
    ({"note": "x"}, "note"),
]


@pytest.mark.parametrize("body,field", ATTENDANCE_INVALID,
                         ids=[f"{f}-{i}" for i, (_, f) in enumerate(ATTENDANCE_INVALID)])
def test_attendance_invalid_is_422_and_changes_nothing(api, users, make_event, make_customer, body, field):
    c = make_customer()
    e = make_event(invite=[c])
    assert_invalid(put(api, users["manager"], e["id"], c["id"], body), field)
    assert api.get(epath(e["id"]), users["manager"]).json() == e


def test_uninviting_a_customer_who_attended_is_422(api, users, make_event, make_customer):
    c = make_customer()
    e = make_event(invite=[c])
    assert put(api, users["manager"], e["id"], c["id"], {"attended": True}).status_code == 200
    before = api.get(epath(e["id"]), users["manager"]).json()
    body = assert_invalid(put(api, users["manager"], e["id"], c["id"], {"invited": False}), "invited")
    assert "attended" in body["errors"][0]["message"]
    assert api.get(epath(e["id"]), users["manager"]).json() == before
    r = put(api, users["manager"], e["id"], c["id"], {"invited": False, "attended": False})
    assert r.status_code == 200 and r.json()["customers"][0]["invited"] is False


def test_attendance_scope_404s(api, users, make_event, make_customer):
    own, theirs = make_customer(), make_customer(owner="sales2")
    e = make_event(invite=[own, theirs])
    missing = str(uuid.uuid4())
    # sales sees the event but not sales2's customer: 404, like a missing customer.
    b1 = problem(put(api, users["sales"], e["id"], theirs["id"], {"attended": True}), 404)
    b2 = problem(put(api, users["sales"], e["id"], missing, {"attended": True}), 404)
    assert (b1.get("detail"), set(b1)) == (b2.get("detail"), set(b2))
    problem(api.delete(apath(e["id"], theirs["id"]), users["sales"]), 404)
    problem(api.delete(apath(e["id"], missing), users["sales"]), 404)
    for bad in ("not-a-uuid", str(uuid.uuid4())):
        problem(put(api, users["manager"], bad, own["id"]), 404)
        problem(put(api, users["manager"], e["id"], bad), 404)
        problem(api.delete(apath(bad, own["id"]), users["manager"]), 404)
    # sales2 may not bring their customer into an event they cannot see.
    hidden = make_event(invite=[own])
    problem(put(api, users["sales2"], hidden["id"], theirs["id"]), 404)
    assert customers_of(api.get(epath(hidden["id"]), users["manager"]).json()) == [own["id"]]
    assert api.get(epath(e["id"]), users["manager"]).json() == e


def test_attendance_delete_withdraws_and_keeps_history(api, users, make_event, make_customer, db):
    a, b = make_customer(name=unique("A")), make_customer(name=unique("B"))
    e = make_event(invite=[a, b])
    assert put(api, users["manager"], e["id"], a["id"], {"attended": True, "feedback": "很好"}).status_code == 200
    r = api.delete(apath(e["id"], a["id"]), users["sales"])
    assert r.status_code == 204 and r.content == b""
    got = api.get(epath(e["id"]), users["manager"]).json()
    assert got["customers"][0] == {"customer_id": a["id"], "customer_name": a["name"], "invited": False,
                                   "attended": False, "feedback": "很好"}
    assert (got["invited_count"], got["attended_count"], got["version"]) == (1, 0, 3)
    assert db(f"SELECT count(*) FROM event_customers WHERE event_id = '{e['id']}'") == "2"
    row = db(f"SELECT (before->>'attended') || '|' || (after->>'invited') || '|' || actor_id FROM audit_log "
             f"WHERE entity_id = '{e['id']}' AND action = 'attendance' AND customer_id = '{a['id']}' "
             f"ORDER BY id DESC LIMIT 1")
    assert row == f"true|false|{users.ids['sales']}"
    # Withdrawing again changes nothing.
    assert api.delete(apath(e["id"], a["id"]), users["manager"]).status_code == 204
    assert api.get(epath(e["id"]), users["manager"]).json()["version"] == 3
    # A customer never on the event → 404.
    c = make_customer()
    problem(api.delete(apath(e["id"], c["id"]), users["manager"]), 404)
    # Re-inviting brings the row back, feedback kept.
    r = put(api, users["manager"], e["id"], a["id"], {"invited": True})
    assert r.status_code == 200 and r.json()["customers"][0]["invited"] is True
    assert r.json()["customers"][0]["feedback"] == "很好" and r.json()["invited_count"] == 2


def test_concurrent_attendance_changes_serialise_on_the_event(api, users, make_event, make_customer, db):
    customers = [make_customer() for _ in range(6)]
    e = make_event(invite=customers[:3])
    results = [None] * len(customers)
    barrier = threading.Barrier(len(customers))

    def worker(i):
        a = type(api)(api.server)
        barrier.wait()
        results[i] = a.call("PUT", apath(e["id"], customers[i]["id"]), users["manager"], json_body={"attended": True})

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(customers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status_code for r in results] == [200] * len(customers), [r.text for r in results]
    assert sorted(r.json()["version"] for r in results) == list(range(2, 2 + len(customers)))
    final = api.get(epath(e["id"]), users["manager"]).json()
    assert (final["invited_count"], final["attended_count"], final["version"]) == (6, 6, 7)
    assert db(f"SELECT count(*) FROM audit_log WHERE entity_id = '{e['id']}' AND action = 'attendance'") == "6"


# ---------------------------------------------------------------- ETag / If-Match

def test_etag_if_none_match_and_if_match(api, users, make_event, make_customer, db):
    c = make_customer()
    e = make_event(invite=[c])
    p = epath(e["id"])
    r = api.get(p, users["manager"], headers={"If-None-Match": 'W/"1"'})
    assert r.status_code == 304 and r.content == b"" and r.headers["ETag"] == 'W/"1"'
    assert api.get(p, users["manager"], headers={"If-None-Match": 'W/"7"'}).status_code == 200

    stale = {"If-Match": 'W/"2"'}
    assert problem(api.patch(p, users["manager"], {"title": "失败"}, headers=stale), 412)["type"].endswith(
        "/precondition-failed")
    problem(put(api, users["manager"], e["id"], c["id"], {"attended": True}, headers=stale), 412)
    problem(api.delete(apath(e["id"], c["id"]), users["manager"], headers=stale), 412)
    problem(api.delete(p, users["manager"], headers=stale), 412)
    problem(api.post(epath(e["id"], "/restore"), users["manager"], headers=stale), 412)
    problem(api.patch(p, users["manager"], {"title": "x"}, headers={"If-Match": "garbage"}), 400)
    assert api.get(p, users["manager"]).json() == e
    assert db(f"SELECT count(*) FROM audit_log WHERE entity_id = '{e['id']}' AND action <> 'create'") == "0"

    r = put(api, users["manager"], e["id"], c["id"], {"attended": True}, headers={"If-Match": 'W/"1"'})
    assert r.status_code == 200 and r.headers["ETag"] == 'W/"2"'
    # An attendance change makes the old ETag stale for the event itself.
    problem(api.patch(p, users["manager"], {"title": "旧版本"}, headers={"If-Match": 'W/"1"'}), 412)
    assert api.get(p, users["manager"], headers={"If-None-Match": 'W/"1"'}).status_code == 200
    r = api.patch(p, users["manager"], {"title": "新标题"}, headers={"If-Match": 'W/"2"'})
    assert r.status_code == 200 and r.json()["version"] == 3
    assert api.delete(p, users["manager"], headers={"If-Match": 'W/"3"'}).status_code == 204


# ---------------------------------------------------------------- archive / restore

def test_archive_and_restore(api, users, make_event, make_customer, db):
    c = make_customer()
    tag = unique("归档")
    e = make_event(invite=[c], title=f"{tag}-1")
    keep = make_event(title=f"{tag}-2")
    assert api.delete(epath(e["id"]), users["manager"]).status_code == 204
    assert ids_of(list_all(api, users["manager"], f"q={tag}")) == [keep["id"]]
    items = list_all(api, users["manager"], f"q={tag}&include_archived=true")
    assert set(ids_of(items)) == {e["id"], keep["id"]}
    g = api.get(epath(e["id"]), users["manager"]).json()
    assert g["archived"] is True and g["archived_at"].endswith("Z") and g["version"] == 2
    # sales still finds it by id (their customer is on it), and with include_archived.
    assert api.get(epath(e["id"]), users["sales"]).json()["archived"] is True
    assert ids_of(list_all(api, users["sales"], f"q={tag}&include_archived=true")) == [e["id"]]
    assert list_all(api, users["sales"], f"q={tag}") == []
    # Archiving again changes nothing; attendance on an archived event is 409.
    assert api.delete(epath(e["id"]), users["manager"]).status_code == 204
    assert api.get(epath(e["id"]), users["manager"]).json()["version"] == 2
    assert "archived" in problem(put(api, users["manager"], e["id"], c["id"], {"attended": True}), 409)["detail"]
    problem(api.delete(apath(e["id"], c["id"]), users["manager"]), 409)

    assert_invalid(api.post(epath(e["id"], "/restore"), users["manager"], {"archived": False}), "archived")
    r = api.post(epath(e["id"], "/restore"), users["manager"], {})
    assert r.status_code == 200, r.text
    assert r.json()["archived"] is False and r.json()["archived_at"] is None and r.json()["version"] == 3
    assert customers_of(r.json()) == [c["id"]]
    assert set(ids_of(list_all(api, users["manager"], f"q={tag}"))) == {e["id"], keep["id"]}
    assert "not archived" in problem(api.post(epath(e["id"], "/restore"), users["manager"]), 409)["detail"]
    actions = db(f"SELECT string_agg(action || ':' || coalesce(customer_id::text, '-'), ',' ORDER BY id) "
                 f"FROM audit_log WHERE entity = 'event' AND entity_id = '{e['id']}'")
    assert actions == "create:-,archive:-,restore:-"


# ---------------------------------------------------------------- list

def test_list_order_and_pagination(api, users, make_event):
    tag = unique("分页")
    dates = ["2026-03-01", "2026-05-01", "2026-05-01", "2026-05-01", "2026-01-15", "2026-09-30", "2026-05-01"]
    made = [make_event(title=f"{tag}-{i}", event_date=d) for i, d in enumerate(dates)]
    expected = [x["id"] for x in sorted(made, key=lambda x: (x["event_date"], x["id"]), reverse=True)]
    for limit, sizes in ((3, [3, 3, 1]), (2, [2, 2, 2, 1]), (7, [7]), (1, [1] * 7)):
        seen, cursor, got_sizes = [], None, []
        while True:
            q = f"?q={tag}&limit={limit}" + (f"&cursor={cursor}" if cursor else "")
            body = api.get(epath() + q, users["manager"]).json()
            got_sizes.append(len(body["items"]))
            seen += ids_of(body["items"])
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert got_sizes == sizes, limit
        assert seen == expected, limit
    # Inserting between pages neither repeats nor skips the originals.
    body = api.get(epath() + f"?q={tag}&limit=3", users["manager"]).json()
    seen = ids_of(body["items"])
    make_event(title=f"{tag}-new-late", event_date="2027-01-01")
    make_event(title=f"{tag}-new-mid", event_date="2026-05-01")
    cursor = body["next_cursor"]
    while cursor:
        body = api.get(epath() + f"?q={tag}&limit=3&cursor={cursor}", users["manager"]).json()
        seen += ids_of(body["items"])
        cursor = body["next_cursor"]
    assert len(seen) == len(set(seen)) and set(expected) <= set(seen)


def test_list_filters(api, users, make_event, make_customer):
    tag = unique("筛选")
    own, theirs = make_customer(), make_customer(owner="sales2")
    e1 = make_event(title=f"{tag} 春季面料展", type="product_show", event_date="2026-03-10", invite=[own])
    e2 = make_event(title=f"{tag} 技术研讨", type="technical_exchange", event_date="2026-04-01",
                    invite=[own, theirs])
    e3 = make_event(title=f"{tag} 秋冬趋势", type="trend_launch", event_date="2026-09-01", invite=[theirs])
    e4 = make_event(by="sales", title=f"{tag} 小型交流", type="other", event_date="2026-04-01")

    def ids(token, query):
        return ids_of(list_all(api, users[token], f"q={tag}&{query}" if query else f"q={tag}"))

    assert ids("manager", "") == ids_of(sorted([e3, e2, e4, e1], key=lambda x: (x["event_date"], x["id"]),
                                               reverse=True))
    assert ids("manager", "type=technical_exchange") == [e2["id"]]
    assert ids("manager", "from=2026-04-01") == [e3["id"]] + sorted([e2["id"], e4["id"]], reverse=True)
    assert ids("manager", "to=2026-04-01") == sorted([e2["id"], e4["id"]], reverse=True) + [e1["id"]]
    assert ids("manager", "from=2026-04-01&to=2026-04-01") == sorted([e2["id"], e4["id"]], reverse=True)
    assert ids("manager", f"customer_id={theirs['id']}") == [e3["id"], e2["id"]]
    assert ids("manager", f"customer_id={own['id']}&type=product_show") == [e1["id"]]
    assert ids("manager", f"customer_id={uuid.uuid4()}") == []
    # sales: their organised event and those with their customers; another rep's customer matches nothing.
    assert set(ids("sales", "")) == {e1["id"], e2["id"], e4["id"]}
    assert ids("sales", f"customer_id={theirs['id']}") == []
    assert ids("sales", f"customer_id={own['id']}") == [e2["id"], e1["id"]]
    assert set(ids("sales2", "")) == {e2["id"], e3["id"]}
    assert ids("finance", "type=trend_launch") == [e3["id"]]
    # q: title contains, case-insensitive, Chinese text works, LIKE metacharacters are literal.
    assert ids_of(list_all(api, users["manager"], f"q={tag.upper()} 秋冬")) == [e3["id"]]
    assert ids_of(list_all(api, users["manager"], f"q={tag} 技术")) == [e2["id"]]
    assert list_all(api, users["manager"], f"q={tag}%25") == []
    assert list_all(api, users["manager"], f"q={tag}_") == []


@pytest.mark.parametrize("query", [
    "limit=0", "limit=201", "limit=abc", "cursor=bogus", "q=", "q=" + "名" * 101, "type=party",
    "from=2026-02-30", "to=yesterday", "from=2026-05-01&to=2026-04-30", "customer_id=abc",
    "include_archived=1", "sort=title", "status=active", "owner_id=" + str(uuid.uuid4()),
])
def test_bad_list_query_is_400(api, users, query):
    body = problem(api.get(epath() + "?" + query, users["manager"]), 400)
    assert body["type"].endswith("/bad-request")


def test_cursor_from_another_list_is_400(api, users, make_event):
    tag = unique("游标")
    for _ in range(3):
        make_event(title=tag)
    cur = api.get(epath() + f"?q={tag}&limit=1", users["manager"]).json()["next_cursor"]
    assert cur
    assert api.get(epath() + f"?q={tag}&limit=1&cursor={cur}", users["manager"]).status_code == 200
    problem(api.get(f"/v1/customers?cursor={cur}", users["manager"]), 400)
    ccur = api.get("/v1/customers?limit=1", users["manager"]).json()["next_cursor"]
    assert ccur
    problem(api.get(epath() + f"?cursor={ccur}", users["manager"]), 400)


# ---------------------------------------------------------------- idempotency and audit

def test_idempotency_key_on_event_create(api, users, make_customer, db):
    c = make_customer()
    key = uuid.uuid4().hex
    title = unique("幂等活动")
    body = {"type": "product_show", "title": title, "event_date": "2026-10-10", "invited_customer_ids": [c["id"]]}
    r1 = api.post(epath(), users["sales"], body, headers={"Idempotency-Key": key})
    r2 = api.post(epath(), users["sales"], body, headers={"Idempotency-Key": key})
    assert r1.status_code == r2.status_code == 201
    assert r1.json() == r2.json() and r1.headers["Location"] == r2.headers["Location"]
    assert count_events(db, title) == 1
    assert db(f"SELECT count(*) FROM event_customers WHERE customer_id = '{c['id']}'") == "1"
    problem(api.post(epath(), users["sales"], {**body, "title": title + "x"}, headers={"Idempotency-Key": key}), 422)
    assert count_events(db, title + "x") == 0


def test_create_is_audited_and_reads_are_not(api, users, make_customer, db):
    c = make_customer()
    r = api.post(epath(), users["office"], {"type": "other", "title": unique("客户答谢会"), "event_date": "2026-12-20",
                                             "invited_customer_ids": [c["id"]]})
    assert r.status_code == 201, r.text
    e = r.json()
    row = db(f"SELECT actor_id || '|' || actor_role || '|' || coalesce(customer_id::text, 'NULL') || '|' || "
             f"(after->>'title') || '|' || (after->'invited_customer_ids'->>0) FROM audit_log "
             f"WHERE entity = 'event' AND action = 'create' AND entity_id = '{e['id']}'")
    assert row == f"{users.ids['office']}|office|NULL|{e['title']}|{c['id']}"
    for role in READERS:
        assert api.get(epath(e["id"]), users[role]).status_code == 200
    assert api.get(epath() + f"?q={e['title']}", users["manager"]).status_code == 200
    assert db(f"SELECT count(*) FROM audit_log WHERE entity = 'event' AND entity_id = '{e['id']}' "
              f"AND action = 'read'") == "0"
