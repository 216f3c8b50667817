"""the simulated authority keeps its vouchers in runs

The simulated authority (webapp/authority.py) wrote one row per voucher it authorized, 250 for
a call: about half of its time per call. It now keeps one row per run of consecutive numbers
authorized at once (authority_runs: the run's first and last number, the last one's date, and
each voucher as FECompConsultar answers it). The vouchers of authority_vouchers move into runs
of at most 250, and the table goes. A simulator kept in a database of its own
(AUTHORITY_DATABASE_URL) creates authority_runs there on first use and starts its books again.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 20:00:00.000000

"""
from datetime import date
from decimal import Decimal

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

RUN_LENGTH = 250

old = sa.table(
    'authority_vouchers',
    sa.column('pto_vta'),
    sa.column('cbte_tipo'),
    sa.column('cbte_nro'),
    sa.column('cbte_fch', sa.Date()),
    sa.column('doc_tipo'),
    sa.column('doc_nro'),
    sa.column('imp_total', sa.Numeric(14, 2)),
    sa.column('cae'),
    sa.column('cae_fch_vto', sa.Date()),
)
runs = sa.table(
    'authority_runs',
    sa.column('pto_vta'),
    sa.column('cbte_tipo'),
    sa.column('cbte_desde'),
    sa.column('cbte_hasta'),
    sa.column('cbte_fch', sa.Date()),
    sa.column('vouchers', sa.JSON()),
)


def _kept(row) -> dict:
    """A voucher as authority_runs keeps it (webapp/authority.py, _kept)."""
    return {
        'cbte_fch': row.cbte_fch.isoformat(),
        'doc_tipo': row.doc_tipo,
        'doc_nro': row.doc_nro,
        'imp_total': str(row.imp_total),
        'cae': row.cae,
        'cae_fch_vto': row.cae_fch_vto.isoformat(),
    }


def upgrade():
    op.create_table('authority_runs',
    sa.Column('pto_vta', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('cbte_tipo', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('cbte_desde', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('cbte_hasta', sa.Integer(), nullable=False),
    sa.Column('cbte_fch', sa.Date(), nullable=False),
    sa.Column('vouchers', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('pto_vta', 'cbte_tipo', 'cbte_desde'),
    if_not_exists=True,
    )
    bind = op.get_bind()
    rows = bind.execute(sa.select(old).order_by(old.c.pto_vta, old.c.cbte_tipo, old.c.cbte_nro))
    run = []

    def keep():
        if run:
            bind.execute(sa.insert(runs).values(
                pto_vta=run[0].pto_vta,
                cbte_tipo=run[0].cbte_tipo,
                cbte_desde=run[0].cbte_nro,
                cbte_hasta=run[-1].cbte_nro,
                cbte_fch=run[-1].cbte_fch,
                vouchers=[_kept(row) for row in run],
            ))
            run.clear()

    for row in rows.all():
        follows = run and (row.pto_vta, row.cbte_tipo, row.cbte_nro - 1) == (
            run[-1].pto_vta, run[-1].cbte_tipo, run[-1].cbte_nro
        )
        if not follows or len(run) == RUN_LENGTH:
            keep()
        run.append(row)
    keep()
    op.drop_table('authority_vouchers')


def downgrade():
    op.create_table('authority_vouchers',
    sa.Column('pto_vta', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('cbte_tipo', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('cbte_nro', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('cbte_fch', sa.Date(), nullable=False),
    sa.Column('doc_tipo', sa.Integer(), nullable=False),
    sa.Column('doc_nro', sa.String(length=11), nullable=False),
    sa.Column('imp_total', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('cae', sa.String(length=14), nullable=False),
    sa.Column('cae_fch_vto', sa.Date(), nullable=False),
    sa.PrimaryKeyConstraint('pto_vta', 'cbte_tipo', 'cbte_nro'),
    )
    bind = op.get_bind()
    for run in bind.execute(sa.select(runs)).all():
        rows = [
            {
                'pto_vta': run.pto_vta,
                'cbte_tipo': run.cbte_tipo,
                'cbte_nro': number,
                'cbte_fch': date.fromisoformat(kept['cbte_fch']),
                'doc_tipo': kept['doc_tipo'],
                'doc_nro': kept['doc_nro'],
                'imp_total': Decimal(kept['imp_total']),
                'cae': kept['cae'],
                'cae_fch_vto': date.fromisoformat(kept['cae_fch_vto']),
            }
            for number, kept in enumerate(run.vouchers, start=run.cbte_desde)
        ]
        bind.execute(sa.insert(old), rows)
    op.drop_table('authority_runs')
