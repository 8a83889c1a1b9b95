"""Keep secrets out of everything a person or a file sees: errors, logs, reports.

Drivers echo connection URLs and sometimes the password itself in their messages; every
message that leaves the runner, the CLI or a log handler goes through ``Redactor``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

from pydantic import SecretStr

__all__ = ["RedactingFilter", "Redactor", "secrets_of"]

MASK = "***"
# scheme://user:password@host  →  scheme://user:***@host
_URL_PASSWORD = re.compile(r"([a-z][a-z0-9+.\-]*://[^\s:/@]*):[^\s@/]*@", re.IGNORECASE)


def secrets_of(source: Any) -> list[str]:
    """The secret strings of a source config: its password and the password in its URL."""
    found: list[str] = []
    for key in ("password", "url"):
        value = getattr(source, key, None)
        if isinstance(value, SecretStr):
            text = value.get_secret_value()
            if key == "url":
                match = re.match(r"[^:]+://[^:/@]*:([^@]*)@", text)
                text = match.group(1) if match else ""
            if text:
                found.append(text)
    return found


class Redactor:
    """Replaces known secrets and URL passwords in text with ``***``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # longest first, so a secret that contains another is masked whole
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return _URL_PASSWORD.sub(rf"\1:{MASK}@", text)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the formatted message (and any traceback text)."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redact = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._redact(record.exc_text)
        return True
