"""Alembic environment: runs migrations on the URL the engine configured.

db.migrate hands PostgreSQL's connection in (``config.attributes``), already
in a transaction and holding the migration lock; SQLite's is opened here.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection

from virtdeck.engine.db import schema

config = context.config
given = config.attributes.get("connection")
if isinstance(given, Connection):
    context.configure(connection=given, target_metadata=schema(), render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    url = config.get_main_option("sqlalchemy.url")
    assert url is not None
    connectable = create_engine(url)
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=schema(), render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    connectable.dispose()
