"""the issuer kept on each invoice

- invoices.issuer_legal_name, issuer_cuit, issuer_iva_condition, issuer_iibb_number,
  issuer_activities_start, issuer_address: the issuer as it was when the invoice was issued, so
  changing the issuer's settings later changes no printed invoice. The invoices already issued
  take the issuer as it is now, if one is set.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 15:50:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

COLUMNS = {
    'issuer_legal_name': ('legal_name', sa.String(length=200)),
    'issuer_cuit': ('cuit', sa.String(length=11)),
    'issuer_iva_condition': ('iva_condition', sa.String(length=24)),
    'issuer_iibb_number': ('iibb_number', sa.String(length=32)),
    'issuer_activities_start': ('activities_start', sa.Date()),
    'issuer_address': ('address', sa.String(length=300)),
}


def upgrade():
    # Added in place (nullable): a rebuild of the invoices table is not needed.
    for column, (_, type_) in COLUMNS.items():
        op.add_column('invoices', sa.Column(column, type_, nullable=True))
    op.execute(
        "UPDATE invoices SET "
        + ", ".join(
            f"{column} = (SELECT {source} FROM issuer WHERE issuer.id = 1)"
            for column, (source, _) in COLUMNS.items()
        )
    )


def downgrade():
    for column in reversed(list(COLUMNS)):
        op.execute(f"ALTER TABLE invoices DROP COLUMN {column}")
