"""Load test: many concurrent API clients against gunicorn (several workers) and a consumer.

Each client signs in, then loops for the given time over the clerk's flow: create services, send
them to billing, batch the available pendings, and read the lists. At the end it prints requests
per second, latency percentiles, the 5xx count (must be 0) and an audit of the database (every
pending invoiced at most once, numbers gapless per receipt book, the kept status counts and daily
totals equal to what the rows add up to).

    .venv/bin/python benchmarks/load.py --clients 16 --seconds 60

It creates its own PostgreSQL database and drops it afterwards; Redis db 14 holds the queue.
"""

import argparse
import http.client
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from webapp.config import Config

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PG = os.environ.get("LOAD_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")
REDIS = os.environ.get("LOAD_REDIS", "redis://127.0.0.1:6379/14")
PASSWORD = "load-test-password"


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


class Client:
    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.headers = {"Content-Type": "application/json"}
        self.latencies = []
        self.statuses = Counter()

    def call(self, method, path, body=None):
        started = time.perf_counter()
        self.conn.request(
            method, path, json.dumps(body) if body is not None else None, self.headers
        )
        response = self.conn.getresponse()
        payload = response.read()
        self.latencies.append(time.perf_counter() - started)
        self.statuses[response.status] += 1
        return response.status, json.loads(payload) if payload else None


def clerk_loop(port, deadline, seed, results, issue_date):
    rng = random.Random(seed)
    client = Client(port)
    # One user per client: sign-in is rate-limited per user and address.
    status, body = client.call(
        "POST", "/api/auth/login", {"username": f"loadclerk{seed}", "password": PASSWORD}
    )
    client.headers["Authorization"] = f"Bearer {body['accessToken']}"
    while time.monotonic() < deadline:
        created = []
        for _ in range(rng.randint(2, 6)):
            status, body = client.call(
                "POST",
                "/api/services",
                {
                    "serviceDate": issue_date,
                    "customerId": rng.randint(1, 50),
                    "amount": f"{rng.randint(100, 500000) / 100:.2f}",
                    "description": "Flete de carga",
                },
            )
            if status == 201:
                created.append(body["id"])
        if created:
            client.call("POST", "/api/services/send-to-billing", {"serviceIds": created})
        status, body = client.call("GET", "/api/billing-pendings/available?limit=30")
        if status == 200 and body["data"]:
            ids = [p["id"] for p in body["data"]]
            client.call(
                "POST",
                "/api/billing-batches",
                {
                    "issueDate": issue_date,
                    "receiptBook": rng.choice(["A-0001", "B-0002"]),
                    "pendingIds": ids,
                },
            )
        client.call("GET", "/api/services?limit=20")
        client.call("GET", f"/api/invoices?limit=20&customerId={rng.randint(1, 50)}")
        client.call("GET", "/api/billing-pendings/summary")
        client.call("GET", "/api/billing-batches?limit=10")
    results.append(client)


def wait_until_up(port, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the web server did not start")


def audit(env):
    script = """
from sqlalchemy import text
from webapp import create_app
from webapp.extensions import db
app = create_app()
with app.app_context():
    q = lambda sql: db.session.execute(text(sql)).all()
    twice = q("SELECT pending_id FROM invoices GROUP BY pending_id HAVING count(*) > 1")
    gaps = q(
        "SELECT receipt_book, count(*), min(sequence_number), max(sequence_number) "
        "FROM invoices GROUP BY receipt_book"
    )
    books = dict(q("SELECT code, last_number FROM receipt_books"))
    open_batches = q("SELECT status, count(*) FROM billing_batches GROUP BY status")
    print("batches by status:", dict(open_batches))
    print("pendings invoiced more than once:", len(twice))
    for book, n, low, high in gaps:
        gapless = low == 1 and high == n and books.get(book) == n
        print(f"book {book}: {n} invoices, numbers {low}..{high}, gapless: {gapless}")
    kept = q("SELECT table_name, status, sum(delta) FROM status_counts "
             "GROUP BY table_name, status HAVING sum(delta) <> 0")
    counted = q("SELECT 'services', status, count(*) FROM services GROUP BY status UNION ALL "
                "SELECT 'billing_pendings', status, count(*) FROM billing_pendings GROUP BY status")
    print("status counts equal the rows:", sorted(kept) == sorted(counted), sorted(counted))
    daily = q("SELECT issue_date, receipt_book, customer_id, invoice_count, total_amount "
              "FROM invoice_daily_totals WHERE invoice_count <> 0")
    invoiced = q("SELECT issue_date, receipt_book, customer_id, count(*), sum(amount) "
                 "FROM invoices GROUP BY issue_date, receipt_book, customer_id")
    print("daily totals equal the invoices:", sorted(daily) == sorted(invoiced),
          f"({len(invoiced)} rows by issue date, receipt book and customer)")
"""
    subprocess.run([str(BIN / "python"), "-c", script], env=env, check=True, cwd=ROOT)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--port", type=int, default=5091)
    args = parser.parse_args()

    name = f"lote_load_{uuid.uuid4().hex[:8]}"
    subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f"CREATE DATABASE {name}"], check=True
    )
    env = {
        **os.environ,
        "DATABASE_URL": f"{PG}/{name}",
        "REDIS_URL": REDIS,
        "ERP_FAILURE_RATE": "0",
    }
    processes = []
    try:
        flask = [str(BIN / "flask"), "--app", "webapp"]
        subprocess.run(
            [*flask, "db", "upgrade"], env=env, check=True, cwd=ROOT, capture_output=True
        )
        # The clerks, and the customers they bill, complete so their pendings can be batched.
        create_clerks = (
            "import sys\n"
            "from webapp import create_app\n"
            "from webapp.billing import customers, users\n"
            "with create_app().app_context():\n"
            "    for n in range(int(sys.argv[1])):\n"
            "        users.create_user('load', f'loadclerk{n}', sys.argv[2], 'clerk')\n"
            "    for n in range(1, 51):\n"
            "        customers.create_customer('load', customer_id=n, legal_name=f'Cliente {n}',\n"
            "                                  doc_type=99, iva_condition=5)\n"
        )
        subprocess.run(
            [str(BIN / "python"), "-c", create_clerks, str(args.clients), PASSWORD],
            env=env,
            check=True,
            cwd=ROOT,
        )
        subprocess.run(
            [
                str(BIN / "python"),
                "-c",
                "import redis,sys; redis.from_url(sys.argv[1]).flushdb()",
                REDIS,
            ],
            check=True,
        )
        log = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the servers
        processes.append(
            subprocess.Popen(
                [
                    str(BIN / "gunicorn"),
                    "-w",
                    str(args.workers),
                    "-b",
                    f"127.0.0.1:{args.port}",
                    "webapp:create_app()",
                ],
                env=env,
                cwd=ROOT,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        )
        processes.append(
            subprocess.Popen(
                [str(BIN / "huey_consumer"), "webapp.tasks.huey", "-w", "2", "-k", "thread"],
                env=env,
                cwd=ROOT,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        )
        wait_until_up(args.port)
        issue_date = datetime.now(ZoneInfo(Config.BUSINESS_TIMEZONE)).date().isoformat()
        results, threads = [], []
        started = time.monotonic()
        deadline = started + args.seconds
        for n in range(args.clients):
            thread = threading.Thread(
                target=clerk_loop, args=(args.port, deadline, n, results, issue_date)
            )
            thread.start()
            threads.append(thread)
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        latencies = [x for c in results for x in c.latencies]
        statuses = sum((c.statuses for c in results), Counter())
        print(f"clients {args.clients}, gunicorn workers {args.workers}, {elapsed:.1f} s")
        print(f"requests {len(latencies)}, {len(latencies) / elapsed:.1f} req/s")
        print(
            "latency ms p50 {:.1f} p95 {:.1f} p99 {:.1f} mean {:.1f}".format(
                *(1000 * percentile(latencies, f) for f in (0.5, 0.95, 0.99)),
                1000 * statistics.fmean(latencies),
            )
        )
        print("status codes:", dict(sorted(statuses.items())))
        print("5xx:", sum(n for code, n in statuses.items() if code >= 500))
        time.sleep(5)  # let the consumer finish the last batches before the audit
        audit(env)
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=20)
        subprocess.run(
            ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f"DROP DATABASE IF EXISTS {name}"],
            check=False,
        )


if __name__ == "__main__":
    main()
