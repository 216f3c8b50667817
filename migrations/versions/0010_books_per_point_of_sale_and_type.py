"""books per point of sale and type, IVA per service, the receiver kept on each invoice

- services.vat_rate, billing_pendings.vat_rate: the service's IVA rate; what exists was invoiced
  at 21%, so it starts at "21".
- receipt_books.point_of_sale, document_type: a book is a point of sale and a document type. The
  spellings of one point of sale (A-1, A-0001, A-00001) become one book, A-0001, and the batches
  and invoices that named another spelling now name it; invoice numbers already issued keep
  their text. Two spellings that both hold invoices cannot be merged: the upgrade stops and
  names them.
- billing_batches.point_of_sale: the point of sale a batch invoices; receipt_book, the book it
  was asked for, becomes optional (a batch may name only its point of sale).
- invoices: the point of sale, the document type (CbteTipo), the IVA rate, the exempt part
  (none so far), the payment due date (the issue date plus the customer's payment days) and the
  receiver as it is now (every customer is incomplete at this point, named after its id).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 14:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

VAT_RATE_CHECK = "vat_rate IN ('21', '10.5', '27', '5', '2.5', '0', 'exempt')"
# CbteTipo of each letter's Factura.
DOCUMENT_TYPE_OF_LETTER = "CASE substr({code}, 1, 1) WHEN 'A' THEN 1 WHEN 'B' THEN 6 ELSE 11 END"
POINT_OF_SALE_OF_CODE = "CAST(substr({code}, 3) AS INTEGER)"
NEVER_REUSED_IDS = {"sqlite_autoincrement": True}


def canonical(code: str) -> str:
    letter, point_of_sale = code.split("-")
    return f"{letter}-{int(point_of_sale):04d}"


def merge_spellings(bind) -> None:
    """One book per point of sale and letter: the other spellings' batches and invoices move to
    the canonical code, and the spelling that holds invoices gives the book its counter."""
    books = bind.execute(
        sa.text(
            "SELECT code, last_number, last_issue_date, created_at, "
            "EXISTS (SELECT 1 FROM invoices WHERE invoices.receipt_book = receipt_books.code) "
            "FROM receipt_books ORDER BY code"
        )
    ).all()
    spellings: dict[str, list] = {}
    for book in books:
        spellings.setdefault(canonical(book[0]), []).append(book)
    for code, group in spellings.items():
        if [book[0] for book in group] == [code]:
            continue
        holding = [book for book in group if book[4]]
        if len(holding) > 1:
            raise RuntimeError(
                "receipt books " + " and ".join(book[0] for book in holding)
                + f" name one book ({code}) and both hold invoices; renumber one by hand first"
            )
        keeper = holding[0] if holding else max(group, key=lambda book: book[1])
        if code not in {book[0] for book in group}:
            bind.execute(
                sa.text(
                    "INSERT INTO receipt_books (code, last_number, last_issue_date, created_at) "
                    "VALUES (:code, :last, :day, :created)"
                ),
                {"code": code, "last": keeper[1], "day": keeper[2], "created": keeper[3]},
            )
        else:
            bind.execute(
                sa.text(
                    "UPDATE receipt_books SET last_number = :last, last_issue_date = :day "
                    "WHERE code = :code"
                ),
                {"code": code, "last": keeper[1], "day": keeper[2]},
            )
        others = [book[0] for book in group if book[0] != code]
        for table in ("billing_batches", "invoices", "invoice_daily_totals"):
            bind.execute(
                sa.text(f"UPDATE {table} SET receipt_book = :code WHERE receipt_book IN :others")
                .bindparams(sa.bindparam("others", expanding=True)),
                {"code": code, "others": others},
            )
        bind.execute(
            sa.text("DELETE FROM receipt_books WHERE code IN :others").bindparams(
                sa.bindparam("others", expanding=True)
            ),
            {"others": others},
        )


def upgrade():
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    if sqlite:
        # SQLite adds a column with its check in place; the counted tables are not rebuilt, so
        # their partial indexes and count triggers stay as they are.
        op.execute(
            "ALTER TABLE services ADD COLUMN vat_rate VARCHAR(6) DEFAULT '21' NOT NULL "
            f"CONSTRAINT ck_services_vat_rate_known CHECK ({VAT_RATE_CHECK})"
        )
    else:
        op.add_column('services', sa.Column('vat_rate', sa.String(length=6), server_default='21', nullable=False))
        op.create_check_constraint(op.f('ck_services_vat_rate_known'), 'services', VAT_RATE_CHECK)
    op.add_column('billing_pendings', sa.Column('vat_rate', sa.String(length=6), server_default='21', nullable=False))

    merge_spellings(bind)
    with op.batch_alter_table('receipt_books', schema=None) as batch_op:
        batch_op.add_column(sa.Column('point_of_sale', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('document_type', sa.Integer(), nullable=True))
    op.execute(
        "UPDATE receipt_books SET "
        f"point_of_sale = {POINT_OF_SALE_OF_CODE.format(code='code')}, "
        f"document_type = {DOCUMENT_TYPE_OF_LETTER.format(code='code')}"
    )
    with op.batch_alter_table('receipt_books', schema=None) as batch_op:
        batch_op.alter_column('point_of_sale', existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column('document_type', existing_type=sa.Integer(), nullable=False)
        batch_op.create_index('uq_receipt_books_point_of_sale_document_type', ['point_of_sale', 'document_type'], unique=True)

    with op.batch_alter_table('billing_batches', schema=None, table_kwargs=NEVER_REUSED_IDS) as batch_op:
        batch_op.add_column(sa.Column('point_of_sale', sa.Integer(), nullable=True))
    op.execute(
        f"UPDATE billing_batches SET point_of_sale = {POINT_OF_SALE_OF_CODE.format(code='receipt_book')}"
    )
    with op.batch_alter_table('billing_batches', schema=None, table_kwargs=NEVER_REUSED_IDS) as batch_op:
        batch_op.alter_column('point_of_sale', existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column('receipt_book', existing_type=sa.String(length=12), nullable=True)
        batch_op.create_index('ix_billing_batches_point_of_sale_id', ['point_of_sale', 'id'], unique=False)

    with op.batch_alter_table('invoices', schema=None, table_kwargs=NEVER_REUSED_IDS) as batch_op:
        batch_op.add_column(sa.Column('exempt_amount', sa.Numeric(precision=12, scale=2), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('vat_rate', sa.String(length=6), nullable=True))
        batch_op.add_column(sa.Column('point_of_sale', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('document_type', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('payment_due_date', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('receiver_name', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('receiver_doc_type', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('receiver_doc_number', sa.String(length=11), nullable=True))
        batch_op.add_column(sa.Column('receiver_iva_condition', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('receiver_address', sa.String(length=300), server_default='', nullable=False))
    # Every invoice's customer exists since 0009; one that does not reads as that revision
    # would have made it: incomplete, named after its id, paid in 30 days.
    days = "COALESCE((SELECT payment_days FROM customers WHERE customers.id = invoices.customer_id), 30)"
    due = (
        f"date(invoices.issue_date, '+' || {days} || ' days')"
        if sqlite
        else f"invoices.issue_date + {days}"
    )

    def receiver(column: str, default: str) -> str:
        return (
            f"COALESCE((SELECT {column} FROM customers WHERE customers.id = invoices.customer_id), "
            f"{default})"
        )

    op.execute(
        "UPDATE invoices SET vat_rate = '21', "
        f"point_of_sale = {POINT_OF_SALE_OF_CODE.format(code='receipt_book')}, "
        f"document_type = {DOCUMENT_TYPE_OF_LETTER.format(code='receipt_book')}, "
        f"payment_due_date = {due}, "
        + ", ".join(
            f"receiver_{name} = {receiver(column, default)}"
            for name, column, default in (
                ("name", "legal_name", "'Customer ' || customer_id"),
                ("doc_type", "doc_type", "99"),
                ("doc_number", "doc_number", "'0'"),
                ("iva_condition", "iva_condition", "NULL"),
                ("address", "address", "''"),
            )
        )
    )
    with op.batch_alter_table('invoices', schema=None, table_kwargs=NEVER_REUSED_IDS) as batch_op:
        for column, type_ in (
            ('point_of_sale', sa.Integer()),
            ('document_type', sa.Integer()),
            ('payment_due_date', sa.Date()),
            ('receiver_name', sa.String(length=200)),
            ('receiver_doc_type', sa.Integer()),
            ('receiver_doc_number', sa.String(length=11)),
        ):
            batch_op.alter_column(column, existing_type=type_, nullable=False)
        batch_op.drop_constraint(op.f('ck_invoices_amount_is_net_plus_vat'), type_='check')
        batch_op.create_check_constraint(
            'amount_is_net_plus_vat_plus_exempt',
            'abs(amount - (net_amount + vat_amount + exempt_amount)) < 0.005',
        )


def downgrade():
    with op.batch_alter_table('invoices', schema=None, table_kwargs=NEVER_REUSED_IDS) as batch_op:
        batch_op.drop_constraint(op.f('ck_invoices_amount_is_net_plus_vat_plus_exempt'), type_='check')
        batch_op.create_check_constraint(
            'amount_is_net_plus_vat', 'abs(amount - (net_amount + vat_amount)) < 0.005'
        )
        for column in (
            'receiver_address', 'receiver_iva_condition', 'receiver_doc_number',
            'receiver_doc_type', 'receiver_name', 'payment_due_date', 'document_type',
            'point_of_sale', 'vat_rate', 'exempt_amount',
        ):
            batch_op.drop_column(column)
    named_only_by_point_of_sale = op.get_bind().scalar(
        sa.text("SELECT count(*) FROM billing_batches WHERE receipt_book IS NULL")
    )
    if named_only_by_point_of_sale:
        raise RuntimeError(
            f"{named_only_by_point_of_sale} batches name only a point of sale, which the "
            "previous schema cannot hold"
        )
    with op.batch_alter_table('billing_batches', schema=None, table_kwargs=NEVER_REUSED_IDS) as batch_op:
        batch_op.drop_index('ix_billing_batches_point_of_sale_id')
        batch_op.alter_column('receipt_book', existing_type=sa.String(length=12), nullable=False)
        batch_op.drop_column('point_of_sale')
    with op.batch_alter_table('receipt_books', schema=None) as batch_op:
        batch_op.drop_index('uq_receipt_books_point_of_sale_document_type')
        batch_op.drop_column('document_type')
        batch_op.drop_column('point_of_sale')
    with op.batch_alter_table('billing_pendings', schema=None) as batch_op:
        batch_op.drop_column('vat_rate')
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE services DROP COLUMN vat_rate")
    else:
        op.drop_constraint(op.f('ck_services_vat_rate_known'), 'services', type_='check')
        op.drop_column('services', 'vat_rate')
