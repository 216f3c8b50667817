"""invoice references checked per statement on PostgreSQL

PostgreSQL checks a foreign key row by row: every invoice stored looked up its batch, its book,
its pending and its service one at a time, about 15 ms of each call of 250 vouchers. On
PostgreSQL those four references of invoices are checked per statement instead, by triggers that
look up all the rows a statement writes at once:

- an INSERT or UPDATE of invoices naming a batch, book, pending or service that is not stored is
  refused, as the foreign key refused it (SQLSTATE 23503, foreign_key_violation);
- a DELETE of a batch, book, pending or service an invoice names is refused, and so is changing
  its key.

A foreign key also locks the row it names until the transaction ends. The triggers need no lock:
Lote never deletes a batch or a book, and the transaction that stores an invoice has already
marked its pending and its service INVOICED, which locks them. SQLite keeps the foreign keys.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 10:00:00.000000

"""

from alembic import op


# revision identifiers, used by Alembic.
revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

# The invoice's column, and the table and key it names.
REFERENCES = {
    "batch_id": ("billing_batches", "id"),
    "receipt_book": ("receipt_books", "code"),
    "pending_id": ("billing_pendings", "id"),
    "service_id": ("services", "id"),
}

CHECK_INVOICES = """
CREATE OR REPLACE FUNCTION invoices_name_stored_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM new_rows n
        WHERE (n.batch_id IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM billing_batches t WHERE t.id = n.batch_id))
           OR NOT EXISTS (SELECT 1 FROM receipt_books t WHERE t.code = n.receipt_book)
           OR (n.pending_id IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM billing_pendings t WHERE t.id = n.pending_id))
           OR (n.service_id IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM services t WHERE t.id = n.service_id))
    ) THEN
        RAISE EXCEPTION 'an invoice names a batch, receipt book, pending or service that is not stored'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$
"""

# TG_ARGV: the invoice's column, and the key of the table the trigger is on.
REFUSE_NAMED = """
CREATE OR REPLACE FUNCTION refuse_removing_what_invoices_name() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    named boolean;
BEGIN
    IF TG_LEVEL = 'ROW' THEN
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM invoices WHERE %I = $1.%I)',
                       TG_ARGV[0], TG_ARGV[1])
            INTO named USING OLD;
    ELSE
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM old_rows o JOIN invoices i ON i.%I = o.%I)',
                       TG_ARGV[0], TG_ARGV[1])
            INTO named;
    END IF;
    IF named THEN
        RAISE EXCEPTION '% names a row of % that an invoice names', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$
"""


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(CHECK_INVOICES)
    op.execute(REFUSE_NAMED)
    for event in ("insert", "update"):
        op.execute(
            f"CREATE TRIGGER invoices_references_{event} AFTER {event.upper()} ON invoices "
            "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
            "EXECUTE FUNCTION invoices_name_stored_rows()"
        )
    for column, (table, key) in REFERENCES.items():
        op.drop_constraint(f"fk_invoices_{column}_{table}", "invoices", type_="foreignkey")
        op.execute(
            f"CREATE TRIGGER {table}_invoiced_delete AFTER DELETE ON {table} "
            "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT "
            f"EXECUTE FUNCTION refuse_removing_what_invoices_name('{column}', '{key}')"
        )
        op.execute(
            f"CREATE TRIGGER {table}_invoiced_key AFTER UPDATE OF {key} ON {table} "
            f"FOR EACH ROW WHEN (OLD.{key} IS DISTINCT FROM NEW.{key}) "
            f"EXECUTE FUNCTION refuse_removing_what_invoices_name('{column}', '{key}')"
        )


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for column, (table, key) in REFERENCES.items():
        op.execute(f"DROP TRIGGER {table}_invoiced_key ON {table}")
        op.execute(f"DROP TRIGGER {table}_invoiced_delete ON {table}")
        op.create_foreign_key(f"fk_invoices_{column}_{table}", "invoices", table, [column], [key])
    for event in ("insert", "update"):
        op.execute(f"DROP TRIGGER invoices_references_{event} ON invoices")
    op.execute("DROP FUNCTION refuse_removing_what_invoices_name()")
    op.execute("DROP FUNCTION invoices_name_stored_rows()")
