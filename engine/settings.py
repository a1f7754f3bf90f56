"""The process's configuration: one `Settings`, read once from the environment at start-up and passed on.

`Settings.from_env(os.environ)` reads `DATABASE_URL` (API.md) and the `LVYUE_*` variables, each
parsed strictly: a bad value stops the start with an error naming the variable, instead of a crash
(or a silent default) later. `create_app(test_config)` and the `lvyue` commands build it once and
hand its parts to their consumers — the database URL to `Database`, `schedule()` to the scheduler
and the timer sweep, the stream limits to the API — so no module reads the environment, and none
at import time. A module keeps its own default as a constant (timers.LEASE, scheduler.SWEEP_SECONDS,
ocds.DEFAULT_PREFIX …), and the field's default here refers to it. README "Configuration" lists them.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable, Mapping

from engine.runtime import anchor, scheduler, spiff, timers
from engine.supervision import intake, ocds
from engine.storage.db import default_url

# The instance folder of a source checkout (as `create_app` has always used): the embedded database and
# the anchor log live there unless configured otherwise.
DEFAULT_INSTANCE_PATH = Path(__file__).resolve().parent.parent / "instance"
DEFAULT_OCDS_PUBLISHER = "Lvyue 履约"


class SettingsError(ValueError):
    """A configuration value that cannot be used; the message names the variable."""


def _positive_int(value: Any) -> int:
    if isinstance(value, str):
        if not value.isascii() or not value.isdigit():
            raise ValueError("must be a positive integer")
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError("must be a positive integer")
    return value


def _seconds(value: Any, allow_zero: bool = False) -> float:
    if isinstance(value, str):
        try:
            value = float(value) if value.isascii() else None
        except ValueError:
            value = None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError("must be a number of seconds")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError("must be a number of seconds, 0 or more" if allow_zero else
                         "must be a positive number of seconds")
    return float(value)


def _seconds_or_off(value: Any) -> float:
    return _seconds(value, allow_zero=True)


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty text")
    return value


def _ocid_prefix(value: Any) -> str:
    if not isinstance(value, str) or not ocds.OCID_PREFIX.fullmatch(value):
        raise ValueError("must be a registered OCDS ocid prefix and a hyphen: ocds- and six lower-case letters or "
                         "digits, e.g. ocds-a1b2c3-")
    return value


def _path(value: Any) -> Path:
    if isinstance(value, Path):
        return value
    return Path(_text(value))


def _setting(variable: str, parse: Callable[[Any], Any], default: Any, doc: str):
    """A field read from `variable`; the doc is what README "Configuration" says of it."""
    return field(default=default, metadata={"variable": variable, "parse": parse, "doc": doc})


@dataclass(frozen=True)
class Settings:
    """Every setting of a Lvyue process, typed; `None` means "derived" as the field's doc says."""

    database_url: str | None = _setting(
        "DATABASE_URL", _text, None, "SQLAlchemy URL; None: the SQLite file lvyue.sqlite in the instance folder")
    instance_path: Path = _setting(
        "LVYUE_INSTANCE_PATH", _path, DEFAULT_INSTANCE_PATH, "folder of the embedded database and the anchor log")
    sweep_seconds: float = _setting(
        "LVYUE_SWEEP_SECONDS", _seconds, scheduler.SWEEP_SECONDS, "how often each worker sweeps due timers")
    delivery_seconds: float = _setting(
        "LVYUE_DELIVERY_SECONDS", _seconds, scheduler.DELIVERY_SECONDS, "how often each worker delivers webhooks")
    timer_lease_seconds: float = _setting(
        "LVYUE_TIMER_LEASE_SECONDS", _seconds, timers.LEASE.total_seconds(),
        "how long a leased timer stays with a worker that went silent")
    timer_fire_group: int = _setting(
        "LVYUE_TIMER_FIRE_GROUP", _positive_int, timers.FIRE_GROUP,
        "timer firings per transaction on PostgreSQL")
    audit_anchor: Path | None = _setting(
        "LVYUE_AUDIT_ANCHOR", _path, None, "the anchor log; None: audit-anchor.jsonl in the instance folder")
    audit_anchor_seconds: float = _setting(
        "LVYUE_AUDIT_ANCHOR_SECONDS", _seconds_or_off, scheduler.ANCHOR_SECONDS,
        "how often each scheduler anchors the chain heads; 0 turns it off")
    step_max_tasks: int = _setting(
        "LVYUE_STEP_MAX_TASKS", _positive_int, spiff.MAX_STEP_TASKS,
        "engine tasks one step may run, and tasks it may add to a process")
    step_max_seconds: float = _setting(
        "LVYUE_STEP_MAX_SECONDS", _seconds, spiff.MAX_STEP_SECONDS,
        "engine time one step may take (checked between engine tasks)")
    ocid_prefix: str = _setting(
        "LVYUE_OCID_PREFIX", _ocid_prefix, ocds.DEFAULT_PREFIX,
        "the publisher's OCDS ocid prefix and a hyphen, as registered with the Open Contracting Partnership; "
        "the default is a PLACEHOLDER for demos")
    ocds_publisher: str = _setting(
        "LVYUE_OCDS_PUBLISHER", _text, DEFAULT_OCDS_PUBLISHER, "the publisher name in OCDS packages")
    ocds_schema_dir: Path = _setting(
        "LVYUE_OCDS_SCHEMA_DIR", _path, intake.DEFAULT_SCHEMA_DIR,
        "the folder of the official OCDS 1.1 release and release-package schemas the award intake validates against")
    streams_max: int | None = _setting(
        "LVYUE_STREAMS_MAX", _positive_int, None, "alert streams one process serves; None: half its request threads")
    streams_per_token: int | None = _setting(
        "LVYUE_STREAMS_PER_TOKEN", _positive_int, None,
        "alert streams one token may hold in one process; None: api/streams.py PER_TOKEN (2)")
    stream_max_seconds: float | None = _setting(
        "LVYUE_STREAM_MAX_SECONDS", _seconds, None,
        "an alert stream's lifetime; None: api/streams.py LIFETIME_SECONDS (900)")

    @classmethod
    def variables(cls) -> dict[str, dataclasses.Field]:
        """Variable name → field, in declaration order."""
        return {f.metadata["variable"]: f for f in dataclasses.fields(cls)}

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "Settings":
        """The settings given by `environ` (os.environ at start-up); unset or empty variables keep their
        default. Raises SettingsError naming the variable for a value that does not parse."""
        return cls().override({name: environ[name] for name in cls.variables() if environ.get(name, "") != ""})

    def override(self, config: Mapping[str, Any]) -> "Settings":
        """These settings with the entries of `config` whose keys are variable names (as `create_app`'s
        test_config gives them: typed values or strings) replacing them; other keys are ignored. A value
        of None restores the default. Raises SettingsError naming the variable for a bad value."""
        changes = {}
        for name, f in self.variables().items():
            if name not in config:
                continue
            value = config[name]
            if value is None:
                changes[f.name] = f.default
                continue
            try:
                changes[f.name] = f.metadata["parse"](value)
            except ValueError as exc:
                raise SettingsError(f"{name} {exc}, not {value!r}") from None
        return dataclasses.replace(self, **changes)

    def database_url_or_default(self) -> str:
        """The database every part of the process opens: DATABASE_URL, else the instance folder's SQLite file."""
        return self.database_url or default_url(self.instance_path)

    @property
    def anchor_path(self) -> Path:
        return anchor.configured_path(self.instance_path, self.audit_anchor)

    def schedule(self) -> scheduler.Schedule:
        """What the scheduler (`lvyue serve`, `lvyue worker`) and its timer sweep run with."""
        return scheduler.Schedule(sweep_seconds=self.sweep_seconds, delivery_seconds=self.delivery_seconds,
                                  anchor_seconds=self.audit_anchor_seconds, anchor_path=self.anchor_path,
                                  timer_lease=timedelta(seconds=self.timer_lease_seconds),
                                  fire_group=self.timer_fire_group)

    def step_budget(self) -> spiff.StepBudget:
        """What one step of the engine may do in this process (applied with spiff.set_step_budget)."""
        return spiff.StepBudget(max_tasks=self.step_max_tasks, max_seconds=self.step_max_seconds)
