"""Ids in requests: read from text in ASCII digits, lists checked once, processed in chunks,
locked in a fixed order."""

import re
from collections.abc import Iterable, Iterator

from sqlalchemy import Integer, any_, literal, select
from sqlalchemy.dialects.postgresql import ARRAY

from webapp.billing.errors import InvalidInput, TooLarge
from webapp.billing.messages import Message
from webapp.extensions import db
from webapp.models import MAX_ID

IDS_PER_STATEMENT = 5_000
# Only ASCII digits write a number in a request: int() also reads other scripts' digits ("١",
# "１"), so "/services/１" would name service 1, and str.isdigit() passes digits int() refuses
# ("²").
ASCII_DIGITS = "[0-9]+"
_ASCII_NUMBER = re.compile(ASCII_DIGITS)


def whole_number(text: str) -> int | None:
    """The number ``text`` writes in ASCII digits when the database's integers hold it (0 to
    MAX_ID); None for anything else, so no caller meets an int the database would overflow on."""
    if not _ASCII_NUMBER.fullmatch(text):
        return None
    significant = text.lstrip("0") or "0"
    if len(significant) > len(str(MAX_ID)):
        return None
    number = int(significant)
    return number if number <= MAX_ID else None


def chunked(ids: list[int], size: int = IDS_PER_STATEMENT) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def statement_chunks(ids: list[int]) -> Iterator[list[int]]:
    """Ids as few statements take them: all of them in one on PostgreSQL, which receives them as
    one array (``among``), IDS_PER_STATEMENT at a time on SQLite, whose statements take a
    limited number of values."""
    if db.engine.dialect.name == "postgresql":
        if ids:
            yield ids
        return
    yield from chunked(ids)


def among(column, ids: list[int]):
    """``column`` is one of ``ids``: on PostgreSQL one array parameter (``= ANY``), however many
    ids, instead of a placeholder for each."""
    if db.engine.dialect.name == "postgresql":
        return column == any_(literal(ids, ARRAY(Integer)))
    return column.in_(ids)


def unique_ids(ids: Iterable, field: str, limit: int) -> list[int]:
    """A non-empty list of distinct positive ids, at most ``limit`` of them, sorted."""
    ids = list(ids)
    if not ids:
        raise InvalidInput(Message("ids.none"), [{"field": field, "message": Message("ids.empty")}])
    if any(not isinstance(i, int) or isinstance(i, bool) or i < 1 for i in ids):
        raise InvalidInput(
            Message("ids.invalid"), [{"field": field, "message": Message("ids.positive")}]
        )
    if len(ids) > limit:
        raise TooLarge(Message("ids.too_many", limit=limit, count=len(ids)))
    if len(set(ids)) != len(ids):
        raise InvalidInput(
            Message("ids.repeated"), [{"field": field, "message": Message("ids.no_repeats")}]
        )
    return sorted(ids)


def lock_in_id_order(model, ids: list[int]) -> None:
    """Row-locks the records in ascending id order before they are changed, so two transactions
    claiming overlapping sets wait for each other instead of deadlocking."""
    for chunk in chunked(ids):
        db.session.execute(
            select(model.id).where(model.id.in_(chunk)).order_by(model.id).with_for_update()
        ).all()
