"""What every JSON API test checks the same way: the error envelope, the fields it names, money
written as two-decimal strings, and the business date."""

import re

MONEY = re.compile(r"^\d+\.\d{2}$")
ENVELOPE_KEYS = {"statusCode", "error", "message", "path", "timestamp"}


def today():
    from webapp.billing import clock

    return clock.today()


def assert_envelope(response, status):
    assert response.status_code == status, response.get_json()
    payload = response.get_json()
    assert payload.keys() >= ENVELOPE_KEYS
    assert payload["statusCode"] == status
    assert payload["path"] == response.request.path
    assert payload["message"]
    assert "Traceback" not in response.get_data(as_text=True)
    return payload


def fields_named(response) -> set[str]:
    return {detail["field"] for detail in response.get_json().get("details", [])}
