#!/usr/bin/env python
"""Award intake benchmark (issue 21): OCDS import of 10,000 tenders with 60,000 bids, the risk scan over them,
and the monthly market bulletin over them.

Run by hand from the repository root:

    .venv/bin/python bench/intake.py --database-url $PG --bench-db bench_intake   # 10 000 tenders, 6 bids each
    .venv/bin/python bench/intake.py --quick                                      # 300 tenders on SQLite (< 1 min)

PostgreSQL: it works in its own database (`--bench-db`, a name starting with `bench_`) on the server of
`--database-url`, creates it when missing and DROPS AND RECREATES ITS `public` SCHEMA on every run. Without
`--database-url` it runs on a SQLite file in a temporary folder.

What it builds: `--tenders` invented tenders over 12 months of 2026 (4 departments, the 3 sectors, 4
procedures), each with `--bids` bids from a pool of `--bidders` firms with valid unified social credit codes
and their own phone numbers and addresses, and one active award to the lowest bid; released as packages of
`--package` releases (the API's cap is 2000), each validated against the official OCDS schemas like any import.

What it measures (in process, through the use cases the API and the CLI call; wall clock):
* import: each package imported without the risk scan (`import_package(..., scan=False)`): seconds per
  package (median, max), releases per second over all of them;
* re-import of one package (idempotent: every release unchanged);
* risk scan: every indicator over the whole market and the leads written (what an import runs after it);
* bulletin: `bulletin.monthly` of one month, `--repeat` times (median), and its CSV.

Prints a table and writes JSON (`--output`, default bench/results/intake.json).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import databases  # noqa: E402
from sqlalchemy import text  # noqa: E402

from engine import bootstrap  # noqa: E402
from engine.access import directory  # noqa: E402
from engine.storage import migrate  # noqa: E402
from engine.storage.db import Database  # noqa: E402
from engine.supervision import bulletin, intake, risk  # noqa: E402

DEFAULT_OUTPUT = ROOT / "bench" / "results" / "intake.json"
DEPARTMENTS = ("ZJ", "JT", "SL", "CZ")
SECTORS = ("works", "goods", "services")
PROCEDURES = ("open", "open", "selective", "limited")
REGIONS = ("410102", "410103", "410105", "410303", "410702", "420102", "110108")
ADMIN = directory.Principal(0, "bench", "admin")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def uscc(region: str, n: int) -> str:
    body = f"91{region}MA{n:07d}"
    return body + intake.uscc_check(body)


def releases(tenders: int, bids: int, bidders: int, seed: int = 7) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    firms = [(uscc(REGIONS[n % len(REGIONS)], n + 1), f"基准企业{n:05d}有限公司", f"0371-{6000000 + n:08d}")
             for n in range(bidders)]
    buyers = [(uscc("410102", 900000 + n), f"基准采购人{n:03d}") for n in range(50)]
    out = []
    for t in range(tenders):
        day = date(2026, 1, 1) + timedelta(days=t * 360 // tenders)
        ceiling = rnd.randrange(100_000, 50_000_000)
        chosen = rnd.sample(range(bidders), bids)
        prices = sorted((int(ceiling * rnd.uniform(0.80, 0.99)), f) for f in chosen)
        ocid = f"ocds-bench-{t:06d}"
        buyer = buyers[t % len(buyers)]
        dept = DEPARTMENTS[t % len(DEPARTMENTS)]
        parties = [{"id": "buyer", "name": buyer[1], "roles": ["buyer"], "identifier": {"scheme": "CN-USCC", "id": buyer[0]}},
                   {"id": f"dept-{dept}", "name": dept, "roles": ["reviewBody"]}]
        winner = prices[0][1]
        for _, f in prices:
            code, name, phone = firms[f]
            parties.append({"id": f"org-{f}", "name": name, "identifier": {"scheme": "CN-USCC", "id": code},
                            "roles": ["tenderer", "supplier"] if f == winner else ["tenderer"],
                            "contactPoint": {"telephone": phone}, "address": {"streetAddress": f"基准路{f}号"}})
        stamp = f"{day.isoformat()}T10:00:00+08:00"
        out.append({
            "ocid": ocid, "id": f"{ocid}-1", "date": stamp, "tag": ["tender", "award"], "initiationType": "tender",
            "parties": parties, "buyer": {"id": "buyer"},
            "tender": {"id": f"B{t:06d}", "title": f"基准项目{t}", "mainProcurementCategory": SECTORS[t % 3],
                       "procurementMethod": PROCEDURES[t % 4], "value": {"amount": ceiling, "currency": "CNY"},
                       "tenderPeriod": {"endDate": stamp}},
            "bids": {"details": [{"id": f"{ocid}-b{n}", "tenderers": [{"id": f"org-{f}"}],
                                  "value": {"amount": price, "currency": "CNY"},
                                  "documents": [{"id": "d", "hash": f"{t:032x}{f:032x}"}]}
                                 for n, (price, f) in enumerate(prices)]},
            "awards": [{"id": f"{ocid}-a", "status": "active", "date": stamp,
                        "value": {"amount": prices[0][0], "currency": "CNY"}, "suppliers": [{"id": f"org-{winner}"}]}],
        })
    return out


def package(chunk: list[dict[str, Any]]) -> dict[str, Any]:
    return {"uri": "https://ggzy.example.gov.cn/ocds/bench.json", "version": "1.1",
            "publishedDate": "2027-01-01T08:00:00+08:00", "publisher": {"name": "bench"}, "releases": chunk}


def database(server_url: str | None, name: str, folder: Path) -> str:
    if server_url is None:
        url = f"sqlite:///{folder / 'intake.sqlite'}"
        migrate.upgrade(url)
        return url
    if not re.fullmatch(r"bench_[a-z0-9_]{1,50}", name):
        raise SystemExit(f"--bench-db {name!r}: bench_ followed by lower-case letters, digits and _")
    return databases.fresh_postgres(server_url, name)


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="300 tenders, SQLite unless --database-url")
    parser.add_argument("--database-url", help="a PostgreSQL server URL (default: SQLite in a temporary folder)")
    parser.add_argument("--bench-db", default="bench_intake")
    parser.add_argument("--tenders", type=int, default=10_000)
    parser.add_argument("--bids", type=int, default=6)
    parser.add_argument("--bidders", type=int, default=600)
    parser.add_argument("--package", type=int, default=1000, help="releases per package (at most 2000)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args()
    if args.quick:
        args.tenders, args.bidders, args.package, args.repeat = 300, 60, 100, 3
    bootstrap.bootstrap()
    started_load = load_average()
    with tempfile.TemporaryDirectory() as folder:
        url = database(args.database_url, args.bench_db, Path(folder))
        db = Database(url)
        with db.transaction() as s:
            for code in DEPARTMENTS:
                directory.add_department(s, code, f"基准 {code}")
        log(f"generating {args.tenders} tenders × {args.bids} bids")
        all_releases = releases(args.tenders, args.bids, args.bidders)
        chunks = [all_releases[n:n + args.package] for n in range(0, len(all_releases), args.package)]
        per_package = []
        for i, chunk in enumerate(chunks):
            seconds, out = timed(lambda: intake.import_package(db, ADMIN, package(chunk), scan=False))
            assert len(out["created"]) == len(chunk), out
            per_package.append(seconds)
            log(f"package {i + 1}/{len(chunks)}: {len(chunk)} releases in {seconds:.2f} s")
        again, out = timed(lambda: intake.import_package(db, ADMIN, package(chunks[0]), scan=False))
        assert len(out["unchanged"]) == len(chunks[0]) and not out["created"], out
        scan_seconds, leads = timed(lambda: risk.scan(db))
        log(f"risk scan {scan_seconds:.2f} s: {leads}")
        month_runs = []
        for _ in range(args.repeat):
            seconds, report = timed(lambda: bulletin.monthly(db, ADMIN, "2026-06"))
            month_runs.append(seconds)
        csv_seconds, _ = timed(lambda: bulletin.to_csv(report))
        with db.read() as s:
            counts = {t: s.execute(text(f"SELECT count(*) FROM {t}")).scalar()
                      for t in ("tenders", "tender_bids", "tender_parties", "tender_awards", "risk_leads")}
        db.dispose()
    total = sum(per_package)
    result = {
        "command": " ".join(["bench/intake.py", *sys.argv[1:]]),
        "database": "postgresql" if args.database_url else "sqlite",
        "tenders": args.tenders, "bids": args.tenders * args.bids, "bidders": args.bidders,
        "package_releases": args.package, "packages": len(chunks), "rows": counts,
        "import": {"seconds_total": round(total, 2), "package_median_s": round(statistics.median(per_package), 2),
                   "package_max_s": round(max(per_package), 2), "releases_per_s": round(args.tenders / total, 1),
                   "bids_per_s": round(args.tenders * args.bids / total, 1)},
        "reimport_package_s": round(again, 2),
        "risk_scan": {"seconds": round(scan_seconds, 2), "leads": leads},
        "bulletin": {"month": "2026-06", "tenders_in_month": report["tenders"]["count"],
                     "median_s": round(statistics.median(month_runs), 3), "runs_s": [round(x, 3) for x in month_runs],
                     "csv_s": round(csv_seconds, 3)},
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "load_average_at_start": started_load,
                    "load_average_at_end": load_average()},
    }
    print()
    print(f"{'figure':<44}{'value':>14}")
    for label, value in (("tenders / bids", f"{args.tenders} / {args.tenders * args.bids}"),
                         ("import total (s)", result["import"]["seconds_total"]),
                         (f"import per package of {args.package}, median (s)", result["import"]["package_median_s"]),
                         ("import releases/s", result["import"]["releases_per_s"]),
                         ("re-import of a package, unchanged (s)", result["reimport_package_s"]),
                         ("risk scan over everything (s)", result["risk_scan"]["seconds"]),
                         ("bulletin of a month, median (s)", result["bulletin"]["median_s"])):
        print(f"{label:<44}{value:>14}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    log(f"written {args.output}")


if __name__ == "__main__":
    main()
