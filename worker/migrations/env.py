"""Alembic environment: the URL comes from ``tickwork db upgrade`` (config attribute ``url``)."""

from alembic import context

from worker.settings import get_settings
from worker.storage.db import make_engine
from worker.storage.models import Base
from worker.storage.partitions import is_partition

config = context.config
url = config.attributes.get("url") or get_settings().resolved_database_url


def run_migrations_online() -> None:
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            # data_point's monthly partitions come and go with the data: not part of the model
            include_name=lambda name, kind, _parent: kind != "table" or not is_partition(name),
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
