"""Prometheus text exposition, read from the database so every worker's work is counted once."""
from __future__ import annotations

import bisect
from datetime import timedelta

from sqlalchemy import func, select

from engine import clock
from engine.runtime import webhooks
from engine.storage.db import Database
from engine.storage.models import Alert, Incident, Instance, TaskRow, Timer

LAG_BUCKETS_MS = (100, 500, 1000, 2000, 5000, 10000, 30000, 60000, 300000, 3600000)
LAG_WINDOW = timedelta(hours=24)  # the histogram covers recent firings; old ones say nothing about now


def _line(name: str, value, labels: dict[str, str] | None = None) -> str:
    label = ",".join(f'{k}="{v}"' for k, v in (labels or {}).items())
    return f"{name}{{{label}}} {value}" if label else f"{name} {value}"


def _head(out: list[str], name: str, kind: str, text: str) -> None:
    out += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]


def render(db: Database) -> str:
    out: list[str] = []
    with db.read() as session:
        _head(out, "lvyue_instances", "gauge", "Process instances by status.")
        for status, n in session.execute(select(Instance.status, func.count()).group_by(Instance.status)):
            out.append(_line("lvyue_instances", n, {"status": status}))
        _head(out, "lvyue_tasks_ready", "gauge", "READY user tasks.")
        out.append(_line("lvyue_tasks_ready", session.scalar(select(func.count()).where(TaskRow.state == "ready")) or 0))
        _head(out, "lvyue_timers", "gauge", "Timers by status (waiting = pending).")
        for status, n in session.execute(select(Timer.status, func.count()).group_by(Timer.status)):
            out.append(_line("lvyue_timers", n, {"status": status}))
        overdue = session.scalar(select(func.count()).where(Timer.status == "waiting", Timer.due_at <= clock.now()))
        _head(out, "lvyue_timers_overdue", "gauge", "Waiting timers already past due (should stay near 0).")
        out.append(_line("lvyue_timers_overdue", overdue or 0))

        _head(out, "lvyue_timer_firing_lag_seconds", "histogram", "Fire time minus due time, last 24 h.")
        since = clock.now() - LAG_WINDOW
        recent = select(Timer.lag_ms).where(Timer.status == "fired", Timer.fired_at >= since, Timer.lag_ms.is_not(None))
        lags = sorted(session.scalars(recent))
        for bound in LAG_BUCKETS_MS:
            out.append(_line("lvyue_timer_firing_lag_seconds_bucket", bisect.bisect_right(lags, bound), {"le": f"{bound / 1000:g}"}))
        out.append(_line("lvyue_timer_firing_lag_seconds_bucket", len(lags), {"le": "+Inf"}))
        out.append(_line("lvyue_timer_firing_lag_seconds_sum", f"{sum(lags) / 1000:.3f}"))
        out.append(_line("lvyue_timer_firing_lag_seconds_count", len(lags)))

        _head(out, "lvyue_alerts", "gauge", "Alerts by kind, severity and status.")
        for kind, severity, status, n in session.execute(
                select(Alert.kind, Alert.severity, Alert.status, func.count()).group_by(Alert.kind, Alert.severity, Alert.status)):
            out.append(_line("lvyue_alerts", n, {"kind": kind, "severity": severity, "status": status}))

        stats = webhooks.stats(session)
        _head(out, "lvyue_webhook_deliveries", "gauge", "Webhook deliveries by status.")
        for status, n in stats["by_status"].items():
            out.append(_line("lvyue_webhook_deliveries", n, {"status": status}))
        _head(out, "lvyue_webhook_failures_total", "counter", "Failed webhook delivery attempts.")
        out.append(_line("lvyue_webhook_failures_total", stats["failed_attempts"]))

        _head(out, "lvyue_incidents", "gauge", "Incidents by kind and status.")
        for kind, status, n in session.execute(select(Incident.kind, Incident.status, func.count())
                                               .group_by(Incident.kind, Incident.status)):
            out.append(_line("lvyue_incidents", n, {"kind": kind, "status": status}))
    return "\n".join(out) + "\n"
