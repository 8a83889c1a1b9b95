"""Embed metaingest in a running asyncio web application: start, watch and cancel a run.

A small HTTP server on anyio (already a metaingest dependency; no web framework needed):

    python examples/build_demo.py && python examples/embed_server.py examples/demo.yaml
    curl -X POST http://127.0.0.1:8080/run        # start an ingestion in the background
    curl http://127.0.0.1:8080/progress           # poll: state, progress, report when done
    curl -N http://127.0.0.1:8080/events          # or stream it as Server-Sent Events
    curl -X POST http://127.0.0.1:8080/cancel     # cancel: connections closed, no output file

The run lives in the application's task group; progress arrives through the workflow's
observer hook (``Workflow(config, observer=...)``), never by polling metaingest's internals.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import anyio
from anyio.abc import SocketStream, TaskGroup, TaskStatus
from anyio.streams.buffered import BufferedByteReceiveStream

import metaingest
from metaingest.observe import Progress

WorkflowFactory = Callable[..., metaingest.Workflow]


class IngestService:
    """Runs at most one ingestion at a time in the application's task group."""

    def __init__(
        self,
        config: metaingest.WorkflowConfig,
        task_group: TaskGroup,
        workflow_factory: WorkflowFactory = metaingest.Workflow,
    ) -> None:
        self.config = config
        self._tg = task_group
        self._factory = workflow_factory
        self.state = "idle"  # idle | running | finished | failed | cancelled
        self.error: str | None = None
        self.progress: Progress | None = None
        self.workflow: metaingest.Workflow | None = None
        self._scope: anyio.CancelScope | None = None
        self._changed = anyio.Event()

    def _observe(self, progress: Progress) -> None:
        """The workflow's observer: keep the snapshot, wake the event streams."""
        self.progress = progress
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def wait_changed(self) -> None:
        """Wait until the progress or the state changes."""
        await self._changed.wait()

    def start(self) -> bool:
        """Start a run unless one is running."""
        if self.state == "running":
            return False
        self.workflow = self._factory(self.config, observer=self._observe)
        self.state, self.error, self.progress = "running", None, None
        self._scope = anyio.CancelScope()
        self._tg.start_soon(self._run, self.workflow, self._scope)
        return True

    def cancel(self) -> bool:
        """Cancel the running run, if there is one."""
        if self.state != "running" or self._scope is None:
            return False
        self._scope.cancel()
        return True

    async def _run(self, workflow: metaingest.Workflow, scope: anyio.CancelScope) -> None:
        with scope:
            try:
                await workflow.run()
                self.state = "finished"
            except metaingest.MetaingestError as exc:
                self.state, self.error = "failed", str(exc)
        if scope.cancelled_caught:
            self.state = "cancelled"
        self._notify()

    def status(self) -> dict[str, Any]:
        """What /progress returns: state, the latest progress, and the report when done."""
        out: dict[str, Any] = {"state": self.state, "error": self.error, "progress": None}
        if self.progress is not None:
            out["progress"] = asdict(self.progress) | {
                "percent": round(100 * self.progress.fraction, 1),
                "tables_per_second": round(self.progress.tables_per_second, 1),
            }
        if self.workflow is not None and self.state != "running":
            report = self.workflow.report
            out["report"] = report.model_dump(mode="json", exclude={"issues", "units"})
        return out


async def _read_request(stream: SocketStream) -> tuple[str, str]:
    reader = BufferedByteReceiveStream(stream)
    head = await reader.receive_until(b"\r\n\r\n", 65536)
    method, path, _version = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
    return method, path


async def _send_json(stream: SocketStream, status: str, body: object) -> None:
    data = json.dumps(body).encode()
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
    )
    await stream.send(head.encode() + data)


async def _send_events(stream: SocketStream, service: IngestService) -> None:
    """Server-Sent Events: one ``data:`` line per change, at most four a second."""
    await stream.send(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
        b"Cache-Control: no-cache\r\nConnection: close\r\n\r\n"
    )
    while True:
        status = service.status()
        await stream.send(f"data: {json.dumps(status)}\n\n".encode())
        if status["state"] != "running":
            return
        await service.wait_changed()
        await anyio.sleep(0.25)  # coalesce bursts of changes


def make_handler(service: IngestService) -> Callable[[SocketStream], Any]:
    """The HTTP handler: four routes, one request per connection."""

    async def handle(stream: SocketStream) -> None:
        async with stream:
            try:
                method, path = await _read_request(stream)
            except (anyio.IncompleteRead, anyio.DelimiterNotFound, ValueError):
                return
            if (method, path) == ("POST", "/run"):
                started = service.start()
                code = "202 Accepted" if started else "409 Conflict"
                await _send_json(stream, code, service.status())
            elif (method, path) == ("POST", "/cancel"):
                cancelled = service.cancel()
                await _send_json(stream, "202 Accepted" if cancelled else "409 Conflict", {})
            elif (method, path) == ("GET", "/progress"):
                await _send_json(stream, "200 OK", service.status())
            elif (method, path) == ("GET", "/events"):
                await _send_events(stream, service)
            else:
                await _send_json(stream, "404 Not Found", {"error": f"no route {path}"})

    return handle


async def serve(
    config: metaingest.WorkflowConfig,
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    workflow_factory: WorkflowFactory = metaingest.Workflow,
    task_status: TaskStatus[tuple[int, IngestService]] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until cancelled; ``task_group.start(serve, ...)`` returns (port, service)."""
    async with anyio.create_task_group() as tg:
        service = IngestService(config, tg, workflow_factory)
        listener = await anyio.create_tcp_listener(local_host=host, local_port=port)
        async with listener:
            bound = listener.extra(anyio.abc.SocketAttribute.local_port)
            task_status.started((bound, service))
            await listener.serve(make_handler(service), task_group=tg)


def main() -> None:
    """Run the example server on the asyncio event loop."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", help="workflow YAML file")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="0: any free port")
    args = parser.parse_args()
    config = metaingest.load_config(args.config)

    async def run() -> None:
        async with anyio.create_task_group() as tg:
            port, _service = await tg.start(serve, config, args.host, args.port)
            print(f"listening on http://{args.host}:{port}", flush=True)

    anyio.run(run)


if __name__ == "__main__":
    main()
