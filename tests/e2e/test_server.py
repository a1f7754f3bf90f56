"""Against the real HTTP server (`lvyue serve` in a subprocess): restarts and concurrent clients."""
from __future__ import annotations

import threading

import pytest

from tests.conftest import Server, fixture_bytes, seed_people
from tests import requests_shim as http
from engine.storage.db import Database


def _setup(server: Server, business_key: str):
    database = Database(server.db_url)
    people = seed_people(database)
    database.dispose()
    r = http.request("POST", server.base + "/api/v1/definitions", raw=fixture_bytes("approval.bpmn"),
                     headers={**people.auth("designer"), "Content-Type": "application/xml"})
    assert r.status in (200, 201), r.body
    return people


def _start(server, people, business_key):
    r = http.request("POST", server.base + "/api/v1/instances", headers=people.auth("operator"),
                     body={"definition": "variation_approval", "business_key": business_key,
                           "data": {"employer": "EMP", "contractor": "CON"}})
    assert r.status == 201, r.body
    return r.json()


def test_restarting_the_server_mid_process_loses_nothing(db_url, tmp_path):
    server = Server(db_url, tmp_path).start()
    try:
        people = _setup(server, "R-1")
        instance = _start(server, people, "R-1")
        task = instance["tasks"][0]
        r = http.request("POST", f"{server.base}/api/v1/tasks/{task['id']}/complete", headers=people.auth("con"),
                         body={"data": {"amount": "10.50", "reason": "r"}})
        assert r.status == 200
    finally:
        server.kill()  # SIGKILL: no clean shutdown

    server = Server(db_url, tmp_path).start()
    try:
        again = http.request("GET", f"{server.base}/api/v1/instances/{instance['id']}", headers=people.auth("emp")).json()
        assert again["status"] == "running" and again["data"]["amount"] == "10.50"
        [approve] = again["tasks"]
        assert approve["element_id"] == "approve_variation"
        r = http.request("POST", f"{server.base}/api/v1/tasks/{approve['id']}/complete", headers=people.auth("emp"),
                         body={"data": {"approved": True}})
        assert r.status == 200 and r.json()["instance"]["status"] == "completed"
    finally:
        server.kill()


@pytest.mark.parametrize("rounds", [8])
def test_two_clients_completing_the_same_task_exactly_one_wins(db_url, tmp_path, rounds):
    server = Server(db_url, tmp_path).start()
    try:
        people = _setup(server, "C")
        for n in range(rounds):
            instance = _start(server, people, f"C-{n}")
            task_id = instance["tasks"][0]["id"]
            barrier, statuses = threading.Barrier(2), []

            def complete(reason):
                barrier.wait()
                r = http.request("POST", f"{server.base}/api/v1/tasks/{task_id}/complete", headers=people.auth("con"),
                                 body={"data": {"amount": "1", "reason": reason}})
                statuses.append(r.status)

            threads = [threading.Thread(target=complete, args=(f"client {i}",)) for i in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            assert sorted(statuses) == [200, 409], statuses
            history = http.request("GET", f"{server.base}/api/v1/instances/{instance['id']}/history",
                                   headers=people.auth("operator")).json()["items"]
            assert [e["action"] for e in history].count("task_completed") == 1
    finally:
        server.kill()
