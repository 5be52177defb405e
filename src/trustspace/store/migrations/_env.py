"""What both ``env.py`` files do: run the revisions on the connection ``db.migrate`` hands over.

There is no ``alembic.ini`` and no URL here on purpose: the service that owns the database decides where
it is, and migrations run in that service's transaction (so PostgreSQL replicas can serialise them).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, MetaData


def run_migrations(metadata: MetaData) -> None:
    if context.is_offline_mode():
        raise RuntimeError("offline (SQL script) migrations are not supported; use store.db.migrate")
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise RuntimeError("run migrations through store.db.migrate, which supplies the connection")
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things in place; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
