"""The ``executor:`` section of a workflow file: where units run.

Kept apart from the executors themselves so that validating a config never imports Dask.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DaskExecutorConfig", "DaskTls", "ExecutorConfig", "LocalExecutorConfig"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LocalExecutorConfig(_Strict):
    """Units run in this process, on its event loop (the default)."""

    type: Literal["local"] = Field(default="local", description="`local`")


class DaskTls(_Strict):
    """TLS files for the connections to the scheduler (``distributed.security.Security``)."""

    ca_file: Path = Field(description="CA certificate that signed the cluster's certificates.")
    cert: Path = Field(description="This client's certificate (PEM).")
    key: Path | None = Field(default=None, description="Its private key, if not in `cert`.")


class DaskExecutorConfig(_Strict):
    """Units run as tasks on a Dask distributed cluster; batches stream back here."""

    type: Literal["dask"] = Field(description="`dask`")
    address: str | None = Field(
        default=None,
        description="Scheduler address, e.g. tcp://scheduler:8786 (tls:// with `tls`). "
        "Unset: the embedding application passes a distributed.Client.",
    )
    window: int = Field(
        default=2,
        ge=0,
        description="Units submitted per source beyond its `threads` (queued on the cluster).",
    )
    lease_timeout: float = Field(
        default=60.0,
        gt=0,
        description="Seconds a connection lease survives without a refresh from its worker "
        "(refreshed every fifth of it while the unit runs).",
    )
    tls: DaskTls | None = Field(default=None, description="TLS settings of the cluster.")


ExecutorConfig = Annotated[LocalExecutorConfig | DaskExecutorConfig, Field(discriminator="type")]
