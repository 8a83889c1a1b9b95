"""StoredProcedure entities from the rows of PostgreSQL's ``routines`` query."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from metaingest.routines import ProcedureType, StoredProcedure, postgres_routine_name

__all__ = ["build_routines"]

_KINDS = {"f": ProcedureType.Function, "p": ProcedureType.StoredProcedure}
_VOLATILITY = {"i": "IMMUTABLE", "s": "STABLE", "v": "VOLATILE"}


def build_routines(
    schema_fqn: str, rows: Sequence[Mapping[str, Any]], owners: bool
) -> tuple[StoredProcedure, ...]:
    """The schema's routines in name order, each named ``name(argument types)``."""
    procedures = [
        StoredProcedure(
            name=postgres_routine_name(row["name"], row["argument_types"]),
            database_schema=schema_fqn,
            routine_name=row["name"],
            procedure_type=_KINDS[row["kind"]],
            language=row["language"],
            arguments=row["arguments"] or "",
            return_type=row["return_type"],
            volatility=_VOLATILITY.get(row["volatility"]),
            definition=row["definition"],
            description=row["description"],
            owner=row["owner"] if owners else None,
        )
        for row in rows
    ]
    return tuple(sorted(procedures, key=lambda p: p.name))
