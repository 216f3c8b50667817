"""Volume: the set-based seed, batches invoiced in chunks, lists paged at scale, and the
statistics' daily totals, each keeping the rules of docs/rules.md."""

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text

from tests.conftest import RecordingAuthority, assert_kept_totals_match_the_rows
from webapp import cli
from webapp.billing import batches, clock, invoices, invoicing, pendings, services
from webapp.billing.cae import MAX_INVOICES_PER_CALL
from webapp.extensions import db
from webapp.models import (
    AuthorityCall,
    BatchStatus,
    BillingBatch,
    BillingPending,
    Invoice,
    PendingStatus,
    ReceiptBook,
    Service,
    ServiceStatus,
)


def seed(app, *args: str):
    return app.test_cli_runner().invoke(args=["seed", *args])


def volume(app, services_count: int, pendings_count: int, invoices_count: int = 0) -> None:
    result = seed(
        app,
        "--services",
        str(services_count),
        "--pendings",
        str(pendings_count),
        "--invoices",
        str(invoices_count),
        "--customers",
        "7",
    )
    assert result.exit_code == 0, result.output


def pending_ids(status=PendingStatus.PENDING) -> list[int]:
    return list(
        db.session.scalars(
            select(BillingPending.id)
            .where(BillingPending.status == status)
            .order_by(BillingPending.id)
        )
    )


def assert_gapless_per_book() -> None:
    for book in db.session.scalars(select(ReceiptBook)):
        numbers = db.session.scalars(
            select(Invoice.sequence_number)
            .where(Invoice.receipt_book == book.code)
            .order_by(Invoice.sequence_number)
        ).all()
        assert numbers == list(range(1, book.last_number + 1)), book.code


# The volume seed -----------------------------------------------------------------------------


def test_volume_seed_loads_services_pendings_and_invoices_that_keep_every_rule(app, monkeypatch):
    monkeypatch.setattr(cli, "VOLUME_BATCH_SIZE", 40)  # three batches over both books
    volume(app, 300, 120, 100)

    statuses = dict(
        db.session.execute(select(Service.status, func.count()).group_by(Service.status)).all()
    )
    assert statuses == {
        ServiceStatus.CREATED: 180,
        ServiceStatus.SENT_TO_BILL: 20,
        ServiceStatus.INVOICED: 100,
    }
    pairs = db.session.execute(select(BillingPending, Service).join(Service)).all()
    assert len(pairs) == 120
    assert len({pending.service_id for pending, _ in pairs}) == 120
    for pending, service in pairs:
        assert (pending.customer_id, pending.service_date, pending.amount) == (
            service.customer_id,
            service.service_date,
            service.amount,
        )
        expected = {
            PendingStatus.PENDING: ServiceStatus.SENT_TO_BILL,
            PendingStatus.INVOICED: ServiceStatus.INVOICED,
        }[pending.status]
        assert service.status == expected
        assert pending.amount > 0 and pending.amount == pending.amount.quantize(Decimal("0.01"))
        assert 1001 <= pending.customer_id <= 1007

    invoiced = db.session.scalars(select(Invoice)).all()
    assert len(invoiced) == 100
    assert {i.pending_id for i in invoiced} == set(pending_ids(PendingStatus.INVOICED))
    assert len({i.cae for i in invoiced}) == 100
    assert all(i.net_amount + i.vat_amount == i.amount for i in invoiced)
    assert {i.receipt_book for i in invoiced} == set(cli.VOLUME_BOOKS)
    assert_gapless_per_book()
    assert_kept_totals_match_the_rows()
    assert db.session.scalar(select(func.count()).select_from(BillingBatch)) == 3


def test_volume_seed_adds_to_what_is_there(app):
    volume(app, 50, 10)
    volume(app, 50, 10, 5)
    assert db.session.scalar(select(func.count()).select_from(Service)) == 100
    assert len(pending_ids()) == 15
    assert len(pending_ids(PendingStatus.INVOICED)) == 5


@pytest.mark.parametrize(
    "args, message",
    [
        (["--pendings", "5"], "need --services"),
        (["--services", "5", "--pendings", "6"], "cannot exceed --services"),
        (["--services", "5", "--pendings", "3", "--invoices", "4"], "cannot exceed --pendings"),
    ],
)
def test_volume_seed_refuses_inconsistent_counts(app, args, message):
    result = seed(app, *args)
    assert result.exit_code != 0
    assert message in result.output
    assert db.session.scalar(select(func.count()).select_from(Service)) == 0


def test_plain_seed_still_loads_the_demo_once(app):
    assert seed(app).exit_code == 0
    demo = db.session.scalar(select(func.count()).select_from(Service))
    assert demo == 50  # 48 billed or billable, 2 of a customer left incomplete
    assert "nothing changed" in seed(app).output
    assert db.session.scalar(select(func.count()).select_from(Service)) == demo


# Batches in chunks ---------------------------------------------------------------------------


def test_a_batch_of_many_calls_is_numbered_in_pending_order_with_calls_of_at_most_250(app):
    authority = RecordingAuthority(app)
    volume(app, 700, 700)
    ids = pending_ids()
    amounts = dict(db.session.execute(select(BillingPending.id, BillingPending.amount)).all())

    batch = batches.create_batch("tests", clock.today(), "B-0001", ids)
    assert invoicing.process_batch(batch.id, final_attempt=True) == BatchStatus.PROCESSED

    assert authority.calls == [250, 250, 200]
    assert max(authority.calls) <= MAX_INVOICES_PER_CALL
    rows = db.session.execute(
        select(Invoice.pending_id, Invoice.sequence_number).order_by(Invoice.pending_id)
    ).all()
    assert [row.sequence_number for row in rows] == list(range(1, 701))
    assert [row.pending_id for row in rows] == ids
    db.session.refresh(batch)
    assert batch.total_invoices == 700
    assert batch.total_amount == sum(amounts.values())
    assert (batch.first_invoice_number, batch.last_invoice_number) == (
        "B-0001-00000001",
        "B-0001-00000700",
    )
    assert batch.progress == 100
    assert db.session.get(ReceiptBook, "B-0001").last_number == 700
    assert not pending_ids()
    assert (
        db.session.scalar(select(func.count()).where(Service.status == ServiceStatus.INVOICED))
        == 700
    )
    assert_kept_totals_match_the_rows()


@pytest.mark.postgres
def test_a_batch_brings_the_statistics_it_reads_through_up_to_date(app):
    """The planner reads the batch's pendings call by call through the statistics of the
    pendings and the customers: where either changed more than autovacuum lets change before it
    analyzes again (50 rows and a tenth), the batch has it analyzed first."""

    def claimed_share_known_to_the_planner() -> float:
        return 1 - db.session.scalar(
            text(
                "SELECT null_frac FROM pg_stats "
                "WHERE tablename = 'billing_pendings' AND attname = 'batch_id'"
            )
        )

    volume(app, 700, 700)  # analyzed by the seed: no pending in a batch yet
    ids = pending_ids()
    assert claimed_share_known_to_the_planner() == 0

    small = batches.create_batch("tests", clock.today(), "B-0001", ids[:100])  # under 50 + 70
    assert invoicing.process_batch(small.id, final_attempt=True) == BatchStatus.PROCESSED
    assert claimed_share_known_to_the_planner() == 0

    large = batches.create_batch("tests", clock.today(), "B-0001", ids[100:250])
    assert invoicing.process_batch(large.id, final_attempt=True) == BatchStatus.PROCESSED
    assert claimed_share_known_to_the_planner() == pytest.approx(250 / 700, abs=0.005)

    def customers_known_to_the_planner() -> float:
        return db.session.scalar(
            text("SELECT reltuples FROM pg_class WHERE oid = 'customers'::regclass")
        )

    before = customers_known_to_the_planner()
    # 200 customers imported since the seed analyzed the table, and not analyzed since.
    for statement in (
        "CREATE TEMP TABLE imported AS SELECT customers.* FROM customers, generate_series(1, 200)"
        " LIMIT 200",
        "CREATE TEMP SEQUENCE imported_ids START 1000000",
        "UPDATE imported SET id = nextval('imported_ids')",
        "INSERT INTO customers SELECT * FROM imported",
        "SELECT pg_stat_force_next_flush()",
    ):
        db.session.execute(text(statement))
    db.session.commit()
    assert customers_known_to_the_planner() == before

    few = batches.create_batch("tests", clock.today(), "B-0001", ids[250:260])
    assert invoicing.process_batch(few.id, final_attempt=True) == BatchStatus.PROCESSED
    assert customers_known_to_the_planner() == before + 200
    assert claimed_share_known_to_the_planner() == pytest.approx(250 / 700, abs=0.005)


def test_a_call_that_failed_unanswered_is_asked_about_and_sent_again(app):
    """Two calls answered, the third unanswered before the authority acted: the answered ones
    stay invoiced, the third's numbers stay reserved until the next attempt asks the authority,
    finds them unused, and sends them again: numbers gapless, each pending invoiced once."""
    volume(app, 360, 360)
    first = batches.create_batch("tests", clock.today(), "B-0001", pending_ids()[:10])
    invoicing.process_batch(first.id, final_attempt=True)
    authority = RecordingAuthority(app, fail_on={2})
    ids = pending_ids()

    batch = batches.create_batch("tests", clock.today(), "B-0001", ids)
    with pytest.raises(invoicing.StartAgain):
        invoicing.process_batch(batch.id, final_attempt=True)

    db.session.refresh(batch)
    assert batch.status == BatchStatus.PENDING_PROCESSING
    assert "tax authority" in batch.error_message
    numbers = db.session.scalars(
        select(Invoice.sequence_number).where(Invoice.batch_id == batch.id)
    ).all()
    assert sorted(numbers) == list(range(11, 261))
    assert db.session.get(ReceiptBook, "B-0001").last_number == 260
    (call,) = db.session.scalars(select(AuthorityCall)).all()
    assert (call.first_number, call.last_number) == (261, 360)

    authority.fail_on.clear()
    assert invoicing.process_batch(batch.id, final_attempt=True) == BatchStatus.PROCESSED
    assert authority.calls == [250, 100, 100]
    assert db.session.scalars(select(AuthorityCall)).all() == []
    numbers = db.session.scalars(
        select(Invoice.sequence_number).where(Invoice.receipt_book == "B-0001")
    ).all()
    assert sorted(numbers) == list(range(1, 361))
    assert authority.last_authorized(1, 6) == 360
    assert not pending_ids()
    assert_kept_totals_match_the_rows()


def test_an_answer_lost_after_authorizing_is_found_by_asking_the_authority(app):
    volume(app, 300, 300)
    ids = pending_ids()
    authority = app.extensions["lote.cae"]
    authority.lost_answer_rate = 1.0
    batch = batches.create_batch("tests", clock.today(), "B-0001", ids)
    assert invoicing.process_batch(batch.id, final_attempt=True) == BatchStatus.ERROR
    assert db.session.scalar(select(func.count()).select_from(Invoice)) == 0
    assert authority.last_authorized(1, 6) == 250  # authorized there, unknown here

    authority.lost_answer_rate = 0.0
    batches.retry_batch("tests", batch.id)
    db.session.refresh(batch)
    assert batch.status == BatchStatus.PROCESSED
    invoices = db.session.scalars(select(Invoice).order_by(Invoice.sequence_number)).all()
    assert [i.sequence_number for i in invoices] == list(range(1, 301))
    stored = authority.lookup(1, 6, 17)
    assert (invoices[16].cae, invoices[16].cae_due_date) == (stored.cae, stored.cae_fch_vto)
    assert db.session.get(ReceiptBook, "B-0001").last_number == 300
    assert_kept_totals_match_the_rows()


# Big batches through the API -----------------------------------------------------------------


def test_the_api_takes_100000_pending_ids_in_one_request_and_refuses_more_with_413(
    client, token, live_queue
):
    headers = token("clerk")
    volume(client.application, 100_000, 100_000)
    ids = pending_ids()
    body = {"issueDate": clock.today().isoformat(), "receiptBook": "B-0001"}

    refused = client.post(
        "/api/billing-batches", headers=headers, json={**body, "pendingIds": [*ids, 10**9]}
    )
    assert refused.status_code == 413, refused.get_json()
    assert refused.get_json()["message"] == (
        "A batch holds at most 100000 pendings; 100001 were given"
    )
    assert db.session.scalar(select(func.count()).select_from(BillingBatch)) == 0

    created = client.post("/api/billing-batches", headers=headers, json={**body, "pendingIds": ids})
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["summary"]["totalPendings"] == 100_000
    db.session.rollback()
    assert (
        db.session.scalar(
            select(func.count()).where(BillingPending.batch_id == created.get_json()["batch"]["id"])
        )
        == 100_000
    )


# Lists at scale ------------------------------------------------------------------------------


@pytest.fixture
def twelve_services(app):
    volume(app, 12, 4)
    return list(db.session.scalars(select(Service.id).order_by(Service.id.desc())))


def test_every_page_of_a_list_carries_its_exact_total(twelve_services):
    everything = services.ServiceFilters()

    first = services.list_services(everything, 1, 5)
    assert [s.id for s in first.items] == twelve_services[:5]
    assert (first.total, first.has_next, first.total_pages) == (12, True, 3)

    last = services.list_services(everything, 3, 5)
    assert [s.id for s in last.items] == twelve_services[10:]
    assert (last.total, last.has_next) == (12, False)

    beyond = services.list_services(everything, 4, 5)
    assert (beyond.items, beyond.total) == ([], 12)

    few = services.list_services(services.ServiceFilters(status=ServiceStatus.SENT_TO_BILL), 1, 5)
    assert (few.total, few.has_next) == (4, False)


def test_the_available_count_leaves_out_claimed_pendings(app):
    volume(app, 20, 12)
    batches.create_batch("tests", clock.today(), "B-0001", pending_ids()[:4])
    filters = pendings.PendingFilters()
    assert pendings.count_available(filters) == 8
    assert len(pendings.available_pending_ids(filters)) == 8
    listed = pendings.list_pendings(pendings.PendingFilters(available_only=True), 1, 20)
    assert listed.total == 8


def test_keyset_pages_walk_a_filtered_list_newest_first_without_repeats(twelve_services):
    seen, after = [], None
    while True:
        page = services.list_services(
            services.ServiceFilters(status=ServiceStatus.CREATED), 1, 3, after=after
        )
        seen.extend(s.id for s in page.items)
        assert page.has_next == (page.next_after is not None)
        if not page.has_next:
            break
        after = page.next_after
    created = set(
        db.session.scalars(select(Service.id).where(Service.status == ServiceStatus.CREATED))
    )
    assert seen == [i for i in twelve_services if i in created]
    assert len(seen) == 8


def test_statistics_from_daily_totals_equal_those_from_the_invoices(app):
    volume(app, 90, 90)
    ids = pending_ids()
    today = clock.today()
    for book, days_ago, chunk in (
        ("B-0001", 3, ids[:30]),
        ("B-0002", 2, ids[30:50]),
        ("B-0001", 0, ids[50:]),
    ):
        batch = batches.create_batch("tests", today - timedelta(days=days_ago), book, chunk)
        invoicing.process_batch(batch.id, final_attempt=True)
    customer = db.session.scalar(select(Invoice.customer_id).limit(1))
    for filters in (
        {},
        {"receipt_book": "b-0001"},
        {"customer_id": customer},
        {"date_from": today - timedelta(days=2), "date_to": today},
    ):
        from_totals = invoices.invoice_statistics(invoices.InvoiceFilters(**filters))
        # Any amount filter makes the statistics read the invoices themselves.
        from_invoices = invoices.invoice_statistics(
            invoices.InvoiceFilters(**filters, min_amount=Decimal("0.01"))
        )
        assert from_totals == from_invoices
        assert from_totals.total_invoices > 0
