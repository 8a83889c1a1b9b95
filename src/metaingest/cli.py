"""Command line: arguments, the summary, exit codes. No business logic lives here.

Exit codes: 0 success; 1 the run finished below the success threshold; 2 bad usage or
configuration, including a source that cannot be used as configured (host, port,
credentials, database) and an output path that cannot be written; 130 interrupted
(Ctrl-C, SIGINT); 143 terminated (SIGTERM); 141 when the reader of stdout went away
(``schema | head``). An interrupted run stops scheduling, cancels its units, closes every
connection, publishes nothing and prints the partial summary; a signal that arrives while
the output is being committed lets the commit finish, and the run then ends as it was.
Every non-zero exit prints its reason on stderr, also with ``-q``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import anyio
from rich.console import Console

from metaingest.check import check_connection, render_check
from metaingest.config import WorkflowConfig, load_config
from metaingest.display import LiveDisplay, LogDisplay
from metaingest.errors import ConfigError, MetaingestError, SourceError
from metaingest.fleet import Fleet
from metaingest.fleetsummary import print_sources
from metaingest.hints import hint
from metaingest.logs import configure_logging, redact_handlers
from metaingest.outputs import check_output, write_atomic
from metaingest.redact import Redactor
from metaingest.reference import reference_markdown
from metaingest.report import Report, write_report
from metaingest.store import commands as store_commands
from metaingest.summary import outcome, print_plan, print_summary, rich_summary
from metaingest.workflow import Workflow

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE

EPILOG = """\
examples:
  python -m metaingest ingest -c examples/demo.yaml
  python -m metaingest ingest -c workflow.yaml --threads 8 --report out/report.json
  python -m metaingest ingest -c workflow.yaml --dry-run
  python -m metaingest test-connection -c workflow.yaml
  python -m metaingest validate -c workflow.yaml
  python -m metaingest schema > workflow.schema.json
  python -m metaingest changes --store sqlite+aiosqlite:///metaingest.db --exit-code

exit codes: 0 ok (published), 1 below the success threshold, nothing to extract or a
sink error: nothing published (test-connection: a schema is not readable), 2 usage, config,
unwritable output or unusable source, 130 interrupted (SIGINT), 143 terminated (SIGTERM)
"""

INGEST_EPILOG = """\
examples:
  python -m metaingest ingest -c examples/demo.yaml --threads 4
  python -m metaingest ingest -c workflow.yaml --report out/report.json --log-format json
  python -m metaingest ingest -c workflow.yaml --dry-run     # list what would be extracted
  python -m metaingest ingest -c workflow.yaml -q 2>run.log   # no progress, no summary
"""

TEST_CONNECTION_EPILOG = """\
examples:
  python -m metaingest test-connection -c workflow.yaml
  PGPASSWORD=secret python -m metaingest test-connection -c pg.yaml --log-level info

exit codes: 0 every schema a run needs is readable, 1 some schema is not,
2 the configuration is invalid or the server cannot be reached or refuses the login
"""


def _version() -> str:
    try:
        return version("metaingest")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"metaingest: error: {message}\n")


def _logging_options() -> _Parser:
    common = _Parser(add_help=False)
    group = common.add_argument_group("logging")
    group.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        default="warning",
        help="least severe level logged (default: warning)",
    )
    group.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="text lines, or one JSON object per line (default: text)",
    )
    group.add_argument("--log-file", metavar="PATH", help="append logs to PATH, not stderr")
    group.add_argument("--debug", action="store_true", help="debug logs and tracebacks")
    return common


def _parser() -> argparse.ArgumentParser:
    raw = argparse.RawDescriptionHelpFormatter
    parser = _Parser(
        prog="metaingest",
        description="Concurrent, connection-bounded metadata ingestion.",
        epilog=EPILOG,
        formatter_class=raw,
    )
    parser.add_argument("--version", action="version", version=f"metaingest {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = _logging_options()

    ingest = commands.add_parser(
        "ingest",
        help="extract the catalog into the sink",
        description="Extract the catalog described by a workflow file into its sink.",
        epilog=INGEST_EPILOG,
        formatter_class=raw,
        parents=[common],
    )
    ingest.add_argument("-c", "--config", required=True, help="workflow YAML file")
    ingest.add_argument("--threads", type=int, help="override source.threads")
    ingest.add_argument("--report", metavar="PATH", help="also write the full report as JSON")
    ingest.add_argument(
        "--dry-run",
        action="store_true",
        help="connect, discover and filter; list what would be extracted; extract nothing",
    )
    ingest.add_argument("-q", "--quiet", action="store_true", help="no progress, no summary")
    ingest.add_argument(
        "--progress-interval",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="seconds between progress lines when stdout is not a terminal (default: 5)",
    )
    ingest.add_argument(
        "--strict", action="store_true", help="warnings fail the run too (exit code 1)"
    )
    ingest.add_argument(
        "--allow-mass-delete",
        action="store_true",
        help="stateful sinks delete even above workflow.delete_threshold",
    )

    test = commands.add_parser(
        "test-connection",
        help="connect and check that every schema's catalog is readable",
        description="Connect, show the server version and the databases and schemas the "
        "user can see, and probe the catalog of every schema a run would extract.",
        epilog=TEST_CONNECTION_EPILOG,
        formatter_class=raw,
        parents=[common],
    )
    test.add_argument("-c", "--config", required=True, help="workflow YAML file")

    validate = commands.add_parser(
        "validate",
        help="check a workflow file without connecting",
        description="Check a workflow file without connecting to anything.",
        epilog="example:\n  python -m metaingest validate -c workflow.yaml",
        formatter_class=raw,
    )
    validate.add_argument("-c", "--config", required=True, help="workflow YAML file")

    store_commands.add_arguments(commands, [common])
    convert = commands.add_parser(
        "convert",
        help="print the native workflow an OpenMetadata workflow file maps to",
        description="Read an OpenMetadata `metadata ingest -c` workflow file and print the "
        "equivalent native workflow YAML (${VAR} references are kept, never expanded).",
        epilog="example:\n  python -m metaingest convert om-workflow.yaml > workflow.yaml",
        formatter_class=raw,
    )
    convert.add_argument("path", help="OpenMetadata workflow YAML file")

    schema = commands.add_parser(
        "schema",
        help="print the JSON Schema of the workflow file",
        description="Print the JSON Schema of the workflow file (for editors and docs).",
        epilog="examples:\n  python -m metaingest schema > workflow.schema.json\n"
        "  python -m metaingest schema --markdown",
        formatter_class=raw,
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


Display = LiveDisplay | LogDisplay

# The young generation's threshold during a run (CPython's default is 700).
_RUN_GC_THRESHOLDS = (10_000, 10, 10)


@contextmanager
def _run_gc_policy() -> Iterator[None]:
    """Collect garbage less often during a run; restore the policy afterwards.

    The process is the CLI's, so its GC policy is too (the library never changes it). A run
    allocates several tracked objects per column (rows, entities) that live until their batch
    is written: at the default thresholds the cyclic GC ran ~130 times on a 2,400-table
    catalog, once over every object imported at startup, ~20% of the run's CPU. The objects
    alive before the run are frozen out of collections (``gc.freeze``) and the young
    generation is collected every 10,000 allocations instead of 700. Restored on the way out,
    since ``main`` may be called in-process.
    """
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(*_RUN_GC_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


async def _ingest(workflow: Workflow | Fleet, display: Display | None) -> int | None:
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
        if display is not None:
            tg.start_soon(display.run)
        try:
            await workflow.run()
        except MetaingestError as exc:
            error = exc  # raised below, outside the task group, so it is not wrapped
        tg.cancel_scope.cancel()
    if error is not None:
        raise error
    return received


def _display(args: argparse.Namespace, console: Console) -> Display | None:
    if args.quiet:
        return None
    if console.is_terminal:
        return LiveDisplay(console)
    if args.progress_interval <= 0:
        raise ConfigError("--progress-interval: must be > 0")
    return LogDisplay(args.progress_interval)


def _dry_run(workflow: Workflow | Fleet) -> int:
    plan = anyio.run(workflow.dry_run)
    print_plan(plan, sys.stdout)
    return EXIT_OK


def exit_code(report: Report, received: int | None) -> int:
    """The run's exit code: by the report, or 128 + the signal that stopped it.

    A signal that came while the output was committed (shielded) did not stop the run: once
    the commit finished, the run finished, and its report decides.
    """
    if received is not None and not report.published:
        report.cancelled = True
        return 128 + received  # 130 for SIGINT, 143 for SIGTERM
    return report.exit_code()


def _error_line(exc: MetaingestError, workflow: Workflow | Fleet) -> str:
    message = workflow.redact(str(exc))
    if isinstance(exc, SourceError):
        found = hint(exc, workflow.config)
        if found is not None:
            message = f"{message} ({found})"
    return f"metaingest: error: {message}"


def _run_ingest(args: argparse.Namespace) -> int:
    config = _load(args.config, args.threads)
    if args.strict:
        config = config.with_strict()
    if args.report and not args.dry_run:
        check_output("--report", args.report)
    if args.allow_mass_delete:
        config = config.with_allow_mass_delete()
    console = Console(file=sys.stdout)
    display = None if args.dry_run else _display(args, console)
    workflow: Workflow | Fleet = (
        Workflow(config, observer=display)
        if config.sources is None
        else Fleet(config, observer=display)
    )
    redact_handlers(workflow.redact)
    try:
        if args.dry_run:
            return _dry_run(workflow)
        with display if display is not None else nullcontext(), _run_gc_policy():
            received = anyio.run(_ingest, workflow, display)
    except KeyboardInterrupt:  # before the signal receiver was installed
        received = signal.SIGINT
    except MetaingestError as exc:
        if args.debug:
            raise
        code = EXIT_USAGE if isinstance(exc, ConfigError | SourceError) else EXIT_FAILED
        print(_error_line(exc, workflow), file=sys.stderr)
        return code
    report = workflow.report
    code = exit_code(report, received)
    target = _target(config)
    if args.report:
        try:
            write_atomic(args.report, lambda out: write_report(report, out))
        except OSError as exc:
            print(f"metaingest: error: --report: {args.report}: {exc.strerror}", file=sys.stderr)
            code = code or EXIT_FAILED
    if not args.quiet:
        if console.is_terminal:
            rich_summary(report, console, args.report, target)
        else:
            print_summary(report, sys.stdout, args.report, target)
        if report.sources:
            print_sources(report, console.file)
    elif code != EXIT_OK and (received is not None or not report.ok):
        # -q silences progress and the summary, never the reason for a non-zero exit
        state = "interrupted" if report.cancelled else "FAILED"
        print(f"metaingest: {state}: {outcome(report, target)}", file=sys.stderr)
    return code


def _target(config: WorkflowConfig) -> str:
    """Where the run publishes, for the summary's last line (a store's password hidden)."""
    if config.sink.type == "jsonl":
        return str(config.sink.path)
    if config.sink.type == "metadata-rest":
        only = " (view lineage only)" if config.sink.lineage_only else ""
        return f"the OpenMetadata server {config.sink.host_port}{only}"
    from metaingest.store.engine import describe

    return f"the catalog store {describe(config.sink.url)}"


def _test_connection(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    if config.sources is not None:  # a fleet: each source in turn; the worst code wins
        codes = [_check_one(config.for_source(i)) for i in range(len(config.sources))]
        return EXIT_USAGE if EXIT_USAGE in codes else max(codes)
    return _check_one(config)


def _check_one(config: WorkflowConfig) -> int:
    redact_handlers(Redactor.for_source(config.source))
    result = anyio.run(check_connection, config)
    if result.error is not None:
        print(f"metaingest: error: {result.error}", file=sys.stderr)
        return EXIT_USAGE
    render_check(result, Console(file=sys.stdout))
    return EXIT_OK if result.ok else EXIT_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = _parser().parse_args(argv)
    debug: bool = getattr(args, "debug", False)
    options: dict[str, Any] = {}
    if hasattr(args, "log_level"):
        level = "debug" if debug else args.log_level
        options = {"level": level, "fmt": args.log_format, "file": args.log_file}
    try:
        if options.get("file"):
            check_output("--log-file", options["file"])
        configure_logging(**options)
    except ConfigError as exc:
        print(f"metaingest: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"metaingest: error: --log-file: {exc.strerror}", file=sys.stderr)
        return EXIT_USAGE
    try:
        code = _command(args, debug)
        sys.stdout.flush()  # a closed pipe fails here, not in the interpreter's last flush
        return code
    except BrokenPipeError:
        # the reader of stdout went away (``schema | head``): stop quietly, as cat does;
        # stdout goes to /dev/null so that the interpreter's final flush cannot fail again
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_BROKEN_PIPE


def _command(args: argparse.Namespace, debug: bool) -> int:
    try:
        if args.command == "schema":
            if args.markdown:
                print(reference_markdown(), end="")
            else:
                print(json.dumps(WorkflowConfig.model_json_schema(), indent=2))
            return EXIT_OK
        if args.command == "convert":
            from metaingest.openmetadata.convert import convert_file

            text, warnings = convert_file(args.path)
            for warning in warnings:
                print(f"metaingest: warning: {warning}", file=sys.stderr)
            print(text, end="")
            return EXIT_OK
        if args.command == "validate":
            config = load_config(args.config)
            what = f"{config.source.type} source"
            if config.sources is not None:
                what = f"{len(config.sources)} sources"
            sink = f"{config.sink.type} sink"
            if getattr(config.sink, "lineage_only", False):
                sink += ": lineage only"  # it sends views' lineage and nothing else
            print(f"{args.config}: ok ({what}, {sink})")
            return EXIT_OK
        if args.command == "test-connection":
            return _test_connection(args)
        if args.command in store_commands.COMMANDS:
            return store_commands.run_command(args)
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
