"""Alembic environment: the database comes from the caller's config, else from exportflow's settings."""

from alembic import context

from flows.appdb.engine import make_engine
from flows.appdb.models import Base
from flows.settings import get_settings

config = context.config
database_url = config.attributes.get("database_url") or get_settings().database_url
engine = make_engine(database_url)
try:
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=True,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
finally:
    engine.dispose()
