"""The BPMN runtime: runs diagrams and knows nothing of contracts.

It owns the SpiffWorkflow adapter (spiff, spiff_migrate), expressions, forms and typed values, diagram reading
and lint, definitions and versions, the step (steps: one step = one transaction) and its runner (runner),
timers, the scheduler, the audit chain and its anchor, the webhook outbox and metrics, and the listener
registry (hooks) through which a domain joins a step. It may import engine.clock, engine.errors, storage and
access; never supervision, usecases or bootstrap (tests/unit/test_layering.py), and it names no diagram element.
"""
