"""The alert stream's slots in the application (issue 14): beyond the per-token cap 429 with Retry-After;
a stream ends after its lifetime and gives its slot back, as does one its client closes."""
from __future__ import annotations

import time

import pytest

from tests.conftest import seed_people


@pytest.fixture
def streaming(db_url):
    from api import create_app

    app = create_app({"DATABASE_URL": db_url, "TESTING": True, "LVYUE_STREAM_POLL_SECONDS": 0.05,
                      "LVYUE_STREAM_MAX_SECONDS": 0.5, "LVYUE_STREAMS_PER_TOKEN": 1, "LVYUE_STREAMS_MAX": 2})
    people = seed_people(app.extensions["lvyue"].db)
    yield app, people
    app.extensions["lvyue"].db.dispose()


def _open(app, people, who):
    return app.test_client().get("/api/v1/alerts/stream", headers=people.auth(who), buffered=False)


def test_beyond_the_token_cap_is_429_with_retry_after_and_a_closed_stream_frees_its_slot(streaming):
    # Open streams are closed last-opened first: the test client runs every stream in this one thread,
    # where Flask's request contexts nest (a real server gives each its own thread).
    app, people = streaming
    slots = app.extensions["lvyue"].streams
    first = _open(app, people, "zj")
    assert first.status_code == 200 and slots.open == 1
    # the same token spelt differently is the same token
    second = app.test_client().get("/api/v1/alerts/stream", buffered=False,
                                   headers={"Authorization": f"bearer   {people.tokens['zj']} "})
    assert second.status_code == 429 and second.mimetype == "application/problem+json"
    assert int(second.headers["Retry-After"]) > 0 and "this token" in second.get_json()["detail"]

    first.close()  # the client went away before reading anything
    assert slots.open == 0
    again = _open(app, people, "zj")
    assert again.status_code == 200
    other = _open(app, people, "cz")  # another token has room until the process cap
    assert other.status_code == 200
    third = _open(app, people, "zjd")
    assert third.status_code == 429 and "the server is serving 2" in third.get_json()["detail"]
    other.close()
    again.close()
    assert slots.open == 0


def test_a_stream_ends_after_its_lifetime_and_gives_its_slot_back(streaming):
    app, people = streaming
    began = time.monotonic()
    r = _open(app, people, "zj")
    body = b"".join(r.response)  # ends by itself: LVYUE_STREAM_MAX_SECONDS
    assert 0.5 <= time.monotonic() - began < 10 and body.startswith(b"retry: ")
    r.close()
    assert app.extensions["lvyue"].streams.open == 0
    assert _open(app, people, "zj").status_code == 200
