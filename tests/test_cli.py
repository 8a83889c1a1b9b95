"""The command line, run as a user runs it: python -m metaingest in a subprocess."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from .clikit import ROOT, build_demo, run_cli


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, cwd=cwd)


@pytest.fixture
def demo_dir(tmp_path: Path) -> Path:
    """A copy of the quick start: the demo built and its workflow file, in tmp_path."""
    build_demo(tmp_path)
    return tmp_path


def test_demo_quick_start(demo_dir: Path) -> None:
    result = run("ingest", "-c", "demo.yaml", "--report", "report.json", cwd=demo_dir)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "metaingest: ok" in result.stdout
    assert "wrote out/demo.jsonl" in result.stdout
    lines = (demo_dir / "out" / "demo.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 14  # 1 database, 3 schemas, 10 tables and views
    report = json.loads((demo_dir / "report.json").read_text(encoding="utf-8"))
    assert (report["tables"], report["views"], report["success_pct"]) == (8, 2, 100.0)
    assert len(report["units"]) == 3


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{type: sqlite, path: out/demo/shop.db, threads: 0}", "source.threads: must be >= 1"),
        ("{type: sqlite, path: out/demo/shop.db, colour: blue}", "source.colour: unknown key"),
        (
            "{type: sqlite, path: out/demo/shop.db, schema_filter: {includes: ['(']}}",
            "source.schema_filter.includes[0]: invalid regex '(': "
            "missing ), unterminated subpattern at position 0",
        ),
        (
            "{type: sqlite, path: out/demo/nope.db}",
            "sqlite: out/demo/nope.db: no such database file",
        ),
        (
            "{type: oracle}",
            "source: unknown type 'oracle' (expected one of 'postgres', 'mysql',"
            " 'mariadb', 'sqlite', 'sqlalchemy')",
        ),
    ],
)
def test_bad_config_is_one_line_and_exit_2(demo_dir: Path, source: str, message: str) -> None:
    text = f"source: {source}\nsink: {{type: jsonl, path: out/bad.jsonl}}\n"
    (demo_dir / "bad.yaml").write_text(text, encoding="utf-8")
    result = run("ingest", "-c", "bad.yaml", cwd=demo_dir)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"metaingest: error: {message}\n"
    assert not (demo_dir / "out" / "bad.jsonl").exists()


def test_unreadable_attached_file_is_named(demo_dir: Path) -> None:
    (demo_dir / "out" / "demo" / "people.db").write_bytes(b"not a database" * 100)
    result = run("ingest", "-c", "demo.yaml", cwd=demo_dir)
    assert result.returncode == 2
    assert result.stderr == (
        "metaingest: error: sqlite: out/demo/people.db: file is not a database\n"
    )
    assert not (demo_dir / "out" / "demo.jsonl").exists()


def test_missing_database_path_and_file(demo_dir: Path) -> None:
    (demo_dir / "nodb.yaml").write_text(
        "source: {type: sqlite}\nsink: {type: jsonl, path: o.jsonl}\n", encoding="utf-8"
    )
    result = run("ingest", "-c", "nodb.yaml", cwd=demo_dir)
    assert (result.returncode, result.stderr) == (
        2,
        "metaingest: error: source.path: required key is missing\n",
    )
    result = run("ingest", "-c", "missing.yaml", cwd=demo_dir)
    assert (result.returncode, result.stderr) == (
        2,
        "metaingest: error: missing.yaml: no such file\n",
    )


def test_threads_override_and_validate(demo_dir: Path) -> None:
    result = run("ingest", "-c", "demo.yaml", "--threads", "0", cwd=demo_dir)
    assert (result.returncode, result.stderr) == (2, "metaingest: error: --threads: must be >= 1\n")
    result = run("ingest", "-c", "demo.yaml", "--threads", "3", "-q", cwd=demo_dir)
    assert (result.returncode, result.stdout) == (0, "")
    result = run("validate", "-c", "demo.yaml", cwd=demo_dir)
    assert result.returncode == 0
    assert result.stdout == "demo.yaml: ok (sqlite source, jsonl sink)\n"


def test_usage_errors_and_help() -> None:
    result = run()
    assert result.returncode == 2
    assert result.stderr == ("metaingest: error: the following arguments are required: COMMAND\n")
    result = run("ingest", "--help")
    assert result.returncode == 0
    assert "examples:" in result.stdout
    assert "python -m metaingest ingest -c" in result.stdout
    result = run("--version")
    assert (result.returncode, result.stdout.startswith("metaingest ")) == (0, True)


def test_schema_command_prints_the_models_schema() -> None:
    result = run("schema")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    assert set(schema["properties"]) == {"source", "sources", "sink", "workflow", "executor"}
    assert "threads" in json.dumps(schema)


@pytest.mark.parametrize("command", ["ingest", "test-connection", "validate", "schema"])
def test_every_command_has_help_with_examples(command: str) -> None:
    result = run(command, "--help")
    assert result.returncode == 0
    assert "example" in result.stdout
    assert f"python -m metaingest {command}" in result.stdout


def test_dry_run_and_test_connection_on_the_demo(demo_dir: Path) -> None:
    result = run("ingest", "-c", "demo.yaml", "--dry-run", cwd=demo_dir)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == (
        "dry run: would extract 3 schema(s) in 1 database(s); nothing was extracted\n"
        "  extract  demo.shop.main\n"
        "  extract  demo.shop.people\n"
        "  extract  demo.shop.warehouse\n"
    )
    assert not (demo_dir / "out" / "demo.jsonl").exists()
    result = run("test-connection", "-c", "demo.yaml", cwd=demo_dir)
    assert (result.returncode, result.stderr) == (0, "")
    assert "connected, server version SQLite 3." in result.stdout
    assert "ok: all 3 schemas a run needs are readable" in result.stdout


def test_readme_documents_commands_and_exit_codes() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for text in ("test-connection", "--dry-run", "--log-format", "--log-file", "--report"):
        assert text in readme, text
    for code in ("| 0 |", "| 1 |", "| 2 |", "| 130 |", "| 143 |"):
        assert code in readme, code


def test_schema_describes_every_key() -> None:
    schema = json.loads(run("schema").stdout)
    defs = schema["$defs"]

    def described(prop: dict[str, object]) -> bool:
        ref = prop.get("$ref")
        target = defs[str(ref).rsplit("/", 1)[1]] if ref else {}
        return "description" in prop or "description" in target

    for owner in [schema, *defs.values()]:
        for key, prop in owner.get("properties", {}).items():
            assert described(prop), key


def test_ingest_collects_less_during_the_run_and_restores_the_policy(
    demo_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In-process main(): the run sees the CLI's GC policy; the caller's comes back after."""
    import gc

    from metaingest import cli
    from metaingest.workflow import Workflow

    seen: list[tuple[tuple[int, ...], int]] = []
    run = Workflow.run

    async def observed_run(self: Workflow) -> object:
        seen.append((gc.get_threshold(), gc.get_freeze_count()))
        return await run(self)

    monkeypatch.setattr(Workflow, "run", observed_run)
    monkeypatch.chdir(demo_dir)
    before = gc.get_threshold()
    assert cli.main(["ingest", "-c", "demo.yaml", "-q"]) == 0
    assert (gc.get_threshold(), gc.get_freeze_count()) == (before, 0)
    [(thresholds, frozen)] = seen
    assert thresholds == cli._RUN_GC_THRESHOLDS != before
    assert frozen > 1000  # everything alive before the run, imports included
