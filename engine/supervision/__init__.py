"""The supervision domain: what Lvyue knows about public contracts after award.

Rules and rules.json, the official calendar, holidays, deadlines and the diagram functions that compute them
(timing), contract terms, alerts, the guarantee and payment ledgers, credit records, reports, the OCDS export,
demo data, and bindings (the diagram elements each listener binds to, and the start rules per process). It
may import the runtime, storage, access, engine.clock and engine.errors; it reaches the runtime's steps only
through the listeners engine/bootstrap.py registers, and is never imported by the runtime or the use cases.
"""
