"""Source connectors and the registry that builds one from a source config.

Each connector module imports its driver lazily, so a missing optional driver becomes a
one-line ``MissingDependencyError`` naming the extra to install.
"""

from __future__ import annotations

from typing import Any

from metaingest.config import MysqlSource, PostgresSource, SqlAlchemySource, SqliteSource

from .base import Connector, SchemaBatch, Unit

__all__ = ["Connector", "SchemaBatch", "Unit", "create_connector"]


def create_connector(source: Any) -> Connector[Any]:
    """Build the connector for a validated source config."""
    if isinstance(source, PostgresSource):
        from .postgres import PostgresConnector

        return PostgresConnector(source)
    if isinstance(source, SqliteSource):
        from .sqlite import SqliteConnector

        return SqliteConnector(source)
    if isinstance(source, MysqlSource):
        from .mysql import MysqlConnector

        return MysqlConnector(source)
    if isinstance(source, SqlAlchemySource):
        from .sqlalchemy import SqlAlchemyConnector

        return SqlAlchemyConnector(source)
    raise TypeError(f"no connector for {type(source).__name__}")
