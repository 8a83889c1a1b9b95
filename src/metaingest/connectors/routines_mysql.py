"""StoredProcedure entities from the rows of MySQL / MariaDB's ``routines`` queries."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from metaingest.routines import ProcedureType, StoredProcedure, unique_mysql_names

__all__ = ["build_routines"]

_KINDS = {"FUNCTION": ProcedureType.Function, "PROCEDURE": ProcedureType.StoredProcedure}

Row = Mapping[str, Any]


def build_routines(
    schema_fqn: str,
    routines: Sequence[Row],
    parameters: Sequence[Row],
    owners: bool,
    text: Callable[[Any], str | None],
) -> tuple[StoredProcedure, ...]:
    """The schema's routines in name order; ``text`` decodes a catalog value."""
    params: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for row in sorted(parameters, key=lambda r: int(r["ordinal_position"])):
        params[(str(text(row["routine_name"])), str(text(row["kind"])))].append(row)
    keys = [(str(text(r["name"])), str(text(r["kind"]))) for r in routines]
    names = unique_mysql_names(keys)
    out = []
    for row, key in zip(routines, keys, strict=True):
        name, kind = key
        procedure = kind == "PROCEDURE"
        arguments = ", ".join(
            " ".join(
                part
                for part in (
                    str(text(p["mode"])) if procedure and p["mode"] else None,
                    text(p["name"]),
                    text(p["data_type"]),
                )
                if part
            )
            for p in params.get(key, ())
        )
        deterministic = str(text(row["is_deterministic"])) == "YES"
        out.append(
            StoredProcedure(
                name=names[key],
                database_schema=schema_fqn,
                routine_name=name,
                procedure_type=_KINDS[kind],
                language=text(row["language"]),
                arguments=arguments,
                return_type=None if procedure else text(row["return_type"]),
                volatility="DETERMINISTIC" if deterministic else "NOT DETERMINISTIC",
                definition=text(row["definition"]),
                description=text(row["comment"]) or None,
                owner=text(row["definer"]) if owners else None,
            )
        )
    return tuple(sorted(out, key=lambda p: p.name))
