"""The current time. Business dates are those of the company's timezone, not the server's.

The instant comes from the app's clock, ``app.extensions["lote.clock"]`` when one is set (tests
set one they can move forward, so an expiry is reached without waiting), the system's otherwise.
"""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from flask import current_app


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


SYSTEM_CLOCK = SystemClock()


def now() -> datetime:
    """The current instant, in UTC."""
    return current_app.extensions.get("lote.clock", SYSTEM_CLOCK).now()


def today() -> date:
    return now().astimezone(ZoneInfo(current_app.config["BUSINESS_TIMEZONE"])).date()
