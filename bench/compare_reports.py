#!/usr/bin/env python
"""Compare the monthly report built by an older engine/supervision/reports.py with this tree's, on a seeded
database (bench/seed_scale.py), for several months and scopes: every figure must be identical.

    .venv/bin/python bench/compare_reports.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/h20_cmp \
        --old /tmp/reports_old.py            # e.g. `git show <commit>:engine/supervision/reports.py`

Prints one line per (month, scope) with both build times; exits 1 on the first difference (its paths shown).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine import bootstrap  # noqa: E402
from engine.access.directory import Principal  # noqa: E402
from engine.storage.db import Database  # noqa: E402
from engine.supervision import reports  # noqa: E402

bootstrap.bootstrap()


def load_old(path: Path):
    """The old module, loaded under its own name; its sections registry gets the same registered sections — a
    section defined in reports.py itself (`guarantees`: guarantee_indicators) as the old module defines it."""
    spec = importlib.util.spec_from_file_location("reports_old", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["reports_old"] = module
    spec.loader.exec_module(module)
    for name, fn in reports.SECTIONS.items():
        if fn.__module__ == reports.__name__:
            fn = getattr(module, fn.__name__)
        module.register_section(name, fn, reports.SECTION_DEFINITIONS.get(name))
    return module


def differences(a, b, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b), key=str):
            if key not in a or key not in b:
                out.append(f"{path}.{key}: only in {'new' if key in b else 'old'}")
            else:
                out.extend(differences(a[key], b[key], f"{path}.{key}"))
        if list(a) != list(b) and not out:
            out.append(f"{path}: key order differs")
        return out
    if a != b or type(a) is not type(b):
        return [f"{path}: old {a!r} new {b!r}"]
    return []


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--database-url", required=True)
    p.add_argument("--old", type=Path, required=True)
    p.add_argument("--month", action="append", help="months to compare (default: 2026-11, 2026-10, 2026-06, 2025-12)")
    p.add_argument("--city", default="C03")
    args = p.parse_args()
    old = load_old(args.old)
    db = Database(args.database_url)
    principals = {"province": Principal(1, "prov-supervisor", "supervisor", department_code="PROV",
                                       departments=frozenset({"PROV", *(f"C{c:02d}" for c in range(12))})),
                  "admin": Principal(2, "bench-admin", "admin"),
                  "city": Principal(3, "city-supervisor", "supervisor", department_code=args.city,
                                    departments=frozenset({args.city}))}
    failed = False
    for month in args.month or ["2026-11", "2026-10", "2026-06", "2025-12"]:
        for name, principal in principals.items():
            reports_of = {}
            timings = {}
            for label, module in (("old", old), ("new", reports)):
                t0 = time.monotonic()
                with db.read() as s:
                    report = module.build(s, module.resolve_scope(s, principal, month, None))
                timings[label] = time.monotonic() - t0
                reports_of[label] = json.loads(json.dumps(report, ensure_ascii=False, default=str))
                reports_of[label + "_csv"] = module.to_csv(report)
            diff = differences(reports_of["old"], reports_of["new"])
            if reports_of["old_csv"] != reports_of["new_csv"]:
                diff.append("CSV differs")
            arrears = reports_of["new"]["arrears"]
            print(f"{month} {name:8} old {timings['old']:.2f} s new {timings['new']:.2f} s  arrears "
                  f"{arrears['amount']} ({arrears['milestones']}) milestones {reports_of['new']['milestones']} "
                  f"{'IDENTICAL' if not diff else 'DIFFERENT'}", flush=True)
            for line in diff[:40]:
                print("   ", line)
            failed = failed or bool(diff)
    db.dispose()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
