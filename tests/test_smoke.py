def test_seeded_flow_invoices_a_batch(factory, app):
    batch = factory.batch()
    from webapp.models import BatchStatus

    from webapp.extensions import db

    db.session.refresh(batch)
    assert batch.status == BatchStatus.PROCESSED
