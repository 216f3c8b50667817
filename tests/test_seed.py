"""``flask seed`` loads the demo whatever the fault knobs say: what the simulated tax authority
or ERP refuses is reported, the rest is seeded, and the command succeeds."""

from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import BatchStatus, BillingBatch, ErpSync, Service, User


def test_the_demo_seeds_with_a_failing_tax_authority_and_erp(make_app):
    app = make_app(CAE_FAILURE_RATE=1.0, ERP_FAILURE_RATE=1.0)
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["seed"])

        assert result.exit_code == 0, result.output
        assert result.exception is None
        statuses = db.session.scalars(select(BillingBatch.status).order_by(BillingBatch.id)).all()
        assert statuses == [BatchStatus.ERROR] * 3
        for batch_id in (1, 2, 3):
            assert f"Not seeded: batch {batch_id} could not be invoiced" in result.output
        assert "Not seeded: an ERP delivery" in result.output
        assert "Seeded demo data." in result.output
        assert db.session.scalar(select(func.count()).select_from(Service)) == 50
        assert db.session.scalar(select(func.count()).select_from(ErpSync)) == 0
        assert {u for u in db.session.scalars(select(User.username))} >= {"admin", "clerk"}


def test_the_demo_seeds_its_erp_delivery_with_a_failing_erp(make_app):
    app = make_app(ERP_FAILURE_RATE=1.0)
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["seed"])

        assert result.exit_code == 0, result.output
        assert "Not seeded" not in result.output
        batches = db.session.execute(
            select(BillingBatch.kind, BillingBatch.status).order_by(BillingBatch.id)
        ).all()
        # Three batches of invoices, and the batch of the demo's credit note.
        assert batches == [("invoices", BatchStatus.PROCESSED)] * 3 + [
            ("notes", BatchStatus.PROCESSED)
        ]
        assert db.session.scalar(select(func.count()).select_from(ErpSync)) == 1
