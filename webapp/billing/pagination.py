"""One way to page a list: ``page`` from 1, ``limit`` 1-100, a stable order ending in the id.

``total`` is always exact. The services and pendings lists, unfiltered or by status alone, read it
from kept counts (``status_counts``) and the invoices list from the daily totals; any other filter
counts in SQL.

Lists kept newest first by their id can also be paged by keyset: ``after`` is the id of the last
row already seen, and each page gives ``next_after`` for the following one, so a deep page costs
what the first one does; a page number makes the database skip the rows on one side of it."""

import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, literal_column, select

from webapp.billing.errors import InvalidInput
from webapp.billing.messages import Message
from webapp.extensions import db

# The page sizes the lists offer; the first is the default, the last the most a page holds.
PAGE_SIZES = (20, 50, 100)
DEFAULT_LIMIT = PAGE_SIZES[0]
MAX_LIMIT = PAGE_SIZES[-1]


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
        details.append({"field": "page", "message": Message("page.at_least_one")})
    if not 1 <= limit <= MAX_LIMIT:
        details.append({"field": "limit", "message": Message("page.limit_range", count=MAX_LIMIT)})
    if details:
        raise InvalidInput(Message("page.invalid"), details)


def paginate(query: Select, page: int = 1, limit: int = DEFAULT_LIMIT) -> Page:
    """Runs ``query`` (already filtered and ordered by a unique key) for one page."""
    check_page(page, limit)
    skipped = (page - 1) * limit
    items = list(db.session.scalars(query.limit(limit).offset(skipped)))
    total = count(query)
    return Page(items, total, page, limit, has_next=skipped + len(items) < total)


def paginate_newest_first(
    query: Select,
    key,
    page: int = 1,
    limit: int = DEFAULT_LIMIT,
    after: int | None = None,
    total: int | None = None,
) -> Page:
    """Runs ``query`` (filtered, not ordered) for one page, newest first by ``key``, the
    table's id. ``total`` is the number of rows matching, when the caller can read it from kept
    counts; otherwise it is counted here.

    The page's ids are found first, from an index alone where one covers the filters, and only
    those rows are read in full. A page past the middle of the list is found from its oldest
    end, so the database skips at most half the rows whatever the page number; ``after`` pages
    by keyset instead and skips none."""
    check_page(page, limit)
    if after is not None and after < 1:
        raise InvalidInput(
            Message("page.invalid"), [{"field": "after", "message": Message("page.after_id")}]
        )
    if total is None:
        total = count(query)
    ids = query.with_only_columns(key, maintain_column_froms=True)
    skipped = (page - 1) * limit
    if after is not None:
        ids = ids.where(key < after).order_by(key.desc()).limit(limit + 1)
    elif skipped >= total:
        return Page(items=[], total=total, page=page, limit=limit)
    else:
        size = min(limit, total - skipped)
        older = total - skipped - size
        if older < skipped:
            ids = ids.order_by(key.asc()).offset(older).limit(size)
        else:
            ids = ids.order_by(key.desc()).offset(skipped).limit(limit)
    rows = db.session.scalars(
        query.where(key.in_(ids.scalar_subquery())).order_by(key.desc())
    ).all()
    items = list(rows[:limit])
    has_next = len(rows) > limit if after is not None else skipped + len(items) < total
    return Page(
        items=items,
        total=total,
        page=page,
        limit=limit,
        has_next=has_next,
        next_after=getattr(items[-1], key.key) if has_next and items else None,
    )


def count(query: Select) -> int:
    """The exact number of rows ``query`` matches, counted in SQL."""
    return db.session.scalar(
        select(func.count()).select_from(
            query.order_by(None)
            .with_only_columns(literal_column("1"), maintain_column_froms=True)
            .subquery()
        )
    )


def in_id_order(statement: Select, id_column, chunk: int, scalars: bool = False):
    """Every row ``statement`` selects, in ascending ``id_column`` order, read ``chunk`` rows at
    a time by keyset, so a long read (an export, a tax book) costs the same per row however far
    it has come. Yields each chunk; ``scalars`` reads one entity per row."""
    after_id = 0
    while True:
        query = statement.where(id_column > after_id).order_by(id_column).limit(chunk)
        result = db.session.scalars(query) if scalars else db.session.execute(query)
        rows = result.all()
        if not rows:
            return
        yield rows
        after_id = rows[-1].id
