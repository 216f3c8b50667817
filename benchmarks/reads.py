"""Read latency at volume: p50 and p95 of every list, filter, deep page and aggregate of the JSON
API, and of the pages a clerk opens, with 1,000,000 services, 300,000 pendings and 200,000
invoices (by default).

    .venv/bin/python benchmarks/reads.py [--repeat 40] [--services N --pendings M --invoices K]

It creates its own PostgreSQL database (lote_bench_<pid>), loads it with ``flask seed --services
... --pendings ... --invoices ...``, runs VACUUM (ANALYZE) as autovacuum would, then calls each
endpoint through the Flask test client in this process: the time is the app's (routing, auth,
queries, serialization), without a network hop. The database is dropped at the end.
"""

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import (  # noqa: E402
    add_server_options,
    bench_env,
    flask,
    machine,
    percentile,
    scratch_database,
    server_version,
    vacuum,
)

LIST_TARGET_MS = 50
AGGREGATE_TARGET_MS = 200
PAGE_TARGET_MS = 200


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=1_000_000)
    parser.add_argument("--pendings", type=int, default=300_000)
    parser.add_argument("--invoices", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=40, help="timed calls per endpoint")
    parser.add_argument(
        "--database-url", help="measure an already seeded database instead of a new one"
    )
    add_server_options(parser)
    args = parser.parse_args()

    print(f"Machine: {machine()}")
    if args.database_url:
        run(args, args.database_url)
        return
    with scratch_database(args.server, keep=args.keep) as url:
        env = bench_env(url, args.redis_url)
        print(f"Database: {server_version(url)}, {url.rsplit('/', 1)[1]}")
        flask(env, "db", "upgrade", echo=False)
        started = time.perf_counter()
        print(
            f"Seeding {args.services:,} services, {args.pendings:,} pendings, "
            f"{args.invoices:,} invoices:"
        )
        flask(
            env,
            "seed",
            "--services",
            str(args.services),
            "--pendings",
            str(args.pendings),
            "--invoices",
            str(args.invoices),
        )
        print(f"  seed total {time.perf_counter() - started:.1f} s")
        print(f"  VACUUM (ANALYZE) {vacuum(url):.1f} s")
        run(args, url)


def run(args, database_url: str) -> None:
    os.environ.update(bench_env(database_url, args.redis_url))
    from webapp import create_app

    app = create_app({"RATELIMIT_ENABLED": False, "WTF_CSRF_ENABLED": False})
    client = app.test_client()
    token = client.post("/api/auth/login", json={"username": "admin", "password": "lote-demo"})
    headers = {"Authorization": f"Bearer {token.get_json()['accessToken']}"}
    browser = app.test_client()
    browser.post("/login", data={"username": "clerk", "password": "lote-demo"})
    samples = _samples(app, client, headers)
    probes = (
        [
            (path, target, lambda path=path: _get(client, headers, path))
            for path, target in _endpoints(samples)
        ]
        + _cursor_probes(client, headers, samples)
        + [
            (f"page {path}", PAGE_TARGET_MS, lambda path=path: _open(browser, path))
            for path in _pages(samples)
        ]
    )

    print(f"\n{args.repeat} timed calls per endpoint after 3 warm-up calls (milliseconds)\n")
    print(f"{'endpoint':<78} {'p50':>7} {'p95':>7} {'target':>7}  total")
    failures = []
    for label, target, call in probes:
        for _ in range(3):
            call()
        timings = []
        body = None
        for _ in range(args.repeat):
            started = time.perf_counter()
            body = call()
            timings.append((time.perf_counter() - started) * 1000)
        p50, p95 = percentile(timings, 0.5), percentile(timings, 0.95)
        verdict = "" if p95 < target else "  SLOW"
        if verdict:
            failures.append(label)
        total = body.get("total", body.get("totalInvoices", body.get("totalPending", "")))
        print(f"{label:<78} {p50:7.1f} {p95:7.1f} {target:7d}  {total}{verdict}")
    print(
        f"\n{len(failures)} endpoint(s) over target" if failures else "\nEvery endpoint on target"
    )
    print("total: the list's total as answered (always exact)")


def _get(client, headers, path: str) -> dict:
    response = client.get(path, headers=headers)
    if response.status_code != 200:
        raise SystemExit(f"GET {path} answered {response.status_code}: {response.get_data()[:300]}")
    return response.get_json()


def _open(browser, path: str) -> dict:
    """A whole HTML page, rendered for a signed-in clerk."""
    response = browser.get(path)
    if response.status_code != 200:
        raise SystemExit(f"GET {path} answered {response.status_code}")
    return {}


def _pages(s: dict) -> list[str]:
    return [
        "/",
        "/services/",
        f"/services/?page={s['middle']['services']}",
        "/services/?status=CREATED",
        "/pendings/",
        "/invoices/",
        "/invoices/statistics",
    ]


def _cursor_probes(client, headers, samples) -> list:
    """Deep pages by keyset: ``after``, the id where the previous page ended."""
    paths = {
        "services": "/api/services",
        "pendings": "/api/billing-pendings",
        "invoices": "/api/invoices",
    }
    probes = []
    for name, path in paths.items():
        url = f"{path}?after={samples['cursor'][name]}"
        probes.append((url, LIST_TARGET_MS, lambda url=url: _get(client, headers, url)))
    return probes


def _samples(app, client, headers) -> dict:
    """Real values to filter by, read from the loaded data. Deep pages are 80% of the way
    through each list; the middle page, the farthest from both ends, is the slowest by number."""
    from sqlalchemy import func, select

    from webapp.extensions import db
    from webapp.models import BillingPending, Invoice, Service

    invoice = _get(client, headers, "/api/invoices?limit=1")["data"][0]
    service = _get(client, headers, "/api/services?limit=1")["data"][0]
    with app.app_context():
        counts = {
            name: db.session.scalar(select(func.count()).select_from(model))
            for name, model in (
                ("services", Service),
                ("pendings", BillingPending),
                ("invoices", Invoice),
            )
        }
        cursor = {
            name: db.session.scalar(
                select(model.id).order_by(model.id.desc()).offset(n * 4 // 5).limit(1)
            )
            for (name, n), model in zip(
                counts.items(), (Service, BillingPending, Invoice), strict=True
            )
        }
    print("Rows: " + ", ".join(f"{n:,} {name}" for name, n in counts.items()))
    return {
        "customer": service["customerId"],
        "service_date": service["serviceDate"],
        "batch": invoice["batchId"],
        "invoice_number": invoice["invoiceNumber"],
        "book": invoice["receiptBook"],
        "issue_date": invoice["issueDate"],
        "deep": {name: max(1, n * 4 // 5 // 20) for name, n in counts.items()},
        "middle": {name: max(1, n // 2 // 20) for name, n in counts.items()},
        "cursor": cursor,
    }


def _endpoints(s: dict) -> list[tuple[str, int]]:
    lists = [
        "/api/services",
        f"/api/services?page={s['deep']['services']}",
        f"/api/services?page={s['middle']['services']}",
        f"/api/services?customerId={s['customer']}",
        f"/api/services?customerId={s['customer']}&page=40",
        "/api/services?status=CREATED",
        "/api/services?status=SENT_TO_BILL",
        "/api/services?status=INVOICED",
        f"/api/services?dateFrom={s['service_date']}&dateTo={s['service_date']}",
        f"/api/services?status=CREATED&customerId={s['customer']}",
        "/api/billing-pendings",
        f"/api/billing-pendings?page={s['deep']['pendings']}",
        f"/api/billing-pendings?page={s['middle']['pendings']}",
        "/api/billing-pendings?status=PENDING",
        "/api/billing-pendings?status=INVOICED",
        f"/api/billing-pendings?customerId={s['customer']}",
        f"/api/billing-pendings?dateFrom={s['service_date']}&dateTo={s['service_date']}",
        "/api/billing-pendings/available",
        "/api/invoices",
        f"/api/invoices?page={s['deep']['invoices']}",
        f"/api/invoices?page={s['middle']['invoices']}",
        f"/api/invoices?batchId={s['batch']}",
        f"/api/invoices?customerId={s['customer']}",
        f"/api/invoices?invoiceNumber={s['invoice_number']}",
        f"/api/invoices?receiptBook={s['book']}",
        f"/api/invoices?dateFrom={s['issue_date']}&dateTo={s['issue_date']}",
        "/api/invoices?minAmount=1000.00&maxAmount=1100.00",
        f"/api/invoices/by-customer/{s['customer']}",
        f"/api/invoices/by-batch/{s['batch']}",
    ]
    aggregates = [
        "/api/billing-pendings/summary",
        "/api/invoices/statistics",
        f"/api/invoices/statistics?customerId={s['customer']}",
    ]
    return [(path, LIST_TARGET_MS) for path in lists] + [
        (path, AGGREGATE_TARGET_MS) for path in aggregates
    ]


if __name__ == "__main__":
    main()
