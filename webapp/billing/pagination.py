"""One way to page a list: ``page`` from 1, ``limit`` 1-100, a stable order ending in the id.

``total`` is always exact, counted in SQL (on a million rows the count is the costliest part of a
first page, tens of milliseconds).

Lists kept newest first by their id can also be paged by keyset: ``after`` is the id of the last
row already seen, and each page gives ``next_after`` for the following one, so a deep page costs
what the first one does; a page number makes the database skip the rows before it."""

import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, literal_column, select

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
    has_next: bool = False
    next_after: int | None = None

    @property
    def total_pages(self) -> int:
        return math.ceil(self.total / self.limit) if self.total else 0

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
    """Runs ``query`` (already filtered and ordered by a unique key) for one page."""
    check_page(page, limit)
    offset = (page - 1) * limit
    rows = db.session.scalars(query.limit(limit + 1).offset(offset)).all()
    return _page(query, rows, page, limit)


def paginate_newest_first(
    query: Select, key, page: int = 1, limit: int = DEFAULT_LIMIT, after: int | None = None
) -> Page:
    """Runs ``query`` (filtered, not ordered) for one page, newest first by ``key``, the
    table's id. The page's ids are found first, from an index alone where one covers the
    filters, and only those rows are read in full; ``after`` pages by keyset instead."""
    check_page(page, limit)
    if after is not None and after < 1:
        raise InvalidInput("Invalid pagination", [{"field": "after", "message": "must be an id"}])
    ids = query.with_only_columns(key, maintain_column_froms=True).order_by(key.desc())
    ids = ids.offset((page - 1) * limit) if after is None else ids.where(key < after)
    rows = db.session.scalars(
        query.where(key.in_(ids.limit(limit + 1).scalar_subquery())).order_by(key.desc())
    ).all()
    return _page(query, rows, page, limit, key=key)


def _page(query: Select, rows, page: int, limit: int, key=None) -> Page:
    has_next = len(rows) > limit
    items = list(rows[:limit])
    total = db.session.scalar(
        select(func.count()).select_from(
            query.order_by(None)
            .with_only_columns(literal_column("1"), maintain_column_froms=True)
            .subquery()
        )
    )
    next_after = getattr(items[-1], key.key) if key is not None and has_next else None
    return Page(
        items=items,
        total=total,
        page=page,
        limit=limit,
        has_next=has_next,
        next_after=next_after,
    )
