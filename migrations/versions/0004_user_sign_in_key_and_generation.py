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
    # Plain ADD COLUMN and CREATE INDEX, never a table rebuild: on SQLite a rebuild drops the
    # users table, which the foreign keys of stored idempotency records refuse.
    connection = op.get_bind()
    users = sa.table(
        'users', sa.column('id', sa.Integer), sa.column('username', sa.String),
        sa.column('username_key', sa.String),
    )
    keys = {}
    for user_id, username in connection.execute(
        sa.select(users.c.id, users.c.username).order_by(users.c.id)
    ):
        key = _key(username)
        clash = next((name for name, other in keys.values() if other == key), None)
        if clash is not None:
            raise RuntimeError(
                f"Users {clash!r} and {username!r} differ only in case or character width; "
                "rename one of them before upgrading"
            )
        keys[user_id] = (username, key)

    op.add_column(
        'users',
        sa.Column('username_key', sa.String(length=64), nullable=False, server_default=''),
    )
    op.add_column(
        'users',
        sa.Column('auth_generation', sa.Integer(), nullable=False, server_default=sa.text('0')),
    )
    for user_id, (_username, key) in keys.items():
        connection.execute(users.update().where(users.c.id == user_id).values(username_key=key))
    op.create_index('ix_users_username_key', 'users', ['username_key'], unique=True)
    if connection.dialect.name != 'sqlite':  # SQLite cannot drop a default in place
        op.alter_column('users', 'username_key', server_default=None)


def downgrade():
    op.drop_index('ix_users_username_key', table_name='users')
    op.drop_column('users', 'auth_generation')
    op.drop_column('users', 'username_key')
