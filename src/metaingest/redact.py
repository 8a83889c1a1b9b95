"""Keep secrets out of everything a person or a file sees: errors, logs, reports.

Drivers echo connection URLs and sometimes the password itself in their messages; every
message that leaves the runner, the CLI or a log handler goes through ``Redactor``.

A secret is masked where it can stand as a secret, so that masking neither leaks nor garbles:

- the password of any URL's user-info (``scheme://user:***@host``), known or not;
- the value of a ``password=``/``passwd=``/``pwd=`` field, and of a quoted
  ``'password': '...'`` entry (a repr or JSON of connection arguments);
- a known secret as a whole token: not inside a longer word (a password ``x`` leaves
  ``ConnectionDoesNotExistError`` alone).

A weak secret — shorter than 4 characters, letters only up to 16 (a word that also occurs in
ordinary messages), or equal to the user name, host, port or database — is masked only in the
first two places: masking every ``'bob'`` when the password is ``bob`` would tell the reader
the password. Every pattern is linear in the message length (no nested or unbounded
backtracking), so a megabyte-long message costs milliseconds.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote

from pydantic import SecretStr

__all__ = ["RedactingFilter", "Redactor", "secrets_of"]

MASK = "***"
# ://user:password@  →  ://user:***@   (starts at the literal "://"; bounded parts)
_URL_PASSWORD = re.compile(r"://([^\s:/@]{0,256}):[^\s@/]{1,1024}@")
# password=value, pwd = 'value'
_FIELD = re.compile(
    r"(?<![^\W_])((?:password|passwd|pwd)\s{0,8}=\s{0,8})"
    r"('[^'\n]{0,1024}'|\"[^\"\n]{0,1024}\"|[^\s'\";&,)]{1,1024})",
    re.IGNORECASE,
)
# 'password': 'value', "pwd": "value"
_QUOTED_FIELD = re.compile(
    r"((['\"])(?:password|passwd|pwd)\2\s{0,8}[:=]\s{0,8})('[^'\n]{0,1024}'|\"[^\"\n]{0,1024}\")",
    re.IGNORECASE,
)
_PASSWORD_KEY = re.compile(r"password|passwd|pwd", re.IGNORECASE)
_PUBLIC_KEYS = ("username", "host", "port", "database", "service_name")


def secrets_of(source: Any) -> list[str]:
    """The secret strings of a source config: its password and the password in its URL."""
    found: list[str] = []
    for key in ("password", "url"):
        value = getattr(source, key, None)
        if isinstance(value, SecretStr):
            text = value.get_secret_value()
            if key == "url":
                match = re.match(r"[^:]{0,64}://[^:/@]*:([^@]*)@", text)
                text = match.group(1) if match else ""
            if text:
                found.append(text)
    return found


def _weak(secret: str, public: set[str]) -> bool:
    """A secret that may well occur in a message as ordinary text."""
    return len(secret) < 4 or secret in public or (secret.isalpha() and len(secret) <= 16)


def _token(secret: str) -> str:
    """A pattern for ``secret`` as a whole token: no letter or digit glued to either end."""
    word = re.compile(r"[^\W_]")
    before = r"(?<![^\W_])" if word.match(secret[0]) else ""
    after = r"(?![^\W_])" if word.match(secret[-1]) else ""
    return before + re.escape(secret) + after


def _mask_value(match: re.Match[str]) -> str:
    value = match.group(match.lastindex or 0)
    quote = value[0] if value[:1] in ("'", '"') and len(value) > 1 else ""
    return f"{match.group(1)}{quote}{MASK}{quote}"


class Redactor:
    """Masks URL passwords, password fields and known secrets (as whole tokens) with ``***``."""

    def __init__(self, secrets: Iterable[str] = (), public: Iterable[str] = ()) -> None:
        known = {s for s in secrets if s}
        shown = {p for p in public if p}
        strong = sorted((s for s in known if not _weak(s, shown)), key=len, reverse=True)
        # longest first, so a secret that contains another is masked whole
        self._tokens = re.compile("|".join(_token(s) for s in strong)) if strong else None

    @classmethod
    def for_source(cls, source: Any) -> Redactor:
        """The redactor of a source config: its secrets, with its names as public text."""
        secrets = secrets_of(source)
        secrets += [unquote(s) for s in secrets if unquote(s) != s]
        arguments = getattr(source, "connect_args", None) or {}
        secrets += [
            str(value)
            for key, value in arguments.items()
            if _PASSWORD_KEY.fullmatch(str(key)) and isinstance(value, str)
        ]
        public = [str(getattr(source, key, "") or "") for key in _PUBLIC_KEYS]
        return cls(secrets, public)

    def __call__(self, text: str) -> str:
        if self._tokens is not None:
            text = self._tokens.sub(MASK, text)
        if "=" in text:
            text = _FIELD.sub(_mask_value, text)
        if "'" in text or '"' in text:
            text = _QUOTED_FIELD.sub(_mask_value, text)
        if "://" in text:
            text = _URL_PASSWORD.sub(rf"://\1:{MASK}@", text)
        return text


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
