"""One way to page a list: ``page`` from 1, ``limit`` 1-100, a stable order ending in the id."""

import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select

from webapp.billing.errors import InvalidInput
from webapp.extensions import db

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


@dataclass
class Page:
    items: list[Any]
    total: int
    page: int
    limit: int

    @property
    def total_pages(self) -> int:
        return math.ceil(self.total / self.limit) if self.total else 0

    @property
    def has_next(self) -> bool:
        return self.page < self.total_pages

    @property
    def has_prev(self) -> bool:
        return self.page > 1


def check_page(page: int, limit: int) -> None:
    details = []
    if page < 1:
        details.append({"field": "page", "message": "must be 1 or more"})
    if not 1 <= limit <= MAX_LIMIT:
        details.append({"field": "limit", "message": f"must be between 1 and {MAX_LIMIT}"})
    if details:
        raise InvalidInput("Invalid pagination", details)


def paginate(query: Select, page: int = 1, limit: int = DEFAULT_LIMIT) -> Page:
    """Runs ``query`` (already filtered and ordered by a unique key) for one page, with the total
    counted in SQL."""
    check_page(page, limit)
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = db.session.scalars(query.limit(limit).offset((page - 1) * limit)).all()
    return Page(items=list(rows), total=total or 0, page=page, limit=limit)
