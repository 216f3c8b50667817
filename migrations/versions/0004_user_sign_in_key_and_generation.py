"""users: the sign-in key and the session generation

- users.username_key: the user name NFKC-normalized and case-folded, unique, so that sign-in
  ignores case and character width and no two users differ only by them. Filled from the
  stored names; if two existing names fold to the same key the migration stops and names them,
  so an admin renames one before upgrading.
- users.auth_generation: a counter every session and API token carries; sign-out,
  deactivation and a new password raise it, which ends the sessions and tokens issued before.
  Sessions and tokens issued by an earlier release carry none, so everyone signs in again.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 11:20:00.000000

"""
import unicodedata

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def _key(username):
    return unicodedata.normalize("NFKC", username).strip().casefold()


def upgrade():
    with op.batch_alter_table('users') as batch_op:
        batch_op.add_column(sa.Column('username_key', sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column('auth_generation', sa.Integer(), nullable=False, server_default=sa.text('0'))
        )

    connection = op.get_bind()
    users = sa.table(
        'users', sa.column('id', sa.Integer), sa.column('username', sa.String),
        sa.column('username_key', sa.String),
    )
    seen = {}
    for user_id, username in connection.execute(sa.select(users.c.id, users.c.username)):
        key = _key(username)
        if key in seen:
            raise RuntimeError(
                f"Users {seen[key]!r} and {username!r} differ only in case or character width; "
                "rename one of them (or deactivate and rename it) before upgrading"
            )
        seen[key] = username
        connection.execute(
            users.update().where(users.c.id == user_id).values(username_key=key)
        )

    with op.batch_alter_table('users') as batch_op:
        batch_op.alter_column('username_key', existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint('uq_users_username_key', ['username_key'])


def downgrade():
    with op.batch_alter_table('users') as batch_op:
        batch_op.drop_constraint('uq_users_username_key', type_='unique')
        batch_op.drop_column('auth_generation')
        batch_op.drop_column('username_key')
