"""Requests that race on the same rows, with real threads, on PostgreSQL and on SQLite alike: of
a check and the write it allows, no other writer gets in between; the one that loses is a 409.

On SQLite the interleavings are forced: the first request is held right after the statement that
read the rows it checks, until every other request has run its own check or waits for the write
lock. Without that lock both would pass their checks and both would write."""

import random
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from sqlalchemy import event, func, select

from webapp.billing import clock
from webapp.extensions import db
from webapp.models import (
    AuditEvent,
    BillingBatch,
    BillingPending,
    Invoice,
    PendingStatus,
    ReceiptBook,
    Service,
    ServiceStatus,
)

WAIT = 30  # seconds: a bound that only a broken lock reaches, never a pause


def test_concurrent_batches_never_share_a_pending_nor_a_number(app, token, factory):
    headers = token("clerk")
    pending_ids = [p.id for p in factory.pendings(30)]
    issue_date = clock.today().isoformat()
    rng = random.Random(7)
    requests = [
        (
            "/api/billing-batches/sync" if n % 3 == 0 else "/api/billing-batches",
            rng.sample(pending_ids, 8),
        )
        for n in range(12)
    ]

    def submit(request):
        path, ids = request
        client = app.test_client()
        response = client.post(
            path,
            headers=headers,
            json={
                "issueDate": issue_date,
                "receiptBook": "A-0001",
                "pendingIds": ids,
            },
        )
        return ids, response.status_code, response.get_json()

    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(submit, requests))

    statuses = sorted({status for _, status, _ in results})
    assert set(statuses) <= {201, 409}, results
    accepted = [(ids, body) for ids, status, body in results if status == 201]
    refused = [body for _, status, body in results if status == 409]
    assert accepted and refused
    assert all("cannot be batched" in body["message"] for body in refused)

    db.session.rollback()
    invoiced = db.session.execute(
        select(Invoice.pending_id, func.count()).group_by(Invoice.pending_id)
    ).all()
    assert all(count == 1 for _, count in invoiced)
    expected = sorted(i for ids, _ in accepted for i in ids)
    assert sorted(pending for pending, _ in invoiced) == expected

    numbers = db.session.scalars(
        select(Invoice.sequence_number)
        .where(Invoice.receipt_book == "A-0001")
        .order_by(Invoice.sequence_number)
    ).all()
    assert numbers == list(range(1, len(expected) + 1))
    assert db.session.get(ReceiptBook, "A-0001").last_number == len(expected)
    unclaimed = db.session.scalar(
        select(func.count()).where(
            BillingPending.status == PendingStatus.PENDING, BillingPending.batch_id.is_(None)
        )
    )
    assert unclaimed == len(pending_ids) - len(expected)


class HeldAfterCheck:
    """Runs ``first`` and then ``others`` as requests on their own threads. ``first`` is held
    just after its first statement that reads ``table``, until each of ``others`` has read
    ``table`` too (the race) or waits for the lock that keeps it out: SQLite's write lock, or
    PostgreSQL's row locks; then it goes on."""

    def __init__(self, app, table: str):
        self.app, self.table = app, table
        self.checked = threading.Event()
        self.ready: dict[str, threading.Event] = {}
        self.local = threading.local()

    def run(self, first, *others):
        engine = db.engine
        engine.dispose()  # new connections, each traced from its start
        self.ready = {f"other-{n}": threading.Event() for n in range(len(others))}
        event.listen(engine, "connect", self._trace)
        event.listen(engine, "before_cursor_execute", self._before_statement)
        event.listen(engine, "after_cursor_execute", self._after_statement)
        results = {}

        def request(name, call):
            self.local.name = name
            try:
                results[name] = call(self.app.test_client())
            finally:
                if name in self.ready:
                    self.ready[name].set()

        try:
            threads = [threading.Thread(target=request, args=("first", first))]
            threads[0].start()
            assert self.checked.wait(WAIT), "the first request never read its rows"
            threads += [
                threading.Thread(target=request, args=(name, call))
                for name, call in zip(self.ready, others, strict=True)
            ]
            for thread in threads[1:]:
                thread.start()
            for thread in threads:
                thread.join(WAIT)
        finally:
            event.remove(engine, "connect", self._trace)
            event.remove(engine, "before_cursor_execute", self._before_statement)
            event.remove(engine, "after_cursor_execute", self._after_statement)
            engine.dispose()
        db.session.rollback()
        return results["first"], [results[name] for name in self.ready]

    def _reads_table(self, statement: str) -> bool:
        return statement.lstrip().upper().startswith("SELECT") and f"FROM {self.table}" in statement

    def _before_statement(self, conn, cursor, statement, parameters, context, executemany):
        # On PostgreSQL the other request's statement on the rows either waits for the first's
        # row locks or runs after its commit: either way it is no race.
        name = getattr(self.local, "name", None)
        if name in self.ready and conn.dialect.name == "postgresql" and self.table in statement:
            self.ready[name].set()

    def _after_statement(self, conn, cursor, statement, parameters, context, executemany):
        name = getattr(self.local, "name", None)
        if name == "first" and self._reads_table(statement) and not self.checked.is_set():
            self.checked.set()
            for ready in self.ready.values():
                assert ready.wait(WAIT), "another request neither read its rows nor waited"
        elif name in self.ready and self._reads_table(statement):
            self.ready[name].set()

    def _trace(self, dbapi_connection, connection_record):
        if isinstance(dbapi_connection, sqlite3.Connection):
            dbapi_connection.set_trace_callback(self._on_sqlite_statement)

    def _on_sqlite_statement(self, sql: str):
        # Called as SQLite starts a statement, before it waits for any lock.
        name = getattr(self.local, "name", None)
        if name in self.ready and sql.upper().startswith("BEGIN IMMEDIATE"):
            self.ready[name].set()


def call(method, path, headers, body=None):
    return lambda client: client.open(path, method=method, headers=headers, json=body)


def test_a_batch_cannot_claim_a_pending_being_cancelled(app, token, factory):
    headers = token("clerk")
    pending_id = factory.pendings(1)[0].id
    batch = {"issueDate": clock.today().isoformat(), "receiptBook": "A-0001"}
    cancel, (create,) = HeldAfterCheck(app, "billing_pendings").run(
        call("DELETE", f"/api/billing-pendings/{pending_id}", headers),
        call("POST", "/api/billing-batches", headers, {**batch, "pendingIds": [pending_id]}),
    )
    assert cancel.status_code == 200, cancel.get_json()
    assert create.status_code == 409, create.get_json()
    assert db.session.get(BillingPending, pending_id).status == PendingStatus.CANCELLED
    assert db.session.scalar(select(func.count()).select_from(BillingBatch)) == 0


def test_a_service_being_sent_to_billing_cannot_be_edited(app, token, factory):
    headers = token("clerk")
    service_id = factory.service(amount="1500.00").id
    send, (edit,) = HeldAfterCheck(app, "services").run(
        call("POST", "/api/services/send-to-billing", headers, {"serviceIds": [service_id]}),
        call("PATCH", f"/api/services/{service_id}", headers, {"amount": "2000.00"}),
    )
    assert send.status_code == 201, send.get_json()
    assert edit.status_code == 409, edit.get_json()
    pending = db.session.scalar(
        select(BillingPending).where(BillingPending.service_id == service_id)
    )
    assert pending.amount == db.session.get(Service, service_id).amount == Decimal("1500.00")


def test_a_service_being_sent_to_billing_cannot_be_deleted(app, token, factory):
    headers = token("clerk")
    service_id = factory.service().id
    send, (delete,) = HeldAfterCheck(app, "services").run(
        call("POST", "/api/services/send-to-billing", headers, {"serviceIds": [service_id]}),
        call("DELETE", f"/api/services/{service_id}", headers),
    )
    assert send.status_code == 201, send.get_json()
    assert delete.status_code == 409, delete.get_json()
    assert db.session.get(Service, service_id).status == ServiceStatus.SENT_TO_BILL


def test_of_four_cancels_of_one_pending_only_one_succeeds(app, token, factory):
    headers = token("clerk")
    pending = factory.pendings(1)[0]
    pending_id, service_id = pending.id, pending.service_id
    cancel = call("DELETE", f"/api/billing-pendings/{pending_id}", headers)
    first, others = HeldAfterCheck(app, "billing_pendings").run(cancel, cancel, cancel, cancel)
    assert first.status_code == 200, first.get_json()
    assert [r.status_code for r in others] == [409, 409, 409]
    assert db.session.get(Service, service_id).status == ServiceStatus.CREATED
    assert (
        db.session.scalar(
            select(func.count()).where(
                AuditEvent.entity_type == "pending", AuditEvent.action == "cancelled"
            )
        )
        == 1
    )


def test_on_sqlite_a_read_does_not_wait_for_an_open_writer(app, token, factory):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's single write lock")
    headers = token("clerk")
    factory.service()
    writer = sqlite3.connect(db.engine.url.database, isolation_level=None, timeout=0)
    try:
        writer.execute("BEGIN IMMEDIATE")
        listing = app.test_client().get("/api/services", headers=headers)
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert listing.status_code == 200
    assert listing.get_json()["total"] == 1
