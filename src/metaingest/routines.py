"""Stored procedures and functions: the ``StoredProcedure`` entity and its naming rules.

A routine is named uniquely within its schema, because OpenMetadata requires it:

- PostgreSQL overloads functions by their input argument types, so every PostgreSQL routine
  is named ``name(argument types)`` as PostgreSQL itself prints a routine's identity
  (``regprocedure``, without the schema): ``add_tax(numeric, numeric)``, ``refresh()``. The
  name does not depend on argument names or defaults, and stays the same while
  overloads come and go; ``routine_name`` (OpenMetadata's ``displayName``) is the plain name.
  A signature longer than OpenMetadata's 256 characters is cut and ends in ``~`` and 12 hex
  digits of its SHA-256, so it stays unique and stable.
- MySQL / MariaDB have no overloading: a routine keeps its plain name, except that a function
  and a procedure may share one; then both get their kind appended (``total (FUNCTION)``,
  ``total (PROCEDURE)``).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, computed_field

from .entities import quote_name

__all__ = [
    "ProcedureType",
    "StoredProcedure",
    "openmetadata_language",
    "postgres_routine_name",
    "unique_mysql_names",
]

_MAX_NAME = 256  # OpenMetadata's entityName


class ProcedureType(StrEnum):
    """OpenMetadata's stored procedure types that the engines here have."""

    Function = "Function"
    StoredProcedure = "StoredProcedure"


# OpenMetadata's storedProcedureCode.language enum, by the engine's language name
_LANGUAGES = {
    "sql": "SQL",
    "plpgsql": "SQL",
    "plpython3u": "Python",
    "plpythonu": "Python",
    "plpython2u": "Python",
    "plv8": "JavaScript",
    "pljava": "Java",
    "javascript": "JavaScript",
}


def openmetadata_language(language: str | None) -> str:
    """OpenMetadata's language for an engine's routine language (``External`` when none fits)."""
    return _LANGUAGES.get((language or "").lower(), "External")


class StoredProcedure(BaseModel):
    """A stored procedure or function of a schema.

    ``arguments`` is the argument list as the engine prints it (names, modes, types,
    defaults); ``return_type`` is None for a procedure; ``volatility`` is PostgreSQL's
    ``IMMUTABLE``/``STABLE``/``VOLATILE`` or MySQL's ``DETERMINISTIC``/``NOT DETERMINISTIC``;
    ``definition`` is the full ``CREATE`` statement on PostgreSQL
    (``pg_get_functiondef``) and the routine body on MySQL / MariaDB.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    database_schema: str
    routine_name: str
    procedure_type: ProcedureType
    language: str | None = None
    arguments: str = ""
    return_type: str | None = None
    volatility: str | None = None
    definition: str | None = None
    description: str | None = None
    owner: str | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def fqn(self) -> str:
        """Fully qualified name: ``service.database.schema.name``."""
        return f"{self.database_schema}.{quote_name(self.name)}"

    def to_openmetadata(self) -> dict[str, Any]:
        """The routine as a CreateStoredProcedureRequest payload.

        The owner is not in it: OpenMetadata's ``owners`` are entity references that need
        the owner's id (a server resolves the name to a user or team first).
        """
        out: dict[str, Any] = {
            "name": self.name,
            "databaseSchema": self.database_schema,
            "storedProcedureType": self.procedure_type.value,
            "storedProcedureCode": {
                "language": openmetadata_language(self.language),
                "code": self.definition or "",
            },
        }
        if self.routine_name != self.name:
            out["displayName"] = self.routine_name
        if self.description is not None:
            out["description"] = self.description
        return out


def unique_mysql_names(routines: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """Unique names for (name, ROUTINE_TYPE) pairs: the plain name unless a function and a
    procedure share it (names compare case-insensitively in MySQL), then ``name (TYPE)``."""
    pairs = list(routines)
    counts = Counter(name.lower() for name, _kind in pairs)
    return {
        (name, kind): name if counts[name.lower()] == 1 else f"{name} ({kind})"
        for name, kind in pairs
    }


def postgres_routine_name(name: str, argument_types: str) -> str:
    """A PostgreSQL routine's unique name in its schema: ``name(argument types)``."""
    full = f"{name}({argument_types})"
    if len(full) <= _MAX_NAME:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:12]
    return f"{full[: _MAX_NAME - 13]}~{digest}"
