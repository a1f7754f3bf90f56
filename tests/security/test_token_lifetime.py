"""`lvyue users add --expires-days N` takes a lifetime of 1 to MAX_TOKEN_DAYS days: 0 used to issue a token that
never expires, -1 one dead on creation. Anything else is a CLI error, exit non-zero, and no user is created."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from engine import clock
from engine.access import directory
from engine.errors import Invalid
from engine.storage.models import Token, User

ROOT = Path(__file__).resolve().parents[2]


def _cli(db_url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "api.cli", *args], cwd=ROOT, env=dict(os.environ, DATABASE_URL=db_url),
                          capture_output=True, text=True, timeout=120)


def _user(db, name):
    with db.read() as s:
        user = s.scalar(select(User).where(User.name == name))
        return None if user is None else [t.expires_at for t in s.scalars(select(Token).where(Token.user_id == user.id))]


@pytest.mark.parametrize("days", ["0", "-1", str(directory.MAX_TOKEN_DAYS + 1), "1.5", "ten"])
def test_a_lifetime_outside_the_range_is_a_cli_error_and_creates_nothing(db, db_url, days):
    done = _cli(db_url, "users", "add", "bob", "--role", "operator", "--expires-days", days)
    assert done.returncode != 0, done.stdout
    assert "--expires-days" in done.stderr and "lvy_" not in done.stdout
    assert _user(db, "bob") is None


def test_a_positive_lifetime_issues_a_token_that_expires_then(db, db_url):
    before = clock.now()
    done = _cli(db_url, "users", "add", "carol", "--role", "operator", "--expires-days", "30")
    assert done.returncode == 0, done.stderr
    [expires_at] = _user(db, "carol")
    assert before + timedelta(days=30) <= expires_at <= clock.now() + timedelta(days=30)
    done = _cli(db_url, "users", "add", "dave", "--role", "operator")  # no option: no expiry, as before
    assert done.returncode == 0 and _user(db, "dave") == [None]


@pytest.mark.parametrize("days", [0, -1, directory.MAX_TOKEN_DAYS + 1, True, 1.5])
def test_the_directory_refuses_it_too(db, days):
    with pytest.raises(Invalid) as refused:
        with db.transaction() as s:
            directory.add_user(s, "erin", "operator", token_days=days)
    assert list(refused.value.errors) == ["expires_days"]
    assert _user(db, "erin") is None
