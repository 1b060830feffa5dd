"""The central SQL store: models, migrations and the engine."""

from pmohub.aggregator.store.engine import create_store_engine, open_store, upgrade
from pmohub.aggregator.store.models import metadata

__all__ = ["create_store_engine", "metadata", "open_store", "upgrade"]
