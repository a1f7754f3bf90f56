"""GET /api/v1/definitions/{key} carries the start form (issue 19): the fields the diagram declares and a JSON
Schema of `POST /instances` data whose required names are exactly what the engine refuses to start without."""
from __future__ import annotations

from tests.e2e.test_post_award import at, tendering_works


def test_the_definition_names_its_start_form_and_the_engine_agrees_on_what_is_required(api):
    d = api.call("GET", "/api/v1/definitions/post_award", "operator")
    names = [f["name"] for f in d["start_form"]]
    assert {"award_notice_date", "contract_amount", "milestones", "bid_bond"} <= set(names)
    [amount] = [f for f in d["start_form"] if f["name"] == "contract_amount"]
    assert amount["required"] is True and amount["label"]
    schema = d["start_schema"]
    assert schema["type"] == "object"
    assert schema["properties"]["contract_amount"]["pattern"].startswith("^")  # money in the strict format
    assert schema["properties"]["award_notice_date"]["format"] == "date"
    assert schema["properties"]["milestones"]["type"] == "array"
    assert {"employer", "contractor", "department"} <= set(schema["required"])
    assert "guarantor" in schema["properties"] and "guarantor" not in schema["required"]  # an optional lane
    assert d == api.call("GET", f"/api/v1/definitions/post_award/versions/{d['version']}", "operator")

    # Every name the schema requires is one the engine refuses to start without, naming it.
    full = tendering_works()
    api.start("LH-SF-OK", full, at(8, 4))
    for i, name in enumerate(schema["required"]):
        data = {k: v for k, v in full.items() if k != name}
        r = api.client.post("/api/v1/instances", headers=api.people.auth("operator"),
                            json={"definition": "post_award", "business_key": f"LH-SF-{i}", "data": data})
        assert r.status_code == 422, (name, r.get_json())
        assert f"data.{name}" in r.get_json()["errors"], (name, r.get_json()["errors"])
