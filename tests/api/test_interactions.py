"""Black-box API tests for interactions (operations interactions_* in api/openapi.yaml).

Interactions follow their customer's scope; every JSON response is validated against the
spec by the `api` fixture, and the tests assert on the bodies as well.
"""

import base64
import json
import threading
import time
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest

from conftest import assert_invalid, problem, unique, walk_pages

ROLES = ["sales", "sales2", "manager", "finance", "office", "erp", "admin"]
READERS = ["sales", "manager", "office", "admin"]
WRITERS = ["sales", "manager", "admin"]


# ---------------------------------------------------------------- helpers

def message_for(body, field):
    return [e["message"] for e in body["errors"] if e["field"] == field]


def ipath(iid=None, suffix=""):
    p = "/v1/interactions"
    if iid is not None:
        p += f"/{iid}"
    return p + suffix


def ts(minutes_ago=0, days_ago=0):
    """An RFC 3339 UTC instant in the past (whole seconds, as the service renders them)."""
    t = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=minutes_ago, days=days_ago)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def count_for(db, customer_id):
    return int(db(f"SELECT count(*) FROM interactions WHERE customer_id = '{customer_id}'"))


def list_all(api, token, query="", limit=200):
    return walk_pages(api, ipath(), token, query, limit)


def ids_of(items):
    return [x["id"] for x in items]


def wait_for(fn, timeout=3.0, interval=0.05):
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v or time.time() > deadline:
            return v
        time.sleep(interval)


def b64(value):
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.fixture
def customer(make_customer):
    return make_customer()


@pytest.fixture
def make_contact(api, users):
    def make(cid, owner="sales", **fields):
        body = {"name": unique("联系人")}
        body.update(fields)
        r = api.post(f"/v1/customers/{cid}/contacts", users[owner], body)
        assert r.status_code == 201, r.text
        return r.json()
    return make


@pytest.fixture
def make_interaction(api, users):
    def make(cid, who="sales", **fields):
        body = {"customer_id": cid, "channel": "phone", "occurred_at": ts(60), "summary": unique("电话沟通")}
        body.update(fields)
        r = api.post(ipath(), users[who], body)
        assert r.status_code == 201, r.text
        return r.json()
    return make


@pytest.fixture
def inactive_user(api, users):
    r = api.post("/v1/users", users["admin"], {"username": "t-gone-" + uuid.uuid4().hex[:6],
                                               "display_name": "离职员工", "role": "sales",
                                               "password": "user-password-for-tests"})
    assert r.status_code == 201, r.text
    uid = r.json()["id"]
    assert api.delete(f"/v1/users/{uid}", users["admin"]).status_code in (200, 204)
    return uid


# ---------------------------------------------------------------- create / get

def test_create_returns_201_location_etag_and_record(api, users, customer, make_contact):
    contact = make_contact(customer["id"])
    due = (date.today() + timedelta(days=7)).isoformat()
    body = {
        "customer_id": customer["id"],
        "contact_id": contact["id"],
        "channel": "meeting",
        "occurred_at": ts(30),
        "participant_ids": [users.ids["sales"], users.ids["manager"]],
        "summary": "与采购部讨论春季面料订单，客户关注色牢度",
        "customer_feedback": "对交期满意，价格希望再优惠 3%",
        "next_action": "寄送 5 种面料样品",
        "next_action_due": due,
    }
    r = api.post(ipath(), users["sales"], body)
    assert r.status_code == 201, r.text
    i = r.json()
    assert r.headers["Location"] == ipath(i["id"])
    assert r.headers["ETag"] == 'W/"1"'
    for k, v in body.items():
        assert i[k] == v, k
    assert i["author_id"] == users.ids["sales"]
    assert i["version"] == 1 and i["archived"] is False and i["archived_at"] is None
    assert i["created_at"].endswith("Z") and i["updated_at"].endswith("Z")

    g = api.get(r.headers["Location"], users["sales"])
    assert g.status_code == 200
    assert g.json() == i
    assert g.headers["ETag"] == 'W/"1"'


def test_create_minimal_defaults_and_occurred_at_in_utc(api, users, customer, db):
    r = api.post(ipath(), users["sales"], {"customer_id": customer["id"], "channel": "wechat",
                                           "occurred_at": "2026-03-01T09:30:00+08:00", "summary": "  微信问候  "})
    assert r.status_code == 201, r.text
    i = r.json()
    assert i["occurred_at"] == "2026-03-01T01:30:00Z"
    assert i["summary"] == "微信问候"
    assert i["participant_ids"] == []
    for k in ("contact_id", "customer_feedback", "next_action", "next_action_due"):
        assert i[k] is None, k
    assert db(f"SELECT author_id FROM interactions WHERE id = '{i['id']}'") == users.ids["sales"]


@pytest.mark.parametrize("channel", ["phone", "email", "wechat", "sms", "meeting", "event", "other"])
def test_every_channel_is_accepted(api, users, customer, make_interaction, channel):
    assert make_interaction(customer["id"], channel=channel)["channel"] == channel


def test_occurred_at_just_now_is_accepted(api, users, customer, make_interaction):
    soon = (datetime.now(timezone.utc) + timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert make_interaction(customer["id"], occurred_at=soon)["occurred_at"] == soon


def test_chinese_text_round_trips_and_q_finds_it(api, users, customer, make_interaction, db):
    tag = uuid.uuid4().hex[:6]
    summary = f"拜访欧阳总经理（{tag}）：讨论“锦绣”系列提花面料 ✓"
    i = make_interaction(customer["id"], summary=summary, customer_feedback="非常满意",
                         next_action="回访确认", next_action_due="2027-01-15")
    assert i["summary"] == summary and i["customer_feedback"] == "非常满意"
    assert db(f"SELECT summary FROM interactions WHERE id = '{i['id']}'") == summary
    raw = api.get(ipath(i["id"]), users["sales"]).content.decode()
    assert json.loads(raw)["summary"] == summary
    other = make_interaction(customer["id"], summary=f"电话催款 {tag}")
    q = f"customer_id={customer['id']}"
    assert ids_of(list_all(api, users["sales"], q + "&q=锦绣")) == [i["id"]]
    assert ids_of(list_all(api, users["sales"], q + "&q=催款")) == [other["id"]]
    assert set(ids_of(list_all(api, users["sales"], q + f"&q={tag}"))) == {i["id"], other["id"]}
    assert list_all(api, users["sales"], q + "&q=赵") == []


def test_q_is_case_insensitive_and_wildcards_are_literal(api, users, customer, make_interaction):
    tag = uuid.uuid4().hex[:8]
    a = make_interaction(customer["id"], summary=f"Sample-{tag} sent via DHL")
    b = make_interaction(customer["id"], summary=f"{tag} discount 100% agreed_now")
    assert ids_of(list_all(api, users["sales"], f"q=SAMPLE-{tag.upper()}")) == [a["id"]]
    assert ids_of(list_all(api, users["sales"], f"q={tag}%20discount%20100%25")) == [b["id"]]
    q = f"customer_id={customer['id']}"
    assert ids_of(list_all(api, users["sales"], q + "&q=%25")) == [b["id"]]
    assert ids_of(list_all(api, users["sales"], q + "&q=_")) == [b["id"]]
    assert list_all(api, users["sales"], q + "&q=d_l") == []


# ---------------------------------------------------------------- last contact (trigger)

def test_customer_last_contact_follows_live_interactions(api, users, customer, make_interaction, db):
    cid = customer["id"]

    def state():
        row = db(f"SELECT coalesce(to_char(last_contact_at AT TIME ZONE 'UTC', "
                 f"'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '-') || '|' || version FROM customers WHERE id = '{cid}'")
        last, version = row.split("|")
        return last, int(version)

    last, v0 = state()
    assert last == "-"
    newer = make_interaction(cid, occurred_at=ts(days_ago=1))
    last, v1 = state()
    assert last == newer["occurred_at"] and v1 == v0 + 1
    older = make_interaction(cid, occurred_at=ts(days_ago=10))
    last, v2 = state()
    assert last == newer["occurred_at"] and v2 == v1, "an older interaction changes nothing"
    # Archiving the latest recomputes from the remaining ones.
    assert api.delete(ipath(newer["id"]), users["sales"]).status_code == 204
    last, v3 = state()
    assert last == older["occurred_at"] and v3 == v2 + 1
    assert api.delete(ipath(older["id"]), users["manager"]).status_code == 204
    last, v4 = state()
    assert last == "-" and v4 == v3 + 1
    # Restoring brings it back.
    r = api.post(ipath(newer["id"], "/restore"), users["sales"])
    assert r.status_code == 200, r.text
    last, v5 = state()
    assert last == newer["occurred_at"] and v5 == v4 + 1
    # Moving occurred_at moves it too.
    moved = ts(minutes_ago=5)
    assert api.patch(ipath(newer["id"]), users["sales"], {"occurred_at": moved}).status_code == 200
    assert state()[0] == moved
    # The customer's ETag follows the version the trigger bumped.
    g = api.get(f"/v1/customers/{cid}", users["sales"])
    assert g.headers["ETag"] == f'W/"{state()[1]}"'


# ---------------------------------------------------------------- validation

def _user(users, name):
    return users.ids[name]


CREATE_INVALID = [
    ({"customer_id": None}, "customer_id"),
    ({"customer_id": "not-a-uuid"}, "customer_id"),
    ({"customer_id": "00000000-0000-4000-8000-000000000000"}, "customer_id"),
    ({"channel": None}, "channel"),
    ({"channel": "fax"}, "channel"),
    ({"channel": "PHONE"}, "channel"),
    ({"channel": ""}, "channel"),
    ({"occurred_at": None}, "occurred_at"),
    ({"occurred_at": "2026-01-01"}, "occurred_at"),
    ({"occurred_at": "2026-01-01T08:00:00"}, "occurred_at"),
    ({"occurred_at": "2026-02-30T08:00:00Z"}, "occurred_at"),
    ({"occurred_at": "2999-01-01T00:00:00Z"}, "occurred_at"),
    ({"occurred_at": 1767225600}, "occurred_at"),
    ({"summary": None}, "summary"),
    ({"summary": ""}, "summary"),
    ({"summary": "   "}, "summary"),
    ({"summary": "记" * 5001}, "summary"),
    ({"summary": ["a"]}, "summary"),
    ({"customer_feedback": "馈" * 5001}, "customer_feedback"),
    ({"next_action": "行" * 1001}, "next_action"),
    ({"next_action": "寄样", "next_action_due": "2026-13-01"}, "next_action_due"),
    ({"next_action_due": "2027-01-01"}, "next_action_due"),
    ({"contact_id": "not-a-uuid"}, "contact_id"),
    ({"contact_id": "00000000-0000-4000-8000-000000000000"}, "contact_id"),
    ({"participant_ids": None}, "participant_ids"),
    ({"participant_ids": "x"}, "participant_ids"),
    ({"participant_ids": ["not-a-uuid"]}, "participant_ids"),
    ({"participant_ids": [str(uuid.uuid4())]}, "participant_ids"),
    ({"participant_ids": [str(uuid.uuid4()) for _ in range(21)]}, "participant_ids"),
    ({"id": "00000000-0000-4000-8000-000000000000"}, "id"),
    ({"author_id": "00000000-0000-4000-8000-000000000000"}, "author_id"),
    ({"version": 1}, "version"),
    ({"archived": False}, "archived"),
    ({"archived_at": None}, "archived_at"),
    ({"created_at": "2024-01-01T00:00:00Z"}, "created_at"),
    ({"updated_at": "2024-01-01T00:00:00Z"}, "updated_at"),
    ({"topic": "样品"}, "topic"),
]


@pytest.mark.parametrize("extra,field", CREATE_INVALID, ids=[f"{f}-{i}" for i, (_, f) in enumerate(CREATE_INVALID)])
def test_create_invalid_is_422_naming_the_field(api, users, customer, db, extra, field):
    body = {"customer_id": customer["id"], "channel": "phone", "occurred_at": ts(10), "summary": "测试", **extra}
    assert_invalid(api.post(ipath(), users["sales"], body), field)
    assert count_for(db, customer["id"]) == 0


def test_missing_required_fields_are_all_named(api, users):
    body = assert_invalid(api.post(ipath(), users["sales"], {}), "customer_id")
    assert {e["field"] for e in body["errors"]} == {"customer_id", "channel", "occurred_at", "summary"}
    assert all(e["message"] == "is required" for e in body["errors"]), body


def test_messages_say_what_is_wrong(api, users, customer, inactive_user):
    base = {"customer_id": customer["id"], "channel": "phone", "summary": "x"}
    body = assert_invalid(api.post(ipath(), users["sales"], {**base, "occurred_at": "2999-01-01T00:00:00Z"}),
                          "occurred_at")
    assert message_for(body, "occurred_at") == ["must not be in the future"]
    body = assert_invalid(api.post(ipath(), users["sales"], {**base, "occurred_at": ts(1), "author_id": None}),
                          "author_id")
    assert message_for(body, "author_id") == ["is read-only"]
    body = assert_invalid(api.post(ipath(), users["sales"], {**base, "occurred_at": ts(1),
                                                            "participant_ids": [inactive_user]}), "participant_ids")
    assert message_for(body, "participant_ids") == ["must name active users"]
    body = assert_invalid(api.post(ipath(), users["sales"], {**base, "occurred_at": ts(1),
                                                            "next_action_due": "2027-01-01"}), "next_action_due")
    assert message_for(body, "next_action_due") == ["needs a next_action"]


def test_create_reports_every_invalid_field_at_once(api, users, customer, db):
    r = api.post(ipath(), users["sales"], {"customer_id": customer["id"], "channel": "fax", "occurred_at": "昨天",
                                           "summary": "", "contact_id": str(uuid.uuid4()),
                                           "participant_ids": [str(uuid.uuid4())], "version": 3})
    body = assert_invalid(r, "channel")
    assert {e["field"] for e in body["errors"]} == {"channel", "occurred_at", "summary", "contact_id",
                                                    "participant_ids", "version"}
    assert count_for(db, customer["id"]) == 0


def test_inactive_participant_is_422_and_active_ones_pass(api, users, customer, inactive_user, make_interaction):
    body = {"customer_id": customer["id"], "channel": "meeting", "occurred_at": ts(5), "summary": "三方会谈",
            "participant_ids": [users.ids["sales"], inactive_user]}
    assert_invalid(api.post(ipath(), users["sales"], body), "participant_ids")
    # Any active user may take part, whatever the role; ids are kept in order, lower case.
    ids = [users.ids["office"], users.ids["sales2"].upper(), users.ids["finance"]]
    i = make_interaction(customer["id"], participant_ids=ids)
    assert i["participant_ids"] == [x.lower() for x in ids]
    dup = [users.ids["office"], users.ids["office"].upper()]
    assert_invalid(api.post(ipath(), users["sales"], {**body, "participant_ids": dup}), "participant_ids")
    assert_invalid(api.patch(ipath(i["id"]), users["sales"], {"participant_ids": [inactive_user]}),
                   "participant_ids")
    assert api.get(ipath(i["id"]), users["sales"]).json()["participant_ids"] == [x.lower() for x in ids]


def test_contact_must_be_a_live_contact_of_that_customer(api, users, make_customer, make_contact, make_interaction,
                                                         db):
    a, b = make_customer(), make_customer()
    ca, cb = make_contact(a["id"]), make_contact(b["id"])
    base = {"customer_id": a["id"], "channel": "phone", "occurred_at": ts(5), "summary": "联系人校验"}
    for role in ("sales", "manager", "admin"):
        body = assert_invalid(api.post(ipath(), users[role], {**base, "contact_id": cb["id"]}), "contact_id")
        assert message_for(body, "contact_id") == ["must be a contact of this customer"]
    assert count_for(db, a["id"]) == 0
    i = make_interaction(a["id"], contact_id=ca["id"])
    assert i["contact_id"] == ca["id"]
    # PATCH to a contact of another customer is rejected too, and changes nothing.
    assert_invalid(api.patch(ipath(i["id"]), users["sales"], {"contact_id": cb["id"]}), "contact_id")
    assert api.get(ipath(i["id"]), users["sales"]).json() == i
    # An archived contact cannot be named any more; clearing the contact is fine.
    ca2 = make_contact(a["id"])
    assert api.delete(f"/v1/customers/{a['id']}/contacts/{ca2['id']}", users["sales"]).status_code == 204
    assert_invalid(api.post(ipath(), users["sales"], {**base, "contact_id": ca2["id"]}), "contact_id")
    assert_invalid(api.patch(ipath(i["id"]), users["sales"], {"contact_id": ca2["id"]}), "contact_id")
    r = api.patch(ipath(i["id"]), users["sales"], {"contact_id": None})
    assert r.status_code == 200 and r.json()["contact_id"] is None
    # The database guarantees it as well (composite foreign key).
    with pytest.raises(Exception):
        db(f"UPDATE interactions SET contact_id = '{cb['id']}' WHERE id = '{i['id']}'")


def test_customer_out_of_scope_is_422_like_a_missing_one(api, users, customer, db):
    base = {"channel": "phone", "occurred_at": ts(5), "summary": "越权"}
    hidden = assert_invalid(api.post(ipath(), users["sales2"], {**base, "customer_id": customer["id"]}),
                            "customer_id")
    missing = assert_invalid(api.post(ipath(), users["sales2"], {**base, "customer_id": str(uuid.uuid4())}),
                             "customer_id")
    assert hidden["errors"] == missing["errors"] == [{"field": "customer_id", "message": "no such customer"}]
    assert hidden["detail"] == missing["detail"]
    assert count_for(db, customer["id"]) == 0


def test_archived_customer_is_409(api, users, customer, make_interaction, db):
    i = make_interaction(customer["id"])
    assert api.delete(ipath(i["id"]), users["sales"]).status_code == 204
    assert api.delete(f"/v1/customers/{customer['id']}", users["sales"]).status_code == 204
    body = {"customer_id": customer["id"], "channel": "phone", "occurred_at": ts(5), "summary": "已归档客户"}
    b = problem(api.post(ipath(), users["sales"], body), 409)
    assert "customer archived" in b["detail"]
    b = problem(api.post(ipath(i["id"], "/restore"), users["manager"]), 409)
    assert "customer archived" in b["detail"]
    assert count_for(db, customer["id"]) == 1
    # Field errors come first.
    assert_invalid(api.post(ipath(), users["sales"], {**body, "channel": "fax"}), "channel")
    # Restore the customer and both work again.
    assert api.post(f"/v1/customers/{customer['id']}/restore", users["sales"]).status_code == 200
    assert api.post(ipath(), users["sales"], body).status_code == 201
    assert api.post(ipath(i["id"], "/restore"), users["sales"]).status_code == 200


PATCH_INVALID = [
    ({"customer_id": "00000000-0000-4000-8000-000000000000"}, "customer_id"),
    ({"author_id": "00000000-0000-4000-8000-000000000000"}, "author_id"),
    ({"id": "00000000-0000-4000-8000-000000000000"}, "id"),
    ({"version": 3}, "version"),
    ({"archived": True}, "archived"),
    ({"updated_at": "2024-01-01T00:00:00Z"}, "updated_at"),
    ({"channel": None}, "channel"),
    ({"channel": "telegram"}, "channel"),
    ({"occurred_at": None}, "occurred_at"),
    ({"occurred_at": "2999-12-31T23:59:59+08:00"}, "occurred_at"),
    ({"summary": None}, "summary"),
    ({"summary": ""}, "summary"),
    ({"participant_ids": None}, "participant_ids"),
    ({"participant_ids": [1, 2]}, "participant_ids"),
    ({"next_action_due": "2027-02-01"}, "next_action_due"),
    ({"next_action": "样品", "next_action_due": "2027-02-30"}, "next_action_due"),
    ({"unknown": 1}, "unknown"),
]


@pytest.mark.parametrize("patch,field", PATCH_INVALID, ids=[f"{f}-{i}" for i, (_, f) in enumerate(PATCH_INVALID)])
def test_patch_invalid_is_422_and_changes_nothing(api, users, customer, make_interaction, patch, field):
    i = make_interaction(customer["id"])
    body = assert_invalid(api.patch(ipath(i["id"]), users["sales"], patch), field)
    if field in ("customer_id", "author_id", "id", "version", "archived", "updated_at"):
        assert message_for(body, field) == ["is read-only"]
    assert api.get(ipath(i["id"]), users["sales"]).json() == i


def test_read_only_fields_are_read_only_for_every_writer(api, users, make_customer, make_interaction):
    c = make_customer()
    i = make_interaction(c["id"])
    other = make_customer()
    for role in WRITERS:
        for patch in ({"customer_id": other["id"]}, {"author_id": users.ids[role]}):
            (field,) = patch
            body = assert_invalid(api.patch(ipath(i["id"]), users[role], patch), field)
            assert message_for(body, field) == ["is read-only"]
        base = {"customer_id": c["id"], "channel": "sms", "occurred_at": ts(1), "summary": "代记录"}
        body = assert_invalid(api.post(ipath(), users[role], {**base, "author_id": users.ids["sales"]}), "author_id")
        assert message_for(body, "author_id") == ["is read-only"]
    assert api.get(ipath(i["id"]), users["admin"]).json() == i


def test_patch_updates_clears_and_empty_patch(api, users, customer, make_contact, make_interaction):
    ct = make_contact(customer["id"])
    i = make_interaction(customer["id"], contact_id=ct["id"], customer_feedback="一般",
                         participant_ids=[users.ids["sales"]])
    p = ipath(i["id"])
    r = api.patch(p, users["sales"], {"channel": "email", "customer_feedback": None, "summary": "改为邮件跟进",
                                      "participant_ids": [users.ids["manager"], users.ids["sales"]]})
    assert r.status_code == 200, r.text
    u = r.json()
    assert u["channel"] == "email" and u["customer_feedback"] is None and u["summary"] == "改为邮件跟进"
    assert u["participant_ids"] == [users.ids["manager"], users.ids["sales"]]
    assert u["contact_id"] == ct["id"] and u["occurred_at"] == i["occurred_at"] and u["version"] == 2
    assert u["author_id"] == users.ids["sales"] and u["created_at"] == i["created_at"]
    assert r.headers["ETag"] == 'W/"2"'
    r = api.patch(p, users["sales"], {})
    assert r.status_code == 200 and r.json() == u
    r = api.patch(p, users["sales"], {"participant_ids": []})
    assert r.status_code == 200 and r.json()["participant_ids"] == [] and r.json()["version"] == 3


def test_patch_next_action_and_its_due_date(api, users, customer, make_interaction, db):
    i = make_interaction(customer["id"])
    p = ipath(i["id"])
    assert_invalid(api.patch(p, users["sales"], {"next_action_due": "2027-03-01"}), "next_action_due")
    r = api.patch(p, users["sales"], {"next_action": "报价", "next_action_due": "2027-03-01"})
    assert r.status_code == 200 and r.json()["next_action_due"] == "2027-03-01"
    # Changing only the due date keeps the action; clearing the action clears its due date.
    r = api.patch(p, users["sales"], {"next_action_due": "2027-03-05"})
    assert r.status_code == 200 and r.json()["next_action"] == "报价" and r.json()["next_action_due"] == "2027-03-05"
    r = api.patch(p, users["sales"], {"next_action": None})
    assert r.status_code == 200, r.text
    assert r.json()["next_action"] is None and r.json()["next_action_due"] is None
    # Clearing the action while setting a due date is contradictory.
    api.patch(p, users["sales"], {"next_action": "回访", "next_action_due": "2027-04-01"})
    assert_invalid(api.patch(p, users["sales"], {"next_action": None, "next_action_due": "2027-04-02"}),
                   "next_action_due")
    r = api.patch(p, users["sales"], {"next_action_due": None})
    assert r.status_code == 200 and r.json()["next_action"] == "回访" and r.json()["next_action_due"] is None
    # The database guarantees the rule as well.
    with pytest.raises(Exception):
        db(f"UPDATE interactions SET next_action = NULL, next_action_due = '2027-05-01' WHERE id = '{i['id']}'")


@pytest.mark.parametrize("data,ctype,status", [
    (b'{"summary": "x",', "application/json", 400),
    (b'{"summary": "a", "summary": "b"}', "application/json", 400),
    (b'{"summary": "x"}', "text/plain", 415),
    (b'{"summary": "x"}', None, 415),
    (b"", "application/json", 400),
    (b"[]", "application/json", 422),
])
def test_malformed_create_requests(api, users, customer, db, data, ctype, status):
    h = {"Content-Type": ctype} if ctype else {}
    problem(api.call("POST", ipath(), users["sales"], data=data, headers=h), status)
    assert count_for(db, customer["id"]) == 0


def test_patch_accepts_merge_patch_json(api, users, customer, make_interaction):
    i = make_interaction(customer["id"], customer_feedback="待定")
    r = api.call("PATCH", ipath(i["id"]), users["sales"],
                 data=json.dumps({"customer_feedback": None, "channel": "sms"}).encode(),
                 headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200, r.text
    assert r.json()["customer_feedback"] is None and r.json()["channel"] == "sms" and r.json()["version"] == 2


# ---------------------------------------------------------------- roles and scope

@pytest.mark.parametrize("role", ROLES)
def test_get_and_list_for_every_role(api, users, customer, make_interaction, role):
    i = make_interaction(customer["id"])
    r = api.get(ipath(i["id"]), users[role])
    lr = api.get(ipath() + f"?customer_id={customer['id']}", users[role])
    if role in ("finance", "erp"):
        assert problem(r, 403)["type"].endswith("/forbidden")
        problem(lr, 403)
    elif role == "sales2":
        problem(r, 404)
        assert lr.status_code == 200 and lr.json()["items"] == []
    else:
        assert r.status_code == 200 and r.json() == i
        assert lr.status_code == 200 and ids_of(lr.json()["items"]) == [i["id"]]


@pytest.mark.parametrize("role", ["finance", "office", "erp"])
def test_non_writers_get_403_and_change_nothing(api, users, customer, make_interaction, db, role):
    i = make_interaction(customer["id"])
    body = {"customer_id": customer["id"], "channel": "phone", "occurred_at": ts(1), "summary": "无权"}
    assert problem(api.post(ipath(), users[role], body), 403)["type"].endswith("/forbidden")
    problem(api.patch(ipath(i["id"]), users[role], {"summary": "x"}), 403)
    problem(api.delete(ipath(i["id"]), users[role]), 403)
    problem(api.post(ipath(i["id"], "/restore"), users[role]), 403)
    assert count_for(db, customer["id"]) == 1
    assert api.get(ipath(i["id"]), users["sales"]).json() == i


@pytest.mark.parametrize("role", WRITERS)
def test_writers_create_patch_archive_restore(api, users, make_customer, make_interaction, db, role):
    # sales on own customers; manager and admin on anyone's.
    cust = make_customer(owner="sales" if role == "sales" else "sales2")
    i = make_interaction(cust["id"], who=role)
    assert i["author_id"] == users.ids[role]
    r = api.patch(ipath(i["id"]), users[role], {"summary": "已更新"})
    assert r.status_code == 200 and r.json()["summary"] == "已更新" and r.json()["version"] == 2
    assert api.delete(ipath(i["id"]), users[role]).status_code == 204
    r = api.post(ipath(i["id"], "/restore"), users[role])
    assert r.status_code == 200 and r.json()["archived"] is False and r.json()["version"] == 4
    assert db(f"SELECT count(*) FROM audit_log WHERE entity = 'interaction' AND entity_id = '{i['id']}' "
              f"AND actor_id = '{users.ids[role]}' AND action <> 'read'") == "4"


def test_other_reps_interaction_looks_exactly_like_a_missing_one(api, users, customer, make_interaction):
    i = make_interaction(customer["id"])
    missing = str(uuid.uuid4())
    calls = [
        ("GET", None),
        ("PATCH", {"summary": "偷改"}),
        ("PATCH", {"summary": ""}),
        ("DELETE", None),
        ("POST", None),
    ]
    for method, body in calls:
        suffix = "/restore" if method == "POST" else ""
        b1 = problem(api.call(method, ipath(i["id"], suffix), users["sales2"], json_body=body), 404 if body is None
                     or body.get("summary") else 422)
        b2 = problem(api.call(method, ipath(missing, suffix), users["sales2"], json_body=body), b1["status"])
        assert (b1["type"], b1["title"], b1.get("detail"), b1.get("errors")) == \
            (b2["type"], b2["title"], b2.get("detail"), b2.get("errors")), method
        assert set(b1) == set(b2)
    problem(api.get(ipath("not-a-uuid"), users["sales"]), 404)
    problem(api.patch(ipath("not-a-uuid"), users["sales"], {"summary": "x"}), 404)
    problem(api.delete(ipath("not-a-uuid"), users["sales"]), 404)
    problem(api.post(ipath("not-a-uuid", "/restore"), users["sales"]), 404)
    assert api.get(ipath(i["id"]), users["sales"]).json() == i


def test_sales_lists_only_their_own_customers_interactions(api, users, make_customer, make_interaction):
    tag = uuid.uuid4().hex[:8]
    mine = make_interaction(make_customer(owner="sales")["id"], summary=f"mine {tag}")
    theirs = make_interaction(make_customer(owner="sales2")["id"], who="sales2", summary=f"theirs {tag}")
    assert ids_of(list_all(api, users["sales"], f"q={tag}")) == [mine["id"]]
    assert ids_of(list_all(api, users["sales2"], f"q={tag}")) == [theirs["id"]]
    for role in ("manager", "office", "admin"):
        assert set(ids_of(list_all(api, users[role], f"q={tag}"))) == {mine["id"], theirs["id"]}, role
    # Naming the other rep's customer or author yields nothing, not an error.
    assert list_all(api, users["sales"], f"customer_id={theirs['customer_id']}") == []
    assert ids_of(list_all(api, users["sales"], f"author_id={users.ids['sales2']}&q={tag}")) == []


def test_interactions_follow_their_customer_when_reassigned(api, users, customer, make_interaction):
    i = make_interaction(customer["id"])
    r = api.patch(f"/v1/customers/{customer['id']}", users["manager"], {"owner_id": users.ids["sales2"]})
    assert r.status_code == 200, r.text
    problem(api.get(ipath(i["id"]), users["sales"]), 404)
    problem(api.patch(ipath(i["id"]), users["sales"], {"summary": "x"}), 404)
    assert list_all(api, users["sales"], f"customer_id={customer['id']}") == []
    r = api.patch(ipath(i["id"]), users["sales2"], {"summary": "新负责人接手"})
    assert r.status_code == 200 and r.json()["summary"] == "新负责人接手"
    assert r.json()["author_id"] == users.ids["sales"], "the author stays"


# ---------------------------------------------------------------- archive / restore

def test_archive_and_restore(api, users, customer, make_interaction, db):
    i = make_interaction(customer["id"])
    keep = make_interaction(customer["id"])
    q = f"customer_id={customer['id']}"
    r = api.delete(ipath(i["id"]), users["sales"])
    assert r.status_code == 204 and r.content == b""
    assert ids_of(list_all(api, users["sales"], q)) == [keep["id"]]
    items = list_all(api, users["sales"], q + "&include_archived=true")
    assert set(ids_of(items)) == {i["id"], keep["id"]}
    assert [x["archived"] for x in items if x["id"] == i["id"]] == [True]
    assert ids_of(list_all(api, users["sales"], q + "&include_archived=false")) == [keep["id"]]
    g = api.get(ipath(i["id"]), users["sales"])
    assert g.status_code == 200
    assert g.json()["archived"] is True and g.json()["archived_at"] is not None and g.json()["version"] == 2
    assert db(f"SELECT count(*) FROM interactions WHERE id = '{i['id']}'") == "1"
    assert api.delete(ipath(i["id"]), users["sales"]).status_code == 204
    assert api.get(ipath(i["id"]), users["sales"]).json()["version"] == 2

    assert_invalid(api.post(ipath(i["id"], "/restore"), users["sales"], {"archived": False}), "archived")
    r = api.post(ipath(i["id"], "/restore"), users["sales"], {})
    assert r.status_code == 200, r.text
    assert r.json()["archived"] is False and r.json()["archived_at"] is None and r.json()["version"] == 3
    assert set(ids_of(list_all(api, users["sales"], q))) == {i["id"], keep["id"]}
    body = problem(api.post(ipath(i["id"], "/restore"), users["sales"]), 409)
    assert "not archived" in body["detail"]


def test_archived_interaction_can_still_be_corrected(api, users, customer, make_interaction):
    i = make_interaction(customer["id"])
    assert api.delete(ipath(i["id"]), users["sales"]).status_code == 204
    r = api.patch(ipath(i["id"]), users["sales"], {"summary": "更正错别字"})
    assert r.status_code == 200 and r.json()["summary"] == "更正错别字" and r.json()["archived"] is True


# ---------------------------------------------------------------- ETag / If-Match

def test_etag_if_none_match_and_if_match(api, users, customer, make_interaction, db):
    i = make_interaction(customer["id"])
    p = ipath(i["id"])
    r = api.get(p, users["sales"], headers={"If-None-Match": 'W/"1"'})
    assert r.status_code == 304 and r.content == b"" and r.headers["ETag"] == 'W/"1"'
    assert api.get(p, users["office"], headers={"If-None-Match": 'W/"9"'}).status_code == 200

    body = problem(api.patch(p, users["sales"], {"summary": "失败"}, headers={"If-Match": 'W/"2"'}), 412)
    assert body["type"].endswith("/precondition-failed")
    assert api.get(p, users["sales"]).json() == i
    assert db(f"SELECT count(*) FROM audit_log WHERE entity = 'interaction' AND entity_id = '{i['id']}' "
              f"AND action = 'update'") == "0"
    r = api.patch(p, users["sales"], {"summary": "成功"}, headers={"If-Match": 'W/"1"'})
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2 and r.headers["ETag"] == 'W/"2"'
    problem(api.patch(p, users["sales"], {"summary": "x"}, headers={"If-Match": 'W/"1"'}), 412)
    problem(api.delete(p, users["sales"], headers={"If-Match": 'W/"1"'}), 412)
    assert api.get(p, users["sales"]).json()["archived"] is False
    problem(api.patch(p, users["sales"], {"summary": "x"}, headers={"If-Match": "garbage"}), 400)
    assert api.delete(p, users["sales"], headers={"If-Match": 'W/"2"'}).status_code == 204
    problem(api.post(ipath(i["id"], "/restore"), users["sales"], headers={"If-Match": 'W/"2"'}), 412)
    r = api.post(ipath(i["id"], "/restore"), users["sales"], headers={"If-Match": 'W/"3"'})
    assert r.status_code == 200 and r.json()["version"] == 4
    assert api.get(p, users["sales"], headers={"If-None-Match": 'W/"1"'}).status_code == 200
    assert api.get(p, users["sales"], headers={"If-None-Match": 'W/"4"'}).status_code == 304


def test_concurrent_patches_with_same_if_match(api, users, customer, make_interaction):
    i = make_interaction(customer["id"])
    n = 6
    results = [None] * n
    barrier = threading.Barrier(n)

    def worker(k):
        a = type(api)(api.server)
        barrier.wait()
        results[k] = a.patch(ipath(i["id"]), users["sales"], {"summary": f"w{k}"}, headers={"If-Match": 'W/"1"'})

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.status_code for r in results) == [200] + [412] * (n - 1)
    winner = next(k for k, r in enumerate(results) if r.status_code == 200)
    final = api.get(ipath(i["id"]), users["sales"]).json()
    assert final["summary"] == f"w{winner}" and final["version"] == 2


def test_concurrent_writers_on_one_customer_do_not_deadlock(api, users, customer, make_interaction, db):
    """Creates, archives and restores on one customer at once: every one succeeds (one lock order)."""
    made = [make_interaction(customer["id"]) for _ in range(4)]
    assert all(api.delete(ipath(m["id"]), users["sales"]).status_code == 204 for m in made[:2])
    results = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def run(fn):
        a = type(api)(api.server)
        barrier.wait()
        r = fn(a)
        with lock:
            results.append(r.status_code)

    jobs = [
        lambda a: a.post(ipath(), users["sales"], {"customer_id": customer["id"], "channel": "phone",
                                                  "occurred_at": ts(3), "summary": "并发新增"}),
        lambda a: a.post(ipath(), users["manager"], {"customer_id": customer["id"], "channel": "email",
                                                    "occurred_at": ts(2), "summary": "并发新增"}),
        lambda a: a.post(ipath(made[0]["id"], "/restore"), users["sales"]),
        lambda a: a.post(ipath(made[1]["id"], "/restore"), users["manager"]),
        lambda a: a.delete(ipath(made[2]["id"]), users["sales"]),
        lambda a: a.delete(ipath(made[3]["id"]), users["admin"]),
        lambda a: a.patch(ipath(made[2]["id"]), users["manager"], {"occurred_at": ts(1)}),
        lambda a: a.patch(f"/v1/customers/{customer['id']}", users["sales"], {"notes": "并发"}),
    ]
    threads = [threading.Thread(target=run, args=(j,)) for j in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200] * 4 + [201] * 2 + [204] * 2
    expected = db(f"SELECT max(occurred_at) FROM interactions WHERE customer_id = '{customer['id']}' "
                  f"AND archived_at IS NULL")
    assert db(f"SELECT last_contact_at FROM customers WHERE id = '{customer['id']}'") == expected


# ---------------------------------------------------------------- list: filters, sort, pagination

@pytest.fixture
def filter_set(api, users, make_customer, make_interaction):
    """Interactions on two customers with known channels, authors, times and due dates."""
    tag = uuid.uuid4().hex[:8]
    a, b = make_customer(), make_customer()
    t0 = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=30)

    def at(days):
        return (t0 + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")

    made = {
        "a_phone": make_interaction(a["id"], channel="phone", occurred_at=at(1), summary=f"{tag} 电话",
                                    next_action="寄样", next_action_due="2026-12-01"),
        "a_email": make_interaction(a["id"], channel="email", occurred_at=at(2), summary=f"{tag} 邮件",
                                    next_action="报价", next_action_due="2026-12-10"),
        "a_wechat_mgr": make_interaction(a["id"], who="manager", channel="wechat", occurred_at=at(3),
                                         summary=f"{tag} 微信"),
        "b_phone": make_interaction(b["id"], channel="phone", occurred_at=at(4), summary=f"{tag} 电话二",
                                    next_action="回访", next_action_due="2026-11-20"),
        "b_meeting_mgr": make_interaction(b["id"], who="manager", channel="meeting", occurred_at=at(5),
                                          summary=f"{tag} 会议"),
    }
    return {"tag": tag, "a": a, "b": b, "at": at, "made": made}


FILTER_CASES = [
    ("customer_id", lambda fs: f"customer_id={fs['a']['id']}", {"a_phone", "a_email", "a_wechat_mgr"}),
    ("channel", lambda fs: "channel=phone", {"a_phone", "b_phone"}),
    ("author_id", lambda fs: "author_id={manager}", {"a_wechat_mgr", "b_meeting_mgr"}),
    ("from", lambda fs: f"from={fs['at'](3)}", {"a_wechat_mgr", "b_phone", "b_meeting_mgr"}),
    ("to", lambda fs: f"to={fs['at'](3)}", {"a_phone", "a_email"}),
    ("from_to", lambda fs: f"from={fs['at'](2)}&to={fs['at'](4)}", {"a_email", "a_wechat_mgr"}),
    ("due_before", lambda fs: "next_action_due_before=2026-12-10", {"a_phone", "b_phone"}),
    ("q", lambda fs: "q=电话", {"a_phone", "b_phone"}),
    ("combined", lambda fs: f"customer_id={fs['b']['id']}&channel=phone", {"b_phone"}),
]


@pytest.mark.parametrize("name,query,expected", FILTER_CASES, ids=[c[0] for c in FILTER_CASES])
def test_list_filters(api, users, filter_set, name, query, expected):
    fs = filter_set
    q = query(fs).replace("{manager}", users.ids["manager"]).replace("+", "%2B")
    # Restricted to this set by its tag, so other tests' rows do not interfere.
    got = list_all(api, users["manager"], f"{q}&q={fs['tag']}" if "q=" not in q else
                   q.replace("q=", f"q={fs['tag']}%20"))
    want = {fs["made"][k]["id"] for k in expected}
    assert set(ids_of(got)) == want, name
    # And the filter alone (no tag) keeps only matching rows.
    alone = list_all(api, users["manager"], q)
    mine = {x["id"] for x in fs["made"].values()}
    assert want <= set(ids_of(alone)) and not (mine - want) & set(ids_of(alone)), name


def test_list_filters_hold_for_every_item(api, users, filter_set):
    fs = filter_set
    for item in list_all(api, users["manager"], "channel=phone"):
        assert item["channel"] == "phone"
    for item in list_all(api, users["manager"], f"author_id={users.ids['manager']}"):
        assert item["author_id"] == users.ids["manager"]
    for item in list_all(api, users["manager"], "next_action_due_before=2026-12-10"):
        assert item["next_action_due"] is not None and item["next_action_due"] < "2026-12-10"
    start, end = fs["at"](2), fs["at"](4)
    for item in list_all(api, users["manager"], f"from={start}&to={end}"):
        assert start <= item["occurred_at"] < end
    # Offsets other than Z mean the same instant (from is inclusive, to exclusive).
    t = datetime.strptime(fs["at"](3), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    local = (t + timedelta(hours=8)).strftime("%Y-%m-%dT%H:%M:%S") + "%2B08:00"
    got = ids_of(list_all(api, users["manager"], f"from={local}&to={local}"))
    assert got == []
    got = ids_of(list_all(api, users["manager"], f"from={local}&q={fs['tag']}&customer_id={fs['a']['id']}"))
    assert got == [fs["made"]["a_wechat_mgr"]["id"]]


def test_sales_filters_stay_within_scope(api, users, filter_set, make_customer, make_interaction):
    fs = filter_set
    theirs = make_interaction(make_customer(owner="sales2")["id"], who="sales2", channel="phone",
                              summary=f"{fs['tag']} 别人的")
    got = set(ids_of(list_all(api, users["sales"], f"channel=phone&q={fs['tag']}")))
    assert got == {fs["made"]["a_phone"]["id"], fs["made"]["b_phone"]["id"]}
    assert theirs["id"] not in got
    assert ids_of(list_all(api, users["sales2"], f"channel=phone&q={fs['tag']}")) == [theirs["id"]]


@pytest.fixture
def sort_set(customer, make_interaction):
    """Seven interactions of one customer; two share an occurred_at (id breaks the tie)."""
    base = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=3)
    times = [base + timedelta(hours=h) for h in (5, 1, 3, 3, 6, 2, 4)]
    made = [make_interaction(customer["id"], occurred_at=t.strftime("%Y-%m-%dT%H:%M:%SZ")) for t in times]
    asc = [m["id"] for m in sorted(made, key=lambda m: (m["occurred_at"], m["id"]))]
    return customer, asc


@pytest.mark.parametrize("sort", [None, "-occurred_at", "occurred_at"])
def test_sort_and_keyset_pagination(api, users, sort_set, sort):
    customer, asc = sort_set
    expected = asc if sort == "occurred_at" else list(reversed(asc))
    base = f"customer_id={customer['id']}" + (f"&sort={sort}" if sort else "")
    whole = api.get(ipath() + f"?{base}", users["sales"]).json()
    assert ids_of(whole["items"]) == expected and whole["next_cursor"] is None
    for limit, sizes in ((3, [3, 3, 1]), (2, [2, 2, 2, 1]), (7, [7]), (1, [1] * 7)):
        seen, cursor, got_sizes = [], None, []
        while True:
            q = f"?{base}&limit={limit}" + (f"&cursor={cursor}" if cursor else "")
            body = api.get(ipath() + q, users["sales"]).json()
            got_sizes.append(len(body["items"]))
            seen += ids_of(body["items"])
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert got_sizes == sizes, limit
        assert seen == expected, limit


def test_pagination_is_stable_under_concurrent_inserts(api, users, sort_set, make_interaction):
    customer, asc = sort_set
    base = f"customer_id={customer['id']}&limit=3"
    body = api.get(ipath() + f"?{base}", users["sales"]).json()
    seen = ids_of(body["items"])
    newest = make_interaction(customer["id"], occurred_at=ts(1))
    oldest = make_interaction(customer["id"], occurred_at=ts(days_ago=20))
    cursor = body["next_cursor"]
    while cursor:
        body = api.get(ipath() + f"?{base}&cursor={cursor}", users["sales"]).json()
        seen += ids_of(body["items"])
        cursor = body["next_cursor"]
    assert len(seen) == len(set(seen))
    assert seen[:7] == list(reversed(asc)), "the originals come once each, in order"
    assert newest["id"] not in seen, "rows above the cursor are not revisited"
    assert seen[-1] == oldest["id"]


def test_walk_all_pages_across_customers(api, users, make_customer, make_interaction):
    tag = uuid.uuid4().hex[:8]
    made = {make_interaction(make_customer()["id"], summary=f"{tag} #{k}")["id"] for k in range(5)}
    items = list_all(api, users["manager"], f"q={tag}", limit=2)
    assert len(items) == 5 and set(ids_of(items)) == made
    times = [x["occurred_at"] for x in items]
    assert times == sorted(times, reverse=True)


BAD_QUERIES = [
    "limit=0", "limit=201", "limit=abc", "cursor=bogus", "q=", "q=" + "记" * 101, "sort=summary", "sort=-created_at",
    "include_archived=1", "customer_id=abc", "author_id=123", "channel=fax", "channel=", "from=2026-01-01",
    "to=yesterday", "from=2026-01-01T00:00:00", "next_action_due_before=2026-13-01",
    "next_action_due_before=2026-01-01T00:00:00Z", "status=open", "owner_id=" + str(uuid.uuid4()),
]


@pytest.mark.parametrize("query", BAD_QUERIES)
def test_bad_list_query_is_400(api, users, query):
    body = problem(api.get(ipath() + "?" + query, users["sales"]), 400)
    assert body["type"].endswith("/bad-request")


@pytest.mark.parametrize("sort,key", [
    ("-occurred_at", "not-a-time"),
    ("occurred_at", "2024-13-45 99:00:00+00"),
    ("-occurred_at", ""),
    ("-occurred_at", "2024-01-01T00:00:00Z'; DROP TABLE interactions; --"),
])
def test_forged_cursor_is_400(api, users, sort, key):
    cursor = b64(["interactions", sort, key, str(uuid.uuid4())])
    body = problem(api.get(ipath() + f"?sort={sort}&cursor={cursor}", users["sales"]), 400)
    assert "cursor" in body["detail"]
    problem(api.get(ipath() + f"?sort={sort}&cursor={b64(['interactions', sort, '2024-01-01T00:00:00Z', 'x'])}",
                    users["sales"]), 400)
    # The same shape with sane keys is accepted (so the 400 above is about the key).
    sane = b64(["interactions", sort, "2024-01-01T00:00:00.000000+00:00", str(uuid.uuid4())])
    assert api.get(ipath() + f"?sort={sort}&cursor={sane}", users["sales"]).status_code == 200


def test_cursor_from_another_sort_or_list_is_400(api, users, sort_set, make_customer):
    customer, _ = sort_set
    cur = api.get(ipath() + f"?customer_id={customer['id']}&limit=1", users["sales"]).json()["next_cursor"]
    assert cur
    assert api.get(ipath() + f"?customer_id={customer['id']}&limit=1&cursor={cur}", users["sales"]).status_code == 200
    problem(api.get(ipath() + f"?sort=occurred_at&cursor={cur}", users["sales"]), 400)
    problem(api.get(f"/v1/customers?cursor={cur}", users["sales"]), 400)
    make_customer()
    make_customer()
    ccur = api.get("/v1/customers?limit=1", users["sales"]).json()["next_cursor"]
    assert ccur
    problem(api.get(ipath() + f"?cursor={ccur}", users["sales"]), 400)


# ---------------------------------------------------------------- idempotency and audit

def test_idempotency_key_replays_the_first_response(api, users, customer, db):
    key = uuid.uuid4().hex
    body = {"customer_id": customer["id"], "channel": "phone", "occurred_at": ts(3), "summary": unique("幂等")}
    r1 = api.post(ipath(), users["sales"], body, headers={"Idempotency-Key": key})
    r2 = api.post(ipath(), users["sales"], body, headers={"Idempotency-Key": key})
    assert r1.status_code == r2.status_code == 201
    assert r1.json() == r2.json() and r1.headers["Location"] == r2.headers["Location"]
    assert r2.headers.get("Idempotent-Replayed") == "true"
    assert count_for(db, customer["id"]) == 1
    r3 = api.post(ipath(), users["sales"], {**body, "summary": "另一条"}, headers={"Idempotency-Key": key})
    assert_invalid(r3, "Idempotency-Key")
    assert count_for(db, customer["id"]) == 1
    assert db(f"SELECT count(*) FROM audit_log WHERE entity = 'interaction' AND action = 'create' "
              f"AND customer_id = '{customer['id']}'") == "1"


def test_changes_and_reads_are_audited(api, users, customer, make_interaction, db):
    i = make_interaction(customer["id"], summary="初次沟通")
    row = db(f"SELECT customer_id || '|' || actor_id || '|' || actor_role || '|' || (after->>'summary') "
             f"FROM audit_log WHERE entity = 'interaction' AND action = 'create' AND entity_id = '{i['id']}'")
    assert row == f"{customer['id']}|{users.ids['sales']}|sales|初次沟通"
    assert api.patch(ipath(i["id"]), users["manager"], {"summary": "补充记录"}).status_code == 200
    row = db(f"SELECT (before->>'summary') || '|' || (after->>'summary') || '|' || actor_role FROM audit_log "
             f"WHERE entity = 'interaction' AND action = 'update' AND entity_id = '{i['id']}'")
    assert row == "初次沟通|补充记录|sales_manager"
    assert api.delete(ipath(i["id"]), users["sales"]).status_code == 204
    assert api.post(ipath(i["id"], "/restore"), users["sales"]).status_code == 200
    rows = db(f"SELECT string_agg(action || ':' || (before->>'archived_at' IS NULL)::text || ':' || "
              f"(after->>'archived_at' IS NULL)::text, ',' ORDER BY id) FROM audit_log "
              f"WHERE entity = 'interaction' AND entity_id = '{i['id']}' AND action IN ('archive', 'restore')")
    assert rows == "archive:true:false,restore:false:true"
    assert api.get(ipath(i["id"]), users["office"]).status_code == 200
    sql = (f"SELECT count(*) FROM audit_log WHERE action = 'read' AND entity = 'interaction' "
           f"AND entity_id = '{i['id']}' AND actor_id = '{users.ids['office']}' AND customer_id = '{customer['id']}'")
    assert wait_for(lambda: db(sql) == "1")
    # Interaction changes show in the customer's history.
    h = api.get(f"/v1/customers/{customer['id']}/history", users["sales"]).json()["items"]
    entries = [(e["entity"], e["action"]) for e in h if e["entity_id"] == i["id"]]
    assert entries == [("interaction", a) for a in ("restore", "archive", "update", "create")]


def test_failed_writes_leave_no_audit_and_no_row(api, users, customer, db):
    before = db("SELECT count(*) FROM audit_log WHERE entity = 'interaction'")
    body = {"customer_id": customer["id"], "channel": "phone", "occurred_at": ts(1), "summary": "x",
            "contact_id": str(uuid.uuid4())}
    assert_invalid(api.post(ipath(), users["sales"], body), "contact_id")
    assert db("SELECT count(*) FROM audit_log WHERE entity = 'interaction'") == before
    assert count_for(db, customer["id"]) == 0
