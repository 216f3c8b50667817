"""What every page form shares: each error is said once, next to its field."""

from datetime import timedelta

from webapp.billing import clock


def test_the_batch_form_says_each_error_once_next_to_its_field(clerk, factory):
    pending = factory.pendings(1)[0]
    far = (clock.today() + timedelta(days=30)).isoformat()
    response = clerk.post(
        "/pendings/batch",
        data={"issueDate": far, "receiptBook": "A-0001", "scope": "selected", "ids": [pending.id]},
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert html.count("outside the fiscal window") == 1
    assert 'id="b-issueDate-error">must be within 10 days of today' in html
    assert "<p>Correct the marked fields.</p>" in html


def test_a_banner_that_adds_to_the_field_errors_is_kept(clerk, factory):
    pending = factory.pendings(1)[0]
    response = clerk.post(
        "/pendings/batch",
        data={
            "issueDate": clock.today().isoformat(),
            "receiptBook": "X-12",
            "scope": "selected",
            "ids": [pending.id],
        },
    )
    html = response.get_data(as_text=True)
    assert "<p>The receipt book is not valid</p>" in html
    assert 'id="b-receiptBook-error">must look like A-0001' in html


def test_a_viewer_is_not_offered_the_cancel_form_of_a_pending(client, auth, factory):
    pending = factory.pendings(1)[0]
    auth.login("viewer")
    response = client.get(f"/pendings/{pending.id}/cancel")
    assert response.status_code == 403
    assert "<form" not in response.get_data(as_text=True).split("<main", 1)[1]
