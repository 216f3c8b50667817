"""Business dates are those of the company's timezone, not the server's."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask import current_app


def today() -> date:
    return datetime.now(ZoneInfo(current_app.config["BUSINESS_TIMEZONE"])).date()
