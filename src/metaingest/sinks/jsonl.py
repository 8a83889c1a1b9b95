"""JSON Lines sink: one object per database, schema, table and routine, atomically published.

Batches arrive in completion order, which depends on ``threads``; the file must not. Each
batch is serialized as it arrives and appended to one spool file (memory stays bounded: at
most ``_FLUSH_BYTES`` wait in memory), remembering where each schema's lines lie; then
``aclose(commit=True)`` copies the schemas in (service, database, schema) order (a fleet
writes several services) into a temporary file beside the target, fsyncs it and renames it
into place. A failed or cancelled run removes its spool and never touches the target path.

Serializing is CPU work and runs in the caller's task; only file I/O goes to a worker thread,
once per ``_FLUSH_BYTES`` rather than once per batch (a thread round trip per batch cost more
CPU than the write it carried, mostly in hand-offs of the GIL).
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

import anyio
from pydantic import BaseModel

from metaingest import cooperative
from metaingest.connectors.base import SchemaBatch
from metaingest.entities import Database
from metaingest.errors import SinkError
from metaingest.lineage.model import ViewLineage
from metaingest.outputs import check_output, umask_mode

__all__ = ["JsonlSink"]

_Format = Literal["entities", "openmetadata"]


def _line(kind: str, entity: Any, fmt: _Format) -> bytes:
    """One line as UTF-8 bytes: spools and the target are binary files, so pydantic's JSON
    bytes are written as they are, never decoded to str and encoded again."""
    if fmt == "openmetadata":
        return _request_line(kind, entity.fqn, entity.to_openmetadata())
    assert isinstance(entity, BaseModel)
    # what model_dump_json(exclude_none=True) returns, before its decode to str
    body = entity.__pydantic_serializer__.to_json(entity, exclude_none=True)
    return b'{"kind":"%s",%s\n' % (kind.encode(), body[1:])


def _name(entity: Any) -> str:
    return str(entity.name)


def _lineage_lines(fqn: str, lineage: ViewLineage) -> bytes:
    """A view's lineage as AddLineageRequest lines whose entities are named by FQN (the ids
    the request needs are known only to an OpenMetadata server)."""
    return b"".join(_request_line("lineage", fqn, request) for request in lineage.requests(fqn))


def _request_line(kind: str, fqn: str, request: dict[str, Any]) -> bytes:
    """An ``openmetadata``-format line: the kind, the FQN and the request, compact JSON."""
    body = json.dumps(request, ensure_ascii=False, separators=(",", ":"))
    name = json.dumps(fqn, ensure_ascii=False)
    return f'{{"kind":"{kind}","fqn":{name},"request":{body}}}\n'.encode()


# Spooled lines are buffered in memory up to this size, then appended in one worker-thread call.
_FLUSH_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class _Spooled:
    """Where one schema's lines lie in the spool."""

    database: Database
    schema: str
    offset: int
    length: int


class JsonlSink:
    """Writes entities as JSON Lines to ``path``, only when the run commits."""

    def __init__(self, path: str | os.PathLike[str], format: _Format = "entities") -> None:
        self.path = Path(path)
        self.format: _Format = format
        self._spool: Path | None = None
        self._spooled: list[_Spooled] = []
        self._buffer = bytearray()
        self._written = 0  # bytes in the spool file; the buffer follows them
        self._closed = False

    def check(self) -> None:
        """Before the run connects: create the target's folder, prove a file can go there."""
        check_output("sink.path", self.path)

    async def write(self, batch: SchemaBatch) -> None:
        """Serialize one batch; append it to the spool once enough is buffered."""
        if self._closed:
            raise SinkError(f"{self.path}: sink is closed")
        await cooperative.checkpoint()  # the caller's own work on the batch may have been long
        fmt = self.format
        buffer = self._buffer
        offset = self._written + len(buffer)
        buffer += _line("databaseSchema", batch.schema, fmt)
        # connectors send tables in name order: this finds them so, in slices
        for table in await cooperative.sort(batch.tables, key=_name):
            await cooperative.checkpoint()  # a large schema would hold the caller's loop
            buffer += _line("table", table, fmt)
            if fmt == "openmetadata" and table.lineage is not None:
                buffer += _lineage_lines(table.fqn, table.lineage)
        for procedure in sorted(batch.procedures, key=lambda p: p.name):
            buffer += _line("storedProcedure", procedure, fmt)
        length = self._written + len(buffer) - offset
        self._spooled.append(_Spooled(batch.database, batch.schema.name, offset, length))
        if len(buffer) >= _FLUSH_BYTES:
            await anyio.to_thread.run_sync(self._flush)

    def _flush(self) -> None:
        if not self._buffer:
            return
        try:
            if self._spool is None:
                fd, name = tempfile.mkstemp(prefix="metaingest-spool-", suffix=".jsonl")
                os.close(fd)
                self._spool = Path(name)
            with self._spool.open("ab") as out:
                out.write(self._buffer)
        except OSError as exc:
            where = self._spool or tempfile.gettempdir()
            raise SinkError(f"{self.path}: cannot spool to {where}: {exc.strerror}") from None
        self._written += len(self._buffer)
        self._buffer.clear()

    async def aclose(self, *, commit: bool = False) -> None:
        """Publish the file (commit) or discard everything written so far."""
        if self._closed:
            return
        self._closed = True
        try:
            if commit:
                await anyio.to_thread.run_sync(self._publish)
        finally:
            self._buffer.clear()
            if self._spool is not None:
                self._spool.unlink(missing_ok=True)

    def _publish(self) -> None:
        target = self.path
        try:
            self._flush()
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        except OSError as exc:
            raise SinkError(f"{target}: cannot write: {exc.strerror}") from None
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out, _open_or_empty(self._spool) as spool:
                database = None
                # by service first: a fleet's sources may share database names
                spooled = sorted(
                    self._spooled, key=lambda s: (s.database.service, s.database.name, s.schema)
                )
                for part in spooled:
                    key = (part.database.service, part.database.name)
                    if key != database:  # once per database, before its schemas
                        out.write(_line("database", part.database, self.format))
                        database = key
                    spool.seek(part.offset)
                    out.write(spool.read(part.length))
                out.flush()
                os.fchmod(out.fileno(), umask_mode())  # as open() would; mkstemp gives 0600
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException as exc:
            tmp.unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise SinkError(f"{target}: cannot write: {exc.strerror}") from None
            raise


def _open_or_empty(path: Path | None) -> BinaryIO:
    """The spool for reading; an empty stream when nothing was spooled (no batches)."""
    return path.open("rb") if path is not None else io.BytesIO()
