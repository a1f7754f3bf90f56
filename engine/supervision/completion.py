"""Completion acceptance of a post_award contract: when the employer may confirm it.

Completion acceptance (竣工验收 / 履约验收) is the acceptance of the work or the goods; settlement and final
payment are separate events with clocks of their own (R07, C04, Q03–Q05). So `confirm_completion` does not
wait for the milestones to be paid; what it does need is that the work has been performed and accepted:
every milestone of the contract delivered and accepted with result `passed`, and the completion date not
before the last of those acceptances. A task-completed listener refuses anything else with `Invalid` (422 on
`data.completed_at`, naming the milestones), so the step rolls back with nothing stored. Contracts without
milestones have nothing to wait for. (The filing, which the diagram makes completion wait for, and the date
order award ≤ signing ≤ completion are the diagram's and plausibility.py's.)
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from engine.errors import Invalid
from engine.runtime import steps, values
from engine.storage.models import InstancePart
from engine.supervision import bindings

PASSED = "passed"


def check_task(step: steps.Step, element_id: str, data: dict[str, Any], actor: str, task_id: str | None = None) -> None:
    """Refuse (Invalid 422 on `data.completed_at`) confirming completion while a milestone is not yet accepted
    or dated before the last acceptance; other elements are no concern of this module."""
    if element_id != bindings.CONFIRM_COMPLETION or step.part is not None:
        return
    planned = step.instance.data.get("milestones") or []
    parts = {p.item_no: p.data or {} for p in step.session.scalars(
        select(InstancePart).where(InstancePart.instance_id == step.instance.id))}
    problems, last = [], None
    for no, item in enumerate(planned, start=1):
        pdata = parts.get(no, {})
        name = item.get("name") if isinstance(item, dict) else None
        shown = f"milestone {no}" + (f" ({name})" if name else "")
        accepted = _date(pdata.get("accepted_at"))
        if pdata.get("result") != PASSED or accepted is None:
            state = ("not delivered yet" if not pdata.get("delivered_at")
                     else "delivered but not accepted" if pdata.get("result") != "failed" else "failed its acceptance")
            problems.append(f"{shown} is {state}: completion is confirmed once every milestone is delivered and accepted")
        elif last is None or accepted > last[0]:
            last = (accepted, shown)
    completed = _date(data.get("completed_at"))
    if not problems and last is not None and completed is not None and completed < last[0]:
        problems.append(f"{completed.isoformat()} is before the acceptance of {last[1]} "
                        f"(accepted_at {last[0].isoformat()}): completion may not precede it")
    if problems:
        raise Invalid("completion cannot be confirmed yet", {"data.completed_at": problems})


def _date(value: Any):
    try:
        return values.parse_date(value) if value not in (None, "") else None
    except values.BadValue:
        return None
