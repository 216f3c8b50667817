"""Exact counts of services and billing pendings per status, read from the few rows of
``StatusCount`` that database triggers keep, instead of counted over every row."""

from collections.abc import Iterable

from sqlalchemy import delete, func, insert, literal, select, text

from webapp.extensions import db
from webapp.models import BillingPending, Service, StatusCount

COUNTED = (Service, BillingPending)
# Taken by the compaction, the recount and the TRUNCATE trigger (migration 0003), so that none
# misses the rows another writes.
_LOCK = "SELECT pg_advisory_xact_lock(hashtext('status_counts'))"
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
        db.session.execute(text(_LOCK))
        db.session.execute(text(_FOLD_DELTAS))
        db.session.commit()


def recount() -> None:
    """Counts the rows per status again and replaces the kept counts, for after a restore or a
    load that bypassed the triggers. Writers wait meanwhile; readers do not. Run it with the web
    app and the consumers stopped: it locks both tables, which writers also lock in turn."""
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("LOCK TABLE services, billing_pendings IN SHARE MODE"))
        db.session.execute(text(_LOCK))
    db.session.execute(delete(StatusCount))
    for model in COUNTED:
        db.session.execute(
            insert(StatusCount).from_select(
                ["table_name", "status", "delta"],
                select(literal(model.__tablename__), model.status, func.count()).group_by(
                    model.status
                ),
            )
        )
    db.session.commit()
