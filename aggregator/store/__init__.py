"""The central SQL store: models, migrations and the engine."""

from aggregator.store.engine import create_store_engine, open_store, upgrade
from aggregator.store.models import metadata

__all__ = ["create_store_engine", "metadata", "open_store", "upgrade"]
