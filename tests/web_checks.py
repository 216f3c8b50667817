"""What tests that walk the whole app share: the URL map as concrete requests, and a fingerprint
of the database that proves a request changed nothing."""

import hashlib
import re

from sqlalchemy import select

SAMPLE_VALUES = {"book": "A-0001", "number": "A-0001-00000001", "sync_id": "SYNC-2026-000001"}
VARIABLE = re.compile(r"<(?:(\w+):)?(\w+)>")


def concrete_routes(app, values: dict | None = None, api: bool | None = None):
    """(rule, url) of each rule of the URL map, its variables filled in by name from ``values``,
    else from SAMPLE_VALUES, else with ``1``. ``api`` keeps only the rules under /api (True) or
    only the others (False)."""
    values = {**SAMPLE_VALUES, **(values or {})}
    for rule in app.url_map.iter_rules():
        if api is not None and rule.rule.startswith("/api/") != api:
            continue
        yield rule, VARIABLE.sub(lambda m: str(values.get(m.group(2), "1")), rule.rule)


def database_fingerprint(engine, skip: frozenset[str] = frozenset()) -> dict[str, str]:
    """Row count and a digest of every committed row, per table (but ``skip``): equal
    fingerprints, unchanged database."""
    from webapp.extensions import db

    fingerprint = {}
    with engine.connect() as connection:
        for table in db.metadata.sorted_tables:
            if table.name in skip:
                continue
            rows = connection.execute(select(table).order_by(*table.primary_key.columns)).all()
            digest = hashlib.sha256(repr(rows).encode()).hexdigest()[:16]
            fingerprint[table.name] = f"{len(rows)} rows, {digest}"
    return fingerprint


def changed_tables(before: dict[str, str], after: dict[str, str]) -> dict[str, tuple[str, str]]:
    return {name: (before[name], after[name]) for name in before if before[name] != after[name]}
