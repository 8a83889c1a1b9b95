"""Command line: arguments, the summary, exit codes. No business logic lives here.

Exit codes: 0 success; 1 the run finished below the success threshold; 2 bad usage or
configuration, including a source that cannot be used as configured (host, port,
credentials, database); 130 interrupted (Ctrl-C, SIGINT); 143 terminated (SIGTERM).
An interrupted run stops scheduling, cancels its units, closes every connection, writes
no output file and prints the partial summary.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import TextIO

import anyio

from metaingest.config import WorkflowConfig, load_config
from metaingest.errors import ConfigError, MetaingestError, SourceError
from metaingest.redact import RedactingFilter, Redactor
from metaingest.reference import reference_markdown
from metaingest.report import Report
from metaingest.workflow import Workflow

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
MAX_ERRORS_SHOWN = 20

EPILOG = """\
examples:
  python -m metaingest ingest -c examples/demo.yaml
  python -m metaingest ingest -c workflow.yaml --threads 8 --report out/report.json
  python -m metaingest validate -c workflow.yaml
  python -m metaingest schema > workflow.schema.json

exit codes: 0 ok, 1 below the success threshold, 2 usage, config or unusable source,
130 interrupted (SIGINT), 143 terminated (SIGTERM)
"""


def _version() -> str:
    try:
        return version("metaingest")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"metaingest: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="metaingest",
        description="Concurrent, connection-bounded metadata ingestion.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"metaingest {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ingest = commands.add_parser(
        "ingest",
        help="extract the catalog into the sink",
        description="Extract the catalog described by a workflow file into its sink.",
        epilog="example:\n  python -m metaingest ingest -c examples/demo.yaml --threads 4",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ingest.add_argument("-c", "--config", required=True, help="workflow YAML file")
    ingest.add_argument("--threads", type=int, help="override source.threads")
    ingest.add_argument("--report", metavar="PATH", help="also write the full report as JSON")
    ingest.add_argument("-q", "--quiet", action="store_true", help="print no summary")
    ingest.add_argument(
        "--strict", action="store_true", help="warnings fail the run too (exit code 1)"
    )
    ingest.add_argument("--debug", action="store_true", help="debug logs and tracebacks")

    validate = commands.add_parser(
        "validate",
        help="check a workflow file without connecting",
        description="Check a workflow file without connecting to anything.",
        epilog="example:\n  python -m metaingest validate -c workflow.yaml",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    validate.add_argument("-c", "--config", required=True, help="workflow YAML file")

    schema = commands.add_parser(
        "schema",
        help="print the JSON Schema of the workflow file",
        description="Print the JSON Schema of the workflow file (for editors and docs).",
    )
    schema.add_argument(
        "--markdown", action="store_true", help="print the README's config reference instead"
    )
    return parser


def _load(path: str, threads: int | None) -> WorkflowConfig:
    config = load_config(path)
    if threads is not None:
        if threads < 1:
            raise ConfigError("--threads: must be >= 1")
        config = config.with_threads(threads)
    return config


def print_summary(report: Report, out: TextIO) -> None:
    """The end-of-run summary: counts, success, and the first errors, one line each."""
    state = "interrupted" if report.cancelled else ("ok" if report.ok else "FAILED")
    out.write(
        f"metaingest: {state} in {report.wall_seconds:.2f} s "
        f"(threads {report.threads}, peak connections {report.peak_connections})\n"
    )
    heads = ("databases", "schemas", "tables", "views", "columns", "filtered", "warnings")
    values = [
        report.databases,
        report.schemas,
        report.tables,
        report.views,
        report.columns,
        report.filtered.databases + report.filtered.schemas + report.filtered.tables,
        report.warnings,
    ]
    cells = [*heads, "errors", "success"]
    row = [*map(str, values), str(report.errors), f"{report.success_pct:.1f} %"]
    widths = [max(len(a), len(b)) for a, b in zip(cells, row, strict=True)]
    out.write("  " + "  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True)) + "\n")
    out.write("  " + "  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) + "\n")
    if report.issues:
        shown = report.issues[:MAX_ERRORS_SHOWN]
        total = report.errors + report.warnings
        out.write(f"issues (first {len(shown)} of {total}):\n")
        for issue in shown:
            out.write(f"  {issue.level}: {issue.fqn}: {issue.message}\n")


async def _ingest(workflow: Workflow) -> int | None:
    """Run the workflow; a SIGINT or SIGTERM cancels it. Returns the signal, if one came."""
    received: int | None = None
    error: MetaingestError | None = None
    async with anyio.create_task_group() as tg:

        async def watch_signals() -> None:
            nonlocal received
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for signum in signals:
                    received = signum
                    tg.cancel_scope.cancel()  # stop scheduling, cancel units, close all
                    return

        tg.start_soon(watch_signals)
        try:
            await workflow.run()
        except MetaingestError as exc:
            error = exc  # raised below, outside the task group, so it is not wrapped
        tg.cancel_scope.cancel()
    if error is not None:
        raise error
    return received


def _run_ingest(args: argparse.Namespace) -> int:
    config = _load(args.config, args.threads)
    if args.strict:
        config = config.with_strict()
    workflow = Workflow(config)
    _redact_logs(workflow.redact)
    try:
        received = anyio.run(_ingest, workflow)
    except KeyboardInterrupt:  # before the signal receiver was installed
        received = signal.SIGINT
    except MetaingestError as exc:
        if args.debug:
            raise
        code = EXIT_USAGE if isinstance(exc, ConfigError | SourceError) else EXIT_FAILED
        print(f"metaingest: error: {workflow.redact(str(exc))}", file=sys.stderr)
        return code
    report = workflow.report
    if received is not None:
        report.cancelled = True
        code = 128 + received  # 130 for SIGINT, 143 for SIGTERM
    else:
        code = report.exit_code()
    if args.report:
        with open(args.report, "w", encoding="utf-8") as out:
            out.write(report.model_dump_json(indent=2) + "\n")
    if not args.quiet:
        print_summary(report, sys.stdout)
        if code == EXIT_OK:
            print(f"wrote {config.sink.path}")
    return code


def _redact_logs(redact: Redactor) -> None:
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter(redact))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = _parser().parse_args(argv)
    debug = getattr(args, "debug", False)
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        if args.command == "schema":
            if args.markdown:
                print(reference_markdown(), end="")
            else:
                print(json.dumps(WorkflowConfig.model_json_schema(), indent=2))
            return EXIT_OK
        if args.command == "validate":
            config = load_config(args.config)
            print(f"{args.config}: ok ({config.source.type} source, {config.sink.type} sink)")
            return EXIT_OK
        return _run_ingest(args)
    except (ConfigError, SourceError) as exc:
        if debug:
            raise
        print(f"metaingest: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except MetaingestError as exc:
        if debug:
            raise
        print(f"metaingest: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
