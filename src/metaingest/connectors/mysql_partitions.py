"""MySQL/MariaDB partitioning, from one schema's rows of ``information_schema.PARTITIONS``.

A MySQL partition is not a table of its own (unlike PostgreSQL's), so a partitioned table
carries its partitions in ``Partitioning.partitions``, each with its bound as the DDL says it
(``VALUES LESS THAN (2024)``, ``VALUES IN (1,2)``; none for HASH and KEY) and the names of
its subpartitions; ``subpartitioning`` tells how those are made.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["partitionings"]

_NAMES = re.compile(r"`((?:[^`]|``)*)`")
_NAME_LIST = re.compile(r"^\s*`(?:[^`]|``)*`(?:\s*,\s*`(?:[^`]|``)*`)*\s*$")


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


def _key(method: str, expression: str | None, primary: tuple[str, ...]) -> dict[str, Any]:
    """Strategy, key columns and key expression (``RANGE (year(`created`))``) of one level."""
    raw = (expression or "").strip()
    if _NAME_LIST.match(raw):
        columns = tuple(name.replace("``", "`") for name in _NAMES.findall(raw))
    elif not raw and method.endswith("KEY"):
        columns = primary  # KEY () partitions by the primary key
    else:
        columns = ()
    return {"strategy": method, "columns": columns, "expression": f"{method} ({raw})"}


def _bound(method: str, description: str | None) -> str | None:
    """A partition's bound as ``PARTITION p ...`` spells it; None for HASH and KEY."""
    if description is None:
        return None
    if method.startswith("RANGE"):
        if description == "MAXVALUE":
            return "VALUES LESS THAN MAXVALUE"
        return f"VALUES LESS THAN ({description})"
    if method.startswith("LIST"):
        # MariaDB reports a LIST table's DEFAULT partition with description 0 (as if it were
        # VALUES IN (0)): information_schema cannot tell them apart
        return "DEFAULT" if description == "DEFAULT" else f"VALUES IN ({description})"
    return description


def partitionings(
    rows: Iterable[Mapping[str, Any]], primary_keys: Mapping[str, tuple[str, ...]]
) -> dict[str, dict[str, Any]]:
    """Each partitioned table's ``Partitioning`` fields, from its PARTITIONS rows."""
    by_table: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        by_table[str(_text(row["table_name"]))].append(row)
    out: dict[str, dict[str, Any]] = {}
    for table, parts in by_table.items():
        parts.sort(key=lambda r: (int(r["position"] or 0), int(r["sub_position"] or 0)))
        first = parts[0]
        method = str(_text(first["method"]))
        primary = primary_keys.get(table, ())
        fields = _key(method, _text(first["expression"]), primary)
        partitions: dict[str, dict[str, Any]] = {}
        for row in parts:
            name = str(_text(row["name"]))
            partition = partitions.setdefault(
                name, {"name": name, "bound": _bound(method, _text(row["description"]))}
            )
            sub = _text(row["subpartition"])
            if sub is not None:
                partition.setdefault("subpartitions", []).append(sub)
        fields["partitions"] = list(partitions.values())
        sub_method = _text(first["sub_method"])
        if sub_method:
            fields["subpartitioning"] = _key(sub_method, _text(first["sub_expression"]), primary)
        out[table] = fields
    return out
