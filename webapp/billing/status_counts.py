"""Exact counts of services and billing pendings per status, read from the few rows of
``StatusCount`` that database triggers keep, instead of counted over every row."""

from collections.abc import Iterable

from sqlalchemy import func, select, text

from webapp.extensions import db
from webapp.models import StatusCount

_FOLD_DELTAS = """
WITH folded AS (DELETE FROM status_counts RETURNING table_name, status, delta)
INSERT INTO status_counts (table_name, status, delta)
SELECT table_name, status, sum(delta) FROM folded GROUP BY table_name, status
HAVING sum(delta) <> 0
"""


def count(model, status=None) -> int:
    """How many rows of ``model`` (Service or BillingPending) there are, in ``status`` if given."""
    query = select(func.coalesce(func.sum(StatusCount.delta), 0)).where(
        StatusCount.table_name == model.__tablename__
    )
    if status is not None:
        query = query.where(StatusCount.status == status.value)
    return int(db.session.scalar(query))


def by_status(model, statuses: Iterable) -> dict:
    """How many rows of ``model`` are in each of ``statuses`` (zero included)."""
    counts = dict.fromkeys(statuses, 0)
    rows = db.session.execute(
        select(StatusCount.status, func.sum(StatusCount.delta))
        .where(StatusCount.table_name == model.__tablename__)
        .group_by(StatusCount.status)
    )
    counts.update({status: int(n) for status, n in rows if status in counts})
    return counts


def compact() -> None:
    """Folds PostgreSQL's delta rows into one row per status, in one statement: it sums exactly
    the rows it deletes, so writers committing meanwhile keep their rows and every count stays
    exact. SQLite's triggers already keep one row per status."""
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text(_FOLD_DELTAS))
        db.session.commit()
