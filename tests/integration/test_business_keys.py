"""A business key is a safe path segment (engine/instances.BUSINESS_KEY): a key such as `X/ocds` would hide
its own ledger behind its OCDS release. Keys that exist from before the rule stay reachable."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select, update

from engine.storage.models import AuditEvent, Instance
from tests.conftest import fixture_bytes

XML = {"Content-Type": "application/xml"}
DATA = {"employer": "EMP", "contractor": "CON"}


@pytest.fixture
def deployed(client, people):
    r = client.post("/api/v1/definitions", data=fixture_bytes("approval.bpmn"), headers={**people.auth("designer"), **XML})
    assert r.status_code == 201, r.get_json()


def _start(client, people, key):
    return client.post("/api/v1/instances", headers=people.auth("operator"),
                       json={"definition": "variation_approval", "business_key": key, "data": DATA})


def _counts(app):
    with app.extensions["lvyue"].db.read() as s:
        return (s.scalar(select(func.count()).select_from(Instance)), s.scalar(select(func.count()).select_from(AuditEvent)))


@pytest.mark.parametrize("key", ["LH-2026-0001/ocds", "LH/2026/1", "A" * 65, "LH 2026", "中标-2026-1", "-LH", ".LH", "_LH",
                                 "LH-1\n", "LH?x=1", "LH#1", "LH%2F1", "ＬＨ-1", "LH\u00a01", ""])
def test_a_key_outside_the_charset_is_refused_naming_the_field(app, client, people, deployed, key):
    before = _counts(app)
    r = _start(client, people, key)
    assert r.status_code == 422, (key, r.get_json())
    assert r.headers["Content-Type"].startswith("application/problem+json")
    assert list(r.get_json()["errors"]) == ["business_key"], r.get_json()
    assert _counts(app) == before


@pytest.mark.parametrize("key", ["LH-2026-0001", "A" * 64, "a.b_c-D9", "7"])
def test_a_safe_key_is_accepted_and_its_ledger_and_release_are_reachable(client, people, deployed, key):
    r = _start(client, people, key)
    assert r.status_code == 201, r.get_json()
    assert client.get(f"/api/v1/contracts/{key}", headers=people.auth("operator")).get_json()["business_key"] == key
    assert client.get(f"/api/v1/contracts/{key}/ocds", headers=people.auth("operator")).status_code == 200


def test_a_key_from_before_the_rule_stays_reachable(app, client, people, deployed):
    r = _start(client, people, "LEGACY-1")
    assert r.status_code == 201
    with app.extensions["lvyue"].db.transaction() as s:  # started when '/' was allowed
        s.execute(update(Instance).where(Instance.business_key == "LEGACY-1").values(business_key="ZZ/2025/7"))
    ledger = client.get("/api/v1/contracts/ZZ/2025/7", headers=people.auth("operator"))
    assert ledger.status_code == 200 and ledger.get_json()["business_key"] == "ZZ/2025/7"
    assert client.get("/api/v1/contracts/ZZ/2025/7/ocds", headers=people.auth("operator")).status_code == 200
    listed = client.get("/api/v1/instances?business_key=ZZ/2025/7", headers=people.auth("operator")).get_json()["items"]
    assert [i["business_key"] for i in listed] == ["ZZ/2025/7"]
