"""Text rendering of changes, histories and runs (rich styles on a terminal, plain elsewhere)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from itertools import groupby
from typing import Any

from rich.console import Console
from rich.text import Text

from .content import Diff
from .models import Change, EntityRecord, RunRecord, Version

__all__ = ["render_changes", "render_history", "render_runs"]

_MARK = {
    "added": ("+", "green"),
    "updated": ("~", "yellow"),
    "deleted": ("-", "red"),
    "restored": ("↺", "cyan"),
    "withheld": ("!", "magenta"),
    "out_of_scope": ("·", "dim"),
}
_MAX_VALUE = 80


def _value(value: Any) -> str:
    if isinstance(value, dict) and "name" in value:
        return str(value.get("data_type_display") or value.get("constraint_type") or "")
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 1] + "…"


def _fields(console: Console, fields: Diff, indent: str) -> None:
    for f in fields.added:
        console.print(Text.assemble(indent, ("+ ", "green"), f.name, "  ", _value(f.new)))
    for f in fields.deleted:
        console.print(Text.assemble(indent, ("- ", "red"), f.name, "  ", _value(f.old)))
    for f in fields.updated:
        line = Text.assemble(indent, ("~ ", "yellow"), f.name, ": ")
        line.append(_value(f.old), "red")
        line.append(" → ")
        line.append(_value(f.new), "green")
        console.print(line)


def _change_line(change: Change, indent: str) -> Text:
    mark, style = _MARK[change.change]
    line = Text.assemble(indent, (f"{mark} ", style), (change.fqn, "bold"), f"  {change.kind}, ")
    line.append(change.change.replace("_", " "), style)
    if change.version is not None and change.change in ("updated", "restored", "added"):
        line.append(f", v{change.version}")
    if change.breaking:
        line.append(", breaking", "bold red")
    return line


def render_changes(changes: Sequence[Change], console: Console) -> None:
    """Changes grouped by run, each entity with its field-level diff."""
    if not changes:
        console.print("no changes")
        return
    for run, group in groupby(changes, key=lambda c: c.run):
        items = list(group)
        console.print(Text.assemble(("run ", "bold"), (str(run), "bold"), f"  {items[0].at}"))
        for change in items:
            console.print(_change_line(change, "  "))
            _fields(console, change.fields, "      ")
    counts: dict[str, int] = {}
    for change in changes:
        counts[change.change] = counts.get(change.change, 0) + 1
    summary = ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in sorted(counts.items()))
    console.print(f"{len(changes)} change(s): {summary}")


def render_history(
    entity: EntityRecord | None,
    versions: Sequence[Version],
    events: Sequence[Change],
    console: Console,
) -> None:
    """One entity: where it stands, then each version and recorded event, oldest first."""
    if entity is not None:
        state = f"deleted at {entity.deleted_at}" if entity.deleted else "live"
        console.print(
            Text.assemble(
                (entity.fqn, "bold"),
                f"  {entity.kind}, v{entity.version}, {state}; first seen run "
                f"{entity.first_seen_run} ({entity.first_seen_at}), last seen run "
                f"{entity.last_seen_run} ({entity.last_seen_at})",
            )
        )
    for event in events:
        line = _change_line(event, "")
        line.append(f"  run {event.run}  {event.at}")
        console.print(line)
        _fields(console, event.fields, "    ")


def render_runs(runs: Sequence[RunRecord], console: Console) -> None:
    """Recent runs, newest first: status, when, counts and units."""
    if not runs:
        console.print("no runs")
        return
    for run in runs:
        counts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in run.counts.items() if v)
        units = ", ".join(f"{len(v)} {k}" for k, v in sorted(run.units.items()))
        style = {"published": "green", "discarded": "red"}.get(run.status, "yellow")
        line = Text.assemble(
            (f"run {run.id}", "bold"), "  ", (run.status, style), f"  {run.service}  "
        )
        line.append(f"{run.started_at} → {run.ended_at or '-'}")
        console.print(line)
        if counts or units:
            console.print(f"    {counts or 'no changes'}" + (f"; units: {units}" if units else ""))
        for fqn, message in run.warnings:
            console.print(Text.assemble("    ", ("warning ", "yellow"), f"{fqn}: {message}"))
