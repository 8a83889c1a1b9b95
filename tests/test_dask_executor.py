"""The Dask executor on a real two-process LocalCluster against the real servers: the same
bytes as in-process, the connection cap across workers, a killed worker, cancellation."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from metaingest.config import WorkflowConfig, parse_config
from metaingest.workflow import Workflow

from .conftest import PgServer, unique_name
from .fleetkit import Sampler, pg_catalog, pg_counter

distributed = pytest.importorskip("distributed")
dask = pytest.importorskip("dask")

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

SCHEMAS = 16
TABLES = 4


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """One LocalCluster of two worker processes for the whole module (start-up is ~2 s)."""
    settings = {
        # leases of a killed worker come back within seconds, not the defaults' 30 + 10 s
        "distributed.scheduler.locks.lease-validation-interval": "0.5s",
        "distributed.admin.tick.limit": "60s",
    }
    with dask.config.set(settings):
        with distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=2,
            processes=True,
            dashboard_address=None,
            host="127.0.0.1",
        ) as local:
            yield local


@pytest.fixture(scope="module")
def pg_db(postgres_server: PgServer) -> Iterator[str]:
    name = pg_catalog(postgres_server, SCHEMAS, TABLES)
    try:
        yield name
    finally:
        postgres_server.drop_database(name)


def config(
    server: PgServer, database: str, out: Path, app: str, *, dask_address: str | None, **extra: Any
) -> WorkflowConfig:
    data: dict[str, Any] = {
        "source": server.source(database, application_name=app, threads=2, **extra),
        "sink": {"type": "jsonl", "path": str(out)},
    }
    if dask_address is not None:
        data["executor"] = {"type": "dask", "address": dask_address, "lease_timeout": 5}
    return parse_config(data, env={})


async def test_dask_writes_the_bytes_of_the_local_run_with_the_cap_held(
    postgres_server: PgServer, pg_db: str, cluster: Any, tmp_path: Path
) -> None:
    local_out, dask_out = tmp_path / "local.jsonl", tmp_path / "dask.jsonl"
    app = unique_name("mi_dask_")
    report = await Workflow(
        config(postgres_server, pg_db, local_out, app, dask_address=None)
    ).run()
    assert report.ok, report.issues
    sampler = Sampler(pg_counter(postgres_server, [app]))
    with sampler.running():
        report = await Workflow(
            config(postgres_server, pg_db, dask_out, app, dask_address=cluster.scheduler_address)
        ).run()
    assert report.ok, report.issues
    assert report.schemas == SCHEMAS + 1 and report.units_ok == SCHEMAS + 1  # and public
    assert dask_out.read_bytes() == local_out.read_bytes()
    # the cap holds on the server across both worker processes (discovery's connections
    # close before the units are submitted)
    assert 1 <= sampler.peaks[app] <= 2, sampler.peaks
