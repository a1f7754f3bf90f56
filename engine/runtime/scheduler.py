"""APScheduler jobs of a worker: the timer sweep, webhook delivery, audit anchoring, and the periodic jobs the
domain registered (engine/runtime/hooks.py; the calendar refresh is one).

There is no APScheduler job per timer (ARCHITECTURE.md §4): each worker runs the same few periodic
jobs, and the database decides who fires what. `lvyue worker` runs them in the foreground,
`lvyue serve` in a background thread next to the API.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from engine.runtime import anchor, hooks, timers, webhooks
from engine.storage.db import Database

log = logging.getLogger("lvyue.scheduler")

# The defaults; a deployment sets them through engine/settings.py (README "Configuration").
SWEEP_SECONDS = 1.0
DELIVERY_SECONDS = 1.0
# How often each scheduler appends the chain heads to the anchor log (engine/anchor.py); 0 turns it off.
ANCHOR_SECONDS = 3600.0


@dataclass(frozen=True)
class Schedule:
    """What a worker's jobs run with: their intervals, the anchor log, and the sweep's lease and group size.
    `Settings.schedule()` builds it from the configuration; the defaults are this module's and timers'."""

    sweep_seconds: float = SWEEP_SECONDS
    delivery_seconds: float = DELIVERY_SECONDS
    anchor_seconds: float = ANCHOR_SECONDS
    anchor_path: Path = anchor.configured_path()
    timer_lease: timedelta = timers.LEASE
    fire_group: int = timers.FIRE_GROUP


def _sweep(db: Database, owner: str, schedule: Schedule) -> None:
    result = timers.sweep(db, owner, lease_for=schedule.timer_lease, group_of=schedule.fire_group)
    if result.leased:
        log.info("sweep %s: %s", owner, result)


def _deliver(db: Database, owner: str) -> None:
    webhooks.deliver_due(db, owner)


def _anchor(db: Database, path) -> None:
    try:
        entry = anchor.write(db, path)
    except OSError as exc:  # an unwritable anchor must not stop the sweep; it is logged every interval
        log.error("audit anchor %s: %s", path, exc)
        return
    log.info("audit anchor %s: entry %s, %s head(s), %s changed", path, entry["n"], entry["count"], len(entry["heads"]))
    if entry["gone"]:
        log.warning("audit anchor %s: %s anchored contract(s) gone from the database: run lvyue audit verify",
                    path, len(entry["gone"]))


def configure(scheduler, db: Database, owner: str, schedule: Schedule = Schedule()):
    common = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
    scheduler.add_job(_sweep, "interval", seconds=schedule.sweep_seconds, args=(db, owner, schedule), id="sweep",
                      **common)
    scheduler.add_job(_deliver, "interval", seconds=schedule.delivery_seconds, args=(db, owner), id="deliver", **common)
    for name, job, seconds, _at_start in hooks.REGISTRY.periodic:
        scheduler.add_job(job, "interval", seconds=seconds, args=(db,), id=name, **common)
    if schedule.anchor_seconds > 0:
        # Every scheduler anchors; on one host they share the log and append in turn (engine/anchor.py),
        # so a duplicate entry only repeats the heads. The first entry is written one interval after start.
        scheduler.add_job(_anchor, "interval", seconds=schedule.anchor_seconds, args=(db, schedule.anchor_path),
                          id="anchor", **common)
    return scheduler


def _run_at_start(db: Database) -> None:
    for _name, job, _seconds, at_start in hooks.REGISTRY.periodic:
        if at_start:
            job(db)


def start_background(db: Database, schedule: Schedule = Schedule()) -> BackgroundScheduler:
    _run_at_start(db)
    scheduler = configure(BackgroundScheduler(daemon=True), db, timers.worker_name(), schedule)
    scheduler.start()
    return scheduler


def run_forever(db: Database, schedule: Schedule = Schedule()) -> None:
    _run_at_start(db)
    owner = timers.worker_name()
    log.info("worker %s: sweep every %ss", owner, schedule.sweep_seconds)
    configure(BlockingScheduler(), db, owner, schedule).start()
