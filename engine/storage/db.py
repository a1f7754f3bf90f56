"""Database plumbing: engine creation, sessions and the unit of work.

SQLite (WAL) is the embedded default; PostgreSQL serves production and several processes. A write
unit of work on SQLite starts with `BEGIN IMMEDIATE`, so two steps never interleave their reads and
writes (SQLite cannot upgrade a stale read snapshot to a write and would fail the second one with
an unhelpful "database is locked"); on PostgreSQL the optimistic version check of each instance row
does that job (ARCHITECTURE.md §2).
"""
from __future__ import annotations

import concurrent.futures
import contextlib
import contextvars
import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

import sqlalchemy.exc
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import BigInteger, DateTime, TypeDecorator

_immediate: contextvars.ContextVar[bool] = contextvars.ContextVar("lvyue_sqlite_immediate", default=False)


class Base(DeclarativeBase):
    pass


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes on every backend (SQLite stores them naive, in UTC)."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect):
        return dialect.type_descriptor(DateTime(timezone=dialect.name == "postgresql"))

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime written to the database")
        value = value.astimezone(timezone.utc)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class Money(TypeDecorator):
    """An amount of CNY stored as an integer number of fen (BIGINT), so that SQL sums it exactly; read as a
    Decimal with exactly 2 places. Writing anything but a Decimal or an int, a value that is not finite, or
    one finer than a fen raises ValueError: storage never rounds (amounts are parsed by engine/values.py,
    and a computed one is rounded on purpose before it is stored)."""

    impl = BigInteger
    cache_ok = True
    PLACES = 2
    MAX_DIGITS = 18  # of the fen: a BIGINT holds 18 decimal digits

    def process_bind_param(self, value: Decimal | int | None, dialect):
        return None if value is None else self.to_fen(value)

    def process_result_value(self, value: int | None, dialect):
        return None if value is None else Decimal(int(value)).scaleb(-self.PLACES)

    @classmethod
    def to_fen(cls, value: Decimal | int) -> int:
        """The integer number of fen in `value`: 1200000.00 → 120000000; ValueError as above."""
        if isinstance(value, bool) or not isinstance(value, (Decimal, int)):
            raise ValueError(f"money is written as a Decimal, not {type(value).__name__}")
        number = Decimal(value)
        if not number.is_finite():
            raise ValueError(f"money must be finite, not {number}")
        if number.is_zero():
            return 0
        # Checked on the exponent before scaling: a Decimal such as 1E-999999999 stays cheap.
        if number.adjusted() >= cls.MAX_DIGITS - cls.PLACES:
            raise ValueError("money out of range: at most 16 digits before the decimal point")
        fen = number.scaleb(cls.PLACES)
        if number.adjusted() < -cls.PLACES or fen != fen.to_integral_value():
            raise ValueError(f"money has at most {cls.PLACES} decimals (fen); not rounded: {str(number)[:40]}")
        return int(fen)

    def coerce_compared_value(self, op, value):
        # A comparison with a literal Decimal binds it as fen like a stored value; `func.sum` of a Money
        # column keeps the type and so reads back as a Decimal too.
        return self


def default_url(instance_path: str | os.PathLike = "instance") -> str:
    """The embedded SQLite database in the instance folder (created if absent), used where DATABASE_URL is unset."""
    folder = Path(instance_path).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'lvyue.sqlite'}"


def make_engine(url: str) -> Engine:
    """An engine for `url`; psycopg 3 is used for plain postgresql:// URLs.

    A failed statement's error never carries its bound parameters (`hide_parameters`): they are contract
    data, and error texts reach logs and incident records."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, hide_parameters=True)
        _configure_sqlite(engine)
        return engine
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True, hide_parameters=True)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # We issue BEGIN ourselves (below); pysqlite's implicit transactions would defeat it.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        if connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
            return  # Database.lookup: one statement, no transaction
        connection.exec_driver_sql("BEGIN IMMEDIATE" if _immediate.get() else "BEGIN")


def side_by_side(sessions: list[Session], *groups: dict[str, Callable[[Session], Any]]) -> dict[str, Any]:
    """Run groups of jobs (name → job(session)), each group on its own session of `sessions` (Database.snapshot)
    in its own thread, the first in this one; with fewer sessions than groups, the groups left run in turn on the
    last session. Returns every job's result by name; the first job to fail raises here, after the others ended.
    The threads run in a copy of this one's context variables (a frozen clock reaches them)."""
    plan: list[tuple[Session, list[dict]]] = [(session, []) for session in sessions[:len(groups)]]
    for i, group in enumerate(groups):
        plan[min(i, len(plan) - 1)][1].append(group)

    def run(session: Session, mine: list[dict]) -> dict[str, Any]:
        return {name: job(session) for group in mine for name, job in group.items()}

    if len(plan) == 1:
        return run(*plan[0])
    with ThreadPoolExecutor(max_workers=len(plan) - 1, thread_name_prefix="lvyue-snapshot") as pool:
        futures = [pool.submit(contextvars.copy_context().run, run, session, mine) for session, mine in plan[1:]]
        try:
            out = run(*plan[0])
        finally:
            concurrent.futures.wait(futures)
        for future in futures:
            out.update(future.result())
    return out


class Database:
    """An engine plus its session factory: one per process and database URL."""

    SIDE_CONNECTIONS = 4  # the snapshot sessions' connections beyond the first (Database.snapshot), per process

    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False, autoflush=True)
        self._side_engine: Engine | None = None
        self._side_lock = threading.Lock()

    def _side(self) -> Engine:
        """The snapshot sessions' own small pool, apart from the request pool: a request that holds a connection of
        the request pool never waits on it for long (0.1 s, then it reads on its one connection), so requests that
        each want a second connection cannot lock each other out."""
        with self._side_lock:  # made once, by the first snapshot of any request thread
            if self._side_engine is None:
                self._side_engine = create_engine(self.engine.url, pool_size=self.SIDE_CONNECTIONS, max_overflow=0,
                                                  pool_timeout=0.1, pool_pre_ping=True, hide_parameters=True)
        return self._side_engine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextlib.contextmanager
    def transaction(self, write: bool = True):
        """A unit of work: commits when the block ends normally, rolls back on any exception."""
        token = _immediate.set(write and self.dialect == "sqlite")
        try:
            with self.sessions() as session:
                with session.begin():
                    yield session
        finally:
            _immediate.reset(token)

    @contextlib.contextmanager
    def read(self):
        with self.transaction(write=False) as session:
            yield session

    @contextlib.contextmanager
    def snapshot(self, sessions: int = 2):
        """Read-only sessions that all see one snapshot of the database, for a read made of many statements that
        must agree with each other and may run side by side (the monthly report: `side_by_side`). Fewer sessions
        than asked when the side connections (`_side`) are all in use.

        On PostgreSQL: the first session's transaction is REPEATABLE READ, READ ONLY and exports its snapshot
        (pg_export_snapshot); each other session is a transaction on its own connection that imports it before
        its first statement, so every statement of every session sees the same committed rows. On SQLite (one
        writer, a snapshot per transaction already) one session: side_by_side then runs everything in turn."""
        with self.read() as main:
            if self.dialect != "postgresql" or sessions < 2:
                yield [main]
                return
            main.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
            name = main.scalar(text("SELECT pg_export_snapshot()"))
            if not re.fullmatch(r"[0-9A-Fa-f-]+", name or ""):
                raise RuntimeError(f"unexpected snapshot name {name!r}")
            with contextlib.ExitStack() as stack:
                others = []
                for _ in range(sessions - 1):
                    try:
                        connection = stack.enter_context(self._side().connect())
                    except sqlalchemy.exc.TimeoutError:
                        break  # every side connection is taken: fewer sessions, the jobs run in turn
                    stack.enter_context(connection.begin())
                    connection.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    # A utility statement takes no parameters: the name is PostgreSQL's own (hex digits and dashes).
                    connection.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{name}'")
                    others.append(stack.enter_context(Session(bind=connection, autoflush=False)))
                yield [main, *others]

    @contextlib.contextmanager
    def lookup(self):
        """A session for reads that need no snapshot of their own (each statement is consistent by itself, e.g. a
        token's lookup on every request): in autocommit, so no BEGIN and no COMMIT — one round trip a statement."""
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            with Session(bind=connection, expire_on_commit=False, autoflush=False) as session:
                yield session

    def dispose(self) -> None:
        self.engine.dispose()
        if self._side_engine is not None:
            self._side_engine.dispose()
