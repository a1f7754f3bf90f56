"""Fixtures of the security suite.

`shared_app` is one application (with the usual test directory) per database kind and per test
module, for tests that only read or only add uniquely-keyed rows: hundreds of hostile uploads then
cost milliseconds each instead of a database reset each. Modules that use it must not also use the
function-scoped `db_url` (on PostgreSQL that fixture truncates every table).
"""
from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass

import pytest

from engine import clock
from engine.runtime import diagrams, spiff
from engine.storage.models import Definition
from tests.conftest import People, _truncate_pg, seed_people

PROBLEM = "application/problem+json"
XML = {"Content-Type": "application/xml"}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def shared_db_url(request, tmp_path_factory, sqlite_template) -> str:
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("shared") / "lvyue.sqlite"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("pg_migrated")
    _truncate_pg(url)
    return url


@dataclass
class Shared:
    app: object
    client: object
    people: People

    @property
    def db(self):
        return self.app.extensions["lvyue"].db


@pytest.fixture(scope="module")
def shared(shared_db_url) -> Shared:
    from api import create_app

    app = create_app({"DATABASE_URL": shared_db_url, "TESTING": True})
    people = seed_people(app.extensions["lvyue"].db)
    yield Shared(app, app.test_client(), people)
    app.extensions["lvyue"].db.dispose()


def assert_problem(response, status: int) -> dict:
    """The response is an RFC 9457 problem with `status`, a non-empty detail and no stack trace."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:500])
    assert response.mimetype == PROBLEM, response.mimetype
    body = response.get_json()
    assert body["status"] == status and body["title"] and body["detail"].strip(), body
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and 'File "' not in text, text[:500]
    return body


def store_without_lint(db, data: bytes) -> str:
    """Store a diagram as a deployed definition the way an older Lvyue would have: hardened XML parse,
    the model read by the linter, the spec built by `spiff.parse_spec` — but every lint problem ignored.
    This is "a diagram stored before a rule tightened". Returns the definition key."""
    root = diagrams._parse_xml(data)
    process, problems = diagrams._pick_process(root)
    assert process is not None, problems
    _ignored, model = diagrams._lint(root, process)
    bundle = spiff.parse_spec(root, process.get("id"))
    key = process.get("id")
    with db.transaction() as session:
        session.add(Definition(key=key, version=1, name=process.get("name"), sha256=hashlib.sha256(data).hexdigest(),
                               xml=data.decode("utf-8"), spec=spiff.dump_spec(bundle), model_json=model,
                               deployed_at=clock.now(), deployed_by="lvyue-before-the-rule"))
    return key


def all_rows(db) -> list[tuple]:
    """Every row of every table (to show that a refused request changed nothing)."""
    from sqlalchemy import select

    from engine.storage.models import Base

    rows = []
    with db.read() as session:
        for table in Base.metadata.sorted_tables:
            rows.extend((table.name, *row) for row in session.execute(select(table)))
    return rows
