"""Many rows at once (``webapp.bulk``): on PostgreSQL they are copied (COPY FROM STDIN), and a
value comes back exactly as an INSERT would have stored it."""

import enum
from datetime import date
from decimal import Decimal

from sqlalchemy import Column, Date, Enum, Integer, MetaData, Numeric, String, Table, select

from webapp.bulk import insert_rows
from webapp.extensions import db


class Kind(enum.Enum):
    INVOICE = "Factura"
    NOTE = "Nota"


def test_rows_come_back_as_they_went_in_whatever_their_text(app):
    table = Table(
        "bulk_rows_check",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("name", String(200)),
        Column("amount", Numeric(12, 2)),
        Column("day", Date),
        # As Lote's enum columns: stored by value.
        Column(
            "kind", Enum(Kind, native_enum=False, values_callable=lambda k: [m.value for m in k])
        ),
    )
    # What the text form of COPY treats specially: tabs, line ends, backslashes, its NULL marker.
    names = ["Tab\tand\nline", "back\\slash", "\\N", None, 'Ñandú "SA", ya; o\'no']
    rows = [
        {
            "id": n,
            "name": name,
            "amount": Decimal("1234.56"),
            "day": date(2026, 12, 1),
            "kind": Kind.NOTE,
        }
        for n, name in enumerate(names, start=1)
    ]
    table.create(db.engine)
    try:
        with db.engine.begin() as connection:
            insert_rows(connection, table, rows)
        with db.engine.connect() as connection:
            stored = [dict(row._mapping) for row in connection.execute(select(table))]
            raw_kinds = connection.exec_driver_sql("SELECT kind FROM bulk_rows_check").scalars()
            assert set(raw_kinds) == {"Nota"}  # as the Enum type binds it
    finally:
        table.drop(db.engine)
    assert sorted(stored, key=lambda row: row["id"]) == rows
