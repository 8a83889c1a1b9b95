"""The store's commands as a user runs them: changes (text, JSON, --exit-code), history, runs."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import jsonschema
import pytest

from metaingest.config import load_config

from .clikit import ROOT, build_demo, run_cli

SCHEMA = ROOT / "src" / "metaingest" / "store" / "changes.schema.json"
STORE = "sqlite+aiosqlite:///out/metaingest.db"


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    """The demo built in tmp_path, with examples/catalog.yaml as catalog.yaml."""
    build_demo(tmp_path)
    (tmp_path / "catalog.yaml").write_text(
        (ROOT / "examples" / "catalog.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    return tmp_path


def ingest(demo: Path) -> None:
    done = run_cli("ingest", "-c", "catalog.yaml", cwd=demo)
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip().endswith(
        "wrote the catalog store sqlite+aiosqlite:///out/metaingest.db"
    )


def test_changes_json_follows_its_schema_and_exit_code_reports_drift(demo: Path) -> None:
    assert load_config(demo / "catalog.yaml").sink.type == "catalog"
    ingest(demo)
    done = run_cli("changes", "--store", STORE, "--since", "0", "--format", "json", cwd=demo)
    assert done.returncode == 0, done.stderr
    first = json.loads(done.stdout)
    jsonschema.validate(first, json.loads(SCHEMA.read_text(encoding="utf-8")))
    assert {c["change"] for c in first} == {"added"}
    assert {c["kind"] for c in first} == {"database", "databaseSchema", "table"}
    assert "demo.shop.main.customers" in {c["fqn"] for c in first}

    ingest(demo)  # unchanged
    done = run_cli("changes", "--store", STORE, "--exit-code", cwd=demo)
    assert (done.returncode, done.stdout.strip()) == (0, "no changes")

    with sqlite3.connect(demo / "out" / "demo" / "shop.db") as conn:
        conn.execute("ALTER TABLE customers ADD COLUMN loyalty INTEGER DEFAULT 0")
    conn.close()
    ingest(demo)
    done = run_cli("changes", "--store", STORE, "--exit-code", "--fqn", "demo.shop.*", cwd=demo)
    assert done.returncode == 1, done.stderr
    assert "~ demo.shop.main.customers  table, updated, v2" in done.stdout
    assert "+ columns.loyalty" in done.stdout
    done = run_cli("changes", "--store", STORE, "--format", "json", cwd=demo)
    (change,) = json.loads(done.stdout)
    jsonschema.validate([change], json.loads(SCHEMA.read_text(encoding="utf-8")))
    assert change["fields"]["added"][0]["name"] == "columns.loyalty"
    assert change["fields"]["updated"] == [] and change["fields"]["deleted"] == []
    assert change["run"] == 3 and change["breaking"] is False
    done = run_cli("changes", "--store", STORE, "--fqn", "demo.people.*", "--exit-code", cwd=demo)
    assert done.returncode == 0

    done = run_cli("history", "demo.shop.main.customers", "--store", STORE, cwd=demo)
    assert done.returncode == 0, done.stderr
    assert "v2, live; first seen run 1" in done.stdout and "last seen run 3" in done.stdout
    done = run_cli("runs", "--store", STORE, "--format", "json", cwd=demo)
    runs = json.loads(done.stdout)
    assert [(r["id"], r["status"]) for r in runs] == [(n, "published") for n in (3, 2, 1)]
    assert runs[0]["counts"]["updated"] == 1 and runs[1]["counts"]["unchanged"] > 0
    assert set(runs[0]["units"]["complete"]) == {
        "demo.shop.main",
        "demo.shop.people",
        "demo.shop.warehouse",
    }
    done = run_cli("runs", "--store", STORE, cwd=demo)
    assert "run 3  published  demo" in done.stdout


def test_store_commands_fail_with_one_line(demo: Path) -> None:
    done = run_cli("changes", "--store", "sqlite+aiosqlite:///nowhere.db", cwd=demo)
    assert done.returncode == 2
    assert done.stderr.strip().endswith("nowhere.db: no such file")
    assert done.stderr.count("\n") == 1 and not (demo / "nowhere.db").exists()
    ingest(demo)
    done = run_cli("history", "demo.nothing", "--store", STORE, cwd=demo)
    assert (done.returncode, done.stderr) == (
        2,
        "metaingest: error: demo.nothing: not in the catalog store\n",
    )
    done = run_cli("changes", "--store", STORE, "--since", "yesterday", cwd=demo)
    assert done.returncode == 2 and "--since" in done.stderr
    done = run_cli("changes", "--store", "mysql+aiomysql://u@h/db", cwd=demo)
    assert done.returncode == 2 and "unsupported database 'mysql'" in done.stderr
