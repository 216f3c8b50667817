"""Batch invoicing at volume, each figure beside its floor measured in the same run.

    .venv/bin/python benchmarks/batch.py [--sizes 10000,100000] [--runs 3] [--latency-ms 200]
        [--latency-size 10000] [--parallel-size 20000]

It creates its own PostgreSQL database (lote_bench_<pid>), loads the pendings with ``flask seed
--services N --pendings N`` (volume customers are consumers, so every batch is Factura B), and
starts a real web server (gunicorn, as in production) and real queue consumers (huey_consumer
with 4 threads, as docker-compose runs it), on that database and on a Redis database of its own
(--redis-url). Every Lote batch is POSTed to /api/billing-batches with a point of sale and its
pendings' ids, and its row is polled (every 20 ms, straight from the database) until PROCESSED;
its invariants are then checked (PROCESSED, N invoices, each pending and its service INVOICED and
invoiced once, its numbers gapless on each book, the book's counter equal to the authority's), and
a broken one stops the benchmark. The figures never do: they are printed, not asserted.

1. Zero latency, for each of --sizes (--runs runs, medians printed): Lote's time from the POST to
   PROCESSED, the POST alone (parsing and claiming the ids), and the FLOOR: the same row writes as
   one set-based SQL transaction on a minimal schema the benchmark creates in the same database
   (floor_customers, floor_services, floor_pendings, floor_invoices: copies of Lote's columns with
   primary keys, a unique invoice number and a unique pending id, and no other index, trigger,
   foreign key or check): the pendings claimed, one invoice per pending with every column of
   Lote's invoices, the pendings and their services INVOICED. The floor invoices the same pendings
   as Lote's run (the floor tables hold a copy of Lote's rows); the two go first in turns. Beside
   them: the authority alone, the simulator's ``authorize`` called N / 250 times from this process
   on a point of sale of its own (its validation and its writes to ``authority_runs``, which
   Lote's time includes and the floor does not), and the consumer's peak RSS (VmHWM of a fresh
   consumer, over one warm-up batch and the size's runs).
2. Latency L per call (--latency-ms, the consumer runs with CAE_LATENCY_MS=L), at --latency-size:
   T(L), the authority's waits (N / 250) x L, and T(L) - waits beside T0 / 2, T0 being the
   zero-latency time at that size (target: T(L) - waits <= T0 / 2). The batch also asks the
   authority its last number once per book it issues on (B only, one L), while its first call
   there is reserved: what of that L the reservation does not cover is in T(L) - waits.
3. Books in parallel, with the same L and consumer: two batches of --parallel-size on points of
   sale 1 and 2 (books B-0001 and B-0002), POSTed together, from the first POST to the last
   PROCESSED, beside one batch alone on point of sale 1; the ratio (target <= 1.2).

Between runs, and between Lote and the floor within a run, the written tables get VACUUM
(ANALYZE), as autovacuum would. The database is dropped at the end (unless --keep).
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
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import (  # noqa: E402
    Column,
    Enum,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    create_engine,
    text,
)

from benchmarks._common import (  # noqa: E402
    BIN,
    DEFAULT_REDIS,
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

# Importing webapp builds its Huey from the environment: a Redis one, never connected here,
# rather than a SQLite queue file in the checkout.
os.environ.setdefault("REDIS_URL", DEFAULT_REDIS)

from webapp.authority import SimulatedAuthority  # noqa: E402
from webapp.billing.cae import (  # noqa: E402
    MAX_INVOICES_PER_CALL,
    TYPE_DIGIT,
    AuthorizationRequest,
    VatLine,
    VoucherDetail,
)
from webapp.billing.documents import VAT_RATE_IDS  # noqa: E402
from webapp.config import Config  # noqa: E402
from webapp.models import BillingPending, Customer, DocumentType, Invoice, Service  # noqa: E402

WEB_WORKERS = 3
# As docker-compose.yml runs the consumer: huey_consumer ... -w 4 -k thread.
CONSUMER_WORKERS = 4
WARM_UP_SIZE = 10
# Lets the workers run their start-up hooks (the reaper builds the app) before the POST.
CONSUMER_SETTLE_SECONDS = 2
POLL_SECONDS = 0.02
BATCH_TIMEOUT_SECONDS = 1800
# Volume customers are consumers: the demo issuer (Responsable Inscripto) bills them Factura B.
POINTS_OF_SALE = (1, 2)
INVOICE_B = DocumentType.INVOICE_B.value
# The floor numbers its invoices as Lote's book of the zero-latency batches.
FLOOR_POINT_OF_SALE = POINTS_OF_SALE[0]
FLOOR_BOOK = f"B-{FLOOR_POINT_OF_SALE:04d}"
# The simulator's point of sale for the authority measured alone: no book of Lote's uses it.
AUTHORITY_ALONE_POINT_OF_SALE = 99
BUSY_TABLES = (
    "services, billing_pendings, invoices, billing_batches, receipt_books, batch_books, "
    "authority_calls, authority_runs, invoice_daily_totals, audit_events, status_counts, "
    "floor_services, floor_pendings, floor_invoices"
)

# The floor: Lote's columns on tables of its own, with nothing but their primary keys and the
# two unique columns the rules need (one invoice per number, one per pending).
floor = MetaData()


def _minimal_copy(name: str, model: Table, *unique: str) -> Table:
    """A table with ``model``'s columns and types, its primary key and ``unique`` columns, and no
    other index, trigger, foreign key or check (an enum becomes the string it is stored as)."""
    columns = [
        Column(
            column.name,
            String(column.type.length) if isinstance(column.type, Enum) else column.type,
            primary_key=column.primary_key,
            nullable=column.nullable,
        )
        for column in model.columns
    ]
    return Table(name, floor, *columns, *(UniqueConstraint(column) for column in unique))


FLOOR_TABLES = {
    "customers": _minimal_copy("floor_customers", Customer.__table__),
    "services": _minimal_copy("floor_services", Service.__table__),
    "billing_pendings": _minimal_copy("floor_pendings", BillingPending.__table__),
}
floor_invoices = _minimal_copy("floor_invoices", Invoice.__table__, "invoice_number", "pending_id")

# Every column of Lote's invoices but the id, and the SQL that computes it from the pending.
FLOOR_INVOICE_VALUES = {
    "invoice_number": "CAST(:book AS text) || '-' || lpad(CAST(seq AS text), 8, '0')",
    "receipt_book": ":book",
    "sequence_number": "seq",
    "cae": "CAST(:cae_prefix AS text) || lpad(CAST(seq AS text), 8, '0')",
    "cae_due_date": "CAST(:issue AS date) + 10",
    "issue_date": ":issue",
    "amount": "p.amount",
    "net_amount": "p.net",
    "vat_amount": "p.amount - p.net - p.exempt",
    "exempt_amount": "p.exempt",
    "vat_rate": "p.vat_rate",
    "point_of_sale": ":point_of_sale",
    "document_type": ":document_type",
    "payment_due_date": "CAST(:issue AS date) + c.payment_days",
    "customer_id": "p.customer_id",
    "receiver_name": "c.legal_name",
    "receiver_doc_type": "c.doc_type",
    "receiver_doc_number": "c.doc_number",
    "receiver_iva_condition": "c.iva_condition",
    "receiver_address": "c.address",
    "service_id": "p.service_id",
    "service_date": "p.service_date",
    "pending_id": "p.id",
    # A note's columns, empty on an invoice.
    "correction_id": "NULL",
    "corrects_invoice_id": "NULL",
    "batch_id": ":batch",
    "erp_sync_id": "NULL",
    "issued_outside": "false",
    # The issuer each invoice keeps: one row, read once by the statement.
    **{
        f"issuer_{column}": f"(SELECT {column} FROM issuer WHERE id = 1)"
        for column in (
            "legal_name",
            "cuit",
            "iva_condition",
            "iibb_number",
            "activities_start",
            "address",
        )
    },
    "created_at": "now()",
}
FLOOR_STATEMENTS = [
    # Claimed, as the POST does.
    """UPDATE floor_pendings SET batch_id = :batch, updated_at = now()
       WHERE id = ANY(:ids) AND status = 'PENDING' AND batch_id IS NULL""",
    f"""INSERT INTO floor_invoices ({", ".join(FLOOR_INVOICE_VALUES)})
        SELECT {", ".join(FLOOR_INVOICE_VALUES.values())}
        FROM (SELECT pending.*,
                     :last + row_number() OVER (ORDER BY pending.id) AS seq,
                     CASE WHEN pending.vat_rate = 'exempt' THEN 0
                          ELSE round(pending.amount / (1 + CAST(pending.vat_rate AS numeric) / 100),
                                     2)
                     END AS net,
                     CASE WHEN pending.vat_rate = 'exempt' THEN pending.amount ELSE 0 END AS exempt
              FROM floor_pendings pending
              WHERE pending.id = ANY(:ids) AND pending.batch_id = :batch
                AND pending.status = 'PENDING') AS p
        JOIN floor_customers c ON c.id = p.customer_id""",
    """UPDATE floor_pendings SET status = 'INVOICED', updated_at = now() WHERE id = ANY(:ids)""",
    """UPDATE floor_services SET status = 'INVOICED', updated_at = now()
       WHERE id IN (SELECT service_id FROM floor_pendings WHERE id = ANY(:ids))""",
]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes", default="10000,100000", help="zero-latency batch sizes (%(default)s)"
    )
    parser.add_argument("--runs", type=int, default=3, help="runs of each figure (%(default)s)")
    parser.add_argument(
        "--latency-ms", type=int, default=200, help="the authority's latency per call (%(default)s)"
    )
    parser.add_argument(
        "--latency-size",
        type=int,
        default=10_000,
        help="batch size measured with latency (%(default)s); also measured at zero latency",
    )
    parser.add_argument(
        "--parallel-size",
        type=int,
        default=20_000,
        help="size of each of the two batches invoiced in parallel (%(default)s)",
    )
    add_server_options(parser)
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    if args.latency_size not in sizes:
        sizes.append(args.latency_size)
    runs = args.runs

    _refuse_a_shared_queue(args.redis_url)
    print(f"Machine: {machine()}")
    # Each consumer (one per zero-latency size, one with latency) warms up with a small batch.
    needed = (
        runs * (sum(sizes) + args.latency_size + 3 * args.parallel_size)
        + (len(sizes) + 1) * WARM_UP_SIZE
    )
    issue_date = datetime.now(ZoneInfo(Config.BUSINESS_TIMEZONE)).date()
    with scratch_database(args.server, keep=args.keep) as url:
        env = bench_env(url, args.redis_url)
        print(f"Database: {server_version(url)}, {url.rsplit('/', 1)[1]}; queue {args.redis_url}")
        flask(env, "db", "upgrade", echo=False)
        print(f"Seeding {needed:,} services, each sent to billing:")
        flask(env, "seed", "--services", str(needed), "--pendings", str(needed))
        engine = create_engine(url)
        print(f"  Floor tables, a copy of Lote's rows: {_create_floor(engine):.1f} s")
        print(f"  VACUUM (ANALYZE) {vacuum(url, BUSY_TABLES):.1f} s")
        _flush_queue(args.redis_url)
        bench = Bench(engine, url, issue_date)
        web = WebServer(env)
        try:
            bench.web, bench.token = web, web.login()
            print("\n1. Zero latency")
            zero = {size: bench.zero_latency(env, size, runs) for size in sizes}
            latency_env = bench_env(url, args.redis_url, CAE_LATENCY_MS=args.latency_ms)
            consumer = bench.start_consumer(latency_env)
            try:
                print(f"\n2. Latency {args.latency_ms} ms per call")
                latency = bench.with_latency(args.latency_size, runs)
                print(f"\n3. Books in parallel, latency {args.latency_ms} ms per call")
                parallel = bench.in_parallel(args.parallel_size, runs)
            finally:
                consumer.stop()
        finally:
            web.stop()
            engine.dispose()
            _flush_queue(args.redis_url)
        _report(zero, latency, parallel, args, runs)


def _create_floor(engine) -> float:
    """Creates the floor's tables and copies Lote's customers, services and pendings into them;
    returns the seconds it took."""
    written = set(FLOOR_INVOICE_VALUES)
    columns = {column.name for column in floor_invoices.columns if not column.primary_key}
    if written != columns:
        raise SystemExit(f"The floor and Lote's invoices differ in columns {written ^ columns}")
    started = time.perf_counter()
    floor.create_all(engine)
    with engine.begin() as conn:
        for source, table in FLOOR_TABLES.items():
            columns = ", ".join(column.name for column in table.columns)
            copy = f"INSERT INTO {table.name} ({columns}) SELECT {columns} FROM {source}"
            conn.execute(text(copy))
    return time.perf_counter() - started


class Bench:
    """The database, the web server and the consumer the runs share."""

    def __init__(self, engine, url: str, issue_date: date):
        self.engine = engine
        self.url = url
        self.issue_date = issue_date
        self.web = None
        self.token = None
        self.consumer = None
        self.floor_last_number = 0
        self.floor_batches = 0

    def start_consumer(self, env: dict) -> "Consumer":
        """A fresh consumer, warmed up with a small batch as a long-running one would be."""
        self.consumer = Consumer(env)
        self.lote([(POINTS_OF_SALE[0], self.free_pendings(WARM_UP_SIZE))])
        return self.consumer

    # 1. Zero latency -------------------------------------------------------------------------

    def zero_latency(self, env: dict, size: int, runs: int) -> list[dict]:
        """The runs of one size, on a fresh consumer: its VmHWM is the peak over them."""
        consumer = self.start_consumer(env)
        try:
            return [self._zero_latency_run(size, number, runs) for number in range(runs)]
        finally:
            consumer.stop()

    def _zero_latency_run(self, size: int, number: int, runs: int) -> dict:
        ids = self.free_pendings(size)
        # Each of the two starts from vacuumed tables, whichever went first.
        if number % 2 == 0:
            floor_seconds = self.floor(ids)
            vacuum(self.url, BUSY_TABLES)
            lote = self.lote([(POINTS_OF_SALE[0], ids)])
        else:
            lote = self.lote([(POINTS_OF_SALE[0], ids)])
            vacuum(self.url, BUSY_TABLES)
            floor_seconds = self.floor(ids)
        authority_seconds = self.authority_alone(size)
        result = {
            **lote,
            "floor": floor_seconds,
            "ratio": lote["wall"] / floor_seconds,
            "authority": authority_seconds,
            "rss_mb": self.consumer.peak_rss_mb(),
        }
        print(
            f"  N={size:,} run {number + 1}/{runs}: POST->PROCESSED {lote['wall']:.2f} s "
            f"(POST {lote['post']:.2f} s, in the queue {lote['queued']:.2f} s, "
            f"consumer claim->PROCESSED {lote['processing']:.2f} s, "
            f"{lote['progress_seen']} progress values seen); floor {floor_seconds:.2f} s; "
            f"Lote/floor {result['ratio']:.2f}; authority alone {authority_seconds:.2f} s; "
            f"consumer VmHWM {result['rss_mb']:.0f} MB",
            flush=True,
        )
        vacuum(self.url, BUSY_TABLES)
        return result

    def floor(self, pending_ids: list[int]) -> float:
        """The same row writes as Lote's batch, set-based, in one transaction on the minimal
        schema; returns its seconds."""
        params = {
            "ids": pending_ids,
            "batch": self.floor_batches + 1,
            "last": self.floor_last_number,
            "book": FLOOR_BOOK,
            "cae_prefix": f"{TYPE_DIGIT[INVOICE_B]}{FLOOR_POINT_OF_SALE:05d}",
            "issue": self.issue_date,
            "point_of_sale": FLOOR_POINT_OF_SALE,
            "document_type": INVOICE_B,
        }
        started = time.perf_counter()
        with self.engine.begin() as conn:
            counts = [conn.execute(text(sql), params).rowcount for sql in FLOOR_STATEMENTS[:3]]
            conn.execute(text(FLOOR_STATEMENTS[3]), params)
        seconds = time.perf_counter() - started
        if counts != [len(pending_ids)] * 3:
            raise SystemExit(f"Floor broken: claimed, invoiced, marked {counts}")
        self.floor_last_number += len(pending_ids)
        self.floor_batches += 1
        return seconds

    def authority_alone(self, size: int) -> float:
        """The simulated authority's own share: ``authorize`` called for ``size`` vouchers, 250 a
        call, on a point of sale no book of Lote's uses; returns the seconds of the calls."""
        authority = SimulatedAuthority(self.url)
        last = authority.last_authorized(AUTHORITY_ALONE_POINT_OF_SALE, INVOICE_B)
        amount, net = Decimal("1210.00"), Decimal("1000.00")
        requests = []
        for first in range(last + 1, last + size + 1, MAX_INVOICES_PER_CALL):
            numbers = range(first, min(first + MAX_INVOICES_PER_CALL, last + size + 1))
            details = tuple(
                VoucherDetail(
                    doc_tipo=99,
                    doc_nro=0,
                    cbte_desde=number,
                    cbte_hasta=number,
                    cbte_fch=self.issue_date,
                    imp_total=amount,
                    imp_neto=net,
                    imp_iva=amount - net,
                    imp_op_ex=Decimal("0.00"),
                    fch_serv_desde=self.issue_date - timedelta(days=15),
                    fch_serv_hasta=self.issue_date - timedelta(days=15),
                    fch_vto_pago=self.issue_date + timedelta(days=30),
                    condicion_iva_receptor_id=5,
                    iva=(VatLine(VAT_RATE_IDS["21"], net, amount - net),),
                )
                for number in numbers
            )
            requests.append(AuthorizationRequest(AUTHORITY_ALONE_POINT_OF_SALE, INVOICE_B, details))
        started = time.perf_counter()
        for request in requests:
            answer = authority.authorize(request)
            if answer.resultado != "A":
                raise SystemExit(f"The simulated authority refused the vouchers: {answer}")
        return time.perf_counter() - started

    # 2. Latency ------------------------------------------------------------------------------

    def with_latency(self, size: int, runs: int) -> list[dict]:
        results = []
        for number in range(runs):
            result = self.lote([(POINTS_OF_SALE[0], self.free_pendings(size))])
            print(
                f"  N={size:,} run {number + 1}/{runs}: POST->PROCESSED {result['wall']:.2f} s "
                f"(POST {result['post']:.2f} s, {result['progress_seen']} progress values seen)",
                flush=True,
            )
            vacuum(self.url, BUSY_TABLES)
            results.append(result)
        return results

    # 3. Books in parallel --------------------------------------------------------------------

    def in_parallel(self, size: int, runs: int) -> list[dict]:
        results = []
        for number in range(runs):
            alone_ids = self.free_pendings(size)
            together_ids = self.free_pendings(2 * size, after=alone_ids[-1])
            batches = list(
                zip(POINTS_OF_SALE, (together_ids[:size], together_ids[size:]), strict=True)
            )
            if number % 2 == 0:
                alone = self.lote([(POINTS_OF_SALE[0], alone_ids)])
                vacuum(self.url, BUSY_TABLES)
                together = self.lote(batches)
            else:
                together = self.lote(batches)
                vacuum(self.url, BUSY_TABLES)
                alone = self.lote([(POINTS_OF_SALE[0], alone_ids)])
            result = {
                "alone": alone["wall"],
                "together": together["wall"],
                "ratio": together["wall"] / alone["wall"],
            }
            print(
                f"  run {number + 1}/{runs}: one batch of {size:,} alone {alone['wall']:.2f} s; "
                f"two together (points of sale {POINTS_OF_SALE[0]} and {POINTS_OF_SALE[1]}) "
                f"{together['wall']:.2f} s; ratio {result['ratio']:.2f}",
                flush=True,
            )
            vacuum(self.url, BUSY_TABLES)
            results.append(result)
        return results

    # Lote's batches ---------------------------------------------------------------------------

    def free_pendings(self, size: int, after: int = 0) -> list[int]:
        with self.engine.connect() as conn:
            ids = list(
                conn.execute(
                    text(
                        "SELECT id FROM billing_pendings WHERE status = 'PENDING' "
                        "AND batch_id IS NULL AND id > :after ORDER BY id LIMIT :n"
                    ),
                    {"n": size, "after": after},
                ).scalars()
            )
        if len(ids) < size:
            raise SystemExit(f"Only {len(ids)} free pendings for a batch of {size}")
        return ids

    def lote(self, batches: list[tuple[int, list[int]]]) -> dict:
        """POSTs the batches together (point of sale, pending ids), polls them until every one
        is PROCESSED, and checks each; the wall time runs from the first POST to the last
        PROCESSED."""
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=len(batches)) as pool:
            posts = list(pool.map(lambda batch: self._post(*batch), batches))
        batch_ids = [batch_id for batch_id, _ in posts]
        progress_seen = set()
        poll = text(
            "SELECT id, status, progress, error_message FROM billing_batches WHERE id = ANY(:ids)"
        )
        with self.engine.connect() as conn:
            while True:
                rows = conn.execute(poll, {"ids": batch_ids}).all()
                conn.rollback()
                for row in rows:
                    if row.status == "ERROR":
                        raise SystemExit(f"Batch {row.id} failed: {row.error_message}")
                    if row.status == "IN_PROCESS":
                        progress_seen.add((row.id, row.progress))
                if all(row.status == "PROCESSED" for row in rows):
                    break
                if time.perf_counter() - started > BATCH_TIMEOUT_SECONDS:
                    raise SystemExit(f"Batches {batch_ids} not PROCESSED after 30 minutes")
                time.sleep(POLL_SECONDS)
        wall = time.perf_counter() - started
        with self.engine.connect() as conn:
            processing = conn.execute(
                text(
                    "SELECT max(EXTRACT(EPOCH FROM processing_completed_at "
                    "- processing_started_at)) FROM billing_batches WHERE id = ANY(:ids)"
                ),
                {"ids": batch_ids},
            ).scalar()
            for (_, pending_ids), batch_id in zip(batches, batch_ids, strict=True):
                _check_invariants(conn, batch_id, pending_ids)
        post = max(seconds for _, seconds in posts)
        return {
            "batch_ids": batch_ids,
            "wall": wall,
            "post": post,
            "processing": float(processing),
            # From the POST's answer to a worker's claim, for one batch alone.
            "queued": wall - post - float(processing),
            "progress_seen": len(progress_seen),
        }

    def _post(self, point_of_sale: int, pending_ids: list[int]) -> tuple[int, float]:
        started = time.perf_counter()
        status, body = self.web.request(
            "POST",
            "/api/billing-batches",
            {
                "issueDate": self.issue_date.isoformat(),
                "pointOfSale": point_of_sale,
                "pendingIds": pending_ids,
            },
            self.token,
        )
        seconds = time.perf_counter() - started
        if status != 201:
            raise SystemExit(f"POST /api/billing-batches answered {status}: {str(body)[:500]}")
        return body["batch"]["id"], seconds


def _check_invariants(conn, batch_id: int, pending_ids: list[int]) -> None:
    """The batch obeys the rules: PROCESSED with one invoice per pending, each pending and its
    service INVOICED and invoiced once, and on each of its books the numbers gapless from the
    book's first to its counter, which equals the authority's last number."""
    size = len(pending_ids)
    batch = conn.execute(
        text(
            "SELECT status, total_invoices, rejected_count, "
            "(SELECT count(*) FROM invoices WHERE batch_id = :id) AS invoices "
            "FROM billing_batches WHERE id = :id"
        ),
        {"id": batch_id},
    ).one()
    invoiced = conn.execute(
        text(
            "SELECT count(*) FILTER (WHERE p.status = 'INVOICED' AND s.status = 'INVOICED' "
            "AND p.batch_id = :id) AS invoiced, count(i.id) AS invoices, "
            "count(DISTINCT i.pending_id) AS distinct_pendings "
            "FROM billing_pendings p JOIN services s ON s.id = p.service_id "
            "LEFT JOIN invoices i ON i.pending_id = p.id WHERE p.id = ANY(:ids)"
        ),
        {"id": batch_id, "ids": pending_ids},
    ).one()
    books = conn.execute(
        text(
            "SELECT r.code, r.last_number, coalesce(r.adopted_number, 0) AS adopted, "
            "(SELECT count(*) FROM invoices i WHERE i.receipt_book = r.code) AS n, "
            "(SELECT min(sequence_number) FROM invoices i WHERE i.receipt_book = r.code) AS low, "
            "(SELECT max(sequence_number) FROM invoices i WHERE i.receipt_book = r.code) AS high, "
            "(SELECT coalesce(max(v.cbte_hasta), 0) FROM authority_runs v "
            " WHERE v.pto_vta = r.point_of_sale AND v.cbte_tipo = r.document_type) AS authority, "
            "(SELECT count(*) FROM invoices i WHERE i.batch_id = :id "
            " AND i.receipt_book = r.code) AS batch_n, "
            "b.first_number, b.last_number AS batch_last "
            "FROM batch_books b JOIN receipt_books r ON r.code = b.receipt_book "
            "WHERE b.batch_id = :id"
        ),
        {"id": batch_id},
    ).all()
    problems = []
    if batch.status != "PROCESSED" or not (batch.total_invoices == batch.invoices == size):
        problems.append(f"batch {batch}")
    if batch.rejected_count:
        problems.append(f"{batch.rejected_count} vouchers rejected")
    if not (invoiced.invoiced == invoiced.invoices == invoiced.distinct_pendings == size):
        problems.append(f"pendings {invoiced}")
    for book in books:
        if not (
            book.n == book.high - book.adopted == book.last_number - book.adopted
            and book.low == book.adopted + 1
            and book.authority == book.last_number
        ):
            problems.append(f"book {book.code} {book}")
        if book.batch_n and book.batch_last - book.first_number + 1 != book.batch_n:
            problems.append(f"batch's numbers on {book.code} not contiguous {book}")
    if sum(book.batch_n for book in books) != size:
        problems.append(f"books of the batch {books}")
    if problems:
        raise SystemExit(f"Invariant broken in batch {batch_id}: " + "; ".join(problems))


def _report(zero: dict, latency: list[dict], parallel: list[dict], args, runs: int) -> None:
    print(f"\nMedians over {runs} run(s); each ratio is measured within its run.")
    print(
        "\n1. Zero latency: POST -> PROCESSED beside the floor (the same row writes, set-based, "
        "one transaction, minimal schema)\n"
    )
    print(
        f"{'N':>8} {'Lote':>9} {'floor':>8} {'Lote/floor':>11} {'POST':>8} "
        f"{'claim->PROCESSED':>17} {'authority alone':>16} {'consumer VmHWM':>15}"
    )
    for size, rows in zero.items():
        print(
            f"{size:>8,} {median([r['wall'] for r in rows]):>7.2f} s "
            f"{median([r['floor'] for r in rows]):>6.2f} s "
            f"{median([r['ratio'] for r in rows]):>10.2f}x "
            f"{median([r['post'] for r in rows]):>6.2f} s "
            f"{median([r['processing'] for r in rows]):>15.2f} s "
            f"{median([r['authority'] for r in rows]):>14.2f} s "
            f"{max(r['rss_mb'] for r in rows):>12.0f} MB"
        )
    print("   targets: Lote/floor <= 3; consumer VmHWM < 250 MB at 100,000")

    size, waits_ms = args.latency_size, args.latency_ms
    t_latency = median([r["wall"] for r in latency])
    waits = size / MAX_INVOICES_PER_CALL * waits_ms / 1000
    t0 = median([r["wall"] for r in zero[size]])
    print(
        f"\n2. Latency L = {waits_ms} ms per call, N = {size:,}:\n"
        f"   T(L) {t_latency:.2f} s; waits (N / {MAX_INVOICES_PER_CALL}) x L {waits:.2f} s; "
        f"T(L) - waits {t_latency - waits:.2f} s beside T0 / 2 {t0 / 2:.2f} s "
        f"(T0 {t0:.2f} s; target: T(L) - waits <= T0 / 2)"
    )
    print(
        f"\n3. Books in parallel, L = {waits_ms} ms, consumer with {CONSUMER_WORKERS} threads, "
        f"batches of {args.parallel_size:,} on points of sale {POINTS_OF_SALE[0]} and "
        f"{POINTS_OF_SALE[1]}:\n"
        f"   one alone {median([r['alone'] for r in parallel]):.2f} s; two together "
        f"{median([r['together'] for r in parallel]):.2f} s; ratio "
        f"{median([r['ratio'] for r in parallel]):.2f} (target <= 1.2)"
    )
    print(
        "\nEvery Lote batch was checked after its run: PROCESSED, one invoice per pending, each "
        "pending and its service INVOICED and invoiced once, numbers gapless on each book, "
        "every book's counter equal to the authority's."
    )


def _flush_queue(redis_url: str) -> None:
    """Empties this benchmark's queue (its own Redis database), before and after."""
    from huey import RedisHuey

    RedisHuey("lote", url=redis_url).flush()


def _refuse_a_shared_queue(redis_url: str) -> None:
    """Stops before anything starts when another process is connected to the queue's Redis
    database. A consumer there (another benchmark's, or one left running) takes this run's
    tasks; its own database has no such batch, so it drops them, and each batch waits for the
    reaper to queue it again, a minute or more per theft."""
    import redis

    client = redis.Redis.from_url(redis_url)
    database = client.connection_pool.connection_kwargs.get("db", 0)
    own = client.client_id()
    others = [
        f"{peer['addr']} ({peer['cmd']})"
        for peer in client.client_list()
        if int(peer["db"]) == database and int(peer["id"]) != own
    ]
    client.close()
    if others:
        raise SystemExit(
            f"Another process is connected to the queue {redis_url}: {', '.join(others)}. "
            "Stop it (a consumer left running would take this benchmark's tasks) or pass "
            "another --redis-url."
        )


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
