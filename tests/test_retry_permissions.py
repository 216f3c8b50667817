"""Who may retry a failed batch (docs/rules.md rule 8): clerks and admins, through the pages and the
API; viewers change nothing."""

import pytest

from tests.test_security import bearer, sign_in
from webapp.models import BatchStatus


@pytest.fixture
def failed_batch(app, users, factory):
    """A batch the tax authority failed, with the authority answering again afterwards."""
    authority = app.extensions["lote.cae"]
    authority.failure_rate = 1.0
    batch = factory.batch()
    authority.failure_rate = 0.0
    assert status_of(batch.id) == BatchStatus.ERROR
    return batch


def status_of(batch_id: int) -> BatchStatus:
    from webapp.extensions import db
    from webapp.models import BillingBatch

    db.session.expire_all()
    return db.session.get(BillingBatch, batch_id).status


@pytest.mark.parametrize("role", ["clerk", "admin"])
def test_a_clerk_or_admin_retries_a_failed_batch_through_the_api(app, failed_batch, role):
    client = app.test_client()

    response = client.post(
        f"/api/billing-batches/{failed_batch.id}/retry", headers=bearer(client, role)
    )

    assert response.status_code == 200, response.get_json()
    assert status_of(failed_batch.id) == BatchStatus.PROCESSED


@pytest.mark.parametrize("role", ["clerk", "admin"])
def test_a_clerk_or_admin_retries_a_failed_batch_from_its_page(app, failed_batch, role):
    client = app.test_client()
    sign_in(client, role)
    assert f'action="/batches/{failed_batch.id}/retry"' in client.get(
        f"/batches/{failed_batch.id}"
    ).get_data(as_text=True)

    response = client.post(f"/batches/{failed_batch.id}/retry")

    assert response.status_code == 302
    assert status_of(failed_batch.id) == BatchStatus.PROCESSED


def test_a_viewer_cannot_retry_a_failed_batch_through_the_api_or_the_page(app, failed_batch):
    api, page = app.test_client(), app.test_client()
    sign_in(page, "viewer")

    refused_api = api.post(
        f"/api/billing-batches/{failed_batch.id}/retry", headers=bearer(api, "viewer")
    )
    refused_page = page.post(f"/batches/{failed_batch.id}/retry")

    assert refused_api.status_code == 403
    assert "viewer" in refused_api.get_json()["message"]
    assert refused_page.status_code == 403
    assert "/retry" not in page.get(f"/batches/{failed_batch.id}").get_data(as_text=True)
    assert status_of(failed_batch.id) == BatchStatus.ERROR
