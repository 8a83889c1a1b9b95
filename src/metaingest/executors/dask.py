"""Units as tasks on a Dask distributed cluster; their batches stream back to this process.

Discovery, filters, the report and the sink stay here; only extraction moves. Each unit
becomes one task: ``run_task(spec)`` takes a picklable ``UnitSpec`` and returns a
``UnitOutcome`` (the batch), with no other side effect, so a task whose worker died simply
runs again elsewhere under the same key. Keys name the run and the unit's position
(``metaingest-<run>-s<source>-u<unit>``), never a database name or a credential, and every
submission is ``pure=False``: identical submissions are never merged.

Connection caps hold across the cluster: a task holds a lease of its source's
``distributed.Semaphore(max_leases=threads)`` while it connects and extracts, so however
many workers run a source's units, at most ``threads`` of them hold a connection. The
lease's timeout is set per run (``executor.lease_timeout``) when the client registers the
semaphore; the worker refreshes the lease every fifth of it on its event loop for as long as
the unit runs, so a long unit keeps its lease, and a killed worker's lease comes back after
the timeout. Acquiring and releasing are shielded from cancellation (a lease granted while
the task was being cancelled is released, never leaked).

Batches come back in the order units complete, not the order they were submitted: the
runner awaits each unit's future in that unit's own task (what ``distributed.as_completed``
would give, with the unit's retries, timing and report kept per unit), and sends its batch
into the bounded stream the sink drains. A unit holds its runner slot until its batch is in
that stream, and a source has ``threads + executor.window`` slots: so at most that many of
its tasks are submitted and not yet consumed, and a slow unit holds back only its own slot
(tests/test_dask_executor.py counts both on the scheduler).

Async drivers run on the worker's event loop (tasks are coroutines); sync drivers go through
``anyio.to_thread`` exactly as in-process. Cancelling the caller's scope cancels the unit's
future on the cluster, which cancels the task and releases its lease and connection.

What the scheduler sees: task keys, the semaphore names, and the pickled specs, which hold
the source's config *including its credentials* until the task is done (in memory only,
never in a key, a name or a log line; ``SecretStr`` masks them in any repr). Use the
cluster's TLS (``executor.tls``, ``tls://`` addresses) so they are encrypted on the wire.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Coroutine
from typing import Any, Self

import anyio
import anyio.lowlevel

from metaingest.errors import ConfigError, MissingDependencyError

from .local import extract_unit
from .settings import DaskExecutorConfig
from .spec import UnitOutcome, UnitSpec

__all__ = ["DaskExecutor", "run_task"]

log = logging.getLogger(__name__)

_LEASE_TIMEOUT = "distributed.scheduler.locks.lease-timeout"
_ACQUIRE_POLL = 0.5  # seconds per shielded acquire attempt: bounds the delay of a cancel
_WATCH_INTERVAL = 0.1  # seconds between checks that the client still wants the unit
_GONE = frozenset({"cancelled", "released", "forgotten"})


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise MissingDependencyError("distributed", "dask") from None
    return distributed


async def run_task(spec: UnitSpec) -> UnitOutcome:
    """The task a worker runs: take a connection lease, extract the unit, give the lease back.

    A worker lets a cancelled coroutine task run to its end (and drops the result), so the
    task watches its own state and stops at once when the client cancels it: its connection
    closes and its lease returns within ``_WATCH_INTERVAL``.
    """
    distributed = _import_distributed()
    worker = distributed.get_worker()
    outcome: UnitOutcome | None = None
    async with anyio.create_task_group() as tg:

        async def watch() -> None:
            while True:
                await anyio.sleep(_WATCH_INTERVAL)
                task = worker.state.tasks.get(spec.key)
                if task is None or task.state in _GONE:
                    tg.cancel_scope.cancel()
                    return

        tg.start_soon(watch)
        outcome = await _leased(distributed, spec)
        tg.cancel_scope.cancel()
    if outcome is None:
        raise RuntimeError("the client cancelled this unit")
    return outcome


async def _leased(distributed: Any, spec: UnitSpec) -> UnitOutcome:
    import dask

    # the lease's refresh interval (a fifth of the timeout) comes from this process's config
    with dask.config.set({_LEASE_TIMEOUT: f"{spec.lease_timeout}s"}):
        semaphore = distributed.Semaphore(max_leases=spec.max_connections, name=spec.semaphore)
    leased = False
    try:
        while not leased:
            with anyio.CancelScope(shield=True):
                leased = await semaphore.acquire(timeout=_ACQUIRE_POLL)
            await anyio.lowlevel.checkpoint()  # a cancellation lands here, lease or not
        return await extract_unit(spec)
    finally:
        if leased:
            with anyio.CancelScope(shield=True):
                await semaphore.release()
        refresh = getattr(semaphore, "refresh_callback", None)
        if refresh is not None:
            refresh.stop()


class DaskExecutor:
    """Submits unit specs to a Dask cluster and awaits their outcomes; an async context manager.

    Give ``executor.address`` (and ``executor.tls``), or an open ``distributed.Client``: an
    asynchronous one on this event loop is used as it is; any other is used for its address
    and security only (this executor connects its own asynchronous client beside it).
    """

    def __init__(self, config: DaskExecutorConfig, client: Any = None) -> None:
        self._config = config
        self._given = client
        self._client: Any = None
        self._own = False
        self._semaphores: list[Any] = []
        self.run_task: Callable[[UnitSpec], Coroutine[Any, Any, UnitOutcome]] = run_task

    def _security(self, distributed: Any) -> Any:
        tls = self._config.tls
        if tls is None:
            return None
        return distributed.Security(
            tls_ca_file=str(tls.ca_file),
            tls_client_cert=str(tls.cert),
            tls_client_key=str(tls.key) if tls.key is not None else None,
            require_encryption=True,
        )

    async def __aenter__(self) -> Self:
        distributed = _import_distributed()
        given = self._given
        if given is not None and given.asynchronous:
            self._client = given
            return self
        if given is not None:
            address, security = given.scheduler.address, given.security
        elif self._config.address is not None:
            address, security = self._config.address, self._security(distributed)
        else:
            raise ConfigError("executor.address: required for the dask executor")
        try:
            self._client = await distributed.Client(
                address, security=security, asynchronous=True, set_as_default=False
            )
        except (OSError, TimeoutError) as exc:
            raise ConfigError(f"executor.address: cannot reach {address}: {exc}") from None
        self._own = True
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        with anyio.CancelScope(shield=True):
            for semaphore in self._semaphores:
                try:
                    await semaphore.close()
                except Exception as exc:  # the scheduler may be gone; leases die with it
                    log.debug("closing %s failed: %s", semaphore.name, exc)
                refresh = getattr(semaphore, "refresh_callback", None)
                if refresh is not None:
                    refresh.stop()
            self._semaphores.clear()
            if self._own and self._client is not None:
                await self._client.close()
            self._client = None

    async def add_source(self, name: str, max_leases: int) -> None:
        """Create a source's connection semaphore with this run's lease timeout."""
        import dask

        distributed = _import_distributed()
        client = self._client
        with dask.config.set({_LEASE_TIMEOUT: f"{self._config.lease_timeout}s"}):
            semaphore = distributed.Semaphore(
                max_leases=max_leases,
                name=name,
                scheduler_rpc=client.scheduler,
                loop=client.loop,
            )
            await semaphore
        self._semaphores.append(semaphore)

    @property
    def client(self) -> Any:
        """The asynchronous ``distributed.Client`` this executor submits through."""
        return self._client

    @property
    def window(self) -> int:
        """Units submitted per source beyond its connection cap."""
        return self._config.window

    def prepare(self, spec: UnitSpec) -> UnitSpec:
        """The spec with this executor's lease timeout."""
        return dataclasses.replace(spec, lease_timeout=self._config.lease_timeout)

    async def extract(self, spec: UnitSpec) -> UnitOutcome:
        """Run one unit on the cluster and wait for its outcome; cancelling cancels the task."""
        future = self._client.submit(self.run_task, spec, key=spec.key, pure=False)
        try:
            outcome: UnitOutcome = await future
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self._client.cancel([future], force=True)
            raise
        return outcome
