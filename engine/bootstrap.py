"""The one composition root: registers the supervision domain with the BPMN runtime.

Everything the runtime calls without naming it is wired here, in one place a reader can scan: the
listeners of a step (instance started, task completed, task settled, task due, escalation thrown, instance
cancelled, the instance view), the expression functions of the official calendar, the tables the audit
chain reproduces, the role names task data may not rebind, the start terms per process, the diagram
elements each listener binds to (checked at deploy), the periodic jobs of a worker, the reference data
seeded after a migration, and the report section and OCDS extension of the guarantee ledger.

`bootstrap()` is called once by `api.create_app` and by every CLI command that runs the engine; calling it
again rebuilds the same registry (idempotent).
"""
from __future__ import annotations

from engine.runtime import expressions, hooks
from engine.storage import migrate
from engine.storage.models import Guarantee, GuaranteeClaim, Invoice, Payment, PaymentApplication
from engine.supervision import (alerts, bindings, cases, completion, guarantees, holidays, ledger, objections, obligations,
                                ocds, plausibility, reports, supplements, timing)


def _ledger_task(step, element_id, data, actor, task_id) -> None:
    ledger.record_task(step, element_id, data, actor, task_id)


def bootstrap() -> hooks.Registry:
    """Register the domain with the runtime (again, from empty: idempotent). Returns the registry."""
    registry = hooks.reset()
    registry.instance_started.append(guarantees.on_start)
    registry.instance_started.append(cases.on_start)  # a supervision case's row and the alerts it was opened from
    registry.instance_started.append(supplements.on_start)
    # Plausibility first (it refuses before anything is written), then the ledger, then guarantees: the order
    # the task-completion use case has always kept.
    registry.task_completed.extend([plausibility.check_task, completion.check_task, _ledger_task, guarantees.record_task])
    registry.task_completed.append(cases.on_task)  # a case's order and verification (escalation → credit record)
    registry.task_settled.append(alerts.on_task_settled)
    registry.task_due.append(alerts.task_due)
    registry.thrown.append(alerts.on_thrown)
    registry.instance_cancelled.append(alerts.on_cancelled)
    registry.instance_view.append(alerts.view_of_instance)
    registry.deadlines_moved.append(alerts.recompute_all)
    registry.deadlines_moved.append(obligations.resync_works)  # an advance's last day follows the calendar
    registry.preload.append(alerts.preload)
    registry.assign = bindings.assignee
    registry.reserved_names.update(bindings.ROLE_BINDINGS)
    registry.start_terms.update(bindings.START_TERMS)
    registry.optional_roles.update(bindings.OPTIONAL_ROLES)
    registry.bindings.extend(bindings.BINDINGS)
    registry.bindings.append(cases.BINDING)
    # A case binds only the party it is against; the other party lane stays unbound.
    registry.optional_roles[cases.PROCESS] = frozenset(cases.PARTY_ROLES)
    # The ledger tables whose rows the audit chain reproduces; each row is keyed by its `id`.
    registry.audited_tables.update({"payments": Payment, "payment_applications": PaymentApplication, "invoices": Invoice,
                                    "guarantees": Guarantee,
                                    "guarantee_claims": GuaranteeClaim})
    registry.rule_ids = timing.rule_ids
    registry.periodic.append(("calendar", holidays.install, holidays.REFRESH_SECONDS, True))
    # Objections past the department's period (S03A/S03B) unanswered: one webhook warning each.
    registry.periodic.append(("objections_overdue", objections.warn_overdue, objections.WARN_SECONDS, False))
    for name, function in timing.expression_functions().items():
        expressions.register_function(name)(function)
    if holidays.ensure_seeded not in migrate.SEEDERS:
        migrate.SEEDERS.append(holidays.ensure_seeded)
    obligations.install()  # payment_obligations follows every flush that changes a milestone or its deadline
    reports.unregister_section("due_process")
    reports.register_section("due_process", cases.report_section, cases.REPORT_DEFINITIONS)
    reports.unregister_section("guarantees")
    reports.register_section("guarantees", reports.guarantee_indicators, reports.GUARANTEE_INDICATORS)
    ocds.unregister_extension(ocds.guarantees_extension)
    ocds.register_extension(ocds.guarantees_extension, ocds.GUARANTEES_EXTENSION_URL)
    return registry
