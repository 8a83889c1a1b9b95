"""Config messages: every bad key named with a suggestion, YAML problems quoted by line,
duplicate keys, shell-style variables, alias bombs, pathological filter regexes, ``~``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from metaingest.config import SqliteSource, load_config, parse_config
from metaingest.errors import ConfigError
from metaingest.filters import Filter

from .clikit import run_cli


def _doc(**source: Any) -> dict[str, Any]:
    return {
        "source": {"type": "sqlite", "path": "x.db", **source},
        "sink": {"type": "jsonl", "path": "o.jsonl"},
    }


def _error(doc: Any, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(doc, env={} if env is None else env)
    text = str(info.value)
    assert "\n" not in text
    return text


def _load_error(tmp_path: Path, text: str) -> str:
    path = tmp_path / "w.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    message = str(info.value)
    assert "\n" not in message
    return message.removeprefix(f"{path}: ")


def test_every_unknown_key_is_named_with_a_suggestion() -> None:
    doc = _doc(thread=4, colour="blue", include_view=False)
    doc["workflows"] = {}
    doc["sink"]["pth"] = "x"
    assert _error(doc).split("; ") == [
        "source.thread: unknown key (did you mean 'threads'?)",
        "source.colour: unknown key",
        "source.include_view: unknown key (did you mean 'include_views'?)",
        "sink.pth: unknown key (did you mean 'path'?)",
        "workflows: unknown key (did you mean 'workflow'?)",
    ]


def test_suggestions_come_from_the_right_model() -> None:
    doc = {
        "source": {"type": "postgres", "pasword": "x", "uri": "postgresql://h/d"},
        "sink": {"type": "jsonl", "path": "o"},
        "workflow": {"retry": 2, "schema_filter": {}},
    }
    assert _error(doc).split("; ") == [
        "source.pasword: unknown key (did you mean 'password'?)",
        "source.uri: unknown key (did you mean 'url'?)",
        "workflow.retry: unknown key (did you mean 'retries'?)",
        "workflow.schema_filter: unknown key",
    ]
    nested = _doc(schema_filter={"include": ["^a"], "excludes": []})
    assert _error(nested) == (
        "source.schema_filter.include: unknown key (did you mean 'includes'?)"
    )
    assert _error({"source": {"type": "postgresql"}, "sink": {"type": "jsonl", "path": "o"}}) == (
        "source: unknown type 'postgresql' (did you mean 'postgres'? expected one of "
        "'postgres', 'mysql', 'mariadb', 'sqlite', 'sqlalchemy')"
    )


def test_all_validation_errors_are_reported_in_one_line() -> None:
    doc = _doc(threads=0, connect_timeout=-1)
    doc["workflow"] = {"success_threshold": 120, "retries": -1}
    assert _error(doc).split("; ") == [
        "source.threads: must be >= 1",
        "source.connect_timeout: must be > 0",
        "workflow.success_threshold: must be <= 100",
        "workflow.retries: must be >= 0",
    ]


def test_a_yaml_syntax_error_quotes_its_line(tmp_path: Path) -> None:
    text = "source:\n  type: sqlite\n  path: x.db\n  threads: [2\nsink: {type: jsonl, path: o}\n"
    assert _load_error(tmp_path, text) == (
        "not valid YAML at line 5: 'sink: {type: jsonl, path: o}': expected ',' or ']', but got"
        " ':' (while parsing a flow sequence at line 4: 'threads: [2')"
    )
    tab = "source:\n\ttype: sqlite\n"
    assert _load_error(tmp_path, tab).startswith("not valid YAML at line 2: 'type: sqlite': ")


def test_a_yaml_syntax_error_never_quotes_a_password(tmp_path: Path) -> None:
    text = "source:\n  type: postgres\n  password: Xy9: zz\nsink: {type: jsonl, path: o}\n"
    message = _load_error(tmp_path, text)
    assert (
        message == "not valid YAML at line 3: 'password: ***': mapping values are not allowed here"
    )
    url = "source:\n  url: postgresql://u:Xy9@h/d: x\n"
    message = _load_error(tmp_path, url)
    assert "Xy9" not in message and "line 2" in message


def test_a_duplicate_key_names_the_key_and_both_lines(tmp_path: Path) -> None:
    text = (
        "source:\n  type: sqlite\n  threads: 2\n  path: x.db\n  threads: 8\n"
        "sink: {type: jsonl, path: o}\n"
    )
    assert _load_error(tmp_path, text) == "duplicate key 'threads' at lines 3 and 5"
    top = "source: {type: sqlite, path: x.db}\nsink: {type: jsonl, path: o}\nsource: {}\n"
    assert _load_error(tmp_path, top) == "duplicate key 'source' at lines 1 and 3"


def test_merge_keys_may_be_overridden_without_a_duplicate_error(tmp_path: Path) -> None:
    path = tmp_path / "w.yaml"
    path.write_text(
        "source:\n  <<: {type: sqlite, path: x.db, threads: 2}\n  threads: 4\n"
        "sink: {type: jsonl, path: o}\n",
        encoding="utf-8",
    )
    config = load_config(path, env={})
    assert isinstance(config.source, SqliteSource) and config.source.threads == 4


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("$HOST", "source.service_name: $HOST is not read from the environment: write ${HOST}"),
        ("db-${HOST", "source.service_name: unclosed or invalid ${: write ${NAME}"),
        ("${}", "source.service_name: unclosed or invalid ${"),
        ("${1X}", "source.service_name: unclosed or invalid ${"),
    ],
)
def test_shell_variables_and_unclosed_braces_are_errors(value: str, message: str) -> None:
    assert _error(_doc(service_name=value)).startswith(message)


def test_an_error_in_a_password_never_shows_its_text() -> None:
    doc = {"source": {"type": "postgres", "password": "pa$word9"}, "sink": _doc()["sink"]}
    text = _error(doc)
    assert text.startswith("source.password: $NAME is not read from the environment")
    assert "word9" not in text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("$${HOME}", "${HOME}"),
        ("a$$b", "a$b"),
        ("a$$-b", "a$$-b"),
        ("$$HOME", "$HOME"),
        ("$$${X}", "$${X}"),
        ("p4$5 $ end$", "p4$5 $ end$"),
        ("${X}$${X}", "v${X}"),
    ],
)
def test_dollar_escapes(value: str, expected: str) -> None:
    config = parse_config(_doc(service_name=value), env={"X": "v"})
    assert config.source.service_name == expected


def test_values_from_the_environment_are_never_scanned_again() -> None:
    doc = {"source": {"type": "postgres", "password": "${PW}"}, "sink": _doc()["sink"]}
    for secret in ("Tr0ub${dor}&3", "s3cr${et:-}!", "$HOME", "$${x}"):
        config = parse_config(doc, env={"PW": secret})
        for copy in (
            config,
            config.with_threads(4),
            config.with_strict(),
            config.with_threads(2).with_strict(),
        ):
            password = getattr(copy.source, "password", None)
            assert password is not None and password.get_secret_value() == secret


def test_with_threads_keeps_the_once_interpolated_values_and_validates() -> None:
    doc = _doc(service_name="${SVC}")
    config = parse_config(doc, env={"SVC": "literal ${NOT_SET} $x"})
    again = config.with_threads(3).with_strict()
    assert again.source.service_name == "literal ${NOT_SET} $x"
    assert (again.source.threads, again.workflow.strict) == (3, True)
    assert again.sink == config.sink
    with pytest.raises(ConfigError, match=r"^source\.threads: must be >= 1$"):
        config.with_threads(0)


def _bomb(levels: int) -> str:
    lines = ['  l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        lines.append(f"  l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]")
    return "source:\n  type: sqlite\n  path: x.db\n  connect_args: {}\nbomb:\n" + "\n".join(lines)


@pytest.mark.timeout(30)
def test_an_alias_bomb_is_rejected_without_expanding_it(tmp_path: Path) -> None:
    text = _bomb(9) + "\nsink: {type: jsonl, path: o}\n"
    assert len(text) < 700
    assert _load_error(tmp_path, text) == (
        "the workflow file expands to more than 100,000 values through its aliases "
        "(&anchor/*alias); a workflow needs a few dozen"
    )


def test_shared_anchors_within_bounds_are_interpolated_once_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "w.yaml"
    path.write_text(
        "source:\n  type: sqlite\n  path: x.db\n"
        "  schema_filter: &f {includes: ['^${P}_'], excludes: []}\n"
        "  table_filter: *f\nsink: {type: jsonl, path: o}\n",
        encoding="utf-8",
    )
    config = load_config(path, env={"P": "sales"})
    assert config.source.schema_filter.includes == ["^sales_"]
    assert config.source.table_filter == config.source.schema_filter


def test_a_recursive_alias_is_an_error(tmp_path: Path) -> None:
    text = "source: &s\n  type: sqlite\n  path: x.db\n  connect_args: *s\nsink: {}\n"
    assert _load_error(tmp_path, text) == (
        "the workflow file refers to itself through an alias (a cycle)"
    )


@pytest.mark.parametrize(
    "pattern",
    [r"^([a-z_]+)*_old$", r"(a+)+", r"^(\w+\s?)*$", r"(.*,)*x", r"((ab)*c)+", r"(a+){2,9}"],
)
def test_filter_regexes_that_nest_repetitions_are_rejected(pattern: str) -> None:
    doc = _doc(schema_filter={"excludes": ["^ok$", pattern]})
    assert _error(doc).startswith(
        f"source.schema_filter.excludes[1]: regex {pattern!r} repeats a group that itself repeats"
    )


@pytest.mark.parametrize(
    "pattern",
    [
        r"^[a-z_]*_old$",
        r"^(fact|dim)_",
        r"(\d+\.){3}\d+",
        r"^([a-z_]++)*_old$",
        r"(?>[a-z_]+)*_old$",
        r"(ab?)*",
    ],
)
def test_safe_filter_regexes_are_accepted(pattern: str) -> None:
    config = parse_config(_doc(table_filter={"includes": [pattern]}))
    assert config.source.table_filter.includes == [pattern]


@pytest.mark.timeout(30)
def test_the_suggested_rewrite_matches_the_same_names() -> None:
    nested = re.compile(r"^([a-z_]+)*_old$")
    config = parse_config(_doc(schema_filter={"excludes": [r"^[a-z_]*_old$"]}))
    schema_filter = Filter.from_config(config.source.schema_filter)
    names = ["sales_old", "_old", "a_b_old", "old", "sales_old2", "Sales_old", "x_olds", "ab!"]
    for name in names:  # short names: the nested form is still fast on these
        assert schema_filter(name) == (nested.match(name) is None), name
    assert schema_filter("abcdefghijklmnopqrstuvwxyz!")  # 27 characters: seconds when nested


def test_a_home_folder_in_path_keys_is_expanded() -> None:
    home = Path("~").expanduser()
    doc = {
        "source": {"type": "sqlite", "path": "~/c.db", "attach": {"aux": "~/a.db"}},
        "sink": {"type": "jsonl", "path": "~/out/x.jsonl"},
    }
    config = parse_config(doc)
    assert isinstance(config.source, SqliteSource)
    assert config.source.path == home / "c.db"
    assert config.source.attach == {"aux": home / "a.db"}
    assert config.sink.path == home / "out" / "x.jsonl"
    assert config.with_threads(2).sink.path == home / "out" / "x.jsonl"


def test_the_cli_names_every_unknown_key(tmp_path: Path) -> None:
    (tmp_path / "w.yaml").write_text(
        "source: {type: sqlite, path: x.db, thread: 2, shcema_filter: {}}\n"
        "sink: {type: jsonl, path: o}\n",
        encoding="utf-8",
    )
    result = run_cli("validate", "-c", "w.yaml", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "metaingest: error: source.thread: unknown key (did you mean 'threads'?); "
        "source.shcema_filter: unknown key (did you mean 'schema_filter'?)\n"
    )


def test_the_cli_rejects_a_pathological_filter_before_connecting(tmp_path: Path) -> None:
    (tmp_path / "w.yaml").write_text(
        "source:\n  type: postgres\n  port: 1\n"
        "  schema_filter:\n    excludes: ['^([a-z_]+)*_old$']\n"
        "sink: {type: jsonl, path: o}\n",
        encoding="utf-8",
    )
    result = run_cli("ingest", "-c", "w.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith(
        "metaingest: error: source.schema_filter.excludes[0]: regex '^([a-z_]+)*_old$' repeats"
    )
    assert result.stderr.count("\n") == 1


@pytest.mark.timeout(60)
def test_the_cli_rejects_an_alias_bomb(tmp_path: Path) -> None:
    (tmp_path / "w.yaml").write_text(
        _bomb(9) + "\nsink: {type: jsonl, path: o}\n", encoding="utf-8"
    )
    result = run_cli("validate", "-c", "w.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert "expands to more than 100,000 values through its aliases" in result.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "source: {type: postgres, password: $PGPASSWORD}\nsink: {type: jsonl, path: o}\n",
            "source.password: $NAME is not read from the environment: write ${NAME} to read it,"
            " or $$NAME for a literal $NAME",
        ),
        (
            "source: {type: postgres, host: '${PGHOST'}\nsink: {type: jsonl, path: o}\n",
            "source.host: unclosed or invalid ${: write ${NAME} or ${NAME:-default} to read the"
            " environment, or $${ for a literal ${",
        ),
        (
            "source:\n  type: sqlite\n  path: a.db\n  path: b.db\nsink: {type: jsonl, path: o}\n",
            "w.yaml: duplicate key 'path' at lines 3 and 4",
        ),
        (
            "source:\n  type: sqlite\n  path: a.db\n threads: 2\nsink: {type: jsonl, path: o}\n",
            "w.yaml: not valid YAML at line 4: 'threads: 2': expected <block end>, but found"
            " '<block mapping start>' (while parsing a block mapping at line 1: 'source:')",
        ),
    ],
)
def test_the_cli_reports_file_problems_in_one_line(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "w.yaml").write_text(text, encoding="utf-8")
    result = run_cli("validate", "-c", "w.yaml", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"metaingest: error: {message}\n"
