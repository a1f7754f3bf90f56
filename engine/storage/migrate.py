"""Schema migrations (Alembic), callable from the CLI and the tests."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the schema, then seed reference data the schema needs (the official calendar)."""
    command.upgrade(alembic_config(url), revision)
    if revision == "head":
        from engine.supervision import holidays
        from engine.storage.db import Database

        db = Database(url)
        try:
            holidays.ensure_seeded(db)
        finally:
            db.dispose()
