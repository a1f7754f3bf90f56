"""Schema migrations (Alembic), callable from the CLI and the tests."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from alembic import command
from alembic.config import Config

from engine.storage.db import Database

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
# Reference data the schema needs, seeded after an upgrade to head (the composition root, engine/bootstrap.py,
# registers the domain's: the official calendar).
SEEDERS: list[Callable[[Database], Any]] = []


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the schema, then seed the reference data the registered seeders keep (SEEDERS)."""
    command.upgrade(alembic_config(url), revision)
    if revision == "head" and SEEDERS:
        db = Database(url)
        try:
            for seed in SEEDERS:
                seed(db)
        finally:
            db.dispose()
