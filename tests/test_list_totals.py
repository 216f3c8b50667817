"""List totals and deep pages: the status counts the triggers keep always equal the rows counted,
whoever writes; pages past the middle, read from the oldest end, hold the same rows as pages
counted from the newest end."""

import threading
from datetime import date
from decimal import Decimal

import psycopg
import pytest
from sqlalchemy import func, select, text

from tests.conftest import ON_POSTGRES, TEST_DATABASE_URL
from webapp.billing import pendings, services, status_counts
from webapp.extensions import db
from webapp.models import (
    BillingPending,
    PendingStatus,
    Service,
    ServiceStatus,
    StatusCount,
)

postgres_only = pytest.mark.skipif(not ON_POSTGRES, reason="PostgreSQL's statement triggers")
COUNTED = ((Service, ServiceStatus), (BillingPending, PendingStatus))


def counted_in_rows(model, statuses) -> dict:
    counts = dict.fromkeys(statuses, 0)
    counts.update(
        db.session.execute(select(model.status, func.count()).group_by(model.status)).all()
    )
    return counts


def assert_counts_match_the_rows() -> None:
    db.session.rollback()
    for model, statuses in COUNTED:
        assert status_counts.by_status(model, statuses) == counted_in_rows(model, statuses)
        assert status_counts.count(model) == db.session.scalar(
            select(func.count()).select_from(model)
        )


def test_counts_follow_every_status_change(app, factory):
    assert_counts_match_the_rows()
    created = [factory.service(customer_id=1001 + n % 3) for n in range(6)]
    assert_counts_match_the_rows()
    services.update_service("tests", created[0].id, description="Flete refrigerado")
    services.delete_service("tests", created[1].id)
    assert_counts_match_the_rows()
    sent = services.send_to_billing("tests", [s.id for s in created[2:]], limit=10)
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


@postgres_only
def test_truncate_clears_the_counts(app, factory):
    factory.pendings(3)
    db.session.execute(text("TRUNCATE services, billing_pendings CASCADE"))
    db.session.commit()
    assert status_counts.count(Service) == 0
    assert status_counts.count(BillingPending) == 0
    factory.pendings(2)
    assert_counts_match_the_rows()


@postgres_only
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


@postgres_only
def test_writers_do_not_wait_for_each_other_on_the_counts(app, factory):
    """A transaction that sent services to billing and has not committed yet holds no lock a
    second writer of the same statuses needs; a compaction meanwhile keeps its delta."""
    factory.service()
    url = TEST_DATABASE_URL.replace("postgresql+psycopg://", "postgresql://")
    insert = (
        "INSERT INTO services (service_date, customer_id, amount, description, status, "
        "created_at, updated_at) VALUES (current_date, 1001, 10, '', 'CREATED', now(), now())"
    )
    with psycopg.connect(url) as open_writer, psycopg.connect(url) as second_writer:
        open_writer.execute("UPDATE services SET status = 'SENT_TO_BILL'")
        open_writer.execute(insert)
        second_writer.execute("SET lock_timeout = '2s'")
        second_writer.execute("UPDATE services SET status = 'SENT_TO_BILL' WHERE false")
        second_writer.execute(insert)
        second_writer.commit()
        compaction = threading.Thread(target=_compact, args=(app,))
        compaction.start()
        compaction.join(timeout=10)
        assert not compaction.is_alive(), "the compaction waited for an open writer"
        open_writer.commit()
    assert status_counts.count(Service, ServiceStatus.CREATED) == 2
    assert status_counts.count(Service, ServiceStatus.SENT_TO_BILL) == 1
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
    services.send_to_billing("tests", [s.id for s in made[:31]], limit=47)
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
            if page >= body["totalPages"]:
                break
            page += 1
        assert seen == expected, (limit, query)
    beyond = client.get(f"/api/services?limit=10&page=9&{query}", headers=headers).get_json()
    assert beyond["data"] == [] and beyond["total"] == len(expected)


def test_a_deep_page_of_the_pendings_and_invoices_matches_the_cursor(client, factory, token):
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
            after = body.get("nextAfter")
            if not after:
                break
        last = client.get(f"{path}?limit=4&page={-(-len(ids) // 4)}", headers=headers)
        assert by_cursor == ids
        assert [row["id"] for row in last.get_json()["data"]] == ids[(len(ids) - 1) // 4 * 4 :]
