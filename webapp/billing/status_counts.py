"""Exact counts of services and billing pendings per status, read from the few rows of
``StatusCount`` that database triggers keep, instead of counted over every row."""

from collections.abc import Iterable

from sqlalchemy import delete, func, insert, literal, select, text

from webapp.extensions import db
from webapp.models import BillingPending, Service, StatusCount

COUNTED = (Service, BillingPending)
COUNTED_TABLES = tuple(model.__tablename__ for model in COUNTED)
# Taken by the compaction, the recount and the TRUNCATE trigger, so that none misses the rows
# another writes.
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


_POSTGRESQL_FUNCTION = """
CREATE OR REPLACE FUNCTION count_statuses() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO status_counts (table_name, status, delta)
        SELECT TG_TABLE_NAME, status, count(*) FROM new_rows GROUP BY status;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO status_counts (table_name, status, delta)
        SELECT TG_TABLE_NAME, status, -count(*) FROM old_rows GROUP BY status;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO status_counts (table_name, status, delta)
        SELECT TG_TABLE_NAME, status, sum(change)
        FROM (SELECT status, 1 AS change FROM new_rows
              UNION ALL
              SELECT status, -1 FROM old_rows) AS changes
        GROUP BY status
        HAVING sum(change) <> 0;
    ELSE
        PERFORM pg_advisory_xact_lock(hashtext('status_counts'));
        DELETE FROM status_counts WHERE table_name = TG_TABLE_NAME;
    END IF;
    RETURN NULL;
END
$$
"""

_POSTGRESQL_TRIGGERS = {
    "insert": "AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows",
    "update": "AFTER UPDATE ON {table} REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "delete": "AFTER DELETE ON {table} REFERENCING OLD TABLE AS old_rows",
    "truncate": "AFTER TRUNCATE ON {table}",
}

_SQLITE_ADD = """
    INSERT INTO status_counts (table_name, status, delta)
    SELECT '{table}', {row}.status, 0
    WHERE NOT EXISTS (SELECT 1 FROM status_counts
                      WHERE table_name = '{table}' AND status = {row}.status);
    UPDATE status_counts SET delta = delta {sign} 1
    WHERE id = (SELECT min(id) FROM status_counts
                WHERE table_name = '{table}' AND status = {row}.status);
"""

_SQLITE_TRIGGERS = {
    "insert": ("AFTER INSERT ON {table}", [("NEW", "+")]),
    "update": (
        "AFTER UPDATE OF status ON {table} WHEN OLD.status <> NEW.status",
        [("OLD", "-"), ("NEW", "+")],
    ),
    "delete": ("AFTER DELETE ON {table}", [("OLD", "-")]),
}


def count_trigger_names(dialect: str, tables=COUNTED_TABLES) -> set[str]:
    """The names of the triggers that keep the counts of ``tables``."""
    events = _POSTGRESQL_TRIGGERS if dialect == "postgresql" else _SQLITE_TRIGGERS
    return {f"{table}_count_{event}" for table in tables for event in events}


def create_count_triggers(connection, tables=COUNTED_TABLES) -> None:
    """Creates the triggers that keep the status counts of ``tables``, for the migrations: the one
    that adds the counts, and every later one that rebuilds a counted table on SQLite, which
    drops a table's triggers with it. On PostgreSQL each statement appends one delta row per
    status it changed (inserts only, so concurrent writers never queue on a counter row) and a
    TRUNCATE clears the table's counts; on SQLite, one writer at a time, each row adds to one
    row per status."""
    postgresql = connection.dialect.name == "postgresql"
    if postgresql:
        connection.exec_driver_sql(_POSTGRESQL_FUNCTION)
    for table in tables:
        if postgresql:
            for event, when in _POSTGRESQL_TRIGGERS.items():
                connection.exec_driver_sql(
                    f"CREATE TRIGGER {table}_count_{event} {when.format(table=table)} "
                    f"FOR EACH STATEMENT EXECUTE FUNCTION count_statuses()"
                )
        else:
            for event, (when, changes) in _SQLITE_TRIGGERS.items():
                body = "".join(
                    _SQLITE_ADD.format(table=table, row=row, sign=sign) for row, sign in changes
                )
                connection.exec_driver_sql(
                    f"CREATE TRIGGER {table}_count_{event} {when.format(table=table)} "
                    f"BEGIN {body} END"
                )


def drop_count_triggers(connection) -> None:
    """Drops every counting trigger, and on PostgreSQL the function they run."""
    postgresql = connection.dialect.name == "postgresql"
    for table in COUNTED_TABLES:
        for name in sorted(count_trigger_names(connection.dialect.name, [table])):
            connection.exec_driver_sql(
                f"DROP TRIGGER IF EXISTS {name}" + (f" ON {table}" if postgresql else "")
            )
    if postgresql:
        connection.exec_driver_sql("DROP FUNCTION IF EXISTS count_statuses()")
