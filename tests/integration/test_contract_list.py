"""GET /api/v1/contracts (the contract list behind the /contracts page) and GET /api/v1/me (who the caller is):
what each role sees, the filters, the open alerts counted by severity as the caller may see them, bad input."""
from __future__ import annotations

from tests.e2e.test_post_award import at, procurement_goods, tendering_works


def keys(api, who, query=""):
    return [c["business_key"] for c in api.call("GET", f"/api/v1/contracts{query}", who, at(12, 1))["items"]]


def test_the_list_is_scoped_filtered_and_counts_the_visible_open_alerts(api):
    api.start("LH-L-ZJ", tendering_works(), at(8, 4))
    api.start("LH-L-CZ", procurement_goods(), at(8, 5))
    api.start("LH-L-ZJ-D", tendering_works(department="ZJ-D", employer="OTHER"), at(8, 6))
    api.tick(at(12, 1))  # months after the award: the signing alerts are red

    assert keys(api, "admin") == ["LH-L-ZJ-D", "LH-L-CZ", "LH-L-ZJ"]  # newest first
    assert keys(api, "zj") == ["LH-L-ZJ-D", "LH-L-ZJ"]  # its department and the one below it
    assert keys(api, "cz") == ["LH-L-CZ"]
    assert keys(api, "emp") == ["LH-L-CZ", "LH-L-ZJ"]  # a party: its own contracts
    assert keys(api, "con2") == ["LH-L-CZ"]
    assert keys(api, "designer") == []

    assert keys(api, "zj", "?department=ZJ") == ["LH-L-ZJ"]
    assert keys(api, "admin", "?employer=OTHER") == ["LH-L-ZJ-D"]
    assert keys(api, "admin", "?status=completed") == []
    every = api.call("GET", "/api/v1/alerts?limit=500", "admin", at(12, 1))["items"]
    for severity in ("red", "orange", "yellow"):
        having = {a["business_key"] for a in every if a["severity"] == severity and a["status"] != "resolved"}
        assert keys(api, "admin", f"?severity={severity}") == [k for k in keys(api, "admin") if k in having], severity
    assert "LH-L-ZJ" in keys(api, "admin", "?severity=red")
    assert keys(api, "admin", "?severity=red&department=ZJ") == ["LH-L-ZJ"]

    [row] = api.call("GET", "/api/v1/contracts?department=ZJ", "zj", at(12, 1))["items"]
    alerts = api.call("GET", "/api/v1/alerts?business_key=LH-L-ZJ&limit=500", "zj", at(12, 1))["items"]
    unresolved = [a for a in alerts if a["status"] != "resolved"]
    assert row["open_alerts"] == {s: sum(a["severity"] == s for a in unresolved) for s in ("red", "orange", "yellow")}
    assert row["open_alerts"]["red"] >= 1 and row["worst_severity"] == "red"
    assert row["department"] == {"code": "ZJ", "name": "住建局"}
    assert {p["role"]: p["org_code"] for p in row["parties"]} == {"employer": "EMP", "contractor": "CON"}
    assert row["contract_amount"] == "1200000.00" and row["project_name"] == "第一中学教学楼改造"
    assert row["definition"]["key"] == "post_award" and row["status"] == "running"
    # A party counts only the alerts about its own obligations (as GET /alerts shows it).
    [mine] = api.call("GET", "/api/v1/contracts?department=ZJ", "con", at(12, 1))["items"]
    con_alerts = api.call("GET", "/api/v1/alerts?business_key=LH-L-ZJ&limit=500", "con", at(12, 1))["items"]
    assert sum(mine["open_alerts"].values()) == sum(a["status"] != "resolved" for a in con_alerts)

    page1 = api.call("GET", "/api/v1/contracts?limit=2", "admin", at(12, 1))
    page2 = api.call("GET", f"/api/v1/contracts?limit=2&cursor={page1['next_cursor']}", "admin", at(12, 1))
    assert [c["business_key"] for c in page1["items"] + page2["items"]] == keys(api, "admin")
    assert page2["next_cursor"] is None


def test_bad_filters_are_422_naming_the_field_and_strangers_401(api, client):
    for query, field in (("?status=open", "status"), ("?severity=purple", "severity"), ("?limit=0", "limit"),
                         ("?cursor=nope", "cursor"), ("?department=" + "X" * 65, "department")):
        r = api.client.get("/api/v1/contracts" + query, headers=api.people.auth("admin"))
        assert r.status_code == 422, (query, r.get_json())
        assert field in r.get_json()["errors"] or any(k.endswith(field) for k in r.get_json()["errors"]), r.get_json()
    assert client.get("/api/v1/contracts").status_code == 401
    assert client.get("/api/v1/me").status_code == 401


def test_me_names_the_caller(api):
    assert api.call("GET", "/api/v1/me", "emp") == {"name": "emp", "role": "party", "org": "EMP", "department": None,
                                                    "departments": []}
    me = api.call("GET", "/api/v1/me", "zj")
    assert (me["role"], me["department"], me["org"]) == ("supervisor", "ZJ", None)
    assert set(me["departments"]) == {"ZJ", "ZJ-D"}
