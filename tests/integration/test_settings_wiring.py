"""Settings reach their consumers: a variable set in the environment takes effect in the app, the scheduler
and the CLI, which resolve the database the same way; a bad value stops the start naming the variable."""
from __future__ import annotations

from datetime import timedelta

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from click.testing import CliRunner

from api import cli, create_app
from engine.runtime import scheduler, spiff
from engine.supervision import holidays, objections
from engine.settings import Settings, SettingsError
from tests.conftest import seed_people
from tests.security.test_runaway_diagrams import XML, multi_instance

UNSET = {name: None for name in Settings.variables()}  # CliRunner: None removes a variable for the call


@pytest.fixture
def clean_env(monkeypatch):
    for name in Settings.variables():
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_a_stream_cap_set_in_the_environment_refuses_the_next_stream(db_url, clean_env):
    clean_env.setenv("LVYUE_STREAMS_PER_TOKEN", "1")
    app = create_app({"DATABASE_URL": db_url, "TESTING": True, "LVYUE_STREAM_POLL_SECONDS": 0.05})
    try:
        people = seed_people(app.extensions["lvyue"].db)
        first = app.test_client().get("/api/v1/alerts/stream", headers=people.auth("zj"), buffered=False)
        assert first.status_code == 200
        second = app.test_client().get("/api/v1/alerts/stream", headers=people.auth("zj"), buffered=False)
        assert second.status_code == 429 and "1 alert streams" in second.get_json()["detail"]
        first.close()
    finally:
        app.extensions["lvyue"].db.dispose()


def test_test_config_overrides_the_environment(tmp_path, clean_env):
    clean_env.setenv("LVYUE_STREAMS_PER_TOKEN", "1")
    clean_env.setenv("LVYUE_OCID_PREFIX", "ocds-e1v2n3-")
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite'}", "LVYUE_STREAMS_PER_TOKEN": 3})
    state = app.extensions["lvyue"]
    assert (state.streams.per_token, state.settings.ocid_prefix) == (3, "ocds-e1v2n3-")
    assert "LVYUE_STREAMS_PER_TOKEN" not in app.config  # one place holds a setting: the Settings
    state.db.dispose()


def test_a_bad_value_stops_the_app_and_every_command_naming_the_variable(tmp_path, clean_env):
    clean_env.setenv("LVYUE_SWEEP_SECONDS", "often")
    with pytest.raises(SettingsError, match="LVYUE_SWEEP_SECONDS must be a number of seconds, not 'often'"):
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite'}"})
    result = CliRunner().invoke(cli.main, ["tick"], env={**UNSET, "LVYUE_STREAMS_MAX": "0",
                                                         "LVYUE_INSTANCE_PATH": str(tmp_path)})
    assert result.exit_code == 2 and "LVYUE_STREAMS_MAX must be a positive integer, not '0'" in result.output
    assert not (tmp_path / "lvyue.sqlite").exists()  # refused before anything was opened


def test_the_cli_and_the_app_open_the_same_database(tmp_path, clean_env):
    # Without DATABASE_URL both take the instance folder's SQLite file (one function: Settings).
    folder = tmp_path / "inst"
    result = CliRunner().invoke(cli.main, ["db", "upgrade"], env={**UNSET, "LVYUE_INSTANCE_PATH": str(folder)})
    assert result.exit_code == 0, result.output
    assert (folder / "lvyue.sqlite").exists()
    clean_env.setenv("LVYUE_INSTANCE_PATH", str(folder))
    app = create_app()
    try:
        assert app.extensions["lvyue"].db.url == f"sqlite:///{folder / 'lvyue.sqlite'}"
        assert app.instance_path == str(folder)
        assert app.test_client().get("/healthz").status_code == 200  # the schema the CLI migrated
    finally:
        app.extensions["lvyue"].db.dispose()


def test_the_scheduler_runs_its_jobs_at_the_configured_intervals(tmp_path):
    from engine.storage.db import Database

    settings = Settings.from_env({"LVYUE_SWEEP_SECONDS": "0.2", "LVYUE_DELIVERY_SECONDS": "0.5",
                                  "LVYUE_AUDIT_ANCHOR_SECONDS": "30", "LVYUE_AUDIT_ANCHOR": str(tmp_path / "a.jsonl"),
                                  "LVYUE_TIMER_LEASE_SECONDS": "5", "LVYUE_TIMER_FIRE_GROUP": "3"})
    database = Database(f"sqlite:///{tmp_path / 'x.sqlite'}")
    jobs = scheduler.configure(BackgroundScheduler(), database, "w1", settings.schedule())
    assert {j.id: j.trigger.interval for j in jobs.get_jobs()} == {
        "sweep": timedelta(seconds=0.2), "deliver": timedelta(seconds=0.5),
        "calendar": timedelta(seconds=holidays.REFRESH_SECONDS), "anchor": timedelta(seconds=30),
        "objections_overdue": timedelta(seconds=objections.WARN_SECONDS)}
    schedule = jobs.get_job("sweep").args[2]
    assert (schedule.timer_lease, schedule.fire_group) == (timedelta(seconds=5), 3)
    assert jobs.get_job("anchor").args[1] == tmp_path / "a.jsonl"
    off = scheduler.configure(BackgroundScheduler(), database, "w1",
                              Settings.from_env({"LVYUE_AUDIT_ANCHOR_SECONDS": "0"}).schedule())
    assert off.get_job("anchor") is None
    database.dispose()



def test_the_step_budget_set_in_the_environment_bounds_every_step(db_url, clean_env):
    """LVYUE_STEP_MAX_TASKS reaches the engine: a fan-out of 20 that a default step runs is refused at 10."""
    def start(business_key: str):
        app = create_app({"DATABASE_URL": db_url, "TESTING": True})
        try:
            client = app.test_client()
            if not people:
                people.append(seed_people(app.extensions["lvyue"].db))
                deployed = client.post("/api/v1/definitions", data=multi_instance("fanout", "20"),
                                       headers={**people[0].auth("designer"), **XML})
                assert deployed.status_code == 201, deployed.get_json()
            return client.post("/api/v1/instances", headers=people[0].auth("operator"), json={
                "definition": "fanout", "business_key": business_key, "data": {"employer": "EMP"}})
        finally:
            app.extensions["lvyue"].db.dispose()

    people: list = []
    clean_env.setenv("LVYUE_STEP_MAX_TASKS", "10")
    refused = start("FAN-1")
    assert refused.status_code == 422 and "at most 10 engine tasks" in refused.get_json()["errors"]["process"][0]
    clean_env.delenv("LVYUE_STEP_MAX_TASKS")
    assert start("FAN-2").status_code == 201
    assert spiff._step_budget == spiff.StepBudget()  # each create_app applies its own settings' budget
