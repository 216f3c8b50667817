"""references checked per statement on PostgreSQL

PostgreSQL checks a foreign key row by row. Every invoice stored looked up its batch, its book,
its pending and its service one at a time (about 15 ms of each call of 250 vouchers), and every
pending a batch claims looked up the batch (about 100 ms of a claim of 10,000). On PostgreSQL
those references are checked per statement instead, by triggers that look up all the rows a
statement writes at once:

- an INSERT or UPDATE naming a row that is not stored is refused, as the foreign key refused it
  (SQLSTATE 23503, foreign_key_violation);
- a DELETE of a row that is named is refused, and so is changing its key.

A foreign key also locks the row it names until the transaction ends. The triggers need no lock:
Lote never deletes a batch or a book, and the transaction that stores an invoice has already
marked its pending and its service INVOICED, which locks them. SQLite keeps the foreign keys.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 10:00:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

# (table, column) -> (the table it names, its key)
REFERENCES = {
    ("invoices", "batch_id"): ("billing_batches", "id"),
    ("invoices", "receipt_book"): ("receipt_books", "code"),
    ("invoices", "pending_id"): ("billing_pendings", "id"),
    ("invoices", "service_id"): ("services", "id"),
    ("billing_pendings", "batch_id"): ("billing_batches", "id"),
}

# TG_ARGV: triples of a column, the table it names and that table's key. Each value is looked up
# once: the rows of a statement mostly name one batch and one book.
REFUSE_NAMING_MISSING = """
CREATE OR REPLACE FUNCTION refuse_naming_rows_not_stored() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    missing boolean;
    i integer := 0;
BEGIN
    WHILE i < TG_NARGS LOOP
        EXECUTE format(
            'SELECT EXISTS (SELECT 1 FROM (SELECT DISTINCT %1$I AS named FROM new_rows) n'
            ' WHERE n.named IS NOT NULL'
            ' AND NOT EXISTS (SELECT 1 FROM %2$I t WHERE t.%3$I = n.named))',
            TG_ARGV[i], TG_ARGV[i + 1], TG_ARGV[i + 2]) INTO missing;
        IF missing THEN
            RAISE EXCEPTION '%.% names a row of % that is not stored',
                TG_TABLE_NAME, TG_ARGV[i], TG_ARGV[i + 1]
                USING ERRCODE = 'foreign_key_violation';
        END IF;
        i := i + 3;
    END LOOP;
    RETURN NULL;
END $$
"""

# TG_ARGV: the table that names this one, its column, and this table's key.
REFUSE_REMOVING_NAMED = """
CREATE OR REPLACE FUNCTION refuse_removing_named_rows() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    named boolean;
BEGIN
    IF TG_LEVEL = 'ROW' THEN
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE %I = $1.%I)',
                       TG_ARGV[0], TG_ARGV[1], TG_ARGV[2])
            INTO named USING OLD;
    ELSE
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM old_rows o JOIN %I r ON r.%I = o.%I)',
                       TG_ARGV[0], TG_ARGV[1], TG_ARGV[2])
            INTO named;
    END IF;
    IF named THEN
        RAISE EXCEPTION '% of a row of % that %.% names', TG_OP, TG_TABLE_NAME,
            TG_ARGV[0], TG_ARGV[1]
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$
"""


def _naming_tables() -> dict[str, list[str]]:
    """Each table that names others, with the arguments of its check: column, table, key."""
    tables = {}
    for (table, column), (named, key) in REFERENCES.items():
        tables.setdefault(table, []).extend([column, named, key])
    return tables


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(REFUSE_NAMING_MISSING)
    op.execute(REFUSE_REMOVING_NAMED)
    for (table, column), (named, key) in REFERENCES.items():
        op.drop_constraint(f"fk_{table}_{column}_{named}", table, type_="foreignkey")
        arguments = f"'{table}', '{column}', '{key}'"
        op.execute(
            f"CREATE TRIGGER {named}_named_by_{table}_delete AFTER DELETE ON {named} "
            "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT "
            f"EXECUTE FUNCTION refuse_removing_named_rows({arguments})"
        )
        op.execute(
            f"CREATE TRIGGER {named}_named_by_{table}_key AFTER UPDATE OF {key} ON {named} "
            f"FOR EACH ROW WHEN (OLD.{key} IS DISTINCT FROM NEW.{key}) "
            f"EXECUTE FUNCTION refuse_removing_named_rows({arguments})"
        )
    for table, arguments in _naming_tables().items():
        listed = ", ".join(f"'{argument}'" for argument in arguments)
        for event in ("insert", "update"):
            op.execute(
                f"CREATE TRIGGER {table}_references_{event} AFTER {event.upper()} ON {table} "
                "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
                f"EXECUTE FUNCTION refuse_naming_rows_not_stored({listed})"
            )


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in _naming_tables():
        for event in ("insert", "update"):
            op.execute(f"DROP TRIGGER {table}_references_{event} ON {table}")
    for (table, column), (named, key) in REFERENCES.items():
        op.execute(f"DROP TRIGGER {named}_named_by_{table}_key ON {named}")
        op.execute(f"DROP TRIGGER {named}_named_by_{table}_delete ON {named}")
        op.create_foreign_key(f"fk_{table}_{column}_{named}", table, named, [column], [key])
    op.execute("DROP FUNCTION refuse_removing_named_rows()")
    op.execute("DROP FUNCTION refuse_naming_rows_not_stored()")
