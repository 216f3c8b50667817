"""List totals and deep pages: the status counts the triggers keep always equal the rows counted,
whoever writes; pages past the middle, read from the oldest end, hold the same rows as pages
counted from the newest end."""

import threading
from datetime import date
from decimal import Decimal

import psycopg
import pytest
from sqlalchemy import func, select, text

from tests.conftest import TEST_DATABASE_URL, assert_kept_totals_match_the_rows
from webapp.billing import pendings, services, status_counts
from webapp.extensions import db
from webapp.models import (
    BillingPending,
    PendingStatus,
    Service,
    ServiceStatus,
    StatusCount,
)

COUNTED = ((Service, ServiceStatus), (BillingPending, PendingStatus))


def assert_counts_match_the_rows() -> None:
    """The kept counts as the lists read them equal the rows counted."""
    assert_kept_totals_match_the_rows()
    for model, statuses in COUNTED:
        counted = dict.fromkeys(statuses, 0)
        counted.update(
            db.session.execute(select(model.status, func.count()).group_by(model.status)).all()
        )
        assert status_counts.by_status(model, statuses) == counted
        assert status_counts.count(model) == sum(counted.values())


def test_counts_follow_every_status_change(app, factory):
    assert_counts_match_the_rows()
    created = [factory.service(customer_id=1001 + n % 3) for n in range(6)]
    assert_counts_match_the_rows()
    services.update_service("tests", created[0].id, description="Flete refrigerado")
    services.delete_service("tests", created[1].id)
    assert_counts_match_the_rows()
    sent = services.send_to_billing("tests", [s.id for s in created[2:]])
    assert status_counts.count(BillingPending, PendingStatus.PENDING) == 4
    assert status_counts.count(Service, ServiceStatus.SENT_TO_BILL) == 4
    pendings.cancel_pending("tests", sent[0].id)
    assert_counts_match_the_rows()
    factory.batch(pendings=sent[1:3])
    assert status_counts.count(BillingPending, PendingStatus.INVOICED) == 2
    assert status_counts.count(Service, ServiceStatus.INVOICED) == 2
    assert_counts_match_the_rows()


def test_counts_follow_set_based_writes(app, factory):
    from tests.test_volume import volume

    volume(app, 3000, 1200, 500)
    factory.bulk_pendings(250)
    assert status_counts.count(Service) == 3250
    assert status_counts.count(BillingPending, PendingStatus.INVOICED) == 500
    assert_counts_match_the_rows()
    db.session.execute(
        text(
            "UPDATE billing_pendings SET status = 'CANCELLED' "
            "WHERE status = 'PENDING' AND id % 2 = 0"
        )
    )
    db.session.execute(
        text(
            "DELETE FROM services WHERE status = 'CREATED' AND id % 3 = 0 "
            "AND id NOT IN (SELECT service_id FROM billing_pendings)"
        )
    )
    db.session.commit()
    assert_counts_match_the_rows()


def test_a_rolled_back_write_leaves_the_counts(app, factory):
    factory.service()
    db.session.add(Service(**_service_fields()))
    db.session.flush()
    assert status_counts.count(Service) == 2
    db.session.rollback()
    assert status_counts.count(Service) == 1
    assert_counts_match_the_rows()


@pytest.mark.postgres
def test_truncate_clears_the_counts(app, factory):
    factory.pendings(3)
    db.session.execute(text("TRUNCATE services CASCADE"))
    db.session.commit()
    assert status_counts.count(Service) == 0
    assert status_counts.count(BillingPending) == 0
    factory.pendings(2)
    assert_counts_match_the_rows()


@pytest.mark.postgres
def test_compaction_folds_the_deltas_into_one_row_per_status(app, factory):
    for _ in range(4):
        factory.pendings(2)
    before = {model: status_counts.by_status(model, statuses) for model, statuses in COUNTED}
    assert db.session.scalar(select(func.count()).select_from(StatusCount)) > 4
    status_counts.compact()
    rows = db.session.execute(select(StatusCount.table_name, StatusCount.status)).all()
    assert sorted(rows) == sorted([("services", "SENT_TO_BILL"), ("billing_pendings", "PENDING")])
    after = {model: status_counts.by_status(model, statuses) for model, statuses in COUNTED}
    assert after == before
    assert_counts_match_the_rows()


@pytest.mark.postgres
def test_writers_do_not_wait_for_each_other_on_the_counts(app, factory):
    """A transaction that moved a service from CREATED to SENT_TO_BILL and has not committed yet
    holds no lock that a second writer making the same move needs; a compaction meanwhile keeps
    the open transaction's delta."""
    first, second = factory.service(), factory.service()
    url = TEST_DATABASE_URL.replace("postgresql+psycopg://", "postgresql://")
    move = "UPDATE services SET status = 'SENT_TO_BILL' WHERE id = %s"
    with psycopg.connect(url) as open_writer, psycopg.connect(url) as second_writer:
        open_writer.execute(move, (first.id,))
        second_writer.execute("SET lock_timeout = '2s'")
        second_writer.execute(move, (second.id,))
        second_writer.commit()
        compaction = threading.Thread(target=_compact, args=(app,))
        compaction.start()
        compaction.join(timeout=10)
        assert not compaction.is_alive(), "the compaction waited for an open writer"
        assert status_counts.count(Service, ServiceStatus.SENT_TO_BILL) == 1
        open_writer.commit()
    assert status_counts.count(Service, ServiceStatus.CREATED) == 0
    assert status_counts.count(Service, ServiceStatus.SENT_TO_BILL) == 2
    assert_counts_match_the_rows()


@pytest.mark.postgres
def test_recount_replaces_counts_that_a_load_without_triggers_left_wrong(app, factory):
    factory.pendings(3)
    db.session.execute(text("SET session_replication_role = replica"))
    db.session.execute(text("UPDATE billing_pendings SET status = 'CANCELLED'"))
    db.session.execute(text("SET session_replication_role = DEFAULT"))
    db.session.commit()
    assert status_counts.count(BillingPending, PendingStatus.CANCELLED) == 0
    result = app.test_cli_runner().invoke(args=["recount"])
    assert result.exit_code == 0, result.output
    assert status_counts.count(BillingPending, PendingStatus.CANCELLED) == 3
    assert_counts_match_the_rows()


def _compact(app) -> None:
    with app.app_context():
        status_counts.compact()
        db.session.remove()


def _service_fields() -> dict:
    return {
        "service_date": date(2026, 1, 5),
        "customer_id": 1001,
        "amount": Decimal("10.00"),
        "status": ServiceStatus.CREATED,
    }


@pytest.mark.parametrize("query", ["", "status=SENT_TO_BILL", "customerId=1002"])
def test_every_page_from_either_end_holds_the_rows_in_order(client, factory, token, query):
    headers = token()
    made = [factory.service(customer_id=1001 + n % 2) for n in range(47)]
    services.send_to_billing("tests", [s.id for s in made[:31]])
    expected = [
        s.id
        for s in reversed(made)
        if not query
        or (query.startswith("status") and s.id <= made[30].id)
        or (query.startswith("customer") and s.customer_id == 1002)
    ]
    for limit in (1, 7, 10, 100):
        seen, page = [], 1
        while True:
            body = client.get(
                f"/api/services?limit={limit}&page={page}&{query}", headers=headers
            ).get_json()
            assert body["total"] == len(expected)
            assert len(body["data"]) == min(limit, max(len(expected) - (page - 1) * limit, 0))
            seen += [row["id"] for row in body["data"]]
            assert body["hasNext"] == (page < body["totalPages"])
            assert body["nextAfter"] == (seen[-1] if body["hasNext"] else None)
            if page >= body["totalPages"]:
                break
            page += 1
        assert seen == expected, (limit, query)
        backwards = []
        for page in range(body["totalPages"], 0, -1):
            body = client.get(
                f"/api/services?limit={limit}&page={page}&{query}", headers=headers
            ).get_json()
            backwards = [row["id"] for row in body["data"]] + backwards
        assert backwards == expected, (limit, query)
    beyond = client.get(f"/api/services?limit=10&page=9&{query}", headers=headers).get_json()
    assert beyond["data"] == [] and beyond["total"] == len(expected)


def test_pages_of_the_pendings_and_invoices_by_number_match_the_cursor(client, factory, token):
    headers = token()
    made = factory.pendings(25)
    factory.batch(pendings=made[:15])
    for path in ("/api/billing-pendings", "/api/invoices"):
        everything = client.get(f"{path}?limit=100", headers=headers).get_json()
        ids = [row["id"] for row in everything["data"]]
        assert everything["total"] == len(ids) > 8
        by_cursor, after = [], None
        while True:
            url = f"{path}?limit=4" + (f"&after={after}" if after else "")
            body = client.get(url, headers=headers).get_json()
            by_cursor += [row["id"] for row in body["data"]]
            after = body["nextAfter"]
            if not after:
                break
        by_number = []
        for page in range(1, -(-len(ids) // 4) + 1):
            body = client.get(f"{path}?limit=4&page={page}", headers=headers).get_json()
            by_number += [row["id"] for row in body["data"]]
            assert body["hasNext"] == (len(by_number) < len(ids))
        assert by_cursor == by_number == ids


def test_recount_rebuilds_counts_and_daily_totals_left_wrong(app, factory):
    factory.batch(pendings=factory.pendings(3))
    factory.pendings(2, customer_id=1002)
    db.session.execute(text("UPDATE invoice_daily_totals SET invoice_count = invoice_count + 5"))
    db.session.execute(text("DELETE FROM status_counts WHERE status = 'PENDING'"))
    db.session.commit()
    with pytest.raises(AssertionError):
        assert_kept_totals_match_the_rows()
    result = app.test_cli_runner().invoke(args=["recount"])
    assert result.exit_code == 0, result.output
    assert status_counts.count(BillingPending, PendingStatus.PENDING) == 2
    assert_counts_match_the_rows()
