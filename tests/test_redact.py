"""Redaction masks a secret where it stands as a secret, never inside a word; in linear time."""

from __future__ import annotations

import asyncpg
import pytest

from metaingest.config import parse_config
from metaingest.redact import Redactor
from metaingest.runner import describe

MASKED_NOWHERE = [
    "ConnectionDoesNotExistError: connection was closed in the middle of operation",
    "Connect call failed ('127.0.0.1', 5433)",
    "(1045, \"Access denied for user 'x'@'127.0.0.1' (using password: YES)\")",
]


@pytest.mark.parametrize("password", ["x", "e", "1", "xy", "ab", "0.", "-"])
def test_short_passwords_garble_nothing_but_are_masked_in_secret_places(password: str) -> None:
    redact = Redactor([password])
    for message in MASKED_NOWHERE:
        assert redact(message) == message
    assert redact(f"postgresql://u:{password}@h:5432/d") == "postgresql://u:***@h:5432/d"
    assert redact(f"host=h password={password} user=u") == "host=h password=*** user=u"
    assert redact(f"{{'user': 'u', 'password': '{password}'}}") == (
        "{'user': 'u', 'password': '***'}"
    )


def test_the_exception_line_of_a_real_driver_error_is_not_garbled() -> None:
    exc = asyncpg.exceptions.ConnectionDoesNotExistError(
        "connection was closed in the middle of operation"
    )
    assert describe(exc, Redactor(["x"])) == (
        "ConnectionDoesNotExistError: connection was closed in the middle of operation"
    )


def test_a_password_equal_to_the_user_name_does_not_mask_the_user() -> None:
    config = parse_config(
        {
            "source": {"type": "mysql", "username": "carol9", "password": "carol9"},
            "sink": {"type": "jsonl", "path": "o"},
        }
    )
    redact = Redactor.for_source(config.source)
    message = "(1045, \"Access denied for user 'carol9'@'127.0.0.1' (using password: YES)\")"
    assert redact(message) == message
    assert redact("mysql://carol9:carol9@h:3306") == "mysql://carol9:***@h:3306"
    assert redact("user=carol9 password=carol9") == "user=carol9 password=***"


@pytest.mark.parametrize("password", ["denied", "password", "timeout", "Connection"])
def test_a_password_that_is_a_common_word_leaves_prose_alone(password: str) -> None:
    redact = Redactor([password])
    prose = (
        "Access denied for user 'u' (using password: YES); connection timeout; Connection refused"
    )
    assert redact(prose) == prose
    assert redact(f"mysql://u:{password}@h") == "mysql://u:***@h"
    assert redact(f"dsn: password={password} host=h") == "dsn: password=*** host=h"


@pytest.mark.parametrize("password", ["a.b*c(d)+[e]", "^(x|y)$\\1", "p@ss:w/rd?", "(.*)+"])
def test_passwords_with_regex_metacharacters_are_masked_literally(password: str) -> None:
    redact = Redactor([password, "hunter2"])
    assert redact(f"login with {password} failed") == "login with *** failed"
    assert redact(f"'{password}'") == "'***'"
    assert redact("aXb*c(d)+[e] (x|y) plain text") == "aXb*c(d)+[e] (x|y) plain text"


def test_strong_secrets_are_masked_as_whole_tokens_only() -> None:
    redact = Redactor(["hunter2"])
    assert redact("svc.db.hunter2 bob:hunter2 'hunter2' hunter2") == "svc.db.*** bob:*** '***' ***"
    assert redact("hunter22 xhunter2 hunter2x") == "hunter22 xhunter2 hunter2x"
    assert redact("user_hunter2") == "user_***"  # an underscore does not hide a secret


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("postgresql://u:pw@h:5432/d", "postgresql://u:***@h:5432/d"),
        ("postgresql+asyncpg://u:p%40w@h/d", "postgresql+asyncpg://u:***@h/d"),
        ("mysql+aiomysql://:only@h", "mysql+aiomysql://:***@h"),
        (
            "see postgresql://u@h:5432/d and https://h/x",
            "see postgresql://u@h:5432/d and https://h/x",
        ),
        ("a://u:1@h b://v:2@k", "a://u:***@h b://v:***@k"),
    ],
)
def test_url_passwords_are_masked_known_or_not(message: str, expected: str) -> None:
    assert Redactor()(message) == expected


def test_a_url_password_is_masked_encoded_and_decoded() -> None:
    config = parse_config(
        {
            "source": {"type": "sqlalchemy", "url": "postgresql+asyncpg://u:Pa%24%24w0rd@h/d"},
            "sink": {"type": "jsonl", "path": "o"},
        }
    )
    redact = Redactor.for_source(config.source)
    assert redact("rejected Pa$$w0rd and Pa%24%24w0rd") == "rejected *** and ***"


def test_a_password_in_connect_args_is_a_secret_too() -> None:
    config = parse_config(
        {
            "source": {
                "type": "sqlalchemy",
                "url": "postgresql+psycopg://u@h/d",
                "connect_args": {"password": "Sw0rdf1sh!", "sslmode": "disable"},
            },
            "sink": {"type": "jsonl", "path": "o"},
        }
    )
    redact = Redactor.for_source(config.source)
    assert redact("auth failed for Sw0rdf1sh! (sslmode disable)") == (
        "auth failed for *** (sslmode disable)"
    )


@pytest.mark.timeout(30)
def test_a_megabyte_of_adversarial_text_is_redacted_correctly() -> None:
    redact = Redactor(["hunter2", "x"])
    run = "a0.+-" * 40_000  # the run that made the old URL pattern quadratic
    tail = " postgresql://u:pw@h/d password=hunter2 hunter2 ConnectionDoesNotExistError"
    message = (run + "://" + run + ":" + run + tail) * 2
    assert len(message) > 1_000_000
    out = redact(message)
    expected_tail = " postgresql://u:***@h/d password=*** *** ConnectionDoesNotExistError"
    assert out == (run + "://" + run + ":" + run + expected_tail) * 2
    dense = "://a:" * 200_000 + "password='" * 100_000 + "p:" * 100_000 + "://u:s@h"
    assert redact(dense).endswith("://u:***@h")
    assert redact(dense)[:1_000] == dense[:1_000]
