"""Batch invoicing at volume: for each size N, the wall time from POST /api/billing-batches to
PROCESSED, invoices per second, the consumer's peak RSS, and a raw-SQL baseline that performs the
same row writes set-based in one transaction, measured in the same run.

    .venv/bin/python benchmarks/batch.py [--sizes 1000,10000,100000] [--runs 3]

It creates its own PostgreSQL database (lote_bench_<pid>), loads the pendings with ``flask seed
--services ... --pendings ...``, and starts a real web server (gunicorn, as in production) and,
for each size, a fresh real queue consumer (huey_consumer, as in docker-compose) warmed up with a
10-pending batch, both on that database and on a Redis database of its own (--redis-url); the
consumer's VmHWM (/proc/<pid>/status) is its peak RSS over the size's runs. Each run:

  * baseline: N other pendings are claimed and invoiced by hand-written SQL in one transaction
    (claim, INSERT ... SELECT of the invoices with numbers and CAEs computed in SQL, their daily
    totals, pendings and services INVOICED, counter, batch PROCESSED, audit), in receipt book
    B-0001;
  * Lote: the pendings' ids are POSTed over HTTP to the web server, in receipt book A-0001, and
    the batch row is polled (every 20 ms, straight from the database) until PROCESSED;
  * the ratio is Lote's POST->PROCESSED time over the baseline's in that run; the two go first
    in turns; the invariants of the batch are checked after it.

Between runs the written tables get VACUUM (ANALYZE), as autovacuum would. Every figure printed
is the median over the runs. The database is dropped at the end.
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, text  # noqa: E402

from benchmarks._common import (  # noqa: E402
    BIN,
    ROOT,
    add_server_options,
    bench_env,
    flask,
    machine,
    median,
    scratch_database,
    server_version,
    vacuum,
)

LOTE_BOOK = "A-0001"
BASELINE_BOOK = "B-0001"
WEB_WORKERS = 3
CONSUMER_WORKERS = 4
WARM_UP_SIZE = 10
# Lets the workers run their start-up hooks (the reaper builds the app) before the POST.
CONSUMER_SETTLE_SECONDS = 2

BASELINE_STATEMENTS = [
    """UPDATE billing_pendings SET batch_id = :batch, updated_at = now()
       WHERE id = ANY(:ids) AND status = 'PENDING' AND batch_id IS NULL""",
    "SELECT last_number FROM receipt_books WHERE code = :book FOR UPDATE",
    """INSERT INTO invoices (invoice_number, receipt_book, sequence_number, cae, cae_due_date,
           issue_date, amount, net_amount, vat_amount, customer_id, service_id, service_date,
           pending_id, batch_id, created_at)
       SELECT :book || '-' || lpad(CAST(seq AS text), 8, '0'), :book, seq,
              translate(split_part(:book, '-', 1), 'ABC', '123')
                || lpad(split_part(:book, '-', 2), 5, '0') || lpad(CAST(seq AS text), 8, '0'),
              CAST(:issue AS date) + 10, :issue, amount, round(amount / 1.21, 2),
              amount - round(amount / 1.21, 2), customer_id, service_id, service_date, id,
              batch_id, now()
       FROM (SELECT p.*, (SELECT last_number FROM receipt_books WHERE code = :book)
                         + row_number() OVER (ORDER BY p.id) AS seq
             FROM billing_pendings p WHERE batch_id = :batch AND status = 'PENDING') AS numbered""",
    """INSERT INTO invoice_daily_totals
           (issue_date, receipt_book, customer_id, invoice_count, total_amount)
       SELECT issue_date, receipt_book, customer_id, count(*), sum(amount) FROM invoices
       WHERE batch_id = :batch GROUP BY issue_date, receipt_book, customer_id
       ON CONFLICT (issue_date, receipt_book, customer_id) DO UPDATE
       SET invoice_count = invoice_daily_totals.invoice_count + excluded.invoice_count,
           total_amount = invoice_daily_totals.total_amount + excluded.total_amount""",
    """UPDATE billing_pendings SET status = 'INVOICED', updated_at = now()
       WHERE batch_id = :batch AND status = 'PENDING'""",
    """UPDATE services SET status = 'INVOICED', updated_at = now()
       WHERE id IN (SELECT service_id FROM billing_pendings WHERE batch_id = :batch)""",
    """UPDATE receipt_books SET last_number = last_number + :n, last_issue_date = :issue
       WHERE code = :book""",
    """UPDATE billing_batches SET status = 'PROCESSED', progress = 100, total_invoices = :n,
           total_amount = (SELECT sum(amount) FROM invoices WHERE batch_id = :batch),
           first_invoice_number =
               (SELECT min(invoice_number) FROM invoices WHERE batch_id = :batch),
           last_invoice_number =
               (SELECT max(invoice_number) FROM invoices WHERE batch_id = :batch),
           processing_completed_at = now(), heartbeat_at = now()
       WHERE id = :batch""",
    """INSERT INTO audit_events (occurred_at, actor, action, entity_type, entity_id, detail)
       VALUES (now(), 'baseline', 'created', 'batch', :batch, ''),
              (now(), 'worker', 'invoiced', 'batch', :batch, '')""",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="comma-separated batch sizes")
    parser.add_argument("--runs", type=int, default=3, help="runs per size (default 3)")
    add_server_options(parser)
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]

    print(f"Machine: {machine()}")
    needed = sum(2 * args.runs * size + 2 * WARM_UP_SIZE for size in sizes)
    with scratch_database(args.server, keep=args.keep) as url:
        env = bench_env(url, args.redis_url)
        print(f"Database: {server_version(url)}, {url.rsplit('/', 1)[1]}; queue {args.redis_url}")
        flask(env, "db", "upgrade", echo=False)
        print(f"Seeding {needed:,} services, each sent to billing:")
        flask(env, "seed", "--services", str(needed), "--pendings", str(needed))
        print(f"  VACUUM (ANALYZE) {vacuum(url):.1f} s")
        _flush_queue(args.redis_url)
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO receipt_books (code, last_number, created_at) "
                    "VALUES (:book, 0, now()) ON CONFLICT DO NOTHING"
                ),
                {"book": BASELINE_BOOK},
            )
        web = WebServer(env)
        try:
            token = web.login()
            results = {size: _size(engine, env, url, web, token, size, args.runs) for size in sizes}
        finally:
            web.stop()
            engine.dispose()
            _flush_queue(args.redis_url)
        _report(results, args.runs)


def _size(engine, env, url, web, token, size: int, runs: int) -> list[dict]:
    """The runs of one size, on one consumer, warmed up first with a small batch as a
    long-running consumer would be; its VmHWM is then the peak over those runs."""
    consumer = Consumer(env)
    try:
        _lote(engine, web, token, _free_pendings(engine, WARM_UP_SIZE)[0], consumer)
        return [
            _run(engine, url, web, token, consumer, size, number, runs) for number in range(runs)
        ]
    finally:
        consumer.stop()


def _run(engine, url, web, token, consumer, size: int, number: int, runs: int) -> dict:
    baseline_ids, lote_ids = _free_pendings(engine, size)
    if number % 2 == 0:
        baseline = _baseline(engine, baseline_ids)
        lote = _lote(engine, web, token, lote_ids, consumer)
    else:
        lote = _lote(engine, web, token, lote_ids, consumer)
        baseline = _baseline(engine, baseline_ids)
    _check_invariants(engine, lote["batch_id"], size)
    result = {**lote, "baseline": baseline, "ratio": lote["wall"] / baseline}
    print(
        f"  N={size:,} run {number + 1}/{runs}: POST->PROCESSED {result['wall']:.2f} s "
        f"(POST {lote['post']:.2f} s, consumer claim->PROCESSED {lote['processing']:.2f} s, "
        f"{lote['progress_seen']} progress values seen), "
        f"consumer VmHWM {lote['rss_mb']:.0f} MB; "
        f"baseline {baseline:.2f} s; ratio {result['ratio']:.2f}",
        flush=True,
    )
    vacuum(url)
    return result


def _free_pendings(engine, size: int) -> tuple[list[int], list[int]]:
    with engine.connect() as conn:
        ids = list(
            conn.execute(
                text(
                    "SELECT id FROM billing_pendings WHERE status = 'PENDING' "
                    "AND batch_id IS NULL ORDER BY id LIMIT :n"
                ),
                {"n": 2 * size},
            ).scalars()
        )
    if len(ids) < 2 * size:
        raise SystemExit(f"Only {len(ids)} free pendings for two batches of {size}")
    return ids[:size], ids[size:]


def _baseline(engine, pending_ids: list[int]) -> float:
    """The same row writes as Lote's batch, set-based, in one transaction."""
    started = time.perf_counter()
    with engine.begin() as conn:
        batch_id = conn.execute(
            text(
                "INSERT INTO billing_batches (issue_date, receipt_book, status, pending_count, "
                "attempts, progress, total_invoices, total_amount, created_by, enqueued_at, "
                "processing_started_at, created_at, updated_at) VALUES (:issue, :book, "
                "'IN_PROCESS', :n, 1, 0, 0, 0, 'baseline', now(), now(), now(), now()) "
                "RETURNING id"
            ),
            {"issue": date.today(), "book": BASELINE_BOOK, "n": len(pending_ids)},
        ).scalar()
        params = {
            "batch": batch_id,
            "ids": pending_ids,
            "book": BASELINE_BOOK,
            "issue": date.today(),
            "n": len(pending_ids),
        }
        for statement in BASELINE_STATEMENTS:
            conn.execute(text(statement), params)
    return time.perf_counter() - started


def _lote(engine, web, token, pending_ids: list[int], consumer) -> dict:
    started = time.perf_counter()
    status, body = web.request(
        "POST",
        "/api/billing-batches",
        {
            "issueDate": date.today().isoformat(),
            "receiptBook": LOTE_BOOK,
            "pendingIds": pending_ids,
        },
        token,
    )
    posted = time.perf_counter()
    if status != 201:
        raise SystemExit(f"POST /api/billing-batches answered {status}: {str(body)[:500]}")
    batch_id = body["batch"]["id"]
    poll = text("SELECT status, progress, error_message FROM billing_batches WHERE id = :id")
    progress_seen = set()
    with engine.connect() as conn:
        while True:
            row = conn.execute(poll, {"id": batch_id}).one()
            conn.rollback()
            if row.status == "IN_PROCESS":
                progress_seen.add(row.progress)
            if row.status == "PROCESSED":
                break
            if row.status == "ERROR":
                raise SystemExit(f"Batch {batch_id} failed: {row.error_message}")
            if time.perf_counter() - started > 1800:
                raise SystemExit(f"Batch {batch_id} still {row.status} after 30 minutes")
            time.sleep(0.02)
    finished = time.perf_counter()
    with engine.connect() as conn:
        times = conn.execute(
            text(
                "SELECT EXTRACT(EPOCH FROM processing_completed_at - processing_started_at) "
                "AS processing FROM billing_batches WHERE id = :id"
            ),
            {"id": batch_id},
        ).one()
    wall = finished - started
    processing = float(times.processing)
    return {
        "batch_id": batch_id,
        "wall": wall,
        "post": posted - started,
        "processing": processing,
        "rss_mb": consumer.peak_rss_mb(),
        "progress_seen": len(progress_seen),
    }


def _check_invariants(engine, batch_id: int, size: int) -> None:
    """The benchmarked batch obeys the rules: every pending invoiced once, numbers gapless."""
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT count(*) AS n, count(DISTINCT cae) AS caes, "
                "max(sequence_number) - min(sequence_number) + 1 AS span, "
                "count(*) FILTER (WHERE net_amount + vat_amount <> amount) AS unbalanced "
                "FROM invoices WHERE batch_id = :id"
            ),
            {"id": batch_id},
        ).one()
        book = conn.execute(
            text(
                "SELECT r.last_number, count(i.id) AS n, max(i.sequence_number) AS top "
                "FROM receipt_books r LEFT JOIN invoices i ON i.receipt_book = r.code "
                "WHERE r.code = :book GROUP BY r.last_number"
            ),
            {"book": LOTE_BOOK},
        ).one()
        left = conn.execute(
            text(
                "SELECT count(*) FROM billing_pendings p JOIN services s ON s.id = p.service_id "
                "WHERE p.batch_id = :id AND (p.status <> 'INVOICED' OR s.status <> 'INVOICED')"
            ),
            {"id": batch_id},
        ).scalar()
    problems = []
    if not (row.n == row.caes == row.span == size) or row.unbalanced:
        problems.append(f"batch invoices {row}")
    if not (book.last_number == book.n == book.top):
        problems.append(f"receipt book {LOTE_BOOK} counter {book}")
    if left:
        problems.append(f"{left} pendings or services not INVOICED")
    if problems:
        raise SystemExit("Invariant broken: " + "; ".join(problems))


def _report(results: dict, runs: int) -> None:
    print(f"\nMedians over {runs} run(s) per size (each ratio measured within its run):\n")
    header = (
        f"{'N':>8} {'POST->PROCESSED':>16} {'invoices/s':>11} {'POST':>7} "
        f"{'claim->PROCESSED':>17} {'consumer VmHWM':>15} {'baseline':>9} {'ratio':>6}"
    )
    print(header)
    for size, rows in results.items():
        wall = median([r["wall"] for r in rows])
        print(
            f"{size:>8,} {wall:>14.2f} s {size / wall:>11,.0f} "
            f"{median([r['post'] for r in rows]):>5.2f} s "
            f"{median([r['processing'] for r in rows]):>15.2f} s "
            f"{median([r['rss_mb'] for r in rows]):>12.0f} MB "
            f"{median([r['baseline'] for r in rows]):>7.2f} s "
            f"{median([r['ratio'] for r in rows]):>6.2f}"
        )
    print(
        "\nEach benchmarked batch was checked after its run: every pending invoiced once, "
        "numbers gapless, CAEs unique, net + IVA = amount, counter = last number."
    )


def _flush_queue(redis_url: str) -> None:
    """Empties this benchmark's queue (its own Redis database), before and after."""
    from huey import RedisHuey

    RedisHuey("lote", url=redis_url).flush()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class WebServer:
    """gunicorn serving the app, as in production."""

    def __init__(self, env: dict):
        self.base = f"http://127.0.0.1:{_free_port()}"
        self.log = tempfile.NamedTemporaryFile(prefix="lote-bench-web-", suffix=".log")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                "-w",
                str(WEB_WORKERS),
                "-b",
                self.base.removeprefix("http://"),
                "webapp:create_app()",
            ],
            env=env,
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if self.request("GET", "/health")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise SystemExit(f"gunicorn did not answer:\n{Path(self.log.name).read_text()}")

    def request(self, method: str, path: str, payload=None, token=None) -> tuple[int, dict]:
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=600) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")

    def login(self) -> str:
        status, body = self.request(
            "POST", "/api/auth/login", {"username": "admin", "password": "lote-demo"}
        )
        if status != 200:
            raise SystemExit(f"Login failed ({status}): {body}")
        return body["accessToken"]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


class Consumer:
    """A fresh huey_consumer process, as in docker-compose; its VmHWM is its peak RSS."""

    def __init__(self, env: dict):
        self.log = tempfile.NamedTemporaryFile(prefix="lote-bench-consumer-", suffix=".log")  # noqa: SIM115
        self.process = subprocess.Popen(
            [str(BIN / "huey_consumer"), "webapp.tasks.huey", "-w", str(CONSUMER_WORKERS)]
            + ["-k", "thread"],
            env=env,
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while "consumer started" not in Path(self.log.name).read_text().lower():
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.stop()
                raise SystemExit(f"huey_consumer did not start:\n{self.output()}")
            time.sleep(0.1)
        time.sleep(CONSUMER_SETTLE_SECONDS)

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise SystemExit("VmHWM not found in /proc/<pid>/status")

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
