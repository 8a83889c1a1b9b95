"""The catalog SQL loader: named queries, and fragments shared by several of them."""

from __future__ import annotations

from metaingest.connectors.sql import queries


def test_fragments_are_filled_in_and_not_queries() -> None:
    postgres = queries("postgres")
    assert "schema_relations" not in postgres  # a fragment is not a query of its own
    for name in ("relations", "columns", "constraints"):
        assert "{schema_relations}" not in postgres[name]
        assert "pg_catalog.pg_depend" in postgres[name], name  # the fragment's text


def test_placeholders_that_name_no_fragment_are_left_for_the_connector() -> None:
    sqlite = queries("sqlite")
    assert "{schema}" in sqlite["objects"]  # filled by the SQLite connector, per schema
    assert set(sqlite) >= {"objects", "columns", "foreign_keys", "unique_indexes"}
