"""The dashboard's lists cut at any `limit` exactly where the full order would: its most severe alerts (read one
severity at a time, in index order) and its contracts at risk (grouped in SQL), ties on days overdue included."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from engine import clock
from engine.access.directory import Principal
from engine.storage.models import Alert
from engine.supervision import reports
from tests.conftest import fixture_bytes

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=timezone.utc)
NOW = T0 + timedelta(days=40)
ADMIN = Principal(0, "test", "admin")
# (severity, days overdue at NOW, amount or None, status) per alert; contracts get 1–3 of them. Several alerts share
# a severity and a day (ties), a contract may owe on two, and a resolved alert counts for nothing.
SPECS = [
    [("red", 10, "500.00", "open")], [("red", 10, "500.00", "open"), ("orange", 3, None, "open")],
    [("red", 10, None, "open")], [("red", 12, None, "acknowledged")], [("orange", 10, "900.00", "open")],
    [("orange", 10, "900.00", "open"), ("red", 0, None, "resolved")], [("yellow", 0, None, "open")],
    [("red", 2, "100.00", "open"), ("red", 10, "400.00", "open")], [("orange", 1, "50.00", "open")],
    [("red", 10, "500.00", "open")], [("yellow", 0, "10.00", "open"), ("orange", 10, None, "open")],
]


def test_every_limit_cuts_the_full_order(client, people, db):
    r = client.post("/api/v1/definitions", data=fixture_bytes("short_timer.bpmn"),
                    headers={**people.auth("designer"), "Content-Type": "application/xml"})
    assert r.status_code == 201, r.get_json()
    ids = []
    with clock.frozen_at(T0):
        for i in range(len(SPECS)):
            r = client.post("/api/v1/instances", headers=people.auth("operator"), json={
                "definition": "short_timer", "business_key": f"LIM-{i % 4}-{i:02d}",
                "data": {"employer": "EMP", "department": "ZJ", "due_at": (T0 + timedelta(days=400)).isoformat(),
                         "amount": "1.00"}})
            assert r.status_code == 201, r.get_json()
            ids.append((r.get_json()["id"], f"LIM-{i % 4}-{i:02d}"))
    with db.transaction() as s:
        for (instance_id, key), alerts in zip(ids, SPECS):
            for n, (severity, days, amount, status) in enumerate(alerts):
                due = NOW - timedelta(days=days, hours=5) if days else NOW + timedelta(hours=5)
                s.add(Alert(id=str(uuid.uuid4()), instance_id=instance_id, business_key=key, element_id=f"e{n}",
                            occurrence="process", kind="arrears" if amount else "non_performance", code=f"C{n}",
                            severity=severity, department_code="ZJ", responsible_role="employer", responsible_org="EMP",
                            due_at=due, raised_at=T0, updated_at=T0, status=status,
                            amount_overdue=Decimal(amount) if amount else None,
                            resolved_at=NOW - timedelta(days=1) if status == "resolved" else None))
    with clock.frozen_at(NOW):
        full = reports.dashboard(db, ADMIN, limit=100)
        alerts_in_order, at_risk = full["open_alerts"]["items"], full["contracts_at_risk"]
        assert len(alerts_in_order) == 14 and len(at_risk) == 11
        assert [a["severity"] for a in alerts_in_order[:7]] == ["red"] * 7
        assert [c["business_key"] for c in at_risk[:3]] == ["LIM-0-00", "LIM-1-01", "LIM-1-09"]  # red, 500 owed
        for limit in range(1, 15):
            cut = reports.dashboard(db, ADMIN, limit=limit)
            assert cut["open_alerts"]["items"] == alerts_in_order[:limit], limit
            assert cut["contracts_at_risk"] == at_risk[:limit], limit
