"""The use cases the API calls for process instances and user tasks (start, read, cancel, message; list,
read, complete). Generic: they call the runtime and fire the registered listeners, never domain code by name.
They may import runtime, storage and access; not supervision (tests/unit/test_layering.py).
"""
