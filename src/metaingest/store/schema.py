"""The store's own tables (schema version 3) as SQLAlchemy Core metadata.

- ``store_meta``: ``schema_version`` and other store-wide keys.
- ``runs``: one row per run (service, status, start/end, config digest, counts, warnings,
  and ``units``: the schemas it read whole, read with errors, failed on, or filtered, as
  JSON lists in that one row; a fleet's run is one row for all of its sources).
- ``run_services``: the services each published run read and published (a fleet's source
  that failed is not among them): an entity's *last seen* counts only these runs.
- ``entities``: the current state of each entity by FQN. ``missing_since_run`` is set when a
  run does not deliver it (failed, filtered, withheld, deleted) and cleared when one does: an
  entity's *last seen* run derives from it and the service's published runs (``queries``),
  so an unchanged re-run writes nothing per entity.
- ``versions``: every version of every entity; the current one's content is "" there (it
  is the entity's), and is written when a newer version supersedes it.
- ``changes``: what each run changed: ``added``, ``updated``, ``deleted``, ``restored``, and
  the deletions it did not make: ``withheld`` (fail-safe) and ``out_of_scope`` (a filter).
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = [
    "SCHEMA_VERSION",
    "changes",
    "entities",
    "metadata",
    "run_services",
    "runs",
    "versions",
]

SCHEMA_VERSION = 3

metadata = sa.MetaData()

store_meta = sa.Table(
    "store_meta",
    metadata,
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("service", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("started_at", sa.Text, nullable=False),
    sa.Column("ended_at", sa.Text),
    sa.Column("config_digest", sa.Text),
    sa.Column("counts", sa.Text, nullable=False, server_default="{}"),
    sa.Column("warnings", sa.Text, nullable=False, server_default="[]"),
    sa.Column("units", sa.Text, nullable=False, server_default="{}"),
)

run_services = sa.Table(
    "run_services",
    metadata,
    sa.Column("run_id", sa.Integer, primary_key=True),
    sa.Column("service", sa.Text, primary_key=True),
    sa.Index("ix_run_services_service", "service", "run_id"),
)

entities = sa.Table(
    "entities",
    metadata,
    sa.Column("fqn", sa.Text, primary_key=True),
    sa.Column("service", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    # the schema whose unit delivers this entity; a schema's and a database's own FQN
    sa.Column("unit_fqn", sa.Text, nullable=False),
    sa.Column("is_view", sa.Boolean, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("content_hash", sa.Text, nullable=False),
    sa.Column("volatile_hash", sa.Text, nullable=False),
    sa.Column("first_seen_run", sa.Integer, nullable=False),
    sa.Column("first_seen_at", sa.Text, nullable=False),
    sa.Column("last_written_run", sa.Integer, nullable=False),
    sa.Column("missing_since_run", sa.Integer),
    sa.Column("out_of_scope_run", sa.Integer),
    sa.Column("deleted_run", sa.Integer),
    sa.Column("deleted_at", sa.Text),
    sa.Index("ix_entities_unit", "unit_fqn"),
    sa.Index("ix_entities_service", "service", "deleted_run"),
)

versions = sa.Table(
    "versions",
    metadata,
    sa.Column("fqn", sa.Text, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("run_id", sa.Integer, nullable=False),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("content_hash", sa.Text, nullable=False),
)

changes = sa.Table(
    "changes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.Integer, nullable=False),
    sa.Column("fqn", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("change", sa.Text, nullable=False),
    sa.Column("version", sa.Integer),
    sa.Column("breaking", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("fields", sa.Text),
    sa.Index("ix_changes_run", "run_id"),
    sa.Index("ix_changes_fqn", "fqn", "run_id"),
)
