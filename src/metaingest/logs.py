"""Logging for the command line: level, text or JSON lines, stderr or a file, secrets masked.

Every handler carries a ``RedactingFilter``, so a secret never reaches a terminal or a file
whatever the format. JSON lines hold ``timestamp``, ``level``, ``logger``, ``message``, any
``extra=`` fields the call passed (``fqn`` names the unit or object concerned) and, for an
exception, its redacted traceback.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

from metaingest.redact import RedactingFilter, Redactor

__all__ = ["JsonFormatter", "LogFormat", "configure_logging", "redact_handlers"]

LogFormat = Literal["text", "json"]
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Attributes every LogRecord has; anything else on a record came in through ``extra=``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
}


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a single-line JSON object."""
        stamp = datetime.fromtimestamp(record.created, UTC)
        data: dict[str, Any] = {
            "timestamp": stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                data[key] = value if _plain(value) else str(value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            data["exception"] = record.exc_text
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def _plain(value: object) -> bool:
    if isinstance(value, list | tuple):
        return all(_plain(v) for v in value)
    return value is None or isinstance(value, str | int | float | bool)


class _ExtrasRedactingFilter(RedactingFilter):
    """Redacts the message, the traceback and every string passed through ``extra=``."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__(redactor)
        self._mask = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask secrets in place; never drops a record."""
        for key, value in vars(record).items():
            if key in _STANDARD:
                continue
            if isinstance(value, str):
                setattr(record, key, self._mask(value))
            elif isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
                setattr(record, key, [self._mask(v) for v in value])
        return super().filter(record)


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is now, so a live display can redirect it."""

    def emit(self, record: logging.LogRecord) -> None:
        """Emit to the current ``sys.stderr``."""
        self.setStream(sys.stderr)
        super().emit(record)


def configure_logging(
    level: str = "warning",
    fmt: LogFormat = "text",
    file: str | None = None,
    redactor: Redactor | None = None,
) -> logging.Handler:
    """Replace the root logger's handlers with one (stderr or ``file``); return it."""
    handler: logging.Handler
    if file is not None:
        handler = logging.FileHandler(file, encoding="utf-8")
    else:
        handler = _StderrHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(_ExtrasRedactingFilter(redactor or Redactor()))
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler


def redact_handlers(redactor: Redactor) -> None:
    """Mask ``redactor``'s secrets on every handler of the root logger."""
    for handler in logging.getLogger().handlers:
        for old in [f for f in handler.filters if isinstance(f, RedactingFilter)]:
            handler.removeFilter(old)
        handler.addFilter(_ExtrasRedactingFilter(redactor))
