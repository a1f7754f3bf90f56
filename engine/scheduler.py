"""APScheduler jobs of a worker: the timer sweep, webhook delivery, calendar refresh, audit anchoring.

There is no APScheduler job per timer (ARCHITECTURE.md §4): each worker runs the same few periodic
jobs, and the database decides who fires what. `lvyue worker` runs them in the foreground,
`lvyue serve` in a background thread next to the API.
"""
from __future__ import annotations

import logging
import os

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from . import anchor, holidays, timers, webhooks
from .db import Database

log = logging.getLogger("lvyue.scheduler")

SWEEP_SECONDS = float(os.environ.get("LVYUE_SWEEP_SECONDS", "1"))
DELIVERY_SECONDS = float(os.environ.get("LVYUE_DELIVERY_SECONDS", "1"))
CALENDAR_SECONDS = 60.0
# How often each scheduler appends the chain heads to the anchor log (engine/anchor.py); 0 turns it off.
ANCHOR_SECONDS = float(os.environ.get("LVYUE_AUDIT_ANCHOR_SECONDS", "3600"))


def _sweep(db: Database, owner: str) -> None:
    result = timers.sweep(db, owner)
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


def configure(scheduler, db: Database, owner: str, anchor_path=None):
    common = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
    scheduler.add_job(_sweep, "interval", seconds=SWEEP_SECONDS, args=(db, owner), id="sweep", **common)
    scheduler.add_job(_deliver, "interval", seconds=DELIVERY_SECONDS, args=(db, owner), id="deliver", **common)
    scheduler.add_job(holidays.install, "interval", seconds=CALENDAR_SECONDS, args=(db,), id="calendar", **common)
    if ANCHOR_SECONDS > 0:
        # Every scheduler anchors; on one host they share the log and append in turn (engine/anchor.py),
        # so a duplicate entry only repeats the heads. The first entry is written one interval after start.
        scheduler.add_job(_anchor, "interval", seconds=ANCHOR_SECONDS, args=(db, anchor_path or anchor.configured_path()),
                          id="anchor", **common)
    return scheduler


def start_background(db: Database, anchor_path=None) -> BackgroundScheduler:
    holidays.install(db)
    scheduler = configure(BackgroundScheduler(daemon=True), db, timers.worker_name(), anchor_path)
    scheduler.start()
    return scheduler


def run_forever(db: Database, anchor_path=None) -> None:
    holidays.install(db)
    owner = timers.worker_name()
    log.info("worker %s: sweep every %ss", owner, SWEEP_SECONDS)
    configure(BlockingScheduler(), db, owner, anchor_path).start()
