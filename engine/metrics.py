"""Prometheus text exposition of the engine's state, read from the database (shared by all workers)."""
from __future__ import annotations

from sqlalchemy import func, select

from .db import Database
from .models import Instance, TaskRow, Timer


def _line(name: str, value, labels: dict[str, str] | None = None) -> str:
    label = ",".join(f'{k}="{v}"' for k, v in (labels or {}).items())
    return f"{name}{{{label}}} {value}" if label else f"{name} {value}"


def render(db: Database) -> str:
    out = ["# HELP lvyue_instances Process instances by status.", "# TYPE lvyue_instances gauge"]
    with db.read() as session:
        for status, n in session.execute(select(Instance.status, func.count()).group_by(Instance.status)):
            out.append(_line("lvyue_instances", n, {"status": status}))
        out += ["# HELP lvyue_tasks_ready READY user tasks.", "# TYPE lvyue_tasks_ready gauge",
                _line("lvyue_tasks_ready", session.scalar(select(func.count()).where(TaskRow.state == "ready")) or 0)]
        out += ["# HELP lvyue_timers Timers by status.", "# TYPE lvyue_timers gauge"]
        for status, n in session.execute(select(Timer.status, func.count()).group_by(Timer.status)):
            out.append(_line("lvyue_timers", n, {"status": status}))
    return "\n".join(out) + "\n"
