"""The store's commands: ``metaingest changes``, ``history`` and ``runs`` (cli.py registers them).

Each returns an exit code: 0, or with ``changes --exit-code`` 1 when there are changes (for
schema-drift checks in CI). ``--format json`` prints one JSON document: for ``changes`` a
list of objects described by ``store/changes.schema.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any

import anyio
from rich.console import Console

from metaingest.errors import ConfigError, SinkError

from .render import render_changes, render_history, render_runs

if TYPE_CHECKING:
    from .queries import Store

__all__ = ["add_arguments", "run_command"]

COMMANDS = ("changes", "history", "runs")


def add_arguments(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Register ``changes``, ``history`` and ``runs`` on the CLI's subparsers."""
    raw = argparse.RawDescriptionHelpFormatter

    def store_options(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--store",
            required=True,
            metavar="URL",
            help="catalog store URL (sqlite+aiosqlite:///metaingest.db, postgresql+asyncpg://…)",
        )
        parser.add_argument("--format", choices=("text", "json"), default="text")

    changes = commands.add_parser(
        "changes",
        help="what changed in the catalog store",
        description="Changes recorded in a catalog store: by default the last published run's.",
        epilog="examples:\n"
        "  metaingest changes --store sqlite+aiosqlite:///metaingest.db\n"
        "  metaingest changes --store URL --since 2026-11-30 --fqn 'pg.shop.*' --format json\n"
        "  metaingest changes --store URL --since 41 --exit-code   # CI: exit 1 on drift",
        formatter_class=raw,
        parents=parents,
    )
    store_options(changes)
    changes.add_argument(
        "--since",
        metavar="RUN|DATE",
        help="changes of the runs after run id RUN, or published at or after DATE "
        "(ISO 8601; UTC unless it has an offset)",
    )
    changes.add_argument("--fqn", metavar="GLOB", help="only entities whose FQN matches GLOB")
    changes.add_argument(
        "--all",
        action="store_true",
        help="also the deletions not made: withheld (fail-safe) and out of scope (filters)",
    )
    changes.add_argument(
        "--exit-code", action="store_true", help="exit 1 when there are changes, else 0"
    )
    history = commands.add_parser(
        "history",
        help="versions and changes of one entity",
        description="Every version of one entity with its diff, and its deletions.",
        epilog="example:\n  metaingest history pg.shop.public.orders --store URL",
        formatter_class=raw,
        parents=parents,
    )
    history.add_argument("fqn", metavar="FQN", help="fully qualified name")
    store_options(history)
    runs = commands.add_parser(
        "runs",
        help="recent runs in the catalog store",
        description="Recent runs, newest first, with status, counts, units and warnings.",
        epilog="example:\n  metaingest runs --store URL --limit 5",
        formatter_class=raw,
        parents=parents,
    )
    store_options(runs)
    runs.add_argument("--limit", type=int, default=20, help="how many runs (default: 20)")


def _since(value: str | None) -> int | datetime | None:
    if value is None:
        return None
    if value.isdigit():
        return int(value)
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"--since: {value!r} is neither a run id nor an ISO date") from None


def _dump(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


async def _changes(store: Store, args: argparse.Namespace, console: Console) -> int:
    found = await store.changes(since=_since(args.since), fqn=args.fqn, recorded=args.all)
    if args.format == "json":
        _dump([c.to_json() for c in found])
    else:
        render_changes(found, console)
    real = [c for c in found if c.change not in ("withheld", "out_of_scope")]
    return 1 if args.exit_code and real else 0


async def _history(store: Store, args: argparse.Namespace, console: Console) -> int:
    entities = await store.entities(args.fqn, deleted=True)
    entity = entities[0] if entities else None
    if entity is None:
        raise ConfigError(f"{args.fqn}: not in the catalog store")
    versions = await store.history(args.fqn)
    events = await store.events(args.fqn)
    if args.format == "json":
        _dump(
            {
                "fqn": entity.fqn,
                "kind": entity.kind,
                "version": entity.version,
                "first_seen": {"run": entity.first_seen_run, "at": entity.first_seen_at},
                "last_seen": {"run": entity.last_seen_run, "at": entity.last_seen_at},
                "deleted_at": entity.deleted_at,
                "versions": [
                    {"version": v.version, "run": v.run, "at": v.at, "content": v.content}
                    for v in versions
                ],
                "changes": [e.to_json() for e in events],
            }
        )
    else:
        render_history(entity, versions, events, console)
    return 0


async def _runs(store: Store, args: argparse.Namespace, console: Console) -> int:
    if args.limit < 1:
        raise ConfigError("--limit: must be >= 1")
    found = await store.runs(args.limit)
    if args.format == "json":
        _dump([r.to_json() for r in found])
    else:
        render_runs(found, console)
    return 0


async def _run(args: argparse.Namespace) -> int:
    from .queries import open_store

    console = Console(file=sys.stdout, highlight=False, soft_wrap=True)
    try:
        store = await open_store(args.store)
    except SinkError as exc:  # no store there, or not one this code can read: exit 2
        raise ConfigError(str(exc)) from exc
    async with store:
        if args.command == "changes":
            return await _changes(store, args, console)
        if args.command == "history":
            return await _history(store, args, console)
        return await _runs(store, args, console)


def run_command(args: argparse.Namespace) -> int:
    """Run ``changes``, ``history`` or ``runs``; errors propagate as MetaingestError."""
    return anyio.run(_run, args)
