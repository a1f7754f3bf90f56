"""APScheduler jobs of a worker: the timer sweep, webhook delivery, calendar refresh.

There is no APScheduler job per timer (ARCHITECTURE.md §4): each worker runs the same few periodic
jobs, and the database decides who fires what. `lvyue worker` runs them in the foreground,
`lvyue serve` in a background thread next to the API.
"""
from __future__ import annotations

import logging
import os

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from . import holidays, timers, webhooks
from .db import Database

log = logging.getLogger("lvyue.scheduler")

SWEEP_SECONDS = float(os.environ.get("LVYUE_SWEEP_SECONDS", "1"))
DELIVERY_SECONDS = float(os.environ.get("LVYUE_DELIVERY_SECONDS", "1"))
CALENDAR_SECONDS = 60.0


def _sweep(db: Database, owner: str) -> None:
    result = timers.sweep(db, owner)
    if result.leased:
        log.info("sweep %s: %s", owner, result)


def _deliver(db: Database, owner: str) -> None:
    webhooks.deliver_due(db, owner)


def configure(scheduler, db: Database, owner: str):
    common = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
    scheduler.add_job(_sweep, "interval", seconds=SWEEP_SECONDS, args=(db, owner), id="sweep", **common)
    scheduler.add_job(_deliver, "interval", seconds=DELIVERY_SECONDS, args=(db, owner), id="deliver", **common)
    scheduler.add_job(holidays.install, "interval", seconds=CALENDAR_SECONDS, args=(db,), id="calendar", **common)
    return scheduler


def start_background(db: Database) -> BackgroundScheduler:
    holidays.install(db)
    scheduler = configure(BackgroundScheduler(daemon=True), db, timers.worker_name())
    scheduler.start()
    return scheduler


def run_forever(db: Database) -> None:
    holidays.install(db)
    owner = timers.worker_name()
    log.info("worker %s: sweep every %ss", owner, SWEEP_SECONDS)
    configure(BlockingScheduler(), db, owner).start()
