"""Shared fixtures: every database test runs on SQLite and on PostgreSQL.

PostgreSQL comes from TEST_DATABASE_URL (default: the local server on 127.0.0.1:5432). Where it is
unreachable those tests skip with the reason — except under CI=true, where they must run. Under pytest-xdist
(`./dev test` runs one worker per core) each worker has its own database on that server, `<name>_<worker>`,
created on first use: the PostgreSQL fixtures truncate and migrate their database, which two workers cannot share.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from tests import requests_shim as http
from sqlalchemy import create_engine, make_url, text

from engine import bootstrap
from engine.access import directory
from engine.storage import migrate
from engine.storage.db import Database
from engine.storage.models import Base

ROOT = Path(__file__).resolve().parent.parent
# Tests call the engine directly (no app, no CLI): compose the domain with the runtime as they do.
bootstrap.bootstrap()
FIXTURES = Path(__file__).resolve().parent / "fixtures"
BASE_PG_URL = os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _worker_url(url: str) -> str:
    """This xdist worker's own database beside `url`'s (`url` itself when not under xdist)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return url
    parsed = make_url(url)
    return parsed.set(database=f"{parsed.database}_{worker}").render_as_string(hide_password=False)


PG_URL = _worker_url(BASE_PG_URL)


def run_quick_bench(script: str, output: Path, *args: str, timeout: float = 300) -> tuple[dict, str]:
    """Run `bench/<script> --quick --output <output> <args>` from the repository root; its JSON result and
    its printed table. A failed run fails the test with the end of what it printed."""
    run = subprocess.run([sys.executable, f"bench/{script}", "--quick", "--output", str(output), *args],
                         cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return json.loads(output.read_text()), run.stdout


def _pg_reachable(url: str) -> str | None:
    try:
        engine = create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:  # any failure to connect means: no PostgreSQL here
        return f"PostgreSQL not reachable at {url}: {exc.__class__.__name__}"


def _create_worker_database() -> str | None:
    """Create this worker's database (PG_URL) on TEST_DATABASE_URL's server if it is not there yet."""
    if PG_URL == BASE_PG_URL:
        return None
    reason = _pg_reachable(BASE_PG_URL)
    if reason:
        return reason
    name = make_url(PG_URL).database
    engine = create_engine(BASE_PG_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        if conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first() is None:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return None


_PG_REASON: list[str | None] = []  # the answer of the first check: the server does not come and go within a run


def require_postgres() -> None:
    """Skip the calling test where no PostgreSQL answers at TEST_DATABASE_URL, with the reason; under CI=true
    fail instead: CI must run the PostgreSQL tests."""
    if not _PG_REASON:
        _PG_REASON.append(_create_worker_database() or _pg_reachable(PG_URL))
    reason = _PG_REASON[0]
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the PostgreSQL tests: {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.sqlite"
    migrate.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_migrated() -> str:
    require_postgres()
    engine = create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    migrate.upgrade(PG_URL)
    return PG_URL


def _truncate_pg(url: str) -> None:
    engine = create_engine(url)
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path, sqlite_template) -> str:
    """A migrated, empty database of each kind."""
    if request.param == "sqlite":
        path = tmp_path / "lvyue.sqlite"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("pg_migrated")
    _truncate_pg(url)
    return url


@pytest.fixture
def db(db_url) -> Database:
    database = Database(db_url)
    yield database
    database.dispose()


@pytest.fixture
def app(db_url, tmp_path):
    from api import create_app

    app = create_app({"DATABASE_URL": db_url, "TESTING": True})
    yield app
    app.extensions["lvyue"].db.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


class People:
    """The directory of a test: departments, organisations, and a token per user name."""

    def __init__(self, tokens: dict[str, str]):
        self.tokens = tokens

    def auth(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}


def seed_people(database: Database) -> People:
    tokens = {}
    with database.transaction() as s:
        directory.add_department(s, "JW", "纪委监委")
        s.flush()
        directory.add_department(s, "ZJ", "住建局", escalates_to="JW")
        s.flush()
        directory.add_department(s, "ZJ-D", "区住建局", parent="ZJ", escalates_to="JW")
        directory.add_department(s, "CZ", "财政局", escalates_to="JW")
        for code, rating, sme in (("EMP", None, False), ("CON", "AAA", False), ("CON2", "AA", True),
                                  ("GUA", None, False), ("OTHER", None, False)):
            directory.add_organisation(s, code, f"org {code}", rating, sme)
        s.flush()
        for name, role, org, dept in (("admin", "admin", None, None), ("operator", "operator", None, None),
                                      ("designer", "designer", None, None), ("emp", "party", "EMP", None),
                                      ("con", "party", "CON", None), ("con2", "party", "CON2", None),
                                      ("gua", "party", "GUA", None), ("other", "party", "OTHER", None),
                                      ("zj", "supervisor", None, "ZJ"), ("zjd", "supervisor", None, "ZJ-D"),
                                      ("cz", "supervisor", None, "CZ")):
            _, tokens[name] = directory.add_user(s, name, role, org, dept)
    return People(tokens)


@pytest.fixture
def people(app) -> People:
    return seed_people(app.extensions["lvyue"].db)


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`lvyue serve` in a subprocess: the real HTTP server a user runs."""

    def __init__(self, db_url: str, tmp_path: Path, *args: str):
        self.db_url, self.tmp_path, self.args = db_url, tmp_path, args
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Server":
        env = dict(os.environ, DATABASE_URL=self.db_url, LVYUE_INSTANCE_PATH=str(self.tmp_path / "instance"))
        log = open(self.tmp_path / f"server-{uuid.uuid4().hex[:6]}.log", "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--port", str(self.port), *self.args],
                                     cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if http.request("GET", self.base + "/healthz").status == 200:
                    return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("server did not come up")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture
def server(db_url, tmp_path):
    srv = Server(db_url, tmp_path).start()
    yield srv
    srv.kill()


@pytest.fixture
def api(client, people, app):
    """The post_award driver (tests/e2e/test_post_award.py `Api`) on the app, the bundled diagrams deployed."""
    # local import: that module imports this one (its helpers build on seed_people and the fixtures above)
    from tests.e2e.test_post_award import Api

    driver = Api(client, people, app)
    driver.deploy()
    return driver
