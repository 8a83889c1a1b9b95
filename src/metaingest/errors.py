"""The exception tree, grouped by what the runner does with each error.

::

    MetaingestError                 root of everything metaingest raises on purpose
    ├── ConfigError                 bad workflow file or arguments: exit 2, nothing runs
    │   └── MissingDependencyError  an optional driver is not installed: names the extra
    ├── SourceError                 fatal for the run: unreachable host, bad credentials,
    │                               missing database (names host, port, database; never
    │                               the password)
    ├── ExtractError                one unit (database, schema) failed: recorded with its
    │                               FQN, the other units go on
    ├── SinkError                   the sink could not write or commit its output
    └── EmptyRunError               nothing passed the filters (unless workflow.allow_empty)

Messages are one line meant for a person; the CLI prints ``str(error)`` and no traceback
unless ``--debug`` is given.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "EmptyRunError",
    "ExtractError",
    "MetaingestError",
    "MissingDependencyError",
    "SinkError",
    "SourceError",
]


class MetaingestError(Exception):
    """Root of every error metaingest raises on purpose."""


class ConfigError(MetaingestError):
    """The workflow configuration is invalid; the message names the key."""


class MissingDependencyError(ConfigError):
    """An optional driver is missing; the message names the extra to install."""

    def __init__(self, module: str, extra: str) -> None:
        super().__init__(
            f"the {module!r} driver is not installed: pip install 'metaingest[{extra}]'"
        )
        self.module = module
        self.extra = extra


class SourceError(MetaingestError):
    """The source cannot be used at all (fatal): the run stops before extracting."""


class ExtractError(MetaingestError):
    """Extraction of one unit or one table failed; carries the FQN of what failed."""

    def __init__(self, fqn: str, cause: str) -> None:
        super().__init__(f"{fqn}: {cause}")
        self.fqn = fqn
        self.cause = cause


class SinkError(MetaingestError):
    """The sink could not write or commit its output."""


class EmptyRunError(MetaingestError):
    """Discovery found nothing to extract after filtering: the run fails, nothing is published."""
