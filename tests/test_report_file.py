"""``--report``: every issue reaches the file, though memory keeps only the first MAX_ISSUES."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path

from metaingest.report import MAX_ISSUES, Report, write_report

from .clikit import run_cli, write_workflow

BROKEN = MAX_ISSUES + 150


def test_write_report_streams_spilled_issues() -> None:
    report = Report()
    for index in range(BROKEN):
        report.add_issue("error" if index % 2 else "warning", f"s.d.x.t{index}", f"cause {index}")
    assert len(report.issues) == MAX_ISSUES
    assert report.issues_dropped == BROKEN - MAX_ISSUES
    out = io.StringIO()
    write_report(report, out)
    data = json.loads(out.getvalue())
    # every issue once; errors are kept in memory first, so the file's order is not arrival
    fqns = sorted(int(issue["fqn"].removeprefix("s.d.x.t")) for issue in data["issues"])
    assert fqns == list(range(BROKEN))
    assert {i.level for i in report.issues[-(BROKEN // 2 - MAX_ISSUES // 2) :]} == {"error"}
    assert (data["errors"], data["warnings"]) == (575, 575)
    assert "issues_dropped" not in data  # nothing is dropped from the file
    assert data["success_pct"] == 100.0  # computed fields are kept
    empty = io.StringIO()
    write_report(Report(), empty)
    assert json.loads(empty.getvalue())["issues"] == []


def test_cli_report_holds_every_issue(tmp_path: Path) -> None:
    """A SQLite file with more broken views than MAX_ISSUES: one warning each."""
    db = tmp_path / "broken.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE gone (id INTEGER)")
        for index in range(BROKEN):
            conn.execute(f"CREATE VIEW v{index:05d} AS SELECT id FROM gone")
        conn.execute("DROP TABLE gone")
    conn.close()
    source = {"type": "sqlite", "path": str(db), "service_name": "s"}
    workflow = write_workflow(tmp_path / "w.yaml", source, tmp_path / "out.jsonl")
    result = run_cli(
        "ingest", "-c", str(workflow), "--report", str(tmp_path / "report.json"), timeout=120
    )
    assert result.returncode == 0, result.stderr
    data = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert data["warnings"] == BROKEN
    assert len(data["issues"]) == BROKEN
    assert len({issue["fqn"] for issue in data["issues"]}) == BROKEN
    assert data["units"][0]["fqn"] == "s.broken.main"
    # the summary shows the first 20 and says where the rest are
    lines = result.stdout.splitlines()
    heading = (
        f"issues (0 error(s), {BROKEN} warning(s); first 20 shown, errors first;"
        f" all of them in {tmp_path / 'report.json'}):"
    )
    assert heading in lines
    shown = lines[lines.index(heading) + 1 :]
    assert len([line for line in shown if line.startswith("  warning: s.broken.main.v")]) == 20
