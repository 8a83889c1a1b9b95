"""JSON Lines sink: one object per database, schema and table, atomically published.

Batches arrive in completion order, which depends on ``threads``; the file must not. Each
batch is spooled to its own temporary file as it arrives (memory stays bounded), and
``aclose(commit=True)`` merges the spools in (database, schema) order into a temporary
file beside the target, fsyncs it and renames it into place. A failed or cancelled run
removes its spools and never touches the target path.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Literal

import anyio
from pydantic import BaseModel

from metaingest.connectors.base import SchemaBatch
from metaingest.errors import SinkError

__all__ = ["JsonlSink"]

_Format = Literal["entities", "openmetadata"]


def _line(kind: str, entity: Any, fmt: _Format) -> bytes:
    """One line as UTF-8 bytes: spools and the target are binary files, so pydantic's JSON
    bytes are written as they are, never decoded to str and encoded again."""
    if fmt == "openmetadata":
        request = json.dumps(entity.to_openmetadata(), ensure_ascii=False, separators=(",", ":"))
        fqn = json.dumps(entity.fqn, ensure_ascii=False)
        return f'{{"kind":"{kind}","fqn":{fqn},"request":{request}}}\n'.encode()
    assert isinstance(entity, BaseModel)
    # what model_dump_json(exclude_none=True) returns, before its decode to str
    body = entity.__pydantic_serializer__.to_json(entity, exclude_none=True)
    return b'{"kind":"%s",%s\n' % (kind.encode(), body[1:])


class JsonlSink:
    """Writes entities as JSON Lines to ``path``, only when the run commits."""

    def __init__(self, path: str | os.PathLike[str], format: _Format = "entities") -> None:
        self.path = Path(path)
        self.format: _Format = format
        self._spool_dir: Path | None = None
        self._spools: list[tuple[str, str, Path, bytes]] = []
        self._closed = False

    async def write(self, batch: SchemaBatch) -> None:
        """Spool one batch to its own temporary file."""
        if self._closed:
            raise SinkError(f"{self.path}: sink is closed")
        await anyio.to_thread.run_sync(self._spool, batch)

    def _spool(self, batch: SchemaBatch) -> None:
        if self._spool_dir is None:
            self._spool_dir = Path(tempfile.mkdtemp(prefix="metaingest-spool-"))
        spool = self._spool_dir / f"{len(self._spools):08d}.jsonl"
        fmt = self.format
        with spool.open("wb") as out:
            out.write(_line("databaseSchema", batch.schema, fmt))
            for table in sorted(batch.tables, key=lambda t: t.name):
                out.write(_line("table", table, fmt))
        self._spools.append(
            (batch.database.name, batch.schema.name, spool, _line("database", batch.database, fmt))
        )

    async def aclose(self, *, commit: bool = False) -> None:
        """Publish the file (commit) or discard everything written so far."""
        if self._closed:
            return
        self._closed = True
        try:
            if commit:
                await anyio.to_thread.run_sync(self._publish)
        finally:
            if self._spool_dir is not None:
                shutil.rmtree(self._spool_dir, ignore_errors=True)

    def _publish(self) -> None:
        target = self.path
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        except OSError as exc:
            raise SinkError(f"{target}: cannot write: {exc.strerror}") from None
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                database = None
                for db_name, _schema, spool, db_line in sorted(self._spools, key=lambda s: s[:2]):
                    if db_name != database:
                        out.write(db_line)
                        database = db_name
                    with spool.open("rb") as src:
                        shutil.copyfileobj(src, out)
                out.flush()
                os.fchmod(out.fileno(), 0o644)  # mkstemp's 0600 would hide the file from readers
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException as exc:
            tmp.unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise SinkError(f"{target}: cannot write: {exc.strerror}") from None
            raise
